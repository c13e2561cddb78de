/*
 * Unit tests for cats-gw's counters (dataplane/gw-stats.h): depth and its
 * high-water mark, summing per-lcore copies, drop reasons.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "gw-stats.h"
#include "openvswitch/compiler.h"

static void
test_depth_raises_high_water_mark_only_upward(void **state OVS_UNUSED)
{
    struct gw_class_stats cs;

    memset(&cs, 0, sizeof cs);
    gw_stats_set_depth(&cs, 5000);
    gw_stats_set_depth(&cs, 9000);
    gw_stats_set_depth(&cs, 100);
    assert_int_equal(cs.depth, 100);
    assert_int_equal(cs.depth_max, 9000);
}

static void
test_reset_high_water_restarts_from_current_depth(void **state OVS_UNUSED)
{
    struct gw_port_stats ps;

    gw_port_stats_init(&ps);
    gw_stats_set_depth(&ps.classes[2], 9000);
    gw_stats_set_depth(&ps.classes[2], 300);
    gw_port_stats_reset_high_water(&ps);
    assert_int_equal(ps.classes[2].depth_max, 300);
    assert_int_equal(ps.classes[2].depth, 300);
}

static void
test_drops_are_counted_by_reason(void **state OVS_UNUSED)
{
    struct gw_class_stats cs;

    memset(&cs, 0, sizeof cs);
    gw_stats_drop(&cs, GW_DROP_HEADROOM);
    gw_stats_drop(&cs, GW_DROP_HEADROOM);
    gw_stats_drop(&cs, GW_DROP_TX_FULL);
    assert_int_equal(cs.drops[GW_DROP_HEADROOM], 2);
    assert_int_equal(cs.drops[GW_DROP_TX_FULL], 1);
    assert_int_equal(cs.drops[GW_DROP_QUEUE_LIMIT], 0);
    assert_int_equal(gw_class_stats_drops(&cs), 3);
}

static void
test_add_sums_counters_and_keeps_largest_high_water(void **state OVS_UNUSED)
{
    struct gw_port_stats a, b;

    gw_port_stats_init(&a);
    gw_port_stats_init(&b);
    a.classes[3].packets = 10;
    a.classes[3].bytes = 1000;
    a.classes[3].ecn_marked = 2;
    a.classes[3].drops[GW_DROP_QUEUE_LIMIT] = 1;
    a.classes[3].pause_tx = 4;
    a.classes[3].rx_paused_ns = 700;
    a.classes[3].depth = 0;
    a.classes[3].depth_max = 5000;
    a.pfc_rx_invalid[GW_QBB_ERR_PAD] = 1;
    b.classes[3].packets = 5;
    b.classes[3].bytes = 500;
    b.classes[3].drops[GW_DROP_QUEUE_LIMIT] = 2;
    b.classes[3].xon_rx = 3;
    b.classes[3].tx_paused_ns = 11;
    b.classes[3].storms = 1;
    b.classes[3].storm = true;
    b.classes[3].depth = 1200;
    b.classes[3].depth_max = 3000;
    b.pfc_rx_invalid[GW_QBB_ERR_PAD] = 2;
    b.pfc_rx_ignored = 6;

    gw_port_stats_add(&a, &b);
    assert_int_equal(a.classes[3].packets, 15);
    assert_int_equal(a.classes[3].bytes, 1500);
    assert_int_equal(a.classes[3].ecn_marked, 2);
    assert_int_equal(a.classes[3].drops[GW_DROP_QUEUE_LIMIT], 3);
    assert_int_equal(a.classes[3].pause_tx, 4);
    assert_int_equal(a.classes[3].xon_rx, 3);
    assert_int_equal(a.classes[3].rx_paused_ns, 700);
    assert_int_equal(a.classes[3].tx_paused_ns, 11);
    assert_int_equal(a.classes[3].storms, 1);
    assert_true(a.classes[3].storm);
    assert_int_equal(a.classes[3].depth, 1200);
    assert_int_equal(a.classes[3].depth_max, 5000);
    assert_int_equal(a.pfc_rx_invalid[GW_QBB_ERR_PAD], 3);
    assert_int_equal(a.pfc_rx_ignored, 6);

    /* Untouched classes stay zero. */
    struct gw_class_stats zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&a.classes[0], &zero, sizeof zero);
}

static void
test_every_drop_reason_has_a_distinct_name(void **state OVS_UNUSED)
{
    for (int i = 0; i < GW_N_DROP_REASONS; i++) {
        const char *name = gw_drop_reason_name(i);

        assert_non_null(name);
        assert_string_not_equal(name, "unknown");
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(name, gw_drop_reason_name(j));
        }
    }
    assert_string_equal(gw_drop_reason_name(GW_DROP_HEADROOM), "headroom");
    assert_string_equal(gw_drop_reason_name(GW_N_DROP_REASONS), "unknown");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_raises_high_water_mark_only_upward),
        cmocka_unit_test(test_reset_high_water_restarts_from_current_depth),
        cmocka_unit_test(test_drops_are_counted_by_reason),
        cmocka_unit_test(
            test_add_sums_counters_and_keeps_largest_high_water),
        cmocka_unit_test(test_every_drop_reason_has_a_distinct_name),
    };

    return cmocka_run_group_tests_name("gw-stats", tests, NULL, NULL);
}

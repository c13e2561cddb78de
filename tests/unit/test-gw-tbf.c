/*
 * Unit tests for cats-gw's token bucket (dataplane/gw-tbf.h): exact rates
 * over time with a 1 GHz clock, the bucket depth as the largest burst, the
 * per-frame overhead, precision at slow rates, and "no limit".
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "gw-queue.h"
#include "gw-tbf.h"
#include "openvswitch/compiler.h"
#include "util.h"

#define GHZ UINT64_C(1000000000)

static void
test_init_rejects_bad_parameters(void **state OVS_UNUSED)
{
    struct gw_tbf t;

    assert_int_equal(gw_tbf_init(&t, 1000, 1000, 0, 0, 0, 0), EINVAL);
    assert_int_equal(gw_tbf_init(&t, 1000, GW_TBF_DEPTH_MAX + 1, 0, 0, GHZ,
                                 0), EINVAL);
    /* 1 bit/s at 1 GHz is 2^32 / 8e9 < 1 unit per tick. */
    assert_int_equal(gw_tbf_init(&t, 1, 1000, 0, 0, GHZ, 0), EINVAL);
}

static void
test_unlimited_rate_has_unlimited_budget(void **state OVS_UNUSED)
{
    struct gw_tbf t;

    assert_int_equal(gw_tbf_init(&t, 0, 0, 0, 24, GHZ, 0), 0);
    gw_tbf_refill(&t, 12345);
    assert_true(gw_tbf_budget(&t) == UINT64_MAX);
    gw_tbf_take(&t, 1000000);
    assert_true(gw_tbf_budget(&t) == UINT64_MAX);
}

static void
test_starts_full_and_refills_at_the_rate(void **state OVS_UNUSED)
{
    struct gw_tbf t;

    /* 8 Gb/s = 1 byte per ns. */
    assert_int_equal(gw_tbf_init(&t, 8 * GHZ, 10000, 0, 0, GHZ, 0), 0);
    assert_true(gw_tbf_budget(&t) == 10000);
    gw_tbf_take(&t, 10000);
    assert_true(gw_tbf_budget(&t) == 0);
    gw_tbf_refill(&t, 1500);
    assert_true(gw_tbf_budget(&t) == 1500);
    /* Capped at the depth however long it waits. */
    gw_tbf_refill(&t, 1000000);
    assert_true(gw_tbf_budget(&t) == 10000);
    gw_tbf_refill(&t, UINT64_C(1) << 62);
    assert_true(gw_tbf_budget(&t) == 10000);
    /* A clock that goes back adds nothing. */
    gw_tbf_take(&t, 10000);
    gw_tbf_refill(&t, 5);
    assert_true(gw_tbf_budget(&t) == 0);
}

static void
test_depth_is_raised_to_one_frame(void **state OVS_UNUSED)
{
    struct gw_tbf t;

    assert_int_equal(gw_tbf_init(&t, 8 * GHZ, 100, 1546, 24, GHZ, 0), 0);
    assert_true(gw_tbf_budget(&t) == 1546);
}

static void
test_long_run_rate_is_exact_with_overhead(void **state OVS_UNUSED)
{
    struct gw_tbf t;
    struct gw_queue q;
    uint64_t sent = 0, frames = 0;
    char pkt;

    /* 10 Mb/s on the wire, 1000-byte frames + 24 overhead, for 1 s in
     * steps of 10 us: 10e6 / 8 / 1024 = 1220.7 frames, plus the 4 that
     * the full bucket held at the start.  (A bucket of exactly one frame
     * would lose what arrives while it is full and waiting for the next
     * step: the gateway's is deeper.) */
    assert_int_equal(gw_tbf_init(&t, 10000000, 4096, 1024, 24, GHZ, 0), 0);
    assert_int_equal(gw_queue_init(&q, 4), 0);
    for (uint64_t now = 0; now <= GHZ; now += 10000) {
        void *out[4];
        uint32_t lens[4];
        uint64_t budget, before;
        uint32_t n;

        while (gw_queue_push(&q, &pkt, 1000)) {
            continue;
        }
        gw_tbf_refill(&t, now);
        budget = before = gw_tbf_budget(&t);
        n = gw_queue_peek(&q, out, lens, 4, &budget, t.overhead);
        gw_queue_pop(&q, n);
        gw_tbf_take(&t, before - budget);
        sent += before - budget;
        frames += n;
    }
    assert_in_range(frames, 1224, 1225);
    assert_true(sent == frames * 1024);
    gw_queue_destroy(&q);
}

static void
test_slow_rates_keep_fractions_of_a_byte(void **state OVS_UNUSED)
{
    struct gw_tbf t;

    /* 1 Mb/s = 0.000125 bytes per ns: 8000 ticks per byte. */
    assert_int_equal(gw_tbf_init(&t, 1000000, 100, 0, 0, GHZ, 0), 0);
    gw_tbf_take(&t, 100);
    for (uint64_t now = 1; now <= 80000; now++) {
        gw_tbf_refill(&t, now);
    }
    assert_true(gw_tbf_budget(&t) == 9 || gw_tbf_budget(&t) == 10);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_parameters),
        cmocka_unit_test(test_unlimited_rate_has_unlimited_budget),
        cmocka_unit_test(test_starts_full_and_refills_at_the_rate),
        cmocka_unit_test(test_depth_is_raised_to_one_frame),
        cmocka_unit_test(test_long_run_rate_is_exact_with_overhead),
        cmocka_unit_test(test_slow_rates_keep_fractions_of_a_byte),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for cats-gw's packet FIFOs (dataplane/gw-queue.h): the packet
 * limit, byte accounting, peek-then-commit with a byte budget, wrap-around,
 * and the delay line releasing packets only when due, in order.  Also the
 * sequence counter that publishes counters (dataplane/gw-seq.h).
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "gw-queue.h"
#include "gw-seq.h"
#include "openvswitch/compiler.h"
#include "util.h"

/* Fake packets: distinct pointers. */
static char pkts[64];
#define PKT(I) ((void *) &pkts[I])

static void
test_queue_init_rejects_zero_and_huge_limits(void **state OVS_UNUSED)
{
    struct gw_queue q;

    assert_int_equal(gw_queue_init(&q, 0), EINVAL);
    assert_int_equal(gw_queue_init(&q, GW_QUEUE_LIMIT_MAX + 1), EINVAL);
    assert_int_equal(gw_queue_init(&q, 5), 0);
    assert_int_equal(q.mask, 7);        /* Rounded up to a power of 2. */
    gw_queue_destroy(&q);
}

static void
test_queue_holds_limit_packets_exactly(void **state OVS_UNUSED)
{
    struct gw_queue q;

    assert_int_equal(gw_queue_init(&q, 5), 0);
    for (int i = 0; i < 5; i++) {
        assert_true(gw_queue_push(&q, PKT(i), 100 + i));
    }
    assert_false(gw_queue_push(&q, PKT(5), 1));
    assert_int_equal(gw_queue_count(&q), 5);
    assert_int_equal(q.bytes, 100 + 101 + 102 + 103 + 104);
    gw_queue_destroy(&q);
}

static void
test_queue_peek_stops_at_budget_and_pop_commits(void **state OVS_UNUSED)
{
    void *out[8];
    uint32_t lens[8];
    struct gw_queue q;
    uint64_t budget;

    assert_int_equal(gw_queue_init(&q, 8), 0);
    for (int i = 0; i < 4; i++) {
        assert_true(gw_queue_push(&q, PKT(i), 100));
    }

    /* Each costs 100 + 24: 3 fit in 400, leaving 28. */
    budget = 400;
    assert_int_equal(gw_queue_peek(&q, out, lens, 8, &budget, 24), 3);
    assert_true(budget == 400 - 3 * 124);
    assert_ptr_equal(out[0], PKT(0));
    assert_ptr_equal(out[2], PKT(2));
    assert_int_equal(lens[1], 100);
    assert_int_equal(gw_queue_count(&q), 4);        /* Nothing removed. */

    /* 'max' bounds it too. */
    budget = UINT64_MAX;
    assert_int_equal(gw_queue_peek(&q, out, lens, 2, &budget, 0), 2);

    /* The NIC took 2: the third stays at the head. */
    assert_int_equal(gw_queue_pop(&q, 2), 200);
    assert_int_equal(gw_queue_count(&q), 2);
    assert_int_equal(q.bytes, 200);
    budget = UINT64_MAX;
    assert_int_equal(gw_queue_peek(&q, out, lens, 8, &budget, 0), 2);
    assert_ptr_equal(out[0], PKT(2));
    gw_queue_destroy(&q);
}

static void
test_queue_wraps_around_in_order(void **state OVS_UNUSED)
{
    void *out[4];
    uint32_t lens[4];
    struct gw_queue q;

    assert_int_equal(gw_queue_init(&q, 4), 0);
    for (int round = 0; round < 10; round++) {
        uint64_t budget = UINT64_MAX;

        for (int i = 0; i < 3; i++) {
            assert_true(gw_queue_push(&q, PKT(round + i), round + i));
        }
        assert_int_equal(gw_queue_peek(&q, out, lens, 4, &budget, 0), 3);
        for (int i = 0; i < 3; i++) {
            assert_ptr_equal(out[i], PKT(round + i));
            assert_int_equal(lens[i], round + i);
        }
        assert_int_equal(gw_queue_pop(&q, 3), 3 * round + 3);
        assert_int_equal(q.bytes, 0);
    }
    gw_queue_destroy(&q);
}

static void
test_delay_line_releases_only_what_is_due(void **state OVS_UNUSED)
{
    struct gw_delay_line d;
    void *out[8];

    assert_int_equal(gw_delay_line_init(&d, 4), 0);
    assert_true(gw_delay_line_push(&d, PKT(0), 60, 1000));
    assert_true(gw_delay_line_push(&d, PKT(1), 70, 1000));
    assert_true(gw_delay_line_push(&d, PKT(2), 80, 2000));
    assert_true(gw_delay_line_push(&d, PKT(3), 90, 3000));
    assert_false(gw_delay_line_push(&d, PKT(4), 90, 3000));
    assert_int_equal(gw_delay_line_room(&d), 0);
    assert_true(d.bytes == 300);

    assert_int_equal(gw_delay_line_peek_due(&d, 999, out, 8), 0);
    assert_int_equal(gw_delay_line_peek_due(&d, 1000, out, 8), 2);
    assert_int_equal(gw_delay_line_peek_due(&d, 2500, out, 8), 3);
    assert_int_equal(gw_delay_line_peek_due(&d, 2500, out, 1), 1);
    assert_ptr_equal(out[0], PKT(0));

    /* Only one was sent: the second stays first. */
    assert_true(gw_delay_line_pop(&d, 1) == 60);
    assert_int_equal(gw_delay_line_peek_due(&d, 1000, out, 8), 1);
    assert_ptr_equal(out[0], PKT(1));
    assert_int_equal(gw_delay_line_room(&d), 1);
    assert_true(gw_delay_line_pop(&d, 3) == 240);
    assert_int_equal(gw_delay_line_count(&d), 0);
    assert_true(d.bytes == 0);
    gw_delay_line_destroy(&d);
}

static void
test_seq_read_sees_a_write_in_between(void **state OVS_UNUSED)
{
    struct gw_seq s = { 0 };
    uint32_t v;

    v = gw_seq_read_begin(&s);
    assert_false(gw_seq_read_retry(&s, v));

    gw_seq_write_begin(&s);
    assert_true(s.count & 1);
    gw_seq_write_end(&s);
    assert_false(s.count & 1);
    assert_true(gw_seq_read_retry(&s, v));      /* Copy may be torn. */
    v = gw_seq_read_begin(&s);
    assert_false(gw_seq_read_retry(&s, v));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_init_rejects_zero_and_huge_limits),
        cmocka_unit_test(test_queue_holds_limit_packets_exactly),
        cmocka_unit_test(test_queue_peek_stops_at_budget_and_pop_commits),
        cmocka_unit_test(test_queue_wraps_around_in_order),
        cmocka_unit_test(test_delay_line_releases_only_what_is_due),
        cmocka_unit_test(test_seq_read_sees_a_write_in_between),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

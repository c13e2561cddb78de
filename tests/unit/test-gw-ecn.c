/*
 * Unit tests for cats-gw's ECN marking law (dataplane/gw-ecn.h): exact
 * marking probabilities, the decision against a given random value, drops
 * only past the queue limit, and setting CE in IP headers.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "gw-ecn.h"
#include "gw-stats.h"
#include "openvswitch/compiler.h"
#include "util.h"

/* Kmin 100 kB, Kmax 300 kB, Pmax 50 % (exactly 2^31 in 2^-32 units), a
 * 1 MB queue. */
#define KMIN 100000
#define KMAX 300000
#define LIMIT 1000000
#define HALF (GW_ECN_PROB_ONE / 2)

static struct gw_ecn_params
law(void)
{
    struct gw_ecn_params p;

    assert_int_equal(gw_ecn_params_init(&p, KMIN, KMAX, 500000, LIMIT), 0);
    return p;
}

static void
test_pmax_ppm_is_converted_to_units_of_2_pow_minus_32(void **state
                                                      OVS_UNUSED)
{
    struct gw_ecn_params p;

    assert_int_equal(gw_ecn_params_init(&p, 0, 1, 1000000, 10), 0);
    assert_true(p.pmax == GW_ECN_PROB_ONE);
    assert_int_equal(gw_ecn_params_init(&p, 0, 1, 500000, 10), 0);
    assert_true(p.pmax == UINT64_C(1) << 31);
    /* 1 %: 42949672.96 rounds down. */
    assert_int_equal(gw_ecn_params_init(&p, 0, 1, 10000, 10), 0);
    assert_true(p.pmax == 42949672);
    assert_int_equal(gw_ecn_params_init(&p, 0, 1, 0, 10), 0);
    assert_true(p.pmax == 0);
}

static void
test_prob_is_zero_up_to_and_at_kmin(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();

    assert_true(gw_ecn_mark_prob(&p, 0) == 0);
    assert_true(gw_ecn_mark_prob(&p, KMIN - 1) == 0);
    assert_true(gw_ecn_mark_prob(&p, KMIN) == 0);
    /* One byte above Kmin: Pmax / 200000, rounded down. */
    assert_true(gw_ecn_mark_prob(&p, KMIN + 1) == HALF / 200000);
}

static void
test_prob_is_half_pmax_at_midpoint(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();

    assert_true(gw_ecn_mark_prob(&p, (KMIN + KMAX) / 2) == HALF / 2);
    assert_true(gw_ecn_mark_prob(&p, KMIN + (KMAX - KMIN) / 4) == HALF / 4);
    assert_true(gw_ecn_mark_prob(&p, KMIN + 3 * (KMAX - KMIN) / 4)
                == 3 * HALF / 4);
}

static void
test_prob_is_pmax_at_kmax_and_one_above(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();

    assert_true(gw_ecn_mark_prob(&p, KMAX) == HALF);
    assert_true(gw_ecn_mark_prob(&p, KMAX + 1) == GW_ECN_PROB_ONE);
    assert_true(gw_ecn_mark_prob(&p, LIMIT) == GW_ECN_PROB_ONE);
    assert_true(gw_ecn_mark_prob(&p, UINT32_MAX) == GW_ECN_PROB_ONE);
}

static void
test_prob_rises_monotonically_between_kmin_and_kmax(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();
    uint64_t last = 0;

    for (uint32_t q = KMIN; q <= KMAX; q++) {
        uint64_t prob = gw_ecn_mark_prob(&p, q);

        assert_true(prob >= last);
        assert_true(prob <= HALF);
        last = prob;
    }
}

/* The decision agrees with the probability: an ECT packet that fits is
 * marked iff random < p(q). */
static void
check_decide_matches_prob(const struct gw_ecn_params *p, uint32_t q)
{
    uint64_t prob = gw_ecn_mark_prob(p, q);

    if (prob > 0) {
        assert_int_equal(gw_ecn_decide(p, q, 0, GW_ECN_ECT0, prob - 1),
                         GW_ECN_MARK);
        assert_int_equal(gw_ecn_decide(p, q, 0, GW_ECN_ECT0, 0),
                         GW_ECN_MARK);
    }
    if (prob < GW_ECN_PROB_ONE) {
        assert_int_equal(gw_ecn_decide(p, q, 0, GW_ECN_ECT0, prob),
                         GW_ECN_PASS);
        assert_int_equal(gw_ecn_decide(p, q, 0, GW_ECN_ECT0, UINT32_MAX),
                         GW_ECN_PASS);
    }
}

static void
test_decide_marks_iff_random_is_below_prob(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();

    for (uint32_t q = 0; q <= KMAX + 10; q += 7) {
        check_decide_matches_prob(&p, q);
    }
    check_decide_matches_prob(&p, KMIN);
    check_decide_matches_prob(&p, KMAX);
    check_decide_matches_prob(&p, KMAX + 1);

    /* At Kmin nothing is marked, even with random 0; above Kmax
     * everything, even with the largest random. */
    assert_int_equal(gw_ecn_decide(&p, KMIN, 1500, GW_ECN_ECT0, 0),
                     GW_ECN_PASS);
    assert_int_equal(gw_ecn_decide(&p, KMAX + 1, 1500, GW_ECN_ECT1,
                                   UINT32_MAX), GW_ECN_MARK);
}

static void
test_marked_fraction_over_uniform_randoms_is_exactly_p(void **state
                                                       OVS_UNUSED)
{
    struct gw_ecn_params p = law();
    struct {
        uint32_t q;
        int expected;           /* Marks out of 65536 evenly spread. */
    } cases[] = {
        { KMIN, 0 },
        { (KMIN + KMAX) / 2, 16384 },       /* 25 %. */
        { KMAX, 32768 },                    /* 50 %. */
        { KMAX + 1, 65536 },                /* 100 %. */
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int marks = 0;

        for (uint32_t k = 0; k < 65536; k++) {
            marks += gw_ecn_decide(&p, cases[i].q, 1000, GW_ECN_ECT0,
                                   k << 16) == GW_ECN_MARK;
        }
        assert_int_equal(marks, cases[i].expected);
    }
}

static void
test_decide_never_marks_not_ect(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();

    for (uint32_t q = 0; q + 1500 <= LIMIT; q += 997) {
        assert_int_equal(gw_ecn_decide(&p, q, 1500, GW_ECN_NOT_ECT, 0),
                         GW_ECN_PASS);
    }
    /* Bits above the 2-bit field are ignored, not taken as ECT. */
    assert_int_equal(gw_ecn_decide(&p, KMAX + 1, 1500, 0xfc, 0),
                     GW_ECN_PASS);
}

static void
test_decide_leaves_ce_as_it_is(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();

    assert_int_equal(gw_ecn_decide(&p, KMAX + 1, 1500, GW_ECN_CE, 0),
                     GW_ECN_PASS);
    assert_int_equal(gw_ecn_decide(&p, LIMIT - 1500, 1500, GW_ECN_CE, 0),
                     GW_ECN_PASS);
}

static void
test_decide_marks_both_ect_codepoints(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();

    assert_int_equal(gw_ecn_decide(&p, KMAX + 1, 1500, GW_ECN_ECT0, 0),
                     GW_ECN_MARK);
    assert_int_equal(gw_ecn_decide(&p, KMAX + 1, 1500, GW_ECN_ECT1, 0),
                     GW_ECN_MARK);
}

static void
test_decide_drops_only_past_the_queue_limit(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();
    uint8_t ecns[] = { GW_ECN_NOT_ECT, GW_ECN_ECT1, GW_ECN_ECT0, GW_ECN_CE };

    for (size_t i = 0; i < ARRAY_SIZE(ecns); i++) {
        /* Filling the queue to the byte is fine... */
        assert_int_not_equal(gw_ecn_decide(&p, LIMIT - 1500, 1500, ecns[i],
                                           UINT32_MAX), GW_ECN_DROP);
        /* ...one byte more is not. */
        assert_int_equal(gw_ecn_decide(&p, LIMIT - 1499, 1500, ecns[i], 0),
                         GW_ECN_DROP);
        assert_int_equal(gw_ecn_decide(&p, LIMIT, 64, ecns[i], 0),
                         GW_ECN_DROP);
        assert_int_equal(gw_ecn_decide(&p, UINT32_MAX, UINT32_MAX, ecns[i],
                                       0), GW_ECN_DROP);
    }
}

static void
test_decide_without_ecn_never_marks(void **state OVS_UNUSED)
{
    struct gw_ecn_params p;

    assert_int_equal(gw_ecn_params_init_no_ecn(&p, LIMIT), 0);
    for (uint32_t q = 0; q + 1500 <= LIMIT; q += 4999) {
        assert_int_equal(gw_ecn_decide(&p, q, 1500, GW_ECN_ECT0, 0),
                         GW_ECN_PASS);
        assert_true(gw_ecn_mark_prob(&p, q) == 0);
    }
    assert_int_equal(gw_ecn_decide(&p, LIMIT, 1, GW_ECN_ECT0, 0),
                     GW_ECN_DROP);
}

static void
test_kmin_equal_kmax_is_a_step(void **state OVS_UNUSED)
{
    struct gw_ecn_params p;

    assert_int_equal(gw_ecn_params_init(&p, 50000, 50000, 0, LIMIT), 0);
    assert_true(gw_ecn_mark_prob(&p, 50000) == 0);
    assert_true(gw_ecn_mark_prob(&p, 50001) == GW_ECN_PROB_ONE);
    assert_int_equal(gw_ecn_decide(&p, 50000, 100, GW_ECN_ECT0, 0),
                     GW_ECN_PASS);
    assert_int_equal(gw_ecn_decide(&p, 50001, 100, GW_ECN_ECT0, UINT32_MAX),
                     GW_ECN_MARK);
}

static void
test_extreme_thresholds_do_not_overflow(void **state OVS_UNUSED)
{
    struct gw_ecn_params p;

    assert_int_equal(gw_ecn_params_init(&p, 0, UINT32_MAX, 1000000,
                                        UINT32_MAX), 0);
    uint32_t qs[] = { 1, 2, UINT32_MAX / 2, UINT32_MAX - 2, UINT32_MAX - 1 };
    for (size_t i = 0; i < ARRAY_SIZE(qs); i++) {
        check_decide_matches_prob(&p, qs[i]);
    }
    /* p(2^32 - 2) = floor(2^32 * (2^32 - 2) / (2^32 - 1)) = 2^32 - 2. */
    assert_true(gw_ecn_mark_prob(&p, UINT32_MAX - 1) == UINT32_MAX - 1);
    assert_true(gw_ecn_mark_prob(&p, UINT32_MAX) == GW_ECN_PROB_ONE);
}

static void
test_params_init_rejects_thresholds_out_of_order(void **state OVS_UNUSED)
{
    struct gw_ecn_params p, before;

    memset(&p, 0x5a, sizeof p);
    before = p;
    assert_int_equal(gw_ecn_params_init(&p, 2, 1, 0, 10), EINVAL);
    assert_int_equal(gw_ecn_params_init(&p, 1, 11, 0, 10), EINVAL);
    assert_int_equal(gw_ecn_params_init(&p, 1, 2, 1000001, 10), EINVAL);
    assert_int_equal(gw_ecn_params_init(&p, 0, 0, 0, 0), EINVAL);
    assert_int_equal(gw_ecn_params_init_no_ecn(&p, 0), EINVAL);
    assert_memory_equal(&p, &before, sizeof p);
}

static void
test_admit_counts_packets_bytes_marks_and_depth(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();
    struct gw_class_stats cs;

    memset(&cs, 0, sizeof cs);
    assert_int_equal(gw_ecn_admit(&p, &cs, 0, 1000, GW_ECN_ECT0, 0),
                     GW_ECN_PASS);
    assert_int_equal(gw_ecn_admit(&p, &cs, KMAX + 1, 1500, GW_ECN_ECT0, 0),
                     GW_ECN_MARK);
    assert_int_equal(gw_ecn_admit(&p, &cs, KMAX + 1, 1500, GW_ECN_CE, 0),
                     GW_ECN_PASS);
    assert_int_equal(gw_ecn_admit(&p, &cs, 1000, 64, GW_ECN_NOT_ECT, 0),
                     GW_ECN_PASS);

    assert_int_equal(cs.packets, 4);
    assert_int_equal(cs.bytes, 1000 + 1500 + 1500 + 64);
    assert_int_equal(cs.ecn_marked, 1);
    assert_int_equal(cs.depth, 1064);
    assert_int_equal(cs.depth_max, KMAX + 1 + 1500);
    assert_int_equal(gw_class_stats_drops(&cs), 0);
}

static void
test_admit_counts_drops_by_reason(void **state OVS_UNUSED)
{
    struct gw_ecn_params p = law();
    struct gw_class_stats cs;

    memset(&cs, 0, sizeof cs);
    assert_int_equal(gw_ecn_admit(&p, &cs, LIMIT, 100, GW_ECN_ECT0, 0),
                     GW_ECN_DROP);
    assert_int_equal(cs.drops[GW_DROP_QUEUE_LIMIT], 1);

    p.drop_reason = GW_DROP_HEADROOM;
    assert_int_equal(gw_ecn_admit(&p, &cs, LIMIT, 100, GW_ECN_NOT_ECT, 0),
                     GW_ECN_DROP);
    assert_int_equal(cs.drops[GW_DROP_QUEUE_LIMIT], 1);
    assert_int_equal(cs.drops[GW_DROP_HEADROOM], 1);
    assert_int_equal(gw_class_stats_drops(&cs), 2);
    assert_int_equal(cs.packets, 0);
    assert_int_equal(cs.bytes, 0);
    assert_int_equal(cs.depth, LIMIT);
}

/* IPv4 header checksum computed from scratch over 'ip' (20 bytes), with
 * its checksum field taken as zero. */
static uint16_t
ipv4_csum(const uint8_t *ip)
{
    uint32_t sum = 0;

    for (int i = 0; i < 20; i += 2) {
        if (i != 10) {
            sum += (ip[i] << 8) | ip[i + 1];
        }
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return ~sum;
}

static void
set_csum(uint8_t *ip)
{
    uint16_t c = ipv4_csum(ip);

    ip[10] = c >> 8;
    ip[11] = c;
}

static void
test_ipv4_set_ce_keeps_header_checksum_right(void **state OVS_UNUSED)
{
    /* 10.0.0.1 -> 10.0.0.2, TCP, DSCP AF41 with ECT(0). */
    uint8_t ip[20] = {
        0x45, 0x8a, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06,
        0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
    };
    uint32_t x = 1;

    set_csum(ip);
    assert_int_equal(gw_ecn_ipv4_get(ip), GW_ECN_ECT0);
    assert_true(gw_ecn_ipv4_set_ce(ip));
    assert_int_equal(ip[1], 0x8b);
    assert_int_equal(gw_ecn_ipv4_get(ip), GW_ECN_CE);
    assert_int_equal((ip[10] << 8) | ip[11], ipv4_csum(ip));

    /* Many headers, including ones whose checksum wraps. */
    for (int n = 0; n < 20000; n++) {
        for (int i = 0; i < 20; i++) {
            x = x * 1103515245 + 12345;
            ip[i] = x >> 16;
        }
        ip[1] = (ip[1] & ~3) | (n & 1 ? GW_ECN_ECT1 : GW_ECN_ECT0);
        set_csum(ip);
        uint8_t tos = ip[1];
        assert_true(gw_ecn_ipv4_set_ce(ip));
        assert_int_equal(ip[1], tos | 3);
        assert_int_equal((ip[10] << 8) | ip[11], ipv4_csum(ip));
    }
}

static void
test_ipv4_set_ce_leaves_not_ect_and_ce_untouched(void **state OVS_UNUSED)
{
    uint8_t ip[20] = {
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06,
        0x00, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
    };
    uint8_t before[20];

    for (int ecn = 0; ecn < 4; ecn += 3) {
        ip[1] = 0xb8 | ecn;     /* EF. */
        set_csum(ip);
        memcpy(before, ip, sizeof ip);
        assert_false(gw_ecn_ipv4_set_ce(ip));
        assert_memory_equal(ip, before, sizeof ip);
    }
}

static void
test_ipv6_set_ce_touches_only_the_ecn_bits(void **state OVS_UNUSED)
{
    /* Version 6, traffic class 0xb9 (EF + ECT(1)), flow label 0x12345. */
    uint8_t ip6[4] = { 0x6b, 0x91, 0x23, 0x45 };

    assert_int_equal(gw_ecn_ipv6_get(ip6), GW_ECN_ECT1);
    assert_true(gw_ecn_ipv6_set_ce(ip6));
    assert_int_equal(ip6[0], 0x6b);
    assert_int_equal(ip6[1], 0xb1);
    assert_int_equal(ip6[2], 0x23);
    assert_int_equal(gw_ecn_ipv6_get(ip6), GW_ECN_CE);
    assert_false(gw_ecn_ipv6_set_ce(ip6));      /* CE stays CE. */
    assert_int_equal(ip6[1], 0xb1);

    ip6[1] = 0x81;              /* Not-ECT. */
    assert_false(gw_ecn_ipv6_set_ce(ip6));
    assert_int_equal(ip6[1], 0x81);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_pmax_ppm_is_converted_to_units_of_2_pow_minus_32),
        cmocka_unit_test(test_prob_is_zero_up_to_and_at_kmin),
        cmocka_unit_test(test_prob_is_half_pmax_at_midpoint),
        cmocka_unit_test(test_prob_is_pmax_at_kmax_and_one_above),
        cmocka_unit_test(
            test_prob_rises_monotonically_between_kmin_and_kmax),
        cmocka_unit_test(test_decide_marks_iff_random_is_below_prob),
        cmocka_unit_test(
            test_marked_fraction_over_uniform_randoms_is_exactly_p),
        cmocka_unit_test(test_decide_never_marks_not_ect),
        cmocka_unit_test(test_decide_leaves_ce_as_it_is),
        cmocka_unit_test(test_decide_marks_both_ect_codepoints),
        cmocka_unit_test(test_decide_drops_only_past_the_queue_limit),
        cmocka_unit_test(test_decide_without_ecn_never_marks),
        cmocka_unit_test(test_kmin_equal_kmax_is_a_step),
        cmocka_unit_test(test_extreme_thresholds_do_not_overflow),
        cmocka_unit_test(
            test_params_init_rejects_thresholds_out_of_order),
        cmocka_unit_test(test_admit_counts_packets_bytes_marks_and_depth),
        cmocka_unit_test(test_admit_counts_drops_by_reason),
        cmocka_unit_test(test_ipv4_set_ce_keeps_header_checksum_right),
        cmocka_unit_test(test_ipv4_set_ce_leaves_not_ect_and_ce_untouched),
        cmocka_unit_test(test_ipv6_set_ce_touches_only_the_ecn_bits),
    };

    return cmocka_run_group_tests_name("gw-ecn", tests, NULL, NULL);
}

/*
 * Unit tests for cats-gw's port configuration (dataplane/gw-config.h): the
 * headroom formula, every validation error with its exact message, and
 * the runtime state built from a valid configuration.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gw-config.h"
#include "gw-ecn.h"
#include "gw-pfc.h"
#include "openvswitch/compiler.h"
#include "util.h"

#define GBPS UINT64_C(1000000000)

static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

/* The defaults, with class 3 lossless and marking: 100 Gb/s over 100 m
 * needs 12,500 + 2 x 1522 = 15,544 bytes of headroom; it has 548,576. */
static void
base_config(struct gw_port_config *cfg)
{
    struct gw_class_config *cc;

    gw_port_config_init(cfg);
    cc = &cfg->classes[3];
    cc->queue_limit = 1048576;
    cc->ecn = true;
    cc->kmin = 20000;
    cc->kmax = 100000;
    cc->pmax_ppm = 10000;
    cc->lossless = true;
    cc->xoff = 500000;
    cc->xon = 400000;
}

static void
assert_valid(const struct gw_port_config *cfg)
{
    char *error = (char *) "not touched";

    if (gw_config_validate(cfg, "x", &error)) {
        fail_msg("unexpected error \"%s\"", error);
    }
    assert_null(error);
}

/* Headroom. */

static void
test_headroom_is_125_kB_per_km_at_100_gbps_plus_two_frames(void **state
                                                           OVS_UNUSED)
{
    assert_true(gw_config_headroom_needed(100 * GBPS, 1000, 1500)
                == 125000 + 3000);
    assert_true(gw_config_headroom_needed(100 * GBPS, 10000, 1500)
                == 1250000 + 3000);
    assert_true(gw_config_headroom_needed(100 * GBPS, 300000, 1522)
                == 37500000 + 3044);
    assert_true(gw_config_headroom_needed(10 * GBPS, 1000, 9216)
                == 12500 + 18432);
    assert_true(gw_config_headroom_needed(25 * GBPS, 100, 1522)
                == 3125 + 3044);
    assert_true(gw_config_headroom_needed(100 * GBPS, 0, 1522) == 3044);
}

static void
test_headroom_rounds_up_and_does_not_overflow(void **state OVS_UNUSED)
{
    /* 3 b/s over 1 m: 30 ns of bits in flight, a fraction of a byte. */
    assert_true(gw_config_headroom_needed(3, 1, 64) == 1 + 128);
    /* 1.6 Tb/s over 20,000 km: 4e10 bytes, past 32 bits. */
    assert_true(gw_config_headroom_needed(GW_SPEED_BPS_MAX,
                                          GW_DISTANCE_M_MAX, 16384)
                == UINT64_C(40000000000) + 32768);
}

static void
test_headroom_boundary_is_exact(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;
    uint64_t needed = gw_config_headroom_needed(100 * GBPS, 1000, 1522);
    char *error;

    base_config(&cfg);
    cfg.distance_m = 1000;
    cfg.classes[3].xoff = cfg.classes[3].queue_limit - needed;
    assert_valid(&cfg);

    cfg.classes[3].xoff++;
    assert_int_equal(gw_config_validate(&cfg, NULL, &error), EINVAL);
    assert_string_equal(error, "class 3: headroom (queue_limit - xoff = "
                        "128043 bytes) is below the 128044 bytes needed for "
                        "distance_m 1000 at speed_bps 100000000000 (2 x "
                        "distance x 5 ns/m x speed / 8 + 2 x max_frame)");
    free(error);
}

/* Validation. */

static void
test_default_and_base_configs_are_valid(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;

    gw_port_config_init(&cfg);
    assert_valid(&cfg);
    cfg.trust = GW_TRUST_DSCP;
    assert_valid(&cfg);
    base_config(&cfg);
    assert_valid(&cfg);
}

struct bad_config {
    void (*mutate)(struct gw_port_config *);
    const char *message;
};

#define MUTATE(NAME, BODY) \
    static void NAME(struct gw_port_config *cfg) { BODY; }

MUTATE(speed_zero, cfg->speed_bps = 0)
MUTATE(speed_too_high, cfg->speed_bps = 2000 * GBPS)
MUTATE(distance_too_far, cfg->distance_m = 20000001)
MUTATE(frame_too_small, cfg->max_frame = 63)
MUTATE(frame_too_big, cfg->max_frame = 16385)
MUTATE(trust_bad, cfg->trust = 7)
MUTATE(quanta_zero, cfg->pause_quanta = 0)
MUTATE(watchdog_zero, cfg->pfc_watchdog_ns = 0)
MUTATE(restore_zero, cfg->pfc_restore_ns = 0)
MUTATE(queue_below_frame, cfg->classes[2].queue_limit = 1000)
MUTATE(kmin_above_kmax, cfg->classes[3].kmin = 200000)
MUTATE(kmax_past_limit, cfg->classes[3].kmax = 2000000)
MUTATE(pmax_above_one, cfg->classes[3].pmax_ppm = 1000001)
MUTATE(ecn_fields_without_ecn, cfg->classes[1].kmin = 5)
MUTATE(xon_equal_xoff, cfg->classes[3].xon = 500000)
MUTATE(xon_above_xoff, cfg->classes[3].xon = 600000)
MUTATE(xoff_past_limit, cfg->classes[3].xoff = 2000000)
MUTATE(headroom_short, cfg->classes[3].xoff = 1040000)
MUTATE(long_haul_headroom, cfg->distance_m = 300000)
MUTATE(kmax_past_xoff, cfg->classes[3].kmax = 600000)
MUTATE(xoff_without_lossless, cfg->classes[0].xoff = 5)
MUTATE(pcp_in_two_classes, cfg->classes[5].pcps |= 1u << 4)
MUTATE(pcp_unmapped, cfg->classes[6].pcps = 0)
MUTATE(lossless_carries_other_pcp,
       cfg->classes[4].pcps = 0; cfg->classes[3].pcps |= 1u << 4)
MUTATE(lossless_own_pcp_elsewhere,
       cfg->classes[3].pcps = 0; cfg->classes[0].pcps |= 1u << 3)
MUTATE(dscp_in_two_classes,
       cfg->trust = GW_TRUST_DSCP; cfg->classes[6].dscps |= 1ull << 46)
MUTATE(dscp_unmapped,
       cfg->trust = GW_TRUST_DSCP; cfg->classes[7].dscps = 0)

static const struct bad_config bad_configs[] = {
    { speed_zero,
      "port 1: speed_bps (0) must be between 1 and 1600000000000" },
    { speed_too_high,
      "port 1: speed_bps (2000000000000) must be between 1 and "
      "1600000000000" },
    { distance_too_far,
      "port 1: distance_m (20000001) is more than 20000000" },
    { frame_too_small,
      "port 1: max_frame (63) must be between 64 and 16384" },
    { frame_too_big,
      "port 1: max_frame (16385) must be between 64 and 16384" },
    { trust_bad, "port 1: trust (7) must be pcp or dscp" },
    { quanta_zero, "port 1: pause_quanta must not be 0" },
    { watchdog_zero, "port 1: pfc_watchdog_ns must not be 0" },
    { restore_zero, "port 1: pfc_restore_ns must not be 0" },
    { queue_below_frame,
      "port 1: class 2: queue_limit (1000) is below max_frame (1522): the "
      "queue cannot hold one frame" },
    { kmin_above_kmax,
      "port 1: class 3: kmin (200000) is above kmax (100000)" },
    { kmax_past_limit,
      "port 1: class 3: kmax (2000000) is past queue_limit (1048576)" },
    { pmax_above_one,
      "port 1: class 3: pmax_ppm (1000001) is above 1000000 "
      "(probability 1)" },
    { ecn_fields_without_ecn,
      "port 1: class 1: kmin, kmax or pmax_ppm is set but ecn is off" },
    { xon_equal_xoff,
      "port 1: class 3: xon (500000) must be below xoff (500000)" },
    { xon_above_xoff,
      "port 1: class 3: xon (600000) must be below xoff (500000)" },
    { xoff_past_limit,
      "port 1: class 3: xoff (2000000) is past queue_limit (1048576)" },
    { headroom_short,
      "port 1: class 3: headroom (queue_limit - xoff = 8576 bytes) is "
      "below the 15544 bytes needed for distance_m 100 at speed_bps "
      "100000000000 (2 x distance x 5 ns/m x speed / 8 + 2 x max_frame)" },
    { long_haul_headroom,
      "port 1: class 3: headroom (queue_limit - xoff = 548576 bytes) is "
      "below the 37503044 bytes needed for distance_m 300000 at speed_bps "
      "100000000000 (2 x distance x 5 ns/m x speed / 8 + 2 x max_frame)" },
    { kmax_past_xoff,
      "port 1: class 3: kmax (600000) is past xoff (500000): ECN marking "
      "must reach Pmax before PFC pauses" },
    { xoff_without_lossless,
      "port 1: class 0: xoff or xon is set but the class is not lossless" },
    { pcp_in_two_classes,
      "port 1: pcp 4 is mapped to both class 4 and class 5" },
    { pcp_unmapped, "port 1: pcp 6 is not mapped to any class" },
    { lossless_carries_other_pcp,
      "port 1: class 3 is lossless, so it can carry only pcp 3 (802.1Qbb "
      "pauses by priority), not pcp 4" },
    { lossless_own_pcp_elsewhere,
      "port 1: class 3 is lossless but pcp 3 is mapped to class 0 "
      "(802.1Qbb pauses by priority: class 3 pauses pcp 3)" },
    { dscp_in_two_classes,
      "port 1: dscp 46 is mapped to both class 5 and class 6" },
    { dscp_unmapped, "port 1: dscp 56 is not mapped to any class" },
};

static void
test_each_error_names_its_field_and_value(void **state OVS_UNUSED)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_configs); i++) {
        const struct bad_config *b = &bad_configs[i];
        struct gw_port_config cfg;
        char *error = NULL;
        int retval;

        base_config(&cfg);
        b->mutate(&cfg);
        retval = gw_config_validate(&cfg, "port 1", &error);
        if (retval != EINVAL || !error) {
            fail_msg("expected \"%s\", got success", b->message);
        }
        if (strcmp(error, b->message)) {
            fail_msg("\n  expected \"%s\"\n  got      \"%s\"", b->message,
                     error);
        }
        assert_null(strchr(error, '\n'));
        free(error);
    }
}

static void
test_error_without_origin_has_no_prefix(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;
    char *error;

    base_config(&cfg);
    cfg.classes[3].kmin = 200000;
    assert_int_equal(gw_config_validate(&cfg, NULL, &error), EINVAL);
    assert_string_equal(error, "class 3: kmin (200000) is above kmax "
                        "(100000)");
    free(error);
}

static void
test_untrusted_field_map_is_not_checked(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;

    base_config(&cfg);
    cfg.classes[6].dscps |= 1ull << 46;         /* Conflict... */
    cfg.classes[7].dscps = 0;                   /* ...and gap, in dscp. */
    assert_valid(&cfg);                         /* Trust is pcp. */

    gw_port_config_init(&cfg);
    cfg.trust = GW_TRUST_DSCP;
    cfg.classes[6].pcps = 0;
    cfg.classes[5].pcps |= 1u << 4;
    assert_valid(&cfg);
}

static void
test_lossless_class_in_dscp_trust_may_carry_any_dscp(void **state
                                                     OVS_UNUSED)
{
    struct gw_port_config cfg;

    base_config(&cfg);
    cfg.trust = GW_TRUST_DSCP;
    cfg.classes[3].dscps |= 1ull << 46;         /* EF into class 3. */
    cfg.classes[5].dscps &= ~(1ull << 46);
    assert_valid(&cfg);
}

/* Runtime state. */

static void
test_build_pfc_from_config(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;
    struct gw_pfc_port port;

    base_config(&cfg);
    cfg.classes[6].lossless = true;
    cfg.classes[6].xoff = 200000;
    cfg.classes[6].xon = 150000;
    assert_valid(&cfg);

    assert_int_equal(gw_config_build_pfc(&cfg, our_mac, &port), 0);
    assert_int_equal(port.lossless, (1u << 3) | (1u << 6));
    assert_int_equal(port.classes[3].xoff, 500000);
    assert_int_equal(port.classes[3].xon, 400000);
    assert_int_equal(port.classes[6].xoff, 200000);
    assert_int_equal(port.classes[6].xon, 150000);
    assert_true(port.speed_bps == 100 * GBPS);
    assert_int_equal(port.quanta, 0xffff);
    assert_true(port.pause_ns == 335540);
    assert_true(port.watchdog_ns == GW_PFC_WATCHDOG_NS_DEFAULT);
    assert_true(port.restore_ns == GW_PFC_RESTORE_NS_DEFAULT);
    assert_memory_equal(port.src, our_mac, 6);

    /* An invalid configuration is refused, not built. */
    cfg.classes[6].xon = 200000;
    assert_int_equal(gw_config_build_pfc(&cfg, our_mac, &port), EINVAL);
}

static void
test_build_ecn_from_config(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;
    struct gw_ecn_params p;

    base_config(&cfg);
    assert_int_equal(gw_config_build_ecn(&cfg, 3, &p), 0);
    assert_true(p.ecn);
    assert_int_equal(p.kmin, 20000);
    assert_int_equal(p.kmax, 100000);
    assert_true(p.pmax == 42949672);            /* 1 %. */
    assert_int_equal(p.queue_limit, 1048576);
    assert_int_equal(p.drop_reason, GW_DROP_HEADROOM);

    assert_int_equal(gw_config_build_ecn(&cfg, 0, &p), 0);
    assert_false(p.ecn);
    assert_int_equal(p.queue_limit, 1024 * 1024);
    assert_int_equal(p.drop_reason, GW_DROP_QUEUE_LIMIT);

    assert_int_equal(gw_config_build_ecn(&cfg, 8, &p), EINVAL);
    assert_int_equal(gw_config_build_ecn(&cfg, -1, &p), EINVAL);
}

static void
test_class_map_follows_the_masks(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;
    struct gw_class_map map;

    gw_port_config_init(&cfg);
    cfg.classes[2].pcps = 0;
    cfg.classes[1].pcps |= 1u << 2;             /* PCP 2 -> class 1. */
    cfg.classes[5].dscps &= ~(1ull << 46);
    cfg.classes[7].dscps |= 1ull << 46;         /* EF -> class 7. */
    gw_config_build_class_map(&cfg, &map);

    assert_int_equal(map.trust, GW_TRUST_PCP);
    for (int pcp = 0; pcp < 8; pcp++) {
        assert_int_equal(gw_class_map_pcp(&map, pcp), pcp == 2 ? 1 : pcp);
    }
    for (int dscp = 0; dscp < 64; dscp++) {
        assert_int_equal(gw_class_map_dscp(&map, dscp),
                         dscp == 46 ? 7 : dscp / 8);
    }
    /* Only the field's bits are used. */
    assert_int_equal(gw_class_map_pcp(&map, 0xf8 | 5), 5);
    assert_int_equal(gw_class_map_dscp(&map, 0xc0 | 46), 7);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_headroom_is_125_kB_per_km_at_100_gbps_plus_two_frames),
        cmocka_unit_test(test_headroom_rounds_up_and_does_not_overflow),
        cmocka_unit_test(test_headroom_boundary_is_exact),
        cmocka_unit_test(test_default_and_base_configs_are_valid),
        cmocka_unit_test(test_each_error_names_its_field_and_value),
        cmocka_unit_test(test_error_without_origin_has_no_prefix),
        cmocka_unit_test(test_untrusted_field_map_is_not_checked),
        cmocka_unit_test(
            test_lossless_class_in_dscp_trust_may_carry_any_dscp),
        cmocka_unit_test(test_build_pfc_from_config),
        cmocka_unit_test(test_build_ecn_from_config),
        cmocka_unit_test(test_class_map_follows_the_masks),
    };

    return cmocka_run_group_tests_name("gw-config", tests, NULL, NULL);
}

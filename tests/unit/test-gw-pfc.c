/*
 * Unit tests for cats-gw's PFC state machine (dataplane/gw-pfc.h): pause
 * quanta and time, XOFF/XON thresholds with hysteresis, refresh, received
 * pauses holding a class, XON, paused time, and the pause-storm watchdog.
 *
 * The port runs at 10 Gb/s, where a pause quantum is 51.2 ns and our
 * pauses of 0xffff quanta last 3,355,392 ns (refreshed after half).
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

#include "gw-pfc.h"
#include "gw-qbb.h"
#include "gw-stats.h"
#include "openvswitch/compiler.h"
#include "util.h"

#define GBPS UINT64_C(1000000000)
#define MS UINT64_C(1000000)
#define SPEED (10 * GBPS)
#define PAUSE_NS UINT64_C(3355392)      /* 0xffff quanta at 10 Gb/s. */
#define REFRESH_NS (PAUSE_NS / 2)

/* Class 3: xoff 200 kB, xon 100 kB.  Class 5: xoff 50 kB, xon 10 kB.
 * Class 0 is lossy. */
#define XOFF3 200000
#define XON3 100000
#define XOFF5 50000
#define XON5 10000

static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };

struct fixture {
    struct gw_pfc_port port;
    struct gw_port_stats stats;
    uint32_t depth[GW_N_CLASSES];
};

static int
setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);

    assert_int_equal(gw_pfc_port_init(&fx->port, SPEED, 0xffff,
                                      GW_PFC_WATCHDOG_NS_DEFAULT,
                                      GW_PFC_RESTORE_NS_DEFAULT, our_mac),
                     0);
    assert_int_equal(gw_pfc_class_enable(&fx->port, 3, XOFF3, XON3), 0);
    assert_int_equal(gw_pfc_class_enable(&fx->port, 5, XOFF5, XON5), 0);
    gw_port_stats_init(&fx->stats);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    free(*state);
    return 0;
}

/* Runs the sending side with class 'cls' at 'depth' bytes at 'now'.  If a
 * frame is due, records it as sent and returns it in '*f'. */
static bool
tx(struct fixture *fx, int cls, uint32_t depth, uint64_t now,
   struct gw_qbb_frame *f)
{
    fx->depth[cls] = depth;
    if (!gw_pfc_port_tx_run(&fx->port, fx->depth, now, f)) {
        assert_int_equal(f->enable, 0);
        return false;
    }
    gw_pfc_port_tx_done(&fx->port, f, now, &fx->stats);
    return true;
}

/* Asserts that 'f' names exactly class 'cls' with 'quanta'. */
static void
assert_frame(const struct gw_qbb_frame *f, int cls, uint16_t quanta)
{
    assert_memory_equal(f->src, our_mac, 6);
    assert_int_equal(f->enable, 1u << cls);
    for (int c = 0; c < GW_N_CLASSES; c++) {
        assert_int_equal(f->quanta[c], c == cls ? quanta : 0);
    }
}

/* The peer sends us a PFC frame naming class 'cls' with 'quanta'. */
static void
rx(struct fixture *fx, int cls, uint16_t quanta, uint64_t now)
{
    struct gw_qbb_frame f = { .enable = 1u << cls };
    uint8_t buf[GW_QBB_FRAME_LEN];

    memcpy(f.src, peer_mac, sizeof f.src);
    f.quanta[cls] = quanta;
    assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), 0);
    assert_int_equal(gw_pfc_port_rx(&fx->port, buf, sizeof buf, now,
                                    &fx->stats), GW_QBB_OK);
}

/* Quanta and time. */

static void
test_quanta_last_512_bit_times_at_port_speed(void **state OVS_UNUSED)
{
    assert_true(gw_pfc_quanta_to_ns(0xffff, 100 * GBPS) == 335540);
    assert_true(gw_pfc_quanta_to_ns(0xffff, 10 * GBPS) == PAUSE_NS);
    assert_true(gw_pfc_quanta_to_ns(0xffff, 1 * GBPS) == 33553920);
    assert_true(gw_pfc_quanta_to_ns(0xffff, 25 * GBPS) == 1342157);
    assert_true(gw_pfc_quanta_to_ns(1, 1 * GBPS) == 512);
    assert_true(gw_pfc_quanta_to_ns(10, 10 * GBPS) == 512);
    assert_true(gw_pfc_quanta_to_ns(1, 10 * GBPS) == 52);  /* 51.2 up. */
    assert_true(gw_pfc_quanta_to_ns(0, 10 * GBPS) == 0);
}

static void
test_ns_to_quanta_rounds_up_and_caps(void **state OVS_UNUSED)
{
    assert_int_equal(gw_pfc_ns_to_quanta(512, 10 * GBPS), 10);
    assert_int_equal(gw_pfc_ns_to_quanta(513, 10 * GBPS), 11);
    assert_int_equal(gw_pfc_ns_to_quanta(0, 10 * GBPS), 0);
    assert_int_equal(gw_pfc_ns_to_quanta(PAUSE_NS, 10 * GBPS), 0xffff);
    assert_int_equal(gw_pfc_ns_to_quanta(1000 * MS, 10 * GBPS), 0xffff);
    assert_int_equal(gw_pfc_ns_to_quanta(UINT64_MAX, 400 * GBPS), 0xffff);
}

static void
test_port_init_derives_pause_and_refresh_times(void **state)
{
    struct fixture *fx = *state;

    assert_true(fx->port.pause_ns == PAUSE_NS);
    assert_true(fx->port.refresh_ns == REFRESH_NS);
    assert_true(fx->port.refresh_ns < fx->port.pause_ns);
    assert_int_equal(fx->port.lossless, (1u << 3) | (1u << 5));
    assert_true(GW_PFC_WATCHDOG_NS_DEFAULT == 200 * MS);
}

static void
test_init_and_enable_reject_bad_arguments(void **state OVS_UNUSED)
{
    uint8_t group[6] = { 0x01, 0, 0, 0, 0, 1 };
    struct gw_pfc_port port;

    assert_int_equal(gw_pfc_port_init(&port, 0, 1, 1, 1, our_mac), EINVAL);
    assert_int_equal(gw_pfc_port_init(&port, SPEED, 0, 1, 1, our_mac),
                     EINVAL);
    assert_int_equal(gw_pfc_port_init(&port, SPEED, 1, 0, 1, our_mac),
                     EINVAL);
    assert_int_equal(gw_pfc_port_init(&port, SPEED, 1, 1, 0, our_mac),
                     EINVAL);
    assert_int_equal(gw_pfc_port_init(&port, SPEED, 1, 1, 1, group), EINVAL);
    assert_int_equal(gw_pfc_port_init(&port, SPEED, 1, 1, 1, our_mac), 0);
    assert_int_equal(gw_pfc_class_enable(&port, 0, 100, 100), EINVAL);
    assert_int_equal(gw_pfc_class_enable(&port, 0, 100, 101), EINVAL);
    assert_int_equal(gw_pfc_class_enable(&port, -1, 100, 10), EINVAL);
    assert_int_equal(gw_pfc_class_enable(&port, 8, 100, 10), EINVAL);
    assert_int_equal(port.lossless, 0);
    assert_int_equal(gw_pfc_class_enable(&port, 7, 100, 99), 0);
    assert_int_equal(port.lossless, 0x80);
}

/* Sending side. */

static void
test_no_frame_below_xoff(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;

    assert_false(tx(fx, 3, 0, 0, &f));
    assert_false(tx(fx, 3, XOFF3 - 1, 1000, &f));
    assert_false(fx->port.classes[3].xoff_state);
    assert_int_equal(fx->stats.classes[3].pause_tx, 0);
}

static void
test_pause_is_sent_when_queue_reaches_xoff(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;

    assert_true(tx(fx, 3, XOFF3, 1000, &f));
    assert_frame(&f, 3, 0xffff);
    assert_true(fx->port.classes[3].xoff_state);
    assert_int_equal(fx->stats.classes[3].pause_tx, 1);

    /* Nothing more until the refresh is due. */
    assert_false(tx(fx, 3, XOFF3 + 50000, 1001, &f));
}

static void
test_hysteresis_keeps_xoff_until_queue_drains_to_xon(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;

    assert_true(tx(fx, 3, XOFF3, 0, &f));

    /* Between xon and xoff: still XOFF, no XON. */
    assert_false(tx(fx, 3, XOFF3 - 1, 10, &f));
    assert_false(tx(fx, 3, XON3 + 1, 20, &f));
    assert_true(fx->port.classes[3].xoff_state);

    /* At xon: XON (pause 0) at once. */
    assert_true(tx(fx, 3, XON3, 30, &f));
    assert_frame(&f, 3, 0);
    assert_false(fx->port.classes[3].xoff_state);
    assert_int_equal(fx->stats.classes[3].xon_tx, 1);

    /* Back up between xon and xoff: stays OPEN, no pause. */
    assert_false(tx(fx, 3, XOFF3 - 1, 40, &f));
    assert_false(fx->port.classes[3].xoff_state);
    assert_true(tx(fx, 3, XOFF3, 50, &f));
    assert_frame(&f, 3, 0xffff);
    assert_int_equal(fx->stats.classes[3].pause_tx, 2);
}

static void
test_pause_is_refreshed_before_it_expires(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;
    uint64_t t0 = 5 * MS;

    assert_true(tx(fx, 3, XOFF3 + 1, t0, &f));
    assert_false(tx(fx, 3, XOFF3 + 1, t0 + REFRESH_NS - 1, &f));
    assert_true(tx(fx, 3, XOFF3 + 1, t0 + REFRESH_NS, &f));
    assert_frame(&f, 3, 0xffff);
    assert_true(t0 + REFRESH_NS < t0 + PAUSE_NS);

    /* Refreshing goes on in the hysteresis band, from the last pause. */
    uint64_t t1 = t0 + REFRESH_NS;
    assert_false(tx(fx, 3, XON3 + 1, t1 + REFRESH_NS - 1, &f));
    assert_true(tx(fx, 3, XON3 + 1, t1 + REFRESH_NS, &f));
    assert_frame(&f, 3, 0xffff);
    assert_int_equal(fx->stats.classes[3].pause_tx, 3);
}

static void
test_no_xon_once_our_pause_has_run_out(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;

    assert_true(tx(fx, 3, XOFF3, 0, &f));
    /* No run for longer than the pause: the peer resumed by itself. */
    assert_false(tx(fx, 3, XON3, PAUSE_NS, &f));
    assert_false(fx->port.classes[3].xoff_state);
    assert_int_equal(fx->stats.classes[3].xon_tx, 0);

    /* One ns earlier, the XON would still have been due. */
    assert_true(tx(fx, 3, XOFF3, 10 * MS, &f));
    assert_true(tx(fx, 3, XON3, 10 * MS + PAUSE_NS - 1, &f));
    assert_frame(&f, 3, 0);
}

static void
test_frame_not_sent_stays_due(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f, g;

    fx->depth[3] = XOFF3;
    assert_true(gw_pfc_port_tx_run(&fx->port, fx->depth, 100, &f));
    /* The transmit ring refused it: no tx_done.  Still due later. */
    assert_true(gw_pfc_port_tx_run(&fx->port, fx->depth, 200, &g));
    assert_memory_equal(&f, &g, sizeof f);
    gw_pfc_port_tx_done(&fx->port, &g, 200, &fx->stats);
    assert_false(gw_pfc_port_tx_run(&fx->port, fx->depth, 300, &g));
    assert_int_equal(fx->stats.classes[3].pause_tx, 1);

    /* The same for an XON. */
    fx->depth[3] = 0;
    assert_true(gw_pfc_port_tx_run(&fx->port, fx->depth, 400, &f));
    assert_true(gw_pfc_port_tx_run(&fx->port, fx->depth, 500, &g));
    assert_frame(&g, 3, 0);
    gw_pfc_port_tx_done(&fx->port, &g, 500, &fx->stats);
    assert_false(gw_pfc_port_tx_run(&fx->port, fx->depth, 600, &g));
}

static void
test_one_frame_carries_every_class_that_is_due(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;

    fx->depth[3] = XOFF3;
    fx->depth[5] = XOFF5;
    assert_true(gw_pfc_port_tx_run(&fx->port, fx->depth, 0, &f));
    assert_int_equal(f.enable, (1u << 3) | (1u << 5));
    assert_int_equal(f.quanta[3], 0xffff);
    assert_int_equal(f.quanta[5], 0xffff);
    gw_pfc_port_tx_done(&fx->port, &f, 0, &fx->stats);

    /* Class 5 drains to xon while class 3 stays up: XON for 5 only. */
    fx->depth[5] = XON5;
    assert_true(gw_pfc_port_tx_run(&fx->port, fx->depth, 10, &f));
    assert_frame(&f, 5, 0);
}

static void
test_lossy_class_never_sends_pause(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;

    assert_false(tx(fx, 0, UINT32_MAX, 0, &f));
    assert_false(tx(fx, 0, UINT32_MAX, 10 * MS, &f));
    assert_int_equal(fx->stats.classes[0].pause_tx, 0);
}

static void
test_tx_paused_time_counts_while_our_pause_holds_the_peer(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f;

    assert_true(tx(fx, 3, XOFF3, 1 * MS, &f));
    gw_pfc_port_run(&fx->port, 2 * MS, &fx->stats);
    assert_true(fx->stats.classes[3].tx_paused_ns == 1 * MS);
    assert_true(tx(fx, 3, 0, 2 * MS + 500, &f));      /* XON. */
    gw_pfc_port_run(&fx->port, 9 * MS, &fx->stats);
    assert_true(fx->stats.classes[3].tx_paused_ns == 1 * MS + 500);

    /* A pause that runs out counts for its whole time, no more. */
    assert_true(tx(fx, 3, XOFF3, 10 * MS, &f));
    assert_false(tx(fx, 3, 0, 20 * MS, &f));
    gw_pfc_port_run(&fx->port, 30 * MS, &fx->stats);
    assert_true(fx->stats.classes[3].tx_paused_ns
                == 1 * MS + 500 + PAUSE_NS);
}

/* Receiving side. */

static void
test_received_pause_holds_class_for_its_quanta(void **state)
{
    struct fixture *fx = *state;

    assert_false(gw_pfc_class_held(&fx->port, 3, 0));
    rx(fx, 3, 100, 1000);               /* 100 quanta = 5120 ns. */
    assert_true(gw_pfc_class_held(&fx->port, 3, 1000));
    assert_true(gw_pfc_class_held(&fx->port, 3, 1000 + 5119));
    assert_false(gw_pfc_class_held(&fx->port, 3, 1000 + 5120));
    assert_false(gw_pfc_class_held(&fx->port, 5, 1000));
    assert_int_equal(gw_pfc_port_held(&fx->port, 2000), 1u << 3);
    assert_int_equal(fx->stats.classes[3].pause_rx, 1);
}

static void
test_received_xon_resumes_at_once(void **state)
{
    struct fixture *fx = *state;

    rx(fx, 3, 0xffff, 0);
    assert_true(gw_pfc_class_held(&fx->port, 3, 1000));
    rx(fx, 3, 0, 1000);
    assert_false(gw_pfc_class_held(&fx->port, 3, 1000));
    assert_int_equal(fx->stats.classes[3].xon_rx, 1);
    gw_pfc_port_run(&fx->port, 1 * MS, &fx->stats);
    assert_true(fx->stats.classes[3].rx_paused_ns == 1000);
}

static void
test_new_received_pause_replaces_the_timer(void **state)
{
    struct fixture *fx = *state;

    rx(fx, 5, 0xffff, 0);
    rx(fx, 5, 10, 1000);                /* Shorter: 512 ns from now. */
    assert_true(gw_pfc_class_held(&fx->port, 5, 1511));
    assert_false(gw_pfc_class_held(&fx->port, 5, 1512));
    rx(fx, 5, 20, 1100);                /* Longer again: 1024 ns. */
    assert_true(gw_pfc_class_held(&fx->port, 5, 2123));
    assert_false(gw_pfc_class_held(&fx->port, 5, 2124));
}

static void
test_received_pause_for_lossy_class_is_ignored_and_counted(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f = { .enable = 0x09 };     /* Classes 0 and 3. */

    memcpy(f.src, peer_mac, sizeof f.src);
    f.quanta[0] = 0xffff;
    f.quanta[3] = 0xffff;
    gw_pfc_port_rx_frame(&fx->port, &f, 0, &fx->stats);
    assert_false(gw_pfc_class_held(&fx->port, 0, 1));
    assert_true(gw_pfc_class_held(&fx->port, 3, 1));
    assert_int_equal(fx->stats.pfc_rx_ignored, 1);
    assert_int_equal(fx->stats.classes[0].pause_rx, 0);
    assert_int_equal(fx->stats.classes[3].pause_rx, 1);
}

static void
test_malformed_frame_is_counted_and_changes_nothing(void **state)
{
    struct fixture *fx = *state;
    struct gw_qbb_frame f = { .enable = 1u << 3 };
    uint8_t buf[GW_QBB_FRAME_LEN];
    struct gw_pfc_port before;

    rx(fx, 5, 0xffff, 0);
    memcpy(f.src, peer_mac, sizeof f.src);
    f.quanta[3] = 0xffff;
    assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), 0);
    buf[40] = 1;                        /* Padding. */

    before = fx->port;
    assert_int_equal(gw_pfc_port_rx(&fx->port, buf, sizeof buf, 1000,
                                    &fx->stats), GW_QBB_ERR_PAD);
    assert_int_equal(gw_pfc_port_rx(&fx->port, buf, 20, 1000, &fx->stats),
                     GW_QBB_ERR_SHORT);
    assert_memory_equal(&fx->port, &before, sizeof before);
    assert_false(gw_pfc_class_held(&fx->port, 3, 1000));
    assert_int_equal(fx->stats.pfc_rx_invalid[GW_QBB_ERR_PAD], 1);
    assert_int_equal(fx->stats.pfc_rx_invalid[GW_QBB_ERR_SHORT], 1);
    assert_int_equal(fx->stats.pfc_rx_invalid[GW_QBB_OK], 0);
    assert_int_equal(fx->stats.classes[3].pause_rx, 0);
}

static void
test_rx_paused_time_counts_only_while_held(void **state)
{
    struct fixture *fx = *state;

    rx(fx, 3, 0xffff, 1 * MS);
    gw_pfc_port_run(&fx->port, 2 * MS, &fx->stats);
    assert_true(fx->stats.classes[3].rx_paused_ns == 1 * MS);
    /* Runs out at 1 ms + PAUSE_NS; nothing more after that. */
    gw_pfc_port_run(&fx->port, 50 * MS, &fx->stats);
    assert_true(fx->stats.classes[3].rx_paused_ns == PAUSE_NS);
    /* Refreshed before running out: continuous. */
    rx(fx, 3, 0xffff, 60 * MS);
    rx(fx, 3, 0xffff, 61 * MS);
    gw_pfc_port_run(&fx->port, 62 * MS, &fx->stats);
    assert_true(fx->stats.classes[3].rx_paused_ns == PAUSE_NS + 2 * MS);
}

/* Watchdog. */

/* The peer refreshes its pause of class 3 every ms from 'from' to 'to'
 * (exclusive), running the watchdog after each. */
static void
pause_storm(struct fixture *fx, uint64_t from, uint64_t to)
{
    for (uint64_t t = from; t < to; t += MS) {
        rx(fx, 3, 0xffff, t);
        gw_pfc_port_run(&fx->port, t, &fx->stats);
    }
}

static void
test_watchdog_enters_storm_after_200_ms_of_continuous_pause(void **state)
{
    struct fixture *fx = *state;

    pause_storm(fx, 0, 200 * MS);
    gw_pfc_port_run(&fx->port, 200 * MS - 1, &fx->stats);
    assert_false(gw_pfc_class_storm(&fx->port, 3));
    assert_false(fx->stats.classes[3].storm);

    gw_pfc_port_run(&fx->port, 200 * MS, &fx->stats);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
    assert_true(fx->stats.classes[3].storm);
    assert_int_equal(fx->stats.classes[3].storms, 1);
    assert_false(gw_pfc_class_storm(&fx->port, 5));

    /* Staying paused is the same storm. */
    pause_storm(fx, 200 * MS, 400 * MS);
    assert_int_equal(fx->stats.classes[3].storms, 1);
    assert_string_equal(gw_pfc_wd_state_name(fx->port.classes[3].wd),
                        "storm");
}

static void
test_watchdog_ignores_pauses_with_gaps(void **state)
{
    struct fixture *fx = *state;

    /* Each pause runs out (after PAUSE_NS) 1 ns before the next one. */
    for (uint64_t t = 0; t < 1000 * MS; t += PAUSE_NS + 1) {
        rx(fx, 3, 0xffff, t);
        gw_pfc_port_run(&fx->port, t + PAUSE_NS / 2, &fx->stats);
    }
    gw_pfc_port_run(&fx->port, 1000 * MS, &fx->stats);
    assert_false(gw_pfc_class_storm(&fx->port, 3));
    assert_int_equal(fx->stats.classes[3].storms, 0);

    /* A pause that arrives exactly when the last one runs out continues
     * it. */
    uint64_t t0 = 2000 * MS, t;
    for (t = t0; t - t0 < 200 * MS + PAUSE_NS; t += PAUSE_NS) {
        rx(fx, 3, 0xffff, t);
    }
    gw_pfc_port_run(&fx->port, t, &fx->stats);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
}

static void
test_watchdog_leaves_storm_after_restore_time(void **state)
{
    struct fixture *fx = *state;

    pause_storm(fx, 0, 300 * MS);
    assert_true(gw_pfc_class_storm(&fx->port, 3));

    /* The last pause, at 299 ms, holds until 299 ms + PAUSE_NS. */
    uint64_t end = 299 * MS + PAUSE_NS;
    gw_pfc_port_run(&fx->port, end + 200 * MS - 1, &fx->stats);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
    gw_pfc_port_run(&fx->port, end + 200 * MS, &fx->stats);
    assert_false(gw_pfc_class_storm(&fx->port, 3));
    assert_false(fx->stats.classes[3].storm);
    assert_int_equal(fx->stats.classes[3].storm_restores, 1);
    assert_string_equal(gw_pfc_wd_state_name(fx->port.classes[3].wd), "ok");

    /* A later storm is detected again. */
    pause_storm(fx, 1000 * MS, 1201 * MS);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
    assert_int_equal(fx->stats.classes[3].storms, 2);
}

static void
test_xon_ends_the_hold_for_the_restore_time(void **state)
{
    struct fixture *fx = *state;

    pause_storm(fx, 0, 250 * MS);
    rx(fx, 3, 0, 250 * MS);
    gw_pfc_port_run(&fx->port, 450 * MS - 1, &fx->stats);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
    gw_pfc_port_run(&fx->port, 450 * MS, &fx->stats);
    assert_false(gw_pfc_class_storm(&fx->port, 3));
}

static void
test_pause_during_restore_time_restarts_it(void **state)
{
    struct fixture *fx = *state;

    pause_storm(fx, 0, 250 * MS);
    rx(fx, 3, 0, 250 * MS);
    rx(fx, 3, 100, 300 * MS);           /* 5120 ns. */
    gw_pfc_port_run(&fx->port, 450 * MS, &fx->stats);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
    gw_pfc_port_run(&fx->port, 500 * MS + 5120 - 1, &fx->stats);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
    gw_pfc_port_run(&fx->port, 500 * MS + 5120, &fx->stats);
    assert_false(gw_pfc_class_storm(&fx->port, 3));
    assert_int_equal(fx->stats.classes[3].storms, 1);
}

static void
test_watchdog_sees_a_storm_that_ended_before_it_ran(void **state)
{
    struct fixture *fx = *state;

    /* Pauses every ms up to 199 ms: the last one holds the class until
     * 199 ms + PAUSE_NS, past 200 ms, but no frame arrives to see it. */
    for (uint64_t t = 0; t < 200 * MS; t += MS) {
        rx(fx, 3, 0xffff, t);
    }
    assert_false(gw_pfc_class_storm(&fx->port, 3));

    /* The watchdog, run late, still counts it; the storm is not over
     * until 200 ms after the hold ended. */
    gw_pfc_port_run(&fx->port, 350 * MS, &fx->stats);
    assert_int_equal(fx->stats.classes[3].storms, 1);
    assert_true(gw_pfc_class_storm(&fx->port, 3));
    gw_pfc_port_run(&fx->port, 199 * MS + PAUSE_NS + 200 * MS, &fx->stats);
    assert_false(gw_pfc_class_storm(&fx->port, 3));
}

#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quanta_last_512_bit_times_at_port_speed),
        cmocka_unit_test(test_ns_to_quanta_rounds_up_and_caps),
        T(test_port_init_derives_pause_and_refresh_times),
        cmocka_unit_test(test_init_and_enable_reject_bad_arguments),
        T(test_no_frame_below_xoff),
        T(test_pause_is_sent_when_queue_reaches_xoff),
        T(test_hysteresis_keeps_xoff_until_queue_drains_to_xon),
        T(test_pause_is_refreshed_before_it_expires),
        T(test_no_xon_once_our_pause_has_run_out),
        T(test_frame_not_sent_stays_due),
        T(test_one_frame_carries_every_class_that_is_due),
        T(test_lossy_class_never_sends_pause),
        T(test_tx_paused_time_counts_while_our_pause_holds_the_peer),
        T(test_received_pause_holds_class_for_its_quanta),
        T(test_received_xon_resumes_at_once),
        T(test_new_received_pause_replaces_the_timer),
        T(test_received_pause_for_lossy_class_is_ignored_and_counted),
        T(test_malformed_frame_is_counted_and_changes_nothing),
        T(test_rx_paused_time_counts_only_while_held),
        T(test_watchdog_enters_storm_after_200_ms_of_continuous_pause),
        T(test_watchdog_ignores_pauses_with_gaps),
        T(test_watchdog_leaves_storm_after_restore_time),
        T(test_xon_ends_the_hold_for_the_restore_time),
        T(test_pause_during_restore_time_restarts_it),
        T(test_watchdog_sees_a_storm_that_ended_before_it_ran),
    };

    return cmocka_run_group_tests_name("gw-pfc", tests, NULL, NULL);
}

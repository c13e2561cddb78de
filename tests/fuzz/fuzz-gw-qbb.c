/*
 * libFuzzer target for cats-gw's 802.1Qbb frame parser and the PFC receive
 * path behind it (dataplane/gw-qbb.h, dataplane/gw-pfc.h).
 *
 * Each input is used twice:
 *
 * 1. As a received MAC control frame.  Besides crashes and sanitizer
 *    reports, it checks the parser's contract: a frame it accepts is
 *    exactly the frame gw_qbb_build() writes for what it parsed (every
 *    field was checked, none ignored); a frame it rejects leaves the output
 *    untouched, and on a port it is counted once, under its reason, and
 *    changes nothing else.
 *
 * 2. As a script for one port's PFC state machine (queue depths, received
 *    pauses, time passing, watchdog runs), checking its invariants after
 *    every step: only lossless classes pause or are held, frames it asks
 *    for are valid, paused time never exceeds elapsed time, the watchdog's
 *    counts agree with its state.
 *
 * Build: `make build/fuzz/fuzz-gw-qbb` (rules in dataplane/rules.mk: the
 * library's sources are compiled in, with coverage and sanitizers).  Run:
 * `tests/fuzz/run.sh build SECONDS` (seeds in tests/fuzz/corpus/gw-qbb/,
 * dictionary tests/fuzz/gw-qbb.dict), or replay the seeds only by
 * passing the seed files to build/fuzz/fuzz-gw-qbb.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw-pfc.h"
#include "gw-qbb.h"
#include "gw-stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(COND) do { if (!(COND)) { abort(); } } while (0)

static const uint8_t our_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

/* 10 Gb/s; classes 3 and 5 lossless; short watchdog times so that scripts
 * reach them. */
static void
port_init(struct gw_pfc_port *port)
{
    CHECK(!gw_pfc_port_init(port, UINT64_C(10000000000), 0xffff,
                            20000000, 10000000, our_mac));
    CHECK(!gw_pfc_class_enable(port, 3, 200000, 100000));
    CHECK(!gw_pfc_class_enable(port, 5, 50000, 10000));
}

static void
fuzz_parse(const uint8_t *data, size_t size)
{
    struct gw_qbb_frame f, untouched;
    enum gw_qbb_error error;

    memset(&f, 0xa5, sizeof f);
    untouched = f;
    error = gw_qbb_parse(data, size, &f);
    CHECK(gw_qbb_error_name(error) && gw_qbb_strerror(error));
    if (error) {
        CHECK(error < GW_QBB_N_ERRORS);
        CHECK(!memcmp(&f, &untouched, sizeof f));
    } else {
        uint8_t buf[GW_QBB_FRAME_LEN];

        CHECK(size >= GW_QBB_FRAME_LEN && size <= GW_QBB_FRAME_LEN_FCS);
        CHECK(!gw_qbb_build(&f, buf, sizeof buf));
        CHECK(!memcmp(buf, data, sizeof buf));
    }

    /* The same frame received on a port that is in the middle of things. */
    struct gw_pfc_port port, before;
    struct gw_port_stats ps, ps_before;
    struct gw_qbb_frame pause = { .enable = 1u << 5 };
    uint64_t now = 1000000;

    port_init(&port);
    gw_port_stats_init(&ps);
    memcpy(pause.src, our_mac, sizeof pause.src);
    pause.src[5] = 2;
    pause.quanta[5] = 1000;
    gw_pfc_port_rx_frame(&port, &pause, now - 1000, &ps);
    before = port;
    ps_before = ps;

    CHECK(gw_pfc_port_rx(&port, data, size, now, &ps) == error);
    if (error) {
        CHECK(!memcmp(&port, &before, sizeof port));
        CHECK(ps.pfc_rx_invalid[error] == ps_before.pfc_rx_invalid[error]
                                          + 1);
        ps.pfc_rx_invalid[error]--;
        CHECK(!memcmp(&ps, &ps_before, sizeof ps));
        return;
    }
    for (int c = 0; c < GW_N_CLASSES; c++) {
        bool named = f.enable & (1u << c);
        bool lossless = port.lossless & (1u << c);

        if (!named || !lossless) {
            CHECK(gw_pfc_class_held(&port, c, now)
                  == gw_pfc_class_held(&before, c, now));
        } else if (f.quanta[c]) {
            uint64_t t = gw_pfc_quanta_to_ns(f.quanta[c], port.speed_bps);

            CHECK(gw_pfc_class_held(&port, c, now + t - 1));
            CHECK(!gw_pfc_class_held(&port, c, now + t));
        } else {
            CHECK(!gw_pfc_class_held(&port, c, now));
        }
    }
}

static void
check_invariants(const struct gw_pfc_port *port,
                 const struct gw_port_stats *ps, uint64_t now)
{
    for (int c = 0; c < GW_N_CLASSES; c++) {
        const struct gw_class_stats *cs = &ps->classes[c];

        if (!(port->lossless & (1u << c))) {
            CHECK(!gw_pfc_class_held(port, c, now));
            CHECK(!cs->pause_tx && !cs->xon_tx && !cs->pause_rx
                  && !cs->xon_rx && !cs->storms);
            continue;
        }
        CHECK(cs->xon_tx <= cs->pause_tx);
        CHECK(cs->tx_paused_ns <= now && cs->rx_paused_ns <= now);
        CHECK(cs->storm_restores <= cs->storms);
        CHECK(cs->storms - cs->storm_restores
              == (port->classes[c].wd == GW_PFC_WD_STORM));
    }
}

static void
fuzz_script(const uint8_t *data, size_t size)
{
    uint32_t depth[GW_N_CLASSES] = { 0 };
    struct gw_pfc_port port;
    struct gw_port_stats ps;
    uint64_t now = 0;
    size_t i = 0;

    port_init(&port);
    gw_port_stats_init(&ps);

    while (i < size) {
        uint8_t op = data[i++];
        int cls = (op >> 2) & 7;

        switch (op & 3) {
        case 0:
            /* Time passes: up to 65535 us. */
            if (i + 2 <= size) {
                now += (uint64_t) ((data[i] << 8) | data[i + 1]) * 1000;
                i += 2;
            }
            break;

        case 1: {
            /* A queue depth changes; the sending side runs. */
            struct gw_qbb_frame f;

            if (i + 3 <= size) {
                depth[cls] = (data[i] << 16) | (data[i + 1] << 8)
                             | data[i + 2];
                i += 3;
            }
            if (gw_pfc_port_tx_run(&port, depth, now, &f)) {
                uint8_t buf[GW_QBB_FRAME_LEN];
                struct gw_qbb_frame g;

                CHECK(!(f.enable & ~port.lossless));
                for (int c = 0; c < GW_N_CLASSES; c++) {
                    CHECK(f.quanta[c] == 0 || f.quanta[c] == port.quanta);
                }
                CHECK(!gw_qbb_build(&f, buf, sizeof buf));
                CHECK(gw_qbb_parse(buf, sizeof buf, &g) == GW_QBB_OK);
                CHECK(!memcmp(&f, &g, sizeof f));
                if (!(op & 0x20)) {
                    /* Else the transmit ring "refused" it. */
                    gw_pfc_port_tx_done(&port, &f, now, &ps);
                }
            }
            break;
        }

        case 2: {
            /* The peer sends a (valid) PFC frame. */
            struct gw_qbb_frame f = { .enable = 0 };

            memcpy(f.src, our_mac, sizeof f.src);
            f.src[5] = 2;
            if (i < size) {
                f.enable = data[i++];
            }
            for (int c = 0; c < GW_N_CLASSES; c++) {
                if ((f.enable & (1u << c)) && i < size) {
                    /* Small times mostly, 0 (XON) and 0xffff too. */
                    uint8_t b = data[i++];
                    f.quanta[c] = b == 0xff ? 0xffff : b * 64;
                }
            }
            if (f.enable) {
                gw_pfc_port_rx_frame(&port, &f, now, &ps);
            }
            break;
        }

        case 3:
            gw_pfc_port_run(&port, now, &ps);
            break;
        }
        check_invariants(&port, &ps, now);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_parse(data, size);
    fuzz_script(data, size);
    return 0;
}

/*
 * cats-gw: IEEE 802.1Qbb priority flow control, per port and lossless class.
 *
 * The port is the link to one peer.  Its lossless classes' queues hold
 * what that peer sent us; when one fills, we pause the peer's priority.
 * The peer may pause ours in turn, holding what we transmit to it.  Time
 * is always passed in ('now', in ns, never decreasing): the module reads
 * no clock, so tests and the simulator drive it exactly.
 *
 * Sending side, per lossless class (queue depth 'q' in bytes, with
 * xon < xoff):
 *
 *                    q >= xoff: send PAUSE(quanta)
 *         +--------+ -------------------------------> +-------+
 *         |  OPEN  |                                  | XOFF  |---+
 *         +--------+ <------------------------------- +-------+   |
 *                    q <= xon: send XON (pause 0),                |
 *                    unless our last pause ran out    refresh: resend
 *                                                     PAUSE every
 *                                                     'refresh_ns' while
 *                                                     still in XOFF
 *
 *   Between xon and xoff the class keeps its state (hysteresis): it stays
 *   in XOFF, refreshing, until the queue drains to xon.  A pause of
 *   'quanta' holds the peer for quanta * 512 bit times at the port speed;
 *   it is refreshed after half of that, so that the peer never resumes
 *   while we are in XOFF.
 *
 *   gw_pfc_port_tx_run() says which frame is due (one frame carries every
 *   class that needs one); gw_pfc_port_tx_done() records that it was sent.
 *   Until it is, the same frame stays due: a frame that the transmit ring
 *   refused is retried on the next run.
 *
 * Receiving side, per lossless class:
 *
 *   A valid PFC frame naming the class with time t > 0 holds our transmit
 *   of that class until now + t quanta (replacing any earlier hold, longer
 *   or shorter, as 802.1Qbb's timer does); t = 0 (XON) releases it at once.
 *   Frames naming classes that are not lossless are ignored (counted);
 *   malformed frames are counted by reason and change nothing.
 *
 * Watchdog, per lossless class (SONiC's PFC watchdog, detection and
 * restoration times both 200 ms by default):
 *
 *                 held continuously for 'watchdog_ns'
 *         +------+ ----------------------------------> +-------+
 *         |  OK  |                                     | STORM |
 *         +------+ <---------------------------------- +-------+
 *                 not held for 'restore_ns' in a row
 *
 *   "Continuously" means each new pause arrived before (or exactly when)
 *   the previous one ran out.  A hold that starts while in STORM restarts
 *   the restoration time.  The state is reported (gw_pfc_class_storm(),
 *   gw_class_stats's 'storm'); what to do in a storm (drop, ignore the
 *   pauses, steer traffic away) is the caller's choice.
 */

#ifndef GW_PFC_H
#define GW_PFC_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw-qbb.h"
#include "gw-stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_PFC_WATCHDOG_NS_DEFAULT (200 * UINT64_C(1000000))
#define GW_PFC_RESTORE_NS_DEFAULT (200 * UINT64_C(1000000))
#define GW_PFC_QUANTA_MAX 0xffff

/* The time that 'quanta' pause quanta (512 bit times each) last at
 * 'speed_bps' bits per second, in ns, rounded up.  'speed_bps' must not
 * be 0. */
uint64_t gw_pfc_quanta_to_ns(uint32_t quanta, uint64_t speed_bps);

/* The fewest pause quanta that last at least 'ns' at 'speed_bps', capped
 * at GW_PFC_QUANTA_MAX.  'speed_bps' must not be 0. */
uint32_t gw_pfc_ns_to_quanta(uint64_t ns, uint64_t speed_bps);

enum gw_pfc_wd_state {
    GW_PFC_WD_OK,
    GW_PFC_WD_STORM
};

struct gw_pfc_class {
    uint32_t xoff;              /* Bytes: pause the peer at or above. */
    uint32_t xon;               /* Bytes: resume it at or below. */

    /* Sending side. */
    bool xoff_state;            /* In XOFF (see the diagram). */
    uint64_t tx_sent_ns;        /* When our last pause was sent. */
    uint64_t tx_until_ns;       /* Our last pause holds the peer until. */
    uint64_t tx_acct_ns;        /* 'tx_paused_ns' counted up to here. */

    /* Receiving side. */
    uint64_t rx_since_ns;       /* Start of the current continuous hold. */
    uint64_t rx_until_ns;       /* We are held until. */
    uint64_t rx_acct_ns;        /* 'rx_paused_ns' counted up to here. */

    /* Watchdog. */
    enum gw_pfc_wd_state wd;
    bool wd_fired;              /* The current hold already raised a
                                 * storm. */
};

struct gw_pfc_port {
    uint64_t speed_bps;
    uint16_t quanta;            /* Time in the pauses we send. */
    uint64_t pause_ns;          /* 'quanta' at 'speed_bps'. */
    uint64_t refresh_ns;        /* Resend a pause this long after the
                                 * last: half of 'pause_ns'. */
    uint64_t watchdog_ns;       /* Held this long in a row: a storm. */
    uint64_t restore_ns;        /* Not held this long: storm over. */
    uint8_t lossless;           /* Bit n: class n has PFC. */
    uint8_t src[6];             /* Our MAC, source of the frames we send. */
    struct gw_pfc_class classes[GW_N_CLASSES];
};

/* Initializes 'port' for a link of 'speed_bps' with no lossless class yet:
 * our pauses carry 'quanta', the watchdog uses 'watchdog_ns' and
 * 'restore_ns', and frames we send come from 'src'.  Returns 0 on success,
 * EINVAL if speed_bps, quanta, watchdog_ns or restore_ns is 0 or 'src' is a
 * group address. */
int gw_pfc_port_init(struct gw_pfc_port *port, uint64_t speed_bps,
                     uint16_t quanta, uint64_t watchdog_ns,
                     uint64_t restore_ns, const uint8_t src[6]);

/* Makes class 'cls' of 'port' lossless with thresholds 'xoff' and 'xon'
 * (bytes).  Returns 0 on success, EINVAL if 'cls' is out of range or
 * xon >= xoff. */
int gw_pfc_class_enable(struct gw_pfc_port *port, int cls, uint32_t xoff,
                        uint32_t xon);

/* Sending side.  Given each class's queue depth 'depth[]' (bytes) at
 * 'now', updates the classes' XOFF/OPEN states and, if a frame is due,
 * fills '*f' with it and returns true.  The frame names each lossless
 * class that needs a pause (entering XOFF, or refresh due) or an XON
 * (left XOFF while our last pause may still hold the peer). */
bool gw_pfc_port_tx_run(struct gw_pfc_port *port,
                        const uint32_t depth[GW_N_CLASSES], uint64_t now,
                        struct gw_qbb_frame *f);

/* Records that 'f', from gw_pfc_port_tx_run(), was sent at 'now', and
 * counts it in 'ps'. */
void gw_pfc_port_tx_done(struct gw_pfc_port *port,
                         const struct gw_qbb_frame *f, uint64_t now,
                         struct gw_port_stats *ps);

/* Receiving side.  Parses the 'len' bytes at 'data', a MAC control frame
 * received on 'port' at 'now'.  A valid PFC frame updates the holds of the
 * lossless classes it names and is counted in 'ps'; any other is counted
 * in 'ps->pfc_rx_invalid' by reason and changes nothing else.  Returns
 * GW_QBB_OK or the reason. */
enum gw_qbb_error gw_pfc_port_rx(struct gw_pfc_port *port, const void *data,
                                 size_t len, uint64_t now,
                                 struct gw_port_stats *ps);

/* Applies 'f', a valid PFC frame received at 'now' (gw_pfc_port_rx() does
 * this after parsing). */
void gw_pfc_port_rx_frame(struct gw_pfc_port *port,
                          const struct gw_qbb_frame *f, uint64_t now,
                          struct gw_port_stats *ps);

/* Whether the peer's pause holds our transmit of class 'cls' at 'now'.
 * Always false for a class that is not lossless. */
static inline bool
gw_pfc_class_held(const struct gw_pfc_port *port, int cls, uint64_t now)
{
    return now < port->classes[cls].rx_until_ns;
}

/* Bit n set: class n is held at 'now'. */
uint8_t gw_pfc_port_held(const struct gw_pfc_port *port, uint64_t now);

/* Runs the watchdog of every lossless class at 'now' and brings the paused
 * times and watchdog states in 'ps' up to 'now'.  Call it periodically and
 * before exporting 'ps': received pauses also run the watchdog, but a hold
 * that reaches 'watchdog_ns', or a storm whose 'restore_ns' has passed, is
 * only seen at the first call after that moment. */
void gw_pfc_port_run(struct gw_pfc_port *port, uint64_t now,
                     struct gw_port_stats *ps);

/* Whether class 'cls' is in a pause storm (as of the last call). */
static inline bool
gw_pfc_class_storm(const struct gw_pfc_port *port, int cls)
{
    return port->classes[cls].wd == GW_PFC_WD_STORM;
}

/* "ok" or "storm". */
const char *gw_pfc_wd_state_name(enum gw_pfc_wd_state);

#ifdef __cplusplus
}
#endif

#endif /* gw-pfc.h */

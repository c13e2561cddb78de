/*
 * cats-gw: IEEE 802.1Qbb priority flow control, per port and lossless class.
 * See gw-pfc.h for the state machines.
 */

#include "gw-pfc.h"

#include <errno.h>
#include <string.h>

#define NS_PER_S UINT64_C(1000000000)

uint64_t
gw_pfc_quanta_to_ns(uint32_t quanta, uint64_t speed_bps)
{
    unsigned __int128 bits_ns = (unsigned __int128) quanta
                                * GW_QBB_QUANTUM_BITS * NS_PER_S;

    return (bits_ns + speed_bps - 1) / speed_bps;
}

uint32_t
gw_pfc_ns_to_quanta(uint64_t ns, uint64_t speed_bps)
{
    unsigned __int128 per_quantum = (unsigned __int128) GW_QBB_QUANTUM_BITS
                                    * NS_PER_S;
    unsigned __int128 q = ((unsigned __int128) ns * speed_bps
                           + per_quantum - 1) / per_quantum;

    return q > GW_PFC_QUANTA_MAX ? GW_PFC_QUANTA_MAX : (uint32_t) q;
}

static inline uint64_t
min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Adds to '*counter' the part of [*acct, now) that lies before 'until',
 * then moves '*acct' to 'now'.  A 'now' before '*acct' (a clock that went
 * back) adds nothing. */
static void
accrue(uint64_t until, uint64_t *acct, uint64_t now, uint64_t *counter)
{
    if (now > *acct) {
        if (until > *acct) {
            *counter += min_u64(now, until) - *acct;
        }
        *acct = now;
    }
}

int
gw_pfc_port_init(struct gw_pfc_port *port, uint64_t speed_bps,
                 uint16_t quanta, uint64_t watchdog_ns, uint64_t restore_ns,
                 const uint8_t src[6])
{
    if (!speed_bps || !quanta || !watchdog_ns || !restore_ns
        || (src[0] & 1)) {
        return EINVAL;
    }

    memset(port, 0, sizeof *port);
    port->speed_bps = speed_bps;
    port->quanta = quanta;
    port->pause_ns = gw_pfc_quanta_to_ns(quanta, speed_bps);
    port->refresh_ns = port->pause_ns / 2;
    port->watchdog_ns = watchdog_ns;
    port->restore_ns = restore_ns;
    memcpy(port->src, src, sizeof port->src);
    return 0;
}

int
gw_pfc_class_enable(struct gw_pfc_port *port, int cls, uint32_t xoff,
                    uint32_t xon)
{
    if (cls < 0 || cls >= GW_N_CLASSES || xon >= xoff) {
        return EINVAL;
    }

    struct gw_pfc_class *pc = &port->classes[cls];
    memset(pc, 0, sizeof *pc);
    pc->xoff = xoff;
    pc->xon = xon;
    pc->wd = GW_PFC_WD_OK;
    port->lossless |= 1u << cls;
    return 0;
}

bool
gw_pfc_port_tx_run(struct gw_pfc_port *port,
                   const uint32_t depth[GW_N_CLASSES], uint64_t now,
                   struct gw_qbb_frame *f)
{
    memset(f, 0, sizeof *f);
    memcpy(f->src, port->src, sizeof f->src);

    for (int c = 0; c < GW_N_CLASSES; c++) {
        struct gw_pfc_class *pc = &port->classes[c];
        uint8_t bit = 1u << c;

        if (!(port->lossless & bit)) {
            continue;
        }

        if (!pc->xoff_state && depth[c] >= pc->xoff) {
            pc->xoff_state = true;
        } else if (pc->xoff_state && depth[c] <= pc->xon) {
            pc->xoff_state = false;
        }

        bool peer_held = now < pc->tx_until_ns;
        if (pc->xoff_state) {
            if (!peer_held || now - pc->tx_sent_ns >= port->refresh_ns) {
                f->enable |= bit;
                f->quanta[c] = port->quanta;
            }
        } else if (peer_held) {
            f->enable |= bit;
            f->quanta[c] = 0;
        }
    }
    return f->enable != 0;
}

void
gw_pfc_port_tx_done(struct gw_pfc_port *port, const struct gw_qbb_frame *f,
                    uint64_t now, struct gw_port_stats *ps)
{
    for (int c = 0; c < GW_N_CLASSES; c++) {
        struct gw_pfc_class *pc = &port->classes[c];
        struct gw_class_stats *cs = &ps->classes[c];
        uint8_t bit = 1u << c;

        if (!(f->enable & port->lossless & bit)) {
            continue;
        }

        accrue(pc->tx_until_ns, &pc->tx_acct_ns, now, &cs->tx_paused_ns);
        if (f->quanta[c]) {
            pc->tx_sent_ns = now;
            pc->tx_until_ns = now + gw_pfc_quanta_to_ns(f->quanta[c],
                                                        port->speed_bps);
            cs->pause_tx++;
        } else {
            pc->tx_until_ns = min_u64(pc->tx_until_ns, now);
            cs->xon_tx++;
        }
    }
}

static void
watchdog_run(const struct gw_pfc_port *port, struct gw_pfc_class *pc,
             uint64_t now, struct gw_class_stats *cs)
{
    if (pc->wd == GW_PFC_WD_OK && !pc->wd_fired) {
        /* Length of the current (or last) continuous hold, up to now. */
        uint64_t end = min_u64(now, pc->rx_until_ns);

        if (end > pc->rx_since_ns
            && end - pc->rx_since_ns >= port->watchdog_ns) {
            pc->wd = GW_PFC_WD_STORM;
            pc->wd_fired = true;
            cs->storms++;
        }
    }
    if (pc->wd == GW_PFC_WD_STORM && now >= pc->rx_until_ns
        && now - pc->rx_until_ns >= port->restore_ns) {
        pc->wd = GW_PFC_WD_OK;
        cs->storm_restores++;
    }
    cs->storm = pc->wd == GW_PFC_WD_STORM;
}

void
gw_pfc_port_rx_frame(struct gw_pfc_port *port, const struct gw_qbb_frame *f,
                     uint64_t now, struct gw_port_stats *ps)
{
    for (int c = 0; c < GW_N_CLASSES; c++) {
        struct gw_pfc_class *pc = &port->classes[c];
        struct gw_class_stats *cs = &ps->classes[c];
        uint8_t bit = 1u << c;

        if (!(f->enable & bit)) {
            continue;
        }
        if (!(port->lossless & bit)) {
            ps->pfc_rx_ignored++;
            continue;
        }

        accrue(pc->rx_until_ns, &pc->rx_acct_ns, now, &cs->rx_paused_ns);
        if (f->quanta[c]) {
            if (now > pc->rx_until_ns) {
                /* The previous hold ran out before this pause: a new
                 * continuous hold starts. */
                pc->rx_since_ns = now;
                pc->wd_fired = false;
            }
            pc->rx_until_ns = now + gw_pfc_quanta_to_ns(f->quanta[c],
                                                        port->speed_bps);
            cs->pause_rx++;
        } else {
            pc->rx_until_ns = min_u64(pc->rx_until_ns, now);
            cs->xon_rx++;
        }
        watchdog_run(port, pc, now, cs);
    }
}

enum gw_qbb_error
gw_pfc_port_rx(struct gw_pfc_port *port, const void *data, size_t len,
               uint64_t now, struct gw_port_stats *ps)
{
    struct gw_qbb_frame f;
    enum gw_qbb_error error = gw_qbb_parse(data, len, &f);

    if (error) {
        ps->pfc_rx_invalid[error]++;
        return error;
    }
    gw_pfc_port_rx_frame(port, &f, now, ps);
    return GW_QBB_OK;
}

uint8_t
gw_pfc_port_held(const struct gw_pfc_port *port, uint64_t now)
{
    uint8_t held = 0;

    for (int c = 0; c < GW_N_CLASSES; c++) {
        if (gw_pfc_class_held(port, c, now)) {
            held |= 1u << c;
        }
    }
    return held;
}

void
gw_pfc_port_run(struct gw_pfc_port *port, uint64_t now,
                struct gw_port_stats *ps)
{
    for (int c = 0; c < GW_N_CLASSES; c++) {
        struct gw_pfc_class *pc = &port->classes[c];
        struct gw_class_stats *cs = &ps->classes[c];

        if (!(port->lossless & (1u << c))) {
            continue;
        }
        accrue(pc->tx_until_ns, &pc->tx_acct_ns, now, &cs->tx_paused_ns);
        accrue(pc->rx_until_ns, &pc->rx_acct_ns, now, &cs->rx_paused_ns);
        watchdog_run(port, pc, now, cs);
    }
}

const char *
gw_pfc_wd_state_name(enum gw_pfc_wd_state state)
{
    return state == GW_PFC_WD_STORM ? "storm" : "ok";
}

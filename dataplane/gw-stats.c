/*
 * cats-gw: counters per port and traffic class.
 */

#include "gw-stats.h"

#include <string.h>

void
gw_port_stats_init(struct gw_port_stats *ps)
{
    memset(ps, 0, sizeof *ps);
}

static void
class_stats_add(struct gw_class_stats *dst, const struct gw_class_stats *src)
{
    dst->packets += src->packets;
    dst->bytes += src->bytes;
    dst->ecn_marked += src->ecn_marked;
    for (int i = 0; i < GW_N_DROP_REASONS; i++) {
        dst->drops[i] += src->drops[i];
    }
    dst->pause_tx += src->pause_tx;
    dst->xon_tx += src->xon_tx;
    dst->pause_rx += src->pause_rx;
    dst->xon_rx += src->xon_rx;
    dst->tx_paused_ns += src->tx_paused_ns;
    dst->rx_paused_ns += src->rx_paused_ns;
    dst->storms += src->storms;
    dst->storm_restores += src->storm_restores;
    dst->storm = dst->storm || src->storm;
    dst->depth += src->depth;
    if (src->depth_max > dst->depth_max) {
        dst->depth_max = src->depth_max;
    }
}

void
gw_port_stats_add(struct gw_port_stats *dst, const struct gw_port_stats *src)
{
    for (int c = 0; c < GW_N_CLASSES; c++) {
        class_stats_add(&dst->classes[c], &src->classes[c]);
    }
    for (int i = 0; i < GW_QBB_N_ERRORS; i++) {
        dst->pfc_rx_invalid[i] += src->pfc_rx_invalid[i];
    }
    dst->pfc_rx_ignored += src->pfc_rx_ignored;
}

uint64_t
gw_class_stats_drops(const struct gw_class_stats *cs)
{
    uint64_t n = 0;

    for (int i = 0; i < GW_N_DROP_REASONS; i++) {
        n += cs->drops[i];
    }
    return n;
}

void
gw_port_stats_reset_high_water(struct gw_port_stats *ps)
{
    for (int c = 0; c < GW_N_CLASSES; c++) {
        ps->classes[c].depth_max = ps->classes[c].depth;
    }
}

const char *
gw_drop_reason_name(enum gw_drop_reason reason)
{
    static const char *const names[GW_N_DROP_REASONS] = {
        [GW_DROP_QUEUE_LIMIT] = "queue_limit",
        [GW_DROP_HEADROOM] = "headroom",
        [GW_DROP_NO_BUFFER] = "no_buffer",
        [GW_DROP_DELAY_LINE] = "delay_line",
        [GW_DROP_TX_FULL] = "tx_full",
        [GW_DROP_STORM] = "storm",
    };

    return (unsigned) reason < GW_N_DROP_REASONS ? names[reason] : "unknown";
}

/*
 * cats-gw: counters per port and traffic class.
 *
 * Plain structs, written by one lcore each (per-lcore copies, no locks, no
 * atomics in the fast path) and summed with gw_port_stats_add() by whoever
 * exports them (the DPDK telemetry callback, the push to the controller).
 * These are the numbers from which the controller's path selector reads a
 * long-haul path's congestion: ECN-mark fraction, pause rate and paused
 * time, queue depth, drops.
 *
 * Traffic class n is also 802.1Qbb priority n: a lossless class pauses,
 * and is paused by, the priority of its own index (see gw-config.h).
 */

#ifndef GW_STATS_H
#define GW_STATS_H 1

#include <stdbool.h>
#include <stdint.h>

#include "gw-qbb.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_N_CLASSES GW_QBB_N_PRIORITIES

/* Why a packet was dropped.  Stable order: telemetry names come from
 * gw_drop_reason_name(). */
enum gw_drop_reason {
    GW_DROP_QUEUE_LIMIT,        /* Lossy class: queue limit reached. */
    GW_DROP_HEADROOM,           /* Lossless class: past xoff + headroom,
                                 * i.e. the sender ignored or outran our
                                 * pause. */
    GW_DROP_NO_BUFFER,          /* No packet buffer (mempool empty). */
    GW_DROP_DELAY_LINE,         /* Delay line full. */
    GW_DROP_TX_FULL,            /* Transmit ring refused the packet. */
    GW_DROP_STORM,              /* Dropped by the pause-storm action. */
    GW_N_DROP_REASONS
};

struct gw_class_stats {
    uint64_t packets;           /* Admitted to the class's queue. */
    uint64_t bytes;
    uint64_t ecn_marked;        /* Admitted with CE set by us. */
    uint64_t drops[GW_N_DROP_REASONS];

    /* PFC: frames that named this class. */
    uint64_t pause_tx;          /* Sent with a non-zero time (XOFF). */
    uint64_t xon_tx;            /* Sent with time 0 (XON). */
    uint64_t pause_rx;          /* Received with a non-zero time. */
    uint64_t xon_rx;            /* Received with time 0. */
    uint64_t tx_paused_ns;      /* Time our pause held the sender. */
    uint64_t rx_paused_ns;      /* Time the peer's pause held us. */

    /* PFC watchdog. */
    uint64_t storms;            /* Pause storms detected. */
    uint64_t storm_restores;    /* Storms that ended. */
    bool storm;                 /* In a pause storm now. */

    /* Queue depth in bytes. */
    uint32_t depth;             /* Now. */
    uint32_t depth_max;         /* High-water mark. */
};

struct gw_port_stats {
    struct gw_class_stats classes[GW_N_CLASSES];

    /* Received MAC control frames rejected, by reason (index 0, GW_QBB_OK,
     * stays 0). */
    uint64_t pfc_rx_invalid[GW_QBB_N_ERRORS];

    /* Priorities named by valid received PFC frames whose class is not
     * lossless, so the pause was ignored (802.1Qbb: PFC acts only on the
     * priorities it is enabled for). */
    uint64_t pfc_rx_ignored;
};

/* Sets the depth of 'cs''s queue to 'depth' bytes, raising the high-water
 * mark if needed. */
static inline void
gw_stats_set_depth(struct gw_class_stats *cs, uint32_t depth)
{
    cs->depth = depth;
    if (depth > cs->depth_max) {
        cs->depth_max = depth;
    }
}

static inline void
gw_stats_drop(struct gw_class_stats *cs, enum gw_drop_reason reason)
{
    cs->drops[reason]++;
}

void gw_port_stats_init(struct gw_port_stats *);

/* Adds 'src' to 'dst', for summing per-lcore copies: counters and current
 * depths add up (each queue is owned by one lcore, so only its owner's
 * depth is non-zero), high-water marks take the larger, 'storm' is true if
 * either is. */
void gw_port_stats_add(struct gw_port_stats *dst,
                       const struct gw_port_stats *src);

/* Total drops of 'cs' over all reasons. */
uint64_t gw_class_stats_drops(const struct gw_class_stats *cs);

/* Restarts the high-water marks of 'ps' from the current depths, for
 * exporters that report "highest since last read". */
void gw_port_stats_reset_high_water(struct gw_port_stats *ps);

/* A short stable name for 'reason' ("queue_limit", ...), for telemetry;
 * "unknown" for an out-of-range value. */
const char *gw_drop_reason_name(enum gw_drop_reason reason);

#ifdef __cplusplus
}
#endif

#endif /* gw-stats.h */

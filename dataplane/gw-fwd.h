/*
 * cats-gw: the forwarding fast path and its runtime state.
 *
 * A pair of ports A and B forwards in two directions, A->B and B->A.  One
 * direction (struct gw_dir) is what enters on one port and leaves on the
 * other:
 *
 *   rx burst on IN --+-- MAC control (0x8808): PFC frame from IN's peer:
 *                    |   holds our transmission toward IN (other direction)
 *                    +-- classify (PCP or DSCP -> class)
 *                        admit: queue limit (drop, counted by reason),
 *                        ECN law (mark CE on ECT packets), class queue
 *                                      |
 *      IN's lossless queues past XOFF: | pause frames out of IN, to the
 *      sender; XON when they drain     | sender (gw-pfc.h)
 *                                      v
 *   scheduler: strict priority, class 7 first, skipping the classes that
 *   OUT's peer paused; token bucket at the link rate
 *                                      |
 *                                      v
 *   delay line (the emulated fibre; none at zero delay) -> tx burst on OUT
 *
 * Ownership.  Every pair, with its two ports and two directions, belongs to
 * one forwarding lcore, which alone touches its state: no locks, no
 * atomics in the fast path.  One lcore may serve every pair.  Each port's
 * counters are published by its lcore about every millisecond through a
 * sequence counter (gw-seq.h); the telemetry callbacks and the push to the
 * controller read those snapshots from their own threads and never touch
 * the live state.
 *
 * Counters of a port (struct gw_port_stats, gw-stats.h) are those of the
 * direction that enters on it (its queues: packets, bytes, marks, drops,
 * depth) plus the PFC frames on it: pause_tx counts the pauses we sent out
 * of it (its queues filled), pause_rx those its peer sent us (they hold
 * the other direction's transmission toward it).
 *
 * Pause-storm action (SONiC's default, "drop"): while the watchdog says a
 * class toward a port is in a storm, the peer's pauses are not obeyed for
 * it and its queued and arriving packets are dropped (GW_DROP_STORM) until
 * the storm ends.
 */

#ifndef GW_FWD_H
#define GW_FWD_H 1

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mempool.h>

#include "gw-conf.h"
#include "gw-config.h"
#include "gw-ecn.h"
#include "gw-pfc.h"
#include "gw-queue.h"
#include "gw-seq.h"
#include "gw-stats.h"
#include "gw-tbf.h"

#define GW_BURST 32

/* Port counters that gw-stats.h does not have. */
struct gw_port_counters {
    uint64_t rx_packets;        /* Everything received, control too. */
    uint64_t rx_bytes;
    uint64_t tx_packets;        /* Data sent out of this port. */
    uint64_t tx_bytes;
    uint64_t mac_control_rx;    /* MAC control frames consumed. */
    uint64_t pfc_frames_tx;     /* PFC frames sent out of this port. */
    uint64_t pfc_tx_refused;    /* PFC frames the transmit ring refused
                                 * (retried). */
    uint64_t line_packets;      /* In the delay line of the direction
                                 * that enters here, now. */
    uint64_t line_bytes;
};

/* What a port's lcore publishes. */
struct gw_port_snap {
    uint64_t now_ns;            /* When (gateway clock). */
    struct gw_port_stats stats;
    struct gw_port_counters cnt;
    uint8_t held;               /* Classes its peer holds now. */
    uint64_t paused_for_ns[GW_N_CLASSES];   /* Held without a break. */
};

struct gw_port_pub {
    struct gw_seq seq;
    struct gw_port_snap snap;
} __rte_cache_aligned;

struct gw_dir;

struct gw_port {
    uint16_t id;                /* DPDK port id. */
    const char *name;
    struct rte_ether_addr mac;
    struct gw_port *peer;       /* The other port of the pair. */
    struct gw_dir *in;          /* The direction that enters here. */
    struct gw_dir *out;         /* The direction that leaves here. */
    unsigned int lcore;         /* Owner. */

    /* PFC toward and from this port's peer. */
    struct gw_pfc_port pfc;
    uint8_t lossless;
    uint8_t storm;              /* Classes in a pause storm. */
    uint64_t hold_until_ns;     /* Latest end of any hold. */
    bool pfc_pending;           /* A PFC frame is due but unsent. */

    /* Live counters, owner only. */
    struct gw_port_stats stats;
    struct gw_port_counters cnt;

    struct gw_port_pub pub;
};

struct gw_dir {
    struct gw_port *in;
    struct gw_port *out;
    struct gw_class_map map;
    struct gw_ecn_params ecn[GW_N_CLASSES];
    struct gw_queue q[GW_N_CLASSES];
    uint8_t busy;               /* Bit c: q[c] is not empty. */

    uint64_t delay_ns;
    uint64_t delay_tsc;         /* 0: no delay line. */
    struct gw_delay_line line;
    struct gw_tbf tbf;
};

/* Everything, built once at start-up, then owned by the lcores. */
struct gw_state {
    unsigned int n_ports;
    struct gw_port ports[GW_MAX_PORTS];
    struct gw_dir dirs[GW_MAX_PORTS];   /* dirs[i].in == &ports[i]. */
    const struct gw_conf *conf;
    struct rte_mempool *ctl_pool;       /* PFC frames. */

    uint64_t tsc_hz;
    uint64_t tsc0;
    uint64_t ns_mult;           /* ns = (tsc - tsc0) * ns_mult >> 32. */
    uint64_t start_realtime_ns; /* Wall clock at start: counters epoch. */
    uint64_t housekeeping_tsc;  /* Publish period. */
    unsigned int idle_sleep_us; /* Sleep when idle (0: busy poll). */
};

extern struct gw_state gw;
extern volatile bool gw_force_quit;

/* Builds 'gw' from 'conf' (finished, kept by reference) once the ports
 * exist; PFC frames will come from 'ctl_pool', and no frame is longer
 * than 'max_pkt' bytes.  Returns 0 or a positive errno value with a
 * malloc'd message in '*errorp'. */
int gw_state_init(const struct gw_conf *conf, struct rte_mempool *ctl_pool,
                  uint32_t max_pkt, char **errorp);

/* Gateway clock: ns since start, from the TSC. */
static inline uint64_t
gw_tsc_to_ns(uint64_t tsc)
{
    return (uint64_t) (((unsigned __int128) (tsc - gw.tsc0) * gw.ns_mult)
                       >> 32) + 1;
}

uint64_t gw_now_ns(void);

/* The forwarding loop of an lcore (rte_eal_remote_launch()): serves every
 * pair whose ports it owns until gw_force_quit. */
int gw_fwd_lcore_main(void *arg);

/* Copies port 'id''s latest snapshot (from any thread). */
void gw_port_read(unsigned int id, struct gw_port_snap *);

#endif /* gw-fwd.h */

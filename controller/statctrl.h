/*
 * ovs-cats: the statistics requests of one switch connection.
 *
 * One table of requests, each a node with its kind, encoder, xid, next due
 * time and reply handler (as OVN's statctrl):
 *
 *   COUNTERS     flow stats of the counter flows (table T2): new
 *                connections per (service, instance)
 *   PORT_DESC    port descriptions, for the ports' names and speeds: once
 *                per connection and after each port status
 *   PORT_STATS   port statistics, for the path selector's telemetry
 *   QUEUE_STATS  queue statistics
 *   SNAPSHOT     the counters again, right before a bundle that changes
 *                some services' weights (statctrl_snapshot())
 *
 * The first four are polled every stats interval, as one round led by the
 * counters: a round is due with the counters' next due time, and each of
 * its requests goes unless its previous one is still unanswered.  The
 * reply to a request, or an error about it, ends its wait.
 *
 * The owner of the connection (ofctrl.h) routes the statistics replies and
 * port status messages here, and tells statctrl_run() when the switch runs
 * something worth polling.
 */

#ifndef CATS_STATCTRL_H
#define CATS_STATCTRL_H 1

#include <stdbool.h>
#include <stdint.h>

#include "openvswitch/hmap.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/types.h"

struct cats_installed;
struct cats_pipeline_config;
struct cats_update;
struct ofp_header;
struct rconn;

/* New connections of one service to one instance, from the pipeline's
 * counter flow (table T2), as last polled. */
struct statctrl_counter {
    struct hmap_node node;          /* By service id, ip, port. */
    uint32_t service_id;
    ovs_be32 ip;
    uint16_t port;
    uint64_t packets;               /* Cumulative. */
    uint64_t base;                  /* 'packets' when the service's group
                                     * last changed. */
    uint64_t group_seqno;           /* Installed group seqno 'base' is for. */
};

/* Port statistics, polled with the counters: one entry per port the switch
 * has, named from its port descriptions (refreshed when it reports a port
 * change).  For the path selector's telemetry: OVS counts no ECN marks, so
 * only packets, bytes, drops and errors. */
struct statctrl_port_stats {
    uint32_t port_no;
    char name[16];                  /* "" until the description came. */
    uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors;
    uint64_t rx_packets, rx_bytes, rx_dropped, rx_errors;
    uint64_t speed_bps;             /* Current speed, 0 if unknown. */
};

/* One queue of one port, from OpenFlow queue statistics (a port has queues
 * where QoS gives it some; most userspace bridges have none). */
struct statctrl_queue_stats {
    uint32_t port_no;
    uint32_t queue_id;
    uint64_t tx_packets, tx_bytes, tx_errors;
};

enum statctrl_kind {
    STATCTRL_COUNTERS,              /* Periodic, in this order. */
    STATCTRL_PORT_DESC,
    STATCTRL_PORT_STATS,
    STATCTRL_QUEUE_STATS,
    STATCTRL_SNAPSHOT,              /* On demand. */
    STATCTRL_N_KINDS
};

/* Borrows 'rconn' (sends on it, never receives: its owner does), 'pipeline'
 * and 'installed' (the switch's confirmed tables, for the group seqno each
 * counter is for), which must outlive it.  'interval_ms' <= 0 disables
 * every request. */
struct statctrl *statctrl_create(struct rconn *,
                                 const struct cats_pipeline_config *pipeline,
                                 const struct cats_installed *installed,
                                 int interval_ms);
void statctrl_destroy(struct statctrl *);

/* A new connection: forgets the counters, awaits nothing, asks for the
 * port descriptions again and makes the next round due at once. */
void statctrl_reset(struct statctrl *);

/* Sends the round of periodic requests if it is due.  The caller calls it
 * only while the switch runs a table we installed. */
void statctrl_run(struct statctrl *, enum ofputil_protocol);
void statctrl_wait(const struct statctrl *);

/* Asks for the counters just before the caller sends 'u', if it changes
 * the weights of a few services, so that their new split is counted from
 * its first connection. */
void statctrl_snapshot(struct statctrl *, const struct cats_update *u,
                       enum ofputil_protocol);

/* Handles 'oh', of 'type': a statistics reply (ignored unless it answers
 * the awaited request of its kind) or a port status.  Returns false if
 * 'oh' was malformed, for the caller to count it. */
bool statctrl_handle_msg(struct statctrl *, enum ofptype,
                         const struct ofp_header *oh);

/* Ends the wait of the request that error 'oh' answers, if any. */
void statctrl_handle_error(struct statctrl *, const struct ofp_header *oh);

/* The counter of new connections of 'service_id' to ip:port, or NULL. */
const struct statctrl_counter *statctrl_get_counter(const struct statctrl *,
                                                    uint32_t service_id,
                                                    ovs_be32 ip,
                                                    uint16_t port);
/* Bumped each time a poll (or snapshot) of the counters completes. */
uint64_t statctrl_get_counters_seqno(const struct statctrl *);

/* The ports (the queues) as of the last complete poll, '*n' of them;
 * '*seqno' changes with each poll (0: none yet). */
const struct statctrl_port_stats *statctrl_get_ports(const struct statctrl *,
                                                     size_t *n,
                                                     uint64_t *seqno);
const struct statctrl_queue_stats *statctrl_get_queues(
    const struct statctrl *, size_t *n, uint64_t *seqno);

/* Test support (see ofctrl_set_state_for_testing()): awaits the reply of
 * kind 'kind' with 'xid'.  A snapshot is armed for service 1 being
 * reweighted to group seqno 2. */
void statctrl_await_for_testing(struct statctrl *, enum statctrl_kind kind,
                                ovs_be32 xid);
uint64_t statctrl_get_counter_total_for_testing(const struct statctrl *);

#endif /* statctrl.h */

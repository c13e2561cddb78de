/*
 * ovs-cats: one OpenFlow switch connection.
 *
 * Keeps what the switch has confirmed (its installed table), and brings it
 * to the desired state one atomic bundle at a time:
 *
 *            connect (new rconn connection seqno)
 *                |
 *                v
 *      +-----------------+  group-desc reply (last part)
 *      | S_DUMP_GROUPS   |------------------------------+
 *      +-----------------+                              |
 *                                                       v
 *      +-----------------+  bundle + barrier sent  +---------+
 *      | S_IN_FLIGHT     |<------------------------| S_IDLE  |
 *      +-----------------+                         +---------+
 *                |  barrier reply: installed := sent;  ^
 *                +-------------------------------------+
 *                   (an error in the bundle: full resync after a backoff)
 *
 * The first update after a (re)connection is a full resync: in one ordered,
 * atomic bundle, delete every flow with our cookie and every group in our
 * range that we do not want, then add-or-modify every desired group and add
 * every desired flow.  The switch never runs with an empty or half table.
 * Later updates carry only what changed.  Nothing new is sent while a bundle
 * is in flight; changes made meanwhile are merged into the next one.
 *
 * "Installed" means confirmed by the barrier that follows the commit.
 */

#ifndef CATS_OFCTRL_H
#define CATS_OFCTRL_H 1

#include <stdbool.h>
#include <stdint.h>

#include "openvswitch/hmap.h"
#include "openflow/openflow.h"
#include "openvswitch/types.h"

struct cats_desired;
struct cats_installed;
struct cats_pipeline_config;
struct ds;
struct ofpbuf;
struct rconn;

struct ofctrl_probe {
    ovs_be32 vip;                   /* Asks as the VIP... */
    ovs_be32 ip;                    /* ...for this instance's MAC. */
};

/* Per-connection decisions (decide=connection, cats/flow-model.h). */
struct ofctrl_decider {
    /* Picks the instance for a new connection of service 'service_id':
     * returns true with '*ip' and '*port' set, or false to let the
     * service's group decide. */
    bool (*pick)(void *aux, uint32_t service_id, ovs_be32 *ip,
                 uint16_t *port);
    /* A connection of service 'service_id' to instance 'ip':'port' ended
     * (the client's FIN or RST, or the instance's RST). */
    void (*ended)(void *aux, uint32_t service_id, ovs_be32 ip,
                  uint16_t port);
    void *aux;
};

/* A service whose pick flow the switch should hold (leased). */
struct ofctrl_pick_service {
    uint32_t service_id;
    ovs_be32 vip;
    uint16_t port;                  /* TCP. */
};

struct ofctrl_config {
    const struct cats_pipeline_config *pipeline;
    int role;                       /* OFPCR12_ROLE_*: EQUAL sends no role
                                     * request; SECONDARY never writes. */
    uint64_t generation_id;         /* For PRIMARY: newer wins. */
    int stats_interval_ms;          /* Counter polling; 0 disables. */
    int probe_interval_ms;          /* ARP probes for instances; 0 off. */
    struct ofctrl_decider decider;  /* 'pick' NULL: paused packets are
                                     * resumed unpicked (the group). */
};

/* New connections of one service to one instance, from the pipeline's
 * counter flow (table T2), as last polled. */
struct ofctrl_counter {
    struct hmap_node node;          /* By service id, ip, port. */
    uint32_t service_id;
    ovs_be32 ip;
    uint16_t port;
    uint64_t packets;               /* Cumulative. */
    uint64_t base;                  /* 'packets' when the service's group
                                     * last changed. */
    uint64_t group_seqno;           /* Installed group seqno 'base' is for. */
};

struct ofctrl;

/* Takes ownership of 'rconn'.  'passive' connections (accepted from a
 * listener) are destroyed by the caller once they die; active ones
 * reconnect with backoff. */
struct ofctrl *ofctrl_create(struct rconn *, bool passive,
                             const struct ofctrl_config *);
void ofctrl_destroy(struct ofctrl *);

/* Does bounded work: processes what the switch sent, and if nothing is in
 * flight, sends the next update toward 'desired'.  'probes' lists the
 * instances whose MAC should be learned through ARP. */
void ofctrl_run(struct ofctrl *, const struct cats_desired *desired,
                const struct ofctrl_probe *probes, size_t n_probes);
void ofctrl_wait(struct ofctrl *);

/* The services whose new connections the controller decides.  Their pick
 * flows are leased to the switch once it runs 'desired_seqno' (which
 * holds their T4 flows), refreshed while connected; services no longer
 * listed have theirs deleted. */
void ofctrl_set_pick_services(struct ofctrl *,
                              const struct ofctrl_pick_service *, size_t n,
                              uint64_t desired_seqno);

struct ofctrl_pick_stats {
    uint64_t picks;                 /* Paused packets resumed with a pick. */
    uint64_t unpicked;              /* Resumed without (the group). */
    uint64_t ends;                  /* FIN/RST copies. */
    uint64_t bad;                   /* Packet-ins refused. */
    uint64_t leases;                /* Pick flows sent. */
};
void ofctrl_get_pick_stats(const struct ofctrl *, struct ofctrl_pick_stats *);

/* Asks for ARP probes at the next run (e.g. after instances were added). */
void ofctrl_probe_now(struct ofctrl *);

bool ofctrl_is_alive(const struct ofctrl *);
bool ofctrl_is_passive(const struct ofctrl *);
bool ofctrl_is_connected(const struct ofctrl *);
const char *ofctrl_get_name(const struct ofctrl *);

/* The desired seqno the switch has confirmed, or 0 if it has confirmed
 * nothing since it (re)connected. */
uint64_t ofctrl_get_installed_seqno(const struct ofctrl *);

/* The smallest desired seqno that the next incremental update may start
 * from (UINT64_MAX if the next update is a full resync). */
uint64_t ofctrl_get_gc_floor(const struct ofctrl *);

const struct cats_installed *ofctrl_get_installed(const struct ofctrl *);
/* The counter of new connections of 'service_id' to ip:port, or NULL. */
const struct ofctrl_counter *ofctrl_get_counter(const struct ofctrl *,
                                                uint32_t service_id,
                                                ovs_be32 ip, uint16_t port);

void ofctrl_format(const struct ofctrl *, struct ds *);

/* Port statistics, polled with the counters (every stats interval): one
 * entry per port the switch has, named from its port descriptions
 * (refreshed when it reports a port change).  For the path selector's
 * telemetry: OVS counts no ECN marks, so only packets, bytes, drops and
 * errors. */
struct ofctrl_port_stats {
    uint32_t port_no;
    char name[16];                  /* "" until the description came. */
    uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors;
    uint64_t rx_packets, rx_bytes, rx_dropped, rx_errors;
    uint64_t speed_bps;             /* Current speed, 0 if unknown. */
};

/* One queue of one port, from OpenFlow queue statistics (a port has queues
 * where QoS gives it some; most userspace bridges have none). */
struct ofctrl_queue_stats {
    uint32_t port_no;
    uint32_t queue_id;
    uint64_t tx_packets, tx_bytes, tx_errors;
};

/* The queues as of the last complete poll, '*n' of them; '*seqno' changes
 * with each poll (0: none yet). */
const struct ofctrl_queue_stats *ofctrl_get_queues(const struct ofctrl *,
                                                   size_t *n,
                                                   uint64_t *seqno);

/* The ports as of the last complete poll, '*n' of them; '*seqno' changes
 * with each poll (0: none yet). */
/* Bumped each time a poll (or snapshot) of the counters completes. */
uint64_t ofctrl_get_counters_seqno(const struct ofctrl *);

/* Changes with each new connection to the switch. */
unsigned int ofctrl_get_connection_seqno(const struct ofctrl *);

const struct ofctrl_port_stats *ofctrl_get_ports(const struct ofctrl *,
                                                 size_t *n, uint64_t *seqno);

bool ofctrl_needs_full_resync(const struct ofctrl *);
uint64_t ofctrl_get_n_errors(const struct ofctrl *);
uint64_t ofctrl_get_n_bad_messages(const struct ofctrl *);

/* Test support, for unit tests and fuzz targets only: puts 'oc' (on an
 * unconnected rconn) in a state, as if connected over OpenFlow 1.5, in which
 * the reply to the request with 'xid' is expected, then feeds it messages
 * as if the switch had sent them. */
enum ofctrl_test_state {
    OFCTRL_TEST_DUMP_GROUPS,        /* Awaiting a group-desc reply. */
    OFCTRL_TEST_STATS,              /* Awaiting a counters (flow stats)
                                     * reply. */
    OFCTRL_TEST_SNAPSHOT,           /* Awaiting a snapshot reply, service 1
                                     * being reweighted. */
    OFCTRL_TEST_PORT_STATS,         /* Awaiting a port-stats reply. */
    OFCTRL_TEST_IN_FLIGHT,          /* A bundle is in flight: 'xid' is its
                                     * barrier, xid - 2 and xid - 1 its
                                     * other messages. */
};
void ofctrl_set_state_for_testing(struct ofctrl *, enum ofctrl_test_state,
                                  ovs_be32 xid);
void ofctrl_receive_for_testing(struct ofctrl *, struct ofpbuf *msg);
uint64_t ofctrl_get_counter_total_for_testing(const struct ofctrl *);

#endif /* ofctrl.h */

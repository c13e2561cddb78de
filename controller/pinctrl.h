/*
 * ovs-cats: the packet-ins of one switch connection, and the packets and
 * flows that go with them (as OVN's pinctrl):
 *
 *   - per-connection decisions (decide=connection, cats/flow-model.h): a
 *     paused new connection is answered with a resume, picked or not, so
 *     that the packet is never stranded; an instance's FIN/RST is told to
 *     the decider; the pick flows that send new connections here are
 *     leased to the switch and refreshed while it is connected;
 *   - ARP probes: asking, as the VIP, for each instance's MAC, so that the
 *     pipeline's learn() flow fills the next-hop table before the first
 *     connection needs it.
 *
 * The owner of the connection (ofctrl.h) routes packet-ins here and tells
 * pinctrl_run() what the switch runs.
 */

#ifndef CATS_PINCTRL_H
#define CATS_PINCTRL_H 1

#include <stdbool.h>
#include <stdint.h>

#include "openvswitch/ofp-protocol.h"
#include "openvswitch/types.h"

struct cats_pipeline_config;
struct ds;
struct ofp_header;
struct rconn;

struct pinctrl_probe {
    ovs_be32 vip;                   /* Asks as the VIP... */
    ovs_be32 ip;                    /* ...for this instance's MAC. */
};

/* Per-connection decisions. */
struct pinctrl_decider {
    /* Picks the pair for a new connection of service 'service_id':
     * returns true with '*ip' and '*port' set to the instance and
     * '*path_id' to the catalog path it is reached over (left 0: local),
     * or false to let the service's group decide. */
    bool (*pick)(void *aux, uint32_t service_id, ovs_be32 *ip,
                 uint16_t *port, uint32_t *path_id);
    /* A connection of service 'service_id' to instance 'ip':'port' ended
     * (the client's FIN or RST, or the instance's RST). */
    void (*ended)(void *aux, uint32_t service_id, ovs_be32 ip,
                  uint16_t port);
    void *aux;
};

/* A service whose pick flow the switch should hold (leased). */
struct pinctrl_pick_service {
    uint32_t service_id;
    ovs_be32 vip;
    uint16_t port;                  /* TCP. */
};

struct pinctrl_stats {
    uint64_t picks;                 /* Paused packets resumed with a pick. */
    uint64_t unpicked;              /* Resumed without (the group). */
    uint64_t ends;                  /* FIN/RST copies. */
    uint64_t bad;                   /* Packet-ins refused. */
    uint64_t leases;                /* Pick flows sent. */
    uint64_t probes;                /* ARP probes sent. */
};

/* Borrows 'rconn' (sends on it, never receives: its owner does) and
 * 'pipeline', which must outlive it.  'decider->pick' NULL: paused packets
 * are resumed unpicked (the group).  'probe_interval_ms' <= 0 disables
 * ARP probes. */
struct pinctrl *pinctrl_create(struct rconn *,
                               const struct cats_pipeline_config *pipeline,
                               const struct pinctrl_decider *decider,
                               int probe_interval_ms);
void pinctrl_destroy(struct pinctrl *);

/* A new connection: probes and leases are due at once. */
void pinctrl_reset(struct pinctrl *);

/* Sends what is due: the leases of the pick flows once the switch runs
 * the desired seqno they were set for, and the ARP probes for 'probes'.
 * 'installed_seqno' is what the switch confirmed, 'need_full' whether it
 * awaits a full resync; a 'secondary' controller sends nothing.  The
 * caller calls it only while the switch is synchronized or a bundle is in
 * flight. */
void pinctrl_run(struct pinctrl *, enum ofputil_protocol,
                 const struct pinctrl_probe *probes, size_t n_probes,
                 bool secondary, uint64_t installed_seqno, bool need_full);
void pinctrl_wait(const struct pinctrl *);

/* Handles a packet-in: answers a paused packet with a resume over
 * 'protocol', tells the decider of a connection end, refuses (counts)
 * anything else. */
void pinctrl_handle_packet_in(struct pinctrl *, const struct ofp_header *,
                              enum ofputil_protocol);

/* The services whose new connections the controller decides.  Their pick
 * flows are leased to the switch once it runs 'desired_seqno' (which
 * holds their T4 flows), refreshed while connected; services no longer
 * listed have theirs deleted. */
void pinctrl_set_pick_services(struct pinctrl *,
                               const struct pinctrl_pick_service *, size_t n,
                               uint64_t desired_seqno);

/* Asks for ARP probes at the next run (e.g. after instances were added). */
void pinctrl_probe_now(struct pinctrl *);

void pinctrl_get_stats(const struct pinctrl *, struct pinctrl_stats *);
/* One line about the per-connection decisions, if there were any. */
void pinctrl_format(const struct pinctrl *, struct ds *);

#endif /* pinctrl.h */

/*
 * ovs-cats: one OpenFlow switch connection, and its flow sync.
 *
 * The connection carries three conversations, one module each (as OVN
 * splits its switch connection):
 *
 *   ofctrl    (here) the connection: set-up, roles, echo, errors, and
 *             the dispatcher of what the switch sends; flow sync
 *   statctrl  (statctrl.h) the periodic statistics requests: counters,
 *             ports, queues, and the snapshot before a reweight
 *   pinctrl   (pinctrl.h) packet-ins: per-connection picks and ends, pick
 *             flow leases, ARP probes
 *
 * The ofctrl owns the rconn and is the only one to receive on it; it
 * creates its statctrl and pinctrl, which send on it, and hands each of
 * them the messages of its conversation.
 *
 * Flow sync keeps what the switch has confirmed (its installed table),
 * and brings it to the desired state one atomic bundle at a time:
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

#include "openflow/openflow.h"
#include "openvswitch/types.h"
#include "pinctrl.h"

struct cats_desired;
struct cats_installed;
struct cats_pipeline_config;
struct ds;
struct ofpbuf;
struct rconn;
struct statctrl;

struct ofctrl_config {
    const struct cats_pipeline_config *pipeline;
    int role;                       /* OFPCR12_ROLE_*: EQUAL sends no role
                                     * request; SECONDARY never writes. */
    uint64_t generation_id;         /* For PRIMARY: newer wins. */
    int stats_interval_ms;          /* Counter polling; 0 disables. */
    int probe_interval_ms;          /* ARP probes for instances; 0 off. */
    struct pinctrl_decider decider; /* 'pick' NULL: paused packets are
                                     * resumed unpicked (the group). */
};

struct ofctrl;

/* Takes ownership of 'rconn'.  'passive' connections (accepted from a
 * listener) are destroyed by the caller once they die; active ones
 * reconnect with backoff.  Copies 'cfg' and its pipeline. */
struct ofctrl *ofctrl_create(struct rconn *, bool passive,
                             const struct ofctrl_config *);
void ofctrl_destroy(struct ofctrl *);

/* Does bounded work: processes what the switch sent, and if nothing is in
 * flight, sends the next update toward 'desired'.  'probes' lists the
 * instances whose MAC should be learned through ARP.  'desired' NULL: the
 * owner does not know yet what this switch should run (its datapath id
 * is not known, or names no site): nothing is written to it, and neither
 * statistics nor packet-in work (leases, probes) is done.  The owner must
 * keep passing the same table for a connection, or call ofctrl_resync()
 * when it switches to another one. */
void ofctrl_run(struct ofctrl *, const struct cats_desired *desired,
                const struct pinctrl_probe *probes, size_t n_probes);
void ofctrl_wait(struct ofctrl *);

/* The connection's statistics requests and packet-ins, owned by 'oc'. */
struct statctrl *ofctrl_get_statctrl(const struct ofctrl *oc);
struct pinctrl *ofctrl_get_pinctrl(const struct ofctrl *oc);

/* The switch's datapath id, learned from its features reply after each
 * (re)connection (the request goes right after the hello, so that it is
 * known before the first update): false until then. */
bool ofctrl_get_datapath_id(const struct ofctrl *, uint64_t *dpid);

/* Starts over with a full resync, after the bundle in flight if any (the
 * owner changed which desired table it passes). */
void ofctrl_resync(struct ofctrl *);

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

void ofctrl_format(const struct ofctrl *, struct ds *);

/* Changes with each new connection to the switch. */
unsigned int ofctrl_get_connection_seqno(const struct ofctrl *);

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

#endif /* ofctrl.h */

/*
 * ovs-cats: desired and installed OpenFlow state, and their difference.
 *
 * The controller keeps one desired table (what the catalog says the switches
 * should run) and, per switch, one installed table (what that switch has
 * confirmed by barrier).  What is sent to a switch is their difference, as
 * OVN's ofctrl does.
 *
 * Desired entries (flows and groups) carry the sequence number of their last
 * change and sit on a list in that order, so that a switch that has already
 * been sent everything up to sequence number S finds what changed since S by
 * walking the lists from their tails: the cost of an update is proportional
 * to what changed, not to the size of the table.  A removed entry stays as a
 * tombstone, on a list of its own, until every switch has been sent its
 * removal (cats_desired_gc(), which therefore only ever visits
 * tombstones).
 *
 * Several owners may add the same flow (two services on one VIP share the
 * VIP's ARP responder): desired flows are reference counted.
 *
 * Pure: no I/O.  Encoding into OpenFlow messages is here too, since it is a
 * pure function of the difference.
 */

#ifndef CATS_FLOW_TABLE_H
#define CATS_FLOW_TABLE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openvswitch/hmap.h"
#include "openvswitch/list.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ds;
struct ofpact;
struct ofpbuf;

/* The key of a flow: what OpenFlow's "strict" commands match on. */
struct cats_flow_key {
    uint8_t table_id;
    uint16_t priority;
    struct minimatch match;
};

struct cats_flow {
    struct hmap_node node;          /* By key. */
    struct ovs_list seq_node;       /* Desired only: in change order. */
    struct cats_flow_key key;
    uint64_t cookie;                /* Host byte order. */
    struct ofpact *ofpacts;
    size_t ofpacts_len;
    uint64_t seqno;                 /* Desired only: last change. */
    unsigned int refcount;          /* Desired only: 0 means tombstone. */
};

/* A select-group bucket, and the instance it sends to. */
struct cats_bucket {
    uint16_t weight;
    struct ofpact *ofpacts;
    size_t ofpacts_len;
    ovs_be32 ip;                    /* Instance it leads to (for stats). */
    uint16_t port;
};

struct cats_group {
    struct hmap_node node;          /* By group_id. */
    struct ovs_list seq_node;       /* Desired only: in change order. */
    uint32_t group_id;
    uint32_t service_id;
    struct cats_bucket *buckets;
    size_t n_buckets;
    uint64_t seqno;                 /* Desired only: last change. */
    bool deleted;                   /* Desired only: tombstone. */
};

/* Desired state. */
struct cats_desired {
    struct hmap flows;              /* Contains "struct cats_flow"s. */
    struct hmap groups;             /* Contains "struct cats_group"s. */
    struct ovs_list flow_seq;       /* Live flows, oldest change first. */
    struct ovs_list dead_flows;     /* Flow tombstones, oldest first. */
    struct ovs_list group_seq;      /* Live groups, oldest change first. */
    struct ovs_list dead_groups;    /* Group tombstones, oldest first. */
    uint64_t seqno;                 /* Last change's sequence number. */
    size_t n_live_flows;
    size_t n_live_groups;
    size_t n_conflicts;             /* Same key added with other actions. */
};

/* Installed state on one switch (what it confirmed). */
struct cats_installed {
    struct hmap flows;              /* Contains "struct cats_flow"s. */
    struct hmap groups;             /* Contains "struct cats_group"s. */
};

void cats_flow_key_init(struct cats_flow_key *, uint8_t table_id,
                        uint16_t priority, const struct match *);
uint32_t cats_flow_key_hash(const struct cats_flow_key *);
bool cats_flow_key_equal(const struct cats_flow_key *,
                         const struct cats_flow_key *);

void cats_desired_init(struct cats_desired *);
void cats_desired_destroy(struct cats_desired *);

/* Adds a reference to the flow with the given key and actions, creating it
 * if needed.  Copies 'match' and 'ofpacts'.  If a live flow with that key
 * but other actions exists, the existing one wins, the conflict is counted,
 * and NULL is returned; otherwise returns the flow, for
 * cats_desired_unref_flow(). */
struct cats_flow *cats_desired_add_flow(struct cats_desired *,
                                        uint8_t table_id, uint16_t priority,
                                        uint64_t cookie, const struct match *,
                                        const struct ofpact *,
                                        size_t ofpacts_len);
void cats_desired_unref_flow(struct cats_desired *, struct cats_flow *);

/* Sets group 'group_id' to 'n' buckets (takes ownership of 'buckets' and of
 * their ofpacts).  Touches the group only if it differs from what is
 * there. */
void cats_desired_set_group(struct cats_desired *, uint32_t group_id,
                            uint32_t service_id,
                            struct cats_bucket *buckets, size_t n);
void cats_desired_remove_group(struct cats_desired *, uint32_t group_id);
const struct cats_group *cats_desired_find_group(const struct cats_desired *,
                                                 uint32_t group_id);

/* Frees tombstones that every switch has been sent ('min_seqno' is the
 * smallest sequence number any incrementally updated switch has been
 * sent). */
void cats_desired_gc(struct cats_desired *, uint64_t min_seqno);

void cats_installed_init(struct cats_installed *);
void cats_installed_destroy(struct cats_installed *);
void cats_installed_clear(struct cats_installed *);

/* One OpenFlow change, kept until the switch confirms it. */
enum cats_op_type {
    CATS_OP_GROUP_ADD,
    CATS_OP_GROUP_MOD,
    CATS_OP_FLOW_ADD,
    CATS_OP_FLOW_MOD,
    CATS_OP_FLOW_DEL,
    CATS_OP_GROUP_DEL,
};

struct cats_op {
    struct ovs_list node;
    enum cats_op_type type;
    struct cats_flow *flow;         /* Owned copy, for flow ops. */
    struct cats_group *group;       /* Owned copy, for group ops. */
};

/* A batch of changes for one switch, in the order they must be applied:
 * groups added or modified, flows added or modified, flows deleted, groups
 * deleted, so that no flow ever refers to a missing group. */
struct cats_update {
    struct ovs_list ops;            /* Contains "struct cats_op"s. */
    size_t n_ops;
    uint64_t seqno;                 /* Desired seqno it brings the switch
                                     * to. */
    bool full;                      /* Full resync (replace everything)? */
};

void cats_update_init(struct cats_update *);
void cats_update_destroy(struct cats_update *);

/* Computes the changes that bring a switch from 'inst' (after having been
 * sent everything up to 'since') to 'desired'. */
void cats_diff_incremental(const struct cats_desired *,
                           const struct cats_installed *, uint64_t since,
                           struct cats_update *);

/* Computes a full resync: every live desired group and flow, to be sent
 * after deleting every flow with our cookie and every group in
 * 'stale_groups' (ids that the switch has in our range but we do not want).
 * Groups use add-or-modify, so existing ones are replaced in place. */
void cats_diff_full(const struct cats_desired *, struct cats_update *);

/* Applies a confirmed update to 'inst'. */
void cats_installed_apply(struct cats_installed *, const struct cats_update *);

/* Encodes 'update' as OpenFlow messages appended to 'msgs' (a list of
 * "struct ofpbuf"s).  For a full update, first deletes the flows whose
 * cookie matches 'cookie' under 'cookie_mask' and the groups listed in
 * 'stale_groups'. */
/* The same, handing each message to 'emit' (which takes ownership) as soon
 * as it is encoded, so that the caller can send while encoding goes on. */
typedef void cats_emit_cb(struct ofpbuf *msg, void *aux);
void cats_update_encode_cb(const struct cats_update *, enum ofputil_protocol,
                           uint64_t cookie, uint64_t cookie_mask,
                           const uint32_t *stale_groups, size_t n_stale,
                           cats_emit_cb *emit, void *aux);
/* cats_diff_full() followed by cats_update_encode_cb(), in one pass: each
 * message is handed to 'emit' as soon as its entry is copied, so that the
 * switch starts on a large resync before the whole of it is built. */
void cats_diff_full_encode(const struct cats_desired *, struct cats_update *,
                           enum ofputil_protocol,
                           uint64_t cookie, uint64_t cookie_mask,
                           const uint32_t *stale_groups, size_t n_stale,
                           cats_emit_cb *emit, void *aux);
void cats_update_encode(const struct cats_update *, enum ofputil_protocol,
                        uint64_t cookie, uint64_t cookie_mask,
                        const uint32_t *stale_groups, size_t n_stale,
                        struct ovs_list *msgs);

/* Formatting, for cats/dump-flows. */
void cats_flow_format(const struct cats_flow *, struct ds *);
void cats_group_format(const struct cats_group *, struct ds *);
void cats_desired_format(const struct cats_desired *, struct ds *);
void cats_installed_format(const struct cats_installed *, struct ds *);

#ifdef __cplusplus
}
#endif

#endif /* cats/flow-table.h */

/*
 * ovs-cats: desired and installed OpenFlow state.  See
 * include/cats/flow-table.h.
 */

#include <config.h>

#include "cats/flow-table.h"

#include <stdlib.h>
#include <string.h>

#include "byte-order.h"
#include "hash.h"
#include "openflow/openflow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-group.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_flow_table);

/* Flow keys. */

void
cats_flow_key_init(struct cats_flow_key *key, uint8_t table_id,
                   uint16_t priority, const struct match *match)
{
    key->table_id = table_id;
    key->priority = priority;
    minimatch_init(&key->match, match);
}

uint32_t
cats_flow_key_hash(const struct cats_flow_key *key)
{
    return minimatch_hash(&key->match,
                          ((uint32_t) key->table_id << 16) | key->priority);
}

bool
cats_flow_key_equal(const struct cats_flow_key *a,
                    const struct cats_flow_key *b)
{
    return (a->table_id == b->table_id
            && a->priority == b->priority
            && minimatch_equal(&a->match, &b->match));
}

static struct cats_flow *
flow_find(const struct hmap *flows, const struct cats_flow_key *key,
          uint32_t hash)
{
    struct cats_flow *f;

    HMAP_FOR_EACH_WITH_HASH (f, node, hash, flows) {
        if (cats_flow_key_equal(&f->key, key)) {
            return f;
        }
    }
    return NULL;
}

static struct cats_flow *
flow_clone(const struct cats_flow *src)
{
    struct cats_flow *f = xzalloc(sizeof *f);

    f->key.table_id = src->key.table_id;
    f->key.priority = src->key.priority;
    minimatch_clone(&f->key.match, &src->key.match);
    f->cookie = src->cookie;
    f->ofpacts = xmemdup(src->ofpacts, src->ofpacts_len);
    f->ofpacts_len = src->ofpacts_len;
    f->seqno = src->seqno;
    ovs_list_init(&f->seq_node);
    return f;
}

static void
flow_free(struct cats_flow *f)
{
    if (f) {
        minimatch_destroy(&f->key.match);
        free(f->ofpacts);
        free(f);
    }
}

static bool
flow_actions_equal(const struct cats_flow *a, const struct cats_flow *b)
{
    return (a->cookie == b->cookie
            && ofpacts_equal(a->ofpacts, a->ofpacts_len,
                             b->ofpacts, b->ofpacts_len));
}

/* Groups. */

static void
buckets_free(struct cats_bucket *buckets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(buckets[i].ofpacts);
    }
    free(buckets);
}

static bool
buckets_equal(const struct cats_bucket *a, size_t n_a,
              const struct cats_bucket *b, size_t n_b)
{
    if (n_a != n_b) {
        return false;
    }
    for (size_t i = 0; i < n_a; i++) {
        if (a[i].weight != b[i].weight
            || a[i].ip != b[i].ip || a[i].port != b[i].port
            || !ofpacts_equal(a[i].ofpacts, a[i].ofpacts_len,
                              b[i].ofpacts, b[i].ofpacts_len)) {
            return false;
        }
    }
    return true;
}

static struct cats_group *
group_find(const struct hmap *groups, uint32_t group_id)
{
    struct cats_group *g;

    HMAP_FOR_EACH_WITH_HASH (g, node, hash_int(group_id, 0), groups) {
        if (g->group_id == group_id) {
            return g;
        }
    }
    return NULL;
}

static struct cats_group *
group_clone(const struct cats_group *src)
{
    struct cats_group *g = xzalloc(sizeof *g);

    g->group_id = src->group_id;
    g->service_id = src->service_id;
    g->n_buckets = src->n_buckets;
    g->buckets = xmalloc((src->n_buckets ? src->n_buckets : 1)
                         * sizeof *g->buckets);
    for (size_t i = 0; i < src->n_buckets; i++) {
        g->buckets[i] = src->buckets[i];
        g->buckets[i].ofpacts = xmemdup(src->buckets[i].ofpacts,
                                        src->buckets[i].ofpacts_len);
    }
    g->seqno = src->seqno;
    ovs_list_init(&g->seq_node);
    return g;
}

static void
group_free(struct cats_group *g)
{
    if (g) {
        buckets_free(g->buckets, g->n_buckets);
        free(g);
    }
}

/* Desired state. */

void
cats_desired_init(struct cats_desired *d)
{
    hmap_init(&d->flows);
    hmap_init(&d->groups);
    ovs_list_init(&d->flow_seq);
    ovs_list_init(&d->dead_flows);
    ovs_list_init(&d->group_seq);
    ovs_list_init(&d->dead_groups);
    d->seqno = 0;
    d->n_live_flows = 0;
    d->n_live_groups = 0;
    d->n_conflicts = 0;
}

void
cats_desired_destroy(struct cats_desired *d)
{
    struct cats_flow *f;
    struct cats_group *g;

    if (!d) {
        return;
    }
    HMAP_FOR_EACH_POP (f, node, &d->flows) {
        flow_free(f);
    }
    HMAP_FOR_EACH_POP (g, node, &d->groups) {
        group_free(g);
    }
    hmap_destroy(&d->flows);
    hmap_destroy(&d->groups);
}

/* Records a change to 'f': gives it the next seqno and moves it to the tail
 * of the live or the dead list, keeping both in seqno order. */
static void
touch_flow(struct cats_desired *d, struct cats_flow *f)
{
    f->seqno = ++d->seqno;
    ovs_list_remove(&f->seq_node);
    ovs_list_push_back(f->refcount ? &d->flow_seq : &d->dead_flows,
                       &f->seq_node);
}

static void
touch_group(struct cats_desired *d, struct cats_group *g)
{
    g->seqno = ++d->seqno;
    ovs_list_remove(&g->seq_node);
    ovs_list_push_back(g->deleted ? &d->dead_groups : &d->group_seq,
                       &g->seq_node);
}

struct cats_flow *
cats_desired_add_flow(struct cats_desired *d, uint8_t table_id,
                      uint16_t priority, uint64_t cookie,
                      const struct match *match,
                      const struct ofpact *ofpacts, size_t ofpacts_len)
{
    struct cats_flow_key key;
    struct cats_flow *f;
    uint32_t hash;

    cats_flow_key_init(&key, table_id, priority, match);
    hash = cats_flow_key_hash(&key);
    f = flow_find(&d->flows, &key, hash);
    if (f) {
        bool same = (f->cookie == cookie
                     && ofpacts_equal(f->ofpacts, f->ofpacts_len,
                                      ofpacts, ofpacts_len));
        minimatch_destroy(&key.match);
        if (f->refcount && !same) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
            d->n_conflicts++;
            if (!VLOG_DROP_WARN(&rl)) {
                struct ds a = DS_EMPTY_INITIALIZER, b = DS_EMPTY_INITIALIZER;
                struct ofpact_format_params fa = { .s = &a }, fb = { .s = &b };

                ofpacts_format(f->ofpacts, f->ofpacts_len, &fa);
                ofpacts_format(ofpacts, ofpacts_len, &fb);
                VLOG_WARN("conflicting desired flows for the same match in "
                          "table %"PRIu8" priority %"PRIu16": keeping "
                          "actions=%s (cookie %#"PRIx64"), ignoring "
                          "actions=%s (cookie %#"PRIx64")", table_id,
                          priority, ds_cstr(&a), f->cookie, ds_cstr(&b),
                          cookie);
                ds_destroy(&a);
                ds_destroy(&b);
            }
            return NULL;
        }
        if (!f->refcount) {
            /* Revive a tombstone. */
            d->n_live_flows++;
            if (!same) {
                free(f->ofpacts);
                f->ofpacts = xmemdup(ofpacts, ofpacts_len);
                f->ofpacts_len = ofpacts_len;
                f->cookie = cookie;
            }
            f->refcount = 1;
            touch_flow(d, f);
        } else {
            f->refcount++;
        }
        return f;
    }

    f = xzalloc(sizeof *f);
    f->key = key;
    f->cookie = cookie;
    f->ofpacts = xmemdup(ofpacts, ofpacts_len);
    f->ofpacts_len = ofpacts_len;
    f->refcount = 1;
    ovs_list_init(&f->seq_node);
    hmap_insert(&d->flows, &f->node, hash);
    d->n_live_flows++;
    touch_flow(d, f);
    return f;
}

void
cats_desired_unref_flow(struct cats_desired *d, struct cats_flow *f)
{
    if (f) {
        ovs_assert(f->refcount > 0);
        if (!--f->refcount) {
            d->n_live_flows--;
            touch_flow(d, f);
        }
    }
}

void
cats_desired_set_group(struct cats_desired *d, uint32_t group_id,
                       uint32_t service_id,
                       struct cats_bucket *buckets, size_t n)
{
    struct cats_group *g = group_find(&d->groups, group_id);

    if (g) {
        if (!g->deleted && g->service_id == service_id
            && buckets_equal(g->buckets, g->n_buckets, buckets, n)) {
            buckets_free(buckets, n);
            return;
        }
        buckets_free(g->buckets, g->n_buckets);
        if (g->deleted) {
            g->deleted = false;
            d->n_live_groups++;
        }
    } else {
        g = xzalloc(sizeof *g);
        g->group_id = group_id;
        ovs_list_init(&g->seq_node);
        hmap_insert(&d->groups, &g->node, hash_int(group_id, 0));
        d->n_live_groups++;
    }
    g->service_id = service_id;
    g->buckets = buckets;
    g->n_buckets = n;
    touch_group(d, g);
}

void
cats_desired_remove_group(struct cats_desired *d, uint32_t group_id)
{
    struct cats_group *g = group_find(&d->groups, group_id);

    if (g && !g->deleted) {
        g->deleted = true;
        d->n_live_groups--;
        touch_group(d, g);
    }
}

const struct cats_group *
cats_desired_find_group(const struct cats_desired *d, uint32_t group_id)
{
    const struct cats_group *g = group_find(&d->groups, group_id);
    return g && !g->deleted ? g : NULL;
}

void
cats_desired_gc(struct cats_desired *d, uint64_t min_seqno)
{
    struct cats_flow *f;
    struct cats_group *g;

    /* Tombstones no newer than 'min_seqno' have been sent everywhere.  The
     * dead lists are in seqno order, so stop at the first newer one. */
    LIST_FOR_EACH_SAFE (f, seq_node, &d->dead_flows) {
        if (f->seqno > min_seqno) {
            break;
        }
        ovs_list_remove(&f->seq_node);
        hmap_remove(&d->flows, &f->node);
        flow_free(f);
    }
    LIST_FOR_EACH_SAFE (g, seq_node, &d->dead_groups) {
        if (g->seqno > min_seqno) {
            break;
        }
        ovs_list_remove(&g->seq_node);
        hmap_remove(&d->groups, &g->node);
        group_free(g);
    }
}

/* Installed state. */

void
cats_installed_init(struct cats_installed *inst)
{
    hmap_init(&inst->flows);
    hmap_init(&inst->groups);
}

void
cats_installed_clear(struct cats_installed *inst)
{
    struct cats_flow *f;
    struct cats_group *g;

    HMAP_FOR_EACH_POP (f, node, &inst->flows) {
        flow_free(f);
    }
    HMAP_FOR_EACH_POP (g, node, &inst->groups) {
        group_free(g);
    }
}

void
cats_installed_destroy(struct cats_installed *inst)
{
    if (inst) {
        cats_installed_clear(inst);
        hmap_destroy(&inst->flows);
        hmap_destroy(&inst->groups);
    }
}

/* Updates. */

void
cats_update_init(struct cats_update *u)
{
    ovs_list_init(&u->ops);
    u->n_ops = 0;
    u->seqno = 0;
    u->full = false;
}

void
cats_update_destroy(struct cats_update *u)
{
    struct cats_op *op;

    if (!u) {
        return;
    }
    LIST_FOR_EACH_POP (op, node, &u->ops) {
        flow_free(op->flow);
        group_free(op->group);
        free(op);
    }
    u->n_ops = 0;
}

static struct cats_op *
add_op(struct ovs_list *lists, enum cats_op_type type,
       struct cats_flow *flow, struct cats_group *group)
{
    struct cats_op *op = xzalloc(sizeof *op);

    op->type = type;
    op->flow = flow;
    op->group = group;
    ovs_list_push_back(&lists[type], &op->node);
    return op;
}

#define N_OP_TYPES (CATS_OP_GROUP_DEL + 1)

static void
finish_update(struct cats_update *u, struct ovs_list lists[N_OP_TYPES])
{
    for (int i = 0; i < N_OP_TYPES; i++) {
        u->n_ops += ovs_list_size(&lists[i]);
        ovs_list_push_back_all(&u->ops, &lists[i]);
    }
}

void
cats_diff_incremental(const struct cats_desired *d,
                      const struct cats_installed *inst, uint64_t since,
                      struct cats_update *u)
{
    struct ovs_list lists[N_OP_TYPES];
    const struct cats_flow *f;
    const struct cats_group *g;

    for (int i = 0; i < N_OP_TYPES; i++) {
        ovs_list_init(&lists[i]);
    }
    u->seqno = d->seqno;
    u->full = false;

    const struct ovs_list *group_lists[] = { &d->group_seq,
                                             &d->dead_groups };
    for (size_t i = 0; i < ARRAY_SIZE(group_lists); i++) {
        LIST_FOR_EACH_REVERSE (g, seq_node, group_lists[i]) {
            if (g->seqno <= since) {
                break;
            }
            const struct cats_group *cur = group_find(&inst->groups,
                                                      g->group_id);
            if (g->deleted) {
                if (cur) {
                    add_op(lists, CATS_OP_GROUP_DEL, NULL, group_clone(cur));
                }
            } else if (!cur) {
                add_op(lists, CATS_OP_GROUP_ADD, NULL, group_clone(g));
            } else if (!buckets_equal(cur->buckets, cur->n_buckets,
                                      g->buckets, g->n_buckets)) {
                add_op(lists, CATS_OP_GROUP_MOD, NULL, group_clone(g));
            }
        }
    }

    const struct ovs_list *flow_lists[] = { &d->flow_seq, &d->dead_flows };
    for (size_t i = 0; i < ARRAY_SIZE(flow_lists); i++) {
        LIST_FOR_EACH_REVERSE (f, seq_node, flow_lists[i]) {
            if (f->seqno <= since) {
                break;
            }
            const struct cats_flow *cur = flow_find(&inst->flows, &f->key,
                                                    f->node.hash);
            if (!f->refcount) {
                if (cur) {
                    add_op(lists, CATS_OP_FLOW_DEL, flow_clone(cur), NULL);
                }
            } else if (!cur) {
                add_op(lists, CATS_OP_FLOW_ADD, flow_clone(f), NULL);
            } else if (cur->cookie != f->cookie) {
                /* From OpenFlow 1.1 on, a modify cannot change the cookie:
                 * an add replaces the flow, cookie included (as OVN's
                 * ofctrl does). */
                add_op(lists, CATS_OP_FLOW_ADD, flow_clone(f), NULL);
            } else if (!flow_actions_equal(cur, f)) {
                add_op(lists, CATS_OP_FLOW_MOD, flow_clone(f), NULL);
            }
        }
    }
    finish_update(u, lists);
}


void
cats_installed_apply(struct cats_installed *inst, const struct cats_update *u)
{
    const struct cats_op *op;

    if (u->full) {
        cats_installed_clear(inst);
    }
    LIST_FOR_EACH (op, node, &u->ops) {
        struct cats_flow *f;
        struct cats_group *g;

        switch (op->type) {
        case CATS_OP_GROUP_ADD:
        case CATS_OP_GROUP_MOD:
            g = group_find(&inst->groups, op->group->group_id);
            if (g) {
                hmap_remove(&inst->groups, &g->node);
                group_free(g);
            }
            g = group_clone(op->group);
            hmap_insert(&inst->groups, &g->node, hash_int(g->group_id, 0));
            break;

        case CATS_OP_GROUP_DEL:
            g = group_find(&inst->groups, op->group->group_id);
            if (g) {
                hmap_remove(&inst->groups, &g->node);
                group_free(g);
            }
            break;

        case CATS_OP_FLOW_ADD:
        case CATS_OP_FLOW_MOD:
        case CATS_OP_FLOW_DEL: {
            uint32_t hash = cats_flow_key_hash(&op->flow->key);
            f = flow_find(&inst->flows, &op->flow->key, hash);
            if (f) {
                hmap_remove(&inst->flows, &f->node);
                flow_free(f);
            }
            if (op->type != CATS_OP_FLOW_DEL) {
                f = flow_clone(op->flow);
                hmap_insert(&inst->flows, &f->node, hash);
            }
            break;
        }
        }
    }
}

/* Encoding. */

static void
encode_flow(const struct cats_flow *f, uint16_t command,
            enum ofputil_protocol protocol, cats_emit_cb *emit, void *aux)
{
    struct ofputil_flow_mod fm = {
        .priority = f->key.priority,
        .table_id = f->key.table_id,
        .command = command,
        .buffer_id = UINT32_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .new_cookie = htonll(f->cookie),
        .cookie = htonll(0),
        .cookie_mask = htonll(0),
    };

    fm.match = f->key.match;        /* Shallow: encoding only reads it. */
    if (command != OFPFC_DELETE_STRICT) {
        fm.ofpacts = f->ofpacts;
        fm.ofpacts_len = f->ofpacts_len;
    }
    emit(ofputil_encode_flow_mod(&fm, protocol), aux);
}

static void
encode_group(const struct cats_group *g, uint16_t command,
             enum ofp_version version, cats_emit_cb *emit, void *aux)
{
    struct ofputil_group_mod gm;

    memset(&gm, 0, sizeof gm);
    gm.command = command;
    gm.type = OFPGT11_SELECT;
    gm.group_id = g->group_id;
    gm.command_bucket_id = OFPG15_BUCKET_ALL;
    ovs_list_init(&gm.buckets);

    /* OVS accepts the selection method property only with commands that
     * carry buckets: a delete that has it fails. */
    if (command != OFPGC11_DELETE) {
        ovs_strlcpy(gm.props.selection_method, "dp_hash",
                    sizeof gm.props.selection_method);
        for (size_t i = 0; i < g->n_buckets; i++) {
            struct ofputil_bucket *b = xzalloc(sizeof *b);

            b->weight = g->buckets[i].weight;
            b->watch_port = OFPP_ANY;
            b->watch_group = OFPG_ANY;
            b->bucket_id = i;
            b->ofpacts = xmemdup(g->buckets[i].ofpacts,
                                 g->buckets[i].ofpacts_len);
            b->ofpacts_len = g->buckets[i].ofpacts_len;
            ovs_list_push_back(&gm.buckets, &b->list_node);
        }
    }
    emit(ofputil_encode_group_mod(version, &gm, NULL, -1), aux);
    ofputil_uninit_group_mod(&gm);
}

/* For a full resync: delete every flow of ours in every table (other
 * cookies stay) and the stale groups. */
static void
encode_full_preamble(enum ofputil_protocol protocol, uint64_t cookie,
                     uint64_t cookie_mask, const uint32_t *stale_groups,
                     size_t n_stale, cats_emit_cb *emit, void *aux)
{
    enum ofp_version version = ofputil_protocol_to_ofp_version(protocol);
    struct ofputil_flow_mod fm = {
        .table_id = OFPTT_ALL,
        .command = OFPFC_DELETE,
        .buffer_id = UINT32_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .cookie = htonll(cookie),
        .cookie_mask = htonll(cookie_mask),
        .new_cookie = OVS_BE64_MAX,
    };

    minimatch_init_catchall(&fm.match);
    emit(ofputil_encode_flow_mod(&fm, protocol), aux);
    minimatch_destroy(&fm.match);

    for (size_t i = 0; i < n_stale; i++) {
        struct cats_group g = { .group_id = stale_groups[i] };
        encode_group(&g, OFPGC11_DELETE, version, emit, aux);
    }
}

static void
encode_op(const struct cats_op *op, bool full, enum ofputil_protocol protocol,
          cats_emit_cb *emit, void *aux)
{
    enum ofp_version version = ofputil_protocol_to_ofp_version(protocol);

    switch (op->type) {
    case CATS_OP_GROUP_ADD:
        encode_group(op->group, full ? OFPGC11_ADD_OR_MOD : OFPGC11_ADD,
                     version, emit, aux);
        break;
    case CATS_OP_GROUP_MOD:
        encode_group(op->group, OFPGC11_MODIFY, version, emit, aux);
        break;
    case CATS_OP_GROUP_DEL:
        encode_group(op->group, OFPGC11_DELETE, version, emit, aux);
        break;
    case CATS_OP_FLOW_ADD:
        encode_flow(op->flow, OFPFC_ADD, protocol, emit, aux);
        break;
    case CATS_OP_FLOW_MOD:
        encode_flow(op->flow, OFPFC_MODIFY_STRICT, protocol, emit, aux);
        break;
    case CATS_OP_FLOW_DEL:
        encode_flow(op->flow, OFPFC_DELETE_STRICT, protocol, emit, aux);
        break;
    }
}

void
cats_update_encode_cb(const struct cats_update *u,
                      enum ofputil_protocol protocol,
                      uint64_t cookie, uint64_t cookie_mask,
                      const uint32_t *stale_groups, size_t n_stale,
                      cats_emit_cb *emit, void *aux)
{
    const struct cats_op *op;

    if (u->full) {
        encode_full_preamble(protocol, cookie, cookie_mask, stale_groups,
                             n_stale, emit, aux);
    }
    LIST_FOR_EACH (op, node, &u->ops) {
        encode_op(op, u->full, protocol, emit, aux);
    }
}

/* Lists every live desired group and flow in 'u' as a full resync.  If
 * 'emit' is nonnull, also encodes each as soon as it is listed, after the
 * deletions that open a resync. */
static void
diff_full__(const struct cats_desired *d, struct cats_update *u,
            enum ofputil_protocol protocol,
            uint64_t cookie, uint64_t cookie_mask,
            const uint32_t *stale_groups, size_t n_stale,
            cats_emit_cb *emit, void *aux)
{
    struct ovs_list lists[N_OP_TYPES];
    const struct cats_flow *f;
    const struct cats_group *g;
    struct cats_op *op;

    for (int i = 0; i < N_OP_TYPES; i++) {
        ovs_list_init(&lists[i]);
    }
    u->seqno = d->seqno;
    u->full = true;

    if (emit) {
        encode_full_preamble(protocol, cookie, cookie_mask, stale_groups,
                             n_stale, emit, aux);
    }
    /* Walk the seqno lists rather than the hmaps, so that a resync sends
     * groups and flows in a deterministic order. */
    LIST_FOR_EACH (g, seq_node, &d->group_seq) {
        op = add_op(lists, CATS_OP_GROUP_ADD, NULL, group_clone(g));
        if (emit) {
            encode_op(op, true, protocol, emit, aux);
        }
    }
    LIST_FOR_EACH (f, seq_node, &d->flow_seq) {
        op = add_op(lists, CATS_OP_FLOW_ADD, flow_clone(f), NULL);
        if (emit) {
            encode_op(op, true, protocol, emit, aux);
        }
    }
    finish_update(u, lists);
}

void
cats_diff_full(const struct cats_desired *d, struct cats_update *u)
{
    diff_full__(d, u, 0, 0, 0, NULL, 0, NULL, NULL);
}

void
cats_diff_full_encode(const struct cats_desired *d, struct cats_update *u,
                      enum ofputil_protocol protocol,
                      uint64_t cookie, uint64_t cookie_mask,
                      const uint32_t *stale_groups, size_t n_stale,
                      cats_emit_cb *emit, void *aux)
{
    diff_full__(d, u, protocol, cookie, cookie_mask, stale_groups, n_stale,
                emit, aux);
}

static void
emit_to_list(struct ofpbuf *msg, void *msgs_)
{
    struct ovs_list *msgs = msgs_;

    ovs_list_push_back(msgs, &msg->list_node);
}

void
cats_update_encode(const struct cats_update *u,
                   enum ofputil_protocol protocol,
                   uint64_t cookie, uint64_t cookie_mask,
                   const uint32_t *stale_groups, size_t n_stale,
                   struct ovs_list *msgs)
{
    cats_update_encode_cb(u, protocol, cookie, cookie_mask, stale_groups,
                          n_stale, emit_to_list, msgs);
}

/* Formatting. */

void
cats_flow_format(const struct cats_flow *f, struct ds *s)
{
    struct ofpact_format_params fp = { .s = s };

    ds_put_format(s, "cookie=%#"PRIx64", table=%"PRIu8", priority=%"PRIu16,
                  f->cookie, f->key.table_id, f->key.priority);
    struct ds m = DS_EMPTY_INITIALIZER;
    minimatch_format(&f->key.match, NULL, NULL, &m, OFP_DEFAULT_PRIORITY);
    if (m.length) {
        ds_put_format(s, ",%s", ds_cstr(&m));
    }
    ds_destroy(&m);
    ds_put_cstr(s, " actions=");
    ofpacts_format(f->ofpacts, f->ofpacts_len, &fp);
}

void
cats_group_format(const struct cats_group *g, struct ds *s)
{
    struct ofpact_format_params fp = { .s = s };

    ds_put_format(s, "group_id=%"PRIu32",type=select,"
                  "selection_method=dp_hash", g->group_id);
    for (size_t i = 0; i < g->n_buckets; i++) {
        ds_put_format(s, ",bucket=bucket_id:%"PRIuSIZE",weight:%"PRIu16
                      ",actions=", i, g->buckets[i].weight);
        ofpacts_format(g->buckets[i].ofpacts, g->buckets[i].ofpacts_len, &fp);
    }
}

static int
compare_flows(const void *a_, const void *b_)
{
    const struct cats_flow *const *a = a_;
    const struct cats_flow *const *b = b_;
    const struct cats_flow_key *ka = &(*a)->key, *kb = &(*b)->key;

    if (ka->table_id != kb->table_id) {
        return ka->table_id < kb->table_id ? -1 : 1;
    }
    if (ka->priority != kb->priority) {
        return ka->priority > kb->priority ? -1 : 1;
    }
    return 0;
}

static int
compare_groups(const void *a_, const void *b_)
{
    const struct cats_group *const *a = a_;
    const struct cats_group *const *b = b_;

    return ((*a)->group_id < (*b)->group_id ? -1
            : (*a)->group_id > (*b)->group_id);
}

static int
compare_strings(const void *a_, const void *b_)
{
    const char *const *a = a_;
    const char *const *b = b_;

    return strcmp(*a, *b);
}

/* Prints the live flows and groups of 'flows' and 'groups' in a stable
 * order: by table, priority (highest first), then text. */
static void
format_tables(const struct hmap *flows, const struct hmap *groups,
              bool skip_dead, struct ds *s)
{
    const struct cats_flow **fa;
    const struct cats_group **ga;
    const struct cats_flow *f;
    const struct cats_group *g;
    size_t nf = 0, ng = 0;

    fa = xmalloc((hmap_count(flows) + 1) * sizeof *fa);
    HMAP_FOR_EACH (f, node, flows) {
        if (!skip_dead || f->refcount) {
            fa[nf++] = f;
        }
    }
    ga = xmalloc((hmap_count(groups) + 1) * sizeof *ga);
    HMAP_FOR_EACH (g, node, groups) {
        if (!skip_dead || !g->deleted) {
            ga[ng++] = g;
        }
    }

    /* Sort by table and priority, then by text within equal keys. */
    qsort(fa, nf, sizeof *fa, compare_flows);
    qsort(ga, ng, sizeof *ga, compare_groups);

    char **lines = xmalloc((nf + 1) * sizeof *lines);
    for (size_t i = 0; i < nf; i++) {
        struct ds line = DS_EMPTY_INITIALIZER;
        cats_flow_format(fa[i], &line);
        lines[i] = ds_steal_cstr(&line);
    }
    for (size_t i = 0; i < nf; ) {
        size_t j = i + 1;
        while (j < nf && !compare_flows(&fa[i], &fa[j])) {
            j++;
        }
        qsort(&lines[i], j - i, sizeof *lines, compare_strings);
        i = j;
    }
    for (size_t i = 0; i < nf; i++) {
        ds_put_format(s, "%s\n", lines[i]);
        free(lines[i]);
    }
    for (size_t i = 0; i < ng; i++) {
        cats_group_format(ga[i], s);
        ds_put_char(s, '\n');
    }
    free(lines);
    free(fa);
    free(ga);
}

void
cats_desired_format(const struct cats_desired *d, struct ds *s)
{
    format_tables(&d->flows, &d->groups, true, s);
}

void
cats_installed_format(const struct cats_installed *inst, struct ds *s)
{
    format_tables(&inst->flows, &inst->groups, false, s);
}

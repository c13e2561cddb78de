/*
 * Unit tests for the desired and installed tables, their difference, and
 * its OpenFlow encoding (include/cats/flow-table.h).
 *
 * Encoded messages are checked by decoding them with libopenvswitch's own
 * decoders, the ones ovs-vswitchd runs on what it receives.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "byte-order.h"
#include "cats/flow-table.h"
#include "flow.h"
#include "openflow/openflow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-group.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "util.h"

#define PROTOCOL OFPUTIL_P_OF15_OXM
#define COOKIE 0xca75000000000000ULL
#define COOKIE_MASK 0xffffffff00000000ULL

struct fixture {
    struct cats_desired d;
    struct cats_installed inst;
    struct cats_update u;
};

static int
setup(void **state)
{
    struct fixture *fx = xzalloc(sizeof *fx);

    cats_desired_init(&fx->d);
    cats_installed_init(&fx->inst);
    cats_update_init(&fx->u);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    cats_update_destroy(&fx->u);
    cats_installed_destroy(&fx->inst);
    cats_desired_destroy(&fx->d);
    free(fx);
    return 0;
}

/* Builders. */

/* ip,nw_dst=10.0.0.N */
static void
make_match(struct match *m, int n)
{
    match_init_catchall(m);
    match_set_dl_type(m, htons(ETH_TYPE_IP));
    match_set_nw_dst(m, htonl(0x0a000000 + n));
}

/* Adds flow "table=T, priority=P, ip,nw_dst=10.0.0.N actions=output:PORT"
 * with 'cookie'. */
static struct cats_flow *
add_flow(struct cats_desired *d, uint8_t table, uint16_t priority,
         uint64_t cookie, int n, uint16_t port)
{
    struct ofpbuf ofpacts;
    struct cats_flow *f;
    struct match m;

    ofpbuf_init(&ofpacts, 0);
    ofpact_put_OUTPUT(&ofpacts)->port = u16_to_ofp(port);
    make_match(&m, n);
    f = cats_desired_add_flow(d, table, priority, cookie, &m, ofpacts.data,
                              ofpacts.size);
    ofpbuf_uninit(&ofpacts);
    return f;
}

/* Returns 'n' malloc'd buckets, bucket i with weight 'weights[i]' and
 * actions "output:PORT+i". */
static struct cats_bucket *
make_buckets(const uint16_t *weights, size_t n, uint16_t port)
{
    struct cats_bucket *b = xcalloc(n ? n : 1, sizeof *b);

    for (size_t i = 0; i < n; i++) {
        struct ofpbuf ofpacts;

        ofpbuf_init(&ofpacts, 0);
        ofpact_put_OUTPUT(&ofpacts)->port = u16_to_ofp(port + i);
        b[i].weight = weights[i];
        b[i].ofpacts_len = ofpacts.size;
        b[i].ofpacts = ofpbuf_steal_data(&ofpacts);
        b[i].ip = htonl(0x0a010000 + i);
        b[i].port = 80;
    }
    return b;
}

static void
set_group(struct cats_desired *d, uint32_t group_id,
          const uint16_t *weights, size_t n, uint16_t port)
{
    cats_desired_set_group(d, group_id, group_id & 0xffff,
                           make_buckets(weights, n, port), n);
}

static size_t
count_flows(const struct cats_desired *d)
{
    return hmap_count(&d->flows);
}

/* Runs an incremental diff against the fixture's installed table. */
static void
diff(struct fixture *fx, uint64_t since)
{
    cats_update_destroy(&fx->u);
    cats_update_init(&fx->u);
    cats_diff_incremental(&fx->d, &fx->inst, since, &fx->u);
}

/* Brings the fixture's installed table up to date with a full resync. */
static void
install_all(struct fixture *fx)
{
    cats_update_destroy(&fx->u);
    cats_update_init(&fx->u);
    cats_diff_full(&fx->d, &fx->u);
    cats_installed_apply(&fx->inst, &fx->u);
}

static const struct cats_op *
nth_op(const struct cats_update *u, size_t n)
{
    const struct cats_op *op;
    size_t i = 0;

    LIST_FOR_EACH (op, node, &u->ops) {
        if (i++ == n) {
            return op;
        }
    }
    fail_msg("update has no op %"PRIuSIZE, n);
    return NULL;
}

static const char *
op_name(enum cats_op_type type)
{
    switch (type) {
    case CATS_OP_GROUP_ADD: return "GROUP_ADD";
    case CATS_OP_GROUP_MOD: return "GROUP_MOD";
    case CATS_OP_FLOW_ADD: return "FLOW_ADD";
    case CATS_OP_FLOW_MOD: return "FLOW_MOD";
    case CATS_OP_FLOW_DEL: return "FLOW_DEL";
    case CATS_OP_GROUP_DEL: return "GROUP_DEL";
    }
    return "?";
}

/* Fails unless 'u' has exactly the op types in 'types', in that order. */
static void
assert_op_types(const struct cats_update *u, const enum cats_op_type *types,
                size_t n)
{
    struct ds want = DS_EMPTY_INITIALIZER, got = DS_EMPTY_INITIALIZER;
    const struct cats_op *op;

    for (size_t i = 0; i < n; i++) {
        ds_put_format(&want, "%s ", op_name(types[i]));
    }
    LIST_FOR_EACH (op, node, &u->ops) {
        ds_put_format(&got, "%s ", op_name(op->type));
    }
    if (strcmp(ds_cstr(&want), ds_cstr(&got))) {
        fail_msg("ops: expected %s, got %s", ds_cstr(&want), ds_cstr(&got));
    }
    assert_int_equal(u->n_ops, n);
    ds_destroy(&want);
    ds_destroy(&got);
}

#define ASSERT_OPS(U, ...)                                              \
    do {                                                                \
        static const enum cats_op_type types_[] = { __VA_ARGS__ };      \
        assert_op_types(U, types_, ARRAY_SIZE(types_));                 \
    } while (0)

/* Flow keys. */

static void
test_flow_key_equal_needs_same_table_priority_and_match(void **state
                                                        OVS_UNUSED)
{
    struct cats_flow_key a, b, c, d, e;
    struct match m1, m2;

    make_match(&m1, 1);
    make_match(&m2, 2);
    cats_flow_key_init(&a, 1, 100, &m1);
    cats_flow_key_init(&b, 1, 100, &m1);
    cats_flow_key_init(&c, 2, 100, &m1);
    cats_flow_key_init(&d, 1, 101, &m1);
    cats_flow_key_init(&e, 1, 100, &m2);

    assert_true(cats_flow_key_equal(&a, &b));
    assert_int_equal(cats_flow_key_hash(&a), cats_flow_key_hash(&b));
    assert_false(cats_flow_key_equal(&a, &c));
    assert_false(cats_flow_key_equal(&a, &d));
    assert_false(cats_flow_key_equal(&a, &e));
    assert_int_not_equal(cats_flow_key_hash(&a), cats_flow_key_hash(&c));
    assert_int_not_equal(cats_flow_key_hash(&a), cats_flow_key_hash(&d));

    minimatch_destroy(&a.match);
    minimatch_destroy(&b.match);
    minimatch_destroy(&c.match);
    minimatch_destroy(&d.match);
    minimatch_destroy(&e.match);
}

/* Desired flows. */

static void
test_add_flow_creates_live_flow_with_new_seqno(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *f, *g;

    f = add_flow(&fx->d, 1, 100, 7, 1, 1);
    assert_non_null(f);
    assert_int_equal(f->refcount, 1);
    assert_int_equal(f->cookie, 7);
    assert_int_equal(f->key.table_id, 1);
    assert_int_equal(f->key.priority, 100);
    assert_int_equal(f->seqno, fx->d.seqno);
    assert_int_equal(fx->d.n_live_flows, 1);

    g = add_flow(&fx->d, 1, 100, 7, 2, 1);
    assert_ptr_not_equal(f, g);
    assert_true(g->seqno > f->seqno);
    assert_int_equal(fx->d.n_live_flows, 2);
    assert_int_equal(fx->d.n_conflicts, 0);
}

static void
test_add_same_flow_twice_takes_a_reference_without_change(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *f;
    uint64_t seqno;

    f = add_flow(&fx->d, 1, 100, 7, 1, 1);
    seqno = fx->d.seqno;
    assert_ptr_equal(add_flow(&fx->d, 1, 100, 7, 1, 1), f);
    assert_int_equal(f->refcount, 2);
    assert_int_equal(fx->d.seqno, seqno);
    assert_int_equal(f->seqno, seqno);
    assert_int_equal(fx->d.n_live_flows, 1);
    assert_int_equal(count_flows(&fx->d), 1);

    /* One unref leaves it live and untouched. */
    cats_desired_unref_flow(&fx->d, f);
    assert_int_equal(f->refcount, 1);
    assert_int_equal(fx->d.seqno, seqno);
    assert_int_equal(fx->d.n_live_flows, 1);
}

static void
test_add_conflicting_flow_returns_null_and_counts(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *f;
    uint64_t seqno;

    f = add_flow(&fx->d, 1, 100, 7, 1, 1);
    seqno = fx->d.seqno;

    /* Same key, other actions. */
    assert_null(add_flow(&fx->d, 1, 100, 7, 1, 2));
    assert_int_equal(fx->d.n_conflicts, 1);
    /* Same key, same actions, other cookie. */
    assert_null(add_flow(&fx->d, 1, 100, 8, 1, 1));
    assert_int_equal(fx->d.n_conflicts, 2);

    /* The first one wins, untouched. */
    assert_int_equal(f->refcount, 1);
    assert_int_equal(f->cookie, 7);
    assert_int_equal(ofp_to_u16(ofpact_get_OUTPUT(f->ofpacts)->port), 1);
    assert_int_equal(fx->d.seqno, seqno);
    assert_int_equal(count_flows(&fx->d), 1);
}

static void
test_unref_to_zero_leaves_touched_tombstone(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *f;
    uint64_t seqno;

    f = add_flow(&fx->d, 1, 100, 7, 1, 1);
    add_flow(&fx->d, 1, 100, 7, 2, 1);
    seqno = fx->d.seqno;

    cats_desired_unref_flow(&fx->d, f);
    assert_int_equal(f->refcount, 0);
    assert_int_equal(fx->d.n_live_flows, 1);
    assert_int_equal(count_flows(&fx->d), 2);       /* Still there. */
    assert_int_equal(fx->d.seqno, seqno + 1);
    assert_int_equal(f->seqno, fx->d.seqno);
    /* Off the live list, newest on the tombstone list. */
    assert_int_equal(ovs_list_size(&fx->d.flow_seq), 1);
    assert_ptr_equal(CONTAINER_OF(ovs_list_back(&fx->d.dead_flows),
                                  struct cats_flow, seq_node), f);

    /* Unref of NULL (a conflicting add's result) is a no-op. */
    cats_desired_unref_flow(&fx->d, NULL);
    assert_int_equal(fx->d.seqno, seqno + 1);
}

static void
test_tombstone_is_revived_by_add_even_with_other_actions(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *f;
    uint64_t seqno;

    f = add_flow(&fx->d, 1, 100, 7, 1, 1);
    cats_desired_unref_flow(&fx->d, f);
    seqno = fx->d.seqno;

    /* Not a conflict: the tombstone takes the new cookie and actions. */
    assert_ptr_equal(add_flow(&fx->d, 1, 100, 9, 1, 5), f);
    assert_int_equal(fx->d.n_conflicts, 0);
    assert_int_equal(f->refcount, 1);
    assert_int_equal(f->cookie, 9);
    assert_int_equal(ofp_to_u16(ofpact_get_OUTPUT(f->ofpacts)->port), 5);
    assert_int_equal(f->seqno, seqno + 1);
    assert_int_equal(fx->d.n_live_flows, 1);

    /* Revived with the same actions: still a change (it was deleted). */
    cats_desired_unref_flow(&fx->d, f);
    seqno = fx->d.seqno;
    assert_ptr_equal(add_flow(&fx->d, 1, 100, 9, 1, 5), f);
    assert_int_equal(f->seqno, seqno + 1);
}

static void
test_gc_frees_only_tombstones_sent_everywhere(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *a, *b, *c;

    a = add_flow(&fx->d, 1, 100, 7, 1, 1);
    b = add_flow(&fx->d, 1, 100, 7, 2, 1);
    c = add_flow(&fx->d, 1, 100, 7, 3, 1);
    cats_desired_unref_flow(&fx->d, a);
    uint64_t a_gone = fx->d.seqno;
    cats_desired_unref_flow(&fx->d, c);
    assert_int_equal(count_flows(&fx->d), 3);

    /* Some switch has not been sent a's removal yet. */
    cats_desired_gc(&fx->d, a_gone - 1);
    assert_int_equal(count_flows(&fx->d), 3);

    /* Every switch has a's removal, not yet c's. */
    cats_desired_gc(&fx->d, a_gone);
    assert_int_equal(count_flows(&fx->d), 2);
    assert_int_equal(c->refcount, 0);

    /* Everything sent: c goes, live b stays. */
    cats_desired_gc(&fx->d, fx->d.seqno);
    assert_int_equal(count_flows(&fx->d), 1);
    assert_int_equal(b->refcount, 1);
    assert_int_equal(fx->d.n_live_flows, 1);
    assert_int_equal(ovs_list_size(&fx->d.flow_seq), 1);

    /* A freed key can be added again, as a new flow. */
    a = add_flow(&fx->d, 1, 100, 7, 1, 2);
    assert_non_null(a);
    assert_int_equal(count_flows(&fx->d), 2);
}

/* Desired groups. */

static void
test_set_group_touches_only_on_change(void **state)
{
    static const uint16_t w1[] = { 1, 255 }, w2[] = { 2, 254 };
    struct fixture *fx = *state;
    const struct cats_group *g;
    uint64_t seqno;

    set_group(&fx->d, 100, w1, 2, 1);
    g = cats_desired_find_group(&fx->d, 100);
    assert_non_null(g);
    assert_int_equal(g->group_id, 100);
    assert_int_equal(g->service_id, 100);
    assert_int_equal(g->n_buckets, 2);
    assert_int_equal(g->seqno, fx->d.seqno);
    assert_int_equal(fx->d.n_live_groups, 1);
    seqno = fx->d.seqno;

    /* Identical: nothing happens (and the new buckets are freed). */
    set_group(&fx->d, 100, w1, 2, 1);
    assert_int_equal(fx->d.seqno, seqno);
    assert_ptr_equal(cats_desired_find_group(&fx->d, 100), g);

    /* Other weights, other actions, other bucket count: changes. */
    set_group(&fx->d, 100, w2, 2, 1);
    assert_int_equal(fx->d.seqno, seqno + 1);
    set_group(&fx->d, 100, w2, 2, 3);
    assert_int_equal(fx->d.seqno, seqno + 2);
    set_group(&fx->d, 100, w2, 1, 3);
    assert_int_equal(fx->d.seqno, seqno + 3);
    assert_int_equal(g->seqno, fx->d.seqno);
    assert_int_equal(g->buckets[0].weight, 2);
    assert_int_equal(fx->d.n_live_groups, 1);

    assert_null(cats_desired_find_group(&fx->d, 101));
}

static void
test_remove_group_leaves_tombstone_until_gc(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    uint64_t seqno;

    set_group(&fx->d, 100, w, 2, 1);
    set_group(&fx->d, 200, w, 2, 1);
    cats_desired_remove_group(&fx->d, 100);
    seqno = fx->d.seqno;
    assert_null(cats_desired_find_group(&fx->d, 100));
    assert_int_equal(fx->d.n_live_groups, 1);
    assert_int_equal(hmap_count(&fx->d.groups), 2);

    /* Removing it again, or a group that never was, changes nothing. */
    cats_desired_remove_group(&fx->d, 100);
    cats_desired_remove_group(&fx->d, 300);
    assert_int_equal(fx->d.seqno, seqno);
    assert_int_equal(fx->d.n_live_groups, 1);

    cats_desired_gc(&fx->d, seqno - 1);
    assert_int_equal(hmap_count(&fx->d.groups), 2);
    cats_desired_gc(&fx->d, seqno);
    assert_int_equal(hmap_count(&fx->d.groups), 1);
    assert_non_null(cats_desired_find_group(&fx->d, 200));
}

static void
test_set_group_revives_removed_group_even_if_identical(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    uint64_t seqno;

    set_group(&fx->d, 100, w, 2, 1);
    cats_desired_remove_group(&fx->d, 100);
    seqno = fx->d.seqno;
    set_group(&fx->d, 100, w, 2, 1);
    assert_non_null(cats_desired_find_group(&fx->d, 100));
    assert_int_equal(fx->d.seqno, seqno + 1);
    assert_int_equal(fx->d.n_live_groups, 1);
}

/* Incremental diff. */

static void
test_diff_incremental_from_empty_adds_groups_then_flows(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;

    /* Flows first, groups later: the update still has groups first. */
    add_flow(&fx->d, 0, 100, 7, 1, 1);
    add_flow(&fx->d, 1, 50, 7, 2, 1);
    set_group(&fx->d, 100, w, 2, 1);

    diff(fx, 0);
    ASSERT_OPS(&fx->u, CATS_OP_GROUP_ADD, CATS_OP_FLOW_ADD, CATS_OP_FLOW_ADD);
    assert_false(fx->u.full);
    assert_int_equal(fx->u.seqno, fx->d.seqno);
    assert_int_equal(nth_op(&fx->u, 0)->group->group_id, 100);

    /* The ops own copies: the desired table may change under them. */
    const struct cats_op *op = nth_op(&fx->u, 1);
    assert_non_null(op->flow);
    assert_null(op->group);
    cats_desired_gc(&fx->d, fx->d.seqno);
}

static void
test_diff_incremental_mod_only_when_actions_or_cookie_change(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *a, *b, *c;
    uint64_t since;

    a = add_flow(&fx->d, 0, 100, 7, 1, 1);
    b = add_flow(&fx->d, 0, 100, 7, 2, 1);
    c = add_flow(&fx->d, 0, 100, 7, 3, 1);
    install_all(fx);
    since = fx->d.seqno;

    /* a: new actions.  b: new cookie.  c: removed and re-added as it
     * was (touched, but the switch already has it). */
    cats_desired_unref_flow(&fx->d, a);
    add_flow(&fx->d, 0, 100, 7, 1, 2);
    cats_desired_unref_flow(&fx->d, b);
    add_flow(&fx->d, 0, 100, 8, 2, 1);
    cats_desired_unref_flow(&fx->d, c);
    add_flow(&fx->d, 0, 100, 7, 3, 1);

    diff(fx, since);
    assert_int_equal(fx->u.n_ops, 2);

    /* Each op carries the desired version.  An actions change is a
     * modify; a cookie change may be a modify or an add (OpenFlow 1.1+
     * cannot change a cookie with a modify: see
     * test_encode_cookie_change_reaches_switch()). */
    bool saw_actions = false, saw_cookie = false;
    const struct cats_op *op;
    LIST_FOR_EACH (op, node, &fx->u.ops) {
        const struct cats_flow *f = op->flow;
        int port = ofp_to_u16(ofpact_get_OUTPUT(f->ofpacts)->port);

        if (f->cookie == 7 && port == 2) {
            assert_int_equal(op->type, CATS_OP_FLOW_MOD);
            saw_actions = true;
        } else if (f->cookie == 8 && port == 1) {
            assert_true(op->type == CATS_OP_FLOW_MOD
                        || op->type == CATS_OP_FLOW_ADD);
            saw_cookie = true;
        } else {
            fail_msg("unexpected op %s cookie %"PRIu64" output %d",
                     op_name(op->type), f->cookie, port);
        }
    }
    assert_true(saw_actions && saw_cookie);
}

static void
test_diff_incremental_deletes_only_what_switch_has(void **state)
{
    struct fixture *fx = *state;
    struct cats_flow *a, *b;
    uint64_t since;

    a = add_flow(&fx->d, 0, 100, 7, 1, 1);
    install_all(fx);
    since = fx->d.seqno;

    /* b never reached the switch: its removal needs no message. */
    b = add_flow(&fx->d, 0, 100, 7, 2, 1);
    cats_desired_unref_flow(&fx->d, b);
    cats_desired_unref_flow(&fx->d, a);

    diff(fx, since);
    ASSERT_OPS(&fx->u, CATS_OP_FLOW_DEL);
    /* The delete names the installed flow. */
    const struct cats_flow *f = nth_op(&fx->u, 0)->flow;
    struct match m;
    struct cats_flow_key key;
    make_match(&m, 1);
    cats_flow_key_init(&key, 0, 100, &m);
    assert_true(cats_flow_key_equal(&f->key, &key));
    minimatch_destroy(&key.match);
}

static void
test_diff_incremental_orders_groups_flows_deletes_group_deletes(void **state)
{
    static const uint16_t w1[] = { 1, 255 }, w2[] = { 1, 127, 128 };
    struct fixture *fx = *state;
    struct cats_flow *mod, *del;
    uint64_t since;

    set_group(&fx->d, 2, w1, 2, 1);         /* To modify. */
    set_group(&fx->d, 3, w1, 2, 1);         /* To delete. */
    mod = add_flow(&fx->d, 0, 100, 7, 2, 1);
    del = add_flow(&fx->d, 0, 100, 7, 3, 1);
    add_flow(&fx->d, 0, 100, 7, 4, 1);      /* Unchanged. */
    install_all(fx);
    since = fx->d.seqno;

    /* Changes made in the "wrong" order on purpose. */
    cats_desired_remove_group(&fx->d, 3);
    cats_desired_unref_flow(&fx->d, del);
    cats_desired_unref_flow(&fx->d, mod);
    add_flow(&fx->d, 0, 100, 7, 2, 9);
    add_flow(&fx->d, 0, 100, 7, 1, 1);
    set_group(&fx->d, 2, w2, 3, 1);
    set_group(&fx->d, 1, w1, 2, 1);

    diff(fx, since);
    ASSERT_OPS(&fx->u, CATS_OP_GROUP_ADD, CATS_OP_GROUP_MOD,
               CATS_OP_FLOW_ADD, CATS_OP_FLOW_MOD, CATS_OP_FLOW_DEL,
               CATS_OP_GROUP_DEL);
    assert_int_equal(nth_op(&fx->u, 0)->group->group_id, 1);
    assert_int_equal(nth_op(&fx->u, 1)->group->group_id, 2);
    assert_int_equal(nth_op(&fx->u, 1)->group->n_buckets, 3);
    assert_int_equal(nth_op(&fx->u, 5)->group->group_id, 3);
}

static void
test_diff_incremental_since_only_looks_at_newer_entries(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    uint64_t since;

    /* The installed table is empty, but everything up to 'since' counts as
     * sent: only what changed after it is in the update. */
    add_flow(&fx->d, 0, 100, 7, 1, 1);
    set_group(&fx->d, 1, w, 2, 1);
    since = fx->d.seqno;
    add_flow(&fx->d, 0, 100, 7, 2, 1);
    set_group(&fx->d, 2, w, 2, 1);

    diff(fx, since);
    ASSERT_OPS(&fx->u, CATS_OP_GROUP_ADD, CATS_OP_FLOW_ADD);
    assert_int_equal(nth_op(&fx->u, 0)->group->group_id, 2);

    /* Nothing newer: nothing to send. */
    diff(fx, fx->d.seqno);
    assert_int_equal(fx->u.n_ops, 0);
    assert_true(ovs_list_is_empty(&fx->u.ops));
}

static void
test_diff_incremental_group_tombstone_unknown_to_switch_is_skipped(
    void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;

    set_group(&fx->d, 1, w, 2, 1);
    cats_desired_remove_group(&fx->d, 1);
    diff(fx, 0);
    assert_int_equal(fx->u.n_ops, 0);
}

/* Full diff and apply. */

static void
test_diff_full_lists_every_live_group_and_flow(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    struct cats_flow *dead;

    add_flow(&fx->d, 0, 100, 7, 1, 1);
    dead = add_flow(&fx->d, 0, 100, 7, 2, 1);
    add_flow(&fx->d, 1, 0, 7, 3, 1);
    set_group(&fx->d, 1, w, 2, 1);
    set_group(&fx->d, 2, w, 2, 1);
    cats_desired_unref_flow(&fx->d, dead);
    cats_desired_remove_group(&fx->d, 2);

    cats_diff_full(&fx->d, &fx->u);
    assert_true(fx->u.full);
    assert_int_equal(fx->u.seqno, fx->d.seqno);
    ASSERT_OPS(&fx->u, CATS_OP_GROUP_ADD, CATS_OP_FLOW_ADD, CATS_OP_FLOW_ADD);
    assert_int_equal(nth_op(&fx->u, 0)->group->group_id, 1);
    /* Oldest change first: deterministic. */
    assert_true(nth_op(&fx->u, 1)->flow->seqno
                < nth_op(&fx->u, 2)->flow->seqno);
}

static void
test_installed_apply_makes_installed_equal_desired(void **state)
{
    static const uint16_t w1[] = { 1, 255 }, w2[] = { 3, 253 };
    struct fixture *fx = *state;
    struct cats_flow *a, *b;

    a = add_flow(&fx->d, 0, 100, 7, 1, 1);
    b = add_flow(&fx->d, 0, 100, 7, 2, 1);
    set_group(&fx->d, 1, w1, 2, 1);
    set_group(&fx->d, 2, w1, 2, 1);

    diff(fx, 0);
    cats_installed_apply(&fx->inst, &fx->u);
    assert_int_equal(hmap_count(&fx->inst.flows), 2);
    assert_int_equal(hmap_count(&fx->inst.groups), 2);
    diff(fx, 0);
    assert_int_equal(fx->u.n_ops, 0);

    /* Every kind of change, applied: nothing left to do. */
    uint64_t since = fx->d.seqno;
    cats_desired_unref_flow(&fx->d, a);
    cats_desired_unref_flow(&fx->d, b);
    add_flow(&fx->d, 0, 100, 7, 2, 5);
    add_flow(&fx->d, 0, 100, 7, 3, 1);
    set_group(&fx->d, 1, w2, 2, 1);
    cats_desired_remove_group(&fx->d, 2);
    set_group(&fx->d, 3, w1, 2, 1);
    diff(fx, since);
    assert_int_equal(fx->u.n_ops, 6);
    cats_installed_apply(&fx->inst, &fx->u);

    assert_int_equal(hmap_count(&fx->inst.flows), 2);
    assert_int_equal(hmap_count(&fx->inst.groups), 2);
    diff(fx, 0);
    assert_int_equal(fx->u.n_ops, 0);

    /* The formatted tables agree too. */
    struct ds want = DS_EMPTY_INITIALIZER, got = DS_EMPTY_INITIALIZER;
    cats_desired_format(&fx->d, &want);
    cats_installed_format(&fx->inst, &got);
    assert_string_equal(ds_cstr(&want), ds_cstr(&got));
    ds_destroy(&want);
    ds_destroy(&got);
}

static void
test_installed_apply_full_replaces_everything(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    struct cats_desired other;

    /* The switch has things we no longer want (say, from before a
     * restart). */
    cats_desired_init(&other);
    add_flow(&other, 0, 100, 7, 9, 1);
    cats_desired_set_group(&other, 9, 9, make_buckets(w, 2, 1), 2);
    cats_diff_full(&other, &fx->u);
    cats_installed_apply(&fx->inst, &fx->u);
    cats_desired_destroy(&other);

    add_flow(&fx->d, 0, 100, 7, 1, 1);
    set_group(&fx->d, 1, w, 2, 1);
    install_all(fx);
    assert_int_equal(hmap_count(&fx->inst.flows), 1);
    assert_int_equal(hmap_count(&fx->inst.groups), 1);
    diff(fx, 0);
    assert_int_equal(fx->u.n_ops, 0);
}

/* Encoding. */

/* Decodes every message in 'msgs' into the caller's arrays.  Returns the
 * number of messages. */
struct decoded {
    enum ofptype type;
    enum ofperr error;
    struct ofputil_flow_mod fm;
    struct ofpbuf fm_ofpacts;
    struct ofputil_group_mod gm;
};

static size_t
decode_all(struct ovs_list *msgs, struct decoded *out, size_t max)
{
    struct ofpbuf *msg;
    size_t n = 0;

    LIST_FOR_EACH (msg, list_node, msgs) {
        const struct ofp_header *oh = msg->data;
        struct decoded *d = &out[n++];

        assert_true(n <= max);
        memset(d, 0, sizeof *d);
        assert_int_equal(oh->version, OFP15_VERSION);
        assert_int_equal(ntohs(oh->length), msg->size);
        assert_int_equal(ofptype_decode(&d->type, oh), 0);
        if (d->type == OFPTYPE_FLOW_MOD) {
            ofpbuf_init(&d->fm_ofpacts, 0);
            d->error = ofputil_decode_flow_mod(&d->fm, oh, PROTOCOL, NULL,
                                               NULL, &d->fm_ofpacts,
                                               OFPP_MAX, 255);
        } else if (d->type == OFPTYPE_GROUP_MOD) {
            d->error = ofputil_decode_group_mod(oh, &d->gm);
        } else {
            fail_msg("message %"PRIuSIZE": unexpected type %d", n, d->type);
        }
    }
    return n;
}

static void
decoded_destroy(struct decoded *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i].type == OFPTYPE_FLOW_MOD) {
            if (!d[i].error) {
                minimatch_destroy(&d[i].fm.match);
            }
            ofpbuf_uninit(&d[i].fm_ofpacts);
        } else if (d[i].type == OFPTYPE_GROUP_MOD && !d[i].error) {
            ofputil_uninit_group_mod(&d[i].gm);
        }
    }
}

static void
assert_decoded_ok(const struct decoded *d, size_t i)
{
    if (d->error) {
        fail_msg("message %"PRIuSIZE" (%s) does not decode: %s", i,
                 d->type == OFPTYPE_GROUP_MOD ? "group mod" : "flow mod",
                 ofperr_to_string(d->error));
    }
}

/* Is decoded match 'wire' the one that 'sent' was encoded from?  OVS's
 * decoder adds the default packet type (Ethernet), which the encoder leaves
 * implicit. */
static bool
match_equal_on_the_wire(const struct minimatch *wire,
                        const struct minimatch *sent)
{
    struct match a, b;

    minimatch_expand(wire, &a);
    minimatch_expand(sent, &b);
    if (!b.wc.masks.packet_type) {
        match_set_default_packet_type(&b);
    }
    return match_equal(&a, &b);
}

/* Fails unless 'd' is a flow mod 'command' for 'f' (with its actions unless
 * it is a delete). */
static void
assert_flow_mod(const struct decoded *d, size_t i, uint16_t command,
                const struct cats_flow *f)
{
    assert_decoded_ok(d, i);
    assert_int_equal(d->type, OFPTYPE_FLOW_MOD);
    assert_int_equal(d->fm.command, command);
    assert_int_equal(d->fm.table_id, f->key.table_id);
    assert_int_equal(d->fm.priority, f->key.priority);
    assert_true(match_equal_on_the_wire(&d->fm.match, &f->key.match));
    if (command == OFPFC_DELETE_STRICT) {
        assert_int_equal(d->fm_ofpacts.size, 0);
    } else {
        assert_true(ofpacts_equal_stringwise(d->fm.ofpacts,
                                             d->fm.ofpacts_len,
                                             f->ofpacts, f->ofpacts_len));
    }
    if (command == OFPFC_ADD) {
        assert_true(d->fm.new_cookie == htonll(f->cookie));
    }
}

/* Fails unless 'd' is a select group mod 'command' for 'g'. */
static void
assert_group_mod(const struct decoded *d, size_t i, uint16_t command,
                 const struct cats_group *g)
{
    const struct ofputil_bucket *b;
    size_t k = 0;

    assert_decoded_ok(d, i);
    assert_int_equal(d->type, OFPTYPE_GROUP_MOD);
    assert_int_equal(d->gm.command, command);
    assert_int_equal(d->gm.group_id, g->group_id);
    if (command == OFPGC11_DELETE) {
        assert_true(ovs_list_is_empty(&d->gm.buckets));
        return;
    }
    assert_int_equal(d->gm.type, OFPGT11_SELECT);
    assert_string_equal(d->gm.props.selection_method, "dp_hash");
    assert_int_equal(ovs_list_size(&d->gm.buckets), g->n_buckets);
    LIST_FOR_EACH (b, list_node, &d->gm.buckets) {
        assert_int_equal(b->weight, g->buckets[k].weight);
        assert_int_equal(b->bucket_id, k);
        assert_true(ofpacts_equal_stringwise(b->ofpacts, b->ofpacts_len,
                                             g->buckets[k].ofpacts,
                                             g->buckets[k].ofpacts_len));
        k++;
    }
}

static void
test_encode_incremental_adds_and_mods_decode(void **state)
{
    static const uint16_t w1[] = { 1, 255 }, w2[] = { 1, 100, 155 };
    struct fixture *fx = *state;
    struct ovs_list msgs = OVS_LIST_INITIALIZER(&msgs);
    struct decoded dec[16];
    struct cats_flow *mod, *del;
    uint64_t since;

    set_group(&fx->d, 2, w1, 2, 1);
    mod = add_flow(&fx->d, 0, 100, COOKIE | 2, 2, 1);
    del = add_flow(&fx->d, 1, 50, COOKIE | 3, 3, 1);
    install_all(fx);
    since = fx->d.seqno;

    set_group(&fx->d, 1, w1, 2, 4);
    set_group(&fx->d, 2, w2, 3, 1);
    add_flow(&fx->d, 2, 90, COOKIE | 1, 1, 3);
    cats_desired_unref_flow(&fx->d, mod);
    add_flow(&fx->d, 0, 100, COOKIE | 2, 2, 7);
    cats_desired_unref_flow(&fx->d, del);

    diff(fx, since);
    ASSERT_OPS(&fx->u, CATS_OP_GROUP_ADD, CATS_OP_GROUP_MOD,
               CATS_OP_FLOW_ADD, CATS_OP_FLOW_MOD, CATS_OP_FLOW_DEL);
    cats_update_encode(&fx->u, PROTOCOL, COOKIE, COOKIE_MASK, NULL, 0,
                       &msgs);
    assert_int_equal(ovs_list_size(&msgs), 5);

    size_t n = decode_all(&msgs, dec, ARRAY_SIZE(dec));
    assert_group_mod(&dec[0], 0, OFPGC11_ADD, nth_op(&fx->u, 0)->group);
    assert_group_mod(&dec[1], 1, OFPGC11_MODIFY, nth_op(&fx->u, 1)->group);
    assert_flow_mod(&dec[2], 2, OFPFC_ADD, nth_op(&fx->u, 2)->flow);
    assert_flow_mod(&dec[3], 3, OFPFC_MODIFY_STRICT,
                    nth_op(&fx->u, 3)->flow);
    assert_flow_mod(&dec[4], 4, OFPFC_DELETE_STRICT,
                    nth_op(&fx->u, 4)->flow);
    /* Strict deletes must not be limited by port, group or cookie. */
    assert_int_equal(dec[4].fm.out_port, OFPP_ANY);
    assert_int_equal(dec[4].fm.out_group, OFPG_ANY);
    assert_true(dec[4].fm.cookie_mask == htonll(0));

    decoded_destroy(dec, n);
    ofpbuf_list_delete(&msgs);
}

/* ovs-vswitchd accepts our group deletes.  Bug: encode_group() sets the
 * "dp_hash" selection method on every group mod, deletes included, and
 * OVS refuses an NTR selection method property on a delete
 * (OFPBPC_BAD_VALUE), so removed services' groups are never deleted. */
static void
test_encode_group_delete_decodes(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    struct ovs_list msgs = OVS_LIST_INITIALIZER(&msgs);
    struct decoded dec[4];
    uint64_t since;

    set_group(&fx->d, 3, w, 2, 1);
    install_all(fx);
    since = fx->d.seqno;
    cats_desired_remove_group(&fx->d, 3);

    diff(fx, since);
    ASSERT_OPS(&fx->u, CATS_OP_GROUP_DEL);
    cats_update_encode(&fx->u, PROTOCOL, COOKIE, COOKIE_MASK, NULL, 0,
                       &msgs);
    size_t n = decode_all(&msgs, dec, ARRAY_SIZE(dec));
    assert_int_equal(n, 1);
    assert_group_mod(&dec[0], 0, OFPGC11_DELETE, nth_op(&fx->u, 0)->group);

    decoded_destroy(dec, n);
    ofpbuf_list_delete(&msgs);
}

/* A flow whose cookie changes (its VIP:port went to another service) must
 * end up with the new cookie on the switch.  Bug: the change is sent as
 * OFPFC_MODIFY_STRICT, and from OpenFlow 1.1 on a modify cannot set the
 * cookie (OVS decodes it with new_cookie = UINT64_MAX), so the switch
 * keeps the old cookie while the installed table records the new one.
 * OVN's ofctrl sends OFPFC_ADD in this case. */
static void
test_encode_cookie_change_reaches_switch(void **state)
{
    struct fixture *fx = *state;
    struct ovs_list msgs = OVS_LIST_INITIALIZER(&msgs);
    struct decoded dec[4];
    struct cats_flow *f;
    uint64_t since;

    f = add_flow(&fx->d, 0, 100, COOKIE | 1, 1, 1);
    install_all(fx);
    since = fx->d.seqno;
    cats_desired_unref_flow(&fx->d, f);
    add_flow(&fx->d, 0, 100, COOKIE | 2, 1, 1);

    diff(fx, since);
    assert_int_equal(fx->u.n_ops, 1);
    cats_update_encode(&fx->u, PROTOCOL, COOKIE, COOKIE_MASK, NULL, 0,
                       &msgs);
    size_t n = decode_all(&msgs, dec, ARRAY_SIZE(dec));
    assert_int_equal(n, 1);
    assert_decoded_ok(&dec[0], 0);

    const struct ofputil_flow_mod *fm = &dec[0].fm;
    bool sets_cookie = (fm->command == OFPFC_ADD
                        || ((fm->command == OFPFC_MODIFY
                             || fm->command == OFPFC_MODIFY_STRICT)
                            && fm->modify_cookie));
    if (!sets_cookie || fm->new_cookie != htonll(COOKIE | 2)) {
        fail_msg("flow mod command %d, modify_cookie %d, new_cookie "
                 "%#"PRIx64": the switch keeps cookie %#llx",
                 fm->command, fm->modify_cookie, ntohll(fm->new_cookie),
                 COOKIE | 1);
    }
    decoded_destroy(dec, n);
    ofpbuf_list_delete(&msgs);
}

static void
test_encode_full_starts_with_cookie_masked_delete_then_add_or_mod(
    void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    struct ovs_list msgs = OVS_LIST_INITIALIZER(&msgs);
    struct decoded dec[8];

    set_group(&fx->d, 1, w, 2, 1);
    add_flow(&fx->d, 0, 100, COOKIE | 1, 1, 1);
    add_flow(&fx->d, 1, 0, COOKIE, 2, 1);
    cats_diff_full(&fx->d, &fx->u);
    cats_update_encode(&fx->u, PROTOCOL, COOKIE, COOKIE_MASK, NULL, 0,
                       &msgs);
    size_t n = decode_all(&msgs, dec, ARRAY_SIZE(dec));
    assert_int_equal(n, 4);

    /* Every flow of ours, in every table, whatever its match. */
    assert_decoded_ok(&dec[0], 0);
    assert_int_equal(dec[0].type, OFPTYPE_FLOW_MOD);
    assert_int_equal(dec[0].fm.command, OFPFC_DELETE);
    assert_int_equal(dec[0].fm.table_id, OFPTT_ALL);
    assert_true(dec[0].fm.cookie == htonll(COOKIE));
    assert_true(dec[0].fm.cookie_mask == htonll(COOKIE_MASK));
    assert_int_equal(dec[0].fm.out_port, OFPP_ANY);
    assert_int_equal(dec[0].fm.out_group, OFPG_ANY);
    struct match all;
    minimatch_expand(&dec[0].fm.match, &all);
    assert_true(flow_wildcards_is_catchall(&all.wc));

    /* Groups replaced in place, then flows added. */
    assert_group_mod(&dec[1], 1, OFPGC11_ADD_OR_MOD,
                     nth_op(&fx->u, 0)->group);
    assert_flow_mod(&dec[2], 2, OFPFC_ADD, nth_op(&fx->u, 1)->flow);
    assert_flow_mod(&dec[3], 3, OFPFC_ADD, nth_op(&fx->u, 2)->flow);

    decoded_destroy(dec, n);
    ofpbuf_list_delete(&msgs);
}

static void
emit_to_test_list(struct ofpbuf *msg, void *list_)
{
    struct ovs_list *list = list_;

    ovs_list_push_back(list, &msg->list_node);
}

/* The one-pass resync that ofctrl uses must send exactly what
 * cats_diff_full() + cats_update_encode() would, and record the same ops. */
static void
test_diff_full_encode_equals_diff_then_encode(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    static const uint32_t stale[] = { 0xca750007 };
    struct fixture *fx = *state;
    struct ovs_list a = OVS_LIST_INITIALIZER(&a);
    struct ovs_list b = OVS_LIST_INITIALIZER(&b);
    struct cats_update u2;
    struct ofpbuf *ma, *mb;

    set_group(&fx->d, 1, w, 2, 1);
    set_group(&fx->d, 2, w, 2, 2);
    add_flow(&fx->d, 0, 100, COOKIE | 1, 1, 1);
    add_flow(&fx->d, 1, 0, COOKIE, 2, 1);
    add_flow(&fx->d, 2, 7, COOKIE | 2, 3, 2);

    cats_diff_full(&fx->d, &fx->u);
    cats_update_encode(&fx->u, PROTOCOL, COOKIE, COOKIE_MASK, stale,
                       ARRAY_SIZE(stale), &a);
    cats_update_init(&u2);
    cats_diff_full_encode(&fx->d, &u2, PROTOCOL, COOKIE, COOKIE_MASK, stale,
                          ARRAY_SIZE(stale), emit_to_test_list, &b);

    assert_true(u2.full);
    assert_int_equal(u2.seqno, fx->u.seqno);
    assert_int_equal(u2.n_ops, fx->u.n_ops);
    assert_int_equal(ovs_list_size(&a), ovs_list_size(&b));
    ma = CONTAINER_OF(ovs_list_front(&a), struct ofpbuf, list_node);
    mb = CONTAINER_OF(ovs_list_front(&b), struct ofpbuf, list_node);
    for (size_t i = 0; i < ovs_list_size(&a); i++) {
        struct ofp_header *ha = ma->data, *hb = mb->data;

        /* Same bytes, but for the transaction ids. */
        ha->xid = hb->xid = 0;
        assert_int_equal(ma->size, mb->size);
        assert_memory_equal(ma->data, mb->data, ma->size);
        ma = CONTAINER_OF(ma->list_node.next, struct ofpbuf, list_node);
        mb = CONTAINER_OF(mb->list_node.next, struct ofpbuf, list_node);
    }

    /* And the same ops, in the same order, for cats_installed_apply(). */
    const struct cats_op *oa, *ob = CONTAINER_OF(ovs_list_front(&u2.ops),
                                                  struct cats_op, node);
    LIST_FOR_EACH (oa, node, &fx->u.ops) {
        assert_int_equal(oa->type, ob->type);
        if (oa->flow) {
            assert_true(cats_flow_key_equal(&oa->flow->key, &ob->flow->key));
        } else {
            assert_int_equal(oa->group->group_id, ob->group->group_id);
        }
        ob = CONTAINER_OF(ob->node.next, struct cats_op, node);
    }

    cats_update_destroy(&u2);
    ofpbuf_list_delete(&a);
    ofpbuf_list_delete(&b);
}

/* Same bug as test_encode_group_delete_decodes(), on the resync path. */
static void
test_encode_full_deletes_stale_groups(void **state)
{
    static const uint32_t stale[] = { 0xca750007, 0xca750009 };
    struct fixture *fx = *state;
    struct ovs_list msgs = OVS_LIST_INITIALIZER(&msgs);
    struct decoded dec[8];

    cats_diff_full(&fx->d, &fx->u);
    cats_update_encode(&fx->u, PROTOCOL, COOKIE, COOKIE_MASK, stale,
                       ARRAY_SIZE(stale), &msgs);
    size_t n = decode_all(&msgs, dec, ARRAY_SIZE(dec));
    assert_int_equal(n, 3);
    assert_int_equal(dec[0].fm.command, OFPFC_DELETE);
    for (size_t i = 0; i < ARRAY_SIZE(stale); i++) {
        struct cats_group g = { .group_id = stale[i] };

        assert_group_mod(&dec[i + 1], i + 1, OFPGC11_DELETE, &g);
    }
    decoded_destroy(dec, n);
    ofpbuf_list_delete(&msgs);
}

static void
test_encode_empty_incremental_update_sends_nothing(void **state)
{
    struct fixture *fx = *state;
    struct ovs_list msgs = OVS_LIST_INITIALIZER(&msgs);

    diff(fx, 0);
    cats_update_encode(&fx->u, PROTOCOL, COOKIE, COOKIE_MASK, NULL, 0,
                       &msgs);
    assert_true(ovs_list_is_empty(&msgs));
}

/* Formatting. */

static void
test_desired_format_is_sorted_and_skips_tombstones(void **state)
{
    static const uint16_t w[] = { 1, 255 };
    struct fixture *fx = *state;
    struct ds s = DS_EMPTY_INITIALIZER;

    add_flow(&fx->d, 1, 0, 1, 2, 1);
    add_flow(&fx->d, 0, 50, 1, 3, 1);
    add_flow(&fx->d, 0, 100, 1, 4, 2);
    add_flow(&fx->d, 0, 100, 1, 1, 2);
    cats_desired_unref_flow(&fx->d, add_flow(&fx->d, 0, 100, 1, 9, 1));
    set_group(&fx->d, 5, w, 2, 1);
    set_group(&fx->d, 4, w, 2, 1);
    cats_desired_remove_group(&fx->d, 5);

    cats_desired_format(&fx->d, &s);
    assert_string_equal(
        ds_cstr(&s),
        "cookie=0x1, table=0, priority=100,ip,nw_dst=10.0.0.1 "
        "actions=output:2\n"
        "cookie=0x1, table=0, priority=100,ip,nw_dst=10.0.0.4 "
        "actions=output:2\n"
        "cookie=0x1, table=0, priority=50,ip,nw_dst=10.0.0.3 "
        "actions=output:1\n"
        "cookie=0x1, table=1, priority=0,ip,nw_dst=10.0.0.2 "
        "actions=output:1\n"
        "group_id=4,type=select,selection_method=dp_hash,"
        "bucket=bucket_id:0,weight:1,actions=output:1,"
        "bucket=bucket_id:1,weight:255,actions=output:2\n");
    ds_destroy(&s);
}

#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_flow_key_equal_needs_same_table_priority_and_match),
        T(test_add_flow_creates_live_flow_with_new_seqno),
        T(test_add_same_flow_twice_takes_a_reference_without_change),
        T(test_add_conflicting_flow_returns_null_and_counts),
        T(test_unref_to_zero_leaves_touched_tombstone),
        T(test_tombstone_is_revived_by_add_even_with_other_actions),
        T(test_gc_frees_only_tombstones_sent_everywhere),
        T(test_set_group_touches_only_on_change),
        T(test_remove_group_leaves_tombstone_until_gc),
        T(test_set_group_revives_removed_group_even_if_identical),
        T(test_diff_incremental_from_empty_adds_groups_then_flows),
        T(test_diff_incremental_mod_only_when_actions_or_cookie_change),
        T(test_diff_incremental_deletes_only_what_switch_has),
        T(test_diff_incremental_orders_groups_flows_deletes_group_deletes),
        T(test_diff_incremental_since_only_looks_at_newer_entries),
        T(test_diff_incremental_group_tombstone_unknown_to_switch_is_skipped),
        T(test_diff_full_lists_every_live_group_and_flow),
        T(test_installed_apply_makes_installed_equal_desired),
        T(test_installed_apply_full_replaces_everything),
        T(test_encode_incremental_adds_and_mods_decode),
        T(test_encode_group_delete_decodes),
        T(test_encode_cookie_change_reaches_switch),
        T(test_encode_full_starts_with_cookie_masked_delete_then_add_or_mod),
        T(test_encode_full_deletes_stale_groups),
        T(test_diff_full_encode_equals_diff_then_encode),
        T(test_encode_empty_incremental_update_sends_nothing),
        T(test_desired_format_is_sorted_and_skips_tombstones),
    };

    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
    return cmocka_run_group_tests_name("flow-table", tests, NULL, NULL);
}

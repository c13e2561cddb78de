/*
 * Unit tests for the metrics store (include/cats/metrics.h): registration,
 * leases, smoothing, scores, weights, and the errors that must change
 * nothing.  Time is passed in, so every expiry is exact.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cats/metrics.h"
#include "cats/report.h"
#include "packets.h"
#include "util.h"

#define MAX_ENTRIES 8
#define LEASE 3000
#define TAU 2000

/* Default configuration but for an explicit lease and time constant, so
 * that the tests do not move when the defaults do. */
static void
test_config(struct cats_metrics_config *cfg)
{
    cats_metrics_config_init(cfg);
    cfg->lease_ms = LEASE;
    cfg->report_interval_ms = 1000;
    cfg->tau_ms = TAU;
    cfg->latency_ref_ms = 100;
    cfg->max_report_rate = 1000;
}

static int
setup(void **state)
{
    struct cats_metrics_store *store = xmalloc(sizeof *store);
    struct cats_metrics_config cfg;

    test_config(&cfg);
    cats_metrics_init(store, &cfg);
    *state = store;
    return 0;
}

static int
teardown(void **state)
{
    struct cats_metrics_store *store = *state;

    cats_metrics_destroy(store);
    free(store);
    return 0;
}

static ovs_be32
host(int n)
{
    return htonl(0x0a000000 + n);       /* 10.0.0.n */
}

/* Messages, as cats_report_decode_*() would produce them. */

struct reg {
    struct cats_report_registration r;
    struct cats_report_spec specs[MAX_ENTRIES];
};

/* Node 'node_id' with 'n' instances of "web" at 10.0.0.'first'...:80,
 * capacity 4. */
static struct cats_report_registration *
make_reg(struct reg *reg, const char *node_id, size_t n, int first)
{
    assert_true(n <= MAX_ENTRIES);
    memset(reg, 0, sizeof *reg);
    ovs_strlcpy(reg->r.node_id, node_id, sizeof reg->r.node_id);
    ovs_strlcpy(reg->r.agent, "test", sizeof reg->r.agent);
    reg->r.n_instances = n;
    reg->r.instances = reg->specs;
    for (size_t i = 0; i < n; i++) {
        ovs_strlcpy(reg->specs[i].key.service, "web",
                    sizeof reg->specs[i].key.service);
        reg->specs[i].key.ip = host(first + i);
        reg->specs[i].key.port = 80;
        reg->specs[i].capacity = 4;
    }
    return &reg->r;
}

struct load {
    struct cats_report_load l;
    struct cats_report_instance insts[MAX_ENTRIES];
};

/* A report from 'node_id' on 'n' instances as in make_reg(), serving, no
 * metrics yet. */
static struct cats_report_load *
make_load(struct load *load, const char *node_id, uint64_t session,
          uint64_t seq, size_t n, int first)
{
    assert_true(n <= MAX_ENTRIES);
    memset(load, 0, sizeof *load);
    ovs_strlcpy(load->l.node_id, node_id, sizeof load->l.node_id);
    load->l.session = session;
    load->l.seq = seq;
    load->l.n_instances = n;
    load->l.instances = load->insts;
    for (size_t i = 0; i < n; i++) {
        ovs_strlcpy(load->insts[i].key.service, "web",
                    sizeof load->insts[i].key.service);
        load->insts[i].key.ip = host(first + i);
        load->insts[i].key.port = 80;
        load->insts[i].health = CATS_HEALTH_SERVING;
    }
    return &load->l;
}

static void
set_metric(struct cats_metric_values *v, enum cats_metric m, double x)
{
    v->present |= 1u << m;
    v->value[m] = x;
}

static void
register_ok(struct cats_metrics_store *store,
            const struct cats_report_registration *reg, uint64_t session,
            long long now)
{
    char *error;
    int retval = cats_metrics_register(store, reg, session, now, &error);

    if (retval) {
        fail_msg("registration of %s: unexpected error %d: %s",
                 reg->node_id, retval, error);
    }
    assert_null(error);
}

static void
report_ok(struct cats_metrics_store *store,
          const struct cats_report_load *load, long long now)
{
    const struct cats_metrics_node *node;
    char *error;
    int retval = cats_metrics_report(store, load, now, &node, &error);

    if (retval) {
        fail_msg("report from %s seq %"PRIu64": unexpected error %d: %s",
                 load->node_id, load->seq, retval, error);
    }
    assert_null(error);
    assert_ptr_equal(node, cats_metrics_find_node(store, load->node_id));
    assert_int_equal(node->last_seq, load->seq);
}

/* Checks that 'retval' and 'error' are 'code' and 'expected'. */
static void
check_error(int retval, char *error, int code, const char *expected)
{
    if (!retval) {
        fail_msg("expected \"%s\", got success", expected);
    }
    if (strcmp(error, expected)) {
        fail_msg("\n  expected \"%s\"\n  got      \"%s\"", expected, error);
    }
    assert_int_equal(retval, code);
    free(error);
}

static void
report_error(struct cats_metrics_store *store,
             const struct cats_report_load *load, long long now, int code,
             const char *expected)
{
    uint64_t seqno = store->seqno, rejected = store->n_rejected;
    uint64_t accepted = store->n_reports;
    const struct cats_metrics_node *node;
    char *error;
    int retval;

    retval = cats_metrics_report(store, load, now, &node, &error);
    check_error(retval, error, code, expected);
    /* The node, if registered, even when its report is refused. */
    assert_ptr_equal(node, cats_metrics_find_node(store, load->node_id));
    assert_int_equal(store->seqno, seqno);
    assert_int_equal(store->n_reports, accepted);
    assert_int_equal(store->n_rejected, rejected + 1);
}

static void
register_error(struct cats_metrics_store *store,
               const struct cats_report_registration *reg, uint64_t session,
               long long now, int code, const char *expected)
{
    uint64_t seqno = store->seqno, rejected = store->n_rejected;
    uint64_t registrations = store->n_registrations;
    char *error;
    int retval;

    retval = cats_metrics_register(store, reg, session, now, &error);
    check_error(retval, error, code, expected);
    assert_int_equal(store->seqno, seqno);
    assert_int_equal(store->n_registrations, registrations);
    assert_int_equal(store->n_rejected, rejected + 1);
}

static struct cats_metrics_instance *
find(const struct cats_metrics_store *store, int n)
{
    return cats_metrics_find(store, "web", host(n), 80);
}

/* The store's internal bookkeeping agrees with itself. */
static void
check_invariants(const struct cats_metrics_store *store)
{
    const struct cats_metrics_node *node;
    size_t total = 0;

    HMAP_FOR_EACH (node, node, &store->nodes) {
        const struct cats_metrics_instance *inst;
        size_t n = 0;

        assert_ptr_equal(cats_metrics_find_node(store, node->id), node);
        LIST_FOR_EACH (inst, owner_node, &node->instances) {
            assert_ptr_equal(inst->owner, node);
            assert_ptr_equal(cats_metrics_find(store, inst->key.service,
                                               inst->key.ip, inst->key.port),
                             inst);
            n++;
        }
        assert_int_equal(n, node->n_instances);
        total += n;
    }
    assert_int_equal(total, hmap_count(&store->instances));

    /* The lease list: earliest end first; every instance not in it has
     * been recorded as expired. */
    const struct cats_metrics_instance *inst, *prev = NULL;
    size_t n_leases = 0;

    LIST_FOR_EACH (inst, lease_node, &store->leases) {
        assert_ptr_equal(cats_metrics_find(store, inst->key.service,
                                           inst->key.ip, inst->key.port),
                         inst);
        assert_true(!prev || prev->lease_expires <= inst->lease_expires);
        prev = inst;
        n_leases++;
    }
    HMAP_FOR_EACH (inst, node, &store->instances) {
        if (ovs_list_is_empty(&inst->lease_node)) {
            assert_int_equal(inst->state, CATS_METRICS_EXPIRED);
        } else {
            n_leases--;
        }
    }
    assert_int_equal(n_leases, 0);
    if (!store->cfg.forget_ms) {
        assert_int_equal(cats_metrics_next_wake(store),
                         ovs_list_is_empty(&store->leases) ? LLONG_MAX
                         : CONTAINER_OF(ovs_list_front(&store->leases),
                                        struct cats_metrics_instance,
                                        lease_node)->lease_expires);
    }

    /* The nodes, least recently heard from first, all of them. */
    const struct cats_metrics_node *prev_node = NULL;
    size_t n_alive = 0;

    LIST_FOR_EACH (node, alive_node, &store->alive) {
        assert_true(!prev_node || prev_node->last_alive <= node->last_alive);
        prev_node = node;
        n_alive++;
    }
    assert_int_equal(n_alive, hmap_count(&store->nodes));
}

/* Registration and leases. */

static void
test_register_creates_selectable_instances(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct cats_metrics_node *node;
    uint64_t seqno = store->seqno;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 2, 11), 77, 1000);
    check_invariants(store);
    assert_true(store->seqno > seqno);
    assert_int_equal(store->n_registrations, 1);

    node = cats_metrics_find_node(store, "node-1");
    assert_non_null(node);
    assert_int_equal(node->session, 77);
    assert_int_equal(node->last_seq, 0);
    assert_int_equal(node->n_instances, 2);
    assert_string_equal(node->agent, "test");
    assert_null(cats_metrics_find_node(store, "node-2"));

    inst = find(store, 11);
    assert_non_null(inst);
    assert_ptr_equal(inst->owner, node);
    assert_int_equal(inst->capacity, 4);
    assert_int_equal(inst->state, CATS_METRICS_ACTIVE);
    assert_int_equal(inst->lease_expires, 1000 + LEASE);
    assert_true(cats_metrics_is_selectable(inst, 1000));
    assert_int_equal(cats_metrics_lease_remaining(inst, 1000), LEASE);
    assert_false(inst->scores.has_l2);
    assert_non_null(find(store, 12));
    assert_null(find(store, 13));
    assert_null(cats_metrics_find(store, "llm", host(11), 80));
    assert_null(cats_metrics_find(store, "web", host(11), 81));

    /* No load known yet: the configured weight stands. */
    assert_int_equal(cats_metrics_weight(inst, 100, 1000), 100);
}

static void
test_lease_ends_at_once_even_before_run(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    inst = find(store, 11);

    assert_true(cats_metrics_is_selectable(inst, LEASE - 1));
    assert_int_equal(cats_metrics_lease_remaining(inst, LEASE - 1), 1);
    assert_false(cats_metrics_is_selectable(inst, LEASE));
    assert_int_equal(cats_metrics_state(inst, LEASE), CATS_METRICS_EXPIRED);
    assert_int_equal(cats_metrics_lease_remaining(inst, LEASE), 0);
    assert_int_equal(cats_metrics_weight(inst, 100, LEASE), 0);
    assert_int_equal(cats_metrics_lease_remaining(inst, LEASE + 5000), 0);

    /* run() has not run: the recorded state is still the old one, but
     * nobody can select the instance. */
    assert_int_equal(inst->state, CATS_METRICS_ACTIVE);
}

static void
test_run_records_expiries_when_due(void **state)
{
    struct cats_metrics_store *store = *state;
    struct reg reg1, reg2;
    uint64_t seqno;

    assert_int_equal(cats_metrics_next_wake(store), LLONG_MAX);
    register_ok(store, make_reg(&reg1, "node-1", 1, 11), 1, 0);
    register_ok(store, make_reg(&reg2, "node-2", 1, 12), 2, 500);
    assert_int_equal(cats_metrics_next_wake(store), LEASE);

    /* Not due: nothing changes. */
    seqno = store->seqno;
    cats_metrics_run(store, LEASE - 1);
    assert_int_equal(store->seqno, seqno);
    assert_int_equal(find(store, 11)->state, CATS_METRICS_ACTIVE);

    cats_metrics_run(store, LEASE);
    assert_int_equal(find(store, 11)->state, CATS_METRICS_EXPIRED);
    assert_int_equal(find(store, 12)->state, CATS_METRICS_ACTIVE);
    assert_int_equal(store->n_expirations, 1);
    assert_true(store->seqno > seqno);
    assert_int_equal(cats_metrics_next_wake(store), 500 + LEASE);

    /* Expired once, counted once. */
    seqno = store->seqno;
    cats_metrics_run(store, 500 + LEASE);
    assert_int_equal(find(store, 12)->state, CATS_METRICS_EXPIRED);
    assert_int_equal(store->n_expirations, 2);
    assert_int_equal(cats_metrics_next_wake(store), LLONG_MAX);
    cats_metrics_run(store, 100000);
    assert_int_equal(store->n_expirations, 2);
    assert_int_equal(store->seqno, seqno + 1);
    check_invariants(store);
}

static void
test_report_renews_lease_and_resumes_after_expiry(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    inst = find(store, 11);

    report_ok(store, make_load(&load, "node-1", 1, 1, 1, 11), 2000);
    assert_int_equal(inst->lease_expires, 2000 + LEASE);
    assert_true(cats_metrics_is_selectable(inst, 2000 + LEASE - 1));
    assert_int_equal(inst->n_reports, 1);
    assert_int_equal(cats_metrics_find_node(store, "node-1")->last_seq, 1);

    /* Silent past the lease. */
    cats_metrics_run(store, 2000 + LEASE);
    assert_int_equal(inst->state, CATS_METRICS_EXPIRED);
    assert_false(cats_metrics_is_selectable(inst, 2000 + LEASE));

    /* Reports resume: back at once. */
    report_ok(store, make_load(&load, "node-1", 1, 2, 1, 11), 9000);
    assert_int_equal(inst->state, CATS_METRICS_ACTIVE);
    assert_true(cats_metrics_is_selectable(inst, 9000));
    assert_int_equal(cats_metrics_next_wake(store), 9000 + LEASE);
}

static void
test_unhealthy_leaves_selection_at_once_and_comes_back(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;
    uint64_t seqno;

    register_ok(store, make_reg(&reg, "node-1", 2, 11), 1, 0);
    inst = find(store, 11);

    seqno = store->seqno;
    make_load(&load, "node-1", 1, 1, 2, 11);
    load.insts[0].health = CATS_HEALTH_NOT_SERVING;
    report_ok(store, &load.l, 100);
    assert_true(store->seqno > seqno);
    assert_int_equal(inst->state, CATS_METRICS_UNHEALTHY);
    assert_false(cats_metrics_is_selectable(inst, 100));
    assert_int_equal(cats_metrics_weight(inst, 100, 100), 0);
    assert_true(cats_metrics_is_selectable(find(store, 12), 100));

    make_load(&load, "node-1", 1, 2, 1, 11);
    load.insts[0].health = CATS_HEALTH_DRAINING;
    report_ok(store, &load.l, 200);
    assert_int_equal(inst->state, CATS_METRICS_UNHEALTHY);
    assert_int_equal(inst->health, CATS_HEALTH_DRAINING);
    assert_false(cats_metrics_is_selectable(inst, 200));

    /* An unhealthy instance's lease still runs out. */
    assert_int_equal(cats_metrics_state(inst, 200 + LEASE),
                     CATS_METRICS_EXPIRED);

    report_ok(store, make_load(&load, "node-1", 1, 3, 1, 11), 300);
    assert_int_equal(inst->state, CATS_METRICS_ACTIVE);
    assert_true(cats_metrics_is_selectable(inst, 300));
    assert_int_equal(cats_metrics_weight(inst, 100, 300), 100);
}

/* Smoothing. */

static void
test_ewma_follows_the_time_constant(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;
    double expected;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    inst = find(store, 11);

    /* The first value is taken as is. */
    make_load(&load, "node-1", 1, 1, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.2);
    report_ok(store, &load.l, 1000);
    assert_true(inst->smoothed.value[CATS_METRIC_CPU] == 0.2);
    assert_true(inst->last.value[CATS_METRIC_CPU] == 0.2);

    /* One second later (tau = 2 s): alpha = 1 - e^-0.5 = 0.3935. */
    make_load(&load, "node-1", 1, 2, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.8);
    report_ok(store, &load.l, 2000);
    expected = 0.2 + (1 - exp(-0.5)) * 0.6;
    assert_float_equal(inst->smoothed.value[CATS_METRIC_CPU], expected,
                       1e-12);
    assert_float_equal(expected, 0.43608, 1e-5);
    assert_true(inst->last.value[CATS_METRIC_CPU] == 0.8);

    /* Two seconds more (one tau): 63% of the way. */
    make_load(&load, "node-1", 1, 3, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.8);
    report_ok(store, &load.l, 4000);
    expected += (1 - exp(-1.0)) * (0.8 - expected);
    assert_float_equal(inst->smoothed.value[CATS_METRIC_CPU], expected,
                       1e-12);
}

/* The same change reported at 10 Hz or at 1 Hz gives the same smoothed
 * value after the same time: influence does not grow with report rate. */
static void
test_ewma_does_not_depend_on_report_rate(void **state)
{
    struct cats_metrics_store *store = *state;
    struct load load;
    struct reg reg;
    uint64_t seq = 0;

    register_ok(store, make_reg(&reg, "node-1", 2, 11), 1, 0);
    for (int i = 0; i < 2; i++) {
        make_load(&load, "node-1", 1, ++seq, 1, 11 + i);
        set_metric(&load.insts[0].metrics, CATS_METRIC_QUEUE, 0);
        report_ok(store, &load.l, 0);
    }
    for (int t = 100; t <= 1000; t += 100) {
        make_load(&load, "node-1", 1, ++seq, 1, 11);
        set_metric(&load.insts[0].metrics, CATS_METRIC_QUEUE, 100);
        report_ok(store, &load.l, t);
    }
    make_load(&load, "node-1", 1, ++seq, 1, 12);
    set_metric(&load.insts[0].metrics, CATS_METRIC_QUEUE, 100);
    report_ok(store, &load.l, 1000);

    assert_float_equal(find(store, 11)->smoothed.value[CATS_METRIC_QUEUE],
                       find(store, 12)->smoothed.value[CATS_METRIC_QUEUE],
                       1e-9);
    assert_float_equal(find(store, 12)->smoothed.value[CATS_METRIC_QUEUE],
                       100 * (1 - exp(-0.5)), 1e-9);
}

static void
test_burst_within_a_millisecond_moves_only_last(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    inst = find(store, 11);
    make_load(&load, "node-1", 1, 1, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_IN_FLIGHT, 1);
    report_ok(store, &load.l, 500);

    for (uint64_t seq = 2; seq < 50; seq++) {
        make_load(&load, "node-1", 1, seq, 1, 11);
        set_metric(&load.insts[0].metrics, CATS_METRIC_IN_FLIGHT, 1000);
        report_ok(store, &load.l, 500);
    }
    assert_true(inst->smoothed.value[CATS_METRIC_IN_FLIGHT] == 1);
    assert_true(inst->last.value[CATS_METRIC_IN_FLIGHT] == 1000);
    assert_int_equal(inst->n_reports, 49);
}

static void
test_history_restarts_after_expiry(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    inst = find(store, 11);
    make_load(&load, "node-1", 1, 1, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_LATENCY, 10);
    report_ok(store, &load.l, 1000);

    /* The lease ran out, run() or not: the next value stands alone. */
    make_load(&load, "node-1", 1, 2, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_LATENCY, 500);
    report_ok(store, &load.l, 1000 + LEASE);
    assert_true(inst->smoothed.value[CATS_METRIC_LATENCY] == 500);

    /* Same after run() recorded the expiry. */
    cats_metrics_run(store, 1000 + 2 * LEASE);
    make_load(&load, "node-1", 1, 3, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_LATENCY, 20);
    report_ok(store, &load.l, 1000 + 2 * LEASE);
    assert_true(inst->smoothed.value[CATS_METRIC_LATENCY] == 20);
}

static void
test_metric_no_longer_reported_is_dropped(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    inst = find(store, 11);
    make_load(&load, "node-1", 1, 1, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.9);
    set_metric(&load.insts[0].metrics, CATS_METRIC_GPU, 0.1);
    report_ok(store, &load.l, 100);
    assert_true(inst->scores.l1_present & (1u << CATS_L1_COMPUTING));
    assert_float_equal(inst->scores.l1[CATS_L1_COMPUTING], 1.0, 1e-12);

    make_load(&load, "node-1", 1, 2, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_GPU, 0.1);
    report_ok(store, &load.l, 200);
    assert_false(cats_metric_values_has(&inst->smoothed, CATS_METRIC_CPU));
    assert_false(cats_metric_values_has(&inst->last, CATS_METRIC_CPU));
    assert_true(cats_metric_values_has(&inst->smoothed, CATS_METRIC_GPU));
    assert_float_equal(inst->scores.l1[CATS_L1_COMPUTING], 9.0, 1e-12);

    /* It comes back as a first value. */
    make_load(&load, "node-1", 1, 3, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.3);
    report_ok(store, &load.l, 300);
    assert_true(inst->smoothed.value[CATS_METRIC_CPU] == 0.3);
}

/* Scores. */

static void
test_l1_functions(void **state OVS_UNUSED)
{
    struct cats_metric_values v;
    double score = -1;

    memset(&v, 0, sizeof v);
    assert_false(cats_metrics_l1_computing(&v, &score));
    assert_false(cats_metrics_l1_occupancy(&v, 4, &score));
    assert_false(cats_metrics_l1_delay(&v, 100, &score));
    assert_true(score == -1);

    /* Computing: the most utilized resource. */
    set_metric(&v, CATS_METRIC_CPU, 0.2);
    assert_true(cats_metrics_l1_computing(&v, &score));
    assert_float_equal(score, 8.0, 1e-12);
    set_metric(&v, CATS_METRIC_GPU_MEMORY, 0.95);
    set_metric(&v, CATS_METRIC_MEMORY, 0.5);
    assert_true(cats_metrics_l1_computing(&v, &score));
    assert_float_equal(score, 0.5, 1e-12);
    set_metric(&v, CATS_METRIC_GPU, 1.0);
    assert_true(cats_metrics_l1_computing(&v, &score));
    assert_float_equal(score, 0.0, 1e-12);

    /* The load average enters no score. */
    memset(&v, 0, sizeof v);
    set_metric(&v, CATS_METRIC_LOAD, 50);
    set_metric(&v, CATS_METRIC_RPS, 1e6);
    set_metric(&v, CATS_METRIC_TPS, 1e6);
    assert_false(cats_metrics_l1_computing(&v, &score));
    assert_false(cats_metrics_l1_occupancy(&v, 4, &score));

    /* Occupancy: 10 C / (C + R + Q). */
    set_metric(&v, CATS_METRIC_IN_FLIGHT, 0);
    assert_true(cats_metrics_l1_occupancy(&v, 4, &score));
    assert_float_equal(score, 10.0, 1e-12);
    set_metric(&v, CATS_METRIC_IN_FLIGHT, 4);
    assert_true(cats_metrics_l1_occupancy(&v, 4, &score));
    assert_float_equal(score, 5.0, 1e-12);
    set_metric(&v, CATS_METRIC_QUEUE, 8);
    assert_true(cats_metrics_l1_occupancy(&v, 4, &score));
    assert_float_equal(score, 2.5, 1e-12);
    /* Capacity 0 (unknown) counts as 1. */
    assert_true(cats_metrics_l1_occupancy(&v, 0, &score));
    assert_float_equal(score, 10.0 / 13, 1e-12);
    /* Queue alone is enough. */
    memset(&v, 0, sizeof v);
    set_metric(&v, CATS_METRIC_QUEUE, 1e7);
    assert_true(cats_metrics_l1_occupancy(&v, 1, &score));
    assert_true(score > 0 && score < 1e-5);

    /* Delay: 10 Lref / (Lref + L). */
    set_metric(&v, CATS_METRIC_LATENCY, 0);
    assert_true(cats_metrics_l1_delay(&v, 100, &score));
    assert_float_equal(score, 10.0, 1e-12);
    set_metric(&v, CATS_METRIC_LATENCY, 100);
    assert_true(cats_metrics_l1_delay(&v, 100, &score));
    assert_float_equal(score, 5.0, 1e-12);
    set_metric(&v, CATS_METRIC_LATENCY, 300);
    assert_true(cats_metrics_l1_delay(&v, 100, &score));
    assert_float_equal(score, 2.5, 1e-12);
    assert_true(cats_metrics_l1_delay(&v, 300, &score));
    assert_float_equal(score, 5.0, 1e-12);
}

static void
test_l2_is_lowest_l1_unless_reported(void **state OVS_UNUSED)
{
    struct cats_metrics_scores s;
    struct cats_metric_values v;
    double reported = 9.5;

    memset(&v, 0, sizeof v);
    cats_metrics_compute_scores(&v, 4, 100, NULL, &s);
    assert_int_equal(s.l1_present, 0);
    assert_false(s.has_l2);

    set_metric(&v, CATS_METRIC_CPU, 0.1);            /* computing 9 */
    set_metric(&v, CATS_METRIC_IN_FLIGHT, 4);        /* occupancy 5 */
    set_metric(&v, CATS_METRIC_LATENCY, 25);         /* delay 8 */
    cats_metrics_compute_scores(&v, 4, 100, NULL, &s);
    assert_int_equal(s.l1_present, 7);
    assert_float_equal(s.l1[CATS_L1_COMPUTING], 9.0, 1e-12);
    assert_float_equal(s.l1[CATS_L1_OCCUPANCY], 5.0, 1e-12);
    assert_float_equal(s.l1[CATS_L1_DELAY], 8.0, 1e-12);
    assert_true(s.has_l2);
    assert_float_equal(s.l2, 5.0, 1e-12);

    /* Only the latency known. */
    memset(&v, 0, sizeof v);
    set_metric(&v, CATS_METRIC_LATENCY, 25);
    cats_metrics_compute_scores(&v, 4, 100, NULL, &s);
    assert_int_equal(s.l1_present, 1u << CATS_L1_DELAY);
    assert_float_equal(s.l2, 8.0, 1e-12);

    /* The instance's own L2 wins, even without any L0. */
    cats_metrics_compute_scores(&v, 4, 100, &reported, &s);
    assert_float_equal(s.l2, 9.5, 1e-12);
    memset(&v, 0, sizeof v);
    cats_metrics_compute_scores(&v, 4, 100, &reported, &s);
    assert_true(s.has_l2);
    assert_float_equal(s.l2, 9.5, 1e-12);

    assert_string_equal(cats_l1_name(CATS_L1_COMPUTING), "computing");
    assert_string_equal(cats_l1_name(CATS_L1_OCCUPANCY), "occupancy");
    assert_string_equal(cats_l1_name(CATS_L1_DELAY), "delay");
}

static void
test_reported_l2_is_smoothed_and_dropped_when_absent(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    inst = find(store, 11);
    make_load(&load, "node-1", 1, 1, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_IN_FLIGHT, 4);
    load.insts[0].has_l2 = true;
    load.insts[0].l2 = 2.0;
    report_ok(store, &load.l, 1000);
    assert_true(inst->has_l2_reported);
    assert_float_equal(inst->scores.l2, 2.0, 1e-12);

    load.l.seq = 2;
    load.insts[0].l2 = 8.0;
    report_ok(store, &load.l, 3000);
    assert_float_equal(inst->l2_reported_last, 8.0, 1e-12);
    assert_float_equal(inst->scores.l2, 2.0 + (1 - exp(-1.0)) * 6, 1e-12);

    /* Without it, the L1 scores decide (occupancy 5). */
    load.l.seq = 3;
    load.insts[0].has_l2 = false;
    report_ok(store, &load.l, 4000);
    assert_false(inst->has_l2_reported);
    assert_float_equal(inst->scores.l2, 5.0, 1e-12);
}

/* Weights. */

static void
test_weight_is_inverse_to_load(void **state)
{
    struct cats_metrics_store *store = *state;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 4, 11), 1, 0);
    make_load(&load, "node-1", 1, 1, 4, 11);
    /* Capacity 4: 0, 4, 12 and 1e6 requests outstanding. */
    set_metric(&load.insts[0].metrics, CATS_METRIC_IN_FLIGHT, 0);
    set_metric(&load.insts[1].metrics, CATS_METRIC_IN_FLIGHT, 4);
    set_metric(&load.insts[2].metrics, CATS_METRIC_IN_FLIGHT, 4);
    set_metric(&load.insts[2].metrics, CATS_METRIC_QUEUE, 8);
    set_metric(&load.insts[3].metrics, CATS_METRIC_QUEUE, 1e6);
    report_ok(store, &load.l, 100);

    assert_int_equal(cats_metrics_weight(find(store, 11), 100, 100), 100);
    assert_int_equal(cats_metrics_weight(find(store, 12), 100, 100), 50);
    assert_int_equal(cats_metrics_weight(find(store, 13), 100, 100), 25);
    /* Saturated but alive: a trickle, never 0. */
    assert_int_equal(cats_metrics_weight(find(store, 14), 100, 100), 1);
    /* Relative to the configured weight; 0 stays 0 (drained). */
    assert_int_equal(cats_metrics_weight(find(store, 12), 65535, 100),
                     32768);
    assert_int_equal(cats_metrics_weight(find(store, 12), 1, 100), 1);
    assert_int_equal(cats_metrics_weight(find(store, 12), 0, 100), 0);
    /* Out of selection: 0 whatever the load. */
    assert_int_equal(cats_metrics_weight(find(store, 11), 100, 100 + LEASE),
                     0);
}

static void
test_weight_deadband(void **state OVS_UNUSED)
{
    static const struct {
        uint16_t current, target;
        bool moved;
    } cases[] = {
        { 100, 100, false },
        { 100, 110, false },    /* 10%: not more than 10%. */
        { 100, 90, false },
        { 100, 111, true },
        { 100, 89, true },
        { 0, 0, false },
        { 0, 1, true },         /* Entering selection. */
        { 1, 0, true },         /* Leaving it. */
        { 5, 6, true },
        { 65535, 60000, false },
        { 65535, 58000, true },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        if (cats_metrics_weight_moved(cases[i].current, cases[i].target)
            != cases[i].moved) {
            fail_msg("%u -> %u: expected %s", cases[i].current,
                     cases[i].target, cases[i].moved ? "moved" : "kept");
        }
    }
}

/* Errors change nothing. */

static void
test_report_errors_change_nothing(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct reg reg1, reg2;
    struct load load;

    register_ok(store, make_reg(&reg1, "node-1", 1, 11), 0x1234, 0);
    register_ok(store, make_reg(&reg2, "node-2", 1, 12), 0x5678, 0);
    make_load(&load, "node-1", 0x1234, 5, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.5);
    report_ok(store, &load.l, 100);
    inst = find(store, 11);
    struct cats_metrics_instance before = *inst;

    make_load(&load, "node-9", 0x1234, 6, 1, 11);
    report_error(store, &load.l, 200, ESTALE,
                 "node node-9 is not registered (register first)");

    make_load(&load, "node-1", 0x9999, 6, 1, 11);
    report_error(store, &load.l, 200, ESTALE,
                 "session 0x9999 is not the current session of node node-1 "
                 "(register again)");

    make_load(&load, "node-1", 0x1234, 5, 1, 11);
    report_error(store, &load.l, 200, EALREADY,
                 "field 'seq': 5 is not above the last accepted seq 5");
    make_load(&load, "node-1", 0x1234, 4, 1, 11);
    report_error(store, &load.l, 200, EALREADY,
                 "field 'seq': 4 is not above the last accepted seq 5");

    /* An instance nobody registered, and one that node-2 did. */
    make_load(&load, "node-1", 0x1234, 6, 2, 11);
    load.insts[1].key.ip = host(99);
    report_error(store, &load.l, 200, EPERM,
                 "field 'instances[1]': instance web 10.0.0.99:80 is not "
                 "registered by node node-1");
    make_load(&load, "node-1", 0x1234, 6, 2, 11);
    report_error(store, &load.l, 200, EPERM,
                 "field 'instances[1]': instance web 10.0.0.12:80 is not "
                 "registered by node node-1");

    /* instances[0] of the refused reports was not touched. */
    assert_int_equal(inst->n_reports, before.n_reports);
    assert_int_equal(inst->lease_expires, before.lease_expires);
    assert_true(inst->smoothed.value[CATS_METRIC_CPU] == 0.5);
    assert_int_equal(cats_metrics_find_node(store, "node-1")->last_seq, 5);
    assert_int_equal(store->n_rejected, 6);
    check_invariants(store);
}

static void
test_rate_limit_per_node(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_config cfg;
    struct load load;
    struct reg reg;
    char msg[128];

    /* 2 reports per second, bursts of 2. */
    cats_metrics_destroy(store);
    test_config(&cfg);
    cfg.max_report_rate = 2;
    cats_metrics_init(store, &cfg);

    /* Registration took one token. */
    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    report_ok(store, make_load(&load, "node-1", 1, 1, 1, 11), 0);
    snprintf(msg, sizeof msg, "node node-1 sends more than 2 reports per "
             "second");
    report_error(store, make_load(&load, "node-1", 1, 2, 1, 11), 0, EBUSY,
                 msg);

    /* Half a second later one token is back, not two. */
    report_ok(store, make_load(&load, "node-1", 1, 2, 1, 11), 500);
    report_error(store, make_load(&load, "node-1", 1, 3, 1, 11), 500, EBUSY,
                 msg);

    /* Long silence refills to the burst size only. */
    report_ok(store, make_load(&load, "node-1", 1, 3, 1, 11), 60000);
    report_ok(store, make_load(&load, "node-1", 1, 4, 1, 11), 60000);
    report_error(store, make_load(&load, "node-1", 1, 5, 1, 11), 60000,
                 EBUSY, msg);

    /* Registering again counts too. */
    register_error(store, make_reg(&reg, "node-1", 1, 11), 2, 60000, EBUSY,
                   "node node-1 sends more than 2 messages per second");
    assert_int_equal(cats_metrics_find_node(store, "node-1")->session, 1);

    /* Other nodes have their own bucket. */
    register_ok(store, make_reg(&reg, "node-2", 1, 12), 3, 60000);
    report_ok(store, make_load(&load, "node-2", 3, 1, 1, 12), 60000);

    /* A rate below one a second (a 20 s report interval: 0.5/s) still
     * lets one report through every 2 s. */
    cats_metrics_destroy(store);
    test_config(&cfg);
    cfg.report_interval_ms = 20000;
    cfg.lease_ms = 60000;
    cfg.max_report_rate = 0;
    cats_metrics_init(store, &cfg);
    assert_true(store->cfg.max_report_rate == 0.5);
    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    report_ok(store, make_load(&load, "node-1", 1, 1, 1, 11), 2000);
    report_error(store, make_load(&load, "node-1", 1, 2, 1, 11), 3000,
                 EBUSY, "node node-1 sends more than 0.5 reports per "
                 "second");
    report_ok(store, make_load(&load, "node-1", 1, 2, 1, 11), 4000);
}

/* Registration rules. */

static void
test_instance_of_a_live_node_cannot_be_taken(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct reg reg1, reg2;
    struct load load;
    uint64_t seqno;

    register_ok(store, make_reg(&reg1, "node-1", 2, 11), 1, 0);
    make_load(&load, "node-1", 1, 1, 2, 11);
    set_metric(&load.insts[1].metrics, CATS_METRIC_CPU, 0.7);
    report_ok(store, &load.l, 1000);

    seqno = store->seqno;
    make_reg(&reg2, "node-2", 2, 12);    /* 10.0.0.12 and .13. */
    register_error(store, &reg2.r, 2, 2000, EEXIST,
                   "field 'instances[0]': instance web 10.0.0.12:80 belongs "
                   "to node node-1, whose lease runs for another 2000 ms");
    assert_int_equal(store->seqno, seqno);
    assert_null(cats_metrics_find_node(store, "node-2"));
    assert_null(find(store, 13));

    /* Once node-1 went silent past the lease, node-2 takes it over, with
     * a fresh history. */
    register_ok(store, &reg2.r, 2, 1000 + LEASE);
    check_invariants(store);
    inst = find(store, 12);
    assert_string_equal(inst->owner->id, "node-2");
    assert_false(cats_metric_values_has(&inst->smoothed, CATS_METRIC_CPU));
    assert_true(cats_metrics_is_selectable(inst, 1000 + LEASE));
    assert_int_equal(cats_metrics_find_node(store, "node-1")->n_instances, 1);

    /* node-1 can no longer report on it. */
    make_load(&load, "node-1", 1, 2, 2, 11);
    report_error(store, &load.l, 1000 + LEASE, EPERM,
                 "field 'instances[1]': instance web 10.0.0.12:80 is not "
                 "registered by node node-1");
}

static void
test_registering_again_replaces_the_registration(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *kept;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 3, 11), 1, 0);
    make_load(&load, "node-1", 1, 9, 3, 11);
    set_metric(&load.insts[1].metrics, CATS_METRIC_CPU, 0.4);
    report_ok(store, &load.l, 1000);
    kept = find(store, 12);

    /* Now .12 and .14: .11 and .13 go, .12 keeps its history, .14 is
     * new; the old session is over and seq starts again. */
    make_reg(&reg, "node-1", 2, 12);
    reg.specs[1].key.ip = host(14);
    reg.specs[0].capacity = 8;
    register_ok(store, &reg.r, 2, 1500);
    check_invariants(store);
    assert_null(find(store, 11));
    assert_null(find(store, 13));
    assert_ptr_equal(find(store, 12), kept);
    assert_non_null(find(store, 14));
    assert_int_equal(cats_metrics_find_node(store, "node-1")->n_instances, 2);
    assert_int_equal(hmap_count(&store->instances), 2);
    assert_int_equal(kept->capacity, 8);
    assert_true(kept->smoothed.value[CATS_METRIC_CPU] == 0.4);
    assert_int_equal(kept->lease_expires, 1500 + LEASE);

    make_load(&load, "node-1", 1, 10, 1, 12);
    report_error(store, &load.l, 1600, ESTALE,
                 "session 0x1 is not the current session of node node-1 "
                 "(register again)");
    make_load(&load, "node-1", 2, 1, 1, 12);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.2);
    report_ok(store, &load.l, 1600);

    /* An expired instance registered again starts over: its old values
     * must not look fresh under the renewed lease. */
    make_reg(&reg, "node-1", 1, 12);
    register_ok(store, &reg.r, 3, 1600 + LEASE);
    assert_false(cats_metric_values_has(&kept->smoothed, CATS_METRIC_CPU));
    assert_true(cats_metrics_is_selectable(kept, 1600 + LEASE));
    make_load(&load, "node-1", 3, 1, 1, 12);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.9);
    report_ok(store, &load.l, 1700 + LEASE);
    assert_true(kept->smoothed.value[CATS_METRIC_CPU] == 0.9);
}

static void
test_limits_on_nodes_and_instances(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_config cfg;
    struct reg reg;

    cats_metrics_destroy(store);
    test_config(&cfg);
    cfg.max_nodes = 2;
    cfg.max_instances = 3;
    cats_metrics_init(store, &cfg);

    register_ok(store, make_reg(&reg, "node-1", 2, 11), 1, 0);
    register_error(store, make_reg(&reg, "node-2", 2, 21), 2, 0, ENOSPC,
                   "too many instances (at most 3 over all nodes)");
    register_ok(store, make_reg(&reg, "node-2", 1, 21), 2, 0);
    register_error(store, make_reg(&reg, "node-3", 0, 31), 3, 0, ENOSPC,
                   "too many nodes (at most 2)");
    assert_int_equal(hmap_count(&store->nodes), 2);
    assert_int_equal(hmap_count(&store->instances), 3);

    /* A node that registers again is not a new node, and the instances it
     * drops make room. */
    register_ok(store, make_reg(&reg, "node-1", 1, 41), 4, 10);
    register_ok(store, make_reg(&reg, "node-2", 2, 21), 5, 10);
    assert_int_equal(hmap_count(&store->instances), 3);
    check_invariants(store);
}

static void
test_report_without_instances_covers_all(void **state)
{
    struct cats_metrics_store *store = *state;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 2, 11), 1, 0);
    make_load(&load, "node-1", 1, 1, 1, 11);
    load.insts[0].health = CATS_HEALTH_NOT_SERVING;
    report_ok(store, &load.l, 100);
    assert_false(cats_metrics_is_selectable(find(store, 11), 100));

    make_load(&load, "node-1", 1, 2, 0, 0);
    set_metric(&load.l.node_metrics, CATS_METRIC_CPU, 0.6);
    report_ok(store, &load.l, 2000);
    for (int n = 11; n <= 12; n++) {
        const struct cats_metrics_instance *inst = find(store, n);

        assert_true(cats_metrics_is_selectable(inst, 2000));
        assert_int_equal(inst->lease_expires, 2000 + LEASE);
        assert_true(inst->last.value[CATS_METRIC_CPU] == 0.6);
        assert_float_equal(inst->scores.l2, 4.0, 1e-12);
        assert_int_equal(cats_metrics_weight(inst, 100, 2000), 40);
    }
}

static void
test_remove_node(void **state)
{
    struct cats_metrics_store *store = *state;
    struct reg reg;
    uint64_t seqno;

    register_ok(store, make_reg(&reg, "node-1", 2, 11), 1, 0);
    register_ok(store, make_reg(&reg, "node-2", 1, 21), 2, 0);
    seqno = store->seqno;
    assert_true(cats_metrics_remove_node(store, "node-1"));
    assert_true(store->seqno > seqno);
    assert_false(cats_metrics_remove_node(store, "node-1"));
    assert_null(find(store, 11));
    assert_null(cats_metrics_find_node(store, "node-1"));
    assert_non_null(find(store, 21));
    check_invariants(store);
}

static void
test_silent_nodes_are_forgotten_only_when_asked(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_config cfg;
    struct load load;
    struct reg reg;

    /* By default an expired instance stays, out of selection. */
    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    cats_metrics_run(store, 24LL * 3600 * 1000);
    assert_non_null(find(store, 11));
    assert_int_equal(store->n_forgotten, 0);

    cats_metrics_destroy(store);
    test_config(&cfg);
    cfg.forget_ms = 60000;
    cats_metrics_init(store, &cfg);
    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 0);
    register_ok(store, make_reg(&reg, "node-2", 1, 21), 2, 0);
    report_ok(store, make_load(&load, "node-2", 2, 1, 1, 21), 30000);

    cats_metrics_run(store, 59999);
    assert_non_null(find(store, 11));
    assert_int_equal(cats_metrics_next_wake(store), 60000);
    cats_metrics_run(store, 60000);
    assert_null(find(store, 11));
    assert_null(cats_metrics_find_node(store, "node-1"));
    assert_non_null(find(store, 21));
    assert_int_equal(store->n_forgotten, 1);
    assert_int_equal(cats_metrics_next_wake(store), 90000);
    cats_metrics_run(store, 90000);
    assert_int_equal(hmap_count(&store->nodes), 0);
    assert_int_equal(cats_metrics_next_wake(store), LLONG_MAX);
    check_invariants(store);
}

static void
test_config_defaults_and_repairs(void **state OVS_UNUSED)
{
    struct cats_metrics_store store;
    struct cats_metrics_config cfg;

    cats_metrics_init(&store, NULL);
    assert_int_equal(store.cfg.lease_ms, CATS_METRICS_LEASE_MS);
    assert_int_equal(store.cfg.report_interval_ms,
                     CATS_METRICS_REPORT_INTERVAL_MS);
    assert_int_equal(store.cfg.tau_ms, CATS_METRICS_TAU_MS);
    assert_true(store.cfg.max_report_rate == 10.0);
    assert_int_equal(store.cfg.forget_ms, 0);
    cats_metrics_destroy(&store);

    /* A lease shorter than the interval would expire every instance
     * between two reports. */
    cats_metrics_config_init(&cfg);
    cfg.report_interval_ms = 100;
    cfg.lease_ms = 50;
    cfg.tau_ms = 0;
    cfg.latency_ref_ms = NAN;
    cfg.max_report_rate = -1;
    cats_metrics_init(&store, &cfg);
    assert_int_equal(store.cfg.lease_ms, 100);
    assert_int_equal(store.cfg.tau_ms, 1);
    assert_true(store.cfg.latency_ref_ms == CATS_METRICS_LATENCY_REF_MS);
    assert_true(store.cfg.max_report_rate == 100.0);
    cats_metrics_destroy(&store);
    cats_metrics_destroy(NULL);
}

static void
test_time_going_backwards_is_harmless(void **state)
{
    struct cats_metrics_store *store = *state;
    struct cats_metrics_instance *inst;
    struct load load;
    struct reg reg;

    register_ok(store, make_reg(&reg, "node-1", 1, 11), 1, 5000);
    inst = find(store, 11);
    make_load(&load, "node-1", 1, 1, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 0.5);
    report_ok(store, &load.l, 5000);

    make_load(&load, "node-1", 1, 2, 1, 11);
    set_metric(&load.insts[0].metrics, CATS_METRIC_CPU, 1.0);
    report_ok(store, &load.l, 4000);
    assert_true(inst->smoothed.value[CATS_METRIC_CPU] == 0.5);
    assert_true(isfinite(inst->scores.l2));
    assert_true(cats_metrics_is_selectable(inst, 4000));
}

/* Many nodes whose reports come at staggered times, some falling silent:
 * each run expires exactly the instances whose lease has ended, and
 * next_wake is the earliest lease still running, as a scan of every
 * instance would find. */
static void
test_staggered_leases_expire_in_order(void **state)
{
    struct cats_metrics_store *store = *state;
    enum { N = 200 };
    long long heard[N];
    struct load load;
    struct reg reg;
    char id[16];

    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "node-%d", i);
        register_ok(store, make_reg(&reg, id, 1, i + 1), i + 1, 0);
        heard[i] = 0;
    }
    check_invariants(store);

    /* Every 10 ms one node reports; nodes that are multiples of 7 stop
     * after t = 500. */
    uint64_t seq = 0;
    for (long long t = 10; t <= 6000; t += 10) {
        int i = (t / 10) % N;

        if (!(i % 7 == 0 && t > 500)) {
            snprintf(id, sizeof id, "node-%d", i);
            report_ok(store, make_load(&load, id, i + 1, ++seq, 1, i + 1),
                      t);
            heard[i] = t;
        }
        if (t % 70 == 0) {
            long long earliest = LLONG_MAX;

            cats_metrics_run(store, t);
            for (int j = 0; j < N; j++) {
                const struct cats_metrics_instance *inst = find(store, j + 1);
                bool ended = t >= heard[j] + LEASE;

                assert_int_equal(inst->state == CATS_METRICS_EXPIRED, ended);
                if (!ended) {
                    earliest = MIN(earliest, heard[j] + LEASE);
                }
            }
            assert_int_equal(cats_metrics_next_wake(store), earliest);
            check_invariants(store);
        }
    }
    assert_true(store->n_expirations > 0);
}

/* A caller whose clock goes back still gets the earliest lease first. */
static void
test_lease_order_survives_clock_going_back(void **state)
{
    struct cats_metrics_store *store = *state;
    struct load load;
    struct reg reg1, reg2, reg3;

    register_ok(store, make_reg(&reg1, "node-1", 1, 11), 1, 5000);
    register_ok(store, make_reg(&reg2, "node-2", 1, 12), 2, 5000);
    register_ok(store, make_reg(&reg3, "node-3", 1, 13), 3, 5000);
    report_ok(store, make_load(&load, "node-2", 2, 1, 1, 12), 4000);
    report_ok(store, make_load(&load, "node-3", 3, 1, 1, 13), 4500);
    check_invariants(store);
    assert_int_equal(cats_metrics_next_wake(store), 4000 + LEASE);

    cats_metrics_run(store, 4000 + LEASE);
    assert_int_equal(find(store, 12)->state, CATS_METRICS_EXPIRED);
    assert_int_equal(find(store, 13)->state, CATS_METRICS_ACTIVE);
    assert_int_equal(find(store, 11)->state, CATS_METRICS_ACTIVE);
    assert_int_equal(cats_metrics_next_wake(store), 4500 + LEASE);
    check_invariants(store);
}

static void
test_state_names(void **state OVS_UNUSED)
{
    assert_string_equal(cats_metrics_state_name(CATS_METRICS_ACTIVE),
                        "active");
    assert_string_equal(cats_metrics_state_name(CATS_METRICS_UNHEALTHY),
                        "unhealthy");
    assert_string_equal(cats_metrics_state_name(CATS_METRICS_EXPIRED),
                        "expired");
}

#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_register_creates_selectable_instances),
        T(test_lease_ends_at_once_even_before_run),
        T(test_run_records_expiries_when_due),
        T(test_report_renews_lease_and_resumes_after_expiry),
        T(test_unhealthy_leaves_selection_at_once_and_comes_back),
        T(test_ewma_follows_the_time_constant),
        T(test_ewma_does_not_depend_on_report_rate),
        T(test_burst_within_a_millisecond_moves_only_last),
        T(test_history_restarts_after_expiry),
        T(test_metric_no_longer_reported_is_dropped),
        cmocka_unit_test(test_l1_functions),
        cmocka_unit_test(test_l2_is_lowest_l1_unless_reported),
        T(test_reported_l2_is_smoothed_and_dropped_when_absent),
        T(test_weight_is_inverse_to_load),
        cmocka_unit_test(test_weight_deadband),
        T(test_report_errors_change_nothing),
        T(test_rate_limit_per_node),
        T(test_instance_of_a_live_node_cannot_be_taken),
        T(test_registering_again_replaces_the_registration),
        T(test_limits_on_nodes_and_instances),
        T(test_report_without_instances_covers_all),
        T(test_remove_node),
        T(test_silent_nodes_are_forgotten_only_when_asked),
        cmocka_unit_test(test_config_defaults_and_repairs),
        T(test_time_going_backwards_is_harmless),
        T(test_staggered_leases_expire_in_order),
        T(test_lease_order_survives_clock_going_back),
        cmocka_unit_test(test_state_names),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}

/*
 * libFuzzer target for the agent API decoders (include/cats/report.h) and
 * the metrics store behind them (include/cats/metrics.h).
 *
 * An input is a sequence of records, so that one input can register a
 * node, report, let time pass and report again:
 *
 *     TYPE (1 byte) LENGTH (2 bytes, big endian) PAYLOAD (LENGTH bytes, or
 *     whatever is left of the input)
 *
 *     TYPE % 4 == 0   PAYLOAD is a RegisterRequest: decode, then register
 *                     it with session = the number of such records so far
 *     TYPE % 4 == 1   PAYLOAD is a LoadReport: decode, then report it
 *     TYPE % 4 == 2   PAYLOAD is a TelemetryReport: decode
 *     TYPE % 4 == 3   no payload: LENGTH * 10 ms pass
 *
 * Every record also moves the clock 1 ms (so that a burst of records can
 * reach the rate limit) and runs the store.  Besides
 * crashes and sanitizer reports, it checks the contracts: each error is one
 * non-empty line with an errno value that maps to a real gRPC status, a
 * refused message changes nothing in the store, decoded values are in
 * their documented ranges, and the store's bookkeeping stays consistent.
 *
 * Seeds: tests/fuzz/corpus/report/ (real encoded messages, made by
 * tests/fuzz/make-report-seeds.py).  Build and run: tests/fuzz/README
 * (the rule is in proto/rules.mk).
 */

#include <config.h>

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cats/catalog.h"
#include "cats/metrics.h"
#include "cats/report.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(int error, char *msg)
{
    enum cats_grpc_status status = cats_report_grpc_status(error);

    if (!error || !msg || !msg[0] || strchr(msg, '\n')
        || status == CATS_GRPC_OK || status == CATS_GRPC_INTERNAL) {
        abort();
    }
    free(msg);
}

static void
check_metric_values(const struct cats_metric_values *v)
{
    if (v->present >> CATS_N_METRICS) {
        abort();
    }
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (cats_metric_values_has(v, m)
            && (!isfinite(v->value[m]) || v->value[m] < 0
                || v->value[m] > cats_metric_max(m))) {
            abort();
        }
    }
}

static void
check_key(const struct cats_report_key *key,
          const struct cats_catalog *cat)
{
    uint8_t first = ntohl(key->ip) >> 24;

    if (!key->port || !cats_catalog_find(cat, key->service)
        || first != 10) {
        abort();
    }
}

static void
check_store(const struct cats_metrics_store *store, long long now)
{
    const struct cats_metrics_node *node;
    size_t total = 0;

    if (hmap_count(&store->nodes) > store->cfg.max_nodes
        || hmap_count(&store->instances) > store->cfg.max_instances) {
        abort();
    }
    HMAP_FOR_EACH (node, node, &store->nodes) {
        const struct cats_metrics_instance *inst;
        size_t n = 0;

        LIST_FOR_EACH (inst, owner_node, &node->instances) {
            const struct cats_metrics_scores *s = &inst->scores;

            if (inst->owner != node
                || cats_metrics_find(store, inst->key.service, inst->key.ip,
                                     inst->key.port) != inst) {
                abort();
            }
            check_metric_values(&inst->last);
            check_metric_values(&inst->smoothed);
            for (int c = 0; c < CATS_N_L1; c++) {
                if (s->l1_present & (1u << c)
                    && !(s->l1[c] >= 0 && s->l1[c] <= CATS_SCORE_MAX)) {
                    abort();
                }
            }
            if (s->has_l2 && !(s->l2 >= 0 && s->l2 <= CATS_SCORE_MAX)) {
                abort();
            }

            uint16_t w = cats_metrics_weight(inst, 100, now);
            if (w > 100 || (!w && cats_metrics_is_selectable(inst, now))) {
                abort();
            }
            n++;
        }
        if (n != node->n_instances) {
            abort();
        }
        total += n;
    }
    if (total != hmap_count(&store->instances)) {
        abort();
    }
}

static void
do_registration(const uint8_t *p, size_t n,
                const struct cats_report_policy *policy,
                const struct cats_catalog *cat,
                struct cats_metrics_store *store, uint64_t session,
                long long now)
{
    struct cats_report_registration reg;
    char *error;
    int retval;

    retval = cats_report_decode_registration(p, n, policy, &reg, &error);
    if (retval) {
        check_error(retval, error);
        if (reg.n_instances || reg.instances) {
            abort();
        }
        return;
    }
    for (size_t i = 0; i < reg.n_instances; i++) {
        check_key(&reg.instances[i].key, cat);
        if (reg.instances[i].capacity > CATS_CAPACITY_MAX) {
            abort();
        }
    }

    uint64_t seqno = store->seqno;
    retval = cats_metrics_register(store, &reg, session, now, &error);
    if (retval) {
        check_error(retval, error);
        if (store->seqno != seqno) {
            abort();
        }
    } else if (cats_metrics_find_node(store, reg.node_id)->session
               != session) {
        abort();
    }
    cats_report_registration_destroy(&reg);
}

static void
do_load(const uint8_t *p, size_t n, const struct cats_report_policy *policy,
        const struct cats_catalog *cat, struct cats_metrics_store *store,
        long long now)
{
    struct cats_report_load load;
    char *error;
    int retval;

    retval = cats_report_decode_load(p, n, policy, &load, &error);
    if (retval) {
        check_error(retval, error);
        return;
    }
    if (!load.seq) {
        abort();
    }
    check_metric_values(&load.node_metrics);
    for (size_t i = 0; i < load.n_instances; i++) {
        const struct cats_report_instance *ri = &load.instances[i];

        check_key(&ri->key, cat);
        check_metric_values(&ri->metrics);
        if (ri->has_l2 && !(ri->l2 >= 0 && ri->l2 <= CATS_SCORE_MAX)) {
            abort();
        }
    }

    uint64_t seqno = store->seqno;
    const struct cats_metrics_node *node;
    retval = cats_metrics_report(store, &load, now, &node, &error);
    if (node != cats_metrics_find_node(store, load.node_id)) {
        abort();
    }
    if (retval) {
        check_error(retval, error);
        if (store->seqno != seqno) {
            abort();
        }
    } else if (node->last_seq != load.seq) {
        abort();
    }
    cats_report_load_destroy(&load);
}

static void
do_telemetry(const uint8_t *p, size_t n,
             const struct cats_report_policy *policy)
{
    struct cats_report_telemetry t;
    char *error;
    int retval;

    retval = cats_report_decode_telemetry(p, n, policy, &t, &error);
    if (retval) {
        check_error(retval, error);
        return;
    }
    if (!t.seq || t.n_links > policy->max_links) {
        abort();
    }
    for (size_t i = 0; i < t.n_links; i++) {
        const struct cats_report_link *l = &t.links[i];
        uint8_t seen = 0;

        if (!l->id[0] || l->n_pfc > CATS_PFC_PRIORITIES
            || (l->has_rtt && !(l->rtt_us >= 0 && l->rtt_us <= 1e7))) {
            abort();
        }
        for (size_t j = 0; j < l->n_pfc; j++) {
            if (l->pfc[j].priority >= CATS_PFC_PRIORITIES
                || seen & (1u << l->pfc[j].priority)) {
                abort();
            }
            seen |= 1u << l->pfc[j].priority;
        }
    }
    cats_report_telemetry_destroy(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cats_metrics_config cfg;
    struct cats_report_policy policy;
    struct cats_metrics_store store;
    struct cats_catalog cat;
    uint64_t sessions = 0;
    long long now = 1000;
    char *error;

    cats_catalog_init(&cat);
    if (cats_service_add(&cat, "web", htonl(0x0a000064), IPPROTO_TCP, 80,
                         NULL, &error)
        || cats_service_add(&cat, "llm", htonl(0x0a000065), IPPROTO_TCP,
                            8000, NULL, &error)) {
        abort();
    }
    cats_report_policy_init(&policy);
    policy.service_exists = cats_report_catalog_has_service;
    policy.aux = &cat;
    policy.max_instances = 16;
    policy.max_links = 16;
    error = cats_report_policy_add_prefix(&policy, "10.0.0.0/8");
    if (error) {
        abort();
    }

    /* Small limits, so that inputs reach them. */
    cats_metrics_config_init(&cfg);
    cfg.max_nodes = 4;
    cfg.max_instances = 16;
    cfg.forget_ms = 20000;
    cfg.max_report_rate = 20;
    cats_metrics_init(&store, &cfg);

    while (size >= 3) {
        uint8_t type = data[0] % 4;
        size_t len = (data[1] << 8) | data[2];

        data += 3;
        size -= 3;
        if (type == 3) {
            now += len * 10;
        } else {
            len = MIN(len, size);
            if (type == 0) {
                do_registration(data, len, &policy, &cat, &store,
                                ++sessions, now);
            } else if (type == 1) {
                do_load(data, len, &policy, &cat, &store, now);
            } else {
                do_telemetry(data, len, &policy);
            }
            data += len;
            size -= len;
        }
        now += 1;
        cats_metrics_run(&store, now);
        if (cats_metrics_next_wake(&store) <= now) {
            abort();
        }
        check_store(&store, now);
    }

    cats_metrics_destroy(&store);
    cats_report_policy_destroy(&policy);
    cats_catalog_destroy(&cat);
    return 0;
}

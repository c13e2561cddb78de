/*
 * ovs-cats: from load and telemetry to the weights in use.  See steer.h.
 */

#include <config.h>

#include "steer.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cats/catalog.h"
#include "cats/selector.h"
#include "coverage.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_steer);

COVERAGE_DEFINE(cats_steer_reweight);
COVERAGE_DEFINE(cats_steer_rebuild);
COVERAGE_DEFINE(cats_steer_storm_change);

/* A service whose reports changed is reweighted at most this often, or at
 * once when a path of its enters or leaves a storm; every selecting
 * service at least this often (damping converges, storms restore, leases
 * run out between reports). */
#define DIRTY_INTERVAL_MS 50
#define PERIODIC_INTERVAL_MS 250

struct steer_inst {
    struct hmap_node node;              /* In 'instances', by key. */
    struct cats_report_key key;
    struct steer_service *ss;
    struct cats_instance *ci;           /* Valid while the catalog's
                                         * membership is as built. */
    size_t idx;                         /* Selector instance. */
    size_t pair;                        /* Its one pair. */
    size_t path;                        /* Its path, or CATS_SEL_LOCAL. */
    bool selectable;                    /* As last told to the selector. */
    bool has_count;                     /* 'count' is a baseline. */
    uint64_t count;                     /* New connections, cumulative. */
};

struct steer_service {
    struct hmap_node node;              /* In 'services', by name. */
    struct hmap_node id_node;           /* In 'services_by_id'. */
    char *name;
    uint32_t id;                        /* Catalog service id. */
    enum cats_policy policy;
    enum cats_decide decide;
    bool has_agents;                    /* Some instance is registered. */
    struct cats_sel_service *svc;       /* NULL: configured weights. */
    struct steer_inst **insts;
    size_t n_insts;
    bool dirty;
    bool urgent;                        /* A path's storm state changed. */
    long long int last_reweight;
};

static struct cats_selector *sel;
static double conn_wait_factor = CATS_SEL_CONN_WAIT_FACTOR;
static struct hmap services = HMAP_INITIALIZER(&services);
static struct hmap services_by_id = HMAP_INITIALIZER(&services_by_id);
static struct hmap instances = HMAP_INITIALIZER(&instances);
static struct shash paths = SHASH_INITIALIZER(&paths);  /* Name -> idx+1. */
static bool built;
static uint64_t built_membership;
static uint64_t built_store_sig;
static uint64_t seen_catalog_seqno;
static long long int next_periodic;
static uint64_t n_rebuilds;

static uint32_t
key_hash(const char *service, ovs_be32 ip, uint16_t port)
{
    return hash_string(service, hash_2words((OVS_FORCE uint32_t) ip, port));
}

static struct steer_inst *
find_inst(const struct cats_report_key *k)
{
    struct steer_inst *si;

    HMAP_FOR_EACH_WITH_HASH (si, node, key_hash(k->service, k->ip, k->port),
                             &instances) {
        if (si->key.ip == k->ip && si->key.port == k->port
            && !strcmp(si->key.service, k->service)) {
            return si;
        }
    }
    return NULL;
}

static struct steer_service *
find_service(const char *name)
{
    struct steer_service *ss;

    HMAP_FOR_EACH_WITH_HASH (ss, node, hash_string(name, 0), &services) {
        if (!strcmp(ss->name, name)) {
            return ss;
        }
    }
    return NULL;
}

static enum cats_sel_policy
sel_policy(enum cats_policy p)
{
    switch (p) {
    case CATS_POLICY_LEAST_LOADED:
        return CATS_SEL_LEAST_LOADED;
    case CATS_POLICY_STATIC:
        return CATS_SEL_STATIC;
    case CATS_POLICY_MIN_LATENCY:
    default:
        return CATS_SEL_MIN_LATENCY;
    }
}

static void
clear(void)
{
    struct steer_service *ss;
    struct steer_inst *si;

    HMAP_FOR_EACH_POP (si, node, &instances) {
        free(si);
    }
    hmap_clear(&services_by_id);
    HMAP_FOR_EACH_POP (ss, node, &services) {
        free(ss->insts);
        free(ss->name);
        free(ss);
    }
    shash_clear(&paths);
    cats_sel_destroy(sel);
    sel = NULL;
    built = false;
}

void
steer_init(void)
{
}

void
steer_set_conn_wait_factor(double a)
{
    conn_wait_factor = a;
}

void
steer_destroy(void)
{
    clear();
    hmap_destroy(&services);
    hmap_destroy(&services_by_id);
    hmap_destroy(&instances);
    shash_destroy(&paths);
}

static size_t
path_index(const char *name)
{
    struct shash_node *node = shash_find(&paths, name);

    if (node) {
        return (uintptr_t) node->data - 1;
    }
    size_t idx = cats_sel_path_add(sel, name, 0.0);
    shash_add(&paths, name, (void *) (uintptr_t) (idx + 1));
    return idx;
}

static void
feed(struct steer_inst *si, const struct cats_metrics_instance *m,
     long long int now)
{
    struct cats_sel_instance_report r;
    const struct cats_metric_values *v = &m->last;

    memset(&r, 0, sizeof r);
    r.time = m->last_sample;
    r.selectable = cats_metrics_is_selectable(m, now);
    if (cats_metric_values_has(v, CATS_METRIC_IN_FLIGHT)) {
        r.has_in_flight = true;
        r.in_flight = v->value[CATS_METRIC_IN_FLIGHT];
    }
    if (cats_metric_values_has(v, CATS_METRIC_QUEUE)) {
        r.has_queue = true;
        r.queue = v->value[CATS_METRIC_QUEUE];
    }
    if (cats_metric_values_has(v, CATS_METRIC_LATENCY)) {
        r.has_latency = true;
        r.latency_ms = v->value[CATS_METRIC_LATENCY];
    }
    if (cats_sel_instance_report(si->ss->svc, si->idx, &r)) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        /* The store validated every value: not expected. */
        VLOG_WARN_RL(&rl, "%s: selector refused a report",
                     si->key.service);
    }
    si->selectable = r.selectable;
    si->ss->dirty = true;
}

static uint64_t
store_signature(const struct cats_metrics_store *store)
{
    return hash_2words(store->n_registrations, store->n_forgotten);
}

static void
rebuild(struct cats_catalog *cat, const struct cats_metrics_store *store,
        long long int now)
{
    struct cats_service **svcs;
    size_t n_svcs;

    clear();
    COVERAGE_INC(cats_steer_rebuild);
    n_rebuilds++;
    struct cats_sel_config cfg;
    cats_sel_config_init(&cfg);
    cfg.conn_wait_factor = conn_wait_factor;
    sel = cats_sel_create(&cfg);
    svcs = cats_catalog_sorted_services(cat, &n_svcs);
    for (size_t i = 0; i < n_svcs; i++) {
        struct cats_service *s = svcs[i];
        struct steer_service *ss = xzalloc(sizeof *ss);
        struct cats_instance **insts;
        size_t n;

        ss->name = xstrdup(s->name);
        ss->id = s->id;
        ss->policy = s->policy;
        ss->decide = s->decide;
        hmap_insert(&services, &ss->node, hash_string(ss->name, 0));
        hmap_insert(&services_by_id, &ss->id_node, hash_int(ss->id, 0));
        insts = cats_service_sorted_instances(s, &n);
        for (size_t j = 0; j < n; j++) {
            if (cats_metrics_find(store, s->name, insts[j]->ip,
                                  insts[j]->port)) {
                ss->has_agents = true;
                break;
            }
        }
        if (ss->has_agents && s->policy != CATS_POLICY_STATIC) {
            ss->svc = cats_sel_service_add(sel, s->name,
                                           sel_policy(s->policy));
        }
        ss->insts = xcalloc(n ? n : 1, sizeof *ss->insts);
        ss->n_insts = n;
        for (size_t j = 0; j < n; j++) {
            struct cats_instance *ci = insts[j];
            const struct cats_metrics_instance *m;
            struct steer_inst *si = xzalloc(sizeof *si);

            ovs_strlcpy(si->key.service, s->name, sizeof si->key.service);
            si->key.ip = ci->ip;
            si->key.port = ci->port;
            si->ss = ss;
            si->ci = ci;
            si->selectable = true;
            hmap_insert(&instances, &si->node,
                        key_hash(s->name, ci->ip, ci->port));
            ss->insts[j] = si;

            m = cats_metrics_find(store, s->name, ci->ip, ci->port);
            if (ss->svc) {
                char name[64];

                snprintf(name, sizeof name, IP_FMT":%"PRIu16,
                         IP_ARGS(ci->ip), ci->port);
                si->idx = cats_sel_instance_add(ss->svc, name,
                                                m ? m->capacity : 0,
                                                ci->base_weight);
                si->path = ci->path ? path_index(ci->path) : CATS_SEL_LOCAL;
                si->pair = cats_sel_pair_add(ss->svc, si->idx, si->path);
                if (m && m->has_sample) {
                    feed(si, m, now);
                } else if (m) {
                    si->selectable = cats_metrics_is_selectable(m, now);
                    cats_sel_instance_set_selectable(ss->svc, si->idx,
                                                     si->selectable);
                }
            }
        }
        ss->dirty = true;
        free(insts);
    }
    free(svcs);
    built = true;
    built_membership = cat->membership_seqno;
    built_store_sig = store_signature(store);
    seen_catalog_seqno = 0;     /* Configured weights: one full pass. */
}

void
steer_instance_report(const struct cats_metrics_instance *m,
                      long long int now)
{
    struct steer_inst *si = built ? find_inst(&m->key) : NULL;

    if (si && si->ss->svc) {
        feed(si, m, now);
    } else if (si) {
        si->ss->dirty = true;
    }
}

void
steer_counts(steer_count_fn *count_fn, long long int now)
{
    struct steer_service *ss;

    if (!built) {
        return;
    }
    HMAP_FOR_EACH (ss, node, &services) {
        if (!ss->svc) {
            continue;
        }
        for (size_t i = 0; i < ss->n_insts; i++) {
            struct steer_inst *si = ss->insts[i];
            uint64_t count, delta = 0;

            if (!count_fn(si->ci, &count)) {
                continue;
            }
            if (si->has_count && count >= si->count) {
                delta = count - si->count;
            }
            /* A count that went down (a flow re-added, a switch gone)
             * restarts from here; the first one is the baseline (the
             * selector ignores its first call too). */
            si->count = count;
            si->has_count = true;
            cats_sel_instance_sent(ss->svc, si->idx, delta, now);
        }
        ss->dirty = true;
    }
}

static struct steer_service *
find_service_by_id(uint32_t id)
{
    struct steer_service *ss;

    HMAP_FOR_EACH_WITH_HASH (ss, id_node, hash_int(id, 0), &services_by_id) {
        if (ss->id == id) {
            return ss;
        }
    }
    return NULL;
}

bool
steer_pick(uint32_t service_id, long long int now, ovs_be32 *ip,
           uint16_t *port)
{
    struct steer_service *ss = built ? find_service_by_id(service_id) : NULL;

    if (!ss || !ss->svc || ss->decide != CATS_DECIDE_CONNECTION) {
        return false;
    }

    size_t pair = cats_sel_pick_connection(ss->svc, now);
    if (pair == SIZE_MAX) {
        return false;
    }
    size_t idx = cats_sel_pair_instance(ss->svc, pair);
    for (size_t i = 0; i < ss->n_insts; i++) {
        struct steer_inst *si = ss->insts[i];

        if (si->idx == idx) {
            cats_sel_connection_placed(ss->svc, pair, now);
            *ip = si->key.ip;
            *port = si->key.port;
            return true;
        }
    }
    return false;
}

void
steer_ended(uint32_t service_id, ovs_be32 ip, uint16_t port,
            long long int now)
{
    struct steer_service *ss = built ? find_service_by_id(service_id) : NULL;

    if (ss && ss->svc && ss->decide == CATS_DECIDE_CONNECTION) {
        struct cats_report_key k;
        struct steer_inst *si;

        ovs_strlcpy(k.service, ss->name, sizeof k.service);
        k.ip = ip;
        k.port = port;
        si = find_inst(&k);
        if (si) {
            cats_sel_connection_ended(ss->svc, si->idx, now);
        }
    }
}

/* Services with a pair on 'path' are reweighted at the next steer_run(),
 * whenever they last were: a path that enters a storm leaves selection at
 * once, and its bundle goes out in the same main-loop iteration. */
static void
mark_urgent(size_t path)
{
    struct steer_service *ss;

    HMAP_FOR_EACH (ss, node, &services) {
        for (size_t i = 0; ss->svc && i < ss->n_insts; i++) {
            if (ss->insts[i]->path == path) {
                ss->urgent = true;
                break;
            }
        }
    }
}

void
steer_telemetry(const struct cats_report_telemetry *t, long long int now)
{
    bool any = false;

    if (!built || shash_is_empty(&paths)) {
        return;
    }
    for (size_t i = 0; i < t->n_links; i++) {
        const struct cats_report_link *l = &t->links[i];
        struct shash_node *node = shash_find(&paths, l->id);

        if (node) {
            size_t path = (uintptr_t) node->data - 1;
            bool was_storm = cats_sel_path_is_storm(sel, path);
            int error = cats_sel_path_report(sel, path, l, t->counters_epoch,
                                             now);
            if (error) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
                VLOG_INFO_RL(&rl, "path %s: telemetry from %s not used "
                             "(%s)", l->id, t->source_id,
                             ovs_strerror(error));
            } else if (was_storm != cats_sel_path_is_storm(sel, path)) {
                COVERAGE_INC(cats_steer_storm_change);
                VLOG_INFO("path %s: %s (telemetry from %s)", l->id,
                          was_storm ? "storm over" : "pause storm",
                          t->source_id);
                mark_urgent(path);
            }
            any = true;
        }
    }
    if (any) {
        struct steer_service *ss;

        HMAP_FOR_EACH (ss, node, &services) {
            if (ss->svc) {
                ss->dirty = true;
            }
        }
    }
}

/* The weight in use of a service that keeps its configured weights: the
 * configured one, or 0 when its agent says it is out of selection. */
static void
apply_configured(struct cats_catalog *cat, struct steer_service *ss,
                 const struct cats_metrics_store *store, long long int now)
{
    for (size_t i = 0; i < ss->n_insts; i++) {
        struct steer_inst *si = ss->insts[i];
        const struct cats_metrics_instance *m;
        uint16_t w = si->ci->base_weight;

        if (ss->has_agents) {
            m = cats_metrics_find(store, si->key.service, si->key.ip,
                                  si->key.port);
            if (m && !cats_metrics_is_selectable(m, now)) {
                w = 0;
            }
        }
        cats_instance_set_effective_weight(cat, si->ci, w);
    }
}

static void
apply_selector(struct cats_catalog *cat, struct steer_service *ss)
{
    for (size_t i = 0; i < ss->n_insts; i++) {
        struct steer_inst *si = ss->insts[i];

        cats_instance_set_effective_weight(
            cat, si->ci, cats_sel_weight(ss->svc, si->pair));
    }
}

void
steer_run(struct cats_catalog *cat, const struct cats_metrics_store *store,
          long long int now)
{
    struct steer_service *ss;
    bool periodic;

    if (!built || cat->membership_seqno != built_membership
        || store_signature(store) != built_store_sig) {
        rebuild(cat, store, now);
    }
    periodic = now >= next_periodic;
    if (periodic) {
        next_periodic = now + PERIODIC_INTERVAL_MS;
    }

    HMAP_FOR_EACH (ss, node, &services) {
        if (!ss->svc) {
            /* Configured weights: on catalog changes, and in time for
             * leases running out. */
            if (seen_catalog_seqno != cat->seqno
                || (ss->has_agents && (periodic || ss->dirty))) {
                apply_configured(cat, ss, store, now);
            }
            ss->dirty = false;
            continue;
        }
        if (periodic) {
            /* Leases run out between reports. */
            for (size_t i = 0; i < ss->n_insts; i++) {
                struct steer_inst *si = ss->insts[i];
                const struct cats_metrics_instance *m;
                bool ok;

                m = cats_metrics_find(store, si->key.service, si->key.ip,
                                      si->key.port);
                ok = !m || cats_metrics_is_selectable(m, now);
                if (ok != si->selectable) {
                    si->selectable = ok;
                    cats_sel_instance_set_selectable(ss->svc, si->idx, ok);
                }
            }
        }
        if (periodic || ss->urgent
            || (ss->dirty && now - ss->last_reweight >= DIRTY_INTERVAL_MS)) {
            COVERAGE_INC(cats_steer_reweight);
            cats_sel_reweight(ss->svc, now);
            ss->last_reweight = now;
            ss->dirty = ss->urgent = false;
            apply_selector(cat, ss);
        }
    }
    /* Our own weight changes bump the catalog's seqno too: what we saw
     * is after them. */
    seen_catalog_seqno = cat->seqno;
}

long long int
steer_next_wake(void)
{
    long long int wake = LLONG_MAX;
    struct steer_service *ss;

    if (!built) {
        return wake;
    }
    HMAP_FOR_EACH (ss, node, &services) {
        if (ss->svc || ss->has_agents) {
            wake = MIN(wake, next_periodic);
            if (ss->dirty) {
                wake = MIN(wake, ss->last_reweight + DIRTY_INTERVAL_MS);
            }
        }
    }
    return wake;
}

/* ovs-appctl. */

static void
cmd_explain(struct unixctl_conn *conn, int argc OVS_UNUSED,
            const char *argv[], void *aux OVS_UNUSED)
{
    struct steer_service *ss = built ? find_service(argv[1]) : NULL;
    struct ds out = DS_EMPTY_INITIALIZER;

    if (!ss) {
        unixctl_command_reply_error(conn, "no such service");
        return;
    }
    ds_put_format(&out, "service %s policy=%s decide=%s%s\n", ss->name,
                  cats_policy_name(ss->policy), cats_decide_name(ss->decide),
                  (ss->decide == CATS_DECIDE_CONNECTION && !ss->svc
                   ? " (no agent reports: the group decides)" : ""));
    if (!ss->svc) {
        ds_put_format(&out, "weights: configured (%s)\n",
                      ss->policy == CATS_POLICY_STATIC ? "policy static"
                      : "no agent reports on its instances");
        for (size_t i = 0; i < ss->n_insts; i++) {
            const struct steer_inst *si = ss->insts[i];

            ds_put_format(&out, "  "IP_FMT":%"PRIu16" weight=%"PRIu16
                          " configured=%"PRIu16"\n", IP_ARGS(si->key.ip),
                          si->key.port, si->ci->weight,
                          si->ci->base_weight);
        }
    } else {
        cats_sel_explain_format(ss->svc, 0, &out);
        if (!shash_is_empty(&paths)) {
            ds_put_cstr(&out, "paths:\n");
            cats_sel_paths_format(sel, &out);
        }
    }
    unixctl_command_reply(conn, ds_cstr(&out));
    ds_destroy(&out);
}

void
steer_register_commands(void)
{
    unixctl_command_register("cats/explain", "SERVICE", 1, 1, cmd_explain,
                             NULL);
}

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
#include "flow.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_steer);

COVERAGE_DEFINE(cats_steer_reweight);
COVERAGE_DEFINE(cats_steer_rebuild);
COVERAGE_DEFINE(cats_steer_reroute);
COVERAGE_DEFINE(cats_steer_storm_change);

/* A service whose reports changed is reweighted at most this often, or at
 * once when a path enters or leaves a storm; every selecting service at
 * least this often (damping converges, storms restore, leases run out
 * between reports). */
#define DIRTY_INTERVAL_MS 50
#define PERIODIC_INTERVAL_MS 250

/* Paths whose links one telemetry report may describe: each is fed one
 * aggregated sample per report (beyond that, one per link). */
#define MAX_PATHS_PER_REPORT 16

/* A catalog path (cats/catalog.h): one selector path, fed by the
 * telemetry of its links.  Kept across rebuilds, by name, with what its
 * links last said. */
struct steer_path {
    struct hmap_node node;              /* In 'cpaths', by name. */
    char *name;
    struct cats_path *cp;               /* Valid while the catalog's
                                         * membership is as built. */
    size_t sel_path;                    /* Selector path. */
    size_t n_links;
    char *links[CATS_PATH_MAX_LINKS];
    bool has_link[CATS_PATH_MAX_LINKS]; /* A sample of link i came. */
    uint64_t link_epoch[CATS_PATH_MAX_LINKS];
    struct cats_report_link link[CATS_PATH_MAX_LINKS];
    bool has_sample;                    /* 'sample' is set. */
    struct cats_report_link sample;     /* The last one fed, aggregated. */
    uint64_t sample_epoch;
    long long int last_sample;          /* Of a link; LLONG_MIN: none. */
    bool dead;                          /* Silent past the lease: a storm
                                         * was fed. */
    bool seen;                          /* Still in the catalog (rebuild). */
    bool no_carrier;                    /* Down with no other path: told. */
    uint64_t n_reroutes, n_dead;
};

/* One service as the clients at one site see it: a selector service. */
struct steer_view {
    struct steer_service *ss;
    const struct cats_site *site;       /* NULL: no sites declared. */
    struct cats_sel_service *svc;       /* NULL: configured weights. */
    struct steer_pair *pairs;           /* In selector pair order. */
    size_t n_pairs;
};

/* A pair of a view: an instance over a catalog path, or local (its
 * 'path=' link, if any, is the selector path then). */
struct steer_pair {
    struct steer_inst *si;
    struct steer_path *path;            /* NULL: local. */
    size_t pair;                        /* Selector pair (if 'svc'). */
};

struct steer_inst {
    struct hmap_node node;              /* In 'instances', by key. */
    struct cats_report_key key;
    struct steer_service *ss;
    struct cats_instance *ci;           /* Valid while the catalog's
                                         * membership is as built. */
    bool selectable;                    /* As last told to the selector. */
    double in_flight;                   /* As last reported (0: none). */
    char key_name[64];                  /* "IP:PORT", its selector name. */
    uint32_t capacity;                  /* As registered (0: none). */
    size_t *idx;                        /* Selector instance per view of
                                         * 'ss', SIZE_MAX: not in it. */
    bool *has_count;                    /* Per view: 'count' is a
                                         * baseline. */
    uint64_t *count;                    /* Per view: new connections,
                                         * cumulative. */
};

struct steer_service {
    struct hmap_node node;              /* In 'services', by name. */
    struct hmap_node id_node;           /* In 'services_by_id'. */
    char *name;
    uint32_t id;                        /* Catalog service id. */
    enum cats_policy policy;
    enum cats_decide decide;
    bool has_agents;                    /* Some instance is registered. */
    bool selecting;                     /* The views have selectors. */
    struct steer_view *views;           /* One per site (one if none). */
    size_t n_views;
    struct steer_inst **insts;
    size_t n_insts;
    bool dirty;
    long long int last_reweight;
};

static struct cats_selector *sel;
static double conn_wait_factor = CATS_SEL_CONN_WAIT_FACTOR;
static enum steer_path_policy path_policy = STEER_PATH_JOINT;
static struct hmap services = HMAP_INITIALIZER(&services);
static struct hmap services_by_id = HMAP_INITIALIZER(&services_by_id);
static struct hmap instances = HMAP_INITIALIZER(&instances);
static struct shash paths = SHASH_INITIALIZER(&paths);  /* Name -> idx+1:
                                                         * 'path=' links. */
static struct hmap cpaths = HMAP_INITIALIZER(&cpaths);  /* steer_path. */
static struct shash path_links = SHASH_INITIALIZER(&path_links);
                                        /* Link id -> steer_path. */
static bool built;
static bool paths_changed;              /* A path's storm state moved. */
static uint64_t built_membership;
static uint64_t built_store_sig;
static uint64_t seen_catalog_seqno;
static long long int next_periodic;
static uint64_t n_rebuilds;
static uint64_t n_reroutes;
static long long int lease_ms = LLONG_MAX;  /* The store's, for telemetry. */

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
        free(si->idx);
        free(si->has_count);
        free(si->count);
        free(si);
    }
    hmap_clear(&services_by_id);
    HMAP_FOR_EACH_POP (ss, node, &services) {
        for (size_t i = 0; i < ss->n_views; i++) {
            free(ss->views[i].pairs);
        }
        free(ss->views);
        free(ss->insts);
        free(ss->name);
        free(ss);
    }
    shash_clear(&paths);
    shash_clear(&path_links);
    cats_sel_destroy(sel);
    sel = NULL;
    built = false;
}

static void
steer_path_destroy(struct steer_path *sp)
{
    for (size_t i = 0; i < sp->n_links; i++) {
        free(sp->links[i]);
    }
    free(sp->name);
    free(sp);
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

static const char *const path_policy_names[] = {
    [STEER_PATH_JOINT] = "joint",
    [STEER_PATH_ECMP] = "ecmp",
    [STEER_PATH_NEAREST] = "nearest",
    [STEER_PATH_LOWEST_DELAY] = "lowest-delay",
};

const char *
steer_path_policy_name(enum steer_path_policy p)
{
    return (size_t) p < ARRAY_SIZE(path_policy_names)
           ? path_policy_names[p] : "unknown";
}

bool
steer_path_policy_from_string(const char *name, enum steer_path_policy *p)
{
    for (size_t i = 0; i < ARRAY_SIZE(path_policy_names); i++) {
        if (!strcmp(name, path_policy_names[i])) {
            *p = i;
            return true;
        }
    }
    return false;
}

void
steer_set_path_policy(enum steer_path_policy p)
{
    path_policy = p;
}

enum steer_path_policy
steer_get_path_policy(void)
{
    return path_policy;
}

void
steer_destroy(void)
{
    struct steer_path *sp;

    clear();
    HMAP_FOR_EACH_POP (sp, node, &cpaths) {
        steer_path_destroy(sp);
    }
    hmap_destroy(&cpaths);
    hmap_destroy(&services);
    hmap_destroy(&services_by_id);
    hmap_destroy(&instances);
    shash_destroy(&paths);
    shash_destroy(&path_links);
    /* Usable again (the unit tests start over). */
    hmap_init(&cpaths);
    hmap_init(&services);
    hmap_init(&services_by_id);
    hmap_init(&instances);
    shash_init(&paths);
    shash_init(&path_links);
    next_periodic = 0;
    n_reroutes = 0;
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

static struct steer_path *
find_cpath(const char *name)
{
    struct steer_path *sp;

    HMAP_FOR_EACH_WITH_HASH (sp, node, hash_string(name, 0), &cpaths) {
        if (!strcmp(sp->name, name)) {
            return sp;
        }
    }
    return NULL;
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
    si->in_flight = 0;
    if (cats_metric_values_has(v, CATS_METRIC_IN_FLIGHT)) {
        r.has_in_flight = true;
        r.in_flight = si->in_flight = v->value[CATS_METRIC_IN_FLIGHT];
    }
    if (cats_metric_values_has(v, CATS_METRIC_QUEUE)) {
        r.has_queue = true;
        r.queue = v->value[CATS_METRIC_QUEUE];
    }
    if (cats_metric_values_has(v, CATS_METRIC_LATENCY)) {
        r.has_latency = true;
        r.latency_ms = v->value[CATS_METRIC_LATENCY];
    }
    for (size_t i = 0; i < si->ss->n_views; i++) {
        if (si->idx[i] != SIZE_MAX
            && cats_sel_instance_report(si->ss->views[i].svc, si->idx[i],
                                        &r)) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

            /* The store validated every value: not expected. */
            VLOG_WARN_RL(&rl, "%s: selector refused a report",
                         si->key.service);
        }
    }
    si->selectable = r.selectable;
    si->ss->dirty = true;
}

static void
set_selectable(struct steer_inst *si, bool ok)
{
    si->selectable = ok;
    for (size_t i = 0; i < si->ss->n_views; i++) {
        if (si->idx[i] != SIZE_MAX) {
            cats_sel_instance_set_selectable(si->ss->views[i].svc,
                                             si->idx[i], ok);
        }
    }
}

static uint64_t
store_signature(const struct cats_metrics_store *store)
{
    return hash_2words(store->n_registrations, store->n_forgotten);
}

/* Catalog paths. */

/* Feeds 'sp''s selector path with what its links last said, as one link:
 * counters summed over them (their deltas stay deltas), gauges at their
 * worst (queue, RTT, the current pause), the lowest speed; a new epoch
 * whenever a link's epoch changes or a link appears. */
static void
cpath_feed(struct steer_path *sp, long long int now)
{
    struct cats_report_link *agg = &sp->sample;
    uint64_t epoch = 0;

    memset(agg, 0, sizeof *agg);
    ovs_strlcpy(agg->id, sp->name, sizeof agg->id);
    agg->kind = CATS_LINK_KIND_PATH;
    for (size_t i = 0; i < sp->n_links; i++) {
        const struct cats_report_link *l = &sp->link[i];

        if (!sp->has_link[i]) {
            continue;
        }
        epoch = hash_2words(hash_uint64(sp->link_epoch[i]),
                            epoch + i + 1);
        agg->tx_packets += l->tx_packets;
        agg->tx_bytes += l->tx_bytes;
        agg->ecn_marked_packets += l->ecn_marked_packets;
        agg->drops += l->drops;
        if (l->has_queue_depth) {
            agg->has_queue_depth = true;
            agg->queue_depth_bytes = MAX(agg->queue_depth_bytes,
                                         l->queue_depth_bytes);
        }
        if (l->has_rtt) {
            agg->has_rtt = true;
            agg->rtt_us = MAX(agg->rtt_us, l->rtt_us);
        }
        if (l->speed_bps && (!agg->speed_bps || l->speed_bps
                                                 < agg->speed_bps)) {
            agg->speed_bps = l->speed_bps;
        }
        for (size_t j = 0; j < l->n_pfc; j++) {
            const struct cats_report_pfc *src = &l->pfc[j];
            struct cats_report_pfc *dst = NULL;

            for (size_t k = 0; k < agg->n_pfc; k++) {
                if (agg->pfc[k].priority == src->priority) {
                    dst = &agg->pfc[k];
                }
            }
            if (!dst) {
                if (agg->n_pfc >= CATS_PFC_PRIORITIES) {
                    continue;
                }
                dst = &agg->pfc[agg->n_pfc++];
                dst->priority = src->priority;
            }
            dst->rx_pause_frames += src->rx_pause_frames;
            dst->tx_pause_frames += src->tx_pause_frames;
            dst->rx_pause_us += src->rx_pause_us;
            dst->tx_pause_us += src->tx_pause_us;
            dst->paused_for_us = MAX(dst->paused_for_us, src->paused_for_us);
        }
    }
    sp->sample_epoch = epoch;
    sp->has_sample = true;
    if (cats_sel_path_report(sel, sp->sel_path, agg, epoch, now)) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        VLOG_INFO_RL(&rl, "path %s: telemetry not used", sp->name);
    }
}

/* A path whose telemetry stopped for a lease (its gateway gone) is taken
 * for a pause storm: its last sample again, paused since then. */
static void
cpath_feed_dead(struct steer_path *sp, long long int now)
{
    const struct cats_sel_config *cfg = cats_sel_get_config(sel);
    struct cats_report_link l = sp->sample;
    uint64_t paused_us = MAX(now - sp->last_sample,
                             (long long int) cfg->watchdog_ms) * 1000ULL;

    if (!l.n_pfc) {
        uint8_t prio = 0;

        while (prio < 7 && !(cfg->pfc_priorities & (1u << prio))) {
            prio++;
        }
        l.n_pfc = 1;
        l.pfc[0] = (struct cats_report_pfc) { .priority = prio };
    }
    for (size_t i = 0; i < l.n_pfc; i++) {
        l.pfc[i].paused_for_us = paused_us;
    }
    ignore(cats_sel_path_report(sel, sp->sel_path, &l, sp->sample_epoch,
                                now));
}

/* Makes 'sp' the steer path of catalog path 'cp' in the new selector. */
static void
cpath_build(struct cats_path *cp, long long int now)
{
    struct steer_path *sp = find_cpath(cp->name);
    bool same_links = sp && sp->n_links == cp->n_links;

    for (size_t i = 0; same_links && i < cp->n_links; i++) {
        same_links = !strcmp(sp->links[i], cp->links[i]);
    }
    if (sp && !same_links) {
        hmap_remove(&cpaths, &sp->node);
        steer_path_destroy(sp);
        sp = NULL;
    }
    if (!sp) {
        sp = xzalloc(sizeof *sp);
        sp->name = xstrdup(cp->name);
        sp->n_links = MIN(cp->n_links, CATS_PATH_MAX_LINKS);
        for (size_t i = 0; i < sp->n_links; i++) {
            sp->links[i] = xstrdup(cp->links[i]);
        }
        sp->last_sample = LLONG_MIN;
        hmap_insert(&cpaths, &sp->node, hash_string(sp->name, 0));
    }
    sp->cp = cp;
    sp->seen = true;
    sp->sel_path = cats_sel_path_add(sel, cp->name, 2.0 * cp->delay_ms);
    for (size_t i = 0; i < sp->n_links; i++) {
        if (!shash_find(&path_links, sp->links[i])) {
            shash_add(&path_links, sp->links[i], sp);
        } else {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

            VLOG_WARN_RL(&rl, "path %s: link %s already describes another "
                         "path; its telemetry goes to that one", cp->name,
                         sp->links[i]);
        }
    }
    /* The new selector starts from the last word: a storm still on (or
     * a silent gateway) stays one. */
    if (sp->has_sample) {
        ignore(cats_sel_path_report(sel, sp->sel_path, &sp->sample,
                                    sp->sample_epoch, now));
        if (sp->dead) {
            cpath_feed_dead(sp, now);
        }
    }
}

/* Does catalog path 'cp' join sites 'a' and 'b'? */
static bool
cpath_joins(const struct cats_path *cp, const struct cats_site *a,
            const struct cats_site *b)
{
    return ((cp->site[0] == a && cp->site[1] == b)
            || (cp->site[0] == b && cp->site[1] == a));
}

static size_t
view_add_pair(struct steer_view *v, struct steer_inst *si,
              struct steer_path *path, size_t idx, size_t *allocated)
{
    if (v->n_pairs >= *allocated) {
        v->pairs = x2nrealloc(v->pairs, allocated, sizeof *v->pairs);
    }
    struct steer_pair *p = &v->pairs[v->n_pairs++];
    p->si = si;
    p->path = path;
    p->pair = 0;
    if (v->svc) {
        size_t sel_path = (path ? path->sel_path
                           : si->ci->path ? path_index(si->ci->path)
                           : CATS_SEL_LOCAL);

        p->pair = cats_sel_pair_add(v->svc, idx, sel_path);
        ovs_assert(p->pair == v->n_pairs - 1);
    }
    return v->n_pairs - 1;
}

/* Adds to 'ss' its views: one per site (or one, site NULL), each with
 * its pairs. */
static void
build_views(const struct cats_catalog *cat, struct steer_service *ss,
            struct cats_site **sites,
            size_t n_sites, struct steer_path **sps, size_t n_sps,
            const struct cats_metrics_store *store, long long int now)
{
    ss->n_views = MAX(n_sites, 1);
    ss->views = xcalloc(ss->n_views, sizeof *ss->views);
    for (size_t j = 0; j < ss->n_insts; j++) {
        struct steer_inst *si = ss->insts[j];

        si->idx = xmalloc(ss->n_views * sizeof *si->idx);
        si->has_count = xcalloc(ss->n_views, sizeof *si->has_count);
        si->count = xcalloc(ss->n_views, sizeof *si->count);
    }
    for (size_t v = 0; v < ss->n_views; v++) {
        struct steer_view *view = &ss->views[v];
        const struct cats_site *here = n_sites ? sites[v] : NULL;
        size_t allocated = 0;

        view->ss = ss;
        view->site = here;
        if (ss->selecting) {
            char name[CATS_NAME_MAX * 2 + 2];

            if (here) {
                snprintf(name, sizeof name, "%s@%s", ss->name, here->name);
            } else {
                ovs_strlcpy(name, ss->name, sizeof name);
            }
            view->svc = cats_sel_service_add(sel, name,
                                             sel_policy(ss->policy));
        }
        for (size_t j = 0; j < ss->n_insts; j++) {
            struct steer_inst *si = ss->insts[j];
            const struct cats_site *there = (here ? cats_instance_site(cat,
                                                                       si->ci)
                                             : NULL);
            size_t idx = SIZE_MAX;

            si->idx[v] = SIZE_MAX;
            /* A remote instance without a MAC has no pairs in the
             * model either (the client's site cannot ARP for it). */
            for (size_t k = 0; there != here && si->ci->has_mac && k < n_sps;
                 k++) {
                if (!cpath_joins(sps[k]->cp, here, there)) {
                    continue;
                }
                if (idx == SIZE_MAX) {
                    idx = si->idx[v] = (view->svc
                                        ? cats_sel_instance_add(
                                              view->svc, si->key_name,
                                              si->capacity,
                                              si->ci->base_weight)
                                        : 0);
                }
                view_add_pair(view, si, sps[k], idx, &allocated);
            }
            if (there == here) {
                idx = si->idx[v] = (view->svc
                                    ? cats_sel_instance_add(
                                          view->svc, si->key_name,
                                          si->capacity, si->ci->base_weight)
                                    : 0);
                view_add_pair(view, si, NULL, idx, &allocated);
            }
        }
    }
    for (size_t j = 0; j < ss->n_insts; j++) {
        struct steer_inst *si = ss->insts[j];
        const struct cats_metrics_instance *m;

        if (!ss->selecting) {
            continue;
        }
        m = cats_metrics_find(store, ss->name, si->key.ip, si->key.port);
        if (m && m->has_sample) {
            feed(si, m, now);
        } else if (m) {
            set_selectable(si, cats_metrics_is_selectable(m, now));
        }
    }
}

static void
rebuild(struct cats_catalog *cat, const struct cats_metrics_store *store,
        long long int now)
{
    struct cats_site **sites;
    struct cats_service **svcs;
    struct cats_path **cps;
    struct steer_path **sps, *sp;
    size_t n_svcs, n_sites, n_cps;

    clear();
    COVERAGE_INC(cats_steer_rebuild);
    n_rebuilds++;
    struct cats_sel_config cfg;
    cats_sel_config_init(&cfg);
    cfg.conn_wait_factor = conn_wait_factor;
    sel = cats_sel_create(&cfg);

    /* Catalog paths first: their selector paths, kept state. */
    HMAP_FOR_EACH (sp, node, &cpaths) {
        sp->seen = false;
        sp->cp = NULL;
    }
    cps = cats_catalog_sorted_paths(cat, &n_cps);
    sps = xcalloc(n_cps ? n_cps : 1, sizeof *sps);
    for (size_t i = 0; i < n_cps; i++) {
        cpath_build(cps[i], now);
        sps[i] = find_cpath(cps[i]->name);
    }
    HMAP_FOR_EACH_SAFE (sp, node, &cpaths) {
        if (!sp->seen) {
            hmap_remove(&cpaths, &sp->node);
            steer_path_destroy(sp);
        }
    }
    sites = cats_catalog_sorted_sites(cat, &n_sites);

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
            snprintf(si->key_name, sizeof si->key_name, IP_FMT":%"PRIu16,
                     IP_ARGS(ci->ip), ci->port);
            m = cats_metrics_find(store, s->name, ci->ip, ci->port);
            si->capacity = m ? m->capacity : 0;
            if (m) {
                ss->has_agents = true;
            }
            hmap_insert(&instances, &si->node,
                        key_hash(s->name, ci->ip, ci->port));
            ss->insts[j] = si;
        }
        ss->selecting = ss->has_agents && s->policy != CATS_POLICY_STATIC;
        build_views(cat, ss, sites, n_sites, sps, n_cps, store, now);
        ss->dirty = true;
        free(insts);
    }
    free(svcs);
    free(sps);
    free(cps);
    free(sites);
    built = true;
    paths_changed = true;
    built_membership = cat->membership_seqno;
    built_store_sig = store_signature(store);
    seen_catalog_seqno = 0;     /* Configured weights: one full pass. */
}

void
steer_instance_report(const struct cats_metrics_instance *m,
                      long long int now)
{
    struct steer_inst *si = built ? find_inst(&m->key) : NULL;

    if (si && si->ss->selecting) {
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
        if (!ss->selecting) {
            continue;
        }
        for (size_t v = 0; v < ss->n_views; v++) {
            for (size_t i = 0; i < ss->n_insts; i++) {
                struct steer_inst *si = ss->insts[i];
                uint64_t count, delta = 0;

                if (si->idx[v] == SIZE_MAX
                    || !count_fn(si->ci, ss->views[v].site, &count)) {
                    continue;
                }
                if (si->has_count[v] && count >= si->count[v]) {
                    delta = count - si->count[v];
                }
                /* A count that went down (a flow re-added, a switch gone)
                 * restarts from here; the first one is the baseline (the
                 * selector ignores its first call too). */
                si->count[v] = count;
                si->has_count[v] = true;
                cats_sel_instance_sent(ss->views[v].svc, si->idx[v], delta,
                                       now);
            }
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

/* The view of 'ss' for clients at 'site' (NULL: the only one). */
static struct steer_view *
find_view(struct steer_service *ss, const struct cats_site *site)
{
    for (size_t v = 0; v < ss->n_views; v++) {
        if (ss->views[v].site == site || (!site && ss->n_views == 1)) {
            return &ss->views[v];
        }
    }
    return NULL;
}

bool
steer_pick(uint32_t service_id, const struct cats_site *site,
           long long int now, ovs_be32 *ip, uint16_t *port,
           uint32_t *path_id)
{
    struct steer_service *ss = built ? find_service_by_id(service_id) : NULL;
    struct steer_view *view;

    if (!ss || !ss->selecting || ss->decide != CATS_DECIDE_CONNECTION
        || path_policy != STEER_PATH_JOINT
        || !(view = find_view(ss, site))) {
        return false;
    }

    size_t pair = cats_sel_pick_connection(view->svc, now);
    if (pair == SIZE_MAX || pair >= view->n_pairs) {
        return false;
    }
    const struct steer_pair *p = &view->pairs[pair];
    cats_sel_connection_placed(view->svc, pair, now);
    *ip = p->si->key.ip;
    *port = p->si->key.port;
    *path_id = p->path ? p->path->cp->id : 0;
    return true;
}

void
steer_ended(uint32_t service_id, const struct cats_site *site, ovs_be32 ip,
            uint16_t port, long long int now)
{
    struct steer_service *ss = built ? find_service_by_id(service_id) : NULL;
    struct steer_view *view;

    if (ss && ss->selecting && ss->decide == CATS_DECIDE_CONNECTION
        && (view = find_view(ss, site))) {
        struct cats_report_key k;
        struct steer_inst *si;
        size_t v = view - ss->views;

        ovs_strlcpy(k.service, ss->name, sizeof k.service);
        k.ip = ip;
        k.port = port;
        si = find_inst(&k);
        if (si && si->idx[v] != SIZE_MAX) {
            cats_sel_connection_ended(view->svc, si->idx[v], now);
        }
    }
}

static bool
sel_path_storm(size_t sel_path)
{
    return cats_sel_path_is_storm(sel, sel_path);
}

void
steer_telemetry(const struct cats_report_telemetry *t, long long int now)
{
    struct steer_path *fed[MAX_PATHS_PER_REPORT];
    size_t n_fed = 0;
    bool any = false;

    if (!built || (shash_is_empty(&paths) && shash_is_empty(&path_links))) {
        return;
    }
    for (size_t i = 0; i < t->n_links; i++) {
        const struct cats_report_link *l = &t->links[i];
        struct shash_node *node = shash_find(&paths, l->id);
        struct steer_path *sp = shash_find_data(&path_links, l->id);

        if (node) {
            size_t path = (uintptr_t) node->data - 1;
            bool was_storm = sel_path_storm(path);
            int error = cats_sel_path_report(sel, path, l, t->counters_epoch,
                                             now);
            if (error) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
                VLOG_INFO_RL(&rl, "path %s: telemetry from %s not used "
                             "(%s)", l->id, t->source_id,
                             ovs_strerror(error));
            } else if (was_storm != sel_path_storm(path)) {
                /* A storm starts or ends: its services are reweighted in
                 * this main-loop iteration, not after DIRTY_INTERVAL_MS. */
                COVERAGE_INC(cats_steer_storm_change);
                VLOG_INFO("path %s: %s (telemetry from %s)", l->id,
                          was_storm ? "storm over" : "pause storm",
                          t->source_id);
                paths_changed = true;
            }
            any = true;
        }
        if (sp) {
            for (size_t j = 0; j < sp->n_links; j++) {
                if (!strcmp(sp->links[j], l->id)) {
                    sp->link[j] = *l;
                    sp->link_epoch[j] = t->counters_epoch;
                    sp->has_link[j] = true;
                }
            }
            sp->last_sample = now;
            sp->dead = false;
            bool listed = false;
            for (size_t j = 0; j < n_fed; j++) {
                listed = listed || fed[j] == sp;
            }
            if (!listed && n_fed < ARRAY_SIZE(fed)) {
                fed[n_fed++] = sp;
            } else if (!listed) {
                cpath_feed(sp, now);
            }
        }
    }
    /* One aggregated sample per path and report. */
    for (size_t i = 0; i < n_fed; i++) {
        bool storm = sel_path_storm(fed[i]->sel_path);

        cpath_feed(fed[i], now);
        if (storm != sel_path_storm(fed[i]->sel_path)) {
            paths_changed = true;
        }
        any = true;
    }
    if (any) {
        struct steer_service *ss;

        HMAP_FOR_EACH (ss, node, &services) {
            if (ss->selecting) {
                ss->dirty = true;
            }
        }
    }
}

/* Is 'sp' out: in a storm (a silent gateway is one)? */
static bool
cpath_down(const struct steer_path *sp)
{
    return sel_path_storm(sp->sel_path);
}

/* The weight in use of a service that keeps its configured weights: the
 * configured one, or 0 when its agent says it is out of selection; its
 * remote pairs get the same, or 0 over a path that is down. */
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
    for (size_t v = 0; v < ss->n_views; v++) {
        const struct steer_view *view = &ss->views[v];

        for (size_t i = 0; i < view->n_pairs; i++) {
            const struct steer_pair *p = &view->pairs[i];

            if (p->path) {
                cats_instance_set_pair_weight(
                    cat, p->si->ci, p->path->cp->id,
                    cpath_down(p->path) ? 0 : p->si->ci->weight);
            }
        }
    }
}

/* Is 'si' unable to take one more connection: out of selection, or
 * in-flight at its capacity (0 counts as 1)? */
static bool
inst_full(const struct steer_inst *si)
{
    return !si->selectable || si->in_flight >= MAX(si->capacity, 1);
}

/* The pair of lowest declared delay among view->pairs[i..j) (the pairs of
 * one remote instance), then lowest path id. */
static size_t
lowest_delay_pair(const struct steer_view *view, size_t i, size_t j)
{
    size_t best = i;

    for (size_t k = i + 1; k < j; k++) {
        const struct cats_path *a = view->pairs[k].path->cp;
        const struct cats_path *b = view->pairs[best].path->cp;

        if (a->delay_ms < b->delay_ms
            || (a->delay_ms == b->delay_ms && a->id < b->id)) {
            best = k;
        }
    }
    return best;
}

/* The weights of view's pairs under 'path_policy' (not JOINT) into 'w':
 * each instance's share (the sum of its pairs' selector weights) put on
 * its pairs as steer.h says, scaled to fit 16 bits. */
static void
policy_weights(const struct steer_view *view, uint32_t *w)
{
    bool local_open = false;
    uint64_t sum[2] = { 0, 0 };         /* Selector shares: remote, local. */
    uint32_t max = 0;

    for (size_t i = 0; i < view->n_pairs; i++) {
        const struct steer_pair *p = &view->pairs[i];

        w[i] = cats_sel_weight(view->svc, p->pair);
        sum[!p->path] += w[i];
        if (!p->path && !inst_full(p->si)) {
            local_open = true;
        }
    }
    for (size_t i = 0, j; i < view->n_pairs; i = j) {
        const struct steer_pair *p = &view->pairs[i];
        bool local = !p->path;
        uint32_t share = 0;

        for (j = i; j < view->n_pairs && view->pairs[j].si == p->si; j++) {
            share += w[j];
            w[j] = 0;
        }
        if (path_policy == STEER_PATH_NEAREST) {
            if (local != local_open) {
                continue;
            }
            /* The side in use gets the selector's shares, or the
             * configured weights where the selector gave it none. */
            share = sum[local] ? share : p->si->ci->base_weight;
        }
        if (local) {
            w[i] = share;
        } else if (path_policy == STEER_PATH_ECMP) {
            for (size_t k = i; k < j; k++) {
                w[k] = share / (j - i) + (k - i < share % (j - i));
            }
        } else {
            w[lowest_delay_pair(view, i, j)] = share;
        }
    }
    for (size_t i = 0; i < view->n_pairs; i++) {
        max = MAX(max, w[i]);
    }
    for (size_t i = 0; max > UINT16_MAX && i < view->n_pairs; i++) {
        w[i] = (uint64_t) w[i] * UINT16_MAX / max;
    }
}

static void
apply_selector(struct cats_catalog *cat, struct steer_view *view)
{
    bool policy = path_policy != STEER_PATH_JOINT && view->site;
    uint32_t *pw = policy ? xmalloc(view->n_pairs * sizeof *pw + 1) : NULL;

    if (policy) {
        policy_weights(view, pw);
    }
    for (size_t i = 0; i < view->n_pairs; i++) {
        const struct steer_pair *p = &view->pairs[i];
        uint16_t w = pw ? pw[i] : cats_sel_weight(view->svc, p->pair);

        if (p->path) {
            cats_instance_set_pair_weight(cat, p->si->ci, p->path->cp->id,
                                          w);
        } else {
            cats_instance_set_effective_weight(cat, p->si->ci, w);
        }
    }
    free(pw);
}

static void
reweight(struct cats_catalog *cat, struct steer_service *ss,
         long long int now)
{
    COVERAGE_INC(cats_steer_reweight);
    for (size_t v = 0; v < ss->n_views; v++) {
        cats_sel_reweight(ss->views[v].svc, now);
        apply_selector(cat, &ss->views[v]);
    }
    ss->last_reweight = now;
    ss->dirty = false;
}

/* The best healthy path joining the same two sites as 'sp', other than
 * it: its current carrier if that one is still healthy (no flapping
 * between two good ones), else the one of lowest cost. */
static struct steer_path *
cpath_best_carrier(const struct steer_path *sp)
{
    struct steer_path *best = NULL, *q;
    double best_cost = 0;

    HMAP_FOR_EACH (q, node, &cpaths) {
        struct cats_sel_path_info info;

        if (q == sp || !q->cp || cpath_down(q)
            || !cpath_joins(q->cp, sp->cp->site[0], sp->cp->site[1])) {
            continue;
        }
        if (q->cp->id == sp->cp->carrier) {
            return q;
        }
        cats_sel_path_get(sel, q->sel_path, &info);
        if (!best || info.net_ms < best_cost
            || (info.net_ms == best_cost && q->cp->id < best->cp->id)) {
            best = q;
            best_cost = info.net_ms;
        }
    }
    return best;
}

/* Silent paths become storms; a path that is down gets a carrier, one
 * that is clean again carries its own connections.  Returns true if a
 * path went down or came back. */
static bool
cpaths_run(struct cats_catalog *cat, long long int now)
{
    struct steer_path *sp;
    bool changed = false;

    HMAP_FOR_EACH (sp, node, &cpaths) {
        if (!sp->cp) {
            continue;
        }
        if (sp->has_sample && !sp->dead
            && now - sp->last_sample >= lease_ms) {
            bool storm = cpath_down(sp);

            sp->dead = true;
            sp->n_dead++;
            cpath_feed_dead(sp, now);
            VLOG_INFO("path %s: no telemetry for %lld ms, taken for a "
                      "storm", sp->name, now - sp->last_sample);
            changed = changed || storm != cpath_down(sp);
        }

        uint32_t own = sp->cp->id;
        uint32_t carrier = sp->cp->carrier ? sp->cp->carrier : own;
        uint32_t want = own;
        const char *why = sp->dead ? "dead" : "storm";

        if (cpath_down(sp)) {
            struct steer_path *best = cpath_best_carrier(sp);

            if (best) {
                want = best->cp->id;
                if (want != carrier) {
                    VLOG_INFO("path %s: %s, its connections over %s",
                              sp->name, why, best->name);
                }
            } else if (carrier == own && !sp->no_carrier) {
                VLOG_INFO("path %s: %s, and no other path joins its sites",
                          sp->name, why);
            }
            sp->no_carrier = !best;
        } else {
            sp->no_carrier = false;
            if (carrier != own) {
                VLOG_INFO("path %s: clean, its connections back on it",
                          sp->name);
            }
        }
        if (want != carrier) {
            if (want != own) {
                sp->n_reroutes++;
                n_reroutes++;
                COVERAGE_INC(cats_steer_reroute);
            }
            if (cats_path_set_carrier(cat, sp->cp, want)) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

                VLOG_WARN_RL(&rl, "path %s: carrier %"PRIu32" refused",
                             sp->name, want);
            }
            changed = true;
        }
    }
    return changed;
}

void
steer_run(struct cats_catalog *cat, const struct cats_metrics_store *store,
          long long int now)
{
    struct steer_service *ss;
    bool periodic;

    lease_ms = store->cfg.lease_ms;
    if (!built || cat->membership_seqno != built_membership
        || store_signature(store) != built_store_sig) {
        rebuild(cat, store, now);
    }
    periodic = now >= next_periodic;
    if (periodic) {
        next_periodic = now + PERIODIC_INTERVAL_MS;
    }

    /* A path that went down or came back: its reroute and the eviction
     * of its pairs go out now, with the report that showed it (one
     * bundle), not after DIRTY_INTERVAL_MS. */
    bool urgent = cpaths_run(cat, now) || paths_changed;
    paths_changed = false;

    HMAP_FOR_EACH (ss, node, &services) {
        if (!ss->selecting) {
            /* Configured weights: on catalog changes, and in time for
             * leases running out. */
            if (seen_catalog_seqno != cat->seqno || urgent
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
                    set_selectable(si, ok);
                }
            }
        }
        if (periodic || urgent
            || (ss->dirty && now - ss->last_reweight >= DIRTY_INTERVAL_MS)) {
            reweight(cat, ss, now);
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
    struct steer_path *sp;

    if (!built) {
        return wake;
    }
    HMAP_FOR_EACH (ss, node, &services) {
        if (ss->selecting || ss->has_agents) {
            wake = MIN(wake, next_periodic);
            if (ss->dirty) {
                wake = MIN(wake, ss->last_reweight + DIRTY_INTERVAL_MS);
            }
        }
    }
    HMAP_FOR_EACH (sp, node, &cpaths) {
        if (sp->cp && sp->has_sample && !sp->dead) {
            wake = MIN(wake, sp->last_sample + lease_ms);
        }
    }
    return wake;
}

/* ovs-appctl. */

static void
format_configured(const struct steer_service *ss, struct ds *out)
{
    ds_put_format(out, "weights: configured (%s)\n",
                  ss->policy == CATS_POLICY_STATIC ? "policy static"
                  : "no agent reports on its instances");
    for (size_t i = 0; i < ss->n_insts; i++) {
        const struct steer_inst *si = ss->insts[i];

        ds_put_format(out, "  "IP_FMT":%"PRIu16" weight=%"PRIu16
                      " configured=%"PRIu16"\n", IP_ARGS(si->key.ip),
                      si->key.port, si->ci->weight, si->ci->base_weight);
    }
}

static void
cmd_explain(struct unixctl_conn *conn, int argc OVS_UNUSED,
            const char *argv[], void *aux OVS_UNUSED)
{
    char *name = xstrdup(argv[1]);
    char *at = strchr(name, '@');
    struct steer_service *ss;
    struct ds out = DS_EMPTY_INITIALIZER;

    if (at) {
        *at++ = '\0';           /* SERVICE@SITE: that view only. */
    }
    ss = built ? find_service(name) : NULL;
    if (!ss) {
        unixctl_command_reply_error(conn, "no such service");
        free(name);
        return;
    }
    ds_put_format(&out, "service %s policy=%s decide=%s%s\n", ss->name,
                  cats_policy_name(ss->policy), cats_decide_name(ss->decide),
                  (ss->decide == CATS_DECIDE_CONNECTION && !ss->selecting
                   ? " (no agent reports: the group decides)" : ""));
    if (!ss->selecting) {
        format_configured(ss, &out);
    } else {
        for (size_t v = 0; v < ss->n_views; v++) {
            const struct steer_view *view = &ss->views[v];

            if (!at || (view->site && !strcmp(view->site->name, at))) {
                cats_sel_explain_format(view->svc, 0, &out);
            }
        }
        if (!shash_is_empty(&paths) || !hmap_is_empty(&cpaths)) {
            ds_put_cstr(&out, "paths:\n");
            cats_sel_paths_format(sel, &out);
        }
    }
    unixctl_command_reply(conn, ds_cstr(&out));
    ds_destroy(&out);
    free(name);
}

static const char *
cpath_state(const struct steer_path *sp, const struct cats_sel_path_info *i)
{
    if (i->storm) {
        return sp->dead ? "dead" : "storm";
    }
    /* Congested: queueing, marking, pausing or losing enough to show in
     * its cost. */
    return (i->stretch >= 1.05 || i->loss_ms >= 1.0
            || i->delay_ms >= i->base_rtt_ms + 1.0 ? "congested" : "clean");
}

static void
cmd_paths(struct unixctl_conn *conn, int argc OVS_UNUSED,
          const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct ds out = DS_EMPTY_INITIALIZER;
    long long int now = time_msec();
    const struct steer_path *sp;
    struct steer_path **sorted;
    size_t n = 0;

    sorted = xcalloc(hmap_count(&cpaths) + 1, sizeof *sorted);
    HMAP_FOR_EACH (sp, node, &cpaths) {
        if (built && sp->cp) {
            size_t j = n++;

            /* By path id. */
            while (j && sorted[j - 1]->cp->id > sp->cp->id) {
                sorted[j] = sorted[j - 1];
                j--;
            }
            sorted[j] = CONST_CAST(struct steer_path *, sp);
        }
    }
    ds_put_format(&out, "paths: %"PRIuSIZE", reroutes %"PRIu64"\n", n,
                  n_reroutes);
    for (size_t k = 0; k < n; k++) {
        const struct cats_path *cp = sorted[k]->cp;
        struct cats_sel_path_info info;
        struct steer_service *ss;

        sp = sorted[k];
        cats_sel_path_get(sel, sp->sel_path, &info);
        ds_put_format(&out, "path %s id=%"PRIu32" %s:%"PRIu16" %s:%"PRIu16
                      " links=", cp->name, cp->id, cp->site[0]->name,
                      ofp_to_u16(cp->port[0]), cp->site[1]->name,
                      ofp_to_u16(cp->port[1]));
        for (size_t i = 0; i < cp->n_links; i++) {
            ds_put_format(&out, "%s%s", i ? "," : "", cp->links[i]);
        }
        ds_put_format(&out, " state=%s carrier=", cpath_state(sp, &info));
        const struct steer_path *q;
        bool found = false;
        HMAP_FOR_EACH (q, node, &cpaths) {
            if (q->cp && cp->carrier && cp->carrier != cp->id
                && q->cp->id == cp->carrier) {
                ds_put_cstr(&out, q->name);
                found = true;
            }
        }
        if (!found) {
            ds_put_cstr(&out, "itself");
        }
        ds_put_format(&out, " reroutes=%"PRIu64" dead=%"PRIu64"\n",
                      sp->n_reroutes, sp->n_dead);
        ds_put_format(&out, "  net=%.3fms (delay %.3fms x%.3f + loss %.3fms)"
                      " base_rtt=%.3fms ecn_alpha=%.4f pause=%.4f"
                      " drops=%.6f paused_for=%lldms samples=%"PRIu64
                      " storms=%"PRIu64, info.net_ms, info.delay_ms,
                      info.stretch, info.loss_ms, info.base_rtt_ms,
                      info.ecn_alpha, info.pause_frac, info.drop_frac,
                      info.paused_for_ms, info.n_samples, info.n_storms);
        if (sp->last_sample != LLONG_MIN) {
            ds_put_format(&out, " last_telemetry=%lldms ago",
                          now - sp->last_sample);
        } else {
            ds_put_cstr(&out, " last_telemetry=never");
        }
        ds_put_char(&out, '\n');
        HMAP_FOR_EACH (ss, node, &services) {
            for (size_t v = 0; v < ss->n_views; v++) {
                const struct steer_view *view = &ss->views[v];

                for (size_t i = 0; i < view->n_pairs; i++) {
                    const struct steer_pair *p = &view->pairs[i];

                    if (p->path != sp) {
                        continue;
                    }
                    ds_put_format(&out, "  pair %s@%s %s weight=%"PRIu16
                                  "\n", ss->name, view->site->name,
                                  p->si->key_name,
                                  cats_instance_pair_weight(p->si->ci,
                                                            cp->id));
                }
            }
        }
    }
    free(sorted);
    unixctl_command_reply(conn, ds_cstr(&out));
    ds_destroy(&out);
}

void
steer_register_commands(void)
{
    unixctl_command_register("cats/explain", "SERVICE[@SITE]", 1, 1,
                             cmd_explain, NULL);
    unixctl_command_register("cats/paths", "", 0, 0, cmd_paths, NULL);
}

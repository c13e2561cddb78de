/*
 * ovs-cats: the metrics store.  See include/cats/metrics.h.
 */

#include <config.h>

#include "cats/metrics.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "packets.h"
#include "util.h"

void
cats_metrics_config_init(struct cats_metrics_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->lease_ms = CATS_METRICS_LEASE_MS;
    cfg->report_interval_ms = CATS_METRICS_REPORT_INTERVAL_MS;
    cfg->tau_ms = CATS_METRICS_TAU_MS;
    cfg->latency_ref_ms = CATS_METRICS_LATENCY_REF_MS;
    cfg->max_report_rate = 0;
    cfg->max_nodes = CATS_METRICS_MAX_NODES;
    cfg->max_instances = CATS_METRICS_MAX_INSTANCES;
    cfg->forget_ms = 0;
}

const char *
cats_metrics_state_name(enum cats_metrics_state state)
{
    switch (state) {
    case CATS_METRICS_ACTIVE:
        return "active";
    case CATS_METRICS_UNHEALTHY:
        return "unhealthy";
    case CATS_METRICS_EXPIRED:
        return "expired";
    }
    return "unknown";
}

const char *
cats_l1_name(enum cats_l1 c)
{
    switch (c) {
    case CATS_L1_COMPUTING:
        return "computing";
    case CATS_L1_OCCUPANCY:
        return "occupancy";
    case CATS_L1_DELAY:
        return "delay";
    case CATS_N_L1:
        break;
    }
    return "unknown";
}

static uint32_t
node_hash(const char *id)
{
    return hash_string(id, 0);
}

static uint32_t
instance_hash(const char *service, ovs_be32 ip, uint16_t port)
{
    return hash_string(service, hash_2words((OVS_FORCE uint32_t) ip, port));
}

void
cats_metrics_init(struct cats_metrics_store *store,
                  const struct cats_metrics_config *cfg)
{
    memset(store, 0, sizeof *store);
    if (cfg) {
        store->cfg = *cfg;
    } else {
        cats_metrics_config_init(&store->cfg);
    }

    /* Make the configuration sane rather than fail: these come from the
     * command line, which the daemon checks with better messages. */
    struct cats_metrics_config *c = &store->cfg;
    c->report_interval_ms = MAX(c->report_interval_ms, 1);
    c->lease_ms = MAX(c->lease_ms, c->report_interval_ms);
    c->tau_ms = MAX(c->tau_ms, 1);
    if (!(c->latency_ref_ms > 0) || !isfinite(c->latency_ref_ms)) {
        c->latency_ref_ms = CATS_METRICS_LATENCY_REF_MS;
    }
    if (!(c->max_report_rate > 0) || !isfinite(c->max_report_rate)) {
        c->max_report_rate = 10.0 * 1000.0 / c->report_interval_ms;
    }

    hmap_init(&store->nodes);
    hmap_init(&store->instances);
    ovs_list_init(&store->leases);
    ovs_list_init(&store->alive);
    store->seqno = 1;
}

static void
instance_destroy(struct cats_metrics_store *store,
                 struct cats_metrics_instance *inst)
{
    hmap_remove(&store->instances, &inst->node);
    ovs_list_remove(&inst->owner_node);
    ovs_list_remove(&inst->lease_node);
    inst->owner->n_instances--;
    free(inst);
}

static void
node_destroy(struct cats_metrics_store *store, struct cats_metrics_node *node)
{
    struct cats_metrics_instance *inst;

    LIST_FOR_EACH_SAFE (inst, owner_node, &node->instances) {
        instance_destroy(store, inst);
    }
    hmap_remove(&store->nodes, &node->node);
    ovs_list_remove(&node->alive_node);
    free(node);
}

void
cats_metrics_destroy(struct cats_metrics_store *store)
{
    if (store) {
        struct cats_metrics_node *node;

        HMAP_FOR_EACH_SAFE (node, node, &store->nodes) {
            node_destroy(store, node);
        }
        hmap_destroy(&store->nodes);
        hmap_destroy(&store->instances);
    }
}

struct cats_metrics_node *
cats_metrics_find_node(const struct cats_metrics_store *store, const char *id)
{
    struct cats_metrics_node *node;

    HMAP_FOR_EACH_WITH_HASH (node, node, node_hash(id), &store->nodes) {
        if (!strcmp(node->id, id)) {
            return node;
        }
    }
    return NULL;
}

struct cats_metrics_instance *
cats_metrics_find(const struct cats_metrics_store *store, const char *service,
                  ovs_be32 ip, uint16_t port)
{
    struct cats_metrics_instance *inst;

    HMAP_FOR_EACH_WITH_HASH (inst, node, instance_hash(service, ip, port),
                             &store->instances) {
        if (inst->key.ip == ip && inst->key.port == port
            && !strcmp(inst->key.service, service)) {
            return inst;
        }
    }
    return NULL;
}

static struct cats_metrics_instance *
find_key(const struct cats_metrics_store *store,
         const struct cats_report_key *key)
{
    return cats_metrics_find(store, key->service, key->ip, key->port);
}

/* Leases. */

enum cats_metrics_state
cats_metrics_state(const struct cats_metrics_instance *inst, long long now)
{
    if (now >= inst->lease_expires) {
        return CATS_METRICS_EXPIRED;
    }
    return (inst->health == CATS_HEALTH_SERVING
            ? CATS_METRICS_ACTIVE : CATS_METRICS_UNHEALTHY);
}

bool
cats_metrics_is_selectable(const struct cats_metrics_instance *inst,
                           long long now)
{
    return cats_metrics_state(inst, now) == CATS_METRICS_ACTIVE;
}

long long
cats_metrics_lease_remaining(const struct cats_metrics_instance *inst,
                             long long now)
{
    return now < inst->lease_expires ? inst->lease_expires - now : 0;
}

static long long
add_ms(long long now, unsigned int ms)
{
    return now > LLONG_MAX - ms ? LLONG_MAX : now + ms;
}

/* Moves 'elem' to its place in 'list', kept in ascending order of
 * 'time_of': the tail, unless a caller's clock went back, then walking back
 * from the tail (never in the daemon, whose clock is monotonic). */
static void
reinsert_by_time(struct ovs_list *list, struct ovs_list *elem, long long t,
                 long long (*time_of)(const struct ovs_list *))
{
    struct ovs_list *after;

    ovs_list_remove(elem);
    for (after = list->prev; after != list && time_of(after) > t;
         after = after->prev) {
        continue;
    }
    ovs_list_insert(after->next, elem);
}

static long long
lease_end_of(const struct ovs_list *lease_node)
{
    return CONTAINER_OF(lease_node, struct cats_metrics_instance,
                        lease_node)->lease_expires;
}

static long long
last_alive_of(const struct ovs_list *alive_node)
{
    return CONTAINER_OF(alive_node, struct cats_metrics_node,
                        alive_node)->last_alive;
}

/* Renews 'inst''s lease: it was heard from at 'now'. */
static void
renew(struct cats_metrics_store *store, struct cats_metrics_instance *inst,
      long long now)
{
    inst->last_alive = now;
    inst->lease_expires = add_ms(now, store->cfg.lease_ms);
    inst->state = cats_metrics_state(inst, now);
    reinsert_by_time(&store->leases, &inst->lease_node, inst->lease_expires,
                     lease_end_of);
}

static void
touch_node(struct cats_metrics_store *store, struct cats_metrics_node *node,
           long long now)
{
    node->last_alive = now;
    reinsert_by_time(&store->alive, &node->alive_node, now, last_alive_of);
}

void
cats_metrics_run(struct cats_metrics_store *store, long long now)
{
    while (!ovs_list_is_empty(&store->leases)) {
        struct cats_metrics_instance *inst
            = CONTAINER_OF(ovs_list_front(&store->leases),
                           struct cats_metrics_instance, lease_node);

        if (now < inst->lease_expires) {
            break;
        }
        ovs_list_remove(&inst->lease_node);
        ovs_list_init(&inst->lease_node);
        if (inst->state != CATS_METRICS_EXPIRED) {
            inst->state = CATS_METRICS_EXPIRED;
            inst->has_sample = false;
            store->n_expirations++;
            store->seqno++;
        }
    }

    if (store->cfg.forget_ms) {
        while (!ovs_list_is_empty(&store->alive)) {
            struct cats_metrics_node *node
                = CONTAINER_OF(ovs_list_front(&store->alive),
                               struct cats_metrics_node, alive_node);

            if (now < add_ms(node->last_alive, store->cfg.forget_ms)) {
                break;
            }
            node_destroy(store, node);
            store->n_forgotten++;
            store->seqno++;
        }
    }
}

long long
cats_metrics_next_wake(const struct cats_metrics_store *store)
{
    long long next = LLONG_MAX;

    if (!ovs_list_is_empty(&store->leases)) {
        next = lease_end_of(ovs_list_front(&store->leases));
    }
    if (store->cfg.forget_ms && !ovs_list_is_empty(&store->alive)) {
        next = MIN(next, add_ms(last_alive_of(ovs_list_front(&store->alive)),
                                store->cfg.forget_ms));
    }
    return next;
}

/* Scores. */

bool
cats_metrics_l1_computing(const struct cats_metric_values *v, double *score)
{
    static const enum cats_metric inputs[] = {
        CATS_METRIC_CPU, CATS_METRIC_GPU, CATS_METRIC_MEMORY,
        CATS_METRIC_GPU_MEMORY,
    };
    bool found = false;
    double u = 0.0;

    for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
        if (cats_metric_values_has(v, inputs[i])) {
            u = MAX(u, v->value[inputs[i]]);
            found = true;
        }
    }
    if (found) {
        *score = CATS_SCORE_MAX * (1.0 - MIN(u, 1.0));
    }
    return found;
}

bool
cats_metrics_l1_occupancy(const struct cats_metric_values *v,
                          uint32_t capacity, double *score)
{
    bool r = cats_metric_values_has(v, CATS_METRIC_IN_FLIGHT);
    bool q = cats_metric_values_has(v, CATS_METRIC_QUEUE);
    double c = MAX(capacity, 1);
    double outstanding = 0.0;

    if (!r && !q) {
        return false;
    }
    outstanding += r ? v->value[CATS_METRIC_IN_FLIGHT] : 0.0;
    outstanding += q ? v->value[CATS_METRIC_QUEUE] : 0.0;
    *score = CATS_SCORE_MAX * c / (c + outstanding);
    return true;
}

bool
cats_metrics_l1_delay(const struct cats_metric_values *v,
                      double latency_ref_ms, double *score)
{
    if (!cats_metric_values_has(v, CATS_METRIC_LATENCY)) {
        return false;
    }
    *score = (CATS_SCORE_MAX * latency_ref_ms
              / (latency_ref_ms + v->value[CATS_METRIC_LATENCY]));
    return true;
}

void
cats_metrics_compute_scores(const struct cats_metric_values *v,
                            uint32_t capacity, double latency_ref_ms,
                            const double *reported_l2,
                            struct cats_metrics_scores *s)
{
    memset(s, 0, sizeof *s);
    if (cats_metrics_l1_computing(v, &s->l1[CATS_L1_COMPUTING])) {
        s->l1_present |= 1u << CATS_L1_COMPUTING;
    }
    if (cats_metrics_l1_occupancy(v, capacity, &s->l1[CATS_L1_OCCUPANCY])) {
        s->l1_present |= 1u << CATS_L1_OCCUPANCY;
    }
    if (cats_metrics_l1_delay(v, latency_ref_ms, &s->l1[CATS_L1_DELAY])) {
        s->l1_present |= 1u << CATS_L1_DELAY;
    }

    if (reported_l2) {
        s->has_l2 = true;
        s->l2 = *reported_l2;
    } else {
        for (int c = 0; c < CATS_N_L1; c++) {
            if (s->l1_present & (1u << c)) {
                s->l2 = s->has_l2 ? MIN(s->l2, s->l1[c]) : s->l1[c];
                s->has_l2 = true;
            }
        }
    }
}

static void
update_scores(const struct cats_metrics_store *store,
              struct cats_metrics_instance *inst)
{
    cats_metrics_compute_scores(&inst->smoothed, inst->capacity,
                                store->cfg.latency_ref_ms,
                                inst->has_l2_reported ? &inst->l2_reported
                                                      : NULL,
                                &inst->scores);
}

/* Weights. */

uint16_t
cats_metrics_weight(const struct cats_metrics_instance *inst, uint16_t base,
                    long long now)
{
    double w;

    if (!cats_metrics_is_selectable(inst, now)) {
        return 0;
    }
    if (!inst->scores.has_l2 || !base) {
        return base;
    }
    w = round(base * inst->scores.l2 / CATS_SCORE_MAX);
    /* Scores are 0 to 10 by construction; clamp anyway, since converting
     * an out-of-range double to an integer is undefined. */
    if (!(w >= 1.0)) {
        return 1;
    }
    return w >= base ? base : (uint16_t) w;
}

bool
cats_metrics_weight_moved(uint16_t current, uint16_t target)
{
    unsigned int diff;

    if (!current || !target) {
        return current != target;
    }
    diff = current > target ? current - target : target - current;
    return diff * 10 > current;
}

/* Rate limit. */

/* Token bucket: refills at max_report_rate per second, holds as many (but
 * at least one, so that a rate below 1/s still lets reports through). */
static double
bucket_size(const struct cats_metrics_store *store)
{
    return MAX(store->cfg.max_report_rate, 1.0);
}

static bool
take_token(struct cats_metrics_store *store, struct cats_metrics_node *node,
           long long now)
{
    double rate = store->cfg.max_report_rate;

    if (now > node->tokens_updated) {
        node->tokens = MIN(bucket_size(store),
                           (node->tokens
                            + (now - node->tokens_updated) * rate / 1000.0));
        node->tokens_updated = now;
    }
    if (node->tokens < 1.0) {
        return false;
    }
    node->tokens -= 1.0;
    return true;
}

/* Registration. */

static int OVS_PRINTF_FORMAT(4, 5)
reject(struct cats_metrics_store *store, char **errorp, int error,
       const char *format, ...)
{
    va_list args;

    va_start(args, format);
    *errorp = xvasprintf(format, args);
    va_end(args);
    store->n_rejected++;
    return error;
}

/* Checks that 'reg' can be applied: no instance held by another live node,
 * limits.  Changes nothing. */
static int
check_registration(struct cats_metrics_store *store,
                   const struct cats_metrics_node *node,
                   const struct cats_report_registration *reg,
                   long long now, char **errorp)
{
    size_t n_new = 0, n_dropped = 0;

    for (size_t i = 0; i < reg->n_instances; i++) {
        const struct cats_report_key *key = &reg->instances[i].key;
        const struct cats_metrics_instance *inst = find_key(store, key);

        if (!inst) {
            n_new++;
        } else if (inst->owner != node
                   && cats_metrics_state(inst, now) != CATS_METRICS_EXPIRED) {
            return reject(store, errorp, EEXIST,
                          "field 'instances[%"PRIuSIZE"]': instance %s "
                          IP_FMT":%"PRIu16" belongs to node %s, whose lease "
                          "runs for another %lld ms", i, key->service,
                          IP_ARGS(key->ip), key->port, inst->owner->id,
                          cats_metrics_lease_remaining(inst, now));
        }
    }

    /* Instances that this node registered before but not now go away. */
    if (node) {
        const struct cats_metrics_instance *inst;

        LIST_FOR_EACH (inst, owner_node, &node->instances) {
            bool kept = false;
            for (size_t i = 0; i < reg->n_instances && !kept; i++) {
                kept = (inst->key.ip == reg->instances[i].key.ip
                        && inst->key.port == reg->instances[i].key.port
                        && !strcmp(inst->key.service,
                                   reg->instances[i].key.service));
            }
            n_dropped += !kept;
        }
    } else if (hmap_count(&store->nodes) >= store->cfg.max_nodes) {
        return reject(store, errorp, ENOSPC, "too many nodes (at most "
                      "%"PRIuSIZE")", store->cfg.max_nodes);
    }
    if (hmap_count(&store->instances) + n_new - n_dropped
        > store->cfg.max_instances) {
        return reject(store, errorp, ENOSPC, "too many instances (at most "
                      "%"PRIuSIZE" over all nodes)",
                      store->cfg.max_instances);
    }
    return 0;
}

static void
reset_history(struct cats_metrics_instance *inst)
{
    inst->has_sample = false;
    memset(&inst->last, 0, sizeof inst->last);
    memset(&inst->smoothed, 0, sizeof inst->smoothed);
    inst->has_l2_reported = false;
    inst->l2_reported = inst->l2_reported_last = 0.0;
    memset(&inst->scores, 0, sizeof inst->scores);
}

int
cats_metrics_register(struct cats_metrics_store *store,
                      const struct cats_report_registration *reg,
                      uint64_t session, long long now, char **errorp)
{
    struct cats_metrics_node *node;
    struct ovs_list old;
    int error;

    *errorp = NULL;
    node = cats_metrics_find_node(store, reg->node_id);
    error = check_registration(store, node, reg, now, errorp);
    if (error) {
        return error;
    }
    /* Registering again counts against the node's rate limit as a report
     * does: re-registration resets a session and is not free. */
    if (node && !take_token(store, node, now)) {
        return reject(store, errorp, EBUSY, "node %s sends more than %g "
                      "messages per second", node->id,
                      store->cfg.max_report_rate);
    }

    if (!node) {
        node = xzalloc(sizeof *node);
        ovs_strlcpy(node->id, reg->node_id, sizeof node->id);
        ovs_list_init(&node->instances);
        ovs_list_init(&node->alive_node);
        hmap_insert(&store->nodes, &node->node, node_hash(node->id));
        node->tokens = bucket_size(store) - 1.0;
        node->tokens_updated = now;
    }
    ovs_strlcpy(node->agent, reg->agent, sizeof node->agent);
    node->session = session;
    node->last_seq = 0;
    node->registered = now;
    touch_node(store, node, now);

    /* Move the node's current instances aside; those registered again come
     * back, the others are removed. */
    ovs_list_move(&old, &node->instances);
    ovs_list_init(&node->instances);

    for (size_t i = 0; i < reg->n_instances; i++) {
        const struct cats_report_spec *spec = &reg->instances[i];
        struct cats_metrics_instance *inst = find_key(store, &spec->key);

        if (!inst) {
            inst = xzalloc(sizeof *inst);
            inst->key = spec->key;
            ovs_list_init(&inst->lease_node);
            inst->health = CATS_HEALTH_SERVING;
            hmap_insert(&store->instances, &inst->node,
                        instance_hash(inst->key.service, inst->key.ip,
                                      inst->key.port));
            ovs_list_push_back(&node->instances, &inst->owner_node);
            node->n_instances++;
        } else if (inst->owner != node) {
            /* Taken over from a node whose lease ran out: its history is
             * another agent's. */
            ovs_list_remove(&inst->owner_node);
            inst->owner->n_instances--;
            ovs_list_push_back(&node->instances, &inst->owner_node);
            node->n_instances++;
            reset_history(inst);
            inst->health = CATS_HEALTH_SERVING;
        } else {
            ovs_list_remove(&inst->owner_node);
            ovs_list_push_back(&node->instances, &inst->owner_node);
            if (cats_metrics_state(inst, now) == CATS_METRICS_EXPIRED) {
                /* Renewing the lease below would make stale values look
                 * fresh. */
                reset_history(inst);
            }
        }
        inst->owner = node;
        inst->capacity = spec->capacity;
        renew(store, inst, now);
        update_scores(store, inst);
    }

    struct cats_metrics_instance *inst;
    LIST_FOR_EACH_SAFE (inst, owner_node, &old) {
        instance_destroy(store, inst);
    }

    store->n_registrations++;
    store->seqno++;
    return 0;
}

bool
cats_metrics_remove_node(struct cats_metrics_store *store, const char *id)
{
    struct cats_metrics_node *node = cats_metrics_find_node(store, id);

    if (!node) {
        return false;
    }
    node_destroy(store, node);
    store->seqno++;
    return true;
}

/* Reports. */

static double
smooth(double old, double raw, double alpha)
{
    return old + alpha * (raw - old);
}

/* Applies one instance's state from a report at 'now'. */
static void
apply(struct cats_metrics_store *store, struct cats_metrics_instance *inst,
      enum cats_health health, const struct cats_metric_values *raw,
      const double *l2, long long now)
{
    bool history = inst->has_sample && cats_metrics_state(inst, now)
                                       != CATS_METRICS_EXPIRED;
    double alpha = 1.0;

    if (history) {
        long long dt = now - inst->last_sample;
        alpha = dt > 0 ? -expm1(-(double) dt / store->cfg.tau_ms) : 0.0;
    }

    struct cats_metric_values smoothed = { .present = raw->present };
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (cats_metric_values_has(raw, m)) {
            smoothed.value[m] = (history
                                 && cats_metric_values_has(&inst->smoothed, m)
                                 ? smooth(inst->smoothed.value[m],
                                          raw->value[m], alpha)
                                 : raw->value[m]);
        }
    }
    inst->smoothed = smoothed;
    inst->last = *raw;

    if (l2) {
        inst->l2_reported = (history && inst->has_l2_reported
                             ? smooth(inst->l2_reported, *l2, alpha)
                             : *l2);
        inst->l2_reported_last = *l2;
        inst->has_l2_reported = true;
    } else {
        inst->has_l2_reported = false;
    }

    inst->health = health;
    inst->has_sample = true;
    inst->last_sample = now;
    inst->n_reports++;
    renew(store, inst, now);
    update_scores(store, inst);
}

int
cats_metrics_report(struct cats_metrics_store *store,
                    const struct cats_report_load *load, long long now,
                    const struct cats_metrics_node **nodep, char **errorp)
{
    struct cats_metrics_node *node;

    *errorp = NULL;
    node = cats_metrics_find_node(store, load->node_id);
    if (nodep) {
        *nodep = node;
    }
    if (!node) {
        return reject(store, errorp, ESTALE, "node %s is not registered "
                      "(register first)", load->node_id);
    }
    if (load->session != node->session) {
        return reject(store, errorp, ESTALE, "session %#"PRIx64" is not the "
                      "current session of node %s (register again)",
                      load->session, node->id);
    }
    if (!take_token(store, node, now)) {
        return reject(store, errorp, EBUSY, "node %s sends more than %g "
                      "reports per second", node->id,
                      store->cfg.max_report_rate);
    }
    if (load->seq <= node->last_seq) {
        return reject(store, errorp, EALREADY, "field 'seq': %"PRIu64" is "
                      "not above the last accepted seq %"PRIu64,
                      load->seq, node->last_seq);
    }
    for (size_t i = 0; i < load->n_instances; i++) {
        const struct cats_report_key *key = &load->instances[i].key;
        const struct cats_metrics_instance *inst = find_key(store, key);

        if (!inst || inst->owner != node) {
            return reject(store, errorp, EPERM,
                          "field 'instances[%"PRIuSIZE"]': instance %s "
                          IP_FMT":%"PRIu16" is not registered by node %s",
                          i, key->service, IP_ARGS(key->ip), key->port,
                          node->id);
        }
    }

    /* Accepted: nothing below can fail. */
    if (load->n_instances) {
        for (size_t i = 0; i < load->n_instances; i++) {
            const struct cats_report_instance *ri = &load->instances[i];

            apply(store, find_key(store, &ri->key), ri->health, &ri->metrics,
                  ri->has_l2 ? &ri->l2 : NULL, now);
        }
    } else {
        struct cats_metrics_instance *inst;

        LIST_FOR_EACH (inst, owner_node, &node->instances) {
            apply(store, inst, CATS_HEALTH_SERVING, &load->node_metrics,
                  NULL, now);
        }
    }
    node->last_seq = load->seq;
    touch_node(store, node, now);
    store->n_reports++;
    store->seqno++;
    return 0;
}

/*
 * cats-sim: the discrete-event simulator's engine.  See sim.h.
 */

#include <config.h>

#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "openvswitch/dynamic-string.h"
#include "util.h"

/* Packets of one request on its path (for the ECN and packet counters of
 * the path telemetry). */
#define PKTS_PER_REQUEST 10

/* Long-haul links are 10 Gb/s; PFC priority 3 is the lossless class. */
#define PATH_SPEED_BPS 10000000000ULL
#define PFC_PRIORITY 3

/* Storms are at least this long: shorter ones would not trip the 200 ms
 * watchdog and are the "congested" state's business. */
#define MIN_STORM_MS 250.0

#define NO_PATH UINT32_MAX
#define BACKGROUND UINT32_MAX

const char *
sim_policy_name(enum sim_policy p)
{
    switch (p) {
    case SIM_RR:
        return "rr";
    case SIM_RANDOM:
        return "random";
    case SIM_ECMP:
        return "ecmp";
    case SIM_WECMP:
        return "wecmp";
    case SIM_LC:
        return "lc";
    case SIM_P2C:
        return "p2c";
    case SIM_SPLIT:
        return "split";
    case SIM_ORACLE:
        return "oracle";
    case SIM_OURS_WEIGHTS:
        return "ours-weights";
    case SIM_OURS:
        return "ours";
    case SIM_N_POLICIES:
        break;
    }
    return "unknown";
}

bool
sim_policy_is_ours(enum sim_policy p)
{
    return p == SIM_OURS || p == SIM_OURS_WEIGHTS;
}

bool
sim_policy_from_string(const char *s, enum sim_policy *p)
{
    for (int i = 0; i < SIM_N_POLICIES; i++) {
        if (!strcmp(s, sim_policy_name(i))) {
            *p = i;
            return true;
        }
    }
    return false;
}

void
sim_config_init(struct sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->load = 0.8;
    c->n_instances = 50;
    c->duration_s = 60;
    c->warmup_s = 5;

    c->min_slots = 2;
    c->max_slots = 8;
    c->service_ms = 10;
    c->slow_fraction = 0.2;
    c->slow_factor = 2;
    c->dist = SIM_DIST_EXP;
    c->sigma = 1.0;
    c->background = 0.1;
    c->background_change_s = 5;
    c->remote_fraction = 0.4;

    c->local_rtt_ms = 0.2;
    c->path_rtt_ms[0] = 4;
    c->path_rtt_ms[1] = 6;
    c->calm_s[0] = 8;
    c->calm_s[1] = 20;
    c->congested_s = 2;
    c->storm_prob[0] = 0.5;
    c->storm_prob[1] = 0;
    c->storm_s = 0.8;
    c->congested_queue_ms = 1;
    c->ecn_fraction = 0.3;
    c->pause_fraction = 0.05;
    c->pause_max_ms = 2;

    c->report_ms = 500;
    c->telemetry_ms = 100;
    c->reweight_ms = 100;
    c->apply_ms = 2;
    c->decide_ms = 0.3;
    c->stats_ms = 1000;
    cats_sel_config_init(&c->sel);
    c->sel_policy = CATS_SEL_MIN_LATENCY;
}

/* PRNG: xoshiro256** (Blackman and Vigna), seeded through splitmix64. */

struct rng {
    uint64_t s[4];
};

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Stream 'stream' of seed 'seed': independent of every other stream. */
static void
rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * UINT64_C(0xd1b54a32d192ed03));

    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix64(&x);
    }
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double
rng_uniform(struct rng *r)
{
    return (rng_next(r) >> 11) * 0x1.0p-53;
}

static double
rng_exp(struct rng *r, double mean)
{
    return -mean * log1p(-rng_uniform(r));
}

/* Service time of mean 'mean' from two uniforms (so that every draw uses
 * the same number of them, whatever the distribution). */
static double
service_time(const struct sim_config *cfg, double mean, double u1, double u2)
{
    if (cfg->dist == SIM_DIST_LOGNORMAL) {
        /* Box-Muller; 1 - u1 is in (0, 1]. */
        double z = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
        return mean * exp(cfg->sigma * z - cfg->sigma * cfg->sigma / 2);
    }
    return -mean * log1p(-u1);
}

/* Streams. */
enum {
    STREAM_SETUP,
    STREAM_ARRIVALS,
    STREAM_POLICY,
    STREAM_PATH0,
    STREAM_INSTANCE0 = STREAM_PATH0 + 2,
};

/* Paths: a timeline of calm, congested and storm periods, drawn lazily
 * from the path's own stream (so the same for every policy). */

enum path_state {
    PATH_CALM,
    PATH_CONGESTED,
    PATH_STORM,
};

struct segment {
    double start, end;
    enum path_state state;
    double paused_before_ms;    /* Pause time accrued before 'start'. */
};

struct path {
    size_t idx;
    struct rng rng;
    double rtt_ms;
    double calm_s;
    double storm_prob;
    struct segment *segs;
    size_t n_segs, allocated_segs;

    /* Telemetry counters. */
    uint64_t tx_packets;
    double ecn_marked;
    size_t sel_path;
};

static void
path_push(struct path *p, double start, double end, enum path_state state,
          double pause_fraction)
{
    double paused = 0;

    if (p->n_segs) {
        const struct segment *prev = &p->segs[p->n_segs - 1];
        double len = prev->end - prev->start;

        paused = prev->paused_before_ms;
        paused += (prev->state == PATH_STORM ? len
                   : prev->state == PATH_CONGESTED ? len * pause_fraction
                   : 0);
    }
    if (p->n_segs >= p->allocated_segs) {
        p->segs = x2nrealloc(p->segs, &p->allocated_segs, sizeof *p->segs);
    }
    p->segs[p->n_segs++] = (struct segment) {
        .start = start, .end = end, .state = state,
        .paused_before_ms = paused,
    };
}

/* Extends the timeline of 'p' past 't'. */
static void
path_extend(const struct sim_config *cfg, struct path *p, double t)
{
    while (!p->n_segs || p->segs[p->n_segs - 1].end <= t) {
        const struct segment *last = (p->n_segs
                                      ? &p->segs[p->n_segs - 1] : NULL);
        double start = last ? last->end : 0;
        double len;
        enum path_state next;

        if (!last || last->state != PATH_CALM) {
            next = PATH_CALM;
            len = rng_exp(&p->rng, p->calm_s * 1000);
        } else {
            next = PATH_CONGESTED;
            len = rng_exp(&p->rng, cfg->congested_s * 1000);
        }
        /* Always draw the storm decision, so that the stream does not
         * depend on which branch was taken. */
        double u = rng_uniform(&p->rng);
        double storm_len = MAX(MIN_STORM_MS,
                               rng_exp(&p->rng, cfg->storm_s * 1000));

        path_push(p, start, start + len, next, cfg->pause_fraction);
        if (next == PATH_CONGESTED && u < p->storm_prob) {
            path_push(p, start + len, start + len + storm_len, PATH_STORM,
                      cfg->pause_fraction);
        }
    }
}

static const struct segment *
path_at(const struct sim_config *cfg, struct path *p, double t)
{
    size_t lo = 0, hi;

    path_extend(cfg, p, t);
    hi = p->n_segs - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;

        if (p->segs[mid].start <= t) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return &p->segs[lo];
}

/* When a packet sent on 'p' at 't' arrives, with 'u' the uniform that
 * decides whether it meets a short pause while congested.  Sets
 * '*stormed' if a storm held it. */
static double
path_arrival(const struct sim_config *cfg, struct path *p, double t,
             double u, bool *stormed)
{
    const struct segment *seg = path_at(cfg, p, t);

    if (seg->state == PATH_STORM) {
        *stormed = true;
        t = seg->end;
        seg = path_at(cfg, p, t);
    }

    double d = p->rtt_ms / 2;
    if (seg->state == PATH_CONGESTED) {
        d += cfg->congested_queue_ms;
        if (u < cfg->pause_fraction) {
            d += u / cfg->pause_fraction * cfg->pause_max_ms;
        }
    }
    return t + d;
}

/* Pause time accrued on 'p' up to 't', ms. */
static double
path_paused(const struct sim_config *cfg, struct path *p, double t)
{
    const struct segment *seg = path_at(cfg, p, t);
    double in = t - seg->start;

    return seg->paused_before_ms
           + (seg->state == PATH_STORM ? in
              : seg->state == PATH_CONGESTED ? in * cfg->pause_fraction
              : 0);
}

/* Instances. */

struct job {
    uint32_t req;               /* BACKGROUND for another tenant's. */
    double service_ms;
};

struct instance {
    unsigned int slots;
    double mean_ms;
    bool remote;
    struct rng rng;             /* Background arrivals. */
    double bg_rate_max;         /* Candidates per ms (thinning). */
    double bg_level;            /* Now, fraction of capacity. */
    double bg_next_change;

    unsigned int busy;
    struct job *queue;          /* Ring. */
    size_t q_head, q_len, q_cap;
    unsigned int pending;       /* Client requests on their way here. */
    unsigned int conns;         /* Proxy view: open connections. */

    /* What the agent measures over a report window. */
    double lat_sum;
    uint64_t lat_n;
    double svc_sum;
    uint64_t svc_n;
    uint64_t n_reports;
    double sm_in_flight, sm_queue;  /* Smoothed by the controller. */
    bool has_latency, has_service;
    double sm_latency, sm_service;

    uint64_t sent;              /* Ours: connections sent here, */
    uint64_t sent_polled;       /* as of the last counter poll. */

    double busy_ms;             /* Slot time used in the window. */
    size_t first_pair, n_pairs;
};

struct request {
    double t_arrival;
    double t_at_instance;
    double service_ms;
    double u_back;
    uint32_t instance;
    uint32_t path;              /* NO_PATH: local. */
    bool measured;
    bool stormed;
    bool placed;                /* Ours: the controller placed it. */
};

/* Events. */

enum event_type {
    EV_ARRIVAL,
    EV_AT_INSTANCE,             /* a: request. */
    EV_DEPART,                  /* a: instance, b: request, x: service. */
    EV_RESPONSE,                /* a: request. */
    EV_BACKGROUND,              /* a: instance. */
    EV_REPORT,                  /* a: instance. */
    EV_TELEMETRY,               /* a: path. */
    EV_REWEIGHT,
    EV_APPLY,
    EV_STATS,
};

struct event {
    double t;
    uint64_t seq;               /* Ties: first scheduled, first run. */
    uint32_t type, a, b;
    double x;
};

struct sim {
    const struct sim_config *cfg;
    enum sim_policy policy;
    double t_end;               /* Last client arrival time. */
    double t_warm;

    struct event *heap;
    size_t n_heap, allocated_heap;
    uint64_t seq;

    struct rng arrivals;
    struct rng policy_rng;
    double lambda;              /* Client arrivals per ms. */

    struct instance *insts;
    size_t n_insts;
    struct path paths[2];

    size_t n_pairs;
    uint32_t *pair_inst, *pair_path;
    uint64_t *slots_cum;        /* Cumulative slots, for wecmp. */

    struct request *reqs;
    size_t n_reqs, allocated_reqs;
    uint32_t *free_reqs;
    size_t n_free, allocated_free;
    size_t outstanding;
    bool arrivals_done;
    size_t rr_next;

    double *samples;
    size_t n_samples, allocated_samples;
    uint64_t n_storm_requests;

    /* Ours. */
    struct cats_selector *sel;
    struct cats_sel_service *svc;
    uint16_t *pending_w;
    uint64_t *applied_cum;
    uint64_t n_fallbacks;
};

static void
schedule(struct sim *s, double t, uint32_t type, uint32_t a, uint32_t b,
         double x)
{
    if (s->n_heap >= s->allocated_heap) {
        s->heap = x2nrealloc(s->heap, &s->allocated_heap, sizeof *s->heap);
    }

    struct event e = { .t = t, .seq = s->seq++, .type = type, .a = a,
                       .b = b, .x = x };
    size_t i = s->n_heap++;
    while (i) {
        size_t parent = (i - 1) / 2;
        const struct event *p = &s->heap[parent];

        if (p->t < e.t || (p->t == e.t && p->seq < e.seq)) {
            break;
        }
        s->heap[i] = *p;
        i = parent;
    }
    s->heap[i] = e;
}

static bool
event_before(const struct event *a, const struct event *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static struct event
pop(struct sim *s)
{
    struct event top = s->heap[0];
    struct event last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;

    while (n) {
        size_t c = 2 * i + 1;

        if (c >= n) {
            break;
        }
        if (c + 1 < n && event_before(&s->heap[c + 1], &s->heap[c])) {
            c++;
        }
        if (!event_before(&s->heap[c], &last)) {
            break;
        }
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) {
        s->heap[i] = last;
    }
    return top;
}

/* Requests. */

static uint32_t
request_new(struct sim *s)
{
    if (s->n_free) {
        return s->free_reqs[--s->n_free];
    }
    if (s->n_reqs >= s->allocated_reqs) {
        s->reqs = x2nrealloc(s->reqs, &s->allocated_reqs, sizeof *s->reqs);
    }
    return s->n_reqs++;
}

static void
request_free(struct sim *s, uint32_t r)
{
    if (s->n_free >= s->allocated_free) {
        s->free_reqs = x2nrealloc(s->free_reqs, &s->allocated_free,
                                  sizeof *s->free_reqs);
    }
    s->free_reqs[s->n_free++] = r;
}

/* Instances: FIFO over 'slots' servers. */

static void
instance_start(struct sim *s, uint32_t i, struct job job, double t)
{
    struct instance *inst = &s->insts[i];
    double lo = MAX(t, s->t_warm);
    double hi = MIN(t + job.service_ms, s->t_end);

    inst->busy++;
    if (hi > lo) {
        inst->busy_ms += hi - lo;
    }
    schedule(s, t + job.service_ms, EV_DEPART, i, job.req, job.service_ms);
}

static void
instance_enqueue(struct sim *s, uint32_t i, struct job job, double t)
{
    struct instance *inst = &s->insts[i];

    if (inst->busy < inst->slots) {
        instance_start(s, i, job, t);
        return;
    }
    if (inst->q_len >= inst->q_cap) {
        size_t cap = inst->q_cap ? inst->q_cap * 2 : 16;
        struct job *q = xmalloc(cap * sizeof *q);

        for (size_t k = 0; k < inst->q_len; k++) {
            q[k] = inst->queue[(inst->q_head + k) % inst->q_cap];
        }
        free(inst->queue);
        inst->queue = q;
        inst->q_cap = cap;
        inst->q_head = 0;
    }
    inst->queue[(inst->q_head + inst->q_len++) % inst->q_cap] = job;
}

static void
instance_depart(struct sim *s, uint32_t i, double t)
{
    struct instance *inst = &s->insts[i];

    inst->busy--;
    if (inst->q_len) {
        struct job job = inst->queue[inst->q_head];

        inst->q_head = (inst->q_head + 1) % inst->q_cap;
        inst->q_len--;
        instance_start(s, i, job, t);
    }
}

/* Policies. */

static uint32_t
mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x7feb352d;
    h ^= h >> 15;
    h *= 0x846ca68b;
    h ^= h >> 16;
    return h;
}

/* The long-haul path that ECMP routing gives a connection to a remote
 * instance. */
static uint32_t
hash_path(const struct instance *inst, uint32_t hash)
{
    return inst->remote ? mix32(hash) % 2 : NO_PATH;
}

/* True if instance a has fewer open connections per slot than b. */
static bool
fewer_conns(const struct instance *a, const struct instance *b)
{
    return (uint64_t) (a->conns + 1) * b->slots
           < (uint64_t) (b->conns + 1) * a->slots;
}

/* The oracle's estimate of the network part of a request over 'path' sent
 * at 't': the exact forward delay (storm included), the return trip as
 * the path is now. */
static double
oracle_net(struct sim *s, uint32_t path, double t, double u)
{
    const struct sim_config *cfg = s->cfg;
    struct path *p = &s->paths[path];
    bool stormed = false;
    double fwd = path_arrival(cfg, p, t, u, &stormed) - t;
    const struct segment *seg = path_at(cfg, p, t);

    return fwd + p->rtt_ms / 2
           + (seg->state == PATH_CONGESTED ? cfg->congested_queue_ms : 0);
}

static void
choose_oracle(struct sim *s, double t, double u_fwd, uint32_t *inst_out,
              uint32_t *path_out)
{
    double net[2] = { oracle_net(s, 0, t, u_fwd), oracle_net(s, 1, t, u_fwd) };
    double best = INFINITY;

    for (size_t k = 0; k < s->n_pairs; k++) {
        const struct instance *inst = &s->insts[s->pair_inst[k]];
        uint32_t path = s->pair_path[k];
        double n = inst->busy + inst->q_len + inst->pending;
        double wait = (n >= inst->slots
                       ? (n - inst->slots + 1) * inst->mean_ms / inst->slots
                       : 0);
        double cost = ((path == NO_PATH ? s->cfg->local_rtt_ms : net[path])
                       + wait + inst->mean_ms);

        if (cost < best) {
            best = cost;
            *inst_out = s->pair_inst[k];
            *path_out = path;
        }
    }
}

/* The index that a hash value picks from cumulative weights 'cum' (n of
 * them, the last nonzero), in proportion to the weights: a dp_hash select
 * group's mapping, as cats_sel_pick() does it. */
static size_t
pick_cum(const uint64_t *cum, size_t n, uint32_t hash)
{
    uint64_t x = (uint64_t) (((unsigned __int128) hash * cum[n - 1]) >> 32);
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (cum[mid] > x) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/* The pair that the weights applied to the switch give 'hash', or
 * SIZE_MAX if they are all 0. */
static size_t
pick_applied(const struct sim *s, uint32_t hash)
{
    return (s->applied_cum[s->n_pairs - 1]
            ? pick_cum(s->applied_cum, s->n_pairs, hash) : SIZE_MAX);
}

/* The pair that the weights applied to the switch give 'hash', in
 * '*inst_out' and '*path_out'.  False if they are all 0. */
static bool
choose_applied(const struct sim *s, uint32_t hash, uint32_t *inst_out,
               uint32_t *path_out)
{
    size_t k = pick_applied(s, hash);

    if (k == SIZE_MAX) {
        return false;
    }
    *inst_out = s->pair_inst[k];
    *path_out = s->pair_path[k];
    return true;
}

static void
choose(struct sim *s, double t, uint32_t hash, double u_fwd,
       uint32_t *inst_out, uint32_t *path_out, bool *placed)
{
    size_t n = s->n_insts;
    uint32_t i = 0;

    *placed = false;
    switch (s->policy) {
    case SIM_RR:
        i = s->rr_next;
        s->rr_next = (s->rr_next + 1) % n;
        break;
    case SIM_RANDOM:
        i = rng_next(&s->policy_rng) % n;
        break;
    case SIM_ECMP:
        i = hash % n;
        break;
    case SIM_WECMP:
        i = pick_cum(s->slots_cum, n, hash);
        break;
    case SIM_LC:
        for (size_t k = 1; k < n; k++) {
            if (fewer_conns(&s->insts[k], &s->insts[i])) {
                i = k;
            }
        }
        break;
    case SIM_P2C: {
        uint32_t a = rng_next(&s->policy_rng) % n;
        uint32_t b = n > 1 ? rng_next(&s->policy_rng) % (n - 1) : a;

        if (n > 1 && b >= a) {
            b++;
        }
        i = fewer_conns(&s->insts[b], &s->insts[a]) ? b : a;
        break;
    }
    case SIM_ORACLE:
        choose_oracle(s, t, u_fwd, inst_out, path_out);
        return;
    case SIM_OURS: {
        /* The controller decides at the packet-in, with what it knows at
         * the arrival (nothing it learns within the decide_ms round trip
         * would change it), and counts the connection as placed. */
        size_t k = cats_sel_pick_connection(s->svc, (long long) t);

        if (k != SIZE_MAX) {
            cats_sel_connection_placed(s->svc, k, (long long) t);
            *placed = true;
            *inst_out = s->pair_inst[k];
            *path_out = s->pair_path[k];
            return;
        }
        /* No eligible pair: the packet is resumed into the select
         * group. */
        s->n_fallbacks++;
        if (choose_applied(s, hash, inst_out, path_out)) {
            return;
        }
        i = hash % n;
        break;
    }
    case SIM_SPLIT:
    case SIM_OURS_WEIGHTS:
        if (choose_applied(s, hash, inst_out, path_out)) {
            return;
        }
        /* Nothing applied yet (or every weight 0): the group's fallback
         * is an equal split. */
        s->n_fallbacks++;
        i = hash % n;
        break;
    case SIM_N_POLICIES:
        OVS_NOT_REACHED();
    }
    *inst_out = i;
    *path_out = hash_path(&s->insts[i], hash);
}

/* Event handlers. */

static double
send_on(struct sim *s, uint32_t path, double t, double u, bool *stormed)
{
    if (path == NO_PATH) {
        return t + s->cfg->local_rtt_ms / 2;
    }

    struct path *p = &s->paths[path];
    const struct segment *seg = path_at(s->cfg, p, t);

    p->tx_packets += PKTS_PER_REQUEST;
    if (seg->state == PATH_CONGESTED) {
        p->ecn_marked += PKTS_PER_REQUEST * s->cfg->ecn_fraction;
    }
    return path_arrival(s->cfg, p, t, u, stormed);
}

static void
on_arrival(struct sim *s, double t)
{
    const struct sim_config *cfg = s->cfg;

    /* Every draw of this arrival first, in a fixed order, whatever the
     * policy then does with them. */
    double next = t + rng_exp(&s->arrivals, 1.0 / s->lambda);
    uint32_t hash = rng_next(&s->arrivals) >> 32;
    double u1 = rng_uniform(&s->arrivals);
    double u2 = rng_uniform(&s->arrivals);
    double u_fwd = rng_uniform(&s->arrivals);
    double u_back = rng_uniform(&s->arrivals);

    uint32_t i = 0, path = NO_PATH;
    bool placed;
    choose(s, t, hash, u_fwd, &i, &path, &placed);
    s->insts[i].sent++;

    uint32_t r = request_new(s);
    struct request *req = &s->reqs[r];
    struct instance *inst = &s->insts[i];

    req->t_arrival = t;
    req->service_ms = service_time(cfg, inst->mean_ms, u1, u2);
    req->u_back = u_back;
    req->instance = i;
    req->path = path;
    req->measured = t >= s->t_warm;
    req->stormed = false;
    req->placed = placed;
    inst->conns++;
    inst->pending++;
    s->outstanding++;

    /* Every new connection of ours makes the packet-in and resume round
     * trip, the ones that the selector then hands to the group too. */
    double depart = s->policy == SIM_OURS ? t + cfg->decide_ms : t;
    schedule(s, send_on(s, path, depart, u_fwd, &req->stormed),
             EV_AT_INSTANCE, r, 0, 0);

    if (next < s->t_end) {
        schedule(s, next, EV_ARRIVAL, 0, 0, 0);
    } else {
        s->arrivals_done = true;
    }
}

static void
on_at_instance(struct sim *s, uint32_t r, double t)
{
    struct request *req = &s->reqs[r];
    struct instance *inst = &s->insts[req->instance];

    inst->pending--;
    req->t_at_instance = t;
    instance_enqueue(s, req->instance,
                     (struct job) { .req = r,
                                    .service_ms = req->service_ms }, t);
}

static void
on_depart(struct sim *s, uint32_t i, uint32_t r, double service, double t)
{
    struct instance *inst = &s->insts[i];

    inst->svc_sum += service;
    inst->svc_n++;
    if (r != BACKGROUND) {
        struct request *req = &s->reqs[r];

        inst->lat_sum += t - req->t_at_instance;
        inst->lat_n++;
        schedule(s, send_on(s, req->path, t, req->u_back, &req->stormed),
                 EV_RESPONSE, r, 0, 0);
    }
    instance_depart(s, i, t);
}

static void
on_response(struct sim *s, uint32_t r, double t)
{
    struct request *req = &s->reqs[r];

    s->insts[req->instance].conns--;
    if (req->placed) {
        /* The instance's FIN, copied to the controller as it passes the
         * switch. */
        cats_sel_connection_ended(s->svc, req->instance, (long long) t);
    }
    if (req->measured) {
        if (s->n_samples >= s->allocated_samples) {
            s->samples = x2nrealloc(s->samples, &s->allocated_samples,
                                    sizeof *s->samples);
        }
        s->samples[s->n_samples++] = t - req->t_arrival;
        if (req->stormed) {
            s->n_storm_requests++;
        }
    }
    request_free(s, r);
    s->outstanding--;
}

/* A background candidate arrival (thinning of a Poisson process at the
 * highest rate): the same draws whatever happens. */
static void
on_background(struct sim *s, uint32_t i, double t)
{
    const struct sim_config *cfg = s->cfg;
    struct instance *inst = &s->insts[i];

    while (t >= inst->bg_next_change) {
        inst->bg_level = 2 * cfg->background * rng_uniform(&inst->rng);
        inst->bg_next_change += rng_exp(&inst->rng,
                                        cfg->background_change_s * 1000);
    }

    double u = rng_uniform(&inst->rng);
    double u1 = rng_uniform(&inst->rng);
    double u2 = rng_uniform(&inst->rng);
    double next = t + rng_exp(&inst->rng, 1.0 / inst->bg_rate_max);

    if (u * 2 * cfg->background < inst->bg_level) {
        struct job job = {
            .req = BACKGROUND,
            .service_ms = service_time(cfg, inst->mean_ms, u1, u2),
        };
        instance_enqueue(s, i, job, t);
    }
    schedule(s, next, EV_BACKGROUND, i, 0, 0);
}

/* Time constant of the controller's smoothing of reported values: the
 * metrics store's default (CATS_METRICS_TAU_MS in cats/metrics.h), which
 * the controller feeds the selector from. */
#define SMOOTH_TAU_MS 2000.0

static void
smooth(double *x, bool first, double alpha, double sample)
{
    *x = first ? sample : *x + alpha * (sample - *x);
}

static void
on_report(struct sim *s, uint32_t i, double t)
{
    struct instance *inst = &s->insts[i];
    bool first = !inst->n_reports++;
    double alpha = 1.0 - exp(-s->cfg->report_ms / SMOOTH_TAU_MS);

    /* What the agent measured: the slots in use and the queue now, the
     * mean latency (arrival to response at the instance) of the window,
     * and its estimate of the service time (the mean it saw, smoothed
     * over windows).  The controller hands the selector the values of the
     * last report (controller/steer.c feeds the metrics store's 'last'),
     * or, with 'smooth_reports', the values smoothed as the metrics store
     * smooths them (what cats-sim did before the selector had a rate
     * model). */
    smooth(&inst->sm_in_flight, first || !s->cfg->smooth_reports, alpha,
           inst->busy);
    smooth(&inst->sm_queue, first || !s->cfg->smooth_reports, alpha,
           inst->q_len);
    if (inst->lat_n) {
        smooth(&inst->sm_latency,
               !inst->has_latency || !s->cfg->smooth_reports, alpha,
               inst->lat_sum / inst->lat_n);
        inst->has_latency = true;
    }
    if (inst->svc_n) {
        smooth(&inst->sm_service, !inst->has_service, alpha,
               inst->svc_sum / inst->svc_n);
        inst->has_service = true;
    }
    inst->lat_sum = inst->svc_sum = 0;
    inst->lat_n = inst->svc_n = 0;

    struct cats_sel_instance_report r = {
        .time = (long long) t,
        .selectable = true,
        .has_in_flight = true,
        .in_flight = inst->sm_in_flight,
        .has_queue = true,
        .queue = inst->sm_queue,
        .has_latency = inst->has_latency,
        .latency_ms = inst->sm_latency,
        .has_service = s->cfg->report_service && inst->has_service,
        .service_ms = inst->sm_service,
    };
    int error = cats_sel_instance_report(s->svc, i, &r);
    ovs_assert(!error);
    schedule(s, t + s->cfg->report_ms, EV_REPORT, i, 0, 0);
}

static void
on_telemetry(struct sim *s, uint32_t pi, double t)
{
    const struct sim_config *cfg = s->cfg;
    struct path *p = &s->paths[pi];
    const struct segment *seg = path_at(cfg, p, t);
    double paused_us = path_paused(cfg, p, t) * 1000;
    struct cats_report_link link = {
        .kind = CATS_LINK_KIND_PATH,
        .tx_packets = p->tx_packets,
        .tx_bytes = p->tx_packets * 1500,
        .ecn_marked_packets = (uint64_t) p->ecn_marked,
        .has_queue_depth = true,
        .speed_bps = PATH_SPEED_BPS,
        .n_pfc = 1,
    };

    double queue_ms = (seg->state == PATH_CONGESTED ? cfg->congested_queue_ms
                       : seg->state == PATH_STORM ? 10 : 0);
    link.queue_depth_bytes = queue_ms / 1000 * PATH_SPEED_BPS / 8;
    if (seg->state != PATH_STORM) {
        link.has_rtt = true;
        link.rtt_us = (p->rtt_ms + 2 * (seg->state == PATH_CONGESTED
                                        ? cfg->congested_queue_ms : 0))
                      * 1000;
    }
    link.pfc[0] = (struct cats_report_pfc) {
        .priority = PFC_PRIORITY,
        .rx_pause_frames = (uint64_t) (paused_us / 100),
        .rx_pause_us = (uint64_t) paused_us,
        .paused_for_us = (seg->state == PATH_STORM
                          ? (uint64_t) ((t - seg->start) * 1000) : 0),
    };

    int error = cats_sel_path_report(s->sel, p->sel_path, &link, 1,
                                     (long long) t);
    ovs_assert(!error);
    schedule(s, t + cfg->telemetry_ms, EV_TELEMETRY, pi, 0, 0);
}

/* Policy split: the best weights for the instances and paths as they are
 * now.  Every reweight interval it computes, from perfect and instant
 * knowledge of every instance's background level and service time and
 * every path's state, the split that minimizes the mean completion time
 * under the queue model of the selector's rate model (marginal costs
 * equal over the instances used, cats/selector.h), and applies it at
 * once.  What a weighted split could do with perfect information: the
 * gap between it and the oracle is what per-connection decisions on
 * instant queues are worth, the gap between ours and it what stale and
 * partial information costs. */

/* The expected network part of a request sent on 'path' at 't': the rest
 * of a storm, the round trip and its congestion. */
static double
split_net(struct sim *s, uint32_t path, double t)
{
    const struct sim_config *cfg = s->cfg;
    struct path *p = &s->paths[path];
    const struct segment *seg = path_at(cfg, p, t);

    switch (seg->state) {
    case PATH_STORM:
        return seg->end - t + p->rtt_ms + 2 * cfg->congested_queue_ms;
    case PATH_CONGESTED:
        return p->rtt_ms + 2 * cfg->congested_queue_ms
               + cfg->pause_fraction * cfg->pause_max_ms;
    case PATH_CALM:
    default:
        return p->rtt_ms;
    }
}

/* The marginal cost of instance 'inst' at utilization 'rho' with the
 * fixed cost 'base' (network and service time): base + T / C * Lq'(rho),
 * Lq(rho) = rho^k / (1 - rho), k = sqrt(2 (C + 1)). */
static double
split_marginal(const struct instance *inst, double base, double rho)
{
    double c = inst->slots, k = sqrt(2.0 * (c + 1));

    return base + inst->mean_ms / c * pow(rho, k - 1) * (k - (k - 1) * rho)
                  / ((1 - rho) * (1 - rho));
}

/* Client connections per ms that bring 'inst' to marginal cost 'level'. */
static double
split_rate(const struct instance *inst, double base, double level)
{
    double lo = inst->bg_level, hi = 0.9999;

    if (lo >= hi || split_marginal(inst, base, lo) >= level) {
        return 0;
    }
    for (int k = 0; k < 40; k++) {
        double mid = (lo + hi) / 2;

        if (split_marginal(inst, base, mid) < level) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return (lo - inst->bg_level) * inst->slots / inst->mean_ms;
}

static void
split_reweight(struct sim *s, double t)
{
    double net[2] = { split_net(s, 0, t), split_net(s, 1, t) };
    double *base = xmalloc(s->n_insts * sizeof *base);
    double lo = INFINITY, hi = 1e7;

    for (size_t i = 0; i < s->n_insts; i++) {
        const struct instance *inst = &s->insts[i];

        base[i] = (inst->remote ? MIN(net[0], net[1])
                   : s->cfg->local_rtt_ms) + inst->mean_ms;
        lo = MIN(lo, base[i]);
    }
    for (int k = 0; k < 60; k++) {
        double mid = (lo + hi) / 2, sum = 0;

        for (size_t i = 0; i < s->n_insts; i++) {
            sum += split_rate(&s->insts[i], base[i], mid);
        }
        if (sum < s->lambda) {
            lo = mid;
        } else {
            hi = mid;
        }
    }

    /* Each instance's share on its best path. */
    uint64_t sum = 0;
    for (size_t i = 0; i < s->n_insts; i++) {
        const struct instance *inst = &s->insts[i];
        double x = split_rate(inst, base[i], hi) / s->lambda;

        for (size_t k = 0; k < inst->n_pairs; k++) {
            bool best = !inst->remote || net[k] < net[1 - k]
                        || (net[k] == net[1 - k] && k == 0);

            sum += best ? (uint64_t) (x * 1e9) : 0;
            s->applied_cum[inst->first_pair + k] = sum;
        }
    }
    free(base);
    schedule(s, t + s->cfg->reweight_ms, EV_REWEIGHT, 0, 0, 0);
}

static void
on_reweight(struct sim *s, double t)
{
    if (s->policy == SIM_SPLIT) {
        split_reweight(s, t);
        return;
    }
    cats_sel_reweight(s->svc, (long long) t);
    for (size_t k = 0; k < s->n_pairs; k++) {
        s->pending_w[k] = cats_sel_weight(s->svc, k);
    }
    schedule(s, t + s->cfg->apply_ms, EV_APPLY, 0, 0, 0);
    schedule(s, t + s->cfg->reweight_ms, EV_REWEIGHT, 0, 0, 0);
}

/* The controller polls OVS's per-instance counters of new connections and
 * hands the selector what each counted since the previous poll. */
static void
on_stats(struct sim *s, double t)
{
    for (size_t i = 0; i < s->n_insts; i++) {
        struct instance *inst = &s->insts[i];

        cats_sel_instance_sent(s->svc, i, inst->sent - inst->sent_polled,
                               (long long) t);
        inst->sent_polled = inst->sent;
    }
    schedule(s, t + s->cfg->stats_ms, EV_STATS, 0, 0, 0);
}

static void
on_apply(struct sim *s)
{
    uint64_t sum = 0;

    for (size_t k = 0; k < s->n_pairs; k++) {
        sum += s->pending_w[k];
        s->applied_cum[k] = sum;
    }
}

/* Set-up and results. */

static const char *
check_config(const struct sim_config *cfg, enum sim_policy policy)
{
    if (!(cfg->load > 0 && cfg->load < 10)) {
        return "load must be above 0 (and below 10)";
    }
    if (!(cfg->background >= 0 && cfg->background < 0.5)) {
        return "background must be from 0 to 0.5";
    }
    if (cfg->load <= cfg->background) {
        return "load must be above the background load";
    }
    if (cfg->n_instances < 2 || cfg->n_instances > 10000000) {
        return "instances must be from 2 to 10000000";
    }
    if ((policy == SIM_LC || policy == SIM_ORACLE || policy == SIM_SPLIT
         || policy == SIM_OURS)
        && cfg->n_instances > SIM_SCAN_MAX) {
        return "lc, split, oracle and ours scan every instance: at most "
               "5000 instances (ours-weights has no such limit)";
    }
    if (!(cfg->duration_s > 0) || !(cfg->warmup_s >= 0)
        || cfg->warmup_s >= cfg->duration_s) {
        return "duration must be above 0 and above the warm-up";
    }
    if (!cfg->min_slots || cfg->min_slots > cfg->max_slots
        || cfg->max_slots > 1000000) {
        return "slots must be 1 <= min <= max";
    }
    if (!(cfg->service_ms > 0) || !(cfg->slow_factor >= 1)
        || !(cfg->slow_fraction >= 0 && cfg->slow_fraction <= 1)
        || !(cfg->remote_fraction >= 0 && cfg->remote_fraction <= 1)
        || !(cfg->sigma >= 0 && cfg->sigma < 5)) {
        return "bad service time, slow instance, sigma or remote settings";
    }
    if (!(cfg->report_ms >= 1) || !(cfg->telemetry_ms >= 1)
        || !(cfg->reweight_ms >= 1) || !(cfg->apply_ms >= 0)
        || cfg->apply_ms >= cfg->reweight_ms
        || !(cfg->stats_ms == 0 || cfg->stats_ms >= 1)) {
        return "intervals must be at least 1 ms, apply below reweight";
    }
    if (!(cfg->decide_ms >= 0 && cfg->decide_ms <= 1000)) {
        return "decide_ms must be from 0 to 1000";
    }
    if (!(cfg->background_change_s > 0) || !(cfg->congested_s > 0)
        || !(cfg->calm_s[0] > 0) || !(cfg->calm_s[1] > 0)
        || !(cfg->storm_s > 0) || !(cfg->pause_fraction >= 0
                                    && cfg->pause_fraction < 1)) {
        return "bad path or background timing";
    }
    return NULL;
}

static void
setup(struct sim *s, const struct sim_config *cfg, enum sim_policy policy)
{
    struct rng setup_rng;
    double capacity = 0;

    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->policy = policy;
    s->t_end = cfg->duration_s * 1000;
    s->t_warm = cfg->warmup_s * 1000;
    rng_seed(&setup_rng, cfg->seed, STREAM_SETUP);
    rng_seed(&s->arrivals, cfg->seed, STREAM_ARRIVALS);
    rng_seed(&s->policy_rng, cfg->seed, STREAM_POLICY);

    for (int p = 0; p < 2; p++) {
        struct path *path = &s->paths[p];

        path->idx = p;
        rng_seed(&path->rng, cfg->seed, STREAM_PATH0 + p);
        path->rtt_ms = cfg->path_rtt_ms[p];
        path->calm_s = cfg->calm_s[p];
        path->storm_prob = cfg->storm_prob[p];
    }

    s->n_insts = cfg->n_instances;
    s->insts = xcalloc(s->n_insts, sizeof *s->insts);
    for (size_t i = 0; i < s->n_insts; i++) {
        struct instance *inst = &s->insts[i];
        unsigned int span = cfg->max_slots - cfg->min_slots + 1;

        inst->slots = cfg->min_slots + rng_next(&setup_rng) % span;
        inst->mean_ms = cfg->service_ms;
        if (rng_uniform(&setup_rng) < cfg->slow_fraction) {
            inst->mean_ms *= cfg->slow_factor;
        }
        inst->remote = rng_uniform(&setup_rng) < cfg->remote_fraction;
        capacity += inst->slots / inst->mean_ms;
        rng_seed(&inst->rng, cfg->seed, STREAM_INSTANCE0 + i);
        inst->bg_rate_max = (2 * cfg->background * inst->slots
                             / inst->mean_ms);
        inst->first_pair = s->n_pairs;
        inst->n_pairs = inst->remote ? 2 : 1;
        s->n_pairs += inst->n_pairs;
    }
    s->lambda = (cfg->load - cfg->background) * capacity;

    s->slots_cum = xmalloc(s->n_insts * sizeof *s->slots_cum);
    for (size_t i = 0, sum = 0; i < s->n_insts; i++) {
        sum += s->insts[i].slots;
        s->slots_cum[i] = sum;
    }

    s->pair_inst = xmalloc(s->n_pairs * sizeof *s->pair_inst);
    s->pair_path = xmalloc(s->n_pairs * sizeof *s->pair_path);
    for (size_t i = 0; i < s->n_insts; i++) {
        const struct instance *inst = &s->insts[i];

        for (size_t k = 0; k < inst->n_pairs; k++) {
            s->pair_inst[inst->first_pair + k] = i;
            s->pair_path[inst->first_pair + k] = inst->remote ? k : NO_PATH;
        }
    }

    /* Report phases are drawn for every policy, so that the setup stream
     * is the same whatever the policy. */
    double *phase = xmalloc(s->n_insts * sizeof *phase);
    for (size_t i = 0; i < s->n_insts; i++) {
        phase[i] = rng_uniform(&setup_rng) * cfg->report_ms;
    }

    schedule(s, rng_exp(&s->arrivals, 1.0 / s->lambda), EV_ARRIVAL, 0, 0, 0);
    for (size_t i = 0; i < s->n_insts; i++) {
        struct instance *inst = &s->insts[i];

        if (inst->bg_rate_max > 0) {
            inst->bg_next_change = 0;
            schedule(s, rng_exp(&inst->rng, 1.0 / inst->bg_rate_max),
                     EV_BACKGROUND, i, 0, 0);
        }
    }

    if (sim_policy_is_ours(policy)) {
        s->sel = cats_sel_create(&cfg->sel);
        for (int p = 0; p < 2; p++) {
            char name[16];

            snprintf(name, sizeof name, "wan-%c", 'a' + p);
            s->paths[p].sel_path = cats_sel_path_add(s->sel, name,
                                                     cfg->path_rtt_ms[p]);
            schedule(s, 0, EV_TELEMETRY, p, 0, 0);
        }
        s->svc = cats_sel_service_add(s->sel, "sim", cfg->sel_policy);
        for (size_t i = 0; i < s->n_insts; i++) {
            const struct instance *inst = &s->insts[i];
            char name[32];

            snprintf(name, sizeof name, "i%"PRIuSIZE"%s", i,
                     inst->remote ? "r" : "");
            cats_sel_instance_add(s->svc, name, inst->slots, 100);
            for (size_t k = 0; k < inst->n_pairs; k++) {
                cats_sel_pair_add(s->svc, i, (inst->remote
                                              ? s->paths[k].sel_path
                                              : CATS_SEL_LOCAL));
            }
            schedule(s, phase[i], EV_REPORT, i, 0, 0);
        }
        s->pending_w = xcalloc(s->n_pairs, sizeof *s->pending_w);
        s->applied_cum = xcalloc(s->n_pairs, sizeof *s->applied_cum);
        /* The first reweight has only the registered capacities. */
        schedule(s, 0, EV_REWEIGHT, 0, 0, 0);
        if (cfg->stats_ms > 0) {
            schedule(s, 0, EV_STATS, 0, 0, 0);
        }
    } else if (policy == SIM_SPLIT) {
        s->applied_cum = xcalloc(s->n_pairs, sizeof *s->applied_cum);
        schedule(s, 0, EV_REWEIGHT, 0, 0, 0);
    }
    free(phase);
}

static void
teardown(struct sim *s)
{
    for (size_t i = 0; i < s->n_insts; i++) {
        free(s->insts[i].queue);
    }
    free(s->insts);
    for (int p = 0; p < 2; p++) {
        free(s->paths[p].segs);
    }
    free(s->pair_inst);
    free(s->pair_path);
    free(s->slots_cum);
    free(s->reqs);
    free(s->free_reqs);
    free(s->heap);
    free(s->samples);
    free(s->pending_w);
    free(s->applied_cum);
    cats_sel_destroy(s->sel);
}

static int
compare_doubles(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;

    return a < b ? -1 : a > b;
}

/* The 'q' quantile of the sorted 'v' (nearest rank). */
static double
quantile(const double *v, size_t n, double q)
{
    size_t rank = (size_t) ceil(q * n);

    return v[rank ? MIN(rank, n) - 1 : 0];
}

static void
results(struct sim *s, struct sim_result *r)
{
    const struct sim_config *cfg = s->cfg;
    double window = s->t_end - s->t_warm;

    memset(r, 0, sizeof *r);
    r->policy = s->policy;
    r->load = cfg->load;
    r->n_requests = s->n_samples;
    if (s->n_samples) {
        double sum = 0;

        qsort(s->samples, s->n_samples, sizeof *s->samples,
              compare_doubles);
        for (size_t k = 0; k < s->n_samples; k++) {
            sum += s->samples[k];
        }
        r->mean_ms = sum / s->n_samples;
        r->p50_ms = quantile(s->samples, s->n_samples, 0.5);
        r->p99_ms = quantile(s->samples, s->n_samples, 0.99);
        r->p999_ms = quantile(s->samples, s->n_samples, 0.999);
        r->max_ms = s->samples[s->n_samples - 1];
    }

    double max_u = 0, sum_u = 0;
    for (size_t i = 0; i < s->n_insts; i++) {
        const struct instance *inst = &s->insts[i];
        double u = inst->busy_ms / (inst->slots * window);

        max_u = MAX(max_u, u);
        sum_u += u;
    }
    r->imbalance = sum_u > 0 ? max_u / (sum_u / s->n_insts) : 0;

    r->n_storm_requests = s->n_storm_requests;
    if (s->svc) {
        struct cats_sel_stats st;

        cats_sel_get_stats(s->svc, &st);
        r->changes_per_s = st.n_changes / (s->t_end / 1000);
        r->flips_per_s = st.n_flips / (s->t_end / 1000);
        r->n_reweights = st.n_reweights;
        r->n_fallbacks = s->n_fallbacks;
    } else {
        r->changes_per_s = r->flips_per_s = NAN;
    }
}

int
sim_run(const struct sim_config *cfg, enum sim_policy policy,
        struct sim_result *result, const char **errorp)
{
    const char *error = check_config(cfg, policy);
    struct sim s;

    if (error) {
        *errorp = error;
        return EINVAL;
    }
    *errorp = NULL;

    setup(&s, cfg, policy);
    while (s.n_heap && !(s.arrivals_done && !s.outstanding)) {
        struct event e = pop(&s);

        switch ((enum event_type) e.type) {
        case EV_ARRIVAL:
            on_arrival(&s, e.t);
            break;
        case EV_AT_INSTANCE:
            on_at_instance(&s, e.a, e.t);
            break;
        case EV_DEPART:
            on_depart(&s, e.a, e.b, e.x, e.t);
            break;
        case EV_RESPONSE:
            on_response(&s, e.a, e.t);
            break;
        case EV_BACKGROUND:
            on_background(&s, e.a, e.t);
            break;
        case EV_REPORT:
            on_report(&s, e.a, e.t);
            break;
        case EV_TELEMETRY:
            on_telemetry(&s, e.a, e.t);
            break;
        case EV_REWEIGHT:
            on_reweight(&s, e.t);
            break;
        case EV_APPLY:
            on_apply(&s);
            break;
        case EV_STATS:
            on_stats(&s, e.t);
            break;
        }
    }
    results(&s, result);
    teardown(&s);
    return 0;
}

void
sim_format_results(const struct sim_result *r, size_t n, bool csv,
                   struct ds *out)
{
    if (csv) {
        ds_put_cstr(out, "policy,load,requests,mean_ms,p50_ms,p99_ms,"
                    "p999_ms,max_ms,imbalance,changes_per_s,flips_per_s,"
                    "storm_held\n");
    } else {
        ds_put_format(out, "%-12s %5s %9s %8s %8s %8s %9s %9s %6s %9s %8s"
                      " %6s\n", "policy", "load", "requests", "mean_ms",
                      "p50_ms", "p99_ms", "p99.9_ms", "max_ms", "imbal",
                      "changes/s", "flips/s", "storm");
    }
    for (size_t k = 0; k < n; k++) {
        const struct sim_result *x = &r[k];

        if (csv) {
            ds_put_format(out, "%s,%.3f,%"PRIu64",%.3f,%.3f,%.3f,%.3f,"
                          "%.3f,%.3f,", sim_policy_name(x->policy), x->load,
                          x->n_requests, x->mean_ms, x->p50_ms, x->p99_ms,
                          x->p999_ms, x->max_ms, x->imbalance);
            if (isnan(x->changes_per_s)) {
                ds_put_cstr(out, ",");
            } else {
                ds_put_format(out, "%.3f,%.3f", x->changes_per_s,
                              x->flips_per_s);
            }
            ds_put_format(out, ",%"PRIu64"\n", x->n_storm_requests);
        } else {
            ds_put_format(out, "%-12s %5.2f %9"PRIu64" %8.2f %8.2f %8.2f"
                          " %9.2f %9.2f %6.2f", sim_policy_name(x->policy),
                          x->load, x->n_requests, x->mean_ms, x->p50_ms,
                          x->p99_ms, x->p999_ms, x->max_ms, x->imbalance);
            if (isnan(x->changes_per_s)) {
                ds_put_format(out, " %9s %8s", "-", "-");
            } else {
                ds_put_format(out, " %9.2f %8.3f", x->changes_per_s,
                              x->flips_per_s);
            }
            ds_put_format(out, " %6"PRIu64"\n", x->n_storm_requests);
        }
    }
}

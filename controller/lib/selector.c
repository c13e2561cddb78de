/*
 * ovs-cats: the path selector.  See include/cats/selector.h for the model.
 */

#include <config.h>

#include "cats/selector.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "openvswitch/dynamic-string.h"
#include "util.h"

#define INSTANCE_NAME_MAX 47

/* Largest queue depth taken from telemetry, bytes (1 TB): enough for any
 * real queue, small enough that the delay stays a sane number. */
#define MAX_QUEUE_BYTES (UINT64_C(1) << 40)

/* Largest 'paused_for_us' taken, us (about 11.6 days). */
#define MAX_PAUSED_FOR_US (UINT64_C(1) << 40)

/* Highest pause fraction that enters the stretch (the stretch would be
 * infinite at 1). */
#define MAX_PAUSE_FRAC 0.99

/* Service time learned from latencies: time constant, and the queue per
 * unit of capacity below which a latency is trusted to be mostly service
 * time. */
#define SERVICE_TAU_MS 5000.0
#define SERVICE_FIRST_GAIN 0.5
#define QUEUE_TRUSTED 0.5

/* Rate model (see the header).  Time constant of the arrival rate smoothed
 * from the counts, and how old the last count of an instance may be for
 * its rate to count (a controller that stopped counting falls back to the
 * proportional model rather than planning for a rate of long ago). */
#define RATE_TAU_MS 1000.0
#define COUNT_MAX_AGE_MS 10000

/* Rate model: the highest utilization planned for (the queue model's wait
 * is infinite at 1), and the highest that an occupancy is taken to show
 * (past it a queue is not a stationary one, see occupancy_rho()). */
#define MAX_RHO 0.995
#define RHO_KNEE 0.95

/* Rate model: the solvers' limits.  They converge in a few iterations from
 * the previous reweight's solution; a relative error of 1e-5 is far below
 * what moves a weight (the deadband is 5%). */
#define SOLVE_ITERATIONS 60
#define SOLVE_TOLERANCE 1e-5

/* A share damped down below this fraction of the mean share is set to 0. */
#define SNAP_FRACTION 0.01

/* How far a publication moves a pair's published share toward its damped
 * share. */
#define PUBLISH_GAIN 0.5

/* Weight scale: the largest weight is put at SCALE_TARGET, and the scale is
 * chosen again only when it would leave [SCALE_LOW, 65535]. */
#define WEIGHT_MAX 65535.0
#define SCALE_TARGET (WEIGHT_MAX / 2)
#define SCALE_LOW (WEIGHT_MAX / 8)

struct sel_path {
    char name[CATS_ID_MAX + 1];
    double base_rtt_ms;

    /* Counters of the previous sample (the baseline for deltas). */
    bool has_base;
    uint64_t epoch;
    long long last_sample;          /* LLONG_MIN: none yet. */
    uint64_t tx_packets;
    uint64_t ecn_marked;
    uint64_t drops;
    uint8_t pfc_seen;               /* Bit n: pause_us[n] is a baseline. */
    uint64_t pause_us[CATS_PFC_PRIORITIES];

    /* Smoothed fractions. */
    double alpha;
    double pause_frac;
    double drop_frac;

    /* Gauges from the last sample. */
    bool has_queue;
    uint64_t queue_bytes;
    bool has_rtt;
    double rtt_ms;
    uint64_t speed_bps;
    uint64_t paused_for_us;

    /* Watchdog. */
    bool storm;
    long long storm_since;
    long long clean_since;

    /* Cost terms, from the above. */
    double delay_ms;
    double stretch;
    double loss_ms;
    double net_ms;

    uint64_t n_samples, n_rejected, n_resets, n_storms;
};

struct cats_selector {
    struct cats_sel_config cfg;
    struct sel_path *paths;
    size_t n_paths, allocated_paths;
    struct cats_sel_service **services;
    size_t n_services, allocated_services;
};

struct sel_instance {
    char name[INSTANCE_NAME_MAX + 1];
    uint32_t capacity;              /* At least 1. */
    uint16_t static_weight;
    bool selectable;
    bool has_report;
    struct cats_sel_instance_report report;
    bool has_t_est;
    double t_est;                   /* Service time learned from latency. */
    double gap_ms;                  /* Between its last two reports. */

    /* Rate model: counts, and the reported occupancy smoothed with what
     * we sent at each report. */
    long long sent_time;            /* Last count sample; LLONG_MIN: none. */
    bool has_sent_rate;
    double sent_rate;               /* Counted, per ms, smoothed. */
    uint64_t sent_pending;          /* Counted at the last sample's time,
                                     * for the next sample. */
    double pub_frac;                /* Share of new connections that the
                                     * published weights give it. */
    bool has_occ;
    double occ;                     /* Smoothed R + Q. */
    double own;                     /* Smoothed rate of ours, per ms, at
                                     * the same reports and weights. */
    double occ_rho;                 /* Utilization that explains 'occ'. */
    double excess;                  /* Backlog beyond the stationary one, */
    long long excess_time;          /* as of this report's time. */

    /* Per-connection decisions: R + Q of the last report (0 before any),
     * and the connections placed here and ended here since then (since
     * the instance was added, before any report). */
    double conn_base;
    uint64_t conn_placed;
    uint64_t conn_ended;

    /* As of the last reweight. */
    double load;
    double wait_ms;
    double service_ms;
    double instance_ms;
    double rate;
    bool hot;
    double other;                   /* Rate model: b. */
    double rho;                     /* Rate model: planned utilization, */
    double plan;                    /* and connections per ms. */
    double base;                    /* Rate model: T + best net, */
    double u;                       /* C / T, */
    double k;                       /* Lq exponent (constant), */
    double d1_hi;                   /* Lq' at MAX_RHO (constant). */

    /* Damping state: the instance's share of the service (its pairs'
     * shares are this times their fractions). */
    double target;                  /* Sum of its pairs' targets. */
    double share;

    /* Reweight scratch. */
    double max_score;
    double sum_score;
    double sum_frac;
    size_t n_eligible;
};

struct sel_pair {
    size_t instance;
    size_t path;                    /* CATS_SEL_LOCAL: none. */
    enum cats_sel_reason reason;
    bool cut;                       /* Hysteresis state of the cut-off. */
    int8_t last_dir;                /* Sign of the last published change. */
    uint16_t weight;
    double cost;
    double score;
    double target;
    double frac;                    /* Damped fraction of the instance's
                                     * share. */
    double share;                   /* Instance share times 'frac'. */
    double published;
};

/* Rate model: one instance with room in the plan, packed so that the
 * solver's passes over them stay in cache. */
struct sel_plan {
    double base;                    /* T + its best path's net. */
    double u;                       /* C / T. */
    double k;                       /* Lq exponent. */
    double other;                   /* b. */
    double d1_lo, d1_hi;            /* Lq' at b and at MAX_RHO. */
    double rho;                     /* Planned (the warm start before). */
    size_t instance;
};

/* Per-connection decisions: what a pick reads of an instance and of a
 * pair, packed, so that its pass over every pair reads a few bytes per
 * pair rather than the whole of each instance (at 100,000 instances the
 * pass is memory-bound).  Kept up to date by every call that changes one
 * of them. */
struct sel_conn {
    double n;                       /* conn_base + placed - ended, not yet
                                     * floored or clamped. */
    double t;                       /* Service time, as the cost model. */
    double c;                       /* Capacity. */
    double w;                       /* Static weight. */
    bool selectable;
};

struct sel_conn_pair {
    size_t instance;
    size_t path;                    /* CATS_SEL_LOCAL: none. */
};

/* A path's cost terms as one reweight saw them, for explanations. */
struct sel_path_snap {
    double delay_ms, stretch, loss_ms, net_ms;
    bool storm;
};

struct cats_sel_service {
    struct cats_selector *sel;
    char name[CATS_NAME_MAX + 1];
    enum cats_sel_policy policy;

    struct sel_instance *instances;
    size_t n_instances, allocated_instances;
    struct sel_pair *pairs;
    size_t n_pairs, allocated_pairs;

    /* Cumulative published weights, for cats_sel_pick(): cum[i] is the sum
     * of the weights of pairs 0 to i.  Valid for 'n_cum' pairs. */
    uint64_t *cum;
    size_t n_cum;

    double *scratch;                /* Loads or costs, for quantiles. */
    size_t allocated_scratch;

    struct sel_path_snap *snap;     /* One per path at the last reweight. */
    size_t n_snap;

    struct sel_plan *plan;          /* Rate model scratch. */

    struct sel_conn *conn;          /* One per instance. */
    struct sel_conn_pair *conn_pairs;   /* One per pair. */
    size_t n_plan, allocated_plan;

    long long last_reweight;        /* LLONG_MIN: never. */
    long long reweight_time;        /* 'now' of the last reweight. */
    double scale;                   /* Published share -> weight; 0: none. */
    double tau_used;                /* Instance damping, last reweight. */
    double gap_sum;                 /* Sum of the instances' 'gap_ms', */
    size_t n_gaps;                  /* over this many. */
    double arrivals;                /* Counted, smoothed, per ms; 0: none
                                     * counted yet. */
    bool has_counts;                /* At the last reweight, some instance
                                     * had a recent count rate. */
    double level;                   /* Rate model: the last marginal cost
                                     * level (a warm start); 0: none. */
    double planned;                 /* Rate model: the arrival rate planned
                                     * for, per ms; 0: not used. */
    struct cats_sel_stats stats;
};

/* The queue model of the rate model (see the header): an instance with C
 * slots at utilization rho holds rho * C requests in service and, on
 * average, Lq(rho) = rho^k / (1 - rho) in its queue, k = sqrt(2 (C + 1))
 * (Sakasegawa's approximation of M/M/C; exact for C = 1). */
static double
lq_exponent(double c)
{
    return sqrt(2.0 * (c + 1.0));
}

/* Lq(rho), for 0 <= rho < 1, with Lq'(rho) in '*d1' (one pow(): these run
 * once per instance and iteration of a reweight). */
static double
lq(double k, double rho, double *d1)
{
    double p, q;

    if (rho <= 0) {
        *d1 = 0;
        return 0;
    }
    p = pow(rho, k - 1.0);
    q = 1.0 / (1.0 - rho);
    *d1 = p * (k - (k - 1.0) * rho) * q * q;
    return p * rho * q;
}

/* Lq''(rho) / Lq'(rho), for 0 < rho < 1. */
static double
lq_log_slope(double k, double rho)
{
    return ((k - 1.0) / rho - (k - 1.0) / (k - (k - 1.0) * rho)
            + 2.0 / (1.0 - rho));
}

/* Newton's method on an increasing function, kept inside the bracket
 * [lo, hi] that holds the root (bisection when a step would leave it). */
static double
newton_step(double x, double f, double slope, double *lo, double *hi)
{
    double next;

    if (f < 0) {
        *lo = x;
    } else {
        *hi = x;
    }
    next = slope > 0 ? x - f / slope : NAN;
    return next > *lo && next < *hi ? next : (*lo + *hi) / 2;
}

/* Configuration. */

void
cats_sel_config_init(struct cats_sel_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sharpness = CATS_SEL_SHARPNESS;
    cfg->cut_ratio = CATS_SEL_CUT_RATIO;
    cfg->readmit_ratio = CATS_SEL_READMIT_RATIO;
    cfg->cut_quantile = CATS_SEL_CUT_QUANTILE;
    cfg->tau_ms = CATS_SEL_TAU_MS;
    cfg->path_tau_ms = CATS_SEL_PATH_TAU_MS;
    cfg->stale_factor = CATS_SEL_STALE_FACTOR;
    cfg->max_step = CATS_SEL_MAX_STEP;
    cfg->deadband = CATS_SEL_DEADBAND;
    cfg->hot_quantile = CATS_SEL_HOT_QUANTILE;
    cfg->hot_min_load = CATS_SEL_HOT_MIN_LOAD;
    cfg->hot_factor = CATS_SEL_HOT_FACTOR;
    cfg->default_service_ms = CATS_SEL_DEFAULT_SERVICE_MS;
    cfg->latency_weight = CATS_SEL_LATENCY_WEIGHT;
    cfg->ecn_period_ms = CATS_SEL_ECN_PERIOD_MS;
    cfg->ecn_g = CATS_SEL_ECN_G;
    cfg->drop_penalty_ms = CATS_SEL_DROP_PENALTY_MS;
    cfg->watchdog_ms = CATS_SEL_WATCHDOG_MS;
    cfg->restore_ms = CATS_SEL_RESTORE_MS;
    cfg->pfc_priorities = 0xff;
    cfg->occupancy_tau_ms = CATS_SEL_OCCUPANCY_TAU_MS;
    cfg->min_plan_load = CATS_SEL_MIN_PLAN_LOAD;
    cfg->drain_ms = CATS_SEL_DRAIN_MS;
    cfg->plan_tau_ms = CATS_SEL_PLAN_TAU_MS;
    cfg->path_sharpness = CATS_SEL_PATH_SHARPNESS;
    cfg->conn_wait_factor = CATS_SEL_CONN_WAIT_FACTOR;
}

/* Replaces '*x' by 'dflt' unless lo <= *x <= hi (NaN fails both). */
static void
sanitize(double *x, double lo, double hi, double dflt)
{
    if (!(*x >= lo && *x <= hi)) {
        *x = dflt;
    }
}

static void
sanitize_config(struct cats_sel_config *c)
{
    sanitize(&c->sharpness, 1e-3, 64, CATS_SEL_SHARPNESS);
    sanitize(&c->cut_ratio, 1 + 1e-9, 1e9, CATS_SEL_CUT_RATIO);
    sanitize(&c->readmit_ratio, 1 + 1e-9, 1e9, CATS_SEL_READMIT_RATIO);
    c->readmit_ratio = MIN(c->readmit_ratio, c->cut_ratio);
    sanitize(&c->cut_quantile, 0, 1, CATS_SEL_CUT_QUANTILE);
    sanitize(&c->max_step, 1e-6, INFINITY, CATS_SEL_MAX_STEP);
    sanitize(&c->stale_factor, 0, 1000, CATS_SEL_STALE_FACTOR);
    sanitize(&c->deadband, 0, 1, CATS_SEL_DEADBAND);
    sanitize(&c->hot_quantile, 0, 1, CATS_SEL_HOT_QUANTILE);
    sanitize(&c->hot_min_load, 0, CATS_SEL_MAX_COUNT, CATS_SEL_HOT_MIN_LOAD);
    sanitize(&c->hot_factor, 0, 1, CATS_SEL_HOT_FACTOR);
    sanitize(&c->default_service_ms, CATS_SEL_MIN_SERVICE_MS, CATS_SEL_MAX_MS,
             CATS_SEL_DEFAULT_SERVICE_MS);
    sanitize(&c->latency_weight, 0, 1, CATS_SEL_LATENCY_WEIGHT);
    sanitize(&c->ecn_g, 0, 1, CATS_SEL_ECN_G);
    sanitize(&c->drop_penalty_ms, 0, CATS_SEL_MAX_MS,
             CATS_SEL_DROP_PENALTY_MS);
    sanitize(&c->min_plan_load, 0, 0.95, CATS_SEL_MIN_PLAN_LOAD);
    sanitize(&c->path_sharpness, 1e-3, 64, CATS_SEL_PATH_SHARPNESS);
    sanitize(&c->conn_wait_factor, 1, 100, CATS_SEL_CONN_WAIT_FACTOR);
    c->ecn_period_ms = MAX(c->ecn_period_ms, 1);
    c->watchdog_ms = MAX(c->watchdog_ms, 1);
}

struct cats_selector *
cats_sel_create(const struct cats_sel_config *cfg)
{
    struct cats_selector *sel = xzalloc(sizeof *sel);

    if (cfg) {
        sel->cfg = *cfg;
    } else {
        cats_sel_config_init(&sel->cfg);
    }
    sanitize_config(&sel->cfg);
    return sel;
}

static void
service_destroy(struct cats_sel_service *svc)
{
    free(svc->instances);
    free(svc->pairs);
    free(svc->cum);
    free(svc->scratch);
    free(svc->snap);
    free(svc->plan);
    free(svc->conn);
    free(svc->conn_pairs);
    free(svc);
}

void
cats_sel_destroy(struct cats_selector *sel)
{
    if (sel) {
        for (size_t i = 0; i < sel->n_services; i++) {
            service_destroy(sel->services[i]);
        }
        free(sel->services);
        free(sel->paths);
        free(sel);
    }
}

const struct cats_sel_config *
cats_sel_get_config(const struct cats_selector *sel)
{
    return &sel->cfg;
}

const char *
cats_sel_policy_name(enum cats_sel_policy policy)
{
    switch (policy) {
    case CATS_SEL_MIN_LATENCY:
        return "min-latency";
    case CATS_SEL_LEAST_LOADED:
        return "least-loaded";
    case CATS_SEL_STATIC:
        return "static";
    }
    return "unknown";
}

bool
cats_sel_policy_from_string(const char *name, enum cats_sel_policy *policy)
{
    for (int p = CATS_SEL_MIN_LATENCY; p <= CATS_SEL_STATIC; p++) {
        if (!strcmp(name, cats_sel_policy_name(p))) {
            *policy = p;
            return true;
        }
    }
    return false;
}

const char *
cats_sel_reason_name(enum cats_sel_reason reason)
{
    switch (reason) {
    case CATS_SEL_OK:
        return "ok";
    case CATS_SEL_UNHEALTHY:
        return "unhealthy";
    case CATS_SEL_STORM:
        return "storm";
    case CATS_SEL_CUT:
        return "cut";
    }
    return "unknown";
}

/* Paths. */

static void
path_update_cost(const struct cats_selector *sel, struct sel_path *p)
{
    double queue_ms = 0;

    if (p->has_queue && p->speed_bps) {
        queue_ms = MIN((double) p->queue_bytes * 8.0 * 1000.0 / p->speed_bps,
                       CATS_SEL_MAX_MS);
    }
    p->delay_ms = p->base_rtt_ms + queue_ms;
    if (p->has_rtt) {
        p->delay_ms = MAX(p->delay_ms, p->rtt_ms);
    }
    p->delay_ms += MIN(p->paused_for_us / 1000.0, CATS_SEL_MAX_MS);
    p->stretch = 1.0 / ((1.0 - MIN(p->pause_frac, MAX_PAUSE_FRAC))
                        * (1.0 - p->alpha / 2.0));
    p->loss_ms = p->drop_frac * sel->cfg.drop_penalty_ms;
    p->net_ms = p->delay_ms * p->stretch + p->loss_ms;
}

size_t
cats_sel_path_add(struct cats_selector *sel, const char *name,
                  double base_rtt_ms)
{
    if (sel->n_paths >= sel->allocated_paths) {
        sel->paths = x2nrealloc(sel->paths, &sel->allocated_paths,
                                sizeof *sel->paths);
    }

    struct sel_path *p = &sel->paths[sel->n_paths];
    memset(p, 0, sizeof *p);
    ovs_strlcpy(p->name, name, sizeof p->name);
    p->base_rtt_ms = (base_rtt_ms >= 0
                      ? MIN(base_rtt_ms, CATS_SEL_MAX_MS) : 0);
    p->last_sample = LLONG_MIN;
    p->storm_since = LLONG_MIN;
    p->clean_since = LLONG_MIN;
    path_update_cost(sel, p);
    return sel->n_paths++;
}

size_t
cats_sel_n_paths(const struct cats_selector *sel)
{
    return sel->n_paths;
}

/* EWMA step: 'x' moves by 'g' toward 'sample'. */
static void
ewma(double *x, double g, double sample)
{
    *x += g * (sample - *x);
}

int
cats_sel_path_report(struct cats_selector *sel, size_t path,
                     const struct cats_report_link *link, uint64_t epoch,
                     long long now)
{
    const struct cats_sel_config *cfg = &sel->cfg;
    struct sel_path *p = &sel->paths[path];
    uint8_t present = 0;

    /* Validate everything before changing anything. */
    if (link->has_rtt && !(link->rtt_us >= 0 && isfinite(link->rtt_us))) {
        p->n_rejected++;
        return EINVAL;
    }
    if (link->n_pfc > CATS_PFC_PRIORITIES) {
        p->n_rejected++;
        return EINVAL;
    }
    for (size_t i = 0; i < link->n_pfc; i++) {
        uint8_t prio = link->pfc[i].priority;

        if (prio >= CATS_PFC_PRIORITIES || present & (1u << prio)) {
            p->n_rejected++;
            return EINVAL;
        }
        present |= 1u << prio;
    }
    if (p->last_sample != LLONG_MIN && now < p->last_sample) {
        p->n_rejected++;
        return ESTALE;
    }

    /* Counters: deltas against the previous sample, unless they restarted
     * (a new epoch, or any counter lower than before). */
    bool reset = (!p->has_base || epoch != p->epoch
                  || link->tx_packets < p->tx_packets
                  || link->ecn_marked_packets < p->ecn_marked
                  || link->drops < p->drops);
    for (size_t i = 0; !reset && i < link->n_pfc; i++) {
        const struct cats_report_pfc *pfc = &link->pfc[i];

        if (p->pfc_seen & (1u << pfc->priority)
            && pfc->rx_pause_us < p->pause_us[pfc->priority]) {
            reset = true;
        }
    }

    bool pause_accrued = false;
    if (!reset) {
        long long dt = now - p->last_sample;
        uint64_t d_tx = link->tx_packets - p->tx_packets;
        uint64_t d_marked = link->ecn_marked_packets - p->ecn_marked;
        uint64_t d_drops = link->drops - p->drops;
        double pause = 0;

        for (size_t i = 0; i < link->n_pfc; i++) {
            const struct cats_report_pfc *pfc = &link->pfc[i];
            uint8_t bit = 1u << pfc->priority;

            if (p->pfc_seen & bit && cfg->pfc_priorities & bit) {
                uint64_t d = pfc->rx_pause_us - p->pause_us[pfc->priority];

                if (d) {
                    pause_accrued = true;
                }
                if (dt > 0) {
                    pause = MAX(pause, MIN(1.0, d / (dt * 1000.0)));
                }
            }
        }

        /* A sample at the same time as the previous one carries no time to
         * average over: it moves no fraction (a burst of samples cannot
         * drive the EWMAs). */
        if (dt > 0) {
            double g = 1.0 - pow(1.0 - cfg->ecn_g,
                                 (double) dt / cfg->ecn_period_ms);
            double marked = d_tx ? MIN(1.0, (double) d_marked / d_tx) : 0;
            double drops = (d_tx + d_drops
                            ? (double) d_drops / ((double) d_tx + d_drops)
                            : 0);

            ewma(&p->alpha, g, marked);
            ewma(&p->pause_frac, g, pause);
            ewma(&p->drop_frac, g, drops);
        }
    } else if (p->has_base) {
        p->n_resets++;
    }

    /* New baseline. */
    p->has_base = true;
    p->epoch = epoch;
    p->last_sample = now;
    p->tx_packets = link->tx_packets;
    p->ecn_marked = link->ecn_marked_packets;
    p->drops = link->drops;
    if (reset) {
        p->pfc_seen = 0;
    }
    uint64_t paused_for = 0;
    bool source_storm = false;
    for (size_t i = 0; i < link->n_pfc; i++) {
        const struct cats_report_pfc *pfc = &link->pfc[i];

        p->pause_us[pfc->priority] = pfc->rx_pause_us;
        p->pfc_seen |= 1u << pfc->priority;
        if (cfg->pfc_priorities & (1u << pfc->priority)) {
            paused_for = MAX(paused_for, pfc->paused_for_us);
            source_storm |= pfc->storm;
        }
    }

    /* Gauges. */
    p->has_queue = link->has_queue_depth;
    p->queue_bytes = MIN(link->queue_depth_bytes, MAX_QUEUE_BYTES);
    p->has_rtt = link->has_rtt;
    p->rtt_ms = link->has_rtt ? MIN(link->rtt_us / 1000.0, CATS_SEL_MAX_MS)
                              : 0;
    p->speed_bps = link->speed_bps;
    p->paused_for_us = MIN(paused_for, MAX_PAUSED_FOR_US);

    /* Watchdog. */
    if (!p->storm) {
        if (source_storm
            || p->paused_for_us >= cfg->watchdog_ms * UINT64_C(1000)) {
            p->storm = true;
            p->storm_since = now;
            p->clean_since = LLONG_MIN;
            p->n_storms++;
        }
    } else if (p->paused_for_us || source_storm) {
        p->clean_since = LLONG_MIN;
    } else {
        if (pause_accrued || p->clean_since == LLONG_MIN) {
            /* Clean now, but a pause ended since the previous sample (or
             * this is the first clean sample): the restore time starts
             * here. */
            p->clean_since = now;
        }
        if (now - p->clean_since >= cfg->restore_ms) {
            p->storm = false;
            p->clean_since = LLONG_MIN;
        }
    }

    path_update_cost(sel, p);
    p->n_samples++;
    return 0;
}

void
cats_sel_path_get(const struct cats_selector *sel, size_t path,
                  struct cats_sel_path_info *info)
{
    const struct sel_path *p = &sel->paths[path];

    info->name = p->name;
    info->base_rtt_ms = p->base_rtt_ms;
    info->ecn_alpha = p->alpha;
    info->pause_frac = p->pause_frac;
    info->drop_frac = p->drop_frac;
    info->delay_ms = p->delay_ms;
    info->stretch = p->stretch;
    info->loss_ms = p->loss_ms;
    info->net_ms = p->net_ms;
    info->storm = p->storm;
    info->paused_for_ms = p->paused_for_us / 1000;
    info->storm_since = p->storm_since;
    info->clean_since = p->clean_since;
    info->last_sample = p->last_sample;
    info->n_samples = p->n_samples;
    info->n_rejected = p->n_rejected;
    info->n_resets = p->n_resets;
    info->n_storms = p->n_storms;
}

bool
cats_sel_path_is_storm(const struct cats_selector *sel, size_t path)
{
    return sel->paths[path].storm;
}

void
cats_sel_paths_format(const struct cats_selector *sel, struct ds *out)
{
    for (size_t i = 0; i < sel->n_paths; i++) {
        const struct sel_path *p = &sel->paths[i];

        ds_put_format(out, "path %s: %s net=%.3fms (delay %.3fms x%.3f"
                      " + loss %.3fms) base_rtt=%.3fms ecn_alpha=%.4f"
                      " pause=%.4f drops=%.6f paused_for=%"PRIu64"ms"
                      " samples=%"PRIu64" resets=%"PRIu64
                      " rejected=%"PRIu64" storms=%"PRIu64"\n",
                      p->name, p->storm ? "STORM" : "ok", p->net_ms,
                      p->delay_ms, p->stretch, p->loss_ms, p->base_rtt_ms,
                      p->alpha, p->pause_frac, p->drop_frac,
                      p->paused_for_us / 1000, p->n_samples, p->n_resets,
                      p->n_rejected, p->n_storms);
    }
}

/* Services. */

struct cats_sel_service *
cats_sel_service_add(struct cats_selector *sel, const char *name,
                     enum cats_sel_policy policy)
{
    struct cats_sel_service *svc = xzalloc(sizeof *svc);

    svc->sel = sel;
    ovs_strlcpy(svc->name, name, sizeof svc->name);
    svc->policy = policy;
    svc->last_reweight = LLONG_MIN;
    svc->reweight_time = LLONG_MIN;

    if (sel->n_services >= sel->allocated_services) {
        sel->services = x2nrealloc(sel->services, &sel->allocated_services,
                                   sizeof *sel->services);
    }
    sel->services[sel->n_services++] = svc;
    return svc;
}

struct cats_sel_service *
cats_sel_service_find(const struct cats_selector *sel, const char *name)
{
    for (size_t i = 0; i < sel->n_services; i++) {
        if (!strcmp(sel->services[i]->name, name)) {
            return sel->services[i];
        }
    }
    return NULL;
}

const char *
cats_sel_service_name(const struct cats_sel_service *svc)
{
    return svc->name;
}

void
cats_sel_service_set_policy(struct cats_sel_service *svc,
                            enum cats_sel_policy policy)
{
    svc->policy = policy;
}

enum cats_sel_policy
cats_sel_service_policy(const struct cats_sel_service *svc)
{
    return svc->policy;
}

/* The service time T of 'inst' as the cost model uses it: the reported
 * one, else the one learned from latency, else the default. */
static double
instance_service_ms(const struct cats_sel_config *cfg,
                    const struct sel_instance *inst)
{
    if (inst->has_report && inst->report.has_service) {
        return inst->report.service_ms;
    } else if (inst->has_t_est) {
        return inst->t_est;
    } else {
        return cfg->default_service_ms;
    }
}

/* Per-connection decisions: brings the packed copy of instance 'i' up to
 * date (after any change to what a pick reads of it). */
static void
conn_refresh(struct cats_sel_service *svc, size_t i)
{
    const struct sel_instance *inst = &svc->instances[i];
    struct sel_conn *conn = &svc->conn[i];

    conn->n = (inst->conn_base + (double) inst->conn_placed
               - (double) inst->conn_ended);
    conn->t = instance_service_ms(&svc->sel->cfg, inst);
    conn->c = inst->capacity;
    conn->w = inst->static_weight;
    conn->selectable = inst->selectable;
}

size_t
cats_sel_instance_add(struct cats_sel_service *svc, const char *name,
                      uint32_t capacity, uint16_t static_weight)
{
    if (svc->n_instances >= svc->allocated_instances) {
        svc->instances = x2nrealloc(svc->instances,
                                    &svc->allocated_instances,
                                    sizeof *svc->instances);
        svc->conn = xrealloc(svc->conn,
                             svc->allocated_instances * sizeof *svc->conn);
    }

    struct sel_instance *inst = &svc->instances[svc->n_instances];
    memset(inst, 0, sizeof *inst);
    ovs_strlcpy(inst->name, name, sizeof inst->name);
    inst->capacity = MAX(1, MIN(capacity, CATS_CAPACITY_MAX));
    inst->static_weight = static_weight;
    inst->selectable = true;
    inst->sent_time = LLONG_MIN;
    inst->k = lq_exponent(inst->capacity);
    lq(inst->k, MAX_RHO, &inst->d1_hi);
    conn_refresh(svc, svc->n_instances);
    return svc->n_instances++;
}

size_t
cats_sel_n_instances(const struct cats_sel_service *svc)
{
    return svc->n_instances;
}

size_t
cats_sel_pair_add(struct cats_sel_service *svc, size_t instance, size_t path)
{
    ovs_assert(instance < svc->n_instances);
    ovs_assert(path == CATS_SEL_LOCAL || path < svc->sel->n_paths);

    if (svc->n_pairs >= svc->allocated_pairs) {
        svc->pairs = x2nrealloc(svc->pairs, &svc->allocated_pairs,
                                sizeof *svc->pairs);
        svc->conn_pairs = xrealloc(svc->conn_pairs,
                                   (svc->allocated_pairs
                                    * sizeof *svc->conn_pairs));
    }

    struct sel_pair *pair = &svc->pairs[svc->n_pairs];
    memset(pair, 0, sizeof *pair);
    pair->instance = instance;
    pair->path = path;
    svc->conn_pairs[svc->n_pairs] = (struct sel_conn_pair) {
        .instance = instance, .path = path,
    };
    return svc->n_pairs++;
}

size_t
cats_sel_n_pairs(const struct cats_sel_service *svc)
{
    return svc->n_pairs;
}

size_t
cats_sel_pair_instance(const struct cats_sel_service *svc, size_t pair)
{
    return svc->pairs[pair].instance;
}

size_t
cats_sel_pair_path(const struct cats_sel_service *svc, size_t pair)
{
    return svc->pairs[pair].path;
}

/* The utilization that explains an occupancy of 'n' requests on 'c' slots
 * (rho * C + Lq(rho) = n), starting from 'guess'; at most RHO_KNEE.  A
 * longer queue than the knee's is not a stationary one: it is growing or
 * draining, and 'excess' (see update_occupancy()) accounts for it. */
static double
occupancy_rho(double c, double n, double guess)
{
    double k = lq_exponent(c);
    double lo = 0, hi = RHO_KNEE, d1;

    if (n <= 0) {
        return 0;
    }
    if (hi * c + lq(k, hi, &d1) <= n) {
        return hi;
    }

    double rho = guess > lo && guess < hi ? guess : MIN(n / c, 0.5);
    for (int i = 0; i < SOLVE_ITERATIONS && hi - lo > 1e-12; i++) {
        double f = rho * c + lq(k, rho, &d1) - n;

        if (fabs(f) <= SOLVE_TOLERANCE * n) {
            break;
        }
        rho = newton_step(rho, f, c + d1, &lo, &hi);
    }
    return rho;
}

/* Checks an optional input: EINVAL if present and not a finite number
 * >= 0, otherwise clamps it to 'max'. */
static int
check_value(bool present, double *x, double max)
{
    if (present) {
        if (!(*x >= 0 && isfinite(*x))) {
            return EINVAL;
        }
        *x = MIN(*x, max);
    }
    return 0;
}

/* Learns the service time of 'inst' from the latency in 'r' (see
 * "Service time" in the header). */
static void
learn_service_time(const struct cats_sel_service *svc,
                   struct sel_instance *inst,
                   const struct cats_sel_instance_report *r)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    double queue = r->has_queue ? r->queue / inst->capacity : 0;
    double sample, g;

    if (svc->has_counts && inst->has_occ) {
        /* Rate model: the wait, in service times, that the queue model
         * gives the smoothed occupancy (what the latency's window saw)
         * rather than the queue of the moment.  Not at the knee: there the
         * queue is growing or draining, and the latencies lag it. */
        double rho = inst->occ_rho, c = inst->capacity;

        if (rho >= RHO_KNEE) {
            return;
        }
        queue = (rho > 0 ? pow(rho, lq_exponent(c) - 1.0) / (c * (1 - rho))
                 : 0);
    }
    sample = MAX(r->latency_ms / (1.0 + queue), CATS_SEL_MIN_SERVICE_MS);

    if (!inst->has_t_est) {
        inst->t_est = cfg->default_service_ms;
        inst->has_t_est = true;
        g = SERVICE_FIRST_GAIN;
    } else {
        double dt = (inst->has_report
                     ? MAX(0, r->time - inst->report.time) : 0);
        g = 1.0 - exp(-dt / SERVICE_TAU_MS);
    }
    if (sample < inst->t_est && queue > QUEUE_TRUSTED
        && !svc->has_counts) {
        return;
    }
    ewma(&inst->t_est, g, sample);
}

/* Rate model: smooths the reported occupancy R + Q, and with the same
 * gains the rate at which we were sending the instance connections when
 * it reported, so that the part of the occupancy that is ours can be told
 * from the rest; and keeps what the report shows beyond the stationary
 * occupancy, the backlog to drain (see the header). */
static void
update_occupancy(const struct cats_sel_service *svc,
                 struct sel_instance *inst,
                 const struct cats_sel_instance_report *r)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    double c = inst->capacity, n, own, g = 1.0, d1;

    if (!svc->has_counts || (!r->has_in_flight && !r->has_queue)) {
        /* Without counts there is no telling our part from the rest: the
         * history starts with the first report once there are. */
        inst->has_occ = false;
        return;
    }
    n = (r->has_in_flight ? r->in_flight : 0) + (r->has_queue ? r->queue : 0);
    own = inst->pub_frac * svc->arrivals;
    if (inst->has_occ && inst->has_report && cfg->occupancy_tau_ms) {
        double dt = MAX(0, r->time - inst->report.time);

        g = 1.0 - exp(-dt / cfg->occupancy_tau_ms);
    }
    if (inst->has_occ) {
        ewma(&inst->occ, g, n);
        ewma(&inst->own, g, own);
    } else {
        inst->occ = n;
        inst->own = own;
        inst->has_occ = true;
    }
    inst->occ_rho = occupancy_rho(c, inst->occ, inst->occ_rho);
    inst->excess = MAX(0, n - (inst->occ_rho * c
                               + lq(inst->k, inst->occ_rho, &d1)));
    inst->excess_time = r->time;
}

int
cats_sel_instance_report(struct cats_sel_service *svc, size_t instance,
                         const struct cats_sel_instance_report *r_)
{
    struct cats_sel_instance_report r = *r_;

    if (check_value(r.has_in_flight, &r.in_flight, CATS_SEL_MAX_COUNT)
        || check_value(r.has_queue, &r.queue, CATS_SEL_MAX_COUNT)
        || check_value(r.has_latency, &r.latency_ms, CATS_SEL_MAX_MS)
        || check_value(r.has_service, &r.service_ms, CATS_SEL_MAX_MS)) {
        return EINVAL;
    }
    if (r.has_service) {
        r.service_ms = MAX(r.service_ms, CATS_SEL_MIN_SERVICE_MS);
    }

    struct sel_instance *inst = &svc->instances[instance];
    update_occupancy(svc, inst, &r);
    if (!r.has_service && r.has_latency) {
        learn_service_time(svc, inst, &r);
    } else if (!r.has_service && inst->has_t_est
               && inst->t_est > svc->sel->cfg.default_service_ms
               && (!r.has_in_flight || r.in_flight == 0)
               && (!r.has_queue || r.queue == 0)
               && inst->has_report && r.time > inst->report.time) {
        /* Idle and no latency to learn from: the instance serves nothing,
         * often because a slow service time we learned made us send it
         * nothing.  With no evidence, a slow instance recovers (as a path
         * we stopped sending on does): the estimate relaxes toward the
         * default with the learning time constant, until the connections
         * this brings give latencies again.  Never the other way: an
         * instance known to be fast stays fast. */
        double g = 1.0 - exp(-(r.time - inst->report.time)
                             / SERVICE_TAU_MS);

        ewma(&inst->t_est, g, svc->sel->cfg.default_service_ms);
    }
    if (inst->has_report && r.time > inst->report.time) {
        if (inst->gap_ms > 0) {
            svc->gap_sum -= inst->gap_ms;
        } else {
            svc->n_gaps++;
        }
        inst->gap_ms = r.time - inst->report.time;
        svc->gap_sum += inst->gap_ms;
    }
    inst->report = r;
    inst->has_report = true;
    inst->selectable = r.selectable;

    /* Per-connection decisions: the report's occupancy replaces what we
     * counted since the previous one (so a lost FIN, or a connection
     * counted twice, is forgotten here). */
    inst->conn_base = ((r.has_in_flight ? r.in_flight : 0)
                       + (r.has_queue ? r.queue : 0));
    inst->conn_placed = 0;
    inst->conn_ended = 0;
    conn_refresh(svc, instance);
    return 0;
}

void
cats_sel_instance_set_selectable(struct cats_sel_service *svc,
                                 size_t instance, bool selectable)
{
    svc->instances[instance].selectable = selectable;
    conn_refresh(svc, instance);
}

void
cats_sel_instance_sent(struct cats_sel_service *svc, size_t instance,
                       uint64_t n, long long now)
{
    struct sel_instance *inst = &svc->instances[instance];

    if (inst->sent_time != LLONG_MIN && now <= inst->sent_time) {
        /* No time has passed (or the sample is older): count it with the
         * next one. */
        inst->sent_pending += n;
        return;
    }
    if (inst->sent_time != LLONG_MIN) {
        double dt = now - inst->sent_time;
        double rate = (n + inst->sent_pending) / dt;

        if (inst->has_sent_rate) {
            ewma(&inst->sent_rate, 1.0 - exp(-dt / RATE_TAU_MS), rate);
        } else {
            inst->sent_rate = rate;
            inst->has_sent_rate = true;
        }
    }
    inst->sent_pending = 0;
    inst->sent_time = now;
}

/* Reweighting. */

/* The instance terms of 'inst' under 'policy' (top of the header). */
static void
instance_terms(const struct cats_sel_config *cfg, enum cats_sel_policy policy,
               struct sel_instance *inst)
{
    const struct cats_sel_instance_report *r = &inst->report;
    double c = inst->capacity;
    double in_flight = inst->has_report && r->has_in_flight ? r->in_flight : 0;
    double queue = inst->has_report && r->has_queue ? r->queue : 0;
    bool has_latency = inst->has_report && r->has_latency;
    double t = instance_service_ms(cfg, inst);

    inst->load = (in_flight + queue) / c;
    inst->service_ms = t;
    inst->wait_ms = t * inst->load;

    double model = inst->wait_ms + t;
    inst->instance_ms = (has_latency
                         ? ((1.0 - cfg->latency_weight) * model
                            + cfg->latency_weight * r->latency_ms)
                         : model);
    inst->rate = policy == CATS_SEL_LEAST_LOADED ? c : c / t;
}

static void
swap_doubles(double *a, double *b)
{
    double tmp = *a;
    *a = *b;
    *b = tmp;
}

/* Returns the k-th smallest of the 'n' values in 'v' (0-based), reordering
 * them: Hoare's selection with a three-way partition, expected O(n), and
 * O(n) when many values are equal (idle instances all have load 0).  The
 * pivot is the middle element of each range: deterministic. */
static double
select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n;          /* v[k] is in [lo, hi). */

    while (hi - lo > 1) {
        double pivot = v[lo + (hi - lo) / 2];
        size_t lt = lo, i = lo, gt = hi;

        /* [lo, lt) < pivot, [lt, i) == pivot, [gt, hi) > pivot. */
        while (i < gt) {
            if (v[i] < pivot) {
                swap_doubles(&v[lt++], &v[i++]);
            } else if (v[i] > pivot) {
                swap_doubles(&v[i], &v[--gt]);
            } else {
                i++;
            }
        }
        if (k < lt) {
            hi = lt;
        } else if (k >= gt) {
            lo = gt;
        } else {
            return pivot;
        }
    }
    return v[lo];
}

static void
ensure_scratch(struct cats_sel_service *svc, size_t n)
{
    if (svc->allocated_scratch < n) {
        free(svc->scratch);
        svc->allocated_scratch = n;
        svc->scratch = xmalloc(n * sizeof *svc->scratch);
    }
}

/* The cost that the cut-off is relative to: the 'cut_quantile' quantile of
 * the eligible pairs' costs ('best' itself for 0). */
static double
cut_reference(struct cats_sel_service *svc, size_t n_eligible, double best)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    size_t k = (size_t) floor(cfg->cut_quantile * (n_eligible - 1));
    size_t n = 0;

    if (!k) {
        return best;
    }
    ensure_scratch(svc, svc->n_pairs);
    for (size_t i = 0; i < svc->n_pairs; i++) {
        if (svc->pairs[i].reason == CATS_SEL_OK) {
            svc->scratch[n++] = svc->pairs[i].cost;
        }
    }
    return select_kth(svc->scratch, n, k);
}

/* The load at or above which an instance is hot, from the selectable
 * instances' loads (terms already computed).  INFINITY: nobody is. */
static double
hot_threshold(struct cats_sel_service *svc)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    size_t n = 0;

    if (cfg->hot_factor >= 1.0 || svc->policy == CATS_SEL_STATIC) {
        return INFINITY;
    }
    ensure_scratch(svc, svc->n_instances);
    for (size_t i = 0; i < svc->n_instances; i++) {
        if (svc->instances[i].selectable) {
            svc->scratch[n++] = svc->instances[i].load;
        }
    }
    if (!n) {
        return INFINITY;
    }

    size_t k = (size_t) floor(cfg->hot_quantile * (n - 1));
    double q = select_kth(svc->scratch, n, k);
    return MAX(q, cfg->hot_min_load);
}

static void
snapshot_paths(struct cats_sel_service *svc)
{
    const struct cats_selector *sel = svc->sel;

    if (svc->n_snap < sel->n_paths) {
        svc->snap = xrealloc(svc->snap, sel->n_paths * sizeof *svc->snap);
    }
    svc->n_snap = sel->n_paths;
    for (size_t i = 0; i < sel->n_paths; i++) {
        const struct sel_path *p = &sel->paths[i];
        struct sel_path_snap *s = &svc->snap[i];

        s->delay_ms = p->delay_ms;
        s->stretch = p->stretch;
        s->loss_ms = p->loss_ms;
        s->net_ms = p->net_ms;
        s->storm = p->storm;
    }
}

/* Rate model: the utilization that the plan at marginal cost 'level' gives
 * 'p', with d(connections per ms)/d(level) added to '*slope'. */
static double
plan_rho(const struct sel_plan *p, double level, double *slope)
{
    double y = (level - p->base) * p->u;
    double rho, lo = p->other, hi = MAX_RHO, gs = 0, d1;

    if (y <= p->d1_lo) {
        return p->other;
    }
    if (y >= p->d1_hi) {
        return MAX_RHO;
    }

    /* Lq'(rho) = y, from the last solution: Newton's method on Lq' / y -
     * 1 (relative: Lq' spans many decades for large C). */
    rho = p->rho > lo && p->rho < hi ? p->rho : (lo + hi) / 2;
    for (int i = 0; i < SOLVE_ITERATIONS && hi - lo > 1e-12; i++) {
        double f;

        lq(p->k, rho, &d1);
        f = d1 / y - 1.0;
        gs = lq_log_slope(p->k, rho);
        if (fabs(f) <= SOLVE_TOLERANCE / 10) {
            break;
        }
        rho = newton_step(rho, f, (f + 1.0) * gs, &lo, &hi);
        gs = 0;
    }
    if (!gs) {
        gs = lq_log_slope(p->k, rho);
    }
    *slope += p->u / ((level - p->base) * gs);
    return rho;
}

/* Rate model: connections per ms of the whole plan at 'level' (and each
 * entry's 'rho'), with its derivative in '*slope'. */
static double
plan_total(struct cats_sel_service *svc, double level, double *slope)
{
    double sum = 0;

    *slope = 0;
    for (size_t i = 0; i < svc->n_plan; i++) {
        struct sel_plan *p = &svc->plan[i];

        p->rho = plan_rho(p, level, slope);
        sum += p->u * (p->rho - p->other);
    }
    return sum;
}

/* The sum of C / T over the instances with an eligible pair. */
static double
free_rate_all(const struct cats_sel_service *svc)
{
    double sum = 0;

    for (size_t i = 0; i < svc->n_instances; i++) {
        if (svc->instances[i].n_eligible) {
            sum += svc->instances[i].u;
        }
    }
    return sum;
}

/* Rate model: the plan (see the header), then targets from it.  Called by
 * compute_targets() once costs and eligibility are known and some pair is
 * eligible. */
static void
rate_targets(struct cats_sel_service *svc, long long now)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    double lo = INFINITY, hi = 0, free_rate = 0, room = 0;

    /* Each instance's part of the model: its best path, its other load b,
     * and the marginal cost at b and at MAX_RHO. */
    for (size_t i = 0; i < svc->n_instances; i++) {
        struct sel_instance *inst = &svc->instances[i];

        inst->base = INFINITY;
        inst->plan = 0;
    }
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        struct sel_instance *inst = &svc->instances[pair->instance];

        if (pair->reason == CATS_SEL_OK) {
            double net = (pair->path == CATS_SEL_LOCAL ? 0
                          : svc->snap[pair->path].net_ms);

            inst->base = MIN(inst->base, net);
        }
        pair->cut = false;
    }
    if (svc->allocated_plan < svc->n_instances) {
        free(svc->plan);
        svc->allocated_plan = svc->n_instances;
        svc->plan = xmalloc(svc->allocated_plan * sizeof *svc->plan);
    }
    svc->n_plan = 0;
    for (size_t i = 0; i < svc->n_instances; i++) {
        struct sel_instance *inst = &svc->instances[i];
        double t = inst->service_ms, c = inst->capacity;

        if (!inst->n_eligible) {
            inst->other = inst->rho = 0;
            continue;
        }
        inst->base += t;
        inst->u = c / t;
        inst->other = (inst->has_occ
                       ? MAX(0, inst->occ_rho - inst->own * t / c)
                       : 0);
        if (inst->excess > 0 && cfg->drain_ms) {
            /* The backlog left now, drained since the report at the rate
             * the instance has to spare, counted as load to be rid of in
             * drain_ms. */
            double age = MAX(0, now - inst->excess_time);
            double left = (inst->excess
                           - (1.0 - inst->occ_rho) * inst->u * age);

            if (left > 0) {
                inst->other += left / (cfg->drain_ms * inst->u);
            }
        }
        if (inst->other >= MAX_RHO) {
            /* Full without us (or overloaded by us): nothing until it
             * drains. */
            inst->rho = inst->other;
            continue;
        }

        struct sel_plan *p = &svc->plan[svc->n_plan++];
        p->base = inst->base;
        p->u = inst->u;
        p->k = inst->k;
        p->other = inst->other;
        lq(p->k, p->other, &p->d1_lo);
        p->d1_hi = inst->d1_hi;
        p->rho = inst->rho;
        p->instance = i;
        lo = MIN(lo, p->base + p->d1_lo / p->u);
        hi = MAX(hi, p->base + p->d1_hi / p->u);
        free_rate += p->u * (1.0 - p->other);
        room += p->u * (MAX_RHO - p->other);
    }

    /* The rate to plan for: what was counted, but at least min_plan_load
     * of the free capacity (a plan for almost no load would put everything
     * on the best instance, and the next burst with it). */
    double lambda = MAX(svc->arrivals, cfg->min_plan_load * free_rate);
    lambda = MAX(lambda, 1e-9 * free_rate);
    svc->planned = lambda;

    if (lambda >= room || !(room > 0)) {
        /* More than the pool can take: fill every instance alike. */
        for (size_t i = 0; i < svc->n_plan; i++) {
            svc->plan[i].rho = MAX_RHO;
        }
    } else {
        /* The level at which the plan carries 'lambda': Newton's method
         * from the previous reweight's level, kept in [lo, hi]. */
        double level = (svc->level > lo && svc->level < hi ? svc->level
                        : MIN(2 * lo, (lo + hi) / 2));

        for (int i = 0; i < SOLVE_ITERATIONS; i++) {
            double slope, f = plan_total(svc, level, &slope) - lambda;

            if (fabs(f) <= SOLVE_TOLERANCE * lambda
                || hi - lo <= 1e-12 * hi) {
                break;
            }
            level = newton_step(level, f, slope, &lo, &hi);
        }
        svc->level = level;
    }
    for (size_t i = 0; i < svc->n_plan; i++) {
        svc->instances[svc->plan[i].instance].rho = svc->plan[i].rho;
    }

    /* Shares from the plan, and the costs at the plan: the wait is the
     * queue model's, Lq / (rho C / T). */
    double total = 0, best = INFINITY;
    for (size_t i = 0; i < svc->n_instances; i++) {
        struct sel_instance *inst = &svc->instances[i];
        double rho = MIN(inst->rho, MAX_RHO);

        if (!inst->n_eligible) {
            continue;
        }
        inst->plan = inst->u * MAX(0, inst->rho - inst->other);
        total += inst->plan;
        inst->wait_ms = (rho > 0
                         ? pow(rho, inst->k - 1.0) / ((1.0 - rho) * inst->u)
                         : 0);
        inst->instance_ms = inst->service_ms + inst->wait_ms;
        if (inst->has_report && inst->report.has_latency) {
            inst->instance_ms = ((1.0 - cfg->latency_weight)
                                 * inst->instance_ms
                                 + cfg->latency_weight
                                   * inst->report.latency_ms);
        }
    }
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        struct sel_instance *inst = &svc->instances[pair->instance];
        double net = (pair->path == CATS_SEL_LOCAL ? 0
                      : svc->snap[pair->path].net_ms);

        if (pair->reason != CATS_SEL_OK) {
            continue;
        }
        pair->cost = net + inst->instance_ms;
        best = MIN(best, pair->cost);
        if (!inst->plan && total > 0) {
            pair->reason = CATS_SEL_CUT;
            svc->stats.n_cut++;
            continue;
        }
        /* The instance's split over its paths: by score against its
         * best pair, sharper than between instances (see the header). */
        double inst_best = inst->base - inst->service_ms + inst->instance_ms;
        pair->score = (inst->n_eligible == 1 ? 1.0
                       : pow(inst_best / pair->cost, cfg->path_sharpness));
        inst->sum_score += pair->score;
    }
    svc->stats.best_cost = best;

    /* If the plan has no room anywhere (every instance full without us),
     * capacity decides. */
    double all_rate = total > 0 ? 0 : free_rate_all(svc);

    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        struct sel_instance *inst = &svc->instances[pair->instance];

        if (pair->reason == CATS_SEL_OK && inst->sum_score > 0) {
            pair->target = (total > 0 ? inst->plan / total
                            : inst->u / all_rate)
                           * pair->score / inst->sum_score;
            inst->target += pair->target;
        }
    }
}

/* Steps 1 to 3: costs, eligibility, cut-off, scores, and targets summing
 * to 1 (all 0 if nothing is eligible).  Returns the number of eligible
 * pairs. */
static size_t
compute_targets(struct cats_sel_service *svc, long long now)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    enum cats_sel_policy policy = svc->policy;
    size_t n_eligible = 0;
    double best = INFINITY;

    /* The service's arrival rate: the sum of its instances' counted
     * rates, those counted lately. */
    bool counted = false;
    svc->arrivals = 0;
    svc->planned = 0;
    for (size_t i = 0; i < svc->n_instances; i++) {
        struct sel_instance *inst = &svc->instances[i];

        if (inst->has_sent_rate && now - inst->sent_time <= COUNT_MAX_AGE_MS) {
            svc->arrivals += inst->sent_rate;
            counted = true;
        }
        instance_terms(cfg, policy, inst);
        inst->max_score = 0;
        inst->sum_score = 0;
        inst->sum_frac = 0;
        inst->target = 0;
        inst->n_eligible = 0;
        inst->hot = false;
    }

    /* Costs and the best one. */
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        struct sel_instance *inst = &svc->instances[pair->instance];
        bool local = pair->path == CATS_SEL_LOCAL;
        double net = local ? 0 : svc->snap[pair->path].net_ms;

        pair->cost = (policy == CATS_SEL_LEAST_LOADED
                      ? 1.0 + inst->load
                      : net + inst->instance_ms);
        pair->score = 0;
        pair->target = 0;
        if (!inst->selectable) {
            pair->reason = CATS_SEL_UNHEALTHY;
        } else if (!local && svc->snap[pair->path].storm) {
            pair->reason = CATS_SEL_STORM;
        } else {
            pair->reason = CATS_SEL_OK;
            inst->n_eligible++;
            n_eligible++;
            best = MIN(best, pair->cost);
        }
    }
    svc->stats.n_eligible = n_eligible;
    svc->stats.best_cost = n_eligible ? best : 0;
    svc->stats.n_cut = 0;
    svc->stats.n_hot = 0;
    if (!n_eligible) {
        return 0;
    }
    svc->has_counts = counted;
    if (policy == CATS_SEL_MIN_LATENCY && counted) {
        rate_targets(svc, now);
        return n_eligible;
    }

    /* Hot instances. */
    double hot_load = hot_threshold(svc);
    size_t n_hot = 0, n_cold = 0;
    for (size_t i = 0; i < svc->n_instances; i++) {
        struct sel_instance *inst = &svc->instances[i];

        if (inst->n_eligible) {
            inst->hot = inst->load >= hot_load;
            if (inst->hot) {
                n_hot++;
            } else {
                n_cold++;
            }
        }
    }
    bool use_hot = n_hot && n_cold;
    svc->stats.n_hot = use_hot ? n_hot : 0;

    /* Cut-off with hysteresis, against a reference that one outlier
     * cannot set, and scores. */
    double ref = MAX(cut_reference(svc, n_eligible, best), 1e-9);
    best = MAX(best, 1e-9);
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        struct sel_instance *inst = &svc->instances[pair->instance];

        if (pair->reason != CATS_SEL_OK) {
            pair->cut = false;
            continue;
        }
        if (policy != CATS_SEL_STATIC) {
            double ratio = pair->cost / ref;

            pair->cut = (pair->cut
                         ? ratio >= cfg->readmit_ratio
                         : ratio > cfg->cut_ratio);
            if (pair->cut) {
                pair->reason = CATS_SEL_CUT;
                svc->stats.n_cut++;
                continue;
            }
            pair->score = pow(best / MAX(pair->cost, 1e-9), cfg->sharpness);
        } else {
            pair->cut = false;
            pair->score = 1.0;
        }
        inst->max_score = MAX(inst->max_score, pair->score);
        inst->sum_score += pair->score;
    }

    /* Targets. */
    double total = 0;
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        struct sel_instance *inst = &svc->instances[pair->instance];

        if (pair->reason != CATS_SEL_OK || !inst->sum_score) {
            continue;
        }
        if (policy == CATS_SEL_STATIC) {
            pair->target = inst->static_weight * pair->score
                           / inst->sum_score;
        } else {
            double w = inst->rate * inst->max_score * pair->score
                       / inst->sum_score;

            if (use_hot && inst->hot) {
                w *= cfg->hot_factor;
            }
            pair->target = w;
        }
        total += pair->target;
    }
    /* Normalized, and summed per instance for damp(). */
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];

        pair->target = total > 0 ? pair->target / total : 0;
        svc->instances[pair->instance].target += pair->target;
    }
    if (!use_hot) {
        for (size_t i = 0; i < svc->n_instances; i++) {
            svc->instances[i].hot = false;
        }
    }
    return n_eligible;
}

/* The mean time between two reports of an instance, over the instances
 * that reported twice (0 if none did). */
static double
report_interval(const struct cats_sel_service *svc)
{
    return svc->n_gaps ? svc->gap_sum / svc->n_gaps : 0;
}

/* EWMA step of gain 'a' from 's' toward 't', at most a factor 'r' up or
 * down ('r' 0: no limit); from 0, the first step is a * t. */
static double
damp_step(double s, double t, double a, double r)
{
    if (s == 0) {
        return a * t;
    }

    double next = s + a * (t - s);
    return r ? MAX(s / r, MIN(s * r, next)) : next;
}

/* Step 4: damped shares, summing to 1 (or all 0).  Two levels: each
 * instance's share of the service, damped with 'tau_ms' and 'max_step'
 * (moving load between instances is what herds), and each pair's fraction
 * of its instance's share, damped with 'path_tau_ms' only (moving an
 * instance's connections between its paths does not load the instance). */
static void
damp(struct cats_sel_service *svc, long long now, size_t n_eligible)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    bool immediate = (svc->policy == CATS_SEL_STATIC
                      || svc->last_reweight == LLONG_MIN);
    bool rate_model = svc->planned > 0;
    double a = 1.0, ap = 1.0, r = 1.0 + cfg->max_step;

    if (!immediate) {
        double dt = MAX(0, now - svc->last_reweight);
        double tau = (rate_model ? cfg->plan_tau_ms
                      : MAX(cfg->tau_ms,
                            cfg->stale_factor * report_interval(svc)));

        svc->tau_used = tau;
        a = tau ? 1.0 - exp(-dt / tau) : 1.0;
        ap = cfg->path_tau_ms ? 1.0 - exp(-dt / cfg->path_tau_ms) : 1.0;
    }

    /* Fractions within each instance (compute_targets() summed each
     * instance's 'target' and zeroed its 'sum_frac'). */
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        struct sel_instance *inst = &svc->instances[pair->instance];

        if (pair->reason == CATS_SEL_UNHEALTHY
            || pair->reason == CATS_SEL_STORM) {
            pair->frac = 0;
            continue;
        }
        if (inst->target > 0) {
            double ft = pair->target / inst->target;

            /* In the rate model a pair whose fraction falls gets its
             * target at once (see the header). */
            pair->frac = (immediate || (rate_model && ft < pair->frac) ? ft
                          : damp_step(pair->frac, ft, ap, 0));
        } else if (!pair->frac) {
            /* Every pair of the instance is cut: keep the fractions it
             * had while its share decays; a pair with none gets an even
             * one. */
            pair->frac = 1.0 / inst->n_eligible;
        }
        inst->sum_frac += pair->frac;
    }

    /* Instance shares. */
    double total = 0;
    for (size_t i = 0; i < svc->n_instances; i++) {
        struct sel_instance *inst = &svc->instances[i];

        if (!inst->n_eligible) {
            inst->share = 0;
        } else if (immediate) {
            inst->share = inst->target;
        } else {
            inst->share = damp_step(inst->share, inst->target, a, r);
        }
        total += inst->share;
    }

    /* Renormalize, set to 0 the instances on their way out whose share
     * has become negligible, and renormalize again if any was. */
    for (int pass = 0; pass < 2 && total > 0; pass++) {
        double snap = SNAP_FRACTION / MAX(n_eligible, 1);
        double new_total = 0;
        bool snapped = false;

        for (size_t i = 0; i < svc->n_instances; i++) {
            struct sel_instance *inst = &svc->instances[i];

            inst->share /= total;
            if (pass == 0 && inst->target == 0 && inst->share > 0
                && inst->share < snap) {
                inst->share = 0;
                snapped = true;
            }
            new_total += inst->share;
        }
        if (!snapped) {
            break;
        }
        total = new_total;
    }

    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        const struct sel_instance *inst = &svc->instances[pair->instance];

        pair->share = (inst->sum_frac > 0
                       ? inst->share * pair->frac / inst->sum_frac : 0);
    }
}

/* Step 5: the deadband, published shares and weights.  Returns true if a
 * weight changed. */
static bool
publish(struct cats_sel_service *svc)
{
    const struct cats_sel_config *cfg = &svc->sel->cfg;
    double deadband = svc->policy == CATS_SEL_STATIC ? 0 : cfg->deadband;
    double max_published = 0;

    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        double pub = pair->published, s = pair->share;
        bool moved = ((pub == 0) != (s == 0)
                      || (pub > 0 && fabs(s - pub) > deadband * pub));

        if (moved) {
            /* Entering or leaving selection starts a new history. */
            int8_t dir = !pub || !s ? 0 : s > pub ? 1 : -1;

            if (dir && pair->last_dir && dir != pair->last_dir) {
                svc->stats.n_flips++;
            }
            pair->last_dir = dir;
            /* Halfway (see the header: publishing all of it would undo
             * the damping). */
            pair->published = (!pub || !s ? s
                               : pub + PUBLISH_GAIN * (s - pub));
            svc->stats.n_changes++;
        }
        max_published = MAX(max_published, pair->published);
    }

    if (max_published > 0) {
        double top = max_published * svc->scale;

        if (!svc->scale || top > WEIGHT_MAX || top < SCALE_LOW) {
            svc->scale = SCALE_TARGET / max_published;
            svc->stats.n_rescales++;
        }
    }

    bool changed = false;
    for (size_t i = 0; i < svc->n_pairs; i++) {
        struct sel_pair *pair = &svc->pairs[i];
        uint16_t w = 0;

        if (pair->published > 0) {
            double x = round(pair->published * svc->scale);
            w = x < 1 ? 1 : x > WEIGHT_MAX ? UINT16_MAX : (uint16_t) x;
        }
        if (w != pair->weight) {
            pair->weight = w;
            changed = true;
        }
    }
    return changed;
}

static void
build_cumulative(struct cats_sel_service *svc)
{
    if (svc->n_cum < svc->n_pairs) {
        free(svc->cum);
        svc->cum = xmalloc(svc->n_pairs * sizeof *svc->cum);
    }
    svc->n_cum = svc->n_pairs;

    uint64_t sum = 0;
    for (size_t i = 0; i < svc->n_pairs; i++) {
        sum += svc->pairs[i].weight;
        svc->cum[i] = sum;
    }

    /* Each instance's share of new connections under these weights, for
     * the rate model's accounting of what we send. */
    for (size_t i = 0; i < svc->n_instances; i++) {
        svc->instances[i].pub_frac = 0;
    }
    for (size_t i = 0; sum && i < svc->n_pairs; i++) {
        const struct sel_pair *pair = &svc->pairs[i];

        svc->instances[pair->instance].pub_frac += (double) pair->weight / sum;
    }
}

bool
cats_sel_reweight(struct cats_sel_service *svc, long long now)
{
    snapshot_paths(svc);

    size_t n_eligible = compute_targets(svc, now);
    damp(svc, now, n_eligible);
    bool changed = publish(svc);
    build_cumulative(svc);

    svc->last_reweight = now;
    svc->reweight_time = now;
    svc->stats.n_reweights++;
    return changed;
}

uint16_t
cats_sel_weight(const struct cats_sel_service *svc, size_t pair)
{
    return svc->pairs[pair].weight;
}

size_t
cats_sel_pick(const struct cats_sel_service *svc, uint32_t hash)
{
    size_t n = svc->n_cum;

    if (!n || !svc->cum[n - 1]) {
        return SIZE_MAX;
    }

    /* Scale the hash to [0, total), then find the first pair whose
     * cumulative weight exceeds it. */
    uint64_t total = svc->cum[n - 1];
    uint64_t x = (uint64_t) (((unsigned __int128) hash * total) >> 32);
    size_t lo = 0, hi = n - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (svc->cum[mid] > x) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/* Per-connection decisions (see the header). */

/* The live occupancy estimate n(I) from its packed copy: R + Q of the
 * last report, plus what we placed there since, minus what ended there
 * since; from 0 to CATS_SEL_MAX_COUNT. */
static double
conn_occupancy(const struct sel_conn *conn)
{
    return conn->n > 0 ? MIN(conn->n, CATS_SEL_MAX_COUNT) : 0;
}

size_t
cats_sel_pick_connection(struct cats_sel_service *svc,
                         long long now OVS_UNUSED)
{
    const struct sel_path *paths = svc->sel->paths;
    enum cats_sel_policy policy = svc->policy;
    size_t best = SIZE_MAX, last = SIZE_MAX;
    double best_key1 = INFINITY, best_key2 = INFINITY;
    double inst_cost = 0, fill = 0;
    bool inst_ok = false;

    /* One pass over the pairs.  An instance's terms are computed once for
     * its run of consecutive pairs (pairs are usually added instance by
     * instance), and again if its pairs are scattered. */
    for (size_t i = 0; i < svc->n_pairs; i++) {
        const struct sel_conn_pair *pair = &svc->conn_pairs[i];
        double net = 0, key1, key2;

        if (pair->instance != last) {
            const struct sel_conn *conn = &svc->conn[pair->instance];
            double n = conn_occupancy(conn);

            last = pair->instance;
            inst_ok = (conn->selectable
                       && (policy != CATS_SEL_STATIC || conn->w > 0));
            if (!inst_ok) {
                continue;
            }
            fill = (n + 1.0) / (policy == CATS_SEL_STATIC ? conn->w
                                : conn->c);
            if (policy == CATS_SEL_MIN_LATENCY) {
                inst_cost = (conn->t
                             + (svc->sel->cfg.conn_wait_factor
                                * MAX(0, n + 1.0 - conn->c) * conn->t
                                / conn->c));
            }
        }
        if (!inst_ok) {
            continue;
        }
        if (pair->path != CATS_SEL_LOCAL) {
            const struct sel_path *p = &paths[pair->path];

            if (p->storm) {
                continue;
            }
            net = p->net_ms;
        }

        if (policy == CATS_SEL_MIN_LATENCY) {
            key1 = net + inst_cost;
            key2 = fill;
        } else {
            key1 = fill;
            key2 = net;
        }
        /* Strictly lower only: on a full tie the lower pair index stays. */
        if (key1 < best_key1 || (key1 == best_key1 && key2 < best_key2)) {
            best = i;
            best_key1 = key1;
            best_key2 = key2;
        }
    }

    if (best == SIZE_MAX) {
        svc->stats.n_conn_none++;
    } else {
        svc->stats.n_conn_picks++;
    }
    return best;
}

void
cats_sel_connection_placed(struct cats_sel_service *svc, size_t pair,
                           long long now OVS_UNUSED)
{
    size_t i = svc->pairs[pair].instance;
    struct sel_instance *inst = &svc->instances[i];

    if (inst->conn_placed < UINT64_MAX) {
        inst->conn_placed++;
    }
    conn_refresh(svc, i);
    svc->stats.n_conn_placed++;
}

void
cats_sel_connection_ended(struct cats_sel_service *svc, size_t instance,
                          long long now OVS_UNUSED)
{
    struct sel_instance *inst = &svc->instances[instance];

    if (inst->conn_ended < UINT64_MAX) {
        inst->conn_ended++;
    }
    conn_refresh(svc, instance);
    svc->stats.n_conn_ended++;
}

double
cats_sel_connection_estimate(const struct cats_sel_service *svc,
                             size_t instance)
{
    return conn_occupancy(&svc->conn[instance]);
}

void
cats_sel_get_stats(const struct cats_sel_service *svc,
                   struct cats_sel_stats *stats)
{
    *stats = svc->stats;
    stats->tau_ms = svc->tau_used;
    stats->arrivals_per_s = svc->arrivals * 1000;
    stats->planned_per_s = svc->planned * 1000;
}

/* Explanations. */

static void
explain_pair(const struct cats_sel_service *svc, size_t i,
             struct cats_sel_explain *e)
{
    const struct sel_pair *pair = &svc->pairs[i];
    const struct sel_instance *inst = &svc->instances[pair->instance];
    bool local = pair->path == CATS_SEL_LOCAL;

    memset(e, 0, sizeof *e);
    e->pair = i;
    e->instance = pair->instance;
    e->path = pair->path;
    e->instance_name = inst->name;
    e->path_name = local ? "local" : svc->sel->paths[pair->path].name;
    e->reason = pair->reason;
    e->hot = inst->hot;
    e->no_report = !inst->has_report;

    e->load = inst->load;
    e->wait_ms = inst->wait_ms;
    e->service_ms = inst->service_ms;
    e->latency_ms = (inst->has_report && inst->report.has_latency
                     ? inst->report.latency_ms : NAN);
    e->instance_ms = inst->instance_ms;
    e->report_age_ms = (inst->has_report && svc->reweight_time != LLONG_MIN
                        ? svc->reweight_time - inst->report.time : -1);
    e->other_load = svc->planned ? inst->other : NAN;
    e->utilization = svc->planned ? inst->rho : NAN;
    e->connections = conn_occupancy(&svc->conn[pair->instance]);

    e->stretch = 1.0;
    if (!local && pair->path < svc->n_snap) {
        const struct sel_path_snap *s = &svc->snap[pair->path];

        e->delay_ms = s->delay_ms;
        e->stretch = s->stretch;
        e->loss_ms = s->loss_ms;
        e->net_ms = s->net_ms;
    }

    e->cost = pair->cost;
    e->target = pair->target;
    e->share = pair->share;
    e->published = pair->published;
    e->weight = pair->weight;
}

size_t
cats_sel_explain(const struct cats_sel_service *svc,
                 struct cats_sel_explain **entriesp)
{
    struct cats_sel_explain *e = xmalloc(MAX(svc->n_pairs, 1) * sizeof *e);

    for (size_t i = 0; i < svc->n_pairs; i++) {
        explain_pair(svc, i, &e[i]);
    }
    *entriesp = e;
    return svc->n_pairs;
}

static const struct cats_sel_service *sort_svc;

/* Highest weight first, then lowest cost, then pair order. */
static int
compare_pairs(const void *a_, const void *b_)
{
    const struct sel_pair *a = &sort_svc->pairs[*(const size_t *) a_];
    const struct sel_pair *b = &sort_svc->pairs[*(const size_t *) b_];

    if (a->weight != b->weight) {
        return a->weight > b->weight ? -1 : 1;
    }
    if (a->cost != b->cost) {
        return a->cost < b->cost ? -1 : 1;
    }
    return *(const size_t *) a_ < *(const size_t *) b_ ? -1 : 1;
}

void
cats_sel_explain_format(const struct cats_sel_service *svc, size_t max_pairs,
                        struct ds *out)
{
    const struct cats_sel_stats *st = &svc->stats;

    ds_put_format(out, "service %s: policy=%s pairs=%"PRIuSIZE
                  " eligible=%"PRIuSIZE" cut=%"PRIuSIZE" hot=%"PRIuSIZE
                  " best_cost=%.3fms tau=%.0fms reweights=%"PRIu64
                  " changes=%"PRIu64" flips=%"PRIu64"\n",
                  svc->name, cats_sel_policy_name(svc->policy), svc->n_pairs,
                  st->n_eligible, st->n_cut, st->n_hot, st->best_cost,
                  svc->tau_used, st->n_reweights, st->n_changes, st->n_flips);
    if (svc->planned) {
        ds_put_format(out, "  arrivals=%.1f/s planned=%.1f/s level=%.3fms\n",
                      svc->arrivals * 1000, svc->planned * 1000, svc->level);
    }
    bool per_conn = (st->n_conn_picks || st->n_conn_none
                     || st->n_conn_placed || st->n_conn_ended);
    if (per_conn) {
        ds_put_format(out, "  connections: picks=%"PRIu64" none=%"PRIu64
                      " placed=%"PRIu64" ended=%"PRIu64"\n",
                      st->n_conn_picks, st->n_conn_none, st->n_conn_placed,
                      st->n_conn_ended);
    }

    size_t *order = xmalloc(MAX(svc->n_pairs, 1) * sizeof *order);
    for (size_t i = 0; i < svc->n_pairs; i++) {
        order[i] = i;
    }
    /* qsort() has no context argument; explanations are not reentrant
     * anyway (one main loop). */
    sort_svc = svc;
    qsort(order, svc->n_pairs, sizeof *order, compare_pairs);
    sort_svc = NULL;

    size_t n_shown = max_pairs ? MIN(max_pairs, svc->n_pairs) : svc->n_pairs;
    size_t left[CATS_SEL_CUT + 1] = { 0 };
    for (size_t k = 0; k < svc->n_pairs; k++) {
        struct cats_sel_explain e;

        explain_pair(svc, order[k], &e);
        if (k >= n_shown) {
            left[e.reason]++;
            continue;
        }
        ds_put_format(out, "  %s via %s: weight=%"PRIu16" share=%.4f%%"
                      " target=%.4f%% cost=%.3fms = net %.3f"
                      " (delay %.3f x%.3f + loss %.3f) + instance %.3f"
                      " (wait %.3f + service %.3f",
                      e.instance_name, e.path_name, e.weight,
                      e.published * 100, e.target * 100, e.cost, e.net_ms,
                      e.delay_ms, e.stretch, e.loss_ms, e.instance_ms,
                      e.wait_ms, e.service_ms);
        if (!isnan(e.latency_ms)) {
            ds_put_format(out, ", latency %.3f", e.latency_ms);
        }
        ds_put_format(out, ") load=%.3f", e.load);
        if (!isnan(e.utilization)) {
            ds_put_format(out, " rho=%.3f other=%.3f", e.utilization,
                          e.other_load);
        }
        if (per_conn) {
            ds_put_format(out, " conns=%.1f", e.connections);
        }
        if (e.report_age_ms >= 0) {
            ds_put_format(out, " age=%lldms", e.report_age_ms);
        }
        ds_put_format(out, " %s%s%s\n", cats_sel_reason_name(e.reason),
                      e.hot ? " hot" : "", e.no_report ? " no-report" : "");
    }
    if (n_shown < svc->n_pairs) {
        ds_put_format(out, "  (%"PRIuSIZE" more: ok %"PRIuSIZE", unhealthy %"
                      PRIuSIZE", storm %"PRIuSIZE", cut %"PRIuSIZE")\n",
                      svc->n_pairs - n_shown, left[CATS_SEL_OK],
                      left[CATS_SEL_UNHEALTHY], left[CATS_SEL_STORM],
                      left[CATS_SEL_CUT]);
    }
    free(order);
}

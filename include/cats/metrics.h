/*
 * ovs-cats: the metrics store.
 *
 * What the controller knows about the load of each instance that an agent
 * reports on: the registering node, the last report, smoothed values,
 * scores (CATS L1 and L2), and a lease.  It takes validated messages from
 * include/cats/report.h, so everything here is already in range.
 *
 * Pure: no I/O, and no clock either.  Every function that depends on time
 * takes 'now', in milliseconds on one monotonic clock (the daemon passes
 * time_msec()); tests pass whatever they like.  Not thread-safe: the main
 * loop owns the store, the gRPC thread only decodes.
 *
 * Nodes and instances
 * -------------------
 *
 * A node registers (cats_metrics_register()) the instances it hosts, each
 * identified by service name, IPv4 address and port.  An instance belongs
 * to one node at a time: another node can take it over only once its
 * lease ran out (a failed-over VM, a rescheduled pod).  A node that
 * registers again replaces its registration as a whole and starts a new
 * session; its instances that stay keep their history.
 *
 * Leases
 * ------
 *
 *                       report: not serving or draining
 *              +--------+ ------------------------------> +-----------+
 *   register   | ACTIVE |                                 | UNHEALTHY |
 *   ---------> |        | <------------------------------ |           |
 *              +--------+         report: serving         +-----------+
 *                |   ^                                       |   ^
 *     lease runs |   | report:                    lease runs |   | report: not
 *     out        |   | serving                    out        |   | serving or
 *                v   |                                       v   | draining
 *              +---------------------------------------------------+
 *              | EXPIRED: no accepted report (or registration) for |
 *              | lease_ms                                          |
 *              +---------------------------------------------------+
 *
 * Registration starts an instance's lease as a report would.  An instance
 * is selectable only when ACTIVE with its lease running: the check
 * (cats_metrics_is_selectable()) compares the lease with 'now' itself, so
 * an instance leaves selection the moment its lease ends, whether or not
 * cats_metrics_run() has run since.  cats_metrics_run() records the
 * transitions (and bumps 'seqno' so that the controller recomputes
 * weights); cats_metrics_next_wake() says when it next has work, for
 * poll_timer_wait_until().
 *
 * Smoothing (EWMA over time, not over samples)
 * --------------------------------------------
 *
 * Each L0 metric is smoothed with an exponentially weighted moving average
 * whose weight depends on the time since the instance's previous report:
 *
 *     alpha = 1 - exp(-dt / tau),   smoothed += alpha * (raw - smoothed)
 *
 * with tau = 'tau_ms' (default 2000 ms).  At the default 1 s report
 * interval alpha is 0.39: a sudden real change shows 39% after one report,
 * 63% after two (tau), 95% after six seconds (3 tau), while one outlier
 * sample moves the value by at most 39%.  Why a time constant rather than
 * a fixed alpha: the smoothing then means the same thing whatever rate an
 * agent reports at (an agent that reports ten times faster does not get
 * ten times the influence), and a burst of reports within a millisecond
 * (dt = 0, alpha = 0) cannot move the smoothed values at all: a flooding
 * agent only changes 'last'.  Two seconds is slower than the report
 * interval (so noise is damped) yet well inside the default lease (3 s) so
 * that a loaded instance sheds new connections before a stalled one would
 * have expired; damping against herding on stale values (Mitzenmacher,
 * "How useful is old information?") is this smoothing, and the
 * selector's business beyond that.
 *
 * The first value of a metric, and every value after the lease expired,
 * is taken as is (no history to average with).  A metric that a report no
 * longer carries is dropped from the smoothed set rather than kept stale.
 * The instance's own L2 score, when it sends one, is smoothed the same
 * way.
 *
 * Scores (CATS L1 per category, L2 overall), 0 to 10, higher is better
 * --------------------------------------------------------------------
 *
 * Computed from the smoothed values; each is present only if its inputs
 * are.  Functions, with u utilizations (fractions), C the registered
 * capacity (0 counts as 1), R requests in flight, Q queue depth, L latency
 * in ms, Lref the configured reference latency (default 100 ms):
 *
 *   computing = 10 * (1 - max(u_cpu, u_gpu, u_memory, u_gpu_memory))
 *       the most utilized resource is the bottleneck (a node with idle
 *       CPUs and a full GPU has no room for a GPU job);
 *   occupancy = 10 * C / (C + R + Q)
 *       10 when idle, 5 at one request per unit of capacity, and never 0,
 *       so it still ranks instances that are all overloaded;
 *   delay     = 10 * Lref / (Lref + L)
 *       10 at no latency, 5 at Lref.
 *   L2 = the instance's own l2_score when it sends one (an application
 *       knows its own load best), otherwise the lowest L1 present (an
 *       instance is as good as its worst resource).
 *
 * The load average and the throughputs (requests/s, tokens/s) are kept
 * and shown but enter no score: a one-minute average lags 1 s reports,
 * and a throughput says nothing about headroom without its maximum.
 *
 * Weights (the simple inverse-load rule)
 * --------------------------------------
 *
 * The controller does not use this rule: its weights come from the path
 * selector (cats/selector.h, through controller/steer.c), which also does
 * its own damping.  The rule stays as the store's reference reading of
 * its scores, exercised by the tests and the fuzz target.
 *
 * cats_metrics_weight() turns the configured weight B of an instance into
 *
 *     0                           if not selectable (expired, unhealthy),
 *     B                           if it has no L2 yet (no load reported),
 *     max(1, round(B * L2 / 10))  otherwise.
 *
 * With occupancy as the deciding score this is B * C / (C + R + Q): new
 * connections go in inverse proportion to the outstanding work per unit
 * of capacity.  The floor of 1 keeps a trickle of new connections to a
 * saturated but alive instance so that it is not starved.  Weights are
 * relative: if every instance is equally loaded the split does not move.
 * cats_metrics_weight_moved() is a deadband for it: a change worth an
 * OpenFlow bundle.
 */

#ifndef CATS_METRICS_H
#define CATS_METRICS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/report.h"
#include "openvswitch/compiler.h"
#include "openvswitch/hmap.h"
#include "openvswitch/list.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults. */
#define CATS_METRICS_LEASE_MS 3000
#define CATS_METRICS_REPORT_INTERVAL_MS 1000
#define CATS_METRICS_TAU_MS 2000
#define CATS_METRICS_LATENCY_REF_MS 100.0
#define CATS_METRICS_MAX_NODES 65536
#define CATS_METRICS_MAX_INSTANCES 262144

struct cats_metrics_config {
    unsigned int lease_ms;            /* Lease; at least one interval. */
    unsigned int report_interval_ms;  /* Wanted report interval. */
    unsigned int tau_ms;              /* EWMA time constant. */
    double latency_ref_ms;            /* Delay score is 5 at this. */

    /* Per node rate limit (token bucket): 'max_report_rate' reports and
     * registrations per second, bursts of up to as many (at least 1).
     * 0 (the default from
     * cats_metrics_config_init()) means ten times the wanted rate:
     * 10 * 1000 / report_interval_ms. */
    double max_report_rate;

    size_t max_nodes;
    size_t max_instances;             /* Over all nodes. */

    /* A node silent for this long is removed with its instances (0, the
     * default: never; cats_metrics_remove_node() removes one on demand).
     * Until then its instances stay EXPIRED, out of selection. */
    unsigned int forget_ms;
};

void cats_metrics_config_init(struct cats_metrics_config *);

enum cats_metrics_state {
    CATS_METRICS_ACTIVE,
    CATS_METRICS_UNHEALTHY,
    CATS_METRICS_EXPIRED,
};

const char *cats_metrics_state_name(enum cats_metrics_state);

/* Scores: 'l1[c]' is meaningful if bit c of 'l1_present' is set. */
enum cats_l1 {
    CATS_L1_COMPUTING,
    CATS_L1_OCCUPANCY,
    CATS_L1_DELAY,
    CATS_N_L1
};

struct cats_metrics_scores {
    uint32_t l1_present;
    double l1[CATS_N_L1];
    bool has_l2;
    double l2;
};

const char *cats_l1_name(enum cats_l1);

struct cats_metrics_node;

struct cats_metrics_instance {
    struct hmap_node node;              /* In store's 'instances'. */
    struct ovs_list owner_node;         /* In owner's 'instances'. */
    struct cats_report_key key;
    struct cats_metrics_node *owner;
    uint32_t capacity;                  /* As registered; 0: unknown. */

    enum cats_metrics_state state;      /* As of the last run or report. */
    enum cats_health health;            /* Last reported. */
    long long last_alive;               /* Last accepted report (or
                                         * registration), ms. */
    long long lease_expires;            /* last_alive + lease_ms. */
    struct ovs_list lease_node;         /* In store's 'leases' while the
                                         * lease runs, else empty. */
    bool has_sample;                    /* Some report was applied since
                                         * registration or expiry. */
    long long last_sample;              /* When, ms. */
    uint64_t n_reports;

    struct cats_metric_values last;     /* Raw, from the last report. */
    struct cats_metric_values smoothed; /* EWMA. */
    bool has_l2_reported;               /* The instance sends its own L2: */
    double l2_reported_last;            /* as last sent, */
    double l2_reported;                 /* smoothed. */
    struct cats_metrics_scores scores;  /* From 'smoothed'. */
};

struct cats_metrics_node {
    struct hmap_node node;              /* In store's 'nodes'. */
    char id[CATS_ID_MAX + 1];
    char agent[CATS_AGENT_MAX + 1];
    uint64_t session;
    uint64_t last_seq;                  /* 0: no report in this session. */
    long long registered;               /* ms. */
    long long last_alive;               /* Registration or last report. */
    struct ovs_list alive_node;         /* In store's 'alive'. */
    double tokens;                      /* Rate limit bucket. */
    long long tokens_updated;
    struct ovs_list instances;          /* Contains cats_metrics_instance's
                                         * 'owner_node'. */
    size_t n_instances;
};

struct cats_metrics_store {
    struct cats_metrics_config cfg;
    struct hmap nodes;                  /* By id. */
    struct hmap instances;              /* By key. */
    uint64_t seqno;                     /* Bumped on every change. */

    /* The instances whose lease runs, earliest end first, and the nodes,
     * least recently heard from first.  A renewal moves an instance to the
     * tail (every lease has the same length, so the new end is the latest
     * one), and cats_metrics_run() takes what is due from the head: both
     * O(1), where a scan of every instance for the next lease end costs
     * milliseconds at 10,000 and, once stragglers' leases end a few ms
     * apart, runs every few ms. */
    struct ovs_list leases;             /* Of cats_metrics_instance. */
    struct ovs_list alive;              /* Of cats_metrics_node. */

    /* Counters, for ovs-appctl. */
    uint64_t n_registrations;
    uint64_t n_reports;                 /* Accepted. */
    uint64_t n_rejected;                /* Registrations and reports. */
    uint64_t n_expirations;             /* Leases that ran out. */
    uint64_t n_forgotten;               /* Nodes removed by forget_ms. */
};

/* 'cfg' may be NULL for the defaults. */
void cats_metrics_init(struct cats_metrics_store *,
                       const struct cats_metrics_config *cfg);
void cats_metrics_destroy(struct cats_metrics_store *);

/* Registers 'reg' (validated by cats_report_decode_registration()) under
 * 'session', a nonzero number the caller draws at random, at time 'now'.
 * All or nothing.  Returns 0, or on error a positive errno value (EEXIST:
 * an instance belongs to another node whose lease still runs; ENOSPC: too
 * many nodes or instances; EBUSY: a known node over its rate limit, which
 * registrations count against too) with a malloc'd message in '*errorp'.
 * Instances the node registered before and not now are removed. */
int cats_metrics_register(struct cats_metrics_store *,
                          const struct cats_report_registration *reg,
                          uint64_t session, long long now, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* Applies 'load' (validated by cats_report_decode_load()) at time 'now'.
 * All or nothing.  Errors: ESTALE (node not registered, or not this
 * session: register again), EBUSY (node over its rate limit), EALREADY
 * (seq not above the last accepted one), EPERM (an instance that this
 * node did not register).  If 'nodep' is nonnull, '*nodep' is the
 * reporting node, or NULL if it is not registered, saving the caller a
 * second lookup. */
int cats_metrics_report(struct cats_metrics_store *,
                        const struct cats_report_load *load, long long now,
                        const struct cats_metrics_node **nodep,
                        char **errorp) OVS_WARN_UNUSED_RESULT;

/* Removes a node and its instances (a node that says goodbye, or an
 * operator's command).  Returns false if there is no such node. */
bool cats_metrics_remove_node(struct cats_metrics_store *, const char *id);

/* Records lease expiries (and forgets nodes, with forget_ms) due at 'now'.
 * O(1) when nothing is due, O(1) per expiry otherwise.
 * cats_metrics_next_wake() (O(1)) is when it next has something to do:
 * LLONG_MAX for never. */
void cats_metrics_run(struct cats_metrics_store *, long long now);
long long cats_metrics_next_wake(const struct cats_metrics_store *);

struct cats_metrics_node *cats_metrics_find_node(
    const struct cats_metrics_store *, const char *id);
struct cats_metrics_instance *cats_metrics_find(
    const struct cats_metrics_store *, const char *service, ovs_be32 ip,
    uint16_t port);

/* State of 'inst' at 'now', from its lease and health (whether or not
 * cats_metrics_run() has caught up). */
enum cats_metrics_state cats_metrics_state(
    const struct cats_metrics_instance *, long long now);
bool cats_metrics_is_selectable(const struct cats_metrics_instance *,
                                long long now);

/* Milliseconds left on the lease at 'now' (0 once expired). */
long long cats_metrics_lease_remaining(const struct cats_metrics_instance *,
                                       long long now);

/* The score functions described at the top of this file.  Each returns
 * false, leaving '*score' alone, if its inputs are absent from 'v'. */
bool cats_metrics_l1_computing(const struct cats_metric_values *v,
                               double *score);
bool cats_metrics_l1_occupancy(const struct cats_metric_values *v,
                               uint32_t capacity, double *score);
bool cats_metrics_l1_delay(const struct cats_metric_values *v,
                           double latency_ref_ms, double *score);

/* All scores of 'v'; 'reported_l2' is the instance's own L2 or NULL. */
void cats_metrics_compute_scores(const struct cats_metric_values *v,
                                 uint32_t capacity, double latency_ref_ms,
                                 const double *reported_l2,
                                 struct cats_metrics_scores *);

/* The inverse-load weight rule (top of this file), for configured weight
 * 'base'. */
uint16_t cats_metrics_weight(const struct cats_metrics_instance *,
                             uint16_t base, long long now);

/* Deadband: true if moving from weight 'current' to 'target' is worth an
 * OpenFlow update: whenever one of them is 0 and the other is not (an
 * instance enters or leaves selection), otherwise only when they differ
 * by more than 10% of 'current'. */
bool cats_metrics_weight_moved(uint16_t current, uint16_t target);

#ifdef __cplusplus
}
#endif

#endif /* cats/metrics.h */

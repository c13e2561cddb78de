/*
 * cats-sim: the discrete-event simulator's engine.
 *
 * One run simulates one steering policy over one workload: clients that
 * open connections at Poisson times (open loop), instances with c parallel
 * slots and a FIFO queue each, background load on the instances from other
 * tenants, and long-haul paths to a remote site that get congested (queue
 * delay, ECN marks, short PFC pauses) and now and then pause-storm.  Each
 * connection is one request: its completion time is the time from its
 * arrival at the client side until its response is back.
 *
 * Runs are deterministic: a run is a function of its configuration and
 * policy only.  Every source of randomness has its own PRNG stream
 * (xoshiro256**, seeded by splitmix64 from the seed and a stream number),
 * and everything that is not the policy's choice is drawn so that it does
 * not depend on that choice: the arrival times, each connection's 5-tuple
 * hash and its service-time draw (scaled to the instance it lands on), the
 * background arrivals of each instance, each path's congestion timeline.
 * So every policy sees the very same arrivals, and the same seed gives the
 * same output, bit for bit, on the same binary.
 *
 * Policies "ours" and "ours-weights" run the selector
 * (include/cats/selector.h) unchanged, fed what the controller can know
 * and nothing else: each instance's reports (every 'report_ms', each
 * instance at its own phase, handed over as they come, as
 * controller/steer.c does), each path's telemetry (every 'telemetry_ms'),
 * and the number of new connections the switch sent each instance, as
 * OVS's counters show them to a poll every 'stats_ms'.  Both reweight
 * every 'reweight_ms', and the weights reach the simulated switch
 * 'apply_ms' later, where a dp_hash-style group maps each new
 * connection's hash to a pair in proportion to the weights.
 *
 * "ours-weights" stops there: the weights decide every connection.
 * "ours" decides each connection in the controller (decide=connection):
 * the switch sends a new connection's first packet to the controller,
 * which picks a pair with cats_sel_pick_connection() at the arrival,
 * counts it with cats_sel_connection_placed(), and resumes the packet,
 * which leaves 'decide_ms' after it arrived (the packet-in and resume
 * round trip).  When the response passes the client-side switch (after
 * its return trip), the controller sees the connection end (the FIN
 * copied to it) and calls cats_sel_connection_ended().  If the selector
 * finds no eligible pair, the packet goes to the select group: the
 * weights as applied.
 *
 * No I/O: the caller (controller/sim/cats-sim.c, the tests) prints.
 */

#ifndef CATS_SIM_H
#define CATS_SIM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/selector.h"

struct ds;

enum sim_policy {
    SIM_RR,             /* Round robin over instances. */
    SIM_RANDOM,         /* Uniform random instance. */
    SIM_ECMP,           /* 5-tuple hash: static equal split. */
    SIM_WECMP,          /* 5-tuple hash: static split by slots (what
                         * configured weights would do). */
    SIM_LC,             /* Least connections per slot, proxy's own view. */
    SIM_P2C,            /* Power of two choices on the same view. */
    SIM_SPLIT,          /* The selector's plan from perfect, instant
                         * information, applied at once: what weights
                         * could do (sim.c). */
    SIM_ORACLE,         /* Shortest expected delay, perfect information. */
    SIM_OURS_WEIGHTS,   /* The selector's weights, on stale reports. */
    SIM_OURS,           /* The selector deciding each connection, on
                         * stale reports and its own placements. */
    SIM_N_POLICIES
};

const char *sim_policy_name(enum sim_policy);

/* True for the policies that run the selector. */
bool sim_policy_is_ours(enum sim_policy);
bool sim_policy_from_string(const char *, enum sim_policy *);

/* Policies that scan every instance (or pair) per connection (O(n)), ours
 * included: the simulator refuses them above SIM_SCAN_MAX instances. */
#define SIM_SCAN_MAX 5000

enum sim_dist {
    SIM_DIST_EXP,       /* Exponential service times. */
    SIM_DIST_LOGNORMAL, /* Lognormal, 'sigma', same mean. */
};

struct sim_config {
    uint64_t seed;
    double load;                /* Offered load: client work plus
                                 * background work over the capacity. */
    size_t n_instances;
    double duration_s;          /* Client arrivals during this long. */
    double warmup_s;            /* Arrivals before this are not counted. */

    /* Instances. */
    unsigned int min_slots, max_slots;  /* Drawn uniformly. */
    double service_ms;          /* Mean service time of a normal one. */
    double slow_fraction;       /* Share of slower instances, */
    double slow_factor;         /* their service time multiplier. */
    enum sim_dist dist;
    double sigma;               /* Lognormal shape. */
    double background;          /* Mean background load per instance, as
                                 * a fraction of its capacity; each one's
                                 * level is redrawn from [0, 2 *
                                 * background] every 'background_change_s'
                                 * on average. */
    double background_change_s;
    double remote_fraction;     /* Share of instances at the remote site,
                                 * reached over either long-haul path. */

    /* Network. */
    double local_rtt_ms;
    double path_rtt_ms[2];      /* The two long-haul paths. */
    double calm_s[2];           /* Mean calm period of each path. */
    double congested_s;         /* Mean congested period. */
    double storm_prob[2];       /* A congestion ends in a storm. */
    double storm_s;             /* Mean storm length (at least 250 ms). */
    double congested_queue_ms;  /* Queueing delay, each way. */
    double ecn_fraction;        /* Marked share while congested. */
    double pause_fraction;      /* Time paused while congested, */
    double pause_max_ms;        /* in pauses of up to this long. */

    /* The controller (policy "ours"). */
    double report_ms;           /* Instance report interval. */
    double telemetry_ms;        /* Path telemetry interval. */
    double reweight_ms;         /* Reweight timer. */
    double apply_ms;            /* Reweight to switch. */
    double decide_ms;           /* Ours: a new connection's extra delay
                                 * for the controller's decision (packet-in
                                 * to resume). */
    double stats_ms;            /* Counter poll: connections sent to each
                                 * instance, as OVS counts them, reach the
                                 * selector this often (0: never). */
    bool smooth_reports;        /* Feed reports smoothed (EWMA, 2 s)
                                 * rather than as they came (the
                                 * controller feeds them raw). */
    bool report_service;        /* Agents report their service time (the
                                 * selector derives it from the latency
                                 * otherwise: cats.v1 has no such field). */
    struct cats_sel_config sel;
    enum cats_sel_policy sel_policy;
};

/* The stated default setup (controller/sim/README.md). */
void sim_config_init(struct sim_config *);

struct sim_result {
    enum sim_policy policy;
    double load;
    uint64_t n_requests;        /* Counted (arrived after warm-up). */
    double mean_ms, p50_ms, p99_ms, p999_ms, max_ms;
    double imbalance;           /* Max over mean per-instance utilization
                                 * (client and background work). */
    double changes_per_s;       /* Ours (both): published weight */
    double flips_per_s;         /* changes, all pairs; flips: reversals
                                 * (per connection, of the fallback
                                 * weights).  NaN else. */
    uint64_t n_reweights;       /* Ours (both). */
    uint64_t n_fallbacks;       /* Ours: connections the weights decided
                                 * (per connection: no eligible pair);
                                 * ours-weights: connections with no
                                 * weight. */
    uint64_t n_storm_requests;  /* Requests held by a pause storm. */
};

/* Runs 'policy' on the workload of 'cfg'.  Returns 0, or EINVAL with a
 * static message in '*errorp' for a configuration it cannot run. */
int sim_run(const struct sim_config *cfg, enum sim_policy policy,
            struct sim_result *result, const char **errorp);

/* Appends 'n' results as a table (or CSV, with a header line). */
void sim_format_results(const struct sim_result *, size_t n, bool csv,
                        struct ds *out);

#endif /* sim.h */

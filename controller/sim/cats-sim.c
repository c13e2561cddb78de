/*
 * cats-sim: compares steering policies on one simulated workload, and
 * times the selector at scale.  See controller/sim/README.md.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cats/selector.h"
#include "openvswitch/dynamic-string.h"
#include "sim.h"
#include "util.h"

#define MAX_LOADS 32

/* Loads of the --bench sweep (the plot). */
static const double bench_loads[] = { 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95 };
#define BENCH_LOAD 0.8
#define BENCH_SCALE 100000

struct options {
    struct sim_config cfg;
    double loads[MAX_LOADS];
    size_t n_loads;
    bool policies[SIM_N_POLICIES];
    bool csv;
    const char *plot;
    size_t scale;               /* 0: no timing run. */
    bool bench;
};

static void
usage(void)
{
    struct sim_config d;

    sim_config_init(&d);
    printf("cats-sim: compare steering policies on a simulated workload\n"
           "usage: cats-sim [OPTIONS]\n"
           "\n"
           "Workload (defaults in brackets):\n"
           "  --seed=N              PRNG seed [%"PRIu64"]\n"
           "  --load=X[,X...]       offered load, client plus background"
           " work over\n"
           "                        capacity [%.2f]; several: a sweep\n"
           "  --instances=N         instances [%"PRIuSIZE"]\n"
           "  --duration=S          seconds of arrivals [%.0f]\n"
           "  --warmup=S            first seconds not counted [%.0f]\n"
           "  --slots=MIN:MAX       parallel slots per instance [%u:%u]\n"
           "  --service-ms=MS       mean service time [%.0f]\n"
           "  --slow-fraction=X     share of slow instances [%.2f]\n"
           "  --slow-factor=X       their service time multiplier [%.1f]\n"
           "  --dist=exp|lognormal  service time distribution [exp]\n"
           "  --sigma=X             lognormal shape [%.1f]\n"
           "  --background=X        mean background load [%.2f]\n"
           "  --remote-fraction=X   share of instances behind the"
           " long-haul paths [%.2f]\n"
           "  --storm-prob=X        chance that a congestion of path wan-a"
           " ends in a\n"
           "                        pause storm [%.2f]\n"
           "\n"
           "Controller (policy ours):\n"
           "  --report-ms=MS        instance report interval [%.0f]\n"
           "  --telemetry-ms=MS     path telemetry interval [%.0f]\n"
           "  --reweight-ms=MS      reweight interval [%.0f]\n"
           "  --apply-ms=MS         reweight to switch delay [%.0f]\n"
           "  --decide-ms=MS        ours: a new connection's delay for the"
           " controller's\n"
           "                        decision, packet-in to resume [%.1f]\n"
           "  --stats-ms=MS         poll of the new-connection counters, 0:"
           " none (the\n"
           "                        selector's proportional model) [%.0f]\n"
           "  --smooth-reports      hand reports over smoothed (EWMA, 2 s)"
           " rather than\n"
           "                        as they come\n"
           "  --report-service      agents also report their service time"
           " (not in\n"
           "                        cats.v1: the selector derives it from"
           " the latency)\n"
           "  --selector-policy=P   min-latency|least-loaded|static\n"
           "  --sharpness=K --cut-ratio=X --latency-weight=X --tau-ms=MS\n"
           "  --path-tau-ms=MS --stale-factor=X --max-step=X --deadband=X\n"
           "  --hot-factor=X --occupancy-tau-ms=MS --min-plan-load=X\n"
           "  --drain-ms=MS --plan-tau-ms=MS --path-sharpness=K\n"
           "  --conn-wait-factor=A\n"
           "                        selector settings (cats/selector.h)\n"
           "\n"
           "Output:\n"
           "  --policies=LIST       rr,random,ecmp,wecmp,lc,p2c,split,oracle,"
           "ours-weights,\n"
           "                        ours or all [all]\n"
           "  --csv                 CSV instead of a table\n"
           "  --plot=FILE.png       p99 vs load per policy (gnuplot), for a"
           " sweep\n"
           "  --scale=N             time the selector at N instances\n"
           "  --bench               the 'make bench-sim' run: a sweep of"
           " loads with\n"
           "                        every policy, then --scale=%d, then one"
           " summary line\n"
           "  -h, --help            this help\n",
           d.seed, d.load, d.n_instances, d.duration_s, d.warmup_s,
           d.min_slots, d.max_slots, d.service_ms, d.slow_fraction,
           d.slow_factor, d.sigma, d.background, d.remote_fraction,
           d.storm_prob[0], d.report_ms, d.telemetry_ms, d.reweight_ms,
           d.apply_ms, d.decide_ms, d.stats_ms, BENCH_SCALE);
    exit(EXIT_SUCCESS);
}

static double
parse_double(const char *name, const char *s)
{
    char *end;
    double x;

    errno = 0;
    x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x)) {
        ovs_fatal(0, "--%s: '%s' is not a number", name, s);
    }
    return x;
}

static uint64_t
parse_uint(const char *name, const char *s)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-') {
        ovs_fatal(0, "--%s: '%s' is not a nonnegative integer", name, s);
    }
    return x;
}

static void
parse_loads(struct options *o, const char *s)
{
    char *copy = xstrdup(s), *save = NULL;

    o->n_loads = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (o->n_loads >= MAX_LOADS) {
            ovs_fatal(0, "--load: at most %d loads", MAX_LOADS);
        }
        o->loads[o->n_loads++] = parse_double("load", tok);
    }
    if (!o->n_loads) {
        ovs_fatal(0, "--load: no load given");
    }
    free(copy);
}

static void
parse_policies(struct options *o, const char *s)
{
    char *copy = xstrdup(s), *save = NULL;

    memset(o->policies, 0, sizeof o->policies);
    for (char *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        enum sim_policy p;

        if (!strcmp(tok, "all")) {
            for (int i = 0; i < SIM_N_POLICIES; i++) {
                o->policies[i] = true;
            }
        } else if (sim_policy_from_string(tok, &p)) {
            o->policies[p] = true;
        } else {
            ovs_fatal(0, "--policies: unknown policy '%s'", tok);
        }
    }
    free(copy);
}

enum {
    OPT_SEED = UCHAR_MAX + 1, OPT_LOAD, OPT_INSTANCES, OPT_DURATION,
    OPT_WARMUP, OPT_SLOTS, OPT_SERVICE, OPT_SLOW_FRACTION, OPT_SLOW_FACTOR,
    OPT_DIST, OPT_SIGMA, OPT_BACKGROUND, OPT_REMOTE, OPT_STORM_PROB,
    OPT_REPORT, OPT_TELEMETRY, OPT_REWEIGHT, OPT_APPLY, OPT_SEL_POLICY,
    OPT_SHARPNESS, OPT_CUT_RATIO, OPT_LATENCY_WEIGHT, OPT_TAU, OPT_PATH_TAU,
    OPT_STALE, OPT_REPORT_SERVICE, OPT_MAX_STEP, OPT_DEADBAND,
    OPT_HOT_FACTOR, OPT_STATS, OPT_SMOOTH, OPT_OCC_TAU, OPT_PLAN_LOAD,
    OPT_DRAIN, OPT_PLAN_TAU, OPT_PATH_SHARPNESS, OPT_CONN_WAIT, OPT_DECIDE,
    OPT_POLICIES, OPT_CSV, OPT_PLOT, OPT_SCALE, OPT_BENCH,
};

static void
parse_options(int argc, char *argv[], struct options *o)
{
    static const struct option long_options[] = {
        {"seed", required_argument, NULL, OPT_SEED},
        {"load", required_argument, NULL, OPT_LOAD},
        {"instances", required_argument, NULL, OPT_INSTANCES},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"slots", required_argument, NULL, OPT_SLOTS},
        {"service-ms", required_argument, NULL, OPT_SERVICE},
        {"slow-fraction", required_argument, NULL, OPT_SLOW_FRACTION},
        {"slow-factor", required_argument, NULL, OPT_SLOW_FACTOR},
        {"dist", required_argument, NULL, OPT_DIST},
        {"sigma", required_argument, NULL, OPT_SIGMA},
        {"background", required_argument, NULL, OPT_BACKGROUND},
        {"remote-fraction", required_argument, NULL, OPT_REMOTE},
        {"storm-prob", required_argument, NULL, OPT_STORM_PROB},
        {"report-ms", required_argument, NULL, OPT_REPORT},
        {"telemetry-ms", required_argument, NULL, OPT_TELEMETRY},
        {"reweight-ms", required_argument, NULL, OPT_REWEIGHT},
        {"apply-ms", required_argument, NULL, OPT_APPLY},
        {"decide-ms", required_argument, NULL, OPT_DECIDE},
        {"selector-policy", required_argument, NULL, OPT_SEL_POLICY},
        {"sharpness", required_argument, NULL, OPT_SHARPNESS},
        {"cut-ratio", required_argument, NULL, OPT_CUT_RATIO},
        {"latency-weight", required_argument, NULL, OPT_LATENCY_WEIGHT},
        {"tau-ms", required_argument, NULL, OPT_TAU},
        {"path-tau-ms", required_argument, NULL, OPT_PATH_TAU},
        {"stale-factor", required_argument, NULL, OPT_STALE},
        {"report-service", no_argument, NULL, OPT_REPORT_SERVICE},
        {"max-step", required_argument, NULL, OPT_MAX_STEP},
        {"deadband", required_argument, NULL, OPT_DEADBAND},
        {"hot-factor", required_argument, NULL, OPT_HOT_FACTOR},
        {"stats-ms", required_argument, NULL, OPT_STATS},
        {"smooth-reports", no_argument, NULL, OPT_SMOOTH},
        {"occupancy-tau-ms", required_argument, NULL, OPT_OCC_TAU},
        {"min-plan-load", required_argument, NULL, OPT_PLAN_LOAD},
        {"drain-ms", required_argument, NULL, OPT_DRAIN},
        {"plan-tau-ms", required_argument, NULL, OPT_PLAN_TAU},
        {"path-sharpness", required_argument, NULL, OPT_PATH_SHARPNESS},
        {"conn-wait-factor", required_argument, NULL, OPT_CONN_WAIT},
        {"policies", required_argument, NULL, OPT_POLICIES},
        {"csv", no_argument, NULL, OPT_CSV},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"bench", no_argument, NULL, OPT_BENCH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sim_config *c = &o->cfg;

    memset(o, 0, sizeof *o);
    sim_config_init(c);
    o->loads[0] = c->load;
    o->n_loads = 1;
    parse_policies(o, "all");

    for (;;) {
        int opt = getopt_long(argc, argv, "h", long_options, NULL);
        const char *name = NULL;

        if (opt == -1) {
            break;
        }
        for (const struct option *lo = long_options; lo->name; lo++) {
            if (lo->val == opt) {
                name = lo->name;
            }
        }
        switch (opt) {
        case OPT_SEED:
            c->seed = parse_uint(name, optarg);
            break;
        case OPT_LOAD:
            parse_loads(o, optarg);
            break;
        case OPT_INSTANCES:
            c->n_instances = parse_uint(name, optarg);
            break;
        case OPT_DURATION:
            c->duration_s = parse_double(name, optarg);
            break;
        case OPT_WARMUP:
            c->warmup_s = parse_double(name, optarg);
            break;
        case OPT_SLOTS:
            if (sscanf(optarg, "%u:%u", &c->min_slots, &c->max_slots) != 2) {
                ovs_fatal(0, "--slots: '%s' is not MIN:MAX", optarg);
            }
            break;
        case OPT_SERVICE:
            c->service_ms = parse_double(name, optarg);
            break;
        case OPT_SLOW_FRACTION:
            c->slow_fraction = parse_double(name, optarg);
            break;
        case OPT_SLOW_FACTOR:
            c->slow_factor = parse_double(name, optarg);
            break;
        case OPT_DIST:
            if (!strcmp(optarg, "exp")) {
                c->dist = SIM_DIST_EXP;
            } else if (!strcmp(optarg, "lognormal")) {
                c->dist = SIM_DIST_LOGNORMAL;
            } else {
                ovs_fatal(0, "--dist: '%s' is not exp or lognormal", optarg);
            }
            break;
        case OPT_SIGMA:
            c->sigma = parse_double(name, optarg);
            break;
        case OPT_BACKGROUND:
            c->background = parse_double(name, optarg);
            break;
        case OPT_REMOTE:
            c->remote_fraction = parse_double(name, optarg);
            break;
        case OPT_STORM_PROB:
            c->storm_prob[0] = parse_double(name, optarg);
            break;
        case OPT_REPORT:
            c->report_ms = parse_double(name, optarg);
            break;
        case OPT_TELEMETRY:
            c->telemetry_ms = parse_double(name, optarg);
            break;
        case OPT_REWEIGHT:
            c->reweight_ms = parse_double(name, optarg);
            break;
        case OPT_APPLY:
            c->apply_ms = parse_double(name, optarg);
            break;
        case OPT_DECIDE:
            c->decide_ms = parse_double(name, optarg);
            break;
        case OPT_SEL_POLICY:
            if (!cats_sel_policy_from_string(optarg, &c->sel_policy)) {
                ovs_fatal(0, "--selector-policy: unknown policy '%s'",
                          optarg);
            }
            break;
        case OPT_SHARPNESS:
            c->sel.sharpness = parse_double(name, optarg);
            break;
        case OPT_CUT_RATIO:
            c->sel.cut_ratio = parse_double(name, optarg);
            c->sel.readmit_ratio = c->sel.cut_ratio * 0.75;
            break;
        case OPT_LATENCY_WEIGHT:
            c->sel.latency_weight = parse_double(name, optarg);
            break;
        case OPT_TAU:
            c->sel.tau_ms = parse_uint(name, optarg);
            break;
        case OPT_PATH_TAU:
            c->sel.path_tau_ms = parse_uint(name, optarg);
            break;
        case OPT_REPORT_SERVICE:
            c->report_service = true;
            break;
        case OPT_STALE:
            c->sel.stale_factor = parse_double(name, optarg);
            break;
        case OPT_MAX_STEP:
            c->sel.max_step = parse_double(name, optarg);
            break;
        case OPT_DEADBAND:
            c->sel.deadband = parse_double(name, optarg);
            break;
        case OPT_HOT_FACTOR:
            c->sel.hot_factor = parse_double(name, optarg);
            break;
        case OPT_STATS:
            c->stats_ms = parse_double(name, optarg);
            break;
        case OPT_SMOOTH:
            c->smooth_reports = true;
            break;
        case OPT_OCC_TAU:
            c->sel.occupancy_tau_ms = parse_uint(name, optarg);
            break;
        case OPT_PLAN_LOAD:
            c->sel.min_plan_load = parse_double(name, optarg);
            break;
        case OPT_DRAIN:
            c->sel.drain_ms = parse_uint(name, optarg);
            break;
        case OPT_PLAN_TAU:
            c->sel.plan_tau_ms = parse_uint(name, optarg);
            break;
        case OPT_PATH_SHARPNESS:
            c->sel.path_sharpness = parse_double(name, optarg);
            break;
        case OPT_CONN_WAIT:
            c->sel.conn_wait_factor = parse_double(name, optarg);
            break;
        case OPT_POLICIES:
            parse_policies(o, optarg);
            break;
        case OPT_CSV:
            o->csv = true;
            break;
        case OPT_PLOT:
            o->plot = optarg;
            break;
        case OPT_SCALE:
            o->scale = parse_uint(name, optarg);
            break;
        case OPT_BENCH:
            o->bench = true;
            break;
        case 'h':
            usage();
            break;
        default:
            exit(EXIT_FAILURE);
        }
    }
    if (optind < argc) {
        ovs_fatal(0, "unexpected argument '%s' (try --help)", argv[optind]);
    }
    if (o->bench) {
        o->n_loads = ARRAY_SIZE(bench_loads);
        memcpy(o->loads, bench_loads, sizeof bench_loads);
        if (!o->scale) {
            o->scale = BENCH_SCALE;
        }
    }
}

/* Wall-clock time, ns (CLOCK_MONOTONIC). */
static double
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Plot: p99 vs load, one line per policy, through gnuplot. */
static void
plot(const char *file, const struct sim_result *r, size_t n_loads,
     const bool *policies, const struct sim_config *cfg)
{
    char *data = xasprintf("%s.dat", file);
    FILE *f = fopen(data, "w");

    if (!f) {
        ovs_error(errno, "%s: cannot write", data);
        free(data);
        return;
    }
    fprintf(f, "# load");
    for (int p = 0; p < SIM_N_POLICIES; p++) {
        if (policies[p]) {
            fprintf(f, " %s", sim_policy_name(p));
        }
    }
    fprintf(f, "\n");
    size_t n_pol = 0;
    for (int p = 0; p < SIM_N_POLICIES; p++) {
        n_pol += policies[p];
    }
    for (size_t l = 0; l < n_loads; l++) {
        fprintf(f, "%.3f", r[l * n_pol].load);
        for (size_t k = 0; k < n_pol; k++) {
            fprintf(f, " %.3f", r[l * n_pol + k].p99_ms);
        }
        fprintf(f, "\n");
    }
    fclose(f);

    FILE *gp = popen("gnuplot 2>&1", "w");
    if (!gp) {
        ovs_error(errno, "gnuplot: cannot run it; data left in %s", data);
        free(data);
        return;
    }
    fprintf(gp,
            "set terminal pngcairo size 1000,600 font 'sans,11'\n"
            "set output '%s'\n"
            "set title \"cats-sim: p99 completion time vs offered load\\n"
            "%"PRIuSIZE" instances, slots %u-%u, %.0f%% slow (x%.1f), "
            "background %.2f, reports every %.0f ms, seed %"PRIu64"\"\n"
            "set xlabel 'offered load (client + background work / "
            "capacity)'\n"
            "set ylabel 'p99 completion time (ms, log scale)'\n"
            "set logscale y\n"
            "set format y '%%g'\n"
            "set grid\n"
            "set key outside right top\n",
            file, cfg->n_instances, cfg->min_slots, cfg->max_slots,
            cfg->slow_fraction * 100, cfg->slow_factor, cfg->background,
            cfg->report_ms, cfg->seed);
    fprintf(gp, "plot ");
    size_t col = 2;
    for (int p = 0; p < SIM_N_POLICIES; p++) {
        if (policies[p]) {
            fprintf(gp, "%s'%s' using 1:%"PRIuSIZE" with linespoints %s"
                    " title '%s'", col > 2 ? ", " : "", data, col,
                    (p == SIM_OURS ? "lw 3 lc rgb 'black'"
                     : p == SIM_OURS_WEIGHTS ? "lw 3 lc rgb 'gray50'"
                     : p == SIM_SPLIT ? "lw 2 dt 2 lc rgb 'black'"
                     : "lw 1"),
                    sim_policy_name(p));
            col++;
        }
    }
    fprintf(gp, "\n");
    if (pclose(gp)) {
        ovs_error(0, "gnuplot failed (is gnuplot-nox installed?); data left"
                  " in %s", data);
    } else {
        fprintf(stderr, "cats-sim: wrote %s\n", file);
    }
    free(data);
}

/* Timing of the selector with 'n' instances, as in the simulation (slots
 * 2 to 8, 40% behind two paths): mean ns per cats_sel_pick() (a decision
 * under weights) and per cats_sel_pick_connection() with its
 * cats_sel_connection_placed() (a decision of policy ours, one per new
 * connection), and ms per cats_sel_reweight() after every instance
 * reported and had its new connections counted (the rate model), and ns
 * per report and count. */
static void
scale_timing(size_t n, uint64_t seed, double *pick_ns, double *conn_ns,
             double *reweight_ms, double *report_ns, size_t *n_pairs)
{
    struct cats_selector *sel = cats_sel_create(NULL);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "scale",
                                                        CATS_SEL_MIN_LATENCY);
    size_t paths[2] = {
        cats_sel_path_add(sel, "wan-a", 4),
        cats_sel_path_add(sel, "wan-b", 6),
    };
    uint32_t *slots = xmalloc(n * sizeof *slots);
    uint64_t x = seed;

    for (size_t i = 0; i < n; i++) {
        char name[32];
        uint64_t r = x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t inst;

        snprintf(name, sizeof name, "i%"PRIuSIZE, i);
        slots[i] = 2 + (r >> 33) % 7;
        inst = cats_sel_instance_add(svc, name, slots[i], 100);
        if ((r >> 20) % 10 < 4) {
            cats_sel_pair_add(svc, inst, paths[0]);
            cats_sel_pair_add(svc, inst, paths[1]);
        } else {
            cats_sel_pair_add(svc, inst, CATS_SEL_LOCAL);
        }
    }
    *n_pairs = cats_sel_n_pairs(svc);

    enum { ROUNDS = 10, PICKS = 2000000 };
    double t_reweight = 0, t_report = 0;
    long long now = 1000;
    for (int round = 0; round <= ROUNDS; round++, now += 100) {
        double t0 = now_ns();
        for (size_t i = 0; i < n; i++) {
            uint64_t r = x = x * 6364136223846793005ULL
                             + 1442695040888963407ULL;
            /* About half of the capacity busy, a third of it ours. */
            struct cats_sel_instance_report rep = {
                .time = now, .selectable = true,
                .has_in_flight = true, .in_flight = (r >> 40) % slots[i],
                .has_queue = true, .queue = (r >> 50) % 2,
                .has_latency = true, .latency_ms = 10 + (r >> 20) % 30,
                .has_service = true, .service_ms = 10 + (r >> 30) % 10,
            };
            int error = cats_sel_instance_report(svc, i, &rep);
            ovs_assert(!error);
            cats_sel_instance_sent(svc, i, (r >> 10) % (2 * slots[i] + 1),
                                   now);
        }
        double t1 = now_ns();
        cats_sel_reweight(svc, now);
        double t2 = now_ns();

        /* Round 0 is the cold start (first touch of every array). */
        if (round) {
            t_report += t1 - t0;
            t_reweight += t2 - t1;
        }
    }

    uint32_t *hashes = xmalloc(PICKS * sizeof *hashes);
    for (size_t k = 0; k < PICKS; k++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        hashes[k] = x >> 32;
    }
    size_t sink = 0;
    double t0 = now_ns();
    for (size_t k = 0; k < PICKS; k++) {
        sink += cats_sel_pick(svc, hashes[k]);
    }
    double t1 = now_ns();
    free(hashes);
    ovs_assert(sink);

    /* Per connection: one pass over the pairs each, so fewer of them (at
     * least 100, about 10^8 pairs visited in all), each placed where it
     * was picked (as ours does). */
    size_t n_conn = MAX(100, MIN(100000, 100000000 / MAX(*n_pairs, 1)));
    double t2 = now_ns();
    for (size_t k = 0; k < n_conn; k++) {
        size_t pair = cats_sel_pick_connection(svc, now);

        ovs_assert(pair != SIZE_MAX);
        cats_sel_connection_placed(svc, pair, now);
        sink += pair;
    }
    double t3 = now_ns();
    ovs_assert(sink);

    free(slots);
    *pick_ns = (t1 - t0) / PICKS;
    *conn_ns = (t3 - t2) / n_conn;
    *reweight_ms = t_reweight / ROUNDS / 1e6;
    *report_ns = t_report / ROUNDS / n;
    cats_sel_destroy(sel);
}

int
main(int argc, char *argv[])
{
    struct options o;

    set_program_name(argv[0]);
    parse_options(argc, argv, &o);

    size_t n_pol = 0;
    for (int p = 0; p < SIM_N_POLICIES; p++) {
        n_pol += o.policies[p];
    }
    if (!n_pol) {
        ovs_fatal(0, "no policy to run");
    }

    struct sim_result *results = xcalloc(o.n_loads * n_pol, sizeof *results);
    struct sim_result *ours = NULL, *oracle = NULL, *ecmp = NULL;
    size_t k = 0;
    for (size_t l = 0; l < o.n_loads; l++) {
        struct sim_config cfg = o.cfg;

        cfg.load = o.loads[l];
        for (int p = 0; p < SIM_N_POLICIES; p++) {
            const char *error;

            if (!o.policies[p]) {
                continue;
            }
            if (sim_run(&cfg, p, &results[k], &error)) {
                ovs_fatal(0, "policy %s, load %.2f: %s", sim_policy_name(p),
                          cfg.load, error);
            }
            if (cfg.load == BENCH_LOAD) {
                ours = p == SIM_OURS ? &results[k] : ours;
                oracle = p == SIM_ORACLE ? &results[k] : oracle;
                ecmp = p == SIM_ECMP ? &results[k] : ecmp;
            }
            k++;
        }
    }

    struct ds out = DS_EMPTY_INITIALIZER;
    if (!o.csv) {
        ds_put_format(&out, "# %"PRIuSIZE" instances, slots %u-%u, service"
                      " %.0f ms (%s), %.0f%% slow x%.1f, background %.2f,"
                      " remote %.0f%%, %.0f s (warm-up %.0f s), seed %"PRIu64
                      "\n# reports every %.0f ms%s, telemetry %.0f ms,"
                      " reweight %.0f ms, apply %.0f ms, counters every"
                      " %.0f ms, ours' decision %.2f ms\n",
                      o.cfg.n_instances, o.cfg.min_slots, o.cfg.max_slots,
                      o.cfg.service_ms,
                      o.cfg.dist == SIM_DIST_EXP ? "exponential"
                      : "lognormal",
                      o.cfg.slow_fraction * 100, o.cfg.slow_factor,
                      o.cfg.background, o.cfg.remote_fraction * 100,
                      o.cfg.duration_s, o.cfg.warmup_s, o.cfg.seed,
                      o.cfg.report_ms,
                      o.cfg.smooth_reports ? " (smoothed)" : "",
                      o.cfg.telemetry_ms, o.cfg.reweight_ms, o.cfg.apply_ms,
                      o.cfg.stats_ms, o.cfg.decide_ms);
    }
    sim_format_results(results, k, o.csv, &out);
    fputs(ds_cstr(&out), stdout);
    fflush(stdout);
    ds_destroy(&out);

    if (o.plot) {
        if (o.n_loads < 2) {
            ovs_error(0, "--plot needs a sweep (several --load values)");
        } else {
            plot(o.plot, results, o.n_loads, o.policies, &o.cfg);
        }
    }

    /* Ours decides per connection: its decision time is that of
     * cats_sel_pick_connection() (and the placement), not that of a
     * weighted pick, which the table line shows as well. */
    double pick_ns = 0, conn_ns = 0, reweight_ms = 0, report_ns = 0;
    if (o.scale) {
        size_t n_pairs;

        scale_timing(o.scale, o.cfg.seed, &pick_ns, &conn_ns, &reweight_ms,
                     &report_ns, &n_pairs);
        printf("selector at %"PRIuSIZE" instances (%"PRIuSIZE" pairs):"
               " pick_connection_ns=%.1f (%.2f ns per pair)"
               " weighted_pick_ns=%.1f reweight_ms=%.2f (%.1f ns per pair)"
               " report_ns=%.1f\n", o.scale, n_pairs, conn_ns,
               conn_ns / n_pairs, pick_ns, reweight_ms,
               reweight_ms * 1e6 / n_pairs, report_ns);
    }

    if (o.bench) {
        if (!ours || !oracle || !ecmp) {
            ovs_fatal(0, "--bench needs ours, oracle and ecmp at load %.1f",
                      BENCH_LOAD);
        }
        printf("sim: load=%.1f p99_ours_ms=%.2f p99_oracle_ms=%.2f"
               " p99_ecmp_ms=%.2f ratio_oracle=%.3f ratio_ecmp=%.3f"
               " decide_ns=%.0f\n", BENCH_LOAD, ours->p99_ms,
               oracle->p99_ms, ecmp->p99_ms, ours->p99_ms / oracle->p99_ms,
               ours->p99_ms / ecmp->p99_ms, conn_ns);
    }
    free(results);
    return 0;
}

/*
 * Unit tests for the path selector (include/cats/selector.h): the cost
 * model with numbers worked by hand, the policies, damping (a closed-loop
 * step response), hysteresis, the PFC storm watchdog's timing, the ECN
 * EWMA, counter resets, and bad input.  Time is passed in, so every
 * timing here is exact; nothing measures the clock.
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

#include "cats/selector.h"
#include "openvswitch/dynamic-string.h"
#include "util.h"

#define EPS 1e-9

/* A configuration with every knob explicit, so that the tests do not move
 * when the defaults do. */
static void
test_config(struct cats_sel_config *cfg)
{
    cats_sel_config_init(cfg);
    cfg->sharpness = 1.0;
    cfg->cut_ratio = 4.0;
    cfg->readmit_ratio = 3.0;
    cfg->cut_quantile = 0.1;
    cfg->tau_ms = 1000;
    cfg->path_tau_ms = 300;
    cfg->stale_factor = 2.0;
    cfg->max_step = 1.0;
    cfg->deadband = 0.05;
    cfg->hot_quantile = 0.95;
    cfg->hot_min_load = 2.0;
    cfg->hot_factor = 0.5;
    cfg->default_service_ms = 10;
    cfg->latency_weight = 0;
    cfg->ecn_period_ms = 100;
    cfg->ecn_g = 0.25;
    cfg->drop_penalty_ms = 2000;
    cfg->watchdog_ms = 200;
    cfg->restore_ms = 1000;
    cfg->pfc_priorities = 0xff;
}

/* A configuration with no damping at all: weights follow the targets. */
static void
undamped_config(struct cats_sel_config *cfg)
{
    test_config(cfg);
    cfg->tau_ms = 0;
    cfg->path_tau_ms = 0;
    cfg->stale_factor = 0;
    cfg->max_step = 1e9;
    cfg->deadband = 0;
    cfg->hot_factor = 1;
}

static struct cats_selector *
new_selector(bool damped)
{
    struct cats_sel_config cfg;

    if (damped) {
        test_config(&cfg);
    } else {
        undamped_config(&cfg);
    }
    return cats_sel_create(&cfg);
}

/* An undamped selector whose per-connection wait factor is 'a'. */
static struct cats_selector *
new_conn_selector(double a)
{
    struct cats_sel_config cfg;

    undamped_config(&cfg);
    cfg.conn_wait_factor = a;
    return cats_sel_create(&cfg);
}

/* Reports R, Q and a service time T (T < 0: none) at 'time'. */
static void
report(struct cats_sel_service *svc, size_t inst, long long time, double r,
       double q, double t)
{
    struct cats_sel_instance_report rep = {
        .time = time, .selectable = true,
        .has_in_flight = true, .in_flight = r,
        .has_queue = true, .queue = q,
        .has_service = t >= 0, .service_ms = t,
    };

    assert_int_equal(cats_sel_instance_report(svc, inst, &rep), 0);
}

static struct cats_sel_explain
explain(const struct cats_sel_service *svc, size_t pair)
{
    struct cats_sel_explain *e, copy;
    size_t n = cats_sel_explain(svc, &e);

    assert_true(pair < n);
    copy = e[pair];
    free(e);
    return copy;
}

/* Published weight of 'pair' over the sum of all. */
static double
weight_share(const struct cats_sel_service *svc, size_t pair)
{
    double sum = 0;

    for (size_t i = 0; i < cats_sel_n_pairs(svc); i++) {
        sum += cats_sel_weight(svc, i);
    }
    return sum ? cats_sel_weight(svc, pair) / sum : 0;
}

/* A telemetry sample: counters, optional RTT, one PFC priority (3). */
struct sample {
    uint64_t tx, marked, drops;
    uint64_t pause_us, paused_for_us;
    bool storm;                 /* The source's watchdog says so. */
    bool has_queue;
    uint64_t queue_bytes;
    double rtt_us;              /* < 0: none. */
    uint64_t speed_bps;
};

static int
path_sample(struct cats_selector *sel, size_t path, uint64_t epoch,
            long long now, const struct sample *s)
{
    struct cats_report_link link = {
        .kind = CATS_LINK_KIND_PATH,
        .tx_packets = s->tx,
        .ecn_marked_packets = s->marked,
        .drops = s->drops,
        .has_queue_depth = s->has_queue,
        .queue_depth_bytes = s->queue_bytes,
        .has_rtt = s->rtt_us >= 0,
        .rtt_us = s->rtt_us,
        .speed_bps = s->speed_bps,
        .n_pfc = 1,
    };

    link.pfc[0].priority = 3;
    link.pfc[0].rx_pause_us = s->pause_us;
    link.pfc[0].paused_for_us = s->paused_for_us;
    link.pfc[0].storm = s->storm;
    return cats_sel_path_report(sel, path, &link, epoch, now);
}

static void
path_ok(struct cats_selector *sel, size_t path, uint64_t epoch,
        long long now, const struct sample *s)
{
    assert_int_equal(path_sample(sel, path, epoch, now, s), 0);
}

/* The cost model. */

/* Instance term: C = 4, R = 2, Q = 2, T = 10: load 1, wait 10, inst 20;
 * with a latency of 30 and b = 0.5: 0.5 * 20 + 0.5 * 30 = 25. */
static void
test_instance_cost_by_hand(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    test_config(&cfg);
    cfg.latency_weight = 0.5;
    struct cats_selector *sel = cats_sel_create(&cfg);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 4, 100);
    size_t p = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);

    report(svc, a, 0, 2, 2, 10);
    cats_sel_reweight(svc, 0);
    struct cats_sel_explain e = explain(svc, p);
    assert_float_equal(e.load, 1.0, EPS);
    assert_float_equal(e.wait_ms, 10.0, EPS);
    assert_float_equal(e.service_ms, 10.0, EPS);
    assert_float_equal(e.instance_ms, 20.0, EPS);
    assert_float_equal(e.net_ms, 0.0, EPS);
    assert_float_equal(e.cost, 20.0, EPS);
    assert_true(isnan(e.latency_ms));

    struct cats_sel_instance_report rep = {
        .time = 100, .selectable = true,
        .has_in_flight = true, .in_flight = 2,
        .has_queue = true, .queue = 2,
        .has_latency = true, .latency_ms = 30,
        .has_service = true, .service_ms = 10,
    };
    assert_int_equal(cats_sel_instance_report(svc, a, &rep), 0);
    cats_sel_reweight(svc, 100);
    e = explain(svc, p);
    assert_float_equal(e.instance_ms, 25.0, EPS);
    assert_float_equal(e.cost, 25.0, EPS);
    assert_float_equal(e.latency_ms, 30.0, EPS);
    assert_float_equal(e.target, 1.0, EPS);
    assert_int_equal(e.reason, CATS_SEL_OK);
    cats_sel_destroy(sel);
}

/* Network term, worked by hand.  Base RTT 2 ms; a queue of 125000 bytes
 * at 1 Gb/s is 1 ms, so D = max(measured 2.5, 2 + 1) = 3 ms.  100 ms
 * later (one ECN period, g = 0.25): 400 of 1000 packets marked (F = 0.4,
 * alpha = 0.1), 20 ms paused (f = 0.2, smoothed 0.05), 10 drops (d =
 * 10 / 1010, smoothed 0.25 * d).  stretch = 1 / (0.95 * 0.95); net = 3 *
 * stretch + 2000 * 0.25 * 10 / 1010. */
static void
test_path_cost_by_hand(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    size_t path = cats_sel_path_add(sel, "wan", 2.0);
    struct cats_sel_path_info info;
    struct sample s = {
        .has_queue = true, .queue_bytes = 125000, .rtt_us = 2500,
        .speed_bps = 1000000000,
    };

    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.net_ms, 2.0, EPS);   /* No telemetry: base. */

    path_ok(sel, path, 1, 1000, &s);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.delay_ms, 3.0, EPS);
    assert_float_equal(info.net_ms, 3.0, EPS);

    s.tx = 1000;
    s.marked = 400;
    s.pause_us = 20000;
    s.drops = 10;
    path_ok(sel, path, 1, 1100, &s);
    cats_sel_path_get(sel, path, &info);
    double d = 0.25 * 10.0 / 1010.0;
    double stretch = 1.0 / (0.95 * 0.95);
    assert_float_equal(info.ecn_alpha, 0.1, EPS);
    assert_float_equal(info.pause_frac, 0.05, EPS);
    assert_float_equal(info.drop_frac, d, EPS);
    assert_float_equal(info.stretch, stretch, EPS);
    assert_float_equal(info.loss_ms, 2000 * d, EPS);
    assert_float_equal(info.net_ms, 3.0 * stretch + 2000 * d, EPS);

    /* A measured RTT above base + queue wins; a pause in progress adds
     * its length so far. */
    s.rtt_us = 7000;
    s.paused_for_us = 50000;
    path_ok(sel, path, 1, 1200, &s);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.delay_ms, 7.0 + 50.0, EPS);
    assert_false(info.storm);

    /* The pair's cost is net + instance. */
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t p = cats_sel_pair_add(svc, a, path);
    report(svc, a, 1200, 0, 0, 5);
    cats_sel_reweight(svc, 1200);
    struct cats_sel_explain e = explain(svc, p);
    assert_float_equal(e.net_ms, info.net_ms, EPS);
    assert_float_equal(e.cost, info.net_ms + 5.0, EPS);
    assert_string_equal(e.path_name, "wan");
    cats_sel_destroy(sel);
}

/* DCQCN-style EWMA: alpha <- (1 - g) alpha + g F, g per ECN period, and
 * the same memory in time for other gaps. */
static void
test_ecn_ewma(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    size_t path = cats_sel_path_add(sel, "wan", 1.0);
    struct cats_sel_path_info info;
    struct sample s = { .rtt_us = -1 };
    long long t = 0;
    double expected = 0;

    path_ok(sel, path, 7, t, &s);
    for (int i = 0; i < 4; i++) {
        t += 100;
        s.tx += 1000;
        s.marked += 1000;             /* F = 1. */
        path_ok(sel, path, 7, t, &s);
        expected = 0.75 * expected + 0.25;
        cats_sel_path_get(sel, path, &info);
        assert_float_equal(info.ecn_alpha, expected, EPS);
    }
    assert_float_equal(expected, 1 - pow(0.75, 4), EPS);

    /* Two periods at once: g = 1 - 0.75^2, toward F = 0.5. */
    t += 200;
    s.tx += 1000;
    s.marked += 500;
    path_ok(sel, path, 7, t, &s);
    expected += (1 - 0.75 * 0.75) * (0.5 - expected);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.ecn_alpha, expected, EPS);

    /* No packets sent: F = 0, the path recovers. */
    t += 100;
    path_ok(sel, path, 7, t, &s);
    expected *= 0.75;
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.ecn_alpha, expected, EPS);

    /* A second sample at the same time moves nothing. */
    s.tx += 1000;
    s.marked += 1000;
    path_ok(sel, path, 7, t, &s);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.ecn_alpha, expected, EPS);
    cats_sel_destroy(sel);
}

/* A new epoch, or a counter that goes down, starts the counters over: no
 * delta from that sample, the EWMAs keep their values. */
static void
test_counter_reset(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    size_t path = cats_sel_path_add(sel, "wan", 1.0);
    struct cats_sel_path_info info;
    struct sample s = { .tx = 5000, .marked = 0, .rtt_us = -1 };

    path_ok(sel, path, 1, 0, &s);
    s.tx = 6000;
    s.marked = 1000;                    /* F = 1. */
    path_ok(sel, path, 1, 100, &s);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.ecn_alpha, 0.25, EPS);
    assert_int_equal(info.n_resets, 0);

    /* Agent restart: new epoch, small counters.  Taken as a huge delta it
     * would be garbage; it is a new baseline instead. */
    s.tx = 10;
    s.marked = 0;
    path_ok(sel, path, 2, 200, &s);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.ecn_alpha, 0.25, EPS);
    assert_int_equal(info.n_resets, 1);

    /* Deltas resume from the new baseline: 100 packets, none marked. */
    s.tx = 110;
    path_ok(sel, path, 2, 300, &s);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.ecn_alpha, 0.25 * 0.75, EPS);

    /* Same epoch, but a counter went down (a link reset the source did
     * not announce): a reset too. */
    s.tx = 50;
    path_ok(sel, path, 2, 400, &s);
    cats_sel_path_get(sel, path, &info);
    assert_float_equal(info.ecn_alpha, 0.25 * 0.75, EPS);
    assert_int_equal(info.n_resets, 2);

    /* Pause time that goes down is a reset as well. */
    s.pause_us = 1000;
    path_ok(sel, path, 2, 500, &s);
    s.pause_us = 10;
    path_ok(sel, path, 2, 600, &s);
    cats_sel_path_get(sel, path, &info);
    assert_int_equal(info.n_resets, 3);
    cats_sel_destroy(sel);
}

/* Policies and targets. */

/* Equally good instances share in proportion to their rate C / T. */
static void
test_split_by_rate(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 3, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    size_t pb = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);

    /* No reports: load 0, default service time, rate = C / 10. */
    assert_true(cats_sel_reweight(svc, 0));
    assert_float_equal(explain(svc, pa).target, 0.25, EPS);
    assert_float_equal(explain(svc, pb).target, 0.75, EPS);
    assert_true(explain(svc, pa).no_report);
    assert_float_equal(weight_share(svc, pa), 0.25, 1e-4);
    assert_int_equal(cats_sel_weight(svc, pb), 32768);   /* Largest: half
                                                          * of 65535. */

    /* Same C, service times 10 and 20, idle: costs 10 and 20, rates 1/10
     * and 1/20 per slot.  k = 1: targets 1/10 * 1 : 1/20 * 1/2 = 4 : 1. */
    struct cats_selector *sel2 = new_selector(false);
    struct cats_sel_service *svc2 = cats_sel_service_add(
        sel2, "web", CATS_SEL_MIN_LATENCY);
    a = cats_sel_instance_add(svc2, "fast", 2, 100);
    b = cats_sel_instance_add(svc2, "slow", 2, 100);
    pa = cats_sel_pair_add(svc2, a, CATS_SEL_LOCAL);
    pb = cats_sel_pair_add(svc2, b, CATS_SEL_LOCAL);
    report(svc2, a, 0, 0, 0, 10);
    report(svc2, b, 0, 0, 0, 20);
    cats_sel_reweight(svc2, 0);
    assert_float_equal(explain(svc2, pa).target, 0.8, EPS);
    assert_float_equal(explain(svc2, pb).target, 0.2, EPS);

    /* k = 2 sharpens: 1/10 : 1/20 * 1/4 = 8 : 1. */
    struct cats_sel_config cfg;
    undamped_config(&cfg);
    cfg.sharpness = 2;
    struct cats_selector *sel3 = cats_sel_create(&cfg);
    struct cats_sel_service *svc3 = cats_sel_service_add(
        sel3, "web", CATS_SEL_MIN_LATENCY);
    a = cats_sel_instance_add(svc3, "fast", 2, 100);
    b = cats_sel_instance_add(svc3, "slow", 2, 100);
    pa = cats_sel_pair_add(svc3, a, CATS_SEL_LOCAL);
    cats_sel_pair_add(svc3, b, CATS_SEL_LOCAL);
    report(svc3, a, 0, 0, 0, 10);
    report(svc3, b, 0, 0, 0, 20);
    cats_sel_reweight(svc3, 0);
    assert_float_equal(explain(svc3, pa).target, 8.0 / 9.0, EPS);

    cats_sel_destroy(sel);
    cats_sel_destroy(sel2);
    cats_sel_destroy(sel3);
}

/* An instance with two paths: its share is that of its best path, split
 * over its paths by score. */
static void
test_split_over_paths(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    size_t p1 = cats_sel_path_add(sel, "near", 0);
    size_t p2 = cats_sel_path_add(sel, "far", 10);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 1, 100);
    size_t a1 = cats_sel_pair_add(svc, a, p1);
    size_t a2 = cats_sel_pair_add(svc, a, p2);
    size_t b1 = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);

    report(svc, a, 0, 0, 0, 10);
    report(svc, b, 0, 0, 0, 10);
    cats_sel_reweight(svc, 0);

    /* Costs 10, 20, 10; scores 1, 1/2, 1.  Instance a: 1 * (1, 1/2) /
     * 1.5; b: 1.  Total 2. */
    assert_float_equal(explain(svc, a1).cost, 10, EPS);
    assert_float_equal(explain(svc, a2).cost, 20, EPS);
    assert_float_equal(explain(svc, a1).target, (1 / 1.5) / 2, EPS);
    assert_float_equal(explain(svc, a2).target, (0.5 / 1.5) / 2, EPS);
    assert_float_equal(explain(svc, b1).target, 0.5, EPS);
    cats_sel_destroy(sel);
}

static void
test_policy_least_loaded(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    size_t far = cats_sel_path_add(sel, "far", 100);
    struct cats_sel_service *svc = cats_sel_service_add(
        sel, "web", CATS_SEL_LEAST_LOADED);
    size_t a = cats_sel_instance_add(svc, "a", 2, 100);
    size_t b = cats_sel_instance_add(svc, "b", 2, 100);
    size_t pa = cats_sel_pair_add(svc, a, far);
    size_t pb = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);

    /* Service times and the 100 ms path are ignored: costs 1 + 0 and
     * 1 + 1, rates C: 2 * 1 : 2 * 1/2. */
    report(svc, a, 0, 0, 0, 50);
    report(svc, b, 0, 1, 1, 1);
    cats_sel_reweight(svc, 0);
    assert_float_equal(explain(svc, pa).cost, 1.0, EPS);
    assert_float_equal(explain(svc, pb).cost, 2.0, EPS);
    assert_float_equal(explain(svc, pa).target, 2.0 / 3.0, EPS);
    assert_string_equal(cats_sel_policy_name(cats_sel_service_policy(svc)),
                        "least-loaded");
    cats_sel_destroy(sel);
}

static void
test_policy_static(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    size_t p1 = cats_sel_path_add(sel, "p1", 1);
    size_t p2 = cats_sel_path_add(sel, "p2", 50);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_STATIC);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 1, 300);
    size_t a1 = cats_sel_pair_add(svc, a, p1);
    size_t a2 = cats_sel_pair_add(svc, a, p2);
    size_t b1 = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    enum cats_sel_policy policy;

    /* Loads do not matter; even split over a's paths, no damping. */
    report(svc, a, 0, 50, 50, 10);
    cats_sel_reweight(svc, 0);
    assert_float_equal(explain(svc, a1).target, 0.125, EPS);
    assert_float_equal(explain(svc, a2).target, 0.125, EPS);
    assert_float_equal(explain(svc, b1).target, 0.75, EPS);
    cats_sel_service_set_policy(svc, CATS_SEL_MIN_LATENCY);
    cats_sel_service_set_policy(svc, CATS_SEL_STATIC);
    cats_sel_reweight(svc, 100);
    assert_float_equal(weight_share(svc, b1), 0.75, 1e-4);

    assert_true(cats_sel_policy_from_string("static", &policy));
    assert_int_equal(policy, CATS_SEL_STATIC);
    assert_true(cats_sel_policy_from_string("min-latency", &policy));
    assert_int_equal(policy, CATS_SEL_MIN_LATENCY);
    assert_false(cats_sel_policy_from_string("fastest", &policy));
    cats_sel_destroy(sel);
}

/* Hot/cold: the worst loaded instance gets hot_factor of its target. */
static void
test_hot(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    undamped_config(&cfg);
    cfg.hot_factor = 0.5;
    cfg.hot_quantile = 0.9;
    cfg.hot_min_load = 2.0;
    cfg.cut_ratio = 100;
    cfg.readmit_ratio = 50;
    struct cats_selector *sel = cats_sel_create(&cfg);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t n = 20;

    for (size_t i = 0; i < n; i++) {
        char name[16];

        snprintf(name, sizeof name, "i%"PRIuSIZE, i);
        cats_sel_instance_add(svc, name, 1, 100);
        cats_sel_pair_add(svc, i, CATS_SEL_LOCAL);
        report(svc, i, 0, 0, 0, 10);
    }
    /* Instances 18 and 19 at load 3 and 5: the 0.9 quantile of 20 loads
     * (rank 17 of 0..19) is 0, so the threshold is hot_min_load 2. */
    report(svc, 18, 0, 1, 2, 10);
    report(svc, 19, 0, 1, 4, 10);
    cats_sel_reweight(svc, 0);

    struct cats_sel_explain e18 = explain(svc, 18);
    struct cats_sel_explain e0 = explain(svc, 0);
    assert_true(e18.hot);
    assert_false(e0.hot);
    /* Scores: 1 for the idle ones, 1/4 and 1/6 for the hot ones, halved:
     * weights 1 (x18), 1/8, 1/12. */
    double total = 18 + 1.0 / 8 + 1.0 / 12;
    assert_float_equal(e18.target, (1.0 / 8) / total, EPS);
    assert_float_equal(e0.target, 1.0 / total, EPS);

    struct cats_sel_stats st;
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_hot, 2);

    /* Everyone equally hot: nobody is cut for it. */
    for (size_t i = 0; i < n; i++) {
        report(svc, i, 100, 1, 4, 10);
    }
    cats_sel_reweight(svc, 100);
    assert_false(explain(svc, 0).hot);
    assert_float_equal(explain(svc, 0).target, 1.0 / n, EPS);
    cats_sel_destroy(sel);
}

/* Cut-off with hysteresis: out above 4x the best, back only below 3x. */
static void
test_cut_hysteresis(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 1, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    size_t pb = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    long long t = 0;

    /* Costs 10 and 10 * (1 + load) with T = 10. */
    static const struct {
        double load;            /* b's (R + Q) / C. */
        enum cats_sel_reason reason;
    } steps[] = {
        { 2.9, CATS_SEL_OK },       /* 3.9x */
        { 3.0, CATS_SEL_OK },       /* 4.0x: not above 4 */
        { 3.1, CATS_SEL_CUT },      /* 4.1x: out */
        { 2.5, CATS_SEL_CUT },      /* 3.5x: still out */
        { 2.0, CATS_SEL_CUT },      /* 3.0x: not below 3 */
        { 1.9, CATS_SEL_OK },       /* 2.9x: back */
        { 2.5, CATS_SEL_OK },       /* 3.5x: stays in */
    };
    report(svc, a, t, 0, 0, 10);
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++, t += 100) {
        report(svc, b, t, 0, steps[i].load, 10);
        cats_sel_reweight(svc, t);
        struct cats_sel_explain e = explain(svc, pb);
        if (e.reason != steps[i].reason) {
            fail_msg("step %"PRIuSIZE" (load %.1f): %s, expected %s", i,
                     steps[i].load, cats_sel_reason_name(e.reason),
                     cats_sel_reason_name(steps[i].reason));
        }
        if (e.reason == CATS_SEL_CUT) {
            assert_float_equal(e.target, 0, EPS);
            assert_int_equal(cats_sel_weight(svc, pb), 0);  /* Undamped. */
            assert_float_equal(weight_share(svc, pa), 1.0, EPS);
        }
    }
    cats_sel_destroy(sel);
}

/* Leaving selection is immediate, damping or not; the others take over
 * at once. */
static void
test_unhealthy_leaves_at_once(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 1, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    size_t pb = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);

    cats_sel_reweight(svc, 0);
    assert_float_equal(weight_share(svc, pa), 0.5, 1e-4);

    cats_sel_instance_set_selectable(svc, a, false);
    assert_true(cats_sel_reweight(svc, 1));
    assert_int_equal(cats_sel_weight(svc, pa), 0);
    assert_true(cats_sel_weight(svc, pb) > 0);
    assert_int_equal(explain(svc, pa).reason, CATS_SEL_UNHEALTHY);

    /* A report saying "not selectable" does the same; with nobody left,
     * nothing is picked. */
    struct cats_sel_instance_report rep = { .time = 2, .selectable = false };
    assert_int_equal(cats_sel_instance_report(svc, b, &rep), 0);
    cats_sel_reweight(svc, 2);
    assert_int_equal(cats_sel_weight(svc, pb), 0);
    assert_int_equal(cats_sel_pick(svc, 12345), SIZE_MAX);

    /* Coming back is damped: a enters at a * target, a = 1 - e^-0.1. */
    cats_sel_instance_set_selectable(svc, a, true);
    cats_sel_instance_set_selectable(svc, b, true);
    cats_sel_reweight(svc, 102);
    struct cats_sel_explain e = explain(svc, pa);
    assert_int_equal(e.reason, CATS_SEL_OK);
    assert_float_equal(e.share, 0.5, EPS);      /* Both enter alike. */
    cats_sel_destroy(sel);
}

/* Damping: a closed loop.  Two instances of capacity 4 and T = 10 ms,
 * offered 0.6 of their total capacity; the load each reports is what the
 * share it had one interval earlier made of it (the reports are stale by
 * one reweight): utilization u = offered * share * 2 + background, and
 * (R + Q) / C = u / (1 - u) (an M/M/1-like curve, capped).  At step 30 a
 * tenant takes 40% of a's capacity.  Returns the number of sign changes
 * of a's published weight's delta after the step, and stores a's final
 * share. */
static int
step_response(const struct cats_sel_config *cfg, double *final_share)
{
    struct cats_selector *sel = cats_sel_create(cfg);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 4, 100);
    size_t b = cats_sel_instance_add(svc, "b", 4, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    double share[2] = { 0.5, 0.5 };
    int last_sign = 0, sign_changes = 0;
    uint16_t last_w = 0;

    cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    for (int step = 0; step < 200; step++) {
        long long now = step * 100LL;
        double bg[2] = { step >= 30 ? 0.4 : 0, 0 };

        for (int i = 0; i < 2; i++) {
            double u = MIN(0.6 * share[i] * 2 + bg[i], 0.99);
            double load = u / (1 - u);

            report(svc, i, now, MIN(load, 1.0) * 4,
                   MAX(load - 1.0, 0) * 4, 10);
        }
        cats_sel_reweight(svc, now);
        share[0] = weight_share(svc, 0);
        share[1] = weight_share(svc, 1);

        uint16_t w = cats_sel_weight(svc, pa);
        if (step > 30 && w != last_w) {
            int sign = w > last_w ? 1 : -1;

            if (last_sign && sign != last_sign) {
                sign_changes++;
            }
            last_sign = sign;
        }
        last_w = w;
    }
    *final_share = share[0];
    cats_sel_destroy(sel);
    return sign_changes;
}

static void
test_damping_step_response(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    double final;

    /* Damped: a's weight goes down after the step and settles, with at
     * most one reversal. */
    test_config(&cfg);
    int changes = step_response(&cfg, &final);
    if (changes > 1) {
        fail_msg("damped: %d sign changes of the weight delta", changes);
    }
    assert_true(final < 0.45 && final > 0.2);

    /* The same loop without any damping, and a sharper cost, oscillates:
     * this is what the damping is for (and the check above can fail). */
    undamped_config(&cfg);
    cfg.sharpness = 4;
    changes = step_response(&cfg, &final);
    if (changes < 10) {
        fail_msg("undamped: only %d sign changes", changes);
    }
}

/* Deadband: small moves publish nothing; flips count reversals. */
static void
test_deadband_and_flips(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    undamped_config(&cfg);
    cfg.deadband = 0.12;
    struct cats_selector *sel = cats_sel_create(&cfg);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 1, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    struct cats_sel_stats st;

    cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    report(svc, a, 0, 0, 0, 10);
    report(svc, b, 0, 0, 0, 10);
    cats_sel_reweight(svc, 0);
    uint16_t w0 = cats_sel_weight(svc, pa);
    cats_sel_get_stats(svc, &st);
    uint64_t changes0 = st.n_changes;

    /* b at load 0.1: a's share 1 / (1 + 1/1.1) = 0.524, +4.8%: inside
     * the deadband. */
    report(svc, b, 100, 0.1, 0, 10);
    assert_false(cats_sel_reweight(svc, 100));
    assert_int_equal(cats_sel_weight(svc, pa), w0);
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_changes, changes0);

    /* b at load 0.5: a's share 0.6, +20%: published, halfway (0.55). */
    report(svc, b, 200, 0.5, 0, 10);
    assert_true(cats_sel_reweight(svc, 200));
    assert_true(cats_sel_weight(svc, pa) > w0);
    assert_float_equal(weight_share(svc, pa), 0.55, 1e-4);
    assert_float_equal(explain(svc, pa).published, 0.55, EPS);
    assert_float_equal(explain(svc, pa).share, 0.6, EPS);
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_changes, changes0 + 2);
    assert_int_equal(st.n_flips, 0);

    /* Again: 0.55 -> 0.6 is +9% (and b's 0.45 -> 0.4 is -11%), inside the
     * deadband: it stays there. */
    assert_false(cats_sel_reweight(svc, 250));
    assert_float_equal(explain(svc, pa).published, 0.55, EPS);

    /* And the other way: a at load 0.5, b idle: a's share 0.4, -27%:
     * both pairs reverse. */
    report(svc, a, 300, 0.5, 0, 10);
    report(svc, b, 300, 0, 0, 10);
    cats_sel_reweight(svc, 300);
    assert_float_equal(explain(svc, pa).published, 0.475, EPS);
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_flips, 2);
    cats_sel_destroy(sel);
}

/* The damped EWMA and the step limit, by hand: tau 1000 ms, reweights
 * 100 ms apart, a = 1 - e^-0.1. */
static void
test_damping_by_hand(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    test_config(&cfg);
    cfg.deadband = 0;
    cfg.hot_factor = 1;
    cfg.stale_factor = 0;
    struct cats_selector *sel = cats_sel_create(&cfg);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 1, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    double x = 1 - exp(-0.1);

    cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    report(svc, a, 0, 0, 0, 10);
    report(svc, b, 0, 0, 0, 10);
    cats_sel_reweight(svc, 0);                  /* First: immediate. */
    assert_float_equal(explain(svc, pa).share, 0.5, EPS);

    /* b at load 1: targets 2/3, 1/3.  Both EWMA steps sum to 1. */
    report(svc, b, 100, 1, 0, 10);
    cats_sel_reweight(svc, 100);
    double s = 0.5 + x * (2.0 / 3 - 0.5);
    assert_float_equal(explain(svc, pa).target, 2.0 / 3, EPS);
    assert_float_equal(explain(svc, pa).share, s, EPS);

    /* With tau far longer than the gap, max_step does not bind; with a
     * tiny max_step it does: a can rise at most 1% per reweight (before
     * renormalization). */
    cfg.max_step = 0.01;
    cfg.tau_ms = 1;
    struct cats_selector *sel2 = cats_sel_create(&cfg);
    struct cats_sel_service *svc2 = cats_sel_service_add(
        sel2, "web", CATS_SEL_MIN_LATENCY);
    a = cats_sel_instance_add(svc2, "a", 1, 100);
    b = cats_sel_instance_add(svc2, "b", 1, 100);
    pa = cats_sel_pair_add(svc2, a, CATS_SEL_LOCAL);
    cats_sel_pair_add(svc2, b, CATS_SEL_LOCAL);
    report(svc2, a, 0, 0, 0, 10);
    report(svc2, b, 0, 0, 0, 10);
    cats_sel_reweight(svc2, 0);
    report(svc2, b, 100, 1, 0, 10);
    cats_sel_reweight(svc2, 100);
    /* a: 0.5 * 1.01, b: 0.5 / 1.01, renormalized. */
    double ra = 0.505, rb = 0.5 / 1.01;
    assert_float_equal(explain(svc2, pa).share, ra / (ra + rb), EPS);

    cats_sel_destroy(sel);
    cats_sel_destroy(sel2);
}

/* Older information, slower moves: tau is at least stale_factor times the
 * mean report interval. */
static void
test_damping_follows_staleness(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    struct cats_sel_stats st;

    cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    report(svc, a, 0, 0, 0, 10);
    cats_sel_reweight(svc, 0);
    report(svc, a, 2000, 0, 0, 10);             /* Every 2 s. */
    cats_sel_reweight(svc, 2000);
    cats_sel_get_stats(svc, &st);
    assert_float_equal(st.tau_ms, 4000, EPS);
    report(svc, a, 2250, 0, 0, 10);             /* Every 250 ms. */
    cats_sel_reweight(svc, 2300);
    cats_sel_get_stats(svc, &st);
    assert_float_equal(st.tau_ms, 1000, EPS);   /* tau_ms wins. */
    cats_sel_destroy(sel);
}

/* Service time learned from latency; low samples ignored under queue. */
static void
test_service_time_learning(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 2, 100);
    size_t p = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    struct cats_sel_instance_report r = {
        .selectable = true, .has_in_flight = true, .has_queue = true,
        .has_latency = true,
    };

    /* First: halfway from the default 10 to L = 30 over 1 + Q / C = 1.5:
     * T = 10 + (20 - 10) / 2 = 15. */
    r.time = 0;
    r.in_flight = 2;
    r.queue = 1;
    r.latency_ms = 30;
    assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
    cats_sel_reweight(svc, 0);
    assert_float_equal(explain(svc, p).service_ms, 15, EPS);

    /* Under a queue (Q / C = 5) a lower sample (60 / 6 = 10) is ignored:
     * latencies lag a growing queue. */
    r.time = 1000;
    r.queue = 10;
    r.latency_ms = 60;
    assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
    cats_sel_reweight(svc, 1000);
    assert_float_equal(explain(svc, p).service_ms, 15, EPS);

    /* A higher one is taken, smoothed over 5 s: 1 s later, g =
     * 1 - e^-0.2, toward 240 / 6 = 40. */
    r.time = 2000;
    r.latency_ms = 240;
    assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
    cats_sel_reweight(svc, 2000);
    double t = 15 + (1 - exp(-0.2)) * 25;
    assert_float_equal(explain(svc, p).service_ms, t, EPS);

    /* Without a queue a lower one is taken too. */
    r.time = 3000;
    r.queue = 0;
    r.latency_ms = 10;
    assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
    cats_sel_reweight(svc, 3000);
    t += (1 - exp(-0.2)) * (10 - t);
    assert_float_equal(explain(svc, p).service_ms, t, EPS);

    /* A reported service time overrides the learned one. */
    report(svc, a, 4000, 0, 0, 7);
    cats_sel_reweight(svc, 4000);
    assert_float_equal(explain(svc, p).service_ms, 7, EPS);
    cats_sel_destroy(sel);
}

/* A slow instance that gets nothing and reports nothing to learn from
 * (idle, no latency) relaxes toward the default service time, so that it
 * is tried again; a fast one is left alone. */
static void
test_idle_slow_instance_recovers(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 4, 100);
    size_t b = cats_sel_instance_add(svc, "b", 4, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    size_t pb = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    struct cats_sel_instance_report r = {
        .selectable = true, .has_in_flight = true, .has_queue = true,
        .has_latency = true,
    };
    long long now;

    /* a learns a service time of 200 ms (20 times b's 10 ms): cut. */
    for (now = 0; now <= 20000; now += 500) {
        r.time = now;
        r.latency_ms = 200;
        assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
        r.latency_ms = 5;
        assert_int_equal(cats_sel_instance_report(svc, b, &r), 0);
        cats_sel_reweight(svc, now);
    }
    assert_true(explain(svc, pa).service_ms > 150);
    assert_float_equal(weight_share(svc, pa), 0, EPS);
    double tb = explain(svc, pb).service_ms;
    assert_true(tb < 10);

    /* Now both idle and silent (no requests, so no latency). */
    r.has_latency = false;
    for (; now <= 60000; now += 500) {
        r.time = now;
        assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
        assert_int_equal(cats_sel_instance_report(svc, b, &r), 0);
        cats_sel_reweight(svc, now);
    }
    /* 40 s = 8 time constants: back near the default, in selection. */
    assert_true(explain(svc, pa).service_ms < 12);
    assert_true(weight_share(svc, pa) > 0.2);
    /* b was faster than the default: unchanged. */
    assert_float_equal(explain(svc, pb).service_ms, tb, EPS);
    cats_sel_destroy(sel);
}

/* The PFC storm watchdog. */

struct storm_fixture {
    struct cats_selector *sel;
    struct cats_sel_service *svc;
    size_t path, other;
    size_t pair, other_pair;
    struct sample s;
};

static struct storm_fixture *
storm_setup(void)
{
    struct storm_fixture *f = xzalloc(sizeof *f);

    f->sel = new_selector(true);
    f->path = cats_sel_path_add(f->sel, "wan-a", 4);
    f->other = cats_sel_path_add(f->sel, "wan-b", 4);
    f->svc = cats_sel_service_add(f->sel, "web", CATS_SEL_MIN_LATENCY);
    cats_sel_instance_add(f->svc, "r1", 4, 100);
    f->pair = cats_sel_pair_add(f->svc, 0, f->path);
    f->other_pair = cats_sel_pair_add(f->svc, 0, f->other);
    f->s.rtt_us = -1;
    path_ok(f->sel, f->path, 1, 0, &f->s);
    cats_sel_reweight(f->svc, 0);
    return f;
}

static void
storm_teardown(struct storm_fixture *f)
{
    cats_sel_destroy(f->sel);
    free(f);
}

/* A sample at 'now' with the priority paused for 'paused_ms' so far (the
 * pause time counter following along). */
static void
storm_sample(struct storm_fixture *f, long long now, long long paused_ms)
{
    f->s.paused_for_us = paused_ms * 1000;
    f->s.pause_us += paused_ms ? 1000 : 0;
    path_ok(f->sel, f->path, 1, now, &f->s);
    cats_sel_reweight(f->svc, now);
}

static bool
in_selection(struct storm_fixture *f)
{
    return !cats_sel_path_is_storm(f->sel, f->path)
           && explain(f->svc, f->pair).reason != CATS_SEL_STORM;
}

static void
test_watchdog_detection(void **state OVS_UNUSED)
{
    struct storm_fixture *f = storm_setup();

    storm_sample(f, 100, 99);
    assert_true(in_selection(f));
    storm_sample(f, 200, 199);                  /* 199 ms: still in. */
    assert_true(in_selection(f));
    assert_true(cats_sel_weight(f->svc, f->pair) > 0);
    storm_sample(f, 202, 201);                  /* 201 ms: out. */
    assert_false(in_selection(f));
    assert_int_equal(cats_sel_weight(f->svc, f->pair), 0);

    /* The instance keeps its share: its other path takes it at once. */
    assert_float_equal(weight_share(f->svc, f->other_pair), 1.0, EPS);

    struct cats_sel_path_info info;
    cats_sel_path_get(f->sel, f->path, &info);
    assert_int_equal(info.n_storms, 1);
    assert_int_equal(info.storm_since, 202);
    storm_teardown(f);

    /* Exactly the watchdog time is a storm (as the gateway's watchdog:
     * held for watchdog_ms). */
    f = storm_setup();
    storm_sample(f, 200, 200);
    assert_false(in_selection(f));
    storm_teardown(f);
}

static void
test_watchdog_restore(void **state OVS_UNUSED)
{
    struct storm_fixture *f = storm_setup();

    storm_sample(f, 300, 300);
    assert_false(in_selection(f));
    storm_sample(f, 400, 400);                  /* Still paused. */

    /* Clean from t = 500 on (the pause ended since the last sample: the
     * restore time starts at this sample). */
    f->s.pause_us += 1000;
    storm_sample(f, 500, 0);
    assert_false(in_selection(f));
    for (long long t = 600; t < 1500; t += 100) {
        storm_sample(f, t, 0);
        assert_false(in_selection(f));
    }
    storm_sample(f, 1499, 0);                   /* 999 ms clean. */
    assert_false(in_selection(f));
    storm_sample(f, 1500, 0);                   /* 1000 ms: back. */
    assert_true(in_selection(f));

    /* Back, damped: its pair re-enters with a fraction of its target. */
    struct cats_sel_explain e = explain(f->svc, f->pair);
    assert_true(e.share > 0 && e.share < e.target);
    storm_teardown(f);
}

static void
test_watchdog_pause_during_restore(void **state OVS_UNUSED)
{
    struct storm_fixture *f = storm_setup();

    storm_sample(f, 250, 250);
    storm_sample(f, 300, 0);                    /* Clean from 300. */
    storm_sample(f, 800, 0);
    assert_false(in_selection(f));

    /* A short pause at 900 (gauge up): the restore time starts over. */
    storm_sample(f, 900, 5);
    storm_sample(f, 1000, 0);                   /* Clean again from 1000
                                                 * (pause time accrued). */
    storm_sample(f, 1300, 0);                   /* 1000 ms after 300:
                                                 * would have been back. */
    assert_false(in_selection(f));
    storm_sample(f, 1999, 0);
    assert_false(in_selection(f));
    storm_sample(f, 2000, 0);
    assert_true(in_selection(f));
    storm_teardown(f);

    /* Pause time that accrued between two samples, with the gauge at 0 in
     * both, restarts it too. */
    f = storm_setup();
    storm_sample(f, 250, 250);
    storm_sample(f, 300, 0);
    f->s.pause_us += 5000;
    storm_sample(f, 700, 0);                    /* Restart at 700. */
    storm_sample(f, 1300, 0);
    assert_false(in_selection(f));
    storm_sample(f, 1700, 0);
    assert_true(in_selection(f));
    storm_teardown(f);
}

/* The source's own watchdog (cats-gw's, shorter than ours here) puts the
 * path in STORM on its first report, and holds it there while it says so,
 * pause or no pause; the restore time runs from the first report without
 * it. */
static void
test_watchdog_source_storm_flag(void **state OVS_UNUSED)
{
    struct storm_fixture *f = storm_setup();

    f->s.storm = true;
    storm_sample(f, 100, 100);                  /* Below our 200 ms. */
    assert_false(in_selection(f));
    assert_int_equal(cats_sel_weight(f->svc, f->pair), 0);
    storm_sample(f, 300, 0);                    /* Pause over, storm not. */
    storm_sample(f, 1400, 0);
    assert_false(in_selection(f));

    f->s.storm = false;
    storm_sample(f, 1500, 0);                   /* Clean from 1500. */
    storm_sample(f, 2499, 0);
    assert_false(in_selection(f));
    storm_sample(f, 2500, 0);
    assert_true(in_selection(f));
    storm_teardown(f);
}

/* Only counted priorities matter. */
static void
test_watchdog_priorities(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    test_config(&cfg);
    cfg.pfc_priorities = 1u << 5;               /* Not 3. */
    struct cats_selector *sel = cats_sel_create(&cfg);
    size_t path = cats_sel_path_add(sel, "wan", 1);
    struct sample s = { .rtt_us = -1, .paused_for_us = 500000,
                        .storm = true };

    path_ok(sel, path, 1, 0, &s);
    assert_false(cats_sel_path_is_storm(sel, path));
    cats_sel_destroy(sel);
}

/* Bad input. */

static void
test_bad_path_samples(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    size_t path = cats_sel_path_add(sel, "wan", 1);
    struct cats_sel_path_info info;
    static const double bad_rtt[] = { NAN, INFINITY, -1 };
    struct cats_report_link link = { .tx_packets = 100 };

    for (size_t i = 0; i < ARRAY_SIZE(bad_rtt); i++) {
        link.has_rtt = true;
        link.rtt_us = bad_rtt[i];
        assert_int_equal(cats_sel_path_report(sel, path, &link, 1, 100),
                         EINVAL);
    }
    link.has_rtt = false;
    link.n_pfc = 1;
    link.pfc[0].priority = 8;
    assert_int_equal(cats_sel_path_report(sel, path, &link, 1, 100), EINVAL);
    link.n_pfc = 2;
    link.pfc[0].priority = 2;
    link.pfc[1].priority = 2;
    assert_int_equal(cats_sel_path_report(sel, path, &link, 1, 100), EINVAL);
    link.n_pfc = 9;
    assert_int_equal(cats_sel_path_report(sel, path, &link, 1, 100), EINVAL);

    /* Nothing applied. */
    cats_sel_path_get(sel, path, &info);
    assert_int_equal(info.n_rejected, 6);
    assert_int_equal(info.n_samples, 0);
    assert_int_equal(info.last_sample, LLONG_MIN);
    assert_float_equal(info.net_ms, 1.0, EPS);

    /* Absurd values are clamped: an RTT of 11 days, a queue of 2^64
     * bytes on a 1 b/s link, a pause of 584 millennia. */
    struct sample s = {
        .rtt_us = 1e12, .has_queue = true, .queue_bytes = UINT64_MAX,
        .speed_bps = 1, .paused_for_us = UINT64_MAX,
    };
    path_ok(sel, path, 1, 100, &s);
    cats_sel_path_get(sel, path, &info);
    assert_true(isfinite(info.net_ms));
    assert_true(info.delay_ms >= CATS_SEL_MAX_MS);
    assert_true(info.delay_ms <= 3 * CATS_SEL_MAX_MS);
    assert_true(info.storm);

    /* Out of order. */
    assert_int_equal(path_sample(sel, path, 1, 99, &s), ESTALE);
    cats_sel_path_get(sel, path, &info);
    assert_int_equal(info.n_rejected, 7);
    assert_int_equal(info.last_sample, 100);
    cats_sel_destroy(sel);
}

static void
test_bad_instance_reports(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 0, 100);    /* C 0 -> 1. */
    size_t p = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    struct cats_sel_instance_report r = {
        .time = 0, .selectable = true, .has_in_flight = true,
        .in_flight = 1,
    };

    assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
    static const double bad[] = { NAN, INFINITY, -1, -INFINITY };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct cats_sel_instance_report b = r;

        b.in_flight = bad[i];
        assert_int_equal(cats_sel_instance_report(svc, a, &b), EINVAL);
        b = r;
        b.has_latency = true;
        b.latency_ms = bad[i];
        assert_int_equal(cats_sel_instance_report(svc, a, &b), EINVAL);
        b = r;
        b.has_service = true;
        b.service_ms = bad[i];
        b.selectable = false;
        assert_int_equal(cats_sel_instance_report(svc, a, &b), EINVAL);
    }
    /* Nothing changed: still the first report, still selectable. */
    cats_sel_reweight(svc, 0);
    struct cats_sel_explain e = explain(svc, p);
    assert_float_equal(e.load, 1.0, EPS);
    assert_int_equal(e.reason, CATS_SEL_OK);

    /* Absent values are not looked at, NaN or not. */
    r.has_queue = false;
    r.queue = NAN;
    assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);

    /* Absurd values are clamped: in flight to 1e7, service time up to
     * 1 us. */
    r.in_flight = 1e300;
    r.has_service = true;
    r.service_ms = 0;
    assert_int_equal(cats_sel_instance_report(svc, a, &r), 0);
    cats_sel_reweight(svc, 1);
    e = explain(svc, p);
    assert_float_equal(e.load, CATS_SEL_MAX_COUNT, EPS);
    assert_float_equal(e.service_ms, CATS_SEL_MIN_SERVICE_MS, EPS);
    assert_true(isfinite(e.cost));
    assert_true(cats_sel_weight(svc, p) > 0);
    cats_sel_destroy(sel);
}

static void
test_bad_config(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;

    cats_sel_config_init(&cfg);
    cfg.sharpness = NAN;
    cfg.cut_ratio = 0.5;
    cfg.readmit_ratio = 100;
    cfg.hot_factor = -1;
    cfg.ecn_g = 2;
    cfg.watchdog_ms = 0;
    struct cats_selector *sel = cats_sel_create(&cfg);
    const struct cats_sel_config *c = cats_sel_get_config(sel);

    assert_float_equal(c->sharpness, CATS_SEL_SHARPNESS, EPS);
    assert_float_equal(c->cut_ratio, CATS_SEL_CUT_RATIO, EPS);
    assert_float_equal(c->readmit_ratio, CATS_SEL_CUT_RATIO, EPS);
    assert_float_equal(c->hot_factor, CATS_SEL_HOT_FACTOR, EPS);
    assert_float_equal(c->ecn_g, CATS_SEL_ECN_G, EPS);
    assert_int_equal(c->watchdog_ms, 1);
    cats_sel_destroy(sel);

    /* NULL: the defaults. */
    sel = cats_sel_create(NULL);
    assert_int_equal(cats_sel_get_config(sel)->watchdog_ms,
                     CATS_SEL_WATCHDOG_MS);
    assert_int_equal(cats_sel_get_config(sel)->restore_ms,
                     CATS_SEL_RESTORE_MS);
    cats_sel_destroy(sel);
    cats_sel_destroy(NULL);
}

/* Picking and explaining. */

static void
test_pick(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 3, 100);
    size_t n[2] = { 0, 0 };

    assert_int_equal(cats_sel_pick(svc, 0), SIZE_MAX);     /* No weights. */
    cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    cats_sel_reweight(svc, 0);

    /* Weights w0 : w1 = 1 : 3: the first quarter of the hash space goes
     * to pair 0. */
    uint16_t w0 = cats_sel_weight(svc, 0), w1 = cats_sel_weight(svc, 1);
    assert_int_equal(w1, 32768);
    uint64_t edge = ((uint64_t) w0 << 32) / (w0 + w1);
    assert_int_equal(cats_sel_pick(svc, 0), 0);
    assert_int_equal(cats_sel_pick(svc, edge - 1), 0);
    assert_int_equal(cats_sel_pick(svc, edge + 1), 1);
    assert_int_equal(cats_sel_pick(svc, UINT32_MAX), 1);

    for (uint64_t h = 0; h < (UINT64_C(1) << 32); h += 65537) {
        n[cats_sel_pick(svc, h)]++;
    }
    assert_float_equal((double) n[0] / (n[0] + n[1]), 0.25, 0.001);
    cats_sel_destroy(sel);
}

static void
test_explain_format(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    size_t path = cats_sel_path_add(sel, "wan-a", 4);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    struct ds out = DS_EMPTY_INITIALIZER;
    struct sample s = { .rtt_us = -1, .paused_for_us = 300000 };

    cats_sel_instance_add(svc, "good", 4, 100);
    cats_sel_instance_add(svc, "far", 4, 100);
    cats_sel_instance_add(svc, "busy", 1, 100);
    cats_sel_instance_add(svc, "down", 4, 100);
    cats_sel_pair_add(svc, 0, CATS_SEL_LOCAL);
    cats_sel_pair_add(svc, 1, path);
    cats_sel_pair_add(svc, 2, CATS_SEL_LOCAL);
    cats_sel_pair_add(svc, 3, CATS_SEL_LOCAL);
    report(svc, 0, 0, 0, 0, 10);
    report(svc, 1, 0, 0, 0, 10);
    report(svc, 2, 0, 1, 9, 10);                /* Cost 110: cut. */
    cats_sel_instance_set_selectable(svc, 3, false);
    path_ok(sel, path, 1, 0, &s);               /* Storm. */
    cats_sel_reweight(svc, 10);

    assert_ptr_equal(cats_sel_service_find(sel, "web"), svc);
    assert_null(cats_sel_service_find(sel, "nope"));
    assert_string_equal(cats_sel_service_name(svc), "web");

    cats_sel_explain_format(svc, 0, &out);
    const char *text = ds_cstr(&out);
    assert_non_null(strstr(text, "service web: policy=min-latency pairs=4"
                           " eligible=2 cut=1"));
    assert_non_null(strstr(text, "  good via local: weight=32768"
                           " share=100.0000%"));
    assert_non_null(strstr(text, "far via wan-a: weight=0"));
    assert_non_null(strstr(text, " storm"));
    assert_non_null(strstr(text, "busy via local: weight=0"));
    assert_non_null(strstr(text, "load=10.000 age=10ms cut"));
    assert_non_null(strstr(text, "down via local: weight=0"));
    assert_non_null(strstr(text, "unhealthy no-report"));
    /* Highest weight first. */
    assert_true(strstr(text, "good via") < strstr(text, "far via"));

    ds_clear(&out);
    cats_sel_explain_format(svc, 1, &out);
    assert_non_null(strstr(ds_cstr(&out), "(3 more: ok 0, unhealthy 1,"
                           " storm 1, cut 1)"));

    ds_clear(&out);
    cats_sel_paths_format(sel, &out);
    assert_non_null(strstr(ds_cstr(&out), "path wan-a: STORM"));
    ds_destroy(&out);

    struct cats_sel_explain *e;
    size_t n = cats_sel_explain(svc, &e);
    assert_int_equal(n, 4);
    assert_int_equal(e[1].reason, CATS_SEL_STORM);
    assert_int_equal(e[2].reason, CATS_SEL_CUT);
    assert_int_equal(e[3].reason, CATS_SEL_UNHEALTHY);
    assert_float_equal(e[2].cost, 110, EPS);
    assert_int_equal(e[0].report_age_ms, 10);
    free(e);
    cats_sel_destroy(sel);
}

/* The rate model.  The queue model, as the header states it. */
static double
lq_k(double c)
{
    return sqrt(2 * (c + 1));
}

static double
lq_of(double c, double rho)
{
    return pow(rho, lq_k(c)) / (1 - rho);
}

static double
lq_marginal(double c, double rho)
{
    double k = lq_k(c);

    return pow(rho, k - 1) * (k - (k - 1) * rho) / ((1 - rho) * (1 - rho));
}

/* The occupancy R + Q of an instance of 'c' slots at utilization 'rho'. */
static double
occupancy(double c, double rho)
{
    return rho * c + lq_of(c, rho);
}

/* Reports an occupancy 'n' (as R = min(n, C), Q = the rest) with service
 * time 10. */
static void
report_occupancy(struct cats_sel_service *svc, size_t inst, long long time,
                 double c, double n)
{
    report(svc, inst, time, MIN(n, c), MAX(n - c, 0), 10);
}

static void
sent(struct cats_sel_service *svc, size_t inst, uint64_t n, long long now)
{
    cats_sel_instance_sent(svc, inst, n, now);
}

/* Counts: the first one of an instance is a baseline; a rate comes from
 * the next; one at the same time waits for the next; and counts that
 * stopped 10 s ago count no more. */
static void
test_rate_counts(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 4, 100);
    size_t b = cats_sel_instance_add(svc, "b", 4, 100);
    struct cats_sel_stats st;

    cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    sent(svc, a, 1000, 0);
    sent(svc, b, 1000, 0);
    cats_sel_reweight(svc, 0);
    cats_sel_get_stats(svc, &st);
    assert_float_equal(st.arrivals_per_s, 0, EPS);
    assert_float_equal(st.planned_per_s, 0, EPS);   /* Proportional. */
    assert_true(isnan(explain(svc, 0).utilization));

    /* 100 and 300 in 1 s. */
    sent(svc, a, 100, 1000);
    sent(svc, b, 300, 1000);
    cats_sel_reweight(svc, 1000);
    cats_sel_get_stats(svc, &st);
    assert_float_equal(st.arrivals_per_s, 400, 1e-6);
    assert_true(st.planned_per_s >= 400);
    assert_false(isnan(explain(svc, 0).utilization));

    /* 50 more at 1000 join the 0 at 2000: a's sample is 50 / s, smoothed
     * with g = 1 - e^-1; b's stays. */
    sent(svc, a, 50, 1000);
    sent(svc, a, 0, 2000);
    cats_sel_reweight(svc, 2000);
    cats_sel_get_stats(svc, &st);
    double g = 1 - exp(-1.0);
    assert_float_equal(st.arrivals_per_s, 100 + g * (50 - 100) + 300, 1e-6);

    /* b's last count is now more than 10 s old, a's is not. */
    cats_sel_reweight(svc, 11001);
    cats_sel_get_stats(svc, &st);
    assert_float_equal(st.arrivals_per_s, 100 + g * (50 - 100), 1e-6);
    cats_sel_reweight(svc, 12001);
    cats_sel_get_stats(svc, &st);
    assert_float_equal(st.arrivals_per_s, 0, EPS);
    assert_float_equal(st.planned_per_s, 0, EPS);
    cats_sel_destroy(sel);
}

/* Sets up an undamped service of instances of 'caps' slots (T = 10, idle,
 * no path) whose new connections are counted at 'per_s' in all, split as
 * the published weights split them. */
static struct cats_sel_service *
rate_service(struct cats_selector *sel, const double *caps, size_t n,
             double per_s)
{
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);

    for (size_t i = 0; i < n; i++) {
        char name[16];

        snprintf(name, sizeof name, "i%"PRIuSIZE, i);
        cats_sel_instance_add(svc, name, caps[i], 100);
        cats_sel_pair_add(svc, i, CATS_SEL_LOCAL);
        report_occupancy(svc, i, 0, caps[i], 0);
        sent(svc, i, 0, 0);
    }
    for (size_t i = 0; i < n; i++) {
        sent(svc, i, per_s / n, 1000);
    }
    cats_sel_reweight(svc, 1000);
    return svc;
}

/* The plan by hand: instances of 8 and 2 slots, T = 10, idle, 0.5
 * connections per ms.  Every instance used has the same marginal cost T +
 * T / C Lq'(rho), the rates add up to lambda, and the big instance is
 * loaded harder than a split by capacity would (0.8 of the connections). */
static void
test_rate_plan_by_hand(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    undamped_config(&cfg);
    cfg.min_plan_load = 0;
    struct cats_selector *sel = cats_sel_create(&cfg);
    const double caps[] = { 8, 2 };
    struct cats_sel_service *svc = rate_service(sel, caps, 2, 500);
    struct cats_sel_explain big = explain(svc, 0), small = explain(svc, 1);

    assert_float_equal(big.target + small.target, 1, EPS);
    assert_true(big.target > 0.8 && big.target < 0.95);
    /* rho = b + x T / C, with b = 0 and x = target * 0.5 / ms. */
    assert_float_equal(big.other_load, 0, EPS);
    assert_float_equal(big.utilization, big.target * 0.5 * 10 / 8, 1e-6);
    assert_float_equal(small.utilization, small.target * 0.5 * 10 / 2,
                       1e-6);
    assert_float_equal(10 + 10.0 / 8 * lq_marginal(8, big.utilization),
                       10 + 10.0 / 2 * lq_marginal(2, small.utilization),
                       1e-5);
    /* The cost is T plus the queue model's wait at the plan. */
    assert_float_equal(big.cost, 10 + lq_of(8, big.utilization)
                                      / (big.utilization * 8 / 10), 1e-6);
    assert_float_equal(weight_share(svc, 0), big.target, 1e-4);

    /* A slow instance (T = 40) next to a fast one of the same size, at a
     * low load: its marginal cost with no connections, 40, is above the
     * fast one's at the plan, so it gets none. */
    struct cats_selector *sel2 = cats_sel_create(&cfg);
    struct cats_sel_service *svc2 = cats_sel_service_add(
        sel2, "web", CATS_SEL_MIN_LATENCY);
    for (size_t i = 0; i < 2; i++) {
        cats_sel_instance_add(svc2, i ? "slow" : "fast", 4, 100);
        cats_sel_pair_add(svc2, i, CATS_SEL_LOCAL);
        report(svc2, i, 0, 0, 0, i ? 40 : 10);
        sent(svc2, i, 0, 0);
        sent(svc2, i, 50, 1000);
    }
    cats_sel_reweight(svc2, 1000);
    assert_float_equal(explain(svc2, 0).target, 1, EPS);
    assert_int_equal(explain(svc2, 1).reason, CATS_SEL_CUT);
    assert_int_equal(cats_sel_weight(svc2, 1), 0);

    cats_sel_destroy(sel);
    cats_sel_destroy(sel2);
}

/* Other load: the occupancy that our own connections explain is not
 * counted against an instance; the rest is. */
static void
test_rate_other_load(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    undamped_config(&cfg);
    cfg.occupancy_tau_ms = 0;           /* Each report as it comes. */
    struct cats_selector *sel = cats_sel_create(&cfg);
    const double caps[] = { 4, 4 };
    /* 0.4 per ms: 0.2 each, rho = 0.5. */
    struct cats_sel_service *svc = rate_service(sel, caps, 2, 400);

    assert_float_equal(explain(svc, 0).target, 0.5, EPS);
    assert_float_equal(explain(svc, 0).utilization, 0.5, 1e-6);

    /* Both report the occupancy of rho = 0.5: all of it ours. */
    report_occupancy(svc, 0, 1100, 4, occupancy(4, 0.5));
    report_occupancy(svc, 1, 1100, 4, occupancy(4, 0.5));
    sent(svc, 0, 200, 2000);
    sent(svc, 1, 200, 2000);
    cats_sel_reweight(svc, 1100);
    assert_float_equal(explain(svc, 0).other_load, 0, 1e-6);
    assert_float_equal(explain(svc, 1).other_load, 0, 1e-6);
    assert_float_equal(explain(svc, 0).target, 0.5, 1e-6);

    /* b reports the occupancy of rho = 0.8, with our 0.5 in it: 0.3 is
     * somebody else's, and b gets less. */
    report_occupancy(svc, 1, 1200, 4, occupancy(4, 0.8));
    cats_sel_reweight(svc, 1200);
    struct cats_sel_explain e = explain(svc, 1);
    assert_float_equal(e.other_load, 0.3, 1e-6);
    assert_true(e.target < 0.4);
    assert_float_equal(e.utilization, 0.3 + e.target * 0.4 * 10 / 4, 1e-6);
    cats_sel_destroy(sel);
}

/* Backlog: a queue beyond the stationary one takes the instance's share
 * down at once, and gives it back as it is predicted drained. */
static void
test_rate_backlog(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    undamped_config(&cfg);
    cfg.occupancy_tau_ms = 1000000000;  /* Reports hardly move b. */
    cfg.drain_ms = 500;
    struct cats_selector *sel = cats_sel_create(&cfg);
    const double caps[] = { 4, 4 };
    struct cats_sel_service *svc = rate_service(sel, caps, 2, 400);

    report_occupancy(svc, 0, 1100, 4, occupancy(4, 0.5));
    cats_sel_reweight(svc, 1100);
    assert_float_equal(explain(svc, 0).target, 0.5, 1e-6);

    /* 40 requests more than rho = 0.5 holds: they drain at (1 - 0.5) * 4
     * / 10 = 0.2 per ms, in 200 ms.  Now: 40 / (500 * 0.4) = 0.2 of
     * utilization to be rid of. */
    report_occupancy(svc, 0, 1200, 4, occupancy(4, 0.5) + 40);
    cats_sel_reweight(svc, 1200);
    assert_float_equal(explain(svc, 0).other_load, 0.2, 1e-6);
    assert_true(explain(svc, 0).target < 0.4);

    /* 100 ms later, half of it. */
    cats_sel_reweight(svc, 1300);
    assert_float_equal(explain(svc, 0).other_load, 0.1, 1e-6);

    /* Drained. */
    cats_sel_reweight(svc, 1400);
    assert_float_equal(explain(svc, 0).other_load, 0, 1e-6);
    assert_float_equal(explain(svc, 0).target, 0.5, 1e-6);
    cats_sel_destroy(sel);
}

/* The closed loop of test_damping_step_response in the rate model: two
 * instances of 4 slots and T = 10 ms, offered 0.6 of their capacity and
 * counted; each reports the occupancy that the queue model gives what it
 * got one interval earlier plus its background; at step 30 a tenant takes
 * 40% of a's capacity.  Returns the sign changes of a's published weight's
 * delta after the step, and stores a's final share. */
static int
rate_step_response(const struct cats_sel_config *cfg, double *final_share)
{
    struct cats_selector *sel = cats_sel_create(cfg);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    double share[2] = { 0.5, 0.5 }, sent_total[2] = { 0, 0 };
    int last_sign = 0, sign_changes = 0;
    uint16_t last_w = 0;

    for (size_t i = 0; i < 2; i++) {
        cats_sel_instance_add(svc, i ? "b" : "a", 4, 100);
        cats_sel_pair_add(svc, i, CATS_SEL_LOCAL);
    }
    for (int step = 0; step < 200; step++) {
        long long now = step * 100LL;
        double bg[2] = { step >= 30 ? 0.4 : 0, 0 };

        for (int i = 0; i < 2; i++) {
            /* 0.48 connections per ms in all. */
            double rho = MIN(0.48 * share[i] * 10 / 4 + bg[i], 0.99);

            report_occupancy(svc, i, now, 4, occupancy(4, rho));
            if (step % 10 == 0) {
                /* Counters every second. */
                sent(svc, i, (uint64_t) sent_total[i], now);
                sent_total[i] = 0;
            }
            sent_total[i] += 0.48 * share[i] * 100;
        }
        cats_sel_reweight(svc, now);
        share[0] = weight_share(svc, 0);
        share[1] = weight_share(svc, 1);

        uint16_t w = cats_sel_weight(svc, 0);
        if (step > 30 && w != last_w) {
            int sign = w > last_w ? 1 : -1;

            if (last_sign && sign != last_sign) {
                sign_changes++;
            }
            last_sign = sign;
        }
        last_w = w;
    }
    *final_share = share[0];
    cats_sel_destroy(sel);
    return sign_changes;
}

static void
test_rate_step_response(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;
    double final;

    /* Damped: a's weight goes down after the step and settles, with at
     * most one reversal. */
    test_config(&cfg);
    int changes = rate_step_response(&cfg, &final);
    if (changes > 1) {
        fail_msg("damped: %d sign changes of the weight delta", changes);
    }
    assert_true(final < 0.4 && final > 0.15);

    /* With no damping at all and the sharpness that made the proportional
     * model oscillate, it does not oscillate: the plan takes our own part
     * of the load out of what it reacts to.  It reverses twice: the
     * backlog of the first report after the step takes a's weight down
     * at once, up again as it drains, and b, learned over a few reports,
     * down to where it settles. */
    undamped_config(&cfg);
    cfg.sharpness = 4;
    changes = rate_step_response(&cfg, &final);
    if (changes > 2) {
        fail_msg("undamped: %d sign changes of the weight delta", changes);
    }
    assert_true(final < 0.4 && final > 0.15);
}

/* Paths in the rate model: sharper than between instances, and a path
 * that gets worse is left at once. */
static void
test_rate_paths(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    size_t near = cats_sel_path_add(sel, "near", 0);
    size_t far = cats_sel_path_add(sel, "far", 0);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 4, 100);
    size_t pn = cats_sel_pair_add(svc, a, near);
    size_t pf = cats_sel_pair_add(svc, a, far);
    struct sample s = { .rtt_us = 0, .speed_bps = 0 };

    report(svc, a, 0, 0, 0, 10);
    sent(svc, a, 0, 0);
    sent(svc, a, 100, 1000);
    cats_sel_reweight(svc, 1000);
    assert_float_equal(explain(svc, pn).share, 0.5, EPS);

    /* far's RTT is 10 ms: costs 10 + w and 20 + w, with w the wait at the
     * plan.  Its fraction falls to its target at once. */
    s.rtt_us = 10000;
    path_ok(sel, far, 1, 1100, &s);
    cats_sel_reweight(svc, 1100);
    struct cats_sel_explain en = explain(svc, pn), ef = explain(svc, pf);
    double w = en.wait_ms;
    double score = pow((10 + w) / (20 + w), 8);
    assert_float_equal(ef.cost, 20 + w, 1e-6);
    assert_float_equal(ef.target, score / (1 + score), 1e-6);
    assert_true(ef.target < 0.01);
    assert_true(ef.share < 0.02);       /* From 0.5. */

    /* Back to 0: far rises damped (path_tau_ms 300). */
    s.rtt_us = 0;
    path_ok(sel, far, 1, 1200, &s);
    cats_sel_reweight(svc, 1200);
    ef = explain(svc, pf);
    assert_float_equal(ef.target, 0.5, 1e-6);
    assert_true(ef.share < 0.3);
    cats_sel_destroy(sel);
}

/* 100,000 instances (140,000 pairs): one reweight is linear, the split is
 * still by rate.  (How long it takes is cats-sim --scale's business.) */
static void
test_large_service(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    size_t path = cats_sel_path_add(sel, "wan", 4);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "big",
                                                        CATS_SEL_MIN_LATENCY);
    enum { N = 100000 };

    for (size_t i = 0; i < N; i++) {
        char name[16];

        snprintf(name, sizeof name, "i%"PRIuSIZE, i);
        cats_sel_instance_add(svc, name, 1 + i % 2, 100);
        cats_sel_pair_add(svc, i, CATS_SEL_LOCAL);
        if (i % 5 < 2) {
            cats_sel_pair_add(svc, i, path);
        }
        report(svc, i, 0, 0, 0, 10);
    }
    assert_int_equal(cats_sel_n_pairs(svc), N + 2 * N / 5);
    assert_int_equal(cats_sel_n_instances(svc), N);
    cats_sel_reweight(svc, 0);

    struct cats_sel_stats st;
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_eligible, N + 2 * N / 5);
    /* Pairs 4 and 5 are instances 2 (C 1) and 3 (C 2), local only: one
     * has twice the weight of the other (to rounding). */
    assert_int_equal(cats_sel_pair_instance(svc, 4), 2);
    assert_int_equal(cats_sel_pair_path(svc, 5), CATS_SEL_LOCAL);
    int w2 = cats_sel_weight(svc, 4), w3 = cats_sel_weight(svc, 5);
    assert_true(abs(w3 - 2 * w2) <= 1);
    for (size_t i = 0; i < cats_sel_n_pairs(svc); i++) {
        assert_true(cats_sel_weight(svc, i) > 0);
    }
    assert_true(cats_sel_pick(svc, UINT32_MAX) < cats_sel_n_pairs(svc));
    cats_sel_destroy(sel);
}


/* Per-connection decisions. */

/* Picks and places one connection; returns the pair. */
static size_t
place(struct cats_sel_service *svc, long long now)
{
    size_t pair = cats_sel_pick_connection(svc, now);

    assert_true(pair < cats_sel_n_pairs(svc));
    cats_sel_connection_placed(svc, pair, now);
    return pair;
}

/* A service of 'n' local instances of capacity 'c', one pair each (pair i
 * is instance i). */
static struct cats_sel_service *
conn_service(struct cats_selector *sel, enum cats_sel_policy policy,
             size_t n, uint32_t c)
{
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web", policy);

    for (size_t i = 0; i < n; i++) {
        char name[16];

        snprintf(name, sizeof name, "i%"PRIuSIZE, i);
        assert_int_equal(cats_sel_instance_add(svc, name, c, 100), i);
        assert_int_equal(cats_sel_pair_add(svc, i, CATS_SEL_LOCAL), i);
    }
    return svc;
}

/* The instance with a free slot wins over a full one, whatever the pair
 * order. */
static void
test_conn_free_slots(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = conn_service(sel, CATS_SEL_MIN_LATENCY,
                                                2, 2);

    report(svc, 0, 0, 2, 0, 10);            /* Full. */
    report(svc, 1, 0, 1, 0, 10);            /* One slot free. */
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 2, EPS);
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 1, EPS);
    assert_int_equal(cats_sel_pick_connection(svc, 1), 1);
    /* A pick alone does not count. */
    assert_int_equal(cats_sel_pick_connection(svc, 1), 1);
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 1, EPS);

    /* Placed: both full (cost 10 + 1 * 10 / 2 each), the tie goes to the
     * lower (n + 1) / C, equal too, then to pair 0. */
    cats_sel_connection_placed(svc, 1, 1);
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 2, EPS);
    assert_int_equal(cats_sel_pick_connection(svc, 1), 0);

    struct cats_sel_stats st;
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_conn_picks, 3);
    assert_int_equal(st.n_conn_none, 0);
    assert_int_equal(st.n_conn_placed, 1);
    assert_int_equal(st.n_conn_ended, 0);
    cats_sel_destroy(sel);
}

/* With free slots on both, the faster instance wins even when smaller;
 * it keeps winning while its wait is below the difference in service
 * times: A (C 4, T 20) against B (C 2, T 10). */
static void
test_conn_faster_wins(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_conn_selector(1);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 4, 100);
    size_t b = cats_sel_instance_add(svc, "b", 2, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    size_t pb = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);

    report(svc, a, 0, 0, 0, 20);
    report(svc, b, 0, 0, 0, 10);
    assert_int_equal(place(svc, 1), pb);            /* 10 < 20. */
    assert_int_equal(place(svc, 1), pb);            /* 10 < 20. */
    assert_int_equal(place(svc, 1), pb);            /* 10 + 5 < 20. */
    /* B: 10 + 2 * 10 / 2 = 20, A: 20: tied, A has the lower (n + 1) / C
     * (1/4 against 4/2). */
    assert_int_equal(place(svc, 1), pa);
    assert_float_equal(cats_sel_connection_estimate(svc, a), 1, EPS);
    assert_float_equal(cats_sel_connection_estimate(svc, b), 3, EPS);
    cats_sel_destroy(sel);
}

/* The default wait factor, 2, charges a queued request's wait twice: the
 * slower idle instance gets the third connection that a = 1 would queue
 * at the faster one (test_conn_faster_wins).  Out-of-range factors fall
 * back to the default. */
static void
test_conn_wait_factor(void **state OVS_UNUSED)
{
    struct cats_sel_config cfg;

    cats_sel_config_init(&cfg);
    assert_float_equal(cfg.conn_wait_factor, 2.0, EPS);

    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t a = cats_sel_instance_add(svc, "a", 4, 100);
    size_t b = cats_sel_instance_add(svc, "b", 2, 100);
    size_t pa = cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    size_t pb = cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);

    report(svc, a, 0, 0, 0, 20);
    report(svc, b, 0, 0, 0, 10);
    assert_int_equal(place(svc, 1), pb);            /* 10 < 20. */
    assert_int_equal(place(svc, 1), pb);            /* 10 < 20. */
    /* B: 10 + 2 * 1 * 10 / 2 = 20, A: 20: tied, A has the lower fill. */
    assert_int_equal(place(svc, 1), pa);
    cats_sel_destroy(sel);

    sel = new_conn_selector(0.5);
    assert_float_equal(cats_sel_get_config(sel)->conn_wait_factor, 2.0, EPS);
    cats_sel_destroy(sel);
    sel = new_conn_selector(NAN);
    assert_float_equal(cats_sel_get_config(sel)->conn_wait_factor, 2.0, EPS);
    cats_sel_destroy(sel);
}

/* Placements raise the estimate at once: successive picks over equal
 * instances alternate, 4 picks on two of C = 2 give 2 and 2. */
static void
test_conn_spread(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = conn_service(sel, CATS_SEL_MIN_LATENCY,
                                                2, 2);
    size_t n[2] = { 0, 0 };
    static const size_t expected[] = { 0, 1, 0, 1, 0, 1 };

    /* No report: n = placed - ended since added, T the default. */
    for (size_t k = 0; k < 4; k++) {
        size_t p = place(svc, k);

        assert_int_equal(p, expected[k]);
        n[p]++;
    }
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 2);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 2, EPS);
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 2, EPS);

    /* Both full now: the queues grow alike. */
    assert_int_equal(place(svc, 5), expected[4]);
    assert_int_equal(place(svc, 5), expected[5]);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 3, EPS);
    cats_sel_destroy(sel);
}

/* Ends lower the estimate (never below 0), and the emptied instance is
 * picked again. */
static void
test_conn_ended(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = conn_service(sel, CATS_SEL_MIN_LATENCY,
                                                2, 1);

    report(svc, 0, 0, 1, 0, 10);
    report(svc, 1, 0, 1, 2, 10);
    assert_int_equal(cats_sel_pick_connection(svc, 1), 0);   /* 20 < 30. */
    cats_sel_connection_ended(svc, 1, 2);
    cats_sel_connection_ended(svc, 1, 2);
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 1, EPS);
    /* Both at n = 1: tied on cost and (n + 1) / C: pair 0. */
    assert_int_equal(cats_sel_pick_connection(svc, 2), 0);
    cats_sel_connection_ended(svc, 1, 3);
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 0, EPS);
    assert_int_equal(cats_sel_pick_connection(svc, 3), 1);

    /* More ends than there were (a FIN counted twice): floored at 0,
     * and one placement shows again at once. */
    for (int k = 0; k < 5; k++) {
        cats_sel_connection_ended(svc, 1, 4);
    }
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 0, EPS);
    cats_sel_connection_placed(svc, 1, 4);
    assert_float_equal(cats_sel_connection_estimate(svc, 1), 0, EPS);

    struct cats_sel_stats st;
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_conn_ended, 8);
    assert_int_equal(st.n_conn_placed, 1);
    cats_sel_destroy(sel);
}

/* A report replaces the counts since the previous one; absent R and Q
 * count as 0; huge values are clamped. */
static void
test_conn_report_resets(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = conn_service(sel, CATS_SEL_MIN_LATENCY,
                                                2, 4);

    for (int k = 0; k < 3; k++) {
        cats_sel_connection_placed(svc, 0, 1);
    }
    cats_sel_connection_ended(svc, 0, 2);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 2, EPS);

    report(svc, 0, 10, 1, 0, 10);           /* A FIN was lost: 1, not 2. */
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 1, EPS);
    cats_sel_connection_placed(svc, 0, 11);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 2, EPS);
    report(svc, 0, 20, 3, 2.5, 10);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 5.5, EPS);
    cats_sel_connection_ended(svc, 0, 21);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 4.5, EPS);

    struct cats_sel_instance_report rep = {
        .time = 30, .selectable = true,
    };
    assert_int_equal(cats_sel_instance_report(svc, 0, &rep), 0);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 0, EPS);

    /* Clamped at CATS_SEL_MAX_COUNT, in the sum too. */
    report(svc, 1, 30, 1e12, 1e12, 10);
    cats_sel_connection_placed(svc, 1, 31);
    assert_float_equal(cats_sel_connection_estimate(svc, 1),
                       CATS_SEL_MAX_COUNT, EPS);
    assert_int_equal(cats_sel_pick_connection(svc, 31), 0);

    /* A rejected report changes nothing. */
    cats_sel_connection_placed(svc, 0, 32);
    rep.has_queue = true;
    rep.queue = NAN;
    rep.time = 40;
    assert_int_equal(cats_sel_instance_report(svc, 0, &rep), EINVAL);
    assert_float_equal(cats_sel_connection_estimate(svc, 0), 1, EPS);
    cats_sel_destroy(sel);
}

/* An instance that is not selectable, and a path in a storm, are never
 * picked; with nothing eligible, SIZE_MAX. */
static void
test_conn_ineligible(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    size_t wan_a = cats_sel_path_add(sel, "wan-a", 4);
    size_t wan_b = cats_sel_path_add(sel, "wan-b", 6);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    struct sample storm = { .rtt_us = -1, .paused_for_us = 300000 };

    assert_int_equal(cats_sel_pick_connection(svc, 0), SIZE_MAX);
    size_t idle = cats_sel_instance_add(svc, "idle", 8, 100);
    size_t far = cats_sel_instance_add(svc, "far", 1, 100);
    size_t p_idle = cats_sel_pair_add(svc, idle, CATS_SEL_LOCAL);
    size_t p_a = cats_sel_pair_add(svc, far, wan_a);
    size_t p_b = cats_sel_pair_add(svc, far, wan_b);

    report(svc, far, 0, 5, 5, 10);
    assert_int_equal(cats_sel_pick_connection(svc, 1), p_idle);

    /* Not selectable: the busy, far one is all there is, over the path
     * of lower delay (4 + 10 + 9 * 10 against 6 + ...). */
    cats_sel_instance_set_selectable(svc, idle, false);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(place(svc, 1), p_a);
    }

    /* wan-a in a storm: wan-b. */
    path_ok(sel, wan_a, 1, 0, &storm);
    assert_true(cats_sel_path_is_storm(sel, wan_a));
    assert_int_equal(place(svc, 2), p_b);

    /* Both: nothing. */
    path_ok(sel, wan_b, 1, 0, &storm);
    assert_int_equal(cats_sel_pick_connection(svc, 3), SIZE_MAX);

    /* A report that says not selectable counts as well. */
    cats_sel_instance_set_selectable(svc, idle, true);
    assert_int_equal(cats_sel_pick_connection(svc, 4), p_idle);
    struct cats_sel_instance_report rep = { .time = 5, .selectable = false };
    assert_int_equal(cats_sel_instance_report(svc, idle, &rep), 0);
    assert_int_equal(cats_sel_pick_connection(svc, 5), SIZE_MAX);

    struct cats_sel_stats st;
    cats_sel_get_stats(svc, &st);
    assert_int_equal(st.n_conn_none, 3);
    assert_int_equal(st.n_conn_picks, 6);
    assert_int_equal(st.n_conn_placed, 4);
    cats_sel_destroy(sel);
}

/* The network term: a local instance beats a remote one of the same
 * service time and load, and the cheaper path of the remote one wins. */
static void
test_conn_network(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_conn_selector(1);
    size_t slow = cats_sel_path_add(sel, "slow", 6);
    size_t fast = cats_sel_path_add(sel, "fast", 4);
    struct cats_sel_service *svc = cats_sel_service_add(sel, "web",
                                                        CATS_SEL_MIN_LATENCY);
    size_t remote = cats_sel_instance_add(svc, "remote", 4, 100);
    size_t local = cats_sel_instance_add(svc, "local", 4, 100);
    size_t p_slow = cats_sel_pair_add(svc, remote, slow);
    size_t p_fast = cats_sel_pair_add(svc, remote, fast);
    size_t p_local = cats_sel_pair_add(svc, local, CATS_SEL_LOCAL);

    report(svc, remote, 0, 0, 0, 10);
    report(svc, local, 0, 0, 0, 10);
    /* Local: 10 four times, then 10 + 2.5, against 4 + 10 over the fast
     * path and 6 + 10 over the slow one. */
    for (int k = 0; k < 5; k++) {
        assert_int_equal(place(svc, 1), p_local);
    }
    /* Local at 15 now: the remote one's four free slots, fast path. */
    for (int k = 0; k < 4; k++) {
        assert_int_equal(place(svc, 1), p_fast);
    }
    assert_int_equal(place(svc, 1), p_local);   /* 15 < 4 + 12.5. */
    assert_int_equal(place(svc, 1), p_fast);    /* 16.5 < 17.5. */

    /* The slow path is always 2 ms worse than the fast one: never. */
    size_t n_slow = 0;
    for (int k = 0; k < 20; k++) {
        n_slow += place(svc, 2) == p_slow;
    }
    assert_int_equal(n_slow, 0);
    cats_sel_destroy(sel);
}

/* LEAST_LOADED: the lowest (n + 1) / C, service times ignored.  STATIC:
 * the lowest (n + 1) / w, weight 0 never. */
static void
test_conn_policies(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(false);
    struct cats_sel_service *svc = cats_sel_service_add(
        sel, "ll", CATS_SEL_LEAST_LOADED);
    size_t a = cats_sel_instance_add(svc, "a", 1, 100);
    size_t b = cats_sel_instance_add(svc, "b", 3, 100);

    cats_sel_pair_add(svc, a, CATS_SEL_LOCAL);
    cats_sel_pair_add(svc, b, CATS_SEL_LOCAL);
    report(svc, a, 0, 0, 0, 1);             /* Far faster: no matter. */
    report(svc, b, 0, 0, 0, 100);
    /* b: 1/3, 2/3, then a 1/1 ties with b's 3/3: pair 0. */
    assert_int_equal(place(svc, 1), 1);
    assert_int_equal(place(svc, 1), 1);
    assert_int_equal(place(svc, 1), 0);
    assert_int_equal(place(svc, 1), 1);

    struct cats_sel_service *st = cats_sel_service_add(sel, "static",
                                                       CATS_SEL_STATIC);
    cats_sel_instance_add(st, "x", 8, 1);
    cats_sel_instance_add(st, "y", 1, 3);
    cats_sel_instance_add(st, "z", 100, 0);
    cats_sel_pair_add(st, 0, CATS_SEL_LOCAL);
    cats_sel_pair_add(st, 1, CATS_SEL_LOCAL);
    cats_sel_pair_add(st, 2, CATS_SEL_LOCAL);
    size_t n[3] = { 0, 0, 0 };
    for (int k = 0; k < 8; k++) {
        n[place(st, 1)]++;
    }
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 6);
    assert_int_equal(n[2], 0);

    /* Only the weight-0 instance left: nothing. */
    cats_sel_instance_set_selectable(st, 0, false);
    cats_sel_instance_set_selectable(st, 1, false);
    assert_int_equal(cats_sel_pick_connection(st, 2), SIZE_MAX);
    cats_sel_destroy(sel);
}

/* Per-connection calls leave the weights alone: two identical services,
 * one of them also deciding connections, publish the same weights. */
static void
test_conn_weights_unchanged(void **state OVS_UNUSED)
{
    struct cats_selector *sel = new_selector(true);
    struct cats_sel_service *svc[2];

    for (int s = 0; s < 2; s++) {
        svc[s] = cats_sel_service_add(sel, s ? "b" : "a",
                                      CATS_SEL_MIN_LATENCY);
        cats_sel_instance_add(svc[s], "x", 2, 100);
        cats_sel_instance_add(svc[s], "y", 6, 100);
        cats_sel_pair_add(svc[s], 0, CATS_SEL_LOCAL);
        cats_sel_pair_add(svc[s], 1, CATS_SEL_LOCAL);
    }
    for (long long t = 0; t < 5000; t += 100) {
        for (int s = 0; s < 2; s++) {
            if (t % 500 == 0) {
                report(svc[s], 0, t, 2, 1, 10);
                report(svc[s], 1, t, 3, 0, 10);
                sent(svc[s], 0, 5, t);
                sent(svc[s], 1, 15, t);
            }
            if (s) {
                size_t p = place(svc[s], t);
                cats_sel_connection_ended(svc[s], p, t);
            }
            cats_sel_reweight(svc[s], t);
        }
        for (size_t p = 0; p < 2; p++) {
            assert_int_equal(cats_sel_weight(svc[0], p),
                             cats_sel_weight(svc[1], p));
        }
    }

    /* And the explanation shows the counts. */
    struct ds out = DS_EMPTY_INITIALIZER;
    cats_sel_explain_format(svc[1], 0, &out);
    assert_non_null(strstr(ds_cstr(&out), "  connections: picks=50 none=0"
                           " placed=50 ended=50\n"));
    assert_non_null(strstr(ds_cstr(&out), " conns=3.0 age=400ms"));
    ds_clear(&out);
    cats_sel_explain_format(svc[0], 0, &out);
    assert_null(strstr(ds_cstr(&out), "connections:"));
    assert_null(strstr(ds_cstr(&out), "conns="));
    ds_destroy(&out);
    cats_sel_destroy(sel);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instance_cost_by_hand),
        cmocka_unit_test(test_path_cost_by_hand),
        cmocka_unit_test(test_ecn_ewma),
        cmocka_unit_test(test_counter_reset),
        cmocka_unit_test(test_split_by_rate),
        cmocka_unit_test(test_split_over_paths),
        cmocka_unit_test(test_policy_least_loaded),
        cmocka_unit_test(test_policy_static),
        cmocka_unit_test(test_hot),
        cmocka_unit_test(test_cut_hysteresis),
        cmocka_unit_test(test_unhealthy_leaves_at_once),
        cmocka_unit_test(test_damping_step_response),
        cmocka_unit_test(test_deadband_and_flips),
        cmocka_unit_test(test_damping_by_hand),
        cmocka_unit_test(test_damping_follows_staleness),
        cmocka_unit_test(test_service_time_learning),
        cmocka_unit_test(test_idle_slow_instance_recovers),
        cmocka_unit_test(test_watchdog_detection),
        cmocka_unit_test(test_watchdog_restore),
        cmocka_unit_test(test_watchdog_pause_during_restore),
        cmocka_unit_test(test_watchdog_source_storm_flag),
        cmocka_unit_test(test_watchdog_priorities),
        cmocka_unit_test(test_bad_path_samples),
        cmocka_unit_test(test_bad_instance_reports),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_explain_format),
        cmocka_unit_test(test_rate_counts),
        cmocka_unit_test(test_rate_plan_by_hand),
        cmocka_unit_test(test_rate_other_load),
        cmocka_unit_test(test_rate_backlog),
        cmocka_unit_test(test_rate_step_response),
        cmocka_unit_test(test_rate_paths),
        cmocka_unit_test(test_large_service),
        cmocka_unit_test(test_conn_free_slots),
        cmocka_unit_test(test_conn_faster_wins),
        cmocka_unit_test(test_conn_wait_factor),
        cmocka_unit_test(test_conn_spread),
        cmocka_unit_test(test_conn_ended),
        cmocka_unit_test(test_conn_report_resets),
        cmocka_unit_test(test_conn_ineligible),
        cmocka_unit_test(test_conn_network),
        cmocka_unit_test(test_conn_policies),
        cmocka_unit_test(test_conn_weights_unchanged),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the pure parts of the workload tools
 * (topologies/tools/workload.h): the latency histogram and its
 * percentiles, the random distributions and the arrival schedule, and the
 * request, reply and control line parsers, hostile lines included.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

/* Histogram. */

/* Every value falls in the bucket whose bounds contain it, and the
 * buckets tile the whole range with no gap and no overlap. */
static void
test_hist_buckets_tile(void **state)
{
    (void) state;
    for (unsigned int b = 0; b + 1 < WL_HIST_BUCKETS; b++) {
        assert_int_equal(wl_hist_bucket(wl_hist_bucket_low(b)), b);
        assert_int_equal(wl_hist_bucket(wl_hist_bucket_high(b)), b);
        assert_true(wl_hist_bucket_high(b) + 1 == wl_hist_bucket_low(b + 1));
    }
    assert_int_equal(wl_hist_bucket(UINT64_MAX), WL_HIST_BUCKETS - 1);
    assert_true(wl_hist_bucket_high(WL_HIST_BUCKETS - 1) == UINT64_MAX);

    /* Bucket widths never exceed 1/128 of their lower bound. */
    for (unsigned int b = WL_HIST_SUB; b < WL_HIST_BUCKETS; b++) {
        uint64_t lo = wl_hist_bucket_low(b);
        uint64_t width = wl_hist_bucket_high(b) - lo + 1;

        assert_true(width * WL_HIST_SUB <= lo);
    }
}

static struct wl_hist *
new_hist(void)
{
    struct wl_hist *h = malloc(sizeof *h);

    assert_non_null(h);
    wl_hist_init(h);
    return h;
}

/* Below 128 us every value has its own bucket: percentiles are exact. */
static void
test_hist_percentiles_exact_small(void **state)
{
    struct wl_hist *h = new_hist();

    (void) state;
    /* Inserted out of order: order must not matter. */
    for (int v = 100; v >= 1; v--) {
        wl_hist_add(h, v);
    }
    assert_int_equal(h->n, 100);
    assert_int_equal(wl_hist_percentile(h, 50), 50);
    assert_int_equal(wl_hist_percentile(h, 99), 99);
    assert_int_equal(wl_hist_percentile(h, 99.9), 100);
    assert_int_equal(wl_hist_percentile(h, 100), 100);
    assert_int_equal(wl_hist_percentile(h, 1), 1);
    assert_int_equal(wl_hist_percentile(h, 0.001), 1);
    assert_true(fabs(wl_hist_mean(h) - 50.5) < 1e-9);
    free(h);
}

/* Nearest rank over 1...10000 us: p50 is 5000, p99 9900, p99.9 9990, each
 * within the histogram's 1/256 resolution; the extremes are exact. */
static void
test_hist_percentiles_known(void **state)
{
    static const struct {
        double p;
        double want;
    } cases[] = {
        { 50, 5000 }, { 90, 9000 }, { 99, 9900 }, { 99.9, 9990 },
        { 99.99, 9999 }, { 25, 2500 },
    };
    struct wl_hist *h = new_hist();

    (void) state;
    for (int v = 1; v <= 10000; v++) {
        wl_hist_add(h, v);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = wl_hist_percentile(h, cases[i].p);

        if (fabs(got - cases[i].want) > cases[i].want / 256) {
            fail_msg("p%g: got %g, want %g within 1/256", cases[i].p, got,
                     cases[i].want);
        }
    }
    assert_int_equal(wl_hist_percentile(h, 100), 10000);
    assert_int_equal(wl_hist_percentile(h, 0.01), 1);
    assert_int_equal(h->min, 1);
    assert_int_equal(h->max, 10000);
    assert_true(fabs(wl_hist_mean(h) - 5000.5) < 1e-9);
    free(h);
}

/* A bimodal latency (99 % fast, 1 % slow) must show in p99.9, not in p99:
 * the case that averages hide. */
static void
test_hist_percentiles_tail(void **state)
{
    struct wl_hist *h = new_hist();

    (void) state;
    for (int i = 0; i < 990; i++) {
        wl_hist_add(h, 10000);          /* 10 ms */
    }
    for (int i = 0; i < 10; i++) {
        wl_hist_add(h, 2000000);        /* 2 s */
    }
    assert_true(llabs((long long) wl_hist_percentile(h, 99) - 10000) <= 40);
    assert_true(llabs((long long) wl_hist_percentile(h, 99.1) - 2000000)
                <= 2000000 / 256);
    assert_int_equal(wl_hist_percentile(h, 100), 2000000);
    free(h);
}

static void
test_hist_empty_and_single(void **state)
{
    struct wl_hist *h = new_hist();

    (void) state;
    assert_int_equal(wl_hist_percentile(h, 50), 0);
    assert_true(wl_hist_mean(h) == 0);

    /* One value, far above the exact range: clamping to min and max makes
     * every percentile exact. */
    wl_hist_add(h, 123456789);
    assert_int_equal(wl_hist_percentile(h, 0.1), 123456789);
    assert_int_equal(wl_hist_percentile(h, 50), 123456789);
    assert_int_equal(wl_hist_percentile(h, 100), 123456789);
    wl_hist_add(h, 0);
    assert_int_equal(wl_hist_percentile(h, 50), 0);
    assert_int_equal(h->min, 0);
    free(h);
}

/* Merging the per-second histograms gives the run's histogram. */
static void
test_hist_merge(void **state)
{
    struct wl_hist *a = new_hist(), *b = new_hist(), *all = new_hist();
    struct wl_rng rng;

    (void) state;
    wl_rng_seed(&rng, 7);
    for (int i = 0; i < 20000; i++) {
        uint64_t v = wl_rng_next(&rng) % 5000000;

        wl_hist_add(i % 3 ? a : b, v);
        wl_hist_add(all, v);
    }
    wl_hist_merge(a, b);
    assert_int_equal(a->n, all->n);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_memory_equal(a->count, all->count, sizeof a->count);
    assert_int_equal(wl_hist_percentile(a, 99), wl_hist_percentile(all, 99));

    /* Merging an empty one changes nothing, min included. */
    wl_hist_init(b);
    wl_hist_merge(a, b);
    assert_int_equal(a->min, all->min);
    free(a);
    free(b);
    free(all);
}

/* Random numbers and distributions. */

static void
test_rng_deterministic(void **state)
{
    struct wl_rng r1, r2, r3;
    int differ = 0;

    (void) state;
    wl_rng_seed(&r1, 42);
    wl_rng_seed(&r2, 42);
    wl_rng_seed(&r3, 43);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = wl_rng_next(&r1);

        assert_true(x == wl_rng_next(&r2));
        differ += x != wl_rng_next(&r3);
    }
    assert_true(differ > 990);

    /* Uniforms stay strictly inside (0, 1): log() of them is finite. */
    for (int i = 0; i < 100000; i++) {
        double u = wl_rng_uniform(&r1);

        assert_true(u > 0 && u < 1);
    }
}

/* Poisson arrivals at rate R: the gaps are exponential with mean 1/R, so
 * their mean is 1/R and their standard deviation 1/R too (coefficient of
 * variation 1), and the count in a window of T seconds is about R*T. */
static void
test_poisson_schedule(void **state)
{
    const double rate = 1000.0;
    const int n = 200000;
    double sum = 0, sumsq = 0, t = 0;
    int in_window = 0;
    struct wl_rng rng;

    (void) state;
    wl_rng_seed(&rng, 1);
    for (int i = 0; i < n; i++) {
        double gap = wl_rng_exp(&rng, 1.0 / rate);

        sum += gap;
        sumsq += gap * gap;
        t += gap;
        in_window += t < 100.0;
    }
    double mean = sum / n;
    double sd = sqrt(sumsq / n - mean * mean);

    assert_true(fabs(mean * rate - 1.0) < 0.01);
    assert_true(fabs(sd / mean - 1.0) < 0.02);
    /* 100 s at 1000/s: 100000 arrivals, Poisson sd 316. */
    assert_true(abs(in_window - 100000) < 1500);
}

static double
sample_mean(const struct wl_dist *d, int n, uint64_t seed, double work)
{
    struct wl_rng rng;
    double sum = 0;

    wl_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        sum += wl_dist_sample(d, &rng, work);
    }
    return sum / n;
}

/* A lognormal "with mean 10 ms" must have mean 10 ms, whatever sigma: mu
 * is ln(mean) - sigma^2/2, and the median is exp(mu). */
static void
test_lognormal(void **state)
{
    struct wl_dist d = { WL_DIST_LOGNORMAL, 10.0, 0.5 };
    struct wl_rng rng;
    int below = 0;

    (void) state;
    assert_true(fabs(wl_lognormal_mu(10, 0.5) - (log(10) - 0.125)) < 1e-12);
    assert_true(fabs(sample_mean(&d, 400000, 3, -1) / 10.0 - 1) < 0.01);

    double median = exp(wl_lognormal_mu(10, 0.5));
    wl_rng_seed(&rng, 4);
    for (int i = 0; i < 100000; i++) {
        below += wl_dist_sample(&d, &rng, -1) < median;
    }
    assert_true(abs(below - 50000) < 800);

    d.sigma = 1.5;
    assert_true(fabs(sample_mean(&d, 1000000, 5, -1) / 10.0 - 1) < 0.03);
}

static void
test_dist_kinds(void **state)
{
    struct wl_dist fixed = { WL_DIST_FIXED, 10.0, 0 };
    struct wl_dist ex = { WL_DIST_EXP, 4.0, 0 };
    struct wl_dist client = { WL_DIST_CLIENT, 7.0, 0 };
    struct wl_rng rng;

    (void) state;
    wl_rng_seed(&rng, 9);
    /* Only 'client' honours the request's work. */
    assert_true(wl_dist_sample(&fixed, &rng, 99) == 10.0);
    assert_true(wl_dist_sample(&client, &rng, 99) == 99.0);
    assert_true(wl_dist_sample(&client, &rng, 0) == 0.0);
    assert_true(wl_dist_sample(&client, &rng, -1) == 7.0);
    assert_true(fabs(sample_mean(&ex, 400000, 2, -1) / 4.0 - 1) < 0.01);

    /* Unbounded tails are capped. */
    struct wl_dist wide = { WL_DIST_LOGNORMAL, WL_WORK_MAX_MS, 4.0 };
    wl_rng_seed(&rng, 11);
    for (int i = 0; i < 10000; i++) {
        assert_true(wl_dist_sample(&wide, &rng, -1) <= WL_WORK_MAX_MS);
    }
}

static void
test_dist_parse(void **state)
{
    static const char *const good[] = {
        "fixed:10", "fixed:0", "exp:2.5", "lognormal:10,0.5", "client:0",
        "client:600000", "lognormal:0.1,4",
    };
    static const char *const bad[] = {
        "", "fixed", "fixed:", "fixed:-1", "fixed:1e3", "fixed:nan",
        "fixed:inf", "fixed:0x10", "fixed: 1", "fixed:600001",
        "lognormal:10", "lognormal:0,1", "lognormal:10,0", "lognormal:10,5",
        "lognormal:10,", "lognormal:,1", "exp:1,2", "gauss:1", ":1",
        "FIXED:1", "fixed:1:2", "fixed:.",
    };
    struct wl_dist d, d2;
    char buf[64];

    (void) state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *error = wl_dist_parse(good[i], strlen(good[i]), &d);

        if (error) {
            fail_msg("'%s' refused: %s", good[i], error);
        }
        /* What is printed reads back the same. */
        wl_dist_format(&d, buf, sizeof buf);
        assert_null(wl_dist_parse(buf, strlen(buf), &d2));
        assert_int_equal(d.kind, d2.kind);
        assert_true(d.mean_ms == d2.mean_ms && d.sigma == d2.sigma);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!wl_dist_parse(bad[i], strlen(bad[i]), &d)) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
    assert_null(wl_dist_parse("lognormal:10,0.5", 16, &d));
    assert_int_equal(d.kind, WL_DIST_LOGNORMAL);
    assert_true(d.mean_ms == 10 && d.sigma == 0.5);
}

/* Lines. */

static const char *
parse_req(const char *line, struct wl_request *req)
{
    return wl_parse_request(line, strlen(line), req);
}

static void
test_request_good(void **state)
{
    struct wl_request req;

    (void) state;
    assert_null(parse_req("REQ 17", &req));
    assert_string_equal(req.id, "17");
    assert_true(req.work_ms == -1);

    assert_null(parse_req("REQ a.b_c:d-E 12.5", &req));
    assert_string_equal(req.id, "a.b_c:d-E");
    assert_true(req.work_ms == 12.5);

    /* Telnet and netcat users: CRLF, tabs, extra blanks. */
    assert_null(parse_req("REQ x 0\r", &req));
    assert_true(req.work_ms == 0);
    assert_null(parse_req("  REQ\tx\t 3  ", &req));
    assert_string_equal(req.id, "x");
    assert_true(req.work_ms == 3);

    char line[64];
    snprintf(line, sizeof line, "REQ %040d 600000", 7);
    assert_null(parse_req(line, &req));
    assert_int_equal(strlen(req.id), WL_ID_MAX);
    assert_true(req.work_ms == WL_WORK_MAX_MS);
}

static void
test_request_hostile(void **state)
{
    static const char *const bad[] = {
        "", " ", "\r", "REQ", "REQ ", "req 1", "GET / HTTP/1.1", "REQ 1 2 3",
        "REQ 1 -1", "REQ 1 +1", "REQ 1 nan", "REQ 1 inf", "REQ 1 1e3",
        "REQ 1 0x10", "REQ 1 600000.1", "REQ 1 99999999999999999999999",
        "REQ a/b", "REQ a\"b", "REQ %s", "REQ a\\n", "REQ 1 1.2.3",
        "REQ 1 .", "REQ\v1", "REQ 1\r\r", "REQ \x80", "REQ caf\xc3\xa9",
        "REQ 1\x7f",
    };
    struct wl_request req;
    char line[WL_LINE_MAX * 2];

    (void) state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!parse_req(bad[i], &req)) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }

    /* An id one too long. */
    snprintf(line, sizeof line, "REQ %041d", 7);
    assert_non_null(parse_req(line, &req));

    /* NUL inside the line: the length says where it ends, not the NUL. */
    assert_non_null(wl_parse_request("REQ 1\0 5", 8, &req));
    assert_non_null(wl_parse_request("REQ\0001", 5, &req));

    /* Too long as a whole, even if each word is fine. */
    memset(line, ' ', sizeof line);
    memcpy(line, "REQ 1", 5);
    assert_non_null(wl_parse_request(line, WL_LINE_MAX, &req));
    assert_null(wl_parse_request(line, WL_LINE_MAX - 1, &req));
}

static void
test_reply_roundtrip(void **state)
{
    struct wl_reply reply;
    char buf[WL_LINE_MAX];
    size_t len;

    (void) state;
    len = wl_format_ok(buf, sizeof buf, "42", "i1", 1500, 10061);
    assert_string_equal(buf, "OK 42 i1 1500 10061\n");
    assert_int_equal(len, strlen(buf));
    assert_null(wl_parse_reply(buf, len - 1, &reply));
    assert_true(reply.ok);
    assert_string_equal(reply.id, "42");
    assert_string_equal(reply.instance, "i1");
    assert_true(reply.wait_us == 1500 && reply.service_us == 10061);

    len = wl_format_err(buf, sizeof buf, "-", "bad-request");
    assert_string_equal(buf, "ERR - bad-request\n");
    assert_null(wl_parse_reply(buf, len - 1, &reply));
    assert_false(reply.ok);
    assert_string_equal(reply.id, "-");
    assert_string_equal(reply.instance, "bad-request");

    /* Too small a buffer: nothing half written is reported as written. */
    assert_int_equal(wl_format_ok(buf, 10, "42", "i1", 1, 2), 0);
    assert_int_equal(wl_format_err(buf, 5, "42", "overloaded"), 0);
}

static void
test_reply_hostile(void **state)
{
    static const char *const bad[] = {
        "", "OK", "OK 1", "OK 1 i1", "OK 1 i1 5", "OK 1 i1 5 6 7",
        "OK 1 i1 -5 6", "OK 1 i1 5 6.5", "OK 1 i1 5 x", "ERR", "ERR 1",
        "ERR 1 a b", "KO 1 i1 5 6", "OK a/b i1 5 6",
        "OK 1 i1 99999999999999999999 6", "OK 1 i1 9223372036854775808 1",
    };
    struct wl_reply reply;
    char line[128];

    (void) state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!wl_parse_reply(bad[i], strlen(bad[i]), &reply)) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
    /* Instance names: at most WL_NAME_MAX. */
    snprintf(line, sizeof line, "OK 1 %065d 1 1", 0);
    assert_non_null(wl_parse_reply(line, strlen(line), &reply));
    snprintf(line, sizeof line, "OK 1 %064d 1 1", 0);
    assert_null(wl_parse_reply(line, strlen(line), &reply));
}

static const char *
parse_ctl(const char *line, struct wl_ctl *ctl)
{
    return wl_parse_control(line, strlen(line), ctl);
}

static void
test_control(void **state)
{
    static const char *const bad[] = {
        "", "speed", "speed 0", "speed 1001", "speed -1", "speed 1 2",
        "speed x", "background 1.5", "background -0.1", "background",
        "slots 0", "slots 100001", "slots 1.5", "service-time fixed",
        "service-time fixed:10 x", "stats now", "reset 1", "SPEED 4",
        "bogus", "speed\x01 4",
    };
    struct wl_ctl ctl;

    (void) state;
    assert_null(parse_ctl("speed 4", &ctl));
    assert_int_equal(ctl.op, WL_CTL_SPEED);
    assert_true(ctl.value == 4);
    assert_null(parse_ctl("speed 0.5\r", &ctl));
    assert_true(ctl.value == 0.5);
    assert_null(parse_ctl("background 0", &ctl));
    assert_int_equal(ctl.op, WL_CTL_BACKGROUND);
    assert_true(ctl.value == 0);
    assert_null(parse_ctl("background 1", &ctl));
    assert_true(ctl.value == 1);
    assert_null(parse_ctl("slots 100000", &ctl));
    assert_int_equal(ctl.op, WL_CTL_SLOTS);
    assert_int_equal(ctl.slots, 100000);
    assert_null(parse_ctl("service-time lognormal:20,1", &ctl));
    assert_int_equal(ctl.op, WL_CTL_SERVICE_TIME);
    assert_int_equal(ctl.dist.kind, WL_DIST_LOGNORMAL);
    assert_true(ctl.dist.mean_ms == 20 && ctl.dist.sigma == 1);
    assert_null(parse_ctl("stats", &ctl));
    assert_int_equal(ctl.op, WL_CTL_STATS);
    assert_null(parse_ctl("reset", &ctl));
    assert_int_equal(ctl.op, WL_CTL_RESET);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!parse_ctl(bad[i], &ctl)) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
}

struct lines_seen {
    int n;
    int stop_at;
    char text[512];
};

static bool
collect_line(const char *line, size_t len, void *aux)
{
    struct lines_seen *seen = aux;

    strncat(seen->text, line, len);
    strcat(seen->text, "|");
    return ++seen->n != seen->stop_at;
}

/* A connection's bytes come in any chunks: lines come out whole. */
static void
test_lines_framing(void **state)
{
    struct lines_seen seen = { 0, 0, "" };
    struct wl_lines lines = { 0 };
    char big[WL_LINE_MAX + 8];

    (void) state;
    assert_int_equal(wl_lines_feed(&lines, "REQ 1\nRE", 8, collect_line,
                                   &seen), WL_FEED_OK);
    assert_int_equal(lines.len, 2);
    assert_int_equal(wl_lines_feed(&lines, "Q 2", 3, collect_line, &seen),
                     WL_FEED_OK);
    assert_int_equal(wl_lines_feed(&lines, "\n\nREQ 3\n", 8, collect_line,
                                   &seen), WL_FEED_OK);
    assert_string_equal(seen.text, "REQ 1|REQ 2||REQ 3|");
    assert_int_equal(lines.len, 0);

    /* The callback stops it: nothing after that line is looked at. */
    memset(&seen, 0, sizeof seen);
    seen.stop_at = 2;
    assert_int_equal(wl_lines_feed(&lines, "a\nb\nc\n", 6, collect_line,
                                   &seen), WL_FEED_STOPPED);
    assert_string_equal(seen.text, "a|b|");

    /* The longest line that fits, then one byte more, split across
     * calls. */
    memset(&seen, 0, sizeof seen);
    memset(&lines, 0, sizeof lines);
    memset(big, 'x', sizeof big);
    big[WL_LINE_MAX - 1] = '\n';
    assert_int_equal(wl_lines_feed(&lines, big, WL_LINE_MAX, collect_line,
                                   &seen), WL_FEED_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(wl_lines_feed(&lines, big, 200, collect_line, &seen),
                     WL_FEED_OK);
    assert_int_equal(wl_lines_feed(&lines, big, WL_LINE_MAX - 200,
                                   collect_line, &seen), WL_FEED_TOO_LONG);
    assert_int_equal(seen.n, 1);
}

/* The metrics line, as cats-agent's application socket reads it. */
static void
test_report_line(void **state)
{
    char buf[256];
    size_t len;

    (void) state;
    len = wl_format_report(buf, sizeof buf, "web", "10.0.0.11:80", 4, 17,
                           12.5, 300);
    assert_string_equal(buf, "web 10.0.0.11:80 in_flight=4 queue=17 "
                        "latency_ms=12.500 rps=300.00\n");
    assert_int_equal(len, strlen(buf));

    /* Nothing completed: no latency, rather than a latency of 0. */
    wl_format_report(buf, sizeof buf, "web", "10.0.0.11:80", 0, 0, -1, 0);
    assert_string_equal(buf, "web 10.0.0.11:80 in_flight=0 queue=0 "
                        "rps=0.00\n");

    /* Above the agent's range (an hour) it would refuse the whole line. */
    wl_format_report(buf, sizeof buf, "web", "10.0.0.11:80", 0, 0, 1e9, 1);
    assert_non_null(strstr(buf, " latency_ms=3600000.000 "));

    assert_int_equal(wl_format_report(buf, 20, "web", "10.0.0.11:80", 0, 0,
                                      1, 1), 0);
}

static void
test_names_and_numbers(void **state)
{
    uint32_t ip;
    uint16_t port;
    uint64_t u;
    double x;

    (void) state;
    assert_true(wl_parse_ip_port("10.0.0.11:80", &ip, &port));
    assert_int_equal(port, 80);
    assert_true(((const uint8_t *) &ip)[0] == 10
                && ((const uint8_t *) &ip)[3] == 11);
    assert_true(wl_parse_ip_port("127.0.0.1:65535", &ip, &port));
    assert_false(wl_parse_ip_port("10.0.0.1:0", &ip, &port));
    assert_false(wl_parse_ip_port("10.0.0.1:65536", &ip, &port));
    assert_false(wl_parse_ip_port("10.0.0.1", &ip, &port));
    assert_false(wl_parse_ip_port("10.0.0.1:80x", &ip, &port));
    assert_false(wl_parse_ip_port("host:80", &ip, &port));
    assert_false(wl_parse_ip_port("10.0.0.256:80", &ip, &port));
    assert_false(wl_parse_ip_port("1111111111111111.0.0.1:80", &ip, &port));

    assert_true(wl_name_valid("i1"));
    assert_false(wl_name_valid(""));
    assert_false(wl_name_valid("a b"));
    assert_false(wl_name_valid("caf\xc3\xa9"));

    assert_true(wl_parse_number("1.", 2, &x) && x == 1);
    assert_true(wl_parse_number(".5", 2, &x) && x == 0.5);
    assert_true(wl_parse_number("007", 3, &x) && x == 7);
    assert_false(wl_parse_number(".", 1, &x));
    assert_false(wl_parse_number("", 0, &x));
    assert_false(wl_parse_number("1.2.", 4, &x));
    assert_false(wl_parse_number("123456789012345678901", 21, &x));
    assert_true(wl_parse_uint("18446744073709551615", 20, UINT64_MAX, &u));
    assert_true(u == UINT64_MAX);
    assert_false(wl_parse_uint("18446744073709551616", 20, UINT64_MAX, &u));
    assert_false(wl_parse_uint("11", 2, 10, &u));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets_tile),
        cmocka_unit_test(test_hist_percentiles_exact_small),
        cmocka_unit_test(test_hist_percentiles_known),
        cmocka_unit_test(test_hist_percentiles_tail),
        cmocka_unit_test(test_hist_empty_and_single),
        cmocka_unit_test(test_hist_merge),
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_poisson_schedule),
        cmocka_unit_test(test_lognormal),
        cmocka_unit_test(test_dist_kinds),
        cmocka_unit_test(test_dist_parse),
        cmocka_unit_test(test_request_good),
        cmocka_unit_test(test_request_hostile),
        cmocka_unit_test(test_reply_roundtrip),
        cmocka_unit_test(test_reply_hostile),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_lines_framing),
        cmocka_unit_test(test_report_line),
        cmocka_unit_test(test_names_and_numbers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for cats-agent's metric sources (include/cats/agent-sources.h):
 * the /proc parsers, CPU utilization, the app socket's lines, the
 * Prometheus text format, scrape URLs and HTTP responses, the scraper
 * against a real local TCP peer, and NVML (absent, and a fake one that
 * this program exports: it is linked with -rdynamic, and
 * cats_agent_gpu_open(NULL) finds the functions through dlopen(NULL)).
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cats/agent-sources.h"
#include "packets.h"
#include "timeval.h"
#include "util.h"
#include "test-util.h"

/* Asserts that 'error' is a message containing 'needle', and frees it. */
#define assert_error(ERROR, NEEDLE)                                     \
    do {                                                                \
        char *error_ = (ERROR);                                         \
        if (!error_ || !strstr(error_, NEEDLE)) {                       \
            fail_msg("expected an error containing \"%s\", got %s%s%s", \
                     NEEDLE, error_ ? "\"" : "",                        \
                     error_ ? error_ : "no error", error_ ? "\"" : ""); \
        }                                                               \
        free(error_);                                                   \
    } while (0)

#define assert_ok(ERROR)                                                \
    do {                                                                \
        char *error_ = (ERROR);                                         \
        if (error_) {                                                   \
            fail_msg("unexpected error: %s", error_);                   \
        }                                                               \
    } while (0)

/* /proc/stat. */

static const char proc_stat[] =
    "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\n"
    "cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0\n"
    "intr 1462898 0 0 0\n"
    "ctxt 3253849\n";

static void
test_proc_stat_parses_aggregate_line(void **state OVS_UNUSED)
{
    struct cats_cpu_sample s;

    assert_ok(cats_agent_parse_proc_stat(proc_stat, &s));
    assert_int_equal(s.n_fields, 8);    /* guest, guest_nice left out. */
    assert_int_equal(s.field[0], 10132153);
    assert_int_equal(s.field[3], 46828483);
    assert_int_equal(s.field[4], 16683);
    assert_int_equal(s.field[6], 25195);
    assert_int_equal(s.field[7], 0);

    /* The aggregate line need not come first; old kernels: 4 fields. */
    assert_ok(cats_agent_parse_proc_stat("intr 1\ncpu 1 2 3 4\n", &s));
    assert_int_equal(s.n_fields, 4);
    assert_int_equal(s.field[3], 4);
}

static void
test_proc_stat_malformed(void **state OVS_UNUSED)
{
    struct cats_cpu_sample s = { .n_fields = 99 };

    assert_error(cats_agent_parse_proc_stat("", &s), "no aggregate");
    assert_error(cats_agent_parse_proc_stat("cpu0 1 2 3 4\n", &s),
                 "no aggregate");
    assert_error(cats_agent_parse_proc_stat("cpu  1 x 3 4\n", &s),
                 "cpu field 2: 'x'");
    assert_error(cats_agent_parse_proc_stat("cpu  1 -2 3 4\n", &s),
                 "field 2");
    assert_error(cats_agent_parse_proc_stat(
                     "cpu  1 2 3 99999999999999999999\n", &s),
                 "field 4");
    /* Truncated. */
    assert_error(cats_agent_parse_proc_stat("cpu  100 20", &s),
                 "2 fields, expected at least 4");
    assert_error(cats_agent_parse_proc_stat("cpu \n", &s), "0 fields");
    assert_int_equal(s.n_fields, 99);   /* Untouched on error. */
}

static struct cats_cpu_sample
cpu(uint64_t user, uint64_t system, uint64_t idle, uint64_t iowait)
{
    struct cats_cpu_sample s = { .n_fields = 8 };

    s.field[0] = user;
    s.field[2] = system;
    s.field[3] = idle;
    s.field[4] = iowait;
    return s;
}

static void
test_cpu_util_from_two_samples(void **state OVS_UNUSED)
{
    struct cats_cpu_sample a = cpu(100, 100, 800, 0);
    struct cats_cpu_sample b = cpu(200, 200, 1400, 200);
    double u = -1;

    /* Busy 200 of 1000 ticks: iowait counts as idle. */
    assert_true(cats_agent_cpu_util(&a, &b, &u));
    assert_float_equal(u, 0.2, 1e-12);

    /* All busy, all idle. */
    b = cpu(600, 500, 800, 0);
    assert_true(cats_agent_cpu_util(&a, &b, &u));
    assert_float_equal(u, 1.0, 1e-12);
    b = cpu(100, 100, 1800, 0);
    assert_true(cats_agent_cpu_util(&a, &b, &u));
    assert_float_equal(u, 0.0, 1e-12);

    /* From the real parser, over the whole line. */
    struct cats_cpu_sample p, q;
    assert_ok(cats_agent_parse_proc_stat("cpu 0 0 0 0 0 0 0 0\n", &p));
    assert_ok(cats_agent_parse_proc_stat("cpu 10 10 10 50 10 5 5 0\n", &q));
    assert_true(cats_agent_cpu_util(&p, &q, &u));
    assert_float_equal(u, 0.4, 1e-12);  /* 1 - 60/100 */
}

static void
test_cpu_util_no_value(void **state OVS_UNUSED)
{
    struct cats_cpu_sample a = cpu(100, 100, 800, 0);
    struct cats_cpu_sample b = a;
    double u = 42;

    /* Zero delta. */
    assert_false(cats_agent_cpu_util(&a, &b, &u));

    /* Counter wrap or reset: the total goes backwards. */
    struct cats_cpu_sample big = cpu(UINT64_MAX - 10, UINT64_MAX - 10,
                                     UINT64_MAX - 10, 5);
    b = cpu(5, 5, 5, 6);
    assert_false(cats_agent_cpu_util(&big, &b, &u));
    b = cpu(50, 50, 400, 0);
    assert_false(cats_agent_cpu_util(&a, &b, &u));

    /* Samples swapped. */
    b = cpu(200, 200, 1600, 0);
    assert_false(cats_agent_cpu_util(&b, &a, &u));

    /* Too few fields. */
    struct cats_cpu_sample short_ = { .n_fields = 3 };
    assert_false(cats_agent_cpu_util(&short_, &short_, &u));
    assert_float_equal(u, 42, 0);

    /* iowait going backwards a little (some kernels do) counts as no
     * change, the rest is measured. */
    a = cpu(100, 100, 800, 500);
    b = cpu(150, 150, 1200, 490);
    assert_true(cats_agent_cpu_util(&a, &b, &u));
    assert_float_equal(u, 0.2, 1e-12);  /* 100 busy of 500. */
}

/* /proc/loadavg. */

static void
test_loadavg(void **state OVS_UNUSED)
{
    double x = -1;

    assert_ok(cats_agent_parse_loadavg("0.52 0.58 0.59 2/467 12345\n", 2,
                                       &x));
    assert_float_equal(x, 0.26, 1e-12);
    assert_ok(cats_agent_parse_loadavg("8.00 1.00 1.00 9/100 1", 4, &x));
    assert_float_equal(x, 2.0, 1e-12);

    assert_error(cats_agent_parse_loadavg("0.52 0.58", 2, &x),
                 "truncated (2 fields");
    assert_error(cats_agent_parse_loadavg("", 2, &x), "truncated (0");
    assert_error(cats_agent_parse_loadavg("abc 0.5 0.5 1/2 3", 2, &x),
                 "field 1: 'abc'");
    assert_error(cats_agent_parse_loadavg("-1 0.5 0.5 1/2 3", 2, &x),
                 "field 1");
    assert_error(cats_agent_parse_loadavg("nan 0.5 0.5 1/2 3", 2, &x),
                 "field 1");
    assert_error(cats_agent_parse_loadavg("0.5 0.5 0.5 12 3", 2, &x),
                 "field 4: '12' is not RUNNING/TOTAL");
    assert_error(cats_agent_parse_loadavg("0.5 0.5 0.5 1/2 3", 0, &x),
                 "no online CPU");
    assert_error(cats_agent_parse_loadavg("5000 0.5 0.5 1/2 3", 1, &x),
                 "out of range");
    assert_float_equal(x, 2.0, 1e-12);  /* Untouched on error. */
}

/* /proc/meminfo. */

static void
test_meminfo(void **state OVS_UNUSED)
{
    double x = -1;

    assert_ok(cats_agent_parse_meminfo(
                  "MemTotal:       16000000 kB\n"
                  "MemFree:         1000000 kB\n"
                  "MemAvailable:    4000000 kB\n"
                  "Buffers:          100000 kB\n", &x));
    assert_float_equal(x, 0.75, 1e-12);
    /* Last line without a newline; all available. */
    assert_ok(cats_agent_parse_meminfo("MemTotal: 8 kB\nMemAvailable: 8 kB",
                                       &x));
    assert_float_equal(x, 0.0, 1e-12);

    assert_error(cats_agent_parse_meminfo("MemTotal: 8 kB\nMemFree: 1 kB\n",
                                          &x), "no MemAvailable");
    assert_error(cats_agent_parse_meminfo("MemAvailable: 8 kB\n", &x),
                 "no MemTotal");
    assert_error(cats_agent_parse_meminfo("MemTotal: 0 kB\nMemAvailable: 0 "
                                          "kB\n", &x), "MemTotal is 0");
    assert_error(cats_agent_parse_meminfo("MemTotal: 8 kB\nMemAvailable: 9 "
                                          "kB\n", &x), "exceeds MemTotal");
    assert_error(cats_agent_parse_meminfo("MemTotal: abc kB\n", &x),
                 "MemTotal: 'abc kB' is not a size in kB");
    /* Truncated in the middle of a line. */
    assert_error(cats_agent_parse_meminfo("MemTotal: 16000000 kB\n"
                                          "MemAvailable: 400", &x),
                 "MemAvailable: '400' is not a size in kB");
    assert_error(cats_agent_parse_meminfo("MemTotal: 18446744073709551615 "
                                          "kB\n", &x), "MemTotal");
    assert_float_equal(x, 0.0, 1e-12);
}

/* Application lines. */

static void
test_app_line_every_key(void **state OVS_UNUSED)
{
    static const char line[] = "web 10.0.0.11:8080 in_flight=12 queue=3 "
        "latency_ms=45.5 rps=1.2e3 tps=250000 health=draining l2=7.25";
    struct cats_agent_app_update u;

    assert_ok(cats_agent_parse_app_line(line, strlen(line), &u));
    assert_string_equal(u.key.service, "web");
    assert_int_equal(u.key.ip, ip("10.0.0.11"));
    assert_int_equal(u.key.port, 8080);
    assert_int_equal(u.metrics.present,
                     (1u << CATS_METRIC_IN_FLIGHT) | (1u << CATS_METRIC_QUEUE)
                     | (1u << CATS_METRIC_LATENCY) | (1u << CATS_METRIC_RPS)
                     | (1u << CATS_METRIC_TPS));
    assert_float_equal(u.metrics.value[CATS_METRIC_IN_FLIGHT], 12, 0);
    assert_float_equal(u.metrics.value[CATS_METRIC_QUEUE], 3, 0);
    assert_float_equal(u.metrics.value[CATS_METRIC_LATENCY], 45.5, 0);
    assert_float_equal(u.metrics.value[CATS_METRIC_RPS], 1200, 0);
    assert_float_equal(u.metrics.value[CATS_METRIC_TPS], 250000, 0);
    assert_true(u.has_health);
    assert_int_equal(u.health, CATS_HEALTH_DRAINING);
    assert_true(u.has_l2);
    assert_float_equal(u.l2, 7.25, 0);
}

static void
test_app_line_partial_and_blanks(void **state OVS_UNUSED)
{
    static const char line[] = "\t vllm-llama  10.1.2.3:8000\tqueue=0 "
        "health=not_serving  ";
    struct cats_agent_app_update u;

    assert_ok(cats_agent_parse_app_line(line, strlen(line), &u));
    assert_string_equal(u.key.service, "vllm-llama");
    assert_int_equal(u.key.port, 8000);
    /* Absent stays absent; zero is a value. */
    assert_int_equal(u.metrics.present, 1u << CATS_METRIC_QUEUE);
    assert_float_equal(u.metrics.value[CATS_METRIC_QUEUE], 0, 0);
    assert_int_equal(u.health, CATS_HEALTH_NOT_SERVING);
    assert_false(u.has_l2);

    assert_ok(cats_agent_parse_app_line("s 1.2.3.4:1 health=serving", 26,
                                        &u));
    assert_int_equal(u.health, CATS_HEALTH_SERVING);
    assert_int_equal(u.metrics.present, 0);

    /* Limits are inclusive. */
    static const char max[] = "s 1.2.3.4:65535 in_flight=10000000 "
        "queue=10000000 latency_ms=3600000 rps=1e9 tps=1e12 l2=10";
    assert_ok(cats_agent_parse_app_line(max, strlen(max), &u));
    assert_float_equal(u.metrics.value[CATS_METRIC_TPS], 1e12, 0);
    assert_float_equal(u.l2, 10, 0);
}

static char *
app_line(const char *line)
{
    struct cats_agent_app_update u;

    return cats_agent_parse_app_line(line, strlen(line), &u);
}

static void
test_app_line_bad(void **state OVS_UNUSED)
{
    /* Keys. */
    assert_error(app_line("web 10.0.0.1:80 bogus=1"),
                 "web 10.0.0.1:80: unknown key 'bogus'");
    assert_error(app_line("web 10.0.0.1:80 queue=1 queue=2"),
                 "key 'queue' given twice");
    assert_error(app_line("web 10.0.0.1:80 health=ok health=serving"),
                 "health");
    assert_error(app_line("web 10.0.0.1:80 l2=1 l2=2"),
                 "key 'l2' given twice");
    assert_error(app_line("web 10.0.0.1:80 queue"),
                 "'queue' is not key=value");
    assert_error(app_line("web 10.0.0.1:80 =5"), "unknown key ''");

    /* Values: NaN, infinities, signs, hex, garbage, empty. */
    assert_error(app_line("web 10.0.0.1:80 latency_ms=NaN"),
                 "key 'latency_ms': 'NaN' is not a number between 0 and "
                 "3600000");
    assert_error(app_line("web 10.0.0.1:80 latency_ms=nan"), "'nan'");
    assert_error(app_line("web 10.0.0.1:80 rps=inf"), "'inf'");
    assert_error(app_line("web 10.0.0.1:80 rps=+Inf"), "'+Inf'");
    assert_error(app_line("web 10.0.0.1:80 rps=1e999"), "'1e999'");
    assert_error(app_line("web 10.0.0.1:80 in_flight=-1"),
                 "key 'in_flight': '-1' is not an integer between 0 and "
                 "10000000");
    assert_error(app_line("web 10.0.0.1:80 latency_ms=-0.5"), "'-0.5'");
    assert_error(app_line("web 10.0.0.1:80 rps=+5"), "'+5'");
    assert_error(app_line("web 10.0.0.1:80 rps=0x10"), "'0x10'");
    assert_error(app_line("web 10.0.0.1:80 rps=1e"), "'1e'");
    assert_error(app_line("web 10.0.0.1:80 rps=."), "'.'");
    assert_error(app_line("web 10.0.0.1:80 rps="), "key 'rps': ''");
    assert_error(app_line("web 10.0.0.1:80 in_flight=1.5"),
                 "not an integer");

    /* Out of range. */
    assert_error(app_line("web 10.0.0.1:80 in_flight=10000001"),
                 "'10000001'");
    assert_error(app_line("web 10.0.0.1:80 queue=99999999999999999999999"),
                 "key 'queue'");
    assert_error(app_line("web 10.0.0.1:80 latency_ms=3600000.5"),
                 "key 'latency_ms'");
    assert_error(app_line("web 10.0.0.1:80 tps=1.5e12"), "key 'tps'");
    assert_error(app_line("web 10.0.0.1:80 l2=10.01"),
                 "key 'l2': '10.01' is not a number between 0 and 10");
    assert_error(app_line("web 10.0.0.1:80 health=sick"),
                 "'sick' is not serving, not_serving or draining");

    /* Addresses. */
    assert_error(app_line("web 10.0.0.256:80 queue=1"), "is not IPv4:PORT");
    assert_error(app_line("web web.example:80 queue=1"), "is not IPv4:PORT");
    assert_error(app_line("web 10.0.0.1 queue=1"), "is not IPv4:PORT");
    assert_error(app_line("web 10.0.0.1: queue=1"),
                 "needs a port between 1 and 65535");
    assert_error(app_line("web 10.0.0.1:0 queue=1"), "needs a port");
    assert_error(app_line("web 10.0.0.1:65536 queue=1"), "needs a port");
    assert_error(app_line("web 224.0.0.1:80 queue=1"), "not a unicast");
    assert_error(app_line("web 10.0.0.1:80000000000000000000000000000000000"
                          " queue=1"), "is not IPv4:PORT");

    /* Structure. */
    assert_error(app_line(""), "empty line");
    assert_error(app_line("   "), "empty line");
    assert_error(app_line("web"), "web: missing IP:PORT");
    assert_error(app_line("web 10.0.0.1:80"), "no key=value");

    /* Too long: the line and the service name. */
    char long_line[CATS_AGENT_LINE_MAX + 2];
    memset(long_line, 'x', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    assert_error(app_line(long_line), "line of 513 bytes is longer than 512");
    char long_name[200];
    snprintf(long_name, sizeof long_name, "%065d 10.0.0.1:80 queue=1", 0);
    assert_error(app_line(long_name), "is longer than 64");

    /* Bytes: NUL, control, non-ASCII. */
    struct cats_agent_app_update u;
    assert_error(cats_agent_parse_app_line("web\0 10.0.0.1:80 queue=1", 24,
                                           &u), "NUL byte at column 4");
    assert_error(app_line("web 10.0.0.1:80 queue=1\x01"), "byte 0x01");
    assert_error(app_line("w\xc3\xa9 10.0.0.1:80 queue=1"), "byte 0xc3");
}

struct collect {
    size_t n_good;
    size_t good_lines[8];
    struct cats_agent_app_update good[8];
    size_t n_bad;
    size_t bad_lines[8];
};

static void
collect_good(size_t line_no, const struct cats_agent_app_update *u,
             void *aux)
{
    struct collect *c = aux;

    assert_true(c->n_good < 8);
    c->good_lines[c->n_good] = line_no;
    c->good[c->n_good++] = *u;
}

static void
collect_bad(size_t line_no, const char *error, void *aux)
{
    struct collect *c = aux;

    assert_non_null(error);
    assert_true(c->n_bad < 8);
    c->bad_lines[c->n_bad++] = line_no;
}

static void
test_app_text_lines(void **state OVS_UNUSED)
{
    static const char text[] =
        "web 10.0.0.1:80 in_flight=1\r\n"
        "\n"
        "web 10.0.0.2:80 queue=nan\n"
        "   \n"
        "db 10.0.0.3:5432 latency_ms=2\n"
        "web 10.0.0.1:80 nope=1";
    struct collect c;

    memset(&c, 0, sizeof c);
    assert_int_equal(cats_agent_parse_app_text(text, strlen(text),
                                               collect_good, collect_bad,
                                               &c), 2);
    assert_int_equal(c.n_good, 2);
    assert_int_equal(c.good_lines[0], 1);
    assert_string_equal(c.good[0].key.service, "web");
    assert_float_equal(c.good[0].metrics.value[CATS_METRIC_IN_FLIGHT], 1, 0);
    assert_int_equal(c.good_lines[1], 5);
    assert_int_equal(c.good[1].key.port, 5432);
    assert_int_equal(c.n_bad, 2);
    assert_int_equal(c.bad_lines[0], 3);
    assert_int_equal(c.bad_lines[1], 6);

    /* Callbacks are optional. */
    assert_int_equal(cats_agent_parse_app_text(text, strlen(text), NULL,
                                               NULL, NULL), 2);
    assert_int_equal(cats_agent_parse_app_text("", 0, NULL, NULL, NULL), 0);
}

/* Prometheus. */

static const char vllm_text[] =
    "# HELP vllm:num_requests_running Number of requests running on GPU.\n"
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{model_name=\"llama, \\\"8b\\\" \\\\ x\\n\"} "
    "3.0\n"
    "vllm:num_requests_running{model_name=\"other\",} 4\n"
    "vllm:num_requests_running_total 100\n"
    "# TYPE vllm:num_requests_waiting gauge\n"
    "vllm:num_requests_waiting{model_name=\"a\",shard=\"1\"} 1.5e1 "
    "1700000000000\n"
    "vllm:num_requests_waiting{model_name=\"b\"} 2E-1\n"
    "\n"
    "# a free comment { with \" junk\n"
    "  vllm:e2e_latency_ms   { a = \"1\" , b=\"}\" }   1.25e+2  \n"
    "vllm:e2e_latency_ms_bucket{le=\"+Inf\"} 7\n";

static void
test_prom_sums_label_sets(void **state OVS_UNUSED)
{
    struct cats_agent_prom_query q[] = {
        { .name = "vllm:num_requests_running", .max = 1e7 },
        { .name = "vllm:num_requests_waiting", .max = 1e7 },
        { .name = "vllm:e2e_latency_ms", .max = 3.6e6 },
        { .name = "vllm:absent", .max = 1e7 },
    };

    assert_ok(cats_agent_parse_prom(vllm_text, strlen(vllm_text), q,
                                    ARRAY_SIZE(q)));
    /* Two label sets, and not the _total metric that shares the prefix. */
    assert_int_equal(q[0].n_samples, 2);
    assert_null(q[0].error);
    assert_float_equal(q[0].sum, 7.0, 1e-12);
    /* Scientific notation; a timestamp. */
    assert_int_equal(q[1].n_samples, 2);
    assert_float_equal(q[1].sum, 15.2, 1e-12);
    /* Blanks inside braces, '}' inside a label value; not _bucket. */
    assert_int_equal(q[2].n_samples, 1);
    assert_float_equal(q[2].sum, 125, 1e-12);
    /* Absent: no samples, no error. */
    assert_int_equal(q[3].n_samples, 0);
    assert_null(q[3].error);
    cats_agent_prom_queries_clear(q, ARRAY_SIZE(q));
    assert_int_equal(q[0].n_samples, 0);

    /* No query at all: only the format is checked. */
    assert_ok(cats_agent_parse_prom(vllm_text, strlen(vllm_text), NULL, 0));
    assert_ok(cats_agent_parse_prom("", 0, q, 1));
    assert_int_equal(q[0].n_samples, 0);
}

static void
test_prom_refuses_bad_values(void **state OVS_UNUSED)
{
    static const char text[] =
        "a{x=\"1\"} 1\n"
        "a{x=\"2\"} +Inf\n"
        "b NaN\n"
        "c -3\n"
        "d 5e6\n"
        "d 6e6\n"
        "e -Inf\n"
        "f 2\n";
    struct cats_agent_prom_query q[] = {
        { .name = "a", .max = 100 },
        { .name = "b", .max = 100 },
        { .name = "c", .max = 100 },
        { .name = "d", .max = 1e7 },
        { .name = "e", .max = 100 },
        { .name = "f", .max = 100 },
    };

    assert_ok(cats_agent_parse_prom(text, strlen(text), q, ARRAY_SIZE(q)));
    assert_int_equal(q[0].n_samples, 2);
    assert_non_null(strstr(q[0].error, "a: sample on line 2 is inf"));
    assert_non_null(strstr(q[1].error, "is nan"));
    assert_non_null(strstr(q[2].error, "is -3"));
    assert_non_null(strstr(q[3].error, "d: 11000000 is more than 10000000"));
    assert_non_null(strstr(q[4].error, "is -inf"));
    /* One bad metric spoils only itself. */
    assert_null(q[5].error);
    assert_float_equal(q[5].sum, 2, 0);
    cats_agent_prom_queries_clear(q, ARRAY_SIZE(q));
    for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
        assert_null(q[i].error);
    }
}

static char *
prom(const char *text)
{
    struct cats_agent_prom_query q = { .name = "m", .max = 1e9 };
    char *error = cats_agent_parse_prom(text, strlen(text), &q, 1);

    /* A refused text leaves no result behind. */
    if (error) {
        assert_int_equal(q.n_samples, 0);
        assert_null(q.error);
    }
    cats_agent_prom_queries_clear(&q, 1);
    return error;
}

static void
test_prom_format_errors(void **state OVS_UNUSED)
{
    assert_error(prom("m 1\nm\n"), "line 2: missing value");
    assert_error(prom("m abc\n"), "line 1: 'abc' is not a number");
    assert_error(prom("m 0x10\n"), "'0x10' is not a number");
    assert_error(prom("m 1 2 3\n"), "unexpected text after the timestamp");
    assert_error(prom("m 1 1.5\n"), "the timestamp is not an integer");
    assert_error(prom("1m 1\n"), "expected a metric name");
    assert_error(prom("m-x 1\n"), "invalid character in metric name");
    assert_error(prom("m{a=b} 1\n"), "expected '\"' to start a label value");
    assert_error(prom("m{a=\"b} 1\n"), "unterminated label value");
    assert_error(prom("m{a=\"b\\x\"} 1\n"), "invalid escape in a label value");
    assert_error(prom("m{a:b=\"1\"} 1\n"), "expected '=' after a label name");
    assert_error(prom("m{9=\"1\"} 1\n"), "expected a label name or '}'");
    assert_error(prom("m{a=\"1\" b=\"2\"} 1\n"), "expected ',' or '}'");
    assert_error(prom("m{a=\"1\"\n"), "expected ',' or '}'");
    assert_error(prom("m 1\r\n"), "carriage return");
    assert_error(prom("# TYPE m gauges\n"), "# TYPE is not counter");
    assert_error(prom("# TYPE m gauge extra\n"), "# TYPE is not counter");
    assert_error(prom("# TYPE\n"), "# TYPE without a valid metric name");
    assert_error(prom("# HELP 9m text\n"), "# HELP without a valid metric");
    assert_error(prom("# HELP m bad \\t escape\n"), "invalid escape in #");

    /* What the format allows. */
    assert_ok(prom("# HELP m with \\\\ and \\n escapes\n"
                   "# TYPE m untyped\n#\n# EOF\nm{} 1\nm -Inf\n"));
    assert_ok(prom("m{a=\"\"} 1 -5\n\t m\t2\t\n"));
}

static void
test_prom_names(void **state OVS_UNUSED)
{
    assert_true(cats_agent_prom_name_valid("vllm:num_requests_running"));
    assert_true(cats_agent_prom_name_valid("_x9:"));
    assert_true(cats_agent_prom_name_valid(":a"));
    assert_false(cats_agent_prom_name_valid(""));
    assert_false(cats_agent_prom_name_valid("9x"));
    assert_false(cats_agent_prom_name_valid("a-b"));
    assert_false(cats_agent_prom_name_valid("a{b}"));
}

/* Scrape URLs and HTTP responses. */

static void
test_prom_url(void **state OVS_UNUSED)
{
    uint16_t port = 0;
    char *path = NULL;

    assert_ok(cats_agent_parse_prom_url("http://127.0.0.1:8000/metrics",
                                        &port, &path));
    assert_int_equal(port, 8000);
    assert_string_equal(path, "/metrics");
    free(path);
    assert_ok(cats_agent_parse_prom_url("http://localhost/m?x=1", &port,
                                        &path));
    assert_int_equal(port, 80);
    assert_string_equal(path, "/m?x=1");
    free(path);
    assert_ok(cats_agent_parse_prom_url("http://LOCALHOST:9090", &port,
                                        &path));
    assert_int_equal(port, 9090);
    assert_string_equal(path, "/");
    free(path);

    path = NULL;
    assert_error(cats_agent_parse_prom_url("https://127.0.0.1/", &port,
                                           &path), "only http://");
    assert_error(cats_agent_parse_prom_url("http://10.0.0.1/", &port, &path),
                 "must be 127.0.0.1 or localhost");
    assert_error(cats_agent_parse_prom_url("http://127.0.0.1.evil.com/",
                                           &port, &path), "must be 127.0.0.1");
    assert_error(cats_agent_parse_prom_url("http://localhost.evil/", &port,
                                           &path), "must be 127.0.0.1");
    assert_error(cats_agent_parse_prom_url("http://user@127.0.0.1/", &port,
                                           &path), "must be 127.0.0.1");
    assert_error(cats_agent_parse_prom_url("http://127.0.0.2/", &port,
                                           &path), "must be 127.0.0.1");
    assert_error(cats_agent_parse_prom_url("http://localhost:0/", &port,
                                           &path), "port must be 1 to 65535");
    assert_error(cats_agent_parse_prom_url("http://localhost:65536/", &port,
                                           &path), "port must be 1 to 65535");
    assert_error(cats_agent_parse_prom_url("http://localhost:/", &port,
                                           &path), "port must be 1 to 65535");
    assert_error(cats_agent_parse_prom_url("http://localhost:80x/", &port,
                                           &path), "unexpected 'x'");
    assert_error(cats_agent_parse_prom_url("http://localhost/a b", &port,
                                           &path), "printable ASCII");
    assert_error(cats_agent_parse_prom_url("http://localhost/a#b", &port,
                                           &path), "'#'");
    assert_null(path);
}

static char *
http(const char *resp, const char **body, size_t *len)
{
    return cats_agent_parse_http_response(resp, strlen(resp), body, len);
}

static void
test_http_response(void **state OVS_UNUSED)
{
    const char *body;
    size_t len;

    assert_ok(http("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   "content-length:  5 \r\n\r\nhello, and more", &body,
                   &len));
    assert_int_equal(len, 5);
    assert_memory_equal(body, "hello", 5);
    /* No length: the body runs to the end (HTTP/1.0, closed). */
    assert_ok(http("HTTP/1.0 200\nServer: x\n\nm 1\n", &body, &len));
    assert_int_equal(len, 4);
    assert_memory_equal(body, "m 1\n", 4);
    assert_ok(http("HTTP/1.1 200 OK\r\n\r\n", &body, &len));
    assert_int_equal(len, 0);

    assert_error(http("HTTP/1.1 404 Not Found\r\n\r\n", &body, &len),
                 "HTTP status 404 Not Found");
    assert_error(http("HTTP/1.1 2000 OK\r\n\r\n", &body, &len),
                 "HTTP status 2000");
    assert_error(http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\n", &body, &len),
                 "Transfer-Encoding 'chunked' is not supported");
    assert_error(http("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nx",
                      &body, &len), "Content-Encoding 'gzip'");
    assert_error(http("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                      &body, &len), "body truncated (3 of 10 bytes)");
    assert_error(http("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", &body,
                      &len), "bad Content-Length");
    assert_error(http("HTTP/1.1 200 OK\r\nContent-Type: text", &body, &len),
                 "truncated headers");
    assert_error(http("", &body, &len), "truncated headers");
    assert_error(http("SSH-2.0-OpenSSH\r\n\r\n", &body, &len),
                 "bad status line");
    assert_error(http("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", &body, &len),
                 "bad header 'no colon'");
}

/* The scraper, against a TCP peer that this test plays by hand. */

static int
listen_local(uint16_t *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Runs the scrape until it finishes; the peer accepts on 'lfd', reads the
 * request into 'request' and, if 'response' is nonnull, answers it and
 * closes.  Returns the scrape's error (NULL on success). */
static const char *
scrape_with_peer(struct cats_agent_scrape *s, int lfd, const char *response,
                 char *request, size_t request_size, int timeout_ms)
{
    long long start = time_msec();
    int conn = -1;
    size_t req_len = 0;
    bool answered = false;
    const char *body;
    size_t body_len;

    assert_true(cats_agent_scrape_start(s, start, timeout_ms));
    assert_false(cats_agent_scrape_start(s, start, timeout_ms));
    for (;;) {
        if (cats_agent_scrape_run(s, time_msec())) {
            break;
        }
        assert_true(cats_agent_scrape_busy(s));
        assert_true(time_msec() - start < timeout_ms + 2000);
        if (conn < 0) {
            conn = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        }
        if (conn >= 0 && !answered) {
            ssize_t n = recv(conn, request + req_len,
                             request_size - 1 - req_len, MSG_DONTWAIT);
            if (n > 0) {
                req_len += n;
                request[req_len] = '\0';
            }
            if (strstr(request, "\r\n\r\n") && response) {
                assert_int_equal(send(conn, response, strlen(response), 0),
                                 strlen(response));
                close(conn);
                conn = -1;
                answered = true;
            }
        }
        usleep(1000);
    }
    if (conn >= 0) {
        close(conn);
    }
    assert_false(cats_agent_scrape_busy(s));
    return cats_agent_scrape_result(s, &body, &body_len);
}

static void
test_scrape_local_endpoint(void **state OVS_UNUSED)
{
    struct cats_agent_scrape *s;
    char request[1024] = "";
    const char *body;
    size_t body_len;
    uint16_t port;
    int lfd = listen_local(&port);
    char *url = xasprintf("http://localhost:%"PRIu16"/metrics", port);

    assert_ok(cats_agent_scrape_create(url, &s));

    /* A good response. */
    assert_null(scrape_with_peer(s, lfd, "HTTP/1.0 200 OK\r\n\r\n"
                                 "m{a=\"1\"} 2\nm{a=\"2\"} 3\n", request,
                                 sizeof request, 2000));
    assert_non_null(strstr(request, "GET /metrics HTTP/1.0\r\n"));
    assert_non_null(strstr(request, "Host: 127.0.0.1:"));
    assert_null(cats_agent_scrape_result(s, &body, &body_len));
    struct cats_agent_prom_query q = { .name = "m", .max = 100 };
    assert_ok(cats_agent_parse_prom(body, body_len, &q, 1));
    assert_float_equal(q.sum, 5, 0);

    /* An HTTP error. */
    request[0] = '\0';
    const char *error = scrape_with_peer(s, lfd, "HTTP/1.1 500 Oops\r\n\r\n",
                                         request, sizeof request, 2000);
    assert_non_null(error);
    assert_non_null(strstr(error, "HTTP status 500 Oops"));

    /* A peer that accepts and never answers: the deadline ends it. */
    request[0] = '\0';
    long long start = time_msec();
    error = scrape_with_peer(s, lfd, NULL, request, sizeof request, 200);
    assert_non_null(error);
    assert_non_null(strstr(error, "no complete response within 200 ms"));
    assert_true(time_msec() - start >= 200);
    assert_true(time_msec() - start < 1500);

    /* Nobody listening. */
    close(lfd);
    assert_true(cats_agent_scrape_start(s, time_msec(), 2000));
    while (!cats_agent_scrape_run(s, time_msec())) {
        usleep(1000);
    }
    error = cats_agent_scrape_result(s, &body, &body_len);
    assert_non_null(error);
    assert_non_null(strstr(error, "connect"));

    cats_agent_scrape_destroy(s);
    cats_agent_scrape_destroy(NULL);
    free(url);

    assert_error(cats_agent_scrape_create("http://192.168.1.1/", &s),
                 "must be 127.0.0.1 or localhost");
}

/* Files. */

static void
test_read_file(void **state OVS_UNUSED)
{
    char name[] = "/tmp/test-agent-sources-XXXXXX";
    int fd = mkstemp(name);
    char *text;
    size_t len;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "MemTotal: 8 kB\n", 15), 15);
    close(fd);

    assert_int_equal(cats_agent_read_file(name, 100, &text, &len), 0);
    assert_int_equal(len, 15);
    assert_string_equal(text, "MemTotal: 8 kB\n");
    free(text);
    assert_int_equal(cats_agent_read_file(name, 14, &text, &len), EFBIG);
    unlink(name);
    assert_int_equal(cats_agent_read_file(name, 100, &text, &len), ENOENT);

    /* The real files parse on this machine. */
    struct cats_cpu_sample s;
    double x;
    assert_int_equal(cats_agent_read_file("/proc/stat", 1 << 20, &text,
                                          NULL), 0);
    assert_ok(cats_agent_parse_proc_stat(text, &s));
    free(text);
    assert_int_equal(cats_agent_read_file("/proc/meminfo", 1 << 20, &text,
                                          NULL), 0);
    assert_ok(cats_agent_parse_meminfo(text, &x));
    assert_true(x > 0 && x < 1);
    free(text);
}

/* NVML. */

static void
test_nvml_absent(void **state OVS_UNUSED)
{
    struct cats_agent_gpu *gpu = (void *) 1;
    char *detail = NULL;

    assert_int_equal(cats_agent_gpu_open("libnvidia-ml-absent.so.1", &gpu,
                                         &detail), ENOENT);
    assert_null(gpu);
    assert_non_null(detail);
    assert_non_null(strstr(detail, "libnvidia-ml-absent.so.1"));
    free(detail);
    assert_int_equal(cats_agent_gpu_count(NULL), 0);
    cats_agent_gpu_close(NULL);

    /* A library without the NVML symbols counts as absent too. */
    assert_int_equal(cats_agent_gpu_open("libm.so.6", &gpu, &detail),
                     ENOENT);
    assert_null(gpu);
    assert_non_null(strstr(detail, "NVML has no nvmlInit_v2"));
    free(detail);
}

/* A fake NVML, exported by this program.  Devices are indexes + 1. */
static struct {
    int init_ret;
    unsigned int count;
    unsigned int util[4];
    int util_ret[4];
    unsigned long long total[4], used[4];
    int n_init, n_shutdown;
} fake;

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *);
int nvmlDeviceGetHandleByIndex_v2(unsigned int, void **);
int nvmlDeviceGetUtilizationRates(void *, unsigned int *);
int nvmlDeviceGetMemoryInfo(void *, unsigned long long *);

int
nvmlInit_v2(void)
{
    fake.n_init++;
    return fake.init_ret;
}

int
nvmlShutdown(void)
{
    fake.n_shutdown++;
    return 0;
}

int
nvmlDeviceGetCount_v2(unsigned int *count)
{
    *count = fake.count;
    return 0;
}

int
nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev)
{
    *dev = (void *) (uintptr_t) (i + 1);
    return i < fake.count ? 0 : 2;
}

int
nvmlDeviceGetUtilizationRates(void *dev, unsigned int *u)
{
    size_t i = (uintptr_t) dev - 1;

    u[0] = fake.util[i];        /* gpu */
    u[1] = 0;                   /* memory */
    return fake.util_ret[i];
}

int
nvmlDeviceGetMemoryInfo(void *dev, unsigned long long *m)
{
    size_t i = (uintptr_t) dev - 1;

    m[0] = fake.total[i];
    m[1] = fake.total[i] - fake.used[i];
    m[2] = fake.used[i];
    return 0;
}

static void
test_nvml_fake_devices(void **state OVS_UNUSED)
{
    struct cats_agent_gpu *gpu;
    char *detail;
    double util, mem;

    memset(&fake, 0, sizeof fake);
    fake.count = 3;
    fake.util[0] = 50;
    fake.util[1] = 100;
    fake.util[2] = 30;
    fake.util_ret[2] = 999;     /* This one fails: left out of the mean. */
    fake.total[0] = 4000;
    fake.used[0] = 1000;
    fake.total[1] = 4000;
    fake.used[1] = 3000;
    fake.total[2] = 100;
    fake.used[2] = 10;

    assert_int_equal(cats_agent_gpu_open(NULL, &gpu, &detail), 0);
    assert_null(detail);
    assert_int_equal(cats_agent_gpu_count(gpu), 3);
    assert_true(cats_agent_gpu_sample(gpu, &util, &mem));
    assert_float_equal(util, 0.75, 1e-12);      /* Mean of 0.5 and 1. */
    assert_float_equal(mem, 0.75, 1e-12);       /* Highest fraction. */

    /* Percent above 100 is not a fraction we can use. */
    fake.util[0] = 101;
    assert_true(cats_agent_gpu_sample(gpu, &util, &mem));
    assert_float_equal(util, 1.0, 1e-12);
    fake.util_ret[0] = fake.util_ret[1] = 1;
    assert_false(cats_agent_gpu_sample(gpu, &util, &mem));

    cats_agent_gpu_close(gpu);
    assert_int_equal(fake.n_init, 1);
    assert_int_equal(fake.n_shutdown, 1);

    /* Init failure, and no device: EIO, shut down cleanly. */
    fake.init_ret = 9;
    assert_int_equal(cats_agent_gpu_open(NULL, &gpu, &detail), EIO);
    assert_null(gpu);
    assert_non_null(strstr(detail, "nvmlInit_v2 failed (NVML error 9)"));
    free(detail);
    fake.init_ret = 0;
    fake.count = 0;
    assert_int_equal(cats_agent_gpu_open(NULL, &gpu, &detail), EIO);
    assert_string_equal(detail, "NVML reports no GPU");
    free(detail);
    assert_int_equal(fake.n_shutdown, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_stat_parses_aggregate_line),
        cmocka_unit_test(test_proc_stat_malformed),
        cmocka_unit_test(test_cpu_util_from_two_samples),
        cmocka_unit_test(test_cpu_util_no_value),
        cmocka_unit_test(test_loadavg),
        cmocka_unit_test(test_meminfo),
        cmocka_unit_test(test_app_line_every_key),
        cmocka_unit_test(test_app_line_partial_and_blanks),
        cmocka_unit_test(test_app_line_bad),
        cmocka_unit_test(test_app_text_lines),
        cmocka_unit_test(test_prom_sums_label_sets),
        cmocka_unit_test(test_prom_refuses_bad_values),
        cmocka_unit_test(test_prom_format_errors),
        cmocka_unit_test(test_prom_names),
        cmocka_unit_test(test_prom_url),
        cmocka_unit_test(test_http_response),
        cmocka_unit_test(test_scrape_local_endpoint),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_nvml_absent),
        cmocka_unit_test(test_nvml_fake_devices),
    };

    set_program_name("test-agent-sources");
    return cmocka_run_group_tests(tests, NULL, NULL);
}

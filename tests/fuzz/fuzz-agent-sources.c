/*
 * libFuzzer target for cats-agent's parsers of outside text
 * (include/cats/agent-sources.h): the app socket's lines and the
 * Prometheus text format, which other programs on the node write, plus the
 * /proc and HTTP response parsers, all on the same input.
 *
 * Besides crashes and sanitizer reports it checks each parser's contract:
 * what is accepted is in range (a NaN or a negative load must never reach
 * a report), every error is one nonempty line, a refused Prometheus text
 * leaves no result behind, and an HTTP body lies inside the response.
 *
 * Build: make build/fuzz/fuzz-agent-sources (controller/agent/rules.mk).
 * Run:   tests/fuzz/run.sh build SECONDS (seeds: corpus/agent-sources/).
 */

#include <config.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cats/agent-sources.h"
#include "cats/catalog.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_message(const char *msg)
{
    if (!msg || !*msg || strchr(msg, '\n')) {
        abort();
    }
}

static void
check_values(const struct cats_metric_values *v)
{
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (cats_metric_values_has(v, m)
            && (!isfinite(v->value[m]) || v->value[m] < 0
                || v->value[m] > cats_metric_max(m))) {
            abort();
        }
    }
}

static void
check_update(const struct cats_agent_app_update *u)
{
    size_t len = strnlen(u->key.service, sizeof u->key.service);

    if (!len || len > CATS_NAME_MAX || !u->key.port || !u->key.ip) {
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        if (u->key.service[i] <= 0x20 || u->key.service[i] >= 0x7f) {
            abort();
        }
    }
    /* Only service metrics come from applications. */
    uint32_t allowed = ((1u << CATS_METRIC_IN_FLIGHT)
                        | (1u << CATS_METRIC_QUEUE)
                        | (1u << CATS_METRIC_LATENCY)
                        | (1u << CATS_METRIC_RPS)
                        | (1u << CATS_METRIC_TPS));
    if (u->metrics.present & ~allowed) {
        abort();
    }
    check_values(&u->metrics);
    if (u->has_l2 && !(u->l2 >= 0 && u->l2 <= CATS_SCORE_MAX)) {
        abort();
    }
    if (u->has_health && u->health != CATS_HEALTH_SERVING
        && u->health != CATS_HEALTH_NOT_SERVING
        && u->health != CATS_HEALTH_DRAINING) {
        abort();
    }
}

static void
on_good(size_t line_no, const struct cats_agent_app_update *u, void *aux)
{
    size_t *n = aux;

    if (!line_no) {
        abort();
    }
    check_update(u);
    n[0]++;
}

static void
on_bad(size_t line_no, const char *error, void *aux)
{
    size_t *n = aux;

    if (!line_no) {
        abort();
    }
    check_message(error);
    n[1]++;
}

static void
fuzz_app(const uint8_t *data, size_t size)
{
    struct cats_agent_app_update u;
    size_t counts[2] = { 0, 0 };
    char *error;

    size_t n_bad = cats_agent_parse_app_text((const char *) data, size,
                                             on_good, on_bad, counts);
    if (n_bad != counts[1]) {
        abort();
    }

    /* The whole input as one line. */
    error = cats_agent_parse_app_line((const char *) data, size, &u);
    if (error) {
        check_message(error);
        free(error);
    } else {
        check_update(&u);
        if (size > CATS_AGENT_LINE_MAX || memchr(data, '\n', size)) {
            abort();
        }
    }
}

static void
fuzz_prom(const uint8_t *data, size_t size)
{
    /* Names the seeds use, and the input's own first token when it is a
     * valid name, so that matching is exercised beyond the seeds. */
    char first[64];
    size_t n = 0;
    while (n < size && n < sizeof first - 1 && data[n] != ' '
           && data[n] != '{' && data[n] != '\n') {
        first[n] = data[n];
        n++;
    }
    first[n] = '\0';

    struct cats_agent_prom_query q[] = {
        { .name = "vllm:num_requests_running", .max = 1e7 },
        { .name = "vllm:num_requests_waiting", .max = 1e7 },
        { .name = "m", .max = 3.6e6 },
        { .name = cats_agent_prom_name_valid(first) ? first : "x", .max = 1 },
    };
    char *error = cats_agent_parse_prom((const char *) data, size, q,
                                        ARRAY_SIZE(q));
    if (error) {
        check_message(error);
        free(error);
        for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
            if (q[i].n_samples || q[i].error || q[i].sum != 0) {
                abort();
            }
        }
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
        if (q[i].error) {
            check_message(q[i].error);
        } else if (!isfinite(q[i].sum) || q[i].sum < 0
                   || q[i].sum > q[i].max
                   || (!q[i].n_samples && q[i].sum != 0)) {
            abort();
        }
    }
    cats_agent_prom_queries_clear(q, ARRAY_SIZE(q));
}

static void
fuzz_proc_and_http(const uint8_t *data, size_t size)
{
    char *text = xmemdup0((const char *) data, size);
    struct cats_cpu_sample a, b;
    const char *body;
    size_t body_len;
    char *error;
    double x;

    error = cats_agent_parse_proc_stat(text, &a);
    if (error) {
        check_message(error);
        free(error);
    } else {
        if (a.n_fields < 4 || a.n_fields > CATS_CPU_FIELDS) {
            abort();
        }
        b = a;
        for (unsigned int i = 0; i < b.n_fields; i++) {
            b.field[i] += i % 3;
        }
        if (cats_agent_cpu_util(&a, &b, &x) && !(x >= 0 && x <= 1)) {
            abort();
        }
        if (cats_agent_cpu_util(&b, &a, &x) && !(x >= 0 && x <= 1)) {
            abort();
        }
    }

    error = cats_agent_parse_loadavg(text, 1 + size % 8, &x);
    if (error) {
        check_message(error);
        free(error);
    } else if (!(x >= 0 && x <= cats_metric_max(CATS_METRIC_LOAD))) {
        abort();
    }

    error = cats_agent_parse_meminfo(text, &x);
    if (error) {
        check_message(error);
        free(error);
    } else if (!(x >= 0 && x <= 1)) {
        abort();
    }

    error = cats_agent_parse_http_response(text, size, &body, &body_len);
    if (error) {
        check_message(error);
        free(error);
    } else if (body < text || body + body_len > text + size) {
        abort();
    }
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_app(data, size);
    fuzz_prom(data, size);
    fuzz_proc_and_http(data, size);
    return 0;
}

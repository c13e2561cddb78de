/* See load-common.h. */

#include "load-common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

const char *load_prog = "load";

/* Time. */

int64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
            + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

/* Histogram. */

static unsigned int
hist_index(uint64_t v)
{
    int e;

    if (v < HIST_SUB) {
        return v;
    }
    e = 63 - __builtin_clzll(v);
    return ((e - HIST_SUB_BITS + 1) * HIST_SUB
            + ((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1)));
}

/* The middle of bucket 'i'. */
static uint64_t
hist_value(unsigned int i)
{
    unsigned int e, sub;
    uint64_t lo;

    if (i < HIST_SUB) {
        return i;
    }
    e = i / HIST_SUB + HIST_SUB_BITS - 1;
    sub = i % HIST_SUB;
    lo = (uint64_t) (HIST_SUB + sub) << (e - HIST_SUB_BITS);
    return lo + ((uint64_t) 1 << (e - HIST_SUB_BITS)) / 2;
}

void
hist_add(struct histogram *h, int64_t v)
{
    uint64_t u = v > 0 ? v : 0;

    h->count[hist_index(u)]++;
    h->n++;
    if (u > h->max) {
        h->max = u;
    }
}

void
hist_merge(struct histogram *dst, const struct histogram *src)
{
    for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
        dst->count[i] += src->count[i];
    }
    dst->n += src->n;
    dst->max = src->max > dst->max ? src->max : dst->max;
}

uint64_t
hist_percentile(const struct histogram *h, double p)
{
    uint64_t rank, seen = 0;

    if (!h->n) {
        return 0;
    }
    rank = (uint64_t) ceil(p / 100.0 * h->n);
    rank = rank ? rank : 1;
    for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

void
print_histogram(const char *name, const struct histogram *h)
{
    printf("%s_p50_ms: %.3f\n", name, hist_percentile(h, 50) / 1e6);
    printf("%s_p90_ms: %.3f\n", name, hist_percentile(h, 90) / 1e6);
    printf("%s_p99_ms: %.3f\n", name, hist_percentile(h, 99) / 1e6);
    printf("%s_max_ms: %.3f\n", name, h->max / 1e6);
}

/* Options. */

unsigned int
parse_uint(const char *name, const char *s, unsigned int min,
           unsigned int max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v < min || v > max) {
        fprintf(stderr, "%s: --%s: '%s' is not an integer between %u and "
                "%u\n", load_prog, name, s, min, max);
        exit(2);
    }
    return v;
}

double
parse_double(const char *name, const char *s, double min, double max)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min) || !(v <= max)) {
        fprintf(stderr, "%s: --%s: '%s' is not a number between %g and "
                "%g\n", load_prog, name, s, min, max);
        exit(2);
    }
    return v;
}

/* Messages. */

static void *
load_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (!p) {
        fprintf(stderr, "%s: out of memory\n", load_prog);
        exit(1);
    }
    return p;
}

void
load_msgs_init(struct load_msgs *m, const struct load_shape *shape)
{
    unsigned int n = shape->instances;

    m->specs = load_calloc(n, sizeof *m->specs);
    m->spec_ptrs = load_calloc(n, sizeof *m->spec_ptrs);
    m->loads = load_calloc(n, sizeof *m->loads);
    m->load_ptrs = load_calloc(n, sizeof *m->load_ptrs);
    m->metrics = load_calloc(n, sizeof *m->metrics);
    m->ips = load_calloc(n, sizeof *m->ips);
}

void
load_msgs_destroy(struct load_msgs *m)
{
    free(m->specs);
    free(m->spec_ptrs);
    free(m->loads);
    free(m->load_ptrs);
    free(m->metrics);
    free(m->ips);
}

/* Instance 'k' of node 'index': a unicast address in 10.100.0.0 and up,
 * never .0 or .255. */
static void
instance_ip(const struct load_shape *shape, unsigned int index,
            unsigned int k, char ip[16])
{
    uint64_t j = (uint64_t) index * shape->instances + k;

    snprintf(ip, 16, "10.%u.%u.%u", (unsigned int) (100 + j / 62500),
             (unsigned int) (j / 250 % 250), (unsigned int) (1 + j % 250));
}

/* A deterministic value in [0, 1) that moves with 'seq'. */
static double
wobble(unsigned int index, uint64_t seq)
{
    uint64_t x = (seq + (uint64_t) index * 7919) * 0x9e3779b97f4a7c15ULL;

    return (x >> 11) * (1.0 / 9007199254740992.0);
}

void
load_register(struct load_msgs *m, const struct load_shape *shape,
              unsigned int index, const char *node_id,
              Cats__V1__RegisterRequest *req)
{
    cats__v1__register_request__init(req);
    for (unsigned int k = 0; k < shape->instances; k++) {
        cats__v1__instance_spec__init(&m->specs[k]);
        instance_ip(shape, index, k, m->ips[k]);
        m->specs[k].service = (char *) shape->service;
        m->specs[k].ip = m->ips[k];
        m->specs[k].port = shape->port;
        m->specs[k].capacity = 64;
        m->spec_ptrs[k] = &m->specs[k];
    }
    req->node_id = (char *) node_id;
    req->n_instances = shape->instances;
    req->instances = m->spec_ptrs;
    req->agent = (char *) shape->agent;
}

/* Sets the one-field oneof FIELD of Metrics 'M' (protobuf-c names its case
 * CATS__V1__METRICS___<FIELD>_<FIELD>, upper case). */
#define METRIC_SET(M, FIELD, UPPER, VALUE)                              \
    ((M)->_##FIELD##_case = CATS__V1__METRICS___##UPPER##_##UPPER,      \
     (M)->FIELD = (VALUE))

/* Node metrics that move with 'seq'; with 'per_instance', one entry per
 * registered instance with service metrics too. */
void
load_report(struct load_msgs *m, const struct load_shape *shape,
            unsigned int index, const char *node_id, uint64_t session_id,
            uint64_t seq, Cats__V1__LoadReport *rep)
{
    double u = wobble(index, seq);

    cats__v1__load_report__init(rep);
    cats__v1__metrics__init(&m->node);
    METRIC_SET(&m->node, cpu_utilization, CPU_UTILIZATION, 0.2 + 0.6 * u);
    METRIC_SET(&m->node, memory_utilization, MEMORY_UTILIZATION, 0.5);
    METRIC_SET(&m->node, load_average_per_cpu, LOAD_AVERAGE_PER_CPU,
               0.3 + u);

    rep->node_id = (char *) node_id;
    rep->session_id = session_id;
    rep->seq = seq;
    rep->node = &m->node;
    rep->window_ms = shape->window_ms;
    if (shape->per_instance) {
        for (unsigned int k = 0; k < shape->instances; k++) {
            Cats__V1__InstanceLoad *il = &m->loads[k];
            Cats__V1__Metrics *mm = &m->metrics[k];

            cats__v1__instance_load__init(il);
            cats__v1__metrics__init(mm);
            instance_ip(shape, index, k, m->ips[k]);
            il->service = (char *) shape->service;
            il->ip = m->ips[k];
            il->port = shape->port;
            il->health = CATS__V1__HEALTH__HEALTH_SERVING;
            METRIC_SET(mm, requests_in_flight, REQUESTS_IN_FLIGHT,
                       (uint32_t) (u * 64));
            METRIC_SET(mm, queue_depth, QUEUE_DEPTH,
                       (uint32_t) ((seq + k) % 8));
            METRIC_SET(mm, latency_ms, LATENCY_MS, 2.0 + 20.0 * u);
            il->metrics = mm;
            m->load_ptrs[k] = il;
        }
        rep->n_instances = shape->instances;
        rep->instances = m->load_ptrs;
    }
}

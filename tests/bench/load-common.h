/*
 * What the two load generators of make bench-agent share (agent-load.c,
 * gRPC core's client; agent-h2load.c, HTTP/2 by hand): time, the latency
 * histogram, option parsing, and the contents of the messages, so that
 * both send the same reports for the same node.
 */
#ifndef CATS_BENCH_LOAD_COMMON_H
#define CATS_BENCH_LOAD_COMMON_H 1

#include <stdbool.h>
#include <stdint.h>

#include "proto/cats.pb-c.h"

#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)

/* The program's name in error messages ("agent-load"). */
extern const char *load_prog;

int64_t mono_ns(void);
double cpu_seconds(void);

/* Latency histogram: log-linear, 32 sub-buckets per power of two, so that
 * a percentile is within about 3% of the true value.  Values in ns. */
#define HIST_SUB_BITS 5
#define HIST_SUB (1 << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct histogram {
    uint64_t count[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
};

void hist_add(struct histogram *, int64_t v);   /* v < 0 counts as 0. */
void hist_merge(struct histogram *dst, const struct histogram *src);
uint64_t hist_percentile(const struct histogram *, double p);
void print_histogram(const char *name, const struct histogram *);

/* --NAME=S as a number in [min, max]; exits with status 2 otherwise. */
unsigned int parse_uint(const char *name, const char *s, unsigned int min,
                        unsigned int max);
double parse_double(const char *name, const char *s, double min,
                    double max);

/* The messages of node 'index' (0-based) of a run. */
struct load_shape {
    const char *service;        /* Of every instance. */
    unsigned int port;
    unsigned int instances;     /* Per node. */
    bool per_instance;          /* Reports list each instance. */
    uint32_t window_ms;         /* LoadReport.window_ms. */
    const char *agent;          /* RegisterRequest.agent. */
};

/* Room for one message's sub-messages; what load_register() and
 * load_report() fill points into it until the next call. */
struct load_msgs {
    Cats__V1__InstanceSpec *specs;
    Cats__V1__InstanceSpec **spec_ptrs;
    Cats__V1__InstanceLoad *loads;
    Cats__V1__InstanceLoad **load_ptrs;
    Cats__V1__Metrics *metrics;
    Cats__V1__Metrics node;
    char (*ips)[16];
};

void load_msgs_init(struct load_msgs *, const struct load_shape *);
void load_msgs_destroy(struct load_msgs *);
void load_register(struct load_msgs *, const struct load_shape *,
                   unsigned int index, const char *node_id,
                   Cats__V1__RegisterRequest *);
void load_report(struct load_msgs *, const struct load_shape *,
                 unsigned int index, const char *node_id,
                 uint64_t session_id, uint64_t seq, Cats__V1__LoadReport *);

#endif /* load-common.h */

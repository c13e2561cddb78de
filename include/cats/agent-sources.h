/*
 * ovs-cats: what cats-agent measures, and the parsers behind it.
 *
 * Every source of outside text that the agent reads has a parser here that
 * works on a string (or a byte range) and does no I/O, so that the unit
 * tests and the fuzz target drive exactly the code the daemon runs:
 *
 *   /proc/stat       cats_agent_parse_proc_stat(), cats_agent_cpu_util()
 *   /proc/loadavg    cats_agent_parse_loadavg()
 *   /proc/meminfo    cats_agent_parse_meminfo()
 *   app socket       cats_agent_parse_app_line(), cats_agent_parse_app_text()
 *   Prometheus       cats_agent_parse_prom()       (text format 0.0.4)
 *   HTTP responses   cats_agent_parse_http_response()
 *   scrape URLs      cats_agent_parse_prom_url()
 *
 * The I/O around them is small and kept apart: cats_agent_read_file(), the
 * NVML loader (cats_agent_gpu_*), and the non-blocking scraper
 * (cats_agent_scrape_*, run from the OVS poll loop).
 *
 * Units follow proto/cats.proto: utilizations are fractions from 0 to 1,
 * never percent, and a value that was not measured is absent (a bit clear
 * in struct cats_metric_values' 'present'), never zero.
 *
 * Parsers return NULL on success or a malloc'd one-line message that names
 * the problem (the caller frees it); on error their outputs are unchanged
 * or unspecified, never half applied by the caller.  Nothing here keeps
 * global state, except the NVML library handle inside a cats_agent_gpu.
 */

#ifndef CATS_AGENT_SOURCES_H
#define CATS_AGENT_SOURCES_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/report.h"
#include "openvswitch/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* /proc/stat.
 *
 * The aggregate "cpu" line, in clock ticks: user nice system idle iowait
 * irq softirq steal (guest and guest_nice are already counted in user and
 * nice, so they are left out).  Kernels older than 2.6.11 print fewer
 * fields; at least the first four are required. */
#define CATS_CPU_FIELDS 8

struct cats_cpu_sample {
    uint64_t field[CATS_CPU_FIELDS];
    unsigned int n_fields;
};

char *cats_agent_parse_proc_stat(const char *text, struct cats_cpu_sample *)
    OVS_WARN_UNUSED_RESULT;

/* Busy fraction of all CPUs between samples 'prev' and 'cur':
 * 1 - (idle + iowait delta) / total delta, in 0...1.  Returns false, with
 * no value, when there is nothing to measure: no time passed (zero total
 * delta), or the total went backwards (a wrapped or reset counter, or
 * samples swapped); the next pair of samples measures again.  A single
 * field that goes backwards (iowait does, on some kernels) counts as no
 * change. */
bool cats_agent_cpu_util(const struct cats_cpu_sample *prev,
                         const struct cats_cpu_sample *cur, double *util);

/* /proc/loadavg: the one-minute load average divided by 'n_cpus' (online
 * CPUs, at least 1), in 0...CATS_METRIC_LOAD's maximum. */
char *cats_agent_parse_loadavg(const char *text, unsigned int n_cpus,
                               double *per_cpu) OVS_WARN_UNUSED_RESULT;

/* /proc/meminfo: 1 - MemAvailable / MemTotal, in 0...1.  Kernels before
 * 3.14 have no MemAvailable: an error, since MemFree alone counts
 * reclaimable page cache as used. */
char *cats_agent_parse_meminfo(const char *text, double *util)
    OVS_WARN_UNUSED_RESULT;

/* The application socket.
 *
 * Applications send datagrams of one or more lines:
 *
 *     SERVICE IP:PORT key=value...
 *
 * with, each at most once and at least one of them:
 *
 *     in_flight=N     requests being served now, integer 0...10000000
 *     queue=N         requests waiting, integer 0...10000000
 *     latency_ms=X    mean latency, 0...3600000
 *     rps=X           requests per second, 0...1e9
 *     tps=X           tokens per second, 0...1e12
 *     health=H        serving, not_serving or draining
 *     l2=X            the instance's own L2 score, 0...10 (10: idle)
 *
 * Numbers are plain decimals ("12", "0.5", "1e3"); NaN, infinities, signs
 * and hexadecimal are refused.  A line is at most CATS_AGENT_LINE_MAX
 * bytes. */
#define CATS_AGENT_LINE_MAX 512

struct cats_agent_app_update {
    struct cats_report_key key;
    struct cats_metric_values metrics;  /* Only service metrics: in flight,
                                         * queue, latency, rps, tps. */
    bool has_health;
    enum cats_health health;
    bool has_l2;
    double l2;
};

/* Parses the 'len' bytes at 'line' (no newline; may hold NULs, which are
 * refused) into '*u'. */
char *cats_agent_parse_app_line(const char *line, size_t len,
                                struct cats_agent_app_update *u)
    OVS_WARN_UNUSED_RESULT;

/* Splits the 'len' bytes at 'text' into lines ('\n', an optional '\r'
 * before it) and parses each nonblank one.  Calls 'good' for each line that
 * parses and 'bad' (with the message, which the callee must not keep) for
 * each that does not, both with the 1-based line number.  Returns the
 * number of bad lines. */
size_t cats_agent_parse_app_text(
    const char *text, size_t len,
    void (*good)(size_t line_no, const struct cats_agent_app_update *,
                 void *aux),
    void (*bad)(size_t line_no, const char *error, void *aux),
    void *aux);

/* Prometheus text exposition format (version 0.0.4).
 *
 * cats_agent_parse_prom() checks the whole text against the format and
 * sums, for each of the 'n' queries, the samples named exactly 'name' over
 * all their label sets (vLLM reports vllm:num_requests_running once per
 * model).  A text that breaks the format is refused as a whole (the
 * function's error), as Prometheus does.  A sample that is well formed but
 * NaN, infinite, negative, or that makes the sum exceed 'max', spoils its
 * own query only: 'error' is set and the sum must not be used. */
struct cats_agent_prom_query {
    const char *name;           /* In: metric name, may contain ':'. */
    double max;                 /* In: the largest acceptable sum. */
    double sum;                 /* Out. */
    size_t n_samples;           /* Out: 0 means the metric is absent. */
    char *error;                /* Out: NULL or a malloc'd message. */
};

char *cats_agent_parse_prom(const char *text, size_t len,
                            struct cats_agent_prom_query *, size_t n)
    OVS_WARN_UNUSED_RESULT;

/* True if 'name' is a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool cats_agent_prom_name_valid(const char *name);

/* Frees the 'error' members of 'n' queries and resets their outputs. */
void cats_agent_prom_queries_clear(struct cats_agent_prom_query *, size_t n);

/* "http://HOST[:PORT][/PATH]", with HOST 127.0.0.1 or localhost only: the
 * agent scrapes applications on its own node, and a scrape URL must never
 * make it a client of other hosts.  Stores the port (default 80) and a
 * malloc'd path (default "/"). */
char *cats_agent_parse_prom_url(const char *url, uint16_t *port,
                                char **path) OVS_WARN_UNUSED_RESULT;

/* An HTTP/1.0 or 1.1 response, complete (the server closed the
 * connection): the status must be 200, chunked transfer coding is refused,
 * and a Content-Length must match the body.  Points '*body' into 'resp'. */
char *cats_agent_parse_http_response(const char *resp, size_t len,
                                     const char **body, size_t *body_len)
    OVS_WARN_UNUSED_RESULT;

/* I/O. */

/* Reads all of 'file_name' (at most 'max' bytes) into a malloc'd,
 * NUL-terminated buffer.  Returns 0 or a positive errno value (EFBIG if
 * larger than 'max'). */
int cats_agent_read_file(const char *file_name, size_t max, char **textp,
                         size_t *lenp) OVS_WARN_UNUSED_RESULT;

/* GPUs, through NVML loaded at run time.
 *
 * cats_agent_gpu_open() dlopen()s 'library' ("libnvidia-ml.so.1"; NULL
 * looks the NVML symbols up in the program itself, for tests) and
 * initializes NVML.  Returns 0 and a handle, ENOENT if the library or one
 * of its symbols is absent (a node without NVIDIA GPUs: not an error), or
 * EIO if NVML failed to initialize or reports no device; '*detailp' then
 * gets a malloc'd explanation.  */
struct cats_agent_gpu;

int cats_agent_gpu_open(const char *library, struct cats_agent_gpu **,
                        char **detailp) OVS_WARN_UNUSED_RESULT;

/* Mean utilization over the devices and the highest memory fraction of
 * any device, both in 0...1.  Devices whose query fails are left out of
 * both; returns false if none answered. */
bool cats_agent_gpu_sample(struct cats_agent_gpu *, double *util,
                           double *mem_util);

unsigned int cats_agent_gpu_count(const struct cats_agent_gpu *);

/* Shuts NVML down and unloads it.  NULL is a no-op. */
void cats_agent_gpu_close(struct cats_agent_gpu *);

/* Prometheus scraper: one plain HTTP/1.0 GET at a time on a non-blocking
 * connection, driven from the poll loop.  A scrape ends by 'deadline'
 * whatever the server does, and reads at most CATS_AGENT_SCRAPE_MAX bytes,
 * so that a hung or huge endpoint cannot stall the agent. */
#define CATS_AGENT_SCRAPE_MAX (4 * 1024 * 1024)

struct cats_agent_scrape;

/* 'url' as for cats_agent_parse_prom_url(). */
char *cats_agent_scrape_create(const char *url,
                               struct cats_agent_scrape **)
    OVS_WARN_UNUSED_RESULT;
void cats_agent_scrape_destroy(struct cats_agent_scrape *);

/* Starts a scrape unless one is running (then returns false). */
bool cats_agent_scrape_start(struct cats_agent_scrape *, long long now,
                             int timeout_ms);
bool cats_agent_scrape_busy(const struct cats_agent_scrape *);

/* Advances the scrape in progress, if any, without blocking.  Returns true
 * if it finished during this call: then cats_agent_scrape_result() holds
 * its outcome until the next start. */
bool cats_agent_scrape_run(struct cats_agent_scrape *, long long now);
void cats_agent_scrape_wait(struct cats_agent_scrape *);

/* NULL and the body of the response, or the error message. */
const char *cats_agent_scrape_result(const struct cats_agent_scrape *,
                                     const char **body, size_t *body_len);

#ifdef __cplusplus
}
#endif

#endif /* cats/agent-sources.h */

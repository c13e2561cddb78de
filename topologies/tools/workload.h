/*
 * ovs-cats workload tools: the parts of cats-serve and cats-load that do no
 * I/O, so that the unit tests (tests/unit/test-workload.c) and the fuzz
 * target (tests/fuzz/fuzz-workload.c) drive exactly the code the tools run.
 *
 *   wl_rng_*        a seeded generator (xoshiro256**): same seed, same
 *                   arrival schedule, on any machine
 *   wl_dist_*       service time distributions: fixed, exponential,
 *                   lognormal (mean and sigma), or the client's work
 *   wl_hist_*       a latency histogram with bounded memory and bounded
 *                   relative error, and its percentiles
 *   wl_parse_*      the request, reply and control lines (the protocol is
 *                   described in topologies/tools/README.md)
 *   wl_format_*     the lines the tools write
 *
 * Plain C and libc/libm only: the tools must run on any host, with no
 * libopenvswitch.  Parsers take a byte range that may hold anything (NULs
 * included) and return NULL on success or a static one-line message that
 * names the problem; on error their output is unspecified and must not be
 * used.  Nothing here allocates or keeps global state.
 */

#ifndef WORKLOAD_H
#define WORKLOAD_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol limits.  A line longer than WL_LINE_MAX bytes (newline
 * included) is refused without being read further. */
#define WL_LINE_MAX 256
#define WL_ID_MAX 40            /* Request ids: [A-Za-z0-9._:-]{1,40}. */
#define WL_NAME_MAX 64          /* Instance and service names. */
#define WL_WORK_MAX_MS 600000.0 /* Per-request work: at most 10 minutes. */
#define WL_SPEED_MAX 1000.0     /* Service time multiplier, (0, 1000]. */
#define WL_SLOTS_MAX 100000

/* Random numbers. */

struct wl_rng {
    uint64_t s[4];
};

void wl_rng_seed(struct wl_rng *, uint64_t seed);
uint64_t wl_rng_next(struct wl_rng *);
double wl_rng_uniform(struct wl_rng *);     /* In (0, 1), never 0 or 1. */
double wl_rng_exp(struct wl_rng *, double mean);
double wl_rng_normal(struct wl_rng *);      /* Mean 0, deviation 1. */

/* Service time distributions.
 *
 *   fixed:MS              always MS
 *   exp:MS                exponential with mean MS
 *   lognormal:MS,SIGMA    lognormal with mean MS; SIGMA is the deviation
 *                         of the underlying normal (0 < SIGMA <= 4), so
 *                         mu = ln(MS) - SIGMA^2 / 2
 *   client:MS             the request's own work_ms, MS when it has none
 *
 * Only 'client' honours a request's work_ms: with the others the server
 * decides, whatever the client asks. */
enum wl_dist_kind {
    WL_DIST_FIXED,
    WL_DIST_EXP,
    WL_DIST_LOGNORMAL,
    WL_DIST_CLIENT,
};

struct wl_dist {
    enum wl_dist_kind kind;
    double mean_ms;             /* In [0, WL_WORK_MAX_MS]. */
    double sigma;               /* Lognormal only. */
};

const char *wl_dist_parse(const char *s, size_t len, struct wl_dist *);

/* Writes the distribution as wl_dist_parse() reads it. */
void wl_dist_format(const struct wl_dist *, char *buf, size_t size);

/* The 'mu' of a lognormal with mean 'mean' and normal deviation 'sigma'. */
double wl_lognormal_mu(double mean, double sigma);

/* One service time, in milliseconds, for a request whose work is
 * 'work_ms' (negative: none given). */
double wl_dist_sample(const struct wl_dist *, struct wl_rng *,
                      double work_ms);

/* Latency histogram.
 *
 * Values are microseconds.  Below 2^WL_HIST_SUB_BITS they are counted
 * exactly; above, each power of two is split into 2^WL_HIST_SUB_BITS equal
 * buckets, so that a percentile is within 1/256 (0.4 %) of a recorded
 * value, whatever the range, in a fixed 59 KiB. */
#define WL_HIST_SUB_BITS 7
#define WL_HIST_SUB (1u << WL_HIST_SUB_BITS)
#define WL_HIST_BUCKETS (WL_HIST_SUB + (64 - WL_HIST_SUB_BITS) * WL_HIST_SUB)

struct wl_hist {
    uint64_t n;
    uint64_t min, max;
    double sum;
    uint64_t count[WL_HIST_BUCKETS];
};

void wl_hist_init(struct wl_hist *);
void wl_hist_add(struct wl_hist *, uint64_t us);
void wl_hist_merge(struct wl_hist *dst, const struct wl_hist *src);
double wl_hist_mean(const struct wl_hist *);

/* The value at percentile 'p' (0 < p <= 100), nearest rank: the smallest
 * recorded value such that at least p % of the values are no larger, up
 * to the bucket's resolution; clamped to the exact min and max.  0 for an
 * empty histogram. */
uint64_t wl_hist_percentile(const struct wl_hist *, double p);

/* Bucket of value 'us', and the smallest and largest values of a bucket;
 * exposed for the tests. */
unsigned int wl_hist_bucket(uint64_t us);
uint64_t wl_hist_bucket_low(unsigned int bucket);
uint64_t wl_hist_bucket_high(unsigned int bucket);

/* Numbers: digits with at most one '.', no sign, no exponent, at most 20
 * characters.  What strtod() would also take ("nan", "inf", "0x10",
 * " 1", "+1") is refused. */
bool wl_parse_number(const char *s, size_t len, double *);
bool wl_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *);

/* The request line, client to server, without its '\n' (a '\r' before it
 * is accepted and ignored):
 *
 *     REQ ID [WORK_MS]
 *
 * ID is 1 to WL_ID_MAX characters from [A-Za-z0-9._:-]; WORK_MS a number
 * from 0 to WL_WORK_MAX_MS.  Words are separated by single spaces or
 * tabs.  'work_ms' is set to -1 when absent. */
struct wl_request {
    char id[WL_ID_MAX + 1];
    double work_ms;
};

const char *wl_parse_request(const char *line, size_t len,
                             struct wl_request *);

/* The reply line, server to client, without its '\n':
 *
 *     OK ID INSTANCE WAIT_US SERVICE_US
 *     ERR ID REASON
 *
 * WAIT_US is the time the request waited for a slot, SERVICE_US its
 * service time.  ID is '-' when the request could not be read; REASON is
 * one word ("overloaded", "bad-request", "line-too-long", "shutdown"). */
struct wl_reply {
    bool ok;
    char id[WL_ID_MAX + 1];
    char instance[WL_NAME_MAX + 1];     /* OK: who served; ERR: reason. */
    uint64_t wait_us;
    uint64_t service_us;
};

const char *wl_parse_reply(const char *line, size_t len, struct wl_reply *);

/* Framing: a byte stream (one connection's input) into lines.
 *
 * wl_lines_feed() calls 'cb' for each complete line in 'data', after any
 * partial line kept from earlier calls, without its '\n' (the line may
 * point into 'lines', and is valid during the call only).  A line that
 * reaches WL_LINE_MAX bytes without a '\n' is not our protocol: the
 * stream cannot be trusted past it, so feeding stops with
 * WL_FEED_TOO_LONG.  When 'cb' returns false feeding stops at once with
 * WL_FEED_STOPPED, and '*lines' is not touched again: the callback may
 * have freed it.  Otherwise WL_FEED_OK, with any partial line kept. */
struct wl_lines {
    size_t len;
    char buf[WL_LINE_MAX];
};

enum wl_feed_result {
    WL_FEED_OK,
    WL_FEED_STOPPED,
    WL_FEED_TOO_LONG,
};

enum wl_feed_result wl_lines_feed(struct wl_lines *, const char *data,
                                  size_t len,
                                  bool (*cb)(const char *line, size_t len,
                                             void *aux),
                                  void *aux);

/* Both return the length written (without the NUL), or 0 if 'size' is too
 * small. */
size_t wl_format_ok(char *buf, size_t size, const char *id,
                    const char *instance, uint64_t wait_us,
                    uint64_t service_us);
size_t wl_format_err(char *buf, size_t size, const char *id,
                     const char *reason);

/* Control commands, one per line, on cats-serve's control socket:
 *
 *     speed X            service time multiplier, 0 < X <= WL_SPEED_MAX
 *                        (4: four times slower; 1: normal)
 *     background F       fraction of the slots kept busy by synthetic
 *                        work, 0 <= F <= 1
 *     slots N            worker slots, 1 <= N <= WL_SLOTS_MAX
 *     service-time DIST  the distribution, as wl_dist_parse()
 *     stats              the counters, one line
 *     reset              zero the counters, then as stats
 */
enum wl_ctl_op {
    WL_CTL_SPEED,
    WL_CTL_BACKGROUND,
    WL_CTL_SLOTS,
    WL_CTL_SERVICE_TIME,
    WL_CTL_STATS,
    WL_CTL_RESET,
};

struct wl_ctl {
    enum wl_ctl_op op;
    double value;               /* speed, background */
    unsigned int slots;
    struct wl_dist dist;
};

const char *wl_parse_control(const char *line, size_t len, struct wl_ctl *);

/* True if 'name' (NUL-terminated) is a valid instance or service name:
 * 1 to WL_NAME_MAX printable ASCII characters, no blanks. */
bool wl_name_valid(const char *name);

/* The metrics line for cats-agent's application socket (see
 * include/cats/agent-sources.h):
 *
 *     SERVICE IP:PORT in_flight=N queue=N [latency_ms=X] rps=X
 *
 * 'latency_ms' negative leaves the key out (nothing completed in the
 * interval: no measurement, which is not a latency of 0).  Returns the
 * length written, or 0 if 'size' is too small. */
size_t wl_format_report(char *buf, size_t size, const char *service,
                        const char *instance, uint64_t in_flight,
                        uint64_t queue, double latency_ms, double rps);

/* Parses "A.B.C.D:PORT" (PORT 1 to 65535) into network byte order
 * '*ip' and host byte order '*port'. */
bool wl_parse_ip_port(const char *s, uint32_t *ip, uint16_t *port);

#endif /* workload.h */

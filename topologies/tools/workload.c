/*
 * ovs-cats workload tools: pure parts (see workload.h).
 */

#include "workload.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(A) (sizeof (A) / sizeof (A)[0])

/* Random numbers: xoshiro256** (Blackman and Vigna), seeded through
 * splitmix64 so that any 64-bit seed, 0 included, gives a good state. */

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void
wl_rng_seed(struct wl_rng *rng, uint64_t seed)
{
    for (size_t i = 0; i < ARRAY_SIZE(rng->s); i++) {
        rng->s[i] = splitmix64(&seed);
    }
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
wl_rng_next(struct wl_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double
wl_rng_uniform(struct wl_rng *rng)
{
    /* The middle of one of 2^53 equal intervals: never 0, so that log()
     * below is always finite, and never 1. */
    return ((wl_rng_next(rng) >> 11) + 0.5) * 0x1.0p-53;
}

double
wl_rng_exp(struct wl_rng *rng, double mean)
{
    return -mean * log(wl_rng_uniform(rng));
}

double
wl_rng_normal(struct wl_rng *rng)
{
    /* Box-Muller; the second value of the pair is dropped so that the
     * generator's state is all there is. */
    double u1 = wl_rng_uniform(rng);
    double u2 = wl_rng_uniform(rng);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Numbers. */

bool
wl_parse_number(const char *s, size_t len, double *out)
{
    char buf[24];
    size_t i = 0;
    bool digits = false;

    if (!len || len > 20) {
        return false;
    }
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits = true;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits = true;
        }
    }
    if (!digits || i != len) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

bool
wl_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;

    if (!len || len > 20) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned int d = (unsigned char) s[i] - '0';

        if (d > 9 || x > (UINT64_MAX - d) / 10) {
            return false;
        }
        x = x * 10 + d;
    }
    if (x > max) {
        return false;
    }
    *out = x;
    return true;
}

/* Distributions. */

static const char *const dist_names[] = {
    [WL_DIST_FIXED] = "fixed",
    [WL_DIST_EXP] = "exp",
    [WL_DIST_LOGNORMAL] = "lognormal",
    [WL_DIST_CLIENT] = "client",
};

#define WL_SIGMA_MAX 4.0

const char *
wl_dist_parse(const char *s, size_t len, struct wl_dist *dist)
{
    const char *colon = memchr(s, ':', len);
    const char *arg, *comma;
    size_t name_len, arg_len;
    struct wl_dist d;
    size_t i;

    if (!colon) {
        return "distribution must be fixed:MS, exp:MS, lognormal:MS,SIGMA "
               "or client:MS";
    }
    name_len = colon - s;
    for (i = 0; i < ARRAY_SIZE(dist_names); i++) {
        if (strlen(dist_names[i]) == name_len
            && !memcmp(dist_names[i], s, name_len)) {
            break;
        }
    }
    if (i == ARRAY_SIZE(dist_names)) {
        return "unknown distribution (fixed, exp, lognormal or client)";
    }

    memset(&d, 0, sizeof d);
    d.kind = i;
    arg = colon + 1;
    arg_len = len - name_len - 1;
    comma = memchr(arg, ',', arg_len);
    if (d.kind == WL_DIST_LOGNORMAL) {
        if (!comma) {
            return "lognormal needs MS,SIGMA";
        }
        if (!wl_parse_number(comma + 1, arg + arg_len - comma - 1, &d.sigma)
            || d.sigma <= 0 || d.sigma > WL_SIGMA_MAX) {
            return "lognormal SIGMA must be a number in (0, 4]";
        }
        arg_len = comma - arg;
    } else if (comma) {
        return "only lognormal takes a second parameter";
    }
    if (!wl_parse_number(arg, arg_len, &d.mean_ms)
        || d.mean_ms > WL_WORK_MAX_MS) {
        return "mean must be a number of milliseconds from 0 to 600000";
    }
    if (d.kind == WL_DIST_LOGNORMAL && d.mean_ms <= 0) {
        return "lognormal mean must be positive";
    }
    *dist = d;
    return NULL;
}

void
wl_dist_format(const struct wl_dist *d, char *buf, size_t size)
{
    if (d->kind == WL_DIST_LOGNORMAL) {
        snprintf(buf, size, "%s:%g,%g", dist_names[d->kind], d->mean_ms,
                 d->sigma);
    } else {
        snprintf(buf, size, "%s:%g", dist_names[d->kind], d->mean_ms);
    }
}

double
wl_lognormal_mu(double mean, double sigma)
{
    /* E[X] = exp(mu + sigma^2 / 2) for X = exp(N(mu, sigma^2)). */
    return log(mean) - sigma * sigma / 2.0;
}

double
wl_dist_sample(const struct wl_dist *d, struct wl_rng *rng, double work_ms)
{
    double x;

    switch (d->kind) {
    case WL_DIST_FIXED:
        x = d->mean_ms;
        break;
    case WL_DIST_EXP:
        x = wl_rng_exp(rng, d->mean_ms);
        break;
    case WL_DIST_LOGNORMAL:
        x = exp(wl_lognormal_mu(d->mean_ms, d->sigma)
                + d->sigma * wl_rng_normal(rng));
        break;
    case WL_DIST_CLIENT:
    default:
        x = work_ms >= 0 ? work_ms : d->mean_ms;
        break;
    }
    /* The tails of an exponential or a wide lognormal are unbounded; a
     * server slot held for hours helps no experiment. */
    return x < WL_WORK_MAX_MS ? x : WL_WORK_MAX_MS;
}

/* Histogram. */

unsigned int
wl_hist_bucket(uint64_t v)
{
    unsigned int shift;

    if (v < WL_HIST_SUB) {
        return v;
    }
    shift = (63 - __builtin_clzll(v)) - WL_HIST_SUB_BITS;
    return WL_HIST_SUB + shift * WL_HIST_SUB
           + (unsigned int) ((v >> shift) - WL_HIST_SUB);
}

uint64_t
wl_hist_bucket_low(unsigned int b)
{
    unsigned int shift, sub;

    if (b < WL_HIST_SUB) {
        return b;
    }
    shift = (b - WL_HIST_SUB) / WL_HIST_SUB;
    sub = (b - WL_HIST_SUB) % WL_HIST_SUB;
    return (uint64_t) (WL_HIST_SUB + sub) << shift;
}

uint64_t
wl_hist_bucket_high(unsigned int b)
{
    unsigned int shift;

    if (b < WL_HIST_SUB) {
        return b;
    }
    shift = (b - WL_HIST_SUB) / WL_HIST_SUB;
    return wl_hist_bucket_low(b) + ((UINT64_C(1) << shift) - 1);
}

void
wl_hist_init(struct wl_hist *h)
{
    memset(h, 0, sizeof *h);
}

void
wl_hist_add(struct wl_hist *h, uint64_t us)
{
    if (!h->n || us < h->min) {
        h->min = us;
    }
    if (!h->n || us > h->max) {
        h->max = us;
    }
    h->n++;
    h->sum += us;
    h->count[wl_hist_bucket(us)]++;
}

void
wl_hist_merge(struct wl_hist *dst, const struct wl_hist *src)
{
    if (!src->n) {
        return;
    }
    if (!dst->n || src->min < dst->min) {
        dst->min = src->min;
    }
    if (!dst->n || src->max > dst->max) {
        dst->max = src->max;
    }
    dst->n += src->n;
    dst->sum += src->sum;
    for (size_t i = 0; i < WL_HIST_BUCKETS; i++) {
        dst->count[i] += src->count[i];
    }
}

double
wl_hist_mean(const struct wl_hist *h)
{
    return h->n ? h->sum / h->n : 0.0;
}

uint64_t
wl_hist_percentile(const struct wl_hist *h, double p)
{
    uint64_t rank, seen = 0;

    if (!h->n) {
        return 0;
    }
    /* Nearest rank: ceil(p/100 * n), with a little slack so that 99.9 % of
     * 1000 is rank 999 and not 1000 through rounding. */
    double r = ceil(p / 100.0 * (double) h->n - 1e-9);
    rank = r < 1 ? 1 : r > h->n ? h->n : (uint64_t) r;

    for (unsigned int b = 0; b < WL_HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t lo = wl_hist_bucket_low(b);
            uint64_t v = lo + (wl_hist_bucket_high(b) - lo) / 2;

            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* Lines. */

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits 'line' (its trailing '\r' removed) into at most 'max' words.
 * Returns the number of words, or -1 with '*error' set. */
static int
split_words(const char *line, size_t len, const char *words[],
            size_t lens[], int max, const char **error)
{
    const char *p = line, *end;
    int n = 0;

    if (len >= WL_LINE_MAX) {
        *error = "line too long";
        return -1;
    }
    if (len && line[len - 1] == '\r') {
        len--;
    }
    end = line + len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = line[i];

        if ((c < 0x20 && c != '\t') || c >= 0x7f) {
            *error = "not printable ASCII";
            return -1;
        }
    }
    for (;;) {
        while (p < end && is_blank(*p)) {
            p++;
        }
        if (p >= end) {
            break;
        }
        if (n == max) {
            *error = "too many words";
            return -1;
        }
        words[n] = p;
        while (p < end && !is_blank(*p)) {
            p++;
        }
        lens[n] = p - words[n];
        n++;
    }
    if (!n) {
        *error = "empty line";
        return -1;
    }
    return n;
}

static bool
word_is(const char *w, size_t len, const char *s)
{
    return len == strlen(s) && !memcmp(w, s, len);
}

static bool
id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':'
           || c == '-';
}

static bool
copy_id(const char *w, size_t len, char id[WL_ID_MAX + 1])
{
    if (!len || len > WL_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!id_char(w[i])) {
            return false;
        }
    }
    memcpy(id, w, len);
    id[len] = '\0';
    return true;
}

/* Words are printable and blank-free already (split_words()). */
static bool
copy_name(const char *w, size_t len, char name[WL_NAME_MAX + 1])
{
    if (!len || len > WL_NAME_MAX) {
        return false;
    }
    memcpy(name, w, len);
    name[len] = '\0';
    return true;
}

const char *
wl_parse_request(const char *line, size_t len, struct wl_request *req)
{
    const char *words[3];
    size_t lens[3];
    const char *error;
    int n;

    n = split_words(line, len, words, lens, 3, &error);
    if (n < 0) {
        return error;
    }
    if (!word_is(words[0], lens[0], "REQ")) {
        return "unknown command (expected REQ)";
    }
    if (n < 2) {
        return "REQ needs an ID";
    }
    if (!copy_id(words[1], lens[1], req->id)) {
        return "ID must be 1 to 40 characters from [A-Za-z0-9._:-]";
    }
    req->work_ms = -1;
    if (n == 3 && (!wl_parse_number(words[2], lens[2], &req->work_ms)
                   || req->work_ms > WL_WORK_MAX_MS)) {
        return "WORK_MS must be a number from 0 to 600000";
    }
    return NULL;
}

const char *
wl_parse_reply(const char *line, size_t len, struct wl_reply *reply)
{
    const char *words[5];
    size_t lens[5];
    const char *error;
    int n;

    n = split_words(line, len, words, lens, 5, &error);
    if (n < 0) {
        return error;
    }
    if (word_is(words[0], lens[0], "OK")) {
        reply->ok = true;
        if (n != 5) {
            return "OK needs ID INSTANCE WAIT_US SERVICE_US";
        }
    } else if (word_is(words[0], lens[0], "ERR")) {
        reply->ok = false;
        if (n != 3) {
            return "ERR needs ID REASON";
        }
    } else {
        return "unknown reply (expected OK or ERR)";
    }
    if (word_is(words[1], lens[1], "-")) {
        strcpy(reply->id, "-");
    } else if (!copy_id(words[1], lens[1], reply->id)) {
        return "bad ID";
    }
    if (!copy_name(words[2], lens[2], reply->instance)) {
        return reply->ok ? "bad INSTANCE" : "bad REASON";
    }
    reply->wait_us = reply->service_us = 0;
    if (reply->ok
        && (!wl_parse_uint(words[3], lens[3], INT64_MAX, &reply->wait_us)
            || !wl_parse_uint(words[4], lens[4], INT64_MAX,
                              &reply->service_us))) {
        return "WAIT_US and SERVICE_US must be integers";
    }
    return NULL;
}

enum wl_feed_result
wl_lines_feed(struct wl_lines *lines, const char *data, size_t len,
              bool (*cb)(const char *line, size_t len, void *aux), void *aux)
{
    const char *p = data, *end = data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        size_t n = (nl ? nl : end) - p;
        const char *line = p;

        if (lines->len + n >= WL_LINE_MAX) {
            return WL_FEED_TOO_LONG;
        }
        if (!nl) {
            memcpy(lines->buf + lines->len, p, n);
            lines->len += n;
            break;
        }
        if (lines->len) {
            memcpy(lines->buf + lines->len, p, n);
            line = lines->buf;
            n += lines->len;
            lines->len = 0;
        }
        p = nl + 1;
        if (!cb(line, n, aux)) {
            return WL_FEED_STOPPED;
        }
    }
    return WL_FEED_OK;
}

static size_t
format_result(int n, size_t size)
{
    return n > 0 && (size_t) n < size ? n : 0;
}

size_t
wl_format_ok(char *buf, size_t size, const char *id, const char *instance,
             uint64_t wait_us, uint64_t service_us)
{
    return format_result(snprintf(buf, size, "OK %s %s %llu %llu\n", id,
                                  instance, (unsigned long long) wait_us,
                                  (unsigned long long) service_us), size);
}

size_t
wl_format_err(char *buf, size_t size, const char *id, const char *reason)
{
    return format_result(snprintf(buf, size, "ERR %s %s\n", id, reason),
                         size);
}

const char *
wl_parse_control(const char *line, size_t len, struct wl_ctl *ctl)
{
    const char *words[3];
    size_t lens[3];
    const char *error;
    uint64_t slots;
    int n;

    n = split_words(line, len, words, lens, 3, &error);
    if (n < 0) {
        return error;
    }
    memset(ctl, 0, sizeof *ctl);
#define VERB_IS(S) word_is(words[0], lens[0], S)
    if (VERB_IS("stats") || VERB_IS("reset")) {
        ctl->op = VERB_IS("stats") ? WL_CTL_STATS : WL_CTL_RESET;
        return n == 1 ? NULL : "takes no argument";
    }
    if (!VERB_IS("speed") && !VERB_IS("background") && !VERB_IS("slots")
        && !VERB_IS("service-time")) {
        return "unknown command (speed, background, slots, service-time, "
               "stats, reset)";
    }
    if (n != 2) {
        return "takes one argument";
    }
    if (VERB_IS("speed")) {
        ctl->op = WL_CTL_SPEED;
        if (!wl_parse_number(words[1], lens[1], &ctl->value)
            || ctl->value <= 0 || ctl->value > WL_SPEED_MAX) {
            return "speed must be a number in (0, 1000]";
        }
    } else if (VERB_IS("background")) {
        ctl->op = WL_CTL_BACKGROUND;
        if (!wl_parse_number(words[1], lens[1], &ctl->value)
            || ctl->value > 1) {
            return "background must be a number from 0 to 1";
        }
    } else if (VERB_IS("slots")) {
        ctl->op = WL_CTL_SLOTS;
        if (!wl_parse_uint(words[1], lens[1], WL_SLOTS_MAX, &slots)
            || !slots) {
            return "slots must be an integer from 1 to 100000";
        }
        ctl->slots = slots;
    } else {
        ctl->op = WL_CTL_SERVICE_TIME;
        return wl_dist_parse(words[1], lens[1], &ctl->dist);
    }
#undef VERB_IS
    return NULL;
}

bool
wl_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (!len || len > WL_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (name[i] <= 0x20 || name[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* The agent refuses a latency above an hour (cats_metric_max()): a line it
 * refuses would lose in_flight and queue too. */
#define WL_REPORT_LATENCY_MAX 3600000.0

size_t
wl_format_report(char *buf, size_t size, const char *service,
                 const char *instance, uint64_t in_flight, uint64_t queue,
                 double latency_ms, double rps)
{
    char latency[48] = "";

    if (latency_ms >= 0) {
        snprintf(latency, sizeof latency, " latency_ms=%.3f",
                 latency_ms < WL_REPORT_LATENCY_MAX
                 ? latency_ms : WL_REPORT_LATENCY_MAX);
    }
    return format_result(snprintf(buf, size,
                                  "%s %s in_flight=%llu queue=%llu%s "
                                  "rps=%.2f\n", service, instance,
                                  (unsigned long long) in_flight,
                                  (unsigned long long) queue, latency,
                                  rps >= 0 ? rps : 0.0), size);
}

bool
wl_parse_ip_port(const char *s, uint32_t *ip, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    char addr[16];
    uint64_t p;
    struct in_addr in;

    if (!colon || colon - s >= (ptrdiff_t) sizeof addr
        || !wl_parse_uint(colon + 1, strlen(colon + 1), 65535, &p) || !p) {
        return false;
    }
    memcpy(addr, s, colon - s);
    addr[colon - s] = '\0';
    if (inet_pton(AF_INET, addr, &in) != 1) {
        return false;
    }
    *ip = in.s_addr;
    *port = p;
    return true;
}

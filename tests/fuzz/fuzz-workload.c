/*
 * libFuzzer target for the workload tools' line handling
 * (topologies/tools/workload.h): what cats-serve reads from any client
 * (framing, request lines, control commands) and what cats-load reads
 * from any server (reply lines).
 *
 * The first input byte seeds the chunking; the rest is a byte stream.
 * Besides crashes and sanitizer reports it checks the contracts:
 *
 *   - framing: fed in arbitrary chunks, wl_lines_feed() yields exactly the
 *     lines of the whole stream split at '\n', in order, until a line
 *     reaches WL_LINE_MAX (then it reports WL_FEED_TOO_LONG), and stops at
 *     once when its callback says so;
 *   - every parser either refuses with a one-line message or returns
 *     values inside the documented ranges: ids from the id alphabet,
 *     printable names, numbers in range, distributions that sample finite
 *     values under the cap;
 *   - what the server would answer (wl_format_ok() of a parsed id) reads
 *     back the same through the client's parser.
 *
 * Run: tests/fuzz/run.sh, or
 *   build/fuzz/fuzz-workload -dict=tests/fuzz/workload.dict \
 *       build/fuzz/corpus-workload tests/fuzz/corpus/workload
 */

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "workload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_error(const char *error)
{
    if (!error || !error[0] || strchr(error, '\n')) {
        abort();
    }
}

static bool
is_id(const char *id)
{
    size_t len = strlen(id);

    if (!len || len > WL_ID_MAX) {
        return false;
    }
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789._:-") == len;
}

static void
check_dist(const struct wl_dist *d)
{
    struct wl_rng rng;

    if (d->kind > WL_DIST_CLIENT || !(d->mean_ms >= 0)
        || d->mean_ms > WL_WORK_MAX_MS) {
        abort();
    }
    if (d->kind == WL_DIST_LOGNORMAL && !(d->sigma > 0 && d->sigma <= 4)) {
        abort();
    }
    wl_rng_seed(&rng, 1);
    for (int i = 0; i < 4; i++) {
        double x = wl_dist_sample(d, &rng, -1);

        if (!(x >= 0) || x > WL_WORK_MAX_MS) {
            abort();
        }
    }
}

static void
parse_request(const char *line, size_t len)
{
    struct wl_request req;
    struct wl_reply reply;
    const char *error = wl_parse_request(line, len, &req);
    char buf[WL_LINE_MAX];
    size_t n;

    if (error) {
        check_error(error);
        return;
    }
    if (!is_id(req.id)
        || !(req.work_ms == -1
             || (req.work_ms >= 0 && req.work_ms <= WL_WORK_MAX_MS))) {
        abort();
    }
    /* The server's answer to it reads back the same at the client. */
    n = wl_format_ok(buf, sizeof buf, req.id, "i1", 12, 34);
    if (!n || buf[n - 1] != '\n'
        || wl_parse_reply(buf, n - 1, &reply)
        || !reply.ok || strcmp(reply.id, req.id)
        || strcmp(reply.instance, "i1")
        || reply.wait_us != 12 || reply.service_us != 34) {
        abort();
    }
}

static void
parse_control(const char *line, size_t len)
{
    struct wl_ctl ctl;
    const char *error = wl_parse_control(line, len, &ctl);

    if (error) {
        check_error(error);
        return;
    }
    switch (ctl.op) {
    case WL_CTL_SPEED:
        if (!(ctl.value > 0 && ctl.value <= WL_SPEED_MAX)) {
            abort();
        }
        break;
    case WL_CTL_BACKGROUND:
        if (!(ctl.value >= 0 && ctl.value <= 1)) {
            abort();
        }
        break;
    case WL_CTL_SLOTS:
        if (!ctl.slots || ctl.slots > WL_SLOTS_MAX) {
            abort();
        }
        break;
    case WL_CTL_SERVICE_TIME:
        check_dist(&ctl.dist);
        break;
    case WL_CTL_STATS:
    case WL_CTL_RESET:
        break;
    default:
        abort();
    }
}

static void
parse_reply(const char *line, size_t len)
{
    struct wl_reply reply;
    const char *error = wl_parse_reply(line, len, &reply);

    if (error) {
        check_error(error);
        return;
    }
    if ((strcmp(reply.id, "-") && !is_id(reply.id))
        || !wl_name_valid(reply.instance)
        || reply.wait_us > INT64_MAX || reply.service_us > INT64_MAX) {
        abort();
    }
}

static void
parse_dist(const char *s, size_t len)
{
    struct wl_dist d;
    const char *error = wl_dist_parse(s, len, &d);

    if (error) {
        check_error(error);
    } else {
        check_dist(&d);
    }
}

/* Framing. */

struct collect {
    const char *stream;         /* The whole input, to check against. */
    size_t size;
    size_t pos;                 /* Where the next expected line starts. */
    size_t n_lines;
    size_t stop_after;          /* Callback returns false at this line. */
    bool stopped;
};

static bool
on_line(const char *line, size_t len, void *aux)
{
    struct collect *c = aux;
    const char *nl = memchr(c->stream + c->pos, '\n', c->size - c->pos);

    /* The next line of the whole stream, exactly. */
    if (!nl || (size_t) (nl - (c->stream + c->pos)) != len
        || memcmp(line, c->stream + c->pos, len) || len >= WL_LINE_MAX) {
        abort();
    }
    c->pos += len + 1;
    c->n_lines++;

    /* What the server does with each line. */
    parse_request(line, len);
    parse_control(line, len);

    if (c->n_lines == c->stop_after) {
        c->stopped = true;
        return false;
    }
    return true;
}

static void
check_framing(const char *stream, size_t size, uint8_t seed)
{
    struct wl_lines *lines = malloc(sizeof *lines);
    struct collect c = {
        .stream = stream, .size = size, .stop_after = seed >> 5,
    };
    enum wl_feed_result r = WL_FEED_OK;
    struct wl_rng rng;
    size_t fed = 0;

    lines->len = 0;
    wl_rng_seed(&rng, seed);
    while (fed < size) {
        size_t chunk = 1 + wl_rng_next(&rng) % (seed & 1 ? 7 : 300);

        if (chunk > size - fed) {
            chunk = size - fed;
        }
        r = wl_lines_feed(lines, stream + fed, chunk, on_line, &c);
        fed += chunk;
        if (r != WL_FEED_OK) {
            break;
        }
    }
    if (r == WL_FEED_STOPPED) {
        if (!c.stopped) {
            abort();
        }
    } else if (r == WL_FEED_TOO_LONG) {
        /* Only when the line in progress really is that long. */
        const char *nl = memchr(stream + c.pos, '\n', size - c.pos);
        size_t len = (nl ? (size_t) (nl - stream) : size) - c.pos;

        if (len < WL_LINE_MAX) {
            abort();
        }
    } else {
        /* Everything fed: the rest is the partial line kept. */
        if (c.stopped || lines->len != size - c.pos
            || memchr(stream + c.pos, '\n', size - c.pos)
            || memcmp(lines->buf, stream + c.pos, lines->len)) {
            abort();
        }
    }
    free(lines);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s;

    if (!size) {
        return 0;
    }
    /* A copy of exactly the input, so that ASan sees any read past it. */
    s = size > 1 ? malloc(size - 1) : NULL;
    if (size > 1) {
        memcpy((char *) s, data + 1, size - 1);
    }

    /* The whole input as one line, for each parser. */
    if (size > 1) {
        parse_request(s, size - 1);
        parse_control(s, size - 1);
        parse_reply(s, size - 1);
        parse_dist(s, size - 1);
        check_framing(s, size - 1, data[0]);
    }
    free((char *) s);
    return 0;
}

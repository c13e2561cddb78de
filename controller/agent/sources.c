/*
 * cats-agent: metric sources and their parsers (include/cats/agent-sources.h).
 *
 * The parsers take text that other programs wrote (the kernel, the
 * applications on the node, their Prometheus endpoints) and refuse
 * anything that is not exactly what they expect: a wrong value would steer
 * traffic, so "not measured" is always the safer answer.
 */

#include <config.h>

#include "cats/agent-sources.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cats/catalog.h"
#include "cats/config.h"
#include "openvswitch/poll-loop.h"
#include "packets.h"
#include "socket-util.h"
#include "stream.h"
#include "util.h"

/* Values quoted in error messages are cut to this many bytes, so that one
 * bad input cannot make a long log line. */
#define QUOTE_MAX 40

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses the 'len' bytes at 's' as an unsigned decimal integer without
 * sign or leading blanks.  Returns false on anything else or overflow. */
static bool
parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t x = 0;

    if (!len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned int d = (unsigned char) s[i] - '0';

        if (d > 9 || x > (UINT64_MAX - d) / 10) {
            return false;
        }
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

/* Parses the 'len' bytes at 's' as a plain decimal number: digits, at most
 * one '.', an optional exponent, no sign, no blanks, not "nan" or "inf" or
 * hexadecimal (strtod() alone would take all of those).  Returns false if
 * it is not one, or if it is not finite ("1e999"). */
static bool
parse_decimal(const char *s, size_t len, double *out)
{
    char buf[64];
    size_t i = 0;
    bool digits = false;
    char *end;

    if (!len || len >= sizeof buf) {
        return false;
    }
    while (i < len && isdigit((unsigned char) s[i])) {
        i++;
        digits = true;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char) s[i])) {
            i++;
            digits = true;
        }
    }
    if (!digits) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        if (i >= len || !isdigit((unsigned char) s[i])) {
            return false;
        }
        while (i < len && isdigit((unsigned char) s[i])) {
            i++;
        }
    }
    if (i != len) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, &end);
    return end == &buf[len] && isfinite(*out);
}

/* /proc/stat. */

char *
cats_agent_parse_proc_stat(const char *text, struct cats_cpu_sample *sample)
{
    const char *p = text;

    /* The aggregate line is "cpu" followed by blanks; "cpu0" and the others
     * are per CPU. */
    while (strncmp(p, "cpu", 3) || !is_blank(p[3])) {
        p = strchr(p, '\n');
        if (!p) {
            return xstrdup("/proc/stat: no aggregate 'cpu' line");
        }
        p++;
    }
    p += 3;

    struct cats_cpu_sample s = { .n_fields = 0 };
    for (;;) {
        const char *start;

        while (is_blank(*p)) {
            p++;
        }
        if (*p == '\n' || *p == '\0') {
            break;
        }
        start = p;
        while (*p && !is_blank(*p) && *p != '\n') {
            p++;
        }
        uint64_t x;
        if (!parse_u64(start, p - start, &x)) {
            return xasprintf("/proc/stat: cpu field %u: '%.*s' is not a "
                             "counter", s.n_fields + 1,
                             (int) MIN(p - start, QUOTE_MAX), start);
        }
        if (s.n_fields < CATS_CPU_FIELDS) {
            s.field[s.n_fields++] = x;
        }
    }
    if (s.n_fields < 4) {
        return xasprintf("/proc/stat: cpu line has %u fields, expected at "
                         "least 4 (user nice system idle)", s.n_fields);
    }
    *sample = s;
    return NULL;
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

bool
cats_agent_cpu_util(const struct cats_cpu_sample *prev,
                    const struct cats_cpu_sample *cur, double *util)
{
    unsigned int n = MIN(prev->n_fields, cur->n_fields);
    uint64_t up = 0, down = 0, idle = 0;

    if (n < 4) {
        return false;
    }
    for (unsigned int i = 0; i < n; i++) {
        uint64_t a = prev->field[i], b = cur->field[i];

        if (b >= a) {
            up = sat_add(up, b - a);
            if (i == 3 || i == 4) {     /* idle, iowait */
                idle = sat_add(idle, b - a);
            }
        } else {
            down = sat_add(down, a - b);
        }
    }
    /* A total that went backwards is a reset or a wrap (or samples taken
     * out of order): its deltas mean nothing. */
    if (!up || down > up) {
        return false;
    }
    *util = 1.0 - (double) idle / (double) up;
    *util = MAX(0.0, MIN(1.0, *util));
    return true;
}

/* /proc/loadavg: "0.52 0.58 0.59 2/467 12345". */

char *
cats_agent_parse_loadavg(const char *text, unsigned int n_cpus,
                         double *per_cpu)
{
    const char *p = text;
    double load[3];

    if (!n_cpus) {
        return xstrdup("/proc/loadavg: no online CPU");
    }
    for (int i = 0; i < 4; i++) {
        const char *start;

        while (is_blank(*p)) {
            p++;
        }
        start = p;
        while (*p && !is_blank(*p) && *p != '\n') {
            p++;
        }
        if (p == start) {
            return xasprintf("/proc/loadavg: truncated (%d fields, expected "
                             "at least 4)", i);
        }
        if (i < 3) {
            if (!parse_decimal(start, p - start, &load[i])) {
                return xasprintf("/proc/loadavg: field %d: '%.*s' is not a "
                                 "load average", i + 1,
                                 (int) MIN(p - start, QUOTE_MAX), start);
            }
        } else {
            const char *slash = memchr(start, '/', p - start);
            uint64_t running, total;

            if (!slash || !parse_u64(start, slash - start, &running)
                || !parse_u64(slash + 1, p - slash - 1, &total)) {
                return xasprintf("/proc/loadavg: field 4: '%.*s' is not "
                                 "RUNNING/TOTAL",
                                 (int) MIN(p - start, QUOTE_MAX), start);
            }
        }
    }

    double x = load[0] / n_cpus;
    if (x > cats_metric_max(CATS_METRIC_LOAD)) {
        return xasprintf("/proc/loadavg: load %g per CPU is out of range",
                         x);
    }
    *per_cpu = x;
    return NULL;
}

/* /proc/meminfo: "MemTotal:       16314328 kB" lines. */

static char *
meminfo_value(const char *text, const char *key, uint64_t *kb)
{
    size_t key_len = strlen(key);
    const char *p = text;

    for (;;) {
        if (!strncmp(p, key, key_len) && p[key_len] == ':') {
            const char *start;

            p += key_len + 1;
            while (is_blank(*p)) {
                p++;
            }
            start = p;
            while (isdigit((unsigned char) *p)) {
                p++;
            }
            if (!parse_u64(start, p - start, kb)
                || *kb > UINT64_MAX / 1024
                || (strncmp(p, " kB", 3) || (p[3] != '\n' && p[3] != '\0'))) {
                const char *eol = strchrnul(start, '\n');

                return xasprintf("/proc/meminfo: %s: '%.*s' is not a size "
                                 "in kB", key,
                                 (int) MIN(eol - start, QUOTE_MAX), start);
            }
            return NULL;
        }
        p = strchr(p, '\n');
        if (!p) {
            return xasprintf("/proc/meminfo: no %s", key);
        }
        p++;
    }
}

char *
cats_agent_parse_meminfo(const char *text, double *util)
{
    uint64_t total, avail;
    char *error;

    error = meminfo_value(text, "MemTotal", &total);
    if (!error) {
        error = meminfo_value(text, "MemAvailable", &avail);
    }
    if (error) {
        return error;
    }
    if (!total) {
        return xstrdup("/proc/meminfo: MemTotal is 0");
    }
    if (avail > total) {
        return xasprintf("/proc/meminfo: MemAvailable %"PRIu64" kB exceeds "
                         "MemTotal %"PRIu64" kB", avail, total);
    }
    *util = 1.0 - (double) avail / (double) total;
    return NULL;
}

/* Application lines. */

/* The service metrics an application may send, by key. */
static const struct app_key {
    const char *name;
    enum cats_metric metric;
    bool integer;
} app_keys[] = {
    { "in_flight", CATS_METRIC_IN_FLIGHT, true },
    { "queue", CATS_METRIC_QUEUE, true },
    { "latency_ms", CATS_METRIC_LATENCY, false },
    { "rps", CATS_METRIC_RPS, false },
    { "tps", CATS_METRIC_TPS, false },
};

static char *
parse_app_token(const char *tok, size_t len, struct cats_agent_app_update *u,
                uint32_t *seen)
{
    const char *eq = memchr(tok, '=', len);
    const char *value;
    size_t key_len, value_len;

    if (!eq) {
        return xasprintf("'%.*s' is not key=value", (int) MIN(len, QUOTE_MAX),
                         tok);
    }
    key_len = eq - tok;
    value = eq + 1;
    value_len = len - key_len - 1;

#define KEY_IS(NAME) (key_len == strlen(NAME) && !memcmp(tok, NAME, key_len))
    for (size_t i = 0; i < ARRAY_SIZE(app_keys); i++) {
        const struct app_key *k = &app_keys[i];
        double max = cats_metric_max(k->metric);
        double x;

        if (!KEY_IS(k->name)) {
            continue;
        }
        if (*seen & (UINT32_C(1) << i)) {
            return xasprintf("key '%s' given twice", k->name);
        }
        *seen |= UINT32_C(1) << i;

        bool ok;
        if (k->integer) {
            uint64_t n;

            ok = parse_u64(value, value_len, &n) && n <= max;
            x = n;
        } else {
            ok = parse_decimal(value, value_len, &x) && x <= max;
        }
        if (!ok) {
            return xasprintf("key '%s': '%.*s' is not %s between 0 and %.15g",
                             k->name, (int) MIN(value_len, QUOTE_MAX), value,
                             k->integer ? "an integer" : "a number", max);
        }
        u->metrics.present |= UINT32_C(1) << k->metric;
        u->metrics.value[k->metric] = x;
        return NULL;
    }

    uint32_t bit = UINT32_C(1) << ARRAY_SIZE(app_keys);
    if (KEY_IS("health")) {
        if (*seen & bit) {
            return xstrdup("key 'health' given twice");
        }
        *seen |= bit;
#define VALUE_IS(NAME) (value_len == strlen(NAME) \
                        && !memcmp(value, NAME, value_len))
        if (VALUE_IS("serving")) {
            u->health = CATS_HEALTH_SERVING;
        } else if (VALUE_IS("not_serving")) {
            u->health = CATS_HEALTH_NOT_SERVING;
        } else if (VALUE_IS("draining")) {
            u->health = CATS_HEALTH_DRAINING;
        } else {
            return xasprintf("key 'health': '%.*s' is not serving, "
                             "not_serving or draining",
                             (int) MIN(value_len, QUOTE_MAX), value);
        }
#undef VALUE_IS
        u->has_health = true;
        return NULL;
    }
    bit <<= 1;
    if (KEY_IS("l2")) {
        double x;

        if (*seen & bit) {
            return xstrdup("key 'l2' given twice");
        }
        *seen |= bit;
        if (!parse_decimal(value, value_len, &x) || x > CATS_SCORE_MAX) {
            return xasprintf("key 'l2': '%.*s' is not a number between 0 "
                             "and %g", (int) MIN(value_len, QUOTE_MAX), value,
                             CATS_SCORE_MAX);
        }
        u->has_l2 = true;
        u->l2 = x;
        return NULL;
    }
#undef KEY_IS
    return xasprintf("unknown key '%.*s' (expected in_flight, queue, "
                     "latency_ms, rps, tps, health or l2)",
                     (int) MIN(key_len, QUOTE_MAX), tok);
}

char *
cats_agent_parse_app_line(const char *line, size_t len,
                          struct cats_agent_app_update *u)
{
    struct cats_agent_app_update up;
    const char *p = line, *end = line + len;
    uint32_t seen = 0;
    int n_tokens = 0;

    if (len > CATS_AGENT_LINE_MAX) {
        return xasprintf("line of %"PRIuSIZE" bytes is longer than %d", len,
                         CATS_AGENT_LINE_MAX);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = line[i];

        if (c == '\0') {
            return xasprintf("NUL byte at column %"PRIuSIZE, i + 1);
        } else if ((c < 0x20 && c != '\t') || c >= 0x7f) {
            return xasprintf("byte 0x%02x at column %"PRIuSIZE" is not "
                             "printable ASCII", c, i + 1);
        }
    }

    memset(&up, 0, sizeof up);
    for (;;) {
        const char *tok;
        size_t tok_len;
        char *error;

        while (p < end && is_blank(*p)) {
            p++;
        }
        if (p >= end) {
            break;
        }
        tok = p;
        while (p < end && !is_blank(*p)) {
            p++;
        }
        tok_len = p - tok;

        if (n_tokens == 0) {
            if (tok_len > CATS_NAME_MAX) {
                return xasprintf("service name '%.*s...' is longer than %d",
                                 QUOTE_MAX, tok, CATS_NAME_MAX);
            }
            memcpy(up.key.service, tok, tok_len);
            up.key.service[tok_len] = '\0';
        } else if (n_tokens == 1) {
            char addr[32];

            if (tok_len >= sizeof addr) {
                return xasprintf("'%.*s' is not IPv4:PORT",
                                 (int) MIN(tok_len, QUOTE_MAX), tok);
            }
            memcpy(addr, tok, tok_len);
            addr[tok_len] = '\0';
            error = cats_parse_ip_port(addr, &up.key.ip, &up.key.port);
            if (error) {
                return error;
            }
        } else {
            error = parse_app_token(tok, tok_len, &up, &seen);
            if (error) {
                char *msg = xasprintf("%s "IP_FMT":%"PRIu16": %s",
                                      up.key.service, IP_ARGS(up.key.ip),
                                      up.key.port, error);
                free(error);
                return msg;
            }
        }
        n_tokens++;
    }
    if (n_tokens == 0) {
        return xstrdup("empty line");
    } else if (n_tokens == 1) {
        return xasprintf("%s: missing IP:PORT", up.key.service);
    } else if (n_tokens == 2) {
        return xasprintf("%s "IP_FMT":%"PRIu16": no key=value (in_flight, "
                         "queue, latency_ms, rps, tps, health or l2)",
                         up.key.service, IP_ARGS(up.key.ip), up.key.port);
    }
    *u = up;
    return NULL;
}

size_t
cats_agent_parse_app_text(
    const char *text, size_t len,
    void (*good)(size_t line_no, const struct cats_agent_app_update *,
                 void *aux),
    void (*bad)(size_t line_no, const char *error, void *aux),
    void *aux)
{
    const char *p = text, *end = text + len;
    size_t line_no = 0, n_bad = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        const char *eol = nl ? nl : end;
        size_t n = eol - p;
        bool blank = true;

        line_no++;
        if (n && p[n - 1] == '\r') {
            n--;
        }
        for (size_t i = 0; i < n && blank; i++) {
            blank = is_blank(p[i]);
        }
        if (!blank) {
            struct cats_agent_app_update u;
            char *error = cats_agent_parse_app_line(p, n, &u);

            if (error) {
                n_bad++;
                if (bad) {
                    bad(line_no, error, aux);
                }
                free(error);
            } else if (good) {
                good(line_no, &u, aux);
            }
        }
        p = nl ? nl + 1 : end;
    }
    return n_bad;
}

/* Prometheus text format.
 *
 * The grammar, per line (https://prometheus.io/docs/instrumenting/
 * exposition_formats/, and what Prometheus's own parser accepts):
 *
 *     # HELP NAME DOCSTRING          docstring escapes: \\ \n
 *     # TYPE NAME counter|gauge|histogram|summary|untyped
 *     # anything else                a comment
 *     NAME [{LABEL="VALUE"[,LABEL="VALUE"]...[,]}] VALUE [TIMESTAMP]
 *
 * NAME is [a-zA-Z_:][a-zA-Z0-9_:]*, LABEL [a-zA-Z_][a-zA-Z0-9_]*, label
 * values escape \\ \" \n, VALUE a Go float (decimal or exponent, "NaN",
 * "+Inf", "-Inf"), TIMESTAMP an integer (ms).  Blanks are spaces and tabs;
 * leading and trailing ones are ignored.  The rules that span lines (one
 * TYPE per name, before its samples; no duplicate label sets) are not
 * checked: they say nothing about the values read here. */

static bool
prom_name_start(char c)
{
    return isalpha((unsigned char) c) || c == '_' || c == ':';
}

static bool
prom_name_char(char c)
{
    return prom_name_start(c) || isdigit((unsigned char) c);
}

bool
cats_agent_prom_name_valid(const char *name)
{
    if (!prom_name_start(*name)) {
        return false;
    }
    while (*++name) {
        if (!prom_name_char(*name)) {
            return false;
        }
    }
    return true;
}

void
cats_agent_prom_queries_clear(struct cats_agent_prom_query *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(q[i].error);
        q[i].error = NULL;
        q[i].sum = 0.0;
        q[i].n_samples = 0;
    }
}

/* A line being parsed. */
struct prom_line {
    const char *p, *end;
    size_t no;
};

static void
prom_skip_blanks(struct prom_line *l)
{
    while (l->p < l->end && is_blank(*l->p)) {
        l->p++;
    }
}

static size_t
prom_name(struct prom_line *l, bool label)
{
    const char *start = l->p;

    if (l->p >= l->end || !prom_name_start(*l->p)
        || (label && *l->p == ':')) {
        return 0;
    }
    l->p++;
    while (l->p < l->end && prom_name_char(*l->p)
           && !(label && *l->p == ':')) {
        l->p++;
    }
    return l->p - start;
}

static char *
prom_error(const struct prom_line *l, const char *what)
{
    return xasprintf("line %"PRIuSIZE": %s", l->no, what);
}

/* A Go ParseFloat value: a decimal number with optional sign, or NaN or
 * [+-]Inf (any case, "Infinity" too). */
static bool
prom_value(const char *s, size_t len, double *out)
{
    static const char *const specials[] = {
        "nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity",
    };
    static const double special_values[] = {
        NAN, INFINITY, INFINITY, -INFINITY, INFINITY, INFINITY, -INFINITY,
    };

    for (size_t i = 0; i < ARRAY_SIZE(specials); i++) {
        if (len == strlen(specials[i]) && !strncasecmp(s, specials[i], len)) {
            *out = special_values[i];
            return true;
        }
    }
    if (len && (*s == '+' || *s == '-')) {
        bool neg = *s == '-';

        if (!parse_decimal(s + 1, len - 1, out)) {
            return false;
        }
        *out = neg ? -*out : *out;
        return true;
    }
    return parse_decimal(s, len, out);
}

static char *
prom_comment(struct prom_line *l)
{
    const char *kw;
    size_t kw_len;

    l->p++;                     /* '#' */
    prom_skip_blanks(l);
    kw = l->p;
    while (l->p < l->end && !is_blank(*l->p)) {
        l->p++;
    }
    kw_len = l->p - kw;
    bool help = kw_len == 4 && !memcmp(kw, "HELP", 4);
    bool type = kw_len == 4 && !memcmp(kw, "TYPE", 4);
    if (!help && !type) {
        return NULL;            /* A plain comment. */
    }

    prom_skip_blanks(l);
    if (!prom_name(l, false)) {
        return prom_error(l, help ? "# HELP without a valid metric name"
                          : "# TYPE without a valid metric name");
    }
    if (l->p < l->end && !is_blank(*l->p)) {
        return prom_error(l, "invalid character in metric name");
    }
    prom_skip_blanks(l);
    if (help) {
        for (; l->p < l->end; l->p++) {
            if (*l->p == '\\') {
                if (l->p + 1 >= l->end
                    || (l->p[1] != '\\' && l->p[1] != 'n')) {
                    return prom_error(l, "invalid escape in # HELP "
                                      "(only \\\\ and \\n)");
                }
                l->p++;
            }
        }
        return NULL;
    }

    static const char *const types[] = {
        "counter", "gauge", "histogram", "summary", "untyped",
    };
    const char *t = l->p;
    while (l->p < l->end && !is_blank(*l->p)) {
        l->p++;
    }
    size_t t_len = l->p - t;
    prom_skip_blanks(l);
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        if (t_len == strlen(types[i]) && !memcmp(t, types[i], t_len)
            && l->p == l->end) {
            return NULL;
        }
    }
    return prom_error(l, "# TYPE is not counter, gauge, histogram, summary "
                      "or untyped");
}

static char *
prom_labels(struct prom_line *l)
{
    l->p++;                     /* '{' */
    for (;;) {
        prom_skip_blanks(l);
        if (l->p < l->end && *l->p == '}') {
            l->p++;
            return NULL;
        }
        if (!prom_name(l, true)) {
            return prom_error(l, "expected a label name or '}'");
        }
        prom_skip_blanks(l);
        if (l->p >= l->end || *l->p != '=') {
            return prom_error(l, "expected '=' after a label name");
        }
        l->p++;
        prom_skip_blanks(l);
        if (l->p >= l->end || *l->p != '"') {
            return prom_error(l, "expected '\"' to start a label value");
        }
        for (l->p++; ; l->p++) {
            if (l->p >= l->end) {
                return prom_error(l, "unterminated label value");
            } else if (*l->p == '"') {
                l->p++;
                break;
            } else if (*l->p == '\\') {
                if (l->p + 1 >= l->end
                    || (l->p[1] != '\\' && l->p[1] != '"'
                        && l->p[1] != 'n')) {
                    return prom_error(l, "invalid escape in a label value "
                                      "(only \\\\, \\\" and \\n)");
                }
                l->p++;
            }
        }
        prom_skip_blanks(l);
        if (l->p < l->end && *l->p == ',') {
            l->p++;
        } else if (l->p >= l->end || *l->p != '}') {
            return prom_error(l, "expected ',' or '}' after a label value");
        }
    }
}

static char *
prom_sample(struct prom_line *l, struct cats_agent_prom_query *queries,
            size_t n_queries)
{
    const char *name = l->p;
    size_t name_len = prom_name(l, false);
    char *error;

    if (!name_len) {
        return prom_error(l, "expected a metric name");
    }
    if (l->p < l->end && !is_blank(*l->p) && *l->p != '{') {
        return prom_error(l, "invalid character in metric name");
    }
    prom_skip_blanks(l);
    if (l->p < l->end && *l->p == '{') {
        error = prom_labels(l);
        if (error) {
            return error;
        }
        prom_skip_blanks(l);
    }

    const char *v = l->p;
    while (l->p < l->end && !is_blank(*l->p)) {
        l->p++;
    }
    size_t v_len = l->p - v;
    double value;
    if (!v_len) {
        return prom_error(l, "missing value");
    }
    if (!prom_value(v, v_len, &value)) {
        char *msg = xasprintf("'%.*s' is not a number",
                              (int) MIN(v_len, QUOTE_MAX), v);
        error = prom_error(l, msg);
        free(msg);
        return error;
    }

    prom_skip_blanks(l);
    if (l->p < l->end) {
        const char *ts = l->p;
        uint64_t t;

        while (l->p < l->end && !is_blank(*l->p)) {
            l->p++;
        }
        if (*ts == '-') {
            ts++;
        }
        if (!parse_u64(ts, l->p - ts, &t)) {
            return prom_error(l, "the timestamp is not an integer");
        }
        prom_skip_blanks(l);
        if (l->p < l->end) {
            return prom_error(l, "unexpected text after the timestamp");
        }
    }

    for (size_t i = 0; i < n_queries; i++) {
        struct cats_agent_prom_query *q = &queries[i];

        if (strlen(q->name) != name_len || memcmp(q->name, name, name_len)) {
            continue;
        }
        q->n_samples++;
        if (q->error) {
            continue;
        }
        if (isnan(value) || isinf(value) || value < 0) {
            q->error = xasprintf("%s: sample on line %"PRIuSIZE" is %g, not "
                                 "a finite number 0 or more", q->name, l->no,
                                 value);
        } else {
            q->sum += value;
        }
    }
    return NULL;
}

char *
cats_agent_parse_prom(const char *text, size_t len,
                      struct cats_agent_prom_query *queries, size_t n_queries)
{
    const char *p = text, *end = text + len;
    size_t no = 0;

    cats_agent_prom_queries_clear(queries, n_queries);
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        struct prom_line l = { p, nl ? nl : end, ++no };
        char *error = NULL;

        for (const char *c = l.p; c < l.end; c++) {
            if (*c == '\0' || *c == '\r') {
                error = prom_error(&l, *c ? "carriage return (lines end "
                                   "with \\n only)" : "NUL byte");
                break;
            }
        }
        if (!error) {
            prom_skip_blanks(&l);
            if (l.p < l.end) {
                error = (*l.p == '#' ? prom_comment(&l)
                         : prom_sample(&l, queries, n_queries));
            }
        }
        if (error) {
            cats_agent_prom_queries_clear(queries, n_queries);
            return error;
        }
        p = nl ? nl + 1 : end;
    }

    for (size_t i = 0; i < n_queries; i++) {
        struct cats_agent_prom_query *q = &queries[i];

        if (!q->error && q->n_samples && q->sum > q->max) {
            q->error = xasprintf("%s: %.15g is more than %.15g", q->name,
                                 q->sum, q->max);
        }
    }
    return NULL;
}

/* Scrape URLs and HTTP responses. */

char *
cats_agent_parse_prom_url(const char *url, uint16_t *portp, char **pathp)
{
    static const char scheme[] = "http://";
    const char *host, *p;
    unsigned int port = 80;

    if (strncmp(url, scheme, strlen(scheme))) {
        return xasprintf("'%s': only http:// URLs can be scraped", url);
    }
    host = url + strlen(scheme);
    p = host + strcspn(host, ":/");
    size_t host_len = p - host;
    if (!((host_len == 9 && !memcmp(host, "127.0.0.1", 9))
          || (host_len == 9 && !strncasecmp(host, "localhost", 9)))) {
        return xasprintf("'%s': the host must be 127.0.0.1 or localhost "
                         "(the agent scrapes its own node only)", url);
    }
    if (*p == ':') {
        const char *start = ++p;

        port = 0;
        while (isdigit((unsigned char) *p) && port <= 65535) {
            port = port * 10 + (*p++ - '0');
        }
        if (p == start || !port || port > 65535) {
            return xasprintf("'%s': the port must be 1 to 65535", url);
        }
    }
    if (*p && *p != '/') {
        return xasprintf("'%s': unexpected '%c' after the host and port",
                         url, *p);
    }
    for (const char *c = p; *c; c++) {
        if (*c <= 0x20 || *c >= 0x7f || *c == '#') {
            return xasprintf("'%s': the path must be printable ASCII without "
                             "blanks or '#'", url);
        }
    }
    if (strlen(p) > 1024) {
        return xasprintf("'%.*s...': the path is longer than 1024", QUOTE_MAX,
                         url);
    }
    *portp = port;
    *pathp = xstrdup(*p ? p : "/");
    return NULL;
}

char *
cats_agent_parse_http_response(const char *resp, size_t len,
                               const char **bodyp, size_t *body_lenp)
{
    const char *end = resp + len;
    const char *line = resp;
    bool first = true;
    bool has_length = false;
    uint64_t content_length = 0;

    for (;;) {
        const char *nl = memchr(line, '\n', end - line);
        size_t n;

        if (!nl) {
            return xstrdup("HTTP response: truncated headers");
        }
        n = nl - line;
        if (n && line[n - 1] == '\r') {
            n--;
        }
        if (first) {
            /* "HTTP/1.1 200 OK" */
            if (n < 12 || strncmp(line, "HTTP/1.", 7)
                || !isdigit((unsigned char) line[7]) || line[8] != ' ') {
                return xasprintf("HTTP response: bad status line '%.*s'",
                                 (int) MIN(n, QUOTE_MAX), line);
            }
            if (memcmp(line + 9, "200", 3)
                || (n > 12 && line[12] != ' ')) {
                return xasprintf("HTTP status %.*s",
                                 (int) MIN(n - 9, QUOTE_MAX), line + 9);
            }
            first = false;
        } else if (!n) {
            line = nl + 1;
            break;
        } else {
            const char *colon = memchr(line, ':', n);
            const char *v;
            size_t name_len, v_len;

            if (!colon) {
                return xasprintf("HTTP response: bad header '%.*s'",
                                 (int) MIN(n, QUOTE_MAX), line);
            }
            name_len = colon - line;
            v = colon + 1;
            v_len = line + n - v;
            while (v_len && is_blank(*v)) {
                v++;
                v_len--;
            }
            while (v_len && is_blank(v[v_len - 1])) {
                v_len--;
            }
            if (name_len == 14 && !strncasecmp(line, "Content-Length", 14)) {
                if (!parse_u64(v, v_len, &content_length)) {
                    return xstrdup("HTTP response: bad Content-Length");
                }
                has_length = true;
            } else if (name_len == 17
                       && !strncasecmp(line, "Transfer-Encoding", 17)
                       && !(v_len == 8 && !strncasecmp(v, "identity", 8))) {
                return xasprintf("HTTP response: Transfer-Encoding '%.*s' "
                                 "is not supported",
                                 (int) MIN(v_len, QUOTE_MAX), v);
            } else if (name_len == 16
                       && !strncasecmp(line, "Content-Encoding", 16)
                       && !(v_len == 8 && !strncasecmp(v, "identity", 8))) {
                return xasprintf("HTTP response: Content-Encoding '%.*s' "
                                 "is not supported",
                                 (int) MIN(v_len, QUOTE_MAX), v);
            }
        }
        line = nl + 1;
    }

    size_t body_len = end - line;
    if (has_length) {
        if (content_length > body_len) {
            return xasprintf("HTTP response: body truncated (%"PRIuSIZE" of "
                             "%"PRIu64" bytes)", body_len, content_length);
        }
        body_len = content_length;
    }
    *bodyp = line;
    *body_lenp = body_len;
    return NULL;
}

/* Files. */

int
cats_agent_read_file(const char *file_name, size_t max, char **textp,
                     size_t *lenp)
{
    size_t len = 0, allocated = 4096;
    char *text;
    int fd;

    fd = open(file_name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    text = xmalloc(allocated);
    for (;;) {
        ssize_t n;

        if (len + 1 >= allocated) {
            if (allocated > max) {
                close(fd);
                free(text);
                return EFBIG;
            }
            allocated *= 2;
            text = xrealloc(text, allocated);
        }
        n = read(fd, text + len, allocated - len - 1);
        if (n < 0) {
            int error = errno;

            if (error == EINTR) {
                continue;
            }
            close(fd);
            free(text);
            return error;
        } else if (!n) {
            break;
        }
        len += n;
    }
    close(fd);
    if (len > max) {
        free(text);
        return EFBIG;
    }
    text[len] = '\0';
    *textp = text;
    if (lenp) {
        *lenp = len;
    }
    return 0;
}

/* NVML, declared here: the agent must build and run on nodes without the
 * NVIDIA driver or its headers.  These are the stable v1/v2 entry points
 * and structure layouts of nvml.h. */
typedef int nvmlReturn_t;               /* NVML_SUCCESS is 0. */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
    unsigned int gpu;                   /* Percent of time busy. */
    unsigned int memory;                /* Percent of time the memory bus
                                         * was busy (unused here). */
} nvmlUtilization_t;
typedef struct {
    unsigned long long total;           /* Bytes. */
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

#define GPU_MAX_DEVICES 64

struct cats_agent_gpu {
    void *lib;
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    nvmlReturn_t (*get_count)(unsigned int *);
    nvmlReturn_t (*get_handle)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*get_util)(nvmlDevice_t, nvmlUtilization_t *);
    nvmlReturn_t (*get_memory)(nvmlDevice_t, nvmlMemory_t *);
    unsigned int n_devices;
    nvmlDevice_t devices[GPU_MAX_DEVICES];
};

int
cats_agent_gpu_open(const char *library, struct cats_agent_gpu **gpup,
                    char **detailp)
{
    struct cats_agent_gpu *gpu;
    unsigned int count;
    nvmlReturn_t ret;
    void *lib;

    *gpup = NULL;
    *detailp = NULL;
    lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();

        *detailp = xstrdup(e ? e : "cannot load NVML");
        return ENOENT;
    }

    gpu = xzalloc(sizeof *gpu);
    gpu->lib = lib;
#define SYM(FIELD, NAME)                                        \
    do {                                                        \
        *(void **) &gpu->FIELD = dlsym(lib, NAME);              \
        if (!gpu->FIELD) {                                      \
            *detailp = xasprintf("NVML has no %s", NAME);       \
            dlclose(lib);                                       \
            free(gpu);                                          \
            return ENOENT;                                      \
        }                                                       \
    } while (0)
    SYM(init, "nvmlInit_v2");
    SYM(shutdown, "nvmlShutdown");
    SYM(get_count, "nvmlDeviceGetCount_v2");
    SYM(get_handle, "nvmlDeviceGetHandleByIndex_v2");
    SYM(get_util, "nvmlDeviceGetUtilizationRates");
    SYM(get_memory, "nvmlDeviceGetMemoryInfo");
#undef SYM

    ret = gpu->init();
    if (ret) {
        *detailp = xasprintf("nvmlInit_v2 failed (NVML error %d)", ret);
        dlclose(lib);
        free(gpu);
        return EIO;
    }
    ret = gpu->get_count(&count);
    if (ret || !count) {
        *detailp = (ret ? xasprintf("nvmlDeviceGetCount_v2 failed (NVML "
                                    "error %d)", ret)
                    : xstrdup("NVML reports no GPU"));
        gpu->shutdown();
        dlclose(lib);
        free(gpu);
        return EIO;
    }
    for (unsigned int i = 0; i < MIN(count, GPU_MAX_DEVICES); i++) {
        nvmlDevice_t dev;

        if (!gpu->get_handle(i, &dev)) {
            gpu->devices[gpu->n_devices++] = dev;
        }
    }
    if (!gpu->n_devices) {
        *detailp = xasprintf("none of the %u GPUs answered "
                             "nvmlDeviceGetHandleByIndex_v2", count);
        gpu->shutdown();
        dlclose(lib);
        free(gpu);
        return EIO;
    }
    *gpup = gpu;
    return 0;
}

bool
cats_agent_gpu_sample(struct cats_agent_gpu *gpu, double *util,
                      double *mem_util)
{
    double util_sum = 0.0, mem_max = 0.0;
    unsigned int n_util = 0, n_mem = 0;

    for (unsigned int i = 0; i < gpu->n_devices; i++) {
        nvmlUtilization_t u;
        nvmlMemory_t m;

        if (!gpu->get_util(gpu->devices[i], &u) && u.gpu <= 100) {
            util_sum += u.gpu / 100.0;
            n_util++;
        }
        if (!gpu->get_memory(gpu->devices[i], &m) && m.total
            && m.used <= m.total) {
            mem_max = MAX(mem_max, (double) m.used / (double) m.total);
            n_mem++;
        }
    }
    if (!n_util || !n_mem) {
        return false;
    }
    *util = util_sum / n_util;
    *mem_util = mem_max;
    return true;
}

unsigned int
cats_agent_gpu_count(const struct cats_agent_gpu *gpu)
{
    return gpu ? gpu->n_devices : 0;
}

void
cats_agent_gpu_close(struct cats_agent_gpu *gpu)
{
    if (gpu) {
        gpu->shutdown();
        dlclose(gpu->lib);
        free(gpu);
    }
}

/* Prometheus scraper. */

struct cats_agent_scrape {
    char *url;
    char *target;               /* "tcp:127.0.0.1:PORT". */
    char *request;
    size_t request_len;

    /* The scrape in progress. */
    bool busy;
    bool opened;                /* stream_open() was tried. */
    bool connected;
    struct stream *stream;
    long long deadline;
    int timeout_ms;
    size_t sent;
    char *buf;
    size_t len, allocated;

    /* The last result. */
    char *error;
    const char *body;
    size_t body_len;
};

char *
cats_agent_scrape_create(const char *url, struct cats_agent_scrape **sp)
{
    struct cats_agent_scrape *s;
    uint16_t port;
    char *path;
    char *error;

    error = cats_agent_parse_prom_url(url, &port, &path);
    if (error) {
        return error;
    }
    s = xzalloc(sizeof *s);
    s->url = xstrdup(url);
    s->target = xasprintf("tcp:127.0.0.1:%"PRIu16, port);
    /* HTTP/1.0: the server closes the connection after the response, and
     * may not use chunked coding. */
    s->request = xasprintf("GET %s HTTP/1.0\r\n"
                           "Host: 127.0.0.1:%"PRIu16"\r\n"
                           "User-Agent: cats-agent\r\n"
                           "Accept: text/plain;version=0.0.4\r\n"
                           "Accept-Encoding: identity\r\n"
                           "Connection: close\r\n\r\n", path, port);
    s->request_len = strlen(s->request);
    free(path);
    *sp = s;
    return NULL;
}

static void
scrape_close(struct cats_agent_scrape *s)
{
    stream_close(s->stream);
    s->stream = NULL;
    s->busy = false;
}

void
cats_agent_scrape_destroy(struct cats_agent_scrape *s)
{
    if (s) {
        scrape_close(s);
        free(s->url);
        free(s->target);
        free(s->request);
        free(s->buf);
        free(s->error);
        free(s);
    }
}

bool
cats_agent_scrape_busy(const struct cats_agent_scrape *s)
{
    return s->busy;
}

bool
cats_agent_scrape_start(struct cats_agent_scrape *s, long long now,
                        int timeout_ms)
{
    if (s->busy) {
        return false;
    }
    s->busy = true;
    s->opened = s->connected = false;
    s->deadline = now + timeout_ms;
    s->timeout_ms = timeout_ms;
    s->sent = 0;
    s->len = 0;
    free(s->error);
    s->error = NULL;
    s->body = NULL;
    s->body_len = 0;
    return true;
}

static bool
scrape_fail(struct cats_agent_scrape *s, char *error)
{
    scrape_close(s);
    s->error = xasprintf("%s: %s", s->url, error);
    free(error);
    return true;
}

bool
cats_agent_scrape_run(struct cats_agent_scrape *s, long long now)
{
    int error;

    if (!s->busy) {
        return false;
    }
    if (now >= s->deadline) {
        return scrape_fail(s, xasprintf("no complete response within %d ms",
                                        s->timeout_ms));
    }
    if (!s->opened) {
        s->opened = true;
        error = stream_open(s->target, &s->stream, DSCP_DEFAULT);
        if (error) {
            return scrape_fail(s, xasprintf("connect: %s",
                                            ovs_strerror(error)));
        }
    }
    stream_run(s->stream);
    if (!s->connected) {
        error = stream_connect(s->stream);
        if (error == EAGAIN) {
            return false;
        } else if (error) {
            return scrape_fail(s, xasprintf("connect: %s",
                                            ovs_strerror(error)));
        }
        s->connected = true;
    }
    while (s->sent < s->request_len) {
        int n = stream_send(s->stream, s->request + s->sent,
                            s->request_len - s->sent);
        if (n == -EAGAIN) {
            return false;
        } else if (n < 0) {
            return scrape_fail(s, xasprintf("send: %s", ovs_strerror(-n)));
        }
        s->sent += n;
    }

    /* Bounded work per call: at most 16 reads of 64 kB. */
    for (int i = 0; i < 16; i++) {
        if (s->allocated - s->len < 65536) {
            s->allocated = MAX(2 * s->allocated, s->len + 65536);
            s->buf = xrealloc(s->buf, s->allocated);
        }
        int n = stream_recv(s->stream, s->buf + s->len, 65536);
        if (n == -EAGAIN) {
            return false;
        } else if (n < 0) {
            return scrape_fail(s, xasprintf("receive: %s", ovs_strerror(-n)));
        } else if (n == 0) {
            char *perror;

            scrape_close(s);
            perror = cats_agent_parse_http_response(s->buf, s->len, &s->body,
                                                    &s->body_len);
            if (perror) {
                s->error = xasprintf("%s: %s", s->url, perror);
                free(perror);
            }
            return true;
        }
        s->len += n;
        if (s->len > CATS_AGENT_SCRAPE_MAX) {
            return scrape_fail(s, xasprintf("response larger than %d bytes",
                                            CATS_AGENT_SCRAPE_MAX));
        }
    }
    poll_immediate_wake();
    return false;
}

void
cats_agent_scrape_wait(struct cats_agent_scrape *s)
{
    if (!s->busy) {
        return;
    }
    poll_timer_wait_until(s->deadline);
    if (!s->stream) {
        poll_immediate_wake();
        return;
    }
    stream_run_wait(s->stream);
    if (!s->connected) {
        stream_connect_wait(s->stream);
    } else if (s->sent < s->request_len) {
        stream_send_wait(s->stream);
    } else {
        stream_recv_wait(s->stream);
    }
}

const char *
cats_agent_scrape_result(const struct cats_agent_scrape *s,
                         const char **body, size_t *body_len)
{
    *body = s->body;
    *body_len = s->body_len;
    return s->error;
}

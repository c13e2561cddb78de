/*
 * cats-gw: the gateway's configuration, as statements (see gw-conf.h).
 */

#include "gw-conf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw-queue.h"
#include "gw-tbf.h"

#define STATEMENT_MAX 1024      /* Bytes in one statement. */
#define FIELDS_MAX 32           /* key=value fields in one statement. */

void
gw_conf_init(struct gw_conf *conf)
{
    memset(conf, 0, sizeof *conf);
    for (int p = 0; p < GW_MAX_PORTS; p++) {
        struct gw_conf_port *port = &conf->ports[p];

        gw_port_config_init(&port->cfg);
        for (int c = 0; c < GW_N_CLASSES; c++) {
            port->queue_packets[c] = GW_QUEUE_PACKETS_DEFAULT;
        }
    }
}

/* Errors. */

static int __attribute__((format(printf, 2, 3)))
error_msg(char **errorp, const char *format, ...)
{
    char *msg = malloc(512);
    va_list args;

    if (!msg) {
        abort();
    }
    va_start(args, format);
    vsnprintf(msg, 512, format, args);
    va_end(args);
    *errorp = msg;
    return EINVAL;
}

/* Numbers with units. */

struct unit {
    const char *suffix;
    uint64_t mult;
};

static const struct unit rate_units[] = {
    { "", 1 }, { "k", 1000 }, { "K", 1000 }, { "M", 1000000 },
    { "G", UINT64_C(1000000000) }, { "T", UINT64_C(1000000000000) },
    { NULL, 0 }
};

static const struct unit byte_units[] = {
    { "", 1 }, { "k", 1024 }, { "K", 1024 }, { "M", 1024 * 1024 },
    { "G", 1024 * 1024 * 1024 }, { NULL, 0 }
};

static const struct unit time_units[] = {
    { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
    { "s", UINT64_C(1000000000) }, { NULL, 0 }
};

static const struct unit length_units[] = {
    { "m", 1 }, { "km", 1000 }, { NULL, 0 }
};

static const struct unit prob_units[] = {
    { "%", GW_ECN_PPM_ONE / 100 }, { "ppm", 1 }, { NULL, 0 }
};

static const struct unit count_units[] = {
    { "", 1 }, { NULL, 0 }
};

/* Parses 's', a decimal number ("12", "2.5") followed by one of 'units',
 * into the whole number of base units it means.  Returns false if 's' is
 * not that, is not a whole number of base units, or is above 'max'. */
static bool
parse_scaled(const char *s, const struct unit *units, uint64_t max,
             uint64_t *out)
{
    uint64_t mant = 0, scale = 1;
    int digits = 0;
    bool dot = false;
    const char *p;

    for (p = s; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (++digits > 18) {
                return false;
            }
            mant = mant * 10 + (*p - '0');
            if (dot) {
                scale *= 10;
            }
        } else if (*p == '.' && !dot && digits) {
            dot = true;
        } else {
            break;
        }
    }
    if (!digits || p[-1] == '.') {
        return false;
    }
    for (const struct unit *u = units; u->suffix; u++) {
        if (!strcmp(p, u->suffix)) {
            unsigned __int128 v = (unsigned __int128) mant * u->mult;

            if (v % scale || v / scale > max) {
                return false;
            }
            *out = v / scale;
            return true;
        }
    }
    return false;
}

bool
gw_conf_parse_rate(const char *s, uint64_t *bps)
{
    return parse_scaled(s, rate_units, GW_SPEED_BPS_MAX, bps);
}

bool
gw_conf_parse_bytes(const char *s, uint64_t *bytes)
{
    return parse_scaled(s, byte_units, UINT32_MAX, bytes);
}

bool
gw_conf_parse_time(const char *s, uint64_t *ns)
{
    return parse_scaled(s, time_units, UINT64_MAX / 2, ns);
}

static bool
parse_u32(const char *s, const struct unit *units, uint64_t min,
          uint64_t max, uint32_t *out)
{
    uint64_t v;

    if (!parse_scaled(s, units, max, &v) || v < min) {
        return false;
    }
    *out = v;
    return true;
}

/* "3", "0+1+2", "24-31+46", "none": a bit set of values below 'n'. */
static bool
parse_list(const char *s, int n, uint64_t *bits)
{
    uint64_t set = 0;
    char *end;

    if (!strcmp(s, "none")) {
        *bits = 0;
        return true;
    }
    for (;;) {
        long lo, hi;

        if (!isdigit((unsigned char) *s)) {
            return false;
        }
        lo = hi = strtol(s, &end, 10);
        if (*end == '-') {
            s = end + 1;
            if (!isdigit((unsigned char) *s)) {
                return false;
            }
            hi = strtol(s, &end, 10);
        }
        if (lo < 0 || hi >= n || lo > hi) {
            return false;
        }
        for (long v = lo; v <= hi; v++) {
            set |= UINT64_C(1) << v;
        }
        if (!*end) {
            break;
        }
        if (*end != '+') {
            return false;
        }
        s = end + 1;
    }
    *bits = set;
    return true;
}

/* "A:B" with A below 'max_a' and B below 'max_b'. */
static bool
parse_id_pair(const char *s, unsigned int max_a, unsigned int max_b,
              uint16_t *a, uint16_t *b)
{
    unsigned int x, y;
    int n = 0;

    if (sscanf(s, "%u:%u%n", &x, &y, &n) != 2 || s[n]
        || !isdigit((unsigned char) s[0]) || x >= max_a || y >= max_b) {
        return false;
    }
    *a = x;
    *b = y;
    return true;
}

static bool
parse_port_id(const char *s, uint16_t *port)
{
    uint64_t v;

    if (!parse_scaled(s, count_units, GW_MAX_PORTS - 1, &v)
        || strchr(s, '.')) {
        return false;
    }
    *port = v;
    return true;
}

static bool
valid_name(const char *s)
{
    size_t len = strlen(s);

    if (!len || len > GW_PORT_NAME_MAX) {
        return false;
    }
    for (; *s; s++) {
        if (!isalnum((unsigned char) *s) && !strchr("._-", *s)) {
            return false;
        }
    }
    return true;
}

/* Statements. */

struct statement {
    char buf[STATEMENT_MAX + 1];
    const char *keyword;
    const char *id;
    size_t n;
    const char *keys[FIELDS_MAX];
    const char *values[FIELDS_MAX];
};

/* The length of the 'len' bytes at 'line' without the newline that ends
 * them, if any: a statement's limit is on its text, so a line of the limit
 * reads the same whether or not a newline follows it. */
static size_t
text_length(const char *line, size_t len)
{
    return len && line[len - 1] == '\n' ? len - 1 : len;
}

/* Splits 'line' into 'st'.  Returns 0 (st->keyword NULL for a blank line
 * or a comment) or EINVAL. */
static int
split(const char *line, const char *origin, struct statement *st,
      char **errorp)
{
    char *save = NULL, *tok;
    size_t len = text_length(line, strlen(line));
    char *hash;

    memset(st, 0, sizeof *st);
    if (len > STATEMENT_MAX) {
        return error_msg(errorp, "%s: statement longer than %d bytes",
                         origin, STATEMENT_MAX);
    }
    memcpy(st->buf, line, len);
    st->buf[len] = '\0';
    hash = strchr(st->buf, '#');
    if (hash) {
        *hash = '\0';
    }

    for (tok = strtok_r(st->buf, " \t\r\n,", &save); tok;
         tok = strtok_r(NULL, " \t\r\n,", &save)) {
        if (!st->keyword) {
            st->keyword = tok;
        } else if (!st->id) {
            st->id = tok;
        } else {
            char *eq = strchr(tok, '=');

            if (!eq || eq == tok) {
                return error_msg(errorp, "%s: %s %s: '%s' is not "
                                 "KEY=VALUE", origin, st->keyword, st->id,
                                 tok);
            }
            if (st->n >= FIELDS_MAX) {
                return error_msg(errorp, "%s: %s %s: more than %d fields",
                                 origin, st->keyword, st->id, FIELDS_MAX);
            }
            *eq = '\0';
            for (size_t i = 0; i < st->n; i++) {
                if (!strcmp(st->keys[i], tok)) {
                    return error_msg(errorp, "%s: %s %s: field '%s' is "
                                     "given twice", origin, st->keyword,
                                     st->id, tok);
                }
            }
            st->keys[st->n] = tok;
            st->values[st->n] = eq + 1;
            st->n++;
        }
    }
    if (st->keyword && !st->id) {
        return error_msg(errorp, "%s: '%s' needs an id (port N, class N:C, "
                         "pair A:B)", origin, st->keyword);
    }
    return 0;
}

static int
bad_field(char **errorp, const char *origin, const struct statement *st,
          size_t i, const char *what)
{
    return error_msg(errorp, "%s: %s %s: field '%s': '%s' is not %s",
                     origin, st->keyword, st->id, st->keys[i],
                     st->values[i], what);
}

static void
mention(struct gw_conf *conf, uint16_t port)
{
    conf->ports[port].mentioned = true;
}

static int
parse_port(struct gw_conf *conf, const struct statement *st,
           const char *origin, char **errorp)
{
    struct gw_conf_port port;
    uint16_t id;

    if (!parse_port_id(st->id, &id)) {
        return error_msg(errorp, "%s: port %s: not a port id between 0 and "
                         "%d", origin, st->id, GW_MAX_PORTS - 1);
    }
    port = conf->ports[id];
    for (size_t i = 0; i < st->n; i++) {
        const char *k = st->keys[i], *v = st->values[i];
        struct gw_port_config *cfg = &port.cfg;
        uint64_t x;
        uint32_t u;

        if (!strcmp(k, "name")) {
            if (!valid_name(v)) {
                return bad_field(errorp, origin, st, i, "a name of 1 to 31 "
                                 "characters from A-Z a-z 0-9 . _ -");
            }
            strcpy(port.name, v);
        } else if (!strcmp(k, "speed")) {
            if (!gw_conf_parse_rate(v, &x) || !x) {
                return bad_field(errorp, origin, st, i, "a rate (bits/s "
                                 "with an optional k, M, G or T; 1 to "
                                 "1.6T)");
            }
            cfg->speed_bps = x;
        } else if (!strcmp(k, "distance")) {
            if (!parse_u32(v, length_units, 0, GW_DISTANCE_M_MAX, &u)) {
                return bad_field(errorp, origin, st, i, "a length (m or "
                                 "km, at most 20000km)");
            }
            cfg->distance_m = u;
        } else if (!strcmp(k, "max_frame")) {
            if (!parse_u32(v, byte_units, GW_MAX_FRAME_MIN, GW_MAX_FRAME_MAX,
                           &u)) {
                return bad_field(errorp, origin, st, i, "a frame size "
                                 "between 64 and 16384 bytes");
            }
            cfg->max_frame = u;
        } else if (!strcmp(k, "quanta")) {
            if (!parse_u32(v, count_units, 1, GW_PFC_QUANTA_MAX, &u)) {
                return bad_field(errorp, origin, st, i, "a number of pause "
                                 "quanta between 1 and 65535");
            }
            cfg->pause_quanta = u;
        } else if (!strcmp(k, "watchdog") || !strcmp(k, "restore")) {
            if (!gw_conf_parse_time(v, &x) || !x) {
                return bad_field(errorp, origin, st, i, "a time above 0 "
                                 "(ns, us, ms or s)");
            }
            *(k[0] == 'w' ? &cfg->pfc_watchdog_ns : &cfg->pfc_restore_ns)
                = x;
        } else if (!strcmp(k, "trust")) {
            if (!strcmp(v, "pcp")) {
                cfg->trust = GW_TRUST_PCP;
            } else if (!strcmp(v, "dscp")) {
                cfg->trust = GW_TRUST_DSCP;
            } else {
                return bad_field(errorp, origin, st, i, "pcp or dscp");
            }
        } else {
            return error_msg(errorp, "%s: port %s: unknown field '%s' "
                             "(name, speed, distance, max_frame, quanta, "
                             "watchdog, restore, trust)", origin, st->id, k);
        }
    }
    port.mentioned = true;
    conf->ports[id] = port;
    return 0;
}

static int
parse_class(struct gw_conf *conf, const struct statement *st,
            const char *origin, char **errorp)
{
    struct gw_conf_port port;
    struct gw_class_config *cc;
    uint16_t id, cls;

    if (!parse_id_pair(st->id, GW_MAX_PORTS, GW_N_CLASSES, &id, &cls)) {
        return error_msg(errorp, "%s: class %s: not PORT:CLASS (a port "
                         "between 0 and %d, a class between 0 and %d)",
                         origin, st->id, GW_MAX_PORTS - 1, GW_N_CLASSES - 1);
    }
    port = conf->ports[id];
    cc = &port.cfg.classes[cls];
    for (size_t i = 0; i < st->n; i++) {
        const char *k = st->keys[i], *v = st->values[i];
        uint64_t bits;
        uint32_t u;

        if (!strcmp(k, "queue")) {
            if (!parse_u32(v, byte_units, 1, UINT32_MAX, &u)) {
                return bad_field(errorp, origin, st, i, "a size (bytes with "
                                 "an optional K, M or G, below 4G)");
            }
            cc->queue_limit = u;
        } else if (!strcmp(k, "packets")) {
            if (!parse_u32(v, count_units, 1, GW_QUEUE_LIMIT_MAX, &u)) {
                return bad_field(errorp, origin, st, i, "a packet count "
                                 "between 1 and 16777216");
            }
            port.queue_packets[cls] = u;
        } else if (!strcmp(k, "ecn")) {
            char kmin[64], kmax[64], pmax[64];
            int n = 0;

            if (!strcmp(v, "off")) {
                cc->ecn = false;
                cc->kmin = cc->kmax = cc->pmax_ppm = 0;
                continue;
            }
            if (strlen(v) >= 64
                || sscanf(v, "%63[^:]:%63[^:]:%63s%n", kmin, kmax, pmax,
                          &n) != 3 || v[n]
                || !parse_u32(kmin, byte_units, 0, UINT32_MAX, &cc->kmin)
                || !parse_u32(kmax, byte_units, 0, UINT32_MAX, &cc->kmax)
                || !parse_u32(pmax, prob_units, 0, GW_ECN_PPM_ONE,
                              &cc->pmax_ppm)) {
                return bad_field(errorp, origin, st, i, "KMIN:KMAX:PMAX or "
                                 "off (sizes in bytes, PMAX as 1% or "
                                 "10000ppm)");
            }
            cc->ecn = true;
        } else if (!strcmp(k, "lossless")) {
            char xoff[64], xon[64];
            int n = 0;

            if (!strcmp(v, "off")) {
                cc->lossless = false;
                cc->xoff = cc->xon = 0;
                continue;
            }
            if (strlen(v) >= 64
                || sscanf(v, "%63[^:]:%63s%n", xoff, xon, &n) != 2 || v[n]
                || !parse_u32(xoff, byte_units, 0, UINT32_MAX, &cc->xoff)
                || !parse_u32(xon, byte_units, 0, UINT32_MAX, &cc->xon)) {
                return bad_field(errorp, origin, st, i, "XOFF:XON or off "
                                 "(sizes in bytes)");
            }
            cc->lossless = true;
        } else if (!strcmp(k, "pcp")) {
            if (!parse_list(v, GW_N_PCPS, &bits)) {
                return bad_field(errorp, origin, st, i, "a list of PCPs 0 "
                                 "to 7 (3, 0+1, 4-7) or none");
            }
            cc->pcps = bits;
        } else if (!strcmp(k, "dscp")) {
            if (!parse_list(v, GW_N_DSCPS, &bits)) {
                return bad_field(errorp, origin, st, i, "a list of DSCPs 0 "
                                 "to 63 (46, 24-31+40) or none");
            }
            cc->dscps = bits;
        } else {
            return error_msg(errorp, "%s: class %s: unknown field '%s' "
                             "(queue, packets, ecn, lossless, pcp, dscp)",
                             origin, st->id, k);
        }
    }
    port.mentioned = true;
    conf->ports[id] = port;
    return 0;
}

static int
parse_pair(struct gw_conf *conf, const struct statement *st,
           const char *origin, char **errorp)
{
    struct gw_conf_pair pair;
    size_t slot;

    memset(&pair, 0, sizeof pair);
    if (!parse_id_pair(st->id, GW_MAX_PORTS, GW_MAX_PORTS, &pair.a,
                       &pair.b)) {
        return error_msg(errorp, "%s: pair %s: not A:B (two port ids "
                         "between 0 and %d)", origin, st->id,
                         GW_MAX_PORTS - 1);
    }
    if (pair.a == pair.b) {
        return error_msg(errorp, "%s: pair %s: a port cannot be paired with "
                         "itself", origin, st->id);
    }

    /* The same pair again updates it; a port in another pair is an
     * error. */
    for (slot = 0; slot < conf->n_pairs; slot++) {
        const struct gw_conf_pair *p = &conf->pairs[slot];

        if ((p->a == pair.a && p->b == pair.b)
            || (p->a == pair.b && p->b == pair.a)) {
            pair = *p;
            break;
        }
        if (p->a == pair.a || p->b == pair.a || p->a == pair.b
            || p->b == pair.b) {
            uint16_t dup = (p->a == pair.a || p->b == pair.a
                            ? pair.a : pair.b);

            return error_msg(errorp, "%s: pair %s: port %u is already in "
                             "pair %u:%u", origin, st->id, dup, p->a, p->b);
        }
    }
    if (slot == conf->n_pairs) {
        pair.overhead = GW_TBF_ETH_OVERHEAD;
        pair.line_packets = GW_LINE_PACKETS_DEFAULT;
    }

    for (size_t i = 0; i < st->n; i++) {
        const char *k = st->keys[i], *v = st->values[i];
        uint64_t x;
        uint32_t u;

        if (!strcmp(k, "delay")) {
            uint32_t m;

            if (gw_conf_parse_time(v, &x) && x <= GW_DELAY_NS_MAX) {
                pair.delay_ns = x;
            } else if (parse_u32(v, length_units, 0, GW_DISTANCE_M_MAX,
                                 &m)) {
                pair.delay_ns = (uint64_t) m * GW_FIBRE_NS_PER_M;
            } else {
                return bad_field(errorp, origin, st, i, "a time (ns, us, ms "
                                 "or s, at most 10s) or a fibre length (m "
                                 "or km at 5 us/km, at most 20000km)");
            }
        } else if (!strcmp(k, "rate")) {
            if (!gw_conf_parse_rate(v, &x)) {
                return bad_field(errorp, origin, st, i, "a rate (bits/s "
                                 "with an optional k, M, G or T; 0 for no "
                                 "limit)");
            }
            pair.rate_bps = x;
        } else if (!strcmp(k, "burst")) {
            if (!parse_u32(v, byte_units, 0, GW_TBF_DEPTH_MAX, &u)) {
                return bad_field(errorp, origin, st, i, "a size (bytes with "
                                 "an optional K, M or G, at most 1G)");
            }
            pair.burst_bytes = u;
        } else if (!strcmp(k, "overhead")) {
            if (!parse_u32(v, count_units, 0, 256, &u)) {
                return bad_field(errorp, origin, st, i, "a byte count "
                                 "between 0 and 256");
            }
            pair.overhead = u;
        } else if (!strcmp(k, "line")) {
            if (!parse_u32(v, count_units, 1, GW_QUEUE_LIMIT_MAX, &u)) {
                return bad_field(errorp, origin, st, i, "a packet count "
                                 "between 1 and 16777216");
            }
            pair.line_packets = u;
        } else {
            return error_msg(errorp, "%s: pair %s: unknown field '%s' "
                             "(delay, rate, burst, overhead, line)", origin,
                             st->id, k);
        }
    }
    if (slot == conf->n_pairs) {
        if (conf->n_pairs >= GW_MAX_PAIRS) {
            return error_msg(errorp, "%s: pair %s: more than %d pairs",
                             origin, st->id, GW_MAX_PAIRS);
        }
        conf->n_pairs++;
    }
    conf->pairs[slot] = pair;
    mention(conf, pair.a);
    mention(conf, pair.b);
    return 0;
}

int
gw_conf_parse(struct gw_conf *conf, const char *line, const char *origin,
              char **errorp)
{
    struct statement *st = malloc(sizeof *st);
    int error;

    *errorp = NULL;
    if (!st) {
        abort();
    }
    error = split(line, origin, st, errorp);
    if (error || !st->keyword) {
        /* Blank, comment or error. */
    } else if (!strcmp(st->keyword, "port")) {
        error = parse_port(conf, st, origin, errorp);
    } else if (!strcmp(st->keyword, "class")) {
        error = parse_class(conf, st, origin, errorp);
    } else if (!strcmp(st->keyword, "pair")) {
        error = parse_pair(conf, st, origin, errorp);
    } else {
        error = error_msg(errorp, "%s: unknown statement '%s' (port, class, "
                          "pair)", origin, st->keyword);
    }
    free(st);
    return error;
}

int
gw_conf_read_file(struct gw_conf *conf, const char *path, char **errorp)
{
    struct gw_conf *copy;
    char *line = NULL;
    size_t allocated = 0;
    ssize_t len;
    int error = 0;
    int lineno = 0;
    FILE *f;

    *errorp = NULL;
    f = fopen(path, "r");
    if (!f) {
        error = errno;
        error_msg(errorp, "%s: %s", path, strerror(error));
        return error;
    }
    copy = malloc(sizeof *copy);
    if (!copy) {
        abort();
    }
    *copy = *conf;
    while (!error && (len = getline(&line, &allocated, f)) >= 0) {
        char origin[256];

        lineno++;
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        if (text_length(line, len) > STATEMENT_MAX) {
            error = error_msg(errorp, "%s: line longer than %d bytes",
                              origin, STATEMENT_MAX);
            break;
        }
        if (memchr(line, '\0', len)) {
            error = error_msg(errorp, "%s: NUL byte in the line", origin);
            break;
        }
        error = gw_conf_parse(copy, line, origin, errorp);
    }
    free(line);
    if (!error && ferror(f)) {
        error = EIO;
        error_msg(errorp, "%s: read error", path);
    }
    fclose(f);
    if (!error) {
        *conf = *copy;
    }
    free(copy);
    return error;
}

const struct gw_conf_pair *
gw_conf_pair_of(const struct gw_conf *conf, uint16_t port, int *end)
{
    for (size_t i = 0; i < conf->n_pairs; i++) {
        const struct gw_conf_pair *p = &conf->pairs[i];

        if (p->a == port || p->b == port) {
            *end = p->a == port ? 0 : 1;
            return p;
        }
    }
    return NULL;
}

int
gw_conf_finish(struct gw_conf *conf, unsigned int n_ports, char **errorp)
{
    *errorp = NULL;
    for (unsigned int p = n_ports; p < GW_MAX_PORTS; p++) {
        if (conf->ports[p].mentioned) {
            return error_msg(errorp, "port %u: no such port (there %s %u: "
                             "give each one a --vdev or a device)", p,
                             n_ports == 1 ? "is" : "are", n_ports);
        }
    }
    if (n_ports < 2) {
        return error_msg(errorp, "%u port%s: cats-gw forwards between pairs "
                         "of ports and needs at least 2", n_ports,
                         n_ports == 1 ? "" : "s");
    }
    if (n_ports > GW_MAX_PORTS) {
        return error_msg(errorp, "%u ports: at most %d", n_ports,
                         GW_MAX_PORTS);
    }
    conf->n_ports = n_ports;

    if (!conf->n_pairs) {
        if (n_ports % 2) {
            return error_msg(errorp, "%u ports cannot be paired in order: "
                             "name the pairs ('pair A:B')", n_ports);
        }
        for (unsigned int p = 0; p < n_ports; p += 2) {
            struct gw_conf_pair *pair = &conf->pairs[conf->n_pairs++];

            memset(pair, 0, sizeof *pair);
            pair->a = p;
            pair->b = p + 1;
            pair->overhead = GW_TBF_ETH_OVERHEAD;
            pair->line_packets = GW_LINE_PACKETS_DEFAULT;
        }
    }

    for (unsigned int p = 0; p < n_ports; p++) {
        struct gw_conf_port *port = &conf->ports[p];
        char origin[64];
        char *msg;
        int end;

        if (!gw_conf_pair_of(conf, p, &end)) {
            return error_msg(errorp, "port %u is in no pair: every port "
                             "needs a peer ('pair %u:N')", p, p);
        }
        if (!port->name[0]) {
            snprintf(port->name, sizeof port->name, "p%u", p);
        }
        for (unsigned int q = 0; q < p; q++) {
            if (!strcmp(conf->ports[q].name, port->name)) {
                return error_msg(errorp, "ports %u and %u are both named "
                                 "'%s'", q, p, port->name);
            }
        }
        snprintf(origin, sizeof origin, "port %u (%s)", p, port->name);
        if (gw_config_validate(&port->cfg, origin, &msg)) {
            *errorp = msg;
            return EINVAL;
        }
    }
    return 0;
}

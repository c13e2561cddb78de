/*
 * ovs-cats: host-side congestion counters of the network metric agent:
 * TCP and IP ECN counters from /proc/net/netstat, RoCE congestion
 * notification (CNP) counters from sysfs.  See include/cats/nlstats.h.
 */

#include <config.h>

#include "cats/nlstats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Bounds on a netstat text: /proc/net/netstat has about 130 TcpExt
 * counters today. */
#define NETSTAT_MAX_FIELDS 1024
#define NETSTAT_MAX_NAME 64

static const struct {
    const char *prefix;
    const char *name;
} netstat_counters[CATS_N_NETSTAT] = {
    [CATS_NETSTAT_TCP_DELIVERED] = { "TcpExt", "TCPDelivered" },
    [CATS_NETSTAT_TCP_DELIVERED_CE] = { "TcpExt", "TCPDeliveredCE" },
    [CATS_NETSTAT_IP_IN_NO_ECT] = { "IpExt", "InNoECTPkts" },
    [CATS_NETSTAT_IP_IN_ECT1] = { "IpExt", "InECT1Pkts" },
    [CATS_NETSTAT_IP_IN_ECT0] = { "IpExt", "InECT0Pkts" },
    [CATS_NETSTAT_IP_IN_CE] = { "IpExt", "InCEPkts" },
};

const char *
cats_nl_netstat_name(enum cats_nl_netstat_counter c)
{
    static const char *const names[CATS_N_NETSTAT] = {
        [CATS_NETSTAT_TCP_DELIVERED] = "TcpExt TCPDelivered",
        [CATS_NETSTAT_TCP_DELIVERED_CE] = "TcpExt TCPDeliveredCE",
        [CATS_NETSTAT_IP_IN_NO_ECT] = "IpExt InNoECTPkts",
        [CATS_NETSTAT_IP_IN_ECT1] = "IpExt InECT1Pkts",
        [CATS_NETSTAT_IP_IN_ECT0] = "IpExt InECT0Pkts",
        [CATS_NETSTAT_IP_IN_CE] = "IpExt InCEPkts",
    };
    return c < CATS_N_NETSTAT ? names[c] : "?";
}

static int OVS_PRINTF_FORMAT(3, 4)
fail(char **errorp, int error, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    *errorp = xvasprintf(format, args);
    va_end(args);
    return error;
}

/* Copies at most 24 bytes of the 'len' at 's' into 'out' for an error
 * message, each byte that is not printable ASCII as '?', so that a
 * message stays one line of text whatever the input. */
#define QUOTE_MAX 24
static const char *
quote(const char *s, size_t len, char out[QUOTE_MAX + 1])
{
    size_t n = MIN(len, QUOTE_MAX);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        out[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    out[n] = '\0';
    return out;
}

/* A line of text, and a cursor over its blank-separated tokens. */
struct line {
    const char *p;
    const char *end;
};

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Stores the next token of 'l' in '*tok' and '*len'; false at the end. */
static bool
next_token(struct line *l, const char **tok, size_t *len)
{
    while (l->p < l->end && is_blank(*l->p)) {
        l->p++;
    }
    if (l->p == l->end) {
        return false;
    }
    *tok = l->p;
    while (l->p < l->end && !is_blank(*l->p)) {
        l->p++;
    }
    *len = l->p - *tok;
    return true;
}

/* Parses a decimal 64-bit number: digits only, no sign, no overflow. */
static bool
parse_u64(const char *s, size_t len, uint64_t *value)
{
    uint64_t v = 0;

    if (!len || len > 20) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned int d = (unsigned char) s[i] - '0';

        if (d > 9 || v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *value = v;
    return true;
}

/* Splits 'l' into its "Prefix:" and the rest.  False if there is no
 * prefix. */
static bool
line_prefix(struct line *l, const char **prefix, size_t *len)
{
    const char *tok;
    size_t tok_len;

    if (!next_token(l, &tok, &tok_len) || tok_len < 2
        || tok[tok_len - 1] != ':') {
        return false;
    }
    *prefix = tok;
    *len = tok_len - 1;
    return true;
}

static int
netstat_counter(const char *prefix, size_t prefix_len, const char *name,
                size_t name_len)
{
    for (int i = 0; i < CATS_N_NETSTAT; i++) {
        if (strlen(netstat_counters[i].prefix) == prefix_len
            && !memcmp(netstat_counters[i].prefix, prefix, prefix_len)
            && strlen(netstat_counters[i].name) == name_len
            && !memcmp(netstat_counters[i].name, name, name_len)) {
            return i;
        }
    }
    return -1;
}

/* One pair of lines: 'names' ("Prefix: A B C", line 'n') and 'values'
 * ("Prefix: 1 2 3"). */
static int
parse_netstat_pair(struct line names, struct line values, int n,
                   struct cats_nl_netstat *ns, char **errorp)
{
    const char *prefix, *vprefix;
    size_t prefix_len, vprefix_len;
    size_t i;

    if (!line_prefix(&names, &prefix, &prefix_len)) {
        return fail(errorp, EINVAL, "netstat: line %d: no \"Prefix:\"", n);
    }
    if (!line_prefix(&values, &vprefix, &vprefix_len)) {
        return fail(errorp, EINVAL, "netstat: line %d: no \"Prefix:\"",
                    n + 1);
    }
    if (prefix_len != vprefix_len || memcmp(prefix, vprefix, prefix_len)) {
        char q1[QUOTE_MAX + 1], q2[QUOTE_MAX + 1];

        return fail(errorp, EINVAL, "netstat: line %d: prefix \"%s\" "
                    "does not match line %d's \"%s\"", n + 1,
                    quote(vprefix, vprefix_len, q1), n,
                    quote(prefix, prefix_len, q2));
    }
    for (i = 0; ; i++) {
        const char *name, *value;
        size_t name_len, value_len;
        bool has_name = next_token(&names, &name, &name_len);
        bool has_value = next_token(&values, &value, &value_len);
        uint64_t v;
        int c;

        if (!has_name && !has_value) {
            break;
        }
        if (has_name != has_value) {
            return fail(errorp, EINVAL, "netstat: line %d: %s has more "
                        "fields than line %d", has_name ? n : n + 1,
                        has_name ? "names" : "values", has_name ? n + 1 : n);
        }
        if (i >= NETSTAT_MAX_FIELDS) {
            return fail(errorp, E2BIG, "netstat: line %d: more than %d "
                        "fields", n, NETSTAT_MAX_FIELDS);
        }
        if (name_len > NETSTAT_MAX_NAME) {
            return fail(errorp, EINVAL, "netstat: line %d: field %"PRIuSIZE
                        " has a name of %"PRIuSIZE" characters", n, i + 1,
                        name_len);
        }
        if (!parse_u64(value, value_len, &v)) {
            char q1[QUOTE_MAX + 1], q2[QUOTE_MAX + 1], q3[QUOTE_MAX + 1];

            return fail(errorp, EINVAL, "netstat: line %d: %s %s: \"%s\" is "
                        "not a decimal 64-bit counter", n + 1,
                        quote(prefix, prefix_len, q1),
                        quote(name, name_len, q2),
                        quote(value, value_len, q3));
        }
        c = netstat_counter(prefix, prefix_len, name, name_len);
        if (c >= 0) {
            if (ns->present & (1u << c)) {
                return fail(errorp, EINVAL, "netstat: line %d: %s appears "
                            "twice", n, cats_nl_netstat_name(c));
            }
            ns->present |= 1u << c;
            ns->value[c] = v;
        }
    }
    return 0;
}

int
cats_nl_parse_netstat(const char *text, size_t size,
                      struct cats_nl_netstat *ns, char **errorp)
{
    const char *p = text, *end = text + size;
    struct line pending = { NULL, NULL };
    int n = 0;

    *errorp = NULL;
    memset(ns, 0, sizeof *ns);
    if (memchr(text, '\0', size)) {
        return fail(errorp, EINVAL, "netstat: contains a NUL byte");
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        struct line l = { p, nl ? nl : end };
        struct line probe = l;
        const char *tok;
        size_t len;

        p = nl ? nl + 1 : end;
        n++;
        if (!next_token(&probe, &tok, &len)) {
            if (pending.p) {
                return fail(errorp, EINVAL, "netstat: line %d: names "
                            "without values", n - 1);
            }
            continue;               /* Blank line. */
        }
        if (!pending.p) {
            pending = l;
        } else {
            int error = parse_netstat_pair(pending, l, n - 1, ns, errorp);
            if (error) {
                return error;
            }
            pending.p = pending.end = NULL;
        }
    }
    if (pending.p) {
        return fail(errorp, EINVAL, "netstat: line %d: names without "
                    "values", n);
    }
    return 0;
}

/* RDMA. */

static const char *const rdma_names[CATS_N_RDMA] = {
    [CATS_RDMA_NP_CNP_SENT] = "np_cnp_sent",
    [CATS_RDMA_RP_CNP_HANDLED] = "rp_cnp_handled",
    [CATS_RDMA_NP_ECN_MARKED] = "np_ecn_marked_roce_packets",
    [CATS_RDMA_RP_CNP_IGNORED] = "rp_cnp_ignored",
};

const char *
cats_nl_rdma_name(enum cats_nl_rdma_counter c)
{
    return c < CATS_N_RDMA ? rdma_names[c] : "?";
}

int
cats_nl_parse_counter(const char *text, size_t size, uint64_t *value,
                      char **errorp)
{
    size_t len = size;

    *errorp = NULL;
    if (len && text[len - 1] == '\n') {
        len--;
    }
    if (!parse_u64(text, len, value)) {
        char q[QUOTE_MAX + 1];

        return fail(errorp, EINVAL, "counter \"%s\" is not a decimal "
                    "64-bit number", quote(text, len, q));
    }
    return 0;
}

/* Reads the counter file 'path' into '*value'.  ENOENT: no such counter
 * (not an error for the caller). */
static int
read_counter(const char *path, uint64_t *value, char **errorp)
{
    char buf[32];
    ssize_t n;
    int fd, error;

    *errorp = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = errno;
        if (error == ENOENT) {
            return ENOENT;
        }
        return fail(errorp, error, "%s: %s", path, ovs_strerror(error));
    }
    do {
        n = read(fd, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    error = n < 0 ? errno : 0;
    close(fd);
    if (error) {
        return fail(errorp, error, "%s: %s", path, ovs_strerror(error));
    }
    if (n == sizeof buf) {
        return fail(errorp, EINVAL, "%s: longer than a counter", path);
    }
    error = cats_nl_parse_counter(buf, n, value, errorp);
    if (error) {
        char *inner = *errorp;
        *errorp = xasprintf("%s: %s", path, inner);
        free(inner);
    }
    return error;
}

static bool
parse_port(const char *s, unsigned int *port)
{
    uint64_t v;

    if (!parse_u64(s, strlen(s), &v) || !v || v > 65535) {
        return false;
    }
    *port = v;
    return true;
}

static int
compare_ports(const void *a_, const void *b_)
{
    const struct cats_nl_rdma_port *a = a_, *b = b_;
    int c = strcmp(a->dev, b->dev);

    return c ? c : a->port < b->port ? -1 : a->port > b->port;
}

/* Reads one port's counters into 'port'. */
static int
read_rdma_port(const char *root, struct cats_nl_rdma_port *port,
               char **errorp)
{
    port->present = 0;
    for (int c = 0; c < CATS_N_RDMA; c++) {
        char *path = xasprintf("%s/%s/ports/%u/hw_counters/%s", root,
                               port->dev, port->port, rdma_names[c]);
        int error = read_counter(path, &port->value[c], errorp);

        free(path);
        if (error == ENOENT) {
            continue;
        } else if (error) {
            return error;
        }
        port->present |= 1u << c;
    }
    return 0;
}

int
cats_nl_read_rdma(const char *root, struct cats_nl_rdma_port *ports,
                  size_t max, size_t *n, char **errorp)
{
    struct dirent *de;
    DIR *devs;
    int error = 0;

    *errorp = NULL;
    *n = 0;
    devs = opendir(root);
    if (!devs) {
        error = errno;
        if (error == ENOENT) {
            return 0;
        }
        return fail(errorp, error, "%s: %s", root, ovs_strerror(error));
    }
    while (!error && (de = readdir(devs)) != NULL) {
        DIR *pdir;
        char *path;

        if (de->d_name[0] == '.') {
            continue;
        }
        if (strlen(de->d_name) >= CATS_NL_RDMA_DEV_MAX) {
            error = fail(errorp, EINVAL, "%s: device name \"%.*s...\" is "
                         "too long", root, CATS_NL_RDMA_DEV_MAX,
                         de->d_name);
            break;
        }
        path = xasprintf("%s/%s/ports", root, de->d_name);
        pdir = opendir(path);
        free(path);
        if (!pdir) {
            continue;               /* A device without ports. */
        }

        struct dirent *pe;
        while (!error && (pe = readdir(pdir)) != NULL) {
            struct cats_nl_rdma_port port;

            /* Only port numbers live here; anything else is not ours. */
            if (!parse_port(pe->d_name, &port.port)) {
                continue;
            }
            ovs_strlcpy(port.dev, de->d_name, sizeof port.dev);
            error = read_rdma_port(root, &port, errorp);
            if (error || !port.present) {
                continue;
            }
            if (*n >= max) {
                error = fail(errorp, E2BIG, "%s: more than %"PRIuSIZE" RDMA "
                             "ports", root, max);
                break;
            }
            ports[(*n)++] = port;
        }
        closedir(pdir);
    }
    closedir(devs);
    if (error) {
        *n = 0;
        return error;
    }
    qsort(ports, *n, sizeof *ports, compare_ports);
    return 0;
}

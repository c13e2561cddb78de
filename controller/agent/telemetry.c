/*
 * cats-agent: the telemetry report (see telemetry.h).
 */

#include <config.h>

#include "telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sset.h"
#include "util.h"

/* /proc/net/netstat is about 5 kB; a sysfs counter a few bytes. */
#define NETSTAT_MAX (1024 * 1024)
#define COUNTER_MAX 64

/* Reads all of 'file' (at most 'max' bytes) into a malloc'd NUL-terminated
 * buffer.  Returns 0 or a positive errno value (EFBIG: larger than
 * 'max'). */
static int
read_small_file(const char *file, size_t max, char **textp, size_t *sizep)
{
    char *text = xmalloc(max + 1);
    size_t size = 0;
    int error = 0;
    int fd;

    *textp = NULL;
    *sizep = 0;
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(text);
        return errno;
    }
    for (;;) {
        ssize_t n = read(fd, text + size, max + 1 - size);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = errno;
            break;
        } else if (!n) {
            break;
        }
        size += n;
        if (size > max) {
            error = EFBIG;
            break;
        }
    }
    close(fd);
    if (error) {
        free(text);
        return error;
    }
    text[size] = '\0';
    *textp = text;
    *sizep = size;
    return 0;
}

/* Reads one sysfs counter file.  Returns 0, ENOENT (no such counter: not
 * an error for the caller), or another errno value with a message. */
static int
read_counter(const char *file, uint64_t *value, char **errorp)
{
    char *text, *msg;
    size_t size;
    int error;

    *errorp = NULL;
    error = read_small_file(file, COUNTER_MAX, &text, &size);
    if (error) {
        if (error != ENOENT) {
            *errorp = xasprintf("%s: %s", file, ovs_strerror(error));
        }
        return error;
    }
    error = cats_nl_parse_counter(text, size, value, &msg);
    free(text);
    if (error) {
        *errorp = xasprintf("%s: %s", file, msg);
        free(msg);
    }
    return error;
}

int
agent_tel_read_host(const char *netstat_file, const char *rdma_root,
                    struct agent_tel_host *h, char **errorp)
{
    char *text, *msg = NULL;
    size_t size, n_ports = 0;
    int error, first = 0;

    *errorp = NULL;
    memset(h, 0, sizeof *h);

    error = read_small_file(netstat_file, NETSTAT_MAX, &text, &size);
    if (error) {
        *errorp = xasprintf("%s: %s", netstat_file, ovs_strerror(error));
        first = error;
    } else {
        error = cats_nl_parse_netstat(text, size, &h->netstat, &msg);
        free(text);
        if (error) {
            *errorp = xasprintf("%s: %s", netstat_file, msg);
            free(msg);
            first = error;
        } else {
            h->has_netstat = true;
        }
    }

    struct cats_nl_rdma_port *ports = xcalloc(CATS_NL_MAX_RDMA_PORTS,
                                              sizeof *ports);
    error = cats_nl_read_rdma(rdma_root, ports, CATS_NL_MAX_RDMA_PORTS,
                              &n_ports, &msg);
    if (error) {
        if (!first) {
            *errorp = msg;
            first = error;
        } else {
            free(msg);
        }
        n_ports = 0;
    }
    for (size_t i = 0; i < n_ports; i++) {
        struct agent_tel_rdma *r = &h->rdma[h->n_rdma];
        static const char *const names[2] = {
            "port_xmit_packets", "port_xmit_data"
        };
        uint64_t *values[2] = { &r->xmit_packets, &r->xmit_data };
        bool *has[2] = { &r->has_xmit_packets, &r->has_xmit_data };

        memset(r, 0, sizeof *r);
        r->hw = ports[i];
        for (int k = 0; k < 2; k++) {
            char *file = xasprintf("%s/%s/ports/%u/counters/%s", rdma_root,
                                   ports[i].dev, ports[i].port, names[k]);

            error = read_counter(file, values[k], &msg);
            free(file);
            if (!error) {
                *has[k] = true;
            } else if (msg) {
                if (!first) {
                    *errorp = msg;
                    first = error;
                } else {
                    free(msg);
                }
            }
        }
        h->n_rdma++;
    }
    free(ports);
    return first;
}

void
agent_tel_init(struct agent_tel *tel)
{
    memset(tel, 0, sizeof *tel);
}

void
agent_tel_destroy(struct agent_tel *tel)
{
    if (tel) {
        free(tel->sent);
        memset(tel, 0, sizeof *tel);
    }
}

/* Host entries from 'h', appended to 'out' (room for 1 + n_rdma).
 * Returns how many. */
static size_t
host_entries(const struct agent_tel_host *h, struct cats_report_link *out)
{
    const struct cats_nl_netstat *ns = &h->netstat;
    uint32_t tcp = ((1u << CATS_NETSTAT_TCP_DELIVERED)
                    | (1u << CATS_NETSTAT_TCP_DELIVERED_CE));
    size_t n = 0;

    if (h->has_netstat && (ns->present & tcp) == tcp) {
        struct cats_report_link *l = &out[n++];

        memset(l, 0, sizeof *l);
        ovs_strlcpy(l->id, AGENT_TEL_HOST_TCP, sizeof l->id);
        l->kind = CATS_LINK_KIND_LINK;
        l->tx_packets = ns->value[CATS_NETSTAT_TCP_DELIVERED];
        l->ecn_marked_packets = ns->value[CATS_NETSTAT_TCP_DELIVERED_CE];
    }
    for (size_t i = 0; i < h->n_rdma; i++) {
        const struct agent_tel_rdma *r = &h->rdma[i];
        const struct cats_nl_rdma_port *hw = &r->hw;
        uint32_t cnp = ((1u << CATS_RDMA_RP_CNP_HANDLED)
                        | (1u << CATS_RDMA_RP_CNP_IGNORED));
        struct cats_report_link *l = &out[n];
        char id[128];

        /* A port that counts no received CNP says nothing about marks. */
        if (!(hw->present & cnp)) {
            continue;
        }
        snprintf(id, sizeof id, AGENT_TEL_RDMA_PREFIX"%s:%u", hw->dev,
                 hw->port);
        if (!cats_id_valid(id)) {
            continue;                   /* The agent API would refuse it. */
        }
        memset(l, 0, sizeof *l);
        ovs_strlcpy(l->id, id, sizeof l->id);
        l->kind = CATS_LINK_KIND_LINK;
        l->tx_packets = r->has_xmit_packets ? r->xmit_packets : 0;
        l->tx_bytes = r->has_xmit_data ? r->xmit_data * 4 : 0;
        /* A value is meaningful only with its bit in 'present'. */
        for (int c = 0; c < CATS_N_RDMA; c++) {
            if (cnp & hw->present & (1u << c)) {
                l->ecn_marked_packets += hw->value[c];
            }
        }
        n++;
    }
    return n;
}

static const struct agent_tel_sent *
find_sent(const struct agent_tel *tel, const char *id)
{
    for (size_t i = 0; i < tel->n_sent; i++) {
        if (!strcmp(tel->sent[i].id, id)) {
            return &tel->sent[i];
        }
    }
    return NULL;
}

/* Makes room in 'tel->sent' by forgetting the entries that are not in
 * 'cur'.  One of them may come back with smaller counters: from now on,
 * any entry without a memory moves the epoch on. */
static void
forget_absent(struct agent_tel *tel, const struct cats_report_link *cur,
              size_t n_cur)
{
    size_t n = 0;

    for (size_t i = 0; i < tel->n_sent; i++) {
        for (size_t j = 0; j < n_cur; j++) {
            if (!strcmp(tel->sent[i].id, cur[j].id)) {
                tel->sent[n++] = tel->sent[i];
                break;
            }
        }
    }
    tel->n_sent = n;
    tel->forgot = true;
}

int
agent_tel_build(struct agent_tel *tel, struct cats_nma *nma,
                const char *source_id, const struct sset *ifaces,
                const struct agent_tel_host *host,
                struct cats_report_telemetry *t, char **errorp)
{
    struct cats_report_link *extra = NULL;
    size_t n_extra = 0;
    int error;

    if (host) {
        extra = xcalloc(1 + host->n_rdma, sizeof *extra);
        n_extra = host_entries(host, extra);
        for (size_t i = 0; i < n_extra && !nma->reset; i++) {
            const struct cats_report_link *l = &extra[i];
            const struct agent_tel_sent *s = find_sent(tel, l->id);

            if (s ? (l->tx_packets < s->tx_packets
                     || l->tx_bytes < s->tx_bytes
                     || l->ecn_marked_packets < s->ecn_marked_packets)
                : tel->forgot) {
                /* The same epoch would make the receiver take a huge
                 * negative delta: cats_nma_to_telemetry() moves it on. */
                nma->reset = true;
                tel->n_host_resets++;
            }
        }
    }

    error = cats_nma_to_telemetry(nma, source_id, ifaces, t, errorp);
    if (error) {
        free(extra);
        return error;
    }
    if (n_extra) {
        t->links = xrealloc(t->links, (t->n_links + n_extra)
                            * sizeof *t->links);
        memcpy(&t->links[t->n_links], extra, n_extra * sizeof *extra);
        t->n_links += n_extra;
    }

    /* Every host entry ever reported is remembered (up to a bound), not
     * only the last report's: an RDMA port that comes back after a report
     * without it may have restarted its counters. */
    for (size_t i = 0; i < n_extra; i++) {
        struct agent_tel_sent *s;

        s = CONST_CAST(struct agent_tel_sent *, find_sent(tel, extra[i].id));
        if (!s) {
            if (tel->n_sent >= AGENT_TEL_MAX_SENT) {
                forget_absent(tel, extra, n_extra);
            }
            if (!tel->sent) {
                tel->sent = xcalloc(AGENT_TEL_MAX_SENT, sizeof *tel->sent);
            }
            s = &tel->sent[tel->n_sent++];
            ovs_strlcpy(s->id, extra[i].id, sizeof s->id);
        }
        s->tx_packets = extra[i].tx_packets;
        s->tx_bytes = extra[i].tx_bytes;
        s->ecn_marked_packets = extra[i].ecn_marked_packets;
    }
    free(extra);
    return 0;
}

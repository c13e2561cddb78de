/*
 * cats-agent: the telemetry reader thread (see tel-reader.h).
 *
 * Locking: 'mutex' protects the snapshot that agent/show reads; the
 * thread fills a new one after each read and never holds the mutex while
 * it reads the kernel.  The netlink socket, the libcatsnma state and the
 * report state belong to the thread alone.
 */

#include <config.h>

#include "tel-reader.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "latch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "sset.h"
#include "telemetry.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(agent_telemetry);

/* What agent/show says about one configured interface. */
struct iface_info {
    char name[IFNAMSIZ];
    bool found;
    bool loopback;                  /* Never asked for PFC or pause. */
    enum cats_nma_support pfc, pause;
    struct cats_nl_pause pause_stats;
};

/* What the thread last read. */
struct snapshot {
    uint64_t n_reads;
    long long last_read;            /* time_msec() at its start; 0: none. */
    long long last_read_ms;         /* How long it took. */
    long long max_read_ms;
    uint64_t nma_errors[CATS_NMA_N_SOURCES];
    uint64_t n_netlink_errors;      /* Socket or dump failures. */
    uint64_t n_host_errors;
    uint64_t epoch;
    uint64_t n_resets;              /* Epoch changes. */
    uint64_t n_host_resets;         /* ...caused by host entries. */
    char last_error[256];
    struct cats_report_telemetry report;    /* The last one built. */
    struct iface_info *ifaces;
    size_t n_ifaces;
};

struct agent_tel_reader {
    /* Immutable after creation. */
    struct agent_client *client;
    char *source_id;
    struct sset ifaces;
    bool host;
    char *netstat_file;
    char *rdma_root;
    pthread_t thread;
    struct latch exit_latch;

    struct ovs_mutex mutex;
    struct snapshot snap OVS_GUARDED;
};

/* State of the thread. */
struct reader_state {
    struct cats_nma nma;
    struct agent_tel tel;
    struct cats_nl_sock *sock;
    struct agent_tel_host *host;
    uint64_t n_netlink_errors;
    uint64_t n_host_errors;
    uint64_t nma_errors_seen;
    char last_error[256];
};

/* Counts (if 'counter'), logs and keeps 'error' (takes ownership). */
static void
read_error(struct reader_state *rs, uint64_t *counter, char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 60);

    if (counter) {
        (*counter)++;
    }
    VLOG_WARN_RL(&rl, "telemetry: %s", error);
    ovs_strlcpy(rs->last_error, error, sizeof rs->last_error);
    free(error);
}

static uint64_t
nma_errors_total(const struct cats_nma *nma)
{
    uint64_t n = 0;

    for (int i = 0; i < CATS_NMA_N_SOURCES; i++) {
        n += nma->errors[i];
    }
    return n;
}

static void
update_snapshot(struct agent_tel_reader *r, struct reader_state *rs,
                long long start, const struct cats_report_telemetry *t)
{
    struct snapshot *snap = &r->snap;
    long long took = time_msec() - start;
    const char *name;
    size_t i = 0;

    ovs_mutex_lock(&r->mutex);
    snap->n_reads++;
    snap->last_read = start;
    snap->last_read_ms = took;
    snap->max_read_ms = MAX(snap->max_read_ms, took);
    memcpy(snap->nma_errors, rs->nma.errors, sizeof snap->nma_errors);
    snap->n_netlink_errors = rs->n_netlink_errors;
    snap->n_host_errors = rs->n_host_errors;
    snap->epoch = rs->nma.counters_epoch;
    snap->n_resets = rs->nma.n_resets;
    snap->n_host_resets = rs->tel.n_host_resets;
    ovs_strlcpy(snap->last_error, rs->last_error, sizeof snap->last_error);
    if (t) {
        cats_report_telemetry_destroy(&snap->report);
        snap->report = *t;
        snap->report.links = xmemdup(t->links, (MAX(t->n_links, 1)
                                                * sizeof *t->links));
    }
    SSET_FOR_EACH (name, &r->ifaces) {
        struct iface_info *info = &snap->ifaces[i++];
        const struct cats_nma_link *link = cats_nma_find_link_by_name(
            &rs->nma, name);

        info->found = link != NULL;
        if (link) {
            info->loopback = (link->nl.flags & IFF_LOOPBACK) != 0;
            info->pfc = link->pfc_support;
            info->pause = link->pause_support;
            info->pause_stats = link->pause;
        }
    }
    ovs_mutex_unlock(&r->mutex);
}

/* One read and one report. */
static void
read_once(struct agent_tel_reader *r, struct reader_state *rs)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 60);
    long long start = time_msec();
    struct cats_report_telemetry *t;
    char *msg;
    int error;

    if (!sset_is_empty(&r->ifaces)) {
        if (!rs->sock) {
            error = cats_nl_sock_open(&rs->sock, &msg);
            if (error) {
                rs->sock = NULL;
                read_error(rs, &rs->n_netlink_errors, msg);
            }
        }
        if (rs->sock) {
            error = cats_nma_poll(&rs->nma, rs->sock, &r->ifaces, &msg);
            if (error) {
                read_error(rs, &rs->n_netlink_errors, msg);
            }
        }
        uint64_t n = nma_errors_total(&rs->nma);
        if (n != rs->nma_errors_seen && rs->nma.last_error) {
            rs->nma_errors_seen = n;
            read_error(rs, NULL, xstrdup(rs->nma.last_error));
        }
    }
    if (r->host) {
        error = agent_tel_read_host(r->netstat_file, r->rdma_root, rs->host,
                                    &msg);
        if (error) {
            read_error(rs, &rs->n_host_errors, msg);
        }
    }

    t = xzalloc(sizeof *t);
    error = agent_tel_build(&rs->tel, &rs->nma, r->source_id, &r->ifaces,
                            r->host ? rs->host : NULL, t, &msg);
    if (error) {
        /* The node id was checked at start-up: this cannot happen. */
        VLOG_ERR_RL(&rl, "telemetry: %s", msg);
        free(msg);
        free(t);
        update_snapshot(r, rs, start, NULL);
        return;
    }
    update_snapshot(r, rs, start, t);
    agent_client_post_telemetry(r->client, t);
}

static void *
reader_thread(void *r_)
{
    struct agent_tel_reader *r = r_;
    struct reader_state rs;
    long long next;

    /* This thread never touches RCU-protected data (see agent-client.c). */
    ovsrcu_quiesce_start();

    memset(&rs, 0, sizeof rs);
    cats_nma_init(&rs.nma, time_wall_usec());
    agent_tel_init(&rs.tel);
    rs.host = xzalloc(sizeof *rs.host);

    next = time_msec();
    for (;;) {
        struct cats_stream_status tst;
        struct pollfd pfd;
        long long now = time_msec();

        if (now >= next) {
            agent_client_get_tel_status(r->client, &tst);
            read_once(r, &rs);
            /* Keep the cadence; after a slow read, start afresh. */
            next += tst.interval_ms;
            now = time_msec();
            if (next <= now) {
                next = now + tst.interval_ms;
            }
        }

        memset(&pfd, 0, sizeof pfd);
        pfd.fd = r->exit_latch.fds[0];
        pfd.events = POLLIN;
        if (poll(&pfd, 1, MAX(0, MIN(next - now, INT_MAX))) > 0
            || latch_is_set(&r->exit_latch)) {
            break;
        }
    }

    cats_nl_sock_close(rs.sock);
    cats_nma_destroy(&rs.nma);
    agent_tel_destroy(&rs.tel);
    free(rs.host);
    return NULL;
}

struct agent_tel_reader *
agent_tel_reader_create(const struct agent_tel_reader_config *cfg)
{
    struct agent_tel_reader *r = xzalloc(sizeof *r);
    const char *name;
    size_t i = 0;

    r->client = cfg->client;
    r->source_id = xstrdup(cfg->source_id);
    sset_clone(&r->ifaces, cfg->ifaces);
    r->host = cfg->host;
    r->netstat_file = xstrdup(cfg->netstat_file ? cfg->netstat_file
                              : AGENT_TEL_NETSTAT);
    r->rdma_root = xstrdup(cfg->rdma_root ? cfg->rdma_root
                           : AGENT_TEL_RDMA_ROOT);
    latch_init(&r->exit_latch);
    ovs_mutex_init(&r->mutex);

    r->snap.ifaces = xcalloc(sset_count(&r->ifaces) + 1,
                             sizeof *r->snap.ifaces);
    r->snap.n_ifaces = sset_count(&r->ifaces);
    SSET_FOR_EACH (name, &r->ifaces) {
        ovs_strlcpy(r->snap.ifaces[i++].name, name,
                    sizeof r->snap.ifaces[0].name);
    }

    r->thread = ovs_thread_create("telemetry", reader_thread, r);
    return r;
}

void
agent_tel_reader_destroy(struct agent_tel_reader *r)
{
    if (!r) {
        return;
    }
    latch_set(&r->exit_latch);
    xpthread_join(r->thread, NULL);
    latch_destroy(&r->exit_latch);

    cats_report_telemetry_destroy(&r->snap.report);
    free(r->snap.ifaces);
    ovs_mutex_destroy(&r->mutex);
    sset_destroy(&r->ifaces);
    free(r->source_id);
    free(r->netstat_file);
    free(r->rdma_root);
    free(r);
}

static const char *
support_name(enum cats_nma_support s)
{
    switch (s) {
    case CATS_NMA_UNKNOWN:
        return "not asked yet";
    case CATS_NMA_SUPPORTED:
        return "supported";
    case CATS_NMA_UNSUPPORTED:
        return "not supported";
    }
    return "?";
}

static void
format_link(struct ds *s, const struct cats_report_link *l)
{
    ds_put_format(s, " tx_packets=%"PRIu64" tx_bytes=%"PRIu64
                  " ecn_marked=%"PRIu64" drops=%"PRIu64, l->tx_packets,
                  l->tx_bytes, l->ecn_marked_packets, l->drops);
    if (l->has_queue_depth) {
        ds_put_format(s, " queue_bytes=%"PRIu64, l->queue_depth_bytes);
    }
    for (size_t k = 0; k < l->n_pfc; k++) {
        ds_put_format(s, " pfc%u(rx=%"PRIu64",tx=%"PRIu64")",
                      l->pfc[k].priority, l->pfc[k].rx_pause_frames,
                      l->pfc[k].tx_pause_frames);
    }
}

static const struct cats_report_link *
find_entry(const struct cats_report_telemetry *t, const char *id)
{
    for (size_t i = 0; i < t->n_links; i++) {
        if (!strcmp(t->links[i].id, id)) {
            return &t->links[i];
        }
    }
    return NULL;
}

void
agent_tel_reader_format(struct agent_tel_reader *r, struct ds *s)
{
    long long now = time_msec();

    ovs_mutex_lock(&r->mutex);
    const struct snapshot *snap = &r->snap;

    ds_put_format(s, "  reads: %"PRIu64, snap->n_reads);
    if (snap->last_read) {
        ds_put_format(s, ", last %.1f s ago, took %lld ms (max %lld ms)",
                      (now - snap->last_read) / 1000.0, snap->last_read_ms,
                      snap->max_read_ms);
    }
    ds_put_format(s, "\n  counters_epoch: %"PRIu64" (changed %"PRIu64
                  " times, %"PRIu64" by host counters)\n", snap->epoch,
                  snap->n_resets, snap->n_host_resets);
    ds_put_cstr(s, "  read errors:");
    for (int i = 0; i < CATS_NMA_N_SOURCES; i++) {
        ds_put_format(s, " %s=%"PRIu64, cats_nma_source_name(i),
                      snap->nma_errors[i]);
    }
    ds_put_format(s, " netlink=%"PRIu64" host=%"PRIu64"\n",
                  snap->n_netlink_errors, snap->n_host_errors);
    if (snap->last_error[0]) {
        ds_put_format(s, "  last read error: %s\n", snap->last_error);
    }

    for (size_t i = 0; i < snap->n_ifaces; i++) {
        const struct iface_info *info = &snap->ifaces[i];
        const struct cats_report_link *l;

        ds_put_format(s, "  link %s:", info->name);
        if (!snap->n_reads) {
            ds_put_cstr(s, " not read yet\n");
            continue;
        } else if (!info->found) {
            ds_put_cstr(s, " no such interface (not reported)\n");
            continue;
        }
        l = find_entry(&snap->report, info->name);
        if (l) {
            format_link(s, l);
        }
        if (info->loopback) {
            ds_put_cstr(s, " (loopback: no PFC, no pause)\n");
            continue;
        }
        ds_put_format(s, " pfc=%s pause=%s", support_name(info->pfc),
                      support_name(info->pause));
        if (info->pause == CATS_NMA_SUPPORTED) {
            const struct cats_nl_pause *p = &info->pause_stats;

            ds_put_format(s, "(rx=%s tx=%s", p->rx ? "on" : "off",
                          p->tx ? "on" : "off");
            if (p->has_rx_frames) {
                ds_put_format(s, " rx_frames=%"PRIu64, p->rx_frames);
            }
            if (p->has_tx_frames) {
                ds_put_format(s, " tx_frames=%"PRIu64, p->tx_frames);
            }
            ds_put_cstr(s, ", not reported)");
        }
        ds_put_char(s, '\n');
    }
    if (r->host) {
        bool any = false;

        for (size_t i = 0; i < snap->report.n_links; i++) {
            const struct cats_report_link *l = &snap->report.links[i];

            if (!strcmp(l->id, AGENT_TEL_HOST_TCP)
                || !strncmp(l->id, AGENT_TEL_RDMA_PREFIX,
                            strlen(AGENT_TEL_RDMA_PREFIX))) {
                ds_put_format(s, "  host %s:", l->id);
                format_link(s, l);
                ds_put_char(s, '\n');
                any = true;
            }
        }
        if (!any) {
            ds_put_cstr(s, snap->n_reads ? "  host: no entry (see read "
                        "errors)\n" : "  host: not read yet\n");
        }
    }
    ovs_mutex_unlock(&r->mutex);
}

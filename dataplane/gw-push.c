/*
 * cats-gw: the telemetry push to cats-controller (see gw-push.h), on
 * libcatsclient (include/cats/client.h): the gateway's part is the report
 * and its cadence; the client's thread runs the stream.
 *
 * The client thread is a DPDK control thread (rte_ctrl_thread_create()),
 * never a forwarding lcore; gRPC is initialized on it, so that the threads
 * gRPC creates inherit its CPU set.  The report is built on that thread,
 * from the counters that the forwarding lcores publish (gw_port_read(), no
 * lock), every interval and at once when a port's storm classes change
 * (gw-cadence.h): the push looks at the snapshots every few milliseconds
 * while some class is held, so the fast path signals nothing itself.
 */

#include "gw-push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>

#include "cats/client.h"
#include "gw-cadence.h"
#include "gw-fwd.h"

#define TICK_MS 100
#define INTERVAL_MIN_MS 100
#define INTERVAL_MAX_MS 60000

static struct {
    struct cats_client *client;
    struct cats_stream *stream;
    char target[128];
    char source_id[65];

    /* Client thread only. */
    uint64_t n_streams_seen;
    struct gw_cadence cadence;

    uint64_t n_storm_reports;   /* Written by the client thread (atomic). */
} push;

/* The report. */

/* Builds the report of every path from the ports' snapshots 'snaps' (its
 * source_id and seq left for the client to fill in), malloc'd, its links
 * too. */
static struct cats_report_telemetry *
build_report(const struct gw_port_snap snaps[])
{
    struct cats_report_telemetry *t = calloc(1, sizeof *t);

    if (!t || !(t->links = calloc(gw.n_ports + 1, sizeof *t->links))) {
        abort();
    }
    t->counters_epoch = gw.start_realtime_ns;
    t->n_links = gw.n_ports;

    for (unsigned int p = 0; p < gw.n_ports; p++) {
        const struct gw_port *in = &gw.ports[p], *out = in->peer;
        const struct gw_port_snap *si = &snaps[in->id];
        const struct gw_port_snap *so = &snaps[out->id];
        const struct gw_dir *d = in->in;
        struct cats_report_link *l = &t->links[p];
        uint8_t prios = in->lossless | out->lossless;
        uint64_t marked = 0, drops = 0, depth = 0;

        snprintf(l->id, sizeof l->id, "%s:%s", in->name, out->name);
        l->kind = CATS_LINK_KIND_PATH;
        l->tx_packets = so->cnt.tx_packets;
        l->tx_bytes = so->cnt.tx_bytes;
        for (int c = 0; c < GW_N_CLASSES; c++) {
            const struct gw_class_stats *cs = &si->stats.classes[c];

            marked += cs->ecn_marked;
            drops += gw_class_stats_drops(cs);
            depth += cs->depth;
        }
        l->ecn_marked_packets = marked;
        l->drops = drops;
        l->has_queue_depth = true;
        l->queue_depth_bytes = depth;
        l->has_rtt = true;
        l->rtt_us = (d->delay_ns + out->in->delay_ns) / 1000.0;
        l->speed_bps = (d->tbf.rate_bps ? d->tbf.rate_bps
                        : gw.conf->ports[out->id].cfg.speed_bps);

        for (int c = 0; c < GW_N_CLASSES && c < CATS_PFC_PRIORITIES; c++) {
            struct cats_report_pfc *pp;

            if (!((prios >> c) & 1)) {
                continue;
            }
            pp = &l->pfc[l->n_pfc++];
            pp->priority = c;
            pp->rx_pause_frames = so->stats.classes[c].pause_rx;
            pp->tx_pause_frames = si->stats.classes[c].pause_tx;
            pp->rx_pause_us = so->stats.classes[c].rx_paused_ns / 1000;
            pp->tx_pause_us = si->stats.classes[c].tx_paused_ns / 1000;
            pp->paused_for_us = so->paused_for_ns[c] / 1000;
            pp->storm = so->stats.classes[c].storm;
        }
    }
    return t;
}

/* The client's hooks. */

static void
push_log(void *aux __rte_unused, enum cats_client_log level __rte_unused,
         const char *msg)
{
    fprintf(stderr, "cats-gw: push to %s\n", msg);
}

/* Copies every port's snapshot into 'snaps', its storm classes into
 * 'storm'; returns true if some class is held or in a storm. */
static bool
read_ports(struct gw_port_snap snaps[], uint8_t storm[])
{
    bool watch = false;

    for (unsigned int p = 0; p < gw.n_ports; p++) {
        gw_port_read(p, &snaps[p]);
        storm[p] = 0;
        for (uint8_t ll = gw.ports[p].lossless; ll; ll &= ll - 1) {
            int c = __builtin_ctz(ll);

            storm[p] |= snaps[p].stats.classes[c].storm << c;
        }
        watch |= snaps[p].held || storm[p];
    }
    return watch;
}

/* A report every interval, at once on each new stream, and at once when a
 * storm starts or ends (gw-cadence.h). */
static long long
push_tick(void *aux __rte_unused)
{
    static struct gw_port_snap snaps[GW_MAX_PORTS];
    uint8_t storm[GW_MAX_PORTS];
    struct cats_stream_status st;
    long long now = cats_client_now();
    enum gw_cadence_due due;
    bool watch, taken;
    uint64_t skipped;

    cats_stream_get_status(push.stream, &st);
    if (st.state != CATS_STREAM_STREAMING) {
        return TICK_MS;
    }
    if (st.n_streams != push.n_streams_seen) {
        push.n_streams_seen = st.n_streams;
        gw_cadence_restart(&push.cadence, now);
    }
    watch = read_ports(snaps, storm);
    due = gw_cadence_due(&push.cadence, now, storm);
    if (due != GW_CADENCE_NONE) {
        /* The stream skips a report while the previous one is on the
         * wire: a storm's report then waits for the next look. */
        skipped = st.n_skipped + st.n_dropped;
        cats_stream_post(push.stream, build_report(snaps));
        cats_stream_get_status(push.stream, &st);
        taken = st.n_skipped + st.n_dropped == skipped;
        gw_cadence_sent(&push.cadence, due, now, st.interval_ms, storm,
                        taken);
        if (taken && due == GW_CADENCE_STORM) {
            __atomic_add_fetch(&push.n_storm_reports, 1, __ATOMIC_RELAXED);
        }
    }
    return gw_cadence_wait(&push.cadence, now, watch, storm);
}

static int
push_thread_create(pthread_t *thread, void *(*start)(void *), void *arg)
{
    return rte_ctrl_thread_create(thread, "gw-push", NULL, start, arg);
}

int
gw_push_start(const struct gw_push_config *cfg)
{
    struct cats_client_config ccfg = {
        .target = cfg->target,
        .user_agent = "cats-gw/0.1",
        .tick_ms = TICK_MS,
        .hooks = {
            .log = push_log,
            .tick = push_tick,
            .thread_create = push_thread_create,
        },
    };
    struct cats_stream_config scfg = {
        .method = "/cats.v1.Telemetry/StreamTelemetry",
        .name = "StreamTelemetry",
        .what = "report",
        .telemetry = true,
        .interval_ms = cfg->interval_ms,
        .interval_min_ms = INTERVAL_MIN_MS,
        .interval_max_ms = INTERVAL_MAX_MS,
        .skip_if_busy = true,
        .source_id = cfg->source_id,
    };
    unsigned int idle_ms = TICK_MS;
    int error;

    /* Idle, look at least twice per shortest watchdog time. */
    for (unsigned int p = 0; p < gw.n_ports; p++) {
        uint64_t half_ms = gw.ports[p].pfc.watchdog_ns / 2000000;

        if (gw.ports[p].lossless && half_ms < idle_ms) {
            idle_ms = half_ms;
        }
    }
    gw_cadence_init(&push.cadence, gw.n_ports, idle_ms);
    snprintf(push.target, sizeof push.target, "%s", cfg->target);
    snprintf(push.source_id, sizeof push.source_id, "%s", cfg->source_id);
    push.client = cats_client_create(&ccfg);
    push.stream = cats_client_add_stream(push.client, &scfg);
    error = cats_client_start(push.client);
    if (error) {
        cats_client_destroy(push.client);
        push.client = NULL;
    }
    return error;
}

void
gw_push_stop(void)
{
    cats_client_destroy(push.client);
    push.client = NULL;
}

bool
gw_push_get_status(struct gw_push_status *st)
{
    struct cats_stream_status cs;

    if (!push.client) {
        return false;
    }
    cats_stream_get_status(push.stream, &cs);
    memset(st, 0, sizeof *st);
    snprintf(st->target, sizeof st->target, "%s", push.target);
    snprintf(st->source_id, sizeof st->source_id, "%s", push.source_id);
    st->state = cats_stream_state_name(cs.state);
    st->epoch = gw.start_realtime_ns;
    st->interval_ms = cs.interval_ms;
    st->reports_sent = cs.n_sent;
    st->reports_skipped = cs.n_skipped;
    st->storm_reports = __atomic_load_n(&push.n_storm_reports,
                                        __ATOMIC_RELAXED);
    st->acks = cs.n_acks;
    st->last_sent_seq = cs.last_sent_seq;
    st->last_ack_seq = cs.last_ack_seq;
    st->refused = cs.n_refused;
    st->streams = cs.n_streams;
    snprintf(st->last_error, sizeof st->last_error, "%s", cs.last_error);
    return true;
}

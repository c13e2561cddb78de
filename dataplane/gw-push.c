/*
 * cats-gw: the telemetry push to cats-controller (see gw-push.h).
 *
 * gRPC core rules followed here (as in cats-agent's client): at most one
 * batch per op type in flight per call, so one SEND_MESSAGE and one
 * RECV_MESSAGE at a time; every buffer given to a batch lives until the
 * batch completes; a call is released only once every batch started on it
 * has completed and its status has come.
 *
 * Everything below runs on the push thread, except gw_push_start(),
 * gw_push_stop() and gw_push_get_status(); 'status_mutex' guards only the
 * status copy that gw_push_get_status() reads.  gRPC is initialized on the
 * push thread, so that the threads gRPC creates inherit its CPU set (a
 * control core), not a forwarding lcore's.
 */

#include "gw-push.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <rte_lcore.h>

#include "gw-fwd.h"
#include "proto/cats.pb-c.h"

#define METHOD "/cats.v1.Telemetry/StreamTelemetry"
#define TICK_MS 100
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 8000
#define ACK_TIMEOUT_MIN_MS 5000
#define INTERVAL_MIN_MS 100
#define INTERVAL_MAX_MS 60000

enum op {
    OP_START,                   /* Send and receive initial metadata. */
    OP_SEND,                    /* One report. */
    OP_RECV,                    /* One ack. */
    OP_STATUS,                  /* The call's end. */
    N_OPS
};

struct stream;

struct tag {
    struct stream *s;
    enum op op;
};

struct stream {
    grpc_call *call;
    struct tag tags[N_OPS];
    int pending;                /* Batches in flight. */
    bool finished;              /* Status received. */
    bool send_busy;
    uint64_t send_seq;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
};

static struct {
    bool started;
    pthread_t thread;
    volatile bool exiting;

    /* Push thread only. */
    char *target;
    char *source_id;
    grpc_completion_queue *cq;
    grpc_channel_credentials *creds;
    grpc_channel *channel;
    struct stream *active;
    int live;                   /* Streams not yet released. */
    unsigned int interval_ms;
    unsigned int backoff_ms;
    long long backoff_until;    /* 0: not in backoff. */
    long long next_report;
    long long unacked_since;    /* 0: everything sent is acked. */
    uint64_t seq;

    pthread_mutex_t status_mutex;
    struct gw_push_status st;
} push = {
    .status_mutex = PTHREAD_MUTEX_INITIALIZER,
};

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static gpr_timespec
deadline_in(long long ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void __attribute__((format(printf, 1, 2)))
set_error(const char *format, ...)
{
    va_list args;

    pthread_mutex_lock(&push.status_mutex);
    va_start(args, format);
    vsnprintf(push.st.last_error, sizeof push.st.last_error, format, args);
    va_end(args);
    pthread_mutex_unlock(&push.status_mutex);
    fprintf(stderr, "cats-gw: push to %s: %s\n", push.target,
            push.st.last_error);
}

#define STATUS_UPDATE(STMT)                             \
    do {                                                \
        pthread_mutex_lock(&push.status_mutex);         \
        STMT;                                           \
        pthread_mutex_unlock(&push.status_mutex);       \
    } while (0)

/* The report. */

uint8_t *
gw_push_build_report(const char *source_id, uint64_t seq, size_t *sizep)
{
    static struct gw_port_snap snaps[GW_MAX_PORTS];
    Cats__V1__TelemetryReport report = CATS__V1__TELEMETRY_REPORT__INIT;
    Cats__V1__LinkTelemetry links[GW_MAX_PORTS];
    Cats__V1__LinkTelemetry *link_ptrs[GW_MAX_PORTS];
    Cats__V1__PfcPriority pfc[GW_MAX_PORTS][GW_N_CLASSES];
    Cats__V1__PfcPriority *pfc_ptrs[GW_MAX_PORTS][GW_N_CLASSES];
    char ids[GW_MAX_PORTS][2 * GW_PORT_NAME_MAX + 2];
    uint8_t *buf;

    for (unsigned int p = 0; p < gw.n_ports; p++) {
        gw_port_read(p, &snaps[p]);
    }

    report.source_id = (char *) source_id;
    report.seq = seq;
    report.counters_epoch = gw.start_realtime_ns;
    report.n_links = gw.n_ports;
    report.links = link_ptrs;

    for (unsigned int p = 0; p < gw.n_ports; p++) {
        const struct gw_port *in = &gw.ports[p], *out = in->peer;
        const struct gw_port_snap *si = &snaps[in->id];
        const struct gw_port_snap *so = &snaps[out->id];
        const struct gw_dir *d = in->in;
        Cats__V1__LinkTelemetry *l = &links[p];
        uint8_t prios = in->lossless | out->lossless;
        uint64_t marked = 0, drops = 0, depth = 0;

        cats__v1__link_telemetry__init(l);
        link_ptrs[p] = l;
        snprintf(ids[p], sizeof ids[p], "%s:%s", in->name, out->name);
        l->id = ids[p];
        l->kind = CATS__V1__LINK_KIND__LINK_KIND_PATH;
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
        l->_queue_depth_bytes_case
            = CATS__V1__LINK_TELEMETRY___QUEUE_DEPTH_BYTES_QUEUE_DEPTH_BYTES;
        l->queue_depth_bytes = depth;
        l->_rtt_us_case = CATS__V1__LINK_TELEMETRY___RTT_US_RTT_US;
        l->rtt_us = (d->delay_ns + out->in->delay_ns) / 1000.0;
        l->speed_bps = (d->tbf.rate_bps ? d->tbf.rate_bps
                        : gw.conf->ports[out->id].cfg.speed_bps);

        l->pfc = pfc_ptrs[p];
        l->n_pfc = 0;
        for (int c = 0; c < GW_N_CLASSES; c++) {
            Cats__V1__PfcPriority *pp;

            if (!((prios >> c) & 1)) {
                continue;
            }
            pp = &pfc[p][l->n_pfc];
            cats__v1__pfc_priority__init(pp);
            pp->priority = c;
            pp->rx_pause_frames = so->stats.classes[c].pause_rx;
            pp->tx_pause_frames = si->stats.classes[c].pause_tx;
            pp->rx_pause_us = so->stats.classes[c].rx_paused_ns / 1000;
            pp->tx_pause_us = si->stats.classes[c].tx_paused_ns / 1000;
            pp->paused_for_us = so->paused_for_ns[c] / 1000;
            pfc_ptrs[p][l->n_pfc++] = pp;
        }
    }

    *sizep = cats__v1__telemetry_report__get_packed_size(&report);
    buf = malloc(*sizep ? *sizep : 1);
    if (!buf) {
        abort();
    }
    cats__v1__telemetry_report__pack(&report, buf);
    return buf;
}

/* Streams. */

static bool
stream_start_batch(struct stream *s, const grpc_op *ops, size_t n,
                   enum op op)
{
    grpc_call_error error;

    error = grpc_call_start_batch(s->call, ops, n, &s->tags[op], NULL);
    if (error != GRPC_CALL_OK) {
        set_error("grpc_call_start_batch: %s",
                  grpc_call_error_to_string(error));
        grpc_call_cancel(s->call, NULL);
        return false;
    }
    s->pending++;
    return true;
}

static void
stream_release_if_done(struct stream *s)
{
    if (s->pending || !s->finished) {
        return;
    }
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    if (s->send_buf) {
        grpc_byte_buffer_destroy(s->send_buf);
    }
    if (s->recv_buf) {
        grpc_byte_buffer_destroy(s->recv_buf);
    }
    grpc_call_unref(s->call);
    free(s);
    push.live--;
}

static void
enter_backoff(void)
{
    /* +-20% jitter, so that gateways restarted together spread out. */
    unsigned int jitter = rand() % (push.backoff_ms * 2 / 5 + 1);
    unsigned int delay = push.backoff_ms * 4 / 5 + jitter;

    push.active = NULL;
    if (push.channel) {
        grpc_channel_destroy(push.channel);
        push.channel = NULL;
    }
    push.backoff_until = mono_ms() + delay;
    push.backoff_ms = (push.backoff_ms * 2 > BACKOFF_MAX_MS
                       ? BACKOFF_MAX_MS : push.backoff_ms * 2);
    STATUS_UPDATE(push.st.state = "backoff");
}

static void
start_stream(void)
{
    struct stream *s;
    grpc_op ops[2];
    bool ok;

    if (!push.channel) {
        grpc_arg args[] = {
            { GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
              { .integer = 1 } },
            { GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              { .integer = BACKOFF_MIN_MS } },
            { GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              { .integer = BACKOFF_MIN_MS } },
            { GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              { .integer = BACKOFF_MAX_MS } },
            { GRPC_ARG_STRING, GRPC_ARG_PRIMARY_USER_AGENT_STRING,
              { .string = (char *) "cats-gw/0.1" } },
        };
        grpc_channel_args chargs = { sizeof args / sizeof *args, args };

        /* A new channel, so a new connection, per attempt: our backoff
         * decides when to retry, not gRPC's (two minutes at most). */
        push.channel = grpc_channel_create(push.target, push.creds, &chargs);
    }

    s = calloc(1, sizeof *s);
    if (!s) {
        abort();
    }
    for (int i = 0; i < N_OPS; i++) {
        s->tags[i].s = s;
        s->tags[i].op = i;
    }
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();
    s->call = grpc_channel_create_call(push.channel, NULL,
                                       GRPC_PROPAGATE_DEFAULTS, push.cq,
                                       grpc_slice_from_static_string(METHOD),
                                       NULL,
                                       gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                       NULL);
    push.live++;
    push.active = s;
    push.backoff_until = 0;
    push.unacked_since = 0;
    push.next_report = mono_ms();
    STATUS_UPDATE(push.st.state = "streaming"; push.st.streams++);

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ok = stream_start_batch(s, ops, 2, OP_START);

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    if (!stream_start_batch(s, ops, 1, OP_STATUS)) {
        /* No status will ever come: give the call up here. */
        s->finished = true;
        stream_release_if_done(s);
        enter_backoff();
        return;
    }

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_MESSAGE;
    ops[0].data.recv_message.recv_message = &s->recv_buf;
    if (!stream_start_batch(s, ops, 1, OP_RECV) || !ok) {
        grpc_call_cancel(s->call, NULL);
    }
}

static void
send_report(struct stream *s)
{
    grpc_slice slice;
    grpc_op op;
    uint8_t *buf;
    size_t size;

    if (s->send_busy) {
        /* HTTP/2 flow control holds the previous one: skip a round
         * rather than queue stale counters. */
        STATUS_UPDATE(push.st.reports_skipped++);
        return;
    }
    buf = gw_push_build_report(push.source_id, push.seq + 1, &size);
    slice = grpc_slice_from_copied_buffer((const char *) buf, size);
    free(buf);
    s->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->send_buf;
    if (stream_start_batch(s, &op, 1, OP_SEND)) {
        s->send_busy = true;
        s->send_seq = ++push.seq;
    } else {
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
    }
}

static uint8_t *
flatten(grpc_byte_buffer *bb, size_t *sizep)
{
    grpc_byte_buffer_reader reader;
    grpc_slice slice;
    uint8_t *data;

    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        return NULL;
    }
    slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    *sizep = GRPC_SLICE_LENGTH(slice);
    data = malloc(*sizep ? *sizep : 1);
    if (!data) {
        abort();
    }
    memcpy(data, GRPC_SLICE_START_PTR(slice), *sizep);
    grpc_slice_unref(slice);
    return data;
}

static void
on_ack(struct stream *s, const uint8_t *data, size_t size)
{
    Cats__V1__TelemetryAck *ack;

    ack = cats__v1__telemetry_ack__unpack(NULL, size, data);
    if (!ack) {
        set_error("undecodable ack: restarting the stream");
        grpc_call_cancel(s->call, NULL);
        return;
    }
    push.backoff_ms = BACKOFF_MIN_MS;   /* End to end works. */
    if (ack->report_interval_ms >= INTERVAL_MIN_MS
        && ack->report_interval_ms <= INTERVAL_MAX_MS) {
        push.interval_ms = ack->report_interval_ms;
    }
    pthread_mutex_lock(&push.status_mutex);
    push.st.acks++;
    if (ack->seq > push.st.last_ack_seq) {
        push.st.last_ack_seq = ack->seq;
    }
    push.st.interval_ms = push.interval_ms;
    if (push.st.last_ack_seq >= push.st.last_sent_seq) {
        push.unacked_since = 0;
    }
    if (ack->error_code) {
        push.st.refused++;
    }
    pthread_mutex_unlock(&push.status_mutex);
    if (ack->error_code) {
        set_error("report %"PRIu64" refused (status %"PRIu32"): %.100s",
                  ack->error_seq, ack->error_code,
                  ack->error_message ? ack->error_message : "");
    }
    cats__v1__telemetry_ack__free_unpacked(ack, NULL);
}

static void
handle_event(const grpc_event *ev)
{
    struct tag *tag = ev->tag;
    struct stream *s = tag->s;
    bool current = s == push.active;

    s->pending--;
    switch (tag->op) {
    case OP_START:
        break;

    case OP_SEND:
        grpc_byte_buffer_destroy(s->send_buf);
        s->send_buf = NULL;
        s->send_busy = false;
        if (current && ev->success) {
            STATUS_UPDATE(push.st.reports_sent++;
                          push.st.last_sent_seq = s->send_seq);
            if (!push.unacked_since) {
                push.unacked_since = mono_ms();
            }
        }
        break;

    case OP_RECV:
        if (ev->success && s->recv_buf) {
            size_t size;
            uint8_t *data = flatten(s->recv_buf, &size);

            grpc_byte_buffer_destroy(s->recv_buf);
            s->recv_buf = NULL;
            if (current && data) {
                on_ack(s, data, size);
            }
            free(data);
            if (!s->finished) {
                grpc_op op;

                memset(&op, 0, sizeof op);
                op.op = GRPC_OP_RECV_MESSAGE;
                op.data.recv_message.recv_message = &s->recv_buf;
                stream_start_batch(s, &op, 1, OP_RECV);
            }
        }
        /* Otherwise the stream is over: its status says why. */
        break;

    case OP_STATUS:
        s->finished = true;
        if (current) {
            size_t len = GRPC_SLICE_LENGTH(s->details);

            set_error("stream ended: status %d%s%.*s", (int) s->status,
                      len ? ": " : "", (int) (len > 120 ? 120 : len),
                      (const char *) GRPC_SLICE_START_PTR(s->details));
            enter_backoff();
        }
        break;

    case N_OPS:
    default:
        abort();
    }
    stream_release_if_done(s);
}

static void
run_timers(long long now)
{
    struct stream *s = push.active;

    if (!s) {
        if (push.backoff_until && now >= push.backoff_until) {
            start_stream();
        }
        return;
    }
    if (push.unacked_since) {
        long long timeout = 3LL * push.interval_ms;

        if (timeout < ACK_TIMEOUT_MIN_MS) {
            timeout = ACK_TIMEOUT_MIN_MS;
        }
        if (now - push.unacked_since >= timeout) {
            push.unacked_since = 0;
            grpc_call_cancel_with_status(s->call,
                                         GRPC_STATUS_DEADLINE_EXCEEDED,
                                         "no ack in time", NULL);
            return;
        }
    }
    if (now >= push.next_report && !s->finished) {
        send_report(s);
        push.next_report = now + push.interval_ms;
    }
}

static void *
push_thread(void *arg __rte_unused)
{
    grpc_init();
    push.creds = grpc_insecure_credentials_create();
    push.cq = grpc_completion_queue_create_for_next(NULL);

    start_stream();
    for (;;) {
        long long now = mono_ms();
        long long wait = TICK_MS;
        grpc_event ev;

        if (push.exiting) {
            if (push.active) {
                grpc_call_cancel(push.active->call, NULL);
                push.active = NULL;
            }
            if (!push.live) {
                break;
            }
        } else {
            run_timers(now);
            if (push.active && push.next_report - now < wait) {
                wait = push.next_report - now;
            } else if (!push.active && push.backoff_until
                       && push.backoff_until - now < wait) {
                wait = push.backoff_until - now;
            }
        }
        if (wait < 1) {
            wait = 1;
        }
        ev = grpc_completion_queue_next(push.cq, deadline_in(wait), NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            handle_event(&ev);
        }
    }

    if (push.channel) {
        grpc_channel_destroy(push.channel);
        push.channel = NULL;
    }
    grpc_completion_queue_shutdown(push.cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            push.cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);

        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
    }
    grpc_completion_queue_destroy(push.cq);
    grpc_channel_credentials_release(push.creds);
    grpc_shutdown();
    return NULL;
}

int
gw_push_start(const struct gw_push_config *cfg)
{
    int error;

    push.target = strdup(cfg->target);
    push.source_id = strdup(cfg->source_id);
    if (!push.target || !push.source_id) {
        return ENOMEM;
    }
    push.interval_ms = cfg->interval_ms;
    push.backoff_ms = BACKOFF_MIN_MS;
    snprintf(push.st.target, sizeof push.st.target, "%s", cfg->target);
    snprintf(push.st.source_id, sizeof push.st.source_id, "%s",
             cfg->source_id);
    push.st.state = "streaming";
    push.st.epoch = gw.start_realtime_ns;
    push.st.interval_ms = cfg->interval_ms;

    error = rte_ctrl_thread_create(&push.thread, "gw-push", NULL,
                                   push_thread, NULL);
    if (error) {
        return error;
    }
    push.started = true;
    return 0;
}

void
gw_push_stop(void)
{
    if (!push.started) {
        return;
    }
    push.exiting = true;
    pthread_join(push.thread, NULL);
    push.started = false;
    free(push.target);
    free(push.source_id);
}

bool
gw_push_get_status(struct gw_push_status *st)
{
    if (!push.started) {
        return false;
    }
    pthread_mutex_lock(&push.status_mutex);
    *st = push.st;
    pthread_mutex_unlock(&push.status_mutex);
    return true;
}

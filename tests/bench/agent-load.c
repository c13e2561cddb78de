/*
 * agent-load: a load generator for the cats.v1.Agent API (issue 3).
 *
 * Registers --streams nodes (RegisterNode) over --connections gRPC channels,
 * keeps one StreamReports stream open per node, and sends LoadReports on an
 * open-loop schedule: every stream at --rate Hz, the streams' phases spread
 * evenly over one period so that the aggregate is smooth.  Acks are read as
 * they come; one ack may cover several seqs.  The round trip (rtt) is
 * measured from the moment a report was due, so that time spent waiting
 * for the send slot or for the worker counts; wire_rtt from the moment it
 * was handed to gRPC, and send_lag is the difference.
 *
 * gRPC core C API only.  --threads workers, each with its own completion
 * queues (one per 1,000 streams, see worker_poll()) and its own share of
 * the streams: a stream is only ever touched by its worker, so no lock is
 * needed (grpc_call_start_batch wants its callers
 * serialized per call).  gRPC allows one SEND_MESSAGE in flight per call:
 * a stream that is due while its send is in flight, or while --max-inflight
 * reports wait for their ack, queues one report; being due again while one
 * is queued replaces the queued one and counts a skipped report.
 *
 * Output: progress every second on stderr; "window: start" and
 * "window: end" on stdout at the edges of the measured window (so that an
 * orchestrator can sample the server there), then a summary of
 * "name: value" lines on stdout.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "cats/client.h"
#include "load-common.h"
#include "proto/cats.pb-c.h"


/* Reports in flight per stream (sent, not acked) at most: --max-inflight's
 * limit.  The controller acks a stream at most every 250 ms, so at 10 Hz
 * about 3 reports wait for their ack at any time. */
#define MAX_INFLIGHT_LIMIT 64

/* Streams per completion queue at most: see worker_poll(). */
#define STREAMS_PER_CQ 1000

/* Events taken from one completion queue before looking at the others and
 * at what is due. */
#define MAX_EVENTS_PER_DRAIN 256

/* Workers wake at least this often to see phase changes. */
#define IDLE_WAIT_NS (100 * NS_PER_MS)

/* After the window: wait this long for the acks of reports in flight, then
 * half-close every stream, and cancel what is still open this long later. */
#define DRAIN_NS (2 * NS_PER_S)
#define CLOSE_NS (2 * NS_PER_S)

/* RegisterNode deadline, and how long all registrations may take. */
#define REGISTER_DEADLINE_S 30
#define REGISTER_ALL_S 120

#define METHOD_REGISTER "/cats.v1.Agent/RegisterNode"
#define METHOD_STREAM "/cats.v1.Agent/StreamReports"

/* gRPC status codes 0 to 16; anything else is counted as 17. */
#define N_CODES 18

struct options {
    const char *target;
    unsigned int connections;
    unsigned int streams;
    double rate;
    double duration;
    double warmup;
    unsigned int instances;
    unsigned int threads;
    unsigned int max_inflight;
    unsigned int register_parallel;
    bool per_instance;
    const char *node_prefix;
    const char *service;
    unsigned int port;
};

static struct options opt = {
    .target = "127.0.0.1:50051",
    .connections = 1,
    .streams = 1,
    .rate = 10.0,
    .duration = 10.0,
    .warmup = 2.0,
    .instances = 1,
    .threads = 1,
    .max_inflight = 8,
    .register_parallel = 256,
    .per_instance = false,
    .node_prefix = "bench",
    .service = "bench",
    .port = 8080,
};

/* Run phases, set by the main thread, read by the workers. */
enum phase {
    PH_REGISTER,                /* Registering, opening streams. */
    PH_RUN,                     /* Sending on schedule. */
    PH_DRAIN,                   /* Window over: collect acks, then close. */
};

static atomic_int phase = PH_REGISTER;

/* Written by the main thread before it sets PH_RUN (release), read by the
 * workers after they see it (acquire). */
static int64_t run_start_ns;
static int64_t window_start_ns;
static int64_t window_end_ns;
static int64_t period_ns;

static volatile sig_atomic_t stop_requested;

enum counter {
    C_SENT,                     /* Reports handed to gRPC. */
    C_ACKED,                    /* Reports an ack accepted. */
    C_REJECTED,                 /* Reports an ack refused (error_code). */
    C_SKIPPED,                  /* Reports coalesced away (stream behind). */
    C_LOST,                     /* Sent, never acked: the stream ended. */
    C_ACKS,                     /* Ack messages received. */
    C_BAD_ACKS,                 /* Ack messages that did not decode. */
    C_REGISTERED,               /* RegisterNode OK. */
    C_REGISTER_FAILED,          /* RegisterNode failed. */
    C_OPEN,                     /* Streams open now (goes up and down). */
    C_CALLS_FAILED,             /* Streams the server or gRPC ended. */
    C_BATCH_ERRORS,             /* grpc_call_start_batch refused a batch. */
    N_COUNTERS
};

/* Tags handed to gRPC: a stream pointer with the step in its low bits. */
enum tag_kind {
    TAG_REGISTER,               /* The RegisterNode batch. */
    TAG_START,                  /* Stream initial metadata, sent. */
    TAG_SEND,                   /* One report. */
    TAG_RECV,                   /* One ack. */
    TAG_STATUS,                 /* The stream's final status. */
    TAG_CLOSE,                  /* Half-close. */
};
#define TAG_MASK 7

struct channel {
    grpc_channel *channel;
    void *register_method;      /* grpc_channel_register_call() handles. */
    void *stream_method;
};

enum stream_state {
    ST_IDLE,                    /* Not registered yet. */
    ST_REGISTERING,             /* RegisterNode in flight. */
    ST_REGISTERED,              /* Registered, stream not open yet. */
    ST_OPEN,                    /* StreamReports open, reporting. */
    ST_CLOSING,                 /* Half-closed or cancelled by us. */
    ST_DONE,                    /* Registration failed, or stream over. */
};

struct report_slot {
    uint64_t seq;
    int64_t due_ns;             /* When it was due. */
    int64_t sent_ns;            /* When it was handed to gRPC. */
};

/* The RegisterNode call, while it runs. */
struct registration {
    grpc_call *call;
    grpc_byte_buffer *send;
    grpc_byte_buffer *recv;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
};

struct stream {
    struct worker *worker;
    struct channel *channel;
    grpc_completion_queue *cq;  /* One of its worker's. */
    unsigned int index;
    enum stream_state state;
    char node_id[64];

    struct registration *reg;
    uint64_t session_id;

    grpc_call *call;
    int pending;                /* Batches started, not completed. */
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *send_bb;  /* The report being sent. */
    grpc_byte_buffer *recv_bb;  /* The ack being received. */
    bool recv_started;          /* The first RECV_MESSAGE was armed. */
    bool recv_armed;            /* A RECV_MESSAGE is in flight. */
    bool status_started;        /* RECV_STATUS_ON_CLIENT was armed. */
    bool send_busy;             /* A SEND_MESSAGE is in flight. */
    bool close_wanted;          /* Half-close once the send completes. */

    bool queued;                /* A report waits for the send slot... */
    int64_t queued_due_ns;      /* ...due then. */

    uint64_t seq;
    struct report_slot *inflight;   /* Ring of --max-inflight slots. */
    unsigned int n_inflight;
    unsigned int inflight_head;

    int64_t next_due_ns;
    int64_t send_start_ns;      /* When the SEND_MESSAGE in flight began. */
};

struct worker {
    unsigned int id;
    pthread_t thread;
    grpc_completion_queue **cqs;
    bool *cq_down;              /* GRPC_QUEUE_SHUTDOWN seen. */
    size_t n_cqs;
    size_t n_cqs_down;
    size_t block_cq;            /* The queue to block on next. */

    struct stream **streams;    /* Ascending index, hence ascending phase. */
    size_t n_streams;
    size_t cursor;              /* The stream due next. */

    size_t reg_next;            /* Next stream to register. */
    unsigned int reg_inflight;
    unsigned int reg_window;

    unsigned int live_calls;    /* grpc_call objects not yet released. */
    unsigned int inflight_reports;
    unsigned int unacked_at_close;  /* Reports still unacked when the drain
                                     * ended and the streams were closed. */
    bool closing;
    bool cancelled;
    bool cq_shut;

    /* Scratch space for encoding. */
    uint8_t *buf;
    size_t buf_size;
    struct load_msgs msgs;

    /* Written by this worker only; the main thread reads them. */
    atomic_uint_fast64_t counters[N_COUNTERS];
    atomic_uint_fast64_t rejected_by_code[N_CODES];
    atomic_uint_fast64_t failed_by_code[N_CODES];
    atomic_uint_fast64_t reg_failed_by_code[N_CODES];

    /* Read by the main thread only after the join. */
    struct histogram rtt;       /* Due -> acked. */
    struct histogram wire;      /* Handed to gRPC -> acked. */
    struct histogram lag;       /* Due -> handed to gRPC. */
    struct histogram write;     /* Handed to gRPC -> SEND_MESSAGE done. */
    char first_error[512];
};

static struct channel *channels;
static struct stream *streams;
static struct worker *workers;

/* What every message says (load-common.h). */
static struct load_shape shape;

/* Time. */

static gpr_timespec
deadline_in(int64_t ns)
{
    if (ns <= 0) {
        return gpr_inf_past(GPR_CLOCK_MONOTONIC);
    }
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_nanos(ns, GPR_TIMESPAN));
}

static void
sleep_until(int64_t t_ns)
{
    struct timespec ts = {
        .tv_sec = t_ns / NS_PER_S,
        .tv_nsec = t_ns % NS_PER_S,
    };

    /* Returns early on a signal (EINTR), so that the caller sees it. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* Counters: one writer (the owning worker), so a plain load and store, no
 * locked instruction; relaxed atomics keep the main thread's reads clean. */

static void
counter_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed)
                          + n, memory_order_relaxed);
}

static uint64_t
counter_get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t
counter_sum(enum counter c)
{
    uint64_t sum = 0;

    for (unsigned int i = 0; i < opt.threads; i++) {
        sum += counter_get(&workers[i].counters[c]);
    }
    return sum;
}

static unsigned int
code_index(grpc_status_code code)
{
    return code >= 0 && code < N_CODES - 1 ? code : N_CODES - 1;
}

static const char *
code_name(unsigned int code)
{
    return code < CATS_GRPC_N_CODES ? cats_grpc_status_name(code) : "OTHER";
}

/* Histogram. */

/* Tags. */

static void *
make_tag(struct stream *s, enum tag_kind kind)
{
    return (void *) ((uintptr_t) s | kind);
}

static struct stream *
tag_stream(void *tag)
{
    return (struct stream *) ((uintptr_t) tag & ~(uintptr_t) TAG_MASK);
}

static enum tag_kind
tag_kind(void *tag)
{
    return (uintptr_t) tag & TAG_MASK;
}

/* Byte buffers. */

static grpc_byte_buffer *
bb_from(const uint8_t *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *) data,
                                                     len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);

    grpc_slice_unref(slice);
    return bb;
}

/* Returns the contents of 'bb' as one slice (the caller unrefs it), or an
 * empty slice if 'bb' cannot be read. */
static grpc_slice
bb_flatten(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader reader;
    grpc_slice slice;

    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        return grpc_empty_slice();
    }
    slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    return slice;
}

static void
worker_error(struct worker *w, const char *what, grpc_status_code code,
             const grpc_slice *details)
{
    if (!w->first_error[0]) {
        char *text = details ? grpc_slice_to_c_string(*details) : NULL;

        snprintf(w->first_error, sizeof w->first_error, "%s: %s%s%s", what,
                 code_name(code_index(code)), text && *text ? ": " : "",
                 text ? text : "");
        gpr_free(text);
    }
}

/* Encoding. */

static uint8_t *
worker_buf(struct worker *w, size_t size)
{
    if (size > w->buf_size) {
        free(w->buf);
        w->buf_size = size * 2;
        w->buf = malloc(w->buf_size);
        if (!w->buf) {
            fprintf(stderr, "agent-load: out of memory\n");
            exit(1);
        }
    }
    return w->buf;
}

static grpc_byte_buffer *
encode_register(struct worker *w, const struct stream *s)
{
    Cats__V1__RegisterRequest req;
    uint8_t *buf;
    size_t len;

    load_register(&w->msgs, &shape, s->index, s->node_id, &req);
    buf = worker_buf(w, cats__v1__register_request__get_packed_size(&req));
    len = cats__v1__register_request__pack(&req, buf);
    return bb_from(buf, len);
}

/* One LoadReport: node metrics that move with 'seq'; with --per-instance,
 * one entry per registered instance with service metrics too. */
static grpc_byte_buffer *
encode_report(struct worker *w, const struct stream *s, uint64_t seq)
{
    Cats__V1__LoadReport rep;
    uint8_t *buf;
    size_t len;

    load_report(&w->msgs, &shape, s->index, s->node_id, s->session_id, seq,
                &rep);
    buf = worker_buf(w, cats__v1__load_report__get_packed_size(&rep));
    len = cats__v1__load_report__pack(&rep, buf);
    return bb_from(buf, len);
}

/* Calls. */

static bool
start_batch(struct worker *w, struct stream *s, grpc_call *call,
            const grpc_op *ops, size_t n, enum tag_kind kind)
{
    grpc_call_error error = grpc_call_start_batch(call, ops, n,
                                                  make_tag(s, kind), NULL);

    if (error != GRPC_CALL_OK) {
        counter_add(&w->counters[C_BATCH_ERRORS], 1);
        if (!w->first_error[0]) {
            snprintf(w->first_error, sizeof w->first_error,
                     "grpc_call_start_batch (step %d): %s", kind,
                     grpc_call_error_to_string(error));
        }
        return false;
    }
    return true;
}

/* Starts RegisterNode for 's' on 'cq'.  Returns false if it could not. */
static bool
register_start(struct worker *w, struct stream *s, grpc_completion_queue *cq)
{
    struct registration *r = calloc(1, sizeof *r);
    grpc_op ops[6];

    if (!r) {
        fprintf(stderr, "agent-load: out of memory\n");
        exit(1);
    }
    r->call = grpc_channel_create_registered_call(
        s->channel->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
        s->channel->register_method,
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_seconds(REGISTER_DEADLINE_S,
                                           GPR_TIMESPAN)), NULL);
    r->send = encode_register(w, s);
    grpc_metadata_array_init(&r->initial_md);
    grpc_metadata_array_init(&r->trailing_md);
    r->details = grpc_empty_slice();

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = r->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &r->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &r->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &r->trailing_md;
    ops[5].data.recv_status_on_client.status = &r->status;
    ops[5].data.recv_status_on_client.status_details = &r->details;

    s->reg = r;
    s->state = ST_REGISTERING;
    if (!start_batch(w, s, r->call, ops, 6, TAG_REGISTER)) {
        r->status = GRPC_STATUS_INTERNAL;
        return false;
    }
    return true;
}

/* Completes the registration of 's': true if it succeeded ('s' has its
 * session), else false with the status in '*code' and the details in
 * 'error' (empty if none). */
static bool
register_finish(struct stream *s, grpc_status_code *code, char *error,
                size_t error_size)
{
    struct registration *r = s->reg;
    bool ok = false;

    *code = r->status;
    error[0] = '\0';
    if (r->status == GRPC_STATUS_OK && r->recv) {
        grpc_slice slice = bb_flatten(r->recv);
        struct cats_client_ack reply;

        ok = cats_client_decode_ack(CATS_CLIENT_REGISTER_REPLY,
                                    GRPC_SLICE_START_PTR(slice),
                                    GRPC_SLICE_LENGTH(slice), &reply);
        grpc_slice_unref(slice);
        if (ok) {
            s->session_id = reply.session;
        } else {
            *code = GRPC_STATUS_INTERNAL;
            snprintf(error, error_size, "RegisterReply does not decode");
        }
    } else if (r->status == GRPC_STATUS_OK) {
        *code = GRPC_STATUS_INTERNAL;
        snprintf(error, error_size, "OK without a RegisterReply");
    } else {
        char *text = grpc_slice_to_c_string(r->details);

        snprintf(error, error_size, "%s", text);
        gpr_free(text);
    }

    grpc_byte_buffer_destroy(r->send);
    if (r->recv) {
        grpc_byte_buffer_destroy(r->recv);
    }
    grpc_metadata_array_destroy(&r->initial_md);
    grpc_metadata_array_destroy(&r->trailing_md);
    grpc_slice_unref(r->details);
    grpc_call_unref(r->call);
    free(r);
    s->reg = NULL;
    s->state = ok ? ST_REGISTERED : ST_DONE;
    return ok;
}

static void stream_ended(struct worker *, struct stream *);

/* Arms the next RECV_MESSAGE of 's' (with RECV_INITIAL_METADATA the first
 * time), unless one is armed.  It is also how the stream's end is noticed
 * (see stream_ended()). */
static void
stream_recv(struct worker *w, struct stream *s)
{
    grpc_op ops[2];
    size_t n = 0;

    if (s->recv_armed || s->status_started) {
        return;
    }
    memset(ops, 0, sizeof ops);
    if (!s->recv_started) {
        s->recv_started = true;
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata
            = &s->initial_md;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->recv_bb;
    if (start_batch(w, s, s->call, ops, n, TAG_RECV)) {
        s->pending++;
        s->recv_armed = true;
    } else {
        grpc_call_cancel(s->call, NULL);
        stream_ended(w, s);
    }
}

/* Opens the StreamReports call of registered stream 's'.
 *
 * Few batches stay in flight: Debian's libgrpc is built without NDEBUG,
 * and then every completion scans its completion queue's outstanding tags
 * linearly (cq_check_tag()), which took a third of this program's CPU with
 * 10,000 streams.  So a RECV_MESSAGE is armed only while reports wait for
 * their ack (or the stream closes), and RECV_STATUS_ON_CLIENT only once
 * the stream is over.  A stream that dies while idle is noticed at its
 * next report. */
static void
stream_open(struct worker *w, struct stream *s)
{
    grpc_op op;

    s->call = grpc_channel_create_registered_call(
        s->channel->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
        s->channel->stream_method, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    w->live_calls++;
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();
    s->state = ST_OPEN;
    counter_add(&w->counters[C_OPEN], 1);

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    if (start_batch(w, s, s->call, &op, 1, TAG_START)) {
        s->pending++;
    } else {
        grpc_call_cancel(s->call, NULL);
        stream_ended(w, s);
    }
}

static void
stream_send(struct worker *w, struct stream *s, int64_t due_ns)
{
    struct report_slot *slot;
    grpc_op op;

    s->send_bb = encode_report(w, s, ++s->seq);
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->send_bb;
    if (!start_batch(w, s, s->call, &op, 1, TAG_SEND)) {
        grpc_byte_buffer_destroy(s->send_bb);
        s->send_bb = NULL;
        grpc_call_cancel(s->call, NULL);
        stream_recv(w, s);          /* To see the end. */
        return;
    }
    s->pending++;
    s->send_busy = true;
    slot = &s->inflight[(s->inflight_head + s->n_inflight)
                        % opt.max_inflight];
    slot->seq = s->seq;
    slot->due_ns = due_ns;
    slot->sent_ns = s->send_start_ns = mono_ns();
    if (due_ns >= window_start_ns && due_ns < window_end_ns) {
        hist_add(&w->lag, slot->sent_ns - due_ns);
    }
    s->n_inflight++;
    w->inflight_reports++;
    counter_add(&w->counters[C_SENT], 1);
    stream_recv(w, s);              /* For its ack. */
}

static bool
stream_can_send(const struct stream *s)
{
    return (s->state == ST_OPEN && !s->send_busy
            && s->n_inflight < opt.max_inflight);
}

/* A report of 's' is due at 'due_ns'. */
static void
stream_fire(struct worker *w, struct stream *s, int64_t due_ns)
{
    if (stream_can_send(s)) {
        stream_send(w, s, due_ns);
    } else {
        if (s->queued) {
            counter_add(&w->counters[C_SKIPPED], 1);
        }
        s->queued = true;
        s->queued_due_ns = due_ns;
    }
}

static void
stream_send_queued(struct worker *w, struct stream *s)
{
    if (s->queued && stream_can_send(s)) {
        s->queued = false;
        stream_send(w, s, s->queued_due_ns);
    }
}

static void
stream_half_close(struct worker *w, struct stream *s)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    if (start_batch(w, s, s->call, &op, 1, TAG_CLOSE)) {
        s->pending++;
    } else {
        grpc_call_cancel(s->call, NULL);
    }
}

/* Reports up to 'upto' are answered: accepted, except 'error_seq' if
 * 'error_code' is set. */
static void
stream_resolve(struct worker *w, struct stream *s, uint64_t upto,
               uint32_t error_code, uint64_t error_seq)
{
    int64_t now = mono_ns();

    while (s->n_inflight) {
        struct report_slot *slot = &s->inflight[s->inflight_head];

        if (slot->seq > upto) {
            break;
        }
        if (error_code && slot->seq == error_seq) {
            counter_add(&w->counters[C_REJECTED], 1);
            counter_add(&w->rejected_by_code[code_index(error_code)], 1);
        } else {
            counter_add(&w->counters[C_ACKED], 1);
            if (slot->due_ns >= window_start_ns
                && slot->due_ns < window_end_ns) {
                hist_add(&w->rtt, now - slot->due_ns);
                hist_add(&w->wire, now - slot->sent_ns);
            }
        }
        s->inflight_head = (s->inflight_head + 1) % opt.max_inflight;
        s->n_inflight--;
        w->inflight_reports--;
    }
}

static void
on_recv(struct worker *w, struct stream *s, bool success)
{
    struct cats_client_ack ack;
    grpc_slice slice;
    bool ok;

    s->recv_armed = false;
    if (!success || !s->recv_bb) {
        /* The stream is over: the server ended it, or it was cancelled. */
        stream_ended(w, s);
        return;
    }
    slice = bb_flatten(s->recv_bb);
    grpc_byte_buffer_destroy(s->recv_bb);
    s->recv_bb = NULL;
    counter_add(&w->counters[C_ACKS], 1);

    ok = cats_client_decode_ack(CATS_CLIENT_REPORT_ACK,
                                GRPC_SLICE_START_PTR(slice),
                                GRPC_SLICE_LENGTH(slice), &ack);
    grpc_slice_unref(slice);
    if (ok) {
        uint64_t upto = ack.seq;

        if (ack.error_code && ack.error_seq > upto) {
            upto = ack.error_seq;
        }
        stream_resolve(w, s, upto, ack.error_code, ack.error_seq);
    } else {
        counter_add(&w->counters[C_BAD_ACKS], 1);
    }
    if ((s->state == ST_OPEN && s->n_inflight) || s->state == ST_CLOSING) {
        stream_recv(w, s);
    }
    stream_send_queued(w, s);
}

static void
on_send(struct worker *w, struct stream *s, bool success)
{
    if (s->send_start_ns >= window_start_ns
        && s->send_start_ns < window_end_ns) {
        hist_add(&w->write, mono_ns() - s->send_start_ns);
    }
    grpc_byte_buffer_destroy(s->send_bb);
    s->send_bb = NULL;
    s->send_busy = false;
    if (s->close_wanted) {
        s->close_wanted = false;
        stream_half_close(w, s);
    } else if (success) {
        stream_send_queued(w, s);
    }
}

static void
on_status(struct worker *w, struct stream *s)
{
    if (s->state == ST_OPEN) {
        /* Not ours: the server or the connection ended the stream. */
        counter_add(&w->counters[C_CALLS_FAILED], 1);
        counter_add(&w->failed_by_code[code_index(s->status)], 1);
        worker_error(w, "StreamReports", s->status, &s->details);
    }
    if (s->state == ST_OPEN || s->state == ST_CLOSING) {
        counter_add(&w->counters[C_OPEN], UINT64_MAX);   /* -1 */
    }
    counter_add(&w->counters[C_LOST], s->n_inflight);
    w->inflight_reports -= s->n_inflight;
    s->n_inflight = 0;
    s->queued = false;
    s->state = ST_DONE;
}

static void stream_release(struct worker *, struct stream *);

/* The stream of 's' is over (its RECV_MESSAGE came back empty, or could
 * not be armed): asks for its status, once. */
static void
stream_ended(struct worker *w, struct stream *s)
{
    grpc_op op;

    if (s->status_started) {
        return;
    }
    s->status_started = true;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->details;
    if (start_batch(w, s, s->call, &op, 1, TAG_STATUS)) {
        s->pending++;
    } else {
        s->status = GRPC_STATUS_UNKNOWN;
        on_status(w, s);
        if (!s->pending) {
            stream_release(w, s);
        }
    }
}

/* Every batch of 's' completed, its status is in: the call can go. */
static void
stream_release(struct worker *w, struct stream *s)
{
    if (s->recv_bb) {
        grpc_byte_buffer_destroy(s->recv_bb);
        s->recv_bb = NULL;
    }
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    s->details = grpc_empty_slice();
    grpc_call_unref(s->call);
    s->call = NULL;
    w->live_calls--;
}

/* Registration, bounded: at most 'reg_window' RegisterNode calls in flight
 * per worker. */
static void
register_refill(struct worker *w)
{
    while (w->reg_next < w->n_streams && w->reg_inflight < w->reg_window
           && atomic_load(&phase) == PH_REGISTER && !stop_requested) {
        struct stream *s = w->streams[w->reg_next++];

        if (s->state == ST_REGISTERED) {
            /* The main thread's probe registered it. */
            stream_open(w, s);
            continue;
        }
        w->live_calls++;
        w->reg_inflight++;
        if (!register_start(w, s, s->cq)) {
            /* No completion will come: finish it now. */
            grpc_status_code code;
            char error[256];

            register_finish(s, &code, error, sizeof error);
            w->live_calls--;
            w->reg_inflight--;
            counter_add(&w->counters[C_REGISTER_FAILED], 1);
            counter_add(&w->reg_failed_by_code[code_index(code)], 1);
        }
    }
}

static void
on_register(struct worker *w, struct stream *s)
{
    grpc_status_code code;
    char error[256];

    w->live_calls--;
    w->reg_inflight--;
    if (register_finish(s, &code, error, sizeof error)) {
        counter_add(&w->counters[C_REGISTERED], 1);
        if (atomic_load(&phase) < PH_DRAIN && !stop_requested) {
            stream_open(w, s);
        }
    } else {
        counter_add(&w->counters[C_REGISTER_FAILED], 1);
        counter_add(&w->reg_failed_by_code[code_index(code)], 1);
        if (!w->first_error[0]) {
            snprintf(w->first_error, sizeof w->first_error,
                     "RegisterNode %s: %s%s%s", s->node_id,
                     code_name(code_index(code)), error[0] ? ": " : "",
                     error);
        }
    }
    register_refill(w);
}

static void
handle_event(struct worker *w, void *tag, bool success)
{
    struct stream *s = tag_stream(tag);

    switch (tag_kind(tag)) {
    case TAG_REGISTER:
        on_register(w, s);
        return;
    case TAG_START:
        break;
    case TAG_SEND:
        on_send(w, s, success);
        break;
    case TAG_RECV:
        on_recv(w, s, success);
        break;
    case TAG_STATUS:
        on_status(w, s);
        break;
    case TAG_CLOSE:
        break;
    default:
        abort();
    }
    if (!--s->pending && s->state == ST_DONE) {
        stream_release(w, s);
    }
}

/* Sends what is due; returns the time until the next report is due. */
static int64_t
fire_due(struct worker *w, int64_t now)
{
    /* At most one round per call, so that acks are read in between even
     * when the worker is far behind. */
    for (size_t n = 0; n < w->n_streams; n++) {
        struct stream *s = w->streams[w->cursor];
        int64_t due = s->next_due_ns;

        if (due > now) {
            return due - now;
        }
        if (due >= window_end_ns) {
            return IDLE_WAIT_NS;
        }
        s->next_due_ns += period_ns;
        w->cursor = (w->cursor + 1) % w->n_streams;
        if (s->state == ST_OPEN) {
            stream_fire(w, s, due);
        }
    }
    return 0;
}

/* Stops reporting: half-closes every open stream (once its send in flight
 * completes). */
static void
close_streams(struct worker *w)
{
    for (size_t i = 0; i < w->n_streams; i++) {
        struct stream *s = w->streams[i];

        if (s->state == ST_OPEN) {
            s->state = ST_CLOSING;
            s->queued = false;
            if (s->send_busy) {
                s->close_wanted = true;
            } else {
                stream_half_close(w, s);
            }
            stream_recv(w, s);      /* To see the server's end. */
        }
    }
}

static void
cancel_calls(struct worker *w)
{
    for (size_t i = 0; i < w->n_streams; i++) {
        struct stream *s = w->streams[i];

        if (s->reg) {
            grpc_call_cancel(s->reg->call, NULL);
        }
        if (s->call && s->state != ST_DONE) {
            grpc_call_cancel(s->call, NULL);
            if (!s->recv_armed) {
                stream_ended(w, s);
            }
        }
    }
}

/* Takes one event from completion queue 'k' of 'w', waiting up to 'wait'
 * ns.  Returns false on a timeout. */
static bool
worker_next(struct worker *w, size_t k, int64_t wait)
{
    grpc_event ev = grpc_completion_queue_next(w->cqs[k], deadline_in(wait),
                                               NULL);

    if (ev.type == GRPC_OP_COMPLETE) {
        handle_event(w, ev.tag, ev.success);
        return true;
    } else if (ev.type == GRPC_QUEUE_SHUTDOWN) {
        w->cq_down[k] = true;
        w->n_cqs_down++;
    }
    return false;
}

/* Handles what completed, waiting up to 'wait' ns if nothing did.  Returns
 * false once every queue of 'w' is shut down and drained.
 *
 * Why several queues: Debian's libgrpc is built without NDEBUG, and then
 * each completion scans the outstanding tags of its queue linearly
 * (cq_check_tag()).  With 10,000 streams on one queue that scan took a
 * quarter of this program's CPU.  A thread can block on one queue only;
 * but gRPC's poller serves every connection whichever queue the thread
 * waits on, so the others are drained without blocking, and the wait is
 * kept to 1 ms so that their events are not held longer. */
static bool
worker_poll(struct worker *w, int64_t wait)
{
    size_t k;

    if (w->n_cqs > 1) {
        size_t n = 0;

        for (k = 0; k < w->n_cqs; k++) {
            for (size_t i = 0; !w->cq_down[k] && i < MAX_EVENTS_PER_DRAIN;
                 i++, n++) {
                if (!worker_next(w, k, 0)) {
                    break;
                }
            }
        }
        if (n || w->n_cqs_down == w->n_cqs) {
            return w->n_cqs_down < w->n_cqs;
        }
        wait = wait < NS_PER_MS ? wait : NS_PER_MS;
    }
    do {
        k = w->block_cq++ % w->n_cqs;
    } while (w->cq_down[k]);
    worker_next(w, k, wait);
    return w->n_cqs_down < w->n_cqs;
}

static void *
worker_main(void *w_)
{
    struct worker *w = w_;
    bool running = false;
    int64_t drain_until = 0, cancel_at = 0;

    register_refill(w);
    for (;;) {
        enum phase ph = atomic_load_explicit(&phase, memory_order_acquire);
        int64_t now = mono_ns();
        int64_t wait = IDLE_WAIT_NS;

        if (ph == PH_RUN) {
            if (!running) {
                for (size_t i = 0; i < w->n_streams; i++) {
                    struct stream *s = w->streams[i];

                    s->next_due_ns = (run_start_ns
                                      + (int64_t) ((double) period_ns
                                                   * s->index
                                                   / opt.streams));
                }
                w->cursor = 0;
                running = true;
            }
            wait = fire_due(w, now);
        } else if (ph == PH_DRAIN || stop_requested) {
            if (!drain_until) {
                drain_until = now + DRAIN_NS;
            }
            if (!w->closing) {
                if ((!w->inflight_reports && !w->reg_inflight)
                    || now >= drain_until) {
                    w->unacked_at_close = w->inflight_reports;
                    close_streams(w);
                    w->closing = true;
                    cancel_at = now + CLOSE_NS;
                } else {
                    wait = NS_PER_MS;
                }
            } else if (!w->cancelled && now >= cancel_at) {
                cancel_calls(w);
                w->cancelled = true;
            }
            if (w->closing && !w->live_calls && !w->cq_shut) {
                for (size_t k = 0; k < w->n_cqs; k++) {
                    grpc_completion_queue_shutdown(w->cqs[k]);
                }
                w->cq_shut = true;
            }
        }

        if (!worker_poll(w, wait)) {
            break;
        }
    }
    return NULL;
}

/* Set-up. */

static void
raise_nofile(void)
{
    rlim_t want = (rlim_t) opt.connections * 2 + 1024;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want) {
        return;
    }
    if (rl.rlim_max < want) {
        struct rlimit up = { want, want };

        if (!setrlimit(RLIMIT_NOFILE, &up)) {
            return;
        }
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        fprintf(stderr, "agent-load: cannot raise RLIMIT_NOFILE to %llu: "
                "%s\n", (unsigned long long) want, strerror(errno));
    }
    if (want < (rlim_t) opt.connections * 2 + 1024) {
        fprintf(stderr, "agent-load: warning: RLIMIT_NOFILE is %llu, low "
                "for %u connections\n", (unsigned long long) want,
                opt.connections);
    }
}

static void
create_channels(void)
{
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();

    channels = calloc(opt.connections, sizeof *channels);
    if (!channels) {
        fprintf(stderr, "agent-load: out of memory\n");
        exit(1);
    }
    for (unsigned int i = 0; i < opt.connections; i++) {
        /* Channels with equal arguments may share one subchannel, hence one
         * TCP connection: a local pool and a distinct argument per channel
         * give each its own. */
        grpc_arg args[4];
        grpc_channel_args chargs = { 4, args };

        memset(args, 0, sizeof args);
        args[0].type = GRPC_ARG_INTEGER;
        args[0].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
        args[0].value.integer = 1;
        args[1].type = GRPC_ARG_INTEGER;
        args[1].key = "cats.bench.channel_index";
        args[1].value.integer = i;
        /* No retry filter: it would copy every report it sends. */
        args[2].type = GRPC_ARG_INTEGER;
        args[2].key = GRPC_ARG_ENABLE_RETRIES;
        args[2].value.integer = 0;
        /* No BDP probe: a PING after reads, answered by the server, for a
         * bandwidth estimate that messages this small never need. */
        args[3].type = GRPC_ARG_INTEGER;
        args[3].key = GRPC_ARG_HTTP2_BDP_PROBE;
        args[3].value.integer = 0;

        channels[i].channel = grpc_channel_create(opt.target, creds, &chargs);
        channels[i].register_method = grpc_channel_register_call(
            channels[i].channel, METHOD_REGISTER, NULL, NULL);
        channels[i].stream_method = grpc_channel_register_call(
            channels[i].channel, METHOD_STREAM, NULL, NULL);
    }
    grpc_channel_credentials_release(creds);
}

static void
create_streams(void)
{
    streams = calloc(opt.streams, sizeof *streams);
    workers = calloc(opt.threads, sizeof *workers);
    if (!streams || !workers) {
        fprintf(stderr, "agent-load: out of memory\n");
        exit(1);
    }
    for (unsigned int t = 0; t < opt.threads; t++) {
        struct worker *w = &workers[t];

        w->id = t;
        w->n_cqs = ((opt.streams / opt.threads + 1) + STREAMS_PER_CQ - 1)
                   / STREAMS_PER_CQ;
        w->cqs = calloc(w->n_cqs, sizeof *w->cqs);
        w->cq_down = calloc(w->n_cqs, sizeof *w->cq_down);
        if (!w->cqs || !w->cq_down) {
            fprintf(stderr, "agent-load: out of memory\n");
            exit(1);
        }
        for (size_t k = 0; k < w->n_cqs; k++) {
            w->cqs[k] = grpc_completion_queue_create_for_next(NULL);
        }
        w->streams = calloc(opt.streams / opt.threads + 1,
                            sizeof *w->streams);
        w->reg_window = opt.register_parallel / opt.threads;
        w->reg_window = w->reg_window ? w->reg_window : 1;
        if (!w->streams) {
            fprintf(stderr, "agent-load: out of memory\n");
            exit(1);
        }
        load_msgs_init(&w->msgs, &shape);
    }
    for (unsigned int i = 0; i < opt.streams; i++) {
        struct stream *s = &streams[i];
        struct worker *w = &workers[i % opt.threads];

        s->index = i;
        s->worker = w;
        s->channel = &channels[i % opt.connections];
        s->cq = w->cqs[w->n_streams % w->n_cqs];
        s->details = grpc_empty_slice();
        s->inflight = calloc(opt.max_inflight, sizeof *s->inflight);
        if (!s->inflight) {
            fprintf(stderr, "agent-load: out of memory\n");
            exit(1);
        }
        snprintf(s->node_id, sizeof s->node_id, "%s-%05u", opt.node_prefix,
                 i);
        w->streams[w->n_streams++] = s;
    }
}

/* Registers stream 0 alone, before anything else, so that an unreachable
 * or misconfigured target gives one clear error.  Returns true on
 * success. */
static bool
probe(void)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    struct stream *s = &streams[0];
    struct worker *w = s->worker;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    char error[256];
    bool ok = false, done = false;
    int64_t give_up = mono_ns() + (REGISTER_DEADLINE_S + 5) * NS_PER_S;

    error[0] = '\0';
    if (register_start(w, s, cq)) {
        while (!done) {
            grpc_event ev = grpc_completion_queue_next(
                cq, deadline_in(IDLE_WAIT_NS), NULL);

            if (ev.type == GRPC_OP_COMPLETE) {
                ok = register_finish(s, &code, error, sizeof error);
                done = true;
            } else if (stop_requested || mono_ns() > give_up) {
                grpc_call_cancel(s->reg->call, NULL);
            }
        }
    } else {
        register_finish(s, &code, error, sizeof error);
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                      NULL).type != GRPC_QUEUE_SHUTDOWN) {
        continue;
    }
    grpc_completion_queue_destroy(cq);

    if (ok) {
        counter_add(&w->counters[C_REGISTERED], 1);
    } else {
        fprintf(stderr, "agent-load: %s: RegisterNode %s failed: %s%s%s\n",
                opt.target, s->node_id, code_name(code_index(code)),
                error[0] ? ": " : "", error);
        if (code == GRPC_STATUS_UNAVAILABLE) {
            fprintf(stderr, "agent-load: is a cats.v1.Agent server "
                    "listening on %s?\n", opt.target);
        }
    }
    return ok;
}

/* Output. */

struct snapshot {
    int64_t t_ns;
    double cpu_s;
    uint64_t c[N_COUNTERS];
};

static void
take_snapshot(struct snapshot *snap)
{
    snap->t_ns = mono_ns();
    snap->cpu_s = cpu_seconds();
    for (int i = 0; i < N_COUNTERS; i++) {
        snap->c[i] = counter_sum(i);
    }
}

static void
print_progress(const struct snapshot *prev, const struct snapshot *now,
               const char *what)
{
    double dt = (now->t_ns - prev->t_ns) / 1e9;

    if (dt <= 0) {
        return;
    }
    fprintf(stderr, "agent-load: %-7s t=%5.1fs reports/s=%.0f acks/s=%.0f "
            "acked/s=%.0f rejected=%"PRIu64" skipped=%"PRIu64
            " failed_calls=%"PRIu64" open=%"PRIu64" cpu=%.0f%%\n", what,
            (now->t_ns - run_start_ns) / 1e9,
            (now->c[C_SENT] - prev->c[C_SENT]) / dt,
            (now->c[C_ACKS] - prev->c[C_ACKS]) / dt,
            (now->c[C_ACKED] - prev->c[C_ACKED]) / dt,
            now->c[C_REJECTED], now->c[C_SKIPPED], now->c[C_CALLS_FAILED],
            now->c[C_OPEN], 100.0 * (now->cpu_s - prev->cpu_s) / dt);
}

static void
print_by_code(const char *name, size_t offset)
{
    for (unsigned int code = 0; code < N_CODES; code++) {
        uint64_t n = 0;

        for (unsigned int t = 0; t < opt.threads; t++) {
            atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)
                ((char *) &workers[t] + offset);

            n += counter_get(&v[code]);
        }
        if (n) {
            printf("%s_%s: %"PRIu64"\n", name, code_name(code), n);
        }
    }
}

/* 'ws' and 'we': the edges of the window; 'end': after the streams
 * closed. */
static void
print_summary(const struct snapshot *ws, const struct snapshot *we,
              const struct snapshot *end, uint64_t open_at_end,
              bool interrupted)
{
    struct histogram *rtt = calloc(4, sizeof *rtt);
    struct histogram *wire = &rtt[1], *lag = &rtt[2], *write = &rtt[3];
    double win = (we->t_ns - ws->t_ns) / 1e9;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double cpu = we->cpu_s - ws->cpu_s;
    uint64_t d[N_COUNTERS];

    for (int i = 0; i < N_COUNTERS; i++) {
        d[i] = we->c[i] - ws->c[i];
    }
    for (unsigned int t = 0; t < opt.threads; t++) {
        hist_merge(rtt, &workers[t].rtt);
        hist_merge(wire, &workers[t].wire);
        hist_merge(lag, &workers[t].lag);
        hist_merge(write, &workers[t].write);
    }

    printf("target: %s\n", opt.target);
    printf("shape: streams=%u connections=%u rate_hz=%g "
           "instances_per_node=%u threads=%u per_instance=%s\n",
           opt.streams, opt.connections, opt.rate, opt.instances,
           opt.threads, opt.per_instance ? "yes" : "no");
    printf("interrupted: %s\n", interrupted ? "yes" : "no");
    printf("window_s: %.3f\n", win);
    printf("offered_per_s: %.0f\n", opt.streams * opt.rate);
    printf("registered: %"PRIu64"\n", end->c[C_REGISTERED]);
    printf("register_failed: %"PRIu64"\n", end->c[C_REGISTER_FAILED]);
    print_by_code("register_failed", offsetof(struct worker,
                                              reg_failed_by_code));
    printf("streams_open: %"PRIu64"\n", open_at_end);
    printf("failed_calls: %"PRIu64"\n", end->c[C_CALLS_FAILED]);
    print_by_code("failed_calls", offsetof(struct worker, failed_by_code));
    printf("batch_errors: %"PRIu64"\n", end->c[C_BATCH_ERRORS]);

    /* The window. */
    printf("reports_sent: %"PRIu64"\n", d[C_SENT]);
    printf("reports_acked: %"PRIu64"\n", d[C_ACKED]);
    printf("reports_rejected: %"PRIu64"\n", d[C_REJECTED]);
    printf("reports_skipped: %"PRIu64"\n", d[C_SKIPPED]);
    printf("reports_lost: %"PRIu64"\n", d[C_LOST]);
    printf("acks_received: %"PRIu64"\n", d[C_ACKS]);
    printf("bad_acks: %"PRIu64"\n", d[C_BAD_ACKS]);
    printf("sent_per_s: %.1f\n", win > 0 ? d[C_SENT] / win : 0.0);
    printf("acked_per_s: %.1f\n", win > 0 ? d[C_ACKED] / win : 0.0);
    printf("rtt_samples: %"PRIu64"\n", rtt->n);
    print_histogram("rtt", rtt);
    print_histogram("wire_rtt", wire);
    print_histogram("send_lag", lag);
    print_histogram("send_write", write);
    printf("cpu_s: %.3f\n", cpu);
    printf("cpu_percent_of_one_core: %.1f\n",
           win > 0 ? 100.0 * cpu / win : 0.0);
    printf("cpu_share_of_machine: %.3f\n",
           win > 0 && ncpu > 0 ? cpu / (win * ncpu) : 0.0);
    printf("cpu_us_per_acked_report: %.2f\n",
           d[C_ACKED] ? cpu * 1e6 / d[C_ACKED] : 0.0);

    /* The whole run, warm-up and drain included. */
    printf("total_reports_sent: %"PRIu64"\n", end->c[C_SENT]);
    printf("total_reports_acked: %"PRIu64"\n", end->c[C_ACKED]);
    printf("total_reports_rejected: %"PRIu64"\n", end->c[C_REJECTED]);
    print_by_code("total_reports_rejected",
                  offsetof(struct worker, rejected_by_code));
    printf("total_reports_skipped: %"PRIu64"\n", end->c[C_SKIPPED]);
    printf("total_reports_lost: %"PRIu64"\n", end->c[C_LOST]);

    /* Acks still owed when the drain (DRAIN_NS after the last report)
     * ended: the server's end of stream may yet cover them. */
    uint64_t unacked = 0;
    for (unsigned int t = 0; t < opt.threads; t++) {
        unacked += workers[t].unacked_at_close;
    }
    printf("unacked_at_close: %"PRIu64"\n", unacked);
    printf("total_cpu_s: %.3f\n", end->cpu_s);
    for (unsigned int t = 0; t < opt.threads; t++) {
        if (workers[t].first_error[0]) {
            printf("first_error: %s\n", workers[t].first_error);
            break;
        }
    }
    fflush(stdout);
    free(rtt);
}

static void
destroy_all(void)
{
    for (unsigned int t = 0; t < opt.threads; t++) {
        struct worker *w = &workers[t];

        for (size_t k = 0; k < w->n_cqs; k++) {
            grpc_completion_queue_destroy(w->cqs[k]);
        }
        free(w->cqs);
        free(w->cq_down);
        free(w->streams);
        free(w->buf);
        load_msgs_destroy(&w->msgs);
    }
    for (unsigned int i = 0; i < opt.connections; i++) {
        grpc_channel_destroy(channels[i].channel);
    }
    for (unsigned int i = 0; i < opt.streams; i++) {
        free(streams[i].inflight);
    }
    free(workers);
    free(channels);
    free(streams);
    grpc_shutdown();
}

/* Options. */

static void
usage(void)
{
    printf("usage: agent-load [OPTIONS]\n"
           "Load generator for the cats.v1.Agent gRPC API.\n\n"
           "  --target=HOST:PORT        server (default %s)\n"
           "  --connections=N           gRPC channels, one TCP connection "
           "each (1)\n"
           "  --streams=N               nodes: each registers, then keeps "
           "one\n"
           "                            StreamReports stream open (1)\n"
           "  --rate=HZ                 reports per second per stream (10)\n"
           "  --duration=S              measured window (10)\n"
           "  --warmup=S                sending before the window (2)\n"
           "  --instances-per-node=N    instances each node registers (1)\n"
           "  --per-instance            one entry per instance in each "
           "report\n"
           "                            (default: none, \"all my "
           "instances\")\n"
           "  --threads=N               completion-queue threads (1)\n"
           "  --max-inflight=N          unacked reports per stream, 1-%d "
           "(8)\n"
           "  --register-parallel=N     RegisterNode calls in flight (256)\n"
           "  --node-prefix=P           node ids P-00000... (bench)\n"
           "  --service=NAME            catalog service (bench)\n"
           "  --port=PORT               instance port (8080)\n"
           "  -h, --help                this help\n",
           opt.target, MAX_INFLIGHT_LIMIT);
}

static void
parse_options(int argc, char *argv[])
{
    enum {
        OPT_TARGET = UCHAR_MAX + 1, OPT_CONNECTIONS, OPT_STREAMS, OPT_RATE,
        OPT_DURATION, OPT_WARMUP, OPT_INSTANCES, OPT_THREADS,
        OPT_MAX_INFLIGHT, OPT_REGISTER_PARALLEL, OPT_PER_INSTANCE,
        OPT_NODE_PREFIX, OPT_SERVICE, OPT_PORT,
    };
    static const struct option long_options[] = {
        {"target", required_argument, NULL, OPT_TARGET},
        {"connections", required_argument, NULL, OPT_CONNECTIONS},
        {"streams", required_argument, NULL, OPT_STREAMS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"instances-per-node", required_argument, NULL, OPT_INSTANCES},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
        {"register-parallel", required_argument, NULL,
         OPT_REGISTER_PARALLEL},
        {"per-instance", no_argument, NULL, OPT_PER_INSTANCE},
        {"node-prefix", required_argument, NULL, OPT_NODE_PREFIX},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"port", required_argument, NULL, OPT_PORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    for (;;) {
        int c = getopt_long(argc, argv, "h", long_options, NULL);

        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_TARGET:
            opt.target = optarg;
            break;
        case OPT_CONNECTIONS:
            opt.connections = parse_uint("connections", optarg, 1, 100000);
            break;
        case OPT_STREAMS:
            opt.streams = parse_uint("streams", optarg, 1, 1000000);
            break;
        case OPT_RATE:
            opt.rate = parse_double("rate", optarg, 0.001, 1e6);
            break;
        case OPT_DURATION:
            opt.duration = parse_double("duration", optarg, 0.1, 86400);
            break;
        case OPT_WARMUP:
            opt.warmup = parse_double("warmup", optarg, 0, 86400);
            break;
        case OPT_INSTANCES:
            opt.instances = parse_uint("instances-per-node", optarg, 0, 128);
            break;
        case OPT_THREADS:
            opt.threads = parse_uint("threads", optarg, 1, 256);
            break;
        case OPT_MAX_INFLIGHT:
            opt.max_inflight = parse_uint("max-inflight", optarg, 1,
                                          MAX_INFLIGHT_LIMIT);
            break;
        case OPT_REGISTER_PARALLEL:
            opt.register_parallel = parse_uint("register-parallel", optarg,
                                               1, 100000);
            break;
        case OPT_PER_INSTANCE:
            opt.per_instance = true;
            break;
        case OPT_NODE_PREFIX:
            opt.node_prefix = optarg;
            if (strlen(optarg) > 40 || !cats_id_valid(optarg)) {
                fprintf(stderr, "agent-load: --node-prefix: 1 to 40 "
                        "characters from [A-Za-z0-9._:-]\n");
                exit(2);
            }
            break;
        case OPT_SERVICE:
            opt.service = optarg;
            break;
        case OPT_PORT:
            opt.port = parse_uint("port", optarg, 1, 65535);
            break;
        case 'h':
            usage();
            exit(0);
        default:
            fprintf(stderr, "agent-load: use --help for usage\n");
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "agent-load: unexpected argument '%s'\n",
                argv[optind]);
        exit(2);
    }
    if (opt.connections > opt.streams) {
        fprintf(stderr, "agent-load: --connections (%u) is more than "
                "--streams (%u): a connection without a stream stays "
                "idle\n", opt.connections, opt.streams);
        exit(2);
    }
    if (opt.threads > opt.streams) {
        opt.threads = opt.streams;
    }
    if (opt.per_instance && !opt.instances) {
        fprintf(stderr, "agent-load: --per-instance needs "
                "--instances-per-node of 1 or more\n");
        exit(2);
    }
}

static void
on_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}

static void
set_phase(enum phase ph)
{
    atomic_store_explicit(&phase, ph, memory_order_release);
}

int
main(int argc, char *argv[])
{
    struct snapshot prev, now, ws, we;
    struct sigaction sa;
    int64_t start_ns, next_tick, deadline;
    uint64_t open_at_end = 0;
    bool interrupted = false, in_window = false;

    load_prog = "agent-load";
    parse_options(argc, argv);
    period_ns = (int64_t) (NS_PER_S / opt.rate);
    shape = (struct load_shape) {
        .service = opt.service,
        .port = opt.port,
        .instances = opt.instances,
        .per_instance = opt.per_instance,
        .window_ms = (uint32_t) (period_ns / NS_PER_MS),
        .agent = "agent-load/1",
    };
    window_start_ns = window_end_ns = INT64_MAX;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* No SA_RESTART: sleeps end at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_nofile();
    grpc_init();
    create_channels();
    create_streams();

    fprintf(stderr, "agent-load: %s: %u streams over %u connections at %g "
            "Hz (%.0f reports/s offered), %u thread%s\n", opt.target,
            opt.streams, opt.connections, opt.rate, opt.streams * opt.rate,
            opt.threads, opt.threads == 1 ? "" : "s");

    start_ns = mono_ns();
    if (!probe()) {
        set_phase(PH_DRAIN);
        for (unsigned int t = 0; t < opt.threads; t++) {
            struct worker *w = &workers[t];

            for (size_t k = 0; k < w->n_cqs; k++) {
                grpc_completion_queue_shutdown(w->cqs[k]);
                while (grpc_completion_queue_next(
                           w->cqs[k], gpr_inf_future(GPR_CLOCK_REALTIME),
                           NULL).type != GRPC_QUEUE_SHUTDOWN) {
                    continue;
                }
            }
        }
        destroy_all();
        return 1;
    }

    for (unsigned int t = 0; t < opt.threads; t++) {
        pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]);
    }

    /* Registration. */
    take_snapshot(&prev);
    run_start_ns = start_ns;
    deadline = start_ns + REGISTER_ALL_S * NS_PER_S;
    next_tick = mono_ns() + NS_PER_S;
    for (;;) {
        uint64_t done;

        take_snapshot(&now);
        done = now.c[C_REGISTERED] + now.c[C_REGISTER_FAILED];
        if (done >= opt.streams || stop_requested || now.t_ns > deadline) {
            break;
        }
        if (now.t_ns >= next_tick) {
            fprintf(stderr, "agent-load: registering: %"PRIu64" of %u done, "
                    "%"PRIu64" failed\n", done, opt.streams,
                    now.c[C_REGISTER_FAILED]);
            next_tick += NS_PER_S;
        }
        sleep_until(mono_ns() + 10 * NS_PER_MS);
    }
    fprintf(stderr, "agent-load: registered %"PRIu64" nodes in %.2f s, "
            "%"PRIu64" failed, %"PRIu64" streams open\n",
            now.c[C_REGISTERED], (now.t_ns - start_ns) / 1e9,
            now.c[C_REGISTER_FAILED], now.c[C_OPEN]);
    if (now.t_ns > deadline) {
        fprintf(stderr, "agent-load: registration did not finish within "
                "%d s\n", REGISTER_ALL_S);
    }

    /* Run: warm-up, then the window. */
    run_start_ns = mono_ns() + 50 * NS_PER_MS;
    window_start_ns = run_start_ns + (int64_t) (opt.warmup * NS_PER_S);
    window_end_ns = window_start_ns + (int64_t) (opt.duration * NS_PER_S);
    if (!stop_requested && now.c[C_REGISTERED] && now.t_ns <= deadline) {
        set_phase(PH_RUN);
    } else {
        interrupted = true;
        window_start_ns = window_end_ns = mono_ns();
    }
    take_snapshot(&prev);
    ws = we = prev;
    next_tick = run_start_ns + NS_PER_S;
    while (!interrupted) {
        int64_t t = next_tick;

        if (!in_window && window_start_ns < t) {
            t = window_start_ns;
        } else if (in_window && window_end_ns <= t) {
            t = window_end_ns;
        }
        sleep_until(t);
        if (stop_requested) {
            interrupted = true;
            break;
        }
        if (mono_ns() < t) {
            continue;
        }
        take_snapshot(&now);
        if (!in_window && t == window_start_ns) {
            ws = now;
            in_window = true;
            printf("window: start\n");
            fflush(stdout);
        } else if (in_window && t == window_end_ns) {
            we = now;
            open_at_end = now.c[C_OPEN];
            printf("window: end\n");
            fflush(stdout);
            print_progress(&prev, &now, in_window ? "window" : "warmup");
            break;
        } else {
            print_progress(&prev, &now, in_window ? "window" : "warmup");
            prev = now;
            next_tick += NS_PER_S;
        }
    }
    if (interrupted) {
        take_snapshot(&we);
        open_at_end = we.c[C_OPEN];
        if (!in_window) {
            ws = we;
        }
        fprintf(stderr, "agent-load: interrupted\n");
    }

    /* Drain, close, join. */
    set_phase(PH_DRAIN);
    for (unsigned int t = 0; t < opt.threads; t++) {
        pthread_join(workers[t].thread, NULL);
    }
    take_snapshot(&now);
    print_summary(&ws, &we, &now, open_at_end, interrupted);
    destroy_all();
    return interrupted || !open_at_end ? 1 : 0;
}

/*
 * libcatsclient: the client thread and its streams (see
 * include/cats/client.h for the state machine).
 *
 * gRPC core rules this file relies on (the controller's spike found them
 * the hard way, proto/README.md): at most one outstanding batch per op type
 * per call, so one SEND_MESSAGE and one RECV_MESSAGE at a time; every
 * buffer, slice and metadata array given to a batch lives until the batch
 * completes; grpc_call_start_batch() and grpc_call_cancel() are
 * thread-safe.  A call's memory is released only when every batch started
 * on it has completed ('pending' counts them), never at RECV_STATUS alone.
 *
 * Locking: 'mutex' protects everything in struct cats_client and its
 * streams except the immutable configuration.  The client thread never
 * holds it while blocked in grpc_completion_queue_next(); a poster takes
 * it briefly (and may start the send batch itself, so that a message
 * leaves at once instead of at the thread's next wake-up).
 */

#include "cats/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "client-util.h"

#define REGISTER_METHOD "/cats.v1.Agent/RegisterNode"

/* How long RegisterNode may take, and the reconnect backoff. */
#define REGISTER_DEADLINE_MS 5000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 8000

/* Reports unacked for this long (and at least three intervals): the
 * stream is taken for dead. */
#define ACK_TIMEOUT_MIN_MS 5000

/* A controller that answers FAILED_PRECONDITION to a session this young
 * is not one that restarted: registering again at once would loop, so
 * that case backs off like any other error. */
#define REREGISTER_MIN_AGE_MS 1000

#define MAX_STREAMS 4

#define MIN(A, B) ((A) < (B) ? (A) : (B))
#define MAX(A, B) ((A) > (B) ? (A) : (B))

enum rpc_op {
    OP_UNARY,                   /* RegisterNode: the whole call. */
    OP_START,                   /* Stream: send and receive metadata. */
    OP_RECV,                    /* Stream: one ack. */
    OP_SEND,                    /* Stream: one message. */
    OP_STATUS,                  /* Stream: the final status. */
    N_OPS
};

struct rpc_tag {
    struct rpc *rpc;
    enum rpc_op op;
};

/* One call: a registration or a stream. */
struct rpc {
    struct cats_stream *s;
    grpc_call *call;
    bool is_stream;
    int pending;                /* Batches started, not completed. */
    bool finished;              /* Status received; detached. */
    bool reregister;            /* When it ends: register again at once. */
    struct rpc_tag tags[N_OPS];

    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
};

struct cats_stream {
    struct cats_client *client;
    struct cats_stream_config cfg;      /* Strings owned. */

    struct rpc *active;                 /* The call of the current state. */
    void *slot;
    bool send_busy;
    uint64_t next_seq;
    unsigned int backoff_ms;
    long long session_started;
    long long unacked_since;            /* 0: every report acked. */
    bool acked_once;                    /* In this stream. */
    struct cats_stream_status st;
};

struct cats_client {
    /* Immutable after creation. */
    struct cats_client_config cfg;      /* Strings owned. */
    grpc_metadata auth_md;              /* "authorization: Bearer ...". */
    size_t n_auth_md;
    grpc_completion_queue *cq;
    grpc_channel_credentials *creds;
    pthread_t thread;
    bool started;
    struct cats_stream *streams[MAX_STREAMS];
    size_t n_streams;

    pthread_mutex_t mutex;
    bool exiting;
    grpc_channel *channel;
    size_t n_rpcs;                      /* Alive, finished ones included. */
    bool had_channel;
    uint64_t n_reconnects;
    unsigned int rand_state;
};

static void start_stream(struct cats_stream *);
static void start_register(struct cats_stream *);
static void start_send(struct cats_stream *);
static void client_init_grpc(struct cats_client *);
static void client_fini_grpc(struct cats_client *);

long long
cats_client_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

const char *
cats_stream_state_name(enum cats_stream_state state)
{
    switch (state) {
    case CATS_STREAM_OFF:
        return "off";
    case CATS_STREAM_BACKOFF:
        return "backoff";
    case CATS_STREAM_REGISTERING:
        return "registering";
    case CATS_STREAM_STREAMING:
        return "streaming";
    }
    return "unknown";
}

static unsigned int
code_index(unsigned int code)
{
    return code < CATS_GRPC_N_CODES ? code : GRPC_STATUS_UNKNOWN;
}

static void __attribute__((format(printf, 3, 4)))
client_log(const struct cats_client *c, enum cats_client_log level,
           const char *format, ...)
{
    char msg[512];
    va_list args;
    int n;

    if (!c->cfg.hooks.log) {
        return;
    }
    n = snprintf(msg, sizeof msg, "%s: ", c->cfg.target);
    va_start(args, format);
    vsnprintf(msg + n, sizeof msg - n, format, args);
    va_end(args);
    c->cfg.hooks.log(c->cfg.hooks.aux, level, msg);
}

static void
news(const struct cats_client *c)
{
    if (c->cfg.hooks.news) {
        c->cfg.hooks.news(c->cfg.hooks.aux);
    }
}

/* Copies the received message into a malloc'd buffer. */
static uint8_t *
flatten(grpc_byte_buffer *bb, size_t *lenp)
{
    grpc_byte_buffer_reader reader;
    grpc_slice slice;
    uint8_t *data;

    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        return NULL;
    }
    slice = grpc_byte_buffer_reader_readall(&reader);
    *lenp = GRPC_SLICE_LENGTH(slice);
    data = client_xmalloc(*lenp + 1);
    memcpy(data, GRPC_SLICE_START_PTR(slice), *lenp);
    grpc_slice_unref(slice);
    grpc_byte_buffer_reader_destroy(&reader);
    return data;
}

static grpc_byte_buffer *
byte_buffer(const void *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);

    grpc_slice_unref(slice);
    return bb;
}

/* State. */

static void
set_state(struct cats_stream *s, enum cats_stream_state state)
{
    if (s->st.state != state) {
        s->st.state = state;
        s->st.state_since = cats_client_now();
        news(s->client);
    }
}

static void
set_interval(struct cats_stream *s, unsigned int interval_ms,
             unsigned int lease_ms)
{
    if (interval_ms) {
        interval_ms = MAX(s->cfg.interval_min_ms,
                          MIN(s->cfg.interval_max_ms, interval_ms));
        if (interval_ms != s->st.interval_ms) {
            client_log(s->client, CATS_CLIENT_INFO, "controller asks for "
                       "a %s every %u ms", s->cfg.what, interval_ms);
            s->st.interval_ms = interval_ms;
            news(s->client);
        }
    }
    if (lease_ms) {
        s->st.lease_ms = lease_ms;
    }
}

static void
free_msg(struct cats_stream *s, void *msg)
{
    if (!msg) {
        return;
    }
    if (s->cfg.free_msg) {
        s->cfg.free_msg(msg);
    } else {
        struct cats_report_telemetry *t = msg;

        free(t->links);
        free(t);
    }
}

static void
drop_slot(struct cats_stream *s)
{
    free_msg(s, s->slot);
    s->slot = NULL;
}

/* Calls. */

static struct rpc *
rpc_create(struct cats_stream *s, bool is_stream, const char *method,
           gpr_timespec deadline)
{
    struct cats_client *c = s->client;
    struct rpc *r = client_xcalloc(1, sizeof *r);

    r->s = s;
    r->is_stream = is_stream;
    for (int i = 0; i < N_OPS; i++) {
        r->tags[i].rpc = r;
        r->tags[i].op = i;
    }
    grpc_metadata_array_init(&r->initial_md);
    grpc_metadata_array_init(&r->trailing_md);
    r->details = grpc_empty_slice();
    r->call = grpc_channel_create_call(c->channel, NULL,
                                       GRPC_PROPAGATE_DEFAULTS, c->cq,
                                       grpc_slice_from_static_string(method),
                                       NULL, deadline, NULL);
    c->n_rpcs++;
    return r;
}

static void
rpc_unref_batch(struct rpc *r)
{
    if (--r->pending > 0 || !r->finished) {
        return;
    }
    r->s->client->n_rpcs--;
    grpc_metadata_array_destroy(&r->initial_md);
    grpc_metadata_array_destroy(&r->trailing_md);
    grpc_slice_unref(r->details);
    if (r->send_buf) {
        grpc_byte_buffer_destroy(r->send_buf);
    }
    if (r->recv_buf) {
        grpc_byte_buffer_destroy(r->recv_buf);
    }
    grpc_call_unref(r->call);
    free(r);
}

static bool
rpc_start(struct rpc *r, const grpc_op *ops, size_t n, enum rpc_op op)
{
    grpc_call_error error;

    error = grpc_call_start_batch(r->call, ops, n, &r->tags[op], NULL);
    if (error != GRPC_CALL_OK) {
        client_log(r->s->client, CATS_CLIENT_ERR,
                   "grpc_call_start_batch failed: %s",
                   grpc_call_error_to_string(error));
        grpc_call_cancel(r->call, NULL);
        return false;
    }
    r->pending++;
    return true;
}

static char *
details_string(const struct rpc *r)
{
    size_t len = MIN(GRPC_SLICE_LENGTH(r->details), 200);
    char *s = client_xmalloc(len + 1);

    memcpy(s, GRPC_SLICE_START_PTR(r->details), len);
    s[len] = '\0';
    return s;
}

/* The channel. */

static void
destroy_channel(struct cats_client *c)
{
    if (c->channel) {
        grpc_channel_destroy(c->channel);
        c->channel = NULL;
    }
}

/* After a failure: the next attempt gets a new channel (and, with the
 * local subchannel pool, a new connection), unless another stream is
 * still using this one. */
static void
release_channel(struct cats_client *c)
{
    for (size_t i = 0; i < c->n_streams; i++) {
        if (c->streams[i]->active) {
            return;
        }
    }
    destroy_channel(c);
}

static void
ensure_channel(struct cats_client *c)
{
    if (!c->channel) {
        grpc_arg args[] = {
            { GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
              { .integer = 1 } },
            { GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              { .integer = BACKOFF_MIN_MS } },
            { GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              { .integer = BACKOFF_MIN_MS } },
            { GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              { .integer = BACKOFF_MAX_MS } },
            { GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
              { .integer = 64 * 1024 } },
            { GRPC_ARG_STRING, GRPC_ARG_PRIMARY_USER_AGENT_STRING,
              { .string = (char *) c->cfg.user_agent } },
        };
        grpc_channel_args chargs = { sizeof args / sizeof *args, args };

        /* A new channel for each attempt after a failure: our own backoff
         * decides when to retry, not gRPC's, which grows to two minutes by
         * default. */
        c->channel = grpc_channel_create(c->cfg.target, c->creds, &chargs);
        if (c->had_channel) {
            c->n_reconnects++;
        }
        c->had_channel = true;
    }
}

/* The state machine. */

static void
enter_backoff(struct cats_stream *s)
{
    struct cats_client *c = s->client;

    /* +-20% jitter, so that the clients of a whole site do not come back
     * in step after a controller restart. */
    unsigned int jitter = rand_r(&c->rand_state) % (s->backoff_ms * 2 / 5
                                                    + 1);
    unsigned int delay = s->backoff_ms * 4 / 5 + jitter;

    s->active = NULL;
    s->send_busy = false;
    drop_slot(s);
    release_channel(c);
    s->st.backoff_until = cats_client_now() + delay;
    s->backoff_ms = MIN(s->backoff_ms * 2, BACKOFF_MAX_MS);
    set_state(s, CATS_STREAM_BACKOFF);
    client_log(c, CATS_CLIENT_INFO, "%s: retrying in %.1f s", s->cfg.name,
               delay / 1000.0);
}

/* Counts, logs and acts on the end of the stream's current call. */
static void
call_failed(struct cats_stream *s, const char *what, grpc_status_code code,
            const char *details, bool reregister)
{
    struct cats_client *c = s->client;

    if (c->exiting) {
        /* Our own cancellation. */
        s->active = NULL;
        return;
    }
    s->st.call_errors[code_index(code)]++;
    snprintf(s->st.last_error, sizeof s->st.last_error, "%s: %s%s%s", what,
             cats_grpc_status_name(code), details && *details ? ": " : "",
             details ? details : "");
    client_log(c, CATS_CLIENT_WARN, "%s", s->st.last_error);
    if (reregister && s->cfg.register_msg
        && cats_client_now() - s->session_started >= REREGISTER_MIN_AGE_MS) {
        client_log(c, CATS_CLIENT_INFO, "session %#"PRIx64" unknown to the "
                   "controller, registering again", s->st.session);
        s->active = NULL;
        s->send_busy = false;
        drop_slot(s);
        start_register(s);
    } else {
        enter_backoff(s);
    }
}

/* Starts sending the slot's message, if there is one and the stream can
 * take it. */
static void
start_send(struct cats_stream *s)
{
    struct rpc *r = s->active;
    void *msg = s->slot;
    uint8_t *buf;
    size_t len;
    grpc_op op;

    if (!msg || s->send_busy || !r || !r->is_stream || r->finished
        || s->st.state != CATS_STREAM_STREAMING) {
        return;
    }
    s->slot = NULL;

    s->st.last_sent_seq = ++s->next_seq;
    if (s->cfg.encode) {
        buf = s->cfg.encode(msg, s->st.session, s->next_seq, &len);
    } else {
        struct cats_report_telemetry *t = msg;

        snprintf(t->source_id, sizeof t->source_id, "%s", s->cfg.source_id);
        t->seq = s->next_seq;
        buf = cats_client_encode_telemetry(t, &len);
        free_msg(s, msg);
    }
    r->send_buf = byte_buffer(buf, len);
    free(buf);

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = r->send_buf;
    if (rpc_start(r, &op, 1, OP_SEND)) {
        s->send_busy = true;
    } else {
        grpc_byte_buffer_destroy(r->send_buf);
        r->send_buf = NULL;
    }
}

/* Starts the batches every stream needs: metadata, the final status, the
 * first receive.  Returns false if the status batch could not be
 * started: no status will ever come, so the call is given up here (its
 * other batches, if any, complete as cancelled and release it) and the
 * caller must treat it as failed. */
static bool
stream_open(struct cats_client *c, struct rpc *r)
{
    grpc_op ops[2];
    bool ok, status_ok;

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = c->n_auth_md;
    ops[0].data.send_initial_metadata.metadata = &c->auth_md;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &r->initial_md;
    ok = rpc_start(r, ops, 2, OP_START);

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &r->trailing_md;
    ops[0].data.recv_status_on_client.status = &r->status;
    ops[0].data.recv_status_on_client.status_details = &r->details;
    status_ok = rpc_start(r, ops, 1, OP_STATUS);

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_MESSAGE;
    ops[0].data.recv_message.recv_message = &r->recv_buf;
    ok = rpc_start(r, ops, 1, OP_RECV) && ok;

    if (!status_ok) {
        grpc_call_cancel(r->call, NULL);
        r->finished = true;
        r->pending++;
        rpc_unref_batch(r);
        return false;
    } else if (!ok) {
        /* rpc_start() cancelled the call: its status comes. */
        grpc_call_cancel(r->call, NULL);
    }
    return true;
}

static void
start_stream(struct cats_stream *s)
{
    struct rpc *r;

    ensure_channel(s->client);
    r = rpc_create(s, true, s->cfg.method,
                   gpr_inf_future(GPR_CLOCK_MONOTONIC));
    s->active = r;
    s->send_busy = false;
    s->unacked_since = 0;
    s->acked_once = false;
    s->st.n_streams++;
    set_state(s, CATS_STREAM_STREAMING);

    if (!stream_open(s->client, r)) {
        call_failed(s, s->cfg.name, GRPC_STATUS_INTERNAL,
                    "cannot start the call", false);
    }
}

static void
start_register(struct cats_stream *s)
{
    struct cats_client *c = s->client;
    grpc_op ops[6];
    struct rpc *r;

    ensure_channel(c);
    r = rpc_create(s, false, REGISTER_METHOD,
                   gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                gpr_time_from_millis(REGISTER_DEADLINE_MS,
                                                     GPR_TIMESPAN)));
    s->active = r;
    set_state(s, CATS_STREAM_REGISTERING);
    r->send_buf = byte_buffer(s->cfg.register_msg, s->cfg.register_len);

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = c->n_auth_md;
    ops[0].data.send_initial_metadata.metadata = &c->auth_md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = r->send_buf;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &r->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &r->recv_buf;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &r->trailing_md;
    ops[5].data.recv_status_on_client.status = &r->status;
    ops[5].data.recv_status_on_client.status_details = &r->details;
    if (!rpc_start(r, ops, sizeof ops / sizeof *ops, OP_UNARY)) {
        r->finished = true;
        r->pending = 1;
        rpc_unref_batch(r);
        call_failed(s, "RegisterNode", GRPC_STATUS_INTERNAL,
                    "cannot start the call", false);
    }
}

static void
start(struct cats_stream *s)
{
    if (s->cfg.register_msg) {
        start_register(s);
    } else {
        start_stream(s);
    }
}

/* Completions. */

static void
on_register_done(struct cats_stream *s, struct rpc *r, bool success)
{
    struct cats_client_ack reply;
    uint8_t *data = NULL;
    size_t len = 0;
    bool ok;

    r->finished = true;
    if (s->active != r) {
        return;                 /* Cancelled by shutdown. */
    }
    if (!success) {
        call_failed(s, "RegisterNode", GRPC_STATUS_UNAVAILABLE,
                    "call failed", false);
        return;
    }
    if (r->status != GRPC_STATUS_OK) {
        char *details = details_string(r);

        call_failed(s, "RegisterNode", r->status, details, false);
        free(details);
        return;
    }
    if (r->recv_buf) {
        data = flatten(r->recv_buf, &len);
    }
    ok = (data && cats_client_decode_ack(CATS_CLIENT_REGISTER_REPLY, data,
                                         len, &reply)
          && reply.session);
    free(data);
    if (!ok) {
        call_failed(s, "RegisterNode", GRPC_STATUS_INTERNAL,
                    "reply without a session", false);
        return;
    }
    s->st.session = reply.session;
    s->st.n_registrations++;
    s->session_started = cats_client_now();
    s->st.last_error[0] = '\0';
    client_log(s->client, CATS_CLIENT_INFO, "registered as %s, session "
               "%#"PRIx64", lease %"PRIu32" ms, interval %"PRIu32" ms",
               s->cfg.source_id, reply.session, reply.lease_ms,
               reply.report_interval_ms);
    set_interval(s, reply.report_interval_ms, reply.lease_ms);
    drop_slot(s);               /* Measured before this session. */
    start_stream(s);
    news(s->client);
}

static void
on_ack(struct cats_stream *s, struct rpc *r, const uint8_t *data, size_t len)
{
    struct cats_client *c = s->client;
    struct cats_client_ack ack;
    bool session_refused;

    if (!cats_client_decode_ack(s->cfg.telemetry ? CATS_CLIENT_TELEMETRY_ACK
                                : CATS_CLIENT_REPORT_ACK, data, len, &ack)) {
        snprintf(s->st.last_error, sizeof s->st.last_error,
                 "undecodable %s ack", s->cfg.what);
        client_log(c, CATS_CLIENT_WARN, "%s, restarting the stream",
                   s->st.last_error);
        grpc_call_cancel(r->call, NULL);
        return;
    }
    session_refused = (ack.error_code == GRPC_STATUS_FAILED_PRECONDITION
                       && s->cfg.register_msg);
    s->st.n_acks++;
    if (ack.seq > s->st.last_ack_seq) {
        s->st.last_ack_seq = ack.seq;
    }
    /* A refusal is an answer too: only silence restarts the stream. */
    s->unacked_since = (s->st.last_ack_seq >= s->st.last_sent_seq
                        ? 0 : cats_client_now());
    if (!s->acked_once && !session_refused) {
        /* End to end works again (an ack refusing the session says it
         * does not): the next failure starts from 1 s. */
        s->acked_once = true;
        s->backoff_ms = BACKOFF_MIN_MS;
    }
    set_interval(s, ack.report_interval_ms, ack.lease_ms);
    if (ack.error_code) {
        unsigned int code = code_index(ack.error_code);

        s->st.ack_errors[code]++;
        s->st.n_refused++;
        snprintf(s->st.last_error, sizeof s->st.last_error,
                 "%s %"PRIu64" refused: %s: %.180s", s->cfg.what,
                 ack.error_seq, cats_grpc_status_name(code),
                 ack.error_message);
        client_log(c, CATS_CLIENT_WARN, "%s", s->st.last_error);
        if (session_refused) {
            r->reregister = true;
            grpc_call_cancel(r->call, NULL);
        }
    }
}

static void
on_stream_event(struct cats_stream *s, struct rpc *r, enum rpc_op op,
                bool success)
{
    bool current = s->active == r;

    switch (op) {
    case OP_START:
        break;

    case OP_SEND:
        grpc_byte_buffer_destroy(r->send_buf);
        r->send_buf = NULL;
        if (current) {
            s->send_busy = false;
            if (success) {
                s->st.n_sent++;
                if (!s->unacked_since) {
                    s->unacked_since = cats_client_now();
                }
                start_send(s);
            }
        }
        break;

    case OP_RECV:
        if (success && r->recv_buf && !r->finished) {
            size_t len;
            uint8_t *data = flatten(r->recv_buf, &len);

            grpc_byte_buffer_destroy(r->recv_buf);
            r->recv_buf = NULL;
            if (current && data) {
                on_ack(s, r, data, len);
            }
            free(data);
            if (!r->finished) {
                grpc_op rop;

                memset(&rop, 0, sizeof rop);
                rop.op = GRPC_OP_RECV_MESSAGE;
                rop.data.recv_message.recv_message = &r->recv_buf;
                rpc_start(r, &rop, 1, OP_RECV);
            }
        }
        /* Otherwise the stream is over (half-closed by the controller, or
         * broken): the status tells why. */
        break;

    case OP_STATUS:
        r->finished = true;
        if (current) {
            char *details = details_string(r);

            call_failed(s, s->cfg.name, r->status,
                        (r->status == GRPC_STATUS_OK
                         ? "the controller ended the stream" : details),
                        (r->reregister
                         || r->status == GRPC_STATUS_FAILED_PRECONDITION));
            free(details);
        }
        break;

    case OP_UNARY:
    case N_OPS:
    default:
        abort();
    }
}

static void
handle_event(const grpc_event *ev)
{
    struct rpc_tag *tag = ev->tag;
    struct rpc *r = tag->rpc;

    if (tag->op == OP_UNARY) {
        on_register_done(r->s, r, ev->success);
    } else {
        on_stream_event(r->s, r, tag->op, ev->success);
    }
    rpc_unref_batch(r);
}

/* Called on each wake-up of the thread: timers.  Returns how long the
 * thread may sleep, at most 'wake' ms. */
static long long
run_timers(struct cats_client *c, long long wake)
{
    long long now = cats_client_now();

    for (size_t i = 0; i < c->n_streams && !c->exiting; i++) {
        struct cats_stream *s = c->streams[i];

        if (s->st.state == CATS_STREAM_BACKOFF
            && now >= s->st.backoff_until) {
            start(s);
        } else if (s->st.state == CATS_STREAM_STREAMING && s->unacked_since
                   && s->active && !s->active->reregister) {
            long long timeout = MAX(ACK_TIMEOUT_MIN_MS,
                                    3LL * s->st.interval_ms);

            if (now - s->unacked_since >= timeout) {
                client_log(c, CATS_CLIENT_WARN, "%s: no ack for %lld ms, "
                           "restarting the stream", s->cfg.name,
                           now - s->unacked_since);
                s->unacked_since = 0;
                grpc_call_cancel_with_status(s->active->call,
                                             GRPC_STATUS_DEADLINE_EXCEEDED,
                                             "no ack in time", NULL);
            }
        }
        if (s->st.state == CATS_STREAM_BACKOFF) {
            wake = MIN(wake, s->st.backoff_until - now);
        }
    }
    return MAX(1, wake);
}

static void *
client_thread(void *c_)
{
    struct cats_client *c = c_;

    if (c->cfg.hooks.thread_start) {
        c->cfg.hooks.thread_start(c->cfg.hooks.aux);
    }
    client_init_grpc(c);

    pthread_mutex_lock(&c->mutex);
    for (size_t i = 0; i < c->n_streams; i++) {
        start(c->streams[i]);
    }
    for (;;) {
        long long wake = c->cfg.tick_ms;

        if (c->cfg.hooks.tick && !c->exiting) {
            pthread_mutex_unlock(&c->mutex);
            wake = MIN(wake, c->cfg.hooks.tick(c->cfg.hooks.aux));
            pthread_mutex_lock(&c->mutex);
        }
        wake = run_timers(c, wake);
        if (c->exiting && !c->n_rpcs) {
            break;
        }
        pthread_mutex_unlock(&c->mutex);

        grpc_event ev = grpc_completion_queue_next(
            c->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                gpr_time_from_millis(wake, GPR_TIMESPAN)),
            NULL);

        pthread_mutex_lock(&c->mutex);
        if (ev.type == GRPC_OP_COMPLETE) {
            handle_event(&ev);
        }
    }
    destroy_channel(c);
    for (size_t i = 0; i < c->n_streams; i++) {
        drop_slot(c->streams[i]);
    }
    pthread_mutex_unlock(&c->mutex);
    client_fini_grpc(c);
    return NULL;
}

/* Public functions. */

struct cats_client *
cats_client_create(const struct cats_client_config *cfg)
{
    struct cats_client *c = client_xcalloc(1, sizeof *c);

    c->cfg = *cfg;
    c->cfg.target = client_xstrdup(cfg->target);
    c->cfg.user_agent = client_xstrdup(cfg->user_agent);
    c->cfg.tls_ca = client_xstrdup(cfg->tls_ca);
    c->cfg.tls_cert = client_xstrdup(cfg->tls_cert);
    c->cfg.tls_key = client_xstrdup(cfg->tls_key);
    c->cfg.token = client_xstrdup(cfg->token);
    if (!c->cfg.tick_ms) {
        c->cfg.tick_ms = 200;
    }
    pthread_mutex_init(&c->mutex, NULL);
    c->rand_state = (unsigned int) (cats_client_now() ^ getpid()
                                    ^ (uintptr_t) c);
    return c;
}

/* On the client thread, so that the threads gRPC creates inherit its CPU
 * set (cats-gw: a control core, not a forwarding lcore). */
static void
client_init_grpc(struct cats_client *c)
{
    const struct cats_client_config *cfg = &c->cfg;

    grpc_init();
    if (cfg->token) {
        size_t len = strlen(cfg->token) + sizeof "Bearer ";
        char *value = client_xmalloc(len);

        snprintf(value, len, "Bearer %s", cfg->token);
        c->auth_md.key = grpc_slice_from_static_string("authorization");
        c->auth_md.value = grpc_slice_from_copied_string(value);
        c->n_auth_md = 1;
        free(value);
    }
    if (cfg->tls) {
        grpc_ssl_pem_key_cert_pair pair = {
            .private_key = cfg->tls_key,
            .cert_chain = cfg->tls_cert,
        };
        c->creds = grpc_ssl_credentials_create(
            cfg->tls_ca, cfg->tls_cert ? &pair : NULL, NULL, NULL);
    } else {
        c->creds = grpc_insecure_credentials_create();
    }
    c->cq = grpc_completion_queue_create_for_next(NULL);
}

static void
client_fini_grpc(struct cats_client *c)
{
    grpc_completion_queue_shutdown(c->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
    }
    grpc_completion_queue_destroy(c->cq);
    grpc_channel_credentials_release(c->creds);
    if (c->n_auth_md) {
        grpc_slice_unref(c->auth_md.key);
        grpc_slice_unref(c->auth_md.value);
    }
    grpc_shutdown();
}

struct cats_stream *
cats_client_add_stream(struct cats_client *c,
                       const struct cats_stream_config *cfg)
{
    struct cats_stream *s = client_xcalloc(1, sizeof *s);

    if (c->n_streams >= MAX_STREAMS) {
        abort();
    }
    s->client = c;
    s->cfg = *cfg;
    s->cfg.source_id = client_xstrdup(cfg->source_id);
    if (cfg->register_msg) {
        uint8_t *msg = client_xmalloc(cfg->register_len);

        memcpy(msg, cfg->register_msg, cfg->register_len);
        s->cfg.register_msg = msg;
    }
    s->backoff_ms = BACKOFF_MIN_MS;
    s->st.interval_ms = cfg->interval_ms;
    s->st.state = (cfg->register_msg ? CATS_STREAM_REGISTERING
                   : CATS_STREAM_OFF);
    s->st.state_since = cats_client_now();
    c->streams[c->n_streams++] = s;
    return s;
}

int
cats_client_start(struct cats_client *c)
{
    int error = (c->cfg.hooks.thread_create
                 ? c->cfg.hooks.thread_create(&c->thread, client_thread, c)
                 : pthread_create(&c->thread, NULL, client_thread, c));

    c->started = !error;
    return error;
}

void
cats_client_destroy(struct cats_client *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&c->mutex);
    c->exiting = true;
    for (size_t i = 0; i < c->n_streams; i++) {
        if (c->streams[i]->active) {
            grpc_call_cancel(c->streams[i]->active->call, NULL);
        }
    }
    pthread_mutex_unlock(&c->mutex);
    if (c->started) {
        pthread_join(c->thread, NULL);
    }

    for (size_t i = 0; i < c->n_streams; i++) {
        struct cats_stream *s = c->streams[i];

        drop_slot(s);
        free((char *) s->cfg.source_id);
        free((uint8_t *) s->cfg.register_msg);
        free(s);
    }
    pthread_mutex_destroy(&c->mutex);
    free((char *) c->cfg.target);
    free((char *) c->cfg.user_agent);
    free((char *) c->cfg.tls_ca);
    free((char *) c->cfg.tls_cert);
    free((char *) c->cfg.tls_key);
    free((char *) c->cfg.token);
    free(c);
}

void
cats_stream_post(struct cats_stream *s, void *msg)
{
    struct cats_client *c = s->client;

    pthread_mutex_lock(&c->mutex);
    if (s->st.state != CATS_STREAM_STREAMING || c->exiting) {
        s->st.n_dropped++;
        free_msg(s, msg);
    } else if (s->cfg.skip_if_busy && (s->send_busy || s->slot)) {
        /* HTTP/2 flow control holds the previous one: skip a round
         * rather than queue stale counters. */
        s->st.n_skipped++;
        free_msg(s, msg);
    } else {
        if (s->slot) {
            s->st.n_replaced++;
        }
        drop_slot(s);
        s->slot = msg;
        start_send(s);
    }
    pthread_mutex_unlock(&c->mutex);
}

void
cats_stream_get_status(struct cats_stream *s, struct cats_stream_status *st)
{
    pthread_mutex_lock(&s->client->mutex);
    *st = s->st;
    st->n_reconnects = s->client->n_reconnects;
    pthread_mutex_unlock(&s->client->mutex);
}

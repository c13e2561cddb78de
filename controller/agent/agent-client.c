/*
 * cats-agent: the gRPC client (see agent-client.h for the state machine).
 *
 * gRPC core rules this file relies on (the controller's spike found them
 * the hard way, proto/README.md): at most one outstanding batch per op type
 * per call, so one SEND_MESSAGE and one RECV_MESSAGE at a time; every
 * buffer, slice and metadata array given to a batch lives until the batch
 * completes; grpc_call_start_batch() and grpc_call_cancel() are
 * thread-safe.  A call's memory is released only when every batch started
 * on it has completed ('pending' counts them), never at RECV_STATUS alone.
 *
 * Locking: 'mutex' protects everything in struct agent_client except the
 * immutable configuration.  The client thread never holds it while
 * blocked in grpc_completion_queue_next(); the main thread takes it
 * briefly to post a report (and may start the send batch itself, so that a
 * report leaves at once instead of at the thread's next wake-up), and so
 * does the telemetry reader thread to post a telemetry report.
 */

#include <config.h>

#include "agent-client.h"

#include <errno.h>
#include <stdarg.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "proto/cats.pb-c.h"
#include "random.h"
#include "seq.h"
#include "telemetry.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(agent_client);

#define REGISTER_METHOD "/cats.v1.Agent/RegisterNode"
#define STREAM_METHOD "/cats.v1.Agent/StreamReports"
#define TEL_METHOD "/cats.v1.Telemetry/StreamTelemetry"

/* How long RegisterNode may take, the wake-up period of the client thread
 * (it checks timers and shutdown), and the reconnect backoff. */
#define REGISTER_DEADLINE_MS 5000
#define THREAD_TICK_MS 200
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 8000

/* A stream whose reports get no ack for this long (and at least three
 * intervals) is taken for dead: a controller that hangs, or a connection
 * that black-holes without a reset, must not keep the agent waiting. */
#define ACK_TIMEOUT_MIN_MS 5000

/* A controller that answers FAILED_PRECONDITION to a session this young
 * is not one that restarted: registering again at once would loop, so
 * that case backs off like any other error. */
#define REREGISTER_MIN_AGE_MS 1000

/* Bounds on the interval the controller may ask for. */
#define INTERVAL_MIN_MS 50
#define INTERVAL_MAX_MS 600000

enum rpc_op {
    OP_UNARY,                   /* RegisterNode: the whole call. */
    OP_START,                   /* Stream: send and receive metadata. */
    OP_RECV,                    /* Stream: one ack. */
    OP_SEND,                    /* Stream: one report. */
    OP_STATUS,                  /* Stream: the final status. */
    N_OPS
};

struct rpc_tag {
    struct rpc *rpc;
    enum rpc_op op;
};

/* One call: RegisterNode, StreamReports or StreamTelemetry. */
struct rpc {
    struct agent_client *client;
    grpc_call *call;
    bool is_stream;
    bool telemetry;             /* StreamTelemetry. */
    int pending;                /* Batches started, not completed. */
    bool finished;              /* Status received; detached from client. */
    bool reregister;            /* When it ends: register again at once. */
    struct rpc_tag tags[N_OPS];

    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *send_buf;
    grpc_byte_buffer *recv_buf;
};

struct agent_client {
    /* Immutable after creation. */
    char *target;
    char *node_id;
    char *user_agent;
    bool agent_enabled;         /* RegisterNode and StreamReports. */
    bool tel_enabled;           /* StreamTelemetry. */
    uint8_t *register_msg;      /* Encoded RegisterRequest. */
    size_t register_len;
    grpc_metadata auth_md;      /* "authorization: Bearer ...". */
    size_t n_auth_md;
    grpc_channel_credentials *creds;
    grpc_completion_queue *cq;
    pthread_t thread;
    struct seq *news;

    struct ovs_mutex mutex;
    bool exiting OVS_GUARDED;
    grpc_channel *channel OVS_GUARDED;
    struct rpc *active OVS_GUARDED;    /* The call of the current state. */
    size_t n_rpcs OVS_GUARDED;         /* Alive, including finished ones
                                        * with batches still pending. */
    struct cats_report_load *slot OVS_GUARDED;
    bool send_busy OVS_GUARDED;
    uint64_t next_seq OVS_GUARDED;
    unsigned int backoff_ms OVS_GUARDED;
    long long session_started OVS_GUARDED;
    long long unacked_since OVS_GUARDED;   /* 0: every report acked. */
    bool acked_once OVS_GUARDED;           /* In this session. */
    bool had_channel OVS_GUARDED;
    struct agent_client_status st OVS_GUARDED;

    /* Telemetry: the same, for its own stream. */
    struct rpc *tel_active OVS_GUARDED;
    struct cats_report_telemetry *tel_slot OVS_GUARDED;
    bool tel_send_busy OVS_GUARDED;
    uint64_t tel_next_seq OVS_GUARDED;
    unsigned int tel_backoff_ms OVS_GUARDED;
    long long tel_unacked_since OVS_GUARDED;
    bool tel_acked_once OVS_GUARDED;
    struct agent_client_tel_status tst OVS_GUARDED;
};

static void *client_thread(void *);
static void start_register(struct agent_client *c) OVS_REQUIRES(c->mutex);
static void start_tel_stream(struct agent_client *c) OVS_REQUIRES(c->mutex);

const char *
agent_client_state_name(enum agent_client_state state)
{
    switch (state) {
    case AGENT_CLIENT_BACKOFF:
        return "backoff";
    case AGENT_CLIENT_REGISTERING:
        return "registering";
    case AGENT_CLIENT_STREAMING:
        return "streaming";
    }
    return "unknown";
}

const char *
agent_client_tel_state_name(enum agent_client_tel_state state)
{
    switch (state) {
    case AGENT_CLIENT_TEL_OFF:
        return "off";
    case AGENT_CLIENT_TEL_BACKOFF:
        return "backoff";
    case AGENT_CLIENT_TEL_STREAMING:
        return "streaming";
    }
    return "unknown";
}

const char *
agent_client_code_name(unsigned int code)
{
    static const char *const names[AGENT_CLIENT_N_CODES] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
        "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };
    return code < AGENT_CLIENT_N_CODES ? names[code] : "UNKNOWN";
}

char *
agent_client_parse_target(const char *target, bool *local)
{
    const char *colon = strrchr(target, ':');
    unsigned int port;
    char *host;

    *local = false;
    if (!strncmp(target, "unix:", 5)) {
        if (!target[5] || strlen(target + 5) >= 108) {
            return xstrdup("unix:PATH needs a socket path of 1 to 107 "
                           "bytes");
        }
        *local = true;
        return NULL;
    }
    if (!colon || colon == target || !str_to_uint(colon + 1, 10, &port)
        || !port || port > 65535) {
        return xstrdup("expected HOST:PORT with PORT 1 to 65535, or "
                       "unix:PATH");
    }
    host = xmemdup0(target, colon - target);
    if (host[0] == '[') {
        size_t len = strlen(host);

        if (len < 3 || host[len - 1] != ']') {
            free(host);
            return xstrdup("an IPv6 address needs [brackets]");
        }
        *local = !strcmp(host, "[::1]");
    } else {
        ovs_be32 ip;

        if (strchr(host, ':')) {
            free(host);
            return xstrdup("an IPv6 address needs [brackets]");
        }
        *local = (!strcasecmp(host, "localhost")
                  || (ip_parse(host, &ip) && (ntohl(ip) >> 24) == 127));
    }
    free(host);
    return NULL;
}

static unsigned int
code_index(unsigned int code)
{
    return code < AGENT_CLIENT_N_CODES ? code : GRPC_STATUS_UNKNOWN;
}

/* Encoding. */

static void
encode_registration(const struct cats_report_registration *reg,
                    uint8_t **msgp, size_t *lenp)
{
    Cats__V1__RegisterRequest req = CATS__V1__REGISTER_REQUEST__INIT;
    Cats__V1__InstanceSpec *specs, **ptrs;
    char (*ips)[INET_ADDRSTRLEN];

    specs = xcalloc(reg->n_instances + 1, sizeof *specs);
    ptrs = xcalloc(reg->n_instances + 1, sizeof *ptrs);
    ips = xcalloc(reg->n_instances + 1, sizeof *ips);
    for (size_t i = 0; i < reg->n_instances; i++) {
        const struct cats_report_spec *spec = &reg->instances[i];

        cats__v1__instance_spec__init(&specs[i]);
        snprintf(ips[i], sizeof ips[i], IP_FMT, IP_ARGS(spec->key.ip));
        specs[i].service = CONST_CAST(char *, spec->key.service);
        specs[i].ip = ips[i];
        specs[i].port = spec->key.port;
        specs[i].capacity = spec->capacity;
        ptrs[i] = &specs[i];
    }
    req.node_id = CONST_CAST(char *, reg->node_id);
    req.agent = CONST_CAST(char *, reg->agent);
    req.n_instances = reg->n_instances;
    req.instances = ptrs;

    *lenp = cats__v1__register_request__get_packed_size(&req);
    *msgp = xmalloc(*lenp + 1);
    cats__v1__register_request__pack(&req, *msgp);
    free(specs);
    free(ptrs);
    free(ips);
}

static void
metrics_to_pb(const struct cats_metric_values *v, Cats__V1__Metrics *m)
{
    cats__v1__metrics__init(m);
#define HAS(M) cats_metric_values_has(v, CATS_METRIC_##M)
#define SET(M, FIELD, CASE, VALUE)                      \
    if (HAS(M)) {                                       \
        m->_##FIELD##_case = CATS__V1__METRICS___##CASE##_##CASE; \
        m->FIELD = VALUE;                               \
    }
    SET(CPU, cpu_utilization, CPU_UTILIZATION, v->value[CATS_METRIC_CPU]);
    SET(GPU, gpu_utilization, GPU_UTILIZATION, v->value[CATS_METRIC_GPU]);
    SET(MEMORY, memory_utilization, MEMORY_UTILIZATION,
        v->value[CATS_METRIC_MEMORY]);
    SET(GPU_MEMORY, gpu_memory_utilization, GPU_MEMORY_UTILIZATION,
        v->value[CATS_METRIC_GPU_MEMORY]);
    SET(LOAD, load_average_per_cpu, LOAD_AVERAGE_PER_CPU,
        v->value[CATS_METRIC_LOAD]);
    SET(IN_FLIGHT, requests_in_flight, REQUESTS_IN_FLIGHT,
        (uint32_t) (v->value[CATS_METRIC_IN_FLIGHT] + 0.5));
    SET(QUEUE, queue_depth, QUEUE_DEPTH,
        (uint32_t) (v->value[CATS_METRIC_QUEUE] + 0.5));
    SET(LATENCY, latency_ms, LATENCY_MS, v->value[CATS_METRIC_LATENCY]);
    SET(RPS, requests_per_second, REQUESTS_PER_SECOND,
        v->value[CATS_METRIC_RPS]);
    SET(TPS, tokens_per_second, TOKENS_PER_SECOND,
        v->value[CATS_METRIC_TPS]);
#undef SET
#undef HAS
}

static grpc_byte_buffer *
encode_load(const struct cats_report_load *load)
{
    Cats__V1__LoadReport msg = CATS__V1__LOAD_REPORT__INIT;
    size_t n = load->n_instances;
    Cats__V1__Metrics node;
    Cats__V1__InstanceLoad *insts, **ptrs;
    Cats__V1__Metrics *metrics;
    char (*ips)[INET_ADDRSTRLEN];

    insts = xcalloc(n + 1, sizeof *insts);
    ptrs = xcalloc(n + 1, sizeof *ptrs);
    metrics = xcalloc(n + 1, sizeof *metrics);
    ips = xcalloc(n + 1, sizeof *ips);
    for (size_t i = 0; i < n; i++) {
        const struct cats_report_instance *ri = &load->instances[i];
        Cats__V1__InstanceLoad *il = &insts[i];

        cats__v1__instance_load__init(il);
        snprintf(ips[i], sizeof ips[i], IP_FMT, IP_ARGS(ri->key.ip));
        il->service = CONST_CAST(char *, ri->key.service);
        il->ip = ips[i];
        il->port = ri->key.port;
        il->health = (ri->health == CATS_HEALTH_DRAINING
                      ? CATS__V1__HEALTH__HEALTH_DRAINING
                      : ri->health == CATS_HEALTH_NOT_SERVING
                      ? CATS__V1__HEALTH__HEALTH_NOT_SERVING
                      : CATS__V1__HEALTH__HEALTH_SERVING);
        if (ri->metrics.present) {
            metrics_to_pb(&ri->metrics, &metrics[i]);
            il->metrics = &metrics[i];
        }
        if (ri->has_l2) {
            il->_l2_score_case = CATS__V1__INSTANCE_LOAD___L2_SCORE_L2_SCORE;
            il->l2_score = ri->l2;
        }
        ptrs[i] = il;
    }
    metrics_to_pb(&load->node_metrics, &node);

    msg.node_id = CONST_CAST(char *, load->node_id);
    msg.session_id = load->session;
    msg.seq = load->seq;
    msg.node = &node;
    msg.n_instances = n;
    msg.instances = ptrs;
    msg.window_ms = load->window_ms;

    size_t len = cats__v1__load_report__get_packed_size(&msg);
    uint8_t *buf = xmalloc(len + 1);
    cats__v1__load_report__pack(&msg, buf);
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *) buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);

    free(buf);
    free(insts);
    free(ptrs);
    free(metrics);
    free(ips);
    return bb;
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
    data = xmemdup(GRPC_SLICE_START_PTR(slice), *lenp + !*lenp);
    grpc_slice_unref(slice);
    grpc_byte_buffer_reader_destroy(&reader);
    return data;
}

/* State. */

static void
set_state(struct agent_client *c, enum agent_client_state state)
    OVS_REQUIRES(c->mutex)
{
    if (c->st.state != state) {
        c->st.state = state;
        c->st.state_since = time_msec();
        seq_change(c->news);
    }
}

static void
set_error(struct agent_client *c, const char *format, ...)
    OVS_REQUIRES(c->mutex) OVS_PRINTF_FORMAT(2, 3);

static void
set_error(struct agent_client *c, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vsnprintf(c->st.last_error, sizeof c->st.last_error, format, args);
    va_end(args);
}

static void
set_interval(struct agent_client *c, unsigned int interval_ms,
             unsigned int lease_ms)
    OVS_REQUIRES(c->mutex)
{
    if (interval_ms) {
        interval_ms = MAX(INTERVAL_MIN_MS, MIN(INTERVAL_MAX_MS, interval_ms));
        if (interval_ms != c->st.interval_ms) {
            VLOG_INFO("controller asks for a report every %u ms",
                      interval_ms);
            c->st.interval_ms = interval_ms;
            seq_change(c->news);
        }
    }
    if (lease_ms) {
        c->st.lease_ms = lease_ms;
    }
}

static struct rpc *
rpc_create(struct agent_client *c, bool is_stream, const char *method,
           gpr_timespec deadline)
    OVS_REQUIRES(c->mutex)
{
    struct rpc *r = xzalloc(sizeof *r);

    r->client = c;
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
    OVS_REQUIRES(r->client->mutex)
{
    if (--r->pending > 0 || !r->finished) {
        return;
    }
    r->client->n_rpcs--;
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
    OVS_REQUIRES(r->client->mutex)
{
    grpc_call_error error;

    error = grpc_call_start_batch(r->call, ops, n, &r->tags[op], NULL);
    if (error != GRPC_CALL_OK) {
        VLOG_ERR("grpc_call_start_batch failed (%d)", (int) error);
        grpc_call_cancel(r->call, NULL);
        return false;
    }
    r->pending++;
    return true;
}

static void
destroy_channel(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    if (c->channel) {
        grpc_channel_destroy(c->channel);
        c->channel = NULL;
    }
}

/* After a failure: the next attempt gets a new channel (and, with the
 * local subchannel pool, a new connection), unless the other call is
 * still using this one. */
static void
release_channel(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    if (!c->active && !c->tel_active) {
        destroy_channel(c);
    }
}

static void
ensure_channel(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
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
              { .string = c->user_agent } },
        };
        grpc_channel_args chargs = { ARRAY_SIZE(args), args };

        /* A new channel for each attempt after a failure: our own backoff
         * decides when to retry, not gRPC's, which grows to two minutes by
         * default. */
        c->channel = grpc_channel_create(c->target, c->creds, &chargs);
        if (c->had_channel) {
            c->st.n_reconnects++;
        }
        c->had_channel = true;
    }
}

static void
drop_slot(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    if (c->slot) {
        cats_report_load_destroy(c->slot);
        free(c->slot);
        c->slot = NULL;
    }
}

static void
enter_backoff(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    /* +-20% jitter, so that the agents of a whole site do not come back in
     * step after a controller restart. */
    unsigned int jitter = random_range(c->backoff_ms * 2 / 5 + 1);
    unsigned int delay = c->backoff_ms * 4 / 5 + jitter;

    c->active = NULL;
    c->send_busy = false;
    drop_slot(c);
    release_channel(c);
    c->st.backoff_until = time_msec() + delay;
    c->backoff_ms = MIN(c->backoff_ms * 2, BACKOFF_MAX_MS);
    set_state(c, AGENT_CLIENT_BACKOFF);
    VLOG_INFO("%s: retrying in %.1f s", c->target, delay / 1000.0);
}

/* Counts, logs and acts on the end of the current call. */
static void
call_failed(struct agent_client *c, const char *what, grpc_status_code code,
            const char *details, bool reregister)
    OVS_REQUIRES(c->mutex)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    if (c->exiting) {
        /* Our own cancellation. */
        c->active = NULL;
        return;
    }
    c->st.call_errors[code_index(code)]++;
    set_error(c, "%s: %s%s%s", what, agent_client_code_name(code),
              details && *details ? ": " : "", details ? details : "");
    VLOG_WARN_RL(&rl, "%s: %s", c->target, c->st.last_error);
    if (reregister
        && time_msec() - c->session_started >= REREGISTER_MIN_AGE_MS) {
        VLOG_INFO("%s: session %#"PRIx64" unknown to the controller, "
                  "registering again", c->target, c->st.session);
        c->active = NULL;
        c->send_busy = false;
        drop_slot(c);
        start_register(c);
    } else {
        enter_backoff(c);
    }
}

/* Starts sending the slot's report, if there is one and the stream can
 * take it. */
static void
start_send(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    struct rpc *r = c->active;
    struct cats_report_load *load = c->slot;
    grpc_op op;

    if (!load || c->send_busy || !r || !r->is_stream || r->finished
        || c->st.state != AGENT_CLIENT_STREAMING) {
        return;
    }
    c->slot = NULL;

    ovs_strlcpy(load->node_id, c->node_id, sizeof load->node_id);
    load->session = c->st.session;
    load->seq = ++c->next_seq;
    r->send_buf = encode_load(load);
    c->st.last_sent_seq = load->seq;
    cats_report_load_destroy(load);
    free(load);

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = r->send_buf;
    if (rpc_start(r, &op, 1, OP_SEND)) {
        c->send_busy = true;
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
stream_open(struct agent_client *c, struct rpc *r)
    OVS_REQUIRES(c->mutex)
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
start_stream(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    struct rpc *r = rpc_create(c, true, STREAM_METHOD,
                               gpr_inf_future(GPR_CLOCK_MONOTONIC));

    c->active = r;
    c->send_busy = false;
    c->unacked_since = 0;
    c->acked_once = false;
    set_state(c, AGENT_CLIENT_STREAMING);

    if (!stream_open(c, r)) {
        call_failed(c, "StreamReports", GRPC_STATUS_INTERNAL,
                    "cannot start the call", false);
    }
}

static void
start_register(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    grpc_slice payload;
    grpc_op ops[6];
    struct rpc *r;

    ensure_channel(c);
    r = rpc_create(c, false, REGISTER_METHOD,
                   gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                gpr_time_from_millis(REGISTER_DEADLINE_MS,
                                                     GPR_TIMESPAN)));
    c->active = r;
    set_state(c, AGENT_CLIENT_REGISTERING);

    payload = grpc_slice_from_copied_buffer((const char *) c->register_msg,
                                            c->register_len);
    r->send_buf = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);

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
    if (!rpc_start(r, ops, ARRAY_SIZE(ops), OP_UNARY)) {
        r->finished = true;
        r->pending = 1;
        rpc_unref_batch(r);
        call_failed(c, "RegisterNode", GRPC_STATUS_INTERNAL,
                    "cannot start the call", false);
    }
}

/* Telemetry. */

static void
tel_set_state(struct agent_client *c, enum agent_client_tel_state state)
    OVS_REQUIRES(c->mutex)
{
    if (c->tst.state != state) {
        c->tst.state = state;
        c->tst.state_since = time_msec();
        seq_change(c->news);
    }
}

static void
tel_drop_slot(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    if (c->tel_slot) {
        cats_report_telemetry_destroy(c->tel_slot);
        free(c->tel_slot);
        c->tel_slot = NULL;
    }
}

static void
tel_enter_backoff(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    unsigned int jitter = random_range(c->tel_backoff_ms * 2 / 5 + 1);
    unsigned int delay = c->tel_backoff_ms * 4 / 5 + jitter;

    c->tel_active = NULL;
    c->tel_send_busy = false;
    tel_drop_slot(c);
    release_channel(c);
    c->tst.backoff_until = time_msec() + delay;
    c->tel_backoff_ms = MIN(c->tel_backoff_ms * 2, BACKOFF_MAX_MS);
    tel_set_state(c, AGENT_CLIENT_TEL_BACKOFF);
    VLOG_INFO("%s: telemetry: retrying in %.1f s", c->target,
              delay / 1000.0);
}

/* Counts, logs and acts on the end of the telemetry call. */
static void
tel_call_failed(struct agent_client *c, grpc_status_code code,
                const char *details)
    OVS_REQUIRES(c->mutex)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    if (c->exiting) {
        c->tel_active = NULL;
        return;
    }
    c->tst.call_errors[code_index(code)]++;
    snprintf(c->tst.last_error, sizeof c->tst.last_error,
             "StreamTelemetry: %s%s%.200s", agent_client_code_name(code),
             details && *details ? ": " : "", details ? details : "");
    VLOG_WARN_RL(&rl, "%s: %s", c->target, c->tst.last_error);
    tel_enter_backoff(c);
}

/* Starts sending the telemetry slot's report, if there is one and the
 * stream can take it. */
static void
start_tel_send(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    struct rpc *r = c->tel_active;
    struct cats_report_telemetry *t = c->tel_slot;
    grpc_slice slice;
    uint8_t *buf;
    size_t len;
    grpc_op op;

    if (!t || c->tel_send_busy || !r || r->finished
        || c->tst.state != AGENT_CLIENT_TEL_STREAMING) {
        return;
    }
    c->tel_slot = NULL;

    ovs_strlcpy(t->source_id, c->node_id, sizeof t->source_id);
    t->seq = ++c->tel_next_seq;
    buf = agent_tel_encode(t, &len);
    slice = grpc_slice_from_copied_buffer((const char *) buf, len);
    r->send_buf = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    free(buf);
    c->tst.last_sent_seq = t->seq;
    cats_report_telemetry_destroy(t);
    free(t);

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = r->send_buf;
    if (rpc_start(r, &op, 1, OP_SEND)) {
        c->tel_send_busy = true;
    } else {
        grpc_byte_buffer_destroy(r->send_buf);
        r->send_buf = NULL;
    }
}

static void
start_tel_stream(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    struct rpc *r;

    ensure_channel(c);
    r = rpc_create(c, true, TEL_METHOD, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    r->telemetry = true;
    c->tel_active = r;
    c->tel_send_busy = false;
    c->tel_unacked_since = 0;
    c->tel_acked_once = false;
    c->tst.n_streams++;
    tel_set_state(c, AGENT_CLIENT_TEL_STREAMING);

    if (!stream_open(c, r)) {
        tel_call_failed(c, GRPC_STATUS_INTERNAL, "cannot start the call");
    }
}

/* Completions. */

static char *
details_string(const struct rpc *r)
{
    return xmemdup0((const char *) GRPC_SLICE_START_PTR(r->details),
                    MIN(GRPC_SLICE_LENGTH(r->details), 200));
}

static void
on_register_done(struct agent_client *c, struct rpc *r, bool success)
    OVS_REQUIRES(c->mutex)
{
    Cats__V1__RegisterReply *reply = NULL;
    uint8_t *data = NULL;
    size_t len = 0;

    r->finished = true;
    if (c->active != r) {
        return;                 /* Cancelled by shutdown. */
    }
    if (!success) {
        call_failed(c, "RegisterNode", GRPC_STATUS_UNAVAILABLE,
                    "call failed", false);
        return;
    }
    if (r->status != GRPC_STATUS_OK) {
        char *details = details_string(r);

        call_failed(c, "RegisterNode", r->status, details, false);
        free(details);
        return;
    }
    if (r->recv_buf) {
        data = flatten(r->recv_buf, &len);
    }
    /* protobuf-c decodes 0 bytes into a valid message: a reply without a
     * session is not one. */
    if (data && len) {
        reply = cats__v1__register_reply__unpack(NULL, len, data);
    }
    free(data);
    if (!reply || !reply->session_id) {
        call_failed(c, "RegisterNode", GRPC_STATUS_INTERNAL,
                    "reply without a session", false);
    } else {
        c->st.session = reply->session_id;
        c->st.n_sessions++;
        c->st.n_registrations++;
        c->session_started = time_msec();
        c->st.last_error[0] = '\0';
        VLOG_INFO("%s: registered as %s, session %#"PRIx64", lease %"PRIu32
                  " ms, interval %"PRIu32" ms", c->target, c->node_id,
                  reply->session_id, reply->lease_ms,
                  reply->report_interval_ms);
        set_interval(c, reply->report_interval_ms, reply->lease_ms);
        drop_slot(c);           /* Measured before this session. */
        start_stream(c);
        seq_change(c->news);
    }
    if (reply) {
        cats__v1__register_reply__free_unpacked(reply, NULL);
    }
}

static void
on_ack(struct agent_client *c, struct rpc *r, const uint8_t *data, size_t len)
    OVS_REQUIRES(c->mutex)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    Cats__V1__ReportAck *ack;

    ack = cats__v1__report_ack__unpack(NULL, len, data);
    if (!ack) {
        VLOG_WARN_RL(&rl, "%s: undecodable ack, restarting the stream",
                     c->target);
        set_error(c, "undecodable ack");
        grpc_call_cancel(r->call, NULL);
        return;
    }
    c->st.n_acks++;
    if (ack->seq > c->st.last_ack_seq) {
        c->st.last_ack_seq = ack->seq;
    }
    c->unacked_since = (c->st.last_ack_seq >= c->st.last_sent_seq
                        ? 0 : time_msec());
    if (!c->acked_once) {
        /* End to end works again: the next failure starts from 1 s. */
        c->acked_once = true;
        c->backoff_ms = BACKOFF_MIN_MS;
    }
    set_interval(c, ack->report_interval_ms, ack->lease_ms);
    if (ack->error_code) {
        unsigned int code = code_index(ack->error_code);

        c->st.ack_errors[code]++;
        set_error(c, "report %"PRIu64" refused: %s: %.180s", ack->error_seq,
                  agent_client_code_name(code),
                  ack->error_message ? ack->error_message : "");
        VLOG_WARN_RL(&rl, "%s: %s", c->target, c->st.last_error);
        if (code == GRPC_STATUS_FAILED_PRECONDITION) {
            r->reregister = true;
            grpc_call_cancel(r->call, NULL);
        }
    }
    cats__v1__report_ack__free_unpacked(ack, NULL);
}

static void
on_stream_event(struct agent_client *c, struct rpc *r, enum rpc_op op,
                bool success)
    OVS_REQUIRES(c->mutex)
{
    bool current = c->active == r;

    switch (op) {
    case OP_START:
        break;

    case OP_SEND:
        grpc_byte_buffer_destroy(r->send_buf);
        r->send_buf = NULL;
        if (current) {
            c->send_busy = false;
            if (success) {
                c->st.n_reports_sent++;
                if (!c->unacked_since) {
                    c->unacked_since = time_msec();
                }
                start_send(c);
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
                on_ack(c, r, data, len);
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

            if (r->status == GRPC_STATUS_OK) {
                call_failed(c, "StreamReports", GRPC_STATUS_OK,
                            "the controller ended the stream", false);
            } else {
                call_failed(c, "StreamReports", r->status, details,
                            (r->reregister
                             || r->status == GRPC_STATUS_FAILED_PRECONDITION));
            }
            free(details);
        }
        break;

    case OP_UNARY:
    case N_OPS:
    default:
        OVS_NOT_REACHED();
    }
}

static void
on_tel_ack(struct agent_client *c, struct rpc *r, const uint8_t *data,
           size_t len)
    OVS_REQUIRES(c->mutex)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    Cats__V1__TelemetryAck *ack;

    ack = cats__v1__telemetry_ack__unpack(NULL, len, data);
    if (!ack) {
        VLOG_WARN_RL(&rl, "%s: undecodable telemetry ack, restarting the "
                     "stream", c->target);
        ovs_strlcpy(c->tst.last_error, "undecodable telemetry ack",
                    sizeof c->tst.last_error);
        grpc_call_cancel(r->call, NULL);
        return;
    }
    c->tst.n_acks++;
    if (ack->seq > c->tst.last_ack_seq) {
        c->tst.last_ack_seq = ack->seq;
    }
    /* A refusal is an answer too: only silence restarts the stream. */
    c->tel_unacked_since = (c->tst.last_ack_seq >= c->tst.last_sent_seq
                            ? 0 : time_msec());
    if (!c->tel_acked_once) {
        c->tel_acked_once = true;
        c->tel_backoff_ms = BACKOFF_MIN_MS;
    }
    if (ack->report_interval_ms) {
        unsigned int ms = MAX(INTERVAL_MIN_MS,
                              MIN(INTERVAL_MAX_MS, ack->report_interval_ms));

        if (ms != c->tst.interval_ms) {
            VLOG_INFO("controller asks for telemetry every %u ms", ms);
            c->tst.interval_ms = ms;
            seq_change(c->news);
        }
    }
    if (ack->error_code) {
        unsigned int code = code_index(ack->error_code);

        c->tst.ack_errors[code]++;
        c->tst.n_refused++;
        snprintf(c->tst.last_error, sizeof c->tst.last_error,
                 "telemetry report %"PRIu64" refused: %s: %.180s",
                 ack->error_seq, agent_client_code_name(code),
                 ack->error_message ? ack->error_message : "");
        VLOG_WARN_RL(&rl, "%s: %s", c->target, c->tst.last_error);
    }
    cats__v1__telemetry_ack__free_unpacked(ack, NULL);
}

static void
on_tel_event(struct agent_client *c, struct rpc *r, enum rpc_op op,
             bool success)
    OVS_REQUIRES(c->mutex)
{
    bool current = c->tel_active == r;

    switch (op) {
    case OP_START:
        break;

    case OP_SEND:
        grpc_byte_buffer_destroy(r->send_buf);
        r->send_buf = NULL;
        if (current) {
            c->tel_send_busy = false;
            if (success) {
                c->tst.n_sent++;
                if (!c->tel_unacked_since) {
                    c->tel_unacked_since = time_msec();
                }
                start_tel_send(c);
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
                on_tel_ack(c, r, data, len);
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
        break;

    case OP_STATUS:
        r->finished = true;
        if (current) {
            char *details = details_string(r);

            tel_call_failed(c, r->status,
                            (r->status == GRPC_STATUS_OK
                             ? "the controller ended the stream"
                             : details));
            free(details);
        }
        break;

    case OP_UNARY:
    case N_OPS:
    default:
        OVS_NOT_REACHED();
    }
}

static void
handle_event(struct agent_client *c, const grpc_event *ev)
    OVS_REQUIRES(c->mutex)
{
    struct rpc_tag *tag = ev->tag;
    struct rpc *r = tag->rpc;

    if (tag->op == OP_UNARY) {
        on_register_done(c, r, ev->success);
    } else if (r->telemetry) {
        on_tel_event(c, r, tag->op, ev->success);
    } else {
        on_stream_event(c, r, tag->op, ev->success);
    }
    rpc_unref_batch(r);
}

/* Called on each wake-up of the thread: timers. */
static void
run_timers(struct agent_client *c)
    OVS_REQUIRES(c->mutex)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    long long now = time_msec();

    if (c->exiting) {
        return;
    }
    if (c->st.state == AGENT_CLIENT_BACKOFF && now >= c->st.backoff_until) {
        start_register(c);
    } else if (c->st.state == AGENT_CLIENT_STREAMING && c->unacked_since
               && c->active && !c->active->reregister) {
        long long timeout = MAX(ACK_TIMEOUT_MIN_MS, 3LL * c->st.interval_ms);

        if (now - c->unacked_since >= timeout) {
            VLOG_WARN_RL(&rl, "%s: no ack for %lld ms, restarting the "
                         "stream", c->target, now - c->unacked_since);
            c->unacked_since = 0;
            grpc_call_cancel_with_status(c->active->call,
                                         GRPC_STATUS_DEADLINE_EXCEEDED,
                                         "no ack in time", NULL);
        }
    }

    if (c->tst.state == AGENT_CLIENT_TEL_BACKOFF
        && now >= c->tst.backoff_until) {
        start_tel_stream(c);
    } else if (c->tst.state == AGENT_CLIENT_TEL_STREAMING
               && c->tel_unacked_since && c->tel_active) {
        long long timeout = MAX(ACK_TIMEOUT_MIN_MS, 3LL * c->tst.interval_ms);

        if (now - c->tel_unacked_since >= timeout) {
            VLOG_WARN_RL(&rl, "%s: no telemetry ack for %lld ms, restarting "
                         "the stream", c->target, now - c->tel_unacked_since);
            c->tel_unacked_since = 0;
            grpc_call_cancel_with_status(c->tel_active->call,
                                         GRPC_STATUS_DEADLINE_EXCEEDED,
                                         "no ack in time", NULL);
        }
    }
}

static void *
client_thread(void *c_)
{
    struct agent_client *c = c_;

    /* This thread never touches RCU-protected data; without this, an OVS
     * thread that never quiesces would hold back every postponed free. */
    ovsrcu_quiesce_start();

    ovs_mutex_lock(&c->mutex);
    if (c->agent_enabled) {
        start_register(c);
    }
    if (c->tel_enabled) {
        start_tel_stream(c);
    }
    for (;;) {
        long long wake;

        run_timers(c);
        if (c->exiting && !c->n_rpcs) {
            break;
        }
        wake = THREAD_TICK_MS;
        if (c->st.state == AGENT_CLIENT_BACKOFF) {
            wake = MAX(1, MIN(wake, c->st.backoff_until - time_msec()));
        }
        if (c->tst.state == AGENT_CLIENT_TEL_BACKOFF) {
            wake = MAX(1, MIN(wake, c->tst.backoff_until - time_msec()));
        }
        ovs_mutex_unlock(&c->mutex);

        grpc_event ev = grpc_completion_queue_next(
            c->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                gpr_time_from_millis(wake, GPR_TIMESPAN)),
            NULL);

        ovs_mutex_lock(&c->mutex);
        if (ev.type == GRPC_OP_COMPLETE) {
            handle_event(c, &ev);
        }
    }
    destroy_channel(c);
    drop_slot(c);
    tel_drop_slot(c);
    ovs_mutex_unlock(&c->mutex);

    grpc_completion_queue_shutdown(c->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
    }
    return NULL;
}

/* Public functions. */

struct agent_client *
agent_client_create(const struct agent_client_config *cfg)
{
    struct agent_client *c = xzalloc(sizeof *c);

    grpc_init();

    c->target = xstrdup(cfg->target);
    c->agent_enabled = cfg->registration != NULL;
    c->node_id = xstrdup(cfg->registration ? cfg->registration->node_id
                         : cfg->source_id);
    c->user_agent = xstrdup(cfg->user_agent ? cfg->user_agent
                            : "cats-agent/0.1");
    if (cfg->registration) {
        encode_registration(cfg->registration, &c->register_msg,
                            &c->register_len);
    }
    if (cfg->token) {
        char *value = xasprintf("Bearer %s", cfg->token);

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
    c->news = seq_create();
    ovs_mutex_init(&c->mutex);
    c->backoff_ms = BACKOFF_MIN_MS;
    c->st.interval_ms = cfg->interval_ms;
    c->st.state = AGENT_CLIENT_REGISTERING;
    c->st.state_since = time_msec();
    c->tel_enabled = cfg->telemetry;
    c->tel_backoff_ms = BACKOFF_MIN_MS;
    c->tst.interval_ms = cfg->interval_ms;
    c->tst.state = AGENT_CLIENT_TEL_OFF;
    c->tst.state_since = time_msec();

    c->thread = ovs_thread_create("grpc", client_thread, c);
    return c;
}

void
agent_client_destroy(struct agent_client *c)
{
    if (!c) {
        return;
    }
    ovs_mutex_lock(&c->mutex);
    c->exiting = true;
    if (c->active) {
        grpc_call_cancel(c->active->call, NULL);
    }
    if (c->tel_active) {
        grpc_call_cancel(c->tel_active->call, NULL);
    }
    ovs_mutex_unlock(&c->mutex);
    xpthread_join(c->thread, NULL);

    grpc_completion_queue_destroy(c->cq);
    grpc_channel_credentials_release(c->creds);
    if (c->n_auth_md) {
        grpc_slice_unref(c->auth_md.key);
        grpc_slice_unref(c->auth_md.value);
    }
    grpc_shutdown();

    seq_destroy(c->news);
    ovs_mutex_destroy(&c->mutex);
    free(c->target);
    free(c->node_id);
    free(c->user_agent);
    free(c->register_msg);
    free(c);
}

void
agent_client_post(struct agent_client *c, struct cats_report_load *load)
{
    ovs_mutex_lock(&c->mutex);
    if (c->st.state != AGENT_CLIENT_STREAMING || c->exiting) {
        cats_report_load_destroy(load);
        free(load);
    } else {
        if (c->slot) {
            c->st.n_reports_replaced++;
        }
        drop_slot(c);
        c->slot = load;
        start_send(c);
    }
    ovs_mutex_unlock(&c->mutex);
}

uint64_t
agent_client_seqno(const struct agent_client *c)
{
    return seq_read(c->news);
}

void
agent_client_wait(const struct agent_client *c, uint64_t seqno)
{
    seq_wait(c->news, seqno);
}

void
agent_client_get_status(struct agent_client *c,
                        struct agent_client_status *st)
{
    ovs_mutex_lock(&c->mutex);
    *st = c->st;
    ovs_mutex_unlock(&c->mutex);
}

void
agent_client_post_telemetry(struct agent_client *c,
                            struct cats_report_telemetry *t)
{
    ovs_mutex_lock(&c->mutex);
    if (c->tst.state != AGENT_CLIENT_TEL_STREAMING || c->exiting) {
        if (c->tel_enabled) {
            c->tst.n_dropped++;
        }
        cats_report_telemetry_destroy(t);
        free(t);
    } else {
        if (c->tel_slot) {
            c->tst.n_replaced++;
        }
        tel_drop_slot(c);
        c->tel_slot = t;
        start_tel_send(c);
    }
    ovs_mutex_unlock(&c->mutex);
}

void
agent_client_get_tel_status(struct agent_client *c,
                            struct agent_client_tel_status *tst)
{
    ovs_mutex_lock(&c->mutex);
    *tst = c->tst;
    ovs_mutex_unlock(&c->mutex);
}

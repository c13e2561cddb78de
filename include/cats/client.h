/*
 * libcatsclient: the gRPC client of cats-controller's agent API
 * (proto/cats.proto), for everything that streams to the controller:
 * cats-agent (load reports, telemetry) and cats-gw (its paths, as
 * telemetry).  Plain C, pthreads, gRPC core and protobuf-c: no
 * libopenvswitch, so that cats-gw links it too.  controller/client/README.md
 * says more.
 *
 * A client owns one channel, one completion queue and one thread of its
 * own, which runs every call.  Its streams share the channel: the channel
 * is replaced (after a failure) only when no stream is using it, so that
 * one stream's failure does not cut another that works.  Every call
 * carries "authorization: Bearer TOKEN" when a token is set.
 *
 * Each stream is one client-streaming call (cats.v1.Agent/StreamReports,
 * cats.v1.Telemetry/StreamTelemetry), with this state machine.  A stream
 * with a registration (cats.v1.Agent/RegisterNode) opens each session
 * with it:
 *
 *                 +---------------+  RegisterNode OK   +-----------+
 *     start ----> |  REGISTERING  | -----------------> | STREAMING |
 *                 +---------------+                    +-----------+
 *                   |    ^     ^   FAILED_PRECONDITION   |   |
 *        any error  |    |     +------ (at once) --------+   | any other end:
 *                   v    |                                   | UNAVAILABLE,
 *                 +---------------+                          | cancelled, no
 *                 |    BACKOFF    | <------------------------+ ack in time
 *                 +---------------+
 *                   1 s, doubling to 8 s, +-20% jitter; a new channel
 *
 * A stream without one starts streaming at once:
 *
 *                 +-----------+  stream ends, fails, or no ack in
 *     start ----> | STREAMING | --- max(5 s, 3 intervals) ------+
 *                 +-----------+                                 |
 *                       ^                                       v
 *                       |  1 s, doubling to 8 s, +-20%    +---------+
 *                       +-------------------------------- | BACKOFF |
 *                                                         +---------+
 *
 * "No ack in time" (max(5 s, 3 intervals) since the oldest unacked
 * report) ends a stream of either kind: a controller that hangs, or a
 * connection that black-holes without a reset, must not keep it waiting.
 * FAILED_PRECONDITION (the stream's status, or an ack refusing a report
 * with it) makes a stream with a registration register again at once,
 * unless its session is younger than a second (then it backs off: a
 * controller that refuses a fresh session did not restart).  The backoff
 * starts again from 1 s once a stream got an ack, unless that ack refused
 * its session.
 *
 * Messages: cats_stream_post() puts one in the stream's one-message slot;
 * the newest replaces one that is not on the wire yet (or, with
 * 'skip_if_busy', is dropped while one is on the wire), so that nothing
 * stale queues up: at most one message in the slot and one being sent.
 * The thread numbers each just before sending (the session, and a seq
 * strictly increasing over the whole run, across streams) and encodes it.
 * Acks set the interval (and lease) the controller wants; an ack that
 * refuses a report is counted and logged, and the stream goes on.
 */

#ifndef CATS_CLIENT_H
#define CATS_CLIENT_H 1

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/wire.h"

struct cats_client;
struct cats_stream;

enum cats_client_log {
    CATS_CLIENT_INFO,
    CATS_CLIENT_WARN,           /* Failures: the caller may rate-limit. */
    CATS_CLIENT_ERR,
};

/* What the caller plugs in.  Every member may be NULL. */
struct cats_client_hooks {
    /* One line, already prefixed with the target. */
    void (*log)(void *aux, enum cats_client_log, const char *msg);

    /* News: a stream's state, session or interval changed.  Called on
     * the client thread with the client's lock held: it must not call
     * into the client. */
    void (*news)(void *aux);

    /* Called on each wake-up of the client thread (the lock not held: it
     * may post); returns how soon, in ms, it wants the next call. */
    long long (*tick)(void *aux);

    /* Starts the client thread (NULL: pthread_create()); returns 0 or an
     * errno value.  'thread_start' is the first thing the thread calls. */
    int (*thread_create)(pthread_t *, void *(*)(void *), void *);
    void (*thread_start)(void *aux);

    void *aux;
};

struct cats_client_config {
    const char *target;         /* "HOST:PORT" or "unix:PATH". */

    /* TLS: off, or server authentication with 'tls_ca' (PEM text; NULL:
     * the system's roots), plus a client certificate and key (PEM text,
     * both or neither) for mutual TLS. */
    bool tls;
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;

    const char *token;          /* Bearer token, or NULL. */
    const char *user_agent;     /* Primary user agent string. */
    unsigned int tick_ms;       /* Longest sleep of the thread. */
    struct cats_client_hooks hooks;
};

/* Creates a client (no thread, no call yet): add its streams, then
 * cats_client_start() it.  Copies what it needs from the config. */
struct cats_client *cats_client_create(const struct cats_client_config *);

/* Starts the thread, which initializes gRPC (so that gRPC's own threads
 * inherit its CPU set) and starts every stream.  Call after
 * daemonizing: gRPC's threads do not survive fork().  Returns 0 or an
 * errno value. */
int cats_client_start(struct cats_client *);

/* Cancels the calls, joins the thread (grpc_shutdown() included), frees
 * the messages still in slots.  NULL is a no-op. */
void cats_client_destroy(struct cats_client *);

struct cats_stream_config {
    const char *method;         /* "/cats.v1.Telemetry/StreamTelemetry". */
    const char *name;           /* "StreamTelemetry", in errors. */
    const char *what;           /* "report", "telemetry": in log lines. */
    bool telemetry;             /* TelemetryAck, else ReportAck. */

    /* A registration (RegisterNode), or NULL: the encoded
     * RegisterRequest, copied. */
    const uint8_t *register_msg;
    size_t register_len;

    unsigned int interval_ms;   /* Until the controller says. */
    unsigned int interval_min_ms, interval_max_ms;
    bool skip_if_busy;          /* See the top of this file. */

    /* The messages: numbers 'msg' with 'session' and 'seq', encodes it
     * into a malloc'd buffer of '*lenp' bytes; frees 'msg'.  NULL: 'msg'
     * is a struct cats_report_telemetry (malloc'd, its links too) whose
     * source_id becomes 'source_id'. */
    uint8_t *(*encode)(void *msg, uint64_t session, uint64_t seq,
                       size_t *lenp);
    void (*free_msg)(void *msg);
    const char *source_id;
};

/* Adds a stream to 'client' (before cats_client_start()). */
struct cats_stream *cats_client_add_stream(struct cats_client *,
                                           const struct cats_stream_config *);

/* Takes ownership of 'msg' and sends it as soon as the stream allows;
 * dropped (and counted) if the stream is not up. */
void cats_stream_post(struct cats_stream *, void *msg);

enum cats_stream_state {
    CATS_STREAM_OFF,            /* No such stream. */
    CATS_STREAM_BACKOFF,
    CATS_STREAM_REGISTERING,
    CATS_STREAM_STREAMING,
};

const char *cats_stream_state_name(enum cats_stream_state);

struct cats_stream_status {
    enum cats_stream_state state;
    long long state_since;      /* Monotonic ms (as OVS's time_msec()). */
    long long backoff_until;    /* In BACKOFF. */

    uint64_t session;           /* With a registration: once registered. */
    unsigned int interval_ms;   /* The controller's, or the initial. */
    unsigned int lease_ms;      /* 0 until the controller says. */
    uint64_t last_sent_seq;
    uint64_t last_ack_seq;

    /* Counters. */
    uint64_t n_registrations;   /* Successful. */
    uint64_t n_streams;         /* Streams started. */
    uint64_t n_sent;            /* Handed to the transport. */
    uint64_t n_replaced;        /* Replaced in the slot by a newer. */
    uint64_t n_skipped;         /* Dropped: one on the wire already. */
    uint64_t n_dropped;         /* Posted while the stream was down. */
    uint64_t n_acks;
    uint64_t n_refused;         /* Acks refusing a report. */
    uint64_t n_reconnects;      /* The client's new channels after the
                                 * first. */
    uint64_t call_errors[CATS_GRPC_N_CODES];  /* Failed calls, by code;
                                               * [0]: streams the
                                               * controller ended. */
    uint64_t ack_errors[CATS_GRPC_N_CODES];   /* Refusals, by code. */
    char last_error[256];       /* "" if none. */
};

void cats_stream_get_status(struct cats_stream *, struct cats_stream_status *);

/* Monotonic time in ms, the clock of the status. */
long long cats_client_now(void);

/* Encoders and decoders (codec.c). */

/* Encodes 't' as a cats.v1.TelemetryReport into a malloc'd buffer of
 * '*lenp' bytes. */
uint8_t *cats_client_encode_telemetry(const struct cats_report_telemetry *t,
                                      size_t *lenp);

/* A ReportAck, TelemetryAck or RegisterReply, decoded. */
struct cats_client_ack {
    uint64_t seq;               /* ReportAck, TelemetryAck. */
    uint64_t session;           /* RegisterReply. */
    uint32_t lease_ms;          /* ReportAck, RegisterReply. */
    uint32_t report_interval_ms;
    uint32_t error_code;        /* A gRPC status, 0: none. */
    uint64_t error_seq;
    char error_message[200];
};

enum cats_client_msg {
    CATS_CLIENT_REPORT_ACK,
    CATS_CLIENT_TELEMETRY_ACK,
    CATS_CLIENT_REGISTER_REPLY,
};

/* Decodes 'len' bytes at 'data' as a message of 'kind' into '*ack'.
 * Returns false if they do not decode. */
bool cats_client_decode_ack(enum cats_client_msg kind, const void *data,
                            size_t len, struct cats_client_ack *ack);

#endif /* cats/client.h */

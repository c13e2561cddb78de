/*
 * ovs-cats: the agent API server (proto/cats.proto over gRPC).
 *
 * The one module that speaks gRPC, through the gRPC core C API (Debian's
 * libgrpc 1.51).  It runs a completion-queue thread of its own that
 * accepts calls, authenticates the peer, decodes and validates every
 * message (include/cats/report.h) and hands what is valid to the main
 * loop as events, through a bounded queue and a poll-loop wake-up.  It
 * never touches controller state: the main loop takes the events
 * (cats_grpc_server_recv()), applies them to its metrics store, and
 * answers through the reply functions below, which may be called from
 * the main thread only.
 *
 * Refused input never reaches the main loop: the thread answers it with a
 * gRPC status (or, for a report on a stream, an ack that carries the
 * error) and counts it by status code and reason.
 *
 * Services and calls:
 *
 *   Agent.RegisterNode       unary   -> CATS_GRPC_EV_REGISTER
 *   Agent.StreamReports      stream  -> CATS_GRPC_EV_REPORT per message
 *   Telemetry.StreamTelemetry stream -> CATS_GRPC_EV_TELEMETRY
 *   Query.ListServices       unary   -> CATS_GRPC_EV_LIST_SERVICES
 *
 * Identity.  With an access list (include/cats/acl.h) only the nodes it
 * names (or '*') may call; a node with a token must present it as
 * metadata "authorization: Bearer TOKEN"; under mutual TLS the node id
 * must be one of the names in the client certificate (subject alternative
 * names, else the common name).  A stream is bound to the node id of its
 * first message: a later message naming another node ends it with
 * PERMISSION_DENIED.  The addresses a node may announce are the prefixes
 * of its access-list entry.
 *
 * Backpressure.  A stream has one receive outstanding at a time, so HTTP/2
 * flow control slows a sender to the speed at which the thread decodes.
 * When the queue to the main loop is full, streams stop receiving until
 * it has drained to half (their senders then block in flow control), and
 * unary calls are refused with RESOURCE_EXHAUSTED.  Each stream also has
 * a token bucket: reports beyond 'max_stream_rate' per second are refused
 * before decoding (RESOURCE_EXHAUSTED in the ack), so that a flood costs
 * little CPU.
 */

#ifndef CATS_GRPC_SERVER_H
#define CATS_GRPC_SERVER_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/acl.h"
#include "cats/report.h"
#include "openvswitch/list.h"

struct cats_catalog;
struct ofpbuf;

/* Defaults. */
#define CATS_GRPC_QUEUE_LIMIT 65536         /* Events. */
#define CATS_GRPC_MAX_STREAM_RATE 200       /* Messages/s per stream. */
/* Plain acks per stream at most this often.  Agents give up on a stream
 * after max(5 s, 3 report intervals) without an ack; errors go at once. */
#define CATS_GRPC_ACK_INTERVAL_MS 1000

struct cats_grpc_server_options {
    const char *listen;         /* "127.0.0.1:50051", "[::1]:50051",
                                 * "0.0.0.0:50051", "unix:/path". */
    bool allow_insecure;        /* Plaintext on a non-loopback address. */
    const char *tls_cert;       /* Server certificate chain (PEM file). */
    const char *tls_key;        /* Its private key (PEM file). */
    const char *tls_ca;         /* Client CA (PEM file): mutual TLS. */
    size_t max_message;         /* Largest message received, bytes. */
    size_t queue_limit;         /* Events waiting for the main loop. */
    double max_stream_rate;     /* Messages per second per stream. */
    unsigned int ack_interval_ms; /* One plain ack per stream about this
                                 * often: the interval plus up to a
                                 * quarter, at random (errors and final
                                 * acks go at once); 0: every report. */
};

void cats_grpc_server_options_init(struct cats_grpc_server_options *);

/* What a decoder accepts, and who may call: the catalog's service names
 * and the access list, as a snapshot that the thread reads while the main
 * loop goes on.  Built by the main loop; the server takes ownership. */
struct cats_grpc_policy;

struct cats_grpc_policy *cats_grpc_policy_create(
    const struct cats_catalog *, const struct cats_acl *,
    const struct cats_report_policy *defaults);

/* Starts the server and its thread.  Returns 0, or a positive errno value
 * with a malloc'd message in '*errorp' (address in use, bad TLS files,
 * plaintext on a public address without 'allow_insecure'). */
struct cats_grpc_server;
int cats_grpc_server_start(const struct cats_grpc_server_options *,
                           struct cats_grpc_policy *,
                           struct cats_grpc_server **, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* Replaces the policy snapshot (calls in progress finish their current
 * message under the old one). */
void cats_grpc_server_set_policy(struct cats_grpc_server *,
                                 struct cats_grpc_policy *);

/* Cancels every call, waits for the thread, and frees everything.
 * Clients with open streams see UNAVAILABLE. */
void cats_grpc_server_destroy(struct cats_grpc_server *);

/* Events. */
enum cats_grpc_event_type {
    CATS_GRPC_EV_REGISTER,
    CATS_GRPC_EV_REPORT,
    CATS_GRPC_EV_TELEMETRY,
    CATS_GRPC_EV_LIST_SERVICES,
    CATS_GRPC_EV_END,           /* The client closed its side of a stream:
                                 * answer with cats_grpc_end(call, 0). */
};

struct cats_grpc_call;

struct cats_grpc_event {
    struct ovs_list list_node;
    enum cats_grpc_event_type type;
    struct cats_grpc_call *call;    /* For the reply functions below. */
    long long int recv_ns;          /* When the thread got the message
                                     * (cats_grpc_now_ns()). */
    union {
        struct cats_report_registration reg;
        struct cats_report_load load;
        struct cats_report_telemetry telemetry;
        char service[CATS_NAME_MAX + 1];    /* "" for all. */
    };
};

/* CLOCK_MONOTONIC in nanoseconds, the clock of 'recv_ns'. */
long long int cats_grpc_now_ns(void);

/* Moves up to 'max' events to 'events' (oldest first).  Returns how many. */
size_t cats_grpc_server_recv(struct cats_grpc_server *,
                             struct ovs_list *events, size_t max);
void cats_grpc_server_wait(struct cats_grpc_server *);

/* Sends the acks held back by the ack interval that are due. */
void cats_grpc_server_run(struct cats_grpc_server *);

/* Main thread: hands back the events it has handled, emptying 'events';
 * the completion-queue thread, which allocated them, frees them.  Memory
 * freed by the thread that allocated it stays in that thread's malloc
 * cache: freed from the main loop, every report's event took the
 * allocator's arena lock against the thread's next allocation. */
void cats_grpc_server_done(struct cats_grpc_server *, struct ovs_list *events);
void cats_grpc_event_destroy(struct cats_grpc_event *);

/* Replies, from the main thread, once per event that needs one.
 *
 * A registration is answered with cats_grpc_reply_register(): 'error' 0
 * with the session, or a positive errno value (mapped as in report.h)
 * and a message.  A query is answered with cats_grpc_reply_query():
 * 'reply' is an encoded ListServicesReply when 'error' is 0.
 *
 * Reports and telemetry are acknowledged with cats_grpc_ack(); acks on
 * one stream are coalesced (an ack covers every seq up to it): one per
 * 'ack_interval_ms' (plus up to a quarter, at random) per stream at most,
 * sent by cats_grpc_server_run(), except those that carry an error, which
 * leave at once.  An ack tells an
 * agent that its reports count; it needs one every few seconds, not one
 * per report, and each ack is an HTTP/2 frame and a write.
 * cats_grpc_end() ends a stream with a status (FAILED_PRECONDITION for
 * "register again"). */
void cats_grpc_reply_register(struct cats_grpc_call *, int error,
                              const char *message, uint64_t session,
                              uint32_t lease_ms,
                              uint32_t report_interval_ms);
void cats_grpc_reply_query(struct cats_grpc_call *, int error,
                           const char *message, const struct ofpbuf *reply);
void cats_grpc_ack(struct cats_grpc_call *, const struct cats_report_ack *);
void cats_grpc_end(struct cats_grpc_call *, int error, const char *message);

/* Counters, for ovs-appctl. */
enum cats_grpc_reason {
    CATS_GRPC_R_DECODE,         /* Malformed protobuf, size, fields. */
    CATS_GRPC_R_AUTH,           /* Node not allowed, token, certificate. */
    CATS_GRPC_R_RATE,           /* Stream over its rate. */
    CATS_GRPC_R_BUSY,           /* Queue to the main loop full. */
    CATS_GRPC_R_STORE,          /* Refused by the main loop (metrics
                                 * store: not registered, seq, owner). */
    CATS_GRPC_N_REASONS
};

const char *cats_grpc_reason_name(enum cats_grpc_reason);

#define CATS_GRPC_N_CODES 17    /* gRPC status codes 0 to 16. */

struct cats_grpc_stats {
    uint64_t calls;                     /* Calls accepted. */
    uint64_t calls_active;
    uint64_t streams_active;
    uint64_t messages;                  /* Messages received. */
    uint64_t events;                    /* Messages handed to main. */
    uint64_t queue_len;
    uint64_t queue_high;                /* High-water mark. */
    uint64_t parked;                    /* Streams held by backpressure
                                         * (times). */
    uint64_t acks;                      /* Ack messages sent. */
    uint64_t acks_carried;              /* Due acks left for the next
                                         * main-loop iteration (times). */
    uint64_t by_reason[CATS_GRPC_N_REASONS];
    uint64_t by_code[CATS_GRPC_N_CODES];  /* Refusals by status code. */
    char last_error[256];               /* The last refusal, for humans. */
    int port;                           /* Bound port (0 for unix:). */
    bool tls;
    bool mutual_tls;
};

void cats_grpc_server_get_stats(struct cats_grpc_server *,
                                struct cats_grpc_stats *);

/* Held acks sent per main-loop iteration at most (default 32); the rest
 * that are due go on the next iteration and count in 'acks_carried'.
 * Main thread only.  The setter takes 1 to 65536, else returns EINVAL and
 * changes nothing. */
#define CATS_GRPC_ACK_BATCH_MAX 65536
unsigned int cats_grpc_server_get_ack_batch(const struct cats_grpc_server *);
int cats_grpc_server_set_ack_batch(struct cats_grpc_server *, unsigned int);

/* The main loop refused an event's content (metrics store): counts it. */
void cats_grpc_server_count_refusal(struct cats_grpc_server *, int error,
                                    const char *message);

#endif /* grpc-server.h */

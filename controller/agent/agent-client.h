/*
 * cats-agent: the gRPC client of cats-controller's Agent service.
 *
 * One thread of its own owns the gRPC channel, the completion queue and
 * every call; the daemon's main loop only hands it reports and reads its
 * status.  The thread runs this state machine:
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
 * Reports: agent_client_post() puts a report in a one-report slot; the
 * newest report replaces one that is not on the wire yet, so the agent
 * never queues stale load (at most one report in the slot and one being
 * sent).  The thread numbers it (session, strictly increasing seq) just
 * before sending.  Acks update the interval and lease the controller
 * wants; an ack carrying an error is logged and counted, and one that
 * says FAILED_PRECONDITION makes the agent register again.
 *
 * The main loop learns of news (a new session, a new interval, a state
 * change) through agent_client_wait(), which wakes poll_block().
 *
 * Telemetry (optional): a second call on the same channel and thread,
 * cats.v1.Telemetry/StreamTelemetry, with a state machine of its own that
 * needs no registration:
 *
 *                 +-----------+  stream ends, fails, or no ack in
 *     start ----> | STREAMING | --- max(5 s, 3 intervals) ------+
 *                 +-----------+                                 |
 *                       ^                                       v
 *                       |  1 s, doubling to 8 s, +-20%    +---------+
 *                       +-------------------------------- | BACKOFF |
 *                                                         +---------+
 *
 * Reports come from agent_client_post_telemetry() (the reader thread of
 * tel-reader.c), through a one-report slot as load reports do; the client
 * numbers them (strictly increasing over the whole run, across streams)
 * and fills in the node id as source_id.  Acks set the telemetry interval;
 * one that refuses a report is logged and counted, and the stream goes
 * on.  The channel is shared: it is replaced (after a failure) only when
 * neither call is using it, so that a registration the controller refuses
 * does not cut a working telemetry stream, nor the reverse.
 *
 * Every call carries "authorization: Bearer TOKEN" when a token is set.
 */

#ifndef CATS_AGENT_CLIENT_H
#define CATS_AGENT_CLIENT_H 1

#include <stdbool.h>
#include <stdint.h>

#include "cats/report.h"
#include "openvswitch/compiler.h"

struct agent_client;

struct agent_client_config {
    const char *target;             /* "HOST:PORT", as grpc takes it. */

    /* TLS: off, or server authentication with 'tls_ca' (PEM text; NULL:
     * the system's roots), plus a client certificate and key (PEM text,
     * both or neither) for mutual TLS. */
    bool tls;
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;

    const char *token;              /* Bearer token, or NULL. */

    /* What to register: node id, agent string, instances.  NULL: no
     * Agent calls at all (a telemetry-only client, e.g. cats-nma push),
     * and 'source_id' names the node. */
    const struct cats_report_registration *registration;
    const char *source_id;

    unsigned int interval_ms;       /* Until the controller says. */

    bool telemetry;                 /* Open a telemetry stream. */
    const char *user_agent;         /* NULL: "cats-agent/0.1". */
};

/* Checks a controller address: "HOST:PORT" ("[IPv6]:PORT" too) or
 * "unix:PATH".  Returns NULL, with '*local' saying whether it stays on
 * this machine (a loopback address, "localhost", or a unix socket: how
 * agents inside network namespaces reach a controller in another one), or
 * a malloc'd error message. */
char *agent_client_parse_target(const char *target, bool *local)
    OVS_WARN_UNUSED_RESULT;

/* Starts the client thread (grpc_init() included).  Copies what it needs
 * from 'cfg'.  Call after daemonizing: gRPC's threads do not survive
 * fork(). */
struct agent_client *agent_client_create(const struct agent_client_config *);

/* Cancels the calls, joins the thread, destroys the channel and calls
 * grpc_shutdown().  NULL is a no-op. */
void agent_client_destroy(struct agent_client *);

/* Takes ownership of 'load' (allocated as for cats_report_load_destroy(),
 * then freed by the client) and sends it as soon as the stream allows.
 * Its 'node_id', 'session' and 'seq' are filled in by the client.  Dropped
 * if no session is up. */
void agent_client_post(struct agent_client *, struct cats_report_load *load);

/* News for the main loop. */
uint64_t agent_client_seqno(const struct agent_client *);
void agent_client_wait(const struct agent_client *, uint64_t seqno);

enum agent_client_state {
    AGENT_CLIENT_BACKOFF,
    AGENT_CLIENT_REGISTERING,
    AGENT_CLIENT_STREAMING,
};

const char *agent_client_state_name(enum agent_client_state);

/* gRPC status codes 0 to 16 (grpc_status_code). */
#define AGENT_CLIENT_N_CODES 17
const char *agent_client_code_name(unsigned int code);

struct agent_client_status {
    enum agent_client_state state;
    long long state_since;          /* time_msec(). */
    long long backoff_until;        /* In BACKOFF. */

    uint64_t session;               /* Valid once registered. */
    uint64_t n_sessions;            /* Bumped by each registration. */
    unsigned int interval_ms;       /* The controller's, or the initial. */
    unsigned int lease_ms;          /* 0 until the controller says. */
    uint64_t last_sent_seq;
    uint64_t last_ack_seq;

    /* Counters. */
    uint64_t n_registrations;       /* Successful. */
    uint64_t n_reports_sent;        /* Handed to the transport. */
    uint64_t n_reports_replaced;    /* Replaced in the slot by a newer. */
    uint64_t n_acks;
    uint64_t n_reconnects;          /* New channels after the first. */
    uint64_t call_errors[AGENT_CLIENT_N_CODES];  /* Failed calls, by code;
                                                  * [0]: streams the
                                                  * controller ended. */
    uint64_t ack_errors[AGENT_CLIENT_N_CODES];   /* Acks refusing a report,
                                                  * by code. */
    char last_error[256];           /* "" if none. */
};

void agent_client_get_status(struct agent_client *,
                             struct agent_client_status *);

/* Telemetry. */

/* Takes ownership of 't' (allocated with malloc, its links as for
 * cats_report_telemetry_destroy(), both freed by the client) and sends
 * it as soon as the telemetry stream allows.  Its 'source_id' and 'seq'
 * are filled in by the client.  Dropped if the stream is not up (or the
 * client has no telemetry). */
void agent_client_post_telemetry(struct agent_client *,
                                 struct cats_report_telemetry *t);

enum agent_client_tel_state {
    AGENT_CLIENT_TEL_OFF,           /* Not configured. */
    AGENT_CLIENT_TEL_BACKOFF,
    AGENT_CLIENT_TEL_STREAMING,
};

const char *agent_client_tel_state_name(enum agent_client_tel_state);

struct agent_client_tel_status {
    enum agent_client_tel_state state;
    long long state_since;          /* time_msec(). */
    long long backoff_until;        /* In BACKOFF. */
    unsigned int interval_ms;       /* From the last ack, or the initial. */
    uint64_t last_sent_seq;
    uint64_t last_ack_seq;

    /* Counters. */
    uint64_t n_streams;             /* Streams started. */
    uint64_t n_sent;                /* Reports handed to the transport. */
    uint64_t n_replaced;            /* Replaced in the slot by a newer. */
    uint64_t n_dropped;             /* Posted while the stream was down. */
    uint64_t n_acks;
    uint64_t n_refused;             /* Acks refusing a report. */
    uint64_t call_errors[AGENT_CLIENT_N_CODES];  /* As in
                                                  * agent_client_status. */
    uint64_t ack_errors[AGENT_CLIENT_N_CODES];
    char last_error[256];           /* The last failure or refusal. */
};

void agent_client_get_tel_status(struct agent_client *,
                                 struct agent_client_tel_status *);

#endif /* agent-client.h */

/*
 * cats-agent: its client of cats-controller's agent API, on libcatsclient
 * (include/cats/client.h, whose header holds the state machines).
 *
 * One client, one thread: a load report stream (RegisterNode, then
 * StreamReports) and, with telemetry, a telemetry stream
 * (StreamTelemetry, no registration) on the same channel.  This file adds
 * what is the agent's own: the LoadReport and RegisterRequest encoders,
 * its logging (VLOG) and its news (an OVS seq, for the main loop).
 *
 * Load reports: agent_client_post() hands one to the stream's slot; the
 * client fills in node id, session and seq just before sending.
 * Telemetry: agent_client_post_telemetry() (the reader thread of
 * tel-reader.c), numbered over the whole run, the node id as source_id.
 */

#ifndef CATS_AGENT_CLIENT_H
#define CATS_AGENT_CLIENT_H 1

#include <stdbool.h>
#include <stdint.h>

#include "cats/client.h"
#include "cats/report.h"
#include "openvswitch/compiler.h"

struct agent_client;

struct agent_client_config {
    const char *target;             /* "HOST:PORT", as grpc takes it. */

    /* TLS, as in struct cats_client_config. */
    bool tls;
    const char *tls_ca;
    const char *tls_cert;
    const char *tls_key;

    const char *token;              /* Bearer token, or NULL. */

    /* What to register: node id, agent string, instances. */
    const struct cats_report_registration *registration;
    unsigned int interval_ms;       /* Until the controller says. */
    bool telemetry;                 /* Open a telemetry stream. */
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

/* The load report stream's status, and the telemetry stream's (state
 * CATS_STREAM_OFF: no telemetry). */
void agent_client_get_status(struct agent_client *,
                             struct cats_stream_status *);
void agent_client_get_tel_status(struct agent_client *,
                                 struct cats_stream_status *);

/* Takes ownership of 't' (allocated with malloc, its links as for
 * cats_report_telemetry_destroy(), both freed by the client) and sends
 * it as soon as the telemetry stream allows.  Dropped if the stream is
 * not up (or the client has no telemetry). */
void agent_client_post_telemetry(struct agent_client *,
                                 struct cats_report_telemetry *t);

#endif /* agent-client.h */

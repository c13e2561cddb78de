/*
 * cats-agent: the telemetry reader thread.
 *
 * Every telemetry interval (the controller's, from its TelemetryAck, else
 * the initial one: agent_client_get_tel_status()) the thread reads the
 * named interfaces through libcatsnma (netlink: blocks up to a second per
 * reply, which is why it has a thread of its own and never runs on the
 * daemon's main loop nor on the gRPC thread), and the host counters,
 * builds one report (telemetry.h) and posts it to the gRPC client, which
 * keeps only the newest one not yet on the wire.  It reads even while the
 * stream is down, so that counter resets are seen between any two reads.
 *
 * What it last read is kept for agent/show (agent_tel_reader_format()).
 */

#ifndef CATS_AGENT_TEL_READER_H
#define CATS_AGENT_TEL_READER_H 1

#include <stdbool.h>

struct agent_client;
struct ds;
struct sset;

struct agent_tel_reader_config {
    struct agent_client *client;    /* Where reports go (not owned). */
    const char *source_id;          /* The node id. */
    const struct sset *ifaces;      /* Interfaces to report (copied). */
    bool host;                      /* Host entries too. */
    const char *netstat_file;       /* NULL: /proc/net/netstat. */
    const char *rdma_root;          /* NULL: /sys/class/infiniband. */
};

struct agent_tel_reader;

/* Starts the thread; the first read is at once.  Copies 'cfg'. */
struct agent_tel_reader *agent_tel_reader_create(
    const struct agent_tel_reader_config *cfg);

/* Stops and joins the thread (which may be inside a netlink request: a
 * second at most per reply) and frees everything.  NULL is a no-op.  Call
 * before destroying the client. */
void agent_tel_reader_destroy(struct agent_tel_reader *);

/* Appends to 's' what the reader last read: one line of counters, then
 * one line per configured interface and host entry. */
void agent_tel_reader_format(struct agent_tel_reader *, struct ds *s);

#endif /* tel-reader.h */

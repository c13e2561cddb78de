/*
 * cats-agent: network telemetry (the agent as a C-NMA, RFC 10053): what
 * goes into the TelemetryReports of cats.v1.Telemetry/StreamTelemetry.
 *
 * Two halves:
 *
 *   telemetry.c    the report: link entries from libcatsnma (netlink link,
 *                  qdisc, DCB PFC and ethtool pause readers), host entries
 *                  from /proc/net/netstat and RDMA hw_counters, one
 *                  counters_epoch over all of them, and the protobuf
 *                  encoding.  No thread, no gRPC: the unit test drives it.
 *   tel-reader.c   the reader thread that polls all of that every
 *                  telemetry interval and posts each report to the gRPC
 *                  client (agent-client.h).  Netlink requests block (up to
 *                  a second per reply), so they never run on the daemon's
 *                  main loop nor on the gRPC thread.
 *
 * Host entries: proto/cats.proto has no field for host-side congestion
 * counters, so each is mapped onto a LinkTelemetry whose ECN fraction
 * (delta ecn_marked_packets / delta tx_packets) means what it says:
 *
 *   "host-tcp"             tx_packets = TcpExt TCPDelivered (data segments
 *                          this network namespace's TCP senders got
 *                          acknowledged), ecn_marked_packets = TcpExt
 *                          TCPDeliveredCE (those acknowledged with ECE:
 *                          marked CE on the way to their receiver).
 *                          tx_bytes and drops are not measured (0), no
 *                          queue depth.  With classic ECN (RFC 3168) the
 *                          receiver repeats ECE until CWR, so the fraction
 *                          is an upper bound; with DCTCP or AccECN it is
 *                          exact.
 *   "rdma:DEV:PORT"        one per RDMA port with RoCE congestion counters
 *                          (':' and not '/', which link ids may not hold):
 *                          tx_packets = counters/port_xmit_packets,
 *                          tx_bytes = 4 * counters/port_xmit_data (it
 *                          counts 4-byte words), ecn_marked_packets =
 *                          hw_counters rp_cnp_handled + rp_cnp_ignored
 *                          (CNPs this port received: its packets were
 *                          marked CE on the way).  A notification point
 *                          sends at most one CNP per QP per few
 *                          microseconds, so the fraction is a lower bound.
 *
 * 802.3x pause frames are read (where the driver has them) and shown, but
 * not reported: TelemetryReport has no field for them.
 */

#ifndef CATS_AGENT_TELEMETRY_H
#define CATS_AGENT_TELEMETRY_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/nlstats.h"
#include "cats/report.h"
#include "openvswitch/compiler.h"

struct sset;

/* Link ids of the host entries. */
#define AGENT_TEL_HOST_TCP "host-tcp"
#define AGENT_TEL_RDMA_PREFIX "rdma:"

/* At most this many --telemetry-link interfaces: with "host-tcp" and every
 * RDMA port, a report stays under the agent API's 256 links. */
#define AGENT_TEL_MAX_IFACES 128

/* Default places of the host counters. */
#define AGENT_TEL_NETSTAT "/proc/net/netstat"
#define AGENT_TEL_RDMA_ROOT "/sys/class/infiniband"

/* One RDMA port: its RoCE congestion counters (hw_counters) and its
 * transmit counters (counters/port_xmit_packets, port_xmit_data). */
struct agent_tel_rdma {
    struct cats_nl_rdma_port hw;
    bool has_xmit_packets, has_xmit_data;
    uint64_t xmit_packets;
    uint64_t xmit_data;                 /* In 4-byte words. */
};

/* What one read of the host found. */
struct agent_tel_host {
    bool has_netstat;                   /* The file was read and parsed. */
    struct cats_nl_netstat netstat;
    size_t n_rdma;
    struct agent_tel_rdma rdma[CATS_NL_MAX_RDMA_PORTS];
};

/* Reads 'netstat_file' (normally AGENT_TEL_NETSTAT) and the RDMA ports
 * under 'rdma_root' (AGENT_TEL_RDMA_ROOT; missing: no RDMA) into 'h'.
 * Returns 0, or a positive errno value with a one-line message in
 * '*errorp' (the caller frees it); 'h' then holds what could be read (a
 * bad netstat file does not hide the RDMA ports, nor the reverse). */
int agent_tel_read_host(const char *netstat_file, const char *rdma_root,
                        struct agent_tel_host *h, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* The report state: the host entries as last reported, to see their
 * counters go backwards (the link entries' live in struct cats_nma). */
struct agent_tel_sent {
    char id[CATS_ID_MAX + 1];
    uint64_t tx_packets, tx_bytes, ecn_marked_packets;
};

/* Host entry ids remembered, at most: "host-tcp" and 64 RDMA ports, with
 * room for devices that come and go. */
#define AGENT_TEL_MAX_SENT 256

struct agent_tel {
    struct agent_tel_sent *sent;        /* Every host entry reported, with
                                         * its values in the last report
                                         * that had it. */
    size_t n_sent;
    bool forgot;                        /* Some were forgotten (more than
                                         * AGENT_TEL_MAX_SENT ids). */
    uint64_t n_host_resets;             /* Epoch changes they caused. */
};

void agent_tel_init(struct agent_tel *);
void agent_tel_destroy(struct agent_tel *);

/* Fills 't' with one report: the link entries of the interfaces named in
 * 'ifaces' that 'nma' knows (cats_nma_to_telemetry()), then, with 'host'
 * (NULL: none), the host entries described at the top of this file.
 * counters_epoch is 'nma's, moved on (once) when any counter of any entry
 * went backwards since the last report: a link's (see nlstats.h), or a
 * host entry's.  't->seq' is 'nma's report count; the gRPC client
 * numbers what it sends itself.  Returns 0 or EINVAL (a bad
 * 'source_id'), with a message in '*errorp'.  The caller releases 't'
 * with cats_report_telemetry_destroy(). */
int agent_tel_build(struct agent_tel *, struct cats_nma *,
                    const char *source_id, const struct sset *ifaces,
                    const struct agent_tel_host *host,
                    struct cats_report_telemetry *t, char **errorp)
    OVS_WARN_UNUSED_RESULT;

#endif /* telemetry.h */

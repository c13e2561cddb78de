/*
 * ovs-cats: the network metric agent's readers (C-NMA, RFC 10053): link,
 * qdisc, PFC and pause counters from netlink, ECN and CNP counters from
 * the host, and their translation into a telemetry report.
 *
 * Three layers, so that the unit tests and the fuzz target drive the very
 * code that reads the kernel:
 *
 *   parsers      cats_nl_parse_*(): one netlink message (or one text) in,
 *                one plain structure out.  No I/O, no state, no clock.
 *   state        struct cats_nma: what was last read, per interface and
 *                per qdisc; 32-bit kernel counters widened to 64 bits;
 *                resets detected; errors counted; cats_nma_to_telemetry().
 *   I/O          struct cats_nl_sock (controller/nma/nlsock.c): rtnetlink
 *                and generic netlink sockets (libnl-3) that send requests
 *                and hand each reply message to the parsers through the
 *                state.
 *
 * Netlink data is treated as hostile input.  A parser checks every length
 * before it reads a byte: the message header against the bytes received,
 * each attribute's header and payload against what is left (a truncated
 * attribute or trailing garbage is an error, where libnl's nla_parse()
 * would silently stop), each fixed-size payload against its structure,
 * each string for its terminating NUL.  Attributes that a parser does not
 * use are skipped; one that it uses may appear only once.
 *
 * Errors: functions return 0 or a positive errno value and, on error,
 * store in '*errorp' a malloc'd one-line message that the caller frees:
 *
 *   EBADMSG     the bytes are not well-formed netlink (a message or an
 *               attribute runs past its container, trailing bytes);
 *   EINVAL      well-formed, but a value is wrong: an attribute of the
 *               wrong length, a string without NUL, an unexpected message
 *               type or family, an unknown statistics layout;
 *   ENOMSG      a required attribute is missing;
 *   E2BIG       more entries than this module keeps (CATS_NL_MAX_LINKS
 *               interfaces, CATS_NL_MAX_QDISCS qdiscs, a text's counters);
 *   EOPNOTSUPP  (I/O) the kernel or the driver does not provide it.
 *
 * On error a parser's output is unspecified; the state never applies it.
 */

#ifndef CATS_NLSTATS_H
#define CATS_NLSTATS_H 1

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openvswitch/compiler.h"

struct sset;

#ifdef __cplusplus
extern "C" {
#endif

struct cats_report_telemetry;
struct nlmsghdr;
struct sset;

/* Bounds.  A host with more interfaces or qdiscs than this is refused
 * (E2BIG, counted) rather than allowed to grow the state without limit;
 * CATS_NL_MAX_LINKS is also the agent API's limit per telemetry report. */
#define CATS_NL_MAX_LINKS 256
#define CATS_NL_MAX_QDISCS 1024

/* IEEE 802.1p priorities (PFC). */
#define CATS_NL_PRIORITIES 8

/* ------------------------------------------------------------------ */
/* Netlink framing. */

/* Splits a buffer received from a netlink socket into messages.  On
 * success stores the next message in '*msgp' and its length (nlmsg_len,
 * at least sizeof(struct nlmsghdr)) in '*lenp', and advances '*datap' and
 * '*sizep' past it and its alignment padding; stores NULL at the end of
 * the buffer.  EBADMSG if a header is truncated or claims more bytes than
 * are left. */
int cats_nl_next_msg(const void **datap, size_t *sizep,
                     const struct nlmsghdr **msgp, size_t *lenp,
                     char **errorp) OVS_WARN_UNUSED_RESULT;

/* NLMSG_ERROR (an error or an acknowledgement): stores the error, 0 or a
 * positive errno value, in '*errnum', and the kernel's extended ack text
 * (NLMSGERR_ATTR_MSG), if any, in 'extack' (always NUL-terminated).  The
 * return value says whether the message itself was well-formed. */
#define CATS_NL_EXTACK_MAX 128
int cats_nl_parse_error(const void *msg, size_t size, int *errnum,
                        char extack[CATS_NL_EXTACK_MAX], char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* ------------------------------------------------------------------ */
/* 1. Link statistics: RTM_NEWLINK (reply to RTM_GETLINK), IFLA_STATS64. */

struct cats_nl_link_stats {
    uint64_t rx_packets;
    uint64_t tx_packets;
    uint64_t rx_bytes;
    uint64_t tx_bytes;
    uint64_t rx_errors;
    uint64_t tx_errors;
    uint64_t rx_dropped;
    uint64_t tx_dropped;
};

struct cats_nl_link {
    int ifindex;                    /* Positive. */
    char name[IFNAMSIZ];            /* IFLA_IFNAME, 1 to 15 characters. */
    unsigned int flags;             /* IFF_*. */
    struct cats_nl_link_stats stats;
};

/* IFLA_IFNAME and IFLA_STATS64 are required.  IFLA_STATS64 must hold at
 * least the 23 counters of Linux 2.6.35's struct rtnl_link_stats64, in
 * whole 64-bit words (newer kernels add counters at its end). */
int cats_nl_parse_link(const void *msg, size_t size, struct cats_nl_link *,
                       char **errorp) OVS_WARN_UNUSED_RESULT;

/* ------------------------------------------------------------------ */
/* 2. Qdisc statistics: RTM_NEWQDISC (reply to RTM_GETQDISC). */

/* Qdiscs whose extended statistics (TCA_STATS_APP) count ECN marks. */
enum cats_nl_aqm {
    CATS_NL_AQM_NONE,               /* Any other qdisc. */
    CATS_NL_AQM_RED,                /* struct tc_red_xstats. */
    CATS_NL_AQM_FQ_CODEL,           /* struct tc_fq_codel_xstats. */
    CATS_NL_AQM_FQ_PIE,             /* struct tc_fq_pie_xstats. */
};

const char *cats_nl_aqm_name(enum cats_nl_aqm);

/* Longest qdisc kind ("pfifo_fast"), as the kernel's TCA_KIND. */
#define CATS_NL_KIND_MAX 16

struct cats_nl_qdisc {
    int ifindex;
    uint32_t handle;
    uint32_t parent;                /* TC_H_ROOT for an interface's root. */
    char kind[CATS_NL_KIND_MAX];    /* TCA_KIND. */
    enum cats_nl_aqm aqm;

    /* TCA_STATS2/TCA_STATS_BASIC (packets from TCA_STATS_PKT64 when the
     * kernel sends it, else the 32-bit field). */
    uint64_t bytes;
    uint64_t packets;

    /* TCA_STATS2/TCA_STATS_QUEUE: gauges, then 32-bit counters. */
    uint32_t qlen;                  /* Packets queued now. */
    uint32_t backlog;               /* Bytes queued now. */
    uint32_t drops;                 /* Includes the AQM's drops. */
    uint32_t requeues;
    uint32_t overlimits;

    /* TCA_STATS2/TCA_STATS_APP (or TCA_XSTATS) of an AQM qdisc.  Fields
     * that an older kernel's shorter structure lacks read as 0. */
    bool has_xstats;
    uint32_t ecn_marked;            /* red 'marked', fq_codel and fq_pie
                                     * 'ecn_mark'. */
    union {
        struct {
            uint32_t early, pdrop, other, marked;
        } red;
        struct {
            uint32_t maxpacket, drop_overlimit, ecn_mark, new_flow_count;
            uint32_t new_flows_len, old_flows_len, ce_mark, memory_usage;
            uint32_t drop_overmemory;
        } fq_codel;
        struct {
            uint32_t packets_in, dropped, overlimit, overmemory, ecn_mark;
            uint32_t new_flow_count, new_flows_len, old_flows_len;
            uint32_t memory_usage;
        } fq_pie;
    } x;
};

/* TCA_KIND and TCA_STATS2 with TCA_STATS_BASIC and TCA_STATS_QUEUE are
 * required.  An AQM qdisc's TCA_STATS_APP is optional (absent: no ECN
 * count), but when present it must be at least as long as the structure
 * up to its ECN field. */
int cats_nl_parse_qdisc(const void *msg, size_t size, struct cats_nl_qdisc *,
                        char **errorp) OVS_WARN_UNUSED_RESULT;

/* ------------------------------------------------------------------ */
/* 3. DCB IEEE PFC: RTM_GETDCB reply to DCB_CMD_IEEE_GET. */

struct cats_nl_pfc {
    char ifname[IFNAMSIZ];          /* DCB_ATTR_IFNAME. */
    uint8_t pfc_cap;                /* Priorities that may use PFC. */
    uint8_t pfc_en;                 /* Bit P: PFC enabled on priority P. */
    uint16_t delay;
    uint64_t requests[CATS_NL_PRIORITIES];      /* PFC frames sent. */
    uint64_t indications[CATS_NL_PRIORITIES];   /* PFC frames received. */
};

/* DCB_ATTR_IFNAME and DCB_ATTR_IEEE are required; DCB_ATTR_IEEE_PFC must
 * hold a whole struct ieee_pfc.  A reply without DCB_ATTR_IEEE_PFC (a DCB
 * device whose driver does not report PFC) gives EOPNOTSUPP, with
 * 'ifname' filled in. */
int cats_nl_parse_dcb_pfc(const void *msg, size_t size,
                          struct cats_nl_pfc *, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* ------------------------------------------------------------------ */
/* 4. 802.3x pause frames: ethtool generic netlink, PAUSE_GET_REPLY. */

struct cats_nl_pause {
    int ifindex;                    /* From ETHTOOL_A_HEADER_DEV_INDEX. */
    char ifname[IFNAMSIZ];          /* From ETHTOOL_A_HEADER_DEV_NAME. */
    bool autoneg, rx, tx;           /* Pause negotiated / enabled. */
    bool has_tx_frames, has_rx_frames;  /* The driver counts them. */
    uint64_t tx_frames;
    uint64_t rx_frames;
};

/* 'family' is the "ethtool" generic netlink family id, resolved at run
 * time.  The header nest is required; the statistics nest and each
 * counter in it are optional (drivers that do not count leave them out). */
int cats_nl_parse_pause(const void *msg, size_t size, uint16_t family,
                        struct cats_nl_pause *, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* ------------------------------------------------------------------ */
/* 5. Host side: /proc/net/netstat and RDMA hw_counters. */

enum cats_nl_netstat_counter {
    CATS_NETSTAT_TCP_DELIVERED,     /* TcpExt TCPDelivered. */
    CATS_NETSTAT_TCP_DELIVERED_CE,  /* TcpExt TCPDeliveredCE. */
    CATS_NETSTAT_IP_IN_NO_ECT,      /* IpExt InNoECTPkts. */
    CATS_NETSTAT_IP_IN_ECT1,        /* IpExt InECT1Pkts. */
    CATS_NETSTAT_IP_IN_ECT0,        /* IpExt InECT0Pkts. */
    CATS_NETSTAT_IP_IN_CE,          /* IpExt InCEPkts. */
    CATS_N_NETSTAT
};

/* "TcpExt TCPDeliveredCE". */
const char *cats_nl_netstat_name(enum cats_nl_netstat_counter);

struct cats_nl_netstat {
    uint32_t present;               /* 1u << enum cats_nl_netstat_counter. */
    uint64_t value[CATS_N_NETSTAT];
};

/* Parses the 'size' bytes at 'text' as /proc/net/netstat (or
 * /proc/net/snmp): pairs of lines "Prefix: Name..." / "Prefix: value...",
 * with the same prefix and as many values as names, every value a
 * decimal 64-bit number.  Counters this module does not know are
 * skipped. */
int cats_nl_parse_netstat(const char *text, size_t size,
                          struct cats_nl_netstat *, char **errorp)
    OVS_WARN_UNUSED_RESULT;

enum cats_nl_rdma_counter {
    CATS_RDMA_NP_CNP_SENT,          /* Congestion notifications sent. */
    CATS_RDMA_RP_CNP_HANDLED,       /* ... received and acted on. */
    CATS_RDMA_NP_ECN_MARKED,        /* np_ecn_marked_roce_packets. */
    CATS_RDMA_RP_CNP_IGNORED,
    CATS_N_RDMA
};

/* The file name under hw_counters/ ("np_cnp_sent"). */
const char *cats_nl_rdma_name(enum cats_nl_rdma_counter);

/* One sysfs counter file's contents: a decimal 64-bit number and an
 * optional newline, nothing else. */
int cats_nl_parse_counter(const char *text, size_t size, uint64_t *value,
                          char **errorp) OVS_WARN_UNUSED_RESULT;

#define CATS_NL_RDMA_DEV_MAX 64
#define CATS_NL_MAX_RDMA_PORTS 64

struct cats_nl_rdma_port {
    char dev[CATS_NL_RDMA_DEV_MAX]; /* "mlx5_0". */
    unsigned int port;              /* 1, 2, ... */
    uint32_t present;               /* 1u << enum cats_nl_rdma_counter. */
    uint64_t value[CATS_N_RDMA];
};

/* Reads ROOT/DEV/ports/PORT/hw_counters/NAME for each RDMA device and
 * port under 'root' (normally "/sys/class/infiniband"), at most 'max'
 * ports, sorted by device and port.  A missing 'root' is no RDMA: 0
 * ports, no error.  Ports without any of the counters are left out. */
int cats_nl_read_rdma(const char *root, struct cats_nl_rdma_port *ports,
                      size_t max, size_t *n, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* ------------------------------------------------------------------ */
/* 6. State: what was last read, and the telemetry report made from it. */

/* What is known of a per-device source (PFC, pause). */
enum cats_nma_support {
    CATS_NMA_UNKNOWN,               /* Not asked yet. */
    CATS_NMA_SUPPORTED,
    CATS_NMA_UNSUPPORTED,           /* Asked once; not asked again. */
};

/* Sources, for the error counters. */
enum cats_nma_source {
    CATS_NMA_SRC_LINK,
    CATS_NMA_SRC_QDISC,
    CATS_NMA_SRC_PFC,
    CATS_NMA_SRC_PAUSE,
    CATS_NMA_N_SOURCES
};

const char *cats_nma_source_name(enum cats_nma_source);

struct cats_nma_link {
    struct cats_nl_link nl;         /* Last read. */
    unsigned int gen;               /* Dump generation it was last seen. */

    enum cats_nma_support pfc_support;
    struct cats_nl_pfc pfc;         /* With CATS_NMA_SUPPORTED. */
    enum cats_nma_support pause_support;
    struct cats_nl_pause pause;     /* With CATS_NMA_SUPPORTED. */
};

struct cats_nma_qdisc {
    struct cats_nl_qdisc nl;        /* Last read. */
    unsigned int gen;

    /* The 32-bit kernel counters, widened: each read adds the difference
     * modulo 2^32, so that a wrap is not a reset. */
    uint64_t ecn_marked;
    uint64_t drops;
};

/* The values last put in a report, per link id, to detect counters that
 * went backwards between two reports. */
struct cats_nma_reported {
    char id[IFNAMSIZ];
    int ifindex;
    uint64_t tx_packets, tx_bytes, ecn_marked_packets, drops;
    uint64_t pfc_rx[CATS_NL_PRIORITIES], pfc_tx[CATS_NL_PRIORITIES];
};

struct cats_nma {
    /* Sorted by ifindex, and by (ifindex, handle). */
    struct cats_nma_link *links;
    size_t n_links;
    struct cats_nma_qdisc *qdiscs;
    size_t n_qdiscs;

    unsigned int link_gen, qdisc_gen;   /* Current dump generations. */
    bool link_dump_failed, qdisc_dump_failed;

    /* Report state. */
    uint64_t seq;                   /* Last report's. */
    uint64_t counters_epoch;
    bool reset;                     /* A counter went backwards since the
                                     * last report. */
    uint64_t n_resets;              /* Epoch changes. */
    struct cats_nma_reported *reported;
    size_t n_reported;

    /* Messages refused, per source, and the last refusal's text. */
    uint64_t errors[CATS_NMA_N_SOURCES];
    char *last_error;
};

/* 'epoch' is the first counters_epoch: a value that differs from any
 * earlier run's (the caller passes the wall clock in microseconds), since
 * counters restart when the reader does. */
void cats_nma_init(struct cats_nma *, uint64_t epoch);
void cats_nma_destroy(struct cats_nma *);

/* Link and qdisc dumps.  _begin() starts a generation; each reply message
 * goes to _msg(), which parses it and updates that interface or qdisc (a
 * refused message is counted, in 'errors' and 'last_error', and changes
 * nothing); _end() forgets the entries that the dump did not mention,
 * unless 'complete' is false or a message was refused, in which case the
 * absent ones are kept as they were.  _msg() returns the parser's error
 * and does not store a message (see 'last_error'). */
void cats_nma_links_begin(struct cats_nma *);
int cats_nma_link_msg(struct cats_nma *, const void *msg, size_t size);
void cats_nma_links_end(struct cats_nma *, bool complete);

void cats_nma_qdiscs_begin(struct cats_nma *);
int cats_nma_qdisc_msg(struct cats_nma *, const void *msg, size_t size);
void cats_nma_qdiscs_end(struct cats_nma *, bool complete);

/* A reply to a PFC or pause request for 'ifindex' (a link the state
 * knows).  The message must be about that interface.  A PFC reply without
 * PFC marks the interface CATS_NMA_UNSUPPORTED and returns EOPNOTSUPP
 * without counting an error. */
int cats_nma_pfc_msg(struct cats_nma *, int ifindex,
                     const void *msg, size_t size);
int cats_nma_pause_msg(struct cats_nma *, int ifindex,
                       const void *msg, size_t size, uint16_t family);

/* Counts a refused message or a failed request of 'src' in 'errors' and
 * keeps 'error' (takes ownership) as 'last_error'. */
void cats_nma_count_error(struct cats_nma *, enum cats_nma_source,
                          char *error);

/* Records that 'ifindex' does not provide the source (EOPNOTSUPP from
 * the kernel): it is not asked again while the interface exists. */
void cats_nma_set_unsupported(struct cats_nma *, int ifindex,
                              enum cats_nma_source);

struct cats_nma_link *cats_nma_find_link(const struct cats_nma *, int ifindex);
struct cats_nma_link *cats_nma_find_link_by_name(const struct cats_nma *,
                                                 const char *name);

/* Fills 't' with one entry per interface (in ifindex order) that is in
 * 'ifaces' (NULL: every interface except loopbacks) and whose name is a
 * valid link id, at most CATS_NL_MAX_LINKS:
 *
 *   tx_packets, tx_bytes   IFLA_STATS64
 *   ecn_marked_packets     sum of the interface's AQM qdiscs' ECN marks
 *   drops                  IFLA_STATS64 tx_dropped + root qdisc drops
 *   queue_depth_bytes      root qdisc backlog (absent without a qdisc)
 *   pfc                    priorities with PFC enabled or any PFC frame:
 *                          indications = rx_pause_frames, requests =
 *                          tx_pause_frames (durations: not known, 0)
 *
 * 't->seq' is one more than the last report's.  't->counters_epoch'
 * changes when any counter of any link went backwards since the last
 * report, or a link id now names another interface.  'source_id' must be
 * a valid id.  The caller releases 't' with
 * cats_report_telemetry_destroy().  Returns 0 or EINVAL (bad
 * 'source_id'). */
int cats_nma_to_telemetry(struct cats_nma *, const char *source_id,
                          const struct sset *ifaces,
                          struct cats_report_telemetry *t, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* ------------------------------------------------------------------ */
/* I/O: netlink sockets (controller/nma/nlsock.c).  Calls block until the
 * kernel answers, bounded by a one-second receive timeout per message. */

struct cats_nl_sock;

int cats_nl_sock_open(struct cats_nl_sock **, char **errorp)
    OVS_WARN_UNUSED_RESULT;
void cats_nl_sock_close(struct cats_nl_sock *);

/* One interface's link statistics, by name (RTM_GETLINK). */
int cats_nl_get_link(struct cats_nl_sock *, const char *name,
                     struct cats_nl_link *, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* Dumps every link (RTM_GETLINK) or every qdisc (RTM_GETQDISC) into
 * 'nma' (_begin, _msg per message, _end).  Refused messages are counted
 * there and do not stop the dump; the return value is about the dump
 * itself (EAGAIN: the kernel marked it interrupted, retry). */
int cats_nl_dump_links(struct cats_nl_sock *, struct cats_nma *,
                       char **errorp) OVS_WARN_UNUSED_RESULT;
int cats_nl_dump_qdiscs(struct cats_nl_sock *, struct cats_nma *,
                        char **errorp) OVS_WARN_UNUSED_RESULT;

/* PFC counters of 'ifname' (RTM_GETDCB, DCB_CMD_IEEE_GET).  EOPNOTSUPP
 * when the device has no DCB or no PFC (or the kernel has no DCB). */
int cats_nl_get_pfc(struct cats_nl_sock *, const char *ifname,
                    struct cats_nl_pfc *, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* Pause frame counters of 'ifname' (ethtool netlink, with
 * ETHTOOL_FLAG_STATS).  EOPNOTSUPP when the kernel has no ethtool netlink
 * family or the driver no pause parameters. */
int cats_nl_get_pause(struct cats_nl_sock *, const char *ifname,
                      struct cats_nl_pause *, char **errorp)
    OVS_WARN_UNUSED_RESULT;

/* One polling round: links, qdiscs (each dump retried up to three times
 * when the kernel says it was interrupted), then PFC and pause for each
 * link not known to lack them (EOPNOTSUPP marks it so, once; a loopback
 * is never asked) and, with 'only' (NULL: every link), named there.
 * Errors are counted in 'nma'; the return value is the first dump error,
 * with its text in '*errorp'.  Blocks until the kernel answers (at most a
 * second per reply). */
int cats_nma_poll(struct cats_nma *, struct cats_nl_sock *,
                  const struct sset *only, char **errorp)
    OVS_WARN_UNUSED_RESULT;

#ifdef __cplusplus
}
#endif

#endif /* cats/nlstats.h */

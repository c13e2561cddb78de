/*
 * ovs-cats: netlink message parsers of the network metric agent.  See
 * include/cats/nlstats.h.
 *
 * Everything here reads bytes that came from a socket, or from a fuzzer,
 * through memcpy(): the buffer may be unaligned (a fuzzer's certainly is),
 * and a cast to 'struct nlattr *' would then be undefined behaviour before
 * any length is checked.
 */

#include <config.h>

#include "cats/nlstats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/dcbnl.h>
#include <linux/ethtool_netlink.h>
#include <linux/gen_stats.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "util.h"

/* One attribute, once its header and length have been checked. */
struct attr {
    const uint8_t *data;        /* Payload; NULL: absent. */
    size_t len;                 /* Payload length (without padding). */
};

static int OVS_PRINTF_FORMAT(3, 4)
fail(char **errorp, int error, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    *errorp = xvasprintf(format, args);
    va_end(args);
    return error;
}

/* Framing. */

int
cats_nl_next_msg(const void **datap, size_t *sizep,
                 const struct nlmsghdr **msgp, size_t *lenp, char **errorp)
{
    const uint8_t *p = *datap;
    size_t size = *sizep;
    struct nlmsghdr h;
    size_t step;

    *errorp = NULL;
    *msgp = NULL;
    *lenp = 0;
    if (!size) {
        return 0;
    }
    if (size < sizeof h) {
        return fail(errorp, EBADMSG, "netlink: %"PRIuSIZE" trailing bytes, "
                    "shorter than a message header", size);
    }
    memcpy(&h, p, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > size) {
        return fail(errorp, EBADMSG, "netlink: message of type %"PRIu16
                    " claims %"PRIu32" bytes, %"PRIuSIZE" are left",
                    h.nlmsg_type, h.nlmsg_len, size);
    }
    /* The last message of a datagram need not be padded. */
    step = MIN(NLMSG_ALIGN(h.nlmsg_len), size);
    *msgp = (const void *) p;
    *lenp = h.nlmsg_len;
    *datap = p + step;
    *sizep = size - step;
    return 0;
}

/* Checks the netlink header of the message at 'msg' (with 'size' bytes
 * available), that it has type 'type' and a family header of 'fam_len'
 * bytes, which it copies to 'fam'.  Stores the attributes' bytes in
 * '*attrs' and '*attrs_len'. */
static int
check_msg(const char *what, const void *msg, size_t size, uint16_t type,
          void *fam, size_t fam_len, const uint8_t **attrs,
          size_t *attrs_len, char **errorp)
{
    struct nlmsghdr h;
    size_t off;

    if (size < sizeof h) {
        return fail(errorp, EBADMSG, "%s: %"PRIuSIZE" bytes, shorter than "
                    "a netlink header", what, size);
    }
    memcpy(&h, msg, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > size) {
        return fail(errorp, EBADMSG, "%s: message claims %"PRIu32" bytes, "
                    "%"PRIuSIZE" were received", what, h.nlmsg_len, size);
    }
    if (h.nlmsg_type != type) {
        return fail(errorp, EINVAL, "%s: message type %"PRIu16", expected "
                    "%"PRIu16, what, h.nlmsg_type, type);
    }
    if (h.nlmsg_len < NLMSG_HDRLEN + fam_len) {
        return fail(errorp, EBADMSG, "%s: message of %"PRIu32" bytes is "
                    "too short for its %"PRIuSIZE"-byte header", what,
                    h.nlmsg_len, NLMSG_HDRLEN + fam_len);
    }
    memcpy(fam, (const uint8_t *) msg + NLMSG_HDRLEN, fam_len);
    off = NLMSG_HDRLEN + NLMSG_ALIGN(fam_len);
    if (off >= h.nlmsg_len) {
        *attrs = NULL;
        *attrs_len = 0;
    } else {
        *attrs = (const uint8_t *) msg + off;
        *attrs_len = h.nlmsg_len - off;
    }
    return 0;
}

/* Walks the attributes in the 'size' bytes at 'data' and stores those of
 * types 1 to 'max' in 'tb' (indexed by type; absent ones have a NULL
 * 'data').  Every attribute must fit in what is left, and nothing may
 * follow the last one.  'names' (optional, 'max' + 1 entries) names the
 * attributes in messages; 'what' names the container. */
static int
parse_attrs(const char *what, const uint8_t *data, size_t size,
            struct attr tb[], size_t max, const char *const names[],
            char **errorp)
{
    memset(tb, 0, (max + 1) * sizeof *tb);
    while (size > 0) {
        struct nlattr a;
        uint16_t type;
        size_t step;

        if (size < NLA_HDRLEN) {
            return fail(errorp, EBADMSG, "%s: %"PRIuSIZE" trailing bytes, "
                        "shorter than an attribute header", what, size);
        }
        memcpy(&a, data, sizeof a);
        type = a.nla_type & NLA_TYPE_MASK;
        if (a.nla_len < NLA_HDRLEN || a.nla_len > size) {
            return fail(errorp, EBADMSG, "%s: attribute %"PRIu16" claims "
                        "%"PRIu16" bytes, %"PRIuSIZE" are left", what, type,
                        a.nla_len, size);
        }
        if (type && type <= max) {
            if (tb[type].data) {
                const char *name = names && names[type] ? names[type] : NULL;
                if (name) {
                    return fail(errorp, EINVAL, "%s: attribute %s appears "
                                "twice", what, name);
                }
                return fail(errorp, EINVAL, "%s: attribute %"PRIu16" "
                            "appears twice", what, type);
            }
            tb[type].data = data + NLA_HDRLEN;
            tb[type].len = a.nla_len - NLA_HDRLEN;
        }
        step = MIN(NLA_ALIGN(a.nla_len), size);
        data += step;
        size -= step;
    }
    return 0;
}

/* Copies the NUL-terminated string in 'a' to 'out' ('max' bytes with the
 * NUL); it must be 1 to 'max' - 1 characters, without control characters,
 * and without blanks unless 'blanks'. */
static int
attr_string__(const char *what, const char *name, const struct attr *a,
              char *out, size_t max, bool blanks, char **errorp)
{
    const uint8_t *nul = memchr(a->data, '\0', a->len);
    size_t len;

    if (!nul) {
        return fail(errorp, EINVAL, "%s: %s is not NUL-terminated", what,
                    name);
    }
    len = nul - a->data;
    if (!len || len >= max) {
        return fail(errorp, EINVAL, "%s: %s must be 1 to %"PRIuSIZE" "
                    "characters (is %"PRIuSIZE")", what, name, max - 1, len);
    }
    /* The kernel allows no blanks or control characters in interface
     * names and qdisc kinds, nor control characters in its messages;
     * refusing them keeps every message that quotes them on one line. */
    for (size_t i = 0; i < len; i++) {
        uint8_t c = a->data[i];

        if (c < ' ' || c == 0x7f || (c == ' ' && !blanks)) {
            return fail(errorp, EINVAL, "%s: %s has a %s at offset "
                        "%"PRIuSIZE, what, name,
                        c == ' ' ? "blank" : "control character", i);
        }
    }
    memcpy(out, a->data, len);
    out[len] = '\0';
    return 0;
}

static int
attr_string(const char *what, const char *name, const struct attr *a,
            char *out, size_t max, char **errorp)
{
    return attr_string__(what, name, a, out, max, false, errorp);
}

/* Copies an attribute of exactly 'len' bytes. */
static int
attr_exact(const char *what, const char *name, const struct attr *a,
           void *out, size_t len, char **errorp)
{
    if (a->len != len) {
        return fail(errorp, EINVAL, "%s: %s is %"PRIuSIZE" bytes, expected "
                    "%"PRIuSIZE, what, name, a->len, len);
    }
    memcpy(out, a->data, len);
    return 0;
}

/* Copies an attribute of at least 'min' bytes into the 'len'-byte 'out',
 * zero-filling what a shorter (older) structure lacks. */
static int
attr_at_least(const char *what, const char *name, const struct attr *a,
              void *out, size_t min, size_t len, char **errorp)
{
    if (a->len < min) {
        return fail(errorp, EINVAL, "%s: %s is %"PRIuSIZE" bytes, expected "
                    "at least %"PRIuSIZE, what, name, a->len, min);
    }
    memset(out, 0, len);
    memcpy(out, a->data, MIN(a->len, len));
    return 0;
}

static int
missing(char **errorp, const char *what, const char *name)
{
    return fail(errorp, ENOMSG, "%s: no %s", what, name);
}

/* NLMSG_ERROR. */

int
cats_nl_parse_error(const void *msg, size_t size, int *errnum,
                    char extack[CATS_NL_EXTACK_MAX], char **errorp)
{
    static const char *const names[NLMSGERR_ATTR_MAX + 1] = {
        [NLMSGERR_ATTR_MSG] = "NLMSGERR_ATTR_MSG",
    };
    struct attr tb[NLMSGERR_ATTR_MAX + 1];
    struct nlmsgerr e;
    struct nlmsghdr h;
    const uint8_t *attrs;
    size_t attrs_len;
    int error;

    *errorp = NULL;
    *errnum = 0;
    extack[0] = '\0';
    error = check_msg("NLMSG_ERROR", msg, size, NLMSG_ERROR, &e, sizeof e,
                      &attrs, &attrs_len, errorp);
    if (error) {
        return error;
    }
    if (e.error > 0 || e.error < -4095) {
        return fail(errorp, EINVAL, "NLMSG_ERROR: error %d is not a "
                    "negated errno value", e.error);
    }
    *errnum = -e.error;

    /* Extended acks follow the echoed request: all of it, unless the
     * kernel capped the echo to its header (always, for an ack). */
    memcpy(&h, msg, sizeof h);
    if (!(h.nlmsg_flags & NLM_F_ACK_TLVS)) {
        return 0;
    }
    if (!(h.nlmsg_flags & NLM_F_CAPPED) && e.error) {
        size_t echo = NLMSG_ALIGN(e.msg.nlmsg_len) - sizeof e.msg;

        if (e.msg.nlmsg_len < sizeof e.msg || echo > attrs_len) {
            return fail(errorp, EBADMSG, "NLMSG_ERROR: echoed request of "
                        "%"PRIu32" bytes does not fit", e.msg.nlmsg_len);
        }
        attrs += echo;
        attrs_len -= echo;
    }
    error = parse_attrs("NLMSG_ERROR", attrs, attrs_len, tb,
                        NLMSGERR_ATTR_MAX, names, errorp);
    if (!error && tb[NLMSGERR_ATTR_MSG].data) {
        error = attr_string__("NLMSG_ERROR", "NLMSGERR_ATTR_MSG",
                              &tb[NLMSGERR_ATTR_MSG], extack,
                              CATS_NL_EXTACK_MAX, true, errorp);
    }
    if (error) {
        extack[0] = '\0';
    }
    return error;
}

/* 1. Links. */

/* Linux 2.6.35's struct rtnl_link_stats64: 23 counters.  Newer kernels
 * append rx_nohandler and rx_otherhost_dropped. */
#define LINK_STATS64_MIN (23 * sizeof(uint64_t))

int
cats_nl_parse_link(const void *msg, size_t size, struct cats_nl_link *link,
                   char **errorp)
{
    static const char *const names[IFLA_STATS64 + 1] = {
        [IFLA_IFNAME] = "IFLA_IFNAME",
        [IFLA_STATS64] = "IFLA_STATS64",
    };
    struct attr tb[IFLA_STATS64 + 1];
    uint64_t c[LINK_STATS64_MIN / sizeof(uint64_t)];
    const uint8_t *attrs;
    struct ifinfomsg ifi;
    size_t attrs_len;
    char what[64];
    int error;

    *errorp = NULL;
    memset(link, 0, sizeof *link);
    error = check_msg("RTM_NEWLINK", msg, size, RTM_NEWLINK, &ifi,
                      sizeof ifi, &attrs, &attrs_len, errorp);
    if (error) {
        return error;
    }
    if (ifi.ifi_index <= 0) {
        return fail(errorp, EINVAL, "RTM_NEWLINK: ifindex %d is not "
                    "positive", ifi.ifi_index);
    }
    snprintf(what, sizeof what, "RTM_NEWLINK ifindex %d", ifi.ifi_index);
    error = parse_attrs(what, attrs, attrs_len, tb, IFLA_STATS64, names,
                        errorp);
    if (error) {
        return error;
    }
    if (!tb[IFLA_IFNAME].data) {
        return missing(errorp, what, "IFLA_IFNAME");
    }
    error = attr_string(what, "IFLA_IFNAME", &tb[IFLA_IFNAME], link->name,
                        sizeof link->name, errorp);
    if (error) {
        return error;
    }
    if (!tb[IFLA_STATS64].data) {
        return missing(errorp, what, "IFLA_STATS64");
    }
    if (tb[IFLA_STATS64].len < LINK_STATS64_MIN
        || tb[IFLA_STATS64].len % sizeof(uint64_t)) {
        return fail(errorp, EINVAL, "%s: IFLA_STATS64 is %"PRIuSIZE" bytes, "
                    "expected a multiple of 8 of at least %"PRIuSIZE, what,
                    tb[IFLA_STATS64].len, LINK_STATS64_MIN);
    }
    memcpy(c, tb[IFLA_STATS64].data, sizeof c);

    link->ifindex = ifi.ifi_index;
    link->flags = ifi.ifi_flags;
    link->stats.rx_packets = c[0];
    link->stats.tx_packets = c[1];
    link->stats.rx_bytes = c[2];
    link->stats.tx_bytes = c[3];
    link->stats.rx_errors = c[4];
    link->stats.tx_errors = c[5];
    link->stats.rx_dropped = c[6];
    link->stats.tx_dropped = c[7];
    return 0;
}

/* 2. Qdiscs. */

const char *
cats_nl_aqm_name(enum cats_nl_aqm aqm)
{
    switch (aqm) {
    case CATS_NL_AQM_RED: return "red";
    case CATS_NL_AQM_FQ_CODEL: return "fq_codel";
    case CATS_NL_AQM_FQ_PIE: return "fq_pie";
    case CATS_NL_AQM_NONE: default: return "none";
    }
}

static enum cats_nl_aqm
aqm_from_kind(const char *kind)
{
    return (!strcmp(kind, "red") ? CATS_NL_AQM_RED
            : !strcmp(kind, "fq_codel") ? CATS_NL_AQM_FQ_CODEL
            : !strcmp(kind, "fq_pie") ? CATS_NL_AQM_FQ_PIE
            : CATS_NL_AQM_NONE);
}

/* The extended statistics of an AQM qdisc: each structure must reach its
 * ECN counter; later fields that an older kernel lacks read as zero. */
static int
parse_xstats(const char *what, const char *name, const struct attr *a,
             struct cats_nl_qdisc *q, char **errorp)
{
    uint32_t w[10];
    int error;

    switch (q->aqm) {
    case CATS_NL_AQM_RED:
        error = attr_at_least(what, name, a, w,
                              sizeof(struct tc_red_xstats), sizeof w, errorp);
        if (error) {
            return error;
        }
        q->x.red.early = w[0];
        q->x.red.pdrop = w[1];
        q->x.red.other = w[2];
        q->x.red.marked = w[3];
        q->ecn_marked = q->x.red.marked;
        break;

    case CATS_NL_AQM_FQ_CODEL:
        /* type, then maxpacket, drop_overlimit, ecn_mark, ... */
        error = attr_at_least(what, name, a, w, 4 * sizeof(uint32_t),
                              sizeof w, errorp);
        if (error) {
            return error;
        }
        if (w[0] != TCA_FQ_CODEL_XSTATS_QDISC) {
            return fail(errorp, EINVAL, "%s: %s has type %"PRIu32", not "
                        "qdisc statistics", what, name, w[0]);
        }
        q->x.fq_codel.maxpacket = w[1];
        q->x.fq_codel.drop_overlimit = w[2];
        q->x.fq_codel.ecn_mark = w[3];
        q->x.fq_codel.new_flow_count = w[4];
        q->x.fq_codel.new_flows_len = w[5];
        q->x.fq_codel.old_flows_len = w[6];
        q->x.fq_codel.ce_mark = w[7];
        q->x.fq_codel.memory_usage = w[8];
        q->x.fq_codel.drop_overmemory = w[9];
        q->ecn_marked = q->x.fq_codel.ecn_mark;
        break;

    case CATS_NL_AQM_FQ_PIE:
        /* packets_in, dropped, overlimit, overmemory, ecn_mark, ... */
        error = attr_at_least(what, name, a, w, 5 * sizeof(uint32_t),
                              sizeof w, errorp);
        if (error) {
            return error;
        }
        q->x.fq_pie.packets_in = w[0];
        q->x.fq_pie.dropped = w[1];
        q->x.fq_pie.overlimit = w[2];
        q->x.fq_pie.overmemory = w[3];
        q->x.fq_pie.ecn_mark = w[4];
        q->x.fq_pie.new_flow_count = w[5];
        q->x.fq_pie.new_flows_len = w[6];
        q->x.fq_pie.old_flows_len = w[7];
        q->x.fq_pie.memory_usage = w[8];
        q->ecn_marked = q->x.fq_pie.ecn_mark;
        break;

    case CATS_NL_AQM_NONE:
    default:
        return 0;
    }
    q->has_xstats = true;
    return 0;
}

int
cats_nl_parse_qdisc(const void *msg, size_t size, struct cats_nl_qdisc *q,
                    char **errorp)
{
    static const char *const names[TCA_DUMP_INVISIBLE + 1] = {
        [TCA_KIND] = "TCA_KIND",
        [TCA_XSTATS] = "TCA_XSTATS",
        [TCA_STATS2] = "TCA_STATS2",
    };
    static const char *const stats_names[TCA_STATS_PKT64 + 1] = {
        [TCA_STATS_BASIC] = "TCA_STATS_BASIC",
        [TCA_STATS_QUEUE] = "TCA_STATS_QUEUE",
        [TCA_STATS_APP] = "TCA_STATS_APP",
        [TCA_STATS_PKT64] = "TCA_STATS_PKT64",
    };
    struct attr tb[TCA_DUMP_INVISIBLE + 1];
    struct attr st[TCA_STATS_PKT64 + 1];
    struct gnet_stats_queue queue;
    struct gnet_stats_basic basic;
    const uint8_t *attrs;
    struct tcmsg tcm;
    size_t attrs_len;
    char what[80];
    int error;

    *errorp = NULL;
    memset(q, 0, sizeof *q);
    error = check_msg("RTM_NEWQDISC", msg, size, RTM_NEWQDISC, &tcm,
                      sizeof tcm, &attrs, &attrs_len, errorp);
    if (error) {
        return error;
    }
    if (tcm.tcm_ifindex <= 0) {
        return fail(errorp, EINVAL, "RTM_NEWQDISC: ifindex %d is not "
                    "positive", tcm.tcm_ifindex);
    }
    snprintf(what, sizeof what, "RTM_NEWQDISC ifindex %d handle %"PRIx32
             ":%"PRIx32, tcm.tcm_ifindex, tcm.tcm_handle >> 16,
             tcm.tcm_handle & 0xffff);
    error = parse_attrs(what, attrs, attrs_len, tb, TCA_DUMP_INVISIBLE,
                        names, errorp);
    if (error) {
        return error;
    }
    if (!tb[TCA_KIND].data) {
        return missing(errorp, what, "TCA_KIND");
    }
    error = attr_string(what, "TCA_KIND", &tb[TCA_KIND], q->kind,
                        sizeof q->kind, errorp);
    if (error) {
        return error;
    }
    q->ifindex = tcm.tcm_ifindex;
    q->handle = tcm.tcm_handle;
    q->parent = tcm.tcm_parent;
    q->aqm = aqm_from_kind(q->kind);

    if (!tb[TCA_STATS2].data) {
        return missing(errorp, what, "TCA_STATS2");
    }
    error = parse_attrs(what, tb[TCA_STATS2].data, tb[TCA_STATS2].len, st,
                        TCA_STATS_PKT64, stats_names, errorp);
    if (error) {
        return error;
    }

    /* struct gnet_stats_basic is 12 bytes of fields; the kernel sends
     * sizeof, 16 with its padding. */
    if (!st[TCA_STATS_BASIC].data) {
        return missing(errorp, what, "TCA_STATS2/TCA_STATS_BASIC");
    }
    error = attr_at_least(what, "TCA_STATS_BASIC", &st[TCA_STATS_BASIC],
                          &basic, sizeof(uint64_t) + sizeof(uint32_t),
                          sizeof basic, errorp);
    if (error) {
        return error;
    }
    q->bytes = basic.bytes;
    q->packets = basic.packets;
    if (st[TCA_STATS_PKT64].data) {
        error = attr_exact(what, "TCA_STATS_PKT64", &st[TCA_STATS_PKT64],
                           &q->packets, sizeof q->packets, errorp);
        if (error) {
            return error;
        }
    }

    if (!st[TCA_STATS_QUEUE].data) {
        return missing(errorp, what, "TCA_STATS2/TCA_STATS_QUEUE");
    }
    error = attr_at_least(what, "TCA_STATS_QUEUE", &st[TCA_STATS_QUEUE],
                          &queue, sizeof queue, sizeof queue, errorp);
    if (error) {
        return error;
    }
    q->qlen = queue.qlen;
    q->backlog = queue.backlog;
    q->drops = queue.drops;
    q->requeues = queue.requeues;
    q->overlimits = queue.overlimits;

    /* The same bytes come twice: in TCA_STATS2 and, for old tools, as the
     * top-level TCA_XSTATS. */
    if (st[TCA_STATS_APP].data) {
        return parse_xstats(what, "TCA_STATS_APP", &st[TCA_STATS_APP], q,
                            errorp);
    } else if (tb[TCA_XSTATS].data) {
        return parse_xstats(what, "TCA_XSTATS", &tb[TCA_XSTATS], q, errorp);
    }
    return 0;
}

/* 3. DCB PFC. */

int
cats_nl_parse_dcb_pfc(const void *msg, size_t size, struct cats_nl_pfc *pfc,
                      char **errorp)
{
    static const char *const names[DCB_ATTR_IEEE + 1] = {
        [DCB_ATTR_IFNAME] = "DCB_ATTR_IFNAME",
        [DCB_ATTR_IEEE] = "DCB_ATTR_IEEE",
    };
    static const char *const ieee_names[DCB_ATTR_IEEE_PFC + 1] = {
        [DCB_ATTR_IEEE_PFC] = "DCB_ATTR_IEEE_PFC",
    };
    struct attr tb[DCB_ATTR_IEEE + 1];
    struct attr ieee[DCB_ATTR_IEEE_PFC + 1];
    const uint8_t *attrs;
    struct ieee_pfc raw;
    struct dcbmsg dcb;
    size_t attrs_len;
    char what[64];
    int error;

    *errorp = NULL;
    memset(pfc, 0, sizeof *pfc);
    error = check_msg("RTM_GETDCB", msg, size, RTM_GETDCB, &dcb, sizeof dcb,
                      &attrs, &attrs_len, errorp);
    if (error) {
        return error;
    }
    if (dcb.cmd != DCB_CMD_IEEE_GET) {
        return fail(errorp, EINVAL, "RTM_GETDCB: command %u, expected "
                    "DCB_CMD_IEEE_GET", dcb.cmd);
    }
    error = parse_attrs("RTM_GETDCB", attrs, attrs_len, tb, DCB_ATTR_IEEE,
                        names, errorp);
    if (error) {
        return error;
    }
    if (!tb[DCB_ATTR_IFNAME].data) {
        return missing(errorp, "RTM_GETDCB", "DCB_ATTR_IFNAME");
    }
    error = attr_string("RTM_GETDCB", "DCB_ATTR_IFNAME", &tb[DCB_ATTR_IFNAME],
                        pfc->ifname, sizeof pfc->ifname, errorp);
    if (error) {
        return error;
    }
    snprintf(what, sizeof what, "RTM_GETDCB %s", pfc->ifname);
    if (!tb[DCB_ATTR_IEEE].data) {
        return missing(errorp, what, "DCB_ATTR_IEEE");
    }
    error = parse_attrs(what, tb[DCB_ATTR_IEEE].data, tb[DCB_ATTR_IEEE].len,
                        ieee, DCB_ATTR_IEEE_PFC, ieee_names, errorp);
    if (error) {
        return error;
    }
    if (!ieee[DCB_ATTR_IEEE_PFC].data) {
        /* DCB without PFC (a driver without ieee_getpfc): an answer. */
        return fail(errorp, EOPNOTSUPP, "%s: the device does not report "
                    "PFC (no DCB_ATTR_IEEE_PFC)", what);
    }
    error = attr_at_least(what, "DCB_ATTR_IEEE_PFC", &ieee[DCB_ATTR_IEEE_PFC],
                          &raw, sizeof raw, sizeof raw, errorp);
    if (error) {
        return error;
    }
    pfc->pfc_cap = raw.pfc_cap;
    pfc->pfc_en = raw.pfc_en;
    pfc->delay = raw.delay;
    BUILD_ASSERT_DECL(IEEE_8021QAZ_MAX_TCS == CATS_NL_PRIORITIES);
    memcpy(pfc->requests, raw.requests, sizeof pfc->requests);
    memcpy(pfc->indications, raw.indications, sizeof pfc->indications);
    return 0;
}

/* 4. ethtool pause. */

static int
attr_flag_u8(const char *what, const char *name, const struct attr *a,
             bool *out, char **errorp)
{
    uint8_t v = 0;
    int error;

    if (!a->data) {
        return 0;
    }
    error = attr_exact(what, name, a, &v, sizeof v, errorp);
    if (!error) {
        *out = v != 0;
    }
    return error;
}

int
cats_nl_parse_pause(const void *msg, size_t size, uint16_t family,
                    struct cats_nl_pause *p, char **errorp)
{
    static const char *const names[ETHTOOL_A_PAUSE_STATS + 1] = {
        [ETHTOOL_A_PAUSE_HEADER] = "ETHTOOL_A_PAUSE_HEADER",
        [ETHTOOL_A_PAUSE_AUTONEG] = "ETHTOOL_A_PAUSE_AUTONEG",
        [ETHTOOL_A_PAUSE_RX] = "ETHTOOL_A_PAUSE_RX",
        [ETHTOOL_A_PAUSE_TX] = "ETHTOOL_A_PAUSE_TX",
        [ETHTOOL_A_PAUSE_STATS] = "ETHTOOL_A_PAUSE_STATS",
    };
    static const char *const hdr_names[ETHTOOL_A_HEADER_FLAGS + 1] = {
        [ETHTOOL_A_HEADER_DEV_INDEX] = "ETHTOOL_A_HEADER_DEV_INDEX",
        [ETHTOOL_A_HEADER_DEV_NAME] = "ETHTOOL_A_HEADER_DEV_NAME",
    };
    static const char *const stat_names[ETHTOOL_A_PAUSE_STAT_RX_FRAMES + 1] =
    {
        [ETHTOOL_A_PAUSE_STAT_TX_FRAMES] = "ETHTOOL_A_PAUSE_STAT_TX_FRAMES",
        [ETHTOOL_A_PAUSE_STAT_RX_FRAMES] = "ETHTOOL_A_PAUSE_STAT_RX_FRAMES",
    };
    struct attr tb[ETHTOOL_A_PAUSE_STATS + 1];
    struct attr hdr[ETHTOOL_A_HEADER_FLAGS + 1];
    struct attr st[ETHTOOL_A_PAUSE_STAT_RX_FRAMES + 1];
    const char *what = "ETHTOOL_MSG_PAUSE_GET_REPLY";
    const uint8_t *attrs;
    struct genlmsghdr genl;
    uint32_t ifindex = 0;
    size_t attrs_len;
    int error;

    *errorp = NULL;
    memset(p, 0, sizeof *p);
    error = check_msg(what, msg, size, family, &genl, sizeof genl, &attrs,
                      &attrs_len, errorp);
    if (error) {
        return error;
    }
    if (genl.cmd != ETHTOOL_MSG_PAUSE_GET_REPLY) {
        return fail(errorp, EINVAL, "%s: command %u, expected %u", what,
                    genl.cmd, ETHTOOL_MSG_PAUSE_GET_REPLY);
    }
    error = parse_attrs(what, attrs, attrs_len, tb, ETHTOOL_A_PAUSE_STATS,
                        names, errorp);
    if (error) {
        return error;
    }

    if (!tb[ETHTOOL_A_PAUSE_HEADER].data) {
        return missing(errorp, what, "ETHTOOL_A_PAUSE_HEADER");
    }
    error = parse_attrs(what, tb[ETHTOOL_A_PAUSE_HEADER].data,
                        tb[ETHTOOL_A_PAUSE_HEADER].len, hdr,
                        ETHTOOL_A_HEADER_FLAGS, hdr_names, errorp);
    if (error) {
        return error;
    }
    if (!hdr[ETHTOOL_A_HEADER_DEV_INDEX].data) {
        return missing(errorp, what, "ETHTOOL_A_HEADER_DEV_INDEX");
    }
    error = attr_exact(what, "ETHTOOL_A_HEADER_DEV_INDEX",
                       &hdr[ETHTOOL_A_HEADER_DEV_INDEX], &ifindex,
                       sizeof ifindex, errorp);
    if (error) {
        return error;
    }
    if (!ifindex || ifindex > INT32_MAX) {
        return fail(errorp, EINVAL, "%s: ifindex %"PRIu32" is out of range",
                    what, ifindex);
    }
    p->ifindex = ifindex;
    if (!hdr[ETHTOOL_A_HEADER_DEV_NAME].data) {
        return missing(errorp, what, "ETHTOOL_A_HEADER_DEV_NAME");
    }
    error = attr_string(what, "ETHTOOL_A_HEADER_DEV_NAME",
                        &hdr[ETHTOOL_A_HEADER_DEV_NAME], p->ifname,
                        sizeof p->ifname, errorp);
    if (!error) {
        error = attr_flag_u8(what, "ETHTOOL_A_PAUSE_AUTONEG",
                             &tb[ETHTOOL_A_PAUSE_AUTONEG], &p->autoneg,
                             errorp);
    }
    if (!error) {
        error = attr_flag_u8(what, "ETHTOOL_A_PAUSE_RX",
                             &tb[ETHTOOL_A_PAUSE_RX], &p->rx, errorp);
    }
    if (!error) {
        error = attr_flag_u8(what, "ETHTOOL_A_PAUSE_TX",
                             &tb[ETHTOOL_A_PAUSE_TX], &p->tx, errorp);
    }
    if (error || !tb[ETHTOOL_A_PAUSE_STATS].data) {
        return error;
    }

    /* Counters a driver does not keep are left out by the kernel. */
    error = parse_attrs(what, tb[ETHTOOL_A_PAUSE_STATS].data,
                        tb[ETHTOOL_A_PAUSE_STATS].len, st,
                        ETHTOOL_A_PAUSE_STAT_RX_FRAMES, stat_names, errorp);
    if (!error && st[ETHTOOL_A_PAUSE_STAT_TX_FRAMES].data) {
        error = attr_exact(what, "ETHTOOL_A_PAUSE_STAT_TX_FRAMES",
                           &st[ETHTOOL_A_PAUSE_STAT_TX_FRAMES],
                           &p->tx_frames, sizeof p->tx_frames, errorp);
        p->has_tx_frames = !error;
    }
    if (!error && st[ETHTOOL_A_PAUSE_STAT_RX_FRAMES].data) {
        error = attr_exact(what, "ETHTOOL_A_PAUSE_STAT_RX_FRAMES",
                           &st[ETHTOOL_A_PAUSE_STAT_RX_FRAMES],
                           &p->rx_frames, sizeof p->rx_frames, errorp);
        p->has_rx_frames = !error;
    }
    return error;
}

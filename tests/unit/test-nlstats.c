/*
 * Unit tests for the network metric agent's readers
 * (include/cats/nlstats.h): the netlink parsers on messages built here
 * with libnl (nlmsg_alloc, nla_put) or written byte by byte, the host
 * counter parsers on texts and directories made here, the state (counter
 * widening, resets, the counters epoch, refused messages changing
 * nothing), the telemetry report (checked through the agent API's own
 * decoder), and, where the kernel answers, a few live reads that create
 * nothing.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/dcbnl.h>
#include <linux/ethtool_netlink.h>
#include <linux/gen_stats.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "cats/nlstats.h"
#include "cats/report.h"
#include "openvswitch/compiler.h"
#include "openvswitch/dynamic-string.h"
#include "proto/cats.pb-c.h"
#include "sset.h"
#include "util.h"
#include "test-util.h"

/* The ethtool family id used in built messages (the kernel's is dynamic). */
#define ETHTOOL_FAMILY 27

/* Message building. */

/* A message's bytes, owned. */
struct msg {
    uint8_t *data;
    size_t size;
};

static struct msg
msg_from_nl(struct nl_msg *nl)
{
    struct nlmsghdr *h = nlmsg_hdr(nl);
    struct msg m;

    m.size = h->nlmsg_len;
    m.data = xmemdup(h, m.size);
    nlmsg_free(nl);
    return m;
}

static void
msg_free(struct msg *m)
{
    free(m->data);
    m->data = NULL;
}

/* Cuts the message to 'size' bytes and says so in its header, so that the
 * framing is right and what follows is a truncated attribute. */
static void
msg_truncate(struct msg *m, size_t size)
{
    struct nlmsghdr h;

    assert_true(size <= m->size);
    m->size = size;
    memcpy(&h, m->data, sizeof h);
    h.nlmsg_len = size;
    memcpy(m->data, &h, sizeof h);
}

/* Appends 'n' bytes of 'fill' to the message, inside its nlmsg_len. */
static void
msg_append_garbage(struct msg *m, size_t n, uint8_t fill)
{
    struct nlmsghdr h;

    m->data = xrealloc(m->data, m->size + n);
    memset(m->data + m->size, fill, n);
    m->size += n;
    memcpy(&h, m->data, sizeof h);
    h.nlmsg_len = m->size;
    memcpy(m->data, &h, sizeof h);
}

static void
stats64_fill(uint64_t c[], size_t n, uint64_t base)
{
    for (size_t i = 0; i < n; i++) {
        c[i] = base + i;
    }
}

/* RTM_NEWLINK with 'name' (NULL: none) and IFLA_STATS64 of 'stats_len'
 * bytes (0: none), counter i = base + i. */
static struct msg
build_link_ex(int ifindex, const char *name, size_t stats_len,
              uint64_t base, unsigned int flags)
{
    struct nl_msg *nl = nlmsg_alloc_simple(RTM_NEWLINK, 0);
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex,
                             .ifi_flags = flags };
    uint64_t c[32];

    assert_non_null(nl);
    assert_int_equal(nlmsg_append(nl, &ifi, sizeof ifi, NLMSG_ALIGNTO), 0);
    if (name) {
        assert_int_equal(nla_put_string(nl, IFLA_IFNAME, name), 0);
    }
    assert_int_equal(nla_put_u32(nl, IFLA_MTU, 1500), 0);
    if (stats_len) {
        assert_true(stats_len <= sizeof c);
        stats64_fill(c, ARRAY_SIZE(c), base);
        assert_int_equal(nla_put(nl, IFLA_STATS64, stats_len, c), 0);
    }
    return msg_from_nl(nl);
}

static struct msg
build_link(int ifindex, const char *name, uint64_t base)
{
    return build_link_ex(ifindex, name, sizeof(struct rtnl_link_stats64),
                         base, IFF_UP);
}

/* A link whose stats64 counters are given: tx_packets, tx_bytes,
 * tx_dropped. */
static struct msg
build_link_tx(int ifindex, const char *name, uint64_t tx_packets,
              uint64_t tx_bytes, uint64_t tx_dropped)
{
    struct nl_msg *nl = nlmsg_alloc_simple(RTM_NEWLINK, 0);
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex,
                             .ifi_flags = IFF_UP };
    struct rtnl_link_stats64 st;

    memset(&st, 0, sizeof st);
    st.tx_packets = tx_packets;
    st.tx_bytes = tx_bytes;
    st.tx_dropped = tx_dropped;
    assert_int_equal(nlmsg_append(nl, &ifi, sizeof ifi, NLMSG_ALIGNTO), 0);
    assert_int_equal(nla_put_string(nl, IFLA_IFNAME, name), 0);
    assert_int_equal(nla_put(nl, IFLA_STATS64, sizeof st, &st), 0);
    return msg_from_nl(nl);
}

struct qdisc_spec {
    int ifindex;
    uint32_t handle, parent;
    const char *kind;               /* NULL: no TCA_KIND. */
    bool no_stats2, no_basic, no_queue;
    size_t basic_len;               /* 0: sizeof(struct gnet_stats_basic). */
    uint64_t bytes;
    uint32_t packets;
    bool pkt64;
    uint64_t packets64;
    struct gnet_stats_queue queue;
    const void *app;                /* TCA_STATS_APP, or NULL. */
    size_t app_len;
    bool app_as_xstats;             /* Top-level TCA_XSTATS instead. */
};

static struct msg
build_qdisc(const struct qdisc_spec *s)
{
    struct nl_msg *nl = nlmsg_alloc_simple(RTM_NEWQDISC, 0);
    struct tcmsg tcm = { .tcm_family = AF_UNSPEC, .tcm_ifindex = s->ifindex,
                         .tcm_handle = s->handle, .tcm_parent = s->parent };

    assert_int_equal(nlmsg_append(nl, &tcm, sizeof tcm, NLMSG_ALIGNTO), 0);
    if (s->kind) {
        assert_int_equal(nla_put_string(nl, TCA_KIND, s->kind), 0);
    }
    if (s->app && s->app_as_xstats) {
        assert_int_equal(nla_put(nl, TCA_XSTATS, s->app_len, s->app), 0);
    }
    if (!s->no_stats2) {
        struct nlattr *nest = nla_nest_start(nl, TCA_STATS2);
        struct gnet_stats_basic basic;

        memset(&basic, 0, sizeof basic);
        basic.bytes = s->bytes;
        basic.packets = s->packets;
        if (!s->no_basic) {
            assert_int_equal(nla_put(nl, TCA_STATS_BASIC,
                                     s->basic_len ? s->basic_len
                                     : sizeof basic, &basic), 0);
        }
        if (s->pkt64) {
            assert_int_equal(nla_put_u64(nl, TCA_STATS_PKT64, s->packets64),
                             0);
        }
        if (!s->no_queue) {
            assert_int_equal(nla_put(nl, TCA_STATS_QUEUE, sizeof s->queue,
                                     &s->queue), 0);
        }
        if (s->app && !s->app_as_xstats) {
            assert_int_equal(nla_put(nl, TCA_STATS_APP, s->app_len, s->app),
                             0);
        }
        nla_nest_end(nl, nest);
    }
    return msg_from_nl(nl);
}

/* An fq_codel qdisc with 'ecn' marks and 'bytes' sent. */
static struct msg
build_fq_codel(int ifindex, uint32_t handle, uint32_t parent, uint64_t bytes,
               uint32_t ecn, uint32_t drops, uint32_t backlog)
{
    struct tc_fq_codel_xstats x;
    struct qdisc_spec s = {
        .ifindex = ifindex, .handle = handle, .parent = parent,
        .kind = "fq_codel", .bytes = bytes, .packets = bytes / 100,
        .queue = { .backlog = backlog, .drops = drops },
        .app = &x, .app_len = sizeof x,
    };

    memset(&x, 0, sizeof x);
    x.type = TCA_FQ_CODEL_XSTATS_QDISC;
    x.qdisc_stats.ecn_mark = ecn;
    return build_qdisc(&s);
}

static struct msg
build_pfc(const char *ifname, const struct ieee_pfc *pfc, size_t pfc_len,
          uint8_t cmd, bool with_ieee)
{
    struct nl_msg *nl = nlmsg_alloc_simple(RTM_GETDCB, 0);
    struct dcbmsg dcb = { .dcb_family = AF_UNSPEC, .cmd = cmd };

    assert_int_equal(nlmsg_append(nl, &dcb, sizeof dcb, NLMSG_ALIGNTO), 0);
    if (ifname) {
        assert_int_equal(nla_put_string(nl, DCB_ATTR_IFNAME, ifname), 0);
    }
    if (with_ieee) {
        struct nlattr *nest = nla_nest_start(nl, DCB_ATTR_IEEE);
        uint8_t ets[40] = { 0 };

        /* Attributes around PFC, as the kernel sends them. */
        assert_int_equal(nla_put(nl, DCB_ATTR_IEEE_ETS, sizeof ets, ets), 0);
        if (pfc) {
            assert_int_equal(nla_put(nl, DCB_ATTR_IEEE_PFC, pfc_len, pfc),
                             0);
        }
        struct nlattr *app = nla_nest_start(nl, DCB_ATTR_IEEE_APP_TABLE);
        nla_nest_end(nl, app);
        nla_nest_end(nl, nest);
    }
    assert_int_equal(nla_put_u8(nl, DCB_ATTR_DCBX, 8), 0);
    return msg_from_nl(nl);
}

static void
pfc_fill(struct ieee_pfc *pfc, uint8_t en, uint64_t base)
{
    memset(pfc, 0, sizeof *pfc);
    pfc->pfc_cap = 8;
    pfc->pfc_en = en;
    pfc->delay = 32;
    for (int p = 0; p < 8; p++) {
        pfc->requests[p] = base + 10 * p;
        pfc->indications[p] = base + 10 * p + 1;
    }
}

struct pause_spec {
    uint16_t family;
    uint8_t cmd;
    bool no_header, no_index, no_name;
    uint32_t ifindex;
    const char *name;
    bool stats;
    bool tx, rx;                    /* Counters present. */
    size_t tx_len;                  /* 0: 8. */
    size_t autoneg_len;             /* 0: 1. */
};

static struct msg
build_pause(const struct pause_spec *s)
{
    struct nl_msg *nl = nlmsg_alloc();
    uint8_t zero4[4] = { 0 };

    assert_non_null(genlmsg_put(nl, 0, 0, s->family ? s->family
                                : ETHTOOL_FAMILY, 0, 0,
                                s->cmd ? s->cmd
                                : ETHTOOL_MSG_PAUSE_GET_REPLY, 1));
    if (!s->no_header) {
        struct nlattr *hdr = nla_nest_start(nl, ETHTOOL_A_PAUSE_HEADER
                                                | NLA_F_NESTED);
        if (!s->no_index) {
            assert_int_equal(nla_put_u32(nl, ETHTOOL_A_HEADER_DEV_INDEX,
                                         s->ifindex), 0);
        }
        if (!s->no_name) {
            assert_int_equal(nla_put_string(nl, ETHTOOL_A_HEADER_DEV_NAME,
                                            s->name), 0);
        }
        nla_nest_end(nl, hdr);
    }
    if (s->autoneg_len) {
        assert_int_equal(nla_put(nl, ETHTOOL_A_PAUSE_AUTONEG, s->autoneg_len,
                                 zero4), 0);
    } else {
        assert_int_equal(nla_put_u8(nl, ETHTOOL_A_PAUSE_AUTONEG, 1), 0);
    }
    assert_int_equal(nla_put_u8(nl, ETHTOOL_A_PAUSE_RX, 1), 0);
    assert_int_equal(nla_put_u8(nl, ETHTOOL_A_PAUSE_TX, 0), 0);
    if (s->stats) {
        struct nlattr *st = nla_nest_start(nl, ETHTOOL_A_PAUSE_STATS
                                               | NLA_F_NESTED);
        uint64_t tx = 1234, rx = 5678;

        /* The kernel's 64-bit attributes come with a PAD attribute. */
        assert_int_equal(nla_put(nl, ETHTOOL_A_PAUSE_STAT_PAD, 0, NULL), 0);
        if (s->tx) {
            assert_int_equal(nla_put(nl, ETHTOOL_A_PAUSE_STAT_TX_FRAMES,
                                     s->tx_len ? s->tx_len : 8, &tx), 0);
        }
        if (s->rx) {
            assert_int_equal(nla_put_u64(nl, ETHTOOL_A_PAUSE_STAT_RX_FRAMES,
                                         rx), 0);
        }
        nla_nest_end(nl, st);
    }
    return msg_from_nl(nl);
}

/* Expects 'error' from a parser call, with a message that contains
 * 'needle', and frees the message. */
#define assert_refused(CALL, ERROR, NEEDLE)                             \
    do {                                                                \
        char *error_msg_ = NULL;                                        \
        int error_ = (CALL);                                            \
        if (error_ != (ERROR)) {                                        \
            fail_msg("%s: expected error %d, got %d (%s)", #CALL,       \
                     (ERROR), error_, error_msg_ ? error_msg_ : "");    \
        }                                                               \
        assert_non_null(error_msg_);                                    \
        if (!strstr(error_msg_, (NEEDLE))) {                            \
            fail_msg("%s: \"%s\" does not mention \"%s\"", #CALL,      \
                     error_msg_, (NEEDLE));                             \
        }                                                               \
        free(error_msg_);                                               \
    } while (0)

#define assert_parsed(CALL)                                             \
    do {                                                                \
        char *error_msg_ = NULL;                                        \
        int error_ = (CALL);                                            \
        if (error_) {                                                   \
            fail_msg("%s: error %d (%s)", #CALL, error_,                \
                     error_msg_ ? error_msg_ : "");                     \
        }                                                               \
        assert_null(error_msg_);                                        \
    } while (0)

/* Framing. */

static void
test_next_msg_splits_and_refuses_overruns(void **state OVS_UNUSED)
{
    struct msg a = build_link(1, "lo", 0), b = build_link(2, "eth0", 0);
    size_t total = NLMSG_ALIGN(a.size) + b.size;
    uint8_t *buf = xzalloc(total + 8);
    const struct nlmsghdr *msg;
    const void *p = buf;
    size_t left = total, len;

    memcpy(buf, a.data, a.size);
    memcpy(buf + NLMSG_ALIGN(a.size), b.data, b.size);
    assert_parsed(cats_nl_next_msg(&p, &left, &msg, &len, &error_msg_));
    assert_ptr_equal(msg, buf);
    assert_int_equal(len, a.size);
    assert_parsed(cats_nl_next_msg(&p, &left, &msg, &len, &error_msg_));
    assert_int_equal(len, b.size);
    assert_parsed(cats_nl_next_msg(&p, &left, &msg, &len, &error_msg_));
    assert_null(msg);

    /* Trailing bytes shorter than a header. */
    p = buf;
    left = a.size + 5;
    memcpy(buf, a.data, a.size);
    assert_parsed(cats_nl_next_msg(&p, &left, &msg, &len, &error_msg_));
    assert_refused(cats_nl_next_msg(&p, &left, &msg, &len, &error_msg_),
                   EBADMSG, "shorter than a message header");

    /* A header claiming more than was received, or less than itself. */
    p = buf;
    left = a.size - 1;
    assert_refused(cats_nl_next_msg(&p, &left, &msg, &len, &error_msg_),
                   EBADMSG, "claims");
    struct nlmsghdr h = { .nlmsg_len = 8, .nlmsg_type = RTM_NEWLINK };
    memcpy(buf, &h, sizeof h);
    p = buf;
    left = total;
    assert_refused(cats_nl_next_msg(&p, &left, &msg, &len, &error_msg_),
                   EBADMSG, "claims 8 bytes");
    free(buf);
    msg_free(&a);
    msg_free(&b);
}

static void
test_error_message_with_extack(void **state OVS_UNUSED)
{
    struct nl_msg *nl = nlmsg_alloc_simple(NLMSG_ERROR,
                                           NLM_F_CAPPED | NLM_F_ACK_TLVS);
    struct nlmsgerr e = { .error = -ENODEV };
    char extack[CATS_NL_EXTACK_MAX];
    struct msg m;
    int errnum;

    e.msg.nlmsg_len = 40;
    e.msg.nlmsg_type = 16;
    nlmsg_append(nl, &e, sizeof e, NLMSG_ALIGNTO);
    nla_put_string(nl, NLMSGERR_ATTR_MSG, "no device matches name");
    m = msg_from_nl(nl);
    assert_parsed(cats_nl_parse_error(m.data, m.size, &errnum, extack,
                                      &error_msg_));
    assert_int_equal(errnum, ENODEV);
    assert_string_equal(extack, "no device matches name");

    /* A truncated extack attribute: the errno is still known, the message
     * is refused. */
    msg_truncate(&m, m.size - 6);
    assert_refused(cats_nl_parse_error(m.data, m.size, &errnum, extack,
                                       &error_msg_), EBADMSG, "claims");
    assert_string_equal(extack, "");
    msg_free(&m);

    /* A positive "error" is no errno. */
    nl = nlmsg_alloc_simple(NLMSG_ERROR, 0);
    e.error = 5;
    nlmsg_append(nl, &e, sizeof e, NLMSG_ALIGNTO);
    m = msg_from_nl(nl);
    assert_refused(cats_nl_parse_error(m.data, m.size, &errnum, extack,
                                       &error_msg_), EINVAL, "errno");
    msg_free(&m);
}

/* 1. Links. */

static void
test_link_good(void **state OVS_UNUSED)
{
    struct msg m = build_link(3, "eth1", 1000);
    struct cats_nl_link link;

    assert_parsed(cats_nl_parse_link(m.data, m.size, &link, &error_msg_));
    assert_int_equal(link.ifindex, 3);
    assert_string_equal(link.name, "eth1");
    assert_true(link.flags & IFF_UP);
    assert_int_equal(link.stats.rx_packets, 1000);
    assert_int_equal(link.stats.tx_packets, 1001);
    assert_int_equal(link.stats.rx_bytes, 1002);
    assert_int_equal(link.stats.tx_bytes, 1003);
    assert_int_equal(link.stats.rx_errors, 1004);
    assert_int_equal(link.stats.tx_errors, 1005);
    assert_int_equal(link.stats.rx_dropped, 1006);
    assert_int_equal(link.stats.tx_dropped, 1007);
    msg_free(&m);

    /* Older (23 counters) and newer (26) layouts. */
    m = build_link_ex(3, "eth1", 23 * 8, 0, 0);
    assert_parsed(cats_nl_parse_link(m.data, m.size, &link, &error_msg_));
    msg_free(&m);
    m = build_link_ex(3, "eth1", 26 * 8, 0, 0);
    assert_parsed(cats_nl_parse_link(m.data, m.size, &link, &error_msg_));
    assert_int_equal(link.stats.tx_dropped, 7);
    msg_free(&m);
}

static void
test_link_truncated(void **state OVS_UNUSED)
{
    struct msg m = build_link(3, "eth1", 0);
    struct cats_nl_link link;
    size_t full = m.size;

    /* Fewer bytes received than the header says. */
    assert_refused(cats_nl_parse_link(m.data, full - 1, &link, &error_msg_),
                   EBADMSG, "were received");
    assert_refused(cats_nl_parse_link(m.data, 10, &link, &error_msg_),
                   EBADMSG, "shorter than a netlink header");

    /* Header and bytes agree, but the last attribute (IFLA_STATS64) is cut
     * short: every cut point is refused. */
    for (size_t cut = full - 1; cut > full - 200; cut -= 7) {
        msg_truncate(&m, cut);
        assert_refused(cats_nl_parse_link(m.data, m.size, &link,
                                          &error_msg_), EBADMSG,
                       "RTM_NEWLINK ifindex 3");
    }
    msg_free(&m);

    /* Too short for struct ifinfomsg. */
    m = build_link(3, "eth1", 0);
    msg_truncate(&m, NLMSG_HDRLEN + 8);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EBADMSG, "too short");
    msg_free(&m);

    /* Bytes after the last attribute. */
    m = build_link(3, "eth1", 0);
    msg_append_garbage(&m, 3, 0xff);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EBADMSG, "3 trailing bytes");
    msg_free(&m);
}

static void
test_link_wrong_lengths(void **state OVS_UNUSED)
{
    struct cats_nl_link link;
    struct msg m;

    m = build_link_ex(3, "eth1", 100, 0, 0);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "IFLA_STATS64 is 100 bytes");
    msg_free(&m);

    m = build_link_ex(3, "eth1", 23 * 8 + 4, 0, 0);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "multiple of 8");
    msg_free(&m);

    m = build_link(3, "eth1-is-too-long", 0);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "IFLA_IFNAME must be 1 to 15 characters");
    msg_free(&m);

    m = build_link(3, "", 0);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "IFLA_IFNAME must be");
    msg_free(&m);

    /* A name without its NUL. */
    struct nl_msg *nl = nlmsg_alloc_simple(RTM_NEWLINK, 0);
    struct ifinfomsg ifi = { .ifi_index = 3 };
    uint64_t c[24] = { 0 };
    nlmsg_append(nl, &ifi, sizeof ifi, NLMSG_ALIGNTO);
    nla_put(nl, IFLA_IFNAME, 4, "eth1");
    nla_put(nl, IFLA_STATS64, sizeof c, c);
    m = msg_from_nl(nl);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "not NUL-terminated");
    msg_free(&m);

    /* The same attribute twice. */
    nl = nlmsg_alloc_simple(RTM_NEWLINK, 0);
    nlmsg_append(nl, &ifi, sizeof ifi, NLMSG_ALIGNTO);
    nla_put_string(nl, IFLA_IFNAME, "eth1");
    nla_put(nl, IFLA_STATS64, sizeof c, c);
    nla_put_string(nl, IFLA_IFNAME, "eth2");
    m = msg_from_nl(nl);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "IFLA_IFNAME appears twice");
    msg_free(&m);
}

static void
test_link_missing_and_wrong(void **state OVS_UNUSED)
{
    struct cats_nl_link link;
    struct msg m;

    m = build_link_ex(3, "eth1", 0, 0, 0);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   ENOMSG, "no IFLA_STATS64");
    msg_free(&m);

    m = build_link_ex(3, NULL, 24 * 8, 0, 0);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   ENOMSG, "no IFLA_IFNAME");
    msg_free(&m);

    m = build_link(0, "eth1", 0);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "ifindex 0 is not positive");
    msg_free(&m);

    /* Another message type. */
    m = build_link(3, "eth1", 0);
    struct nlmsghdr h;
    memcpy(&h, m.data, sizeof h);
    h.nlmsg_type = RTM_NEWADDR;
    memcpy(m.data, &h, sizeof h);
    assert_refused(cats_nl_parse_link(m.data, m.size, &link, &error_msg_),
                   EINVAL, "message type 20");
    msg_free(&m);
}

/* 2. Qdiscs. */

static void
test_qdisc_fq_codel(void **state OVS_UNUSED)
{
    struct tc_fq_codel_xstats x;
    struct qdisc_spec s = {
        .ifindex = 4, .handle = 0x80010000, .parent = TC_H_ROOT,
        .kind = "fq_codel", .bytes = 1ULL << 40, .packets = 77,
        .queue = { .qlen = 3, .backlog = 4500, .drops = 9, .requeues = 1,
                   .overlimits = 2 },
        .app = &x, .app_len = sizeof x,
    };
    struct cats_nl_qdisc q;
    struct msg m;

    memset(&x, 0, sizeof x);
    x.type = TCA_FQ_CODEL_XSTATS_QDISC;
    x.qdisc_stats.maxpacket = 1514;
    x.qdisc_stats.drop_overlimit = 5;
    x.qdisc_stats.ecn_mark = 321;
    x.qdisc_stats.ce_mark = 7;
    x.qdisc_stats.drop_overmemory = 6;
    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_int_equal(q.ifindex, 4);
    assert_int_equal(q.handle, 0x80010000);
    assert_int_equal(q.parent, TC_H_ROOT);
    assert_string_equal(q.kind, "fq_codel");
    assert_int_equal(q.aqm, CATS_NL_AQM_FQ_CODEL);
    assert_int_equal(q.bytes, 1ULL << 40);
    assert_int_equal(q.packets, 77);
    assert_int_equal(q.qlen, 3);
    assert_int_equal(q.backlog, 4500);
    assert_int_equal(q.drops, 9);
    assert_int_equal(q.requeues, 1);
    assert_int_equal(q.overlimits, 2);
    assert_true(q.has_xstats);
    assert_int_equal(q.ecn_marked, 321);
    assert_int_equal(q.x.fq_codel.maxpacket, 1514);
    assert_int_equal(q.x.fq_codel.drop_overlimit, 5);
    assert_int_equal(q.x.fq_codel.ce_mark, 7);
    assert_int_equal(q.x.fq_codel.drop_overmemory, 6);
    msg_free(&m);

    /* An older kernel's shorter structure (no ce_mark and later). */
    s.app_len = 4 + 6 * 4;
    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_int_equal(q.ecn_marked, 321);
    assert_int_equal(q.x.fq_codel.ce_mark, 0);
    msg_free(&m);

    /* Too short to hold ecn_mark. */
    s.app_len = 12;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   EINVAL, "TCA_STATS_APP is 12 bytes, expected at least 16");
    msg_free(&m);

    /* Class statistics in a qdisc message. */
    s.app_len = sizeof x;
    x.type = TCA_FQ_CODEL_XSTATS_CLASS;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   EINVAL, "not qdisc statistics");
    msg_free(&m);
}

static void
test_qdisc_red_and_fq_pie(void **state OVS_UNUSED)
{
    struct tc_red_xstats red = { .early = 1, .pdrop = 2, .other = 3,
                                 .marked = 4000 };
    struct tc_fq_pie_xstats pie = { .packets_in = 10, .dropped = 2,
                                    .overlimit = 1, .ecn_mark = 55,
                                    .memory_usage = 9000 };
    struct qdisc_spec s = {
        .ifindex = 5, .handle = 0x10000, .parent = TC_H_ROOT, .kind = "red",
        .bytes = 10, .app = &red, .app_len = sizeof red,
    };
    struct cats_nl_qdisc q;
    struct msg m;

    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_int_equal(q.aqm, CATS_NL_AQM_RED);
    assert_int_equal(q.ecn_marked, 4000);
    assert_int_equal(q.x.red.early, 1);
    assert_int_equal(q.x.red.pdrop, 2);
    assert_int_equal(q.x.red.other, 3);
    msg_free(&m);

    s.app_len = sizeof red - 1;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   EINVAL, "expected at least 16");
    msg_free(&m);

    /* Only the legacy top-level TCA_XSTATS: read as well. */
    s.app_len = sizeof red;
    s.app_as_xstats = true;
    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_int_equal(q.ecn_marked, 4000);
    msg_free(&m);

    s.kind = "fq_pie";
    s.app = &pie;
    s.app_len = sizeof pie;
    s.app_as_xstats = false;
    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_int_equal(q.aqm, CATS_NL_AQM_FQ_PIE);
    assert_int_equal(q.ecn_marked, 55);
    assert_int_equal(q.x.fq_pie.packets_in, 10);
    assert_int_equal(q.x.fq_pie.memory_usage, 9000);
    msg_free(&m);

    s.app_len = 16;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   EINVAL, "expected at least 20");
    msg_free(&m);
}

static void
test_qdisc_basic_stats(void **state OVS_UNUSED)
{
    uint32_t htb_xstats[5] = { 1, 2, 3, 4, 5 };
    struct qdisc_spec s = {
        .ifindex = 2, .parent = TC_H_ROOT, .kind = "pfifo_fast",
        .bytes = 5000, .packets = 50, .queue = { .backlog = 0, .drops = 1 },
    };
    struct cats_nl_qdisc q;
    struct msg m;

    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_int_equal(q.aqm, CATS_NL_AQM_NONE);
    assert_false(q.has_xstats);
    assert_int_equal(q.packets, 50);
    assert_int_equal(q.drops, 1);
    msg_free(&m);

    /* TCA_STATS_PKT64 wins over the 32-bit count. */
    s.pkt64 = true;
    s.packets64 = 1ULL << 33;
    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_int_equal(q.packets, 1ULL << 33);
    msg_free(&m);

    /* Another qdisc's own xstats are none of our business. */
    s.kind = "htb";
    s.app = htb_xstats;
    s.app_len = sizeof htb_xstats;
    m = build_qdisc(&s);
    assert_parsed(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_));
    assert_false(q.has_xstats);
    msg_free(&m);
}

static void
test_qdisc_missing_and_malformed(void **state OVS_UNUSED)
{
    struct qdisc_spec good = {
        .ifindex = 2, .parent = TC_H_ROOT, .kind = "noqueue",
    };
    struct qdisc_spec s;
    struct cats_nl_qdisc q;
    struct msg m;

    s = good;
    s.kind = NULL;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   ENOMSG, "no TCA_KIND");
    msg_free(&m);

    s = good;
    s.no_stats2 = true;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   ENOMSG, "no TCA_STATS2");
    msg_free(&m);

    s = good;
    s.no_basic = true;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   ENOMSG, "TCA_STATS_BASIC");
    msg_free(&m);

    s = good;
    s.no_queue = true;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   ENOMSG, "TCA_STATS_QUEUE");
    msg_free(&m);

    s = good;
    s.basic_len = 8;
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   EINVAL, "TCA_STATS_BASIC is 8 bytes");
    msg_free(&m);

    s = good;
    s.kind = "a-kind-too-long-for-tc";
    m = build_qdisc(&s);
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   EINVAL, "TCA_KIND must be");
    msg_free(&m);

    /* The nest's last attribute truncated: the nest and the message are
     * cut to end inside TCA_STATS_QUEUE. */
    s = good;
    m = build_qdisc(&s);
    for (size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct tcmsg));
         off + NLA_HDRLEN <= m.size; ) {
        struct nlattr a;

        memcpy(&a, m.data + off, sizeof a);
        if ((a.nla_type & NLA_TYPE_MASK) == TCA_STATS2) {
            /* The last attribute: the message ends with the nest. */
            assert_int_equal(off + a.nla_len, m.size);
            a.nla_len -= 4;
            memcpy(m.data + off, &a, sizeof a);
            msg_truncate(&m, m.size - 4);
            break;
        }
        off += NLA_ALIGN(a.nla_len);
    }
    assert_refused(cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_),
                   EBADMSG, "claims");
    msg_free(&m);

    /* Truncated anywhere: refused, never read past the end (ASan would
     * see it in the fuzz target; here the error is what counts). */
    s = good;
    m = build_qdisc(&s);
    size_t full = m.size;
    for (size_t cut = full - 1; cut > NLMSG_HDRLEN + 12; cut--) {
        char *error_msg_;
        int error;

        msg_truncate(&m, cut);
        error = cats_nl_parse_qdisc(m.data, m.size, &q, &error_msg_);
        assert_true(error == EBADMSG || error == ENOMSG);
        free(error_msg_);
    }
    msg_free(&m);
}

/* 3. DCB PFC. */

static void
test_dcb_pfc(void **state OVS_UNUSED)
{
    struct ieee_pfc raw;
    struct cats_nl_pfc pfc;
    struct msg m;

    pfc_fill(&raw, 0x18, 100);
    m = build_pfc("eth2", &raw, sizeof raw, DCB_CMD_IEEE_GET, true);
    assert_parsed(cats_nl_parse_dcb_pfc(m.data, m.size, &pfc, &error_msg_));
    assert_string_equal(pfc.ifname, "eth2");
    assert_int_equal(pfc.pfc_cap, 8);
    assert_int_equal(pfc.pfc_en, 0x18);
    assert_int_equal(pfc.delay, 32);
    for (int p = 0; p < 8; p++) {
        assert_int_equal(pfc.requests[p], 100 + 10 * p);
        assert_int_equal(pfc.indications[p], 100 + 10 * p + 1);
    }
    msg_free(&m);

    /* A short struct ieee_pfc. */
    m = build_pfc("eth2", &raw, sizeof raw - 8, DCB_CMD_IEEE_GET, true);
    assert_refused(cats_nl_parse_dcb_pfc(m.data, m.size, &pfc, &error_msg_),
                   EINVAL, "DCB_ATTR_IEEE_PFC is 128 bytes");
    msg_free(&m);

    /* DCB without PFC: "not supported", with the device named. */
    m = build_pfc("eth2", NULL, 0, DCB_CMD_IEEE_GET, true);
    assert_refused(cats_nl_parse_dcb_pfc(m.data, m.size, &pfc, &error_msg_),
                   EOPNOTSUPP, "does not report PFC");
    assert_string_equal(pfc.ifname, "eth2");
    msg_free(&m);

    m = build_pfc("eth2", NULL, 0, DCB_CMD_IEEE_GET, false);
    assert_refused(cats_nl_parse_dcb_pfc(m.data, m.size, &pfc, &error_msg_),
                   ENOMSG, "no DCB_ATTR_IEEE");
    msg_free(&m);

    m = build_pfc(NULL, &raw, sizeof raw, DCB_CMD_IEEE_GET, true);
    assert_refused(cats_nl_parse_dcb_pfc(m.data, m.size, &pfc, &error_msg_),
                   ENOMSG, "no DCB_ATTR_IFNAME");
    msg_free(&m);

    m = build_pfc("eth2", &raw, sizeof raw, DCB_CMD_GSTATE, true);
    assert_refused(cats_nl_parse_dcb_pfc(m.data, m.size, &pfc, &error_msg_),
                   EINVAL, "expected DCB_CMD_IEEE_GET");
    msg_free(&m);

    /* Cut inside the IEEE nest. */
    m = build_pfc("eth2", &raw, sizeof raw, DCB_CMD_IEEE_GET, true);
    msg_truncate(&m, m.size - 20);
    assert_refused(cats_nl_parse_dcb_pfc(m.data, m.size, &pfc, &error_msg_),
                   EBADMSG, "claims");
    msg_free(&m);
}

/* 4. ethtool pause. */

static void
test_pause(void **state OVS_UNUSED)
{
    struct pause_spec s = {
        .ifindex = 6, .name = "eth3", .stats = true, .tx = true, .rx = true,
    };
    struct cats_nl_pause p;
    struct msg m;

    m = build_pause(&s);
    assert_parsed(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                      &error_msg_));
    assert_int_equal(p.ifindex, 6);
    assert_string_equal(p.ifname, "eth3");
    assert_true(p.autoneg);
    assert_true(p.rx);
    assert_false(p.tx);
    assert_true(p.has_tx_frames);
    assert_true(p.has_rx_frames);
    assert_int_equal(p.tx_frames, 1234);
    assert_int_equal(p.rx_frames, 5678);
    msg_free(&m);

    /* A driver that counts nothing, or one direction only. */
    s.stats = false;
    m = build_pause(&s);
    assert_parsed(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                      &error_msg_));
    assert_false(p.has_tx_frames);
    assert_false(p.has_rx_frames);
    msg_free(&m);
    s.stats = true;
    s.tx = false;
    m = build_pause(&s);
    assert_parsed(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                      &error_msg_));
    assert_false(p.has_tx_frames);
    assert_true(p.has_rx_frames);
    msg_free(&m);

    /* Wrong lengths. */
    s.tx = true;
    s.tx_len = 4;
    m = build_pause(&s);
    assert_refused(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                       &error_msg_),
                   EINVAL, "ETHTOOL_A_PAUSE_STAT_TX_FRAMES is 4 bytes");
    msg_free(&m);
    s.tx_len = 0;
    s.autoneg_len = 4;
    m = build_pause(&s);
    assert_refused(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                       &error_msg_),
                   EINVAL, "ETHTOOL_A_PAUSE_AUTONEG is 4 bytes, expected 1");
    msg_free(&m);
    s.autoneg_len = 0;

    /* Missing header pieces. */
    s.no_header = true;
    m = build_pause(&s);
    assert_refused(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                       &error_msg_),
                   ENOMSG, "no ETHTOOL_A_PAUSE_HEADER");
    msg_free(&m);
    s.no_header = false;
    s.no_index = true;
    m = build_pause(&s);
    assert_refused(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                       &error_msg_),
                   ENOMSG, "no ETHTOOL_A_HEADER_DEV_INDEX");
    msg_free(&m);
    s.no_index = false;
    s.ifindex = 0;
    m = build_pause(&s);
    assert_refused(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                       &error_msg_),
                   EINVAL, "out of range");
    msg_free(&m);
    s.ifindex = 6;

    /* Another family's message, another command. */
    m = build_pause(&s);
    assert_refused(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY + 1,
                                       &p, &error_msg_),
                   EINVAL, "message type 27, expected 28");
    msg_free(&m);
    s.cmd = ETHTOOL_MSG_LINKINFO_GET_REPLY;
    m = build_pause(&s);
    assert_refused(cats_nl_parse_pause(m.data, m.size, ETHTOOL_FAMILY, &p,
                                       &error_msg_),
                   EINVAL, "command");
    msg_free(&m);
}

/* 5. Host side. */

static const char netstat_text[] =
    "TcpExt: SyncookiesSent TCPDelivered TCPDeliveredCE TCPAckCompressed\n"
    "TcpExt: 0 1000 25 3\n"
    "IpExt: InNoRoutes InNoECTPkts InECT1Pkts InECT0Pkts InCEPkts\n"
    "IpExt: 0 900 1 80 19\n"
    "MPTcpExt: MPCapableSYNRX\n"
    "MPTcpExt: 0\n";

static void
test_netstat(void **state OVS_UNUSED)
{
    struct cats_nl_netstat ns;

    assert_parsed(cats_nl_parse_netstat(netstat_text, strlen(netstat_text),
                                        &ns, &error_msg_));
    assert_int_equal(ns.present, (1u << CATS_N_NETSTAT) - 1);
    assert_int_equal(ns.value[CATS_NETSTAT_TCP_DELIVERED], 1000);
    assert_int_equal(ns.value[CATS_NETSTAT_TCP_DELIVERED_CE], 25);
    assert_int_equal(ns.value[CATS_NETSTAT_IP_IN_NO_ECT], 900);
    assert_int_equal(ns.value[CATS_NETSTAT_IP_IN_ECT1], 1);
    assert_int_equal(ns.value[CATS_NETSTAT_IP_IN_ECT0], 80);
    assert_int_equal(ns.value[CATS_NETSTAT_IP_IN_CE], 19);

    /* An older kernel without the IpExt ECN counters, no final newline. */
    static const char old[] = "TcpExt: TCPDeliveredCE\n"
                              "TcpExt: 18446744073709551615";
    assert_parsed(cats_nl_parse_netstat(old, strlen(old), &ns, &error_msg_));
    assert_int_equal(ns.present, 1u << CATS_NETSTAT_TCP_DELIVERED_CE);
    assert_true(ns.value[CATS_NETSTAT_TCP_DELIVERED_CE] == UINT64_MAX);

    assert_parsed(cats_nl_parse_netstat("", 0, &ns, &error_msg_));
    assert_int_equal(ns.present, 0);
}

static void
test_netstat_malformed(void **state OVS_UNUSED)
{
    static const struct {
        const char *text;
        const char *needle;
    } bad[] = {
        { "TcpExt: A B\nTcpExt: 1\n", "names has more fields" },
        { "TcpExt: A\nTcpExt: 1 2\n", "values has more fields" },
        { "TcpExt: TCPDeliveredCE\nTcpExt: 12x\n", "not a decimal" },
        { "TcpExt: TCPDeliveredCE\nTcpExt: -1\n", "not a decimal" },
        { "TcpExt: TCPDeliveredCE\nTcpExt: 18446744073709551616\n",
          "not a decimal" },
        { "TcpExt: A\nIpExt: 1\n", "does not match" },
        { "TcpExt: A\n", "names without values" },
        { "TcpExt: A\n\nTcpExt: 1\n", "names without values" },
        { "TcpExt A\nTcpExt 1\n", "no \"Prefix:\"" },
        { "TcpExt: TCPDeliveredCE TCPDeliveredCE\nTcpExt: 1 2\n",
          "appears twice" },
    };
    struct cats_nl_netstat ns;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_refused(cats_nl_parse_netstat(bad[i].text,
                                             strlen(bad[i].text), &ns,
                                             &error_msg_),
                       EINVAL, bad[i].needle);
    }
    assert_refused(cats_nl_parse_netstat("TcpExt: A\0\nTcpExt: 1\n", 20,
                                         &ns, &error_msg_),
                   EINVAL, "NUL");

    /* Absurdly many fields. */
    struct ds names = DS_EMPTY_INITIALIZER, values = DS_EMPTY_INITIALIZER;
    ds_put_cstr(&names, "TcpExt:");
    ds_put_cstr(&values, "TcpExt:");
    for (int i = 0; i < 2000; i++) {
        ds_put_format(&names, " N%d", i);
        ds_put_cstr(&values, " 0");
    }
    ds_put_format(&names, "\n%s\n", ds_cstr(&values));
    assert_refused(cats_nl_parse_netstat(ds_cstr(&names), names.length,
                                         &ns, &error_msg_),
                   E2BIG, "more than 1024 fields");
    ds_destroy(&names);
    ds_destroy(&values);
}

static void
test_counter_text(void **state OVS_UNUSED)
{
    uint64_t v;

    assert_parsed(cats_nl_parse_counter("123\n", 4, &v, &error_msg_));
    assert_int_equal(v, 123);
    assert_parsed(cats_nl_parse_counter("0", 1, &v, &error_msg_));
    assert_int_equal(v, 0);
    assert_refused(cats_nl_parse_counter("", 0, &v, &error_msg_), EINVAL,
                   "not a decimal");
    assert_refused(cats_nl_parse_counter("\n", 1, &v, &error_msg_), EINVAL,
                   "not a decimal");
    assert_refused(cats_nl_parse_counter("12 \n", 4, &v, &error_msg_),
                   EINVAL, "not a decimal");
    assert_refused(cats_nl_parse_counter("1\n\n", 3, &v, &error_msg_),
                   EINVAL, "not a decimal");
    assert_refused(cats_nl_parse_counter("99999999999999999999", 20, &v,
                                         &error_msg_),
                   EINVAL, "not a decimal");
}

/* A scratch directory tree for the RDMA reader, removed by the
 * teardown. */
struct tree {
    char *root;
};

static void
tree_mkdir(struct tree *t, const char *rel)
{
    char *path = xasprintf("%s/%s", t->root, rel);

    assert_int_equal(mkdir(path, 0700), 0);
    free(path);
}

static void
tree_write(struct tree *t, const char *rel, const char *text)
{
    free(test_write_file(t->root, rel, text, strlen(text)));
}

static int
tree_setup(void **state)
{
    struct tree *t = xzalloc(sizeof *t);

    t->root = test_mkdtemp("cats-test-nlstats");
    *state = t;
    return 0;
}

static int
tree_teardown(void **state)
{
    struct tree *t = *state;

    test_rmtree(t->root);
    free(t->root);
    free(t);
    return 0;
}

static void
test_rdma_counters(void **state)
{
    struct tree *t = *state;
    struct cats_nl_rdma_port ports[4];
    size_t n;

    tree_mkdir(t, "mlx5_1");
    tree_mkdir(t, "mlx5_1/ports");
    tree_mkdir(t, "mlx5_1/ports/1");
    tree_mkdir(t, "mlx5_1/ports/1/hw_counters");
    tree_write(t, "mlx5_1/ports/1/hw_counters/np_cnp_sent", "7\n");
    tree_mkdir(t, "mlx5_0");
    tree_mkdir(t, "mlx5_0/ports");
    tree_mkdir(t, "mlx5_0/ports/2");
    tree_mkdir(t, "mlx5_0/ports/2/hw_counters");
    tree_write(t, "mlx5_0/ports/2/hw_counters/np_cnp_sent", "11\n");
    tree_mkdir(t, "mlx5_0/ports/1");
    tree_mkdir(t, "mlx5_0/ports/1/hw_counters");
    tree_write(t, "mlx5_0/ports/1/hw_counters/np_cnp_sent", "100\n");
    tree_write(t, "mlx5_0/ports/1/hw_counters/rp_cnp_handled", "200\n");
    tree_write(t, "mlx5_0/ports/1/hw_counters/np_ecn_marked_roce_packets",
               "300\n");
    tree_write(t, "mlx5_0/ports/1/hw_counters/out_of_buffer", "9\n");
    /* A device without congestion counters, one without ports, and a
     * stray entry under ports/. */
    tree_mkdir(t, "siw0");
    tree_mkdir(t, "siw0/ports");
    tree_mkdir(t, "siw0/ports/1");
    tree_mkdir(t, "siw0/ports/1/hw_counters");
    tree_mkdir(t, "rxe0");
    tree_write(t, "mlx5_0/ports/README", "not a port\n");

    assert_parsed(cats_nl_read_rdma(t->root, ports, ARRAY_SIZE(ports), &n,
                                    &error_msg_));
    assert_int_equal(n, 3);
    assert_string_equal(ports[0].dev, "mlx5_0");
    assert_int_equal(ports[0].port, 1);
    assert_int_equal(ports[0].present,
                     (1u << CATS_RDMA_NP_CNP_SENT)
                     | (1u << CATS_RDMA_RP_CNP_HANDLED)
                     | (1u << CATS_RDMA_NP_ECN_MARKED));
    assert_int_equal(ports[0].value[CATS_RDMA_NP_CNP_SENT], 100);
    assert_int_equal(ports[0].value[CATS_RDMA_RP_CNP_HANDLED], 200);
    assert_int_equal(ports[0].value[CATS_RDMA_NP_ECN_MARKED], 300);
    assert_string_equal(ports[1].dev, "mlx5_0");
    assert_int_equal(ports[1].port, 2);
    assert_int_equal(ports[1].value[CATS_RDMA_NP_CNP_SENT], 11);
    assert_string_equal(ports[2].dev, "mlx5_1");

    /* More ports than room. */
    assert_refused(cats_nl_read_rdma(t->root, ports, 2, &n, &error_msg_),
                   E2BIG, "more than 2 RDMA ports");
    assert_int_equal(n, 0);

    /* A counter that is not a number. */
    tree_write(t, "mlx5_1/ports/1/hw_counters/rp_cnp_ignored", "lots\n");
    assert_refused(cats_nl_read_rdma(t->root, ports, ARRAY_SIZE(ports), &n,
                                     &error_msg_),
                   EINVAL, "rp_cnp_ignored: counter \"lots\"");

    /* No RDMA at all. */
    char *none = xasprintf("%s/none", t->root);
    assert_parsed(cats_nl_read_rdma(none, ports, ARRAY_SIZE(ports), &n,
                                    &error_msg_));
    assert_int_equal(n, 0);
    free(none);
}

/* 6. State. */

static int
nma_setup(void **state)
{
    struct cats_nma *nma = xmalloc(sizeof *nma);

    cats_nma_init(nma, 1000);
    *state = nma;
    return 0;
}

static int
nma_teardown(void **state)
{
    struct cats_nma *nma = *state;

    cats_nma_destroy(nma);
    free(nma);
    return 0;
}

/* Feeds a message built by the caller to 'fn', frees it, returns the
 * error. */
static int
feed_link(struct cats_nma *nma, struct msg m)
{
    int error = cats_nma_link_msg(nma, m.data, m.size);

    msg_free(&m);
    return error;
}

static int
feed_qdisc(struct cats_nma *nma, struct msg m)
{
    int error = cats_nma_qdisc_msg(nma, m.data, m.size);

    msg_free(&m);
    return error;
}

static void
dump_links(struct cats_nma *nma, struct msg *msgs, size_t n)
{
    cats_nma_links_begin(nma);
    for (size_t i = 0; i < n; i++) {
        feed_link(nma, msgs[i]);
    }
    cats_nma_links_end(nma, true);
}

static struct cats_report_telemetry
report(struct cats_nma *nma, const struct sset *ifaces)
{
    struct cats_report_telemetry t;

    assert_parsed(cats_nma_to_telemetry(nma, "host-1", ifaces, &t,
                                        &error_msg_));
    return t;
}

static const struct cats_report_link *
find_report_link(const struct cats_report_telemetry *t, const char *id)
{
    for (size_t i = 0; i < t->n_links; i++) {
        if (!strcmp(t->links[i].id, id)) {
            return &t->links[i];
        }
    }
    return NULL;
}

static void
test_state_link_dumps(void **state)
{
    struct cats_nma *nma = *state;
    struct cats_nma_link before;
    struct msg bad;

    struct msg first[] = { build_link(2, "eth0", 100),
                           build_link_ex(1, "lo", 24 * 8, 5,
                                         IFF_UP | IFF_LOOPBACK) };
    dump_links(nma, first, ARRAY_SIZE(first));
    assert_int_equal(nma->n_links, 2);
    assert_int_equal(nma->links[0].nl.ifindex, 1);
    assert_int_equal(nma->links[1].nl.ifindex, 2);
    assert_int_equal(nma->errors[CATS_NMA_SRC_LINK], 0);
    before = nma->links[1];

    /* A refused message about eth0 (a short IFLA_STATS64) is counted and
     * changes nothing; nor does the dump it was in forget eth0. */
    cats_nma_links_begin(nma);
    bad = build_link_ex(2, "eth0", 64, 999, IFF_UP);
    assert_int_equal(feed_link(nma, bad), EINVAL);
    assert_int_equal(feed_link(nma, build_link_ex(1, "lo", 24 * 8, 6,
                                                  IFF_LOOPBACK)), 0);
    cats_nma_links_end(nma, true);
    assert_int_equal(nma->errors[CATS_NMA_SRC_LINK], 1);
    assert_non_null(strstr(nma->last_error, "IFLA_STATS64 is 64 bytes"));
    assert_int_equal(nma->n_links, 2);
    assert_memory_equal(&nma->links[1].nl, &before.nl, sizeof before.nl);

    /* Truncated too: counted, nothing changes. */
    bad = build_link(2, "eth0", 999);
    msg_truncate(&bad, bad.size - 9);
    assert_int_equal(feed_link(nma, bad), EBADMSG);
    assert_int_equal(nma->errors[CATS_NMA_SRC_LINK], 2);
    assert_memory_equal(&nma->links[1].nl, &before.nl, sizeof before.nl);

    /* An interrupted dump forgets nothing either... */
    cats_nma_links_begin(nma);
    feed_link(nma, build_link(1, "lo", 7));
    cats_nma_links_end(nma, false);
    assert_int_equal(nma->n_links, 2);

    /* ... a complete one forgets what it did not mention. */
    struct msg only_lo[] = { build_link(1, "lo", 8) };
    dump_links(nma, only_lo, 1);
    assert_int_equal(nma->n_links, 1);
    assert_null(cats_nma_find_link(nma, 2));
    assert_int_equal(nma->errors[CATS_NMA_SRC_LINK], 2);
}

static void
test_state_bounds_interfaces(void **state)
{
    struct cats_nma *nma = *state;

    cats_nma_links_begin(nma);
    for (int i = 1; i <= CATS_NL_MAX_LINKS; i++) {
        char name[IFNAMSIZ];

        snprintf(name, sizeof name, "veth%d", i);
        assert_int_equal(feed_link(nma, build_link(i, name, 0)), 0);
    }
    assert_int_equal(feed_link(nma, build_link(100000, "one-more", 0)),
                     E2BIG);
    cats_nma_links_end(nma, true);
    assert_int_equal(nma->n_links, CATS_NL_MAX_LINKS);
    assert_int_equal(nma->errors[CATS_NMA_SRC_LINK], 1);
    assert_non_null(strstr(nma->last_error, "more than 256 interfaces"));
}

static void
test_state_qdisc_wrap_is_not_reset(void **state)
{
    struct cats_nma *nma = *state;
    struct cats_report_telemetry t;
    const struct cats_report_link *l;

    struct msg links[] = { build_link_tx(4, "eth0", 100, 1000, 0) };
    dump_links(nma, links, 1);
    cats_nma_qdiscs_begin(nma);
    feed_qdisc(nma, build_fq_codel(4, 0x80010000, TC_H_ROOT, 1000,
                                   0xfffffff0, 0xffffffff, 100));
    cats_nma_qdiscs_end(nma, true);
    t = report(nma, NULL);
    l = find_report_link(&t, "eth0");
    assert_non_null(l);
    assert_int_equal(t.seq, 1);
    assert_int_equal(t.counters_epoch, 1000);
    assert_int_equal(l->ecn_marked_packets, 0xfffffff0);
    assert_int_equal(l->drops, 0xffffffff);
    assert_true(l->has_queue_depth);
    assert_int_equal(l->queue_depth_bytes, 100);
    cats_report_telemetry_destroy(&t);

    /* The 32-bit counters wrapped while the 64-bit byte count grew: they
     * go on counting past 2^32, in the same epoch. */
    cats_nma_qdiscs_begin(nma);
    feed_qdisc(nma, build_fq_codel(4, 0x80010000, TC_H_ROOT, 2000, 0x10, 1,
                                   0));
    cats_nma_qdiscs_end(nma, true);
    t = report(nma, NULL);
    l = find_report_link(&t, "eth0");
    assert_int_equal(t.seq, 2);
    assert_int_equal(t.counters_epoch, 1000);
    assert_true(l->ecn_marked_packets == 0x100000010ULL);
    assert_true(l->drops == 0x100000001ULL);
    cats_report_telemetry_destroy(&t);

    /* The byte count went backwards: the qdisc was reset, the counters
     * restart from the kernel's values, and the epoch changes once. */
    cats_nma_qdiscs_begin(nma);
    feed_qdisc(nma, build_fq_codel(4, 0x80010000, TC_H_ROOT, 500, 3, 0, 0));
    cats_nma_qdiscs_end(nma, true);
    t = report(nma, NULL);
    l = find_report_link(&t, "eth0");
    assert_int_equal(t.counters_epoch, 1001);
    assert_int_equal(l->ecn_marked_packets, 3);
    cats_report_telemetry_destroy(&t);
    t = report(nma, NULL);
    assert_int_equal(t.seq, 4);
    assert_int_equal(t.counters_epoch, 1001);
    assert_int_equal(nma->n_resets, 1);
    cats_report_telemetry_destroy(&t);

    /* The qdisc replaced by another kind at the same handle: a reset. */
    struct tc_red_xstats red = { .marked = 1 };
    struct qdisc_spec s = { .ifindex = 4, .handle = 0x80010000,
                            .parent = TC_H_ROOT, .kind = "red",
                            .bytes = 600, .app = &red,
                            .app_len = sizeof red };
    cats_nma_qdiscs_begin(nma);
    feed_qdisc(nma, build_qdisc(&s));
    cats_nma_qdiscs_end(nma, true);
    t = report(nma, NULL);
    assert_int_equal(t.counters_epoch, 1002);
    cats_report_telemetry_destroy(&t);
}

static void
test_state_link_reset_changes_epoch(void **state)
{
    struct cats_nma *nma = *state;
    struct cats_report_telemetry t;

    struct msg a[] = { build_link_tx(4, "eth0", 100, 1000, 0) };
    dump_links(nma, a, 1);
    t = report(nma, NULL);
    assert_int_equal(t.counters_epoch, 1000);
    cats_report_telemetry_destroy(&t);

    /* Counters going backwards between two reports. */
    struct msg b[] = { build_link_tx(4, "eth0", 50, 500, 0) };
    dump_links(nma, b, 1);
    t = report(nma, NULL);
    assert_int_equal(t.counters_epoch, 1001);
    assert_int_equal(t.links[0].tx_packets, 50);
    cats_report_telemetry_destroy(&t);

    /* Growing again: same epoch. */
    struct msg c[] = { build_link_tx(4, "eth0", 60, 600, 0) };
    dump_links(nma, c, 1);
    t = report(nma, NULL);
    assert_int_equal(t.counters_epoch, 1001);
    cats_report_telemetry_destroy(&t);

    /* A reset seen between two reports, then grown past the last report:
     * the report alone could not tell, the reads did. */
    struct msg d[] = { build_link_tx(4, "eth0", 1, 10, 0) };
    struct msg e[] = { build_link_tx(4, "eth0", 500, 5000, 0) };
    dump_links(nma, d, 1);
    dump_links(nma, e, 1);
    t = report(nma, NULL);
    assert_int_equal(t.counters_epoch, 1002);
    cats_report_telemetry_destroy(&t);

    /* eth0 deleted and created again (another ifindex), bigger counters
     * from the start: another interface, another epoch. */
    struct msg f[] = { build_link_tx(9, "eth0", 900, 9000, 0) };
    dump_links(nma, f, 1);
    t = report(nma, NULL);
    assert_int_equal(t.counters_epoch, 1003);
    assert_int_equal(nma->n_resets, 3);
    cats_report_telemetry_destroy(&t);
}

static void
test_state_pfc_and_pause(void **state)
{
    struct cats_nma *nma = *state;
    const struct cats_nma_link *link;
    struct cats_report_telemetry t;
    struct ieee_pfc raw;
    struct msg m;

    struct msg links[] = { build_link(2, "eth0", 0), build_link(3, "eth1",
                                                                  0) };
    dump_links(nma, links, 2);

    pfc_fill(&raw, 0xff, 10);
    m = build_pfc("eth0", &raw, sizeof raw, DCB_CMD_IEEE_GET, true);
    assert_int_equal(cats_nma_pfc_msg(nma, 2, m.data, m.size), 0);
    link = cats_nma_find_link(nma, 2);
    assert_int_equal(link->pfc_support, CATS_NMA_SUPPORTED);
    assert_int_equal(link->pfc.requests[7], 80);

    /* A reply about another device, or for an unknown interface. */
    assert_int_equal(cats_nma_pfc_msg(nma, 3, m.data, m.size), EINVAL);
    assert_int_equal(cats_nma_pfc_msg(nma, 42, m.data, m.size), EINVAL);
    assert_int_equal(nma->errors[CATS_NMA_SRC_PFC], 2);
    assert_int_equal(cats_nma_find_link(nma, 3)->pfc_support,
                     CATS_NMA_UNKNOWN);
    msg_free(&m);

    /* eth1 has DCB but no PFC: not supported, not an error. */
    m = build_pfc("eth1", NULL, 0, DCB_CMD_IEEE_GET, true);
    assert_int_equal(cats_nma_pfc_msg(nma, 3, m.data, m.size), EOPNOTSUPP);
    assert_int_equal(cats_nma_find_link(nma, 3)->pfc_support,
                     CATS_NMA_UNSUPPORTED);
    assert_int_equal(nma->errors[CATS_NMA_SRC_PFC], 2);
    msg_free(&m);

    t = report(nma, NULL);
    assert_int_equal(t.links[0].n_pfc, 8);
    assert_int_equal(t.links[1].n_pfc, 0);
    cats_report_telemetry_destroy(&t);

    /* PFC counters going backwards: another epoch. */
    pfc_fill(&raw, 0xff, 0);
    m = build_pfc("eth0", &raw, sizeof raw, DCB_CMD_IEEE_GET, true);
    assert_int_equal(cats_nma_pfc_msg(nma, 2, m.data, m.size), 0);
    msg_free(&m);
    t = report(nma, NULL);
    assert_int_equal(t.counters_epoch, 1001);
    cats_report_telemetry_destroy(&t);

    /* Pause replies. */
    struct pause_spec ps = { .ifindex = 2, .name = "eth0", .stats = true,
                             .tx = true, .rx = true };
    m = build_pause(&ps);
    assert_int_equal(cats_nma_pause_msg(nma, 2, m.data, m.size,
                                        ETHTOOL_FAMILY), 0);
    assert_int_equal(cats_nma_find_link(nma, 2)->pause.rx_frames, 5678);
    assert_int_equal(cats_nma_pause_msg(nma, 3, m.data, m.size,
                                        ETHTOOL_FAMILY), EINVAL);
    assert_int_equal(nma->errors[CATS_NMA_SRC_PAUSE], 1);
    msg_free(&m);
    cats_nma_set_unsupported(nma, 3, CATS_NMA_SRC_PAUSE);
    assert_int_equal(cats_nma_find_link(nma, 3)->pause_support,
                     CATS_NMA_UNSUPPORTED);
}

/* Encodes 't' as a TelemetryReport and decodes it with the agent API's
 * own decoder: what this module makes, the controller accepts. */
static void
assert_accepted_by_agent_api(const struct cats_report_telemetry *t)
{
    Cats__V1__TelemetryReport pb = CATS__V1__TELEMETRY_REPORT__INIT;
    Cats__V1__LinkTelemetry *links = xcalloc(MAX(t->n_links, 1),
                                             sizeof *links);
    Cats__V1__LinkTelemetry **lp = xcalloc(MAX(t->n_links, 1), sizeof *lp);
    Cats__V1__PfcPriority pfc[CATS_REPORT_MAX_LINKS][CATS_PFC_PRIORITIES];
    Cats__V1__PfcPriority *pp[CATS_REPORT_MAX_LINKS][CATS_PFC_PRIORITIES];
    struct cats_report_policy policy;
    struct cats_report_telemetry back;
    uint8_t *buf;
    size_t len;

    assert_true(t->n_links <= CATS_REPORT_MAX_LINKS);
    pb.source_id = (char *) t->source_id;
    pb.seq = t->seq;
    pb.counters_epoch = t->counters_epoch;
    pb.n_links = t->n_links;
    pb.links = lp;
    for (size_t i = 0; i < t->n_links; i++) {
        const struct cats_report_link *l = &t->links[i];
        Cats__V1__LinkTelemetry init = CATS__V1__LINK_TELEMETRY__INIT;

        links[i] = init;
        links[i].id = (char *) l->id;
        links[i].kind = CATS__V1__LINK_KIND__LINK_KIND_LINK;
        links[i].tx_packets = l->tx_packets;
        links[i].tx_bytes = l->tx_bytes;
        links[i].ecn_marked_packets = l->ecn_marked_packets;
        links[i].drops = l->drops;
        if (l->has_queue_depth) {
            links[i]._queue_depth_bytes_case =
                CATS__V1__LINK_TELEMETRY___QUEUE_DEPTH_BYTES_QUEUE_DEPTH_BYTES;
            links[i].queue_depth_bytes = l->queue_depth_bytes;
        }
        links[i].n_pfc = l->n_pfc;
        links[i].pfc = pp[i];
        for (size_t j = 0; j < l->n_pfc; j++) {
            Cats__V1__PfcPriority pinit = CATS__V1__PFC_PRIORITY__INIT;

            pfc[i][j] = pinit;
            pfc[i][j].priority = l->pfc[j].priority;
            pfc[i][j].rx_pause_frames = l->pfc[j].rx_pause_frames;
            pfc[i][j].tx_pause_frames = l->pfc[j].tx_pause_frames;
            pp[i][j] = &pfc[i][j];
        }
        lp[i] = &links[i];
    }
    len = cats__v1__telemetry_report__get_packed_size(&pb);
    buf = xmalloc(len);
    cats__v1__telemetry_report__pack(&pb, buf);

    cats_report_policy_init(&policy);
    assert_parsed(cats_report_decode_telemetry(buf, len, &policy, &back,
                                               &error_msg_));
    assert_int_equal(back.n_links, t->n_links);
    assert_int_equal(back.counters_epoch, t->counters_epoch);
    for (size_t i = 0; i < t->n_links; i++) {
        assert_string_equal(back.links[i].id, t->links[i].id);
        assert_int_equal(back.links[i].ecn_marked_packets,
                         t->links[i].ecn_marked_packets);
        assert_int_equal(back.links[i].n_pfc, t->links[i].n_pfc);
        assert_int_equal(back.links[i].has_queue_depth,
                         t->links[i].has_queue_depth);
    }
    cats_report_telemetry_destroy(&back);
    cats_report_policy_destroy(&policy);
    free(buf);
    free(links);
    free(lp);
}

static void
test_telemetry_report(void **state)
{
    struct cats_nma *nma = *state;
    struct sset only_lo = SSET_INITIALIZER(&only_lo);
    const struct cats_report_link *l;
    struct cats_report_telemetry t;
    struct ieee_pfc raw;
    struct msg m;

    struct msg links[] = {
        build_link_ex(1, "lo", 24 * 8, 0, IFF_UP | IFF_LOOPBACK),
        build_link_tx(2, "eth0", 1000, 64000, 5),
        build_link(3, "we!rd", 0),
        build_link(4, "eth1", 0),
    };
    dump_links(nma, links, ARRAY_SIZE(links));

    /* eth0: mq at the root (its backlog and drops sum its queues), an
     * fq_codel per queue (the ECN marks); eth1: red at the root. */
    struct qdisc_spec mq = { .ifindex = 2, .handle = 0x10000,
                             .parent = TC_H_ROOT, .kind = "mq",
                             .queue = { .backlog = 3000, .drops = 7 } };
    struct tc_red_xstats red = { .marked = 5 };
    struct qdisc_spec rs = { .ifindex = 4, .handle = 0x20000,
                             .parent = TC_H_ROOT, .kind = "red",
                             .app = &red, .app_len = sizeof red };
    cats_nma_qdiscs_begin(nma);
    feed_qdisc(nma, build_qdisc(&mq));
    feed_qdisc(nma, build_fq_codel(2, 0, 0x10001, 10, 10, 3, 1000));
    feed_qdisc(nma, build_fq_codel(2, 0, 0x10002, 10, 20, 4, 2000));
    feed_qdisc(nma, build_qdisc(&rs));
    cats_nma_qdiscs_end(nma, true);
    assert_int_equal(nma->n_qdiscs, 4);

    memset(&raw, 0, sizeof raw);
    raw.pfc_en = 1u << 3;
    raw.requests[3] = 4;
    raw.indications[3] = 6;
    raw.indications[6] = 2;         /* Counted, though not enabled now. */
    m = build_pfc("eth0", &raw, sizeof raw, DCB_CMD_IEEE_GET, true);
    assert_int_equal(cats_nma_pfc_msg(nma, 2, m.data, m.size), 0);
    msg_free(&m);

    /* Loopbacks are left out, and names the agent API would refuse. */
    t = report(nma, NULL);
    assert_string_equal(t.source_id, "host-1");
    assert_int_equal(t.n_links, 2);
    assert_string_equal(t.links[0].id, "eth0");
    assert_string_equal(t.links[1].id, "eth1");
    l = &t.links[0];
    assert_int_equal(l->kind, CATS_LINK_KIND_LINK);
    assert_int_equal(l->tx_packets, 1000);
    assert_int_equal(l->tx_bytes, 64000);
    assert_int_equal(l->ecn_marked_packets, 30);
    assert_int_equal(l->drops, 5 + 7);
    assert_true(l->has_queue_depth);
    assert_int_equal(l->queue_depth_bytes, 3000);
    assert_int_equal(l->n_pfc, 2);
    assert_int_equal(l->pfc[0].priority, 3);
    assert_int_equal(l->pfc[0].rx_pause_frames, 6);
    assert_int_equal(l->pfc[0].tx_pause_frames, 4);
    assert_int_equal(l->pfc[1].priority, 6);
    assert_int_equal(l->pfc[1].rx_pause_frames, 2);
    l = &t.links[1];
    assert_int_equal(l->ecn_marked_packets, 5);
    assert_true(l->has_queue_depth);
    assert_int_equal(l->n_pfc, 0);
    assert_accepted_by_agent_api(&t);
    cats_report_telemetry_destroy(&t);

    /* Named interfaces only, loopback included when named; no qdisc: no
     * queue depth. */
    sset_add(&only_lo, "lo");
    t = report(nma, &only_lo);
    assert_int_equal(t.n_links, 1);
    assert_string_equal(t.links[0].id, "lo");
    assert_false(t.links[0].has_queue_depth);
    assert_int_equal(t.seq, 2);
    assert_accepted_by_agent_api(&t);
    cats_report_telemetry_destroy(&t);
    sset_destroy(&only_lo);

    assert_refused(cats_nma_to_telemetry(nma, "bad id", NULL, &t,
                                         &error_msg_),
                   EINVAL, "source id");
    assert_int_equal(nma->seq, 2);
}

/* Live: this machine's kernel.  Nothing is created; each test skips when
 * the kernel does not answer. */

static struct cats_nl_sock *
live_sock(void)
{
    struct cats_nl_sock *s;
    char *error_msg;

    if (cats_nl_sock_open(&s, &error_msg)) {
        print_message("no netlink here (%s): skipped\n", error_msg);
        free(error_msg);
        return NULL;
    }
    return s;
}

static void
test_live_lo_counters_do_not_decrease(void **state OVS_UNUSED)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(9) };
    struct cats_nl_sock *s = live_sock();
    struct cats_nl_link a, b;
    char *error_msg;
    int fd;

    if (!s) {
        skip();
    }
    if (cats_nl_get_link(s, "lo", &a, &error_msg)) {
        print_message("RTM_GETLINK lo: %s: skipped\n", error_msg);
        free(error_msg);
        cats_nl_sock_close(s);
        skip();
    }
    assert_string_equal(a.name, "lo");
    assert_true(a.flags & IFF_LOOPBACK);

    /* One datagram to the discard port, so that the second read has
     * something more to count. */
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *) &sin,
                            sizeof sin), 1);
    close(fd);

    assert_parsed(cats_nl_get_link(s, "lo", &b, &error_msg_));
    assert_int_equal(b.ifindex, a.ifindex);
    assert_true(b.stats.tx_packets >= a.stats.tx_packets + 1);
    assert_true(b.stats.rx_packets >= a.stats.rx_packets + 1);
    assert_true(b.stats.tx_bytes > a.stats.tx_bytes);
    assert_true(b.stats.tx_dropped >= a.stats.tx_dropped);

    assert_refused(cats_nl_get_link(s, "no-such-if-x", &b, &error_msg_),
                   ENODEV, "RTM_GETLINK");
    cats_nl_sock_close(s);
}

static void
test_live_poll_and_not_supported(void **state)
{
    struct cats_nma *nma = *state;
    struct cats_nl_sock *s = live_sock();
    struct cats_report_telemetry t;
    struct cats_nl_pause pause;
    struct cats_nl_pfc pfc;
    bool have_lo = false;

    if (!s) {
        skip();
    }
    assert_parsed(cats_nma_poll(nma, s, NULL, &error_msg_));
    assert_parsed(cats_nma_poll(nma, s, NULL, &error_msg_));
    for (size_t i = 0; i < nma->n_links; i++) {
        const struct cats_nma_link *link = &nma->links[i];

        have_lo |= !strcmp(link->nl.name, "lo");
        if (!(link->nl.flags & IFF_LOOPBACK)) {
            /* Asked once, answered: never left unknown. */
            assert_int_not_equal(link->pfc_support, CATS_NMA_UNKNOWN);
            assert_int_not_equal(link->pause_support, CATS_NMA_UNKNOWN);
        }
    }
    assert_true(have_lo);
    for (int i = 0; i < CATS_NMA_N_SOURCES; i++) {
        if (nma->errors[i]) {
            fail_msg("%s: %"PRIu64" errors, last: %s",
                     cats_nma_source_name(i), nma->errors[i],
                     nma->last_error);
        }
    }
    t = report(nma, NULL);
    assert_accepted_by_agent_api(&t);
    cats_report_telemetry_destroy(&t);

    /* The loopback has neither DCB nor pause parameters: a clear "not
     * supported", not an error. */
    assert_refused(cats_nl_get_pfc(s, "lo", &pfc, &error_msg_), EOPNOTSUPP,
                   "RTM_GETDCB");
    assert_refused(cats_nl_get_pause(s, "lo", &pause, &error_msg_),
                   EOPNOTSUPP, "");
    cats_nl_sock_close(s);
}

static void
test_live_netstat(void **state OVS_UNUSED)
{
    struct cats_nl_netstat ns;
    char buf[65536];
    size_t n;
    FILE *f;

    f = fopen("/proc/net/netstat", "r");
    if (!f) {
        skip();
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n < sizeof buf);
    assert_parsed(cats_nl_parse_netstat(buf, n, &ns, &error_msg_));
    if (memmem(buf, n, " TCPDeliveredCE", 15)) {
        assert_true(ns.present & (1u << CATS_NETSTAT_TCP_DELIVERED_CE));
        assert_true(ns.value[CATS_NETSTAT_TCP_DELIVERED]
                    >= ns.value[CATS_NETSTAT_TCP_DELIVERED_CE]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_msg_splits_and_refuses_overruns),
        cmocka_unit_test(test_error_message_with_extack),
        cmocka_unit_test(test_link_good),
        cmocka_unit_test(test_link_truncated),
        cmocka_unit_test(test_link_wrong_lengths),
        cmocka_unit_test(test_link_missing_and_wrong),
        cmocka_unit_test(test_qdisc_fq_codel),
        cmocka_unit_test(test_qdisc_red_and_fq_pie),
        cmocka_unit_test(test_qdisc_basic_stats),
        cmocka_unit_test(test_qdisc_missing_and_malformed),
        cmocka_unit_test(test_dcb_pfc),
        cmocka_unit_test(test_pause),
        cmocka_unit_test(test_netstat),
        cmocka_unit_test(test_netstat_malformed),
        cmocka_unit_test(test_counter_text),
        cmocka_unit_test_setup_teardown(test_rdma_counters, tree_setup,
                                        tree_teardown),
        cmocka_unit_test_setup_teardown(test_state_link_dumps, nma_setup,
                                        nma_teardown),
        cmocka_unit_test_setup_teardown(test_state_bounds_interfaces,
                                        nma_setup, nma_teardown),
        cmocka_unit_test_setup_teardown(test_state_qdisc_wrap_is_not_reset,
                                        nma_setup, nma_teardown),
        cmocka_unit_test_setup_teardown(test_state_link_reset_changes_epoch,
                                        nma_setup, nma_teardown),
        cmocka_unit_test_setup_teardown(test_state_pfc_and_pause, nma_setup,
                                        nma_teardown),
        cmocka_unit_test_setup_teardown(test_telemetry_report, nma_setup,
                                        nma_teardown),
        cmocka_unit_test(test_live_lo_counters_do_not_decrease),
        cmocka_unit_test_setup_teardown(test_live_poll_and_not_supported,
                                        nma_setup, nma_teardown),
        cmocka_unit_test(test_live_netstat),
    };

    return cmocka_run_group_tests_name("nlstats", tests, NULL, NULL);
}

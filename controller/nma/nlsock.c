/*
 * ovs-cats: the network metric agent's netlink I/O.  See
 * include/cats/nlstats.h.
 *
 * libnl-3 opens the sockets, builds and sends the requests, and resolves
 * the "ethtool" generic netlink family.  Replies are received here, with
 * recvmsg() into one bounded buffer, and every message goes through
 * cats_nl_next_msg() and a parser of nlstats.c: libnl's own attribute
 * parser stops silently at a truncated attribute, which is the very input
 * this module must refuse and count.
 */

#include <config.h>

#include "cats/nlstats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/dcbnl.h>
#include <linux/ethtool_netlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "sset.h"
#include "util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* The kernel builds dump replies of at most 32 KiB. */
#define RECV_BUF_SIZE (64 * 1024)

/* Bounds a reply that would never end. */
#define MAX_REPLY_MSGS 65536

struct cats_nl_sock {
    struct nl_sock *route;
    struct nl_sock *genl;       /* Opened at the first ethtool request. */
    int ethtool_family;         /* 0: not resolved yet; -1: none. */
    uint8_t *buf;
};

/* A socket's options: replies time out after a second, so that a silent
 * kernel never blocks the caller for good; extended acks give errors a
 * text ("no device matches name"). */
static void
setup_fd(struct nl_sock *sk)
{
    struct timeval tv = { .tv_sec = 1 };
    int fd = nl_socket_get_fd(sk);
    int one = 1;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
}

int
cats_nl_sock_open(struct cats_nl_sock **sp, char **errorp)
{
    struct cats_nl_sock *s = xzalloc(sizeof *s);
    int err;

    *errorp = NULL;
    *sp = NULL;
    s->route = nl_socket_alloc();
    if (!s->route) {
        free(s);
        *errorp = xstrdup("netlink: out of memory");
        return ENOMEM;
    }
    err = nl_connect(s->route, NETLINK_ROUTE);
    if (err < 0) {
        int error = errno ? errno : EIO;

        *errorp = xasprintf("netlink: cannot open an rtnetlink socket: %s",
                            nl_geterror(err));
        nl_socket_free(s->route);
        free(s);
        return error;
    }
    nl_socket_disable_auto_ack(s->route);
    setup_fd(s->route);
    s->buf = xmalloc(RECV_BUF_SIZE);
    *sp = s;
    return 0;
}

void
cats_nl_sock_close(struct cats_nl_sock *s)
{
    if (s) {
        nl_socket_free(s->route);
        if (s->genl) {
            nl_socket_free(s->genl);
        }
        free(s->buf);
        free(s);
    }
}

/* Called with each reply message that is neither NLMSG_ERROR nor
 * NLMSG_DONE. */
typedef void reply_cb(const void *msg, size_t len, void *aux);

static int
kernel_error(int errnum, const char *extack, const char *what,
             char **errorp)
{
    *errorp = xasprintf("%s: %s%s%s", what, ovs_strerror(errnum),
                        extack[0] ? ": " : "", extack);
    return errnum;
}

/* Sends 'req' on 'sk' and hands each message of the reply to 'cb'.  A
 * 'dump' reply ends with NLMSG_DONE; any other is one message or an
 * NLMSG_ERROR.  Messages of another sequence number (a late reply to an
 * earlier request that timed out) and datagrams that are not from the
 * kernel are skipped.  Sets '*interrupted' if the kernel flagged the dump
 * as inconsistent (NLM_F_DUMP_INTR). */
static int
transact(struct cats_nl_sock *s, struct nl_sock *sk, struct nl_msg *req,
         bool dump, const char *what, reply_cb *cb, void *aux,
         bool *interrupted, char **errorp)
{
    int fd = nl_socket_get_fd(sk);
    size_t n_msgs = 0;
    uint32_t seq, port;
    int err;

    *errorp = NULL;
    *interrupted = false;
    err = nl_send_auto(sk, req);
    if (err < 0) {
        *errorp = xasprintf("%s: send: %s", what, nl_geterror(err));
        return EIO;
    }
    seq = nlmsg_hdr(req)->nlmsg_seq;
    port = nl_socket_get_local_port(sk);

    for (;;) {
        struct sockaddr_nl from;
        struct iovec iov = { s->buf, RECV_BUF_SIZE };
        struct msghdr mh = {
            .msg_name = &from, .msg_namelen = sizeof from,
            .msg_iov = &iov, .msg_iovlen = 1,
        };
        const void *p;
        size_t left;
        ssize_t n;

        n = recvmsg(fd, &mh, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                *errorp = xasprintf("%s: no reply from the kernel within "
                                    "1 s", what);
                return ETIMEDOUT;
            }
            int error = errno;
            *errorp = xasprintf("%s: receive: %s", what,
                                ovs_strerror(error));
            return error;
        }
        if (mh.msg_flags & MSG_TRUNC) {
            *errorp = xasprintf("%s: reply datagram longer than %d bytes",
                                what, RECV_BUF_SIZE);
            return EMSGSIZE;
        }
        if (mh.msg_namelen < sizeof from || from.nl_pid != 0) {
            continue;               /* Not from the kernel. */
        }

        p = s->buf;
        left = n;
        for (;;) {
            const struct nlmsghdr *msg;
            struct nlmsghdr h;
            size_t len;
            int error;

            error = cats_nl_next_msg(&p, &left, &msg, &len, errorp);
            if (error) {
                return error;
            } else if (!msg) {
                break;
            }
            memcpy(&h, msg, sizeof h);
            if (h.nlmsg_seq != seq || h.nlmsg_pid != port) {
                continue;
            }
            if (++n_msgs > MAX_REPLY_MSGS) {
                *errorp = xasprintf("%s: more than %d reply messages", what,
                                    MAX_REPLY_MSGS);
                return E2BIG;
            }
            if (h.nlmsg_flags & NLM_F_DUMP_INTR) {
                *interrupted = true;
            }
            if (h.nlmsg_type == NLMSG_NOOP) {
                continue;
            } else if (h.nlmsg_type == NLMSG_OVERRUN) {
                *errorp = xasprintf("%s: netlink overrun", what);
                return ENOBUFS;
            } else if (h.nlmsg_type == NLMSG_ERROR) {
                char extack[CATS_NL_EXTACK_MAX];
                int errnum;

                error = cats_nl_parse_error(msg, len, &errnum, extack,
                                            errorp);
                if (error) {
                    return error;
                }
                return errnum ? kernel_error(errnum, extack, what, errorp)
                              : 0;
            } else if (h.nlmsg_type == NLMSG_DONE) {
                int32_t status = 0;

                /* A dump's status; negative if it failed part way. */
                if (len >= NLMSG_HDRLEN + sizeof status) {
                    memcpy(&status, (const uint8_t *) msg + NLMSG_HDRLEN,
                           sizeof status);
                }
                if (status < 0 && status >= -4095) {
                    return kernel_error(-status, "", what, errorp);
                }
                return 0;
            }
            cb(msg, len, aux);
            if (!dump) {
                return 0;
            }
        }
    }
}

static int
check_ifname(const char *name, char **errorp)
{
    size_t len = strlen(name);

    if (!len || len >= IFNAMSIZ || strchr(name, '/')) {
        *errorp = xasprintf("\"%s\" is not an interface name", name);
        return EINVAL;
    }
    return 0;
}

/* One reply parsed into a structure. */
struct one_reply {
    int (*parse)(const void *msg, size_t len, void *out, uint16_t family,
                 char **errorp);
    void *out;
    uint16_t family;
    bool got;
    int error;
    char *error_msg;
};

static void
one_reply_cb(const void *msg, size_t len, void *r_)
{
    struct one_reply *r = r_;

    if (!r->got) {
        r->got = true;
        r->error = r->parse(msg, len, r->out, r->family, &r->error_msg);
    }
}

static int
get_one(struct cats_nl_sock *s, struct nl_sock *sk, struct nl_msg *req,
        const char *what, struct one_reply *r, char **errorp)
{
    bool interrupted;
    int error;

    error = transact(s, sk, req, false, what, one_reply_cb, r, &interrupted,
                     errorp);
    nlmsg_free(req);
    if (error) {
        free(r->error_msg);
        return error;
    }
    if (!r->got) {
        *errorp = xasprintf("%s: the kernel sent no reply", what);
        return EPROTO;
    }
    *errorp = r->error_msg;
    return r->error;
}

static int
parse_link_cb(const void *msg, size_t len, void *out,
              uint16_t family OVS_UNUSED, char **errorp)
{
    return cats_nl_parse_link(msg, len, out, errorp);
}

int
cats_nl_get_link(struct cats_nl_sock *s, const char *name,
                 struct cats_nl_link *link, char **errorp)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    struct one_reply r = { .parse = parse_link_cb, .out = link };
    struct nl_msg *req;
    int error;

    error = check_ifname(name, errorp);
    if (error) {
        return error;
    }
    req = nlmsg_alloc_simple(RTM_GETLINK, 0);
    if (!req || nlmsg_append(req, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0
        || nla_put_string(req, IFLA_IFNAME, name) < 0) {
        nlmsg_free(req);
        *errorp = xstrdup("RTM_GETLINK: cannot build the request");
        return ENOMEM;
    }
    return get_one(s, s->route, req, "RTM_GETLINK", &r, errorp);
}

static void
link_dump_cb(const void *msg, size_t len, void *nma)
{
    /* Refusals are counted in 'nma'; the dump goes on. */
    cats_nma_link_msg(nma, msg, len);
}

static void
qdisc_dump_cb(const void *msg, size_t len, void *nma)
{
    cats_nma_qdisc_msg(nma, msg, len);
}

static int
dump(struct cats_nl_sock *s, struct nl_msg *req, const char *what,
     reply_cb *cb, struct cats_nma *nma, char **errorp)
{
    bool interrupted;
    int error;

    error = transact(s, s->route, req, true, what, cb, nma, &interrupted,
                     errorp);
    nlmsg_free(req);
    if (!error && interrupted) {
        *errorp = xasprintf("%s: the kernel interrupted the dump (the "
                            "table changed meanwhile)", what);
        error = EAGAIN;
    }
    return error;
}

int
cats_nl_dump_links(struct cats_nl_sock *s, struct cats_nma *nma,
                   char **errorp)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
    struct nl_msg *req;
    int error;

    req = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_DUMP);
    if (!req || nlmsg_append(req, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0) {
        nlmsg_free(req);
        *errorp = xstrdup("RTM_GETLINK: cannot build the request");
        return ENOMEM;
    }
    cats_nma_links_begin(nma);
    error = dump(s, req, "RTM_GETLINK dump", link_dump_cb, nma, errorp);
    cats_nma_links_end(nma, !error);
    return error;
}

int
cats_nl_dump_qdiscs(struct cats_nl_sock *s, struct cats_nma *nma,
                    char **errorp)
{
    struct tcmsg tcm = { .tcm_family = AF_UNSPEC };
    struct nl_msg *req;
    int error;

    /* TCA_DUMP_INVISIBLE: the default per-queue qdiscs under mq (on a
     * multiqueue NIC with net.core.default_qdisc=fq_codel, where the ECN
     * marks are) are otherwise left out of dumps. */
    req = nlmsg_alloc_simple(RTM_GETQDISC, NLM_F_DUMP);
    if (!req || nlmsg_append(req, &tcm, sizeof tcm, NLMSG_ALIGNTO) < 0
        || nla_put_flag(req, TCA_DUMP_INVISIBLE) < 0) {
        nlmsg_free(req);
        *errorp = xstrdup("RTM_GETQDISC: cannot build the request");
        return ENOMEM;
    }
    cats_nma_qdiscs_begin(nma);
    error = dump(s, req, "RTM_GETQDISC dump", qdisc_dump_cb, nma, errorp);
    cats_nma_qdiscs_end(nma, !error);
    return error;
}

/* PFC. */

static struct nl_msg *
pfc_request(const char *ifname)
{
    struct dcbmsg dcb = { .dcb_family = AF_UNSPEC, .cmd = DCB_CMD_IEEE_GET };
    struct nl_msg *req = nlmsg_alloc_simple(RTM_GETDCB, 0);

    if (!req || nlmsg_append(req, &dcb, sizeof dcb, NLMSG_ALIGNTO) < 0
        || nla_put_string(req, DCB_ATTR_IFNAME, ifname) < 0) {
        nlmsg_free(req);
        return NULL;
    }
    return req;
}

static int
parse_pfc_cb(const void *msg, size_t len, void *out,
             uint16_t family OVS_UNUSED, char **errorp)
{
    return cats_nl_parse_dcb_pfc(msg, len, out, errorp);
}

int
cats_nl_get_pfc(struct cats_nl_sock *s, const char *ifname,
                struct cats_nl_pfc *pfc, char **errorp)
{
    struct one_reply r = { .parse = parse_pfc_cb, .out = pfc };
    struct nl_msg *req;
    int error;

    error = check_ifname(ifname, errorp);
    if (error) {
        return error;
    }
    req = pfc_request(ifname);
    if (!req) {
        *errorp = xstrdup("RTM_GETDCB: cannot build the request");
        return ENOMEM;
    }
    return get_one(s, s->route, req, "RTM_GETDCB", &r, errorp);
}

/* Pause. */

/* Resolves the "ethtool" family once per socket. */
static int
ethtool_family(struct cats_nl_sock *s, char **errorp)
{
    if (!s->ethtool_family) {
        int id = -1;

        s->genl = nl_socket_alloc();
        if (s->genl && !genl_connect(s->genl)) {
            setup_fd(s->genl);
            id = genl_ctrl_resolve(s->genl, ETHTOOL_GENL_NAME);
            nl_socket_disable_auto_ack(s->genl);
        }
        s->ethtool_family = id > 0 && id <= UINT16_MAX ? id : -1;
    }
    if (s->ethtool_family < 0) {
        *errorp = xstrdup("the kernel has no \"" ETHTOOL_GENL_NAME "\" "
                          "generic netlink family (Linux 5.6 or later)");
        return EOPNOTSUPP;
    }
    return 0;
}

static struct nl_msg *
pause_request(int family, const char *ifname)
{
    struct nl_msg *req = nlmsg_alloc();
    struct nlattr *nest;

    /* ethtool's policies want NLA_F_NESTED on nests. */
    if (!req
        || !genlmsg_put(req, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0,
                        ETHTOOL_MSG_PAUSE_GET, ETHTOOL_GENL_VERSION)
        || !(nest = nla_nest_start(req, ETHTOOL_A_PAUSE_HEADER
                                        | NLA_F_NESTED))
        || nla_put_string(req, ETHTOOL_A_HEADER_DEV_NAME, ifname) < 0
        || nla_put_u32(req, ETHTOOL_A_HEADER_FLAGS, ETHTOOL_FLAG_STATS) < 0
        || nla_nest_end(req, nest) < 0) {
        nlmsg_free(req);
        return NULL;
    }
    return req;
}

static int
parse_pause_cb(const void *msg, size_t len, void *out, uint16_t family,
               char **errorp)
{
    return cats_nl_parse_pause(msg, len, family, out, errorp);
}

int
cats_nl_get_pause(struct cats_nl_sock *s, const char *ifname,
                  struct cats_nl_pause *pause, char **errorp)
{
    struct one_reply r = { .parse = parse_pause_cb, .out = pause };
    struct nl_msg *req;
    int error;

    error = check_ifname(ifname, errorp);
    if (!error) {
        error = ethtool_family(s, errorp);
    }
    if (error) {
        return error;
    }
    r.family = s->ethtool_family;
    req = pause_request(s->ethtool_family, ifname);
    if (!req) {
        *errorp = xstrdup("ETHTOOL_MSG_PAUSE_GET: cannot build the request");
        return ENOMEM;
    }
    return get_one(s, s->genl, req, "ETHTOOL_MSG_PAUSE_GET", &r, errorp);
}

/* Polling. */

struct per_link {
    struct cats_nma *nma;
    int ifindex;
    uint16_t family;
    int error;
};

static void
pfc_poll_cb(const void *msg, size_t len, void *pl_)
{
    struct per_link *pl = pl_;

    pl->error = cats_nma_pfc_msg(pl->nma, pl->ifindex, msg, len);
}

static void
pause_poll_cb(const void *msg, size_t len, void *pl_)
{
    struct per_link *pl = pl_;

    pl->error = cats_nma_pause_msg(pl->nma, pl->ifindex, msg, len,
                                   pl->family);
}

/* Asks for one per-device source of 'link'.  "Not supported" is an
 * answer, recorded once; other failures are counted. */
static void
poll_device(struct cats_nma *nma, struct cats_nl_sock *s,
            const struct cats_nma_link *link, enum cats_nma_source src)
{
    struct per_link pl = { .nma = nma, .ifindex = link->nl.ifindex };
    struct nl_msg *req;
    struct nl_sock *sk;
    bool interrupted;
    char *error_msg = NULL;
    int error;

    if (src == CATS_NMA_SRC_PFC) {
        req = pfc_request(link->nl.name);
        sk = s->route;
    } else {
        error = ethtool_family(s, &error_msg);
        if (error) {
            free(error_msg);
            cats_nma_set_unsupported(nma, pl.ifindex, src);
            return;
        }
        pl.family = s->ethtool_family;
        req = pause_request(s->ethtool_family, link->nl.name);
        sk = s->genl;
    }
    if (!req) {
        cats_nma_count_error(nma, src, xasprintf("%s: cannot build a %s "
                                                 "request", link->nl.name,
                                                 cats_nma_source_name(src)));
        return;
    }
    error = transact(s, sk, req, false, link->nl.name,
                     src == CATS_NMA_SRC_PFC ? pfc_poll_cb : pause_poll_cb,
                     &pl, &interrupted, &error_msg);
    nlmsg_free(req);
    if (error == EOPNOTSUPP || pl.error == EOPNOTSUPP) {
        /* A PFC reply without PFC, or a kernel that says so. */
        free(error_msg);
        cats_nma_set_unsupported(nma, pl.ifindex, src);
    } else if (error) {
        cats_nma_count_error(nma, src, error_msg);
    }
}

int
cats_nma_poll(struct cats_nma *nma, struct cats_nl_sock *s,
              const struct sset *only, char **errorp)
{
    int error, qerror;
    char *qmsg = NULL;

    *errorp = NULL;
    for (int i = 0; i < 3; i++) {
        free(*errorp);
        error = cats_nl_dump_links(s, nma, errorp);
        if (error != EAGAIN) {
            break;
        }
    }
    for (int i = 0; i < 3; i++) {
        free(qmsg);
        qerror = cats_nl_dump_qdiscs(s, nma, &qmsg);
        if (qerror != EAGAIN) {
            break;
        }
    }
    if (!error) {
        error = qerror;
        *errorp = qmsg;
    } else {
        free(qmsg);
    }

    for (size_t i = 0; i < nma->n_links; i++) {
        const struct cats_nma_link *link = &nma->links[i];

        if (link->nl.flags & IFF_LOOPBACK
            || (only && !sset_contains(only, link->nl.name))) {
            continue;
        }
        if (link->pfc_support != CATS_NMA_UNSUPPORTED) {
            poll_device(nma, s, link, CATS_NMA_SRC_PFC);
        }
        if (link->pause_support != CATS_NMA_UNSUPPORTED) {
            poll_device(nma, s, link, CATS_NMA_SRC_PAUSE);
        }
    }
    return error;
}

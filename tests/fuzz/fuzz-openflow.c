/*
 * libFuzzer target for the switch connection's message handlers
 * (controller/ofctrl.c and the modules its dispatcher hands messages to,
 * statctrl.c and pinctrl.c): what a switch, or anything that gets to speak
 * for it, can send to the controller.
 *
 * Each input arms a fresh ofctrl (on an unconnected rconn, as if connected
 * over OpenFlow 1.5) to await one reply, with xid ARMED_XID, and feeds it
 * messages through ofctrl_receive_for_testing():
 *
 *   byte 0, bits 0-1  the armed state (enum ofctrl_test_state): DUMP_GROUPS,
 *                     STATS, SNAPSHOT (service 1 being reweighted) or
 *                     IN_FLIGHT (ARMED_XID - 2 and - 1 are the bundle's
 *                     open and commit, ARMED_XID its barrier).
 *           bit 2     xid fix-up: each message's xid becomes ARMED_XID
 *                     minus the low 2 bits of its own xid, so that it
 *                     answers one of our requests.
 *           bit 3     a stream: the rest is a sequence of messages, each
 *                     as long as its header says, cut as vconn-stream does
 *                     (a length under 8 ends the connection, a message
 *                     past the end never arrives).  Otherwise the rest is
 *                     one message and its header's length is set to its
 *                     size.
 *           bit 4     keep each message's version; otherwise it is set to
 *                     OpenFlow 1.5, the negotiated one.  As vconn_recv()
 *                     does, a message of another version is dropped unless
 *                     it is a hello, an error or an echo.
 *           bit 5     also await a port-stats reply, with xid
 *                     ARMED_XID - 3.
 *           bit 6     no decider (per-connection decisions): paused
 *                     packets are resumed unpicked, ends told to nobody.
 *
 * Services 1 (VIP 10.0.0.100:80) and 2 (10.0.0.101:80) are listed for
 * per-connection decisions; unless bit 6 is set, the decider picks
 * 10.0.0.12:80 for service 1 and declines service 2.
 *
 * Besides crashes and sanitizer reports (leaks included), it checks the
 * handlers' contract against a model of what each message must do:
 *
 *   - an undecodable message is counted as bad and changes nothing else;
 *   - every error message counts as one switch error, and one about the
 *     bundle in flight fails it, whatever its code: after the barrier
 *     reply a full resync is needed exactly when the bundle failed or a
 *     role status made us primary;
 *   - the awaited flow-stats reply sets each counter of a counter flow
 *     (table T2, exact ct_mark, nw_dst and tp_dst, known count) to its
 *     count, from a baseline that is zero for a new counter, the count
 *     itself in a snapshot of the reweighted service, zero again when the
 *     count went down (flow re-added), the previous count when the
 *     service's group changed without a snapshot, else unchanged; a
 *     malformed reply, or one that is not awaited, changes no counter; an
 *     error reply ends the wait; no counter's baseline exceeds its count;
 *   - a packet-in is never a bad message (nor a switch error), and counts
 *     as exactly one of: a pick, an unpicked resume, a connection end or a
 *     refused packet-in, as decoded here: ours only if it decodes, comes
 *     from a controller action (reason ACTION) and carries exactly our
 *     16-byte userdata (magic, version); an END (service 0, nonzero ip
 *     and port) tells the decider's ended() that ip and port and sends
 *     nothing; a PICK (ip and port 0, a continuation) is answered with
 *     exactly one NXT_RESUME of the same packet and continuation, with
 *     reg0 = the picked ip and reg1 = 0x10000 | port when the decider
 *     picked, else with the registers as they came; the decider's pick()
 *     is asked only for a listed service's valid PICK, with its id;
 *     anything else is refused: nothing sent, nobody told;
 *   - nothing leases a pick flow (only ofctrl_run() does);
 *   - the installed tables stay empty: nothing here confirms an update.
 *
 * Build: make build/fuzz/fuzz-openflow.  Run: tests/fuzz/run.sh (seeds in
 * corpus/openflow/, dictionary openflow.dict).
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byte-order.h"
#include "cats/flow-model.h"
#include "cats/flow-table.h"
#include "netdev.h"
#include "ofctrl.h"
#include "pinctrl.h"
#include "statctrl.h"
#include "openvswitch/ofp-port.h"
#include "openflow/openflow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-connection.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-group.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vlog.h"
#include "socket-util.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_rconn_send(struct rconn *, struct ofpbuf *,
                      struct rconn_packet_counter *);
int __real_rconn_send(struct rconn *, struct ofpbuf *,
                      struct rconn_packet_counter *);
int __wrap_rconn_send_with_limit(struct rconn *, struct ofpbuf *,
                                 struct rconn_packet_counter *, int limit);
int __real_rconn_send_with_limit(struct rconn *, struct ofpbuf *,
                                 struct rconn_packet_counter *, int limit);

/* Far from the xids that libopenvswitch allocates (counting from 1), so
 * that no request the ofctrl makes meanwhile (a group dump after a failed
 * bundle) can share it. */
#define ARMED_XID 0x7fff0000

/* The ofctrl's statistics requests and packet-ins. */
#define STATS(OC) ofctrl_get_statctrl(OC)
#define PINS(OC) ofctrl_get_pinctrl(OC)

#define F_STATE 0x03
#define F_FIX_XID 0x04
#define F_STREAM 0x08
#define F_KEEP_VERSION 0x10
#define F_PORT_STATS 0x20
#define F_NO_DECIDER 0x40

/* The armed state, from the low 2 bits of the flags. */
static const enum ofctrl_test_state armed_states[4] = {
    OFCTRL_TEST_DUMP_GROUPS,
    OFCTRL_TEST_STATS,
    OFCTRL_TEST_SNAPSHOT,
    OFCTRL_TEST_IN_FLIGHT,
};

/* What ofctrl_set_state_for_testing() arms for OFCTRL_TEST_SNAPSHOT. */
#define REBASED_SERVICE 1
#define REBASED_SEQNO 2

static void OVS_PRINTF_FORMAT(1, 2) OVS_NO_RETURN
violation(const char *format, ...)
{
    va_list args;

    fputs("fuzz-openflow: contract violated: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    abort();
}

/* Messages the ofctrl sends.  Its rconn is not connected, so the real
 * rconn_send() drops them; the wrappers (-Wl,--wrap) keep a copy for the
 * checks first. */

static struct ovs_list sent = OVS_LIST_INITIALIZER(&sent);

static void
keep_sent(const struct ofpbuf *b)
{
    struct ofpbuf *copy = ofpbuf_clone(b);

    ofpmsg_update_length(copy);
    ovs_list_push_back(&sent, &copy->list_node);
}

int
__wrap_rconn_send(struct rconn *rc, struct ofpbuf *b,
                  struct rconn_packet_counter *counter)
{
    keep_sent(b);
    return __real_rconn_send(rc, b, counter);
}

int
__wrap_rconn_send_with_limit(struct rconn *rc, struct ofpbuf *b,
                             struct rconn_packet_counter *counter, int limit)
{
    keep_sent(b);
    return __real_rconn_send_with_limit(rc, b, counter, limit);
}

/* The decider: picks PICKED_IP:PICKED_PORT for service 1, declines the
 * others, and records what it is asked. */

#define PICKED_IP 0x0a00000c            /* 10.0.0.12 */
#define PICKED_PORT 80

static const struct pinctrl_pick_service pick_services[] = {
    { .service_id = 1, .vip = CONSTANT_HTONL(0x0a000064), .port = 80 },
    { .service_id = 2, .vip = CONSTANT_HTONL(0x0a000065), .port = 80 },
};

struct decider {
    unsigned int n_picks;           /* Calls of pick(). */
    uint32_t pick_sid;              /* The last one's service. */
    unsigned int n_ended;           /* Calls of ended(). */
    uint32_t ended_sid;             /* The last one's service, */
    ovs_be32 ended_ip;              /* and instance. */
    uint16_t ended_port;
};

static bool
decider_pick(void *d_, uint32_t service_id, ovs_be32 *ip, uint16_t *port,
             uint32_t *path_id)
{
    struct decider *d = d_;

    d->n_picks++;
    d->pick_sid = service_id;
    if (service_id == 1) {
        *ip = htonl(PICKED_IP);
        *port = PICKED_PORT;
        return true;
    }
    *ip = htonl(0xdeadbeef);        /* Left behind: must not be used. */
    *port = 4321;
    *path_id = 99;
    return false;
}

static void
decider_ended(void *d_, uint32_t sid, ovs_be32 ip, uint16_t port)
{
    struct decider *d = d_;

    d->n_ended++;
    d->ended_sid = sid;
    d->ended_ip = ip;
    d->ended_port = port;
}

/* The model. */

struct model_counter {
    uint32_t sid;
    ovs_be32 ip;
    uint16_t port;
    uint64_t packets;
    uint64_t base;
    uint64_t group_seqno;
};

struct model {
    struct cats_pipeline_config pipeline;
    enum ofctrl_test_state armed;
    bool dump_pending;
    bool stats_pending;
    bool snapshot_pending;
    bool in_flight;
    bool bundle_failed;
    bool resync_requested;          /* A role status made us primary. */
    bool has_decider;
    struct decider decider;

    struct model_counter *counters;
    size_t n_counters, allocated_counters;
};

static struct model_counter *
model_find(struct model *m, uint32_t sid, ovs_be32 ip, uint16_t port)
{
    for (size_t i = 0; i < m->n_counters; i++) {
        struct model_counter *c = &m->counters[i];

        if (c->sid == sid && c->ip == ip && c->port == port) {
            return c;
        }
    }
    return NULL;
}

/* The ofctrl's counters are exactly the model's. */
static void
check_counters(const struct model *m, const struct ofctrl *oc,
               const char *after)
{
    uint64_t total = 0;

    for (size_t i = 0; i < m->n_counters; i++) {
        const struct model_counter *mc = &m->counters[i];
        const struct statctrl_counter *c
            = statctrl_get_counter(STATS(oc), mc->sid, mc->ip, mc->port);
        if (!c) {
            violation("%s: no counter for service %"PRIu32" "IP_FMT":%"
                      PRIu16, after, mc->sid, IP_ARGS(mc->ip), mc->port);
        }
        if (c->base > c->packets) {
            violation("%s: counter for service %"PRIu32" "IP_FMT":%"PRIu16
                      " has base %"PRIu64" > packets %"PRIu64, after,
                      mc->sid, IP_ARGS(mc->ip), mc->port, c->base,
                      c->packets);
        }
        if (c->packets != mc->packets || c->base != mc->base) {
            violation("%s: counter for service %"PRIu32" "IP_FMT":%"PRIu16
                      " is %"PRIu64" from %"PRIu64", expected %"PRIu64
                      " from %"PRIu64, after, mc->sid, IP_ARGS(mc->ip),
                      mc->port, c->packets, c->base, mc->packets, mc->base);
        }
        total += c->packets - c->base;
    }
    if (statctrl_get_counter_total_for_testing(STATS(oc)) != total) {
        violation("%s: counters total %"PRIu64", expected %"PRIu64
                  " (a counter the model does not have?)", after,
                  statctrl_get_counter_total_for_testing(STATS(oc)), total);
    }
}

/* Is 'fs' one of the pipeline's counter flows? */
static bool
is_counter_flow(const struct model *m, const struct ofputil_flow_stats *fs)
{
    const struct match *match = &fs->match;

    return (fs->table_id == m->pipeline.table_base + 2
            && match->wc.masks.ct_mark == UINT32_MAX
            && match->wc.masks.nw_dst == OVS_BE32_MAX
            && match->wc.masks.tp_dst == OVS_BE16_MAX
            && fs->packet_count != UINT64_MAX);
}

/* One counter flow of the awaited reply. */
static void
model_count(struct model *m, const struct ofputil_flow_stats *fs,
            bool snapshot)
{
    uint32_t sid = fs->match.flow.ct_mark;
    ovs_be32 ip = fs->match.flow.nw_dst;
    uint16_t port = ntohs(fs->match.flow.tp_dst);
    bool rebased = snapshot && sid == REBASED_SERVICE;
    /* Nothing is ever installed here, so a service's installed group
     * seqno is 0. */
    uint64_t seqno = rebased ? REBASED_SEQNO : 0;
    uint64_t count = fs->packet_count;
    struct model_counter *c = model_find(m, sid, ip, port);

    if (!c) {
        if (m->n_counters >= m->allocated_counters) {
            m->counters = x2nrealloc(m->counters, &m->allocated_counters,
                                     sizeof *m->counters);
        }
        c = &m->counters[m->n_counters++];
        *c = (struct model_counter) {
            .sid = sid, .ip = ip, .port = port,
            .base = rebased ? count : 0,
            .group_seqno = seqno,
        };
    } else if (rebased) {
        c->base = count;            /* The new split starts here. */
        c->group_seqno = seqno;
    } else if (count < c->packets) {
        c->base = 0;                /* Flow re-added. */
        c->group_seqno = seqno;
    } else if (c->group_seqno != seqno) {
        c->base = c->packets;
        c->group_seqno = seqno;
    }
    c->packets = count;
}

/* Decodes every entry of flow-stats reply 'oh' into the model, if the
 * whole reply decodes.  Returns false if it does not. */
static bool
model_flow_stats_reply(struct model *m, const struct ofp_header *oh,
                       bool snapshot)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_flow_stats *entries = NULL;
    size_t n = 0, allocated = 0;
    struct ofpbuf ofpacts;
    bool ok = false;

    ofpbuf_init(&ofpacts, 0);
    for (;;) {
        struct ofputil_flow_stats fs;
        int retval = ofputil_decode_flow_stats_reply(&fs, &b, false,
                                                     &ofpacts);
        if (retval) {
            ok = retval == EOF;
            break;
        }
        if (is_counter_flow(m, &fs)) {
            if (n >= allocated) {
                entries = x2nrealloc(entries, &allocated, sizeof *entries);
            }
            entries[n++] = fs;
        }
    }
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            model_count(m, &entries[i], snapshot);
        }
    }
    free(entries);
    ofpbuf_uninit(&ofpacts);
    return ok;
}

static bool
group_desc_reply_decodes(const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));

    for (;;) {
        struct ofputil_group_desc gd;
        int retval = ofputil_decode_group_desc_reply(&gd, &b, oh->version);

        if (retval) {
            return retval == EOF;
        }
        ofputil_uninit_group_desc(&gd);
    }
}

/* Port statistics and descriptions: the model does not track the xids
 * of their requests, so a malformed one may or may not be counted (only
 * if it answers the pending request), but a well-formed one never is. */
static bool
port_stats_reply_decodes(const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_port_stats ps;
    int retval;

    while (!(retval = ofputil_decode_port_stats(&ps, &b))) {
        netdev_free_custom_stats_counters(&ps.custom_stats);
    }
    return retval == EOF;
}

static bool
port_desc_reply_decodes(const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_phy_port pp;
    int retval;

    ofpraw_pull_assert(&b);
    while (!(retval = ofputil_pull_phy_port(oh->version, &b, &pp))) {
        continue;
    }
    return retval == EOF;
}

/* What a packet-in must do. */
enum pin_outcome {
    PIN_REFUSED,
    PIN_PICKED,
    PIN_UNPICKED,
    PIN_END,
};

static const char *const pin_outcome_names[] = {
    [PIN_REFUSED] = "refused packet-in",
    [PIN_PICKED] = "picked packet-in",
    [PIN_UNPICKED] = "unpicked packet-in",
    [PIN_END] = "connection end packet-in",
};

struct pin_expect {
    enum pin_outcome outcome;
    bool asks;                      /* The decider's pick() is asked... */
    uint32_t sid;                   /* ...for this service. */
    ovs_be32 ip;                    /* PIN_END: the instance. */
    uint16_t port;
    struct ofputil_packet_in pin;   /* Points into the message. */
    struct ofpbuf continuation;
};

static void
model_packet_in(const struct model *m, const struct ofp_header *oh,
                struct pin_expect *e)
{
    struct cats_pin_userdata ud;

    memset(e, 0, sizeof *e);
    e->outcome = PIN_REFUSED;
    if (ofputil_decode_packet_in(oh, true, NULL, NULL, &e->pin, NULL, NULL,
                                 &e->continuation)
        || e->pin.reason != OFPR_ACTION
        || e->pin.userdata_len != sizeof ud) {
        return;
    }
    memcpy(&ud, e->pin.userdata, sizeof ud);
    if (ud.magic != htons(CATS_PIN_MAGIC) || ud.version != CATS_PIN_VERSION) {
        return;
    }
    if (ud.kind == CATS_PIN_END) {
        if (ud.ip && ud.port && ud.service_id) {
            e->outcome = PIN_END;
            e->sid = ntohl(ud.service_id);
            e->ip = ud.ip;
            e->port = ntohs(ud.port);
        }
    } else if (ud.kind == CATS_PIN_PICK && !ud.ip && !ud.port
               && e->continuation.size) {
        bool listed = false;

        e->sid = ntohl(ud.service_id);
        for (size_t i = 0; i < ARRAY_SIZE(pick_services); i++) {
            listed = listed || pick_services[i].service_id == e->sid;
        }
        e->asks = m->has_decider && listed;
        e->outcome = e->asks && e->sid == 1 ? PIN_PICKED : PIN_UNPICKED;
    }
}

static bool
pick_stats_equal(const struct pinctrl_stats *a,
                 const struct pinctrl_stats *b)
{
    return (a->picks == b->picks && a->unpicked == b->unpicked
            && a->ends == b->ends && a->bad == b->bad
            && a->leases == b->leases);
}

/* Checks the one NXT_RESUME that packet-in 'e' must have been answered
 * with, and deletes it. */
static void
check_resume(const struct pin_expect *e, struct ofpbuf *msg)
{
    const char *what = pin_outcome_names[e->outcome];
    struct ofputil_packet_in resume;
    struct ofpbuf continuation;
    enum ofperr error;
    enum ofptype type;

    if (ofptype_decode(&type, msg->data) || type != OFPTYPE_NXT_RESUME) {
        violation("%s: answered with something else than a resume", what);
    }
    error = ofputil_decode_packet_in(msg->data, false, NULL, NULL, &resume,
                                     NULL, NULL, &continuation);
    if (error) {
        violation("%s: the resume does not decode (%s)", what,
                  ofperr_to_string(error));
    }
    if (resume.packet_len != e->pin.packet_len
        || memcmp(resume.packet, e->pin.packet, e->pin.packet_len)) {
        violation("%s: the resume's packet (%"PRIuSIZE" bytes) is not the "
                  "packet-in's (%"PRIuSIZE")", what, resume.packet_len,
                  e->pin.packet_len);
    }
    if (continuation.size != e->continuation.size
        || memcmp(continuation.data, e->continuation.data,
                  continuation.size)) {
        violation("%s: the resume's continuation (%"PRIu32" bytes) is not "
                  "the packet-in's (%"PRIu32")", what, continuation.size,
                  e->continuation.size);
    }

    const struct match *got = &resume.flow_metadata;
    const struct match *had = &e->pin.flow_metadata;
    for (int i = 0; i < 2; i++) {
        uint32_t value, mask;

        if (e->outcome == PIN_PICKED) {
            value = i ? 0x10000 | PICKED_PORT : PICKED_IP;
            mask = UINT32_MAX;
        } else {
            mask = had->wc.masks.regs[i];
            value = had->flow.regs[i] & mask;
        }
        if (got->wc.masks.regs[i] != mask
            || (got->flow.regs[i] & got->wc.masks.regs[i]) != value) {
            violation("%s: the resume has reg%d=%#"PRIx32"/%#"PRIx32
                      ", expected %#"PRIx32"/%#"PRIx32, what, i,
                      got->flow.regs[i], got->wc.masks.regs[i], value,
                      mask);
        }
    }
    ofpbuf_delete(msg);
}

/* After packet-in 'e': one of the stats went up by one, the decider was
 * asked or told only what it should, and only a paused packet was
 * answered. */
static void
check_packet_in(const struct model *m, const struct ofctrl *oc,
                const struct pin_expect *e,
                const struct pinctrl_stats *before,
                const struct decider *d_before)
{
    const char *what = pin_outcome_names[e->outcome];
    const struct decider *d = &m->decider;
    struct pinctrl_stats want = *before, got;

    switch (e->outcome) {
    case PIN_REFUSED:
        want.bad++;
        break;
    case PIN_PICKED:
        want.picks++;
        break;
    case PIN_UNPICKED:
        want.unpicked++;
        break;
    case PIN_END:
        want.ends++;
        break;
    }
    pinctrl_get_stats(PINS(oc), &got);
    if (!pick_stats_equal(&got, &want)) {
        violation("%s: pick stats went from picks %"PRIu64", unpicked %"
                  PRIu64", ends %"PRIu64", bad %"PRIu64", leases %"PRIu64
                  " to %"PRIu64", %"PRIu64", %"PRIu64", %"PRIu64", %"PRIu64,
                  what, before->picks, before->unpicked, before->ends,
                  before->bad, before->leases, got.picks, got.unpicked,
                  got.ends, got.bad, got.leases);
    }

    if (d->n_picks != d_before->n_picks + e->asks) {
        violation("%s: the decider's pick() was called %u times, expected "
                  "%d", what, d->n_picks - d_before->n_picks, e->asks);
    }
    if (e->asks && d->pick_sid != e->sid) {
        violation("%s: the decider was asked about service %"PRIu32
                  ", not %"PRIu32, what, d->pick_sid, e->sid);
    }
    bool tells = e->outcome == PIN_END && m->has_decider;
    if (d->n_ended != d_before->n_ended + tells) {
        violation("%s: the decider's ended() was called %u times, expected "
                  "%d", what, d->n_ended - d_before->n_ended, tells);
    }
    if (tells && (d->ended_sid != e->sid || d->ended_ip != e->ip
                  || d->ended_port != e->port)) {
        violation("%s: the decider was told service %"PRIu32" "IP_FMT
                  ":%"PRIu16" ended, not %"PRIu32" "IP_FMT":%"PRIu16, what,
                  d->ended_sid, IP_ARGS(d->ended_ip), d->ended_port, e->sid,
                  IP_ARGS(e->ip), e->port);
    }

    size_t n_sent = ovs_list_size(&sent);
    if (e->outcome == PIN_PICKED || e->outcome == PIN_UNPICKED) {
        if (n_sent != 1) {
            violation("%s: %"PRIuSIZE" messages sent, expected one resume",
                      what, n_sent);
        }
        check_resume(e, CONTAINER_OF(ovs_list_pop_front(&sent),
                                     struct ofpbuf, list_node));
    } else if (n_sent) {
        violation("%s: %"PRIuSIZE" messages sent, expected none", what,
                  n_sent);
    }
}

/* Feeding one message. */

struct before {
    uint64_t n_bad;
    uint64_t n_errors;
    bool need_full;
};

static void
feed(struct model *m, struct ofctrl *oc, struct ofpbuf *msg)
{
    const struct ofp_header *oh = msg->data;
    uint32_t xid = ntohl(oh->xid);
    bool bad = false, error = false, counted = false, maybe_bad = false;
    bool need_full_known = false, need_full = false;
    struct before before = {
        .n_bad = ofctrl_get_n_bad_messages(oc),
        .n_errors = ofctrl_get_n_errors(oc),
        .need_full = ofctrl_needs_full_resync(oc),
    };
    struct pinctrl_stats pick_stats;
    struct decider decider = m->decider;
    struct pin_expect pin_expect;
    bool packet_in = false;
    enum ofptype type;

    pinctrl_get_stats(PINS(oc), &pick_stats);

    /* What the message must do, decided before the ofctrl sees it. */
    if (ofptype_decode(&type, oh)) {
        bad = true;
    } else {
        switch (type) {
        case OFPTYPE_ERROR:
            error = true;
            if (m->in_flight
                && (xid == ARMED_XID - 2 || xid == ARMED_XID - 1)) {
                m->bundle_failed = true;
            } else if (m->dump_pending && xid == ARMED_XID) {
                m->dump_pending = false;
            } else if (m->stats_pending && xid == ARMED_XID) {
                m->stats_pending = false;
            } else if (m->snapshot_pending && xid == ARMED_XID) {
                m->snapshot_pending = false;
            }
            break;

        case OFPTYPE_BARRIER_REPLY:
            if (m->in_flight && xid == ARMED_XID) {
                m->in_flight = false;
                need_full_known = true;
                need_full = m->bundle_failed || m->resync_requested;
            }
            break;

        case OFPTYPE_GROUP_DESC_STATS_REPLY:
            if (m->dump_pending && xid == ARMED_XID) {
                bad = !group_desc_reply_decodes(oh);
                if (!ofpmp_more(oh)) {
                    m->dump_pending = false;
                }
            }
            break;

        case OFPTYPE_FLOW_STATS_REPLY:
            if (m->stats_pending && xid == ARMED_XID) {
                bad = !model_flow_stats_reply(m, oh, false);
                counted = true;
                if (!ofpmp_more(oh)) {
                    m->stats_pending = false;
                }
            } else if (m->snapshot_pending && xid == ARMED_XID) {
                bad = !model_flow_stats_reply(m, oh, true);
                counted = true;
                if (!ofpmp_more(oh)) {
                    m->snapshot_pending = false;
                }
            }
            break;

        case OFPTYPE_PORT_STATS_REPLY:
            maybe_bad = !port_stats_reply_decodes(oh);
            break;

        case OFPTYPE_PORT_DESC_STATS_REPLY:
            maybe_bad = !port_desc_reply_decodes(oh);
            break;

        case OFPTYPE_ROLE_STATUS: {
            struct ofputil_role_status rs;

            /* A role status with role NOCHANGE means nothing: bad. */
            if (ofputil_decode_role_status(oh, &rs)
                || rs.role == OFPCR12_ROLE_NOCHANGE) {
                bad = true;
            } else if (rs.role == OFPCR12_ROLE_PRIMARY) {
                m->resync_requested = true;
                need_full_known = need_full = true;
            }
            break;
        }

        case OFPTYPE_ROLE_REPLY: {
            struct ofputil_role_request rr;

            bad = (ofputil_decode_role_message(oh, &rr) != 0
                   || rr.role == OFPCR12_ROLE_NOCHANGE);
            break;
        }

        case OFPTYPE_PACKET_IN:
            packet_in = true;
            model_packet_in(m, oh, &pin_expect);
            break;

        default:
            break;
        }
    }

    ofctrl_receive_for_testing(oc, msg);

    /* What it did. */
    const char *what = (bad ? "bad message"
                        : error ? "error message"
                        : counted ? "flow stats reply"
                        : packet_in ? pin_outcome_names[pin_expect.outcome]
                        : "message");
    uint64_t n_bad = ofctrl_get_n_bad_messages(oc);
    uint64_t n_errors = ofctrl_get_n_errors(oc);

    if (bad ? n_bad != before.n_bad + 1
        : n_bad != before.n_bad && !((error || maybe_bad)
                                     && n_bad == before.n_bad + 1)) {
        violation("%s: bad messages went from %"PRIu64" to %"PRIu64, what,
                  before.n_bad, n_bad);
    }
    if (n_errors != before.n_errors + error) {
        violation("%s: switch errors went from %"PRIu64" to %"PRIu64, what,
                  before.n_errors, n_errors);
    }
    if (!need_full_known) {
        need_full = before.need_full;
    }
    if (ofctrl_needs_full_resync(oc) != need_full) {
        violation("%s: needs full resync is %s, expected %s", what,
                  ofctrl_needs_full_resync(oc) ? "true" : "false",
                  need_full ? "true" : "false");
    }
    check_counters(m, oc, what);

    const struct cats_installed *inst = ofctrl_get_installed(oc);
    if (hmap_count(&inst->flows) || hmap_count(&inst->groups)) {
        violation("%s: installed %"PRIuSIZE" flows and %"PRIuSIZE" groups",
                  what, hmap_count(&inst->flows), hmap_count(&inst->groups));
    }

    if (packet_in) {
        check_packet_in(m, oc, &pin_expect, &pick_stats, &decider);
    } else {
        struct pinctrl_stats after;

        pinctrl_get_stats(PINS(oc), &after);
        if (!pick_stats_equal(&after, &pick_stats)) {
            violation("%s: changed the pick stats", what);
        }
        if (m->decider.n_picks != decider.n_picks
            || m->decider.n_ended != decider.n_ended) {
            violation("%s: called the decider", what);
        }
    }
    ofpbuf_list_delete(&sent);
}

/* Hands 'data' (at least a header, with the length fixed up by the caller)
 * to the model and the ofctrl as the vconn layer would deliver it, or drops
 * it as vconn_recv() would. */
static void
deliver(struct model *m, struct ofctrl *oc, const uint8_t *data, size_t len,
        uint8_t flags)
{
    /* An exact-size copy, so that ASan sees reads past the message. */
    struct ofpbuf *msg = ofpbuf_clone_data(data, len);
    struct ofp_header *oh = msg->data;

    oh->length = htons(len);
    if (flags & F_FIX_XID) {
        oh->xid = htonl(ARMED_XID - (ntohl(oh->xid) & 3));
    }
    if (!(flags & F_KEEP_VERSION)) {
        oh->version = OFP15_VERSION;
    } else if (oh->version != OFP15_VERSION) {
        enum ofptype type;

        if (ofptype_decode(&type, oh)
            || (type != OFPTYPE_HELLO && type != OFPTYPE_ERROR
                && type != OFPTYPE_ECHO_REQUEST
                && type != OFPTYPE_ECHO_REPLY)) {
            ofpbuf_delete(msg);
            return;
        }
    }
    feed(m, oc, msg);
    ofpbuf_delete(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialized;
    struct ofctrl_config cfg;
    struct model m;
    struct ofctrl *oc;
    uint8_t flags;

    if (!initialized) {
        vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
        initialized = true;
    }
    if (size < 1 + sizeof(struct ofp_header)) {
        return 0;
    }
    flags = data[0];
    data++;
    size--;

    memset(&m, 0, sizeof m);
    cats_pipeline_config_default(&m.pipeline);
    m.armed = armed_states[flags & F_STATE];
    m.has_decider = !(flags & F_NO_DECIDER);
    m.dump_pending = m.armed == OFCTRL_TEST_DUMP_GROUPS;
    m.stats_pending = m.armed == OFCTRL_TEST_STATS;
    m.snapshot_pending = m.armed == OFCTRL_TEST_SNAPSHOT;
    m.in_flight = m.armed == OFCTRL_TEST_IN_FLIGHT;

    cfg = (struct ofctrl_config) {
        .pipeline = &m.pipeline,
        .role = OFPCR12_ROLE_EQUAL,
        .stats_interval_ms = 1000,
        .probe_interval_ms = 10000,
    };
    if (m.has_decider) {
        cfg.decider = (struct pinctrl_decider) {
            .pick = decider_pick,
            .ended = decider_ended,
            .aux = &m.decider,
        };
    }
    oc = ofctrl_create(rconn_create(5, 2, DSCP_DEFAULT,
                                    1u << OFP15_VERSION), false, &cfg);
    ofctrl_set_state_for_testing(oc, m.armed, htonl(ARMED_XID));
    if (flags & F_PORT_STATS) {
        ofctrl_set_state_for_testing(oc, OFCTRL_TEST_PORT_STATS,
                                     htonl(ARMED_XID - 3));
    }
    pinctrl_set_pick_services(PINS(oc), pick_services,
                              ARRAY_SIZE(pick_services), 1);

    if (!(flags & F_STREAM)) {
        deliver(&m, oc, data, MIN(size, UINT16_MAX), flags);
    } else {
        while (size >= sizeof(struct ofp_header)) {
            struct ofp_header oh;       /* 'data' is not aligned. */
            size_t len;

            memcpy(&oh, data, sizeof oh);
            len = ntohs(oh.length);
            if (len < sizeof oh || len > size) {
                break;
            }
            deliver(&m, oc, data, len, flags);
            data += len;
            size -= len;
        }
    }

    struct ds s = DS_EMPTY_INITIALIZER;
    ofctrl_format(oc, &s);
    ds_destroy(&s);
    ofctrl_destroy(oc);
    ofpbuf_list_delete(&sent);
    free(m.counters);
    return 0;
}

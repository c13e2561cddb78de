/*
 * ovs-cats: one OpenFlow switch connection and its flow sync.  See
 * ofctrl.h.
 */

#include <config.h>

#include "ofctrl.h"

#include <stdlib.h>

#include "cats/catalog.h"
#include "cats/flow-model.h"
#include "cats/flow-table.h"
#include "coverage.h"
#include "openflow/openflow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-bundle.h"
#include "openvswitch/ofp-connection.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-group.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/ofp-print.h"
#include "openvswitch/ofp-switch.h"
#include "openvswitch/ofp-util.h"
#include "byte-order.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vlog.h"
#include "pinctrl.h"
#include "statctrl.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(ofctrl);

COVERAGE_DEFINE(ofctrl_bundle_sent);
COVERAGE_DEFINE(ofctrl_bundle_confirmed);
COVERAGE_DEFINE(ofctrl_bundle_failed);
COVERAGE_DEFINE(ofctrl_full_resync);
COVERAGE_DEFINE(ofctrl_switch_error);
COVERAGE_DEFINE(ofctrl_bad_message);

/* Messages processed per run, so that one busy switch cannot starve the
 * rest of the main loop. */
#define MAX_RECV_PER_RUN 256

/* Retry after a failed bundle: starts here, doubles up to the maximum. */
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 8000

enum ofctrl_state {
    S_DISCONNECTED,             /* Waiting for the connection. */
    S_DUMP_GROUPS,              /* Learning which of our groups exist. */
    S_IDLE,                     /* Synchronized or ready to send. */
    S_IN_FLIGHT,                /* A bundle awaits its barrier reply. */
};

static const char *
state_name(enum ofctrl_state state)
{
    switch (state) {
    case S_DISCONNECTED: return "DISCONNECTED";
    case S_DUMP_GROUPS: return "DUMP_GROUPS";
    case S_IDLE: return "IDLE";
    case S_IN_FLIGHT: return "IN_FLIGHT";
    }
    return "UNKNOWN";
}

struct ofctrl {
    struct rconn *rconn;
    bool passive;
    struct ofctrl_config cfg;
    struct cats_pipeline_config pipeline;
    enum ofctrl_state state;
    unsigned int conn_seqno;
    enum ofputil_protocol protocol;
    enum ofp_version version;
    enum ofp12_controller_role role;    /* As the switch last told us. */
    bool has_dpid;                      /* Features reply seen on this
                                         * connection. */
    uint64_t dpid;

    /* Group dump after connecting: groups in our range on the switch. */
    ovs_be32 dump_xid;
    uint32_t *switch_groups;
    size_t n_switch_groups, allocated_switch_groups;

    /* What the switch confirmed. */
    struct cats_installed installed;
    uint64_t installed_seqno;
    bool need_full;
    bool resync_after_flight;       /* Full resync wanted once the bundle in
                                     * flight is answered. */

    /* The bundle in flight. */
    struct cats_update update;
    uint32_t first_xid, last_xid;   /* Host order; the bundle's messages. */
    ovs_be32 barrier_xid;
    bool bundle_failed;
    uint32_t next_bundle_id;
    long long int sent_at;
    long long int connected_at;
    long long int retry_at;
    int retry_ms;

    /* The other conversations on this connection. */
    struct statctrl *stats;
    struct pinctrl *pins;

    /* Statistics for cats/show. */
    uint64_t n_connects;
    uint64_t n_bundles;
    uint64_t n_bundle_msgs;
    uint64_t n_bundle_failures;
    uint64_t n_full_resyncs;
    uint64_t n_errors;
    uint64_t n_bad_messages;
    long long int last_bundle_ms;   /* Commit to barrier reply. */
    size_t last_bundle_ops;
    char *last_error;
};

static void ofctrl_reset(struct ofctrl *);

struct ofctrl *
ofctrl_create(struct rconn *rconn, bool passive,
              const struct ofctrl_config *cfg)
{
    struct ofctrl *oc = xzalloc(sizeof *oc);

    oc->rconn = rconn;
    oc->passive = passive;
    oc->cfg = *cfg;
    oc->pipeline = *cfg->pipeline;
    oc->cfg.pipeline = &oc->pipeline;
    oc->state = S_DISCONNECTED;
    oc->conn_seqno = rconn_get_connection_seqno(rconn);
    cats_installed_init(&oc->installed);
    cats_update_init(&oc->update);
    oc->stats = statctrl_create(rconn, &oc->pipeline, &oc->installed,
                                cfg->stats_interval_ms);
    oc->pins = pinctrl_create(rconn, &oc->pipeline, &cfg->decider,
                              cfg->probe_interval_ms);
    oc->next_bundle_id = 1;
    oc->retry_ms = RETRY_MIN_MS;
    ofctrl_reset(oc);
    return oc;
}

void
ofctrl_destroy(struct ofctrl *oc)
{
    if (oc) {
        rconn_destroy(oc->rconn);
        statctrl_destroy(oc->stats);
        pinctrl_destroy(oc->pins);
        cats_installed_destroy(&oc->installed);
        cats_update_destroy(&oc->update);
        free(oc->switch_groups);
        free(oc->last_error);
        free(oc);
    }
}

/* Forgets everything about the switch: after a reconnection, what it runs
 * is unknown until the next full resync. */
static void
ofctrl_reset(struct ofctrl *oc)
{
    oc->state = S_DISCONNECTED;
    cats_installed_clear(&oc->installed);
    oc->installed_seqno = 0;
    oc->need_full = true;
    oc->resync_after_flight = false;
    cats_update_destroy(&oc->update);
    cats_update_init(&oc->update);
    oc->bundle_failed = false;
    oc->n_switch_groups = 0;
    oc->retry_at = 0;
    oc->has_dpid = false;
    oc->dpid = 0;
    statctrl_reset(oc->stats);
    pinctrl_reset(oc->pins);
}

bool
ofctrl_is_alive(const struct ofctrl *oc)
{
    return rconn_is_alive(oc->rconn);
}

bool
ofctrl_is_passive(const struct ofctrl *oc)
{
    return oc->passive;
}

bool
ofctrl_is_connected(const struct ofctrl *oc)
{
    return rconn_is_connected(oc->rconn);
}

const char *
ofctrl_get_name(const struct ofctrl *oc)
{
    return rconn_get_name(oc->rconn);
}

uint64_t
ofctrl_get_installed_seqno(const struct ofctrl *oc)
{
    return oc->installed_seqno;
}

uint64_t
ofctrl_get_gc_floor(const struct ofctrl *oc)
{
    if (oc->need_full || oc->state == S_DISCONNECTED
        || oc->state == S_DUMP_GROUPS) {
        return UINT64_MAX;
    }
    return oc->installed_seqno;
}

bool
ofctrl_get_datapath_id(const struct ofctrl *oc, uint64_t *dpid)
{
    *dpid = oc->dpid;
    return oc->has_dpid;
}

const struct cats_installed *
ofctrl_get_installed(const struct ofctrl *oc)
{
    return &oc->installed;
}

struct statctrl *
ofctrl_get_statctrl(const struct ofctrl *oc)
{
    return oc->stats;
}

struct pinctrl *
ofctrl_get_pinctrl(const struct ofctrl *oc)
{
    return oc->pins;
}

static void
count_bad_message(struct ofctrl *oc)
{
    oc->n_bad_messages++;
    COVERAGE_INC(ofctrl_bad_message);
}

static void
set_last_error(struct ofctrl *oc, char *msg)
{
    free(oc->last_error);
    oc->last_error = msg;
}

static void
send_msg(struct ofctrl *oc, struct ofpbuf *msg)
{
    /* Unbounded on purpose: at most one bundle is ever queued (see the
     * state machine), so the queue is bounded by the size of one update. */
    rconn_send(oc->rconn, msg, NULL);
}

static uint32_t
msg_xid(const struct ofpbuf *msg)
{
    return ntohl(((const struct ofp_header *) msg->data)->xid);
}

/* Connection set-up. */

static const char *
role_name(enum ofp12_controller_role role)
{
    switch (role) {
    case OFPCR12_ROLE_PRIMARY: return "primary";
    case OFPCR12_ROLE_SECONDARY: return "secondary";
    case OFPCR12_ROLE_EQUAL: return "equal";
    case OFPCR12_ROLE_NOCHANGE: return "nochange";
    }
    return "unknown";
}

/* Asks for our configured role.  The switch answers with a role reply or a
 * role-request-failed error (e.g. a stale generation id: another controller
 * with a newer one is primary), which handle_error() reports. */
static void
send_role_request(struct ofctrl *oc)
{
    struct ofp12_role_request *orr;
    struct ofpbuf *req;

    req = ofpraw_alloc(OFPRAW_OFPT12_ROLE_REQUEST, oc->version, 0);
    orr = ofpbuf_put_zeros(req, sizeof *orr);
    orr->role = htonl(oc->cfg.role);
    orr->generation_id = htonll(oc->cfg.generation_id);
    send_msg(oc, req);
}

static void
start_group_dump(struct ofctrl *oc)
{
    struct ofpbuf *req = ofputil_encode_group_desc_request(oc->version,
                                                           OFPG_ALL);
    oc->dump_xid = ((struct ofp_header *) req->data)->xid;
    oc->n_switch_groups = 0;
    oc->state = S_DUMP_GROUPS;
    send_msg(oc, req);
}

static void
handle_group_desc_reply(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));

    for (;;) {
        struct ofputil_group_desc gd;
        int retval = ofputil_decode_group_desc_reply(&gd, &b, oc->version);

        if (retval) {
            if (retval != EOF) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
                VLOG_WARN_RL(&rl, "%s: bad group description reply (%s)",
                             ofctrl_get_name(oc), ofperr_to_string(retval));
                count_bad_message(oc);
            }
            break;
        }
        if (cats_pipeline_owns_group(&oc->pipeline, gd.group_id)
            && oc->n_switch_groups < CATS_MAX_SERVICES) {
            if (oc->n_switch_groups >= oc->allocated_switch_groups) {
                oc->switch_groups = x2nrealloc(oc->switch_groups,
                                               &oc->allocated_switch_groups,
                                               sizeof *oc->switch_groups);
            }
            oc->switch_groups[oc->n_switch_groups++] = gd.group_id;
        }
        ofputil_uninit_group_desc(&gd);
    }
    if (!ofpmp_more(oh)) {
        VLOG_INFO("%s: switch has %"PRIuSIZE" groups in our range",
                  ofctrl_get_name(oc), oc->n_switch_groups);
        oc->state = S_IDLE;
    }
}

/* Updates. */

struct bundle_sender {
    struct ofctrl *oc;
    uint32_t bundle_id;
    uint16_t flags;
    size_t n_msgs;
};

static void
send_in_bundle(struct ofpbuf *inner, void *sender_)
{
    struct bundle_sender *sender = sender_;
    struct ofputil_bundle_add_msg bam = {
        .bundle_id = sender->bundle_id,
        .flags = sender->flags,
        .msg = inner->data,
    };

    send_msg(sender->oc, ofputil_encode_bundle_add(sender->oc->version,
                                                   &bam));
    ofpbuf_delete(inner);
    if (!(++sender->n_msgs % 256)) {
        /* Push what is queued into the socket, so that the switch is
         * never idle while a large bundle is being encoded. */
        rconn_run(sender->oc->rconn);
    }
}

static void
send_update(struct ofctrl *oc, const struct cats_desired *desired)
{
    struct ofputil_bundle_ctrl_msg bc;
    struct ofpbuf *msg;
    uint32_t *stale = NULL;
    size_t n_stale = 0;

    /* Latency counts encoding too, not only the switch's work. */
    oc->sent_at = time_msec();
    cats_update_destroy(&oc->update);
    cats_update_init(&oc->update);
    if (oc->need_full) {
        stale = xmalloc((oc->n_switch_groups + 1) * sizeof *stale);
        for (size_t i = 0; i < oc->n_switch_groups; i++) {
            if (!cats_desired_find_group(desired, oc->switch_groups[i])) {
                stale[n_stale++] = oc->switch_groups[i];
            }
        }
        COVERAGE_INC(ofctrl_full_resync);
        oc->n_full_resyncs++;
    } else {
        cats_diff_incremental(desired, &oc->installed, oc->installed_seqno,
                              &oc->update);
        if (!oc->update.n_ops) {
            /* Only tombstones of things the switch never had, or changes
             * that cancelled out. */
            oc->installed_seqno = oc->update.seqno;
            return;
        }
        statctrl_snapshot(oc->stats, &oc->update, oc->protocol);
    }

    bc = (struct ofputil_bundle_ctrl_msg) {
        .bundle_id = oc->next_bundle_id++,
        .type = OFPBCT_OPEN_REQUEST,
        .flags = OFPBF_ATOMIC | OFPBF_ORDERED,
    };
    msg = ofputil_encode_bundle_ctrl_request(oc->version, &bc);
    /* Messages are encoded after the open request, and a bundle-add
     * message carries the xid of the message it wraps: errors about any
     * part of the bundle fall in [open xid, commit xid]. */
    oc->first_xid = msg_xid(msg);
    send_msg(oc, msg);

    /* Each message goes out as soon as it is encoded (a full resync is even
     * diffed as it goes), so that the switch works on the start of a large
     * bundle while the rest is prepared. */
    struct bundle_sender sender = {
        .oc = oc,
        .bundle_id = bc.bundle_id,
        .flags = bc.flags,
        .n_msgs = 0,
    };
    if (oc->need_full) {
        cats_diff_full_encode(desired, &oc->update, oc->protocol,
                              oc->pipeline.cookie, oc->pipeline.cookie_mask,
                              stale, n_stale, send_in_bundle, &sender);
    } else {
        cats_update_encode_cb(&oc->update, oc->protocol,
                              oc->pipeline.cookie, oc->pipeline.cookie_mask,
                              NULL, 0, send_in_bundle, &sender);
    }
    free(stale);
    size_t n_msgs = sender.n_msgs;

    bc.type = OFPBCT_COMMIT_REQUEST;
    msg = ofputil_encode_bundle_ctrl_request(oc->version, &bc);
    oc->last_xid = msg_xid(msg);
    send_msg(oc, msg);

    msg = ofputil_encode_barrier_request(oc->version);
    oc->barrier_xid = ((struct ofp_header *) msg->data)->xid;
    send_msg(oc, msg);

    oc->bundle_failed = false;
    oc->state = S_IN_FLIGHT;
    oc->n_bundles++;
    oc->n_bundle_msgs += n_msgs;
    COVERAGE_INC(ofctrl_bundle_sent);
    VLOG_DBG("%s: sent %s bundle %"PRIu32": %"PRIuSIZE" changes up to seqno "
             "%"PRIu64, ofctrl_get_name(oc),
             oc->update.full ? "full" : "incremental", bc.bundle_id,
             oc->update.n_ops, oc->update.seqno);
}

static void
handle_barrier_reply(struct ofctrl *oc)
{
    long long int now = time_msec();

    oc->last_bundle_ms = now - oc->sent_at;
    oc->last_bundle_ops = oc->update.n_ops;
    if (!oc->bundle_failed) {
        cats_installed_apply(&oc->installed, &oc->update);
        oc->installed_seqno = oc->update.seqno;
        if (oc->update.full) {
            VLOG_INFO("%s: resynchronized: %"PRIuSIZE" flows and groups "
                      "confirmed in %lld ms (%lld ms after connecting)",
                      ofctrl_get_name(oc), oc->update.n_ops,
                      oc->last_bundle_ms, now - oc->connected_at);
        }
        oc->need_full = false;
        oc->retry_ms = RETRY_MIN_MS;
        COVERAGE_INC(ofctrl_bundle_confirmed);
    } else {
        /* The bundle was atomic: nothing of it was applied.  What the switch
         * runs may still differ from what we believe (someone else may have
         * changed it), so start over from a group dump, after a backoff. */
        oc->n_bundle_failures++;
        COVERAGE_INC(ofctrl_bundle_failed);
        VLOG_WARN("%s: bundle of %"PRIuSIZE" changes failed; full resync in "
                  "%d ms", ofctrl_get_name(oc), oc->update.n_ops,
                  oc->retry_ms);
        oc->need_full = true;
        oc->retry_at = now + oc->retry_ms;
        oc->retry_ms = MIN(oc->retry_ms * 2, RETRY_MAX_MS);
    }
    cats_update_destroy(&oc->update);
    cats_update_init(&oc->update);
    oc->state = S_IDLE;
    if (oc->resync_after_flight) {
        oc->resync_after_flight = false;
        oc->need_full = true;
    }
    if (oc->need_full) {
        start_group_dump(oc);
    }
}

static void
handle_error(struct ofctrl *oc, const struct ofp_header *oh)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(10, 10);
    uint32_t xid = ntohl(oh->xid);
    struct ofpbuf payload;
    enum ofperr error;
    char *request = NULL;

    oc->n_errors++;
    COVERAGE_INC(ofctrl_switch_error);
    error = ofperr_decode_msg(oh, &payload);
    if (error) {
        if (payload.size >= sizeof(struct ofp_header)) {
            request = ofp_to_string(payload.data, MIN(payload.size, 512),
                                    NULL, NULL, 1);
        }
        set_last_error(oc, xasprintf("%s%s%s", ofperr_get_name(error),
                                     request ? " in reply to: " : "",
                                     request ? request : ""));
        free(request);
        ofpbuf_uninit(&payload);
    } else {
        /* An error we cannot name (another vendor's experimenter error, an
         * unknown code): still an error about the request it answers. */
        const struct ofp_error_msg *em = (const void *) (oh + 1);

        set_last_error(oc, ntohs(oh->length) >= sizeof *oh + sizeof *em
                       ? xasprintf("unknown error (type %"PRIu16", code "
                                   "%"PRIu16")", ntohs(em->type),
                                   ntohs(em->code))
                       : xstrdup("unknown, truncated error"));
    }
    VLOG_WARN_RL(&rl, "%s: switch reported error: %s", ofctrl_get_name(oc),
                 oc->last_error);

    if (oc->state == S_IN_FLIGHT
        && xid - oc->first_xid <= oc->last_xid - oc->first_xid) {
        oc->bundle_failed = true;
    } else if (oc->state == S_DUMP_GROUPS && oh->xid == oc->dump_xid) {
        /* No group dump: assume none of ours exist.  (Deleting a group
         * that does not exist is no error, so nothing is lost but the
         * chance to delete stale ones.) */
        oc->n_switch_groups = 0;
        oc->state = S_IDLE;
    } else {
        statctrl_handle_error(oc->stats, oh);
    }
}

unsigned int
ofctrl_get_connection_seqno(const struct ofctrl *oc)
{
    return rconn_get_connection_seqno(oc->rconn);
}

/* Main loop. */

static void
handle_role_reply(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofputil_role_request rr;

    if (!ofputil_decode_role_message(oh, &rr)
        && rr.role != OFPCR12_ROLE_NOCHANGE) {
        VLOG_INFO("%s: role is %s", ofctrl_get_name(oc), role_name(rr.role));
        oc->role = rr.role;
    } else {
        count_bad_message(oc);
    }
}

void
ofctrl_resync(struct ofctrl *oc)
{
    /* After the bundle in flight, if any, whose success must not cancel
     * it. */
    oc->need_full = true;
    if (oc->state == S_IN_FLIGHT) {
        oc->resync_after_flight = true;
    } else if (oc->state == S_IDLE) {
        start_group_dump(oc);
    }
}

static void
handle_role_status(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofputil_role_status rs;

    if (ofputil_decode_role_status(oh, &rs)
        || rs.role == OFPCR12_ROLE_NOCHANGE) {
        count_bad_message(oc);
        return;
    }
    /* Another controller took over as primary. */
    VLOG_WARN("%s: switch changed our role to %s", ofctrl_get_name(oc),
              role_name(rs.role));
    oc->role = rs.role;
    if (rs.role == OFPCR12_ROLE_PRIMARY) {
        /* Taking over: what the switch runs is whatever the previous
         * primary left. */
        ofctrl_resync(oc);
    }
}

static void
handle_features_reply(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_switch_features features;

    if (ofputil_pull_switch_features(&b, &features)) {
        count_bad_message(oc);
        return;
    }
    if (!features.auxiliary_id) {
        oc->dpid = features.datapath_id;
        oc->has_dpid = true;
        VLOG_INFO("%s: datapath id %016"PRIx64, ofctrl_get_name(oc),
                  oc->dpid);
        /* The owner picks this switch's desired table by it. */
        poll_immediate_wake();
    }
}

/* The dispatcher: hands each message from the switch to the module whose
 * conversation it belongs to.  Statistics replies and port status go to
 * statctrl, packet-ins to pinctrl, the rest of what needs an action is
 * flow sync's (or the connection's). */
static void
handle_msg(struct ofctrl *oc, struct ofpbuf *msg)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    const struct ofp_header *oh = msg->data;
    enum ofptype type;
    enum ofperr error;

    error = ofptype_decode(&type, oh);
    if (error) {
        count_bad_message(oc);
        VLOG_WARN_RL(&rl, "%s: undecodable message (%s)", ofctrl_get_name(oc),
                     ofperr_to_string(error));
        return;
    }

    switch (type) {
    case OFPTYPE_FLOW_STATS_REPLY:
    case OFPTYPE_PORT_STATS_REPLY:
    case OFPTYPE_QUEUE_STATS_REPLY:
    case OFPTYPE_PORT_DESC_STATS_REPLY:
    case OFPTYPE_PORT_STATUS:
        if (!statctrl_handle_msg(oc->stats, type, oh)) {
            count_bad_message(oc);
        }
        break;

    case OFPTYPE_PACKET_IN:
        pinctrl_handle_packet_in(oc->pins, oh, oc->protocol);
        break;

    case OFPTYPE_ECHO_REQUEST:
        send_msg(oc, ofputil_encode_echo_reply(oh));
        break;

    case OFPTYPE_ERROR:
        handle_error(oc, oh);
        break;

    case OFPTYPE_BARRIER_REPLY:
        if (oc->state == S_IN_FLIGHT && oh->xid == oc->barrier_xid) {
            handle_barrier_reply(oc);
        }
        break;

    case OFPTYPE_GROUP_DESC_STATS_REPLY:
        if (oc->state == S_DUMP_GROUPS && oh->xid == oc->dump_xid) {
            handle_group_desc_reply(oc, oh);
        }
        break;

    case OFPTYPE_ROLE_REPLY:
        handle_role_reply(oc, oh);
        break;

    case OFPTYPE_ROLE_STATUS:
        handle_role_status(oc, oh);
        break;

    case OFPTYPE_FEATURES_REPLY:
        handle_features_reply(oc, oh);
        break;

    default:
        /* Flow removed, bundle replies and the rest need no action. */
        break;
    }
}

void
ofctrl_run(struct ofctrl *oc, const struct cats_desired *desired,
           const struct pinctrl_probe *probes, size_t n_probes)
{
    unsigned int conn_seqno;

    rconn_run(oc->rconn);

    conn_seqno = rconn_get_connection_seqno(oc->rconn);
    if (conn_seqno != oc->conn_seqno) {
        oc->conn_seqno = conn_seqno;
        ofctrl_reset(oc);
    }
    if (!rconn_is_connected(oc->rconn)) {
        return;
    }

    if (oc->state == S_DISCONNECTED) {
        oc->version = rconn_get_version(oc->rconn);
        oc->protocol = ofputil_protocol_from_ofp_version(oc->version);
        oc->n_connects++;
        oc->connected_at = time_msec();
        VLOG_INFO("%s: connected (%s)", ofctrl_get_name(oc),
                  ofputil_protocol_to_string(oc->protocol));
        oc->role = oc->cfg.role;
        if (oc->cfg.role != OFPCR12_ROLE_EQUAL) {
            send_role_request(oc);
        }
        /* NXT_PACKET_IN2: the only format that carries the continuation
         * of a paused packet and our actions' userdata. */
        send_msg(oc, ofputil_encode_set_packet_in_format(
                     oc->version, OFPUTIL_PACKET_IN_NXT2));
        /* For the datapath id. */
        send_msg(oc, ofpraw_alloc(OFPRAW_OFPT_FEATURES_REQUEST, oc->version,
                                  0));
        start_group_dump(oc);
    }

    for (int i = 0; i < MAX_RECV_PER_RUN; i++) {
        struct ofpbuf *msg = rconn_recv(oc->rconn);
        if (!msg) {
            break;
        }
        handle_msg(oc, msg);
        ofpbuf_delete(msg);
        if (rconn_get_connection_seqno(oc->rconn) != oc->conn_seqno) {
            return;
        }
    }

    /* A secondary controller keeps its model warm but never writes. */
    bool secondary = oc->role == OFPCR12_ROLE_SECONDARY;
    if (!desired) {
        return;
    }
    if (oc->state == S_IDLE && !secondary
        && (oc->need_full || desired->seqno != oc->installed_seqno)
        && time_msec() >= oc->retry_at) {
        send_update(oc, desired);
    }
    if (oc->state == S_IDLE || oc->state == S_IN_FLIGHT) {
        if (oc->installed_seqno) {
            statctrl_run(oc->stats, oc->protocol);
        }
        pinctrl_run(oc->pins, oc->protocol, probes, n_probes, secondary,
                    oc->installed_seqno, oc->need_full);
    }
}

void
ofctrl_wait(struct ofctrl *oc)
{
    rconn_run_wait(oc->rconn);
    rconn_recv_wait(oc->rconn);
    if (!rconn_is_connected(oc->rconn)) {
        return;
    }
    if (oc->state == S_DISCONNECTED) {
        poll_immediate_wake();
    }
    if (oc->state == S_IDLE && oc->need_full && oc->retry_at) {
        poll_timer_wait_until(oc->retry_at);
    }
    if ((oc->state == S_IDLE || oc->state == S_IN_FLIGHT)
        && oc->installed_seqno) {
        statctrl_wait(oc->stats);
        pinctrl_wait(oc->pins);
    }
}

void
ofctrl_format(const struct ofctrl *oc, struct ds *s)
{
    struct pinctrl_stats pins;

    pinctrl_get_stats(oc->pins, &pins);
    ds_put_format(s, "%s (%s): %s", ofctrl_get_name(oc),
                  oc->passive ? "passive" : "active",
                  rconn_is_connected(oc->rconn) ? "connected"
                  : rconn_get_state(oc->rconn));
    if (rconn_is_connected(oc->rconn)) {
        ds_put_format(s, ", %s, state %s, role %s",
                      ofputil_protocol_to_string(oc->protocol),
                      state_name(oc->state), role_name(oc->role));
    }
    ds_put_format(s, "\n  installed: seqno %"PRIu64", %"PRIuSIZE" flows, "
                  "%"PRIuSIZE" groups%s\n", oc->installed_seqno,
                  hmap_count(&oc->installed.flows),
                  hmap_count(&oc->installed.groups),
                  oc->need_full ? " (full resync pending)" : "");
    ds_put_format(s, "  connects %"PRIu64", bundles %"PRIu64" (%"PRIu64
                  " messages, %"PRIu64" failed), full resyncs %"PRIu64
                  ", switch errors %"PRIu64", bad messages %"PRIu64
                  ", arp probes %"PRIu64"\n",
                  oc->n_connects, oc->n_bundles, oc->n_bundle_msgs,
                  oc->n_bundle_failures, oc->n_full_resyncs, oc->n_errors,
                  oc->n_bad_messages, pins.probes);
    if (oc->n_bundles) {
        ds_put_format(s, "  last bundle: %"PRIuSIZE" changes confirmed in "
                      "%lld ms\n", oc->last_bundle_ops, oc->last_bundle_ms);
    }
    pinctrl_format(oc->pins, s);
    if (oc->last_error) {
        ds_put_format(s, "  last error: %s\n", oc->last_error);
    }
}

/* Test support. */

void
ofctrl_set_state_for_testing(struct ofctrl *oc, enum ofctrl_test_state which,
                             ovs_be32 xid)
{
    oc->version = OFP15_VERSION;
    oc->protocol = ofputil_protocol_from_ofp_version(OFP15_VERSION);
    switch (which) {
    case OFCTRL_TEST_DUMP_GROUPS:
        oc->state = S_DUMP_GROUPS;
        oc->dump_xid = xid;
        break;
    case OFCTRL_TEST_STATS:
    case OFCTRL_TEST_SNAPSHOT:
        oc->state = S_IDLE;
        oc->need_full = false;
        oc->installed_seqno = 1;
        statctrl_await_for_testing(oc->stats, (which == OFCTRL_TEST_STATS
                                               ? STATCTRL_COUNTERS
                                               : STATCTRL_SNAPSHOT), xid);
        break;
    case OFCTRL_TEST_PORT_STATS:
        statctrl_await_for_testing(oc->stats, STATCTRL_PORT_STATS, xid);
        break;
    case OFCTRL_TEST_IN_FLIGHT:
        oc->state = S_IN_FLIGHT;
        oc->need_full = false;
        oc->bundle_failed = false;
        oc->barrier_xid = xid;
        oc->first_xid = ntohl(xid) - 2;
        oc->last_xid = ntohl(xid) - 1;
        break;
    }
}

void
ofctrl_receive_for_testing(struct ofctrl *oc, struct ofpbuf *msg)
{
    handle_msg(oc, msg);
}

bool
ofctrl_needs_full_resync(const struct ofctrl *oc)
{
    return oc->need_full;
}

uint64_t
ofctrl_get_n_errors(const struct ofctrl *oc)
{
    return oc->n_errors;
}

uint64_t
ofctrl_get_n_bad_messages(const struct ofctrl *oc)
{
    return oc->n_bad_messages;
}

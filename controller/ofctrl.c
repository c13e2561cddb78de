/*
 * ovs-cats: one OpenFlow switch connection.  See ofctrl.h.
 */

#include <config.h>

#include "ofctrl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cats/catalog.h"
#include "cats/flow-model.h"
#include "cats/flow-table.h"
#include "coverage.h"
#include "dp-packet.h"
#include "hash.h"
#include "openflow/openflow.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-bundle.h"
#include "openvswitch/ofp-connection.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-group.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/ofp-print.h"
#include "openvswitch/ofp-queue.h"
#include "openvswitch/ofp-util.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/shash.h"
#include "netdev.h"
#include "byte-order.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(ofctrl);

COVERAGE_DEFINE(ofctrl_bundle_sent);
COVERAGE_DEFINE(ofctrl_bundle_confirmed);
COVERAGE_DEFINE(ofctrl_bundle_failed);
COVERAGE_DEFINE(ofctrl_full_resync);
COVERAGE_DEFINE(ofctrl_switch_error);
COVERAGE_DEFINE(ofctrl_bad_message);
COVERAGE_DEFINE(ofctrl_arp_probe);

/* Messages processed per run, so that one busy switch cannot starve the
 * rest of the main loop. */
#define MAX_RECV_PER_RUN 256

/* ARP probes sent per run and queued at most. */
#define MAX_PROBES_PER_RUN 256
#define MAX_QUEUED_PROBES 1024

/* Services whose counters are snapshotted right before a bundle that
 * changes their weights; past this, the periodic poll rebases them. */
#define MAX_REBASES 64

/* Counters kept per switch, at most. */
#define MAX_COUNTERS (1 << 20)

/* Ports whose statistics are kept per switch, at most. */
#define MAX_PORTS 4096

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

    /* New-connection counters. */
    struct hmap counters;           /* Contains "struct ofctrl_counter"s. */
    ovs_be32 snapshot_xid;          /* Counters just before a reweight. */
    bool snapshot_pending;
    struct ofctrl_rebase {
        uint32_t service_id;
        uint64_t seqno;             /* Group seqno the bundle installs. */
    } rebases[MAX_REBASES];         /* Services whose weights it changes. */
    size_t n_rebases;
    long long int next_stats;
    ovs_be32 stats_xid;
    bool stats_pending;
    uint64_t counters_seqno;        /* Completed counter polls. */

    /* Port statistics and names. */
    ovs_be32 ports_xid;
    bool ports_pending;
    struct ofctrl_port_stats *ports, *ports_new;
    size_t n_ports, n_ports_new;
    uint64_t ports_seqno;
    ovs_be32 queues_xid;
    bool queues_pending;
    struct ofctrl_queue_stats *queues, *queues_new;
    size_t n_queues, n_queues_new;
    uint64_t queues_seqno;
    ovs_be32 desc_xid;
    bool desc_pending;
    bool desc_wanted;               /* Refresh port names. */
    struct shash port_names;        /* Port number as string -> name. */

    /* ARP probes. */
    long long int next_probe;
    size_t probe_cursor;
    bool probe_now;
    struct rconn_packet_counter *probe_counter;

    /* Per-connection decisions. */
    struct ofctrl_pick_service *picks;
    size_t n_picks;
    uint64_t picks_seqno;           /* Lease once this is installed. */
    struct ofctrl_pick_service *unpicks;    /* To delete. */
    size_t n_unpicks;
    long long int next_lease;
    struct ofctrl_pick_stats pick_stats;

    /* Statistics for cats/show. */
    uint64_t n_connects;
    uint64_t n_bundles;
    uint64_t n_bundle_msgs;
    uint64_t n_bundle_failures;
    uint64_t n_full_resyncs;
    uint64_t n_errors;
    uint64_t n_bad_messages;
    uint64_t n_probes;
    long long int last_bundle_ms;   /* Commit to barrier reply. */
    size_t last_bundle_ops;
    char *last_error;
};

static void ofctrl_reset(struct ofctrl *);
static void request_snapshot(struct ofctrl *, const struct cats_update *);

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
    hmap_init(&oc->counters);
    shash_init(&oc->port_names);
    oc->probe_counter = rconn_packet_counter_create();
    oc->next_bundle_id = 1;
    oc->retry_ms = RETRY_MIN_MS;
    ofctrl_reset(oc);
    return oc;
}

static void
counters_clear(struct ofctrl *oc)
{
    struct ofctrl_counter *c;

    HMAP_FOR_EACH_POP (c, node, &oc->counters) {
        free(c);
    }
}

void
ofctrl_destroy(struct ofctrl *oc)
{
    if (oc) {
        rconn_destroy(oc->rconn);
        cats_installed_destroy(&oc->installed);
        cats_update_destroy(&oc->update);
        counters_clear(oc);
        hmap_destroy(&oc->counters);
        shash_destroy_free_data(&oc->port_names);
        free(oc->ports);
        free(oc->ports_new);
        free(oc->queues);
        free(oc->queues_new);
        rconn_packet_counter_destroy(oc->probe_counter);
        free(oc->picks);
        free(oc->unpicks);
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
    oc->stats_pending = false;
    oc->next_stats = 0;
    oc->probe_now = true;
    oc->probe_cursor = 0;
    oc->retry_at = 0;
    oc->snapshot_pending = false;
    counters_clear(oc);
    oc->ports_pending = false;
    oc->queues_pending = false;
    oc->n_queues_new = 0;
    oc->desc_pending = false;
    oc->desc_wanted = true;
    oc->n_ports_new = 0;
    oc->next_lease = 0;
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

const struct cats_installed *
ofctrl_get_installed(const struct ofctrl *oc)
{
    return &oc->installed;
}

void
ofctrl_probe_now(struct ofctrl *oc)
{
    oc->probe_now = true;
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
                oc->n_bad_messages++;
                COVERAGE_INC(ofctrl_bad_message);
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
        request_snapshot(oc, &oc->update);
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
    } else if (oc->stats_pending && oh->xid == oc->stats_xid) {
        oc->stats_pending = false;
    } else if (oc->snapshot_pending && oh->xid == oc->snapshot_xid) {
        oc->snapshot_pending = false;
    }
}

/* Counters. */

static uint32_t
counter_hash(uint32_t service_id, ovs_be32 ip, uint16_t port)
{
    return hash_3words(service_id, (OVS_FORCE uint32_t) ip, port);
}

const struct ofctrl_counter *
ofctrl_get_counter(const struct ofctrl *oc, uint32_t service_id,
                   ovs_be32 ip, uint16_t port)
{
    const struct ofctrl_counter *c;

    HMAP_FOR_EACH_WITH_HASH (c, node, counter_hash(service_id, ip, port),
                             &oc->counters) {
        if (c->service_id == service_id && c->ip == ip && c->port == port) {
            return c;
        }
    }
    return NULL;
}

/* The seqno of the installed group of 'service_id', 0 if none. */
static uint64_t
installed_group_seqno(const struct ofctrl *oc, uint32_t service_id)
{
    uint32_t group_id = oc->pipeline.group_base + service_id;
    const struct cats_group *g;

    HMAP_FOR_EACH_WITH_HASH (g, node, hash_int(group_id, 0),
                             &oc->installed.groups) {
        if (g->group_id == group_id) {
            return g->seqno;
        }
    }
    return 0;
}

static const struct ofctrl_rebase *
find_rebase(const struct ofctrl *oc, uint32_t service_id)
{
    for (size_t i = 0; i < oc->n_rebases; i++) {
        if (oc->rebases[i].service_id == service_id) {
            return &oc->rebases[i];
        }
    }
    return NULL;
}

/* Updates the counters from a flow stats reply.  A 'snapshot' was asked
 * right before a bundle that changes some services' weights: the switch
 * answers it before applying the bundle, so its counts are exactly where
 * the new split starts. */
static void
handle_flow_stats_reply(struct ofctrl *oc, const struct ofp_header *oh,
                        bool snapshot)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct counter_sample {
        uint32_t sid;
        ovs_be32 ip;
        uint16_t port;
        uint64_t packets;
    } *samples = NULL;
    size_t n_samples = 0, allocated = 0;
    bool bad = false;

    /* Decode the whole message first: a reply with a bad entry changes no
     * counter at all. */
    for (;;) {
        struct ofputil_flow_stats fs;
        int retval = ofputil_decode_flow_stats_reply(&fs, &b, false,
                                                     &ofpacts);
        if (retval) {
            if (retval != EOF) {
                static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
                VLOG_WARN_RL(&rl, "%s: bad flow stats reply (%s)",
                             ofctrl_get_name(oc), ofperr_to_string(retval));
                oc->n_bad_messages++;
                COVERAGE_INC(ofctrl_bad_message);
                bad = true;
            }
            break;
        }

        /* Only the counter flows: exact ct_mark, destination and port.
         * Anything else the switch returns is ignored. */
        const struct match *m = &fs.match;
        if (fs.table_id != oc->pipeline.table_base + 2
            || m->wc.masks.ct_mark != UINT32_MAX
            || m->wc.masks.nw_dst != OVS_BE32_MAX
            || m->wc.masks.tp_dst != OVS_BE16_MAX
            || fs.packet_count == UINT64_MAX) {
            continue;
        }
        if (n_samples >= allocated) {
            samples = x2nrealloc(samples, &allocated, sizeof *samples);
        }
        samples[n_samples++] = (struct counter_sample) {
            .sid = m->flow.ct_mark,
            .ip = m->flow.nw_dst,
            .port = ntohs(m->flow.tp_dst),
            .packets = fs.packet_count,
        };
    }
    ofpbuf_uninit(&ofpacts);

    for (size_t i = 0; !bad && i < n_samples; i++) {
        const struct counter_sample *cs = &samples[i];
        const struct ofctrl_rebase *rb = (snapshot
                                          ? find_rebase(oc, cs->sid)
                                          : NULL);
        uint64_t seqno = rb ? rb->seqno : installed_group_seqno(oc, cs->sid);
        struct ofctrl_counter *c;

        c = CONST_CAST(struct ofctrl_counter *,
                       ofctrl_get_counter(oc, cs->sid, cs->ip, cs->port));
        if (!c) {
            if (hmap_count(&oc->counters) >= MAX_COUNTERS) {
                continue;           /* Bounded, whatever the switch says. */
            }
            c = xzalloc(sizeof *c);
            c->service_id = cs->sid;
            c->ip = cs->ip;
            c->port = cs->port;
            c->base = c->packets = rb ? cs->packets : 0;
            c->group_seqno = seqno;
            hmap_insert(&oc->counters, &c->node,
                        counter_hash(cs->sid, cs->ip, cs->port));
        } else if (rb) {
            c->base = cs->packets;      /* Exactly where the split starts. */
            c->group_seqno = seqno;
        } else if (cs->packets < c->packets) {
            c->base = 0;                /* Flow re-added: counts restart. */
            c->group_seqno = seqno;
        } else if (c->group_seqno != seqno) {
            /* The weights changed without a snapshot: count the new split
             * from the last poll (connections made between that poll and
             * the change count toward it: one poll interval at most). */
            c->base = c->packets;
            c->group_seqno = seqno;
        }
        c->packets = cs->packets;
    }
    free(samples);

    if (!ofpmp_more(oh)) {
        if (snapshot) {
            oc->snapshot_pending = false;
        } else {
            oc->stats_pending = false;
        }
        oc->counters_seqno++;
    }
}

uint64_t
ofctrl_get_counters_seqno(const struct ofctrl *oc)
{
    return oc->counters_seqno;
}

static struct ofpbuf *
encode_counters_request(const struct ofctrl *oc)
{
    struct ofputil_flow_stats_request fsr = {
        .aggregate = false,
        .cookie = htonll(oc->pipeline.cookie),
        .cookie_mask = htonll(oc->pipeline.cookie_mask),
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .table_id = oc->pipeline.table_base + 2,
    };
    match_init_catchall(&fsr.match);
    return ofputil_encode_flow_stats_request(&fsr, oc->protocol);
}

/* Asks for the counters just before sending 'u', if it changes the weights
 * of a few services, so that their new split is counted from its first
 * connection. */
static void
request_snapshot(struct ofctrl *oc, const struct cats_update *u)
{
    const struct cats_op *op;

    if (oc->cfg.stats_interval_ms <= 0 || oc->snapshot_pending) {
        return;
    }
    oc->n_rebases = 0;
    LIST_FOR_EACH (op, node, &u->ops) {
        if (op->type == CATS_OP_GROUP_ADD || op->type == CATS_OP_GROUP_MOD) {
            if (oc->n_rebases >= MAX_REBASES) {
                oc->n_rebases = 0;
                return;
            }
            oc->rebases[oc->n_rebases++] = (struct ofctrl_rebase) {
                .service_id = op->group->service_id,
                .seqno = op->group->seqno,
            };
        }
    }
    if (oc->n_rebases) {
        struct ofpbuf *req = encode_counters_request(oc);
        oc->snapshot_xid = ((struct ofp_header *) req->data)->xid;
        oc->snapshot_pending = true;
        send_msg(oc, req);
    }
}

static void
maybe_request_stats(struct ofctrl *oc)
{
    long long int now = time_msec();

    if (oc->cfg.stats_interval_ms <= 0 || oc->stats_pending
        || now < oc->next_stats || !oc->installed_seqno) {
        return;
    }

    struct ofpbuf *req = encode_counters_request(oc);
    oc->stats_xid = ((struct ofp_header *) req->data)->xid;
    oc->stats_pending = true;
    oc->next_stats = now + oc->cfg.stats_interval_ms;
    send_msg(oc, req);

    enum ofp_version version = rconn_get_version(oc->rconn);
    if (oc->desc_wanted && !oc->desc_pending) {
        req = ofputil_encode_port_desc_stats_request(version, OFPP_ANY);
        oc->desc_xid = ((struct ofp_header *) req->data)->xid;
        oc->desc_pending = true;
        oc->desc_wanted = false;
        send_msg(oc, req);
    }
    if (!oc->ports_pending) {
        req = ofputil_encode_dump_ports_request(version, OFPP_ANY);
        oc->ports_xid = ((struct ofp_header *) req->data)->xid;
        oc->ports_pending = true;
        oc->n_ports_new = 0;
        send_msg(oc, req);
    }
    if (!oc->queues_pending) {
        struct ofputil_queue_stats_request qsr = {
            .port_no = OFPP_ANY,
            .queue_id = OFPQ_ALL,
        };

        req = ofputil_encode_queue_stats_request(version, &qsr);
        oc->queues_xid = ((struct ofp_header *) req->data)->xid;
        oc->queues_pending = true;
        oc->n_queues_new = 0;
        send_msg(oc, req);
    }
}

/* An OpenFlow statistic, UINT64_MAX ("not supported") as 0. */
static uint64_t
stat_value(uint64_t x)
{
    return x == UINT64_MAX ? 0 : x;
}

static void
handle_queue_stats_reply(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_queue_stats qs;
    int error;

    while (!(error = ofputil_decode_queue_stats(&qs, &b))) {
        struct ofctrl_queue_stats *q;

        if (ofp_to_u16(qs.port_no) >= ofp_to_u16(OFPP_MAX)
            || oc->n_queues_new >= MAX_PORTS) {
            continue;
        }
        oc->queues_new = xrealloc(oc->queues_new, (oc->n_queues_new + 1)
                                  * sizeof *oc->queues_new);
        q = &oc->queues_new[oc->n_queues_new++];
        q->port_no = ofp_to_u16(qs.port_no);
        q->queue_id = qs.queue_id;
        q->tx_packets = stat_value(qs.tx_packets);
        q->tx_bytes = stat_value(qs.tx_bytes);
        q->tx_errors = stat_value(qs.tx_errors);
    }
    if (error != EOF) {
        oc->n_bad_messages++;
        COVERAGE_INC(ofctrl_bad_message);
        oc->queues_pending = false;
        oc->n_queues_new = 0;
        return;
    }
    if (!ofpmp_more(oh)) {
        struct ofctrl_queue_stats *tmp = oc->queues;

        oc->queues = oc->queues_new;
        oc->n_queues = oc->n_queues_new;
        oc->queues_new = tmp;
        oc->n_queues_new = 0;
        oc->queues_seqno++;
        oc->queues_pending = false;
    }
}

const struct ofctrl_queue_stats *
ofctrl_get_queues(const struct ofctrl *oc, size_t *n, uint64_t *seqno)
{
    *n = oc->n_queues;
    *seqno = oc->queues_seqno;
    return oc->queues;
}

static void
handle_port_desc_reply(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    enum ofp_version version = oh->version;
    struct ofputil_phy_port pp;
    int error;

    ofpraw_pull_assert(&b);
    while (!(error = ofputil_pull_phy_port(version, &b, &pp))) {
        char key[16];

        struct ofctrl_port_stats *d = xzalloc(sizeof *d);

        snprintf(key, sizeof key, "%"PRIu32, ofp_to_u16(pp.port_no));
        memcpy(d->name, pp.name, sizeof d->name);
        d->name[sizeof d->name - 1] = '\0';
        d->speed_bps = pp.curr_speed * 1000ULL;
        free(shash_replace(&oc->port_names, key, d));
        if (shash_count(&oc->port_names) > MAX_PORTS) {
            break;
        }
    }
    if (error != EOF && error) {
        oc->n_bad_messages++;
        COVERAGE_INC(ofctrl_bad_message);
    }
    if (!ofpmp_more(oh)) {
        oc->desc_pending = false;
    }
}

static void
handle_port_stats_reply(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_port_stats ps;
    int error;

    while (!(error = ofputil_decode_port_stats(&ps, &b))) {
        const struct ofctrl_port_stats *d;
        struct ofctrl_port_stats *p;
        char key[16];

        netdev_free_custom_stats_counters(&ps.custom_stats);
        if (ofp_to_u16(ps.port_no) >= ofp_to_u16(OFPP_MAX)
            || oc->n_ports_new >= MAX_PORTS) {
            continue;           /* LOCAL and other reserved ports. */
        }
        oc->ports_new = xrealloc(oc->ports_new, (oc->n_ports_new + 1)
                                 * sizeof *oc->ports_new);
        p = &oc->ports_new[oc->n_ports_new++];
        memset(p, 0, sizeof *p);
        p->port_no = ofp_to_u16(ps.port_no);
        snprintf(key, sizeof key, "%"PRIu32, p->port_no);
        d = shash_find_data(&oc->port_names, key);
        if (d) {
            memcpy(p->name, d->name, sizeof p->name);
            p->speed_bps = d->speed_bps;
        }
        p->tx_packets = stat_value(ps.stats.tx_packets);
        p->tx_bytes = stat_value(ps.stats.tx_bytes);
        p->tx_dropped = stat_value(ps.stats.tx_dropped);
        p->tx_errors = stat_value(ps.stats.tx_errors);
        p->rx_packets = stat_value(ps.stats.rx_packets);
        p->rx_bytes = stat_value(ps.stats.rx_bytes);
        p->rx_dropped = stat_value(ps.stats.rx_dropped);
        p->rx_errors = stat_value(ps.stats.rx_errors);
    }
    if (error != EOF) {
        oc->n_bad_messages++;
        COVERAGE_INC(ofctrl_bad_message);
        oc->ports_pending = false;
        oc->n_ports_new = 0;
        return;
    }
    if (!ofpmp_more(oh)) {
        struct ofctrl_port_stats *tmp = oc->ports;

        oc->ports = oc->ports_new;
        oc->n_ports = oc->n_ports_new;
        oc->ports_new = tmp;
        oc->n_ports_new = 0;
        oc->ports_seqno++;
        oc->ports_pending = false;
    }
}

unsigned int
ofctrl_get_connection_seqno(const struct ofctrl *oc)
{
    return rconn_get_connection_seqno(oc->rconn);
}

const struct ofctrl_port_stats *
ofctrl_get_ports(const struct ofctrl *oc, size_t *n, uint64_t *seqno)
{
    *n = oc->n_ports;
    *seqno = oc->ports_seqno;
    return oc->ports;
}

/* ARP probes: ask, as the VIP, for each instance's MAC, so that the
 * learn() flow of the pipeline fills the next-hop table before the first
 * connection needs it. */
static void
maybe_send_probes(struct ofctrl *oc, const struct ofctrl_probe *probes,
                  size_t n_probes)
{
    long long int now = time_msec();
    size_t sent = 0;

    if (!oc->installed_seqno || oc->cfg.probe_interval_ms <= 0
        || (!oc->probe_now && now < oc->next_probe)) {
        return;
    }
    if (!n_probes || oc->role == OFPCR12_ROLE_SECONDARY) {
        /* Nothing to ask (every instance has a static MAC) or not ours to
         * ask: the round is done, or ofctrl_wait() would keep waking. */
        oc->probe_now = false;
        oc->next_probe = now + oc->cfg.probe_interval_ms;
        return;
    }
    if (oc->probe_now) {
        oc->probe_now = false;
        oc->probe_cursor = 0;
    }
    while (sent < MAX_PROBES_PER_RUN && oc->probe_cursor < n_probes
           && rconn_packet_counter_n_packets(oc->probe_counter)
              < MAX_QUEUED_PROBES) {
        const struct ofctrl_probe *p = &probes[oc->probe_cursor++];
        struct eth_addr mac = cats_vip_mac(p->vip);
        uint64_t stub[64 / 8];
        struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
        struct ofputil_packet_out po;
        struct dp_packet packet;

        dp_packet_init(&packet, 64);
        compose_arp(&packet, ARP_OP_REQUEST, mac, eth_addr_zero, true,
                    p->vip, p->ip);
        ofpact_put_OUTPUT(&ofpacts)->port = OFPP_FLOOD;

        memset(&po, 0, sizeof po);
        po.packet = dp_packet_data(&packet);
        po.packet_len = dp_packet_size(&packet);
        po.buffer_id = UINT32_MAX;
        match_init_catchall(&po.flow_metadata);
        match_set_in_port(&po.flow_metadata, OFPP_CONTROLLER);
        po.ofpacts = ofpacts.data;
        po.ofpacts_len = ofpacts.size;
        rconn_send_with_limit(oc->rconn,
                              ofputil_encode_packet_out(&po, oc->protocol),
                              oc->probe_counter, MAX_QUEUED_PROBES);
        dp_packet_uninit(&packet);
        ofpbuf_uninit(&ofpacts);
        sent++;
        oc->n_probes++;
        COVERAGE_INC(ofctrl_arp_probe);
    }
    if (oc->probe_cursor >= n_probes) {
        oc->next_probe = now + oc->cfg.probe_interval_ms;
        oc->probe_cursor = 0;
    } else {
        poll_immediate_wake();
    }
}

/* Per-connection decisions. */

COVERAGE_DEFINE(ofctrl_pick);
COVERAGE_DEFINE(ofctrl_unpicked);
COVERAGE_DEFINE(ofctrl_conn_end);
COVERAGE_DEFINE(ofctrl_bad_packet_in);

static void
bad_packet_in(struct ofctrl *oc, const char *why)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    oc->pick_stats.bad++;
    COVERAGE_INC(ofctrl_bad_packet_in);
    VLOG_WARN_RL(&rl, "%s: packet-in ignored: %s", ofctrl_get_name(oc), why);
}

static bool
pick_listed(const struct ofctrl *oc, uint32_t service_id)
{
    for (size_t i = 0; i < oc->n_picks; i++) {
        if (oc->picks[i].service_id == service_id) {
            return true;
        }
    }
    return false;
}

/* A packet-in from one of our controller actions: a paused new connection
 * to pick an instance for (answered with a resume, picked or not, so that
 * the packet is never stranded), or an instance's FIN/RST.  Anything else
 * is counted and dropped: a switch is a peer to validate like any other. */
static void
handle_packet_in(struct ofctrl *oc, const struct ofp_header *oh)
{
    struct ofputil_packet_in pin;
    struct ofpbuf continuation;
    struct cats_pin_userdata ud;
    enum ofperr error;

    error = ofputil_decode_packet_in(oh, true, NULL, NULL, &pin, NULL, NULL,
                                     &continuation);
    if (error) {
        bad_packet_in(oc, ofperr_to_string(error));
        return;
    }
    if (pin.reason != OFPR_ACTION || pin.userdata_len != sizeof ud) {
        /* Not ours: a table miss, or another application's action. */
        bad_packet_in(oc, "not from an ovs-cats controller action");
        return;
    }
    memcpy(&ud, pin.userdata, sizeof ud);
    if (ntohs(ud.magic) != CATS_PIN_MAGIC || ud.version != CATS_PIN_VERSION) {
        bad_packet_in(oc, "unknown userdata");
        return;
    }

    if (ud.kind == CATS_PIN_END) {
        if (!ud.ip || !ud.port || !ud.service_id) {
            bad_packet_in(oc, "malformed connection end");
            return;
        }
        oc->pick_stats.ends++;
        COVERAGE_INC(ofctrl_conn_end);
        if (oc->cfg.decider.ended) {
            oc->cfg.decider.ended(oc->cfg.decider.aux, ntohl(ud.service_id),
                                  ud.ip, ntohs(ud.port));
        }
        return;
    }
    if (ud.kind != CATS_PIN_PICK || ud.ip || ud.port) {
        bad_packet_in(oc, "unknown userdata kind");
        return;
    }
    if (!continuation.size) {
        bad_packet_in(oc, "pick request without a continuation");
        return;
    }

    /* Picked or not, the packet goes on: unpicked, T4 hands it to the
     * service's group. */
    uint32_t service_id = ntohl(ud.service_id);
    ovs_be32 ip = 0;
    uint16_t port = 0;
    if (oc->cfg.decider.pick && pick_listed(oc, service_id)
        && oc->cfg.decider.pick(oc->cfg.decider.aux, service_id, &ip,
                                &port)) {
        match_set_reg(&pin.flow_metadata, 0, ntohl(ip));
        match_set_reg(&pin.flow_metadata, 1, CATS_PICK_PORT_FLAG | port);
        oc->pick_stats.picks++;
        COVERAGE_INC(ofctrl_pick);
    } else {
        oc->pick_stats.unpicked++;
        COVERAGE_INC(ofctrl_unpicked);
    }
    send_msg(oc, ofputil_encode_resume(&pin, &continuation, oc->protocol));
}

static void
send_pick_flow(struct ofctrl *oc, const struct ofctrl_pick_service *p,
               bool delete)
{
    uint64_t stub[256 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct ofputil_flow_mod fm;
    struct match match;
    uint8_t table;
    uint16_t priority;
    uint64_t cookie;

    memset(&fm, 0, sizeof fm);
    cats_model_pick_flow(&oc->pipeline, p->service_id, p->vip, p->port,
                         &table, &priority, &cookie, &match, &ofpacts);
    minimatch_init(&fm.match, &match);
    fm.priority = priority;
    fm.table_id = table;
    fm.command = delete ? OFPFC_DELETE_STRICT : OFPFC_ADD;
    fm.cookie = delete ? htonll(cookie) : 0;
    fm.cookie_mask = delete ? OVS_BE64_MAX : 0;
    fm.new_cookie = htonll(cookie);
    fm.hard_timeout = delete ? 0 : CATS_PICK_LEASE_S;
    fm.idle_timeout = 0;
    fm.buffer_id = UINT32_MAX;
    fm.out_port = OFPP_ANY;
    fm.out_group = OFPG_ANY;
    fm.ofpacts = delete ? NULL : ofpacts.data;
    fm.ofpacts_len = delete ? 0 : ofpacts.size;
    send_msg(oc, ofputil_encode_flow_mod(&fm, oc->protocol));
    ofpbuf_uninit(&ofpacts);
    minimatch_destroy(&fm.match);
}

/* Field by field: the structs' padding is whatever the caller left. */
static bool
pick_service_equal(const struct ofctrl_pick_service *a,
                   const struct ofctrl_pick_service *b)
{
    return (a->service_id == b->service_id && a->vip == b->vip
            && a->port == b->port);
}

void
ofctrl_set_pick_services(struct ofctrl *oc,
                         const struct ofctrl_pick_service *picks, size_t n,
                         uint64_t desired_seqno)
{
    bool same = n == oc->n_picks;

    for (size_t i = 0; same && i < n; i++) {
        same = pick_service_equal(&picks[i], &oc->picks[i]);
    }
    if (same) {
        return;
    }
    for (size_t i = 0; i < oc->n_picks; i++) {
        bool kept = false;

        for (size_t j = 0; !kept && j < n; j++) {
            kept = pick_service_equal(&picks[j], &oc->picks[i]);
        }
        if (!kept) {
            oc->unpicks = xrealloc(oc->unpicks, (oc->n_unpicks + 1)
                                   * sizeof *oc->unpicks);
            oc->unpicks[oc->n_unpicks++] = oc->picks[i];
        }
    }
    free(oc->picks);
    oc->picks = n ? xmemdup(picks, n * sizeof *picks) : NULL;
    oc->n_picks = n;
    oc->picks_seqno = desired_seqno;
    oc->next_lease = 0;
}

void
ofctrl_get_pick_stats(const struct ofctrl *oc, struct ofctrl_pick_stats *s)
{
    *s = oc->pick_stats;
}

/* Leases the pick flows of the services we decide for, once the switch
 * runs the T4 flows they resubmit to; deletes those of services that left
 * (they would also expire on their own within the lease). */
static void
maybe_send_leases(struct ofctrl *oc)
{
    long long int now = time_msec();

    if (oc->role == OFPCR12_ROLE_SECONDARY) {
        return;
    }
    for (size_t i = 0; i < oc->n_unpicks; i++) {
        send_pick_flow(oc, &oc->unpicks[i], true);
    }
    oc->n_unpicks = 0;
    if (!oc->n_picks || oc->need_full || oc->installed_seqno < oc->picks_seqno
        || now < oc->next_lease) {
        return;
    }
    for (size_t i = 0; i < oc->n_picks; i++) {
        send_pick_flow(oc, &oc->picks[i], false);
        oc->pick_stats.leases++;
    }
    oc->next_lease = now + CATS_PICK_REFRESH_MS;
}

/* Main loop. */

static void
handle_msg(struct ofctrl *oc, struct ofpbuf *msg)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);
    const struct ofp_header *oh = msg->data;
    enum ofptype type;
    enum ofperr error;

    error = ofptype_decode(&type, oh);
    if (error) {
        oc->n_bad_messages++;
        COVERAGE_INC(ofctrl_bad_message);
        VLOG_WARN_RL(&rl, "%s: undecodable message (%s)", ofctrl_get_name(oc),
                     ofperr_to_string(error));
        return;
    }

    switch (type) {
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

    case OFPTYPE_PORT_STATS_REPLY:
        if (oc->ports_pending && oh->xid == oc->ports_xid) {
            handle_port_stats_reply(oc, oh);
        }
        break;

    case OFPTYPE_QUEUE_STATS_REPLY:
        if (oc->queues_pending && oh->xid == oc->queues_xid) {
            handle_queue_stats_reply(oc, oh);
        }
        break;

    case OFPTYPE_PORT_DESC_STATS_REPLY:
        if (oc->desc_pending && oh->xid == oc->desc_xid) {
            handle_port_desc_reply(oc, oh);
        }
        break;

    case OFPTYPE_PORT_STATUS:
        oc->desc_wanted = true;
        break;

    case OFPTYPE_PACKET_IN:
        handle_packet_in(oc, oh);
        break;

    case OFPTYPE_FLOW_STATS_REPLY:
        if (oc->stats_pending && oh->xid == oc->stats_xid) {
            handle_flow_stats_reply(oc, oh, false);
        } else if (oc->snapshot_pending && oh->xid == oc->snapshot_xid) {
            handle_flow_stats_reply(oc, oh, true);
        }
        break;

    case OFPTYPE_ROLE_REPLY: {
        struct ofputil_role_request rr;
        if (!ofputil_decode_role_message(oh, &rr)
            && rr.role != OFPCR12_ROLE_NOCHANGE) {
            VLOG_INFO("%s: role is %s", ofctrl_get_name(oc),
                      role_name(rr.role));
            oc->role = rr.role;
        } else {
            oc->n_bad_messages++;
            COVERAGE_INC(ofctrl_bad_message);
        }
        break;
    }

    case OFPTYPE_ROLE_STATUS: {
        struct ofputil_role_status rs;
        if (!ofputil_decode_role_status(oh, &rs)
            && rs.role != OFPCR12_ROLE_NOCHANGE) {
            /* Another controller took over as primary. */
            VLOG_WARN("%s: switch changed our role to %s",
                      ofctrl_get_name(oc), role_name(rs.role));
            oc->role = rs.role;
            if (rs.role == OFPCR12_ROLE_PRIMARY) {
                /* Taking over: what the switch runs is whatever the
                 * previous primary left, so start from a resync (after the
                 * bundle in flight, if any, whose success must not cancel
                 * it). */
                oc->need_full = true;
                if (oc->state == S_IN_FLIGHT) {
                    oc->resync_after_flight = true;
                } else if (oc->state == S_IDLE) {
                    start_group_dump(oc);
                }
            }
        } else {
            oc->n_bad_messages++;
            COVERAGE_INC(ofctrl_bad_message);
        }
        break;
    }

    default:
        /* Packet-ins, port status, flow removed, bundle replies and the
         * rest need no action. */
        break;
    }
}

void
ofctrl_run(struct ofctrl *oc, const struct cats_desired *desired,
           const struct ofctrl_probe *probes, size_t n_probes)
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
    if (oc->state == S_IDLE && oc->role != OFPCR12_ROLE_SECONDARY
        && (oc->need_full || desired->seqno != oc->installed_seqno)
        && time_msec() >= oc->retry_at) {
        send_update(oc, desired);
    }
    if (oc->state == S_IDLE || oc->state == S_IN_FLIGHT) {
        maybe_request_stats(oc);
        maybe_send_probes(oc, probes, n_probes);
        maybe_send_leases(oc);
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
        if (oc->cfg.stats_interval_ms > 0 && !oc->stats_pending) {
            poll_timer_wait_until(oc->next_stats);
        }
        if (oc->n_picks || oc->n_unpicks) {
            poll_timer_wait_until(oc->next_lease);
        }
        if (oc->cfg.probe_interval_ms > 0) {
            if (oc->probe_now) {
                poll_immediate_wake();
            } else {
                poll_timer_wait_until(oc->next_probe);
            }
        }
    }
}

void
ofctrl_format(const struct ofctrl *oc, struct ds *s)
{
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
                  oc->n_bad_messages, oc->n_probes);
    if (oc->n_bundles) {
        ds_put_format(s, "  last bundle: %"PRIuSIZE" changes confirmed in "
                      "%lld ms\n", oc->last_bundle_ops, oc->last_bundle_ms);
    }
    if (oc->n_picks || oc->pick_stats.picks || oc->pick_stats.unpicked
        || oc->pick_stats.ends || oc->pick_stats.bad) {
        const struct ofctrl_pick_stats *p = &oc->pick_stats;

        ds_put_format(s, "  per-connection: %"PRIuSIZE" services, picks %"
                      PRIu64", unpicked %"PRIu64", ends %"PRIu64
                      ", refused packet-ins %"PRIu64", leases %"PRIu64"\n",
                      oc->n_picks, p->picks, p->unpicked, p->ends, p->bad,
                      p->leases);
    }
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
        oc->state = S_IDLE;
        oc->need_full = false;
        oc->installed_seqno = 1;
        oc->stats_pending = true;
        oc->stats_xid = xid;
        break;
    case OFCTRL_TEST_SNAPSHOT:
        oc->state = S_IDLE;
        oc->need_full = false;
        oc->installed_seqno = 1;
        oc->snapshot_pending = true;
        oc->snapshot_xid = xid;
        oc->n_rebases = 1;
        oc->rebases[0].service_id = 1;
        oc->rebases[0].seqno = 2;
        break;
    case OFCTRL_TEST_PORT_STATS:
        oc->ports_pending = true;
        oc->ports_xid = xid;
        oc->n_ports_new = 0;
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

uint64_t
ofctrl_get_counter_total_for_testing(const struct ofctrl *oc)
{
    const struct ofctrl_counter *c;
    uint64_t total = 0;

    HMAP_FOR_EACH (c, node, &oc->counters) {
        total += c->packets - c->base;
    }
    return total;
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

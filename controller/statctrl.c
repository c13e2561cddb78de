/*
 * ovs-cats: the statistics requests of one switch connection.  See
 * statctrl.h.
 */

#include <config.h>

#include "statctrl.h"

#include <errno.h>
#include <string.h>

#include "cats/flow-model.h"
#include "cats/flow-table.h"
#include "coverage.h"
#include "hash.h"
#include "netdev.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-port.h"
#include "openvswitch/ofp-queue.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(statctrl);

/* Services whose counters are snapshotted right before a bundle that
 * changes their weights; past this, the periodic poll rebases them. */
#define MAX_REBASES 64

/* Counters kept per switch, at most. */
#define MAX_COUNTERS (1 << 20)

/* Ports (queues) whose statistics are kept per switch, at most. */
#define MAX_PORTS 4096

struct statctrl;

/* One node of the table. */
struct statctrl_request {
    enum ofptype reply_type;
    struct ofpbuf *(*encode)(const struct statctrl *, enum ofputil_protocol);
    /* Handles one part of the awaited reply; returns false if it was
     * malformed.  Its last part ends the wait. */
    bool (*handle_reply)(struct statctrl *, enum statctrl_kind,
                         const struct ofp_header *);
    ovs_be32 xid;
    bool pending;
    long long int next_due;
};

/* What the last complete poll found, and what the poll under way has
 * found so far: an array of 'size'-byte entries each. */
struct staged {
    size_t size;
    void *cur, *next;
    size_t n_cur, n_next;
    uint64_t seqno;                 /* Completed polls. */
};

struct statctrl {
    struct rconn *rconn;            /* Borrowed. */
    const struct cats_pipeline_config *pipeline;
    const struct cats_installed *installed;
    int interval_ms;
    struct statctrl_request requests[STATCTRL_N_KINDS];

    /* New-connection counters. */
    struct hmap counters;           /* Contains "struct statctrl_counter"s. */
    struct statctrl_rebase {
        uint32_t service_id;
        uint64_t seqno;             /* Group seqno the bundle installs. */
    } rebases[MAX_REBASES];         /* Services whose weights it changes. */
    size_t n_rebases;
    uint64_t counters_seqno;        /* Completed counter polls. */

    /* Ports and queues. */
    struct staged ports;            /* Of "struct statctrl_port_stats". */
    struct staged queues;           /* Of "struct statctrl_queue_stats". */
    bool desc_wanted;               /* Refresh port names. */
    struct shash port_names;        /* Port number as string -> a
                                     * "struct statctrl_port_stats" with
                                     * its name and speed. */
};

/* The staged arrays. */

static void *
staged_add(struct staged *st)
{
    if (st->n_next >= MAX_PORTS) {
        return NULL;
    }
    st->next = xrealloc(st->next, (st->n_next + 1) * st->size);
    return memset((char *) st->next + st->n_next++ * st->size, 0, st->size);
}

static void
staged_publish(struct staged *st)
{
    void *tmp = st->cur;

    st->cur = st->next;
    st->n_cur = st->n_next;
    st->next = tmp;
    st->n_next = 0;
    st->seqno++;
}

static const void *
staged_get(const struct staged *st, size_t *n, uint64_t *seqno)
{
    *n = st->n_cur;
    *seqno = st->seqno;
    return st->cur;
}

/* Requests. */

static struct ofpbuf *
encode_counters_request(const struct statctrl *sc,
                        enum ofputil_protocol protocol)
{
    struct ofputil_flow_stats_request fsr = {
        .aggregate = false,
        .cookie = htonll(sc->pipeline->cookie),
        .cookie_mask = htonll(sc->pipeline->cookie_mask),
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .table_id = sc->pipeline->table_base + 2,
    };
    match_init_catchall(&fsr.match);
    return ofputil_encode_flow_stats_request(&fsr, protocol);
}

static struct ofpbuf *
encode_port_desc_request(const struct statctrl *sc OVS_UNUSED,
                         enum ofputil_protocol p)
{
    return ofputil_encode_port_desc_stats_request(
        ofputil_protocol_to_ofp_version(p), OFPP_ANY);
}

static struct ofpbuf *
encode_port_stats_request(const struct statctrl *sc OVS_UNUSED,
                          enum ofputil_protocol p)
{
    return ofputil_encode_dump_ports_request(
        ofputil_protocol_to_ofp_version(p), OFPP_ANY);
}

static struct ofpbuf *
encode_queue_stats_request(const struct statctrl *sc OVS_UNUSED,
                           enum ofputil_protocol p)
{
    struct ofputil_queue_stats_request qsr = { OFPP_ANY, OFPQ_ALL };

    return ofputil_encode_queue_stats_request(
        ofputil_protocol_to_ofp_version(p), &qsr);
}

static void
send_request(struct statctrl *sc, enum statctrl_kind kind,
             enum ofputil_protocol protocol)
{
    struct statctrl_request *r = &sc->requests[kind];
    struct ofpbuf *req = r->encode(sc, protocol);

    r->xid = ((struct ofp_header *) req->data)->xid;
    r->pending = true;
    r->next_due = time_msec() + sc->interval_ms;
    if (kind == STATCTRL_PORT_STATS) {
        sc->ports.n_next = 0;
    } else if (kind == STATCTRL_QUEUE_STATS) {
        sc->queues.n_next = 0;
    } else if (kind == STATCTRL_PORT_DESC) {
        sc->desc_wanted = false;
    }
    rconn_send(sc->rconn, req, NULL);
}

void
statctrl_run(struct statctrl *sc, enum ofputil_protocol protocol)
{
    const struct statctrl_request *lead = &sc->requests[STATCTRL_COUNTERS];

    if (sc->interval_ms <= 0 || lead->pending
        || time_msec() < lead->next_due) {
        return;
    }
    for (int kind = STATCTRL_COUNTERS; kind < STATCTRL_SNAPSHOT; kind++) {
        if (!sc->requests[kind].pending
            && (kind != STATCTRL_PORT_DESC || sc->desc_wanted)) {
            send_request(sc, kind, protocol);
        }
    }
}

void
statctrl_wait(const struct statctrl *sc)
{
    const struct statctrl_request *lead = &sc->requests[STATCTRL_COUNTERS];

    if (sc->interval_ms > 0 && !lead->pending) {
        poll_timer_wait_until(lead->next_due);
    }
}

void
statctrl_snapshot(struct statctrl *sc, const struct cats_update *u,
                  enum ofputil_protocol protocol)
{
    const struct cats_op *op;

    if (sc->interval_ms <= 0 || sc->requests[STATCTRL_SNAPSHOT].pending) {
        return;
    }
    sc->n_rebases = 0;
    LIST_FOR_EACH (op, node, &u->ops) {
        if (op->type == CATS_OP_GROUP_ADD || op->type == CATS_OP_GROUP_MOD) {
            if (sc->n_rebases >= MAX_REBASES) {
                sc->n_rebases = 0;
                return;
            }
            sc->rebases[sc->n_rebases++] = (struct statctrl_rebase) {
                .service_id = op->group->service_id,
                .seqno = op->group->seqno,
            };
        }
    }
    if (sc->n_rebases) {
        send_request(sc, STATCTRL_SNAPSHOT, protocol);
    }
}

/* Counters. */

static uint32_t
counter_hash(uint32_t service_id, ovs_be32 ip, uint16_t port)
{
    return hash_3words(service_id, (OVS_FORCE uint32_t) ip, port);
}

const struct statctrl_counter *
statctrl_get_counter(const struct statctrl *sc, uint32_t service_id,
                     ovs_be32 ip, uint16_t port)
{
    const struct statctrl_counter *c;

    HMAP_FOR_EACH_WITH_HASH (c, node, counter_hash(service_id, ip, port),
                             &sc->counters) {
        if (c->service_id == service_id && c->ip == ip && c->port == port) {
            return c;
        }
    }
    return NULL;
}

uint64_t
statctrl_get_counters_seqno(const struct statctrl *sc)
{
    return sc->counters_seqno;
}

/* The seqno of the installed group of 'service_id', 0 if none. */
static uint64_t
installed_group_seqno(const struct statctrl *sc, uint32_t service_id)
{
    uint32_t group_id = sc->pipeline->group_base + service_id;
    const struct cats_group *g;

    HMAP_FOR_EACH_WITH_HASH (g, node, hash_int(group_id, 0),
                             &sc->installed->groups) {
        if (g->group_id == group_id) {
            return g->seqno;
        }
    }
    return 0;
}

static const struct statctrl_rebase *
find_rebase(const struct statctrl *sc, uint32_t service_id)
{
    for (size_t i = 0; i < sc->n_rebases; i++) {
        if (sc->rebases[i].service_id == service_id) {
            return &sc->rebases[i];
        }
    }
    return NULL;
}

/* Updates the counters from a flow stats reply.  A snapshot was asked
 * right before a bundle that changes some services' weights: the switch
 * answers it before applying the bundle, so its counts are exactly where
 * the new split starts. */
static bool
handle_flow_stats_reply(struct statctrl *sc, enum statctrl_kind kind,
                        const struct ofp_header *oh)
{
    bool snapshot = kind == STATCTRL_SNAPSHOT;
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
                             rconn_get_name(sc->rconn),
                             ofperr_to_string(retval));
                bad = true;
            }
            break;
        }

        /* Only the counter flows: exact ct_mark, destination and port.
         * Anything else the switch returns is ignored. */
        const struct match *m = &fs.match;
        if (fs.table_id != sc->pipeline->table_base + 2
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
        const struct statctrl_rebase *rb = (snapshot
                                            ? find_rebase(sc, cs->sid)
                                            : NULL);
        uint64_t seqno = rb ? rb->seqno : installed_group_seqno(sc, cs->sid);
        struct statctrl_counter *c;

        c = CONST_CAST(struct statctrl_counter *,
                       statctrl_get_counter(sc, cs->sid, cs->ip, cs->port));
        if (!c) {
            if (hmap_count(&sc->counters) >= MAX_COUNTERS) {
                continue;           /* Bounded, whatever the switch says. */
            }
            c = xzalloc(sizeof *c);
            c->service_id = cs->sid;
            c->ip = cs->ip;
            c->port = cs->port;
            c->base = c->packets = rb ? cs->packets : 0;
            c->group_seqno = seqno;
            hmap_insert(&sc->counters, &c->node,
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
        sc->counters_seqno++;
    }
    return !bad;
}

/* Ports and queues. */

/* An OpenFlow statistic, UINT64_MAX ("not supported") as 0. */
static uint64_t
stat_value(uint64_t x)
{
    return x == UINT64_MAX ? 0 : x;
}

/* Ends the poll of 'st' with 'error' from its reply's decoder: EOF
 * publishes it once the reply's last part came, anything else drops it
 * (and ends the wait of 'kind'). */
static bool
staged_end(struct statctrl *sc, enum statctrl_kind kind,
           const struct ofp_header *oh, int error)
{
    struct staged *st = kind == STATCTRL_PORT_STATS ? &sc->ports
                                                    : &sc->queues;

    if (error != EOF) {
        sc->requests[kind].pending = false;
        st->n_next = 0;
        return false;
    }
    if (!ofpmp_more(oh)) {
        staged_publish(st);
    }
    return true;
}

static bool
handle_queue_stats_reply(struct statctrl *sc, enum statctrl_kind kind,
                         const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_queue_stats qs;
    int error;

    while (!(error = ofputil_decode_queue_stats(&qs, &b))) {
        struct statctrl_queue_stats *q;

        if (ofp_to_u16(qs.port_no) >= ofp_to_u16(OFPP_MAX)
            || !(q = staged_add(&sc->queues))) {
            continue;
        }
        q->port_no = ofp_to_u16(qs.port_no);
        q->queue_id = qs.queue_id;
        q->tx_packets = stat_value(qs.tx_packets);
        q->tx_bytes = stat_value(qs.tx_bytes);
        q->tx_errors = stat_value(qs.tx_errors);
    }
    return staged_end(sc, kind, oh, error);
}

const struct statctrl_queue_stats *
statctrl_get_queues(const struct statctrl *sc, size_t *n, uint64_t *seqno)
{
    return staged_get(&sc->queues, n, seqno);
}

static bool
handle_port_desc_reply(struct statctrl *sc, enum statctrl_kind kind OVS_UNUSED,
                       const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    enum ofp_version version = oh->version;
    struct ofputil_phy_port pp;
    int error;

    ofpraw_pull_assert(&b);
    while (!(error = ofputil_pull_phy_port(version, &b, &pp))) {
        struct statctrl_port_stats *d = xzalloc(sizeof *d);
        char key[16];

        snprintf(key, sizeof key, "%"PRIu32, ofp_to_u16(pp.port_no));
        memcpy(d->name, pp.name, sizeof d->name);
        d->name[sizeof d->name - 1] = '\0';
        d->speed_bps = pp.curr_speed * 1000ULL;
        free(shash_replace(&sc->port_names, key, d));
        if (shash_count(&sc->port_names) > MAX_PORTS) {
            break;
        }
    }
    return error == EOF || !error;
}

static bool
handle_port_stats_reply(struct statctrl *sc, enum statctrl_kind kind,
                        const struct ofp_header *oh)
{
    struct ofpbuf b = ofpbuf_const_initializer(oh, ntohs(oh->length));
    struct ofputil_port_stats ps;
    int error;

    while (!(error = ofputil_decode_port_stats(&ps, &b))) {
        const struct statctrl_port_stats *d;
        struct statctrl_port_stats *p;
        char key[16];

        netdev_free_custom_stats_counters(&ps.custom_stats);
        if (ofp_to_u16(ps.port_no) >= ofp_to_u16(OFPP_MAX)
            || !(p = staged_add(&sc->ports))) {
            continue;           /* LOCAL and other reserved ports. */
        }
        p->port_no = ofp_to_u16(ps.port_no);
        snprintf(key, sizeof key, "%"PRIu32, p->port_no);
        d = shash_find_data(&sc->port_names, key);
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
    return staged_end(sc, kind, oh, error);
}

const struct statctrl_port_stats *
statctrl_get_ports(const struct statctrl *sc, size_t *n, uint64_t *seqno)
{
    return staged_get(&sc->ports, n, seqno);
}

/* The table. */

static const struct statctrl_request request_templates[STATCTRL_N_KINDS] = {
    [STATCTRL_COUNTERS] = { OFPTYPE_FLOW_STATS_REPLY,
                            encode_counters_request, handle_flow_stats_reply },
    [STATCTRL_PORT_DESC] = { OFPTYPE_PORT_DESC_STATS_REPLY,
                             encode_port_desc_request,
                             handle_port_desc_reply },
    [STATCTRL_PORT_STATS] = { OFPTYPE_PORT_STATS_REPLY,
                              encode_port_stats_request,
                              handle_port_stats_reply },
    [STATCTRL_QUEUE_STATS] = { OFPTYPE_QUEUE_STATS_REPLY,
                               encode_queue_stats_request,
                               handle_queue_stats_reply },
    [STATCTRL_SNAPSHOT] = { OFPTYPE_FLOW_STATS_REPLY,
                            encode_counters_request, handle_flow_stats_reply },
};

struct statctrl *
statctrl_create(struct rconn *rconn,
                const struct cats_pipeline_config *pipeline,
                const struct cats_installed *installed, int interval_ms)
{
    struct statctrl *sc = xzalloc(sizeof *sc);

    sc->rconn = rconn;
    sc->pipeline = pipeline;
    sc->installed = installed;
    sc->interval_ms = interval_ms;
    memcpy(sc->requests, request_templates, sizeof sc->requests);
    hmap_init(&sc->counters);
    sc->ports.size = sizeof(struct statctrl_port_stats);
    sc->queues.size = sizeof(struct statctrl_queue_stats);
    shash_init(&sc->port_names);
    statctrl_reset(sc);
    return sc;
}

static void
counters_clear(struct statctrl *sc)
{
    struct statctrl_counter *c;

    HMAP_FOR_EACH_POP (c, node, &sc->counters) {
        free(c);
    }
}

void
statctrl_destroy(struct statctrl *sc)
{
    if (sc) {
        counters_clear(sc);
        hmap_destroy(&sc->counters);
        shash_destroy_free_data(&sc->port_names);
        free(sc->ports.cur);
        free(sc->ports.next);
        free(sc->queues.cur);
        free(sc->queues.next);
        free(sc);
    }
}

void
statctrl_reset(struct statctrl *sc)
{
    for (int kind = 0; kind < STATCTRL_N_KINDS; kind++) {
        sc->requests[kind].pending = false;
        sc->requests[kind].next_due = 0;
    }
    counters_clear(sc);
    sc->ports.n_next = sc->queues.n_next = 0;
    sc->desc_wanted = true;
}

bool
statctrl_handle_msg(struct statctrl *sc, enum ofptype type,
                    const struct ofp_header *oh)
{
    if (type == OFPTYPE_PORT_STATUS) {
        sc->desc_wanted = true;
        return true;
    }
    for (int kind = 0; kind < STATCTRL_N_KINDS; kind++) {
        struct statctrl_request *r = &sc->requests[kind];

        if (r->pending && r->reply_type == type && r->xid == oh->xid) {
            bool ok = r->handle_reply(sc, kind, oh);

            if (!ofpmp_more(oh)) {
                r->pending = false;
            }
            return ok;
        }
    }
    return true;
}

void
statctrl_handle_error(struct statctrl *sc, const struct ofp_header *oh)
{
    for (int kind = 0; kind < STATCTRL_N_KINDS; kind++) {
        struct statctrl_request *r = &sc->requests[kind];

        if (r->pending && r->xid == oh->xid) {
            r->pending = false;
            return;
        }
    }
}

/* Test support. */

void
statctrl_await_for_testing(struct statctrl *sc, enum statctrl_kind kind,
                           ovs_be32 xid)
{
    sc->requests[kind].pending = true;
    sc->requests[kind].xid = xid;
    if (kind == STATCTRL_SNAPSHOT) {
        sc->n_rebases = 1;
        sc->rebases[0].service_id = 1;
        sc->rebases[0].seqno = 2;
    } else if (kind == STATCTRL_PORT_STATS) {
        sc->ports.n_next = 0;
    }
}

uint64_t
statctrl_get_counter_total_for_testing(const struct statctrl *sc)
{
    const struct statctrl_counter *c;
    uint64_t total = 0;

    HMAP_FOR_EACH (c, node, &sc->counters) {
        total += c->packets - c->base;
    }
    return total;
}

/*
 * ovs-cats: the packet-ins of one switch connection.  See pinctrl.h.
 */

#include <config.h>

#include "pinctrl.h"

#include <string.h>

#include "cats/flow-model.h"
#include "coverage.h"
#include "dp-packet.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(pinctrl);

COVERAGE_DEFINE(ofctrl_arp_probe);
COVERAGE_DEFINE(ofctrl_pick);
COVERAGE_DEFINE(ofctrl_unpicked);
COVERAGE_DEFINE(ofctrl_conn_end);
COVERAGE_DEFINE(ofctrl_bad_packet_in);

/* ARP probes sent per run and queued at most. */
#define MAX_PROBES_PER_RUN 256
#define MAX_QUEUED_PROBES 1024

struct pinctrl {
    struct rconn *rconn;            /* Borrowed. */
    const struct cats_pipeline_config *pipeline;
    struct pinctrl_decider decider;
    int probe_interval_ms;

    /* ARP probes. */
    long long int next_probe;
    size_t probe_cursor;
    bool probe_now;
    struct rconn_packet_counter *probe_counter;

    /* Per-connection decisions. */
    struct pinctrl_pick_service *picks;
    size_t n_picks;
    uint64_t picks_seqno;           /* Lease once this is installed. */
    struct pinctrl_pick_service *unpicks;   /* To delete. */
    size_t n_unpicks;
    long long int next_lease;

    struct pinctrl_stats stats;
};

struct pinctrl *
pinctrl_create(struct rconn *rconn,
               const struct cats_pipeline_config *pipeline,
               const struct pinctrl_decider *decider, int probe_interval_ms)
{
    struct pinctrl *pc = xzalloc(sizeof *pc);

    pc->rconn = rconn;
    pc->pipeline = pipeline;
    pc->decider = *decider;
    pc->probe_interval_ms = probe_interval_ms;
    pc->probe_counter = rconn_packet_counter_create();
    pinctrl_reset(pc);
    return pc;
}

void
pinctrl_destroy(struct pinctrl *pc)
{
    if (pc) {
        rconn_packet_counter_destroy(pc->probe_counter);
        free(pc->picks);
        free(pc->unpicks);
        free(pc);
    }
}

void
pinctrl_reset(struct pinctrl *pc)
{
    pc->probe_now = true;
    pc->probe_cursor = 0;
    pc->next_lease = 0;
}

void
pinctrl_probe_now(struct pinctrl *pc)
{
    pc->probe_now = true;
}

void
pinctrl_get_stats(const struct pinctrl *pc, struct pinctrl_stats *s)
{
    *s = pc->stats;
}

/* Packet-ins. */

static void
bad_packet_in(struct pinctrl *pc, const char *why)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    pc->stats.bad++;
    COVERAGE_INC(ofctrl_bad_packet_in);
    VLOG_WARN_RL(&rl, "%s: packet-in ignored: %s", rconn_get_name(pc->rconn),
                 why);
}

static bool
pick_listed(const struct pinctrl *pc, uint32_t service_id)
{
    for (size_t i = 0; i < pc->n_picks; i++) {
        if (pc->picks[i].service_id == service_id) {
            return true;
        }
    }
    return false;
}

/* A packet-in from one of our controller actions: a paused new connection
 * to pick an instance for, or an instance's FIN/RST.  Anything else is
 * counted and dropped: a switch is a peer to validate like any other. */
void
pinctrl_handle_packet_in(struct pinctrl *pc, const struct ofp_header *oh,
                         enum ofputil_protocol protocol)
{
    struct ofputil_packet_in pin;
    struct ofpbuf continuation;
    struct cats_pin_userdata ud;
    enum ofperr error;

    error = ofputil_decode_packet_in(oh, true, NULL, NULL, &pin, NULL, NULL,
                                     &continuation);
    if (error) {
        bad_packet_in(pc, ofperr_to_string(error));
        return;
    }
    if (pin.reason != OFPR_ACTION || pin.userdata_len != sizeof ud) {
        /* Not ours: a table miss, or another application's action. */
        bad_packet_in(pc, "not from an ovs-cats controller action");
        return;
    }
    memcpy(&ud, pin.userdata, sizeof ud);
    if (ntohs(ud.magic) != CATS_PIN_MAGIC || ud.version != CATS_PIN_VERSION) {
        bad_packet_in(pc, "unknown userdata");
        return;
    }

    if (ud.kind == CATS_PIN_END) {
        if (!ud.ip || !ud.port || !ud.service_id) {
            bad_packet_in(pc, "malformed connection end");
            return;
        }
        pc->stats.ends++;
        COVERAGE_INC(ofctrl_conn_end);
        if (pc->decider.ended) {
            pc->decider.ended(pc->decider.aux, ntohl(ud.service_id),
                              ud.ip, ntohs(ud.port));
        }
        return;
    }
    if (ud.kind != CATS_PIN_PICK || ud.ip || ud.port) {
        bad_packet_in(pc, "unknown userdata kind");
        return;
    }
    if (!continuation.size) {
        bad_packet_in(pc, "pick request without a continuation");
        return;
    }

    /* Picked or not, the packet goes on: unpicked, T4 hands it to the
     * service's group. */
    uint32_t service_id = ntohl(ud.service_id);
    uint32_t path_id = 0;
    ovs_be32 ip = 0;
    uint16_t port = 0;
    if (pc->decider.pick && pick_listed(pc, service_id)
        && pc->decider.pick(pc->decider.aux, service_id, &ip, &port,
                            &path_id)) {
        match_set_reg(&pin.flow_metadata, 0, ntohl(ip));
        match_set_reg(&pin.flow_metadata, 1, CATS_PICK_PORT_FLAG | port);
        if (path_id) {
            /* A remote instance's pair; 0 (local) is the register's value
             * already. */
            match_set_reg(&pin.flow_metadata, CATS_PICK_REG_PATH, path_id);
        }
        pc->stats.picks++;
        COVERAGE_INC(ofctrl_pick);
    } else {
        pc->stats.unpicked++;
        COVERAGE_INC(ofctrl_unpicked);
    }
    rconn_send(pc->rconn, ofputil_encode_resume(&pin, &continuation,
                                                protocol), NULL);
}

/* Pick flows. */

static void
send_pick_flow(struct pinctrl *pc, const struct pinctrl_pick_service *p,
               bool delete, enum ofputil_protocol protocol)
{
    uint64_t stub[256 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct match match;
    uint8_t table;
    uint16_t priority;
    uint64_t cookie;

    cats_model_pick_flow(pc->pipeline, p->service_id, p->vip, p->port,
                         &table, &priority, &cookie, &match, &ofpacts);
    struct ofputil_flow_mod fm = {
        .priority = priority,
        .table_id = table,
        .command = delete ? OFPFC_DELETE_STRICT : OFPFC_ADD,
        .cookie = delete ? htonll(cookie) : 0,
        .cookie_mask = delete ? OVS_BE64_MAX : 0,
        .new_cookie = htonll(cookie),
        .hard_timeout = delete ? 0 : CATS_PICK_LEASE_S,
        .buffer_id = UINT32_MAX,
        .out_port = OFPP_ANY,
        .out_group = OFPG_ANY,
        .ofpacts = delete ? NULL : ofpacts.data,
        .ofpacts_len = delete ? 0 : ofpacts.size,
    };
    minimatch_init(&fm.match, &match);
    rconn_send(pc->rconn, ofputil_encode_flow_mod(&fm, protocol), NULL);
    ofpbuf_uninit(&ofpacts);
    minimatch_destroy(&fm.match);
}

/* Field by field: the structs' padding is whatever the caller left. */
static bool
pick_service_equal(const struct pinctrl_pick_service *a,
                   const struct pinctrl_pick_service *b)
{
    return (a->service_id == b->service_id && a->vip == b->vip
            && a->port == b->port);
}

void
pinctrl_set_pick_services(struct pinctrl *pc,
                          const struct pinctrl_pick_service *picks, size_t n,
                          uint64_t desired_seqno)
{
    bool same = n == pc->n_picks;

    for (size_t i = 0; same && i < n; i++) {
        same = pick_service_equal(&picks[i], &pc->picks[i]);
    }
    if (same) {
        return;
    }
    for (size_t i = 0; i < pc->n_picks; i++) {
        bool kept = false;

        for (size_t j = 0; !kept && j < n; j++) {
            kept = pick_service_equal(&picks[j], &pc->picks[i]);
        }
        if (!kept) {
            pc->unpicks = xrealloc(pc->unpicks, (pc->n_unpicks + 1)
                                   * sizeof *pc->unpicks);
            pc->unpicks[pc->n_unpicks++] = pc->picks[i];
        }
    }
    free(pc->picks);
    pc->picks = n ? xmemdup(picks, n * sizeof *picks) : NULL;
    pc->n_picks = n;
    pc->picks_seqno = desired_seqno;
    pc->next_lease = 0;
}

/* Leases the pick flows of the services we decide for, once the switch
 * runs the T4 flows they resubmit to; deletes those of services that left
 * (they would also expire on their own within the lease). */
static void
maybe_send_leases(struct pinctrl *pc, enum ofputil_protocol protocol,
                  uint64_t installed_seqno, bool need_full)
{
    long long int now = time_msec();

    for (size_t i = 0; i < pc->n_unpicks; i++) {
        send_pick_flow(pc, &pc->unpicks[i], true, protocol);
    }
    pc->n_unpicks = 0;
    if (!pc->n_picks || need_full || installed_seqno < pc->picks_seqno
        || now < pc->next_lease) {
        return;
    }
    for (size_t i = 0; i < pc->n_picks; i++) {
        send_pick_flow(pc, &pc->picks[i], false, protocol);
        pc->stats.leases++;
    }
    pc->next_lease = now + CATS_PICK_REFRESH_MS;
}

/* ARP probes. */

static void
maybe_send_probes(struct pinctrl *pc, enum ofputil_protocol protocol,
                  const struct pinctrl_probe *probes, size_t n_probes,
                  bool secondary)
{
    long long int now = time_msec();
    size_t sent = 0;

    if (pc->probe_interval_ms <= 0
        || (!pc->probe_now && now < pc->next_probe)) {
        return;
    }
    if (!n_probes || secondary) {
        /* Nothing to ask (every instance has a static MAC) or not ours to
         * ask: the round is done, or pinctrl_wait() would keep waking. */
        pc->probe_now = false;
        pc->next_probe = now + pc->probe_interval_ms;
        return;
    }
    if (pc->probe_now) {
        pc->probe_now = false;
        pc->probe_cursor = 0;
    }
    while (sent < MAX_PROBES_PER_RUN && pc->probe_cursor < n_probes
           && rconn_packet_counter_n_packets(pc->probe_counter)
              < MAX_QUEUED_PROBES) {
        const struct pinctrl_probe *p = &probes[pc->probe_cursor++];
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
        rconn_send_with_limit(pc->rconn,
                              ofputil_encode_packet_out(&po, protocol),
                              pc->probe_counter, MAX_QUEUED_PROBES);
        dp_packet_uninit(&packet);
        ofpbuf_uninit(&ofpacts);
        sent++;
        pc->stats.probes++;
        COVERAGE_INC(ofctrl_arp_probe);
    }
    if (pc->probe_cursor >= n_probes) {
        pc->next_probe = now + pc->probe_interval_ms;
        pc->probe_cursor = 0;
    } else {
        poll_immediate_wake();
    }
}

void
pinctrl_run(struct pinctrl *pc, enum ofputil_protocol protocol,
            const struct pinctrl_probe *probes, size_t n_probes,
            bool secondary, uint64_t installed_seqno, bool need_full)
{
    if (installed_seqno) {
        maybe_send_probes(pc, protocol, probes, n_probes, secondary);
    }
    if (!secondary) {
        maybe_send_leases(pc, protocol, installed_seqno, need_full);
    }
}

void
pinctrl_wait(const struct pinctrl *pc)
{
    if (pc->n_picks || pc->n_unpicks) {
        poll_timer_wait_until(pc->next_lease);
    }
    if (pc->probe_interval_ms > 0) {
        if (pc->probe_now) {
            poll_immediate_wake();
        } else {
            poll_timer_wait_until(pc->next_probe);
        }
    }
}

void
pinctrl_format(const struct pinctrl *pc, struct ds *s)
{
    const struct pinctrl_stats *p = &pc->stats;

    if (pc->n_picks || p->picks || p->unpicked || p->ends || p->bad) {
        ds_put_format(s, "  per-connection: %"PRIuSIZE" services, picks %"
                      PRIu64", unpicked %"PRIu64", ends %"PRIu64
                      ", refused packet-ins %"PRIu64", leases %"PRIu64"\n",
                      pc->n_picks, p->picks, p->unpicked, p->ends, p->bad,
                      p->leases);
    }
}

/*
 * ovs-cats: the flow model.  See include/cats/flow-model.h for the
 * pipeline.
 */

#include <config.h>

#include "cats/flow-model.h"

#include <stdlib.h>
#include <string.h>

#include "cats/catalog.h"
#include "cats/flow-table.h"
#include "hash.h"
#include "openflow/openflow.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_flow_model);

/* Priorities, per table. */
enum {
    PRIO_T0_RESPONDER = 110,
    PRIO_T0_END = 105,
    PRIO_T0_TRANSIT = 104,
    PRIO_T0_SERVICE = 100,
    PRIO_T0_VIP_DROP = 80,
    PRIO_T1_PICK = 101,
    PRIO_T1_NEW = 100,
    PRIO_T1_INVALID = 90,
    PRIO_T1_PATH_REPLY = 60,
    PRIO_T1_END = 55,
    PRIO_T1_DNAT = 50,
    PRIO_T2_COUNT = 100,
    PRIO_T3_REMOTE = 110,
    PRIO_T3_LEARNED = 100,
    PRIO_T3_STATIC = 50,
    PRIO_T4_PICKED = 100,
    PRIO_T4_UNPICKED = 50,
    PRIO_T5_PATH = 110,
    PRIO_T5_END = 105,
    PRIO_T5_NEW = 100,
    PRIO_DEFAULT = 0,
};

struct cats_model_service {
    struct hmap_node node;          /* In cats_model's 'services', by id. */
    uint32_t id;
    uint64_t built_seqno;           /* Service's change_seqno when built. */
    uint64_t generation;            /* Mark for sweeping removed services. */
    ovs_be32 vip;                   /* What it was built for. */
    uint16_t port;
    uint8_t proto;
    struct cats_flow **flows;       /* References held in the desired table. */
    size_t n_flows;
};

void
cats_pipeline_config_default(struct cats_pipeline_config *cfg)
{
    cfg->table_base = 0;
    cfg->zone = CATS_DEFAULT_ZONE;
    cfg->cookie = CATS_DEFAULT_COOKIE;
    cfg->cookie_mask = CATS_DEFAULT_COOKIE_MASK;
    cfg->learn_cookie = CATS_DEFAULT_LEARN_COOKIE;
    cfg->pick_cookie = CATS_DEFAULT_PICK_COOKIE;
    cfg->group_base = CATS_DEFAULT_GROUP_BASE;
    cfg->default_normal = true;
}

bool
cats_pipeline_owns_group(const struct cats_pipeline_config *cfg,
                         uint32_t group_id)
{
    return (group_id > cfg->group_base
            && group_id - cfg->group_base <= CATS_MAX_SERVICES);
}

uint32_t
cats_model_group_id(const struct cats_model *m, uint32_t service_id)
{
    return m->cfg.group_base + service_id;
}

struct eth_addr
cats_vip_mac(ovs_be32 vip)
{
    uint32_t ip = ntohl(vip);
    struct eth_addr mac;

    /* Locally administered, unicast, 02:ca:75 followed by the VIP's low 24
     * bits: readable in a packet capture. */
    mac.be16[0] = htons(0x02ca);
    mac.be16[1] = htons(0x7500 | ((ip >> 16) & 0xff));
    mac.be16[2] = htons(ip & 0xffff);
    return mac;
}

unsigned int
cats_apportion(const uint16_t *weights, size_t n, unsigned int slots,
               unsigned int *out)
{
    uint64_t total = 0;
    unsigned int given = 0;

    for (size_t i = 0; i < n; i++) {
        total += weights[i];
    }
    if (!total) {
        memset(out, 0, n * sizeof *out);
        return 0;
    }

    /* Integer parts first, then one slot each to the largest remainders;
     * ties go to the earlier instance, so the result is deterministic. */
    uint64_t *rem = xmalloc((n ? n : 1) * sizeof *rem);
    for (size_t i = 0; i < n; i++) {
        uint64_t num = (uint64_t) weights[i] * slots;
        out[i] = num / total;
        rem[i] = num % total;
        given += out[i];
    }
    while (given < slots) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (weights[i] && (best == SIZE_MAX || rem[i] > rem[best])) {
                best = i;
            }
        }
        out[best]++;
        rem[best] = 0;
        given++;
    }
    free(rem);
    return given;
}

/* Action builders. */

static void
put_move(struct ofpbuf *ofpacts, enum mf_field_id src, enum mf_field_id dst)
{
    struct ofpact_reg_move *move = ofpact_put_REG_MOVE(ofpacts);

    move->src.field = mf_from_id(src);
    move->src.ofs = 0;
    move->src.n_bits = move->src.field->n_bits;
    move->dst.field = mf_from_id(dst);
    move->dst.ofs = 0;
    move->dst.n_bits = move->dst.field->n_bits;
}

/* set_field:VALUE->FIELD.  Not ofpact_put_set_field(ofpacts, f, value,
 * NULL): that leaves the padding between value and mask uninitialized, and
 * the desired/installed comparison is bytewise. */
static void
put_set(struct ofpbuf *ofpacts, enum mf_field_id id,
        const union mf_value *value)
{
    const struct mf_field *field = mf_from_id(id);
    struct ofpact_set_field *sf = ofpact_put_set_field(ofpacts, field,
                                                       NULL, NULL);

    memcpy(sf->value, value, field->n_bytes);
    memset(ofpact_set_field_mask(sf), 0xff, field->n_bytes);
}

/* set_field:PATH->ct_label[0..7]. */
static void
put_set_path_label(struct ofpbuf *ofpacts, uint32_t path_id)
{
    const struct mf_field *field = mf_from_id(MFF_CT_LABEL);
    struct ofpact_set_field *sf = ofpact_put_set_field(ofpacts, field,
                                                       NULL, NULL);
    union mf_value value, mask;

    memset(&value, 0, sizeof value);
    memset(&mask, 0, sizeof mask);
    value.be128.be64.lo = htonll(path_id);
    mask.be128.be64.lo = htonll(CATS_LABEL_PATH_MASK);
    memcpy(sf->value, &value, field->n_bytes);
    memcpy(ofpact_set_field_mask(sf), &mask, field->n_bytes);
}

static void
match_set_path_label(struct match *match, uint32_t path_id)
{
    ovs_u128 value = { .u64 = { .lo = path_id } };
    ovs_u128 mask = { .u64 = { .lo = CATS_LABEL_PATH_MASK } };

    match_set_ct_label_masked(match, value, mask);
}

static void
put_set_mac(struct ofpbuf *ofpacts, enum mf_field_id id, struct eth_addr mac)
{
    union mf_value value;

    memset(&value, 0, sizeof value);
    value.mac = mac;
    put_set(ofpacts, id, &value);
}

static void
put_set_be32(struct ofpbuf *ofpacts, enum mf_field_id id, ovs_be32 x)
{
    union mf_value value;

    memset(&value, 0, sizeof value);
    value.be32 = x;
    put_set(ofpacts, id, &value);
}

static void
put_set_be16(struct ofpbuf *ofpacts, enum mf_field_id id, ovs_be16 x)
{
    union mf_value value;

    memset(&value, 0, sizeof value);
    value.be16 = x;
    put_set(ofpacts, id, &value);
}

static void
put_set_u8(struct ofpbuf *ofpacts, enum mf_field_id id, uint8_t x)
{
    union mf_value value;

    memset(&value, 0, sizeof value);
    value.u8 = x;
    put_set(ofpacts, id, &value);
}

static void
put_output(struct ofpbuf *ofpacts, ofp_port_t port)
{
    ofpact_put_OUTPUT(ofpacts)->port = port;
}

static void
put_resubmit(struct ofpbuf *ofpacts, uint8_t table_id)
{
    struct ofpact_resubmit *r = ofpact_put_RESUBMIT(ofpacts);

    r->in_port = OFPP_IN_PORT;
    r->table_id = table_id;
}

/* ct(zone, [table], [commit], [nat[(dst=ip:port)]],
 *    [exec([mark->ct_mark,] [path->ct_label[0..7]])]).  A nonzero 'mark'
 * or 'path' needs 'commit'; 'table' may be NX_CT_RECIRC_NONE. */
static void
put_ct(struct ofpbuf *ofpacts, uint16_t zone, uint8_t table, bool commit,
       bool do_nat, ovs_be32 ip, uint16_t port, uint32_t mark,
       uint32_t path_id)
{
    size_t ct_offset = ofpacts->size;
    struct ofpact_conntrack *ct = ofpact_put_CT(ofpacts);
    struct ofpact_nat *nat;

    ct->flags = commit ? NX_CT_F_COMMIT : 0;
    ct->zone_imm = zone;
    ct->zone_src.field = NULL;
    ct->recirc_table = table;
    ct->alg = 0;

    if (do_nat) {
        nat = ofpact_put_NAT(ofpacts);
        nat->flags = 0;
        nat->range_af = AF_UNSPEC;
        if (ip) {
            nat->flags = NX_NAT_F_DST;
            nat->range_af = AF_INET;
            nat->range.addr.ipv4.min = ip;
            nat->range.proto.min = port;
        }
    }
    if (mark) {
        union mf_value value;

        ovs_assert(commit);
        memset(&value, 0, sizeof value);
        value.be32 = htonl(mark);
        put_set(ofpacts, MFF_CT_MARK, &value);
    }
    if (path_id) {
        ovs_assert(commit);
        put_set_path_label(ofpacts, path_id);
    }

    ct = ofpbuf_at_assert(ofpacts, ct_offset, sizeof *ct);
    ofpacts->header = ct;
    ofpact_finish_CT(ofpacts, &ct);
}

static void
put_ct_nat(struct ofpbuf *ofpacts, uint16_t zone, uint8_t table,
           bool commit, ovs_be32 ip, uint16_t port, uint32_t mark)
{
    put_ct(ofpacts, zone, table, commit, true, ip, port, mark, 0);
}

/* controller(max_len=MAX_LEN, reason=action, userdata=UD[, pause]). */
static void
put_controller(struct ofpbuf *ofpacts, uint16_t max_len, bool pause,
               const struct cats_pin_userdata *ud)
{
    size_t ofs = ofpacts->size;
    struct ofpact_controller *oc = ofpact_put_CONTROLLER(ofpacts);

    oc->max_len = max_len;
    oc->controller_id = 0;
    oc->reason = OFPR_ACTION;
    oc->meter_id = NX_CTLR_NO_METER;
    oc->pause = pause;
    ofpbuf_put(ofpacts, ud, sizeof *ud);
    oc = ofpbuf_at_assert(ofpacts, ofs, sizeof *oc);
    ofpacts->header = oc;
    oc->userdata_len = ofpacts->size - (ofs + sizeof *oc);
    ofpact_finish_CONTROLLER(ofpacts, &oc);
}

/* IPv4 'proto' to 'ip':'port' (a VIP's service port, or an instance). */
static void
match_dst(struct match *match, ovs_be32 ip, uint8_t proto, uint16_t port)
{
    match_init_catchall(match);
    match_set_dl_type(match, htons(ETH_TYPE_IP));
    match_set_nw_proto(match, proto);
    match_set_nw_dst(match, ip);
    match_set_tp_dst(match, htons(port));
}

void
cats_model_pick_flow(const struct cats_pipeline_config *cfg,
                     uint32_t service_id, ovs_be32 vip, uint16_t port,
                     uint8_t *table, uint16_t *priority, uint64_t *cookie,
                     struct match *match, struct ofpbuf *ofpacts)
{
    struct cats_pin_userdata ud = {
        .magic = htons(CATS_PIN_MAGIC),
        .version = CATS_PIN_VERSION,
        .kind = CATS_PIN_PICK,
        .service_id = htonl(service_id),
    };

    *table = cfg->table_base + 1;
    *priority = PRIO_T1_PICK;
    *cookie = cfg->pick_cookie | service_id;
    match_dst(match, vip, IPPROTO_TCP, port);
    match_set_ct_state_masked(match, CS_NEW | CS_TRACKED,
                              CS_NEW | CS_TRACKED);
    put_controller(ofpacts, UINT16_MAX, true, &ud);
    put_resubmit(ofpacts, cfg->table_base + 4);
}

/* learn(table=T3, priority=100, cookie=C, eth_type=0x800,
 *       NXM_OF_IP_DST[]=NXM_OF_ARP_SPA[],
 *       load:NXM_NX_ARP_SHA[]->NXM_OF_ETH_DST[],
 *       output:NXM_OF_IN_PORT[]) */
static void
put_learn(struct ofpbuf *ofpacts, const struct cats_pipeline_config *cfg)
{
    size_t learn_offset = ofpacts->size;
    struct ofpact_learn *learn = ofpact_put_LEARN(ofpacts);
    struct ofpact_learn_spec *spec;

    learn->table_id = cfg->table_base + 3;
    learn->priority = PRIO_T3_LEARNED;
    learn->cookie = htonll(cfg->learn_cookie);
    learn->idle_timeout = OFP_FLOW_PERMANENT;
    learn->hard_timeout = OFP_FLOW_PERMANENT;

    /* eth_type=0x800 (immediate match). */
    spec = ofpbuf_put_zeros(ofpacts, sizeof *spec);
    spec->src_type = NX_LEARN_SRC_IMMEDIATE;
    spec->dst_type = NX_LEARN_DST_MATCH;
    spec->dst.field = mf_from_id(MFF_ETH_TYPE);
    spec->dst.ofs = 0;
    spec->dst.n_bits = 16;
    spec->n_bits = 16;
    ovs_be16 ip_type = htons(ETH_TYPE_IP);
    memcpy(ofpbuf_put_zeros(ofpacts, OFPACT_ALIGN(sizeof ip_type)),
           &ip_type, sizeof ip_type);

    /* NXM_OF_IP_DST[]=NXM_OF_ARP_SPA[]. */
    learn = ofpbuf_at_assert(ofpacts, learn_offset, sizeof *learn);
    spec = ofpbuf_put_zeros(ofpacts, sizeof *spec);
    spec->src_type = NX_LEARN_SRC_FIELD;
    spec->dst_type = NX_LEARN_DST_MATCH;
    spec->src.field = mf_from_id(MFF_ARP_SPA);
    spec->src.ofs = 0;
    spec->src.n_bits = 32;
    spec->dst.field = mf_from_id(MFF_IPV4_DST);
    spec->dst.ofs = 0;
    spec->dst.n_bits = 32;
    spec->n_bits = 32;

    /* load:NXM_NX_ARP_SHA[]->NXM_OF_ETH_DST[]. */
    spec = ofpbuf_put_zeros(ofpacts, sizeof *spec);
    spec->src_type = NX_LEARN_SRC_FIELD;
    spec->dst_type = NX_LEARN_DST_LOAD;
    spec->src.field = mf_from_id(MFF_ARP_SHA);
    spec->src.ofs = 0;
    spec->src.n_bits = 48;
    spec->dst.field = mf_from_id(MFF_ETH_DST);
    spec->dst.ofs = 0;
    spec->dst.n_bits = 48;
    spec->n_bits = 48;

    /* output:NXM_OF_IN_PORT[]. */
    spec = ofpbuf_put_zeros(ofpacts, sizeof *spec);
    spec->src_type = NX_LEARN_SRC_FIELD;
    spec->dst_type = NX_LEARN_DST_OUTPUT;
    spec->src.field = mf_from_id(MFF_IN_PORT);
    spec->src.ofs = 0;
    spec->src.n_bits = 16;
    spec->n_bits = 16;

    learn = ofpbuf_at_assert(ofpacts, learn_offset, sizeof *learn);
    ofpacts->header = learn;
    ofpact_finish_LEARN(ofpacts, &learn);
}

/* Flow builders. */

struct flow_refs {
    struct cats_flow **flows;
    size_t n, allocated;
};

static void
add_flow(struct cats_model *m, struct flow_refs *refs, uint8_t table,
         uint16_t priority, uint64_t cookie, const struct match *match,
         const struct ofpbuf *ofpacts)
{
    struct cats_flow *f = cats_desired_add_flow(m->desired, table, priority,
                                                cookie, match, ofpacts->data,
                                                ofpacts->size);
    if (f) {
        if (refs->n >= refs->allocated) {
            refs->flows = x2nrealloc(refs->flows, &refs->allocated,
                                     sizeof *refs->flows);
        }
        refs->flows[refs->n++] = f;
    }
}

static void
build_global(struct cats_model *m, struct flow_refs *refs)
{
    const struct cats_pipeline_config *cfg = &m->cfg;
    uint8_t t0 = cfg->table_base, t1 = t0 + 1, t2 = t0 + 2, t3 = t0 + 3;
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct match match;

    /* T1: the forward direction of DNATed connections skips the counters
     * and goes to the next-hop table. */
    match_init_catchall(&match);
    match_set_dl_type(&match, htons(ETH_TYPE_IP));
    match_set_ct_state_masked(&match, CS_TRACKED | CS_DST_NAT,
                              CS_TRACKED | CS_DST_NAT | CS_REPLY_DIR);
    put_resubmit(&ofpacts, t3);
    add_flow(m, refs, t1, PRIO_T1_DNAT, cfg->cookie, &match, &ofpacts);

    /* T1: everything else tracked there (replies, already un-NATed)
     * forwards normally. */
    ofpbuf_clear(&ofpacts);
    match_init_catchall(&match);
    put_output(&ofpacts, OFPP_NORMAL);
    add_flow(m, refs, t1, PRIO_DEFAULT, cfg->cookie, &match, &ofpacts);
    add_flow(m, refs, t3, PRIO_DEFAULT, cfg->cookie, &match, &ofpacts);

    /* T2: new connections that no counter claims go on to T3 all the
     * same. */
    ofpbuf_clear(&ofpacts);
    put_resubmit(&ofpacts, t3);
    add_flow(m, refs, t2, PRIO_DEFAULT, cfg->cookie, &match, &ofpacts);

    /* T0: traffic that is not for a VIP. */
    if (cfg->default_normal) {
        ofpbuf_clear(&ofpacts);
        put_output(&ofpacts, OFPP_NORMAL);
        add_flow(m, refs, t0, PRIO_DEFAULT, cfg->cookie, &match, &ofpacts);
    }
    ofpbuf_uninit(&ofpacts);
}

static void
build_vip(struct cats_model *m, struct flow_refs *refs, ovs_be32 vip)
{
    const struct cats_pipeline_config *cfg = &m->cfg;
    struct eth_addr mac = cats_vip_mac(vip);
    uint8_t t0 = cfg->table_base;
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct match match;

    /* ARP request for the VIP: answer from the VIP MAC. */
    match_init_catchall(&match);
    match_set_dl_type(&match, htons(ETH_TYPE_ARP));
    match_set_nw_dst(&match, vip);
    match_set_nw_proto(&match, ARP_OP_REQUEST);
    put_move(&ofpacts, MFF_ETH_SRC, MFF_ETH_DST);
    put_set_mac(&ofpacts, MFF_ETH_SRC, mac);
    put_set_be16(&ofpacts, MFF_ARP_OP, htons(ARP_OP_REPLY));
    put_move(&ofpacts, MFF_ARP_SHA, MFF_ARP_THA);
    put_set_mac(&ofpacts, MFF_ARP_SHA, mac);
    put_move(&ofpacts, MFF_ARP_SPA, MFF_ARP_TPA);
    put_set_be32(&ofpacts, MFF_ARP_SPA, vip);
    put_output(&ofpacts, OFPP_IN_PORT);
    add_flow(m, refs, t0, PRIO_T0_RESPONDER, cfg->cookie, &match, &ofpacts);

    /* ARP reply to the VIP (an instance answering our probe): learn its
     * address, and stop there. */
    ofpbuf_clear(&ofpacts);
    match_init_catchall(&match);
    match_set_dl_type(&match, htons(ETH_TYPE_ARP));
    match_set_nw_dst(&match, vip);
    match_set_nw_proto(&match, ARP_OP_REPLY);
    put_learn(&ofpacts, cfg);
    add_flow(m, refs, t0, PRIO_T0_RESPONDER, cfg->cookie, &match, &ofpacts);

    /* ICMP echo request to the VIP: the VIP answers. */
    ofpbuf_clear(&ofpacts);
    match_init_catchall(&match);
    match_set_dl_type(&match, htons(ETH_TYPE_IP));
    match_set_nw_proto(&match, IPPROTO_ICMP);
    match_set_nw_dst(&match, vip);
    match_set_icmp_type(&match, ICMP4_ECHO_REQUEST);
    match_set_icmp_code(&match, 0);
    put_move(&ofpacts, MFF_ETH_SRC, MFF_ETH_DST);
    put_set_mac(&ofpacts, MFF_ETH_SRC, mac);
    put_move(&ofpacts, MFF_IPV4_SRC, MFF_IPV4_DST);
    put_set_be32(&ofpacts, MFF_IPV4_SRC, vip);
    put_set_u8(&ofpacts, MFF_ICMPV4_TYPE, ICMP4_ECHO_REPLY);
    put_output(&ofpacts, OFPP_IN_PORT);
    add_flow(m, refs, t0, PRIO_T0_RESPONDER, cfg->cookie, &match, &ofpacts);

    /* Anything else to the VIP (another port or protocol) has no owner:
     * drop it rather than flood it.  So is traffic to a service port that
     * conntrack finds invalid. */
    ofpbuf_clear(&ofpacts);
    match_init_catchall(&match);
    match_set_dl_type(&match, htons(ETH_TYPE_IP));
    match_set_nw_dst(&match, vip);
    add_flow(m, refs, t0, PRIO_T0_VIP_DROP, cfg->cookie, &match, &ofpacts);
    match_set_ct_state_masked(&match, CS_INVALID | CS_TRACKED,
                              CS_INVALID | CS_TRACKED);
    add_flow(m, refs, t0 + 1, PRIO_T1_INVALID, cfg->cookie, &match,
             &ofpacts);

    ofpbuf_uninit(&ofpacts);
}

/* What a run builds for: the model's site, as the catalog has it now. */
struct build_ctx {
    const struct cats_catalog *cat;
    const struct cats_site *site;   /* NULL: single-site, or no such site
                                     * (then nothing is local). */
    bool paths;                     /* Does 'site' have paths? */
};

/* A pair: an instance and the path to it (NULL: local). */
struct pair {
    const struct cats_instance *inst;
    const struct cats_path *path;
};

/* The flows of one instance of 's' reached over 'path' (NULL: local),
 * other than its buckets. */
static void
build_instance(struct cats_model *m, const struct build_ctx *ctx,
               const struct cats_service *s, const struct cats_instance *inst,
               const struct cats_path *const paths[], size_t n_paths,
               struct flow_refs *refs)
{
    const struct cats_pipeline_config *cfg = &m->cfg;
    uint8_t t0 = cfg->table_base, t1 = t0 + 1, t2 = t0 + 2, t3 = t0 + 3;
    uint64_t cookie = cfg->cookie | s->id;
    bool local = !n_paths;
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct match match;

    /* Replies go through conntrack to be un-NATed (a remote instance's
     * come over the path: T0's transit flow does it); a counter of the
     * service's new connections to it (the realized split: exact, and
     * unaffected by group changes, unlike bucket statistics); static MACs
     * give the next hop without learning. */
    if (local) {
        match_init_catchall(&match);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        match_set_nw_proto(&match, s->proto);
        match_set_nw_src(&match, inst->ip);
        match_set_tp_src(&match, htons(inst->port));
        put_ct_nat(&ofpacts, m->zone, t1, false, 0, 0, 0);
        add_flow(m, refs, t0, PRIO_T0_SERVICE, cfg->cookie, &match,
                 &ofpacts);
    }

    ofpbuf_clear(&ofpacts);
    match_dst(&match, inst->ip, s->proto, inst->port);
    match_set_ct_state_masked(&match, CS_NEW | CS_TRACKED,
                              CS_NEW | CS_TRACKED);
    match_set_ct_mark(&match, s->id);
    put_resubmit(&ofpacts, t3);
    add_flow(m, refs, t2, PRIO_T2_COUNT, cookie, &match, &ofpacts);

    if (s->decide == CATS_DECIDE_CONNECTION && s->proto == IPPROTO_TCP) {
        struct cats_pin_userdata ud = {
            .magic = htons(CATS_PIN_MAGIC),
            .version = CATS_PIN_VERSION,
            .kind = CATS_PIN_END,
            .service_id = htonl(s->id),
            .ip = inst->ip,
            .port = htons(inst->port),
        };
        static const uint16_t end_flags[] = { TCP_FIN, TCP_RST };
        uint32_t end_port = CATS_PICK_PORT_FLAG | inst->port;

        /* A connection ends once: count the client's FIN or RST and the
         * instance's RST, not the instance's FIN, which a graceful close
         * adds to the client's.  Each is copied to the controller (no
         * packet data) and goes on as before.  Both are matched after
         * conntrack, by the connection's mark, so that each service counts
         * only its own connections to an address it shares with
         * another. */
        for (size_t f = 0; f < ARRAY_SIZE(end_flags); f++) {
            /* The client's, DNATed to the instance. */
            ofpbuf_clear(&ofpacts);
            match_dst(&match, inst->ip, s->proto, inst->port);
            match_set_ct_state_masked(&match, CS_TRACKED | CS_DST_NAT,
                                      CS_TRACKED | CS_DST_NAT
                                      | CS_REPLY_DIR);
            match_set_ct_mark(&match, s->id);
            match_set_tcp_flags_masked(&match, htons(end_flags[f]),
                                       htons(end_flags[f]));
            put_controller(&ofpacts, 0, false, &ud);
            put_resubmit(&ofpacts, t3);
            add_flow(m, refs, t1, PRIO_T1_END, cookie, &match, &ofpacts);
        }

        /* The instance's RST: T0 (shared by every service on this address,
         * hence the pipeline-wide cookie) notes the instance in registers,
         * as the reply leaves conntrack un-NATed to the VIP; T1 copies it
         * for the service that marked the connection.  A remote instance's
         * comes in over a path: T0 above the transit flow, then T5 (T1
         * would send a reply with a path label back to its path). */
        uint8_t end_table = local ? t1 : t0 + 5;
        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        match_set_nw_proto(&match, s->proto);
        match_set_nw_src(&match, inst->ip);
        match_set_tp_src(&match, htons(inst->port));
        match_set_tcp_flags_masked(&match, htons(TCP_RST), htons(TCP_RST));
        put_set_be32(&ofpacts, MFF_REG0 + CATS_END_REG_IP, inst->ip);
        put_set_be32(&ofpacts, MFF_REG0 + CATS_END_REG_PORT,
                     htonl(end_port));
        put_ct_nat(&ofpacts, m->zone, end_table, false, 0, 0, 0);
        add_flow(m, refs, t0, PRIO_T0_END, cfg->cookie, &match, &ofpacts);

        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        match_set_nw_proto(&match, s->proto);
        match_set_ct_state_masked(&match, CS_TRACKED | CS_REPLY_DIR,
                                  CS_TRACKED | CS_REPLY_DIR);
        match_set_ct_mark(&match, s->id);
        match_set_reg(&match, CATS_END_REG_IP, ntohl(inst->ip));
        match_set_reg(&match, CATS_END_REG_PORT, end_port);
        match_set_tcp_flags_masked(&match, htons(TCP_RST), htons(TCP_RST));
        put_controller(&ofpacts, 0, false, &ud);
        put_output(&ofpacts, OFPP_NORMAL);
        add_flow(m, refs, end_table, local ? PRIO_T1_END : PRIO_T5_END,
                 cookie, &match, &ofpacts);

        /* The picks of its pairs. */
        for (size_t i = 0; i < (local ? 1 : n_paths); i++) {
            uint32_t path_id = local ? 0 : paths[i]->id;

            ofpbuf_clear(&ofpacts);
            match_dst(&match, s->vip, s->proto, s->port);
            match_set_reg(&match, 0, ntohl(inst->ip));
            match_set_reg(&match, 1, CATS_PICK_PORT_FLAG | inst->port);
            if (ctx->paths) {
                match_set_reg(&match, CATS_PICK_REG_PATH, path_id);
            }
            put_ct(&ofpacts, m->zone, t2, true, true, inst->ip, inst->port,
                   s->id, path_id);
            add_flow(m, refs, t0 + 4, PRIO_T4_PICKED, cookie, &match,
                     &ofpacts);
        }
    }

    if (local && inst->has_mac) {
        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        match_set_nw_dst(&match, inst->ip);
        put_set_mac(&ofpacts, MFF_ETH_DST, inst->mac);
        put_output(&ofpacts, OFPP_NORMAL);
        add_flow(m, refs, t3, PRIO_T3_STATIC, cfg->cookie, &match, &ofpacts);
    }

    /* A remote instance's next hop: its MAC, then T5 for the port of its
     * connection's path. */
    if (!local) {
        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        match_set_ct_state_masked(&match, CS_TRACKED | CS_DST_NAT,
                                  CS_TRACKED | CS_DST_NAT | CS_REPLY_DIR);
        match_set_nw_dst(&match, inst->ip);
        put_set_mac(&ofpacts, MFF_ETH_DST, inst->mac);
        put_resubmit(&ofpacts, cfg->table_base + 5);
        add_flow(m, refs, t3, PRIO_T3_REMOTE, cfg->cookie, &match, &ofpacts);
    }
    ofpbuf_uninit(&ofpacts);
}

static void
build_service(struct cats_model *m, const struct build_ctx *ctx,
              const struct cats_service *s, struct flow_refs *refs)
{
    const struct cats_pipeline_config *cfg = &m->cfg;
    uint8_t t0 = cfg->table_base, t1 = t0 + 1, t2 = t0 + 2;
    uint64_t cookie = cfg->cookie | s->id;
    uint32_t group_id = cats_model_group_id(m, s->id);
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct cats_instance **insts;
    struct match match;
    size_t n;

    build_vip(m, refs, s->vip);

    /* Toward the VIP: through conntrack, which un-does nothing for a new
     * connection and re-applies the DNAT for an established one. */
    match_dst(&match, s->vip, s->proto, s->port);
    put_ct_nat(&ofpacts, m->zone, t1, false, 0, 0, 0);
    add_flow(m, refs, t0, PRIO_T0_SERVICE, cookie, &match, &ofpacts);

    /* New connections to the VIP: the service's select group. */
    ofpbuf_clear(&ofpacts);
    match_set_ct_state_masked(&match, CS_NEW | CS_TRACKED,
                              CS_NEW | CS_TRACKED);
    ofpact_put_GROUP(&ofpacts)->group_id = group_id;
    add_flow(m, refs, t1, PRIO_T1_NEW, cookie, &match, &ofpacts);

    /* Per-connection decisions: T4 takes the pick from the registers, or
     * the group if the controller made none. */
    if (s->decide == CATS_DECIDE_CONNECTION && s->proto == IPPROTO_TCP) {
        ofpbuf_clear(&ofpacts);
        match_dst(&match, s->vip, s->proto, s->port);
        ofpact_put_GROUP(&ofpacts)->group_id = group_id;
        add_flow(m, refs, t0 + 4, PRIO_T4_UNPICKED, cookie, &match,
                 &ofpacts);
    }

    /* The pairs: each local instance, and each remote instance (with a
     * MAC) over each path between here and its site. */
    insts = cats_service_sorted_instances(s, &n);
    struct pair *pairs = xmalloc((n ? n : 1) * sizeof *pairs);
    size_t n_pairs = 0, allocated = n ? n : 1;
    for (size_t i = 0; i < n; i++) {
        const struct cats_instance *inst = insts[i];
        const struct cats_site *where = cats_instance_site(ctx->cat, inst);
        struct cats_path **paths = NULL;
        size_t n_paths = 0;

        if (m->site && (!ctx->site || where != ctx->site)) {
            if (!ctx->site || !where || !inst->has_mac) {
                continue;
            }
            paths = cats_site_paths_to(ctx->cat, ctx->site, where, &n_paths);
            if (!n_paths) {
                free(paths);
                continue;
            }
        }
        build_instance(m, ctx, s, inst, (const struct cats_path **) paths,
                       n_paths, refs);
        for (size_t j = 0; j < (paths ? n_paths : 1); j++) {
            if (n_pairs >= allocated) {
                pairs = x2nrealloc(pairs, &allocated, sizeof *pairs);
            }
            pairs[n_pairs].inst = inst;
            pairs[n_pairs].path = paths ? paths[j] : NULL;
            n_pairs++;
        }
        free(paths);
    }

    /* The group: apportion CATS_SLOTS hash values by weight, then give OVS
     * bucket weights that reproduce that apportionment exactly. */
    uint16_t *weights = xmalloc((n_pairs ? n_pairs : 1) * sizeof *weights);
    unsigned int *slots = xmalloc((n_pairs ? n_pairs : 1) * sizeof *slots);
    for (size_t i = 0; i < n_pairs; i++) {
        weights[i] = cats_instance_pair_weight(pairs[i].inst,
                                               pairs[i].path
                                               ? pairs[i].path->id : 0);
    }
    cats_apportion(weights, n_pairs, CATS_SLOTS, slots);

    bool have_one = false;
    size_t n_used = 0, biggest = SIZE_MAX;
    for (size_t i = 0; i < n_pairs; i++) {
        if (slots[i]) {
            n_used++;
            have_one |= slots[i] == 1;
            if (biggest == SIZE_MAX || slots[i] > slots[biggest]) {
                biggest = i;
            }
        }
    }
    size_t n_buckets = n_used + (n_used && !have_one);
    struct cats_bucket *buckets = xcalloc(n_buckets ? n_buckets : 1,
                                          sizeof *buckets);
    size_t k = 0;
    for (size_t i = 0; i < n_pairs; i++) {
        const struct cats_instance *inst = pairs[i].inst;
        int parts = !slots[i] ? 0 : (!have_one && i == biggest) ? 2 : 1;

        for (int p = 0; p < parts; p++) {
            struct cats_bucket *b = &buckets[k++];

            ofpbuf_clear(&ofpacts);
            put_ct(&ofpacts, m->zone, t2, true, true, inst->ip, inst->port,
                   s->id, pairs[i].path ? pairs[i].path->id : 0);
            b->ofpacts = xmemdup(ofpacts.data, ofpacts.size);
            b->ofpacts_len = ofpacts.size;
            b->ip = inst->ip;
            b->port = inst->port;
            b->weight = (parts == 1 ? slots[i] : p == 0 ? 1 : slots[i] - 1);
        }
    }
    ovs_assert(k == n_buckets);
    cats_desired_set_group(m->desired, group_id, s->id, buckets, n_buckets);

    free(weights);
    free(slots);
    free(pairs);
    free(insts);
    ofpbuf_uninit(&ofpacts);
}

/* The flows of the paths with an end at the model's site. */
static void
build_paths(struct cats_model *m, const struct build_ctx *ctx,
            struct flow_refs *refs)
{
    const struct cats_pipeline_config *cfg = &m->cfg;
    uint8_t t0 = cfg->table_base, t1 = t0 + 1, t5 = t0 + 5;
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    struct cats_path **paths;
    struct match match;
    size_t n;

    free(m->path_ports);
    m->path_ports = NULL;
    m->n_path_ports = 0;
    if (!ctx->site) {
        return;
    }

    paths = cats_site_paths_to(ctx->cat, ctx->site, NULL, &n);
    m->path_ports = xmalloc((n ? n : 1) * sizeof *m->path_ports);
    for (size_t i = 0; i < n; i++) {
        const struct cats_path *p = paths[i];
        const struct cats_path *carrier = cats_path_carrier(ctx->cat, p);
        ofp_port_t port = p->port[cats_path_end(p, ctx->site)];
        ofp_port_t carrier_port = carrier->port[cats_path_end(carrier,
                                                              ctx->site)];

        m->path_ports[m->n_path_ports++] = port;

        /* Transit in: through conntrack (un-NATing replies to this site's
         * clients), then T5. */
        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        match_set_in_port(&match, port);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        put_ct_nat(&ofpacts, m->zone, t5, false, 0, 0, 0);
        add_flow(m, refs, t0, PRIO_T0_TRANSIT, cfg->cookie, &match,
                 &ofpacts);

        /* T5: a new connection from the path takes the path's label. */
        ofpbuf_clear(&ofpacts);
        match_set_ct_state_masked(&match, CS_NEW | CS_TRACKED,
                                  CS_NEW | CS_TRACKED);
        put_ct(&ofpacts, m->zone, NX_CT_RECIRC_NONE, true, false, 0, 0, 0,
               p->id);
        put_output(&ofpacts, OFPP_NORMAL);
        add_flow(m, refs, t5, PRIO_T5_NEW, cfg->cookie, &match, &ofpacts);

        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        put_output(&ofpacts, OFPP_NORMAL);
        add_flow(m, refs, t5, PRIO_DEFAULT, cfg->cookie, &match, &ofpacts);

        /* T5: the forward packets of this site's clients on the path, out
         * the port of the path that carries them (T3 set their MAC). */
        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        match_set_ct_state_masked(&match, CS_TRACKED | CS_DST_NAT,
                                  CS_TRACKED | CS_DST_NAT | CS_REPLY_DIR);
        match_set_path_label(&match, p->id);
        put_output(&ofpacts, carrier_port);
        add_flow(m, refs, t5, PRIO_T5_PATH, cfg->cookie, &match, &ofpacts);

        /* T1: the replies of the connections the path brought go back by
         * the port of the path that carries them. */
        ofpbuf_clear(&ofpacts);
        match_init_catchall(&match);
        match_set_dl_type(&match, htons(ETH_TYPE_IP));
        match_set_ct_state_masked(&match, CS_TRACKED | CS_REPLY_DIR,
                                  CS_TRACKED | CS_REPLY_DIR);
        match_set_path_label(&match, p->id);
        put_output(&ofpacts, carrier_port);
        add_flow(m, refs, t1, PRIO_T1_PATH_REPLY, cfg->cookie, &match,
                 &ofpacts);
    }
    free(paths);
    ofpbuf_uninit(&ofpacts);
}

static struct cats_model_service *
model_service_find(const struct cats_model *m, uint32_t id)
{
    struct cats_model_service *ms;

    HMAP_FOR_EACH_WITH_HASH (ms, node, hash_int(id, 0), &m->services) {
        if (ms->id == id) {
            return ms;
        }
    }
    return NULL;
}

static void
unref_all(struct cats_model *m, struct cats_flow **flows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cats_desired_unref_flow(m->desired, flows[i]);
    }
    free(flows);
}

static void
model_service_remove(struct cats_model *m, struct cats_model_service *ms)
{
    unref_all(m, ms->flows, ms->n_flows);
    cats_desired_remove_group(m->desired, cats_model_group_id(m, ms->id));
    hmap_remove(&m->services, &ms->node);
    free(ms);
}

void
cats_model_init(struct cats_model *m, const struct cats_pipeline_config *cfg,
                struct cats_desired *desired, const struct cats_site *site)
{
    struct flow_refs refs = { NULL, 0, 0 };

    m->cfg = *cfg;
    m->desired = desired;
    m->site = site ? xstrdup(site->name) : NULL;
    m->zone = cfg->zone + (site ? site->id - 1 : 0);
    m->path_flows = NULL;
    m->n_path_flows = 0;
    m->path_ports = NULL;
    m->n_path_ports = 0;
    hmap_init(&m->services);
    m->catalog_seqno = 0;
    m->generation = 0;
    m->n_rebuilt = 0;

    build_global(m, &refs);
    m->global = refs.flows;
    m->n_global = refs.n;
}

void
cats_model_destroy(struct cats_model *m)
{
    struct cats_model_service *ms;

    if (!m) {
        return;
    }
    HMAP_FOR_EACH_SAFE (ms, node, &m->services) {
        model_service_remove(m, ms);
    }
    hmap_destroy(&m->services);
    unref_all(m, m->global, m->n_global);
    m->global = NULL;
    m->n_global = 0;
    unref_all(m, m->path_flows, m->n_path_flows);
    m->path_flows = NULL;
    m->n_path_flows = 0;
    free(m->path_ports);
    m->path_ports = NULL;
    m->n_path_ports = 0;
    free(m->site);
    m->site = NULL;
}

const ofp_port_t *
cats_model_path_ports(const struct cats_model *m, size_t *n)
{
    *n = m->n_path_ports;
    return m->path_ports;
}

static bool
model_build(struct cats_model *m, const struct build_ctx *ctx,
            const struct cats_service *s)
{
    struct cats_model_service *ms = model_service_find(m, s->id);

    if (!ms) {
        ms = xzalloc(sizeof *ms);
        ms->id = s->id;
        hmap_insert(&m->services, &ms->node, hash_int(s->id, 0));
    } else if (ms->built_seqno == s->change_seqno) {
        ms->generation = m->generation;
        return false;
    }

    /* Add the new references before dropping the old ones, so that flows
     * that did not change never become tombstones. */
    struct flow_refs refs = { NULL, 0, 0 };
    build_service(m, ctx, s, &refs);
    unref_all(m, ms->flows, ms->n_flows);
    ms->flows = refs.flows;
    ms->n_flows = refs.n;
    ms->built_seqno = s->change_seqno;
    ms->generation = m->generation;
    ms->vip = s->vip;
    ms->port = s->port;
    ms->proto = s->proto;
    return true;
}

size_t
cats_model_run(struct cats_model *m, const struct cats_catalog *cat)
{
    const struct cats_service *s;
    struct cats_model_service *ms;
    size_t n_rebuilt = 0, n;

    if (cat->seqno == m->catalog_seqno) {
        return 0;
    }

    struct build_ctx ctx = {
        .cat = cat,
        .site = m->site ? cats_site_find(cat, m->site) : NULL,
    };
    if (ctx.site) {
        struct cats_path **paths = cats_site_paths_to(cat, ctx.site, NULL,
                                                      &n);

        ctx.paths = n > 0;
        free(paths);
    }
    if (m->site && (!m->catalog_seqno
                    || cat->paths_seqno > m->catalog_seqno)) {
        /* Old references first: a carrier change gives flows new actions
         * under the same keys (unchanged ones are revived as they were,
         * and the difference with a switch stays empty for them). */
        struct flow_refs refs = { NULL, 0, 0 };

        unref_all(m, m->path_flows, m->n_path_flows);
        build_paths(m, &ctx, &refs);
        m->path_flows = refs.flows;
        m->n_path_flows = refs.n;
    }

    if (cat->removal_seqno > m->catalog_seqno) {
        /* A service went away.  First drop what was built for services
         * that are gone, including an id now used by a service with another
         * VIP, so that a service taking over a VIP:port under another id
         * does not meet the old owner's flows (same keys, other cookie:
         * a conflict).  Then build.  Removals are rare; weight changes are
         * not. */
        m->generation++;
        HMAP_FOR_EACH (s, node, &cat->services) {
            ms = model_service_find(m, s->id);
            if (ms && ms->vip == s->vip && ms->port == s->port
                && ms->proto == s->proto) {
                ms->generation = m->generation;
            }
        }
        HMAP_FOR_EACH_SAFE (ms, node, &m->services) {
            if (ms->generation != m->generation) {
                model_service_remove(m, ms);
            }
        }
        HMAP_FOR_EACH (s, node, &cat->services) {
            n_rebuilt += model_build(m, &ctx, s);
        }
    } else {
        /* Only the services changed since the last run, found at the tail
         * of the catalog's change list: O(changes), not O(services). */
        LIST_FOR_EACH_REVERSE (s, change_node, &cat->by_change) {
            if (s->change_seqno <= m->catalog_seqno) {
                break;
            }
            n_rebuilt += model_build(m, &ctx, s);
        }
    }
    m->catalog_seqno = cat->seqno;
    m->n_rebuilt += n_rebuilt;
    return n_rebuilt;
}

/*
 * ovs-cats: the flow model.  Turns the catalog into desired flows and
 * groups (include/cats/flow-table.h), for one site's bridge.
 *
 * The pipeline, with T0 = table_base, for site S (a model without a site:
 * the single-site pipeline, everything marked [paths] absent; so is it for
 * a site without paths):
 *
 *   T0 classifier
 *     110  ARP request for a VIP        -> answer it (VIP MAC), in_port
 *     110  ARP reply to a VIP           -> learn instance IP -> MAC, port
 *                                          (answers to our ARP probes)
 *     110  ICMP echo to a VIP           -> answer it, in_port
 *     104  in_port=PORT of path P, ip   -> ct(zone, nat, table=T5)  [paths]
 *     100  proto, VIP, port             -> ct(zone, nat, table=T1)
 *     100  proto, local instance IP, port
 *                                       -> ct(zone, nat, table=T1) (replies)
 *      80  ip, VIP                      -> drop (no such service)
 *       0  any                          -> NORMAL (not for a VIP)
 *   T1 after conntrack
 *     100  +new+trk, proto, VIP, port   -> group:SERVICE
 *      90  +inv+trk, ip, VIP            -> drop
 *      60  +trk+rpl, ct_label[0..7]=P, ip
 *                                       -> output:S-port of P's carrier
 *                                          (replies of local instances to
 *                                           clients beyond P)       [paths]
 *      50  +trk+dnat-rpl, ip            -> resubmit(,T3)
 *       0  any                          -> NORMAL  (replies, un-NATed)
 *   T2 new-connection counters, one per (service, instance)
 *     100  +new+trk, ct_mark=SERVICE, proto, instance IP, port
 *                                       -> resubmit(,T3)
 *       0  any                          -> resubmit(,T3)
 *   T3 next hop for DNATed packets
 *     110  +trk+dnat-rpl, ip, dst=remote instance
 *                                       -> eth_dst=its MAC,
 *                                          resubmit(,T5)            [paths]
 *     100  (learned) ip, dst=instance   -> eth_dst=MAC, output:PORT
 *      50  ip, dst=local instance (static MAC)
 *                                       -> eth_dst=MAC, NORMAL
 *       0  any                          -> NORMAL
 *   T5 paths                                                        [paths]
 *     110  +trk+dnat-rpl, ct_label[0..7]=P, ip
 *                                       -> output:S-port of P's carrier
 *                                          (this site's clients, forward)
 *     100  +new+trk, in_port=PORT of P, ip
 *                                       -> ct(commit, zone,
 *                                          exec(ct_label[0..7]=P)), NORMAL
 *       0  any                          -> NORMAL (established, or replies
 *                                          to S's clients, un-NATed)
 *   group SERVICE: select, dp_hash, one bucket per pair:
 *     local instance:  ct(commit, zone, nat(dst=IP:PORT),
 *                         exec(ct_mark=SERVICE), table=T2)
 *     remote instance I at R over path P joining S and R (I has a MAC):
 *                      ct(commit, zone, nat(dst=IP:PORT),
 *                         exec(ct_mark=SERVICE, ct_label[0..7]=P),
 *                         table=T2)
 *
 * A connection's path is its conntrack label (bits 0..7: the path id, 0
 * local), committed with its first packet at both ends: at the client's
 * site by the bucket (or the pick), at the instance's site by T5.  Both
 * directions follow it: forward by T5 110 at the client's site, replies by
 * T1 60 at the instance's.  Rerouting a path P (its carrier set to Q, a
 * path between the same sites) changes only those two flows of P at each
 * site, to Q's ports: the connections keep their instance and 5-tuple,
 * and come back to P when its carrier is reset (TCP survives both
 * moves).  Keeping moved connections on Q instead
 * ("stay", with label epochs) is future work.
 *
 * Each site's model uses conntrack zone 'zone' + site id - 1 (site 1, and
 * a model without a site: 'zone' itself), so that two sites' bridges in
 * one datapath track a connection apart.
 *
 * Path ports must not be flooded by NORMAL (two paths between two bridges
 * make a loop): cats_model_path_ports() lists them, for the controller to
 * set OFPPC_NO_FLOOD.
 *
 * New connections take the group; conntrack remembers each connection's
 * choice, so established connections (T0 ct with nat) keep their instance
 * whatever the group's weights become.
 *
 * Weights: OVS maps dp_hash values to buckets with a Webster apportionment
 * over max(16, pow2(ceil(total / min_weight))) hash values.  With small
 * tables (16 values for three equal weights: 6/5/5, a 4-point error) or a
 * fallback to the default hash method (when more than 256 values would be
 * needed) the realized split can be far from the weights.  The model
 * therefore apportions CATS_SLOTS (256) hash values itself (largest
 * remainder) and hands OVS bucket weights that sum to 256 with one bucket of
 * weight 1, which forces OVS to use exactly 256 hash values and to give each
 * bucket exactly its weight in values.  Error per instance: less than one
 * slot (0.39 percentage points), the smallest maximum error any split of
 * 256 values allows (107:107:106 cannot do better than 0.6 slot); within
 * half a slot for two instances.
 *
 * Incremental: cats_model_run() rebuilds only the services whose catalog
 * entries changed since the last run, and the per-path flows (T0 104, T1
 * 60, T5) when the catalog's sites or paths changed (a carrier change
 * rebuilds only these).
 */

#ifndef CATS_FLOW_MODEL_H
#define CATS_FLOW_MODEL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openvswitch/hmap.h"
#include "openvswitch/types.h"
#include "packets.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cats_catalog;
struct cats_desired;
struct cats_site;
struct cats_flow;
struct match;
struct ofpbuf;

#define CATS_SLOTS 256

struct cats_pipeline_config {
    uint8_t table_base;         /* T0; T1...T5 follow. */
    uint16_t zone;              /* Conntrack zone. */
    uint64_t cookie;            /* Our flows: cookie | service id. */
    uint64_t cookie_mask;       /* Bits of 'cookie' that mark ours. */
    uint64_t learn_cookie;      /* Flows created by learn(). */
    uint64_t pick_cookie;       /* Leased pick flows (decide=connection),
                                 * | service id: outside 'cookie_mask' so
                                 * that resyncs leave them alone. */
    uint32_t group_base;        /* Group id = group_base + service id. */
    bool default_normal;        /* Install T0's priority-0 NORMAL flow? */
};

#define CATS_DEFAULT_ZONE 3239
#define CATS_DEFAULT_COOKIE 0xca75000000000000ULL
#define CATS_DEFAULT_COOKIE_MASK 0xffffffff00000000ULL
#define CATS_DEFAULT_LEARN_COOKIE 0xca76000000000000ULL
#define CATS_DEFAULT_PICK_COOKIE 0xca77000000000000ULL
#define CATS_DEFAULT_GROUP_BASE 0xca750000U

void cats_pipeline_config_default(struct cats_pipeline_config *);

/* Is 'group_id' in the range that 'cfg' owns? */
bool cats_pipeline_owns_group(const struct cats_pipeline_config *,
                              uint32_t group_id);

struct cats_model {
    struct cats_pipeline_config cfg;
    struct cats_desired *desired;   /* Not owned. */
    char *site;                     /* Name of the site it builds for; NULL:
                                     * single-site. */
    uint16_t zone;                  /* Conntrack zone of this site. */
    struct hmap services;           /* Contains "struct cats_model_service". */
    struct cats_flow **global;      /* References to pipeline-wide flows. */
    size_t n_global;
    struct cats_flow **path_flows;  /* References to per-path flows. */
    size_t n_path_flows;
    ofp_port_t *path_ports;         /* This site's path ends, by path id. */
    size_t n_path_ports;
    uint64_t catalog_seqno;         /* Catalog seqno last built. */
    uint64_t generation;
    uint64_t n_rebuilt;             /* Services rebuilt, for coverage. */
};

/* Initializes 'm' to build the pipeline of 'site' (NULL: single-site, the
 * pipeline without paths) into 'desired'.  Keeps the site's name, not the
 * pointer: the model follows the catalog's site of that name, and builds
 * as for a site without instances or paths while there is none. */
void cats_model_init(struct cats_model *, const struct cats_pipeline_config *,
                     struct cats_desired *, const struct cats_site *site);
void cats_model_destroy(struct cats_model *);

/* The ports of the model's site toward paths, as of the last
 * cats_model_run(), in path id order: '*n' of them, owned by 'm'. */
const ofp_port_t *cats_model_path_ports(const struct cats_model *,
                                        size_t *n);

/* Brings the desired state up to date with 'catalog'.  Returns the number
 * of services rebuilt. */
size_t cats_model_run(struct cats_model *, const struct cats_catalog *);

uint32_t cats_model_group_id(const struct cats_model *, uint32_t service_id);

/* The Ethernet address the pipeline answers ARP with for 'vip'. */
struct eth_addr cats_vip_mac(ovs_be32 vip);

/* Per-connection decisions (decide=connection)
 * ---------------------------------------------
 *
 * For such a service the pipeline has, besides everything above:
 *
 *   T1 101  +new+trk, tcp, VIP, port    -> controller(pause, userdata=PICK),
 *                                          resubmit(,T4)
 *          (the "pick flow": not in the desired table but leased, added by
 *           ofctrl with a hard timeout of CATS_PICK_LEASE_S and refreshed
 *           every CATS_PICK_REFRESH_MS while the controller is connected,
 *           so that when the controller dies its services fall back to
 *           the group within the lease)
 *   T4 100  reg0=instance IP, reg1=0x10000|instance port, tcp, VIP, port
 *           [paths: reg2=path id, 0 for a local instance]
 *                                       -> the pair's bucket actions
 *       50  tcp, VIP, port              -> group:SERVICE  (no pick made)
 *   T1  55  +trk+dnat-rpl, ct_mark=SERVICE, tcp, instance IP, port,
 *           FIN (and again for RST): the client ends it
 *                                       -> controller(max_len=0,
 *                                          userdata=END), resubmit(,T3)
 *   T0 105  tcp, from instance IP, port, RST: the instance resets it
 *                                       -> reg2=instance IP,
 *                                          reg3=0x10000|instance port,
 *                                          ct(zone, nat, table=T1)
 *   T1  55  +trk+rpl, ct_mark=SERVICE, reg2, reg3 as set in T0, tcp, RST
 *                                       -> controller(max_len=0,
 *                                          userdata=END), NORMAL
 *          (for a remote instance, whose RST comes in over a path: T0 105
 *           goes on to T5 instead, and this flow is T5's, priority 105)
 *
 * The controller answers each paused packet with a resume that sets reg0
 * and reg1 to the instance it picked (and, with paths, reg2 =
 * CATS_PICK_REG_PATH to the path of the pair, 0 local: a model whose site
 * has paths matches it); the FIN/RST copies tell it which
 * connections ended (each once: the instance's FIN is not counted, as a
 * graceful close has the client's too), and of which service: the
 * connection's conntrack mark, so that services sharing an instance
 * address each count only their own.  The instance's RST is matched after
 * conntrack (for the mark), where its reply has been un-NATed to the VIP,
 * hence the registers that carry the instance through it (reg2 there and
 * reg2 in a pick are used by different packets).  T4 is T0 + 4, T5 is
 * T0 + 5, hence table_base at most 249. */
#define CATS_PIN_MAGIC 0xca75
#define CATS_PIN_VERSION 1
#define CATS_PICK_LEASE_S 2
#define CATS_PICK_REFRESH_MS 500
#define CATS_PICK_PORT_FLAG 0x10000     /* In reg1: a pick was made. */
#define CATS_END_REG_IP 2               /* The instance of a reset, */
#define CATS_END_REG_PORT 3             /* and 0x10000 | its port. */
#define CATS_PICK_REG_PATH 2            /* In a pick: the pair's path id. */
#define CATS_LABEL_PATH_MASK 0xff       /* ct_label bits of the path id. */
#define CATS_MAX_TABLE_BASE 249

enum cats_pin_kind {
    CATS_PIN_PICK = 1,              /* A new connection waits for a pick. */
    CATS_PIN_END = 2,               /* An instance ended a connection. */
};

/* The userdata of our controller actions, network byte order. */
struct cats_pin_userdata {
    ovs_be16 magic;                 /* CATS_PIN_MAGIC. */
    uint8_t version;                /* CATS_PIN_VERSION. */
    uint8_t kind;                   /* enum cats_pin_kind. */
    ovs_be32 service_id;            /* The service (nonzero). */
    ovs_be32 ip;                    /* END: the instance; PICK: 0. */
    ovs_be16 port;                  /* END: the instance's port. */
    uint8_t pad[2];
};

/* Builds the pick flow of service 'service_id' (VIP 'vip', TCP port
 * 'port'): its table, priority, cookie, match and actions (appended to
 * 'ofpacts'). */
void cats_model_pick_flow(const struct cats_pipeline_config *,
                          uint32_t service_id, ovs_be32 vip, uint16_t port,
                          uint8_t *table, uint16_t *priority,
                          uint64_t *cookie, struct match *,
                          struct ofpbuf *ofpacts);

/* Apportions 'slots' among 'n' instances in proportion to 'weights'
 * (largest remainder), storing each share in 'out'.  All-zero weights give
 * all-zero shares.  Returns the number of slots handed out ('slots' or 0). */
unsigned int cats_apportion(const uint16_t *weights, size_t n,
                            unsigned int slots, unsigned int *out);

#ifdef __cplusplus
}
#endif

#endif /* cats/flow-model.h */

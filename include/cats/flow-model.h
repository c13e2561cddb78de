/*
 * ovs-cats: the flow model.  Turns the catalog into desired flows and
 * groups (include/cats/flow-table.h).
 *
 * The pipeline, with T0 = table_base:
 *
 *   T0 classifier
 *     110  ARP request for a VIP        -> answer it (VIP MAC), in_port
 *     110  ARP reply to a VIP           -> learn instance IP -> MAC, port
 *                                          (answers to our ARP probes)
 *     110  ICMP echo to a VIP           -> answer it, in_port
 *     100  proto, VIP, port             -> ct(zone, nat, table=T1)
 *     100  proto, instance IP, port     -> ct(zone, nat, table=T1) (replies)
 *      80  ip, VIP                      -> drop (no such service)
 *       0  any                          -> NORMAL (not for a VIP)
 *   T1 after conntrack
 *     100  +new+trk, proto, VIP, port   -> group:SERVICE
 *      90  +inv+trk, ip, VIP            -> drop
 *      50  +trk+dnat-rpl, ip            -> resubmit(,T3)
 *       0  any                          -> NORMAL  (replies, un-NATed)
 *   T2 new-connection counters, one per (service, instance)
 *     100  +new+trk, ct_mark=SERVICE, proto, instance IP, port
 *                                       -> resubmit(,T3)
 *       0  any                          -> resubmit(,T3)
 *   T3 next hop for DNATed packets
 *     100  (learned) ip, dst=instance   -> eth_dst=MAC, output:PORT
 *      50  ip, dst=instance (static MAC)-> eth_dst=MAC, NORMAL
 *       0  any                          -> NORMAL
 *   group SERVICE: select, dp_hash, one bucket per instance:
 *     ct(commit, zone, nat(dst=IP:PORT), exec(ct_mark=SERVICE), table=T2)
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
 * entries changed since the last run.
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
struct cats_flow;
struct match;
struct ofpbuf;

#define CATS_SLOTS 256

struct cats_pipeline_config {
    uint8_t table_base;         /* T0; T1, T2 and T3 follow. */
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
    struct hmap services;           /* Contains "struct cats_model_service". */
    struct cats_flow **global;      /* References to pipeline-wide flows. */
    size_t n_global;
    uint64_t catalog_seqno;         /* Catalog seqno last built. */
    uint64_t generation;
    uint64_t n_rebuilt;             /* Services rebuilt, for coverage. */
};

void cats_model_init(struct cats_model *, const struct cats_pipeline_config *,
                     struct cats_desired *);
void cats_model_destroy(struct cats_model *);

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
 *                                       -> the instance's bucket actions
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
 *
 * The controller answers each paused packet with a resume that sets reg0
 * and reg1 to the instance it picked; the FIN/RST copies tell it which
 * connections ended (each once: the instance's FIN is not counted, as a
 * graceful close has the client's too), and of which service: the
 * connection's conntrack mark, so that services sharing an instance
 * address each count only their own.  The instance's RST is matched after
 * conntrack (for the mark), where its reply has been un-NATed to the VIP,
 * hence the registers that carry the instance through it.  T4 is T0 + 4,
 * hence table_base at most 250. */
#define CATS_PIN_MAGIC 0xca75
#define CATS_PIN_VERSION 1
#define CATS_PICK_LEASE_S 2
#define CATS_PICK_REFRESH_MS 500
#define CATS_PICK_PORT_FLAG 0x10000     /* In reg1: a pick was made. */
#define CATS_END_REG_IP 2               /* The instance of a reset, */
#define CATS_END_REG_PORT 3             /* and 0x10000 | its port. */
#define CATS_MAX_TABLE_BASE 250

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

/*
 * ovs-cats: the service catalog.
 *
 * A service (CATS "CS-ID") is a virtual IP, an L4 protocol and a port.  Its
 * instances (CATS "CSCI-ID") are IP:port pairs that serve it, each with a
 * weight.  The catalog is pure data: no I/O, no OpenFlow.  The flow model
 * turns it into the pipeline that the controller installs.
 *
 * Every change bumps 'seqno', so that consumers (the flow model, the
 * controller's main loop) know when to recompute.
 */

#ifndef CATS_CATALOG_H
#define CATS_CATALOG_H 1

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "openvswitch/hmap.h"
#include "openvswitch/list.h"
#include "openvswitch/types.h"
#include "packets.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest instance weight.  Weights are relative: a service's new
 * connections are split in proportion to its instances' weights. */
#define CATS_WEIGHT_MAX 65535

/* Largest number of services and of instances per service.  Both bound the
 * size of what the controller installs (one group and a handful of flows per
 * service, one bucket per instance). */
#define CATS_MAX_SERVICES 65536
#define CATS_MAX_INSTANCES 1024

/* Longest service name. */
#define CATS_NAME_MAX 64

struct cats_service;

struct cats_instance {
    struct hmap_node node;          /* In cats_service's 'instances'. */
    struct cats_service *service;   /* Owning service. */
    ovs_be32 ip;                    /* Instance address. */
    uint16_t port;                  /* Instance L4 port, host order. */
    uint16_t weight;                /* In use: what the dataplane gets.
                                     * 0: no new connections. */
    uint16_t base_weight;           /* Configured (config file,
                                     * cats/set-weight, cats/drain); the
                                     * agents' load rule scales it into
                                     * 'weight'. */
    bool has_mac;                   /* 'mac' configured statically? */
    struct eth_addr mac;
    char *path;                     /* Long-haul path (its telemetry link
                                     * id) new connections take to reach
                                     * it; NULL: local. */
};

/* How a service's weights are chosen (the selector, cats/selector.h). */
enum cats_policy {
    CATS_POLICY_MIN_LATENCY,        /* Expected completion time (default). */
    CATS_POLICY_LEAST_LOADED,       /* Outstanding work per capacity. */
    CATS_POLICY_STATIC,             /* Configured weights only. */
};

const char *cats_policy_name(enum cats_policy);
bool cats_policy_from_string(const char *, enum cats_policy *);

/* Who decides where a service's new connections go. */
enum cats_decide {
    CATS_DECIDE_WEIGHTS,            /* The switch, by the select group's
                                     * weights (default). */
    CATS_DECIDE_CONNECTION,         /* The controller, per connection (TCP
                                     * only): the first packet of each new
                                     * connection is paused and sent to the
                                     * controller, which picks the instance
                                     * and resumes it; the group's weights
                                     * stay as the fallback. */
};

const char *cats_decide_name(enum cats_decide);
bool cats_decide_from_string(const char *, enum cats_decide *);

struct cats_service {
    struct hmap_node node;          /* In cats_catalog's 'services'. */
    char *name;
    uint32_t id;                    /* Stable small integer, 1-based. */
    ovs_be32 vip;                   /* Virtual IP. */
    uint16_t port;                  /* VIP L4 port, host order. */
    uint8_t proto;                  /* IPPROTO_TCP or IPPROTO_UDP. */
    enum cats_policy policy;
    enum cats_decide decide;
    struct hmap instances;          /* Contains "struct cats_instance"s. */
    uint64_t change_seqno;          /* Catalog seqno of its last change. */
    struct ovs_list change_node;    /* In cats_catalog's 'by_change'. */
};

struct cats_catalog {
    struct hmap services;           /* Contains "struct cats_service"s. */
    struct ovs_list by_change;      /* Services, oldest change_seqno first:
                                     * what changed since seqno S is at the
                                     * tail. */
    uint64_t seqno;                 /* Bumped on every change. */
    uint64_t removal_seqno;         /* Seqno of the last service removal. */
    uint64_t membership_seqno;      /* Seqno of the last change to the set of
                                     * instances or their MACs (not to
                                     * weights). */
    unsigned long *ids;             /* Bitmap of used service ids. */
};

void cats_catalog_init(struct cats_catalog *);
void cats_catalog_destroy(struct cats_catalog *);
void cats_catalog_clear(struct cats_catalog *);
size_t cats_catalog_count(const struct cats_catalog *);

struct cats_service *cats_catalog_find(const struct cats_catalog *,
                                       const char *name);
struct cats_service *cats_catalog_find_vip(const struct cats_catalog *,
                                           ovs_be32 vip, uint8_t proto,
                                           uint16_t port);
struct cats_service *cats_catalog_find_id(const struct cats_catalog *,
                                          uint32_t id);

/* Adds a service.  Returns 0 on success, otherwise a positive errno value
 * (EEXIST if the name or the VIP/proto/port is taken, ENOSPC if the catalog
 * is full) and stores a malloc'd message in '*errorp' that the caller must
 * free. */
int cats_service_add(struct cats_catalog *, const char *name, ovs_be32 vip,
                     uint8_t proto, uint16_t port, struct cats_service **,
                     char **errorp);
void cats_service_remove(struct cats_catalog *, struct cats_service *);

struct cats_instance *cats_instance_find(const struct cats_service *,
                                         ovs_be32 ip, uint16_t port);
int cats_instance_add(struct cats_catalog *, struct cats_service *,
                      ovs_be32 ip, uint16_t port, uint16_t weight,
                      const struct eth_addr *mac, char **errorp);
void cats_instance_remove(struct cats_catalog *, struct cats_instance *);
/* Sets the configured weight, and the weight in use to the same value
 * (the load rule, if any, adjusts it afterward). */
void cats_instance_set_weight(struct cats_catalog *, struct cats_instance *,
                              uint16_t weight);
/* Sets the service's policy / the instance's path (NULL: local). */
void cats_service_set_policy(struct cats_catalog *, struct cats_service *,
                             enum cats_policy);
void cats_service_set_decide(struct cats_catalog *, struct cats_service *,
                             enum cats_decide);
void cats_instance_set_path(struct cats_catalog *, struct cats_instance *,
                            const char *path);
/* Sets only the weight in use. */
void cats_instance_set_effective_weight(struct cats_catalog *,
                                        struct cats_instance *,
                                        uint16_t weight);

/* Returns the instances of 's' in a stable order (by address, then port),
 * in a malloc'd array of '*n' pointers that the caller frees. */
struct cats_instance **cats_service_sorted_instances(
    const struct cats_service *s, size_t *n);

/* Returns the services in id order, as above. */
struct cats_service **cats_catalog_sorted_services(
    const struct cats_catalog *, size_t *n);

/* Makes 'dst' describe the same services and instances as 'src', keeping the
 * ids of services whose names are in both, so that a reload does not
 * renumber groups that did not change.  Bumps dst's seqno only if something
 * changed.  Does not modify 'src'. */
void cats_catalog_sync(struct cats_catalog *dst,
                       const struct cats_catalog *src);

const char *cats_proto_name(uint8_t proto);

#ifdef __cplusplus
}
#endif

#endif /* cats/catalog.h */

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
 *
 * Sites and paths.  A catalog may declare sites (each served by one bridge,
 * known by its datapath id) and long-haul paths between two sites (each
 * end: the OpenFlow port of that site's bridge toward the path).  An
 * instance runs at one site.  A "pair" is an instance and the way to it
 * from a client's site: the instance's own site (its "local pair", path id
 * 0, weighted by 'weight') or a path P with an end at the instance's site,
 * which serves the clients at P's other end (weighted by the instance's
 * pair weight for P).  A catalog without sites is a single site: every
 * instance local, no paths, exactly the catalog of before.
 *
 * A path's 'carrier' is where its connections go: 0 or its own id, itself;
 * another path's id (one joining the same two sites), that path's ports
 * (the controller reroutes a path that storms or dies, and resets the
 * carrier when it is healthy again: the connections then return to it).
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

/* Longest service, site or path name. */
#define CATS_NAME_MAX 64

/* Sites: ids 1...CATS_MAX_SITES.  Paths: ids 1...CATS_MAX_PATHS (a path id
 * fits the 8 bits of conntrack label that carry it), each described by at
 * most CATS_PATH_MAX_LINKS telemetry link ids. */
#define CATS_MAX_SITES 16
#define CATS_MAX_PATHS 255
#define CATS_PATH_MAX_LINKS 4

struct cats_service;

struct cats_site {
    struct hmap_node node;          /* In cats_catalog's 'sites', by name. */
    char *name;
    uint32_t id;                    /* 1-based, kept across reloads. */
    uint64_t dpid;                  /* Datapath id of its bridge. */
};

struct cats_path {
    struct hmap_node node;          /* In cats_catalog's 'paths', by name. */
    char *name;
    uint32_t id;                    /* 1...CATS_MAX_PATHS, kept across
                                     * reloads. */
    const struct cats_site *site[2];    /* Its two ends, two sites. */
    ofp_port_t port[2];             /* Port toward the path on the bridge
                                     * of site[i]. */
    char *links[CATS_PATH_MAX_LINKS];   /* Telemetry link ids. */
    size_t n_links;
    unsigned int delay_ms;          /* One-way delay hint. */
    uint32_t carrier;               /* 0 or 'id': itself; otherwise the id
                                     * of the path its connections take. */
};

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
                                     * it; NULL: local.  Single-site only:
                                     * a catalog with paths uses 'site'. */
    const struct cats_site *site;   /* Where it runs; NULL: the first site
                                     * (a catalog without sites: the only
                                     * one). */
    uint16_t *pair_weight;          /* Weights in use of its remote pairs,
                                     * by path id (CATS_MAX_PATHS + 1
                                     * entries); NULL until one is set:
                                     * each remote pair gets 'weight'. */
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
    struct hmap sites;              /* Contains "struct cats_site"s. */
    struct hmap paths;              /* Contains "struct cats_path"s. */
    uint64_t paths_seqno;           /* Seqno of the last change to the sites
                                     * or paths, carriers included (also
                                     * bumps 'membership_seqno', except for
                                     * a carrier). */
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

/* Makes 'dst' describe the same sites, paths, services and instances as
 * 'src', keeping the ids of sites, paths and services whose names are in
 * both, so that a reload does not renumber groups or path labels that did
 * not change.  Keeps dst's carriers that still join the same sites (reset
 * to 0 otherwise) and the pair weights of instances that stay where they
 * were.  Bumps dst's seqno only if something changed.  Does not modify
 * 'src'. */
void cats_catalog_sync(struct cats_catalog *dst,
                       const struct cats_catalog *src);

const char *cats_proto_name(uint8_t proto);

/* Sites
 * -----
 *
 * Adds site 'name' (1 to CATS_NAME_MAX characters from [A-Za-z0-9._-]),
 * served by the bridge with datapath id 'dpid'.  Returns 0, or a positive
 * errno value (EINVAL, EEXIST: name or dpid taken, ENOSPC: CATS_MAX_SITES
 * already) with a malloc'd "field 'X': ..." message in '*errorp'.
 * Changes the services' flows: bumps every service. */
int cats_site_add(struct cats_catalog *, const char *name, uint64_t dpid,
                  struct cats_site **, char **errorp);
struct cats_site *cats_site_find(const struct cats_catalog *,
                                 const char *name);
struct cats_site *cats_site_find_dpid(const struct cats_catalog *,
                                      uint64_t dpid);
struct cats_site *cats_site_find_id(const struct cats_catalog *,
                                    uint32_t id);
/* The site with the lowest id (the first declared), or NULL if none: where
 * an instance without a site runs. */
const struct cats_site *cats_catalog_first_site(const struct cats_catalog *);
/* The sites in id order, in a malloc'd array of '*n' that the caller
 * frees. */
struct cats_site **cats_catalog_sorted_sites(const struct cats_catalog *,
                                             size_t *n);

/* Paths
 * -----
 *
 * Adds path 'name' (as a site name) between 'site_a' at port 'port_a' and
 * 'site_b' at 'port_b' (two different sites of 'cat'; ports 1...OFPP_MAX,
 * each at most one path end per site), described by 'n_links' (1 to
 * CATS_PATH_MAX_LINKS) distinct telemetry link ids (1 to 64 characters
 * from [A-Za-z0-9._:-]), with a delay hint.  Copies the link ids.  Returns
 * 0 or a positive errno value with a message, as cats_site_add(). */
int cats_path_add(struct cats_catalog *, const char *name,
                  const struct cats_site *site_a, ofp_port_t port_a,
                  const struct cats_site *site_b, ofp_port_t port_b,
                  const char *const links[], size_t n_links,
                  unsigned int delay_ms, struct cats_path **,
                  char **errorp);
struct cats_path *cats_path_find(const struct cats_catalog *,
                                 const char *name);
struct cats_path *cats_path_find_id(const struct cats_catalog *,
                                    uint32_t id);
/* The paths in id order, in a malloc'd array of '*n'. */
struct cats_path **cats_catalog_sorted_paths(const struct cats_catalog *,
                                             size_t *n);
/* The paths with an end at 'from' and the other at 'to' (any other site if
 * 'to' is NULL), in id order, in a malloc'd array of '*n'. */
struct cats_path **cats_site_paths_to(const struct cats_catalog *,
                                      const struct cats_site *from,
                                      const struct cats_site *to, size_t *n);
/* Which end of 'p' is at 'site': 0 or 1, or -1 if neither. */
int cats_path_end(const struct cats_path *p, const struct cats_site *site);
/* The path that carries 'p''s connections: 'p' itself, or its carrier. */
const struct cats_path *cats_path_carrier(const struct cats_catalog *,
                                          const struct cats_path *p);
/* Sets 'p''s carrier: 0 or p->id (itself), or the id of another path that
 * joins the same two sites.  Bumps 'seqno' and 'paths_seqno' only (no
 * service: the flow model keeps a path's ports in per-path flows, one
 * each way per site).  Returns 0, or EINVAL (no such path, or not between
 * the same sites), leaving 'p' as it was. */
int cats_path_set_carrier(struct cats_catalog *, struct cats_path *p,
                          uint32_t carrier_id);

/* Instances at sites
 * ------------------
 *
 * Sets where 'inst' runs (NULL: the first site).  Drops its pair weights. */
void cats_instance_set_site(struct cats_catalog *, struct cats_instance *,
                            const struct cats_site *);
/* Where 'inst' runs: its site, or the first site, or NULL if 'cat' has
 * none. */
const struct cats_site *cats_instance_site(const struct cats_catalog *,
                                           const struct cats_instance *);
/* Sets the weight in use of the pair (inst, path 'path_id'); path id 0 is
 * the local pair ('weight', as cats_instance_set_effective_weight()).
 * Setting the configured weight (cats_instance_set_weight()) drops the
 * pair weights, so that every pair gets it again. */
void cats_instance_set_pair_weight(struct cats_catalog *,
                                   struct cats_instance *, uint32_t path_id,
                                   uint16_t weight);
uint16_t cats_instance_pair_weight(const struct cats_instance *,
                                   uint32_t path_id);

#ifdef __cplusplus
}
#endif

#endif /* cats/catalog.h */

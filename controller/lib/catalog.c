/*
 * ovs-cats: the service catalog.  See include/cats/catalog.h.
 */

#include <config.h>

#include "cats/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "flow.h"
#include "openflow/openflow.h"
#include "hash.h"
#include "util.h"

/* Records a change to 's' (or a removal, if 's' is NULL).  'membership'
 * says whether the set of instances or their addresses changed. */
static void
changed(struct cats_catalog *cat, struct cats_service *s, bool membership)
{
    cat->seqno++;
    if (s) {
        s->change_seqno = cat->seqno;
        ovs_list_remove(&s->change_node);
        ovs_list_push_back(&cat->by_change, &s->change_node);
    } else {
        cat->removal_seqno = cat->seqno;
    }
    if (membership) {
        cat->membership_seqno = cat->seqno;
    }
}

static uint32_t
service_hash(const char *name)
{
    return hash_string(name, 0);
}

static uint32_t
instance_hash(ovs_be32 ip, uint16_t port)
{
    return hash_2words((OVS_FORCE uint32_t) ip, port);
}

/* Records a change to the sites or paths that may change any service's
 * flows: bumps every service. */
static void
topology_changed(struct cats_catalog *cat)
{
    struct cats_service *s;

    HMAP_FOR_EACH (s, node, &cat->services) {
        changed(cat, s, true);
    }
    cat->seqno++;
    cat->paths_seqno = cat->seqno;
    cat->membership_seqno = cat->seqno;
}

void
cats_catalog_init(struct cats_catalog *cat)
{
    hmap_init(&cat->services);
    hmap_init(&cat->sites);
    hmap_init(&cat->paths);
    cat->paths_seqno = 0;
    ovs_list_init(&cat->by_change);
    cat->seqno = 1;
    cat->removal_seqno = 0;
    cat->membership_seqno = 0;
    cat->ids = bitmap_allocate(CATS_MAX_SERVICES + 1);
    bitmap_set1(cat->ids, 0);       /* Id 0 is never used. */
}

static void path_remove(struct cats_catalog *, struct cats_path *);
static void site_remove(struct cats_catalog *, struct cats_site *);

void
cats_catalog_clear(struct cats_catalog *cat)
{
    struct cats_service *s;
    struct cats_path *p;
    struct cats_site *site;

    HMAP_FOR_EACH_SAFE (s, node, &cat->services) {
        cats_service_remove(cat, s);
    }
    HMAP_FOR_EACH_SAFE (p, node, &cat->paths) {
        path_remove(cat, p);
    }
    HMAP_FOR_EACH_SAFE (site, node, &cat->sites) {
        site_remove(cat, site);
    }
}

void
cats_catalog_destroy(struct cats_catalog *cat)
{
    if (cat) {
        cats_catalog_clear(cat);
        hmap_destroy(&cat->services);
        hmap_destroy(&cat->paths);
        hmap_destroy(&cat->sites);
        bitmap_free(cat->ids);
        cat->ids = NULL;
    }
}

size_t
cats_catalog_count(const struct cats_catalog *cat)
{
    return hmap_count(&cat->services);
}

struct cats_service *
cats_catalog_find(const struct cats_catalog *cat, const char *name)
{
    struct cats_service *s;

    HMAP_FOR_EACH_WITH_HASH (s, node, service_hash(name), &cat->services) {
        if (!strcmp(s->name, name)) {
            return s;
        }
    }
    return NULL;
}

struct cats_service *
cats_catalog_find_vip(const struct cats_catalog *cat, ovs_be32 vip,
                      uint8_t proto, uint16_t port)
{
    struct cats_service *s;

    /* Linear: only used on configuration changes, never per packet. */
    HMAP_FOR_EACH (s, node, &cat->services) {
        if (s->vip == vip && s->proto == proto && s->port == port) {
            return s;
        }
    }
    return NULL;
}

struct cats_service *
cats_catalog_find_id(const struct cats_catalog *cat, uint32_t id)
{
    struct cats_service *s;

    HMAP_FOR_EACH (s, node, &cat->services) {
        if (s->id == id) {
            return s;
        }
    }
    return NULL;
}

const char *
cats_proto_name(uint8_t proto)
{
    return (proto == IPPROTO_TCP ? "tcp"
            : proto == IPPROTO_UDP ? "udp"
            : "unknown");
}

static int
service_add__(struct cats_catalog *cat, const char *name, ovs_be32 vip,
              uint8_t proto, uint16_t port, uint32_t id,
              struct cats_service **sp, char **errorp)
{
    struct cats_service *s;

    if (!name[0] || strlen(name) > CATS_NAME_MAX) {
        *errorp = xasprintf("field 'name': a service name is 1 to %d "
                            "characters", CATS_NAME_MAX);
        return EINVAL;
    }
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) {
        *errorp = xasprintf("service %s: field 'proto': must be tcp or udp",
                            name);
        return EINVAL;
    }
    if (!port) {
        *errorp = xasprintf("service %s: field 'port': must be 1 to 65535",
                            name);
        return EINVAL;
    }
    if (cats_catalog_find(cat, name)) {
        *errorp = xasprintf("service %s: field 'name': a service named %s "
                            "already exists", name, name);
        return EEXIST;
    }
    s = cats_catalog_find_vip(cat, vip, proto, port);
    if (s) {
        *errorp = xasprintf("service %s: field 'vip': "IP_FMT":%"PRIu16"/%s "
                            "is already used by service %s", name,
                            IP_ARGS(vip), port, cats_proto_name(proto),
                            s->name);
        return EEXIST;
    }
    if (!id) {
        id = bitmap_scan(cat->ids, 0, 1, CATS_MAX_SERVICES + 1);
        if (id > CATS_MAX_SERVICES) {
            *errorp = xasprintf("service %s: too many services (at most %d)",
                                name, CATS_MAX_SERVICES);
            return ENOSPC;
        }
    }
    ovs_assert(!bitmap_is_set(cat->ids, id));
    bitmap_set1(cat->ids, id);

    s = xzalloc(sizeof *s);
    s->name = xstrdup(name);
    s->id = id;
    s->vip = vip;
    s->proto = proto;
    s->port = port;
    hmap_init(&s->instances);
    ovs_list_init(&s->change_node);
    hmap_insert(&cat->services, &s->node, service_hash(name));
    changed(cat, s, true);
    if (sp) {
        *sp = s;
    }
    return 0;
}

int
cats_service_add(struct cats_catalog *cat, const char *name, ovs_be32 vip,
                 uint8_t proto, uint16_t port, struct cats_service **sp,
                 char **errorp)
{
    *errorp = NULL;
    return service_add__(cat, name, vip, proto, port, 0, sp, errorp);
}

void
cats_service_remove(struct cats_catalog *cat, struct cats_service *s)
{
    struct cats_instance *inst;

    if (!s) {
        return;
    }
    HMAP_FOR_EACH_SAFE (inst, node, &s->instances) {
        hmap_remove(&s->instances, &inst->node);
        free(inst->path);
        free(inst->pair_weight);
        free(inst);
    }
    hmap_destroy(&s->instances);
    hmap_remove(&cat->services, &s->node);
    ovs_list_remove(&s->change_node);
    bitmap_set0(cat->ids, s->id);
    free(s->name);
    free(s);
    changed(cat, NULL, true);
}

struct cats_instance *
cats_instance_find(const struct cats_service *s, ovs_be32 ip, uint16_t port)
{
    struct cats_instance *inst;

    HMAP_FOR_EACH_WITH_HASH (inst, node, instance_hash(ip, port),
                             &s->instances) {
        if (inst->ip == ip && inst->port == port) {
            return inst;
        }
    }
    return NULL;
}

int
cats_instance_add(struct cats_catalog *cat, struct cats_service *s,
                  ovs_be32 ip, uint16_t port, uint16_t weight,
                  const struct eth_addr *mac, char **errorp)
{
    struct cats_instance *inst;

    *errorp = NULL;
    if (!port) {
        *errorp = xasprintf("service %s: field 'address': instance port must "
                            "be 1 to 65535", s->name);
        return EINVAL;
    }
    if (!ip || ip == s->vip) {
        *errorp = xasprintf("service %s: field 'address': "IP_FMT" is not "
                            "usable (it is 0.0.0.0 or the service's VIP)",
                            s->name, IP_ARGS(ip));
        return EINVAL;
    }
    if (cats_instance_find(s, ip, port)) {
        *errorp = xasprintf("service %s: field 'address': instance "
                            IP_FMT":%"PRIu16" already exists", s->name,
                            IP_ARGS(ip), port);
        return EEXIST;
    }
    if (hmap_count(&s->instances) >= CATS_MAX_INSTANCES) {
        *errorp = xasprintf("service %s: too many instances (at most %d)",
                            s->name, CATS_MAX_INSTANCES);
        return ENOSPC;
    }

    inst = xzalloc(sizeof *inst);
    inst->service = s;
    inst->ip = ip;
    inst->port = port;
    inst->weight = weight;
    inst->base_weight = weight;
    if (mac) {
        inst->has_mac = true;
        inst->mac = *mac;
    }
    hmap_insert(&s->instances, &inst->node, instance_hash(ip, port));
    changed(cat, s, true);
    return 0;
}

void
cats_instance_remove(struct cats_catalog *cat, struct cats_instance *inst)
{
    if (inst) {
        struct cats_service *s = inst->service;

        hmap_remove(&s->instances, &inst->node);
        free(inst->path);
        free(inst->pair_weight);
        free(inst);
        changed(cat, s, true);
    }
}

void
cats_instance_set_weight(struct cats_catalog *cat, struct cats_instance *inst,
                         uint16_t weight)
{
    inst->base_weight = weight;
    if (inst->pair_weight) {
        free(inst->pair_weight);
        inst->pair_weight = NULL;
        changed(cat, inst->service, false);
    }
    cats_instance_set_effective_weight(cat, inst, weight);
}

const char *
cats_policy_name(enum cats_policy p)
{
    switch (p) {
    case CATS_POLICY_MIN_LATENCY:
        return "min-latency";
    case CATS_POLICY_LEAST_LOADED:
        return "least-loaded";
    case CATS_POLICY_STATIC:
        return "static";
    }
    return "unknown";
}

bool
cats_policy_from_string(const char *s, enum cats_policy *p)
{
    for (int i = CATS_POLICY_MIN_LATENCY; i <= CATS_POLICY_STATIC; i++) {
        if (!strcmp(s, cats_policy_name(i))) {
            *p = i;
            return true;
        }
    }
    return false;
}

void
cats_service_set_policy(struct cats_catalog *cat, struct cats_service *s,
                        enum cats_policy policy)
{
    if (s->policy != policy) {
        s->policy = policy;
        changed(cat, s, true);
    }
}

const char *
cats_decide_name(enum cats_decide d)
{
    switch (d) {
    case CATS_DECIDE_WEIGHTS:
        return "weights";
    case CATS_DECIDE_CONNECTION:
        return "connection";
    }
    return "unknown";
}

bool
cats_decide_from_string(const char *s, enum cats_decide *d)
{
    for (int i = CATS_DECIDE_WEIGHTS; i <= CATS_DECIDE_CONNECTION; i++) {
        if (!strcmp(s, cats_decide_name(i))) {
            *d = i;
            return true;
        }
    }
    return false;
}

void
cats_service_set_decide(struct cats_catalog *cat, struct cats_service *s,
                        enum cats_decide decide)
{
    if (s->decide != decide) {
        s->decide = decide;
        changed(cat, s, true);
    }
}

void
cats_instance_set_path(struct cats_catalog *cat, struct cats_instance *inst,
                       const char *path)
{
    if (!nullable_string_is_equal(inst->path, path)) {
        free(inst->path);
        inst->path = nullable_xstrdup(path);
        changed(cat, inst->service, true);
    }
}

void
cats_instance_set_effective_weight(struct cats_catalog *cat,
                                   struct cats_instance *inst,
                                   uint16_t weight)
{
    if (inst->weight != weight) {
        inst->weight = weight;
        changed(cat, inst->service, false);
    }
}

static int
compare_instances(const void *a_, const void *b_)
{
    const struct cats_instance *const *a = a_;
    const struct cats_instance *const *b = b_;
    uint32_t ia = ntohl((*a)->ip), ib = ntohl((*b)->ip);

    if (ia != ib) {
        return ia < ib ? -1 : 1;
    }
    return (*a)->port < (*b)->port ? -1 : (*a)->port > (*b)->port;
}

struct cats_instance **
cats_service_sorted_instances(const struct cats_service *s, size_t *n)
{
    struct cats_instance **array, *inst;
    size_t i = 0;

    *n = hmap_count(&s->instances);
    array = xmalloc((*n ? *n : 1) * sizeof *array);
    HMAP_FOR_EACH (inst, node, &s->instances) {
        array[i++] = inst;
    }
    qsort(array, *n, sizeof *array, compare_instances);
    return array;
}

static int
compare_services(const void *a_, const void *b_)
{
    const struct cats_service *const *a = a_;
    const struct cats_service *const *b = b_;

    return (*a)->id < (*b)->id ? -1 : (*a)->id > (*b)->id;
}

struct cats_service **
cats_catalog_sorted_services(const struct cats_catalog *cat, size_t *n)
{
    struct cats_service **array, *s;
    size_t i = 0;

    *n = hmap_count(&cat->services);
    array = xmalloc((*n ? *n : 1) * sizeof *array);
    HMAP_FOR_EACH (s, node, &cat->services) {
        array[i++] = s;
    }
    qsort(array, *n, sizeof *array, compare_services);
    return array;
}

/* Sites and paths. */

static bool
valid_name(const char *name)
{
    size_t len = strlen(name);

    return (len && len <= CATS_NAME_MAX
            && strspn(name, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len);
}

static bool
valid_link(const char *link)
{
    size_t len = strlen(link);

    return (len && len <= 64
            && strspn(link, "abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == len);
}

struct cats_site *
cats_site_find(const struct cats_catalog *cat, const char *name)
{
    struct cats_site *site;

    HMAP_FOR_EACH_WITH_HASH (site, node, hash_string(name, 0), &cat->sites) {
        if (!strcmp(site->name, name)) {
            return site;
        }
    }
    return NULL;
}

struct cats_site *
cats_site_find_dpid(const struct cats_catalog *cat, uint64_t dpid)
{
    struct cats_site *site;

    HMAP_FOR_EACH (site, node, &cat->sites) {
        if (site->dpid == dpid) {
            return site;
        }
    }
    return NULL;
}

struct cats_site *
cats_site_find_id(const struct cats_catalog *cat, uint32_t id)
{
    struct cats_site *site;

    HMAP_FOR_EACH (site, node, &cat->sites) {
        if (site->id == id) {
            return site;
        }
    }
    return NULL;
}

const struct cats_site *
cats_catalog_first_site(const struct cats_catalog *cat)
{
    const struct cats_site *site, *first = NULL;

    HMAP_FOR_EACH (site, node, &cat->sites) {
        if (!first || site->id < first->id) {
            first = site;
        }
    }
    return first;
}

static int
compare_sites(const void *a_, const void *b_)
{
    const struct cats_site *const *a = a_;
    const struct cats_site *const *b = b_;

    return (*a)->id < (*b)->id ? -1 : (*a)->id > (*b)->id;
}

struct cats_site **
cats_catalog_sorted_sites(const struct cats_catalog *cat, size_t *n)
{
    struct cats_site **array, *site;
    size_t i = 0;

    *n = hmap_count(&cat->sites);
    array = xmalloc((*n ? *n : 1) * sizeof *array);
    HMAP_FOR_EACH (site, node, &cat->sites) {
        array[i++] = site;
    }
    qsort(array, *n, sizeof *array, compare_sites);
    return array;
}

/* Adds a site without checks, with id 'id' if it is free. */
static struct cats_site *
site_create(struct cats_catalog *cat, const char *name, uint64_t dpid,
            uint32_t id)
{
    struct cats_site *site;

    if (!id || cats_site_find_id(cat, id)) {
        for (id = 1; cats_site_find_id(cat, id); id++) {
            continue;
        }
    }
    site = xzalloc(sizeof *site);
    site->name = xstrdup(name);
    site->id = id;
    site->dpid = dpid;
    hmap_insert(&cat->sites, &site->node, hash_string(name, 0));
    topology_changed(cat);
    return site;
}

int
cats_site_add(struct cats_catalog *cat, const char *name, uint64_t dpid,
              struct cats_site **sitep, char **errorp)
{
    struct cats_site *site;

    *errorp = NULL;
    if (!valid_name(name)) {
        *errorp = xasprintf("field 'name': a site name is 1 to %d "
                            "characters from [A-Za-z0-9._-]", CATS_NAME_MAX);
        return EINVAL;
    }
    if (cats_site_find(cat, name)) {
        *errorp = xasprintf("site %s: field 'name': a site named %s already "
                            "exists", name, name);
        return EEXIST;
    }
    site = cats_site_find_dpid(cat, dpid);
    if (site) {
        *errorp = xasprintf("site %s: field 'dpid': %016"PRIx64" is already "
                            "site %s's", name, dpid, site->name);
        return EEXIST;
    }
    if (hmap_count(&cat->sites) >= CATS_MAX_SITES) {
        *errorp = xasprintf("site %s: too many sites (at most %d)", name,
                            CATS_MAX_SITES);
        return ENOSPC;
    }
    site = site_create(cat, name, dpid, 0);
    if (sitep) {
        *sitep = site;
    }
    return 0;
}


/* Removes 'site', which no path uses.  Instances there move to the first
 * site. */
static void
site_remove(struct cats_catalog *cat, struct cats_site *site)
{
    struct cats_service *s;

    HMAP_FOR_EACH (s, node, &cat->services) {
        struct cats_instance *inst;

        HMAP_FOR_EACH (inst, node, &s->instances) {
            if (inst->site == site) {
                cats_instance_set_site(cat, inst, NULL);
            }
        }
    }
    hmap_remove(&cat->sites, &site->node);
    free(site->name);
    free(site);
    topology_changed(cat);
}

struct cats_path *
cats_path_find(const struct cats_catalog *cat, const char *name)
{
    struct cats_path *p;

    HMAP_FOR_EACH_WITH_HASH (p, node, hash_string(name, 0), &cat->paths) {
        if (!strcmp(p->name, name)) {
            return p;
        }
    }
    return NULL;
}

struct cats_path *
cats_path_find_id(const struct cats_catalog *cat, uint32_t id)
{
    struct cats_path *p;

    HMAP_FOR_EACH (p, node, &cat->paths) {
        if (p->id == id) {
            return p;
        }
    }
    return NULL;
}

static int
compare_paths(const void *a_, const void *b_)
{
    const struct cats_path *const *a = a_;
    const struct cats_path *const *b = b_;

    return (*a)->id < (*b)->id ? -1 : (*a)->id > (*b)->id;
}

struct cats_path **
cats_site_paths_to(const struct cats_catalog *cat,
                   const struct cats_site *from, const struct cats_site *to,
                   size_t *n)
{
    struct cats_path **array, *p;

    *n = 0;
    array = xmalloc((hmap_count(&cat->paths) + 1) * sizeof *array);
    HMAP_FOR_EACH (p, node, &cat->paths) {
        int end = from ? cats_path_end(p, from) : 0;

        if (end >= 0 && (!from || !to || p->site[!end] == to)) {
            array[(*n)++] = p;
        }
    }
    qsort(array, *n, sizeof *array, compare_paths);
    return array;
}

struct cats_path **
cats_catalog_sorted_paths(const struct cats_catalog *cat, size_t *n)
{
    return cats_site_paths_to(cat, NULL, NULL, n);
}

int
cats_path_end(const struct cats_path *p, const struct cats_site *site)
{
    return (!site ? -1
            : p->site[0] == site ? 0
            : p->site[1] == site ? 1
            : -1);
}

/* Is 'port' of 'site' an end of a path other than 'except'? */
static const struct cats_path *
port_used(const struct cats_catalog *cat, const struct cats_site *site,
          ofp_port_t port, const struct cats_path *except)
{
    const struct cats_path *p;

    HMAP_FOR_EACH (p, node, &cat->paths) {
        int end = cats_path_end(p, site);

        if (p != except && end >= 0 && p->port[end] == port) {
            return p;
        }
    }
    return NULL;
}

/* Checks a path's ends and links.  Returns NULL or a malloc'd message. */
static char *
path_check(const struct cats_catalog *cat, const struct cats_path *except,
           const struct cats_site *site[2], const ofp_port_t port[2],
           const char *const links[], size_t n_links)
{
    for (int i = 0; i < 2; i++) {
        const char *field = i ? "end2" : "end1";
        const struct cats_path *p;

        if (!site[i] || cats_site_find(cat, site[i]->name) != site[i]) {
            return xasprintf("field '%s': not a site of this catalog",
                             field);
        }
        if (!ofp_to_u16(port[i])
            || ofp_to_u16(port[i]) >= ofp_to_u16(OFPP_MAX)) {
            return xasprintf("field '%s': port %"PRIu16" is not 1 to %d",
                             field, ofp_to_u16(port[i]),
                             ofp_to_u16(OFPP_MAX) - 1);
        }
        p = port_used(cat, site[i], port[i], except);
        if (p) {
            return xasprintf("field '%s': port %"PRIu16" of site %s is "
                             "already an end of path %s", field,
                             ofp_to_u16(port[i]), site[i]->name, p->name);
        }
    }
    if (site[0] == site[1]) {
        return xasprintf("field 'end2': both ends at site %s (a path joins "
                         "two sites)", site[0]->name);
    }
    if (!n_links || n_links > CATS_PATH_MAX_LINKS) {
        return xasprintf("field 'link': 1 to %d link ids",
                         CATS_PATH_MAX_LINKS);
    }
    for (size_t i = 0; i < n_links; i++) {
        if (!valid_link(links[i])) {
            return xasprintf("field 'link': '%s' is not a telemetry link "
                             "id (1 to 64 characters from "
                             "[A-Za-z0-9._:-])", links[i]);
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(links[i], links[j])) {
                return xasprintf("field 'link': '%s' given twice",
                                 links[i]);
            }
        }
    }
    return NULL;
}

/* Adds an empty path named 'name' with id 'id' if it is free, otherwise
 * the smallest free one. */
static struct cats_path *
path_create(struct cats_catalog *cat, const char *name, uint32_t id)
{
    struct cats_path *p;

    if (!id || cats_path_find_id(cat, id)) {
        for (id = 1; cats_path_find_id(cat, id); id++) {
            continue;
        }
    }
    p = xzalloc(sizeof *p);
    p->name = xstrdup(name);
    p->id = id;
    hmap_insert(&cat->paths, &p->node, hash_string(name, 0));
    return p;
}

static void
path_set_links(struct cats_path *p, const char *const links[],
               size_t n_links)
{
    for (size_t i = 0; i < p->n_links; i++) {
        free(p->links[i]);
    }
    for (size_t i = 0; i < n_links; i++) {
        p->links[i] = xstrdup(links[i]);
    }
    p->n_links = n_links;
}

int
cats_path_add(struct cats_catalog *cat, const char *name,
              const struct cats_site *site_a, ofp_port_t port_a,
              const struct cats_site *site_b, ofp_port_t port_b,
              const char *const links[], size_t n_links,
              unsigned int delay_ms, struct cats_path **pp, char **errorp)
{
    const struct cats_site *site[2] = { site_a, site_b };
    const ofp_port_t port[2] = { port_a, port_b };
    struct cats_path *p;
    char *error;

    *errorp = NULL;
    if (!valid_name(name)) {
        *errorp = xasprintf("field 'name': a path name is 1 to %d "
                            "characters from [A-Za-z0-9._-]", CATS_NAME_MAX);
        return EINVAL;
    }
    if (cats_path_find(cat, name)) {
        *errorp = xasprintf("path %s: field 'name': a path named %s already "
                            "exists", name, name);
        return EEXIST;
    }
    error = path_check(cat, NULL, site, port, links, n_links);
    if (error) {
        *errorp = xasprintf("path %s: %s", name, error);
        free(error);
        return EINVAL;
    }
    if (hmap_count(&cat->paths) >= CATS_MAX_PATHS) {
        *errorp = xasprintf("path %s: too many paths (at most %d)", name,
                            CATS_MAX_PATHS);
        return ENOSPC;
    }
    p = path_create(cat, name, 0);
    for (int i = 0; i < 2; i++) {
        p->site[i] = site[i];
        p->port[i] = port[i];
    }
    path_set_links(p, links, n_links);
    p->delay_ms = delay_ms;
    topology_changed(cat);
    if (pp) {
        *pp = p;
    }
    return 0;
}

static void
path_remove(struct cats_catalog *cat, struct cats_path *p)
{
    struct cats_path *other;

    HMAP_FOR_EACH (other, node, &cat->paths) {
        if (other->carrier == p->id) {
            other->carrier = 0;
        }
    }
    hmap_remove(&cat->paths, &p->node);
    path_set_links(p, NULL, 0);
    free(p->name);
    free(p);
    topology_changed(cat);
}

const struct cats_path *
cats_path_carrier(const struct cats_catalog *cat, const struct cats_path *p)
{
    const struct cats_path *c;

    if (!p->carrier || p->carrier == p->id) {
        return p;
    }
    c = cats_path_find_id(cat, p->carrier);
    return c ? c : p;
}

/* Do 'a' and 'b' join the same two sites? */
static bool
same_ends(const struct cats_path *a, const struct cats_path *b)
{
    return ((a->site[0] == b->site[0] && a->site[1] == b->site[1])
            || (a->site[0] == b->site[1] && a->site[1] == b->site[0]));
}

int
cats_path_set_carrier(struct cats_catalog *cat, struct cats_path *p,
                      uint32_t carrier_id)
{
    if (carrier_id == p->id) {
        carrier_id = 0;
    }
    if (carrier_id) {
        const struct cats_path *c = cats_path_find_id(cat, carrier_id);

        if (!c || !same_ends(c, p)) {
            return EINVAL;
        }
    }
    if (p->carrier == carrier_id) {
        return 0;
    }
    p->carrier = carrier_id;
    cat->seqno++;
    cat->paths_seqno = cat->seqno;
    return 0;
}

void
cats_instance_set_site(struct cats_catalog *cat, struct cats_instance *inst,
                       const struct cats_site *site)
{
    if (inst->site != site) {
        inst->site = site;
        free(inst->pair_weight);
        inst->pair_weight = NULL;
        changed(cat, inst->service, true);
    }
}

const struct cats_site *
cats_instance_site(const struct cats_catalog *cat,
                   const struct cats_instance *inst)
{
    return inst->site ? inst->site : cats_catalog_first_site(cat);
}

void
cats_instance_set_pair_weight(struct cats_catalog *cat,
                              struct cats_instance *inst, uint32_t path_id,
                              uint16_t weight)
{
    if (!path_id) {
        cats_instance_set_effective_weight(cat, inst, weight);
    } else if (path_id <= CATS_MAX_PATHS
               && cats_instance_pair_weight(inst, path_id) != weight) {
        if (!inst->pair_weight) {
            inst->pair_weight = xmalloc((CATS_MAX_PATHS + 1)
                                        * sizeof *inst->pair_weight);
            for (size_t i = 0; i <= CATS_MAX_PATHS; i++) {
                inst->pair_weight[i] = inst->weight;
            }
        }
        inst->pair_weight[path_id] = weight;
        changed(cat, inst->service, false);
    }
}

uint16_t
cats_instance_pair_weight(const struct cats_instance *inst, uint32_t path_id)
{
    return (!path_id || path_id > CATS_MAX_PATHS || !inst->pair_weight
            ? inst->weight
            : inst->pair_weight[path_id]);
}

static const char *
site_name(const struct cats_site *site)
{
    return site ? site->name : NULL;
}

static bool
instance_equal(const struct cats_instance *a, const struct cats_instance *b)
{
    return (a->base_weight == b->base_weight
            && nullable_string_is_equal(site_name(a->site),
                                        site_name(b->site))
            && nullable_string_is_equal(a->path, b->path)
            && a->has_mac == b->has_mac
            && (!a->has_mac || eth_addr_equals(a->mac, b->mac)));
}

static void
sync_instances(struct cats_catalog *dst, struct cats_service *ds,
               const struct cats_service *ss)
{
    const struct cats_instance *si;
    struct cats_instance *di;

    HMAP_FOR_EACH_SAFE (di, node, &ds->instances) {
        if (!cats_instance_find(ss, di->ip, di->port)) {
            cats_instance_remove(dst, di);
        }
    }
    HMAP_FOR_EACH (si, node, &ss->instances) {
        const struct cats_site *site = (si->site
                                        ? cats_site_find(dst, si->site->name)
                                        : NULL);

        di = cats_instance_find(ds, si->ip, si->port);
        if (!di) {
            char *error;
            int retval = cats_instance_add(dst, ds, si->ip, si->port,
                                           si->base_weight,
                                           si->has_mac ? &si->mac : NULL,
                                           &error);
            /* 'src' already passed the same checks. */
            ovs_assert(!retval);
            di = cats_instance_find(ds, si->ip, si->port);
            cats_instance_set_path(dst, di, si->path);
            cats_instance_set_site(dst, di, site);
        } else if (!instance_equal(di, si)) {
            bool mac_changed = (di->has_mac != si->has_mac
                                || !eth_addr_equals(di->mac, si->mac));
            if (di->base_weight != si->base_weight) {
                free(di->pair_weight);
                di->pair_weight = NULL;
            }
            di->weight = si->base_weight;
            di->base_weight = si->base_weight;
            di->has_mac = si->has_mac;
            di->mac = si->mac;
            changed(dst, ds, mac_changed);
            cats_instance_set_path(dst, di, si->path);
            cats_instance_set_site(dst, di, site);
        }
    }
}

static bool
path_equal(const struct cats_path *a, const struct cats_path *b)
{
    if (a->delay_ms != b->delay_ms || a->n_links != b->n_links) {
        return false;
    }
    for (int i = 0; i < 2; i++) {
        if (strcmp(a->site[i]->name, b->site[i]->name)
            || a->port[i] != b->port[i]) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_links; i++) {
        if (strcmp(a->links[i], b->links[i])) {
            return false;
        }
    }
    return true;
}

/* The sites and paths of cats_catalog_sync(), but for removing the sites
 * that are gone (done after the instances have left them). */
static void
sync_paths(struct cats_catalog *dst, const struct cats_catalog *src)
{
    const struct cats_site *ssite;
    const struct cats_path *sp;
    struct cats_site *dsite;
    struct cats_path *dp;

    /* Paths that are gone, or that end at a site that is, first: their ids
     * are free for what follows. */
    HMAP_FOR_EACH_SAFE (dp, node, &dst->paths) {
        if (!cats_path_find(src, dp->name)
            || !cats_site_find(src, dp->site[0]->name)
            || !cats_site_find(src, dp->site[1]->name)) {
            path_remove(dst, dp);
        }
    }
    HMAP_FOR_EACH_SAFE (dsite, node, &dst->sites) {
        if (!cats_site_find(src, dsite->name)) {
            site_remove(dst, dsite);
        }
    }

    /* New sites keep their ids in 'src' where free; dpids may swap between
     * sites, so no checks here: 'src' passed them. */
    HMAP_FOR_EACH (ssite, node, &src->sites) {
        dsite = cats_site_find(dst, ssite->name);
        if (!dsite) {
            site_create(dst, ssite->name, ssite->dpid, ssite->id);
        } else if (dsite->dpid != ssite->dpid) {
            dsite->dpid = ssite->dpid;
            topology_changed(dst);
        }
    }

    HMAP_FOR_EACH (sp, node, &src->paths) {
        dp = cats_path_find(dst, sp->name);
        if (!dp) {
            dp = path_create(dst, sp->name, sp->id);
        } else if (path_equal(dp, sp)) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            dp->site[i] = cats_site_find(dst, sp->site[i]->name);
            dp->port[i] = sp->port[i];
        }
        path_set_links(dp, (const char *const *) sp->links, sp->n_links);
        dp->delay_ms = sp->delay_ms;
        topology_changed(dst);
    }

    /* Carriers are the controller's: keep those that still make sense. */
    HMAP_FOR_EACH (dp, node, &dst->paths) {
        const struct cats_path *c = cats_path_find_id(dst, dp->carrier);

        if (dp->carrier && (!c || !same_ends(c, dp))) {
            dp->carrier = 0;
            topology_changed(dst);
        }
    }
}

void
cats_catalog_sync(struct cats_catalog *dst, const struct cats_catalog *src)
{
    const struct cats_service *ss;
    struct cats_service *ds;

    sync_paths(dst, src);

    /* Remove services that are gone or whose VIP changed, first, so that
     * their ids and VIPs are free for what follows. */
    HMAP_FOR_EACH_SAFE (ds, node, &dst->services) {
        ss = cats_catalog_find(src, ds->name);
        if (!ss || ss->vip != ds->vip || ss->port != ds->port
            || ss->proto != ds->proto) {
            cats_service_remove(dst, ds);
        }
    }

    /* Keep ids of surviving services; new services reuse the ids they had
     * in 'src' when free, so that a restarted controller numbers groups as
     * its previous run did. */
    HMAP_FOR_EACH (ss, node, &src->services) {
        ds = cats_catalog_find(dst, ss->name);
        if (!ds) {
            uint32_t id = bitmap_is_set(dst->ids, ss->id) ? 0 : ss->id;
            char *error = NULL;
            int retval = service_add__(dst, ss->name, ss->vip, ss->proto,
                                       ss->port, id, &ds, &error);
            ovs_assert(!retval);
        }
        cats_service_set_policy(dst, ds, ss->policy);
        cats_service_set_decide(dst, ds, ss->decide);
        sync_instances(dst, ds, ss);
    }
}


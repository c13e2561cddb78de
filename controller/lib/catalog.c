/*
 * ovs-cats: the service catalog.  See include/cats/catalog.h.
 */

#include <config.h>

#include "cats/catalog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
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

void
cats_catalog_init(struct cats_catalog *cat)
{
    hmap_init(&cat->services);
    ovs_list_init(&cat->by_change);
    cat->seqno = 1;
    cat->removal_seqno = 0;
    cat->membership_seqno = 0;
    cat->ids = bitmap_allocate(CATS_MAX_SERVICES + 1);
    bitmap_set1(cat->ids, 0);       /* Id 0 is never used. */
}

void
cats_catalog_clear(struct cats_catalog *cat)
{
    struct cats_service *s;

    HMAP_FOR_EACH_SAFE (s, node, &cat->services) {
        cats_service_remove(cat, s);
    }
}

void
cats_catalog_destroy(struct cats_catalog *cat)
{
    if (cat) {
        cats_catalog_clear(cat);
        hmap_destroy(&cat->services);
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
        free(inst);
        changed(cat, s, true);
    }
}

void
cats_instance_set_weight(struct cats_catalog *cat, struct cats_instance *inst,
                         uint16_t weight)
{
    inst->base_weight = weight;
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

static bool
instance_equal(const struct cats_instance *a, const struct cats_instance *b)
{
    return (a->base_weight == b->base_weight
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
        } else if (!instance_equal(di, si)) {
            bool mac_changed = (di->has_mac != si->has_mac
                                || !eth_addr_equals(di->mac, si->mac));
            di->weight = si->base_weight;
            di->base_weight = si->base_weight;
            di->has_mac = si->has_mac;
            di->mac = si->mac;
            changed(dst, ds, mac_changed);
            cats_instance_set_path(dst, di, si->path);
        }
    }
}

void
cats_catalog_sync(struct cats_catalog *dst, const struct cats_catalog *src)
{
    const struct cats_service *ss;
    struct cats_service *ds;

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

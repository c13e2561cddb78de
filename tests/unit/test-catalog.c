/*
 * Unit tests for the service catalog (include/cats/catalog.h).
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cats/catalog.h"
#include "flow.h"
#include "openflow/openflow.h"
#include "packets.h"
#include "util.h"
#include "test-util.h"

/* Helpers. */

static struct cats_service *
add_service(struct cats_catalog *cat, const char *name, const char *vip,
            uint8_t proto, uint16_t port)
{
    struct cats_service *s = NULL;
    char *error = NULL;
    int retval;

    retval = cats_service_add(cat, name, ip(vip), proto, port, &s, &error);
    if (retval) {
        fail_msg("adding service %s: %s", name, error);
    }
    assert_null(error);
    assert_non_null(s);
    return s;
}

static void
add_instance(struct cats_catalog *cat, struct cats_service *s,
             const char *addr, uint16_t port, uint16_t weight,
             const struct eth_addr *mac)
{
    char *error = NULL;
    int retval;

    retval = cats_instance_add(cat, s, ip(addr), port, weight, mac, &error);
    if (retval) {
        fail_msg("adding instance %s:%d: %s", addr, port, error);
    }
    assert_null(error);
}

/* Checks that a rejected call returned 'expected', left a message that
 * contains 'needle', and did not change 'cat' (its seqno is 'seqno'). */
static void
check_rejected(const struct cats_catalog *cat, uint64_t seqno, int retval,
               int expected, char *error, const char *needle)
{
    assert_int_equal(retval, expected);
    assert_non_null(error);
    if (!strstr(error, needle)) {
        fail_msg("error \"%s\" does not mention \"%s\"", error, needle);
    }
    free(error);
    assert_int_equal(cat->seqno, seqno);
}

static int
setup_catalog(void **state)
{
    struct cats_catalog *cat = xmalloc(sizeof *cat);

    cats_catalog_init(cat);
    *state = cat;
    return 0;
}

static int
teardown_catalog(void **state)
{
    struct cats_catalog *cat = *state;

    cats_catalog_destroy(cat);
    free(cat);
    return 0;
}

/* Services. */

static void
test_service_add_is_found_by_name_vip_and_id(void **state)
{
    struct cats_catalog *cat = *state;
    uint64_t seqno = cat->seqno;
    struct cats_service *s;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    assert_string_equal(s->name, "web");
    assert_int_equal(s->id, 1);
    assert_true(s->vip == ip("10.0.0.1"));
    assert_int_equal(s->port, 80);
    assert_int_equal(s->proto, IPPROTO_TCP);
    assert_int_equal(hmap_count(&s->instances), 0);

    assert_int_equal(cats_catalog_count(cat), 1);
    assert_ptr_equal(cats_catalog_find(cat, "web"), s);
    assert_ptr_equal(cats_catalog_find_vip(cat, ip("10.0.0.1"), IPPROTO_TCP,
                                           80), s);
    assert_ptr_equal(cats_catalog_find_id(cat, 1), s);

    /* Lookups that differ in one part find nothing. */
    assert_null(cats_catalog_find(cat, "we"));
    assert_null(cats_catalog_find(cat, "web2"));
    assert_null(cats_catalog_find_vip(cat, ip("10.0.0.1"), IPPROTO_UDP, 80));
    assert_null(cats_catalog_find_vip(cat, ip("10.0.0.1"), IPPROTO_TCP, 81));
    assert_null(cats_catalog_find_vip(cat, ip("10.0.0.2"), IPPROTO_TCP, 80));
    assert_null(cats_catalog_find_id(cat, 2));

    /* The add is a change, recorded on the service too. */
    assert_true(cat->seqno > seqno);
    assert_int_equal(s->change_seqno, cat->seqno);
}

static void
test_service_add_duplicate_name_is_eexist_and_changes_nothing(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s, *out = NULL;
    char *error = NULL;
    uint64_t seqno;
    int retval;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    seqno = cat->seqno;

    /* Same name, every other part different. */
    retval = cats_service_add(cat, "web", ip("10.0.0.2"), IPPROTO_UDP, 53,
                              &out, &error);
    check_rejected(cat, seqno, retval, EEXIST, error, "a service named web already exists");
    assert_null(out);
    assert_int_equal(cats_catalog_count(cat), 1);
    assert_ptr_equal(cats_catalog_find(cat, "web"), s);
    assert_true(s->vip == ip("10.0.0.1"));
    assert_null(cats_catalog_find_vip(cat, ip("10.0.0.2"), IPPROTO_UDP, 53));
    assert_int_equal(s->change_seqno, seqno);
}

static void
test_service_add_duplicate_vip_is_eexist_and_changes_nothing(
    void **state)
{
    struct cats_catalog *cat = *state;
    char *error = NULL;
    uint64_t seqno;
    int retval;

    add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    seqno = cat->seqno;

    retval = cats_service_add(cat, "api", ip("10.0.0.1"), IPPROTO_TCP, 80,
                              NULL, &error);
    check_rejected(cat, seqno, retval, EEXIST, error,
                   "service api: field 'vip': 10.0.0.1:80/tcp is already "
                   "used by service web");
    assert_null(cats_catalog_find(cat, "api"));
    assert_int_equal(cats_catalog_count(cat), 1);

    /* The same VIP with another port or protocol is another service. */
    add_service(cat, "web-udp", "10.0.0.1", IPPROTO_UDP, 80);
    add_service(cat, "web-8080", "10.0.0.1", IPPROTO_TCP, 8080);
    assert_int_equal(cats_catalog_count(cat), 3);
}

static void
test_service_add_rejects_bad_name_proto_port_with_einval(void **state)
{
    struct cats_catalog *cat = *state;
    char name[CATS_NAME_MAX + 2];
    char *error = NULL;
    uint64_t seqno = cat->seqno;
    int retval;

    retval = cats_service_add(cat, "", ip("10.0.0.1"), IPPROTO_TCP, 80, NULL,
                              &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "service name");

    memset(name, 'n', CATS_NAME_MAX + 1);
    name[CATS_NAME_MAX + 1] = '\0';
    retval = cats_service_add(cat, name, ip("10.0.0.1"), IPPROTO_TCP, 80,
                              NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "service name");

    retval = cats_service_add(cat, "icmp", ip("10.0.0.1"), IPPROTO_ICMP, 80,
                              NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "tcp or udp");

    retval = cats_service_add(cat, "zero", ip("10.0.0.1"), IPPROTO_TCP, 0,
                              NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "port");
    assert_int_equal(cats_catalog_count(cat), 0);

    /* CATS_NAME_MAX characters is still a valid name. */
    name[CATS_NAME_MAX] = '\0';
    add_service(cat, name, "10.0.0.1", IPPROTO_TCP, 80);
}

static void
test_service_ids_are_smallest_free_and_reused(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *a, *b, *c, *d, *e, *f;

    a = add_service(cat, "a", "10.0.0.1", IPPROTO_TCP, 80);
    b = add_service(cat, "b", "10.0.0.2", IPPROTO_TCP, 80);
    c = add_service(cat, "c", "10.0.0.3", IPPROTO_TCP, 80);
    assert_int_equal(a->id, 1);
    assert_int_equal(b->id, 2);
    assert_int_equal(c->id, 3);

    cats_service_remove(cat, b);
    assert_null(cats_catalog_find_id(cat, 2));
    d = add_service(cat, "d", "10.0.0.4", IPPROTO_TCP, 80);
    assert_int_equal(d->id, 2);

    cats_service_remove(cat, a);
    e = add_service(cat, "e", "10.0.0.5", IPPROTO_TCP, 80);
    assert_int_equal(e->id, 1);

    f = add_service(cat, "f", "10.0.0.6", IPPROTO_TCP, 80);
    assert_int_equal(f->id, 4);
    assert_ptr_equal(cats_catalog_find_id(cat, 4), f);
}

static void
test_service_remove_frees_name_vip_and_id(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s;
    uint64_t seqno;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(cat, s, "10.0.0.11", 8080, 100, NULL);
    add_instance(cat, s, "10.0.0.12", 8080, 100, NULL);
    seqno = cat->seqno;

    cats_service_remove(cat, s);
    assert_true(cat->seqno > seqno);
    assert_int_equal(cats_catalog_count(cat), 0);
    assert_null(cats_catalog_find(cat, "web"));
    assert_null(cats_catalog_find_vip(cat, ip("10.0.0.1"), IPPROTO_TCP, 80));
    assert_null(cats_catalog_find_id(cat, 1));

    /* Name, VIP and id are free again. */
    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    assert_int_equal(s->id, 1);
    assert_int_equal(hmap_count(&s->instances), 0);
}

static void
test_service_remove_null_changes_nothing(void **state)
{
    struct cats_catalog *cat = *state;
    uint64_t seqno = cat->seqno;

    cats_service_remove(cat, NULL);
    assert_int_equal(cat->seqno, seqno);
}

static void
test_catalog_clear_removes_every_service(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s;

    s = add_service(cat, "a", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(cat, s, "10.0.0.11", 80, 1, NULL);
    add_service(cat, "b", "10.0.0.2", IPPROTO_UDP, 53);
    cats_catalog_clear(cat);
    assert_int_equal(cats_catalog_count(cat), 0);
    assert_null(cats_catalog_find(cat, "a"));
    assert_null(cats_catalog_find(cat, "b"));

    /* Ids start over. */
    s = add_service(cat, "c", "10.0.0.3", IPPROTO_TCP, 80);
    assert_int_equal(s->id, 1);
}

static void
test_catalog_destroy_null_is_noop(void **state OVS_UNUSED)
{
    cats_catalog_destroy(NULL);
}

static void
test_proto_name(void **state OVS_UNUSED)
{
    assert_string_equal(cats_proto_name(IPPROTO_TCP), "tcp");
    assert_string_equal(cats_proto_name(IPPROTO_UDP), "udp");
    assert_string_equal(cats_proto_name(IPPROTO_ICMP), "unknown");
}

/* Instances. */

static void
test_instance_add_find_remove(void **state)
{
    struct cats_catalog *cat = *state;
    struct eth_addr mac = ETH_ADDR_C(02, 00, 00, 00, 00, 0b);
    struct cats_instance *inst;
    struct cats_service *s;
    uint64_t seqno;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    seqno = cat->seqno;

    add_instance(cat, s, "10.0.0.11", 8080, 70, &mac);
    assert_true(cat->seqno > seqno);
    assert_int_equal(s->change_seqno, cat->seqno);

    inst = cats_instance_find(s, ip("10.0.0.11"), 8080);
    assert_non_null(inst);
    assert_ptr_equal(inst->service, s);
    assert_true(inst->ip == ip("10.0.0.11"));
    assert_int_equal(inst->port, 8080);
    assert_int_equal(inst->weight, 70);
    assert_true(inst->has_mac);
    assert_true(eth_addr_equals(inst->mac, mac));

    /* Same address, other port, is another instance; without a MAC. */
    add_instance(cat, s, "10.0.0.11", 8081, 30, NULL);
    inst = cats_instance_find(s, ip("10.0.0.11"), 8081);
    assert_non_null(inst);
    assert_false(inst->has_mac);
    assert_null(cats_instance_find(s, ip("10.0.0.11"), 8082));
    assert_null(cats_instance_find(s, ip("10.0.0.12"), 8080));
    assert_int_equal(hmap_count(&s->instances), 2);

    seqno = cat->seqno;
    cats_instance_remove(cat, inst);
    assert_true(cat->seqno > seqno);
    assert_int_equal(s->change_seqno, cat->seqno);
    assert_null(cats_instance_find(s, ip("10.0.0.11"), 8081));
    assert_non_null(cats_instance_find(s, ip("10.0.0.11"), 8080));
    assert_int_equal(hmap_count(&s->instances), 1);

    /* Removing NULL is a no-op. */
    seqno = cat->seqno;
    cats_instance_remove(cat, NULL);
    assert_int_equal(cat->seqno, seqno);
}

static void
test_instance_add_duplicate_is_eexist_and_changes_nothing(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_instance *inst;
    struct cats_service *s;
    char *error = NULL;
    uint64_t seqno;
    int retval;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(cat, s, "10.0.0.11", 8080, 70, NULL);
    seqno = cat->seqno;

    retval = cats_instance_add(cat, s, ip("10.0.0.11"), 8080, 5, NULL,
                               &error);
    check_rejected(cat, seqno, retval, EEXIST, error,
                   "instance 10.0.0.11:8080 already exists");
    assert_int_equal(s->change_seqno, seqno);
    inst = cats_instance_find(s, ip("10.0.0.11"), 8080);
    assert_int_equal(inst->weight, 70);
    assert_int_equal(hmap_count(&s->instances), 1);
}

static void
test_instance_add_rejects_port_0_zero_address_and_vip(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s;
    char *error = NULL;
    uint64_t seqno;
    int retval;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    seqno = cat->seqno;

    retval = cats_instance_add(cat, s, ip("10.0.0.11"), 0, 1, NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "port");
    retval = cats_instance_add(cat, s, 0, 80, 1, NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "0.0.0.0");
    retval = cats_instance_add(cat, s, ip("10.0.0.1"), 80, 1, NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "10.0.0.1");
    assert_int_equal(hmap_count(&s->instances), 0);
    assert_int_equal(s->change_seqno, seqno);
}

static void
test_instance_limit_gives_enospc_and_changes_nothing(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s;
    char *error = NULL;
    uint64_t seqno;
    int retval;

    s = add_service(cat, "big", "10.0.0.1", IPPROTO_TCP, 80);
    for (int i = 0; i < CATS_MAX_INSTANCES; i++) {
        retval = cats_instance_add(cat, s, htonl(0x0a010000 + i), 80, 1, NULL,
                                   &error);
        assert_int_equal(retval, 0);
        assert_null(error);
    }
    assert_int_equal(hmap_count(&s->instances), CATS_MAX_INSTANCES);
    seqno = cat->seqno;

    retval = cats_instance_add(cat, s, ip("10.2.0.1"), 80, 1, NULL, &error);
    check_rejected(cat, seqno, retval, ENOSPC, error, "too many instances");
    assert_int_equal(hmap_count(&s->instances), CATS_MAX_INSTANCES);
    assert_null(cats_instance_find(s, ip("10.2.0.1"), 80));

    /* The limit is per service. */
    struct cats_service *other = add_service(cat, "other", "10.0.0.2",
                                             IPPROTO_TCP, 80);
    add_instance(cat, other, "10.2.0.1", 80, 1, NULL);

    /* Freeing one slot makes room again. */
    cats_instance_remove(cat, cats_instance_find(s, htonl(0x0a010000), 80));
    add_instance(cat, s, "10.2.0.1", 80, 1, NULL);
}

static void
test_instance_set_weight_bumps_seqno_only_on_change(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_instance *inst;
    struct cats_service *s;
    uint64_t seqno;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(cat, s, "10.0.0.11", 80, 100, NULL);
    inst = cats_instance_find(s, ip("10.0.0.11"), 80);
    seqno = cat->seqno;

    cats_instance_set_weight(cat, inst, 100);
    assert_int_equal(cat->seqno, seqno);
    assert_int_equal(s->change_seqno, seqno);

    cats_instance_set_weight(cat, inst, 0);
    assert_int_equal(inst->weight, 0);
    assert_true(cat->seqno > seqno);
    assert_int_equal(s->change_seqno, cat->seqno);
}

static void
test_change_seqno_bumps_only_for_changed_service(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *a, *b;
    uint64_t a_seqno, b_seqno;

    a = add_service(cat, "a", "10.0.0.1", IPPROTO_TCP, 80);
    b = add_service(cat, "b", "10.0.0.2", IPPROTO_TCP, 80);
    add_instance(cat, a, "10.0.1.1", 80, 1, NULL);
    add_instance(cat, b, "10.0.2.1", 80, 1, NULL);
    a_seqno = a->change_seqno;
    b_seqno = b->change_seqno;
    assert_true(a_seqno < b_seqno);

    add_instance(cat, a, "10.0.1.2", 80, 1, NULL);
    assert_true(a->change_seqno > b_seqno);
    assert_int_equal(b->change_seqno, b_seqno);
    a_seqno = a->change_seqno;

    cats_instance_set_weight(cat, cats_instance_find(b, ip("10.0.2.1"), 80),
                             7);
    assert_int_equal(a->change_seqno, a_seqno);
    assert_int_equal(b->change_seqno, cat->seqno);
    b_seqno = b->change_seqno;

    cats_instance_remove(cat, cats_instance_find(a, ip("10.0.1.1"), 80));
    assert_int_equal(b->change_seqno, b_seqno);
    assert_int_equal(a->change_seqno, cat->seqno);

    /* Adding or removing another service changes neither. */
    a_seqno = a->change_seqno;
    cats_service_remove(cat, add_service(cat, "c", "10.0.0.3", IPPROTO_TCP,
                                         80));
    assert_int_equal(a->change_seqno, a_seqno);
    assert_int_equal(b->change_seqno, b_seqno);
}

static void
test_sorted_instances_are_by_address_then_port(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_instance **insts;
    struct cats_service *s;
    size_t n;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    /* Numeric order, not string order: 10.0.0.9 < 10.0.0.10. */
    add_instance(cat, s, "10.0.0.10", 80, 1, NULL);
    add_instance(cat, s, "10.0.0.9", 443, 1, NULL);
    add_instance(cat, s, "10.0.0.9", 80, 1, NULL);
    add_instance(cat, s, "9.255.255.255", 9000, 1, NULL);

    insts = cats_service_sorted_instances(s, &n);
    assert_int_equal(n, 4);
    assert_true(insts[0]->ip == ip("9.255.255.255"));
    assert_true(insts[1]->ip == ip("10.0.0.9"));
    assert_int_equal(insts[1]->port, 80);
    assert_true(insts[2]->ip == ip("10.0.0.9"));
    assert_int_equal(insts[2]->port, 443);
    assert_true(insts[3]->ip == ip("10.0.0.10"));
    free(insts);

    /* An empty service gives an empty (but freeable) array. */
    s = add_service(cat, "empty", "10.0.0.2", IPPROTO_TCP, 80);
    insts = cats_service_sorted_instances(s, &n);
    assert_int_equal(n, 0);
    free(insts);
}

static void
test_sorted_services_are_by_id(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service **services;
    size_t n;

    add_service(cat, "z", "10.0.0.1", IPPROTO_TCP, 80);
    add_service(cat, "y", "10.0.0.2", IPPROTO_TCP, 80);
    add_service(cat, "x", "10.0.0.3", IPPROTO_TCP, 80);
    cats_service_remove(cat, cats_catalog_find(cat, "z"));
    add_service(cat, "w", "10.0.0.4", IPPROTO_TCP, 80);    /* Takes id 1. */

    services = cats_catalog_sorted_services(cat, &n);
    assert_int_equal(n, 3);
    assert_string_equal(services[0]->name, "w");
    assert_string_equal(services[1]->name, "y");
    assert_string_equal(services[2]->name, "x");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(services[i]->id, i + 1);
    }
    free(services);
}

static void
test_by_change_lists_services_oldest_change_first(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *a, *b, *c;

    a = add_service(cat, "a", "10.0.0.1", IPPROTO_TCP, 80);
    b = add_service(cat, "b", "10.0.0.2", IPPROTO_TCP, 80);
    c = add_service(cat, "c", "10.0.0.3", IPPROTO_TCP, 80);
    add_instance(cat, a, "10.0.1.1", 80, 1, NULL);     /* a to the tail. */

    /* Order b, c, a, with change_seqno increasing along the list. */
    struct cats_service *order[3], *s;
    uint64_t prev = 0;
    size_t n = 0;
    LIST_FOR_EACH (s, change_node, &cat->by_change) {
        assert_true(n < 3);
        assert_true(s->change_seqno > prev);
        prev = s->change_seqno;
        order[n++] = s;
    }
    assert_int_equal(n, 3);
    assert_ptr_equal(order[0], b);
    assert_ptr_equal(order[1], c);
    assert_ptr_equal(order[2], a);

    /* A removed service leaves the list. */
    cats_service_remove(cat, c);
    assert_int_equal(ovs_list_size(&cat->by_change), 2);
    assert_ptr_equal(CONTAINER_OF(ovs_list_back(&cat->by_change),
                                  struct cats_service, change_node), a);
    cats_instance_set_weight(cat, cats_instance_find(a, ip("10.0.1.1"), 80),
                             2);
    assert_ptr_equal(CONTAINER_OF(ovs_list_back(&cat->by_change),
                                  struct cats_service, change_node), a);
    cats_service_remove(cat, a);
    cats_service_remove(cat, b);
    assert_true(ovs_list_is_empty(&cat->by_change));
}

static void
test_removal_seqno_records_service_removals_only(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *a;
    uint64_t removal;

    a = add_service(cat, "a", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(cat, a, "10.0.1.1", 80, 1, NULL);
    removal = cat->removal_seqno;
    cats_instance_remove(cat, cats_instance_find(a, ip("10.0.1.1"), 80));
    add_service(cat, "b", "10.0.0.2", IPPROTO_TCP, 80);
    assert_int_equal(cat->removal_seqno, removal);

    cats_service_remove(cat, a);
    assert_int_equal(cat->removal_seqno, cat->seqno);
}

static void
test_membership_seqno_ignores_weight_changes(void **state)
{
    struct eth_addr mac = ETH_ADDR_C(02, 00, 00, 00, 00, 01);
    struct cats_catalog *cat = *state;
    struct cats_instance *inst;
    struct cats_service *s;
    uint64_t membership;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    assert_int_equal(cat->membership_seqno, cat->seqno);
    add_instance(cat, s, "10.0.1.1", 80, 1, NULL);
    assert_int_equal(cat->membership_seqno, cat->seqno);
    inst = cats_instance_find(s, ip("10.0.1.1"), 80);

    membership = cat->membership_seqno;
    cats_instance_set_weight(cat, inst, 9);
    assert_true(cat->seqno > membership);
    assert_int_equal(cat->membership_seqno, membership);

    /* Through sync: a weight change is not membership, a MAC change is. */
    struct cats_catalog src;
    struct cats_service *ss;
    cats_catalog_init(&src);
    ss = add_service(&src, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(&src, ss, "10.0.1.1", 80, 10, NULL);
    cats_catalog_sync(cat, &src);
    assert_int_equal(inst->weight, 10);
    assert_int_equal(cat->membership_seqno, membership);

    cats_instance_remove(&src, cats_instance_find(ss, ip("10.0.1.1"), 80));
    add_instance(&src, ss, "10.0.1.1", 80, 10, &mac);
    cats_catalog_sync(cat, &src);
    assert_true(inst->has_mac);
    assert_int_equal(cat->membership_seqno, cat->seqno);
    cats_catalog_destroy(&src);

    membership = cat->membership_seqno;
    cats_instance_remove(cat, inst);
    assert_true(cat->membership_seqno > membership);
    membership = cat->membership_seqno;
    cats_service_remove(cat, s);
    assert_true(cat->membership_seqno > membership);
}

/* Sync. */

/* Builds into 'cat' a catalog with three services and some instances. */
static void
build_example(struct cats_catalog *cat)
{
    struct eth_addr mac = ETH_ADDR_C(02, 00, 00, 00, 00, 01);
    struct cats_service *s;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(cat, s, "10.0.1.1", 8080, 100, NULL);
    add_instance(cat, s, "10.0.1.2", 8080, 50, &mac);
    s = add_service(cat, "dns", "10.0.0.2", IPPROTO_UDP, 53);
    add_instance(cat, s, "10.0.2.1", 53, 1, NULL);
    add_service(cat, "empty", "10.0.0.3", IPPROTO_TCP, 443);
}

/* Fails unless 'a' and 'b' have the same services (with the same ids) and
 * instances. */
static void
assert_catalogs_equal(const struct cats_catalog *a,
                      const struct cats_catalog *b)
{
    const struct cats_service *sa;

    assert_int_equal(cats_catalog_count(a), cats_catalog_count(b));
    HMAP_FOR_EACH (sa, node, &a->services) {
        const struct cats_service *sb = cats_catalog_find(b, sa->name);
        const struct cats_instance *ia;

        assert_non_null(sb);
        assert_int_equal(sa->id, sb->id);
        assert_true(sa->vip == sb->vip);
        assert_int_equal(sa->port, sb->port);
        assert_int_equal(sa->proto, sb->proto);
        assert_int_equal(hmap_count(&sa->instances),
                         hmap_count(&sb->instances));
        HMAP_FOR_EACH (ia, node, &sa->instances) {
            const struct cats_instance *ib;

            ib = cats_instance_find(sb, ia->ip, ia->port);
            assert_non_null(ib);
            assert_int_equal(ia->weight, ib->weight);
            assert_int_equal(ia->has_mac, ib->has_mac);
            if (ia->has_mac) {
                assert_true(eth_addr_equals(ia->mac, ib->mac));
            }
        }
    }
}

static void
test_sync_into_empty_copies_services_with_their_ids(void **state)
{
    struct cats_catalog *dst = *state;
    struct cats_catalog src;
    uint64_t src_seqno, seqno = dst->seqno;

    cats_catalog_init(&src);
    build_example(&src);                /* web 1, dns 2, empty 3. */
    add_service(&src, "gone", "10.0.0.9", IPPROTO_TCP, 80);
    add_service(&src, "late", "10.0.0.8", IPPROTO_TCP, 80);
    cats_service_remove(&src, cats_catalog_find(&src, "gone"));
    assert_int_equal(cats_catalog_find(&src, "late")->id, 5);
    src_seqno = src.seqno;

    cats_catalog_sync(dst, &src);
    assert_catalogs_equal(dst, &src);
    assert_true(dst->seqno > seqno);
    assert_int_equal(src.seqno, src_seqno);

    cats_catalog_destroy(&src);
}

static void
test_sync_of_equal_catalogs_changes_nothing(void **state)
{
    struct cats_catalog *dst = *state;
    struct cats_catalog src;
    uint64_t seqnos[3], seqno;
    const char *names[] = { "web", "dns", "empty" };

    cats_catalog_init(&src);
    build_example(&src);
    build_example(dst);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        seqnos[i] = cats_catalog_find(dst, names[i])->change_seqno;
    }
    seqno = dst->seqno;

    cats_catalog_sync(dst, &src);
    assert_int_equal(dst->seqno, seqno);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        assert_int_equal(cats_catalog_find(dst, names[i])->change_seqno,
                         seqnos[i]);
    }
    assert_catalogs_equal(dst, &src);

    /* Syncing again is just as quiet. */
    cats_catalog_sync(dst, &src);
    assert_int_equal(dst->seqno, seqno);

    cats_catalog_destroy(&src);
}

static void
test_sync_keeps_ids_of_surviving_services_and_removes_vanished(void **state)
{
    struct cats_catalog *dst = *state;
    struct cats_catalog src;
    struct cats_service *c;

    add_service(dst, "a", "10.0.0.1", IPPROTO_TCP, 80);
    add_service(dst, "b", "10.0.0.2", IPPROTO_TCP, 80);
    c = add_service(dst, "c", "10.0.0.3", IPPROTO_TCP, 80);
    add_instance(dst, c, "10.0.3.1", 80, 1, NULL);
    assert_int_equal(c->id, 3);
    uint64_t c_seqno = c->change_seqno;

    /* In 'src', "c" is numbered 1 and "d" 2. */
    cats_catalog_init(&src);
    struct cats_service *sc = add_service(&src, "c", "10.0.0.3", IPPROTO_TCP,
                                          80);
    add_instance(&src, sc, "10.0.3.1", 80, 1, NULL);
    add_service(&src, "d", "10.0.0.4", IPPROTO_TCP, 80);

    cats_catalog_sync(dst, &src);
    assert_int_equal(cats_catalog_count(dst), 2);
    assert_null(cats_catalog_find(dst, "a"));
    assert_null(cats_catalog_find(dst, "b"));

    /* "c" survived: same object, same id, untouched. */
    assert_ptr_equal(cats_catalog_find(dst, "c"), c);
    assert_int_equal(c->id, 3);
    assert_int_equal(c->change_seqno, c_seqno);

    /* "d" is new; its id from 'src' (2) is free in 'dst', so it keeps it. */
    assert_int_equal(cats_catalog_find(dst, "d")->id, 2);

    cats_catalog_destroy(&src);
}

static void
test_sync_new_service_whose_src_id_is_taken_gets_smallest_free(void **state)
{
    struct cats_catalog *dst = *state;
    struct cats_catalog src;

    add_service(dst, "keep", "10.0.0.1", IPPROTO_TCP, 80);     /* id 1 */

    cats_catalog_init(&src);
    add_service(&src, "new", "10.0.0.2", IPPROTO_TCP, 80);     /* id 1 */
    add_service(&src, "keep", "10.0.0.1", IPPROTO_TCP, 80);    /* id 2 */

    cats_catalog_sync(dst, &src);
    assert_int_equal(cats_catalog_find(dst, "keep")->id, 1);
    assert_int_equal(cats_catalog_find(dst, "new")->id, 2);

    cats_catalog_destroy(&src);
}

static void
test_sync_service_with_changed_vip_is_replaced(void **state)
{
    struct cats_catalog *dst = *state;
    struct cats_catalog src;
    struct cats_service *s;

    s = add_service(dst, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(dst, s, "10.0.1.1", 80, 1, NULL);

    cats_catalog_init(&src);
    s = add_service(&src, "web", "10.0.0.1", IPPROTO_TCP, 8080);
    add_instance(&src, s, "10.0.1.2", 80, 1, NULL);

    cats_catalog_sync(dst, &src);
    s = cats_catalog_find(dst, "web");
    assert_non_null(s);
    assert_int_equal(s->port, 8080);
    assert_null(cats_catalog_find_vip(dst, ip("10.0.0.1"), IPPROTO_TCP, 80));
    assert_ptr_equal(cats_catalog_find_vip(dst, ip("10.0.0.1"), IPPROTO_TCP,
                                           8080), s);
    assert_catalogs_equal(dst, &src);

    cats_catalog_destroy(&src);
}

static void
test_sync_instance_changes_bump_only_their_service(void **state)
{
    struct eth_addr mac = ETH_ADDR_C(02, 00, 00, 00, 00, 02);
    struct cats_catalog *dst = *state;
    struct cats_service *web, *dns, *empty;
    uint64_t dns_seqno, empty_seqno, seqno;
    struct cats_catalog src;

    build_example(dst);
    cats_catalog_init(&src);
    build_example(&src);
    web = cats_catalog_find(dst, "web");
    dns = cats_catalog_find(dst, "dns");
    empty = cats_catalog_find(dst, "empty");
    dns_seqno = dns->change_seqno;
    empty_seqno = empty->change_seqno;

    /* A weight. */
    struct cats_service *sweb = cats_catalog_find(&src, "web");
    cats_instance_set_weight(&src, cats_instance_find(sweb, ip("10.0.1.1"),
                                                      8080), 3);
    seqno = dst->seqno;
    cats_catalog_sync(dst, &src);
    assert_true(dst->seqno > seqno);
    assert_int_equal(web->change_seqno, dst->seqno);
    assert_int_equal(dns->change_seqno, dns_seqno);
    assert_int_equal(empty->change_seqno, empty_seqno);
    assert_int_equal(cats_instance_find(web, ip("10.0.1.1"), 8080)->weight,
                     3);

    /* A MAC, added and then removed. */
    cats_instance_remove(&src, cats_instance_find(sweb, ip("10.0.1.1"),
                                                  8080));
    add_instance(&src, sweb, "10.0.1.1", 8080, 3, &mac);
    seqno = dst->seqno;
    cats_catalog_sync(dst, &src);
    assert_true(dst->seqno > seqno);
    assert_true(cats_instance_find(web, ip("10.0.1.1"), 8080)->has_mac);
    assert_catalogs_equal(dst, &src);

    cats_instance_remove(&src, cats_instance_find(sweb, ip("10.0.1.1"),
                                                  8080));
    add_instance(&src, sweb, "10.0.1.1", 8080, 3, NULL);
    seqno = dst->seqno;
    cats_catalog_sync(dst, &src);
    assert_true(dst->seqno > seqno);
    assert_false(cats_instance_find(web, ip("10.0.1.1"), 8080)->has_mac);
    assert_catalogs_equal(dst, &src);

    /* An instance added to one service, removed from another. */
    add_instance(&src, cats_catalog_find(&src, "empty"), "10.0.3.1", 443, 9,
                 NULL);
    cats_instance_remove(&src, cats_instance_find(cats_catalog_find(&src,
                                                                    "dns"),
                                                  ip("10.0.2.1"), 53));
    uint64_t web_seqno = web->change_seqno;
    cats_catalog_sync(dst, &src);
    assert_int_equal(web->change_seqno, web_seqno);
    assert_true(dns->change_seqno > dns_seqno);
    assert_true(empty->change_seqno > empty_seqno);
    assert_catalogs_equal(dst, &src);

    /* 'dst' objects survived all of it. */
    assert_ptr_equal(cats_catalog_find(dst, "web"), web);
    assert_ptr_equal(cats_catalog_find(dst, "dns"), dns);
    assert_ptr_equal(cats_catalog_find(dst, "empty"), empty);

    cats_catalog_destroy(&src);
}

static void
test_sync_from_empty_removes_everything(void **state)
{
    struct cats_catalog *dst = *state;
    struct cats_catalog src;
    uint64_t seqno;

    build_example(dst);
    cats_catalog_init(&src);
    seqno = dst->seqno;
    cats_catalog_sync(dst, &src);
    assert_int_equal(cats_catalog_count(dst), 0);
    assert_true(dst->seqno > seqno);
    cats_catalog_destroy(&src);
}

/* The weight in use and the configured weight: the load rule sets the
 * first only; an operator's weight sets both; a reload that leaves the
 * configured weight alone leaves the load-driven one alone too. */
static void
test_effective_weight_is_separate_from_configured(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_catalog src;
    struct cats_instance *inst;
    struct cats_service *s, *ss;
    uint64_t seqno;

    s = add_service(cat, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(cat, s, "10.0.0.11", 80, 100, NULL);
    inst = cats_instance_find(s, ip("10.0.0.11"), 80);
    assert_int_equal(inst->weight, 100);
    assert_int_equal(inst->base_weight, 100);

    seqno = cat->seqno;
    cats_instance_set_effective_weight(cat, inst, 25);
    assert_int_equal(inst->weight, 25);
    assert_int_equal(inst->base_weight, 100);
    assert_true(cat->seqno > seqno);

    /* Same configuration again: nothing changes, the 25 stays. */
    cats_catalog_init(&src);
    ss = add_service(&src, "web", "10.0.0.1", IPPROTO_TCP, 80);
    add_instance(&src, ss, "10.0.0.11", 80, 100, NULL);
    seqno = cat->seqno;
    cats_catalog_sync(cat, &src);
    assert_int_equal(cat->seqno, seqno);
    assert_int_equal(inst->weight, 25);

    /* A new configured weight replaces both. */
    cats_instance_set_weight(&src, cats_instance_find(ss, ip("10.0.0.11"),
                                                      80), 40);
    cats_catalog_sync(cat, &src);
    assert_int_equal(inst->weight, 40);
    assert_int_equal(inst->base_weight, 40);
    assert_true(cat->seqno > seqno);

    /* And so does an operator's set-weight. */
    cats_instance_set_effective_weight(cat, inst, 7);
    cats_instance_set_weight(cat, inst, 60);
    assert_int_equal(inst->weight, 60);
    assert_int_equal(inst->base_weight, 60);
    cats_catalog_destroy(&src);
}

/* Sites and paths. */

static struct cats_site *
add_site(struct cats_catalog *cat, const char *name, uint64_t dpid)
{
    struct cats_site *site = NULL;
    char *error = NULL;

    if (cats_site_add(cat, name, dpid, &site, &error)) {
        fail_msg("adding site %s: %s", name, error);
    }
    return site;
}

static struct cats_path *
add_path(struct cats_catalog *cat, const char *name,
         const struct cats_site *a, uint16_t port_a,
         const struct cats_site *b, uint16_t port_b)
{
    const char *links[] = { name };
    struct cats_path *p = NULL;
    char *error = NULL;

    if (cats_path_add(cat, name, a, u16_to_ofp(port_a), b, u16_to_ofp(port_b),
                      links, 1, 0, &p, &error)) {
        fail_msg("adding path %s: %s", name, error);
    }
    return p;
}

/* Adding a site or a path bumps every service (their flows change) and
 * the membership and paths seqnos; refusals change nothing. */
static void
test_site_and_path_add_bump_every_service(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s = add_service(cat, "web", "10.0.0.1",
                                         IPPROTO_TCP, 80);
    struct cats_site *a, *b;
    uint64_t seqno;
    char *error;
    const char *links[] = { "l" };
    int retval;

    seqno = cat->seqno;
    a = add_site(cat, "A", 1);
    assert_true(s->change_seqno > seqno);
    assert_int_equal(cat->paths_seqno, cat->seqno);
    assert_int_equal(cat->membership_seqno, cat->seqno);
    b = add_site(cat, "B", 2);
    assert_int_equal(b->id, 2);
    assert_ptr_equal(cats_site_find_id(cat, 2), b);
    assert_null(cats_site_find_dpid(cat, 3));

    seqno = cat->seqno;
    retval = cats_site_add(cat, "C", 1, NULL, &error);
    check_rejected(cat, seqno, retval, EEXIST, error, "field 'dpid'");
    retval = cats_site_add(cat, "", 3, NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "field 'name'");
    retval = cats_path_add(cat, "p", a, u16_to_ofp(1), a, u16_to_ofp(2),
                           links, 1, 0, NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "both ends at site A");
    retval = cats_path_add(cat, "p", a, u16_to_ofp(1), b, u16_to_ofp(2),
                           links, 0, 0, NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "field 'link'");
    retval = cats_path_add(cat, "p", a, OFPP_MAX, b, u16_to_ofp(2), links, 1,
                           0, NULL, &error);
    check_rejected(cat, seqno, retval, EINVAL, error, "field 'end1'");

    seqno = s->change_seqno;
    add_path(cat, "p1", a, 1, b, 2);
    assert_true(s->change_seqno > seqno);
    assert_int_equal(cat->paths_seqno, cat->seqno);
}

/* Paths between sites, by site; ends; the carrier: another path between
 * the same sites or none, and setting it bumps no service. */
static void
test_paths_between_sites_and_carriers(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s = add_service(cat, "web", "10.0.0.1",
                                         IPPROTO_TCP, 80);
    struct cats_site *a = add_site(cat, "A", 1);
    struct cats_site *b = add_site(cat, "B", 2);
    struct cats_site *c = add_site(cat, "C", 3);
    struct cats_path *p1 = add_path(cat, "p1", a, 1, b, 1);
    struct cats_path *p2 = add_path(cat, "p2", b, 2, a, 2);
    struct cats_path *p3 = add_path(cat, "p3", a, 3, c, 1);
    struct cats_path **paths;
    uint64_t seqno, change;
    size_t n;

    paths = cats_site_paths_to(cat, a, b, &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(paths[0], p1);
    assert_ptr_equal(paths[1], p2);
    free(paths);
    paths = cats_site_paths_to(cat, a, NULL, &n);
    assert_int_equal(n, 3);
    free(paths);
    paths = cats_site_paths_to(cat, c, b, &n);
    assert_int_equal(n, 0);
    free(paths);
    paths = cats_catalog_sorted_paths(cat, &n);
    assert_int_equal(n, 3);
    assert_ptr_equal(paths[2], p3);
    free(paths);
    assert_int_equal(cats_path_end(p2, a), 1);
    assert_int_equal(cats_path_end(p3, b), -1);
    assert_ptr_equal(cats_path_find_id(cat, 2), p2);

    seqno = cat->seqno;
    change = s->change_seqno;
    assert_int_equal(cats_path_set_carrier(cat, p1, p3->id), EINVAL);
    assert_int_equal(cats_path_set_carrier(cat, p1, 77), EINVAL);
    assert_int_equal(cat->seqno, seqno);
    assert_int_equal(cats_path_set_carrier(cat, p1, p2->id), 0);
    assert_ptr_equal(cats_path_carrier(cat, p1), p2);
    assert_true(cat->seqno > seqno);
    assert_int_equal(cat->paths_seqno, cat->seqno);
    assert_int_equal(s->change_seqno, change);
    seqno = cat->seqno;
    assert_int_equal(cats_path_set_carrier(cat, p1, p2->id), 0);
    assert_int_equal(cat->seqno, seqno);
    assert_int_equal(cats_path_set_carrier(cat, p1, p1->id), 0);
    assert_int_equal(p1->carrier, 0);
    assert_ptr_equal(cats_path_carrier(cat, p1), p1);
}

/* Pair weights: each remote pair gets the instance's weight until one is
 * set; path 0 is the local pair (the weight in use); the configured weight
 * drops them. */
static void
test_pair_weights(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s = add_service(cat, "web", "10.0.0.1",
                                         IPPROTO_TCP, 80);
    struct cats_instance *inst;
    uint64_t seqno;

    add_instance(cat, s, "10.0.1.1", 80, 100, NULL);
    inst = cats_instance_find(s, ip("10.0.1.1"), 80);
    assert_int_equal(cats_instance_pair_weight(inst, 0), 100);
    assert_int_equal(cats_instance_pair_weight(inst, 7), 100);

    seqno = s->change_seqno;
    cats_instance_set_pair_weight(cat, inst, 7, 30);
    assert_true(s->change_seqno > seqno);
    assert_int_equal(cats_instance_pair_weight(inst, 7), 30);
    assert_int_equal(cats_instance_pair_weight(inst, 8), 100);
    assert_int_equal(cats_instance_pair_weight(inst, 0), 100);
    seqno = cat->seqno;
    cats_instance_set_pair_weight(cat, inst, 7, 30);
    assert_int_equal(cat->seqno, seqno);

    cats_instance_set_pair_weight(cat, inst, 0, 60);
    assert_int_equal(inst->weight, 60);
    assert_int_equal(inst->base_weight, 100);
    assert_int_equal(cats_instance_pair_weight(inst, 7), 30);

    cats_instance_set_weight(cat, inst, 0);
    assert_int_equal(cats_instance_pair_weight(inst, 7), 0);
    assert_null(inst->pair_weight);
}

/* An instance's site: NULL means the first site; moving it drops its
 * pair weights; removing its site (by a sync) moves it to the first. */
static void
test_instance_site(void **state)
{
    struct cats_catalog *cat = *state;
    struct cats_service *s = add_service(cat, "web", "10.0.0.1",
                                         IPPROTO_TCP, 80);
    struct cats_instance *inst;
    struct cats_site *a, *b;
    struct cats_catalog empty;

    add_instance(cat, s, "10.0.1.1", 80, 100, NULL);
    inst = cats_instance_find(s, ip("10.0.1.1"), 80);
    assert_null(cats_instance_site(cat, inst));
    a = add_site(cat, "A", 1);
    b = add_site(cat, "B", 2);
    assert_ptr_equal(cats_instance_site(cat, inst), a);
    cats_instance_set_pair_weight(cat, inst, 1, 5);
    cats_instance_set_site(cat, inst, b);
    assert_ptr_equal(cats_instance_site(cat, inst), b);
    assert_int_equal(cats_instance_pair_weight(inst, 1), 100);

    cats_catalog_init(&empty);
    cats_catalog_sync(cat, &empty);
    assert_int_equal(hmap_count(&cat->sites), 0);
    cats_catalog_destroy(&empty);
}

#define T(NAME) \
    cmocka_unit_test_setup_teardown(NAME, setup_catalog, teardown_catalog)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_service_add_is_found_by_name_vip_and_id),
        T(test_service_add_duplicate_name_is_eexist_and_changes_nothing),
        T(test_service_add_duplicate_vip_is_eexist_and_changes_nothing),
        T(test_service_add_rejects_bad_name_proto_port_with_einval),
        T(test_service_ids_are_smallest_free_and_reused),
        T(test_service_remove_frees_name_vip_and_id),
        T(test_service_remove_null_changes_nothing),
        T(test_catalog_clear_removes_every_service),
        cmocka_unit_test(test_catalog_destroy_null_is_noop),
        cmocka_unit_test(test_proto_name),
        T(test_instance_add_find_remove),
        T(test_instance_add_duplicate_is_eexist_and_changes_nothing),
        T(test_instance_add_rejects_port_0_zero_address_and_vip),
        T(test_instance_limit_gives_enospc_and_changes_nothing),
        T(test_instance_set_weight_bumps_seqno_only_on_change),
        T(test_effective_weight_is_separate_from_configured),
        T(test_change_seqno_bumps_only_for_changed_service),
        T(test_sorted_instances_are_by_address_then_port),
        T(test_sorted_services_are_by_id),
        T(test_by_change_lists_services_oldest_change_first),
        T(test_removal_seqno_records_service_removals_only),
        T(test_membership_seqno_ignores_weight_changes),
        T(test_sync_into_empty_copies_services_with_their_ids),
        T(test_sync_of_equal_catalogs_changes_nothing),
        T(test_sync_keeps_ids_of_surviving_services_and_removes_vanished),
        T(test_sync_new_service_whose_src_id_is_taken_gets_smallest_free),
        T(test_sync_service_with_changed_vip_is_replaced),
        T(test_sync_instance_changes_bump_only_their_service),
        T(test_sync_from_empty_removes_everything),
        T(test_site_and_path_add_bump_every_service),
        T(test_paths_between_sites_and_carriers),
        T(test_pair_weights),
        T(test_instance_site),
    };

    return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}

/*
 * Unit tests for steer (controller/steer.h) over a catalog with sites and
 * paths: selector services per client site, pair weights, storms and
 * silent paths rerouted over the other path and restored, picks of pairs.
 * Time is the callers' ('now' in ms): no clock.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cats/catalog.h"
#include "cats/config.h"
#include "cats/metrics.h"
#include "cats/report.h"
#include "cats/selector.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "steer.h"
#include "util.h"
#include "test-util.h"

#define LEASE_MS 1000

static const char catalog_text[] =
    "site A dpid=0a01\n"
    "site B dpid=0b01\n"
    "path p1 A:3 B:3 link=p1-a:p1-b,p1-b:p1-a delay_ms=2\n"
    "path p2 A:4 B:4 link=p2-a:p2-b,p2-b:p2-a delay_ms=5\n"
    "service web vip=10.0.0.100 port=80 decide=connection\n"
    "instance web 10.0.0.11:80 mac=00:00:00:00:00:11\n"
    "instance web 10.0.0.21:80 site=B mac=00:00:00:00:00:21\n";

struct fixture {
    struct cats_catalog cat;
    struct cats_metrics_store store;
    struct cats_path *p1, *p2;
    struct cats_instance *a1, *b1;
    uint64_t seq;
};

static int
setup(void **state)
{
    struct fixture *fx = xzalloc(sizeof *fx);
    struct cats_metrics_config cfg;
    struct cats_service *web;
    char *error;

    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
    cats_catalog_init(&fx->cat);
    error = cats_config_parse_string(&fx->cat, catalog_text, "test");
    if (error) {
        fail_msg("%s", error);
    }
    cats_metrics_config_init(&cfg);
    cfg.lease_ms = LEASE_MS;
    cats_metrics_init(&fx->store, &cfg);
    fx->p1 = cats_path_find(&fx->cat, "p1");
    fx->p2 = cats_path_find(&fx->cat, "p2");
    web = cats_catalog_find(&fx->cat, "web");
    fx->a1 = cats_instance_find(web, ip("10.0.0.11"), 80);
    fx->b1 = cats_instance_find(web, ip("10.0.0.21"), 80);
    assert_non_null(fx->p1);
    assert_non_null(fx->p2);
    assert_non_null(fx->a1);
    assert_non_null(fx->b1);
    steer_init();
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    steer_destroy();
    steer_set_path_policy(STEER_PATH_JOINT);
    cats_metrics_destroy(&fx->store);
    cats_catalog_destroy(&fx->cat);
    free(fx);
    return 0;
}

/* An agent for both instances: the service selects. */
static void
register_agent(struct fixture *fx, long long now)
{
    struct cats_report_spec specs[2];
    struct cats_report_registration reg;
    const struct cats_instance *insts[] = { fx->a1, fx->b1 };
    char *error = NULL;

    memset(&reg, 0, sizeof reg);
    memset(specs, 0, sizeof specs);
    ovs_strlcpy(reg.node_id, "node1", sizeof reg.node_id);
    ovs_strlcpy(reg.agent, "test", sizeof reg.agent);
    reg.n_instances = 2;
    reg.instances = specs;
    for (size_t i = 0; i < 2; i++) {
        ovs_strlcpy(specs[i].key.service, "web",
                    sizeof specs[i].key.service);
        specs[i].key.ip = insts[i]->ip;
        specs[i].key.port = 80;
        specs[i].capacity = 4;
    }
    assert_int_equal(cats_metrics_register(&fx->store, &reg, 7, now,
                                           &error), 0);
    assert_null(error);
}

/* A telemetry report at 'now' of both links of both paths: path 'paused'
 * (NULL: none) has one of its links paused for 'paused_ms'.  Links of
 * 'silent' are left out. */
static void
telemetry(struct fixture *fx, long long now, const struct cats_path *paused,
          unsigned int paused_ms, const struct cats_path *silent)
{
    struct cats_report_link links[4];
    struct cats_report_telemetry t;
    const struct cats_path *ps[] = { fx->p1, fx->p2 };
    size_t n = 0;

    memset(&t, 0, sizeof t);
    memset(links, 0, sizeof links);
    ovs_strlcpy(t.source_id, "gw", sizeof t.source_id);
    t.seq = ++fx->seq;
    t.counters_epoch = 1;
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < ps[i]->n_links; j++) {
            struct cats_report_link *l;

            if (ps[i] == silent) {
                continue;
            }
            l = &links[n++];
            ovs_strlcpy(l->id, ps[i]->links[j], sizeof l->id);
            l->kind = CATS_LINK_KIND_PATH;
            l->tx_packets = fx->seq * 100;
            l->has_rtt = true;
            l->rtt_us = ps[i]->delay_ms * 2000.0;
            l->n_pfc = 1;
            l->pfc[0].priority = 3;
            if (ps[i] == paused && j == 1) {
                l->pfc[0].paused_for_us = paused_ms * 1000ULL;
                l->pfc[0].rx_pause_us = fx->seq * 100000;
            }
        }
    }
    t.n_links = n;
    t.links = links;
    steer_telemetry(&t, now);
}

static uint32_t
carrier(const struct cats_path *p)
{
    return p->carrier ? p->carrier : p->id;
}

/* A pause on one link of p2 makes it a storm: in the steer_run() after
 * the report (no rate limit), p2 is carried by p1 and its pairs are out;
 * clean for the restore time, it carries its own again. */
static void
test_storm_reroutes_then_restores(void **state)
{
    struct fixture *fx = *state;
    long long now = 0;

    register_agent(fx, now);
    steer_run(&fx->cat, &fx->store, now);
    telemetry(fx, now = 100, NULL, 0, NULL);
    steer_run(&fx->cat, &fx->store, now);
    assert_int_equal(carrier(fx->p1), fx->p1->id);
    assert_int_equal(carrier(fx->p2), fx->p2->id);

    telemetry(fx, now = 110, fx->p2, 300, NULL);
    steer_run(&fx->cat, &fx->store, now);
    assert_int_equal(carrier(fx->p2), fx->p1->id);
    assert_int_equal(carrier(fx->p1), fx->p1->id);
    /* Clients at A: b1 over p2 is out at once, over p1 in. */
    assert_int_equal(cats_instance_pair_weight(fx->b1, fx->p2->id), 0);
    assert_true(cats_instance_pair_weight(fx->b1, fx->p1->id) > 0);

    /* Clean from 200 on: back after the restore time (1 s). */
    for (now = 200; now <= 1100; now += 100) {
        telemetry(fx, now, NULL, 0, NULL);
        steer_run(&fx->cat, &fx->store, now);
        assert_int_equal(carrier(fx->p2), fx->p1->id);
    }
    telemetry(fx, now = 1200, NULL, 0, NULL);
    steer_run(&fx->cat, &fx->store, now);
    assert_int_equal(carrier(fx->p2), fx->p2->id);
}

/* A path whose telemetry stops for the lease is taken for a storm; its
 * gateway back, it is restored as after a storm. */
static void
test_silent_path_is_rerouted(void **state)
{
    struct fixture *fx = *state;
    long long now = 0;

    steer_run(&fx->cat, &fx->store, now);
    telemetry(fx, now = 100, NULL, 0, NULL);
    steer_run(&fx->cat, &fx->store, now);
    for (now = 200; now < 100 + LEASE_MS; now += 100) {
        telemetry(fx, now, NULL, 0, fx->p1);
        steer_run(&fx->cat, &fx->store, now);
        assert_int_equal(carrier(fx->p1), fx->p1->id);
    }
    assert_true(steer_next_wake() <= 100 + LEASE_MS);
    now = 100 + LEASE_MS;
    steer_run(&fx->cat, &fx->store, now);
    assert_int_equal(carrier(fx->p1), fx->p2->id);

    for (now += 100; carrier(fx->p1) != fx->p1->id; now += 100) {
        assert_true(now < 100 + LEASE_MS + 2000);
        telemetry(fx, now, NULL, 0, NULL);
        steer_run(&fx->cat, &fx->store, now);
    }
}

/* Both paths down: no carrier to move to, each keeps its own. */
static void
test_no_healthy_path_keeps_carrier(void **state)
{
    struct fixture *fx = *state;

    steer_run(&fx->cat, &fx->store, 0);
    telemetry(fx, 100, fx->p2, 300, NULL);
    steer_run(&fx->cat, &fx->store, 100);
    assert_int_equal(carrier(fx->p2), fx->p1->id);
    telemetry(fx, 200, fx->p1, 300, NULL);
    steer_run(&fx->cat, &fx->store, 200);
    /* p1 storms too (its link paused), p2 still: nowhere to go. */
    assert_int_equal(carrier(fx->p1), fx->p1->id);
}

/* Picks at site A return the pair: the remote instance with its path. */
static void
test_pick_returns_pair_of_client_site(void **state)
{
    struct fixture *fx = *state;
    struct cats_service *web = cats_catalog_find(&fx->cat, "web");
    bool remote = false, local = false;

    register_agent(fx, 0);
    steer_run(&fx->cat, &fx->store, 0);
    for (int i = 0; i < 50; i++) {
        uint32_t path_id = 0;
        uint16_t port;
        ovs_be32 addr;

        assert_true(steer_pick(web->id, cats_site_find(&fx->cat, "A"), i,
                               &addr, &port, &path_id));
        if (addr == fx->b1->ip) {
            assert_true(path_id == fx->p1->id || path_id == fx->p2->id);
            remote = true;
        } else {
            assert_true(addr == fx->a1->ip);
            assert_int_equal(path_id, 0);
            local = true;
        }
        steer_ended(web->id, cats_site_find(&fx->cat, "A"), addr, port, i);
    }
    assert_true(remote || local);
    /* No site on a catalog with sites: no view, the group decides. */
    uint32_t path_id = 0;
    uint16_t port;
    ovs_be32 addr;
    assert_false(steer_pick(web->id, NULL, 60, &addr, &port, &path_id));
}

/* A load report of both instances' in-flight (capacity 4), applied. */
static void
report_in_flight(struct fixture *fx, long long now, double a1, double b1)
{
    struct cats_report_instance insts[2];
    const struct cats_instance *cis[] = { fx->a1, fx->b1 };
    double in_flight[] = { a1, b1 };
    struct cats_report_load load;
    char *error = NULL;

    memset(&load, 0, sizeof load);
    memset(insts, 0, sizeof insts);
    ovs_strlcpy(load.node_id, "node1", sizeof load.node_id);
    load.session = 7;
    load.seq = ++fx->seq;
    load.window_ms = 100;
    load.n_instances = 2;
    load.instances = insts;
    for (size_t i = 0; i < 2; i++) {
        ovs_strlcpy(insts[i].key.service, "web",
                    sizeof insts[i].key.service);
        insts[i].key.ip = cis[i]->ip;
        insts[i].key.port = 80;
        insts[i].health = CATS_HEALTH_SERVING;
        insts[i].metrics.present = 1u << CATS_METRIC_IN_FLIGHT;
        insts[i].metrics.value[CATS_METRIC_IN_FLIGHT] = in_flight[i];
    }
    assert_int_equal(cats_metrics_report(&fx->store, &load, now, NULL,
                                         &error), 0);
    assert_null(error);
    for (size_t i = 0; i < 2; i++) {
        steer_instance_report(cats_metrics_find(&fx->store, "web",
                                                cis[i]->ip, 80), now);
    }
}

/* Agents, clean telemetry and a reweight at 'now', under 'policy'. */
static void
start_policy(struct fixture *fx, enum steer_path_policy policy,
             long long now)
{
    steer_set_path_policy(policy);
    register_agent(fx, now);
    steer_run(&fx->cat, &fx->store, now);
    telemetry(fx, now + 100, NULL, 0, NULL);
    report_in_flight(fx, now + 100, 0, 0);
    steer_run(&fx->cat, &fx->store, now + 1000);
}

static void
test_path_policy_names(void **state OVS_UNUSED)
{
    static const char *const names[] = {
        "joint", "ecmp", "nearest", "lowest-delay",
    };
    enum steer_path_policy p;

    assert_int_equal(steer_get_path_policy(), STEER_PATH_JOINT);
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        assert_true(steer_path_policy_from_string(names[i], &p));
        assert_int_equal(p, i);
        assert_string_equal(steer_path_policy_name(p), names[i]);
    }
    assert_false(steer_path_policy_from_string("lowest_delay", &p));
    assert_false(steer_path_policy_from_string("", &p));
}

/* ecmp: the remote instance's weight split equally over p1 and p2, also
 * while p1 is congested; picks decline (the group decides). */
static void
test_path_policy_ecmp(void **state)
{
    struct fixture *fx = *state;
    struct cats_service *web = cats_catalog_find(&fx->cat, "web");
    uint32_t path_id = 0;
    uint16_t port;
    ovs_be32 addr;

    start_policy(fx, STEER_PATH_ECMP, 0);
    uint16_t w1 = cats_instance_pair_weight(fx->b1, fx->p1->id);
    uint16_t w2 = cats_instance_pair_weight(fx->b1, fx->p2->id);
    assert_true(w1 > 0);
    assert_true(w1 - w2 <= 1 && w2 - w1 <= 1);
    telemetry(fx, 1100, fx->p1, 50, NULL);
    steer_run(&fx->cat, &fx->store, 2000);
    w1 = cats_instance_pair_weight(fx->b1, fx->p1->id);
    w2 = cats_instance_pair_weight(fx->b1, fx->p2->id);
    assert_true(w1 - w2 <= 1 && w2 - w1 <= 1);
    assert_false(steer_pick(web->id, cats_site_find(&fx->cat, "A"), 2000,
                            &addr, &port, &path_id));
}

/* lowest-delay: all of the remote instance's weight on p1 (2 ms), none
 * on p2, even with p1 in a storm (its carrier moves p1's connections). */
static void
test_path_policy_lowest_delay(void **state)
{
    struct fixture *fx = *state;

    start_policy(fx, STEER_PATH_LOWEST_DELAY, 0);
    assert_true(cats_instance_pair_weight(fx->b1, fx->p1->id) > 0);
    assert_int_equal(cats_instance_pair_weight(fx->b1, fx->p2->id), 0);
    telemetry(fx, 1100, fx->p1, 300, NULL);
    steer_run(&fx->cat, &fx->store, 1100);
    assert_int_equal(carrier(fx->p1), fx->p2->id);
    assert_true(cats_instance_pair_weight(fx->b1, fx->p1->id) > 0);
    assert_int_equal(cats_instance_pair_weight(fx->b1, fx->p2->id), 0);
}

/* nearest: the local instance alone while it has room; at capacity (4
 * in flight), the remote one over p1 only; back when it has room. */
static void
test_path_policy_nearest(void **state)
{
    struct fixture *fx = *state;

    start_policy(fx, STEER_PATH_NEAREST, 0);
    assert_true(fx->a1->weight > 0);
    assert_int_equal(cats_instance_pair_weight(fx->b1, fx->p1->id), 0);
    assert_int_equal(cats_instance_pair_weight(fx->b1, fx->p2->id), 0);

    telemetry(fx, 1100, NULL, 0, NULL);
    report_in_flight(fx, 1100, 4, 0);
    steer_run(&fx->cat, &fx->store, 2000);
    assert_int_equal(fx->a1->weight, 0);
    assert_true(cats_instance_pair_weight(fx->b1, fx->p1->id) > 0);
    assert_int_equal(cats_instance_pair_weight(fx->b1, fx->p2->id), 0);

    telemetry(fx, 2100, NULL, 0, NULL);
    report_in_flight(fx, 2100, 3, 0);
    steer_run(&fx->cat, &fx->store, 3000);
    assert_true(fx->a1->weight > 0);
    assert_int_equal(cats_instance_pair_weight(fx->b1, fx->p1->id), 0);
}

/* joint (the default): the selector's own pair weights, both paths in
 * use while clean. */
static void
test_path_policy_joint(void **state)
{
    struct fixture *fx = *state;

    start_policy(fx, STEER_PATH_JOINT, 0);
    assert_true(cats_instance_pair_weight(fx->b1, fx->p1->id)
                + cats_instance_pair_weight(fx->b1, fx->p2->id) > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_storm_reroutes_then_restores,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_path_is_rerouted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_healthy_path_keeps_carrier,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pick_returns_pair_of_client_site,
                                        setup, teardown),
        cmocka_unit_test(test_path_policy_names),
        cmocka_unit_test_setup_teardown(test_path_policy_ecmp,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_policy_lowest_delay,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_policy_nearest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_policy_joint,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for cats-agent's telemetry report (controller/agent/
 * telemetry.h): host counters mapped onto link entries ("host-tcp",
 * "rdma:DEV:PORT"), one counters_epoch over links and host entries that
 * moves on when any counter goes backwards, the host readers on files
 * made under /tmp, and the encoding, checked by the agent API's own
 * decoder.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cats/nlstats.h"
#include "cats/report.h"
#include "agent/telemetry.h"
#include "cats/client.h"
#include "sset.h"
#include "util.h"
#include "test-util.h"

#define EPOCH0 1000

/* A /proc/net/netstat text with the two TcpExt counters (and a few
 * others around them, as the kernel prints them). */
static char *
netstat_text(uint64_t delivered, uint64_t delivered_ce)
{
    return xasprintf("TcpExt: SyncookiesSent TCPDelivered TCPAckCompressed "
                     "TCPDeliveredCE TCPMigrateReqSuccess\n"
                     "TcpExt: 0 %"PRIu64" 3 %"PRIu64" 0\n"
                     "IpExt: InNoRoutes InCEPkts\n"
                     "IpExt: 0 4\n", delivered, delivered_ce);
}

static void
host_from_netstat(struct agent_tel_host *h, uint64_t delivered,
                  uint64_t delivered_ce)
{
    char *text = netstat_text(delivered, delivered_ce);
    char *error = NULL;

    memset(h, 0, sizeof *h);
    assert_int_equal(cats_nl_parse_netstat(text, strlen(text), &h->netstat,
                                           &error), 0);
    assert_null(error);
    h->has_netstat = true;
    free(text);
}

static void
add_rdma(struct agent_tel_host *h, const char *dev, unsigned int port,
         uint64_t xmit_packets, uint64_t handled, uint64_t ignored)
{
    struct agent_tel_rdma *r = &h->rdma[h->n_rdma++];

    memset(r, 0, sizeof *r);
    ovs_strlcpy(r->hw.dev, dev, sizeof r->hw.dev);
    r->hw.port = port;
    r->hw.present = ((1u << CATS_RDMA_RP_CNP_HANDLED)
                     | (1u << CATS_RDMA_RP_CNP_IGNORED));
    r->hw.value[CATS_RDMA_RP_CNP_HANDLED] = handled;
    r->hw.value[CATS_RDMA_RP_CNP_IGNORED] = ignored;
    r->has_xmit_packets = true;
    r->xmit_packets = xmit_packets;
}

static const struct cats_report_link *
entry(const struct cats_report_telemetry *t, const char *id)
{
    for (size_t i = 0; i < t->n_links; i++) {
        if (!strcmp(t->links[i].id, id)) {
            return &t->links[i];
        }
    }
    return NULL;
}

/* Test fixture: the libcatsnma state (no link known: no netlink here) and
 * the report state. */
struct fixture {
    struct cats_nma nma;
    struct agent_tel tel;
    struct sset ifaces;
    struct agent_tel_host host;
    struct cats_report_telemetry t;
};

static int
setup(void **state)
{
    struct fixture *f = xzalloc(sizeof *f);

    cats_nma_init(&f->nma, EPOCH0);
    agent_tel_init(&f->tel);
    sset_init(&f->ifaces);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    cats_report_telemetry_destroy(&f->t);
    cats_nma_destroy(&f->nma);
    agent_tel_destroy(&f->tel);
    sset_destroy(&f->ifaces);
    free(f);
    return 0;
}

/* Builds a report from f->host (or none) into f->t. */
static void
build(struct fixture *f, bool with_host)
{
    char *error = NULL;

    cats_report_telemetry_destroy(&f->t);
    assert_int_equal(agent_tel_build(&f->tel, &f->nma, "node-1",
                                     &f->ifaces,
                                     with_host ? &f->host : NULL, &f->t,
                                     &error), 0);
    assert_null(error);
}

/* "host-tcp": tx_packets is TCPDelivered and ecn_marked_packets is
 * TCPDeliveredCE, so that the receiver's delta ratio is the fraction of
 * delivered packets that were acknowledged with ECE. */
static void
test_host_tcp_entry_from_netstat_deltas(void **state)
{
    struct fixture *f = *state;
    const struct cats_report_link *l, *first;
    struct cats_report_link prev;

    host_from_netstat(&f->host, 1000, 10);
    build(f, true);
    assert_string_equal(f->t.source_id, "node-1");
    assert_int_equal(f->t.n_links, 1);
    first = entry(&f->t, AGENT_TEL_HOST_TCP);
    assert_non_null(first);
    assert_int_equal(first->kind, CATS_LINK_KIND_LINK);
    assert_int_equal(first->tx_packets, 1000);
    assert_int_equal(first->ecn_marked_packets, 10);
    /* Not measured: zero, never made up. */
    assert_int_equal(first->tx_bytes, 0);
    assert_int_equal(first->drops, 0);
    assert_false(first->has_queue_depth);
    assert_false(first->has_rtt);
    assert_int_equal(first->n_pfc, 0);
    uint64_t seq = f->t.seq;
    prev = *first;

    /* 500 more delivered, 50 of them with ECE: 10%. */
    host_from_netstat(&f->host, 1500, 60);
    build(f, true);
    l = entry(&f->t, AGENT_TEL_HOST_TCP);
    assert_non_null(l);
    assert_int_equal(f->t.counters_epoch, EPOCH0);
    assert_true(f->t.seq > seq);
    assert_int_equal(l->tx_packets - prev.tx_packets, 500);
    assert_int_equal(l->ecn_marked_packets - prev.ecn_marked_packets, 50);

    /* Nothing moved: same values, same epoch. */
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0);
    assert_int_equal(entry(&f->t, AGENT_TEL_HOST_TCP)->tx_packets, 1500);
    assert_int_equal(f->tel.n_host_resets, 0);
}

/* A kernel without TCPDelivered or TCPDeliveredCE (before 4.18), or an
 * unreadable netstat: no "host-tcp" entry rather than a zero one. */
static void
test_host_tcp_absent_without_both_counters(void **state)
{
    struct fixture *f = *state;
    const char *text = ("TcpExt: SyncookiesSent TCPDelivered\n"
                        "TcpExt: 0 77\n");
    char *error = NULL;

    memset(&f->host, 0, sizeof f->host);
    assert_int_equal(cats_nl_parse_netstat(text, strlen(text),
                                           &f->host.netstat, &error), 0);
    f->host.has_netstat = true;
    build(f, true);
    assert_int_equal(f->t.n_links, 0);

    host_from_netstat(&f->host, 5, 1);
    f->host.has_netstat = false;
    build(f, true);
    assert_int_equal(f->t.n_links, 0);

    /* Without --telemetry-host nothing of the host is reported. */
    host_from_netstat(&f->host, 5, 1);
    build(f, false);
    assert_int_equal(f->t.n_links, 0);
}

/* A host counter below what was last reported (a network namespace
 * re-created, a driver reloaded): the epoch moves on once, so that the
 * receiver never takes a huge negative delta; then it stays. */
static void
test_epoch_moves_on_host_counter_reset(void **state)
{
    struct fixture *f = *state;

    host_from_netstat(&f->host, 1000, 10);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0);

    host_from_netstat(&f->host, 20, 0);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0 + 1);
    assert_int_equal(f->tel.n_host_resets, 1);
    assert_int_equal(entry(&f->t, AGENT_TEL_HOST_TCP)->tx_packets, 20);

    host_from_netstat(&f->host, 30, 1);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0 + 1);

    /* Only the CE counter going back is a reset too. */
    host_from_netstat(&f->host, 40, 0);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0 + 2);
    assert_int_equal(f->tel.n_host_resets, 2);
}

/* A link reset and a host reset in the same report: one epoch change. */
static void
test_link_and_host_reset_share_one_epoch_change(void **state)
{
    struct fixture *f = *state;

    host_from_netstat(&f->host, 1000, 10);
    build(f, true);
    f->nma.reset = true;            /* As a link read that went back. */
    host_from_netstat(&f->host, 5, 0);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0 + 1);
    host_from_netstat(&f->host, 6, 0);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0 + 1);
}

/* One entry per RoCE port: "rdma:DEV:PORT" (':' since link ids have no
 * '/'), CNPs received (handled + ignored) as marks over the port's
 * transmitted packets.  A port that only sends CNPs says nothing about
 * its own packets: no entry. */
static void
test_rdma_entries(void **state)
{
    struct fixture *f = *state;
    const struct cats_report_link *l;

    host_from_netstat(&f->host, 1000, 10);
    add_rdma(&f->host, "mlx5_0", 1, 5000, 40, 2);
    add_rdma(&f->host, "mlx5_1", 2, 100, 0, 0);
    add_rdma(&f->host, "bad/dev", 1, 1, 1, 1);      /* Not a valid id. */
    f->host.rdma[f->host.n_rdma - 1].hw.present = 0;
    add_rdma(&f->host, "mlx5_2", 1, 1, 1, 1);
    f->host.rdma[f->host.n_rdma - 1].hw.present
        = 1u << CATS_RDMA_NP_CNP_SENT;
    f->host.rdma[f->host.n_rdma - 1].has_xmit_data = true;
    f->host.rdma[f->host.n_rdma - 1].xmit_data = 10;
    add_rdma(&f->host, "bad/dev", 3, 1, 1, 1);
    build(f, true);

    assert_int_equal(f->t.n_links, 3);
    l = entry(&f->t, "rdma:mlx5_0:1");
    assert_non_null(l);
    assert_int_equal(l->tx_packets, 5000);
    assert_int_equal(l->ecn_marked_packets, 42);
    assert_int_equal(l->tx_bytes, 0);       /* No port_xmit_data. */
    l = entry(&f->t, "rdma:mlx5_1:2");
    assert_non_null(l);
    assert_int_equal(l->ecn_marked_packets, 0);
    assert_null(entry(&f->t, "rdma:mlx5_2:1"));
    assert_null(entry(&f->t, "rdma:bad/dev:3"));
    assert_non_null(entry(&f->t, AGENT_TEL_HOST_TCP));

    /* A port that disappears, then comes back with smaller counters (the
     * driver was reloaded): the epoch moves on when it is back. */
    host_from_netstat(&f->host, 1100, 10);
    add_rdma(&f->host, "mlx5_1", 2, 200, 0, 0);
    build(f, true);
    assert_null(entry(&f->t, "rdma:mlx5_0:1"));
    assert_int_equal(f->t.counters_epoch, EPOCH0);
    host_from_netstat(&f->host, 1200, 10);
    add_rdma(&f->host, "mlx5_0", 1, 7, 1, 0);
    add_rdma(&f->host, "mlx5_1", 2, 300, 0, 0);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0 + 1);
    assert_int_equal(entry(&f->t, "rdma:mlx5_0:1")->tx_packets, 7);
}

/* Past AGENT_TEL_MAX_SENT ids remembered, the absent ones are forgotten,
 * and from then on an entry without a memory moves the epoch on. */
static void
test_forgotten_host_entries_move_the_epoch(void **state)
{
    struct fixture *f = *state;
    int round = 0;

    while (!f->tel.forgot) {
        memset(&f->host, 0, sizeof f->host);
        for (int i = 0; i < 64; i++) {
            char dev[32];

            snprintf(dev, sizeof dev, "d%d_%d", round, i);
            add_rdma(&f->host, dev, 1, 10, 1, 0);
        }
        build(f, true);
        assert_int_equal(f->t.counters_epoch, EPOCH0);
        assert_true(f->tel.n_sent <= AGENT_TEL_MAX_SENT);
        assert_true(++round < 10);
    }
    memset(&f->host, 0, sizeof f->host);
    add_rdma(&f->host, "new", 1, 10, 1, 0);
    build(f, true);
    assert_int_equal(f->t.counters_epoch, EPOCH0 + 1);
}

/* Files under a scratch directory, removed by the teardown. */
struct tree {
    char *root;
    struct sset dirs;               /* Directories made. */
};

static int
tree_setup(void **state)
{
    struct tree *t = xzalloc(sizeof *t);

    t->root = test_mkdtemp("cats-test-agent-tel");
    sset_init(&t->dirs);
    *state = t;
    return 0;
}

static int
tree_teardown(void **state)
{
    struct tree *t = *state;

    test_rmtree(t->root);
    free(t->root);
    sset_destroy(&t->dirs);
    free(t);
    return 0;
}

/* Creates ROOT/REL and every directory above it. */
static void
tree_mkdirs(struct tree *t, const char *rel)
{
    char *path = xasprintf("%s/%s", t->root, rel);

    for (char *p = path + strlen(t->root) + 1; ; p++) {
        if (*p == '/' || !*p) {
            char c = *p;

            *p = '\0';
            if (!sset_contains(&t->dirs, path)) {
                assert_int_equal(mkdir(path, 0700), 0);
                sset_add(&t->dirs, path);
            }
            *p = c;
            if (!c) {
                break;
            }
        }
    }
    free(path);
}

static char *
tree_write(struct tree *t, const char *rel, const char *text)
{
    return test_write_file(t->root, rel, text, strlen(text));
}

/* agent_tel_read_host() on a netstat file and an RDMA tree: hw_counters
 * and counters/ together, and errors that hide nothing else. */
static void
test_read_host_files(void **state)
{
    struct tree *t = *state;
    struct agent_tel_host *h = xzalloc(sizeof *h);
    char *text = netstat_text(123, 4);
    char *netstat = tree_write(t, "netstat", text);
    char *rdma = xasprintf("%s/ib", t->root);
    char *missing = xasprintf("%s/nothing", t->root);
    char *error = NULL;

    free(text);
    tree_mkdirs(t, "ib/mlx5_0/ports/1/hw_counters");
    tree_mkdirs(t, "ib/mlx5_0/ports/1/counters");
    free(tree_write(t, "ib/mlx5_0/ports/1/hw_counters/rp_cnp_handled",
                    "9\n"));
    free(tree_write(t, "ib/mlx5_0/ports/1/hw_counters/np_cnp_sent", "4\n"));
    free(tree_write(t, "ib/mlx5_0/ports/1/counters/port_xmit_packets",
                    "900\n"));
    free(tree_write(t, "ib/mlx5_0/ports/1/counters/port_xmit_data",
                    "2500\n"));

    assert_int_equal(agent_tel_read_host(netstat, rdma, h, &error), 0);
    assert_null(error);
    assert_true(h->has_netstat);
    assert_int_equal(h->netstat.value[CATS_NETSTAT_TCP_DELIVERED], 123);
    assert_int_equal(h->n_rdma, 1);
    assert_true(h->rdma[0].has_xmit_packets);
    assert_int_equal(h->rdma[0].xmit_packets, 900);
    assert_int_equal(h->rdma[0].xmit_data, 2500);

    /* Mapped: 4-byte words to bytes, handled CNPs (no ignored file). */
    struct cats_nma nma;
    struct agent_tel tel;
    struct sset none = SSET_INITIALIZER(&none);
    struct cats_report_telemetry r;

    cats_nma_init(&nma, EPOCH0);
    agent_tel_init(&tel);
    assert_int_equal(agent_tel_build(&tel, &nma, "n", &none, h, &r, &error),
                     0);
    assert_int_equal(r.n_links, 2);
    assert_string_equal(r.links[1].id, "rdma:mlx5_0:1");
    assert_int_equal(r.links[1].tx_bytes, 10000);
    assert_int_equal(r.links[1].ecn_marked_packets, 9);
    cats_report_telemetry_destroy(&r);
    agent_tel_destroy(&tel);
    cats_nma_destroy(&nma);

    /* No netstat: an error naming it, the RDMA ports still read. */
    assert_int_equal(agent_tel_read_host(missing, rdma, h, &error), ENOENT);
    assert_non_null(strstr(error, "nothing"));
    free(error);
    assert_false(h->has_netstat);
    assert_int_equal(h->n_rdma, 1);

    /* A bad counter under counters/: the error, and the port without it. */
    free(tree_write(t, "ib/mlx5_0/ports/1/counters/port_xmit_packets",
                    "many\n"));
    assert_int_equal(agent_tel_read_host(netstat, rdma, h, &error), EINVAL);
    assert_non_null(strstr(error, "port_xmit_packets"));
    free(error);
    assert_true(h->has_netstat);
    assert_int_equal(h->n_rdma, 1);
    assert_false(h->rdma[0].has_xmit_packets);
    assert_true(h->rdma[0].has_xmit_data);

    /* A netstat that is not one. */
    free(tree_write(t, "netstat", "TcpExt: TCPDelivered\nTcpExt: x\n"));
    assert_int_not_equal(agent_tel_read_host(netstat, missing, h, &error),
                         0);
    assert_non_null(strstr(error, netstat));
    free(error);
    assert_false(h->has_netstat);
    assert_int_equal(h->n_rdma, 0);

    free(netstat);
    free(rdma);
    free(missing);
    free(h);
}

/* What cats_client_encode_telemetry() writes, the controller's decoder accepts, field
 * for field (PFC, queue depth and RTT included). */
static void
test_encoding_accepted_by_the_agent_api(void **state)
{
    struct fixture *f = *state;
    struct cats_report_policy policy;
    struct cats_report_telemetry back;
    struct cats_report_link *l;
    char *error = NULL;
    uint8_t *buf;
    size_t len;

    host_from_netstat(&f->host, 1000, 10);
    add_rdma(&f->host, "mlx5_0", 1, 5000, 40, 2);
    build(f, true);

    /* A link entry as libcatsnma makes them, added by hand. */
    f->t.links = xrealloc(f->t.links, (f->t.n_links + 1) * sizeof *l);
    l = &f->t.links[f->t.n_links++];
    memset(l, 0, sizeof *l);
    ovs_strlcpy(l->id, "eth1", sizeof l->id);
    l->kind = CATS_LINK_KIND_LINK;
    l->tx_packets = 1ULL << 40;
    l->tx_bytes = 3;
    l->ecn_marked_packets = 2;
    l->drops = 1;
    l->has_queue_depth = true;
    l->queue_depth_bytes = 0;
    l->has_rtt = true;
    l->rtt_us = 12.5;
    l->n_pfc = 2;
    l->pfc[0].priority = 3;
    l->pfc[0].rx_pause_frames = 7;
    l->pfc[1].priority = 4;
    l->pfc[1].tx_pause_frames = 8;
    f->t.seq = 42;

    buf = cats_client_encode_telemetry(&f->t, &len);
    cats_report_policy_init(&policy);
    assert_int_equal(cats_report_decode_telemetry(buf, len, &policy, &back,
                                                  &error), 0);
    assert_null(error);
    assert_string_equal(back.source_id, "node-1");
    assert_int_equal(back.seq, 42);
    assert_int_equal(back.counters_epoch, EPOCH0);
    assert_int_equal(back.n_links, 3);
    for (size_t i = 0; i < back.n_links; i++) {
        const struct cats_report_link *a = &f->t.links[i];
        const struct cats_report_link *b = &back.links[i];

        assert_string_equal(a->id, b->id);
        assert_int_equal(a->kind, b->kind);
        assert_int_equal(a->tx_packets, b->tx_packets);
        assert_int_equal(a->tx_bytes, b->tx_bytes);
        assert_int_equal(a->ecn_marked_packets, b->ecn_marked_packets);
        assert_int_equal(a->drops, b->drops);
        assert_int_equal(a->has_queue_depth, b->has_queue_depth);
        assert_int_equal(a->queue_depth_bytes, b->queue_depth_bytes);
        assert_int_equal(a->has_rtt, b->has_rtt);
        assert_int_equal(a->n_pfc, b->n_pfc);
        for (size_t k = 0; k < a->n_pfc; k++) {
            assert_int_equal(a->pfc[k].priority, b->pfc[k].priority);
            assert_int_equal(a->pfc[k].rx_pause_frames,
                             b->pfc[k].rx_pause_frames);
            assert_int_equal(a->pfc[k].tx_pause_frames,
                             b->pfc[k].tx_pause_frames);
        }
    }
    assert_true(back.links[2].rtt_us == 12.5);
    cats_report_telemetry_destroy(&back);
    cats_report_policy_destroy(&policy);
    free(buf);
}

/* A source id the agent API would refuse is refused here. */
static void
test_bad_source_id(void **state)
{
    struct fixture *f = *state;
    char *error = NULL;

    assert_int_equal(agent_tel_build(&f->tel, &f->nma, "a b", &f->ifaces,
                                     NULL, &f->t, &error), EINVAL);
    assert_non_null(error);
    free(error);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)
        T(test_host_tcp_entry_from_netstat_deltas),
        T(test_host_tcp_absent_without_both_counters),
        T(test_epoch_moves_on_host_counter_reset),
        T(test_link_and_host_reset_share_one_epoch_change),
        T(test_rdma_entries),
        T(test_forgotten_host_entries_move_the_epoch),
        cmocka_unit_test_setup_teardown(test_read_host_files, tree_setup,
                                        tree_teardown),
        T(test_encoding_accepted_by_the_agent_api),
        T(test_bad_source_id),
#undef T
    };

    set_program_name("test-agent-telemetry");
    return cmocka_run_group_tests(tests, NULL, NULL);
}

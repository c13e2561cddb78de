/*
 * cats-nma: prints what the network metric agent's readers read from this
 * host (include/cats/nlstats.h).  A diagnostic tool, and the readers'
 * live exercise: every command goes through the same parsers as the
 * telemetry report.
 *
 * Streaming the reports to cats-controller is cats-agent's job
 * (--telemetry-link, --telemetry-host), with the same readers.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pkt_sched.h>

#include "cats/nlstats.h"
#include "cats/report.h"
#include "command-line.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/json.h"
#include "openvswitch/util.h"
#include "sset.h"
#include "timeval.h"
#include "util.h"

static bool json_output;
static const char *netstat_file = "/proc/net/netstat";
static const char *rdma_root = "/sys/class/infiniband";
static const char *source_id;
static int report_count = 1;
static int report_interval_ms = 1000;

static void
usage(void)
{
    printf("%s: the network metric agent's readers, on this host\n"
           "usage: %s [OPTIONS] COMMAND [ARG...]\n"
           "\n"
           "Commands:\n"
           "  links              link counters of every interface "
           "(RTM_GETLINK)\n"
           "  qdisc              qdisc counters and the ECN marks of red, "
           "fq_codel,\n"
           "                     fq_pie (RTM_GETQDISC)\n"
           "  pfc DEV            PFC frames per priority (RTM_GETDCB, IEEE)\n"
           "  pause DEV          802.3x pause frames (ethtool netlink)\n"
           "  host               TCP/IP ECN counters (/proc/net/netstat), "
           "RoCE CNP\n"
           "                     counters (RDMA hw_counters)\n"
           "  report [IFACE...]  the telemetry report made of all of it "
           "(default:\n"
           "                     every interface but loopbacks)\n"
           "\n"
           "Options:\n"
           "  --json             JSON instead of text\n"
           "  --netstat=FILE     host: read FILE, not /proc/net/netstat\n"
           "  --rdma-root=DIR    host: read DIR, not /sys/class/infiniband\n"
           "  --source-id=ID     report: the source id (default: host "
           "name)\n"
           "  --count=N          report: N reports ...\n"
           "  --interval=MS      ... MS milliseconds apart (default 1000)\n"
           "  -h, --help         this text\n"
           "\n"
           "A source that this host or device lacks is printed as \"not "
           "supported\"\n"
           "(exit status 0); errors exit 1, usage errors 2.\n",
           program_name, program_name);
    exit(EXIT_SUCCESS);
}

static void
print_json(struct json *j)
{
    char *s = json_to_string(j, JSSF_PRETTY | JSSF_SORT);

    puts(s);
    free(s);
    json_destroy(j);
}

/* JSON numbers: counters beyond 2^63 would not survive as 'long long'. */
static struct json *
jcount(uint64_t v)
{
    return json_integer_create(v > LLONG_MAX ? LLONG_MAX : (long long) v);
}

static struct cats_nl_sock *
open_sock(void)
{
    struct cats_nl_sock *s;
    char *error_msg;

    if (cats_nl_sock_open(&s, &error_msg)) {
        ovs_fatal(0, "%s", error_msg);
    }
    return s;
}

/* Reads links and qdiscs into 'nma'. */
static void
read_tables(struct cats_nl_sock *s, struct cats_nma *nma, bool qdiscs)
{
    char *error_msg;
    int error;

    error = cats_nl_dump_links(s, nma, &error_msg);
    if (!error && qdiscs) {
        error = cats_nl_dump_qdiscs(s, nma, &error_msg);
    }
    if (error) {
        ovs_fatal(0, "%s", error_msg);
    }
    if (nma->last_error) {
        fprintf(stderr, "%s: refused: %s\n", program_name, nma->last_error);
    }
}

static void
cmd_links(void)
{
    struct cats_nl_sock *s = open_sock();
    struct cats_nma nma;

    cats_nma_init(&nma, 0);
    read_tables(s, &nma, false);
    if (json_output) {
        struct json *arr = json_array_create_empty();

        for (size_t i = 0; i < nma.n_links; i++) {
            const struct cats_nl_link *l = &nma.links[i].nl;
            struct json *o = json_object_create();

            json_object_put(o, "ifindex", json_integer_create(l->ifindex));
            json_object_put_string(o, "name", l->name);
            json_object_put(o, "up", json_boolean_create(l->flags & IFF_UP));
            json_object_put(o, "rx_packets", jcount(l->stats.rx_packets));
            json_object_put(o, "tx_packets", jcount(l->stats.tx_packets));
            json_object_put(o, "rx_bytes", jcount(l->stats.rx_bytes));
            json_object_put(o, "tx_bytes", jcount(l->stats.tx_bytes));
            json_object_put(o, "rx_errors", jcount(l->stats.rx_errors));
            json_object_put(o, "tx_errors", jcount(l->stats.tx_errors));
            json_object_put(o, "rx_dropped", jcount(l->stats.rx_dropped));
            json_object_put(o, "tx_dropped", jcount(l->stats.tx_dropped));
            json_array_add(arr, o);
        }
        print_json(arr);
    } else {
        printf("%-4s %-15s %12s %12s %14s %14s %8s %8s %8s %8s\n", "IDX",
               "NAME", "RX_PKTS", "TX_PKTS", "RX_BYTES", "TX_BYTES",
               "RX_DROP", "TX_DROP", "RX_ERR", "TX_ERR");
        for (size_t i = 0; i < nma.n_links; i++) {
            const struct cats_nl_link *l = &nma.links[i].nl;

            printf("%-4d %-15s %12"PRIu64" %12"PRIu64" %14"PRIu64" %14"PRIu64
                   " %8"PRIu64" %8"PRIu64" %8"PRIu64" %8"PRIu64"\n",
                   l->ifindex, l->name, l->stats.rx_packets,
                   l->stats.tx_packets, l->stats.rx_bytes,
                   l->stats.tx_bytes, l->stats.rx_dropped,
                   l->stats.tx_dropped, l->stats.rx_errors,
                   l->stats.tx_errors);
        }
    }
    cats_nma_destroy(&nma);
    cats_nl_sock_close(s);
}

static void
format_handle(uint32_t h, char buf[16])
{
    if (h == TC_H_ROOT) {
        snprintf(buf, 16, "root");
    } else if (h == TC_H_INGRESS) {
        snprintf(buf, 16, "ingress");
    } else {
        snprintf(buf, 16, "%"PRIx32":%"PRIx32, h >> 16, h & 0xffff);
    }
}

static void
put_xstats(struct json *o, const struct cats_nl_qdisc *q)
{
    struct json *x = json_object_create();

    switch (q->aqm) {
    case CATS_NL_AQM_RED:
        json_object_put(x, "early", jcount(q->x.red.early));
        json_object_put(x, "pdrop", jcount(q->x.red.pdrop));
        json_object_put(x, "other", jcount(q->x.red.other));
        json_object_put(x, "marked", jcount(q->x.red.marked));
        break;
    case CATS_NL_AQM_FQ_CODEL:
        json_object_put(x, "maxpacket", jcount(q->x.fq_codel.maxpacket));
        json_object_put(x, "drop_overlimit",
                        jcount(q->x.fq_codel.drop_overlimit));
        json_object_put(x, "ecn_mark", jcount(q->x.fq_codel.ecn_mark));
        json_object_put(x, "new_flow_count",
                        jcount(q->x.fq_codel.new_flow_count));
        json_object_put(x, "ce_mark", jcount(q->x.fq_codel.ce_mark));
        json_object_put(x, "drop_overmemory",
                        jcount(q->x.fq_codel.drop_overmemory));
        break;
    case CATS_NL_AQM_FQ_PIE:
        json_object_put(x, "packets_in", jcount(q->x.fq_pie.packets_in));
        json_object_put(x, "dropped", jcount(q->x.fq_pie.dropped));
        json_object_put(x, "overlimit", jcount(q->x.fq_pie.overlimit));
        json_object_put(x, "overmemory", jcount(q->x.fq_pie.overmemory));
        json_object_put(x, "ecn_mark", jcount(q->x.fq_pie.ecn_mark));
        break;
    case CATS_NL_AQM_NONE:
    default:
        break;
    }
    json_object_put(o, "xstats", x);
}

static void
cmd_qdisc(void)
{
    struct cats_nl_sock *s = open_sock();
    struct json *arr = NULL;
    struct cats_nma nma;

    cats_nma_init(&nma, 0);
    read_tables(s, &nma, true);
    if (json_output) {
        arr = json_array_create_empty();
    } else {
        printf("%-15s %-10s %-9s %-9s %14s %12s %6s %9s %8s %8s %8s %s\n",
               "DEV", "KIND", "HANDLE", "PARENT", "BYTES", "PACKETS", "QLEN",
               "BACKLOG", "DROPS", "REQUEUES", "OVERLIM", "ECN_MARKED");
    }
    for (size_t i = 0; i < nma.n_qdiscs; i++) {
        const struct cats_nl_qdisc *q = &nma.qdiscs[i].nl;
        const struct cats_nma_link *link = cats_nma_find_link(&nma,
                                                              q->ifindex);
        char handle[16], parent[16], dev[16];

        format_handle(q->handle, handle);
        format_handle(q->parent, parent);
        if (link) {
            ovs_strlcpy(dev, link->nl.name, sizeof dev);
        } else {
            snprintf(dev, sizeof dev, "if%d", q->ifindex);
        }
        if (json_output) {
            struct json *o = json_object_create();

            json_object_put_string(o, "dev", dev);
            json_object_put(o, "ifindex", json_integer_create(q->ifindex));
            json_object_put_string(o, "kind", q->kind);
            json_object_put_string(o, "handle", handle);
            json_object_put_string(o, "parent", parent);
            json_object_put(o, "bytes", jcount(q->bytes));
            json_object_put(o, "packets", jcount(q->packets));
            json_object_put(o, "qlen", jcount(q->qlen));
            json_object_put(o, "backlog", jcount(q->backlog));
            json_object_put(o, "drops", jcount(q->drops));
            json_object_put(o, "requeues", jcount(q->requeues));
            json_object_put(o, "overlimits", jcount(q->overlimits));
            if (q->has_xstats) {
                json_object_put(o, "ecn_marked", jcount(q->ecn_marked));
                put_xstats(o, q);
            }
            json_array_add(arr, o);
        } else {
            char ecn[24] = "-";

            if (q->has_xstats) {
                snprintf(ecn, sizeof ecn, "%"PRIu32, q->ecn_marked);
            }
            printf("%-15s %-10s %-9s %-9s %14"PRIu64" %12"PRIu64" %6"PRIu32
                   " %9"PRIu32" %8"PRIu32" %8"PRIu32" %8"PRIu32" %s\n", dev,
                   q->kind, handle, parent, q->bytes, q->packets, q->qlen,
                   q->backlog, q->drops, q->requeues, q->overlimits, ecn);
        }
    }
    if (arr) {
        print_json(arr);
    }
    cats_nma_destroy(&nma);
    cats_nl_sock_close(s);
}

/* Prints "not supported" for 'what' of 'dev'.  */
static void
print_unsupported(const char *dev, const char *what, const char *reason)
{
    if (json_output) {
        struct json *o = json_object_create();

        json_object_put_string(o, "dev", dev);
        json_object_put(o, "supported", json_boolean_create(false));
        json_object_put_string(o, "reason", reason);
        print_json(o);
    } else {
        printf("%s: %s: not supported (%s)\n", dev, what, reason);
    }
}

static void
cmd_pfc(const char *dev)
{
    struct cats_nl_sock *s = open_sock();
    struct cats_nl_pfc pfc;
    char *error_msg;
    int error;

    error = cats_nl_get_pfc(s, dev, &pfc, &error_msg);
    cats_nl_sock_close(s);
    if (error == EOPNOTSUPP) {
        print_unsupported(dev, "PFC", error_msg);
        free(error_msg);
        return;
    } else if (error) {
        ovs_fatal(0, "%s: %s", dev, error_msg);
    }
    if (json_output) {
        struct json *o = json_object_create();
        struct json *arr = json_array_create_empty();

        json_object_put_string(o, "dev", pfc.ifname);
        json_object_put(o, "supported", json_boolean_create(true));
        json_object_put(o, "pfc_cap", jcount(pfc.pfc_cap));
        json_object_put(o, "pfc_en", jcount(pfc.pfc_en));
        json_object_put(o, "delay", jcount(pfc.delay));
        for (int p = 0; p < CATS_NL_PRIORITIES; p++) {
            struct json *e = json_object_create();

            json_object_put(e, "priority", json_integer_create(p));
            json_object_put(e, "enabled",
                            json_boolean_create(pfc.pfc_en & (1u << p)));
            json_object_put(e, "tx_pfc_frames", jcount(pfc.requests[p]));
            json_object_put(e, "rx_pfc_frames", jcount(pfc.indications[p]));
            json_array_add(arr, e);
        }
        json_object_put(o, "priorities", arr);
        print_json(o);
    } else {
        printf("%s: pfc_cap %u, pfc_en 0x%02x, delay %u\n", pfc.ifname,
               pfc.pfc_cap, pfc.pfc_en, pfc.delay);
        printf("%-4s %-7s %14s %14s\n", "PRIO", "ENABLED", "TX_PFC_FRAMES",
               "RX_PFC_FRAMES");
        for (int p = 0; p < CATS_NL_PRIORITIES; p++) {
            printf("%-4d %-7s %14"PRIu64" %14"PRIu64"\n", p,
                   pfc.pfc_en & (1u << p) ? "yes" : "no", pfc.requests[p],
                   pfc.indications[p]);
        }
    }
}

static void
cmd_pause(const char *dev)
{
    struct cats_nl_sock *s = open_sock();
    struct cats_nl_pause pause;
    char *error_msg;
    int error;

    error = cats_nl_get_pause(s, dev, &pause, &error_msg);
    cats_nl_sock_close(s);
    if (error == EOPNOTSUPP) {
        print_unsupported(dev, "pause", error_msg);
        free(error_msg);
        return;
    } else if (error) {
        ovs_fatal(0, "%s: %s", dev, error_msg);
    }
    if (json_output) {
        struct json *o = json_object_create();

        json_object_put_string(o, "dev", pause.ifname);
        json_object_put(o, "supported", json_boolean_create(true));
        json_object_put(o, "autoneg", json_boolean_create(pause.autoneg));
        json_object_put(o, "rx", json_boolean_create(pause.rx));
        json_object_put(o, "tx", json_boolean_create(pause.tx));
        if (pause.has_tx_frames) {
            json_object_put(o, "tx_pause_frames", jcount(pause.tx_frames));
        }
        if (pause.has_rx_frames) {
            json_object_put(o, "rx_pause_frames", jcount(pause.rx_frames));
        }
        print_json(o);
    } else {
        printf("%s: autoneg %s, rx %s, tx %s\n", pause.ifname,
               pause.autoneg ? "on" : "off", pause.rx ? "on" : "off",
               pause.tx ? "on" : "off");
        if (pause.has_tx_frames) {
            printf("  tx_pause_frames %"PRIu64"\n", pause.tx_frames);
        }
        if (pause.has_rx_frames) {
            printf("  rx_pause_frames %"PRIu64"\n", pause.rx_frames);
        }
        if (!pause.has_tx_frames && !pause.has_rx_frames) {
            printf("  (the driver does not count pause frames)\n");
        }
    }
}

/* Reads all of 'file' (at most 1 MiB: /proc/net/netstat is 5 kB). */
static int
read_file(const char *file, char **textp, size_t *sizep)
{
    size_t max = 1024 * 1024, size = 0;
    char *text = xmalloc(max + 1);
    FILE *f = fopen(file, "r");
    int error = 0;

    if (!f) {
        free(text);
        return errno;
    }
    size = fread(text, 1, max + 1, f);
    if (ferror(f)) {
        error = errno ? errno : EIO;
    } else if (size > max) {
        error = EFBIG;
    }
    fclose(f);
    if (error) {
        free(text);
        return error;
    }
    *textp = text;
    *sizep = size;
    return 0;
}

static void
cmd_host(void)
{
    struct cats_nl_rdma_port ports[CATS_NL_MAX_RDMA_PORTS];
    struct cats_nl_netstat ns;
    char *text = NULL, *error_msg;
    size_t size = 0, n_ports;
    int error;

    error = read_file(netstat_file, &text, &size);
    if (error) {
        ovs_fatal(error, "%s", netstat_file);
    }
    error = cats_nl_parse_netstat(text, size, &ns, &error_msg);
    free(text);
    if (error) {
        ovs_fatal(0, "%s: %s", netstat_file, error_msg);
    }
    error = cats_nl_read_rdma(rdma_root, ports, ARRAY_SIZE(ports), &n_ports,
                              &error_msg);
    if (error) {
        ovs_fatal(0, "%s", error_msg);
    }

    if (json_output) {
        struct json *o = json_object_create();
        struct json *nj = json_object_create();
        struct json *arr = json_array_create_empty();

        for (int c = 0; c < CATS_N_NETSTAT; c++) {
            if (ns.present & (1u << c)) {
                json_object_put(nj, cats_nl_netstat_name(c),
                                jcount(ns.value[c]));
            }
        }
        for (size_t i = 0; i < n_ports; i++) {
            struct json *pj = json_object_create();

            json_object_put_string(pj, "dev", ports[i].dev);
            json_object_put(pj, "port", json_integer_create(ports[i].port));
            for (int c = 0; c < CATS_N_RDMA; c++) {
                if (ports[i].present & (1u << c)) {
                    json_object_put(pj, cats_nl_rdma_name(c),
                                    jcount(ports[i].value[c]));
                }
            }
            json_array_add(arr, pj);
        }
        json_object_put(o, "netstat", nj);
        json_object_put(o, "rdma", arr);
        print_json(o);
        return;
    }

    printf("%s:\n", netstat_file);
    for (int c = 0; c < CATS_N_NETSTAT; c++) {
        if (ns.present & (1u << c)) {
            printf("  %-24s %"PRIu64"\n", cats_nl_netstat_name(c),
                   ns.value[c]);
        } else {
            printf("  %-24s (absent)\n", cats_nl_netstat_name(c));
        }
    }
    if (!n_ports) {
        printf("%s: no RDMA port with congestion counters\n", rdma_root);
    }
    for (size_t i = 0; i < n_ports; i++) {
        printf("%s port %u:\n", ports[i].dev, ports[i].port);
        for (int c = 0; c < CATS_N_RDMA; c++) {
            if (ports[i].present & (1u << c)) {
                printf("  %-28s %"PRIu64"\n", cats_nl_rdma_name(c),
                       ports[i].value[c]);
            }
        }
    }
}

static struct json *
report_to_json(const struct cats_report_telemetry *t,
               const struct cats_nma *nma)
{
    struct json *o = json_object_create();
    struct json *links = json_array_create_empty();
    struct json *errors = json_object_create();

    json_object_put_string(o, "source_id", t->source_id);
    json_object_put(o, "seq", jcount(t->seq));
    json_object_put(o, "counters_epoch", jcount(t->counters_epoch));
    for (size_t i = 0; i < t->n_links; i++) {
        const struct cats_report_link *l = &t->links[i];
        struct json *lj = json_object_create();
        struct json *pfc = json_array_create_empty();

        json_object_put_string(lj, "id", l->id);
        json_object_put_string(lj, "kind", "LINK_KIND_LINK");
        json_object_put(lj, "tx_packets", jcount(l->tx_packets));
        json_object_put(lj, "tx_bytes", jcount(l->tx_bytes));
        json_object_put(lj, "ecn_marked_packets",
                        jcount(l->ecn_marked_packets));
        json_object_put(lj, "drops", jcount(l->drops));
        if (l->has_queue_depth) {
            json_object_put(lj, "queue_depth_bytes",
                            jcount(l->queue_depth_bytes));
        }
        for (size_t j = 0; j < l->n_pfc; j++) {
            struct json *pj = json_object_create();

            json_object_put(pj, "priority",
                            json_integer_create(l->pfc[j].priority));
            json_object_put(pj, "rx_pause_frames",
                            jcount(l->pfc[j].rx_pause_frames));
            json_object_put(pj, "tx_pause_frames",
                            jcount(l->pfc[j].tx_pause_frames));
            json_array_add(pfc, pj);
        }
        json_object_put(lj, "pfc", pfc);
        json_array_add(links, lj);
    }
    json_object_put(o, "links", links);
    for (int s = 0; s < CATS_NMA_N_SOURCES; s++) {
        json_object_put(errors, cats_nma_source_name(s),
                        jcount(nma->errors[s]));
    }
    json_object_put(o, "reader_errors", errors);
    return o;
}

static void
print_report(const struct cats_report_telemetry *t,
             const struct cats_nma *nma)
{
    if (json_output) {
        print_json(report_to_json(t, nma));
        return;
    }
    printf("source %s seq %"PRIu64" counters_epoch %"PRIu64", %"PRIuSIZE
           " links\n", t->source_id, t->seq, t->counters_epoch, t->n_links);
    for (size_t i = 0; i < t->n_links; i++) {
        const struct cats_report_link *l = &t->links[i];

        printf("  %-15s tx_packets %"PRIu64" tx_bytes %"PRIu64" ecn_marked "
               "%"PRIu64" drops %"PRIu64, l->id, l->tx_packets, l->tx_bytes,
               l->ecn_marked_packets, l->drops);
        if (l->has_queue_depth) {
            printf(" queue_depth_bytes %"PRIu64, l->queue_depth_bytes);
        }
        for (size_t j = 0; j < l->n_pfc; j++) {
            printf(" pfc%u rx %"PRIu64" tx %"PRIu64, l->pfc[j].priority,
                   l->pfc[j].rx_pause_frames, l->pfc[j].tx_pause_frames);
        }
        putchar('\n');
    }
    for (int s = 0; s < CATS_NMA_N_SOURCES; s++) {
        if (nma->errors[s]) {
            printf("  %"PRIu64" %s messages refused\n", nma->errors[s],
                   cats_nma_source_name(s));
        }
    }
}

/* --source-id, else the host name, else "cats-nma". */
static const char *
report_source_id(void)
{
    static char hostname[HOST_NAME_MAX + 1];

    if (source_id) {
        return source_id;
    }
    if (!gethostname(hostname, sizeof hostname)) {
        hostname[sizeof hostname - 1] = '\0';
        return hostname;
    }
    return "cats-nma";
}

static void
cmd_report(int argc, char *argv[])
{
    struct cats_nl_sock *s = open_sock();
    struct sset ifaces = SSET_INITIALIZER(&ifaces);
    const char *id = report_source_id();
    struct cats_nma nma;

    for (int i = 0; i < argc; i++) {
        sset_add(&ifaces, argv[i]);
    }

    cats_nma_init(&nma, time_wall_usec());
    for (int n = 0; n < report_count; n++) {
        struct cats_report_telemetry t;
        char *error_msg;

        if (n) {
            xnanosleep((uint64_t) report_interval_ms * 1000 * 1000);
        }
        if (cats_nma_poll(&nma, s, NULL, &error_msg)) {
            ovs_fatal(0, "%s", error_msg);
        }
        if (cats_nma_to_telemetry(&nma, id, argc ? &ifaces : NULL, &t,
                                  &error_msg)) {
            ovs_fatal(0, "%s (use --source-id)", error_msg);
        }
        print_report(&t, &nma);
        fflush(stdout);
        cats_report_telemetry_destroy(&t);
    }
    cats_nma_destroy(&nma);
    sset_destroy(&ifaces);
    cats_nl_sock_close(s);
}

static int
parse_int_arg(const char *name, const char *s, int min, int max)
{
    int v;

    if (!str_to_int(s, 10, &v) || v < min || v > max) {
        ovs_fatal(0, "--%s: \"%s\" is not an integer between %d and %d",
                  name, s, min, max);
    }
    return v;
}

int
main(int argc, char *argv[])
{
    enum { OPT_JSON = UCHAR_MAX + 1, OPT_NETSTAT, OPT_RDMA, OPT_SOURCE,
           OPT_COUNT, OPT_INTERVAL };
    static const struct option long_options[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "netstat", required_argument, NULL, OPT_NETSTAT },
        { "rdma-root", required_argument, NULL, OPT_RDMA },
        { "source-id", required_argument, NULL, OPT_SOURCE },
        { "source", required_argument, NULL, OPT_SOURCE },
        { "count", required_argument, NULL, OPT_COUNT },
        { "interval", required_argument, NULL, OPT_INTERVAL },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd;

    set_program_name(argv[0]);
    for (;;) {
        int c = getopt_long(argc, argv, "h", long_options, NULL);

        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_JSON: json_output = true; break;
        case OPT_NETSTAT: netstat_file = optarg; break;
        case OPT_RDMA: rdma_root = optarg; break;
        case OPT_SOURCE: source_id = optarg; break;
        case OPT_COUNT:
            report_count = parse_int_arg("count", optarg, 1, 1000000);
            break;
        case OPT_INTERVAL:
            report_interval_ms = parse_int_arg("interval", optarg, 1,
                                               3600 * 1000);
            break;
        case 'h': usage(); break;
        default: exit(2);
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        fprintf(stderr, "%s: a command is required (--help)\n",
                program_name);
        exit(2);
    }
    cmd = argv[0];

    int n_args = argc - 1;
    if (!strcmp(cmd, "links") && !n_args) {
        cmd_links();
    } else if (!strcmp(cmd, "qdisc") && !n_args) {
        cmd_qdisc();
    } else if (!strcmp(cmd, "pfc") && n_args == 1) {
        cmd_pfc(argv[1]);
    } else if (!strcmp(cmd, "pause") && n_args == 1) {
        cmd_pause(argv[1]);
    } else if (!strcmp(cmd, "host") && !n_args) {
        cmd_host();
    } else if (!strcmp(cmd, "report")) {
        cmd_report(n_args, argv + 1);
    } else {
        fprintf(stderr, "%s: unknown command or wrong arguments: %s "
                "(--help)\n", program_name, cmd);
        exit(2);
    }
    return 0;
}

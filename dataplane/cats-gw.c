/*
 * cats-gw: the DPDK long-haul gateway.
 *
 * Emulates the long-haul links between sites: pairs of ports forward to
 * each other through a delay line (propagation), a rate limit and a queue
 * per traffic class, marking ECN and sending and honoring 802.1Qbb pauses
 * as a DCI switch would, and counts what it does, so that cats-controller
 * can steer lossless traffic away from congested or pause-storming paths.
 *
 *   cats-gw [EAL options] -- [options]
 *
 * Start-up is one sequence: read the options and statements (gw-conf.h;
 * errors stop here, before DPDK starts), start DPDK, check the statements
 * against its ports, set the ports up, build the fast-path state
 * (gw-fwd.h), register the telemetry commands (gw-tel.h), start the push
 * (gw-push.h), then forward on every worker lcore (or on the main lcore
 * when it is the only one) until SIGINT or SIGTERM.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "gw-conf.h"
#include "gw-fwd.h"
#include "gw-push.h"
#include "gw-tel.h"

#define MBUFS_DEFAULT 65535
#define MBUF_CACHE 256
#define CTL_MBUFS 1023
#define RX_DESC 1024
#define TX_DESC 1024

struct options {
    struct gw_conf conf;
    const char *controller;
    const char *source_id;
    unsigned int interval_ms;
    unsigned int mbufs;
    unsigned int idle_sleep_us;
    bool bench_prefill;
    bool check;
};

static void
usage(void)
{
    printf("\
cats-gw: the DPDK long-haul gateway of ovs-cats\n\
usage: cats-gw [EAL options] -- [options]\n\
\n\
Configuration (statements, see dataplane/README.md; also in a file):\n\
  --config=FILE           read statements from FILE (one per line)\n\
  --port=N,KEY=VALUE...   as 'port N ...': name, speed, distance,\n\
                          max_frame, quanta, watchdog, restore, trust\n\
  --class=N:C,KEY=VALUE...  as 'class N:C ...': queue, packets,\n\
                          ecn=KMIN:KMAX:PMAX, lossless=XOFF:XON, pcp, dscp\n\
  --pair=A:B,KEY=VALUE... as 'pair A:B ...': delay, rate, burst,\n\
                          overhead, line\n\
\n\
Telemetry (DPDK: dpdk-telemetry.py -f FILE_PREFIX, /cats_gw/...):\n\
  --controller=HOST:PORT|unix:PATH\n\
                          push paths to cats-controller's gRPC API\n\
  --source-id=ID          telemetry source id (default cats-gw)\n\
  --report-interval=TIME  until the controller asks otherwise (1s)\n\
\n\
Other:\n\
  --mbufs=N               packet buffers (default %d)\n\
  --idle-sleep=TIME       sleep that long when a loop found no work\n\
                          (default 0: poll; adds up to TIME of delay)\n\
  --bench-prefill         fill every buffer with a 64-byte VLAN PCP 3,\n\
                          DSCP 26, ECT(0) UDP frame at start (for net_null\n\
                          ports, which deliver buffers as they are)\n\
  --check                 check the configuration, print it, and exit\n\
  -h, --help              this help\n", MBUFS_DEFAULT);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fatal(const char *format, ...)
{
    va_list args;

    fputs("cats-gw: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(EXIT_FAILURE);
}

static void
statement(struct gw_conf *conf, const char *keyword, const char *arg)
{
    size_t size = strlen(keyword) + strlen(arg) + 2;
    char origin[32], *line, *error;

    snprintf(origin, sizeof origin, "--%s", keyword);
    line = malloc(size);
    if (!line) {
        abort();
    }
    snprintf(line, size, "%s %s", keyword, arg);
    if (gw_conf_parse(conf, line, origin, &error)) {
        fatal("%s", error);
    }
    free(line);
}

static bool
valid_source_id(const char *s)
{
    size_t len = strlen(s);

    if (!len || len > 64) {
        return false;
    }
    for (; *s; s++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789._:-", *s)) {
            return false;
        }
    }
    return true;
}

static void
parse_options(int argc, char *argv[], struct options *o)
{
    enum {
        OPT_CONFIG = 256, OPT_PORT, OPT_CLASS, OPT_PAIR, OPT_CONTROLLER,
        OPT_SOURCE_ID, OPT_INTERVAL, OPT_MBUFS, OPT_IDLE, OPT_PREFILL,
        OPT_CHECK,
    };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, OPT_CONFIG },
        { "port", required_argument, NULL, OPT_PORT },
        { "class", required_argument, NULL, OPT_CLASS },
        { "pair", required_argument, NULL, OPT_PAIR },
        { "controller", required_argument, NULL, OPT_CONTROLLER },
        { "source-id", required_argument, NULL, OPT_SOURCE_ID },
        { "report-interval", required_argument, NULL, OPT_INTERVAL },
        { "mbufs", required_argument, NULL, OPT_MBUFS },
        { "idle-sleep", required_argument, NULL, OPT_IDLE },
        { "bench-prefill", no_argument, NULL, OPT_PREFILL },
        { "check", no_argument, NULL, OPT_CHECK },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char *error;
    uint64_t x;
    int c;

    memset(o, 0, sizeof *o);
    gw_conf_init(&o->conf);
    o->source_id = "cats-gw";
    o->interval_ms = 1000;
    o->mbufs = MBUFS_DEFAULT;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CONFIG:
            if (gw_conf_read_file(&o->conf, optarg, &error)) {
                fatal("%s", error);
            }
            break;
        case OPT_PORT:
            statement(&o->conf, "port", optarg);
            break;
        case OPT_CLASS:
            statement(&o->conf, "class", optarg);
            break;
        case OPT_PAIR:
            statement(&o->conf, "pair", optarg);
            break;
        case OPT_CONTROLLER:
            o->controller = optarg;
            break;
        case OPT_SOURCE_ID:
            if (!valid_source_id(optarg)) {
                fatal("--source-id: '%s' is not 1 to 64 characters from "
                      "A-Z a-z 0-9 . _ : -", optarg);
            }
            o->source_id = optarg;
            break;
        case OPT_INTERVAL:
            if (!gw_conf_parse_time(optarg, &x) || x < 100000000
                || x > UINT64_C(60000000000)) {
                fatal("--report-interval: '%s' is not a time between "
                      "100ms and 60s", optarg);
            }
            o->interval_ms = x / 1000000;
            break;
        case OPT_MBUFS:
            if (!gw_conf_parse_bytes(optarg, &x) || x < 1024
                || x > 4 * 1024 * 1024) {
                fatal("--mbufs: '%s' is not a count between 1024 and 4M",
                      optarg);
            }
            o->mbufs = x;
            break;
        case OPT_IDLE:
            if (!gw_conf_parse_time(optarg, &x) || x > 1000000) {
                fatal("--idle-sleep: '%s' is not a time up to 1ms", optarg);
            }
            o->idle_sleep_us = x / 1000;
            break;
        case OPT_PREFILL:
            o->bench_prefill = true;
            break;
        case OPT_CHECK:
            o->check = true;
            break;
        case 'h':
            usage();
            exit(EXIT_SUCCESS);
        default:
            fatal("bad option (--help lists them)");
        }
    }
    if (optind < argc) {
        fatal("unexpected argument '%s'", argv[optind]);
    }
}

/* The frame --bench-prefill writes: Ethernet, VLAN 10 PCP 3, IPv4 DSCP 26
 * ECT(0), UDP, 64 bytes in all (without FCS: 60 + a 4-byte tag). */
static void
prefill_one(struct rte_mempool *mp __rte_unused, void *opaque __rte_unused,
            void *obj, unsigned int idx __rte_unused)
{
    static const uint8_t frame[64] = {
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01,
        0x81, 0x00, (3 << 5), 10, 0x08, 0x00,
        /* IPv4: 46 bytes, TTL 64, UDP, 10.0.0.1 -> 10.0.0.2. */
        0x45, (26 << 2) | 2, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0,
        10, 0, 0, 1, 10, 0, 0, 2,
        /* UDP 1024 -> 1024, 26 bytes, no checksum. */
        0x04, 0x00, 0x04, 0x00, 0, 26, 0, 0,
    };
    struct rte_mbuf *m = obj;
    uint8_t *p = (uint8_t *) m->buf_addr + m->data_off;
    uint32_t sum = 0;

    memcpy(p, frame, sizeof frame);
    for (int i = 18; i < 38; i += 2) {
        sum += (p[i] << 8) | p[i + 1];
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    p[28] = ~sum >> 8;
    p[29] = ~sum;
}

static void
port_setup(uint16_t port, struct rte_mempool *pool)
{
    struct rte_eth_conf conf;
    uint16_t nb_rxd = RX_DESC, nb_txd = TX_DESC;
    int error;

    memset(&conf, 0, sizeof conf);
    error = rte_eth_dev_configure(port, 1, 1, &conf);
    if (!error) {
        error = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    }
    if (!error) {
        error = rte_eth_rx_queue_setup(port, 0, nb_rxd,
                                       rte_eth_dev_socket_id(port), NULL,
                                       pool);
    }
    if (!error) {
        error = rte_eth_tx_queue_setup(port, 0, nb_txd,
                                       rte_eth_dev_socket_id(port), NULL);
    }
    if (!error) {
        error = rte_eth_dev_start(port);
    }
    if (error) {
        fatal("port %u: cannot set it up (%s)", port, strerror(-error));
    }
    /* A gateway forwards every frame, whatever its destination; some
     * virtual devices cannot be promiscuous and need not be. */
    rte_eth_promiscuous_enable(port);
}

static void
print_config(const struct gw_conf *conf)
{
    for (unsigned int i = 0; i < conf->n_pairs; i++) {
        const struct gw_conf_pair *p = &conf->pairs[i];

        printf("cats-gw: pair %u:%u (%s:%s): delay %"PRIu64" ns, rate %s"
               "%"PRIu64" bit/s, line %"PRIu32" packets\n", p->a, p->b,
               conf->ports[p->a].name, conf->ports[p->b].name, p->delay_ns,
               p->rate_bps ? "" : "unlimited ", p->rate_bps,
               p->line_packets);
    }
    for (unsigned int n = 0; n < conf->n_ports; n++) {
        const struct gw_conf_port *cp = &conf->ports[n];

        for (int c = 0; c < GW_N_CLASSES; c++) {
            const struct gw_class_config *cc = &cp->cfg.classes[c];

            if (!cc->ecn && !cc->lossless) {
                continue;
            }
            printf("cats-gw: port %u (%s) class %d: queue %"PRIu32" bytes",
                   n, cp->name, c, cc->queue_limit);
            if (cc->ecn) {
                printf(", ecn %"PRIu32":%"PRIu32":%"PRIu32"ppm", cc->kmin,
                       cc->kmax, cc->pmax_ppm);
            }
            if (cc->lossless) {
                printf(", lossless xoff %"PRIu32" xon %"PRIu32, cc->xoff,
                       cc->xon);
            }
            printf("\n");
        }
    }
}

static void
on_signal(int sig __rte_unused)
{
    gw_force_quit = true;
}

int
main(int argc, char *argv[])
{
    struct rte_mempool *pool, *ctl_pool;
    unsigned int fwd_lcores[RTE_MAX_LCORE];
    unsigned int n_fwd = 0, lcore;
    struct options *o;
    char *error;
    int n;

    /* The application's options first: a wrong statement is reported
     * before DPDK takes the machine. */
    o = calloc(1, sizeof *o);
    if (!o) {
        abort();
    }
    for (n = 1; n < argc && strcmp(argv[n], "--"); n++) {
        continue;
    }
    if (n < argc) {
        argv[n] = argv[0];
        parse_options(argc - n, argv + n, o);
        argv[n] = (char *) "--";
    } else {
        parse_options(1, argv, o);
    }

    n = rte_eal_init(argc, argv);
    if (n < 0) {
        fatal("cannot start DPDK (EAL options?): %s",
              rte_strerror(rte_errno));
    }

    if (gw_conf_finish(&o->conf, rte_eth_dev_count_avail(), &error)) {
        rte_eal_cleanup();
        fatal("%s", error);
    }
    if (o->check) {
        print_config(&o->conf);
        printf("cats-gw: configuration OK\n");
        rte_eal_cleanup();
        return 0;
    }

    pool = rte_pktmbuf_pool_create("gw_pool", o->mbufs, MBUF_CACHE, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE,
                                   rte_socket_id());
    ctl_pool = rte_pktmbuf_pool_create("gw_ctl_pool", CTL_MBUFS, 32, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE,
                                       rte_socket_id());
    if (!pool || !ctl_pool) {
        fatal("cannot allocate %u packet buffers (-m too small?): %s",
              o->mbufs, rte_strerror(rte_errno));
    }
    if (o->bench_prefill) {
        rte_mempool_obj_iter(pool, prefill_one, NULL);
    }

    for (unsigned int p = 0; p < o->conf.n_ports; p++) {
        port_setup(p, pool);
    }
    if (gw_state_init(&o->conf, ctl_pool, RTE_MBUF_DEFAULT_DATAROOM,
                      &error)) {
        fatal("%s", error);
    }
    gw.idle_sleep_us = o->idle_sleep_us;

    /* Workers forward; the main lcore forwards only if it is alone.  Each
     * pair goes to one lcore, round robin. */
    RTE_LCORE_FOREACH_WORKER(lcore) {
        fwd_lcores[n_fwd++] = lcore;
    }
    if (!n_fwd) {
        fwd_lcores[n_fwd++] = rte_get_main_lcore();
    }
    for (unsigned int i = 0; i < o->conf.n_pairs; i++) {
        const struct gw_conf_pair *p = &o->conf.pairs[i];

        lcore = fwd_lcores[i % n_fwd];
        gw.ports[p->a].lcore = gw.ports[p->b].lcore = lcore;
    }

    if (gw_tel_register()) {
        fatal("cannot register the telemetry commands");
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (o->controller) {
        struct gw_push_config pc = {
            .target = o->controller,
            .source_id = o->source_id,
            .interval_ms = o->interval_ms,
        };

        if (gw_push_start(&pc)) {
            fatal("cannot start the push thread");
        }
    }

    print_config(&o->conf);
    printf("cats-gw: forwarding %u ports in %u pairs on %u lcore%s\n",
           o->conf.n_ports, o->conf.n_pairs, n_fwd, n_fwd == 1 ? "" : "s");
    fflush(stdout);

    RTE_LCORE_FOREACH_WORKER(lcore) {
        rte_eal_remote_launch(gw_fwd_lcore_main, NULL, lcore);
    }
    if (fwd_lcores[0] == rte_get_main_lcore()) {
        gw_fwd_lcore_main(NULL);
    } else {
        while (!gw_force_quit) {
            usleep(100000);
        }
    }
    rte_eal_mp_wait_lcore();

    gw_push_stop();
    for (unsigned int p = 0; p < o->conf.n_ports; p++) {
        rte_eth_dev_stop(p);
        rte_eth_dev_close(p);
    }
    printf("cats-gw: stopped\n");
    rte_eal_cleanup();
    free(o);
    return 0;
}

/*
 * cats-controller: compute-aware traffic steering for Open vSwitch.
 *
 * Start-up: parse options, load the catalog, open switch connections,
 * daemonize, register ovs-appctl commands, then run the main loop:
 *
 *     catalog --(flow model)--> desired --(ofctrl, per switch)--> bundles
 *
 * One thread owns all state.  Each switch is a "struct switch_conn" around
 * its ofctrl (ofctrl.h), which owns the connection and hands statistics to
 * its statctrl (statctrl.h) and packet-ins to its pinctrl (pinctrl.h).
 * See README.md ("Architecture") for the rest.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents.h"
#include "steer.h"
#include "cats/catalog.h"
#include "cats/config.h"
#include "cats/flow-model.h"
#include "cats/flow-table.h"
#include "command-line.h"
#include "coverage.h"
#include "daemon.h"
#include "fatal-signal.h"
#include "flow.h"
#include "hash.h"
#include "ofctrl.h"
#include "pinctrl.h"
#include "statctrl.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vconn.h"
#include "openvswitch/vlog.h"
#include "ovs-thread.h"
#include "packets.h"
#include "socket-util.h"
#include "stream-ssl.h"
#include "stream.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_controller);

COVERAGE_DEFINE(cats_catalog_change);
COVERAGE_DEFINE(cats_config_error);

#define MAX_SWITCHES 64
#define MAX_LISTENERS 16
#define DEFAULT_SYNC_TIMEOUT_MS 10000

/* While the main loop is busy (agents' reports wake it a few thousand
 * times a second), it looks at its listening sockets and ovs-appctl
 * connections at most this often.  Looking means an accept() per
 * listener, which in Linux allocates and frees a socket and a file even
 * when no connection waits: 3.3% of the controller's CPU at 100,000
 * reports/s (perf).  A switch or ovs-appctl that connects then waits up
 * to this long; an idle loop still sleeps on the sockets themselves. */
#define LISTEN_POLL_MS 10

/* Command-line settings. */
static char *config_file;
static char *unixctl_path;
static struct cats_pipeline_config pipeline;
static int stats_interval_ms = 1000;
static int probe_interval_ms = 10000;
static int inactivity_probe_s = 5;
static int max_backoff_s = 2;
static int role = OFPCR12_ROLE_EQUAL;
static uint64_t generation_id;
static struct agents_config agents_cfg;

/* State. */
static struct cats_catalog catalog;
static struct pinctrl_pick_service *picks;  /* refresh_picks(). */
static size_t n_picks;
static uint64_t picks_membership;   /* Catalog membership seqno of 'picks'. */
static bool picks_built;

/* The flow model and desired table of one site: one per site the catalog
 * declares, or one without a site (the single-site pipeline) if it
 * declares none.  A switch runs its site's table, found by its datapath
 * id.  Rebuilt when the set of sites (names, datapath ids) changes; a
 * model follows its site's paths and instances by itself. */
struct site_model {
    char *name;                     /* NULL: no sites. */
    uint64_t dpid;
    struct cats_desired desired;
    struct cats_model model;
};
static struct site_model *site_models;
static size_t n_site_models;
static uint64_t sites_membership;   /* Catalog membership seqno seen. */
static uint64_t sites_signature;    /* Of the sites the models are for. */

/* One switch: its connection, and what of its polls was handed on. */
struct switch_conn {
    struct ovs_list node;           /* In 'switches'. */
    struct ofctrl *ofctrl;          /* Owns the rconn. */
    struct statctrl *stats;         /* The ofctrl's. */
    struct pinctrl *pins;           /* The ofctrl's. */
    uint64_t ports_seen;            /* Port stats poll handed on. */
    uint64_t counters_seen;         /* Counter poll handed on. */
    struct site_model *sm;          /* Its site's; NULL: not known (yet). */
    unsigned int warned_conn;       /* Connection seqno + 1 whose unknown
                                     * datapath id was logged. */
};
static struct ovs_list switches = OVS_LIST_INITIALIZER(&switches);
static struct pvconn *listeners[MAX_LISTENERS];
static size_t n_listeners;
static bool exiting;

/* ARP probes: one per distinct (VIP, instance IP) without a static MAC. */
static struct pinctrl_probe *probes;
static size_t n_probes;
static uint64_t probes_seqno;

/* Counters for cats/show. */
static uint64_t n_config_errors;
static uint64_t n_command_errors;
static uint64_t n_unknown_dpids;    /* Connections of a bridge whose
                                     * datapath id names no site. */

/* Reconfiguration latency: from a catalog change to every connected switch
 * confirming it by barrier.  The last LATENCY_SAMPLES samples, in usec. */
#define LATENCY_SAMPLES 4096
static long long int change_pending_since;
static long long int latency_samples[LATENCY_SAMPLES];
static size_t n_latency_samples;

/* cats/sync waiters. */
struct sync_waiter {
    struct ovs_list node;
    struct unixctl_conn *conn;
    uint64_t catalog_seqno;         /* Catalog seqno when asked. */
    long long int deadline;
};
static struct ovs_list sync_waiters = OVS_LIST_INITIALIZER(&sync_waiters);

static void parse_options(int argc, char *argv[]);
static steer_count_fn instance_count;
OVS_NO_RETURN static void usage(void);
static void register_commands(void);
static void update_probes(void);
static void run_sync_waiters(void);
static bool all_switches_synced(struct ds *why);

/* The catalog's site that switch 'sw' serves: NULL without sites (or
 * before its datapath id is known). */
static const struct cats_site *
switch_catalog_site(const struct switch_conn *sw)
{
    return sw->sm && sw->sm->name ? cats_site_find(&catalog, sw->sm->name)
                                  : NULL;
}

static bool
decider_pick(void *sw, uint32_t service_id, ovs_be32 *ip, uint16_t *port,
             uint32_t *path_id)
{
    return steer_pick(service_id, switch_catalog_site(sw), time_msec(), ip,
                      port, path_id);
}

static void
decider_ended(void *sw, uint32_t service_id, ovs_be32 ip, uint16_t port)
{
    steer_ended(service_id, switch_catalog_site(sw), ip, port, time_msec());
}

/* Site models. */

static uint64_t
sites_hash(struct cats_site **sites, size_t n)
{
    uint64_t h = n;

    for (size_t i = 0; i < n; i++) {
        h = hash_string(sites[i]->name, hash_uint64(sites[i]->dpid ^ h));
    }
    return h;
}

static void
site_models_destroy(void)
{
    for (size_t i = 0; i < n_site_models; i++) {
        cats_model_destroy(&site_models[i].model);
        cats_desired_destroy(&site_models[i].desired);
        free(site_models[i].name);
    }
    free(site_models);
    site_models = NULL;
    n_site_models = 0;
}

/* Makes the site models those of the catalog's sites.  Switches bound to
 * an old one start over with a full resync of their new table. */
static void
site_models_refresh(void)
{
    struct cats_site **sites;
    size_t n;

    if (site_models && sites_membership == catalog.membership_seqno) {
        return;
    }
    sites_membership = catalog.membership_seqno;
    sites = cats_catalog_sorted_sites(&catalog, &n);
    if (site_models && sites_hash(sites, n) == sites_signature) {
        free(sites);
        return;
    }

    struct switch_conn *sw;
    LIST_FOR_EACH (sw, node, &switches) {
        if (sw->sm) {
            ofctrl_resync(sw->ofctrl);
            sw->sm = NULL;
        }
    }
    site_models_destroy();
    n_site_models = MAX(n, 1);
    site_models = xcalloc(n_site_models, sizeof *site_models);
    for (size_t i = 0; i < n_site_models; i++) {
        struct site_model *sm = &site_models[i];

        sm->name = n ? xstrdup(sites[i]->name) : NULL;
        sm->dpid = n ? sites[i]->dpid : 0;
        cats_desired_init(&sm->desired);
        cats_model_init(&sm->model, &pipeline, &sm->desired,
                        n ? sites[i] : NULL);
    }
    if (n) {
        VLOG_INFO("%"PRIuSIZE" sites: one flow model each", n);
    }
    sites_signature = sites_hash(sites, n);
    free(sites);
}

static bool
models_run(void)
{
    bool changed = false;

    site_models_refresh();
    for (size_t i = 0; i < n_site_models; i++) {
        changed = cats_model_run(&site_models[i].model, &catalog) || changed;
    }
    return changed;
}

/* Have the models built every catalog change up to 'seqno'? */
static bool
models_built(uint64_t seqno)
{
    for (size_t i = 0; i < n_site_models; i++) {
        if (site_models[i].model.catalog_seqno < seqno) {
            return false;
        }
    }
    return true;
}

/* The site model of switch 'sw': the only one without sites; otherwise
 * that of its datapath id, once known.  A bridge whose datapath id names
 * no site gets nothing (not another site's flows, which would send its
 * traffic to ports that are not what that site's paths say): it is
 * logged once per connection and counted, and keeps what it runs. */
static struct site_model *
switch_site(struct switch_conn *sw)
{
    unsigned int conn = ofctrl_get_connection_seqno(sw->ofctrl) + 1;
    uint64_t dpid;

    if (!site_models[0].name) {
        return &site_models[0];
    }
    if (!ofctrl_get_datapath_id(sw->ofctrl, &dpid)) {
        return NULL;
    }
    for (size_t i = 0; i < n_site_models; i++) {
        if (site_models[i].dpid == dpid) {
            return &site_models[i];
        }
    }
    if (sw->warned_conn != conn) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        sw->warned_conn = conn;
        n_unknown_dpids++;
        VLOG_WARN_RL(&rl, "%s: datapath id %016"PRIx64" is no site's: "
                     "nothing installed", ofctrl_get_name(sw->ofctrl), dpid);
    }
    return NULL;
}

/* The services whose new connections the controller decides, in id order,
 * for the switches' leased pick flows.  What a pick flow holds (service
 * id, VIP, port, protocol, decide=) changes only with the catalog's
 * membership seqno, not with the weights.  Returns true if the list was
 * rebuilt. */
static bool
refresh_picks(void)
{
    struct cats_service **svcs;
    size_t n_svcs;

    if (picks_membership == catalog.membership_seqno && picks_built) {
        return false;
    }
    n_picks = 0;
    svcs = cats_catalog_sorted_services(&catalog, &n_svcs);
    picks = xrealloc(picks, (n_svcs ? n_svcs : 1) * sizeof *picks);
    for (size_t i = 0; i < n_svcs; i++) {
        const struct cats_service *svc = svcs[i];

        if (svc->decide == CATS_DECIDE_CONNECTION
            && svc->proto == IPPROTO_TCP) {
            picks[n_picks++] = (struct pinctrl_pick_service) {
                .service_id = svc->id,
                .vip = svc->vip,
                .port = svc->port,
            };
        }
    }
    free(svcs);
    picks_membership = catalog.membership_seqno;
    picks_built = true;
    return true;
}

/* The reconfiguration latency of the ovs-appctl commands that change the
 * catalog (cats/latency): from the change to every connected switch
 * confirming it. */
static void
latency_run(void)
{
    if (change_pending_since && models_built(catalog.seqno)
        && all_switches_synced(NULL)) {
        latency_samples[n_latency_samples++ % LATENCY_SAMPLES]
            = time_usec() - change_pending_since;
        change_pending_since = 0;
    }
}

static void
commands_run(struct unixctl_server *unixctl)
{
    uint64_t seqno_before = catalog.seqno;

    unixctl_server_run(unixctl);
    if (catalog.seqno != seqno_before && !change_pending_since) {
        change_pending_since = time_usec();
    }
}

/* Switches. */

/* Adds a switch connection on 'rconn', taking ownership of it.  It gets
 * the current pick list once it is bound to its site. */
static void
switch_add(struct rconn *rconn, bool passive)
{
    struct ofctrl_config cfg = {
        .pipeline = &pipeline,
        .role = role,
        .generation_id = generation_id,
        .stats_interval_ms = stats_interval_ms,
        .probe_interval_ms = probe_interval_ms,
        .decider = {
            .pick = decider_pick,
            .ended = decider_ended,
        },
    };
    struct switch_conn *sw = xzalloc(sizeof *sw);

    cfg.decider.aux = sw;
    sw->ofctrl = ofctrl_create(rconn, passive, &cfg);
    sw->stats = ofctrl_get_statctrl(sw->ofctrl);
    sw->pins = ofctrl_get_pinctrl(sw->ofctrl);
    ovs_list_push_back(&switches, &sw->node);
}

static void
switch_remove(struct switch_conn *sw)
{
    ovs_list_remove(&sw->node);
    ofctrl_destroy(sw->ofctrl);
    free(sw);
}

/* Opens switch connection 'name' from the command line: a switch to
 * connect to, or a listener. */
static void
open_switch(const char *name)
{
    uint32_t versions = 1u << OFP15_VERSION;
    struct pvconn *pvconn;
    int retval;

    if (!vconn_verify_name(name)) {
        struct rconn *rconn;

        if (ovs_list_size(&switches) >= MAX_SWITCHES) {
            ovs_fatal(0, "at most %d switch connections", MAX_SWITCHES);
        }
        rconn = rconn_create(inactivity_probe_s, max_backoff_s, DSCP_DEFAULT,
                             versions);
        rconn_connect(rconn, name, name);
        switch_add(rconn, false);
        return;
    }

    retval = pvconn_open(name, versions, DSCP_DEFAULT, &pvconn);
    if (retval) {
        ovs_fatal(retval, "%s: not a usable switch connection (expected "
                  "tcp:IP[:PORT], unix:FILE, ssl:IP[:PORT], ptcp:[PORT][:IP], "
                  "punix:FILE or pssl:[PORT][:IP])", name);
    }
    if (n_listeners >= MAX_LISTENERS) {
        ovs_fatal(0, "at most %d listeners", MAX_LISTENERS);
    }
    listeners[n_listeners++] = pvconn;
    VLOG_INFO("%s: listening for switches", name);
}

/* Accepts switches that connect to us. */
static void
listeners_run(void)
{
    for (size_t i = 0;
         i < n_listeners && ovs_list_size(&switches) < MAX_SWITCHES; ) {
        struct vconn *vconn;
        int retval = pvconn_accept(listeners[i], &vconn);

        if (!retval) {
            struct rconn *rconn = rconn_create(inactivity_probe_s, 0,
                                               DSCP_DEFAULT,
                                               vconn_get_allowed_versions(
                                                   vconn));
            rconn_connect_unreliably(rconn, vconn, NULL);
            switch_add(rconn, true);
            VLOG_INFO("%s: accepted switch connection",
                      rconn_get_name(rconn));
        } else if (retval != EAGAIN) {
            VLOG_ERR("%s: accept failed (%s)", pvconn_get_name(
                         listeners[i]), ovs_strerror(retval));
            pvconn_close(listeners[i]);
            listeners[i] = listeners[--n_listeners];
            continue;
        }
        i++;
    }
}

/* OpenFlow 1.1 and later have no NO_FLOOD port flag (OVS masks a port
 * mod's config with OFPPC11_ALL), and the controller speaks 1.5 only: the
 * topology must make a site's path ports no-flood (two paths between two
 * bridges are a loop for NORMAL's flooding), with 'ovs-ofctl mod-port
 * BRIDGE PORT no-flood' over OpenFlow 1.0.  Says so once per binding. */
static void
log_path_ports(const struct switch_conn *sw, const struct site_model *sm)
{
    const ofp_port_t *ports;
    struct ds s = DS_EMPTY_INITIALIZER;
    size_t n;

    ports = cats_model_path_ports(&sm->model, &n);
    for (size_t i = 0; i < n; i++) {
        ds_put_format(&s, "%s%"PRIu16, i ? "," : "", ofp_to_u16(ports[i]));
    }
    VLOG_INFO("%s: site %s%s%s%s", ofctrl_get_name(sw->ofctrl), sm->name,
              n ? ", path ports " : "", ds_cstr(&s),
              n ? " (must be no-flood: ovs-ofctl mod-port BRIDGE PORT "
                  "no-flood)" : "");
    ds_destroy(&s);
}

/* Runs every switch connection toward its site's desired table, removes
 * the passive ones that died, and hands on what their polls found. */
static void
switches_run(void)
{
    uint64_t *gc_floor = xmalloc(n_site_models * sizeof *gc_floor);
    bool counters_polled = false;
    bool picks_changed = refresh_picks();
    struct switch_conn *sw;

    for (size_t i = 0; i < n_site_models; i++) {
        gc_floor[i] = site_models[i].desired.seqno;
    }
    LIST_FOR_EACH_SAFE (sw, node, &switches) {
        struct ofctrl *oc = sw->ofctrl;
        struct site_model *sm = switch_site(sw);

        if (sm != sw->sm) {
            if (sw->sm) {
                /* Another bridge on this connection, or its site changed:
                 * its table is another one. */
                ofctrl_resync(oc);
            }
            sw->sm = sm;
            picks_changed = picks_changed || sm;
            if (sm && sm->name) {
                log_path_ports(sw, sm);
            }
        }
        if (picks_changed && sm) {
            pinctrl_set_pick_services(sw->pins, picks, n_picks,
                                      sm->desired.seqno);
        }
        ofctrl_run(oc, sm ? &sm->desired : NULL, probes, n_probes);
        if (ofctrl_is_passive(oc) && !ofctrl_is_alive(oc)) {
            VLOG_INFO("%s: switch disconnected", ofctrl_get_name(oc));
            switch_remove(sw);
            continue;
        }
        if (statctrl_get_counters_seqno(sw->stats) != sw->counters_seen) {
            sw->counters_seen = statctrl_get_counters_seqno(sw->stats);
            counters_polled = true;
        }

        /* Port statistics: telemetry of our own switches. */
        size_t n_ports, n_queues;
        uint64_t ports_seqno, queues_seqno;
        const struct statctrl_port_stats *ports
            = statctrl_get_ports(sw->stats, &n_ports, &ports_seqno);
        if (ports_seqno != sw->ports_seen) {
            const struct statctrl_queue_stats *queues
                = statctrl_get_queues(sw->stats, &n_queues, &queues_seqno);

            sw->ports_seen = ports_seqno;
            agents_switch_ports(ofctrl_get_name(oc), ports, n_ports,
                                queues, n_queues, ports_seqno,
                                ofctrl_get_connection_seqno(oc));
        }
        if (sw->sm) {
            size_t i = sw->sm - site_models;

            gc_floor[i] = MIN(gc_floor[i], ofctrl_get_gc_floor(oc));
        }
    }
    for (size_t i = 0; i < n_site_models; i++) {
        cats_desired_gc(&site_models[i].desired, gc_floor[i]);
    }
    free(gc_floor);
    if (counters_polled) {
        steer_counts(instance_count, time_msec());
    }
}

static void
switches_wait(void)
{
    struct switch_conn *sw;

    LIST_FOR_EACH (sw, node, &switches) {
        ofctrl_wait(sw->ofctrl);
    }
}

/* Start-up and main loop. */

int
main(int argc, char *argv[])
{
    struct unixctl_server *unixctl;

    ovs_cmdl_proctitle_init(argc, argv);
    set_program_name(argv[0]);
    service_start(&argc, &argv);
    cats_pipeline_config_default(&pipeline);
    agents_config_init(&agents_cfg);
    parse_options(argc, argv);
    if (!generation_id) {
        /* A controller started later takes over as primary. */
        generation_id = time_wall_msec();
    }
    fatal_ignore_sigpipe();

    cats_catalog_init(&catalog);
    if (config_file) {
        struct cats_catalog loaded;
        char *error;

        cats_catalog_init(&loaded);
        error = cats_config_parse_file(&loaded, config_file);
        if (error) {
            ovs_fatal(0, "%s", error);
        }
        cats_catalog_sync(&catalog, &loaded);
        cats_catalog_destroy(&loaded);
    }
    if (argc - optind < 1) {
        ovs_fatal(0, "at least one switch connection is required "
                  "(e.g. punix:/var/run/openvswitch/cats.sock); "
                  "use --help for usage");
    }
    site_models_refresh();

    daemonize_start(false);
    /* After daemonizing: the gRPC thread must run in the daemon. */
    agents_init(&agents_cfg, &catalog);
    for (int i = optind; i < argc; i++) {
        open_switch(argv[i]);
    }
    if (ovs_list_is_empty(&switches) && !n_listeners) {
        ovs_fatal(0, "no usable switch connection");
    }
    if (unixctl_server_create(unixctl_path, &unixctl)) {
        exit(EXIT_FAILURE);
    }
    register_commands();
    agents_register_commands();
    daemonize_complete();
    VLOG_INFO("cats-controller started: %"PRIuSIZE" services, "
              "%"PRIuSIZE" switch connections, %"PRIuSIZE" listeners",
              cats_catalog_count(&catalog), ovs_list_size(&switches),
              n_listeners);

    long long int next_listen = LLONG_MIN;
    while (!exiting) {
        /* Listening sockets and ovs-appctl at most every LISTEN_POLL_MS
         * while the loop is busy (see there). */
        bool listen_due = time_msec() >= next_listen;
        if (listen_due) {
            next_listen = time_msec() + LISTEN_POLL_MS;
            listeners_run();
        }

        /* Load reports set the weights in use before the model reads
         * them. */
        agents_run(&catalog);
        if (models_run()) {
            COVERAGE_INC(cats_catalog_change);
        }
        update_probes();
        switches_run();
        run_sync_waiters();
        latency_run();
        if (listen_due) {
            commands_run(unixctl);
        }

        if (listen_due) {
            for (size_t i = 0; i < n_listeners; i++) {
                pvconn_wait(listeners[i]);
            }
            unixctl_server_wait(unixctl);
        } else {
            poll_timer_wait_until(next_listen);
        }
        switches_wait();
        if (!ovs_list_is_empty(&sync_waiters)) {
            poll_timer_wait(100);
        }
        if (!models_built(catalog.seqno) || exiting) {
            poll_immediate_wake();
        }
        agents_wait();
        poll_block();
    }

    struct sync_waiter *w;
    LIST_FOR_EACH_POP (w, node, &sync_waiters) {
        unixctl_command_reply_error(w->conn, "controller exiting");
        free(w);
    }
    unixctl_server_destroy(unixctl);
    agents_destroy();
    struct switch_conn *sw;
    LIST_FOR_EACH_SAFE (sw, node, &switches) {
        switch_remove(sw);
    }
    for (size_t i = 0; i < n_listeners; i++) {
        pvconn_close(listeners[i]);
    }
    site_models_destroy();
    cats_catalog_destroy(&catalog);
    free(picks);
    free(probes);
    service_stop();
    return 0;
}

static int
compare_probe_ip(const void *a_, const void *b_)
{
    const struct pinctrl_probe *a = a_, *b = b_;
    uint32_t x = ntohl(a->ip), y = ntohl(b->ip);

    return x < y ? -1 : x > y;
}

/* Recomputes the ARP probe list when the catalog changes. */
static void
update_probes(void)
{
    const struct cats_service *s;
    size_t allocated = 0, n = 0;

    if (probes_seqno == catalog.membership_seqno) {
        return;
    }
    probes_seqno = catalog.membership_seqno;
    free(probes);
    probes = NULL;
    HMAP_FOR_EACH (s, node, &catalog.services) {
        const struct cats_instance *inst;

        HMAP_FOR_EACH (inst, node, &s->instances) {
            if (!inst->has_mac) {
                if (n >= allocated) {
                    probes = x2nrealloc(probes, &allocated, sizeof *probes);
                }
                probes[n++] = (struct pinctrl_probe) { s->vip, inst->ip };
            }
        }
    }

    /* One probe per instance IP, whichever VIP it asks as. */
    if (n) {
        qsort(probes, n, sizeof *probes, compare_probe_ip);
    }
    n_probes = 0;
    for (size_t i = 0; i < n; i++) {
        if (!n_probes || probes[n_probes - 1].ip != probes[i].ip) {
            probes[n_probes++] = probes[i];
        }
    }

    struct switch_conn *sw;
    LIST_FOR_EACH (sw, node, &switches) {
        pinctrl_probe_now(sw->pins);
    }
}

/* cats/sync. */

/* Has every connected switch confirmed its site's desired table?  A
 * bridge whose datapath id names no site has nothing to confirm. */
static bool
all_switches_synced(struct ds *why)
{
    const struct switch_conn *sw;
    size_t n_connected = 0;
    bool ok = true;

    LIST_FOR_EACH (sw, node, &switches) {
        const struct ofctrl *oc = sw->ofctrl;
        uint64_t target, dpid;

        if (!ofctrl_is_connected(oc)) {
            continue;
        }
        n_connected++;
        if (!sw->sm) {
            if (!ofctrl_get_datapath_id(oc, &dpid)) {
                ok = false;
                if (why) {
                    ds_put_format(why, "%s has not told its datapath id; ",
                                  ofctrl_get_name(oc));
                }
            }
            continue;
        }
        target = sw->sm->desired.seqno;
        if (ofctrl_get_installed_seqno(oc) < target) {
            ok = false;
            if (why) {
                ds_put_format(why, "%s has confirmed seqno %"PRIu64" of "
                              "%"PRIu64"; ", ofctrl_get_name(oc),
                              ofctrl_get_installed_seqno(oc), target);
            }
        }
    }
    if (!n_connected) {
        if (why) {
            ds_put_cstr(why, "no switch is connected; ");
        }
        return false;
    }
    return ok;
}

static void
run_sync_waiters(void)
{
    long long int now = time_msec();
    struct sync_waiter *w;

    LIST_FOR_EACH_SAFE (w, node, &sync_waiters) {
        if (models_built(w->catalog_seqno) && all_switches_synced(NULL)) {
            unixctl_command_reply(w->conn, NULL);
        } else if (now >= w->deadline) {
            struct ds why = DS_EMPTY_INITIALIZER;

            ds_put_cstr(&why, "timed out waiting for switches: ");
            all_switches_synced(&why);
            unixctl_command_reply_error(w->conn, ds_cstr(&why));
            ds_destroy(&why);
        } else {
            continue;
        }
        ovs_list_remove(&w->node);
        free(w);
    }
}

static void
cmd_sync(struct unixctl_conn *conn, int argc, const char *argv[],
         void *aux OVS_UNUSED)
{
    struct sync_waiter *w;
    int timeout = DEFAULT_SYNC_TIMEOUT_MS;

    if (argc > 1 && (!str_to_int(argv[1], 10, &timeout) || timeout <= 0)) {
        unixctl_command_reply_error(conn, "timeout must be a positive number "
                                    "of milliseconds");
        return;
    }
    w = xmalloc(sizeof *w);
    w->conn = conn;
    w->catalog_seqno = catalog.seqno;
    w->deadline = time_msec() + timeout;
    ovs_list_push_back(&sync_waiters, &w->node);
}

/* Commands. */

static void
reply_error(struct unixctl_conn *conn, char *error)
{
    n_command_errors++;
    unixctl_command_reply_error(conn, error);
    free(error);
}

static void
cmd_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
         const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    exiting = true;
    unixctl_command_reply(conn, NULL);
}

static void
cmd_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
         const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    ds_put_format(&s, "catalog: %"PRIuSIZE" services, seqno %"PRIu64"\n",
                  cats_catalog_count(&catalog), catalog.seqno);
    for (size_t i = 0; i < n_site_models; i++) {
        const struct cats_desired *d = &site_models[i].desired;

        if (site_models[i].name) {
            ds_put_format(&s, "site %s dpid=%016"PRIx64" ",
                          site_models[i].name, site_models[i].dpid);
        }
        ds_put_format(&s, "desired: seqno %"PRIu64", %"PRIuSIZE" flows, "
                      "%"PRIuSIZE" groups, %"PRIuSIZE" conflicts\n",
                      d->seqno, d->n_live_flows, d->n_live_groups,
                      d->n_conflicts);
    }
    ds_put_format(&s, "errors: config %"PRIu64", commands %"PRIu64"\n",
                  n_config_errors, n_command_errors);
    ds_put_format(&s, "path policy: %s\n",
                  steer_path_policy_name(steer_get_path_policy()));
    if (site_models[0].name) {
        ds_put_format(&s, "unknown datapath ids: %"PRIu64"\n",
                      n_unknown_dpids);
    }
    for (size_t i = 0; i < n_listeners; i++) {
        ds_put_format(&s, "listening: %s\n", pvconn_get_name(listeners[i]));
    }
    const struct switch_conn *sw;
    LIST_FOR_EACH (sw, node, &switches) {
        ds_put_cstr(&s, "switch ");
        ofctrl_format(sw->ofctrl, &s);
        if (site_models[0].name) {
            ds_put_format(&s, "  site: %s\n",
                          sw->sm ? sw->sm->name : "none");
        }
    }
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* New connections to 'sid''s instance ip:port, summed over the switches
 * of site 'site' (NULL: all) that count them: '*packets' in all, '*since'
 * since the service's weights last changed.  Returns false if no switch
 * counts them. */
static bool
switch_counts(uint32_t sid, ovs_be32 ip, uint16_t port,
              const struct cats_site *site, uint64_t *packets,
              uint64_t *since)
{
    const struct switch_conn *sw;
    bool any = false;

    *packets = *since = 0;
    LIST_FOR_EACH (sw, node, &switches) {
        const struct statctrl_counter *c;

        if (site && (!sw->sm || !sw->sm->name
                     || strcmp(sw->sm->name, site->name))) {
            continue;
        }
        c = statctrl_get_counter(sw->stats, sid, ip, port);
        if (c) {
            *packets += c->packets;
            *since += c->packets - c->base;
            any = true;
        }
    }
    return any;
}

/* Realized new connections of 's' to ip:port since the service's weights
 * last changed; '*total' is the same over all of its instances. */
static void
realized_counts(const struct cats_service *s, ovs_be32 ip, uint16_t port,
                uint64_t *count, uint64_t *total)
{
    const struct cats_instance *inst;
    uint64_t packets, n;

    *count = *total = 0;
    HMAP_FOR_EACH (inst, node, &s->instances) {
        switch_counts(s->id, inst->ip, inst->port, NULL, &packets, &n);
        *total += n;
        if (inst->ip == ip && inst->port == port) {
            *count += n;
        }
    }
}

/* New connections to 'inst' counted so far by every connected switch of
 * site 'site' (NULL: all). */
static bool
instance_count(const struct cats_instance *inst, const struct cats_site *site,
               uint64_t *count)
{
    uint64_t since;

    return switch_counts(inst->service->id, inst->ip, inst->port, site,
                         count, &since);
}

static void
format_service(const struct cats_service *s, struct ds *out)
{
    struct cats_instance **insts;
    uint16_t *weights;
    unsigned int *slots;
    uint64_t total_weight = 0;
    size_t n;

    insts = cats_service_sorted_instances(s, &n);
    weights = xmalloc((n + 1) * sizeof *weights);
    slots = xmalloc((n + 1) * sizeof *slots);
    for (size_t i = 0; i < n; i++) {
        weights[i] = insts[i]->weight;
        total_weight += weights[i];
    }
    cats_apportion(weights, n, CATS_SLOTS, slots);

    ds_put_format(out, "service %s "IP_FMT":%"PRIu16"/%s id=%"PRIu32
                  " group=%#"PRIx32" instances=%"PRIuSIZE"\n",
                  s->name, IP_ARGS(s->vip), s->port, cats_proto_name(s->proto),
                  s->id, cats_model_group_id(&site_models[0].model, s->id), n);
    for (size_t i = 0; i < n; i++) {
        const struct cats_instance *inst = insts[i];
        uint64_t count, total;

        realized_counts(s, inst->ip, inst->port, &count, &total);
        ds_put_format(out, "  instance "IP_FMT":%"PRIu16" weight=%"PRIu16
                      " slots=%u/%d intended=%.2f%% new_conns=%"PRIu64
                      " realized=", IP_ARGS(inst->ip), inst->port,
                      inst->weight, slots[i], CATS_SLOTS,
                      total_weight ? 100.0 * inst->weight / total_weight : 0.0,
                      count);
        if (total) {
            ds_put_format(out, "%.2f%%", 100.0 * count / total);
        } else {
            ds_put_cstr(out, "-");
        }
        ds_put_format(out, " state=%s", inst->weight ? "active" : "drained");
        agents_format_instance(inst, out);
        if (inst->has_mac) {
            ds_put_format(out, " mac="ETH_ADDR_FMT, ETH_ADDR_ARGS(inst->mac));
        }
        ds_put_char(out, '\n');
    }
    free(weights);
    free(slots);
    free(insts);
}

static void
cmd_services(struct unixctl_conn *conn, int argc, const char *argv[],
             void *aux OVS_UNUSED)
{
    struct ds s = DS_EMPTY_INITIALIZER;

    if (argc > 1) {
        const struct cats_service *svc = cats_catalog_find(&catalog, argv[1]);
        if (!svc) {
            reply_error(conn, xasprintf("unknown service '%s'", argv[1]));
            return;
        }
        format_service(svc, &s);
    } else {
        struct cats_service **svcs;
        size_t n;

        svcs = cats_catalog_sorted_services(&catalog, &n);
        for (size_t i = 0; i < n; i++) {
            format_service(svcs[i], &s);
        }
        free(svcs);
    }
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

static void
cmd_dump_flows(struct unixctl_conn *conn, int argc, const char *argv[],
               void *aux OVS_UNUSED)
{
    const char *which = argc > 1 ? argv[1] : "desired";
    struct ds s = DS_EMPTY_INITIALIZER;

    if (!strcmp(which, "desired")) {
        size_t n_shown = 0;

        for (size_t i = 0; i < n_site_models; i++) {
            const struct site_model *sm = &site_models[i];

            if (argc > 2 && (!sm->name || strcmp(argv[2], sm->name))) {
                continue;
            }
            if (sm->name) {
                ds_put_format(&s, "site %s:\n", sm->name);
            }
            cats_desired_format(&sm->desired, &s);
            n_shown++;
        }
        if (argc > 2 && !n_shown) {
            ds_destroy(&s);
            reply_error(conn, xasprintf("unknown site '%s'", argv[2]));
            return;
        }
    } else if (!strcmp(which, "installed")) {
        const struct switch_conn *sw;
        size_t n_shown = 0;

        LIST_FOR_EACH (sw, node, &switches) {
            const struct ofctrl *oc = sw->ofctrl;

            if (argc > 2 && strcmp(argv[2], ofctrl_get_name(oc))) {
                continue;
            }
            ds_put_format(&s, "switch %s:\n", ofctrl_get_name(oc));
            cats_installed_format(ofctrl_get_installed(oc), &s);
            n_shown++;
        }
        if (argc > 2 && !n_shown) {
            ds_destroy(&s);
            reply_error(conn, xasprintf("unknown switch '%s' (see cats/show)",
                                        argv[2]));
            return;
        }
    } else {
        ds_destroy(&s);
        reply_error(conn, xasprintf("'%s': expected desired or installed",
                                    which));
        return;
    }
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

static char *
find_instance(const char *service, const char *addr,
              struct cats_instance **instp)
{
    struct cats_service *s = cats_catalog_find(&catalog, service);
    uint16_t port;
    ovs_be32 ip;
    char *error;

    if (!s) {
        return xasprintf("unknown service '%s'", service);
    }
    error = cats_parse_ip_port(addr, &ip, &port);
    if (error) {
        return error;
    }
    *instp = cats_instance_find(s, ip, port);
    if (!*instp) {
        return xasprintf("service %s has no instance %s", service, addr);
    }
    return NULL;
}

/* cats/set-weight, and cats/drain if 'drain' is nonnull. */
static void
cmd_set_weight(struct unixctl_conn *conn, int argc OVS_UNUSED,
               const char *argv[], void *drain)
{
    struct cats_instance *inst;
    unsigned int weight = 0;
    char *error;

    error = find_instance(argv[1], argv[2], &inst);
    if (error) {
        reply_error(conn, error);
        return;
    }
    if (!drain
        && (!str_to_uint(argv[3], 10, &weight) || weight > CATS_WEIGHT_MAX)) {
        reply_error(conn, xasprintf("weight '%s' is not an integer between "
                                    "0 and %d", argv[3], CATS_WEIGHT_MAX));
        return;
    }
    cats_instance_set_weight(&catalog, inst, weight);
    if (drain) {
        VLOG_INFO("service %s instance %s: drained", argv[1], argv[2]);
    } else {
        VLOG_INFO("service %s instance %s: weight %u", argv[1], argv[2],
                  weight);
    }
    unixctl_command_reply(conn, NULL);
}

/* cats/service-add and cats/instance-add: runs one configuration
 * statement made of 'keyword' and argv[1...]. */
static void
cmd_statement(struct unixctl_conn *conn, int argc, const char *argv[],
              void *keyword)
{
    struct ds line = DS_EMPTY_INITIALIZER;
    char *error;

    ds_put_cstr(&line, keyword);
    for (int i = 1; i < argc; i++) {
        ds_put_format(&line, " %s", argv[i]);
    }
    error = cats_config_parse_line(&catalog, ds_cstr(&line));
    if (error) {
        reply_error(conn, error);
    } else {
        VLOG_INFO("%s", ds_cstr(&line));
        unixctl_command_reply(conn, NULL);
    }
    ds_destroy(&line);
}

static void
cmd_service_del(struct unixctl_conn *conn, int argc OVS_UNUSED,
                const char *argv[], void *aux OVS_UNUSED)
{
    struct cats_service *s = cats_catalog_find(&catalog, argv[1]);

    if (!s) {
        reply_error(conn, xasprintf("unknown service '%s'", argv[1]));
        return;
    }
    cats_service_remove(&catalog, s);
    VLOG_INFO("service %s removed", argv[1]);
    unixctl_command_reply(conn, NULL);
}

static void
cmd_instance_del(struct unixctl_conn *conn, int argc OVS_UNUSED,
                 const char *argv[], void *aux OVS_UNUSED)
{
    struct cats_instance *inst;
    char *error;

    error = find_instance(argv[1], argv[2], &inst);
    if (error) {
        reply_error(conn, error);
        return;
    }
    cats_instance_remove(&catalog, inst);
    VLOG_INFO("service %s instance %s removed", argv[1], argv[2]);
    unixctl_command_reply(conn, NULL);
}

static void
cmd_reload(struct unixctl_conn *conn, int argc OVS_UNUSED,
           const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct cats_catalog loaded;
    char *error;

    error = agents_reload_acl();
    if (error) {
        n_config_errors++;
        COVERAGE_INC(cats_config_error);
        VLOG_WARN("reload failed, keeping the running access list: %s",
                  error);
        reply_error(conn, error);
        return;
    }
    if (!config_file) {
        unixctl_command_reply(conn, NULL);
        return;
    }
    cats_catalog_init(&loaded);
    error = cats_config_parse_file(&loaded, config_file);
    if (error) {
        /* Nothing running changes. */
        n_config_errors++;
        COVERAGE_INC(cats_config_error);
        VLOG_WARN("reload failed, keeping the running catalog: %s", error);
        reply_error(conn, error);
    } else {
        uint64_t before = catalog.seqno;

        cats_catalog_sync(&catalog, &loaded);
        VLOG_INFO("%s: reloaded, %"PRIuSIZE" services (%s)", config_file,
                  cats_catalog_count(&catalog),
                  catalog.seqno != before ? "changed" : "unchanged");
        unixctl_command_reply(conn, NULL);
    }
    cats_catalog_destroy(&loaded);
}

static int
compare_llong(const void *a_, const void *b_)
{
    const long long int *a = a_, *b = b_;

    return *a < *b ? -1 : *a > *b;
}

static void
cmd_latency(struct unixctl_conn *conn, int argc, const char *argv[],
            void *aux OVS_UNUSED)
{
    size_t n = MIN(n_latency_samples, LATENCY_SAMPLES);
    struct ds s = DS_EMPTY_INITIALIZER;
    long long int *sorted;

    if (argc > 1) {
        if (strcmp(argv[1], "reset")) {
            reply_error(conn, xasprintf("'%s': expected reset", argv[1]));
            return;
        }
        n_latency_samples = 0;
        unixctl_command_reply(conn, NULL);
        return;
    }
    ds_put_format(&s, "samples=%"PRIuSIZE, n);
    if (n) {
        sorted = xmemdup(latency_samples, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, compare_llong);
#define PCT(P) (sorted[MIN(n - 1, (size_t) ((P) / 100.0 * n))] / 1000.0)
        ds_put_format(&s, " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f",
                      PCT(50), PCT(90), PCT(99), sorted[n - 1] / 1000.0);
#undef PCT
        free(sorted);
    }
    ds_put_char(&s, '\n');
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

static void
register_commands(void)
{
    unixctl_command_register("exit", "", 0, 0, cmd_exit, NULL);
    unixctl_command_register("cats/show", "", 0, 0, cmd_show, NULL);
    unixctl_command_register("cats/services", "[SERVICE]", 0, 1,
                             cmd_services, NULL);
    unixctl_command_register("cats/dump-flows",
                             "[desired [SITE]|installed [SWITCH]]",
                             0, 2, cmd_dump_flows, NULL);
    unixctl_command_register("cats/set-weight", "SERVICE IP:PORT WEIGHT",
                             3, 3, cmd_set_weight, NULL);
    unixctl_command_register("cats/drain", "SERVICE IP:PORT", 2, 2,
                             cmd_set_weight, "drain");
    unixctl_command_register("cats/service-add",
                             "NAME vip=IP port=PORT [proto=tcp|udp]",
                             1, 4, cmd_statement, "service");
    unixctl_command_register("cats/service-del", "NAME", 1, 1,
                             cmd_service_del, NULL);
    unixctl_command_register("cats/instance-add",
                             "SERVICE IP:PORT [weight=N] [mac=MAC] "
                             "[site=SITE] [path=LINK]",
                             2, 6, cmd_statement, "instance");
    unixctl_command_register("cats/site-add", "NAME dpid=HEX", 2, 2,
                             cmd_statement, "site");
    unixctl_command_register("cats/path-add",
                             "NAME SITE1:PORT SITE2:PORT link=ID[,ID...] "
                             "[delay_ms=N]",
                             4, 5, cmd_statement, "path");
    unixctl_command_register("cats/instance-del", "SERVICE IP:PORT", 2, 2,
                             cmd_instance_del, NULL);
    unixctl_command_register("cats/reload", "", 0, 0, cmd_reload, NULL);
    unixctl_command_register("cats/sync", "[TIMEOUT_MS]", 0, 1, cmd_sync,
                             NULL);
    unixctl_command_register("cats/latency", "[reset]", 0, 1, cmd_latency,
                             NULL);
}

/* Options. */

static int
parse_int_option(const char *name, const char *arg, int min, int max)
{
    int x;

    if (!str_to_int(arg, 0, &x) || x < min || x > max) {
        ovs_fatal(0, "--%s: '%s' is not an integer between %d and %d",
                  name, arg, min, max);
    }
    return x;
}

static void
parse_options(int argc, char *argv[])
{
    enum {
        OPT_CONFIG = UCHAR_MAX + 1,
        OPT_UNIXCTL,
        OPT_ZONE,
        OPT_TABLE,
        OPT_COOKIE,
        OPT_GROUP_BASE,
        OPT_STATS_INTERVAL,
        OPT_PROBE_INTERVAL,
        OPT_INACTIVITY_PROBE,
        OPT_MAX_BACKOFF,
        OPT_NO_DEFAULT_FLOWS,
        OPT_ROLE,
        OPT_GENERATION_ID,
        OPT_PEER_CA_CERT,
        OPT_GRPC_LISTEN,
        OPT_GRPC_CERT,
        OPT_GRPC_KEY,
        OPT_GRPC_CA,
        OPT_GRPC_INSECURE,
        OPT_AGENT_ACL,
        OPT_AGENT_ALLOW,
        OPT_AGENT_LEASE,
        OPT_AGENT_INTERVAL,
        OPT_AGENT_MAX_RATE,
        OPT_AGENT_STREAM_RATE,
        OPT_AGENT_ACK_INTERVAL,
        OPT_PICK_WAIT_FACTOR,
        OPT_PATH_POLICY,
        VLOG_OPTION_ENUMS,
        DAEMON_OPTION_ENUMS,
        SSL_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"unixctl", required_argument, NULL, OPT_UNIXCTL},
        {"zone", required_argument, NULL, OPT_ZONE},
        {"table", required_argument, NULL, OPT_TABLE},
        {"cookie", required_argument, NULL, OPT_COOKIE},
        {"group-base", required_argument, NULL, OPT_GROUP_BASE},
        {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
        {"arp-probe-interval", required_argument, NULL, OPT_PROBE_INTERVAL},
        {"inactivity-probe", required_argument, NULL, OPT_INACTIVITY_PROBE},
        {"max-backoff", required_argument, NULL, OPT_MAX_BACKOFF},
        {"no-default-flows", no_argument, NULL, OPT_NO_DEFAULT_FLOWS},
        {"role", required_argument, NULL, OPT_ROLE},
        {"generation-id", required_argument, NULL, OPT_GENERATION_ID},
        {"grpc-listen", required_argument, NULL, OPT_GRPC_LISTEN},
        {"grpc-cert", required_argument, NULL, OPT_GRPC_CERT},
        {"grpc-key", required_argument, NULL, OPT_GRPC_KEY},
        {"grpc-ca", required_argument, NULL, OPT_GRPC_CA},
        {"grpc-insecure", no_argument, NULL, OPT_GRPC_INSECURE},
        {"agent-acl", required_argument, NULL, OPT_AGENT_ACL},
        {"agent-allow", required_argument, NULL, OPT_AGENT_ALLOW},
        {"agent-lease", required_argument, NULL, OPT_AGENT_LEASE},
        {"agent-report-interval", required_argument, NULL,
         OPT_AGENT_INTERVAL},
        {"agent-max-rate", required_argument, NULL, OPT_AGENT_MAX_RATE},
        {"agent-stream-rate", required_argument, NULL,
         OPT_AGENT_STREAM_RATE},
        {"agent-ack-interval", required_argument, NULL,
         OPT_AGENT_ACK_INTERVAL},
        {"pick-wait-factor", required_argument, NULL, OPT_PICK_WAIT_FACTOR},
        {"path-policy", required_argument, NULL, OPT_PATH_POLICY},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        DAEMON_LONG_OPTIONS,
        VLOG_LONG_OPTIONS,
        STREAM_SSL_LONG_OPTIONS,
        {"peer-ca-cert", required_argument, NULL, OPT_PEER_CA_CERT},
        {NULL, 0, NULL, 0},
    };
    char *short_options = ovs_cmdl_long_options_to_short_options(long_options);

    for (;;) {
        unsigned long long int cookie;
        int c = getopt_long(argc, argv, short_options, long_options, NULL);

        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_CONFIG:
            config_file = optarg;
            break;

        case OPT_UNIXCTL:
            unixctl_path = optarg;
            break;

        case OPT_ZONE:
            pipeline.zone = parse_int_option("zone", optarg, 0, 65535);
            break;

        case OPT_TABLE:
            pipeline.table_base = parse_int_option("table", optarg, 0,
                                                    CATS_MAX_TABLE_BASE);
            break;

        case OPT_COOKIE:
            if (!str_to_ullong(optarg, 0, &cookie)
                || !(cookie >> 32) || (cookie & 0xffffffffULL)) {
                ovs_fatal(0, "--cookie: '%s' must be a 64-bit value whose "
                          "upper 32 bits are nonzero and lower 32 bits zero "
                          "(the lower bits carry the service id)", optarg);
            }
            pipeline.cookie = cookie;
            pipeline.learn_cookie = cookie + (1ULL << 48);
            pipeline.pick_cookie = cookie + (2ULL << 48);
            break;

        case OPT_GROUP_BASE:
            pipeline.group_base = parse_int_option("group-base", optarg, 0,
                                                   0x7fff0000);
            break;

        case OPT_STATS_INTERVAL:
            stats_interval_ms = parse_int_option("stats-interval", optarg,
                                                 0, 3600000);
            break;

        case OPT_PROBE_INTERVAL:
            probe_interval_ms = parse_int_option("arp-probe-interval",
                                                 optarg, 0, 3600000);
            break;

        case OPT_INACTIVITY_PROBE:
            inactivity_probe_s = parse_int_option("inactivity-probe", optarg,
                                                  5, 3600);
            break;

        case OPT_MAX_BACKOFF:
            max_backoff_s = parse_int_option("max-backoff", optarg, 1, 3600);
            break;

        case OPT_NO_DEFAULT_FLOWS:
            pipeline.default_normal = false;
            break;

        case OPT_ROLE:
            if (!strcmp(optarg, "primary")) {
                role = OFPCR12_ROLE_PRIMARY;
            } else if (!strcmp(optarg, "secondary")) {
                role = OFPCR12_ROLE_SECONDARY;
            } else if (!strcmp(optarg, "equal")) {
                role = OFPCR12_ROLE_EQUAL;
            } else {
                ovs_fatal(0, "--role: '%s' is not primary, secondary or "
                          "equal", optarg);
            }
            break;

        case OPT_GENERATION_ID:
            if (!str_to_ullong(optarg, 0, &cookie)) {
                ovs_fatal(0, "--generation-id: '%s' is not a 64-bit "
                          "integer", optarg);
            }
            generation_id = cookie;
            break;

        case 'h':
            usage();

        case 'V':
            printf("cats-controller (ovs-cats) 0.1, built on Open vSwitch "
                   "%s\n", VERSION);
            exit(EXIT_SUCCESS);

        VLOG_OPTION_HANDLERS
        DAEMON_OPTION_HANDLERS
        STREAM_SSL_OPTION_HANDLERS

        case OPT_PEER_CA_CERT:
            stream_ssl_set_peer_ca_cert_file(optarg);
            break;

        case OPT_GRPC_LISTEN:
            agents_cfg.grpc.listen = optarg;
            break;

        case OPT_GRPC_CERT:
            agents_cfg.grpc.tls_cert = optarg;
            break;

        case OPT_GRPC_KEY:
            agents_cfg.grpc.tls_key = optarg;
            break;

        case OPT_GRPC_CA:
            agents_cfg.grpc.tls_ca = optarg;
            break;

        case OPT_GRPC_INSECURE:
            agents_cfg.grpc.allow_insecure = true;
            break;

        case OPT_AGENT_ACL:
            agents_cfg.acl_file = optarg;
            break;

        case OPT_AGENT_ALLOW: {
            char *list = xstrdup(optarg), *save = NULL;

            for (char *cidr = strtok_r(list, ",", &save); cidr;
                 cidr = strtok_r(NULL, ",", &save)) {
                char *error = cats_report_policy_add_prefix(
                    &agents_cfg.defaults, cidr);
                if (error) {
                    ovs_fatal(0, "--agent-allow: %s", error);
                }
            }
            free(list);
            break;
        }

        case OPT_AGENT_LEASE:
            agents_cfg.metrics.lease_ms = parse_int_option(
                "agent-lease", optarg, 100, 3600000);
            break;

        case OPT_AGENT_INTERVAL:
            agents_cfg.metrics.report_interval_ms = parse_int_option(
                "agent-report-interval", optarg, 10, 3600000);
            break;

        case OPT_AGENT_MAX_RATE:
            agents_cfg.metrics.max_report_rate = parse_int_option(
                "agent-max-rate", optarg, 1, 1000000);
            break;

        case OPT_AGENT_STREAM_RATE:
            agents_cfg.grpc.max_stream_rate = parse_int_option(
                "agent-stream-rate", optarg, 1, 1000000);
            break;

        case OPT_AGENT_ACK_INTERVAL:
            /* At most 2,000: with the jitter acks may then be 2.5 s
             * apart, and agents restart a stream after 5 s without one
             * (ACK_TIMEOUT_MIN_MS in controller/agent/agent-client.c). */
            agents_cfg.grpc.ack_interval_ms = parse_int_option(
                "agent-ack-interval", optarg, 0, 2000);
            break;

        case OPT_PICK_WAIT_FACTOR: {
            char *end;
            double a = strtod(optarg, &end);

            if (end == optarg || *end || !(a >= 1 && a <= 100)) {
                ovs_fatal(0, "--pick-wait-factor: '%s' is not a number "
                          "from 1 to 100", optarg);
            }
            steer_set_conn_wait_factor(a);
            break;
        }

        case OPT_PATH_POLICY: {
            enum steer_path_policy p;

            if (!steer_path_policy_from_string(optarg, &p)) {
                ovs_fatal(0, "--path-policy: '%s' is not one of joint, "
                          "ecmp, nearest, lowest-delay", optarg);
            }
            steer_set_path_policy(p);
            break;
        }

        case '?':
            exit(EXIT_FAILURE);

        default:
            abort();
        }
    }
    free(short_options);

    if (agents_cfg.metrics.lease_ms < agents_cfg.metrics.report_interval_ms) {
        ovs_fatal(0, "--agent-lease (%u ms) must be at least the report "
                  "interval (%u ms)", agents_cfg.metrics.lease_ms,
                  agents_cfg.metrics.report_interval_ms);
    }
    if (!agents_cfg.grpc.listen
        && (agents_cfg.grpc.tls_cert || agents_cfg.grpc.tls_key
            || agents_cfg.grpc.tls_ca || agents_cfg.acl_file)) {
        ovs_fatal(0, "--grpc-cert, --grpc-key, --grpc-ca and --agent-acl "
                  "need --grpc-listen");
    }
}

static void
usage(void)
{
    printf("%s: compute-aware traffic steering controller for Open vSwitch\n"
           "usage: %s [OPTIONS] SWITCH...\n"
           "\n"
           "SWITCH is where to find bridges, over OpenFlow 1.5:\n"
           "  punix:FILE | ptcp:[PORT][:IP] | pssl:[PORT][:IP]\n"
           "      listen; point bridges here with\n"
           "      ovs-vsctl set-controller BRIDGE unix:FILE (or tcp:...)\n"
           "  unix:FILE | tcp:IP[:PORT] | ssl:IP[:PORT]\n"
           "      connect to a bridge (e.g. unix:/var/run/openvswitch/"
           "BRIDGE.mgmt)\n"
           "Bridges should use fail-mode=secure, so that their flows survive\n"
           "a controller restart, and allow OpenFlow15.\n"
           "\n"
           "Catalog:\n"
           "  --config=FILE           services and instances, one statement\n"
           "                          per line (see README.md):\n"
           "                            service NAME vip=IP port=N "
           "[proto=tcp|udp]\n"
           "                            instance NAME IP:PORT [weight=N] "
           "[mac=MAC]\n"
           "\n"
           "Pipeline:\n"
           "  --table=N               first of the 5 tables used (default 0)\n"
           "  --zone=N                conntrack zone (default %d)\n"
           "  --cookie=C              cookie of our flows (default %#llx);\n"
           "                          flows with other cookies are left "
           "alone\n"
           "  --group-base=N          group ids are N + service id "
           "(default %#x)\n"
           "  --no-default-flows      do not install the priority-0 NORMAL "
           "flows\n"
           "\n"
           "High availability:\n"
           "  --role=ROLE             equal (default: no role request), "
           "primary, or\n"
           "                          secondary (connects, never writes)\n"
           "  --generation-id=N       primary election id (default: start "
           "time in ms)\n"
           "\n"
           "Timers:\n"
           "  --stats-interval=MS     group statistics poll (default 1000, "
           "0 off)\n"
           "  --arp-probe-interval=MS ARP for instance MACs (default 10000, "
           "0 off)\n"
           "  --inactivity-probe=S    OpenFlow echo interval (default 5)\n"
           "  --max-backoff=S         reconnect backoff cap for active "
           "connections (default 2)\n"
           "\n"
           "Agent API (gRPC, proto/cats.proto; off unless --grpc-listen):\n"
           "  --grpc-listen=ADDR      e.g. 127.0.0.1:50051, 0.0.0.0:50051, "
           "unix:PATH\n"
           "  --grpc-cert=FILE --grpc-key=FILE\n"
           "                          TLS (PEM); required off loopback "
           "unless\n"
           "  --grpc-insecure         plaintext on any address\n"
           "  --grpc-ca=FILE          mutual TLS: client CA; a node id must "
           "be a name\n"
           "                          in its client certificate\n"
           "  --agent-acl=FILE        allowed nodes, tokens and prefixes:\n"
           "                            node ID|* [token=T] "
           "[allow=CIDR[,CIDR...]]\n"
           "  --agent-allow=CIDR[,..] prefixes nodes may announce by "
           "default (any)\n"
           "  --agent-lease=MS        an instance leaves selection this "
           "long after\n"
           "                          its last report (default 3000)\n"
           "  --agent-report-interval=MS  wanted report interval "
           "(default 1000)\n"
           "  --agent-max-rate=N      reports/s per node (default: 10 per "
           "interval)\n"
           "  --agent-stream-rate=N   messages/s per stream before decoding "
           "(200)\n"
           "  --agent-ack-interval=MS one plain ack per stream about this "
           "often, plus up\n"
           "                          to a quarter at random (default 1000, "
           "at most 2000;\n"
           "                          errors go at once; 0: every report)\n"
           "  --pick-wait-factor=A    decide=connection: weight of a queued "
           "request's wait\n"
           "                          (default 2; 1: each connection's own "
           "delay only)\n"
           "  --path-policy=P         how an instance's share goes over its "
           "paths: joint\n"
           "                          (by cost, default), ecmp (equal), "
           "nearest (local\n"
           "                          site until full, then lowest delay), "
           "lowest-delay\n"
           "\n"
           "Daemon:\n"
           "  --unixctl=SOCKET        ovs-appctl control socket\n",
           program_name, program_name, CATS_DEFAULT_ZONE,
           (unsigned long long) CATS_DEFAULT_COOKIE, CATS_DEFAULT_GROUP_BASE);
    daemon_usage();
    vlog_usage();
    stream_usage("SWITCH", true, true, true);
    printf("\nOther options:\n"
           "  -h, --help              display this help message\n"
           "  -V, --version           display version information\n"
           "\nRun-time commands: "
           "ovs-appctl -t cats-controller list-commands\n");
    exit(EXIT_SUCCESS);
}

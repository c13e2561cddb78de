/*
 * ovs-cats: the controller's side of the agent API.  See agents.h.
 */

#include <config.h>

#include "agents.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cats/acl.h"
#include "cats/catalog.h"
#include "coverage.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "statctrl.h"
#include "packets.h"
#include "random.h"
#include "steer.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_agents);

COVERAGE_DEFINE(cats_agent_report);
COVERAGE_DEFINE(cats_agent_refused);

/* Events taken from the server per main-loop iteration, so that a flood
 * of reports cannot starve OpenFlow and ovs-appctl. */
#define MAX_EVENTS_PER_RUN 8192

/* Ingest latency histogram: received by the gRPC thread to applied here,
 * in buckets of BUCKET_US up to N_BUCKETS * BUCKET_US, plus overflow. */
#define BUCKET_US 10
#define N_BUCKETS 10000

static struct agents_config config;
static struct cats_grpc_server *server;
static struct cats_metrics_store store;
static struct cats_acl acl;
static struct cats_catalog *catalog;
static uint64_t policy_services_sig;    /* Catalog services when the
                                         * policy was built. */

/* Ingest latency. */
static uint64_t ingest_hist[N_BUCKETS + 1];
static uint64_t ingest_n;
static long long int ingest_max_ns;
static double ingest_sum_ms;

/* Counters since start (or cats/agent-stats-reset). */
static uint64_t n_registered, n_reports, n_telemetry, n_queries;
static uint64_t n_refused_store;
static long long int stats_since;

/* Telemetry, per source. */
struct telemetry_source {
    struct hmap_node hmap_node;
    char id[CATS_ID_MAX + 1];
    uint64_t seq;
    uint64_t epoch;
    long long int updated;              /* ms. */
    uint64_t n_reports;
    struct cats_report_telemetry cur;   /* Last accepted. */
    struct cats_report_telemetry prev;  /* The one before, same epoch. */
};

static struct hmap telemetry = HMAP_INITIALIZER(&telemetry);

void
agents_config_init(struct agents_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cats_grpc_server_options_init(&cfg->grpc);
    cfg->grpc.listen = NULL;
    cats_report_policy_init(&cfg->defaults);
    cats_metrics_config_init(&cfg->metrics);
}

/* Services changed (added or removed), as far as names go. */
static uint64_t
services_signature(const struct cats_catalog *cat)
{
    return hash_2words(hmap_count(&cat->services), cat->removal_seqno);
}

static void
update_policy(bool force)
{
    uint64_t sig = services_signature(catalog);

    if (server && (force || sig != policy_services_sig)) {
        policy_services_sig = sig;
        cats_grpc_server_set_policy(
            server, cats_grpc_policy_create(catalog, &acl, &config.defaults));
    }
}

void
agents_init(const struct agents_config *cfg, struct cats_catalog *cat)
{
    char *error;

    config = *cfg;
    catalog = cat;
    cats_metrics_init(&store, &config.metrics);
    cats_acl_init(&acl);
    steer_init();
    stats_since = time_msec();
    if (!config.grpc.listen) {
        return;
    }
    if (config.acl_file) {
        error = cats_acl_parse_file(&acl, config.acl_file);
        if (error) {
            ovs_fatal(0, "%s", error);
        }
    }
    policy_services_sig = services_signature(catalog);
    if (cats_grpc_server_start(&config.grpc,
                               cats_grpc_policy_create(catalog, &acl,
                                                       &config.defaults),
                               &server, &error)) {
        ovs_fatal(0, "%s", error);
    }
}

static void
telemetry_source_destroy(struct telemetry_source *ts)
{
    cats_report_telemetry_destroy(&ts->cur);
    cats_report_telemetry_destroy(&ts->prev);
    free(ts);
}

void
agents_destroy(void)
{
    struct telemetry_source *ts;

    cats_grpc_server_destroy(server);
    server = NULL;
    steer_destroy();
    cats_metrics_destroy(&store);
    cats_acl_destroy(&acl);
    HMAP_FOR_EACH_POP (ts, hmap_node, &telemetry) {
        telemetry_source_destroy(ts);
    }
}

char *
agents_reload_acl(void)
{
    struct cats_acl fresh;
    char *error;

    if (!config.acl_file) {
        return NULL;
    }
    cats_acl_init(&fresh);
    error = cats_acl_parse_file(&fresh, config.acl_file);
    if (error) {
        cats_acl_destroy(&fresh);
        return error;
    }
    cats_acl_destroy(&acl);
    acl = fresh;
    hmap_moved(&acl.nodes);
    update_policy(true);
    return NULL;
}

/* Events. */

static void
record_ingest(long long int recv_ns)
{
    long long int d = cats_grpc_now_ns() - recv_ns;
    size_t b;

    if (d < 0) {
        d = 0;
    }
    b = d / (BUCKET_US * 1000);
    ingest_hist[MIN(b, N_BUCKETS)]++;
    ingest_n++;
    ingest_sum_ms += d / 1e6;
    ingest_max_ns = MAX(ingest_max_ns, d);
}

/* The latency below which a fraction 'q' of samples fall, in ms: the
 * upper edge of the bucket (an overestimate by at most BUCKET_US). */
static double
ingest_quantile(double q)
{
    uint64_t rank, seen = 0;

    if (!ingest_n) {
        return 0.0;
    }
    rank = MAX(1, (uint64_t) (q * ingest_n + 0.999999));
    for (size_t b = 0; b < N_BUCKETS; b++) {
        seen += ingest_hist[b];
        if (seen >= rank) {
            return (b + 1) * BUCKET_US / 1000.0;
        }
    }
    return ingest_max_ns / 1e6;
}

static void
refused(int error, const char *message)
{
    COVERAGE_INC(cats_agent_refused);
    n_refused_store++;
    cats_grpc_server_count_refusal(server, error, message);
}

static void
handle_register(struct cats_grpc_event *ev, long long int now)
{
    uint64_t session;
    char *error_msg;
    int error;

    do {
        session = random_uint64();
    } while (!session);
    error = cats_metrics_register(&store, &ev->reg, session, now,
                                  &error_msg);
    if (error) {
        refused(error, error_msg);
        cats_grpc_reply_register(ev->call, error, error_msg, 0, 0, 0);
        free(error_msg);
        return;
    }
    n_registered++;
    VLOG_INFO("node %s registered (%s, %"PRIuSIZE" instances)",
              ev->reg.node_id, ev->reg.agent[0] ? ev->reg.agent : "-",
              ev->reg.n_instances);
    cats_grpc_reply_register(ev->call, 0, NULL, session,
                             store.cfg.lease_ms,
                             store.cfg.report_interval_ms);
}

static void
handle_report(struct cats_grpc_event *ev, long long int now)
{
    const struct cats_report_load *load = &ev->load;
    struct cats_report_ack ack = {
        .lease_ms = store.cfg.lease_ms,
        .report_interval_ms = store.cfg.report_interval_ms,
    };
    const struct cats_metrics_node *node;
    char *error_msg;
    int error;

    error = cats_metrics_report(&store, load, now, &node, &error_msg);
    record_ingest(ev->recv_ns);
    if (error) {
        refused(error, error_msg);
        if (error == ESTALE) {
            /* Unknown node or old session: the agent registers again. */
            cats_grpc_end(ev->call, error, error_msg);
        } else {
            ack.seq = node ? node->last_seq : 0;
            ack.error = error;
            ack.error_message = error_msg;
            ack.error_seq = load->seq;
            cats_grpc_ack(ev->call, &ack);
        }
        free(error_msg);
        return;
    }
    COVERAGE_INC(cats_agent_report);
    n_reports++;
    ack.seq = load->seq;
    cats_grpc_ack(ev->call, &ack);

    if (load->n_instances) {
        for (size_t i = 0; i < load->n_instances; i++) {
            const struct cats_report_key *k = &load->instances[i].key;
            const struct cats_metrics_instance *minst;

            minst = cats_metrics_find(&store, k->service, k->ip, k->port);
            if (minst) {
                steer_instance_report(minst, now);
            }
        }
    } else {
        const struct cats_metrics_instance *minst;

        LIST_FOR_EACH (minst, owner_node, &node->instances) {
            steer_instance_report(minst, now);
        }
    }
}

/* Applies telemetry report 't' (moved out of it on success) from a
 * remote source or from our own switches.  Returns 0, or an errno value
 * with a malloc'd message in '*errorp'; '*last_seq' is the source's last
 * accepted seq. */
static int
apply_telemetry(struct cats_report_telemetry *t, long long int now,
                uint64_t *last_seq, char **errorp)
{
    struct telemetry_source *ts = NULL, *s;
    uint32_t hash = hash_string(t->source_id, 0);

    *last_seq = 0;
    HMAP_FOR_EACH_WITH_HASH (s, hmap_node, hash, &telemetry) {
        if (!strcmp(s->id, t->source_id)) {
            ts = s;
            break;
        }
    }
    if (ts && ts->epoch == t->counters_epoch && t->seq <= ts->seq) {
        *last_seq = ts->seq;
        *errorp = xasprintf("seq %"PRIu64" is not above %"PRIu64", the "
                            "last accepted from '%s' in this counter "
                            "epoch", t->seq, ts->seq, ts->id);
        return EALREADY;
    }
    if (!ts) {
        if (hmap_count(&telemetry) >= store.cfg.max_nodes) {
            *errorp = xstrdup("too many telemetry sources");
            return ENOSPC;
        }
        ts = xzalloc(sizeof *ts);
        ovs_strlcpy(ts->id, t->source_id, sizeof ts->id);
        hmap_insert(&telemetry, &ts->hmap_node, hash);
    }
    steer_telemetry(t, now);
    cats_report_telemetry_destroy(&ts->prev);
    if (ts->epoch == t->counters_epoch) {
        ts->prev = ts->cur;
    } else {
        cats_report_telemetry_destroy(&ts->cur);
    }
    ts->cur = *t;
    memset(t, 0, sizeof *t);            /* Moved. */
    ts->seq = ts->cur.seq;
    ts->epoch = ts->cur.counters_epoch;
    ts->updated = now;
    ts->n_reports++;
    *last_seq = ts->seq;
    return 0;
}

static void
handle_telemetry(struct cats_grpc_event *ev, long long int now)
{
    struct cats_report_ack ack = {
        .report_interval_ms = store.cfg.report_interval_ms,
    };
    uint64_t seq = ev->telemetry.seq;
    char *error_msg = NULL;
    int error;

    error = apply_telemetry(&ev->telemetry, now, &ack.seq, &error_msg);
    if (error) {
        refused(error, error_msg);
        ack.error = error;
        ack.error_message = error_msg;
        ack.error_seq = seq;
    } else {
        n_telemetry++;
    }
    cats_grpc_ack(ev->call, &ack);
    free(error_msg);
}

void
agents_switch_ports(const char *switch_name,
                    const struct statctrl_port_stats *ports, size_t n,
                    const struct statctrl_queue_stats *queues, size_t n_queues,
                    uint64_t seqno, long long int epoch)
{
    struct cats_report_telemetry t;
    uint64_t last_seq;
    char *error_msg;
    size_t k = 0;

    memset(&t, 0, sizeof t);
    /* A source id from the connection's name: "openflow:" and the
     * characters ids allow. */
    snprintf(t.source_id, sizeof t.source_id, "openflow:%s", switch_name);
    for (char *c = t.source_id; *c; c++) {
        if (!isalnum((unsigned char) *c) && !strchr("._:-", *c)) {
            *c = '_';
        }
    }
    t.seq = seqno;
    t.counters_epoch = epoch;
    t.links = xcalloc(n + n_queues ? n + n_queues : 1, sizeof *t.links);
    for (size_t i = 0; i < n; i++) {
        const struct statctrl_port_stats *p = &ports[i];
        struct cats_report_link *l = &t.links[k];

        if (!p->name[0]) {
            continue;               /* No description yet. */
        }
        ovs_strlcpy(l->id, p->name, sizeof l->id);
        l->kind = CATS_LINK_KIND_LINK;
        l->tx_packets = p->tx_packets;
        l->tx_bytes = p->tx_bytes;
        l->drops = p->tx_dropped + p->tx_errors;
        l->speed_bps = p->speed_bps;
        k++;

        /* The port's queues, as links "PORT:qN": what each carried and
         * failed to (OpenFlow queue statistics have no depth). */
        for (size_t j = 0; j < n_queues; j++) {
            const struct statctrl_queue_stats *q = &queues[j];

            if (q->port_no == p->port_no) {
                struct cats_report_link *ql = &t.links[k++];

                snprintf(ql->id, sizeof ql->id, "%s:q%"PRIu32, p->name,
                         q->queue_id);
                ql->kind = CATS_LINK_KIND_LINK;
                ql->tx_packets = q->tx_packets;
                ql->tx_bytes = q->tx_bytes;
                ql->drops = q->tx_errors;
            }
        }
    }
    t.n_links = k;
    if (apply_telemetry(&t, time_msec(), &last_seq, &error_msg)) {
        VLOG_DBG("%s: port statistics not applied: %s", switch_name,
                 error_msg);
        free(error_msg);
    }
    cats_report_telemetry_destroy(&t);
}

/* Fills 'info' for catalog instance 'inst'. */
static void
instance_info(const struct cats_instance *inst, long long int now,
              struct cats_report_instance_info *info)
{
    const struct cats_metrics_instance *m;

    memset(info, 0, sizeof *info);
    info->ip = inst->ip;
    info->port = inst->port;
    info->weight = inst->weight;
    info->configured_weight = inst->base_weight;
    info->lease_state = CATS_LEASE_STATIC;

    m = cats_metrics_find(&store, inst->service->name, inst->ip, inst->port);
    if (!m) {
        return;
    }
    info->node_id = m->owner->id;
    switch (cats_metrics_state(m, now)) {
    case CATS_METRICS_ACTIVE:
        info->lease_state = CATS_LEASE_ACTIVE;
        break;
    case CATS_METRICS_UNHEALTHY:
        info->lease_state = CATS_LEASE_UNHEALTHY;
        break;
    case CATS_METRICS_EXPIRED:
        info->lease_state = CATS_LEASE_EXPIRED;
        break;
    }
    info->health = m->health;
    info->capacity = m->capacity;
    info->lease_remaining_ms = cats_metrics_lease_remaining(m, now);
    info->last_report_age_ms = now - m->last_alive;
    if (m->has_sample) {
        info->last = &m->last;
        info->smoothed = &m->smoothed;
    }
    for (int i = 0; i < CATS_N_L1; i++) {
        if (m->scores.l1_present & (1u << i)) {
            int k = (i == CATS_L1_COMPUTING ? CATS_SCORE_COMPUTING
                     : i == CATS_L1_OCCUPANCY ? CATS_SCORE_OCCUPANCY
                     : CATS_SCORE_DELAY);
            info->scores_present |= 1u << k;
            info->scores[k] = m->scores.l1[i];
        }
    }
    if (m->scores.has_l2) {
        info->scores_present |= 1u << CATS_SCORE_L2;
        info->scores[CATS_SCORE_L2] = m->scores.l2;
    }
}

static void
handle_list_services(struct cats_grpc_event *ev, long long int now)
{
    struct cats_report_service_info *svcs;
    struct cats_report_instance_info **infos;
    struct cats_service **sorted;
    size_t n, n_out = 0;
    struct ofpbuf reply;

    sorted = cats_catalog_sorted_services(catalog, &n);
    svcs = xcalloc(n ? n : 1, sizeof *svcs);
    infos = xcalloc(n ? n : 1, sizeof *infos);
    for (size_t i = 0; i < n; i++) {
        const struct cats_service *s = sorted[i];
        struct cats_report_service_info *si;
        struct cats_instance **insts;
        size_t n_insts;

        if (ev->service[0] && strcmp(ev->service, s->name)) {
            continue;
        }
        si = &svcs[n_out];
        si->name = s->name;
        si->vip = s->vip;
        si->port = s->port;
        si->proto = s->proto;
        insts = cats_service_sorted_instances(s, &n_insts);
        infos[n_out] = xcalloc(n_insts ? n_insts : 1, sizeof **infos);
        for (size_t j = 0; j < n_insts; j++) {
            instance_info(insts[j], now, &infos[n_out][j]);
        }
        si->n_instances = n_insts;
        si->instances = infos[n_out];
        free(insts);
        n_out++;
    }
    ofpbuf_init(&reply, 1024);
    cats_report_encode_services(svcs, n_out, &reply);
    if (reply.size > 4 * 1024 * 1024) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        /* gRPC clients take up to 4 MB by default. */
        VLOG_WARN_RL(&rl, "ListServices reply of %"PRIu32" bytes: clients "
                     "with the default 4 MB limit will refuse it",
                     reply.size);
    }
    n_queries++;
    cats_grpc_reply_query(ev->call, 0, NULL, &reply);
    ofpbuf_uninit(&reply);
    for (size_t i = 0; i < n_out; i++) {
        free(infos[i]);
    }
    free(infos);
    free(svcs);
    free(sorted);
}

void
agents_run(struct cats_catalog *cat)
{
    long long int now = time_msec();

    ovs_assert(cat == catalog);
    if (server) {
        struct ovs_list events = OVS_LIST_INITIALIZER(&events);
        struct ovs_list done = OVS_LIST_INITIALIZER(&done);
        struct cats_grpc_event *ev;

        update_policy(false);
        cats_grpc_server_recv(server, &events, MAX_EVENTS_PER_RUN);
        LIST_FOR_EACH_POP (ev, list_node, &events) {
            switch (ev->type) {
            case CATS_GRPC_EV_REGISTER:
                handle_register(ev, now);
                break;
            case CATS_GRPC_EV_REPORT:
                handle_report(ev, now);
                break;
            case CATS_GRPC_EV_TELEMETRY:
                handle_telemetry(ev, now);
                break;
            case CATS_GRPC_EV_LIST_SERVICES:
                handle_list_services(ev, now);
                break;
            case CATS_GRPC_EV_END:
                cats_grpc_end(ev->call, 0, NULL);
                break;
            }
            ovs_list_push_back(&done, &ev->list_node);
        }
        cats_grpc_server_done(server, &done);
        cats_grpc_server_run(server);
    }

    if (now >= cats_metrics_next_wake(&store)) {
        cats_metrics_run(&store, now);
    }
    steer_run(catalog, &store, now);
}

void
agents_wait(void)
{
    long long int wake = cats_metrics_next_wake(&store);

    if (server) {
        cats_grpc_server_wait(server);
    }
    wake = MIN(wake, steer_next_wake());
    if (wake != LLONG_MAX) {
        poll_timer_wait_until(wake);
    }
}

/* ovs-appctl. */

static const char *
lease_state_name(const struct cats_metrics_instance *m, long long int now)
{
    return cats_metrics_state_name(cats_metrics_state(m, now));
}

void
agents_format_instance(const struct cats_instance *inst, struct ds *out)
{
    const struct cats_metrics_instance *m;
    long long int now = time_msec();

    m = cats_metrics_find(&store, inst->service->name, inst->ip, inst->port);
    if (!m) {
        return;
    }
    ds_put_format(out, " agent=%s lease=%s", m->owner->id,
                  lease_state_name(m, now));
    if (m->scores.has_l2) {
        ds_put_format(out, " l2=%.2f", m->scores.l2);
    }
    if (inst->base_weight != inst->weight) {
        ds_put_format(out, " configured_weight=%"PRIu16, inst->base_weight);
    }
}

static void
format_metrics(const struct cats_metric_values *v, struct ds *out)
{
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (cats_metric_values_has(v, m)) {
            ds_put_format(out, " %s=%.4g", cats_metric_name(m), v->value[m]);
        }
    }
}

static void
cmd_agents(struct unixctl_conn *conn, int argc, const char *argv[],
           void *aux OVS_UNUSED)
{
    long long int now = time_msec();
    struct ds out = DS_EMPTY_INITIALIZER;
    const struct cats_metrics_node *node;
    const char *only = argc > 1 ? argv[1] : NULL;
    size_t n = 0;

    if (!server) {
        unixctl_command_reply_error(conn, "the agent API is not enabled "
                                    "(--grpc-listen)");
        return;
    }
    ds_put_format(&out, "nodes: %"PRIuSIZE", instances: %"PRIuSIZE
                  ", lease %u ms, report interval %u ms\n",
                  hmap_count(&store.nodes), hmap_count(&store.instances),
                  store.cfg.lease_ms, store.cfg.report_interval_ms);
    HMAP_FOR_EACH (node, node, &store.nodes) {
        const struct cats_metrics_instance *m;

        if (only && strcmp(only, node->id)) {
            continue;
        }
        if (!only && ++n > 100) {
            ds_put_cstr(&out, "(more nodes: name one to see it)\n");
            break;
        }
        ds_put_format(&out, "node %s agent=\"%s\" session=%016"PRIx64
                      " seq=%"PRIu64" last_alive=%lldms_ago "
                      "instances=%"PRIuSIZE"\n", node->id, node->agent,
                      node->session, node->last_seq,
                      now - node->last_alive, node->n_instances);
        LIST_FOR_EACH (m, owner_node, &node->instances) {
            const struct cats_service *svc;
            const struct cats_instance *inst = NULL;

            svc = cats_catalog_find(catalog, m->key.service);
            if (svc) {
                inst = cats_instance_find(svc, m->key.ip, m->key.port);
            }
            ds_put_format(&out, "  %s "IP_FMT":%"PRIu16" lease=%s "
                          "(%lld ms left) health=%s capacity=%"PRIu32,
                          m->key.service, IP_ARGS(m->key.ip), m->key.port,
                          lease_state_name(m, now),
                          cats_metrics_lease_remaining(m, now),
                          cats_health_name(m->health), m->capacity);
            if (inst) {
                ds_put_format(&out, " weight=%"PRIu16"/%"PRIu16,
                              inst->weight, inst->base_weight);
            } else {
                ds_put_cstr(&out, " (not in the catalog: steers nothing)");
            }
            if (m->scores.has_l2) {
                ds_put_format(&out, " l2=%.2f", m->scores.l2);
            }
            for (int i = 0; i < CATS_N_L1; i++) {
                if (m->scores.l1_present & (1u << i)) {
                    ds_put_format(&out, " %s=%.2f", cats_l1_name(i),
                                  m->scores.l1[i]);
                }
            }
            ds_put_cstr(&out, "\n    smoothed:");
            format_metrics(&m->smoothed, &out);
            ds_put_cstr(&out, "\n");
        }
    }
    if (only && !cats_metrics_find_node(&store, only)) {
        ds_destroy(&out);
        unixctl_command_reply_error(conn, "no such node");
        return;
    }
    unixctl_command_reply(conn, ds_cstr(&out));
    ds_destroy(&out);
}

static void
cmd_agent_stats(struct unixctl_conn *conn, int argc OVS_UNUSED,
                const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct ds out = DS_EMPTY_INITIALIZER;
    struct cats_grpc_stats st;
    double secs = MAX(1, time_msec() - stats_since) / 1000.0;

    if (!server) {
        unixctl_command_reply_error(conn, "the agent API is not enabled "
                                    "(--grpc-listen)");
        return;
    }
    cats_grpc_server_get_stats(server, &st);
    ds_put_format(&out, "listen: %s\n", config.grpc.listen);
    ds_put_format(&out, "port: %d\n", st.port);
    ds_put_format(&out, "security: %s\n", st.mutual_tls ? "mutual-tls"
                  : st.tls ? "tls" : "plaintext");
    ds_put_format(&out, "access_list: %s\n",
                  config.acl_file ? config.acl_file : "none");
    ds_put_format(&out, "nodes: %"PRIuSIZE"\n", hmap_count(&store.nodes));
    ds_put_format(&out, "instances: %"PRIuSIZE"\n",
                  hmap_count(&store.instances));
    ds_put_format(&out, "telemetry_sources: %"PRIuSIZE"\n",
                  hmap_count(&telemetry));
    ds_put_format(&out, "calls: %"PRIu64"\n", st.calls);
    ds_put_format(&out, "calls_active: %"PRIu64"\n", st.calls_active);
    ds_put_format(&out, "streams_active: %"PRIu64"\n", st.streams_active);
    ds_put_format(&out, "messages: %"PRIu64"\n", st.messages);
    ds_put_format(&out, "acks_sent: %"PRIu64"\n", st.acks);
    ds_put_format(&out, "acks_carried: %"PRIu64"\n", st.acks_carried);
    ds_put_format(&out, "queue: %"PRIu64"\n", st.queue_len);
    ds_put_format(&out, "queue_high: %"PRIu64"\n", st.queue_high);
    ds_put_format(&out, "streams_parked: %"PRIu64"\n", st.parked);
    ds_put_format(&out, "registrations: %"PRIu64"\n", n_registered);
    ds_put_format(&out, "reports_accepted: %"PRIu64"\n", n_reports);
    ds_put_format(&out, "reports_per_s: %.0f\n", n_reports / secs);
    ds_put_format(&out, "stats_window_s: %.3f\n", secs);
    ds_put_format(&out, "telemetry_accepted: %"PRIu64"\n", n_telemetry);
    ds_put_format(&out, "queries: %"PRIu64"\n", n_queries);
    ds_put_format(&out, "leases_expired: %"PRIu64"\n", store.n_expirations);

    uint64_t rejected = 0;
    for (int r = 0; r < CATS_GRPC_N_REASONS; r++) {
        rejected += st.by_reason[r];
    }
    ds_put_format(&out, "reports_rejected: %"PRIu64"\n", rejected);
    for (int r = 0; r < CATS_GRPC_N_REASONS; r++) {
        ds_put_format(&out, "rejected_%s: %"PRIu64"\n",
                      cats_grpc_reason_name(r), st.by_reason[r]);
    }
    for (int c = 1; c < CATS_GRPC_N_CODES; c++) {
        if (st.by_code[c]) {
            ds_put_format(&out, "status_%s: %"PRIu64"\n",
                          cats_grpc_status_name(c), st.by_code[c]);
        }
    }
    ds_put_format(&out, "last_error: %s\n",
                  st.last_error[0] ? st.last_error : "none");
    ds_put_format(&out, "ingest_samples: %"PRIu64"\n", ingest_n);
    ds_put_format(&out, "ingest_mean_ms: %.3f\n",
                  ingest_n ? ingest_sum_ms / ingest_n : 0.0);
    ds_put_format(&out, "ingest_p50_ms: %.3f\n", ingest_quantile(0.50));
    ds_put_format(&out, "ingest_p99_ms: %.3f\n", ingest_quantile(0.99));
    ds_put_format(&out, "ingest_p999_ms: %.3f\n", ingest_quantile(0.999));
    ds_put_format(&out, "ingest_max_ms: %.3f\n", ingest_max_ns / 1e6);
    unixctl_command_reply(conn, ds_cstr(&out));
    ds_destroy(&out);
}

/* cats/agent-ack-batch [N]: shows, or sets, how many held acks one
 * main-loop iteration sends at most. */
static void
cmd_agent_ack_batch(struct unixctl_conn *conn, int argc, const char *argv[],
                    void *aux OVS_UNUSED)
{
    unsigned int n;

    if (!server) {
        unixctl_command_reply_error(conn, "the agent API is not enabled "
                                    "(--grpc-listen)");
        return;
    }
    if (argc > 1) {
        if (!str_to_uint(argv[1], 10, &n)
            || cats_grpc_server_set_ack_batch(server, n)) {
            char *msg = xasprintf("'%s': the batch is a number of acks from "
                                  "1 to %d", argv[1],
                                  CATS_GRPC_ACK_BATCH_MAX);

            unixctl_command_reply_error(conn, msg);
            free(msg);
            return;
        }
        VLOG_INFO("held acks sent per main-loop iteration: at most %u", n);
    }
    char *reply = xasprintf("%u\n", cats_grpc_server_get_ack_batch(server));
    unixctl_command_reply(conn, reply);
    free(reply);
}

static void
cmd_agent_stats_reset(struct unixctl_conn *conn, int argc OVS_UNUSED,
                      const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    memset(ingest_hist, 0, sizeof ingest_hist);
    ingest_n = 0;
    ingest_max_ns = 0;
    ingest_sum_ms = 0;
    n_registered = n_reports = n_telemetry = n_queries = 0;
    n_refused_store = 0;
    stats_since = time_msec();
    unixctl_command_reply(conn, NULL);
}

static void
cmd_telemetry(struct unixctl_conn *conn, int argc OVS_UNUSED,
              const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    long long int now = time_msec();
    struct ds out = DS_EMPTY_INITIALIZER;
    const struct telemetry_source *ts;

    HMAP_FOR_EACH (ts, hmap_node, &telemetry) {
        ds_put_format(&out, "source %s seq=%"PRIu64" epoch=%"PRIu64
                      " updated=%lldms_ago reports=%"PRIu64"\n", ts->id,
                      ts->seq, ts->epoch, now - ts->updated, ts->n_reports);
        for (size_t i = 0; i < ts->cur.n_links; i++) {
            const struct cats_report_link *l = &ts->cur.links[i];
            const struct cats_report_link *p = NULL;

            for (size_t j = 0; j < ts->prev.n_links; j++) {
                if (!strcmp(ts->prev.links[j].id, l->id)) {
                    p = &ts->prev.links[j];
                    break;
                }
            }
            ds_put_format(&out, "  %s %s tx_packets=%"PRIu64
                          " ecn_marked=%"PRIu64" drops=%"PRIu64, l->id,
                          l->kind == CATS_LINK_KIND_PATH ? "path" : "link",
                          l->tx_packets, l->ecn_marked_packets, l->drops);
            if (p && l->tx_packets > p->tx_packets
                && l->ecn_marked_packets >= p->ecn_marked_packets) {
                ds_put_format(&out, " ecn_fraction=%.4f",
                              (double) (l->ecn_marked_packets
                                        - p->ecn_marked_packets)
                              / (l->tx_packets - p->tx_packets));
            }
            if (l->has_queue_depth) {
                ds_put_format(&out, " queue_bytes=%"PRIu64,
                              l->queue_depth_bytes);
            }
            if (l->has_rtt) {
                ds_put_format(&out, " rtt_us=%.1f", l->rtt_us);
            }
            const char *sep = " storm=";
            for (size_t k = 0; k < l->n_pfc; k++) {
                const struct cats_report_pfc *f = &l->pfc[k];
                ds_put_format(&out, " pfc%u(rx=%"PRIu64",tx=%"PRIu64
                              ",paused_for_us=%"PRIu64")", f->priority,
                              f->rx_pause_frames, f->tx_pause_frames,
                              f->paused_for_us);
            }
            for (size_t k = 0; k < l->n_pfc; k++) {
                if (l->pfc[k].storm) {
                    ds_put_format(&out, "%s%u", sep, l->pfc[k].priority);
                    sep = "+";
                }
            }
            ds_put_cstr(&out, "\n");
        }
    }
    unixctl_command_reply(conn, ds_cstr(&out));
    ds_destroy(&out);
}

void
agents_register_commands(void)
{
    unixctl_command_register("cats/agents", "[NODE]", 0, 1, cmd_agents,
                             NULL);
    unixctl_command_register("cats/agent-stats", "", 0, 0, cmd_agent_stats,
                             NULL);
    unixctl_command_register("cats/agent-stats-reset", "", 0, 0,
                             cmd_agent_stats_reset, NULL);
    unixctl_command_register("cats/agent-ack-batch", "[N]", 0, 1,
                             cmd_agent_ack_batch, NULL);
    unixctl_command_register("cats/telemetry", "", 0, 0, cmd_telemetry,
                             NULL);
    steer_register_commands();
}

/*
 * cats-agent: its client of the agent API, on libcatsclient (see
 * agent-client.h): the agent's messages, its logging and its news.
 */

#include <config.h>

#include "agent-client.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openvswitch/vlog.h"
#include "ovs-rcu.h"
#include "ovs-thread.h"
#include "packets.h"
#include "proto/cats.pb-c.h"
#include "seq.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(agent_client);

/* Bounds on the interval the controller may ask for. */
#define INTERVAL_MIN_MS 50
#define INTERVAL_MAX_MS 600000

struct agent_client {
    struct cats_client *client;
    struct cats_stream *load;
    struct cats_stream *tel;            /* NULL: no telemetry. */
    struct seq *news;
};

/* The node id, for the LoadReports (one client per process). */
static char agent_node_id[CATS_ID_MAX + 1];

char *
agent_client_parse_target(const char *target, bool *local)
{
    const char *colon = strrchr(target, ':');
    unsigned int port;
    char *host;

    *local = false;
    if (!strncmp(target, "unix:", 5)) {
        if (!target[5] || strlen(target + 5) >= 108) {
            return xstrdup("unix:PATH needs a socket path of 1 to 107 "
                           "bytes");
        }
        *local = true;
        return NULL;
    }
    if (!colon || colon == target || !str_to_uint(colon + 1, 10, &port)
        || !port || port > 65535) {
        return xstrdup("expected HOST:PORT with PORT 1 to 65535, or "
                       "unix:PATH");
    }
    host = xmemdup0(target, colon - target);
    if (host[0] == '[') {
        size_t len = strlen(host);

        if (len < 3 || host[len - 1] != ']') {
            free(host);
            return xstrdup("an IPv6 address needs [brackets]");
        }
        *local = !strcmp(host, "[::1]");
    } else {
        ovs_be32 ip;

        if (strchr(host, ':')) {
            free(host);
            return xstrdup("an IPv6 address needs [brackets]");
        }
        *local = (!strcasecmp(host, "localhost")
                  || (ip_parse(host, &ip) && (ntohl(ip) >> 24) == 127));
    }
    free(host);
    return NULL;
}

static void
free_load(void *load)
{
    cats_report_load_destroy(load);
    free(load);
}

/* Encoding. */

static void
encode_registration(const struct cats_report_registration *reg,
                    uint8_t **msgp, size_t *lenp)
{
    Cats__V1__RegisterRequest req = CATS__V1__REGISTER_REQUEST__INIT;
    Cats__V1__InstanceSpec *specs, **ptrs;
    char (*ips)[INET_ADDRSTRLEN];

    specs = xcalloc(reg->n_instances + 1, sizeof *specs);
    ptrs = xcalloc(reg->n_instances + 1, sizeof *ptrs);
    ips = xcalloc(reg->n_instances + 1, sizeof *ips);
    for (size_t i = 0; i < reg->n_instances; i++) {
        const struct cats_report_spec *spec = &reg->instances[i];

        cats__v1__instance_spec__init(&specs[i]);
        snprintf(ips[i], sizeof ips[i], IP_FMT, IP_ARGS(spec->key.ip));
        specs[i].service = CONST_CAST(char *, spec->key.service);
        specs[i].ip = ips[i];
        specs[i].port = spec->key.port;
        specs[i].capacity = spec->capacity;
        ptrs[i] = &specs[i];
    }
    req.node_id = CONST_CAST(char *, reg->node_id);
    req.agent = CONST_CAST(char *, reg->agent);
    req.n_instances = reg->n_instances;
    req.instances = ptrs;

    *lenp = cats__v1__register_request__get_packed_size(&req);
    *msgp = xmalloc(*lenp + 1);
    cats__v1__register_request__pack(&req, *msgp);
    free(specs);
    free(ptrs);
    free(ips);
}

static void
metrics_to_pb(const struct cats_metric_values *v, Cats__V1__Metrics *m)
{
    cats__v1__metrics__init(m);
#define HAS(M) cats_metric_values_has(v, CATS_METRIC_##M)
#define SET(M, FIELD, CASE, VALUE)                      \
    if (HAS(M)) {                                       \
        m->_##FIELD##_case = CATS__V1__METRICS___##CASE##_##CASE; \
        m->FIELD = VALUE;                               \
    }
    SET(CPU, cpu_utilization, CPU_UTILIZATION, v->value[CATS_METRIC_CPU]);
    SET(GPU, gpu_utilization, GPU_UTILIZATION, v->value[CATS_METRIC_GPU]);
    SET(MEMORY, memory_utilization, MEMORY_UTILIZATION,
        v->value[CATS_METRIC_MEMORY]);
    SET(GPU_MEMORY, gpu_memory_utilization, GPU_MEMORY_UTILIZATION,
        v->value[CATS_METRIC_GPU_MEMORY]);
    SET(LOAD, load_average_per_cpu, LOAD_AVERAGE_PER_CPU,
        v->value[CATS_METRIC_LOAD]);
    SET(IN_FLIGHT, requests_in_flight, REQUESTS_IN_FLIGHT,
        (uint32_t) (v->value[CATS_METRIC_IN_FLIGHT] + 0.5));
    SET(QUEUE, queue_depth, QUEUE_DEPTH,
        (uint32_t) (v->value[CATS_METRIC_QUEUE] + 0.5));
    SET(LATENCY, latency_ms, LATENCY_MS, v->value[CATS_METRIC_LATENCY]);
    SET(RPS, requests_per_second, REQUESTS_PER_SECOND,
        v->value[CATS_METRIC_RPS]);
    SET(TPS, tokens_per_second, TOKENS_PER_SECOND,
        v->value[CATS_METRIC_TPS]);
#undef SET
#undef HAS
}

static uint8_t *
encode_load(void *load_, uint64_t session, uint64_t seq, size_t *lenp)
{
    struct cats_report_load *load = load_;
    Cats__V1__LoadReport msg = CATS__V1__LOAD_REPORT__INIT;
    size_t n = load->n_instances;
    Cats__V1__Metrics node;
    Cats__V1__InstanceLoad *insts, **ptrs;
    Cats__V1__Metrics *metrics;
    char (*ips)[INET_ADDRSTRLEN];

    insts = xcalloc(n + 1, sizeof *insts);
    ptrs = xcalloc(n + 1, sizeof *ptrs);
    metrics = xcalloc(n + 1, sizeof *metrics);
    ips = xcalloc(n + 1, sizeof *ips);
    for (size_t i = 0; i < n; i++) {
        const struct cats_report_instance *ri = &load->instances[i];
        Cats__V1__InstanceLoad *il = &insts[i];

        cats__v1__instance_load__init(il);
        snprintf(ips[i], sizeof ips[i], IP_FMT, IP_ARGS(ri->key.ip));
        il->service = CONST_CAST(char *, ri->key.service);
        il->ip = ips[i];
        il->port = ri->key.port;
        il->health = (ri->health == CATS_HEALTH_DRAINING
                      ? CATS__V1__HEALTH__HEALTH_DRAINING
                      : ri->health == CATS_HEALTH_NOT_SERVING
                      ? CATS__V1__HEALTH__HEALTH_NOT_SERVING
                      : CATS__V1__HEALTH__HEALTH_SERVING);
        if (ri->metrics.present) {
            metrics_to_pb(&ri->metrics, &metrics[i]);
            il->metrics = &metrics[i];
        }
        if (ri->has_l2) {
            il->_l2_score_case = CATS__V1__INSTANCE_LOAD___L2_SCORE_L2_SCORE;
            il->l2_score = ri->l2;
        }
        ptrs[i] = il;
    }
    metrics_to_pb(&load->node_metrics, &node);

    msg.node_id = CONST_CAST(char *, agent_node_id);
    msg.session_id = session;
    msg.seq = seq;
    msg.node = &node;
    msg.n_instances = n;
    msg.instances = ptrs;
    msg.window_ms = load->window_ms;

    *lenp = cats__v1__load_report__get_packed_size(&msg);
    uint8_t *buf = xmalloc(*lenp + 1);
    cats__v1__load_report__pack(&msg, buf);

    free(insts);
    free(ptrs);
    free(metrics);
    free(ips);
    free_load(load);
    return buf;
}

/* Hooks. */

static void
client_log(void *aux OVS_UNUSED, enum cats_client_log level, const char *msg)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 5);

    if (level == CATS_CLIENT_INFO) {
        VLOG_INFO("%s", msg);
    } else if (level == CATS_CLIENT_WARN) {
        VLOG_WARN_RL(&rl, "%s", msg);
    } else {
        VLOG_ERR("%s", msg);
    }
}

static void
client_news(void *news)
{
    seq_change(news);
}

static int
client_thread_create(pthread_t *thread, void *(*start)(void *), void *arg)
{
    *thread = ovs_thread_create("grpc", start, arg);
    return 0;
}

/* The client thread never touches RCU-protected data; without this, an
 * OVS thread that never quiesces would hold back every postponed free. */
static void
client_thread_start(void *aux OVS_UNUSED)
{
    ovsrcu_quiesce_start();
}

/* Public functions. */

struct agent_client *
agent_client_create(const struct agent_client_config *cfg)
{
    struct agent_client *ac = xzalloc(sizeof *ac);
    const char *node_id = cfg->registration->node_id;
    struct cats_client_config ccfg = {
        .target = cfg->target,
        .tls = cfg->tls,
        .tls_ca = cfg->tls_ca,
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .token = cfg->token,
        .user_agent = "cats-agent/0.1",
        .tick_ms = 200,
        .hooks = {
            .log = client_log,
            .news = client_news,
            .thread_create = client_thread_create,
            .thread_start = client_thread_start,
        },
    };
    struct cats_stream_config lcfg = {
        .method = "/cats.v1.Agent/StreamReports",
        .name = "StreamReports",
        .what = "report",
        .interval_ms = cfg->interval_ms,
        .interval_min_ms = INTERVAL_MIN_MS,
        .interval_max_ms = INTERVAL_MAX_MS,
        .encode = encode_load,
        .free_msg = free_load,
        .source_id = node_id,
    };
    uint8_t *reg;

    ovs_strlcpy(agent_node_id, node_id, sizeof agent_node_id);
    ac->news = seq_create();
    ccfg.hooks.aux = ac->news;
    ac->client = cats_client_create(&ccfg);

    encode_registration(cfg->registration, &reg, &lcfg.register_len);
    lcfg.register_msg = reg;
    ac->load = cats_client_add_stream(ac->client, &lcfg);
    free(reg);
    if (cfg->telemetry) {
        struct cats_stream_config tcfg = {
            .method = "/cats.v1.Telemetry/StreamTelemetry",
            .name = "StreamTelemetry",
            .what = "telemetry report",
            .telemetry = true,
            .interval_ms = cfg->interval_ms,
            .interval_min_ms = INTERVAL_MIN_MS,
            .interval_max_ms = INTERVAL_MAX_MS,
            .source_id = node_id,
        };

        ac->tel = cats_client_add_stream(ac->client, &tcfg);
    }
    cats_client_start(ac->client);
    return ac;
}

void
agent_client_destroy(struct agent_client *ac)
{
    if (ac) {
        cats_client_destroy(ac->client);
        seq_destroy(ac->news);
        free(ac);
    }
}

void
agent_client_post(struct agent_client *ac, struct cats_report_load *load)
{
    cats_stream_post(ac->load, load);
}

void
agent_client_post_telemetry(struct agent_client *ac,
                            struct cats_report_telemetry *t)
{
    if (ac->tel) {
        cats_stream_post(ac->tel, t);
    } else {
        cats_report_telemetry_destroy(t);
        free(t);
    }
}

uint64_t
agent_client_seqno(const struct agent_client *ac)
{
    return seq_read(ac->news);
}

void
agent_client_wait(const struct agent_client *ac, uint64_t seqno)
{
    seq_wait(ac->news, seqno);
}

void
agent_client_get_status(struct agent_client *ac,
                        struct cats_stream_status *st)
{
    cats_stream_get_status(ac->load, st);
}

void
agent_client_get_tel_status(struct agent_client *ac,
                            struct cats_stream_status *st)
{
    if (ac->tel) {
        cats_stream_get_status(ac->tel, st);
    } else {
        memset(st, 0, sizeof *st);
        st->state = CATS_STREAM_OFF;
    }
}

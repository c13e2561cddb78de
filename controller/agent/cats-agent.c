/*
 * cats-agent: the compute node daemon of ovs-cats.
 *
 * It measures the node's load (CPU, load average, memory, GPUs) and its
 * instances' load (what applications write to the app socket, or what
 * their Prometheus endpoints say), and streams it to cats-controller over
 * the agent API (proto/cats.proto, service cats.v1.Agent).
 *
 * Threads: this main thread runs the OVS poll loop and owns every
 * measurement; the gRPC client (agent-client.c) runs on a thread of its own
 * and takes reports from a one-report slot.  Nothing blocks the loop: the
 * /proc reads are small regular files, scrapes are non-blocking with a
 * deadline, the app socket is non-blocking and read a bounded number of
 * datagrams per iteration.
 *
 * When a report goes out: every report interval (the controller's, from
 * the registration reply and every ack; --interval until then), and at
 * once when a value moved by more than --threshold of its last reported
 * value (utilizations: by more than 0.1), at most ten reports per interval.
 * The loop samples every tenth of an interval for that purpose; CPU
 * utilization is always measured over the last full interval, so that the
 * faster sampling does not make it noisier.
 *
 * Telemetry (--telemetry-link, --telemetry-host): the agent is the node's
 * network metric agent too.  A reader thread of its own (tel-reader.c)
 * reads the interfaces over netlink and the host counters, and the gRPC
 * thread streams the reports (cats.v1.Telemetry) on the same channel.
 * The main loop only shows what they did.
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent-client.h"
#include "cats/agent-sources.h"
#include "cats/nlstats.h"
#include "cats/catalog.h"
#include "cats/config.h"
#include "cats/metrics.h"
#include "cats/report.h"
#include "command-line.h"
#include "daemon.h"
#include "fatal-signal.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "socket-util.h"
#include "sset.h"
#include "tel-reader.h"
#include "telemetry.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_agent);

#define AGENT_VERSION "0.1"
#define NVML_LIBRARY "libnvidia-ml.so.1"

/* Largest app socket datagram, and datagrams read per loop iteration. */
#define APP_DATAGRAM_MAX 8192
#define APP_DATAGRAMS_PER_RUN 64

/* Values from the app socket or a scrape that were not refreshed for this
 * many report intervals are dropped: absent, not zero. */
#define STALE_INTERVALS 3

/* Samples per report interval, and the most reports per interval. */
#define TICKS_PER_INTERVAL 10
#define CPU_RING 16

/* Prometheus metrics an instance can be configured to read. */
enum prom_metric {
    PROM_IN_FLIGHT,
    PROM_QUEUE,
    PROM_LATENCY,
    N_PROM
};

static const struct {
    const char *option;         /* --instance key. */
    enum cats_metric metric;
} prom_metrics[N_PROM] = {
    [PROM_IN_FLIGHT] = { "prom-in-flight", CATS_METRIC_IN_FLIGHT },
    [PROM_QUEUE] = { "prom-queue", CATS_METRIC_QUEUE },
    [PROM_LATENCY] = { "prom-latency-ms", CATS_METRIC_LATENCY },
};

struct instance {
    struct cats_report_key key;
    char *name;                         /* "SERVICE IP:PORT". */
    uint32_t capacity;                  /* 0: unknown. */

    char *prom_url;                     /* NULL: not scraped. */
    char *prom_names[N_PROM];           /* NULL: not read. */
    struct cats_agent_scrape *scrape;
    long long last_scrape;

    /* Latest application values, with when they arrived (0: none). */
    double value[CATS_N_METRICS];
    long long updated[CATS_N_METRICS];
    enum cats_health health;
    long long health_updated;
    double l2;
    long long l2_updated;

    /* As last reported. */
    bool has_sent;
    struct cats_report_instance sent;

    uint64_t n_app_updates;
    uint64_t n_scrapes;
    uint64_t n_scrape_errors;
    char *last_scrape_error;
};

/* Command-line settings. */
static char *controller;
static char *node_id;
static struct instance *instances;
static size_t n_instances;
static char *app_socket_path;
static unsigned int initial_interval_ms = CATS_METRICS_REPORT_INTERVAL_MS;
static double threshold = 0.1;
static char *token_file;
static char *tls_ca_file;
static char *tls_cert_file;
static char *tls_key_file;
static bool insecure;
static char *unixctl_path;
static struct sset tel_ifaces = SSET_INITIALIZER(&tel_ifaces);
static bool tel_host;
static char *tel_netstat_file;
static char *tel_rdma_root;

/* State. */
static struct agent_client *client;
static struct agent_tel_reader *tel_reader;
static struct cats_agent_gpu *gpu;
static char *gpu_detail;                /* Why there are no GPU metrics. */
static int app_fd = -1;
static bool exiting;

static unsigned int interval_ms;        /* In use. */
static long long next_tick;
static long long last_report;           /* 0: none in this session. */
static uint64_t seen_sessions;

static struct {
    struct cats_cpu_sample sample;
    long long when;
} cpu_ring[CPU_RING];
static size_t cpu_ring_n, cpu_ring_head;   /* head: the next slot. */

static struct cats_metric_values node_now;  /* Latest measurement. */
static uint32_t node_window_ms;
static struct cats_metric_values node_sent; /* As last reported. */

/* Counters for agent/show. */
static uint64_t n_reports_posted;
static uint64_t n_reports_triggered;     /* By a moved value. */
static uint64_t n_datagrams;
static uint64_t n_app_lines;
static uint64_t n_bad_lines;
static char *last_bad_line;
static uint64_t n_scrape_errors;
static uint64_t n_node_errors;
static char *last_node_error;

static void parse_options(int argc, char *argv[]);
static bool telemetry_enabled(void);
static unsigned int tick_ms(void);
OVS_NO_RETURN static void usage(void);
static void register_commands(void);
static void shutdown_hook(void *aux);

/* Node metrics. */

static void
node_error(char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 60);

    n_node_errors++;
    VLOG_WARN_RL(&rl, "%s", error);
    free(last_node_error);
    last_node_error = error;
}

/* Reads all of 'file_name' into '*textp'.  Returns NULL or an error. */
static char *
read_proc(const char *file_name, char **textp)
{
    int error = cats_agent_read_file(file_name, 1024 * 1024, textp, NULL);

    return error ? xasprintf("%s: %s", file_name, ovs_strerror(error)) : NULL;
}

static void
set_metric(struct cats_metric_values *v, enum cats_metric m, double x)
{
    v->present |= UINT32_C(1) << m;
    v->value[m] = x;
}

static void
sample_node(long long now)
{
    struct cats_metric_values v = { .present = 0 };
    char *text, *error;
    double x, y;

    node_window_ms = 0;
    error = read_proc("/proc/stat", &text);
    if (!error) {
        struct cats_cpu_sample s;

        error = cats_agent_parse_proc_stat(text, &s);
        free(text);
        if (!error) {
            /* The CPU utilization over the last interval: from the newest
             * sample at least an interval old (or the oldest one). */
            size_t i;
            const struct cats_cpu_sample *old = NULL;
            long long old_when = 0;

            for (i = 1; i <= cpu_ring_n; i++) {
                size_t k = (cpu_ring_head + CPU_RING - i) % CPU_RING;

                old = &cpu_ring[k].sample;
                old_when = cpu_ring[k].when;
                if (now - old_when >= interval_ms) {
                    break;
                }
            }
            /* A window much shorter than a tick (the first sample after
             * start-up) measures noise: no value rather than a wrong one. */
            if (old && now - old_when >= tick_ms() / 2
                && cats_agent_cpu_util(old, &s, &x)) {
                set_metric(&v, CATS_METRIC_CPU, x);
                node_window_ms = MIN(now - old_when, UINT32_MAX);
            }
            cpu_ring[cpu_ring_head].sample = s;
            cpu_ring[cpu_ring_head].when = now;
            cpu_ring_head = (cpu_ring_head + 1) % CPU_RING;
            cpu_ring_n = MIN(cpu_ring_n + 1, CPU_RING);
        }
    }
    if (error) {
        node_error(error);
    }

    error = read_proc("/proc/loadavg", &text);
    if (!error) {
        long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);

        error = cats_agent_parse_loadavg(text, n_cpus > 0 ? n_cpus : 1, &x);
        free(text);
        if (!error) {
            set_metric(&v, CATS_METRIC_LOAD, x);
        }
    }
    if (error) {
        node_error(error);
    }

    error = read_proc("/proc/meminfo", &text);
    if (!error) {
        error = cats_agent_parse_meminfo(text, &x);
        free(text);
        if (!error) {
            set_metric(&v, CATS_METRIC_MEMORY, x);
        }
    }
    if (error) {
        node_error(error);
    }

    if (gpu) {
        if (cats_agent_gpu_sample(gpu, &x, &y)) {
            set_metric(&v, CATS_METRIC_GPU, x);
            set_metric(&v, CATS_METRIC_GPU_MEMORY, y);
        } else {
            node_error(xstrdup("NVML: no GPU answered"));
        }
    }
    node_now = v;
}

static void
open_gpus(void)
{
    int error = cats_agent_gpu_open(NVML_LIBRARY, &gpu, &gpu_detail);

    if (error == ENOENT) {
        VLOG_INFO("no GPU metrics: %s", gpu_detail);
    } else if (error) {
        VLOG_WARN("no GPU metrics: %s", gpu_detail);
    } else {
        VLOG_INFO("NVML: %u GPUs", cats_agent_gpu_count(gpu));
    }
}

/* Instances. */

static struct instance *
find_instance(const struct cats_report_key *key)
{
    for (size_t i = 0; i < n_instances; i++) {
        struct instance *inst = &instances[i];

        if (inst->key.ip == key->ip && inst->key.port == key->port
            && !strcmp(inst->key.service, key->service)) {
            return inst;
        }
    }
    return NULL;
}

static void
expire_values(long long now)
{
    long long stale = now - (long long) STALE_INTERVALS * interval_ms;

    for (size_t i = 0; i < n_instances; i++) {
        struct instance *inst = &instances[i];

        for (int m = 0; m < CATS_N_METRICS; m++) {
            if (inst->updated[m] && inst->updated[m] < stale) {
                inst->updated[m] = 0;
            }
        }
        if (inst->health_updated && inst->health_updated < stale) {
            inst->health_updated = 0;
        }
        if (inst->l2_updated && inst->l2_updated < stale) {
            inst->l2_updated = 0;
        }
    }
}

static void
instance_current(const struct instance *inst, struct cats_report_instance *ri)
{
    memset(ri, 0, sizeof *ri);
    ri->key = inst->key;
    ri->health = inst->health_updated ? inst->health : CATS_HEALTH_SERVING;
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (inst->updated[m]) {
            set_metric(&ri->metrics, m, inst->value[m]);
        }
    }
    ri->has_l2 = inst->l2_updated != 0;
    ri->l2 = inst->l2;
}

/* The app socket. */

struct app_ctx {
    long long now;
};

static void
app_bad(size_t line_no, const char *error, void *ctx_ OVS_UNUSED)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 60);

    n_bad_lines++;
    free(last_bad_line);
    last_bad_line = (line_no ? xasprintf("line %"PRIuSIZE": %s", line_no,
                                         error)
                     : xstrdup(error));
    VLOG_WARN_RL(&rl, "%s: refused %s", app_socket_path, last_bad_line);
}

static void
app_good(size_t line_no, const struct cats_agent_app_update *u, void *ctx_)
{
    struct app_ctx *ctx = ctx_;
    struct instance *inst = find_instance(&u->key);

    if (!inst) {
        char *error = xasprintf("%s "IP_FMT":%"PRIu16" is not an instance "
                                "of this agent (see --instance)",
                                u->key.service, IP_ARGS(u->key.ip),
                                u->key.port);
        app_bad(line_no, error, ctx);
        free(error);
        return;
    }
    n_app_lines++;
    inst->n_app_updates++;
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (cats_metric_values_has(&u->metrics, m)) {
            inst->value[m] = u->metrics.value[m];
            inst->updated[m] = ctx->now;
        }
    }
    if (u->has_health) {
        inst->health = u->health;
        inst->health_updated = ctx->now;
    }
    if (u->has_l2) {
        inst->l2 = u->l2;
        inst->l2_updated = ctx->now;
    }
}

static void
app_socket_run(long long now)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 60);
    char buf[APP_DATAGRAM_MAX + 1];
    struct app_ctx ctx = { .now = now };

    if (app_fd < 0) {
        return;
    }
    for (int i = 0; i < APP_DATAGRAMS_PER_RUN; i++) {
        ssize_t n = recv(app_fd, buf, sizeof buf, MSG_TRUNC | MSG_DONTWAIT);

        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                VLOG_WARN_RL(&rl, "%s: receive failed (%s)", app_socket_path,
                             ovs_strerror(errno));
            }
            return;
        }
        n_datagrams++;
        if (n > APP_DATAGRAM_MAX) {
            char *error = xasprintf("datagram of %"PRIdSIZE" bytes is "
                                    "longer than %d", n, APP_DATAGRAM_MAX);
            app_bad(0, error, &ctx);
            free(error);
            continue;
        }
        cats_agent_parse_app_text(buf, n, app_good, app_bad, &ctx);
    }
    /* More may be waiting: come back after the rest of the loop. */
    poll_immediate_wake();
}

static void
open_app_socket(void)
{
    if (!app_socket_path) {
        return;
    }
    app_fd = make_unix_socket(SOCK_DGRAM, true, app_socket_path, NULL);
    if (app_fd < 0) {
        ovs_fatal(-app_fd, "--app-socket=%s: cannot bind", app_socket_path);
    }
    VLOG_INFO("%s: listening for application lines", app_socket_path);
}

/* Prometheus scrapes. */

static void
scrape_error(struct instance *inst, char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 60);

    inst->n_scrape_errors++;
    n_scrape_errors++;
    VLOG_WARN_RL(&rl, "%s: %s", inst->name, error);
    free(inst->last_scrape_error);
    inst->last_scrape_error = error;
}

static void
scrape_done(struct instance *inst, long long now)
{
    struct cats_agent_prom_query q[N_PROM];
    size_t map[N_PROM];
    size_t n = 0;
    const char *body, *error;
    size_t body_len;
    char *perror;

    inst->n_scrapes++;
    error = cats_agent_scrape_result(inst->scrape, &body, &body_len);
    if (error) {
        scrape_error(inst, xstrdup(error));
        return;
    }

    memset(q, 0, sizeof q);
    for (size_t i = 0; i < N_PROM; i++) {
        if (inst->prom_names[i]) {
            q[n].name = inst->prom_names[i];
            q[n].max = cats_metric_max(prom_metrics[i].metric);
            map[n++] = i;
        }
    }
    perror = cats_agent_parse_prom(body, body_len, q, n);
    if (perror) {
        scrape_error(inst, xasprintf("%s: %s", inst->prom_url, perror));
        free(perror);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        enum cats_metric m = prom_metrics[map[i]].metric;

        if (q[i].error) {
            scrape_error(inst, xasprintf("%s: %s", inst->prom_url,
                                         q[i].error));
        } else if (!q[i].n_samples) {
            scrape_error(inst, xasprintf("%s: no metric %s", inst->prom_url,
                                         q[i].name));
        } else {
            inst->value[m] = q[i].sum;
            inst->updated[m] = now;
        }
    }
    cats_agent_prom_queries_clear(q, n);
}

static void
scrapes_run(long long now)
{
    int timeout = MAX(100, MIN(1000, interval_ms / 2));

    for (size_t i = 0; i < n_instances; i++) {
        struct instance *inst = &instances[i];

        if (!inst->scrape) {
            continue;
        }
        if (cats_agent_scrape_run(inst->scrape, now)) {
            scrape_done(inst, now);
        }
        if (!cats_agent_scrape_busy(inst->scrape)
            && now - inst->last_scrape >= interval_ms) {
            inst->last_scrape = now;
            cats_agent_scrape_start(inst->scrape, now, timeout);
            if (cats_agent_scrape_run(inst->scrape, now)) {
                scrape_done(inst, now);
            }
        }
    }
}

static void
scrapes_wait(void)
{
    for (size_t i = 0; i < n_instances; i++) {
        struct instance *inst = &instances[i];

        if (inst->scrape) {
            if (cats_agent_scrape_busy(inst->scrape)) {
                cats_agent_scrape_wait(inst->scrape);
            } else {
                poll_timer_wait_until(inst->last_scrape + interval_ms);
            }
        }
    }
}

/* Reports. */

static bool
is_fraction(enum cats_metric m)
{
    return (m == CATS_METRIC_CPU || m == CATS_METRIC_GPU
            || m == CATS_METRIC_MEMORY || m == CATS_METRIC_GPU_MEMORY);
}

static bool
number_moved(double old, double new)
{
    return fabs(new - old) > threshold * fabs(old)
           || (old == 0.0 && new != 0.0);
}

static bool
values_moved(const struct cats_metric_values *old,
             const struct cats_metric_values *new)
{
    if (old->present != new->present) {
        return true;
    }
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (!cats_metric_values_has(new, m)) {
            continue;
        }
        double a = old->value[m], b = new->value[m];
        if (is_fraction(m) ? fabs(b - a) > 0.1 : number_moved(a, b)) {
            return true;
        }
    }
    return false;
}

static bool
instance_moved(const struct instance *inst,
               const struct cats_report_instance *cur)
{
    const struct cats_report_instance *old = &inst->sent;

    return (!inst->has_sent
            || old->health != cur->health
            || old->has_l2 != cur->has_l2
            || (cur->has_l2 && number_moved(old->l2, cur->l2))
            || values_moved(&old->metrics, &cur->metrics));
}

static void
tick(long long now, bool force)
{
    struct cats_stream_status st;
    struct cats_report_load *load;
    bool moved;

    sample_node(now);
    expire_values(now);

    agent_client_get_status(client, &st);
    if (st.state != CATS_STREAM_STREAMING) {
        return;
    }

    load = xzalloc(sizeof *load);
    load->node_metrics = node_now;
    load->window_ms = node_window_ms;
    load->n_instances = n_instances;
    load->instances = xcalloc(n_instances + 1, sizeof *load->instances);
    moved = values_moved(&node_sent, &node_now);
    for (size_t i = 0; i < n_instances; i++) {
        instance_current(&instances[i], &load->instances[i]);
        moved = moved || instance_moved(&instances[i], &load->instances[i]);
    }

    bool due = force || !last_report || now - last_report >= interval_ms;
    if (!due && !moved) {
        cats_report_load_destroy(load);
        free(load);
        return;
    }
    if (!due) {
        n_reports_triggered++;
    }
    node_sent = node_now;
    for (size_t i = 0; i < n_instances; i++) {
        instances[i].sent = load->instances[i];
        instances[i].has_sent = true;
    }
    last_report = now;
    n_reports_posted++;
    agent_client_post(client, load);
}

static unsigned int
tick_ms(void)
{
    return MAX(1, interval_ms / TICKS_PER_INTERVAL);
}

int
main(int argc, char *argv[])
{
    struct unixctl_server *unixctl;
    int retval;

    ovs_cmdl_proctitle_init(argc, argv);
    set_program_name(argv[0]);
    service_start(&argc, &argv);
    parse_options(argc, argv);
    fatal_ignore_sigpipe();

    /* Everything read from files is read before daemonizing, so that a bad
     * file is reported on the terminal; relative names would break after
     * the daemon's chdir("/") anyway. */
    struct cats_report_registration reg;
    memset(&reg, 0, sizeof reg);
    ovs_strlcpy(reg.node_id, node_id, sizeof reg.node_id);
    snprintf(reg.agent, sizeof reg.agent, "cats-agent/%s", AGENT_VERSION);
    reg.n_instances = n_instances;
    reg.instances = xcalloc(n_instances + 1, sizeof *reg.instances);
    for (size_t i = 0; i < n_instances; i++) {
        reg.instances[i].key = instances[i].key;
        reg.instances[i].capacity = instances[i].capacity;
    }

    struct agent_client_config cfg = {
        .target = controller,
        .tls = tls_ca_file || tls_cert_file,
        .registration = &reg,
        .interval_ms = initial_interval_ms,
    };
    char *token = NULL, *ca = NULL, *cert = NULL, *key = NULL;
    if (token_file) {
        size_t len;

        retval = cats_agent_read_file(token_file, 8192, &token, &len);
        if (retval) {
            ovs_fatal(retval, "--token=%s", token_file);
        }
        while (len && isspace((unsigned char) token[len - 1])) {
            token[--len] = '\0';
        }
        if (!len) {
            ovs_fatal(0, "--token=%s: the file is empty", token_file);
        }
        for (size_t i = 0; i < len; i++) {
            if (token[i] <= 0x20 || token[i] >= 0x7f) {
                ovs_fatal(0, "--token=%s: the token must be printable ASCII "
                          "without blanks (byte %"PRIuSIZE")", token_file,
                          i + 1);
            }
        }
        cfg.token = token;
    }
    struct {
        const char *option, *file;
        char **pem;
    } pems[] = {
        { "tls-ca", tls_ca_file, &ca },
        { "tls-cert", tls_cert_file, &cert },
        { "tls-key", tls_key_file, &key },
    };
    for (size_t i = 0; i < ARRAY_SIZE(pems); i++) {
        if (pems[i].file) {
            retval = cats_agent_read_file(pems[i].file, 1024 * 1024,
                                          pems[i].pem, NULL);
            if (retval) {
                ovs_fatal(retval, "--%s=%s", pems[i].option, pems[i].file);
            }
            if (!strstr(*pems[i].pem, "-----BEGIN ")) {
                ovs_fatal(0, "--%s=%s: not a PEM file", pems[i].option,
                          pems[i].file);
            }
        }
    }
    cfg.tls_ca = ca;
    cfg.tls_cert = cert;
    cfg.tls_key = key;

    daemonize_start(false);

    open_app_socket();
    open_gpus();
    retval = unixctl_server_create(unixctl_path, &unixctl);
    if (retval) {
        exit(EXIT_FAILURE);
    }
    register_commands();

    interval_ms = initial_interval_ms;
    cfg.telemetry = telemetry_enabled();
    client = agent_client_create(&cfg);
    if (cfg.telemetry) {
        struct agent_tel_reader_config tcfg = {
            .client = client,
            .source_id = node_id,
            .ifaces = &tel_ifaces,
            .host = tel_host,
            .netstat_file = tel_netstat_file,
            .rdma_root = tel_rdma_root,
        };
        tel_reader = agent_tel_reader_create(&tcfg);
    }
    fatal_signal_add_hook(shutdown_hook, NULL, NULL, true);
    cats_report_registration_destroy(&reg);
    free(token);
    free(ca);
    free(cert);
    free(key);
    daemonize_complete();

    VLOG_INFO("cats-agent %s started: node %s, controller %s (%s), "
              "%"PRIuSIZE" instances, telemetry: %"PRIuSIZE" links%s",
              AGENT_VERSION, node_id, controller,
              cfg.tls ? (cert ? "mutual TLS" : "TLS") : "plaintext",
              n_instances, sset_count(&tel_ifaces),
              tel_host ? " and host counters" : "");

    /* A first CPU sample, so that the first report has a utilization. */
    sample_node(time_msec());
    next_tick = time_msec() + tick_ms();

    while (!exiting) {
        struct cats_stream_status st;
        uint64_t news = agent_client_seqno(client);
        long long now = time_msec();
        bool force = false;

        agent_client_get_status(client, &st);
        if (st.interval_ms != interval_ms) {
            interval_ms = st.interval_ms;
            next_tick = MIN(next_tick, now + tick_ms());
        }
        if (st.n_registrations != seen_sessions) {
            /* A new session: report at once, its lease is running. */
            seen_sessions = st.n_registrations;
            last_report = 0;
            force = true;
        }

        app_socket_run(now);
        scrapes_run(now);
        if (force || now >= next_tick) {
            tick(now, force);
            next_tick = now + tick_ms();
        }
        unixctl_server_run(unixctl);

        poll_timer_wait_until(next_tick);
        if (app_fd >= 0) {
            poll_fd_wait(app_fd, POLLIN);
        }
        scrapes_wait();
        agent_client_wait(client, news);
        unixctl_server_wait(unixctl);
        if (exiting) {
            poll_immediate_wake();
        }
        poll_block();
    }

    VLOG_INFO("exiting");
    unixctl_server_destroy(unixctl);
    agent_tel_reader_destroy(tel_reader);
    tel_reader = NULL;
    agent_client_destroy(client);
    client = NULL;
    cats_agent_gpu_close(gpu);
    gpu = NULL;
    if (app_fd >= 0) {
        close(app_fd);
        fatal_signal_unlink_file_now(app_socket_path);
    }
    for (size_t i = 0; i < n_instances; i++) {
        struct instance *inst = &instances[i];

        cats_agent_scrape_destroy(inst->scrape);
        free(inst->name);
        free(inst->prom_url);
        for (int j = 0; j < N_PROM; j++) {
            free(inst->prom_names[j]);
        }
        free(inst->last_scrape_error);
    }
    free(instances);
    free(gpu_detail);
    free(last_bad_line);
    free(last_node_error);
    sset_destroy(&tel_ifaces);
    free(tel_netstat_file);
    free(tel_rdma_root);
    service_stop();
    return 0;
}

/* On SIGTERM (and at exit()): end the calls and shut gRPC down cleanly, so
 * that the controller sees the stream cancelled rather than a reset. */
static void
shutdown_hook(void *aux OVS_UNUSED)
{
    if (tel_reader) {
        struct agent_tel_reader *r = tel_reader;

        tel_reader = NULL;
        agent_tel_reader_destroy(r);
    }
    if (client) {
        struct agent_client *c = client;

        client = NULL;
        VLOG_INFO("shutting down the gRPC client");
        agent_client_destroy(c);
    }
}

/* ovs-appctl commands. */

static void
format_values(struct ds *s, const struct cats_metric_values *v)
{
    bool any = false;

    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (cats_metric_values_has(v, m)) {
            ds_put_format(s, " %s=%.4g", cats_metric_name(m), v->value[m]);
            any = true;
        }
    }
    if (!any) {
        ds_put_cstr(s, " (none)");
    }
}

static void
format_codes(struct ds *s, const char *title, const uint64_t *counts)
{
    bool any = false;

    ds_put_format(s, "%s:", title);
    for (int i = 0; i < CATS_GRPC_N_CODES; i++) {
        if (counts[i]) {
            ds_put_format(s, " %s=%"PRIu64, cats_grpc_status_name(i),
                          counts[i]);
            any = true;
        }
    }
    ds_put_cstr(s, any ? "\n" : " none\n");
}

static void
format_telemetry(struct ds *s, long long now)
{
    struct cats_stream_status tst;

    if (!tel_reader) {
        ds_put_cstr(s, "telemetry: off (see --telemetry-link, "
                    "--telemetry-host)\n");
        return;
    }
    agent_client_get_tel_status(client, &tst);
    ds_put_format(s, "telemetry: %s for %.1f s", cats_stream_state_name(
                      tst.state), (now - tst.state_since) / 1000.0);
    if (tst.state == CATS_STREAM_BACKOFF) {
        ds_put_format(s, ", retry in %.1f s",
                      MAX(0, tst.backoff_until - now) / 1000.0);
    }
    ds_put_format(s, ", source %s, interval %u ms\n", node_id,
                  tst.interval_ms);
    ds_put_format(s, "  seq: last sent %"PRIu64", last acked %"PRIu64"\n",
                  tst.last_sent_seq, tst.last_ack_seq);
    ds_put_format(s, "  reports: sent %"PRIu64", replaced unsent %"PRIu64
                  ", dropped (stream down) %"PRIu64", acks %"PRIu64
                  ", refused %"PRIu64", streams %"PRIu64"\n", tst.n_sent,
                  tst.n_replaced, tst.n_dropped, tst.n_acks, tst.n_refused,
                  tst.n_streams);
    ds_put_cstr(s, "  ");
    format_codes(s, "call errors", tst.call_errors);
    ds_put_cstr(s, "  ");
    format_codes(s, "refused by code", tst.ack_errors);
    if (tst.last_error[0]) {
        ds_put_format(s, "  last error: %s\n", tst.last_error);
    }
    agent_tel_reader_format(tel_reader, s);
}

static void
cmd_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
         const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct cats_stream_status st;
    struct ds s = DS_EMPTY_INITIALIZER;
    long long now = time_msec();

    agent_client_get_status(client, &st);
    ds_put_format(&s, "controller: %s (%s%s)\n", controller,
                  tls_cert_file ? "mutual TLS"
                  : tls_ca_file ? "TLS" : "plaintext",
                  token_file ? ", bearer token" : "");
    ds_put_format(&s, "state: %s for %.1f s", cats_stream_state_name(
                      st.state), (now - st.state_since) / 1000.0);
    if (st.state == CATS_STREAM_BACKOFF) {
        ds_put_format(&s, ", retry in %.1f s",
                      MAX(0, st.backoff_until - now) / 1000.0);
    }
    ds_put_format(&s, "\nnode: %s, session: %#"PRIx64", interval: %u ms, "
                  "lease: %u ms\n", node_id, st.session, st.interval_ms,
                  st.lease_ms);
    ds_put_format(&s, "seq: last sent %"PRIu64", last acked %"PRIu64"\n",
                  st.last_sent_seq, st.last_ack_seq);
    ds_put_format(&s, "reports: posted %"PRIu64" (%"PRIu64" on a moved "
                  "value), sent %"PRIu64", replaced unsent %"PRIu64", acks "
                  "%"PRIu64"\n", n_reports_posted, n_reports_triggered,
                  st.n_sent, st.n_replaced, st.n_acks);
    ds_put_format(&s, "registrations: %"PRIu64", reconnects: %"PRIu64"\n",
                  st.n_registrations, st.n_reconnects);
    format_codes(&s, "call errors", st.call_errors);
    format_codes(&s, "ack errors", st.ack_errors);
    if (st.last_error[0]) {
        ds_put_format(&s, "last error: %s\n", st.last_error);
    }
    if (app_socket_path) {
        ds_put_format(&s, "app socket: %s: datagrams %"PRIu64", lines "
                      "%"PRIu64", bad lines %"PRIu64"%s%s%s\n",
                      app_socket_path, n_datagrams, n_app_lines, n_bad_lines,
                      last_bad_line ? " (last: " : "",
                      last_bad_line ? last_bad_line : "",
                      last_bad_line ? ")" : "");
    }
    ds_put_format(&s, "scrape errors: %"PRIu64"\n", n_scrape_errors);
    ds_put_format(&s, "node source errors: %"PRIu64"%s%s%s\n", n_node_errors,
                  last_node_error ? " (last: " : "",
                  last_node_error ? last_node_error : "",
                  last_node_error ? ")" : "");
    if (gpu) {
        ds_put_format(&s, "gpus: %u\n", cats_agent_gpu_count(gpu));
    } else {
        ds_put_format(&s, "gpus: none (%s)\n",
                      gpu_detail ? gpu_detail : "not probed");
    }
    ds_put_cstr(&s, "node, as last reported:");
    format_values(&s, &node_sent);
    ds_put_char(&s, '\n');
    for (size_t i = 0; i < n_instances; i++) {
        const struct instance *inst = &instances[i];

        ds_put_format(&s, "instance %s capacity=%"PRIu32" app_updates="
                      "%"PRIu64, inst->name, inst->capacity,
                      inst->n_app_updates);
        if (inst->scrape) {
            ds_put_format(&s, " scrapes=%"PRIu64" scrape_errors=%"PRIu64,
                          inst->n_scrapes, inst->n_scrape_errors);
        }
        ds_put_cstr(&s, "\n  last reported:");
        if (inst->has_sent) {
            ds_put_format(&s, " health=%s",
                          cats_health_name(inst->sent.health));
            format_values(&s, &inst->sent.metrics);
            if (inst->sent.has_l2) {
                ds_put_format(&s, " l2=%.4g", inst->sent.l2);
            }
        } else {
            ds_put_cstr(&s, " nothing yet");
        }
        ds_put_char(&s, '\n');
        if (inst->last_scrape_error) {
            ds_put_format(&s, "  last scrape error: %s\n",
                          inst->last_scrape_error);
        }
    }
    format_telemetry(&s, now);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

static void
cmd_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
         const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    exiting = true;
    unixctl_command_reply(conn, NULL);
}

static void
register_commands(void)
{
    unixctl_command_register("exit", "", 0, 0, cmd_exit, NULL);
    unixctl_command_register("agent/show", "", 0, 0, cmd_show, NULL);
}

/* Options. */

/* Service names: 1 to CATS_NAME_MAX printable ASCII characters without
 * blanks (and, in --instance, without ','). */
static bool
service_valid(const char *name)
{
    size_t len = strlen(name);

    if (!len || len > CATS_NAME_MAX) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return false;
        }
    }
    return true;
}

static void
parse_instance(const char *arg)
{
    char *copy = xstrdup(arg), *save = NULL;
    char *service = strtok_r(copy, ",", &save);
    char *addr = strtok_r(NULL, ",", &save);
    struct instance inst;
    char *error;

    memset(&inst, 0, sizeof inst);
    if (!service || !service_valid(service)) {
        ovs_fatal(0, "--instance=%s: the service name must be 1 to %d "
                  "printable characters", arg, CATS_NAME_MAX);
    }
    ovs_strlcpy(inst.key.service, service, sizeof inst.key.service);
    if (!addr) {
        ovs_fatal(0, "--instance=%s: missing IP:PORT (usage: --instance="
                  "SERVICE,IP:PORT[,capacity=N][,prom=URL]...)", arg);
    }
    error = cats_parse_ip_port(addr, &inst.key.ip, &inst.key.port);
    if (error) {
        ovs_fatal(0, "--instance=%s: %s", arg, error);
    }

    for (char *kv; (kv = strtok_r(NULL, ",", &save)); ) {
        char *eq = strchr(kv, '=');
        const char *value;
        bool found = false;

        if (!eq) {
            ovs_fatal(0, "--instance=%s: '%s' is not key=value", arg, kv);
        }
        *eq = '\0';
        value = eq + 1;
        if (!strcmp(kv, "capacity")) {
            unsigned int cap;

            if (!str_to_uint(value, 10, &cap) || cap > CATS_CAPACITY_MAX) {
                ovs_fatal(0, "--instance=%s: capacity '%s' is not an integer "
                          "between 0 and %d", arg, value, CATS_CAPACITY_MAX);
            }
            inst.capacity = cap;
            continue;
        } else if (!strcmp(kv, "prom")) {
            if (inst.prom_url) {
                ovs_fatal(0, "--instance=%s: prom given twice", arg);
            }
            error = cats_agent_scrape_create(value, &inst.scrape);
            if (error) {
                ovs_fatal(0, "--instance=%s: prom: %s", arg, error);
            }
            inst.prom_url = xstrdup(value);
            continue;
        }
        for (int i = 0; i < N_PROM; i++) {
            if (!strcmp(kv, prom_metrics[i].option)) {
                if (inst.prom_names[i]) {
                    ovs_fatal(0, "--instance=%s: %s given twice", arg, kv);
                }
                if (!cats_agent_prom_name_valid(value)) {
                    ovs_fatal(0, "--instance=%s: %s: '%s' is not a "
                              "Prometheus metric name", arg, kv, value);
                }
                inst.prom_names[i] = xstrdup(value);
                found = true;
            }
        }
        if (!found) {
            ovs_fatal(0, "--instance=%s: unknown key '%s' (expected "
                      "capacity, prom, prom-in-flight, prom-queue or "
                      "prom-latency-ms)", arg, kv);
        }
    }

    bool any_name = false;
    for (int i = 0; i < N_PROM; i++) {
        any_name = any_name || inst.prom_names[i];
    }
    if (inst.prom_url && !any_name) {
        ovs_fatal(0, "--instance=%s: prom= needs at least one of "
                  "prom-in-flight=, prom-queue=, prom-latency-ms=", arg);
    } else if (!inst.prom_url && any_name) {
        ovs_fatal(0, "--instance=%s: prom-* metric names need prom=URL",
                  arg);
    }
    if (find_instance(&inst.key)) {
        ovs_fatal(0, "--instance=%s: given twice", arg);
    }
    if (n_instances >= CATS_REPORT_MAX_INSTANCES) {
        ovs_fatal(0, "--instance: at most %d instances",
                  CATS_REPORT_MAX_INSTANCES);
    }
    inst.name = xasprintf("%s "IP_FMT":%"PRIu16, inst.key.service,
                          IP_ARGS(inst.key.ip), inst.key.port);
    instances = xrealloc(instances, (n_instances + 1) * sizeof *instances);
    instances[n_instances++] = inst;
    free(copy);
}

/* Checks --controller=HOST:PORT or unix:PATH and says whether it stays
 * on this machine (see agent_client_parse_target()). */
static bool
parse_controller(const char *arg)
{
    bool local;
    char *error = agent_client_parse_target(arg, &local);

    if (error) {
        ovs_fatal(0, "--controller=%s: %s", arg, error);
    }
    return local;
}

/* --telemetry-link=IFACE: a Linux interface name (1 to 15 bytes, none of
 * '/', ':' or blanks) that is also a valid link id, and not the id of a
 * host entry. */
static void
parse_telemetry_link(const char *name)
{
    size_t len = strlen(name);

    if (!len || len >= IFNAMSIZ || !cats_id_valid(name)) {
        ovs_fatal(0, "--telemetry-link=%s: not an interface name (1 to %d "
                  "characters from [A-Za-z0-9._-])", name, IFNAMSIZ - 1);
    }
    if (strchr(name, ':')) {
        ovs_fatal(0, "--telemetry-link=%s: interface names have no ':'",
                  name);
    }
    if (!strcmp(name, AGENT_TEL_HOST_TCP)) {
        ovs_fatal(0, "--telemetry-link=%s: that is the id of the host "
                  "entry (--telemetry-host)", name);
    }
    if (!sset_add(&tel_ifaces, name)) {
        ovs_fatal(0, "--telemetry-link=%s: given twice", name);
    }
    if (sset_count(&tel_ifaces) > AGENT_TEL_MAX_IFACES) {
        ovs_fatal(0, "--telemetry-link: at most %d interfaces",
                  AGENT_TEL_MAX_IFACES);
    }
}

static bool
telemetry_enabled(void)
{
    return tel_host || !sset_is_empty(&tel_ifaces);
}

static char *
abs_path(const char *option, const char *file)
{
    char *path = abs_file_name(NULL, file);

    if (!path) {
        ovs_fatal(errno, "--%s=%s", option, file);
    }
    return path;
}

static void
parse_options(int argc, char *argv[])
{
    enum {
        OPT_CONTROLLER = UCHAR_MAX + 1,
        OPT_NODE_ID,
        OPT_INSTANCE,
        OPT_APP_SOCKET,
        OPT_INTERVAL,
        OPT_THRESHOLD,
        OPT_TOKEN,
        OPT_TLS_CA,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_INSECURE,
        OPT_UNIXCTL,
        OPT_TEL_LINK,
        OPT_TEL_HOST,
        OPT_TEL_NETSTAT,
        OPT_TEL_RDMA_ROOT,
        VLOG_OPTION_ENUMS,
        DAEMON_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"controller", required_argument, NULL, OPT_CONTROLLER},
        {"node-id", required_argument, NULL, OPT_NODE_ID},
        {"instance", required_argument, NULL, OPT_INSTANCE},
        {"app-socket", required_argument, NULL, OPT_APP_SOCKET},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"unixctl", required_argument, NULL, OPT_UNIXCTL},
        {"telemetry-link", required_argument, NULL, OPT_TEL_LINK},
        {"telemetry-host", no_argument, NULL, OPT_TEL_HOST},
        {"telemetry-netstat", required_argument, NULL, OPT_TEL_NETSTAT},
        {"telemetry-rdma-root", required_argument, NULL, OPT_TEL_RDMA_ROOT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        DAEMON_LONG_OPTIONS,
        VLOG_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    char *short_options = ovs_cmdl_long_options_to_short_options(long_options);

    for (;;) {
        int c = getopt_long(argc, argv, short_options, long_options, NULL);
        unsigned int ms;
        char *end;

        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_CONTROLLER:
            controller = optarg;
            break;

        case OPT_NODE_ID:
            if (!cats_id_valid(optarg)) {
                ovs_fatal(0, "--node-id=%s: must be 1 to %d characters from "
                          "[A-Za-z0-9._:-]", optarg, CATS_ID_MAX);
            }
            node_id = xstrdup(optarg);
            break;

        case OPT_INSTANCE:
            parse_instance(optarg);
            break;

        case OPT_APP_SOCKET:
            app_socket_path = abs_path("app-socket", optarg);
            break;

        case OPT_INTERVAL:
            if (!str_to_uint(optarg, 10, &ms) || ms < 50 || ms > 600000) {
                ovs_fatal(0, "--interval=%s: not an integer between 50 and "
                          "600000 (milliseconds)", optarg);
            }
            initial_interval_ms = ms;
            break;

        case OPT_THRESHOLD:
            threshold = strtod(optarg, &end);
            if (!*optarg || *end || !(threshold >= 0 && threshold <= 10)) {
                ovs_fatal(0, "--threshold=%s: not a fraction between 0 and "
                          "10 (0.1 is 10%%)", optarg);
            }
            break;

        case OPT_TOKEN:
            token_file = abs_path("token", optarg);
            break;

        case OPT_TLS_CA:
            tls_ca_file = abs_path("tls-ca", optarg);
            break;

        case OPT_TLS_CERT:
            tls_cert_file = abs_path("tls-cert", optarg);
            break;

        case OPT_TLS_KEY:
            tls_key_file = abs_path("tls-key", optarg);
            break;

        case OPT_INSECURE:
            insecure = true;
            break;

        case OPT_UNIXCTL:
            unixctl_path = optarg;
            break;

        case OPT_TEL_LINK:
            parse_telemetry_link(optarg);
            break;

        case OPT_TEL_HOST:
            tel_host = true;
            break;

        case OPT_TEL_NETSTAT:
            free(tel_netstat_file);
            tel_netstat_file = abs_path("telemetry-netstat", optarg);
            break;

        case OPT_TEL_RDMA_ROOT:
            free(tel_rdma_root);
            tel_rdma_root = abs_path("telemetry-rdma-root", optarg);
            break;

        case 'h':
            usage();

        case 'V':
            printf("cats-agent (ovs-cats) %s, built on Open vSwitch %s\n",
                   AGENT_VERSION, VERSION);
            exit(EXIT_SUCCESS);

        VLOG_OPTION_HANDLERS
        DAEMON_OPTION_HANDLERS

        case '?':
            exit(EXIT_FAILURE);

        default:
            abort();
        }
    }
    free(short_options);

    if (optind < argc) {
        ovs_fatal(0, "unexpected argument '%s'; use --help for usage",
                  argv[optind]);
    }
    if (!controller) {
        ovs_fatal(0, "--controller=HOST:PORT is required; use --help for "
                  "usage");
    }
    if ((tel_netstat_file || tel_rdma_root) && !tel_host) {
        ovs_fatal(0, "--telemetry-netstat and --telemetry-rdma-root need "
                  "--telemetry-host");
    }
    bool loopback = parse_controller(controller);
    bool tls = tls_ca_file || tls_cert_file || tls_key_file;
    if (!tls_cert_file != !tls_key_file) {
        ovs_fatal(0, "--tls-cert and --tls-key go together (mutual TLS)");
    }
    if (tls && insecure) {
        ovs_fatal(0, "--insecure (plaintext) contradicts --tls-*");
    }
    if (!tls && !loopback && !insecure) {
        ovs_fatal(0, "--controller=%s is not a loopback address: use "
                  "--tls-ca=FILE for TLS, or --insecure to send load "
                  "reports%s in plaintext", controller,
                  token_file ? " and the bearer token" : "");
    }
    if (!node_id) {
        char host[256];

        if (gethostname(host, sizeof host)) {
            ovs_fatal(errno, "gethostname failed; use --node-id");
        }
        host[sizeof host - 1] = '\0';
        if (!cats_id_valid(host)) {
            ovs_fatal(0, "the hostname '%s' is not a valid node id (1 to %d "
                      "characters from [A-Za-z0-9._:-]); use --node-id",
                      host, CATS_ID_MAX);
        }
        node_id = xstrdup(host);
    }
}

static void
usage(void)
{
    printf("%s: compute node agent of ovs-cats: measures this node's load "
           "and streams\nit to cats-controller (gRPC, cats.v1.Agent)\n"
           "usage: %s --controller=HOST:PORT [OPTIONS]\n"
           "\n"
           "Controller:\n"
           "  --controller=HOST:PORT  cats-controller's agent API "
           "(required),\n"
           "                          or unix:PATH (--grpc-listen="
           "unix:PATH)\n"
           "  --node-id=ID            this node's id (default: the "
           "hostname)\n"
           "  --token=FILE            send 'authorization: Bearer TOKEN' "
           "with every\n"
           "                          call, TOKEN read from FILE\n"
           "  --tls-ca=FILE           TLS, trusting the CAs in FILE (PEM)\n"
           "  --tls-cert=FILE --tls-key=FILE\n"
           "                          mutual TLS: this node's certificate "
           "and key (PEM)\n"
           "  --insecure              allow plaintext to a controller that "
           "is not on\n"
           "                          a loopback address\n"
           "\n"
           "Instances (registered with the controller; at most %d):\n"
           "  --instance=SERVICE,IP:PORT[,capacity=N][,prom=URL]"
           "[,prom-in-flight=METRIC]\n"
           "             [,prom-queue=METRIC][,prom-latency-ms=METRIC]\n"
           "                          capacity: requests served at once "
           "(default 0:\n"
           "                          unknown); prom: scrape "
           "http://127.0.0.1:PORT/PATH\n"
           "                          (or localhost) each interval for "
           "the metrics named,\n"
           "                          summed over label sets\n"
           "  --app-socket=PATH       unix datagram socket where "
           "applications send lines\n"
           "                          'SERVICE IP:PORT key=value...' "
           "(in_flight, queue,\n"
           "                          latency_ms, rps, tps, "
           "health=serving|not_serving|\n"
           "                          draining, l2)\n"
           "\n"
           "Reporting:\n"
           "  --interval=MS           report interval until the controller "
           "sets one\n"
           "                          (default %d)\n"
           "  --threshold=FRACTION    report at once when a value moves by "
           "more than\n"
           "                          this fraction (default 0.1; "
           "utilizations: 0.1\n"
           "                          absolute), at most 10 reports per "
           "interval\n"
           "\n"
           "Telemetry (cats.v1.Telemetry, source id = the node id; off "
           "unless one of\n"
           "the first two is given):\n"
           "  --telemetry-link=IFACE  report IFACE (repeatable, at most "
           "%d): link\n"
           "                          counters, root qdisc backlog and "
           "drops, AQM ECN\n"
           "                          marks, DCB PFC frames (802.3x pause: "
           "read, shown,\n"
           "                          not reported: no field for it)\n"
           "  --telemetry-host        report host entries: 'host-tcp' "
           "(tx_packets =\n"
           "                          TcpExt TCPDelivered, ecn_marked = "
           "TCPDeliveredCE,\n"
           "                          from /proc/net/netstat), and per "
           "RoCE port\n"
           "                          'rdma:DEV:PORT' (tx_packets = "
           "port_xmit_packets,\n"
           "                          ecn_marked = CNPs received: "
           "rp_cnp_handled +\n"
           "                          rp_cnp_ignored)\n"
           "  --telemetry-netstat=FILE --telemetry-rdma-root=DIR\n"
           "                          read these instead of "
           "/proc/net/netstat and\n"
           "                          /sys/class/infiniband (tests)\n"
           "\n"
           "Daemon:\n"
           "  --unixctl=SOCKET        ovs-appctl control socket\n",
           program_name, program_name, CATS_REPORT_MAX_INSTANCES,
           CATS_METRICS_REPORT_INTERVAL_MS, AGENT_TEL_MAX_IFACES);
    daemon_usage();
    vlog_usage();
    printf("\nOther options:\n"
           "  -h, --help              display this help message\n"
           "  -V, --version           display version information\n"
           "\nRun-time commands: ovs-appctl -t cats-agent agent/show, "
           "exit\n");
    exit(EXIT_SUCCESS);
}

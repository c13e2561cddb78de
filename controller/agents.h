/*
 * ovs-cats: the controller's side of the agent API.
 *
 * Owns the metrics store (include/cats/metrics.h) and the telemetry
 * table, takes the validated events of the gRPC server module
 * (grpc-server.h) in the main loop, applies them and answers them.  Load
 * and telemetry go on to steer.h, which sets the weights in use of
 * catalog instances through the path selector (cats/selector.h).
 *
 * Main thread only.
 */

#ifndef CATS_AGENTS_H
#define CATS_AGENTS_H 1

#include <stdbool.h>

#include "cats/metrics.h"
#include "cats/report.h"
#include "grpc-server.h"

struct cats_catalog;
struct ds;

struct agents_config {
    struct cats_grpc_server_options grpc;   /* 'listen' NULL: disabled. */
    const char *acl_file;                   /* NULL: no access list. */
    struct cats_report_policy defaults;     /* Limits, default prefixes. */
    struct cats_metrics_config metrics;
};

void agents_config_init(struct agents_config *);

/* Starts the agent API if 'cfg->grpc.listen' is set.  Exits with a clear
 * message on a bad access list or an unusable address. */
void agents_init(const struct agents_config *, struct cats_catalog *);
void agents_destroy(void);

/* Takes and applies what the agents sent, expires leases, and updates the
 * weights in use of 'catalog'.  Call before the flow model runs. */
void agents_run(struct cats_catalog *);
void agents_wait(void);

/* Reloads the access list file.  Returns NULL or an error message (the
 * old list stays). */
char *agents_reload_acl(void) OVS_WARN_UNUSED_RESULT;

/* Appends the agent view of 'inst' (" agent=NODE lease=active l2=7.2"),
 * nothing if no agent registered it. */
struct cats_instance;
void agents_format_instance(const struct cats_instance *, struct ds *);

/* Port and queue statistics of switch 'switch_name' (statctrl.h), as a
 * telemetry source "openflow:NAME" whose links are the ports, by name, and
 * their queues, "PORT:qN": an instance whose path= names a port (or a
 * queue) gets its drops in its path cost.
 * 'seqno' grows with each poll, 'epoch' changes when the connection
 * does (counters may restart). */
struct statctrl_port_stats;
struct statctrl_queue_stats;
void agents_switch_ports(const char *switch_name,
                         const struct statctrl_port_stats *, size_t n,
                         const struct statctrl_queue_stats *, size_t n_queues,
                         uint64_t seqno, long long int epoch);

void agents_register_commands(void);

#endif /* agents.h */

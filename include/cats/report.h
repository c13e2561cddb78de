/*
 * ovs-cats: decoding and validating agent API messages (proto/cats.proto).
 *
 * This is the edge where outside input enters: every byte handed to these
 * functions is assumed hostile.  Each decoder takes an encoded protobuf
 * message, decodes it with protobuf-c under a memory budget, checks every
 * field, and fills plain C structures that the rest of the controller uses
 * (the metrics store, include/cats/metrics.h).  Nothing outside this
 * module sees a protobuf-c type.
 *
 * What is checked, and refused as a whole (nothing is ever half decoded):
 *
 *   - size: an encoded message larger than the policy's 'max_size' is
 *     refused before decoding (EMSGSIZE), and so is one that would need
 *     more than 'max_decoded_size' bytes of memory once decoded (repeated
 *     empty submessages cost 2 bytes on the wire but ~100 in memory);
 *   - malformed protobuf (EBADMSG);
 *   - identifiers: node and link ids of 1 to CATS_ID_MAX characters from
 *     [A-Za-z0-9._:-]; service names of 1 to CATS_NAME_MAX printable ASCII
 *     characters without blanks; no embedded NUL (EINVAL);
 *   - unknown services, through the policy's callback (ENOENT);
 *   - addresses: dotted-quad IPv4, unicast (not 0/8, 127/8, multicast or
 *     reserved 240/4) (EINVAL), inside the policy's allowed prefixes when
 *     it has any (EPERM); ports 1 to 65535 (EINVAL);
 *   - counts: at most 'max_instances' instances or 'max_links' links per
 *     message (E2BIG), each at most once (EINVAL);
 *   - numbers: NaN, infinities and negative values are refused, and every
 *     metric has a range (cats_metric_max()).  Utilizations are fractions
 *     from 0 to 1, never percent: a value of 50 is an error, not 50%.
 *     L2 scores are 0 to 10 (EINVAL).
 *
 * Unknown fields are ignored (forward compatibility: a newer agent talks
 * to an older controller).  Unknown enum values get the meaning the .proto
 * documents: an unknown health is NOT_SERVING, an unknown link kind makes
 * the link entry ignored.
 *
 * Errors: functions return 0 or a positive errno value, and on error store
 * in '*errorp' a malloc'd one-line message naming the field, for example
 * "field 'instances[2].metrics.cpu_utilization': 50 is not between 0 and
 * 1", which the caller frees.  cats_report_grpc_status() maps each errno
 * value used here to the gRPC status to answer with.
 *
 * No I/O, no clock, no global state: safe to call from the gRPC thread.
 */

#ifndef CATS_REPORT_H
#define CATS_REPORT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cats/catalog.h"
#include "cats/wire.h"
#include "openvswitch/compiler.h"
#include "openvswitch/types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ofpbuf;

/* Longest free-text 'agent' string in a registration. */
#define CATS_AGENT_MAX 64

/* Policy defaults.  A registration or report for 128 instances with every
 * metric encodes to about 12 kB and decodes into about 60 kB. */
#define CATS_REPORT_MAX_SIZE (64 * 1024)
#define CATS_REPORT_MAX_DECODED_SIZE (1024 * 1024)
#define CATS_REPORT_MAX_INSTANCES 128
#define CATS_REPORT_MAX_LINKS 256

/* Largest instance capacity (concurrent requests). */
#define CATS_CAPACITY_MAX 1000000

/* Scores (L1, L2) are 0 to CATS_SCORE_MAX; higher is better. */
#define CATS_SCORE_MAX 10.0

/* Level 0 metrics, as in message Metrics of proto/cats.proto. */
enum cats_metric {
    CATS_METRIC_CPU,            /* cpu_utilization: fraction, 0 to 1. */
    CATS_METRIC_GPU,            /* gpu_utilization: fraction, 0 to 1. */
    CATS_METRIC_MEMORY,         /* memory_utilization: fraction, 0 to 1. */
    CATS_METRIC_GPU_MEMORY,     /* gpu_memory_utilization: 0 to 1. */
    CATS_METRIC_LOAD,           /* load_average_per_cpu: 0 to 1000. */
    CATS_METRIC_IN_FLIGHT,      /* requests_in_flight: count. */
    CATS_METRIC_QUEUE,          /* queue_depth: count. */
    CATS_METRIC_LATENCY,        /* latency_ms: milliseconds. */
    CATS_METRIC_RPS,            /* requests_per_second. */
    CATS_METRIC_TPS,            /* tokens_per_second. */
    CATS_N_METRICS
};

/* A set of L0 values: value[M] is meaningful only if bit M of 'present'
 * is set (a metric that was not measured is absent, not zero). */
struct cats_metric_values {
    uint32_t present;           /* 1u << enum cats_metric. */
    double value[CATS_N_METRICS];
};

static inline bool
cats_metric_values_has(const struct cats_metric_values *v,
                       enum cats_metric m)
{
    return (v->present & (UINT32_C(1) << m)) != 0;
}

/* The metric's name in proto/cats.proto ("cpu_utilization"), its unit
 * ("fraction", "count", "ms", "1/s"), and the largest value accepted. */
const char *cats_metric_name(enum cats_metric);
const char *cats_metric_unit(enum cats_metric);
double cats_metric_max(enum cats_metric);

/* Instance health, as reported (message Health in proto/cats.proto).
 * HEALTH_UNSPECIFIED decodes as SERVING, an unknown value as NOT_SERVING. */
enum cats_health {
    CATS_HEALTH_SERVING,
    CATS_HEALTH_NOT_SERVING,
    CATS_HEALTH_DRAINING,
};

const char *cats_health_name(enum cats_health);

/* An IPv4 prefix. */
struct cats_prefix {
    ovs_be32 addr;              /* Network address (host bits zero). */
    ovs_be32 mask;
    unsigned int plen;
};

/* What a decoder accepts.  The server keeps one per node (or one for all):
 * the prefixes a node may announce come from its identity.  Initialize
 * with cats_report_policy_init(), which sets the defaults above, no
 * prefix restriction and no service check. */
struct cats_report_policy {
    size_t max_size;            /* Largest encoded message, bytes. */
    size_t max_decoded_size;    /* Memory a decoded message may take. */
    size_t max_instances;       /* Instances per registration or report. */
    size_t max_links;           /* Links per telemetry report. */

    /* Instance addresses must fall in one of these (none: any unicast).
     * Owned; add with cats_report_policy_add_prefix(). */
    struct cats_prefix *prefixes;
    size_t n_prefixes;

    /* Returns true if a service named 'name' exists.  NULL: every
     * well-formed name is accepted.  cats_report_catalog_has_service()
     * with a struct cats_catalog as 'aux' checks a catalog. */
    bool (*service_exists)(const char *name, const void *aux);
    const void *aux;
};

void cats_report_policy_init(struct cats_report_policy *);
void cats_report_policy_destroy(struct cats_report_policy *);

/* Adds "A.B.C.D/LEN" (or a bare address, a /32) to the allowed prefixes.
 * Returns NULL or a malloc'd error message. */
char *cats_report_policy_add_prefix(struct cats_report_policy *,
                                    const char *cidr) OVS_WARN_UNUSED_RESULT;

/* True if 'ip' is inside one of the policy's prefixes (or it has none). */
bool cats_report_policy_allows(const struct cats_report_policy *,
                               ovs_be32 ip);

/* A 'service_exists' callback: 'catalog' is a const struct cats_catalog *.
 * The caller must keep the catalog from changing while decoding. */
bool cats_report_catalog_has_service(const char *name, const void *catalog);

/* An instance, as identified in messages: service, address and port. */
struct cats_report_key {
    char service[CATS_NAME_MAX + 1];
    ovs_be32 ip;
    uint16_t port;              /* Host order, 1 to 65535. */
};

/* RegisterRequest. */
struct cats_report_registration {
    char node_id[CATS_ID_MAX + 1];
    char agent[CATS_AGENT_MAX + 1];
    size_t n_instances;
    struct cats_report_spec {
        struct cats_report_key key;
        uint32_t capacity;      /* 0: unknown (the store counts 1). */
    } *instances;
};

/* LoadReport.  The node's metrics are merged into each instance's: an
 * instance value overrides the node's.  An empty instance list in the
 * message stays empty here: "all my instances", which the store expands
 * (with 'node_metrics' and health SERVING). */
struct cats_report_load {
    char node_id[CATS_ID_MAX + 1];
    uint64_t session;
    uint64_t seq;
    uint32_t window_ms;
    struct cats_metric_values node_metrics;
    size_t n_instances;
    struct cats_report_instance {
        struct cats_report_key key;
        enum cats_health health;
        struct cats_metric_values metrics;  /* Node's merged in. */
        bool has_l2;
        double l2;                          /* 0 to CATS_SCORE_MAX. */
    } *instances;
};

/* TelemetryReport: struct cats_report_telemetry, in cats/wire.h. */

/* Decoders.  Each decodes the 'size' bytes at 'data' as the named message
 * and validates it under 'policy'.  On success returns 0 and fills the
 * output, which the caller releases with the matching _destroy().  On
 * failure returns a positive errno value (see the top of this file),
 * stores a malloc'd message in '*errorp', and leaves the output empty
 * (its _destroy() is still safe to call), except that a LoadReport that
 * decoded but failed a check keeps its 'seq', for the ack that refuses
 * it. */
int cats_report_decode_registration(const void *data, size_t size,
                                    const struct cats_report_policy *,
                                    struct cats_report_registration *,
                                    char **errorp) OVS_WARN_UNUSED_RESULT;
void cats_report_registration_destroy(struct cats_report_registration *);

int cats_report_decode_load(const void *data, size_t size,
                            const struct cats_report_policy *,
                            struct cats_report_load *, char **errorp)
    OVS_WARN_UNUSED_RESULT;
void cats_report_load_destroy(struct cats_report_load *);

int cats_report_decode_telemetry(const void *data, size_t size,
                                 const struct cats_report_policy *,
                                 struct cats_report_telemetry *,
                                 char **errorp) OVS_WARN_UNUSED_RESULT;
void cats_report_telemetry_destroy(struct cats_report_telemetry *);

/* ListServicesRequest: stores the requested service name in 'service',
 * or "" for all services.  A name is checked like the others (ENOENT for
 * an unknown service, through the policy). */
int cats_report_decode_list_services(const void *data, size_t size,
                                     const struct cats_report_policy *,
                                     char service[CATS_NAME_MAX + 1],
                                     char **errorp) OVS_WARN_UNUSED_RESULT;

/* Replies.  Each appends one encoded message to 'out'. */
struct cats_report_ack {
    uint64_t seq;               /* Highest seq accepted. */
    uint32_t lease_ms;          /* Not in telemetry acks. */
    uint32_t report_interval_ms;
    int error;                  /* 0 or the errno value of a refused
                                 * report, sent as its gRPC status. */
    const char *error_message;  /* With 'error'. */
    uint64_t error_seq;         /* The refused report. */
};

void cats_report_encode_register_reply(uint64_t session, uint32_t lease_ms,
                                       uint32_t report_interval_ms,
                                       struct ofpbuf *out);
void cats_report_encode_ack(const struct cats_report_ack *,
                            struct ofpbuf *out);
void cats_report_encode_telemetry_ack(const struct cats_report_ack *,
                                      struct ofpbuf *out);

/* ListServicesReply, from plain structures (see message ServiceInfo in
 * proto/cats.proto for the meaning of each field). */
enum cats_lease_state {
    CATS_LEASE_STATIC = 1,      /* No agent reports on it. */
    CATS_LEASE_ACTIVE = 2,
    CATS_LEASE_UNHEALTHY = 3,
    CATS_LEASE_EXPIRED = 4,
};

/* Bits of 'scores_present' and indexes into 'scores'. */
enum cats_report_score {
    CATS_SCORE_COMPUTING,
    CATS_SCORE_OCCUPANCY,
    CATS_SCORE_DELAY,
    CATS_SCORE_L2,
    CATS_N_SCORES
};

struct cats_report_instance_info {
    ovs_be32 ip;
    uint16_t port;
    uint16_t weight;                /* In use now. */
    uint16_t configured_weight;
    const char *node_id;            /* NULL: no agent registered it. */
    enum cats_lease_state lease_state;
    enum cats_health health;
    uint32_t capacity;
    uint64_t lease_remaining_ms;
    uint64_t last_report_age_ms;
    const struct cats_metric_values *last;      /* NULL: none. */
    const struct cats_metric_values *smoothed;  /* NULL: none. */
    uint32_t scores_present;        /* 1u << enum cats_report_score. */
    double scores[CATS_N_SCORES];
};

struct cats_report_service_info {
    const char *name;
    ovs_be32 vip;
    uint16_t port;                  /* Host order. */
    uint8_t proto;                  /* IPPROTO_TCP or IPPROTO_UDP. */
    size_t n_instances;
    const struct cats_report_instance_info *instances;
};

void cats_report_encode_services(const struct cats_report_service_info *,
                                 size_t n, struct ofpbuf *out);

/* gRPC status codes (the numbering of grpc_status_code in grpc/status.h
 * and of google.rpc.Code, fixed by the gRPC specification). */
enum cats_grpc_status {
    CATS_GRPC_OK = 0,
    CATS_GRPC_UNKNOWN = 2,
    CATS_GRPC_INVALID_ARGUMENT = 3,
    CATS_GRPC_NOT_FOUND = 5,
    CATS_GRPC_ALREADY_EXISTS = 6,
    CATS_GRPC_PERMISSION_DENIED = 7,
    CATS_GRPC_RESOURCE_EXHAUSTED = 8,
    CATS_GRPC_FAILED_PRECONDITION = 9,
    CATS_GRPC_ABORTED = 10,
    CATS_GRPC_INTERNAL = 13,
};

/* Maps an errno value returned by this module or by the metrics store to
 * the gRPC status to answer with:
 *
 *   0                        OK
 *   EINVAL, EBADMSG          INVALID_ARGUMENT
 *   ENOENT                   NOT_FOUND            (unknown service)
 *   EEXIST                   ALREADY_EXISTS       (instance held elsewhere)
 *   EPERM, EACCES            PERMISSION_DENIED    (prefix, not registered)
 *   EMSGSIZE, E2BIG, ENOSPC,
 *   EBUSY                    RESOURCE_EXHAUSTED   (size, counts, rate)
 *   ESTALE                   FAILED_PRECONDITION  (register again)
 *   EALREADY                 ABORTED              (seq not increasing)
 *   anything else            INTERNAL */
enum cats_grpc_status cats_report_grpc_status(int error);

#ifdef __cplusplus
}
#endif

#endif /* cats/report.h */

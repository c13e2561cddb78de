/*
 * ovs-cats: decoding and validating agent API messages.  See
 * include/cats/report.h.
 */

#include <config.h>

#include "cats/report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/ofpbuf.h"
#include "packets.h"
#include "proto/cats.pb-c.h"
#include "util.h"

/* Metric table: names as in proto/cats.proto, units, largest value. */
struct metric_info {
    const char *name;
    const char *unit;
    double max;
};

static const struct metric_info metric_info[CATS_N_METRICS] = {
    [CATS_METRIC_CPU] = { "cpu_utilization", "fraction", 1.0 },
    [CATS_METRIC_GPU] = { "gpu_utilization", "fraction", 1.0 },
    [CATS_METRIC_MEMORY] = { "memory_utilization", "fraction", 1.0 },
    [CATS_METRIC_GPU_MEMORY] = { "gpu_memory_utilization", "fraction",
                                 1.0 },
    [CATS_METRIC_LOAD] = { "load_average_per_cpu", "tasks/cpu", 1000.0 },
    [CATS_METRIC_IN_FLIGHT] = { "requests_in_flight", "count", 1e7 },
    [CATS_METRIC_QUEUE] = { "queue_depth", "count", 1e7 },
    [CATS_METRIC_LATENCY] = { "latency_ms", "ms", 3.6e6 },
    [CATS_METRIC_RPS] = { "requests_per_second", "1/s", 1e9 },
    [CATS_METRIC_TPS] = { "tokens_per_second", "1/s", 1e12 },
};

/* Largest RTT accepted in telemetry, microseconds (10 s). */
#define RTT_MAX_US 1e7

const char *
cats_metric_name(enum cats_metric m)
{
    return m < CATS_N_METRICS ? metric_info[m].name : "unknown";
}

const char *
cats_metric_unit(enum cats_metric m)
{
    return m < CATS_N_METRICS ? metric_info[m].unit : "";
}

double
cats_metric_max(enum cats_metric m)
{
    return m < CATS_N_METRICS ? metric_info[m].max : 0.0;
}

const char *
cats_health_name(enum cats_health h)
{
    switch (h) {
    case CATS_HEALTH_SERVING:
        return "serving";
    case CATS_HEALTH_NOT_SERVING:
        return "not-serving";
    case CATS_HEALTH_DRAINING:
        return "draining";
    }
    return "unknown";
}

/* Policy. */

void
cats_report_policy_init(struct cats_report_policy *policy)
{
    memset(policy, 0, sizeof *policy);
    policy->max_size = CATS_REPORT_MAX_SIZE;
    policy->max_decoded_size = CATS_REPORT_MAX_DECODED_SIZE;
    policy->max_instances = CATS_REPORT_MAX_INSTANCES;
    policy->max_links = CATS_REPORT_MAX_LINKS;
}

void
cats_report_policy_destroy(struct cats_report_policy *policy)
{
    if (policy) {
        free(policy->prefixes);
        policy->prefixes = NULL;
        policy->n_prefixes = 0;
    }
}

char *
cats_report_policy_add_prefix(struct cats_report_policy *policy,
                              const char *cidr)
{
    unsigned int plen;
    ovs_be32 addr;
    char *error;

    error = ip_parse_cidr(cidr, &addr, &plen);
    if (error) {
        free(error);
        return xasprintf("'%s' is not an IPv4 prefix (A.B.C.D/LEN)", cidr);
    }

    struct cats_prefix *p;
    policy->prefixes = xrealloc(policy->prefixes,
                                (policy->n_prefixes + 1)
                                * sizeof *policy->prefixes);
    p = &policy->prefixes[policy->n_prefixes++];
    p->plen = plen;
    p->mask = be32_prefix_mask(plen);
    p->addr = addr & p->mask;
    return NULL;
}

bool
cats_report_catalog_has_service(const char *name, const void *catalog)
{
    return cats_catalog_find(catalog, name) != NULL;
}

/* gRPC status. */

enum cats_grpc_status
cats_report_grpc_status(int error)
{
    switch (error) {
    case 0:
        return CATS_GRPC_OK;
    case EINVAL:
    case EBADMSG:
        return CATS_GRPC_INVALID_ARGUMENT;
    case ENOENT:
        return CATS_GRPC_NOT_FOUND;
    case EEXIST:
        return CATS_GRPC_ALREADY_EXISTS;
    case EPERM:
    case EACCES:
        return CATS_GRPC_PERMISSION_DENIED;
    case EMSGSIZE:
    case E2BIG:
    case ENOSPC:
    case EBUSY:
        return CATS_GRPC_RESOURCE_EXHAUSTED;
    case ESTALE:
        return CATS_GRPC_FAILED_PRECONDITION;
    case EALREADY:
        return CATS_GRPC_ABORTED;
    default:
        return CATS_GRPC_INTERNAL;
    }
}

/* Decoding under a memory budget.
 *
 * protobuf-c allocates every submessage, string and repeated array
 * separately through the allocator we give it.  Ours keeps a header in
 * front of each block, so that it can count the bytes in use against the
 * budget and, later, tell the exact length that a string had on the wire:
 * protobuf-c allocates len + 1 bytes for every string present in the
 * message, so a string shorter than that held a NUL byte. */

union block_header {
    size_t size;
    max_align_t align;
};

/* Bytes of blocks a decoder takes from its own buffer before it falls
 * back to malloc(): a load report with its node's metrics and a few
 * instances fits, so the common message costs no heap allocation (there
 * were three malloc()/free() pairs per report, each taking the arena lock
 * of a thread that decodes 100,000 reports a second). */
#define DECODER_ARENA 2048

struct decoder {
    ProtobufCAllocator allocator;
    size_t used;                /* Bytes allocated now, headers included. */
    size_t limit;
    bool exceeded;
    size_t arena_used;          /* Entries of 'arena' handed out. */
    union block_header arena[DECODER_ARENA / sizeof(union block_header)];
};

static bool
in_arena(const struct decoder *d, const union block_header *h)
{
    return h >= d->arena && h < d->arena + ARRAY_SIZE(d->arena);
}

static void *
decoder_alloc(void *d_, size_t size)
{
    struct decoder *d = d_;
    union block_header *h;
    size_t total = size + sizeof *h;

    if (total < size || total > d->limit || d->used > d->limit - total) {
        d->exceeded = true;
        return NULL;
    }
    /* Blocks in the arena are whole headers long, so that each is
     * aligned as malloc()'s are; they are never reused: protobuf-c frees
     * only what it is done with, once decoding fails or in
     * free_unpacked(). */
    size_t n = DIV_ROUND_UP(total, sizeof *h);
    if (n <= ARRAY_SIZE(d->arena) - d->arena_used) {
        h = &d->arena[d->arena_used];
        d->arena_used += n;
    } else {
        h = xmalloc(total);
    }
    h->size = size;
    d->used += total;
    return h + 1;
}

static void
decoder_free(void *d_, void *p)
{
    struct decoder *d = d_;

    if (p) {
        union block_header *h = (union block_header *) p - 1;

        d->used -= h->size + sizeof *h;
        if (!in_arena(d, h)) {
            free(h);
        }
    }
}

/* Returns true if protobuf-c string 's', decoded by our allocator, held a
 * NUL byte on the wire.  Strings absent from the message point to
 * protobuf_c_empty_string, which our allocator never saw. */
static bool
string_has_nul(const char *s)
{
    if (s == protobuf_c_empty_string) {
        return false;
    }
    const union block_header *h = (const union block_header *) s - 1;
    return strlen(s) + 1 != h->size;
}

/* Decodes 'data' as a message of type 'desc' under 'policy'. */
static ProtobufCMessage *
decode(const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
       const struct cats_report_policy *policy, struct decoder *d,
       int *error, char **errorp)
{
    static const uint8_t empty[1];
    ProtobufCMessage *msg;

    d->allocator.alloc = decoder_alloc;
    d->allocator.free = decoder_free;
    d->allocator.allocator_data = d;
    d->used = 0;
    d->limit = policy->max_decoded_size;
    d->exceeded = false;
    d->arena_used = 0;

    if (size > policy->max_size) {
        *error = EMSGSIZE;
        *errorp = xasprintf("message of %"PRIuSIZE" bytes is larger than "
                            "the limit of %"PRIuSIZE" bytes",
                            size, policy->max_size);
        return NULL;
    }
    msg = protobuf_c_message_unpack(desc, &d->allocator, size,
                                    data ? data : empty);
    if (!msg) {
        if (d->exceeded) {
            *error = EMSGSIZE;
            *errorp = xasprintf("message needs more than %"PRIuSIZE" bytes "
                                "of memory once decoded",
                                policy->max_decoded_size);
        } else {
            *error = EBADMSG;
            *errorp = xasprintf("malformed protobuf: not a valid %s",
                                desc->name);
        }
    }
    return msg;
}

static void
release(ProtobufCMessage *msg, struct decoder *d)
{
    if (msg) {
        protobuf_c_message_free_unpacked(msg, &d->allocator);
    }
    ovs_assert(d->used == 0);
}

/* Field checks.  Each returns 0 or an errno value with '*errorp' set.
 * 'where' names the field ("instances[2].ip"); values from the message are
 * quoted in messages only after their characters were checked. */

static int OVS_PRINTF_FORMAT(3, 4)
field_error(char **errorp, const char *where, const char *format, ...)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    va_list args;

    ds_put_format(&s, "field '%s': ", where);
    va_start(args, format);
    ds_put_format_valist(&s, format, args);
    va_end(args);
    *errorp = ds_steal_cstr(&s);
    return EINVAL;
}

/* Node, source and link ids. */
static int
check_id(const char *where, const char *s, char *out, char **errorp)
{
    size_t len = strlen(s);

    if (string_has_nul(s)) {
        return field_error(errorp, where, "contains a NUL byte");
    }
    if (!len || len > CATS_ID_MAX) {
        return field_error(errorp, where, "must be 1 to %d characters (is "
                           "%"PRIuSIZE")", CATS_ID_MAX, len);
    }
    for (size_t i = 0; i < len; i++) {
        if (!cats_id_char(s[i])) {
            return field_error(errorp, where, "character %"PRIuSIZE" is "
                               "not a letter, digit, '.', '_', ':' or '-'",
                               i + 1);
        }
    }
    memcpy(out, s, len + 1);
    return 0;
}

/* Free text: printable ASCII and spaces, may be empty. */
static int
check_text(const char *where, const char *s, char *out, size_t max,
           char **errorp)
{
    size_t len = strlen(s);

    if (string_has_nul(s)) {
        return field_error(errorp, where, "contains a NUL byte");
    }
    if (len > max) {
        return field_error(errorp, where, "must be at most %"PRIuSIZE" "
                           "characters (is %"PRIuSIZE")", max, len);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c > 0x7e) {
            return field_error(errorp, where, "character %"PRIuSIZE" is "
                               "not printable ASCII", i + 1);
        }
    }
    memcpy(out, s, len + 1);
    return 0;
}

static int
check_service(const char *where, const char *s,
              const struct cats_report_policy *policy, char *out,
              char **errorp)
{
    size_t len = strlen(s);

    if (string_has_nul(s)) {
        return field_error(errorp, where, "contains a NUL byte");
    }
    if (!len || len > CATS_NAME_MAX) {
        return field_error(errorp, where, "a service name is 1 to %d "
                           "characters (is %"PRIuSIZE")", CATS_NAME_MAX, len);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c <= 0x20 || c > 0x7e) {
            return field_error(errorp, where, "character %"PRIuSIZE" is "
                               "not printable ASCII without blanks", i + 1);
        }
    }
    if (policy->service_exists && !policy->service_exists(s, policy->aux)) {
        field_error(errorp, where, "unknown service '%s'", s);
        return ENOENT;
    }
    memcpy(out, s, len + 1);
    return 0;
}

/* 0/8, 127/8, and 224/3 (multicast, reserved, broadcast) are not
 * addresses an instance can have. */
static bool
is_unicast(ovs_be32 ip)
{
    uint8_t first = ntohl(ip) >> 24;

    return first != 0 && first != 127 && first < 224;
}

bool
cats_report_policy_allows(const struct cats_report_policy *policy,
                          ovs_be32 ip)
{
    if (!policy->n_prefixes) {
        return true;
    }
    for (size_t i = 0; i < policy->n_prefixes; i++) {
        const struct cats_prefix *p = &policy->prefixes[i];
        if ((ip & p->mask) == p->addr) {
            return true;
        }
    }
    return false;
}

static int
check_ip(const char *where, const char *s,
         const struct cats_report_policy *policy, ovs_be32 *ip,
         char **errorp)
{
    size_t len = strlen(s);

    if (string_has_nul(s)) {
        return field_error(errorp, where, "contains a NUL byte");
    }
    /* Only digits and dots (and at most "255.255.255.255") are ever
     * quoted back. */
    if (!len || len > 15 || strspn(s, "0123456789.") != len) {
        return field_error(errorp, where, "not an IPv4 address (A.B.C.D)");
    }
    if (!ip_parse(s, ip)) {
        return field_error(errorp, where, "'%s' is not an IPv4 address", s);
    }
    if (!is_unicast(*ip)) {
        return field_error(errorp, where, "%s is not a unicast address", s);
    }
    if (!cats_report_policy_allows(policy, *ip)) {
        field_error(errorp, where, "%s is outside the prefixes this node "
                    "may announce", s);
        return EPERM;
    }
    return 0;
}

static int
check_port(const char *where, uint32_t port, uint16_t *out, char **errorp)
{
    if (!port || port > 65535) {
        return field_error(errorp, where, "%"PRIu32" is not a port between 1 "
                           "and 65535", port);
    }
    *out = port;
    return 0;
}

/* A floating-point value that must be finite and between 0 and 'max'. */
static int
check_double(const char *where, double x, double max, double *out,
             char **errorp)
{
    if (isnan(x)) {
        return field_error(errorp, where, "not a number (NaN)");
    }
    if (isinf(x)) {
        return field_error(errorp, where, "infinite");
    }
    if (x < 0) {
        return field_error(errorp, where, "%.15g is negative", x);
    }
    if (x > max) {
        return field_error(errorp, where, "%.15g is not between 0 and %.15g",
                           x, max);
    }
    *out = x + 0.0;             /* -0.0 becomes 0.0. */
    return 0;
}

static void
set_metric(struct cats_metric_values *v, enum cats_metric m, double x)
{
    v->present |= UINT32_C(1) << m;
    v->value[m] = x;
}

/* Converts 'pb' (may be NULL: no metrics) into 'out'. */
static int
check_metrics(const char *where, const Cats__V1__Metrics *pb,
              struct cats_metric_values *out, char **errorp)
{
    memset(out, 0, sizeof *out);
    if (!pb) {
        return 0;
    }

    /* 'where' ends in '.': "instances[0].metrics." or "node.". */
#define CHECK_METRIC(FIELD, METRIC)                                     \
    do {                                                                \
        if (pb->_##FIELD##_case) {                                      \
            double x;                                                   \
            int error = check_double("", pb->FIELD,                     \
                                     metric_info[METRIC].max, &x,       \
                                     errorp);                           \
            if (error) {                                                \
                /* Name the field only on error: reports are hot. */    \
                char *msg = *errorp;                                    \
                *errorp = xasprintf("field '%s%s%s", where, #FIELD,     \
                                    msg + strlen("field '"));           \
                free(msg);                                              \
                return error;                                           \
            }                                                           \
            set_metric(out, METRIC, x);                                 \
        }                                                               \
    } while (0)
    CHECK_METRIC(cpu_utilization, CATS_METRIC_CPU);
    CHECK_METRIC(gpu_utilization, CATS_METRIC_GPU);
    CHECK_METRIC(memory_utilization, CATS_METRIC_MEMORY);
    CHECK_METRIC(gpu_memory_utilization, CATS_METRIC_GPU_MEMORY);
    CHECK_METRIC(load_average_per_cpu, CATS_METRIC_LOAD);
    CHECK_METRIC(requests_in_flight, CATS_METRIC_IN_FLIGHT);
    CHECK_METRIC(queue_depth, CATS_METRIC_QUEUE);
    CHECK_METRIC(latency_ms, CATS_METRIC_LATENCY);
    CHECK_METRIC(requests_per_second, CATS_METRIC_RPS);
    CHECK_METRIC(tokens_per_second, CATS_METRIC_TPS);
#undef CHECK_METRIC
    return 0;
}

/* Duplicate detection over the entries of one message. */
struct seen {
    struct hmap map;
    struct seen_node {
        struct hmap_node node;
        size_t idx;
    } *nodes;
};

static void
seen_init(struct seen *seen, size_t n)
{
    hmap_init(&seen->map);
    hmap_reserve(&seen->map, n);
    seen->nodes = xmalloc((n ? n : 1) * sizeof *seen->nodes);
}

static void
seen_destroy(struct seen *seen)
{
    hmap_destroy(&seen->map);
    free(seen->nodes);
}

static uint32_t
key_hash(const struct cats_report_key *key)
{
    return hash_string(key->service,
                       hash_2words((OVS_FORCE uint32_t) key->ip, key->port));
}

static bool
key_equals(const struct cats_report_key *a, const struct cats_report_key *b)
{
    return a->ip == b->ip && a->port == b->port
           && !strcmp(a->service, b->service);
}

/* Validates an instance key: 'prefix' is the entry ("instances[3]"). */
static int
check_key(const char *prefix, const char *service, const char *ip,
          uint32_t port, const struct cats_report_policy *policy,
          struct cats_report_key *key, char **errorp)
{
    char *where;
    int error;

    where = xasprintf("%s.service", prefix);
    error = check_service(where, service, policy, key->service, errorp);
    free(where);
    if (!error) {
        where = xasprintf("%s.ip", prefix);
        error = check_ip(where, ip, policy, &key->ip, errorp);
        free(where);
    }
    if (!error) {
        where = xasprintf("%s.port", prefix);
        error = check_port(where, port, &key->port, errorp);
        free(where);
    }
    return error;
}

/* Adds key number 'idx' of 'keys' (an array of 'stride'-byte elements
 * that begin with a struct cats_report_key) to 'seen'; fails if it is
 * there already. */
static int
check_unique_key(struct seen *seen, const void *keys, size_t stride,
                 size_t idx, char **errorp)
{
    const struct cats_report_key *key = (const void *)
        ((const char *) keys + idx * stride);
    uint32_t hash = key_hash(key);
    struct seen_node *s;

    HMAP_FOR_EACH_WITH_HASH (s, node, hash, &seen->map) {
        const struct cats_report_key *other = (const void *)
            ((const char *) keys + s->idx * stride);
        if (key_equals(key, other)) {
            *errorp = xasprintf("field 'instances[%"PRIuSIZE"]': instance "
                                "%s "IP_FMT":%"PRIu16" is listed twice "
                                "(also instances[%"PRIuSIZE"])", idx,
                                key->service, IP_ARGS(key->ip), key->port,
                                s->idx);
            return EINVAL;
        }
    }
    seen->nodes[idx].idx = idx;
    hmap_insert(&seen->map, &seen->nodes[idx].node, hash);
    return 0;
}

static int
check_count(const char *field, size_t n, size_t max, char **errorp)
{
    if (n > max) {
        *errorp = xasprintf("field '%s': %"PRIuSIZE" entries, more than the "
                            "limit of %"PRIuSIZE, field, n, max);
        return E2BIG;
    }
    return 0;
}

/* RegisterRequest. */

static int
registration_from_pb(const Cats__V1__RegisterRequest *pb,
                     const struct cats_report_policy *policy,
                     struct cats_report_registration *reg, char **errorp)
{
    struct seen seen;
    int error;

    error = check_id("node_id", pb->node_id, reg->node_id, errorp);
    if (!error) {
        error = check_text("agent", pb->agent, reg->agent, CATS_AGENT_MAX,
                           errorp);
    }
    if (!error) {
        error = check_count("instances", pb->n_instances,
                            policy->max_instances, errorp);
    }
    if (error) {
        return error;
    }

    reg->instances = xcalloc(pb->n_instances ? pb->n_instances : 1,
                             sizeof *reg->instances);
    seen_init(&seen, pb->n_instances);
    for (size_t i = 0; i < pb->n_instances && !error; i++) {
        const Cats__V1__InstanceSpec *ipb = pb->instances[i];
        struct cats_report_spec *spec = &reg->instances[i];
        char *prefix = xasprintf("instances[%"PRIuSIZE"]", i);

        error = check_key(prefix, ipb->service, ipb->ip, ipb->port, policy,
                          &spec->key, errorp);
        if (!error && ipb->capacity > CATS_CAPACITY_MAX) {
            char *where = xasprintf("%s.capacity", prefix);
            error = field_error(errorp, where, "%"PRIu32" is not between 0 "
                                "and %d", ipb->capacity, CATS_CAPACITY_MAX);
            free(where);
        }
        free(prefix);
        if (!error) {
            spec->capacity = ipb->capacity;
            error = check_unique_key(&seen, reg->instances,
                                     sizeof *reg->instances, i, errorp);
        }
    }
    seen_destroy(&seen);
    if (!error) {
        reg->n_instances = pb->n_instances;
    }
    return error;
}

int
cats_report_decode_registration(const void *data, size_t size,
                                const struct cats_report_policy *policy,
                                struct cats_report_registration *reg,
                                char **errorp)
{
    struct decoder d;
    ProtobufCMessage *msg;
    int error = 0;

    memset(reg, 0, sizeof *reg);
    *errorp = NULL;
    msg = decode(&cats__v1__register_request__descriptor, data, size, policy,
                 &d, &error, errorp);
    if (msg) {
        error = registration_from_pb((const void *) msg, policy, reg,
                                     errorp);
        release(msg, &d);
    }
    if (error) {
        cats_report_registration_destroy(reg);
    }
    return error;
}

void
cats_report_registration_destroy(struct cats_report_registration *reg)
{
    if (reg) {
        free(reg->instances);
        memset(reg, 0, sizeof *reg);
    }
}

/* LoadReport. */

static int
check_seq(uint64_t seq, char **errorp)
{
    if (!seq) {
        return field_error(errorp, "seq", "must be at least 1");
    }
    return 0;
}

static enum cats_health
health_from_pb(Cats__V1__Health h)
{
    switch ((int) h) {
    case CATS__V1__HEALTH__HEALTH_UNSPECIFIED:
    case CATS__V1__HEALTH__HEALTH_SERVING:
        return CATS_HEALTH_SERVING;
    case CATS__V1__HEALTH__HEALTH_DRAINING:
        return CATS_HEALTH_DRAINING;
    case CATS__V1__HEALTH__HEALTH_NOT_SERVING:
    default:
        return CATS_HEALTH_NOT_SERVING;
    }
}

/* Overrides 'base' with every metric present in 'over'. */
static void
merge_metrics(struct cats_metric_values *base,
              const struct cats_metric_values *over)
{
    for (int m = 0; m < CATS_N_METRICS; m++) {
        if (cats_metric_values_has(over, m)) {
            set_metric(base, m, over->value[m]);
        }
    }
}

static int
instance_load_from_pb(size_t i, const Cats__V1__InstanceLoad *ipb,
                      const struct cats_report_policy *policy,
                      const struct cats_metric_values *node_metrics,
                      struct cats_report_instance *inst, char **errorp)
{
    char *prefix = xasprintf("instances[%"PRIuSIZE"]", i);
    struct cats_metric_values own;
    char *where;
    int error;

    error = check_key(prefix, ipb->service, ipb->ip, ipb->port, policy,
                      &inst->key, errorp);
    if (!error) {
        where = xasprintf("%s.metrics.", prefix);
        error = check_metrics(where, ipb->metrics, &own, errorp);
        free(where);
    }
    if (!error && ipb->_l2_score_case) {
        where = xasprintf("%s.l2_score", prefix);
        error = check_double(where, ipb->l2_score, CATS_SCORE_MAX,
                             &inst->l2, errorp);
        free(where);
        inst->has_l2 = !error;
    }
    free(prefix);
    if (!error) {
        inst->health = health_from_pb(ipb->health);
        inst->metrics = *node_metrics;
        merge_metrics(&inst->metrics, &own);
    }
    return error;
}

static int
load_from_pb(const Cats__V1__LoadReport *pb,
             const struct cats_report_policy *policy,
             struct cats_report_load *load, char **errorp)
{
    struct seen seen;
    int error;

    error = check_id("node_id", pb->node_id, load->node_id, errorp);
    if (!error) {
        error = check_seq(pb->seq, errorp);
    }
    if (!error) {
        error = check_metrics("node.", pb->node, &load->node_metrics,
                              errorp);
    }
    if (!error) {
        error = check_count("instances", pb->n_instances,
                            policy->max_instances, errorp);
    }
    if (error) {
        return error;
    }
    load->session = pb->session_id;
    load->seq = pb->seq;
    load->window_ms = pb->window_ms;

    load->instances = xcalloc(pb->n_instances ? pb->n_instances : 1,
                              sizeof *load->instances);
    seen_init(&seen, pb->n_instances);
    for (size_t i = 0; i < pb->n_instances && !error; i++) {
        error = instance_load_from_pb(i, pb->instances[i], policy,
                                      &load->node_metrics,
                                      &load->instances[i], errorp);
        if (!error) {
            error = check_unique_key(&seen, load->instances,
                                     sizeof *load->instances, i, errorp);
        }
    }
    seen_destroy(&seen);
    if (!error) {
        load->n_instances = pb->n_instances;
    }
    return error;
}

int
cats_report_decode_load(const void *data, size_t size,
                        const struct cats_report_policy *policy,
                        struct cats_report_load *load, char **errorp)
{
    struct decoder d;
    ProtobufCMessage *msg;
    int error = 0;

    memset(load, 0, sizeof *load);
    *errorp = NULL;
    msg = decode(&cats__v1__load_report__descriptor, data, size, policy, &d,
                 &error, errorp);
    uint64_t seq = 0;
    if (msg) {
        seq = ((const Cats__V1__LoadReport *) msg)->seq;
        error = load_from_pb((const void *) msg, policy, load, errorp);
        release(msg, &d);
    }
    if (error) {
        cats_report_load_destroy(load);
        load->seq = seq;        /* For the ack's error_seq. */
    }
    return error;
}

void
cats_report_load_destroy(struct cats_report_load *load)
{
    if (load) {
        free(load->instances);
        memset(load, 0, sizeof *load);
    }
}

/* TelemetryReport. */

static int
pfc_from_pb(const char *prefix, const Cats__V1__LinkTelemetry *lpb,
            struct cats_report_link *link, char **errorp)
{
    uint8_t seen = 0;
    char *where;

    if (lpb->n_pfc > CATS_PFC_PRIORITIES) {
        where = xasprintf("%s.pfc", prefix);
        check_count(where, lpb->n_pfc, CATS_PFC_PRIORITIES, errorp);
        free(where);
        return E2BIG;
    }
    for (size_t i = 0; i < lpb->n_pfc; i++) {
        const Cats__V1__PfcPriority *ppb = lpb->pfc[i];
        struct cats_report_pfc *pfc = &link->pfc[i];

        if (ppb->priority >= CATS_PFC_PRIORITIES
            || seen & (1u << ppb->priority)) {
            where = xasprintf("%s.pfc[%"PRIuSIZE"].priority", prefix, i);
            if (ppb->priority >= CATS_PFC_PRIORITIES) {
                field_error(errorp, where, "%"PRIu32" is not a priority "
                            "between 0 and 7", ppb->priority);
            } else {
                field_error(errorp, where, "priority %"PRIu32" is listed "
                            "twice", ppb->priority);
            }
            free(where);
            return EINVAL;
        }
        seen |= 1u << ppb->priority;
        pfc->priority = ppb->priority;
        pfc->rx_pause_frames = ppb->rx_pause_frames;
        pfc->tx_pause_frames = ppb->tx_pause_frames;
        pfc->rx_pause_us = ppb->rx_pause_us;
        pfc->tx_pause_us = ppb->tx_pause_us;
        pfc->paused_for_us = ppb->paused_for_us;
        pfc->storm = ppb->storm;
    }
    link->n_pfc = lpb->n_pfc;
    return 0;
}

static int
link_from_pb(size_t i, const Cats__V1__LinkTelemetry *lpb,
             struct cats_report_link *link, char **errorp)
{
    char *prefix = xasprintf("links[%"PRIuSIZE"]", i);
    char *where;
    int error;

    where = xasprintf("%s.id", prefix);
    error = check_id(where, lpb->id, link->id, errorp);
    free(where);
    if (!error && lpb->_rtt_us_case) {
        where = xasprintf("%s.rtt_us", prefix);
        error = check_double(where, lpb->rtt_us, RTT_MAX_US, &link->rtt_us,
                             errorp);
        free(where);
        link->has_rtt = !error;
    }
    if (!error) {
        error = pfc_from_pb(prefix, lpb, link, errorp);
    }
    free(prefix);
    if (error) {
        return error;
    }
    link->kind = (lpb->kind == CATS__V1__LINK_KIND__LINK_KIND_PATH
                  ? CATS_LINK_KIND_PATH : CATS_LINK_KIND_LINK);
    link->tx_packets = lpb->tx_packets;
    link->tx_bytes = lpb->tx_bytes;
    link->ecn_marked_packets = lpb->ecn_marked_packets;
    link->drops = lpb->drops;
    link->has_queue_depth = lpb->_queue_depth_bytes_case != 0;
    link->queue_depth_bytes = lpb->queue_depth_bytes;
    link->speed_bps = lpb->speed_bps;
    return 0;
}

static bool
link_kind_known(Cats__V1__LinkKind kind)
{
    switch ((int) kind) {
    case CATS__V1__LINK_KIND__LINK_KIND_UNSPECIFIED:
    case CATS__V1__LINK_KIND__LINK_KIND_LINK:
    case CATS__V1__LINK_KIND__LINK_KIND_PATH:
        return true;
    default:
        return false;
    }
}

static int
telemetry_from_pb(const Cats__V1__TelemetryReport *pb,
                  const struct cats_report_policy *policy,
                  struct cats_report_telemetry *t, char **errorp)
{
    struct seen seen;
    size_t n = 0;
    int error;

    error = check_id("source_id", pb->source_id, t->source_id, errorp);
    if (!error) {
        error = check_seq(pb->seq, errorp);
    }
    if (!error) {
        error = check_count("links", pb->n_links, policy->max_links, errorp);
    }
    if (error) {
        return error;
    }
    t->seq = pb->seq;
    t->counters_epoch = pb->counters_epoch;

    /* Entries of an unknown kind are checked like the others (ids stay
     * unique per source) but left out of the result. */
    t->links = xcalloc(pb->n_links ? pb->n_links : 1, sizeof *t->links);
    seen_init(&seen, pb->n_links);
    for (size_t i = 0; i < pb->n_links && !error; i++) {
        const Cats__V1__LinkTelemetry *lpb = pb->links[i];
        struct cats_report_link *link = &t->links[n];
        uint32_t hash;

        error = link_from_pb(i, lpb, link, errorp);
        if (error) {
            break;
        }
        hash = hash_string(link->id, 0);

        struct seen_node *s;
        HMAP_FOR_EACH_WITH_HASH (s, node, hash, &seen.map) {
            if (!strcmp(pb->links[s->idx]->id, link->id)) {
                *errorp = xasprintf("field 'links[%"PRIuSIZE"].id': link "
                                    "'%s' is listed twice (also "
                                    "links[%"PRIuSIZE"])", i, link->id,
                                    s->idx);
                error = EINVAL;
                break;
            }
        }
        if (!error) {
            seen.nodes[i].idx = i;
            hmap_insert(&seen.map, &seen.nodes[i].node, hash);
            if (link_kind_known(lpb->kind)) {
                n++;
            } else {
                memset(link, 0, sizeof *link);
            }
        }
    }
    seen_destroy(&seen);
    if (!error) {
        t->n_links = n;
    }
    return error;
}

int
cats_report_decode_telemetry(const void *data, size_t size,
                             const struct cats_report_policy *policy,
                             struct cats_report_telemetry *t, char **errorp)
{
    struct decoder d;
    ProtobufCMessage *msg;
    int error = 0;

    memset(t, 0, sizeof *t);
    *errorp = NULL;
    msg = decode(&cats__v1__telemetry_report__descriptor, data, size, policy,
                 &d, &error, errorp);
    if (msg) {
        error = telemetry_from_pb((const void *) msg, policy, t, errorp);
        release(msg, &d);
    }
    if (error) {
        cats_report_telemetry_destroy(t);
    }
    return error;
}

void
cats_report_telemetry_destroy(struct cats_report_telemetry *t)
{
    if (t) {
        free(t->links);
        memset(t, 0, sizeof *t);
    }
}

/* ListServicesRequest. */
int
cats_report_decode_list_services(const void *data, size_t size,
                                 const struct cats_report_policy *policy,
                                 char service[CATS_NAME_MAX + 1],
                                 char **errorp)
{
    struct decoder d;
    ProtobufCMessage *msg;
    int error = 0;

    service[0] = '\0';
    *errorp = NULL;
    msg = decode(&cats__v1__list_services_request__descriptor, data, size,
                 policy, &d, &error, errorp);
    if (msg) {
        const Cats__V1__ListServicesRequest *pb = (const void *) msg;

        if (pb->service[0] || string_has_nul(pb->service)) {
            error = check_service("service", pb->service, policy, service,
                                  errorp);
        }
        release(msg, &d);
    }
    if (error) {
        service[0] = '\0';
    }
    return error;
}

/* Replies. */

static void
encode(const ProtobufCMessage *msg, struct ofpbuf *out)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    uint8_t *p = ofpbuf_put_uninit(out, size);

    ovs_assert(protobuf_c_message_pack(msg, p) == size);
}

void
cats_report_encode_register_reply(uint64_t session, uint32_t lease_ms,
                                  uint32_t report_interval_ms,
                                  struct ofpbuf *out)
{
    Cats__V1__RegisterReply reply = CATS__V1__REGISTER_REPLY__INIT;

    reply.session_id = session;
    reply.lease_ms = lease_ms;
    reply.report_interval_ms = report_interval_ms;
    encode(&reply.base, out);
}

void
cats_report_encode_ack(const struct cats_report_ack *ack,
                       struct ofpbuf *out)
{
    Cats__V1__ReportAck pb = CATS__V1__REPORT_ACK__INIT;

    pb.seq = ack->seq;
    pb.lease_ms = ack->lease_ms;
    pb.report_interval_ms = ack->report_interval_ms;
    if (ack->error) {
        pb.error_code = cats_report_grpc_status(ack->error);
        pb.error_message = CONST_CAST(char *, (ack->error_message
                                               ? ack->error_message : ""));
        pb.error_seq = ack->error_seq;
    }
    encode(&pb.base, out);
}

void
cats_report_encode_telemetry_ack(const struct cats_report_ack *ack,
                                 struct ofpbuf *out)
{
    Cats__V1__TelemetryAck pb = CATS__V1__TELEMETRY_ACK__INIT;

    pb.seq = ack->seq;
    pb.report_interval_ms = ack->report_interval_ms;
    if (ack->error) {
        pb.error_code = cats_report_grpc_status(ack->error);
        pb.error_message = CONST_CAST(char *, (ack->error_message
                                               ? ack->error_message : ""));
        pb.error_seq = ack->error_seq;
    }
    encode(&pb.base, out);
}

/* Fills 'pb' from 'v'; returns 'pb', or NULL if 'v' is NULL. */
static Cats__V1__Metrics *
metrics_to_pb(const struct cats_metric_values *v, Cats__V1__Metrics *pb)
{
    if (!v) {
        return NULL;
    }
    cats__v1__metrics__init(pb);
#define PUT_METRIC(FIELD, CASE, METRIC, TYPE)                           \
    if (cats_metric_values_has(v, METRIC)) {                            \
        pb->_##FIELD##_case = CATS__V1__METRICS___##CASE##_##CASE;      \
        pb->FIELD = (TYPE) v->value[METRIC];                            \
    }
    PUT_METRIC(cpu_utilization, CPU_UTILIZATION, CATS_METRIC_CPU, double);
    PUT_METRIC(gpu_utilization, GPU_UTILIZATION, CATS_METRIC_GPU, double);
    PUT_METRIC(memory_utilization, MEMORY_UTILIZATION, CATS_METRIC_MEMORY,
               double);
    PUT_METRIC(gpu_memory_utilization, GPU_MEMORY_UTILIZATION,
               CATS_METRIC_GPU_MEMORY, double);
    PUT_METRIC(load_average_per_cpu, LOAD_AVERAGE_PER_CPU, CATS_METRIC_LOAD,
               double);
    PUT_METRIC(requests_in_flight, REQUESTS_IN_FLIGHT, CATS_METRIC_IN_FLIGHT,
               uint32_t);
    PUT_METRIC(queue_depth, QUEUE_DEPTH, CATS_METRIC_QUEUE, uint32_t);
    PUT_METRIC(latency_ms, LATENCY_MS, CATS_METRIC_LATENCY, double);
    PUT_METRIC(requests_per_second, REQUESTS_PER_SECOND, CATS_METRIC_RPS,
               double);
    PUT_METRIC(tokens_per_second, TOKENS_PER_SECOND, CATS_METRIC_TPS,
               double);
#undef PUT_METRIC
    return pb;
}

static Cats__V1__Health
health_to_pb(enum cats_health h)
{
    switch (h) {
    case CATS_HEALTH_SERVING:
        return CATS__V1__HEALTH__HEALTH_SERVING;
    case CATS_HEALTH_NOT_SERVING:
        return CATS__V1__HEALTH__HEALTH_NOT_SERVING;
    case CATS_HEALTH_DRAINING:
        return CATS__V1__HEALTH__HEALTH_DRAINING;
    }
    return CATS__V1__HEALTH__HEALTH_UNSPECIFIED;
}

void
cats_report_encode_services(const struct cats_report_service_info *svcs,
                            size_t n, struct ofpbuf *out)
{
    Cats__V1__ListServicesReply reply = CATS__V1__LIST_SERVICES_REPLY__INIT;
    Cats__V1__ServiceInfo *spb, **sptrs;
    size_t n_insts = 0;

    for (size_t i = 0; i < n; i++) {
        n_insts += svcs[i].n_instances;
    }

    /* One allocation per kind of object; strings point into 'strings'. */
    struct inst_pb {
        Cats__V1__InstanceInfo info;
        Cats__V1__Metrics last, smoothed;
        Cats__V1__Scores scores;
        char ip[INET_ADDRSTRLEN];
    } *ipb = xcalloc(n_insts ? n_insts : 1, sizeof *ipb);
    Cats__V1__InstanceInfo **iptrs = xcalloc(n_insts ? n_insts : 1,
                                             sizeof *iptrs);
    char (*vips)[INET_ADDRSTRLEN] = xcalloc(n ? n : 1, sizeof *vips);

    spb = xcalloc(n ? n : 1, sizeof *spb);
    sptrs = xcalloc(n ? n : 1, sizeof *sptrs);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cats_report_service_info *s = &svcs[i];
        Cats__V1__ServiceInfo *sp = &spb[i];

        cats__v1__service_info__init(sp);
        sp->name = CONST_CAST(char *, s->name);
        snprintf(vips[i], sizeof vips[i], IP_FMT, IP_ARGS(s->vip));
        sp->vip = vips[i];
        sp->port = s->port;
        sp->protocol = CONST_CAST(char *, s->proto == IPPROTO_UDP
                                  ? "udp" : "tcp");
        sp->n_instances = s->n_instances;
        sp->instances = &iptrs[k];
        for (size_t j = 0; j < s->n_instances; j++, k++) {
            const struct cats_report_instance_info *ii = &s->instances[j];
            struct inst_pb *p = &ipb[k];
            Cats__V1__InstanceInfo *ip = &p->info;

            cats__v1__instance_info__init(ip);
            snprintf(p->ip, sizeof p->ip, IP_FMT, IP_ARGS(ii->ip));
            ip->ip = p->ip;
            ip->port = ii->port;
            ip->weight = ii->weight;
            ip->configured_weight = ii->configured_weight;
            ip->node_id = CONST_CAST(char *, ii->node_id ? ii->node_id : "");
            ip->lease_state = (Cats__V1__LeaseState) ii->lease_state;
            ip->health = health_to_pb(ii->health);
            ip->capacity = ii->capacity;
            ip->lease_remaining_ms = ii->lease_remaining_ms;
            ip->last_report_age_ms = ii->last_report_age_ms;
            ip->last = metrics_to_pb(ii->last, &p->last);
            ip->smoothed = metrics_to_pb(ii->smoothed, &p->smoothed);
            if (ii->scores_present) {
                Cats__V1__Scores *sc = &p->scores;
                uint32_t bits = ii->scores_present;

                cats__v1__scores__init(sc);
                if (bits & (1u << CATS_SCORE_COMPUTING)) {
                    sc->_computing_case
                        = CATS__V1__SCORES___COMPUTING_COMPUTING;
                    sc->computing = ii->scores[CATS_SCORE_COMPUTING];
                }
                if (bits & (1u << CATS_SCORE_OCCUPANCY)) {
                    sc->_occupancy_case
                        = CATS__V1__SCORES___OCCUPANCY_OCCUPANCY;
                    sc->occupancy = ii->scores[CATS_SCORE_OCCUPANCY];
                }
                if (bits & (1u << CATS_SCORE_DELAY)) {
                    sc->_delay_case = CATS__V1__SCORES___DELAY_DELAY;
                    sc->delay = ii->scores[CATS_SCORE_DELAY];
                }
                if (bits & (1u << CATS_SCORE_L2)) {
                    sc->_l2_case = CATS__V1__SCORES___L2_L2;
                    sc->l2 = ii->scores[CATS_SCORE_L2];
                }
                ip->scores = sc;
            }
            iptrs[k] = ip;
        }
        sptrs[i] = sp;
    }
    reply.n_services = n;
    reply.services = sptrs;
    encode(&reply.base, out);

    free(sptrs);
    free(spb);
    free(vips);
    free(iptrs);
    free(ipb);
}

/*
 * Unit tests for decoding and validating agent API messages
 * (include/cats/report.h).
 *
 * Messages are built with the protobuf-c code generated from
 * proto/cats.proto and encoded, so that every test goes through the real
 * wire format; the few inputs that protobuf-c cannot produce (NUL bytes
 * inside strings, malformed encodings) are written out by hand.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cats/catalog.h"
#include "cats/report.h"
#include "openvswitch/ofpbuf.h"
#include "packets.h"
#include "proto/cats.pb-c.h"
#include "util.h"
#include "test-util.h"

#define MAX_ENTRIES 32

struct fixture {
    struct cats_catalog cat;
    struct cats_report_policy policy;   /* Checks services in 'cat'. */
};

static int
setup(void **state)
{
    struct fixture *fx = xzalloc(sizeof *fx);
    char *error;

    cats_catalog_init(&fx->cat);
    assert_int_equal(cats_service_add(&fx->cat, "web", htonl(0x0a000064),
                                      IPPROTO_TCP, 80, NULL, &error), 0);
    assert_int_equal(cats_service_add(&fx->cat, "llm", htonl(0x0a000065),
                                      IPPROTO_TCP, 8000, NULL, &error), 0);
    cats_report_policy_init(&fx->policy);
    fx->policy.service_exists = cats_report_catalog_has_service;
    fx->policy.aux = &fx->cat;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *fx = *state;

    cats_report_policy_destroy(&fx->policy);
    cats_catalog_destroy(&fx->cat);
    free(fx);
    return 0;
}

/* Encoded messages. */

struct bytes {
    uint8_t *data;
    size_t size;
};

static struct bytes
encode(const ProtobufCMessage *msg)
{
    struct bytes b;

    b.size = protobuf_c_message_get_packed_size(msg);
    b.data = xmalloc(b.size ? b.size : 1);
    assert_int_equal(protobuf_c_message_pack(msg, b.data), b.size);
    return b;
}

/* Appends 'n' bytes to 'b'. */
static void
append(struct bytes *b, const void *p, size_t n)
{
    b->data = xrealloc(b->data, b->size + n);
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

/* A RegisterRequest for node "node-1" with 'n' instances of service "web",
 * 10.0.0.11:80, 10.0.0.12:80, ..., capacity 4. */
struct reg_msg {
    Cats__V1__RegisterRequest req;
    Cats__V1__InstanceSpec specs[MAX_ENTRIES];
    Cats__V1__InstanceSpec *ptrs[MAX_ENTRIES];
    char ips[MAX_ENTRIES][16];
};

static void
reg_msg_init(struct reg_msg *m, size_t n)
{
    assert_true(n <= MAX_ENTRIES);
    cats__v1__register_request__init(&m->req);
    m->req.node_id = "node-1";
    m->req.agent = "cats-agent/1.0";
    m->req.n_instances = n;
    m->req.instances = m->ptrs;
    for (size_t i = 0; i < n; i++) {
        cats__v1__instance_spec__init(&m->specs[i]);
        snprintf(m->ips[i], sizeof m->ips[i], "10.0.0.%d", (int) (11 + i));
        m->specs[i].service = "web";
        m->specs[i].ip = m->ips[i];
        m->specs[i].port = 80;
        m->specs[i].capacity = 4;
        m->ptrs[i] = &m->specs[i];
    }
}

/* A LoadReport from "node-1", session 7, seq 1, with node metrics (CPU
 * 0.5) and 'n' instances as in reg_msg, each with 2 requests in flight. */
struct load_msg {
    Cats__V1__LoadReport rep;
    Cats__V1__Metrics node;
    Cats__V1__InstanceLoad insts[MAX_ENTRIES];
    Cats__V1__Metrics metrics[MAX_ENTRIES];
    Cats__V1__InstanceLoad *ptrs[MAX_ENTRIES];
    char ips[MAX_ENTRIES][16];
};

static void set_pb_metric(Cats__V1__Metrics *, enum cats_metric, double);

static void
load_msg_init(struct load_msg *m, size_t n)
{
    assert_true(n <= MAX_ENTRIES);
    cats__v1__load_report__init(&m->rep);
    cats__v1__metrics__init(&m->node);
    set_pb_metric(&m->node, CATS_METRIC_CPU, 0.5);
    m->rep.node_id = "node-1";
    m->rep.session_id = 7;
    m->rep.seq = 1;
    m->rep.node = &m->node;
    m->rep.n_instances = n;
    m->rep.instances = m->ptrs;
    for (size_t i = 0; i < n; i++) {
        cats__v1__instance_load__init(&m->insts[i]);
        cats__v1__metrics__init(&m->metrics[i]);
        snprintf(m->ips[i], sizeof m->ips[i], "10.0.0.%d", (int) (11 + i));
        m->insts[i].service = "web";
        m->insts[i].ip = m->ips[i];
        m->insts[i].port = 80;
        m->insts[i].metrics = &m->metrics[i];
        set_pb_metric(&m->metrics[i], CATS_METRIC_IN_FLIGHT, 2);
        m->ptrs[i] = &m->insts[i];
    }
}

static void
set_pb_metric(Cats__V1__Metrics *m, enum cats_metric metric, double x)
{
#define SET(FIELD, CASE)                        \
    m->_##FIELD##_case = CASE;                  \
    m->FIELD = x;                               \
    break;

    switch (metric) {
    case CATS_METRIC_CPU:
        SET(cpu_utilization,
            CATS__V1__METRICS___CPU_UTILIZATION_CPU_UTILIZATION);
    case CATS_METRIC_GPU:
        SET(gpu_utilization,
            CATS__V1__METRICS___GPU_UTILIZATION_GPU_UTILIZATION);
    case CATS_METRIC_MEMORY:
        SET(memory_utilization,
            CATS__V1__METRICS___MEMORY_UTILIZATION_MEMORY_UTILIZATION);
    case CATS_METRIC_GPU_MEMORY:
        SET(gpu_memory_utilization,
            CATS__V1__METRICS___GPU_MEMORY_UTILIZATION_GPU_MEMORY_UTILIZATION);
    case CATS_METRIC_LOAD:
        SET(load_average_per_cpu,
            CATS__V1__METRICS___LOAD_AVERAGE_PER_CPU_LOAD_AVERAGE_PER_CPU);
    case CATS_METRIC_IN_FLIGHT:
        SET(requests_in_flight,
            CATS__V1__METRICS___REQUESTS_IN_FLIGHT_REQUESTS_IN_FLIGHT);
    case CATS_METRIC_QUEUE:
        SET(queue_depth, CATS__V1__METRICS___QUEUE_DEPTH_QUEUE_DEPTH);
    case CATS_METRIC_LATENCY:
        SET(latency_ms, CATS__V1__METRICS___LATENCY_MS_LATENCY_MS);
    case CATS_METRIC_RPS:
        SET(requests_per_second,
            CATS__V1__METRICS___REQUESTS_PER_SECOND_REQUESTS_PER_SECOND);
    case CATS_METRIC_TPS:
        SET(tokens_per_second,
            CATS__V1__METRICS___TOKENS_PER_SECOND_TOKENS_PER_SECOND);
    case CATS_N_METRICS:
    default:
        fail_msg("bad metric %d", metric);
    }
#undef SET
}

/* Decoding with expectations. */

static void
decode_reg_ok(const struct fixture *fx, const struct bytes *b,
              struct cats_report_registration *reg)
{
    char *error;
    int retval;

    retval = cats_report_decode_registration(b->data, b->size, &fx->policy,
                                             reg, &error);
    if (retval) {
        fail_msg("unexpected error %d: %s", retval, error);
    }
    assert_null(error);
}

/* Fails unless decoding 'b' as a registration gives exactly 'expected'
 * and the errno value 'code', and leaves the output empty. */
static void
decode_reg_error(const struct fixture *fx, const struct bytes *b, int code,
                 const char *expected)
{
    struct cats_report_registration reg;
    char *error;
    int retval;

    memset(&reg, 0xa5, sizeof reg);
    retval = cats_report_decode_registration(b->data, b->size, &fx->policy,
                                             &reg, &error);
    if (!retval) {
        fail_msg("expected \"%s\", got success", expected);
    }
    assert_non_null(error);
    if (strcmp(error, expected)) {
        fail_msg("\n  expected \"%s\"\n  got      \"%s\"", expected, error);
    }
    assert_int_equal(retval, code);
    assert_int_equal(reg.n_instances, 0);
    assert_null(reg.instances);
    assert_string_equal(reg.node_id, "");
    free(error);
}

static void
decode_load_ok(const struct fixture *fx, const struct bytes *b,
               struct cats_report_load *load)
{
    char *error;
    int retval;

    retval = cats_report_decode_load(b->data, b->size, &fx->policy, load,
                                     &error);
    if (retval) {
        fail_msg("unexpected error %d: %s", retval, error);
    }
    assert_null(error);
}

static void
decode_load_error(const struct fixture *fx, const struct bytes *b, int code,
                  const char *expected)
{
    struct cats_report_load load;
    char *error;
    int retval;

    memset(&load, 0xa5, sizeof load);
    retval = cats_report_decode_load(b->data, b->size, &fx->policy, &load,
                                     &error);
    if (!retval) {
        fail_msg("expected \"%s\", got success", expected);
    }
    if (strcmp(error, expected)) {
        fail_msg("\n  expected \"%s\"\n  got      \"%s\"", expected, error);
    }
    assert_int_equal(retval, code);
    assert_int_equal(load.n_instances, 0);
    assert_null(load.instances);
    free(error);
}

/* Registration. */

static void
test_registration_decodes_every_field(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct reg_msg m;
    struct bytes b;

    reg_msg_init(&m, 3);
    m.specs[1].service = "llm";
    m.specs[1].port = 8000;
    m.specs[1].capacity = 0;
    m.specs[2].capacity = CATS_CAPACITY_MAX;
    m.specs[2].port = 65535;
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);

    assert_string_equal(reg.node_id, "node-1");
    assert_string_equal(reg.agent, "cats-agent/1.0");
    assert_int_equal(reg.n_instances, 3);
    assert_string_equal(reg.instances[0].key.service, "web");
    assert_true(reg.instances[0].key.ip == ip("10.0.0.11"));
    assert_int_equal(reg.instances[0].key.port, 80);
    assert_int_equal(reg.instances[0].capacity, 4);
    assert_string_equal(reg.instances[1].key.service, "llm");
    assert_true(reg.instances[1].key.ip == ip("10.0.0.12"));
    assert_int_equal(reg.instances[1].key.port, 8000);
    assert_int_equal(reg.instances[1].capacity, 0);
    assert_int_equal(reg.instances[2].key.port, 65535);
    assert_int_equal(reg.instances[2].capacity, CATS_CAPACITY_MAX);

    cats_report_registration_destroy(&reg);
    assert_null(reg.instances);
    cats_report_registration_destroy(NULL);
    free(b.data);
}

static void
test_registration_without_instances_or_agent_is_valid(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct reg_msg m;
    struct bytes b;

    reg_msg_init(&m, 0);
    m.req.agent = "";
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);
    assert_string_equal(reg.node_id, "node-1");
    assert_string_equal(reg.agent, "");
    assert_int_equal(reg.n_instances, 0);
    cats_report_registration_destroy(&reg);
    free(b.data);
}

/* One bad field in a registration of two instances; instance fields are
 * set on instances[1].  NULL and unset mean "keep the valid value". */
struct reg_case {
    const char *node_id;
    const char *agent;
    const char *service;
    const char *ip;
    bool set_port;
    uint32_t port;
    bool set_capacity;
    uint32_t capacity;
    int code;
    const char *error;
};

/* 65 characters. */
static const char long_id[] =
    "n1234567890123456789012345678901234567890123456789012345678901234";
static const char long_name[] =
    "s1234567890123456789012345678901234567890123456789012345678901234";

static const struct reg_case reg_cases[] = {
    { .node_id = "", .code = EINVAL,
      .error = "field 'node_id': must be 1 to 64 characters (is 0)" },
    { .node_id = long_id, .code = EINVAL,
      .error = "field 'node_id': must be 1 to 64 characters (is 65)" },
    { .node_id = "node 1", .code = EINVAL,
      .error = "field 'node_id': character 5 is not a letter, digit, '.', "
               "'_', ':' or '-'" },
    { .node_id = "n\xc3\xa9", .code = EINVAL,
      .error = "field 'node_id': character 2 is not a letter, digit, '.', "
               "'_', ':' or '-'" },
    { .node_id = "n/1", .code = EINVAL,
      .error = "field 'node_id': character 2 is not a letter, digit, '.', "
               "'_', ':' or '-'" },
    { .agent = "agent\n", .code = EINVAL,
      .error = "field 'agent': character 6 is not printable ASCII" },
    { .agent = long_name, .code = EINVAL,
      .error = "field 'agent': must be at most 64 characters (is 65)" },
    { .service = "", .code = EINVAL,
      .error = "field 'instances[1].service': a service name is 1 to 64 "
               "characters (is 0)" },
    { .service = long_name, .code = EINVAL,
      .error = "field 'instances[1].service': a service name is 1 to 64 "
               "characters (is 65)" },
    { .service = "we b", .code = EINVAL,
      .error = "field 'instances[1].service': character 3 is not "
               "printable ASCII without blanks" },
    { .service = "web\x7f", .code = EINVAL,
      .error = "field 'instances[1].service': character 4 is not "
               "printable ASCII without blanks" },
    { .service = "mail", .code = ENOENT,
      .error = "field 'instances[1].service': unknown service 'mail'" },
    { .service = "Web", .code = ENOENT,
      .error = "field 'instances[1].service': unknown service 'Web'" },
    { .ip = "", .code = EINVAL,
      .error = "field 'instances[1].ip': not an IPv4 address (A.B.C.D)" },
    { .ip = "10.0.0.1\n", .code = EINVAL,
      .error = "field 'instances[1].ip': not an IPv4 address (A.B.C.D)" },
    { .ip = "::1", .code = EINVAL,
      .error = "field 'instances[1].ip': not an IPv4 address (A.B.C.D)" },
    { .ip = "web.example", .code = EINVAL,
      .error = "field 'instances[1].ip': not an IPv4 address (A.B.C.D)" },
    { .ip = "1000.10000.100000", .code = EINVAL,
      .error = "field 'instances[1].ip': not an IPv4 address (A.B.C.D)" },
    { .ip = "10.0.0", .code = EINVAL,
      .error = "field 'instances[1].ip': '10.0.0' is not an IPv4 address" },
    { .ip = "10.0.0.256", .code = EINVAL,
      .error = "field 'instances[1].ip': '10.0.0.256' is not an IPv4 "
               "address" },
    { .ip = "010.0.0.1", .code = EINVAL,
      .error = "field 'instances[1].ip': '010.0.0.1' is not an IPv4 "
               "address" },
    { .ip = "0.0.0.0", .code = EINVAL,
      .error = "field 'instances[1].ip': 0.0.0.0 is not a unicast "
               "address" },
    { .ip = "0.1.2.3", .code = EINVAL,
      .error = "field 'instances[1].ip': 0.1.2.3 is not a unicast "
               "address" },
    { .ip = "127.0.0.1", .code = EINVAL,
      .error = "field 'instances[1].ip': 127.0.0.1 is not a unicast "
               "address" },
    { .ip = "224.0.0.1", .code = EINVAL,
      .error = "field 'instances[1].ip': 224.0.0.1 is not a unicast "
               "address" },
    { .ip = "240.0.0.1", .code = EINVAL,
      .error = "field 'instances[1].ip': 240.0.0.1 is not a unicast "
               "address" },
    { .ip = "255.255.255.255", .code = EINVAL,
      .error = "field 'instances[1].ip': 255.255.255.255 is not a unicast "
               "address" },
    { .set_port = true, .port = 0, .code = EINVAL,
      .error = "field 'instances[1].port': 0 is not a port between 1 and "
               "65535" },
    { .set_port = true, .port = 65536, .code = EINVAL,
      .error = "field 'instances[1].port': 65536 is not a port between 1 "
               "and 65535" },
    { .set_port = true, .port = UINT32_MAX, .code = EINVAL,
      .error = "field 'instances[1].port': 4294967295 is not a port "
               "between 1 and 65535" },
    { .set_capacity = true, .capacity = CATS_CAPACITY_MAX + 1,
      .code = EINVAL,
      .error = "field 'instances[1].capacity': 1000001 is not between 0 "
               "and 1000000" },
};

static void
test_registration_each_bad_field_is_named(void **state)
{
    struct fixture *fx = *state;

    for (size_t i = 0; i < ARRAY_SIZE(reg_cases); i++) {
        const struct reg_case *c = &reg_cases[i];
        struct reg_msg m;
        struct bytes b;

        reg_msg_init(&m, 2);
        if (c->node_id) {
            m.req.node_id = CONST_CAST(char *, c->node_id);
        }
        if (c->agent) {
            m.req.agent = CONST_CAST(char *, c->agent);
        }
        if (c->service) {
            m.specs[1].service = CONST_CAST(char *, c->service);
        }
        if (c->ip) {
            m.specs[1].ip = CONST_CAST(char *, c->ip);
        }
        if (c->set_port) {
            m.specs[1].port = c->port;
        }
        if (c->set_capacity) {
            m.specs[1].capacity = c->capacity;
        }
        b = encode(&m.req.base);
        decode_reg_error(fx, &b, c->code, c->error);
        free(b.data);
    }
}

static void
test_registration_longest_names_are_accepted(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    char *error;
    struct reg_msg m;
    struct bytes b;

    /* 64 characters each: one less than the cases above. */
    char id[65], name[65];
    ovs_strlcpy(id, long_id + 1, sizeof id);
    ovs_strlcpy(name, long_name + 1, sizeof name);
    assert_int_equal(strlen(id), 64);
    assert_int_equal(cats_service_add(&fx->cat, name, htonl(0x0a000066),
                                      IPPROTO_TCP, 80, NULL, &error), 0);

    reg_msg_init(&m, 1);
    m.req.node_id = id;
    m.req.agent = name;
    m.specs[0].service = name;
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);
    assert_string_equal(reg.node_id, id);
    assert_string_equal(reg.agent, name);
    assert_string_equal(reg.instances[0].key.service, name);
    cats_report_registration_destroy(&reg);
    free(b.data);
}

/* The decoder serves small messages from a buffer of its own and larger
 * ones from the heap past it: a message that needs both decodes whole,
 * and a NUL byte in a string allocated past the buffer is still found. */
static void
test_message_larger_than_decoder_buffer(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct reg_msg m;
    struct bytes b;
    char where[64];

    reg_msg_init(&m, MAX_ENTRIES);
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);
    assert_int_equal(reg.n_instances, MAX_ENTRIES);
    for (size_t i = 0; i < MAX_ENTRIES; i++) {
        assert_string_equal(reg.instances[i].key.service, "web");
        assert_true(reg.instances[i].key.ip == ip(m.ips[i]));
        assert_int_equal(reg.instances[i].capacity, 4);
    }
    cats_report_registration_destroy(&reg);

    /* "web" of the last instance, the last on the wire, becomes "we\0". */
    uint8_t *last = NULL;
    for (uint8_t *p = b.data; p + 3 <= b.data + b.size; p++) {
        if (!memcmp(p, "web", 3)) {
            last = p;
        }
    }
    assert_non_null(last);
    last[2] = 0;
    snprintf(where, sizeof where, "field 'instances[%d].service': "
             "contains a NUL byte", MAX_ENTRIES - 1);
    decode_reg_error(fx, &b, EINVAL, where);
    free(b.data);
}

/* protobuf-c cannot write a NUL inside a string; these are by hand. */
static void
test_nul_bytes_inside_strings_are_refused(void **state)
{
    struct fixture *fx = *state;

    /* RegisterRequest { node_id: "a\0b" } */
    static const uint8_t node_nul[] = { 0x0a, 3, 'a', 0, 'b' };
    /* RegisterRequest { node_id: "\0" } */
    static const uint8_t node_only_nul[] = { 0x0a, 1, 0 };
    /* RegisterRequest { node_id: "n", agent: "x\0" } */
    static const uint8_t agent_nul[] = { 0x0a, 1, 'n', 0x1a, 2, 'x', 0 };
    /* RegisterRequest { node_id: "n", instances { service: "web\0evil",
     * ip: "10.0.0.1", port: 80 } } */
    static const uint8_t service_nul[] = {
        0x0a, 1, 'n',
        0x12, 22,
        0x0a, 8, 'w', 'e', 'b', 0, 'e', 'v', 'i', 'l',
        0x12, 8, '1', '0', '.', '0', '.', '0', '.', '1',
        0x18, 80,
    };
    /* ... ip: "10.0.0.1\0" */
    static const uint8_t ip_nul[] = {
        0x0a, 1, 'n',
        0x12, 18,
        0x0a, 3, 'w', 'e', 'b',
        0x12, 9, '1', '0', '.', '0', '.', '0', '.', '1', 0,
        0x18, 80,
    };
    struct bytes b;

    b.data = CONST_CAST(uint8_t *, node_nul);
    b.size = sizeof node_nul;
    decode_reg_error(fx, &b, EINVAL, "field 'node_id': contains a NUL byte");

    b.data = CONST_CAST(uint8_t *, node_only_nul);
    b.size = sizeof node_only_nul;
    decode_reg_error(fx, &b, EINVAL, "field 'node_id': contains a NUL byte");

    b.data = CONST_CAST(uint8_t *, agent_nul);
    b.size = sizeof agent_nul;
    decode_reg_error(fx, &b, EINVAL, "field 'agent': contains a NUL byte");

    b.data = CONST_CAST(uint8_t *, service_nul);
    b.size = sizeof service_nul;
    decode_reg_error(fx, &b, EINVAL,
                     "field 'instances[0].service': contains a NUL byte");

    b.data = CONST_CAST(uint8_t *, ip_nul);
    b.size = sizeof ip_nul;
    decode_reg_error(fx, &b, EINVAL,
                     "field 'instances[0].ip': contains a NUL byte");
}

static void
test_without_service_check_any_wellformed_name_passes(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct reg_msg m;
    struct bytes b;

    fx->policy.service_exists = NULL;
    reg_msg_init(&m, 1);
    m.specs[0].service = "not-in-any-catalog";
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);
    assert_string_equal(reg.instances[0].key.service, "not-in-any-catalog");
    cats_report_registration_destroy(&reg);

    /* Syntax is still checked. */
    m.specs[0].service = "a b";
    free(b.data);
    b = encode(&m.req.base);
    decode_reg_error(fx, &b, EINVAL, "field 'instances[0].service': "
                     "character 2 is not printable ASCII without blanks");
    free(b.data);
}

static void
test_prefixes_restrict_instance_addresses(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct reg_msg m;
    struct bytes b;

    assert_null(cats_report_policy_add_prefix(&fx->policy, "10.0.0.0/29"));
    assert_null(cats_report_policy_add_prefix(&fx->policy, "192.168.1.7"));

    /* 10.0.0.11 is outside 10.0.0.0/29 (10.0.0.0 to 10.0.0.7). */
    reg_msg_init(&m, 2);
    b = encode(&m.req.base);
    decode_reg_error(fx, &b, EPERM, "field 'instances[0].ip': 10.0.0.11 is "
                     "outside the prefixes this node may announce");
    free(b.data);

    m.specs[0].ip = "10.0.0.7";
    m.specs[1].ip = "192.168.1.7";
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);
    assert_true(reg.instances[0].key.ip == ip("10.0.0.7"));
    assert_true(reg.instances[1].key.ip == ip("192.168.1.7"));
    cats_report_registration_destroy(&reg);
    free(b.data);

    m.specs[1].ip = "192.168.1.8";
    b = encode(&m.req.base);
    decode_reg_error(fx, &b, EPERM, "field 'instances[1].ip': 192.168.1.8 "
                     "is outside the prefixes this node may announce");
    free(b.data);
}

static void
test_policy_add_prefix(void **state OVS_UNUSED)
{
    struct cats_report_policy policy;
    char *error;

    cats_report_policy_init(&policy);
    assert_int_equal(policy.max_size, CATS_REPORT_MAX_SIZE);
    assert_int_equal(policy.max_instances, CATS_REPORT_MAX_INSTANCES);
    assert_int_equal(policy.n_prefixes, 0);

    /* Host bits are dropped; a bare address is a /32. */
    assert_null(cats_report_policy_add_prefix(&policy, "10.1.2.3/8"));
    assert_null(cats_report_policy_add_prefix(&policy, "172.16.0.1"));
    assert_null(cats_report_policy_add_prefix(&policy, "0.0.0.0/0"));
    assert_int_equal(policy.n_prefixes, 3);
    assert_true(policy.prefixes[0].addr == ip("10.0.0.0"));
    assert_true(policy.prefixes[0].mask == ip("255.0.0.0"));
    assert_int_equal(policy.prefixes[0].plen, 8);
    assert_true(policy.prefixes[1].addr == ip("172.16.0.1"));
    assert_int_equal(policy.prefixes[1].plen, 32);
    assert_int_equal(policy.prefixes[2].plen, 0);

    error = cats_report_policy_add_prefix(&policy, "10.0.0.0/33");
    assert_string_equal(error, "'10.0.0.0/33' is not an IPv4 prefix "
                        "(A.B.C.D/LEN)");
    free(error);
    error = cats_report_policy_add_prefix(&policy, "10.0.0.0/255.0.255.0");
    assert_string_equal(error, "'10.0.0.0/255.0.255.0' is not an IPv4 "
                        "prefix (A.B.C.D/LEN)");
    free(error);
    error = cats_report_policy_add_prefix(&policy, "web");
    assert_string_equal(error, "'web' is not an IPv4 prefix (A.B.C.D/LEN)");
    free(error);
    assert_int_equal(policy.n_prefixes, 3);

    cats_report_policy_destroy(&policy);
    assert_null(policy.prefixes);
    cats_report_policy_destroy(NULL);
}

static void
test_too_many_and_duplicate_instances(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct reg_msg m;
    struct bytes b;

    fx->policy.max_instances = 3;
    reg_msg_init(&m, 4);
    b = encode(&m.req.base);
    decode_reg_error(fx, &b, E2BIG, "field 'instances': 4 entries, more "
                     "than the limit of 3");
    free(b.data);

    m.req.n_instances = 3;
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);
    assert_int_equal(reg.n_instances, 3);
    cats_report_registration_destroy(&reg);
    free(b.data);

    /* Same service, address and port twice. */
    m.specs[2].ip = m.ips[0];
    b = encode(&m.req.base);
    decode_reg_error(fx, &b, EINVAL, "field 'instances[2]': instance web "
                     "10.0.0.11:80 is listed twice (also instances[0])");
    free(b.data);

    /* Another port, or another service, is another instance. */
    m.specs[2].port = 81;
    m.specs[1].ip = m.ips[0];
    m.specs[1].service = "llm";
    b = encode(&m.req.base);
    decode_reg_ok(fx, &b, &reg);
    assert_int_equal(reg.n_instances, 3);
    cats_report_registration_destroy(&reg);
    free(b.data);
}

/* Forward compatibility: fields this version does not know, at the top
 * level and inside nested messages, in every wire type. */
static void
test_unknown_fields_are_ignored(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct cats_report_load load;
    struct reg_msg m;
    struct load_msg lm;
    struct bytes b;

    static const uint8_t unknown[] = {
        0xa0, 0x06, 0x2a,               /* Field 100, varint 42. */
        0xaa, 0x06, 3, 'n', 'e', 'w',   /* Field 101, "new". */
        0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8,     /* Field 102, fixed64. */
        0xbd, 0x06, 1, 2, 3, 4,         /* Field 103, fixed32. */
    };

    reg_msg_init(&m, 1);
    b = encode(&m.req.base);
    append(&b, unknown, sizeof unknown);
    decode_reg_ok(fx, &b, &reg);
    assert_string_equal(reg.node_id, "node-1");
    assert_int_equal(reg.n_instances, 1);
    cats_report_registration_destroy(&reg);
    free(b.data);

    /* An InstanceSpec with an unknown field, appended as a second
     * instance: field 2, length-delimited. */
    struct bytes spec;
    Cats__V1__InstanceSpec s = CATS__V1__INSTANCE_SPEC__INIT;
    s.service = "llm";
    s.ip = "10.0.0.99";
    s.port = 8000;
    spec = encode(&s.base);
    append(&spec, unknown, sizeof unknown);
    b = encode(&m.req.base);
    uint8_t hdr[2] = { 0x12, spec.size };
    append(&b, hdr, sizeof hdr);
    append(&b, spec.data, spec.size);
    decode_reg_ok(fx, &b, &reg);
    assert_int_equal(reg.n_instances, 2);
    assert_string_equal(reg.instances[1].key.service, "llm");
    assert_int_equal(reg.instances[1].key.port, 8000);
    cats_report_registration_destroy(&reg);
    free(b.data);
    free(spec.data);

    load_msg_init(&lm, 1);
    b = encode(&lm.rep.base);
    append(&b, unknown, sizeof unknown);
    decode_load_ok(fx, &b, &load);
    assert_int_equal(load.n_instances, 1);
    cats_report_load_destroy(&load);
    free(b.data);
}

static void
test_oversized_message_is_refused(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_registration reg;
    struct reg_msg m;
    struct bytes b;
    char msg[128];

    reg_msg_init(&m, 2);
    b = encode(&m.req.base);
    fx->policy.max_size = b.size - 1;
    snprintf(msg, sizeof msg, "message of %"PRIuSIZE" bytes is larger than "
             "the limit of %"PRIuSIZE" bytes", b.size, b.size - 1);
    decode_reg_error(fx, &b, EMSGSIZE, msg);

    fx->policy.max_size = b.size;
    decode_reg_ok(fx, &b, &reg);
    cats_report_registration_destroy(&reg);
    free(b.data);

    /* The default limit. */
    fx->policy.max_size = CATS_REPORT_MAX_SIZE;
    b.size = CATS_REPORT_MAX_SIZE + 1;
    b.data = xzalloc(b.size);
    decode_reg_error(fx, &b, EMSGSIZE, "message of 65537 bytes is larger "
                     "than the limit of 65536 bytes");
    free(b.data);
}

/* Empty submessages cost 2 bytes on the wire, but a whole structure in
 * memory: the decoder stops when the budget is spent. */
static void
test_decoded_memory_is_bounded(void **state)
{
    struct fixture *fx = *state;
    struct bytes b = { NULL, 0 };

    static const uint8_t node[] = { 0x0a, 1, 'n' };
    static const uint8_t empty_instance[] = { 0x12, 0 };

    append(&b, node, sizeof node);
    for (int i = 0; i < 1000; i++) {
        append(&b, empty_instance, sizeof empty_instance);
    }
    fx->policy.max_decoded_size = 16 * 1024;
    decode_reg_error(fx, &b, EMSGSIZE, "message needs more than 16384 bytes "
                     "of memory once decoded");

    /* Within budget, it decodes, and then the count limit speaks. */
    fx->policy.max_decoded_size = CATS_REPORT_MAX_DECODED_SIZE;
    decode_reg_error(fx, &b, E2BIG, "field 'instances': 1000 entries, more "
                     "than the limit of 128");
    free(b.data);
}

static void
test_malformed_protobuf_is_refused(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        const char *bytes;
        size_t size;
    } cases[] = {
        { "\x0a", 1 },                  /* Tag without length. */
        { "\x0a\x05" "ab", 4 },         /* Length past the end. */
        { "\x0d\x01\x02\x03\x04", 5 },  /* node_id as fixed32. */
        { "\x12\x03\x08", 3 },          /* Truncated submessage. */
        { "\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12 },
                                        /* Varint of 11 bytes. */
        { "\x00\x01", 2 },              /* Field number 0. */
        { "\x0f", 1 },                  /* Wire type 7. */
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct bytes b = {
            CONST_CAST(uint8_t *, (const uint8_t *) cases[i].bytes),
            cases[i].size
        };
        decode_reg_error(fx, &b, EBADMSG, "malformed protobuf: not a valid "
                         "cats.v1.RegisterRequest");
    }

    struct bytes b = {
        CONST_CAST(uint8_t *, (const uint8_t *) "\x0a\x05" "ab"), 4
    };
    decode_load_error(fx, &b, EBADMSG, "malformed protobuf: not a valid "
                      "cats.v1.LoadReport");
}

static void
test_empty_input_is_an_empty_message(void **state)
{
    struct fixture *fx = *state;
    struct bytes b = { NULL, 0 };

    decode_reg_error(fx, &b, EINVAL,
                     "field 'node_id': must be 1 to 64 characters (is 0)");
    decode_load_error(fx, &b, EINVAL,
                      "field 'node_id': must be 1 to 64 characters (is 0)");
}

/* LoadReport. */

static void
test_load_decodes_and_merges_node_metrics(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_load load;
    struct load_msg m;
    struct bytes b;

    load_msg_init(&m, 2);
    m.rep.seq = UINT64_MAX;
    m.rep.session_id = 0xfedcba9876543210ULL;
    m.rep.window_ms = 1000;
    set_pb_metric(&m.node, CATS_METRIC_MEMORY, 0.25);
    /* instances[0] overrides the node's CPU and adds latency and an L2. */
    set_pb_metric(&m.metrics[0], CATS_METRIC_CPU, 0.75);
    set_pb_metric(&m.metrics[0], CATS_METRIC_LATENCY, 12.5);
    m.insts[0]._l2_score_case = CATS__V1__INSTANCE_LOAD___L2_SCORE_L2_SCORE;
    m.insts[0].l2_score = 7.5;
    m.insts[0].health = CATS__V1__HEALTH__HEALTH_SERVING;
    /* instances[1] has no metrics message at all. */
    m.insts[1].metrics = NULL;
    m.insts[1].health = CATS__V1__HEALTH__HEALTH_DRAINING;
    b = encode(&m.rep.base);
    decode_load_ok(fx, &b, &load);

    assert_string_equal(load.node_id, "node-1");
    assert_true(load.session == 0xfedcba9876543210ULL);
    assert_true(load.seq == UINT64_MAX);
    assert_int_equal(load.window_ms, 1000);
    assert_int_equal(load.node_metrics.present,
                     (1u << CATS_METRIC_CPU) | (1u << CATS_METRIC_MEMORY));
    assert_int_equal(load.n_instances, 2);

    const struct cats_report_instance *i0 = &load.instances[0];
    assert_string_equal(i0->key.service, "web");
    assert_true(i0->key.ip == ip("10.0.0.11"));
    assert_int_equal(i0->health, CATS_HEALTH_SERVING);
    assert_int_equal(i0->metrics.present,
                     (1u << CATS_METRIC_CPU) | (1u << CATS_METRIC_MEMORY)
                     | (1u << CATS_METRIC_IN_FLIGHT)
                     | (1u << CATS_METRIC_LATENCY));
    assert_true(i0->metrics.value[CATS_METRIC_CPU] == 0.75);
    assert_true(i0->metrics.value[CATS_METRIC_MEMORY] == 0.25);
    assert_true(i0->metrics.value[CATS_METRIC_IN_FLIGHT] == 2);
    assert_true(i0->metrics.value[CATS_METRIC_LATENCY] == 12.5);
    assert_true(i0->has_l2);
    assert_true(i0->l2 == 7.5);

    const struct cats_report_instance *i1 = &load.instances[1];
    assert_int_equal(i1->health, CATS_HEALTH_DRAINING);
    assert_int_equal(i1->metrics.present,
                     (1u << CATS_METRIC_CPU) | (1u << CATS_METRIC_MEMORY));
    assert_true(i1->metrics.value[CATS_METRIC_CPU] == 0.5);
    assert_false(i1->has_l2);

    cats_report_load_destroy(&load);
    assert_null(load.instances);
    cats_report_load_destroy(NULL);
    free(b.data);
}

static void
test_load_zero_and_absent_metrics_differ(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_load load;
    struct load_msg m;
    struct bytes b;

    load_msg_init(&m, 1);
    m.rep.node = NULL;
    cats__v1__metrics__init(&m.metrics[0]);
    set_pb_metric(&m.metrics[0], CATS_METRIC_GPU, 0.0);
    set_pb_metric(&m.metrics[0], CATS_METRIC_QUEUE, 0);
    set_pb_metric(&m.metrics[0], CATS_METRIC_RPS, -0.0);
    b = encode(&m.rep.base);
    decode_load_ok(fx, &b, &load);
    assert_int_equal(load.node_metrics.present, 0);
    assert_int_equal(load.instances[0].metrics.present,
                     (1u << CATS_METRIC_GPU) | (1u << CATS_METRIC_QUEUE)
                     | (1u << CATS_METRIC_RPS));
    assert_true(load.instances[0].metrics.value[CATS_METRIC_GPU] == 0.0);
    /* -0.0 is accepted as 0.0. */
    assert_false(signbit(load.instances[0].metrics.value[CATS_METRIC_RPS]));
    assert_false(cats_metric_values_has(&load.instances[0].metrics,
                                        CATS_METRIC_CPU));
    cats_report_load_destroy(&load);
    free(b.data);
}

/* Every metric, at its bounds and past them, in an instance's metrics and
 * in the node's. */
static void
test_load_every_metric_is_range_checked(void **state)
{
    struct fixture *fx = *state;

    for (int metric = 0; metric < CATS_N_METRICS; metric++) {
        const char *name = cats_metric_name(metric);
        double max = cats_metric_max(metric);
        bool integer = (metric == CATS_METRIC_IN_FLIGHT
                        || metric == CATS_METRIC_QUEUE);
        struct cats_report_load load;
        struct load_msg m;
        struct bytes b;
        char msg[256];

        /* The largest value passes. */
        load_msg_init(&m, 1);
        set_pb_metric(&m.metrics[0], metric, max);
        b = encode(&m.rep.base);
        decode_load_ok(fx, &b, &load);
        assert_true(load.instances[0].metrics.value[metric] == max);
        cats_report_load_destroy(&load);
        free(b.data);

        /* One past it does not. */
        double over = integer ? max + 1 : (max == 1.0 ? 1.5 : max * 10);
        load_msg_init(&m, 1);
        set_pb_metric(&m.metrics[0], metric, over);
        b = encode(&m.rep.base);
        snprintf(msg, sizeof msg, "field 'instances[0].metrics.%s': %.15g "
                 "is not between 0 and %.15g", name, over, max);
        decode_load_error(fx, &b, EINVAL, msg);
        free(b.data);

        /* Same in the node's metrics. */
        load_msg_init(&m, 1);
        set_pb_metric(&m.node, metric, over);
        b = encode(&m.rep.base);
        snprintf(msg, sizeof msg, "field 'node.%s': %.15g is not between 0 "
                 "and %.15g", name, over, max);
        decode_load_error(fx, &b, EINVAL, msg);
        free(b.data);

        if (integer) {
            continue;           /* uint32 on the wire: no NaN, no sign. */
        }

        static const struct {
            double x;
            const char *what;
        } bad[] = {
            { NAN, "not a number (NaN)" },
            { INFINITY, "infinite" },
            { -INFINITY, "infinite" },
            { -1e-9, "-1e-09 is negative" },
            { -5, "-5 is negative" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
            load_msg_init(&m, 1);
            set_pb_metric(&m.metrics[0], metric, bad[i].x);
            b = encode(&m.rep.base);
            snprintf(msg, sizeof msg, "field 'instances[0].metrics.%s': %s",
                     name, bad[i].what);
            decode_load_error(fx, &b, EINVAL, msg);
            free(b.data);
        }
    }
}

static void
test_utilizations_are_fractions_not_percent(void **state)
{
    struct fixture *fx = *state;
    struct load_msg m;
    struct bytes b;

    load_msg_init(&m, 1);
    set_pb_metric(&m.metrics[0], CATS_METRIC_CPU, 50);
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, EINVAL, "field 'instances[0].metrics."
                      "cpu_utilization': 50 is not between 0 and 1");
    free(b.data);
}

static void
test_load_l2_score_is_0_to_10(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        double x;
        const char *error;      /* NULL: accepted. */
    } cases[] = {
        { 0, NULL },
        { 10, NULL },
        { 3.25, NULL },
        { 10.5, "field 'instances[0].l2_score': 10.5 is not between 0 and "
                "10" },
        { -1, "field 'instances[0].l2_score': -1 is negative" },
        { NAN, "field 'instances[0].l2_score': not a number (NaN)" },
        { INFINITY, "field 'instances[0].l2_score': infinite" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct load_msg m;
        struct bytes b;

        load_msg_init(&m, 1);
        m.insts[0]._l2_score_case =
            CATS__V1__INSTANCE_LOAD___L2_SCORE_L2_SCORE;
        m.insts[0].l2_score = cases[i].x;
        b = encode(&m.rep.base);
        if (cases[i].error) {
            decode_load_error(fx, &b, EINVAL, cases[i].error);
        } else {
            struct cats_report_load load;

            decode_load_ok(fx, &b, &load);
            assert_true(load.instances[0].has_l2);
            assert_true(load.instances[0].l2 == cases[i].x);
            cats_report_load_destroy(&load);
        }
        free(b.data);
    }
}

static void
test_load_header_errors(void **state)
{
    struct fixture *fx = *state;
    struct load_msg m;
    struct bytes b;

    load_msg_init(&m, 1);
    m.rep.seq = 0;
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, EINVAL, "field 'seq': must be at least 1");
    free(b.data);

    load_msg_init(&m, 1);
    m.rep.node_id = "node\t1";
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, EINVAL, "field 'node_id': character 5 is not "
                      "a letter, digit, '.', '_', ':' or '-'");
    free(b.data);
}

static void
test_load_health_values(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        int wire;
        enum cats_health health;
    } cases[] = {
        { CATS__V1__HEALTH__HEALTH_UNSPECIFIED, CATS_HEALTH_SERVING },
        { CATS__V1__HEALTH__HEALTH_SERVING, CATS_HEALTH_SERVING },
        { CATS__V1__HEALTH__HEALTH_NOT_SERVING, CATS_HEALTH_NOT_SERVING },
        { CATS__V1__HEALTH__HEALTH_DRAINING, CATS_HEALTH_DRAINING },
        /* Values from a newer version: not serving. */
        { 4, CATS_HEALTH_NOT_SERVING },
        { 99, CATS_HEALTH_NOT_SERVING },
        { -1, CATS_HEALTH_NOT_SERVING },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cats_report_load load;
        struct load_msg m;
        struct bytes b;

        load_msg_init(&m, 1);
        m.insts[0].health = cases[i].wire;
        b = encode(&m.rep.base);
        decode_load_ok(fx, &b, &load);
        if (load.instances[0].health != cases[i].health) {
            fail_msg("wire health %d: got %s, expected %s", cases[i].wire,
                     cats_health_name(load.instances[0].health),
                     cats_health_name(cases[i].health));
        }
        cats_report_load_destroy(&load);
        free(b.data);
    }
    assert_string_equal(cats_health_name(CATS_HEALTH_SERVING), "serving");
    assert_string_equal(cats_health_name(CATS_HEALTH_NOT_SERVING),
                        "not-serving");
    assert_string_equal(cats_health_name(CATS_HEALTH_DRAINING), "draining");
}

static void
test_load_instances_are_checked_like_registrations(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_load load;
    struct load_msg m;
    struct bytes b;

    load_msg_init(&m, 3);
    m.insts[2].service = "mail";
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, ENOENT, "field 'instances[2].service': "
                      "unknown service 'mail'");
    free(b.data);

    load_msg_init(&m, 3);
    m.insts[1].port = 0;
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, EINVAL, "field 'instances[1].port': 0 is not "
                      "a port between 1 and 65535");
    free(b.data);

    load_msg_init(&m, 3);
    m.insts[2].ip = m.ips[1];
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, EINVAL, "field 'instances[2]': instance web "
                      "10.0.0.12:80 is listed twice (also instances[1])");
    free(b.data);

    fx->policy.max_instances = 2;
    load_msg_init(&m, 3);
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, E2BIG, "field 'instances': 3 entries, more "
                      "than the limit of 2");
    free(b.data);

    assert_null(cats_report_policy_add_prefix(&fx->policy, "10.0.0.11"));
    load_msg_init(&m, 2);
    b = encode(&m.rep.base);
    decode_load_error(fx, &b, EPERM, "field 'instances[1].ip': 10.0.0.12 is "
                      "outside the prefixes this node may announce");
    free(b.data);

    /* An empty list ("all my instances") is valid. */
    load_msg_init(&m, 0);
    b = encode(&m.rep.base);
    decode_load_ok(fx, &b, &load);
    assert_int_equal(load.n_instances, 0);
    assert_int_equal(load.node_metrics.present, 1u << CATS_METRIC_CPU);
    cats_report_load_destroy(&load);
    free(b.data);
}

/* TelemetryReport. */

struct telemetry_msg {
    Cats__V1__TelemetryReport rep;
    Cats__V1__LinkTelemetry links[MAX_ENTRIES];
    Cats__V1__LinkTelemetry *ptrs[MAX_ENTRIES];
    Cats__V1__PfcPriority pfc[MAX_ENTRIES][10];
    Cats__V1__PfcPriority *pfc_ptrs[MAX_ENTRIES][10];
    char ids[MAX_ENTRIES][16];
};

/* 'n' links "eth0", "eth1", ..., each with PFC on priority 3. */
static void
telemetry_msg_init(struct telemetry_msg *m, size_t n)
{
    assert_true(n <= MAX_ENTRIES);
    cats__v1__telemetry_report__init(&m->rep);
    m->rep.source_id = "gw-a";
    m->rep.seq = 1;
    m->rep.counters_epoch = 5;
    m->rep.n_links = n;
    m->rep.links = m->ptrs;
    for (size_t i = 0; i < n; i++) {
        Cats__V1__LinkTelemetry *l = &m->links[i];

        cats__v1__link_telemetry__init(l);
        snprintf(m->ids[i], sizeof m->ids[i], "eth%d", (int) i);
        l->id = m->ids[i];
        l->kind = CATS__V1__LINK_KIND__LINK_KIND_LINK;
        l->tx_packets = 1000;
        l->ecn_marked_packets = 10;
        for (size_t j = 0; j < 10; j++) {
            cats__v1__pfc_priority__init(&m->pfc[i][j]);
            m->pfc[i][j].priority = j;
            m->pfc_ptrs[i][j] = &m->pfc[i][j];
        }
        m->pfc[i][0].priority = 3;
        m->pfc[i][0].rx_pause_frames = 17;
        m->pfc[i][0].paused_for_us = 250000;
        m->pfc[i][0].storm = true;
        l->n_pfc = 1;
        l->pfc = m->pfc_ptrs[i];
        m->ptrs[i] = l;
    }
}

static void
test_telemetry_decodes_links_and_pfc(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_telemetry t;
    struct telemetry_msg m;
    struct bytes b;
    char *error;

    telemetry_msg_init(&m, 2);
    Cats__V1__LinkTelemetry *l = &m.links[1];
    l->kind = CATS__V1__LINK_KIND__LINK_KIND_PATH;
    l->tx_bytes = UINT64_MAX;
    l->drops = 3;
    l->speed_bps = 100000000000ULL;
    l->_queue_depth_bytes_case =
        CATS__V1__LINK_TELEMETRY___QUEUE_DEPTH_BYTES_QUEUE_DEPTH_BYTES;
    l->queue_depth_bytes = 0;
    l->_rtt_us_case = CATS__V1__LINK_TELEMETRY___RTT_US_RTT_US;
    l->rtt_us = 12.5;
    l->n_pfc = 8;
    for (size_t j = 0; j < 8; j++) {
        m.pfc[1][j].priority = 7 - j;
        m.pfc[1][j].tx_pause_us = j;
    }
    m.links[0].kind = CATS__V1__LINK_KIND__LINK_KIND_UNSPECIFIED;
    b = encode(&m.rep.base);
    assert_int_equal(cats_report_decode_telemetry(b.data, b.size,
                                                  &fx->policy, &t, &error),
                     0);
    assert_null(error);

    assert_string_equal(t.source_id, "gw-a");
    assert_int_equal(t.seq, 1);
    assert_int_equal(t.counters_epoch, 5);
    assert_int_equal(t.n_links, 2);
    assert_string_equal(t.links[0].id, "eth0");
    assert_int_equal(t.links[0].kind, CATS_LINK_KIND_LINK);
    assert_int_equal(t.links[0].tx_packets, 1000);
    assert_int_equal(t.links[0].ecn_marked_packets, 10);
    assert_false(t.links[0].has_rtt);
    assert_false(t.links[0].has_queue_depth);
    assert_int_equal(t.links[0].n_pfc, 1);
    assert_int_equal(t.links[0].pfc[0].priority, 3);
    assert_int_equal(t.links[0].pfc[0].rx_pause_frames, 17);
    assert_int_equal(t.links[0].pfc[0].paused_for_us, 250000);
    assert_true(t.links[0].pfc[0].storm);

    assert_int_equal(t.links[1].kind, CATS_LINK_KIND_PATH);
    assert_true(t.links[1].tx_bytes == UINT64_MAX);
    assert_int_equal(t.links[1].drops, 3);
    assert_true(t.links[1].speed_bps == 100000000000ULL);
    assert_true(t.links[1].has_queue_depth);
    assert_int_equal(t.links[1].queue_depth_bytes, 0);
    assert_true(t.links[1].has_rtt);
    assert_true(t.links[1].rtt_us == 12.5);
    assert_int_equal(t.links[1].n_pfc, 8);
    assert_int_equal(t.links[1].pfc[7].priority, 0);
    assert_int_equal(t.links[1].pfc[7].tx_pause_us, 7);
    assert_false(t.links[1].pfc[7].storm);

    cats_report_telemetry_destroy(&t);
    assert_null(t.links);
    cats_report_telemetry_destroy(NULL);
    free(b.data);
}

static void
test_telemetry_unknown_link_kind_is_left_out(void **state)
{
    struct fixture *fx = *state;
    struct cats_report_telemetry t;
    struct telemetry_msg m;
    struct bytes b;
    char *error;

    telemetry_msg_init(&m, 3);
    m.links[0].kind = 7;
    b = encode(&m.rep.base);
    assert_int_equal(cats_report_decode_telemetry(b.data, b.size,
                                                  &fx->policy, &t, &error),
                     0);
    assert_int_equal(t.n_links, 2);
    assert_string_equal(t.links[0].id, "eth1");
    assert_string_equal(t.links[1].id, "eth2");
    cats_report_telemetry_destroy(&t);
    free(b.data);

    /* Its id still counts for uniqueness, and it is still checked. */
    m.ids[2][3] = '0';
    b = encode(&m.rep.base);
    assert_int_equal(cats_report_decode_telemetry(b.data, b.size,
                                                  &fx->policy, &t, &error),
                     EINVAL);
    assert_string_equal(error, "field 'links[2].id': link 'eth0' is listed "
                        "twice (also links[0])");
    free(error);
    free(b.data);
}

enum telemetry_mutation {
    T_SOURCE_EMPTY,
    T_SEQ_ZERO,
    T_TOO_MANY_LINKS,
    T_LINK_ID_BAD,
    T_LINK_ID_DUP,
    T_RTT_NAN,
    T_RTT_NEGATIVE,
    T_RTT_TOO_LONG,
    T_PFC_PRIORITY_8,
    T_PFC_PRIORITY_DUP,
    T_PFC_TOO_MANY,
};

static void
test_telemetry_each_bad_field_is_named(void **state)
{
    struct fixture *fx = *state;
    static const struct {
        enum telemetry_mutation mutation;
        int code;
        const char *error;
    } cases[] = {
        { T_SOURCE_EMPTY, EINVAL,
          "field 'source_id': must be 1 to 64 characters (is 0)" },
        { T_SEQ_ZERO, EINVAL, "field 'seq': must be at least 1" },
        { T_TOO_MANY_LINKS, E2BIG,
          "field 'links': 3 entries, more than the limit of 2" },
        { T_LINK_ID_BAD, EINVAL, "field 'links[1].id': character 4 is not "
          "a letter, digit, '.', '_', ':' or '-'" },
        { T_LINK_ID_DUP, EINVAL, "field 'links[1].id': link 'eth0' is "
          "listed twice (also links[0])" },
        { T_RTT_NAN, EINVAL, "field 'links[1].rtt_us': not a number (NaN)" },
        { T_RTT_NEGATIVE, EINVAL,
          "field 'links[1].rtt_us': -3 is negative" },
        { T_RTT_TOO_LONG, EINVAL, "field 'links[1].rtt_us': 10000001 is "
          "not between 0 and 10000000" },
        { T_PFC_PRIORITY_8, EINVAL, "field 'links[1].pfc[0].priority': 8 is "
          "not a priority between 0 and 7" },
        { T_PFC_PRIORITY_DUP, EINVAL, "field 'links[1].pfc[2].priority': "
          "priority 3 is listed twice" },
        { T_PFC_TOO_MANY, E2BIG, "field 'links[1].pfc': 9 entries, more "
          "than the limit of 8" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cats_report_telemetry t;
        struct telemetry_msg m;
        struct bytes b;
        char *error;
        int retval;

        telemetry_msg_init(&m, 2);
        fx->policy.max_links = CATS_REPORT_MAX_LINKS;
        switch (cases[i].mutation) {
        case T_SOURCE_EMPTY:
            m.rep.source_id = "";
            break;
        case T_SEQ_ZERO:
            m.rep.seq = 0;
            break;
        case T_TOO_MANY_LINKS:
            fx->policy.max_links = 2;
            telemetry_msg_init(&m, 3);
            break;
        case T_LINK_ID_BAD:
            m.links[1].id = "eth 1";
            break;
        case T_LINK_ID_DUP:
            m.links[1].id = "eth0";
            break;
        case T_RTT_NAN:
        case T_RTT_NEGATIVE:
        case T_RTT_TOO_LONG:
            m.links[1]._rtt_us_case =
                CATS__V1__LINK_TELEMETRY___RTT_US_RTT_US;
            m.links[1].rtt_us = (cases[i].mutation == T_RTT_NAN ? NAN
                                 : cases[i].mutation == T_RTT_NEGATIVE ? -3
                                 : 10000001);
            break;
        case T_PFC_PRIORITY_8:
            m.pfc[1][0].priority = 8;
            break;
        case T_PFC_PRIORITY_DUP:
            m.links[1].n_pfc = 3;       /* Priorities 3, 1, 3. */
            m.pfc[1][2].priority = 3;
            break;
        case T_PFC_TOO_MANY:
            m.links[1].n_pfc = 9;
            break;
        }
        b = encode(&m.rep.base);
        memset(&t, 0xa5, sizeof t);
        retval = cats_report_decode_telemetry(b.data, b.size, &fx->policy,
                                              &t, &error);
        if (!retval) {
            fail_msg("case %"PRIuSIZE": expected \"%s\", got success", i,
                     cases[i].error);
        }
        if (strcmp(error, cases[i].error)) {
            fail_msg("\n  expected \"%s\"\n  got      \"%s\"",
                     cases[i].error, error);
        }
        assert_int_equal(retval, cases[i].code);
        assert_int_equal(t.n_links, 0);
        assert_null(t.links);
        free(error);
        free(b.data);
    }
}

/* Replies. */

static void
test_register_reply_encodes(void **state OVS_UNUSED)
{
    Cats__V1__RegisterReply *reply;
    struct ofpbuf buf;

    ofpbuf_init(&buf, 0);
    cats_report_encode_register_reply(0x0123456789abcdefULL, 3000, 1000,
                                      &buf);
    reply = cats__v1__register_reply__unpack(NULL, buf.size, buf.data);
    assert_non_null(reply);
    assert_true(reply->session_id == 0x0123456789abcdefULL);
    assert_int_equal(reply->lease_ms, 3000);
    assert_int_equal(reply->report_interval_ms, 1000);
    cats__v1__register_reply__free_unpacked(reply, NULL);
    ofpbuf_uninit(&buf);
}

static void
test_ack_carries_lease_interval_and_grpc_status(void **state OVS_UNUSED)
{
    struct cats_report_ack ack = {
        .seq = 41, .lease_ms = 3000, .report_interval_ms = 500,
    };
    Cats__V1__ReportAck *pb;
    struct ofpbuf buf;

    ofpbuf_init(&buf, 0);
    cats_report_encode_ack(&ack, &buf);
    pb = cats__v1__report_ack__unpack(NULL, buf.size, buf.data);
    assert_non_null(pb);
    assert_int_equal(pb->seq, 41);
    assert_int_equal(pb->lease_ms, 3000);
    assert_int_equal(pb->report_interval_ms, 500);
    assert_int_equal(pb->error_code, 0);
    assert_string_equal(pb->error_message, "");
    cats__v1__report_ack__free_unpacked(pb, NULL);

    ack.error = EPERM;
    ack.error_message = "field 'instances[0]': not yours";
    ack.error_seq = 42;
    ofpbuf_clear(&buf);
    cats_report_encode_ack(&ack, &buf);
    pb = cats__v1__report_ack__unpack(NULL, buf.size, buf.data);
    assert_non_null(pb);
    assert_int_equal(pb->seq, 41);
    assert_int_equal(pb->error_code, 7);     /* PERMISSION_DENIED. */
    assert_string_equal(pb->error_message,
                        "field 'instances[0]': not yours");
    assert_int_equal(pb->error_seq, 42);
    cats__v1__report_ack__free_unpacked(pb, NULL);
    ofpbuf_uninit(&buf);
}

static void
test_telemetry_ack_encodes(void **state OVS_UNUSED)
{
    struct cats_report_ack ack = {
        .seq = 9, .lease_ms = 3000, .report_interval_ms = 100,
        .error = EINVAL, .error_message = "bad", .error_seq = 10,
    };
    Cats__V1__TelemetryAck *pb;
    struct ofpbuf buf;

    ofpbuf_init(&buf, 0);
    cats_report_encode_telemetry_ack(&ack, &buf);
    pb = cats__v1__telemetry_ack__unpack(NULL, buf.size, buf.data);
    assert_non_null(pb);
    assert_int_equal(pb->seq, 9);
    assert_int_equal(pb->report_interval_ms, 100);
    assert_int_equal(pb->error_code, 3);     /* INVALID_ARGUMENT. */
    assert_string_equal(pb->error_message, "bad");
    assert_int_equal(pb->error_seq, 10);
    cats__v1__telemetry_ack__free_unpacked(pb, NULL);
    ofpbuf_uninit(&buf);
}

/* Tables. */

static void
test_grpc_status_of_each_error(void **state OVS_UNUSED)
{
    static const struct {
        int error;
        enum cats_grpc_status status;
        int code;               /* The number the gRPC spec fixes. */
        const char *name;
    } cases[] = {
        { 0, CATS_GRPC_OK, 0, "OK" },
        { EINVAL, CATS_GRPC_INVALID_ARGUMENT, 3, "INVALID_ARGUMENT" },
        { EBADMSG, CATS_GRPC_INVALID_ARGUMENT, 3, "INVALID_ARGUMENT" },
        { ENOENT, CATS_GRPC_NOT_FOUND, 5, "NOT_FOUND" },
        { EEXIST, CATS_GRPC_ALREADY_EXISTS, 6, "ALREADY_EXISTS" },
        { EPERM, CATS_GRPC_PERMISSION_DENIED, 7, "PERMISSION_DENIED" },
        { EACCES, CATS_GRPC_PERMISSION_DENIED, 7, "PERMISSION_DENIED" },
        { EMSGSIZE, CATS_GRPC_RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED" },
        { E2BIG, CATS_GRPC_RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED" },
        { ENOSPC, CATS_GRPC_RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED" },
        { EBUSY, CATS_GRPC_RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED" },
        { ESTALE, CATS_GRPC_FAILED_PRECONDITION, 9, "FAILED_PRECONDITION" },
        { EALREADY, CATS_GRPC_ABORTED, 10, "ABORTED" },
        { ENOMEM, CATS_GRPC_INTERNAL, 13, "INTERNAL" },
        { -1, CATS_GRPC_INTERNAL, 13, "INTERNAL" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        enum cats_grpc_status s = cats_report_grpc_status(cases[i].error);

        if (s != cases[i].status || (int) s != cases[i].code) {
            fail_msg("errno %d: got status %d, expected %d",
                     cases[i].error, s, cases[i].code);
        }
        assert_string_equal(cats_grpc_status_name(s), cases[i].name);
    }
    assert_string_equal(cats_grpc_status_name(CATS_GRPC_UNKNOWN),
                        "UNKNOWN");
}

static void
test_metric_table_matches_the_proto(void **state OVS_UNUSED)
{
    static const char *const names[CATS_N_METRICS] = {
        "cpu_utilization", "gpu_utilization", "memory_utilization",
        "gpu_memory_utilization", "load_average_per_cpu",
        "requests_in_flight", "queue_depth", "latency_ms",
        "requests_per_second", "tokens_per_second",
    };
    const ProtobufCMessageDescriptor *d = &cats__v1__metrics__descriptor;

    /* Every metric is a field of message Metrics, and every field of
     * Metrics is a metric: a field added to the .proto must be added to
     * the table (and to the decoder) too. */
    assert_int_equal(d->n_fields, CATS_N_METRICS);
    for (int m = 0; m < CATS_N_METRICS; m++) {
        assert_string_equal(cats_metric_name(m), names[m]);
        assert_non_null(protobuf_c_message_descriptor_get_field_by_name(
                            d, cats_metric_name(m)));
        assert_true(cats_metric_max(m) > 0);
        assert_true(strlen(cats_metric_unit(m)) > 0);
    }
    assert_string_equal(cats_metric_unit(CATS_METRIC_CPU), "fraction");
    assert_true(cats_metric_max(CATS_METRIC_CPU) == 1.0);
    assert_string_equal(cats_metric_unit(CATS_METRIC_LATENCY), "ms");
    assert_string_equal(cats_metric_name(CATS_N_METRICS), "unknown");
}

/* ListServicesRequest: "" for all, a known name, refusals. */
static void
test_list_services_request(void **state)
{
    struct fixture *fx = *state;
    Cats__V1__ListServicesRequest rq = CATS__V1__LIST_SERVICES_REQUEST__INIT;
    char name[CATS_NAME_MAX + 1];
    static const uint8_t garbage[] = { 0xff, 0xff, 0xff };
    struct bytes b;
    char *error;

    b = encode(&rq.base);
    assert_int_equal(cats_report_decode_list_services(b.data, b.size,
                                                      &fx->policy, name,
                                                      &error), 0);
    assert_string_equal(name, "");
    assert_null(error);
    free(b.data);

    rq.service = "llm";
    b = encode(&rq.base);
    assert_int_equal(cats_report_decode_list_services(b.data, b.size,
                                                      &fx->policy, name,
                                                      &error), 0);
    assert_string_equal(name, "llm");
    free(b.data);

    rq.service = "nosuch";
    b = encode(&rq.base);
    assert_int_equal(cats_report_decode_list_services(b.data, b.size,
                                                      &fx->policy, name,
                                                      &error), ENOENT);
    assert_string_equal(name, "");
    assert_non_null(strstr(error, "unknown service 'nosuch'"));
    free(error);
    free(b.data);

    rq.service = "has blank";
    b = encode(&rq.base);
    assert_int_equal(cats_report_decode_list_services(b.data, b.size,
                                                      &fx->policy, name,
                                                      &error), EINVAL);
    free(error);
    free(b.data);

    assert_int_equal(cats_report_decode_list_services(garbage,
                                                      sizeof garbage,
                                                      &fx->policy, name,
                                                      &error), EBADMSG);
    free(error);
}

/* ListServicesReply: every field, decoded back with protobuf-c. */
static void
test_list_services_reply_encodes(void **state OVS_UNUSED)
{
    struct cats_metric_values last = { .present = 1u << CATS_METRIC_CPU
                                       | 1u << CATS_METRIC_IN_FLIGHT };
    struct cats_report_instance_info insts[2];
    struct cats_report_service_info svc;
    Cats__V1__ListServicesReply *r;
    struct ofpbuf out;

    last.value[CATS_METRIC_CPU] = 0.25;
    last.value[CATS_METRIC_IN_FLIGHT] = 7;
    memset(insts, 0, sizeof insts);
    insts[0].ip = ip("10.0.0.11");
    insts[0].port = 80;
    insts[0].weight = 25;
    insts[0].configured_weight = 100;
    insts[0].node_id = "n1";
    insts[0].lease_state = CATS_LEASE_ACTIVE;
    insts[0].health = CATS_HEALTH_DRAINING;
    insts[0].capacity = 4;
    insts[0].lease_remaining_ms = 1200;
    insts[0].last_report_age_ms = 300;
    insts[0].last = &last;
    insts[0].smoothed = &last;
    insts[0].scores_present = (1u << CATS_SCORE_OCCUPANCY
                               | 1u << CATS_SCORE_L2);
    insts[0].scores[CATS_SCORE_OCCUPANCY] = 3.6;
    insts[0].scores[CATS_SCORE_L2] = 3.6;
    insts[1].ip = ip("10.0.0.12");
    insts[1].port = 8080;
    insts[1].weight = 100;
    insts[1].configured_weight = 100;
    insts[1].lease_state = CATS_LEASE_STATIC;
    svc = (struct cats_report_service_info) {
        .name = "web", .vip = ip("10.0.0.100"), .port = 80,
        .proto = IPPROTO_UDP, .n_instances = 2, .instances = insts,
    };

    ofpbuf_init(&out, 0);
    cats_report_encode_services(&svc, 1, &out);
    r = cats__v1__list_services_reply__unpack(NULL, out.size, out.data);
    assert_non_null(r);
    assert_int_equal(r->n_services, 1);
    assert_string_equal(r->services[0]->name, "web");
    assert_string_equal(r->services[0]->vip, "10.0.0.100");
    assert_int_equal(r->services[0]->port, 80);
    assert_string_equal(r->services[0]->protocol, "udp");
    assert_int_equal(r->services[0]->n_instances, 2);

    const Cats__V1__InstanceInfo *a = r->services[0]->instances[0];
    assert_string_equal(a->ip, "10.0.0.11");
    assert_int_equal(a->port, 80);
    assert_int_equal(a->weight, 25);
    assert_int_equal(a->configured_weight, 100);
    assert_string_equal(a->node_id, "n1");
    assert_int_equal(a->lease_state,
                     CATS__V1__LEASE_STATE__LEASE_STATE_ACTIVE);
    assert_int_equal(a->health, CATS__V1__HEALTH__HEALTH_DRAINING);
    assert_int_equal(a->capacity, 4);
    assert_int_equal(a->lease_remaining_ms, 1200);
    assert_int_equal(a->last_report_age_ms, 300);
    assert_non_null(a->last);
    assert_int_equal(a->last->_cpu_utilization_case,
                     CATS__V1__METRICS___CPU_UTILIZATION_CPU_UTILIZATION);
    assert_true(a->last->cpu_utilization == 0.25);
    assert_int_equal(a->last->requests_in_flight, 7);
    assert_int_equal(a->last->_gpu_utilization_case, 0);
    assert_non_null(a->scores);
    assert_int_equal(a->scores->_computing_case, 0);
    assert_true(a->scores->occupancy == 3.6);
    assert_true(a->scores->l2 == 3.6);

    const Cats__V1__InstanceInfo *b = r->services[0]->instances[1];
    assert_string_equal(b->ip, "10.0.0.12");
    assert_string_equal(b->node_id, "");
    assert_int_equal(b->lease_state,
                     CATS__V1__LEASE_STATE__LEASE_STATE_STATIC);
    assert_null(b->last);
    assert_null(b->scores);

    cats__v1__list_services_reply__free_unpacked(r, NULL);
    ofpbuf_uninit(&out);
}

#define T(NAME) cmocka_unit_test_setup_teardown(NAME, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_registration_decodes_every_field),
        T(test_registration_without_instances_or_agent_is_valid),
        T(test_registration_each_bad_field_is_named),
        T(test_registration_longest_names_are_accepted),
        T(test_message_larger_than_decoder_buffer),
        T(test_nul_bytes_inside_strings_are_refused),
        T(test_without_service_check_any_wellformed_name_passes),
        T(test_prefixes_restrict_instance_addresses),
        cmocka_unit_test(test_policy_add_prefix),
        T(test_too_many_and_duplicate_instances),
        T(test_unknown_fields_are_ignored),
        T(test_oversized_message_is_refused),
        T(test_decoded_memory_is_bounded),
        T(test_malformed_protobuf_is_refused),
        T(test_empty_input_is_an_empty_message),
        T(test_load_decodes_and_merges_node_metrics),
        T(test_load_zero_and_absent_metrics_differ),
        T(test_load_every_metric_is_range_checked),
        T(test_utilizations_are_fractions_not_percent),
        T(test_load_l2_score_is_0_to_10),
        T(test_load_header_errors),
        T(test_load_health_values),
        T(test_load_instances_are_checked_like_registrations),
        T(test_telemetry_decodes_links_and_pfc),
        T(test_telemetry_unknown_link_kind_is_left_out),
        T(test_telemetry_each_bad_field_is_named),
        T(test_list_services_request),
        cmocka_unit_test(test_list_services_reply_encodes),
        cmocka_unit_test(test_register_reply_encodes),
        cmocka_unit_test(test_ack_carries_lease_interval_and_grpc_status),
        cmocka_unit_test(test_telemetry_ack_encodes),
        cmocka_unit_test(test_grpc_status_of_each_error),
        cmocka_unit_test(test_metric_table_matches_the_proto),
    };

    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}

/*
 * Unit tests for libcatsclient's codec (controller/client/codec.c,
 * include/cats/client.h) and the wire vocabulary it shares with libcats
 * (include/cats/wire.h): the TelemetryReport encoder, checked field by
 * field by protobuf-c's generated unpack, and the decoder of what the
 * controller sends back (ReportAck, TelemetryAck, RegisterReply), fed
 * messages packed by protobuf-c and bytes that are not such messages.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cats/client.h"
#include "cats/wire.h"
#include "proto/cats.pb-c.h"
#include "util.h"

#define MSG_SIZE (sizeof ((struct cats_client_ack *) NULL)->error_message)

#define QUEUE_DEPTH_SET \
    CATS__V1__LINK_TELEMETRY___QUEUE_DEPTH_BYTES_QUEUE_DEPTH_BYTES
#define QUEUE_DEPTH_NOT_SET \
    CATS__V1__LINK_TELEMETRY___QUEUE_DEPTH_BYTES__NOT_SET

/* Packs 'm' into a malloc'd buffer of '*lenp' bytes. */
static uint8_t *
pack(const ProtobufCMessage *m, size_t *lenp)
{
    uint8_t *buf;

    *lenp = protobuf_c_message_get_packed_size(m);
    buf = malloc(*lenp + 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *lenp);
    return buf;
}

/* Decodes 'len' bytes at 'data' as 'kind' into an ack that starts out
 * filled with a pattern (so that a field the decoder forgets shows). */
static bool
decode(enum cats_client_msg kind, const void *data, size_t len,
       struct cats_client_ack *ack)
{
    memset(ack, 0xa5, sizeof *ack);
    return cats_client_decode_ack(kind, data, len, ack);
}

/* The TelemetryReport encoder. */

static void
check_link(const struct cats_report_link *l, const Cats__V1__LinkTelemetry *p,
           size_t n_pfc)
{
    assert_string_equal(p->id, l->id);
    assert_int_equal(p->kind, (l->kind == CATS_LINK_KIND_PATH
                               ? CATS__V1__LINK_KIND__LINK_KIND_PATH
                               : CATS__V1__LINK_KIND__LINK_KIND_LINK));
    assert_true(p->tx_packets == l->tx_packets);
    assert_true(p->tx_bytes == l->tx_bytes);
    assert_true(p->ecn_marked_packets == l->ecn_marked_packets);
    assert_true(p->drops == l->drops);
    assert_true(p->speed_bps == l->speed_bps);
    if (l->has_queue_depth) {
        assert_int_equal(p->_queue_depth_bytes_case, QUEUE_DEPTH_SET);
        assert_true(p->queue_depth_bytes == l->queue_depth_bytes);
    } else {
        assert_int_equal(p->_queue_depth_bytes_case, QUEUE_DEPTH_NOT_SET);
    }
    if (l->has_rtt) {
        assert_int_equal(p->_rtt_us_case,
                         CATS__V1__LINK_TELEMETRY___RTT_US_RTT_US);
        assert_true(p->rtt_us == l->rtt_us);
    } else {
        assert_int_equal(p->_rtt_us_case,
                         CATS__V1__LINK_TELEMETRY___RTT_US__NOT_SET);
    }
    assert_int_equal(p->n_pfc, n_pfc);
    for (size_t k = 0; k < n_pfc; k++) {
        const struct cats_report_pfc *want = &l->pfc[k];
        const Cats__V1__PfcPriority *got = p->pfc[k];

        assert_int_equal(got->priority, want->priority);
        assert_true(got->rx_pause_frames == want->rx_pause_frames);
        assert_true(got->tx_pause_frames == want->tx_pause_frames);
        assert_true(got->rx_pause_us == want->rx_pause_us);
        assert_true(got->tx_pause_us == want->tx_pause_us);
        assert_true(got->paused_for_us == want->paused_for_us);
    }
}

static void
test_encode_telemetry_every_field(void **state)
{
    struct cats_report_link links[3];
    struct cats_report_telemetry t;
    Cats__V1__TelemetryReport *m;
    uint8_t *buf;
    size_t len;

    (void) state;
    memset(links, 0, sizeof links);
    memset(&t, 0, sizeof t);

    /* A link with everything, two PFC priorities. */
    strcpy(links[0].id, "eth1");
    links[0].kind = CATS_LINK_KIND_LINK;
    links[0].tx_packets = 100001;
    links[0].tx_bytes = 150000002;
    links[0].ecn_marked_packets = 1203;
    links[0].drops = 4;
    links[0].has_queue_depth = true;
    links[0].queue_depth_bytes = 65536;
    links[0].has_rtt = true;
    links[0].rtt_us = 12.5;
    links[0].speed_bps = 100000000000ULL;
    links[0].n_pfc = 2;
    links[0].pfc[0] = (struct cats_report_pfc) { 3, 1500, 750, 250000,
                                                 125000, 0 };
    links[0].pfc[1] = (struct cats_report_pfc) { 4, 2, 1, 10, 5, 77 };

    /* A path without the optional fields: absent, not 0. */
    strcpy(links[1].id, "site-a:site-b");
    links[1].kind = CATS_LINK_KIND_PATH;
    links[1].tx_packets = UINT64_MAX;
    links[1].tx_bytes = UINT64_MAX - 1;
    links[1].drops = 1;

    /* The longest id; a queue depth of 0 (present), the largest RTT, every
     * priority. */
    memset(links[2].id, 'x', CATS_ID_MAX);
    links[2].id[CATS_ID_MAX] = '\0';
    links[2].kind = CATS_LINK_KIND_LINK;
    links[2].has_queue_depth = true;
    links[2].has_rtt = true;
    links[2].rtt_us = 1e7;
    links[2].n_pfc = CATS_PFC_PRIORITIES;
    for (int k = 0; k < CATS_PFC_PRIORITIES; k++) {
        links[2].pfc[k] = (struct cats_report_pfc) {
            k, 10 + k, 20 + k, 30 + k, 40 + k, UINT64_MAX - k };
    }

    strcpy(t.source_id, "gw-a");
    t.seq = UINT64_MAX;
    t.counters_epoch = 1700000000123ULL;
    t.n_links = 3;
    t.links = links;

    buf = cats_client_encode_telemetry(&t, &len);
    assert_non_null(buf);
    m = cats__v1__telemetry_report__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_string_equal(m->source_id, "gw-a");
    assert_true(m->seq == UINT64_MAX);
    assert_true(m->counters_epoch == 1700000000123ULL);
    assert_int_equal(m->n_links, 3);
    check_link(&links[0], m->links[0], 2);
    check_link(&links[1], m->links[1], 0);
    check_link(&links[2], m->links[2], CATS_PFC_PRIORITIES);
    cats__v1__telemetry_report__free_unpacked(m, NULL);
    free(buf);
}

/* More PFC entries than priorities: the encoder sends the first eight and
 * reads nothing past the array. */
static void
test_encode_telemetry_pfc_clamped(void **state)
{
    struct cats_report_link link;
    struct cats_report_telemetry t;
    Cats__V1__TelemetryReport *m;
    uint8_t *buf;
    size_t len;

    (void) state;
    memset(&link, 0, sizeof link);
    memset(&t, 0, sizeof t);
    strcpy(link.id, "eth0");
    link.n_pfc = CATS_PFC_PRIORITIES + 5;
    for (int k = 0; k < CATS_PFC_PRIORITIES; k++) {
        link.pfc[k].priority = k;
        link.pfc[k].rx_pause_frames = 100 + k;
    }
    strcpy(t.source_id, "node-1");
    t.seq = 1;
    t.n_links = 1;
    t.links = &link;

    buf = cats_client_encode_telemetry(&t, &len);
    m = cats__v1__telemetry_report__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_int_equal(m->n_links, 1);
    check_link(&link, m->links[0], CATS_PFC_PRIORITIES);
    cats__v1__telemetry_report__free_unpacked(m, NULL);
    free(buf);
}

static void
test_encode_telemetry_no_links(void **state)
{
    struct cats_report_telemetry t;
    Cats__V1__TelemetryReport *m;
    uint8_t *buf;
    size_t len;

    (void) state;
    memset(&t, 0, sizeof t);
    strcpy(t.source_id, "node-2");
    t.seq = 7;
    t.counters_epoch = 3;

    buf = cats_client_encode_telemetry(&t, &len);
    assert_non_null(buf);
    m = cats__v1__telemetry_report__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_string_equal(m->source_id, "node-2");
    assert_true(m->seq == 7 && m->counters_epoch == 3);
    assert_int_equal(m->n_links, 0);
    cats__v1__telemetry_report__free_unpacked(m, NULL);
    free(buf);
}

/* The decoder: valid messages. */

static void
test_decode_report_ack(void **state)
{
    Cats__V1__ReportAck m = CATS__V1__REPORT_ACK__INIT;
    struct cats_client_ack ack;
    uint8_t *buf;
    size_t len;

    (void) state;
    m.seq = 0x1122334455667788ULL;
    m.lease_ms = 1500;
    m.report_interval_ms = 250;
    m.error_code = 3;
    m.error_message = "cpu_utilization 50 is out of range";
    m.error_seq = 0x1122334455667789ULL;
    buf = pack(&m.base, &len);

    assert_true(decode(CATS_CLIENT_REPORT_ACK, buf, len, &ack));
    assert_true(ack.seq == 0x1122334455667788ULL);
    assert_int_equal(ack.session, 0);
    assert_int_equal(ack.lease_ms, 1500);
    assert_int_equal(ack.report_interval_ms, 250);
    assert_int_equal(ack.error_code, 3);
    assert_true(ack.error_seq == 0x1122334455667789ULL);
    assert_string_equal(ack.error_message,
                        "cpu_utilization 50 is out of range");
    free(buf);

    /* Nothing refused: no error, an empty message. */
    m.error_code = 0;
    m.error_message = "";
    m.error_seq = 0;
    buf = pack(&m.base, &len);
    assert_true(decode(CATS_CLIENT_REPORT_ACK, buf, len, &ack));
    assert_int_equal(ack.error_code, 0);
    assert_int_equal(ack.error_seq, 0);
    assert_string_equal(ack.error_message, "");
    free(buf);
}

static void
test_decode_telemetry_ack(void **state)
{
    Cats__V1__TelemetryAck m = CATS__V1__TELEMETRY_ACK__INIT;
    struct cats_client_ack ack;
    uint8_t *buf;
    size_t len;

    (void) state;
    m.seq = 41;
    m.report_interval_ms = 200;
    m.error_code = 10;
    m.error_message = "refused by the test";
    m.error_seq = 42;
    buf = pack(&m.base, &len);

    assert_true(decode(CATS_CLIENT_TELEMETRY_ACK, buf, len, &ack));
    assert_int_equal(ack.seq, 41);
    assert_int_equal(ack.session, 0);
    assert_int_equal(ack.lease_ms, 0);       /* TelemetryAck has none. */
    assert_int_equal(ack.report_interval_ms, 200);
    assert_int_equal(ack.error_code, 10);
    assert_int_equal(ack.error_seq, 42);
    assert_string_equal(ack.error_message, "refused by the test");
    free(buf);
}

static void
test_decode_register_reply(void **state)
{
    Cats__V1__RegisterReply m = CATS__V1__REGISTER_REPLY__INIT;
    struct cats_client_ack ack;
    uint8_t *buf;
    size_t len;

    (void) state;
    m.session_id = 0xfedcba9876543210ULL;
    m.lease_ms = 1500;
    m.report_interval_ms = 500;
    buf = pack(&m.base, &len);

    assert_true(decode(CATS_CLIENT_REGISTER_REPLY, buf, len, &ack));
    assert_true(ack.session == 0xfedcba9876543210ULL);
    assert_int_equal(ack.lease_ms, 1500);
    assert_int_equal(ack.report_interval_ms, 500);
    assert_int_equal(ack.seq, 0);
    assert_int_equal(ack.error_code, 0);
    assert_int_equal(ack.error_seq, 0);
    assert_string_equal(ack.error_message, "");
    free(buf);

    /* A reply with a lease and no session decodes, with session 0: the
     * client refuses it on that (client.c, on_register_done()). */
    m.session_id = 0;
    buf = pack(&m.base, &len);
    assert_true(len > 0);
    assert_true(decode(CATS_CLIENT_REGISTER_REPLY, buf, len, &ack));
    assert_int_equal(ack.session, 0);
    assert_int_equal(ack.lease_ms, 1500);
    free(buf);
}

/* Fields this version does not know are skipped, as protobuf wants. */
static void
test_decode_skips_unknown_fields(void **state)
{
    /* ReportAck seq=5, then field 15 (varint 42) and field 16
     * (length-delimited "hi"). */
    static const uint8_t msg[] = { 0x08, 0x05, 0x78, 0x2a,
                                   0x82, 0x01, 0x02, 'h', 'i' };
    struct cats_client_ack ack;

    (void) state;
    assert_true(decode(CATS_CLIENT_REPORT_ACK, msg, sizeof msg, &ack));
    assert_int_equal(ack.seq, 5);
    assert_int_equal(ack.error_code, 0);
    assert_string_equal(ack.error_message, "");
}

/* The decoder: what it must refuse. */

static void
test_decode_refuses_garbage(void **state)
{
    const struct {
        const char *what;
        const uint8_t *data;
        size_t len;
    } cases[] = {
#define C(WHAT, ...) { WHAT, (const uint8_t[]) { __VA_ARGS__ }, \
                       sizeof ((const uint8_t[]) { __VA_ARGS__ }) }
        C("field number 0", 0x00, 0x01),
        C("wire type 7", 0x0f, 0x01),
        C("wire type 3 (start group)", 0x0b),
        C("varint of 11 bytes", 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0x01),
        C("tag never ends", 0xff, 0xff, 0xff, 0xff, 0xff),
        C("length past the end", 0x2a, 0x7f, 'a', 'b'),
        C("text", 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'),
#undef C
    };
    static const enum cats_client_msg kinds[] = {
        CATS_CLIENT_REPORT_ACK, CATS_CLIENT_TELEMETRY_ACK,
        CATS_CLIENT_REGISTER_REPLY,
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
            struct cats_client_ack ack;

            if (decode(kinds[k], cases[i].data, cases[i].len, &ack)) {
                fail_msg("%s: decoded as kind %d", cases[i].what,
                         kinds[k]);
            }
        }
    }
}

/* Every cut of a valid message that ends inside a field is refused; a cut
 * that ends between two fields is a shorter valid message. */
static void
test_decode_refuses_truncated(void **state)
{
    Cats__V1__ReportAck m = CATS__V1__REPORT_ACK__INIT;
    Cats__V1__RegisterReply r = CATS__V1__REGISTER_REPLY__INIT;
    struct cats_client_ack ack;
    uint8_t *buf;
    size_t len;

    (void) state;
    /* seq (1 + 3 bytes), error_code (1 + 1), error_message (1 + 1 + 5). */
    m.seq = 100000;
    m.error_code = 9;
    m.error_message = "stale";
    buf = pack(&m.base, &len);
    assert_int_equal(len, 13);
    for (size_t cut = 0; cut < len; cut++) {
        bool boundary = cut == 0 || cut == 4 || cut == 6;

        if (decode(CATS_CLIENT_REPORT_ACK, buf, cut, &ack) != boundary) {
            fail_msg("%zu of %zu bytes: %s", cut, len,
                     boundary ? "refused" : "decoded");
        }
    }
    free(buf);

    /* session_id is a fixed64: 1 + 8 bytes, nothing shorter decodes. */
    r.session_id = 7;
    buf = pack(&r.base, &len);
    assert_int_equal(len, 9);
    for (size_t cut = 0; cut < len; cut++) {
        assert_false(decode(CATS_CLIENT_REGISTER_REPLY, buf, cut, &ack));
    }
    assert_true(decode(CATS_CLIENT_REGISTER_REPLY, buf, len, &ack));
    assert_int_equal(ack.session, 7);
    free(buf);
}

/* A message of one kind given as another: the wire types disagree, and
 * the decoder says so instead of filling in the wrong fields. */
static void
test_decode_refuses_wrong_kind(void **state)
{
    Cats__V1__ReportAck ra = CATS__V1__REPORT_ACK__INIT;
    Cats__V1__TelemetryAck ta = CATS__V1__TELEMETRY_ACK__INIT;
    Cats__V1__RegisterReply rr = CATS__V1__REGISTER_REPLY__INIT;
    struct cats_client_ack ack;
    uint8_t *buf;
    size_t len;

    (void) state;
    /* ReportAck field 1 (seq) is a varint, RegisterReply's a fixed64;
     * ReportAck field 4 (error_code) a varint, TelemetryAck's
     * error_message a string. */
    ra.seq = 12;
    ra.error_code = 9;
    buf = pack(&ra.base, &len);
    assert_false(decode(CATS_CLIENT_REGISTER_REPLY, buf, len, &ack));
    assert_false(decode(CATS_CLIENT_TELEMETRY_ACK, buf, len, &ack));
    free(buf);

    /* A RegisterReply (fixed64 session) is no ack. */
    rr.session_id = 0x0102030405060708ULL;
    rr.lease_ms = 1500;
    buf = pack(&rr.base, &len);
    assert_false(decode(CATS_CLIENT_REPORT_ACK, buf, len, &ack));
    assert_false(decode(CATS_CLIENT_TELEMETRY_ACK, buf, len, &ack));
    free(buf);

    /* A TelemetryAck's error_message (field 4, a string) is no
     * ReportAck's error_code. */
    ta.seq = 3;
    ta.error_code = 10;
    ta.error_message = "no";
    buf = pack(&ta.base, &len);
    assert_false(decode(CATS_CLIENT_REPORT_ACK, buf, len, &ack));
    assert_false(decode(CATS_CLIENT_REGISTER_REPLY, buf, len, &ack));
    free(buf);
}

/* A RegisterReply of no bytes is a valid protobuf message without a
 * session: refused.  (An ack of no bytes is a valid ack of nothing.) */
static void
test_decode_empty(void **state)
{
    static const uint8_t nothing[1];
    struct cats_client_ack ack;

    (void) state;
    assert_false(decode(CATS_CLIENT_REGISTER_REPLY, nothing, 0, &ack));
    assert_true(decode(CATS_CLIENT_REPORT_ACK, nothing, 0, &ack));
    assert_int_equal(ack.seq, 0);
    assert_int_equal(ack.error_code, 0);
    assert_string_equal(ack.error_message, "");
}

/* error_message: cut to the array, always NUL-terminated, nothing written
 * past it. */
static void
check_message_cut(enum cats_client_msg kind, size_t n)
{
    struct {
        struct cats_client_ack ack;
        uint8_t guard[64];
    } box;
    char *text = malloc(n + 1);
    uint8_t *buf;
    size_t len;

    assert_non_null(text);
    for (size_t i = 0; i < n; i++) {
        text[i] = 'a' + i % 26;
    }
    text[n] = '\0';
    if (kind == CATS_CLIENT_REPORT_ACK) {
        Cats__V1__ReportAck m = CATS__V1__REPORT_ACK__INIT;

        m.error_code = 3;
        m.error_message = text;
        buf = pack(&m.base, &len);
    } else {
        Cats__V1__TelemetryAck m = CATS__V1__TELEMETRY_ACK__INIT;

        m.error_code = 3;
        m.error_message = text;
        buf = pack(&m.base, &len);
    }

    memset(box.guard, 0x5a, sizeof box.guard);
    assert_true(decode(kind, buf, len, &box.ack));
    assert_int_equal(box.ack.error_code, 3);
    assert_non_null(memchr(box.ack.error_message, '\0', MSG_SIZE));
    assert_int_equal(strlen(box.ack.error_message),
                     n < MSG_SIZE ? n : MSG_SIZE - 1);
    assert_memory_equal(box.ack.error_message, text,
                        strlen(box.ack.error_message));
    for (size_t i = 0; i < sizeof box.guard; i++) {
        assert_int_equal(box.guard[i], 0x5a);
    }
    free(buf);
    free(text);
}

static void
test_decode_long_message_cut(void **state)
{
    static const size_t lengths[] = {
        MSG_SIZE - 2, MSG_SIZE - 1, MSG_SIZE, MSG_SIZE + 1, 300, 60000,
    };

    (void) state;
    for (size_t i = 0; i < ARRAY_SIZE(lengths); i++) {
        check_message_cut(CATS_CLIENT_REPORT_ACK, lengths[i]);
        check_message_cut(CATS_CLIENT_TELEMETRY_ACK, lengths[i]);
    }
}

/* A NUL inside the message: the copy stops there, still terminated. */
static void
test_decode_message_with_nul(void **state)
{
    /* TelemetryAck error_code=9, error_message="ab\0cd". */
    static const uint8_t msg[] = { 0x18, 0x09, 0x22, 0x05,
                                   'a', 'b', 0x00, 'c', 'd' };
    struct cats_client_ack ack;

    (void) state;
    assert_true(decode(CATS_CLIENT_TELEMETRY_ACK, msg, sizeof msg, &ack));
    assert_int_equal(ack.error_code, 9);
    assert_string_equal(ack.error_message, "ab");
}

/* include/cats/wire.h. */

static void
test_status_names(void **state)
{
    (void) state;
    assert_string_equal(cats_grpc_status_name(0), "OK");
    assert_string_equal(cats_grpc_status_name(4), "DEADLINE_EXCEEDED");
    assert_string_equal(cats_grpc_status_name(9), "FAILED_PRECONDITION");
    assert_string_equal(cats_grpc_status_name(14), "UNAVAILABLE");
    assert_string_equal(cats_grpc_status_name(16), "UNAUTHENTICATED");
    assert_string_equal(cats_grpc_status_name(CATS_GRPC_N_CODES),
                        "UNKNOWN");
    assert_string_equal(cats_grpc_status_name(UINT32_MAX), "UNKNOWN");
}

static void
test_id_rule(void **state)
{
    char id[CATS_ID_MAX + 2];

    (void) state;
    assert_true(cats_id_valid("node-1"));
    assert_true(cats_id_valid("a.b_c:d-E9"));
    assert_false(cats_id_valid(""));
    assert_false(cats_id_valid("node 1"));
    assert_false(cats_id_valid("node/1"));
    assert_false(cats_id_valid("n\xc3\xa9ud"));

    memset(id, 'n', CATS_ID_MAX);
    id[CATS_ID_MAX] = '\0';
    assert_true(cats_id_valid(id));
    id[CATS_ID_MAX] = 'n';
    id[CATS_ID_MAX + 1] = '\0';
    assert_false(cats_id_valid(id));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_telemetry_every_field),
        cmocka_unit_test(test_encode_telemetry_pfc_clamped),
        cmocka_unit_test(test_encode_telemetry_no_links),
        cmocka_unit_test(test_decode_report_ack),
        cmocka_unit_test(test_decode_telemetry_ack),
        cmocka_unit_test(test_decode_register_reply),
        cmocka_unit_test(test_decode_skips_unknown_fields),
        cmocka_unit_test(test_decode_refuses_garbage),
        cmocka_unit_test(test_decode_refuses_truncated),
        cmocka_unit_test(test_decode_refuses_wrong_kind),
        cmocka_unit_test(test_decode_empty),
        cmocka_unit_test(test_decode_long_message_cut),
        cmocka_unit_test(test_decode_message_with_nul),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_id_rule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

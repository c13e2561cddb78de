/*
 * Unit tests for cats-gw's IEEE 802.1Qbb frames (dataplane/gw-qbb.h):
 * the layout of built frames, field by field, and the strict parsing of
 * received ones, each malformed frame with its reason.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "gw-qbb.h"
#include "openvswitch/compiler.h"
#include "util.h"

static const uint8_t src_mac[6] = { 0x02, 0x00, 0x5e, 0x10, 0x20, 0x30 };

/* A valid frame: priorities 3 and 5 paused, 0x1234 and 0xffff quanta. */
static const uint8_t valid_frame[GW_QBB_FRAME_LEN] = {
    0x01, 0x80, 0xc2, 0x00, 0x00, 0x01,         /* Destination. */
    0x02, 0x00, 0x5e, 0x10, 0x20, 0x30,         /* Source. */
    0x88, 0x08,                                 /* Ethertype. */
    0x01, 0x01,                                 /* Opcode. */
    0x00, 0x28,                                 /* Class-enable: 3, 5. */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00,         /* time[0..2]. */
    0x12, 0x34,                                 /* time[3]. */
    0x00, 0x00,                                 /* time[4]. */
    0xff, 0xff,                                 /* time[5]. */
    0x00, 0x00, 0x00, 0x00,                     /* time[6..7]. */
    /* 26 bytes of zero padding follow. */
};

static uint16_t
be16_at(const uint8_t *p, size_t ofs)
{
    return (p[ofs] << 8) | p[ofs + 1];
}

static void
test_build_writes_every_field_at_its_offset(void **state OVS_UNUSED)
{
    struct gw_qbb_frame f = { .enable = 0x81 };
    uint8_t buf[128];

    memcpy(f.src, src_mac, sizeof f.src);
    f.quanta[0] = 0x0102;
    f.quanta[7] = 0xfffe;
    memset(buf, 0xee, sizeof buf);

    assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), 0);

    static const uint8_t dst[6] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x01 };
    assert_memory_equal(buf, dst, 6);
    assert_memory_equal(buf + 6, src_mac, 6);
    assert_int_equal(be16_at(buf, 12), 0x8808);
    assert_int_equal(be16_at(buf, 14), 0x0101);
    assert_int_equal(buf[16], 0x00);            /* Reserved octet. */
    assert_int_equal(buf[17], 0x81);            /* e[7] and e[0]. */
    assert_int_equal(be16_at(buf, 18), 0x0102); /* time[0]. */
    for (int i = 1; i < 7; i++) {
        assert_int_equal(be16_at(buf, 18 + 2 * i), 0);
    }
    assert_int_equal(be16_at(buf, 32), 0xfffe); /* time[7]. */
    for (int i = 34; i < 60; i++) {
        assert_int_equal(buf[i], 0);
    }
    /* Nothing past the 60 bytes (the NIC appends the FCS). */
    for (int i = 60; i < (int) sizeof buf; i++) {
        assert_int_equal(buf[i], 0xee);
    }
}

static void
test_build_writes_zero_time_for_priorities_not_enabled(void **state
                                                       OVS_UNUSED)
{
    struct gw_qbb_frame f = { .enable = 1u << 3 };
    uint8_t buf[GW_QBB_FRAME_LEN];

    memcpy(f.src, src_mac, sizeof f.src);
    for (int i = 0; i < 8; i++) {
        f.quanta[i] = 0x1111 * (i + 1);
    }
    assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(be16_at(buf, 18 + 2 * i), i == 3 ? 0x4444 : 0);
    }
}

static void
test_build_and_parse_match_the_reference_frame(void **state OVS_UNUSED)
{
    struct gw_qbb_frame f = { .enable = 0x28 };
    uint8_t buf[GW_QBB_FRAME_LEN];

    memcpy(f.src, src_mac, sizeof f.src);
    f.quanta[3] = 0x1234;
    f.quanta[5] = 0xffff;
    assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), 0);
    assert_memory_equal(buf, valid_frame, sizeof valid_frame);

    struct gw_qbb_frame g;
    assert_int_equal(gw_qbb_parse(valid_frame, sizeof valid_frame, &g),
                     GW_QBB_OK);
    assert_memory_equal(g.src, src_mac, 6);
    assert_int_equal(g.enable, 0x28);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(g.quanta[i],
                         i == 3 ? 0x1234 : i == 5 ? 0xffff : 0);
    }
}

static void
test_build_refuses_small_buffer_and_frames_parse_would_reject(
    void **state OVS_UNUSED)
{
    struct gw_qbb_frame f = { .enable = 1 };
    uint8_t buf[GW_QBB_FRAME_LEN];

    memcpy(f.src, src_mac, sizeof f.src);
    memset(buf, 0xee, sizeof buf);
    assert_int_equal(gw_qbb_build(&f, buf, GW_QBB_FRAME_LEN - 1), ENOSPC);
    assert_int_equal(buf[0], 0xee);

    f.enable = 0;
    assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), EINVAL);

    f.enable = 1;
    f.src[0] |= 1;              /* Group address. */
    assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), EINVAL);
    assert_int_equal(buf[0], 0xee);
}

static void
test_parse_accepts_frames_with_and_without_fcs(void **state OVS_UNUSED)
{
    uint8_t buf[GW_QBB_FRAME_LEN_FCS];
    struct gw_qbb_frame f;

    memcpy(buf, valid_frame, sizeof valid_frame);
    memcpy(buf + 60, "\xde\xad\xbe\xef", 4);   /* FCS: not checked. */
    for (size_t len = 60; len <= 64; len++) {
        memset(&f, 0, sizeof f);
        assert_int_equal(gw_qbb_parse(buf, len, &f), GW_QBB_OK);
        assert_int_equal(f.quanta[3], 0x1234);
    }
}

static void
test_build_parse_round_trip_for_every_vector(void **state OVS_UNUSED)
{
    uint32_t x = 12345;

    for (int vector = 1; vector < 256; vector++) {
        struct gw_qbb_frame f = { .enable = vector }, g;
        uint8_t buf[GW_QBB_FRAME_LEN];

        memcpy(f.src, src_mac, sizeof f.src);
        for (int i = 0; i < 8; i++) {
            x = x * 1103515245 + 12345;
            f.quanta[i] = vector & (1 << i) ? x >> 16 : 0;
        }
        assert_int_equal(gw_qbb_build(&f, buf, sizeof buf), 0);
        assert_int_equal(gw_qbb_parse(buf, sizeof buf, &g), GW_QBB_OK);
        assert_memory_equal(&f, &g, sizeof f);
    }
}

/* One malformed frame: 'len' bytes of the reference frame with byte 'ofs'
 * set to 'value' (ofs < 0: no change). */
struct bad_frame {
    const char *what;
    size_t len;
    int ofs;
    uint8_t value;
    enum gw_qbb_error error;
};

static const struct bad_frame bad_frames[] = {
    { "empty", 0, -1, 0, GW_QBB_ERR_SHORT },
    { "ethernet header only", 14, -1, 0, GW_QBB_ERR_SHORT },
    { "one byte short", 59, -1, 0, GW_QBB_ERR_SHORT },
    { "one byte past FCS", 65, -1, 0, GW_QBB_ERR_LONG },
    { "jumbo", 1514, -1, 0, GW_QBB_ERR_LONG },
    { "dst[0] unicast", 60, 0, 0x00, GW_QBB_ERR_DST },
    { "dst[1]", 60, 1, 0x81, GW_QBB_ERR_DST },
    { "dst[2]", 60, 2, 0xc3, GW_QBB_ERR_DST },
    { "dst[3]", 60, 3, 0x01, GW_QBB_ERR_DST },
    { "dst[4]", 60, 4, 0x01, GW_QBB_ERR_DST },
    { "dst 01:80:c2:00:00:02 (slow protocols)", 60, 5, 0x02,
      GW_QBB_ERR_DST },
    { "src multicast", 60, 6, 0x03, GW_QBB_ERR_SRC },
    { "src broadcast", 60, 6, 0xff, GW_QBB_ERR_SRC },
    { "VLAN tag where ethertype goes", 60, 12, 0x81, GW_QBB_ERR_ETHERTYPE },
    { "ethertype 0x8809 (slow protocols)", 60, 13, 0x09,
      GW_QBB_ERR_ETHERTYPE },
    { "opcode 0x0100", 60, 15, 0x00, GW_QBB_ERR_OPCODE },
    { "opcode 0x0102", 60, 15, 0x02, GW_QBB_ERR_OPCODE },
    { "opcode 0x0201", 60, 14, 0x02, GW_QBB_ERR_OPCODE },
    { "vector reserved octet", 60, 16, 0x01, GW_QBB_ERR_VECTOR_RESERVED },
    { "vector empty", 60, 17, 0x00, GW_QBB_ERR_VECTOR_EMPTY },
    { "time[0] without e[0]", 60, 19, 0x01, GW_QBB_ERR_TIME_DISABLED },
    { "time[7] without e[7]", 60, 32, 0x80, GW_QBB_ERR_TIME_DISABLED },
    { "first pad byte", 60, 34, 0x01, GW_QBB_ERR_PAD },
    { "last pad byte", 60, 59, 0x80, GW_QBB_ERR_PAD },
};

static void
test_parse_rejects_each_malformed_frame_with_its_reason(void **state
                                                        OVS_UNUSED)
{
    static uint8_t buf[2048];

    for (size_t i = 0; i < ARRAY_SIZE(bad_frames); i++) {
        const struct bad_frame *b = &bad_frames[i];
        struct gw_qbb_frame f, before;
        enum gw_qbb_error error;

        memset(buf, 0, sizeof buf);
        memcpy(buf, valid_frame, sizeof valid_frame);
        if (b->ofs >= 0) {
            assert_true(buf[b->ofs] != b->value);
            buf[b->ofs] = b->value;
        }
        memset(&f, 0xaa, sizeof f);
        before = f;

        error = gw_qbb_parse(buf, b->len, &f);
        if (error != b->error) {
            fail_msg("%s: expected %s, got %s", b->what,
                     gw_qbb_error_name(b->error), gw_qbb_error_name(error));
        }
        assert_memory_equal(&f, &before, sizeof f);
    }
}

static void
test_parse_reports_global_pause_apart(void **state OVS_UNUSED)
{
    uint8_t buf[GW_QBB_FRAME_LEN];
    struct gw_qbb_frame f;

    /* An 802.3x PAUSE: opcode 0x0001, one 16-bit time right after it. */
    memcpy(buf, valid_frame, sizeof buf);
    buf[14] = 0x00;
    buf[15] = 0x01;
    assert_int_equal(gw_qbb_parse(buf, sizeof buf, &f),
                     GW_QBB_ERR_GLOBAL_PAUSE);
}

static void
test_parse_reports_first_wrong_field_in_frame_order(void **state OVS_UNUSED)
{
    uint8_t buf[GW_QBB_FRAME_LEN];
    struct gw_qbb_frame f;

    memcpy(buf, valid_frame, sizeof buf);
    buf[59] = 1;                /* Pad. */
    buf[16] = 1;                /* Vector reserved octet. */
    buf[12] = 0x81;             /* Ethertype. */
    buf[0] = 0;                 /* Destination. */
    assert_int_equal(gw_qbb_parse(buf, sizeof buf, &f), GW_QBB_ERR_DST);
    buf[0] = 0x01;
    assert_int_equal(gw_qbb_parse(buf, sizeof buf, &f),
                     GW_QBB_ERR_ETHERTYPE);
    buf[12] = 0x88;
    assert_int_equal(gw_qbb_parse(buf, sizeof buf, &f),
                     GW_QBB_ERR_VECTOR_RESERVED);
    buf[16] = 0;
    assert_int_equal(gw_qbb_parse(buf, sizeof buf, &f), GW_QBB_ERR_PAD);
    /* Short wins over everything. */
    assert_int_equal(gw_qbb_parse(buf, 30, &f), GW_QBB_ERR_SHORT);
}

static void
test_every_error_has_a_distinct_name_and_a_message(void **state OVS_UNUSED)
{
    for (int i = 0; i < GW_QBB_N_ERRORS; i++) {
        const char *name = gw_qbb_error_name(i);

        assert_non_null(name);
        assert_true(strlen(gw_qbb_strerror(i)) > 10);
        assert_string_not_equal(name, "unknown");
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(name, gw_qbb_error_name(j));
        }
    }
    assert_string_equal(gw_qbb_error_name(GW_QBB_N_ERRORS), "unknown");
    assert_string_equal(gw_qbb_error_name(-1), "unknown");
    assert_string_equal(gw_qbb_strerror(GW_QBB_ERR_DST),
                        "destination is not 01:80:c2:00:00:01");
}

static void
test_is_mac_control_looks_only_at_the_ethertype(void **state OVS_UNUSED)
{
    uint8_t buf[GW_QBB_FRAME_LEN];

    memcpy(buf, valid_frame, sizeof buf);
    assert_true(gw_qbb_is_mac_control(buf, sizeof buf));
    assert_true(gw_qbb_is_mac_control(buf, 14));
    assert_false(gw_qbb_is_mac_control(buf, 13));
    buf[12] = 0x08;
    buf[13] = 0x00;             /* IPv4. */
    assert_false(gw_qbb_is_mac_control(buf, sizeof buf));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_writes_every_field_at_its_offset),
        cmocka_unit_test(
            test_build_writes_zero_time_for_priorities_not_enabled),
        cmocka_unit_test(test_build_and_parse_match_the_reference_frame),
        cmocka_unit_test(
            test_build_refuses_small_buffer_and_frames_parse_would_reject),
        cmocka_unit_test(test_parse_accepts_frames_with_and_without_fcs),
        cmocka_unit_test(test_build_parse_round_trip_for_every_vector),
        cmocka_unit_test(
            test_parse_rejects_each_malformed_frame_with_its_reason),
        cmocka_unit_test(test_parse_reports_global_pause_apart),
        cmocka_unit_test(
            test_parse_reports_first_wrong_field_in_frame_order),
        cmocka_unit_test(
            test_every_error_has_a_distinct_name_and_a_message),
        cmocka_unit_test(test_is_mac_control_looks_only_at_the_ethertype),
    };

    return cmocka_run_group_tests_name("gw-qbb", tests, NULL, NULL);
}

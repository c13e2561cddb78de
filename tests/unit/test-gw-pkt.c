/*
 * Unit tests for cats-gw's frame classification (dataplane/gw-pkt.h):
 * PCP from a VLAN tag (or 0 untagged), DSCP and ECN from IPv4 and IPv6,
 * the class from the trusted field only, short and non-IP frames never
 * ECT, and setting CE through the parsed offsets.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "gw-config.h"
#include "gw-pkt.h"
#include "openvswitch/compiler.h"
#include "util.h"

/* Frames: Ethernet (+ optional VLAN tag with 'pcp'), then an IPv4 header
 * with TOS 'tos' and a valid checksum, or an IPv6 header with traffic
 * class 'tos'. */
static size_t
frame(uint8_t *buf, int vlan_pcp, int ip_version, uint8_t tos)
{
    size_t ofs = 12;

    memset(buf, 0, 128);
    memset(buf, 0xff, 6);
    buf[6] = 0x02;
    if (vlan_pcp >= 0) {
        buf[ofs++] = 0x81;
        buf[ofs++] = 0x00;
        buf[ofs++] = (vlan_pcp << 5) | 0x0;
        buf[ofs++] = 10;
    }
    if (ip_version == 4) {
        uint32_t sum = 0;

        buf[ofs++] = 0x08;
        buf[ofs++] = 0x00;
        buf[ofs] = 0x45;
        buf[ofs + 1] = tos;
        buf[ofs + 3] = 46;
        buf[ofs + 8] = 64;
        buf[ofs + 9] = 17;
        buf[ofs + 12] = 10;
        buf[ofs + 15] = 1;
        buf[ofs + 16] = 10;
        buf[ofs + 19] = 2;
        for (int i = 0; i < 20; i += 2) {
            sum += (buf[ofs + i] << 8) | buf[ofs + i + 1];
        }
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        buf[ofs + 10] = ~sum >> 8;
        buf[ofs + 11] = ~sum;
        return ofs + 46;
    } else if (ip_version == 6) {
        buf[ofs++] = 0x86;
        buf[ofs++] = 0xdd;
        buf[ofs] = 0x60 | (tos >> 4);
        buf[ofs + 1] = tos << 4;
        return ofs + 40;
    }
    buf[ofs++] = 0x08;          /* ARP. */
    buf[ofs++] = 0x06;
    return ofs + 28;
}

static struct gw_class_map
default_map(enum gw_trust trust)
{
    struct gw_port_config cfg;
    struct gw_class_map map;

    gw_port_config_init(&cfg);
    cfg.trust = trust;
    gw_config_build_class_map(&cfg, &map);
    return map;
}

static bool
ipv4_checksum_ok(const uint8_t *ip)
{
    uint32_t sum = 0;

    for (int i = 0; i < 20; i += 2) {
        sum += (ip[i] << 8) | ip[i + 1];
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

static void
test_trust_pcp_uses_the_tag_or_pcp_0(void **state OVS_UNUSED)
{
    struct gw_class_map map = default_map(GW_TRUST_PCP);
    uint8_t buf[128];
    struct gw_pkt pkt;
    size_t len;

    len = frame(buf, 5, 4, (46 << 2) | GW_ECN_ECT0);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_int_equal(pkt.pcp, 5);
    assert_int_equal(pkt.cls, 5);           /* Not DSCP 46's class 5. */
    assert_int_equal(pkt.dscp, 46);
    assert_int_equal(pkt.ecn, GW_ECN_ECT0);
    assert_int_equal(pkt.l3, GW_PKT_L3_IPV4);
    assert_int_equal(pkt.l3_ofs, 18);

    len = frame(buf, -1, 4, 26 << 2);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_int_equal(pkt.pcp, 0);
    assert_int_equal(pkt.cls, 0);
    assert_int_equal(pkt.l3_ofs, 14);
}

static void
test_trust_dscp_uses_ipv4_and_ipv6_dscp(void **state OVS_UNUSED)
{
    struct gw_class_map map = default_map(GW_TRUST_DSCP);
    uint8_t buf[128];
    struct gw_pkt pkt;
    size_t len;

    len = frame(buf, 7, 4, (26 << 2) | GW_ECN_ECT1);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_int_equal(pkt.cls, 3);           /* 26 / 8, not PCP 7. */
    assert_int_equal(pkt.ecn, GW_ECN_ECT1);

    len = frame(buf, -1, 6, (46 << 2) | GW_ECN_ECT0);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_int_equal(pkt.l3, GW_PKT_L3_IPV6);
    assert_int_equal(pkt.dscp, 46);
    assert_int_equal(pkt.cls, 5);
    assert_int_equal(pkt.ecn, GW_ECN_ECT0);

    /* Not IP: DSCP 0's class, never ECT. */
    len = frame(buf, 3, 0, 0);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_int_equal(pkt.l3, GW_PKT_L3_OTHER);
    assert_int_equal(pkt.cls, 0);
    assert_int_equal(pkt.ecn, GW_ECN_NOT_ECT);
}

static void
test_short_or_malformed_frames_are_not_ip(void **state OVS_UNUSED)
{
    struct gw_class_map map = default_map(GW_TRUST_DSCP);
    uint8_t buf[128];
    struct gw_pkt pkt;

    frame(buf, -1, 4, (46 << 2) | GW_ECN_ECT0);
    gw_pkt_classify(&map, buf, 14 + 19, &pkt);     /* Truncated header. */
    assert_int_equal(pkt.l3, GW_PKT_L3_OTHER);
    assert_int_equal(pkt.ecn, GW_ECN_NOT_ECT);

    buf[14] = 0x55;                                 /* Version 5. */
    gw_pkt_classify(&map, buf, 64, &pkt);
    assert_int_equal(pkt.l3, GW_PKT_L3_OTHER);

    gw_pkt_classify(&map, buf, 13, &pkt);
    assert_int_equal(pkt.l3, GW_PKT_L3_OTHER);
    assert_int_equal(pkt.cls, 0);

    frame(buf, 6, 6, 0xff);
    gw_pkt_classify(&map, buf, 18 + 39, &pkt);     /* Short IPv6. */
    assert_int_equal(pkt.l3, GW_PKT_L3_OTHER);
    assert_int_equal(pkt.pcp, 6);
}

static void
test_custom_map_is_followed(void **state OVS_UNUSED)
{
    struct gw_port_config cfg;
    struct gw_class_map map;
    uint8_t buf[128];
    struct gw_pkt pkt;
    size_t len;

    gw_port_config_init(&cfg);
    cfg.trust = GW_TRUST_DSCP;
    cfg.classes[5].dscps &= ~(UINT64_C(1) << 46);
    cfg.classes[7].dscps |= UINT64_C(1) << 46;
    gw_config_build_class_map(&cfg, &map);

    len = frame(buf, -1, 4, 46 << 2);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_int_equal(pkt.cls, 7);
}

static void
test_set_ce_marks_ect_only_and_keeps_checksums(void **state OVS_UNUSED)
{
    struct gw_class_map map = default_map(GW_TRUST_PCP);
    uint8_t buf[128];
    struct gw_pkt pkt;
    size_t len;

    len = frame(buf, 3, 4, (26 << 2) | GW_ECN_ECT0);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_true(gw_pkt_set_ce(buf, &pkt));
    assert_int_equal(buf[18 + 1], (26 << 2) | GW_ECN_CE);
    assert_true(ipv4_checksum_ok(buf + 18));

    len = frame(buf, -1, 4, 26 << 2);               /* Not-ECT. */
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_false(gw_pkt_set_ce(buf, &pkt));
    assert_int_equal(buf[14 + 1], 26 << 2);

    len = frame(buf, -1, 6, (10 << 2) | GW_ECN_ECT1);
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_true(gw_pkt_set_ce(buf, &pkt));
    assert_int_equal(buf[14], 0x60 | (((10 << 2) | 3) >> 4));
    assert_int_equal(buf[15], (((10 << 2) | 3) << 4) & 0xff);

    len = frame(buf, -1, 0, 0);                     /* ARP. */
    gw_pkt_classify(&map, buf, len, &pkt);
    assert_false(gw_pkt_set_ce(buf, &pkt));
}

static void
test_class_alone_agrees_with_full_classification(void **state OVS_UNUSED)
{
    struct gw_class_map maps[2] = {
        default_map(GW_TRUST_PCP), default_map(GW_TRUST_DSCP),
    };
    uint8_t buf[128];

    for (int m = 0; m < 2; m++) {
        for (int vlan = -1; vlan < 8; vlan++) {
            for (int ipv = 0; ipv <= 6; ipv += 2) {
                size_t len = frame(buf, vlan, ipv == 2 ? 0 : ipv,
                                   (vlan + 1) * 29 & 0xff);

                for (size_t l = 0; l <= len; l++) {
                    struct gw_pkt pkt;

                    gw_pkt_classify(&maps[m], buf, l, &pkt);
                    assert_int_equal(gw_pkt_class(&maps[m], buf, l),
                                     pkt.cls);
                }
            }
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trust_pcp_uses_the_tag_or_pcp_0),
        cmocka_unit_test(test_trust_dscp_uses_ipv4_and_ipv6_dscp),
        cmocka_unit_test(test_short_or_malformed_frames_are_not_ip),
        cmocka_unit_test(test_custom_map_is_followed),
        cmocka_unit_test(test_set_ce_marks_ect_only_and_keeps_checksums),
        cmocka_unit_test(test_class_alone_agrees_with_full_classification),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

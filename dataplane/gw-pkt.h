/*
 * cats-gw: what the fast path needs to know about a received frame: its
 * traffic class, and where its ECN field is.
 *
 * One pass over at most the first 58 bytes (Ethernet, one VLAN tag, the
 * first 2 bytes of the IP header), no checksum, no loop: this runs once per
 * packet.  The frame is trusted only as far as its length says:
 *
 *   - A VLAN tag (TPID 0x8100 or 0x88a8) gives the PCP; an untagged frame
 *     has PCP 0 (802.1Q's default priority for untagged frames).  Only the
 *     outer tag is read: an inner tag is payload here.
 *   - IPv4 (version 4, at least 20 bytes) and IPv6 (version 6, at least 40
 *     bytes) give the DSCP and the ECN field.  Anything else has DSCP 0 and
 *     is Not-ECT, so it is never marked.
 *   - The class comes from the trusted field only (gw-config.h's class
 *     map): the PCP with trust pcp, the DSCP with trust dscp.
 *
 * No DPDK: the fast path, the unit tests and a fuzz target share it.
 */

#ifndef GW_PKT_H
#define GW_PKT_H 1

#include <stdbool.h>
#include <stdint.h>

#include "gw-config.h"
#include "gw-ecn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_PKT_ETH_LEN 14
#define GW_PKT_VLAN_LEN 4
#define GW_PKT_IPV4_MIN 20
#define GW_PKT_IPV6_LEN 40

enum gw_pkt_l3 {
    GW_PKT_L3_OTHER,            /* Not IP, or too short to be: no ECN. */
    GW_PKT_L3_IPV4,
    GW_PKT_L3_IPV6
};

struct gw_pkt {
    uint8_t cls;                /* Traffic class, 0..GW_N_CLASSES - 1. */
    uint8_t pcp;                /* 0 if untagged. */
    uint8_t dscp;               /* 0 if not IP. */
    uint8_t ecn;                /* GW_ECN_*; GW_ECN_NOT_ECT if not IP. */
    uint8_t l3;                 /* enum gw_pkt_l3. */
    uint8_t l3_ofs;             /* Offset of the IP header (14 or 18). */
};

static inline uint16_t
gw_pkt_be16(const uint8_t *p)
{
    return (p[0] << 8) | p[1];
}

/* Parses the 'len' bytes at 'p', the start of a frame, into '*pkt', and
 * classifies it with 'map'. */
static inline void
gw_pkt_classify(const struct gw_class_map *map, const uint8_t *p,
                uint32_t len, struct gw_pkt *pkt)
{
    uint32_t ofs = GW_PKT_ETH_LEN;
    uint16_t type;

    pkt->pcp = 0;
    pkt->dscp = 0;
    pkt->ecn = GW_ECN_NOT_ECT;
    pkt->l3 = GW_PKT_L3_OTHER;
    if (len < GW_PKT_ETH_LEN) {
        pkt->l3_ofs = 0;
        goto out;
    }

    type = gw_pkt_be16(p + 12);
    if ((type == 0x8100 || type == 0x88a8)
        && len >= GW_PKT_ETH_LEN + GW_PKT_VLAN_LEN) {
        pkt->pcp = p[14] >> 5;
        type = gw_pkt_be16(p + 16);
        ofs += GW_PKT_VLAN_LEN;
    }
    pkt->l3_ofs = ofs;

    if (type == 0x0800 && len >= ofs + GW_PKT_IPV4_MIN
        && (p[ofs] >> 4) == 4) {
        pkt->l3 = GW_PKT_L3_IPV4;
        pkt->dscp = p[ofs + 1] >> 2;
        pkt->ecn = p[ofs + 1] & 3;
    } else if (type == 0x86dd && len >= ofs + GW_PKT_IPV6_LEN
               && (p[ofs] >> 4) == 6) {
        /* Traffic class: low nibble of byte 0, high nibble of byte 1. */
        uint8_t tc = (p[ofs] << 4) | (p[ofs + 1] >> 4);

        pkt->l3 = GW_PKT_L3_IPV6;
        pkt->dscp = tc >> 2;
        pkt->ecn = tc & 3;
    }

out:
    pkt->cls = (map->trust == GW_TRUST_DSCP
                ? gw_class_map_dscp(map, pkt->dscp)
                : gw_class_map_pcp(map, pkt->pcp));
}

/* The class alone of the 'len' bytes at 'p', as gw_pkt_classify() would
 * find it, for the fast path: with trust pcp, no IP header is read. */
static inline uint8_t
gw_pkt_class(const struct gw_class_map *map, const uint8_t *p, uint32_t len)
{
    struct gw_pkt pkt;

    if (map->trust == GW_TRUST_PCP) {
        uint8_t pcp = 0;

        if (len >= GW_PKT_ETH_LEN + GW_PKT_VLAN_LEN) {
            uint16_t type = gw_pkt_be16(p + 12);

            if (type == 0x8100 || type == 0x88a8) {
                pcp = p[14] >> 5;
            }
        }
        return gw_class_map_pcp(map, pcp);
    }
    gw_pkt_classify(map, p, len, &pkt);
    return pkt.cls;
}

/* Sets CE in the frame at 'p' that gw_pkt_classify() parsed into 'pkt'
 * (fixing the IPv4 header checksum).  Returns true if it did: the packet
 * was ECT(0) or ECT(1).  Not-ECT, CE and non-IP frames are left alone. */
static inline bool
gw_pkt_set_ce(uint8_t *p, const struct gw_pkt *pkt)
{
    if (pkt->ecn != GW_ECN_ECT0 && pkt->ecn != GW_ECN_ECT1) {
        return false;
    }
    return (pkt->l3 == GW_PKT_L3_IPV4 ? gw_ecn_ipv4_set_ce(p + pkt->l3_ofs)
            : pkt->l3 == GW_PKT_L3_IPV6 ? gw_ecn_ipv6_set_ce(p + pkt->l3_ofs)
            : false);
}

#ifdef __cplusplus
}
#endif

#endif /* gw-pkt.h */

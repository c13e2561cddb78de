/*
 * cats-gw: the ECN marking law of a traffic class's queue.
 */

#include "gw-ecn.h"

#include <errno.h>
#include <string.h>

int
gw_ecn_params_init(struct gw_ecn_params *p, uint32_t kmin, uint32_t kmax,
                   uint32_t pmax_ppm, uint32_t queue_limit)
{
    if (kmin > kmax || kmax > queue_limit || pmax_ppm > GW_ECN_PPM_ONE
        || !queue_limit) {
        return EINVAL;
    }

    memset(p, 0, sizeof *p);
    p->ecn = true;
    p->kmin = kmin;
    p->kmax = kmax;
    p->pmax_ppm = pmax_ppm;
    p->pmax = ((uint64_t) pmax_ppm << 32) / GW_ECN_PPM_ONE;
    p->queue_limit = queue_limit;
    p->drop_reason = GW_DROP_QUEUE_LIMIT;
    return 0;
}

int
gw_ecn_params_init_no_ecn(struct gw_ecn_params *p, uint32_t queue_limit)
{
    if (!queue_limit) {
        return EINVAL;
    }

    memset(p, 0, sizeof *p);
    p->ecn = false;
    p->queue_limit = queue_limit;
    p->drop_reason = GW_DROP_QUEUE_LIMIT;
    return 0;
}

uint64_t
gw_ecn_mark_prob(const struct gw_ecn_params *p, uint32_t qlen)
{
    if (!p->ecn || qlen <= p->kmin) {
        return 0;
    }
    if (qlen > p->kmax) {
        return GW_ECN_PROB_ONE;
    }
    /* Pmax <= 2^32 and d <= D < 2^32: the product fits in 64 bits. */
    return p->pmax * (qlen - p->kmin) / (p->kmax - p->kmin);
}

enum gw_ecn_verdict
gw_ecn_admit(const struct gw_ecn_params *p, struct gw_class_stats *cs,
             uint32_t qlen, uint32_t len, uint8_t ecn, uint32_t random)
{
    enum gw_ecn_verdict v = gw_ecn_decide(p, qlen, len, ecn, random);

    if (v == GW_ECN_DROP) {
        gw_stats_drop(cs, p->drop_reason);
        gw_stats_set_depth(cs, qlen);
    } else {
        cs->packets++;
        cs->bytes += len;
        if (v == GW_ECN_MARK) {
            cs->ecn_marked++;
        }
        gw_stats_set_depth(cs, qlen + len);
    }
    return v;
}

/* One's complement sum of 'a' and 'b', folded to 16 bits. */
static uint16_t
csum_add16(uint32_t a, uint32_t b)
{
    uint32_t sum = a + b;

    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

bool
gw_ecn_ipv4_set_ce(void *ip_)
{
    uint8_t *ip = ip_;
    uint8_t ecn = ip[1] & 3;

    if (ecn == GW_ECN_NOT_ECT || ecn == GW_ECN_CE) {
        return false;
    }

    /* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), where m is the 16-bit word
     * that holds the TOS (version/IHL and TOS). */
    uint16_t old_word = (ip[0] << 8) | ip[1];
    uint16_t new_word = old_word | GW_ECN_CE;
    uint16_t hc = (ip[10] << 8) | ip[11];
    uint16_t sum = csum_add16(csum_add16((uint16_t) ~hc,
                                         (uint16_t) ~old_word), new_word);

    hc = ~sum;
    ip[1] |= GW_ECN_CE;
    ip[10] = hc >> 8;
    ip[11] = hc;
    return true;
}

bool
gw_ecn_ipv6_set_ce(void *ip6_)
{
    uint8_t *ip6 = ip6_;
    uint8_t ecn = (ip6[1] >> 4) & 3;

    if (ecn == GW_ECN_NOT_ECT || ecn == GW_ECN_CE) {
        return false;
    }
    ip6[1] |= GW_ECN_CE << 4;
    return true;
}

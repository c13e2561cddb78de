/*
 * cats-gw: the ECN marking law of a traffic class's queue.
 *
 * RED/DCQCN-style marking on the instantaneous queue depth q, in bytes,
 * that an arriving packet finds (not counting itself):
 *
 *     p(q) = 0                                   q <= Kmin
 *          = Pmax * (q - Kmin) / (Kmax - Kmin)   Kmin < q <= Kmax
 *          = 1                                   q > Kmax
 *
 * (Kmin == Kmax is a DCTCP-style step: mark everything above K.)
 *
 * - Only ECT(0) and ECT(1) packets are marked (set to CE).  CE packets
 *   stay CE and are not counted as marked by us.  Not-ECT packets are
 *   never marked and never dropped early: like every packet, they are
 *   dropped only when they do not fit under the queue limit.
 * - The decision is deterministic given a random value that the caller
 *   draws (uniform over [0, 2^32)): the packet is marked iff
 *   random < p(q) * 2^32.  Probabilities are kept in units of 2^-32, so
 *   tests can name exact values and the per-packet path does one
 *   comparison of two 64-bit products, no division.
 *
 * No DPDK, no clock, no global state: per-lcore callers share nothing but
 * the (read-only) parameters.
 */

#ifndef GW_ECN_H
#define GW_ECN_H 1

#include <stdbool.h>
#include <stdint.h>

#include "gw-stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The 2-bit ECN field (RFC 3168). */
#define GW_ECN_NOT_ECT 0
#define GW_ECN_ECT1 1
#define GW_ECN_ECT0 2
#define GW_ECN_CE 3

/* Probability 1 in the units of gw_ecn_mark_prob(). */
#define GW_ECN_PROB_ONE (UINT64_C(1) << 32)

/* Probability 1 in parts per million, the unit of 'pmax_ppm'. */
#define GW_ECN_PPM_ONE 1000000

struct gw_ecn_params {
    bool ecn;                   /* Marking enabled? */
    uint32_t kmin;              /* Bytes. */
    uint32_t kmax;              /* Bytes, >= kmin. */
    uint32_t pmax_ppm;          /* p(Kmax), parts per million. */
    uint64_t pmax;              /* p(Kmax) in units of 2^-32, rounded
                                 * down from 'pmax_ppm'. */
    uint32_t queue_limit;       /* Bytes: a packet that would take the
                                 * queue past this is dropped. */
    enum gw_drop_reason drop_reason;    /* How such drops are counted:
                                         * GW_DROP_QUEUE_LIMIT, or
                                         * GW_DROP_HEADROOM for a lossless
                                         * class (caller sets it). */
};

enum gw_ecn_verdict {
    GW_ECN_PASS,                /* Enqueue unchanged. */
    GW_ECN_MARK,                /* Set CE, then enqueue. */
    GW_ECN_DROP                 /* Does not fit under the queue limit. */
};

/* Initializes 'p' for a marking queue.  Returns 0 on success, EINVAL if
 * kmin > kmax, kmax > queue_limit, pmax_ppm > GW_ECN_PPM_ONE or
 * queue_limit is 0 ('p' is then unchanged).  Drops are counted as
 * GW_DROP_QUEUE_LIMIT until the caller sets 'drop_reason'. */
int gw_ecn_params_init(struct gw_ecn_params *p, uint32_t kmin, uint32_t kmax,
                       uint32_t pmax_ppm, uint32_t queue_limit);

/* Initializes 'p' for a queue that never marks.  Returns 0 on success,
 * EINVAL if queue_limit is 0. */
int gw_ecn_params_init_no_ecn(struct gw_ecn_params *p, uint32_t queue_limit);

/* p(qlen) in units of 2^-32 (0 to GW_ECN_PROB_ONE inclusive), rounded
 * down; 0 when marking is disabled.  Ignores the queue limit. */
uint64_t gw_ecn_mark_prob(const struct gw_ecn_params *p, uint32_t qlen);

/* The fate of a packet of 'len' bytes whose ECN field is 'ecn' (only its
 * low 2 bits are read), arriving at a queue that holds 'qlen' bytes, given
 * 'random' uniform over [0, 2^32).  For an ECT packet that fits,
 * GW_ECN_MARK is returned iff random < gw_ecn_mark_prob(p, qlen). */
static inline enum gw_ecn_verdict
gw_ecn_decide(const struct gw_ecn_params *p, uint32_t qlen, uint32_t len,
              uint8_t ecn, uint32_t random)
{
    ecn &= 3;
    if ((uint64_t) qlen + len > p->queue_limit) {
        return GW_ECN_DROP;
    }
    if (!p->ecn || ecn == GW_ECN_NOT_ECT || ecn == GW_ECN_CE
        || qlen <= p->kmin) {
        return GW_ECN_PASS;
    }
    if (qlen > p->kmax) {
        return GW_ECN_MARK;
    }

    /* random < floor(Pmax * d / D)  <=>  (random + 1) * D <= Pmax * d, for
     * integers.  Neither product overflows: random + 1 <= 2^32,
     * Pmax <= 2^32 and d <= D < 2^32. */
    uint64_t d = qlen - p->kmin;
    uint64_t range = p->kmax - p->kmin;
    return ((uint64_t) random + 1) * range <= p->pmax * d ? GW_ECN_MARK
                                                          : GW_ECN_PASS;
}

/* gw_ecn_decide(), counted in 'cs': a drop by p->drop_reason; an admitted
 * packet in 'packets' and 'bytes', and in 'ecn_marked' if marked; the
 * queue depth becomes 'qlen' (+ 'len' if admitted).  The caller enqueues
 * (setting CE first on GW_ECN_MARK) or frees the packet. */
enum gw_ecn_verdict gw_ecn_admit(const struct gw_ecn_params *p,
                                 struct gw_class_stats *cs, uint32_t qlen,
                                 uint32_t len, uint8_t ecn, uint32_t random);

/* The ECN field of the IPv4 header at 'ip' (TOS, low 2 bits). */
static inline uint8_t
gw_ecn_ipv4_get(const void *ip)
{
    return ((const uint8_t *) ip)[1] & 3;
}

/* The ECN field of the IPv6 header at 'ip6' (traffic class, low 2 bits). */
static inline uint8_t
gw_ecn_ipv6_get(const void *ip6)
{
    return (((const uint8_t *) ip6)[1] >> 4) & 3;
}

/* If the IPv4 header at 'ip' (its first 12 bytes readable and writable) is
 * ECT(0) or ECT(1), sets CE, updates the header checksum incrementally
 * (RFC 1624, eqn. 3) and returns true.  Otherwise (Not-ECT, or CE already)
 * changes nothing and returns false. */
bool gw_ecn_ipv4_set_ce(void *ip);

/* The same for the IPv6 header at 'ip6' (no checksum). */
bool gw_ecn_ipv6_set_ce(void *ip6);

#ifdef __cplusplus
}
#endif

#endif /* gw-ecn.h */

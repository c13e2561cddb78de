/*
 * cats-gw: the token bucket that limits a direction to its link rate.
 *
 * Tokens are bytes, kept in units of 2^-32 byte so that slow links (a few
 * Mb/s against a GHz clock: well under one byte per tick) keep their
 * precision.  The clock is the caller's, in ticks of 'hz' per second (the
 * TSC in the gateway).  Every division happens in gw_tbf_init(): refilling
 * is one subtraction, one comparison and one multiplication, per burst of
 * packets rather than per packet.
 *
 * A frame of 'len' bytes costs len + 'overhead' (on Ethernet, 24: preamble
 * and start delimiter 8, FCS 4, inter-frame gap 12, none of which is in the
 * buffer), so that 'rate_bps' is the rate on the wire.  A frame is sent
 * only when the bucket holds its whole cost: the bucket never goes into
 * debt, so it must be deep enough for the largest frame ('depth' is raised
 * to that if needed).
 *
 * A rate of 0 means no limit: gw_tbf_budget() then answers UINT64_MAX.
 *
 * One owner, no locks, no DPDK.
 */

#ifndef GW_TBF_H
#define GW_TBF_H 1

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GW_TBF_FRAC_BITS 32
#define GW_TBF_ETH_OVERHEAD 24      /* Preamble + SFD, FCS, gap. */
#define GW_TBF_DEPTH_MAX (UINT32_C(1) << 30)    /* Bytes. */

struct gw_tbf {
    uint64_t rate_bps;          /* 0: unlimited. */
    uint32_t overhead;          /* Bytes added to each frame's length. */
    uint64_t per_tick;          /* Bytes per tick, 2^-32 units. */
    uint64_t depth;             /* Bucket size, 2^-32 units. */
    uint64_t fill_ticks;        /* Empty to full takes this long. */
    uint64_t tokens;            /* 2^-32 units, <= depth. */
    uint64_t last;              /* Clock of the last refill. */
};

/* Initializes 'tbf' for 'rate_bps' (0: unlimited) with a bucket of
 * 'depth_bytes' (raised to 'min_bytes', the largest frame plus
 * 'overhead', if smaller), full at time 'now' of a clock of 'hz' ticks per
 * second.  Returns 0, or EINVAL if 'hz' is 0, or 'depth_bytes' or
 * 'min_bytes' exceeds GW_TBF_DEPTH_MAX, or the rate is so low that not one
 * unit of 2^-32 byte arrives per tick. */
int gw_tbf_init(struct gw_tbf *, uint64_t rate_bps, uint32_t depth_bytes,
                uint32_t min_bytes, uint32_t overhead, uint64_t hz,
                uint64_t now);

/* Brings the bucket up to 'now' (a time before the last refill adds
 * nothing). */
static inline void
gw_tbf_refill(struct gw_tbf *tbf, uint64_t now)
{
    uint64_t elapsed;

    if (now <= tbf->last) {
        return;
    }
    elapsed = now - tbf->last;
    tbf->last = now;
    if (elapsed >= tbf->fill_ticks) {
        tbf->tokens = tbf->depth;
    } else {
        /* elapsed * per_tick < depth + per_tick: no overflow while depth
         * is below 2^62 (GW_TBF_DEPTH_MAX is 2^30 bytes). */
        uint64_t tokens = tbf->tokens + elapsed * tbf->per_tick;

        tbf->tokens = tokens < tbf->depth ? tokens : tbf->depth;
    }
}

/* Whole bytes that may be sent now (overhead included), UINT64_MAX if
 * unlimited.  Call gw_tbf_refill() first. */
static inline uint64_t
gw_tbf_budget(const struct gw_tbf *tbf)
{
    return tbf->rate_bps ? tbf->tokens >> GW_TBF_FRAC_BITS : UINT64_MAX;
}

/* Takes the cost of 'bytes' bytes already sent (overhead included, as
 * gw_tbf_budget() counts).  Never below empty. */
static inline void
gw_tbf_take(struct gw_tbf *tbf, uint64_t bytes)
{
    uint64_t cost = bytes << GW_TBF_FRAC_BITS;

    if (!tbf->rate_bps) {
        return;
    }
    tbf->tokens = cost < tbf->tokens ? tbf->tokens - cost : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* gw-tbf.h */

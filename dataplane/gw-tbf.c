/*
 * cats-gw: the token bucket that limits a direction to its link rate.
 */

#include "gw-tbf.h"

#include <errno.h>
#include <string.h>

int
gw_tbf_init(struct gw_tbf *tbf, uint64_t rate_bps, uint32_t depth_bytes,
            uint32_t min_bytes, uint32_t overhead, uint64_t hz, uint64_t now)
{
    unsigned __int128 per_tick;

    if (!hz || depth_bytes > GW_TBF_DEPTH_MAX
        || min_bytes > GW_TBF_DEPTH_MAX) {
        return EINVAL;
    }
    if (depth_bytes < min_bytes) {
        depth_bytes = min_bytes;
    }

    memset(tbf, 0, sizeof *tbf);
    tbf->rate_bps = rate_bps;
    tbf->overhead = overhead;
    tbf->last = now;
    if (!rate_bps) {
        return 0;
    }

    /* (rate / 8) bytes per second, over 'hz' ticks, in 2^-32 units. */
    per_tick = ((unsigned __int128) rate_bps << GW_TBF_FRAC_BITS) / 8 / hz;
    if (!per_tick || per_tick > UINT32_MAX * (unsigned __int128) 65536) {
        return EINVAL;
    }
    tbf->per_tick = per_tick;
    tbf->depth = (uint64_t) depth_bytes << GW_TBF_FRAC_BITS;
    tbf->fill_ticks = (tbf->depth + tbf->per_tick - 1) / tbf->per_tick;
    tbf->tokens = tbf->depth;
    return 0;
}

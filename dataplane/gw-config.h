/*
 * cats-gw: a port's queueing configuration, its validation, and the
 * runtime state built from it.
 *
 * A port is the link to one peer.  Each of its 8 traffic classes has a
 * queue (in bytes), optionally an ECN marking law, and, if lossless, PFC
 * thresholds.  Traffic class n is 802.1Qbb priority n: a lossless class
 * sends and honors pauses for the priority of its own index.  Packets are
 * classified by their PCP (trust pcp) or DSCP (trust dscp); only the
 * trusted field's map is used and checked, and it must map every value to
 * exactly one class.
 *
 * Everything is checked at start-up by gw_config_validate(), which names
 * the first wrong field; the gw_config_build_*() functions then assume a
 * valid configuration.
 *
 * Headroom.  A lossless class must absorb what arrives after it decides to
 * pause: the queue above xoff ('queue_limit' - 'xoff') has to be at least
 *
 *     headroom = ceil(speed_bps * 2 * distance_m * 5 ns/m / 8) + 2 * max_frame
 *
 * bytes: the round trip of the link at line rate (light in fibre covers a
 * metre in about 5 ns; the pause travels to the peer while the peer's data
 * keeps coming back) plus one maximum frame that our port is sending when
 * the pause is due (the pause waits behind it) and one that the peer has
 * started when the pause arrives (it is finished, not cut).  At 100 Gb/s
 * that is 125,000 bytes per km of distance, plus 2 frames.  The MAC and
 * PHY response delays of 802.1Qbb's delay model (tens of ns to a few us)
 * are left out: they matter on short cables, where the margin between the
 * configured and the needed headroom should cover them.
 */

#ifndef GW_CONFIG_H
#define GW_CONFIG_H 1

#include <stdbool.h>
#include <stdint.h>

#include "gw-ecn.h"
#include "gw-pfc.h"
#include "gw-stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_N_PCPS 8
#define GW_N_DSCPS 64

/* Bounds checked by gw_config_validate(). */
#define GW_SPEED_BPS_MAX UINT64_C(1600000000000)    /* 1.6 Tb/s. */
#define GW_DISTANCE_M_MAX 20000000                   /* 20,000 km. */
#define GW_MAX_FRAME_MIN 64
#define GW_MAX_FRAME_MAX 16384

/* Fibre propagation delay used by the headroom formula. */
#define GW_FIBRE_NS_PER_M 5

enum gw_trust {
    GW_TRUST_PCP,               /* Classify by the VLAN tag's PCP. */
    GW_TRUST_DSCP               /* Classify by the IP header's DSCP. */
};

struct gw_class_config {
    uint32_t queue_limit;       /* Bytes. */

    bool ecn;                   /* Mark ECT packets (gw-ecn.h)? */
    uint32_t kmin;              /* Bytes. */
    uint32_t kmax;              /* Bytes. */
    uint32_t pmax_ppm;          /* Parts per million. */

    bool lossless;              /* PFC on this class's priority? */
    uint32_t xoff;              /* Bytes: pause the peer at or above. */
    uint32_t xon;               /* Bytes: resume it at or below. */

    uint8_t pcps;               /* Bit p: PCP p maps to this class. */
    uint64_t dscps;             /* Bit d: DSCP d maps to this class. */
};

struct gw_port_config {
    uint64_t speed_bps;         /* Link speed. */
    uint32_t distance_m;        /* Fibre to the peer that we pause. */
    uint32_t max_frame;         /* Largest frame on the link, bytes. */
    uint16_t pause_quanta;      /* Time in the pauses we send. */
    uint64_t pfc_watchdog_ns;   /* Pause-storm detection time. */
    uint64_t pfc_restore_ns;    /* Pause-storm restoration time. */
    enum gw_trust trust;
    struct gw_class_config classes[GW_N_CLASSES];
};

/* Which class each PCP and DSCP value goes to. */
struct gw_class_map {
    enum gw_trust trust;
    uint8_t pcp[GW_N_PCPS];
    uint8_t dscp[GW_N_DSCPS];
};

/* Fills 'cfg' with a valid configuration: 100 Gb/s, 100 m, 1522-byte
 * frames, pauses of 0xffff quanta, SONiC's watchdog times (200 ms each),
 * trust pcp with PCP n in class n and DSCP d in class d / 8 (class
 * selectors), every class lossy without ECN and 1 MiB deep. */
void gw_port_config_init(struct gw_port_config *cfg);

/* The headroom (bytes) that a lossless class needs on a link of
 * 'speed_bps' and 'distance_m' with frames up to 'max_frame' bytes: the
 * formula at the top of this file. */
uint64_t gw_config_headroom_needed(uint64_t speed_bps, uint32_t distance_m,
                                   uint32_t max_frame);

/* Checks 'cfg'.  Returns 0 if it is valid.  Otherwise returns EINVAL and
 * stores in '*errorp' a malloc'd one-line message, which the caller must
 * free, that names the first wrong field and its value, prefixed by
 * "ORIGIN: " when 'origin' is not NULL (a file name, "port 0", ...). */
int gw_config_validate(const struct gw_port_config *cfg, const char *origin,
                       char **errorp);

/* Builds the runtime state of a valid 'cfg' (gw_config_validate() returned
 * 0); each returns 0, or EINVAL if 'cfg' was not valid. */
int gw_config_build_ecn(const struct gw_port_config *cfg, int cls,
                        struct gw_ecn_params *ecn);
int gw_config_build_pfc(const struct gw_port_config *cfg,
                        const uint8_t src[6], struct gw_pfc_port *port);
void gw_config_build_class_map(const struct gw_port_config *cfg,
                               struct gw_class_map *map);

/* The class of a packet with PCP 'pcp' (0..7) or DSCP 'dscp' (0..63);
 * higher bits are ignored. */
static inline uint8_t
gw_class_map_pcp(const struct gw_class_map *map, uint8_t pcp)
{
    return map->pcp[pcp & (GW_N_PCPS - 1)];
}

static inline uint8_t
gw_class_map_dscp(const struct gw_class_map *map, uint8_t dscp)
{
    return map->dscp[dscp & (GW_N_DSCPS - 1)];
}

#ifdef __cplusplus
}
#endif

#endif /* gw-config.h */

/*
 * cats-gw: a port's queueing configuration, its validation, and the
 * runtime state built from it.
 */

#include "gw-config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S UINT64_C(1000000000)

void
gw_port_config_init(struct gw_port_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->speed_bps = UINT64_C(100000000000);
    cfg->distance_m = 100;
    cfg->max_frame = 1522;
    cfg->pause_quanta = GW_PFC_QUANTA_MAX;
    cfg->pfc_watchdog_ns = GW_PFC_WATCHDOG_NS_DEFAULT;
    cfg->pfc_restore_ns = GW_PFC_RESTORE_NS_DEFAULT;
    cfg->trust = GW_TRUST_PCP;
    for (int c = 0; c < GW_N_CLASSES; c++) {
        struct gw_class_config *cc = &cfg->classes[c];

        cc->queue_limit = 1024 * 1024;
        cc->pcps = 1u << c;
        cc->dscps = UINT64_C(0xff) << (8 * c);
    }
}

uint64_t
gw_config_headroom_needed(uint64_t speed_bps, uint32_t distance_m,
                          uint32_t max_frame)
{
    /* bytes = speed_bps * (2 * distance_m * 5 ns) / 8, rounded up. */
    unsigned __int128 bits_ns = (unsigned __int128) speed_bps
                                * (2 * (uint64_t) distance_m)
                                * GW_FIBRE_NS_PER_M;
    unsigned __int128 per_byte = (unsigned __int128) 8 * NS_PER_S;
    unsigned __int128 bytes = (bits_ns + per_byte - 1) / per_byte
                              + 2 * (uint64_t) max_frame;

    return bytes > UINT64_MAX ? UINT64_MAX : (uint64_t) bytes;
}

/* Stores in '*errorp' a malloc'd "ORIGIN: " + 'format' message and returns
 * EINVAL.  Aborts if memory runs out, as xmalloc() does: this only runs at
 * start-up. */
static int __attribute__((format(printf, 3, 4)))
config_error(char **errorp, const char *origin, const char *format, ...)
{
    char body[512];
    va_list args;
    size_t size;
    char *msg;

    va_start(args, format);
    vsnprintf(body, sizeof body, format, args);
    va_end(args);

    size = (origin ? strlen(origin) + 2 : 0) + strlen(body) + 1;
    msg = malloc(size);
    if (!msg) {
        abort();
    }
    snprintf(msg, size, "%s%s%s", origin ? origin : "", origin ? ": " : "",
             body);
    *errorp = msg;
    return EINVAL;
}

static int
validate_class(const struct gw_port_config *cfg, int c, const char *origin,
               char **errorp)
{
    const struct gw_class_config *cc = &cfg->classes[c];

    if (cc->queue_limit < cfg->max_frame) {
        return config_error(errorp, origin, "class %d: queue_limit (%"PRIu32
                            ") is below max_frame (%"PRIu32"): the queue "
                            "cannot hold one frame", c, cc->queue_limit,
                            cfg->max_frame);
    }

    if (cc->ecn) {
        if (cc->kmin > cc->kmax) {
            return config_error(errorp, origin, "class %d: kmin (%"PRIu32
                                ") is above kmax (%"PRIu32")", c, cc->kmin,
                                cc->kmax);
        }
        if (cc->kmax > cc->queue_limit) {
            return config_error(errorp, origin, "class %d: kmax (%"PRIu32
                                ") is past queue_limit (%"PRIu32")", c,
                                cc->kmax, cc->queue_limit);
        }
        if (cc->pmax_ppm > GW_ECN_PPM_ONE) {
            return config_error(errorp, origin, "class %d: pmax_ppm (%"PRIu32
                                ") is above %d (probability 1)", c,
                                cc->pmax_ppm, GW_ECN_PPM_ONE);
        }
    } else if (cc->kmin || cc->kmax || cc->pmax_ppm) {
        return config_error(errorp, origin, "class %d: kmin, kmax or "
                            "pmax_ppm is set but ecn is off", c);
    }

    if (cc->lossless) {
        uint64_t needed, headroom;

        if (cc->xon >= cc->xoff) {
            return config_error(errorp, origin, "class %d: xon (%"PRIu32
                                ") must be below xoff (%"PRIu32")", c,
                                cc->xon, cc->xoff);
        }
        if (cc->xoff > cc->queue_limit) {
            return config_error(errorp, origin, "class %d: xoff (%"PRIu32
                                ") is past queue_limit (%"PRIu32")", c,
                                cc->xoff, cc->queue_limit);
        }
        needed = gw_config_headroom_needed(cfg->speed_bps, cfg->distance_m,
                                           cfg->max_frame);
        headroom = cc->queue_limit - cc->xoff;
        if (headroom < needed) {
            return config_error(errorp, origin, "class %d: headroom "
                                "(queue_limit - xoff = %"PRIu64" bytes) is "
                                "below the %"PRIu64" bytes needed for "
                                "distance_m %"PRIu32" at speed_bps %"PRIu64
                                " (2 x distance x 5 ns/m x speed / 8 + 2 x "
                                "max_frame)", c, headroom, needed,
                                cfg->distance_m, cfg->speed_bps);
        }
        if (cc->ecn && cc->kmax > cc->xoff) {
            return config_error(errorp, origin, "class %d: kmax (%"PRIu32
                                ") is past xoff (%"PRIu32"): ECN marking "
                                "must reach Pmax before PFC pauses", c,
                                cc->kmax, cc->xoff);
        }
    } else if (cc->xoff || cc->xon) {
        return config_error(errorp, origin, "class %d: xoff or xon is set "
                            "but the class is not lossless", c);
    }
    return 0;
}

/* Checks the trusted field's map: every value in exactly one class, and in
 * trust pcp, a lossless class carries exactly its own priority. */
static int
validate_map(const struct gw_port_config *cfg, const char *origin,
             char **errorp)
{
    bool pcp = cfg->trust == GW_TRUST_PCP;
    const char *field = pcp ? "pcp" : "dscp";
    int n_values = pcp ? GW_N_PCPS : GW_N_DSCPS;
    int owner[GW_N_DSCPS];

    for (int v = 0; v < n_values; v++) {
        owner[v] = -1;
        for (int c = 0; c < GW_N_CLASSES; c++) {
            const struct gw_class_config *cc = &cfg->classes[c];
            bool in = pcp ? (cc->pcps >> v) & 1 : (cc->dscps >> v) & 1;

            if (!in) {
                continue;
            }
            if (owner[v] >= 0) {
                return config_error(errorp, origin, "%s %d is mapped to "
                                    "both class %d and class %d", field, v,
                                    owner[v], c);
            }
            owner[v] = c;
        }
        if (owner[v] < 0) {
            return config_error(errorp, origin, "%s %d is not mapped to any "
                                "class", field, v);
        }
    }

    if (pcp) {
        for (int c = 0; c < GW_N_CLASSES; c++) {
            const struct gw_class_config *cc = &cfg->classes[c];

            if (!cc->lossless) {
                continue;
            }
            if (owner[c] != c) {
                return config_error(errorp, origin, "class %d is lossless "
                                    "but pcp %d is mapped to class %d "
                                    "(802.1Qbb pauses by priority: class "
                                    "%d pauses pcp %d)", c, c, owner[c], c,
                                    c);
            }
            for (int v = 0; v < GW_N_PCPS; v++) {
                if (v != c && owner[v] == c) {
                    return config_error(errorp, origin, "class %d is "
                                        "lossless, so it can carry only "
                                        "pcp %d (802.1Qbb pauses by "
                                        "priority), not pcp %d", c, c, v);
                }
            }
        }
    }
    return 0;
}

int
gw_config_validate(const struct gw_port_config *cfg, const char *origin,
                   char **errorp)
{
    int error;

    *errorp = NULL;
    if (!cfg->speed_bps || cfg->speed_bps > GW_SPEED_BPS_MAX) {
        return config_error(errorp, origin, "speed_bps (%"PRIu64") must be "
                            "between 1 and %"PRIu64, cfg->speed_bps,
                            GW_SPEED_BPS_MAX);
    }
    if (cfg->distance_m > GW_DISTANCE_M_MAX) {
        return config_error(errorp, origin, "distance_m (%"PRIu32") is more "
                            "than %d", cfg->distance_m, GW_DISTANCE_M_MAX);
    }
    if (cfg->max_frame < GW_MAX_FRAME_MIN
        || cfg->max_frame > GW_MAX_FRAME_MAX) {
        return config_error(errorp, origin, "max_frame (%"PRIu32") must be "
                            "between %d and %d", cfg->max_frame,
                            GW_MAX_FRAME_MIN, GW_MAX_FRAME_MAX);
    }
    if (cfg->trust != GW_TRUST_PCP && cfg->trust != GW_TRUST_DSCP) {
        return config_error(errorp, origin, "trust (%d) must be pcp or dscp",
                            (int) cfg->trust);
    }

    if (!cfg->pause_quanta) {
        return config_error(errorp, origin, "pause_quanta must not be 0");
    }
    if (!cfg->pfc_watchdog_ns) {
        return config_error(errorp, origin, "pfc_watchdog_ns must not be 0");
    }
    if (!cfg->pfc_restore_ns) {
        return config_error(errorp, origin, "pfc_restore_ns must not be 0");
    }

    for (int c = 0; c < GW_N_CLASSES; c++) {
        error = validate_class(cfg, c, origin, errorp);
        if (error) {
            return error;
        }
    }
    return validate_map(cfg, origin, errorp);
}

int
gw_config_build_ecn(const struct gw_port_config *cfg, int cls,
                    struct gw_ecn_params *ecn)
{
    const struct gw_class_config *cc;
    int error;

    if (cls < 0 || cls >= GW_N_CLASSES) {
        return EINVAL;
    }
    cc = &cfg->classes[cls];
    error = (cc->ecn
             ? gw_ecn_params_init(ecn, cc->kmin, cc->kmax, cc->pmax_ppm,
                                  cc->queue_limit)
             : gw_ecn_params_init_no_ecn(ecn, cc->queue_limit));
    if (!error && cc->lossless) {
        ecn->drop_reason = GW_DROP_HEADROOM;
    }
    return error;
}

int
gw_config_build_pfc(const struct gw_port_config *cfg, const uint8_t src[6],
                    struct gw_pfc_port *port)
{
    int error = gw_pfc_port_init(port, cfg->speed_bps, cfg->pause_quanta,
                                 cfg->pfc_watchdog_ns, cfg->pfc_restore_ns,
                                 src);

    for (int c = 0; !error && c < GW_N_CLASSES; c++) {
        const struct gw_class_config *cc = &cfg->classes[c];

        if (cc->lossless) {
            error = gw_pfc_class_enable(port, c, cc->xoff, cc->xon);
        }
    }
    return error;
}

void
gw_config_build_class_map(const struct gw_port_config *cfg,
                          struct gw_class_map *map)
{
    memset(map, 0, sizeof *map);
    map->trust = cfg->trust;
    for (int c = 0; c < GW_N_CLASSES; c++) {
        const struct gw_class_config *cc = &cfg->classes[c];

        for (int v = 0; v < GW_N_PCPS; v++) {
            if ((cc->pcps >> v) & 1) {
                map->pcp[v] = c;
            }
        }
        for (int v = 0; v < GW_N_DSCPS; v++) {
            if ((cc->dscps >> v) & 1) {
                map->dscp[v] = c;
            }
        }
    }
}

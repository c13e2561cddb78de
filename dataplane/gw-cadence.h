/*
 * cats-gw: when the push sends a report to the controller (gw-push.c), as
 * a function of time and the ports' pause-storm states only: the module
 * reads no clock, so tests drive it exactly.
 *
 * A report goes out every interval (the controller's), and out of
 * cadence as soon as some port's storm classes differ from those in the
 * last report that went out: a storm's start and its end reach the
 * controller at once, not up to an interval late.
 *
 *                 storm classes differ from the last sent,
 *                 GW_CADENCE_EVENT_GAP_MS since the last such report
 *        +------+ ----------------------------------------> STORM report
 *        | wait |
 *        +------+ ----------------------------------------> INTERVAL report
 *                 'next_report' reached
 *
 * Bounded: at most one out-of-cadence report per GW_CADENCE_EVENT_GAP_MS,
 * carrying the states of that moment (a storm that starts and ends within
 * the gap is seen only in the ports' storm counters).  A report that the
 * stream did not take (one still on the wire) leaves the change pending,
 * to be tried again a millisecond later.
 *
 * The caller looks at the ports every gw_cadence_wait() ms: every
 * GW_CADENCE_WATCH_MS while some class is held or in a storm, otherwise
 * every 'idle_ms', which the caller keeps below its shortest watchdog
 * time, so that a hold cannot become a storm unseen for long.
 */

#ifndef GW_CADENCE_H
#define GW_CADENCE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw-conf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_CADENCE_EVENT_GAP_MS 10
#define GW_CADENCE_WATCH_MS 5

enum gw_cadence_due {
    GW_CADENCE_NONE,
    GW_CADENCE_INTERVAL,        /* The interval's report. */
    GW_CADENCE_STORM,           /* Out of cadence: a storm state changed. */
};

struct gw_cadence {
    size_t n_ports;
    unsigned int idle_ms;
    long long next_report;      /* The interval's next report. */
    long long next_event;       /* No out-of-cadence report before. */
    uint8_t sent[GW_MAX_PORTS]; /* Storm classes per port, as last sent. */
};

/* Initializes 'c' for 'n_ports' ports (at most GW_MAX_PORTS) with none in
 * a storm, looking every 'idle_ms' (at least 1) while nothing is held;
 * the first report is due at once. */
void gw_cadence_init(struct gw_cadence *c, size_t n_ports,
                     unsigned int idle_ms);

/* A new stream: a report is due at 'now'. */
void gw_cadence_restart(struct gw_cadence *c, long long now);

/* Which report is due at 'now', given each port's storm classes
 * 'storm[n_ports]'. */
enum gw_cadence_due gw_cadence_due(const struct gw_cadence *c, long long now,
                                   const uint8_t storm[]);

/* Records that the report 'due' (from gw_cadence_due() at 'now', built from
 * 'storm[]') was posted, and whether the stream took it ('taken').  The
 * next interval report is due 'interval_ms' later either way, as a report
 * that the stream skips is not queued; an out-of-cadence report that was
 * not taken stays due. */
void gw_cadence_sent(struct gw_cadence *c, enum gw_cadence_due due,
                     long long now, unsigned int interval_ms,
                     const uint8_t storm[], bool taken);

/* How long the caller may wait from 'now' before looking again (at least
 * 1 ms), 'watch' being true while some class is held or in a storm. */
long long gw_cadence_wait(const struct gw_cadence *c, long long now,
                          bool watch, const uint8_t storm[]);

#ifdef __cplusplus
}
#endif

#endif /* gw-cadence.h */

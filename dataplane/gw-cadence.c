/*
 * cats-gw: when the push sends a report (see gw-cadence.h).
 */

#include "gw-cadence.h"

#include <limits.h>
#include <string.h>

static bool
changed(const struct gw_cadence *c, const uint8_t storm[])
{
    return memcmp(c->sent, storm, c->n_ports) != 0;
}

void
gw_cadence_init(struct gw_cadence *c, size_t n_ports, unsigned int idle_ms)
{
    memset(c, 0, sizeof *c);
    c->n_ports = n_ports < GW_MAX_PORTS ? n_ports : GW_MAX_PORTS;
    c->idle_ms = idle_ms ? idle_ms : 1;
    c->next_report = LLONG_MIN;
    c->next_event = LLONG_MIN;
}

void
gw_cadence_restart(struct gw_cadence *c, long long now)
{
    c->next_report = now;
}

enum gw_cadence_due
gw_cadence_due(const struct gw_cadence *c, long long now,
               const uint8_t storm[])
{
    if (now >= c->next_event && changed(c, storm)) {
        return GW_CADENCE_STORM;
    }
    return now >= c->next_report ? GW_CADENCE_INTERVAL : GW_CADENCE_NONE;
}

void
gw_cadence_sent(struct gw_cadence *c, enum gw_cadence_due due, long long now,
                unsigned int interval_ms, const uint8_t storm[], bool taken)
{
    if (taken) {
        memcpy(c->sent, storm, c->n_ports);
        if (due == GW_CADENCE_STORM) {
            c->next_event = now + GW_CADENCE_EVENT_GAP_MS;
        }
    }
    if (now >= c->next_report && (taken || due == GW_CADENCE_INTERVAL)) {
        c->next_report = now + interval_ms;
    }
}

long long
gw_cadence_wait(const struct gw_cadence *c, long long now, bool watch,
                const uint8_t storm[])
{
    long long wait = watch && c->idle_ms > GW_CADENCE_WATCH_MS
                     ? GW_CADENCE_WATCH_MS : c->idle_ms;
    bool pending = changed(c, storm);

    if (c->next_report <= now || (pending && c->next_event <= now)) {
        return 1;
    }
    if (c->next_report - now < wait) {
        wait = c->next_report - now;
    }
    if (pending && c->next_event - now < wait) {
        wait = c->next_event - now;
    }
    return wait;
}

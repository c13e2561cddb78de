/*
 * cats-gw: pushes the gateway's paths to cats-controller as telemetry
 * (proto/cats.proto: cats.v1.Telemetry/StreamTelemetry, a stream of
 * TelemetryReport answered by TelemetryAck), over the gRPC core C API.
 *
 * One control thread of its own (never a forwarding lcore) owns the
 * channel, the completion queue and the call.  Every interval it reads
 * the counters that the forwarding lcores publish (gw_port_read(), no
 * lock) and sends one report: one LinkTelemetry of kind PATH per
 * direction, "IN:OUT" by port name, with
 *
 *   tx_packets, tx_bytes     sent out of OUT
 *   ecn_marked_packets       marked in the direction's queues
 *   drops                    dropped there, every reason
 *   queue_depth_bytes        in its class queues now
 *   rtt_us                   the base round trip the gateway adds (both
 *                            directions' delays)
 *   pfc[]                    per lossless priority: pauses OUT's peer
 *                            sent us (rx, they held this direction) and
 *                            pauses we sent IN's sender (tx, this
 *                            direction's queue filled), paused times, and
 *                            how long OUT's peer has held us without a
 *                            break, and storm, set while that is a
 *                            pause storm by our watchdog (we drop the
 *                            class toward OUT)
 *   speed_bps                the rate limit, else OUT's speed
 *
 * counters_epoch is the gateway's start time (ns since the Unix epoch),
 * and seq grows by one per report over the whole run, across streams.
 *
 * When a port's storm classes change (a storm starts or ends), a report
 * goes out at once, out of cadence (gw-cadence.h: at most one per 10 ms,
 * counted in storm_reports), so that the controller evicts the path
 * within the watchdog time plus a round trip, not an interval later.
 *
 * The stream is libcatsclient's (include/cats/client.h: its state
 * machine, its backoff, its ack timeout), with no registration; a report
 * due while the previous one is still on the wire is skipped (counted),
 * not queued (a storm's report is tried again a millisecond later).
 *
 * The controller's acks may ask for another interval (kept between 100
 * ms and 60 s).  A report the controller refuses is counted and logged,
 * and the stream goes on.
 */

#ifndef GW_PUSH_H
#define GW_PUSH_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_push_config {
    const char *target;         /* "HOST:PORT" or "unix:PATH". */
    const char *source_id;      /* 1 to 64 of [A-Za-z0-9._:-]. */
    unsigned int interval_ms;   /* Until the controller says otherwise. */
};

/* Starts the push thread.  Returns 0 or a positive errno value. */
int gw_push_start(const struct gw_push_config *);

/* Ends the stream and joins the thread.  A no-op if not started. */
void gw_push_stop(void);

struct gw_push_status {
    char target[128];
    char source_id[65];
    const char *state;          /* "streaming", "backoff". */
    uint64_t epoch;
    unsigned int interval_ms;
    uint64_t reports_sent;
    uint64_t reports_skipped;   /* Previous report still being sent. */
    uint64_t storm_reports;     /* Sent out of cadence: storm changes. */
    uint64_t acks;
    uint64_t last_sent_seq;
    uint64_t last_ack_seq;
    uint64_t refused;           /* Acks carrying an error. */
    uint64_t streams;           /* Streams started. */
    char last_error[256];
};

/* Copies the push's status.  Returns false if no push runs. */
bool gw_push_get_status(struct gw_push_status *);

#endif /* gw-push.h */

/*
 * The agent API's plain-C vocabulary (proto/cats.proto): id rule,
 * telemetry report, gRPC status names.
 *
 * Header-only and free of libopenvswitch and of gRPC, so that libcats
 * (the server's decoders, include/cats/report.h, which includes this
 * file), libcatsnma, libcatsclient (include/cats/client.h) and cats-gw,
 * which links no libopenvswitch, all use the same definitions.
 */

#ifndef CATS_WIRE_H
#define CATS_WIRE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Longest node id, telemetry source id or link id. */
#define CATS_ID_MAX 64

/* Node, source and link ids: 1 to CATS_ID_MAX of [A-Za-z0-9._:-]. */
static inline bool
cats_id_char(unsigned char c)
{
    return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '.' || c == '_' || c == ':' || c == '-');
}

static inline bool
cats_id_valid(const char *s)
{
    size_t len = strlen(s);

    if (!len || len > CATS_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!cats_id_char(s[i])) {
            return false;
        }
    }
    return true;
}

/* gRPC status codes 0 to 16 (grpc_status_code in grpc/status.h and
 * google.rpc.Code, fixed by the gRPC specification), by name; any other
 * value is "UNKNOWN". */
#define CATS_GRPC_N_CODES 17

static inline const char *
cats_grpc_status_name(unsigned int code)
{
    static const char *const names[CATS_GRPC_N_CODES] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
        "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
        "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };
    return code < CATS_GRPC_N_CODES ? names[code] : "UNKNOWN";
}

/* TelemetryReport. */

/* PFC priorities per link (IEEE 802.1p). */
#define CATS_PFC_PRIORITIES 8

enum cats_link_kind {
    CATS_LINK_KIND_LINK,
    CATS_LINK_KIND_PATH,
};

struct cats_report_pfc {
    uint8_t priority;           /* 0 to 7. */
    uint64_t rx_pause_frames;   /* Cumulative. */
    uint64_t tx_pause_frames;
    uint64_t rx_pause_us;
    uint64_t tx_pause_us;
    uint64_t paused_for_us;     /* Gauge: current continuous pause. */
    bool storm;                 /* The source's watchdog: a storm. */
};

struct cats_report_link {
    char id[CATS_ID_MAX + 1];
    enum cats_link_kind kind;
    uint64_t tx_packets;        /* Cumulative counters. */
    uint64_t tx_bytes;
    uint64_t ecn_marked_packets;
    uint64_t drops;
    bool has_queue_depth;
    uint64_t queue_depth_bytes;
    bool has_rtt;
    double rtt_us;              /* 0 to 1e7. */
    uint64_t speed_bps;
    size_t n_pfc;
    struct cats_report_pfc pfc[CATS_PFC_PRIORITIES];
};

struct cats_report_telemetry {
    char source_id[CATS_ID_MAX + 1];
    uint64_t seq;
    uint64_t counters_epoch;
    size_t n_links;             /* Links of unknown kind are left out. */
    struct cats_report_link *links;
};

#endif /* cats/wire.h */

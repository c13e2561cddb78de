/*
 * cats-gw: the gateway's configuration, as statements.
 *
 * The same statements come from a file (--config=FILE, one per line, '#'
 * starts a comment) or from the command line (--port=..., --class=...,
 * --pair=..., the statement without its keyword).  Fields are separated by
 * blanks or commas, so that a statement fits in one shell word:
 *
 *   port N [name=NAME] [speed=RATE] [distance=LENGTH] [max_frame=BYTES]
 *          [quanta=N] [watchdog=TIME] [restore=TIME] [trust=pcp|dscp]
 *   class N:C [queue=BYTES] [packets=N] [ecn=KMIN:KMAX:PMAX|off]
 *             [lossless=XOFF:XON|off] [pcp=LIST|none] [dscp=LIST|none]
 *   pair A:B [delay=TIME|LENGTH] [rate=RATE] [burst=BYTES] [overhead=BYTES]
 *            [line=N]
 *
 *   RATE    bits/s with an optional k, M, G or T (x 1000): 10G, 2.5G
 *   BYTES   bytes with an optional K, M or G (x 1024): 1522, 300K, 1M
 *   LENGTH  fibre: 100m, 80km (delay= takes 5 us per km)
 *   TIME    ns, us, ms or s: 200ms, 50us
 *   PMAX    probability at KMAX: 1%, 0.5%, 10000ppm
 *   LIST    values and ranges joined by '+': 3, 0+1+2, 24-31+46
 *
 * 'port N' is the DPDK port id.  A port's queues hold what its peer sends
 * us: its 'class' statements and its PFC settings (speed, distance: the
 * fibre to that peer, for the headroom check; quanta, watchdog, restore)
 * govern traffic that enters on it and the pauses we send out of it.
 * Defaults are gw-config.h's (100 Gb/s, 100 m, trust pcp, PCP n and DSCP
 * 8n..8n+7 in class n, every class lossy, unmarked, 1 MiB and 4096
 * packets deep).  Setting a class's pcp= or dscp= replaces that class's
 * list only: a value that another class still has is a conflict, which
 * is refused (give the other class 'none' or its new list).
 *
 * A pair forwards A to B and B to A, each direction with its own delay
 * line, rate limit (0 or absent: none) and class queues.  Without any
 * 'pair' statement, ports are paired in order: 0:1, 2:3, ...  'line' is the
 * delay line's size in packets; when it is full, packets wait in their
 * class queues (where ECN and PFC see them) instead of being dropped.
 *
 * Everything is checked before anything starts: gw_conf_parse() per
 * statement (syntax, ranges), gw_conf_finish() for the whole (ports that
 * exist, pairing, then gw_config_validate() for each port: threshold
 * order, headroom, class map conflicts).  Errors are one line that names
 * the place and the field, and the caller frees them.
 *
 * No DPDK: the gateway, the unit tests and a fuzz target share it.
 */

#ifndef GW_CONF_H
#define GW_CONF_H 1

#include <stdbool.h>
#include <stdint.h>

#include "gw-config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GW_MAX_PORTS 32             /* DPDK's RTE_MAX_ETHPORTS here. */
#define GW_MAX_PAIRS (GW_MAX_PORTS / 2)
#define GW_PORT_NAME_MAX 31         /* [A-Za-z0-9._-], telemetry ids. */

#define GW_QUEUE_PACKETS_DEFAULT 4096
#define GW_LINE_PACKETS_DEFAULT 16384
#define GW_DELAY_NS_MAX (UINT64_C(10) * 1000000000)     /* 10 s. */

struct gw_conf_port {
    bool mentioned;             /* By a 'port', 'class' or 'pair'. */
    char name[GW_PORT_NAME_MAX + 1];    /* Default "pN". */
    struct gw_port_config cfg;
    uint32_t queue_packets[GW_N_CLASSES];
};

struct gw_conf_pair {
    uint16_t a, b;              /* Port ids. */
    uint64_t delay_ns;          /* One way, each direction. */
    uint64_t rate_bps;          /* 0: no limit. */
    uint32_t burst_bytes;       /* Token bucket depth; 0: automatic. */
    uint32_t overhead;          /* Bytes per frame for the rate. */
    uint32_t line_packets;      /* Delay line size. */
};

struct gw_conf {
    uint16_t n_ports;           /* Ports in use: 0..n_ports - 1. */
    struct gw_conf_port ports[GW_MAX_PORTS];
    uint16_t n_pairs;
    struct gw_conf_pair pairs[GW_MAX_PAIRS];
};

void gw_conf_init(struct gw_conf *);

/* Applies one statement, 'line' (a 'port', 'class' or 'pair' statement,
 * or blank, or a comment).  'origin' ("gw.conf:3", "--class", ...)
 * prefixes error messages.  Returns 0, or EINVAL with a malloc'd message
 * in '*errorp'; 'conf' is then unchanged. */
int gw_conf_parse(struct gw_conf *, const char *line, const char *origin,
                  char **errorp);

/* Reads statements from 'path', all or nothing.  Returns 0, or a positive
 * errno value with a malloc'd message in '*errorp' ('conf' is then
 * unchanged). */
int gw_conf_read_file(struct gw_conf *, const char *path, char **errorp);

/* Completes and checks 'conf' for a machine with 'n_ports' ports (DPDK's
 * count): every port is used, pairs by default, and every port's
 * configuration is valid.  Returns 0 or EINVAL with a malloc'd message in
 * '*errorp'. */
int gw_conf_finish(struct gw_conf *, unsigned int n_ports, char **errorp);

/* The pair that 'port' belongs to and which end it is (0: a, 1: b), after
 * gw_conf_finish(); NULL if none. */
const struct gw_conf_pair *gw_conf_pair_of(const struct gw_conf *,
                                           uint16_t port, int *end);

/* Parsers for the units above, exposed for the command line's own
 * options.  Each returns true and stores the value, or returns false. */
bool gw_conf_parse_rate(const char *, uint64_t *bps);
bool gw_conf_parse_bytes(const char *, uint64_t *bytes);
bool gw_conf_parse_time(const char *, uint64_t *ns);

#ifdef __cplusplus
}
#endif

#endif /* gw-conf.h */

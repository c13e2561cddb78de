/*
 * cats-gw: counters through DPDK's telemetry library.
 *
 *   /cats_gw/ports         every port: name, peer, MAC, lcore, the
 *                          direction that enters on it (delay, rate), its
 *                          lossless and marking classes
 *   /cats_gw/stats         every port, totals over its classes
 *   /cats_gw/stats,PORT    one port: counters, then "class0".."class7"
 *                          (packets, bytes, ecn_marked, drops by reason,
 *                          pauses sent and received, paused time, queue
 *                          depth and high-water mark, watchdog)
 *   /cats_gw/info          TSC rate, uptime, counters epoch, lcores
 *   /cats_gw/push          the push to the controller, if any
 *
 * Read them with `dpdk-telemetry.py -f FILE_PREFIX`.  The callbacks run on
 * DPDK's telemetry thread and read only the snapshots that the forwarding
 * lcores publish (gw-fwd.h), never their live state.
 *
 * Dictionary keys must be [A-Za-z0-9_/] (DPDK checks), so ports are keyed
 * by id, with the name as a value.
 */

#include "gw-tel.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "gw-fwd.h"
#include "gw-push.h"

static uint64_t
class_drops(const struct gw_class_stats *cs)
{
    return gw_class_stats_drops(cs);
}

static uint8_t
ecn_classes(const struct gw_dir *d)
{
    uint8_t mask = 0;

    for (int c = 0; c < GW_N_CLASSES; c++) {
        if (d->ecn[c].ecn) {
            mask |= 1u << c;
        }
    }
    return mask;
}

static int
port_param(const char *params, unsigned int *port)
{
    char *end;
    unsigned long v;

    if (!params || !*params) {
        return -1;
    }
    v = strtoul(params, &end, 10);
    if (*end || v >= gw.n_ports) {
        return -EINVAL;
    }
    *port = v;
    return 0;
}

static int
cmd_ports(const char *cmd __rte_unused, const char *params __rte_unused,
          struct rte_tel_data *d)
{
    rte_tel_data_start_dict(d);
    for (unsigned int p = 0; p < gw.n_ports; p++) {
        const struct gw_port *port = &gw.ports[p];
        const struct gw_dir *dir = port->in;
        const struct gw_conf_port *cp = &gw.conf->ports[p];
        struct rte_tel_data *c = rte_tel_data_alloc();
        char key[16], mac[RTE_ETHER_ADDR_FMT_SIZE];

        if (!c) {
            return -ENOMEM;
        }
        rte_ether_format_addr(mac, sizeof mac, &port->mac);
        rte_tel_data_start_dict(c);
        rte_tel_data_add_dict_string(c, "name", port->name);
        rte_tel_data_add_dict_int(c, "peer", port->peer->id);
        rte_tel_data_add_dict_string(c, "peer_name", port->peer->name);
        rte_tel_data_add_dict_string(c, "mac", mac);
        rte_tel_data_add_dict_int(c, "lcore", port->lcore);
        rte_tel_data_add_dict_string(c, "trust",
                                     cp->cfg.trust == GW_TRUST_DSCP
                                     ? "dscp" : "pcp");
        rte_tel_data_add_dict_u64(c, "speed_bps", cp->cfg.speed_bps);
        rte_tel_data_add_dict_int(c, "lossless_classes", port->lossless);
        rte_tel_data_add_dict_int(c, "ecn_classes", ecn_classes(dir));
        rte_tel_data_add_dict_u64(c, "delay_ns_to_peer", dir->delay_ns);
        rte_tel_data_add_dict_u64(c, "rate_bps_to_peer", dir->tbf.rate_bps);
        snprintf(key, sizeof key, "%u", p);
        rte_tel_data_add_dict_container(d, key, c, 0);
    }
    return 0;
}

static void
add_class(struct rte_tel_data *d, const struct gw_port *port, int c,
          const struct gw_port_snap *snap)
{
    const struct gw_class_stats *cs = &snap->stats.classes[c];
    struct rte_tel_data *t = rte_tel_data_alloc();
    char key[16];

    if (!t) {
        return;
    }
    rte_tel_data_start_dict(t);
    rte_tel_data_add_dict_int(t, "lossless", (port->lossless >> c) & 1);
    rte_tel_data_add_dict_int(t, "ecn", port->in->ecn[c].ecn);
    rte_tel_data_add_dict_u64(t, "packets", cs->packets);
    rte_tel_data_add_dict_u64(t, "bytes", cs->bytes);
    rte_tel_data_add_dict_u64(t, "ecn_marked", cs->ecn_marked);
    rte_tel_data_add_dict_u64(t, "drops", class_drops(cs));
    for (int r = 0; r < GW_N_DROP_REASONS; r++) {
        char name[48];

        snprintf(name, sizeof name, "drop_%s", gw_drop_reason_name(r));
        rte_tel_data_add_dict_u64(t, name, cs->drops[r]);
    }
    rte_tel_data_add_dict_u64(t, "pause_tx", cs->pause_tx);
    rte_tel_data_add_dict_u64(t, "xon_tx", cs->xon_tx);
    rte_tel_data_add_dict_u64(t, "pause_rx", cs->pause_rx);
    rte_tel_data_add_dict_u64(t, "xon_rx", cs->xon_rx);
    rte_tel_data_add_dict_u64(t, "tx_paused_us", cs->tx_paused_ns / 1000);
    rte_tel_data_add_dict_u64(t, "rx_paused_us", cs->rx_paused_ns / 1000);
    rte_tel_data_add_dict_u64(t, "paused_for_us",
                              snap->paused_for_ns[c] / 1000);
    rte_tel_data_add_dict_u64(t, "storms", cs->storms);
    rte_tel_data_add_dict_u64(t, "storm_restores", cs->storm_restores);
    rte_tel_data_add_dict_int(t, "storm", cs->storm);
    rte_tel_data_add_dict_u64(t, "depth", cs->depth);
    rte_tel_data_add_dict_u64(t, "depth_max", cs->depth_max);
    snprintf(key, sizeof key, "class%d", c);
    rte_tel_data_add_dict_container(d, key, t, 0);
}

static void
add_totals(struct rte_tel_data *d, const struct gw_port_snap *snap)
{
    uint64_t marked = 0, drops = 0, pause_tx = 0, pause_rx = 0, depth = 0;

    for (int c = 0; c < GW_N_CLASSES; c++) {
        const struct gw_class_stats *cs = &snap->stats.classes[c];

        marked += cs->ecn_marked;
        drops += class_drops(cs);
        pause_tx += cs->pause_tx;
        pause_rx += cs->pause_rx;
        depth += cs->depth;
    }
    rte_tel_data_add_dict_u64(d, "rx_packets", snap->cnt.rx_packets);
    rte_tel_data_add_dict_u64(d, "rx_bytes", snap->cnt.rx_bytes);
    rte_tel_data_add_dict_u64(d, "tx_packets", snap->cnt.tx_packets);
    rte_tel_data_add_dict_u64(d, "tx_bytes", snap->cnt.tx_bytes);
    rte_tel_data_add_dict_u64(d, "ecn_marked", marked);
    rte_tel_data_add_dict_u64(d, "drops", drops);
    rte_tel_data_add_dict_u64(d, "pause_tx", pause_tx);
    rte_tel_data_add_dict_u64(d, "pause_rx", pause_rx);
    rte_tel_data_add_dict_u64(d, "queue_bytes", depth);
    rte_tel_data_add_dict_u64(d, "line_packets", snap->cnt.line_packets);
}

static int
cmd_stats(const char *cmd __rte_unused, const char *params,
          struct rte_tel_data *d)
{
    struct gw_port_snap snap;
    struct rte_eth_stats es;
    unsigned int p;
    int error;

    error = port_param(params, &p);
    if (error == -1) {
        /* Every port, totals only. */
        rte_tel_data_start_dict(d);
        for (p = 0; p < gw.n_ports; p++) {
            struct rte_tel_data *c = rte_tel_data_alloc();
            char key[16];

            if (!c) {
                return -ENOMEM;
            }
            gw_port_read(p, &snap);
            rte_tel_data_start_dict(c);
            rte_tel_data_add_dict_string(c, "name", gw.ports[p].name);
            add_totals(c, &snap);
            snprintf(key, sizeof key, "%u", p);
            rte_tel_data_add_dict_container(d, key, c, 0);
        }
        return 0;
    } else if (error) {
        return error;
    }

    gw_port_read(p, &snap);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_string(d, "name", gw.ports[p].name);
    rte_tel_data_add_dict_u64(d, "uptime_ms", snap.now_ns / 1000000);
    add_totals(d, &snap);
    rte_tel_data_add_dict_u64(d, "line_bytes", snap.cnt.line_bytes);
    rte_tel_data_add_dict_u64(d, "mac_control_rx", snap.cnt.mac_control_rx);
    rte_tel_data_add_dict_u64(d, "pfc_frames_tx", snap.cnt.pfc_frames_tx);
    rte_tel_data_add_dict_u64(d, "pfc_tx_refused",
                              snap.cnt.pfc_tx_refused);
    rte_tel_data_add_dict_u64(d, "pfc_rx_ignored",
                              snap.stats.pfc_rx_ignored);
    for (int e = 1; e < GW_QBB_N_ERRORS; e++) {
        char name[64];

        snprintf(name, sizeof name, "pfc_rx_invalid_%s",
                 gw_qbb_error_name(e));
        rte_tel_data_add_dict_u64(d, name, snap.stats.pfc_rx_invalid[e]);
    }
    rte_tel_data_add_dict_int(d, "held_classes", snap.held);
    /* The NIC's own drops: no buffer for a received frame (mempool
     * empty), or its ring was full. */
    if (!rte_eth_stats_get(p, &es)) {
        rte_tel_data_add_dict_u64(d, "rx_nombuf", es.rx_nombuf);
        rte_tel_data_add_dict_u64(d, "imissed", es.imissed);
    }
    for (int c = 0; c < GW_N_CLASSES; c++) {
        add_class(d, &gw.ports[p], c, &snap);
    }
    return 0;
}

static int
cmd_info(const char *cmd __rte_unused, const char *params __rte_unused,
         struct rte_tel_data *d)
{
    unsigned int lcores[RTE_MAX_LCORE];
    unsigned int n = 0;

    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "tsc_hz", gw.tsc_hz);
    rte_tel_data_add_dict_u64(d, "uptime_ms", gw_now_ns() / 1000000);
    rte_tel_data_add_dict_u64(d, "counters_epoch", gw.start_realtime_ns);
    rte_tel_data_add_dict_int(d, "ports", gw.n_ports);
    rte_tel_data_add_dict_int(d, "pairs", gw.conf->n_pairs);
    for (unsigned int p = 0; p < gw.n_ports; p++) {
        bool seen = false;

        for (unsigned int i = 0; i < n; i++) {
            seen = seen || lcores[i] == gw.ports[p].lcore;
        }
        if (!seen) {
            lcores[n++] = gw.ports[p].lcore;
        }
    }
    rte_tel_data_add_dict_int(d, "forwarding_lcores", n);
    rte_tel_data_add_dict_int(d, "idle_sleep_us", gw.idle_sleep_us);
    return 0;
}

static int
cmd_push(const char *cmd __rte_unused, const char *params __rte_unused,
         struct rte_tel_data *d)
{
    struct gw_push_status st;

    rte_tel_data_start_dict(d);
    if (!gw_push_get_status(&st)) {
        rte_tel_data_add_dict_string(d, "state", "off");
        return 0;
    }
    rte_tel_data_add_dict_string(d, "target", st.target);
    rte_tel_data_add_dict_string(d, "source_id", st.source_id);
    rte_tel_data_add_dict_string(d, "state", st.state);
    rte_tel_data_add_dict_u64(d, "counters_epoch", st.epoch);
    rte_tel_data_add_dict_u64(d, "interval_ms", st.interval_ms);
    rte_tel_data_add_dict_u64(d, "reports_sent", st.reports_sent);
    rte_tel_data_add_dict_u64(d, "reports_skipped", st.reports_skipped);
    rte_tel_data_add_dict_u64(d, "storm_reports", st.storm_reports);
    rte_tel_data_add_dict_u64(d, "acks", st.acks);
    rte_tel_data_add_dict_u64(d, "last_sent_seq", st.last_sent_seq);
    rte_tel_data_add_dict_u64(d, "last_ack_seq", st.last_ack_seq);
    rte_tel_data_add_dict_u64(d, "refused", st.refused);
    rte_tel_data_add_dict_u64(d, "streams", st.streams);
    rte_tel_data_add_dict_string(d, "last_error", st.last_error);
    return 0;
}

int
gw_tel_register(void)
{
    int error;

    error = rte_telemetry_register_cmd("/cats_gw/ports", cmd_ports,
                                       "cats-gw ports and their "
                                       "configuration. No parameters");
    if (!error) {
        error = rte_telemetry_register_cmd(
            "/cats_gw/stats", cmd_stats,
            "cats-gw counters: totals per port, or one port's per class. "
            "Parameter: port id (optional)");
    }
    if (!error) {
        error = rte_telemetry_register_cmd(
            "/cats_gw/info", cmd_info,
            "cats-gw: TSC rate, uptime, ports, lcores. No parameters");
    }
    if (!error) {
        error = rte_telemetry_register_cmd(
            "/cats_gw/push", cmd_push,
            "cats-gw telemetry push to the controller. No parameters");
    }
    return -error;
}

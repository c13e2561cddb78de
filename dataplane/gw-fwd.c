/*
 * cats-gw: the forwarding fast path (see gw-fwd.h for the picture).
 *
 * Per packet: one look at the first bytes (gw-pkt.h), the queue limit
 * check, the ECN law only when the class marks and its queue is past Kmin,
 * a ring store and two counter increments.  Per burst: the PFC check of
 * the lossless classes, the token bucket, the holds, the high-water marks.
 * Per millisecond: the PFC watchdog and paused-time accounting, and the
 * publication of the counters.  No division and no lock anywhere here.
 */

#include "gw-fwd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "gw-pkt.h"
#include "gw-qbb.h"

struct gw_state gw;
volatile bool gw_force_quit;

uint64_t
gw_now_ns(void)
{
    return gw_tsc_to_ns(rte_rdtsc());
}

static int __attribute__((format(printf, 2, 3)))
init_error(char **errorp, const char *format, ...)
{
    char *msg = malloc(512);
    va_list args;

    if (!msg) {
        abort();
    }
    va_start(args, format);
    vsnprintf(msg, 512, format, args);
    va_end(args);
    *errorp = msg;
    return EINVAL;
}

static uint64_t
ns_to_tsc(uint64_t ns)
{
    return (unsigned __int128) ns * gw.tsc_hz / 1000000000;
}

static int
dir_init(struct gw_dir *d, const struct gw_conf *conf, uint16_t in,
         uint16_t out, const struct gw_conf_pair *pair, uint32_t max_pkt,
         char **errorp)
{
    const struct gw_conf_port *cp = &conf->ports[in];
    uint32_t depth, min_bytes;
    int error;

    memset(d, 0, sizeof *d);
    d->in = &gw.ports[in];
    d->out = &gw.ports[out];
    gw_config_build_class_map(&cp->cfg, &d->map);
    for (int c = 0; c < GW_N_CLASSES; c++) {
        error = gw_config_build_ecn(&cp->cfg, c, &d->ecn[c]);
        if (!error) {
            error = gw_queue_init(&d->q[c], cp->queue_packets[c]);
        }
        if (error) {
            return init_error(errorp, "port %u class %d: cannot set up its "
                              "queue (%s)", in, c, strerror(error));
        }
    }

    d->delay_ns = pair->delay_ns;
    d->delay_tsc = ns_to_tsc(pair->delay_ns);
    if (d->delay_tsc) {
        error = gw_delay_line_init(&d->line, pair->line_packets);
        if (error) {
            return init_error(errorp, "pair %u:%u: cannot allocate a delay "
                              "line of %"PRIu32" packets (%s)", pair->a,
                              pair->b, pair->line_packets, strerror(error));
        }
    }

    /* The bucket holds 100 us at the link rate, and always the largest
     * frame that a buffer can carry: a frame that costs more than the
     * bucket holds would wait forever at the head of its queue. */
    min_bytes = max_pkt + pair->overhead;
    depth = pair->burst_bytes;
    if (!depth) {
        uint64_t auto_depth = pair->rate_bps / 8 / 10000;

        depth = auto_depth > GW_TBF_DEPTH_MAX ? GW_TBF_DEPTH_MAX
                                              : auto_depth;
    }
    error = gw_tbf_init(&d->tbf, pair->rate_bps, depth, min_bytes,
                        pair->overhead, gw.tsc_hz, gw.tsc0);
    if (error) {
        return init_error(errorp, "pair %u:%u: rate %"PRIu64" bit/s cannot "
                          "be kept with this clock (%"PRIu64" Hz)", pair->a,
                          pair->b, pair->rate_bps, gw.tsc_hz);
    }
    return 0;
}

int
gw_state_init(const struct gw_conf *conf, struct rte_mempool *ctl_pool,
              uint32_t max_pkt, char **errorp)
{
    struct timespec ts;
    int error;

    *errorp = NULL;
    gw.conf = conf;
    gw.n_ports = conf->n_ports;
    gw.ctl_pool = ctl_pool;
    gw.tsc_hz = rte_get_tsc_hz();
    gw.tsc0 = rte_rdtsc();
    gw.ns_mult = ((unsigned __int128) 1000000000 << 32) / gw.tsc_hz;
    gw.housekeeping_tsc = gw.tsc_hz / 1000;
    clock_gettime(CLOCK_REALTIME, &ts);
    gw.start_realtime_ns = ts.tv_sec * UINT64_C(1000000000) + ts.tv_nsec;

    for (unsigned int p = 0; p < conf->n_ports; p++) {
        struct gw_port *port = &gw.ports[p];
        const struct gw_conf_pair *pair = NULL;
        uint16_t peer;
        int end;

        pair = gw_conf_pair_of(conf, p, &end);
        peer = end ? pair->a : pair->b;

        memset(port, 0, sizeof *port);
        port->id = p;
        port->name = conf->ports[p].name;
        port->peer = &gw.ports[peer];
        port->in = &gw.dirs[p];
        port->out = &gw.dirs[peer];
        error = rte_eth_macaddr_get(p, &port->mac);
        if (error) {
            return init_error(errorp, "port %u: cannot read its MAC address "
                              "(%s)", p, strerror(-error));
        }
        error = gw_config_build_pfc(&conf->ports[p].cfg,
                                    port->mac.addr_bytes, &port->pfc);
        if (error) {
            return init_error(errorp, "port %u: its MAC address "
                              RTE_ETHER_ADDR_PRT_FMT" cannot source PFC "
                              "frames (a group address?)", p,
                              RTE_ETHER_ADDR_BYTES(&port->mac));
        }
        port->lossless = port->pfc.lossless;
        gw_port_stats_init(&port->stats);

        error = dir_init(&gw.dirs[p], conf, p, peer, pair, max_pkt, errorp);
        if (error) {
            return error;
        }
    }
    return 0;
}

/* A fast generator for the ECN law's coin (xorshift64*), one per lcore. */
static inline uint32_t
rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (x * UINT64_C(0x2545f4914f6cdd1d)) >> 32;
}

/* After PFC state changed: when does the latest hold end, which classes
 * are in a storm. */
static void
port_update_holds(struct gw_port *port)
{
    uint64_t until = 0;
    uint8_t storm = 0;

    for (uint8_t ll = port->lossless; ll; ll &= ll - 1) {
        int c = __builtin_ctz(ll);

        if (port->pfc.classes[c].rx_until_ns > until) {
            until = port->pfc.classes[c].rx_until_ns;
        }
        if (gw_pfc_class_storm(&port->pfc, c)) {
            storm |= 1u << c;
        }
    }
    port->hold_until_ns = until;
    port->storm = storm;
}

static void
port_mac_control(struct gw_port *port, const uint8_t *p, uint32_t len,
                 uint64_t now_ns)
{
    port->cnt.mac_control_rx++;
    if (gw_pfc_port_rx(&port->pfc, p, len, now_ns, &port->stats)
        == GW_QBB_OK) {
        port_update_holds(port);
    }
}

/* Admits the 'n' packets of 'pkts' one by one: full parse, queue limit,
 * ECN law, class queue. */
static void
admit_each(struct gw_dir *d, struct rte_mbuf **pkts, const uint32_t *lens,
           uint32_t n, uint64_t *rng)
{
    struct gw_port *in = d->in;
    uint8_t touched = 0;

    for (uint32_t i = 0; i < n; i++) {
        struct gw_pkt info, *pkt = &info;
        const struct gw_ecn_params *ep;
        struct gw_class_stats *cs;
        struct gw_queue *q;
        uint32_t qlen, len = lens[i];

        gw_pkt_classify(&d->map, rte_pktmbuf_mtod(pkts[i], uint8_t *),
                        rte_pktmbuf_data_len(pkts[i]), pkt);
        ep = &d->ecn[pkt->cls];
        cs = &in->stats.classes[pkt->cls];
        q = &d->q[pkt->cls];
        qlen = q->bytes;

        if (unlikely((uint64_t) qlen + len > ep->queue_limit
                     || !gw_queue_push(q, pkts[i], len))) {
            gw_stats_drop(cs, ep->drop_reason);
            rte_pktmbuf_free(pkts[i]);
            continue;
        }
        /* The coin is drawn only where the law can mark. */
        if (ep->ecn && qlen > ep->kmin
            && (pkt->ecn == GW_ECN_ECT0 || pkt->ecn == GW_ECN_ECT1)
            && gw_ecn_decide(ep, qlen, len, pkt->ecn, rng_next(rng))
               == GW_ECN_MARK
            && gw_pkt_set_ce(rte_pktmbuf_mtod(pkts[i], uint8_t *), pkt)) {
            cs->ecn_marked++;
        }
        cs->packets++;
        cs->bytes += len;
        touched |= 1u << pkt->cls;
    }

    d->busy |= touched;
    /* Admission only adds: the depth after the burst is its high-water
     * mark. */
    for (; touched; touched &= touched - 1) {
        int c = __builtin_ctz(touched);
        struct gw_class_stats *cs = &in->stats.classes[c];

        if (d->q[c].bytes > cs->depth_max) {
            cs->depth_max = d->q[c].bytes;
        }
    }
}

/* The common case, decided per burst instead of per packet: every packet
 * of the burst is in class 'c', and its queue has room for all of them
 * below the limit and below Kmin (no packet can be dropped or marked).
 * Then they are counted at once and, if nothing waits in any queue of 'd'
 * and 'd' has no delay, no rate limit and no hold on 'c', sent straight
 * away: a queue that is empty forwards in arrival order, which is what
 * the queue would have done.  What the NIC does not take is queued.
 * Returns false, having done nothing, if the case does not apply. */
static bool
admit_bulk(struct gw_dir *d, int c, struct rte_mbuf **pkts,
           const uint32_t *lens, uint32_t n, uint64_t total,
           uint64_t now_ns)
{
    const struct gw_ecn_params *ep = &d->ecn[c];
    struct gw_class_stats *cs = &d->in->stats.classes[c];
    struct gw_queue *q = &d->q[c];
    struct gw_port *out = d->out;
    uint64_t qlen = q->bytes;
    uint32_t sent = 0;

    if (qlen + total > ep->queue_limit
        || (ep->ecn && qlen + total - lens[n - 1] > ep->kmin)
        || gw_queue_count(q) + n > q->limit) {
        return false;
    }
    cs->packets += n;
    cs->bytes += total;
    if (qlen + total > cs->depth_max) {
        cs->depth_max = qlen + total;
    }

    if (!d->busy && !d->delay_tsc && !d->tbf.rate_bps
        && !((out->storm >> c) & 1)
        && (now_ns >= out->hold_until_ns
            || !gw_pfc_class_held(&out->pfc, c, now_ns))) {
        sent = rte_eth_tx_burst(out->id, 0, pkts, n);
        out->cnt.tx_packets += sent;
        if (sent == n) {
            out->cnt.tx_bytes += total;
            return true;
        }
        for (uint32_t i = 0; i < sent; i++) {
            out->cnt.tx_bytes += lens[i];
        }
    }
    for (uint32_t i = sent; i < n; i++) {
        gw_queue_push(q, pkts[i], lens[i]);
    }
    d->busy |= 1u << c;
    return true;
}

/* Receives a burst on d->in, consumes its MAC control frames, and admits
 * the rest to d's class queues (or, when they are all empty, straight
 * to the wire). */
static uint32_t
dir_rx(struct gw_dir *d, uint64_t now_ns, uint64_t *rng)
{
    struct gw_port *in = d->in;
    struct rte_mbuf *pkts[GW_BURST];
    uint32_t lens[GW_BURST];
    uint64_t bytes = 0, data_bytes = 0;
    uint64_t pcp_table;
    uint8_t classes = 0;
    bool trust_pcp;
    uint16_t n, i, k = 0;

    n = rte_eth_rx_burst(in->id, 0, pkts, GW_BURST);
    if (!n) {
        return 0;
    }
    /* Classify the whole burst first: packets are independent, so their
     * loads overlap, and the queues are touched only after.  With trust
     * pcp, the class map is 8 bytes held in a register.
     *
     * No software prefetch of the frames: the port has just written them
     * (a NIC's DMA lands in the last-level cache, a virtual port copies
     * with this very core), and prefetching 4 packets ahead, as l3fwd
     * does, cost about 4 cycles per packet with net_null ports here
     * (make bench-gw: 84 cycles per packet without, 88 with). */
    trust_pcp = d->map.trust == GW_TRUST_PCP;
    memcpy(&pcp_table, d->map.pcp, sizeof pcp_table);
    for (i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];
        const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
        uint32_t len = rte_pktmbuf_pkt_len(m);
        uint32_t dlen = rte_pktmbuf_data_len(m);
        unsigned int cls;
        uint16_t type;

        bytes += len;
        if (unlikely(dlen < GW_PKT_ETH_LEN + GW_PKT_VLAN_LEN)) {
            cls = gw_pkt_class(&d->map, p, dlen);
        } else {
            type = gw_pkt_be16(p + 12);
            if (unlikely(type == GW_QBB_ETHERTYPE)) {
                port_mac_control(in, p, dlen, now_ns);
                rte_pktmbuf_free(m);
                continue;
            }
            if (trust_pcp) {
                unsigned int pcp = (type == 0x8100 || type == 0x88a8
                                    ? p[14] >> 5 : 0);

                cls = (pcp_table >> (pcp * 8)) & 0xff;
            } else {
                cls = gw_pkt_class(&d->map, p, dlen);
            }
        }
        classes |= 1u << cls;
        data_bytes += len;
        lens[k] = len;
        pkts[k++] = m;
    }
    in->cnt.rx_packets += n;
    in->cnt.rx_bytes += bytes;
    if (!k) {
        return n;
    }

    if (!(classes & (classes - 1))
        && admit_bulk(d, __builtin_ctz(classes), pkts, lens, k, data_bytes,
                      now_ns)) {
        return n;
    }
    admit_each(d, pkts, lens, k, rng);
    return n;
}

/* Sends the PFC frame that port's lossless queues call for, if any, out
 * of the port (toward the sender). */
static void
port_pfc_tx(struct gw_port *port, uint64_t now_ns)
{
    const struct gw_dir *d = port->in;
    uint32_t depth[GW_N_CLASSES];
    struct gw_qbb_frame f;
    struct rte_mbuf *m;
    bool due = port->pfc_pending;

    /* Cheap test first: nothing can be due while every lossless queue is
     * below XOFF in the OPEN state and no frame is waiting. */
    for (uint8_t ll = port->lossless; ll && !due; ll &= ll - 1) {
        int c = __builtin_ctz(ll);

        due = (port->pfc.classes[c].xoff_state
               || d->q[c].bytes >= port->pfc.classes[c].xoff);
    }
    if (!due) {
        return;
    }

    for (int c = 0; c < GW_N_CLASSES; c++) {
        depth[c] = d->q[c].bytes;
    }
    if (!gw_pfc_port_tx_run(&port->pfc, depth, now_ns, &f)) {
        port->pfc_pending = false;
        return;
    }

    /* Until it leaves, the same frame stays due (gw-pfc.h). */
    port->pfc_pending = true;
    m = rte_pktmbuf_alloc(gw.ctl_pool);
    if (!m) {
        port->cnt.pfc_tx_refused++;
        return;
    }
    if (gw_qbb_build(&f, rte_pktmbuf_mtod(m, void *),
                     rte_pktmbuf_tailroom(m))) {
        rte_pktmbuf_free(m);
        return;
    }
    m->data_len = m->pkt_len = GW_QBB_FRAME_LEN;
    if (rte_eth_tx_burst(port->id, 0, &m, 1)) {
        gw_pfc_port_tx_done(&port->pfc, &f, now_ns, &port->stats);
        port->cnt.pfc_frames_tx++;
        port->pfc_pending = false;
    } else {
        rte_pktmbuf_free(m);
        port->cnt.pfc_tx_refused++;
    }
}

/* Drops what waits in the classes of 'mask' (pause storm toward d->out). */
static void
dir_storm_flush(struct gw_dir *d, uint8_t mask)
{
    for (; mask; mask &= mask - 1) {
        int c = __builtin_ctz(mask);
        struct gw_queue *q = &d->q[c];

        while (gw_queue_count(q)) {
            void *pkts[GW_BURST];
            uint32_t lens[GW_BURST];
            uint64_t budget = UINT64_MAX;
            uint32_t k = gw_queue_peek(q, pkts, lens, GW_BURST, &budget, 0);

            rte_pktmbuf_free_bulk((struct rte_mbuf **) pkts, k);
            gw_queue_pop(q, k);
            d->in->stats.classes[c].drops[GW_DROP_STORM] += k;
        }
        d->busy &= ~(1u << c);
    }
}

/* Moves packets from d's class queues, highest class first, within the
 * rate, to the delay line or straight to the wire. */
static uint32_t
dir_schedule(struct gw_dir *d, uint64_t now, uint64_t now_ns)
{
    struct gw_port *out = d->out;
    void *pkts[GW_BURST];
    uint32_t lens[GW_BURST];
    uint8_t order[GW_N_CLASSES];
    uint32_t took[GW_N_CLASSES];
    uint32_t n = 0, max = GW_BURST, sent, left;
    uint64_t budget = UINT64_MAX, bytes = 0;
    uint8_t eligible = d->busy;
    int n_cls = 0;

    if (unlikely(out->storm & eligible)) {
        dir_storm_flush(d, out->storm & eligible);
        eligible = d->busy;
    }
    if (unlikely(now_ns < out->hold_until_ns)) {
        eligible &= ~gw_pfc_port_held(&out->pfc, now_ns);
    }
    if (!eligible) {
        return 0;
    }
    if (d->delay_tsc) {
        uint32_t room = gw_delay_line_room(&d->line);

        if (room < max) {
            max = room;
        }
    }
    if (d->tbf.rate_bps) {
        gw_tbf_refill(&d->tbf, now);
        budget = gw_tbf_budget(&d->tbf);
    }

    while (eligible && n < max) {
        int c = 31 - __builtin_clz(eligible);
        struct gw_queue *q = &d->q[c];
        uint32_t want = gw_queue_count(q);
        uint32_t k;

        if (want > max - n) {
            want = max - n;
        }
        k = gw_queue_peek(q, pkts + n, lens + n, max - n, &budget,
                          d->tbf.overhead);
        order[n_cls] = c;
        took[n_cls++] = k;
        n += k;
        if (k < want) {
            break;              /* Out of tokens: lower classes wait. */
        }
        eligible &= ~(1u << c);
    }
    if (!n) {
        return 0;
    }

    if (!d->delay_tsc) {
        sent = rte_eth_tx_burst(out->id, 0, (struct rte_mbuf **) pkts, n);
    } else {
        uint64_t due = now + d->delay_tsc;

        for (uint32_t i = 0; i < n; i++) {
            gw_delay_line_push(&d->line, pkts[i], lens[i], due);
        }
        sent = n;
    }

    /* Commit what left; the rest stays at the head of its queue. */
    left = sent;
    for (int i = 0; i < n_cls && left; i++) {
        uint32_t k = took[i] < left ? took[i] : left;
        int c = order[i];

        bytes += gw_queue_pop(&d->q[c], k);
        left -= k;
        if (!gw_queue_count(&d->q[c])) {
            d->busy &= ~(1u << c);
        }
    }
    gw_tbf_take(&d->tbf, bytes + (uint64_t) sent * d->tbf.overhead);
    if (!d->delay_tsc) {
        out->cnt.tx_packets += sent;
        out->cnt.tx_bytes += bytes;
    }
    return sent;
}

/* Sends what the delay line holds that is due. */
static uint32_t
dir_release(struct gw_dir *d, uint64_t now)
{
    void *pkts[GW_BURST];
    uint32_t n, sent;

    n = gw_delay_line_peek_due(&d->line, now, pkts, GW_BURST);
    if (!n) {
        return 0;
    }
    sent = rte_eth_tx_burst(d->out->id, 0, (struct rte_mbuf **) pkts, n);
    d->out->cnt.tx_packets += sent;
    d->out->cnt.tx_bytes += gw_delay_line_pop(&d->line, sent);
    return sent;
}

static uint32_t
dir_tx(struct gw_dir *d, uint64_t now, uint64_t now_ns)
{
    uint32_t n = 0;

    if (d->busy) {
        n = dir_schedule(d, now, now_ns);
    }
    if (d->delay_tsc && gw_delay_line_count(&d->line)) {
        n += dir_release(d, now);
    }
    return n;
}

/* Once a millisecond: PFC timers, then a snapshot for the readers. */
static void
port_housekeeping(struct gw_port *port, uint64_t now_ns)
{
    const struct gw_dir *d = port->in;
    struct gw_port_snap *snap = &port->pub.snap;
    uint8_t held = 0;

    if (port->lossless) {
        gw_pfc_port_run(&port->pfc, now_ns, &port->stats);
        port_update_holds(port);
        if (now_ns < port->hold_until_ns) {
            held = gw_pfc_port_held(&port->pfc, now_ns);
        }
    }
    for (int c = 0; c < GW_N_CLASSES; c++) {
        port->stats.classes[c].depth = d->q[c].bytes;
    }
    port->cnt.line_packets = gw_delay_line_count(&d->line);
    port->cnt.line_bytes = d->line.bytes;

    gw_seq_write_begin(&port->pub.seq);
    snap->now_ns = now_ns;
    snap->stats = port->stats;
    snap->cnt = port->cnt;
    snap->held = held;
    for (int c = 0; c < GW_N_CLASSES; c++) {
        snap->paused_for_ns[c] = ((held >> c) & 1
                                  ? now_ns - port->pfc.classes[c].rx_since_ns
                                  : 0);
    }
    gw_seq_write_end(&port->pub.seq);
}

void
gw_port_read(unsigned int id, struct gw_port_snap *snap)
{
    const struct gw_port_pub *pub = &gw.ports[id].pub;
    int tries = GW_SEQ_READ_TRIES;
    uint32_t v;

    do {
        v = gw_seq_read_begin(&pub->seq);
        memcpy(snap, &pub->snap, sizeof *snap);
    } while (gw_seq_read_retry(&pub->seq, v) && --tries);
}

static void
idle_sleep(void)
{
    struct timespec ts = {
        .tv_sec = 0,
        .tv_nsec = gw.idle_sleep_us * 1000L,
    };

    nanosleep(&ts, NULL);
}

int
gw_fwd_lcore_main(void *arg __rte_unused)
{
    unsigned int lcore = rte_lcore_id();
    struct gw_port *mine[GW_MAX_PAIRS];
    uint64_t rng = rte_rdtsc() | 1;
    uint64_t next_hk = 0;
    unsigned int n = 0;

    for (unsigned int p = 0; p < gw.n_ports; p++) {
        struct gw_port *port = &gw.ports[p];

        if (port->lcore == lcore && port->id < port->peer->id) {
            mine[n++] = port;
        }
    }
    if (!n) {
        return 0;
    }

    while (!gw_force_quit) {
        uint64_t now = rte_rdtsc();
        uint64_t now_ns = gw_tsc_to_ns(now);
        uint32_t work = 0;

        for (unsigned int i = 0; i < n; i++) {
            struct gw_port *a = mine[i], *b = a->peer;

            work += dir_rx(a->in, now_ns, &rng);
            work += dir_rx(b->in, now_ns, &rng);
            if (a->lossless | b->lossless) {
                port_pfc_tx(a, now_ns);
                port_pfc_tx(b, now_ns);
            }
            work += dir_tx(a->in, now, now_ns);
            work += dir_tx(b->in, now, now_ns);
        }
        if (now >= next_hk) {
            for (unsigned int i = 0; i < n; i++) {
                port_housekeeping(mine[i], now_ns);
                port_housekeeping(mine[i]->peer, now_ns);
            }
            next_hk = now + gw.housekeeping_tsc;
        }
        if (!work && gw.idle_sleep_us) {
            idle_sleep();
        }
    }
    return 0;
}

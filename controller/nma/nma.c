/*
 * ovs-cats: the network metric agent's state: what was last read per
 * interface and per qdisc, and the telemetry report made from it.  See
 * include/cats/nlstats.h.
 */

#include <config.h>

#include "cats/nlstats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pkt_sched.h>

#include "cats/report.h"
#include "sset.h"
#include "util.h"

const char *
cats_nma_source_name(enum cats_nma_source src)
{
    switch (src) {
    case CATS_NMA_SRC_LINK: return "link";
    case CATS_NMA_SRC_QDISC: return "qdisc";
    case CATS_NMA_SRC_PFC: return "pfc";
    case CATS_NMA_SRC_PAUSE: return "pause";
    case CATS_NMA_N_SOURCES: default: return "?";
    }
}

void
cats_nma_init(struct cats_nma *nma, uint64_t epoch)
{
    memset(nma, 0, sizeof *nma);
    nma->counters_epoch = epoch;
    nma->links = xcalloc(CATS_NL_MAX_LINKS, sizeof *nma->links);
    nma->qdiscs = xcalloc(CATS_NL_MAX_QDISCS, sizeof *nma->qdiscs);
    nma->reported = xcalloc(CATS_NL_MAX_LINKS, sizeof *nma->reported);
}

void
cats_nma_destroy(struct cats_nma *nma)
{
    if (nma) {
        free(nma->links);
        free(nma->qdiscs);
        free(nma->reported);
        free(nma->last_error);
        memset(nma, 0, sizeof *nma);
    }
}

void
cats_nma_count_error(struct cats_nma *nma, enum cats_nma_source src,
                     char *error)
{
    nma->errors[src]++;
    free(nma->last_error);
    nma->last_error = error;
    if (src == CATS_NMA_SRC_LINK) {
        nma->link_dump_failed = true;
    } else if (src == CATS_NMA_SRC_QDISC) {
        nma->qdisc_dump_failed = true;
    }
}

/* Links, sorted by ifindex. */

static size_t
link_pos(const struct cats_nma *nma, int ifindex)
{
    size_t lo = 0, hi = nma->n_links;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nma->links[mid].nl.ifindex < ifindex) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

struct cats_nma_link *
cats_nma_find_link(const struct cats_nma *nma, int ifindex)
{
    size_t i = link_pos(nma, ifindex);

    return (i < nma->n_links && nma->links[i].nl.ifindex == ifindex
            ? &nma->links[i] : NULL);
}

struct cats_nma_link *
cats_nma_find_link_by_name(const struct cats_nma *nma, const char *name)
{
    for (size_t i = 0; i < nma->n_links; i++) {
        if (!strcmp(nma->links[i].nl.name, name)) {
            return &nma->links[i];
        }
    }
    return NULL;
}

static bool
link_stats_backwards(const struct cats_nl_link_stats *old,
                     const struct cats_nl_link_stats *new)
{
    return (new->rx_packets < old->rx_packets
            || new->tx_packets < old->tx_packets
            || new->rx_bytes < old->rx_bytes
            || new->tx_bytes < old->tx_bytes
            || new->rx_errors < old->rx_errors
            || new->tx_errors < old->tx_errors
            || new->rx_dropped < old->rx_dropped
            || new->tx_dropped < old->tx_dropped);
}

void
cats_nma_links_begin(struct cats_nma *nma)
{
    nma->link_gen++;
    nma->link_dump_failed = false;
}

int
cats_nma_link_msg(struct cats_nma *nma, const void *msg, size_t size)
{
    struct cats_nma_link *link;
    struct cats_nl_link nl;
    char *error_msg;
    int error;

    error = cats_nl_parse_link(msg, size, &nl, &error_msg);
    if (error) {
        cats_nma_count_error(nma, CATS_NMA_SRC_LINK, error_msg);
        return error;
    }

    link = cats_nma_find_link(nma, nl.ifindex);
    if (!link) {
        size_t i = link_pos(nma, nl.ifindex);

        if (nma->n_links >= CATS_NL_MAX_LINKS) {
            cats_nma_count_error(nma, CATS_NMA_SRC_LINK,
                                 xasprintf("RTM_NEWLINK %s: more than %d "
                                           "interfaces", nl.name,
                                           CATS_NL_MAX_LINKS));
            return E2BIG;
        }
        memmove(&nma->links[i + 1], &nma->links[i],
                (nma->n_links - i) * sizeof *nma->links);
        nma->n_links++;
        link = &nma->links[i];
        memset(link, 0, sizeof *link);
    } else if (link_stats_backwards(&link->nl.stats, &nl.stats)) {
        /* The same interface with smaller counters: its driver reset
         * them. */
        nma->reset = true;
    }
    link->nl = nl;
    link->gen = nma->link_gen;
    return 0;
}

void
cats_nma_links_end(struct cats_nma *nma, bool complete)
{
    size_t n = 0;

    /* An interrupted or partly refused dump says nothing about the
     * interfaces it did not mention. */
    if (!complete || nma->link_dump_failed) {
        return;
    }
    for (size_t i = 0; i < nma->n_links; i++) {
        if (nma->links[i].gen == nma->link_gen) {
            nma->links[n++] = nma->links[i];
        }
    }
    nma->n_links = n;
}

/* Qdiscs, sorted by (ifindex, parent, handle): the default qdiscs under
 * mq all have handle 0, and differ by parent. */

static int
qdisc_cmp(const struct cats_nl_qdisc *a, const struct cats_nl_qdisc *b)
{
    if (a->ifindex != b->ifindex) {
        return a->ifindex < b->ifindex ? -1 : 1;
    }
    if (a->parent != b->parent) {
        return a->parent < b->parent ? -1 : 1;
    }
    return a->handle < b->handle ? -1 : a->handle > b->handle;
}

static size_t
qdisc_pos(const struct cats_nma *nma, const struct cats_nl_qdisc *key)
{
    size_t lo = 0, hi = nma->n_qdiscs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (qdisc_cmp(&nma->qdiscs[mid].nl, key) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void
cats_nma_qdiscs_begin(struct cats_nma *nma)
{
    nma->qdisc_gen++;
    nma->qdisc_dump_failed = false;
}

int
cats_nma_qdisc_msg(struct cats_nma *nma, const void *msg, size_t size)
{
    struct cats_nma_qdisc *q;
    struct cats_nl_qdisc nl;
    char *error_msg;
    size_t i;
    int error;

    error = cats_nl_parse_qdisc(msg, size, &nl, &error_msg);
    if (error) {
        cats_nma_count_error(nma, CATS_NMA_SRC_QDISC, error_msg);
        return error;
    }

    i = qdisc_pos(nma, &nl);
    q = i < nma->n_qdiscs ? &nma->qdiscs[i] : NULL;
    if (q && !qdisc_cmp(&q->nl, &nl)
        && !strcmp(q->nl.kind, nl.kind) && nl.bytes >= q->nl.bytes) {
        /* The same qdisc, its 64-bit byte count not gone backwards: a
         * 32-bit counter that is smaller than before wrapped. */
        q->ecn_marked += (uint32_t) (nl.ecn_marked - q->nl.ecn_marked);
        q->drops += (uint32_t) (nl.drops - q->nl.drops);
    } else {
        if (q && !qdisc_cmp(&q->nl, &nl)) {
            /* Replaced (another kind) or reset: counting restarts. */
            nma->reset = true;
        } else {
            if (nma->n_qdiscs >= CATS_NL_MAX_QDISCS) {
                cats_nma_count_error(nma, CATS_NMA_SRC_QDISC,
                                     xasprintf("RTM_NEWQDISC ifindex %d: "
                                               "more than %d qdiscs",
                                               nl.ifindex,
                                               CATS_NL_MAX_QDISCS));
                return E2BIG;
            }
            memmove(&nma->qdiscs[i + 1], &nma->qdiscs[i],
                    (nma->n_qdiscs - i) * sizeof *nma->qdiscs);
            nma->n_qdiscs++;
            q = &nma->qdiscs[i];
        }
        q->ecn_marked = nl.ecn_marked;
        q->drops = nl.drops;
    }
    q->nl = nl;
    q->gen = nma->qdisc_gen;
    return 0;
}

void
cats_nma_qdiscs_end(struct cats_nma *nma, bool complete)
{
    size_t n = 0;

    if (!complete || nma->qdisc_dump_failed) {
        return;
    }
    for (size_t i = 0; i < nma->n_qdiscs; i++) {
        if (nma->qdiscs[i].gen == nma->qdisc_gen) {
            nma->qdiscs[n++] = nma->qdiscs[i];
        }
    }
    nma->n_qdiscs = n;
}

/* PFC and pause. */

int
cats_nma_pfc_msg(struct cats_nma *nma, int ifindex, const void *msg,
                 size_t size)
{
    struct cats_nma_link *link = cats_nma_find_link(nma, ifindex);
    struct cats_nl_pfc pfc;
    char *error_msg;
    int error;

    error = cats_nl_parse_dcb_pfc(msg, size, &pfc, &error_msg);
    if (!error || error == EOPNOTSUPP) {
        /* Either answer must be about the interface asked about. */
        if (!link || strcmp(pfc.ifname, link->nl.name)) {
            free(error_msg);
            error_msg = xasprintf("RTM_GETDCB %s: reply is not about "
                                  "ifindex %d", pfc.ifname, ifindex);
            error = EINVAL;
        } else if (error == EOPNOTSUPP) {
            free(error_msg);
            link->pfc_support = CATS_NMA_UNSUPPORTED;
            return error;
        }
    }
    if (error) {
        cats_nma_count_error(nma, CATS_NMA_SRC_PFC, error_msg);
        return error;
    }
    if (link->pfc_support == CATS_NMA_SUPPORTED) {
        for (int p = 0; p < CATS_NL_PRIORITIES; p++) {
            if (pfc.requests[p] < link->pfc.requests[p]
                || pfc.indications[p] < link->pfc.indications[p]) {
                nma->reset = true;
            }
        }
    }
    link->pfc = pfc;
    link->pfc_support = CATS_NMA_SUPPORTED;
    return 0;
}

int
cats_nma_pause_msg(struct cats_nma *nma, int ifindex, const void *msg,
                   size_t size, uint16_t family)
{
    struct cats_nma_link *link = cats_nma_find_link(nma, ifindex);
    struct cats_nl_pause pause;
    char *error_msg;
    int error;

    error = cats_nl_parse_pause(msg, size, family, &pause, &error_msg);
    if (!error && (!link || pause.ifindex != ifindex)) {
        error_msg = xasprintf("ETHTOOL_MSG_PAUSE_GET_REPLY %s: reply is "
                              "about ifindex %d, not %d", pause.ifname,
                              pause.ifindex, ifindex);
        error = EINVAL;
    }
    if (error) {
        cats_nma_count_error(nma, CATS_NMA_SRC_PAUSE, error_msg);
        return error;
    }
    link->pause = pause;
    link->pause_support = CATS_NMA_SUPPORTED;
    return 0;
}

void
cats_nma_set_unsupported(struct cats_nma *nma, int ifindex,
                         enum cats_nma_source src)
{
    struct cats_nma_link *link = cats_nma_find_link(nma, ifindex);

    if (!link) {
        return;
    }
    if (src == CATS_NMA_SRC_PFC) {
        link->pfc_support = CATS_NMA_UNSUPPORTED;
    } else if (src == CATS_NMA_SRC_PAUSE) {
        link->pause_support = CATS_NMA_UNSUPPORTED;
    }
}

/* The report. */

static void
link_to_report(const struct cats_nma *nma, const struct cats_nma_link *link,
               struct cats_report_link *out)
{
    const struct cats_nl_link *nl = &link->nl;
    size_t i;

    memset(out, 0, sizeof *out);
    ovs_strlcpy(out->id, nl->name, sizeof out->id);
    out->kind = CATS_LINK_KIND_LINK;
    out->tx_packets = nl->stats.tx_packets;
    out->tx_bytes = nl->stats.tx_bytes;
    out->drops = nl->stats.tx_dropped;

    /* Queue depth and drops from the root qdisc, which sums its children
     * (mq, htb); ECN marks from every AQM qdisc, wherever it sits (the
     * per-queue fq_codel children of mq, an htb class's leaf). */
    struct cats_nl_qdisc key = { .ifindex = nl->ifindex };
    for (i = qdisc_pos(nma, &key);
         i < nma->n_qdiscs && nma->qdiscs[i].nl.ifindex == nl->ifindex;
         i++) {
        const struct cats_nma_qdisc *q = &nma->qdiscs[i];

        if (q->nl.parent == TC_H_ROOT) {
            out->has_queue_depth = true;
            out->queue_depth_bytes = q->nl.backlog;
            out->drops += q->drops;
        }
        if (q->nl.aqm != CATS_NL_AQM_NONE) {
            out->ecn_marked_packets += q->ecn_marked;
        }
    }

    if (link->pfc_support == CATS_NMA_SUPPORTED) {
        for (int p = 0; p < CATS_NL_PRIORITIES; p++) {
            const struct cats_nl_pfc *pfc = &link->pfc;

            if (pfc->pfc_en & (1u << p) || pfc->requests[p]
                || pfc->indications[p]) {
                struct cats_report_pfc *rp = &out->pfc[out->n_pfc++];

                rp->priority = p;
                rp->rx_pause_frames = pfc->indications[p];
                rp->tx_pause_frames = pfc->requests[p];
            }
        }
    }
}

static const struct cats_nma_reported *
find_reported(const struct cats_nma *nma, const char *id)
{
    for (size_t i = 0; i < nma->n_reported; i++) {
        if (!strcmp(nma->reported[i].id, id)) {
            return &nma->reported[i];
        }
    }
    return NULL;
}

static bool
went_backwards(const struct cats_nma_reported *r, int ifindex,
               const struct cats_report_link *l)
{
    if (r->ifindex != ifindex
        || l->tx_packets < r->tx_packets || l->tx_bytes < r->tx_bytes
        || l->ecn_marked_packets < r->ecn_marked_packets
        || l->drops < r->drops) {
        return true;
    }
    for (size_t i = 0; i < l->n_pfc; i++) {
        const struct cats_report_pfc *p = &l->pfc[i];

        if (p->rx_pause_frames < r->pfc_rx[p->priority]
            || p->tx_pause_frames < r->pfc_tx[p->priority]) {
            return true;
        }
    }
    return false;
}

int
cats_nma_to_telemetry(struct cats_nma *nma, const char *source_id,
                      const struct sset *ifaces,
                      struct cats_report_telemetry *t, char **errorp)
{
    int *ifindexes;
    size_t n = 0;

    *errorp = NULL;
    memset(t, 0, sizeof *t);
    if (!cats_id_valid(source_id)) {
        *errorp = xasprintf("source id \"%s\" is not 1 to %d letters, "
                            "digits, '.', '_', ':' or '-'", source_id,
                            CATS_ID_MAX);
        return EINVAL;
    }

    t->links = xcalloc(MAX(nma->n_links, 1), sizeof *t->links);
    ifindexes = xcalloc(MAX(nma->n_links, 1), sizeof *ifindexes);
    for (size_t i = 0; i < nma->n_links; i++) {
        const struct cats_nma_link *link = &nma->links[i];

        if (ifaces ? !sset_contains(ifaces, link->nl.name)
            : (link->nl.flags & IFF_LOOPBACK) != 0) {
            continue;
        }
        if (!cats_id_valid(link->nl.name)) {
            continue;               /* The agent API would refuse it. */
        }
        link_to_report(nma, link, &t->links[n]);
        ifindexes[n] = link->nl.ifindex;
        n++;
    }
    t->n_links = n;

    /* A counter below what the last report said, or a name that now
     * belongs to another interface: the receiver must not take the
     * difference, so the epoch changes. */
    for (size_t i = 0; i < n && !nma->reset; i++) {
        const struct cats_nma_reported *r = find_reported(nma,
                                                          t->links[i].id);
        if (r && went_backwards(r, ifindexes[i], &t->links[i])) {
            nma->reset = true;
        }
    }
    if (nma->reset) {
        nma->counters_epoch++;
        nma->n_resets++;
        nma->reset = false;
    }

    nma->n_reported = n;
    for (size_t i = 0; i < n; i++) {
        const struct cats_report_link *l = &t->links[i];
        struct cats_nma_reported *r = &nma->reported[i];

        memset(r, 0, sizeof *r);
        ovs_strlcpy(r->id, l->id, sizeof r->id);
        r->ifindex = ifindexes[i];
        r->tx_packets = l->tx_packets;
        r->tx_bytes = l->tx_bytes;
        r->ecn_marked_packets = l->ecn_marked_packets;
        r->drops = l->drops;
        for (size_t j = 0; j < l->n_pfc; j++) {
            r->pfc_rx[l->pfc[j].priority] = l->pfc[j].rx_pause_frames;
            r->pfc_tx[l->pfc[j].priority] = l->pfc[j].tx_pause_frames;
        }
    }
    free(ifindexes);

    ovs_strlcpy(t->source_id, source_id, sizeof t->source_id);
    t->seq = ++nma->seq;
    t->counters_epoch = nma->counters_epoch;
    return 0;
}

/*
 * libcatsclient: the messages a client sends and receives, with
 * protobuf-c (see include/cats/client.h).
 */

#include "cats/client.h"

#include <stdio.h>
#include <stdlib.h>

#include "client-util.h"
#include "proto/cats.pb-c.h"

#define QUEUE_DEPTH_CASE \
    CATS__V1__LINK_TELEMETRY___QUEUE_DEPTH_BYTES_QUEUE_DEPTH_BYTES

uint8_t *
cats_client_encode_telemetry(const struct cats_report_telemetry *t,
                             size_t *lenp)
{
    Cats__V1__TelemetryReport msg = CATS__V1__TELEMETRY_REPORT__INIT;
    size_t n = t->n_links;
    Cats__V1__LinkTelemetry *links, **link_ptrs;
    Cats__V1__PfcPriority *pfc, **pfc_ptrs;
    uint8_t *buf;

    links = client_xcalloc(n + 1, sizeof *links);
    link_ptrs = client_xcalloc(n + 1, sizeof *link_ptrs);
    pfc = client_xcalloc(n * CATS_PFC_PRIORITIES + 1, sizeof *pfc);
    pfc_ptrs = client_xcalloc(n * CATS_PFC_PRIORITIES + 1, sizeof *pfc_ptrs);
    for (size_t i = 0; i < n; i++) {
        const struct cats_report_link *l = &t->links[i];
        Cats__V1__LinkTelemetry *lpb = &links[i];

        cats__v1__link_telemetry__init(lpb);
        lpb->id = (char *) l->id;
        lpb->kind = (l->kind == CATS_LINK_KIND_PATH
                     ? CATS__V1__LINK_KIND__LINK_KIND_PATH
                     : CATS__V1__LINK_KIND__LINK_KIND_LINK);
        lpb->tx_packets = l->tx_packets;
        lpb->tx_bytes = l->tx_bytes;
        lpb->ecn_marked_packets = l->ecn_marked_packets;
        lpb->drops = l->drops;
        if (l->has_queue_depth) {
            lpb->_queue_depth_bytes_case = QUEUE_DEPTH_CASE;
            lpb->queue_depth_bytes = l->queue_depth_bytes;
        }
        if (l->has_rtt) {
            lpb->_rtt_us_case = CATS__V1__LINK_TELEMETRY___RTT_US_RTT_US;
            lpb->rtt_us = l->rtt_us;
        }
        lpb->speed_bps = l->speed_bps;
        lpb->n_pfc = (l->n_pfc < CATS_PFC_PRIORITIES ? l->n_pfc
                      : CATS_PFC_PRIORITIES);
        lpb->pfc = &pfc_ptrs[i * CATS_PFC_PRIORITIES];
        for (size_t k = 0; k < lpb->n_pfc; k++) {
            Cats__V1__PfcPriority *p = &pfc[i * CATS_PFC_PRIORITIES + k];

            cats__v1__pfc_priority__init(p);
            p->priority = l->pfc[k].priority;
            p->rx_pause_frames = l->pfc[k].rx_pause_frames;
            p->tx_pause_frames = l->pfc[k].tx_pause_frames;
            p->rx_pause_us = l->pfc[k].rx_pause_us;
            p->tx_pause_us = l->pfc[k].tx_pause_us;
            p->paused_for_us = l->pfc[k].paused_for_us;
            p->storm = l->pfc[k].storm;
            lpb->pfc[k] = p;
        }
        link_ptrs[i] = lpb;
    }
    msg.source_id = (char *) t->source_id;
    msg.seq = t->seq;
    msg.counters_epoch = t->counters_epoch;
    msg.n_links = n;
    msg.links = link_ptrs;

    *lenp = cats__v1__telemetry_report__get_packed_size(&msg);
    buf = client_xmalloc(*lenp + 1);
    cats__v1__telemetry_report__pack(&msg, buf);
    free(links);
    free(link_ptrs);
    free(pfc);
    free(pfc_ptrs);
    return buf;
}

static void
copy_message(struct cats_client_ack *ack, const char *message)
{
    snprintf(ack->error_message, sizeof ack->error_message, "%s",
             message ? message : "");
}

bool
cats_client_decode_ack(enum cats_client_msg kind, const void *data,
                       size_t len, struct cats_client_ack *ack)
{
    memset(ack, 0, sizeof *ack);
    if (kind == CATS_CLIENT_REPORT_ACK) {
        Cats__V1__ReportAck *m = cats__v1__report_ack__unpack(NULL, len,
                                                              data);
        if (!m) {
            return false;
        }
        ack->seq = m->seq;
        ack->lease_ms = m->lease_ms;
        ack->report_interval_ms = m->report_interval_ms;
        ack->error_code = m->error_code;
        ack->error_seq = m->error_seq;
        copy_message(ack, m->error_message);
        cats__v1__report_ack__free_unpacked(m, NULL);
    } else if (kind == CATS_CLIENT_TELEMETRY_ACK) {
        Cats__V1__TelemetryAck *m = cats__v1__telemetry_ack__unpack(NULL, len,
                                                                    data);
        if (!m) {
            return false;
        }
        ack->seq = m->seq;
        ack->report_interval_ms = m->report_interval_ms;
        ack->error_code = m->error_code;
        ack->error_seq = m->error_seq;
        copy_message(ack, m->error_message);
        cats__v1__telemetry_ack__free_unpacked(m, NULL);
    } else {
        Cats__V1__RegisterReply *m;

        /* protobuf-c decodes 0 bytes into a valid message: a reply
         * without a session is not one. */
        m = len ? cats__v1__register_reply__unpack(NULL, len, data) : NULL;
        if (!m) {
            return false;
        }
        ack->session = m->session_id;
        ack->lease_ms = m->lease_ms;
        ack->report_interval_ms = m->report_interval_ms;
        cats__v1__register_reply__free_unpacked(m, NULL);
    }
    return true;
}

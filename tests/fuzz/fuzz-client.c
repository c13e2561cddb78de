/*
 * libFuzzer target for libcatsclient's decoder of what the controller
 * sends back (cats_client_decode_ack(), include/cats/client.h).
 *
 * An input is KIND (1 byte) and the message: KIND % 3 picks
 * CATS_CLIENT_REPORT_ACK, CATS_CLIENT_TELEMETRY_ACK or
 * CATS_CLIENT_REGISTER_REPLY; the rest is decoded as that message.
 * Besides crashes and sanitizer reports it checks the decoder's contract:
 *
 *   - it accepts exactly what protobuf-c's generated unpack accepts
 *     (a RegisterReply of 0 bytes excepted: refused, it has no session);
 *   - on success every field equals the unpacked message's, fields the
 *     kind does not have are 0, and error_message is NUL-terminated
 *     within its array and is the unpacked message's up to its first NUL,
 *     cut to sizeof error_message - 1 bytes;
 *   - re-encoding the decoded fields with protobuf-c and decoding that
 *     again gives the same fields.
 *
 * Seeds: tests/fuzz/corpus/client/ (real encoded messages, made by
 * tests/fuzz/make-client-seeds.py); dictionary: tests/fuzz/client.dict.
 * Build and run: tests/fuzz/README (the rule is in
 * controller/client/rules.mk).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cats/client.h"
#include "proto/cats.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSG_SIZE (sizeof ((struct cats_client_ack *) NULL)->error_message)

static void
check(bool ok)
{
    if (!ok) {
        abort();
    }
}

/* 'got' is 'want' (a protobuf-c string, never NULL once unpacked) as the
 * decoder must have copied it. */
static void
check_message(const char *got, const char *want)
{
    size_t n = strnlen(want, MSG_SIZE - 1);

    check(memchr(got, '\0', MSG_SIZE) != NULL);
    check(strlen(got) == n && !memcmp(got, want, n));
    for (size_t i = n; i < MSG_SIZE; i++) {
        check(!got[i]);
    }
}

static bool
all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        if (b[i]) {
            return false;
        }
    }
    return true;
}

static bool
ack_equal(const struct cats_client_ack *a, const struct cats_client_ack *b)
{
    return (a->seq == b->seq && a->session == b->session
            && a->lease_ms == b->lease_ms
            && a->report_interval_ms == b->report_interval_ms
            && a->error_code == b->error_code && a->error_seq == b->error_seq
            && !memcmp(a->error_message, b->error_message,
                       sizeof a->error_message));
}

/* Encodes the fields of 'ack' that 'kind' has as that message, decodes
 * the result again and checks it is 'ack'. */
static void
check_round_trip(enum cats_client_msg kind, const struct cats_client_ack *ack)
{
    Cats__V1__ReportAck rack = CATS__V1__REPORT_ACK__INIT;
    Cats__V1__TelemetryAck tack = CATS__V1__TELEMETRY_ACK__INIT;
    Cats__V1__RegisterReply reply = CATS__V1__REGISTER_REPLY__INIT;
    const ProtobufCMessage *m;
    struct cats_client_ack again;
    uint8_t *buf;
    size_t len;

    if (kind == CATS_CLIENT_REPORT_ACK) {
        rack.seq = ack->seq;
        rack.lease_ms = ack->lease_ms;
        rack.report_interval_ms = ack->report_interval_ms;
        rack.error_code = ack->error_code;
        rack.error_seq = ack->error_seq;
        rack.error_message = (char *) ack->error_message;
        m = &rack.base;
    } else if (kind == CATS_CLIENT_TELEMETRY_ACK) {
        tack.seq = ack->seq;
        tack.report_interval_ms = ack->report_interval_ms;
        tack.error_code = ack->error_code;
        tack.error_seq = ack->error_seq;
        tack.error_message = (char *) ack->error_message;
        m = &tack.base;
    } else {
        reply.session_id = ack->session;
        reply.lease_ms = ack->lease_ms;
        reply.report_interval_ms = ack->report_interval_ms;
        m = &reply.base;
    }
    len = protobuf_c_message_get_packed_size(m);
    buf = malloc(len + 1);
    check(buf != NULL);
    check(protobuf_c_message_pack(m, buf) == len);

    /* Only a RegisterReply of all defaults packs to 0 bytes, and that one
     * is refused. */
    if (kind == CATS_CLIENT_REGISTER_REPLY && !len) {
        check(!cats_client_decode_ack(kind, buf, len, &again));
    } else {
        memset(&again, 0x5a, sizeof again);
        check(cats_client_decode_ack(kind, buf, len, &again));
        check(ack_equal(&again, ack));
    }
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cats_client_ack ack;
    enum cats_client_msg kind;
    const uint8_t *msg;
    size_t len;
    bool ok;

    if (!size) {
        return 0;
    }
    kind = data[0] % 3;
    msg = data + 1;
    len = size - 1;

    /* A decoder that forgets a field shows it as this pattern. */
    memset(&ack, 0xa5, sizeof ack);
    ok = cats_client_decode_ack(kind, msg, len, &ack);

    if (kind == CATS_CLIENT_REPORT_ACK) {
        Cats__V1__ReportAck *m = cats__v1__report_ack__unpack(NULL, len, msg);

        check(ok == (m != NULL));
        if (m) {
            check(ack.seq == m->seq && ack.lease_ms == m->lease_ms
                  && ack.report_interval_ms == m->report_interval_ms
                  && ack.error_code == m->error_code
                  && ack.error_seq == m->error_seq && !ack.session);
            check_message(ack.error_message, m->error_message);
            cats__v1__report_ack__free_unpacked(m, NULL);
        }
    } else if (kind == CATS_CLIENT_TELEMETRY_ACK) {
        Cats__V1__TelemetryAck *m = cats__v1__telemetry_ack__unpack(NULL, len,
                                                                    msg);

        check(ok == (m != NULL));
        if (m) {
            check(ack.seq == m->seq
                  && ack.report_interval_ms == m->report_interval_ms
                  && ack.error_code == m->error_code
                  && ack.error_seq == m->error_seq
                  && !ack.session && !ack.lease_ms);
            check_message(ack.error_message, m->error_message);
            cats__v1__telemetry_ack__free_unpacked(m, NULL);
        }
    } else {
        Cats__V1__RegisterReply *m = cats__v1__register_reply__unpack(
            NULL, len, msg);

        check(ok == (m != NULL && len > 0));
        if (ok) {
            check(ack.session == m->session_id && ack.lease_ms == m->lease_ms
                  && ack.report_interval_ms == m->report_interval_ms
                  && !ack.seq && !ack.error_code && !ack.error_seq
                  && all_zero(ack.error_message, sizeof ack.error_message));
        }
        if (m) {
            cats__v1__register_reply__free_unpacked(m, NULL);
        }
    }

    if (ok) {
        check_round_trip(kind, &ack);
    }
    return 0;
}

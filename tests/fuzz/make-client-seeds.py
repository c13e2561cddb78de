#!/usr/bin/python3
"""Writes the seed corpus of fuzz-client (tests/fuzz/corpus/client/).

Each seed is KIND (1 byte: 0 ReportAck, 1 TelemetryAck, 2 RegisterReply),
then the message, as tests/fuzz/fuzz-client.c reads it.  The messages are
real: encoded by Python's protobuf from proto/cats.proto.

Needs protoc (Debian: protobuf-compiler) and python3-protobuf.  The seeds
are committed; run this again only when the .proto changes:

    tests/fuzz/make-client-seeds.py
"""

import os

from seedlib import load_proto

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "client")


pb = load_proto()

REPORT_ACK, TELEMETRY_ACK, REGISTER_REPLY = 0, 1, 2
FAILED_PRECONDITION, ABORTED, INVALID_ARGUMENT = 9, 10, 3


def seed(kind, msg, extra=b""):
    return bytes([kind]) + msg.SerializeToString() + extra


SEEDS = {
    "report-ack": seed(REPORT_ACK, pb.ReportAck(
        seq=41, lease_ms=1500, report_interval_ms=500)),
    "report-ack-refused": seed(REPORT_ACK, pb.ReportAck(
        seq=41, lease_ms=1500, error_code=INVALID_ARGUMENT,
        error_message="instance web 10.0.0.11:80: cpu_utilization 50 is "
        "out of range", error_seq=42)),
    "report-ack-stale-session": seed(REPORT_ACK, pb.ReportAck(
        error_code=FAILED_PRECONDITION, error_message="unknown session",
        error_seq=7)),
    # Longer than the decoder's error_message array: cut, not overrun.
    "report-ack-long-message": seed(REPORT_ACK, pb.ReportAck(
        seq=2**64 - 1, error_code=2**32 - 1, error_message="x" * 300,
        error_seq=2**64 - 1)),
    # A field number the decoder does not know (15, varint) is skipped.
    "report-ack-unknown-field": seed(REPORT_ACK, pb.ReportAck(seq=3),
                                     b"\x78\x2a"),
    "telemetry-ack": seed(TELEMETRY_ACK, pb.TelemetryAck(
        seq=9, report_interval_ms=200)),
    "telemetry-ack-refused": seed(TELEMETRY_ACK, pb.TelemetryAck(
        seq=8, report_interval_ms=200, error_code=ABORTED,
        error_message="refused by the test", error_seq=9)),
    "register-reply": seed(REGISTER_REPLY, pb.RegisterReply(
        session_id=0x1234abcd5678ef01, lease_ms=1500,
        report_interval_ms=500)),
    # No session: decodes, and the client refuses it.
    "register-reply-no-session": seed(REGISTER_REPLY, pb.RegisterReply(
        lease_ms=1500)),
    "empty-register-reply": bytes([REGISTER_REPLY]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print("%s: %d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()

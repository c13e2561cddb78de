#!/usr/bin/python3
"""Writes the seed corpus of fuzz-report (tests/fuzz/corpus/report/).

Each seed is a sequence of records as tests/fuzz/fuzz-report.c reads them:
TYPE (1 byte: 0 registration, 1 load report, 2 telemetry, 3 time passes),
LENGTH (2 bytes, big endian), PAYLOAD (an encoded message; none for 3).
The messages are real: encoded by Python's protobuf from proto/cats.proto.

Needs protoc (Debian: protobuf-compiler) and python3-protobuf.  The seeds
are committed; run this again only when the .proto changes:

    tests/fuzz/make-report-seeds.py
"""

import os
import struct

from seedlib import load_proto

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "report")


pb = load_proto()


def rec(kind, payload=b"", length=None):
    if length is None:
        length = len(payload)
    return bytes([kind]) + struct.pack(">H", length) + payload


def register(node, instances, agent="cats-agent/1.0"):
    m = pb.RegisterRequest(node_id=node, agent=agent)
    for service, ip, port, capacity in instances:
        m.instances.add(service=service, ip=ip, port=port, capacity=capacity)
    return rec(0, m.SerializeToString())


def load(node, session, seq, instances=(), node_metrics=None, window=1000):
    m = pb.LoadReport(node_id=node, session_id=session, seq=seq,
                      window_ms=window)
    if node_metrics:
        for k, v in node_metrics.items():
            setattr(m.node, k, v)
    for service, ip, port, health, metrics, l2 in instances:
        i = m.instances.add(service=service, ip=ip, port=port, health=health)
        for k, v in metrics.items():
            setattr(i.metrics, k, v)
        if l2 is not None:
            i.l2_score = l2
    return rec(1, m.SerializeToString())


def telemetry(source, seq, links):
    m = pb.TelemetryReport(source_id=source, seq=seq, counters_epoch=1)
    for lid, kind, rtt, pfc in links:
        link = m.links.add(id=lid, kind=kind, tx_packets=100000,
                           tx_bytes=150000000, ecn_marked_packets=1200,
                           drops=3, speed_bps=100000000000)
        link.queue_depth_bytes = 65536
        if rtt is not None:
            link.rtt_us = rtt
        for prio, frames, pause_us, paused_for, *storm in pfc:
            link.pfc.add(priority=prio, rx_pause_frames=frames,
                         tx_pause_frames=frames // 2, rx_pause_us=pause_us,
                         tx_pause_us=pause_us // 2, paused_for_us=paused_for,
                         storm=bool(storm and storm[0]))
    return rec(2, m.SerializeToString())


def wait(ms):
    return rec(3, length=ms // 10)


SERVING = pb.HEALTH_SERVING
NOT_SERVING = pb.HEALTH_NOT_SERVING
DRAINING = pb.HEALTH_DRAINING
WEB1 = ("web", "10.0.0.11", 80)
WEB2 = ("web", "10.0.0.12", 80)
LLM1 = ("llm", "10.0.1.21", 8000)

FULL = dict(cpu_utilization=0.42, gpu_utilization=0.9,
            memory_utilization=0.61, gpu_memory_utilization=0.77,
            load_average_per_cpu=1.3, requests_in_flight=6, queue_depth=3,
            latency_ms=84.5, requests_per_second=120.0,
            tokens_per_second=3500.0)

SEEDS = {
    # Register, report twice, go unhealthy, come back.
    "lifecycle": (
        register("node-1", [WEB1 + (4,), WEB2 + (4,), LLM1 + (8,)])
        + load("node-1", 1, 1, [WEB1 + (SERVING, {"requests_in_flight": 2},
                                         None),
                                LLM1 + (SERVING, FULL, None)],
               node_metrics={"cpu_utilization": 0.3})
        + wait(1000)
        + load("node-1", 1, 2, [WEB1 + (NOT_SERVING, {}, None),
                                WEB2 + (DRAINING, {"queue_depth": 9}, 2.5)])
        + wait(1000)
        + load("node-1", 1, 3, [WEB1 + (SERVING, {"latency_ms": 12.0},
                                         None)])),
    # The simplest agent: node metrics only, for all its instances.
    "node-metrics-only": (
        register("node-2", [WEB1 + (0,), WEB2 + (2,)])
        + load("node-2", 1, 1, node_metrics={"cpu_utilization": 0.8,
                                             "memory_utilization": 0.5})
        + wait(500)
        + load("node-2", 1, 2, node_metrics={"cpu_utilization": 0.2})),
    # Silent past the lease, then back; a second node takes an instance
    # over once the first one's lease ran out.
    "expiry-takeover": (
        register("node-1", [WEB1 + (4,)])
        + load("node-1", 1, 1, [WEB1 + (SERVING, {"cpu_utilization": 0.5},
                                         None)])
        + wait(4000)
        + register("node-2", [WEB1 + (4,)])
        + load("node-2", 2, 1, [WEB1 + (SERVING, {"cpu_utilization": 0.1},
                                         None)])
        + load("node-1", 1, 2, [WEB1 + (SERVING, {}, None)])),
    # An application that sends its own L2 score.
    "l2-score": (
        register("app-7", [LLM1 + (16,)], agent="vllm-adapter")
        + load("app-7", 1, 5, [LLM1 + (SERVING, {"tokens_per_second": 900.0},
                                        8.5)])
        + wait(200)
        + load("app-7", 1, 6, [LLM1 + (SERVING, {}, 1.0)])),
    # Re-registration: new session, one instance dropped.
    "reregister": (
        register("node-1", [WEB1 + (4,), WEB2 + (4,)])
        + load("node-1", 1, 1, [WEB2 + (SERVING, {"queue_depth": 1}, None)])
        + register("node-1", [WEB2 + (8,)])
        + load("node-1", 2, 1, [WEB2 + (SERVING, {"queue_depth": 0}, None)])
        + load("node-1", 1, 2, [WEB2 + (SERVING, {}, None)])),
    # Errors the decoder and the store refuse.
    "errors": (
        register("node-1", [("mail", "10.0.0.11", 80, 1)])
        + register("node 1", [])
        + register("node-1", [("web", "192.168.0.1", 80, 1)])
        + register("node-1", [("web", "10.0.0.11", 0, 1)])
        + register("node-1", [WEB1 + (1,), WEB1 + (1,)])
        + load("node-9", 1, 1)
        # The sixth registration record: session 6.
        + register("node-1", [WEB1 + (1,)])
        + load("node-1", 6, 1, [WEB1 + (SERVING, {"cpu_utilization": 50.0},
                                         None)])
        + load("node-1", 6, 1, [WEB1 + (SERVING, {"latency_ms": -1.0},
                                         None)])
        + load("node-1", 6, 1, [WEB1 + (SERVING, {"gpu_utilization":
                                                   float("nan")}, None)])
        + load("node-1", 6, 0)
        + load("node-1", 99, 1)
        + load("node-1", 6, 1, [WEB2 + (SERVING, {}, None)])
        + load("node-1", 6, 1, [WEB1 + (SERVING, {"queue_depth": 2}, None)])
        + load("node-1", 6, 1, [WEB1 + (SERVING, {"queue_depth": 3}, None)])),
    # An instance held by another live node; too many nodes (the target
    # allows 4); a node over its rate limit (20 a second, bursts of 20).
    "conflicts-and-limits": (
        register("node-1", [WEB1 + (4,)])
        + register("node-2", [WEB1 + (4,), WEB2 + (4,)])
        + register("node-3", [WEB2 + (4,)])
        + register("node-4", [])
        + register("node-5", [LLM1 + (1,)])
        + register("node-6", [])
        + b"".join(load("node-1", 1, seq) for seq in range(1, 24))),
    # Network telemetry.
    "telemetry": (
        telemetry("gw-a", 1, [
            ("eth1", pb.LINK_KIND_LINK, 12.5,
             [(3, 1500, 250000, 0), (4, 2, 10, 0)]),
            ("site-a:site-b", pb.LINK_KIND_PATH, 20000.0,
             [(3, 90000, 9000000, 300000, True)]),
            ("eth2", pb.LINK_KIND_UNSPECIFIED, None, []),
        ])
        + telemetry("gw-a", 2, [("eth1", pb.LINK_KIND_LINK, None,
                                 [(7, 1, 1, 0)])])),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print("%s: %d bytes" % (name, len(data)))

    # One record that carries unknown fields (from a newer version).
    m = pb.RegisterRequest(node_id="node-new")
    m.instances.add(service="web", ip="10.0.0.11", port=80, capacity=1)
    raw = m.SerializeToString() + b"\xa0\x06\x2a\xaa\x06\x03new"
    with open(os.path.join(OUT, "unknown-fields"), "wb") as f:
        f.write(rec(0, raw))


if __name__ == "__main__":
    main()

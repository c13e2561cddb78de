#!/usr/bin/python3
"""The agent API against a client written by someone else.

A client built on Debian's python3-grpcio (messages from protoc
--python_out, build/gen/py/proto/cats_pb2.py) talks to a real
cats-controller on loopback: it registers, streams load reports, reads
ListServices, and checks what the controller shows in ovs-appctl and in
the weights it computes.  Then hostile input: garbage bytes on every
method, out-of-range values, unknown services, impersonation, oversized
messages, floods, a bad token, a certificate that names another node.
Each must get the right gRPC status, be counted, and change nothing.
Last, 700 streams from build/tests/bench/agent-load, past the server's
first completion queue, with one held ack sent per main-loop iteration
(cats/agent-ack-batch 1) so that acks falling due together are carried
over: every report acked, and the shutdown check runs with them open.

No Mininet: everything stays on 127.0.0.1.

usage: test_agent_api.py [--build-dir build] [--keep] [-v]
"""

import os
import random
import socket
import subprocess
import sys
import threading
import time

import catslib
from catslib import AppctlError, CatsController, TempDir, info, wait_until

CHECKS = [
    "register: RegisterReply with a session, lease and interval",
    "report: every report acknowledged, in order",
    "query: ListServices shows node, lease and metrics",
    "appctl: cats/agents shows the node and its instances",
    "weights: a loaded instance's weight falls, an idle one keeps more",
    "bad value: NaN/percent refused in the ack, state unchanged",
    "unknown service: NOT_FOUND, nothing registered",
    "impersonation: reporting another node's instance is refused",
    "stale session: FAILED_PRECONDITION ends the stream",
    "garbage: 300 random payloads all refused, controller unchanged",
    "oversized: RESOURCE_EXHAUSTED",
    "flood: stream rate limit refuses the excess, counted",
    "unhealthy: NOT_SERVING takes the instance out at once",
    "lease: a silent agent's instance leaves selection, returns on report",
    "telemetry: links accepted and shown",
    "counters: refusals visible in cats/agent-stats",
    "acl: unknown node, wrong token, foreign prefix refused; token ok",
    "mtls: certificate names the node; another node id refused",
    "restart: after kill -9 the old session is refused, register works",
    "shutdown: exit with open streams is prompt, clients see UNAVAILABLE",
    "many streams: 700, past one completion queue, every report acked",
    "options: an ack interval agents would time out on is refused",
    "ack batch: due acks past the batch carried to the next iteration, "
    "all sent; bad values refused",
]

# Calls beyond the first 512 go to the server's non-polling completion
# queues of 64 (proto/README.md): enough streams to fill the first and
# spill over into several of them.
MANY_STREAMS = 700

SERVICE = "web"
VIP = "10.0.0.100"
INSTANCES = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
LEASE_MS = 1500
INTERVAL_MS = 500


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config_text():
    lines = ["service %s vip=%s port=80" % (SERVICE, VIP)]
    for ip in INSTANCES:
        lines.append("instance %s %s:80 weight=100" % (SERVICE, ip))
    return "\n".join(lines) + "\n"


class Client:
    """The API through python3-grpcio, with and without serializers."""

    def __init__(self, pb, grpc, target, creds=None, token=None):
        self.pb = pb
        self.grpc = grpc
        if creds:
            self.channel = grpc.secure_channel(target, creds)
        else:
            self.channel = grpc.insecure_channel(target)
        self.md = [("authorization", "Bearer " + token)] if token else None
        c = self.channel
        self.register_ = c.unary_unary(
            "/cats.v1.Agent/RegisterNode",
            request_serializer=pb.RegisterRequest.SerializeToString,
            response_deserializer=pb.RegisterReply.FromString)
        self.stream_ = c.stream_stream(
            "/cats.v1.Agent/StreamReports",
            request_serializer=pb.LoadReport.SerializeToString,
            response_deserializer=pb.ReportAck.FromString)
        self.telemetry_ = c.stream_stream(
            "/cats.v1.Telemetry/StreamTelemetry",
            request_serializer=pb.TelemetryReport.SerializeToString,
            response_deserializer=pb.TelemetryAck.FromString)
        self.list_ = c.unary_unary(
            "/cats.v1.Query/ListServices",
            request_serializer=pb.ListServicesRequest.SerializeToString,
            response_deserializer=pb.ListServicesReply.FromString)
        self.raw = {m: c.unary_unary(m) for m in (
            "/cats.v1.Agent/RegisterNode", "/cats.v1.Query/ListServices")}
        self.raw_stream = {m: c.stream_stream(m) for m in (
            "/cats.v1.Agent/StreamReports",
            "/cats.v1.Telemetry/StreamTelemetry")}

    def close(self):
        self.channel.close()

    def register(self, node, ips, capacity=4, timeout=5):
        pb = self.pb
        return self.register_(pb.RegisterRequest(
            node_id=node, agent="test_agent_api/1",
            instances=[pb.InstanceSpec(service=SERVICE, ip=ip, port=80,
                                       capacity=capacity) for ip in ips]),
            timeout=timeout, metadata=self.md)

    def report(self, node, session, seq, loads, node_metrics=None):
        """loads: {ip: dict(in_flight=, health=, cpu=)}"""
        pb = self.pb
        insts = []
        for ip, v in loads.items():
            m = pb.Metrics()
            if "in_flight" in v:
                m.requests_in_flight = v["in_flight"]
            if "cpu" in v:
                m.cpu_utilization = v["cpu"]
            insts.append(pb.InstanceLoad(
                service=SERVICE, ip=ip, port=80, metrics=m,
                health=v.get("health", pb.HEALTH_SERVING)))
        return pb.LoadReport(node_id=node, session_id=session, seq=seq,
                             instances=insts, node=node_metrics)

    def stream(self, reports, timeout=10):
        """Sends the reports (a list, or a generator), returns the acks."""
        return list(self.stream_(iter(reports), timeout=timeout,
                                 metadata=self.md))

    def services(self):
        return self.list_(self.pb.ListServicesRequest(), timeout=5,
                          metadata=self.md)


def rpc_error(f, *a, **kw):
    """(code name, details) of the RpcError f raises, or ("OK", result)."""
    import grpc
    try:
        return ("OK", f(*a, **kw))
    except grpc.RpcError as e:
        return (e.code().name, e.details())


def instance_info(client, ip):
    for s in client.services().services:
        if s.name == SERVICE:
            for i in s.instances:
                if i.ip == ip:
                    return i
    return None


def agent_stats(ctl):
    out = {}
    for line in ctl.appctl("cats/agent-stats").splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


def weights(ctl):
    """{ip: weight} from cats/services."""
    w = {}
    for line in ctl.appctl("cats/services").splitlines():
        parts = line.split()
        if parts and parts[0] == "instance":
            ip = parts[1].split(":")[0]
            w[ip] = int(parts[2].split("=")[1])
    return w


def make_certs(d):
    """A CA, a server certificate for localhost, a client certificate for
    node n1, and one from another CA."""
    def run(*argv):
        subprocess.run(argv, check=True, capture_output=True, cwd=d)

    def ext(name, text):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=cats-test-ca")
    for name, cn, san in (("srv", "localhost",
                           "DNS:localhost,IP:127.0.0.1"),
                          ("n1", "n1", "DNS:n1")):
        ext(name + ".ext", "subjectAltName=%s\n" % san)
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
            name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn)
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
            "-CAkey", "ca.key", "-CAcreateserial", "-out", name + ".pem",
            "-days", "2", "-extfile", name + ".ext")

    def read(n):
        with open(os.path.join(d, n), "rb") as f:
            return f.read()
    return read


def start_controller(args, workdir, name, extra):
    d = os.path.join(workdir, name)
    os.makedirs(d, exist_ok=True)
    port = free_port()
    ctl = CatsController(
        args.controller, d, config_text(),
        listen="punix:" + os.path.join(d, "sw.sock"),
        extra_args=["--grpc-listen=127.0.0.1:%d" % port,
                    "--agent-lease=%d" % LEASE_MS,
                    "--agent-report-interval=%d" % INTERVAL_MS] + extra)
    ctl.start()
    return ctl, port


def body(t, args, workdir, grpc, pb):
    ctl, port = start_controller(args, workdir, "plain", [])
    target = "127.0.0.1:%d" % port
    cl = Client(pb, grpc, target)
    grpc.channel_ready_future(cl.channel).result(timeout=10)

    # -- register, report, query ---------------------------------------
    r = cl.register("n1", INSTANCES[:2])
    t.check(CHECKS[0], r.session_id != 0 and r.lease_ms == LEASE_MS
            and r.report_interval_ms == INTERVAL_MS, str(r))

    # 15 reports over ~2.2 s: long enough for the selector's damping
    # (tau 1 s) to move the shares, short enough that the checks below
    # run inside the lease.
    reps = [cl.report("n1", r.session_id, seq,
                      {INSTANCES[0]: dict(in_flight=12, cpu=0.5),
                       INSTANCES[1]: dict(in_flight=0, cpu=0.3)})
            for seq in range(1, 16)]

    def paced():
        for x in reps:
            yield x
            time.sleep(0.15)
    acks = cl.stream(paced())
    seqs = [a.seq for a in acks]
    t.check(CHECKS[1], seqs and seqs[-1] == 15 and seqs == sorted(seqs)
            and all(a.error_code == 0 for a in acks),
            "acks %s" % [(a.seq, a.error_code) for a in acks])

    i0 = instance_info(cl, INSTANCES[0])
    ok = (i0 is not None and i0.node_id == "n1"
          and i0.lease_state == pb.LEASE_STATE_ACTIVE
          and i0.capacity == 4 and i0.last.requests_in_flight == 12
          and abs(i0.smoothed.cpu_utilization - 0.5) < 1e-9
          and i0.HasField("scores") and i0.scores.HasField("occupancy"))
    i2 = instance_info(cl, INSTANCES[2])
    ok = ok and i2 is not None and i2.lease_state == pb.LEASE_STATE_STATIC
    t.check(CHECKS[2], ok, "%s / %s" % (i0, i2))

    shown = ctl.appctl("cats/agents")
    t.check(CHECKS[3], "node n1 " in shown and INSTANCES[0] in shown
            and "lease=active" in shown, shown)

    # The selector (min-latency): .11 has 12 requests in flight for 4
    # slots, an expected wait of 3 service times, cost 4 T; .12 (same
    # capacity) is idle, cost T.  .13 has no agent: counted idle, with
    # capacity 1.  Shares move toward the targets, damped (tau 1 s).
    def spread():
        w = weights(ctl)
        return (w.get(INSTANCES[0], 0) > 0
                and w[INSTANCES[0]] < 0.5 * w.get(INSTANCES[1], 0)
                and w.get(INSTANCES[2], 0) > 0)
    took = wait_until(spread, 1.0)
    w = weights(ctl)
    explain = ctl.appctl("cats/explain", SERVICE)
    t.check(CHECKS[4], took is not None and "load=3.000" in explain,
            "weights %s; %s" % (w, explain))
    info("weights after load (%.2f s): %s" % (took or -1, w))

    # -- hostile input --------------------------------------------------
    before = instance_info(cl, INSTANCES[0])
    bad = [cl.report("n1", r.session_id, 16,
                     {INSTANCES[0]: dict(cpu=50)}),
           cl.report("n1", r.session_id, 17,
                     {INSTANCES[0]: dict(cpu=float("nan"))})]
    acks = cl.stream(bad)
    after = instance_info(cl, INSTANCES[0])
    errs = [(a.error_code, a.error_seq, a.error_message) for a in acks
            if a.error_code]
    t.check(CHECKS[5], len(errs) >= 1 and all(e[0] == 3 for e in errs)
            and errs[-1][1] in (16, 17)
            and "cpu_utilization" in errs[0][2]
            and after.smoothed.cpu_utilization
            == before.smoothed.cpu_utilization
            and after.last.requests_in_flight == 12,
            "acks %s" % errs)

    code, det = rpc_error(cl.register_, pb.RegisterRequest(
        node_id="n9", instances=[pb.InstanceSpec(service="nosuch",
                                                 ip="10.0.0.50", port=80)]),
        timeout=5)
    t.check(CHECKS[6], code == "NOT_FOUND" and "nosuch" in det
            and "node n9" not in ctl.appctl("cats/agents"),
            "%s %s" % (code, det))

    # n2 registers its own instance, then reports on n1's.
    r2 = cl.register("n2", [INSTANCES[2]])
    acks = cl.stream([cl.report("n2", r2.session_id, 1,
                                {INSTANCES[0]: dict(in_flight=0)})])
    errs = [(a.error_code, a.error_message) for a in acks if a.error_code]
    same = instance_info(cl, INSTANCES[0]).last.requests_in_flight == 12
    t.check(CHECKS[7], errs and errs[0][0] == 7 and same, "acks %s" % errs)

    code, det = rpc_error(cl.stream, [cl.report("n1", r.session_id + 1, 50,
                                                {})])
    t.check(CHECKS[8], code == "FAILED_PRECONDITION", "%s %s" % (code, det))

    st0 = agent_stats(ctl)
    rnd = random.Random(7)
    codes = {}
    for i in range(300):
        blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 200)))
        kind = i % 4
        if kind == 0:
            c, _ = rpc_error(cl.raw["/cats.v1.Agent/RegisterNode"], blob,
                             timeout=5)
        elif kind == 1:
            c, _ = rpc_error(cl.raw["/cats.v1.Query/ListServices"], blob,
                             timeout=5)
        else:
            m = ("/cats.v1.Agent/StreamReports" if kind == 2
                 else "/cats.v1.Telemetry/StreamTelemetry")
            c, res = rpc_error(lambda: list(cl.raw_stream[m](
                iter([blob, blob]), timeout=5)))
            if c == "OK":
                # Acks that carry the error (a message that decodes but
                # fails validation keeps the stream).
                acks = [pb.ReportAck.FromString(x) for x in res]
                c = ("ACK_ERR" if acks and all(a.error_code for a in acks)
                     else "OK")
        codes[c] = codes.get(c, 0) + 1
    st1 = agent_stats(ctl)
    same_nodes = st1["nodes"] == st0["nodes"]
    info("garbage outcomes: %s" % codes)
    # Random bytes can decode as a valid (if empty) ListServicesRequest:
    # an answer to that is fine.  Nothing else may be accepted.
    accepted = int(st1["registrations"]) - int(st0["registrations"]) + \
        int(st1["reports_accepted"]) - int(st0["reports_accepted"]) + \
        int(st1["telemetry_accepted"]) - int(st0["telemetry_accepted"])
    t.check(CHECKS[9], accepted == 0 and same_nodes and ctl.alive()
            and int(st1["rejected_decode"]) > int(st0["rejected_decode"]),
            "codes %s accepted %d" % (codes, accepted))

    big = pb.RegisterRequest(node_id="n1", agent="x" * (100 * 1024))
    code, det = rpc_error(cl.register_, big, timeout=5)
    t.check(CHECKS[10], code == "RESOURCE_EXHAUSTED", "%s %s" % (code, det))

    # Flood: 2,000 reports as fast as Python sends them on one stream;
    # the stream limit (200/s, bursts of 200) refuses the excess.
    r3 = cl.register("n3", ["10.0.0.14"])
    acks = cl.stream([cl.report("n3", r3.session_id, s, {})
                      for s in range(1, 2001)], timeout=30)
    refused = [a for a in acks if a.error_code == 8]
    st2 = agent_stats(ctl)
    t.check(CHECKS[11], refused and int(st2["rejected_rate"]) > 0
            and ctl.alive(), "acks %d refused %d rejected_rate %s"
            % (len(acks), len(refused), st2.get("rejected_rate")))
    info("flood: %d acks, %d carry RESOURCE_EXHAUSTED, rejected_rate=%s"
         % (len(acks), len(refused), st2.get("rejected_rate")))

    # -- lease and health ---------------------------------------------
    r = cl.register("n1", INSTANCES[:2])
    cl.stream([cl.report("n1", r.session_id, 1,
                         {INSTANCES[0]: dict(in_flight=0),
                          INSTANCES[1]: dict(
                              in_flight=0, health=pb.HEALTH_NOT_SERVING)})])
    took = wait_until(lambda: weights(ctl).get(INSTANCES[1]) == 0
                      and weights(ctl).get(INSTANCES[0], 0) > 0, 1.0)
    w = weights(ctl)
    t.check(CHECKS[12], took is not None, "weights %s" % w)
    info("NOT_SERVING: weight 0 after %.3f s" % (took or -1))

    gone = wait_until(lambda: weights(ctl).get(INSTANCES[0]) == 0,
                      LEASE_MS / 1000.0 + 2)
    shown = ctl.appctl("cats/agents", "n1")
    cl.stream([cl.report("n1", r.session_id, 2,
                         {INSTANCES[0]: dict(in_flight=0)})])
    back = wait_until(lambda: weights(ctl).get(INSTANCES[0], 0) > 0,
                      2.0) is not None
    t.check(CHECKS[13], gone is not None and "lease=expired" in shown
            and back and gone <= LEASE_MS / 1000.0 + 0.5,
            "gone after %s s (lease %d ms), back %s" % (gone, LEASE_MS, back))
    info("lease: weight 0 %.2f s after the check began (lease %.1f s "
         "from the last report)" % (gone or -1, LEASE_MS / 1000.0))

    tel = pb.TelemetryReport(source_id="gw-a", seq=1, counters_epoch=1,
                             links=[pb.LinkTelemetry(
                                 id="a-b-1", kind=pb.LINK_KIND_PATH,
                                 tx_packets=1000, ecn_marked_packets=10,
                                 rtt_us=2100.0,
                                 pfc=[pb.PfcPriority(priority=3,
                                                     rx_pause_frames=5)])])
    tel2 = pb.TelemetryReport(source_id="gw-a", seq=2, counters_epoch=1,
                              links=[pb.LinkTelemetry(
                                  id="a-b-1", kind=pb.LINK_KIND_PATH,
                                  tx_packets=2000, ecn_marked_packets=60)])
    tacks = list(cl.telemetry_(iter([tel, tel2]), timeout=5))
    shown = ctl.appctl("cats/telemetry")
    t.check(CHECKS[14], tacks and tacks[-1].seq == 2
            and "a-b-1 path" in shown and "ecn_fraction=0.0500" in shown,
            shown)

    st = agent_stats(ctl)
    t.check(CHECKS[15], int(st["reports_rejected"]) > 300
            and int(st["status_INVALID_ARGUMENT"]) > 0
            and int(st["status_PERMISSION_DENIED"]) > 0
            and int(st["status_RESOURCE_EXHAUSTED"]) > 0
            and st["last_error"] != "none",
            "stats %s" % {k: v for k, v in st.items()
                          if k.startswith(("rejected", "status", "reports"))})
    info("agent-stats: " + ", ".join("%s=%s" % (k, v) for k, v in st.items()
                                      if k.startswith(("rejected_",
                                                       "status_"))))

    # -- restart --------------------------------------------------------
    ctl.kill9()
    ctl.start()
    grpc.channel_ready_future(cl.channel).result(timeout=10)
    code, det = rpc_error(cl.stream, [cl.report("n1", r.session_id, 3, {})])
    r = cl.register("n1", INSTANCES[:2])
    acks = cl.stream([cl.report("n1", r.session_id, 1, {})])
    t.check(CHECKS[18], code == "FAILED_PRECONDITION" and acks
            and acks[-1].seq == 1, "%s %s; then %s" % (code, det, acks))

    # -- many streams: the completion queues past the first --------------
    load = os.path.join(os.path.abspath(args.build_dir), "tests", "bench",
                        "agent-load")
    load_argv = [load, "--target=" + target, "--connections=7",
                 "--streams=%d" % MANY_STREAMS, "--rate=2",
                 "--service=" + SERVICE, "--port=80", "--node-prefix=many"]
    # One held ack per main-loop iteration, so that acks falling due
    # together are carried over (cats/agent-ack-batch): every one must still
    # be sent.  Bad values first: refused, the batch unchanged.
    batch_default = ctl.appctl("cats/agent-ack-batch").strip()
    batch_errors = []
    for bad in ("0", "65537", "x", "-1", ""):
        try:
            ctl.appctl("cats/agent-ack-batch", bad)
            batch_errors.append((bad, None))
        except AppctlError as e:
            batch_errors.append((bad, e.err.strip()))
    batch_kept = ctl.appctl("cats/agent-ack-batch").strip()
    batch_one = ctl.appctl("cats/agent-ack-batch", "1").strip()
    carried_before = int(agent_stats(ctl)["acks_carried"])
    before = int(agent_stats(ctl)["reports_accepted"])
    out = subprocess.run(load_argv + ["--duration=3", "--warmup=1"],
                         capture_output=True, text=True, timeout=120)
    lg = dict(line.split(": ", 1) for line in out.stdout.splitlines()
              if ": " in line)
    accepted = int(agent_stats(ctl)["reports_accepted"]) - before
    t.check(CHECKS[20], out.returncode == 0
            and lg.get("registered") == str(MANY_STREAMS)
            and lg.get("streams_open") == str(MANY_STREAMS)
            and lg.get("failed_calls") == "0"
            and lg.get("reports_rejected") == "0"
            and int(lg.get("total_reports_acked", 0)) >= MANY_STREAMS * 4
            and lg.get("total_reports_acked") == lg.get("total_reports_sent")
            and accepted >= int(lg.get("total_reports_acked", 0)),
            "agent-load exit %d, %s; controller accepted %d; %s"
            % (out.returncode, {k: lg.get(k) for k in (
                "registered", "streams_open", "failed_calls",
                "reports_rejected", "total_reports_sent",
                "total_reports_acked", "first_error")},
               accepted, out.stderr[-300:]))
    info("%d streams: %s reports acked, %d accepted"
         % (MANY_STREAMS, lg.get("total_reports_acked"), accepted))
    carried = int(agent_stats(ctl)["acks_carried"]) - carried_before
    batch_back = ctl.appctl("cats/agent-ack-batch", batch_default).strip()
    not_refused = [(bad, err) for bad, err in batch_errors
                   if not (err and "from 1 to 65536" in err)]
    t.check(CHECKS[22], batch_default == "32" and batch_kept == "32"
            and batch_one == "1" and batch_back == "32"
            and not not_refused
            and carried > 0 and out.returncode == 0
            and lg.get("total_reports_acked") == lg.get("total_reports_sent")
            and lg.get("unacked_at_close") == "0",
            "default %s, after bad values %s, set %s, back %s; not refused "
            "as out of range: %s; "
            "%d carried; %s of %s acked, %s unacked when the drain ended"
            % (batch_default, batch_kept, batch_one, batch_back,
               not_refused, carried, lg.get("total_reports_acked"),
               lg.get("total_reports_sent"), lg.get("unacked_at_close")))
    info("ack batch 1: %d acks carried to a later iteration" % carried)

    # The shutdown below then runs with them open too.
    many = subprocess.Popen(load_argv + ["--duration=60", "--warmup=0"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        many_open = wait_until(
            lambda: int(agent_stats(ctl)["streams_active"]) >= MANY_STREAMS,
            20)

        # -- shutdown with open streams ------------------------------------
        ended = {}

        def forever():
            s = 0
            while True:
                s += 1
                yield cl.report("n1", r.session_id, s + 1, {})
                time.sleep(0.05)

        def hold():
            ended["code"], ended["det"] = rpc_error(
                lambda: list(cl.stream_(forever(), timeout=30)))
            ended["t"] = time.monotonic()
        th = threading.Thread(target=hold, daemon=True)
        th.start()
        time.sleep(0.5)
        pid = ctl.pid()
        t0 = time.monotonic()
        ctl.appctl("exit")
        gone = wait_until(lambda: not catslib.pid_alive(pid), 5)
        th.join(5)
        t.check(CHECKS[19], gone is not None and gone < 2
                and ended.get("code") == "UNAVAILABLE"
                and many_open is not None,
                "exit took %s s, client saw %s, %d more streams open: %s"
                % (gone, ended, MANY_STREAMS, many_open is not None))
        info("shutdown with an open stream and %d more: %.3f s"
             % (MANY_STREAMS, gone or -1))
    finally:
        many.kill()
        many.wait()
    cl.close()

    # -- access list ----------------------------------------------------
    token = "s3cret-token-for-n1-0123456789"
    acl = os.path.join(workdir, "agents.acl")
    with open(acl, "w") as f:
        f.write("node n1 token=%s allow=10.0.0.0/28\n" % token)
        f.write("node * allow=10.0.0.0/30\n")
    ctl2, port2 = start_controller(args, workdir, "acl",
                                   ["--agent-acl=" + acl])
    tgt = "127.0.0.1:%d" % port2
    no_tok = Client(pb, grpc, tgt)
    bad_tok = Client(pb, grpc, tgt, token="x" * 30)
    good = Client(pb, grpc, tgt, token=token)
    c_none = rpc_error(no_tok.register, "n1", INSTANCES[:1])[0]
    c_bad = rpc_error(bad_tok.register, "n1", INSTANCES[:1])[0]
    c_good = rpc_error(good.register, "n1", INSTANCES[:1])[0]
    # '*' may announce only 10.0.0.0/30: .11 is outside.
    c_pfx, d_pfx = rpc_error(no_tok.register, "other", ["10.0.0.11"])
    with open(acl, "w") as f:
        f.write("node n1 token=%s\n" % token)
    ctl2.appctl("cats/reload")
    c_gone = rpc_error(no_tok.register, "other", ["10.0.0.2"])[0]
    t.check(CHECKS[16], (c_none, c_bad, c_good, c_pfx, c_gone)
            == ("PERMISSION_DENIED", "PERMISSION_DENIED", "OK",
                "PERMISSION_DENIED", "PERMISSION_DENIED")
            and "outside the prefixes" in d_pfx,
            "no token %s, bad token %s, good %s, prefix %s (%s), after "
            "reload %s" % (c_none, c_bad, c_good, c_pfx, d_pfx, c_gone))
    for c in (no_tok, bad_tok, good):
        c.close()
    ctl2.cleanup()

    # -- mutual TLS -----------------------------------------------------
    certdir = os.path.join(workdir, "certs")
    os.makedirs(certdir)
    read = make_certs(certdir)
    p = os.path.join
    ctl3, port3 = start_controller(
        args, workdir, "mtls",
        ["--grpc-cert=" + p(certdir, "srv.pem"),
         "--grpc-key=" + p(certdir, "srv.key"),
         "--grpc-ca=" + p(certdir, "ca.pem")])
    creds = grpc.ssl_channel_credentials(read("ca.pem"), read("n1.key"),
                                         read("n1.pem"))
    tls = Client(pb, grpc, "localhost:%d" % port3, creds=creds)
    c_n1 = rpc_error(tls.register, "n1", INSTANCES[:1])[0]
    c_n2, d_n2 = rpc_error(tls.register, "n2", INSTANCES[1:2])
    anon = Client(pb, grpc, "localhost:%d" % port3,
                  creds=grpc.ssl_channel_credentials(read("ca.pem")))
    c_anon = rpc_error(anon.register, "n1", INSTANCES[:1], timeout=3)[0]
    sec = agent_stats(ctl3).get("security")
    t.check(CHECKS[17], c_n1 == "OK" and c_n2 == "PERMISSION_DENIED"
            and "certificate" in d_n2 and c_anon == "UNAVAILABLE"
            and sec == "mutual-tls",
            "n1 %s, n2 %s (%s), no client cert %s, security %s"
            % (c_n1, c_n2, d_n2, c_anon, sec))
    tls.close()
    anon.close()
    ctl3.cleanup()
    ctl.cleanup()

    # -- options ----------------------------------------------------------
    # Agents restart a stream after 5 s without an ack; acks come up to
    # 1.25 intervals apart, so the controller takes 2,000 ms at most.
    runs = {ms: subprocess.run([args.controller, "--agent-ack-interval=%d"
                                % ms, "--version"],
                               capture_output=True, text=True, timeout=30)
            for ms in (2000, 2001)}
    t.check(CHECKS[21], runs[2000].returncode == 0
            and runs[2001].returncode != 0
            and "between 0 and 2000" in runs[2001].stderr,
            "2000: exit %d; 2001: exit %d, %r"
            % (runs[2000].returncode, runs[2001].returncode,
               runs[2001].stderr.strip()[-120:]))


def main():
    args = catslib.parse_args(__doc__.splitlines()[0])
    pydir = os.path.join(os.path.abspath(args.build_dir), "gen", "py",
                         "proto")
    reason = None
    try:
        import grpc
        sys.path.insert(0, pydir)
        import cats_pb2 as pb
    except ImportError as e:
        reason = "python3-grpcio or %s/cats_pb2.py missing (%s)" % (pydir, e)
    if not reason and not os.access(args.controller, os.X_OK):
        reason = "%s not built" % args.controller
    if not reason and not subprocess.run(["which", "openssl"],
                                         capture_output=True).returncode == 0:
        reason = "no openssl"
    t = catslib.Test(__doc__.splitlines()[0], CHECKS)
    if reason:
        for name in CHECKS:
            t.skip(name, reason)
        return 0
    t0 = time.monotonic()
    with TempDir(keep=args.keep) as tmp:
        try:
            body(t, args, tmp, grpc, pb)
        except Exception as e:
            import traceback
            traceback.print_exc()
            detail = "not reached: %s: %s" % (type(e).__name__, e)
            for name in CHECKS:
                if name not in t.reported:
                    t.check(name, False, detail)
                    detail = "an earlier step failed"
    print("# test_agent_api.py: %.1f s" % (time.monotonic() - t0),
          file=sys.stderr)
    return 1 if t.failed() else 0


if __name__ == "__main__":
    sys.exit(main())

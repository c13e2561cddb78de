#!/usr/bin/python3
"""cats-agent as the network metric agent: telemetry from a veth and the host.

A controller on a unix socket (--grpc-listen=unix:...), two network
namespaces of our own joined by a veth pair, and cats-agent inside the
first one with --telemetry-link=<its veth end> --telemetry-host.  TCP
traffic over the veth must show in `cats/telemetry`: the veth's
tx_packets and the "host-tcp" entry (TcpExt TCPDelivered of that
namespace) grow.  Then the agent against a fake controller (python3-grpcio)
that has no Agent service and refuses every other telemetry report: the
refusals are counted in agent/show, the reports keep coming with a
strictly increasing seq, one source id and one counters_epoch, and the
refused registration does not stop the telemetry stream.  Last, a
controller restart: telemetry resumes by itself.

No Mininet.  Everything created (namespaces, veths, processes, the scratch
directory) is removed by name or PID at the end.

usage: test_agent_telemetry.py [--build-dir build] [--keep] [-v]
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from catslib import REPO, appctl, kill_pid, pid_alive, wait_until

CHECKS = [
    "setup: controller, namespaces, veth pair",
    "agent: streams telemetry, the controller lists the node as a source",
    "veth: tx_packets grows with the TCP traffic sent over it",
    "host-tcp: present, tx_packets (TCPDelivered) grows with the transfer",
    "missing interface: not reported, shown in agent/show",
    "interval: the TelemetryAck's report_interval_ms is used",
    "agent/show: telemetry section with seq, links and read errors",
    "refused: acks refusing reports are counted and logged",
    "protocol: seq strictly increasing, one source id and epoch",
    "decoupled: a refused registration leaves telemetry streaming",
    "restart: after the controller restarts, telemetry resumes",
    "cleanup: processes, namespaces and veths gone",
]

ACK_INTERVAL_MS = 250
PY = "/usr/bin/python3"


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Checks:
    def __init__(self, names):
        self.names = list(names)
        self.reported = {}

    def check(self, name, ok, detail=""):
        if name in self.reported:
            return ok
        self.reported[name] = bool(ok)
        if ok:
            out("PASS: %s" % name)
        else:
            out("FAIL: %s: %s" % (name, " ".join(str(detail).split())
                                  or "failed"))
        return ok

    def skip(self, name, reason):
        if name not in self.reported:
            self.reported[name] = None
            out("SKIP: %s: %s" % (name, reason))

    def failed(self):
        return any(v is False for v in self.reported.values())


def run(argv, check=True, timeout=10, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and p.returncode != 0:
        raise RuntimeError("`%s` failed (rc %d): %s"
                           % (" ".join(argv), p.returncode,
                              (p.stderr + p.stdout).strip()[:400]))
    return p


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


LINK_RE = re.compile(r"^  (\S+) (link|path) (.*)$")


def parse_telemetry(text):
    """cats/telemetry -> {source: {"seq", "epoch", "links": {id: {k: v}}}}"""
    sources = {}
    cur = None
    for line in text.splitlines():
        if line.startswith("source "):
            parts = line.split()
            kv = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            cur = {"seq": int(kv.get("seq", 0)),
                   "epoch": int(kv.get("epoch", 0)), "links": {}}
            sources[parts[1]] = cur
            continue
        m = LINK_RE.match(line)
        if m and cur is not None:
            fields = {}
            for p in m.group(3).split():
                k, _, v = p.partition("=")
                if v.isdigit():
                    fields[k] = int(v)
            cur["links"][m.group(1)] = fields
    return sources


class Env:
    """What the test creates, for the cleanup."""

    def __init__(self, tmp, tag):
        self.tmp = tmp
        self.ns_a = "catstel-a-%s" % tag
        self.ns_b = "catstel-b-%s" % tag
        self.veth_a = "ctel%sa" % tag[-6:]
        self.veth_b = "ctel%sb" % tag[-6:]
        self.namespaces = []
        self.pidfiles = []
        self.procs = []
        self.servers = []

    def cleanup(self):
        gone = True
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    gone = False
        # Agents first (they were started after the controller).
        for pf in reversed(self.pidfiles):
            pid = read_pid(pf)
            kill_pid(pid, grace=5.0)
            gone = not pid_alive(pid) and gone
        for s in self.servers:
            s.stop(0)
        for ns in self.namespaces:
            # The veth ends live in these namespaces: they go with them.
            run(["ip", "netns", "del", ns], check=False)
        left = run(["ip", "netns", "list"], check=False).stdout
        for ns in self.namespaces:
            if re.search(r"^%s( |$)" % re.escape(ns), left, re.M):
                gone = False
        links = run(["ip", "-o", "link", "show"], check=False).stdout
        if self.veth_a in links or self.veth_b in links:
            gone = False
        return gone


def start_controller(args, env, d):
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "cats.conf")
    with open(conf, "w") as f:
        f.write("service web vip=10.0.0.100 port=80\n")
    pidfile = os.path.join(d, "pid")
    if pidfile not in env.pidfiles:
        env.pidfiles.append(pidfile)
    run([args.controller, "--config=" + conf,
         "--grpc-listen=unix:" + os.path.join(d, "grpc.sock"),
         "--agent-report-interval=%d" % ACK_INTERVAL_MS,
         "--unixctl=" + os.path.join(d, "ctl.sock"),
         "--log-file=" + os.path.join(d, "ctl.log"), "--detach",
         "--pidfile=" + pidfile, "-vconsole:off",
         "punix:" + os.path.join(d, "sw.sock")])
    ctl = os.path.join(d, "ctl.sock")
    wait_until(lambda: run(["ovs-appctl", "-t", ctl, "version"],
                           check=False).returncode == 0, 5)
    return ctl


def start_agent(args, env, name, grpc_sock, extra, netns=None):
    d = os.path.join(env.tmp, name)
    os.makedirs(d, exist_ok=True)
    pidfile = os.path.join(d, "agent.pid")
    env.pidfiles.append(pidfile)
    argv = [args.agent, "--controller=unix:" + grpc_sock,
            "--unixctl=" + os.path.join(d, "agent.ctl"),
            "--log-file=" + os.path.join(d, "agent.log"),
            "--pidfile=" + pidfile, "--detach", "-vconsole:off",
            "--interval=1000"] + extra
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    run(argv)
    return os.path.join(d, "agent.ctl"), os.path.join(d, "agent.log")


SINK = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    while c.recv(65536):
        pass
    c.close()
"""

SEND = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(200):
    c.sendall(b"x" * 10000)
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
"""


def fake_controller(pb, grpc, sock, received):
    """Telemetry only (no Agent service: RegisterNode is UNIMPLEMENTED);
    refuses every other report with ABORTED."""
    from concurrent import futures

    def stream(reqs, context):
        n = 0
        for rep in reqs:
            n += 1
            received.append((rep.source_id, rep.seq, rep.counters_epoch,
                             [link.id for link in rep.links]))
            if n % 2 == 0:
                yield pb.TelemetryAck(seq=rep.seq - 1,
                                      report_interval_ms=200,
                                      error_code=10,
                                      error_message="refused by the test",
                                      error_seq=rep.seq)
            else:
                yield pb.TelemetryAck(seq=rep.seq, report_interval_ms=200)

    handler = grpc.method_handlers_generic_handler("cats.v1.Telemetry", {
        "StreamTelemetry": grpc.stream_stream_rpc_method_handler(
            stream, request_deserializer=pb.TelemetryReport.FromString,
            response_serializer=pb.TelemetryAck.SerializeToString)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("unix:" + sock)
    server.start()
    return server


def body(t, args, env, grpc, pb):
    # -- setup ---------------------------------------------------------------
    ctl = start_controller(args, env, os.path.join(env.tmp, "ctl"))
    grpc_sock = os.path.join(env.tmp, "ctl", "grpc.sock")
    for ns in (env.ns_a, env.ns_b):
        run(["ip", "netns", "add", ns])
        env.namespaces.append(ns)
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", env.ns_a, "link", "add", env.veth_a, "type", "veth",
         "peer", "name", env.veth_b, "netns", env.ns_b])
    run(["ip", "-n", env.ns_a, "addr", "add", "10.213.0.1/30", "dev",
         env.veth_a])
    run(["ip", "-n", env.ns_b, "addr", "add", "10.213.0.2/30", "dev",
         env.veth_b])
    run(["ip", "-n", env.ns_a, "link", "set", env.veth_a, "up"])
    run(["ip", "-n", env.ns_b, "link", "set", env.veth_b, "up"])
    sink = subprocess.Popen(["ip", "netns", "exec", env.ns_b, PY, "-c", SINK,
                             "10.213.0.2", "5999"], stdout=subprocess.PIPE,
                            text=True)
    env.procs.append(sink)
    t.check(CHECKS[0], sink.stdout.readline().strip() == "ready",
            "no TCP sink in %s" % env.ns_b)

    # -- the agent in namespace A -------------------------------------------
    node = "tel-node"
    actl, alog = start_agent(args, env, "agent", grpc_sock,
                             ["--node-id=" + node,
                              "--telemetry-link=" + env.veth_a,
                              "--telemetry-link=nosuch0",
                              "--telemetry-host"], netns=env.ns_a)

    def source():
        return parse_telemetry(appctl(ctl, "cats/telemetry")).get(node)

    def has_links():
        s = source()
        return s if (s and env.veth_a in s["links"]
                     and "host-tcp" in s["links"]) else None

    s0 = wait_until(has_links, 8, value=True)
    t.check(CHECKS[1], s0, "cats/telemetry: %s"
            % appctl(ctl, "cats/telemetry").strip()[:300])
    if not s0:
        raise RuntimeError("no telemetry from the agent")
    v0 = s0["links"][env.veth_a]["tx_packets"]
    h0 = s0["links"]["host-tcp"]["tx_packets"]

    run(["ip", "netns", "exec", env.ns_a, PY, "-c", SEND, "10.213.0.2",
         "5999"], timeout=15)

    def grew():
        s = source()
        if not s:
            return None
        v = s["links"].get(env.veth_a, {}).get("tx_packets", 0)
        h = s["links"].get("host-tcp", {}).get("tx_packets", 0)
        return (v, h) if v >= v0 + 20 and h >= h0 + 100 else None

    g = wait_until(grew, 5, value=True) or (None, None)
    s1 = source() or {"links": {}}
    v1 = s1["links"].get(env.veth_a, {}).get("tx_packets")
    h1 = s1["links"].get("host-tcp", {}).get("tx_packets")
    t.check(CHECKS[2], g[0], "%s tx_packets %s -> %s after 2 MB of TCP"
            % (env.veth_a, v0, v1))
    t.check(CHECKS[3], g[1], "host-tcp tx_packets %s -> %s after 2 MB of TCP"
            % (h0, h1))

    show = appctl(actl, "agent/show")
    if args.verbose:
        out(show)
    t.check(CHECKS[4], "nosuch0" not in s1["links"]
            and re.search(r"link nosuch0: no such interface", show),
            "controller links %s; agent/show: %s"
            % (sorted(s1["links"]), show[-400:]))
    t.check(CHECKS[5], re.search(r"^telemetry: streaming .* interval %d ms"
                                 % ACK_INTERVAL_MS, show, re.M),
            show[show.find("telemetry:"):][:200])
    m = re.search(r"seq: last sent (\d+), last acked (\d+)",
                  show[show.find("telemetry:"):])
    ok = (m and int(m.group(1)) > 0 and int(m.group(2)) > 0
          and re.search(r"  link %s: tx_packets=\d+" % env.veth_a, show)
          and re.search(r"  host host-tcp: tx_packets=\d+", show)
          and re.search(r"read errors: link=0 qdisc=0 pfc=0 pause=0 "
                        r"netlink=0 host=0", show)
          and re.search(r"refused 0,", show))
    t.check(CHECKS[6], ok, show[show.find("telemetry:"):][:600])

    # -- a fake controller that refuses every other report ------------------
    received = []
    fsock = os.path.join(env.tmp, "fake.sock")
    env.servers.append(fake_controller(pb, grpc, fsock, received))
    fctl, flog = start_agent(args, env, "agent2", fsock,
                             ["--node-id=fake-node", "--telemetry-host"])

    def refused():
        txt = appctl(fctl, "agent/show")
        m = re.search(r"refused (\d+), streams", txt)
        return txt if m and int(m.group(1)) >= 3 else None

    txt = wait_until(refused, 6, value=True) or appctl(fctl, "agent/show")
    with open(flog) as f:
        logged = "telemetry report" in f.read()
    t.check(CHECKS[7], refused_ok(txt) and logged,
            "logged=%s agent/show: %s" % (logged,
                                          txt[txt.find("telemetry:"):][:500]))
    seqs = [r[1] for r in received]
    t.check(CHECKS[8], len(received) >= 4
            and all(a < b for a, b in zip(seqs, seqs[1:]))
            and {r[0] for r in received} == {"fake-node"}
            and len({r[2] for r in received}) == 1
            and all("host-tcp" in r[3] for r in received),
            "received %s" % received[:8])
    t.check(CHECKS[9], re.search(r"^state: (backoff|registering)", txt, re.M)
            and re.search(r"^telemetry: streaming", txt, re.M)
            and re.search(r"UNIMPLEMENTED", txt),
            txt[:600])

    # -- controller restart -------------------------------------------------
    pid = read_pid(os.path.join(env.tmp, "ctl", "pid"))
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 5)
    ctl = start_controller(args, env, os.path.join(env.tmp, "ctl"))

    def back():
        s = source()
        return s if s and env.veth_a in s["links"] else None

    s2 = wait_until(back, 12, value=True)
    show = appctl(actl, "agent/show")
    m = re.search(r"streams (\d+)", show[show.find("telemetry:"):])
    t.check(CHECKS[10], s2 and m and int(m.group(1)) >= 2,
            "source after restart: %s; %s" % (s2, show[show.find(
                "telemetry:"):][:300]))


def refused_ok(txt):
    m = re.search(r"refused (\d+), streams", txt)
    return (m and int(m.group(1)) >= 3
            and re.search(r"refused by code: ABORTED=\d+", txt)
            and re.search(r"last error: telemetry report \d+ refused: "
                          r"ABORTED: refused by the test", txt))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    bdir = os.path.abspath(args.build_dir)
    args.controller = os.path.join(bdir, "cats-controller")
    args.agent = os.path.join(bdir, "cats-agent")

    t = Checks(CHECKS)
    reason = None
    grpc = pb = None
    if os.geteuid() != 0:
        reason = "needs root (network namespaces)"
    elif not shutil.which("ip") or not shutil.which("ovs-appctl"):
        reason = "needs ip (iproute2) and ovs-appctl"
    else:
        for b in (args.controller, args.agent):
            if not os.access(b, os.X_OK):
                reason = "%s not built" % b
    if not reason:
        try:
            import grpc
            sys.path.insert(0, os.path.join(bdir, "gen", "py", "proto"))
            import cats_pb2 as pb
        except ImportError as e:
            reason = "python3-grpcio or cats_pb2.py missing (%s)" % e
    if not reason and run(["ip", "netns", "add", "catstel-probe-%d"
                           % os.getpid()], check=False).returncode:
        reason = "cannot create network namespaces here"
    elif not reason:
        run(["ip", "netns", "del", "catstel-probe-%d" % os.getpid()])
    if reason:
        for name in CHECKS:
            t.skip(name, reason)
        return 0

    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="cats-tel-")
    env = Env(tmp, str(os.getpid()))
    try:
        body(t, args, env, grpc, pb)
    except Exception as e:
        import traceback
        traceback.print_exc()
        detail = "not reached: %s: %s" % (type(e).__name__, e)
        for name in CHECKS[:-1]:
            if name not in t.reported:
                t.check(name, False, detail)
                detail = "an earlier step failed"
        for log in ("agent/agent.log", "agent2/agent.log", "ctl/ctl.log"):
            path = os.path.join(tmp, log)
            if os.path.exists(path):
                with open(path) as f:
                    out("  %s:\n    %s" % (log, "\n    ".join(
                        f.read().splitlines()[-15:])))
    finally:
        t.check(CHECKS[-1], env.cleanup(), "something was left behind")
        if args.keep or t.failed():
            print("# kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("# test_agent_telemetry.py: %.1f s" % (time.monotonic() - t0),
          file=sys.stderr)
    return 1 if t.failed() else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""libcatsclient's state machine, driven through a real cats-agent.

A fake controller written on Debian's python3-grpcio (messages from
protoc --python_out, build/gen/py/proto/cats_pb2.py) serves
cats.v1.Agent on 127.0.0.1, records every call with its time and
metadata, and is scripted to take build/cats-agent through each
transition drawn in include/cats/client.h.  The agent has one
--instance and sees a fixed /proc/stat, /proc/loadavg and /proc/meminfo
(copies, bind-mounted in a mount namespace of its own): its node values
never move, so that only the interval makes it report, however busy the
other tests keep this machine.  Checked:

  - RegisterNode first, then reports in that session, seq strictly
    increasing; the bearer token (--token) on every call;
  - the interval of the RegisterReply, then of the acks, obeyed;
  - FAILED_PRECONDITION, as an ack's refusal and as the stream's status:
    a new RegisterNode at once and the new session used; on a session
    younger than a second, a backoff instead, doubled the second time;
  - a controller that stops acking: the stream ends after max(5 s, 3
    intervals), both cases measured, and a new one starts;
  - the controller gone (its port answers with an immediate close):
    attempts 1, 2, 4 s apart, then 8 s, within the +-20% jitter, and the
    agent registers and streams again once it is back;
  - agent/show's counters agree with what the controller saw.

Every process and server it starts is stopped by PID or by handle.

usage: test_client.py [--build-dir build] [--keep] [-v]
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from catslib import REPO, appctl, info, kill_pid, pid_alive, result, skip
from catslib import wait_until

CHECKS = [
    "register: RegisterNode first, with the node id and its instance",
    "token: every call carries authorization: Bearer TOKEN",
    "stream: reports carry the session, seq strictly increasing",
    "interval: the RegisterReply's report_interval_ms is used",
    "interval: the ack's report_interval_ms is obeyed",
    "refused ack: FAILED_PRECONDITION registers again at once, new session "
    "used",
    "stream status: FAILED_PRECONDITION registers again at once, new "
    "session used",
    "young session: FAILED_PRECONDITION within 1 s of registering backs off",
    "young session, twice: the second backoff is doubled",
    "no ack: the stream ends after 5 s (3 intervals shorter), a new one "
    "follows",
    "no ack: after 3 intervals when that is longer than 5 s",
    "backoff: attempts 1, 2, 4, 8 s apart (+-20%) while the controller is "
    "gone",
    "resume: registers and streams again once the controller is back",
    "seq: strictly increasing over the whole run, across sessions",
    "agent/show: registrations, reconnects, call and ack errors agree",
    "cleanup: the agent and the servers stopped",
]

PY = "/usr/bin/python3"
NODE = "client-node"
INSTANCE = ("web", "10.0.0.11", 80)
TOKEN = "s3cret-token-0123456789"
INITIAL_MS = 1000               # --interval
REG_MS = 500                    # the RegisterReply's interval
ACK_MS = 200                    # the acks' interval
LONG_MS = 2000                  # 3 of them: longer than the 5 s minimum
FP, CODE_FP = "FAILED_PRECONDITION", 9
# What the agent's node values come from (controller/agent/cats-agent.c,
# sample_node()); a busy machine moves the CPU utilization by more than
# the 0.1 that makes it report early, whatever --threshold says.
FIXED_PROC = ("stat", "loadavg", "meminfo")

# Slack for a loaded 2-core machine (4 test runs at once): what is added
# to an upper bound, and taken from a lower one, on top of what the
# client itself allows (its thread checks timers every tick_ms = 200 ms).
SLACK = 0.3


class Checks:
    def __init__(self, names):
        self.names = list(names)
        self.reported = {}

    def check(self, name, ok, figures):
        """PASS: name (figures) / FAIL: name: figures."""
        assert name in self.names, name
        if name in self.reported:
            return ok
        self.reported[name] = bool(ok)
        if ok:
            result("%s (%s)" % (name, figures), True)
        else:
            result(name, False, figures)
        return ok

    def skip_all(self, reason):
        for name in self.names:
            skip(name, reason)
            self.reported[name] = None

    def failed(self):
        return any(v is False for v in self.reported.values())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakeController:
    """cats.v1.Agent on python3-grpcio, recording and scripted.

    registrations: dicts t, node_id, instances, md, session.
    streams: dicts t0, t_end, md, reports (t, session, seq), acked.
    script: (predicate(report), action) pairs, the first one whose
    predicate holds for a report is applied to it and removed; actions:
    "ack_fp" (an ack refusing it with FAILED_PRECONDITION) and "status_fp"
    (the stream ends with that status).  'silent': no acks at all.
    """

    def __init__(self, grpc, pb, port):
        self.grpc, self.pb, self.port = grpc, pb, port
        self.lock = threading.Lock()
        self.registrations = []
        self.streams = []
        self.refusals = []      # (t, action, session, seq)
        self.script = []
        self.silent = False
        self.reg_interval = REG_MS
        self.ack_interval = 0
        self.next_session = 0x5e55000000000001
        self.server = None

    def start(self):
        from concurrent import futures
        grpc, pb = self.grpc, self.pb
        handler = grpc.method_handlers_generic_handler("cats.v1.Agent", {
            "RegisterNode": grpc.unary_unary_rpc_method_handler(
                self.register,
                request_deserializer=pb.RegisterRequest.FromString,
                response_serializer=pb.RegisterReply.SerializeToString),
            "StreamReports": grpc.stream_stream_rpc_method_handler(
                self.stream,
                request_deserializer=pb.LoadReport.FromString,
                response_serializer=pb.ReportAck.SerializeToString)})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((handler,))
        if self.server.add_insecure_port("127.0.0.1:%d" % self.port) != \
                self.port:
            raise RuntimeError("cannot listen on 127.0.0.1:%d" % self.port)
        self.server.start()

    def stop(self):
        if self.server:
            self.server.stop(0).wait(5)
            self.server = None

    def register(self, req, context):
        with self.lock:
            session = self.next_session
            self.next_session += 1
            self.registrations.append(dict(
                t=time.monotonic(), node_id=req.node_id,
                instances=[(i.service, i.ip, i.port) for i in req.instances],
                md=dict(context.invocation_metadata()), session=session))
            interval = self.reg_interval
        return self.pb.RegisterReply(session_id=session, lease_ms=3000,
                                     report_interval_ms=interval)

    def stream(self, reqs, context):
        st = dict(t0=time.monotonic(), t_end=None,
                  md=dict(context.invocation_metadata()), reports=[],
                  acked=0)

        def ended():
            with self.lock:
                if st["t_end"] is None:
                    st["t_end"] = time.monotonic()

        context.add_callback(ended)
        with self.lock:
            self.streams.append(st)
        it = iter(reqs)
        while True:
            try:
                rep = next(it)
            except StopIteration:
                break
            except self.grpc.RpcError:      # the agent cancelled it
                break
            now = time.monotonic()
            with self.lock:
                st["reports"].append((now, rep.session_id, rep.seq))
                action = None
                for i, (pred, act) in enumerate(self.script):
                    if pred(rep):
                        action = act
                        del self.script[i]
                        break
                if action:
                    self.refusals.append((now, action, rep.session_id,
                                          rep.seq))
                silent = self.silent
                interval = self.ack_interval
            if action == "ack_fp":
                yield self.pb.ReportAck(
                    seq=rep.seq - 1, error_code=CODE_FP,
                    error_message="unknown session %#x" % rep.session_id,
                    error_seq=rep.seq)
            elif action == "status_fp":
                ended()
                context.abort(self.grpc.StatusCode.FAILED_PRECONDITION,
                              "unknown session %#x" % rep.session_id)
            elif not silent:
                with self.lock:
                    st["acked"] += 1
                yield self.pb.ReportAck(seq=rep.seq, lease_ms=3000,
                                        report_interval_ms=interval)
        ended()

    # Views, under the lock.
    def regs(self):
        with self.lock:
            return list(self.registrations)

    def all_streams(self):
        with self.lock:
            return [dict(s, reports=list(s["reports"])) for s in self.streams]

    def reports(self, session=None, after=0.0):
        out = []
        for s in self.all_streams():
            out += [r for r in s["reports"]
                    if r[0] >= after and (session is None or r[1] == session)]
        return sorted(out)


class ClosingListener:
    """The controller's port while it is gone: every connection accepted
    and closed at once (no HTTP/2), its time recorded, so that each of the
    agent's attempts is seen and fails."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.accepts = []
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepts.append(time.monotonic())
            c.close()

    def stop(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def attempts(times, within=0.5):
    """Accept times grouped into attempts: one attempt may connect more
    than once within 'within' seconds (gRPC's own retry inside a call)."""
    out = []
    for t in times:
        if not out or t - out[-1][-1] > within:
            out.append([t])
        else:
            out[-1].append(t)
    return [a[0] for a in out]


def exe(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None


def gaps(reports):
    ts = [r[0] for r in reports]
    return [b - a for a, b in zip(ts, ts[1:])]


def show_counters(text):
    c = {}
    m = re.search(r"^registrations: (\d+), reconnects: (\d+)", text, re.M)
    if m:
        c["registrations"], c["reconnects"] = int(m.group(1)), int(m.group(2))
    for title in ("call errors", "ack errors"):
        m = re.search(r"^%s:(.*)$" % title, text, re.M)
        c[title] = dict((k, int(v)) for k, v in
                        re.findall(r"(\w+)=(\d+)", m.group(1))) if m else None
    return c


def body(t, args, grpc, pb, env):
    port = free_port()
    fake = FakeController(grpc, pb, port)
    env["fake"] = fake
    fake.start()

    tokfile = os.path.join(env["tmp"], "token")
    with open(tokfile, "w") as f:
        f.write(TOKEN + "\n")
    ctl = os.path.join(env["tmp"], "agent.ctl")
    env["log"] = os.path.join(env["tmp"], "agent.log")
    argv = [args.agent, "--controller=127.0.0.1:%d" % port,
            "--node-id=" + NODE,
            "--instance=%s,%s:%d,capacity=4" % INSTANCE,
            "--interval=%d" % INITIAL_MS,
            "--token=" + tokfile, "--unixctl=" + ctl,
            "--log-file=" + env["log"], "-vconsole:off"]
    # unshare and sh exec: the agent keeps the PID we get.
    binds = []
    for name in FIXED_PROC:
        copy = os.path.join(env["tmp"], "proc-" + name)
        shutil.copyfile("/proc/" + name, copy)
        binds.append("mount --bind %s /proc/%s" % (copy, name))
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            " && ".join(binds) + ' && exec "$@"', "sh"] + argv
    with open(os.path.join(env["tmp"], "agent.stderr"), "w") as err:
        agent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    env["agent"] = agent
    if not wait_until(lambda: exe(agent.pid) == "cats-agent", 5):
        raise RuntimeError("pid %d is %s, not cats-agent"
                           % (agent.pid, exe(agent.pid)))
    n_backoffs = 0          # the failures we cause that must back off

    # -- registration, first session, token ---------------------------------
    ok = wait_until(lambda: len(fake.reports()) >= 6, 10)
    regs, streams = fake.regs(), fake.all_streams()
    r0 = regs[0] if regs else None
    s1 = r0["session"] if r0 else None
    t.check(CHECKS[0], r0 and r0["node_id"] == NODE
            and r0["instances"] == [INSTANCE] and streams
            and r0["t"] <= streams[0]["t0"],
            "%d registrations, node %s, instances %s"
            % (len(regs), r0 and r0["node_id"], r0 and r0["instances"]))
    mds = [r["md"] for r in regs] + [s["md"] for s in streams]
    t.check(CHECKS[1], mds and all(m.get("authorization") == "Bearer " + TOKEN
                                   for m in mds),
            "%d calls, authorization %s" % (
                len(mds), sorted({m.get("authorization") for m in mds},
                                 key=str)))
    reps = fake.reports()
    seqs = [r[2] for r in reps]
    t.check(CHECKS[2], ok and all(r[1] == s1 for r in reps)
            and all(a < b for a, b in zip(seqs, seqs[1:])),
            "%d reports in session %#x, seq %s" % (len(reps), s1 or 0, seqs))
    # The first report of a session goes at once; the gaps after it.
    g = gaps(reps[1:])
    med = statistics.median(g) if g else 0
    t.check(CHECKS[3], len(g) >= 4
            and REG_MS / 1000 - 0.05 <= med <= REG_MS / 1000 + SLACK / 2,
            "median gap %.3f s over %d, RegisterReply %d ms, --interval=%d"
            % (med, len(g), REG_MS, INITIAL_MS))

    # -- the acks' interval -------------------------------------------------
    with fake.lock:
        fake.ack_interval = ACK_MS
    t_set = time.monotonic()
    # The next ack carries it; give the agent one old interval to take it.
    time.sleep(REG_MS / 1000 + 0.3)
    t_from = time.monotonic()
    wait_until(lambda: len(fake.reports(after=t_from)) >= 11, 6)
    g = gaps(fake.reports(after=t_from))
    med = statistics.median(g) if g else 0
    t.check(CHECKS[4], len(g) >= 10
            and ACK_MS / 1000 - 0.03 <= med <= ACK_MS / 1000 + SLACK / 3,
            "median gap %.3f s over %d after the acks asked for %d ms "
            "(%.1f s ago)" % (med, len(g), ACK_MS, t_from - t_set))

    # -- FAILED_PRECONDITION in an ack, on a session older than 1 s ---------
    def new_registration(after):
        return next((r for r in fake.regs() if r["t"] > after), None)

    def refusal(n):
        with fake.lock:
            return fake.refusals[n] if len(fake.refusals) > n else None

    with fake.lock:
        fake.script.append((lambda rep: True, "ack_fp"))
    ref = wait_until(lambda: refusal(0), 3, value=True)
    reg = ref and wait_until(lambda: new_registration(ref[0]), 3, value=True)
    s2 = reg["session"] if reg else None
    ok = reg and wait_until(lambda: len(fake.reports(session=s2)) >= 3, 3)
    late = [r for r in fake.reports(after=reg["t"]) if r[1] != s2] \
        if reg else None
    # "At once": well under the shortest backoff (800 ms).
    t.check(CHECKS[5], reg and reg["t"] - ref[0] < 0.5 and ok and not late,
            "RegisterNode %.3f s after the refusing ack, session %#x -> %#x, "
            "%d reports in it, %s in the old one after"
            % ((reg["t"] - ref[0]) if reg else -1, s1 or 0, s2 or 0,
               len(fake.reports(session=s2)), late))

    # -- FAILED_PRECONDITION as the stream's status; then twice on a young
    # session, which must back off instead, the second time longer ---------
    wait_until(lambda: time.monotonic() - reg["t"] > 1.3, 3)
    with fake.lock:
        # Sessions are numbered in order: s2 + 1, then s2 + 2.
        fake.script.append((lambda rep: rep.session_id == s2, "status_fp"))
        fake.script.append((lambda rep: rep.session_id == s2 + 1, "ack_fp"))
        fake.script.append((lambda rep: rep.session_id == s2 + 2, "ack_fp"))
    ref = wait_until(lambda: refusal(1), 3, value=True)
    reg = ref and wait_until(lambda: new_registration(ref[0]), 3, value=True)
    s3 = reg["session"] if reg else None
    young = wait_until(lambda: refusal(2), 3, value=True)
    t.check(CHECKS[6], reg and reg["t"] - ref[0] < 0.5 and young
            and young[2] == s3,
            "RegisterNode %.3f s after the status, session %#x -> %#x, "
            "reported in: %s"
            % ((reg["t"] - ref[0]) if reg else -1, s2 or 0, s3 or 0,
               young and "%#x" % young[2]))
    n_backoffs += 1
    reg4 = young and wait_until(lambda: new_registration(young[0]), 4,
                                value=True)
    s4 = reg4["session"] if reg4 else None
    age = (young[0] - reg["t"]) if young and reg else -1
    wait = (reg4["t"] - young[0]) if reg4 else -1
    # The backoff is 1 s +-20%: 0.8 to 1.2 s.
    t.check(CHECKS[7], young and age < 1.0 and reg4
            and 0.8 - 0.05 <= wait <= 1.2 + SLACK,
            "refused %.3f s into session %#x, next RegisterNode %.3f s later"
            " (backoff 0.8-1.2 s), session %#x"
            % (age, s3 or 0, wait, s4 or 0))

    # A refusal of the session is no sign that things work again: the
    # next backoff doubles, as after any other failure.
    young2 = reg4 and wait_until(lambda: refusal(3), 3, value=True)
    n_backoffs += 1 if young2 else 0
    reg5 = young2 and wait_until(lambda: new_registration(young2[0]), 5,
                                 value=True)
    s5 = reg5["session"] if reg5 else None
    age = (young2[0] - reg4["t"]) if young2 else -1
    wait = (reg5["t"] - young2[0]) if reg5 else -1
    ok = reg5 and wait_until(lambda: len(fake.reports(session=s5)) >= 2, 3)
    t.check(CHECKS[8], young2 and young2[2] == s4 and age < 1.0 and reg5
            and 1.6 - 0.05 <= wait <= 2.4 + SLACK and ok,
            "refused %.3f s into session %#x, next RegisterNode %.3f s later"
            " (backoff 1.6-2.4 s), session %#x then streams"
            % (age, s4 or 0, wait, s5 or 0))

    # -- no acks: max(5 s, 3 x 200 ms) = 5 s ---------------------------------
    def silence(expect_s, label):
        with fake.lock:
            fake.silent = True
            t_quiet = time.monotonic()
        first = wait_until(lambda: fake.reports(after=t_quiet), 4, value=True)
        t_first = first[0][0] if first else None

        def end():
            for s in fake.all_streams():
                if s["t_end"] and s["t_end"] > t_quiet:
                    return s
            return None

        s = wait_until(end, expect_s + 3, value=True)
        with fake.lock:
            fake.silent = False
        if not (first and s):
            return None, "first unacked report %s, stream end %s" % (
                bool(first), bool(s))
        took = s["t_end"] - t_first
        reg = wait_until(lambda: new_registration(s["t_end"]), 3, value=True)
        new = reg and wait_until(
            lambda: len(fake.reports(session=reg["session"])) >= 2, 3)
        return (took, reg, new), (
            "stream ended %.3f s after its first unacked report (%s), "
            "RegisterNode %.2f s later, new stream: %s"
            % (took, label, (reg["t"] - s["t_end"]) if reg else -1,
               bool(new)))

    # The client measures from its send; the report reaches us a little
    # later, so the stream may end just under 5.0 s after it arrived.
    res, fig = silence(5.0, "interval %d ms" % ACK_MS)
    t.check(CHECKS[9], res and 5.0 - 0.1 <= res[0] <= 5.0 + 0.2 + SLACK
            and res[1] and res[2], fig)
    n_backoffs += 1

    # -- no acks: 3 x 2000 ms = 6 s ---------------------------------------
    with fake.lock:
        fake.ack_interval = LONG_MS
    wait_until(lambda: re.search(r"interval: %d ms" % LONG_MS,
                                 appctl(ctl, "agent/show")), 3)
    res, fig = silence(3 * LONG_MS / 1000, "interval %d ms" % LONG_MS)
    t.check(CHECKS[10], res and 6.0 - 0.1 <= res[0] <= 6.0 + 0.2 + SLACK
            and res[1] and res[2], fig)
    n_backoffs += 1
    with fake.lock:
        fake.ack_interval = ACK_MS
    # One acked report at least, so that the backoff starts again from 1 s.
    t_from = time.monotonic()
    wait_until(lambda: len(fake.reports(after=t_from)) >= 2, 4)

    # -- the controller goes away -----------------------------------------
    n_regs = len(fake.regs())
    t_stop = time.monotonic()
    fake.stop()
    listener = ClosingListener(port)
    env["listener"] = listener
    # Attempts expected 1, 3 and 7 s after the stop (1 + 2 + 4).
    wait_until(lambda: len(attempts(listener.accepts)) >= 3, 7 + 2.5)
    listener.stop()
    att = attempts(listener.accepts)
    fake.start()
    t_back = time.monotonic()
    reg = wait_until(lambda: new_registration(t_back), 9.6 + 2, value=True)
    n_backoffs += 1 + len(att)
    marks = [t_stop] + att[:3] + ([reg["t"]] if reg else [])
    steps = [b - a for a, b in zip(marks, marks[1:])]
    want = [1.0, 2.0, 4.0, 8.0]
    within = [0.8 * w - 0.05 <= s <= 1.2 * w + SLACK
              for s, w in zip(steps, want)]
    t.check(CHECKS[11], len(att) == 3 and reg and len(steps) == 4
            and all(within) and steps == sorted(steps),
            "stop -> attempts -> back: %s s (want %s +-20%%), %d connections"
            " for %d attempts" % (" ".join("%.2f" % s for s in steps),
                                  want, len(listener.accepts), len(att)))

    ok = reg and wait_until(
        lambda: len([s for s in fake.all_streams()
                     if s["t0"] > reg["t"] and s["acked"] >= 2]), 4)
    t.check(CHECKS[12], reg and ok and len(fake.regs()) == n_regs + 1,
            "session %#x, reports acked in it: %s"
            % (reg["session"] if reg else 0,
               len(fake.reports(session=reg["session"])) if reg else 0))

    seqs = [r[2] for r in fake.reports()]
    sessions = len({r[1] for r in fake.reports()})
    t.check(CHECKS[13], len(seqs) > 20 and
            all(a < b for a, b in zip(seqs, seqs[1:])),
            "%d reports, %d sessions, seq %d..%d"
            % (len(seqs), sessions, seqs[0] if seqs else 0,
               seqs[-1] if seqs else 0))

    # -- agent/show ---------------------------------------------------------
    text = appctl(ctl, "agent/show")
    c = show_counters(text)
    ce, ae = c.get("call errors") or {}, c.get("ack errors") or {}
    regs = fake.regs()
    t.check(CHECKS[14], c.get("registrations") == len(regs)
            and c.get("reconnects") == n_backoffs
            and ae == {FP: 3}
            and ce.get(FP) == 1 and ce.get("DEADLINE_EXCEEDED") == 2
            and ce.get("CANCELLED", 0) >= 2
            and ce.get("UNAVAILABLE", 0) >= len(att)
            and re.search(r"bearer token", text)
            and re.search(r"^reports: posted \d+ \(0 on a moved value\)",
                          text, re.M)
            and re.search(r"^state: streaming", text, re.M),
            "registrations %s (controller saw %d), reconnects %s (backoffs "
            "%d), call errors %s, ack errors %s, %s"
            % (c.get("registrations"), len(regs), c.get("reconnects"),
               n_backoffs, ce, ae,
               (re.findall(r"^reports: posted .*$", text, re.M)
                or ["no reports line"])[0]))
    if args.verbose:
        info(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    bdir = os.path.abspath(args.build_dir)
    args.agent = os.path.join(bdir, "cats-agent")

    t = Checks(CHECKS)
    reason = None
    grpc = pb = None
    if not os.access(args.agent, os.X_OK):
        reason = "%s not built" % args.agent
    elif not shutil.which("ovs-appctl") or not shutil.which("unshare"):
        reason = "needs ovs-appctl and unshare"
    elif subprocess.run(["unshare", "--mount", "--propagation", "private",
                         "mount", "--bind", "/proc/loadavg", "/proc/loadavg"],
                        capture_output=True).returncode:
        reason = "needs root and mount namespaces (a fixed node load)"
    else:
        try:
            import grpc
            sys.path.insert(0, os.path.join(bdir, "gen", "py", "proto"))
            import cats_pb2 as pb
        except ImportError as e:
            reason = "python3-grpcio or cats_pb2.py missing (%s)" % e
    if reason:
        t.skip_all(reason)
        return 0

    t0 = time.monotonic()
    env = {"tmp": tempfile.mkdtemp(prefix="cats-client-")}
    try:
        body(t, args, grpc, pb, env)
    except Exception as e:
        import traceback
        traceback.print_exc()
        detail = "not reached: %s: %s" % (type(e).__name__, e)
        for name in CHECKS[:-1]:
            if name not in t.reported:
                t.check(name, False, detail)
                detail = "an earlier step failed"
    finally:
        failed = t.failed()
        if failed and env.get("log") and os.path.exists(env["log"]):
            with open(env["log"]) as f:
                info("agent.log:\n" + "\n".join(f.read().splitlines()[-25:]))
        agent = env.get("agent")
        pid = agent.pid if agent else None
        if agent:
            kill_pid(pid, grace=5.0)
        if env.get("listener"):
            env["listener"].stop()
        if env.get("fake"):
            env["fake"].stop()
        t.check(CHECKS[-1], not pid_alive(pid) if pid else True,
                "agent pid %s %s" % (pid, "gone" if not pid_alive(pid)
                                     else "still running"))
        if args.keep or t.failed():
            print("# kept %s" % env["tmp"], file=sys.stderr)
        else:
            shutil.rmtree(env["tmp"], ignore_errors=True)
    print("# test_client.py: %.1f s" % (time.monotonic() - t0),
          file=sys.stderr)
    return 1 if t.failed() else 0


if __name__ == "__main__":
    sys.exit(main())

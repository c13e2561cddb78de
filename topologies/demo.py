#!/usr/bin/python3
"""`make demo`: cats-controller steering live traffic, explained as it runs.

    /usr/bin/python3 topologies/demo.py --controller build/cats-controller

About 75 s, no input needed.  On the machine's Open vSwitch (userspace
datapath) it builds its own bridge "catsdemo" with clients dc1, dc2 and
instances di1..di4 (10.0.0.11-14) behind the VIP 10.0.0.100:80, starts the
controller, and then, under a steady open-loop load of new connections:

  1. shows the pipeline the controller installed,
  2. equal weights: every instance gets ~25% of new connections,
  3. cats/set-weight di1 300: di1's share moves to 300/600 = 50%
     (--weight W for another value; the other three stay at 100),
  4. cats/drain di2: di2 gets no new connections, while 20 long-lived
     connections held on it since before the drain stay alive,
  5. weights restored,
  6. kill -9 of the controller: the switch keeps its flows (fail-mode
     secure), new connections and pings are still served; the controller is
     started again and resynchronizes (cats/sync),
  7. a summary.

Every second it prints, per instance, the weight, the intended share and
the realized share of new connections in the last second, counted by the
instance servers and by the controller (its per-instance counter flows,
polled every second), plus one ping to the VIP.

Exit status 0 only when no new connection failed, no ping was lost and no
long-lived connection broke.  Everything it started (bridge, hosts,
processes, temporary files) is removed on exit, on errors and on Ctrl-C;
the machine's Open vSwitch is left running.  It can run beside the
integration tests (bridge cats1, hosts c1.., i1..): names, conntrack zone
and sockets are its own (but a test that restarts ovs-vswitchd, like
test_restart.py, takes the demo's flows and conntrack with it: the demo
notices and says so).
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from cats_topo import (CatsSite, CTRL_PORT, PYTHON, ensure_ovs,  # noqa: E402
                       have_mininet, kill_pid, pid_alive, vswitchd_pid)
from cats_ctl import (AppctlError, CatsController,  # noqa: E402
                      service_config)

TRAFFIC = os.path.join(HERE, "cats_demo_traffic.py")
SERVICE = "web"
BRIDGE = "catsdemo"
DPID = "00000000ca75de01"
ZONE = 3301                 # the tests' bridge uses the default zone (3239)
N_CLIENTS = 2
N_INSTANCES = 4
WEIGHT = 100

# Timeline, in seconds of load.
T_REWEIGHT = 12
T_DRAIN = 27
T_RESTORE = 42
T_KILL = 50
T_RESTART = 58
T_END = 65


# -- output ------------------------------------------------------------------
class Out:
    """Plain lines, plus a live block that a terminal redraws in place (in
    a pipe or file, every frame is printed)."""

    def __init__(self, stream=sys.stdout):
        self.s = stream
        self.tty = stream.isatty()
        self.live = 0             # lines of the live block on screen

    def _c(self, code, text):
        return "\x1b[%sm%s\x1b[0m" % (code, text) if self.tty else text

    def bold(self, t):
        return self._c("1", t)

    def green(self, t):
        return self._c("32", t)

    def red(self, t):
        return self._c("1;31", t)

    def dim(self, t):
        return self._c("2", t)

    def _erase(self):
        if self.tty and self.live:
            self.s.write("\x1b[%dF\x1b[J" % self.live)
        self.live = 0

    def _rows(self, lines):
        """Terminal rows that lines take (long ones wrap)."""
        cols = max(20, shutil.get_terminal_size((80, 24)).columns)
        rows = 0
        for ln in lines:
            n = len(re.sub(r"\x1b\[[0-9;]*m", "", ln))
            rows += max(1, -(-n // cols))
        return rows

    def line(self, text=""):
        self._erase()
        self.s.write(text + "\n")
        self.s.flush()

    def lines(self, text, indent="    "):
        for ln in text.rstrip("\n").splitlines():
            self.line(indent + ln)

    def wrapped(self, text, indent="    ", width=78):
        """Lines of text, each wrapped to width under its own indent."""
        for ln in text.rstrip("\n").splitlines():
            lead = indent + ln[:len(ln) - len(ln.lstrip())]
            parts = textwrap.wrap(ln.strip(), width - len(lead) - 2,
                                  break_on_hyphens=False) or [""]
            self.line(lead + parts[0])
            for part in parts[1:]:
                self.line(lead + "  " + part)

    def title(self, n, total, text):
        self.freeze()
        self.line("")
        self.line(self.bold("== %d/%d  %s " % (n, total, text) +
                            "=" * max(3, 66 - len(text))))

    def cmd(self, text):
        self.line("  " + self.bold("$ " + text))

    def frame(self, lines):
        self._erase()
        for ln in lines:
            self.s.write(ln + "\n")
        self.s.flush()
        self.live = self._rows(lines) if self.tty else 0

    def freeze(self):
        """Keep the live block on screen; the next output goes below."""
        self.live = 0


OUT = Out()


def fmt_int(n):
    return "{:,}".format(n)


# -- server counters, read from inside the instances' namespaces -------------
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _query_in_netns(pid, port, timeout=1.0):
    """One "stats" query to 127.0.0.1:port inside process pid's network
    namespace.  Call only from a thread of its own: setns() switches the
    calling thread, and this thread is never switched back (it ends)."""
    fd = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"stats\n")
        buf = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return json.loads(buf.decode())


def server_counts(site, timeout=1.5):
    """{instance name: accepted connections} from every instance server,
    queried from a short-lived thread inside each host's namespace (no
    process start per query).  Missing entries: no answer."""
    hosts = [(h.name, h.pid) for h in site.instances]
    res = {}

    def work():
        for name, pid in hosts:
            try:
                res[name] = _query_in_netns(pid, CTRL_PORT)["accepted"]
            except (OSError, ValueError, KeyError):
                pass
    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout)
    return dict(res)


# -- background processes: line readers --------------------------------------
class Lines:
    """Non-blocking reader of a child's stdout lines."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.eof = False

    def read(self):
        out = []
        while not self.eof:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
        while b"\n" in self.buf:
            ln, self.buf = self.buf.split(b"\n", 1)
            out.append(ln.decode(errors="replace"))
        return out

    def wait_for(self, prefixes, timeout):
        """Lines until one starts with one of prefixes (returned last)."""
        end = time.monotonic() + timeout
        got = []
        while time.monotonic() < end:
            for ln in self.read():
                got.append(ln)
                if ln.startswith(tuple(prefixes)):
                    return got
            if self.eof:
                break
            time.sleep(0.02)
        return got


def tagged(line):
    tag, _, rest = line.partition(" ")
    try:
        return tag, json.loads(rest)
    except ValueError:
        return tag, None


class Load:
    """The open-loop load generator on one client host."""

    def __init__(self, site, host, rate):
        self.host = host
        self.proc = site.popen(host, [PYTHON, TRAFFIC, "load", site.vip,
                                      str(site.service_port), "--rate",
                                      str(rate)], stderr=subprocess.DEVNULL)
        self.lines = Lines(self.proc)
        self.done = None

    def poll(self):
        """(ok, errors, {kind: n}, seconds) of the seconds reported since
        the last call."""
        ok = err = secs = 0
        kinds = {}
        for ln in self.lines.read():
            tag, d = tagged(ln)
            if tag == "SEC" and d:
                secs += 1
                ok += d["ok"]
                err += d["errors"]
                for k, v in d["kinds"].items():
                    kinds[k] = kinds.get(k, 0) + v
            elif tag == "DONE" and d:
                self.done = d
        return ok, err, kinds, secs

    def stop(self, timeout=8.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        for ln in self.lines.wait_for(["DONE"], timeout):
            tag, d = tagged(ln)
            if tag == "DONE":
                self.done = d
        return self.done


class Hold:
    """K long-lived connections held on one instance (cats_demo_traffic.py
    hold), exchanging a line every 200 ms."""

    def __init__(self, site, host, want, k):
        self.want, self.k = want, k
        self.proc = site.popen(host, [PYTHON, TRAFFIC, "hold", site.vip,
                                      str(site.service_port), "--want", want,
                                      "-k", str(k)],
                               stderr=subprocess.DEVNULL)
        self.lines = Lines(self.proc)
        self.ready = None
        self.stat = {"alive": 0, "broken": 0, "stalled": 0, "kinds": {},
                     "exchanges": 0}
        self.done = None

    def wait_ready(self, timeout=25.0):
        for ln in self.lines.wait_for(["READY", "FAILED"], timeout):
            tag, d = tagged(ln)
            if tag == "READY":
                self.ready = d
                self.stat["alive"] = d["held"]
                return d
            if tag == "FAILED":
                raise RuntimeError("could not hold %d connections on %s: %s"
                                   % (self.k, self.want, d))
        raise RuntimeError("long-lived connections: no answer from the "
                           "helper")

    def poll(self):
        for ln in self.lines.read():
            tag, d = tagged(ln)
            if tag in ("STAT", "DONE") and d:
                self.stat = d
                if tag == "DONE":
                    self.done = d
        return self.stat

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        for ln in self.lines.wait_for(["DONE"], timeout):
            tag, d = tagged(ln)
            if tag == "DONE":
                self.done = self.stat = d
        return self.done


class Ping:
    """One ping a second to the VIP; -O reports a missing answer when the
    next one is sent."""

    RE_OK = re.compile(r"icmp_seq=(\d+) .*time=([\d.]+) ms")
    RE_NO = re.compile(r"no answer yet for icmp_seq=(\d+)")

    def __init__(self, site, host):
        self.proc = site.popen(host, ["ping", "-n", "-O", "-i", "1",
                                      site.vip], stderr=subprocess.STDOUT)
        self.lines = Lines(self.proc)
        self.answered = set()
        self.missing = set()
        self.last = None          # (seq, rtt ms or None)

    def poll(self):
        for ln in self.lines.read():
            m = self.RE_OK.search(ln)
            if m:
                seq = int(m.group(1))
                self.answered.add(seq)
                self.missing.discard(seq)
                self.last = (seq, float(m.group(2)))
                continue
            m = self.RE_NO.search(ln)
            if m:
                seq = int(m.group(1))
                if seq not in self.answered:
                    self.missing.add(seq)
                self.last = (seq, None)
        return self.last

    def lost(self):
        return len(self.missing - self.answered)

    def stop(self):
        time.sleep(0.05)
        self.poll()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            kill_pid(self.proc.pid)
        self.poll()


# -- controller output, parsed ------------------------------------------------
RE_INST = re.compile(r"instance (\S+) weight=(\d+) slots=(\d+)/(\d+) "
                     r"intended=([\d.]+)% new_conns=(\d+) realized=(\S+) "
                     r"state=(\w+)")


def parse_services(text):
    """{ip:port: {"weight", "slots", "intended", "new_conns", "state"}}"""
    res = {}
    for m in RE_INST.finditer(text or ""):
        res[m.group(1)] = {"weight": int(m.group(2)),
                           "slots": int(m.group(3)),
                           "intended": float(m.group(5)),
                           "new_conns": int(m.group(6)),
                           "state": m.group(8)}
    return res


def ofctl(bridge, *args):
    p = subprocess.run(["ovs-ofctl", "-O", "OpenFlow15", args[0], bridge] +
                       list(args[1:]), capture_output=True, text=True,
                       timeout=10)
    return p.stdout if p.returncode == 0 else ""


def flow_ages(bridge, cookies=False):
    """[(table, duration s)] of the bridge's flows, or with cookies
    [(cookie, table, duration s)]."""
    res = []
    for ln in ofctl(bridge, "dump-flows").splitlines():
        c = re.search(r"cookie=(0x[0-9a-f]+)", ln)
        t = re.search(r"table=(\d+)", ln)
        d = re.search(r"duration=([\d.]+)s", ln)
        if t and d:
            res.append((int(t.group(1)), float(d.group(1))))
            if cookies:
                res[-1] = (c.group(1) if c else "0x0",) + res[-1]
    return res


def describe_table(flows):
    """A few words on what a table's flows do (guessed from their text)."""
    text = "\n".join(flows)
    what = []
    if "arp_tpa=" in text:
        what.append("ARP and ping for the VIP answered")
    if "ct(table=" in text:
        what.append("VIP traffic into conntrack (NAT)")
    if "actions=group:" in text:
        what.append("new connections -> select group")
    if "ct_state=-rpl+trk+dnat" in text or "ct_state=+trk+dnat" in text:
        what.append("established ones keep their instance")
    if "ct_state=+new+trk,ct_mark" in text:
        what.append("new-connection counter per instance")
    if any(re.match(r"\s*cookie=0xca76", f) for f in flows):
        what.append("instance MAC/port, learned from ARP")
    return "; ".join(what)


def pipeline_summary(bridge):
    flows = {}
    for ln in ofctl(bridge, "dump-flows").splitlines():
        m = re.search(r"table=(\d+)", ln)
        if m:
            flows.setdefault(int(m.group(1)), []).append(ln)
    lines = []
    total = sum(len(v) for v in flows.values())
    lines.append("%d flows:" % total)
    for t in sorted(flows):
        lines += textwrap.wrap(describe_table(flows[t]), 72,
                               initial_indent="  table %d: %2d  " %
                               (t, len(flows[t])),
                               subsequent_indent=" " * 16)
    for ln in ofctl(bridge, "dump-groups").splitlines():
        ln = ln.strip()
        if not ln.startswith("group_id="):
            continue
        head, *buckets = ln.split(",bucket=")
        gid = int(re.search(r"group_id=(\d+)", head).group(1))
        typ = re.search(r"type=(\w+)", head)
        sm = re.search(r"selection_method=(\w+)", head)
        per = {}
        order = []
        total_w = 0
        for b in buckets:
            bid = re.search(r"bucket_id:(\d+)", b)
            w = re.search(r"weight:(\d+)", b)
            dst = re.search(r"nat\(dst=([\d.:]+)\)", b)
            w = int(w.group(1)) if w else 1
            dst = dst.group(1) if dst else "?"
            total_w += w
            if dst not in per:
                per[dst] = [0, []]
                order.append(dst)
            per[dst][0] += w
            per[dst][1].append(bid.group(1) if bid else "?")
        lines.append("group %#x: type=%s%s, %d buckets;"
                     % (gid, typ.group(1) if typ else "?",
                        ",selection_method=" + sm.group(1) if sm else "",
                        len(buckets)))
        lines.append("  bucket weights = dp_hash slots, %d in all:"
                     % total_w)
        for dst in order:
            w, bids = per[dst]
            lines.append("  -> %-15s %3d/%d slots  %5.1f%%  (bucket%s %s)"
                         % (dst, w, total_w, 100.0 * w / total_w if total_w
                            else 0, "s" if len(bids) > 1 else "",
                            ",".join(bids)))
    return lines


# -- the demo ----------------------------------------------------------------
class Demo:
    N_PHASES = 7

    def __init__(self, args, site, ctl, workdir):
        self.args = args
        self.site = site
        self.ctl = ctl
        self.workdir = workdir
        self.names = [h.name for h in site.instances]
        self.ips = list(site.instance_ips)
        self.addr = {n: "%s:%d" % (ip, site.service_port)
                     for n, ip in zip(self.names, self.ips)}
        self.weights = {n: WEIGHT for n in self.names}
        self.loads = []
        self.hold = None
        self.ping = None
        self.ctl_up = False
        self.t0 = None
        self.tick_no = 0
        self.prev_srv = None
        self.prev_ctl = None
        self.totals = {"ok": 0, "errors": 0, "kinds": {}}
        self.phase_acc = {}      # name -> new connections (servers)
        self.phase_ctl = {}
        self.phase_from = None   # accumulate only from this time on
        self.outage = {"ok": 0, "errors": 0, "pings": 0, "answered": 0}
        self.in_outage = False
        self.vswitchd_pid = vswitchd_pid()
        self.vswitchd_restarted = False
        self.notes = []
        self.results = []        # (phase, largest gap in pp)
        self.drain_result = None  # (new conns on the drained, alive, broken)
        self.pids = []            # of the processes started here

    # -- controller ---------------------------------------------------------
    def appctl(self, *args, show=True, timeout=20):
        if show:
            OUT.cmd("ovs-appctl -t $CTL " + " ".join(str(a) for a in args))
        return self.ctl.appctl(*args, timeout=timeout)

    def sync(self, show=True):
        t = time.monotonic()
        self.appctl("cats/sync", show=show)
        return time.monotonic() - t

    def set_weight(self, name, weight, sync=True):
        self.appctl("cats/set-weight", SERVICE, self.addr[name], weight)
        self.weights[name] = weight
        return self.sync() if sync else None

    def drain(self, name):
        self.appctl("cats/drain", SERVICE, self.addr[name])
        took = self.sync()
        self.weights[name] = 0
        return took

    # -- the live view ------------------------------------------------------
    def now(self):
        return time.monotonic() - self.t0

    def start_phase_window(self, delay=1.0):
        """Accumulate per-phase shares from `delay` s from now on (the
        change takes effect in the datapath within a few ms; the delay
        keeps connections begun before it out of the average)."""
        self.phase_acc = {n: 0 for n in self.names}
        self.phase_ctl = {n: 0 for n in self.names}
        self.phase_from = self.now() + delay

    def tick(self):
        """Gather one second of numbers and draw them."""
        self.tick_no += 1
        ok = err = 0
        kinds = {}
        secs = []
        for ld in self.loads:
            o, e, k, n = ld.poll()
            ok += o
            err += e
            secs.append(n)
            for kk, v in k.items():
                kinds[kk] = kinds.get(kk, 0) + v
        self.count(ok, err, kinds)
        rate = ok / max(1, max(secs or [1]))
        pg = self.ping.poll()
        held = self.hold.poll()

        srv = server_counts(self.site)
        d_srv = {}
        if self.prev_srv is not None:
            for n in self.names:
                if n in srv and n in self.prev_srv:
                    d_srv[n] = max(0, srv[n] - self.prev_srv[n])
        self.prev_srv = srv

        svc = {}
        d_ctl = {}
        if self.ctl_up:
            try:
                svc = parse_services(self.ctl.appctl("cats/services",
                                                     SERVICE, timeout=3))
            except (AppctlError, subprocess.TimeoutExpired):
                svc = {}
        if svc:
            cur = {n: svc[a]["new_conns"] for n, a in self.addr.items()
                   if a in svc}
            if self.prev_ctl is not None:
                for n, v in cur.items():
                    p = self.prev_ctl.get(n)
                    # The controller restarts its count when the weights
                    # change: a smaller number is a new count.
                    d_ctl[n] = v - p if p is not None and v >= p else v
            self.prev_ctl = cur
        else:
            self.prev_ctl = None

        t = self.now()
        if self.phase_from is not None and t >= self.phase_from:
            for n in self.names:
                self.phase_acc[n] += d_srv.get(n, 0)
                self.phase_ctl[n] += d_ctl.get(n, 0)
        if self.in_outage:
            self.outage["ok"] += ok
            self.outage["errors"] += err

        pid = vswitchd_pid()
        if pid != self.vswitchd_pid and not self.vswitchd_restarted:
            self.vswitchd_restarted = True
            msg = ("ovs-vswitchd was restarted by someone else (pid %s -> "
                   "%s), e.g. the integration tests' test_restart.py: its "
                   "flows and conntrack are gone, so failures from here on "
                   "are not the controller's" % (self.vswitchd_pid, pid))
            self.notes.append(msg)
            OUT.line("  " + OUT.red("!! " + msg))

        self.draw(rate, err, kinds, pg, held, d_srv, d_ctl, svc)

    def count(self, ok, err, kinds):
        self.totals["ok"] += ok
        self.totals["errors"] += err
        for kk, v in kinds.items():
            self.totals["kinds"][kk] = self.totals["kinds"].get(kk, 0) + v

    def draw(self, rate, err, kinds, pg, held, d_srv, d_ctl, svc):
        """One frame, at most 80 columns:
         [ 12s] 400 conn/s ok, 0 err | ping #14 0.18 ms | di2 held: 20 ok ..
           inst  weight intended | last 1 s: servers              ctl | phase
           di1      300    50.0% |  49.9% ############|.......  50.1% | 49.8%
        """
        if pg is None:
            ping = "ping -"
        elif pg[1] is None:
            ping = OUT.red("ping #%d LOST" % pg[0])
        else:
            ping = "ping #%d %.2f ms" % (pg[0], pg[1])
        errs = "%d err" % err
        if err:
            errs = OUT.red(errs + " (" + ",".join(
                "%s=%d" % kv for kv in sorted(kinds.items())) + ")")
        hl = "%s held: %d alive, %d broken" % (
            self.hold.want, held["alive"], held["broken"])
        if held["broken"] or held.get("stalled"):
            hl = OUT.red(hl + ", %d stalled" % held.get("stalled", 0))
        lines = [" [%3ds] %3.0f conn/s ok, %s | %s | %s"
                 % (self.tick_no, rate, errs, ping, hl)]
        lines.append(OUT.dim("   inst  weight intended | realized in the "
                             "last 1 s: servers      ctl | phase"))
        tot_s = sum(d_srv.values())
        tot_c = sum(d_ctl.values())
        tot_w = sum(self.weights.values())
        acc_tot = sum(self.phase_acc.values())
        for n in self.names:
            a = self.addr[n]
            w = svc[a]["weight"] if a in svc else self.weights[n]
            intended = (svc[a]["intended"] if a in svc else
                        (100.0 * self.weights[n] / tot_w if tot_w else 0))
            s = (100.0 * d_srv.get(n, 0) / tot_s) if tot_s else None
            c = (100.0 * d_ctl.get(n, 0) / tot_c) if tot_c else None
            pa = (100.0 * self.phase_acc[n] / acc_tot) if acc_tot else None
            if not self.ctl_up:
                cs = " (down)"
            elif c is None:
                cs = "      -"
            else:
                cs = "%6.1f%%" % c
            lines.append("   %-4s %6s %7.1f%% | %6s %s %s | %s"
                         % (n, w, intended,
                            "%5.1f%%" % s if s is not None else "     -",
                            bar(s, intended), cs,
                            "%5.1f%%" % pa if pa is not None else "    -"))
        OUT.frame(lines)

    def run_until(self, t_end, stop=None):
        """Tick once a second until t_end (seconds of load).  Ticks fall on
        whole wall-clock seconds (the load generators report on half
        seconds); a tick that is late by more than half a second is
        skipped, so one tick is never two seconds' worth."""
        while not (stop and stop()):
            nxt = self.tick_no + 1
            if nxt > t_end:
                break
            wait = self.t0 + nxt - time.monotonic()
            if wait > 0:
                if stop:
                    time.sleep(min(wait, 0.02))
                    continue
                time.sleep(wait)
            elif wait < -0.5:
                self.tick_no = min(t_end, int(self.now())) - 1
                continue
            self.tick()

    def phase_shares(self):
        tot = sum(self.phase_acc.values())
        totc = sum(self.phase_ctl.values())
        return ({n: (100.0 * v / tot if tot else 0.0)
                 for n, v in self.phase_acc.items()}, tot,
                {n: (100.0 * v / totc if totc else 0.0)
                 for n, v in self.phase_ctl.items()}, totc)

    # -- phases --------------------------------------------------------------
    def intended(self):
        tot = sum(self.weights.values())
        return {m: (100.0 * w / tot if tot else 0.0)
                for m, w in self.weights.items()}

    def run(self):
        site, ctl = self.site, self.ctl
        a = self.args
        n = self.N_PHASES
        i1, i2 = self.names[0], self.names[1]

        OUT.title(2, n, "The pipeline the controller installed")
        for ln in pipeline_summary(site.bridge):
            OUT.line("    " + ln)
        OUT.line("")
        OUT.cmd("ovs-appctl -t $CTL cats/show")
        OUT.wrapped(ctl.appctl("cats/show"), indent="      ")

        OUT.title(3, n, "Steady load, equal weights (100 each: 25% each)")
        OUT.line("  Long-lived: 20 connections from dc2 that the VIP sent to "
                 "%s, each echoing" % i2)
        OUT.line("  a line every 200 ms (broken = reset, closed, or an echo "
                 "late by 3 s).")
        self.hold = Hold(site, site.clients[1], i2, 20)
        self.pids.append(self.hold.proc.pid)
        rd = self.hold.wait_ready()
        OUT.line("  -> 20 held on %s (%d tries: %s; others closed)"
                 % (i2, rd["tries"], ", ".join(
                     "%s %d" % kv for kv in sorted(rd["counts"].items()))))
        per = a.rate / N_CLIENTS
        OUT.line("  Load: dc1 and dc2 each open %.0f new connections/s to "
                 "%s:%d, open loop" % (per, site.vip, site.service_port))
        OUT.line("  (started on schedule, whatever happens; each: connect, "
                 "read the instance's")
        OUT.line("  name, close with RST); dc1 pings the VIP once a second.")
        OUT.line(OUT.dim("  Columns: intended = weight / sum of weights; "
                         "realized = share of the"))
        OUT.line(OUT.dim("  last second's new connections, counted by the "
                         "servers (bar: '#', with"))
        OUT.line(OUT.dim("  '|' at the intended share) and by the "
                         "controller's counter flows (ctl, whose"))
        OUT.line(OUT.dim("  stats come ~1 s late); phase = servers' count "
                         "since the phase began."))
        OUT.line("")
        for c in site.clients:
            self.loads.append(Load(site, c, per))
        self.ping = Ping(site, site.clients[0])
        self.pids += [p.proc.pid for p in self.loads + [self.ping]]
        # t0: the next whole wall-clock second at least 0.7 s from now.
        wall, mono = time.time(), time.monotonic()
        t0 = mono + (int(wall) + 1 - wall)
        if t0 - mono < 0.7:
            t0 += 1.0
        time.sleep(max(0.0, t0 - time.monotonic()))
        self.t0 = t0
        self.prev_srv = server_counts(site)
        for ld in self.loads:             # the partial first second
            self.count(*ld.poll()[:3])
        self.start_phase_window(delay=0.0)
        self.run_until(T_REWEIGHT)
        self.phase_report("equal weights")

        w_new = a.weight
        self.weights[i1] = w_new
        it = self.intended()[i1]
        self.weights[i1] = WEIGHT
        OUT.title(4, n, "Re-weight: %s %d -> %d (intended share %d/%d = "
                  "%.1f%%)" % (i1, WEIGHT, w_new, w_new,
                               w_new + WEIGHT * (len(self.names) - 1), it))
        took = self.set_weight(i1, w_new)
        OUT.line("  -> group modified in one OpenFlow bundle, confirmed by "
                 "a barrier (%.0f ms);" % (took * 1000))
        OUT.line("     established connections keep their instance "
                 "(conntrack), new ones move.")
        self.start_phase_window()
        self.run_until(T_DRAIN)
        self.phase_report("%s at %d" % (i1, w_new))

        OUT.title(5, n, "Drain %s: no new connections, the 20 held ones stay"
                  % i2)
        took = self.drain(i2)
        OUT.line("  -> %s left the group (cats/sync: %.0f ms); its 20 "
                 "long-lived connections" % (i2, took * 1000))
        OUT.line("     are still matched by conntrack and keep going to it.")
        self.start_phase_window()
        self.run_until(T_RESTORE)
        self.phase_report("%s drained" % i2)
        new_on_i2 = self.phase_acc[i2]
        st = self.hold.stat
        ok = new_on_i2 == 0 and st["broken"] == 0
        self.drain_result = (new_on_i2, st["alive"], st["broken"])
        OUT.line("  %s new connections on %s since the drain; held there: "
                 "%d alive, %d broken  %s"
                 % (fmt_int(new_on_i2), i2, st["alive"], st["broken"],
                    OUT.green("OK") if ok else OUT.red("NOT OK")))

        OUT.title(6, n, "Restore: %s and %s back to %d" % (i1, i2, WEIGHT))
        self.set_weight(i1, WEIGHT, sync=False)
        took = self.set_weight(i2, WEIGHT)
        OUT.line("  -> (cats/sync: %.0f ms)" % (took * 1000))
        self.start_phase_window()
        self.run_until(T_KILL)
        self.phase_report("restored")

        self.outage_phase()
        OUT.freeze()

    def outage_phase(self):
        site, ctl = self.site, self.ctl
        OUT.title(7, self.N_PHASES, "Controller outage: kill -9, then "
                  "restart and resync")
        flows_before = flow_ages(site.bridge)
        pid = ctl.pid()
        OUT.cmd("kill -9 %d    # cats-controller" % pid)
        ctl.kill9()
        self.ctl_up = False
        self.in_outage = True
        ping_seen = set(self.ping.answered) | set(self.ping.missing)
        t_kill = self.now()
        OUT.line("  -> the switch loses its controller; fail-mode=secure "
                 "keeps every flow and")
        OUT.line("     group, so the datapath steers on its own (weights "
                 "frozen meanwhile).")
        self.start_phase_window()
        self.run_until(T_RESTART)
        self.in_outage = False
        seqs = (set(self.ping.answered) | set(self.ping.missing)) - ping_seen
        ans = len(seqs & self.ping.answered)
        outage_s = self.now() - t_kill
        flows_mid = flow_ages(site.bridge)
        self.outage.update(pings=len(seqs), answered=ans, secs=outage_s)
        okk = self.outage["errors"] == 0 and ans == len(seqs)
        OUT.line("  %.0f s without a controller: %s new connections served, "
                 "%d errors," % (outage_s, fmt_int(self.outage["ok"]),
                                 self.outage["errors"]))
        OUT.line("  %d/%d pings answered, %d flows on the switch (%d before)"
                 "  %s" % (ans, len(seqs), len(flows_mid), len(flows_before),
                           OUT.green("OK") if okk else OUT.red("NOT OK")))
        OUT.line("")
        OUT.cmd(os.path.relpath(ctl.binary, REPO) + " --config=... "
                "--detach ... punix:...   # as before")
        t_restart = time.monotonic()
        ctl.start()
        self.pids.append(ctl.pid())
        OUT.line("  -> up (pid %d) in %.2f s; the switch retries every "
                 "second (max_backoff)" % (ctl.pid(),
                                           time.monotonic() - t_restart))
        # cats/sync in the background, so that the view keeps going while
        # the switch reconnects and the controller resyncs.
        OUT.cmd("ovs-appctl -t $CTL cats/sync")
        t = time.monotonic()
        sync = subprocess.Popen(["ovs-appctl", "-t", ctl.unixctl,
                                 "--timeout=30", "cats/sync"],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            self.run_until(T_RESTART + 40,
                           stop=lambda: sync.poll() is not None)
            out, err = sync.communicate(timeout=40)
        finally:
            if sync.poll() is None:
                kill_pid(sync.pid)
        took = time.monotonic() - t
        if sync.returncode != 0:
            raise RuntimeError("cats/sync after the restart failed: %s"
                               % (err or out).strip())
        self.ctl_up = True
        self.prev_ctl = None
        since = time.monotonic() - t_restart
        OUT.line("  -> cats/sync returned after %.2f s (%.2f s after the "
                 "restart): the switch" % (took, since))
        OUT.line("     reconnected, the pipeline was resynchronized and "
                 "confirmed by a barrier.")
        OUT.cmd("ovs-appctl -t $CTL cats/show   # the switch part")
        show = [ln for ln in ctl.appctl("cats/show").splitlines()
                if ln.startswith(("switch ", "  "))]
        OUT.wrapped("\n".join(show), indent="      ")
        for ln in ctl.log_grep("resynchronized", n=1).splitlines():
            OUT.wrapped("log: " + ln.split("|", 4)[-1], indent="      ")
        flows_after = flow_ages(site.bridge, cookies=True)
        ours = [d for c, _, d in flows_after if c.startswith("0xca75")]
        learned = [d for c, _, d in flows_after if c.startswith("0xca76")]
        re_added = sum(1 for d in ours if d < since + 0.5)
        OUT.line("  -> %d flows on the switch (%d before the kill); the "
                 "controller's %d were" % (len(flows_after),
                                           len(flows_before), len(ours)))
        if re_added == len(ours):
            OUT.line("     replaced by the full resync (delete + add in one "
                     "atomic bundle: the")
            OUT.line("     table is never empty, their counters restart); "
                     "%d learned MAC flows kept." % len(learned))
        else:
            OUT.line("     %d re-added, %d left as they were; %d learned MAC "
                     "flows kept." % (re_added, len(ours) - re_added,
                                      len(learned)))
        self.outage.update(resync_s=since, flows_after=len(flows_after),
                           re_added=re_added)
        self.start_phase_window()
        self.run_until(max(T_END, self.tick_no + 5))


    def phase_report(self, label):
        """The phase's new connections per instance against the weights."""
        sh, tot, shc, totc = self.phase_shares()
        want = self.intended()
        OUT.freeze()
        worst = max(abs(sh[m] - want[m]) for m in self.names)
        OUT.line("  %-40s" % ("Phase result (%s):" % label) +
                 "".join("%8s" % m for m in self.names))
        OUT.line("    %-38s" % "intended share" +
                 "".join("%7.1f%%" % want[m] for m in self.names))
        OUT.line("    %-38s" % ("realized, servers (%s conns)"
                                % fmt_int(tot)) +
                 "".join("%7.1f%%" % sh[m] for m in self.names))
        if totc:
            OUT.line("    %-38s" % ("realized, controller (%s conns)"
                                    % fmt_int(totc)) +
                     "".join("%7.1f%%" % shc[m] for m in self.names))
        OUT.line("    largest gap, intended vs servers: %.1f percentage "
                 "points" % worst)
        self.results.append((label, worst))

    def stop_traffic(self):
        res = {"loads": [ld.stop() for ld in self.loads]}
        self.loads = []
        if self.hold:
            res["hold"] = self.hold.stop()
        if self.ping:
            self.ping.stop()
        return res


def bar(share, intended, width=25):
    cells = ["."] * width
    if share is not None:
        for i in range(min(width, int(round(share * width / 100.0)))):
            cells[i] = "#"
    m = min(width - 1, int(round(intended * width / 100.0)))
    if intended > 0:
        cells[m] = "|"
    return "".join(cells)


def log_problems(ctl):
    """WARN/ERR/EMER lines of the controller's log."""
    try:
        with open(ctl.logfile) as f:
            return [ln.rstrip() for ln in f
                    if re.search(r"\|(WARN|ERR|EMER)\|", ln)]
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--controller", metavar="PATH",
                    default=os.path.join(REPO, "build", "cats-controller"),
                    help="cats-controller binary (default %(default)s)")
    ap.add_argument("--rate", type=float, default=400,
                    help="new connections per second, both clients "
                    "together (default %(default)s)")
    ap.add_argument("--weight", type=int, default=300,
                    help="di1's weight in the re-weight phase (default "
                    "%(default)s; the others stay at 100)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (controller log, config)")
    args = ap.parse_args()

    if os.geteuid() != 0:
        ap.error("run as root (it builds a Mininet topology)")
    if not have_mininet():
        ap.error("no mininet module in %s: use Debian's /usr/bin/python3"
                 % sys.executable)
    if not os.access(args.controller, os.X_OK):
        ap.error("%s is not built (make)" % args.controller)

    t_start = time.monotonic()
    n = Demo.N_PHASES
    workdir = tempfile.mkdtemp(prefix="cats-demo-")
    pids = []
    rc = 1
    try:
        OUT.line(OUT.bold("ovs-cats demo: compute-aware traffic steering on "
                          "Open vSwitch (~75 s)"))
        OUT.title(1, n, "Setup")
        OUT.line("  Open vSwitch: %s" % ensure_ovs())
        with CatsSite(n_clients=N_CLIENTS, n_instances=N_INSTANCES,
                      bridge=BRIDGE, dpid=DPID, client_prefix="dc",
                      instance_prefix="di", log_level="warning",
                      workdir=workdir) as site:
            try:
                rc = run_demo(args, site, workdir, pids, t_start)
            except (KeyboardInterrupt, SystemExit) as e:
                # SystemExit: SIGTERM or SIGHUP (the site's handlers).
                OUT.freeze()
                OUT.line("")
                OUT.line("Interrupted: cleaning up.")
                rc = e.code if isinstance(e, SystemExit) else 130
            finally:
                # A second Ctrl-C or SIGTERM must not cut the cleanup
                # short (the handlers from before the site come back when
                # it stops).
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_IGN)
                for c in CONTROLLERS:
                    c.cleanup()
            OUT.line("Cleaning up: hosts, bridge %s, temporary files."
                     % site.bridge)
    except (KeyboardInterrupt, SystemExit) as e:
        OUT.freeze()
        OUT.line("")
        OUT.line("Interrupted: cleaning up.")
        rc = e.code if isinstance(e, SystemExit) else 130
    except Exception as e:
        OUT.freeze()
        OUT.line("")
        OUT.line(OUT.red("demo failed: %s: %s" % (type(e).__name__, e)))
        for c in CONTROLLERS:
            OUT.line("controller log tail:")
            OUT.lines(c.log_tail(15))
        rc = 1
    finally:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:
            pass
        for c in CONTROLLERS:
            c.cleanup()
        if args.keep:
            OUT.line("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    left = leftovers(pids)
    if left:
        OUT.line(OUT.red("left behind: %s" % left))
        rc = rc or 1
    else:
        OUT.line("Clean: no bridge %s, no veths, no process of the demo "
                 "left (%.0f s in all)." % (BRIDGE, time.monotonic() - t_start))
    return rc


CONTROLLERS = []


def run_demo(args, site, workdir, pids, t_start):
    """Setup inside the site, the phases, the summary.  Appends every PID
    it starts to pids; the controller goes to CONTROLLERS for cleanup."""
    OUT.line("  bridge %s (datapath_type=netdev, fail-mode=secure, "
             "OpenFlow15); hosts:" % site.bridge)
    OUT.line("    clients   %s" % ", ".join(
        "%s %s" % (h.name, ip) for h, ip in
        zip(site.clients, site.client_ips)))
    OUT.line("    instances %s" % ", ".join(
        "%s %s" % (h.name, ip) for h, ip in
        zip(site.instances, site.instance_ips)))
    pids += [h.pid for h in site.net.hosts]
    site.start_servers()
    pids += [p.pid for p in site.servers.values()]
    OUT.line("  a server on every instance at :%d: it sends its name, then "
             "echoes" % site.service_port)
    conf = service_config(SERVICE, site.vip, site.service_port,
                          [(ip, site.service_port, WEIGHT)
                           for ip in site.instance_ips])
    conf = conf.replace("# written by the integration tests",
                        "# the demo's catalog")
    ctl = CatsController(args.controller, workdir, conf,
                         extra_args=["--zone=%d" % ZONE])
    CONTROLLERS.append(ctl)
    OUT.line("  catalog %s:" % ctl.config)
    OUT.lines(conf, indent="    | ")
    ctl.start()
    pids.append(ctl.pid())
    OUT.line("  cats-controller started, pid %d, log %s"
             % (ctl.pid(), ctl.logfile))
    OUT.line("  CTL=%s   (its unixctl socket)" % ctl.unixctl)
    site.set_controller(ctl.target)
    OUT.line("  the bridge connects to it (Controller max_backoff=1000 ms):")
    OUT.cmd("ovs-vsctl set-controller %s %s" % (site.bridge, ctl.target))
    t = time.monotonic()
    OUT.cmd("ovs-appctl -t $CTL cats/sync")
    ctl.appctl("cats/sync", timeout=30)
    OUT.line("  -> returned after %.0f ms: the switch connected, got the "
             "pipeline in one" % ((time.monotonic() - t) * 1000))
    OUT.line("     OpenFlow bundle and confirmed it with a barrier.")
    site.apply_max_backoff()

    demo = Demo(args, site, ctl, workdir)
    demo.ctl_up = True
    try:
        demo.run()
    finally:
        result = demo.stop_traffic()
        pids += demo.pids
    return summary(demo, result, ctl, t_start)


def summary(demo, res, ctl, t_start):
    OUT.line("")
    OUT.line(OUT.bold("== Summary " + "=" * 67))
    loads = [d for d in res["loads"] if d]
    started = sum(d["started"] for d in loads)
    ok = sum(d["ok"] for d in loads)
    errors = sum(d["errors"] for d in loads)
    if len(loads) != len(res["loads"]):
        errors += 1
        demo.notes.append("a load generator gave no final report")
    kinds = {}
    counts = {}
    for d in loads:
        for k, v in d["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
        for k, v in d["counts"].items():
            counts[k] = counts.get(k, 0) + v

    def row(key, text):
        parts = textwrap.wrap(text, 58, break_on_hyphens=False) or [""]
        OUT.line("  %-17s %s" % (key + ":", parts[0]))
        for part in parts[1:]:
            OUT.line(" " * 20 + part)

    row("new connections", "%s started, %s served, %s errors%s"
        % (fmt_int(started), fmt_int(ok), fmt_int(errors),
           " (%s)" % ", ".join("%s=%d" % kv for kv in sorted(kinds.items()))
           if kinds else ""))
    row("served by", ", ".join("%s %s" % (k, fmt_int(v))
                               for k, v in sorted(counts.items())))
    if demo.results:
        row("split vs weights", "largest gap per phase: " + ", ".join(
            "%s %.1f pp" % r for r in demo.results))
    h = res.get("hold") or {}
    k = demo.hold.k if demo.hold else 0
    broken = h.get("broken", k)
    if not h:
        demo.notes.append("the long-lived helper gave no final report")
    row("long-lived", "%d held on %s: %d alive, %d broken, %d stalled, %s "
        "echoes%s" % (k, demo.hold.want if demo.hold else "-",
                      h.get("alive", 0), broken, h.get("stalled", 0),
                      fmt_int(h.get("exchanges", 0)),
                      " (%s)" % h.get("kinds") if h.get("kinds") else ""))
    if demo.drain_result:
        row("drain", "%s new connections on %s after it"
            % (fmt_int(demo.drain_result[0]), demo.names[1]))
    lost = demo.ping.lost() if demo.ping else 0
    n_ping = len(demo.ping.answered | demo.ping.missing) if demo.ping else 0
    row("ping", "%s: %d sent, %d answered, %d lost"
        % (demo.site.vip, n_ping, n_ping - lost, lost))
    o = demo.outage
    if "secs" in o:
        row("controller down", "%.0f s: %s new connections served, %d "
            "errors, %d/%d pings; back in sync %.2f s after the restart"
            % (o["secs"], fmt_int(o["ok"]), o["errors"], o["answered"],
               o["pings"], o.get("resync_s", -1)))
    probs = log_problems(ctl)
    row("controller log", "%d warning/error lines%s"
        % (len(probs), ":" if probs else ""))
    for ln in probs[:10]:
        OUT.line("    " + ln)
    for note in demo.notes:
        OUT.line("  " + OUT.red("note: " + note))
    good = errors == 0 and broken == 0 and lost == 0
    row("result", "%s (%.0f s)" % (
        OUT.green("OK: 0 errors, 0 lost pings, 0 broken connections")
        if good else OUT.red("FAILED: %d errors, %d lost pings, %d broken "
                             "connections" % (errors, lost, broken)),
        time.monotonic() - t_start))
    return 0 if good else 1


def leftovers(pids):
    """What of ours is still there (bridge, veths, processes)."""
    left = ["pid %d" % p for p in sorted(set(pids)) if pid_alive(p)]
    out = subprocess.run(["ovs-vsctl", "--timeout=5", "list-br"],
                         capture_output=True, text=True).stdout.split()
    if BRIDGE in out:
        left.append("bridge " + BRIDGE)
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                         text=True).stdout
    for ln in out.splitlines():
        name = ln.split(":")[1].strip().split("@")[0]
        if name.startswith(BRIDGE + "-"):
            left.append("veth " + name)
    return ", ".join(left)


if __name__ == "__main__":
    sys.exit(main())

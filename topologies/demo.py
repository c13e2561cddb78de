#!/usr/bin/python3
"""`make demo`: compute-aware steering, live: instances report their load,
the controller moves new connections away from the one that slows down.

    /usr/bin/python3 topologies/demo.py --controller build/cats-controller

About two minutes, no input needed.  On the machine's Open vSwitch
(userspace datapath) it builds its own bridge "catsdemo" with clients
dc1, dc2 and instances di1..di4 (10.0.0.11-14) behind the VIP
10.0.0.100:80 (topologies/single_site.py).  Each instance runs cats-serve,
a server with real queueing (di1: 8 slots, di2: 4, di3: 4 at half speed,
di4: 2; 10 ms a request), which reports its requests in flight and its
queue to a cats-agent on the same host; the agents stream them to
cats-controller, which turns them into the weights of the OVS select
group.  Both clients run cats-load: 150 new connections/s each, open loop
(Poisson), one request per connection.

  1. setup,
  2. steady load (20 s),
  3. di1 becomes 20 times slower (cats-serve --send='speed 20'):
     its queue grows, its agent reports it, its weight falls and new
     connections go elsewhere (30 s),
  4. di1 back to normal speed: its share comes back (25 s),
  5. kill -9 of the controller: the switch keeps steering with the last
     weights; the controller restarts, the agents register again (17 s),
  6. a summary: per phase, requests, failures, p50/p99 latency (from
     cats-load's samples) and each instance's share.

Every second it prints, per instance, the requests in flight and queued
(as the controller last heard them from the agent), its weight in the
select group, and its share of the new connections of the last second
(counted by the servers), plus each path's ECN marking and PFC pauses:
"n/a" in this single-site topology, which has no long-haul gateway (the
two-site topology, topologies/two_site.py, has plain links so far).

Exit status 0 only when no request failed, di1's share fell below half of
its steady share while slow and came back above half of it once
restored.  Everything it started (bridge, hosts, processes, temporary
files) is removed on exit, on errors and on Ctrl-C; the machine's Open
vSwitch is left running.  Its names (bridge catsdemo, hosts dc*/di*,
conntrack zone 3301) are its own, so it can run beside the integration
tests (bridge cats1).
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from cats_site import (BUILD, REPO, AppctlError, ensure_ovs, kill_pid,
                       pid_alive, vswitchd_pid)
import cats_workload as cw
from single_site import SingleSite, catalog, preflight

SERVICE = cw.SERVICE
BRIDGE = "catsdemo"
DPID = "00000000ca75de01"
ZONE = 3301                 # the tests' bridge uses the default zone (3239)
INSTANCES = [(8, 1.0), (4, 1.0), (4, 2.0), (2, 1.0)]    # (slots, speed)
SERVICE_TIME = "fixed:10"
N_CLIENTS = 2

# Timeline, in seconds of load.
T_SLOW = 20
T_RESTORE = 50
T_KILL = 75
T_RESTART = 78
T_END = 92


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

    def wrapped(self, text, indent="  ", width=78):
        for ln in text.rstrip("\n").splitlines():
            parts = textwrap.wrap(ln.strip(), width - len(indent) - 2,
                                  break_on_hyphens=False) or [""]
            self.line(indent + parts[0])
            for part in parts[1:]:
                self.line(indent + "  " + part)

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


def bar(share, width=20):
    if share is None:
        return "." * width
    n = min(width, int(round(share * width)))
    return "#" * n + "." * (width - n)


def fmt_ms(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.1f" % v


# -- the demo ----------------------------------------------------------------
class Demo:
    N_PHASES = 6

    def __init__(self, args, s):
        self.args = args
        self.s = s
        self.ctl = s.ctl
        self.wl = s.wl
        self.names = list(s.names)
        self.slow = self.names[0]
        self.loads = []
        self.t0 = None            # load time 0, on time.monotonic()
        self.tick_no = 0
        self.phase = "steady"
        self.phases = []          # (label, start, end) in load seconds
        self.ctl_up = True
        self.prev_acc = None
        self.last = {}            # name -> agent view, kept while ctl down
        self.tel_note = None
        self.notes = []
        self.restart = {}
        self.pids = []
        self.vswitchd = vswitchd_pid()

    # -- live view ------------------------------------------------------------
    def now(self):
        return time.monotonic() - self.t0

    def tick(self):
        self.tick_no += 1
        sent = ok = err = 0
        p50 = p99 = None
        for ld in self.loads:
            for d in ld.poll():
                sent += d["sent"]
                ok += d["ok"]
                err += d["err"]
                p50 = max(p50 or 0, d["p50"])
                p99 = max(p99 or 0, d["p99"])
        stats = self.wl.all_stats()
        acc = dict((n, st.get("accepted", 0)) for n, st in stats.items())
        delta = {}
        if self.prev_acc is not None:
            for n in self.names:
                if n in acc and n in self.prev_acc:
                    delta[n] = max(0, acc[n] - self.prev_acc[n])
        self.prev_acc = acc
        if self.ctl_up:
            try:
                ag = self.s.agents()
                for n in self.names:
                    self.last[n] = ag.get(n)
            except (AppctlError, subprocess.TimeoutExpired):
                pass
        paths = self.paths_line()
        pid = vswitchd_pid()
        if pid != self.vswitchd:
            msg = ("ovs-vswitchd restarted (pid %s -> %s): crashed, or "
                   "restarted by other work on this machine; its flows "
                   "and conntrack were lost, so failures around now are "
                   "not the controller's" % (self.vswitchd, pid))
            self.vswitchd = pid
            self.notes.append(msg)
            OUT.freeze()
            OUT.wrapped(OUT.red("!! " + msg))
        self.draw(sent, ok, err, p50, p99, delta, paths)

    def paths_line(self):
        """ECN and PFC per long-haul path (telemetry of kind PATH, which
        a gateway pushes); links (kind LINK: ports) are not paths."""
        if not self.ctl_up:
            return "paths (ECN, PFC): controller down"
        try:
            tel = cw.parse_telemetry(self.ctl.appctl("cats/telemetry",
                                                     timeout=3))
        except (AppctlError, subprocess.TimeoutExpired):
            tel = {}
        paths = dict((k, d) for k, d in tel.items() if d["kind"] == "path")
        if not paths:
            return "paths (ECN, PFC): n/a: no gateway in this topology"
        parts = []
        for name, d in sorted(paths.items()):
            parts.append("%s ECN %s PFC %d" % (
                name.split("/")[-1][:12],
                "%.1f%%" % (100 * d["ecn_fraction"])
                if "ecn_fraction" in d else "-",
                sum(v[0] for v in d["pfc"].values())))
        return "paths: " + "; ".join(parts[:3]) + \
            (" (+%d)" % (len(parts) - 3) if len(parts) > 3 else "")

    def draw(self, sent, ok, err, p50, p99, delta, paths):
        errs = "%d failed" % err
        if err:
            errs = OUT.red(errs)
        cpus = [a["cpu_utilization"] for a in self.last.values()
                if a and "cpu_utilization" in a]
        head = " [%3ds] %-12s| %3d req/s, %s | p50 %s p99 %s ms" % (
            self.tick_no, self.phase, sent, errs, fmt_ms(p50), fmt_ms(p99))
        if cpus:                  # --node-cpu=shared
            head += " | cpu %.0f%%" % (100 * max(cpus))
        lines = [head, OUT.dim("   inst slots speed | in flight  queue  "
                               "weight | new connections, last 1 s")]
        tot = sum(delta.values())
        # Weights as shares of the group: their scale is the controller's
        # business (the catalog's base, or the selector's own).
        tot_w = sum((self.last.get(n) or {}).get("weight", 0)
                    for n in self.names)
        for n in self.names:
            inst = self.wl.instances[n]
            a = self.last.get(n) or {}
            sh = delta[n] / tot if tot and n in delta else None
            w = ("%.0f%%" % (100.0 * a["weight"] / tot_w)
                 if "weight" in a and tot_w else "-")
            if not self.ctl_up and w != "-":
                w += "*"
            lines.append("   %-4s %5d %5s | %9s %6s %7s | %s %s" % (
                n, inst.slots, "x%g" % inst.speed,
                "%.1f" % a["in_flight"] if "in_flight" in a else "-",
                "%.1f" % a["queue"] if "queue" in a else "-", w,
                "%5.1f%%" % (100 * sh) if sh is not None else "    -",
                bar(sh)))
        lines.append("   " + paths)
        OUT.frame(lines)

    def run_until(self, t_end, stop=None):
        """Tick once a second (0.2 s after each of the loads' progress
        lines) until t_end seconds of load; a tick late by more than half
        a second is skipped."""
        while not (stop and stop()):
            nxt = self.tick_no + 1
            if nxt > t_end:
                break
            wait = self.t0 + nxt + 0.2 - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, 0.05) if stop else wait)
                continue
            if wait < -0.5:
                self.tick_no = min(t_end, int(self.now())) - 1
                if self.tick_no + 1 > t_end:
                    break
                continue
            self.tick()

    def begin(self, label):
        if self.phases:
            self.phases[-1][2] = self.now()
        self.phases.append([label, self.now(), None])
        self.phase = label.split(":")[0]

    # -- phases ---------------------------------------------------------------
    def serve_send(self, name, command):
        inst = self.wl.instances[name]
        argv = [os.path.join(self.wl.build, "cats-serve"),
                "--control=" + inst.serve_ctl, "--send=" + command]
        OUT.cmd("%s --control=%s --send='%s'" % (
            os.path.relpath(argv[0], REPO), inst.serve_ctl, command))
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        if p.returncode != 0:
            raise RuntimeError("cats-serve --send failed: %s"
                               % (p.stderr or p.stdout).strip())
        OUT.line("  -> " + p.stdout.strip()[:74])
        inst.speed = float(command.split()[1])

    def run(self):
        n = self.N_PHASES
        s, a = self.s, self.args
        per = a.rate / N_CLIENTS
        OUT.title(2, n, "Steady load")
        OUT.line("  dc1 and dc2 each run cats-load: %g new connections/s "
                 "to %s:%d," % (per, s.site.vip, s.site.service_port))
        OUT.line("  Poisson, one request each (REQ/OK lines), latency "
                 "counted from the scheduled")
        OUT.line("  time (open loop: a slow reply delays no other request)."
                 )
        OUT.line(OUT.dim("  Columns: in flight and queue = the agent's "
                         "report, as the controller"))
        OUT.line(OUT.dim("  smoothed it (cats/agents); weight = its share "
                         "of the select group's;"))
        OUT.line(OUT.dim("  new connections = the servers' accept counts "
                         "of the last second."))
        OUT.line("")
        for i, c in enumerate(s.site.clients):
            ld = self.wl.start_load(c, per, T_END, seed=11 + i)
            self.loads.append(ld)
            self.pids.append(ld.proc.pid)
        self.t0 = min(ld.t_launch for ld in self.loads)
        self.prev_acc = dict((k, v.get("accepted", 0))
                             for k, v in self.wl.all_stats().items())
        self.begin("steady")
        self.run_until(T_SLOW)

        OUT.title(3, n, "%s becomes %g times slower" % (self.slow,
                                                      a.slow_speed))
        self.serve_send(self.slow, "speed %g" % a.slow_speed)
        base = int(SERVICE_TIME.split(":")[1])
        OUT.line("  %s now takes %g ms a request: its queue grows, its "
                 "agent reports it," % (self.slow, base * a.slow_speed))
        OUT.line("  its weight falls, and new connections go to the "
                 "others (live ones stay).")
        self.begin("%s slow: x%g" % (self.slow, a.slow_speed))
        self.run_until(T_RESTORE)

        OUT.title(4, n, "%s back to normal speed" % self.slow)
        self.serve_send(self.slow, "speed 1")
        OUT.line("  its queue drains, its reports say so, and its share "
                 "comes back.")
        self.begin("%s restored" % self.slow)
        self.run_until(T_KILL)

        self.outage(n)
        self.begin_end()

    def begin_end(self):
        self.phases[-1][2] = min(self.now(), T_END)

    def outage(self, n):
        s, ctl = self.s, self.ctl
        OUT.title(5, n, "Controller restart: kill -9, the switch keeps "
                  "steering")
        pid = ctl.pid()
        OUT.cmd("kill -9 %d    # cats-controller" % pid)
        ctl.kill9()
        self.ctl_up = False
        OUT.line("  -> fail-mode=secure: the bridge keeps its flows and "
                 "group (weights frozen,")
        OUT.line("     marked *); the agents lose their stream and back "
                 "off.")
        self.begin("ctl restart")
        self.run_until(T_RESTART)
        OUT.cmd(os.path.relpath(ctl.binary, REPO) + " --config=... "
                "--grpc-listen=unix:... --detach ...   # as before")
        t_restart = time.monotonic()
        ctl.start()
        self.pids.append(ctl.pid())
        OUT.line("  -> up (pid %d); the switch reconnects within 1 s "
                 "(max_backoff), the agents" % ctl.pid())
        OUT.line("     within their backoff (1 s, doubling).")
        sync = subprocess.Popen(["ovs-appctl", "-t", ctl.unixctl,
                                 "--timeout=30", "cats/sync"],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            self.run_until(T_END, stop=lambda: sync.poll() is not None)
            out, err = sync.communicate(timeout=40)
        finally:
            if sync.poll() is None:
                kill_pid(sync.pid)
        if sync.returncode != 0:
            raise RuntimeError("cats/sync after the restart failed: %s"
                               % (err or out).strip())
        self.restart["sync_s"] = time.monotonic() - t_restart
        self.ctl_up = True
        OUT.freeze()
        OUT.line("  -> switch resynchronized %.2f s after the restart "
                 "(cats/sync)" % self.restart["sync_s"])

        def all_back():
            ag = s.agents()
            return len(ag) == len(self.names) and all(
                x["lease"] == "active" for x in ag.values())
        while self.tick_no < T_END:
            if "agents_s" not in self.restart:
                try:
                    if all_back():
                        self.restart["agents_s"] = \
                            time.monotonic() - t_restart
                        OUT.freeze()
                        OUT.line("  -> all %d agents registered again "
                                 "%.2f s after the restart"
                                 % (len(self.names),
                                    self.restart["agents_s"]))
                except (AppctlError, subprocess.TimeoutExpired):
                    pass
            self.run_until(self.tick_no + 1)
        OUT.freeze()

    def finish(self):
        """Wait for the loads' summaries."""
        res = []
        for ld in self.loads:
            try:
                res.append(ld.wait(timeout=30))
            except RuntimeError as e:
                self.notes.append(str(e))
                res.append(None)
        return res


# -- summary -----------------------------------------------------------------
def phase_stats(demo, label, start, end):
    """Over every load: requests scheduled in [start, end) load seconds:
    (n, failed, p50, p99, {instance: ok count})."""
    lat = []
    failed = 0
    counts = dict((n, 0) for n in demo.names)
    for ld in demo.loads:
        off = ld.start_time() - demo.t0   # its clock vs the demo's
        for sched, ms, status, inst in ld.samples():
            t = sched + off
            if not start <= t < end:
                continue
            if status != "ok":
                failed += 1
                continue
            lat.append(ms)
            if inst in counts:
                counts[inst] += 1
    return (len(lat) + failed, failed, cw.percentile(lat, 50),
            cw.percentile(lat, 99), counts)


def summary(demo, results, t_start):
    OUT.line("")
    OUT.line(OUT.bold("== 6/6  Summary " + "=" * 62))
    names = demo.names
    OUT.line("  %-14s %4s %7s %6s %6s %6s %s" % (
        "phase", "secs", "reqs", "failed", "p50 ms", "p99 ms",
        " ".join("%4s" % n for n in names)))
    rows = list(demo.phases) + [["whole run", 0.0, demo.phases[-1][2]]]
    shares = {}
    for label, start, end in rows:
        n, failed, p50, p99, counts = phase_stats(demo, label, start, end)
        sh = cw.shares(counts)
        shares[label] = sh
        OUT.line("  %-14s %4.0f %7s %6s %6s %6s %s" % (
            label[:14], end - start, fmt_int(n),
            OUT.red("%6d" % failed) if failed else "0", fmt_ms(p50),
            fmt_ms(p99), " ".join("%3.0f%%" % (100 * sh[x])
                                  for x in names)))
    slow = demo.slow
    labels = [p[0] for p in demo.phases]
    # Settled windows: the last 20 s of the slow phase, the last 15 s of
    # the restored one.
    _, _, _, _, c_slow = phase_stats(demo, "", T_RESTORE - 20, T_RESTORE)
    _, _, _, _, c_back = phase_stats(demo, "", T_KILL - 15, T_KILL)
    steady = shares[labels[0]][slow]
    slowed = cw.shares(c_slow)[slow]
    back = cw.shares(c_back)[slow]
    moved = slowed < 0.5 * steady
    returned = back > 0.5 * steady
    OUT.line("  %s's share: steady %.1f%% -> slow %.1f%% (last 20 s) -> "
             "restored %.1f%% (last 15 s)" % (slow, 100 * steady,
                                              100 * slowed, 100 * back))
    OUT.line("  traffic moved away: %s; came back: %s"
             % (OUT.green("yes") if moved else OUT.red("NO"),
                OUT.green("yes") if returned else OUT.red("NO")))
    r = demo.restart
    OUT.line("  controller restart: switch resynchronized in %s, agents "
             "back in %s" % ("%.2f s" % r["sync_s"] if "sync_s" in r
                             else "-",
                             "%.2f s" % r["agents_s"] if "agents_s" in r
                             else OUT.red("NOT within the demo")))
    total = sum(x["requests"] for x in results if x)
    failed = sum(x["errors"] for x in results if x)
    kinds = {}
    for x in results:
        for k, v in ((x or {}).get("error_kinds") or {}).items():
            if v:
                kinds[k] = kinds.get(k, 0) + v
    if None in results:
        failed += 1
        demo.notes.append("a cats-load gave no summary")
    probs = log_problems(demo.ctl)
    OUT.line("  controller log: %d warning/error lines%s"
             % (len(probs), ":" if probs else ""))
    for ln in probs[:5]:
        OUT.line("    " + ln[:76])
    for note in demo.notes:
        OUT.line("  " + OUT.red("note: " + note))
    why = []
    if failed:
        why.append("%s of %s requests failed%s" % (
            fmt_int(failed), fmt_int(total),
            " (%s)" % ", ".join("%s=%d" % kv for kv in sorted(kinds.items()))
            if kinds else ""))
    if not moved:
        why.append("%s kept its share while slow" % slow)
    if not returned:
        why.append("%s's share did not come back" % slow)
    if "agents_s" not in r:
        why.append("the agents did not come back")
    OUT.line("  result: %s (%.0f s)" % (
        OUT.red("FAILED: " + "; ".join(why)) if why
        else OUT.green("OK: %s requests, 0 failed" % fmt_int(total)),
        time.monotonic() - t_start))
    return 1 if why else 0


def log_problems(ctl):
    try:
        with open(ctl.logfile) as f:
            return [ln.rstrip() for ln in f
                    if re.search(r"\|(WARN|ERR|EMER)\|", ln)]
    except OSError:
        return []


def leftovers(pids):
    """What of ours is still there (bridge, veths, processes)."""
    left = ["pid %d" % p for p in sorted(set(pids)) if p and pid_alive(p)]
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


def setup(args, workdir, pids):
    """Starts the site; returns the SingleSite (started)."""
    OUT.line("  Open vSwitch: %s" % ensure_ovs())
    build = os.path.dirname(os.path.abspath(args.controller))
    s = SingleSite(workdir, instances=INSTANCES, n_clients=N_CLIENTS,
                   bridge=BRIDGE, dpid=DPID, client_prefix="dc",
                   instance_prefix="di", build_dir=build,
                   controller=args.controller, service_time=SERVICE_TIME,
                   interval_ms=250, controller_args=["--zone=%d" % ZONE],
                   node_cpu=args.node_cpu)
    SITES.append(s)
    t = time.monotonic()
    s.start()
    site = s.site
    pids += [h.pid for h in site.net.hosts]
    pids.append(s.ctl.pid())
    for inst in s.wl.instances.values():
        pids += [inst.serve.pid, inst.agent.pid]
    OUT.line("  bridge %s (netdev, fail-mode=secure, OpenFlow15), up "
             "in %.1f s:" % (site.bridge, time.monotonic() - t))
    OUT.line("    clients   %s" % ", ".join(
        "%s %s" % (h.name, ip) for h, ip in
        zip(site.clients, site.client_ips)))
    for n in s.names:
        i = s.wl.instances[n]
        OUT.line("    %-4s %-15s cats-serve %d slots x %s ms%s + cats-agent"
                 % (n, i.addr, i.slots, SERVICE_TIME.split(":")[1],
                    " x%g" % i.speed if i.speed != 1 else ""))
    OUT.line("  catalog (base weights: the controller sets those in "
             "use from the load):")
    for ln in catalog(SERVICE, site.vip, site.service_port,
                      [(ip, site.service_port)
                       for ip in site.instance_ips]).splitlines():
        OUT.line("    | " + ln)
    OUT.line("  cats-controller pid %d, log %s" % (s.ctl.pid(),
                                                   s.ctl.logfile))
    OUT.line("    agent API --grpc-listen=unix:%s" % cw.grpc_sock(workdir))
    OUT.line("  CTL=%s   (ovs-appctl -t $CTL cats/agents)" % s.ctl.unixctl)
    if args.node_cpu == "none":
        OUT.line("  The agents report no node CPU: the hosts share this "
                 "machine's CPUs, and an")
        OUT.line("  instance's capacity here is its slots and speed "
                 "(--node-cpu=shared: report it).")
    took = s.wait_registered(timeout=20)
    if took is None:
        raise RuntimeError("the agents did not all register and report "
                           "within 20 s:\n" +
                           s.ctl.appctl("cats/agents", check=False))
    OUT.line("  -> every agent registered and reporting (%.1f s)" % took)
    took = s.wait_serving(timeout=20)
    if took is None:
        raise RuntimeError("the VIP does not serve")
    OUT.line("  -> the VIP serves (%.1f s)" % took)
    return s


SITES = []


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--controller", metavar="PATH",
                    default=os.path.join(BUILD, "cats-controller"),
                    help="cats-controller binary; cats-agent, cats-serve "
                    "and cats-load are taken from its directory (default "
                    "%(default)s)")
    ap.add_argument("--rate", type=float, default=300,
                    help="new connections per second, both clients "
                    "together (default %(default)s)")
    ap.add_argument("--slow-speed", type=float, default=20,
                    help="how many times slower di1 gets (default "
                    "%(default)s)")
    ap.add_argument("--node-cpu", choices=["none", "shared"],
                    default="none",
                    help="none (default): the agents report no CPU "
                    "utilization, since\nthe emulated hosts share this "
                    "machine's CPUs (see cats_workload.py);\nshared: they "
                    "report the machine's")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, samples)")
    args = ap.parse_args()

    why = preflight(os.path.dirname(os.path.abspath(args.controller)))
    if why:
        ap.error(why)

    t_start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="cats-demo-")
    pids = []
    rc = 1
    demo = None
    try:
        OUT.line(OUT.bold("ovs-cats demo: compute-aware traffic steering on "
                          "Open vSwitch (~2 min)"))
        OUT.title(1, Demo.N_PHASES, "Setup")
        s = setup(args, workdir, pids)
        demo = Demo(args, s)
        try:
            demo.run()
        except BaseException:
            # Interrupted or failed: stop the loads (they would run to
            # their end otherwise); cleanup kills what is left by PID.
            for ld in demo.loads:
                ld.stop()
            raise
        results = demo.finish()
        rc = summary(demo, results, t_start)
    except (KeyboardInterrupt, SystemExit) as e:
        # SystemExit: SIGTERM or SIGHUP (the site's handlers).
        OUT.freeze()
        OUT.line("")
        OUT.line("Interrupted: cleaning up.")
        rc = e.code if isinstance(e, SystemExit) and e.code else 130
    except Exception as e:
        OUT.freeze()
        OUT.line("")
        OUT.line(OUT.red("demo failed: %s: %s" % (type(e).__name__, e)))
        for s in SITES:
            if s.ctl:
                OUT.line("controller log tail:")
                for ln in s.ctl.log_tail(10).splitlines():
                    OUT.line("    " + ln)
        rc = 1
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        OUT.line("Cleaning up: processes, hosts, bridge %s, temporary "
                 "files." % BRIDGE)
        for s in SITES:
            s.stop()
        if demo:
            pids += demo.pids
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
                 "left (%.0f s in all)." % (BRIDGE,
                                            time.monotonic() - t_start))
    return rc


if __name__ == "__main__":
    sys.exit(main())

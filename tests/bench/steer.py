#!/usr/bin/python3
"""make bench-steer: steering new connections to instances of unequal speed,
four ways, one topology, one workload.

    /usr/bin/python3 tests/bench/steer.py --build-dir build

One Mininet site on a private ovs-vswitchd (userspace datapath, in a
network namespace of its own: tests/bench/steer_topo.py): client stc1 runs
cats-load (open loop, Poisson, one new TCP connection per request), stp1
is the proxy host, sti1..stiN run cats-serve with the same slots and
service time but different speeds.  For each offered load (a share of
the instances' total capacity), each way in turn gets the same seed, the
same warm-up and the same measured window (tests/bench/steer_ways.py):
ovs-cats (controller + agents), an OVN load balancer, HAProxy leastconn,
and a plain OVS select group (ECMP).  Prints a table, writes
build/bench/steer.png and ends with the line

    steer: p99_ours_ms=.. p99_ovn_ms=.. p99_haproxy_ms=.. p99_ecmp_ms=..
        ratio_ovn=.. ratio_haproxy=..     (on one line; at the top load)

See tests/bench/README.md for the options (STEER_* variables) and for
what is and is not fair in the comparison.
"""

import argparse
import bisect
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, os.pardir, "topologies"))

import gnuplot  # noqa: E402
import steer_ways  # noqa: E402
from steer_ways import WAYS, ORDER  # noqa: E402
from cats_site import REPO, kill_pid, preflight, wait_until  # noqa: E402
from steer_topo import SteerSite, set_ovs_env  # noqa: E402

BRIDGE = "catsteer"
OVN_BRIDGE = "catsteerovn"
OVN_CHASSIS = "cats-steer"
SUBNET = "10.206.0.0/24"
ZONE = 3206
PORT = 80
# Client source ports, the same in the client and proxy namespaces.
PORT_RANGE = (1024, 65535)
CT_ASSERT = "conntrack.c:1063: assertion"
BINARIES = ("cats-controller", "cats-agent", "cats-serve", "cats-load")


def env(name, default):
    return os.environ.get("STEER_" + name, default)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--duration", type=float,
                    default=float(env("DURATION", 10)),
                    help="measured seconds per way, load and round (10)")
    ap.add_argument("--warmup", type=float, default=float(env("WARMUP", 5)),
                    help="seconds of load before the window (5)")
    ap.add_argument("--loads", default=env("LOADS", "70,90"),
                    help="offered loads, %% of total capacity (70,90)")
    ap.add_argument("--ways", default=env("WAYS", ",".join(ORDER)),
                    help="subset of %s" % ",".join(ORDER))
    ap.add_argument("--rounds", type=int, default=int(env("ROUNDS", 3)),
                    help="rounds per load, the ways in a rotated order "
                    "each time (3)")
    ap.add_argument("--seed", type=int, default=int(env("SEED", 1)))
    ap.add_argument("--speeds", default=env("SPEEDS", "1,1,2,4"),
                    help="cats-serve --speed per instance (1,1,2,4)")
    ap.add_argument("--slots", type=int, default=int(env("SLOTS", 4)))
    ap.add_argument("--service-time",
                    default=env("SERVICE", "lognormal:10,0.5"))
    ap.add_argument("--interval", type=int,
                    default=int(env("INTERVAL", 100)),
                    help="agent report interval, ms (100)")
    ap.add_argument("--decide", default=env("DECIDE", "connection"),
                    choices=("connection", "weights"),
                    help="ovs-cats: who places new connections, the "
                    "controller per connection or the group's weights "
                    "(connection)")
    ap.add_argument("--pick-wait-factor", type=float,
                    default=float(env("PICK_WAIT", 0)),
                    help="ovs-cats: cats-controller --pick-wait-factor "
                    "(0: its default)")
    ap.add_argument("--timeout", type=int, default=int(env("TIMEOUT", 5000)),
                    help="cats-load request timeout, ms (5000)")
    ap.add_argument("--ovn-stateful", action="store_true",
                    default=env("OVN_STATEFUL", "") not in ("", "0"),
                    help="OVN's default: the instances' ports in conntrack "
                    "too (crashes Debian 12's ovs-vswitchd, see README)")
    ap.add_argument("--out", default=None,
                    help="plot and data directory (BUILD/bench)")
    ap.add_argument("--keep", action="store_true",
                    default=env("KEEP", "") not in ("", "0"))
    a = ap.parse_args()
    a.loads = [float(x) for x in a.loads.split(",") if x]
    a.ways = [w for w in a.ways.split(",") if w]
    for w in a.ways:
        if w not in WAYS:
            ap.error("unknown way %r" % w)
    a.speeds = [float(x) for x in a.speeds.split(",") if x]
    a.build_dir = os.path.abspath(a.build_dir)
    a.out = os.path.abspath(a.out or os.path.join(a.build_dir, "bench"))
    return a


def mean_service_ms(dist):
    """The mean of a cats-serve distribution string."""
    kind, _, rest = dist.partition(":")
    if kind in ("fixed", "exp", "lognormal", "client"):
        return float(rest.split(",")[0])
    raise ValueError("service time %r" % dist)


def steer_preflight(a):
    need = {"ovn": ["ovn-northd", "ovn-controller", "ovn-nbctl",
                    "ovn-sbctl"], "haproxy": ["haproxy"]}
    return preflight(a.build_dir, BINARIES, tools=[
        "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ovs-vswitchd",
        "ovsdb-server", "ovsdb-tool", "ethtool", "mnexec", "ip"] +
        [tool for w in a.ways for tool in need.get(w, [])])


# -- results -----------------------------------------------------------------
class Result:
    """One way at one load, over its rounds."""

    def __init__(self, opts, way, load, rate):
        self.opts = opts
        self.way, self.load, self.rate = way, load, rate
        self.lat = []            # ms; a failed request counts as timeout
        self.ok = 0
        self.errors = 0
        self.kinds = {}
        self.window_s = 0.0
        self.instances = {}
        self.cpu = {}            # label -> CPU seconds over the windows
        self.busy = 0.0          # machine CPU seconds over the windows
        self.wall = 0.0
        self.notes = []
        self.runs = 0
        self.crashes = 0         # runs during which ovs-vswitchd died
        self.crash_lost = 0      # failed window requests of those runs
        self.run_p99 = []        # p99 of each run alone, ms

    def add_samples(self, path, warmup_s, duration_s, timeout_ms):
        """Adds a run's requests scheduled in its window; returns how many
        of them failed."""
        n0, e0 = len(self.lat), self.errors
        lo, hi = warmup_s * 1e6, (warmup_s + duration_s) * 1e6
        with open(path) as f:
            for line in f:
                if line.startswith("#"):
                    continue
                p = line.split()
                if len(p) < 4:
                    continue
                sched = int(p[0])
                if sched < lo or sched >= hi:
                    continue
                if p[2] == "ok":
                    self.ok += 1
                    self.lat.append(int(p[1]) / 1000.0)
                    self.instances[p[3]] = self.instances.get(p[3], 0) + 1
                else:
                    self.errors += 1
                    kind = p[2].split(":")[0]
                    self.kinds[kind] = self.kinds.get(kind, 0) + 1
                    self.lat.append(max(int(p[1]) / 1000.0,
                                        float(timeout_ms)))
        self.window_s += duration_s
        run = sorted(self.lat[n0:])
        self.run_p99.append(run[max(0, int(math.ceil(0.99 * len(run))) - 1)]
                            if run else float("nan"))
        return self.errors - e0

    def commit(self, run):
        """Adds a run, whatever happened during it.  A run during which
        ovs-vswitchd died is not thrown away: the requests it could not
        answer failed, and count as failures (the timeout) as any other
        would; the run is counted in 'crashes'."""
        a = self.opts
        for k, v in run["cpu"].items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v
        self.busy += run["busy"]
        self.wall += run["wall"]
        failed = self.add_samples(run["samples"], a.warmup, a.duration,
                                  a.timeout)
        self.runs += 1
        if run["crashed"]:
            self.crashes += 1
            self.crash_lost += failed
        self.notes += run["notes"]

    def finish(self):
        self.lat.sort()

    def pct(self, q):
        if not self.lat:
            return float("nan")
        k = max(0, int(math.ceil(q / 100.0 * len(self.lat))) - 1)
        return self.lat[k]

    def throughput(self):
        return self.ok / self.window_s if self.window_s else 0.0

    def share(self, name):
        return 100.0 * self.instances.get(name, 0) / max(1, self.ok)


def crash_point(run):
    """Where in the schedule a run's switch died: the last second with
    at least one request answered, from the samples."""
    last = None
    try:
        with open(run["samples"]) as f:
            for line in f:
                p = line.split()
                if len(p) > 3 and p[2] == "ok":
                    t = int(p[0]) + int(p[1])
                    last = t if last is None else max(last, t)
    except (KeyError, OSError, ValueError):
        return "when unknown"
    if last is None:
        return "before any answer"
    return "last answer %.1f s into the run" % (last / 1e6)


class WeightSampler(threading.Thread):
    """The controller's weights in use, once a second from 'start_s' to
    'end_s' after it starts (the measured window of a run of ours)."""

    def __init__(self, bench, start_s, end_s):
        threading.Thread.__init__(self, daemon=True)
        self.bench, self.start_s, self.end_s = bench, start_s, end_s
        self.samples = []
        self.stop = False

    def run(self):
        t0 = time.monotonic()
        while not self.stop and time.monotonic() - t0 < self.end_s:
            time.sleep(1.0)
            if time.monotonic() - t0 >= self.start_s:
                try:
                    self.samples.append(dict(self.bench.ours_weights()))
                except Exception:
                    pass

    def summary(self):
        names = [h.name for h in self.bench.site.instances]
        if not self.samples:
            return "(none)"
        out = []
        for n in names:
            v = [float(s[n]) for s in self.samples if n in s]
            out.append("%s=%.0f" % (n, sum(v) / len(v)) if v else n + "=?")
        return " ".join(out) + " (%d samples)" % len(self.samples)


def cpu_times(pid):
    """utime + stime of pid in seconds, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# -- the bench ---------------------------------------------------------------
class Bench:
    def __init__(self, a, workdir):
        self.opts = a
        self.workdir = workdir
        self.port = PORT
        self.zone = ZONE
        # Copies: a rebuild of the tree during the run must not change or
        # remove what is measured.
        bindir = os.path.join(workdir, "bin")
        os.makedirs(bindir, exist_ok=True)
        for b in BINARIES:
            shutil.copy2(os.path.join(a.build_dir, b), bindir)
        self.controller_bin = os.path.join(bindir, "cats-controller")
        self.agent_bin = os.path.join(bindir, "cats-agent")
        self.serve_bin = os.path.join(bindir, "cats-serve")
        self.load_bin = os.path.join(bindir, "cats-load")
        self.ovn_bridge = OVN_BRIDGE
        self.ovn_chassis = OVN_CHASSIS
        self.ovn_gw_mac = "02:ca:75:ce:00:fe"
        self.site = None
        self.servers = {}
        self.ways = {}
        self.crashes = {}         # way -> runs during which it crashed

    @property
    def ovn_gw_ip(self):
        return self.site.vip.rsplit(".", 1)[0] + ".254"

    def app_socket(self, name):
        return os.path.join(self.workdir, "agent-%s.app" % name)

    def control(self, name):
        return os.path.join(self.workdir, "serve-%s.ctl" % name)

    def capacity(self):
        t = mean_service_ms(self.opts.service_time)
        return sum(self.opts.slots * 1000.0 / (t * s)
                   for s in self.opts.speeds)

    # servers
    def start_servers(self):
        a = self.opts
        for i, (h, ip) in enumerate(zip(self.site.instances,
                                        self.site.instance_ips)):
            argv = [self.serve_bin, "--listen=%s:%d" % (ip, self.port),
                    "--name=" + h.name, "--slots=%d" % a.slots,
                    "--service-time=" + a.service_time,
                    "--speed=%g" % a.speeds[i], "--seed=%d" % (a.seed + i),
                    "--control=" + self.control(h.name),
                    "--report=" + self.app_socket(h.name),
                    "--service=" + steer_ways.SERVICE,
                    "--instance=%s:%d" % (ip, self.port)]
            self.servers[h.name] = self.site.popen(
                h, argv, stdout=subprocess.DEVNULL)
        for name in self.servers:
            if wait_until(lambda: self.serve_stats(name) is not None,
                          10) is None:
                raise RuntimeError("cats-serve on %s did not start" % name)

    def serve_send(self, name, cmd):
        p = subprocess.run([self.serve_bin, "--control=" +
                            self.control(name), "--send=" + cmd],
                           capture_output=True, text=True, timeout=10)
        return p.stdout.strip() if p.returncode == 0 else None

    def serve_stats(self, name):
        out = self.serve_send(name, "stats")
        if not out:
            return None
        return dict(kv.split("=", 1) for kv in out.split()[1:]
                    if "=" in kv)

    def servers_idle(self):
        for name in self.servers:
            s = self.serve_stats(name)
            if s is None or s.get("in_flight") != "0" \
                    or s.get("queue") != "0":
                return False
        return True

    # load
    def load(self, rate, duration, seed, samples=None, timeout=None,
             requests=None, limit=None):
        a = self.opts
        argv = [self.load_bin, "--target=%s:%d" % (self.site.vip, self.port),
                "--rate=%g" % rate, "--seed=%d" % seed,
                "--timeout=%d" % (timeout or a.timeout), "--json"]
        if requests:
            argv.append("--requests=%d" % requests)
        else:
            argv.append("--duration=%g" % duration)
        if samples:
            argv.append("--samples=" + samples)
        p = self.site.popen(self.site.clients[0], argv,
                            stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=limit or duration + 60)
        except subprocess.TimeoutExpired:
            kill_pid(p.pid)
            out, err = p.communicate()
        finally:
            self.site.forget(p)
        try:
            return json.loads(out.strip().splitlines()[-1]), p.pid
        except (IndexError, ValueError):
            raise RuntimeError("cats-load gave no report: rc=%s %r %r"
                               % (p.returncode, out[-300:], err[-300:]))

    def probe(self, timeout=20.0):
        """Seconds until 20 requests in a row succeed through the VIP."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            last, _ = self.load(200, 0, 12345, timeout=1000, requests=20,
                                limit=15)
            if last["ok"] == 20:
                return time.monotonic() - t0
            time.sleep(0.2)
        raise RuntimeError("the VIP is not served: %s" % last)

    def client_ports(self):
        """The same source port range for the load and the proxy."""
        for h in self.site.clients:
            h.cmd("sysctl -qw net.ipv4.ip_local_port_range='%d %d'"
                  % PORT_RANGE)

    def flush_client_arp(self):
        for h in self.site.clients:
            h.cmd("ip neigh flush dev %s" % h.defaultIntf())

    def pids(self):
        d = {}
        vpid = self.site.vswitchd_pid()
        if vpid:
            d["ovs-vswitchd"] = vpid
        for way in self.ways.values():
            d.update(way.pids())
        for name, p in self.servers.items():
            d["cats-serve:" + name] = p.pid
        return d

    def measure(self, way, res, seed):
        """One run of 'way' at res.rate, added to res.  Each run is done
        once and kept, whatever happens: when the (private) ovs-vswitchd
        dies during it, the requests left unanswered are failures, counted
        as the timeout like every other failure, and the run is counted as
        crashed in the table; the switch is started again for the next run
        (bridges and ports come back from its database, flows from
        enter()).  Not retried: a second try that survives would hide the
        crash (tests/bench/README.md)."""
        site = self.site
        log0 = site.log_size()
        run = self._measure_once(way, res, seed)
        if run["crashed"]:
            log = site.log_since(log0)
            why = ("aborted in its userspace conntrack (%s...)" % CT_ASSERT
                   if CT_ASSERT in log else "exited (%s)"
                   % site.log_tail("ovs-vswitchd", 2))
            self.crashes[way.name] = self.crashes.get(way.name, 0) + 1
            run["notes"].append("ovs-vswitchd %s, %s: the run's "
                                "unanswered requests count as failures"
                                % (why, crash_point(run)))
            print("steer: ovs-vswitchd %s during %s (%s); restarted"
                  % (why, way.name, crash_point(run)), flush=True)
        res.commit(run)

    def _measure_once(self, way, res, seed):
        a = self.opts
        run = {"cpu": {}, "notes": []}
        self.flush_client_arp()
        way.enter()
        sampler = None
        try:
            took = self.probe()
            if took > 1.0:
                run["notes"].append("reachable after %.1f s" % took)
            for name in self.servers:
                self.serve_send(name, "reset")
            samples = os.path.join(self.workdir, "samples-%s-%g-%d.txt"
                                   % (way.name, res.load, seed))
            total = a.warmup + a.duration
            if way.name == "ours":
                sampler = WeightSampler(self, a.warmup, total)
                sampler.start()
            # CPU over the whole run (warm-up included).
            pids = self.pids()
            c0 = {k: cpu_times(p) for k, p in pids.items()}
            b0, t0 = machine_busy(), time.monotonic()
            self.load(res.rate, total, seed, samples=samples)
            b1, t1 = machine_busy(), time.monotonic()
            for k, p in pids.items():
                c1 = cpu_times(p)
                if c0.get(k) is not None and c1 is not None:
                    run["cpu"][k] = c1 - c0[k]
            run["busy"] = b1 - b0
            run["wall"] = t1 - t0
            run["samples"] = samples
            if sampler is not None:
                sampler.join()
                run["notes"].append("mean weights in the window: "
                                    + sampler.summary())
        finally:
            if sampler is not None:
                sampler.stop = True
            run["crashed"] = not self.site.vswitchd_alive()
            if run["crashed"]:
                self.site.start_vswitchd()
            way.leave()
        if wait_until(self.servers_idle, 30, step=0.2) is None:
            run["notes"].append("servers not idle 30 s after the run")
        return run

    def ours_weights(self):
        """[(instance, weight in use)] from cats/services."""
        out = self.ways["ours"].weights()
        w = []
        for line in out.splitlines():
            p = line.split()
            for ip, h in zip(self.site.instance_ips, self.site.instances):
                if len(p) > 1 and p[0] == "instance" \
                        and p[1].startswith(ip + ":"):
                    for tok in p:
                        if tok.startswith("weight="):
                            w.append((h.name, tok.split("=", 1)[1]))
        return w


# -- report ------------------------------------------------------------------
def fmt_ms(v):
    if v != v:
        return "-"
    return "%.1f" % v if v < 1000 else "%.0f" % v


def print_table(a, bench, results):
    names = [h.name for h in bench.site.instances]
    hdr = ("%-18s %5s %7s %7s %6s %8s %8s %8s  %s  %s"
           % ("way", "load", "offer/s", "ok/s", "errors", "p50 ms",
              "p99 ms", "p99.9 ms",
              " ".join("%5s" % n for n in names), "CPU%: all vswitchd way"))
    print(hdr)
    print("-" * len(hdr))
    for load in a.loads:
        for w in a.ways:
            r = results[(w, load)]
            label = bench.ways[w].label
            if not r.lat:
                print("%-18s %4.0f%% %7.0f   no result: not run"
                      % (label, load, r.rate))
                continue
            if r.crashes:
                label = label[:16] + " *"
            shares = " ".join("%5.1f" % r.share(n) for n in names)
            wall = max(r.wall, 1e-9)
            way_cpu = sum(v for k, v in r.cpu.items()
                          if k.split(":")[0] in ("cats-controller",
                                                 "cats-agent", "haproxy",
                                                 "ovn-controller",
                                                 "ovn-northd"))
            print("%-18s %4.0f%% %7.0f %7.1f %6d %8s %8s %8s  %s  "
                  "%5.0f %5.0f %5.0f"
                  % (label, load, r.rate, r.throughput(), r.errors,
                     fmt_ms(r.pct(50)), fmt_ms(r.pct(99)),
                     fmt_ms(r.pct(99.9)), shares,
                     100 * r.busy / wall,
                     100 * r.cpu.get("ovs-vswitchd", 0) / wall,
                     100 * way_cpu / wall))
    crashed = [(w, l) for l in a.loads for w in a.ways
               if results[(w, l)].crashes]
    if crashed:
        print("* ovs-vswitchd crashed during some runs: %s; those runs "
              "are in the numbers, their unanswered requests as failures "
              "(%d ms)"
              % (", ".join("%s @%g%% in %d of %d runs (%d of their window "
                           "requests failed, overload and crash alike)"
                           % (w, l, results[(w, l)].crashes,
                              results[(w, l)].runs,
                              results[(w, l)].crash_lost)
                           for w, l in crashed), a.timeout))
    print("(shares: %% of ok requests per instance, speeds %s; errors "
          "count as %d ms in the percentiles; CPU: %% of one core over the "
          "run, 'all' = the whole machine of %d cores)"
          % (",".join("%g" % s for s in a.speeds), a.timeout,
             os.cpu_count()))
    for load in a.loads:
        for w in a.ways:
            r = results[(w, load)]
            extra = []
            if r.kinds:
                extra.append("errors " + " ".join(
                    "%s=%d" % kv for kv in sorted(r.kinds.items())))
            if len(r.run_p99) > 1:
                extra.append("p99 of each round: " + " ".join(
                    fmt_ms(x) for x in r.run_p99))
            extra += r.notes
            if w in ("ours", "haproxy", "ovn"):
                extra.append("CPU s: " + " ".join(
                    "%s=%.1f" % (k, v) for k, v in sorted(r.cpu.items())
                    if not k.startswith("cats-serve")))
            print("  %s @%g%%: %s" % (w, load, "; ".join(extra)))


def write_plot(a, bench, results):
    """build/bench/steer.png: p99 per way against load, and the latency
    CCDF of every way at the top load.  Returns the path or an error."""
    os.makedirs(a.out, exist_ok=True)
    top = a.loads[-1]
    dat = os.path.join(a.out, "steer.dat")
    with open(dat, "w") as f:
        f.write("# way load p50_ms p99_ms p99.9_ms\n")
        for w in a.ways:
            for load in a.loads:
                r = results[(w, load)]
                f.write("%s %g %.3f %.3f %.3f\n" % (w, load, r.pct(50),
                                                    r.pct(99),
                                                    r.pct(99.9)))
            f.write("\n\n")
    ccdf = {}
    for w in a.ways:
        r = results[(w, top)]
        path = os.path.join(a.out, "steer-ccdf-%s.dat" % w)
        n = len(r.lat)
        with open(path, "w") as f:
            f.write("# latency_ms fraction_slower\n")
            if n:
                lo = max(r.lat[0], 0.1)
                hi = r.lat[-1]
                steps = 300
                for i in range(steps + 1):
                    x = lo * (hi / lo) ** (i / steps) if hi > lo else lo
                    frac = 1.0 - bisect.bisect_right(r.lat, x) / n
                    f.write("%.4f %.3e\n" % (x, max(frac, 0.5 / n)))
        ccdf[w] = path
    png = os.path.join(a.out, "steer.png")
    labels = {w: bench.ways[w].label for w in a.ways}
    gp = ["set terminal pngcairo size 1400,560 font ',11'" if
          _has_cairo() else "set terminal png size 1400,560",
          "set output '%s'" % png,
          "set multiplot layout 1,2 title 'Steering new connections to "
          "instances of speeds %s (%d slots, %s ms)'"
          % ("/".join("%g" % s for s in a.speeds), a.slots,
             a.service_time),
          "set logscale y", "set grid",
          "set format y '%g'",
          "set xlabel 'offered load, % of total capacity'",
          "set ylabel 'latency, ms (log)'",
          "set key bottom right box opaque",
          "set xrange [%g:%g]" % (min(a.loads) - 5, max(a.loads) + 5),
          "set title 'p99 (solid) and p50 (dashed); failed requests count "
          "as %d ms'" % a.timeout,
          "plot " + ", ".join(
              "'%s' index %d using 2:4 with linespoints lw 2 pt 7 lc %d "
              "title '%s', '' index %d using 2:3 with linespoints lw 1 "
              "dt 2 pt 6 lc %d notitle"
              % (dat, i, i + 1, labels[w], i, i + 1)
              for i, w in enumerate(a.ways)),
          "unset xrange",
          "set logscale x",
          "set format y '10^{%T}'",
          "set xlabel 'latency, ms (log)'",
          "set ylabel 'fraction of requests slower (log)'",
          "set key bottom left box opaque",
          "set title 'latency CCDF at %g%% load'" % top,
          "plot " + ", ".join(
              "'%s' using 1:2 with lines lw 2 lc %d title '%s'"
              % (ccdf[w], i + 1, labels[w]) for i, w in enumerate(a.ways)),
          "unset multiplot"]
    return gnuplot.render(a.out, "steer", gp, png, dat)


def _has_cairo():
    p = subprocess.run(["gnuplot", "-e", "set terminal"],
                       capture_output=True, text=True)
    return "pngcairo" in (p.stdout + p.stderr)


# -- main --------------------------------------------------------------------
def on_signal(signum, frame):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def main():
    a = parse_args()
    reason = steer_preflight(a)
    if reason:
        print("steer: cannot run: %s" % reason, file=sys.stderr)
        return 1
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    workdir = tempfile.mkdtemp(prefix="cats-steer-")
    set_ovs_env(os.path.join(workdir, "ovs"))
    bench = Bench(a, workdir)
    results = {}
    failed = None
    t_start = time.monotonic()
    try:
        bench.site = SteerSite(workdir, n_clients=2,
                               n_instances=len(a.speeds), bridge=BRIDGE,
                               subnet=SUBNET, service_port=PORT)
        bench.site.start()
        cap = bench.capacity()
        print("steer: %d instances, %d slots, %s ms x speeds %s: capacity "
              "%.0f req/s; loads %s%%; %g s warm-up + %g s per way, %d "
              "round(s); seed %d; ovs-cats decide=%s; workdir %s"
              % (len(a.speeds), a.slots, a.service_time,
                 ",".join("%g" % s for s in a.speeds), cap,
                 ",".join("%g" % x for x in a.loads), a.warmup, a.duration,
                 a.rounds, a.seed, a.decide, workdir), flush=True)
        bench.client_ports()
        bench.start_servers()
        for w in a.ways:
            bench.ways[w] = WAYS[w](bench)
        for w in a.ways:
            t0 = time.monotonic()
            bench.ways[w].setup()
            print("steer: %s ready (%.1f s)" % (w, time.monotonic() - t0),
                  flush=True)
        for li, load in enumerate(a.loads):
            rate = cap * load / 100.0
            for w in a.ways:
                results[(w, load)] = Result(a, w, load, rate)
            for rnd in range(a.rounds):
                k = (li + rnd) % len(a.ways)
                order = a.ways[k:] + a.ways[:k]
                seed = a.seed + 1000 * rnd + int(load)
                for w in order:
                    r = results[(w, load)]
                    t0 = time.monotonic()
                    c0 = r.crashes
                    bench.measure(bench.ways[w], r, seed)
                    print("steer: %-8s %3g%% round %d: p99 %s ms; so far "
                          "%d requests, %d errors (%.0f s)%s"
                          % (w, load, rnd + 1, fmt_ms(r.run_p99[-1]),
                             len(r.lat), r.errors, time.monotonic() - t0,
                             "; ovs-vswitchd crashed" if r.crashes > c0
                             else ""),
                          flush=True)
            for w in a.ways:
                results[(w, load)].finish()
    except BaseException as e:
        failed = e
    finally:
        # Cleanup must not be cut short by a second Ctrl-C.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        for w in reversed(list(bench.ways)):
            try:
                bench.ways[w].teardown()
            except Exception as e:
                print("warning: %s teardown: %s" % (w, e), file=sys.stderr)
        if bench.site is not None:
            bench.site.stop()
        interrupted = isinstance(failed, (KeyboardInterrupt, SystemExit))
        if a.keep or (failed is not None and not interrupted):
            print("steer: kept %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
    if failed is not None:
        if isinstance(failed, KeyboardInterrupt):
            print("steer: interrupted; cleaned up", file=sys.stderr)
            return 130
        if isinstance(failed, SystemExit):
            print("steer: killed; cleaned up", file=sys.stderr)
            return failed.code if isinstance(failed.code, int) else 1
        import traceback
        traceback.print_exception(type(failed), failed,
                                  failed.__traceback__)
        print("steer: failed: %s" % failed, file=sys.stderr)
        return 1

    print()
    print_table(a, bench, results)
    png, err = write_plot(a, bench, results)
    print("steer: plot %s" % (png or err))
    print("steer: %.0f s in all" % (time.monotonic() - t_start))
    top = a.loads[-1]

    def p99(w):
        r = results.get((w, top))
        return r.pct(99) if r else float("nan")
    x, y, z, w4 = p99("ours"), p99("ovn"), p99("haproxy"), p99("ecmp")
    # Every way that ran has a number: a run during which the switch died
    # is in it, its unanswered requests as failures.  Say so here too,
    # just above the last line.
    n_runs = sum(r.runs for r in results.values())
    n_crash = sum(r.crashes for r in results.values())
    print("steer: ovs-vswitchd crashed in %d of %d runs%s"
          % (n_crash, n_runs, "" if not n_crash else
             " (%s); the p99s include those runs, unanswered requests "
             "counted as %d ms" % (", ".join(
                 "%s %d" % kv for kv in sorted(bench.crashes.items())),
                 a.timeout)))
    print("steer: p99_ours_ms=%.2f p99_ovn_ms=%.2f p99_haproxy_ms=%.2f "
          "p99_ecmp_ms=%.2f ratio_ovn=%.3f ratio_haproxy=%.3f"
          % (x, y, z, w4, x / y if y else float("nan"),
             x / z if z else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

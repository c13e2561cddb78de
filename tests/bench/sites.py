#!/usr/bin/python3
"""make bench-sites: choosing (instance, path) for each new connection
between two sites, four ways, the same arrivals, a congestion episode.

    /usr/bin/python3 tests/bench/sites.py --build-dir build

Two sites under one cats-controller, joined by two cats-gw paths
(topologies/gw_sites.py, SteeredSites): path1 2 ms / 20 Mb/s, path2
5 ms / 50 Mb/s.  Site A has two clients and one slow instance, site B
three instances of different speeds and slots; every instance runs
cats-serve (a capacity of its slots) and a cats-agent.  Both clients
run cats-load (open loop, Poisson, one new TCP connection per request,
DSCP 26: the gateways' class 3) at SITES_LOAD of the instances' total
capacity.  In the middle of the window a UDP flood loads path1 past its
rate (its gateway marks ECN and pauses): the congestion episode.  Each
way gets a fresh topology, the same seeds and the same schedule:

  joint         ovs-cats choosing (instance, path) (--path-policy=joint)
  compute_only  ovs-cats's instance choice, paths by ECMP (ecmp)
  nearest       local site until full, then lowest delay (nearest)
  static_path   instance by load, always the lowest-delay path
                (lowest-delay)

After the joint run's load, long-lived connections (cats_exchange.py)
and a pause storm on the path that carries most of them: storm_evict_ms
is from the gateway's watchdog firing to cats/paths showing the path
evicted (as tests/integration/test_sites.py measures it), reroute_broken
the connections that broke.  Prints a table per way, writes
build/bench/sites.png (p99 per 1 s window) and ends with the line

    sites: p99_joint_ms=.. p99_compute_only_ms=.. p99_nearest_ms=..
        p99_static_path_ms=.. ratio_compute_only=.. ratio_nearest=..
        storm_evict_ms=.. reroute_broken=..        (on one line)

the p99s being those of requests scheduled during the episode.  Options:
SITES_* variables (tests/bench/README.md).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "topologies"))
import cats_workload as cw  # noqa: E402
import gw_sites  # noqa: E402
import gnuplot  # noqa: E402  (tests/bench/, the script's own folder)

WAYS = {
    "joint": ("joint", "ovs-cats (instance, path)"),
    "compute_only": ("ecmp", "instance by ovs-cats, path by ECMP"),
    "nearest": ("nearest", "nearest site, then lowest delay"),
    "static_path": ("lowest-delay", "instance by load, lowest-delay path"),
}
PATHS = (gw_sites.PathSpec(2, "20M"), gw_sites.PathSpec(5, "50M"))
# Host: (slots, speed); service times SITES_SERVICE_MS x speed.
INSTANCES = {"bsl1": (4, 2.0),                 # site A
             "bsr1": (4, 1.0), "bsr2": (4, 2.0), "bsr3": (2, 1.0)}
TOS = 0x68                      # DSCP 26: class 3 (the flooded one)
STORM_SECS = 2.5
N_EXCHANGES = 12


def env(name, default):
    return os.environ.get(name, default)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--out", default=env("SITES_OUT", None))
    ap.add_argument("--duration", type=float,
                    default=float(env("SITES_DURATION", "30")))
    ap.add_argument("--warmup", type=float,
                    default=float(env("SITES_WARMUP", "3")))
    ap.add_argument("--episode", type=float,
                    default=float(env("SITES_EPISODE", "10")),
                    help="flood seconds, centred in the window")
    ap.add_argument("--load", type=float,
                    default=float(env("SITES_LOAD", "0.8")))
    ap.add_argument("--service-ms", type=float,
                    default=float(env("SITES_SERVICE_MS", "40")))
    ap.add_argument("--flood-factor", type=float,
                    default=float(env("SITES_FLOOD_FACTOR", "2.5")))
    ap.add_argument("--seed", type=int, default=int(env("SITES_SEED", "1")))
    ap.add_argument("--timeout-ms", type=int,
                    default=int(env("SITES_TIMEOUT_MS", "3000")))
    ap.add_argument("--ways", default=env("SITES_WAYS", ",".join(WAYS)))
    ap.add_argument("--no-storm", action="store_true",
                    default=env("SITES_STORM", "1") == "0")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    a.build_dir = os.path.abspath(a.build_dir)
    a.out = os.path.abspath(a.out or os.path.join(a.build_dir, "bench"))
    a.ways = [w for w in a.ways.split(",") if w]
    for w in a.ways:
        if w not in WAYS:
            ap.error("unknown way %r (%s)" % (w, ", ".join(WAYS)))
    if a.episode >= a.duration - a.warmup:
        ap.error("the episode must fit in the window after the warm-up")
    return a


def capacity_rps(a):
    return sum(slots * 1000.0 / (a.service_ms * speed)
               for slots, speed in INSTANCES.values())


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q / 100.0 * len(v)))]


def wait_ready(s, timeout=30.0):
    end = time.monotonic() + timeout
    missing = "nothing checked"
    while time.monotonic() < end:
        ag = cw.parse_agents(s.ctl.appctl("cats/agents", check=False),
                             service=s.SERVICE)
        n = sum(1 for x in ag.values() if x["lease"] == "active")
        st = s.path_states()
        missing = []
        if n < len(s.instances()):
            missing.append("%d/%d agents" % (n, len(s.instances())))
        for k in s.gws:
            if s.path_name(k) not in st:
                missing.append("no %s" % s.path_name(k))
        if not missing:
            return None
        time.sleep(0.2)
    return ", ".join(missing)


def evicted(st, name):
    if not st:
        return False
    if st["state"] in ("storm", "dead"):
        return True
    return st["carrier"] not in (None, name, "-", "self", "itself")


def storm_phase(s):
    """Long-lived connections, then a pause storm on the path carrying
    most of them: (evict_ms, broken, detail)."""
    c1 = s.clients[0]
    ex = s.exchanges(c1)
    ex.open(N_EXCHANGES, 0.05)
    time.sleep(N_EXCHANGES * 0.05 + 1.5)
    paths = s.conn_paths()
    conns = ex.report()["conns"]
    on = {}
    for c in conns:
        k = paths.get((s.ip[c1], c["sport"]))
        if k in (1, 2):
            on[k] = on.get(k, 0) + 1
    k = max(on, key=lambda x: (on[x], -x)) if on else 1
    name = s.path_name(k)
    st = s.storm_start(k, secs=STORM_SECS)
    t_fire = st.first + gw_sites.STEERED_WATCHDOG_MS / 1e3
    t_ev = None
    end = time.monotonic() + STORM_SECS
    while time.monotonic() < end:
        text = s.paths_text()
        t = time.monotonic()
        if evicted(gw_sites.parse_paths(text).get(name), name):
            t_ev = t
            break
        time.sleep(0.005)
    s.storm_wait(st)
    time.sleep(1.0)
    done = ex.stop()
    broken = [c for c in done["conns"] if c["state"] == "broken"]
    evict_ms = (t_ev - t_fire) * 1e3 if t_ev is not None else float("nan")
    detail = ("storm on %s (%d of %d long-lived connections on it, %s): "
              "evicted %s ms after the watchdog fired; broken %d%s"
              % (name, on.get(k, 0), len(conns), on,
                 "%.0f" % evict_ms if t_ev else "never",
                 len(broken),
                 " (%s)" % ", ".join("#%d %s" % (c["id"], c["why"])
                                     for c in broken) if broken else ""))
    return evict_ms, len(broken), detail


class Result:
    def __init__(self, way):
        self.way = way
        self.rows = []          # (sched_s from the window start, ms, ok,
        #                          instance)
        self.episode = (0.0, 0.0)
        self.evict_ms = float("nan")
        self.broken = None
        self.storm_detail = ""
        self.error = None

    def window(self, lo, hi):
        return [ms for t, ms, ok, _ in self.rows if lo <= t < hi]

    def summary(self, a):
        e0, e1 = self.episode
        allw = self.window(a.warmup, a.duration)
        epi = self.window(e0, e1)
        ok = sum(1 for t, _, good, _ in self.rows
                 if good and t >= a.warmup)
        err = sum(1 for t, _, good, _ in self.rows
                  if not good and t >= a.warmup)
        return {"p50": pct(allw, 50), "p99": pct(allw, 99),
                "p50_ep": pct(epi, 50), "p99_ep": pct(epi, 99),
                "ok": ok, "err": err,
                "local": sum(1 for t, _, good, inst in self.rows
                             if good and t >= a.warmup
                             and inst == "bsl1")}


def run_way(a, way, res):
    policy = WAYS[way][0]
    rate = a.load * capacity_rps(a)
    with tempfile.TemporaryDirectory(prefix="cats-bench-sites-") as d:
        s = gw_sites.SteeredSites(
            d, paths=PATHS, n_clients=2, n_remote=3, name="bs",
            build_dir=a.build_dir, lease_ms=1000,
            service_time="exp:%g" % a.service_ms,
            instance_opts=INSTANCES,
            controller_args=["--path-policy=" + policy])
        try:
            s.start()
            missing = wait_ready(s)
            if missing:
                raise RuntimeError("not ready: %s" % missing)
            time.sleep(2.0)
            loads = []
            for i, c in enumerate(s.clients):
                loads.append(s.wl.start_load(
                    s.host(c), rate / len(s.clients), a.duration,
                    seed=a.seed + i, timeout_ms=a.timeout_ms,
                    extra=["--tos=%d" % TOS]))
            t_launch = time.monotonic()
            e0 = (a.duration - a.episode) / 2.0
            time.sleep(max(0.0, t_launch + e0 - time.monotonic()))
            for ld in loads:
                ld.poll()
            fl = s.flood_start(1, s.remote[-1], secs=a.episode,
                               factor=a.flood_factor)
            sent, errors = s.flood_wait(fl)
            for ld in loads:
                ld.wait(timeout=a.duration + a.timeout_ms / 1e3 + 30)
            t0 = min(ld.start_time() for ld in loads)
            res.episode = (fl.started - t0, fl.started - t0 + a.episode)
            for ld in loads:
                off = ld.start_time() - t0
                for sched, ms, status, inst in ld.samples():
                    good = status == "ok"
                    res.rows.append((sched + off,
                                     ms if good else float(a.timeout_ms),
                                     good, inst))
            if way == "joint" and not a.no_storm:
                time.sleep(2.0)
                res.evict_ms, res.broken, res.storm_detail = storm_phase(s)
        except Exception as e:  # noqa: B902 (reported in the table)
            res.error = "%s: %s" % (type(e).__name__, e)
            print(traceback.format_exc(), file=sys.stderr)
            if s.ctl:
                print(s.ctl.log_tail(15), file=sys.stderr)
        finally:
            s.stop()
            if a.keep:
                keep = os.path.join(a.out, "sites-%s" % way)
                shutil.rmtree(keep, ignore_errors=True)
                shutil.copytree(d, keep, ignore_dangling_symlinks=True,
                                ignore=shutil.ignore_patterns("*.sock",
                                                              "*.ctl"))


def fmt(v):
    return "-" if v != v else "%.1f" % v


def print_table(a, results):
    e = results[a.ways[0]].episode
    print("\n%d s per way (warm-up %g s), %.0f req/s (%.0f%% of %.0f), "
          "episode %.1f-%.1f s (path1 flooded at %gx)"
          % (a.duration, a.warmup, a.load * capacity_rps(a), a.load * 100,
             capacity_rps(a), e[0], e[1], a.flood_factor))
    hdr = ("way", "p50 ms", "p99 ms", "p50 ep", "p99 ep", "completed",
           "errors", "local")
    print("%-13s %8s %8s %8s %8s %9s %7s %6s" % hdr)
    for w in a.ways:
        r = results[w]
        if r.error:
            print("%-13s failed: %s" % (w, r.error))
            continue
        x = r.summary(a)
        print("%-13s %8s %8s %8s %8s %9d %7d %5.0f%%"
              % (w, fmt(x["p50"]), fmt(x["p99"]), fmt(x["p50_ep"]),
                 fmt(x["p99_ep"]), x["ok"], x["err"],
                 100.0 * x["local"] / max(1, x["ok"])))
    for w in a.ways:
        if results[w].storm_detail:
            print("%s: %s" % (w, results[w].storm_detail))


def write_plot(a, results):
    os.makedirs(a.out, exist_ok=True)
    dat = os.path.join(a.out, "sites.dat")
    ways = [w for w in a.ways if not results[w].error]
    with open(dat, "w") as f:
        f.write("# way second p99_ms\n")
        for w in ways:
            r = results[w]
            for sec in range(int(a.duration)):
                v = r.window(sec, sec + 1)
                if v:
                    f.write("%s %d %.3f\n" % (w, sec, pct(v, 99)))
            f.write("\n\n")
    e0, e1 = results[a.ways[0]].episode
    png = os.path.join(a.out, "sites.png")
    cairo = "pngcairo" in subprocess.run(
        ["gnuplot", "-e", "set terminal"], capture_output=True,
        text=True).stdout if shutil.which("gnuplot") else False
    gp = ["set terminal pngcairo size 1100,520 font ',11'" if cairo
          else "set terminal png size 1100,520",
          "set output '%s'" % png, "set termoption noenhanced",
          "set title 'Two sites, two paths: p99 per 1 s window, path1 "
          "flooded %.1f-%.1f s (shaded); failed requests count as %d ms'"
          % (e0, e1, a.timeout_ms),
          "set object 1 rect from %g, graph 0 to %g, graph 1 behind "
          "fillcolor rgb '#eeeeee' fillstyle solid noborder" % (e0, e1),
          "set logscale y", "set grid", "set format y '%g'",
          "set xlabel 'time, s (requests by scheduled time)'",
          "set ylabel 'p99 latency, ms (log)'",
          "set key top left box opaque",
          "plot " + ", ".join(
              "'%s' index %d using 2:3 with linespoints lw 2 pt 7 ps 0.6 "
              "lc %d title '%s (%s)'" % (dat, i, i + 1, w, WAYS[w][1])
              for i, w in enumerate(ways))]
    return gnuplot.render(a.out, "sites", gp, png, dat)


def main():
    a = parse_args()
    if os.geteuid() != 0:
        print("bench-sites: needs root (Mininet, OVS, DPDK)",
              file=sys.stderr)
        return 2
    t_start = time.monotonic()
    results = {}
    for w in a.ways:
        results[w] = Result(w)
        t = time.monotonic()
        run_way(a, w, results[w])
        print("# %s: %.0f s%s" % (w, time.monotonic() - t,
                                  " (%s)" % results[w].error
                                  if results[w].error else ""),
              file=sys.stderr)
    print_table(a, results)
    png, why = write_plot(a, results)
    print("plot: %s" % (png or why))
    print("# bench-sites: %.0f s" % (time.monotonic() - t_start),
          file=sys.stderr)

    def p99(w):
        r = results.get(w)
        return r.summary(a)["p99_ep"] if r and not r.error else float("nan")

    def ratio(x, y):
        return x / y if y == y and y > 0 and x == x else float("nan")

    j = results.get("joint")
    pj = p99("joint")
    print("sites: p99_joint_ms=%.1f p99_compute_only_ms=%.1f "
          "p99_nearest_ms=%.1f p99_static_path_ms=%.1f "
          "ratio_compute_only=%.3f ratio_nearest=%.3f storm_evict_ms=%.0f "
          "reroute_broken=%s"
          % (pj, p99("compute_only"), p99("nearest"), p99("static_path"),
             ratio(pj, p99("compute_only")), ratio(pj, p99("nearest")),
             j.evict_ms if j else float("nan"),
             j.broken if j and j.broken is not None else "nan"))
    return 1 if any(r.error for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

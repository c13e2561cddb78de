#!/usr/bin/python3
"""Two sites joined by two cats-gw paths (topologies/gw_sites.py).

Site A and site B are Mininet hosts on their own userspace-datapath OVS
bridges, each with a router host; path 1 (2 ms each way, 20 Mb/s) and
path 2 (5 ms each way, 50 Mb/s) each go through their own cats-gw
(net_af_packet on veths, --no-huge, one lcore), with class 3 (DSCP 24-31)
lossless and ECN-marking; the destination address chooses the path.  Both
gateways push their paths to one cats-controller (gRPC on a unix socket).

  - ping over each path shows that path's delay: RTT about 2 x 2 ms and
    2 x 5 ms, and the two differ by 2 x 3 ms;
  - an ECT(0) DSCP 26 UDP flood at 2.5 x path 1's rate gets CE marks at the
    receiver and in path 1's gateway, PFC pauses sent toward site A,
    drops counted as headroom only, and path 1 delivers no more than its
    rate;
  - path 2 sees none of it (no marks, pauses or drops) and its RTT stays
    2 x 5 ms during the flood (some pings may be lost in site A's bridge,
    which carries the flood too);
  - the controller has both gateways' paths: path 1 with marks and
    pauses, path 2 with none.

Everything is removed by PID and by name (gw_sites.py's cleanup), and
EAL's runtime directories with it.

usage: test_gw_sites.py [--build-dir build] [--keep] [-v]
"""

import argparse
import os
import shutil
import sys
import time
import traceback

from catslib import result, skip, info, TempDir, REPO, have_mininet
import gw_sites  # noqa: E402

CHECKS = [
    "sites: two sites up, both gateways forwarding, controller up",
    "path 1: ping RTT is 2 x 2 ms",
    "path 2: ping RTT is 2 x 5 ms",
    "paths told apart: RTT over path 2 - path 1 is 2 x 3 ms",
    "overload path 1: CE marks at the receiver and in its gateway",
    "overload path 1: PFC pauses toward site A, drops by headroom only",
    "overload path 1: held to its 20 Mb/s",
    "path 2 during the overload: no marks, pauses or drops, RTT 2 x 5 ms",
    "controller: both paths pushed, path 1 marked and paused, path 2 not",
]

PATHS = (gw_sites.PathSpec(2, "20M"), gw_sites.PathSpec(5, "50M"))
# ping: the minimum must be at least the configured round trip (the delay
# lines) and within MIN_SLACK of it, the median within MEDIAN_SLACK (OVS's
# userspace datapath and two router hops on a loaded 2-core machine).  A
# path gets up to ROUNDS rounds of pings: one passing round is enough (a
# round can land in a moment when the machine is starved).
MIN_SLACK_MS = 4.0
MEDIAN_SLACK_MS = 8.0
ROUNDS = 3
# The flood: this many times path 1's rate (from a site A host, through
# site A's bridge: the machine's ovs-vswitchd, shared with other tests).
FLOOD_FACTOR = 2.5


BINARIES = ("cats-gw", "cats-controller")


def wait_built(path, timeout=30.0):
    """True once 'path' is an executable (a relink in progress may have
    removed it for a moment)."""
    end = time.monotonic() + timeout
    while not os.access(path, os.X_OK):
        if time.monotonic() > end or not os.path.isdir(
                os.path.dirname(path)):
            return False
        time.sleep(0.5)
    return True


def rtt_ok(r, delay_ms, min_received=0.8, min_slack=MIN_SLACK_MS,
           median_slack=MEDIAN_SLACK_MS):
    """(ok, detail) for ping result r over a path of delay_ms each way."""
    want = 2 * delay_ms
    if r["min"] is None or r["received"] < r["sent"] * min_received:
        return False, "ping: %d/%d received" % (r["received"], r["sent"])
    good = want <= r["min"] < want + min_slack and \
        r["median"] < want + median_slack
    return good, ("rtt min/median/max %.2f/%.2f/%.2f ms, want min in "
                  "[%.1f, %.1f) and median < %.1f; %d/%d received"
                  % (r["min"], r["median"], r["max"], want, want + min_slack,
                     want + median_slack, r["received"], r["sent"]))


def measure_path(s, a, b, path, delay_ms):
    """Up to ROUNDS rounds of 20 pings; returns (ok, detail, result)."""
    details = []
    for _ in range(ROUNDS):
        r = s.ping(a, b, path, count=20, interval=0.03)
        ok, detail = rtt_ok(r, delay_ms)
        details.append(detail)
        if ok:
            break
    return ok, " / ".join(details), r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    t0 = time.monotonic()

    reason = None
    if os.geteuid() != 0:
        reason = "needs root"
    elif not shutil.which("dpdk-testpmd") or not shutil.which(
            "dpdk-telemetry.py"):
        reason = "DPDK is not installed (dpdk, dpdk-dev: make deps)"
    elif not have_mininet():
        reason = "no mininet module in %s" % sys.executable
    else:
        for b in BINARIES:
            if not wait_built(os.path.join(build, b)):
                reason = "build/%s not built" % b
        for tool in ("ovs-vsctl", "ethtool", "ping", "mnexec"):
            if not shutil.which(tool):
                reason = "%s not installed" % tool
    if reason:
        for c in CHECKS:
            skip(c, reason)
        return 0

    reported = {}

    def check(name, ok, detail=""):
        reported[name] = ok
        result(name, ok, detail)

    with TempDir(keep=args.keep, prefix="cats-gw-sites-it-") as d:
        s = None
        try:
            # Our own copies: other work may relink build/ meanwhile.
            bindir = os.path.join(d, "bin")
            os.mkdir(bindir)
            for b in BINARIES:
                wait_built(os.path.join(build, b))
                shutil.copy2(os.path.join(build, b), bindir)
            s = gw_sites.GwSites(d, paths=PATHS, n_hosts=2, name="gt",
                                 build_dir=bindir,
                                 log_level="info" if args.verbose
                                 else "warning")
            s.start()
            check(CHECKS[0], True)
            info(s.describe())
            a, b = s.host_names("a")[0], s.host_names("b")[0]

            # Delay, path by path.  A first ping warms things up.
            s.ping(a, b, 1, count=2)
            s.ping(a, b, 2, count=2)
            ok1, d1, r1 = measure_path(s, a, b, 1, PATHS[0].delay_ms)
            ok2, d2, r2 = measure_path(s, a, b, 2, PATHS[1].delay_ms)
            check(CHECKS[1], ok1, d1)
            check(CHECKS[2], ok2, d2)
            info("path 1: " + d1)
            info("path 2: " + d2)
            if r1["min"] is not None and r2["min"] is not None:
                diff = r2["min"] - r1["min"]
                want = 2 * (PATHS[1].delay_ms - PATHS[0].delay_ms)
                check(CHECKS[3], abs(diff - want) < 3.0,
                      "min rtt path 2 - path 1 = %.2f ms, want %.1f +- 3"
                      % (diff, want))
                info("min rtt path 2 - path 1: %.2f ms" % diff)
            else:
                check(CHECKS[3], False, "no rtt")

            # Overload path 1; meanwhile ping over path 2.
            before2 = [s.class_stats(2, port) for port in (0, 1)]
            during = {}

            def ping_path2():
                during["p"] = s.ping_start(a, b, 2, count=15,
                                           interval=0.05)
            f = s.flood(a, b, 1, secs=1.5, factor=FLOOD_FACTOR,
                        on_start=ping_path2)
            r2b = s.ping_wait(during["p"])
            p0 = s.stats(1, 0)
            c1 = p0["class3"]
            info("flood over path 1: sent %d (%d send errors), received %d, "
                 "%d CE, %.1f Mb/s at the receiver"
                 % (f["sent"], f["send_errors"], f["packets"], f["ce"],
                    f["ip_bps"] / 1e6))
            info(s.summary())
            check(CHECKS[4], f["ce"] > 0 and c1["ecn_marked"] > 0
                  and f["ce"] <= c1["ecn_marked"],
                  "receiver CE %d of %d, gateway marked %d"
                  % (f["ce"], f["packets"], c1["ecn_marked"]))
            others = sum(v for k, v in c1.items()
                         if k.startswith("drop_") and k != "drop_headroom")
            check(CHECKS[5], c1["pause_tx"] > 0
                  and p0["pfc_frames_tx"] >= c1["pause_tx"]
                  and c1["drops"] == c1["drop_headroom"] and others == 0,
                  "pause_tx %d, pfc frames %d, drops %d (headroom %d, "
                  "other reasons %d)"
                  % (c1["pause_tx"], p0["pfc_frames_tx"], c1["drops"],
                     c1["drop_headroom"], others))
            rate = PATHS[0].rate_bps
            # IP bytes at the receiver; the gateway's rate counts 38 more
            # bytes of Ethernet per frame (1066 per 1028 IP).  Below the
            # rate when the machine starves the flood's sender, site A's
            # bridge or the gateway's lcore for a while: the queue empties.
            check(CHECKS[6], 0.4 * rate <= f["ip_bps"] <= 1.02 * rate,
                  "%.2f Mb/s of IP at the receiver over %.2f s, want 40%% "
                  "to 102%% of %.0f Mb/s" % (f["ip_bps"] / 1e6, f["span"],
                                            rate / 1e6))
            after2 = [s.class_stats(2, port) for port in (0, 1)]
            bad = []
            for port, (x, y) in enumerate(zip(before2, after2)):
                for k in ("ecn_marked", "pause_tx", "pause_rx", "drops"):
                    if y[k] != x[k] or y[k]:
                        bad.append("port %d %s %d" % (port, k, y[k]))
            # Site A's bridge and router carry the flood too: pings that
            # they lose or hold are not path 2's (its gateway counts no
            # drop).  Path 1's queue would add up to 300K at 20 Mb/s:
            # 120 ms.
            ok2b, d2b = rtt_ok(r2b, PATHS[1].delay_ms, min_received=0.3,
                               min_slack=2 * MIN_SLACK_MS,
                               median_slack=3 * MEDIAN_SLACK_MS)
            check(CHECKS[7], not bad and ok2b,
                  "; ".join(bad + ([] if ok2b else ["ping: " + d2b])))
            info("path 2 during the flood: " + d2b)

            # The controller: both paths, as pushed.
            text, links, why = "", {}, "no telemetry"
            deadline = time.monotonic() + 10
            while True:
                text = s.controller_text()
                links = gw_sites.parse_telemetry(text)
                why = check_controller(links)
                if not why or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            info(text.strip())
            check(CHECKS[8], not why, why)
        except Exception as e:  # noqa: B902 (report, then clean up)
            info("error: %s: %s" % (type(e).__name__, e))
            print(traceback.format_exc(), file=sys.stderr)
            if s:
                for gw in s.gws.values():
                    info("cats-gw path %d log:\n%s" % (gw.index, gw.tail()))
        finally:
            if s:
                s.stop()
        for c in CHECKS:
            if c not in reported:
                result(c, False, "not reached")
    print("# test_gw_sites.py: %.1f s" % (time.monotonic() - t0),
          file=sys.stderr)
    return 1 if any(reported.get(c) is False or c not in reported
                    for c in CHECKS) else 0


def check_controller(links):
    """None if cats/telemetry has what the gateways saw, else why not."""
    want = {"gw-path1": ("path1-a:path1-b", "path1-b:path1-a"),
            "gw-path2": ("path2-a:path2-b", "path2-b:path2-a")}
    for src, ids in want.items():
        if src not in links:
            return "no source %s" % src
        for i in ids:
            if i not in links[src]:
                return "%s: no link %s" % (src, i)
            if links[src][i].get("kind") != "path":
                return "%s %s: not a path" % (src, i)
    l1 = links["gw-path1"]["path1-a:path1-b"]
    if not (l1.get("ecn_marked", 0) > 0
            and l1["pfc"].get(3, {}).get("tx", 0) > 0):
        return "path1-a:path1-b: ecn_marked %s, pfc3 tx %s" % (
            l1.get("ecn_marked"), l1["pfc"].get(3))
    for i in want["gw-path2"]:
        l2 = links["gw-path2"][i]
        if l2.get("ecn_marked") != 0 or l2.get("drops") != 0 \
                or any(v["tx"] or v["rx"] for v in l2["pfc"].values()):
            return "%s: ecn_marked %s drops %s pfc %s" % (
                i, l2.get("ecn_marked"), l2.get("drops"), l2["pfc"])
        if l2.get("tx_packets", 0) <= 0:
            return "%s: no packets counted" % i
    return None


if __name__ == "__main__":
    sys.exit(main())

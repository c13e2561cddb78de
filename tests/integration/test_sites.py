#!/usr/bin/python3
"""Two sites, two paths, one controller that steers each new connection
to an instance AND a path (topologies/gw_sites.py, the steered topology).

Site A: clients gsc1, gsc2 and a local instance gsl1 (four times slower);
site B: instances gsr1, gsr2; path 1 (2 ms, 20 Mb/s) and path 2 (5 ms,
50 Mb/s), each a cats-gw between a port of each bridge.  Every
connection here is one of cats_exchange.py's: long-lived, an exchange
every 50 ms, each timed, DSCP 26 (the gateways' lossless class 3) set by
the client's socket (IP_TOS) and reflected by the instances
(tcp_reflect_tos).  Which path a connection took: the path id in its
conntrack label (dpctl/dump-conntrack, site A's entry to the VIP); where
its packets go now: the gateways' port counters.

  sites.idle_prefers_low_delay      idle: most connections to site B take
                                    path 1 (lower delay)
  sites.congestion_shifts_new       DSCP 26 flood into path 1 at 2.5 x
                                    its rate: new connections opened 2 s
                                    after it started take path 2; those
                                    on path 1 before keep label 1; none
                                    breaks
  sites.storm_evicts_and_reroutes   pause storm on path 2 (from site B):
                                    cats/paths shows it evicted within
                                    200 ms of the watchdog firing (first
                                    pause + 200 ms); its connections keep
                                    label 2 but cross path 1 (path 1's
                                    gateway counts them, path 2's does
                                    not); zero resets; longest stall
  sites.storm_over_restores         after the storm: path 2 clean again
                                    (gateway and selector restore times)
                                    and its connections back on it
  sites.gateway_killed_is_a_storm   path 2's gateway SIGKILLed: evicted
                                    within the telemetry lease, its
                                    connections rerouted, zero resets

usage: test_sites.py [--build-dir build] [--keep] [-v]
"""

import argparse
import os
import shutil
import sys
import time
import traceback

from catslib import result, skip, info, TempDir, REPO, have_mininet
import cats_workload as cw  # noqa: E402
import gw_sites  # noqa: E402

CHECKS = [
    "sites.idle_prefers_low_delay",
    "sites.congestion_shifts_new",
    "sites.storm_evicts_and_reroutes",
    "sites.storm_over_restores",
    "sites.gateway_killed_is_a_storm",
]

BINARIES = ("cats-gw", "cats-controller", "cats-serve", "cats-agent")
PATHS = (gw_sites.PathSpec(2, "20M"), gw_sites.PathSpec(5, "50M"))
LEASE_MS = 1000                 # --agent-lease: telemetry's lease too
SELECTOR_RESTORE_MS = 1000      # CATS_SEL_RESTORE_MS
N_IDLE = 16                     # connections opened while idle
IDLE_SHARE = 0.75               # of those to site B, at least on path 1
FLOOD_SECS = 6.0
FLOOD_FACTOR = 2.5
SHIFT_S = 2.0                   # new connections on path 2 after this
SHIFT_SHARE = 0.8
EVICT_MS = 200                  # after the watchdog fires
STORM_SECS = 2.5
RESTORE_SLACK_S = 1.5


def wait_built(path, timeout=30.0):
    end = time.monotonic() + timeout
    while not os.access(path, os.X_OK):
        if time.monotonic() > end:
            return False
        time.sleep(0.5)
    return True


def evicted(st):
    """cats/paths' view of path2: out of selection or carried by
    another path."""
    if not st:
        return False
    if st["state"] in ("storm", "dead"):
        return True
    return st["carrier"] not in (None, "path2", "2", "-", "self", "itself")


def restored(st):
    """Back in selection (clean, or congested: not a storm) and carrying
    its own connections."""
    return bool(st) and st["state"] in ("clean", "congested") and \
        st["carrier"] in (None, "path2", "2", "-", "self", "itself")


def poll_paths(s, pred, timeout, name="path2"):
    """Polls cats/paths until pred(its view of 'name'): (monotonic time
    it was seen, text), or (None, last text)."""
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        text = s.paths_text()
        t = time.monotonic()
        if pred(gw_sites.parse_paths(text).get(name)):
            return t, text
        time.sleep(0.005)
    return None, text


def port_rx(counts, port=0):
    return int(counts[port].get("rx_packets", 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    t_start = time.monotonic()

    reason = None
    if os.geteuid() != 0:
        reason = "needs root"
    elif not shutil.which("dpdk-telemetry.py"):
        reason = "DPDK is not installed (dpdk, dpdk-dev: make deps)"
    elif not have_mininet():
        reason = "no mininet module in %s" % sys.executable
    else:
        for b in BINARIES:
            if not wait_built(os.path.join(build, b)):
                reason = "build/%s not built" % b
        for tool in ("ovs-vsctl", "ovs-ofctl", "ethtool", "mnexec"):
            if not shutil.which(tool):
                reason = "%s not installed" % tool
    if reason:
        for c in CHECKS:
            skip(c, reason)
        return 0

    reported = {}

    def check(name, ok, detail=""):
        ok = bool(ok)
        reported[name] = ok
        result(name, ok, detail)

    with TempDir(keep=args.keep, prefix="cats-sites-it-") as d:
        s = None
        why = None
        try:
            bindir = os.path.join(d, "bin")
            os.mkdir(bindir)
            for b in BINARIES:
                shutil.copy2(os.path.join(build, b), bindir)
            s = gw_sites.SteeredSites(
                d, paths=PATHS, n_clients=2, n_remote=2, name="gs",
                build_dir=bindir, lease_ms=LEASE_MS,
                log_level="info" if args.verbose else "warning")
            try:
                s.start()
            except Exception as e:      # noqa: B902 (the checks say why)
                why = "topology did not start: %s" % e
                info(why)
                log = os.path.join(d, "cats-controller.log")
                if os.path.exists(log):
                    with open(log) as f:
                        info("controller log:\n" + "".join(
                            f.readlines()[-15:]))
                s = None
            if s:
                run(s, check)
        except Exception as e:  # noqa: B902 (report, then clean up)
            why = "%s: %s" % (type(e).__name__, e)
            info("error: " + why)
            print(traceback.format_exc(), file=sys.stderr)
            if s:
                info("controller log:\n" + s.ctl.log_tail(20))
                for gw in s.gws.values():
                    info("cats-gw path %d log:\n%s" % (gw.index, gw.tail(8)))
        finally:
            if s:
                s.stop()
        for c in CHECKS:
            if c not in reported:
                result(c, False, why or "not reached")
    print("# test_sites.py: %.1f s" % (time.monotonic() - t_start),
          file=sys.stderr)
    return 1 if any(reported.get(c) is not True for c in CHECKS) else 0


def wait_ready(s, timeout=20.0):
    """Until every agent registered, both gateways' links are in
    cats/telemetry and cats/paths lists both paths: what is missing."""
    end = time.monotonic() + timeout
    missing = ["nothing checked"]
    while time.monotonic() < end:
        missing = []
        ag = cw.parse_agents(s.ctl.appctl("cats/agents", check=False),
                             service=s.SERVICE)
        n = sum(1 for a in ag.values() if a["lease"] == "active")
        if n < len(s.instances()):
            missing.append("%d/%d agents active" % (n, len(s.instances())))
        tel = gw_sites.parse_telemetry(s.ctl.appctl("cats/telemetry",
                                                    check=False))
        for k, gw in s.gws.items():
            if not set(s.link_ids(k)) <= set(tel.get(gw.source_id, {})):
                missing.append("no telemetry from %s" % gw.source_id)
        st = s.path_states()
        for k in s.gws:
            if s.path_name(k) not in st:
                missing.append("cats/paths has no %s" % s.path_name(k))
        if not missing:
            return None
        time.sleep(0.2)
    return ", ".join(missing)


def labelled(s, exs):
    """[(client name, connection view, path id or None)] of every
    connection of the Exchanges in exs ({client: Exchanges}), from their
    reports and site A's conntrack."""
    paths = s.conn_paths()
    res = []
    for client, ex in exs.items():
        for c in ex.report()["conns"]:
            res.append((client, c, paths.get((s.ip[client], c["sport"]))))
    return res


def fmt_counts(rows):
    by = {}
    for _, c, k in rows:
        key = "path %s/%s" % (k, c["instance"])
        by[key] = by.get(key, 0) + 1
    return ", ".join("%s: %d" % kv for kv in sorted(by.items()))


def broken(rows):
    return ["%s#%d (%s)" % (cl, c["id"], c["why"]) for cl, c, _ in rows
            if c["state"] == "broken"]


def run(s, check):
    info(s.describe())
    missing = wait_ready(s)
    if missing:
        info("not ready after 20 s: %s" % missing)
    info(s.paths_text().strip() or "(cats/paths says nothing)")
    c1, c2 = s.clients[0], s.clients[1]
    remote = set(s.remote)
    exs = {c1: s.exchanges(c1)}

    # (1) Idle.
    exs[c1].open(N_IDLE, 0.1)
    time.sleep(0.1 * N_IDLE + 1.5)
    rows = labelled(s, exs)
    to_b = [(cl, c, k) for cl, c, k in rows if c["instance"] in remote]
    n1 = sum(1 for _, _, k in to_b if k == 1)
    n2 = sum(1 for _, _, k in to_b if k == 2)
    wrong = [c["id"] for _, c, k in rows
             if (c["instance"] in remote) != (k in (1, 2))]
    detail = ("%d connections (%s); to site B: %d on path 1, %d on path "
              "2, want >= %d%% on path 1; label/instance mismatches %s; "
              "broken %s" % (len(rows), fmt_counts(rows), n1, n2,
                             IDLE_SHARE * 100, wrong or "none",
                             broken(rows) or "none"))
    info("idle: " + detail)
    check(CHECKS[0], n1 + n2 >= 4 and n1 >= IDLE_SHARE * (n1 + n2)
          and not wrong and not broken(rows), detail)
    on_path1 = [(cl, c["sport"]) for cl, c, k in rows if k == 1]

    # (2) Flood path 1; new connections from c2 meanwhile.
    exs[c2] = s.exchanges(c2)
    g1 = s.gw_counts(1)
    fl = s.flood_start(1, s.remote[-1], secs=FLOOD_SECS,
                       factor=FLOOD_FACTOR)
    n_new = int((FLOOD_SECS - 0.5) / 0.2)
    exs[c2].open(n_new, 0.2)
    sent, errors = s.flood_wait(fl)
    g1b = s.gw_counts(1)
    rows = labelled(s, exs)
    new = [(c, k) for cl, c, k in rows if cl == c2
           and c["instance"] in remote]
    late = [(c, k) for c, k in new if c["opened"] >= fl.started + SHIFT_S]
    late2 = sum(1 for _, k in late if k == 2)
    p2 = sorted(c["opened"] - fl.started for c, k in new if k == 2)
    p1 = sorted(c["opened"] - fl.started for c, k in new if k == 1)
    now_paths = dict(((cl, c["sport"]), k) for cl, c, k in rows)
    moved = [x for x in on_path1 if now_paths.get(x) != 1]
    cls = "class%d" % gw_sites.LOSSLESS_CLASS
    marked = g1b[0][cls]["ecn_marked"] - g1[0][cls]["ecn_marked"]
    paused = g1b[0][cls]["pause_tx"] - g1[0][cls]["pause_tx"]
    detail = ("flood %d frames (%d errors) at %.1f x %s b/s for %.0f s: "
              "path 1 marked %d, paused %d; new connections to site B: "
              "%d, first on path 2 at +%s s, last on path 1 at +%s s; "
              "opened after +%.0f s: %d/%d on path 2 (want >= %d%%); "
              "path 1 connections from before that changed label: %d/%d; "
              "broken %s" % (sent, errors, FLOOD_FACTOR, PATHS[0].rate,
                             FLOOD_SECS, marked, paused, len(new),
                             "%.2f" % p2[0] if p2 else "-",
                             "%.2f" % p1[-1] if p1 else "-", SHIFT_S,
                             late2, len(late), SHIFT_SHARE * 100,
                             len(moved), len(on_path1),
                             broken(rows) or "none"))
    info("congestion: " + detail)
    check(CHECKS[1], len(late) >= 5 and late2 >= SHIFT_SHARE * len(late)
          and not moved and on_path1 and not broken(rows), detail)

    # (3) Pause storm on path 2.
    rows = labelled(s, exs)         # Resets the stall windows too.
    on2 = [(cl, c["id"], c["sport"]) for cl, c, k in rows
           if k == 2 and c["state"] == "up"]
    before = dict(((cl, c["id"]), c["replies"]) for cl, c, _ in rows)
    info("storm: %d live connections on path 2" % len(on2))
    # Path 1's own traffic over 1 s, to tell the rerouted from it.
    a1 = s.gw_counts(1)
    time.sleep(1.0)
    base1 = port_rx(s.gw_counts(1)) - port_rx(a1)
    st = s.storm_start(2, secs=STORM_SECS)
    t_fire = st.first + gw_sites.STEERED_WATCHDOG_MS / 1e3
    t_ev, text = poll_paths(s, evicted, STORM_SECS)
    ok3, detail = False, ""
    if t_ev is None:
        detail = ("no eviction of path2 in cats/paths within %.1f s of "
                  "the first pause: %s" % (STORM_SECS, text.strip()[:300]))
    else:
        time.sleep(max(0.0, t_ev + 0.3 - time.monotonic()))
        a1, a2 = s.gw_counts(1), s.gw_counts(2)
        time.sleep(1.0)
        b1, b2 = s.gw_counts(1), s.gw_counts(2)
        grow1 = port_rx(b1) - port_rx(a1)
        grow2 = port_rx(b2) - port_rx(a2)
        t_last, frames = s.storm_wait(st)
        rows = labelled(s, exs)
        mine = [(cl, c, k) for cl, c, k in rows
                if (cl, c["id"], c["sport"]) in on2]
        still2 = sum(1 for _, _, k in mine if k == 2)
        silent = [c["id"] for cl, c, _ in mine
                  if c["replies"] <= before[(cl, c["id"])] + 5]
        stall = max([c["win_ms"] for _, c, _ in mine] or [0])
        delay_ms = (t_ev - t_fire) * 1e3
        detail = ("eviction seen %.0f ms after the watchdog fired (first "
                  "pause + %d ms; want <= %d); %d connections on path 2, "
                  "%d keep label 2; over 1 s after: path 1 gateway got %d "
                  "packets from A (%d the second before the storm; want "
                  "%d more), path 2 %d (want <= 2); "
                  "connections that stopped answering: %s; longest stall "
                  "%.0f ms; broken %s; %d pause frames"
                  % (delay_ms, gw_sites.STEERED_WATCHDOG_MS, EVICT_MS,
                     len(on2), still2, grow1, base1, 5 * len(on2), grow2,
                     silent or "none", stall, broken(rows) or "none",
                     frames))
        ok3 = (delay_ms <= EVICT_MS and on2 and still2 == len(on2)
               and grow1 - base1 >= 5 * len(on2) and grow2 <= 2
               and not silent
               and not broken(rows))
        info("storm: " + detail)
        info(s.ctl.log_grep("path2", 5).strip())
    check(CHECKS[2], ok3, detail)

    # (4) Storm over.
    if t_ev is None:
        t_last, _ = s.storm_wait(st)
    budget = (gw_sites.STEERED_RESTORE_MS + SELECTOR_RESTORE_MS) / 1e3 \
        + RESTORE_SLACK_S
    t_back, text = poll_paths(s, restored,
                              t_last + budget + 1 - time.monotonic())
    if t_back is None:
        detail = ("path2 not restored in cats/paths %.1f s after the last "
                  "pause: %s" % (budget + 1, text.strip()[:300]))
        check(CHECKS[3], False, detail)
    else:
        time.sleep(max(0.0, t_back + 0.3 - time.monotonic()))
        a2 = s.gw_counts(2)
        time.sleep(1.0)
        b2 = s.gw_counts(2)
        grow2 = port_rx(b2) - port_rx(a2)
        rows = labelled(s, exs)
        detail = ("path 2 restored %.2f s after the last pause (want <= "
                  "%.1f: gateway %d ms + selector %d ms + %.1f s); its "
                  "gateway got %d packets from A over 1 s after (want >= "
                  "%d); broken %s"
                  % (t_back - t_last, budget, gw_sites.STEERED_RESTORE_MS,
                     SELECTOR_RESTORE_MS, RESTORE_SLACK_S, grow2,
                     5 * len(on2), broken(rows) or "none"))
        info("storm over: " + detail)
        check(CHECKS[3], t_back - t_last <= budget and on2
              and grow2 >= 5 * len(on2) and not broken(rows), detail)

    # (5) Path 2's gateway killed.
    rows = labelled(s, exs)
    on2 = [(cl, c["id"]) for cl, c, k in rows
           if k == 2 and c["state"] == "up"]
    before = dict(((cl, c["id"]), c["replies"]) for cl, c, _ in rows)
    t_kill = time.monotonic()
    s.kill_gateway(2)
    t_dead, text = poll_paths(s, evicted, LEASE_MS / 1e3 + 2.0)
    if t_dead is None:
        detail = ("path2 not evicted in cats/paths within %.1f s of its "
                  "gateway's SIGKILL: %s" % (LEASE_MS / 1e3 + 2.0,
                                             text.strip()[:300]))
        check(CHECKS[4], False, detail)
    else:
        st2 = gw_sites.parse_paths(text).get("path2")
        time.sleep(max(0.0, t_dead + 1.5 - time.monotonic()))
        rows = labelled(s, exs)
        mine = [(cl, c) for cl, c, _ in rows if (cl, c["id"]) in on2]
        silent = [c["id"] for cl, c in mine
                  if c["replies"] <= before[(cl, c["id"])] + 5]
        stall = max([c["win_ms"] for _, c in mine] or [0])
        detail = ("evicted (%s, carrier %s) %.0f ms after the SIGKILL "
                  "(want <= lease %d ms + 500); %d connections on path 2, "
                  "stopped answering: %s; longest stall %.0f ms; broken %s"
                  % (st2["state"], st2["carrier"], (t_dead - t_kill) * 1e3,
                     LEASE_MS, len(on2), silent or "none", stall,
                     broken(rows) or "none"))
        info("gateway killed: " + detail)
        check(CHECKS[4], (t_dead - t_kill) * 1e3 <= LEASE_MS + 500 and on2
              and not silent and not broken(rows), detail)
    for ex in exs.values():
        ex.stop()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Per-connection decisions (decide=connection): the controller picks each
new connection's instance, and the switch falls back to the group when
the controller is gone.

One site (topologies/single_site.py), service `decide=connection`: 3
instances, each cats-serve with 4 slots of 10 ms, i1 four times slower
(40 ms); cats-agent on each.  The switch sends the first packet of each
new connection to the controller paused (NXT_PACKET_IN2 with a
continuation), the controller resumes it with its pick, and the
instances' FIN/RST are copied to it (see cats/flow-model.h).  Checks:

- every agent registers and reports;
- a 6 s open-loop load at 200/s (one connection per request): every
  request succeeds;
- the controller picked at least 95% of those connections (cats/show's
  per-connection counters, against cats-load's request count), saw at
  least 90% of them end, and refused no packet-in;
- the slow instance's share of new connections is below half of each
  fast one's (its 4 slots serve a quarter of what theirs do);
- a second decide=connection service on the same instance addresses
  (its agents registered too), given no traffic, sees none of the first
  one's connection ends: each end is counted for the service whose
  connection it was, by conntrack mark (cats/explain's placed/ended);
- the pick flow is leased: with the controller killed (SIGKILL), it is
  gone from the switch within CATS_PICK_LEASE_S (2 s) plus a second,
  and a load to the VIP then succeeds without a controller (the group);
- a restarted controller leases it again and picks again;
- last, with every instance's server killed, each connection attempt is
  refused by the instance's RST, and each reaches the controller as
  exactly one end (the reset is matched after conntrack, by the
  connection's mark, with the instance carried in registers).  Which
  service's estimate takes it is not checked here: with its server gone
  an instance's agent soon stops reporting its load, and a service
  without reports has no estimate (the ends check above covers the
  attribution).

    /usr/bin/python3 tests/integration/test_steer_connection.py \\
        --build-dir build
"""

import os
import re
import subprocess
import sys
import time

import catslib
import cats_workload as cw
import single_site_test  # noqa: E402

CHECKS = [
    "steer_connection.agents_registered",
    "steer_connection.no_failed_requests",
    "steer_connection.controller_picked_each_connection",
    "steer_connection.slow_share_below_half",
    "steer_connection.ends_counted_for_their_service",
    "steer_connection.lease_expires_without_controller",
    "steer_connection.group_serves_without_controller",
    "steer_connection.restarted_controller_picks_again",
    "steer_connection.instance_reset_counted_once",
]
RATE = 200
DURATION_S = 6.0
INSTANCES = [(4, 4.0), (4, 1.0), (4, 1.0)]
LEASE_S = 2                     # CATS_PICK_LEASE_S
PICK_COOKIE = 0xca77000000000000
SHARED = "shared"               # The second service, on the same addresses.


def pick_stats(s):
    """cats/show's per-connection counters, summed over switches."""
    out = s.ctl.appctl("cats/show", check=False, timeout=5) or ""
    tot = {"picks": 0, "unpicked": 0, "ends": 0, "refused": 0}
    for m in re.finditer(r"per-connection: \d+ services, picks (\d+), "
                         r"unpicked (\d+), ends (\d+), refused packet-ins "
                         r"(\d+)", out):
        for k, v in zip(("picks", "unpicked", "ends", "refused"),
                        m.groups()):
            tot[k] += int(v)
    return tot


def conn_counts(s, service):
    """cats/explain SERVICE's per-connection counters (all 0 before any
    pick or end)."""
    out = s.ctl.appctl("cats/explain", service, check=False, timeout=5)
    m = re.search(r"connections: picks=(\d+) none=(\d+) placed=(\d+) "
                  r"ended=(\d+)", out or "")
    keys = ("picks", "none", "placed", "ended")
    return dict(zip(keys, (int(v) for v in m.groups()) if m
                    else (0,) * len(keys)))


def pick_flows(s):
    """The first service's flows with the pick cookie on the site's
    bridge."""
    p = subprocess.run(["ovs-ofctl", "-O", "OpenFlow15", "dump-flows",
                        s.site.bridge, "cookie=0x%x/0xffff000000000000"
                        % PICK_COOKIE], capture_output=True, text=True,
                       timeout=10)
    return [ln for ln in p.stdout.splitlines()
            if "cookie=" in ln and "nw_dst=%s," % s.site.vip in ln]


# Connects to VIP:PORT N times from a client; prints how many were refused
# (the instance's RST) and how many connected.
REFUSED_PY = r"""
import socket, sys
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
refused = ok = 0
for _ in range(n):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((vip, port))
        ok += 1
    except ConnectionRefusedError:
        refused += 1
    except OSError:
        pass
    finally:
        s.close()
print(refused, ok)
"""
RESETS = 20


def short_load(s, n=40):
    ld = s.wl.start_load(s.site.clients[0], rate=n, duration=1.0,
                         timeout_ms=3000, samples=False, progress=False)
    summary = ld.wait(timeout=20)
    s.wl.loads.remove(ld)
    return summary


def body(t, s):
    names = s.names
    slow, fast = names[0], names[1:]
    took = s.wait_registered(timeout=20)
    t.check("steer_connection.agents_registered", took is not None,
            "cats/agents: %s" % s.ctl.appctl("cats/agents", check=False))
    if s.wait_serving(timeout=20) is None:
        raise RuntimeError("the VIP never served")

    before = pick_stats(s)
    own_before = conn_counts(s, cw.SERVICE)
    shared_before = conn_counts(s, SHARED)
    load = s.wl.start_load(s.site.clients[0], RATE, DURATION_S, seed=11)
    summary = load.wait(timeout=DURATION_S + 30)
    time.sleep(0.5)                 # the last FIN copies
    after = pick_stats(s)
    lat = summary["latency_ms"]
    catslib.info("cats-load: %d requests, %d ok, %d errors; p50 %.1f ms, "
                 "p99 %.1f ms, max %.1f ms"
                 % (summary["requests"], summary["ok"], summary["errors"],
                    lat["p50"], lat["p99"], lat["max"]))
    t.check("steer_connection.no_failed_requests",
            summary["errors"] == 0 and summary["requests"] > 0
            and summary["ok"] == summary["requests"],
            "%d of %d failed: %s" % (summary["errors"], summary["requests"],
                                     summary.get("error_kinds")))

    own = conn_counts(s, cw.SERVICE)
    shared = conn_counts(s, SHARED)
    d = dict((k, after[k] - before[k]) for k in after)
    n = summary["requests"]
    catslib.info("per-connection during the load: %s (requests %d)"
                 % (d, n))
    t.check("steer_connection.controller_picked_each_connection",
            n > 0 and d["picks"] >= 0.95 * n and d["ends"] >= 0.90 * n
            and d["refused"] == 0,
            "picks %d, unpicked %d, ends %d, refused %d for %d requests"
            % (d["picks"], d["unpicked"], d["ends"], d["refused"], n))

    own_d = dict((k, own[k] - own_before[k]) for k in own)
    shared_d = dict((k, shared[k] - shared_before[k]) for k in shared)
    catslib.info("ends by service: %s %s, %s %s"
                 % (cw.SERVICE, own_d, SHARED, shared_d))
    t.check("steer_connection.ends_counted_for_their_service",
            n > 0 and own_d["ended"] >= 0.90 * n
            and own_d["ended"] <= d["ends"]
            and shared_d == {"picks": 0, "none": 0, "placed": 0,
                             "ended": 0},
            "%s: %s; %s (no traffic): %s; %d requests, %d ends seen"
            % (cw.SERVICE, own_d, SHARED, shared_d, n,
               d["ends"]))

    counts = dict((nm, 0) for nm in names)
    for _, _, status, inst in load.samples():
        if inst in counts:
            counts[inst] += 1
    sh = cw.shares(counts)
    catslib.info("shares: %s" % " ".join("%s %.1f%%" % (nm, 100 * sh[nm])
                                         for nm in names))
    t.check("steer_connection.slow_share_below_half",
            sum(counts.values()) > 0
            and all(sh[slow] < 0.5 * sh[f] for f in fast),
            "shares %s" % sh)

    # The lease: kill the controller, the pick flow must go.
    held = pick_flows(s)
    s.ctl.kill9()
    t_kill = time.monotonic()
    gone_after = None
    while time.monotonic() - t_kill < LEASE_S + 1.0:
        if not pick_flows(s):
            gone_after = time.monotonic() - t_kill
            break
        time.sleep(0.1)
    t.check("steer_connection.lease_expires_without_controller",
            len(held) == 1 and gone_after is not None,
            "pick flows while running: %d; after SIGKILL still there %.1f s "
            "later" % (len(held), time.monotonic() - t_kill)
            if gone_after is None else "held %d" % len(held))
    catslib.info("pick flow gone %.2f s after SIGKILL"
                 % (gone_after if gone_after is not None else -1))
    alone = short_load(s)
    t.check("steer_connection.group_serves_without_controller",
            alone["errors"] == 0 and alone["ok"] == alone["requests"] > 0,
            "without a controller: %d of %d failed"
            % (alone["errors"], alone["requests"]))

    s.ctl.start()
    s.ctl.appctl("cats/sync", timeout=30)
    again = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15:
        if pick_flows(s):
            st0 = pick_stats(s)
            res = short_load(s)
            st1 = pick_stats(s)
            if res["errors"] == 0 and st1["picks"] - st0["picks"] > 0:
                again = (st1["picks"] - st0["picks"], res["requests"])
                break
        time.sleep(0.3)
    t.check("steer_connection.restarted_controller_picks_again",
            again is not None,
            "no pick within 15 s of the restart: %s" % pick_stats(s))
    if again:
        catslib.info("restarted controller: %d picks for %d requests"
                     % again)

    # Resets: no server listens any more, so each SYN, DNATed and committed
    # with the service's mark, is answered by the instance's RST.
    for name in names:
        s.wl.kill_serve(name)
    time.sleep(0.5)
    st0, own0 = pick_stats(s), conn_counts(s, cw.SERVICE)
    script = os.path.join(s.workdir, "refused.py")
    with open(script, "w") as f:
        f.write(REFUSED_PY)
    out = s.site.clients[0].cmd("/usr/bin/python3 %s %s %d %d"
                                % (script, s.site.vip, s.site.service_port,
                                   RESETS))
    time.sleep(0.5)                 # the last copies
    st1, own1 = pick_stats(s), conn_counts(s, cw.SERVICE)
    try:
        refused, ok = (int(x) for x in out.split()[-2:])
    except ValueError:
        refused, ok = -1, -1
    ends = st1["ends"] - st0["ends"]
    ended = own1["ended"] - own0["ended"]
    catslib.info("resets: %d of %d attempts refused; %d ends seen; %s's "
                 "ended count %d -> %d%s"
                 % (refused, RESETS, ends, cw.SERVICE, own0["ended"],
                    own1["ended"], "" if ended >= 0 else
                    " (its estimate was rebuilt in between)"))
    t.check("steer_connection.instance_reset_counted_once",
            refused == RESETS and ok == 0 and ends == RESETS,
            "%d refused, %d connected of %d; ends %d, %s ended %d (%r)"
            % (refused, ok, RESETS, ends, cw.SERVICE, ended, out[-200:]))


def main():
    return single_site_test.main(__doc__, CHECKS, body, instances=INSTANCES,
                                 decide="connection",
                                 extra_services=[SHARED])


if __name__ == "__main__":
    sys.exit(main())

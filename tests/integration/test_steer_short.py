#!/usr/bin/python3
"""Steering follows load, short: a slowed instance loses new connections
within 2 s, and no request fails.

The short version of the benchmark scenario, on one site
(topologies/single_site.py): 3 instances, each cats-serve with 4 slots
of 10 ms reporting its requests in flight and queue to a cats-agent,
which streams them to the controller (agent API on a unix socket); one
client runs cats-load open loop (Poisson, one new connection per request)
at 200/s.  After WARM_S seconds i1 is made 20 times slower (cats-serve's
`speed 20`: 200 ms a request, 20/s for its 4 slots, a third of what it
was getting).  Checks:

- every agent registers and reports;
- before the slowdown every instance gets new connections (each at least
  20% of them);
- within 2 s of the slowdown, i1's share of new connections in one
  second (by cats-load's samples: which instance answered each request,
  binned by its scheduled time) is below half of each other instance's
  share: the second [T+1 s, T+2 s) must show it;
- no request fails over the whole run (cats-load's timeout 5 s).

    /usr/bin/python3 tests/integration/test_steer_short.py --build-dir build
"""

import sys
import time

import catslib
from cats_site import vswitchd_pid
import cats_workload as cw
import single_site_test  # noqa: E402

CHECKS = [
    "steer_short.agents_registered",
    "steer_short.baseline_every_instance",
    "steer_short.slow_share_below_half_within_2s",
    "steer_short.no_failed_requests",
]
RATE = 200
WARM_S = 6.0
SLOW_S = 7.0
SLOW_SPEED = 20
INSTANCES = [(4, 1.0)] * 3


def fmt_bin(k, counts, names):
    tot = sum(counts.values())
    return "  [%+d s] %4d new: %s" % (k, tot, " ".join(
        "%s %5.1f%%" % (n, 100.0 * counts[n] / tot if tot else 0)
        for n in names))


def body(t, s):
    names = s.names
    slow, others = names[0], names[1:]
    took = s.wait_registered(timeout=20)
    t.check("steer_short.agents_registered", took is not None,
            "cats/agents: %s" % s.ctl.appctl("cats/agents", check=False))
    catslib.info("agents registered and reporting in %.2f s"
                 % (took or -1))
    if s.wait_serving(timeout=20) is None:
        raise RuntimeError("the VIP never served")

    vswitchd = vswitchd_pid()
    load = s.wl.start_load(s.site.clients[0], RATE, WARM_S + SLOW_S,
                           seed=7)
    t_slow = None
    while load.proc.poll() is None:
        load.poll()
        if t_slow is None and load.t0 is not None and \
                time.monotonic() >= load.t0 + WARM_S:
            s.wl.set_speed(slow, SLOW_SPEED)
            t_slow = time.monotonic()
            catslib.info("%s: speed %d at %.2f s of load"
                         % (slow, SLOW_SPEED, t_slow - load.t0))
        time.sleep(0.01)
    summary = load.wait(timeout=30)
    if t_slow is None:
        raise RuntimeError("the load ended before the slowdown")
    at = t_slow - load.start_time()        # on the load's clock
    samples = load.samples()

    # Before: the second after the start is skipped (ARP, first reports).
    before = cw.per_second(samples, names, 1.0, at)
    tot = dict((n, sum(c[n] for _, c in before)) for n in names)
    sh = cw.shares(tot)
    catslib.info("before (%d s): %s" % (len(before), " ".join(
        "%s %.1f%%" % (n, 100 * sh[n]) for n in names)))
    t.check("steer_short.baseline_every_instance",
            all(sh[n] >= 0.20 for n in names),
            "shares %s" % sh)

    after = cw.per_second(samples, names, at, at + SLOW_S - 0.5)
    for k, c in after:
        catslib.info(fmt_bin(k, c, names))
    ok = False
    detail = "no second after the slowdown"
    if len(after) >= 2:
        c = after[1][1]
        sh = cw.shares(c)
        ok = sum(c.values()) > 0 and \
            all(sh[slow] < 0.5 * sh[n] for n in others)
        detail = "second [+1 s, +2 s): %s" % fmt_bin(1, c, names).strip()
        first = next((k for k, c in after
                      if sum(c.values()) and all(
                          cw.shares(c)[slow] < 0.5 * cw.shares(c)[n]
                          for n in others)), None)
        catslib.info("%s below half of the others from second +%s on"
                     % (slow, first))
    t.check("steer_short.slow_share_below_half_within_2s", ok, detail)

    lat = summary["latency_ms"]
    restarted = ""
    if vswitchd_pid() != vswitchd:
        # Not ours to hide: say why requests may have failed.
        restarted = (" (ovs-vswitchd restarted during the run, pid %s -> "
                     "%s: crashed or restarted by other work; its "
                     "conntrack was lost)" % (vswitchd, vswitchd_pid()))
        catslib.info(restarted.strip(" ()"))
    catslib.info("cats-load: %d requests, %d ok, %d errors %s; p50 %.1f ms"
                 ", p99 %.1f ms, max %.1f ms"
                 % (summary["requests"], summary["ok"], summary["errors"],
                    summary.get("error_kinds"), lat["p50"], lat["p99"],
                    lat["max"]))
    t.check("steer_short.no_failed_requests",
            summary["errors"] == 0 and summary["ok"] == summary["requests"]
            and summary["requests"] > 0,
            "%d of %d failed: %s %s%s" % (summary["errors"],
                                          summary["requests"],
                                          summary.get("error_kinds"),
                                          summary.get("server_errors"),
                                          restarted))
    catslib.info(s.agents_table())


def main():
    return single_site_test.main(__doc__, CHECKS, body, instances=INSTANCES)


if __name__ == "__main__":
    sys.exit(main())

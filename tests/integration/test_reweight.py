#!/usr/bin/python3
"""Reweighting: cats/set-weight moves new connections, cats/drain stops new
connections to an instance, and 50 long-lived connections (an exchange
every 50 ms each) see no reset or stall across all of it.

    /usr/bin/python3 tests/integration/test_reweight.py --build-dir build
"""

import sys

import catslib

CHECKS = [
    "reweight.baseline",
    "reweight.longlived_up",
    "reweight.set_weight_moves",
    "reweight.drain_no_new",
    "reweight.undrain",
    "reweight.longlived_zero_resets",
]
N = 3000


def burst(t, n=N):
    """n new connections from c1; returns (client report, server deltas)."""
    t.site.reset_server_stats()
    rep = t.site.run_client(t.site.clients[0], n=n)
    stats = t.site.server_stats()
    return rep, {k: v["accepted"] for k, v in stats.items()}


def body(t):
    site, be = t.site, t.backend
    names = [h.name for h in site.instances]
    ips = site.instance_ips
    port = site.service_port
    waited = t.wait_vip(timeout=15)
    if waited is None:
        raise RuntimeError("VIP never served")

    rep, acc = burst(t)
    sh = catslib.shares(acc, names)
    catslib.info("1:1:1  %s" % catslib.fmt_shares(acc, names))
    t.check("reweight.baseline",
            rep["errors"] == 0 and all(abs(sh[n] - 100 / 3) < 6
                                       for n in names),
            "errors=%d %s" % (rep["errors"], catslib.fmt_shares(acc, names)))

    ll = site.start_longlived(site.clients[1], k=50)
    ready = ll.wait_ready()
    t.check("reweight.longlived_up",
            ready["connected"] == 50 and len(ready["counts"]) == len(names),
            "connected %d/50, per instance %s" % (ready["connected"],
                                                  ready["counts"]))

    # i1 to 300 (3:1:1 -> 60%).
    be.set_weight(ips[0], port, 300)
    rep, acc = burst(t)
    sh = catslib.shares(acc, names)
    catslib.info("3:1:1  %s" % catslib.fmt_shares(acc, names))
    t.check("reweight.set_weight_moves",
            rep["errors"] == 0 and abs(sh[names[0]] - 60.0) < 5.0,
            "errors=%d, i1 share %.2f%% (want 60%% +-5): %s"
            % (rep["errors"], sh[names[0]], catslib.fmt_shares(acc, names)))

    # Drain i2: no new connection may reach it.
    be.drain(ips[1], port)
    rep, acc = burst(t)
    catslib.info("drain i2  %s" % catslib.fmt_shares(acc, names))
    t.check("reweight.drain_no_new",
            rep["errors"] == 0 and acc[names[1]] == 0 and
            rep["counts"].get(names[1], 0) == 0,
            "errors=%d, i2 got %d new connections: %s"
            % (rep["errors"], acc[names[1]],
               catslib.fmt_shares(acc, names)))

    # Back to service.
    be.set_weight(ips[1], port, 100)
    rep, acc = burst(t)
    sh = catslib.shares(acc, names)
    catslib.info("3:1:1 again  %s" % catslib.fmt_shares(acc, names))
    t.check("reweight.undrain",
            rep["errors"] == 0 and abs(sh[names[1]] - 20.0) < 5.0,
            "errors=%d, i2 share %.2f%% (want 20%% +-5)"
            % (rep["errors"], sh[names[1]]))

    before = ready
    done = ll.stop()
    catslib.info("long-lived: %s" % done)
    t.check("reweight.longlived_zero_resets",
            done["broken"] == 0 and done["stalled"] == 0 and
            done["alive"] == 50 and done["exchanges"] > 50 * 10,
            "broken=%d stalled=%d alive=%d exchanges=%d kinds=%s "
            "(were on %s)"
            % (done["broken"], done["stalled"], done["alive"],
               done["exchanges"], done["break_kinds"], before["counts"]))
    if not be.static:
        catslib.info(be.services())


if __name__ == "__main__":
    sys.exit(catslib.Test(__doc__, CHECKS).run(body))

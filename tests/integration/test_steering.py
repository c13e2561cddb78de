#!/usr/bin/python3
"""Steering: clients reach the VIP, every instance serves, ping to the VIP
works, the controller's unixctl commands answer.

    /usr/bin/python3 tests/integration/test_steering.py --build-dir build
"""

import sys

import catslib

CHECKS = [
    "steering.controller_connected",
    "steering.ready_after_sync",
    "steering.arp_vip",
    "steering.ping_vip",
    "steering.all_instances",
    "steering.server_counts_match",
    "steering.appctl_show",
    "steering.appctl_services",
    "steering.appctl_dump_flows",
]


def body(t):
    site, be = t.site, t.backend
    names = [h.name for h in site.instances]

    # Right after cats/sync the VIP must serve: no SYN may need a
    # retransmission (each connection gets 0.9 s; Linux resends a SYN
    # after 1 s).
    site.reset_server_stats()
    rep = site.run_client(site.clients[0], n=30, parallel=10, workers=1,
                          timeout=0.9)
    t.check("steering.ready_after_sync", rep["ok"] == 30,
            "%d of 30 connections failed right after cats/sync: %s"
            % (rep["errors"], rep["error_kinds"]))
    if rep["ok"] != 30:
        waited = t.wait_vip(timeout=15)
        catslib.info("VIP served after %s s more" % (
            "%.2f" % waited if waited is not None else "(never)"))

    # ARP and ping.
    c1, c2 = site.clients[0], site.clients[1]
    tx, rx, out = site.ping(c1, count=5, interval=0.2)
    neigh = c1.cmd("ip neigh show %s" % site.vip).strip()
    t.check("steering.arp_vip", "lladdr" in neigh,
            "no ARP entry for %s on c1: %r" % (site.vip, neigh))
    catslib.info("c1 neighbour: %s" % neigh)
    tx2, rx2, out2 = site.ping(c2, count=5, interval=0.2)
    t.check("steering.ping_vip", tx == rx == 5 and tx2 == rx2 == 5,
            "c1 %d/%d, c2 %d/%d answered" % (rx, tx, rx2, tx2))

    # New connections from both clients, served by every instance.
    site.reset_server_stats()
    total = {}
    errors = 0
    for c in site.clients:
        rep = site.run_client(c, n=1500)
        errors += rep["errors"]
        catslib.info("%s: %s, %.0f conn/s" % (
            c.name, catslib.fmt_shares(rep["counts"], names),
            rep["rate_per_s"]))
        for k, v in rep["counts"].items():
            total[k] = total.get(k, 0) + v
    sh = catslib.shares(total, names)
    low = [n for n in names if sh[n] < 20.0]
    t.check("steering.all_instances", errors == 0 and not low,
            "errors=%d, instances under 20%% of 3000: %s (%s)"
            % (errors, low, catslib.fmt_shares(total, names)))
    stats = site.server_stats()
    accepted = {n: stats[n]["accepted"] for n in names}
    t.check("steering.server_counts_match",
            all(accepted[n] == total.get(n, 0) for n in names),
            "server accepted %s, clients saw %s" % (accepted, total))

    if be.static:
        t.skip("steering.controller_connected", "static pipeline")
    else:
        # Checked last: vswitchd refreshes is_connected every few seconds.
        try:
            waited = be.wait_connected(timeout=12)
            t.check("steering.controller_connected", True)
            catslib.info("ovsdb showed is_connected=true after %.1f s more"
                         % waited)
        except RuntimeError as e:
            t.check("steering.controller_connected", False, str(e))
    if be.static:
        for name in ("steering.appctl_show", "steering.appctl_services",
                     "steering.appctl_dump_flows"):
            t.skip(name, "static pipeline")
        return
    for name, cmd, want in (
            ("steering.appctl_show", ["cats/show"], []),
            ("steering.appctl_services", ["cats/services"],
             ["%s:%d" % (ip, site.service_port)
              for ip in site.instance_ips]),
            ("steering.appctl_dump_flows", ["cats/dump-flows", "installed"],
             [])):
        try:
            out = be.appctl(*cmd)
        except Exception as e:
            t.check(name, False, str(e))
            continue
        missing = [w for w in want if w not in out]
        t.check(name, out.strip() != "" and not missing,
                "empty output" if not out.strip()
                else "output lacks %s" % missing)
        if t.args.verbose or name == "steering.appctl_services":
            catslib.info("$ ovs-appctl %s\n%s" % (" ".join(cmd), out))


if __name__ == "__main__":
    sys.exit(catslib.Test(__doc__, CHECKS).run(body))

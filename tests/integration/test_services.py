#!/usr/bin/python3
"""Catalog commands at run time: cats/instance-del and cats/instance-add
change who serves, cats/service-add brings up a second VIP, cats/service-del
takes it away and leaves nothing of it on the switch, bad commands are
refused without changing anything.

    /usr/bin/python3 tests/integration/test_services.py --build-dir build
"""

import re
import sys

import catslib

CHECKS = [
    "services.instance_del",
    "services.instance_add",
    "services.service_add",
    "services.service_del",
    "services.service_del_switch_clean",
    "services.bad_commands_rejected",
]
VIP2 = "10.0.0.101"
PORT2 = 8080


def switch_state(site):
    """(groups, flows) on the switch, without stats and learned flows."""
    groups = sorted(l.strip() for l in site.ofctl("dump-groups").splitlines()
                    if "group_id=" in l)
    flows = sorted(re.sub(r"^\s+", "", l)
                   for l in site.ofctl("dump-flows", "--no-stats")
                   .splitlines()
                   if "priority=" in l and "cookie=0xca76" not in l)
    return groups, flows


def body(t):
    site, be = t.site, t.backend
    if be.static:
        for name in CHECKS:
            t.skip(name, "static pipeline has no catalog commands")
        return
    c1 = site.clients[0]
    i1, i2, i3 = site.instance_ips[:3]
    port = site.service_port
    if t.wait_vip(timeout=15) is None:
        raise RuntimeError("VIP never served")

    be.appctl("cats/instance-del", catslib.SERVICE, "%s:%d" % (i3, port))
    be.sync()
    rep = site.run_client(c1, n=600)
    t.check("services.instance_del",
            rep["errors"] == 0 and "i3" not in rep["counts"],
            "errors=%d counts=%s" % (rep["errors"], rep["counts"]))

    be.appctl("cats/instance-add", catslib.SERVICE, "%s:%d" % (i3, port),
              "weight=100")
    be.sync()
    rep = site.run_client(c1, n=600, timeout=0.9)
    t.check("services.instance_add",
            rep["errors"] == 0 and rep["counts"].get("i3", 0) > 100,
            "errors=%d %s counts=%s" % (rep["errors"], rep["error_kinds"],
                                        rep["counts"]))

    before = switch_state(site)
    be.appctl("cats/service-add", "web2", "vip=" + VIP2,
              "port=%d" % PORT2, "proto=tcp")
    be.appctl("cats/instance-add", "web2", "%s:%d" % (i2, port))
    be.sync()
    rep = site.run_client(c1, dst=VIP2, port=PORT2, n=300, timeout=0.9)
    tx, rx, _ = site.ping(c1, dst=VIP2, count=3)
    t.check("services.service_add",
            rep["errors"] == 0 and rep["counts"] == {"i2": 300} and
            tx == rx == 3,
            "errors=%d %s counts=%s ping %d/%d"
            % (rep["errors"], rep["error_kinds"], rep["counts"], rx, tx))

    be.appctl("cats/service-del", "web2")
    be.sync()
    rep = site.run_client(c1, dst=VIP2, port=PORT2, n=5, timeout=0.5,
                          workers=1)
    rep1 = site.run_client(c1, n=300)
    t.check("services.service_del",
            rep["ok"] == 0 and rep1["errors"] == 0,
            "%s:%d still served %d of 5; %s:%d errors %d"
            % (VIP2, PORT2, rep["ok"], site.vip, port, rep1["errors"]))
    after = switch_state(site)
    extra_groups = [g for g in after[0] if g not in before[0]]
    extra_flows = [f for f in after[1] if f not in before[1]]
    t.check("services.service_del_switch_clean",
            not extra_groups and not extra_flows,
            "left on the switch after service-del + cats/sync: groups %s "
            "flows %s" % ([g[:60] for g in extra_groups],
                          [f[:80] for f in extra_flows]))
    if extra_groups or extra_flows:
        catslib.info(be.appctl("cats/show"))

    bad = [("cats/set-weight", catslib.SERVICE, "10.0.0.99:%d" % port, "5"),
           ("cats/set-weight", catslib.SERVICE, "%s:%d" % (i1, port), "-1"),
           ("cats/set-weight", "nosuch", "%s:%d" % (i1, port), "5"),
           ("cats/drain", catslib.SERVICE, "bad-address"),
           ("cats/service-add", "web3", "vip=not-an-ip", "port=80")]
    accepted = []
    state = switch_state(site)
    for cmd in bad:
        try:
            be.appctl(*cmd)
            accepted.append(" ".join(cmd))
        except catslib.AppctlError:
            pass
    be.sync()
    t.check("services.bad_commands_rejected",
            not accepted and switch_state(site) == state,
            "accepted: %s; switch changed: %s"
            % (accepted, switch_state(site) != state))


if __name__ == "__main__":
    sys.exit(catslib.Test(__doc__, CHECKS).run(body))

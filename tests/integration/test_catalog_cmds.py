#!/usr/bin/python3
"""Sites and paths declared live, through ovs-appctl, on a running
cats-controller (no switch, no Mininet):

  catalog_cmds.sites_and_paths_added  cats/site-add and cats/path-add, then
                                      an instance at the remote site with
                                      cats/instance-add: cats/paths shows
                                      the path with its ports, links, base
                                      RTT (twice delay_ms)
                                      and the pair over it; cats/show one
                                      desired table per site
  catalog_cmds.bad_declarations       a port already an end, an unknown
                                      site, a bad datapath id, a path
                                      joining a site to itself: each refused
                                      with its field, counted in cats/show,
                                      and the catalog unchanged

usage: test_catalog_cmds.py [--build-dir build] [--keep] [-v]
"""

import os
import re
import subprocess
import time

from catslib import TempDir, parse_args, result, info
from catslib import appctl, kill_pid, wait_until
from cats_site import AppctlError

CHECKS = ["catalog_cmds.sites_and_paths_added",
          "catalog_cmds.bad_declarations"]


def refused(ctl, *args):
    """The error text of a command that must fail, or None if it worked."""
    try:
        appctl(ctl, *args)
    except AppctlError as e:
        return (e.err or e.out).strip()
    return None


def main():
    args = parse_args(__doc__.split("\n")[0])
    with TempDir(keep=args.keep) as d:
        ctl = os.path.join(d, "c.ctl")
        pidfile = os.path.join(d, "c.pid")
        subprocess.run([args.controller, "--unixctl=" + ctl,
                        "--log-file=" + os.path.join(d, "c.log"),
                        "--pidfile=" + pidfile, "--detach",
                        "punix:" + os.path.join(d, "sw.sock")],
                       check=True, capture_output=True, timeout=30)
        pid = None
        try:
            wait_until(lambda: os.path.exists(ctl), 10)
            pid = int(open(pidfile).read())
            body(ctl)
        finally:
            if pid:
                kill_pid(pid)


def body(ctl):
    appctl(ctl, "cats/site-add", "A", "dpid=a1")
    appctl(ctl, "cats/site-add", "B", "dpid=b1")
    appctl(ctl, "cats/path-add", "p1", "A:4", "B:3",
           "link=p1-a:p1-b,p1-b:p1-a", "delay_ms=2")
    appctl(ctl, "cats/service-add", "web", "vip=10.0.0.100", "port=80")
    appctl(ctl, "cats/instance-add", "web", "10.0.0.12:80",
           "mac=02:00:00:00:00:12", "site=B")
    paths = appctl(ctl, "cats/paths")
    show = appctl(ctl, "cats/show")
    info(paths)
    want = [r"^path p1 id=1 A:4 B:3 links=p1-a:p1-b,p1-b:p1-a ",
            r"base_rtt=4\.000ms",  # delay_ms is one way
            r"pair web@A 10\.0\.0\.12:80 weight=",
            ]
    missing = [w for w in want if not re.search(w, paths, re.M)]
    for site in ("A dpid=00000000000000a1", "B dpid=00000000000000b1"):
        if not re.search(r"^site %s desired:" % site, show, re.M):
            missing.append("cats/show: site %s" % site)
    result(CHECKS[0], not missing, "missing: %s" % missing)

    before_paths = appctl(ctl, "cats/paths")
    errors_before = int(re.search(r"commands (\d+)", show).group(1))
    cases = [
        (("cats/path-add", "p2", "A:4", "B:9", "link=x"),
         "field 'end1': port 4 of site A is already an end of path p1"),
        (("cats/path-add", "p3", "A:5", "C:3", "link=x"),
         "field 'end2': 'C:3' names no declared site"),
        (("cats/site-add", "C", "dpid=zz"),
         "field 'dpid': 'zz' is not a datapath id"),
        (("cats/path-add", "p4", "A:6", "A:7", "link=x"), "field 'end2'"),
    ]
    bad = []
    for argv, text in cases:
        err = refused(ctl, *argv)
        if err is None or text not in err:
            bad.append("%s: %r" % (" ".join(argv), err))
    show = appctl(ctl, "cats/show")
    errors_after = int(re.search(r"commands (\d+)", show).group(1))
    if errors_after - errors_before != len(cases):
        bad.append("command errors counted %d, want %d"
                   % (errors_after - errors_before, len(cases)))
    if appctl(ctl, "cats/paths").split("last_telemetry")[0] != \
            before_paths.split("last_telemetry")[0]:
        bad.append("cats/paths changed")
    if re.search(r"^site C ", show, re.M):
        bad.append("site C exists")
    result(CHECKS[1], not bad, "; ".join(bad))


if __name__ == "__main__":
    main()

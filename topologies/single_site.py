#!/usr/bin/python3
"""Single-site CATS demo: clients c1.., instances i1.. behind VIP:80 on one
userspace-datapath OVS bridge, steered by cats-controller.

    /usr/bin/python3 topologies/single_site.py [--controller build/cats-controller]
    /usr/bin/python3 topologies/single_site.py --script        # smoke run
    /usr/bin/python3 topologies/single_site.py --script FILE   # CLI commands
    /usr/bin/python3 topologies/single_site.py --static        # no controller:
                                    # the ovs-ofctl reference pipeline

Interactive mode opens the Mininet CLI with extra commands:
    cats CMD [ARGS]      ovs-appctl to the controller (cats/services, ...)
    load [N] [HOST]      N new connections to the VIP from HOST (c1)
    stats                per-instance accepted connections (server side)
    weight IP W          set an instance's weight (controller or static)
Mininet's iperf commands are disabled here (they `killall` by name).
Run as root with Debian's /usr/bin/python3.  Everything is cleaned up on
exit, errors and Ctrl-C.
"""

import argparse
import os
import shlex
import sys
import tempfile
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from cats_topo import CatsSite  # noqa: E402
from cats_ctl import CatsController, service_config  # noqa: E402
from ofctl_pipeline import StaticPipeline  # noqa: E402

SERVICE = "web"


class Steering:
    """The controller, or the static pipeline, behind one interface."""

    def __init__(self, site, workdir, weights, binary=None):
        self.site = site
        self.ctl = None
        self.static = None
        inst = [(ip, site.service_port, w)
                for ip, w in zip(site.instance_ips, weights)]
        if binary:
            self.ctl = CatsController(
                binary, workdir,
                service_config(SERVICE, site.vip, site.service_port, inst))
        else:
            self.static = StaticPipeline(site.bridge, site.vip,
                                         site.service_port,
                                         [list(i) for i in inst])

    def start(self):
        if self.ctl:
            self.ctl.start()
            self.site.set_controller(self.ctl.target)
            self.ctl.appctl("cats/sync")
            self.site.apply_max_backoff()
        else:
            self.static.install()

    def stop(self):
        if self.ctl:
            self.ctl.cleanup()

    def set_weight(self, ip, weight):
        if self.ctl:
            self.ctl.appctl("cats/set-weight", SERVICE,
                            "%s:%d" % (ip, self.site.service_port), weight)
            self.ctl.appctl("cats/sync")
        else:
            self.static.set_weight(ip, int(weight))

    def describe(self):
        if self.ctl:
            return self.ctl.appctl("cats/services", check=False)
        return self.static.group_stats()


def make_cli(site, steering):
    from mininet.cli import CLI

    class CatsCLI(CLI):
        prompt = "cats> "

        def do_cats(self, line):
            "cats CMD [ARGS]: ovs-appctl -t <controller> CMD ARGS"
            if not steering.ctl:
                print("no controller (static pipeline)")
                return
            out = steering.ctl.appctl(*shlex.split(line), check=False)
            print(out, end="")

        def do_load(self, line):
            "load [N] [HOST]: N new connections to the VIP from HOST"
            args = line.split()
            n = int(args[0]) if args else 1000
            host = site.host(args[1]) if len(args) > 1 else site.clients[0]
            print(site.run_client(host, n=n))

        def do_stats(self, line):
            "stats: connections accepted per instance"
            for name, st in site.server_stats().items():
                print("%s accepted=%d open=%d" % (name, st["accepted"],
                                                  st["open"]))

        def do_weight(self, line):
            "weight IP W: set an instance's weight"
            ip, w = line.split()
            steering.set_weight(ip, w)

        def do_iperf(self, line):
            print("disabled: Mininet's iperf runs `killall iperf`")

        do_iperfudp = do_iperf

    return CatsCLI


def smoke(site, steering):
    ok = True
    tx, rx, _ = site.ping(site.clients[0], count=5, interval=0.2)
    print("ping %s from c1: %d/%d answered" % (site.vip, rx, tx))
    ok &= tx == rx and tx > 0
    site.reset_server_stats()
    rep = site.run_client(site.clients[0], n=2000)
    print("2000 connections from c1: ok=%d errors=%d %.0f/s counts=%s"
          % (rep["ok"], rep["errors"], rep["rate_per_s"], rep["counts"]))
    ok &= rep["errors"] == 0 and len(rep["counts"]) == len(site.instances)
    print(steering.describe())
    print("smoke: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--controller", metavar="PATH",
                    help="cats-controller binary (default "
                    "build/cats-controller when it exists)")
    ap.add_argument("--static", action="store_true",
                    help="no controller: install the ovs-ofctl pipeline")
    ap.add_argument("--script", nargs="?", const="", metavar="FILE",
                    help="no prompt: run FILE's CLI commands, or without "
                    "FILE a smoke run (ping, 2000 connections), then exit")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--weights", help="comma-separated, one per instance "
                    "(default 100 each)")
    ap.add_argument("--bridge", default="cats1")
    ap.add_argument("--subnet", default="10.0.0.0/24")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (controller log, config)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    if os.geteuid() != 0:
        ap.error("run as root")
    binary = None
    if not args.static:
        binary = args.controller or os.path.join(REPO, "build",
                                                 "cats-controller")
        if not os.access(binary, os.X_OK):
            if args.controller:
                ap.error("%s is not an executable" % binary)
            print("note: %s not built; using the static ovs-ofctl pipeline"
                  % binary)
            binary = None
    weights = [100] * args.instances
    if args.weights:
        weights = [int(w) for w in args.weights.split(",")]
        if len(weights) != args.instances:
            ap.error("--weights needs %d values" % args.instances)

    workdir = tempfile.mkdtemp(prefix="cats-demo-")
    steering = None
    try:
        with CatsSite(n_clients=args.clients, n_instances=args.instances,
                      bridge=args.bridge, subnet=args.subnet,
                      log_level="info" if args.verbose else "output",
                      workdir=workdir) as site:
            site.start_servers()
            steering = Steering(site, workdir, weights, binary)
            steering.start()
            print("VIP %s:%d -> %s (%s); clients %s" % (
                site.vip, site.service_port, ", ".join(site.instance_ips),
                "controller %s" % binary if binary else "static pipeline",
                ", ".join(site.client_ips)))
            if binary:
                print("controller log: %s   unixctl: %s" % (
                    steering.ctl.logfile, steering.ctl.unixctl))
            try:
                if args.script == "":
                    return smoke(site, steering)
                cli = make_cli(site, steering)
                if args.script:
                    cli(site.net, script=args.script)
                else:
                    cli(site.net)
                return 0
            finally:
                steering.stop()
    except KeyboardInterrupt:
        return 130
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

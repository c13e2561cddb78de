#!/usr/bin/python3
"""Single CATS site: clients and instances of different speeds on one
userspace-datapath OVS bridge, steered by cats-controller from the load
that a cats-agent on each instance reports.

    clients c1..cN  --+
                      +-- bridge cats1 (netdev, OpenFlow15, fail-mode
    instances i1..iM -+     secure) -- cats-controller (punix switch
                            socket; agent API on unix:WORKDIR/grpc.sock)

Each instance host runs cats-serve (--slots, --speed, --service-time:
real queueing) reporting its requests in flight and queue to a cats-agent
on the same host (--app-socket), which streams them to the controller;
the controller turns load into weights in the OVS select group behind
the VIP 10.0.0.100:80.

    /usr/bin/python3 topologies/single_site.py               # Mininet CLI
    /usr/bin/python3 topologies/single_site.py --scripted    # check, exit
    /usr/bin/python3 topologies/single_site.py --instances 8x1,4x1,4x2,2x1

--instances lists SLOTSxSPEED per instance: 8x1 serves 8 requests at once
at the base service time (--service-time, default fixed:10 ms), 4x2 serves
4 at twice that.  The CLI has, besides Mininet's commands:
    cats CMD [ARGS]       ovs-appctl to the controller (cats/agents, ...)
    agents                per instance: in flight, queue, latency, weight
    stats                 per instance: cats-serve's counters
    load RATE SECS [HOST] cats-load to the VIP (Poisson, new connections)
    speed NAME X          cats-serve NAME serves X times slower (1: normal)
    agent NAME            ovs-appctl agent/show of NAME's agent
Mininet's iperf commands are disabled (they `killall` by name).

--scripted starts everything, checks that every agent registered, that a
3 s cats-load at 100/s gets no error and reaches every instance, and that
the controller sees in-flight counts, then stops; exit status 0 if all
of that held.  Root and Debian's /usr/bin/python3 (it has mininet).
Everything started (bridge, hosts, processes, files) is removed on exit,
errors and Ctrl-C, by PID and by the names this script gave them.
"""

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time

from cats_ctl import CatsController
import cats_site
from cats_topo import CatsSite
import cats_workload as cw

SERVICE = cw.SERVICE
DEFAULT_INSTANCES = [(8, 1.0), (4, 1.0), (4, 2.0), (2, 1.0)]


def parse_instances(text):
    """'8x1,4x2' -> [(8, 1.0), (4, 2.0)]"""
    res = []
    for part in text.split(","):
        slots, _, speed = part.strip().partition("x")
        try:
            res.append((int(slots), float(speed or 1)))
        except ValueError:
            raise ValueError("bad instance %r: want SLOTSxSPEED" % part)
        if res[-1][0] < 1 or res[-1][1] <= 0:
            raise ValueError("bad instance %r" % part)
    return res


def catalog(service, vip, port, instances, weight=100, decide=None,
            extra_services=()):
    """Catalog text; instances: [(ip, port)].  Each of 'extra_services'
    is another service (same port and decide) on the same instances, its
    VIP the next address after 'vip'.  No mac=: the controller
    learns the instances' MACs by ARP."""
    lines = []
    base = vip.rsplit(".", 1)
    for i, svc in enumerate([service] + list(extra_services)):
        svc_vip = "%s.%d" % (base[0], int(base[1]) + i)
        lines.append("service %s vip=%s port=%d proto=tcp%s"
                     % (svc, svc_vip, port,
                        " decide=%s" % decide if decide else ""))
        for ip, p in instances:
            lines.append("instance %s %s:%d weight=%d"
                         % (svc, ip, p, weight))
    return "\n".join(lines) + "\n"


class SingleSite:
    """CatsSite + cats-controller with the agent API + the workload
    (cats-serve and cats-agent on every instance host).

        with SingleSite(workdir=d) as s:
            load = s.wl.start_load(s.site.clients[0], 200, 10)
            ...

    s.site (CatsSite), s.ctl (CatsController), s.wl (cats_workload.
    Workload), s.names (instance host names), s.addrs (name -> IP:PORT).
    stop() (also on leaving the with block) ends all of it."""

    def __init__(self, workdir, instances=None, n_clients=2, bridge="cats1",
                 dpid="00000000ca750001", client_prefix="c",
                 instance_prefix="i", subnet="10.0.0.0/24",
                 build_dir=cw.BUILD, controller=None, service_time="fixed:10",
                 interval_ms=250, lease_ms=None, controller_args=(),
                 node_cpu=cw.NODE_CPU_NONE, log_level="warning", site=None,
                 decide=None, extra_services=()):
        self.workdir = os.path.abspath(workdir)
        self.specs = list(instances or DEFAULT_INSTANCES)
        self.build = os.path.abspath(build_dir)
        self.binary = controller or os.path.join(self.build,
                                                 "cats-controller")
        self.service_time = service_time
        self.interval_ms = interval_ms
        self.lease_ms = lease_ms
        self.controller_args = list(controller_args)
        self.node_cpu = node_cpu
        self.decide = decide            # None: the default (weights).
        self.extra_services = list(extra_services)  # See catalog().
        # Another topology (a CatsSite whose instances are, in order,
        # the instances to start; two_site.TwoSite) may be given instead.
        self.site = site or CatsSite(n_clients=n_clients,
                                     n_instances=len(self.specs),
                                     bridge=bridge, subnet=subnet,
                                     dpid=dpid, client_prefix=client_prefix,
                                     instance_prefix=instance_prefix,
                                     log_level=log_level,
                                     workdir=self.workdir)
        if len(self.site.instance_ips) != len(self.specs):
            raise ValueError("%d instance specs for %d instance hosts"
                             % (len(self.specs),
                                len(self.site.instance_ips)))
        self.ctl = None
        self.wl = None
        self.names = []
        self.addrs = {}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        site = self.site
        site.start()
        try:
            port = site.service_port
            self.names = [h.name for h in site.instances]
            self.addrs = dict((h.name, "%s:%d" % (ip, port)) for h, ip in
                              zip(site.instances, site.instance_ips))
            conf = catalog(SERVICE, site.vip, port,
                           [(ip, port) for ip in site.instance_ips],
                           decide=self.decide,
                           extra_services=self.extra_services)
            self.ctl = CatsController(
                self.binary, self.workdir, conf,
                extra_args=cw.grpc_args(self.workdir, self.interval_ms,
                                        self.lease_ms) +
                self.controller_args)
            self.ctl.start()
            site.set_controller(self.ctl.target)
            self.ctl.appctl("cats/sync", timeout=30)
            site.apply_max_backoff()
            self.wl = cw.Workload(site, self.workdir, self.build,
                                  interval_ms=self.interval_ms,
                                  node_cpu=self.node_cpu,
                                  extra_services=self.extra_services)
            for h, ip, (slots, speed) in zip(site.instances,
                                             site.instance_ips, self.specs):
                self.wl.start_instance(h, ip, slots=slots, speed=speed,
                                       service_time=self.service_time)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.wl:
            self.wl.stop()
        if self.ctl:
            self.ctl.cleanup()
        self.site.stop()

    # -- views ---------------------------------------------------------------
    def agents(self):
        """parse_agents() of cats/agents, keyed by instance name."""
        out = self.ctl.appctl("cats/agents", check=False, timeout=5)
        by_addr = cw.parse_agents(out, service=SERVICE)
        return dict((n, by_addr[a]) for n, a in self.addrs.items()
                    if a in by_addr)

    def wait_registered(self, timeout=20.0):
        """Seconds until every instance's agent registered and reported
        a load (in_flight present), or None."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            ag = self.agents()
            if len(ag) == len(self.names) and all(
                    "in_flight" in a and a["lease"] == "active"
                    for a in ag.values()):
                return time.monotonic() - t0
            time.sleep(0.1)
        return None

    def wait_serving(self, timeout=20.0, host=None):
        """Seconds until a short cats-load (20 requests) to the VIP gets
        every answer, or None."""
        host = host or self.site.clients[0]
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            ld = self.wl.start_load(host, rate=40, duration=0.5,
                                    timeout_ms=1000, samples=False,
                                    progress=False)
            try:
                s = ld.wait(timeout=10)
            except RuntimeError:
                s = None
            self.wl.loads.remove(ld)
            if s and s["errors"] == 0 and s["ok"] > 0:
                return time.monotonic() - t0
            time.sleep(0.2)
        return None

    def agents_table(self):
        """Per instance: slots, speed, in flight, queue, latency (the
        controller's smoothed view), weight in the group (and its share
        of the group: the scale is the controller's), L2 score, CPU."""
        ag = self.agents()
        tot = sum(a.get("weight", 0) for a in ag.values())
        lines = ["%-5s %5s %5s %9s %7s %8s %8s %6s %6s %5s"
                 % ("inst", "slots", "speed", "in_flight", "queue",
                    "lat_ms", "weight", "share", "l2", "cpu")]
        for n in self.names:
            a = ag.get(n, {})
            inst = self.wl.instances[n]
            cpu = a.get("cpu_utilization")
            lines.append("%-5s %5d %5g %9s %7s %8s %8s %6s %6s %5s" % (
                n, inst.slots, inst.speed, fmt(a.get("in_flight")),
                fmt(a.get("queue")), fmt(a.get("latency_ms")),
                a.get("weight", "-"),
                "%.1f%%" % (100.0 * a["weight"] / tot)
                if "weight" in a and tot else "-", fmt(a.get("l2")),
                "%.0f%%" % (100 * cpu) if cpu is not None else "-"))
        return "\n".join(lines)


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.*f" % (nd, v)
    return str(v)


def make_cli(s):
    from mininet.cli import CLI

    class CatsCLI(CLI):
        prompt = "cats> "

        def do_cats(self, line):
            "cats CMD [ARGS]: ovs-appctl -t <controller> CMD ARGS"
            print(s.ctl.appctl(*shlex.split(line), check=False), end="")

        def do_agents(self, line):
            "agents: per instance in flight, queue, latency, weight"
            print(s.agents_table())

        def do_agent(self, line):
            "agent NAME: agent/show of NAME's cats-agent"
            try:
                print(s.wl.agent_show(line.strip()), end="")
            except KeyError:
                print("no instance %r" % line.strip())

        def do_stats(self, line):
            "stats: cats-serve's counters per instance"
            for n, st in s.wl.all_stats().items():
                print("%s accepted=%s in_flight=%s queue=%s p50=%s p99=%s "
                      "speed=%s" % (n, st.get("accepted"),
                                    st.get("in_flight"), st.get("queue"),
                                    st.get("latency_p50_ms"),
                                    st.get("latency_p99_ms"),
                                    st.get("speed")))

        def do_load(self, line):
            "load RATE SECS [HOST]: cats-load to the VIP"
            a = line.split()
            try:
                rate, secs = float(a[0]), float(a[1])
                host = s.site.host(a[2]) if len(a) > 2 else s.site.clients[0]
            except (IndexError, ValueError, KeyError):
                print("usage: load RATE SECS [HOST]")
                return
            ld = s.wl.start_load(host, rate, secs, samples=False,
                                 progress=False)
            try:
                sm = ld.wait(timeout=secs + 30)
            except (RuntimeError, KeyboardInterrupt) as e:
                print("cats-load: %s" % e)
                return
            finally:
                s.wl.loads.remove(ld)
            lat = sm["latency_ms"]
            print("%d requests, %d ok, %d errors; p50 %.2f ms, p99 %.2f ms;"
                  " by instance %s" % (sm["requests"], sm["ok"],
                                       sm["errors"], lat["p50"], lat["p99"],
                                       sm.get("instances")))

        def do_speed(self, line):
            "speed NAME X: NAME's cats-serve serves X times slower"
            try:
                name, x = line.split()
                s.wl.set_speed(name, float(x))
            except (ValueError, KeyError, OSError, RuntimeError) as e:
                print("usage: speed NAME X (%s)" % e)

        def do_iperf(self, line):
            print("disabled: Mininet's iperf runs `killall iperf`")

        do_iperfudp = do_iperf

    return CatsCLI


def scripted(s):
    """The check of --scripted; returns the exit status."""
    ok = True
    took = s.wait_registered()
    print("agents registered and reporting: %s" % (
        "%.1f s" % took if took is not None else "NO (20 s)"))
    ok &= took is not None
    took = s.wait_serving()
    print("VIP %s:%d serves: %s" % (s.site.vip, s.site.service_port,
                                    "%.1f s" % took if took is not None
                                    else "NO (20 s)"))
    ok &= took is not None
    ld = s.wl.start_load(s.site.clients[0], rate=100, duration=3)
    sm = ld.wait(timeout=30)
    lat = sm["latency_ms"]
    served = sm.get("instances", {})
    print("cats-load 100/s for 3 s: %d requests, %d ok, %d errors, p50 "
          "%.2f ms, p99 %.2f ms; by instance %s"
          % (sm["requests"], sm["ok"], sm["errors"], lat["p50"],
             lat["p99"], served))
    ok &= sm["errors"] == 0 and all(served.get(n, 0) > 0 for n in s.names)
    print(s.agents_table())
    ok &= all("in_flight" in a for a in s.agents().values())
    print("scripted check: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def preflight(build):
    """None, or why single_site.py (or two_site.py, demo.py) cannot run."""
    return cats_site.preflight(build, ["cats-controller"] +
                               list(cw.TOOLS))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build-dir", default=cw.BUILD,
                    help="where the binaries are (default build/)")
    ap.add_argument("--scripted", action="store_true",
                    help="start, run the check above, stop")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--instances", default="8x1,4x1,4x2,2x1",
                    help="SLOTSxSPEED,... one per instance (default "
                    "%(default)s)")
    ap.add_argument("--service-time", default="fixed:10",
                    help="cats-serve's base service time (default "
                    "%(default)s)")
    ap.add_argument("--interval", type=int, default=250,
                    help="agent report interval, ms (default %(default)s)")
    ap.add_argument("--node-cpu", choices=["none", "shared"],
                    default="none",
                    help="none (default): the agents report no CPU "
                    "utilization\n(the hosts share this machine's CPUs; "
                    "see cats_workload.py);\nshared: they report the "
                    "machine's")
    ap.add_argument("--bridge", default="cats1")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, sockets)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    try:
        specs = parse_instances(args.instances)
    except ValueError as e:
        ap.error(str(e))
    if not args.bridge.startswith("cats"):
        ap.error("bridge names start with 'cats' here")
    why = preflight(os.path.abspath(args.build_dir))
    if why:
        ap.error(why)

    workdir = tempfile.mkdtemp(prefix="cats-single-")
    try:
        with SingleSite(workdir, instances=specs, n_clients=args.clients,
                        bridge=args.bridge, build_dir=args.build_dir,
                        service_time=args.service_time,
                        interval_ms=args.interval, node_cpu=args.node_cpu,
                        log_level="info" if args.verbose
                        else "warning") as s:
            site = s.site
            print("VIP %s:%d -> %s; clients %s" % (
                site.vip, site.service_port, ", ".join(
                    "%s %s (%d slots, x%g)" % (n, s.addrs[n], sl, sp)
                    for n, (sl, sp) in zip(s.names, specs)),
                ", ".join(site.client_ips)))
            print("controller log %s, unixctl %s; work directory %s"
                  % (s.ctl.logfile, s.ctl.unixctl, workdir))
            if args.scripted:
                return scripted(s)
            s.wait_registered()
            make_cli(s)(site.net)
            return 0
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:            # SIGTERM/SIGHUP (the site's)
        return e.code
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

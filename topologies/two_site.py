#!/usr/bin/python3
"""Two CATS sites: instances at the clients' site A and at a remote site
B, reached over two long-haul paths; cats-controller steers at site A's
edge, from the load that a cats-agent on every instance reports.

    clients c1,c2 --+                                   +-- r1
    local   i1,i2 --+-- cats2a ==== path 1 ==== cats2b -+-- r2
                    |   (edge)  ==== path 2 ====  (site B)
                    +-- cats-controller (agent API on unix:WORKDIR/grpc.sock)

One subnet (10.0.0.0/24): clients .1-, local instances .11-, remote
instances .21-, the VIP .100:80.  Every instance runs cats-serve and a
cats-agent (topologies/cats_workload.py), as in single_site.py.

LIMITATION: the paths are plain veth links for now (--path-mode=link).
The DPDK long-haul gateway (cats-gw, dataplane/) that will give them
delay, ECN marking and PFC pauses, and report them (cats/telemetry), is
not wired in yet; --path-mode=gw is the switch for it and refuses to run
until then.  The kernel here has no netem, so a plain link has no delay
to speak of.  Which path a remote instance is reached over is pinned by
this script (--paths; CLI `path NAME N`), standing in for the selector's
(instance, path) choice; the controller only chooses the instance.

How the sites forward (so that two links between two bridges make no
loop):
- Site A (cats2a) is the controller's: its pipeline (tables 0-3) steers
  VIP traffic and leaves the rest to NORMAL.  This script adds one flow
  per remote instance in table 3 (the controller's next-hop table; cookie
  0xca7a..., which the controller leaves alone) at priority 150: "to
  this instance: its MAC, out path N".
- Site B (cats2b, fail-mode secure, no controller) forwards with static
  OpenFlow (cookie 0xca7b...): frames for a local host from either path
  go to it, and an IP packet coming in on path N teaches table 1 (learn)
  to send that host's replies back on path N (symmetric paths);
  broadcasts are taken from path 1 only and sent to site A on path 1
  only; traffic to site A with nothing learned goes on path 1.

    /usr/bin/python3 topologies/two_site.py               # Mininet CLI
    /usr/bin/python3 topologies/two_site.py --scripted    # check, exit

CLI commands besides Mininet's: cats CMD, agents, stats, load RATE SECS
[HOST], speed NAME X (as in single_site.py), and
    path NAME N           reach remote instance NAME over path N
    paths                 per path: packets and bytes each way (port stats)
--scripted checks that every agent registers, that a 3 s cats-load at
100/s reaches every instance (local and remote) with no error, that both
paths carry traffic, and that moving every remote instance to path 1
leaves path 2 idle and still loses nothing.  Root and Debian's
/usr/bin/python3.  Everything started is removed on exit, errors and
Ctrl-C, by PID and by the names this script gave them (bridges cats2a,
cats2b, their veths).
"""

import argparse
import atexit
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from functools import partial

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cats_topo import CatsSite, ensure_ovs, mac_for_ip  # noqa: E402
import cats_workload as cw  # noqa: E402
import single_site  # noqa: E402
from single_site import SingleSite  # noqa: E402

PATH_PORT_BASE = 100            # path k is port 100 + k on both bridges
PIN_COOKIE = 0xca7a000000000000
SITE_B_COOKIE = 0xca7b000000000000
NEXT_HOP_TABLE = 3              # the controller's T3 with --table=0
PATH_MODES = ("link", "gw")


def add_path(topo, sw_a, sw_b, k, mode="link"):
    """Path k (1, 2, ...) between the sites' bridges: port
    PATH_PORT_BASE + k on both.  mode "link": a veth pair.  mode "gw"
    (later): site A - veth - cats-gw - veth - site B, the gateway shaping
    and reporting the path; until cats-gw is wired in it raises."""
    port = PATH_PORT_BASE + k
    if mode == "link":
        topo.addLink(sw_a, sw_b, port1=port, port2=port)
        return port
    if mode == "gw":
        raise NotImplementedError(
            "--path-mode=gw: the long-haul gateway (cats-gw, dataplane/) "
            "is not wired into this topology yet; use --path-mode=link")
    raise ValueError("path mode %r: one of %s"
                     % (mode, ", ".join(PATH_MODES)))


class TwoSite(CatsSite):
    """Site A (the controller's bridge, clients and local instances) and
    site B (remote instances), joined by n_paths paths.  A CatsSite whose
    bridge is site A's: set_controller(), popen(), forget(), ofctl() and
    stop() work as there; self.instances / instance_ips are the local
    ones then the remote ones."""

    def __init__(self, n_clients=2, n_local=2, n_remote=2, n_paths=2,
                 bridge_a="cats2a", bridge_b="cats2b",
                 subnet="10.0.0.0/24", path_mode="link", pins="split",
                 client_prefix="c", local_prefix="i", remote_prefix="r",
                 log_level="warning", workdir=None, max_backoff=1000):
        if not bridge_b.startswith("cats"):
            raise ValueError("bridge names start with 'cats' here")
        if path_mode not in PATH_MODES:
            raise ValueError("path mode %r" % path_mode)
        CatsSite.__init__(self, n_clients=n_clients,
                          n_instances=n_local + n_remote, bridge=bridge_a,
                          subnet=subnet, dpid="00000000ca752a01",
                          log_level=log_level, workdir=workdir,
                          client_prefix=client_prefix,
                          instance_prefix=local_prefix,
                          max_backoff=max_backoff)
        net = ipaddress.ip_network(subnet)
        self.local_ips = [str(net[11 + i]) for i in range(n_local)]
        self.remote_ips = [str(net[21 + i]) for i in range(n_remote)]
        self.instance_ips = self.local_ips + self.remote_ips
        self.bridge_b = bridge_b
        self.dpid_b = "00000000ca752b01"
        self.n_paths = n_paths
        self.path_mode = path_mode
        self.pins_mode = pins
        self.remote_prefix = remote_prefix
        self.local = []
        self.remote = []
        self.path_ports = [PATH_PORT_BASE + k for k in
                           range(1, n_paths + 1)]
        self.pins = {}            # remote host name -> path k

    # -- lifecycle -----------------------------------------------------------
    def start(self):
        if os.geteuid() != 0:
            raise RuntimeError("needs root")
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import OVSSwitch
        from mininet.topo import Topo
        setLogLevel(self.log_level)
        ensure_ovs()
        self._stopped = False
        atexit.register(self.stop)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:
                pass
        clients = [("%s%d" % (self.client_prefix, i + 1), ip)
                   for i, ip in enumerate(self.client_ips)]
        local = [("%s%d" % (self.instance_prefix, i + 1), ip)
                 for i, ip in enumerate(self.local_ips)]
        remote = [("%s%d" % (self.remote_prefix, i + 1), ip)
                  for i, ip in enumerate(self.remote_ips)]
        me = self

        class Topo2(Topo):
            def build(self):
                a = self.addSwitch(me.bridge, dpid=me.dpid)
                b = self.addSwitch(me.bridge_b, dpid=me.dpid_b)
                for name, ip in clients + local:
                    h = self.addHost(name, ip="%s/%d" % (ip, me.prefixlen),
                                     mac=mac_for_ip(ip))
                    self.addLink(h, a)
                for name, ip in remote:
                    h = self.addHost(name, ip="%s/%d" % (ip, me.prefixlen),
                                     mac=mac_for_ip(ip))
                    self.addLink(h, b)
                for k in range(1, me.n_paths + 1):
                    add_path(self, a, b, k, me.path_mode)
        try:
            switch = partial(OVSSwitch, datapath="user",
                             protocols="OpenFlow15", failMode="secure",
                             reconnectms=self.max_backoff)
            self.net = Mininet(topo=Topo2(), switch=switch, controller=None,
                               build=False, autoSetMacs=False,
                               autoStaticArp=False, waitConnected=False)
            self.net.build()
            self.net.start()
            self.clients = [self.net.get(n) for n, _ in clients]
            self.local = [self.net.get(n) for n, _ in local]
            self.remote = [self.net.get(n) for n, _ in remote]
            self.instances = self.local + self.remote
            for h in self.net.hosts:
                for intf in h.intfList():
                    h.cmd("ethtool -K %s tx off >/dev/null 2>&1" % intf)
                h.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                      "net.ipv6.conf.default.disable_ipv6=1")
            self.install_site_b()
            if self.pins_mode == "split":
                for i, h in enumerate(self.remote):
                    self.pin(h.name, 1 + i % self.n_paths)
            elif self.pins_mode != "none":
                for h in self.remote:
                    self.pin(h.name, int(self.pins_mode))
            if self.controller_target:
                self.set_controller(self.controller_target)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self._stopped:
            return
        CatsSite.stop(self)
        subprocess.run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br",
                        self.bridge_b], capture_output=True)
        out = subprocess.run(["ip", "-o", "link", "show"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(self.bridge_b + "-eth"):
                subprocess.run(["ip", "link", "del", name],
                               capture_output=True)

    # -- forwarding ------------------------------------------------------------
    def _ofport(self, bridge, host):
        """Site bridge's OpenFlow port facing host."""
        for intf in host.intfList():
            link = intf.link
            if link is None:
                continue
            other = link.intf2 if link.intf1 == intf else link.intf1
            if other.node.name == bridge:
                return self.net.get(bridge).ports[other]
        raise RuntimeError("%s is not on %s" % (host.name, bridge))

    def install_site_b(self):
        """Site B's static flows (see the module's doc)."""
        b = self.bridge_b
        hosts = [(h, self._ofport(b, h), mac_for_ip(ip))
                 for h, ip in zip(self.remote, self.remote_ips)]
        p1 = self.path_ports[0]
        ck = "cookie=%#x," % SITE_B_COOKIE
        mc = "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"
        learn = ("learn(table=1,idle_timeout=60,priority=100,cookie=%#x,"
                 "eth_type=0x800,NXM_OF_IP_SRC[]=NXM_OF_IP_DST[],"
                 "NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],"
                 "output:NXM_OF_IN_PORT[])" % SITE_B_COOKIE)
        flows = []
        for p in self.path_ports:
            for h, port, mac in hosts:
                flows.append("%stable=0,priority=100,ip,in_port=%d,"
                             "dl_dst=%s,actions=%s,output:%d"
                             % (ck, p, mac, learn, port))
                flows.append("%stable=0,priority=90,in_port=%d,dl_dst=%s,"
                             "actions=output:%d" % (ck, p, mac, port))
            flows.append("%stable=0,priority=70,in_port=%d,actions=drop"
                         % (ck, p))
        flows.append("%stable=0,priority=80,in_port=%d,%s,actions=%s"
                     % (ck, p1, mc, ",".join("output:%d" % port
                                             for _, port, _ in hosts)))
        for h, port, mac in hosts:
            for h2, port2, mac2 in hosts:
                if h2 is not h:
                    flows.append("%stable=0,priority=100,in_port=%d,"
                                 "dl_dst=%s,actions=output:%d"
                                 % (ck, port, mac2, port2))
            others = [port2 for _, port2, _ in hosts if port2 != port]
            flows.append("%stable=0,priority=80,in_port=%d,%s,actions=%s"
                         % (ck, port, mc, ",".join(
                             "output:%d" % x for x in others + [p1])))
            flows.append("%stable=0,priority=50,ip,in_port=%d,"
                         "actions=resubmit(,1)" % (ck, port))
            flows.append("%stable=0,priority=40,in_port=%d,"
                         "actions=output:%d" % (ck, port, p1))
        flows.append("%stable=1,priority=0,actions=output:%d" % (ck, p1))
        self._add_flows(b, flows)

    def _add_flows(self, bridge, flows):
        p = subprocess.run(["ovs-ofctl", "-O", "OpenFlow15", "--bundle",
                            "add-flows", bridge, "-"],
                           input="\n".join(flows) + "\n", text=True,
                           capture_output=True, timeout=20)
        if p.returncode != 0:
            raise RuntimeError("ovs-ofctl add-flows %s: %s"
                               % (bridge, p.stderr.strip()))

    def set_controller(self, target, max_backoff=None):
        """As CatsSite's, then the pins again: ovs-vswitchd flushes a
        bridge's flows when it gains or loses a primary controller
        (bridge.c, bridge_configure_remotes())."""
        CatsSite.set_controller(self, target, max_backoff)
        for name, k in list(self.pins.items()):
            self.pin(name, k)

    def pin(self, name, k):
        """Reach remote instance NAME over path k (1..n): a flow in site
        A's next-hop table, ahead of what the controller learned."""
        if not 1 <= k <= self.n_paths:
            raise ValueError("path %d: 1 to %d" % (k, self.n_paths))
        h = self.net.get(name)
        if h not in self.remote:
            raise ValueError("%s is not a remote instance" % name)
        ip = self.remote_ips[self.remote.index(h)]
        cookie = PIN_COOKIE | self.remote.index(h)
        self._add_flows(self.bridge, [
            "cookie=%#x,table=%d,priority=150,ip,nw_dst=%s,"
            "actions=set_field:%s->eth_dst,output:%d"
            % (cookie, NEXT_HOP_TABLE, ip, mac_for_ip(ip),
               self.path_ports[k - 1])])
        self.pins[name] = k

    def path_stats(self):
        """{k: {"tx_packets", "tx_bytes", "rx_packets", "rx_bytes"}} of
        site A's path ports (tx: towards site B)."""
        out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow15", "dump-ports",
                              self.bridge], capture_output=True, text=True,
                             timeout=10).stdout
        res = {}
        cur = None
        for ln in out.splitlines():
            ln = ln.strip()
            if ln.startswith("port"):
                try:
                    cur = int(ln.split()[1].rstrip(":"))
                except ValueError:
                    cur = None
            if cur in self.path_ports:
                k = self.path_ports.index(cur) + 1
                d = res.setdefault(k, {})
                for word in ln.replace(",", " ").split():
                    key, eq, v = word.partition("=")
                    if eq and key in ("pkts", "bytes") and v.isdigit():
                        d["%s_%s" % ("rx" if ln.startswith(("port", "rx"))
                                     else "tx", key)] = int(v)
        return res


def diff_paths(before, after):
    return dict((k, dict((key, after[k].get(key, 0) -
                          before.get(k, {}).get(key, 0))
                         for key in after[k])) for k in after)


def make_cli(s):
    base = single_site.make_cli(s)

    class TwoSiteCLI(base):
        def do_path(self, line):
            "path NAME N: reach remote instance NAME over path N"
            try:
                name, k = line.split()
                s.site.pin(name, int(k))
            except (ValueError, KeyError, RuntimeError) as e:
                print("usage: path NAME N (%s)" % e)

        def do_paths(self, line):
            "paths: packets and bytes per path (site A's port counters)"
            pins = dict((k, [n for n, p in s.site.pins.items() if p == k])
                        for k in range(1, s.site.n_paths + 1))
            for k, d in sorted(s.site.path_stats().items()):
                print("path %d (%s): to B %s pkts %s bytes, from B %s pkts "
                      "%s bytes; pinned: %s"
                      % (k, s.site.path_mode, d.get("tx_pkts"),
                         d.get("tx_bytes"), d.get("rx_pkts"),
                         d.get("rx_bytes"), ", ".join(pins[k]) or "-"))

    return TwoSiteCLI


def run_load(s, rate, secs):
    ld = s.wl.start_load(s.site.clients[0], rate, secs, samples=False,
                         progress=False)
    sm = ld.wait(timeout=secs + 30)
    s.wl.loads.remove(ld)
    return sm


def scripted(s):
    site = s.site
    ok = True
    took = s.wait_registered()
    print("agents registered and reporting: %s"
          % ("%.1f s" % took if took is not None else "NO (20 s)"))
    ok &= took is not None
    took = s.wait_serving()
    print("VIP serves: %s" % ("%.1f s" % took if took is not None
                              else "NO (20 s)"))
    ok &= took is not None
    before = site.path_stats()
    sm = run_load(s, 100, 3)
    d = diff_paths(before, site.path_stats())
    served = sm.get("instances", {})
    print("cats-load 100/s, 3 s, pins %s: %d requests, %d errors, p50 %.2f "
          "ms; by instance %s" % (site.pins, sm["requests"], sm["errors"],
                                  sm["latency_ms"]["p50"], served))
    for k in sorted(d):
        print("  path %d: %d packets to site B, %d back"
              % (k, d[k].get("tx_pkts", 0), d[k].get("rx_pkts", 0)))
    good = sm["errors"] == 0 and all(served.get(n, 0) > 0 for n in s.names)
    good &= all(d[k].get("tx_pkts", 0) > 20 and d[k].get("rx_pkts", 0) > 20
                for k in d)
    print("  every instance served, both paths used: %s"
          % ("yes" if good else "NO"))
    ok &= good

    for h in site.remote:
        site.pin(h.name, 1)
    before = site.path_stats()
    sm = run_load(s, 100, 2)
    d = diff_paths(before, site.path_stats())
    served = sm.get("instances", {})
    tx1, tx2 = d[1].get("tx_pkts", 0), d[2].get("tx_pkts", 0)
    print("every remote instance on path 1: %d requests, %d errors; path 1 "
          "%d packets to site B, path 2 %d" % (sm["requests"], sm["errors"],
                                              tx1, tx2))
    good = sm["errors"] == 0 and tx2 < 0.05 * max(tx1, 1) and \
        all(served.get(h.name, 0) > 0 for h in site.remote)
    print("  path 2 idle, nothing lost: %s" % ("yes" if good else "NO"))
    ok &= good
    print(s.agents_table())
    print("scripted check: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build-dir", default=cw.BUILD,
                    help="where the binaries are (default build/)")
    ap.add_argument("--scripted", action="store_true",
                    help="start, run the check above, stop")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--local", default="4x1,4x1",
                    help="site A's instances, SLOTSxSPEED,... (default "
                    "%(default)s)")
    ap.add_argument("--remote", default="8x1,4x1",
                    help="site B's instances (default %(default)s)")
    ap.add_argument("--path-mode", choices=PATH_MODES, default="link",
                    help="link: plain veth links (today); gw: through "
                    "cats-gw (not yet)")
    ap.add_argument("--paths", default="split",
                    help="which path reaches the remote instances: split "
                    "(r1 path 1,\nr2 path 2, ...), 1, 2, or none (where the "
                    "controller learned them: path 1)")
    ap.add_argument("--service-time", default="fixed:10")
    ap.add_argument("--node-cpu", choices=["none", "shared"],
                    default="none",
                    help="what agents say about CPU (see single_site.py)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, sockets)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    try:
        local = single_site.parse_instances(args.local)
        remote = single_site.parse_instances(args.remote)
    except ValueError as e:
        ap.error(str(e))
    if args.paths not in ("split", "none", "1", "2"):
        ap.error("--paths: split, none, 1 or 2")
    why = single_site.preflight(os.path.abspath(args.build_dir))
    if why:
        ap.error(why)
    if args.path_mode == "gw":
        ap.error("--path-mode=gw: cats-gw (dataplane/) is not wired into "
                 "this topology yet")

    workdir = tempfile.mkdtemp(prefix="cats-two-")
    try:
        site = TwoSite(n_clients=args.clients, n_local=len(local),
                       n_remote=len(remote), path_mode=args.path_mode,
                       pins=args.paths, workdir=workdir,
                       log_level="info" if args.verbose else "warning")
        with SingleSite(workdir, instances=local + remote, site=site,
                        build_dir=args.build_dir,
                        service_time=args.service_time,
                        node_cpu=args.node_cpu) as s:
            print("VIP %s:%d; site A %s: clients %s, local %s; site B %s: "
                  "remote %s; %d paths (%s), pins %s" % (
                      site.vip, site.service_port, site.bridge,
                      ", ".join(site.client_ips),
                      ", ".join(h.name for h in site.local), site.bridge_b,
                      ", ".join(h.name for h in site.remote), site.n_paths,
                      site.path_mode, site.pins or "none"))
            print("controller log %s, unixctl %s" % (s.ctl.logfile,
                                                     s.ctl.unixctl))
            if args.scripted:
                return scripted(s)
            s.wait_registered()
            make_cli(s)(site.net)
            return 0
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:
        return e.code
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

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

Paths (--path-mode): gw, the default when build/cats-gw exists and DPDK
starts here (hugepage-less: --no-huge --no-pci), else link with the
reason printed.
- gw: each path is cats2a port 100+k <-> veth <-> cats-gw <-> veth <->
  cats2b port 100+k, the gateway (dataplane/, launched as in gw_sites.py:
  one process per path in the root namespace, two net_af_packet ports,
  one lcore, its own --file-prefix) forwarding every frame both ways (a
  transparent L2 wire) through a delay line and a rate limit, class 3
  (DSCP 24-31) lossless with ECN marking.  --path DELAY_MS,RATE sets
  path 1 then path 2 (default 1ms,20M and 3ms,50M: with gw_sites.py's
  5 ms, the selector leaves path 2's instance nearly idle at 100/s, its
  cost being above the others').  Both gateways push
  their paths to the controller's telemetry API (unix:WORKDIR/grpc.sock):
  cats/telemetry shows source gw-path1 with links path1-a:path1-b (site
  A to site B) and path1-b:path1-a, and gw-path2 likewise.  The catalog
  gives each remote instance path=pathK-a:pathK-b, K the path it is
  pinned to, so that path's delay and congestion count in its cost; the
  script rewrites the catalog (cats/reload) at every pin.
- link: plain veth links.  The kernel here has no netem: no delay to
  speak of, no telemetry, no path= in the catalog.

LIMITATION: which path a remote instance is reached over is pinned by
this script (--paths; CLI `path NAME N`), not chosen per connection by
the controller: the pipeline has one path per instance (path=), and the
selector's (instance, path) pairs with several paths per instance exist
in the selector and the simulator only.  The controller chooses the
instance, with its pinned path's cost.

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

    /usr/bin/python3 topologies/two_site.py --path-mode=link --scripted
    /usr/bin/python3 topologies/two_site.py --path 2ms,20M --path 5ms,50M

CLI commands besides Mininet's: cats CMD, agents, stats, load RATE SECS
[HOST], speed NAME X (as in single_site.py), and
    path NAME N           reach remote instance NAME over path N
    paths                 per path: packets and bytes each way (port
                          stats), and in gw mode what its cats-gw forwarded
    telemetry             the controller's cats/telemetry
--scripted checks that every agent registers, that a 3 s cats-load at
100/s reaches every instance (local and remote) with no error, that both
paths carry traffic, and that moving every remote instance to path 1
leaves path 2 idle and still loses nothing; in gw mode also that
cats/telemetry has both gateways' links, that both gateways forwarded
the load each way, and that the requests' network part (latency less
the server's wait and service time, from cats-load --samples) of the
remote instance on path 2 exceeds that of the one on path 1 by more than
the difference of their delays.  Root and Debian's /usr/bin/python3.
Everything started is removed on exit, errors and Ctrl-C, by PID and by
the names this script gave them (bridges cats2a, cats2b, their veths;
the gateways, their veths twNNNNpKa/b and cats2a-pK/cats2b-pK, their EAL
runtime directories /var/run/dpdk/cats-twNNNN-pK).
"""

import argparse
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import time

from cats_site import DPDK_RUNDIR, mac_for_ip, sh
from cats_topo import CatsSite
import cats_workload as cw
import single_site
from single_site import SingleSite
from gw_sites import Gateway, PathSpec, parse_telemetry

PATH_PORT_BASE = 100            # path k is port 100 + k on both bridges
PIN_COOKIE = 0xca7a000000000000
SITE_B_COOKIE = 0xca7b000000000000
NEXT_HOP_TABLE = 3              # the controller's T3 with --table=0
PATH_MODES = ("link", "gw")
# gw mode's paths.  Shorter than gw_sites.py's 2 ms / 5 ms: at 100/s the
# selector (policy min-latency) cuts an instance whose cost is above its
# water level (about 20 ms here, with 10 ms service times); a remote
# instance over 5 ms each way costs 10 + 10 ms and gets (rightly) almost
# nothing, so the check that every instance serves could not hold.
# Over 3 ms it costs 16 ms and takes its share.
TWO_SITE_PATHS = (PathSpec(1, "20M"), PathSpec(3, "50M"))


def add_path(topo, sw_a, sw_b, k, mode="link"):
    """Path k (1, 2, ...) between the sites' bridges: port
    PATH_PORT_BASE + k on both.  mode "link": a veth pair, added here.
    mode "gw": nothing in the Mininet topology: TwoSite._make_gw_path()
    adds the veths and the gateway once the bridges exist."""
    port = PATH_PORT_BASE + k
    if mode == "link":
        topo.addLink(sw_a, sw_b, port1=port, port2=port)
        return port
    if mode == "gw":
        return port
    raise ValueError("path mode %r: one of %s"
                     % (mode, ", ".join(PATH_MODES)))


def gw_unavailable(build_dir):
    """None when gw mode can run here (build_dir/cats-gw exists,
    dpdk-telemetry.py too, and DPDK's EAL starts without hugepages),
    else the reason."""
    binary = os.path.join(build_dir, "cats-gw")
    if not os.access(binary, os.X_OK):
        return "%s is not built (make)" % binary
    if not shutil.which("dpdk-telemetry.py"):
        return "DPDK is not installed (no dpdk-telemetry.py; make deps)"
    prefix = "cats-twochk-%d" % os.getpid()
    try:
        p = subprocess.run(
            [binary, "--no-huge", "-m", "64", "--no-pci", "-l", "0",
             "--file-prefix=" + prefix, "--log-level=lib.eal:error",
             "--vdev=net_null0", "--vdev=net_null1", "--", "--check"],
            capture_output=True, text=True, timeout=30,
            stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cats-gw --check: %s" % e
    finally:
        shutil.rmtree(os.path.join(DPDK_RUNDIR, prefix), ignore_errors=True)
    if p.returncode != 0 or "configuration OK" not in p.stdout:
        return "DPDK cannot start here (cats-gw --check, rc %d: %s)" % (
            p.returncode, ((p.stderr or p.stdout).strip().splitlines()
                           or ["no output"])[-1])
    return None


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
                 log_level="warning", workdir=None, max_backoff=1000,
                 paths=None, build_dir=cw.BUILD, gw_mem_mb=256):
        if path_mode not in PATH_MODES:
            raise ValueError("path mode %r" % path_mode)
        if path_mode == "gw" and not workdir:
            raise ValueError("gw mode needs the controller's workdir "
                             "(grpc.sock, gateway logs)")
        CatsSite.__init__(self, n_clients=n_clients,
                          n_instances=n_local + n_remote, bridge=bridge_a,
                          subnet=subnet, dpid="00000000ca752a01",
                          log_level=log_level, workdir=workdir,
                          client_prefix=client_prefix,
                          instance_prefix=local_prefix,
                          max_backoff=max_backoff)
        self.bridges.append(bridge_b)
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
        # gw mode: one PathSpec per path, the gateways, our veths.
        self.specs = list(paths or TWO_SITE_PATHS)[:n_paths]
        if path_mode == "gw" and len(self.specs) < n_paths:
            raise ValueError("%d path specs for %d paths"
                             % (len(self.specs), n_paths))
        self.build = os.path.abspath(build_dir)
        self.gw_mem_mb = gw_mem_mb
        self.tag = "tw%d" % (os.getpid() % 10000)
        self.gws = {}             # path k -> gw_sites.Gateway
        # Called with (remote host name, path k) after every pin: the
        # script keeps the controller's catalog (path=) in step.
        self.on_pin = None

    # -- lifecycle -----------------------------------------------------------
    def setup(self):
        from mininet.topo import Topo
        clients = self.named(self.client_prefix, self.client_ips)
        local = self.named(self.instance_prefix, self.local_ips)
        remote = self.named(self.remote_prefix, self.remote_ips)
        me = self

        class Topo2(Topo):
            def build(self):
                a = self.addSwitch(me.bridge, dpid=me.dpid)
                b = self.addSwitch(me.bridge_b, dpid=me.dpid_b)
                for sw, hosts in ((a, clients + local), (b, remote)):
                    for name, ip in hosts:
                        h = self.addHost(name, ip="%s/%d" % (ip, me.prefixlen),
                                         mac=mac_for_ip(ip))
                        self.addLink(h, sw)
                for k in range(1, me.n_paths + 1):
                    add_path(self, a, b, k, me.path_mode)
        self.make_net(Topo2(), protocols="OpenFlow15", failMode="secure",
                      reconnectms=self.max_backoff)
        self.clients = [self.net.get(n) for n, _ in clients]
        self.local = [self.net.get(n) for n, _ in local]
        self.remote = [self.net.get(n) for n, _ in remote]
        self.instances = self.local + self.remote
        if self.path_mode == "gw":
            for k in range(1, self.n_paths + 1):
                self._make_gw_path(k)
        self.install_site_b()
        if self.pins_mode == "split":
            for i, h in enumerate(self.remote):
                self.pin(h.name, 1 + i % self.n_paths)
        elif self.pins_mode != "none":
            for h in self.remote:
                self.pin(h.name, int(self.pins_mode))
        if self.controller_target:
            self.set_controller(self.controller_target)

    # -- gateways (gw mode) ----------------------------------------------------
    def _veth_names(self, k):
        """Path k's veths: (bridge A's end, gateway's A end), (gateway's B
        end, bridge B's end)."""
        return (("%s-p%d" % (self.bridge, k), "%sp%da" % (self.tag, k)),
                ("%sp%db" % (self.tag, k), "%s-p%d" % (self.bridge_b, k)))

    def link_id(self, k):
        """The telemetry link id of path k's site A -> site B direction
        (gateway port path<k>-a in, path<k>-b out)."""
        return "path%d-a:path%d-b" % (k, k)

    def _make_gw_path(self, k):
        """cats2a port 100+k <-> veth <-> cats-gw <-> veth <-> cats2b
        port 100+k; the gateway is started and forwards on return."""
        port = PATH_PORT_BASE + k
        (a_br, a_gw), (b_gw, b_br) = self._veth_names(k)
        for br_end, gw_end, bridge in ((a_br, a_gw, self.bridge),
                                       (b_br, b_gw, self.bridge_b)):
            self.veths += [br_end, gw_end]
            sh("ip", "link", "add", br_end, "type", "veth", "peer", "name",
               gw_end)
            for name in (br_end, gw_end):
                sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % name,
                   check=False)
                # af_packet and OVS see frames as the sender's kernel left
                # them: checksums must be complete.
                sh("ethtool", "-K", name, "tx", "off", check=False)
                sh("ip", "link", "set", name, "up")
            sh("ovs-vsctl", "--timeout=10", "add-port", bridge, br_end, "--",
               "set", "Interface", br_end, "ofport_request=%d" % port)
        gw = Gateway(os.path.join(self.build, "cats-gw"), self.workdir, k,
                     self.specs[k - 1], (a_gw, b_gw),
                     "cats-%s-p%d" % (self.tag, k),
                     controller="unix:" + cw.grpc_sock(self.workdir),
                     mem_mb=self.gw_mem_mb,
                     lcore=(k - 1) % (os.cpu_count() or 1))
        self.gws[k] = gw
        # The gateways stop before Mininet, while the veths they hold
        # still exist; each removes its EAL runtime directory.
        self.on_stop(gw.stop)
        gw.start()
        gw.wait_forwarding(time.monotonic() + 30)
        for bridge, name in ((self.bridge, a_br), (self.bridge_b, b_br)):
            got = subprocess.run(["ovs-vsctl", "--timeout=10", "get",
                                  "Interface", name, "ofport"],
                                 capture_output=True, text=True).stdout
            if got.strip() != str(port):
                raise RuntimeError("%s on %s: ofport %s, not %d"
                                   % (name, bridge, got.strip(), port))

    def gw_counters(self):
        """{k: {"a_to_b": packets, "b_to_a": packets}}: what each
        gateway forwarded (its ports' tx counts; port 0 faces site A)."""
        res = {}
        for k, gw in self.gws.items():
            st = gw.telemetry("/cats_gw/stats,0", "/cats_gw/stats,1")
            res[k] = {"b_to_a": port_tx(st[0]), "a_to_b": port_tx(st[1])}
        return res

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
        if self.on_pin:
            self.on_pin(name, k)

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


def port_tx(stats):
    """/cats_gw/stats,N -> the packets the gateway sent out of port N."""
    return int(stats.get("tx_packets", 0)) if isinstance(stats, dict) else 0


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
            try:
                g = s.site.gw_counters()
            except RuntimeError as e:
                print("cats-gw counters: %s" % e)
                return
            for k, v in sorted(g.items()):
                gw = s.site.gws[k]
                print("path %d cats-gw pid %d (%s, %s): forwarded %d "
                      "packets A->B, %d B->A"
                      % (k, gw.proc.pid, gw.spec, gw.prefix, v["a_to_b"],
                         v["b_to_a"]))

        def do_telemetry(self, line):
            "telemetry: the controller's cats/telemetry"
            print(s.ctl.appctl("cats/telemetry", check=False), end="")

    return TwoSiteCLI


def run_load(s, rate, secs, samples=False):
    """cats-load from the first client: (summary, samples path or None)."""
    ld = s.wl.start_load(s.site.clients[0], rate, secs, samples=samples,
                         progress=False)
    try:
        sm = ld.wait(timeout=secs + 30)
    finally:
        s.wl.loads.remove(ld)
    return sm, ld.samples_path


def net_ms_by_instance(path):
    """cats-load --samples -> {instance: median network part (latency
    less the server's wait and service time), ms} of the answered
    requests: connection set-up, request and reply, i.e. the path's
    round trips."""
    res = {}
    try:
        f = open(path)
    except (OSError, TypeError):
        return res
    with f:
        for ln in f:
            w = ln.split()
            if ln.startswith("#") or len(w) < 6 or w[2] != "ok":
                continue
            try:
                net = (int(w[1]) - int(w[4]) - int(w[5])) / 1e3
            except ValueError:
                continue
            res.setdefault(w[3], []).append(net)
    return dict((n, sorted(v)[len(v) // 2]) for n, v in res.items())


def catalog_text(s):
    """single_site's catalog, each remote instance with path=<the link id
    of the path it is pinned to> (gw mode)."""
    site = s.site
    port = site.service_port
    text = single_site.catalog(cw.SERVICE, site.vip, port,
                               [(ip, port) for ip in site.instance_ips],
                               decide=s.decide)
    by_ip = dict((ip, site.pins.get(h.name)) for h, ip in
                 zip(site.remote, site.remote_ips))
    lines = []
    for ln in text.splitlines():
        w = ln.split()
        if w and w[0] == "instance" and by_ip.get(w[2].split(":")[0]):
            ln += " path=%s" % site.link_id(by_ip[w[2].split(":")[0]])
        lines.append(ln)
    return "\n".join(lines) + "\n"


def sync_catalog(s):
    """Write catalog_text() over the controller's config; cats/reload."""
    with open(s.ctl.config, "w") as f:
        f.write(catalog_text(s))
    s.ctl.appctl("cats/reload", timeout=30)


def wait_telemetry(s, timeout=15.0):
    """Until cats/telemetry has every gateway's two links: (ok, text)."""
    site = s.site
    deadline = time.monotonic() + timeout
    while True:
        text = s.ctl.appctl("cats/telemetry", check=False, timeout=10)
        src = parse_telemetry(text)
        ok = all(set(src.get(gw.source_id, {})) >=
                 {"path%d-a:path%d-b" % (k, k), "path%d-b:path%d-a" % (k, k)}
                 for k, gw in site.gws.items())
        if ok or time.monotonic() > deadline:
            return ok, text
        time.sleep(0.3)


def diff_gw(before, after):
    return dict((k, dict((key, after[k][key] - before.get(k, {}).get(key, 0))
                         for key in after[k])) for k in after)


def scripted(s):
    site = s.site
    gw = site.path_mode == "gw"
    ok = True
    took = s.wait_registered()
    print("agents registered and reporting: %s"
          % ("%.1f s" % took if took is not None else "NO (20 s)"))
    ok &= took is not None
    took = s.wait_serving()
    print("VIP serves: %s" % ("%.1f s" % took if took is not None
                              else "NO (20 s)"))
    ok &= took is not None
    if gw:
        good, text = wait_telemetry(s)
        print("cats/telemetry:")
        print("".join("  " + ln + "\n" for ln in text.splitlines()), end="")
        print("  every gateway's links at the controller: %s"
              % ("yes" if good else "NO"))
        ok &= good
    before = site.path_stats()
    gw_before = site.gw_counters() if gw else {}
    sm, samples = run_load(s, 100, 3, samples=gw)
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
    if gw:
        g = diff_gw(gw_before, site.gw_counters())
        for k in sorted(g):
            print("  cats-gw path %d (%s): forwarded %d packets A->B, %d "
                  "B->A" % (k, site.specs[k - 1], g[k]["a_to_b"],
                            g[k]["b_to_a"]))
        good &= all(v["a_to_b"] > 20 and v["b_to_a"] > 20
                    for v in g.values())
    print("  every instance served, both paths used: %s"
          % ("yes" if good else "NO"))
    if not good and gw:
        # Why an instance got nothing: the selector's view.
        print(s.ctl.appctl("cats/explain", cw.SERVICE, check=False), end="")
    ok &= good
    if gw:
        # The network part of each remote instance's requests (connection
        # set-up and request/reply: two round trips) against its path.
        net = net_ms_by_instance(samples)
        by_path = {}
        for h in site.remote:
            by_path.setdefault(site.pins.get(h.name), []).append(h.name)
        for k in sorted(x for x in by_path if x):
            print("  path %d (one way %g ms): remote %s, network part "
                  "(median) %s ms" % (k, site.specs[k - 1].delay_ms,
                                      ", ".join(by_path[k]), ", ".join(
                                          "%.2f" % net[n] if n in net
                                          else "-" for n in by_path[k])))
        local = [net[h.name] for h in site.local if h.name in net]
        if local:
            print("  local instances: network part (median) %s ms"
                  % ", ".join("%.2f" % x for x in local))
        n1 = [net.get(n) for n in by_path.get(1, [])]
        n2 = [net.get(n) for n in by_path.get(2, [])]
        margin = site.specs[1].delay_ms - site.specs[0].delay_ms
        if n1 and n2:
            good = None not in n1 + n2 and min(n2) > max(n1) + margin
            print("  path 2's instances slower than path 1's by more than "
                  "%g ms: %s" % (margin, "yes" if good else "NO"))
            ok &= good
        else:
            print("  path 1 against path 2: not compared (no remote "
                  "instance on each; --paths split does that)")

    for h in site.remote:
        site.pin(h.name, 1)
    before = site.path_stats()
    gw_before = site.gw_counters() if gw else {}
    sm, _ = run_load(s, 100, 2)
    d = diff_paths(before, site.path_stats())
    served = sm.get("instances", {})
    tx1, tx2 = d[1].get("tx_pkts", 0), d[2].get("tx_pkts", 0)
    print("every remote instance on path 1: %d requests, %d errors; path 1 "
          "%d packets to site B, path 2 %d" % (sm["requests"], sm["errors"],
                                              tx1, tx2))
    good = sm["errors"] == 0 and tx2 < 0.05 * max(tx1, 1) and \
        all(served.get(h.name, 0) > 0 for h in site.remote)
    if gw:
        g = diff_gw(gw_before, site.gw_counters())
        print("  cats-gw A->B: path 1 %d packets, path 2 %d"
              % (g[1]["a_to_b"], g[2]["a_to_b"]))
        good &= g[2]["a_to_b"] < 0.05 * max(g[1]["a_to_b"], 1)
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
    ap.add_argument("--path-mode", choices=PATH_MODES, default=None,
                    help="gw: each path through its own cats-gw (the "
                    "default when\nbuild/cats-gw exists and DPDK starts "
                    "here); link: plain veth links")
    ap.add_argument("--path", action="append", default=[],
                    metavar="DELAY_MS,RATE",
                    help="gw mode: path 1, then path 2 (default 1ms,20M "
                    "and 3ms,50M)")
    ap.add_argument("--gw-mem", type=int, default=256,
                    help="gw mode: EAL -m per gateway, MB (default "
                    "%(default)s)")
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
    try:
        specs = [PathSpec.parse(p) for p in args.path] or \
            list(TWO_SITE_PATHS)
    except ValueError as e:
        ap.error(str(e))
    if len(specs) != 2:
        ap.error("--path: give both paths (path 1, then path 2)")
    build = os.path.abspath(args.build_dir)
    path_mode = args.path_mode
    if path_mode != "link":
        why = gw_unavailable(build)
        if why and path_mode == "gw":
            ap.error("--path-mode=gw: " + why)
        if why:
            print("path mode link (plain veths): %s" % why)
            path_mode = "link"
        else:
            path_mode = "gw"

    workdir = tempfile.mkdtemp(prefix="cats-two-")
    try:
        site = TwoSite(n_clients=args.clients, n_local=len(local),
                       n_remote=len(remote), path_mode=path_mode,
                       pins=args.paths, workdir=workdir, paths=specs,
                       build_dir=build, gw_mem_mb=args.gw_mem,
                       log_level="info" if args.verbose else "warning")
        with SingleSite(workdir, instances=local + remote, site=site,
                        build_dir=args.build_dir,
                        service_time=args.service_time,
                        node_cpu=args.node_cpu) as s:
            if site.path_mode == "gw":
                # Remote instances: path=<their path's link id>; again at
                # every pin (CLI `path`, the scripted check).
                sync_catalog(s)
                site.on_pin = lambda name, k: sync_catalog(s)
            print("VIP %s:%d; site A %s: clients %s, local %s; site B %s: "
                  "remote %s; %d paths (%s), pins %s" % (
                      site.vip, site.service_port, site.bridge,
                      ", ".join(site.client_ips),
                      ", ".join(h.name for h in site.local), site.bridge_b,
                      ", ".join(h.name for h in site.remote), site.n_paths,
                      site.path_mode, site.pins or "none"))
            for k, gw in sorted(site.gws.items()):
                print("path %d: cats-gw pid %d (%s, file prefix %s, "
                      "telemetry %s), links %s" % (
                          k, gw.proc.pid, gw.spec, gw.prefix, gw.source_id,
                          site.link_id(k)))
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

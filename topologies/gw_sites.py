#!/usr/bin/python3
"""Two CATS sites joined by two long-haul paths, each through its own
cats-gw (the DPDK gateway), both pushing telemetry to one cats-controller.

Steered (the default; SteeredSites, tests/integration/test_sites.py):

  clients NAMEc1, NAMEc2 --+                                  +-- NAMEr1
  local instance NAMEl1 ---+-- catsNAMEa == path 1 == catsNAMEb -+-- NAMEr2
                           |   (site A)   == path 2 ==  (site B)
                           +----- one cats-controller --------+

One subnet (10.233.0.0/24: clients .1-, local instance .11, remote .21-,
VIP .100:80).  Both bridges (fail-mode secure, datapath ids set) are
under one cats-controller, whose catalog this script writes: the two
sites by datapath id, the two paths with the bridges' OpenFlow port
numbers toward each gateway and the gateways' link ids, the service and
its instances with site= and mac=.  Each path is bridge A's port <-> veth
<-> cats-gw <-> veth <-> bridge B's port (path 1: 2 ms, 20 Mb/s; path 2:
5 ms, 50 Mb/s; class 3 lossless with ECN and PFC, watchdog 200 ms); path
ports are no-flood.  Every instance runs cats-serve and a cats-agent
(agent API on unix:WORKDIR/grpc.sock); the instance hosts have static
neighbour entries for the clients.  The controller picks instance and
path per connection and commits the path id in the conntrack label,
which conn_paths() reads back; gw_counts() gives the gateways' port
counters, flood_start() and storm_start() load path K or pause-storm it.
CLI: paths, conns, gw P CMD, flood P [SECS [FACTOR]], storm P [SECS],
cats CMD.  --scripted: 12 long-lived connections, each one's instance
and path.

Routed (--routed; GwSites, tests/integration/test_gw_sites.py):

  site A: bridge catsgwa                         site B: bridge catsgwb
  gwa1, gwa2 --+                                        +-- gwb1, gwb2
               +-- gwra ==[path 1: cats-gw, 2 ms, 20 Mb/s]== gwrb --+
                        ==[path 2: cats-gw, 5 ms, 50 Mb/s]==

Each site is a userspace-datapath OVS bridge (fail-mode standalone: a
learning switch) with its hosts and a router host (gwra, gwrb).  Each path
is a veth from each router to the root namespace, where one cats-gw
process forwards between the two (net_af_packet ports; --no-huge, one
lcore, its own --file-prefix) with a delay line each way, a rate limit,
and class 3 (DSCP 24-31) lossless (PFC) with ECN marking on both ports.
Both gateways push their paths to the controller's gRPC telemetry API
(--grpc-listen=unix:WORKDIR/grpc.sock): `ovs-appctl -t CTL cats/telemetry`
shows source gw-path1 (links path1-a:path1-b, path1-b:path1-a) and
gw-path2.

Choosing a path: every host has, besides its address on the site's LAN,
one address per path, and the destination address picks the path:

  site A  LAN 10.231.0.0/24 (router .254)  path p addresses 10.231.p.0/24
  site B  LAN 10.232.0.0/24 (router .254)  path p addresses 10.232.p.0/24
  path p  link 10.239.p.0/24 (gwra .1, gwrb .2)

gwa1 -> 10.232.1.1 crosses path 1, gwa1 -> 10.232.2.1 path 2 (and B's
LAN addresses, 10.232.0.0/24, path 1).  Replies go back on the path they
came from: each router sends what comes from its site's path-p addresses
(the replies' sources) over path p (policy routing, table 100+p).  The
hosts of site A are gwa1 = 10.231.0.1 (10.231.1.1, 10.231.2.1), gwa2 =
10.231.0.2, ...; site B's likewise.

    /usr/bin/python3 topologies/gw_sites.py              # steered, CLI
    /usr/bin/python3 topologies/gw_sites.py --routed     # routed, CLI
    /usr/bin/python3 topologies/gw_sites.py --routed --scripted
    /usr/bin/python3 topologies/gw_sites.py --path 2ms,20M --path 5ms,50M

The routed CLI has, besides Mininet's commands:
    paths                    each path: delay, rate, gateway counters
    telemetry                the controller's cats/telemetry
    gw P CMD                 dpdk-telemetry.py command on path P's gateway
                             (/cats_gw/stats,0 ...)
    pingpath SRC DST P [N]   ping DST's path-P address from SRC
    flood SRC DST P [SECS]   ECT(0) DSCP 26 UDP at 4x path P's rate
Mininet's iperf commands are disabled (they `killall` by name).

--routed --scripted starts everything, pings over each path (RTT about
twice its delay), floods path 1 above its rate and shows the ECN marks
and PFC pauses that path 1's gateway counts, that path 2's does not, and
what the controller received, then stops; exit status 0 if all of that
held.

As a library (tests/integration/test_gw_sites.py):

    with GwSites(workdir, build_dir="build") as s:
        s.ping("gwa1", "gwb1", path=1)      # {"min": ms, "avg": ..}
        s.flood("gwa1", "gwb1", path=1, secs=1.5)
        s.class_stats(1, port=0)            # /cats_gw/stats,0 class3
        s.controller_links()                # parsed cats/telemetry

Root and Debian's /usr/bin/python3 (it has mininet).  Everything started
(bridges, hosts, veths, processes, EAL runtime directories) is removed on
exit, errors, SIGTERM and Ctrl-C, by PID and by the names given here.
Never `mn -c`.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from cats_ctl import CatsController
from cats_site import (BUILD, DPDK_RUNDIR, PYTHON, TOPO_DIR, Site,
                       kill_pid, mac_for_ip, preflight, sh)

LOSSLESS_CLASS = 3
LOSSLESS_DSCP = 26              # AF31: class 3 with trust dscp.


class PathSpec:
    """One long-haul path: one-way delay (ms), rate (cats-gw's RATE)."""

    def __init__(self, delay_ms, rate="20M"):
        self.delay_ms = float(delay_ms)
        self.rate = rate
        self.rate_bps = parse_rate(rate)

    @classmethod
    def parse(cls, text):
        """'2ms,20M' or '2,20M' -> PathSpec"""
        delay, _, rate = text.partition(",")
        delay = delay.strip()
        if delay.endswith("ms"):
            delay = delay[:-2]
        try:
            spec = cls(float(delay), rate.strip() or "20M")
        except ValueError:
            raise ValueError("bad path %r: want DELAY_MS[ms],RATE" % text)
        if spec.delay_ms < 0 or spec.delay_ms > 1000 or spec.rate_bps <= 0:
            raise ValueError("bad path %r: delay 0..1000 ms, rate > 0"
                             % text)
        return spec

    def __repr__(self):
        return "%gms,%s" % (self.delay_ms, self.rate)


def parse_rate(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKMGT]?)", text)
    if not m:
        raise ValueError("bad rate %r" % text)
    mult = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    return float(m.group(1)) * mult[m.group(2)]


DEFAULT_PATHS = (PathSpec(2, "20M"), PathSpec(5, "50M"))

# Traffic helpers, run with /usr/bin/python3 -c on a host.

# Counts UDP packets, bytes and CE marks on port 9999 for 'secs' seconds;
# the rate is measured between the first and the last packet.
RECEIVER = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
s.bind(("0.0.0.0", 9999))
s.settimeout(0.1)
n = ce = nbytes = 0
first = last = None
end = time.monotonic() + float(sys.argv[1])
print("ready", flush=True)
while time.monotonic() < end:
    try:
        data, anc, flags, addr = s.recvmsg(2048, socket.CMSG_SPACE(4))
    except socket.timeout:
        continue
    now = time.monotonic()
    if first is None:
        first = now
    last = now
    n += 1
    nbytes += len(data) + 28
    for level, kind, value in anc:
        if level == socket.IPPROTO_IP and kind == socket.IP_TOS:
            if value[0] & 3 == 3:
                ce += 1
span = (last - first) if n > 1 else 0.0
print(json.dumps({"packets": n, "ce": ce, "bytes": nbytes, "span": span,
                  "ip_bps": (nbytes * 8 / span) if span else 0.0}),
      flush=True)
"""

# Sends ECT(0) UDP with DSCP 'dscp' to DST:9999 at 'pps' packets/s of
# 1000 bytes for 'secs' seconds, paced per millisecond.
SENDER = r"""
import socket, sys, time
dst, pps, secs, dscp = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, (dscp << 2) | 2)
payload = b"x" * 1000
t0 = time.monotonic()
n = err = 0
while True:
    now = time.monotonic() - t0
    if now >= secs:
        break
    due = int(now * pps) + 1
    while n < due:
        try:
            s.sendto(payload, (dst, 9999))
        except OSError:
            err += 1
        n += 1
    time.sleep(0.001)
print(n, err, flush=True)
"""


def parse_ping(text):
    """ping's output -> {"sent", "received", "min", "avg", "max",
    "median", "rtts"} (ms; None when nothing came back)."""
    res = {"sent": 0, "received": 0, "min": None, "avg": None, "max": None,
           "median": None, "rtts": []}
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text or "")
    if m:
        res["sent"], res["received"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)", text or "")
    if m:
        res["min"], res["avg"], res["max"] = map(float, m.groups())
    rtts = sorted(float(x) for x in re.findall(r"time=([\d.]+) ms",
                                                 text or ""))
    if rtts:
        res["rtts"] = rtts
        res["median"] = rtts[len(rtts) // 2]
    return res


def parse_telemetry(text):
    """cats/telemetry -> {source: {link: {"kind", "tx_packets",
    "ecn_marked", "drops", "pfc": {prio: {"rx", "tx"}}, ...}}}"""
    sources, cur = {}, None
    for line in (text or "").splitlines():
        m = re.match(r"source (\S+) ", line)
        if m:
            cur = sources.setdefault(m.group(1), {})
            continue
        m = re.match(r"\s+(\S+) (path|link) (.*)", line)
        if not m or cur is None:
            continue
        link = {"kind": m.group(2), "pfc": {}}
        for k, v in re.findall(r"(\w+)=([\d.]+)(?=\s|$)", m.group(3)):
            link[k] = float(v) if "." in v else int(v)
        for prio, rx, tx in re.findall(r"pfc(\d+)\(rx=(\d+),tx=(\d+)",
                                       m.group(3)):
            link["pfc"][int(prio)] = {"rx": int(rx), "tx": int(tx)}
        cur[m.group(1)] = link
    return sources


class Gateway:
    """One cats-gw process for one path."""

    def __init__(self, binary, workdir, index, spec, ifaces, prefix,
                 controller=None, mem_mb=1024, lcore=0, port_opts="",
                 report_interval="200ms"):
        self.index = index
        self.spec = spec
        self.prefix = prefix
        self.source_id = "gw-path%d" % index
        self.names = ("path%d-a" % index, "path%d-b" % index)
        self.log = os.path.join(workdir, "cats-gw-path%d.log" % index)
        self.argv = [
            binary, "--no-huge", "-m", str(mem_mb), "--no-pci",
            "-l", str(lcore), "--file-prefix=" + prefix,
            "--log-level=lib.eal:error",
            "--vdev=net_af_packet0,iface=" + ifaces[0],
            "--vdev=net_af_packet1,iface=" + ifaces[1], "--",
            "--port=0,name=%s,speed=1G,trust=dscp%s" % (self.names[0],
                                                        port_opts),
            "--port=1,name=%s,speed=1G,trust=dscp%s" % (self.names[1],
                                                        port_opts),
            "--class=0:%d,queue=300K,ecn=20K:100K:10%%,lossless=150K:100K"
            % LOSSLESS_CLASS,
            "--class=1:%d,queue=300K,ecn=20K:100K:10%%,lossless=150K:100K"
            % LOSSLESS_CLASS,
            "--pair=0:1,delay=%dus,rate=%s"
            % (round(spec.delay_ms * 1000), spec.rate),
            "--mbufs=8192", "--idle-sleep=20us"]
        if controller:
            self.argv += ["--controller=" + controller,
                          "--source-id=" + self.source_id,
                          "--report-interval=" + report_interval]
        self.proc = None
        self.logf = None

    def start(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT)

    def wait_forwarding(self, deadline, tries=4):
        """Until it forwards.  DPDK's net_af_packet joins a PACKET_FANOUT
        group whose id is (pid ^ ifindex) & 0xffff, which another
        net_af_packet process on this machine (the other gateway, another
        test) may hold for another interface: the kernel then refuses it
        (EINVAL).  A new process has another pid: try again."""
        for attempt in range(tries):
            try:
                return self._wait_forwarding(deadline)
            except RuntimeError:
                if attempt + 1 == tries or "PACKET_FANOUT" not in self.tail():
                    raise
            self.stop()
            self.start()

    def _wait_forwarding(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cats-gw path %d exited (%d): %s"
                                   % (self.index, self.proc.returncode,
                                      self.tail()))
            with open(self.log) as f:
                if "cats-gw: forwarding" in f.read():
                    return
            time.sleep(0.05)
        raise RuntimeError("cats-gw path %d did not start: %s"
                           % (self.index, self.tail()))

    def tail(self, n=20):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_pid(self.proc.pid)
        if self.logf:
            self.logf.close()
            self.logf = None
        # EAL leaves its runtime directory behind (12 MB of tmpfs with
        # --no-huge).
        shutil.rmtree(os.path.join(DPDK_RUNDIR, self.prefix),
                      ignore_errors=True)

    def telemetry(self, *cmds):
        """dpdk-telemetry.py -f PREFIX: one reply per command."""
        p = subprocess.run(["dpdk-telemetry.py", "-f", self.prefix],
                           input="\n".join(cmds) + "\n", capture_output=True,
                           text=True, timeout=20)
        replies = []
        for line in p.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                if "version" not in r:
                    replies.append(list(r.values())[0])
        if len(replies) != len(cmds):
            raise RuntimeError("dpdk-telemetry.py -f %s: %d replies to %d "
                               "commands: %s %s" % (self.prefix,
                                                    len(replies), len(cmds),
                                                    p.stdout, p.stderr))
        return replies


def _make_topo(name, n_hosts):
    from mininet.topo import Topo

    class GwSitesTopo(Topo):
        def build(self):
            for i, site in enumerate("ab"):
                sw = self.addSwitch("cats%s%s" % (name, site),
                                    dpid="00000000ca75%02x%02x"
                                    % (0x60 + len(name), 0xa + i))
                r = self.addHost("%sr%s" % (name, site),
                                 ip="%s.254/24" % GwSites.lan(site))
                self.addLink(r, sw)
                for h in range(1, n_hosts + 1):
                    hn = self.addHost("%s%s%d" % (name, site, h),
                                      ip="%s.%d/24" % (GwSites.lan(site), h))
                    self.addLink(hn, sw)
    return GwSitesTopo()


class GwSites(Site):
    """The two sites, their paths, the gateways and the controller."""

    SITE_NET = {"a": "10.231", "b": "10.232"}
    LINK_NET = "10.239"

    def __init__(self, workdir, paths=DEFAULT_PATHS, n_hosts=2, name="gw",
                 build_dir=BUILD, controller=True,
                 mem_mb=1024, log_level="warning"):
        if not re.fullmatch(r"[a-z]{1,3}", name):
            raise ValueError("name: 1 to 3 letters (host and bridge names)")
        if not 1 <= len(paths) <= 9 or not 1 <= n_hosts <= 200:
            raise ValueError("1 to 9 paths, 1 to 200 hosts per site")
        Site.__init__(self, ["cats%sa" % name, "cats%sb" % name],
                      log_level=log_level)
        self.workdir = os.path.abspath(workdir)
        self.paths = list(paths)
        self.n_hosts = n_hosts
        self.name = name
        self.build = os.path.abspath(build_dir)
        self.want_controller = controller
        self.mem_mb = mem_mb
        self.routers = {"a": "%sra" % name, "b": "%srb" % name}
        self.tag = "%s%d" % (name, os.getpid() % 10000)
        self.ctl = None
        self.gws = {}                   # path index -> Gateway

    # -- addresses -----------------------------------------------------------
    @classmethod
    def lan(cls, site):
        return cls.SITE_NET[site] + ".0"

    def host_names(self, site):
        return ["%s%s%d" % (self.name, site, h)
                for h in range(1, self.n_hosts + 1)]

    def site_of(self, host):
        n = host if isinstance(host, str) else host.name
        if n in self.routers.values():
            return n[-1]
        return n[len(self.name)]

    def addr(self, host, path=None):
        """'host''s LAN address, or its address on path 'path'."""
        n = host if isinstance(host, str) else host.name
        site = self.site_of(n)
        num = 254 if n in self.routers.values() else int(n[len(self.name)
                                                            + 1:])
        return "%s.%d.%d" % (self.SITE_NET[site], path or 0, num)

    def link_addr(self, path, site):
        return "%s.%d.%d" % (self.LINK_NET, path, 1 if site == "a" else 2)

    # -- lifecycle -----------------------------------------------------------
    def setup(self):
        self.make_net(_make_topo(self.name, self.n_hosts),
                      failMode="standalone")
        self._make_paths()
        self._route()
        grpc = None
        if self.want_controller:
            self.ctl = CatsController(
                os.path.join(self.build, "cats-controller"),
                self.workdir, "# gw_sites.py: telemetry only\n",
                listen="punix:" + os.path.join(self.workdir, "sw.sock"),
                extra_args=["--grpc-listen=unix:"
                            + os.path.join(self.workdir, "grpc.sock"),
                            "--agent-report-interval=200"])
            self.on_stop(self.ctl.cleanup)
            self.ctl.start()
            grpc = "unix:" + os.path.join(self.workdir, "grpc.sock")
        ncpu = os.cpu_count() or 1
        for i, spec in enumerate(self.paths, 1):
            gw = Gateway(os.path.join(self.build, "cats-gw"),
                         self.workdir, i, spec,
                         (self._gw_if(i, "a"), self._gw_if(i, "b")),
                         "cats-%s-p%d" % (self.tag, i), controller=grpc,
                         mem_mb=self.mem_mb, lcore=(i - 1) % ncpu)
            self.gws[i] = gw
            self.on_stop(gw.stop)
            gw.start()
        deadline = time.monotonic() + 30
        for gw in self.gws.values():
            gw.wait_forwarding(deadline)

    def _gw_if(self, path, site):
        """The root-namespace end of path 'path''s veth to 'site'."""
        return "%sp%d%s" % (self.tag, path, site)

    def _rtr_if(self, path, site):
        return "%s-p%d" % (self.routers[site], path)

    def _make_paths(self):
        """One veth per path and site: the router's end in its namespace,
        the gateway's in ours."""
        for p in range(1, len(self.paths) + 1):
            for site in "ab":
                r = self.host(self.routers[site])
                gif, rif = self._gw_if(p, site), self._rtr_if(p, site)
                self.add_veth(gif, rif, r.pid)
                r.cmd("ip link set %s up" % rif)
                r.cmd("ip addr add %s/24 dev %s" % (self.link_addr(p, site),
                                                   rif))
                # af_packet sees frames as the sender's kernel left them:
                # checksums must be complete.
                r.cmd("ethtool -K %s tx off >/dev/null 2>&1" % rif)

    def _mac(self, node, intf):
        return node.cmd("cat /sys/class/net/%s/address" % intf).strip()

    def _route(self):
        """Addresses per path on every host, the routers' tables, static
        neighbours everywhere (no ARP to lose under overload)."""
        n_paths = len(self.paths)
        for site in "ab":
            peer = "b" if site == "a" else "a"
            r = self.host(self.routers[site])
            rmac = self._mac(r, r.defaultIntf())
            r.cmd("sysctl -qw net.ipv4.ip_forward=1 "
                  "net.ipv4.conf.all.rp_filter=0 "
                  "net.ipv4.conf.default.rp_filter=0")
            for intf in r.intfList():
                r.cmd("sysctl -qw net.ipv4.conf.%s.rp_filter=0" % intf)
            for hn in self.host_names(site):
                h = self.host(hn)
                hif = h.defaultIntf()
                hmac = self._mac(h, hif)
                h.cmd("ip route replace default via %s" % self.addr(r))
                h.cmd("ip neigh replace %s lladdr %s dev %s nud permanent"
                      % (self.addr(r), rmac, hif))
                r.cmd("ip neigh replace %s lladdr %s dev %s nud permanent"
                      % (self.addr(hn), hmac, r.defaultIntf()))
                for p in range(1, n_paths + 1):
                    h.cmd("ip addr add %s/32 dev %s" % (self.addr(hn, p),
                                                        hif))
                    r.cmd("ip neigh replace %s lladdr %s dev %s nud "
                          "permanent" % (self.addr(hn, p), hmac,
                                         r.defaultIntf()))
            for p in range(1, n_paths + 1):
                rif = self._rtr_if(p, site)
                far = self.host(self.routers[peer])
                far_mac = self._mac(far, self._rtr_if(p, peer))
                r.cmd("ip neigh replace %s lladdr %s dev %s nud permanent"
                      % (self.link_addr(p, peer), far_mac, rif))
                # This site's path-p addresses are on the LAN.
                r.cmd("ip route replace %s.%d.0/24 dev %s"
                      % (self.SITE_NET[site], p, r.defaultIntf()))
                # The peer's path-p addresses are across path p.
                r.cmd("ip route replace %s.%d.0/24 via %s dev %s"
                      % (self.SITE_NET[peer], p, self.link_addr(p, peer),
                         rif))
                # Replies from our path-p addresses go back over path p.
                r.cmd("ip route replace %s.0.0/16 via %s dev %s table %d"
                      % (self.SITE_NET[peer], self.link_addr(p, peer), rif,
                         100 + p))
                r.cmd("ip rule add from %s.%d.0/24 table %d pref %d"
                      % (self.SITE_NET[site], p, 100 + p, 100 + p))
            # The peer's LAN addresses: path 1.
            r.cmd("ip route replace %s.0.0/24 via %s dev %s"
                  % (self.SITE_NET[peer], self.link_addr(1, peer),
                     self._rtr_if(1, site)))

    def popen(self, host, argv, **kw):
        kw.setdefault("stderr", subprocess.PIPE)
        return Site.popen(self, host, argv, **kw)

    # -- measurements --------------------------------------------------------
    def ping(self, src, dst, path, count=10, interval=0.05, tos=0):
        """Ping dst's path-'path' address from src: parse_ping()'s dict."""
        return self.ping_wait(self.ping_start(src, dst, path, count,
                                              interval, tos))

    def ping_start(self, src, dst, path, count=10, interval=0.05, tos=0):
        """The same in the background: give the result to ping_wait()."""
        argv = ["ping", "-n", "-c", str(count), "-i", str(interval),
                "-W", "2", "-Q", str(tos), self.addr(dst, path)]
        p = self.popen(src, argv, stderr=subprocess.STDOUT)
        p.limit = count * interval + 10
        return p

    def ping_wait(self, p):
        out, _ = self.communicate(p, timeout=p.limit)
        return parse_ping(out)

    def flood(self, src, dst, path, secs=1.5, factor=4.0,
              dscp=LOSSLESS_DSCP, on_start=None):
        """ECT(0) UDP of 1000 bytes with 'dscp' from src to dst's path
        address at 'factor' times the path's rate for 'secs' seconds;
        on_start() is called once the sender runs.  Returns {"sent",
        "send_errors", "packets", "ce", "bytes", "span", "ip_bps"} (the
        sender's and the receiver's counts)."""
        pps = factor * self.paths[path - 1].rate_bps / (1028 * 8)
        rx = self.popen(dst, [PYTHON, "-c", RECEIVER, str(secs + 1.5)])
        line = rx.stdout.readline()
        if line.strip() != "ready":
            self.communicate(rx, 5)
            raise RuntimeError("receiver did not start: %r" % line)
        tx = self.popen(src, [PYTHON, "-c", SENDER, self.addr(dst, path),
                              "%.0f" % pps, str(secs), str(dscp)])
        if on_start:
            on_start()
        out, err = self.communicate(tx, secs + 20)
        try:
            sent, errors = map(int, out.split())
        except ValueError:
            raise RuntimeError("sender: %r %r" % (out, err))
        out, err = self.communicate(rx, secs + 20)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("receiver: %r %r" % (out, err))
        res.update(sent=sent, send_errors=errors)
        return res

    def stats(self, path, port=None):
        """/cats_gw/stats (all ports) or /cats_gw/stats,PORT of path's
        gateway."""
        cmd = "/cats_gw/stats" if port is None else \
            "/cats_gw/stats,%d" % port
        return self.gws[path].telemetry(cmd)[0]

    def class_stats(self, path, port, cls=LOSSLESS_CLASS):
        return self.stats(path, port)["class%d" % cls]

    def controller_text(self):
        return self.ctl.appctl("cats/telemetry") if self.ctl else ""

    def controller_links(self):
        return parse_telemetry(self.controller_text())

    def summary(self):
        """One line per path: its configuration and gateway counters."""
        lines = []
        for i, gw in self.gws.items():
            try:
                c = [self.class_stats(i, port) for port in (0, 1)]
            except RuntimeError as e:
                lines.append("path %d: %s" % (i, e))
                continue
            lines.append(
                "path %d (%s, cats-gw pid %d, prefix %s): delay %g ms, rate"
                " %s; class %d A->B: %d pkts, %d ECN-marked, %d pauses "
                "sent, %d drops; B->A: %d pkts, %d marked, %d pauses"
                % (i, gw.source_id, gw.proc.pid, gw.prefix,
                   gw.spec.delay_ms, gw.spec.rate, LOSSLESS_CLASS,
                   c[0]["packets"], c[0]["ecn_marked"], c[0]["pause_tx"],
                   c[0]["drops"], c[1]["packets"], c[1]["ecn_marked"],
                   c[1]["pause_tx"]))
        return "\n".join(lines)

    def describe(self):
        lines = ["site A: bridge %s, router %s, hosts %s"
                 % (self.bridges[0], self.routers["a"],
                    ", ".join("%s %s" % (h, self.addr(h))
                              for h in self.host_names("a"))),
                 "site B: bridge %s, router %s, hosts %s"
                 % (self.bridges[1], self.routers["b"],
                    ", ".join("%s %s" % (h, self.addr(h))
                              for h in self.host_names("b")))]
        for i, spec in enumerate(self.paths, 1):
            lines.append("path %d: %s ms each way, %s b/s; addresses "
                         "%s.%d.0/24 and %s.%d.0/24; cats-gw %s"
                         % (i, spec.delay_ms, spec.rate, self.SITE_NET["a"],
                            i, self.SITE_NET["b"], i,
                            self.gws[i].prefix if i in self.gws else "-"))
        if self.ctl:
            lines.append("controller: unixctl %s, log %s"
                         % (self.ctl.unixctl, self.ctl.logfile))
        return "\n".join(lines)


# -- the steered topology ----------------------------------------------------
# Raw frames, from the root namespace, out of an interface (a path's veth
# end on a bridge: the frame goes to the gateway, and the bridge, whose
# socket takes inbound frames only, never sees it).

# ECT(0) UDP of 1000 bytes with DSCP 'dscp' to DMAC/DIP:9999 at 'pps' for
# 'secs' seconds, paced per millisecond; prints "SENT ERRORS".
INJECTOR = r"""
import socket, struct, sys, time
iface, dmac, smac, sip, dip = sys.argv[1:6]
pps, secs, dscp = float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
mac = lambda m: bytes.fromhex(m.replace(":", ""))
payload = b"x" * 1000
udp = struct.pack("!HHHH", 9998, 9999, 8 + len(payload), 0) + payload
hdr = struct.pack("!BBHHHBBH4s4s", 0x45, (dscp << 2) | 2, 20 + len(udp),
                  0, 0x4000, 64, 17, 0, socket.inet_aton(sip),
                  socket.inet_aton(dip))
c = sum(struct.unpack("!10H", hdr))
c = (c & 0xffff) + (c >> 16)
c = ~((c & 0xffff) + (c >> 16)) & 0xffff
hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
frame = mac(dmac) + mac(smac) + b"\x08\x00" + hdr + udp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
s.bind((iface, 0))
t0 = time.monotonic()
n = err = 0
print("start %.6f" % t0, flush=True)
while True:
    now = time.monotonic() - t0
    if now >= secs:
        break
    due = int(now * pps) + 1
    while n < due:
        try:
            s.send(frame)
        except OSError:
            err += 1
        n += 1
    time.sleep(0.001)
print(n, err, flush=True)
"""

# PFC frames (priority 3, 0xffff quanta: 33.5 ms at 1 Gb/s) every 'gap'
# seconds for 'secs' seconds: a pause storm into the gateway's port.
# Prints "first T" (time.monotonic() of the first frame) then "last T N".
PAUSER = r"""
import socket, sys, time
iface, secs, gap = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
with open("/sys/class/net/%s/address" % iface) as f:
    mac = bytes.fromhex(f.read().strip().replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
body = b"\x01\x01" + b"\x00\x08" + b"\x00\x00" * 3 + b"\xff\xff" + \
    b"\x00\x00" * 4
frame = (bytes.fromhex("0180c2000001") + mac + b"\x88\x08" +
         body).ljust(60, b"\x00")
n = 0
t0 = time.monotonic()
s.send(frame)
n += 1
print("first %.6f" % t0, flush=True)
last = t0
while time.monotonic() - t0 < secs:
    time.sleep(gap)
    s.send(frame)
    last = time.monotonic()
    n += 1
print("last %.6f %d" % (last, n), flush=True)
"""

STEERED_WATCHDOG_MS = 200       # the gateways' and the selector's default
STEERED_RESTORE_MS = 200        # the gateways' (the selector's: 1000)
FLOOD_SRC_MAC = "02:ca:75:00:0f:01"
FLOOD_SRC_IP = "10.233.0.250"


def parse_conntrack(text, vip=None):
    """ovs-appctl dpctl/dump-conntrack -> [{"proto", "src", "dst",
    "sport", "dport", "zone", "mark", "labels", "path"}] (original
    direction; 'path' = labels & 0xff, the path id the pipeline
    committed), only those to 'vip' when given."""
    res = []
    rx = re.compile(r"^(\w+),orig=\(src=([\d.]+),dst=([\d.]+),"
                    r"sport=(\d+),dport=(\d+)\)")
    for line in (text or "").splitlines():
        m = rx.match(line.strip())
        if not m or (vip and m.group(3) != vip):
            continue
        d = {"proto": m.group(1), "src": m.group(2), "dst": m.group(3),
             "sport": int(m.group(4)), "dport": int(m.group(5))}
        for k in ("zone", "mark"):
            v = re.search(r"\b%s=(\d+)" % k, line)
            d[k] = int(v.group(1)) if v else 0
        v = re.search(r"\blabels=(0x[0-9a-fA-F]+|\d+)", line)
        d["labels"] = int(v.group(1), 0) if v else 0
        d["path"] = d["labels"] & 0xff
        res.append(d)
    return res


PATH_STATES = ("clean", "congested", "storm", "dead")


def parse_paths(text):
    """ovs-appctl cats/paths -> {path name: {"state", "carrier", "text"}}:
    a line that starts 'path NAME' begins a path, the lines indented
    under it belong to it; its state is the first of clean, congested,
    storm, dead named (as a word or state=X), its carrier carrier=X
    (None when not said)."""
    res, cur = {}, None
    for line in (text or "").splitlines():
        m = re.match(r"^path (\S+?):?(\s|$)", line)
        if m:
            cur = res.setdefault(m.group(1), {"state": None,
                                              "carrier": None, "text": ""})
        elif cur is None or not line[:1].isspace():
            cur = None
            continue
        cur["text"] += line + "\n"
        if cur["state"] is None:
            for w in re.findall(r"[\w-]+", line.replace("state=", " ")):
                if w in PATH_STATES:
                    cur["state"] = w
                    break
        c = re.search(r"\bcarrier[=: ]+(\S+)", line)
        if c and cur["carrier"] is None:
            cur["carrier"] = c.group(1).rstrip(",;)")
    return res


class Exchanges:
    """A running cats_exchange.py (long-lived timed connections) in a
    client host: open(), report(), stop()."""

    def __init__(self, site, proc):
        self.site = site
        self.proc = proc
        self.done = None

    def _cmd(self, line, want, timeout=10.0):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ln = self.proc.stdout.readline()
            if not ln:
                raise RuntimeError("cats_exchange.py exited: %s"
                                   % self.proc.stderr.read()[-300:])
            if ln.startswith(want):
                return ln[len(want):].strip()
        raise RuntimeError("cats_exchange.py: no %r" % want)

    def open(self, n, gap=0.0):
        self._cmd("open %d %g" % (n, gap), "OPENING")

    def report(self):
        return json.loads(self._cmd("report", "REPORT "))

    def stop(self):
        if self.done is None:
            try:
                self.done = json.loads(self._cmd("quit", "DONE "))
            finally:
                self.site.communicate(self.proc, 10)
        return self.done


def _make_steered_topo(s):
    from mininet.topo import Topo

    class SteeredTopo(Topo):
        def build(self):
            for site in "ab":
                sw = self.addSwitch(s.bridge_of[site], dpid=s.dpid[site])
                for hn in s.site_hosts[site]:
                    ip = s.ip[hn]
                    h = self.addHost(hn, ip="%s/24" % ip,
                                     mac=mac_for_ip(ip))
                    self.addLink(h, sw)
    return SteeredTopo()


class SteeredSites(Site):
    """Two sites under one cats-controller that steers each new
    connection to an instance and a path (the module's comment, steered
    topology)."""

    NET = "10.233.0"
    VIP = NET + ".100"
    SERVICE = "web"
    SERVICE_PORT = 80

    def __init__(self, workdir, paths=DEFAULT_PATHS, n_clients=2,
                 n_remote=2, name="gw", build_dir=BUILD, mem_mb=1024,
                 report_ms=100, lease_ms=1000, service_time="fixed:5",
                 local_speed=4.0, controller_args=(), log_level="warning",
                 instance_opts=None):
        if not re.fullmatch(r"[a-z]{1,3}", name):
            raise ValueError("name: 1 to 3 letters (host and bridge names)")
        if not 2 <= len(paths) <= 9 or not 1 <= n_clients <= 9 \
                or not 2 <= n_remote <= 9:
            raise ValueError("2 to 9 paths, 1 to 9 clients, 2 to 9 remote "
                             "instances")
        Site.__init__(self, ["cats%sa" % name, "cats%sb" % name],
                      log_level=log_level)
        self.workdir = os.path.abspath(workdir)
        self.paths = list(paths)
        self.name = name
        self.build = os.path.abspath(build_dir)
        self.mem_mb = mem_mb
        self.report_ms = report_ms
        self.lease_ms = lease_ms
        self.service_time = service_time
        self.local_speed = local_speed
        self.controller_args = list(controller_args)
        # {host: (slots, speed)}: the others get 16 slots, local_speed
        # (local) or 1.
        self.instance_opts = dict(instance_opts or {})
        self.vip = self.VIP
        self.service_port = self.SERVICE_PORT
        self.bridge_of = {"a": self.bridges[0], "b": self.bridges[1]}
        self.dpid = dict((site, "00000000ca75%02x%02x"
                          % (0x70 + len(name), 0xa + i))
                         for i, site in enumerate("ab"))
        self.site_name = {"a": "sitea", "b": "siteb"}
        self.clients = ["%sc%d" % (name, i) for i in range(1, n_clients + 1)]
        self.local = ["%sl1" % name]
        self.remote = ["%sr%d" % (name, i) for i in range(1, n_remote + 1)]
        self.site_hosts = {"a": self.clients + self.local, "b": self.remote}
        self.ip = {}
        for i, h in enumerate(self.clients):
            self.ip[h] = "%s.%d" % (self.NET, 1 + i)
        self.ip[self.local[0]] = "%s.11" % self.NET
        for i, h in enumerate(self.remote):
            self.ip[h] = "%s.%d" % (self.NET, 21 + i)
        self.tag = "%s%d" % (name, os.getpid() % 10000)
        self.ports = {}                 # path k -> {"a": ofport, "b": ..}
        self.gws = {}                   # path k -> Gateway
        self.ctl = None
        self.wl = None

    # -- names ---------------------------------------------------------------
    def path_name(self, k):
        return "path%d" % k

    def link_ids(self, k):
        """What path k's gateway reports: (A->B, B->A)."""
        return ("path%d-a:path%d-b" % (k, k), "path%d-b:path%d-a" % (k, k))

    def path_if(self, k, site):
        """Path k's veth end on site's bridge."""
        return "%sp%d%s" % (self.tag, k, site)

    def gw_if(self, k, site):
        """Path k's veth end that the gateway holds toward site."""
        return "%sg%d%s" % (self.tag, k, site)

    def instances(self):
        return self.local + self.remote

    def site_of(self, host):
        return "b" if host in self.remote else "a"

    # -- lifecycle -----------------------------------------------------------
    def setup(self):
        import cats_workload as cw
        # OpenFlow 1.0 too: OFPPC_NO_FLOOD can only be set through it
        # (OpenFlow 1.1 and later dropped the bit; OVS masks it away).
        self.make_net(_make_steered_topo(self),
                      protocols="OpenFlow10,OpenFlow15", failMode="secure",
                      reconnectms=1000)
        for site, br in self.bridge_of.items():
            got = sh("ovs-vsctl", "--timeout=10", "get", "Bridge", br,
                     "datapath_id").strip().strip('"')
            if got != self.dpid[site]:
                raise RuntimeError("%s: datapath_id %s, not %s"
                                   % (br, got, self.dpid[site]))
        for k in range(1, len(self.paths) + 1):
            self._make_path(k)
        self._neighbours()
        self.ctl = CatsController(
            os.path.join(self.build, "cats-controller"), self.workdir,
            self.catalog(),
            extra_args=cw.grpc_args(self.workdir, self.report_ms,
                                    self.lease_ms) + self.controller_args)
        self.on_stop(self.ctl.cleanup)
        self.ctl.start()
        grpc = "unix:" + cw.grpc_sock(self.workdir)
        ncpu = os.cpu_count() or 1
        opts = ",watchdog=%dms,restore=%dms" % (STEERED_WATCHDOG_MS,
                                                STEERED_RESTORE_MS)
        for k, spec in enumerate(self.paths, 1):
            gw = Gateway(os.path.join(self.build, "cats-gw"), self.workdir,
                         k, spec, (self.gw_if(k, "a"), self.gw_if(k, "b")),
                         "cats-%s-p%d" % (self.tag, k), controller=grpc,
                         mem_mb=self.mem_mb, lcore=(k - 1) % ncpu,
                         port_opts=opts,
                         report_interval="%dms" % self.report_ms)
            self.gws[k] = gw
            self.on_stop(gw.stop)
            gw.start()
        deadline = time.monotonic() + 30
        for gw in self.gws.values():
            gw.wait_forwarding(deadline)
        for br in self.bridges:
            self.set_controller(self.ctl.target, bridge=br)
        self.ctl.appctl("cats/sync", timeout=30)
        for br in self.bridges:
            # As CatsSite.apply_max_backoff(): a reconfiguration applies
            # the Controller row's max_backoff to the live connection.
            sh("ovs-vsctl", "--timeout=10", "set", "Controller", br,
               "other_config:cats-reconfigured=true")
        self.wl = cw.Workload(self, self.workdir, self.build,
                              service=self.SERVICE,
                              interval_ms=self.report_ms)
        self.on_stop(self.wl.stop)
        for h in self.instances():
            slots, speed = self.instance_opts.get(
                h, (16, self.local_speed if h in self.local else 1.0))
            self.wl.start_instance(self.host(h), self.ip[h], slots=slots,
                                   speed=speed,
                                   service_time=self.service_time)

    def _make_path(self, k):
        """Bridge A port <-> veth <-> cats-gw (started later) <-> veth <->
        bridge B port; the bridges' ports never flooded."""
        self.ports[k] = {}
        for site in "ab":
            br_end, gw_end = self.path_if(k, site), self.gw_if(k, site)
            sh("ip", "link", "add", br_end, "type", "veth", "peer", "name",
               gw_end)
            self.veths += [br_end, gw_end]
            for name in (br_end, gw_end):
                sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % name,
                   check=False)
                # af_packet and OVS see frames as the sender's kernel left
                # them: checksums must be complete.
                sh("ethtool", "-K", name, "tx", "off", check=False)
                sh("ip", "link", "set", name, "up")
            br = self.bridge_of[site]
            sh("ovs-vsctl", "--timeout=10", "add-port", br, br_end)
            port = int(sh("ovs-vsctl", "--timeout=10", "get", "Interface",
                          br_end, "ofport").strip())
            if port <= 0:
                raise RuntimeError("%s on %s: ofport %d" % (br_end, br, port))
            sh("ovs-ofctl", "-O", "OpenFlow10", "mod-port", br, br_end,
               "no-flood")
            self.ports[k][site] = port

    def _neighbours(self):
        """The instances know the clients' MACs (no ARP crosses a path);
        they answer in the class they were asked in (tcp_reflect_tos)."""
        for h in self.instances():
            node = self.host(h)
            intf = node.defaultIntf()
            for c in self.clients:
                node.cmd("ip neigh replace %s lladdr %s dev %s nud permanent"
                         % (self.ip[c], mac_for_ip(self.ip[c]), intf))
            node.cmd("sysctl -qw net.ipv4.tcp_reflect_tos=1")

    # -- the catalog ---------------------------------------------------------
    def catalog(self):
        sa, sb = self.site_name["a"], self.site_name["b"]
        lines = ["# gw_sites.py (steered): two sites, %d paths"
                 % len(self.paths),
                 "site %s dpid=%s" % (sa, self.dpid["a"]),
                 "site %s dpid=%s" % (sb, self.dpid["b"])]
        for k, spec in enumerate(self.paths, 1):
            lines.append("path %s %s:%d %s:%d link=%s delay_ms=%d"
                         % (self.path_name(k), sa, self.ports[k]["a"], sb,
                            self.ports[k]["b"], ",".join(self.link_ids(k)),
                            round(spec.delay_ms)))
        lines.append("service %s vip=%s port=%d proto=tcp"
                     % (self.SERVICE, self.VIP, self.SERVICE_PORT))
        for h in self.instances():
            lines.append("instance %s %s:%d weight=100 mac=%s site=%s"
                         % (self.SERVICE, self.ip[h], self.SERVICE_PORT,
                            mac_for_ip(self.ip[h]),
                            self.site_name[self.site_of(h)]))
        return "\n".join(lines) + "\n"

    # -- what happens --------------------------------------------------------
    def conntrack(self):
        """The connections to the VIP, as site A's conntrack holds them
        (parse_conntrack())."""
        return parse_conntrack(sh("ovs-appctl", "dpctl/dump-conntrack",
                                  timeout=20), vip=self.VIP)

    def conn_paths(self):
        """{(client IP, client port): path id (0: local) of the
        connection to the VIP}."""
        return dict(((c["src"], c["sport"]), c["path"])
                    for c in self.conntrack() if c["proto"] == "tcp")

    def paths_text(self):
        return self.ctl.appctl("cats/paths", check=False, timeout=5)

    def path_states(self):
        return parse_paths(self.paths_text())

    def gw_counts(self, k):
        """Path k's gateway: {port: {"rx_packets", "tx_packets", ...}};
        port 0 faces site A."""
        st = self.gws[k].telemetry("/cats_gw/stats,0", "/cats_gw/stats,1")
        return {0: st[0], 1: st[1]}

    def exchanges(self, client, interval=0.05, timeout=10.0, tos=0x68):
        """cats_exchange.py in 'client' toward the VIP (Exchanges)."""
        p = self.popen(client, [PYTHON, os.path.join(TOPO_DIR,
                                                     "cats_exchange.py"),
                                self.VIP, str(self.SERVICE_PORT),
                                "--interval", str(interval),
                                "--timeout", str(timeout),
                                "--tos", str(tos)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
        return Exchanges(self, p)

    def _root(self, script, *args):
        p = subprocess.Popen([PYTHON, "-c", script] + [str(a) for a in args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.on_stop(lambda: kill_pid(p.pid))
        return p

    @staticmethod
    def _first_line(p, tag, what, secs):
        """The time on a _root() sender's first line, "TAG TIME"; the
        sender may run 'secs' (and 20 s more) before it is killed."""
        line = p.stdout.readline().split()
        if len(line) != 2 or line[0] != tag:
            raise RuntimeError("%s did not start: %r %s"
                               % (what, line, p.stderr.read()[-300:]))
        p.limit = secs + 20
        return float(line[1])

    def flood_start(self, k, dst, secs=1.5, factor=2.5,
                    dscp=LOSSLESS_DSCP):
        """ECT(0) UDP with 'dscp' into path k's gateway from site A's
        side (injected on bridge A's path port veth, so that it loads the
        path, not bridge A) toward host dst at site B, 'factor' times the
        path's rate.  Returns the sender (flood_wait()); its start time
        is p.started (time.monotonic())."""
        pps = factor * self.paths[k - 1].rate_bps / (1042 * 8)
        ip = self.ip[dst]
        p = self._root(INJECTOR, self.path_if(k, "a"), mac_for_ip(ip),
                       FLOOD_SRC_MAC, FLOOD_SRC_IP, ip, "%.0f" % pps, secs,
                       dscp)
        p.started = self._first_line(p, "start", "flood", secs)
        return p

    def flood_wait(self, p):
        """(sent, send errors) of a flood_start() sender."""
        out, err = self.communicate(p, p.limit)
        try:
            sent, errors = map(int, out.split())
        except ValueError:
            raise RuntimeError("flood: %r %r" % (out, err))
        return sent, errors

    def storm_start(self, k, secs=2.0, gap=0.01):
        """A pause storm into path k's gateway from site B's side
        (priority 3 PFC frames on bridge B's path port veth): class 3
        toward site B stops, and past the watchdog the gateway declares
        the storm.  Returns the sender with p.first (time.monotonic() of
        the first frame); storm_wait() gives the last frame's time."""
        p = self._root(PAUSER, self.path_if(k, "b"), secs, gap)
        p.first = self._first_line(p, "first", "pauser", secs)
        return p

    def storm_wait(self, p):
        """(time of the last pause frame, frames sent)."""
        out, err = self.communicate(p, p.limit)
        w = out.split()
        if len(w) != 3 or w[0] != "last":
            raise RuntimeError("pauser: %r %r" % (out, err))
        return float(w[1]), int(w[2])

    def kill_gateway(self, k):
        """SIGKILL path k's gateway (the path goes dark both ways)."""
        gw = self.gws[k]
        if gw.proc and gw.proc.poll() is None:
            gw.proc.kill()
            gw.proc.wait(timeout=10)

    def describe(self):
        lines = []
        for site in "ab":
            lines.append("site %s (%s): bridge %s dpid %s, hosts %s"
                         % (site.upper(), self.site_name[site],
                            self.bridge_of[site], self.dpid[site],
                            ", ".join("%s %s" % (h, self.ip[h])
                                      for h in self.site_hosts[site])))
        for k, spec in enumerate(self.paths, 1):
            lines.append("path %d (%s): %g ms each way, %s b/s; port %d on "
                         "%s, port %d on %s; cats-gw %s"
                         % (k, self.path_name(k), spec.delay_ms, spec.rate,
                            self.ports[k]["a"], self.bridge_of["a"],
                            self.ports[k]["b"], self.bridge_of["b"],
                            self.gws[k].prefix if k in self.gws else "-"))
        lines.append("service %s %s:%d" % (self.SERVICE, self.VIP,
                                           self.SERVICE_PORT))
        if self.ctl:
            lines.append("controller: unixctl %s, log %s, catalog %s"
                         % (self.ctl.unixctl, self.ctl.logfile,
                            self.ctl.config))
        return "\n".join(lines)


# -- the script --------------------------------------------------------------
def make_cli(s):
    from mininet.cli import CLI

    class GwCLI(CLI):
        prompt = "gw-sites> "

        def do_paths(self, line):
            "paths: each path's delay, rate and gateway counters"
            print(s.summary())

        def do_telemetry(self, line):
            "telemetry: the controller's cats/telemetry"
            print(s.controller_text(), end="")

        def do_gw(self, line):
            "gw P CMD: dpdk-telemetry.py command on path P's gateway"
            a = line.split()
            try:
                print(json.dumps(s.gws[int(a[0])].telemetry(a[1])[0],
                                 indent=1))
            except (IndexError, ValueError, KeyError, RuntimeError) as e:
                print("usage: gw P /cats_gw/... (%s)" % e)

        def do_pingpath(self, line):
            "pingpath SRC DST P [N]: ping DST's path-P address from SRC"
            a = line.split()
            try:
                r = s.ping(a[0], a[1], int(a[2]),
                           count=int(a[3]) if len(a) > 3 else 5,
                           interval=0.2)
            except (IndexError, ValueError, KeyError) as e:
                print("usage: pingpath SRC DST P [N] (%s)" % e)
                return
            print("%d/%d received, rtt min/avg/max %s/%s/%s ms"
                  % (r["received"], r["sent"], r["min"], r["avg"],
                     r["max"]))

        def do_flood(self, line):
            "flood SRC DST P [SECS]: ECT(0) DSCP 26 UDP at 4x path P's rate"
            a = line.split()
            try:
                r = s.flood(a[0], a[1], int(a[2]),
                            secs=float(a[3]) if len(a) > 3 else 1.5)
            except (IndexError, ValueError, KeyError, RuntimeError) as e:
                print("usage: flood SRC DST P [SECS] (%s)" % e)
                return
            print(json.dumps(r))

        def do_iperf(self, line):
            print("disabled: Mininet's iperf runs `killall iperf`")

        do_iperfudp = do_iperf

    return GwCLI


def scripted(s):
    """--scripted: returns the exit status."""
    ok = True
    a, b = s.host_names("a")[0], s.host_names("b")[0]
    for i, spec in enumerate(s.paths, 1):
        r = s.ping(a, b, i)
        want = 2 * spec.delay_ms
        good = r["min"] is not None and want <= r["min"] < want + 5
        ok &= good
        print("ping %s -> %s over path %d: %d/%d, rtt min/avg/max %s/%s/%s "
              "ms (configured 2 x %g ms) %s"
              % (a, s.addr(b, i), i, r["received"], r["sent"], r["min"],
                 r["avg"], r["max"], spec.delay_ms, "ok" if good else "BAD"))
    f = s.flood(a, b, 1)
    print("flood path 1 (4x %s b/s, 1.5 s): sent %d, received %d, %d CE, "
          "%.1f Mb/s" % (s.paths[0].rate, f["sent"], f["packets"], f["ce"],
                         f["ip_bps"] / 1e6))
    print(s.summary())
    c1, c2 = s.class_stats(1, 0), [s.class_stats(i, p)
                                   for i in range(2, len(s.paths) + 1)
                                   for p in (0, 1)]
    good = (c1["ecn_marked"] > 0 and c1["pause_tx"] > 0 and f["ce"] > 0
            and all(c["ecn_marked"] == 0 and c["pause_tx"] == 0
                    for c in c2))
    ok &= good
    print("path 1 marked and paused, the others not: %s"
          % ("ok" if good else "BAD"))
    if s.ctl:
        deadline = time.monotonic() + 5
        while True:
            links = s.controller_links()
            l1 = links.get("gw-path1", {}).get("path1-a:path1-b", {})
            good = (l1.get("ecn_marked", 0) > 0
                    and all("gw-path%d" % i in links
                            for i in range(1, len(s.paths) + 1)))
            if good or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        print(s.controller_text(), end="")
        ok &= good
        print("controller has every path, path 1 marked: %s"
              % ("ok" if good else "BAD"))
    print("scripted check: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def make_steered_cli(s):
    from mininet.cli import CLI

    class SteeredCLI(CLI):
        prompt = "gw-sites> "

        def do_cats(self, line):
            "cats CMD [ARGS]: ovs-appctl to the controller (cats/paths..)"
            print(s.ctl.appctl(*line.split(), check=False), end="")

        def do_paths(self, line):
            "paths: the controller's cats/paths"
            print(s.paths_text(), end="")

        def do_conns(self, line):
            "conns: each connection to the VIP and the path it committed"
            for c in s.conntrack():
                print("%s %s:%d -> %s:%d path %d" % (
                    c["proto"], c["src"], c["sport"], c["dst"], c["dport"],
                    c["path"]))

        def do_gw(self, line):
            "gw P CMD: dpdk-telemetry.py command on path P's gateway"
            a = line.split()
            try:
                print(json.dumps(s.gws[int(a[0])].telemetry(a[1])[0],
                                 indent=1))
            except (IndexError, ValueError, KeyError, RuntimeError) as e:
                print("usage: gw P /cats_gw/... (%s)" % e)

        def do_flood(self, line):
            "flood P [SECS [FACTOR]]: DSCP 26 UDP into path P toward site B"
            a = line.split()
            try:
                p = s.flood_start(int(a[0]), s.remote[-1],
                                  secs=float(a[1]) if len(a) > 1 else 3,
                                  factor=float(a[2]) if len(a) > 2 else 2.5)
                print("sent %d (%d errors)" % s.flood_wait(p))
            except (IndexError, ValueError, KeyError, RuntimeError) as e:
                print("usage: flood P [SECS [FACTOR]] (%s)" % e)

        def do_storm(self, line):
            "storm P [SECS]: priority 3 pause storm into path P from site B"
            a = line.split()
            try:
                p = s.storm_start(int(a[0]),
                                  secs=float(a[1]) if len(a) > 1 else 2)
                print("last frame at %.3f, %d frames" % s.storm_wait(p))
            except (IndexError, ValueError, KeyError, RuntimeError) as e:
                print("usage: storm P [SECS] (%s)" % e)

        def do_iperf(self, line):
            print("disabled: Mininet's iperf runs `killall iperf`")

        do_iperfudp = do_iperf

    return SteeredCLI


def steered_scripted(s, n=12):
    """--scripted (steered): n long-lived connections from the first
    client; each one's instance and path.  0 if all of them answer."""
    ex = s.exchanges(s.clients[0])
    ex.open(n, 0.1)
    time.sleep(0.1 * n + 2)
    rep = ex.report()
    paths = s.conn_paths()
    ok = True
    for c in rep["conns"]:
        k = paths.get((s.ip[s.clients[0]], c["sport"]))
        ok &= c["state"] == "up" and c["replies"] > 0
        print("connection %d (port %s): %s, instance %s, path %s, %d "
              "replies, longest %.1f ms" % (c["id"], c["sport"], c["state"],
                                           c["instance"], k, c["replies"],
                                           c["max_ms"]))
    ex.stop()
    print(s.paths_text(), end="")
    print("scripted check: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


def gw_preflight(build):
    why = preflight(build, ("cats-gw", "cats-controller"))
    if not why and not shutil.which("dpdk-telemetry.py"):
        why = "DPDK is not installed (make deps)"
    return why


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build-dir", default=BUILD)
    ap.add_argument("--scripted", action="store_true",
                    help="start, run the checks above, stop")
    ap.add_argument("--routed", action="store_true",
                    help="the unsteered topology: routers, path by "
                    "destination address")
    ap.add_argument("--path", action="append", default=[],
                    metavar="DELAY_MS,RATE",
                    help="a path (repeat; default 2ms,20M and 5ms,50M)")
    ap.add_argument("--hosts", type=int, default=2,
                    help="hosts per site (--routed), clients and remote "
                    "instances (steered) (default %(default)s)")
    ap.add_argument("--name", default="gw",
                    help="1-3 letters: bridges catsNAMEa/b, hosts NAMEa1.. "
                    "(default %(default)s)")
    ap.add_argument("--mem", type=int, default=1024,
                    help="EAL -m per gateway, MB (default %(default)s)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs, sockets)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    try:
        paths = [PathSpec.parse(p) for p in args.path] or DEFAULT_PATHS
    except ValueError as e:
        ap.error(str(e))
    why = gw_preflight(os.path.abspath(args.build_dir))
    if why:
        ap.error(why)
    workdir = tempfile.mkdtemp(prefix="cats-gw-sites-")
    level = "info" if args.verbose else "warning"
    try:
        if args.routed:
            topo = GwSites(workdir, paths=paths, n_hosts=args.hosts,
                           name=args.name, build_dir=args.build_dir,
                           mem_mb=args.mem, log_level=level)
        else:
            topo = SteeredSites(workdir, paths=paths, n_clients=args.hosts,
                                n_remote=args.hosts, name=args.name,
                                build_dir=args.build_dir, mem_mb=args.mem,
                                log_level=level)
        with topo as s:
            print(s.describe())
            if args.scripted:
                return scripted(s) if args.routed else steered_scripted(s)
            (make_cli(s) if args.routed else make_steered_cli(s))(s.net)
            return 0
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:
        return e.code
    finally:
        if args.keep:
            print("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""The four ways of reaching the service that `make bench-steer` compares.

Each way has the same life cycle, driven by tests/bench/steer.py:

    way.setup()      once, before any measurement (daemons, databases)
    way.enter()      make VIP:PORT on the client reach the instances this way
    way.leave()      undo enter(): the bridge is bare again
    way.teardown()   once, idempotent, also after a failed setup()
    way.pids()       {label: pid} of the processes that are this way's cost

The topology is tests/bench/steer_topo.py's SteerSite: client host stc1
runs the load, stp1 is the proxy host, instances sti1..stiN run cats-serve,
all on one netdev bridge of a private ovs-vswitchd (OVS_RUNDIR points every
ovs-* command of the process at it).

  ours     cats-controller on the bridge, a cats-agent on each instance
           host fed by cats-serve's reports; weights follow load.
  ovn      ovn-northd, NB/SB databases and an ovn-controller on the same
           private OVS, whose integration bridge gets the very same veths
           for the run; an OVN load balancer on the logical switch, the
           instances' own ports kept out of conntrack by allow-stateless
           ACLs (OvnWay.stateless_backends(): OVS 3.1.0 crashes otherwise).
  haproxy  HAProxy (mode tcp, balance leastconn) on C2, which holds the VIP
           address for the run; the bridge is a plain L2 switch.
  ecmp     topologies/ofctl_pipeline.py's static pipeline: the same
           conntrack/NAT pipeline as ours, equal weights, never changed.

Everything is removed by PID and by name; nothing here kills by a broad
process name or touches the machine's own OVS.
"""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, os.pardir, "topologies"))

from cats_ctl import CatsController  # noqa: E402
from cats_site import kill_pid, mac_for_ip, sh, wait_until  # noqa: E402
from ofctl_pipeline import StaticPipeline, LEARN_COOKIE  # noqa: E402

OFCTL = ["ovs-ofctl", "-O", "OpenFlow15"]
SERVICE = "web"
DPCTL_DP = "netdev@ovs-netdev"


def vsctl(*args, check=True):
    return sh(*["ovs-vsctl", "--timeout=20"] + list(args), check=check)


def host_cmd(host, cmd):
    """A short command in a Mininet host's namespace; returns its output."""
    return host.cmd(cmd)


def flush_zone(zone):
    sh(*["ovs-appctl", "dpctl/flush-conntrack", DPCTL_DP, "zone=%d" % zone],
       check=False)


def bare_bridge(site, zone):
    """No controller, no flows, no groups, our conntrack zone empty."""
    sh(*["ovs-vsctl", "--timeout=20", "del-controller", site.bridge],
       check=False)
    sh(*OFCTL, *["del-flows", site.bridge])
    sh(*OFCTL, *["del-groups", site.bridge])
    flush_zone(zone)


def l2_switch(site):
    """The bridge as a plain L2 switch."""
    sh(*OFCTL, *["add-flow", site.bridge, "priority=0,actions=NORMAL"])


class Way:
    name = "?"
    label = "?"

    def __init__(self, bench):
        self.b = bench          # the orchestrator: site, workdir, options

    def setup(self):
        pass

    def enter(self):
        pass

    def leave(self):
        pass

    def teardown(self):
        pass

    def pids(self):
        return {}


# -- 1. ours ----------------------------------------------------------------
class OursWay(Way):
    """cats-controller + cats-agent per instance host, started afresh for
    each run and stopped after it, as the other ways are: every run starts
    from the same state.  (Kept running across runs, the controller learned
    the instances' service times from the other ways' runs too, where the
    slow instances are overloaded and their latencies are in seconds; the
    next run of ours then began with a wrong picture.)"""
    name = "ours"
    label = "ovs-cats"

    def __init__(self, bench):
        Way.__init__(self, bench)
        self.ctl = None
        self.agents = {}          # host name -> Popen
        self.grpc_sock = os.path.join(bench.workdir, "grpc.sock")

    def config_text(self):
        b = self.b
        lines = ["# tests/bench/steer.py",
                 "service %s vip=%s port=%d proto=tcp decide=%s"
                 % (SERVICE, b.site.vip, b.port, b.opts.decide)]
        for ip in b.site.instance_ips:
            # No mac=: the controller learns the MACs by ARP, as in its
            # README.
            lines.append("instance %s %s:%d weight=100"
                         % (SERVICE, ip, b.port))
        return "\n".join(lines) + "\n"

    def setup(self):
        """Once: a start and a stop, so that a broken build fails before
        any measurement."""
        self.start()
        self.stop()

    def start(self):
        """The controller, then the agents; returns once every agent is
        registered."""
        b = self.b
        args = ["--grpc-listen=unix:" + self.grpc_sock,
                "--agent-report-interval=%d" % b.opts.interval,
                "--zone=%d" % b.zone]
        if b.opts.pick_wait_factor:
            args.append("--pick-wait-factor=%g" % b.opts.pick_wait_factor)
        # The switch socket in the private OVS's run directory: vswitchd
        # connects to unix: controllers only there.
        self.ctl = CatsController(
            b.controller_bin, b.workdir, self.config_text(),
            listen="punix:" + os.path.join(b.site.ovsdir, "cats-steer.sock"),
            extra_args=args)
        self.ctl.start()
        for h, ip in zip(b.site.instances, b.site.instance_ips):
            argv = [b.agent_bin, "--controller=unix:" + self.grpc_sock,
                    "--node-id=" + h.name,
                    "--instance=%s,%s:%d,capacity=%d"
                    % (SERVICE, ip, b.port, b.opts.slots),
                    "--app-socket=" + b.app_socket(h.name),
                    "--interval=%d" % b.opts.interval,
                    "--unixctl=" + os.path.join(b.workdir,
                                                "agent-%s.ctl" % h.name),
                    "--log-file=" + os.path.join(b.workdir,
                                                 "agent-%s.log" % h.name),
                    "-vconsole:off"]
            self.agents[h.name] = b.site.popen(h, argv,
                                               stdout=subprocess.DEVNULL)
        names = set(self.agents)
        took = wait_until(lambda: self.registered() == names, 20)
        if took is None:
            raise RuntimeError("agents not registered: %s (controller log: "
                               "%s)" % (self.registered(),
                                        self.ctl.log_tail(20)))

    def stop(self):
        for name, p in list(self.agents.items()):
            kill_pid(p.pid)
            self.b.site.forget(p)
        self.agents = {}
        if self.ctl is not None:
            self.ctl.cleanup()
            self.ctl = None

    def registered(self):
        out = self.ctl.appctl("cats/agents", check=False)
        return set(re.findall(r"^node (\S+) ", out, re.M))

    def enter(self):
        b = self.b
        bare_bridge(b.site, b.zone)
        self.start()
        b.site.set_controller(self.ctl.target)
        self.ctl.appctl("cats/sync", 30000, timeout=40)

    def leave(self):
        self.stop()
        bare_bridge(self.b.site, self.b.zone)

    def weights(self):
        """The weights in use, as the controller shows them."""
        if self.ctl is None:
            return ""
        return self.ctl.appctl("cats/services", check=False)

    def teardown(self):
        self.stop()

    def pids(self):
        d = {}
        if self.ctl is not None and self.ctl.pid():
            d["cats-controller"] = self.ctl.pid()
        for name, p in self.agents.items():
            d["cats-agent:" + name] = p.pid
        return d


# -- 4. ecmp ----------------------------------------------------------------
class EcmpWay(Way):
    """The static ofctl pipeline with equal weights."""
    name = "ecmp"
    label = "OVS select (ECMP)"

    def enter(self):
        b = self.b
        bare_bridge(b.site, b.zone)
        self.pipe = StaticPipeline(
            b.site.bridge, b.site.vip, b.port,
            [[ip, b.port, w] for ip, w in zip(b.site.instance_ips,
                                              self.weights())],
            zone=b.zone)
        self.pipe.install()
        want = set(b.site.instance_ips)

        def learned():
            out = sh(*OFCTL, *["dump-flows", b.site.bridge,
                              "table=3,cookie=%s/-1" % LEARN_COOKIE])
            return want <= set(re.findall(r"nw_dst=([\d.]+)", out))
        if wait_until(learned, 5, step=0.05) is None:
            self.pipe.probe()
            if wait_until(learned, 5, step=0.05) is None:
                raise RuntimeError("ecmp: instance MACs never learned")

    def weights(self):
        return [100] * len(self.b.site.instance_ips)

    def leave(self):
        bare_bridge(self.b.site, self.b.zone)


class OracleWay(EcmpWay):
    """Not one of the four: the same static pipeline with weights in
    proportion to each instance's true capacity (slots / speed), which
    nobody in the comparison is told.  The best that any fixed split of
    new connections by a select group can do: a yardstick for how much of
    the gap to a least-connections proxy a weighted dataplane can close
    at all (STEER_WAYS=...,oracle)."""
    name = "oracle"
    label = "select, true weights"

    def weights(self):
        return [int(round(1000.0 / s)) for s in self.b.opts.speeds]


# -- 3. haproxy -------------------------------------------------------------
HAPROXY_CFG = """\
# written by tests/bench/steer.py
global
    maxconn 9000
    pidfile {pidfile}

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    # Connections end with a reset on both legs, as cats-load ends its
    # own (--close=rst): no TIME_WAIT on the proxy, same pattern as the
    # direct ways.
    option nolinger

frontend steer
    bind {vip}:{port}
    default_backend instances

backend instances
    balance leastconn
{servers}
"""


class HaproxyWay(Way):
    """HAProxy on the proxy host C2, which takes the VIP address for the
    run; one new backend connection per client connection."""
    name = "haproxy"
    label = "HAProxy leastconn"

    def __init__(self, bench):
        Way.__init__(self, bench)
        self.proc = None
        self.cfg = os.path.join(bench.workdir, "haproxy.cfg")
        self.pidfile = os.path.join(bench.workdir, "haproxy.pid")

    @property
    def host(self):
        return self.b.site.clients[1]

    def setup(self):
        b = self.b
        servers = "\n".join("    server %s %s:%d" % (h.name, ip, b.port)
                            for h, ip in zip(b.site.instances,
                                             b.site.instance_ips))
        with open(self.cfg, "w") as f:
            f.write(HAPROXY_CFG.format(pidfile=self.pidfile, vip=b.site.vip,
                                       port=b.port, servers=servers))
        out = sh(*["haproxy", "-c", "-f", self.cfg], check=False)
        if "valid" not in out:
            raise RuntimeError("haproxy rejects its configuration: %s" % out)

    def intf(self):
        return self.host.defaultIntf().name

    def enter(self):
        b = self.b
        bare_bridge(b.site, b.zone)
        l2_switch(b.site)
        host_cmd(self.host, "ip addr add %s/32 dev %s"
                 % (b.site.vip, self.intf()))
        self.proc = b.site.popen(self.host, ["haproxy", "-db", "-f",
                                             self.cfg],
                                 stdout=open(os.path.join(
                                     b.workdir, "haproxy.log"), "a"))
        ok = wait_until(lambda: ":%d " % b.port in host_cmd(
            self.host, "ss -ltnH"), 10)
        if ok is None:
            raise RuntimeError("haproxy is not listening")

    def leave(self):
        b = self.b
        if self.proc is not None:
            kill_pid(self.proc.pid)
            b.site.forget(self.proc)
            self.proc = None
        host_cmd(self.host, "ip addr del %s/32 dev %s 2>/dev/null"
                 % (b.site.vip, self.intf()))
        bare_bridge(b.site, b.zone)

    def teardown(self):
        if self.proc is not None:
            kill_pid(self.proc.pid)
            self.proc = None

    def pids(self):
        if self.proc is None:
            return {}
        # haproxy -db is one process (with its threads).
        return {"haproxy": self.proc.pid}


def _die_with_parent():
    """prctl(PR_SET_PDEATHSIG, SIGTERM) in the child."""
    import ctypes
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


# -- 2. ovn -----------------------------------------------------------------
OVN_SCHEMAS = "/usr/share/ovn"


class OvnWay(Way):
    """OVN in the scratch directory: NB and SB ovsdb-servers, ovn-northd,
    and one ovn-controller for the private ovs-vswitchd, with a chassis
    name of its own (-n: it reads external_ids:KEY-CHASSIS keys).  Its
    integration bridge is a second bridge of that vswitchd; the hosts'
    switch-side veths move onto it for the run and back (same ofport
    numbers) after."""
    name = "ovn"
    label = "OVN load balancer"

    def __init__(self, bench):
        Way.__init__(self, bench)
        self.dir = os.path.join(bench.workdir, "ovn")
        self.chassis = bench.ovn_chassis
        self.bridge = bench.ovn_bridge
        self.procs = {}          # name -> Popen
        self.ext_keys = []       # external_ids keys we set
        self.bridge_created = False
        self.ports = []          # [(switch-side veth, logical port name)]
        self.entered = False
        self.route_set = False

    # helpers
    def nbctl(self, *args, check=True):
        return sh(*["ovn-nbctl", "--db=unix:" + self.sock("nb"),
                   "--timeout=30"] + list(args), check=check)

    def sbctl(self, *args, check=True):
        return sh(*["ovn-sbctl", "--db=unix:" + self.sock("sb"),
                   "--timeout=30"] + list(args), check=check)

    def sock(self, db):
        return os.path.join(self.dir, "%s.sock" % db)

    def _start(self, name, argv, env=None):
        """In its own session (a Ctrl-C reaches only the orchestrator,
        which stops it in order), and terminated by the kernel should the
        orchestrator die without cleaning up."""
        log = open(os.path.join(self.dir, name + ".out"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True,
                             preexec_fn=_die_with_parent)
        log.close()
        self.procs[name] = p
        return p

    def _db(self, db, schema):
        path = os.path.join(self.dir, "%s.db" % db)
        sh(*["ovsdb-tool", "create", path,
            os.path.join(OVN_SCHEMAS, schema)])
        self._start("ovsdb-%s" % db, [
            "ovsdb-server", path, "--remote=punix:" + self.sock(db),
            "--unixctl=" + os.path.join(self.dir, "%s.ctl" % db),
            "--log-file=" + os.path.join(self.dir, "ovsdb-%s.log" % db),
            "--no-chdir", "-vconsole:off"])
        if wait_until(lambda: os.path.exists(self.sock(db)), 10) is None:
            raise RuntimeError("ovsdb-server for %s did not start" % db)

    def _ext(self, key, value):
        k = "%s-%s" % (key, self.chassis)
        self.ext_keys.append(k)
        vsctl("set", "Open_vSwitch", ".",
              'external_ids:%s="%s"' % (k, value))

    def setup(self):
        b = self.b
        os.makedirs(self.dir, exist_ok=True)
        self._db("nb", "ovn-nb.ovsschema")
        self._db("sb", "ovn-sb.ovsschema")
        self._start("ovn-northd", [
            "ovn-northd", "--ovnnb-db=unix:" + self.sock("nb"),
            "--ovnsb-db=unix:" + self.sock("sb"),
            "--unixctl=" + os.path.join(self.dir, "northd.ctl"),
            "--log-file=" + os.path.join(self.dir, "ovn-northd.log"),
            "--no-chdir", "-vconsole:off"])

        vsctl("--may-exist", "add-br", self.bridge, "--", "set", "Bridge",
              self.bridge, "datapath_type=netdev", "fail-mode=secure",
              "other-config:disable-in-band=true")
        self.bridge_created = True
        self._ext("ovn-remote", "unix:" + self.sock("sb"))
        self._ext("ovn-encap-type", "geneve")
        self._ext("ovn-encap-ip", "127.0.0.1")
        self._ext("ovn-bridge", self.bridge)
        self._ext("ovn-bridge-datapath-type", "netdev")
        env = dict(os.environ, OVN_RUNDIR=self.dir)
        # No --unixctl here: its socket is OVN_RUNDIR/ovn-controller.PID.ctl.
        self._start("ovn-controller", [
            "ovn-controller", "-n", self.chassis,
            "--log-file=" + os.path.join(self.dir, "ovn-controller.log"),
            "--no-chdir", "-vconsole:off",
            "unix:" + os.path.join(b.site.ovsdir, "db.sock")], env=env)

        # Logical topology: one switch with every host, one load balancer,
        # one router port so that the VIP has a next hop (nobody answers
        # ARP for an in-subnet VIP on a bare switch; ../shared/RECIPES.md).
        site = b.site
        ls, lr = "steer-ls", "steer-lr"
        self.nbctl("ls-add", ls)
        hosts = list(site.clients) + list(site.instances)
        for h in hosts:
            ip = h.IP()
            self.nbctl("lsp-add", ls, h.name, "--", "lsp-set-addresses",
                       h.name, "%s %s" % (mac_for_ip(ip), ip))
            self.ports.append((site.ports[h.name], h.name))
        backends = ",".join("%s:%d" % (ip, b.port)
                            for ip in site.instance_ips)
        self.nbctl("lb-add", "steer-lb", "%s:%d" % (site.vip, b.port),
                   backends, "tcp")
        self.nbctl("ls-lb-add", ls, "steer-lb")
        if not b.opts.ovn_stateful:
            self.stateless_backends([h.name for h in site.instances])
        self.nbctl("lr-add", lr)
        self.nbctl("lrp-add", lr, "steer-lrp", b.ovn_gw_mac,
                   "%s/%d" % (b.ovn_gw_ip, site.prefixlen))
        self.nbctl("lsp-add", ls, "steer-ls-rp", "--", "lsp-set-type",
                   "steer-ls-rp", "router", "--", "lsp-set-addresses",
                   "steer-ls-rp", "router", "--", "lsp-set-options",
                   "steer-ls-rp", "router-port=steer-lrp")
        if wait_until(lambda: self.chassis in self.sbctl(
                "--bare", "--columns=name", "list", "Chassis",
                check=False), 20) is None:
            raise RuntimeError("ovn-controller never registered its chassis "
                               "(log: %s)" % self.log_tail("ovn-controller"))
        self.nbctl("--wait=hv", "sync")

    def stateless_backends(self, lsps):
        """Keeps the instances' own ports out of conntrack: two
        allow-stateless ACLs on a port group of them, as OVN documents for
        traffic that needs no connection tracking on a switch with load
        balancers (ovn-nb(5), ACL action; ovn-northd skips pre-LB
        conntrack for it).

        Why: a switch with a load balancer is "stateful", and by default
        OVN commits every new connection in the zone of the port it
        leaves by (ls_out_acl "ip && !ct.est" -> ls_out_stateful
        ct_commit), which ovn-controller turns into ct(commit,nat(src))
        (an all-zero SNAT) when the datapath has ct_zero_snat.  OVS 3.1.0's
        userspace conntrack keeps such a connection as two entries in one
        hash chain, the connection and its reverse-NAT entry; a new SYN on
        the same 5-tuple while the old one is in TIME_WAIT (or expired and
        not yet swept) expires the connection, finds the reverse-NAT entry
        instead, and conn_update_state() asserts (conntrack.c:1063).  The
        client reuses its source ports within seconds (Linux picks the
        next port with small random steps and wraps after about 7,000
        connections; --close=rst leaves no TIME_WAIT on the client), so
        under this load ovs-vswitchd died in nearly every run
        (tests/bench/README.md).  Fixed upstream in OVS 3.1.3 (6753b108,
        "conntrack: Remove nat_conn introducing key directionality").

        With these ACLs the only conntrack left is the load balancer's
        DNAT in the client's port zone (and its un-DNAT of the replies on
        the way back), one zone as in the ovs-cats and ECMP pipelines."""
        self.nbctl("pg-add", "steer_backends", *lsps)
        self.nbctl("--type=port-group", "acl-add", "steer_backends",
                   "to-lport", "1001", "outport == @steer_backends && ip",
                   "allow-stateless")
        self.nbctl("--type=port-group", "acl-add", "steer_backends",
                   "from-lport", "1001", "inport == @steer_backends && ip",
                   "allow-stateless")

    def log_tail(self, name, n=10):
        try:
            with open(os.path.join(self.dir, name + ".log")) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def zones(self):
        """The conntrack zones ovn-controller gave the logical ports and
        datapaths (Bridge external_ids:ct-zone-*)."""
        out = vsctl("get", "Bridge", self.bridge, "external_ids",
                    check=False)
        return sorted(set(int(z) for z in re.findall(
            r'ct-zone-[^=]+="?(\d+)"?', out)))

    def flush_zones(self):
        """Empties OVN's zones, so that each run starts as the others do:
        no conntrack entries left from an earlier run (bare_bridge()
        does the same for ours and ECMP)."""
        for z in self.zones():
            flush_zone(z)

    def enter(self):
        b = self.b
        bare_bridge(b.site, b.zone)
        self.entered = True
        self.flush_zones()
        cmd = []
        for sw_intf, lsp in self.ports:
            cmd += ["--", "del-port", b.site.bridge, sw_intf,
                    "--", "add-port", self.bridge, sw_intf,
                    "--", "set", "Interface", sw_intf,
                    "external_ids:iface-id=%s" % lsp]
        vsctl(*cmd)
        lsps = [lsp for _, lsp in self.ports]

        def all_up():
            return all(self.nbctl("get", "Logical_Switch_Port", p, "up",
                                  check=False).strip() == "true"
                       for p in lsps)
        if wait_until(all_up, 20, step=0.2) is None:
            raise RuntimeError("OVN ports not up (log: %s)"
                               % self.log_tail("ovn-controller"))
        self.nbctl("--wait=hv", "sync")
        client = b.site.clients[0]
        host_cmd(client, "ip route replace %s/32 via %s"
                 % (b.site.vip, b.ovn_gw_ip))
        self.route_set = True

    def leave(self):
        b = self.b
        if self.route_set:
            host_cmd(b.site.clients[0], "ip route del %s/32 2>/dev/null"
                     % b.site.vip)
            self.route_set = False
        if not self.entered:
            return
        cmd = []
        for sw_intf, _lsp in self.ports:
            cmd += ["--", "--if-exists", "del-port", self.bridge, sw_intf,
                    "--", "--may-exist", "add-port", b.site.bridge, sw_intf,
                    "--", "set", "Interface", sw_intf,
                    "ofport_request=%d" % b.site.ofports[sw_intf]]
        vsctl(*cmd)
        for sw_intf, _lsp in self.ports:
            vsctl("remove", "Interface", sw_intf, "external_ids", "iface-id",
                  check=False)
            vsctl("remove", "Interface", sw_intf, "external_ids",
                  "ovn-installed", check=False)
            vsctl("remove", "Interface", sw_intf, "external_ids",
                  "ovn-installed-ts", check=False)
        self.entered = False
        self.flush_zones()
        bare_bridge(b.site, b.zone)

    def teardown(self):
        try:
            self.leave()
        except Exception as e:
            print("warning: ovn: moving ports back: %s" % e, file=sys.stderr)
        p = self.procs.get("ovn-controller")
        if p is not None and p.poll() is None:
            # 'exit' removes its chassis and the flows it owns.
            sh(*["ovs-appctl", "-t", os.path.join(
                self.dir, "ovn-controller.%d.ctl" % p.pid),
                "--timeout=10", "exit"], check=False, timeout=15)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for name in ("ovn-controller", "ovn-northd", "ovsdb-sb",
                     "ovsdb-nb"):
            p = self.procs.pop(name, None)
            if p is not None:
                kill_pid(p.pid)
        if self.bridge_created:
            vsctl("--if-exists", "del-br", self.bridge, check=False)
            self.bridge_created = False
        for k in self.ext_keys:
            vsctl("remove", "Open_vSwitch", ".", "external_ids", k,
                  check=False)
        self.ext_keys = []

    def pids(self):
        return {n: p.pid for n, p in self.procs.items()
                if n in ("ovn-controller", "ovn-northd")}


WAYS = {"ours": OursWay, "ovn": OvnWay, "haproxy": HaproxyWay,
        "ecmp": EcmpWay, "oracle": OracleWay}
ORDER = ["ours", "ovn", "haproxy", "ecmp"]

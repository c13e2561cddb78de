"""The topology of `make bench-steer`, on an Open vSwitch of its own.

    site = SteerSite(workdir, n_instances=4)
    site.start()          # private ovsdb-server + ovs-vswitchd, hosts, bridge
    ...
    site.stop()           # everything, by PID and by name

Why not the machine's ovs-vswitchd (topologies/cats_topo.py's CatsSite):
an OVN load balancer in OVN's default configuration makes OVS 3.1.0's
userspace conntrack abort under this workload (conntrack.c:1063,
tests/bench/README.md; steer_ways.py avoids it, STEER_OVN_STATEFUL=1
brings it back), and a crash of the machine's switch is a crash of
everybody's tests.  Here the switch is
Debian's same ovs-vswitchd binary, userspace datapath, run in a network
namespace of its own (one netdev vswitchd per namespace is possible,
../shared/DESIGN.md), with its database, sockets and logs in
WORKDIR/ovs.  The caller sets OVS_RUNDIR to that directory for the whole
process (set_ovs_env()), so that ovs-vsctl, ovs-ofctl and ovs-appctl,
here and in topologies/ofctl_pipeline.py, talk to it and never to the
machine's.  Nothing on the machine's OVS is touched.

Hosts are Mininet hosts (Mininet's Python API, /usr/bin/python3), linked to
a Mininet host "stsw" that is only a namespace for the switch: client
stc1 (the load), proxy host stp1, instances sti1..stiN, in SUBNET, with
the MACs and addresses CatsSite would give them, transmit checksum offload
off (TCP stalls through the userspace datapath otherwise) and IPv6 off.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, os.pardir, "topologies"))

from cats_site import Site, kill_pid, mac_for_ip, sh  # noqa: E402

VSWITCH_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


def set_ovs_env(rundir):
    """Every ovs-* command of this process and its children uses the
    private OVS in 'rundir'."""
    for var in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"):
        os.environ[var] = rundir


def _die_with_parent():
    """prctl(PR_SET_PDEATHSIG, SIGTERM) in the child: the kernel ends it if
    the orchestrator dies without cleaning up."""
    import ctypes
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class SteerSite(Site):
    """A cats_site.Site on a private Open vSwitch (no bridge of the
    machine's to delete on stop())."""

    def __init__(self, workdir, n_clients=2, n_instances=4,
                 subnet="10.206.0.0/24", bridge="catsteer", service_port=80,
                 client_base=1, instance_base=11, vip_host=100,
                 dpid="00000000ca750206"):
        import ipaddress
        Site.__init__(self, ovs=False)
        net = ipaddress.ip_network(subnet)
        self.workdir = workdir
        self.ovsdir = os.path.join(workdir, "ovs")
        self.prefixlen = net.prefixlen
        self.client_ips = [str(net[client_base + i]) for i in range(n_clients)]
        self.instance_ips = [str(net[instance_base + i])
                             for i in range(n_instances)]
        self.client_names = ["stc1", "stp1"] + ["stc%d" % (i + 1)
                                                for i in range(1,
                                                               n_clients - 1)]
        self.client_names = self.client_names[:n_clients]
        self.instance_names = ["sti%d" % (i + 1) for i in range(n_instances)]
        self.vip = str(net[vip_host])
        self.service_port = service_port
        self.bridge = bridge
        self.dpid = dpid
        self.sw = None
        self.clients = []
        self.instances = []
        self.ports = {}           # host name -> switch-side interface
        self.ofports = {}         # switch-side interface -> ofport
        self.ovsdb = None
        self.vswitchd = None
        self.vswitchd_starts = 0

    # -- lifecycle -----------------------------------------------------------
    def setup(self):
        from mininet.net import Mininet
        os.makedirs(self.ovsdir, exist_ok=True)
        if os.environ.get("OVS_RUNDIR") != self.ovsdir:
            raise RuntimeError("set_ovs_env(%s) first" % self.ovsdir)
        # Undone in reverse: ovs-vswitchd, then ovsdb-server.
        self.on_stop(lambda: kill_pid(self.ovsdb and self.ovsdb.pid))
        self.on_stop(lambda: kill_pid(self.vswitchd_pid()))
        self._start_ovsdb()

        self.net = Mininet(topo=None, build=False, controller=None,
                           autoSetMacs=False, autoStaticArp=False,
                           waitConnected=False)
        self.sw = self.net.addHost("stsw", ip=None)
        hosts = []
        for name, ip in zip(self.client_names + self.instance_names,
                            self.client_ips + self.instance_ips):
            h = self.net.addHost(name, ip="%s/%d" % (ip, self.prefixlen),
                                 mac=mac_for_ip(ip))
            link = self.net.addLink(h, self.sw)
            sw_intf = link.intf2 if link.intf1.node is h else link.intf1
            self.ports[name] = sw_intf.name
            hosts.append(h)
        self.net.build()
        self.net.start()
        self.clients = [self.net.get(n) for n in self.client_names]
        self.instances = [self.net.get(n) for n in self.instance_names]
        self.prepare_hosts(hosts)
        # The switch namespace has no addresses: its kernel stack stays out
        # of the way, as for the machine's switch ports.
        self.sw.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                    "net.ipv6.conf.default.disable_ipv6=1")
        for intf in self.sw.intfList():
            if intf.name != "lo":
                self.sw.cmd("ip addr flush dev %s" % intf)
        self.start_vswitchd()

        cmd = ["ovs-vsctl", "--timeout=20", "--", "add-br", self.bridge,
               "--", "set", "Bridge", self.bridge, "datapath_type=netdev",
               "fail-mode=secure", "protocols=OpenFlow10,OpenFlow13,"
               "OpenFlow15", "other-config:disable-in-band=true",
               "other-config:datapath-id=%s" % self.dpid]
        for i, name in enumerate(self.client_names + self.instance_names):
            port = self.ports[name]
            self.ofports[port] = i + 1
            cmd += ["--", "add-port", self.bridge, port, "--", "set",
                    "Interface", port, "ofport_request=%d" % (i + 1)]
        sh(*cmd)

    def _start_ovsdb(self):
        db = os.path.join(self.ovsdir, "conf.db")
        sh("ovsdb-tool", "create", db, VSWITCH_SCHEMA)
        log = open(os.path.join(self.ovsdir, "ovsdb-server.out"), "w")
        self.ovsdb = subprocess.Popen(
            ["ovsdb-server", db,
             "--remote=punix:" + os.path.join(self.ovsdir, "db.sock"),
             "--pidfile=" + os.path.join(self.ovsdir, "ovsdb-server.pid"),
             "--log-file=" + os.path.join(self.ovsdir, "ovsdb-server.log"),
             "--no-chdir", "-vconsole:off"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if os.path.exists(os.path.join(self.ovsdir, "db.sock")):
                break
            time.sleep(0.05)
        sh("ovs-vsctl", "--timeout=10", "--no-wait", "init")

    def start_vswitchd(self):
        """ovs-vswitchd in the switch namespace (again after a crash)."""
        self.vswitchd_starts += 1
        out = open(os.path.join(self.ovsdir, "ovs-vswitchd.out"), "a")
        self.vswitchd = self.sw.popen(
            ["ovs-vswitchd",
             "unix:" + os.path.join(self.ovsdir, "db.sock"),
             "--pidfile=" + os.path.join(self.ovsdir, "ovs-vswitchd.pid"),
             "--log-file=" + os.path.join(self.ovsdir, "ovs-vswitchd.log"),
             "--no-chdir", "-vconsole:off"],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        end = time.monotonic() + 15
        while time.monotonic() < end:
            p = subprocess.run(["ovs-appctl", "--timeout=2", "-t",
                                "ovs-vswitchd", "version"],
                               capture_output=True)
            if p.returncode == 0:
                return
            if self.vswitchd.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("private ovs-vswitchd did not start: %s"
                           % self.log_tail("ovs-vswitchd"))

    def vswitchd_alive(self):
        return self.vswitchd is not None and self.vswitchd.poll() is None

    def vswitchd_pid(self):
        return self.vswitchd.pid if self.vswitchd_alive() else None

    def log_tail(self, name, n=5):
        try:
            with open(os.path.join(self.ovsdir, name + ".log"),
                      errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def log_size(self, name="ovs-vswitchd"):
        try:
            return os.path.getsize(os.path.join(self.ovsdir, name + ".log"))
        except OSError:
            return 0

    def log_since(self, offset, name="ovs-vswitchd"):
        try:
            with open(os.path.join(self.ovsdir, name + ".log"),
                      errors="replace") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return ""

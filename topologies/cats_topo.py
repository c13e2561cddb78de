"""Single-site CATS topology on Mininet and the machine's userspace OVS.

    from cats_topo import CatsSite
    with CatsSite(n_clients=2, n_instances=3,
                  controller="unix:/tmp/x/cats.sock") as site:
        site.start_servers()
        print(site.run_client(site.clients[0], site.vip, n=1000))

One bridge (default name "cats1": unique on this machine, never a bare
"s1"), datapath_type=netdev, protocols=OpenFlow15, fail-mode=secure,
in-band control off.  Clients c1..cN get CLIENT_BASE.., instances i1..iM get
INSTANCE_BASE.. in SUBNET; clients take the first switch ports, then the
instances.  Every host has transmit checksum offload off (TCP through the
userspace datapath stalls otherwise) and IPv6 off (less flooding noise).

Cleanup: everything this object created (bridge, veths, host shells, the
processes it started) is removed by PID and by name on stop(), on leaving a
`with` block (errors included), on SIGTERM/SIGHUP/Ctrl-C and at interpreter
exit.  Nothing here ever runs `mn -c` or kills processes by name.

Run as root with Debian's /usr/bin/python3 (it has the mininet module).
"""

import atexit
import ipaddress
import json
import os
import select
import signal
import subprocess
import sys
import time
from functools import partial

TOPO_DIR = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(TOPO_DIR, "cats_server.py")
CLIENT = os.path.join(TOPO_DIR, "cats_client.py")
LONGLIVED = os.path.join(TOPO_DIR, "cats_longlived.py")
PYTHON = "/usr/bin/python3"
OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
OVS_RUNDIR = "/var/run/openvswitch"
CTRL_PORT = 9000


def have_mininet():
    try:
        import mininet.net  # noqa: F401
        return True
    except ImportError:
        return False


def _ok(argv, timeout=10):
    try:
        return subprocess.run(argv, capture_output=True,
                              timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ovs_running():
    """(ovsdb_ok, vswitchd_ok)"""
    db = _ok(["ovs-vsctl", "--timeout=3", "show"])
    vs = _ok(["ovs-appctl", "--timeout=3", "-t", "ovs-vswitchd", "version"])
    return db, vs


def ensure_ovs():
    """Start the machine's ovsdb-server and ovs-vswitchd if they are not
    running.  Returns a string saying what was done."""
    db, vs = ovs_running()
    done = []
    if not db:
        subprocess.run([OVS_CTL, "--no-ovs-vswitchd", "start"],
                       capture_output=True)
        done.append("started ovsdb-server")
    if not vs:
        subprocess.run([OVS_CTL, "--no-ovsdb-server", "start"],
                       capture_output=True)
        done.append("started ovs-vswitchd")
    db, vs = ovs_running()
    if not (db and vs):
        raise RuntimeError("cannot start Open vSwitch (ovsdb %s, vswitchd %s)"
                           % (db, vs))
    return ", ".join(done) or "already running"


def vswitchd_pid():
    try:
        with open(os.path.join(OVS_RUNDIR, "ovs-vswitchd.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def restart_vswitchd(kill_signal=signal.SIGTERM, timeout=10.0):
    """Kill ovs-vswitchd by its pidfile PID and start it again with
    ovs-ctl.  Flows, groups and the userspace conntrack are lost; bridges
    and ports come back from the database.  Returns seconds taken."""
    t0 = time.monotonic()
    pid = vswitchd_pid()
    if pid:
        try:
            os.kill(pid, kill_signal)
        except ProcessLookupError:
            pass
        while time.monotonic() - t0 < timeout and pid_alive(pid):
            time.sleep(0.02)
    subprocess.run([OVS_CTL, "--no-ovsdb-server", "start"],
                   capture_output=True)
    if not ovs_running()[1]:
        raise RuntimeError("ovs-vswitchd did not come back")
    return time.monotonic() - t0


def mac_for_ip(ip):
    return "00:00:" + ":".join("%02x" % int(x) for x in ip.split("."))


def pid_alive(pid):
    """True while pid runs (a zombie awaiting its reaper counts as dead:
    a --detach'ed daemon is not our child)."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kill_pid(pid, grace=2.0):
    """SIGTERM, then SIGKILL after `grace` seconds.  Only for PIDs that we
    started."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:     # not our child: poll existence
            if not pid_alive(pid):
                return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class SiteTopoFactory:
    """Builds the Mininet Topo lazily, so that importing this module does
    not need mininet."""

    @staticmethod
    def make(bridge, dpid, clients, instances, prefixlen):
        from mininet.topo import Topo

        class SingleSiteTopo(Topo):
            def build(self):
                sw = self.addSwitch(bridge, dpid=dpid)
                for name, ip in clients + instances:
                    h = self.addHost(name, ip="%s/%d" % (ip, prefixlen),
                                     mac=mac_for_ip(ip))
                    self.addLink(h, sw)
        return SingleSiteTopo()


class LongLived:
    """A running cats_longlived.py client."""

    def __init__(self, proc):
        self.proc = proc
        self.ready = None
        self.done = None

    def wait_ready(self, timeout=15.0):
        line = _readline(self.proc.stdout, timeout)
        if not line or not line.startswith("READY "):
            raise RuntimeError("long-lived client not ready: %r" % line)
        self.ready = json.loads(line[len("READY "):])
        return self.ready

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        for line in out.splitlines():
            if line.startswith("DONE "):
                self.done = json.loads(line[len("DONE "):])
        if self.done is None:
            raise RuntimeError("long-lived client gave no report: %r" % out)
        return self.done


def _readline(f, timeout):
    """Read one line from a text pipe with a timeout."""
    end = time.monotonic() + timeout
    buf = ""
    fd = f.fileno()
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        ch = os.read(fd, 1).decode(errors="replace")
        if not ch:
            break
        if ch == "\n":
            return buf
        buf += ch
    return buf or None


class CatsSite:
    """The single-site topology, started on __enter__/start()."""

    def __init__(self, n_clients=2, n_instances=3, bridge="cats1",
                 subnet="10.0.0.0/24", client_base=1, instance_base=11,
                 vip_host=100, service_port=80, controller=None,
                 max_backoff=1000, dpid="00000000ca750001",
                 log_level="warning", workdir=None, client_prefix="c",
                 instance_prefix="i"):
        if not bridge.startswith("cats"):
            raise ValueError("bridge names start with 'cats' here")
        net = ipaddress.ip_network(subnet)
        self.prefixlen = net.prefixlen
        self.client_ips = [str(net[client_base + i]) for i in range(n_clients)]
        self.instance_ips = [str(net[instance_base + i])
                             for i in range(n_instances)]
        self.vip = str(net[vip_host])
        self.service_port = service_port
        self.bridge = bridge
        self.dpid = dpid
        self.controller_target = controller
        self.max_backoff = max_backoff
        self.log_level = log_level
        self.workdir = workdir
        # Host names: clients c1.., instances i1.. by default.  The demo
        # uses other prefixes ("dc", "di") and its own bridge, so that it
        # can run beside the integration tests and be told apart from them.
        self.client_prefix = client_prefix
        self.instance_prefix = instance_prefix
        self.net = None
        self.clients = []
        self.instances = []
        self.servers = {}          # host name -> Popen
        self._procs = []           # every Popen we started
        self._old_handlers = {}
        self._stopped = True

    # -- lifecycle -----------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _on_signal(self, signum, frame):
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    def start(self):
        if os.geteuid() != 0:
            raise RuntimeError("needs root")
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import OVSSwitch
        setLogLevel(self.log_level)
        ensure_ovs()
        self._stopped = False
        atexit.register(self.stop)
        # SIGINT too: a background job starts with SIGINT ignored.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:        # not the main thread
                pass
        try:
            clients = [("%s%d" % (self.client_prefix, i + 1), ip)
                       for i, ip in enumerate(self.client_ips)]
            instances = [("%s%d" % (self.instance_prefix, i + 1), ip)
                         for i, ip in enumerate(self.instance_ips)]
            topo = SiteTopoFactory.make(self.bridge, self.dpid, clients,
                                        instances, self.prefixlen)
            switch = partial(OVSSwitch, datapath="user",
                             protocols="OpenFlow15", failMode="secure",
                             reconnectms=self.max_backoff)
            self.net = Mininet(topo=topo, switch=switch, controller=None,
                               build=False, autoSetMacs=False,
                               autoStaticArp=False, waitConnected=False)
            self.net.build()
            self.net.start()
            self.clients = [self.net.get(n) for n, _ in clients]
            self.instances = [self.net.get(n) for n, _ in instances]
            for h in self.net.hosts:
                for intf in h.intfList():
                    h.cmd("ethtool -K %s tx off >/dev/null 2>&1" % intf)
                h.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                      "net.ipv6.conf.default.disable_ipv6=1")
            if self.controller_target:
                self.set_controller(self.controller_target)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        for p in list(self._procs):
            if p.poll() is None:
                kill_pid(p.pid)
            try:
                p.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self._procs = []
        self.servers = {}
        if self.net is not None:
            try:
                self.net.stop()
            except Exception as e:          # keep cleaning up
                print("warning: mininet stop: %s" % e, file=sys.stderr)
            self.net = None
        subprocess.run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br",
                        self.bridge], capture_output=True)
        # Switch-side veths left behind by an interrupted build.
        out = subprocess.run(["ip", "-o", "link", "show"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name.startswith(self.bridge + "-eth"):
                subprocess.run(["ip", "link", "del", name],
                               capture_output=True)
        for sig, old in self._old_handlers.items():
            try:
                signal.signal(sig, old)
            except ValueError:
                pass
        self._old_handlers = {}
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    # -- switch -------------------------------------------------------------
    def set_controller(self, target, max_backoff=None):
        """Point the bridge at the cats controller: target is unix:PATH or
        tcp:IP:PORT (the controller listens with punix:/ptcp:)."""
        mb = max_backoff or self.max_backoff
        subprocess.run(
            ["ovs-vsctl", "--timeout=10", "--", "--id=@c", "create",
             "Controller", 'target="%s"' % target, "max_backoff=%d" % mb,
             "--", "set", "Bridge", self.bridge, "controller=[@c]"],
            check=True, capture_output=True)
        self.controller_target = target

    def apply_max_backoff(self):
        """Call once the controller connection is up (after the first
        cats/sync).  OVS 3.1 creates a controller connection with the
        default 8 s backoff cap and applies the Controller row's max_backoff
        only when the bridge is reconfigured while that connection is up
        (ofproto/connmgr.c: ofservice_create(), then ofservice_reconfigure(),
        which only visits existing ofconns; touching the row right after
        creating it was tried and does not help).  Without this the switch
        may take up to 8 s to find a restarted controller.  Touching a
        column that ovs-vswitchd reads reconfigures it; ovs-vsctl waits
        until it has."""
        subprocess.run(["ovs-vsctl", "--timeout=10", "set", "Controller",
                        self.bridge, "other_config:cats-reconfigured=true"],
                       check=True, capture_output=True)

    def del_controller(self):
        subprocess.run(["ovs-vsctl", "--timeout=10", "del-controller",
                        self.bridge], check=True, capture_output=True)
        self.controller_target = None

    def controller_connected(self):
        out = subprocess.run(
            ["ovs-vsctl", "--timeout=5", "--columns=is_connected", "find",
             "Controller", 'target="%s"' % self.controller_target],
            capture_output=True, text=True).stdout
        return "true" in out

    def ofctl(self, *args):
        return subprocess.run(["ovs-ofctl", "-O", "OpenFlow15", args[0],
                               self.bridge] + list(args[1:]),
                              capture_output=True, text=True,
                              check=True).stdout

    def host(self, name):
        return self.net.get(name)

    # -- processes in hosts --------------------------------------------------
    def popen(self, host, argv, **kw):
        """Start argv in host's namespace; tracked, killed by PID on stop."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("text", True)
        p = host.popen(argv, **kw)
        self._procs.append(p)
        return p

    def forget(self, proc):
        if proc in self._procs:
            self._procs.remove(proc)

    def start_servers(self, port=None, ctrl_port=CTRL_PORT, timeout=10.0):
        """cats_server.py on every instance host (name line, then echo)."""
        port = port or self.service_port
        for h in self.instances:
            p = self.popen(h, [PYTHON, SERVER, "--name", h.name,
                               "--port", str(port),
                               "--ctrl-port", str(ctrl_port)])
            self.servers[h.name] = p
        for name, p in self.servers.items():
            line = _readline(p.stdout, timeout)
            if not line or not line.startswith("listening"):
                raise RuntimeError("server on %s did not start: %r"
                                   % (name, line))
        self._ctrl_port = ctrl_port

    def stop_servers(self):
        for p in self.servers.values():
            kill_pid(p.pid)
            p.wait()
            self.forget(p)
        self.servers = {}

    def server_stats(self, reset=False):
        """{instance name: {"accepted": N, ...}} from every server."""
        stats = {}
        for h in self.instances:
            if h.name not in self.servers:
                continue
            out = h.cmd("%s %s --query %d %s" % (PYTHON, SERVER,
                                                 self._ctrl_port,
                                                 "reset" if reset else ""))
            stats[h.name] = json.loads(out.strip().splitlines()[-1])
        return stats

    def reset_server_stats(self):
        return self.server_stats(reset=True)

    # -- clients -------------------------------------------------------------
    def run_client(self, host, dst=None, n=1000, port=None, parallel=64,
                   workers=2, timeout=5.0, limit=120.0):
        """cats_client.py burst of n new connections; returns its report."""
        argv = [PYTHON, CLIENT, dst or self.vip,
                str(port or self.service_port), "-n", str(n),
                "-p", str(parallel), "-w", str(workers),
                "-t", str(timeout), "--wide-ports"]
        p = self.popen(host, argv, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            kill_pid(p.pid)
            out, err = p.communicate()
        finally:
            self.forget(p)
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("client gave no report: rc=%s out=%r err=%r"
                               % (p.returncode, out, err))

    def start_longlived(self, host, k=50, dst=None, port=None,
                        interval=0.05, echo_timeout=3.0):
        argv = [PYTHON, LONGLIVED, dst or self.vip,
                str(port or self.service_port), "-k", str(k),
                "--interval", str(interval),
                "--echo-timeout", str(echo_timeout)]
        p = self.popen(host, argv, stderr=subprocess.DEVNULL)
        return LongLived(p)

    def start_ping(self, host, dst=None, interval=0.008, deadline=None):
        """Background ping; stop it with stop_ping() to get the summary.
        Note: this machine's timer gives -i 0.01 only ~63/s; -i 0.008 gives
        ~125/s.  Not -q: stop_ping() reads the per-reply sequence numbers."""
        argv = ["ping", "-n", "-i", str(interval)]
        if deadline:
            argv += ["-w", str(deadline)]
        argv.append(dst or self.vip)
        return self.popen(host, argv, stderr=subprocess.STDOUT)

    def stop_ping(self, p, timeout=5.0):
        """SIGINT the ping; return a dict: tx, rx, 'lost' (sequence numbers
        with no reply sent before the last one answered: real loss),
        'in_flight' (those sent after it: still on their way when the
        SIGINT ended ping, which counts them as transmitted) and text."""
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_pid(p.pid)
            out, _ = p.communicate()
        self.forget(p)
        return ping_losses(out)

    def ping(self, host, dst=None, count=3, interval=0.2, wait=1):
        out = host.cmd("ping -q -n -c %d -i %s -W %d %s"
                       % (count, interval, wait, dst or self.vip))
        return parse_ping(out)


def parse_ping(text):
    import re
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text or "")
    if not m:
        return 0, 0, text
    return int(m.group(1)), int(m.group(2)), text


def ping_losses(text):
    """Split what a stopped (not -q) ping lost into gaps before its last
    reply and the tail it was still waiting for: see stop_ping()."""
    import re
    tx, rx, _ = parse_ping(text)
    seen = set(int(s) for s in re.findall(r"icmp_seq=(\d+) ", text or ""))
    last = max(seen) if seen else 0
    missing = [s for s in range(1, tx + 1) if s not in seen]
    return {"tx": tx, "rx": rx, "text": text,
            "lost": [s for s in missing if s < last],
            "in_flight": [s for s in missing if s > last]}

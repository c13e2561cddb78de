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
instances.  A cats_site.Site: its lifecycle and cleanup (by PID and by
name, on stop, errors, signals and exit; never `mn -c`) are described
there.
"""

import ipaddress
import json
import os
import select
import signal
import subprocess
import time

from cats_site import (PYTHON, TOPO_DIR, Site, kill_pid,  # noqa: F401
                       mac_for_ip)

SERVER = os.path.join(TOPO_DIR, "cats_server.py")
CLIENT = os.path.join(TOPO_DIR, "cats_client.py")
LONGLIVED = os.path.join(TOPO_DIR, "cats_longlived.py")
CTRL_PORT = 9000


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


class CatsSite(Site):
    """The single-site topology, started on __enter__/start()."""

    def __init__(self, n_clients=2, n_instances=3, bridge="cats1",
                 subnet="10.0.0.0/24", client_base=1, instance_base=11,
                 vip_host=100, service_port=80, controller=None,
                 max_backoff=1000, dpid="00000000ca750001",
                 log_level="warning", workdir=None, client_prefix="c",
                 instance_prefix="i"):
        Site.__init__(self, [bridge], log_level=log_level)
        net = ipaddress.ip_network(subnet)
        self.prefixlen = net.prefixlen
        self.client_ips = [str(net[client_base + i]) for i in range(n_clients)]
        self.instance_ips = [str(net[instance_base + i])
                             for i in range(n_instances)]
        self.vip = str(net[vip_host])
        self.service_port = service_port
        self.dpid = dpid
        self.controller_target = controller
        self.max_backoff = max_backoff
        self.workdir = workdir
        # Host names: clients c1.., instances i1.. by default.  The demo
        # uses other prefixes ("dc", "di") and its own bridge, so that it
        # can run beside the integration tests and be told apart from them.
        self.client_prefix = client_prefix
        self.instance_prefix = instance_prefix
        self.clients = []
        self.instances = []
        self.servers = {}          # host name -> Popen

    def named(self, prefix, ips):
        return [("%s%d" % (prefix, i + 1), ip) for i, ip in enumerate(ips)]

    def setup(self):
        clients = self.named(self.client_prefix, self.client_ips)
        instances = self.named(self.instance_prefix, self.instance_ips)
        topo = SiteTopoFactory.make(self.bridge, self.dpid, clients,
                                    instances, self.prefixlen)
        self.make_net(topo, protocols="OpenFlow15", failMode="secure",
                      reconnectms=self.max_backoff)
        self.clients = [self.net.get(n) for n, _ in clients]
        self.instances = [self.net.get(n) for n, _ in instances]
        if self.controller_target:
            self.set_controller(self.controller_target)

    def stop(self):
        self.servers = {}
        Site.stop(self)

    # -- switch -------------------------------------------------------------
    def set_controller(self, target, max_backoff=None):
        """Point the bridge at the cats controller: target is unix:PATH or
        tcp:IP:PORT (the controller listens with punix:/ptcp:)."""
        Site.set_controller(self, target, max_backoff or self.max_backoff)
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

    # -- processes in hosts --------------------------------------------------
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

#!/usr/bin/python3
"""The controller's steering pipeline on an OVS-DPDK bridge.

The DPDK build of ovs-vswitchd (/usr/lib/openvswitch-switch-dpdk/
ovs-vswitchd-dpdk, package openvswitch-switch-dpdk) runs without
hugepages (--no-huge -m 1024 --no-pci --legacy-mem) beside the machine's
Open vSwitch, without touching it:

  - its own ovsdb-server on a private database (ovsdb-tool create with
    vswitch.ovsschema), its own run directory (OVS_RUNDIR, --pidfile,
    --unixctl, --log-file: all in a temporary directory);
  - its own network namespace: a userspace-datapath vswitchd owns a tap
    device named ovs-netdev (and one per bridge) in its namespace, which is
    why two cannot share one; in a namespace of its own it does not meet
    the machine's;
  - its own EAL --file-prefix, whose /var/run/dpdk directory is removed.

A bridge (datapath_type=netdev, OpenFlow 1.5, fail-mode secure) gets one
type=dpdk port per host, each a net_af_packet vdev on a veth whose other
end is in the host's namespace: a client and three instances, each
running a tiny TCP server on port 80 that answers with its name.
build/cats-controller, with service web = VIP 10.77.0.100:80 and the three
instances, listens on a unix socket in the private run directory (the
vswitchd only connects to unix: controllers under its OVS_RUNDIR).

  - new connections to the VIP are all served and split across the three
    instances;
  - after cats/drain of one instance, new connections avoid it;
  - the machine's ovs-vswitchd answers throughout, and nothing of ours is
    in its database or /var/run/openvswitch;
  - everything is removed afterwards (processes by PID, namespaces and
    veths by name, the EAL directory).

usage: test_ovs_dpdk.py [--build-dir build] [--keep] [-v]
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

from catslib import (REPO, CatsController, TempDir, ensure_ovs, info,
                     kill_pid, pid_alive, result, service_config, sh, skip)
from cats_site import OVS_RUNDIR

VSWITCHD_DPDK = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"

CHECKS = [
    "ovs-dpdk: private ovsdb-server and ovs-vswitchd-dpdk, DPDK initialized",
    "ports: type=dpdk on net_af_packet vdevs, link up, in the DPDK datapath",
    "controller: pipeline installed on the DPDK bridge, the VIP answers",
    "steering: new connections to the VIP all served, split across 3",
    "drain: new connections leave the drained instance, all served",
    "system OVS: its ovs-vswitchd answers, nothing of ours in it",
    "cleanup: processes, namespaces, veths, EAL directory removed",
]

PID = os.getpid()
TAG = "cod%d" % (PID % 100000)
NS_SW = "catsod-sw-%d" % PID
SUBNET = "10.77.0"
VIP = SUBNET + ".100"
PORT = 80
SERVICE = "web"
HOSTS = [("c", SUBNET + ".1")] + [("i%d" % i, "%s.%d" % (SUBNET, 10 + i))
                                   for i in (1, 2, 3)]
INSTANCES = [ip for name, ip in HOSTS if name.startswith("i")]
BRIDGE = "catsdpdk"
EAL_PREFIX = "cats-ovsdpdk-%d" % PID
N_CONN = 90                     # New connections for the split.
N_DRAIN = 60                    # New connections after the drain.

SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.listen(256)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(sys.argv[1].encode() + b"\n")
    except OSError:
        pass
    c.close()
"""

# n new connections to ip:port one after another: which server answered.
CLIENT = r"""
import json, socket, sys
ip, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4])
counts, fails, last = {}, 0, ""
for _ in range(n):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as c:
            data = b""
            while not data.endswith(b"\n"):
                chunk = c.recv(64)
                if not chunk:
                    break
                data += chunk
        name = data.decode().strip() or "?"
        counts[name] = counts.get(name, 0) + 1
    except OSError as e:
        fails += 1
        last = str(e)
print(json.dumps({"counts": counts, "fails": fails, "last_error": last}))
"""


def ns_name(host):
    return "catsod-%s-%d" % (host, PID)


class PrivateOvs:
    """ovsdb-server + ovs-vswitchd-dpdk, all state in 'rundir', the
    vswitchd in network namespace NS_SW."""

    def __init__(self, rundir):
        self.dir = rundir
        self.db = os.path.join(rundir, "conf.db")
        self.remote = "unix:" + os.path.join(rundir, "db.sock")
        self.env = dict(os.environ, OVS_RUNDIR=rundir, OVS_DBDIR=rundir,
                        OVS_LOGDIR=rundir, OVS_SYSCONFDIR=rundir)
        self.pids = {}

    def path(self, name):
        return os.path.join(self.dir, name)

    def vsctl(self, *args, timeout=20):
        return sh("ovs-vsctl", "--db=" + self.remote,
                  "--timeout=%d" % timeout, *args, env=self.env,
                  timeout=timeout + 5)

    def appctl(self, *args, timeout=10):
        return sh("ovs-appctl", "-t", self.path("ovs-vswitchd.ctl"),
                  "--timeout=%d" % timeout, *args, env=self.env,
                  timeout=timeout + 5)

    def ofctl(self, cmd, *args):
        return sh("ovs-ofctl", "-O", "OpenFlow15", cmd,
                  "unix:" + self.path(BRIDGE + ".mgmt"), *args, env=self.env)

    def rx_packets(self, port):
        """The port's receive counter, live (the database's statistics
        column lags by up to 5 s)."""
        out = self.ofctl("dump-ports", port)
        m = re.search(r"rx pkts=(\d+)", out)
        return int(m.group(1)) if m else -1

    def _pid(self, name):
        try:
            with open(self.path(name + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        sh("ovsdb-tool", "create", self.db, SCHEMA)
        sh("ovsdb-server", self.db, "--remote=p" + self.remote,
           "--pidfile=" + self.path("ovsdb-server.pid"),
           "--unixctl=" + self.path("ovsdb-server.ctl"),
           "--log-file=" + self.path("ovsdb-server.log"),
           "--detach", "--no-chdir", env=self.env)
        self.pids["ovsdb-server"] = self._pid("ovsdb-server")
        self.vsctl("--no-wait", "init")
        # --legacy-mem: without it OVS adds --in-memory, which --no-huge
        # refuses.  PMD threads sleep up to 1 ms when idle (2 shared
        # cores).
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   "other_config:dpdk-extra=--no-huge -m 1024 --no-pci "
                   "--legacy-mem --file-prefix=" + EAL_PREFIX,
                   "other_config:pmd-maxsleep=1000")
        sh("ip", "netns", "add", NS_SW)
        sh("ip", "link", "set", "lo", "up", ns=NS_SW)
        sh(VSWITCHD_DPDK, self.remote,
           "--pidfile=" + self.path("ovs-vswitchd.pid"),
           "--unixctl=" + self.path("ovs-vswitchd.ctl"),
           "--log-file=" + self.path("ovs-vswitchd.log"),
           "-vconsole:off", "--detach", "--no-chdir", ns=NS_SW,
           env=self.env, timeout=60)
        self.pids["ovs-vswitchd"] = self._pid("ovs-vswitchd")
        end = time.monotonic() + 30
        while time.monotonic() < end:
            out = self.vsctl("get", "Open_vSwitch", ".",
                             "dpdk_initialized").strip()
            if out == "true":
                return True
            time.sleep(0.2)
        return False

    def stop(self):
        pid = self.pids.get("ovs-vswitchd")
        if pid and pid_alive(pid):
            try:
                self.appctl("exit", timeout=5)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            end = time.monotonic() + 5
            while pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.05)
            kill_pid(pid)
        pid = self.pids.get("ovsdb-server")
        if pid:
            kill_pid(pid)

    def log_tail(self, n=30):
        try:
            with open(self.path("ovs-vswitchd.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Hosts:
    """The client and instance namespaces and their veths to NS_SW."""

    def __init__(self):
        self.made = []
        self.servers = []

    @staticmethod
    def ifs(host):
        return "%s%sh" % (TAG, host), "%s%ss" % (TAG, host)

    def up(self):
        for host, ip in HOSTS:
            ns = ns_name(host)
            h, s = self.ifs(host)
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "link", "add", h, "netns", ns, "type", "veth", "peer",
               "name", s, "netns", NS_SW)
            sh("ip", "link", "set", "lo", "up", ns=ns)
            sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", ns=ns)
            sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % s,
               ns=NS_SW)
            sh("ip", "addr", "add", ip + "/24", "dev", h, ns=ns)
            sh("ip", "link", "set", h, "up", ns=ns)
            sh("ip", "link", "set", s, "up", ns=NS_SW)
            # net_af_packet sends what the kernel gave it: checksums must
            # be complete (and TCP through the userspace datapath stalls
            # otherwise).
            sh("ethtool", "-K", h, "tx", "off", ns=ns, check=False)

    def start_servers(self):
        for host, ip in HOSTS[1:]:
            p = subprocess.Popen(["ip", "netns", "exec", ns_name(host),
                                  "/usr/bin/python3", "-c", SERVER, host,
                                  str(PORT)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            self.servers.append(p)
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("server %s did not start: %s"
                                   % (host, p.stderr.read()))

    def connect(self, n, timeout=2.0):
        p = subprocess.run(["ip", "netns", "exec", ns_name("c"),
                            "/usr/bin/python3", "-c", CLIENT, VIP, str(PORT),
                            str(n), str(timeout)], capture_output=True,
                           text=True, timeout=n * timeout + 30)
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError("client: %r %r" % (p.stdout, p.stderr))

    def down(self):
        for p in self.servers:
            kill_pid(p.pid)
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self.servers = []
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)
        self.made = []


def system_ovs_state():
    """(answers, vswitchd pid, bridges) of the machine's Open vSwitch."""
    try:
        pid = int(open(os.path.join(OVS_RUNDIR, "ovs-vswitchd.pid")).read())
    except (OSError, ValueError):
        pid = None
    answers = subprocess.run(["ovs-appctl", "--timeout=5", "-t",
                              "ovs-vswitchd", "version"],
                             capture_output=True).returncode == 0
    brs = subprocess.run(["ovs-vsctl", "--timeout=5", "list-br"],
                         capture_output=True, text=True).stdout.split()
    return answers, pid, brs


def our_taps():
    """Where our datapath's tap devices are: (ovs-netdev in NS_SW, our
    bridge's tap in NS_SW, our bridge's tap in this namespace)."""
    def has(dev, ns=None):
        argv = ["ip", "link", "show", dev]
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        return subprocess.run(argv, capture_output=True).returncode == 0
    return has("ovs-netdev", NS_SW), has(BRIDGE, NS_SW), has(BRIDGE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    controller_bin = os.path.join(build, "cats-controller")
    t0 = time.monotonic()

    reason = None
    if os.geteuid() != 0:
        reason = "needs root"
    elif not os.access(VSWITCHD_DPDK, os.X_OK):
        reason = ("openvswitch-switch-dpdk is not installed (make deps)")
    elif not os.path.exists(SCHEMA):
        reason = "no %s" % SCHEMA
    elif not all(shutil.which(t) for t in ("ovsdb-tool", "ovsdb-server",
                                            "ovs-vsctl", "ovs-ofctl",
                                            "ethtool")):
        reason = "Open vSwitch tools or ethtool not installed"
    else:
        end = time.monotonic() + 30     # A relink may be in progress.
        while not os.access(controller_bin, os.X_OK):
            if time.monotonic() > end:
                reason = "%s not built" % os.path.relpath(controller_bin)
                break
            time.sleep(0.5)
    if reason:
        for c in CHECKS:
            skip(c, reason)
        return 0

    reported = {}

    def check(name, ok, detail=""):
        reported[name] = ok
        result(name, ok, detail)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    try:
        ensure_ovs()                    # The machine's, as the others use.
    except RuntimeError as e:
        info("machine's OVS: %s" % e)
    sys_before = system_ovs_state()

    with TempDir(keep=args.keep, prefix="cats-ovsdpdk-") as d:
        ovs = PrivateOvs(d)
        hosts = Hosts()
        ctl = None
        try:
            # Our copy: other work may relink build/ meanwhile.
            shutil.copy2(controller_bin, d)
            ok = ovs.start()
            log = ovs.log_tail(200)
            check(CHECKS[0], ok and "DPDK Enabled - initialized" in log
                  and "--no-huge" in log,
                  "dpdk_initialized %s; log:\n%s" % (ok, ovs.log_tail()))

            hosts.up()
            ovs.vsctl("add-br", BRIDGE, "--", "set", "bridge", BRIDGE,
                      "datapath_type=netdev", "fail-mode=secure",
                      "protocols=OpenFlow15",
                      "other-config:disable-in-band=true")
            cmd = []
            for i, (host, ip) in enumerate(HOSTS):
                cmd += ["--", "add-port", BRIDGE, "p" + host, "--", "set",
                        "Interface", "p" + host, "type=dpdk",
                        "options:dpdk-devargs=net_af_packet%d,iface=%s"
                        % (i, Hosts.ifs(host)[1])]
            ovs.vsctl(*cmd, timeout=60)
            states, bad = {}, []
            end = time.monotonic() + 15
            while time.monotonic() < end:
                states = {h: ovs.vsctl("get", "Interface", "p" + h,
                                       "link_state").strip()
                          for h, _ in HOSTS}
                if all(v == "up" for v in states.values()):
                    break
                time.sleep(0.2)
            for h, _ in HOSTS:
                err = ovs.vsctl("--if-exists", "get", "Interface", "p" + h,
                                "error").strip()
                if err and err != "[]":
                    bad.append("p%s: %s" % (h, err))
            dpif = ovs.appctl("dpif/show")
            check(CHECKS[1], all(v == "up" for v in states.values())
                  and not bad and all("p%s " % h in dpif
                                      and "dpdk" in dpif for h, _ in HOSTS),
                  "link_state %s; errors %s; dpif/show %s"
                  % (states, bad, dpif))
            info(dpif.strip())

            # The controller: its switch socket in the private run
            # directory (vswitchd refuses unix: controllers elsewhere).
            ctl = CatsController(
                os.path.join(d, "cats-controller"), d,
                service_config(SERVICE, VIP, PORT,
                               [(ip, PORT, 100) for ip in INSTANCES]),
                listen="punix:" + ovs.path("cats.sock"))
            ctl.start()
            ovs.vsctl("set-controller", BRIDGE, "unix:" + ovs.path(
                "cats.sock"))
            ctl.appctl("cats/sync", timeout=30)
            hosts.start_servers()
            served, rep = None, {}
            end = time.monotonic() + 25
            while time.monotonic() < end:
                rep = hosts.connect(6, timeout=1.0)
                if not rep["fails"]:
                    served = time.monotonic()
                    break
                time.sleep(0.2)
            flows = ovs.ofctl("dump-flows")
            groups = ovs.ofctl("dump-groups")
            check(CHECKS[2], served is not None and "ct(" in flows
                  and "selection_method=dp_hash" in groups,
                  "VIP not served: %s; %d flows" % (rep, len(
                      flows.splitlines())))

            # The split.
            rep = hosts.connect(N_CONN)
            counts = rep["counts"]
            info("%d new connections: %s, %d failed"
                 % (N_CONN, counts, rep["fails"]))
            names = [h for h, _ in HOSTS[1:]]
            # Every packet went through the DPDK ports: the client's port
            # received at least a SYN, an ACK and a FIN per connection.
            rx = {h: ovs.rx_packets("p" + h) for h, _ in HOSTS}
            info("rx_packets per dpdk port: %s" % rx)
            check(CHECKS[3], rep["fails"] == 0
                  and sum(counts.values()) == N_CONN
                  and all(counts.get(n, 0) >= N_CONN // 6 for n in names)
                  and rx["c"] >= 3 * N_CONN,
                  "counts %s, %d failed (%s); want all %d served, each "
                  "instance >= %d; client port rx_packets %d"
                  % (counts, rep["fails"], rep["last_error"], N_CONN,
                     N_CONN // 6, rx["c"]))

            # Drain i1.
            ctl.appctl("cats/drain", SERVICE, "%s:%d" % (INSTANCES[0], PORT))
            ctl.appctl("cats/sync", timeout=30)
            rep = hosts.connect(N_DRAIN)
            counts = rep["counts"]
            info("after draining i1, %d new connections: %s, %d failed"
                 % (N_DRAIN, counts, rep["fails"]))
            check(CHECKS[4], rep["fails"] == 0 and counts.get("i1", 0) == 0
                  and sum(counts.values()) == N_DRAIN
                  and all(counts.get(n, 0) > 0 for n in names[1:]),
                  "counts %s, %d failed (%s)" % (counts, rep["fails"],
                                                 rep["last_error"]))
            if args.verbose:
                info(ctl.appctl("cats/services"))
        except Exception as e:  # noqa: B902 (report, then clean up)
            info("error: %s: %s" % (type(e).__name__, e))
            traceback.print_exc()
            info("ovs-vswitchd-dpdk log:\n" + ovs.log_tail())
            if ctl:
                info("controller log:\n" + ctl.log_tail(20))
        finally:
            sys_during = system_ovs_state()
            taps = our_taps()
            if ctl:
                ctl.cleanup()
            pids = [p for p in ovs.pids.values() if p]
            ovs.stop()
            hosts.down()
            sh("ip", "netns", "del", NS_SW, check=False)
            shutil.rmtree(os.path.join("/var/run/dpdk", EAL_PREFIX),
                          ignore_errors=True)

        # The machine's OVS: answering before, during and after; nothing of
        # ours in its database or run directory.
        sys_after = system_ovs_state()
        ours = [f for f in os.listdir(OVS_RUNDIR)
                if any(str(p) in f for p in pids)
                or os.path.basename(d) in f] if os.path.isdir(
                    OVS_RUNDIR) else []
        leaked = [b for b in sys_after[2] if b == BRIDGE]
        check(CHECKS[5], sys_before[0] and sys_during[0] and sys_after[0]
              and not ours and not leaked and taps == (True, True, False),
              "answers before/during/after %s/%s/%s; ours in %s: %s; "
              "bridge %s in its database: %s; our taps (ovs-netdev and %s "
              "in %s, %s here): %s"
              % (sys_before[0], sys_during[0], sys_after[0], OVS_RUNDIR,
                 ours, BRIDGE, bool(leaked), BRIDGE, NS_SW, BRIDGE, taps))
        info("machine's ovs-vswitchd pid before/after: %s/%s"
             % (sys_before[1], sys_after[1]))

        left = [p for p in pids if pid_alive(p)]
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True,
                               text=True).stdout
        left_ns = [ns for ns in [NS_SW] + [ns_name(h) for h, _ in HOSTS]
                   if ns in netns.split()]
        links = subprocess.run(["ip", "-o", "link", "show"],
                               capture_output=True, text=True).stdout
        left_links = [w for w in links.split() if w.startswith(TAG)]
        eal = os.path.exists(os.path.join("/var/run/dpdk", EAL_PREFIX))
        check(CHECKS[6], not left and not left_ns and not left_links
              and not eal,
              "processes %s, namespaces %s, links %s, EAL directory %s"
              % (left, left_ns, left_links, eal))
    for c in CHECKS:
        if c not in reported:
            result(c, False, "not reached")
    print("# test_ovs_dpdk.py: %.1f s" % (time.monotonic() - t0),
          file=sys.stderr)
    return 1 if any(reported.get(c) is False or c not in reported
                    for c in CHECKS) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The site builder: what every ovs-cats Mininet topology is made of.

    class MySite(Site):
        def setup(self):                    # called by start()
            self.net = self.make_net(topo, failMode="secure")
            self.add_veth("x1", "x1-peer", self.host("h1").pid)
            gw = start_something()
            self.on_stop(gw.stop)           # undone in reverse order

    with MySite(bridges=["catsx"]) as site:
        p = site.popen(site.host("h1"), ["ping", "-c1", "10.0.0.2"])
        out, err = site.communicate(p, timeout=5)

Site.start() checks root, starts the machine's Open vSwitch if it is not
running, installs SIGTERM/SIGHUP/SIGINT handlers (SystemExit(128 + sig),
KeyboardInterrupt) and an atexit hook, then calls setup(); any error
there stops the site and is raised again.  stop() (also on leaving a
`with` block, on those signals and at interpreter exit; it runs once)
kills the processes started with popen() by PID, newest first, runs the
on_stop() callbacks, newest first, stops Mininet, deletes the bridges
named in 'bridges' and the veths made with add_veth() (and the switch
ends "BRIDGE-eth*" an interrupted build leaves), and puts the old signal
handlers back.  Nothing here runs `mn -c` or kills anything by name.

Hosts get transmit checksum offload off (TCP through the userspace
datapath stalls otherwise) and IPv6 off (less flooding noise).

The module also holds the helpers that every topology, test and bench
shares: sh(), wait_until(), appctl() and AppctlError, pid_alive(),
kill_pid(), ensure_ovs(), restart_vswitchd(), mac_for_ip(), preflight().

Finding these modules: a script in topologies/ imports them directly
(Python puts the script's directory first on sys.path).  A script
elsewhere inserts REPO/topologies once, computed from its own path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), os.pardir, os.pardir, "topologies"))

(tests/integration/catslib.py does it for the integration tests.)
Run as root with Debian's /usr/bin/python3 (it has the mininet module).
"""

import atexit
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial

TOPO_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOPO_DIR)
BUILD = os.path.join(REPO, "build")
PYTHON = "/usr/bin/python3"
OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
OVS_RUNDIR = "/var/run/openvswitch"
DPDK_RUNDIR = "/var/run/dpdk"


# -- commands ----------------------------------------------------------------
def sh(*argv, check=True, timeout=30, ns=None, input=None, env=None):
    """Run argv (in network namespace 'ns' if given); its stdout.  With
    'check', a non-zero exit raises RuntimeError with its message."""
    argv = [str(a) for a in argv]
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, input=input, env=env)
    if check and p.returncode != 0:
        raise RuntimeError("`%s` failed (rc %d): %s"
                           % (" ".join(argv), p.returncode,
                              (p.stderr or p.stdout).strip()[:800]))
    return p.stdout


def wait_until(pred, timeout, step=0.05, value=False):
    """Calls pred() every 'step' seconds until it is true: returns the
    seconds that took (with 'value', pred()'s true value instead), or None
    when 'timeout' seconds passed first."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v if value else time.monotonic() - t0
        time.sleep(step)
    return None


class AppctlError(RuntimeError):
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        RuntimeError.__init__(self, "`%s` failed (rc %s): %s"
                              % (" ".join(argv), rc,
                                 (err or out).strip()[:500]))


def appctl(target, *args, timeout=30, check=True):
    """ovs-appctl -t TARGET ARGS...: stdout; AppctlError on failure when
    'check'."""
    argv = ["ovs-appctl", "-t", target, "--timeout=%d" % max(1, int(timeout))
            ] + [str(a) for a in args]
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout + 5)
    if check and p.returncode != 0:
        raise AppctlError(argv, p.returncode, p.stdout, p.stderr)
    return p.stdout


# -- processes ---------------------------------------------------------------
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
    """SIGTERM, then SIGKILL after 'grace' seconds.  Only for PIDs that we
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


# -- the machine's Open vSwitch ----------------------------------------------
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


def have_mininet():
    try:
        import mininet.net  # noqa: F401
        return True
    except ImportError:
        return False


def preflight(build=None, binaries=(), tools=(), mininet=True):
    """None when a script can run here, else the reason: root, the mininet
    module (unless not 'mininet'), 'tools' on PATH and 'binaries' built
    in 'build'."""
    if os.geteuid() != 0:
        return "needs root"
    if mininet and not have_mininet():
        return "no mininet module in %s: use /usr/bin/python3" % \
            sys.executable
    for tool in tools:
        if not shutil.which(tool):
            return "%s not installed" % tool
    missing = [b for b in binaries
               if not os.access(os.path.join(build, b), os.X_OK)]
    if missing:
        return "not built in %s: %s (make)" % (build, ", ".join(missing))
    return None


# -- the site ----------------------------------------------------------------
class Site:
    """A topology's lifecycle: see the module's comment.  'bridges': the
    bridge names (on the machine's OVS) that stop() deletes; the first is
    self.bridge, the one set_controller() and ofctl() act on."""

    def __init__(self, bridges=(), log_level="warning", ovs=True):
        for br in bridges:
            if not br.startswith("cats"):
                raise ValueError("bridge names start with 'cats' here")
        self.bridges = list(bridges)
        self.bridge = self.bridges[0] if self.bridges else None
        self.log_level = log_level
        self.ovs = ovs                  # Start the machine's OVS.
        self.net = None
        self.veths = []                 # Root-namespace ends we made.
        self._procs = []                # Popen objects from popen().
        self._undo = []                 # on_stop() callbacks.
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

    def setup(self):
        """Builds the topology (the subclass's part of start())."""
        raise NotImplementedError

    def start(self):
        if os.geteuid() != 0:
            raise RuntimeError("needs root")
        from mininet.log import setLogLevel
        setLogLevel(self.log_level)
        if self.ovs:
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
            self.setup()
        except BaseException:
            self.stop()
            raise
        return self

    def on_stop(self, fn):
        """Call fn() on stop(), before Mininet stops; newest first."""
        self._undo.append(fn)

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        for p in reversed(self._procs):
            if p.poll() is None:
                kill_pid(p.pid)
            try:
                p.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self._procs = []
        for fn in reversed(self._undo):
            try:
                fn()
            except Exception as e:          # keep cleaning up
                print("warning: cleanup %s: %s" % (fn, e), file=sys.stderr)
        self._undo = []
        if self.net is not None:
            try:
                self.net.stop()
            except Exception as e:
                print("warning: mininet stop: %s" % e, file=sys.stderr)
            self.net = None
        for br in self.bridges:
            subprocess.run(["ovs-vsctl", "--timeout=10", "--if-exists",
                            "del-br", br], capture_output=True)
        # Our veths, and switch-side veths left by an interrupted build.
        out = subprocess.run(["ip", "-o", "link", "show"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            name = line.split(":")[1].strip().split("@")[0]
            if name in self.veths or any(name.startswith(br + "-eth")
                                         for br in self.bridges):
                subprocess.run(["ip", "link", "del", name],
                               capture_output=True)
        self.veths = []
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

    # -- building ------------------------------------------------------------
    def make_net(self, topo, **switch_opts):
        """Mininet on 'topo' with userspace-datapath OVS switches
        ('switch_opts' for OVSSwitch: failMode, protocols, ...), built,
        started, its hosts prepared.  Sets and returns self.net."""
        from mininet.net import Mininet
        from mininet.node import OVSSwitch
        switch = partial(OVSSwitch, datapath="user", **switch_opts)
        self.net = Mininet(topo=topo, switch=switch, controller=None,
                           build=False, autoSetMacs=False,
                           autoStaticArp=False, waitConnected=False)
        self.net.build()
        self.net.start()
        self.prepare_hosts(self.net.hosts)
        return self.net

    @staticmethod
    def prepare_hosts(hosts):
        """Transmit checksum offload and IPv6 off on every host."""
        for h in hosts:
            for intf in h.intfList():
                h.cmd("ethtool -K %s tx off >/dev/null 2>&1" % intf)
            h.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                  "net.ipv6.conf.default.disable_ipv6=1")

    def add_veth(self, name, peer, netns_pid):
        """A veth: 'name' here (up, IPv6 off; deleted on stop()), 'peer'
        in the namespace of process 'netns_pid' (a host's pid)."""
        sh("ip", "link", "add", name, "type", "veth", "peer", "name", peer,
           "netns", netns_pid)
        self.veths.append(name)
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % name)
        sh("ip", "link", "set", name, "up")

    def host(self, name):
        return self.net.get(name)

    # -- the switch ----------------------------------------------------------
    def set_controller(self, target, max_backoff=1000, bridge=None):
        """Point the bridge at a controller: target is unix:PATH or
        tcp:IP:PORT (the controller listens with punix:/ptcp:)."""
        sh("ovs-vsctl", "--timeout=10", "--", "--id=@c", "create",
           "Controller", 'target="%s"' % target, "max_backoff=%d"
           % max_backoff, "--", "set", "Bridge", bridge or self.bridge,
           "controller=[@c]")

    def ofctl(self, *args):
        """ovs-ofctl -O OpenFlow15 CMD BRIDGE ARGS...; CalledProcessError
        on failure."""
        return subprocess.run(["ovs-ofctl", "-O", "OpenFlow15", args[0],
                               self.bridge] + list(args[1:]),
                              capture_output=True, text=True,
                              check=True).stdout

    # -- processes in hosts --------------------------------------------------
    def popen(self, host, argv, **kw):
        """Start argv in host's namespace (a host or its name); tracked,
        killed by PID on stop()."""
        h = self.host(host) if isinstance(host, str) else host
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("text", True)
        p = h.popen(argv, **kw)
        self._procs.append(p)
        return p

    def forget(self, proc):
        if proc in self._procs:
            self._procs.remove(proc)

    def communicate(self, p, timeout):
        """p.communicate(), killing p by PID after 'timeout' seconds;
        p is forgotten.  Returns (out, err)."""
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_pid(p.pid)
            out, err = p.communicate()
        self.forget(p)
        return out, err

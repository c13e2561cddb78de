"""Helpers for the CATS integration tests.

Every test script is run alone, as root, with Debian's Python:
    /usr/bin/python3 tests/integration/test_x.py --build-dir build
and prints one line per check, exactly one of
    PASS: name
    FAIL: name: detail
    SKIP: name: reason
(other lines are information).  Exit status is 1 when a check failed.

A test declares its checks up front (Test(names)); a check never reported
because an earlier step blew up is reported as FAIL "not reached", and when
the test cannot run at all (not root, no mininet, no controller binary)
every check is reported SKIP with the reason.

--static drives the hand-written ovs-ofctl pipeline (topologies/
ofctl_pipeline.py) instead of build/cats-controller: it checks the harness
itself, and the dataplane design, without the controller.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

# The one sys.path insertion of the integration tests: topologies/.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, os.pardir, "topologies"))

import cats_site  # noqa: E402
from cats_site import (REPO, AppctlError, appctl, ensure_ovs,  # noqa: E402,F401
                       have_mininet, kill_pid, pid_alive, restart_vswitchd,
                       sh, wait_until)
from cats_topo import CatsSite  # noqa: E402
from cats_ctl import CatsController, service_config  # noqa: E402
from ofctl_pipeline import StaticPipeline  # noqa: E402

SERVICE = "web"


# -- results -----------------------------------------------------------------
def _line(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def result(name, ok, detail=""):
    """Print PASS: name / FAIL: name: detail.  Returns ok."""
    if ok:
        _line("PASS: %s" % name)
    else:
        detail = " ".join(str(detail).split()) or "failed"
        _line("FAIL: %s: %s" % (name, detail))
    return ok


def skip(name, reason):
    _line("SKIP: %s: %s" % (name, " ".join(str(reason).split())))


def info(text):
    for line in str(text).splitlines():
        _line("  " + line)


class TempDir:
    """A scratch directory, removed on exit unless keep (or on failure
    when keep_on_failure)."""

    def __init__(self, keep=False, prefix="cats-it-"):
        self.keep = keep
        self.path = tempfile.mkdtemp(prefix=prefix)

    def __enter__(self):
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if self.keep:
            print("# kept %s" % self.path, file=sys.stderr)
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        return False


# -- arguments, preflight ----------------------------------------------------
def parse_args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                    help="where cats-controller was built (default build)")
    ap.add_argument("--static", action="store_true",
                    help="drive the ovs-ofctl reference pipeline instead of "
                    "the controller (checks the harness)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (logs, config)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    args.controller = os.path.join(os.path.abspath(args.build_dir),
                                   "cats-controller")
    return args


def preflight(args):
    """None when the test can run, else the reason to skip."""
    why = cats_site.preflight(
        os.path.dirname(args.controller),
        () if args.static else ["cats-controller"],
        tools=("ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ethtool", "ping",
               "mnexec"))
    if not why and not os.path.exists(cats_site.OVS_CTL):
        why = "no %s" % cats_site.OVS_CTL
    return why


# -- backends: the controller, or the static ofctl pipeline ------------------
class ControllerBackend:
    """build/cats-controller driven through ovs-appctl."""
    static = False

    def __init__(self, args, site, workdir, instances, extra_args=()):
        self.site = site
        self.instances = instances          # [(ip, port, weight)]
        self.ctl = CatsController(
            args.controller, workdir,
            service_config(SERVICE, site.vip, site.service_port, instances),
            extra_args=extra_args)

    def start(self, timeout=15.0):
        """Start the controller, point the bridge at it, cats/sync (which
        waits for a switch connection, then for its confirmation)."""
        self.ctl.start()
        self.site.set_controller(self.ctl.target)
        self.sync()
        self.site.apply_max_backoff()

    def wait_connected(self, timeout=15.0):
        """Until ovsdb says the bridge is connected to us.  Slow: vswitchd
        refreshes Controller.is_connected only every few seconds."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.site.controller_connected():
                return time.monotonic() - t0
            time.sleep(0.1)
        raise RuntimeError("ovsdb: bridge %s not connected to the controller "
                           "after %.0f s" % (self.site.bridge, timeout))

    def appctl(self, *args, **kw):
        return self.ctl.appctl(*args, **kw)

    def sync(self, timeout=30):
        return self.ctl.appctl("cats/sync", timeout=timeout)

    def set_weight(self, ip, port, weight):
        self.ctl.appctl("cats/set-weight", SERVICE, "%s:%d" % (ip, port),
                        weight)
        self.sync()

    def drain(self, ip, port):
        self.ctl.appctl("cats/drain", SERVICE, "%s:%d" % (ip, port))
        self.sync()

    def services(self):
        return self.ctl.appctl("cats/services", check=False)

    def kill9(self):
        self.ctl.kill9()

    def restart(self):
        """Start again after kill9 (same config, sockets, pidfile)."""
        t = self.ctl.start()
        return t

    def after_vswitchd_restart(self):
        """Nothing to do: the controller must notice and resync."""

    def stop(self):
        self.ctl.cleanup()

    def diagnostics(self):
        return "controller log tail:\n" + self.ctl.log_tail(40)


class StaticBackend:
    """The ovs-ofctl reference pipeline (no controller)."""
    static = True

    def __init__(self, args, site, workdir, instances, extra_args=()):
        self.site = site
        self.pipe = StaticPipeline(site.bridge, site.vip, site.service_port,
                                   [list(i) for i in instances])

    def start(self, timeout=15.0):
        self.pipe.install()

    def wait_connected(self, timeout=15.0):
        return 0.0

    def appctl(self, *args, **kw):
        raise NotImplementedError("no controller in --static mode")

    def sync(self, timeout=30):
        subprocess.run(["ovs-ofctl", "-O", "OpenFlow15", "dump-flows",
                        self.site.bridge, "table=99"], capture_output=True)

    def set_weight(self, ip, port, weight):
        self.pipe.set_weight(ip, weight, port)

    def drain(self, ip, port):
        self.pipe.set_weight(ip, 0, port)

    def services(self):
        return self.pipe.group_stats()

    def kill9(self):
        raise NotImplementedError("no controller in --static mode")

    def restart(self):
        raise NotImplementedError("no controller in --static mode")

    def after_vswitchd_restart(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.site.ofctl("show")
                break
            except subprocess.CalledProcessError:
                time.sleep(0.05)
        self.pipe.install()

    def stop(self):
        pass

    def diagnostics(self):
        return "static pipeline flows:\n" + self.site.ofctl("dump-flows")


# -- a test run ------------------------------------------------------------
class Test:
    """Runs body(t) with t.site (started), t.backend (started), t.args,
    t.workdir; reports every declared check exactly once."""

    def __init__(self, description, checks, n_clients=2, n_instances=3,
                 weights=None, controller_args=None):
        self.description = description
        self.checks = list(checks)
        self.reported = {}
        self.n_clients = n_clients
        self.n_instances = n_instances
        self.weights = weights or [100] * n_instances
        # Extra cats-controller options; a callable gets the scratch
        # directory (for paths inside it).
        self.controller_args = controller_args
        self.args = None
        self.site = None
        self.backend = None
        self.workdir = None
        self.t0 = time.monotonic()

    # reporting -------------------------------------------------------------
    def check(self, name, ok, detail=""):
        if name not in self.checks:
            self.checks.append(name)
        if name in self.reported:
            return ok
        self.reported[name] = ok
        result(name, ok, detail)
        return ok

    def skip(self, name, reason):
        if name not in self.checks:
            self.checks.append(name)
        if name in self.reported:
            return
        self.reported[name] = None
        skip(name, reason)

    def failed(self):
        return any(v is False for v in self.reported.values())

    # helpers -----------------------------------------------------------
    def instances(self):
        return [(ip, self.site.service_port, w)
                for ip, w in zip(self.site.instance_ips, self.weights)]

    def wait_vip(self, host=None, timeout=15.0, n=6, per_try=1.0):
        """Seconds until n new connections to the VIP all succeed (each
        within per_try s), or None."""
        host = host or self.site.clients[0]
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            rep = self.site.run_client(host, n=n, parallel=n, workers=1,
                                       timeout=per_try, limit=per_try + 10)
            if rep["ok"] == n:
                return time.monotonic() - t0
            time.sleep(0.05)
        return None

    # running -----------------------------------------------------------
    def run(self, body):
        self.args = args = parse_args(self.description)
        reason = preflight(args)
        if reason:
            for name in self.checks:
                self.skip(name, reason)
            return 0
        with TempDir(keep=args.keep) as tmp:
            self.workdir = tmp
            try:
                with CatsSite(n_clients=self.n_clients,
                              n_instances=self.n_instances,
                              log_level="info" if args.verbose
                              else "warning") as site:
                    self.site = site
                    site.start_servers()
                    cls = StaticBackend if args.static else ControllerBackend
                    extra = self.controller_args or ()
                    if callable(extra):
                        extra = extra(tmp)
                    self.backend = cls(args, site, tmp, self.instances(),
                                       extra_args=extra)
                    try:
                        self.backend.start()
                        body(self)
                    finally:
                        if self.failed() or args.verbose:
                            try:
                                print(self.backend.diagnostics(),
                                      file=sys.stderr)
                            except Exception:
                                pass
                        self.backend.stop()
            except Exception as e:
                traceback.print_exc()
                detail = "%s: %s" % (type(e).__name__, e)
                for name in self.checks:
                    if name not in self.reported:
                        self.check(name, False, "not reached: " + detail)
                        detail = "an earlier step failed"
        for name in self.checks:
            if name not in self.reported:
                self.check(name, False, "not reported by the test")
        print("# %s: %.1f s" % (os.path.basename(sys.argv[0]),
                                time.monotonic() - self.t0), file=sys.stderr)
        return 1 if self.failed() else 0


def shares(counts, names):
    total = sum(counts.get(n, 0) for n in names)
    return {n: (100.0 * counts.get(n, 0) / total if total else 0.0)
            for n in names}


def fmt_shares(counts, names):
    s = shares(counts, names)
    return " ".join("%s=%d (%.2f%%)" % (n, counts.get(n, 0), s[n])
                    for n in names)


class Unixctl:
    """A persistent connection to a daemon's unixctl socket (OVS's JSON-RPC
    over a unix stream socket): a command costs well under a millisecond
    instead of ovs-appctl's ~11 ms process start, for polling in ms."""

    def __init__(self, path, timeout=5.0):
        import socket
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.id = 0

    def __call__(self, method, *params):
        """The command's reply text; RuntimeError on an error reply."""
        import json
        self.id += 1
        self.sock.sendall(json.dumps({"method": method, "id": self.id,
                                      "params": [str(p) for p in params]}
                                     ).encode())
        dec = json.JSONDecoder()
        while True:
            try:
                msg, end = dec.raw_decode(self.buf.decode())
            except ValueError:
                data = self.sock.recv(1 << 16)
                if not data:
                    raise RuntimeError("unixctl: connection closed")
                self.buf += data
                continue
            self.buf = self.buf[end:].lstrip()
            if msg.get("id") != self.id:
                continue
            if msg.get("error") is not None:
                raise RuntimeError("unixctl %s: %s" % (method, msg["error"]))
            return msg.get("result") or ""

    def close(self):
        self.sock.close()

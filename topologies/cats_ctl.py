"""Run build/cats-controller as a daemon and talk to it with ovs-appctl.

    ctl = CatsController("build/cats-controller", workdir, config_text)
    ctl.start()                       # --detach; returns when it is up
    site.set_controller(ctl.target)   # the bridge connects to it
    ctl.appctl("cats/sync")
    ctl.stop()                        # "exit", then SIGTERM/SIGKILL by PID

The controller listens (punix:/var/run/openvswitch/cats-NAME.sock) and the
bridge connects to it (unix:...), so a restarted controller is found again
by the switch's reconnect backoff (max_backoff=1000 ms on the Controller
row).  The switch socket must be in /var/run/openvswitch: ovs-vswitchd
refuses "unix:" controllers anywhere else ("Not connecting to socket
controller ... due to possibility for remote exploit").  Everything else it
writes (config, pidfile, log, unixctl socket) stays in workdir; the switch
socket is removed by cleanup().
"""

import atexit
import os
import signal
import subprocess
import time

from cats_site import (OVS_RUNDIR, AppctlError, appctl,  # noqa: F401
                       kill_pid, pid_alive)


def service_config(service, vip, port, instances, proto="tcp"):
    """Config text: instances is a list of (ip, port, weight)."""
    lines = ["# written by the integration tests",
             "service %s vip=%s port=%d proto=%s" % (service, vip, port,
                                                     proto)]
    for ip, iport, w in instances:
        lines.append("instance %s %s:%d weight=%d" % (service, ip, iport, w))
    return "\n".join(lines) + "\n"


class CatsController:
    def __init__(self, binary, workdir, config_text=None, listen=None,
                 extra_args=(), file_log_level="info"):
        self.binary = os.path.abspath(binary)
        self.workdir = os.path.abspath(workdir)
        base = os.path.basename(self.workdir)
        if not base.startswith("cats"):
            base = "cats-" + base
        self.sock = os.path.join(OVS_RUNDIR, base + ".sock")
        self.unixctl = os.path.join(self.workdir, "cats-controller.ctl")
        self.pidfile = os.path.join(self.workdir, "cats-controller.pid")
        self.logfile = os.path.join(self.workdir, "cats-controller.log")
        self.config = os.path.join(self.workdir, "cats.conf")
        self.listen = listen or ("punix:" + self.sock)
        self.extra_args = list(extra_args)
        self.file_log_level = file_log_level
        self.starts = 0
        if config_text is not None:
            with open(self.config, "w") as f:
                f.write(config_text)

    @property
    def target(self):
        """What the bridge's set-controller should point at."""
        if self.listen.startswith("punix:"):
            return "unix:" + self.listen[len("punix:"):]
        if self.listen.startswith("ptcp:"):
            parts = self.listen.split(":")
            ip = parts[2] if len(parts) > 2 else "127.0.0.1"
            return "tcp:%s:%s" % (ip, parts[1])
        raise ValueError("active connection: no bridge target")

    def argv(self):
        return [self.binary, "--config=" + self.config,
                "--unixctl=" + self.unixctl, "--pidfile=" + self.pidfile,
                "--log-file=" + self.logfile, "--detach", "--no-chdir",
                "-vconsole:off", "-vfile:" + self.file_log_level] + \
            self.extra_args + [self.listen]

    def start(self, timeout=15.0):
        """Start it detached; returns once `ovs-appctl version` answers."""
        t0 = time.monotonic()
        p = subprocess.run(self.argv(), capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("cats-controller failed to start (rc %d): %s"
                               "\nlog tail:\n%s"
                               % (p.returncode, (p.stderr + p.stdout).strip(),
                                  self.log_tail()))
        self.starts += 1
        if self.starts == 1:
            atexit.register(self.cleanup)   # never leave it running
        while time.monotonic() - t0 < timeout:
            try:
                self.appctl("version", timeout=2)
                return time.monotonic() - t0
            except (AppctlError, subprocess.TimeoutExpired):
                time.sleep(0.05)
        raise RuntimeError("cats-controller not answering on %s\n%s"
                           % (self.unixctl, self.log_tail()))

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self):
        return pid_alive(self.pid())

    def kill9(self, timeout=5.0):
        """SIGKILL by pidfile PID, wait until it is gone."""
        pid = self.pid()
        if not pid:
            raise RuntimeError("no controller pid")
        os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not pid_alive(pid):
                return
            time.sleep(0.01)
        raise RuntimeError("controller pid %d survived SIGKILL" % pid)

    def stop(self, timeout=5.0):
        """`exit` through unixctl, then SIGTERM/SIGKILL by PID."""
        pid = self.pid()
        if not pid or not self.alive():
            return
        try:
            self.appctl("exit", timeout=timeout)
        except (AppctlError, subprocess.TimeoutExpired):
            pass
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.alive():
            time.sleep(0.05)
        if self.alive():
            kill_pid(pid)

    def cleanup(self):
        """Stop it and remove the switch socket it may have left behind
        (after SIGKILL)."""
        self.stop()
        if self.listen == "punix:" + self.sock:
            try:
                os.unlink(self.sock)
            except FileNotFoundError:
                pass

    def appctl(self, *args, timeout=30, check=True):
        """ovs-appctl -t UNIXCTL ARGS...; returns stdout."""
        return appctl(self.unixctl, *args, timeout=timeout, check=check)

    def log_tail(self, n=30):
        try:
            with open(self.logfile) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def log_grep(self, word, n=20):
        try:
            with open(self.logfile) as f:
                return "".join([l for l in f if word in l][-n:])
        except OSError:
            return ""

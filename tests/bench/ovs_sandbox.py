"""A private ovsdb-server + ovs-vswitchd --enable-dummy in a temporary
directory, as Open vSwitch's own test suite runs them.  OpenFlow only: its
bridges use datapath_type=dummy, so it never touches the machine's OVS, its
netdev datapath or its tap device.  Everything is stopped by PID."""

import os
import shutil
import signal
import subprocess
import tempfile
import time


class OvsSandbox:
    def __init__(self, prefix='cats-sandbox-'):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.env = dict(os.environ,
                        OVS_RUNDIR=self.dir, OVS_LOGDIR=self.dir,
                        OVS_DBDIR=self.dir, OVS_SYSCONFDIR=self.dir)
        self.db_sock = os.path.join(self.dir, 'db.sock')
        self.pids = []

    def run(self, *args, check=True, **kw):
        return subprocess.run(list(args), env=self.env, check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, **kw)

    def _pid(self, name):
        with open(os.path.join(self.dir, name + '.pid')) as f:
            return int(f.read().strip())

    def start(self):
        db = os.path.join(self.dir, 'conf.db')
        self.run('ovsdb-tool', 'create', db,
                 '/usr/share/openvswitch/vswitch.ovsschema')
        self.run('ovsdb-server', '--detach', '--no-chdir', '--pidfile',
                 '--log-file', '--remote=punix:' + self.db_sock, db)
        self.pids.append(self._pid('ovsdb-server'))
        self.run('ovs-vswitchd', '--enable-dummy', '--disable-system',
                 '--detach', '--no-chdir', '--pidfile', '--log-file',
                 '-vconsole:off', 'unix:' + self.db_sock)
        self.pids.append(self._pid('ovs-vswitchd'))
        return self

    @property
    def vswitchd_pid(self):
        return self._pid('ovs-vswitchd')

    def vsctl(self, *args):
        return self.run('ovs-vsctl', '--db=unix:' + self.db_sock,
                        *args).stdout

    def ofctl(self, *args, check=True):
        return self.run('ovs-ofctl', '-O', 'OpenFlow15', *args,
                        check=check).stdout

    def add_bridge(self, name):
        self.vsctl('add-br', name, '--', 'set', 'bridge', name,
                   'datapath_type=dummy', 'fail-mode=secure',
                   'protocols=OpenFlow15',
                   'other-config:disable-in-band=true')

    def cpu_seconds(self, pid=None):
        """User + system CPU time of 'pid' (default: ovs-vswitchd)."""
        pid = pid or self.vswitchd_pid
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        ticks = os.sysconf('SC_CLK_TCK')
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self):
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(50):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.pids = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

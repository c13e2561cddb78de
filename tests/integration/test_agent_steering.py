#!/usr/bin/python3
"""Agents steer: cats-agent on each instance host streams its load to the
controller, and the weights in OVS follow.

A busy instance (its application reports 40 requests in flight for 4
slots, through the agent's app socket) gets a lower weight in the OVS
select group, and new connections move away from it.  Killing an agent
drains its instance within the lease.  A killed and restarted controller
gets every agent back without anyone touching them.

    /usr/bin/python3 tests/integration/test_agent_steering.py --build-dir build
"""

import os
import re
import socket
import subprocess
import sys
import threading
import time

import catslib
from catslib import kill_pid, wait_until

CHECKS = [
    "agents.registered",
    "agents.busy_weight_falls_in_ovs",
    "agents.busy_new_conns_move_away",
    "agents.idle_again_weight_returns",
    "agents.killed_agent_drained_within_lease",
    "agents.restarted_agent_back",
    "agents.controller_restart_agents_return",
    "agents.switch_ports_as_telemetry",
]
LEASE_MS = 1500
INTERVAL_MS = 250
N = 2000


def grpc_sock(workdir):
    return os.path.join(workdir, "grpc.sock")


def controller_args(workdir):
    return ["--grpc-listen=unix:" + grpc_sock(workdir),
            "--agent-lease=%d" % LEASE_MS,
            "--agent-report-interval=%d" % INTERVAL_MS]


def group_weights(site):
    """{instance ip: summed bucket weight} of the service's select group,
    read from OVS (not from the controller)."""
    for attempt in range(5):
        try:
            out = site.ofctl("dump-groups")
            break
        except subprocess.CalledProcessError:
            # ovs-ofctl can lose a race with a busy ovs-vswitchd (it is
            # one of several connections): try again.
            if attempt == 4:
                raise
            time.sleep(0.2)
    w = {}
    for m in re.finditer(r"bucket=bucket_id:\d+,weight:(\d+),actions=.*?"
                         r"nat\(dst=([\d.]+):\d+\)", out):
        w[m.group(2)] = w.get(m.group(2), 0) + int(m.group(1))
    return w


class Agents:
    def __init__(self, t, agent_bin):
        self.t = t
        self.bin = agent_bin
        self.procs = {}

    def paths(self, name):
        d = self.t.workdir
        return (os.path.join(d, "agent-%s.ctl" % name),
                os.path.join(d, "agent-%s.app" % name),
                os.path.join(d, "agent-%s.log" % name))

    def start(self, host, ip):
        ctl, app, log = self.paths(host.name)
        argv = [self.bin, "--controller=unix:" + grpc_sock(self.t.workdir),
                "--node-id=" + host.name,
                "--instance=%s,%s:%d,capacity=4"
                % (catslib.SERVICE, ip, self.t.site.service_port),
                "--app-socket=" + app, "--interval=%d" % INTERVAL_MS,
                "--unixctl=" + ctl, "--log-file=" + log, "-vconsole:off"]
        p = self.t.site.popen(host, argv)
        self.procs[host.name] = p
        return p

    def kill9(self, name):
        p = self.procs.pop(name)
        kill_pid(p.pid, grace=0)
        p.wait()
        self.t.site.forget(p)

    def app_line(self, name, text):
        """Writes one datagram to the agent's app socket (as the instance's
        application would)."""
        _, app, _ = self.paths(name)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(text.encode(), app)
        finally:
            s.close()

    def show(self, name):
        ctl, _, _ = self.paths(name)
        return subprocess.run(["ovs-appctl", "-t", ctl, "agent/show"],
                              capture_output=True, text=True,
                              timeout=10).stdout

    def log(self, name):
        try:
            with open(self.paths(name)[2]) as f:
                return f.read()[-2000:]
        except OSError:
            return ""


def registered_nodes(be):
    out = be.appctl("cats/agents", check=False)
    return set(re.findall(r"^node (\S+) ", out, re.M))


def burst(t, n=N):
    t.site.reset_server_stats()
    rep = t.site.run_client(t.site.clients[0], n=n)
    stats = t.site.server_stats()
    return rep, {k: v["accepted"] for k, v in stats.items()}


def body(t):
    site, be = t.site, t.backend
    names = [h.name for h in site.instances]
    ips = site.instance_ips
    agent_bin = os.path.join(os.path.dirname(t.args.controller),
                             "cats-agent")
    if not os.access(agent_bin, os.X_OK):
        raise RuntimeError("%s not built" % agent_bin)
    agents = Agents(t, agent_bin)
    if t.wait_vip(timeout=15) is None:
        raise RuntimeError("VIP never served")

    for h, ip in zip(site.instances, ips):
        agents.start(h, ip)
    took = wait_until(lambda: registered_nodes(be) == set(names), 15)
    # The controller polls the bridge's port statistics: they appear as
    # the telemetry source "openflow:...", one link per port by name.
    def port_telemetry():
        out = be.appctl("cats/telemetry", check=False)
        return "source openflow:" in out and "tx_packets=" in out
    ok = wait_until(port_telemetry, 5)
    t.check("agents.switch_ports_as_telemetry", ok is not None,
            be.appctl("cats/telemetry", check=False))
    t.check("agents.registered", took is not None,
            "nodes %s; agent log: %s" % (registered_nodes(be),
                                         agents.log(names[0])))
    catslib.info("agents registered in %.2f s" % (took or -1))

    # All idle: equal weights.  Then i1's application says it is busy.
    def busy(n):
        agents.app_line(names[0], "%s %s:%d in_flight=%d queue=0\n"
                        % (catslib.SERVICE, ips[0], site.service_port, n))

    def settle_busy():
        busy(40)
        w = group_weights(site)
        return w.get(ips[0], 999) < 0.5 * min(w.get(ips[1], 0),
                                               w.get(ips[2], 0))
    t0 = time.monotonic()
    took = None
    while time.monotonic() - t0 < 10:
        if settle_busy():
            took = time.monotonic() - t0
            break
        time.sleep(INTERVAL_MS / 1000.0)
    w = group_weights(site)
    t.check("agents.busy_weight_falls_in_ovs", took is not None,
            "OVS bucket weights %s; controller: %s"
            % (w, be.services()))
    catslib.info("busy i1: OVS weights %s after %.2f s" % (w, took or -1))

    # The application keeps saying it is busy, as a real one would (the
    # agent drops values not refreshed for 3 intervals), while the burst
    # runs.  The selector damps (tau 1 s): let the shares settle first.
    stop = threading.Event()

    # Each predicate reads one dump: two dumps can straddle a change.
    def i1_below_others(w):
        return w.get(ips[0], 999) < 0.3 * min(w.get(ips[1], 0),
                                              w.get(ips[2], 0))

    def keep_busy():
        while not stop.wait(INTERVAL_MS / 2000.0):
            busy(40)
    th = threading.Thread(target=keep_busy, daemon=True)
    th.start()
    try:
        wait_until(lambda: i1_below_others(group_weights(site)), 5)
        rep, acc = burst(t)
    finally:
        stop.set()
        th.join()
    sh = catslib.shares(acc, names)
    catslib.info("busy i1: %s" % catslib.fmt_shares(acc, names))
    t.check("agents.busy_new_conns_move_away",
            rep["errors"] == 0
            and sh[names[0]] < 0.5 * min(sh[names[1]], sh[names[2]]),
            "errors=%d %s" % (rep["errors"], catslib.fmt_shares(acc, names)))

    # Idle again (the application stops reporting load: values age out,
    # and an explicit 0 brings it back at once).
    def idle_again():
        busy(0)
        w = group_weights(site)     # One dump: the weights of one moment.
        return w.get(ips[0], 0) >= 0.7 * w.get(ips[1], 1)
    took = wait_until(idle_again, 15, step=INTERVAL_MS / 1000.0)
    t.check("agents.idle_again_weight_returns", took is not None,
            "OVS bucket weights %s" % group_weights(site))
    catslib.info("idle again: i1 back to 70%% of i2's weight after %.2f s"
                 % (took or -1))

    # Kill i2's agent: its instance leaves selection within the lease.
    t0 = time.monotonic()
    agents.kill9(names[1])
    gone = wait_until(lambda: group_weights(site).get(ips[1], 0) == 0,
                      LEASE_MS / 1000.0 + 3)
    rep, acc = burst(t, n=600)
    catslib.info("agent of i2 killed: out of the group after %.2f s "
                 "(lease %.1f s); %s" % ((gone or -1), LEASE_MS / 1000.0,
                                         catslib.fmt_shares(acc, names)))
    t.check("agents.killed_agent_drained_within_lease",
            gone is not None and gone <= LEASE_MS / 1000.0 + 1.0
            and acc[names[1]] == 0 and rep["errors"] == 0,
            "gone after %s s, i2 got %d new connections, errors %d"
            % (gone, acc[names[1]], rep["errors"]))

    agents.start(site.instances[1], ips[1])
    back = wait_until(lambda: group_weights(site).get(ips[1], 0) > 0, 10)
    t.check("agents.restarted_agent_back", back is not None,
            "OVS bucket weights %s" % group_weights(site))

    # Controller restart: agents find it again on their own.
    be.kill9()
    time.sleep(0.5)
    t0 = time.monotonic()
    be.restart()
    be.sync()
    took = wait_until(lambda: registered_nodes(be) == set(names), 20)
    t.check("agents.controller_restart_agents_return", took is not None,
            "nodes %s after 20 s; agent says: %s"
            % (registered_nodes(be), agents.show(names[0])))
    catslib.info("after a controller restart, all %d agents registered "
                 "again within %.2f s" % (len(names),
                                          time.monotonic() - t0))
    for name in list(agents.procs):
        agents.kill9(name)


def main():
    t = catslib.Test(__doc__.splitlines()[0], CHECKS, n_instances=3,
                     controller_args=controller_args)
    return t.run(body)


if __name__ == "__main__":
    sys.exit(main())

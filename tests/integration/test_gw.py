#!/usr/bin/python3
"""cats-gw, the DPDK long-haul gateway, with real packets.

Two network namespaces, site A and site B, each with a veth whose other
end (in this namespace) is a net_af_packet port of cats-gw.  The gateway
pairs them with a 5 ms delay line each way and a 20 Mb/s rate limit; class
3 (DSCP 24-31) is lossless and marks ECN on both ports.  Then:

  - ping A -> B through it shows the configured delay (RTT >= 10 ms);
  - a UDP flood of ECT(0) DSCP 26 packets from A overloads class 3: B
    receives CE marks, the gateway counts them, sends PFC pauses for
    priority 3 out of A's port (seen arriving in A), and counts the drops
    that A's sender, which ignores pauses, causes, by reason (headroom);
  - B sends pause frames: counted, and they hold class 3 toward B (paused
    time; a ping in class 3 waits, one in class 0 does not); kept up past
    the watchdog time they are a pause storm; an 802.3x global PAUSE is
    counted as invalid;
  - everything above is read through dpdk-telemetry.py -f PREFIX;
  - cats-controller receives the gateway's paths over its gRPC telemetry
    API (cats/telemetry), every second;
  - a pause storm from B reaches the controller at once: the gateway
    reports out of cadence when its watchdog fires, and the controller's
    selector (a service with an instance over path site-a:site-b, whose
    cats-agent registers it) puts the path in STORM within the watchdog
    time plus 100 ms of the first pause, not up to a second later; its end
    is reported at once too, and the path comes back after the
    controller's restore time;
  - bad configurations are refused at start-up with a clear message.

Namespaces, veths and processes are created with unique names and removed
by name and PID.  No Mininet.

usage: test_gw.py [--build-dir build] [--keep] [-v]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from catslib import result, skip, info, TempDir, REPO, sh, Unixctl
from cats_site import kill_pid

CHECKS = [
    "config: bad statements, ports, thresholds and class maps refused",
    "delay: ping through the gateway takes the configured 2 x 5 ms",
    "ecn: overloaded ECT class marked CE, counted by the gateway",
    "pfc: pauses for priority 3 sent toward the sender, seen there",
    "drops: lossless class drops counted by reason (headroom)",
    "pfc rx: pauses from the far side counted and hold the class",
    "pfc rx: a class 3 ping waits out the pause, a class 0 ping does not",
    "storm: pauses kept past the watchdog are a pause storm",
    "pfc rx: 802.3x global PAUSE counted as invalid",
    "telemetry: dpdk-telemetry.py -f PREFIX reads /cats_gw/*",
    "controller: paths pushed over gRPC, seen in cats/telemetry",
    "storm_signalled_at_once",
    "storm_restore_signalled_at_once",
]
STORM_CHECK, RESTORE_CHECK = CHECKS[11], CHECKS[12]

PID = os.getpid()
NS_A, NS_B = "catsgw-a-%d" % PID, "catsgw-b-%d" % PID
# Interface names: 15 characters at most.
VA, GA = "cgwva%d" % (PID % 100000), "cgwga%d" % (PID % 100000)
VB, GB = "cgwvb%d" % (PID % 100000), "cgwgb%d" % (PID % 100000)
IP_A, IP_B = "10.199.0.1", "10.199.0.2"
PREFIX = "cats-gw-test-%d" % PID
DELAY_MS = 5
# site-b's PFC watchdog and restore times (the controller's: 200 ms and
# 1000 ms), and the telemetry interval (the controller's ack sets it).
GW_WATCHDOG_MS, GW_RESTORE_MS = 100, 100
CTL_RESTORE_MS = 1000
INTERVAL_MS = 1000
# A service with one instance beyond path site-a:site-b (A to B, the
# direction that B's pauses hold) and one local, so that the controller's
# selector follows the path's state (cats/explain).
SERVICE_CONFIG = (
    "service web vip=10.199.9.1 port=80 proto=tcp\n"
    "instance web 10.199.9.11:80 weight=10 path=site-a:site-b\n"
    "instance web 10.199.9.12:80 weight=10\n")

# Receiver in B: counts UDP packets and CE marks for 'secs' seconds.
RECEIVER = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
s.bind(("0.0.0.0", 9999))
s.settimeout(0.2)
n = ce = 0
end = time.monotonic() + float(sys.argv[1])
print("ready", flush=True)
while time.monotonic() < end:
    try:
        data, anc, flags, addr = s.recvmsg(2048, socket.CMSG_SPACE(4))
    except socket.timeout:
        continue
    n += 1
    for level, kind, value in anc:
        if level == socket.IPPROTO_IP and kind == socket.IP_TOS:
            if value[0] & 3 == 3:
                ce += 1
print(json.dumps({"packets": n, "ce": ce}), flush=True)
"""

# Sender in A: ECT(0) DSCP 26 UDP as fast as it can for 'secs' seconds.
SENDER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, (26 << 2) | 2)
payload = b"x" * 1000
end = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < end:
    for _ in range(64):
        try:
            s.sendto(payload, (sys.argv[1], 9999))
            n += 1
        except OSError:
            pass
print(n, flush=True)
"""

# PFC frame listener in A: counts MAC control frames for priority 3.
PFC_LISTENER = r"""
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8808))
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
pauses = xons = 0
end = time.monotonic() + float(sys.argv[2])
print("ready", flush=True)
while time.monotonic() < end:
    try:
        f = s.recv(128)
    except socket.timeout:
        continue
    if len(f) >= 34 and f[12:16] == b"\x88\x08\x01\x01" and f[17] & 8:
        t = int.from_bytes(f[18 + 6:18 + 8], "big")
        if t:
            pauses += 1
        else:
            xons += 1
print(pauses, xons, flush=True)
"""

# PFC frame sender in B: 'count' frames, one every 'gap' seconds.
PFC_SENDER = r"""
import socket, sys, time
iface, kind = sys.argv[1], sys.argv[2]
count, gap = int(sys.argv[3]), float(sys.argv[4])
with open("/sys/class/net/%s/address" % iface) as f:
    mac = bytes.fromhex(f.read().strip().replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
dst = bytes.fromhex("0180c2000001")
if kind == "pfc":
    # PFC, priority 3 enabled, 0xffff quanta.
    body = (b"\x01\x01" + b"\x00\x08" + b"\x00\x00" * 3 + b"\xff\xff"
            + b"\x00\x00" * 4)
else:
    body = b"\x00\x01" + b"\xff\xff"
frame = (dst + mac + b"\x88\x08" + body).ljust(60, b"\x00")
for i in range(count):
    s.send(frame)
    if i == 0:
        print("sent", flush=True)
    if i == count - 1:
        print("last", flush=True)
    time.sleep(gap)
"""


def py(ns, script, *args):
    """Starts Debian's python3 running 'script' in namespace 'ns'."""
    return subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3",
                             "-c", script] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_ready(proc, timeout=5):
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError("helper did not start: %s %s"
                           % (line, proc.stderr.read()))


class Topology:
    def __init__(self):
        self.made = False

    def up(self):
        self.made = True
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "add", ns)
        for v, g, ns, ip in ((VA, GA, NS_A, IP_A), (VB, GB, NS_B, IP_B)):
            sh("ip", "link", "add", v, "type", "veth", "peer", "name", g)
            sh("ip", "link", "set", v, "netns", ns)
            sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % g)
            sh("ip", "link", "set", g, "up")
            sh("ip", "link", "set", "lo", "up", ns=ns)
            sh("ip", "addr", "add", ip + "/24", "dev", v, ns=ns)
            sh("ip", "link", "set", v, "up", ns=ns)
            # af_packet sees frames as the sender's kernel left them:
            # checksums must be complete.
            sh("ethtool", "-K", v, "tx", "off", ns=ns, check=False)
        mac = {}
        for v, ns in ((VA, NS_A), (VB, NS_B)):
            mac[v] = sh("cat", "/sys/class/net/%s/address" % v, ns=ns).strip()
        # Static neighbours: no ARP under overload.
        sh("ip", "neigh", "replace", IP_B, "lladdr", mac[VB], "dev", VA,
           ns=NS_A)
        sh("ip", "neigh", "replace", IP_A, "lladdr", mac[VA], "dev", VB,
           ns=NS_B)

    def down(self):
        if not self.made:
            return
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "del", ns, check=False)
        for g in (GA, GB):
            sh("ip", "link", "del", g, check=False)


class Gateway:
    def __init__(self, binary, workdir, extra):
        self.binary = binary
        self.log = os.path.join(workdir, "cats-gw.log")
        self.argv = [binary, "--no-huge", "-m", "512", "--no-pci", "-l",
                     "0", "--file-prefix=" + PREFIX,
                     "--log-level=lib.eal:error",
                     "--vdev=net_af_packet0,iface=" + GA,
                     "--vdev=net_af_packet1,iface=" + GB, "--"] + extra
        self.proc = None

    def start(self, timeout=20):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("cats-gw exited (%d): %s"
                                   % (self.proc.returncode, self.tail()))
            if "cats-gw: forwarding" in open(self.log).read():
                return
            time.sleep(0.1)
        raise RuntimeError("cats-gw did not start: " + self.tail())

    def tail(self, n=20):
        try:
            return "".join(open(self.log).readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def telemetry(*cmds):
    """Runs dpdk-telemetry.py -f PREFIX with 'cmds': their replies."""
    p = subprocess.run(["dpdk-telemetry.py", "-f", PREFIX],
                       input="\n".join(cmds) + "\n", capture_output=True,
                       text=True, timeout=20)
    out = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    replies = [r for r in out if "version" not in r]
    if len(replies) != len(cmds):
        raise RuntimeError("dpdk-telemetry.py: %d replies to %d commands: "
                           "%s %s" % (len(replies), len(cmds), p.stdout,
                                      p.stderr))
    return [list(r.values())[0] for r in replies]


def stats(port):
    return telemetry("/cats_gw/stats,%d" % port)[0]


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def config_errors(gw_binary):
    """Each bad configuration exits 1 with its message, before
    forwarding."""
    base = [gw_binary, "--no-huge", "-m", "256", "--no-pci", "-l", "0",
            "--file-prefix=%s-cfg" % PREFIX, "--log-level=lib.eal:error",
            "--vdev=net_null0", "--vdev=net_null1", "--"]
    cases = [
        (["--class=0:3,ecn=100K:20K:1%"],
         "port 0 (p0): class 3: kmin (102400) is above kmax (20480)"),
        (["--class=1:3,lossless=100K:150K"],
         "port 1 (p1): class 3: xon (153600) must be below xoff (102400)"),
        (["--class=2:3,queue=2M"],
         "port 2: no such port (there are 2"),
        (["--class=0:5,pcp=3+5"],
         "port 0 (p0): pcp 3 is mapped to both class 3 and class 5"),
        (["--pair=0:0"], "--pair: pair 0:0: a port cannot be paired"),
        (["--class=0:3,ecn=1K:2K"], "field 'ecn': '1K:2K' is not"),
        (["--port=1,speed=100G,distance=10km",
          "--class=1:3,lossless=900K:800K,queue=1M"],
         "class 3: headroom (queue_limit - xoff = 126976 bytes) is below"),
    ]
    bad = []
    for extra, want in cases:
        p = subprocess.run(base + extra, capture_output=True, text=True,
                           timeout=30)
        out = p.stdout + p.stderr
        if p.returncode != 1 or want not in out or "forwarding" in out:
            bad.append("%s: rc %d: %s" % (" ".join(extra), p.returncode,
                                          out.strip()[-300:]))
    return bad


def start_agent(build, workdir, port):
    """A cats-agent registering both instances of 'web' (so that the
    controller's selector steers it), or None if not built."""
    binary = os.path.join(build, "cats-agent")
    if not os.access(binary, os.X_OK):
        return None
    sh(binary, "--controller=127.0.0.1:%d" % port, "--node-id=gw-test-node",
       "--instance=web,10.199.9.11:80,capacity=4",
       "--instance=web,10.199.9.12:80,capacity=4",
       "--interval=%d" % INTERVAL_MS,
       "--unixctl=" + os.path.join(workdir, "agent.ctl"),
       "--pidfile=" + os.path.join(workdir, "agent.pid"),
       "--log-file=" + os.path.join(workdir, "agent.log"),
       "--detach", "--no-chdir", "-vconsole:off")
    return binary


def agent_pid(workdir):
    try:
        with open(os.path.join(workdir, "agent.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def path_state(explain):
    """'STORM', 'ok' or None: site-a:site-b in cats/explain web."""
    m = re.search(r"path site-a:site-b: (\w+)", explain)
    return m.group(1) if m else None


def link_storm(telemetry_text):
    """True if the controller's last report of site-a:site-b has the
    gateway's storm flag."""
    for line in telemetry_text.splitlines():
        if line.strip().startswith("site-a:site-b "):
            return " storm=" in line
    return False


def poll(fn, timeout, period=0.005):
    """Calls fn() every 'period' s until it returns true: (the monotonic
    time it did, or None after 'timeout' s)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return time.monotonic()
        time.sleep(period)
    return None


def storm_checks(ctl, check):
    """A pause storm from B, timed from its first pause to the controller's
    STORM (polled every 5 ms over a persistent unixctl connection), then
    its end to the flag's clearing and the path's return."""
    u = Unixctl(ctl.unixctl)
    try:
        explain = lambda: u("cats/explain", "web")  # noqa: E731
        # The selector knows the path once the agent registered; an earlier
        # storm (the check above) must be over first.
        if not poll(lambda: path_state(explain()) == "ok", 15, 0.1):
            check(STORM_CHECK, False, "path not ok in cats/explain web "
                  "before the storm: " + explain()[-300:])
            return
        before = telemetry("/cats_gw/push")[0]
        # 45 pauses 10 ms apart, each holding 33.5 ms: held ~480 ms.
        pauser = subprocess.Popen(
            ["ip", "netns", "exec", NS_B, "/usr/bin/python3", "-c",
             PFC_SENDER, VB, "pfc", "45", "0.01"],
            stdout=subprocess.PIPE, text=True)
        pauser.stdout.readline()            # The first one is out.
        t0 = time.monotonic()
        t1 = poll(lambda: path_state(explain()) == "STORM", 3)
        pauser.stdout.readline()            # The last one is out: it
        hold_end = time.monotonic() + 0.0335  # holds 33.5 ms.
        pauser.wait(timeout=10)
        t2 = poll(lambda: not link_storm(u("cats/telemetry")), 5)
        t3 = poll(lambda: path_state(explain()) == "ok", 5)
        after = telemetry("/cats_gw/push")[0]
        n_storm = (after.get("storm_reports", 0)
                   - before.get("storm_reports", 0))

        if t1 is None:
            check(STORM_CHECK, False, "no STORM within 3 s: "
                  + explain()[-300:])
        else:
            ms = (t1 - t0) * 1000
            check(STORM_CHECK, ms < GW_WATCHDOG_MS + 100 and n_storm >= 1,
                  "first pause to STORM in the controller %.0f ms, want "
                  "< watchdog %d + 100; storm_reports +%d"
                  % (ms, GW_WATCHDOG_MS, n_storm),
                  " (storm->controller ms=%.0f)" % (ms - GW_WATCHDOG_MS))
            info("storm: first pause -> controller STORM %.0f ms (watchdog "
                 "%d ms: signalled %.0f ms after it fired); storm_reports "
                 "+%d" % (ms, GW_WATCHDOG_MS, ms - GW_WATCHDOG_MS, n_storm))
        if t2 is None or t3 is None:
            check(RESTORE_CHECK, False, "flag cleared %s, path ok %s: %s"
                  % (t2, t3, explain()[-300:]))
        else:
            flag_ms = (t2 - hold_end) * 1000
            back_ms = (t3 - hold_end) * 1000
            # The flag clears the gateway's restore time after the last
            # pause ran out, at once; the path comes back the controller's
            # restore time after that, at the first report since (within
            # an interval).
            check(RESTORE_CHECK,
                  flag_ms < GW_RESTORE_MS + 100 and n_storm >= 2
                  and CTL_RESTORE_MS <= (t3 - t2) * 1000
                  < CTL_RESTORE_MS + INTERVAL_MS + 100,
                  "last pause out to flag cleared %.0f ms, want < restore "
                  "%d + 100; to path ok %.0f ms, want the flag + [%d, %d); "
                  "storm_reports +%d"
                  % (flag_ms, GW_RESTORE_MS, back_ms, CTL_RESTORE_MS,
                     CTL_RESTORE_MS + INTERVAL_MS + 100, n_storm),
                  " (restore->controller ms=%.0f, path back ms=%.0f)"
                  % (flag_ms - GW_RESTORE_MS, back_ms))
            info("storm over: last pause out -> flag cleared in the "
                 "controller %.0f ms (gateway restore %d ms), -> path ok "
                 "%.0f ms (controller restore %d ms)"
                 % (flag_ms, GW_RESTORE_MS, back_ms, CTL_RESTORE_MS))
    finally:
        u.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    gw_binary = os.path.join(build, "cats-gw")
    controller = os.path.join(build, "cats-controller")

    reason = None
    if os.geteuid() != 0:
        reason = "needs root"
    elif not shutil.which("dpdk-testpmd") or not shutil.which(
            "dpdk-telemetry.py"):
        reason = "DPDK is not installed (dpdk, dpdk-dev: make deps)"
    elif not os.access(gw_binary, os.X_OK):
        reason = "%s not built" % os.path.relpath(gw_binary)
    elif not shutil.which("ethtool"):
        reason = "ethtool not installed"
    if reason:
        for c in CHECKS:
            skip(c, reason)
        return 0

    reported = {}

    def check(name, ok, detail="", figures=""):
        reported[name] = ok
        result(name + figures, ok, detail)

    topo = Topology()
    gw = None
    ctl = None
    agent = None
    with TempDir(keep=args.keep, prefix="cats-gw-it-") as d:
        try:
            bad = config_errors(gw_binary)
            check(CHECKS[0], not bad, "; ".join(bad))

            topo.up()
            have_ctl = os.access(controller, os.X_OK)
            extra = [
                "--port=0,name=site-a,speed=1G,trust=dscp",
                "--port=1,name=site-b,speed=1G,trust=dscp,watchdog=%dms,"
                "restore=%dms" % (GW_WATCHDOG_MS, GW_RESTORE_MS),
                "--class=0:3,queue=300K,ecn=20K:100K:10%,"
                "lossless=150K:100K",
                "--class=1:3,queue=300K,ecn=20K:100K:10%,"
                "lossless=150K:100K",
                "--pair=0:1,delay=%dms,rate=20M" % DELAY_MS,
                "--mbufs=8192", "--idle-sleep=20us",
            ]
            if have_ctl:
                from cats_ctl import CatsController
                port = free_tcp_port()
                ctl = CatsController(
                    controller, d, SERVICE_CONFIG,
                    listen="punix:" + os.path.join(d, "sw.sock"),
                    extra_args=["--grpc-listen=127.0.0.1:%d" % port,
                                "--agent-report-interval=%d"
                                % INTERVAL_MS])
                ctl.start()
                extra += ["--controller=127.0.0.1:%d" % port,
                          "--source-id=cats-gw-test",
                          "--report-interval=%dms" % INTERVAL_MS]
                agent = start_agent(build, d, port)
            gw = Gateway(gw_binary, d, extra)
            gw.start()

            # Delay.
            out = sh("ping", "-c", "10", "-i", "0.05", "-W", "2", IP_B,
                     ns=NS_A, check=False)
            m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)", out)
            if m:
                rtt_min, rtt_avg = float(m.group(1)), float(m.group(2))
                check(CHECKS[1], rtt_min >= 2 * DELAY_MS
                      and rtt_avg < 2 * DELAY_MS + 15,
                      "rtt min %.2f avg %.2f ms, want >= %d and < %d"
                      % (rtt_min, rtt_avg, 2 * DELAY_MS, 2 * DELAY_MS + 15))
                info("ping rtt min/avg %.2f/%.2f ms" % (rtt_min, rtt_avg))
            else:
                check(CHECKS[1], False, "ping: " + out.strip()[-200:])

            # Overload class 3 from A.
            rx = py(NS_B, RECEIVER, 4)
            lis = py(NS_A, PFC_LISTENER, VA, 4)
            wait_ready(rx)
            wait_ready(lis)
            tx = py(NS_A, SENDER, IP_B, 1.5)
            sent = int(tx.communicate(timeout=20)[0].strip() or 0)
            got = json.loads(rx.communicate(timeout=20)[0].strip()
                             .splitlines()[-1])
            pauses, xons = map(int, lis.communicate(timeout=20)[0].split())
            s0 = stats(0)
            c3 = s0["class3"]
            info("sent %d, received %d (%d CE); gateway class 3 on site-a: "
                 "%d admitted, %d marked, %d pauses, %d xon, drops %d "
                 "(headroom %d), depth_max %d; seen in A: %d pauses, %d xon"
                 % (sent, got["packets"], got["ce"], c3["packets"],
                    c3["ecn_marked"], c3["pause_tx"], c3["xon_tx"],
                    c3["drops"], c3["drop_headroom"], c3["depth_max"],
                    pauses, xons))
            check(CHECKS[2], got["ce"] > 0 and c3["ecn_marked"] > 0
                  and got["ce"] <= c3["ecn_marked"],
                  "receiver CE %d, gateway marked %d"
                  % (got["ce"], c3["ecn_marked"]))
            check(CHECKS[3], c3["pause_tx"] > 0 and pauses > 0
                  and s0["pfc_frames_tx"] >= c3["pause_tx"],
                  "gateway pause_tx %d, frames %d, seen in A %d"
                  % (c3["pause_tx"], s0["pfc_frames_tx"], pauses))
            others = sum(v for k, v in c3.items()
                         if k.startswith("drop_") and k != "drop_headroom")
            check(CHECKS[4], c3["drop_headroom"] > 0 and others == 0
                  and c3["drops"] == c3["drop_headroom"]
                  and c3["depth_max"] <= 300 * 1024,
                  "drops %d, headroom %d, other reasons %d, depth_max %d"
                  % (c3["drops"], c3["drop_headroom"], others,
                     c3["depth_max"]))

            # Pauses from B, then a storm, then a global PAUSE.
            sh("/usr/bin/python3", "-c", PFC_SENDER, VB, "pfc", 3, 0.01,
               ns=NS_B)
            time.sleep(0.1)
            s1 = stats(1)["class3"]
            check(CHECKS[5], s1["pause_rx"] >= 3 and s1["rx_paused_us"] > 0,
                  "pause_rx %d, rx_paused_us %d"
                  % (s1["pause_rx"], s1["rx_paused_us"]))

            # While B keeps pausing priority 3 (6 pauses 10 ms apart, each
            # 33.5 ms at 1 Gb/s: held about 85 ms, below the 100 ms
            # watchdog), pings marked DSCP 26 wait; unmarked ones do not.
            def rtts(tos):
                pauser = subprocess.Popen(
                    ["ip", "netns", "exec", NS_B, "/usr/bin/python3", "-c",
                     PFC_SENDER, VB, "pfc", "6", "0.01"],
                    stdout=subprocess.PIPE, text=True)
                pauser.stdout.readline()        # The first one is out.
                out = sh("ping", "-c", "3", "-i", "0.01", "-W", "2", "-Q",
                         tos, IP_B, ns=NS_A, check=False)
                pauser.wait(timeout=10)
                time.sleep(0.15)
                m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)", out)
                return float(m.group(3)) if m else -1.0
            held, unheld = rtts(26 << 2), rtts(0)
            check(CHECKS[6], held >= 2 * DELAY_MS + 20
                  and 0 < unheld < held - 15,
                  "max rtt %.1f ms with DSCP 26, %.1f ms with DSCP 0"
                  % (held, unheld))
            info("max ping rtt while B pauses priority 3: %.1f ms (DSCP "
                 "26), %.1f ms (DSCP 0)" % (held, unheld))

            sh("/usr/bin/python3", "-c", PFC_SENDER, VB, "pfc", 30, 0.01,
               ns=NS_B)
            time.sleep(0.05)
            s1 = stats(1)["class3"]
            check(CHECKS[7], s1["storms"] >= 1,
                  "storms %d, storm %d, rx_paused_us %d"
                  % (s1["storms"], s1["storm"], s1["rx_paused_us"]))
            sh("/usr/bin/python3", "-c", PFC_SENDER, VB, "pause", 1, 0,
               ns=NS_B)
            time.sleep(0.1)
            p1 = stats(1)
            check(CHECKS[8], p1["pfc_rx_invalid_global_pause"] == 1,
                  "pfc_rx_invalid_global_pause %d"
                  % p1["pfc_rx_invalid_global_pause"])

            # The telemetry tool itself: every command answers.
            ports, info_, push = telemetry("/cats_gw/ports", "/cats_gw/info",
                                           "/cats_gw/push")
            check(CHECKS[9], ports["0"]["name"] == "site-a"
                  and ports["1"]["lossless_classes"] == 8
                  and info_["ports"] == 2 and "state" in push
                  and "class7" in stats(0),
                  "ports %s info %s" % (ports, info_))

            # The controller.
            if not ctl:
                for c in CHECKS[10:]:
                    reported[c] = None
                    skip(c, "cats-controller not built")
            else:
                text, ok = "", False
                t0 = time.monotonic()
                while time.monotonic() - t0 < 10 and not ok:
                    text = ctl.appctl("cats/telemetry")
                    m = re.search(r"site-a:site-b path tx_packets=(\d+) "
                                  r"ecn_marked=(\d+) drops=(\d+).*"
                                  r"pfc3\(rx=(\d+),tx=(\d+)", text)
                    ok = ("source cats-gw-test" in text and m is not None
                          and int(m.group(2)) > 0 and int(m.group(5)) > 0)
                    if not ok:
                        time.sleep(0.3)
                info(text.strip())
                check(CHECKS[10], ok, "cats/telemetry: " + text.strip()[-400:]
                      + " push: %s" % push)
                if agent:
                    storm_checks(ctl, check)
                else:
                    for c in (STORM_CHECK, RESTORE_CHECK):
                        reported[c] = None
                        skip(c, "cats-agent not built")
        except Exception as e:  # noqa: B902 (report, then clean up)
            info("error: %s" % e)
            if gw:
                info("cats-gw log:\n" + gw.tail())
        finally:
            if gw:
                gw.stop()
            kill_pid(agent_pid(d))
            if ctl:
                ctl.cleanup()
            topo.down()
            # EAL leaves its runtime directories behind (12 MB of tmpfs
            # each with --no-huge).
            for prefix in (PREFIX, PREFIX + "-cfg"):
                shutil.rmtree(os.path.join("/var/run/dpdk", prefix),
                              ignore_errors=True)
        for c in CHECKS:
            if c not in reported:
                result(c, False, "not reached")
    return 1 if any(reported.get(c) is False or c not in reported
                    for c in CHECKS) else 0


if __name__ == "__main__":
    sys.exit(main())

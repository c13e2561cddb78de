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
    API (cats/telemetry);
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

from catslib import result, skip, info, TempDir, REPO, sh

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
]

PID = os.getpid()
NS_A, NS_B = "catsgw-a-%d" % PID, "catsgw-b-%d" % PID
# Interface names: 15 characters at most.
VA, GA = "cgwva%d" % (PID % 100000), "cgwga%d" % (PID % 100000)
VB, GB = "cgwvb%d" % (PID % 100000), "cgwgb%d" % (PID % 100000)
IP_A, IP_B = "10.199.0.1", "10.199.0.2"
PREFIX = "cats-gw-test-%d" % PID
DELAY_MS = 5

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

    def check(name, ok, detail=""):
        reported[name] = ok
        result(name, ok, detail)

    topo = Topology()
    gw = None
    ctl = None
    with TempDir(keep=args.keep, prefix="cats-gw-it-") as d:
        try:
            bad = config_errors(gw_binary)
            check(CHECKS[0], not bad, "; ".join(bad))

            topo.up()
            have_ctl = os.access(controller, os.X_OK)
            extra = [
                "--port=0,name=site-a,speed=1G,trust=dscp",
                "--port=1,name=site-b,speed=1G,trust=dscp,watchdog=100ms,"
                "restore=100ms",
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
                    controller, d, "",
                    listen="punix:" + os.path.join(d, "sw.sock"),
                    extra_args=["--grpc-listen=127.0.0.1:%d" % port,
                                "--agent-report-interval=200"])
                ctl.start()
                extra += ["--controller=127.0.0.1:%d" % port,
                          "--source-id=cats-gw-test",
                          "--report-interval=200ms"]
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
                reported[CHECKS[10]] = None
                skip(CHECKS[10], "cats-controller not built")
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
        except Exception as e:  # noqa: B902 (report, then clean up)
            info("error: %s" % e)
            if gw:
                info("cats-gw log:\n" + gw.tail())
        finally:
            if gw:
                gw.stop()
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

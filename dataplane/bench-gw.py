#!/usr/bin/python3
"""make bench-gw: cats-gw against dpdk-testpmd's io forwarding.

Both run the same way, one after the other, in alternating rounds: two
net_null ports, 64-byte frames, 16384 packet buffers, one forwarding lcore
on the same CPU (the less busy one when the round starts: this machine is
shared), the other lcore idle.  Each is warmed up, then measured for the
same time by reading both ports' transmitted packets twice through DPDK's
telemetry socket (/ethdev/stats, which both applications serve).

cats-gw runs with ECN marking and PFC enabled on class 3 of both ports
(Kmin 20 KB, Kmax 100 KB, Pmax 1 %; XOFF 300 KB, XON 200 KB), no delay and
no rate limit.  net_null delivers its buffers as they are, so
--bench-prefill writes a VLAN PCP 3, DSCP 26, ECT(0) UDP/IPv4 frame into
every buffer first: every packet is parsed, classified to class 3 and goes
through the ECN law and the PFC checks.  (Queues stay below Kmin here, as
on a healthy link: nothing is marked and no pause is sent.)

This machine is shared: other work takes the forwarding CPU for part of
the time, more in one run than in the next.  So packets are counted per
second that the forwarding thread actually ran (its run time from
/proc/PID/task/TID/schedstat), which is the rate of one core that is
wholly ours; the wall-clock rate and the share of time the thread ran are
printed for every round too.  The last line is

    gw: mpps=<ours> testpmd_mpps=<theirs> ratio=<ours/theirs> \
        cycles_per_pkt=<n>   (one line)

with the median over the rounds of each, and cycles_per_pkt the TSC
cycles of the forwarding core per packet that cats-gw forwarded.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

TEL_DIR = "/var/run/dpdk"
EAL = ["--no-huge", "-m", "1024", "--no-pci", "--vdev=net_null0",
       "--vdev=net_null1", "--log-level=lib.eal:error"]
GW_OPTS = ["--bench-prefill", "--mbufs=16384",
           "--class=0:3,ecn=20K:100K:1%,lossless=300K:200K,queue=1M",
           "--class=1:3,ecn=20K:100K:1%,lossless=300K:200K,queue=1M"]
TESTPMD_OPTS = ["--total-num-mbufs=16384", "--forward-mode=io", "-a",
                "--stats-period=3600", "--burst=32", "--nb-cores=1",
                "--txd=1024", "--rxd=1024"]


class Telemetry:
    """DPDK's v2 telemetry socket of one process."""

    def __init__(self, prefix, proc, timeout=20.0):
        path = os.path.join(TEL_DIR, prefix, "dpdk_telemetry.v2")
        t0 = time.monotonic()
        while True:
            if proc.poll() is not None:
                raise RuntimeError("exited with status %d before its "
                                   "telemetry socket appeared"
                                   % proc.returncode)
            try:
                self.sock = socket.socket(socket.AF_UNIX,
                                          socket.SOCK_SEQPACKET)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() - t0 > timeout:
                    raise RuntimeError("no telemetry socket %s" % path)
                time.sleep(0.1)
        self.max_len = json.loads(self.sock.recv(1024))["max_output_len"]

    def get(self, cmd):
        self.sock.send(cmd.encode())
        reply = json.loads(self.sock.recv(self.max_len))
        return reply[cmd.split(",")[0]]

    def wait_for(self, cmd, timeout=20.0):
        """Until 'cmd' is registered (the application is up)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if cmd in self.get("/"):
                return
            time.sleep(0.1)
        raise RuntimeError("%s never appeared" % cmd)

    def opackets(self, ports=(0, 1)):
        return sum(self.get("/ethdev/stats,%d" % p)["opackets"]
                   for p in ports)

    def close(self):
        self.sock.close()


def cpu_busy():
    """Per CPU busy fraction over 0.5 s, from /proc/stat."""
    def read():
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3].isdigit():
                    v = [int(x) for x in line.split()[1:]]
                    out[int(line[3:line.index(" ")])] = (v[3] + v[4],
                                                         sum(v))
        return out
    a = read()
    time.sleep(0.5)
    b = read()
    return {c: 1.0 - (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1])
            for c in a}


class Sample:
    def __init__(self, packets, wall_s, cpu_s):
        self.packets = packets
        self.wall_s = wall_s
        self.cpu_s = cpu_s

    def mpps_wall(self):
        return self.packets / self.wall_s / 1e6

    def mpps_cpu(self):
        """Per second that the forwarding thread actually ran."""
        return self.packets / max(self.cpu_s, 1e-9) / 1e6


def worker_tid(pid, lcore):
    """The thread of EAL's worker 'lcore' in process 'pid'."""
    want = "rte-worker-%d" % lcore
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == want:
                return int(tid)
    raise RuntimeError("no thread %s in process %d" % (want, pid))


def run_ns(pid, tid):
    """Time thread 'tid' has spent on a CPU, ns (schedstat)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
        return int(f.read().split()[0])


def run_one(name, argv, prefix, fwd_lcore, warmup, seconds, ready_cmd):
    """Start 'argv', wait until it forwards, measure, stop.  Returns
    (Sample, telemetry extras)."""
    log = open("/tmp/bench-gw-%s.log" % name, "w")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)
    tel = None
    try:
        tel = Telemetry(prefix, proc)
        tel.wait_for(ready_cmd)
        tid = worker_tid(proc.pid, fwd_lcore)
        time.sleep(warmup)
        t0, c0, p0 = time.monotonic(), run_ns(proc.pid, tid), tel.opackets()
        time.sleep(seconds)
        t1, c1, p1 = time.monotonic(), run_ns(proc.pid, tid), tel.opackets()
        extra = tel.get("/cats_gw/info") if name == "cats-gw" else {}
        return Sample(p1 - p0, t1 - t0, (c1 - c0) / 1e9), extra
    finally:
        if tel:
            tel.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        # EAL leaves its runtime directory behind, 12 MB of tmpfs with
        # --no-huge.
        shutil.rmtree(os.path.join(TEL_DIR, prefix), ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gw", default="build/cats-gw")
    ap.add_argument("--testpmd", default="dpdk-testpmd")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("bench-gw: needs root (DPDK)")
    testpmd = shutil.which(args.testpmd)
    if not testpmd or not os.access(args.gw, os.X_OK):
        sys.exit("bench-gw: needs %s and %s (make deps; make)"
                 % (args.testpmd, args.gw))

    ours, theirs, hz = [], [], None
    for r in range(args.rounds):
        busy = cpu_busy()
        if len(busy) < 2:
            sys.exit("bench-gw: needs 2 CPUs")
        fwd = min(busy, key=busy.get)
        main_cpu = max((c for c in busy if c != fwd), key=busy.get)
        lcores = ["-l", "%d,%d" % (main_cpu, fwd),
                  "--main-lcore=%d" % main_cpu]
        prefix = "bench-gw-%d-%d" % (os.getpid(), r)

        tp, _ = run_one("testpmd", [testpmd] + EAL + lcores
                        + ["--file-prefix=%s-tp" % prefix, "--"]
                        + TESTPMD_OPTS, prefix + "-tp", fwd, args.warmup,
                        args.seconds, "/ethdev/stats")
        gw, info = run_one("cats-gw", [args.gw] + EAL + lcores
                           + ["--file-prefix=%s-gw" % prefix, "--"]
                           + GW_OPTS, prefix + "-gw", fwd, args.warmup,
                           args.seconds, "/cats_gw/stats")
        theirs.append(tp)
        ours.append(gw)
        hz = info.get("tsc_hz", hz)
        print("round %d, CPU %d (%.0f%% busy before): testpmd %.2f Mpps "
              "(%.2f per CPU-second, ran %.0f%%), cats-gw %.2f Mpps (%.2f "
              "per CPU-second, ran %.0f%%)"
              % (r + 1, fwd, busy[fwd] * 100, tp.mpps_wall(), tp.mpps_cpu(),
                 tp.cpu_s / tp.wall_s * 100, gw.mpps_wall(), gw.mpps_cpu(),
                 gw.cpu_s / gw.wall_s * 100), flush=True)

    med_ours = statistics.median(s.mpps_cpu() for s in ours)
    med_theirs = statistics.median(s.mpps_cpu() for s in theirs)
    cycles = hz / (med_ours * 1e6) if hz else 0
    print("gw: mpps=%.2f testpmd_mpps=%.2f ratio=%.2f cycles_per_pkt=%.0f"
          % (med_ours, med_theirs, med_ours / med_theirs, cycles))


if __name__ == "__main__":
    main()

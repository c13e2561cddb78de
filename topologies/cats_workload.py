"""The workload of a CATS site: cats-serve and cats-agent on the instance
hosts, cats-load on the clients, and what they and the controller say.

    from cats_topo import CatsSite
    from cats_workload import Workload, grpc_args
    wl = Workload(site, workdir)               # build/ by default
    ctl = CatsController(..., extra_args=grpc_args(workdir))
    wl.start_instance(host, ip, slots=4, speed=1)   # cats-serve + agent
    load = wl.start_load(site.clients[0], rate=200, duration=10)
    wl.set_speed("i1", 20)                     # the control socket
    summary = load.wait()                      # cats-load --json
    shares = per_second(load.samples(), names, start, end)
    wl.stop()

Every process is started in its Mininet host through site.popen(), so
the site kills it by PID when it stops (errors and signals included);
Workload.stop() ends them earlier, also by PID.  Sockets and logs go to
the work directory:

    WORKDIR/grpc.sock          the controller's agent API
                               (--grpc-listen=unix:..., see grpc_args())
    WORKDIR/agent-NAME.app     the agent's app socket: cats-serve's
                               --report goes there
    WORKDIR/agent-NAME.ctl     the agent's unixctl (agent/show)
    WORKDIR/serve-NAME.ctl     cats-serve's control socket (speed, stats)
    WORKDIR/*.log, load-HOST-N.samples

Unix sockets live in the file system, which Mininet hosts share: the
controller, the agents and this module reach each other's sockets from
any namespace.  Only TCP traffic (cats-load to the VIP) crosses the
bridge.
"""

import json
import os
import re
import socket
import subprocess
import time

from cats_site import BUILD, kill_pid

SERVICE = "web"


def grpc_sock(workdir):
    return os.path.join(workdir, "grpc.sock")


def grpc_args(workdir, interval_ms=250, lease_ms=None):
    """cats-controller options for the agent API on WORKDIR/grpc.sock."""
    args = ["--grpc-listen=unix:" + grpc_sock(workdir),
            "--agent-report-interval=%d" % interval_ms]
    if lease_ms:
        args.append("--agent-lease=%d" % lease_ms)
    return args


TOOLS = ("cats-agent", "cats-serve", "cats-load")   # What this module runs.


class Instance:
    """One instance host: its cats-serve, its agent, their paths."""

    def __init__(self, host, ip, port, slots, speed, service_time):
        self.host = host
        self.name = host.name
        self.ip = ip
        self.port = port
        self.addr = "%s:%d" % (ip, port)
        self.slots = slots
        self.speed = speed
        self.service_time = service_time
        self.serve = None          # Popen
        self.agent = None          # Popen
        self.serve_ctl = None
        self.agent_ctl = None
        self.app_sock = None
        self.agent_log = None
        self.serve_log = None


# What the agents on emulated hosts say about their node's CPU.  Mininet
# hosts are network namespaces on one machine: they share its CPUs and
# its /proc/stat, so a cats-agent there reports the whole machine's CPU
# utilization (this demo, the tests, and whatever else the machine runs)
# as its node's, the same for every instance.  An instance's capacity
# here is cats-serve's slots and speed (it waits on timers, it does not
# burn CPU), so that number says nothing about any instance; yet the
# controller's score takes the most loaded resource, and at 95% CPU it
# caps every instance's weight at 5% of its base, flattening the split.
# NODE_CPU_NONE runs each agent in a mount namespace of its own with a
# frozen copy of /proc/stat bound over it (what LXCFS does for
# containers, minus the accounting): its counters never move, so the
# agent reports no CPU utilization, and the instances' own load decides.
# NODE_CPU_SHARED leaves /proc/stat alone.
NODE_CPU_NONE = "none"
NODE_CPU_SHARED = "shared"


class Workload:
    def __init__(self, site, workdir, build_dir=BUILD, service=SERVICE,
                 port=None, interval_ms=250, node_cpu=NODE_CPU_NONE,
                 extra_services=()):
        if node_cpu not in (NODE_CPU_NONE, NODE_CPU_SHARED):
            raise ValueError("node_cpu: %r" % node_cpu)
        self.node_cpu = node_cpu
        self.site = site
        self.workdir = os.path.abspath(workdir)
        self.build = os.path.abspath(build_dir)
        self.service = service
        # More services on the same instance addresses: each agent
        # registers its instance for them too (with no load lines of
        # their own: cats-serve reports for 'service').
        self.extra_services = list(extra_services)
        self.port = port or site.service_port
        self.interval_ms = interval_ms
        self.instances = {}        # name -> Instance, in start order
        self.loads = []
        self._files = []           # log file objects to close

    def _bin(self, name):
        path = os.path.join(self.build, name)
        if not os.access(path, os.X_OK):
            raise RuntimeError("%s is not built (make)" % path)
        return path

    def _log(self, name):
        path = os.path.join(self.workdir, name)
        f = open(path, "w")
        self._files.append(f)
        return path, f

    # -- instances ----------------------------------------------------------
    def start_instance(self, host, ip, slots=4, speed=1.0,
                       service_time="fixed:10", agent=True):
        """cats-serve on host (ip:port), reporting to a cats-agent on the
        same host (unless agent=False).  Returns the Instance once the
        server answers its control socket."""
        inst = Instance(host, ip, self.port, slots, speed, service_time)
        d = self.workdir
        inst.app_sock = os.path.join(d, "agent-%s.app" % inst.name)
        inst.agent_ctl = os.path.join(d, "agent-%s.ctl" % inst.name)
        inst.serve_ctl = os.path.join(d, "serve-%s.ctl" % inst.name)
        self.instances[inst.name] = inst
        if agent:
            self.start_agent(inst)
        self.start_serve(inst, report=agent)
        return inst

    def start_agent(self, inst):
        inst.agent_log = os.path.join(self.workdir,
                                      "agent-%s.log" % inst.name)
        argv = [self._bin("cats-agent"),
                "--controller=unix:" + grpc_sock(self.workdir),
                "--node-id=" + inst.name]
        argv += ["--instance=%s,%s,capacity=%d" % (svc, inst.addr, inst.slots)
                 for svc in [self.service] + self.extra_services]
        argv += ["--app-socket=" + inst.app_sock,
                 "--interval=%d" % self.interval_ms,
                 "--unixctl=" + inst.agent_ctl,
                 "--log-file=" + inst.agent_log, "-vconsole:off"]
        if self.node_cpu == NODE_CPU_NONE:
            # unshare and sh exec: the PID is the agent's.
            frozen = os.path.join(self.workdir, "agent-%s.stat" % inst.name)
            argv = ["unshare", "--mount", "--propagation", "private",
                    "sh", "-ec", 'cp /proc/stat "$0" && '
                    'mount --bind "$0" /proc/stat && exec "$@"',
                    frozen] + argv
        inst.agent = self.site.popen(inst.host, argv,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        # The app socket must exist before cats-serve reports to it (a
        # report to a missing socket is only counted, but the first ones
        # would be lost).
        end = time.monotonic() + 10
        while not os.path.exists(inst.app_sock):
            if inst.agent.poll() is not None or time.monotonic() > end:
                raise RuntimeError("cats-agent on %s did not start: %s"
                                   % (inst.name, tail(inst.agent_log)))
            time.sleep(0.02)
        return inst.agent

    def start_serve(self, inst, report=True):
        inst.serve_log, f = self._log("serve-%s.log" % inst.name)
        argv = [self._bin("cats-serve"), "--listen=" + inst.addr,
                "--name=" + inst.name, "--slots=%d" % inst.slots,
                "--service-time=" + inst.service_time,
                "--speed=%g" % inst.speed, "--control=" + inst.serve_ctl,
                "--service=" + self.service, "--instance=" + inst.addr]
        if report:
            argv.append("--report=" + inst.app_sock)
        inst.serve = self.site.popen(inst.host, argv, stdout=f,
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while True:
            try:
                self.control(inst.name, "stats", timeout=1)
                break
            except OSError:
                if inst.serve.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("cats-serve on %s did not start: %s"
                                       % (inst.name, tail(inst.serve_log)))
                time.sleep(0.02)
        return inst.serve

    def kill_agent(self, name):
        inst = self.instances[name]
        if inst.agent:
            self._end(inst.agent)
            inst.agent = None

    def kill_serve(self, name):
        inst = self.instances[name]
        if inst.serve:
            self._end(inst.serve)
            inst.serve = None

    # -- talking to them ------------------------------------------------------
    def control(self, name, line, timeout=2.0):
        """One command on cats-serve's control socket; its reply line.
        Raises OSError when nobody answers, RuntimeError on ERR."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.instances[name].serve_ctl)
            s.sendall(line.encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        reply = buf.decode(errors="replace").strip()
        if not reply.startswith("OK"):
            raise RuntimeError("cats-serve %s: %s: %s" % (name, line,
                                                           reply or "EOF"))
        return reply

    def serve_stats(self, name):
        """cats-serve's counters: {key: int, float or str}."""
        return parse_kv(self.control(name, "stats")[2:])

    def all_stats(self):
        """{name: stats} of every server that answers."""
        res = {}
        for name in self.instances:
            try:
                res[name] = self.serve_stats(name)
            except (OSError, RuntimeError):
                pass
        return res

    def set_speed(self, name, speed):
        self.control(name, "speed %g" % speed)
        self.instances[name].speed = speed

    def agent_show(self, name):
        p = subprocess.run(["ovs-appctl", "-t",
                            self.instances[name].agent_ctl, "agent/show"],
                           capture_output=True, text=True, timeout=10)
        return p.stdout or p.stderr

    # -- clients -----------------------------------------------------------
    def start_load(self, host, rate, duration, seed=1, timeout_ms=5000,
                   samples=True, progress=True, extra=()):
        """cats-load from host to the VIP, open loop (Poisson), one new
        connection per request.  Returns a Load."""
        n = len(self.loads) + 1
        path = None
        if samples:
            path = os.path.join(self.workdir, "load-%s-%d.samples"
                                % (host.name, n))
        argv = [self._bin("cats-load"),
                "--target=%s:%d" % (self.site.vip, self.port),
                "--rate=%g" % rate, "--duration=%g" % duration,
                "--seed=%d" % seed, "--timeout=%d" % timeout_ms, "--json"]
        if progress:
            argv.append("--progress")
        if path:
            argv.append("--samples=" + path)
        argv += list(extra)
        t = time.monotonic()
        p = self.site.popen(host, argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
        ld = Load(self, host, p, path, t)
        self.loads.append(ld)
        return ld

    # -- the end -------------------------------------------------------------
    def _end(self, p):
        if p.poll() is None:
            kill_pid(p.pid)
        try:
            p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.site.forget(p)

    def stop(self):
        """Loads, servers, agents: by PID.  Idempotent."""
        for ld in self.loads:
            if ld.proc.poll() is None:
                self._end(ld.proc)
        for inst in self.instances.values():
            for p in (inst.serve, inst.agent):
                if p is not None:
                    self._end(p)
            inst.serve = inst.agent = None
        for f in self._files:
            f.close()
        self._files = []


class Load:
    """A running cats-load.  Its stderr progress lines are read without
    blocking (poll()); its --json summary comes with wait()."""

    RE_PROG = re.compile(r"\[\s*([\d.]+)s\] sent (\d+) ok (\d+) err (\d+) "
                         r"inflight (\d+) \| ms p50 ([\d.]+) p99 ([\d.]+) "
                         r"p99.9 ([\d.]+) max ([\d.]+)")

    def __init__(self, wl, host, proc, samples_path, t_launch):
        self.wl = wl
        self.host = host
        self.proc = proc
        self.samples_path = samples_path
        self.t_launch = t_launch
        self.t0 = None           # its clock's start, on time.monotonic()
        self.summary = None
        self._buf = b""
        self._fd = proc.stderr.fileno()
        os.set_blocking(self._fd, False)
        self.progress = []       # every progress dict so far

    def poll(self):
        """New progress lines: [{"t", "sent", "ok", "err", "inflight",
        "p50", "p99", "p999", "max"}], each stamped with "at" (monotonic)
        and the estimate of the load's start (self.t0) refined."""
        now = time.monotonic()
        new = []
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._buf += chunk
        while b"\n" in self._buf:
            ln, self._buf = self._buf.split(b"\n", 1)
            m = self.RE_PROG.search(ln.decode(errors="replace"))
            if not m:
                continue
            d = {"t": float(m.group(1)), "sent": int(m.group(2)),
                 "ok": int(m.group(3)), "err": int(m.group(4)),
                 "inflight": int(m.group(5)), "p50": float(m.group(6)),
                 "p99": float(m.group(7)), "p999": float(m.group(8)),
                 "max": float(m.group(9)), "at": now}
            # The line was printed at t0 + t and read at `now` or earlier:
            # the smallest difference is the best (and an upper) bound.
            est = now - d["t"]
            self.t0 = est if self.t0 is None else min(self.t0, est)
            new.append(d)
        self.progress += new
        return new

    def start_time(self):
        """Its clock's start on time.monotonic(): from the progress lines
        when there are some, else the launch time."""
        return self.t0 if self.t0 is not None else self.t_launch

    def stop(self):
        """SIGTERM: stop sending; open requests get a second to end."""
        if self.proc.poll() is None:
            import signal
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout=60):
        """The --json summary (dict).  Raises RuntimeError when it gives
        none."""
        self.poll()
        os.set_blocking(self._fd, True)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.wl._end(self.proc)
            out, _ = self.proc.communicate()
        self.wl.site.forget(self.proc)
        self.summary = parse_load_json(out)
        if self.summary is None:
            raise RuntimeError("cats-load on %s gave no summary (rc %s): %r"
                               % (self.host.name, self.proc.returncode,
                                  out[-300:]))
        return self.summary

    def samples(self):
        """[(sched_s, latency_ms, status, instance)] on the load's own
        clock, in completion order."""
        return read_samples(self.samples_path)


# -- parsers ------------------------------------------------------------------
def parse_kv(text):
    """'a=1 b=2.5 c=x' -> {"a": 1, "b": 2.5, "c": "x"}"""
    res = {}
    for word in text.split():
        k, eq, v = word.partition("=")
        if not eq:
            continue
        try:
            res[k] = int(v)
        except ValueError:
            try:
                res[k] = float(v)
            except ValueError:
                res[k] = v
    return res


def parse_load_json(text):
    """cats-load --json's summary: the last line that is a JSON object."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    for ln in reversed((text or "").strip().splitlines()):
        ln = ln.strip()
        if ln.startswith("{"):
            try:
                return json.loads(ln)
            except ValueError:
                return None
    return None


def read_samples(path):
    res = []
    try:
        f = open(path)
    except (OSError, TypeError):
        return res
    with f:
        for ln in f:
            if ln.startswith("#"):
                continue
            w = ln.split()
            if len(w) < 4:
                continue
            try:
                res.append((int(w[0]) / 1e6, int(w[1]) / 1e3, w[2], w[3]))
            except ValueError:
                continue
    return res


RE_AGENT_NODE = re.compile(r"^node (\S+) ", re.M)
RE_AGENT_INST = re.compile(
    r"^  (\S+) ([\d.]+:\d+) lease=(\S+) \((-?\d+) ms left\) health=(\S+) "
    r"capacity=(\d+)(.*)\n    smoothed:(.*)$", re.M)


def parse_agents(text, service=None):
    """cats/agents (only 'service''s instances, when given) ->
    {"IP:PORT": {"service", "lease", "health",
    "capacity", "weight", "base_weight", "l2", "occupancy", "delay",
    "computing", plus every smoothed metric by its cats.proto name
    (requests_in_flight, queue_depth, latency_ms, cpu_utilization, ...),
    with requests_in_flight and queue_depth also as in_flight and
    queue}}.  Absent values are absent keys."""
    res = {}
    for m in RE_AGENT_INST.finditer(text or ""):
        if service is not None and m.group(1) != service:
            continue
        d = {"service": m.group(1), "lease": m.group(3),
             "lease_left_ms": int(m.group(4)), "health": m.group(5),
             "capacity": int(m.group(6))}
        rest = m.group(7)
        w = re.search(r"weight=(\d+)/(\d+)", rest)
        if w:
            d["weight"], d["base_weight"] = int(w.group(1)), int(w.group(2))
        for k, v in re.findall(r"\b(l2|computing|occupancy|delay)=([\d.]+)",
                               rest):
            d[k] = float(v)
        for k, v in parse_kv(m.group(8)).items():
            d[k] = v
        # The controller names metrics as cats.proto does; the agent's app
        # lines (and cats-serve) say in_flight and queue.
        for short, long_ in (("in_flight", "requests_in_flight"),
                             ("queue", "queue_depth")):
            if long_ in d:
                d[short] = d[long_]
        res[m.group(2)] = d
    return res


def agent_nodes(text):
    return set(RE_AGENT_NODE.findall(text or ""))


RE_SERVICES = re.compile(r"instance (\S+) weight=(\d+) slots=(\d+)/(\d+) "
                         r"intended=([\d.]+)% new_conns=(\d+)")


def parse_services(text):
    """cats/services -> {"IP:PORT": {"weight", "slots", "intended",
    "new_conns"}}"""
    res = {}
    for m in RE_SERVICES.finditer(text or ""):
        res[m.group(1)] = {"weight": int(m.group(2)),
                           "slots": int(m.group(3)),
                           "intended": float(m.group(5)),
                           "new_conns": int(m.group(6))}
    return res


RE_TEL_SOURCE = re.compile(r"^source (\S+) ", re.M)
RE_TEL_LINK = re.compile(r"^  (\S+) (path|link) (.*)$", re.M)


def parse_telemetry(text):
    """cats/telemetry -> {"LINK": {"kind", "source", "tx_packets",
    "ecn_marked", "drops", "ecn_fraction"?, "pfc": {prio: (rx, tx,
    paused_for_us)}}}.  Empty when no telemetry source reports."""
    res = {}
    src = None
    for ln in (text or "").splitlines():
        m = RE_TEL_SOURCE.match(ln)
        if m:
            src = m.group(1)
            continue
        m = RE_TEL_LINK.match(ln)
        if not m:
            continue
        d = {"kind": m.group(2), "source": src, "pfc": {}}
        rest = m.group(3)
        for k, v in parse_kv(re.sub(r"pfc\d+\([^)]*\)", "", rest)).items():
            d[k] = v
        for p, rx, tx, us in re.findall(
                r"pfc(\d+)\(rx=(\d+),tx=(\d+),paused_for_us=(\d+)\)", rest):
            d["pfc"][int(p)] = (int(rx), int(tx), int(us))
        res["%s/%s" % (src, m.group(1))] = d
    return res


# -- numbers ------------------------------------------------------------------
def percentile(values, q):
    """The q-th percentile (0-100) of values, nearest rank; None if
    empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-q * len(v) // 100)) - 1))
    return v[k]


def per_second(samples, names, start, end):
    """New connections per instance in each whole second [start + k,
    start + k + 1) before end, by their scheduled time (the load's clock):
    [(k, {name: count})].  Failed requests count for nobody."""
    n = max(0, int(end - start))
    bins = [dict((x, 0) for x in names) for _ in range(n)]
    for sched, _, status, inst in samples:
        k = int((sched - start) // 1)
        if 0 <= k < n and status == "ok" and inst in bins[k]:
            bins[k][inst] += 1
    return list(enumerate(bins))


def shares(counts):
    tot = sum(counts.values())
    return dict((k, (v / tot if tot else 0.0)) for k, v in counts.items())


def tail(path, n=10):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-n:]).strip()
    except (OSError, TypeError):
        return "(no log)"

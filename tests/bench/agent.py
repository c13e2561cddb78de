#!/usr/bin/python3
"""bench-agent: how many load reports per second the controller's agent API
ingests, at what CPU cost and ingest latency.

One run:
  1. a private cats-controller (temporary directory, a free port, the
     catalog `service bench vip=10.99.0.1 port=80`), gRPC on 127.0.0.1;
  2. agent-load registers BENCH_STREAMS nodes over BENCH_CONNECTIONS gRPC
     connections, opens one StreamReports stream per node and reports at
     BENCH_RATE Hz per stream, open loop, for BENCH_WARMUP s of warm-up and
     BENCH_DURATION s of measured window;
  3. at the window's edges (agent-load prints "window: start" and
     "window: end"): the CPU time of both processes (/proc/PID/stat), then
     cats/agent-stats-reset at the start and cats/agent-stats at the end.
The last line is

  agent: reports_per_s=N cpu_us_per_report=US p99_ingest_ms=MS streams=N

reports_per_s: reports the controller accepted per second of the window;
cpu_us_per_report: controller + load generator CPU over the window, per
accepted report; p99_ingest_ms: the controller's own measurement (gRPC
thread received -> applied in the metrics store); streams: streams still
open at the end of the window.  Nothing is clamped: when the machine cannot
offer or absorb the load, the numbers say so.

Baseline: before the controller, the same shape runs against grpc-floor
(tests/bench/grpc-floor.c: a gRPC core server that only unpacks each
report's seq and acks), so that what gRPC core and the kernel cost alone
is measured in the same run; its table comes first, then a line of
ratios (controller / floor).  BENCH_FLOOR=0 leaves it out.

The generator runs at nice BENCH_NICE (default 10; 0: the controller's
priority): on 2 cores shared by three busy threads, the scheduler's
fairness otherwise parks the controller's main loop for tens of
milliseconds behind the generator, which a controller on its own machine
would not see.  The generator's CPU still counts in cpu_us_per_report.

BENCH_CONTROLLER=PATH runs that cats-controller binary instead of the
build's (an A/B against another commit's build, in the same session).
BENCH_CTL_ARGS='--OPTION=VALUE ...' adds options to the controller's
command line (e.g. --agent-ack-interval=1000).
BENCH_SERVER='CMD {port}' runs another server instead of the controller
(e.g. the gRPC spike server): there is no agent-stats then, so
reports_per_s is what the load generator saw acked and p99_ingest_ms is
"na".  BENCH_PERF=loadgen|controller records `perf record -g` of that
process during the window and prints its top symbols.  BENCH_KEEP=1 keeps
the temporary directory (logs).
"""

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                os.pardir, os.pardir, "topologies"))

from cats_site import appctl  # noqa: E402

CLK_TCK = os.sysconf('SC_CLK_TCK')


def env_int(name, default, lo=1):
    v = os.environ.get(name, '')
    if not v:
        return default
    try:
        n = int(v)
    except ValueError:
        sys.exit('bench-agent: %s=%r is not an integer' % (name, v))
    if n < lo:
        sys.exit('bench-agent: %s must be at least %d' % (name, lo))
    return n


def env_float(name, default, lo=0.0):
    v = os.environ.get(name, '')
    if not v:
        return default
    try:
        x = float(v)
    except ValueError:
        sys.exit('bench-agent: %s=%r is not a number' % (name, v))
    if not x > lo:
        sys.exit('bench-agent: %s must be more than %g' % (name, lo))
    return x


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    """utime + stime of every thread of 'pid', in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rpartition(')')[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_seconds():
    """(busy, softirq, steal): CPU time all CPUs spent busy (not idle, not
    iowait), of it in softirq (the kernel's network receive path, which
    the tasks' own times leave out), and the time the hypervisor ran
    something else while this machine had work (steal), in seconds."""
    with open('/proc/stat') as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return ((sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK,
            fields[6] / CLK_TCK, fields[7] / CLK_TCK)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        if sep:
            out[key.strip()] = value.strip()
    return out


def stop(proc, timeout=5):
    """Ends 'proc' (one we started) by its PID: SIGTERM, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def tail(path, n=15):
    try:
        with open(path) as f:
            return ''.join(f.readlines()[-n:])
    except OSError:
        return ''


class Bench:
    def __init__(self, build_dir, server_cmd=None):
        self.build_dir = build_dir
        self.controller_bin = (os.environ.get('BENCH_CONTROLLER')
                               or os.path.join(build_dir, 'cats-controller'))
        self.generator = os.environ.get('BENCH_GENERATOR', 'h2')
        if self.generator not in ('grpc', 'h2'):
            sys.exit('bench-agent: BENCH_GENERATOR must be grpc or h2')
        self.agent_load_bin = os.path.join(build_dir, 'tests', 'bench',
                                           'agent-h2load'
                                           if self.generator == 'h2' else
                                           'agent-load')
        self.streams = env_int('BENCH_STREAMS', 10000)
        self.connections = env_int('BENCH_CONNECTIONS',
                                   min(1000, self.streams))
        self.rate = env_float('BENCH_RATE', 10.0)
        self.duration = env_float('BENCH_DURATION', 20.0)
        self.warmup = env_float('BENCH_WARMUP', 5.0, lo=-1e-9)
        self.threads = env_int('BENCH_THREADS', 1)
        self.max_inflight = env_int('BENCH_MAX_INFLIGHT', 32)
        self.nice = env_int('BENCH_NICE', 10, lo=0)
        self.instances = env_int('BENCH_INSTANCES', 1)
        self.per_instance = os.environ.get('BENCH_PER_INSTANCE') == '1'
        self.server_cmd = (server_cmd if server_cmd is not None
                           else os.environ.get('BENCH_SERVER', ''))
        self.ctl_args = os.environ.get('BENCH_CTL_ARGS', '').split()
        self.perf_target = os.environ.get('BENCH_PERF', '')
        if self.perf_target not in ('', 'loadgen', 'controller'):
            sys.exit('bench-agent: BENCH_PERF must be loadgen or controller')
        self.keep = os.environ.get('BENCH_KEEP') == '1'
        self.final = None
        self.result = None
        self.dir = None
        self.server = None
        self.loadgen = None
        self.perf = None

    # The server.

    def appctl(self, *args):
        return appctl(self.ctl, *args)

    def start_server(self):
        self.port = free_port()
        self.ctl = os.path.join(self.dir, 'ctl.sock')
        self.log = os.path.join(self.dir, 'ctl.log')
        out = open(os.path.join(self.dir, 'server.out'), 'w')
        if self.server_cmd:
            argv = self.server_cmd.format(port=self.port).split()
            self.log = out.name
        else:
            config = os.path.join(self.dir, 'cats.conf')
            with open(config, 'w') as f:
                f.write('service bench vip=10.99.0.1 port=80\n')
            interval = max(1, round(1000.0 / self.rate))
            argv = [self.controller_bin, '--config=' + config,
                    '--grpc-listen=127.0.0.1:%d' % self.port,
                    '--agent-report-interval=%d' % interval,
                    '--agent-lease=%d' % max(3000, 10 * interval),
                    '--unixctl=' + self.ctl, '--log-file=' + self.log,
                    '-vconsole:off',
                    'punix:' + os.path.join(self.dir, 'sw.sock')]
            argv[1:1] = self.ctl_args
        self.server = subprocess.Popen(argv, stdout=out,
                                       stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        out.close()

        deadline = time.monotonic() + 15
        while True:
            if self.server.poll() is not None:
                raise RuntimeError('server exited with status %d:\n%s'
                                   % (self.server.returncode,
                                      tail(self.log)))
            ready = self.server_cmd or os.path.exists(self.ctl)
            if ready:
                try:
                    socket.create_connection(('127.0.0.1', self.port),
                                             timeout=1).close()
                    return
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError('server not listening on port %d after '
                                   '15 s:\n%s' % (self.port,
                                                  tail(self.log)))
            time.sleep(0.05)

    # perf.

    def start_perf(self, pid):
        self.perf_data = os.path.join(self.dir, 'perf.data')
        self.perf = subprocess.Popen(
            ['perf', 'record', '-g', '-o', self.perf_data, '-p', str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish_perf(self):
        if not self.perf:
            return
        self.perf.send_signal(signal.SIGINT)
        try:
            self.perf.wait(30)
        except subprocess.TimeoutExpired:
            stop(self.perf)
        self.perf = None
        report = subprocess.run(
            ['perf', 'report', '-i', self.perf_data, '--no-children',
             '--stdio', '--sort', 'dso,symbol', '-g', 'none'],
            capture_output=True, text=True).stdout
        lines = [l for l in report.splitlines()
                 if l.strip() and not l.startswith('#')]
        kept = os.path.join(self.build_dir, 'bench-agent-perf.data')
        shutil.copy(self.perf_data, kept)
        print('perf (%s, window): top symbols, %s'
              % (self.perf_target, kept))
        for line in lines[:20]:
            print('  ' + ' '.join(line.split()[:4])[:100])

    # The run.

    def run(self, last_line=True):
        print('bench-agent: %d streams over %d connections at %g Hz = '
              '%.0f reports/s offered, %g s warm-up, %g s window, against '
              '%s'
              % (self.streams, self.connections, self.rate,
                 self.streams * self.rate, self.warmup, self.duration,
                 os.path.basename(self.server_cmd.split()[0])
                 if self.server_cmd else 'cats-controller'),
              flush=True)
        self.last_line = last_line
        self.final = None
        raise_nofile(2 * self.connections + 2048)
        self.dir = tempfile.mkdtemp(prefix='cats-bench-agent-')
        self.start_server()

        argv = [self.agent_load_bin, '--target=127.0.0.1:%d' % self.port,
                '--connections=%d' % self.connections,
                '--streams=%d' % self.streams, '--rate=%g' % self.rate,
                '--duration=%g' % self.duration,
                '--warmup=%g' % self.warmup,
                '--threads=%d' % self.threads,
                '--max-inflight=%d' % self.max_inflight,
                '--instances-per-node=%d' % self.instances]
        if self.per_instance:
            argv.append('--per-instance')
        if self.nice:
            argv[0:0] = ['nice', '-n', str(self.nice)]
        self.loadgen = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                        stdin=subprocess.DEVNULL, text=True,
                                        bufsize=1)
        srv_pid, lg_pid = self.server.pid, self.loadgen.pid
        start = end = None
        summary_lines = []
        for line in self.loadgen.stdout:
            line = line.rstrip('\n')
            if line == 'window: start':
                t0 = time.monotonic()
                c0, l0 = cpu_seconds(srv_pid), cpu_seconds(lg_pid)
                m0 = machine_seconds()
                if not self.server_cmd:
                    self.appctl('cats/agent-stats-reset')
                start = (t0, c0, l0, m0)
                if self.perf_target:
                    self.start_perf(srv_pid if self.perf_target ==
                                    'controller' else lg_pid)
            elif line == 'window: end':
                stats = {} if self.server_cmd else \
                    parse_kv(self.appctl('cats/agent-stats'))
                t1 = time.monotonic()
                c1, l1 = cpu_seconds(srv_pid), cpu_seconds(lg_pid)
                m1 = machine_seconds()
                end = (t1, c1, l1, m1, stats)
                self.finish_perf()
            else:
                summary_lines.append(line)
        rc = self.loadgen.wait()
        self.loadgen = None
        with open(os.path.join(self.dir, 'agent-load.out'), 'w') as f:
            f.write('\n'.join(summary_lines) + '\n')
        summary = parse_kv('\n'.join(summary_lines))
        if self.server.poll() is not None:
            raise RuntimeError('server died during the run (status %d):\n%s'
                               % (self.server.returncode, tail(self.log)))
        if start is None or end is None:
            raise RuntimeError('agent-load ended (status %d) without a '
                               'measured window' % rc)
        return self.report(start, end, summary, rc)

    def report(self, start, end, lg, rc):
        t0, c0, l0, m0 = start
        t1, c1, l1, m1, stats = end
        softirq = m1[1] - m0[1]
        steal = m1[2] - m0[2]
        others = max(0.0, (m1[0] - m0[0]) - (c1 - c0) - (l1 - l0) - softirq
                     - steal)
        window = t1 - t0
        ctl_cpu, lg_cpu = c1 - c0, l1 - l0
        ncpu = os.cpu_count() or 1
        srv = 'server' if self.server_cmd else 'controller'

        def num(d, key, default=0.0):
            try:
                return float(d[key])
            except (KeyError, ValueError):
                return default

        if self.server_cmd:
            accepted = num(lg, 'reports_acked')
            rejected = num(lg, 'reports_rejected')
            p50 = p99 = pmax = 'na'
        else:
            accepted = num(stats, 'reports_accepted')
            rejected = num(stats, 'reports_rejected')
            p50 = stats.get('ingest_p50_ms', 'na')
            p99 = stats.get('ingest_p99_ms', 'na')
            pmax = stats.get('ingest_max_ms', 'na')
        # The count covers reset to read as the controller handled them:
        # divide by that span, on its clock.  The orchestrator's own window
        # also holds the two ovs-appctl round trips.
        ctl_window = num(stats, 'stats_window_s', window)
        per_s = accepted / ctl_window if ctl_window > 0 else 0.0
        total_cpu = ctl_cpu + lg_cpu
        us_per = ('%.1f' % (total_cpu * 1e6 / accepted) if accepted
                  else 'na')

        def us(cpu):
            return '%.1f' % (cpu * 1e6 / accepted) if accepted else 'na'

        def pct(cpu):
            return '%.0f%%' % (100.0 * cpu / window) if window > 0 else 'na'

        failed = ', '.join('%s %s' % (k[len('failed_calls_'):], v)
                           for k, v in lg.items()
                           if k.startswith('failed_calls_'))
        rows = [
            ('offered reports/s', '%.0f' % (self.streams * self.rate)),
            ('sent reports/s (load generator)',
             '%.0f' % num(lg, 'sent_per_s')),
            ('acked reports/s (load generator)',
             '%.0f' % num(lg, 'acked_per_s')),
            ('accepted reports/s (%s)' % srv, '%.0f' % per_s),
            ('rejected in window', '%.0f' % rejected),
            ('acks sent / carried to the next main-loop iteration',
             '%s / %s' % (stats.get('acks_sent', 'na'),
                          stats.get('acks_carried', 'na'))),
            ('skipped, stream behind (load generator)',
             lg.get('reports_skipped', '?')),
            ('registered / failed',
             '%s / %s' % (lg.get('registered', '?'),
                          lg.get('register_failed', '?'))),
            ('streams open at window end',
             '%s of %d' % (lg.get('streams_open', '?'), self.streams)),
            ('failed calls', lg.get('failed_calls', '?')
             + (' (%s)' % failed if failed else '')),
            ('ingest p50 / p99 / max ms (%s)' % srv,
             '%s / %s / %s' % (p50, p99, pmax)),
            ('report due->acked p50 / p99 / max ms (load generator)',
             '%s / %s / %s' % (lg.get('rtt_p50_ms', '?'),
                               lg.get('rtt_p99_ms', '?'),
                               lg.get('rtt_max_ms', '?'))),
            ('  of which due->sent p50 / p99 / max ms',
             '%s / %s / %s' % (lg.get('send_lag_p50_ms', '?'),
                               lg.get('send_lag_p99_ms', '?'),
                               lg.get('send_lag_max_ms', '?'))),
            ('CPU s %s (of one core)' % srv,
             '%.2f (%s)' % (ctl_cpu, pct(ctl_cpu))),
            ('CPU s load generator (of one core)',
             '%.2f (%s)' % (lg_cpu, pct(lg_cpu))),
            ('CPU both, share of %d cores' % ncpu,
             '%.0f%%' % (100.0 * total_cpu / (window * ncpu))
             if window > 0 else 'na'),
            ('CPU s kernel softirq, all CPUs (network)',
             '%.2f (%s)' % (softirq, pct(softirq))),
            ('CPU used by everything else, share of %d cores' % ncpu,
             '%.0f%%' % (100.0 * others / (window * ncpu))
             if window > 0 else 'na'),
            ('CPU stolen by the hypervisor, share of %d cores' % ncpu,
             '%.1f%%' % (100.0 * steal / (window * ncpu))
             if window > 0 else 'na'),
            ('load generator share of the CPU used',
             '%.0f%%' % (100.0 * lg_cpu / total_cpu) if total_cpu else 'na'),
            ('CPU us/report %s / load generator' % srv,
             '%s / %s' % (us(ctl_cpu), us(lg_cpu))),
            ('window s (stats reset -> read)', '%.2f' % window),
            ('  of which between them, %s\'s clock' % srv,
             '%.3f' % ctl_window),
        ]
        if lg.get('first_error'):
            rows.append(('first error', lg['first_error']))
        if window > 0 and others / (window * ncpu) > 0.10:
            rows.append(('WARNING', 'other processes used the CPU during '
                         'the window: the numbers are low'))
        if window > 0 and steal / (window * ncpu) > 0.02:
            rows.append(('WARNING', 'the hypervisor took CPU time during '
                         'the window: the numbers are low'))
        width = max(len(r[0]) for r in rows)
        for name, value in rows:
            print('  %-*s  %s' % (width, name, value))

        streams_open = lg.get('streams_open', '0')
        self.result = {'reports_per_s': per_s,
                       'server_us': (ctl_cpu * 1e6 / accepted
                                     if accepted else None),
                       'loadgen_us': (lg_cpu * 1e6 / accepted
                                      if accepted else None)}
        self.final = ('agent: reports_per_s=%.0f cpu_us_per_report=%s '
                      'p99_ingest_ms=%s streams=%s'
                      % (per_s, us_per, p99, streams_open))
        if self.last_line:
            self.print_last_line()
        return 0 if rc == 0 and accepted else 1

    def print_last_line(self):
        if self.final:
            print(self.final, flush=True)

    def cleanup(self):
        stop(self.perf)
        stop(self.loadgen)
        stop(self.server)
        if self.dir:
            if self.keep:
                print('bench-agent: kept %s' % self.dir, file=sys.stderr)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


def print_ratios(base, ours):
    def ratio(a, b):
        return '%.2f' % (a / b) if a is not None and b else 'na'

    def us(x):
        return '%.1f' % x if x is not None else 'na'

    print('baseline grpc-floor (same shape, same run): reports_per_s=%.0f '
          'server_us_per_report=%s loadgen_us_per_report=%s'
          % (base['reports_per_s'], us(base['server_us']),
             us(base['loadgen_us'])))
    print('controller / grpc-floor: reports_per_s ratio=%s '
          'server_us_per_report ratio=%s'
          % (ratio(ours['reports_per_s'], base['reports_per_s']),
             ratio(ours['server_us'], base['server_us'])), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--build-dir', default='build')
    args = parser.parse_args()

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    bench = Bench(args.build_dir)
    floor_bin = os.path.join(args.build_dir, 'tests', 'bench', 'grpc-floor')
    floor = None
    if not bench.server_cmd and os.environ.get('BENCH_FLOOR', '1') != '0':
        floor = Bench(args.build_dir, server_cmd=floor_bin + ' {port}')
        floor.perf_target = ''          # BENCH_PERF is for the controller.
    for path in (bench.agent_load_bin,) + \
            (() if bench.server_cmd else (bench.controller_bin,)) + \
            ((floor_bin,) if floor else ()):
        if not os.access(path, os.X_OK):
            sys.exit('bench-agent: %s missing (make %s)' % (path, path))
    if floor:
        baseline, floor = floor, None
        try:
            if baseline.run(last_line=False) == 0:
                floor = baseline
        except RuntimeError as e:
            print('bench-agent: baseline: %s' % e, file=sys.stderr)
        finally:
            baseline.cleanup()
    try:
        rc = bench.run(last_line=False)
        if floor and rc == 0:
            print_ratios(floor.result, bench.result)
        bench.print_last_line()
        return rc
    except RuntimeError as e:
        print('bench-agent: %s' % e, file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print('bench-agent: %s failed: %s' % (' '.join(e.cmd),
                                              e.stderr.strip()),
              file=sys.stderr)
        return 1
    finally:
        bench.cleanup()


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
"""bench-southbound: how fast cats-controller programs a bridge.

Same run, same bridge, for each N:
  1. ours: cats-controller with N services connects to the bridge; time from
     the bridge's connection to the barrier that confirms the full pipeline
     (the controller's own clock, logged at the resync), and end to end as
     seen from outside (set-controller to cats/sync returning).
  2. ovs-ofctl: the very flows and groups the controller installed, dumped,
     deleted, then installed again from a file by
     `ovs-ofctl --bundle` (one atomic bundle, like ours), timed end to end.
  Both count every flow and group mod.  ovs-vswitchd's CPU time per mod is
  measured around each, to show when the switch itself is the limit.
Then, with N services installed, the time from a weight change to its
barrier reply, over many changes (the controller's own measurement,
cats/latency, which excludes ovs-appctl's process start).

Runs on a private ovs-vswitchd --enable-dummy (OpenFlow only), never on the
machine's OVS.
"""

import argparse
import os
import re
import signal
import subprocess
import time

from ovs_sandbox import OvsSandbox

INSTANCES_PER_SERVICE = 3


def write_config(path, n):
    with open(path, 'w') as f:
        for i in range(1, n + 1):
            vip = '100.%d.%d.%d' % (64 + (i >> 16), (i >> 8) & 255, i & 255)
            f.write('service s%d vip=%s port=80 proto=tcp\n' % (i, vip))
            for k in range(INSTANCES_PER_SERVICE):
                j = i * INSTANCES_PER_SERVICE + k
                ip = '172.%d.%d.%d' % (16 + (j >> 16), (j >> 8) & 255,
                                       j & 255)
                f.write('instance s%d %s:8080 weight=%d\n'
                        % (i, ip, 100 * (k + 1)))


class Controller:
    def __init__(self, sb, binary, config, name):
        self.sb = sb
        self.ctl = os.path.join(sb.dir, name + '.ctl')
        self.sock = os.path.join(sb.dir, name + '.sock')
        self.log = os.path.join(sb.dir, name + '.log')
        self.pidfile = os.path.join(sb.dir, name + '.pid')
        sb.run(binary, '--config=' + config, '--detach', '--no-chdir',
               '--pidfile=' + self.pidfile, '--log-file=' + self.log,
               '--unixctl=' + self.ctl, '--arp-probe-interval=0',
               '--stats-interval=0', '-vconsole:off',
               'punix:' + self.sock)
        with open(self.pidfile) as f:
            self.pid = int(f.read())

    def appctl(self, *args, timeout=300):
        return self.sb.run('ovs-appctl', '--timeout=%d' % timeout,
                           '-t', self.ctl, *args).stdout

    def stop(self):
        try:
            self.appctl('exit', timeout=10)
        except subprocess.CalledProcessError:
            pass
        for _ in range(50):
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)


def count_mods(flows_text, groups_text):
    flows = [l for l in flows_text.splitlines() if 'actions=' in l
             and not l.startswith('OFPST')]
    groups = [l for l in groups_text.splitlines() if 'group_id=' in l]
    return flows, groups


def clear_bridge(sb, br):
    sb.ofctl('del-flows', br)
    sb.ofctl('del-groups', br)
    flows, groups = count_mods(sb.ofctl('dump-flows', '--no-stats', br),
                               sb.ofctl('dump-groups', br))
    if flows or groups:
        raise RuntimeError('bridge %s not empty after deleting' % br)


def run_ours(sb, binary, config, br, name):
    """Starts a controller, points 'br' at it, and times the full install.
    Returns (controller, wall seconds, vswitchd CPU seconds, ops, bundle_ms,
    connect_ms)."""
    ctl = Controller(sb, binary, config, name)
    ctl.appctl('cats/show')         # Started, catalog loaded, model built.
    cpu0 = sb.cpu_seconds()
    t0 = time.monotonic()
    sb.vsctl('set-controller', br, 'unix:' + ctl.sock)
    ctl.appctl('cats/sync', '600000', timeout=600)
    wall = time.monotonic() - t0
    cpu = sb.cpu_seconds() - cpu0
    with open(ctl.log) as f:
        m = re.findall(r'resynchronized: (\d+) flows and groups confirmed in '
                       r'(\d+) ms \((\d+) ms after connecting\)', f.read())
    if not m:
        raise RuntimeError('controller did not log its resync')
    ops, bundle_ms, connect_ms = (int(x) for x in m[-1])
    return ctl, wall, cpu, ops, bundle_ms, connect_ms


def stop_ours(sb, ctl, br):
    sb.vsctl('del-controller', br)
    ctl.stop()


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def bench_one(sb, binary, n, reweights, rounds, log):
    br = 'br%d' % n
    sb.add_bridge(br)
    config = os.path.join(sb.dir, 'services-%d.conf' % n)
    write_config(config, n)

    # A first install through the controller gives the flows and groups
    # that ovs-ofctl will install from a file, and warms the bridge, so
    # that neither side pays for first-time allocations in ovs-vswitchd.
    ctl, _, _, ops, _, _ = run_ours(sb, binary, config, br, 'warm%d' % n)
    flows, groups = count_mods(sb.ofctl('dump-flows', '--no-stats', br),
                               sb.ofctl('dump-groups', br))
    mods = len(flows) + len(groups)
    if mods != ops:
        raise RuntimeError('bridge holds %d flows+groups, controller sent %d'
                           % (mods, ops))
    stop_ours(sb, ctl, br)
    bundle = os.path.join(sb.dir, 'bundle-%d.txt' % n)
    with open(bundle, 'w') as f:
        for g in groups:
            f.write('group add %s\n' % g.strip())
        for fl in flows:
            f.write('flow add %s\n' % fl.strip())

    # Alternate the two, same bridge, emptied before each install.
    ours_runs, ofctl_runs = [], []
    for r in range(rounds):
        clear_bridge(sb, br)
        cpu0 = sb.cpu_seconds()
        t0 = time.monotonic()
        sb.ofctl('--bundle', 'bundle', br, bundle)
        wall = time.monotonic() - t0
        cpu = sb.cpu_seconds() - cpu0
        f2, g2 = count_mods(sb.ofctl('dump-flows', '--no-stats', br),
                            sb.ofctl('dump-groups', br))
        if len(f2) + len(g2) != mods:
            raise RuntimeError('ovs-ofctl installed %d of %d'
                               % (len(f2) + len(g2), mods))
        ofctl_runs.append((wall, cpu))

        clear_bridge(sb, br)
        ctl, wall, cpu, ops, bundle_ms, _ = run_ours(sb, binary, config, br,
                                                     'cats%d-%d' % (n, r))
        if ops != mods:
            raise RuntimeError('controller sent %d, expected %d'
                               % (ops, mods))
        ours_runs.append((wall, cpu, bundle_ms))
        last = r == rounds - 1
        if not last:
            stop_ours(sb, ctl, br)

    # Reweight latency, with the whole pipeline installed.
    reweight = None
    if reweights:
        ctl.appctl('cats/latency', 'reset')
        for r in range(reweights):
            svc = 1 + (r * 7919) % n
            ip_j = svc * INSTANCES_PER_SERVICE + (r % INSTANCES_PER_SERVICE)
            ip = '172.%d.%d.%d' % (16 + (ip_j >> 16), (ip_j >> 8) & 255,
                                   ip_j & 255)
            ctl.appctl('cats/set-weight', 's%d' % svc, ip + ':8080',
                       str(1 + (r * 37) % 500))
            ctl.appctl('cats/sync', '10000')
        reweight = ctl.appctl('cats/latency').strip()
    stop_ours(sb, ctl, br)
    sb.vsctl('del-br', br)

    ours_wall = median([w for w, _, _ in ours_runs])
    ours_cpu = median([c for _, c, _ in ours_runs])
    ofctl_wall = median([w for w, _ in ofctl_runs])
    ofctl_cpu = median([c for _, c in ofctl_runs])
    ours_rate = mods / ours_wall
    ofctl_rate = mods / ofctl_wall
    log('N=%-6d mods=%-7d (flows %d, groups %d), median of %d rounds'
        % (n, mods, len(flows), len(groups), rounds))
    log('  ours      end-to-end %8.1f ms  %9.0f mods/s  (runs: %s ms)'
        % (ours_wall * 1000, ours_rate,
           ', '.join('%.0f' % (w * 1000) for w, _, _ in ours_runs)))
    log('  ovs-ofctl end-to-end %8.1f ms  %9.0f mods/s  (runs: %s ms)'
        % (ofctl_wall * 1000, ofctl_rate,
           ', '.join('%.0f' % (w * 1000) for w, _ in ofctl_runs)))
    log('  ratio ours/ovs-ofctl %.2f' % (ours_rate / ofctl_rate))
    log('  ovs-vswitchd CPU per mod: ours %.2f us, ovs-ofctl %.2f us; '
        'ovs-vswitchd busy %.0f%% / %.0f%% of the wall time'
        % (ours_cpu / mods * 1e6, ofctl_cpu / mods * 1e6,
           100 * ours_cpu / ours_wall, 100 * ofctl_cpu / ofctl_wall))
    log('  ovs-vswitchd alone would allow at most %.0f mods/s (1 / its CPU '
        'per mod)' % (mods / min(ours_cpu, ofctl_cpu)))
    if reweight:
        log('  reweight (set-weight to barrier, %d changes): %s'
            % (reweights, reweight))
    return dict(mods=mods, ours=ours_rate, ofctl=ofctl_rate,
                reweight=reweight)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build-dir', default='build')
    ap.add_argument('--services', default='1000,10000')
    ap.add_argument('--reweights', type=int, default=300)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()

    binary = os.path.abspath(os.path.join(args.build_dir, 'cats-controller'))
    sizes = [int(x) for x in args.services.split(',')]

    def log(msg):
        print(msg, flush=True)

    results = {}
    with OvsSandbox('cats-bench-') as sb:
        for n in sizes:
            log('bench-southbound: %d services x %d instances...'
                % (n, INSTANCES_PER_SERVICE))
            results[n] = bench_one(sb, binary, n,
                                   args.reweights if n == sizes[-1] else 0,
                                   args.rounds, log)

    n = sizes[-1]
    r = results[n]
    p99 = re.search(r'p99_ms=([0-9.]+)', r['reweight'] or '')
    print('southbound: services=%d ours=%.0f ovs_ofctl=%.0f ratio=%.2f '
          'reweight_p99_ms=%s' % (n, r['ours'], r['ofctl'],
                                  r['ours'] / r['ofctl'],
                                  p99.group(1) if p99 else 'nan'))


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""Traffic for the demo (topologies/demo.py), run inside a client host.

  load HOST PORT --rate R      open-loop load: R new connections per second,
                               started on schedule whether or not earlier
                               ones finished.  Each one: connect, read the
                               server's name line, close with RST.
  hold HOST PORT --want NAME -k K
                               open connections to HOST:PORT until K of them
                               were served by instance NAME (the others are
                               closed at once), then keep those K alive: every
                               --interval seconds a numbered line, which must
                               come back (the server echoes) within
                               --echo-timeout seconds.

Both print one line per second on stdout, then a last line at the end
(SIGTERM/SIGINT):
  load:  SEC {"ok": N, "errors": N, "kinds": {...}, "counts": {"di1": N..},
              "inflight": N}
         DONE {"started": N, "ok": N, "errors": N, "kinds": {...},
               "counts": {...}}
  hold:  READY {"held": K, "tries": N, "counts": {...}}   (or FAILED {...})
         STAT {"alive": N, "broken": N, "stalled": N, "kinds": {...},
               "exchanges": N}
         DONE {same as STAT}
A connection that is reset, closed, errors, or misses an echo for
--echo-timeout seconds counts as broken (and is not reopened); "stalled"
means alive but with an echo overdue by more than 1 s.
"""

import argparse
import errno
import json
import resource
import selectors
import signal
import socket
import struct
import sys
import time

from cats_client import advance  # noqa: E402  (same directory)

LINGER_RST = struct.pack("ii", 1, 0)


def emit(tag, obj):
    sys.stdout.write("%s %s\n" % (tag, json.dumps(obj, sort_keys=True)))
    sys.stdout.flush()


def widen_limits():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
            f.write("1024 65535\n")
    except OSError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


class Stop:
    def __init__(self):
        self.stop = False
        signal.signal(signal.SIGTERM, self._on)
        signal.signal(signal.SIGINT, self._on)

    def _on(self, signum, frame):
        self.stop = True


# -- open-loop load ----------------------------------------------------------
def load(args):
    stop = Stop()
    sel = selectors.DefaultSelector()
    inflight = {}                      # fd -> [sock, state, buf, deadline]
    tot = {"started": 0, "ok": 0, "errors": 0, "kinds": {}, "counts": {}}
    sec = {"ok": 0, "errors": 0, "kinds": {}, "counts": {}}
    max_inflight = 20000

    def bump(d, k):
        d[k] = d.get(k, 0) + 1

    def finish(fd, name=None, kind=None):
        entry = inflight.pop(fd)
        s = entry[0]
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        except OSError:
            pass
        s.close()
        if name is not None:
            for d in (tot, sec):
                d["ok"] += 1
                bump(d["counts"], name)
        else:
            for d in (tot, sec):
                d["errors"] += 1
                bump(d["kinds"], kind)

    def start_one(now):
        tot["started"] += 1
        if len(inflight) >= max_inflight:
            for d in (tot, sec):
                d["errors"] += 1
                bump(d["kinds"], "too_many_in_flight")
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((args.host, args.port))
        fd = s.fileno()
        inflight[fd] = [s, "connect", b"", now + args.timeout]
        sel.register(s, selectors.EVENT_WRITE, fd)
        if rc not in (0, errno.EINPROGRESS):
            finish(fd, kind="connect_" + errno.errorcode.get(rc, str(rc)))

    t0 = time.monotonic()
    # Report on wall-clock half seconds, so that a reader ticking on whole
    # seconds gets exactly one report per tick.
    wall = time.time()
    next_report = t0 + (int(wall) + 1.5 - wall)
    last_sweep = t0
    stop_at = None
    while True:
        now = time.monotonic()
        if stop.stop and stop_at is None:
            stop_at = now
        if stop_at is None:
            due = int((now - t0) * args.rate)
            while tot["started"] < due:
                start_one(now)
        elif not inflight or now - stop_at > args.timeout + 1:
            break
        for key, mask in sel.select(timeout=0.005):
            fd = key.data
            entry = inflight.get(fd)
            if entry is None:
                continue
            outcome = advance(sel, entry, fd)
            if outcome:
                finish(fd, **outcome)
        now = time.monotonic()
        if now - last_sweep > 0.1:
            last_sweep = now
            for fd in [fd for fd, e in inflight.items() if e[3] < now]:
                finish(fd, kind="timeout_" + inflight[fd][1])
        if now >= next_report:
            next_report += 1.0
            if next_report < now:
                next_report = now + 1.0
            sec["inflight"] = len(inflight)
            emit("SEC", sec)
            sec = {"ok": 0, "errors": 0, "kinds": {}, "counts": {}}
    for fd in list(inflight):
        finish(fd, kind="unfinished_at_exit")
    emit("DONE", tot)
    return 0 if tot["errors"] == 0 else 1


# -- long-lived connections on one instance ----------------------------------
def hold(args):
    stop = Stop()
    counts = {}
    held = []
    tries = 0
    t0 = time.monotonic()
    while len(held) < args.k and tries < args.max_tries and not stop.stop:
        if time.monotonic() - t0 > args.setup_timeout:
            break
        tries += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect((args.host, args.port))
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(256)
                if not chunk:
                    break
                buf += chunk
            name = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
        except OSError:
            name = None
        if name:
            counts[name] = counts.get(name, 0) + 1
        if name == args.want:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            held.append(s)
        else:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            except OSError:
                pass
            s.close()
    if len(held) < args.k:
        emit("FAILED", {"held": len(held), "tries": tries, "counts": counts})
        return 1
    emit("READY", {"held": len(held), "tries": tries, "counts": counts})

    sel = selectors.DefaultSelector()
    # per connection: [sock, seq, sent_at, buf, broken]
    conns = [[s, 0, None, b"", None] for s in held]
    for i, c in enumerate(conns):
        sel.register(c[0], selectors.EVENT_READ, i)
    kinds = {}
    exchanges = 0

    def brk(c, kind):
        if c[4]:
            return
        c[4] = kind
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            sel.unregister(c[0])
        except (KeyError, ValueError):
            pass
        c[0].close()

    def stat():
        now = time.monotonic()
        alive = [c for c in conns if not c[4]]
        return {"alive": len(alive), "broken": len(conns) - len(alive),
                "stalled": sum(1 for c in alive
                               if c[2] is not None and now - c[2] > 1.0),
                "kinds": dict(kinds), "exchanges": exchanges}

    next_tick = time.monotonic()
    next_report = next_tick + 1.0
    while not stop.stop:
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + args.interval
            for c in conns:
                if c[4]:
                    continue
                if c[2] is not None:
                    if now - c[2] > args.echo_timeout:
                        brk(c, "echo_timeout")
                    continue
                c[1] += 1
                try:
                    c[0].send(("%d\n" % c[1]).encode())
                    c[2] = now
                except BlockingIOError:
                    pass
                except OSError as e:
                    brk(c, errno.errorcode.get(e.errno, str(e)))
        if now >= next_report:
            next_report += 1.0
            if next_report < now:
                next_report = now + 1.0
            emit("STAT", stat())
        timeout = max(0.0, min(next_tick, next_report) - time.monotonic())
        for key, mask in sel.select(timeout=min(timeout, 0.1)):
            c = conns[key.data]
            if c[4]:
                continue
            try:
                data = c[0].recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                brk(c, errno.errorcode.get(e.errno, str(e)))
                continue
            if not data:
                brk(c, "EOF")
                continue
            c[3] += data
            while b"\n" in c[3]:
                line, c[3] = c[3].split(b"\n", 1)
                if line != str(c[1]).encode():
                    brk(c, "bad_echo")
                    break
                c[2] = None
                exchanges += 1
    rep = stat()
    emit("DONE", rep)
    for c in conns:
        if not c[4]:
            c[0].close()
    return 0 if rep["broken"] == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=("load", "hold"))
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--rate", type=float, default=200.0,
                    help="load: new connections per second")
    ap.add_argument("--timeout", type=float, default=3.0,
                    help="load: seconds per connection before it counts "
                    "as an error")
    ap.add_argument("--want", help="hold: the instance name to hold on")
    ap.add_argument("-k", type=int, default=20,
                    help="hold: how many connections")
    ap.add_argument("--max-tries", type=int, default=2000)
    ap.add_argument("--setup-timeout", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=0.2,
                    help="hold: seconds between exchanges")
    ap.add_argument("--echo-timeout", type=float, default=3.0)
    args = ap.parse_args()
    widen_limits()
    if args.mode == "load":
        return load(args)
    if not args.want:
        ap.error("hold needs --want")
    return hold(args)


if __name__ == "__main__":
    sys.exit(main())

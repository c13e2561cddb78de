#!/usr/bin/python3
"""Hold K long-lived TCP connections to a service and watch them.

Every connection reads the server's name line, then every --interval
seconds sends a numbered line and expects it echoed back.  A connection
that is reset, closed, errors, or misses an echo for --echo-timeout seconds
counts as broken (and is not reopened).

Prints, on stdout:
  READY {json}      once all K are connected (or failed to connect)
  DONE {json}       at the end (SIGTERM/SIGINT, --duration, or stdin EOF
                    with --stop-on-eof)
where json = {"connections": K, "connected": N, "alive": N, "broken": N,
              "stalled": N (alive, but an echo overdue by more than 1 s),
              "failed_connect": N, "break_kinds": {...}, "exchanges": N,
              "counts": {"i1": N, ...}, "elapsed_s": F}
Exit status 0 when nothing broke.
"""

import argparse
import errno
import json
import selectors
import signal
import socket
import sys
import time


class Conn:
    __slots__ = ("sock", "state", "name", "buf", "seq", "sent_at", "broken")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connect"
        self.name = None
        self.buf = b""
        self.seq = 0
        self.sent_at = None       # time the outstanding line was sent
        self.broken = None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int, nargs="?", default=80)
    ap.add_argument("-k", "--connections", type=int, default=50)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--echo-timeout", type=float, default=3.0)
    ap.add_argument("--connect-timeout", type=float, default=5.0)
    ap.add_argument("--duration", type=float, default=0,
                    help="seconds to run after READY (0: until signalled)")
    ap.add_argument("--stop-on-eof", action="store_true",
                    help="stop when stdin reaches EOF")
    args = ap.parse_args()

    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    sel = selectors.DefaultSelector()
    conns = []
    kinds = {}
    exchanges = 0
    t0 = time.monotonic()

    def brk(c, kind):
        if c.broken:
            return
        c.broken = kind
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    for _ in range(args.connections):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(s)
        conns.append(c)
        rc = s.connect_ex((args.host, args.port))
        if rc not in (0, errno.EINPROGRESS):
            c.state = "failed"
            brk(c, "connect_" + errno.errorcode.get(rc, str(rc)))
            continue
        sel.register(s, selectors.EVENT_WRITE, c)
    if args.stop_on_eof:
        sel.register(sys.stdin, selectors.EVENT_READ, None)

    def report():
        now = time.monotonic()
        connected = [c for c in conns if c.name is not None]
        stalled = sum(1 for c in connected if not c.broken and
                      c.sent_at is not None and now - c.sent_at > 1.0)
        counts = {}
        for c in connected:
            counts[c.name] = counts.get(c.name, 0) + 1
        return {"connections": len(conns), "connected": len(connected),
                "alive": sum(1 for c in connected if not c.broken),
                "broken": sum(1 for c in connected if c.broken),
                "stalled": stalled,
                "failed_connect": sum(1 for c in conns if c.name is None),
                "break_kinds": kinds, "exchanges": exchanges,
                "counts": dict(sorted(counts.items())),
                "elapsed_s": round(time.monotonic() - t0, 3)}

    ready = False
    ready_at = None
    next_tick = time.monotonic()
    while not stop:
        now = time.monotonic()
        if not ready:
            pending = [c for c in conns if not c.broken and c.name is None]
            if not pending:
                ready = True
                ready_at = now
                print("READY " + json.dumps(report()), flush=True)
            else:
                for c in pending:
                    if now - t0 > args.connect_timeout:
                        brk(c, "timeout_" + c.state)
        if ready and args.duration and now - ready_at >= args.duration:
            break
        if ready and now >= next_tick:
            next_tick = now + args.interval
            for c in conns:
                if c.broken or c.name is None:
                    continue
                if c.sent_at is not None:
                    if now - c.sent_at > args.echo_timeout:
                        brk(c, "echo_timeout")
                    continue      # still waiting for the last echo
                c.seq += 1
                line = ("%d\n" % c.seq).encode()
                try:
                    c.sock.send(line)     # tiny: never partial in practice
                    c.sent_at = now
                except BlockingIOError:
                    pass
                except OSError as e:
                    brk(c, errno.errorcode.get(e.errno, str(e)))
        timeout = max(0.0, min(0.05, next_tick - time.monotonic()))
        for key, mask in sel.select(timeout=timeout):
            c = key.data
            if c is None:                  # stdin
                if not sys.stdin.buffer.read1(4096):
                    stop = True
                    sel.unregister(sys.stdin)
                continue
            if c.broken:
                continue
            if c.state == "connect":
                rc = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if rc:
                    brk(c, "connect_" + errno.errorcode.get(rc, str(rc)))
                    continue
                c.state = "name"
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            try:
                data = c.sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                brk(c, errno.errorcode.get(e.errno, str(e)))
                continue
            if not data:
                brk(c, "EOF")
                continue
            c.buf += data
            while b"\n" in c.buf:
                line, c.buf = c.buf.split(b"\n", 1)
                if c.state == "name":
                    c.name = line.decode(errors="replace").strip()
                    c.state = "echo"
                    continue
                if line != str(c.seq).encode():
                    brk(c, "bad_echo")
                    break
                c.sent_at = None
                exchanges += 1

    rep = report()
    print("DONE " + json.dumps(rep), flush=True)
    for c in conns:
        if not c.broken:
            c.sock.close()
    return 0 if (rep["broken"] == 0 and rep["stalled"] == 0 and
                 rep["failed_connect"] == 0) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Long-lived connections to a cats-serve service, each timed exchange by
exchange: what a connection that changes path (or waits out a pause
storm) sees.

Every connection sends "REQ ID" (cats-serve's protocol,
topologies/tools/README.md) every --interval seconds, one at a time
(the next goes once the reply is in and the interval passed), and times
each reply.  The sockets carry --tos (default 0x68: DSCP 26, the
gateways' lossless class 3) from their first SYN on.

Commands on stdin, one per line; each answers one line on stdout:
  open N [GAP]   open N more connections, one every GAP seconds (0):
                 "OPENING N"
  report         "REPORT {json}": per connection (in opening order) its
                 id, local port, instance (who answered), opened (time
                 the connect started, time.monotonic(), the same clock in
                 every namespace here), state (connecting, up, broken),
                 why (for broken), replies, errors (ERR replies),
                 max_ms (its longest exchange, or the wait of the one
                 outstanding now, if longer), win_ms (the same since the
                 previous report), last (time of its last reply); and
                 "now"
  quit / EOF     "DONE {json}" (the same report) and exit
A connection is broken when it is reset, closed, errors, or waits
--timeout seconds for a reply; it is not reopened.

    ip netns exec CLIENT /usr/bin/python3 cats_exchange.py VIP 80
"""

import argparse
import errno
import json
import selectors
import socket
import sys
import time


class Conn:
    def __init__(self, cid, sock, opened):
        self.id = cid
        self.sock = sock
        self.opened = opened
        self.state = "connecting"
        self.why = None
        self.sport = None
        self.instance = None
        self.buf = b""
        self.seq = 0
        self.sent_at = None
        self.next_at = 0.0
        self.replies = 0
        self.errors = 0
        self.max_ms = 0.0
        self.win_ms = 0.0
        self.last = None

    def view(self, now):
        wait = (now - self.sent_at) * 1e3 if self.sent_at else 0.0
        return {"id": self.id, "sport": self.sport,
                "instance": self.instance, "opened": round(self.opened, 4),
                "state": self.state, "why": self.why,
                "replies": self.replies, "errors": self.errors,
                "max_ms": round(max(self.max_ms, wait), 2),
                "win_ms": round(max(self.win_ms, wait), 2),
                "last": round(self.last, 4) if self.last else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--tos", type=lambda s: int(s, 0), default=0x68)
    args = ap.parse_args()

    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    conns = []
    pending_opens = []          # times at which to open one more
    inbuf = b""

    def out(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def brk(c, why):
        if c.state == "broken":
            return
        c.state, c.why = "broken", why
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def open_one(now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, args.tos)
        c = Conn(len(conns) + 1, s, now)
        conns.append(c)
        rc = s.connect_ex((args.host, args.port))
        if rc not in (0, errno.EINPROGRESS):
            brk(c, "connect_" + errno.errorcode.get(rc, str(rc)))
            return
        c.sport = s.getsockname()[1]
        sel.register(s, selectors.EVENT_WRITE, c)

    def report(now):
        return json.dumps({"now": round(now, 4),
                           "conns": [c.view(now) for c in conns]})

    def command(line, now):
        w = line.split()
        if not w:
            return True
        if w[0] == "open":
            n = int(w[1])
            gap = float(w[2]) if len(w) > 2 else 0.0
            base = max([now] + pending_opens)
            pending_opens.extend(base + i * gap for i in range(n))
            out("OPENING %d" % n)
        elif w[0] == "report":
            out("REPORT " + report(now))
            for c in conns:
                c.win_ms = 0.0
        elif w[0] == "quit":
            return False
        else:
            out("ERROR unknown command %r" % w[0])
        return True

    running = True
    while running:
        now = time.monotonic()
        while pending_opens and pending_opens[0] <= now:
            pending_opens.pop(0)
            open_one(now)
        for c in conns:
            if c.state != "up":
                if c.state == "connecting" and \
                        now - c.opened > args.timeout:
                    brk(c, "connect_timeout")
                continue
            if c.sent_at is not None:
                if now - c.sent_at > args.timeout:
                    brk(c, "reply_timeout")
                continue
            if now >= c.next_at:
                c.seq += 1
                try:
                    c.sock.send(("REQ c%d.%d\n" % (c.id, c.seq)).encode())
                    c.sent_at = now
                    c.next_at = now + args.interval
                except BlockingIOError:
                    pass
                except OSError as e:
                    brk(c, errno.errorcode.get(e.errno, str(e)))
        wake = [c.next_at for c in conns if c.state == "up"
                and c.sent_at is None] + pending_opens[:1]
        timeout = max(0.0, min([now + 0.02] + wake) - now)
        for key, mask in sel.select(timeout):
            c = key.data
            now = time.monotonic()
            if c is None:
                try:
                    chunk = sys.stdin.buffer.raw.read(4096)
                except (BlockingIOError, OSError):
                    chunk = b""
                if not chunk:
                    running = False
                    break
                inbuf += chunk
                while b"\n" in inbuf:
                    line, inbuf = inbuf.split(b"\n", 1)
                    if not command(line.decode(errors="replace"), now):
                        running = False
                continue
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    brk(c, "connect_" + errno.errorcode.get(err, str(err)))
                    continue
                c.state = "up"
                c.next_at = now
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
                brk(c, "eof")
                continue
            c.buf += data
            while b"\n" in c.buf:
                line, c.buf = c.buf.split(b"\n", 1)
                w = line.decode(errors="replace").split()
                if c.sent_at is not None:
                    ms = (now - c.sent_at) * 1e3
                    c.max_ms = max(c.max_ms, ms)
                    c.win_ms = max(c.win_ms, ms)
                    c.sent_at = None
                c.last = now
                if w and w[0] == "OK" and len(w) >= 3:
                    c.replies += 1
                    c.instance = w[2]
                else:
                    c.errors += 1
    out("DONE " + report(time.monotonic()))
    return 1 if any(c.state == "broken" for c in conns) else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Test server for CATS instance hosts.

On every accepted TCP connection it sends its name line ("i1\\n"), then
echoes whatever it receives until the peer closes.  One thread, one
selectors loop, so it keeps up with tens of thousands of short connections.

A control listener (127.0.0.1:CTRL_PORT inside the host's namespace) answers
one command per connection:
    stats   -> {"name": .., "accepted": N, "open": N, "resets": N}
    reset   -> zero the counters, then answer as stats
Query it with:  cats_server.py --query CTRL_PORT [reset]

Usage: cats_server.py --name i1 [--port 80] [--bind 0.0.0.0] [--ctrl-port 9000]
"""

import argparse
import errno
import json
import selectors
import signal
import socket
import sys

DEFAULT_CTRL_PORT = 9000


class Server:
    def __init__(self, name, bind, port, ctrl_port):
        self.name = name
        self.greeting = (name + "\n").encode()
        self.sel = selectors.DefaultSelector()
        self.accepted = 0
        self.resets = 0
        self.conns = {}          # fd -> [sock, pending output bytes]
        self.running = True

        self.lsock = self._listen(bind, port, 4096)
        self.sel.register(self.lsock, selectors.EVENT_READ, self._accept)
        self.csock = self._listen("127.0.0.1", ctrl_port, 16)
        self.sel.register(self.csock, selectors.EVENT_READ, self._control)

    @staticmethod
    def _listen(addr, port, backlog):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(backlog)
        s.setblocking(False)
        return s

    def stats(self):
        return {"name": self.name, "accepted": self.accepted,
                "open": len(self.conns), "resets": self.resets}

    def _accept(self, lsock, mask):
        # Drain the backlog: many connections arrive per wakeup.
        for _ in range(256):
            try:
                s, _addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                               errno.ENOMEM, errno.ECONNABORTED):
                    return
                raise
            self.accepted += 1
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            entry = [s, b"", selectors.EVENT_READ]   # sock, output, events
            self.conns[s.fileno()] = entry
            self.sel.register(s, selectors.EVENT_READ, self._data)
            self._send(entry, self.greeting)

    def _close(self, entry):
        s = entry[0]
        if s is None:
            return
        entry[0] = None
        self.conns.pop(s.fileno(), None)
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()

    def _send(self, entry, data):
        """Send data after anything still queued; watch for writability
        while output is pending."""
        s = entry[0]
        data = entry[1] + data
        if not data:
            return
        try:
            n = s.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            self.resets += 1
            self._close(entry)
            return
        entry[1] = data[n:]
        # Stop reading while a large backlog waits for a slow reader.
        events = 0 if len(entry[1]) > (1 << 20) else selectors.EVENT_READ
        if entry[1]:
            events |= selectors.EVENT_WRITE
        if events != entry[2]:
            entry[2] = events
            self.sel.modify(s, events, self._data)

    def _data(self, s, mask):
        entry = self.conns.get(s.fileno())
        if entry is None or entry[0] is not s:
            return
        if mask & selectors.EVENT_WRITE and entry[1]:
            self._send(entry, b"")
            if entry[0] is None:
                return
        if mask & selectors.EVENT_READ:
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.resets += 1
                self._close(entry)
                return
            if not data:
                self._close(entry)
                return
            self._send(entry, data)

    def _control(self, csock, mask):
        try:
            s, _ = csock.accept()
        except OSError:
            return
        try:
            s.settimeout(2.0)
            cmd = b""
            while not cmd.endswith(b"\n") and len(cmd) < 256:
                chunk = s.recv(256)
                if not chunk:
                    break
                cmd += chunk
            cmd = cmd.decode(errors="replace").strip()
            if cmd == "reset":
                self.accepted = 0
                self.resets = 0
            s.sendall((json.dumps(self.stats()) + "\n").encode())
        except OSError:
            pass
        finally:
            s.close()

    def run(self):
        while self.running:
            for key, mask in self.sel.select(timeout=1.0):
                key.data(key.fileobj, mask)


def query(ctrl_port, cmd="stats", addr="127.0.0.1", timeout=5.0):
    """Ask a running server for its counters (dict)."""
    s = socket.create_connection((addr, ctrl_port), timeout=timeout)
    try:
        s.sendall((cmd + "\n").encode())
        buf = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return json.loads(buf.decode())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--name")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--ctrl-port", type=int, default=DEFAULT_CTRL_PORT)
    ap.add_argument("--query", type=int, metavar="CTRL_PORT",
                    help="query a running server and exit")
    ap.add_argument("cmd", nargs="?", default="stats",
                    help="with --query: stats or reset")
    args = ap.parse_args()

    if args.query:
        print(json.dumps(query(args.query, args.cmd)))
        return 0
    if not args.name:
        ap.error("--name is required")

    def stop(signum, frame):
        srv.running = False
    srv = Server(args.name, args.bind, args.port, args.ctrl_port)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening %s:%d ctrl 127.0.0.1:%d" % (args.bind, args.port,
                                                 args.ctrl_port), flush=True)
    srv.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Open N new TCP connections to a service, count which instance served each.

Each connection: connect, read the server's name line, close with an RST
(SO_LINGER 0: no TIME_WAIT, so source ports are reused at once).  At most
--parallel connections are in flight at a time.  Non-blocking sockets on
one selectors loop, spread over --workers processes (Python threads would
serialize on the GIL long before the userspace datapath is the limit).

Prints one JSON object:
  {"connections": N, "ok": N, "errors": N, "error_kinds": {...},
   "counts": {"i1": N, ...}, "elapsed_s": F, "rate_per_s": F}

Run inside the client host's namespace.  --wide-ports widens
net.ipv4.ip_local_port_range of the namespace first.
"""

import argparse
import errno
import json
import multiprocessing
import selectors
import socket
import struct
import sys
import time

LINGER_RST = struct.pack("ii", 1, 0)


def advance(sel, entry, data):
    """Handles one readiness event of a connection that expects a name line:
    'entry' is [socket, "connect" or "read", bytes read, deadline, ...],
    registered in 'sel' with 'data'.  Returns None while the connection goes
    on, else {"name": NAME} or {"kind": ERROR} for finishing it."""
    s = entry[0]
    if entry[1] == "connect":
        rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if rc:
            return {"kind": errno.errorcode.get(rc, str(rc))}
        entry[1] = "read"
        sel.modify(s, selectors.EVENT_READ, data)
        return None
    try:
        chunk = s.recv(256)
    except BlockingIOError:
        return None
    except OSError as e:
        return {"kind": errno.errorcode.get(e.errno, str(e))}
    if not chunk:
        return {"kind": "EOF"}
    entry[2] += chunk
    if b"\n" in entry[2]:
        name = entry[2].split(b"\n", 1)[0].decode(errors="replace")
        return {"name": name.strip() or "?"}
    return None


def burst(host, port, n, parallel, timeout, bind_ip=None):
    """Make n connections with at most `parallel` in flight.
    Returns (counts dict, error_kinds dict)."""
    sel = selectors.DefaultSelector()
    counts = {}
    errors = {}
    started = 0
    done = 0
    inflight = {}          # fd -> [sock, state, buf, deadline]

    def err(kind):
        errors[kind] = errors.get(kind, 0) + 1

    def finish(entry, name=None, kind=None):
        nonlocal done
        s = entry[0]
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        inflight.pop(entry[4], None)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        except OSError:
            pass
        s.close()
        done += 1
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
        else:
            err(kind)

    def start_one():
        nonlocal started, done
        started += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if bind_ip:
            s.bind((bind_ip, 0))
        rc = s.connect_ex((host, port))
        entry = [s, "connect", b"", time.monotonic() + timeout, s.fileno()]
        if rc not in (0, errno.EINPROGRESS):
            inflight[entry[4]] = entry
            sel.register(s, selectors.EVENT_WRITE, entry)
            finish(entry, kind=errno.errorcode.get(rc, str(rc)))
            return
        inflight[entry[4]] = entry
        sel.register(s, selectors.EVENT_WRITE, entry)

    last_sweep = time.monotonic()
    while done < n:
        while started < n and len(inflight) < parallel:
            start_one()
        for key, mask in sel.select(timeout=0.2):
            entry = key.data
            if entry[4] not in inflight:
                continue
            outcome = advance(sel, entry, entry)
            if outcome:
                finish(entry, **outcome)
        now = time.monotonic()
        if now - last_sweep > 0.2:
            last_sweep = now
            for entry in [e for e in inflight.values() if e[3] < now]:
                finish(entry, kind="timeout_" + entry[1])
    sel.close()
    return counts, errors


def _worker(args):
    return burst(*args)


def widen_port_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
            f.write("1024 65535\n")
    except OSError as e:
        print("warning: cannot widen port range: %s" % e, file=sys.stderr)


def run(host, port, n, parallel=64, workers=2, timeout=5.0, bind_ip=None):
    """Run the burst, possibly in several processes; returns the report."""
    workers = max(1, min(workers, n))
    shares = [n // workers + (1 if i < n % workers else 0)
              for i in range(workers)]
    par = max(1, parallel // workers)
    t0 = time.monotonic()
    if workers == 1:
        results = [burst(host, port, n, par, timeout, bind_ip)]
    else:
        with multiprocessing.Pool(workers) as pool:
            results = pool.map(_worker, [(host, port, k, par, timeout,
                                          bind_ip) for k in shares])
    elapsed = time.monotonic() - t0
    counts, kinds = {}, {}
    for c, e in results:
        for k, v in c.items():
            counts[k] = counts.get(k, 0) + v
        for k, v in e.items():
            kinds[k] = kinds.get(k, 0) + v
    ok = sum(counts.values())
    errs = sum(kinds.values())
    return {"connections": n, "ok": ok, "errors": errs,
            "error_kinds": kinds, "counts": dict(sorted(counts.items())),
            "elapsed_s": round(elapsed, 3),
            "rate_per_s": round(n / elapsed, 1) if elapsed > 0 else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int, nargs="?", default=80)
    ap.add_argument("-n", "--connections", type=int, default=1000)
    ap.add_argument("-p", "--parallel", type=int, default=64,
                    help="connections in flight at most (all workers)")
    ap.add_argument("-w", "--workers", type=int, default=2,
                    help="processes (default 2)")
    ap.add_argument("-t", "--timeout", type=float, default=5.0,
                    help="seconds per connection before it counts as failed")
    ap.add_argument("--bind", help="source IP")
    ap.add_argument("--wide-ports", action="store_true",
                    help="set ip_local_port_range to 1024-65535 first")
    args = ap.parse_args()
    if args.wide_ports:
        widen_port_range()
    rep = run(args.host, args.port, args.connections, args.parallel,
              args.workers, args.timeout, args.bind)
    print(json.dumps(rep), flush=True)
    return 0 if rep["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

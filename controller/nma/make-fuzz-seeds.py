#!/usr/bin/python3
"""Writes the seeds of tests/fuzz/fuzz-nlstats.c into DIR (normally
tests/fuzz/corpus/nlstats/): replies captured from this machine's kernel
(link and qdisc dumps, the errors that DCB and ethtool requests for "lo"
get) and messages built here for what this kernel lacks (red, fq_codel and
fq_pie statistics, DCB PFC, ethtool pause statistics), plus netstat and
counter texts.  Each seed starts with the fuzz target's selector byte:
0 netlink, 1 netstat text, 2 counter text.

usage: controller/nma/make-fuzz-seeds.py DIR
"""

import os
import socket
import struct
import sys

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
RTM_NEWLINK, RTM_GETLINK, RTM_NEWQDISC, RTM_GETQDISC = 16, 18, 36, 38
RTM_GETDCB = 78
IFLA_IFNAME, IFLA_STATS64 = 3, 23
TCA_KIND, TCA_XSTATS, TCA_STATS2, TCA_DUMP_INVISIBLE = 1, 4, 7, 10
TCA_STATS_BASIC, TCA_STATS_QUEUE, TCA_STATS_APP = 1, 3, 4
TCA_STATS_PKT64 = 8
DCB_CMD_IEEE_GET, DCB_ATTR_IFNAME, DCB_ATTR_IEEE = 21, 1, 13
DCB_ATTR_IEEE_ETS, DCB_ATTR_IEEE_PFC = 1, 2
NLA_F_NESTED = 0x8000
TC_H_ROOT = 0xffffffff
ETHTOOL_FAMILY = 27
ETHTOOL_MSG_PAUSE_GET_REPLY = 22


def align(n):
    return (n + 3) & ~3


def attr(typ, payload):
    a = struct.pack("=HH", 4 + len(payload), typ) + payload
    return a + b"\0" * (align(len(a)) - len(a))


def msg(typ, body, flags=0, seq=1):
    return struct.pack("=IHHII", 16 + len(body), typ, flags, seq, 0) + body


def capture(proto, request):
    """The kernel's whole reply to 'request', as received."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
    s.settimeout(1)
    s.bind((0, 0))
    s.send(request)
    out = b""
    while True:
        data = s.recv(65536)
        out += data
        off, done = 0, False
        while off + 16 <= len(data):
            length, typ = struct.unpack_from("=IH", data, off)
            if typ in (NLMSG_DONE, NLMSG_ERROR) or not length:
                done = True
            off += align(length) if length else len(data)
        if done or not request[6] & 1:
            break
    s.close()
    return out


def ifinfomsg(index=0):
    return struct.pack("=BxHiII", 0, 0, index, 0, 0)


def tcmsg(ifindex, handle, parent):
    return struct.pack("=BxxxiIII", 0, ifindex, handle, parent, 0)


def qdisc(ifindex, kind, app=None, legacy=False):
    stats = (attr(TCA_STATS_BASIC, struct.pack("=QI4x", 123456, 789))
             + attr(TCA_STATS_PKT64, struct.pack("=Q", 789))
             + attr(TCA_STATS_QUEUE, struct.pack("=5I", 2, 3000, 4, 1, 0)))
    body = tcmsg(ifindex, 0x80010000, TC_H_ROOT) + attr(TCA_KIND,
                                                        kind + b"\0")
    if app is not None and legacy:
        body += attr(TCA_XSTATS, app)
    elif app is not None:
        stats += attr(TCA_STATS_APP, app)
    body += attr(TCA_STATS2 | NLA_F_NESTED, stats)
    return msg(RTM_NEWQDISC, body)


def link(ifindex, name, base):
    stats = struct.pack("=25Q", *range(base, base + 25))
    return msg(RTM_NEWLINK, ifinfomsg(ifindex)
               + attr(IFLA_IFNAME, name + b"\0")
               + attr(IFLA_STATS64, stats))


def pfc(name):
    ieee_pfc = struct.pack("=BBBxH2x8Q8Q", 8, 0x18, 0, 32,
                           *range(100, 108), *range(200, 208))
    ieee = (attr(DCB_ATTR_IEEE_ETS, b"\0" * 40)
            + attr(DCB_ATTR_IEEE_PFC, ieee_pfc))
    return msg(RTM_GETDCB, struct.pack("=BBH", 0, DCB_CMD_IEEE_GET, 0)
               + attr(DCB_ATTR_IFNAME, name + b"\0")
               + attr(DCB_ATTR_IEEE | NLA_F_NESTED, ieee))


def pause(ifindex, name):
    hdr = attr(1, struct.pack("=I", ifindex)) + attr(2, name + b"\0")
    stats = (attr(1, b"") + attr(2, struct.pack("=Q", 1234))
             + attr(3, struct.pack("=Q", 5678)))
    return msg(ETHTOOL_FAMILY, struct.pack("=BBH",
                                           ETHTOOL_MSG_PAUSE_GET_REPLY, 1, 0)
               + attr(1 | NLA_F_NESTED, hdr) + attr(2, b"\1")
               + attr(3, b"\1") + attr(4, b"\0")
               + attr(5 | NLA_F_NESTED, stats))


def done():
    return msg(NLMSG_DONE, struct.pack("=i", 0))


def main():
    out = sys.argv[1]
    seeds = {}

    # Captured.
    seeds["live-links"] = capture(
        socket.NETLINK_ROUTE,
        msg(RTM_GETLINK, ifinfomsg(), NLM_F_REQUEST | NLM_F_DUMP))
    seeds["live-qdiscs"] = capture(
        socket.NETLINK_ROUTE,
        msg(RTM_GETQDISC, tcmsg(0, 0, 0) + attr(TCA_DUMP_INVISIBLE, b""),
            NLM_F_REQUEST | NLM_F_DUMP))
    seeds["live-dcb-lo"] = capture(
        socket.NETLINK_ROUTE,
        msg(RTM_GETDCB, struct.pack("=BBH", 0, DCB_CMD_IEEE_GET, 0)
            + attr(DCB_ATTR_IFNAME, b"lo\0"), NLM_F_REQUEST))

    # Built.
    fq_codel = struct.pack("=10I", 0, 1514, 5, 321, 9, 1, 2, 7, 4096, 0)
    red = struct.pack("=4I", 1, 2, 3, 4000)
    fq_pie = struct.pack("=9I", 10, 2, 1, 0, 55, 3, 1, 1, 9000)
    seeds["built-fq_codel"] = link(4, b"eth0", 1) + qdisc(4, b"fq_codel",
                                                         fq_codel) + done()
    seeds["built-red"] = link(5, b"eth1", 2) + qdisc(5, b"red", red) + done()
    seeds["built-red-legacy-xstats"] = qdisc(5, b"red", red, legacy=True)
    seeds["built-fq_pie"] = qdisc(6, b"fq_pie", fq_pie)
    seeds["built-pfc"] = link(7, b"eth2", 3) + pfc(b"eth2") + done()
    seeds["built-pause"] = link(8, b"eth3", 3) + pause(8, b"eth3") + done()
    seeds["built-wrap"] = (link(4, b"eth0", 10)
                           + qdisc(4, b"fq_codel", fq_codel) + done()
                           + link(4, b"eth0", 1) + qdisc(4, b"red", red)
                           + done())

    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"\0" + data)
    with open("/proc/net/netstat", "rb") as f:
        netstat = f.read()
    with open(os.path.join(out, "netstat"), "wb") as f:
        f.write(b"\1" + netstat)
    with open(os.path.join(out, "counter"), "wb") as f:
        f.write(b"\2" + b"18446744073709551615\n")


if __name__ == "__main__":
    main()

"""The CATS OpenFlow pipeline installed by hand with ovs-ofctl.

This is the reference pipeline that was validated before cats-controller
existed (see tests/integration/README.md, "Step 1").  The integration tests
can drive it instead of the controller (--static) to check the harness
itself, and topologies/single_site.py uses it when no controller is given.

One service: VIP:port/tcp, a select group (dp_hash) whose buckets commit the
connection to conntrack with DNAT to an instance and mark it with the
service id (ct_mark), per-instance new-connection counters in table 2, a
learned table 3 that maps instance IP -> MAC/port (from replies to ARP
probes sent as the VIP), ARP and ICMP echo answered for the VIP.  The same
flows as cats-controller's pipeline (include/cats/flow-model.h).

Slot apportionment: OVS maps dp_hash values to buckets; it uses
ROUND_UP_POW2(total_weight / min_weight) hash values (at least 16, at most
256) and shares them out by Webster's method.  With weights that are an
exact apportionment of 256 and one bucket of weight 1, OVS uses exactly 256
hash values and gives each bucket exactly `weight` of them, so the realized
split is the intended one up to 1/256.
"""

import subprocess

OFCTL = ["ovs-ofctl", "-O", "OpenFlow15"]
N_SLOTS = 256
LEARN_COOKIE = "0xca76000000000000"
DEFAULT_ZONE = 3239


def vip_mac_for(vip):
    """02:ca:75 followed by the low 24 bits of the VIP."""
    b = [int(x) for x in vip.split(".")]
    return "02:ca:75:%02x:%02x:%02x" % (b[1], b[2], b[3])


def apportion(weights, slots=N_SLOTS):
    """Largest-remainder apportionment of `slots` over weights (list of
    non-negative ints).  Returns a list of ints summing to `slots`, or all
    zeros when every weight is zero."""
    total = sum(weights)
    if total <= 0:
        return [0] * len(weights)
    quotas = [w * slots / total for w in weights]
    seats = [int(q) for q in quotas]
    left = slots - sum(seats)
    order = sorted(range(len(weights)),
                   key=lambda i: (-(quotas[i] - seats[i]), i))
    for i in order[:left]:
        seats[i] += 1
    return seats


def group_buckets(backends, slots=N_SLOTS):
    """backends: list of (ip, port, weight).  Returns a list of
    (bucket_weight, ip, port): weights sum to `slots` and the smallest is 1,
    so OVS uses exactly `slots` hash values, `weight` of them per bucket."""
    seats = apportion([w for _, _, w in backends], slots)
    buckets = [(s, ip, port) for s, (ip, port, _) in zip(seats, backends)
               if s > 0]
    if buckets and min(b[0] for b in buckets) > 1:
        # Split one slot off the first bucket into a weight-1 bucket.
        s, ip, port = buckets[0]
        buckets[0:1] = [(1, ip, port), (s - 1, ip, port)]
    return buckets


def arp_request_hex(src_mac, src_ip, target_ip):
    def mac(m):
        return m.replace(":", "")

    def ip(a):
        return "".join("%02x" % int(x) for x in a.split("."))
    return ("ffffffffffff" + mac(src_mac) + "0806" + "0001" + "0800" +
            "0604" + "0001" + mac(src_mac) + ip(src_ip) + "000000000000" +
            ip(target_ip))


def _hex_ip(a):
    return "0x" + "".join("%02x" % int(x) for x in a.split("."))


class StaticPipeline:
    """Install and reweight the pipeline with ovs-ofctl.

    instances: list of [ip, port, weight].  fixes=True adds the rules that
    Step 1 found missing (drop conntrack-invalid and non-service traffic to
    the VIP instead of flooding it)."""

    def __init__(self, bridge, vip, port, instances, zone=DEFAULT_ZONE,
                 group_id=1, fixes=True, run=None):
        self.bridge = bridge
        self.vip = vip
        self.vip_mac = vip_mac_for(vip)
        self.port = port
        self.instances = [list(i) for i in instances]
        self.zone = zone
        self.group_id = group_id
        self.fixes = fixes
        self._run = run or self._default_run

    @staticmethod
    def _default_run(argv, input_text=None):
        p = subprocess.run(argv, input=input_text, capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv),
                                           p.stderr.strip()))
        return p.stdout

    # -- flow text ---------------------------------------------------------
    def learn(self):
        return ("learn(table=3,priority=100,cookie=%s,eth_type=0x800,"
                "NXM_OF_IP_DST[]=NXM_OF_ARP_SPA[],"
                "load:NXM_NX_ARP_SHA[]->NXM_OF_ETH_DST[],"
                "output:NXM_OF_IN_PORT[])" % LEARN_COOKIE)

    def flows(self):
        vip, mac, port, zone = self.vip, self.vip_mac, self.port, self.zone
        macx = "0x" + mac.replace(":", "")
        f = [
            # ARP request for the VIP: answer it.
            "table=0,priority=110,arp,arp_tpa=%s,arp_op=1 actions="
            "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:%s,"
            "load:0x2->NXM_OF_ARP_OP[],"
            "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
            "load:%s->NXM_NX_ARP_SHA[],"
            "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
            "load:%s->NXM_OF_ARP_SPA[],in_port" % (vip, mac, macx,
                                                   _hex_ip(vip)),
            # ARP reply to the VIP (our probes): learn IP -> MAC, port.
            "table=0,priority=110,arp,arp_tpa=%s,arp_op=2 actions=%s"
            % (vip, self.learn()),
            # ICMP echo to the VIP: answer it.
            "table=0,priority=110,icmp,nw_dst=%s,icmp_type=8,icmp_code=0 "
            "actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
            "mod_dl_src:%s,move:NXM_OF_IP_SRC[]->NXM_OF_IP_DST[],"
            "load:%s->NXM_OF_IP_SRC[],load:0->NXM_OF_ICMP_TYPE[],in_port"
            % (vip, mac, _hex_ip(vip)),
            "table=0,priority=100,tcp,nw_dst=%s,tp_dst=%d "
            "actions=ct(table=1,zone=%d,nat)" % (vip, port, zone),
        ]
        for ip, iport, _w in self.instances:
            f.append("table=0,priority=100,tcp,nw_src=%s,tp_src=%d "
                     "actions=ct(table=1,zone=%d,nat)" % (ip, iport, zone))
            f.append("table=2,priority=100,ct_state=+new+trk,ct_mark=%d,tcp,"
                     "nw_dst=%s,tp_dst=%d actions=resubmit(,3)"
                     % (self.group_id, ip, iport))
        f += [
            "table=0,priority=0 actions=NORMAL",
            "table=1,priority=100,ct_state=+new+trk,tcp,nw_dst=%s,tp_dst=%d "
            "actions=group:%d" % (vip, port, self.group_id),
            "table=1,priority=50,ct_state=+trk+dnat-rpl,ip "
            "actions=resubmit(,3)",
            "table=1,priority=0 actions=NORMAL",
            "table=2,priority=0 actions=resubmit(,3)",
            "table=3,priority=0 actions=NORMAL",
        ]
        if self.fixes:
            f += [
                # Without these, NORMAL floods them (VIP MAC is never
                # learned) to every port.
                "table=0,priority=80,ip,nw_dst=%s actions=drop" % vip,
                "table=1,priority=90,ct_state=+inv+trk,ip,nw_dst=%s "
                "actions=drop" % vip,
            ]
        return f

    def group(self):
        backends = [(ip, p, w) for ip, p, w in self.instances]
        buckets = group_buckets(backends)
        parts = ["group_id=%d,type=select,selection_method=dp_hash"
                 % self.group_id]
        for i, (w, ip, p) in enumerate(buckets):
            parts.append("bucket=bucket_id:%d,weight:%d,actions=ct(commit,"
                         "zone=%d,nat(dst=%s:%d),"
                         "exec(set_field:%d->ct_mark),table=2)"
                         % (i, w, self.zone, ip, p, self.group_id))
        return ",".join(parts)

    # -- operations --------------------------------------------------------
    def install(self):
        """Group and flows in two atomic bundles, then ARP probes."""
        br = self.bridge
        self._run(OFCTL + ["--may-create", "mod-group", br, self.group()])
        self._run(OFCTL + ["--bundle", "add-flows", br, "-"],
                  "\n".join(self.flows()) + "\n")
        self.probe()

    def probe(self):
        """ARP request from the VIP for every instance; the replies fill
        table 2 through the learn action."""
        for ip, _p, _w in self.instances:
            pkt = arp_request_hex(self.vip_mac, self.vip, ip)
            self._run(OFCTL + ["packet-out", self.bridge,
                               "in_port=controller packet=%s actions=NORMAL"
                               % pkt])

    def set_weight(self, ip, weight, port=None):
        for inst in self.instances:
            if inst[0] == ip and (port is None or inst[1] == port):
                inst[2] = weight
                break
        else:
            raise KeyError(ip)
        self._run(OFCTL + ["mod-group", self.bridge, self.group()])

    def table2_ips(self):
        out = self._run(OFCTL + ["dump-flows", self.bridge,
                                 "table=2,cookie=%s/-1" % LEARN_COOKIE])
        ips = set()
        for line in out.splitlines():
            for tok in line.replace(",", " ").split():
                if tok.startswith("nw_dst="):
                    ips.add(tok[len("nw_dst="):])
        return ips

    def group_stats(self):
        return self._run(OFCTL + ["dump-group-stats", self.bridge])

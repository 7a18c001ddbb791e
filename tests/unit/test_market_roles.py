"""The three roles of examples/market.py on the reference interpreter: what each node does with a stream.

Each node loads its own members (Topology.copies) and control state into its role's pipeline; the checks
are stated in terms of the tree (which child gets which copy) and the message fields."""
import os
import struct

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import nicc.dsl as nd
from nicc.compiler.interp import Reference
from nicc.runtime.packets import udp_frame

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKET = os.path.join(ROOT, "examples", "market.py")
HISTORY = 9101
FMT = "!QQQBIQI"


@pytest.fixture(scope="module")
def tree():
    return nd.load_tree(MARKET)


def node_ir(tree, topo, role, node, stamp=0):
    assert topo.nodes[node].role == role
    return tree.node_pipeline(topo, node, host=(1, HISTORY), state={"stamp_ns": stamp} if stamp else None)


def msg(msg_id, send=0, deadline=0, flags=0, body=b"quote"):
    return struct.pack(FMT, msg_id, send, deadline, flags, 42, 12345678, 100) + body


def frames(payloads, src="10.9.9.9"):
    rng = np.random.default_rng(0)
    return [bytes(udp_frame(p, 9100, rng)) for p in payloads]


def fields(frame):
    return struct.unpack(FMT, bytes(Ether(frame)[UDP].payload)[:41])


def test_sender_stamps_ids_times_and_sends_to_the_root_and_its_host(tree):
    topo = tree.topology(receivers=32, hedge=2)
    ir = node_ir(tree, topo, "sender", topo.sender)
    ts = [1000, 2000, 3000, 4000, 5000]
    got = Reference(ir).run(frames([msg(0), msg(0), msg(0, flags=1), msg(0), msg(7, send=99)]), ts)
    assert [r.verdict for r in got] == ["multicast"] * 4 + ["pass"]          # a stamped copy passes
    root = topo.nodes[topo.level(1)[0]]
    me = topo.nodes[topo.sender]
    for r, want_id, t in zip(got[:4], [1, 2, 2, 3], ts):
        to_root, to_host = (Ether(f) for f in r.frames)
        assert (to_root.dst, to_root[IP].dst, to_root[UDP].dport) == (root.mac, root.ip, 9100)
        assert (to_host.dst, to_host[IP].dst, to_host[UDP].dport) == (me.mac, me.ip, HISTORY)
        assert (to_root.src, to_root[IP].src) == (me.mac, me.ip)
        assert fields(r.frames[0])[:3] == (want_id, t, 0) and fields(r.frames[1]) == fields(r.frames[0])
        assert bytes(to_root[UDP].payload)[41:] == b"quote"


def test_root_proxy_stamps_monotone_deadlines_other_proxies_leave_the_payload(tree):
    topo = tree.topology(receivers=32, hedge=2)
    root = topo.level(1)[0]
    ts = [10_000, 20_000, 15_000, 30_000, 31_000]           # a clock step back: deadlines do not go back
    stream = [msg(1, 5), msg(2, 6), msg(3, 7), msg(3, 7), msg(4, 8)]
    got = Reference(node_ir(tree, topo, "proxy", root, stamp=25_000)).run(frames(stream), ts)
    assert [r.verdict for r in got] == ["multicast", "multicast", "multicast", "drop", "multicast"]
    dls = [fields(r.frames[0])[2] for r in got if r.frames]
    assert dls == [35_000, 45_000, 45_000, 56_000]
    mid = topo.level(2)[1]
    got = Reference(node_ir(tree, topo, "proxy", mid)).run(frames(stream), ts)
    assert [fields(r.frames[0])[2] for r in got if r.frames] == [0, 0, 0, 0]


def test_proxy_copies_follow_the_tree_own_children_then_hedged_then_host(tree):
    topo = tree.topology(receivers=32, hedge=2)
    p = topo.level(2)[2]
    got = Reference(node_ir(tree, topo, "proxy", p)).run(frames([msg(9, 1)]))[0]
    kids = topo.children(p)
    assert len(got.frames) == len(kids) + 1
    for c, f in zip(kids, got.frames):
        e = Ether(f)
        assert (e.dst, e[IP].dst, e[UDP].dport) == (topo.nodes[c.node].mac, topo.nodes[c.node].ip, 9100)
    assert [c.primary for c in kids] == sorted((c.primary for c in kids), reverse=True)   # own children first
    host = Ether(got.frames[-1])
    assert (host[IP].dst, host[UDP].dport) == (topo.nodes[p].ip, HISTORY)
    # every receiver gets H+1 copies, one from each of its parents
    copies = {}
    for q in topo.level(2):
        for f in Reference(node_ir(tree, topo, "proxy", q)).run(frames([msg(9, 1)]))[0].frames[:-1]:
            copies.setdefault(Ether(f)[IP].dst, []).append(q)
    assert all(sorted(copies[topo.nodes[r].ip]) == sorted(topo.parents(r)) for r in topo.receivers)


def test_heartbeats_pass_once_and_data_is_deduplicated_at_receivers(tree):
    topo = tree.topology(receivers=32, hedge=2)
    ir = node_ir(tree, topo, "receiver", topo.receivers[0])
    stream = [msg(1, 5), msg(1, 5), msg(1, 100, flags=1), msg(1, 100, flags=1), msg(1, 90, flags=1), msg(2, 6),
              msg(2 + 16384, 7), msg(2, 6)]
    got = [r.verdict for r in Reference(ir).run(frames(stream))]
    assert got == ["pass", "drop", "pass", "drop", "drop", "pass", "pass", "drop"]

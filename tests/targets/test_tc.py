"""The TC target (the eBPF backend's TC dialect) against the reference interpreter, through the kernel.

Every op kind XDP lowers runs the same way here (the all-ops and stream-ops pipelines, E1-E3;
E4/E5 and the split E2 in test_streams.py and test_split.py); multicast is
this dialect's own (tests/targets/test_multicast.py on every target): on a live attach each
child's copy reaches that child's namespace, rewritten to its addresses."""
import os
import socket
import struct
import subprocess
import sys

import pytest

import nicc.dsl as nd
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.dsl import load
from nicc.runtime.difftest import differential_test
from nicc.runtime.load import in_netns

sys.path.insert(0, os.path.dirname(__file__))
from all_ops import ops_text, streams_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.toolchain, pytest.mark.privileged]


def target():
    from nicc.runtime.tc import TcTarget
    t = TcTarget()
    why = t.unavailable()
    if why:
        pytest.skip(f"tc target unavailable: {why}")
    return t


@pytest.mark.parametrize("name", ["normalize", "criteo", "dedup"])
def test_examples_match_the_reference(name, tmp_path):
    t = target()
    ir = run_passes(load(os.path.join(ROOT, "examples", f"{name}.py")).trace())
    assert differential_test(ir, t, count=1500, seed=2, artifact=t.compile(ir, str(tmp_path)))


def test_every_op_kind(tmp_path):
    t = target()
    ir = verify(parse_pipeline(ops_text(), "ops.nir"))
    assert differential_test(ir, t, count=1500, seed=4, artifact=t.compile(ir, str(tmp_path)))


def test_stream_op_kinds(tmp_path):
    """Streams, ranges, gathers, scans (bpf_loop callbacks) and host hand-offs: the records' busy words are
    given back on every way out, hand-offs are completed by the host part."""
    t = target()
    ir = verify(parse_pipeline(streams_text(), "streams.nir"))
    stats = {}
    assert differential_test(ir, t, count=1500, seed=5, artifact=t.compile(ir, str(tmp_path)), stats=stats)
    assert stats["processed"] > 100


@pytest.fixture
def tree_ns():
    """Three namespaces on a bridge: a proxy and two children (addresses from a tiny tree)."""
    tag = f"nicct{os.getpid()}"
    from nicc.compiler.topology import TreeSpec, build_topology
    from nicc.runtime.emulate.net import Fabric
    topo = build_topology(TreeSpec(receivers=2, fanout=2, port=9100))
    fab = Fabric(topo, tag)
    with fab:
        yield topo, fab


def test_live_proxy_sends_each_child_its_copy(tree_ns, tmp_path):
    """The proxy role attached at a proxy's ingress: each receiver gets one copy, addressed to it; the proxy's
    host gets the last copy on its history port; a duplicate is suppressed; counters say so."""
    from nicc.runtime.tc import Port
    t = target()
    topo, fab = tree_ns
    tree = nd.load_tree(os.path.join(ROOT, "examples", "market.py"))
    proxy = topo.level(1)[0]
    ir = tree.node_pipeline(topo, proxy, host=(1, 9101))
    art = t.compile(tree.roles["proxy"].trace(), str(tmp_path))
    idx = fab.ifindex(proxy)
    dp = t.attach(ir, art, "eth0", "ingress", ports={0: Port(idx), 1: Port(idx, ingress=True)},
                  netns=fab.node_ns(proxy))
    try:
        socks = {}
        for r in list(topo.receivers) + [proxy]:
            port = 9101 if r == proxy else 9100
            with in_netns(fab.node_ns(r)):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((topo.nodes[r].ip, port))
            s.settimeout(5)
            socks[r] = s
        with in_netns(fab.node_ns(topo.sender)):
            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        msg = struct.pack("!QQQBIQI", 7, 123, 0, 0, 1, 2, 3) + b"body"
        for _ in range(2):                                    # the second is a duplicate
            out.sendto(msg, (topo.nodes[proxy].ip, 9100))
        for r, s in socks.items():
            data, (src, _) = s.recvfrom(2048)
            assert data == msg and src == topo.nodes[proxy].ip
            s.settimeout(0.3)
            with pytest.raises(socket.timeout):
                s.recvfrom(2048)
        c = dp.counters()
        assert c["multicast"] == 1 and c["drop"] == 1 and c["copies"] == len(topo.children(proxy)) + 1
    finally:
        dp.detach()
    out = subprocess.run(["tc", "-n", fab.node_ns(proxy), "filter", "show", "dev", "eth0", "ingress"],
                         capture_output=True, text=True).stdout
    assert "bpf" not in out

"""Multicast on every target against the reference interpreter: identical copies, and copies rewritten
per member (static and sized groups, with and without a new payload, 0 to 16 members, ports repeated).

TC sends real copies with bpf_clone_redirect through a veth and reads them back; DPDK makes them in
its data plane (copies or clones) onto a pcap port; bmv2 replicates through its packet replication
engine with per-replica egress rewrite. Each compares the frames every input leaves as, in order."""
import os
import sys

import pytest

import nicc.dsl as nd
from nicc.compiler.errors import SourceLoc
from nicc.compiler.groups import Addr, Member, bind_groups
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import verify
from nicc.dsl.pipeline import PipelineDef
from nicc.runtime.difftest import differential_test
from nicc.runtime.target import TargetUnavailable, get_target

sys.path.insert(0, os.path.dirname(__file__))
from all_ops import MULTICAST_FINAL_TEXT, MULTICAST_TEXT  # noqa: E402
from bmv2_ops import MULTICAST_TEXT as MULTICAST_EMIT_TEXT  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_P4 = os.path.join(os.path.dirname(ROOT), "shared", "p4")
if not os.environ.get("NICC_P4_PREFIX") and os.path.isdir(SHARED_P4):
    os.environ["NICC_P4_PREFIX"] = SHARED_P4
TARGETS = [pytest.param("tc", marks=pytest.mark.privileged), "dpdk", "bmv2"]
pytestmark = pytest.mark.toolchain


def target(name):
    try:
        t = get_target(name)
    except TargetUnavailable as e:
        pytest.skip(str(e))
    why = t.unavailable()
    if why:
        pytest.skip(f"{name} unavailable here: {why}")
    return t


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("text", [MULTICAST_TEXT, MULTICAST_FINAL_TEXT, MULTICAST_EMIT_TEXT],
                         ids=["multicast_if", "multicast", "emit_transmit_two_groups"])
def test_identical_copies(name, text, tmp_path):
    t = target(name)
    ir = verify(parse_pipeline(text, "mc.nir"))
    stats = {}
    assert differential_test(ir, t, count=600, seed=5, artifact=t.compile(ir, str(tmp_path)), stats=stats)
    assert stats["multicast"] > 50


class Msg(nd.Record):
    a = nd.u32
    b = nd.u16
    rest = nd.rest


def sized(emit):
    def mc(rec: Msg):
        g = nd.group("kids", max=16, rewrite="mac ip udp", source="mac ip udp")
        nd.drop_if(rec.b == 7)
        return nd.multicast(g, rec.a + 1, rec.b) if emit else nd.multicast(g)
    return PipelineDef(mc, 9200, Msg, f"kids{int(emit)}", SourceLoc(__file__, 1)).trace()


def kids(n):
    return [Member(k % 3, Addr(f"02:00:00:00:01:{k:02x}", f"10.2.0.{k + 1}", 9000 + k)) for k in range(n)]


_ART = {}


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("emit", [False, True])
@pytest.mark.parametrize("n", [0, 1, 5, 16])
def test_sized_group_rewritten_in_member_order(name, emit, n, tmp_path_factory):
    """One compiled pipeline; each run loads other members (as each node of a tree does)."""
    t = target(name)
    ir = sized(emit)
    if (name, emit) not in _ART:
        _ART[name, emit] = t.compile(ir, str(tmp_path_factory.mktemp(f"{name}{int(emit)}")))
    node = bind_groups(ir, {"kids": (kids(n), Addr("02:00:00:00:00:aa", "10.1.0.9", 4000))})
    stats = {}
    assert differential_test(node, t, count=400, seed=n, artifact=_ART[name, emit], stats=stats)
    assert stats["tx_frames"] - stats["pass"] - stats["transmit"] == n * stats["multicast"]


@pytest.mark.parametrize("name", TARGETS)
def test_static_group_rewriting_some_fields(name, tmp_path):
    def mc(rec: Msg):
        g = nd.group("g", [nd.member(2, ip="10.0.0.2"), nd.member(2, ip="10.0.0.3"), nd.member(5, ip="10.0.0.4")],
                     src=nd.addr(udp=1234))
        return nd.multicast(g, rec.b, rec.a)
    t = target(name)
    ir = PipelineDef(mc, 9300, Msg, "static_ip", SourceLoc(__file__, 1)).trace()
    stats = {}
    assert differential_test(ir, t, count=400, seed=9, artifact=t.compile(ir, str(tmp_path)), stats=stats)
    assert stats["multicast"] > 50

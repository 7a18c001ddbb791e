"""Every role of examples/market.py on every target against the reference interpreter.

Each role compiles once per target; each node then loads its own multicast members (its
children, own then hedged siblings', then its host) and control state (the root proxy's
stamp_ns) into that artifact. The differential harness compares the frames each input
leaves as, copies in order; a second run gives the clock per frame (a capture's
timestamps), so the sender's send_ns and the root's deadlines are checked too."""
import os

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.interp import Reference
from nicc.runtime.difftest import differential_test, first_mismatch
from nicc.runtime.packets import generate
from nicc.runtime.target import TargetUnavailable, get_target

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKET = os.path.join(ROOT, "examples", "market.py")
SHARED_P4 = os.path.join(os.path.dirname(ROOT), "shared", "p4")
if not os.environ.get("NICC_P4_PREFIX") and os.path.isdir(SHARED_P4):
    os.environ["NICC_P4_PREFIX"] = SHARED_P4
COUNT = int(os.environ.get("NICC_MARKET_COUNT", "2000"))
HISTORY = (1, 9101)
# (role, which node of a 32-receiver H=2 tree, stamp_ns): the sender, the root (stamps), a level-2 proxy, a receiver
NODES = [("sender", lambda t: t.sender, 0), ("proxy", lambda t: t.level(1)[0], 25_000),
         ("proxy", lambda t: t.level(2)[3], 0), ("receiver", lambda t: t.receivers[17], 0)]
TARGETS = ["tc", "dpdk", "bmv2"]
_ART = {}


@pytest.fixture(scope="module")
def tree():
    return nd.load_tree(MARKET)


def available(name):
    try:
        t = get_target(name)
    except TargetUnavailable as e:
        pytest.skip(str(e))
    why = t.unavailable()
    if why:
        pytest.skip(f"target {name} unavailable here: {why}")
    return t


def artifact(t, tree, role, tmp_path_factory):
    key = (t.name, role)
    if key not in _ART:
        _ART[key] = t.compile(tree.roles[role].trace(), str(tmp_path_factory.mktemp(f"{t.name}-{role}")))
    return _ART[key]


@pytest.mark.toolchain
@pytest.mark.parametrize("target_name", TARGETS)
@pytest.mark.parametrize("k", range(len(NODES)), ids=["sender", "root", "proxy", "receiver"])
def test_role_matches_the_reference(tree, target_name, k, tmp_path_factory):
    role, which, stamp = NODES[k]
    t = available(target_name)
    topo = tree.topology(receivers=32, hedge=2)
    node = which(topo)
    ir = tree.node_pipeline(topo, node, host=HISTORY, state={"stamp_ns": stamp})
    art = artifact(t, tree, role, tmp_path_factory)
    stats = {}
    assert differential_test(ir, t, count=COUNT, seed=k, artifact=art, stats=stats)
    if role != "receiver":
        assert stats["multicast"] > COUNT // 10 and stats["tx_frames"] > stats["multicast"] * len(topo.children(node))
    frames = generate(ir, COUNT // 2, seed=100 + k)
    ts = (np.cumsum(np.random.default_rng(k).integers(1, 10**6, len(frames))) + 10**18).tolist()
    ref = Reference(ir, t.limits).run(frames, ts)
    got = t.run(ir, frames, art, ts)
    assert first_mismatch(ref, got) is None

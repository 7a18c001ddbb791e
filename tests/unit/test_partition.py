"""The partition pass (docs/partition.md): where stages go, the wire format, and meaning kept."""
import os

import pytest

import nicc.dsl as nd
from nicc.backends.capabilities import capabilities
from nicc.compiler.errors import NiccError
from nicc.compiler.interp import Reference
from nicc.compiler.partition import HEADER_BYTES, partition
from nicc.compiler.passes import run_passes
from nicc.runtime.packets import generate
from nicc.runtime.split import complete, plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def example(name, pick=None):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py"), pick).trace())


def places(sp):
    return {r["stage"]: r["place"] for r in sp.rows}


def test_float_math_goes_to_the_host_and_the_rest_stays_on_the_nic():
    sp = plan(example("criteo_log"), "xdp")
    assert sp.split
    p = places(sp)
    assert p["map: crc32, and"] == "nic" and p["verdict_if drop"] == "nic" and p["field label"] == "nic"
    assert p["map: call log1p"] == "host" and p["map: cast to f32"] == "host" and p["emit"] == "host"
    # what crosses: the header, the label, the 26 hashes, the 13 dense values (165 bytes)
    assert sp.wire.size == HEADER_BYTES + 1 + 26 * 4 + 13 * 4
    assert sp.nic.emit().attr("port") == sp.host_port and sp.host.emit().attr("port") == 9002


@pytest.mark.parametrize("target", ["xdp", "dpdk", "bmv2"])
def test_the_nic_and_host_parts_mean_what_the_whole_pipeline_means(target):
    ir = example("criteo_log")
    sp = plan(ir, target)
    frames = generate(ir, 4000, seed=11)
    whole = Reference(ir).run(frames)
    done = complete(sp, Reference(sp.nic).run(frames), frames)
    assert [(r.verdict, r.frames) for r in done] == [(r.verdict, r.frames) for r in whole]
    assert sum(r.verdict == "pass" and r.reason == "selected" for r in whole) > 50


def test_a_pipeline_the_target_runs_whole_is_not_split():
    for name in ("criteo", "dedup", "normalize"):
        sp = plan(example(name), "xdp")
        assert not sp.split and sp.nic is sp.whole


def test_pins_move_stages():
    ir = example("criteo")
    cap = capabilities("dpdk")
    crc_map = next(n for n in ir.body.nodes if n.op.value == "map" and any(m.op.value == "crc32" for m in n.body.walk()))
    crc_map.set_attr("place", "host")
    sp = partition(ir, lambda n: cap.check(n, ir), "dpdk")
    p = places(sp)
    assert sp.split and p["map: crc32, and"] == "host" and p["map: bucketize"] == "nic"
    assert any(r["reason"] == "pinned by nd.on_host" for r in sp.rows)
    frames = generate(ir, 3000, seed=2)
    assert [(r.verdict, r.frames) for r in complete(sp, Reference(sp.nic).run(frames), frames)] == \
        [(r.verdict, r.frames) for r in Reference(ir).run(frames)]


def test_a_stage_pinned_to_the_nic_after_a_host_stage_is_refused():
    ir = example("criteo_log")
    cap = capabilities("xdp")
    ir.emit().set_attr("place", "nic")
    with pytest.raises(NiccError, match="pinned to the NIC"):
        partition(ir, lambda n: cap.check(n, ir), "xdp")


def test_bmv2_growth_is_a_guard_not_a_cut():
    sp = plan(example("normalize"), "bmv2")
    assert not sp.split and len(sp.guarded) == 1 and "count <= 170" in sp.guarded[0]["reason"]


def test_a_frame_that_only_looks_like_a_wire_payload_is_left_alone():
    """A frame that arrives addressed to the host port is unselected by the NIC part and passes
    unchanged: only payloads the NIC part itself emitted go through the host part."""
    ir = example("criteo_log")
    sp = plan(ir, "dpdk")
    frames = generate(ir, 500, seed=5)
    made = next(r.frames[0] for r in Reference(sp.nic).run(frames)
                if r.reason == "selected" and r.verdict == "pass")
    assert made[36:38] == sp.host_port.to_bytes(2, "big")
    nic = Reference(sp.nic).run([made])                 # a wire payload arriving from outside
    assert nic[0].reason == "unselected"
    assert complete(sp, nic, [made])[0].frames == [made]

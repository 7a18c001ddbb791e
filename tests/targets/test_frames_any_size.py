"""Frames of any size on the real targets, and the run contract's "unhandled" outcome.

Jumbo frames, records larger than a page and outputs that grow past a target's buffers are
processed exactly, or pass to the host unchanged as "unhandled" where the target declares it
(its Limits), never lost, never counted as processed; the frames around them are unaffected.
The reference interpreter under the same limits predicts every outcome.
"""
import os

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.runtime.difftest import differential_test
from nicc.runtime.packets import udp_frame

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIG = os.path.join(ROOT, "tests", "targets", "pipelines", "big.py")
pytestmark = pytest.mark.toolchain


def target(name):
    if name == "xdp":
        from nicc.runtime.xdp import XdpTarget
        t = XdpTarget(echo=False)
    elif name == "tc":
        from nicc.runtime.tc import TcTarget
        t = TcTarget(echo=False)
    else:
        from nicc.runtime.dpdk import DpdkTarget
        t = DpdkTarget(echo=False)
    why = t.unavailable()
    if why:
        pytest.skip(f"{name} target unavailable: {why}")
    return t


def pipeline(name):
    return run_passes(nd.load(BIG, name).trace())


def grow_frame(n, rng, pad=0):
    return bytes(udp_frame(n.to_bytes(2, "big") + bytes(rng.integers(0, 256, n, dtype=np.uint8)), 9102, rng)) \
        + bytes(pad)


def same(a, b):
    return [(r.outcome, r.frames) for r in a] == [(r.outcome, r.frames) for r in b]


@pytest.mark.parametrize("tname", ["xdp", "dpdk"])
@pytest.mark.parametrize("name", ["big", "grow"])
def test_generated_frames_of_every_size(tname, name, tmp_path):
    t = target(tname)
    ir = pipeline(name)
    art = t.compile(ir, str(tmp_path / name))
    assert differential_test(ir, t, count=1500, seed=7, artifact=art)


def test_tc_runs_the_map_that_grows_4x(tmp_path):
    """The verifier took the in-place stores of a 4x-growing map on TC's copy only once their bound was
    on the offset (a map-value pointer compared with the copy's end bounds nothing)."""
    t = target("tc")
    ir = pipeline("grow")
    stats = {}
    assert differential_test(ir, t, count=1500, seed=7, artifact=t.compile(ir, str(tmp_path)), stats=stats)
    assert stats["processed"] > 100


@pytest.mark.parametrize("tname", ["xdp", "dpdk"])
def test_unhandled_frames_pass_unchanged_and_the_run_goes_on(tname, tmp_path):
    t = target(tname)
    ir = pipeline("grow")
    rng = np.random.default_rng(3)
    # around the targets' edges: DPDK's 9216-byte mbufs; XDP's 3520-byte linear part and 4096-byte
    # fragments (a 1000-byte frame may grow to 3520; a 3521-byte one to 7616)
    sizes = [0, 1, 869, 870, 958, 2290, 2291, 3477, 3478, 3479, 4000]
    frames = [grow_frame(n, rng) for n in sizes]
    frames += [grow_frame(100, rng, pad=20000),        # a 20 KB frame: DPDK takes it as a chain, XDP runs it
               grow_frame(1000, rng, pad=4000)]        # padded past one page: XDP's frame has a fragment
    frames += [grow_frame(5, rng)]
    art = t.compile(ir, str(tmp_path / "grow"))
    got = t.run(ir, frames, art)
    ref = Reference(ir, t.limits).run(frames)
    assert same(got, ref)
    outcomes = [r.outcome for r in got]
    assert "unhandled" in outcomes and outcomes[-1] == "pass" and outcomes[:3] == ["pass"] * 3
    for f, r in zip(frames, got):
        if r.outcome == "unhandled":
            assert r.frames == [f]
    # the limits are not vacuous: without them the reference disagrees exactly on those frames
    free = Reference(ir).run(frames)
    assert [r.outcome for r in free] == ["pass"] * len(frames)


def test_xdp_runs_frames_larger_than_a_page(tmp_path):
    t = target("xdp")
    ir = pipeline("big")
    rng = np.random.default_rng(5)
    pl = lambda: b"\x00\x00\x00\x07" + bytes(rng.integers(0, 256, 4000, dtype=np.uint8))  # noqa: E731
    frames = [bytes(udp_frame(pl(), 9101, rng)) for _ in range(4)] + [bytes(udp_frame(pl(), 9101, rng)) + bytes(9000)]
    got = t.run(ir, frames, t.compile(ir, str(tmp_path / "big")))
    assert [r.outcome for r in got] == ["pass"] * 5
    assert same(got, Reference(ir).run(frames))
    assert all(len(r.frames[0]) == 4046 for r in got)


def test_xdp_test_run_growth_limits_match_the_kernel(tmp_path):
    """test_run_capacity against the kernel: each frame grows to exactly its capacity, and one byte more fails."""
    from nicc.runtime.xdp import LINEAR, PAGE, test_run_capacity
    t = target("xdp")
    ir = pipeline("grow")            # n values -> a frame of 44 + 4n bytes from one of 44 + n (+ padding)
    rng = np.random.default_rng(9)
    frames = []
    for pad in (0, LINEAR - 44, LINEAR - 43, LINEAR + PAGE - 44):
        # choose n so that the output is exactly the capacity of the input frame, then one value more
        for extra in (0, 1):
            n = 8
            while 44 + 4 * n < int(test_run_capacity(44 + n + pad)):
                n += 1
            n = int(n - (44 + 4 * n > int(test_run_capacity(44 + n + pad))) + extra)
            frames.append(grow_frame(n, rng, pad=max(0, pad - n)))
    got = t.run(ir, frames, t.compile(ir, str(tmp_path / "grow")))
    ref = Reference(ir, t.limits).run(frames)
    assert same(got, ref)
    assert [r.outcome for r in got].count("unhandled") >= 3


def test_xdp_lost_compare_and_swap_passes_the_packet_unhandled(tmp_path):
    """An update_if that never wins its compare-and-swap passes the packet unchanged, counted (never dropped)."""
    from nicc.backends.xdp.renderer import XdpRenderer
    from nicc.runtime.xdp import XdpTarget

    class NeverWins(XdpRenderer):
        cas_tries = 0                      # as if other CPUs changed the slot every time

    class Contended(XdpTarget):
        renderer_cls = NeverWins

    target("xdp")
    ir = run_passes(nd.load(os.path.join(ROOT, "examples", "dedup.py")).trace())
    rng = np.random.default_rng(1)
    frames = [bytes(udp_frame(i.to_bytes(8, "big") + b"body", 9003, rng)) for i in (5, 5, 6, 5)]
    normal = XdpTarget(echo=False).run(ir, frames)
    assert [r.outcome for r in normal] == ["pass", "drop", "pass", "drop"]
    t = Contended(echo=False)
    got = t.run(ir, frames, t.compile(ir, str(tmp_path / "dedup")))
    assert [r.outcome for r in got] == ["unhandled"] * 4
    assert [r.frames for r in got] == [[f] for f in frames]

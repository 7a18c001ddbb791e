"""The examples with the midend's facts (tests/targets/facts.py) on XDP and DPDK: maps fused into
the emit and written in place (back to front as E1 grows), reads the checks already cover left
unchecked, E1's table lookups as AVX-512 VBMI permutes (and, with NICC_SIMD=scalar, the scalar
loop), each against the reference interpreter; and maps of other shapes through the vector path."""
import io
import os
import sys

import pytest

import nicc.dsl as nd
from nicc.backends.dpdk import generate as dpdk_generate
from nicc.backends.xdp import generate as xdp_generate
from nicc.compiler.ir import Op
from nicc.compiler.passes import run_passes
from nicc.runtime.difftest import differential_test

sys.path.insert(0, os.path.dirname(__file__))
from facts import with_facts  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COUNT = int(os.environ.get("NICC_LOWERED_COUNT", "1500"))


def example(name):
    return with_facts(run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace()))


def dpdk():
    from nicc.runtime.dpdk import DpdkTarget
    t = DpdkTarget(echo=False)
    why = t.unavailable()
    if why:
        pytest.skip(f"dpdk target unavailable: {why}")
    return t


def xdp():
    from nicc.runtime.xdp import XdpTarget
    t = XdpTarget(echo=False)
    why = t.unavailable()
    if why:
        pytest.skip(f"xdp target unavailable: {why}")
    return t


def check(ir, t, tmp_path, count=COUNT):
    out = io.StringIO()
    assert differential_test(ir, t, count=count, seed=0, verbose=True, out=out,
                             artifact=t.compile(ir, str(tmp_path))), out.getvalue()


def test_facts_reach_the_generated_code():
    src = dpdk_generate(example("normalize"))["normalize_process.c"]
    assert "normalize_pixels_vbmi(io + 10, io + 10, n_pixels, 1)" in src      # in place, back to front
    assert "uint16_t pixels_r[" not in src                                     # no intermediate arrays
    src, ctx = xdp_generate(example("criteo"))
    assert ctx["in_place"] and "plen < 53U" not in src and "s->out" not in src
    assert "bpf_loop" not in src and "#pragma unroll" in src


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["criteo", "normalize"])
@pytest.mark.parametrize("simd", ["vbmi", "scalar"])
def test_dpdk_with_facts(name, simd, tmp_path, monkeypatch):
    if simd == "scalar":
        monkeypatch.setenv("NICC_SIMD", "scalar")      # the data plane takes the scalar loop
    elif name == "criteo":
        pytest.skip("E2 has no simd map")
    check(example(name), dpdk(), tmp_path)


@pytest.mark.toolchain
@pytest.mark.privileged
@pytest.mark.parametrize("name", ["criteo", "normalize"])
def test_xdp_with_facts(name, tmp_path):
    check(example(name), xdp(), tmp_path)


class P1(nd.Record):
    n = nd.u8
    xs = nd.array(nd.u8, count="n", max=200)


class P2(nd.Struct):
    a = nd.u8
    b = nd.u8


class R2(nd.Record):
    n = nd.u16
    xs = nd.array(P2, count="n", max=150)


class P4(nd.Struct):
    a = nd.u8
    b = nd.u8
    c = nd.u8
    d = nd.u8


class R4(nd.Record):
    tag = nd.u32
    xs = nd.array(P4, 70)


sq = nd.lut(lambda x: (int(x) * 37 + 5) & 0xFFFF, domain=nd.u8, out=nd.u16, name="sq")
inv = nd.lut(lambda x: 255 - int(x), domain=nd.u8, out=nd.u8, name="inv")


@nd.pipeline(port=9301)
def shape1(rec: P1):
    return nd.to_host(rec.n, rec.xs.map(lambda x: sq(x)))               # 1 byte in, 2 out (big-endian)


@nd.pipeline(port=9302)
def shape2(rec: R2):
    return nd.to_host(rec.n, nd.le(rec.xs.map(lambda p: {"x": inv(p.b), "y": sq(p.a), "z": inv(p.a)})))


@nd.pipeline(port=9303)
def shape4(rec: R4):
    return nd.to_host(rec.tag, rec.xs.map(lambda p: {"a": inv(p.d), "b": inv(p.c)}))   # shrinks


SHAPES = {"shape1": shape1, "shape2": shape2, "shape4": shape4}


@pytest.mark.toolchain
@pytest.mark.parametrize("name", SHAPES)
def test_dpdk_simd_shapes(name, tmp_path):
    ir = with_facts(run_passes(SHAPES[name].trace()))
    assert "_vbmi(" in dpdk_generate(ir)[f"{name}_process.c"], "the map should run as permutes"
    assert [n.attr("fuse") for n in ir.body.walk() if n.op is Op.MAP] == ["emit"]
    check(ir, dpdk(), tmp_path, count=800)


@pytest.mark.toolchain
@pytest.mark.privileged
@pytest.mark.parametrize("name", SHAPES)
def test_xdp_fused_shapes(name, tmp_path):
    check(with_facts(run_passes(SHAPES[name].trace())), xdp(), tmp_path, count=800)


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["normalize", "shape2", "shape4"])
def test_dpdk_sanitizers_with_facts(name, tmp_path):
    """In place, fused and vectorized (masked vector loads and stores at the ends of the payload):
    ASan and UBSan report nothing, on traffic malformed at every layer and every truncation."""
    from nicc.compiler.interp import Reference
    from test_dpdk import corpus
    t = dpdk()
    ir = example(name) if name == "normalize" else with_facts(run_passes(SHAPES[name].trace()))
    frames = corpus(ir)
    proc, out = t.run_harness(ir, t.compile(ir, str(tmp_path)), frames)
    assert proc.returncode == 0 and "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr, \
        proc.stderr[-3000:]
    ref = Reference(ir).run(frames, list(range(len(frames))))
    assert [(r.reason if r.reason != "selected" else r.verdict, r.frames[0] if r.frames else None) for r in ref] == \
           [(v, f if r.frames else None) for r, (v, f) in zip(ref, out)]

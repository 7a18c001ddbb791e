"""Maps as AVX-512 vectors on DPDK (``schedule=vector``, nicc.backends.dpdk.vector) against the
reference interpreter: the op-by-op pipelines of pipelines/vectors.py and E4's two passes, and the
interleaved emits of one-byte fields, each with the vectors and with NICC_SIMD=scalar (the scalar loops
the same code falls back to)."""
import io
import os
import re

import pytest

import nicc.dsl as nd
from nicc.backends.dpdk import generate
from nicc.backends.lowering import choose_lowerings
from nicc.compiler.ir import Op
from nicc.compiler.passes import run_passes
from nicc.runtime.difftest import differential_test

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PIPELINES = {"gathers": ("pipelines/vectors.py", "gathers"), "chained": ("pipelines/vectors.py", "chained"),
             "planes": ("pipelines/vectors.py", "planes"), "narrow": ("pipelines/vectors.py", "narrow"),
             "pixels": ("pipelines/vectors.py", "pixels"), "resize": ("../../examples/resize.py", None)}


def avx512() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return all(f" {x} " in flags for x in ("avx512f", "avx512bw", "avx512vl", "avx512vbmi"))


def pipeline(name):
    path, fn = PIPELINES[name]
    return run_passes(nd.load(os.path.join(HERE, path), fn).trace())


def dpdk():
    from nicc.runtime.dpdk import DpdkTarget
    t = DpdkTarget(echo=False)
    why = t.unavailable()
    if why:
        pytest.skip(f"dpdk target unavailable: {why}")
    return t


@pytest.mark.parametrize("name", PIPELINES)
def test_the_maps_are_vectors(name):
    ir = pipeline(name)
    maps = [n for n in ir.body.nodes if n.op is Op.MAP]
    src = generate(ir)[f"{ir.name}_process.c"]
    choose_lowerings(ir, "dpdk")
    assert maps and all(n.attr("schedule") == "vector" for n in maps)
    calls = re.findall(r"if \(nicc_simd_vbmi\(\)[^\n]*\) \{\n\s+\w+_vmap\w*\(", src)
    assert len(calls) == len(maps), "each map: the vector call under the CPU check, the scalar loop after"
    if name in ("planes", "resize"):
        assert "_interleave" in src, "one-byte fields are emitted interleaved by permutes"
    if name in ("narrow", "pixels"):
        assert "__mmask32 lm" in src, "a map of 16-bit values runs 32 lanes a step"
    if name in ("pixels", "resize"):
        assert "nicc_field_bytes16(" in src, "one-byte fields of the payload are read as planes"


@pytest.mark.toolchain
@pytest.mark.parametrize("name", PIPELINES)
@pytest.mark.parametrize("simd", ["avx512", "scalar"])
def test_vector_maps_match_the_reference(name, simd, tmp_path, monkeypatch):
    if simd == "scalar":
        monkeypatch.setenv("NICC_SIMD", "scalar")
    elif not avx512():
        pytest.skip("the CPU has no AVX-512 F/BW/VL/VBMI: the vector maps cannot run here")
    ir, t = pipeline(name), dpdk()
    out = io.StringIO()
    count = 1000 if name == "resize" else 2500
    assert differential_test(ir, t, count=count, seed=3, verbose=True, out=out,
                             artifact=t.compile(ir, str(tmp_path))), out.getvalue()

"""Which maps run as AVX-512 vectors on DPDK (nicc.backends.vectorize), decided on the IR alone:
accepted shapes, and each refusal with its reason."""
import os

import pytest

import nicc.dsl as nd
from nicc.backends.lowering import choose_lowerings
from nicc.backends.vectorize import vector_map_reason
from nicc.compiler.ir import Op
from nicc.compiler.passes import run_passes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def maps(ir):
    return [n for n in ir.body.nodes if n.op is Op.MAP]


def load(path, name=None):
    return run_passes(nd.load(os.path.join(ROOT, path), name).trace())


class R(nd.Record):
    n = nd.u16
    xs = nd.array(nd.u16, count="n", max=100)


class S(nd.Record):
    n = nd.u16
    xs = nd.array(nd.i16, count="n", max=100)


TAB = nd.rom(list(range(100)), nd.u16, name="tab")
BYTE = nd.lut(lambda x: 255 - int(x), domain=nd.u8, out=nd.u8, name="byte")


def twice(body, rec_type=R):
    """A pipeline emitting the map of ``body`` twice (so it is not fused into the emit)."""
    @nd.pipeline(port=9400)
    def p(rec: rec_type):
        m = rec.xs.map(body)
        return nd.to_host(rec.n, m, m)
    return run_passes(p.trace())


def test_the_examples():
    """E4's two passes run as vectors; E1's map stays a byte-permute simd map, E2's are fused into the emit."""
    assert [vector_map_reason(load("examples/resize.py"), m) for m in maps(load("examples/resize.py"))] == [None, None]
    e1 = choose_lowerings(load("examples/normalize.py"), "dpdk")
    assert [m.attr("schedule") for m in maps(e1)] == ["simd"]
    e2 = load("examples/criteo.py")
    assert all("emit" in vector_map_reason(e2, m) for m in maps(e2))


@pytest.mark.parametrize("body, why", [
    (lambda x: (x * 3 + 1) >> 2, None),
    (lambda x: TAB[x], "at an index other than i or base + i"),
    (lambda x: x // 3, "its body has a div"),
    (lambda x: BYTE(x.cast(nd.u8)), "its body has a lut"),
    (lambda x: x.cast(nd.u64), "a result is u64"),
])
def test_bodies(body, why):
    ir = twice(body)
    got = vector_map_reason(ir, maps(ir)[0])
    assert got == why if why is None else why in got


def test_signed_values_are_refused():
    ir = twice(lambda x: x + 1, S)
    assert "i16" in vector_map_reason(ir, maps(ir)[0])


def test_fused_and_small_maps_are_refused():
    @nd.pipeline(port=9401)
    def fused(rec: R):
        return nd.to_host(rec.n, rec.xs.map(lambda x: x + 1))

    class Small(nd.Record):
        xs = nd.array(nd.u8, 8)

    @nd.pipeline(port=9402)
    def small(rec: Small):
        m = rec.xs.map(lambda x: x + 1)
        return nd.to_host(m, m)
    ir = run_passes(fused.trace())
    assert "emit" in vector_map_reason(ir, maps(ir)[0])
    ir = run_passes(small.trace())
    assert "fewer than 16" in vector_map_reason(ir, maps(ir)[0])


def test_the_choice_is_explained():
    ir = choose_lowerings(twice(lambda x: x // 3), "dpdk")
    assert any(m.choice == "vector=no" and "div" in m.reason for m in ir.notes)
    ir = choose_lowerings(twice(lambda x: x + 1), "dpdk")
    assert maps(ir)[0].attr("schedule") == "vector"
    assert maps(choose_lowerings(twice(lambda x: x + 1), "xdp"))[0].attr("schedule") != "vector"

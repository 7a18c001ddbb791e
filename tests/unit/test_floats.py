"""Float math (host only): f32/f64 values, numpy's functions, exact against numpy."""
import os

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.errors import NiccError
from nicc.compiler.interp import Reference
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.compiler.types import F32, bits_float, float_bits
from nicc.runtime.packets import udp_frame

RNG = np.random.default_rng(0)


class Two(nd.Record):
    a = nd.u32
    b = nd.u16


def run(fn, payloads, port=9300):
    pdef = nd.pipeline(port=port)(fn)
    ir = run_passes(pdef.trace())
    verify(parse_pipeline(str(ir), "floats.nir"))              # the text form parses back
    frames = [bytes(udp_frame(p, port, RNG)) for p in payloads]
    return ir, Reference(ir).run(frames)


def payloads(n=400):
    vals = np.concatenate([[0, 1, 2, 255, 65535, 2**24 + 1, 2**31, 2**32 - 1], RNG.integers(0, 2**32, n)])
    return [int(v).to_bytes(4, "big") + int(v & 0xFFFF).to_bytes(2, "big") for v in vals]


def test_float_math_is_numpy_float32_bit_for_bit():
    def f(rec: Two):
        a, b = rec.a.astype(np.float32), rec.b.astype(np.float32)
        return nd.to_host(nd.le(np.log1p(a)), nd.le(a * b + 0.5), nd.le(a / (b + 1.0)), nd.le(np.sqrt(a) - b))
    pls = payloads()
    ir, res = run(f, pls)
    for p, r in zip(pls, res):
        a, b = np.float32(int.from_bytes(p[:4], "big")), np.float32(int.from_bytes(p[4:], "big"))
        want = [np.log1p(a), a * b + np.float32(0.5), a / (b + np.float32(1.0)), np.sqrt(a) - b]
        got = np.frombuffer(r.frames[0][42:], "<f4")
        assert got.tobytes() == np.array(want, "<f4").tobytes()


def test_f64_and_maps_of_floats():
    class Arr(nd.Record):
        xs = nd.array(nd.u16, 8)

    def f(rec: Arr):
        return nd.to_host(nd.le(np.exp(rec.xs.astype(np.float64) / 1000.0)))
    pls = [RNG.integers(0, 65536, 8).astype(">u2").tobytes() for _ in range(50)]
    ir, res = run(f, pls, 9301)
    for p, r in zip(pls, res):
        want = np.exp(np.frombuffer(p, ">u2").astype(np.float64) / np.float64(1000.0))
        assert np.frombuffer(r.frames[0][42:], "<f8").tobytes() == want.astype("<f8").tobytes()


def test_float_constants_are_bit_patterns():
    assert bits_float(float_bits(0.1, F32), F32) == np.float32(0.1)
    assert float_bits(-0.0, F32) == 0x80000000


@pytest.mark.parametrize("body, words", [
    (lambda rec: nd.to_host(np.log1p(rec.a)), "convert it first with .astype"),
    (lambda rec: nd.to_host(rec.a.astype(np.float32) & 1.0), "not defined on f32"),
    (lambda rec: nd.to_host(rec.a.astype(np.float32).cast(nd.u32)), "is not supported"),
    (lambda rec: nd.to_host(rec.a / 2), "'/' makes a float"),
    (lambda rec: nd.to_host(np.arctan2(rec.a.astype(np.float32), rec.a.astype(np.float32))), "numpy.arctan2"),
])
def test_float_mistakes_are_errors_at_the_line(body, words):
    with pytest.raises(NiccError) as e:
        nd.pipeline(port=9302)(lambda rec: body(rec)).trace() if False else \
            nd.pipeline(port=9302, schema=Two)(body).trace()
    assert words in e.value.message and e.value.loc.file == os.path.abspath(__file__)


def test_passes_leave_float_algebra_alone():
    def f(rec: Two):
        a = rec.a.astype(np.float32)
        return nd.to_host(nd.le(a - a), nd.le(a + 0.0), nd.le(a * 1.0))
    ir, res = run(f, [b"\x7f\xc0\x00\x00\x00\x01"])          # not a NaN input, but x - x stays x - x
    text = str(ir)
    assert text.count("= sub") == 1 and text.count("= add") == 1 and text.count("= mul") == 1

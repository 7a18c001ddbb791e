"""What the DSL decides at compile time: float bucketize boundaries (exact integer thresholds,
equal to numpy's searchsorted for every integer), diagnostics of constant division by zero,
shifts by the width or more and state indices out of range (also after folding constants),
and numpy scalars as operands."""
import fractions
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nicc.dsl as nd
from nicc.compiler.errors import NiccError
from nicc.compiler.framing import PAYLOAD_OFFSET
from nicc.compiler.interp import EVAL_RULES, Reference
from nicc.compiler.ir import Op
from nicc.compiler.passes import run_passes
from nicc.dsl.pipeline import PipelineDef, _def_loc
from nicc.runtime.packets import udp_frame


def trace(fn, **fields):
    Rec = type("Rec", (nd.Record,), fields)
    return run_passes(PipelineDef(fn, 9000, Rec, None, _def_loc(fn)).trace())


def bucketize_node(t, bounds):
    """The traced bucketize node (before the passes, which fold one whose result is known)."""
    fn = lambda rec: nd.to_host(nd.bucketize(rec.x, bounds))
    ir = PipelineDef(fn, 9000, type("Rec", (nd.Record,), {"x": t}), None, _def_loc(fn)).trace()
    return next(n for n in ir.body if n.op is Op.BUCKETIZE)


class _W:
    def __init__(self, B):
        self.B, self.map_inputs = B, []


def bucketize_all(t, bounds, xs):
    n = bucketize_node(t, bounds)
    return EVAL_RULES[Op.BUCKETIZE](_W(len(xs)), n, xs)


FLOAT_BOUNDS = [[0.5, 1.5, 2.5], [-3.7, -0.5, 0.0, 0.25, 99.999, 100.0, 100.0001], [1e-9, 2.0, 2.0, 3.5],
                list(np.float32([0.1, 7.3, 42.42])), list(np.float16([-1.5, 3.25, 9.875])),
                [fractions.Fraction(1, 3), fractions.Fraction(7, 2), 4]]


@pytest.mark.parametrize("t", [nd.u8, nd.i8, nd.u16, nd.i16])
@pytest.mark.parametrize("k", range(len(FLOAT_BOUNDS)))
def test_float_boundaries_equal_numpy_for_every_integer(t, k):
    bounds = [b for b in FLOAT_BOUNDS[k] if t.lo <= float(b) <= t.hi]
    xs = np.arange(t.lo, t.hi + 1).astype(t.dtype)
    want = np.searchsorted(np.array([float(b) for b in bounds]), xs, side="right")
    assert list(bucketize_all(t, bounds, xs)) == list(want)


def test_issue_example_half_boundaries():
    """x = 0..3 with boundaries 0.5, 1.5, 2.5: numpy gives 0, 1, 2, 3 (truncation gave 1, 2, 3, 3)."""
    ir = trace(lambda rec: nd.to_host(nd.bucketize(rec.x, [0.5, 1.5, 2.5])), x=nd.u8)
    rng = np.random.default_rng(0)
    frames = [bytes(udp_frame(bytes([x]), 9000, rng)) for x in range(4)]
    assert [r.frames[0][PAYLOAD_OFFSET] for r in Reference(ir).run(frames)] == [0, 1, 2, 3]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([nd.u32, nd.i32]),
       st.lists(st.floats(-2.0**31, 2.0**32 - 1, allow_nan=False), min_size=1, max_size=20))
def test_random_float_boundaries_on_32_bits(t, raw):
    bounds = sorted(b for b in raw if t.lo <= b <= t.hi) or [0.5]
    near = {v for b in bounds for v in (int(np.floor(b)) - 1, int(np.floor(b)), int(np.ceil(b)), int(np.ceil(b)) + 1)}
    xs = np.array(sorted(v for v in near | {t.lo, t.hi, 0} if t.fits(v)), dtype=t.dtype)
    want = np.searchsorted(np.array(bounds, dtype=np.float64), xs, side="right")
    assert list(bucketize_all(t, bounds, xs)) == list(want)


def test_integral_float_boundaries_on_64_bits_below_2_53():
    bounds = [1.0, 2.5, 2.0 ** 52]
    xs = np.array([0, 1, 2, 3, 2**52 - 1, 2**52, 2**63 - 1], dtype=np.int64)
    want = np.searchsorted(np.array(bounds), xs, side="right")
    assert list(bucketize_all(nd.i64, bounds, xs)) == list(want)


@pytest.mark.parametrize("bounds, message", [
    ([1.0, float("inf")], "not a finite number"), ("abc", "must be a list of numbers"), (3, "must be a list"),
    ([1, "x"], "must be numbers, got str"), ([3.5, 1.0], "sorted"), ([None], "must be numbers, got NoneType")])
def test_bad_boundaries_are_refused(bounds, message):
    with pytest.raises(NiccError, match=message):
        bucketize_node(nd.u16, bounds)


# -- constants known at compile time ------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    (lambda rec: rec.a // (rec.a.cast(nd.u8) & 0).cast(nd.u16), None),            # not a constant: allowed
    (lambda rec: rec.a // nd.const(0, nd.u16), "division by zero"),
    (lambda rec: rec.a % (nd.const(5, nd.u16) - 5), "modulo by zero"),
    (lambda rec: rec.a // nd.where(nd.const(1, nd.u8) > 2, nd.const(1, nd.u16), nd.const(0, nd.u16)),
     "division by zero"),
    (lambda rec: rec.a >> 15, None),
    (lambda rec: rec.a >> 16, "shift by 16, not less than the width of u16"),
    (lambda rec: rec.a << (nd.const(4, nd.u8) << 2), "shift by 16"),
    (lambda rec: rec.a.cast(nd.u32) << 16, None),
    (lambda rec: rec.a << rec.k, None),                                             # run-time amount: allowed
])
def test_constant_operands_are_diagnosed(body, message):
    fn = lambda rec: nd.to_host(body(rec))
    if message is None:
        trace(fn, a=nd.u16, k=nd.u8)
    else:
        with pytest.raises(NiccError, match=message):
            trace(fn, a=nd.u16, k=nd.u8)


def test_state_indices():
    seen = nd.state("st", nd.u16, size=10)

    def ok(rec):
        old = seen[9]                   # a Python int index is a constant; checked against the size
        seen[rec.k] = rec.a             # run-time indices out of range read 0 and write nothing
        seen.write(0, old, when=rec.a > 3)
        return nd.to_host(old)
    ir = trace(ok, a=nd.u16, k=nd.u8)
    rng = np.random.default_rng(0)
    frames = [bytes(udp_frame(struct.pack("!HB", a, k), 9000, rng)) for a, k in [(5, 9), (6, 9), (7, 200), (8, 0)]]
    outs = [struct.unpack("!H", r.frames[0][PAYLOAD_OFFSET:])[0] for r in Reference(ir).run(frames)]
    assert outs == [0, 5, 6, 6]
    for bad, message in [(lambda rec: seen[10], "state index 10 is out of range for @st"),
                         (lambda rec: seen[-1], "state index -1 is out of range"),
                         (lambda rec: seen.update_if(nd.const(5, nd.u8) * 2, rec.a), "state index 10 is out"),
                         (lambda rec: seen.write(nd.const(200, nd.u8) + 100, rec.a), "state index 44 is out")]:
        with pytest.raises(NiccError, match=message):
            trace(lambda rec: (bad(rec), nd.to_host())[1], a=nd.u16, k=nd.u8)


def test_numpy_scalars_are_operands():
    def p(rec):
        return nd.to_host(np.uint16(3) + rec.a, np.uint16(7) * rec.a, (np.uint16(5) < rec.a).cast(nd.u8),
                          np.bitwise_xor(rec.a, np.uint16(0xFF)), np.invert(rec.a))
    ir = trace(p, a=nd.u16)
    rng = np.random.default_rng(0)
    frames = [bytes(udp_frame(struct.pack("!H", a), 9000, rng)) for a in (0, 5, 6, 65535)]
    got = [struct.unpack("!HHBHH", r.frames[0][PAYLOAD_OFFSET:]) for r in Reference(ir).run(frames)]
    assert got == [((3 + a) & 0xFFFF, (7 * a) & 0xFFFF, int(5 < a), a ^ 0xFF, ~a & 0xFFFF) for a in (0, 5, 6, 65535)]
    with pytest.raises(NiccError, match=r"numpy\.sqrt of a traced value"):
        trace(lambda rec: nd.to_host(np.sqrt(rec.a)), a=nd.u16)

"""Every scalar op of the reference interpreter against Python big-int arithmetic,
over a grid of widths and boundary values (JAX's testOpAgainstNumpy)."""
import itertools
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nicc.compiler.errors import SourceLoc
from nicc.compiler.interp import EVAL_RULES, crc32_be
from nicc.compiler.ir import Node, Op, Pipeline, Block
from nicc.compiler.types import BOOL, I8, I16, I32, I64, U8, U16, U32, U64

TYPES = [U8, U16, U32, U64, I8, I16, I32, I64]
LOC = SourceLoc("test", 1)


def boundary(t):
    vals = {0, 1, 2, 3, t.hi, t.hi - 1, t.hi // 2, t.hi // 2 + 1, 7, 100 % (t.hi + 1)}
    if t.signed:
        vals |= {-1, -2, t.lo, t.lo + 1, -100 % t.lo}
    return sorted(v for v in vals if t.fits(v))


def wrap(v, t):
    v &= (1 << t.bits) - 1
    return v - (1 << t.bits) if t.signed and v > t.hi else v


def clamp(v, t):
    return max(t.lo, min(t.hi, v))


def trunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def reference(op, a, b, t, overflow):
    fix = clamp if overflow == "sat" else wrap
    if op is Op.ADD:
        return fix(a + b, t)
    if op is Op.SUB:
        return fix(a - b, t)
    if op is Op.MUL:
        return fix(a * b, t)
    if op is Op.DIV:
        return 0 if b == 0 else wrap(trunc_div(a, b), t)
    if op is Op.MOD:
        return a if b == 0 else wrap(a - trunc_div(a, b) * b, t)
    if op is Op.AND:
        return wrap(a & b, t)
    if op is Op.OR:
        return wrap(a | b, t)
    if op is Op.XOR:
        return wrap(a ^ b, t)
    raise AssertionError(op)


class _W:
    """Just enough of a walker for single rules."""
    def __init__(self, B):
        self.B, self.map_inputs = B, []


def run_rule(op, t, a_vals, b_vals, attrs=(), result_type=None):
    a = Node(Op.CONST, (), {"value": 0}, t, LOC)
    b = Node(Op.CONST, (), {"value": 0}, b_vals[1], LOC)
    n = Node(op, (a, b), attrs, result_type or t, LOC)
    return EVAL_RULES[op](_W(len(a_vals)), n, np.array(a_vals, dtype=t.dtype), np.array(b_vals[0], dtype=b_vals[1].dtype))


@pytest.mark.parametrize("t", TYPES, ids=str)
@pytest.mark.parametrize("op,overflow", [(Op.ADD, "wrap"), (Op.ADD, "sat"), (Op.SUB, "wrap"), (Op.SUB, "sat"),
                                         (Op.MUL, "wrap"), (Op.MUL, "sat"), (Op.DIV, None), (Op.MOD, None),
                                         (Op.AND, None), (Op.OR, None), (Op.XOR, None)])
def test_arith_grid(op, overflow, t):
    pairs = list(itertools.product(boundary(t), repeat=2))
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    attrs = {"overflow": overflow} if overflow else {}
    got = run_rule(op, t, a, (b, t), attrs)
    want = [reference(op, x, y, t, overflow) for x, y in pairs]
    assert [int(v) for v in got] == want


@pytest.mark.parametrize("t", TYPES, ids=str)
def test_shifts_grid(t):
    vals = boundary(t)
    amounts = [0, 1, 3, t.bits - 1, t.bits, t.bits + 1, 200]
    pairs = list(itertools.product(vals, amounts))
    a = [x for x, _ in pairs]
    s = [k for _, k in pairs]
    shl = run_rule(Op.SHL, t, a, (s, U8))
    shr = run_rule(Op.SHR, t, a, (s, U8))
    for (x, k), l, r in zip(pairs, shl, shr):
        assert int(l) == (0 if k >= t.bits else wrap(x << k, t))
        assert int(r) == ((-1 if x < 0 else 0) if k >= t.bits else x >> k)


@pytest.mark.parametrize("src", TYPES, ids=str)
@pytest.mark.parametrize("dst", TYPES, ids=str)
def test_casts_grid(src, dst):
    vals = boundary(src)
    x = Node(Op.CONST, (), {"value": 0}, src, LOC)
    for mode, fix in (("wrap", wrap), ("sat", clamp)):
        n = Node(Op.CAST, (x,), {"overflow": mode}, dst, LOC)
        got = EVAL_RULES[Op.CAST](_W(len(vals)), n, np.array(vals, dtype=src.dtype))
        assert [int(v) for v in got] == [fix(v, dst) for v in vals], mode


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1), st.sampled_from([1, 2, 4, 8]))
def test_crc32_matches_zlib(x, nbytes):
    x &= (1 << (8 * nbytes)) - 1
    got = int(crc32_be(np.array([x], dtype=np.uint64), nbytes)[0])
    assert got == zlib.crc32(x.to_bytes(nbytes, "big"))


def test_bucketize_matches_numpy_searchsorted():
    bounds = tuple(1 << i for i in range(32))
    xs = np.array([0, 1, 2, 3, 4, 2**31 - 1, 2**31, 2**32 - 1, 12345], dtype=np.uint32)
    n = Node(Op.BUCKETIZE, (Node(Op.CONST, (), {"value": 0}, U32, LOC),), {"boundaries": bounds}, U8, LOC)
    got = EVAL_RULES[Op.BUCKETIZE](_W(len(xs)), n, xs)
    assert list(got) == list(np.searchsorted(np.array(bounds), xs, side="right"))

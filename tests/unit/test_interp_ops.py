"""Every scalar op of the reference interpreter against Python big-int arithmetic,
over a grid of widths and boundary values (JAX's testOpAgainstNumpy)."""
import itertools
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nicc.compiler.errors import SourceLoc
from nicc.compiler.interp import EVAL_RULES, crc32_be
from nicc.compiler.ir import Node, Op
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


def _edge_ints(t):
    """Any value of ``t``, often near its edges or near a power of two (where carries happen)."""
    near = st.builds(lambda k, d: d + (1 << k) * (-1 if t.signed and k % 2 else 1), st.integers(0, t.bits - 1),
                     st.integers(-2, 2))
    return st.one_of(st.integers(t.lo, t.hi), st.sampled_from(boundary(t)), near).map(lambda v: wrap(v, t))


@pytest.mark.parametrize("t", TYPES, ids=str)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_arith_random_pairs(t, data):
    """Random operands over the whole range (64-bit products, sums and quotients included)."""
    pairs = data.draw(st.lists(st.tuples(_edge_ints(t), _edge_ints(t)), min_size=1, max_size=40))
    a, b = [x for x, _ in pairs], [y for _, y in pairs]
    for op, overflow in [(Op.ADD, "wrap"), (Op.ADD, "sat"), (Op.SUB, "wrap"), (Op.SUB, "sat"), (Op.MUL, "wrap"),
                         (Op.MUL, "sat"), (Op.DIV, None), (Op.MOD, None), (Op.AND, None), (Op.XOR, None)]:
        got = run_rule(op, t, a, (b, t), {"overflow": overflow} if overflow else {})
        assert got.dtype == t.dtype
        assert [int(v) for v in got] == [reference(op, x, y, t, overflow) for x, y in pairs], (op, overflow)


@pytest.mark.parametrize("t", TYPES, ids=str)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_shifts_and_casts_random(t, data):
    xs = data.draw(st.lists(_edge_ints(t), min_size=1, max_size=30))
    ks = data.draw(st.lists(st.integers(0, 255), min_size=len(xs), max_size=len(xs)))
    shl, shr = run_rule(Op.SHL, t, xs, (ks, U8)), run_rule(Op.SHR, t, xs, (ks, U8))
    assert [int(v) for v in shl] == [0 if k >= t.bits else wrap(x << k, t) for x, k in zip(xs, ks)]
    assert [int(v) for v in shr] == [((-1 if x < 0 else 0) if k >= t.bits else x >> k) for x, k in zip(xs, ks)]
    x = Node(Op.CONST, (), {"value": 0}, t, LOC)
    for dst in TYPES + [BOOL]:
        for mode, fix in (("wrap", wrap), ("sat", clamp)):
            n = Node(Op.CAST, (x,), {"overflow": mode}, dst, LOC)
            got = EVAL_RULES[Op.CAST](_W(len(xs)), n, np.array(xs, dtype=t.dtype))
            assert got.dtype == dst.dtype
            want = [v != 0 for v in xs] if dst == BOOL else [fix(v, dst) for v in xs]
            assert got.tolist() == want, (dst, mode)


@pytest.mark.parametrize("t", TYPES, ids=str)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_bucketize_every_plan_matches_counting(t, data):
    """Small domains use a table, consecutive powers of two bit lengths, the rest a binary search."""
    kind = data.draw(st.sampled_from(["pow2", "any"]))
    if kind == "pow2":
        k0 = data.draw(st.integers(0, t.bits - 2 if t.signed else t.bits - 1))
        hi = t.bits - 1 if t.signed else t.bits
        bounds = tuple(1 << k for k in range(k0, data.draw(st.integers(k0 + 1, hi))))
    else:
        bounds = tuple(sorted(data.draw(st.lists(_edge_ints(t), min_size=1, max_size=20))))
    xs = data.draw(st.lists(st.one_of(_edge_ints(t), st.sampled_from(bounds)), min_size=1, max_size=40))
    n = Node(Op.BUCKETIZE, (Node(Op.CONST, (), {"value": 0}, t, LOC),), {"boundaries": bounds}, U8, LOC)
    got = EVAL_RULES[Op.BUCKETIZE](_W(len(xs)), n, np.array(xs, dtype=t.dtype))
    assert got.dtype == np.uint8
    assert got.tolist() == [sum(b <= x for b in bounds) for x in xs]


def test_crc32_on_element_arrays():
    x = np.arange(60, dtype=np.uint32).reshape(6, 10) * np.uint32(0x9E3779B1)
    for nbytes, dt in ((4, np.uint32), (8, np.uint64), (2, np.uint16), (1, np.uint8)):
        v = x.astype(dt)
        got = crc32_be(v, nbytes)
        assert got.shape == v.shape and got.dtype == np.uint32
        assert got.ravel().tolist() == [zlib.crc32(int(e).to_bytes(nbytes, "big")) for e in v.ravel()]

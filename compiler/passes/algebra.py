"""``simplify_expressions``: algebraic identities and a canonical form, as pattern rules.

Each rule is exact under the interpreter's semantics (wrapping or saturating integers of one
width, C division, bools), so it holds on every target. The canonical form puts a constant
operand on the right (``3 + x -> x + 3``, ``3 < x -> x > 3``), so each identity needs one pattern:

    x + 0, x - 0, x | 0, x ^ 0, x << 0, x >> 0, x * 1, x // 1, x & all-ones   -> x
    x * 0, x & 0, x % 1, x - x, x ^ x                                          -> 0
    x | all-ones -> all-ones       x ^ all-ones -> ~x       ~~x -> x          ~(a < b) -> a >= b
    x == x, x <= x, x >= x -> true       x != x, x < x, x > x -> false       x < min(type) -> false
    select(c, x, x) -> x     select(~c, x, y) -> select(c, y, x)     select(c, true, false) -> c
    b == true -> b           b != true -> ~b                         (b a bool)
    cast(x: T -> T) -> x     cast(cast(x: T -> U) -> T) -> x and cast(cast(x: T -> U) -> V) -> cast(x -> V)
                             where each step keeps every value (U holds all of T, V all of U)
    (x op c1) op c2 -> x op (c1 op c2)    for op in & | ^ and wrapping + *
    bucketize(x, bs) -> len(bs) when every boundary is the least value of x's type

Constant operands are folded by the rules of :mod:`.fold` (included here, so folding and
simplifying reach one fixed point together).
"""
from __future__ import annotations

from ..ir import Node, Op, Pipeline
from ..types import BOOL, Scalar
from .fold import FOLD_RULES
from .patterns import C, P, Rule, Rules, V, X, rewrite

COMMUTATIVE = (Op.ADD, Op.MUL, Op.AND, Op.OR, Op.XOR, Op.EQ, Op.NE)
MIRROR = {Op.LT: Op.GT, Op.LE: Op.GE, Op.GT: Op.LT, Op.GE: Op.LE}
INVERSE = {Op.EQ: Op.NE, Op.NE: Op.EQ, Op.LT: Op.GE, Op.GE: Op.LT, Op.GT: Op.LE, Op.LE: Op.GT}
ALWAYS = {Op.EQ: 1, Op.LE: 1, Op.GE: 1, Op.NE: 0, Op.LT: 0, Op.GT: 0}


def all_ones(t: Scalar) -> int:
    return -1 if t.signed else t.hi


def _ones(c: Node) -> bool:
    return c.attr("value") == all_ones(c.type)


def _not_const(n: Node) -> bool:
    return n.op is not Op.CONST


def _wraps(n: Node) -> bool:
    return n.attr("overflow", "wrap") == "wrap"


def _holds(inner: Scalar, outer: Scalar) -> bool:
    """Every value of ``inner`` is a value of ``outer`` (a cast from inner to outer keeps it)."""
    ok = lambda t: t.is_int or t == BOOL
    return ok(inner) and ok(outer) and outer.lo <= inner.lo and inner.hi <= outer.hi


def _zero(rw, n, **_):
    return rw.const(0, n.type, n.loc)


def _keep(rw, x, **_):
    return x


def _commute(rw, n, c, x):
    return rw.node(n.op, (x, c), like=n)


def _mirror(rw, n, c, x):
    return rw.node(MIRROR[n.op], (x, c), like=n)


def _same(rw, n, x):
    if n.op in ALWAYS:
        return rw.const(ALWAYS[n.op], BOOL, n.loc)
    return x if n.op in (Op.AND, Op.OR) else rw.const(0, n.type, n.loc)


def _invert_compare(rw, n, m):
    return rw.node(INVERSE[m.op], m.args, (), BOOL, n.loc)


def _reassociate(rw, n, m, x, c1, c2):
    if not (_wraps(n) and _wraps(m) and m.attrs == n.attrs):
        return None
    folded = rw.value(rw.node(n.op, (c1, c2), like=n))
    return rw.node(n.op, (x, rw.const(folded, n.type, c2.loc)), like=n)


def _cast_cast(rw, n, m, x):
    if not _holds(x.type, m.type):
        return None
    if n.type == x.type:
        return x
    if _holds(m.type, n.type):
        return rw.node(Op.CAST, (x,), n.attrs, n.type, n.loc)
    return None


def _type_bound(rw, n, x, c):
    t, v = x.type, c.attr("value")
    known = {(Op.LT, t.lo): 0, (Op.GE, t.lo): 1, (Op.GT, t.hi): 0, (Op.LE, t.hi): 1}.get((n.op, v))
    return None if known is None else rw.const(known, BOOL, n.loc)


def _bucketize_known(rw, n, x):
    bounds = n.attr("boundaries")          # boundaries fit x's type (the type rule says so)
    return rw.const(len(bounds), n.type, n.loc) if all(b == x.type.lo for b in bounds) else None


def _bool_const(rw, n, x, c):
    keep = (n.op is Op.EQ) == bool(c.attr("value"))
    return x if keep else rw.node(Op.NOT, (x,), (), BOOL, n.loc)


def _is_bool(n: Node) -> bool:
    return n.type == BOOL


INTS = (Op.ADD, Op.SUB, Op.OR, Op.XOR, Op.SHL, Op.SHR)

ALGEBRA_RULES = Rules([
    Rule(P(COMMUTATIVE, C(), V("x", _not_const)), _commute, "c op x -> x op c"),
    Rule(P(tuple(MIRROR), C(), V("x", _not_const)), _mirror, "c < x -> x > c"),
    Rule(P(INTS, X, C(0)), _keep, "x + 0, x - 0, x | 0, x ^ 0, x << 0, x >> 0 -> x"),
    Rule(P((Op.MUL, Op.DIV), X, C(1)), _keep, "x * 1, x // 1 -> x"),
    Rule(P(Op.AND, X, C(_ones)), _keep, "x & all-ones -> x"),
    Rule(P((Op.MUL, Op.AND), X, C(0)), _zero, "x * 0, x & 0 -> 0"),
    Rule(P(Op.MOD, X, C(1)), _zero, "x % 1 -> 0"),
    Rule(P(Op.OR, X, C(_ones)), lambda rw, c, **_: c, "x | all-ones -> all-ones"),
    Rule(P(Op.XOR, X, C(_ones)), lambda rw, n, x, **_: rw.node(Op.NOT, (x,), (), n.type, n.loc), "x ^ all-ones -> ~x"),
    Rule(P((Op.SUB, Op.XOR, Op.AND, Op.OR, *ALWAYS), X, X), _same, "x - x, x ^ x -> 0; x & x -> x; x == x -> true"),
    Rule(P(Op.NOT, P(Op.NOT, X)), _keep, "~~x -> x"),
    Rule(P(Op.NOT, P(tuple(INVERSE), name="m")), _invert_compare, "~(a < b) -> a >= b"),
    Rule(P(Op.SELECT, V("c"), X, X), _keep, "select(c, x, x) -> x"),
    Rule(P(Op.SELECT, P(Op.NOT, V("c")), X, V("y")),
         lambda rw, n, c, x, y: rw.node(Op.SELECT, (c, y, x), like=n), "select(~c, x, y) -> select(c, y, x)"),
    Rule(P(Op.SELECT, X, C(1, "t"), C(0, "f"), where=_is_bool), _keep, "select(c, true, false) -> c"),
    Rule(P(Op.SELECT, X, C(0, "f"), C(1, "t"), where=_is_bool),
         lambda rw, n, x, **_: rw.node(Op.NOT, (x,), (), BOOL, n.loc), "select(c, false, true) -> ~c"),
    Rule(P((Op.EQ, Op.NE), V("x", _is_bool), C()), _bool_const, "b == true -> b; b != true -> ~b"),
    Rule(P(Op.CAST, X, where=lambda n: n.type == n.args[0].type), _keep, "cast(x: T -> T) -> x"),
    Rule(P(Op.CAST, P(Op.CAST, X, name="m")), _cast_cast, "cast(cast(x)) -> x or one cast, if nothing is lost"),
    Rule(P(tuple(MIRROR), X, C(), where=lambda n: n.args[0].type.is_int), _type_bound,
         "x < min(type), x > max(type) -> false; x >= min, x <= max -> true"),
    Rule(P((Op.ADD, Op.MUL, Op.AND, Op.OR, Op.XOR), P((Op.ADD, Op.MUL, Op.AND, Op.OR, Op.XOR), X, C(name="c1"),
                                                        name="m"), C(name="c2"),
           where=lambda n: n.args[0].op is n.op), _reassociate, "(x op c1) op c2 -> x op (c1 op c2)"),
    Rule(P(Op.BUCKETIZE, X), _bucketize_known, "bucketize(x, bs) -> len(bs) when every boundary is the type's least value"),
])


def simplify_expressions(p: Pipeline) -> Pipeline:
    """Apply the identities and canonical order above, with constant folding and merging of equal
    computations (so ``a - b`` with ``a`` and ``b`` computed alike becomes 0), to a fixed point."""
    return rewrite(p, FOLD_RULES + ALGEBRA_RULES, merge=True)

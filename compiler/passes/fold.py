"""``fold_constants``: operations on constants become constants, and effects whose condition or
index is a constant that makes them do nothing go.

Values are computed by the reference interpreter's own rules (:mod:`nicc.compiler.constfold`), so
a folded constant is what every target would have computed. The rules that meet an operand the
verifier refuses as a constant (a divisor of 0, a shift by the width or more, a state index out of
range) replace the node by what the interpreter does with it, so folding never turns a valid
pipeline into one the verifier rejects:

    %2:u32 = div %0, %1        with %1 = const 0    ->  %2 = const 0         (x / 0 == 0)
    reject_if %3               with %3 = const 0    ->  (gone)
"""
from __future__ import annotations

from ..constfold import FOLDABLE
from ..ir import Node, Op, Pipeline
from ..types import BOOL, Scalar
from .patterns import C, DELETE, P, Rule, Rules, X, Y, rewrite


def _all_const(n: Node) -> bool:
    t = n.type
    return (n.op is not Op.CONST and all(a.op is Op.CONST for a in n.args)
            and isinstance(t, Scalar) and (t.is_int or t == BOOL))


def _fold(rw, n):
    v = rw.value(n)
    return None if v is None else rw.const(v, n.type, n.loc)


def _state_size(rw, n) -> int:
    return rw.pipeline.states[n.attr("state")].size


def _out_of_range(n: Node) -> bool:
    return n.args[0].op is Op.CONST


def _shift_too_far(n: Node) -> bool:
    return n.args[1].op is Op.CONST and n.args[1].attr("value") >= n.type.bits


def _shr_too_far(rw, n, x, c):
    if not n.type.signed:
        return rw.const(0, n.type, n.loc)
    if c.attr("value") == n.type.bits - 1:
        return None
    return rw.node(Op.SHR, (x, rw.const(n.type.bits - 1, c.type, c.loc)), like=n)   # sign fill


def _state_read_oob(rw, n, c):
    return rw.const(0, n.type, n.loc) if not 0 <= c.attr("value") < _state_size(rw, n) else None


def _state_effect_oob(rw, n, c):
    if 0 <= c.attr("value") < _state_size(rw, n):
        return None
    return DELETE if n.op is Op.STATE_WRITE else rw.const(0, BOOL, n.loc)   # update_if: not stored


FOLD_RULES = Rules([
    Rule(P(FOLDABLE, where=_all_const), lambda rw, n, **_: _fold(rw, n),
         "op(const, ...) -> const (the interpreter's value)"),
    Rule(P(Op.SELECT, C(), X, Y), lambda rw, c, x, y, **_: x if c.attr("value") else y,
         "select(const c, x, y) -> x or y"),
    Rule(P((Op.REJECT_IF, Op.VERDICT_IF), C(0)), lambda rw, **_: DELETE, "reject_if/verdict_if false -> (gone)"),
    Rule(P(Op.STATE_WRITE, X, Y, C(0)), lambda rw, **_: DELETE,
         "state_write when false -> (gone)"),
    Rule(P(Op.DIV, X, C(0)), lambda rw, n, **_: rw.const(0, n.type, n.loc), "x / 0 -> 0"),
    Rule(P(Op.MOD, X, C(0)), lambda rw, x, **_: x, "x % 0 -> x"),
    Rule(P(Op.SHL, X, C(), where=_shift_too_far), lambda rw, n, **_: rw.const(0, n.type, n.loc),
         "x << k (k >= width) -> 0"),
    Rule(P(Op.SHR, X, C(), where=_shift_too_far), _shr_too_far,
         "x >> k (k >= width) -> 0, or x >> (width - 1) if signed"),
    Rule(P(Op.STATE_READ, C()), _state_read_oob, "state[k] (k out of range) -> 0"),
    Rule(P((Op.STATE_WRITE, Op.STATE_UPDATE_IF), where=_out_of_range), lambda rw, n, **_: _state_effect_oob(
        rw, n, n.args[0]), "state write/update_if at k out of range -> (gone) / false"),
])


def fold_constants(p: Pipeline) -> Pipeline:
    """Fold operations on constants, and drop effects a constant makes do nothing (see the module)."""
    return rewrite(p, FOLD_RULES)

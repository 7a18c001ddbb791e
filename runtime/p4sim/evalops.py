"""Operator semantics on values (spec v1.2.4 sections 8.5, 8.6, 8.11).

Shared by constant folding in the type checker and by the evaluator.  Each
binary operator is ``f(a, b, ltype, rtype) -> value`` where the operand types
are the (already unified) P4 types; results are reduced to the result type.
"""
from __future__ import annotations

from .types import Bits, BoolT, InfInt, saturate, wrap


def _wrapper(f):
    def g(a, b, lt, rt):
        return wrap(f(a, b), lt)
    return g


def _shl(a, b, lt, rt):
    if isinstance(lt, Bits) and b >= lt.width:
        return 0
    return wrap(a << b, lt)


def _shr(a, b, lt, rt):
    # int<W> >> n is arithmetic (sign-filling), bit<W> >> n logical (spec 8.6);
    # Python's >> on a signed value in range is exactly that.
    if isinstance(lt, Bits) and b >= lt.width:
        return -1 if a < 0 else 0
    return a >> b


def _div(a, b, lt, rt):
    if b == 0:
        raise ZeroDivisionError
    q = abs(a) // abs(b)
    return wrap(q if (a >= 0) == (b >= 0) else -q, lt)


def _mod(a, b, lt, rt):
    if b == 0:
        raise ZeroDivisionError
    return wrap(a - b * (_div(a, b, InfInt(), rt)), lt)


def _concat(a, b, lt, rt):
    v = ((a & ((1 << lt.width) - 1)) << rt.width) | (b & ((1 << rt.width) - 1))
    return wrap(v, Bits(lt.width + rt.width, lt.signed))


BINOPS = {
    "+": _wrapper(lambda a, b: a + b),
    "-": _wrapper(lambda a, b: a - b),
    "*": _wrapper(lambda a, b: a * b),
    "/": _div,
    "%": _mod,
    "&": _wrapper(lambda a, b: a & b),
    "|": _wrapper(lambda a, b: a | b),
    "^": _wrapper(lambda a, b: a ^ b),
    "|+|": lambda a, b, lt, rt: saturate(a + b, lt),
    "|-|": lambda a, b, lt, rt: saturate(a - b, lt),
    "<<": _shl,
    ">>": _shr,
    "++": _concat,
    "==": lambda a, b, lt, rt: a == b,
    "!=": lambda a, b, lt, rt: a != b,
    "<": lambda a, b, lt, rt: a < b,
    "<=": lambda a, b, lt, rt: a <= b,
    ">": lambda a, b, lt, rt: a > b,
    ">=": lambda a, b, lt, rt: a >= b,
    "&&": lambda a, b, lt, rt: a and b,
    "||": lambda a, b, lt, rt: a or b,
}


def cast_value(v, fr, to):
    """Explicit cast (spec 8.11): truncation / zero- or sign-extension, bool <-> bit<1>."""
    if isinstance(to, BoolT):
        return bool(v)
    if isinstance(to, Bits):
        if isinstance(v, bool):
            return int(v)
        return wrap(v, to)
    return v

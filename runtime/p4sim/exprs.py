"""Expressions and l-values compiled to closures (semantics: spec v1.2.4 section 8).

Fixed-width results are reduced to their type after every operation
(``bit<W>``: modulo 2^W; ``int<W>``: two's complement wrap), so values are
always in range.  Constant sub-expressions (folded by the type checker) become
constants.  Reading a field of an invalid header gives the stored value
(bmv2 keeps the last value; the spec leaves it unspecified).
"""
from __future__ import annotations

from ...compiler.errors import InternalError
from . import ast as A
from .evalops import BINOPS, cast_value
from .packetio import ParserErrorSignal, lookahead_value
from .types import (ApplyResultT, Bits, BoolT, HeaderT, InfInt, StackT, StructT, wrap)


class ExprCompiler:
    def __init__(self, sw, checked):
        self.sw = sw
        self.c = checked

    # ------------------------------------------------------------ r-values
    def rv(self, e):
        c = self.c
        if e in c.consts:
            v = c.consts[e]
            return lambda fr: v
        if isinstance(e, A.Name):
            sym = c.syms[e]
            i = self.slot(sym)
            return lambda fr: fr[i]
        if isinstance(e, A.Member):
            return self.member(e)
        if isinstance(e, A.Index):
            b = self.rv(e.expr)
            i = c.consts[e.index]
            return lambda fr: b(fr).elems[i]
        if isinstance(e, A.Slice):
            b = self.rv(e.expr)
            lo = c.consts[e.lo]
            m = (1 << (c.consts[e.hi] - lo + 1)) - 1
            return lambda fr: (b(fr) >> lo) & m
        if isinstance(e, A.Unary):
            x = self.rv(e.expr)
            t = c.types[e]
            if e.op == "!":
                return lambda fr: not x(fr)
            if e.op == "~":
                if isinstance(t, Bits) and not t.signed:
                    m = (1 << t.width) - 1
                    return lambda fr: x(fr) ^ m
                return lambda fr: ~x(fr)
            if isinstance(t, Bits) and not t.signed:
                m = (1 << t.width) - 1
                return lambda fr: -x(fr) & m
            return lambda fr: wrap(-x(fr), t)
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.Cond):
            cc, a, b = self.rv(e.cond), self.rv(e.then), self.rv(e.other)
            return lambda fr: a(fr) if cc(fr) else b(fr)
        if isinstance(e, A.Cast):
            x = self.rv(e.expr)
            fr_t, to = c.types[e.expr], c.types[e]
            if isinstance(to, Bits) and not to.signed and not isinstance(fr_t, BoolT):
                m = (1 << to.width) - 1
                return lambda fr: x(fr) & m
            return lambda fr: cast_value(x(fr), fr_t, to)
        if isinstance(e, A.Call):
            return self.call_value(e)
        raise InternalError(f"p4sim has no evaluation rule for {type(e).__name__} at {e.loc}")

    def binary(self, e):
        c = self.c
        op = e.op
        a, b = self.rv(e.left), self.rv(e.right)
        lt, rt = c.types[e.left], c.types[e.right]
        if op == "&&":
            return lambda fr: a(fr) and b(fr)
        if op == "||":
            return lambda fr: a(fr) or b(fr)
        if isinstance(lt, Bits) and not lt.signed:
            m = (1 << lt.width) - 1
            if op == "+":
                return lambda fr: (a(fr) + b(fr)) & m
            if op == "-":
                return lambda fr: (a(fr) - b(fr)) & m
            if op == "*":
                return lambda fr: (a(fr) * b(fr)) & m
            if op == "&":
                return lambda fr: a(fr) & b(fr)
            if op == "|":
                return lambda fr: a(fr) | b(fr)
            if op == "^":
                return lambda fr: a(fr) ^ b(fr)
            if op == ">>":
                return lambda fr: a(fr) >> b(fr)
            if op == "<<":
                w = lt.width

                def shl(fr):
                    x, n = a(fr), b(fr)
                    return (x << n) & m if n < w else 0
                return shl
        if op == "==":
            return lambda fr: a(fr) == b(fr)
        if op == "!=":
            return lambda fr: a(fr) != b(fr)
        if op == "<":
            return lambda fr: a(fr) < b(fr)
        if op == "<=":
            return lambda fr: a(fr) <= b(fr)
        if op == ">":
            return lambda fr: a(fr) > b(fr)
        if op == ">=":
            return lambda fr: a(fr) >= b(fr)
        f = BINOPS[op]
        return lambda fr: f(a(fr), b(fr), lt, rt)

    def member(self, e):
        c = self.c
        bt = c.types[e.expr]
        n = e.name
        if isinstance(bt, (HeaderT, StructT)):
            k = bt.index(n)
            if isinstance(e.expr, A.Name) and c.syms[e.expr].kind in ("var", "param"):
                i = self.slot(c.syms[e.expr])
                return lambda fr: fr[i][k]
            b = self.rv(e.expr)
            return lambda fr: b(fr)[k]
        if isinstance(bt, StackT):
            b = self.rv(e.expr)
            if n == "size":
                size = bt.size
                return lambda fr: size
            if n in ("lastIndex",):
                return lambda fr: (b(fr).next - 1) & 0xFFFFFFFF
            if n == "nextIndex":
                return lambda fr: b(fr).next
            if n in ("next", "last"):
                off = 0 if n == "next" else -1

                def elem(fr):
                    s = b(fr)
                    i = s.next + off
                    if not 0 <= i < len(s.elems):
                        raise ParserErrorSignal("StackOutOfBounds")
                    return s.elems[i]
                return elem
        if isinstance(bt, ApplyResultT):
            r = self.rv(e.expr)
            if n == "hit":
                return lambda fr: r(fr)[0]
            if n == "miss":
                return lambda fr: not r(fr)[0]
            return lambda fr: r(fr)[1]
        raise InternalError(f"p4sim has no evaluation rule for member {n} of {bt}")

    def call_value(self, e):
        kind, info = self.c.calls[e]
        if kind == "isValid":
            h = self.rv(e.func.expr)
            return lambda fr: h(fr)[0]
        if kind in ("setValid", "setInvalid"):
            h = self.rv(e.func.expr)
            flag = kind == "setValid"

            def set_validity(fr):
                h(fr)[0] = flag
            return set_validity
        if kind == "lookahead":
            return lambda fr: lookahead_value(fr[0], info)
        if kind == "length":
            return lambda fr: len(fr[0].data) & 0xFFFFFFFF
        if kind == "apply":
            from .externs import table_apply
            return table_apply(self, info)
        return self.call(e)

    # ------------------------------------------------------------ l-values
    def lv(self, e):
        c = self.c
        if isinstance(e, A.Name):
            i = self.slot(c.syms[e])

            def set_name(fr, v):
                fr[i] = v
            return set_name
        if isinstance(e, A.Member):
            bt = c.types[e.expr]
            b = self.rv(e.expr)
            if isinstance(bt, (HeaderT, StructT)):
                k = bt.index(e.name)

                def set_field(fr, v):
                    b(fr)[k] = v
                return set_field
            if isinstance(bt, StackT) and e.name in ("next", "last"):
                get = self.member(e)

                def set_elem(fr, v):
                    get(fr)[:] = v
                return set_elem
        if isinstance(e, A.Index):
            b = self.rv(e.expr)
            i = c.consts[e.index]

            def set_index(fr, v):
                b(fr).elems[i] = v
            return set_index
        if isinstance(e, A.Slice):
            get = self.rv(e.expr)
            put = self.lv(e.expr)
            lo = c.consts[e.lo]
            w = c.consts[e.hi] - lo + 1
            m = ((1 << w) - 1) << lo
            bt = c.types[e.expr]

            def set_slice(fr, v):
                old = get(fr)
                put(fr, wrap((old & ~m) | ((v << lo) & m), bt))
            return set_slice
        raise InternalError(f"p4sim has no evaluation rule for l-value {type(e).__name__}")

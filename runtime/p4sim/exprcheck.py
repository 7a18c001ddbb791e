"""Expression typing (spec v1.2.4 section 8) and call checking, including the
core.p4 / v1model.p4 methods and functions.  Used by typecheck.TypeChecker.

Unsized integer literals have type ``int`` (spec 7.1.6.5) and are given the
type of the other operand when one exists (``coerce``); constant expressions
are folded into ``Checked.consts`` (values already reduced to their type).
"""
from __future__ import annotations

from . import ast as A
from .errors import P4Error
from .evalops import BINOPS, cast_value
from .symbols import Checked
from .types import (BOOL, ERROR, INFINT, VOID, ActionEnumT, ApplyResultT, Bits, BoolT, EnumT, ErrorT,
                    ExternT, HeaderT, InfInt, ListT, MethodT, StackT, StructT, TableT, wrap)

ARITH = {"+", "-", "*", "/", "%", "&", "|", "^", "|+|", "|-|"}
COMPARE = {"==", "!=", "<", "<=", ">", ">="}


def numeric(t):
    return isinstance(t, (Bits, InfInt))


class ExprChecker:
    def __init__(self, checked: Checked):
        self.c = checked
        self.block = None
        self.action = None
        self.in_parser = False
        self.block_locals = []

    # ------------------------------------------------------------ helpers
    def fail(self, e, msg):
        raise P4Error(getattr(e, "loc", None), msg)

    def coerce(self, e, target, what="expression"):
        """Give ``e`` (already typed) the type ``target``; int constants adapt (spec 8.9.2)."""
        t = self.c.types[e]
        if isinstance(t, InfInt) and isinstance(target, Bits):
            if e not in self.c.consts:
                self.fail(e, f"{what}: arbitrary-precision int expression must be a compile-time constant")
            self.c.types[e] = target
            self.c.consts[e] = wrap(self.c.consts[e], target)
            return target
        if isinstance(t, ListT) and isinstance(target, (StructT, HeaderT)):
            return target
        if not same_type(t, target):
            self.fail(e, f"{what}: type mismatch: expected {target}, got {t}"
                      + (" (use an explicit cast)" if isinstance(t, Bits) and isinstance(target, Bits) else ""))
        return t

    def unify(self, e, l, r):
        lt, rt = self.c.types[l], self.c.types[r]
        if isinstance(lt, InfInt) and isinstance(rt, Bits):
            return self.coerce(l, rt)
        if isinstance(rt, InfInt) and isinstance(lt, Bits):
            return self.coerce(r, lt)
        if not same_type(lt, rt):
            self.fail(e, f"operator '{e.op}': operands have different types {lt} and {rt}"
                      + (" (use an explicit cast)" if isinstance(lt, Bits) and isinstance(rt, Bits) else ""))
        return lt

    def set(self, e, t, const=None):
        self.c.types[e] = t
        if const is not None:
            self.c.consts[e] = const
        return t

    # ------------------------------------------------------------ expressions
    def expr(self, e, scope):
        t = self._expr(e, scope)
        self.c.types[e] = t
        return t

    def _expr(self, e, scope):
        c = self.c
        if isinstance(e, A.IntLit):
            if e.width is None:
                return self.set(e, INFINT, e.value)
            t = Bits(e.width, e.signed)
            if e.width <= 0:
                self.fail(e, "literal width must be positive")
            return self.set(e, t, wrap(e.value, t))
        if isinstance(e, A.BoolLit):
            return self.set(e, BOOL, e.value)
        if isinstance(e, A.ErrorLit):
            if e.name not in self.errors:
                self.fail(e, f"unknown error 'error.{e.name}'")
            return self.set(e, ERROR, e.name)
        if isinstance(e, A.TypeMember):
            t = self.types_by_name.get(e.type_name)
            if not isinstance(t, EnumT) or e.member not in t.members:
                self.fail(e, f"'{e.type_name}.{e.member}' is not an enum member")
            if t.underlying is not None:
                return self.set(e, t, t.values[t.members.index(e.member)])
            return self.set(e, t, e.member)
        if isinstance(e, A.StrLit):
            self.fail(e, "string literals are only allowed in annotations")
        if isinstance(e, A.Name):
            return self.name(e, scope)
        if isinstance(e, A.Member):
            return self.member(e, scope)
        if isinstance(e, A.Index):
            bt = self.expr(e.expr, scope)
            if not isinstance(bt, StackT):
                self.fail(e, f"indexing a value of type {bt} (only header stacks can be indexed)")
            i = self.const_int_expr(e.index, scope, "header stack index")
            if not 0 <= i < bt.size:
                self.fail(e.index, f"header stack index {i} out of range for {bt}")
            return bt.elem
        if isinstance(e, A.Slice):
            bt = self.expr(e.expr, scope)
            if not isinstance(bt, Bits):
                self.fail(e, f"slice of a value of type {bt} (needs bit<W> or int<W>)")
            h = self.const_int_expr(e.hi, scope, "slice bound")
            l = self.const_int_expr(e.lo, scope, "slice bound")
            if not 0 <= l <= h < bt.width:
                self.fail(e, f"slice [{h}:{l}] out of range for {bt}: need 0 <= l <= h < {bt.width}")
            t = Bits(h - l + 1)
            if e.expr in c.consts:
                c.consts[e] = (c.consts[e.expr] >> l) & ((1 << (h - l + 1)) - 1)
            return t
        if isinstance(e, A.Unary):
            return self.unary(e, scope)
        if isinstance(e, A.Binary):
            return self.binary(e, scope)
        if isinstance(e, A.Cond):
            ct = self.expr(e.cond, scope)
            if not isinstance(ct, BoolT):
                self.fail(e.cond, f"condition of '?:' must be bool, not {ct}")
            self.expr(e.then, scope)
            self.expr(e.other, scope)
            t = self.unify(A.Binary("?:", e.then, e.other, e.loc), e.then, e.other)
            if isinstance(t, InfInt) and e.cond not in c.consts:
                self.fail(e, "'?:' on int constants needs a compile-time condition (cast an operand)")
            if all(x in c.consts for x in (e.cond, e.then, e.other)):
                c.consts[e] = c.consts[e.then] if c.consts[e.cond] else c.consts[e.other]
            return t
        if isinstance(e, A.Cast):
            return self.cast(e, scope)
        if isinstance(e, A.Call):
            from .calls import check_call
            return check_call(self, e, scope)
        if isinstance(e, A.ListExpr):
            return ListT(tuple(self.expr(x, scope) for x in e.items))
        if isinstance(e, A.Ctor):
            self.fail(e, "constructor calls are only allowed as arguments of the package instantiation")
        self.fail(e, f"unsupported expression {type(e).__name__}")

    def const_int_expr(self, e, scope, what):
        t = self.expr(e, scope)
        if e not in self.c.consts or not numeric(t):
            self.fail(e, f"{what} must be a compile-time integer constant")
        return self.c.consts[e]

    def name(self, e, scope):
        s = scope.lookup(e.name)
        if s is None:
            self.fail(e, f"undeclared identifier '{e.name}'")
        self.c.syms[e] = s
        if s.kind == "const":
            return self.set(e, s.type, s.value)
        if s.kind in ("var", "param", "extern"):
            return s.type
        if s.kind == "table":
            return TableT(s.name)
        if s.kind == "action":
            return MethodT("action")
        self.fail(e, f"'{e.name}' cannot be used as a value")

    def member(self, e, scope):
        bt = self.expr(e.expr, scope)
        n = e.name
        if isinstance(bt, HeaderT):
            if n in ("isValid", "setValid", "setInvalid"):
                return MethodT("header." + n)
            i = bt.index(n)
            if i is None:
                self.fail(e, f"header type {bt} has no field '{n}'")
            return bt.fields[i - 1][1]
        if isinstance(bt, StructT):
            i = bt.index(n)
            if i is None:
                self.fail(e, f"struct type {bt} has no field '{n}'")
            return bt.fields[i][1]
        if isinstance(bt, StackT):
            if n in ("next", "last"):
                if n == "next" and not self.in_parser:
                    self.fail(e, "'next' of a header stack can only be used in a parser")
                return bt.elem
            if n in ("size", "lastIndex", "nextIndex"):
                return Bits(32)
            if n in ("push_front", "pop_front"):
                return MethodT("stack." + n)
            self.fail(e, f"header stack has no member '{n}'")
        if isinstance(bt, ExternT):
            return MethodT(f"{bt.name}.{n}")
        if isinstance(bt, TableT):
            if n == "apply":
                return MethodT("table.apply")
            self.fail(e, f"table has no member '{n}'")
        if isinstance(bt, ApplyResultT):
            if n in ("hit", "miss"):
                return BOOL
            if n == "action_run":
                return ActionEnumT(bt.table)
            self.fail(e, f"table apply result has no member '{n}'")
        self.fail(e, f"value of type {bt} has no member '{n}'")

    def unary(self, e, scope):
        t = self.expr(e.expr, scope)
        k = self.c.consts.get(e.expr)
        if e.op == "!":
            if not isinstance(t, BoolT):
                self.fail(e, f"'!' needs a bool operand, not {t}")
            return self.set(e, t, None if k is None else not k)
        if e.op == "~":
            if not isinstance(t, Bits):
                self.fail(e, f"'~' needs a bit<W> or int<W> operand, not {t}")
            return self.set(e, t, None if k is None else wrap(~k, t))
        if not numeric(t):
            self.fail(e, f"unary '-' needs a numeric operand, not {t}")
        return self.set(e, t, None if k is None else wrap(-k, t))

    def binary(self, e, scope):
        c = self.c
        lt = self.expr(e.left, scope)
        rt = self.expr(e.right, scope)
        op = e.op
        if op in ("&&", "||"):
            for x, t in ((e.left, lt), (e.right, rt)):
                if not isinstance(t, BoolT):
                    self.fail(x, f"operand of '{op}' must be bool, not {t}")
            t = BOOL
        elif op in ("<<", ">>"):
            if not numeric(lt):
                self.fail(e.left, f"left operand of '{op}' must be bit<W>/int<W>, not {lt}")
            if isinstance(rt, Bits) and rt.signed or not numeric(rt):
                self.fail(e.right, f"shift amount must be unsigned (bit<W> or int constant), not {rt}")
            if isinstance(rt, InfInt) and (e.right not in c.consts or c.consts[e.right] < 0):
                self.fail(e.right, "shift amount of type int must be a non-negative constant")
            if isinstance(lt, InfInt) and e.right not in c.consts:
                self.fail(e, "shifting an int constant by a non-constant amount (cast the left operand)")
            t = lt
        elif op == "++":
            for x, tt in ((e.left, lt), (e.right, rt)):
                if not isinstance(tt, Bits):
                    self.fail(x, f"operands of '++' must be bit<W>/int<W> (not {tt}); cast int literals")
            t = Bits(lt.width + rt.width, lt.signed)
        elif op in ARITH or op in COMPARE:
            if op in ("==", "!="):
                if isinstance(lt, (HeaderT, StructT, StackT)):
                    self.fail(e, f"comparing values of type {lt} is not supported")
            elif not (numeric(lt) and numeric(rt)):
                bad = e.left if not numeric(lt) else e.right
                self.fail(bad, f"operator '{op}' needs bit<W>/int<W> operands, not {self.c.types[bad]}")
            ot = self.unify(e, e.left, e.right)
            if op in ("|+|", "|-|") and not isinstance(ot, Bits):
                self.fail(e, f"saturating '{op}' needs bit<W>/int<W> operands")
            if op in ("/", "%") and isinstance(ot, Bits) and ot.signed:
                self.fail(e, f"'{op}' is not defined on signed int<W>")
            t = BOOL if op in COMPARE else ot
        else:
            self.fail(e, f"unsupported operator '{op}'")
        if e.left in c.consts and e.right in c.consts:
            ot = c.types[e.left]
            try:
                c.consts[e] = BINOPS[op](c.consts[e.left], c.consts[e.right], ot, c.types[e.right])
            except ZeroDivisionError:
                self.fail(e, "division by zero")
        return t

    def cast(self, e, scope):
        c = self.c
        to = self.resolve(e.type)
        fr = self.expr(e.expr, scope)
        ok = False
        if isinstance(to, Bits):
            if isinstance(fr, InfInt):
                ok = True
            elif isinstance(fr, Bits):
                ok = fr.signed == to.signed or fr.width == to.width
            elif isinstance(fr, BoolT):
                ok = to.width == 1 and not to.signed
            elif isinstance(fr, EnumT) and fr.underlying is not None:
                ok = fr.underlying == to
        elif isinstance(to, BoolT):
            ok = isinstance(fr, BoolT) or fr == Bits(1) or (isinstance(fr, InfInt) and c.consts.get(e.expr) in (0, 1))
        elif isinstance(to, InfInt):
            ok = isinstance(fr, InfInt)
        else:
            ok = same_type(fr, to)
        if not ok:
            self.fail(e, f"illegal cast from {fr} to {to}")
        if e.expr in c.consts:
            c.consts[e] = cast_value(c.consts[e.expr], fr, to)
        return to

    # ------------------------------------------------------------ lvalues and arguments
    def lvalue(self, e, scope, what="assignment"):
        """Check that ``e`` may be written (spec 6.7: in-parameters and constants may not)."""
        root = e
        while isinstance(root, (A.Member, A.Index, A.Slice)):
            root = root.expr
        if not isinstance(root, A.Name):
            self.fail(e, f"{what}: expression is not an lvalue")
        s = self.c.syms.get(root)
        if s is None or s.kind not in ("var", "param"):
            self.fail(e, f"{what}: '{root.name}' cannot be written")
        if s.kind == "param" and s.direction in ("in", ""):
            self.fail(e, f"{what}: cannot write to read-only parameter '{s.name}'"
                      + (" (action data)" if s.direction == "" else ""))
        if isinstance(e, A.Member) and isinstance(self.c.types.get(e.expr), StackT) \
                and e.name in ("size", "lastIndex", "nextIndex"):
            self.fail(e, f"{what}: '{e.name}' cannot be written")

    def arg(self, e, ptype, direction, scope, what="argument"):
        self.expr(e, scope)
        if direction in ("out", "inout"):
            self.lvalue(e, scope, what)
            if not same_type(self.c.types[e], ptype):
                self.fail(e, f"{what}: type mismatch: expected {ptype}, got {self.c.types[e]}")
        else:
            self.coerce(e, ptype, what)


def same_type(a, b) -> bool:
    if isinstance(a, InfInt) and isinstance(b, InfInt):
        return True
    return a == b

"""Compilation of type-checked parsers and controls to Python closures.

Each parser/control gets a frame (a list): slot 0 is the per-packet
:class:`~.packetio.PacketCtx`, then its parameters, then every local variable
and action parameter (P4 has no recursion, so one slot per declaration is
enough).  Expressions become ``f(frame) -> value``, l-values
``set(frame, value)``, statements ``f(frame)``.  ``exit`` and ``return``
unwind with exceptions (spec 11.7, 11.8).  Action calls copy arguments in and
out (spec 6.7: copy-in/copy-out, also when the action exits).
"""
from __future__ import annotations

from ...compiler.errors import InternalError
from . import ast as A
from .builtins import STANDARD_METADATA
from .evalops import BINOPS, cast_value
from .exprs import ExprCompiler
from .packetio import ParserErrorSignal, make_extract, make_packer
from .types import BoolT, HeaderT, StackT, StructT, copy_value, default_value

ES = STANDARD_METADATA.index("egress_spec")
MG = STANDARD_METADATA.index("mcast_grp")
CSUM_ERR = STANDARD_METADATA.index("checksum_error")
MAX_PARSER_STEPS = 100_000


class ExitSignal(Exception):
    pass


class ReturnSignal(Exception):
    pass


EXIT, RETURN = ExitSignal(), ReturnSignal()


class BlockCompiler(ExprCompiler):
    """Compiles one parser or control (and the actions it uses) for one Switch."""

    def __init__(self, sw, decl):
        super().__init__(sw, sw.checked)
        self.decl = decl
        self.slots = {}
        self.nslots = 1
        self.actions = {}
        self.in_parser = isinstance(decl, A.ParserDecl)
        for p in decl.params:
            self.slot(self.c.syms[p])

    def slot(self, sym):
        s = self.slots.get(sym)
        if s is None:
            s = self.slots[sym] = self.nslots
            self.nslots += 1
        return s

    def new_frame(self, ctx, args):
        fr = [None] * self.nslots
        fr[0] = ctx
        fr[1:1 + len(args)] = args
        return fr

    # ------------------------------------------------------------ statements
    def st(self, s):
        if isinstance(s, A.Block):
            fs = [self.st(x) for x in s.stmts]
            fs = [f for f in fs if f is not None]
            if not fs:
                return lambda fr: None
            if len(fs) == 1:
                return fs[0]
            if len(fs) == 2:
                f1, f2 = fs

                def two(fr):
                    f1(fr)
                    f2(fr)
                return two

            def block(fr):
                for f in fs:
                    f(fr)
            return block
        if isinstance(s, A.Assign):
            t = self.c.types[s.lhs]
            r = self.rv(s.rhs)
            setter = self.lv(s.lhs)
            if isinstance(t, (HeaderT, StructT, StackT)):
                return lambda fr: setter(fr, copy_value(r(fr)))
            return lambda fr: setter(fr, r(fr))
        if isinstance(s, A.CallStmt):
            return self.call(s.call)
        if isinstance(s, A.If):
            c = self.rv(s.cond)
            t = self.st(s.then)
            if s.other is None:
                def if_(fr):
                    if c(fr):
                        t(fr)
                return if_
            o = self.st(s.other)

            def ifelse(fr):
                if c(fr):
                    t(fr)
                else:
                    o(fr)
            return ifelse
        if isinstance(s, A.VarDecl):
            sym = self.c.syms[s]
            i = self.slot(sym)
            if s.init is not None:
                r = self.rv(s.init)
                if isinstance(sym.type, (HeaderT, StructT, StackT)):
                    def init_c(fr):
                        fr[i] = copy_value(r(fr))
                    return init_c

                def init(fr):
                    fr[i] = r(fr)
                return init
            t = sym.type

            def zero(fr):
                fr[i] = default_value(t)
            return zero
        if isinstance(s, A.ConstDecl) or s is None:
            return None
        if isinstance(s, A.Exit):
            def exit_(fr):
                raise EXIT
            return exit_
        if isinstance(s, A.Return):
            def return_(fr):
                raise RETURN
            return return_
        if isinstance(s, A.Switch):
            return self.switch(s)
        raise InternalError(f"p4sim has no evaluation rule for {type(s).__name__}")

    def switch(self, s):
        e = self.rv(s.expr)
        cases, default = {}, None
        pending = []
        for c in s.cases:
            pending.append(c.label)
            if c.body is not None:
                body = self.st(c.body)
                for lab in pending:
                    if lab is None:
                        default = body
                    else:
                        cases[lab] = body
                pending = []

        def switch(fr):
            f = cases.get(e(fr), default)
            if f is not None:
                f(fr)
        return switch

    # ------------------------------------------------------------ actions
    def action(self, sym):
        got = self.actions.get(sym)
        if got is not None:
            return got
        d = sym.decl
        slots = [self.slot(self.c.syms[p]) for p in d.params]
        body = self.st(d.body)

        def run(fr):
            try:
                body(fr)
            except ReturnSignal:
                pass
        self.actions[sym] = got = (run, slots, d.params)
        return got

    def action_call(self, sym, args):
        run, slots, params = self.action(sym)
        ins, outs = [], []
        for a, p, sl in zip(args, params, slots):
            t = self.c.decl_types[p.type]
            compound = isinstance(t, (HeaderT, StructT, StackT))
            if p.direction == "out":
                ins.append((sl, None, t))
            else:
                r = self.rv(a)
                ins.append((sl, (lambda fr, r=r: copy_value(r(fr))) if compound else r, t))
            if p.direction in ("out", "inout"):
                outs.append((sl, self.lv(a)))

        def call(fr):
            for sl, r, t in ins:
                fr[sl] = r(fr) if r is not None else default_value(t)
            try:
                run(fr)
            finally:
                for sl, setter in outs:
                    setter(fr, fr[sl])
        return call

    # ------------------------------------------------------------ calls
    def call(self, e):
        kind, info = self.c.calls[e]
        f = e.func
        if kind == "action":
            return self.action_call(info, e.args)
        if kind in ("isValid", "setValid", "setInvalid", "apply", "lookahead", "length"):
            return self.rv(e)
        if kind == "extract":
            return self.extract(e.args[0])
        if kind == "emit":
            return self.emit(e.args[0])
        if kind == "advance":
            n = self.rv(e.args[0])

            def advance(fr):
                ctx = fr[0]
                k = n(fr)
                if ctx.pos + k > len(ctx.data) * 8:
                    raise ParserErrorSignal("PacketTooShort")
                ctx.pos += k
            return advance
        if kind == "verify":
            c, err = self.rv(e.args[0]), self.rv(e.args[1])

            def verify(fr):
                if not c(fr):
                    raise ParserErrorSignal(err(fr))
            return verify
        if kind in ("push_front", "pop_front"):
            return self.stack_shift(f.expr, info if kind == "push_front" else -info)
        from .externs import extern_call
        return extern_call(self, kind, info, e)

    def extract(self, arg):
        if isinstance(arg, A.Member) and isinstance(self.c.types[arg.expr], StackT) and arg.name == "next":
            st = self.rv(arg.expr)
            ex = make_extract(self.c.types[arg.expr].elem)

            def extract_next(fr):
                s = st(fr)
                if s.next >= len(s.elems):
                    raise ParserErrorSignal("StackOutOfBounds")
                ex(fr[0], s.elems[s.next])
                s.next += 1
            return extract_next
        h = self.rv(arg)
        ex = make_extract(self.c.types[arg])
        return lambda fr: ex(fr[0], h(fr))

    def emit(self, arg):
        t = self.c.types[arg]
        h = self.rv(arg)

        def emitter(t):
            if isinstance(t, HeaderT):
                pack = make_packer(t)

                def emit_h(out, v):
                    if v[0]:
                        out.append(pack(v))
                return emit_h
            if isinstance(t, StackT):
                one = emitter(t.elem)

                def emit_s(out, v):
                    for x in v.elems:
                        one(out, x)
                return emit_s
            if isinstance(t, StructT):
                subs = [(i, emitter(ft)) for i, (_, ft) in enumerate(t.fields)
                        if isinstance(ft, (HeaderT, StackT, StructT))]

                def emit_st(out, v):
                    for i, sub in subs:
                        sub(out, v[i])
                return emit_st
            return lambda out, v: None
        em = emitter(t)
        return lambda fr: em(fr[0].out, h(fr))

    def stack_shift(self, stack_expr, n):
        st = self.rv(stack_expr)
        elem_t = self.c.types[stack_expr].elem

        def shift(fr):
            s = st(fr)
            size = len(s.elems)
            if n > 0:
                s.elems = [default_value(elem_t) for _ in range(min(n, size))] + s.elems[:max(size - n, 0)]
                s.next = min(s.next + n, size)
            else:
                k = -n
                s.elems = s.elems[k:] + [default_value(elem_t) for _ in range(min(k, size))]
                s.next = max(s.next - k, 0)
        return shift

    # ------------------------------------------------------------ blocks
    def compile_control(self):
        inits = [self.st(l) for l in self.decl.locals if isinstance(l, A.VarDecl)]
        body = self.st(self.decl.body)

        def run(fr):
            try:
                for i in inits:
                    i(fr)
                body(fr)
            except (ExitSignal, ReturnSignal):
                pass
        return run

    def compile_parser(self):
        inits = [self.st(l) for l in self.decl.locals if isinstance(l, A.VarDecl)]
        states = {}
        for s in self.decl.states:
            states[s.name] = (self.st(A.Block(s.stmts, s.loc)), self.transition(s.transition))

        def run(fr):
            """Runs the parser; raises ParserErrorSignal on a parser error (spec 12.4)."""
            for i in inits:
                i(fr)
            name = "start"
            steps = 0
            while name != "accept":
                if name == "reject":
                    return "reject"
                steps += 1
                if steps > MAX_PARSER_STEPS:
                    raise ParserErrorSignal("ParserTimeout")
                body, trans = states[name]
                body(fr)
                name = trans(fr)
            return "accept"
        return run

    def transition(self, t):
        if not t.exprs:
            target = t.target
            return lambda fr: target
        keys = [self.rv(e) for e in t.exprs]
        cases = []
        for c in t.cases:
            if len(c.keys) == 1 and isinstance(c.keys[0], A.KsDefault):
                ms = [None] * len(keys)
            else:
                ms = [self.keyset_matcher(k) for k in c.keys]
            cases.append((ms, c.state))

        def select(fr):
            vals = [k(fr) for k in keys]
            for ms, state in cases:
                for m, v in zip(ms, vals):
                    if m is not None and not m(v):
                        break
                else:
                    return state
            raise ParserErrorSignal("NoMatch")
        return select

    def keyset_matcher(self, k):
        cs = self.c.consts
        if isinstance(k, A.KsDefault):
            return None
        if isinstance(k, A.KsMask):
            v, m = cs[k.value], cs[k.mask]
            return lambda x: (x & m) == (v & m)
        if isinstance(k, A.KsRange):
            lo, hi = cs[k.lo], cs[k.hi]
            return lambda x: lo <= x <= hi
        v = cs[k]
        return lambda x: x == v

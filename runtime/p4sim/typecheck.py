"""Type checking of the P4_16 subset (spec v1.2.4, sections 7 and 8).

Rules enforced (section numbers of the P4_16 v1.2.4 specification):

* 8.1 / 8.9.2: no implicit conversions between ``bit<W>``/``int<W>`` of
  different widths or signedness; only arbitrary-precision ``int`` values
  (unsized literals, and constant expressions of them) adapt to the other
  operand's type.  ``bool`` is not a number (8.5).
* 8.5: arithmetic ``+ - *``, bitwise ``& | ^ ~`` and saturating ``|+| |-|``
  keep the width of their operands; comparisons give ``bool``.
* 8.6: shifts: the right operand is an unsigned ``bit<W>`` of any width or a
  non-negative ``int`` constant; the result has the left operand's type.
  ``++`` gives ``bit<W1+W2>`` (signedness of the left operand).
* 8.6: slices ``e[h:l]`` need compile-time ``h``, ``l`` with
  ``0 <= l <= h < W``; the result is ``bit<h-l+1>``.
* 8.11: casts: ``bit<1> <-> bool``, ``int<W> <-> bit<W>`` (same width),
  ``bit<W> -> bit<X>`` and ``int<W> -> int<X>`` (truncation / extension),
  ``int -> bit<W>/int<W>``; nothing else.
* 8.17-8.18: header validity methods, header stacks indexed by compile-time
  constants in range, ``next`` only in parsers.
* 14.2.2 / p4c: a table is applied at most once on any control path of an
  apply block (checked by paths.py).

All errors are :class:`P4Error` located at the offending construct.  The
checker fills a :class:`~.symbols.Checked` used by the evaluator.
"""
from __future__ import annotations

from . import ast as A
from .builtins import (CORE_ERRORS, ENUMS, EXTERNS, MATCH_KINDS, PACKAGES, STANDARD_METADATA,
                       TYPEDEFS)
from .errors import P4Error
from .exprcheck import ExprChecker
from .paths import check_single_apply
from .symbols import Checked, Scope, Sym, TableInfo
from .types import (BOOL, ERROR, INFINT, VOID, BlockT, Bits, BoolT, EnumT, ErrorT, ExternT, HeaderT,
                    InfInt, MatchKindT, StackT, StructT, TableT, wrap)

BLOCK_KINDS = ("parser", "verify_checksum", "ingress", "egress", "compute_checksum", "deparser")


class TypeChecker(ExprChecker):
    def __init__(self, program: A.Program):
        super().__init__(Checked(program))
        self.types_by_name = {}
        self.errors = list(CORE_ERRORS)
        self.match_kinds = list(MATCH_KINDS)
        self.global_scope = Scope()
        for name, t in ENUMS.items():
            self.types_by_name[name] = t
        for name, t in TYPEDEFS.items():
            self.types_by_name[name] = t
        self.types_by_name["standard_metadata_t"] = STANDARD_METADATA
        noaction = A.ActionDecl("NoAction", (), A.Block((), None), None)
        self.c.noaction = Sym("action", "NoAction", VOID, noaction)
        self.global_scope.declare(self.c.noaction, None)

    # ------------------------------------------------------------ types
    def resolve(self, t: A.TypeRef):
        r = self._resolve(t)
        self.c.decl_types[t] = r
        return r

    def _resolve(self, t: A.TypeRef):
        k = t.kind
        if k == "bool":
            return BOOL
        if k == "infint":
            return INFINT
        if k == "error":
            return ERROR
        if k == "void":
            return VOID
        if k in ("bit", "int"):
            w = self.const_int(t.width, self.global_scope, "width")
            if w <= 0 and not (w == 0 and k == "bit"):
                raise P4Error(t.loc, f"{k}<{w}>: width must be positive")
            return Bits(w, k == "int")
        if k == "name":
            if t.name in self.types_by_name:
                return self.types_by_name[t.name]
            if t.name in EXTERNS:
                return ExternT(t.name)
            raise P4Error(t.loc, f"unknown type '{t.name}'")
        if k == "spec":
            if t.name not in EXTERNS:
                raise P4Error(t.loc, f"type '{t.name}' takes no type arguments")
            return ExternT(t.name, tuple(self.resolve(a) for a in t.args))
        raise P4Error(t.loc, f"unsupported type {k}")

    def const_int(self, e, scope, what) -> int:
        t = self.expr(e, scope)
        if e not in self.c.consts or not isinstance(t, (InfInt, Bits)):
            raise P4Error(e.loc, f"{what} must be a compile-time integer constant")
        return self.c.consts[e]

    # ------------------------------------------------------------ program
    def check(self) -> Checked:
        prog = self.c.program
        for d in prog.decls:
            self.top_decl(d)
        self.c.errors = tuple(self.errors)
        self.c.header_types = {n: t for n, t in self.types_by_name.items() if isinstance(t, HeaderT)}
        if not self.c.main:
            raise P4Error(None, "no 'V1Switch(...) main;' package instantiation")
        return self.c

    def declare_type(self, name, t, loc):
        if name in self.types_by_name and name not in TYPEDEFS:
            raise P4Error(loc, f"redeclaration of type '{name}'")
        self.types_by_name[name] = t

    def top_decl(self, d):
        g = self.global_scope
        if isinstance(d, A.ConstDecl):
            self.const_decl(d, g, "")
        elif isinstance(d, A.TypedefDecl):
            self.declare_type(d.name, self.resolve(d.type), d.loc)
        elif isinstance(d, A.HeaderDecl):
            ht = HeaderT(d.name, self.fields(d, header=True))
            if ht.bits % 8:
                raise P4Error(d.loc, f"header {d.name} is {ht.bits} bits, not a whole number of bytes "
                                     "(bmv2 needs byte-aligned headers)")
            self.declare_type(d.name, ht, d.loc)
        elif isinstance(d, A.StructDecl):
            self.declare_type(d.name, StructT(d.name, self.fields(d, header=False)), d.loc)
        elif isinstance(d, A.ErrorDecl):
            for n in d.names:
                if n in self.errors:
                    raise P4Error(d.loc, f"error '{n}' declared twice")
                self.errors.append(n)
        elif isinstance(d, A.MatchKindDecl):
            self.match_kinds.extend(d.names)
        elif isinstance(d, A.EnumDecl):
            under = self.resolve(A.TypeRef("bit", d.width, loc=d.loc)) if d.width is not None else None
            vals = []
            for n, v in d.members:
                if under is not None:
                    if v is None:
                        raise P4Error(d.loc, f"serializable enum member '{n}' needs a value")
                    vals.append(wrap(self.const_int(v, g, "enum value"), under))
            self.declare_type(d.name, EnumT(d.name, tuple(n for n, _ in d.members), under, tuple(vals)),
                              d.loc)
        elif isinstance(d, A.ParserDecl):
            self.declare_type(d.name, BlockT("parser", d.name), d.loc)
            self.c.blocks[d.name] = d
            self.parser_decl(d)
        elif isinstance(d, A.ControlDecl):
            self.declare_type(d.name, BlockT("control", d.name), d.loc)
            self.c.blocks[d.name] = d
            self.control_decl(d)
        elif isinstance(d, A.ActionDecl):
            self.action_decl(d, g, "")
        elif isinstance(d, A.Instantiation):
            if d.type.kind == "name" and d.type.name in PACKAGES:
                self.package(d)
            else:
                self.instantiation(d, g, "")
        else:
            raise P4Error(getattr(d, "loc", None), f"unsupported declaration {type(d).__name__}")

    def fields(self, d, header):
        seen, out = set(), []
        for f in d.fields:
            if f.name in seen:
                raise P4Error(f.loc, f"duplicate field '{f.name}' in {d.name}")
            seen.add(f.name)
            t = self.resolve(f.type)
            if f.stack is not None:
                if not isinstance(t, HeaderT):
                    raise P4Error(f.loc, f"header stack of non-header type {t}")
                n = self.const_int(f.stack, self.global_scope, "header stack size")
                if n <= 0:
                    raise P4Error(f.loc, "header stack size must be positive")
                t = StackT(t, n)
            if header and not isinstance(t, (Bits, BoolT)):
                raise P4Error(f.loc, f"header field '{f.name}' must be bit<W>, int<W> or bool, not {t}")
            out.append((f.name, t))
        return tuple(out)

    def const_decl(self, d, scope, owner):
        t = self.resolve(d.type)
        self.expr(d.value, scope)
        self.coerce(d.value, t, "constant initializer")
        if d.value not in self.c.consts:
            raise P4Error(d.value.loc, f"initializer of constant '{d.name}' is not a compile-time constant")
        sym = Sym("const", d.name, t, d, value=self.c.consts[d.value], owner=owner, loc=d.loc)
        scope.declare(sym, d.loc)
        self.c.syms[d] = sym

    def var_decl(self, d, scope, owner):
        t = self.resolve(d.type)
        if isinstance(t, (ExternT, BlockT, InfInt)):
            raise P4Error(d.loc, f"variable '{d.name}' cannot have type {t}")
        if d.init is not None:
            self.expr(d.init, scope)
            self.coerce(d.init, t, f"initializer of '{d.name}'")
        sym = Sym("var", d.name, t, d, owner=owner, loc=d.loc)
        scope.declare(sym, d.loc)
        self.c.syms[d] = sym
        self.block_locals.append(sym)
        return sym

    def instantiation(self, d, scope, owner):
        t = self.resolve(d.type)
        if not isinstance(t, ExternT) or t.name not in EXTERNS:
            raise P4Error(d.loc, f"cannot instantiate {t} here")
        lo, hi = EXTERNS[t.name]
        if not lo <= len(d.args) <= hi:
            raise P4Error(d.loc, f"{t.name} takes {lo} constructor argument(s), got {len(d.args)}")
        size = None
        if t.name in ("register", "counter", "meter"):
            size = self.const_int(d.args[0], scope, f"{t.name} size")
            if t.name == "register" and (len(t.args) not in (1, 2) or not isinstance(t.args[0], (Bits, BoolT))):
                raise P4Error(d.loc, "register<T> needs a bit<W>/int<W>/bool element type")
        sym = Sym("extern", d.name, t, d, value=size, owner=owner, loc=d.loc)
        for a in d.annos:
            if a.name == "name" and a.args and isinstance(a.args[0], A.StrLit):
                sym.cp_name = a.args[0].value.lstrip(".")
        scope.declare(sym, d.loc)
        self.c.syms[d] = sym
        self.c.externs.append(sym)

    def package(self, d):
        if d.name != "main":
            raise P4Error(d.loc, "the V1Switch instance must be called 'main'")
        if len(d.args) != 6 or not all(isinstance(a, A.Ctor) for a in d.args):
            raise P4Error(d.loc, "V1Switch takes six block instances: parser, verifyChecksum, ingress, "
                                 "egress, computeChecksum, deparser")
        kinds = ["parser"] + ["control"] * 5
        for a, k in zip(d.args, kinds):
            b = self.c.blocks.get(a.type_name)
            if b is None or (k == "parser") != isinstance(b, A.ParserDecl):
                raise P4Error(a.loc, f"'{a.type_name}' is not a {k}")
        self.c.main = [a.type_name for a in d.args]
        self.check_signatures([self.c.blocks[a.type_name] for a in d.args])

    def check_signatures(self, blocks):
        """V1Switch's block types (v1model.p4): Parser<H, M>, VerifyChecksum<H, M>, ..."""
        want = [("packet_in", "out H", "inout M", "inout SM"), ("inout H", "inout M"),
                ("inout H", "inout M", "inout SM"), ("inout H", "inout M", "inout SM"),
                ("inout H", "inout M"), ("packet_out", "in H")]
        bound = {}
        for b, sig in zip(blocks, want):
            if len(b.params) != len(sig):
                raise P4Error(b.loc, f"{b.name} must have {len(sig)} parameters for V1Switch")
            for p, w in zip(b.params, sig):
                t = self.c.decl_types[p.type]
                if w.startswith("packet"):
                    ok = isinstance(t, ExternT) and t.name == w
                else:
                    d, var = w.split()
                    ok = p.direction == d
                    if var == "SM":
                        ok = ok and t == STANDARD_METADATA
                    elif var in bound:
                        ok = ok and bound[var] == t
                    else:
                        bound[var] = t
                if not ok:
                    raise P4Error(p.loc, f"parameter '{p.name}' of {b.name} does not match V1Switch ({w})")

    # ------------------------------------------------------------ parsers
    def params(self, params, scope, owner, action=False):
        out = []
        for p in params:
            t = self.resolve(p.type)
            sym = Sym("param", p.name, t, p, direction=p.direction, owner=owner, loc=p.loc)
            scope.declare(sym, p.loc)
            self.c.syms[p] = sym
            out.append(sym)
            if action and not p.direction and not isinstance(t, (Bits, BoolT, EnumT)):
                raise P4Error(p.loc, f"action data parameter '{p.name}' must be bit<W>, int<W> or bool")
        return out

    def parser_decl(self, d):
        scope = Scope(self.global_scope)
        self.block_locals = []
        self.params(d.params, scope, d.name)
        self.block, self.in_parser = d, True
        for l in d.locals:
            if isinstance(l, A.ConstDecl):
                self.const_decl(l, scope, d.name)
            elif isinstance(l, A.VarDecl):
                self.var_decl(l, scope, d.name)
            else:
                self.instantiation(l, scope, d.name)
        names = {s.name for s in d.states}
        if len(names) != len(d.states):
            raise P4Error(d.loc, f"duplicate state names in parser {d.name}")
        if "start" not in names:
            raise P4Error(d.loc, f"parser {d.name} has no 'start' state")
        for s in d.states:
            if s.name in ("accept", "reject"):
                raise P4Error(s.loc, f"state '{s.name}' is built in")
            st = Scope(scope)
            for stmt in s.stmts:
                self.stmt(stmt, st)
            t = s.transition
            if t is None:
                raise P4Error(s.loc, f"state '{s.name}' has no transition (use 'transition accept;')")
            targets = [t.target] if not t.exprs else [c.state for c in t.cases]
            for tg in targets:
                if tg not in names and tg not in ("accept", "reject"):
                    raise P4Error(t.loc, f"transition to unknown state '{tg}'")
            if t.exprs:
                ktypes = [self.expr(e, st) for e in t.exprs]
                for c in t.cases:
                    self.keyset(c.keys, ktypes, st, c.loc, "select")
        self.c.block_syms[d] = self.block_locals
        self.block, self.in_parser = None, False

    def keyset(self, keys, ktypes, scope, loc, what):
        if len(keys) == 1 and isinstance(keys[0], A.KsDefault):
            return
        if len(keys) != len(ktypes):
            raise P4Error(loc, f"{what} case has {len(keys)} value(s), expected {len(ktypes)}")
        for k, t in zip(keys, ktypes):
            if isinstance(k, A.KsDefault):
                continue
            parts = [k.value, k.mask] if isinstance(k, A.KsMask) else \
                [k.lo, k.hi] if isinstance(k, A.KsRange) else [k]
            for e in parts:
                self.expr(e, scope)
                self.coerce(e, t, f"{what} key")
                if e not in self.c.consts:
                    raise P4Error(e.loc, f"{what} case values must be compile-time constants")

    # ------------------------------------------------------------ controls
    def control_decl(self, d):
        scope = Scope(self.global_scope)
        self.block_locals = []
        self.params(d.params, scope, d.name)
        self.block, self.in_parser = d, False
        for l in d.locals:
            if isinstance(l, A.ConstDecl):
                self.const_decl(l, scope, d.name)
            elif isinstance(l, A.VarDecl):
                self.var_decl(l, scope, d.name)
            elif isinstance(l, A.Instantiation):
                self.instantiation(l, scope, d.name)
            elif isinstance(l, A.ActionDecl):
                self.action_decl(l, scope, d.name)
            elif isinstance(l, A.TableDecl):
                self.table_decl(l, scope, d.name)
        self.stmt(d.body, Scope(scope))
        check_single_apply(d, self.c)
        self.c.block_syms[d] = self.block_locals
        self.block = None

    def action_decl(self, d, scope, owner):
        sym = Sym("action", d.name, VOID, d, owner=owner, loc=d.loc)
        for a in d.annos:
            if a.name == "name" and a.args and isinstance(a.args[0], A.StrLit):
                sym.cp_name = a.args[0].value.lstrip(".")
        scope.declare(sym, d.loc)
        self.c.syms[d] = sym
        inner = Scope(scope)
        saved = getattr(self, "block_locals", None)
        if owner == "":
            self.block_locals = []
        params = self.params(d.params, inner, owner, action=True)
        seen_data = False
        for p in d.params:
            if not p.direction:
                seen_data = True
            elif seen_data:
                raise P4Error(p.loc, "directional action parameters must precede action data parameters")
        self.block_locals.extend(params)
        prev, self.action = getattr(self, "action", None), d
        self.stmt(d.body, inner)
        self.action = prev
        if owner == "":
            self.c.block_syms[d] = self.block_locals
            self.block_locals = saved

    def table_decl(self, d, scope, owner):
        sym = Sym("table", d.name, TableT(d.name), d, owner=owner, loc=d.loc)
        for a in d.annos:
            if a.name == "name" and a.args and isinstance(a.args[0], A.StrLit):
                sym.cp_name = a.args[0].value.lstrip(".")
        scope.declare(sym, d.loc)
        self.c.syms[d] = sym
        ktypes, kinds = [], []
        for k in d.keys:
            t = self.expr(k.expr, scope)
            if not isinstance(t, (Bits, BoolT, ErrorT, EnumT)):
                raise P4Error(k.loc, f"table key of type {t} is not supported")
            if k.match_kind not in self.match_kinds or k.match_kind == "selector":
                raise P4Error(k.loc, f"unknown or unsupported match kind '{k.match_kind}'")
            ktypes.append(t)
            kinds.append(k.match_kind)
        if kinds.count("lpm") > 1:
            raise P4Error(d.loc, f"table {d.name}: at most one lpm key is allowed (bmv2)")
        actions, bound = [], {}
        for r in d.actions:
            a = scope.lookup(r.name)
            if a is None or a.kind != "action":
                raise P4Error(r.loc, f"unknown action '{r.name}'")
            self.c.syms[r] = a
            actions.append(a)
            dir_params = [p for p in a.decl.params if p.direction]
            if r.args is not None and len(r.args) != len(dir_params):
                raise P4Error(r.loc, f"action '{r.name}' binds {len(dir_params)} parameter(s) in the "
                                     f"actions list, got {len(r.args)}")
            if r.args is None and dir_params:
                raise P4Error(r.loc, f"action '{r.name}' has directional parameters that must be bound")
            for e, p in zip(r.args or (), dir_params):
                self.arg(e, self.c.decl_types[p.type], p.direction, scope)
            bound[r.name] = r.args or ()
        default = None
        if d.default_action is not None:
            default = (self.table_action(d.default_action, actions, scope, "default_action"),
                       d.default_action.args or ())
        if d.entries is not None:
            for e in d.entries:
                self.keyset(e.keys, ktypes, scope, e.loc, "entry")
                for k, kind in zip(e.keys, kinds):
                    if isinstance(k, A.KsMask) and kind not in ("ternary", "lpm"):
                        raise P4Error(k.loc, f"mask ('&&&') on a {kind} key")
                    if isinstance(k, A.KsRange) and kind != "range":
                        raise P4Error(k.loc, f"range ('..') on a {kind} key")
                self.table_action(e.action, actions, scope, "entry")
        if d.size is not None:
            self.const_int(d.size, scope, "table size")
        self.c.tables[sym] = TableInfo(sym, d, ktypes, kinds, actions, bound, default)

    def table_action(self, r, actions, scope, what):
        a = next((x for x in actions if x.name == r.name), None)
        if a is None:
            raise P4Error(r.loc, f"{what} '{r.name}' is not in the table's actions list")
        self.c.syms[r] = a
        data = [p for p in a.decl.params if not p.direction]
        args = r.args or ()
        if len(args) != len(data):
            raise P4Error(r.loc, f"{what} '{r.name}' needs {len(data)} action data argument(s), got {len(args)}")
        for e, p in zip(args, data):
            self.expr(e, scope)
            self.coerce(e, self.c.decl_types[p.type], f"argument '{p.name}' of {r.name}")
            if e not in self.c.consts:
                raise P4Error(e.loc, f"{what} arguments must be compile-time constants")
        return a

    # ------------------------------------------------------------ statements
    def stmt(self, s, scope):
        if isinstance(s, A.Block):
            inner = Scope(scope)
            for x in s.stmts:
                self.stmt(x, inner)
        elif isinstance(s, A.Assign):
            lt = self.expr(s.lhs, scope)
            self.lvalue(s.lhs, scope)
            self.expr(s.rhs, scope)
            self.coerce(s.rhs, lt, "assignment")
        elif isinstance(s, A.CallStmt):
            self.expr(s.call, scope)
        elif isinstance(s, A.If):
            t = self.expr(s.cond, scope)
            if not isinstance(t, BoolT):
                raise P4Error(s.cond.loc, f"condition must be bool, not {t}")
            self.stmt(s.then, Scope(scope))
            if s.other is not None:
                self.stmt(s.other, Scope(scope))
        elif isinstance(s, A.VarDecl):
            self.var_decl(s, scope, self.block.name if self.block else "")
        elif isinstance(s, A.ConstDecl):
            self.const_decl(s, scope, self.block.name if self.block else "")
        elif isinstance(s, A.Switch):
            self.switch(s, scope)
        elif isinstance(s, A.Return):
            if s.value is not None:
                raise P4Error(s.loc, "return with a value outside a function")
        elif isinstance(s, A.Exit):
            if self.in_parser:
                raise P4Error(s.loc, "exit is not allowed in a parser")
        elif isinstance(s, A.Empty) or s is None:
            pass
        else:
            raise P4Error(getattr(s, "loc", None), f"unsupported statement {type(s).__name__}")

    def switch(self, s, scope):
        from .types import ActionEnumT
        t = self.expr(s.expr, scope)
        if not isinstance(t, ActionEnumT):
            raise P4Error(s.expr.loc, "switch expression must be 'table.apply().action_run'")
        names = {a.name for a in self.c.tables[self.table_sym(t.table, scope)].actions}
        seen = set()
        for i, c in enumerate(s.cases):
            if c.label is None:
                if i != len(s.cases) - 1:
                    raise P4Error(c.loc, "'default' must be the last switch case")
            elif c.label not in names:
                raise P4Error(c.loc, f"'{c.label}' is not an action of table {t.table}")
            if c.label in seen:
                raise P4Error(c.loc, f"duplicate switch label '{c.label}'")
            seen.add(c.label)
            if c.body is not None:
                self.stmt(c.body, Scope(scope))

    def table_sym(self, name, scope):
        s = scope.lookup(name)
        return s


def typecheck(program: A.Program) -> Checked:
    """Type-check a parsed program; raise P4Error on the first error."""
    return TypeChecker(program).check()

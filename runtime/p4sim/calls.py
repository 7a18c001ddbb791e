"""Typing of calls: header/stack methods (spec 8.17, 8.18), packet_in /
packet_out (spec 12.8, 15), tables (spec 14.2.2), actions (spec 14.1) and the
v1model externs and functions (v1model.p4: register, counter, meter, hash,
update_checksum, verify_checksum, mark_to_drop, truncate, random; core.p4:
verify).  Each checked call is classified in ``Checked.calls[call] = (kind,
info)`` for the evaluator.
"""
from __future__ import annotations

from . import ast as A
from .builtins import STANDARD_METADATA
from .types import (BOOL, ERROR, VOID, ApplyResultT, Bits, BoolT, EnumT, ErrorT, ExternT, HeaderT,
                    InfInt, ListT, MethodT, StackT, StructT, TableT)


def check_call(ck, e: A.Call, scope):
    c = ck.c
    f = e.func

    def nargs(n, what):
        if len(e.args) not in (n if isinstance(n, tuple) else (n,)):
            ck.fail(e, f"{what} takes {n} argument(s), got {len(e.args)}")

    def record(kind, info=None, t=VOID):
        c.calls[e] = (kind, info)
        return t

    if isinstance(f, A.Member):
        mt = ck.expr(f, scope)
        if not isinstance(mt, MethodT):
            ck.fail(e, f"'{f.name}' is not a method")
        what = mt.what
        recv = f.expr
        rt = c.types[recv]
        if what.startswith("header."):
            nargs(0, f.name)
            if f.name != "isValid":
                ck.lvalue(recv, scope, f.name)
            return record(f.name, None, BOOL if f.name == "isValid" else VOID)
        if what.startswith("stack."):
            nargs(1, f.name)
            ck.lvalue(recv, scope, f.name)
            n = ck.const_int_expr(e.args[0], scope, f"{f.name} count")
            return record(f.name, n)
        if what == "table.apply":
            nargs(0, "apply")
            if ck.action is not None or ck.in_parser:
                ck.fail(e, "tables can only be applied in a control's apply block")
            return record("apply", c.syms[recv], ApplyResultT(rt.name))
        ext, m = what.split(".", 1)
        if ext == "packet_in":
            if not ck.in_parser:
                ck.fail(e, f"packet_in.{m} is only available in a parser")
            if m == "extract":
                nargs(1, "extract (variable-length extract is not supported)")
                ht = ck.expr(e.args[0], scope)
                if not isinstance(ht, HeaderT):
                    ck.fail(e.args[0], f"extract needs a header, not {ht}")
                ck.lvalue(e.args[0], scope, "extract")
                return record("extract")
            if m == "lookahead":
                nargs(0, "lookahead")
                if len(e.type_args) != 1:
                    ck.fail(e, "lookahead needs one type argument: lookahead<T>()")
                t = ck.resolve(e.type_args[0])
                if not isinstance(t, (Bits, HeaderT, BoolT)):
                    ck.fail(e, f"lookahead<{t}> is not supported")
                return record("lookahead", t, t)
            if m == "advance":
                nargs(1, "advance")
                ck.arg(e.args[0], Bits(32), "in", scope, "advance")
                return record("advance")
            if m == "length":
                nargs(0, "length")
                return record("length", None, Bits(32))
        elif ext == "packet_out":
            if m == "emit":
                nargs(1, "emit")
                t = ck.expr(e.args[0], scope)
                if not isinstance(t, (HeaderT, StackT, StructT)):
                    ck.fail(e.args[0], f"emit needs a header, header stack or struct, not {t}")
                return record("emit")
        elif ext == "register":
            sym = c.syms.get(recv)
            et = rt.args[0]
            it = rt.args[1] if len(rt.args) > 1 else Bits(32)
            if m == "read":
                nargs(2, "register.read")
                ck.arg(e.args[0], et, "out", scope, "register.read result")
                ck.arg(e.args[1], it, "in", scope, "register.read index")
                return record("reg_read", sym)
            if m == "write":
                nargs(2, "register.write")
                ck.arg(e.args[0], it, "in", scope, "register.write index")
                ck.arg(e.args[1], et, "in", scope, "register.write value")
                return record("reg_write", sym)
        elif ext == "counter" and m == "count":
            nargs(1, "counter.count")
            ck.arg(e.args[0], Bits(32), "in", scope, "counter index")
            return record("count", c.syms.get(recv))
        elif ext == "direct_counter" and m == "count":
            nargs(0, "direct_counter.count")
            return record("noop")
        elif ext == "meter" and m == "execute_meter":
            nargs(2, "meter.execute_meter")
            ck.arg(e.args[0], Bits(32), "in", scope, "meter index")
            ck.expr(e.args[1], scope)
            ck.lvalue(e.args[1], scope)
            return record("meter")
        ck.fail(e, f"unknown method {rt}.{m}")

    if not isinstance(f, A.Name):
        ck.fail(e, "call of a non-function")
    s = scope.lookup(f.name)
    if s is not None:
        if s.kind != "action":
            ck.fail(e, f"'{f.name}' is not an action or function")
        c.syms[f] = s
        if ck.in_parser:
            ck.fail(e, "actions cannot be called from a parser")
        params = s.decl.params
        if len(e.args) != len(params):
            ck.fail(e, f"action '{f.name}' takes {len(params)} argument(s), got {len(e.args)}")
        for a, p in zip(e.args, params):
            ck.arg(a, c.decl_types[p.type], p.direction or "in", scope, f"argument '{p.name}'")
        return record("action", s)

    n = f.name
    if n == "mark_to_drop":
        nargs((0, 1), "mark_to_drop")
        if e.args:
            ck.arg(e.args[0], STANDARD_METADATA, "inout", scope, "mark_to_drop")
        return record("mark_to_drop")
    if n == "hash":
        nargs(5, "hash")
        ot = ck.expr(e.args[0], scope)
        ck.lvalue(e.args[0], scope, "hash result")
        if not isinstance(ot, Bits):
            ck.fail(e.args[0], f"hash result must be bit<W>, not {ot}")
        enum_arg(ck, e.args[1], scope)
        for i in (2, 4):
            t = ck.expr(e.args[i], scope)
            if not isinstance(t, (Bits, InfInt)):
                ck.fail(e.args[i], f"hash {'base' if i == 2 else 'max'} must be bit<W>, not {t}")
        data_arg(ck, e.args[3], scope)
        return record("hash")
    if n in ("update_checksum", "verify_checksum", "update_checksum_with_payload",
             "verify_checksum_with_payload"):
        nargs(4, n)
        ck.arg(e.args[0], BOOL, "in", scope, f"{n} condition")
        data_arg(ck, e.args[1], scope)
        t = ck.expr(e.args[2], scope)
        if not isinstance(t, Bits):
            ck.fail(e.args[2], f"checksum field must be bit<W>, not {t}")
        if n.startswith("update"):
            ck.lvalue(e.args[2], scope, n)
        enum_arg(ck, e.args[3], scope)
        return record(n)
    if n == "truncate":
        nargs(1, "truncate")
        ck.arg(e.args[0], Bits(32), "in", scope, "truncate length")
        return record("truncate")
    if n == "random":
        nargs(3, "random")
        t = ck.expr(e.args[0], scope)
        ck.lvalue(e.args[0], scope, "random result")
        if not isinstance(t, Bits):
            ck.fail(e.args[0], "random result must be bit<W>")
        ck.arg(e.args[1], t, "in", scope, "random lo")
        ck.arg(e.args[2], t, "in", scope, "random hi")
        return record("random")
    if n == "verify":
        nargs(2, "verify")
        if not ck.in_parser:
            ck.fail(e, "verify can only be called in a parser")
        ck.arg(e.args[0], BOOL, "in", scope, "verify condition")
        ck.arg(e.args[1], ERROR, "in", scope, "verify error")
        return record("verify")
    ck.fail(f, f"undeclared function '{n}'")


def enum_arg(ck, e, scope):
    t = ck.expr(e, scope)
    if not isinstance(t, EnumT) or t.name != "HashAlgorithm":
        ck.fail(e, f"expected a HashAlgorithm, not {t}")
    if ck.c.consts.get(e) not in ("crc32", "crc16", "csum16", "identity", "xor16"):
        ck.fail(e, f"hash algorithm {ck.c.consts.get(e)} is not supported")


def data_arg(ck, e, scope):
    t = ck.expr(e, scope)
    items = t.items if isinstance(t, ListT) else (t,)
    for it in items:
        if not isinstance(it, (Bits, BoolT, HeaderT, StructT, ListT)):
            ck.fail(e, f"field list element of type {it} is not supported")
    return t

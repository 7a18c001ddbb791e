"""The C-style renderer shared by the eBPF (XDP) and DPDK backends (tinygrad's CStyleLanguage).

A :class:`CRenderer` walks the IR and turns each value node into one C
statement ``T vN = <expr>;``; the value of a node is the name of its variable.
Scalar ops (arithmetic with wrap/saturate, comparisons, select, casts, lookup
tables, bucketize, crc32) are rendered here, the same for every C dialect.
What differs between dialects -- packet access, loops over arrays, state,
emitting the new payload, verdicts -- is left to hooks a dialect overrides:

    class XdpRenderer(CRenderer):
        u = "__u"                                 # __u8, __u16 ...
        def r_field(self, n): ...                 # bounds-checked packet read
        ...

Semantics follow :mod:`nicc.compiler.interp` exactly: shifts by the width or
more give 0 (or the sign for signed >>), x / 0 == 0, x % 0 == x, narrowing
casts wrap or saturate as the node says.
"""
from __future__ import annotations

from ...compiler.errors import InternalError, NiccError
from ...compiler.ir import ARITH, COMPARE, Node, Op, Pipeline
from ...compiler.types import Array, BOOL, Scalar
from ...compiler.walker import Walker
from ..pending import PENDING, refusal


def c_type(t: Scalar, u: str = "uint", suffix: str = "_t") -> str:
    """C spelling of a scalar type: ``c_type(U16) == 'uint16_t'``, ``c_type(U16, '__u', '') == '__u16'``."""
    if t == BOOL:
        return "bool" if suffix else "__u8"
    if t.kind == "f16":
        return f"{u}16{suffix}"
    sign = u if not t.signed else u.replace("uint", "int").replace("__u", "__s")
    return f"{sign}{t.bits}{suffix}"


def c_const(v: int, t: Scalar) -> str:
    if t == BOOL:
        return "1" if v else "0"
    if t.bits == 64:
        if t.signed and v == t.lo:
            return "(-9223372036854775807LL - 1)"
        return f"{v}{'LL' if t.signed else 'ULL'}"
    if t.signed and v == t.lo:
        return f"({v + 1} - 1)"
    return f"{v}{'' if t.signed else 'U'}"


_SYM = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.AND: "&", Op.OR: "|", Op.XOR: "^",
        Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


class CRenderer(Walker):
    """Renders the scalar part of a pipeline as C statements; dialects add the rest."""

    u = "uint"          # type prefix: uint -> uint8_t; __u -> __u8
    t_suffix = "_t"
    prefix = "nicc"     # symbol prefix for generated helpers

    def __init__(self, pipeline: Pipeline):
        super().__init__(pipeline)
        self.lines: list[str] = []
        self.indent = 1
        self.counter = 0
        self.helpers: dict[str, str] = {}     # name -> C definition (emitted once, before the program)

    # -- plumbing ---------------------------------------------------------
    def ty(self, t: Scalar) -> str:
        return c_type(t, self.u, self.t_suffix)

    def emit_line(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def fresh(self, base: str = "v") -> str:
        self.counter += 1
        return f"{base}{self.counter}"

    def define(self, n: Node, expr: str) -> str:
        name = self.fresh()
        self.emit_line(f"{self.ty(n.type)} {name} = {expr};")
        return name

    def refuse(self, n: Node, why: str) -> NiccError:
        return NiccError(f"{self.target_name} cannot compile {n.op.value}: {why}", n.loc)

    target_name = "C"

    def run_node(self, n: Node):
        rule = getattr(self, f"r_{n.op.value}", None)
        if rule is None:
            raise self.refuse(n, "no lowering for this operation")
        return rule(n, *[self.env[a] for a in n.args])

    # -- scalar rules -------------------------------------------------------
    def r_const(self, n):
        return c_const(n.attr("value"), n.type)

    def _sat_helper(self, op: Op, t: Scalar) -> str:
        name = f"{self.prefix}_{op.value}_sat_{t}"
        if name not in self.helpers:
            ct = self.ty(t)
            lo, hi = c_const(t.lo, t), c_const(t.hi, t)
            builtin = {Op.ADD: "__builtin_add_overflow", Op.SUB: "__builtin_sub_overflow",
                       Op.MUL: "__builtin_mul_overflow"}[op]
            if t.signed:
                neg = {Op.ADD: "b < 0", Op.SUB: "b > 0", Op.MUL: "(a < 0) != (b < 0)"}[op]
                over = f"return ({neg}) ? {lo} : {hi};"
            else:
                over = f"return {lo if op is Op.SUB else hi};"
            self.helpers[name] = (f"static __attribute__((always_inline)) inline {ct} {name}({ct} a, {ct} b)\n{{\n"
                                  f"    {ct} r;\n    if ({builtin}(a, b, &r))\n        {over}\n    return r;\n}}\n")
        return name

    def r_arith(self, n, a, b):
        t: Scalar = n.type
        ct = self.ty(t)
        if t == BOOL:
            return self.define(n, f"({a} {_SYM[n.op]} {b})")
        if n.op in (Op.ADD, Op.SUB, Op.MUL):
            if n.attr("overflow") == "sat":
                return self.define(n, f"{self._sat_helper(n.op, t)}({a}, {b})")
            if t.signed:   # wrap without C signed-overflow UB: compute unsigned
                ut = self.ty(Scalar("u", t.bits))
                return self.define(n, f"({ct})(({ut}){a} {_SYM[n.op]} ({ut}){b})")
            return self.define(n, f"({ct})({a} {_SYM[n.op]} {b})")
        if n.op is Op.DIV:
            if t.signed:
                return self.define(n, f"({b} == 0 ? 0 : ({b} == -1 ? ({ct})(0 - ({self.ty(Scalar('u', t.bits))}){a}) "
                                      f": ({ct})({a} / {b})))")
            return self.define(n, f"({b} == 0 ? 0 : ({ct})({a} / {b}))")
        if n.op is Op.MOD:
            if t.signed:
                return self.define(n, f"({b} == 0 ? {a} : ({b} == -1 ? 0 : ({ct})({a} % {b})))")
            return self.define(n, f"({b} == 0 ? {a} : ({ct})({a} % {b}))")
        if n.op in (Op.AND, Op.OR, Op.XOR):
            return self.define(n, f"({ct})({a} {_SYM[n.op]} {b})")
        w = t.bits
        if n.op is Op.SHL:
            ut = self.ty(Scalar("u", w))
            return self.define(n, f"({b} >= {w} ? 0 : ({ct})(({ut}){a} << {b}))")
        if t.signed:
            return self.define(n, f"({b} >= {w} ? ({a} < 0 ? -1 : 0) : ({ct})({a} >> {b}))")
        return self.define(n, f"({b} >= {w} ? 0 : ({ct})({a} >> {b}))")

    def r_not(self, n, a):
        if n.type == BOOL:
            return self.define(n, f"!{a}")
        return self.define(n, f"({self.ty(n.type)})~{a}")

    def r_compare(self, n, a, b):
        return self.define(n, f"({a} {_SYM[n.op]} {b})")

    def r_select(self, n, c, a, b):
        return self.define(n, f"({c} ? {a} : {b})")

    def r_cast(self, n, a):
        t: Scalar = n.type
        src: Scalar = n.args[0].type
        if t == BOOL:
            return self.define(n, f"({a} != 0)")
        if n.attr("overflow") == "sat" and src != BOOL and (src.hi > t.hi or src.lo < t.lo):
            lo = f"{a} < {c_const(t.lo, src) if src.fits(t.lo) else c_const(src.lo, src)} ? {c_const(t.lo, t)} : " \
                if src.signed and src.lo < t.lo else ""
            hi = f"{a} > {c_const(t.hi, src)} ? {c_const(t.hi, t)} : " if src.hi > t.hi and src.fits(t.hi) else ""
            return self.define(n, f"({lo}{hi}({self.ty(t)}){a})")
        return self.define(n, f"({self.ty(t)}){a}")

    def table_name(self, table: str) -> str:
        return f"{self.prefix}_lut_{table}"

    def r_lut(self, n, x):
        tab = self.pipeline.tables[n.attr("table")]
        idx = x if tab.index.lo == 0 else f"({x} - ({c_const(tab.index.lo, tab.index)}))"
        return self.define(n, f"{self.table_name(tab.name)}[{idx}]")

    table_attrs = ""       # what a dialect adds to a table's definition (a section, an alignment)

    def lut_definitions(self) -> list[str]:
        """``static const`` arrays holding each table (dialects may place them elsewhere)."""
        out = []
        for t in self.pipeline.tables.values():
            vals = [str(int(v)) for v in t.values]
            rows = ",\n".join("    " + ", ".join(vals[i:i + 16]) for i in range(0, len(vals), 16))
            out.append(f"static const {self.ty(t.out)} {self.table_name(t.name)}[{len(vals)}]{self.table_attrs} = "
                       f"{{\n{rows}\n}};\n")
        return out

    def r_bucketize(self, n, x):
        t = n.args[0].type
        terms = " + ".join(f"({x} >= {c_const(b, t)})" for b in n.attr("boundaries"))
        return self.define(n, f"({self.ty(n.type)})({terms})")

    def crc_helper(self, nbytes: int) -> str:
        name = f"{self.prefix}_crc32_be{nbytes * 8}"
        if name not in self.helpers:
            self.helpers.setdefault(f"{self.prefix}_crc32_table", self._crc_table())
            ut = self.ty(Scalar("u", 32))
            xt = self.ty(Scalar("u", max(8, nbytes * 8)))
            steps = "\n".join(f"    c = {self.prefix}_crc32_table[(c ^ (x >> {8 * i})) & 0xff] ^ (c >> 8);"
                              for i in reversed(range(nbytes)))
            self.helpers[name] = (f"static __attribute__((always_inline)) inline {ut} {name}({xt} x)\n{{\n"
                                  f"    {ut} c = 0xffffffffU;\n{steps}\n    return c ^ 0xffffffffU;\n}}\n")
        return name

    def _crc_table(self) -> str:
        vals = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            vals.append(f"0x{c:08x}")
        rows = ",\n".join("    " + ", ".join(vals[i:i + 8]) for i in range(0, 256, 8))
        return f"static const {self.ty(Scalar('u', 32))} {self.prefix}_crc32_table[256] = {{\n{rows}\n}};\n"

    def r_crc32(self, n, x):
        return self.define(n, f"{self.crc_helper(n.args[0].type.nbytes)}({x})")

    # -- verdicts: a dialect supplies ret(verdict) (the C that leaves with it) -------------
    multicast_refusal = "multicast verdicts are not supported by this target yet"

    def ret(self, verdict: str) -> str:
        raise InternalError(f"the {self.target_name} renderer does not say how to leave with a verdict")

    def refuse_multicast(self, n: Node) -> None:
        if n.attr("verdict") == "multicast":
            raise self.refuse(n, self.multicast_refusal)

    def r_verdict_if(self, n, c):
        self.refuse_multicast(n)
        self.emit_line(f"if ({c}) {self.ret(n.attr('verdict'))}")

    def r_verdict(self, n):
        self.refuse_multicast(n)
        self.emit_line(self.ret(n.attr("verdict")))

    def emit_size(self, n: Node) -> int:
        """The largest payload ``n`` (an emit) can produce; refused if no IPv4 packet can hold it."""
        size = self.pipeline.max_payload_out()
        if size + 28 > 0xFFFF:
            raise self.refuse(n, f"the emitted payload can reach {size} bytes, more than an IPv4 packet holds")
        return size


# every arithmetic / comparison op goes through r_arith / r_compare, late-bound so dialects can override those
for _op in ARITH:
    setattr(CRenderer, f"r_{_op.value}", lambda self, n, a, b: self.r_arith(n, a, b))
for _op in COMPARE:
    setattr(CRenderer, f"r_{_op.value}", lambda self, n, a, b: self.r_compare(n, a, b))
# ops not lowered yet (backends/pending.py): refused at the user's line, naming the op and the target
def _r_pending(self, n, *args):
    raise refusal(n, self.target_name)


for _op in PENDING:
    setattr(CRenderer, f"r_{_op.value}", _r_pending)

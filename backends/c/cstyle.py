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

Ops with several implementations render the one the lowering pass chose
(:mod:`nicc.backends.lowering`, the node's ``impl`` attribute); without one they
render the plain implementation. Generated code reads like hand-written C: one
comment per user source line (the line itself), not one per C line, and a value
used once, right where it is made, is written into its use instead of a variable.
"""
from __future__ import annotations

import linecache
import os
import re

from ...compiler.errors import InternalError, NiccError
from ...compiler.ir import ARITH, COMPARE, Node, Op, Pipeline
from ...compiler.types import BOOL, Scalar
from ...compiler.walker import Walker
from ..host_only import HOST_ONLY, refusal
from ..ranges import Ranges

CRC_POLY = 0xEDB88320


def crc_tables(n: int) -> list[list[int]]:
    """zlib's crc32 table T0 and its slicing-by-n companions: T_k[b] is the crc register after
    byte b followed by k zero bytes."""
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ CRC_POLY if c & 1 else c >> 1
        t0.append(c)
    ts = [t0]
    for _ in range(1, n):
        ts.append([(v >> 8) ^ t0[v & 0xFF] for v in ts[-1]])
    return ts


def crc_slice_tables(n: int) -> list[list[int]]:
    """One table per byte position of an ``n``-byte big-endian input (position 0 = the first byte crc32
    reads, the most significant), with the initial and final inversions folded in, so that
    ``crc32(x) == t[0][b0] ^ t[1][b1] ^ ... ^ t[n-1][b_{n-1}]``.

    Slicing-by-n: the register starts at ~0; the first min(n, 4) bytes are xored with it, so their
    tables are indexed by ``b ^ 0xff``; for n < 4 the untouched part of the register, ~0 >> 8n, goes
    into the last table, and the final inversion too."""
    ts = crc_tables(n)
    out = []
    for k in range(n):
        t = ts[n - 1 - k]
        out.append([t[b ^ 0xFF] if k < 4 else t[b] for b in range(256)])
    last = 0xFFFFFFFF ^ ((0xFFFFFFFF >> (8 * n)) if n < 4 else 0)
    out[-1] = [v ^ last for v in out[-1]]
    return out


def source_text(file: str, line: int) -> str:
    """The user's source line (stripped), or '' where the file cannot be read."""
    text = linecache.getline(file, line).strip() if file and line else ""
    return text.replace("*/", "* /")


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
    # names the program around the rendered body uses (a payload field called "s" gets another name)
    reserved = ("ctx", "data", "data_end", "pkt", "zero", "cpu", "cnt", "s", "io", "io_end", "io_copy", "ulen",
                "blen", "plen", "c", "arg", "n", "i", "k", "e", "o", "olen", "len", "room", "out_len", "st", "out",
                "grow", "delta", "sum")
    t_suffix = "_t"
    prefix = "nicc"     # symbol prefix for generated helpers

    def __init__(self, pipeline: Pipeline):
        super().__init__(pipeline)
        self.lines: list[str] = []
        self.indent = 1
        self.counter = 0
        self.names: set[str] = set(C_KEYWORDS) | set(self.reserved)
        self.helpers: dict[str, str] = {}     # name -> C definition (emitted once, before the program)
        self.node: Node | None = None         # the node being rendered (its lines get its comment)
        self.last_loc: tuple | None = None    # the source line of the last comment written
        self.inline: set[int] = set()         # ids of nodes whose expression is written into their one use
        self.table_bytes = 0                  # bytes of the tables the helpers define (crc32, bucketize)
        self.ranges = Ranges(pipeline)        # value intervals: checks that can never fire are left out

    # -- plumbing ---------------------------------------------------------
    def ty(self, t: Scalar) -> str:
        return c_type(t, self.u, self.t_suffix)

    def emit_line(self, line: str) -> None:
        """One C line; the first line of each user source line is preceded by that line as a comment."""
        n = self.node
        if n is not None and line and not line.lstrip().startswith("}"):
            key = (n.loc.file, n.loc.line)
            if key != self.last_loc:
                self.last_loc = key
                text = source_text(n.loc.file, n.loc.line)
                where = f"{os.path.basename(n.loc.file)}:{n.loc.line}"
                self.lines.append("    " * self.indent + f"/* {where}{': ' + text if text else ''} */")
        self.lines.append("    " * self.indent + line if line else "")

    def run_node(self, n: Node):
        saved, self.node = self.node, n
        try:
            rule = getattr(self, f"r_{n.op.value}", None)
            if rule is None:
                raise self.refuse(n, "no lowering for this operation")
            return rule(n, *[self.env[a] for a in n.args])
        finally:
            self.node = saved

    def fresh(self, base: str = "v") -> str:
        """A C name not used yet: ``base`` itself if free and not a plain letter+number, else base + a number."""
        if base not in self.names and not base[-1:].isdigit() and base not in ("v", "k", "i", "m"):
            self.names.add(base)
            return base
        while True:
            self.counter += 1
            name = f"{base}{self.counter}"
            if name not in self.names:
                self.names.add(name)
                return name

    def value_name(self, n: Node) -> str:
        """A C name for the value of ``n``: the field's name for a payload field, else v<k>."""
        name = n.attr("name") if n.op is Op.FIELD else None
        if n.op is Op.ELEM and n.attr("field") != "_":
            name = n.attr("field")
        return self.fresh(name if name and name.isidentifier() else "v")

    def define(self, n: Node, expr: str) -> str:
        if id(n) in self.inline:
            return wrap(expr)
        name = self.value_name(n)
        self.emit_line(f"{self.ty(n.type)} {name} = {expr};")
        return name

    def refuse(self, n: Node, why: str) -> NiccError:
        return NiccError(f"{self.target_name} cannot compile {n.op.value}: {why}", n.loc)

    target_name = "C"

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
            if n.attr("overflow") == "sat" and not self.ranges.fits(n):
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
        lo, hi = self.ranges.of(n.args[0])
        if n.attr("overflow") == "sat" and src != BOOL and (src.hi > t.hi or src.lo < t.lo) and \
                not (t.lo <= lo and hi <= t.hi):
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
    inline_attr = "static inline"

    def rodata_bytes(self) -> int:
        """Bytes of every constant table: lookup tables and the helpers' tables."""
        return self.table_bytes + sum(len(t.values) * max(1, t.out.nbytes) for t in self.pipeline.tables.values())

    def lut_definitions(self) -> list[str]:
        """``static const`` arrays holding each table (dialects may place them elsewhere)."""
        out = []
        for t in self.pipeline.tables.values():
            vals = [str(int(v)) for v in t.values]
            rows = ",\n".join("    " + ", ".join(vals[i:i + 16]) for i in range(0, len(vals), 16))
            out.append(f"static const {self.ty(t.out)} {self.table_name(t.name)}[{len(vals)}]{self.table_attrs} = "
                       f"{{\n{rows}\n}};\n")
        return out

    # -- bucketize: how many boundaries are <= x (numpy's searchsorted, side="right") ---------------
    def r_bucketize(self, n, x):
        t: Scalar = n.args[0].type
        bounds = list(n.attr("boundaries"))
        always = sum(b <= t.lo for b in bounds)            # boundaries every value of t reaches
        inner = [b for b in bounds if t.lo < b <= t.hi]     # (those above t.hi are never reached)
        impl = n.attr("impl", "compares")
        rt = self.ty(n.type)
        if impl == "clz" and inner == bounds and len(bounds):
            a = bounds[0].bit_length() - 1
            bl = self.bitlen(x, t)
            k = len(bounds)
            if a == 0 and k == t.bits - (1 if t.signed else 0):
                expr = bl                                     # the bit length is the bucket
            else:
                expr = f"({bl} > {a + k} ? {k} : ({bl} > {a} ? {bl} - {a} : 0))"
            if t.signed:
                expr = f"({x} > 0 ? {expr} : 0)"
            return self.define(n, f"({rt}){expr}")
        if impl == "bsearch" and len(inner) > 1:
            return self.define(n, f"({rt})({always}U + {self.bsearch_helper(t, inner)}({x}))")
        terms = [f"({x} >= {c_const(b, t)})" for b in inner]
        if always:
            terms.insert(0, str(always))
        return self.define(n, f"({rt})({' + '.join(terms) or '0'})")

    def bitlen(self, x: str, t: Scalar) -> str:
        """The bit length of ``x`` (0 for 0; for signed x, of a positive x): __builtin_clz."""
        if t.bits <= 32:
            ux = f"(uint32_t){x}"
            return f"({x} ? 32 - __builtin_clz({ux}) : 0)"
        return f"({x} ? 64 - __builtin_clzll((uint64_t){x}) : 0)"

    def bsearch_helper(self, t: Scalar, bounds: list[int]) -> str:
        """A branch-free binary search: how many of ``bounds`` (sorted, inside t) are <= x."""
        known = self.__dict__.setdefault("_bsearch", {})
        if (t, tuple(bounds)) in known:
            return known[(t, tuple(bounds))]
        key = known[(t, tuple(bounds))] = f"{self.prefix}_bucketize{len(known) + 1}"
        n = len(bounds)
        size = 1 << n.bit_length()                 # a power of two > n: the search runs log2(size) steps
        padded = bounds + [t.hi] * (size - 1 - n)   # padding with t.hi: only x == t.hi passes it, clamped below
        ct, ut = self.ty(t), self.ty(Scalar("u", 32))
        vals = ", ".join(c_const(b, t) for b in padded)
        self.table_bytes += (size - 1) * t.nbytes
        steps = []
        step = size // 2
        while step:
            steps.append(f"    k += {x_ge('x', f'{key}_b[k + {step - 1}]')} ? {step}U : 0;")
            step //= 2
        self.helpers[key] = (
            f"/* bucketize over {n} boundaries: a branch-free binary search ({len(steps)} steps) */\n"
            f"static const {ct} {key}_b[{size - 1}]{self.table_attrs} = {{{vals}}};\n\n"
            f"{self.inline_attr} {ut} {key}({ct} x)\n{{\n    {ut} k = 0;\n\n" + "\n".join(steps) +
            f"\n    return k < {n}U ? k : {n}U;\n}}\n")
        return key

    # -- crc32: zlib's crc32 of the value's big-endian bytes ---------------------------------------
    def crc_helper(self, nbytes: int, impl: str = "bytewise") -> str:
        if impl.startswith("slice") and int(impl[5:]) == nbytes and nbytes > 1:
            return self._crc_slice_helper(nbytes)
        name = f"{self.prefix}_crc32_be{nbytes * 8}"
        if name not in self.helpers:
            if f"{self.prefix}_crc32_table" not in self.helpers:
                self.helpers[f"{self.prefix}_crc32_table"] = self._crc_table()
                self.table_bytes += 1024
            ut = self.ty(Scalar("u", 32))
            xt = self.ty(Scalar("u", max(8, nbytes * 8)))
            steps = "\n".join(f"    c = {self.prefix}_crc32_table[(c ^ (x >> {8 * i})) & 0xff] ^ (c >> 8);"
                              for i in reversed(range(nbytes)))
            self.helpers[name] = (f"/* zlib.crc32 of x's {nbytes} big-endian bytes, one table step per byte */\n"
                                  f"{self.inline_attr} {ut} {name}({xt} x)\n{{\n"
                                  f"    {ut} c = 0xffffffffU;\n\n{steps}\n    return c ^ 0xffffffffU;\n}}\n")
        return name

    def _crc_slice_helper(self, nbytes: int) -> str:
        name = f"{self.prefix}_crc32_be{nbytes * 8}"
        if name in self.helpers:
            return name
        ut = self.ty(Scalar("u", 32))
        xt = self.ty(Scalar("u", nbytes * 8))
        tabs = crc_slice_tables(nbytes)
        self.table_bytes += 1024 * nbytes
        rows = []
        for t in tabs:
            vals = [f"0x{v:08x}" for v in t]
            rows.append("    {\n" + ",\n".join("        " + ", ".join(vals[i:i + 8]) for i in range(0, 256, 8)) + "\n    }")
        terms = []
        for k in range(nbytes):
            sh = 8 * (nbytes - 1 - k)
            byte = f"x >> {sh}" if k == 0 else (f"(x >> {sh}) & 0xff" if sh else "x & 0xff")
            terms.append(f"{name}_t[{k}][{byte}]")
        self.helpers[name] = (
            f"/* zlib.crc32 of x's {nbytes} big-endian bytes by slicing: one table per byte position (the initial\n"
            f" * and final inversions folded in), {nbytes} independent loads instead of {nbytes} dependent steps */\n"
            f"static const {ut} {name}_t[{nbytes}][256]{self.table_attrs} = {{\n" + ",\n".join(rows) + "\n};\n\n"
            f"{self.inline_attr} {ut} {name}({xt} x)\n{{\n    return " + " ^\n           ".join(terms) + ";\n}\n")
        return name

    def _crc_table(self) -> str:
        vals = [f"0x{c:08x}" for c in crc_tables(1)[0]]
        rows = ",\n".join("    " + ", ".join(vals[i:i + 8]) for i in range(0, 256, 8))
        return (f"static const {self.ty(Scalar('u', 32))} {self.prefix}_crc32_table[256]{self.table_attrs} = "
                f"{{\n{rows}\n}};\n")

    def r_crc32(self, n, x):
        return self.define(n, f"{self.crc_helper(n.args[0].type.nbytes, n.attr('impl', 'bytewise'))}({x})")

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


C_KEYWORDS = ("auto break case char const continue default do double else enum extern float for goto if inline int "
              "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
              "volatile while bool true false NULL").split()


def x_ge(a: str, b: str) -> str:
    return f"{a} >= {b}"


def _is_simple(expr: str) -> bool:
    """A name or a number: needs no parentheses."""
    return expr.replace("_", "a").isalnum() or expr.lstrip("-").rstrip("UL").isdigit()


def _enclosed(expr: str) -> bool:
    """Whether ``expr`` is one parenthesized group: "(a + b)" but not "(a) + (b)"."""
    if not (expr.startswith("(") and expr.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(expr):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(expr) - 1:
            return False
    return True


_CAST = re.compile(r"^\((?:u?int\d+_t|__[us]\d+|bool)\)")


def wrap(expr: str) -> str:
    """``expr`` safe to use as an operand: parenthesized unless it is a name, a number, one group, or a
    cast of one of those."""
    m = _CAST.match(expr)
    rest = expr[m.end():] if m else expr
    if rest.startswith("s->"):
        rest = rest[3:]
    return expr if _is_simple(rest) or _enclosed(rest) else f"({expr})"


def cond(expr: str) -> str:
    """``expr`` as the inside of ``if (...)``: one outer pair of parentheses dropped."""
    return expr[1:-1] if _enclosed(expr) else expr


# every arithmetic / comparison op goes through r_arith / r_compare, late-bound so dialects can override those
for _op in ARITH:
    setattr(CRenderer, f"r_{_op.value}", lambda self, n, a, b: self.r_arith(n, a, b))
for _op in COMPARE:
    setattr(CRenderer, f"r_{_op.value}", lambda self, n, a, b: self.r_compare(n, a, b))
# host-only math (backends/host_only.py): refused at the user's line, naming the host part
def _r_host_only(self, n, *args):
    raise refusal(n, self.target_name)


for _op in HOST_ONLY:
    setattr(CRenderer, f"r_{_op.value}", _r_host_only)

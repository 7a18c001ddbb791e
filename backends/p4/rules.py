"""P4_16 rules, one per op kind: each turns a node into a P4 expression or statements.

The rule table ``P4_RULES`` is used by :class:`~nicc.backends.p4.render.P4Renderer`; helpers here
spell P4 types and literals.

Each value node becomes a control-local variable assigned in the ingress
``apply`` block (constants stay literals); the ingress block follows program
order, and every conditional verdict opens an ``if (...) {...} else {`` so that
later nodes (and their effects) only run on packets still undecided. Maps are
unrolled over the NIC capacity of their array, each element guarded by
``if (n > i)``. Lookup tables and state arrays are registers (a packet may need
many lookups into one table); bucketize is a ``range``-match table per use (a
table is applied at most once per control path). The templates in
``templates/`` only lay the text out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...compiler.ir import ARITH, COMPARE, Op
from ...compiler.types import BOOL, Scalar
from ..host_only import HOST_ONLY, refusal
from ..ranges import Ranges
from .layout import ArraySeg, Partition

# Verdict codes in meta.code (the same numbering as the reference interpreter); HOST_PART: the rest of
# the pipeline runs in the host part (a scan the switch cannot run, a host function).
UNDECIDED, PASS, TRANSMIT, DROP, MULTICAST, MALFORMED, HOST_PART = range(7)
CODES = {"pass": PASS, "transmit": TRANSMIT, "drop": DROP, "multicast": MULTICAST}

# P4Runtime id prefixes (p4.config.v1.P4Ids.Prefix).
ID_ACTION, ID_TABLE, ID_COUNTER, ID_REGISTER = 0x01, 0x02, 0x12, 0x16

# The per-verdict packet counter (``nicc_verdicts``): one cell per slot, then one per multicast group
# (slot MCAST_SLOT + group id - 1). The runtime reads it to print counters and to know when a run is done.
VERDICT_COUNTER = "nicc_verdicts"
SLOTS = ("pass", "malformed", "unselected", "host_part", "transmit", "drop")
PASS_SLOT, MALFORMED_SLOT, UNSELECTED_SLOT, HOST_PART_SLOT, TRANSMIT_SLOT, DROP_SLOT = range(len(SLOTS))
MCAST_SLOT = len(SLOTS)

CONTROL = "NiccIngress"


def p4_type(t: Scalar) -> str:
    if t == BOOL:
        return "bool"
    if t.kind == "f16":
        return "bit<16>"
    return f"{'int' if t.signed else 'bit'}<{t.bits}>"


def bits_type(t: Scalar) -> str:
    """The unsigned type holding ``t``'s bits (register cells, header fields)."""
    return f"bit<{1 if t == BOOL else t.bits}>"


def lit(v: int, t: Scalar) -> str:
    if t == BOOL:
        return "true" if v else "false"
    if t.signed:
        if v >= 0:
            return f"{t.bits}s{v}"
        if v > t.lo:
            return f"(-{t.bits}s{-v})"
        return f"(-{t.bits}s{t.hi} - {t.bits}s1)"          # the minimum: its magnitude is not an int<W>
    return f"{t.bits}w{v}"


def ulit(v: int, bits: int) -> str:
    return f"{bits}w{v}"


def fname(name: str) -> str:
    """Header field name for a user field (prefixed: user names may be P4 keywords)."""
    return "v" if name == "_" else f"f_{name}"


def byteswap(e: str, bits: int) -> str:
    if bits <= 8:
        return e
    return " ++ ".join(f"{e}[{8 * i + 7}:{8 * i}]" for i in range(bits // 8))


@dataclass
class ArrVal:
    """An array value while rendering: an input stack (``seg``) or a map's storage variables."""
    seg: ArraySeg                              # the root input array (count and capacity)
    count: str                                 # bit<32> expression: number of elements
    elems: list                                # per element: {field: expression}
    struct: object
    stack: str | None = None                   # the header stack holding the elements (payload arrays)


@dataclass
class TableDecl:
    name: str
    id: int
    key: str
    key_bits: int
    size: int
    entries: list                              # (lo, hi, bucket)


@dataclass
class RegisterDecl:
    name: str
    id: int
    bits: int
    size: int
    values: list | None = None                 # initial contents pushed by the runtime (LUTs)
    init: int = 0


@dataclass
class CounterDecl:
    name: str
    id: int
    size: int


@dataclass
class P4Program:
    """Everything the templates lay out, and what P4Info and the runtime state are built from."""
    name: str
    source: str
    port: int
    headers: list = field(default_factory=list)       # (type name, [(field, bits)], comment)
    hdr_members: list = field(default_factory=list)   # (type, member name)
    meta_fields: list = field(default_factory=list)   # (bits, name)
    parser_states: list = field(default_factory=list)  # (name, [statements], transition lines)
    locals: list = field(default_factory=list)        # (type, name)
    registers: list = field(default_factory=list)
    counters: list = field(default_factory=list)      # CounterDecl
    tables: list = field(default_factory=list)
    actions: list = field(default_factory=list)       # (id, name, [(param, bits)], body)
    apply: list = field(default_factory=list)          # lines, indented relative to apply {
    deparse: list = field(default_factory=list)
    groups: list = field(default_factory=list)        # (id, name, ports)
    copies: object = None                             # copies.CopyTable: the egress rewrite of multicast copies
    split_note: list = field(default_factory=list)
    partition: Partition | None = None
    text: str = ""
    apply_locs: list = field(default_factory=list)     # SourceLoc of each ``apply`` line (None: the pipeline's)
    line_locs: dict = field(default_factory=dict)      # 1-based line of ``text`` -> SourceLoc

    def loc_of_line(self, line: int, default=None):
        """The user's source location a line of the P4 text was generated for."""
        return self.line_locs.get(line) or default


# --------------------------------------------------------------------------------------------
# rules: (renderer, node, *operand expressions) -> expression of the node's value


def r_const(w, n):
    return lit(n.attr("value"), n.type)


def r_payload_len(w, n):
    return "meta.avail"


def r_timestamp(w, n):
    """The register ``nicc_clock`` (see :mod:`.copies`): a fixed time, or an offset + the switch's clock."""
    from .copies import CLOCK, CLOCK_ID
    if CLOCK not in w.registers:
        w.registers[CLOCK] = RegisterDecl(CLOCK, CLOCK_ID, 64, 2)
    base, mode = w.fresh("clk"), w.fresh("clk")
    w.locals += [("bit<64>", base), ("bit<64>", mode)]
    w.line(f"{CLOCK}.read({base}, 32w0);")
    w.line(f"{CLOCK}.read({mode}, 32w1);")
    return w.define(n.type, f"{mode} == 64w0 ? {base} : {base} + (bit<64>)sm.ingress_global_timestamp * 64w1000")


def r_field(w, n):
    end = n.attr("offset") + n.type.nbytes
    w.need_avail(n, end)
    chunks = w.layout.field_chunks[id(n)]
    lo = n.attr("offset")
    e = " ++ ".join(f"hdr.c{c.index}.v" for c in chunks)
    width = sum(c.bits for c in chunks)
    if len(chunks) > 1 or width != n.type.bits:
        e = f"({e})[{8 * (end - lo) - 1}:0]" if len(chunks) > 1 else f"{e}[{8 * (end - lo) - 1}:0]"
    if n.attr("endian") == "le" and n.type.bits > 8:
        tmp = w.define(Scalar("u", n.type.bits), e)
        e = byteswap(tmp, n.type.bits)
    if n.type.signed:
        e = f"(int<{n.type.bits}>)({e})"
    return w.define(n.type, e)


def r_array(w, n, count):
    seg = w.layout.arrays[id(n)]
    if seg.dynamic:
        ct: Scalar = n.args[0].type
        c32 = f"(bit<32>){count}" if ct.bits != 32 else count
        nvar = w.fresh("cnt")
        w.locals.append(("bit<32>", nvar))
        if ct.fits(seg.max) and seg.max < ct.hi:
            w.line(f"{nvar} = ({count} > {lit(seg.max, ct)}) ? 32w{seg.max} : {c32};")
        else:
            w.line(f"{nvar} = {c32};")
        w.open_check(f"(bit<32>)meta.avail < 32w{seg.offset} + {nvar} * 32w{seg.esz}", MALFORMED)
        cnt = nvar
    else:
        w.need_avail(n, seg.end)
        cnt = f"32w{seg.max}"
    st = n.type.struct
    elems = [{f: (f"(int<{ft.bits}>)hdr.a{seg.index}[{i}].{fname(f)}" if ft.signed else
                  f"hdr.a{seg.index}[{i}].{fname(f)}") for f, ft in st.fields} for i in range(seg.cap)]
    return ArrVal(seg, cnt, elems, st, stack=f"hdr.a{seg.index}")


_SYM = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.AND: "&", Op.OR: "|", Op.XOR: "^",
        Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


def ranges(w) -> Ranges:
    """The pipeline's value intervals (:mod:`nicc.backends.ranges`), computed once per renderer."""
    if "ranges" not in w.__dict__:
        w.ranges = Ranges(w.pipeline)
    return w.ranges


def r_arith(w, n, a, b):
    t: Scalar = n.type
    op = n.op
    if t == BOOL:
        return w.define(t, f"({a} {dict({Op.AND: '&&', Op.OR: '||', Op.XOR: '!='})[op]} {b})")
    bits = t.bits
    sat = n.attr("overflow") == "sat" and not ranges(w).fits(n)      # (a result that always fits: plain)
    if op in (Op.ADD, Op.SUB) and sat:
        return w.define(t, f"{a} |{_SYM[op]}| {b}")
    if op is Op.MUL and sat:
        wide = Scalar(t.kind, 2 * bits)
        prod = w.define(wide, f"({p4_type(wide)}){a} * ({p4_type(wide)}){b}")
        rest = f"({p4_type(t)}){prod}"
        if t.signed:
            rest = f"(({prod} < {lit(t.lo, wide)}) ? {lit(t.lo, t)} : {rest})"
        return w.define(t, f"({prod} > {lit(t.hi, wide)}) ? {lit(t.hi, t)} : {rest}")
    if op in (Op.ADD, Op.SUB, Op.MUL, Op.AND, Op.OR, Op.XOR):
        return w.define(t, f"{a} {_SYM[op]} {b}")
    if op in (Op.DIV, Op.MOD):
        zero = lit(0, t)
        if not t.signed:
            q, r = _udivmod(w, a, b, bits)
            return w.define(t, f"({b} == {zero}) ? {zero if op is Op.DIV else a} : {q if op is Op.DIV else r}")
        # on magnitudes, then C's truncating signs
        ut = f"bit<{bits}>"
        mags = w.divisions.get(("magnitudes", a, b)) if w.elem is None else None
        if mags is None:
            mags = (w.define(Scalar("u", bits), f"({a} < {zero}) ? ({ut})({zero} - {a}) : ({ut}){a}"),
                    w.define(Scalar("u", bits), f"({b} < {zero}) ? ({ut})({zero} - {b}) : ({ut}){b}"))
            if w.elem is None:
                w.divisions[("magnitudes", a, b)] = mags
        q, r = _udivmod(w, *mags, bits)
        if op is Op.DIV:
            neg = f"(({a} < {zero}) != ({b} < {zero}))"
            return w.define(t, f"({b} == {zero}) ? {zero} : ({neg} ? (int<{bits}>)({ulit(0, bits)} - {q}) : "
                               f"(int<{bits}>){q})")
        return w.define(t, f"({b} == {zero}) ? {a} : (({a} < {zero}) ? (int<{bits}>)({ulit(0, bits)} - {r}) : "
                           f"(int<{bits}>){r})")
    # shifts: amounts of the width or more give 0 (or the sign for a signed >>)
    bt: Scalar = n.args[1].type
    big = f"{b} >= {lit(bits, bt)}" if bt.fits(bits) else "false"
    amt = f"(bit<8>){b}" if bt.bits != 8 else b
    if op is Op.SHL:
        return w.define(t, f"({big}) ? {lit(0, t)} : ({a} << {amt})")
    fill = f"(({a} < {lit(0, t)}) ? {lit(-1, t)} : {lit(0, t)})" if t.signed else lit(0, t)
    return w.define(t, f"({big}) ? {fill} : ({a} >> {amt})")


def _udivmod(w, a: str, b: str, bits: int) -> tuple[str, str]:
    """Quotient and remainder of bit<bits> values by restoring long division, one step per bit:
    p4c-bm2-ss divides compile-time constants only. The remainder has one more bit, so that
    shifting it left cannot overflow. (Callers handle b == 0.) Outside map bodies, where every
    earlier line dominates every later one, a division of the same operands is done once
    (``x / y`` and ``x % y`` share it)."""
    key = (a, b, bits)
    if w.elem is None and key in w.divisions:
        return w.divisions[key]
    q, r, d = w.fresh("q"), w.fresh("r"), w.fresh("d")
    w.locals += [(f"bit<{bits}>", q), (f"bit<{bits + 1}>", r), (f"bit<{bits + 1}>", d)]
    w.line(f"{q} = {ulit(0, bits)};")
    w.line(f"{r} = {ulit(0, bits + 1)};")
    w.line(f"{d} = (bit<{bits + 1}>){b};")
    for i in reversed(range(bits)):
        w.line(f"{r} = ({r} << 1) | (bit<{bits + 1}>){a}[{i}:{i}];")
        w.line(f"if ({r} >= {d}) {{ {r} = {r} - {d}; {q} = {q} | {ulit(1 << i, bits)}; }}")
    if w.elem is None:
        w.divisions[key] = (q, f"(bit<{bits}>){r}")
    return q, f"(bit<{bits}>){r}"


def r_not(w, n, a):
    return w.define(n.type, f"!{a}" if n.type == BOOL else f"~{a}")


def r_compare(w, n, a, b):
    return w.define(BOOL, f"{a} {_SYM[n.op]} {b}")


def r_select(w, n, c, a, b):
    return w.define(n.type, f"{c} ? {a} : {b}")


def _bool_to(t: Scalar, e: str) -> str:
    b = f"(bit<{t.bits}>)(bit<1>)({e})" if t.bits > 1 else f"(bit<1>)({e})"
    return f"(int<{t.bits}>){b}" if t.signed else b


def _convert(src: Scalar, t: Scalar, e: str) -> str:
    """Wrapping conversion between integer types, through P4's legal casts."""
    if src == t:
        return e
    if src == BOOL:
        return _bool_to(t, e)
    if t == BOOL:
        return f"{e} != {lit(0, src)}"
    if src.signed == t.signed:
        return f"({p4_type(t)}){e}"
    if src.signed:                       # int<A> -> bit<B>: sign-extend or truncate, then reinterpret
        return f"(bit<{t.bits}>)(int<{t.bits}>){e}" if t.bits != src.bits else f"(bit<{t.bits}>){e}"
    return f"(int<{t.bits}>)(bit<{t.bits}>){e}" if t.bits != src.bits else f"(int<{t.bits}>){e}"


def r_cast(w, n, a):
    t: Scalar = n.type
    src: Scalar = n.args[0].type
    if t == BOOL or src == BOOL or n.attr("overflow") != "sat":
        return w.define(t, _convert(src, t, a))
    e = _convert(src, t, a)
    if src.signed and src.lo < t.lo:
        bound = t.lo if src.fits(t.lo) else src.lo
        e = f"({a} < {lit(bound, src)}) ? {lit(t.lo, t)} : ({e})"
    if src.hi > t.hi and src.fits(t.hi):
        e = f"({a} > {lit(t.hi, src)}) ? {lit(t.hi, t)} : ({e})"
    return w.define(t, e)


def _reg_index(x: str, t: Scalar) -> str:
    if t.signed:      # x - lo for a signed domain is the offset-binary pattern
        return f"(bit<32>)((bit<{t.bits}>){x} ^ {ulit(1 << (t.bits - 1), t.bits)})"
    return f"(bit<32>){x}" if t.bits != 32 else x


def _read_reg(w, reg: str, idx: str, t: Scalar) -> str:
    cell = w.fresh("r")
    w.locals.append((bits_type(t), cell))
    w.line(f"{reg}.read({cell}, {idx});")
    if t == BOOL:
        return w.define(t, f"{cell} == 1w1")
    return w.define(t, f"(int<{t.bits}>){cell}") if t.signed else cell


def r_lut(w, n, x):
    tab = w.pipeline.tables[n.attr("table")]
    reg = w.register(f"lut_{tab.name}", tab.out, len(tab.values), values=[int(v) for v in tab.values])
    return _read_reg(w, reg, _reg_index(x, tab.index), tab.out)


def r_bucketize(w, n, x):
    t: Scalar = n.args[0].type
    bounds = list(n.attr("boundaries"))
    key = f"bk_key_{t.bits}"
    if (f"bit<{t.bits}>", key) not in w.locals:
        w.locals.append((f"bit<{t.bits}>", key))
    if ("bit<8>", "bk_out") not in w.locals:
        w.locals.append(("bit<8>", "bk_out"))
    flip = (1 << (t.bits - 1)) if t.signed else 0
    w.line(f"{key} = (bit<{t.bits}>){x} ^ {ulit(flip, t.bits)};" if t.signed else f"{key} = {x};")
    entries = []
    for j in range(1, len(bounds) + 1):
        lo = bounds[j - 1]
        hi = bounds[j] - 1 if j < len(bounds) else t.hi
        if lo <= hi and (j == len(bounds) or bounds[j] != lo):
            entries.append(((lo + flip) % (1 << t.bits) if t.signed else lo,
                            (hi + flip) % (1 << t.bits) if t.signed else hi, j))
    suffix = f"_{w.elem}" if w.elem is not None else ""
    name = f"bucketize_{w.node_name(n)}{suffix}"
    decl = TableDecl(name, (ID_TABLE << 24) | (len(w.tables) + 1), key, t.bits, max(1, len(entries)), entries)
    w.tables.append(decl)
    w.line(f"{name}.apply();")
    return w.define(n.type, "bk_out")


def r_crc32(w, n, x):
    v = w.fresh("v")
    w.locals.append(("bit<32>", v))
    w.line(f"hash({v}, HashAlgorithm.crc32, 32w0, {{ {x} }}, 64w4294967296);")
    return v


def r_map(w, n, *arrays):
    arrays = tuple(w.as_elements(a, n) for a in arrays)
    if any(not isinstance(a, ArrVal) for a in arrays):
        raise w.refuse(n, "map over a value that is not a payload array")
    seg = arrays[0].seg
    for a in arrays[1:]:
        if a.seg is not seg and (a.seg.dynamic or seg.dynamic):
            raise w.refuse(n, "map over counted arrays with different counts")
    for b in n.body.walk():       # the reference reads a body's fields once, where the map is
        if b.op is Op.FIELD:
            w.need_avail(b, b.attr("offset") + b.type.nbytes)
    y = n.body.nodes[-1]
    names = y.attr("names")
    st = n.type.struct
    mid = w.node_name(n)
    elems = []
    for i in range(seg.cap):
        if seg.dynamic:
            w.line(f"if ({arrays[0].count} > 32w{i}) {{")
            w.depth += 1
        w.map_inputs.append((n, [a.elems[i] for a in arrays]))
        w.elem, w.reuse = i, (mid, 0)
        try:
            w.run_block(n.body)
        finally:
            w.map_inputs.pop()
            w.elem, w.reuse = None, None
        out = {}
        for name, v in zip(names, y.args):
            ft = st.field(name)
            var = f"{mid}_{fname(name)}_{i}"
            w.locals.append((p4_type(ft), var))
            w.line(f"{var} = {w.env[v]};")
            out[name] = var
        elems.append(out)
        if seg.dynamic:
            w.depth -= 1
            w.line("}")
    return ArrVal(seg, arrays[0].count, elems, st)


def r_elem(w, n):
    _, inputs = w.map_inputs[-1]
    return inputs[n.attr("input")][n.attr("field")]


def r_yield(w, n, *vals):
    return None


def _state_index(w, n, idx: str, size: int):
    t: Scalar = n.args[0].type
    conds = []
    if t.signed:
        conds.append(f"{idx} >= {lit(0, t)}")
    if not (t.hi < size):
        conds.append(f"{idx} < {lit(size, t)}" if t.fits(size) else "true")
    ix = f"(bit<{t.bits}>){idx}" if t.signed else idx
    return " && ".join(conds) or "true", (f"(bit<32>){ix}" if t.bits != 32 or t.signed else ix)


def _state_reg(w, n):
    s = w.pipeline.states[n.attr("state")]
    return s, w.register(f"state_{s.name}", s.elem, s.size, init=s.init)


def r_state_read(w, n, idx):
    s, reg = _state_reg(w, n)
    ok, ix = _state_index(w, n, idx, s.size)
    cell = w.fresh("r")
    w.locals.append((bits_type(s.elem), cell))
    w.line(f"{cell} = {ulit(0, s.elem.bits)};")
    w.line(f"if ({ok}) {{ {reg}.read({cell}, {ix}); }}")
    if s.elem == BOOL:
        return w.define(BOOL, f"{cell} == 1w1")
    return w.define(s.elem, f"(int<{s.elem.bits}>){cell}") if s.elem.signed else cell


def _cell(s, val: str) -> str:
    if s.elem == BOOL:
        return f"(bit<1>)({val})"
    return f"(bit<{s.elem.bits}>){val}" if s.elem.signed else val


def r_state_write(w, n, idx, val, cond):
    s, reg = _state_reg(w, n)
    ok, ix = _state_index(w, n, idx, s.size)
    w.line(f"if ({cond} && {ok}) {{ {reg}.write({ix}, {_cell(s, val)}); }}")


def r_state_update_if(w, n, idx, val):
    s, reg = _state_reg(w, n)
    ok, ix = _state_index(w, n, idx, s.size)
    hit = w.fresh("v")
    w.locals.append(("bool", hit))
    w.line(f"{hit} = false;")
    w.line(f"if ({ok}) {{")
    cmp = n.attr("cmp")
    if cmp == "always":
        w.line(f"    {reg}.write({ix}, {_cell(s, val)});")
        w.line(f"    {hit} = true;")
    else:
        cell = w.fresh("r")
        w.locals.append((bits_type(s.elem), cell))
        w.line(f"    {reg}.read({cell}, {ix});")
        old = cell if not s.elem.signed else f"(int<{s.elem.bits}>){cell}"
        if s.elem == BOOL:
            old = f"({cell} == 1w1)"
        sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[cmp]
        w.line(f"    if ({val} {sym} {old}) {{")
        w.line(f"        {reg}.write({ix}, {_cell(s, val)});")
        w.line(f"        {hit} = true;")
        w.line("    }")
    w.line("}")
    return hit


def r_reject_if(w, n, c):
    w.open_check(c, MALFORMED)


def r_verdict_if(w, n, c):
    w.open_check(c, CODES[n.attr("verdict")], n.attr("group"))


def r_emit(w, n, *vals):
    w.line("meta.emitted = 1w1;")
    w.emitted = list(zip(vals, n.args, n.attr("endian")))


def r_verdict(w, n):
    w.set_code(CODES[n.attr("verdict")], n.attr("group"))


P4_RULES = {
    Op.CONST: r_const, Op.PAYLOAD_LEN: r_payload_len, Op.TIMESTAMP: r_timestamp, Op.FIELD: r_field,
    Op.ARRAY: r_array, **{op: r_arith for op in ARITH}, Op.NOT: r_not, **{op: r_compare for op in COMPARE},
    Op.SELECT: r_select, Op.CAST: r_cast, Op.LUT: r_lut, Op.BUCKETIZE: r_bucketize, Op.CRC32: r_crc32,
    Op.MAP: r_map, Op.ELEM: r_elem, Op.YIELD: r_yield, Op.STATE_READ: r_state_read,
    Op.STATE_WRITE: r_state_write, Op.STATE_UPDATE_IF: r_state_update_if, Op.REJECT_IF: r_reject_if,
    Op.VERDICT_IF: r_verdict_if, Op.EMIT: r_emit, Op.VERDICT: r_verdict,
}
# host-only math (backends/host_only.py): refused at the user's line, naming the host part
def r_host_only(w, n, *args):
    raise refusal(n, w.target_name)


P4_RULES.update({op: r_host_only for op in HOST_ONLY})
# Op kinds the renderer refuses (with a NiccError at the user's line) instead of rendering.
REFUSED = set(HOST_ONLY)



"""The eBPF (XDP) dialect of the C renderer.

:class:`XdpRenderer` fills in the hooks of :class:`~nicc.backends.c.cstyle.CRenderer`
for an XDP program in libbpf style. The generated program

* selects frames with direct packet access, a bounds check before every access,
  and passes what the pipeline does not select (:mod:`nicc.compiler.framing`)
  at once, unchanged;
* copies the payload bytes the pipeline reads (never more than the UDP payload,
  never more than the largest offset it reads) into a per-CPU scratch map value
  with one ``bpf_xdp_load_bytes``; every field and array read then indexes that
  copy, after checking the payload length exactly as the interpreter does;
* runs ``map`` bodies and array emits as ``bpf_loop`` callbacks (verified once,
  whatever the element count), with map outputs and the new payload built in the
  scratch value;
* commits an emitted payload only when the packet leaves with it (a later
  ``reject_if`` leaves the frame unchanged): ``bpf_xdp_adjust_tail`` to the new
  size (growing or shrinking, which also drops Ethernet padding), one
  ``bpf_xdp_store_bytes``, then the framing rewrite of lengths and checksums;
* keeps per-flow state in BPF array maps; ``state_update_if`` is an atomic
  compare-and-exchange loop (``-mcpu=v3``), so it stays correct when several CPUs
  receive packets;
* counts every packet by outcome in a per-CPU counters map.

Outcomes (:mod:`nicc.compiler.contract`) map to XDP actions (one table, :data:`ACTIONS`)::

    pass        -> XDP_PASS      transmit   -> XDP_TX       drop -> XDP_DROP
    malformed   -> XDP_PASS (unchanged)     unselected -> XDP_PASS (unchanged)
    unhandled   -> XDP_PASS (unchanged): the new frame found no room to grow, or an atomic
                   state update lost to other CPUs :data:`CAS_TRIES` times in a row
    multicast   -> refused at compile time. Planned: XDP_REDIRECT through a
                   BPF_MAP_TYPE_DEVMAP holding the group's ports, with
                   bpf_redirect_map(..., BPF_F_BROADCAST) (one copy per port).

The program is frags-aware (``SEC("xdp.frags")``): frames larger than one page
(jumbo frames, records of several KB) arrive as a linear part plus fragments;
the headers are read from the linear part, the payload with ``bpf_xdp_load_bytes``.

Every C line the renderer emits for a node ends in a ``/* @K op file:line */``
marker; BTF line info carries it into the verifier log, which is how a verifier
rejection is traced back to the pipeline stage and the user's line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import jinja2

from ...compiler.contract import CODES
from ...compiler.errors import NiccError, SourceLoc
from ...compiler.ir import ARITH, Node, Op, Pipeline
from ...compiler.types import Array, BOOL, Scalar, Struct
from ..pending import refuse_pending
from ..c.cstyle import CRenderer, c_const

# Outcome codes (the contract's) are the index of each counter in the per-CPU counters map.
NCOUNTERS = 8
# The one table of outcomes to XDP actions.
ACTIONS = {"pass": "XDP_PASS", "transmit": "XDP_TX", "drop": "XDP_DROP", "multicast": "XDP_REDIRECT",
           "malformed": "XDP_PASS", "unselected": "XDP_PASS", "unhandled": "XDP_PASS", "host": "XDP_PASS"}
XDP_ACTION_VALUES = {"XDP_ABORTED": 0, "XDP_DROP": 1, "XDP_PASS": 2, "XDP_TX": 3, "XDP_REDIRECT": 4}
MULTICAST_PLAN = ("multicast is not supported by the xdp target yet; it will map to XDP_REDIRECT through a "
                  "BPF_MAP_TYPE_DEVMAP of the group's ports with bpf_redirect_map(..., BPF_F_BROADCAST)")
CAS_TRIES = 16          # compare-and-exchange attempts of state_update_if before the packet is unhandled
MAX_SCRATCH = 1 << 20   # working memory per CPU: one value of an array map with a slot per possible CPU

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
MARK_RE = re.compile(r"/\* @(\d+) ")


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _round8(n: int) -> int:
    return max(8, (n + 7) // 8 * 8)


def _is_var(expr: str) -> bool:
    return re.fullmatch(r"[A-Za-z_]\w*", expr) is not None


@dataclass
class ArrX:
    """An array value: read from the payload copy (``offset``) or held in scratch (``locals``)."""
    count: str                        # C expression: elements present (0..max)
    struct: Struct
    max: int
    offset: int | None = None
    bounded: bool = False             # elements may lie past the payload end: read byte by byte, 0 beyond
    locals: dict[str, str] = field(default_factory=dict)   # field -> scratch member name

    def field_offset(self, fname: str) -> int:
        off = 0
        for name, ft in self.struct.fields:
            if name == fname:
                return off
            off += ft.nbytes
        raise KeyError(fname)


@dataclass
class Stage:
    """What a ``/* @K */`` marker points at: a node's op and the user's line."""
    op: str
    loc: SourceLoc

    def as_dict(self) -> dict:
        return {"op": self.op, "file": self.loc.file, "line": self.loc.line,
                "col": self.loc.col, "end_col": self.loc.end_col}


@dataclass
class Callback:
    name: str
    ctx_fields: list[tuple[str, str]]   # (C type, name)
    lines: list[str]


class XdpRenderer(CRenderer):
    """Renders a pipeline as one XDP program (see the module docstring)."""

    u = "__u"
    t_suffix = ""
    prefix = "nicc"
    target_name = "the xdp target"
    cas_tries = CAS_TRIES
    # tables live in .rodata, which libbpf turns into a frozen global-data map; a table whose bytes
    # look like a C string would otherwise go to .rodata.str1.1, which libbpf cannot load
    table_attrs = ' __attribute__((section(".rodata")))'

    def __init__(self, pipeline: Pipeline, spill: bool = False):
        super().__init__(pipeline)
        self.spill = spill            # values live in the scratch map value instead of the (512-byte) stack
        self.stages: list[Stage] = [Stage("pipeline", pipeline.loc or SourceLoc(pipeline.name, 0))]
        self.node: Node | None = None
        self.rendered: set[Op] = set()  # op kinds lowered so far
        self.in_size = 0              # payload bytes the pipeline reads
        self.out_size = 0             # largest payload the emit can produce
        self.emitted = False
        self.uses_timestamp = False
        self.uses_bounded = False
        self.scratch: list[tuple[str, str, int]] = []   # (C type, member, length) map outputs
        self.callbacks: list[Callback] = []
        self.cb: Callback | None = None                 # the callback being rendered
        self._index = "i"

    # -- plumbing -----------------------------------------------------------------
    def mark(self, n: Node) -> int:
        st = Stage(n.op.value, n.loc)
        for k, s in enumerate(self.stages):
            if s == st:
                return k
        self.stages.append(st)
        return len(self.stages) - 1

    def emit_line(self, line: str) -> None:
        if self.node is not None:
            k = self.mark(self.node)
            line = f"{line} /* @{k} {self.node.op.value} {os.path.basename(self.node.loc.file)}:{self.node.loc.line} */"
        super().emit_line(line)

    def run_node(self, n: Node):
        saved, self.node = self.node, n
        try:
            v = super().run_node(n)
            self.rendered.add(n.op)
            return v
        finally:
            self.node = saved

    def var(self, ctype: str, expr: str | None = None, base: str = "v") -> str:
        """A new variable: a local, or a scratch member when spilling (the BPF stack holds 512 bytes)."""
        name = self.fresh(base)
        if self.spill:
            self.scratch.append((ctype, name, 0))
            if expr is not None:
                self.emit_line(f"s->{name} = {expr};")
            return f"s->{name}"
        self.emit_line(f"{ctype} {name}{'' if expr is None else ' = ' + expr};")
        return name

    def define(self, n: Node, expr: str) -> str:
        return self.var(self.ty(n.type), expr)

    def code(self, name: str) -> str:
        return f"NICC_{name.upper()}"

    def done(self, outcome: str) -> str:
        return f"return nicc_done(cnt, {self.code(outcome)});"

    def ret(self, verdict: str) -> str:
        if verdict in ("pass", "transmit") and self.emitted:
            return f"return nicc_commit(ctx, s, cnt, olen, {self.code(verdict)});"
        return self.done(verdict)

    def load_expr(self, t: Scalar, ptr: str, endian: str = "be") -> str:
        if t.nbytes == 1:
            return f"({self.ty(t)})({ptr})[0]"
        return f"({self.ty(t)})nicc_ld{t.nbytes * 8}{endian}({ptr})"

    def store_stmt(self, t: Scalar, ptr: str, val: str, endian: str) -> str:
        if t.nbytes == 1:
            return f"({ptr})[0] = (__u8){val};"
        return f"nicc_st{t.nbytes * 8}{endian}({ptr}, (__u{t.nbytes * 8}){val});"

    multicast_refusal = MULTICAST_PLAN

    # -- scalar ops eBPF cannot do as plain C ------------------------------------------
    def r_arith(self, n, a, b):
        t: Scalar = n.type
        if t != BOOL and t.signed and n.op in (Op.DIV, Op.MOD):
            # eBPF (before cpu v4) divides unsigned only: divide magnitudes, then fix the sign
            ct = self.ty(t)
            ua = f"({a} < 0 ? 0ULL - (__u64)(__s64){a} : (__u64){a})"
            ub = f"({b} < 0 ? 0ULL - (__u64)(__s64){b} : (__u64){b})"
            if n.op is Op.DIV:
                return self.define(n, f"({b} == 0 ? 0 : (({a} < 0) != ({b} < 0) ? ({ct})(0ULL - {ua} / {ub}) "
                                      f": ({ct})({ua} / {ub})))")
            return self.define(n, f"({b} == 0 ? {a} : ({a} < 0 ? ({ct})(0ULL - {ua} % {ub}) : ({ct})({ua} % {ub})))")
        if t != BOOL and t.bits == 64 and n.op is Op.MUL and n.attr("overflow") == "sat":
            return self.define(n, f"{self._mul64_sat(t)}({a}, {b})")
        return super().r_arith(n, a, b)

    def _mul64_sat(self, t: Scalar) -> str:
        """Saturating 64-bit multiply without a 128-bit product (no libcall in eBPF)."""
        name = f"{self.prefix}_mul_sat_{t}"
        if name not in self.helpers:
            if t.signed:
                body = ("    __u64 ua = a < 0 ? 0ULL - (__u64)a : (__u64)a;\n"
                        "    __u64 ub = b < 0 ? 0ULL - (__u64)b : (__u64)b;\n"
                        "    int neg = (a < 0) != (b < 0);\n"
                        "    __u64 q = ua ? (neg ? 0x8000000000000000ULL : 0x7fffffffffffffffULL) / ua : 0;\n"
                        "    asm volatile(\"\" : \"+r\"(q));   /* keep clang from making this a 128-bit multiply */\n"
                        "    if (ua != 0 && ub > q)\n"
                        "        return neg ? (-9223372036854775807LL - 1) : 9223372036854775807LL;\n"
                        "    return neg ? (__s64)(0ULL - ua * ub) : (__s64)(ua * ub);\n")
                ct = "__s64"
            else:
                body = ("    __u64 q = a ? 0xffffffffffffffffULL / a : 0;\n"
                        "    asm volatile(\"\" : \"+r\"(q));   /* keep clang from making this a 128-bit multiply */\n"
                        "    if (a != 0 && b > q)\n"
                        "        return 0xffffffffffffffffULL;\n"
                        "    return a * b;\n")
                ct = "__u64"
            self.helpers[name] = (f"static __attribute__((always_inline)) inline {ct} {name}({ct} a, {ct} b)\n{{\n"
                                  f"{body}}}\n")
        return name

    def r_lut(self, n, x):
        tab = self.pipeline.tables[n.attr("table")]
        size = len(tab.values)
        idx = f"(__u32){x}" if tab.index.lo == 0 else f"(__u32)({x} - ({c_const(tab.index.lo, tab.index)}))"
        if size & (size - 1) == 0 and size == 1 << tab.index.bits:
            # the mask changes nothing (the index type has exactly this many values); it shows the verifier the bound
            return self.define(n, f"{self.table_name(tab.name)}[{idx} & {size - 1}U]")
        return self.define(n, f"({idx} < {size}U ? {self.table_name(tab.name)}[{idx}] : 0)")

    # -- packet access ---------------------------------------------------------------
    def r_payload_len(self, n):
        return "plen"

    def r_timestamp(self, n):
        self.uses_timestamp = True
        return self.define(n, "nicc_now()")

    def r_field(self, n):
        t, off = n.type, n.attr("offset")
        end = off + t.nbytes
        self.in_size = max(self.in_size, end)
        self.emit_line(f"if (plen < {end}U) {self.done('malformed')}")
        return self.define(n, self.load_expr(t, f"s->in + {off}", n.attr("endian")))

    def r_array(self, n, count):
        t: Array = n.type
        ct: Scalar = n.args[0].type
        st, esz, off = t.struct, t.struct.nbytes, n.attr("offset")
        self.in_size = max(self.in_size, off + t.max * esz)
        if not (ct.signed or ct.bits == 64):
            k = self.var("__u32", f"(__u32){count} < {t.max}U ? (__u32){count} : {t.max}U", "k")
            self.emit_line(f"if ((__u64)plen < {off}ULL + (__u64){k} * {esz}ULL) {self.done('malformed')}")
            return ArrX(k, st, t.max, offset=off)
        # interp: cnt = int64(count); need = off + min(cnt, max) * esz (int64, wrapping); a negative
        # count keeps max + count elements (numpy's a[:k]), which may lie past the payload end (read as 0)
        self.uses_bounded = True
        ks = self.var("__s64", f"(__s64){count} < {t.max} ? (__s64){count} : {t.max}", "ks")
        self.emit_line(f"if ((__s64)plen < (__s64)({off}ULL + (__u64){ks} * {esz}ULL)) {self.done('malformed')}")
        k = self.var("__u32", f"{ks} >= 0 ? (__u32){ks} : ({t.max} + {ks} > 0 ? (__u32)({t.max} + {ks}) : 0)", "k")
        return ArrX(k, st, t.max, offset=off, bounded=True)

    def elem_load(self, arr: ArrX, fname: str, idx: str) -> str:
        if arr.locals:
            return f"s->{arr.locals[fname]}[{idx}]"
        ft = arr.struct.field(fname)
        if arr.bounded:
            pos = f"{arr.offset + arr.field_offset(fname)} + {idx} * {arr.struct.nbytes}"
            return f"({self.ty(ft)})nicc_ldb(s->in, plen, {pos}, {ft.nbytes})"
        return self.load_expr(ft, f"s->in + {arr.offset + arr.field_offset(fname)} + {idx} * {arr.struct.nbytes}")

    # -- loops: bpf_loop callbacks ------------------------------------------------------
    def open_callback(self, base: str) -> Callback:
        if self.cb is not None:
            raise self.refuse(self.node, "nested loops (a map or array emit inside a map body)")
        cb = Callback(self.fresh(f"{self.prefix}_{base}"), [], [])
        self.cb = cb
        self._saved_lines, self._saved_indent = self.lines, self.indent
        self.lines, self.indent = cb.lines, 1
        return cb

    def close_callback(self):
        cb = self.cb
        self.lines, self.indent = self._saved_lines, self._saved_indent
        self.cb = None
        self.callbacks.append(cb)
        return cb

    def call_loop(self, cb: Callback, count: str, inits: list[tuple[str, str]]):
        c = f"{cb.name}_c"
        self.emit_line(f"struct {cb.name}_ctx {c} = {{ .s = s, .plen = plen"
                       f"{''.join(f', .{f} = {v}' for f, v in inits)} }};")
        self.emit_line(f"bpf_loop({count}, {cb.name}, &{c}, 0);")

    def r_map(self, n, *arrays: ArrX):
        t: Array = n.type
        first = arrays[0]
        y = n.body.nodes[-1]
        # Nodes that do not depend on an element run once, before the loop, as the interpreter
        # evaluates them once per packet (a field read still checks bounds for an empty array).
        per_elem: set[int] = set()
        for b in n.body.nodes:
            if b.op is Op.ELEM or any(id(a) in per_elem for a in b.args):
                per_elem.add(id(b))
        saved = dict(self.env)
        try:
            for b in n.body.nodes:
                if id(b) not in per_elem and b.op is not Op.YIELD:
                    self.env[b] = self.run_node(b)
            outs = {}
            for name, a in zip(y.attr("names"), y.args):
                member = self.fresh("m") + f"_{name if name.isidentifier() else 'v'}"
                self.scratch.append((self.ty(a.type), member, t.max))
                outs[name] = member
            # values from outside the body travel in the callback's context
            inits, caps = [], {}
            for b in n.body.walk():
                if id(b) in per_elem:
                    for a in b.args:
                        if id(a) not in per_elem and id(a) not in caps and _is_var(str(self.env[a])):
                            caps[id(a)] = (a, self.env[a])
            cb = self.open_callback("map")
            self.emit_line(f"struct {cb.name}_ctx *c = arg;")
            self.emit_line("struct nicc_scratch *s = c->s;")
            self.emit_line("__u16 plen = c->plen;")
            self.emit_line("")
            self.emit_line(f"if (i >= {t.max}U)")
            self.emit_line("    return 1;")
            for j, (a, val) in enumerate(caps.values()):
                f = f"cap{j}"
                cb.ctx_fields.append((self.ty(a.type), f))
                inits.append((f, val))
                self.env[a] = f"c->{f}"
            self._index = "i"
            self.map_inputs.append((n, list(arrays)))
            for b in n.body.nodes:
                if id(b) in per_elem and b.op is not Op.YIELD:
                    self.env[b] = self.run_node(b)
            for name, a in zip(y.attr("names"), y.args):
                self.emit_line(f"s->{outs[name]}[i] = {self.env[a]};")
            self.rendered.add(Op.YIELD)
            self.emit_line("return 0;")
            self.map_inputs.pop()
            self.close_callback()
        finally:
            self.env = saved
        self.call_loop(cb, first.count, inits)
        return ArrX(first.count, t.struct, t.max, locals=outs)

    def r_elem(self, n):
        _, arrays = self.map_inputs[-1]
        return self.define(n, self.elem_load(arrays[n.attr("input")], n.attr("field"), self._index))

    def r_yield(self, n, *vals):
        return None

    # -- state ----------------------------------------------------------------------
    def state_map(self, n) -> tuple[str, int, str]:
        s = self.pipeline.states[n.attr("state")]
        return f"nicc_state_{s.name}", s.size, slot_type(s.elem)

    def r_state_read(self, n, idx):
        m, size, slot = self.state_map(n)
        v = self.var(self.ty(n.type), "0")
        key, p = self.fresh("key"), self.fresh("p")
        self.emit_line(f"if ((__u64){idx} < {size}U) {{")
        self.emit_line(f"    __u32 {key} = (__u32){idx};")
        self.emit_line(f"    {slot} *{p} = bpf_map_lookup_elem(&{m}, &{key});")
        self.emit_line(f"    if ({p})")
        self.emit_line(f"        {v} = ({self.ty(n.type)})*{p};")
        self.emit_line("}")
        return v

    def r_state_write(self, n, idx, val, cond):
        m, size, slot = self.state_map(n)
        key, p = self.fresh("key"), self.fresh("p")
        self.emit_line(f"if ({cond} && (__u64){idx} < {size}U) {{")
        self.emit_line(f"    __u32 {key} = (__u32){idx};")
        self.emit_line(f"    {slot} *{p} = bpf_map_lookup_elem(&{m}, &{key});")
        self.emit_line(f"    if ({p})")
        self.emit_line(f"        *{p} = ({slot}){val};")
        self.emit_line("}")
        return None

    def r_state_update_if(self, n, idx, val):
        m, size, slot = self.state_map(n)
        et = self.ty(self.pipeline.states[n.attr("state")].elem)
        cmp = n.attr("cmp")
        hit = self.var("__u8", "0")
        key, p = self.fresh("key"), self.fresh("p")
        self.emit_line(f"if ((__u64){idx} < {size}U) {{")
        self.emit_line(f"    __u32 {key} = (__u32){idx};")
        self.emit_line(f"    {slot} *{p} = bpf_map_lookup_elem(&{m}, &{key});")
        self.emit_line(f"    if ({p}) {{")
        if cmp == "always":
            self.emit_line(f"        *{p} = ({slot}){val};")
            self.emit_line(f"        {hit} = 1;")
        else:
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[cmp]
            raw, t, busy = self.fresh("raw"), self.fresh("t"), self.fresh("busy")
            # compare and store as one atomic step: retry while another CPU changed the slot meanwhile;
            # a packet that loses every time passes unchanged, unhandled (never dropped as stale)
            self.emit_line(f"        int {busy} = 1;")
            self.emit_line(f"        for (int {t} = 0; {t} < {self.cas_tries}; {t}++) {{")
            self.emit_line(f"            {slot} {raw} = *(volatile {slot} *){p};")
            self.emit_line(f"            if (!({val} {sym} ({et}){raw})) {{")
            self.emit_line(f"                {busy} = 0;")
            self.emit_line("                break;")
            self.emit_line("            }")
            self.emit_line(f"            if (__sync_val_compare_and_swap({p}, {raw}, ({slot}){val}) == {raw}) {{")
            self.emit_line(f"                {hit} = 1;")
            self.emit_line(f"                {busy} = 0;")
            self.emit_line("                break;")
            self.emit_line("            }")
            self.emit_line("        }")
            self.emit_line(f"        if ({busy})")
            self.emit_line(f"            {self.done('unhandled')}")
        self.emit_line("    }")
        self.emit_line("}")
        return hit

    # -- effects and verdicts ---------------------------------------------------------
    def r_reject_if(self, n, c):
        self.emit_line(f"if ({c}) {self.done('malformed')}")

    def r_emit(self, n, *vals):
        if self.emitted:
            raise self.refuse(n, "a second emit")
        size = self.emit_size(n)
        out = _round8(size)
        if out + _round8(self.in_size) > MAX_SCRATCH:
            raise self.refuse(n, f"the emitted payload can reach {size} bytes, more than the per-CPU working "
                                 f"memory of the xdp target holds ({MAX_SCRATCH} bytes)")
        self.out_size = size
        static = 0           # offset known at compile time until the first array
        dynamic = False
        for v, a, e in zip(vals, n.args, n.attr("endian")):
            t = a.type
            if isinstance(t, Array):
                base = "olen" if dynamic else f"{static}U"
                cb = self.open_callback("emit")
                esz = t.struct.nbytes
                cb.ctx_fields.append(("__u32", "base"))
                self.emit_line(f"struct {cb.name}_ctx *c = arg;")
                self.emit_line("struct nicc_scratch *s = c->s;")
                self.emit_line("__u16 plen = c->plen;")
                self.emit_line("__u64 o;")
                self.emit_line("")
                self.emit_line(f"if (i >= {t.max}U)")
                self.emit_line("    return 1;")
                self.emit_line(f"o = (__u64)c->base + (__u64)i * {esz}U;")
                self.emit_line(f"if (o > {out - esz}U)")
                self.emit_line("    return 1;")
                foff = 0
                for fname, ft in t.struct.fields:
                    self.emit_line(self.store_stmt(ft, f"s->out + o + {foff}", self.elem_load(v, fname, "i"), e))
                    foff += ft.nbytes
                self.emit_line("return 0;")
                self.close_callback()
                self.call_loop(cb, v.count, [("base", base)])
                self.emit_line(f"olen = {base} + {v.count} * {esz}U;")
                dynamic = True
            elif dynamic:
                self.emit_line(f"if (olen > {out - t.nbytes}U) {self.done('unhandled')}")
                self.emit_line(self.store_stmt(t, "s->out + olen", v, e))
                self.emit_line(f"olen += {t.nbytes};")
            else:
                self.emit_line(self.store_stmt(t, f"s->out + {static}", v, e))
                static += t.nbytes
        if not dynamic:
            self.emit_line(f"olen = {static};")
        self.emitted = True

    # -- the whole program -------------------------------------------------------------
    def render_body(self) -> list[str]:
        self.run()
        return self.lines


def scratch_size(r: XdpRenderer) -> int:
    """Bytes of the nicc_scratch value: the payload copy, the new payload and the map outputs."""
    return _round8(r.in_size) + _round8(r.out_size) + sum(_csize(t) * max(n, 1) for t, _, n in r.scratch)


def _csize(ctype: str) -> int:
    m = re.search(r"(\d+)$", ctype)
    return int(m.group(1)) // 8 if m else 1


def slot_type(t: Scalar) -> str:
    """State slots are 32 or 64 bits wide: eBPF atomics work on those widths only."""
    return "__u64" if t.bits == 64 else "__u32"


def render(pipeline: Pipeline, renderer_cls: type[XdpRenderer] = XdpRenderer, spill: bool = False) -> dict:
    """Everything the templates need, computed here (templates hold no logic)."""
    refuse_pending(pipeline, renderer_cls.target_name)
    r = renderer_cls(pipeline, spill=spill)
    body = r.render_body()
    p = pipeline
    scratch = scratch_size(r)
    if scratch > MAX_SCRATCH:
        raise NiccError(f"the xdp target cannot compile pipeline {p.name}: it needs {scratch} bytes of working "
                        f"memory per CPU (payload copy, new payload, map outputs), more than the "
                        f"{MAX_SCRATCH} bytes it has", p.loc)
    states = [dict(name=s.name, slot=slot_type(s.elem), size=s.size, init=int(s.init), elem=str(s.elem))
              for s in p.states.values()]
    src = r.stages[0].loc
    callbacks = [dict(name=cb.name, fields=cb.ctx_fields, lines=cb.lines) for cb in r.callbacks]
    return dict(
        name=p.name, port=p.port, source=f"{os.path.basename(src.file)}:{src.line}",
        codes=CODES, ncounters=NCOUNTERS, actions=ACTIONS, body=body,
        helpers=list(r.helpers.values()), luts=r.lut_definitions(), states=states,
        in_size=_round8(r.in_size), reads=r.in_size, out_size=_round8(r.out_size), emits=r.emitted,
        scratch=r.scratch, callbacks=callbacks, uses_timestamp=r.uses_timestamp, uses_bounded=r.uses_bounded, cas_tries=CAS_TRIES,
        stages=r.stages, rendered=r.rendered, scratch_bytes=scratch,
    )


def generate(pipeline: Pipeline, renderer_cls: type[XdpRenderer] = XdpRenderer,
             spill: bool = False) -> tuple[str, dict]:
    """The eBPF C source of ``pipeline`` and the render context (stages, sizes...).

    ``spill`` keeps every value in the per-CPU scratch map value instead of locals: the
    runtime renders again with it when clang reports the 512-byte BPF stack exceeded."""
    ctx = render(pipeline, renderer_cls, spill)
    return _env().get_template("prog.bpf.c.j2").render(**ctx), ctx


def floor_source() -> str:
    """A pass-through XDP program: the floor every pipeline is measured against."""
    return _env().get_template("floor.bpf.c.j2").render()


# CRenderer binds r_div, r_mod... to its own r_arith: bind them to the eBPF one.
for _op in ARITH:
    setattr(XdpRenderer, f"r_{_op.value}", XdpRenderer.r_arith)

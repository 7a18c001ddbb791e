"""The eBPF (XDP) dialect of the C core.

:class:`XdpRenderer` fills in the hooks of :class:`~nicc.backends.c.core.CCore` for an XDP program
in libbpf style. The generated program

* selects frames with direct packet access, a bounds check before every access, and passes what
  the pipeline does not select (:mod:`nicc.compiler.framing`) at once, unchanged;
* reads the payload where it is: ``io`` points at the UDP payload in the packet when the frame is
  one linear buffer (every frame but jumbo ones), and every access is preceded by a bound the
  verifier can see (``io + K > io_end``: never taken once the pipeline's own length checks
  passed). A frame with fragments (``xdp.frags``) gets the payload bytes the pipeline reads
  copied once into a per-CPU scratch buffer (``bpf_xdp_load_bytes``) and the same code runs on
  the copy;
* runs loops by the lowering's schedule: fully unrolled (``#pragma unroll``) for fixed counts
  within the verifier's budget, bounded loops the verifier walks, or ``bpf_loop`` callbacks
  (verified once, whatever the count; those programs always work on the scratch copy);
* writes an emitted payload in place over the old one when that is safe
  (:mod:`nicc.backends.c.emitplan`: front to back as it shrinks; a payload that grows first gets
  its room with ``bpf_xdp_adjust_tail``, then is written back to front), else builds it in the
  scratch buffer and stores it only when the packet leaves with it (``bpf_xdp_store_bytes``);
  lengths and the IPv4 checksum are rewritten last;
* keeps per-flow state in BPF array maps; ``state_update_if`` is an atomic compare-and-exchange
  loop (``-mcpu=v3``), so it stays correct when several CPUs receive packets;
* counts every packet by outcome in a per-CPU counters map.

Outcomes (:mod:`nicc.compiler.contract`) map to XDP actions (one table, :data:`ACTIONS`)::

    pass        -> XDP_PASS      transmit   -> XDP_TX       drop -> XDP_DROP
    malformed   -> XDP_PASS (unchanged)     unselected -> XDP_PASS (unchanged)
    unhandled   -> XDP_PASS (unchanged): the new frame found no room to grow, or an atomic
                   state update lost to other CPUs :data:`CAS_TRIES` times in a row
    multicast   -> refused at compile time: the kernel path of multicast is the TC dialect
                   (nicc.backends.tc), whose bpf_clone_redirect sends each member its own
                   rewritten copy; a devmap broadcast gives every copy the same headers.

The C reads like hand-written C: one comment per user source line. The first C line of each run
of lines from one IR node ends in a ``/* @K */`` marker; BTF line info carries it into the
verifier log, which is how a verifier rejection is traced back to the node (``stages[K]``) and the
user's line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import jinja2

from ...compiler.contract import CODES
from ...compiler.errors import NiccError, SourceLoc
from ...compiler.ir import ARITH, Node, Op, Pipeline
from ...compiler.types import BOOL, Scalar
from ..c.core import CCore
from ..host_only import refuse_host_only
from ..c.cstyle import c_const
from ..c.streams import record_members
from .state import CAS_TRIES, BpfMapState, slot_type  # noqa: F401  (CAS_TRIES: re-exported)
from .streams import BpfStreams
from ..lowering import choose_lowerings, explain, trip_count, variable_loops

# Outcome codes (the contract's) are the index of each counter in the per-CPU counters map.
NCOUNTERS = 8
# The one table of outcomes to XDP actions.
ACTIONS = {"pass": "XDP_PASS", "transmit": "XDP_TX", "drop": "XDP_DROP", "multicast": "XDP_REDIRECT",
           "malformed": "XDP_PASS", "unselected": "XDP_PASS", "unhandled": "XDP_PASS", "host": "XDP_PASS"}
XDP_ACTION_VALUES = {"XDP_ABORTED": 0, "XDP_DROP": 1, "XDP_PASS": 2, "XDP_TX": 3, "XDP_REDIRECT": 4}
MULTICAST_PLAN = ("multicast is not supported by the xdp target: an XDP devmap broadcast gives every copy the "
                  "same headers; compile for the tc target, whose bpf_clone_redirect sends each member its own "
                  "rewritten copy (--target tc)")
MAX_SCRATCH = 1 << 20   # working memory per CPU: one value of an array map with a slot per possible CPU
LOOP_MAX_ELEMS = 1024   # a bounded loop the verifier walks: each iteration adds pending branches

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
MARK_RE = re.compile(r"/\* @(\d+) \*/")


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _round8(n: int) -> int:
    return max(8, (n + 7) // 8 * 8)


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
    """A bpf_loop callback: its context fields (C type, name) and its lines."""
    name: str
    ctx_fields: list[tuple[str, str]]
    lines: list[str]


class XdpRenderer(BpfStreams, BpfMapState, CCore):
    """Renders a pipeline as one XDP program (see the module docstring)."""

    target = "xdp"
    u = "__u"
    t_suffix = ""
    prefix = "nicc"
    h = "nicc"
    target_name = "the xdp target"
    needs_elem_ptr = True
    const_u8p = "const __u8 *"
    u8p = "__u8 *"
    inline_attr = "NICC_INLINE"
    # tables live in .rodata, which libbpf turns into a frozen global-data map; a table whose bytes
    # look like a C string would otherwise go to .rodata.str1.1, which libbpf cannot load
    table_attrs = ' __attribute__((section(".rodata")))'
    multicast_refusal = MULTICAST_PLAN

    def __init__(self, pipeline: Pipeline, spill: bool = False):
        super().__init__(pipeline)
        self.spill = spill            # values live in the scratch map value instead of the (512-byte) stack
        self.stages: list[Stage] = [Stage("pipeline", pipeline.loc or SourceLoc(pipeline.name, 0))]
        self.marked: Node | None = None
        self.scratch: list[tuple[str, str, int]] = []    # (C type, member, length) arrays and spilled values
        self.callbacks: list[Callback] = []
        self.cb: Callback | None = None
        self.guarded = 0              # io[0, guarded) is bounded for the verifier here
        self.uses_out = False         # the payload is built in s->out
        self.uses_scratch_top = spill
        self.variable_loops = variable_loops(pipeline)
        self.init_bpf_streams()
        # programs with bpf_loop callbacks or payload reads past the end work on the copy only
        self.copy_always = any(n.attr("schedule") == "bpf_loop" for n in pipeline.body.walk()) or any(
            n.op is Op.ARRAY and (n.args[0].type.signed or n.args[0].type.bits == 64) for n in pipeline.body.walk())
        e = pipeline.emit()
        for a in (e.args if e is not None else ()):
            copied = a.op is Op.ARRAY and a.args[0].op is not Op.CONST or \
                a.op is Op.MAP and a.attr("fuse") != "emit" and trip_count(a) is None
            if copied and (a.type.max > LOOP_MAX_ELEMS or self.variable_loops > 1):
                self.copy_always = True        # the copy into the emit runs as a bpf_loop callback

    # -- plumbing -----------------------------------------------------------------------------------
    def mark(self, n: Node) -> int:
        st = Stage(n.op.value, n.loc)
        for k, s in enumerate(self.stages):
            if s == st:
                return k
        self.stages.append(st)
        return len(self.stages) - 1

    def emit_line(self, line: str) -> None:
        """Lines of one node: the first carries the node's ``/* @K */`` marker (verifier log -> node)."""
        n = self.node
        if n is not None and line and line[0] not in "#}" and n is not self.marked:
            self.marked = n
            line = f"{line} /* @{self.mark(n)} */"
        super().emit_line(line)

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
        if id(n) in self.inline or not self.spill:
            return super().define(n, expr)
        return self.var(self.ty(n.type), expr, self.value_name_base(n))

    def value_name_base(self, n: Node) -> str:
        name = n.attr("name") if n.op is Op.FIELD else (n.attr("field") if n.op is Op.ELEM else None)
        return name if name and name.isidentifier() and name != "_" else "v"

    def ret_code(self, outcome: str) -> str:
        if self.cb is not None:
            return "return 1;"                # (inside a bpf_loop callback: stop the loop)
        return self.leave(f"nicc_done(cnt, NICC_{outcome.upper()})")

    def commit(self, code: str) -> str:
        if self.in_place:
            return self.leave(f"nicc_finish(ctx, cnt, io_copy, {self.out_len}, {code})")
        return self.leave(f"nicc_commit(ctx, cnt, s->out, {self.out_len}, {code})")

    # -- verifier bounds ----------------------------------------------------------------------------
    def guard(self, ptr: str, size) -> None:
        if self.cb is not None:
            return                            # callbacks index the copy by a bounded i: no guard needed
        self.emit_line(f"if ({ptr} + {size} > io_end)")
        self.emit_line(f"    {self.ret_code('unhandled')}")

    def io_ptr(self, off: str, size: int, name: str, const: bool) -> str:
        """On the copy (``s->io``, a map value) the bound is on the offset: the verifier learns nothing from
        comparing two map-value pointers, and clang may compute the pointer from an induction variable
        other than the checked index (a 4x-growing map's stores were rejected so on TC)."""
        if not self.copy_always or self.cb is not None:
            return super().io_ptr(off, size, name, const)
        a = self.fresh("at")
        self.emit_line(f"__u32 {a} = {off};")
        self.emit_line("")
        self.emit_line(f"barrier_var({a});")
        self.emit_line(f"if ({a} > sizeof(s->io) - {size})")
        self.emit_line(f"    {self.ret_code('unhandled')}")
        return f"io + {a}"

    def guard_extent(self, end: int) -> None:
        """A bound for io[0, end); at the top level of the program it covers every later access up to
        the payload length proven so far, so one bound serves all fixed-offset reads and writes."""
        top = self.cb is None and self.indent == 1
        if top and end <= self.guarded:
            return
        if top:
            end = max(end, min(self.proven, self.io_bound()))
        self.guard("io", end)
        if top:
            self.guarded = max(self.guarded, end)

    def io_bound(self) -> int:
        """The bytes of io every path has: the reads, and the payload written in place."""
        return self.pipeline_reads

    # -- storage --------------------------------------------------------------------------------------
    def local_array(self, ctype: str, name: str, n: int) -> str:
        """Map results live in the scratch value: the 512-byte stack is the unrolled loops' (spills)."""
        self.scratch.append((ctype, name, n))
        self.uses_scratch_top = True
        return f"s->{name}"

    def out_buffer(self) -> str:
        self.uses_out = True
        self.uses_scratch_top = True
        return "s->out"

    def out_dest(self, buf: str, off: str, size: int) -> str:
        """A variable offset into s->out gets a bound the verifier sees (never taken: the emit size bounds it)."""
        if off.isdigit():
            return f"{buf} + {off}" if off != "0" else buf
        o = self.fresh("at")
        self.emit_line(f"__u32 {o} = {off};")
        self.emit_line("")
        self.emit_line(f"if ({o} > {_round8(self.max_out) - size}U)")
        self.emit_line(f"    {self.ret_code('unhandled')}")
        return f"{buf} + {o}"

    def unroll_pragma(self, trip: int) -> str:
        return "#pragma unroll"

    def reserve(self) -> None:
        """Room for the new payload before it is written in place: a linear frame that grows gets it
        now (pointers into the packet are stale afterwards); the copy has room already."""
        if self.copy_always:
            return
        if self.fits_in_place():
            return                            # never grows: the proven payload length holds it
        self.emit_line("if (!io_copy) {")
        self.emit_line(f"    long grow = (long)(NICC_ETH_IP_UDP + {self.out_len}) - (long)bpf_xdp_get_buff_len(ctx);")
        self.emit_line("")
        self.emit_line("    if (grow > 0) {")
        self.emit_line("        if (bpf_xdp_adjust_tail(ctx, (int)grow))")
        self.emit_line(f"            {self.ret_code('unhandled')}")
        self.emit_line("        io = (__u8 *)(long)ctx->data + NICC_ETH_IP_UDP;")
        self.emit_line("        io_end = (__u8 *)(long)ctx->data_end;")
        self.emit_line("    }")
        self.emit_line("}")
        self.guarded = 0

    # -- loops --------------------------------------------------------------------------------------
    def loop(self, count: str, schedule: str, trip, body, backward: bool = False, captures=(), cvars=()) -> None:
        if schedule == "bpf_loop":
            return self.bpf_loop(count, body, backward, captures, cvars)
        if not backward or (schedule == "unroll" and trip is not None):
            return super().loop(count, schedule, trip, body, backward)
        # back to front, in a form the verifier bounds: a counter going up, the index derived and capped
        k, i = self.fresh("k"), self.fresh("i")
        self.emit_line(f"for (__u32 {k} = 0; {k} < {count}; {k}++) {{")
        self.indent += 1
        self.emit_line(f"__u32 {i} = {count} - 1 - {k};")
        self.emit_line("")
        self.emit_line(f"barrier_var({i});                     /* keep the bound below for the verifier */")
        self.emit_line(f"if ({i} >= {self.loop_max}U)")
        self.emit_line(f"    {self.ret_code('unhandled')}")
        body(i)
        self.indent -= 1
        self.emit_line("}")

    def loop_schedule(self, arr) -> str:
        """Copies of arrays into the emit: as the lowering schedules maps (one walked variable loop at most)."""
        if arr.trip is None and (arr.max > LOOP_MAX_ELEMS or self.variable_loops > 1):
            return "bpf_loop"
        return super().loop_schedule(arr)

    def bpf_loop(self, count: str, body, backward: bool, captures, cvars) -> None:
        """A bpf_loop callback: the body runs with the scratch copy as ``io``; the values it uses
        from outside travel in its context."""
        if self.cb is not None:
            raise self.refuse(self.node, "nested loops (a map or array emit inside a map body)")
        cb = Callback(self.fresh(f"{self.prefix}_loop"), [], [])
        saved_lines, saved_indent, saved_loc, saved_env = self.lines, self.indent, self.last_loc, dict(self.env)
        self.cb, self.lines, self.indent, self.last_loc, self.marked = cb, cb.lines, 1, None, None
        inits = []
        try:
            self.emit_line(f"struct {cb.name}_ctx *c = arg;")
            self.emit_line("struct nicc_scratch *s = c->s;")
            self.emit_line("__u8 *io = s->io;")
            self.emit_line("__u8 *io_end = s->io + sizeof(s->io);")
            self.emit_line("__u16 plen = c->plen;")
            self.emit_line("__u32 n = c->n;")
            self.emit_line("")
            self.emit_line("(void)io_end;")
            self.emit_line("(void)plen;")
            self.emit_line(f"if (i >= n || i >= {self.loop_max}U)          /* (a bound the verifier sees) */")
            self.emit_line("    return 1;")
            if backward:
                self.emit_line("i = n - 1 - i;")
            self.capture(cb, list(captures), saved_env, inits)
            for v in cvars:                   # plain C variables the body names (a running offset)
                f = f"cap{len(cb.ctx_fields)}"
                cb.ctx_fields.append(("__u32", f))
                inits.append((f, v))
                self.emit_line(f"__u32 {v} = c->{f};")
            body("i")
            self.emit_line("return 0;")
        finally:
            self.lines, self.indent, self.last_loc, self.cb = saved_lines, saved_indent, saved_loc, None
            self.env, self.marked = saved_env, None
        self.callbacks.append(cb)
        c = f"{cb.name}_c"
        self.emit_line(f"struct {cb.name}_ctx {c} = {{ .s = s, .plen = plen, .n = {count}"
                       f"{''.join(f', .{f} = {v}' for f, v in inits)} }};")
        self.emit_line(f"bpf_loop({count}, {cb.name}, &{c}, 0);")

    # -- scalar ops eBPF cannot do as plain C ---------------------------------------------------------
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
            self.helpers[name] = f"NICC_INLINE {ct} {name}({ct} a, {ct} b)\n{{\n{body}}}\n"
        return name

    def r_lut(self, n, x):
        tab = self.pipeline.tables[n.attr("table")]
        size = len(tab.values)
        idx = f"(__u32){x}" if tab.index.lo == 0 else f"(__u32)({x} - ({c_const(tab.index.lo, tab.index)}))"
        if size & (size - 1) == 0 and size == 1 << tab.index.bits:
            if tab.index.lo == 0 and not tab.index.signed:
                return self.define(n, f"{self.table_name(tab.name)}[{x}]")
            # the mask changes nothing (the index type has exactly this many values); it shows the verifier the bound
            return self.define(n, f"{self.table_name(tab.name)}[{idx} & {size - 1}U]")
        return self.define(n, f"({idx} < {size}U ? {self.table_name(tab.name)}[{idx}] : 0)")

    def bitlen(self, x: str, t: Scalar) -> str:
        """eBPF has no clz: the bit length by a branch-free binary search on the bits."""
        wide = t.bits > 32
        name = f"nicc_bitlen{64 if wide else 32}"
        if name not in self.helpers:
            # (c - v) >> 63 is 1 exactly when v > c, for v < 2^63: arithmetic, no branch to mispredict;
            # barrier_var hides from clang that v is small, which would let it turn the steps into compares
            top = ("    s = (((v >> 32) + 0xffffffffULL) >> 32) << 5;   /* v >= 2^32 */\n    v >>= s;\n    r = s;\n"
                   if wide else "    r = 0;\n")
            self.helpers[name] = (
                f"/* the bit length of v (0 for 0). eBPF has no clz instruction: a binary search on the bits,\n"
                f" * halving the range each step, without branches ((c - v) >> 63 is v > c for v < 2^63) */\n"
                f"NICC_INLINE __u32 {name}(__u64 v)\n{{\n    __u64 r, s;\n\n    barrier_var(v);\n{top}"
                "    s = ((0xffffULL - v) >> 63) << 4;\n    v >>= s;\n    r |= s;\n"
                "    s = ((0xffULL - v) >> 63) << 3;\n    v >>= s;\n    r |= s;\n"
                "    s = ((0xfULL - v) >> 63) << 2;\n    v >>= s;\n    r |= s;\n"
                "    s = ((0x3ULL - v) >> 63) << 1;\n    v >>= s;\n    r |= s;\n"
                "    return (__u32)(r + (v >> 1) + ((v | (v >> 1)) & 1));\n}\n")
        return f"{name}({x})"

    # -- packet access ---------------------------------------------------------------------------------
    def r_timestamp(self, n):
        self.uses_timestamp = True
        return self.define(n, "nicc_now()")

    # -- the emit -------------------------------------------------------------------------------------
    def r_emit(self, n, *vals):
        super().r_emit(n, *vals)
        if self.max_out + 42 > 0xFFFF or _round8(self.max_out) > MAX_SCRATCH:
            raise self.refuse(n, f"the emitted payload can reach {self.max_out} bytes, more than the per-CPU "
                                 f"working memory of the xdp target holds ({MAX_SCRATCH} bytes)")


def _csize(ctype: str) -> int:
    m = re.search(r"(\d+)$", ctype)
    return int(m.group(1)) // 8 if m else 1


def render(pipeline: Pipeline, renderer_cls: type[XdpRenderer] = XdpRenderer, spill: bool = False) -> dict:
    """Everything the templates need, computed here (templates hold no logic)."""
    refuse_host_only(pipeline, renderer_cls.target_name)
    r = renderer_cls(pipeline, spill=spill)
    body = r.render_body()
    p = pipeline
    # the copy of the payload (frames with fragments) doubles as the in-place buffer: room for both
    io_size = _round8(max(r.reads, r.max_out if r.in_place else 0))
    out_size = _round8(r.max_out) if r.uses_out else 0
    scratch = [("__u8", "io", io_size)] + ([("__u8", "out", out_size)] if out_size else []) + r.scratch
    scratch_bytes = sum(_csize(t) * max(n, 1) for t, _, n in scratch)
    if scratch_bytes > MAX_SCRATCH:
        raise NiccError(f"the xdp target cannot compile pipeline {p.name}: it needs {scratch_bytes} bytes of "
                        f"working memory per CPU (payload copy, new payload, map outputs), more than the "
                        f"{MAX_SCRATCH} bytes it has", p.loc)
    states = [dict(name=s.name, slot=slot_type(s.elem), size=s.size, init=int(s.init), elem=str(s.elem))
              for s in p.states.values()]
    src = r.stages[0].loc
    callbacks = [dict(name=cb.name, fields=cb.ctx_fields, lines=cb.lines) for cb in r.callbacks]
    streams = [dict(name=s.name, slots=s.slots, members=record_members(s, r.ty)) for s in p.streams.values()]
    roms = [dict(name=t.name, ctype=r.ty(t.out), size=len(t.values), bytes=len(t.values) * t.out.nbytes,
                 out=str(t.out)) for t in r.rom_tables.values()]
    return dict(
        name=p.name, port=p.port, source=f"{os.path.basename(src.file)}:{src.line}",
        codes=CODES, ncounters=NCOUNTERS, actions=ACTIONS, body=body,
        helpers=list(r.helpers.values()), luts=r.lut_definitions(), states=states, streams=streams, roms=roms,
        reads=r.reads, io_size=io_size, max_out=r.max_out, emits=r.emitted, in_place=r.in_place,
        emit_port=pipeline.emit().attr("port") if pipeline.emit() is not None else None,
        copy_always=r.copy_always, scratch_top=r.uses_scratch_top or r.copy_always,
        scratch=scratch, callbacks=callbacks, uses_timestamp=r.uses_timestamp, uses_bounded=r.uses_bounded,
        stages=r.stages, rendered=r.rendered, scratch_bytes=scratch_bytes,
        rodata_bytes=r.rodata_bytes(), explain=explain(p),
    )


def lower(pipeline: Pipeline) -> Pipeline:
    """A copy of ``pipeline`` with the XDP target's lowering choices (:mod:`nicc.backends.lowering`)."""
    import copy
    return choose_lowerings(copy.deepcopy(pipeline), "xdp")


def generate(pipeline: Pipeline, renderer_cls: type[XdpRenderer] = XdpRenderer,
             spill: bool = False) -> tuple[str, dict]:
    """The eBPF C source of ``pipeline`` and the render context (stages, sizes...).

    ``spill`` keeps every value in the per-CPU scratch map value instead of locals: the
    runtime renders again with it when clang reports the 512-byte BPF stack exceeded."""
    ctx = render(lower(pipeline), renderer_cls, spill)
    return _env().get_template("prog.bpf.c.j2").render(**ctx), ctx


def floor_source() -> str:
    """A pass-through XDP program: the floor every pipeline is measured against."""
    return _env().get_template("floor.bpf.c.j2").render()


# CRenderer binds r_div, r_mod... to its own r_arith: bind them to the eBPF one.
for _op in ARITH:
    setattr(XdpRenderer, f"r_{_op.value}", XdpRenderer.r_arith)

"""The one C lowering of a pipeline, shared by the XDP and DPDK dialects (p4c's Target classes,
tinygrad's renderers).

:class:`CCore` lowers everything that is the same in both C dialects: payload fields and arrays
(with the payload length checks the interpreter makes, skipped where the midend proved them,
``checked=1``), ``map`` loops (plain, fully unrolled, or fused into the emit), the emit itself
(written in place over the payload when :mod:`.emitplan` finds a safe order, else into a
buffer, :mod:`.emit`), verdicts and the scalar ops (:mod:`.cstyle`). A dialect supplies only
what differs:

=====================  ========================================  ==================================
hook                   XDP (eBPF C)                              DPDK (C)
=====================  ========================================  ==================================
``guard``              a verifier bound before packet access     nothing
``local_array``        a member of the per-CPU scratch value     a stack array
``loop``               ``#pragma unroll`` / bounded / bpf_loop    ``#pragma GCC unroll`` / for
``reserve``            grow the frame (bpf_xdp_adjust_tail)       room check
``commit``             adjust tail, store bytes, headers          headers, length
``state_*``            BPF array maps, compare-and-exchange      arrays, __atomic builtins
``record_lookup``      a BPF array map per stream                an array of records in the state
``rom_ref``            ``.rodata``, or a read-only array map       ``static const`` arrays
``scan_loop``          a ``bpf_loop`` callback                    a plain loop
=====================  ========================================  ==================================

Streams, windows, scans and the host part are in :mod:`.streams`.

The payload is read through ``io``, a pointer to the payload (the packet itself, or on XDP a
copy of it for frames with fragments), and ``plen``, its length.
"""
from __future__ import annotations

import abc

from ...compiler.ir import ARITH, COMPARE, Node, Op, Pipeline
from ...compiler.passes.guards import guard_of
from ...compiler.types import Array, Scalar
from ..lowering import RULES, TargetRules, trip_count
from .cstyle import CRenderer, cond, wrap
from .emit import EmitRules
from .streams import StreamRules
from .values import ArrayVal, FusedMap, LocalArray, PacketArray, RangeArray, RomArray, StreamArray, field_offset

INLINE_OPS = set(ARITH) | set(COMPARE) | {Op.NOT, Op.CAST, Op.SELECT}
# users whose C names each operand once (a value written into a user that names it twice is computed twice)
NAMES_ONCE = set(COMPARE) | {Op.REJECT_IF, Op.VERDICT_IF, Op.EMIT, Op.AND, Op.OR, Op.XOR, Op.NOT, Op.SELECT}


def find_inline(p: Pipeline) -> set[int]:
    """Top-level pure nodes used exactly once, by a later top-level node: their expression is
    written into that use instead of a variable."""
    uses: dict[int, int] = {}
    outside: set[int] = set()
    top = {id(n) for n in p.body.nodes}
    for n in p.body.walk():
        once = n.op in NAMES_ONCE or (n.op in (Op.ADD, Op.SUB, Op.MUL, Op.CAST) and n.attr("overflow") != "sat")
        for a in n.args:
            uses[id(a)] = uses.get(id(a), 0) + 1
            if id(n) not in top or not once:
                outside.add(id(a))
    return {id(n) for n in p.body.nodes
            if n.op in INLINE_OPS and uses.get(id(n)) == 1 and id(n) not in outside and n.type is not None}


class CCore(StreamRules, EmitRules, CRenderer):
    """The shared lowering (see the module docstring); dialects subclass it.

        class DpdkRenderer(CCore):
            target = "dpdk"                          # its rules in nicc.backends.lowering.RULES
            def ret_code(self, outcome): return f"return NICC_{outcome.upper()};"
            ...
    """

    target = "c"                      # key of nicc.backends.lowering.RULES
    h = "nicc"                        # prefix of the load/store helpers (nicc_ld32be...)

    def __init__(self, pipeline: Pipeline):
        super().__init__(pipeline)
        self.rules: TargetRules | None = RULES.get(self.target)
        self.inline = find_inline(pipeline)
        self.emitted = False          # an emit has been rendered (later pass/transmit verdicts commit it)
        self.in_place = False         # ... written over the payload, not into the out buffer
        self.max_out = 0              # the largest payload the emit can produce
        self.out_len = "0"            # its length, a C expression
        self.reads = 0                # payload bytes read, at most
        self.uses_timestamp = False
        self.uses_bounded = False
        self.rendered: set[Op] = set()
        self.index = "i"
        self.proven = 0               # the payload has at least this many bytes here (checks passed)
        self.pipeline_reads = max([n.attr("offset") + (n.type.nbytes if n.op is Op.FIELD else
                                   n.type.max * n.type.struct.nbytes)
                                   for n in pipeline.body.walk() if n.op in (Op.FIELD, Op.ARRAY)] or [0])
        nodes = pipeline.body.nodes
        e = pipeline.emit()
        self.after_emit = nodes[nodes.index(e) + 1:] if e is not None else []
        self.init_streams()

    # -- plumbing ------------------------------------------------------------------------------
    def run_node(self, n: Node):
        v = super().run_node(n)
        self.rendered.add(n.op)
        return v

    @abc.abstractmethod
    def ret_code(self, outcome: str) -> str:
        """The C statement that leaves with ``outcome`` unchanged (malformed, drop, unhandled...)."""

    def load(self, t: Scalar, ptr: str, endian: str = "be") -> str:
        if t.nbytes == 1:
            return f"({self.ty(t)})*{wrap(ptr)}" if t.signed else f"*{wrap(ptr)}"
        cast = f"({self.ty(t)})" if t.signed or t.kind == "f16" else ""
        return f"{cast}{self.h}_ld{t.nbytes * 8}{endian}({cond(ptr)})"

    def store(self, t: Scalar, ptr: str, val: str, endian: str) -> str:
        ut = self.ty(Scalar("u", t.nbytes * 8))
        v = f"({ut}){wrap(val)}" if t.signed else val
        if t.nbytes == 1:
            return f"*{wrap(ptr)} = {v};"
        return f"{self.h}_st{t.nbytes * 8}{endian}({cond(ptr)}, {v});"

    # dialect hooks ---------------------------------------------------------------------------
    def guard(self, ptr: str, size: int | str) -> None:
        """Before ``size`` bytes at ``ptr`` (in ``io``) are accessed: what the target needs (XDP: a
        bound the verifier can see). Never taken for a payload the checks already admitted."""

    def guard_extent(self, end: int) -> None:
        """Bytes ``io[0, end)`` are about to be accessed (at constant offsets)."""
        self.guard("io", end)

    def local_array(self, ctype: str, name: str, n: int) -> str:
        """Storage for ``n`` values of a map result; the C name to index."""
        self.emit_line(f"{ctype} {name}[{n}];")
        return name

    def unroll_pragma(self, trip: int) -> str:
        return f"#pragma GCC unroll {trip}"

    def reserve(self) -> None:
        """Before an in-place emit writes: make room for ``self.out_len`` payload bytes."""

    @abc.abstractmethod
    def out_buffer(self) -> str:
        """The buffer a payload is built in when it cannot be written in place."""

    # -- loops -----------------------------------------------------------------------------------
    loop_max = 0                      # the largest element count of the loop being rendered

    def loop(self, count: str, schedule: str, trip: int | None, body, backward: bool = False,
             captures: list[Node] = (), cvars: list[str] = ()) -> None:
        """``body(i)`` once per element, i = 0..count-1 (or down from count-1): unrolled (a constant
        ``trip``) or a plain loop; dialects add their own schedules."""
        i = self.fresh("i")
        if schedule in ("unroll", "simd") and trip is not None:
            self.emit_line(self.unroll_pragma(trip))
        if backward:
            self.emit_line(f"for ({self.ty(Scalar('u', 32))} {i} = {count}; {i}-- > 0;) {{")
        else:
            self.emit_line(f"for ({self.ty(Scalar('u', 32))} {i} = 0; {i} < {count}; {i}++) {{")
        self.indent += 1
        body(i)
        self.indent -= 1
        self.emit_line("}")

    def loop_schedule(self, arr: ArrayVal) -> str:
        """How a copy loop over ``arr`` runs (emits of arrays, not maps): by the target's budgets."""
        r = self.rules
        if r is not None and arr.trip is not None and arr.trip <= r.unroll_max_trip:
            return "unroll"
        return "loop"

    # -- payload ---------------------------------------------------------------------------------
    def r_payload_len(self, n):
        return "plen"

    def r_field(self, n):
        t, off = n.type, n.attr("offset")
        end = off + t.nbytes
        self.reads = max(self.reads, end)
        if not n.attr("checked"):
            self.emit_line(f"if (plen < {end}U)")
            self.emit_line(f"    {self.ret_code('malformed')}")
            self.prove(end)
        self.guard_extent(end)
        return self.define(n, self.load(t, f"io + {off}" if off else "io", n.attr("endian")))

    def r_array(self, n, count):
        t: Array = n.type
        ct: Scalar = n.args[0].type
        st, esz, off = t.struct, t.struct.nbytes, n.attr("offset")
        self.reads = max(self.reads, off + t.max * esz)
        u32, u64 = self.ty(Scalar("u", 32)), self.ty(Scalar("u", 64))
        if n.args[0].op is Op.CONST:
            trip = max(0, min(n.args[0].attr("value"), t.max))
            if not n.attr("checked"):
                self.emit_line(f"if (plen < {off + trip * esz}U)")
                self.emit_line(f"    {self.ret_code('malformed')}")
                self.prove(off + trip * esz)
            return PacketArray(f"{trip}U", st, t.max, trip, offset=off)
        name = n.attr("name") if str(n.attr("name", "")).isidentifier() else "a"
        if not (ct.signed or ct.bits == 64):
            if ct.hi <= t.max:
                k = count
            else:
                k = self.fresh(f"n_{name}")
                self.emit_line(f"{u32} {k} = {count} < {t.max}U ? {count} : {t.max}U;")
            if not n.attr("checked"):
                self.emit_line(f"if (plen < {off}U + {k} * {esz}U)" if off else f"if (plen < {k} * {esz}U)")
                self.emit_line(f"    {self.ret_code('malformed')}")
            return PacketArray(k, st, t.max, offset=off)
        # interp: cnt = int64(count); need = off + min(cnt, max) * esz (int64, wrapping); a negative
        # count keeps max + count elements (numpy's a[:k]), which may lie past the payload end (read as 0)
        self.uses_bounded = True
        s64 = self.ty(Scalar("i", 64))
        ks = self.fresh(f"n_{name}")
        self.emit_line(f"{s64} {ks} = ({s64}){count} < {t.max} ? ({s64}){count} : {t.max};")
        self.emit_line(f"if (({s64})plen < ({s64})({off}ULL + ({u64}){ks} * {esz}ULL))")
        self.emit_line(f"    {self.ret_code('malformed')}")
        k = self.fresh(f"n_{name}")
        self.emit_line(f"{u32} {k} = {ks} >= 0 ? ({u32}){ks} : ({t.max} + {ks} > 0 ? ({u32})({t.max} + {ks}) : 0);")
        return PacketArray(k, st, t.max, offset=off, bounded=True)

    def elem_ptr(self, arr: PacketArray, i: str, unrolled: bool) -> str:
        """A pointer to element ``i`` of a payload array (guarded per element when not unrolled)."""
        esz = arr.struct.nbytes
        off = f"{arr.offset} + {i} * {esz}" if esz > 1 else f"{arr.offset} + {i}"
        if self.needs_elem_ptr and not unrolled:
            return self.io_ptr(off, esz, "e", const=True)
        return f"io + {off}"

    def io_ptr(self, off: str, size: int, name: str, const: bool) -> str:
        """A pointer to ``size`` bytes at ``io + off`` that the dialect bounds (XDP: a checked pointer)."""
        p = self.fresh(name)
        self.emit_line(f"{self.const_u8p if const else self.u8p}{p} = io + {off};")
        self.guard(p, size)
        return p

    needs_elem_ptr = False            # XDP: an element pointer the verifier can bound
    const_u8p = "const uint8_t *"

    def elem_load(self, arr: ArrayVal, fname: str, i: str, ptr: str | None) -> str:
        ft = arr.struct.field(fname)
        if isinstance(arr, LocalArray):
            return f"{arr.fields[fname]}[{i}]"
        if isinstance(arr, (RangeArray, RomArray, StreamArray)):
            return self.stream_elem(arr, fname, i)
        if arr.bounded:
            pos = f"{arr.offset + field_offset(arr.struct, fname)} + {i} * {arr.struct.nbytes}"
            return f"({self.ty(ft)}){self.h}_ldb(io, plen, {pos}, {ft.nbytes})"
        foff = field_offset(arr.struct, fname)
        return self.load(ft, f"{ptr} + {foff}" if foff else ptr)

    # -- maps -----------------------------------------------------------------------------------
    def split_body(self, n: Node) -> tuple[list[Node], list[Node]]:
        """(nodes that do not depend on the element, nodes that do), yield left out."""
        per: set[int] = set()
        for b in n.body.nodes:
            if b.op is Op.ELEM or any(id(a) in per for a in b.args):
                per.add(id(b))
        body = [b for b in n.body.nodes if b.op is not Op.YIELD]
        return [b for b in body if id(b) not in per], [b for b in body if id(b) in per]

    def fusable(self, n: Node) -> bool:
        """``fuse=emit`` honored: the midend proved the emit is the only use; state read in the body
        must not be written between the map and the emit."""
        if n.attr("fuse") != "emit" or self.pipeline.emit() is None:
            return False
        nodes = self.pipeline.body.nodes
        between = nodes[nodes.index(n) + 1:nodes.index(self.pipeline.emit())]
        reads_state = any(b.op is Op.STATE_READ or any(a.op is Op.STREAM_READ for a in b.args)
                          for b in n.body.walk()) or any(a.op is Op.STREAM_READ for a in n.args)
        return not (reads_state and any(b.op in (Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.STREAM_WRITE)
                                        for b in between))

    def r_map(self, n, *arrays: ArrayVal):
        t: Array = n.type
        invariant, per_elem = self.split_body(n)
        # values that do not depend on the element run once, here, as the interpreter evaluates them
        # once per packet (a field read in the body still checks the payload length)
        for b in invariant:
            self.env[b] = self.run_node(b)
        first = arrays[0]
        trip = trip_count(n) if first.trip is None else first.trip
        if self.fusable(n):
            return FusedMap(first.count, t.struct, t.max, trip, node=n, inputs=list(arrays))
        y = n.body.nodes[-1]
        outs = {}
        base = next((a.attr("name") for a in n.args if a.op is Op.ARRAY), None) or "map"
        for name, a in zip(y.attr("names"), y.args):
            cname = self.fresh(f"{base}_out" if name == "_" else f"{base}_{name}")
            outs[name] = self.local_array(self.ty(a.type), cname, t.max)

        def store(i, vals):
            for name, v in zip(y.attr("names"), vals):
                self.emit_line(f"{outs[name]}[{i}] = {v};")
        guard = guard_of(self.pipeline, n)
        if guard:           # guard=stop|uses: computed only when something reads the results
            self.emit_line(f"if ({guard.c(self.env)}) {{")
            self.indent += 1
        fallback = self.vector_map(n, list(arrays), per_elem, outs)
        self.map_loop(n, list(arrays), per_elem, store, trip, backward=False)
        if fallback:
            self.indent -= 1
            self.emit_line("}")
        if guard:
            self.indent -= 1
            self.emit_line("}")
        return LocalArray(first.count, t.struct, t.max, trip, fields=outs)

    def vector_map(self, n: Node, arrays: list[ArrayVal], per_elem: list[Node], outs: dict[str, str]) -> bool:
        """A dialect with vectors (``schedule=vector``) emits ``if (...) { vector call } else {`` and says
        True: the scalar loop follows as the fallback and the core closes the brace."""
        return False

    def map_loop(self, n: Node, arrays: list[ArrayVal], per_elem: list[Node], store, trip: int | None,
                 backward: bool) -> None:
        """The loop of map ``n``: per element, load what the body reads, run it, ``store(i, values)``."""
        schedule = n.attr("schedule", "loop")
        unrolled = schedule in ("unroll", "simd") and trip is not None
        if unrolled:
            for a in arrays:
                if isinstance(a, PacketArray) and not a.bounded:
                    self.guard_extent(a.offset + trip * a.struct.nbytes)
        y = n.body.nodes[-1]
        saved = dict(self.env)

        def body(i):
            self.index = i
            ptrs = {}
            for k, a in enumerate(arrays):
                if isinstance(a, PacketArray) and not a.bounded and any(
                        b.op is Op.ELEM and b.attr("input") == k for b in per_elem):
                    ptrs[k] = self.elem_ptr(a, i, unrolled)
            self.map_inputs.append((n, arrays, ptrs))
            for b in per_elem:
                self.env[b] = self.run_node(b)
            self.map_inputs.pop()
            self.rendered.add(Op.YIELD)
            store(i, [self.env[a] for a in y.args])
        self.loop_max = arrays[0].max
        try:
            self.loop(arrays[0].count, schedule, trip, body, backward,
                      captures=[a for b in per_elem for a in b.args if a not in per_elem])
        finally:
            self.env = saved

    def r_elem(self, n):
        _, arrays, ptrs = self.map_inputs[-1]
        k = n.attr("input")
        return self.define(n, self.elem_load(arrays[k], n.attr("field"), self.index, ptrs.get(k)))

    def r_yield(self, n, *vals):
        return None

    # -- effects and verdicts ----------------------------------------------------------------------
    def r_reject_if(self, n, c):
        self.emit_line(f"if ({cond(c)})")
        self.emit_line(f"    {self.ret_code('malformed')}")
        self.prove_from(n.args[0])

    def prove(self, k: int) -> None:
        """The payload has at least ``k`` bytes from here on (only at the top level: not inside a branch)."""
        if self.indent == 1 and self.map_inputs == []:
            self.proven = max(self.proven, k)

    def prove_from(self, c: Node) -> None:
        """What a passed ``reject_if c`` proves about the payload length: payload_len != K or < K."""
        if c.op in (Op.NE, Op.LT) and c.args[0].op is Op.PAYLOAD_LEN and c.args[1].op is Op.CONST:
            self.prove(c.args[1].attr("value"))

    def fits_in_place(self) -> bool:
        """The new payload never outgrows the old one (a constant length the checks proved present)."""
        return self.out_len.endswith("U") and self.out_len[:-1].isdigit() and int(self.out_len[:-1]) <= self.proven

    @abc.abstractmethod
    def commit(self, code: str) -> str:
        """The C statement that leaves with a pass/transmit ``code`` and the emitted payload."""

    def ret(self, verdict: str) -> str:
        if verdict in ("pass", "transmit") and self.emitted:
            return self.commit(f"NICC_{verdict.upper()}")
        return self.ret_code(verdict)

    def r_verdict_if(self, n, c):
        self.refuse_multicast(n)
        self.emit_line(f"if ({cond(c)})")
        self.emit_line(f"    {self.ret(n.attr('verdict'))}")

    def render_body(self) -> list[str]:
        self.run()
        return self.lines


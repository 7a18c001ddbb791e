"""The one C lowering of a pipeline, shared by the XDP and DPDK dialects (p4c's Target classes,
tinygrad's renderers).

:class:`CCore` lowers everything that is the same in both C dialects: payload fields and arrays
(with the payload length checks the interpreter makes, skipped where the midend proved them,
``checked=1``), ``map`` loops (plain, fully unrolled, or fused into the emit), the emit itself
(written in place over the payload when :mod:`.emitplan` finds a safe order, else into a
buffer), verdicts and the scalar ops (:mod:`.cstyle`). A dialect supplies only what differs:

=====================  ========================================  ==================================
hook                   XDP (eBPF C)                              DPDK (C)
=====================  ========================================  ==================================
``guard``              a verifier bound before packet access     nothing
``local_array``        a member of the per-CPU scratch value     a stack array
``loop``               ``#pragma unroll`` / bounded / bpf_loop    ``#pragma GCC unroll`` / for
``reserve``            grow the frame (bpf_xdp_adjust_tail)       room check
``commit``             adjust tail, store bytes, headers          headers, length
``state_*``            BPF array maps, compare-and-exchange      arrays, __atomic builtins
=====================  ========================================  ==================================

The payload is read through ``io``, a pointer to the payload (the packet itself, or on XDP a
copy of it for frames with fragments), and ``plen``, its length.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...compiler.ir import ARITH, COMPARE, Node, Op, Pipeline
from ...compiler.types import Array, Scalar, Struct
from ..lowering import RULES, TargetRules, trip_count
from .cstyle import CRenderer, cond, wrap
from .emitplan import Piece, plan_in_place

INLINE_OPS = set(ARITH) | set(COMPARE) | {Op.NOT, Op.CAST, Op.SELECT}
# users whose C names each operand once (a value written into a user that names it twice is computed twice)
NAMES_ONCE = set(COMPARE) | {Op.REJECT_IF, Op.VERDICT_IF, Op.EMIT, Op.AND, Op.OR, Op.XOR, Op.NOT, Op.SELECT}
# what may follow an emit written in place: nothing that reads the payload or leaves the frame unchanged
AFTER_IN_PLACE = {Op.VERDICT, Op.VERDICT_IF, Op.CONST, Op.PAYLOAD_LEN, Op.TIMESTAMP, Op.LUT, Op.BUCKETIZE,
                  Op.CRC32, Op.STATE_READ, Op.STATE_WRITE} | INLINE_OPS
SIMD_BLOCK = 64


def field_offset(st: Struct, fname: str) -> int:
    off = 0
    for name, ft in st.fields:
        if name == fname:
            return off
        off += ft.nbytes
    raise KeyError(fname)


@dataclass
class ArrayVal:
    """An array value in C: how many elements (a C expression), their struct, at most how many."""
    count: str
    struct: Struct
    max: int
    trip: int | None = None           # the count, when it is a constant


@dataclass
class PacketArray(ArrayVal):
    """Elements read from the payload, ``offset`` bytes in."""
    offset: int = 0
    bounded: bool = False             # may reach past the payload end (negative counts): read byte by byte


@dataclass
class LocalArray(ArrayVal):
    """A map's results, one C array per field."""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class FusedMap(ArrayVal):
    """A map whose results are computed straight into the emitted payload (``fuse=emit``)."""
    node: Node | None = None
    inputs: list = field(default_factory=list)


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


class CCore(CRenderer):
    """The shared lowering (see the module docstring); dialects subclass it."""

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

    # -- plumbing ------------------------------------------------------------------------------
    def run_node(self, n: Node):
        v = super().run_node(n)
        self.rendered.add(n.op)
        return v

    def ret_code(self, outcome: str) -> str:
        """The C statement that leaves with ``outcome`` unchanged (malformed, drop, unhandled...)."""
        raise NotImplementedError

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

    def out_buffer(self) -> str:
        """The buffer a payload is built in when it cannot be written in place."""
        raise NotImplementedError

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
        ptr = f"io + {arr.offset} + {i} * {esz}" if esz > 1 else f"io + {arr.offset} + {i}"
        if self.needs_elem_ptr and not unrolled:
            e = self.fresh("e")
            self.emit_line(f"{self.const_u8p}{e} = {ptr};")
            self.guard(e, esz)
            return e
        return ptr

    needs_elem_ptr = False            # XDP: an element pointer the verifier can bound
    const_u8p = "const uint8_t *"

    def elem_load(self, arr: ArrayVal, fname: str, i: str, ptr: str | None) -> str:
        ft = arr.struct.field(fname)
        if isinstance(arr, LocalArray):
            return f"{arr.fields[fname]}[{i}]"
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
        reads_state = any(b.op is Op.STATE_READ for b in n.body.walk())
        return not (reads_state and any(b.op in (Op.STATE_WRITE, Op.STATE_UPDATE_IF) for b in between))

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
        self.map_loop(n, list(arrays), per_elem, store, trip, backward=False)
        return LocalArray(first.count, t.struct, t.max, trip, fields=outs)

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

    def commit(self, code: str) -> str:
        """The C statement that leaves with a pass/transmit ``code`` and the emitted payload."""
        raise NotImplementedError

    def ret(self, verdict: str) -> str:
        if verdict in ("pass", "transmit") and self.emitted:
            return self.commit(f"NICC_{verdict.upper()}")
        return self.ret_code(verdict)

    def r_verdict_if(self, n, c):
        self.refuse_multicast(n)
        self.emit_line(f"if ({cond(c)})")
        self.emit_line(f"    {self.ret(n.attr('verdict'))}")

    # -- the emit -------------------------------------------------------------------------------------
    def pieces(self, n: Node, vals) -> tuple[list[Piece], bool]:
        """The emit's pieces with their output offsets, and whether every offset is a constant."""
        out, off, static = [], 0, True
        for k, (v, a) in enumerate(zip(vals, n.args)):
            t = a.type
            if not isinstance(t, Array):
                out.append(Piece(k, off, t.nbytes, 1))
                off += t.nbytes
                continue
            esz = t.struct.nbytes
            reads = []
            block = 1
            if isinstance(v, PacketArray):
                reads = [(v.offset, esz)]
            elif isinstance(v, FusedMap):
                reads = [(i.offset, i.struct.nbytes) for i in v.inputs if isinstance(i, PacketArray)]
                if v.node.attr("schedule") == "simd":
                    block = SIMD_BLOCK
            out.append(Piece(k, off, esz, t.max, reads, block))
            if v.trip is None and k != len(vals) - 1:
                static = False
            off += (v.trip if v.trip is not None else t.max) * esz
        return out, static

    def in_place_plan(self, n: Node, vals):
        if any(b.op not in AFTER_IN_PLACE or b.attr("verdict") == "multicast" for b in self.after_emit):
            return None
        pieces, static = self.pieces(n, vals)
        if not static:
            return None
        if any(isinstance(v, PacketArray) and v.bounded for v in vals):
            return None
        return plan_in_place(pieces)

    def r_emit(self, n, *vals):
        if self.emitted:
            raise self.refuse(n, "a second emit")
        self.max_out = self.emit_size(n)
        pieces, _ = self.pieces(n, vals)
        # the payload length: the constant part, plus count x size for arrays of a variable count
        static, dyn = 0, []
        for piece, v, a in zip(pieces, vals, n.args):
            if isinstance(a.type, Array) and v.trip is None:
                dyn.append(f"{v.count} * {piece.out_size}U")
            else:
                static += piece.out_size * (v.trip if isinstance(a.type, Array) else 1)
        self.out_len = " + ".join(([f"{static}U"] if static or not dyn else []) + dyn)
        plan = self.in_place_plan(n, vals)
        self.emitted = True
        if plan is not None:
            self.in_place = True
            self.reserve()
            for piece, direction in plan:
                self.emit_piece(n, vals, piece, "io", f"{piece.out_off}", direction == "backward")
            return
        # not in place: into the out buffer, in order (offsets may depend on earlier counts)
        buf = self.out_buffer()
        var, k = None, 0                  # the offset so far: a variable (after a variable count) + a constant
        for piece, v, a in zip(pieces, vals, n.args):
            pos = (f"{var} + {k}U" if k else var) if var else str(k)
            self.emit_piece(n, vals, piece, buf, pos, False)
            if isinstance(a.type, Array) and v.trip is None:
                grow = f"{v.count} * {piece.out_size}U"
                if var is None:
                    var = self.fresh("olen")
                    self.emit_line(f"{self.ty(Scalar('u', 32))} {var} = {k}U + {grow};")
                else:
                    self.emit_line(f"{var} += {k}U + {grow};" if k else f"{var} += {grow};")
                k = 0
            else:
                k += piece.out_size * (v.trip if isinstance(a.type, Array) else 1)

    @staticmethod
    def add_const(pos: str, k: int) -> str:
        if pos.isdigit():
            return str(int(pos) + k)
        return f"{pos} + {k}U" if k else pos

    def emit_piece(self, n: Node, vals, piece: Piece, buf: str, pos: str, backward: bool) -> None:
        """Write piece ``piece`` of the emit at ``buf + pos``."""
        v, a, endian = vals[piece.index], n.args[piece.index], n.attr("endian")[piece.index]
        t = a.type
        at = f"{buf} + {pos}" if pos != "0" else buf
        if not isinstance(t, Array):
            if buf == "io":
                self.guard_extent(piece.out_off + t.nbytes)
            else:
                at = self.out_dest(buf, pos, t.nbytes)
            self.emit_line(self.store(t, at, v, endian))
            return
        esz = t.struct.nbytes
        if isinstance(v, FusedMap):
            self.emit_fused(v, pos, buf, piece, endian, backward)
            return
        fields = t.struct.fields
        unrolled = self.loop_schedule(v) == "unroll"
        if unrolled and buf == "io" and v.trip is not None:
            self.guard_extent(piece.out_off + v.trip * esz)
            if isinstance(v, PacketArray):
                self.guard_extent(v.offset + v.trip * esz)

        cvars = []
        if not pos.isdigit():                # a running offset: one variable the loop body can name
            base = self.fresh("base")
            self.emit_line(f"{self.ty(Scalar('u', 32))} {base} = {pos};")
            pos, cvars = base, [base]

        def body(i):
            src = self.elem_ptr(v, i, unrolled) if isinstance(v, PacketArray) and not v.bounded else None
            loaded = [self.elem_load(v, fname, i, src) for fname, _ in fields]
            self.store_element(t.struct, buf, pos, i, esz, loaded, endian, unrolled)
        self.loop_max = v.max
        self.loop(v.count, self.loop_schedule(v), v.trip, body, backward, cvars=cvars)

    def out_dest(self, buf: str, off: str, size: int) -> str:
        """A pointer to ``size`` bytes at offset ``off`` of the out buffer (dialects may check it)."""
        return f"{buf} + {off}" if off != "0" else buf

    def store_element(self, st: Struct, buf: str, pos: str, i: str, esz: int, vals: list[str], endian: str,
                      unrolled: bool) -> None:
        """Store one element's fields at ``buf + pos + i * esz``."""
        at = f"{buf} + {pos}" if pos != "0" else buf
        o = f"{at} + {i} * {esz}" if esz > 1 else f"{at} + {i}"
        if buf != "io":
            off = (f"{pos} + " if pos != "0" else "") + (f"{i} * {esz}" if esz > 1 else i)
            o = self.out_dest(buf, off, esz)
        elif self.needs_elem_ptr and not unrolled:
            p = self.fresh("o")
            self.emit_line(f"{self.u8p}{p} = {o};")
            self.guard(p, esz)
            o = p
        foff = 0
        for (fname, ft), val in zip(st.fields, vals):
            self.emit_line(self.store(ft, f"{o} + {foff}" if foff else o, val, endian))
            foff += ft.nbytes

    u8p = "uint8_t *"

    def emit_fused(self, v: FusedMap, pos: str, buf: str, piece: Piece, endian: str, backward: bool) -> None:
        """A fused map: each element computed and stored straight into the output at ``buf + pos``."""
        n = v.node
        _, per_elem = self.split_body(n)
        st = n.type.struct
        esz = st.nbytes
        unrolled = n.attr("schedule") in ("unroll", "simd") and v.trip is not None
        if unrolled and buf == "io":
            self.guard_extent(piece.out_off + v.trip * esz)

        def store(i, vals):
            self.store_element(st, buf, pos, i, esz, vals, endian, unrolled)
        saved, self.node = self.node, n              # the loop and its stores belong to the map's line
        try:
            self.map_loop(n, v.inputs, per_elem, store, v.trip, backward)
        finally:
            self.node = saved

    def render_body(self) -> list[str]:
        self.run()
        return self.lines


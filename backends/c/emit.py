"""The emit, shared by the C dialects: the new payload written in place over the old one when
:mod:`.emitplan` finds an order of its pieces that overwrites nothing still to be read (front to
back as it shrinks, back to front as it grows), else built in the dialect's out buffer and copied
when the packet leaves with it. Pieces are scalars, copies of arrays (payload arrays or a map's
results) and maps fused into the emit (``fuse=emit``), computed element by element straight into
their place.

:class:`EmitRules` is a mixin of :class:`~nicc.backends.c.core.CCore`; the hooks it calls
(``loop``, ``guard``, ``reserve``, ``out_buffer``, ``out_dest``...) are the dialects'.
"""
from __future__ import annotations

from ...compiler.ir import ARITH, COMPARE, Node, Op
from ...compiler.types import Array, Scalar, Struct
from .emitplan import Piece, plan_in_place
from .values import FusedMap, LocalArray, PacketArray

# what may follow an emit written in place: nothing that reads the payload or leaves the frame unchanged
AFTER_IN_PLACE = {Op.VERDICT, Op.VERDICT_IF, Op.CONST, Op.PAYLOAD_LEN, Op.TIMESTAMP, Op.LUT, Op.BUCKETIZE,
                  Op.CRC32, Op.STATE_READ, Op.STATE_WRITE, Op.NOT, Op.CAST, Op.SELECT} | set(ARITH) | set(COMPARE)
SIMD_BLOCK = 64                   # elements a simd map reads before it writes


class EmitRules:
    """r_emit and its pieces (see the module docstring)."""

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
        planes = isinstance(v, LocalArray) and self.emit_planes(v, t.struct, at)
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
        if planes:
            self.indent -= 1
            self.emit_line("}")

    def emit_planes(self, v: LocalArray, st: Struct, at: str) -> bool:
        """A dialect that interleaves a map's result arrays with vectors emits ``if (...) { call } else {``
        and says True: the element loop follows as the fallback and the brace is closed after it."""
        return False

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
            o = self.io_ptr((f"{pos} + " if pos != "0" else "") + (f"{i} * {esz}" if esz > 1 else i), esz, "o",
                            const=False)
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


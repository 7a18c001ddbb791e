"""The DPDK dialect of the C renderer: plain C99 over a byte buffer, no DPDK headers.

:class:`DpdkRenderer` fills in the hooks of :class:`~nicc.backends.c.cstyle.CRenderer`
for a packet held in one contiguous buffer (an mbuf segment, or a heap copy in
the sanitizer harness). The per-packet function it produces is

    int NAME_process(uint8_t *pkt, uint32_t len, uint32_t room,
                     uint32_t *out_len, struct NAME_state *st);

``pkt[0, len)`` is the frame, ``pkt[0, room)`` is writable. It applies
:mod:`nicc.compiler.framing` (selection, then the rewrite of an emitted
payload), runs the nodes in order with an early ``return`` for ``reject_if`` /
``verdict_if`` and returns an outcome (``NICC_*``, :mod:`nicc.compiler.contract`); ``*out_len`` is the
frame's new length. Every packet read is bounded by the UDP payload length,
which selection has checked against ``len``; the new payload is built in a
scratch buffer and copied into the frame only when the packet leaves with it
(a later ``reject_if`` leaves the frame unchanged, as the interpreter does).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ...compiler.contract import CODES  # noqa: F401  (the outcome each NAME_process returns)
from ...compiler.ir import Op, Pipeline
from ...compiler.types import Array, Scalar, Struct
from ..pending import refuse_pending
from ..c.cstyle import CRenderer, c_const


@dataclass
class ArrC:
    """An array value in C: either read lazily from the payload, or materialized in locals."""
    count: str                        # C expression: elements present (0..max)
    struct: Struct
    max: int
    offset: int | None = None         # payload offset of element 0 (packet arrays)
    bounded: bool = False             # elements may lie past the payload end: read byte by byte, 0 beyond
    locals: dict[str, str] = field(default_factory=dict)   # field -> C array name (map outputs)

    def load(self, r: "DpdkRenderer", fname: str, idx: str) -> str:
        if self.locals:
            return f"{self.locals[fname]}[{idx}]"
        foff = 0
        for name, ft in self.struct.fields:
            if name == fname:
                break
            foff += ft.nbytes
        ft = self.struct.field(fname)
        pos = f"{self.offset + foff} + ({idx}) * {self.struct.nbytes}"
        if self.bounded:
            return f"({r.ty(ft)}){r.prefix}_ldb(pl, plen, {pos}, {ft.nbytes})"
        return r.load_expr(ft, f"pl + {pos}", "be")


class DpdkRenderer(CRenderer):
    """Renders a pipeline's per-packet function for the DPDK target."""

    target_name = "the dpdk target"

    def __init__(self, pipeline: Pipeline):
        super().__init__(pipeline)
        self.prefix = pipeline.name
        self.emitted = False          # an emit node has been rendered (later verdicts commit it)
        self.max_out = 0              # largest payload the emit can produce
        self.uses_timestamp = False
        self.uses_bounded = False

    # -- helpers --------------------------------------------------------------
    def load_expr(self, t: Scalar, ptr: str, endian: str) -> str:
        n = t.nbytes
        fn = f"{self.prefix}_ld{n * 8}{endian}"
        expr = f"{fn}({ptr})" if n > 1 else f"({ptr})[0]"
        return f"({self.ty(t)}){expr}"

    def store_stmt(self, t: Scalar, ptr: str, val: str, endian: str) -> str:
        n = t.nbytes
        if n == 1:
            return f"({ptr})[0] = (uint8_t){val};"
        return f"{self.prefix}_st{n * 8}{endian}({ptr}, (uint{n * 8}_t){val});"

    multicast_refusal = ("multicast verdicts are not supported by the dpdk target yet "
                         "(verdicts map to ports: pass -> host, transmit -> wire, drop)")

    def ret(self, verdict: str) -> str:
        code = f"NICC_{verdict.upper()}"
        if verdict in ("pass", "transmit") and self.emitted:
            return f"return {self.prefix}_commit(pkt, room, out_len, out, olen, {code});"
        return f"return {code};"

    # -- packet access ---------------------------------------------------------
    def r_payload_len(self, n):
        return "plen"

    def r_timestamp(self, n):
        self.uses_timestamp = True
        return self.define(n, "st->now_ns")

    def r_field(self, n):
        t, off = n.type, n.attr("offset")
        self.emit_line(f"if (plen < {off + t.nbytes}U) return NICC_MALFORMED;")
        return self.define(n, self.load_expr(t, f"pl + {off}", n.attr("endian")))

    def r_array(self, n, count):
        t: Array = n.type
        st, esz, off = t.struct, t.struct.nbytes, n.attr("offset")
        ct: Scalar = n.args[0].type
        k = self.fresh("k")
        # interp: cnt = int64(count); need = off + min(cnt, max) * esz; elements [:min(cnt, max)]
        self.emit_line(f"int64_t {k} = (int64_t){count} < {t.max} ? (int64_t){count} : {t.max};")
        # (computed in uint64 so that it wraps as numpy's int64 does, without C overflow)
        self.emit_line(f"if ((int64_t)plen < (int64_t)({off}ULL + (uint64_t){k} * {esz}ULL)) "
                       f"return NICC_MALFORMED;")
        bounded = ct.signed or ct.bits == 64
        if bounded:     # a negative count keeps max + count elements (numpy's a[:k]); they may lie past the end
            self.uses_bounded = True
            self.emit_line(f"if ({k} < 0) {k} = {t.max} + {k} > 0 ? {t.max} + {k} : 0;")
        return ArrC(k, st, t.max, offset=off, bounded=bounded)

    def r_map(self, n, *arrays: ArrC):
        t: Array = n.type
        first = arrays[0]
        y = n.body.nodes[-1]
        # Nodes that do not depend on an element run once, before the loop (as the interpreter
        # evaluates them once per packet, even for an empty array: a field read still checks bounds).
        per_elem: set[int] = set()
        for b in n.body.nodes:
            if b.op is Op.ELEM or any(id(a) in per_elem for a in b.args):
                per_elem.add(id(b))
        saved = dict(self.env)
        outs = {}
        try:
            for b in n.body.nodes:
                if id(b) not in per_elem and b.op is not Op.YIELD:
                    self.env[b] = self.run_node(b)
            for name, a in zip(y.attr("names"), y.args):
                arr = self.fresh("m")
                self.emit_line(f"{self.ty(a.type)} {arr}[{t.max}];")
                outs[name] = arr
            i = self.fresh("i")
            self._index = i
            self.map_inputs.append((n, list(arrays)))
            self.emit_line(f"for (int64_t {i} = 0; {i} < {first.count}; {i}++) {{")
            self.indent += 1
            for b in n.body.nodes:
                if id(b) in per_elem:
                    self.env[b] = self.run_node(b)
            for name, a in zip(y.attr("names"), y.args):
                self.emit_line(f"{outs[name]}[{i}] = {self.env[a]};")
            self.indent -= 1
            self.map_inputs.pop()
            self.emit_line("}")
        finally:
            self.env = saved
        return ArrC(first.count, t.struct, t.max, locals=outs)

    def r_elem(self, n):
        _, arrays = self.map_inputs[-1]
        return self.define(n, arrays[n.attr("input")].load(self, n.attr("field"), self._index))

    def r_yield(self, n, *vals):
        return None

    # -- state -------------------------------------------------------------------
    def _slot(self, n) -> tuple[str, int]:
        s = self.pipeline.states[n.attr("state")]
        return f"st->{s.name}", s.size

    def r_state_read(self, n, idx):
        arr, size = self._slot(n)
        return self.define(n, f"((uint64_t){idx} < {size}U ? {arr}[{idx}] : 0)")

    def r_state_write(self, n, idx, val, cond):
        arr, size = self._slot(n)
        self.emit_line(f"if ({cond} && (uint64_t){idx} < {size}U) {arr}[{idx}] = {val};")
        return None

    def r_state_update_if(self, n, idx, val):
        arr, size = self._slot(n)
        cmp = n.attr("cmp")
        ok = f"(uint64_t){idx} < {size}U"
        if cmp == "always":
            hit = self.define(n, ok)
        else:
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[cmp]
            hit = self.define(n, f"{ok} && {val} {sym} {arr}[{idx}]")
        self.emit_line(f"if ({hit}) {arr}[{idx}] = {val};")
        return hit

    # -- effects and verdicts --------------------------------------------------------
    def r_reject_if(self, n, c):
        self.emit_line(f"if ({c}) return NICC_MALFORMED;")

    def r_emit(self, n, *vals):
        size = self.emit_size(n)
        self.max_out = size
        self.emit_line("olen = 0;")
        for v, a, e in zip(vals, n.args, n.attr("endian")):
            t = a.type
            if isinstance(t, Array):
                i = self.fresh("i")
                self.emit_line(f"for (int64_t {i} = 0; {i} < {v.count}; {i}++) {{")
                foff = 0
                for fname, ft in t.struct.fields:
                    self.emit_line("    " + self.store_stmt(ft, f"out + olen + {foff}", v.load(self, fname, i), e))
                    foff += ft.nbytes
                self.emit_line(f"    olen += {t.struct.nbytes};")
                self.emit_line("}")
            else:
                self.emit_line(self.store_stmt(t, "out + olen", v, e))
                self.emit_line(f"olen += {t.nbytes};")
        self.emitted = True

    # -- the whole function -----------------------------------------------------------
    def render_body(self) -> list[str]:
        self.run()
        return self.lines

    def loc_comment(self) -> str:
        loc = self.pipeline.loc
        return f"{os.path.basename(loc.file)}:{loc.line}" if loc else self.pipeline.name


def render(pipeline: Pipeline) -> dict:
    """Everything the templates need, computed here (templates hold no logic)."""
    refuse_pending(pipeline, DpdkRenderer.target_name)
    r = DpdkRenderer(pipeline)
    body = r.render_body()
    p = pipeline
    states = [dict(name=s.name, ctype=r.ty(s.elem), size=s.size, init=c_const(s.init, s.elem),
                   zero=(s.init == 0)) for s in p.states.values()]
    return dict(
        name=p.name, NAME=p.name.upper(), port=p.port, source=r.loc_comment(),
        codes=CODES, body=body, helpers=list(r.helpers.values()), luts=r.lut_definitions(),
        states=states, max_out=r.max_out, emits=r.emitted, uses_timestamp=r.uses_timestamp,
        uses_bounded=r.uses_bounded, stateful=p.stateful,
    )

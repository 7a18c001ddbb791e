"""The DPDK dialect of the C core: plain C over a byte buffer, no DPDK headers.

:class:`DpdkRenderer` fills in the hooks of :class:`~nicc.backends.c.core.CCore` for a packet held in
one contiguous buffer (an mbuf segment, or a heap copy in the sanitizer harness). The per-packet
function it produces is

    int NAME_process(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len,
                     struct NAME_state *st);

``pkt[0, len)`` is the frame, ``pkt[0, room)`` is writable. It applies :mod:`nicc.compiler.framing`
(selection, then the rewrite of an emitted payload), runs the nodes in order with an early
``return`` for ``reject_if`` / ``verdict_if`` and returns an outcome (``NICC_*``,
:mod:`nicc.compiler.contract`; a multicast also names its group, ``NICC_MULTICAST | index << 8``,
whose copies the data plane makes: ``runtime/nicc_mcast.h``); ``*out_len`` is the frame's new length. Every packet read is
bounded by the UDP payload length, which selection has checked against ``len``.

The emitted payload is written over the payload in place when the emit is the last thing that can
change the frame and its pieces can be ordered (:mod:`nicc.backends.c.emitplan`); else it is built
in a buffer and copied when the packet leaves with it (a later ``reject_if`` leaves the frame
unchanged, as the interpreter does). State updates are atomic (``__atomic`` builtins), so the data
plane may run a pipeline on several lcores at once; ``simd`` maps run as AVX-512 VBMI permutes
where the CPU has them (:mod:`.simd`).
"""
from __future__ import annotations

import os

from ...compiler.contract import CODES  # noqa: F401  (the outcome each NAME_process returns)
from ...compiler.ir import Op, Pipeline
from ...compiler.types import Scalar
from ..c.core import CCore
from ..host_only import refuse_host_only
from ..c.streams import record_members
from ..c.values import FusedMap, PacketArray, field_offset
from ..c.cstyle import c_const, cond
from ..c.emitplan import Piece
from . import planes, simd
from .vector import Fallback, VectorMap, interleave

ATOMIC_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class DpdkRenderer(CCore):
    """Renders a pipeline's per-packet function for the DPDK target."""

    target = "dpdk"
    variable_memcpy = True
    target_name = "the dpdk target"
    h = "nicc"

    def __init__(self, pipeline: Pipeline):
        super().__init__(pipeline)
        self.prefix = pipeline.name
        self.kernels: list[str] = []          # C of the simd maps' vector functions
        self.vector_kernels: list[str] = []   # C of the vector maps' functions (after the tables they read)
        self.once: set[str] = set()           # helpers emitted once: interleave kernels, plane reads
        self.uses_simd = False

    def refuse_multicast(self, n) -> None:
        """Multicast runs in the data plane (nicc_mcast.h): the outcome names the group."""

    def multicast_code(self, n) -> str:
        return f"NICC_MULTICAST | ({sorted(self.pipeline.groups).index(n.attr('group'))} << 8)"

    def multicast_ret(self, n) -> str:
        code = self.multicast_code(n)
        return self.commit(f"({code})") if self.emitted else f"return {code};"

    def r_verdict_if(self, n, c):
        if n.attr("verdict") != "multicast":
            return super().r_verdict_if(n, c)
        self.emit_line(f"if ({cond(c)})")
        self.emit_line(f"    {self.multicast_ret(n)}")

    def r_verdict(self, n):
        if n.attr("verdict") != "multicast":
            return super().r_verdict(n)
        self.emit_line(self.multicast_ret(n))

    # -- hooks ------------------------------------------------------------------------------------
    def ret_code(self, outcome: str) -> str:
        return self.leave(f"NICC_{outcome.upper()}")

    def out_buffer(self) -> str:
        self.emit_line(f"uint8_t out[{max(1, self.max_out)}];")
        return "out"

    def reserve(self) -> None:
        if self.fits_in_place():
            return                            # never grows: the frame holds it already
        self.emit_line(f"if (42U + {self.out_len} > room)")
        self.emit_line(f"    {self.ret_code('unhandled')}          /* the new frame does not fit its buffer */")

    def commit(self, code: str) -> str:
        if self.in_place:
            return self.leave(f"{self.prefix}_finish(pkt, out_len, {self.out_len}, {code})")
        return self.leave(f"{self.prefix}_commit(pkt, room, out_len, out, {self.out_len}, {code})")

    # -- streams: records in the pipeline state, taken with an atomic exchange ---------------------------
    def record_lookup(self, stream, slot: str, rec: str) -> None:
        self.emit_line(f"{self.record_type(stream.name)} *{rec} = (uint64_t){slot} < {stream.slots}U ? "
                       f"&st->{stream.name}[{slot}] : NULL;")

    def take(self, rec: str) -> str:
        """One lcore (the caller says so in st->lcores) needs no busy word: an atomic exchange is a full
        barrier on x86, about a fifth of E4's time a tile."""
        return f"(st->lcores != 1 && __atomic_exchange_n(&{rec}->busy, 1, __ATOMIC_ACQUIRE))"

    def release(self, rec: str) -> str:
        return f"({rec} && st->lcores != 1 ? __atomic_store_n(&{rec}->busy, 0, __ATOMIC_RELEASE) : (void)0)"

    def read_view(self, stream, rec: str) -> str:
        """Reads go through a pointer never NULL: a slot out of range reads a zero record (no test in loops)."""
        zero = f"{self.prefix}_{stream.name}_zero"
        self.helpers.setdefault(zero, f"/* what a slot out of range reads: zeros */\n"
                                      f"static const {self.record_type(stream.name)} {zero};\n")
        rd = self.fresh(f"{rec}_rd")
        self.emit_line(f"const {self.record_type(stream.name)} *{rd} = {rec} ? {rec} : &{zero};")
        return rd

    def rom_ref(self, table: str) -> str:
        return self.table_name(table)

    # -- simd maps ----------------------------------------------------------------------------------
    def emit_fused(self, v: FusedMap, pos: str, buf: str, piece: Piece, endian: str, backward: bool) -> None:
        n = v.node
        if n.attr("schedule") != "simd":
            return super().emit_fused(v, pos, buf, piece, endian, backward)
        at = f"{buf} + {pos}" if pos != "0" else buf
        src: PacketArray = v.inputs[0]
        kernel = self.kernel(n, endian)
        code, fn = simd.render(kernel)
        self.kernels.append(code)
        self.uses_simd = True
        self.emit_line("if (nicc_simd_vbmi()) {")
        self.indent += 1
        self.emit_line(f"{fn}(io + {src.offset}, {at}, {v.count}, {int(backward)});")
        self.indent -= 1
        self.emit_line("} else {")
        self.indent += 1
        saved = n.attr("schedule")
        n.set_attr("schedule", "loop")
        try:
            super().emit_fused(v, pos, buf, piece, endian, backward)
        finally:
            n.set_attr("schedule", saved)
        self.indent -= 1
        self.emit_line("}")

    def vector_map(self, n, arrays, per_elem, outs) -> bool:
        if n.attr("schedule") != "vector":
            return False
        k = VectorMap(self, n, arrays, per_elem, outs, self.fresh(f"{self.prefix}_vmap"))
        try:
            code, call, guards = k.render(arrays[0].count)
        except Fallback as e:
            self.emit_line(f"/* the scalar loop only: {e} */")
            return False
        if k.planes.names and "planes" not in self.once:
            self.once.add("planes")
            self.vector_kernels.append(planes.HELPER)
        self.vector_kernels.append(code)
        self.uses_simd = True
        self.emit_line(f"if ({' && '.join(['nicc_simd_vbmi()'] + guards)}) {{")
        self.emit_line(f"    {call}")
        self.emit_line("} else {")
        self.indent += 1
        return True

    def emit_planes(self, v, st, at: str) -> bool:
        """A map's results of 2 to 4 one-byte fields (E4's RGB) written interleaved, 64 elements a step."""
        if not 2 <= len(st.fields) <= 4 or any(ft.nbytes != 1 for _, ft in st.fields):
            return False
        k = len(st.fields)
        fn = f"{self.prefix}_interleave{k}"
        if fn not in self.once:
            self.once.add(fn)
            self.vector_kernels.append(interleave(k, fn))
        self.uses_simd = True
        planes = ", ".join(f"(const uint8_t *){v.fields[f]}" for f, _ in st.fields)
        self.emit_line("if (nicc_simd_vbmi()) {")
        self.emit_line(f"    {fn}({at}, {planes}, {v.count});")
        self.emit_line("} else {")
        self.indent += 1
        return True

    def kernel(self, n, endian: str) -> simd.Kernel:
        src_struct = n.args[0].type.struct
        y = n.body.nodes[-1]
        out_struct = n.type.struct
        lookups = []
        for name, v in zip(y.attr("names"), y.args):
            e = v.args[0]
            tab = self.pipeline.tables[v.attr("table")]

            lookups.append(simd.Lookup(field_offset(src_struct, e.attr("field")),
                                       tuple(int(x) & ((1 << (8 * tab.out.nbytes)) - 1) for x in tab.values),
                                       field_offset(out_struct, name), tab.out.nbytes, endian))
        name = next((a.attr("name") for a in n.args if a.op is Op.ARRAY), "map")
        return simd.Kernel(f"{self.prefix}_{name}", src_struct.nbytes, out_struct.nbytes, tuple(lookups))

    # -- packet access ----------------------------------------------------------------------------
    def r_timestamp(self, n):
        self.uses_timestamp = True
        return self.define(n, "st->now_ns")

    # -- state: atomic, so that several lcores may share it -------------------------------------------
    def _slot(self, n) -> tuple[str, int, str]:
        s = self.pipeline.states[n.attr("state")]
        return f"st->{s.name}", s.size, self.ty(s.elem)

    def r_state_read(self, n, idx):
        arr, size, _ = self._slot(n)
        return self.define(n, f"((uint64_t){idx} < {size}U ? __atomic_load_n(&{arr}[{idx}], __ATOMIC_RELAXED) : 0)")

    def r_state_write(self, n, idx, val, cond):
        arr, size, _ = self._slot(n)
        self.emit_line(f"if ({cond} && (uint64_t){idx} < {size}U)")
        self.emit_line(f"    __atomic_store_n(&{arr}[{idx}], {val}, __ATOMIC_RELAXED);")
        return None

    def r_state_update_if(self, n, idx, val):
        arr, size, et = self._slot(n)
        cmp = n.attr("cmp")
        hit = self.fresh("hit")
        self.emit_line(f"bool {hit} = false;")
        self.emit_line(f"if ((uint64_t){idx} < {size}U) {{")
        self.indent += 1
        if cmp == "always":
            self.emit_line(f"__atomic_store_n(&{arr}[{idx}], {val}, __ATOMIC_RELAXED);")
            self.emit_line(f"{hit} = true;")
        else:
            old = self.fresh("old")
            # compare and store as one atomic step: retry while another lcore changes the slot meanwhile
            self.emit_line(f"{et} {old} = __atomic_load_n(&{arr}[{idx}], __ATOMIC_RELAXED);")
            self.emit_line(f"while ({val} {ATOMIC_CMP[cmp]} {old}) {{")
            self.emit_line(f"    if (__atomic_compare_exchange_n(&{arr}[{idx}], &{old}, {val}, false, "
                           "__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {")
            self.emit_line(f"        {hit} = true;")
            self.emit_line("        break;")
            self.emit_line("    }")
            self.emit_line("}")
        self.indent -= 1
        self.emit_line("}")
        return hit

    def loc_comment(self) -> str:
        loc = self.pipeline.loc
        return f"{os.path.basename(loc.file)}:{loc.line}" if loc else self.pipeline.name


# tables of more entries than this go into NAME_tables.c (as the IR text prints them as blobs)
OWN_FILE_ENTRIES = 4096


def render(pipeline: Pipeline) -> dict:
    """Everything the templates need, computed here (templates hold no logic)."""
    refuse_host_only(pipeline, DpdkRenderer.target_name)
    r = DpdkRenderer(pipeline)
    body = r.render_body()
    p = pipeline
    states = [dict(name=s.name, ctype=r.ty(s.elem), size=s.size, init=c_const(s.init, s.elem),
                   zero=(s.init == 0)) for s in p.states.values()]
    streams = [dict(name=s.name, type=r.record_type(s.name), slots=s.slots, members=record_members(s, r.ty))
               for s in p.streams.values()]
    helpers = list(r.helpers.values())
    if r.uses_simd:
        helpers = [simd.HELPERS] + r.kernels + helpers
    defs = dict(zip(p.tables, r.lut_definitions()))
    big = [t for t, tab in p.tables.items() if len(tab.values) > OWN_FILE_ENTRIES]
    luts = [d for t, d in defs.items() if t not in big]
    large = [defs[t].replace("static const", "const", 1) for t in big]
    externs = [f"extern const {r.ty(p.tables[t].out)} {r.table_name(t)}[{len(p.tables[t].values)}];" for t in big]
    mask = lambda fields: " | ".join(f"NICC_FIELD_{f.upper()}" for f in fields) or "0"     # noqa: E731
    groups = [dict(name=g, capacity=p.groups[g].capacity, rewrite=mask(p.groups[g].rewrite),
                   source=mask(p.groups[g].source)) for g in sorted(p.groups)]
    return dict(
        name=p.name, NAME=p.name.upper(), port=p.port, source=r.loc_comment(), groups=groups,
        body=body, helpers=helpers, luts=luts, large_tables=large, externs=externs,
        states=states, streams=streams, max_out=r.max_out, emits=r.emitted, in_place=r.in_place,
        emit_port=pipeline.emit().attr("port") if pipeline.emit() is not None else None,
        uses_simd=r.uses_simd, copies=r.emitted and not r.in_place, vector_kernels=r.vector_kernels,
    )


def u64(v: int) -> str:
    return c_const(v, Scalar("u", 64))

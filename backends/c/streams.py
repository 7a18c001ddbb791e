"""Streams, windows, scans and the host part in the C core (docs/streams.md), shared by XDP and DPDK.

:class:`StreamRules` is a mixin of :class:`~nicc.backends.c.core.CCore`. What the two C dialects share:

* a **stream** is one record per slot (``struct PREFIX_img``: a ``busy`` word, then the fields). A
  packet looks its record up once (the dialect's :meth:`record_lookup`: a BPF array map on XDP, an
  array in the pipeline state on DPDK) and takes its ``busy`` word with one atomic exchange; a packet
  finding it taken (another CPU works on that slot right now) passes unchanged, ``unhandled``. Every
  later way out releases it. A slot out of range reads zeros and stores nothing, as the reference
  interpreter does. An array field is read where it is, element by element, when nothing writes it
  before the read's last use; else it is copied first;
* ``rom`` is a constant table, placed where the lowering chose (``impl``: a ``static const`` array,
  XDP's ``.rodata``, or a read-only BPF array map of its own for large tables);
* ``range`` and ``gather``: element ``i`` of an array with ``i >= count`` reading 0, the bound written
  out (and, where a verifier must see it, the array's maximum too);
* ``scan``: a loop with carried state, ``max`` steps at most; carries are updated at the end of each
  step (all from the values before it), the ``put`` s store into an output array zeroed first, and a
  scan still running after ``max`` steps makes the packet malformed. The dialect runs the steps
  (:meth:`scan_loop`: a plain loop on DPDK, a ``bpf_loop`` callback on XDP);
* ``host_if``: the packet leaves unchanged with the ``host`` outcome (``NICC_HOST``); the runtime
  makes its payload with the host function (:mod:`nicc.runtime.hostpart`).
"""
from __future__ import annotations

import abc

from ...compiler.ir import Node, Op
from ...compiler.types import SCALARS, Scalar, Struct, U16, U32
from ..lowering import read_in_place
from .cstyle import C_KEYWORDS, wrap
from .values import ArrayVal, LocalArray, PacketArray, RangeArray, RomArray, ScanVal, StreamArray


def cfield(name: str) -> str:
    """A stream field's C member name (``busy`` and C keywords get a trailing underscore)."""
    return f"{name}_" if name in C_KEYWORDS or name == "busy" else name


def record_members(stream, ty) -> list[str]:
    """The member lines of a stream's record struct (``ty`` spells a scalar type in the dialect)."""
    members = [f"    {ty(U32)} busy;          /* taken by the packet working on this record */"]
    for f, t in stream.fields:
        if isinstance(t, Scalar):
            members.append(f"    {ty(t)} {cfield(f)};")
        elif isinstance(t.elem, Scalar):
            members.append(f"    {ty(t.elem)} {cfield(f)}[{t.max}];")
        else:                             # one array per member: loops over the elements read memory in order
            members += [f"    {ty(mt)} {cfield(f)}_{m}[{t.max}];" for m, mt in t.struct.fields]
    return members


def body_split(body_nodes: list[Node], seeds: tuple[Op, ...]) -> tuple[list[Node], list[Node]]:
    """(nodes that do not depend on a seed op's value, nodes that do), the final yield left out."""
    per: set[int] = set()
    for b in body_nodes:
        if b.op in seeds or b.op is Op.PUT or any(id(a) in per for a in b.args):
            per.add(id(b))
    body = [b for b in body_nodes if b.op is not Op.YIELD]
    return [b for b in body if id(b) not in per], [b for b in body if id(b) in per]


class StreamRules(abc.ABC):
    """r_stream_read ... r_host_if (see the module docstring); the hooks they call are the dialects'."""

    bound_to_max = False              # XDP: a gather's index is also checked against the array's maximum
    variable_memcpy = False           # DPDK: memcpy of a run-time length (eBPF has constant sizes only)
    held: list[str]                   # C expressions that release the stream records this packet holds

    def init_streams(self) -> None:
        self.held = []
        self.records: dict[tuple[str, str], str] = {}      # (stream, slot C expression) -> record pointer
        self.readers: dict[str, str | None] = {}           # record pointer -> a pointer reads may use
        self.uses_streams = False
        self.scans = 0

    # -- leaving: every way out releases the records taken ------------------------------------------
    def leave(self, expr: str) -> str:
        """``return expr;``, releasing the stream records this packet holds first."""
        if not self.held:
            return f"return {expr};"
        return f"return {', '.join(self.held)}, {expr};"

    # -- streams ----------------------------------------------------------------------------------
    def record_type(self, stream: str) -> str:
        return f"struct {self.prefix}_stream_{stream}"

    @abc.abstractmethod
    def record_lookup(self, stream, slot: str, rec: str) -> None:
        """Emit the lookup of record ``slot`` of ``stream`` into the pointer ``rec`` (NULL out of range)."""

    @abc.abstractmethod
    def take(self, rec: str) -> str:
        """A C condition that takes ``rec``'s busy word and is true when another packet holds it."""

    @abc.abstractmethod
    def release(self, rec: str) -> str:
        """A C expression that gives ``rec``'s busy word back."""

    def record(self, n: Node, slot: str) -> str:
        """The record pointer of ``n``'s stream at ``slot``: looked up and taken once per packet."""
        s = self.pipeline.streams[n.attr("stream")]
        key = (s.name, slot)
        if key in self.records:
            return self.records[key]
        if self.map_inputs or self.indent != 1 or getattr(self, "cb", None) is not None:
            raise self.refuse(n, "a stream access inside a map or scan body (its slot must not depend on the "
                                 "element: compute it before)")
        self.uses_streams = True
        rec = self.fresh(s.name if s.name.isidentifier() else "rec")
        self.record_lookup(s, slot, rec)
        self.emit_line(f"if ({rec} && {self.take(rec)})")
        self.emit_line(f"    {self.ret_code('unhandled')}          /* another CPU works on this stream now */")
        self.held.append(self.release(rec))
        self.records[key] = rec
        self.readers[rec] = self.read_view(s, rec)
        return rec

    def read_view(self, stream, rec: str) -> str | None:
        """A pointer that reads of ``rec`` may use without testing it (None: reads test it for NULL)."""
        return None

    def r_stream_read(self, n, slot):
        rec = self.record(n, slot)
        t = n.type
        f = cfield(n.attr("field"))
        rd = self.readers[rec]
        if isinstance(t, Scalar):
            return self.define(n, f"{rd}->{f}" if rd else f"({rec} ? {rec}->{f} : 0)")
        view = StreamArray(f"{t.max}U", t.struct, t.max, t.max, rec=rec, field=f, reader=rd)
        if read_in_place(self.pipeline, n)[0]:
            return view
        # a write to this field comes before a use of the read: copy the elements first
        outs = {m: self.local_array(self.ty(mt), self.fresh(f"{n.attr('field')}_{m}" if m != "_" else
                                                             n.attr("field")), t.max) for m, mt in t.struct.fields}

        def body(i):
            for m, _ in t.struct.fields:
                self.emit_line(f"{outs[m]}[{i}] = {self.elem_load(view, m, i, None)};")
        self.loop_max = t.max
        self.loop(f"{t.max}U", "loop", t.max, body)
        return LocalArray(f"{t.max}U", t.struct, t.max, t.max, fields=outs)

    def r_stream_write(self, n, slot, *rest):
        rec = self.record(n, slot)
        s = self.pipeline.streams[n.attr("stream")]
        t = s.field(n.attr("field"))
        f = cfield(n.attr("field"))
        c = rest[-1]
        when = rec if c in ("1", "true") else f"{wrap(c)} && {rec}"
        if isinstance(t, Scalar):
            self.emit_line(f"if ({when})")
            self.emit_line(f"    {rec}->{f} = {rest[0]};")
            return None
        off, arr = rest[0], rest[1]
        members = t.struct.fields
        u32 = self.ty(U32)
        copies = self.variable_memcpy and isinstance(arr, LocalArray) and not self.bound_to_max and \
            all(arr.struct.field(m) == mt for m, mt in members)     # a map's results: one copy per member
        if copies and arr.trip and self.ranges.of(n.args[1])[1] + arr.trip <= t.max:
            # a constant count that the value ranges show always fits from any offset: constant-size copies
            self.emit_line(f"if ({when}) {{")
            self.indent += 1
            self.copy_members(rec, f, off, arr, members, f"{arr.trip}U")
            self.indent -= 1
            self.emit_line("}")
            return None
        k = self.fresh("k")
        self.emit_line(f"if ({when} && {off} < {t.max}U) {{")
        self.indent += 1
        self.emit_line(f"{u32} {k} = {t.max}U - {off};")
        self.emit_line("")
        cnt = arr.count if arr.trip is None or arr.trip > 0 else "0U"
        self.emit_line(f"if ({cnt} < {k})")
        self.emit_line(f"    {k} = {cnt};")
        if arr.max < t.max:
            self.emit_line(f"if ({k} > {arr.max}U)")
            self.emit_line(f"    {k} = {arr.max}U;")
        if copies:
            self.copy_members(rec, f, off, arr, members, k)
            self.indent -= 1
            self.emit_line("}")
            return None

        def body(i):
            j = self.fresh("j")
            self.emit_line(f"{u32} {j} = {off} + {i};")
            self.emit_line("")
            if self.bound_to_max:
                self.emit_line(f"if ({j} >= {t.max}U)")
                self.emit_line("    break;")
            src = self.elem_ptr(arr, i, False) if isinstance(arr, PacketArray) and not arr.bounded else None
            for m, _ in members:
                dst = f"{rec}->{f}[{j}]" if m == "_" else f"{rec}->{f}_{m}[{j}]"
                self.emit_line(f"{dst} = {self.elem_load(arr, m, i, src)};")
        self.loop_max = min(arr.max, t.max)
        self.loop(k, "loop", None, body)
        self.indent -= 1
        self.emit_line("}")
        return None

    def copy_members(self, rec: str, f: str, off: str, arr: LocalArray, members, count: str) -> None:
        """``count`` elements of a map's results into the record's array ``f`` from ``off``: a memcpy per member."""
        for m, mt in members:
            dst = f"{rec}->{f}" if m == "_" else f"{rec}->{f}_{m}"
            self.emit_line(f"memcpy(&{dst}[{off}], {arr.fields[m]}, {count} * sizeof({self.ty(mt)}));")

    # -- constant tables, ranges, element reads ----------------------------------------------------
    def rom_ref(self, table: str) -> str:
        """The C array holding ``table`` (a dialect may look a map up here and give ``ptr->v``)."""
        return self.table_name(table)

    def r_rom(self, n):
        tab = self.pipeline.tables[n.attr("table")]
        k = len(tab.values)
        return RomArray(f"{k}U", n.type.struct, k, k, table=tab.name)

    def r_range(self, n, count):
        mx = n.attr("max")
        c = n.args[0]
        if c.op is Op.CONST:
            trip = max(0, min(c.attr("value"), mx))
            return RangeArray(f"{trip}U", n.type.struct, mx, trip)
        k = self.fresh("n_range")
        self.emit_line(f"{self.ty(U32)} {k} = {count} < {mx}U ? {count} : {mx}U;")
        return RangeArray(k, n.type.struct, mx)

    def stream_elem(self, arr: ArrayVal, fname: str, i: str) -> str:
        """Element ``i`` (in range) of a rom, range or stream array."""
        if isinstance(arr, RangeArray):
            return f"({self.ty(U16)}){i}"
        if isinstance(arr, RomArray):
            return f"{self.rom_ref(arr.table)}[{i}]"
        if arr.reader:
            return arr.member(arr.reader, fname, i)
        return f"({arr.rec} ? {arr.member(arr.rec, fname, i)} : 0)"

    def in_range(self, arr: ArrayVal, idx: str, node: Node | None = None) -> str:
        """The C condition that element ``idx`` exists (and, where a verifier needs it, is below the
        maximum); "1" where the index's interval shows it always does (no verifier to convince)."""
        k = arr.trip if arr.trip is not None else (arr.max if isinstance(arr, StreamArray) else None)
        if node is not None and k is not None and not self.bound_to_max and self.ranges.below(node, k) and \
                not (isinstance(arr, StreamArray) or "->" in self.rom_ref_if_map(arr)):
            return "1"
        conds = []
        if isinstance(arr, RomArray):
            conds.append(f"{idx} < {arr.count}")
            tab = self.pipeline.tables[arr.table]
            ref = self.rom_ref(tab.name)
            if "->" in ref:                       # a map value pointer: NULL only if the lookup failed
                conds.insert(0, ref.split("->")[0])
            return " && ".join(conds)
        if isinstance(arr, StreamArray):
            return f"{arr.rec} && {idx} < {arr.max}U"     # (read through the record pointer)
        conds.append(f"{idx} < {arr.count}")
        if self.bound_to_max and arr.count != f"{arr.max}U":
            conds.append(f"{idx} < {arr.max}U")
        return " && ".join(conds)

    def index_var(self, idx: str) -> str:
        """The index as the dialect wants it checked and used (XDP: one register for both)."""
        return idx

    def rom_ref_if_map(self, arr: ArrayVal) -> str:
        return self.rom_ref(arr.table) if isinstance(arr, RomArray) else ""

    def r_gather(self, n, arr: ArrayVal, idx):
        f = n.attr("field")
        t: Scalar = n.type
        if not (isinstance(arr, PacketArray) and self.needs_elem_ptr and getattr(self, "cb", None) is None):
            idx = self.index_var(idx)
        ok = self.in_range(arr, idx, n.args[1])
        if isinstance(arr, StreamArray):
            if arr.reader and not self.bound_to_max and self.ranges.below(n.args[1], arr.max):
                return self.define(n, arr.member(arr.reader, f, idx))
            ptr = arr.reader or arr.rec
            ok = f"{idx} < {arr.max}U" if arr.reader else ok
            return self.define(n, f"({ok} ? {arr.member(ptr, f, idx)} : 0)")
        if isinstance(arr, PacketArray) and not arr.bounded and self.needs_elem_ptr and \
                getattr(self, "cb", None) is None:
            # a pointer the verifier bounds (the check is never taken: the payload holds count elements)
            v = self.var(self.ty(t), "0", self.value_name_base(n))
            self.emit_line(f"if ({ok}) {{")
            self.indent += 1
            e = self.elem_ptr(arr, wrap(idx), False)
            self.emit_line(f"{v} = {self.elem_load(arr, f, idx, e)};")
            self.indent -= 1
            self.emit_line("}")
            return v
        ptr = None
        if isinstance(arr, PacketArray) and not arr.bounded:
            esz = arr.struct.nbytes
            ptr = f"io + {arr.offset} + {wrap(idx)} * {esz}" if esz > 1 else f"io + {arr.offset} + {wrap(idx)}"
        load = self.elem_load(arr, f, idx, ptr)
        return self.define(n, load if ok == "1" else f"({ok} ? {load} : 0)")

    # -- scans --------------------------------------------------------------------------------------
    def r_scan(self, n, *inits):
        names = n.attr("names")
        out_t = SCALARS[n.attr("out")]
        out_max = n.attr("out_max")
        hoisted, per_step = body_split(n.body.nodes, (Op.CARRY,))
        for b in hoisted:                       # what does not depend on a carry runs once, before the loop
            self.env[b] = self.run_node(b)
        self.scans += 1
        out = self.local_array(self.ty(out_t), self.fresh("scan_out" if self.scans == 1 else f"scan{self.scans}_out"),
                               max(1, out_max))
        self.zero_array(out, self.ty(out_t), max(1, out_max))
        carries = [(self.ty(a.type), self.fresh(name), init) for name, a, init in zip(names, n.args, inits)]
        y = n.body.nodes[-1]

        def step(carry_vars: list[str]):
            """Render one step with the carries in ``carry_vars``; returns (cont, next values)."""
            saved = dict(self.env)
            self.scan_ctx = (n, carry_vars, out, out_max)
            try:
                for b in per_step:
                    self.env[b] = self.run_node(b)
                self.rendered.add(Op.YIELD)
                vals = [str(self.env[a]) for a in y.args]
            finally:
                self.env = saved
                self.scan_ctx = None
            return vals[0], vals[1:]
        inner = {id(b) for b in per_step}
        outer = [a for b in per_step for a in b.args if id(a) not in inner and a.op is not Op.CARRY]
        finals = self.scan_loop(n, carries, step, outer)
        return ScanVal(dict(zip(names, finals)), LocalArray("0U", Struct((("_", out_t),)), out_max, fields={"_": out}))

    def zero_array(self, name: str, ctype: str, n: int) -> None:
        self.emit_line(f"memset({name}, 0, {n} * sizeof({ctype}));")

    def scan_loop(self, n: Node, carries: list[tuple[str, str, str]], step, captures=()) -> list[str]:
        """Run the scan's steps (a plain loop; dialects may differ); returns the final carries' C names.
        ``carries`` are (C type, name, initial value); ``step(names)`` renders one step and returns
        (cont, next values); ``captures`` are the outer values the step uses."""
        mx = n.attr("max")
        u32 = self.ty(U32)
        for ctype, name, init in carries:
            self.emit_line(f"{ctype} {name} = {init};")
        k = self.fresh("step")
        self.emit_line(f"{u32} {k};")
        self.emit_line("")
        self.emit_line(f"for ({k} = 0; {k} < {mx}U; {k}++) {{")
        self.indent += 1
        cont, nexts = step([c for _, c, _ in carries])
        more = self.fresh("more")
        self.emit_line(f"bool {more} = {cont};")
        self.assign_carries(carries, nexts, lambda c: c)
        self.emit_line(f"if (!{more})")
        self.emit_line("    break;")
        self.indent -= 1
        self.emit_line("}")
        self.emit_line(f"if ({k} == {mx}U)                   /* still running after {mx} steps */")
        self.emit_line(f"    {self.ret_code('malformed')}")
        return [c for _, c, _ in carries]

    def assign_carries(self, carries, nexts: list[str], dest) -> None:
        """``dest(carry) = next`` for every carry, each next value computed from the carries before the step."""
        names = {c for _, c, _ in carries}
        temps = {}
        for (ctype, c, _), v in zip(carries, nexts):
            if v in names and v != c:              # another carry's old value: keep it before it changes
                tmp = self.fresh(f"{v}_was")
                self.emit_line(f"{ctype} {tmp} = {v};")
                temps[v] = tmp
        for (_, c, _), v in zip(carries, nexts):
            if dest(c) != v:
                self.emit_line(f"{dest(c)} = {temps.get(v, v)};")

    def r_carry(self, n):
        return self.scan_ctx[1][n.attr("index")]

    def r_put(self, n, idx, val, cond):
        _, _, out, out_max = self.scan_ctx
        c = "" if cond in ("1", "true") else f"{wrap(cond)} && "
        self.emit_line(f"if ({c}{idx} < {out_max}U)")
        self.emit_line(f"    {out}[{idx}] = {val};")
        return None

    def r_get(self, n, s: ScanVal):
        return s.carries[n.attr("name")]

    def r_scan_out(self, n, s: ScanVal):
        cnt = s.carries[n.attr("count")]
        mx = n.type.max
        k = self.fresh("n_out")
        self.emit_line(f"{self.ty(U32)} {k} = {cnt} < {mx}U ? {cnt} : {mx}U;")
        return LocalArray(k, s.out.struct, mx, fields=s.out.fields)

    # -- the host part --------------------------------------------------------------------------------
    def r_host_if(self, n, c):
        hosts = {b.attr("host") for b in self.pipeline.body.walk() if b.op is Op.HOST_IF}
        if len(hosts) > 1:
            raise self.refuse(n, f"a second host function ({', '.join(sorted(hosts))}): the packet leaves with "
                                 "the outcome 'host', which does not say which one; use one host function")
        self.emit_line(f"if ({c})")
        self.emit_line(f"    {self.ret_code('host')}          /* unchanged: the host part makes its payload */")
        return None

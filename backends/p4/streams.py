"""Streams, windows and the host part on bmv2 (docs/streams.md); merged into :data:`.rules.P4_RULES`.

* A stream field is a register: a scalar field one cell per slot, an array field one register per
  struct member of ``slots * len`` cells (cell ``slot * len + i``). A slot out of range reads 0 and
  stores nothing. simple_switch runs ingress in one thread, so a packet's reads and writes of a record
  are never interleaved with another packet's.
* An array field is read where it is used (a register read per element used) when nothing writes it
  before its last use, else copied into variables first (:func:`nicc.backends.lowering.read_in_place`).
* ``rom`` is the table as a register initialized by the runtime (as ``lut`` tables are); ``gather``
  reads one cell, a payload array's element through a header-stack index, a map result's element by
  constant index, and is 0 past the count.
* ``range`` is a fixed list of constants, unrolled like any map input.
* ``host_if`` sends the packet, unchanged, to the host-part port; so does the point where a pipeline
  needs a loop (:func:`host_cut`): P4 has none.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...compiler.errors import NiccError
from ...compiler.ir import Block, Node, Op, Pipeline
from ...compiler.types import Scalar, Struct, U16
from ..lowering import read_in_place
from .layout import ArraySeg
from .rules import HOST_PART, ArrVal, fname, lit, p4_type, ranges, ulit

MAX_SELECT = 64                   # elements a variable index may choose among in map results


@dataclass
class RomVal:
    """A constant table (``rom``): a register the runtime fills."""
    table: str


@dataclass
class StreamView:
    """An array field of a stream record, read where it is used: register cell ``slot * max + i``."""
    stream: str
    field: str
    slot: str
    slot_t: Scalar
    max: int
    struct: Struct


def _u32(e: str, t: Scalar) -> str:
    return e if t.bits == 32 and not t.signed else f"(bit<32>){e}"


def _below(e: str, t: Scalar, k: int) -> str:
    return f"{e} < {lit(k, t)}" if t.fits(k) else "true"


def _stream_reg(w, s, f: str, m: str | None, t: Scalar, size: int) -> str:
    name = f"stream_{s.name}_{f}" + (f"_{m}" if m and m != "_" else "")
    return w.register(name, t, size)


def r_rom(w, n):
    return RomVal(n.attr("table"))


def r_range(w, n, count):
    mx = n.attr("max")
    c = n.args[0]
    if c.op is Op.CONST:
        k = max(0, min(c.attr("value"), mx))
        seg = ArraySeg(-1, n, 0, 0, k, False, c, k)
        return ArrVal(seg, f"32w{k}", [{"_": ulit(i, 16)} for i in range(k)], n.type.struct)
    ct: Scalar = c.type
    cnt = w.fresh("cnt")
    w.locals.append(("bit<32>", cnt))
    over = f"{count} > {lit(mx, ct)}" if ct.fits(mx) else "false"
    w.line(f"{cnt} = ({over}) ? 32w{mx} : {_u32(count, ct)};")
    seg = ArraySeg(-1, n, 0, 0, mx, True, c, mx)
    return ArrVal(seg, cnt, [{"_": ulit(i, 16)} for i in range(mx)], n.type.struct)


def value_range(w, n: Node) -> tuple[int, int]:
    """Bounds of ``n``'s value on every packet (:class:`nicc.backends.ranges.Ranges`)."""
    return ranges(w).of(n)


def r_gather(w, n, arr, idx):
    f = n.attr("field")
    t: Scalar = n.type
    it: Scalar = n.args[1].type
    const = n.args[1].attr("value") if n.args[1].op is Op.CONST else None
    lo, hi = value_range(w, n.args[1])
    if isinstance(arr, RomVal):
        tab = w.pipeline.tables[arr.table]
        reg = w.register(f"lut_{tab.name}", tab.out, len(tab.values), values=[int(v) for v in tab.values])
        ok = "true" if hi < len(tab.values) else _below(idx, it, len(tab.values))
        return _guarded_read(w, t, ok, reg, _u32(idx, it))
    if isinstance(arr, StreamView):
        return _element(w, n, arr, idx, f, hi)
    if const is not None:                  # a constant index: the element itself
        if const >= len(arr.elems):
            return lit(0, t)
        e = arr.elems[const][f]
        return e if not arr.seg.dynamic else w.define(t, f"({arr.count} > 32w{const}) ? {e} : {lit(0, t)}")
    if arr.stack is not None:              # a payload array: the header stack, indexed at run time
        return _element(w, n, arr, idx, f, hi)
    v = w.fresh("v")
    w.locals.append((p4_type(t), v))
    w.line(f"{v} = {lit(0, t)};")
    ok = f"{_below(idx, it, arr.seg.cap)} && {_u32(idx, it)} < {arr.count}"
    if arr.seg.node is not None and arr.seg.node.op is Op.RANGE:
        w.line(f"if ({ok}) {{ {v} = (bit<16>){idx}; }}" if it.bits != 16 else f"if ({ok}) {{ {v} = {idx}; }}")
        return v
    if len(arr.elems) > MAX_SELECT:
        raise w.refuse(n, f"an element of a map's result at an index known only at run time, among {len(arr.elems)} "
                          f"elements (the switch selects among at most {MAX_SELECT})")
    for i, el in enumerate(arr.elems):
        w.line(f"if ({ok} && {_u32(idx, it)} == 32w{i}) {{ {v} = {el[f]}; }}")
    return v


def _guarded_read(w, t: Scalar, ok: str, reg: str, cell: str) -> str:
    v = w.fresh("r")
    w.locals.append((f"bit<{t.bits}>", v))
    if ok == "true":
        w.line(f"{reg}.read({v}, {cell});")
    else:
        w.line(f"{v} = {ulit(0, t.bits)};")
        w.line(f"if ({ok}) {{ {reg}.read({v}, {cell}); }}")
    return w.define(t, f"(int<{t.bits}>){v}") if t.signed else v


def _element(w, n: Node, arr, idx: str, f: str, hi: int) -> str:
    """Field ``f`` of element ``idx`` of a header stack or a stream array: every field of the element is
    read under one check the first time (a struct's fields are usually all used), then reused."""
    it: Scalar = n.args[1].type
    cache = w.__dict__.setdefault("elements", {})
    key = (id(arr), idx, len(w.map_inputs), w.elem)
    if key not in cache:
        if isinstance(arr, StreamView):
            s = w.pipeline.streams[arr.stream]
            ok = _below(arr.slot, arr.slot_t, s.slots) + ("" if hi < arr.max else f" && {_below(idx, it, arr.max)}")
            cell = f"{_u32(arr.slot, arr.slot_t)} * 32w{arr.max} + {_u32(idx, it)}"
            reads = [(m, mt, f"{_stream_reg(w, s, arr.field, m, mt, s.slots * arr.max)}.read({{v}}, {cell});")
                     for m, mt in arr.struct.fields]
        else:
            ok = (f"{_below(idx, it, arr.seg.cap)} && " if hi >= arr.seg.cap else "") + f"{_u32(idx, it)} < {arr.count}"
            reads = [(m, mt, f"{{v}} = {arr.stack}[{_u32(idx, it)}].{fname(m)};") for m, mt in arr.struct.fields]
        vs = {}
        for m, mt, _ in reads:
            vs[m] = w.fresh("e")
            w.locals.append((f"bit<{mt.bits}>", vs[m]))
            w.line(f"{vs[m]} = {ulit(0, mt.bits)};")
        w.line(f"if ({ok}) {{")
        for m, _, stmt in reads:
            w.line("    " + stmt.format(v=vs[m]))
        w.line("}")
        cache[key] = {m: (w.define(mt, f"(int<{mt.bits}>){vs[m]}") if mt.signed else vs[m])
                      for m, mt, _ in reads}
    return cache[key][f]


def r_stream_read(w, n, slot):
    s = w.pipeline.streams[n.attr("stream")]
    f = n.attr("field")
    st: Scalar = n.args[0].type
    t = n.type
    if isinstance(t, Scalar):
        reg = _stream_reg(w, s, f, None, t, s.slots)
        return _guarded_read(w, t, _below(slot, st, s.slots), reg, _u32(slot, st))
    view = StreamView(s.name, f, slot, st, t.max, t.struct)
    if read_in_place(w.pipeline, n)[0]:
        return view
    return as_elements(w, view, n)


def as_elements(w, a, n: Node):
    """An array value whose elements are expressions (map inputs): a rom or stream view read in full."""
    if isinstance(a, ArrVal):
        return a
    if isinstance(a, RomVal):
        tab = w.pipeline.tables[a.table]
        size, st = len(tab.values), Struct((("_", tab.out),))
    else:
        size, st = a.max, a.struct
    if size > 1024:
        raise w.refuse(n, f"all {size} elements of a table or stream array as the input of a map (at most 1024 "
                          "register reads unrolled)")
    elems = []
    for i in range(size):
        el = {}
        for m, mt in st.fields:
            k = Node(Op.CONST, attrs={"value": i}, type=U16, loc=n.loc)
            g = Node(Op.GATHER, (n, k), {"field": m}, mt, n.loc)
            el[m] = r_gather(w, g, a, ulit(i, 16))
        elems.append(el)
    seg = ArraySeg(-1, None, 0, 0, size, False, None, size)
    return ArrVal(seg, f"32w{size}", elems, st)


def r_stream_write(w, n, slot, *rest):
    s = w.pipeline.streams[n.attr("stream")]
    f = n.attr("field")
    st: Scalar = n.args[0].type
    t = s.field(f)
    cond = rest[-1]
    ok = f"{cond} && {_below(slot, st, s.slots)}"
    if isinstance(t, Scalar):
        reg = _stream_reg(w, s, f, None, t, s.slots)
        w.line(f"if ({ok}) {{ {reg}.write({_u32(slot, st)}, {_cell(t, rest[0])}); }}")
        return None
    off, arr = rest[0], as_elements(w, rest[1], n.args[2])
    ot: Scalar = n.args[1].type
    base = w.fresh("cell")
    w.locals.append(("bit<32>", base))
    w.line(f"{base} = {_u32(slot, st)} * 32w{t.max} + {_u32(off, ot)};")
    lo, hi = value_range(w, n.args[1])
    for i, el in enumerate(arr.elems):
        if i >= t.max:
            break
        guard = ok + ("" if hi < t.max - i else f" && {_below(off, ot, t.max - i)}") + \
            (f" && {arr.count} > 32w{i}" if arr.seg.dynamic else "")
        w.line(f"if ({guard}) {{")
        for m, mt in t.struct.fields:
            reg = _stream_reg(w, s, f, m, mt, s.slots * t.max)
            w.line(f"    {reg}.write({base} + 32w{i}, {_cell(mt, el[m])});")
        w.line("}")
    return None


def _cell(t: Scalar, e: str) -> str:
    if t.kind == "bool":
        return f"(bit<1>)({e})"
    return f"(bit<{t.bits}>){e}" if t.signed else e


def r_host_if(w, n, c):
    w.open_check(c, HOST_PART)


def r_loop(w, n, *args):
    """A scan and what lives in or reads it: the host cut stops the switch's part before them."""
    raise w.refuse(n, "P4 has no loops (a scan runs in the host part, after the host cut)")


STREAM_P4_RULES = {Op.ROM: r_rom, Op.RANGE: r_range, Op.GATHER: r_gather, Op.STREAM_READ: r_stream_read,
                   Op.STREAM_WRITE: r_stream_write, Op.HOST_IF: r_host_if,
                   **{op: r_loop for op in (Op.SCAN, Op.CARRY, Op.PUT, Op.GET, Op.SCAN_OUT)}}


# -- the host cut: where a pipeline needs what the switch has not ----------------------------------

NO_SWITCH = {Op.SCAN: "P4 has no loops"}
KEEP = (Op.REJECT_IF, Op.VERDICT_IF, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.STREAM_WRITE, Op.HOST_IF)


def host_cut(p: Pipeline) -> tuple[Pipeline, str] | None:
    """The NIC part and the reason, when ``p`` has a top-level node the switch cannot run: the nodes
    before it that effects need (the checks), then every packet still undecided goes to the host part,
    unchanged, where the runtime runs the whole pipeline (reference semantics). None if no cut."""
    nodes = p.body.nodes
    k = next((i for i, n in enumerate(nodes) if n.op in NO_SWITCH), None)
    if k is None:
        return None
    n = nodes[k]
    where = f"{n.loc.file.rsplit('/', 1)[-1]}:{n.loc.line}"
    if p.stateful:
        raise NiccError(f"bmv2 cannot compile {n.op.value}: {NO_SWITCH[n.op]}, and its packets would go to the "
                        "host part, which would need the switch's state", n.loc)
    need: set[int] = set()
    kept = []
    for b in reversed(nodes[:k]):
        if b.op in KEEP or id(b) in need:
            kept.append(b)
            for x in ([b] + (list(b.body.walk()) if b.body else [])):
                need.update(id(a) for a in x.args)
    kept.reverse()
    nic = Pipeline(p.name, p.port, Block(kept), p.tables, p.states, p.groups, p.loc, p.streams, p.hosts)
    why = (f"the {n.op.value} at {where} cannot run in the switch: {NO_SWITCH[n.op]}, and this one takes up to "
           f"{n.attr('max')} steps a packet (recirculating would take a pass through the switch per step); "
           f"packets that pass the checks before it leave the switch unchanged on the host-part port, and the "
           f"runtime runs the pipeline on them in the host (host/NIC split)")
    return nic, why

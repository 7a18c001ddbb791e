"""The DSL for work that spans packets or loops over bytes (docs/streams.md).

    img = nd.stream("img", slots=64, image_id=nd.u32, next_row=nd.u16, h=nd.array(HPix, 224))
    s = img[rec.image_id & 63]                # the record of this packet's stream
    s.expect(restart=first, image_id=rec.image_id, next_row=rec.row)   # out of sequence: malformed
    prev = s.h                                # the stored array (a value: later writes do not change it)
    s.h.write_at(ox0, hnew)                   # store an array at an offset
    s.next_row = rec.row + 1                  # store a scalar

    COL = nd.rom(plan.col_ofs, nd.u16, name="col_ofs")   # a constant table read as an array
    px = rec.pixels[COL[dx] - rec.x0]         # windowed access: gather at a computed index

    res = nd.scan(step, max_steps=10002, out=nd.u16, out_max=500, count="n", n=nd.const(0, nd.u16), ...)
    res.n, res.out                            # final carries, the output array
"""
from __future__ import annotations

import numpy as np

from ..compiler.errors import NiccError, SourceLoc, user_loc
from ..compiler.ir import Host, Op, Stream, Table
from ..compiler.typecheck_streams import ScanScope
from ..compiler.types import Array, BOOL, U16, U32, Scalar
from .schema import ArraySpec
from .tracer import ArrayValue, Value, as_value, traced_value, tracer
from .ops import const, reject_if


class StreamDef:
    """``slots`` records kept across packets, each of scalar fields and fixed arrays (initially zero)."""

    def __init__(self, name: str, slots: int, fields: dict, loc: SourceLoc):
        self.name, self.slots, self.loc = name, slots, loc
        self.fields = {}
        for f, spec in fields.items():
            if isinstance(spec, ArraySpec):
                if spec.n is None:
                    raise NiccError(f"stream field '{f}' must be a fixed-length array (nd.array(T, n))", loc)
                self.fields[f] = Array(spec.elem, spec.n)
            elif isinstance(spec, Scalar) and spec.is_int:
                self.fields[f] = spec
            else:
                raise NiccError(f"stream field '{f}' must be an integer type or a fixed array, got {spec!r}", loc)

    def _register(self):
        tr = tracer()
        have = tr.pipeline.streams.get(self.name)
        if have is None:
            tr.pipeline.streams[self.name] = Stream(self.name, tuple(self.fields.items()), self.slots, self.loc)
        elif have.fields != tuple(self.fields.items()) or have.slots != self.slots:
            raise NiccError(f"two different streams are named '{self.name}'", user_loc())
        return tr

    def __getitem__(self, slot) -> "Slot":
        self._register()
        return Slot(self, as_value(slot))


def stream(name: str, slots: int | None = None, **fields) -> StreamDef:
    loc = user_loc()
    if not isinstance(slots, int) or not 1 <= slots <= 1 << 20:
        raise NiccError(f"stream '{name}' needs slots=N (1..1048576): NIC state is bounded", loc)
    if not fields:
        raise NiccError(f"stream '{name}' has no fields", loc)
    return StreamDef(name, slots, fields, loc)


class StreamArray(ArrayValue):
    """An array field as read from a stream record; ``write_at`` stores into the record."""

    __slots__ = ("_where",)

    def write_at(self, offset, values: ArrayValue, when=True) -> None:
        """Store ``values``' elements at ``offset``, ``offset + 1``...; positions past the field are dropped."""
        sd, slot, field = self._where
        if not isinstance(values, ArrayValue):
            raise NiccError(f"write_at stores an array, got {values!r}", user_loc())
        tracer().add(Op.STREAM_WRITE, (slot, _u(offset), values, as_value(when)),
                     {"stream": sd.name, "field": field})


def _u(v, t: Scalar = U16) -> Value:
    return v if isinstance(v, Value) else const(v, t)


class Slot:
    """The record of one stream slot: read fields as attributes, assign to write them."""

    def __init__(self, sd: StreamDef, slot: Value):
        object.__setattr__(self, "_sd", sd)
        object.__setattr__(self, "_slot", slot)

    def _field(self, name: str):
        sd = object.__getattribute__(self, "_sd")
        if name not in sd.fields:
            raise NiccError(f"stream '{sd.name}' has no field '{name}' (fields: {', '.join(sd.fields)})", user_loc())
        return sd, sd.fields[name]

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        sd, t = self._field(name)
        slot = object.__getattribute__(self, "_slot")
        n = tracer().add(Op.STREAM_READ, (slot,), {"stream": sd.name, "field": name})
        if isinstance(t, Array):
            v = StreamArray(n)
            v._where = (sd, slot, name)
            return v
        return traced_value(n)

    def __setattr__(self, name: str, value) -> None:
        self.write(**{name: value})

    def write(self, when=True, **fields) -> None:
        """Store scalar fields (all under one condition)."""
        slot = object.__getattribute__(self, "_slot")
        for name, v in fields.items():
            sd, t = self._field(name)
            if isinstance(t, Array):
                raise NiccError(f"'{name}' is an array field: store into it with .{name}.write_at(offset, values)",
                                user_loc())
            v = v if isinstance(v, Value) else const(v, t)
            tracer().add(Op.STREAM_WRITE, (slot, v, as_value(when)), {"stream": sd.name, "field": name})

    def expect(self, restart=False, **fields) -> None:
        """In-sequence check: unless ``restart``, every named field must equal the given value; a packet
        that fails passes to the host unchanged (malformed) and no later effect happens."""
        ok = as_value(restart)
        same = None
        for name, want in fields.items():
            have = getattr(self, name)
            eq = have == want
            same = eq if same is None else same & eq
        if same is not None:
            ok = ok | same
        reject_if(~ok)


class Rom:
    """A constant table read as an array: ``tab[i]`` is its element ``i`` (0 past the end)."""

    def __init__(self, values, elem: Scalar, name: str, loc: SourceLoc):
        arr = np.asarray(values)
        if arr.ndim != 1 or not len(arr):
            raise NiccError("rom values must be a non-empty 1-D sequence", loc)
        if arr.dtype.kind not in "iub" or int(arr.min()) < elem.lo or int(arr.max()) > elem.hi:
            raise NiccError(f"rom values must be integers in {elem}'s range", loc)
        self.values, self.elem, self.name, self.loc = arr.astype(elem.dtype), elem, name, loc

    def array(self) -> ArrayValue:
        tr = tracer()
        have = tr.pipeline.tables.get(self.name)
        if have is None:
            tr.pipeline.tables[self.name] = Table(self.name, U32, self.elem, self.values, self.loc)
        elif have.values is not self.values:
            raise NiccError(f"two different tables are named '{self.name}'", user_loc())
        return traced_value(tr.add(Op.ROM, (), {"table": self.name}))

    def __getitem__(self, i) -> Value:
        return self.array()[i]

    def __len__(self) -> int:
        return len(self.values)


def rom(values, elem: Scalar, name: str) -> Rom:
    loc = user_loc()
    if not isinstance(elem, Scalar) or not elem.is_int:
        raise NiccError(f"rom elements must be an integer type, got {elem!r}", loc)
    return Rom(values, elem, name, loc)


def range_(count, max: int) -> ArrayValue:
    """The array 0, 1, ..., count - 1 (u16, at most ``max`` elements): a bounded loop index."""
    return traced_value(tracer().add(Op.RANGE, (_u(count),), {"max": int(max)}))


class Carries:
    """Inside a scan body: the current carries as attributes; ``put`` writes the output array."""

    def __init__(self, values: dict[str, Value]):
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Value:
        vals = object.__getattribute__(self, "_values")
        if name not in vals:
            raise NiccError(f"scan has no carry '{name}' (carries: {', '.join(vals)})", user_loc())
        return vals[name]

    def put(self, index, value, when=True) -> None:
        """``out[index] = value`` when ``when`` (indices past out_max are not written)."""
        tracer().add(Op.PUT, (_u(index), as_value(value), as_value(when)))


class ScanResult:
    """A scan's final carries (``res.name``) and, when it has one, its output array (``res.out``)."""

    def __init__(self, node, count: str | None):
        self._node, self._count = node, count

    def __getattr__(self, name: str) -> Value:
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "out":
            if self._count is None:
                raise NiccError("this scan declared no count=: name the carry that counts its output", user_loc())
            return traced_value(tracer().add(Op.SCAN_OUT, (self._node,), {"count": self._count}))
        return traced_value(tracer().add(Op.GET, (self._node,), {"name": name}))


def scan(step, *, max_steps: int, out: Scalar = U16, out_max: int = 0, count: str | None = None,
         **inits) -> ScanResult:
    """A loop with carried state, at most ``max_steps`` steps (a packet still running then is malformed).

    ``step(c)`` gets the current carries (``c.pos``...) and returns a dict with ``cont`` (bool: run
    another step) and the new value of any carry it changes; ``c.put(i, v, when)`` writes ``out[i]``.
    """
    tr = tracer()
    loc = user_loc()
    if not inits:
        raise NiccError("a scan needs at least one carry (name=initial value)", loc)
    names = tuple(inits)
    vals = [v if isinstance(v, Value) else None for v in inits.values()]
    if any(v is None for v in vals):
        raise NiccError("scan initial values must be traced values (use nd.const(v, type))", loc)
    if count is not None and count not in names:
        raise NiccError(f"count='{count}' names no carry", loc)
    scope = ScanScope(None, [v.type for v in vals], out)
    with tr.scope(scope) as body:
        cur = {name: tr.value(Op.CARRY, (), {"index": i}, v.type, loc) for i, (name, v) in enumerate(zip(names, vals))}
        res = step(Carries(cur))
        if not isinstance(res, dict) or "cont" not in res:
            raise NiccError("a scan step returns a dict with 'cont' and the carries it changes", loc)
        unknown = set(res) - set(names) - {"cont"}
        if unknown:
            raise NiccError(f"scan step returns unknown carries: {', '.join(sorted(unknown))}", loc)
        new = [as_value(res.get(name, cur[name]), cur[name]) for name in names]
        tr.add(Op.YIELD, [as_value(res["cont"])] + new, {"names": ("cont",) + names}, loc=loc)
    node = tr.add(Op.SCAN, vals, {"max": int(max_steps), "names": names, "out": str(out), "out_max": int(out_max)},
                  loc=loc, body=body)
    return ScanResult(node, count)


class HostFn:
    """A host function ``ref`` = ``"module:attr"``, called as ``fn(payload, *args) -> payload | None``."""

    def __init__(self, name: str, ref: str, args: tuple[str, ...], loc: SourceLoc):
        self.name, self.ref, self.args, self.loc = name, ref, args, loc


def host(name: str, ref: str, *args: str) -> HostFn:
    loc = user_loc()
    if ":" not in ref or not all(isinstance(a, str) for a in args):
        raise NiccError("host(name, 'module:function', *string_args)", loc)
    return HostFn(name, ref, args, loc)


def host_if(cond, fn: HostFn) -> None:
    """Where ``cond``: the packet leaves, passed to the host, with the payload ``fn`` makes of it."""
    tr = tracer()
    if not isinstance(fn, HostFn):
        raise NiccError(f"host_if needs an nd.host(...) function, got {fn!r}", user_loc())
    tr.pipeline.hosts.setdefault(fn.name, Host(fn.name, fn.ref, fn.args, fn.loc))
    tr.add(Op.HOST_IF, (as_value(cond),), {"host": fn.name})


__all__ = ["stream", "rom", "range_", "scan", "host", "host_if", "BOOL"]

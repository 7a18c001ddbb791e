"""The DSL's operations beyond operators: tables, hashing, arrays, state, verdicts."""
from __future__ import annotations

import math
import numbers
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..compiler.errors import NiccError, SourceLoc, user_loc
from ..compiler.groups import Addr, Member, make_addr
from ..compiler.ir import Group, Op, State, Table
from ..compiler.types import BOOL, F16, Scalar, U32
from .tracer import ArrayValue, Value, as_value, trace_map, tracer


def const(v: int, t: Scalar) -> Value:
    """A typed constant."""
    if not isinstance(t, Scalar):
        raise NiccError(f"nd.const needs a scalar type such as nd.u16, got {t!r}", user_loc())
    if not isinstance(v, numbers.Integral):
        raise NiccError(f"nd.const needs an integer, got {type(v).__name__} {v!r}", user_loc())
    return as_value(int(v), _OfType(t))


class _OfType:
    """Stands in for a value of type ``t`` where ``as_value`` wants one to type a constant."""

    def __init__(self, t):
        self.type = t


def where(cond, a, b) -> Value:
    """Per-packet choice: ``a`` where ``cond`` holds, else ``b`` (no branching in Python)."""
    c = as_value(cond)
    if isinstance(a, Value):
        b = as_value(b, a)
    elif isinstance(b, Value):
        a = as_value(a, b)
    else:
        raise NiccError("where() needs at least one traced value among its branches", user_loc())
    return tracer().value(Op.SELECT, (c, a, b))


@contextmanager
def overflow(mode: str):
    """Within the block, +, -, * and narrowing casts ``wrap`` (default) or ``sat``urate."""
    if mode not in ("wrap", "sat"):
        raise NiccError(f"overflow mode must be 'wrap' or 'sat', got {mode!r}", user_loc())
    tr = tracer()
    old, tr.overflow = tr.overflow, mode
    try:
        yield
    finally:
        tr.overflow = old


class Lut:
    """An exact lookup table made by evaluating ``fn`` over every value of ``domain`` at compile time.

        norm_r = nd.lut(lambda x: (x / 255 - 0.485) / 0.229, domain=nd.u8, out=nd.f16)
        y = norm_r(px.r)          # one table read on the NIC, bit-exact with fn

    ``fn`` may use any Python or numpy; float results are rounded once to ``out``
    (``f16``: IEEE half, round-to-nearest-even, as numpy and torch do).
    """

    def __init__(self, fn, domain: Scalar, out: Scalar, name: str | None, loc: SourceLoc):
        self.fn, self.domain, self.out, self.loc = fn, domain, out, loc
        self.name = name or (fn.__name__ if getattr(fn, "__name__", "<lambda>") != "<lambda>" else None)
        self._values: np.ndarray | None = None

    def values(self) -> np.ndarray:
        if self._values is None:
            self._values = _tabulate(self.fn, self.domain, self.out, self.loc)
        return self._values

    def __call__(self, x) -> Value:
        tr = tracer()
        x = as_value(x)
        name = tr.lut_ids.get(id(self))
        if name is None:
            base = self.name or "lut"
            name, i = base, 0
            while name in tr.pipeline.tables:
                i += 1
                name = f"{base}_{i}"
            tr.pipeline.tables[name] = Table(name, self.domain, self.out, self.values(), self.loc)
            tr.lut_ids[id(self)] = name
        return tr.value(Op.LUT, (x,), {"table": name})


def _is_number(r) -> bool:
    if isinstance(r, (np.generic, np.ndarray)):
        return r.dtype.kind in "biuf" and r.ndim == 0
    return isinstance(r, numbers.Real)


def _tabulate(fn, domain: Scalar, out: Scalar, loc: SourceLoc) -> np.ndarray:
    xs = np.arange(domain.lo, domain.hi + 1, dtype=np.int64).astype(domain.dtype)
    try:
        res = [fn(x) for x in xs]
    except NiccError:
        raise
    except Exception as e:
        raise NiccError(f"lut function failed on the domain {domain}: {type(e).__name__}: {e}", loc) from None
    bad = next((i for i, r in enumerate(res) if not _is_number(r)), None)
    if bad is not None:
        r = res[bad]
        raise NiccError(f"lut function must return numbers, got {'None' if r is None else type(r).__name__} "
                        f"for input {int(xs[bad])} (result {r!r})", loc)
    arr = np.asarray(res)
    if arr.shape != (len(xs),):
        raise NiccError(f"lut function must return one number per input, got shape {arr.shape[1:]}", loc)
    if out == F16:
        return np.asarray(arr, dtype=np.float16).view(np.uint16)
    if arr.dtype.kind == "f":
        raise NiccError(f"lut function returns floats but out={out}: declare out=nd.f16, or round to integers", loc)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.min() < out.lo or arr.max() > out.hi:
        raise NiccError(f"lut results {int(arr.min())}..{int(arr.max())} do not fit {out}", loc)
    return arr.astype(out.dtype)


def lut(fn, domain: Scalar, out: Scalar, name: str | None = None) -> Lut:
    loc = user_loc()
    if not isinstance(domain, Scalar) or not domain.is_int or domain.bits > 16:
        raise NiccError(f"lut domain must be an integer type of at most 16 bits (a table of at most 65536 entries), "
                        f"got {domain!r}", loc)
    if not isinstance(out, Scalar) or out == BOOL:
        raise NiccError(f"lut out must be an integer type or nd.f16, got {out!r}", loc)
    return Lut(fn, domain, out, name, loc)


def bucketize(x, boundaries) -> Value:
    """Number of boundaries ``<= x`` (numpy ``searchsorted(boundaries, x, side='right')``), as u8.

    Boundaries may be floats: for an integer ``x``, ``b <= x`` exactly when ``ceil(b) <= x``, so
    each boundary is kept as the exact integer threshold ``ceil(b)`` (``[0.5, 1.5, 2.5]`` puts
    0, 1, 2, 3 into buckets 0, 1, 2, 3, as numpy does).
    """
    loc = user_loc()
    x = as_value(x)
    if isinstance(boundaries, (str, bytes)) or not hasattr(boundaries, "__iter__"):
        raise NiccError(f"bucketize boundaries must be a list of numbers, got {type(boundaries).__name__}", loc)
    raw = [b.item() if isinstance(b, (np.generic, np.ndarray)) and np.ndim(b) == 0 and b.dtype.itemsize <= 8
           else b for b in boundaries]
    for b in raw:
        if isinstance(b, bool) or not _is_number(b):
            raise NiccError(f"bucketize boundaries must be numbers, got {type(b).__name__} {b!r}", loc)
        if not isinstance(b, numbers.Integral) and not math.isfinite(b):
            raise NiccError(f"bucketize boundary {b!r} is not a finite number", loc)
    if any(a > b for a, b in zip(raw, raw[1:])):
        raise NiccError("bucketize boundaries must be 1..255 sorted values (numpy's searchsorted needs them "
                        f"in ascending order), got {list(raw)}", loc)
    t = x.type
    if isinstance(t, Scalar) and t.is_int and t.bits == 64 and any(
            not isinstance(b, numbers.Integral) and abs(b) >= 2 ** 53 for b in raw):
        raise NiccError("bucketize of a 64-bit value with float boundaries of 2**53 or more: numpy compares "
                        "such values after rounding x to a float64, not exactly; give the boundaries as integers",
                        loc)
    bounds = tuple(int(b) if isinstance(b, numbers.Integral) else _ceil(b) for b in raw)
    return tracer().value(Op.BUCKETIZE, (x,), {"boundaries": bounds})


def _ceil(b) -> int:
    """The least integer >= ``b``, exactly (a float, a numpy float of any width, a Fraction...)."""
    return int(np.ceil(b)) if isinstance(b, np.floating) else math.ceil(b)


def timestamp() -> Value:
    """The packet's arrival time in ns (u64): the data plane's clock (CLOCK_REALTIME on the machine), or
    the capture's timestamp when frames come from a capture."""
    return tracer().value(Op.TIMESTAMP, ())


def crc32(x) -> Value:
    """``zlib.crc32`` of ``x``'s big-endian bytes, as u32."""
    return tracer().value(Op.CRC32, (as_value(x),))


def map(fn, *arrays: ArrayValue) -> ArrayValue:
    """Element-wise ``fn`` over one or more arrays of one length; a bounded loop on the NIC.

    ``fn`` receives one element per array (a value, or an element with a field per struct
    member) and returns a value, a tuple, or a dict naming the result's fields.
    """
    return trace_map(fn, *arrays)


class StateArray:
    """Keyed per-flow state: ``size`` slots of ``elem``, kept across packets (initially 0).

        seen = nd.state("seen", nd.u64, size=16384)
        old = seen[slot]; seen[slot] = v          # read, write
        fresh = seen.update_if(slot, v, "gt")     # atomically: if v > old, store v; returns whether stored

    Out-of-range indices read 0 and write nothing.
    """

    def __init__(self, name: str, elem: Scalar, size: int, loc: SourceLoc):
        self.name, self.elem, self.size, self.loc = name, elem, size, loc

    def _register(self):
        tr = tracer()
        have = tr.pipeline.states.get(self.name)
        if have is None:
            tr.pipeline.states[self.name] = State(self.name, self.elem, self.size, self.loc)
        elif (have.elem, have.size) != (self.elem, self.size):
            raise NiccError(f"two different states are named '{self.name}'", user_loc())
        return tr

    def _index(self, idx) -> Value:
        """A traced index, or a Python int as a u32 constant (checked against the size when traced)."""
        if isinstance(idx, numbers.Integral) and not isinstance(idx, bool) and 0 <= idx <= U32.hi:
            return as_value(int(idx), _OfType(U32))
        if isinstance(idx, numbers.Integral) and not isinstance(idx, bool):
            raise NiccError(f"state index {idx} is out of range for @{self.name} (size {self.size})", user_loc())
        return as_value(idx)

    def __getitem__(self, idx) -> Value:
        tr = self._register()
        return tr.value(Op.STATE_READ, (self._index(idx),), {"state": self.name})

    def __setitem__(self, idx, v):
        self.write(idx, v)

    def write(self, idx, v, when=True):
        tr = self._register()
        v = as_value(v, _OfType(self.elem))
        tr.add(Op.STATE_WRITE, (self._index(idx), v, as_value(when)), {"state": self.name})

    def update_if(self, idx, v, cmp: str = "gt") -> Value:
        """Store ``v`` if ``v <cmp> old`` (cmp in eq ne lt le gt ge always); return whether it was stored."""
        tr = self._register()
        v = as_value(v, _OfType(self.elem))
        return tr.value(Op.STATE_UPDATE_IF, (self._index(idx), v), {"state": self.name, "cmp": cmp})


def state(name: str, elem: Scalar, size: int | None = None) -> StateArray:
    loc = user_loc()
    if size is None:
        raise NiccError(f"state '{name}' has no size: NIC state is a bounded array, give size=N", loc)
    if not isinstance(size, int) or not (1 <= size <= 1 << 24):
        raise NiccError(f"state size must be 1..16777216, got {size!r}", loc)
    if not isinstance(elem, Scalar) or not elem.is_int:
        raise NiccError(f"state element must be an integer type, got {elem!r}", loc)
    return StateArray(name, elem, size, loc)


def member(port: int, mac: str | None = None, ip: str | None = None, udp: int | None = None) -> Member:
    """One member of a multicast group: its egress port and, optionally, the destination its copy is
    rewritten to (``mac="02:6e:69:02:00:01"``, ``ip="10.2.0.1"``, ``udp=9100``)."""
    loc = user_loc()
    if isinstance(port, bool) or not isinstance(port, numbers.Integral) or not 0 <= port <= 0xFFFF:
        raise NiccError(f"a group member's port must be a port number 0..65535, got {port!r}", loc)
    return Member(int(port), make_addr(mac, ip, udp, what="group member", loc=loc))


def addr(mac: str | None = None, ip: str | None = None, udp: int | None = None) -> Addr:
    """Source addresses every copy of a group leaves with (the sending node's own): ``src=nd.addr(...)``."""
    return make_addr(mac, ip, udp, what="group source", loc=user_loc())


def group(name: str, members=None, *, max: int | None = None, rewrite=None, source=None,
          src: Addr | None = None) -> str:
    """Declare a multicast group (inside the pipeline function); returns its name for nd.multicast.

        nd.group("g", [1, 2, 3])                              # identical copies to ports 1, 2, 3
        nd.group("kids", [nd.member(0, mac=..., ip=..., udp=9100), ...], src=nd.addr(ip="10.1.0.1"))
        nd.group("kids", max=32, rewrite="mac ip udp", source="mac ip")   # members given per node at load time

    Copies leave in member order; a member with addresses gets a copy rewritten to them (see
    :mod:`nicc.compiler.groups`)."""
    tr = tracer()
    loc = user_loc()
    if max is None:
        given = list(members) if hasattr(members, "__iter__") and not isinstance(members, (str, bytes)) else None
        if given is None or any(not isinstance(m, Member) and (isinstance(m, bool) or not isinstance(
                m, numbers.Integral) or m < 0) for m in given):
            raise NiccError(f"multicast group ports must be a list of port numbers or nd.member(...), "
                            f"got {members!r}", loc)
        if not given:
            raise NiccError("a multicast group needs at least one port", loc)
        given = [m if isinstance(m, Member) else Member(int(m)) for m in given]
        rewrite = given[0].dst.fields if rewrite is None else rewrite
        source = (src.fields if src is not None else ()) if source is None else source
    else:
        if members is not None:
            raise NiccError(f"group '{name}' is sized (max={max}): its members are given per node at load time, "
                            "not here", loc)
        given = []
    if src is not None and not isinstance(src, Addr):
        raise NiccError(f"src= takes nd.addr(mac=..., ip=..., udp=...), got {src!r}", loc)
    if name in tr.pipeline.groups:
        raise NiccError(f"multicast group '{name}' is declared twice", loc)
    tr.pipeline.groups[name] = Group(name, tuple(given), loc, max=max, rewrite=rewrite or (), source=source or (),
                                     src=src)
    return name


def reject_if(cond) -> None:
    """Treat the packet as malformed when ``cond``: it passes to the host unchanged, counted."""
    tracer().add(Op.REJECT_IF, (as_value(cond),))


def _verdict_if(verdict: str, cond, group: str = "none") -> None:
    tracer().add(Op.VERDICT_IF, (as_value(cond),), {"verdict": verdict, "group": group})


def drop_if(cond) -> None:
    """Drop the packet when ``cond`` (processing stops there)."""
    _verdict_if("drop", cond)


def pass_if(cond) -> None:
    """Pass the packet to the host when ``cond`` (processing stops there)."""
    _verdict_if("pass", cond)


def transmit_if(cond) -> None:
    _verdict_if("transmit", cond)


def multicast_if(cond, group: str) -> None:
    _verdict_if("multicast", cond, group)


@dataclass
class _LittleEndian:
    value: Value


def le(v: Value) -> _LittleEndian:
    """Mark a value to be emitted little-endian."""
    return _LittleEndian(v)


def emit(*items) -> None:
    """Replace the UDP payload by ``items`` (values and arrays, big-endian unless wrapped in nd.le)."""
    vals, ends = [], []
    for it in items:
        end = "be"
        if isinstance(it, _LittleEndian):
            it, end = it.value, "le"
        if not isinstance(it, Value):
            raise NiccError(f"emit takes traced values (give constants a type with nd.const), got {it!r}", user_loc())
        vals.append(it)
        ends.append(end)
    tracer().add(Op.EMIT, vals, {"endian": tuple(ends)})


@dataclass
class Verdict:
    kind: str
    group: str = "none"
    loc: SourceLoc | None = None

    def __post_init__(self):
        if self.loc is None:
            self.loc = user_loc()


def _final(kind: str, items, group: str = "none") -> Verdict:
    if items:
        emit(*items)
    return Verdict(kind, group)


def to_host(*items) -> Verdict:
    """Pass to the host, with a new payload if ``items`` are given."""
    return _final("pass", items)


def transmit(*items) -> Verdict:
    """Send back out of the port it came in on."""
    return _final("transmit", items)


def multicast(group: str, *items) -> Verdict:
    """Send one copy to each member of ``group``, in member order (each rewritten to its member's addresses)."""
    return _final("multicast", items, group)


def drop() -> Verdict:
    return Verdict("drop")


def _pin(v, place: str):
    if not isinstance(v, Value):
        raise NiccError(f"nd.on_{place} takes a traced value (the stage that makes it is pinned), got {v!r}",
                        user_loc())
    v.node.set_attr("place", place)
    return v


def on_host(v):
    """Pin the stage that makes ``v`` to the host: the partition pass puts it, and what follows it, there.

        dense = nd.on_host(rec.dense.map(lambda x: nd.bucketize(x, B)))   # keep the NIC for the rest
    """
    return _pin(v, "host")


def on_nic(v):
    """Pin the stage that makes ``v`` to the NIC (a pipeline whose pinned stage the target cannot run
    is refused at that line)."""
    return _pin(v, "nic")

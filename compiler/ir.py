"""The nicc IR: a closed set of op kinds, typed nodes in blocks, a pipeline.

A :class:`Pipeline` holds its global objects (lookup tables, state arrays,
multicast groups) and one :class:`Block` of nodes in program order. A ``map``
node holds a nested block, run once per array element. Nodes are effects or
values; values are typed (:mod:`nicc.compiler.types`). Every node carries the
source location of the user line that created it.

Packet semantics (the executable definition is :mod:`nicc.compiler.interp`):
nodes run in order for each selected packet; ``reject_if`` stops the packet as
malformed (it passes to the host unchanged and later effects do not happen);
``verdict_if`` stops it with that verdict; ``emit`` replaces the UDP payload;
the final ``verdict`` node gives the verdict of packets that reach the end.

    >>> print(pipeline)               # doctest: +SKIP
    pipeline dedup port 9003 {
      state @seen : u64[16384]
      %0:u16 = payload_len  # dedup.py:12
      ...
    }

The data-flow graph of a pipeline is a networkx DiGraph (:meth:`Pipeline.graph`),
used by passes (dead code, partitioning) and for drawing.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple

import networkx as nx
import numpy as np

from .errors import SourceLoc, InternalError
from .groups import Addr, Group, Member  # noqa: F401  (multicast groups: see groups.py)
from .types import Array, Type, Scalar


class Op(enum.Enum):
    # sources
    CONST = "const"               # [value]               -> scalar
    PAYLOAD_LEN = "payload_len"   #                       -> u16
    FIELD = "field"               # [name, offset, endian] -> scalar
    ARRAY = "array"               # [name, offset] (count) -> array
    TIMESTAMP = "timestamp"       #                       -> u64 ns
    # arithmetic and logic (operands of one type)
    ADD = "add"                   # [overflow]
    SUB = "sub"                   # [overflow]
    MUL = "mul"                   # [overflow]
    DIV = "div"                   # x / 0 == 0 (as eBPF)
    MOD = "mod"                   # x % 0 == x (as eBPF)
    AND = "and"
    OR = "or"
    XOR = "xor"
    SHL = "shl"
    SHR = "shr"
    NOT = "not"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    SELECT = "select"             # (cond, a, b)
    CAST = "cast"                 # [to, overflow]
    # tables and hashing
    LUT = "lut"                   # [table] (index)
    BUCKETIZE = "bucketize"       # [boundaries] (x) -> u8
    CRC32 = "crc32"               # (x) zlib crc32 of x's big-endian bytes -> u32
    # arrays
    MAP = "map"                   # (arrays...) { elem ... yield }
    ELEM = "elem"                 # [input, field] element of the map's input
    YIELD = "yield"               # [names] (values...) end of a map body
    # per-flow state
    STATE_READ = "state_read"     # [state] (index)
    STATE_WRITE = "state_write"   # [state] (index, value, cond)
    STATE_UPDATE_IF = "state_update_if"  # [state, cmp] (index, value) -> bool: value <cmp> old then store
    # streams across packets, windows, scans, the host part (docs/streams.md)
    STREAM_READ = "stream_read"   # [stream, field] (slot) -> field type
    STREAM_WRITE = "stream_write"  # [stream, field] (slot, value, cond) | (slot, offset, array, cond)
    ROM = "rom"                   # [table] -> T[len]: a constant table as an array value
    RANGE = "range"               # [max] (count) -> u16[<=max]: 0 .. count-1
    GATHER = "gather"             # [field] (array, index) -> scalar; index >= count reads 0
    SCAN = "scan"                 # [max, names, out, out_max] (inits...) { ... yield } -> {names}
    CARRY = "carry"               # [index] current value of a carry (scan body)
    PUT = "put"                   # (index, value, cond) out[index] = value (scan body)
    GET = "get"                   # [name] (scan) -> final carry
    SCAN_OUT = "scan_out"         # [count] (scan) -> out[<=out_max], count = final carry
    HOST_IF = "host_if"           # [host] (cond) leave with the host function's payload
    # effects and verdicts
    REJECT_IF = "reject_if"       # (cond) malformed: pass unchanged, stop
    VERDICT_IF = "verdict_if"     # [verdict, group] (cond) stop with verdict
    EMIT = "emit"                 # [endian] (values...) new payload
    VERDICT = "verdict"           # [verdict, group] final verdict


VERDICTS = ("pass", "transmit", "drop", "multicast")
ARITH = (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MOD, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR)
COMPARE = (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE)
EFFECTS = (Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.REJECT_IF, Op.VERDICT_IF, Op.EMIT, Op.VERDICT, Op.YIELD,
           Op.STREAM_WRITE, Op.PUT, Op.SCAN, Op.HOST_IF)
BODY_OPS = (Op.MAP, Op.SCAN)      # ops that hold a nested block


@dataclass(frozen=True)
class OpSpec:
    """What an op kind looks like: its attribute names and whether it has a result."""
    attrs: tuple[str, ...] = ()
    result: bool = True
    arity: int | None = None      # None: variadic


SPECS: dict[Op, OpSpec] = {
    Op.CONST: OpSpec(("value",), arity=0),
    Op.PAYLOAD_LEN: OpSpec(arity=0),
    Op.FIELD: OpSpec(("name", "offset", "endian"), arity=0),
    Op.ARRAY: OpSpec(("name", "offset"), arity=1),
    Op.TIMESTAMP: OpSpec(arity=0),
    **{op: OpSpec(("overflow",), arity=2) for op in (Op.ADD, Op.SUB, Op.MUL)},
    **{op: OpSpec(arity=2) for op in (Op.DIV, Op.MOD, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR)},
    Op.NOT: OpSpec(arity=1),
    **{op: OpSpec(arity=2) for op in COMPARE},
    Op.SELECT: OpSpec(arity=3),
    Op.CAST: OpSpec(("overflow",), arity=1),
    Op.LUT: OpSpec(("table",), arity=1),
    Op.BUCKETIZE: OpSpec(("boundaries",), arity=1),
    Op.CRC32: OpSpec(arity=1),
    Op.MAP: OpSpec(),
    Op.ELEM: OpSpec(("input", "field"), arity=0),
    Op.YIELD: OpSpec(("names",), result=False),
    Op.STATE_READ: OpSpec(("state",), arity=1),
    Op.STATE_WRITE: OpSpec(("state",), result=False, arity=3),
    Op.STATE_UPDATE_IF: OpSpec(("state", "cmp"), arity=2),
    Op.STREAM_READ: OpSpec(("stream", "field"), arity=1),
    Op.STREAM_WRITE: OpSpec(("stream", "field"), result=False),
    Op.ROM: OpSpec(("table",), arity=0),
    Op.RANGE: OpSpec(("max",), arity=1),
    Op.GATHER: OpSpec(("field",), arity=2),
    Op.SCAN: OpSpec(("max", "names", "out", "out_max")),
    Op.CARRY: OpSpec(("index",), arity=0),
    Op.PUT: OpSpec(result=False, arity=3),
    Op.GET: OpSpec(("name",), arity=1),
    Op.SCAN_OUT: OpSpec(("count",), arity=1),
    Op.HOST_IF: OpSpec(("host",), result=False, arity=1),
    Op.REJECT_IF: OpSpec(result=False, arity=1),
    Op.VERDICT_IF: OpSpec(("verdict", "group"), result=False, arity=1),
    Op.EMIT: OpSpec(("endian",), result=False),
    Op.VERDICT: OpSpec(("verdict", "group"), result=False, arity=0),
}
assert set(SPECS) == set(Op)


class Node:
    """One operation. ``attrs`` is a small frozen tuple of (name, value) pairs."""

    __slots__ = ("op", "args", "attrs", "type", "loc", "body")

    def __init__(self, op: Op, args: tuple["Node", ...] = (), attrs: dict | tuple = (),
                 type: Type | None = None, loc: SourceLoc | None = None, body: "Block | None" = None):
        if loc is None:
            raise InternalError(f"node {op.value} has no source location")
        self.op = op
        self.args = tuple(args)
        self.attrs = tuple(attrs.items()) if isinstance(attrs, dict) else tuple(attrs)
        self.type = type
        self.loc = loc
        self.body = body

    def attr(self, name: str, default: Any = None) -> Any:
        for k, v in self.attrs:
            if k == name:
                return v
        return default

    def set_attr(self, name: str, value: Any) -> None:
        """Set attribute ``name`` (replaced where it is, else appended); ``None`` removes it."""
        kept = [(k, v) for k, v in self.attrs if k != name]
        if value is None:
            self.attrs = tuple(kept)
        elif len(kept) < len(self.attrs):
            self.attrs = tuple((k, value if k == name else v) for k, v in self.attrs)
        else:
            self.attrs = (*self.attrs, (name, value))

    def replace(self, **kw) -> "Node":
        d = dict(op=self.op, args=self.args, attrs=self.attrs, type=self.type, loc=self.loc, body=self.body)
        d.update(kw)
        return Node(**d)

    def __repr__(self) -> str:
        return f"<{self.op.value}:{self.type} @{self.loc}>"


@dataclass
class Block:
    """Nodes in program order."""
    nodes: list[Node] = field(default_factory=list)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def walk(self) -> Iterator[Node]:
        """All nodes, nested map bodies included, in program order."""
        for n in self.nodes:
            yield n
            if n.body is not None:
                yield from n.body.walk()


@dataclass
class Table:
    """A constant lookup table computed at compile time: ``values[index]``."""
    name: str
    index: Scalar
    out: Scalar
    values: np.ndarray           # dtype out.dtype, one entry per value of ``index`` (the whole domain)
    loc: SourceLoc

    def __eq__(self, other) -> bool:
        return (isinstance(other, Table) and (self.name, self.index, self.out) == (other.name, other.index, other.out)
                and np.array_equal(self.values, other.values))


@dataclass
class State:
    """A bounded register array that persists across packets (initially ``init``)."""
    name: str
    elem: Scalar
    size: int
    loc: SourceLoc
    init: int = 0


@dataclass
class Stream:
    """Per-stream state: ``slots`` records of scalar fields and fixed arrays, kept across packets (zero)."""
    name: str
    fields: tuple[tuple[str, Scalar | Array], ...]
    slots: int
    loc: SourceLoc

    def field(self, name: str) -> Scalar | Array | None:
        return dict(self.fields).get(name)


@dataclass
class Host:
    """A host-side function ``module:attr(payload, *args) -> payload | None`` (the host part)."""
    name: str
    ref: str
    args: tuple[str, ...]
    loc: SourceLoc

    def resolve(self):
        import importlib
        mod, _, attr = self.ref.partition(":")
        fn = importlib.import_module(mod)
        for part in attr.split("."):
            fn = getattr(fn, part)
        return fn


class Note(NamedTuple):
    """Why something was decided about ``node``: ``choice`` (``checked``, ``impl=slice4``...) and a
    human ``reason``, one line each (printed after the node as ``# choice: reason``)."""
    node: Node
    choice: str
    reason: str


@dataclass
class Pipeline:
    """A whole program: where it listens, its globals, its block, and the notes on its nodes."""
    name: str
    port: int
    body: Block
    tables: dict[str, Table] = field(default_factory=dict)
    states: dict[str, State] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    loc: SourceLoc | None = None
    streams: dict[str, Stream] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    traffic: Any = None          # optional traffic model for generated captures (not part of the text form)
    notes: list[Note] = field(default_factory=list)

    def __str__(self) -> str:
        from .printer import print_pipeline
        return print_pipeline(self)

    def note(self, node: Node, choice: str, reason: str = "") -> None:
        """Record why ``choice`` was made for ``node`` (replacing an earlier note of the same choice)."""
        if "\n" in choice + reason or ": " in choice:
            raise InternalError(f"a note is one line and its choice has no ': ': {choice!r}: {reason!r}")
        key = choice.split("=", 1)[0]
        self.notes = [m for m in self.notes if not (m.node is node and m.choice.split("=", 1)[0] == key)]
        self.notes.append(Note(node, choice, reason))

    def notes_of(self, node: Node) -> list[Note]:
        return [m for m in self.notes if m.node is node]

    @property
    def stateful(self) -> bool:
        return any(n.op in (Op.STATE_READ, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.STREAM_READ, Op.STREAM_WRITE)
                   for n in self.body.walk())

    def verdict(self) -> Node:
        last = self.body.nodes[-1] if self.body.nodes else None
        if last is None or last.op is not Op.VERDICT:
            raise InternalError("pipeline does not end in a verdict")
        return last

    def emit(self) -> Node | None:
        return next((n for n in self.body if n.op is Op.EMIT), None)

    def max_payload_out(self) -> int | None:
        """The largest payload the emit can produce (arrays at their bound), or None without an emit."""
        e = self.emit()
        if e is None:
            return None
        from .types import Array
        return sum(a.type.max * a.type.struct.nbytes if isinstance(a.type, Array) else a.type.nbytes for a in e.args)

    def graph(self) -> nx.DiGraph:
        """Data-flow graph of the top-level block (edges: operand -> user; effects chained in order)."""
        g = nx.DiGraph()
        prev_effect = None
        for i, n in enumerate(self.body.nodes):
            g.add_node(n, index=i)
            for a in n.args:
                g.add_edge(a, n, kind="data")
            if n.body is not None:   # uses of outer values inside a map body
                for inner in n.body.walk():
                    for a in inner.args:
                        if a in g and a is not n:
                            g.add_edge(a, n, kind="data")
            if n.op in EFFECTS or n.op in (Op.STATE_READ, Op.TIMESTAMP, Op.STREAM_READ):
                if prev_effect is not None:
                    g.add_edge(prev_effect, n, kind="order")
                prev_effect = n
        return g

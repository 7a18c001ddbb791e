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

Passes and lowerings record why they decided something as :class:`Note` s on the
pipeline (``p.note(node, "fuse=emit", "only the emit uses it")``); the text form
prints them as ``# choice: reason`` lines after their node. Op kinds and their
attributes are in :mod:`nicc.compiler.opcodes` (re-exported here); the data-flow
graph and its drawing in :mod:`nicc.compiler.graph`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple

import numpy as np

from .errors import SourceLoc, InternalError
from .opcodes import ARITH, BODY_OPS, COMPARE, EFFECTS, SPECS, VERDICTS, Op, OpSpec  # noqa: F401  (re-exported)
from .printer import print_pipeline
from .groups import Addr, Group, Member  # noqa: F401  (multicast groups: see groups.py)
from .types import Array, Type, Scalar


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
        """Set attribute ``name`` (``None`` removes it), keeping attributes in the order SPECS lists them."""
        attrs = dict(self.attrs)
        attrs[name] = value
        spec = SPECS[self.op]
        order = {k: i for i, k in enumerate(spec.attrs + spec.optional)}
        kept = sorted(((k, v) for k, v in attrs.items() if v is not None), key=lambda kv: order.get(kv[0], len(order)))
        self.attrs = tuple(kept)

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
        return print_pipeline(self)

    def _repr_mimebundle_(self, include=None, exclude=None):      # Jupyter: the data-flow graph (compiler/graph.py)
        from .graph import mimebundle, to_dot
        return mimebundle(to_dot(self))

    def _repr_svg_(self) -> str | None:
        from .graph import svg, to_dot
        return svg(to_dot(self))

    def _repr_html_(self) -> str:
        from .graph import html, to_dot
        return html(to_dot(self))

    def note(self, node: Node, choice: str, reason: str = "") -> None:
        """Record why ``choice`` was made for ``node`` (replacing an earlier note of the same choice)."""
        if "\n" in choice + reason or ": " in choice:
            raise InternalError(f"a note is one line and its choice has no ': ': {choice!r}: {reason!r}")
        key = choice.split("=", 1)[0]
        self.notes = [m for m in self.notes if not (m.node is node and m.choice.split("=", 1)[0] == key)]
        self.notes.append(Note(node, choice, reason))

    def unnote(self, node: Node, *choices: str) -> None:
        """Forget ``node``'s notes on these choices (``"fuse"`` also forgets ``"fuse=emit"``)."""
        self.notes = [m for m in self.notes if not (m.node is node and m.choice.split("=", 1)[0] in choices)]

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
        return sum(a.type.max * a.type.struct.nbytes if isinstance(a.type, Array) else a.type.nbytes for a in e.args)

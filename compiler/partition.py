"""Split a pipeline between a NIC and the host (docs/partition.md).

    split = partition(ir, check)          # check(node) -> None | Refusal | Guard (a target's capabilities)
    split.nic                             # the NIC part: the stages the target runs, then the wire payload
    split.host                            # the host part: a pipeline whose record is the wire payload
    split.rows                            # stage, place, reason, bytes: what `nicc compile --explain` prints

A *stage* is a top-level node (a map or a scan with its body is one stage). The NIC takes a
prefix-closed set of stages (a stage on the NIC has every stage it depends on there too) and the
host the rest. Among the cuts the capabilities allow (a stage the target refuses is on the host,
and so is everything after it; ``nd.on_host``/``nd.on_nic`` pin stages), the pass takes one that
minimizes the host's work plus the bytes that cross, as a minimum s-t cut (a minimum closure).

What crosses is an explicit, versioned payload (:class:`Wire`): a header (magic, version, the
pipeline's hash) and the values the host needs, in stage order. The NIC part emits it and sends
the packet to the host port (the pipeline's port + :data:`HOST_PORT_OFFSET`), so a frame that
merely arrived on the pipeline's port (passed unchanged as malformed, say) is never taken for one;
the host part reads it, runs the host stages, and gives the frame its original port back.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx

from .errors import InternalError, NiccError
from .graph import Placement, dataflow_graph
from .hostfuncs import HOST_FUNCS
from .ir import Block, Node, Op, Pipeline
from .types import Array, BOOL, Scalar, U8, U16, U32

HOST_PORT_OFFSET = 1000
MAGIC, VERSION = 0x4E53, 1           # "NS"
HEADER = ((("magic", U16), ("version", U8), ("cut", U8), ("pipeline", U32)))
HEADER_BYTES = sum(t.nbytes for _, t in HEADER)
BYTE_NS = 0.05                       # what a byte crossing to the host costs, against host work (ns)
INF = float("inf")
FREE = (Op.CONST, Op.ROM)            # made again on the host rather than sent
SOURCES = (Op.FIELD, Op.ARRAY, Op.PAYLOAD_LEN, Op.TIMESTAMP)


# ---- how much host work a stage is ------------------------------------------------------------

OP_NS = {Op.LUT: 1.0, Op.CRC32: 4.0, Op.BUCKETIZE: 2.0, Op.STATE_READ: 2.0, Op.STATE_WRITE: 2.0,
         Op.STATE_UPDATE_IF: 3.0, Op.SCAN: 50.0, Op.GATHER: 1.0}
DEFAULT_NS = 0.5


def host_ns(n: Node) -> float:
    """A rough cost of running ``n`` on the host, in ns per packet (maps: per element times elements)."""
    if n.op is Op.CALL:
        return HOST_FUNCS[n.attr("fn")].cost_ns
    if n.body is not None:
        elems = n.type.max if isinstance(n.type, Array) else 1
        return sum(host_ns(m) for m in n.body.walk()) * max(elems, 1)
    if n.op in FREE:
        return 0.0
    return OP_NS.get(n.op, DEFAULT_NS)


def wire_bytes(n: Node) -> int:
    """The bytes value ``n`` takes in the wire payload."""
    t = n.type
    if isinstance(t, Array):
        return t.max * t.struct.nbytes + (U16.nbytes if t.dynamic else 0)
    return t.nbytes


# ---- the split --------------------------------------------------------------------------------

@dataclass
class Wire:
    """The payload the NIC part sends the host part: the header, then each value (dynamic arrays
    last, after their u16 count)."""
    values: list[Node]                   # in the NIC part's IR, in wire order
    pipeline_hash: int
    cut: int = 0

    @property
    def size(self) -> int:
        return HEADER_BYTES + sum(wire_bytes(v) for v in self.values)


@dataclass
class Split:
    whole: Pipeline
    nic: Pipeline
    host: Pipeline | None                # None: the NIC runs everything
    host_port: int
    wire: Wire | None
    rows: list[dict] = field(default_factory=list)
    target: str = "nic"

    @property
    def split(self) -> bool:
        return self.host is not None

    @property
    def guarded(self) -> list[dict]:
        """Stages the target runs for some packets only (the others it hands to the host unchanged)."""
        return [r for r in self.rows if r["reason"].startswith("on ") and "for some packets" in r["reason"]]

    def placement(self) -> Placement:
        """Where each stage of the whole pipeline runs, why, and what crosses (for drawings)."""
        p = self.whole
        stages = p.body.nodes
        on_nic = set(self.nic.body.nodes) if self.split else set(stages)
        place = {n: "nic" if n in on_nic else "host" for n in stages}
        named = [n for n in stages if n.op not in FREE]
        if len(named) != len(self.rows) or any(stage_label(n) != r["stage"] for n, r in zip(named, self.rows)):
            raise InternalError(f"the placement rows of {p.name} do not follow its stages")
        reason = {n: r["reason"] for n, r in zip(named, self.rows)}
        guard = {n: why for n, why in reason.items() if why.startswith("on ") and "for some packets" in why}
        g = dataflow_graph(p)
        for n in stages:                  # a constant is drawn where its users are (on the NIC if any is)
            if n.op in FREE:
                place[n] = "host" if {place[u] for u in g.successors(n)} == {"host"} else "nic"
        wire = [(v, wire_bytes(v)) for v in self.wire.values] if self.split else []
        return Placement(self.target, place, reason, guard, wire, self.wire.size if self.split else 0,
                         HEADER_BYTES if self.split else 0, self.host_port if self.split else None,
                         sum(host_ns(n) for n in stages if place[n] == "host"),
                         {v: stage_label(v) for v, _ in wire},
                         {k: sum(place[n] == k for n in named) for k in ("nic", "host")})

    def to_dot(self, bars=None) -> str:
        """The whole pipeline's graph, stages in a NIC and a host cluster, the wire between them."""
        from .graph import to_dot
        return to_dot(self.whole, self.placement(), bars)

    def _repr_mimebundle_(self, include=None, exclude=None):      # Jupyter: the drawing
        from .graph import mimebundle
        return mimebundle(self.to_dot())

    def _repr_svg_(self) -> str | None:
        from .graph import svg
        return svg(self.to_dot())

    def _repr_html_(self) -> str:
        from .graph import html
        return html(self.to_dot())


def pipeline_hash(p: Pipeline) -> int:
    return int.from_bytes(hashlib.sha256(str(p).encode()).digest()[:4], "big")


def partition(p: Pipeline, check: Callable[[Node], object], target: str = "nic") -> Split:
    """The cut of ``p`` for a target whose capabilities ``check`` gives (see the module docstring)."""
    stages = list(p.body.nodes)
    g = dataflow_graph(p)
    refusal = {n: check(n) for n in stages}
    hard = {n: r for n, r in refusal.items()          # a constant (an f32 one too) is made on either side
            if r is not None and not hasattr(r, "make_cond") and n.op not in FREE}
    pins = {n: n.attr("place") for n in stages if n.attr("place")}
    host_set = _min_cut(stages, g, hard, pins)
    rows = _rows(stages, host_set, hard, pins, refusal, target)
    host_port = p.port + HOST_PORT_OFFSET
    if not host_set:
        return Split(p, p, None, host_port, None, rows, target)
    if p.verdict() not in host_set:
        raise NiccError("the partition left the final verdict on the NIC with stages on the host", p.loc)
    crossing = _crossing(stages, host_set)
    wire = Wire(crossing, pipeline_hash(p))
    nic = _nic_part(p, stages, host_set, wire, host_port)
    host = _host_part(p, stages, host_set, wire, host_port)
    return Split(p, nic, host, host_port, wire, rows, target)


def _min_cut(stages: list[Node], g: nx.DiGraph, hard: dict, pins: dict) -> set[Node]:
    """The host's stages: a minimum s-t cut, NIC on the source side (see the module docstring)."""
    if not hard and "host" not in pins.values():
        return set()
    h = nx.DiGraph()
    s, t = "__nic__", "__host__"
    h.add_nodes_from([s, t])
    for n in stages:
        h.add_edge(s, n, capacity=INF if n.op in SOURCES or n.op in FREE or pins.get(n) == "nic" else host_ns(n))
        if n in hard or pins.get(n) == "host":
            h.add_edge(n, t, capacity=INF)
    for u, v in g.edges:                  # v on the NIC -> u on the NIC (prefix-closed)
        if u in h and v in h:
            h.add_edge(v, u, capacity=INF)
    for v in stages:                      # a value crossing costs its bytes
        users = [u for u in g.successors(v) if g.edges[v, u].get("kind") == "data"]
        if users and v.op not in FREE and v.type is not None:
            aux = ("wire", id(v))
            h.add_edge(v, aux, capacity=wire_bytes(v) * BYTE_NS)
            for u in users:
                h.add_edge(aux, u, capacity=INF)
    try:
        cut, (nic_side, host_side) = nx.minimum_cut(h, s, t)
    except nx.NetworkXUnbounded:
        cut = INF
    if cut == INF:
        bad = next(n for n in stages if n in hard or pins.get(n) == "host")
        raise NiccError(f"no cut puts every stage the target cannot run on the host: a stage pinned to the NIC "
                        f"depends on {bad.op.value}, which it cannot run", bad.loc)
    return {n for n in stages if n in host_side}


def stage_label(n: Node) -> str:
    """A stage as a reader knows it: ``field label``, ``map: crc32, and``, ``verdict_if drop``."""
    if n.body is not None:
        inner = dict.fromkeys(m.op.value + (f" {m.attr('fn')}" if m.op is Op.CALL else f" to {m.type}" if m.op is Op.CAST
                                            else "") for m in n.body.walk() if m.op not in (Op.ELEM, Op.YIELD, Op.CONST))
        return f"{n.op.value}: {', '.join(inner) or 'copy'}"
    detail = next((str(v) for k, v in n.attrs if k in ("name", "fn", "verdict", "state", "table")), "")
    return f"{n.op.value} {detail}".rstrip()


def _rows(stages, host_set, hard, pins, refusal, target) -> list[dict]:
    rows = []
    for n in stages:
        if n.op in FREE:
            continue                            # constants are made on either side
        place = "host" if n in host_set else "nic"
        if n in hard:
            why = f"{target} cannot: {hard[n].reason}"
        elif n in pins:
            why = f"pinned by nd.on_{pins[n]}"
        elif refusal.get(n) is not None:
            why = f"on {target} for some packets: {refusal[n].reason}"
        elif place == "host":
            why = "depends on a host stage"
        else:
            why = f"{target} runs it"
        rows.append({"section": "placement", "stage": stage_label(n),
                     "line": f"{n.loc.file.rsplit('/', 1)[-1]}:{n.loc.line}", "place": place, "reason": why})
    return rows


def _crossing(stages: list[Node], host_set: set[Node]) -> list[Node]:
    """NIC values the host stages use (constants are made again on the host), dynamic arrays last."""
    used = []
    seen = set()
    for n in stages:
        if n not in host_set:
            continue
        for m in [n, *(n.body.walk() if n.body is not None else ())]:
            for a in m.args:
                if a in seen or a in host_set or a.op in FREE or a.op is Op.ELEM:
                    continue
                if a in stages:
                    seen.add(a)
                    used.append(a)
    order = {n: i for i, n in enumerate(stages)}
    used.sort(key=lambda n: (isinstance(n.type, Array) and n.type.dynamic, order[n]))
    dyn = [n for n in used if isinstance(n.type, Array) and n.type.dynamic]
    if len(dyn) > 1:
        raise NiccError(f"{len(dyn)} arrays of varying length would cross to the host here; the wire payload "
                        "carries at most one (pin a stage with nd.on_nic / nd.on_host to move the cut)", dyn[1].loc)
    return used


def _count_of(n: Node) -> Node:
    """The node holding the element count of array value ``n`` (an array read, or a map over one)."""
    while n.op is Op.MAP:
        n = n.args[0]
    if n.op is Op.ARRAY:
        return n.args[0]
    raise NiccError(f"the length of the {n.op.value} array that crosses to the host is not known here", n.loc)


def _nic_part(p: Pipeline, stages, host_set, wire: Wire, host_port: int) -> Pipeline:
    """The NIC stages, then the wire payload sent to the host port."""
    kept = [n for n in stages if n not in host_set]
    used = {a for n in kept for m in [n, *(n.body.walk() if n.body is not None else ())] for a in m.args}
    kept = [n for n in kept if n.op not in FREE or n in used]        # constants only the host uses stay there
    nic = Pipeline(p.name, p.port, Block(kept), dict(p.tables), dict(p.states),
                   dict(p.groups), p.loc, streams=dict(p.streams), hosts=dict(p.hosts))
    loc = p.verdict().loc
    mk = lambda op, args=(), attrs=(), t=None: Node(op, args, attrs, t, loc)          # noqa: E731
    items, ends = [], []
    for name, t in HEADER:
        value = {"magic": MAGIC, "version": VERSION, "cut": wire.cut, "pipeline": wire.pipeline_hash}[name]
        items.append(mk(Op.CONST, (), {"value": value}, t))
        ends.append("be")
    for v in wire.values:
        if isinstance(v.type, Array) and v.type.dynamic:
            count = _count_of(v)
            c16 = count if count.type == U16 else mk(Op.CAST, (count,), {"overflow": "sat"}, U16)
            items.append(c16)
            ends.append("be")
        items.append(v)
        ends.append("be")
    nic.body.nodes += [i for i in items if i not in nic.body.nodes]       # the header's constants, counts
    nic.body.nodes.append(mk(Op.EMIT, tuple(items), {"endian": tuple(ends), "port": host_port}))
    nic.body.nodes.append(mk(Op.VERDICT, (), {"verdict": "pass", "group": "none"}))
    return nic


def _host_part(p: Pipeline, stages, host_set, wire: Wire, host_port: int) -> Pipeline:
    """A pipeline on the host port whose record is the wire payload: it reads the header and the
    values, runs the host stages and restores the frame's original port."""
    host = Pipeline(f"{p.name}_host", host_port, Block(), {}, {}, dict(p.groups), p.loc,
                    streams=dict(p.streams), hosts=dict(p.hosts))
    c = _Cloner(p, host)
    mk = c.add
    plen = mk(Op.PAYLOAD_LEN, (), {}, U16)
    fixed = HEADER_BYTES + sum(wire_bytes(v) for v in wire.values if not (isinstance(v.type, Array) and v.type.dynamic))
    off, fields = 0, {}
    for name, t in HEADER:
        fields[name] = mk(Op.FIELD, (), {"name": name, "offset": off, "endian": "be"}, t)
        off += t.nbytes
    dynamic = any(isinstance(v.type, Array) and v.type.dynamic for v in wire.values)
    mk(Op.REJECT_IF, (mk(Op.LT if dynamic else Op.NE, (plen, c.const(fixed, U16)), {}, BOOL),))
    for name, want in (("magic", MAGIC), ("version", VERSION), ("cut", wire.cut), ("pipeline", wire.pipeline_hash)):
        mk(Op.REJECT_IF, (mk(Op.NE, (fields[name], c.const(want, fields[name].type)), {}, BOOL),))
    for i, v in enumerate(wire.values):
        t = v.type
        if isinstance(t, Array):
            if t.dynamic:
                count = mk(Op.FIELD, (), {"name": f"v{i}_count", "offset": off, "endian": "be"}, U16)
                off += U16.nbytes
                size = mk(Op.MUL, (mk(Op.CAST, (count,), {"overflow": "wrap"}, U32), c.const(t.struct.nbytes, U32)),
                          {"overflow": "wrap"}, U32)
                need = mk(Op.ADD, (size, c.const(off, U32)), {"overflow": "wrap"}, U32)
                mk(Op.REJECT_IF, (mk(Op.GT, (count, c.const(t.max, U16)), {}, BOOL),))
                mk(Op.REJECT_IF, (mk(Op.NE, (mk(Op.CAST, (plen,), {"overflow": "wrap"}, U32), need), {}, BOOL),))
            else:
                count = c.const(t.max, U16)
            c.remap[v] = mk(Op.ARRAY, (count,), {"name": f"v{i}", "offset": off}, t)
            off += t.max * t.struct.nbytes
        else:
            c.remap[v] = mk(Op.FIELD, (), {"name": f"v{i}", "offset": off, "endian": "be"}, t)
            off += t.nbytes
    for n in stages:
        if n in host_set:
            clone = c.clone(n)
            if clone.op is Op.EMIT:
                clone.set_attr("port", p.port)          # the frame leaves on the pipeline's own port
    return host


class _Cloner:
    """Builds the host part: new nodes appended in order, the source's nodes cloned with their
    operands remapped (wire reads for crossing values, constants made again)."""

    def __init__(self, src: Pipeline, host: Pipeline):
        self.src, self.host, self.remap = src, host, {}
        self.loc = src.loc

    def add(self, op: Op, args=(), attrs=None, t=None) -> Node:
        n = Node(op, tuple(args), attrs or {}, t, self.loc)
        self.host.body.nodes.append(n)
        return n

    def const(self, v: int, t: Scalar) -> Node:
        return self.add(Op.CONST, (), {"value": int(v)}, t)

    def arg(self, a: Node, inner: dict) -> Node:
        if a in inner:
            return inner[a]
        if a in self.remap:
            return self.remap[a]
        if a.op in FREE:                       # a constant the host makes again (before its first use)
            self.remap[a] = self.add(a.op, (), a.attrs, a.type)
            self._globals(a)
            return self.remap[a]
        raise NiccError(f"{a.op.value} is used on the host but was not sent there (a bug in the partition)", a.loc)

    def clone(self, n: Node) -> Node:
        body = None
        if n.body is not None:               # bodies hold no nested bodies (verify)
            inner: dict[Node, Node] = {}
            for m in n.body.nodes:
                inner[m] = Node(m.op, tuple(self.arg(a, inner) for a in m.args), m.attrs, m.type, m.loc)
                self._globals(m)
            body = Block([inner[m] for m in n.body.nodes])
        c = Node(n.op, tuple(self.arg(a, {}) for a in n.args), n.attrs, n.type, n.loc, body)
        self.host.body.nodes.append(c)
        self.remap[n] = c
        self._globals(n)
        return c

    def _globals(self, m: Node) -> None:
        t, s = m.attr("table"), m.attr("state")
        if t and t in self.src.tables:
            self.host.tables[t] = self.src.tables[t]
        if s and s in self.src.states:
            self.host.states[s] = self.src.states[s]

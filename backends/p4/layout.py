"""Where the P4 parser finds a pipeline's payload, and which packets the NIC part can take.

:func:`payload_layout` cuts the UDP payload into the pieces the P4 program
extracts, in offset order: *chunks* (one fixed-width header each, ending at
every field's last byte, so a field is readable exactly when its chunk was
extracted) and *arrays* (one header stack each; a counted array's stack holds
at most its NIC capacity).

:func:`partition_host_nic` is the host/NIC split pass. simple_switch lets a
packet grow by at most :data:`GROWTH_LIMIT` bytes (deparsed headers minus
extracted headers). The pass computes the growth of a rewritten packet as
``C + sum(coef_a * n_a)`` over its counted arrays (``n_a`` elements) and, when
the worst case exceeds the limit, gives each growing array a NIC capacity; a
packet whose count exceeds a capacity leaves the NIC unchanged on the host-part
port, and the runtime completes it with the reference semantics (numpy).

    >>> part = partition_host_nic(ir)                 # doctest: +SKIP
    >>> part.notes
    ['bmv2 lets a packet grow by at most 512 bytes: ... count > 170 ...']
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...compiler.errors import NiccError
from ...compiler.ir import Node, Op, Pipeline
from ...compiler.types import Array

GROWTH_LIMIT = 512


@dataclass
class Chunk:
    """Payload bytes ``[start, end)`` extracted as header ``c{index}`` (one field ``v``)."""
    index: int
    start: int
    end: int

    @property
    def bits(self) -> int:
        return 8 * (self.end - self.start)


@dataclass
class ArraySeg:
    """An ARRAY node's elements, extracted into header stack ``a{index}``."""
    index: int
    node: Node
    offset: int
    esz: int
    max: int
    dynamic: bool
    count: Node                   # FIELD (counted), CONST (fixed), or the rest of the payload's length
    cap: int = 0                  # stack size on the NIC (== max unless split)
    rest: bool = False            # the rest of the payload: count = (avail - offset) / esz

    @property
    def rest_shift(self) -> int:
        return self.esz.bit_length() - 1

    @property
    def end(self) -> int | None:
        return self.offset + self.max * self.esz if not self.dynamic else None


@dataclass
class Layout:
    segments: list = field(default_factory=list)          # Chunk | ArraySeg in offset order
    field_chunks: dict = field(default_factory=dict)       # id(FIELD node) -> list[Chunk]
    arrays: dict = field(default_factory=dict)             # id(ARRAY node) -> ArraySeg

    @property
    def chunks(self) -> list[Chunk]:
        return [s for s in self.segments if isinstance(s, Chunk)]

    @property
    def array_segs(self) -> list[ArraySeg]:
        return [s for s in self.segments if isinstance(s, ArraySeg)]


def _refuse(n: Node, why: str) -> NiccError:
    return NiccError(f"bmv2 cannot compile {n.op.value}: {why}", n.loc)


def payload_layout(p: Pipeline) -> Layout:
    fields = [n for n in p.body.walk() if n.op is Op.FIELD]
    arrays = [n for n in p.body.walk() if n.op is Op.ARRAY]
    segs: list[ArraySeg] = []
    for n in sorted(arrays, key=lambda a: a.attr("offset")):
        t: Array = n.type
        cnt = n.args[0]
        rest = t.dynamic and _rest_count(cnt, n.attr("offset"), t.struct.nbytes)
        if t.dynamic and cnt.op is not Op.FIELD and not rest:
            raise _refuse(n, "a counted array's count must be a payload field (or the rest of the payload, "
                             "in elements of a power-of-two size)")
        if cnt.op is Op.FIELD and cnt.type.signed:
            raise _refuse(n, "an array count must be unsigned")
        if not t.dynamic and cnt.op is not Op.CONST:
            raise _refuse(n, "a fixed array needs a constant count")
        segs.append(ArraySeg(len(segs), n, n.attr("offset"), t.struct.nbytes, t.max, t.dynamic, cnt, t.max, rest))
    for i, a in enumerate(segs):
        nxt = segs[i + 1] if i + 1 < len(segs) else None
        if nxt is not None and (a.dynamic or a.end > nxt.offset):
            raise _refuse(nxt.node, "payload arrays overlap (or follow a counted array)")
        for f in fields:
            lo, hi = f.attr("offset"), f.attr("offset") + f.type.nbytes
            if hi > a.offset and (a.dynamic or lo < a.end):
                raise _refuse(f, f"field [{lo}, {hi}) overlaps the payload array at offset {a.offset}")
        if a.count.op is Op.FIELD and a.count.attr("offset") + a.count.type.nbytes > a.offset:
            raise _refuse(a.node, "an array's count field must come before the array")
    points = sorted({f.attr("offset") + f.type.nbytes for f in fields} | {a.offset for a in segs})
    lay = Layout()
    cur, ai = 0, 0

    def take_arrays():
        nonlocal cur, ai
        while ai < len(segs) and segs[ai].offset == cur:
            lay.segments.append(segs[ai])
            cur = segs[ai].end if not segs[ai].dynamic else 1 << 30
            ai += 1

    for pt in points:
        take_arrays()
        if pt <= cur:
            continue
        lay.segments.append(Chunk(len(lay.chunks), cur, pt))
        cur = pt
    take_arrays()
    for f in fields:
        lo, hi = f.attr("offset"), f.attr("offset") + f.type.nbytes
        lay.field_chunks[id(f)] = [c for c in lay.chunks if c.start < hi and c.end > lo]
    lay.arrays = {id(a.node): a for a in segs}
    return lay


def _rest_count(cnt: Node, offset: int, esz: int) -> bool:
    """Whether ``cnt`` is the record's rest count: (payload_len - offset) [/ esz], esz a power of two."""
    if cnt.op is Op.DIV:
        d = cnt.args[1]
        if d.op is not Op.CONST or d.attr("value") != esz or esz & (esz - 1):
            return False
        cnt = cnt.args[0]
    elif esz != 1:
        return False
    return (cnt.op is Op.SUB and cnt.args[0].op is Op.PAYLOAD_LEN and cnt.args[1].op is Op.CONST
            and cnt.args[1].attr("value") == offset)


def root_array(v: Node) -> Node:
    """The ARRAY node whose elements (and count) an array value follows."""
    while v.op is Op.MAP:
        v = v.args[0]
    return v


@dataclass
class Partition:
    """Result of the host/NIC split pass."""
    limit: int
    const_growth: int
    coef: dict = field(default_factory=dict)      # array index -> bytes of growth per element
    caps: dict = field(default_factory=dict)      # array index -> NIC capacity (only split arrays)
    notes: list = field(default_factory=list)
    cut: str | None = None                        # why packets reaching a point go to the host part

    @property
    def split(self) -> bool:
        return bool(self.caps) or self.cut is not None


def partition_host_nic(p: Pipeline, lay: Layout | None = None, limit: int = GROWTH_LIMIT) -> Partition:
    """Decide which packets the NIC part takes (see the module docstring); sets ``ArraySeg.cap``."""
    lay = lay or payload_layout(p)
    em = p.emit()
    part = Partition(limit, 0)
    if em is None:
        return part
    extracted = sum(c.end - c.start for c in lay.chunks)
    emitted = 0
    coef = {a.index: 0 for a in lay.array_segs}
    for a in lay.array_segs:
        if a.dynamic:
            coef[a.index] -= a.esz
        else:
            extracted += a.max * a.esz
    for v in em.args:
        if isinstance(v.type, Array) and id(root_array(v)) not in lay.arrays:
            emitted += v.type.max * v.type.struct.nbytes          # not a payload array: its largest size
        elif isinstance(v.type, Array):
            root = lay.arrays[id(root_array(v))]
            size = v.type.struct.nbytes
            if root.dynamic:
                coef[root.index] += size
            else:
                emitted += root.max * size
        else:
            emitted += v.type.nbytes
    part.const_growth = emitted - extracted
    part.coef = {i: c for i, c in coef.items() if lay.array_segs[i].dynamic}
    growing = [a for a in lay.array_segs if a.dynamic and part.coef[a.index] > 0]
    worst = part.const_growth + sum(part.coef[a.index] * a.max for a in growing)
    if worst <= limit:
        return part
    budget = limit - part.const_growth
    if budget < 0 or not growing:
        raise NiccError(f"bmv2 cannot compile emit: a rewritten packet grows by {part.const_growth} bytes or more, "
                        f"and simple_switch lets a packet grow by at most {limit} bytes", em.loc)
    if p.stateful:
        raise NiccError(f"bmv2 cannot compile emit: a rewritten packet can grow by {worst} bytes (simple_switch "
                        f"allows {limit}), and the host part of a stateful pipeline would need the NIC's state",
                        em.loc)
    rest = [a for a in growing if a.rest]
    if rest:
        raise NiccError(f"bmv2 cannot compile emit: a rewritten packet can grow by {worst} bytes (simple_switch "
                        f"allows {limit}), and '{rest[0].node.attr('name')}' is the rest of the payload, which the "
                        "host/NIC split cannot bound by a count field", em.loc)
    share = budget // len(growing)
    for a in growing:
        cap = min(a.max, share // part.coef[a.index])
        if cap < a.max:
            part.caps[a.index] = cap
            a.cap = cap
            cnt = a.count.attr("name")
            part.notes.append(
                f"bmv2 lets a packet grow by at most {limit} bytes and each element of '{a.node.attr('name')}' "
                f"grows it by {part.coef[a.index]}: the NIC part takes {cnt} <= {cap} (of at most {a.max}); "
                f"packets with {cnt} > {cap} leave the switch unchanged on the host-part port and the runtime "
                f"completes them (host/NIC split)")
    return part

"""Which maps can run as vectors of 16 or 32 elements (``schedule=vector``), decided on the IR alone.

The lowering pass asks :func:`vector_map_reason` for each map on a target that has vectors (DPDK);
:mod:`nicc.backends.dpdk.vector` renders the maps it accepts. A map qualifies when every value of its
body is an unsigned integer of up to 32 bits or a bool, every op of its body has a vector rule
(unsigned arithmetic with wrap or saturation, bit ops, shifts, compares, select, casts) and every
array it reads is a payload array (gathered at any index) or a table, a stream record's array or an
earlier map's results read at ``i`` or ``base + i`` (contiguous loads). :func:`lane_bits` picks
16 lanes of 32 bits or 32 of 16 (every value fits 16 bits, payload arrays gathered only where
their elements are one-byte fields: read from byte planes).

    vector_map_reason(p, m)         # None, or why not: "its body has a crc32"
    lane_bits(m, per_element(m))    # 16 or 32
"""
from __future__ import annotations

from ..compiler.ir import COMPARE, Node, Op, Pipeline
from ..compiler.types import BOOL, Array, Scalar

MIN_ELEMENTS = 16                  # fewer elements than one vector: the scalar loop

BINARY = (Op.ADD, Op.SUB, Op.MUL, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR)
BODY_OPS = set(BINARY) | set(COMPARE) | {Op.NOT, Op.SELECT, Op.CAST, Op.CONST, Op.ELEM, Op.GATHER, Op.YIELD}


def _lane_type(t) -> bool:
    return isinstance(t, Scalar) and (t == BOOL or (t.kind == "u" and t.bits <= 32))


def _range_elem(n: Node, m: Node) -> bool:
    """``n`` is the element of a ``range`` input of map ``m`` (element i is i)."""
    return n.op is Op.ELEM and m.args[n.attr("input")].op is Op.RANGE


def contiguous(idx: Node, m: Node, per: set[int]) -> Node | None | bool:
    """For an index of map ``m``: ``True`` if it is i itself, the node ``base`` if it is ``base + i``
    (``base`` the same for every element, a wrapping add), else None."""
    if _range_elem(idx, m):
        return True
    if idx.op is Op.ADD and idx.attr("overflow", "wrap") == "wrap":
        a, b = idx.args
        if _range_elem(b, m) and id(a) not in per:
            return a
        if _range_elem(a, m) and id(b) not in per:
            return b
    return None


def per_element(m: Node) -> set[int]:
    per: set[int] = set()
    for b in m.body.nodes:
        if b.op is Op.ELEM or any(id(a) in per for a in b.args):
            per.add(id(b))
    return per


def vector_map_reason(p: Pipeline, m: Node) -> str | None:
    """Why map ``m`` cannot run as vectors, or None if it can (see the module docstring)."""
    if m.attr("fuse") == "emit":
        return "its results are written straight into the emit"
    t = m.type
    if not isinstance(t, Array) or t.max < MIN_ELEMENTS:
        return f"fewer than {MIN_ELEMENTS} elements"
    for a in m.args:
        if a.op not in (Op.ARRAY, Op.RANGE, Op.ROM, Op.MAP, Op.STREAM_READ):
            return f"an input is a {a.op.value}"
    for _, ft in t.struct.fields:
        if not _lane_type(ft):
            return f"a result is {ft} (vectors hold unsigned values of up to 32 bits)"
    per = per_element(m)
    for b in m.body.nodes:
        if id(b) not in per and b.op is not Op.YIELD:
            continue                                # runs once, before the loop
        if b.op not in BODY_OPS:
            return f"its body has a {b.op.value}"
        if b.op is not Op.YIELD and not _lane_type(b.type):
            return f"a value is {b.type} (vectors hold unsigned values of up to 32 bits)"
        if b.op is Op.MUL and b.attr("overflow") == "sat" and b.type.bits > 16:
            return "a saturating multiply of 32 bits"
        if b.op in BINARY + tuple(COMPARE) and any(not _lane_type(a.type) for a in b.args):
            return "an operand is signed or wider than 32 bits"
        if b.op is Op.CAST and not _lane_type(b.args[0].type):
            return f"a cast from {b.args[0].type}"
        if b.op is Op.GATHER:
            arr = b.args[0]
            if arr.op is Op.ARRAY:
                continue
            if arr.op not in (Op.ROM, Op.STREAM_READ, Op.MAP):
                return f"a gather from a {arr.op.value}"
            if contiguous(b.args[1], m, per) is None:
                return f"a gather from a {arr.op.value} at an index other than i or base + i"
            if not _lane_type(b.type):
                return f"a gather of {b.type}"
    return None


def planar(t: Array) -> bool:
    """Whether a payload array of type ``t`` can be read as byte planes: elements of 1 to 4 one-byte
    fields (RGB pixels) (:mod:`nicc.backends.dpdk.planes`)."""
    return 1 <= len(t.struct.fields) <= 4 and all(isinstance(ft, Scalar) and ft.kind == "u" and ft.bits == 8
                                                   for _, ft in t.struct.fields)


def lane_bits(m: Node, per: set[int]) -> int:
    """16 when every value of map ``m``'s body and every value it takes from outside fits 16 bits (32
    lanes a step), else 32 (16 lanes). Payload arrays it gathers from must then be :func:`planar`
    (read from byte planes, one permute a read); other payload reads are dwords, 16 lanes at a time."""
    if m.type.max > 0xFFFF:
        return 32
    for b in m.body.nodes:
        if id(b) not in per:
            continue
        if (b.op is Op.ELEM and m.args[b.attr("input")].op is Op.ARRAY) or \
                (b.op is Op.GATHER and b.args[0].op is Op.ARRAY and not planar(b.args[0].type)):
            return 32
        for v in [b] + [a for a in b.args if id(a) not in per]:
            if isinstance(v.type, Scalar) and v.type != BOOL and v.type.bits > 16:
                return 32
    return 16

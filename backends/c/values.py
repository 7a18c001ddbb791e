"""Array values as the C core holds them while it renders: where the elements are, how many.

    PacketArray("count", st, 240, offset=10)        # elements read from the payload, 10 bytes in
    LocalArray("13U", st, 13, 13, fields={"_": "dense_out"})   # a map's results in C arrays
    FusedMap("n", st, 240, node=map_node, inputs=[...])       # computed straight into the emit
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...compiler.ir import Node
from ...compiler.types import Struct


def field_offset(st: Struct, fname: str) -> int:
    off = 0
    for name, ft in st.fields:
        if name == fname:
            return off
        off += ft.nbytes
    raise KeyError(fname)


@dataclass
class ArrayVal:
    """An array value in C: how many elements (a C expression), their struct, at most how many."""
    count: str
    struct: Struct
    max: int
    trip: int | None = None           # the count, when it is a constant


@dataclass
class PacketArray(ArrayVal):
    """Elements read from the payload, ``offset`` bytes in."""
    offset: int = 0
    bounded: bool = False             # may reach past the payload end (negative counts): read byte by byte


@dataclass
class LocalArray(ArrayVal):
    """A map's results, one C array per field."""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class FusedMap(ArrayVal):
    """A map whose results are computed straight into the emitted payload (``fuse=emit``)."""
    node: Node | None = None
    inputs: list = field(default_factory=list)

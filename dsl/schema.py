"""Record schemas: how a UDP payload is laid out.

    class Pixel(nd.Struct):
        r = nd.u8
        g = nd.u8
        b = nd.u8

    class Image(nd.Record):
        image_id = nd.u32
        count = nd.u16
        pixels = nd.array(Pixel, count="count", max=240)

Fields are big-endian (network order) and packed without padding. A record
ends with at most one variable part: a count-prefixed array or ``nd.rest``
(any trailing bytes).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..compiler.errors import NiccError, SourceLoc, user_loc
from ..compiler.types import Scalar, Struct as StructType


class _Rest:
    """Marker: any number of trailing payload bytes, carried through unchanged."""

    def __repr__(self) -> str:
        return "nd.rest"


rest = _Rest()


@dataclass(frozen=True)
class ArraySpec:
    elem: Scalar | StructType
    n: int | None
    count: str | None
    max: int | None
    loc: SourceLoc
    rest: bool = False            # the rest of the payload, as elements (at most max)

    @property
    def bound(self) -> int:
        return self.n if self.n is not None else self.max


def array(elem, n: int | None = None, *, count: str | None = None, max: int | None = None,
          rest: bool = False) -> ArraySpec:
    """A payload array: fixed (``n`` elements), count-prefixed (``count=`` field, ``max=`` bound), or the
    rest of the payload (``rest=True``, ``max=`` bound; a payload whose rest is not whole elements, or more
    than ``max`` of them, is malformed)."""
    loc = user_loc()
    if isinstance(elem, type) and issubclass(elem, Struct):
        elem = elem.__nicc_type__
    if not isinstance(elem, (Scalar, StructType)):
        raise NiccError(f"array element must be a scalar type or an nd.Struct, got {elem!r}", loc)
    if rest:
        if n is not None or count is not None or max is None:
            raise NiccError("array(rest=True) takes only max= (the rest of the payload is its length)", loc)
        if not isinstance(max, int) or not 1 <= max <= 4096:
            raise NiccError(f"array length must be 1..4096, got {max}", loc)
        return ArraySpec(elem, None, None, max, loc, rest=True)
    if n is None and count is None:
        raise NiccError("array needs a length: a fixed n, or count='field' with max=", loc)
    if n is not None and count is not None:
        raise NiccError("array takes either a fixed n or count=, not both", loc)
    if count is not None and max is None:
        raise NiccError(f"array counted by '{count}' has no bound: give max= (NIC loops must be bounded)", loc)
    bound = n if n is not None else max
    if not isinstance(bound, int) or bound <= 0 or bound > 4096:
        raise NiccError(f"array length must be 1..4096, got {bound}", loc)
    return ArraySpec(elem, n, count, max, loc)


def _collect(cls) -> list[tuple[str, object]]:
    out = []
    for base in reversed(cls.__mro__[1:]):
        out.extend(getattr(base, "__nicc_fields__", []))
    for k, v in vars(cls).items():
        if isinstance(v, (Scalar, ArraySpec, _Rest)) or (isinstance(v, type) and issubclass(v, Struct)):
            out.append((k, v))
    return out


class Struct:
    """A group of scalar fields, used as an array element."""
    __nicc_type__: StructType

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        fields = _collect(cls)
        for k, v in fields:
            if not isinstance(v, Scalar):
                raise NiccError(f"struct field '{k}' must be a scalar type, got {v!r}", user_loc())
        cls.__nicc_type__ = StructType(tuple(fields))


class Record:
    """A UDP payload layout; subclass it and list fields in order."""
    __nicc_fields__: list[tuple[str, object]]

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls.__nicc_fields__ = _collect(cls)
        cls.__nicc_loc__ = user_loc()

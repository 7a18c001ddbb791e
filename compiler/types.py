"""IR types: fixed-width scalars, structs of scalars, bounded arrays.

Every value in a nicc pipeline has one of these types; nothing is unbounded.

    >>> U16, Array(Struct((("r", U8), ("g", U8))), 240, dynamic=True)
    (u16, {r:u8,g:u8}[<=240])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scalar:
    """A fixed-width scalar: ``u<N>``/``i<N>`` integers, ``bool``, ``f16``, or ``f32``/``f64``.

    ``f16`` is an IEEE half float kept as its 16 raw bits: NIC code only moves
    and stores it (it is produced by exact lookup tables), never computes on it.
    ``f32`` and ``f64`` are IEEE floats computed with numpy's rules; no NIC target
    has floating point, so the partition pass puts their computations on the host.
    """
    kind: str  # "u", "i", "bool", "f16", "f"
    bits: int

    def __str__(self) -> str:
        if self.kind in ("bool", "f16"):
            return self.kind
        return f"{self.kind}{self.bits}"

    __repr__ = __str__

    @property
    def signed(self) -> bool:
        return self.kind == "i"

    @property
    def is_int(self) -> bool:
        return self.kind in ("u", "i")

    @property
    def is_float(self) -> bool:
        """A float the host computes with (not ``f16``, which only carries bits)."""
        return self.kind == "f"

    @property
    def nbytes(self) -> int:
        return max(1, self.bits // 8)

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def dtype(self) -> np.dtype:
        """numpy dtype holding this type's values (f16 as its uint16 bits)."""
        if self.kind == "bool":
            return np.dtype(np.bool_)
        if self.kind == "f16":
            return np.dtype(np.uint16)
        if self.kind == "f":
            return np.dtype(f"f{self.nbytes}")
        return np.dtype(f"{'i' if self.signed else 'u'}{self.nbytes}")

    def fits(self, v: int) -> bool:
        return self.lo <= v <= self.hi


U8, U16, U32, U64 = (Scalar("u", b) for b in (8, 16, 32, 64))
I8, I16, I32, I64 = (Scalar("i", b) for b in (8, 16, 32, 64))
BOOL = Scalar("bool", 1)
F16 = Scalar("f16", 16)
F32, F64 = Scalar("f", 32), Scalar("f", 64)
SCALARS = {str(t): t for t in (U8, U16, U32, U64, I8, I16, I32, I64, BOOL, F16, F32, F64)}


def is_float(t) -> bool:
    """``t`` is a float scalar the host computes with (``f32``/``f64``)."""
    return isinstance(t, Scalar) and t.kind == "f"


def float_bits(v: float, t: Scalar) -> int:
    """The IEEE bit pattern of ``v`` rounded to ``t`` (how the IR holds a float constant)."""
    return int(np.array(v, dtype=t.dtype).view(f"u{t.nbytes}"))


def bits_float(bits: int, t: Scalar):
    """The float whose IEEE bit pattern (in type ``t``) is ``bits``."""
    return np.array(bits, dtype=f"u{t.nbytes}").view(t.dtype)[()]


@dataclass(frozen=True)
class Struct:
    """A record of named scalars, laid out in order without padding."""
    fields: tuple[tuple[str, Scalar], ...]

    def __str__(self) -> str:
        return "{" + ",".join(f"{n}:{t}" for n, t in self.fields) + "}"

    __repr__ = __str__

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for _, t in self.fields)

    def field(self, name: str) -> Scalar:
        return dict(self.fields)[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.fields)


@dataclass(frozen=True)
class Array:
    """An array of ``elem`` with at most ``max`` elements.

    ``dynamic`` arrays carry their length at run time (count-prefixed in the
    payload); fixed arrays always have exactly ``max`` elements.
    """
    elem: Scalar | Struct
    max: int
    dynamic: bool = False

    def __str__(self) -> str:
        return f"{self.elem}[{'<=' if self.dynamic else ''}{self.max}]"

    __repr__ = __str__

    @property
    def struct(self) -> Struct:
        """The element seen as a struct (a scalar element is the one field ``_``)."""
        return self.elem if isinstance(self.elem, Struct) else Struct((("_", self.elem),))


Type = Scalar | Struct | Array


def parse_type(text: str) -> Type:
    """Parse the printed form of a type (inverse of ``str``)."""
    text = text.strip()
    if text.endswith("]"):
        head, _, size = text[:-1].rpartition("[")
        dynamic = size.startswith("<=")
        return Array(parse_type(head), int(size[2:] if dynamic else size), dynamic)
    if text.startswith("{"):
        fields = []
        for part in text[1:-1].split(","):
            name, _, t = part.partition(":")
            fields.append((name.strip(), SCALARS[t.strip()]))
        return Struct(tuple(fields))
    return SCALARS[text]

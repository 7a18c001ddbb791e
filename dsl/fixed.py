"""Fixed-point arithmetic with explicit widths and rounding, on integer values (no float on the NIC).

A :class:`Fixed` is an integer value read as ``raw / 2**frac``. Products add
fractional bits and never widen by themselves: widen first, explicitly. Rounding
to fewer fractional bits names its mode. Everything lowers to the existing
integer ops, so every target compiles it and the IR shows exactly what runs:

    w = nd.Fixed(c0, frac=8)                        # u16 weight, 8 fractional bits
    h = w * px.cast(nd.u16) + nd.Fixed(c1, 8) * qx.cast(nd.u16)   # u16, 8 fractional bits
    v = h.widen(nd.u32) * nd.Fixed(w0.cast(nd.u32), 8) + ...       # u32, 16 fractional bits
    out = v.round(0, "half_up").to(nd.u8, "sat")    # (v + 2**15) >> 16 without overflow, saturated
"""
from __future__ import annotations

from ..compiler.errors import NiccError, user_loc
from ..compiler.types import Scalar
from .tracer import MODES, Value, as_value, shr_round, tracer  # noqa: F401  (shr_round: nd.Fixed's rounding)



class Fixed:
    """An integer value ``raw`` read as ``raw / 2**frac``."""

    def __init__(self, raw, frac: int):
        if not isinstance(raw, Value) or not isinstance(raw.type, Scalar) or not raw.type.is_int:
            raise NiccError(f"Fixed needs a traced integer value, got {raw!r}", user_loc())
        self.raw, self.frac = raw, int(frac)

    @property
    def type(self) -> Scalar:
        return self.raw.type

    def widen(self, t: Scalar) -> "Fixed":
        """The same number in a wider integer type (explicit: nicc never widens by itself)."""
        if t.bits < self.type.bits:
            raise NiccError(f"widen to {t} would narrow {self.type}; use .round() and .to()", user_loc())
        return Fixed(self.raw.cast(t), self.frac)

    def __mul__(self, other) -> "Fixed":
        o = other if isinstance(other, Fixed) else Fixed(as_value(other, self.raw), 0)
        return Fixed(self.raw * o.raw, self.frac + o.frac)

    __rmul__ = __mul__

    def __add__(self, other) -> "Fixed":
        o = other if isinstance(other, Fixed) else Fixed(as_value(other, self.raw), 0)
        if o.frac != self.frac:
            raise NiccError(f"adding fixed-point values with {self.frac} and {o.frac} fractional bits: "
                            "round or shift one first", user_loc())
        return Fixed(self.raw + o.raw, self.frac)

    __radd__ = __add__

    def round(self, frac: int = 0, mode: str = "half_up") -> "Fixed":
        """Keep ``frac`` fractional bits, rounding the rest away with ``mode``."""
        if frac > self.frac:
            raise NiccError(f"round to {frac} fractional bits from {self.frac}: nothing to round", user_loc())
        return Fixed(shr_round(self.raw, self.frac - frac, mode), frac)

    def to(self, t: Scalar, overflow: str = "sat") -> Value:
        """The integer value in type ``t`` (only once no fractional bits remain)."""
        if self.frac:
            raise NiccError(f"{self.frac} fractional bits remain: .round(0, mode) first", user_loc())
        return self.raw.cast(t, overflow)

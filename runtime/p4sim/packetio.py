"""Packet bits <-> header values (spec 12.8 extract/lookahead/advance, 15 emit).

A header value is a list ``[valid, f1, f2, ...]``; fields are laid out MSB
first in declaration order, as the spec (12.8.1) and bmv2 do.  The parser
position is kept in bits; extraction beyond the end of the packet raises
``ParserErrorSignal('PacketTooShort')`` (spec 12.8.1).
"""
from __future__ import annotations

from .types import Bits, BoolT, HeaderT


class ParserErrorSignal(Exception):
    """A parser error (spec 12.4): the parser transitions to reject with ``error``."""

    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


class PacketCtx:
    """Per-packet state shared by the blocks: input bytes, parser cursor, deparser output."""
    __slots__ = ("data", "pos", "out", "trunc", "sm", "sw", "payload")

    def __init__(self, data: bytes, sw, sm):
        self.data = data
        self.pos = 0
        self.out = []
        self.trunc = None
        self.sm = sm
        self.sw = sw
        self.payload = b""


def layout(t: HeaderT):
    """[(width, signed, is_bool)] of the fields of ``t``."""
    return [(ft.width, ft.signed, False) if isinstance(ft, Bits) else (1, False, True) for _, ft in t.fields]


def peek_bits(ctx: PacketCtx, nbits: int) -> int:
    pos = ctx.pos
    if pos + nbits > len(ctx.data) * 8:
        raise ParserErrorSignal("PacketTooShort")
    if nbits == 0:
        return 0
    start, off = pos >> 3, pos & 7
    nbytes = (off + nbits + 7) >> 3
    v = int.from_bytes(ctx.data[start:start + nbytes], "big")
    return (v >> (nbytes * 8 - off - nbits)) & ((1 << nbits) - 1)


def make_unpacker(t: HeaderT):
    """fn(bits_value, header_list): store the fields of a ``t.bits``-bit value in the header."""
    lay = layout(t)
    total = t.bits
    plan = []
    shift = total
    for i, (w, signed, is_bool) in enumerate(lay):
        shift -= w
        plan.append((i + 1, shift, (1 << w) - 1, (1 << (w - 1)) if signed else 0, is_bool))

    def unpack(v, h):
        for i, sh, m, sign, is_bool in plan:
            f = (v >> sh) & m
            if sign and f & sign:
                f -= sign << 1
            h[i] = bool(f) if is_bool else f
        h[0] = True
    return unpack


def make_packer(t: HeaderT):
    """fn(header_list) -> bytes of the header's fields (the header must be byte-sized)."""
    lay = [(i + 1, w) for i, (w, _, _) in enumerate(layout(t))]
    nbytes = t.bits // 8

    def pack(h):
        v = 0
        for i, w in lay:
            v = (v << w) | (int(h[i]) & ((1 << w) - 1))
        return v.to_bytes(nbytes, "big")
    return pack


def make_extract(t: HeaderT):
    unpack = make_unpacker(t)
    nbits = t.bits

    def extract(ctx, h):
        v = peek_bits(ctx, nbits)
        unpack(v, h)
        ctx.pos += nbits
    return extract


def lookahead_value(ctx, t):
    if isinstance(t, Bits):
        v = peek_bits(ctx, t.width)
        return v - (1 << t.width) if t.signed and v >> (t.width - 1) else v
    if isinstance(t, BoolT):
        return bool(peek_bits(ctx, 1))
    h = [False] * (len(t.fields) + 1)
    make_unpacker(t)(peek_bits(ctx, t.bits), h)
    return h

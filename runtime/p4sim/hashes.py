"""bmv2's hash / checksum algorithms (behavioral-model src/bm_sim/calculations.cpp)
and field-list serialization.

Field lists (``{a, b, c}``) are serialized as bmv2's ``BufBuilder`` does: the
fields' bits are concatenated MSB first with no padding between fields (a
``bit<4>`` followed by a ``bit<12>`` makes two bytes), the whole buffer is
padded with zero bits at the end to a byte boundary, and fields of invalid
headers are skipped.

* crc32: reflected CRC-32, poly 0x04c11db7, init/xorout 0xffffffff (== zlib.crc32);
* crc16: reflected CRC-16/ARC, poly 0x8005, init 0, xorout 0;
* csum16: the Internet checksum (ones' complement of the ones' complement sum
  of big-endian 16-bit words, an odd last byte padded with zero);
* identity: the first (at most 8) bytes of the buffer, big-endian;
* xor16: XOR of the big-endian 16-bit words (an odd last byte is the high byte).
"""
from __future__ import annotations

import zlib


def pack_bits(items) -> bytes:
    """items: iterable of (value, width); value taken as width-bit two's complement."""
    acc = 0
    n = 0
    for v, w in items:
        acc = (acc << w) | (v & ((1 << w) - 1))
        n += w
    pad = (-n) % 8
    return (acc << pad).to_bytes((n + pad) // 8, "big") if n else b""


def _crc16_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC16 = _crc16_table()


def crc16(buf: bytes) -> int:
    c = 0
    for b in buf:
        c = (c >> 8) ^ _CRC16[(c ^ b) & 0xFF]
    return c


def crc32(buf: bytes) -> int:
    return zlib.crc32(buf) & 0xFFFFFFFF


def csum16(buf: bytes) -> int:
    if len(buf) % 2:
        buf += b"\x00"
    s = sum(int.from_bytes(buf[i:i + 2], "big") for i in range(0, len(buf), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def identity(buf: bytes) -> int:
    return int.from_bytes(buf[:8], "big")


def xor16(buf: bytes) -> int:
    if len(buf) % 2:
        buf += b"\x00"
    r = 0
    for i in range(0, len(buf), 2):
        r ^= int.from_bytes(buf[i:i + 2], "big")
    return r


ALGORITHMS = {"crc32": crc32, "crc16": crc16, "csum16": csum16, "identity": identity, "xor16": xor16}

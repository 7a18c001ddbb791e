"""Which frames a pipeline sees, and how a rewritten packet leaves.

Selection (shared by every target): a frame is selected only if it has at
least 42 bytes, EtherType 0x0800 at bytes 12-13 (no VLAN tag), byte 14 is 0x45
(IPv4 without options), IP protocol 17, it is not a fragment (MF clear,
offset 0), the UDP destination port is the pipeline's, and 8 <= UDP length <=
8 + bytes present after the UDP header. The payload is the (UDP length - 8)
bytes after the UDP header. IPv4 total length and checksums are not consulted.

A rewritten packet keeps the first 42 bytes except IPv4 total length, UDP
length (both set to the new size), the IPv4 header checksum (recomputed) and
the UDP checksum (0); it carries no Ethernet padding. A payload emitted for a host part
(``emit[port=P]``, docs/partition.md) also gets UDP destination port P.
"""
from __future__ import annotations

import struct

import numpy as np

ETH_IP_UDP = 42
PAYLOAD_OFFSET = ETH_IP_UDP


def udp_payload_len(frame: bytes, port: int) -> int | None:
    """Length of the UDP payload if ``frame`` is selected for ``port``, else None."""
    if len(frame) < ETH_IP_UDP:
        return None
    if frame[12] != 0x08 or frame[13] != 0x00 or frame[14] != 0x45 or frame[23] != 17:
        return None
    if (frame[20] << 8 | frame[21]) & 0x3FFF:        # MF flag or fragment offset
        return None
    if (frame[36] << 8 | frame[37]) != port:
        return None
    ulen = frame[38] << 8 | frame[39]
    if ulen < 8 or ulen - 8 > len(frame) - ETH_IP_UDP:
        return None
    return ulen - 8


def ipv4_checksum(header: bytes) -> int:
    """RFC 1071 one's-complement sum over a header whose checksum field is zero."""
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def rewrite(frame: bytes, payload: bytes, dport: int | None = None) -> bytes:
    """The frame with its UDP payload replaced and lengths and checksums fixed (and its UDP
    destination port set to ``dport``, when the payload goes to a host part)."""
    hdr = bytearray(frame[:ETH_IP_UDP])
    if dport is not None:
        struct.pack_into("!H", hdr, 36, dport)
    struct.pack_into("!H", hdr, 16, 28 + len(payload))       # IPv4 total length
    struct.pack_into("!H", hdr, 24, 0)
    struct.pack_into("!H", hdr, 24, ipv4_checksum(bytes(hdr[14:34])))
    struct.pack_into("!HH", hdr, 38, 8 + len(payload), 0)    # UDP length, checksum
    return bytes(hdr) + payload


# ---- the same rules over many frames at once (numpy) -----------------------------------

def pack(frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames as one byte buffer: ``(buf, starts, lengths)``."""
    lengths = np.fromiter(map(len, frames), dtype=np.int64, count=len(frames))
    starts = np.zeros(len(frames), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return np.frombuffer(b"".join(frames), dtype=np.uint8), starts, lengths


def rows(buf: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes at each start, as a ``(len(starts), width)`` array (a copy)."""
    if width == 0 or len(starts) == 0:
        return np.zeros((len(starts), width), dtype=np.uint8)
    windows = np.ndarray((len(buf) - width + 1, width), np.uint8, buf, 0, (1, 1))   # every window, no copy
    return windows[starts]


def select(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, port: int) -> np.ndarray:
    """:func:`udp_payload_len` of every packed frame: the payload length, or -1 if not selected."""
    out = np.full(len(starts), -1, dtype=np.int64)
    big = np.flatnonzero(lengths >= ETH_IP_UDP)
    if len(big) == 0:
        return out
    h = rows(buf, starts[big], ETH_IP_UDP)
    be16 = lambda i: h[:, i].astype(np.int64) << 8 | h[:, i + 1]
    ulen = be16(38)
    ok = ((h[:, 12] == 0x08) & (h[:, 13] == 0x00) & (h[:, 14] == 0x45) & (h[:, 23] == 17)
          & ((h[:, 20] & 0x3F) == 0) & (h[:, 21] == 0) & (be16(36) == port)
          & (ulen >= 8) & (ulen - 8 <= lengths[big] - ETH_IP_UDP))
    out[big[ok]] = ulen[ok] - 8
    return out


def _put_be16(hdr: np.ndarray, col: int, v: np.ndarray) -> None:
    hdr[:, col] = (v >> 8) & 0xFF
    hdr[:, col + 1] = v & 0xFF


def rewrite_headers(hdr: np.ndarray, payload_len: np.ndarray, dport: int | None = None) -> np.ndarray:
    """:func:`rewrite`'s header changes on ``(n, 42)`` headers (in place), for new payload lengths."""
    if len(payload_len) and int(payload_len.max()) > 0xFFFF - 28:
        raise struct.error("'H' format requires 0 <= number <= 65535")     # as rewrite() fails
    _put_be16(hdr, 16, 28 + payload_len)                      # IPv4 total length
    hdr[:, 24:26] = 0
    s = hdr[:, 14:34].view(">u2").sum(axis=1, dtype=np.int64)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    _put_be16(hdr, 24, ~s & 0xFFFF)                           # IPv4 header checksum
    _put_be16(hdr, 38, 8 + payload_len)                       # UDP length
    hdr[:, 40:42] = 0                                         # UDP checksum
    if dport is not None:
        _put_be16(hdr, 36, np.full(len(hdr), dport))          # UDP destination port (to a host part)
    return hdr

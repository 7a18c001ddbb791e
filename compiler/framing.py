"""Which frames a pipeline sees, and how a rewritten packet leaves.

Selection (shared by every target): a frame is selected only if it has at
least 42 bytes, EtherType 0x0800 at bytes 12-13 (no VLAN tag), byte 14 is 0x45
(IPv4 without options), IP protocol 17, it is not a fragment (MF clear,
offset 0), the UDP destination port is the pipeline's, and 8 <= UDP length <=
8 + bytes present after the UDP header. The payload is the (UDP length - 8)
bytes after the UDP header. IPv4 total length and checksums are not consulted.

A rewritten packet keeps the first 42 bytes except IPv4 total length, UDP
length (both set to the new size), the IPv4 header checksum (recomputed) and
the UDP checksum (0); it carries no Ethernet padding.
"""
from __future__ import annotations

import struct

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


def rewrite(frame: bytes, payload: bytes) -> bytes:
    """The frame with its UDP payload replaced and lengths and checksums fixed."""
    hdr = bytearray(frame[:ETH_IP_UDP])
    struct.pack_into("!H", hdr, 16, 28 + len(payload))       # IPv4 total length
    struct.pack_into("!H", hdr, 24, 0)
    struct.pack_into("!H", hdr, 24, ipv4_checksum(bytes(hdr[14:34])))
    struct.pack_into("!HH", hdr, 38, 8 + len(payload), 0)    # UDP length, checksum
    return bytes(hdr) + payload

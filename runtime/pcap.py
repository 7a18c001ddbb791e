"""Minimal pcap (libpcap classic format) reading and writing.

Reads microsecond and nanosecond captures in either byte order; writes
microsecond, little-endian, link type 1 (Ethernet) unless told otherwise.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC_US, MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D
LINKTYPE_ETHERNET, LINKTYPE_NULL = 1, 0


class PcapError(Exception):
    pass


@dataclass
class Packet:
    data: bytes
    ts_ns: int = 0


def read_pcap(path: str) -> list[Packet]:
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) == 0:
        return []
    if len(buf) < 24:
        raise PcapError(f"{path}: not a pcap file (too short)")
    for endian in "<>":
        magic, _, _, _, _, _, linktype = struct.unpack(endian + "IHHiIII", buf[:24])
        if magic in (MAGIC_US, MAGIC_NS):
            break
    else:
        raise PcapError(f"{path}: not a pcap file (bad magic {buf[:4].hex()})")
    scale = 1000 if magic == MAGIC_US else 1
    out, off = [], 24
    while off + 16 <= len(buf):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", buf[off:off + 16])
        off += 16
        if off + incl > len(buf):
            raise PcapError(f"{path}: truncated packet record at byte {off - 16}")
        out.append(Packet(buf[off:off + incl], sec * 1_000_000_000 + frac * scale))
        off += incl
    return out


def write_pcap(path: str, packets: list[Packet | bytes], linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        for p in packets:
            if isinstance(p, (bytes, bytearray)):
                p = Packet(bytes(p))
            sec, ns = divmod(p.ts_ns, 1_000_000_000)
            f.write(struct.pack("<IIII", sec, ns // 1000, len(p.data), len(p.data)))
            f.write(p.data)

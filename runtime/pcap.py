"""Capture files, read and written through scapy's raw pcap/pcapng reader and pcap writer.

    cap = read_capture("in.pcapng")         # pcap (us or ns) or pcapng, either byte order, gzip too
    link = link_adapter(cap.linktype)       # Ethernet as is; raw IP and BSD loopback converted; else PcapError
    frames = [link.to_ethernet(p.data) for p in cap.packets]
    ...
    write_pcap("out.pcap", packets, linktype=cap.linktype, nano=cap.nano)

What is kept end to end:

* **timestamps** as integer nanoseconds (:attr:`Packet.ts_ns`): a nanosecond capture (pcap magic
  ``a1b23c4d``, or pcapng with ``if_tsresol`` finer than microseconds) is written back with
  nanosecond precision, a microsecond capture with microseconds; nothing goes through a float.
  pcapng's ``if_tsoffset`` is not applied (scapy does not read it).
* **the link type**: records are bytes of the capture's own link type. :func:`link_adapter` gives the
  conversion a run needs (nicc pipelines see Ethernet frames): raw IPv4/IPv6 captures get a
  synthetic 14-byte Ethernet header (zero MACs, EtherType from the IP version) that is taken off
  again on the way out, so a raw-IP capture in gives a raw-IP capture out; any other link type is
  refused by name. Nothing is ever relabelled.
* **snaplen-cut records** (captured length < length on the wire) are read as captured, marked by
  :attr:`Packet.cut`, and written back with their original wire length when they leave unchanged.

``read_pcap``/``write_pcap`` stay the plain record interface the targets use for their own
plumbing files (DPDK's pcap vdev, bmv2's port files), whatever link type those carry.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL = 228, 229, 113
LINKTYPE_NAMES = {0: "NULL (BSD loopback)", 1: "EN10MB (Ethernet)", 12: "RAW (raw IP, OpenBSD numbering)",
                  14: "RAW (raw IP, BSD numbering)", 101: "RAW (raw IP)", 105: "IEEE802_11 (Wi-Fi)",
                  108: "LOOP (OpenBSD loopback)", 113: "LINUX_SLL (Linux cooked v1)", 127: "IEEE802_11_RADIOTAP",
                  228: "IPV4 (raw IPv4)", 229: "IPV6 (raw IPv6)", 276: "LINUX_SLL2 (Linux cooked v2)"}
MAX_RECORD = 4 * 65535     # scapy's read bound per record; longer records are refused


class PcapError(Exception):
    """A capture nicc cannot read (or a link type it cannot run), with the reason."""


@dataclass
class Packet:
    """One capture record: the captured bytes, the timestamp in ns, and the length on the wire."""
    data: bytes
    ts_ns: int = 0
    wirelen: int | None = None          # None: the same as len(data)

    @property
    def cut(self) -> bool:
        """True when the capture kept fewer bytes than the frame had (snaplen)."""
        return self.wirelen is not None and self.wirelen > len(self.data)


@dataclass
class Capture:
    """A whole capture file: its records and what is needed to write the run's output like it."""
    packets: list[Packet]
    linktype: int = LINKTYPE_ETHERNET
    nano: bool = False                  # timestamps finer than microseconds
    format: str = "pcap"                # "pcap" or "pcapng"
    snaplen: int = 65535

    @property
    def cut(self) -> list[int]:
        """Indices of the records the capture cut short (caplen < len)."""
        return [i for i, p in enumerate(self.packets) if p.cut]

    def describe(self) -> str:
        prec = "ns" if self.nano else "us"
        return f"{self.format}, link type {linktype_name(self.linktype)}, {prec} timestamps"


def linktype_name(lt: int) -> str:
    return f"{LINKTYPE_NAMES.get(lt, 'unknown')} [{lt}]"


class _Warnings(logging.Handler):
    """Collects what scapy logs while reading (it reports damaged files as warnings, then stops)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _reader(path: str):
    """scapy's raw reader for a pcap or pcapng file, with its warnings collected (not printed)."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader
    log = logging.getLogger("scapy.runtime")
    seen = _Warnings()
    log.addHandler(seen)
    propagate, log.propagate = log.propagate, False
    try:
        try:
            reader = RawPcapReader(path)           # falls back to RawPcapNgReader by magic
        except Scapy_Exception as e:
            with open(path, "rb") as f:
                magic = f.read(4).hex()
            raise PcapError(f"not a pcap or pcapng file (magic {magic}: {_reason(e, seen)})") from None
        with reader:
            yield reader, seen
    finally:
        log.removeHandler(seen)
        log.propagate = propagate


def read_capture(path: str) -> Capture:
    """Every record of a pcap or pcapng file, in order. Raises :class:`PcapError` on anything damaged:
    a bad magic, a record or block cut short, mixed link types, a record over 256 KiB (4 * 65535 bytes)."""
    from scapy.utils import RawPcapNgReader
    if os.path.getsize(path) == 0:
        return Capture([])
    with _reader(path) as (reader, seen):
        if isinstance(reader, RawPcapNgReader):
            return _read_pcapng(reader, seen)
        return _read_pcap(reader, seen)


def iter_packets(path: str):
    """The records of a pcap or pcapng file as :class:`Packet` objects, read as they are needed
    (a capture larger than memory streams); damaged records raise :class:`PcapError` as in
    :func:`read_capture`. Link types are not checked: the caller reads them with ``read_capture``'s
    rules, or knows its files."""
    from scapy.utils import RawPcapNgReader
    if os.path.getsize(path) == 0:
        return
    with _reader(path) as (reader, seen):
        ng = isinstance(reader, RawPcapNgReader)
        for pos, data, m, complaints in _records(reader, seen):
            if ng:
                if complaints:
                    raise PcapError(f"damaged block before byte {reader.f.tell()} ({complaints})")
                units = (m.tshigh << 32 | m.tslow) if m.tshigh is not None else 0
                yield Packet(data, units * 1_000_000_000 // m.tsresol, m.wirelen if m.wirelen != len(data) else None)
            else:
                yield _pcap_packet(reader, pos, data, m, complaints)


def _reason(e: Exception | None, seen: _Warnings) -> str:
    parts = [m.replace("PcapNg: ", "").replace("Pcap: ", "") for m in seen.messages]
    return "; ".join(parts + ([str(e)] if e else [])) or "damaged"


def _records(reader, seen: _Warnings):
    """(offset, data, metadata, scapy's complaints) for every record; a damaged tail, which scapy
    takes for the end of the file, is an error."""
    while True:
        pos = reader.f.tell()
        try:
            data, meta = reader._read_packet(size=MAX_RECORD)
        except EOFError:
            reader.f.seek(pos)
            rest = len(reader.f.read())
            if rest:
                why = _reason(None, seen) if seen.messages else "cut short by the end of the file"
                raise PcapError(f"{rest} bytes at byte {pos} are not a complete record ({why})") from None
            return
        complaints, seen.messages = _reason(None, seen) if seen.messages else None, []
        yield pos, data, meta, complaints


def _read_pcap(reader, seen) -> Capture:
    out = [_pcap_packet(reader, pos, data, m, complaints) for pos, data, m, complaints in _records(reader, seen)]
    return Capture(out, reader.linktype, reader.nano, "pcap", reader.snaplen)


def _pcap_packet(reader, pos: int, data: bytes, m, complaints) -> Packet:
    if len(data) != m.caplen:
        what = f"longer than {MAX_RECORD} bytes" if m.caplen > MAX_RECORD else f"only {len(data)} are in the file"
        raise PcapError(f"the record at byte {pos} holds {m.caplen} bytes: {what}")
    if complaints:
        raise PcapError(f"damaged record at byte {pos} ({complaints})")
    scale = 1 if reader.nano else 1000
    return Packet(data, m.sec * 1_000_000_000 + m.usec * scale, m.wirelen if m.wirelen != len(data) else None)


def _read_pcapng(reader, seen) -> Capture:
    out, linktypes, nano = [], set(), False
    for pos, data, m, complaints in _records(reader, seen):
        if complaints:
            raise PcapError(f"damaged block before byte {reader.f.tell()} ({complaints})")
        linktypes.add(m.linktype)
        nano |= m.tsresol > 1_000_000
        units = (m.tshigh << 32 | m.tslow) if m.tshigh is not None else 0     # simple packet blocks have none
        ts = units * 1_000_000_000 // m.tsresol
        out.append(Packet(data, ts, m.wirelen if m.wirelen != len(data) else None))
    if len(linktypes) > 1:
        raise PcapError("interfaces of different link types (" + ", ".join(map(linktype_name, sorted(linktypes)))
                        + "): nicc runs one link type per capture")
    lt = linktypes.pop() if linktypes else (reader.interfaces[0][0] if reader.interfaces else LINKTYPE_ETHERNET)
    snap = max([i[1] for i in reader.interfaces if i[1]] or [65535])
    return Capture(out, lt, nano, "pcapng", snap)


def read_pcap(path: str) -> list[Packet]:
    """The records of a pcap or pcapng file, whatever its link type (see :func:`read_capture`)."""
    return read_capture(path).packets


def write_pcap(path: str, packets: list[Packet | bytes], linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535,
               nano: bool = False) -> None:
    """A classic pcap file (little-endian); ``nano`` writes nanosecond timestamps (magic a1b23c4d)."""
    from scapy.utils import RawPcapWriter
    pk = [p if isinstance(p, Packet) else Packet(bytes(p)) for p in packets]
    snaplen = max([snaplen] + [len(p.data) for p in pk])
    with RawPcapWriter(path, linktype=linktype, endianness="<", nano=nano, snaplen=snaplen, sync=False) as w:
        w.write_header(None)
        for p in pk:
            sec, ns = divmod(p.ts_ns, 1_000_000_000)
            w.write_packet(bytes(p.data), sec=sec, usec=ns if nano else ns // 1000, caplen=len(p.data),
                           wirelen=max(p.wirelen or 0, len(p.data)))


def write_capture(path: str, cap: Capture) -> None:
    """``cap``'s records in a pcap file with its link type and timestamp precision."""
    write_pcap(path, cap.packets, linktype=cap.linktype, snaplen=cap.snaplen, nano=cap.nano)


# -- link types -------------------------------------------------------------------------------------
ETHERTYPE_BY_IP_VERSION = {4: b"\x08\x00", 6: b"\x86\xdd"}
# BSD loopback: the address family in the capturing host's byte order (NULL) or network order (LOOP);
# AF_INET6 differs by OS (Linux 10, BSDs 24/28/30)
AF_INET, AF_INET6 = (2,), (10, 24, 28, 30)


@dataclass
class LinkAdapter:
    """Frames of one link type to the Ethernet frames a pipeline runs on, and back.

    ``to_ethernet(record)`` gives the frame to run; ``from_ethernet(frame, record)`` gives the output
    record for an output ``frame`` of input ``record`` (every output frame comes from one input)."""
    linktype: int
    header: int = 0                                    # link header bytes replaced by Ethernet
    converts: bool = False
    ethertype: callable = field(default=None, repr=False)

    def to_ethernet(self, rec: bytes) -> bytes:
        if not self.converts:
            return rec
        return bytes(12) + self.ethertype(rec) + rec[self.header:]

    def from_ethernet(self, frame: bytes, rec: bytes) -> bytes:
        if not self.converts:
            return frame
        return rec[:self.header] + frame[14:]


def _raw_ip_type(rec: bytes) -> bytes:
    return ETHERTYPE_BY_IP_VERSION.get(rec[0] >> 4 if rec else 0, b"\x00\x00")


def _loop_type(order: str):
    def ethertype(rec: bytes) -> bytes:
        af = int.from_bytes(rec[:4], order) if len(rec) >= 4 else -1
        if af > 0xFFFF:                           # NULL written on a host of the other byte order
            af = int.from_bytes(rec[:4], "big" if order == "little" else "little")
        return b"\x08\x00" if af in AF_INET else b"\x86\xdd" if af in AF_INET6 else b"\x00\x00"
    return ethertype


# link type -> how its records become Ethernet frames; EtherType 0 (not IP) keeps a frame unselected
LINK_ADAPTERS = {
    LINKTYPE_ETHERNET: LinkAdapter(LINKTYPE_ETHERNET),
    LINKTYPE_RAW: LinkAdapter(LINKTYPE_RAW, 0, True, _raw_ip_type),
    12: LinkAdapter(12, 0, True, _raw_ip_type),
    14: LinkAdapter(14, 0, True, _raw_ip_type),
    LINKTYPE_IPV4: LinkAdapter(LINKTYPE_IPV4, 0, True, _raw_ip_type),
    LINKTYPE_IPV6: LinkAdapter(LINKTYPE_IPV6, 0, True, _raw_ip_type),
    LINKTYPE_NULL: LinkAdapter(LINKTYPE_NULL, 4, True, _loop_type("little")),
    LINKTYPE_LOOP: LinkAdapter(LINKTYPE_LOOP, 4, True, _loop_type("big")),
}


def link_adapter(linktype: int) -> LinkAdapter:
    """The conversion for ``linktype``; :class:`PcapError` naming it when nicc cannot run it."""
    if linktype not in LINK_ADAPTERS:
        known = ", ".join(linktype_name(k) for k in sorted(LINK_ADAPTERS))
        raise PcapError(f"link type {linktype_name(linktype)} is not supported: nicc runs Ethernet frames and "
                        f"converts raw IP and loopback captures ({known}); convert the capture first, e.g. "
                        f"with editcap -T ether or tcprewrite --dlt=enet")
    return LINK_ADAPTERS[linktype]

"""Where the host runtime's frames come from: a capture file, a list, a UDP socket (AF_PACKET: afpacket.py).

A *source* is a small picklable description (it can be sent to a DataLoader worker or a Ray
actor); ``source.open(shard, nshards)`` makes the *reader* that does the I/O in the process
that will use it, with the runtime's batching: ``open(shard, nshards, batch, batch_time)``. A
reader's ``read(wait)`` returns a :class:`FrameBatch` of up to ``batch`` items, an empty batch
when nothing came within ``wait`` seconds (live sources), or None at the end of the stream.
Batches close by count (``batch``) or by time (``batch_time``: seconds after the batch's first
item arrived; capture time for files, where None means by count only).

Sharding: ``nshards`` readers of one source share its items without overlap. A capture file is
cut into batches the same way in every reader and reader ``shard`` takes batches ``shard``,
``shard + nshards``, ... (so readers taken in turn give back the file's order); a UDP socket
uses SO_REUSEPORT (the kernel spreads flows over the sockets); AF_PACKET uses PACKET_FANOUT.

Loss is counted where it happens: the kernel's drop counters for sockets (SO_MEMINFO for UDP,
PACKET_STATISTICS for AF_PACKET), and the replay ring for a paced capture (``rate=``), which
stands in for a NIC: frames arrive on schedule whether or not anyone reads them, and those
that find the ring full are lost, as a kernel ring drops them.
"""
from __future__ import annotations

import abc
import collections
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

import numpy as np

from ..pcap import PcapError, iter_packets  # noqa: F401  (PcapError: raised by readers)
from ..netns import in_netns  # noqa: F401  (sources open their sockets in a namespace)
from .batch import FrameBatch

SO_MEMINFO, SK_MEMINFO_DROPS, SO_RCVBUFFORCE = 55, 8, 33
LIVE_BATCH_TIME = 0.05       # seconds: a live batch closes this long after its first frame at the latest


class Reader(abc.ABC):
    """What ``Source.open`` returns: reads batches, knows what it lost."""
    kind = "frame"

    @abc.abstractmethod
    def read(self, wait: float = 0.1) -> FrameBatch | None:
        """The next batch, or None when nothing came within ``wait`` seconds (or the source ended)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Source(abc.ABC):
    """A description of where frames come from; ``open()`` makes a :class:`Reader`."""
    live = False             # live sources never end; their batches close by time too

    @abc.abstractmethod
    def open(self, shard: int = 0, nshards: int = 1, batch: int = 4096, batch_time: float | None = None) -> Reader:
        """A reader of shard ``shard`` of ``nshards``, in batches of up to ``batch`` frames."""


# ---- capture files and lists -----------------------------------------------------------------

def pcap_records(path: str):
    """Stream ``(frame, ts_ns, wire_len)`` from a pcap or pcapng file (scapy's readers, as
    :mod:`nicc.runtime.pcap` reads every capture)."""
    for p in iter_packets(path):
        yield p.data, p.ts_ns, p.wirelen if p.wirelen is not None else len(p.data)


def _cut(records, batch: int, batch_time: float | None):
    """Group ``(frame, ts, wire_len)`` records into batches by count and by capture time."""
    span = None if batch_time is None else int(batch_time * 1e9)
    cur, start = [], 0
    for r in records:
        if cur and (len(cur) >= batch or (span is not None and r[1] - cur[0][1] >= span)):
            yield start, cur
            start += len(cur)
            cur = []
        cur.append(r)
    if cur:
        yield start, cur


def _batch(start: int, recs: list, lost: int = 0) -> FrameBatch:
    idx = np.arange(start, start + len(recs), dtype=np.int64) if isinstance(start, int) else start
    return FrameBatch([r[0] for r in recs], np.array([r[1] for r in recs], dtype=np.uint64), idx,
                      truncated=np.array([len(r[0]) < r[2] for r in recs], dtype=bool), lost=lost)


class _FileReader(Reader):
    def __init__(self, records, batch: int, batch_time: float | None, shard: int, nshards: int):
        self.batches = _cut(records, batch, batch_time)
        self.k, self.shard, self.nshards = 0, shard, nshards

    def read(self, wait: float = 0.1) -> FrameBatch | None:
        for start, recs in self.batches:
            k, self.k = self.k, self.k + 1
            if k % self.nshards == self.shard:
                return _batch(start, recs)
        return None


class _PacedReader(Reader):
    """Replays records at ``rate`` frames/s (or at capture-time spacing, ``rate="capture"``) into a
    ring of ``ring`` frames; frames arriving at a full ring are lost (tail drop) and counted."""

    def __init__(self, records, rate, ring: int, batch: int, batch_time: float | None, speed: float = 1.0):
        self.it, self.rate, self.ring_cap, self.speed, self.batch = iter(records), rate, ring, speed, batch
        self.batch_time = batch_time or 0.0
        self.ring: collections.deque = collections.deque()
        self.t0 = time.monotonic()
        self.n, self.ts0, self.lost, self.ended = 0, None, 0, False
        self.next = self._pull()

    def _pull(self):
        r = next(self.it, None)
        if r is None:
            self.ended = True
            return None
        if self.ts0 is None:
            self.ts0 = r[1]
        due = self.n / self.rate if self.rate != "capture" else (r[1] - self.ts0) / 1e9 / self.speed
        rec = (r, self.n, due)
        self.n += 1
        return rec

    def _arrive(self, now: float) -> None:
        while self.next is not None and self.next[2] <= now:
            if len(self.ring) < self.ring_cap:
                self.ring.append(self.next)
            else:
                self.lost += 1
            self.next = self._pull()

    def read(self, wait: float = 0.1) -> FrameBatch | None:
        max_items = self.batch
        deadline = time.monotonic() + wait
        while True:
            now = time.monotonic() - self.t0
            self._arrive(now)
            full = len(self.ring) >= max_items
            ripe = self.ring and now - self.ring[0][2] >= self.batch_time
            if full or ripe or (self.next is None and self.ring):
                take = [self.ring.popleft() for _ in range(min(max_items, len(self.ring)))]
                lost, self.lost = self.lost, 0
                return _batch(np.array([t[1] for t in take], dtype=np.int64), [t[0] for t in take], lost)
            if self.next is None:
                if self.lost:                      # the last frames were lost: report them
                    lost, self.lost = self.lost, 0
                    return _batch(np.zeros(0, np.int64), [], lost)
                return None
            if time.monotonic() >= deadline:
                return _batch(np.zeros(0, np.int64), [])
            due = self.next[2] if not self.ring else min(self.next[2], self.ring[0][2] + self.batch_time)
            time.sleep(max(0.0, min(due - now, deadline - time.monotonic(), 0.05)))


@dataclass
class PcapSource(Source):
    """Frames from a pcap file, in order. ``rate`` (frames/s, or ``"capture"`` for the capture's own
    spacing sped up ``speed`` times) replays it like a live line into a ring of ``ring`` frames,
    where a slow consumer loses frames (counted); without ``rate`` the file waits for the reader."""
    path: str
    rate: float | str | None = None
    ring: int = 4096
    speed: float = 1.0

    @property
    def live(self) -> bool:
        return self.rate is not None

    def open(self, shard: int = 0, nshards: int = 1, batch: int = 4096, batch_time: float | None = None) -> Reader:
        if not os.path.isfile(self.path):
            raise FileNotFoundError(self.path)
        recs = pcap_records(self.path)
        if self.rate is not None:
            if nshards != 1:
                raise ValueError("a paced capture (rate=) stands for one line: it cannot be sharded")
            return _PacedReader(recs, self.rate, self.ring, batch, batch_time, self.speed)
        return _FileReader(recs, batch, batch_time, shard, nshards)


@dataclass
class ListSource(Source):
    """Frames from memory (``frames``, optional ``ts_ns``): for tests and for feeding shards."""
    frames: list
    ts_ns: list | None = None

    def open(self, shard: int = 0, nshards: int = 1, batch: int = 4096, batch_time: float | None = None) -> Reader:
        ts = self.ts_ns if self.ts_ns is not None else [0] * len(self.frames)
        recs = ((bytes(f), int(t), len(f)) for f, t in zip(self.frames, ts))
        return _FileReader(recs, batch, batch_time, shard, nshards)


# ---- UDP sockets -------------------------------------------------------------------------------

def socket_drops(sock: socket.socket) -> int:
    """The kernel's count of datagrams this socket dropped (receive buffer full): SO_MEMINFO."""
    raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * 9)
    return struct.unpack_from("I", raw, 4 * SK_MEMINFO_DROPS)[0]


class _UdpReader(Reader):
    kind = "payload"

    def __init__(self, src: "UdpSource", reuseport: bool, batch: int, batch_time: float):
        with in_netns(src.netns):
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if reuseport:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if src.rcvbuf:
                try:                               # beyond net.core.rmem_max needs CAP_NET_ADMIN
                    self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, src.rcvbuf)
                except PermissionError:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, src.rcvbuf)
            self.sock.bind((src.host, src.port))
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.batch, self.batch_time = batch, batch_time
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN)
        self.drops0 = self.drops = socket_drops(self.sock)
        self.n = 0
        self.addrs: dict = {}

    def _flow(self, addr) -> int:
        k = self.addrs.get(addr)
        if k is None:
            k = self.addrs[addr] = (struct.unpack("!I", socket.inet_aton(addr[0]))[0] << 32
                                    | addr[1] << 16 | self.port)
        return k

    def read(self, wait: float = 0.1) -> FrameBatch | None:
        items, ts, flows, max_items = [], [], [], self.batch
        if self.poller.poll(max(0, int(wait * 1000))):
            first = time.monotonic()
            recv = self.sock.recvfrom
            while len(items) < max_items:
                try:
                    data, addr = recv(65535)
                except BlockingIOError:
                    left = first + self.batch_time - time.monotonic()
                    if left <= 0 or not self.poller.poll(int(left * 1000) + 1):
                        break
                    continue
                items.append(data)
                ts.append(time.time_ns())
                flows.append(self._flow(addr))
        drops = socket_drops(self.sock)
        lost, self.drops = drops - self.drops, drops
        fb = FrameBatch(items, np.array(ts, dtype=np.uint64), np.arange(self.n, self.n + len(items), dtype=np.int64),
                        kind="payload", flow=np.array(flows, dtype=np.uint64), lost=lost)
        self.n += len(items)
        return fb

    def close(self) -> None:
        self.sock.close()


@dataclass
class UdpSource(Source):
    """Datagrams arriving on a UDP port. The kernel has already selected them (so fragments are
    reassembled, unlike on a frame source); the pipeline runs on each datagram's payload.
    ``rcvbuf`` sizes the socket buffer (bytes the kernel charges, about 1 KiB per small datagram;
    None: the system default), where the kernel drops, and counts, what a slow reader leaves; ``reuseport`` lets several readers (shards, other processes) share the port."""
    port: int
    host: str = "0.0.0.0"
    rcvbuf: int | None = 4 << 20
    reuseport: bool = False
    netns: str | None = None             # an ``ip netns`` name: open the socket there
    live = True

    def open(self, shard: int = 0, nshards: int = 1, batch: int = 4096, batch_time: float | None = None) -> Reader:
        return _UdpReader(self, self.reuseport or nshards > 1, batch, LIVE_BATCH_TIME if batch_time is None else batch_time)

"""Frames from a network interface through an AF_PACKET socket with a TPACKET_V3 receive ring.

The kernel writes frames into a ring of blocks shared with this process (PACKET_RX_RING,
mmap); a block is handed over when full or after ``block_timeout_ms`` and given back once
read, so there is no system call per frame. When the reader falls behind and every block is
in its hands, the kernel drops new frames and counts them (PACKET_STATISTICS), and the reader
reports them as ``lost``. Outgoing frames are ignored (PACKET_IGNORE_OUTGOING). A VLAN tag the
driver took out of the frame (TP_STATUS_VLAN_VALID) is put back, so the pipeline's selection
sees the frame as it was on the wire; a frame the ring could hold only in part is marked
truncated (the runtime counts it as ``unhandled``).

Several readers of one source (DataLoader workers, Ray actors) join one PACKET_FANOUT group,
spread by flow hash, so each flow stays on one reader, in order.

    src = AfPacketSource("eth0")
    for hb in HostRuntime(ir, src): ...
"""
from __future__ import annotations

import contextlib
import mmap
import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from .batch import FrameBatch
from .sources import LIVE_BATCH_TIME, Reader, Source, in_netns

SOL_PACKET = 263
PACKET_RX_RING, PACKET_STATISTICS, PACKET_VERSION, PACKET_FANOUT, PACKET_IGNORE_OUTGOING = 5, 6, 10, 18, 23
TPACKET_V3 = 2
PACKET_FANOUT_HASH = 0
ETH_P_ALL = 0x0003
TP_STATUS_KERNEL, TP_STATUS_USER = 0, 1
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 1 << 4, 1 << 6
BLOCK_STATUS, BLOCK_NUM_PKTS, BLOCK_FIRST = 8, 12, 16        # offsets in struct tpacket_block_desc
HDR3 = struct.Struct("<IIIIIIHHIIH")                          # struct tpacket3_hdr up to tp_vlan_tpid
REQ3 = struct.Struct("<7I")                                   # struct tpacket_req3


class _RingReader(Reader):
    def __init__(self, src: "AfPacketSource", fanout: bool, batch: int, batch_time: float):
        self.bs, self.nr = src.block_size, src.blocks
        with in_netns(src.netns):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)     # receives nothing until bound below
        try:
            s.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            s.setsockopt(SOL_PACKET, PACKET_RX_RING,
                         REQ3.pack(self.bs, self.nr, 2048, self.bs // 2048 * self.nr, src.block_timeout_ms, 0, 0))
            self.mm = mmap.mmap(s.fileno(), self.bs * self.nr, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            s.bind((src.iface, ETH_P_ALL))              # (Python converts the protocol to network order)
            if fanout:
                s.setsockopt(SOL_PACKET, PACKET_FANOUT, src.fanout_group | PACKET_FANOUT_HASH << 16)
        except OSError:
            s.close()
            raise
        self.sock = s
        self.poller = select.poll()
        self.poller.register(s.fileno(), select.POLLIN | select.POLLERR)
        self.blk, self.held, self.pos, self.left = 0, False, 0, 0   # block index, ours?, next frame, frames left
        self.batch, self.batch_time, self.n = batch, batch_time, 0
        self._stats()                                      # reading the statistics resets them: start at zero

    def _stats(self) -> tuple[int, int]:
        """(frames seen, frames dropped) by the kernel since the previous call."""
        packets, drops, _ = struct.unpack("3I", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12))
        return packets, drops

    def _open_block(self) -> bool:
        base = self.blk * self.bs
        if not struct.unpack_from("<I", self.mm, base + BLOCK_STATUS)[0] & TP_STATUS_USER:
            return False
        self.left = struct.unpack_from("<I", self.mm, base + BLOCK_NUM_PKTS)[0]
        self.pos = base + struct.unpack_from("<I", self.mm, base + BLOCK_FIRST)[0]
        self.held = True
        return True

    def _release_block(self) -> None:
        struct.pack_into("<I", self.mm, self.blk * self.bs + BLOCK_STATUS, TP_STATUS_KERNEL)
        self.blk = (self.blk + 1) % self.nr
        self.held = False

    def read(self, wait: float = 0.1) -> FrameBatch | None:
        items, ts, trunc = [], [], []
        mm, unpack = self.mm, HDR3.unpack_from
        start = time.monotonic()
        first = None
        while len(items) < self.batch:
            if not self.held:
                if not self._open_block():
                    now = time.monotonic()
                    until = (first + self.batch_time) if first is not None else (start + wait)
                    if now >= until:
                        break
                    self.poller.poll(max(1, min(int((until - now) * 1000) + 1, 10)))
                    continue
            while self.left > 0 and len(items) < self.batch:
                nxt, sec, nsec, snap, wire, status, mac, _net, _hash, tci, tpid = unpack(mm, self.pos)
                data = mm[self.pos + mac:self.pos + mac + snap]
                if status & TP_STATUS_VLAN_VALID:
                    tag = struct.pack("!HH", tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100, tci)
                    data, snap, wire = data[:12] + tag + data[12:], snap + 4, wire + 4
                items.append(data)
                ts.append(sec * 1_000_000_000 + nsec)
                trunc.append(snap < wire)
                self.left -= 1
                self.pos += nxt
                if first is None:
                    first = time.monotonic()
            if self.left == 0:
                self._release_block()
        _, drops = self._stats()
        fb = FrameBatch(items, np.array(ts, dtype=np.uint64), np.arange(self.n, self.n + len(items), dtype=np.int64),
                        truncated=np.array(trunc, dtype=bool), lost=drops)
        self.n += len(items)
        return fb

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.mm.close()
        self.sock.close()


@dataclass
class AfPacketSource(Source):
    """Every frame arriving on ``iface`` (in network namespace ``netns``, an ``ip netns`` name), through a
    TPACKET_V3 ring of ``blocks`` blocks of ``block_size`` bytes (the kernel drops, and counts, what
    does not fit while the reader is behind). Needs CAP_NET_RAW."""
    iface: str
    netns: str | None = None
    block_size: int = 1 << 20
    blocks: int = 16
    block_timeout_ms: int = 8
    fanout: bool = False                 # join the fanout group even as the only reader (other processes)
    fanout_group: int = field(default_factory=lambda: os.getpid() & 0xFFFF)
    live = True

    def open(self, shard: int = 0, nshards: int = 1, batch: int = 4096, batch_time: float | None = None) -> Reader:
        if self.block_size % mmap.PAGESIZE or self.block_size < 4096:
            raise ValueError(f"block_size must be a multiple of the page size ({mmap.PAGESIZE})")
        return _RingReader(self, self.fanout or nshards > 1, batch,
                           LIVE_BATCH_TIME if batch_time is None else batch_time)

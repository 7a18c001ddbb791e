"""Test traffic from a pipeline's schema: valid frames at boundary values, and frames broken at every layer.

Valid frames carry payloads laid out as the pipeline reads them, with fields at
boundary values (0, 1, max, ...), array counts at 0, 1, max and max + 1, and
values repeating across a sequence (so stateful pipelines see collisions).
Broken frames cover each layer: truncation anywhere (inside the Ethernet, IPv4,
UDP header or the payload), UDP and IPv4 lengths that lie about the bytes
present, IPv4 options, fragments, non-IPv4, VLAN tags, non-UDP, other ports,
Ethernet padding, wrong payload sizes. Frame sizes go from 0 bytes to jumbo
frames of up to :data:`MAX_JUMBO` bytes; a record larger than an Ethernet
frame gets frames as large as it needs.

    frames = generate(ir, 2000, seed=7)     # the same frames for the same seed, on every machine

The generator is plain numpy (``np.random.default_rng(seed)``): reproducible
across processes and targets, and fast enough for million-frame runs.
Pipelines whose traffic has an order that matters (tiles of an image, chunks of a
document) declare a traffic model; :func:`generate` follows it and mixes in
generic frames.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ..compiler import framing
from ..compiler.ir import Op, Pipeline
from ..compiler.types import Array, Scalar

MAX_FRAME = 1518            # a standard Ethernet frame (with FCS room): most frames stay below
MAX_JUMBO = 9018            # a 9000-byte MTU jumbo frame with its Ethernet header and a VLAN tag
JUMBO_RATE = 0.02           # the share of valid frames grown to jumbo size (padding or trailing bytes)


@dataclass
class RecordShape:
    """Where a pipeline reads its payload, derived from its FIELD and ARRAY nodes."""
    port: int
    fields: dict[int, Scalar] = field(default_factory=dict)          # offset -> type
    arrays: list[tuple[int, int, int, int | None]] = field(default_factory=list)  # offset, elem size, max, count offset
    fixed_len: int = 0

    @classmethod
    def of(cls, p: Pipeline) -> "RecordShape":
        lay = cls(p.port)
        for n in p.body.walk():
            if n.op is Op.FIELD:
                lay.fields[n.attr("offset")] = n.type
                lay.fixed_len = max(lay.fixed_len, n.attr("offset") + n.type.nbytes)
            elif n.op is Op.ARRAY:
                t: Array = n.type
                cnt = n.args[0]
                coff = cnt.attr("offset") if cnt.op is Op.FIELD else None
                if coff is not None:
                    lay.fields[coff] = cnt.type
                lay.arrays.append((n.attr("offset"), t.struct.nbytes, t.max, coff))
                end = n.attr("offset") + (0 if t.dynamic else t.max * t.struct.nbytes)
                lay.fixed_len = max(lay.fixed_len, end)
        return lay

    @property
    def max_payload(self) -> int:
        """The largest payload a well-formed record has (bounded arrays at their bound)."""
        end = self.fixed_len
        for aoff, esz, amax, _ in self.arrays:
            end = max(end, aoff + amax * esz)
        return end


class Gen:
    """One seeded stream of frames for one layout."""

    def __init__(self, lay: RecordShape, seed: int):
        self.lay = lay
        self.rng = np.random.default_rng(seed)
        self.limit = max(MAX_JUMBO, 42 + lay.max_payload + 64)      # big records get the frames they need
        self.pool: list[int] = []
        self.new_pool()

    def new_pool(self) -> None:
        """A few values shared by a run of frames, so that keys repeat and state slots collide."""
        r = self.rng
        k = int(r.integers(1, 7))
        self.pool = [int(r.integers(0, 65)) if r.random() < 0.5 else int(r.integers(0, 1 << 63)) * 2 + int(r.integers(2))
                     for _ in range(k)]

    # -- values --------------------------------------------------------------------
    def boundary(self, t: Scalar) -> int:
        r = self.rng
        k = r.random()
        if k < 0.4:
            vals = [0, 1, 2, t.hi, t.hi - 1, t.hi // 2, t.hi // 2 + 1] + ([t.lo, -1] if t.signed else [])
            return vals[int(r.integers(len(vals)))]
        if k < 0.7:
            return int(r.integers(0, min(t.hi, 300) + 1))
        return int(r.integers(t.lo, t.hi, endpoint=True)) if t.bits < 64 else int(r.integers(0, 1 << 63)) * 2 + int(r.integers(2))

    def count(self, amax: int, ct: Scalar) -> int:
        r = self.rng
        k = r.random()
        if k < 0.45:
            return [0, 1, amax - 1, amax, amax, amax, amax + 1][int(r.integers(7))]
        if k < 0.9:
            return int(r.integers(0, amax + 1))
        return int(r.integers(0, ct.hi, endpoint=True)) if ct.bits < 64 else int(r.integers(0, 1 << 63))

    # -- payloads and frames ----------------------------------------------------------
    def payload(self) -> bytes:
        lay, r = self.lay, self.rng
        counts = {coff: self.count(amax, lay.fields[coff]) for _, _, amax, coff in lay.arrays if coff is not None}
        length = lay.fixed_len
        room = self.limit - 42
        for aoff, esz, amax, coff in lay.arrays:
            if coff is not None:
                length = max(length, aoff + min(counts[coff], room // max(esz, 1)) * esz)
        length = min(length, room)
        buf = bytearray(r.integers(0, 256, length, dtype=np.uint8).tobytes())
        if r.random() < 0.25:            # array elements at one boundary byte value
            fill = (0x00, 0xFF, 0x01, 0x80)[int(r.integers(4))]
            for aoff, _, _, _ in lay.arrays:
                buf[aoff:] = bytes([fill]) * (len(buf) - aoff)
        for off, t in sorted(lay.fields.items()):
            if off in counts:
                v = counts[off]
            elif r.random() < 0.33:
                v = self.pool[int(r.integers(len(self.pool)))] + (0, 0, 1, -1, 1 << 14, 2 << 14)[int(r.integers(6))]
            else:
                v = self.boundary(t)
            if off + t.nbytes <= len(buf):
                buf[off:off + t.nbytes] = (v % (1 << t.bits)).to_bytes(t.nbytes, "big")
        k = r.random()                    # payload size: exact, a little off, or jumbo
        if k < JUMBO_RATE:
            buf += r.integers(0, 256, int(r.integers(len(buf), room + 1)) - len(buf), dtype=np.uint8).tobytes()
        elif k < 0.12:
            delta = (1, -1, 3, -3, 17, -17, 200)[int(r.integers(7))]
            buf = buf + r.integers(0, 256, delta, dtype=np.uint8).tobytes() if delta > 0 else buf[:max(0, len(buf) + delta)]
        return bytes(buf[:room])

    def frame(self) -> bytes:
        r = self.rng
        pl = self.payload()
        f = udp_frame(pl, self.lay.port, r, ttl=(1, 64, 255)[int(r.integers(3))], df=bool(r.integers(2)))
        kind = MUTATIONS[int(r.integers(len(MUTATIONS)))] if r.random() < 0.5 else "valid"
        MUTATE[kind](f, pl, r, self.lay)
        return bytes(f[:self.limit])


def udp_frame(payload: bytes, dport: int, rng: np.random.Generator, ttl: int = 64, df: bool = True) -> bytearray:
    """An Ethernet + IPv4 + UDP frame to ``dport`` carrying ``payload`` (valid lengths and checksum)."""
    eth = rng.integers(0, 256, 12, dtype=np.uint8).tobytes() + b"\x08\x00"
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, (28 + len(payload)) & 0xFFFF, int(rng.integers(0, 65536)),
                               0x4000 if df else 0, ttl, 17, 0, rng.bytes(4), rng.bytes(4)))
    struct.pack_into("!H", ip, 10, framing.ipv4_checksum(bytes(ip)))
    udp = struct.pack("!HHHH", int(rng.integers(1024, 65536)), dport, (8 + len(payload)) & 0xFFFF,
                      int(rng.integers(0, 65536)))
    return bytearray(eth + bytes(ip) + udp + payload)


def _truncate(f, pl, r, lay):          # inside any layer: Ethernet, IPv4, UDP header or payload
    cut = (int(r.integers(0, 14)), int(r.integers(14, 34)), int(r.integers(34, 42)), int(r.integers(42, len(f) + 1)))
    del f[cut[int(r.integers(4))]:]


def _set16(off, fn):
    def m(f, pl, r, lay):
        if len(f) >= off + 2:
            struct.pack_into("!H", f, off, fn(f, pl, r) & 0xFFFF)
    return m


def _insert(off, data):
    def m(f, pl, r, lay):
        f[off:off] = data
    return m


def _byte(off, choices):
    def m(f, pl, r, lay):
        f[off] = choices[int(r.integers(len(choices)))]
    return m


def _fragment_mf(f, pl, r, lay):
    f[20] |= 0x20


def _ip_options(f, pl, r, lay):
    f[14] = 0x46
    f[34:34] = b"\x01\x01\x01\x00"


def _padding(f, pl, r, lay):
    f += bytes(int(r.integers(1, 61)))


def _jumbo_padding(f, pl, r, lay):      # a valid record followed by padding up to a jumbo frame
    f += r.integers(0, 256, int(r.integers(len(f), MAX_JUMBO + 1)) - len(f) if len(f) < MAX_JUMBO else 0,
                    dtype=np.uint8).tobytes()


def _other_port(f, pl, r, lay):
    struct.pack_into("!H", f, 36, ((lay.port + 1) & 0xFFFF, (lay.port - 1) & 0xFFFF, 53, 0, 65535)[int(r.integers(5))])


MUTATE = {
    "valid": lambda f, pl, r, lay: None,
    "truncate": _truncate,
    "udp_len_long": _set16(38, lambda f, pl, r: 8 + len(pl) + int(r.integers(1, 601))),
    "udp_len_short": _set16(38, lambda f, pl, r: 8 + max(0, len(pl) - int(r.integers(1, 41)))),
    "udp_len_tiny": _set16(38, lambda f, pl, r: int(r.integers(0, 8))),
    "ip_len_lies": _set16(16, lambda f, pl, r: int(r.integers(0, 65536))),
    "ip_options": _ip_options,
    "ihl": _byte(14, (0x44, 0x4F, 0x65, 0x00)),
    "fragment_mf": _fragment_mf,
    "fragment_off": _set16(20, lambda f, pl, r: int(r.integers(1, 0x2000))),
    "arp": _set16(12, lambda f, pl, r: 0x0806),
    "ipv6": _set16(12, lambda f, pl, r: 0x86DD),
    "vlan": _insert(12, b"\x81\x00\x00\x05"),
    "tcp": _byte(23, (6,)),
    "other_port": _other_port,
    "padding": _padding,
    "jumbo_padding": _jumbo_padding,
    "tiny": lambda f, pl, r, lay: f.__delitem__(slice(int(r.integers(0, 15)), None)),
}
MUTATIONS = [k for k in MUTATE if k != "valid"]


def generate(p: Pipeline, count: int, seed: int = 0, run: int = 20) -> list[bytes]:
    """``count`` frames for ``p``, the same for the same ``seed`` everywhere.

    Every ``run`` frames share a small pool of values (repeated keys, colliding state slots).
    A pipeline that declares a traffic model (``@nd.pipeline(traffic=fn)``: streams of tiles,
    chunked documents...) gets its sequences, in order, with one frame in ten drawn by the
    generic generator (broken at some layer, or a payload laid out at random) mixed in.
    """
    if getattr(p, "traffic", None) is not None:
        return modeled(p, count, seed)
    return _generic(p, count, seed, run)


def modeled(p: Pipeline, count: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    other = int(rng.binomial(count, 0.1)) if count > 1 else 0
    payloads = p.traffic(rng, count - other)
    frames = [bytes(udp_frame(pl, p.port, rng, ttl=int(rng.choice([1, 64, 255])), df=bool(rng.integers(0, 2))))
              for pl in payloads]
    pool = _generic(p, 3 * other + 30, seed, 3) if other else []     # short runs: more varied examples
    extra = [pool[i] for i in sorted(rng.choice(len(pool), other, replace=False))] if other else []
    at = set(rng.choice(len(frames) + len(extra), len(extra), replace=False).tolist()) if extra else set()
    mixed, fi, ei = [], iter(frames), iter(extra)
    for i in range(len(frames) + len(extra)):
        mixed.append(next(ei) if i in at else next(fi))
    return mixed


def _generic(p: Pipeline, count: int, seed: int, run: int) -> list[bytes]:
    g = Gen(RecordShape.of(p), seed)
    out = []
    for i in range(count):
        if i % run == 0:
            g.new_pool()
        out.append(g.frame())
    return out

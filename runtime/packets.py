"""Test traffic from a pipeline's schema, drawn with hypothesis.

Valid frames carry payloads laid out as the pipeline reads them, with fields at
boundary values (0, 1, max, ...), array counts at 0, 1, max and max + 1, and
values repeating across a sequence (so stateful pipelines see collisions).
Malformed frames cover each layer: truncation anywhere, UDP lengths that
disagree with the bytes present, IPv4 options, fragments, non-IPv4, VLAN tags,
non-UDP, other ports, wrong payload sizes. Frames never exceed 1518 bytes.

Hypothesis draws the structure of each frame; bulk bytes come from a numpy
generator seeded by a drawn integer, so a frame costs hypothesis little entropy.
Pipelines whose traffic has an order that matters (tiles of an image, chunks of a
document) declare a traffic model; :func:`generate` follows it and mixes in
generic frames.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed as hseed, settings, strategies as st

from ..compiler import framing
from ..compiler.ir import Op, Pipeline
from ..compiler.types import Array, Scalar

MAX_FRAME = 1518


@dataclass
class Layout:
    """Where a pipeline reads its payload, derived from its FIELD and ARRAY nodes."""
    port: int
    fields: dict[int, Scalar] = field(default_factory=dict)          # offset -> type
    arrays: list[tuple[int, int, int, int | None]] = field(default_factory=list)  # offset, elem size, max, count offset
    fixed_len: int = 0

    @classmethod
    def of(cls, p: Pipeline) -> "Layout":
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


def _boundary(t: Scalar):
    vals = sorted({0, 1, 2, t.hi, t.hi - 1, t.hi // 2, t.hi // 2 + 1} | ({t.lo, -1} if t.signed else set()))
    return st.one_of(st.sampled_from(vals), st.integers(t.lo, t.hi), st.integers(0, min(t.hi, 300)))


def _put(buf: bytearray, off: int, t: Scalar, v: int) -> None:
    if off + t.nbytes <= len(buf):
        buf[off:off + t.nbytes] = (v % (1 << t.bits)).to_bytes(t.nbytes, "big")


@st.composite
def payloads(draw, lay: Layout, pool: list[int]):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    counts = {}
    for aoff, esz, amax, coff in lay.arrays:
        if coff is not None:
            ct = lay.fields[coff]
            counts[coff] = draw(st.one_of(st.sampled_from([0, 1, amax - 1, amax, amax + 1]),
                                          st.integers(0, amax), st.integers(0, ct.hi)))
    length = lay.fixed_len
    for aoff, esz, amax, coff in lay.arrays:
        if coff is not None:
            length = max(length, aoff + min(counts[coff], (MAX_FRAME - 42) // max(esz, 1)) * esz)
    length = min(length, MAX_FRAME - 42)
    buf = bytearray(rng.integers(0, 256, length, dtype=np.uint8).tobytes())
    # array elements: mostly random bytes, sometimes all-boundary values
    if draw(st.integers(0, 3)) == 0:
        fill = draw(st.sampled_from([0x00, 0xFF, 0x01, 0x80]))
        for aoff, esz, amax, coff in lay.arrays:
            buf[aoff:] = bytes([fill]) * (len(buf) - aoff)
    for off, t in sorted(lay.fields.items()):
        if off in counts:
            v = counts[off]
        elif draw(st.integers(0, 2)) == 0:
            v = draw(st.sampled_from(pool))            # repeats and slot collisions for stateful pipelines
            v += draw(st.sampled_from([0, 0, 1, -1, 1 << 14, 2 << 14]))
        else:
            v = draw(_boundary(t))
        _put(buf, off, t, v)
    # payload size: exact, or some bytes more or fewer
    delta = draw(st.sampled_from([0] * 14 + [1, -1, 3, -3, 17, -17, 200]))
    if delta > 0:
        buf += rng.integers(0, 256, delta, dtype=np.uint8).tobytes()
    elif delta < 0:
        buf = buf[:max(0, len(buf) + delta)]
    return bytes(buf[:MAX_FRAME - 42])


def udp_frame(payload: bytes, dport: int, rng: np.random.Generator, ttl: int = 64, df: bool = True) -> bytearray:
    eth = rng.integers(0, 256, 12, dtype=np.uint8).tobytes() + b"\x08\x00"
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), int(rng.integers(0, 65536)),
                               0x4000 if df else 0, ttl, 17, 0, rng.bytes(4), rng.bytes(4)))
    struct.pack_into("!H", ip, 10, framing.ipv4_checksum(bytes(ip)))
    udp = struct.pack("!HHHH", int(rng.integers(1024, 65536)), dport, 8 + len(payload), int(rng.integers(0, 65536)))
    return bytearray(eth + bytes(ip) + udp + payload)


MUTATIONS = ["truncate", "udp_len_long", "udp_len_short", "ip_options", "fragment_mf", "fragment_off",
             "arp", "ipv6", "vlan", "tcp", "other_port", "padding", "tiny", "ihl", "udp_len_tiny"]


@st.composite
def frames(draw, lay: Layout, pool: list[int]):
    """One frame: usually valid for the pipeline, sometimes broken at one layer."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pl = draw(payloads(lay, pool))
    f = udp_frame(pl, lay.port, rng, ttl=draw(st.sampled_from([1, 64, 255])), df=draw(st.booleans()))
    kind = draw(st.sampled_from(["valid"] * len(MUTATIONS) + MUTATIONS))
    if kind == "truncate":
        f = f[:draw(st.integers(0, len(f)))]
    elif kind == "udp_len_long":
        struct.pack_into("!H", f, 38, 8 + len(pl) + draw(st.integers(1, 600)))
    elif kind == "udp_len_short":
        struct.pack_into("!H", f, 38, 8 + max(0, len(pl) - draw(st.integers(1, 40))))
    elif kind == "udp_len_tiny":
        struct.pack_into("!H", f, 38, draw(st.integers(0, 7)))
    elif kind == "ip_options":
        f[14] = 0x46
        f[34:34] = b"\x01\x01\x01\x00"
    elif kind == "ihl":
        f[14] = draw(st.sampled_from([0x44, 0x4F, 0x65, 0x00]))
    elif kind == "fragment_mf":
        f[20] |= 0x20
    elif kind == "fragment_off":
        struct.pack_into("!H", f, 20, draw(st.integers(1, 0x1FFF)))
    elif kind == "arp":
        f[12:14] = b"\x08\x06"
    elif kind == "ipv6":
        f[12:14] = b"\x86\xdd"
    elif kind == "vlan":
        f[12:12] = b"\x81\x00\x00\x05"
    elif kind == "tcp":
        f[23] = 6
    elif kind == "other_port":
        struct.pack_into("!H", f, 36, draw(st.sampled_from([lay.port + 1, lay.port - 1, 53, 0, 65535])))
    elif kind == "padding":
        f += bytes(draw(st.integers(1, 60)))
    elif kind == "tiny":
        f = f[:draw(st.integers(0, 14))]
    return bytes(f[:MAX_FRAME])


@st.composite
def sequences(draw, lay: Layout, n: int):
    """``n`` frames sharing a small pool of values, so that keys repeat and collide."""
    pool = draw(st.lists(st.one_of(st.integers(0, 64), st.integers(0, 2**64 - 1)), min_size=1, max_size=6))
    return [draw(frames(lay, pool)) for _ in range(n)]


def generate(p: Pipeline, count: int, seed: int = 0, chunk: int = 20) -> list[bytes]:
    """``count`` frames for ``p``, reproducible from ``seed``.

    A pipeline that declares a traffic model (``@nd.pipeline(traffic=fn)``: streams of tiles,
    chunked documents...) gets its sequences, in order, with one frame in ten drawn by the
    generic generator (broken at some layer, or a payload laid out at random) mixed in.
    """
    if getattr(p, "traffic", None) is not None:
        return modeled(p, count, seed, chunk)
    return _generic(p, count, seed, chunk)


def modeled(p: Pipeline, count: int, seed: int = 0, chunk: int = 20) -> list[bytes]:
    rng = np.random.default_rng(seed)
    other = int(rng.binomial(count, 0.1)) if count > 1 else 0
    payloads = p.traffic(rng, count - other)
    frames = [bytes(udp_frame(pl, p.port, rng, ttl=int(rng.choice([1, 64, 255])), df=bool(rng.integers(0, 2))))[:MAX_FRAME]
              for pl in payloads]
    pool = _generic(p, 3 * other + 30, seed, 3) if other else []     # short sequences: more varied examples
    extra = [pool[i] for i in sorted(rng.choice(len(pool), other, replace=False))] if other else []
    at = sorted(rng.choice(len(frames) + len(extra), len(extra), replace=False).tolist()) if extra else []
    out, k, j = [], 0, 0
    for i in range(len(frames) + len(extra)):
        if j < len(at) and at[j] == i:
            out.append(extra[j])
            j += 1
        else:
            out.append(frames[k])
            k += 1
    return out


def _generic(p: Pipeline, count: int, seed: int = 0, chunk: int = 20) -> list[bytes]:
    lay = Layout.of(p)
    out: list[bytes] = []
    examples = max(1, -(-count // chunk))

    @hseed(seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(sequences(lay, chunk))
    def collect(fs):
        out.extend(fs)

    while len(out) < count:
        collect()
    return out[:count]

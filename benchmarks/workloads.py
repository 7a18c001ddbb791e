"""The frames a benchmark runs on, and what each frame must become.

Two sets per pipeline:

* ``full``: frames the pipeline processes completely (selected, well-formed, not dropped by a
  verdict): E1 rows of 240 pixels, E2 records with label 0 or 1 and dense values of every bit
  length (log-uniform, as heavy-tailed counts are), E3 messages with new ids; for other
  pipelines, generated frames the reference interpreter passes or transmits. Stateful
  pipelines keep their state across rounds, so after the first round E3 sees its ids again
  (and drops them as duplicates).
* ``mix``: the generated test traffic (``nicc.runtime.packets.generate``) as it comes: valid
  frames, malformed payloads, other ports, fragments, VLAN tags... Frames shorter than an
  Ethernet header are left out (the kernel refuses to run XDP on them), so every target sees
  the same frames.

    fs = frame_set(ir, "full", 1024)
    exp = expected(ir, fs)            # one Outcome per frame, from the reference interpreter
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..compiler.interp import Reference
from ..compiler.ir import Pipeline

SETS = ("full", "mix")
ETH_HLEN = 14


@dataclass(frozen=True)
class Outcome:
    """What the run contract says becomes of one frame: an outcome name and the frame let out."""
    name: str                     # pass | transmit | drop | multicast | malformed | unselected
    frame: bytes | None           # None when dropped


def expected(ir: Pipeline, frames: list[bytes]) -> list[Outcome]:
    """The reference interpreter's outcome for each frame, from the pipeline's initial state."""
    return [Outcome(r.verdict if r.reason == "selected" else r.reason, r.frames[0] if r.frames else None)
            for r in Reference(ir).run(frames)]


def _udp_frame(payload: bytes, port: int, rng: np.random.Generator) -> bytes:
    from ..runtime.packets import udp_frame
    return bytes(udp_frame(payload, port, rng))


def _normalize_full(ir: Pipeline, n: int, rng: np.random.Generator) -> list[bytes]:
    out = []
    for _ in range(n):
        hdr = struct.pack("!IHHH", int(rng.integers(0, 2**32)), int(rng.integers(0, 1 << 16)),
                          int(rng.integers(0, 1 << 16)), 240)
        out.append(_udp_frame(hdr + rng.integers(0, 256, 720, dtype=np.uint8).tobytes(), ir.port, rng))
    return out


def _criteo_full(ir: Pipeline, n: int, rng: np.random.Generator) -> list[bytes]:
    out = []
    for _ in range(n):
        dense = rng.integers(0, 2**32, 13, dtype=np.uint64) >> rng.integers(0, 33, 13, dtype=np.uint64)
        cats = rng.integers(0, 2**32, 26, dtype=np.uint64)
        pl = bytes([int(rng.integers(0, 2))]) + dense.astype(">u4").tobytes() + cats.astype(">u4").tobytes()
        out.append(_udp_frame(pl, ir.port, rng))
    return out


def _dedup_full(ir: Pipeline, n: int, rng: np.random.Generator) -> list[bytes]:
    first = int(rng.integers(1, 2**62))           # consecutive ids: each new, each in its own slot
    return [_udp_frame(struct.pack("!Q", first + k) + rng.bytes(int(rng.integers(0, 65))), ir.port, rng)
            for k in range(n)]


# Pipelines whose fully processed frames are built directly (the generated traffic rarely holds
# a 240-pixel row); the check below makes sure the reference interpreter agrees they are full.
FULL_BUILDERS = {"normalize": _normalize_full, "criteo": _criteo_full, "dedup": _dedup_full}


def _generated(ir: Pipeline, n: int, seed: int) -> list[bytes]:
    from ..runtime.packets import generate
    return [f for f in generate(ir, n, seed) if len(f) >= ETH_HLEN]


def _fully_processed(ir: Pipeline, frames: list[bytes]) -> list[bytes]:
    return [f for f, o in zip(frames, expected(ir, frames)) if o.name in ("pass", "transmit", "multicast")]


def frame_set(ir: Pipeline, kind: str, n: int, seed: int = 1) -> list[bytes]:
    """``n`` frames of set ``kind`` (``full`` or ``mix``) for ``ir``, reproducible from ``seed``."""
    if kind == "mix":
        frames, k = [], 0
        while len(frames) < n:
            frames += _generated(ir, n, seed + 7919 * k)
            k += 1
        return frames[:n]
    if kind != "full":
        raise ValueError(f"unknown frame set {kind!r} (one of {', '.join(SETS)})")
    build = FULL_BUILDERS.get(ir.name)
    if build is not None:
        frames = build(ir, n, np.random.default_rng(seed))
        if len(_fully_processed(ir, frames)) == n:
            return frames
    pool, k = [], 0                  # any other pipeline (or one that only shares a name): tile what
    while not pool and k < 5:        # the generated traffic holds
        pool = _fully_processed(ir, _generated(ir, max(2 * n, 1000), seed + 1000 + k))
        k += 1
    if not pool:
        raise ValueError(f"{ir.name}: the generated traffic holds no frame the pipeline processes fully")
    return (pool * (n // len(pool) + 1))[:n]

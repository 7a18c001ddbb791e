"""Models of E4's and E5's valid traffic, for generated captures (``@nd.pipeline(traffic=...)``).

A model is ``fn(rng, count) -> [payload]``: sequences that make sense to the
pipeline's stream logic (tiles of images in row order, chunks of documents cut
by the sender's rule), with the perturbations a network makes: duplicates,
losses, swaps, restarts, and payloads whose header lies. The generic generator
(:func:`nicc.runtime.packets.generate`) wraps them in frames and mixes in
frames broken at every layer.
"""
from __future__ import annotations

import struct

import numpy as np

from .resize import StreamPlan
from . import wordpiece as wp

E4_PLAN = ((640, 480), (224, 224), [(0, 321), (320, 640)])


def tile_payload(image_id: int, row: int, x0: int, pixels: np.ndarray) -> bytes:
    return struct.pack("!IHHH", image_id, row, x0, len(pixels)) + np.ascontiguousarray(pixels, np.uint8).tobytes()


def sample_image(rng: np.random.Generator, kind: int, h: int = 480, w: int = 640) -> np.ndarray:
    """Random, or made of edge values: 0, 255, gradients, 0/255 noise."""
    kind %= 5
    if kind == 0:
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == 1:
        return np.full((h, w, 3), int(rng.choice([0, 255])), np.uint8)
    if kind == 2:
        gx = (np.arange(w) * 255 // (w - 1)).astype(np.uint8)
        gy = (np.arange(h) * 255 // (h - 1)).astype(np.uint8)
        return np.stack([np.broadcast_to(gx, (h, w)), np.broadcast_to(gy[:, None], (h, w)),
                         np.broadcast_to(255 - gx, (h, w))], axis=2).copy()
    if kind == 3:
        return np.where(rng.random((h, w, 3)) < 0.5, 0, 255).astype(np.uint8)
    return rng.choice(np.array([0, 1, 127, 128, 254, 255], np.uint8), size=(h, w, 3))


def image_tiles(rng: np.random.Generator, count: int) -> list[bytes]:
    """``count`` tile payloads: a few images in flight at once, interleaved a few tiles at a time. Half
    of the images meet one accident (a duplicate, a loss, a swap, a header that lies: the rest of that
    image is out of sequence, as the wire format says), some are abandoned midway, and now and then a
    new image takes the slot of one in flight (image_id + 64)."""
    plan = StreamPlan.make(*E4_PLAN)
    out: list[bytes] = []
    live: list[tuple[int, list[bytes]]] = []
    next_id = int(rng.integers(0, 1 << 20))
    while len(out) < count:
        while len(live) < int(rng.integers(1, 4)):
            if live and rng.random() < 0.05:
                iid = live[0][0] + 64                               # same slot: restarts it, the other is cut off
            else:
                iid, next_id = next_id, next_id + 1
            im = sample_image(rng, int(rng.integers(0, 5)))
            tiles = [tile_payload(iid, r, x0, px) for r, x0, px in plan.tiles_of(im)]
            if rng.random() < 0.15:
                del tiles[int(rng.integers(1, len(tiles))):]       # abandoned midway
            _accident(rng, tiles)
            live.append((iid, tiles))
        k = int(rng.integers(0, len(live)))
        iid, tiles = live[k]
        burst = int(rng.integers(1, 5))
        out += tiles[:burst]
        del tiles[:burst]
        if not tiles:
            live.pop(k)
    return out[:count]


def _accident(rng: np.random.Generator, tiles: list[bytes]) -> None:
    if rng.random() < 0.5 or len(tiles) < 3:
        return
    i = int(rng.integers(1, len(tiles) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        tiles.insert(i, tiles[i])                                   # duplicate
    elif kind == 1:
        del tiles[i]                                                # lost
    elif kind == 2:
        tiles[i], tiles[i + 1] = tiles[i + 1], tiles[i]             # reordered
    else:
        b = bytearray(tiles[i])
        b[int(rng.choice([4, 5, 6, 7, 8, 9]))] ^= 1 << int(rng.integers(0, 8))   # a header that lies
        tiles[i] = bytes(b)


WORDS = ["the", "Tokenization", "unaffable", "HTTPServer", "x86_64", "3.14159", "jumped", "qwzxj", "a", "I",
         "e-mail", "U.S.A.", "2026-11-01", "hello!!!", "(parenthesized)", "don't", "CAPS", "MiXeD", "ok",
         "antidisestablishmentarianism", "naïve", "café", "日本語", "Grüße", "\x07bell", "ümlaut"]


def document(rng: np.random.Generator, ascii_share: float = 0.8) -> bytes:
    parts = []
    for _ in range(int(rng.integers(1, 120))):
        k = rng.random()
        if k < 0.5:
            w = str(rng.choice(WORDS if rng.random() > ascii_share else WORDS[:21]))
        elif k < 0.65:
            w = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
                                   int(rng.integers(1, 30))))
        elif k < 0.72:
            w = "".join(rng.choice(list("!\"#$%&'()*+,-./:;<=>?@\\^_`{|}~"), int(rng.integers(1, 6))))
        elif k < 0.75:
            w = str(rng.choice(list("abcxyz"))) * int(rng.choice([99, 100, 101, 160]))
        else:
            w = "".join(rng.choice(list("0123456789"), int(rng.integers(1, 12))))
        parts.append(w + str(rng.choice([" ", " ", "\t", "\n", "\r\n", ", ", ". "])))
    return "".join(parts).encode()


def text_chunks(rng: np.random.Generator, count: int) -> list[bytes]:
    """``count`` chunk payloads of several documents, cut everywhere (inside words too) by the sender's
    overlap rule, interleaved; sometimes a last flag or length that is malformed."""
    out: list[bytes] = []
    doc_id = int(rng.integers(0, 1 << 30))
    while len(out) < count:
        doc = document(rng)
        cuts = sorted(int(c) for c in rng.integers(1, max(2, len(doc)), int(rng.integers(0, 1 + len(doc) // 40))))
        chunks = wp.split_document(doc, cuts)
        for seq, c in enumerate(chunks):
            last = seq == len(chunks) - 1
            p = wp.chunk_payload(doc_id, seq, last, c)
            r = rng.random()
            if r < 0.01:
                p = p[:int(rng.integers(0, 7))]                       # under 7 bytes
            elif r < 0.02:
                p = p[:6] + bytes([int(rng.choice([2, 7, 255]))]) + p[7:]   # another last value
            elif r < 0.03:
                p = p + bytes(rng.integers(0x20, 0x7F, 501, dtype=np.uint8))   # more than 500 text bytes
            out.append(p)
        doc_id += 1
    return out[:count]

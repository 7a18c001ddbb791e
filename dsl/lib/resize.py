"""Bilinear resize as OpenCV's ``INTER_LINEAR_EXACT`` computes it, in tables and integer fixed point.

The computation, worked out from OpenCV's bit-exact resize (``resize_bitExact``
with the ``ufixedpoint16`` type for 8-bit images), is separable and entirely
integer once per-axis tables are made at compile time:

* **Per output coordinate** ``d`` of an axis of ``src`` -> ``dst`` samples, with
  ``scale = 1 / (dst / src)`` in IEEE double: ``f = scale * (d + 0.5) - 0.5``,
  ``i = floor(f)``. Inside the image the sample reads source ``i`` and ``i + 1``
  with weights ``c1 = round_half_even((f - i) * 256)`` and ``c0 = 256 - c1``
  (unsigned, 8 fractional bits). Left of the image (``i < 0``) and at or right
  of the last source sample the coordinate copies the edge sample: weights
  ``(256, 0)`` on source 0, or on the last source.
* **Horizontal pass**, per source row and channel: ``h = c0*p[i] + c1*p[i+1]``,
  a ``u16`` with 8 fractional bits (at most 255 * 256 = 65280: never saturates).
* **Vertical pass**, per output row: ``v = h[i]*c0 + h[i+1]*c1``, a ``u32`` with
  16 fractional bits; the output byte is ``(v + 2**15) >> 16`` (round half up),
  saturated to ``u8``. Edge rows copy one row's ``h`` the same way (weights 256/0).

The streaming form (:class:`StreamPlan`) is what the E4 wire format needs: rows
arrive in order, each as tiles of source columns; a tile determines the output
columns whose source pair lies inside it, and a source row completes the output
row whose lower source row it is. The state kept per image between packets is
the previous source row's ``h`` (one ``u16`` per output column and channel).

    >>> plan = StreamPlan.make((640, 480), (224, 224), [(0, 321), (320, 640)])
    >>> [(t.x0, t.out_x0, t.n_out) for t in plan.tiles]
    [(0, 0, 112), (320, 112, 112)]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FRAC = 8                      # fractional bits of weights and of the horizontal pass
ONE = 1 << FRAC               # 256: weight 1.0
NONE = 0xFFFF                 # "no output row" in the per-row table


@dataclass(frozen=True)
class Axis:
    """Per output coordinate: the first source sample and the two weights (8 fractional bits)."""
    src: int
    dst: int
    ofs: np.ndarray           # int64[dst], first source index (the second is ofs + 1 unless c1 == 0)
    c0: np.ndarray            # uint16[dst]
    c1: np.ndarray            # uint16[dst]

    @classmethod
    def make(cls, src: int, dst: int) -> "Axis":
        if src < 1 or dst < 1:
            raise ValueError(f"axis sizes must be positive, got {src} -> {dst}")
        scale = 1.0 / (dst / src)             # as OpenCV: 1 / inv_scale, both IEEE doubles
        ofs, c1 = np.zeros(dst, np.int64), np.zeros(dst, np.int64)
        for d in range(dst):
            f = scale * (d + 0.5) - 0.5        # each operation rounded to double, as softdouble does
            i = math.floor(f)
            if i < 0 or src == 1:
                ofs[d], c1[d] = 0, 0           # left of the image: copy the first sample
            elif i >= src - 1:
                ofs[d], c1[d] = src - 1, 0     # at or right of the last sample: copy it
            else:
                ofs[d] = i
                c1[d] = round((f - i) * ONE)   # Python's round is half-to-even, as cvRound
        c1 = c1.astype(np.uint16)
        return cls(src, dst, ofs, (ONE - c1).astype(np.uint16), c1)

    def taps(self) -> tuple[np.ndarray, np.ndarray]:
        """Source indices of the two taps, the second clamped into the image (its weight is 0 there)."""
        return self.ofs, np.minimum(self.ofs + 1, self.src - 1)


def hpass(rows: np.ndarray, ax: Axis) -> np.ndarray:
    """Horizontal pass: ``rows`` (..., src, C) uint8 -> (..., dst, C) uint16 with 8 fractional bits."""
    a, b = ax.taps()
    p0 = rows[..., a, :].astype(np.uint32)
    p1 = rows[..., b, :].astype(np.uint32)
    h = ax.c0[:, None].astype(np.uint32) * p0 + ax.c1[:, None].astype(np.uint32) * p1
    return np.minimum(h, 0xFFFF).astype(np.uint16)            # u16 with saturation (never reached)


def vpass(h0: np.ndarray, h1: np.ndarray, c0, c1) -> np.ndarray:
    """Vertical pass on two horizontally resized rows: u32 with 16 fractional bits, round half up, u8 sat."""
    v = h0.astype(np.uint64) * np.uint64(c0) + h1.astype(np.uint64) * np.uint64(c1)
    v = np.minimum(v, 0xFFFFFFFF)                             # u32 with saturation (never reached)
    return np.minimum((v + (1 << 15)) >> 16, 255).astype(np.uint8)


def resize_linear_exact(img: np.ndarray, dst_w: int, dst_h: int) -> np.ndarray:
    """The whole-image computation: ``cv2.resize(img, (dst_w, dst_h), interpolation=INTER_LINEAR_EXACT)``."""
    if img.dtype != np.uint8:
        raise ValueError("only 8-bit images")
    if img.ndim == 2:
        return resize_linear_exact(img[:, :, None], dst_w, dst_h)[:, :, 0]
    ax, ay = Axis.make(img.shape[1], dst_w), Axis.make(img.shape[0], dst_h)
    h = hpass(img, ax)
    a, b = ay.taps()
    return vpass(h[a], h[b], ay.c0[:, None, None], ay.c1[:, None, None])


@dataclass(frozen=True)
class Tile:
    """Source columns [x0, x0 + n) of a row, and the output columns [out_x0, out_x0 + n_out) they determine."""
    x0: int
    n: int
    out_x0: int
    n_out: int


@dataclass(frozen=True)
class StreamPlan:
    """Tables for resizing an image that arrives row by row, each row as fixed tiles.

    ``col_*`` are per output column (``dst_w`` entries); ``row_*`` per source row
    (``src_h`` entries): the output row that the source row completes (``NONE``
    if none) and the weights of the previous and of this source row.
    """
    src: tuple[int, int]
    dst: tuple[int, int]
    tiles: tuple[Tile, ...]
    col_ofs: np.ndarray       # uint16: first source column of each output column
    col_c0: np.ndarray        # uint16, 8 fractional bits
    col_c1: np.ndarray
    row_out: np.ndarray       # uint16: output row completed by each source row, or NONE
    row_w0: np.ndarray        # uint16: weight of the previous source row
    row_w1: np.ndarray        # uint16: weight of this source row

    @classmethod
    def make(cls, src: tuple[int, int], dst: tuple[int, int], tiles: list[tuple[int, int]]) -> "StreamPlan":
        (sw, sh), (dw, dh) = src, dst
        ax, ay = Axis.make(sw, dw), Axis.make(sh, dh)
        # columns: each output column belongs to the first tile holding every source column it weighs
        owner = np.full(dw, -1)
        for t, (lo, hi) in reversed(list(enumerate(tiles))):
            last = np.where(ax.c1 > 0, ax.ofs + 1, ax.ofs)
            owner[(ax.ofs >= lo) & (last < hi)] = t
        if (owner < 0).any():
            raise ValueError(f"output columns {np.flatnonzero(owner < 0).tolist()} lie in no single tile")
        plan_tiles = []
        for t, (lo, hi) in enumerate(tiles):
            cols = np.flatnonzero(owner == t)
            if len(cols) and not np.array_equal(cols, np.arange(cols[0], cols[-1] + 1)):
                raise ValueError(f"tile {t} determines non-contiguous output columns")
            plan_tiles.append(Tile(lo, hi - lo, int(cols[0]) if len(cols) else 0, len(cols)))
        # rows: output row d is completed by its last weighed source row
        row_out = np.full(sh, NONE, np.uint16)
        w0, w1 = np.zeros(sh, np.uint16), np.zeros(sh, np.uint16)
        for d in range(dh):
            two = ay.c1[d] > 0
            r = int(ay.ofs[d]) + (1 if two else 0)
            if row_out[r] != NONE:
                raise ValueError(f"source row {r} completes output rows {row_out[r]} and {d}: "
                                 "streaming needs at most one output row per source row (a downscale)")
            row_out[r] = d
            w0[r], w1[r] = (ay.c0[d], ay.c1[d]) if two else (0, ONE)
        return cls(src, dst, tuple(plan_tiles), ax.ofs.astype(np.uint16), ax.c0, ax.c1, row_out, w0, w1)

    @property
    def row_keep(self) -> np.ndarray:
        """uint8 per source row: 1 if the next source row completes an output row that weighs this one
        (its horizontal pass must be kept for it), else 0 (nothing will read it)."""
        keep = np.zeros(self.src[1], np.uint8)
        keep[:-1] = (self.row_out[1:] != NONE) & (self.row_w0[1:] != 0)
        return keep

    @property
    def max_tile(self) -> int:
        return max(t.n for t in self.tiles)

    @property
    def max_out(self) -> int:
        return max(t.n_out for t in self.tiles)

    def tile_index(self, x0: int) -> int:
        return next(i for i, t in enumerate(self.tiles) if t.x0 == x0)

    def tiles_of(self, img: np.ndarray):
        """The wire order: ``(row, x0, pixels)`` for every row, every tile."""
        for r in range(self.src[1]):
            for t in self.tiles:
                yield r, t.x0, img[r, t.x0:t.x0 + t.n]


class TileResizer:
    """The streaming computation for one image, with the integer widths a NIC uses.

    ``feed(row, x0, pixels)`` takes tiles in wire order and returns
    ``(out_row, out_x0, pixels)`` when the tile completes output pixels, else None.
    The only state is ``h``: the previous source row after the horizontal pass.
    """

    def __init__(self, plan: StreamPlan, channels: int = 3):
        self.plan = plan
        self.h = np.zeros((plan.dst[0], channels), np.uint16)

    def feed(self, row: int, x0: int, pixels: np.ndarray):
        p = self.plan
        t = p.tiles[p.tile_index(x0)]
        cols = np.arange(t.out_x0, t.out_x0 + t.n_out)
        lx = p.col_ofs[cols].astype(np.int64) - x0
        px = np.vstack([pixels, np.zeros((1, pixels.shape[1]), np.uint8)])   # a tap past the tile has weight 0
        h = (p.col_c0[cols, None].astype(np.uint32) * px[lx] + p.col_c1[cols, None].astype(np.uint32) * px[lx + 1])
        h = np.minimum(h, 0xFFFF).astype(np.uint16)
        prev = self.h[cols].copy()
        self.h[cols] = h
        d = p.row_out[row]
        if d == NONE:
            return None
        return int(d), t.out_x0, vpass(prev, h, p.row_w0[row], p.row_w1[row])

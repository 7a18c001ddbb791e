"""Writing an emitted payload in place: in which order, and in which direction, each piece is written.

An ``emit`` lays its values out one after the other: scalars, copies of arrays, and ``map`` results
fused into the emit (computed element by element straight into the output). Written over the
payload it was read from, a piece must not overwrite bytes that it, or a piece written after it,
still has to read. :func:`plan_in_place` finds an order of the pieces and, for each piece that
reads the payload, a direction (front to back when the payload shrinks, back to front when it
grows) under which nothing is overwritten before it is read; or says there is none, and the
payload is built in a separate buffer instead.

    pieces = [Piece(0, out_off=0, out_size=1, count=1),                      # label
              Piece(1, out_off=1, out_size=1, count=13, reads=[(1, 4)]),     # buckets of dense
              Piece(2, out_off=14, out_size=4, count=26, reads=[(53, 4)])]   # hashes of cats
    plan_in_place(pieces)     # [(piece 0, 'forward'), (piece 1, 'forward'), (piece 2, 'forward')]

Element ``i`` of a piece reads bytes ``[in_off + i*size, +size)`` of each array it reads and writes
``[out_off + i*out_size, +out_size)``; a piece reads all of an element before writing it, and
``block`` elements at a time when it is vectorized. The checks use the largest counts, so they hold
for every count.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Piece:
    index: int                        # position in the emit
    out_off: int                      # first output byte
    out_size: int                     # output bytes per element
    count: int                        # elements at most (1 for a scalar)
    reads: list[tuple[int, int]] = field(default_factory=list)   # payload arrays read: (offset, element size)
    block: int = 1                    # elements read and written together

    @property
    def out_end(self) -> int:
        return self.out_off + self.count * self.out_size

    def read_extents(self) -> list[tuple[int, int]]:
        return [(off, off + self.count * size) for off, size in self.reads]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _safe(p: Piece, block: int) -> tuple[bool, bool]:
    """(front to back is safe, back to front is safe) when ``block`` elements are read before any is written."""
    nb = -(-p.count // block)
    i = np.arange(nb)[:, None]          # block written
    j = np.arange(nb)[None, :]          # block read
    bw = block * p.out_size
    w0, w1 = p.out_off + i * bw, p.out_off + (i + 1) * bw
    clobbers = np.zeros((nb, nb), dtype=bool)
    for off, size in p.reads:
        br = block * size
        r0, r1 = off + j * br, off + (j + 1) * br
        clobbers |= (w0 < r1) & (r0 < w1)
    return not (clobbers & (j > i)).any(), not (clobbers & (j < i)).any()


def direction(p: Piece) -> str | None:
    """'forward' or 'backward' if writing ``p``'s elements in that order never overwrites an element
    it reads later; None if neither order is safe. A vectorized piece (``block`` > 1) must be safe
    element by element too: its scalar fallback writes one element at a time."""
    if not p.reads or not any(_overlap((p.out_off, p.out_end), r) for r in p.read_extents()):
        return "forward"
    fwd, bwd = _safe(p, 1)
    if p.block > 1:
        bf, bb = _safe(p, p.block)
        fwd, bwd = fwd and bf, bwd and bb
    return "forward" if fwd else "backward" if bwd else None


def plan_in_place(pieces: list[Piece]) -> list[tuple[Piece, str]] | None:
    """An order and direction for each piece such that no payload byte is overwritten before every
    piece that reads it has read it; None if there is none."""
    dirs = {}
    for p in pieces:
        d = direction(p)
        if d is None:
            return None
        dirs[p.index] = d
    # a must come before b when b writes bytes a reads
    before = {p.index: set() for p in pieces}
    for a in pieces:
        for b in pieces:
            if a is not b and any(_overlap((b.out_off, b.out_end), r) for r in a.read_extents()):
                before[b.index].add(a.index)
    order, done = [], set()
    by_index = {p.index: p for p in pieces}
    while len(order) < len(pieces):
        ready = [p for p in pieces if p.index not in done and before[p.index] <= done]
        if not ready:
            return None                  # a cycle: each would overwrite what another still reads
        p = ready[0]
        order.append((by_index[p.index], dirs[p.index]))
        done.add(p.index)
    return order

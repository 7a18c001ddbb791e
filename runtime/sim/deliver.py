"""Receivers' applications: duplicate suppression, hold-and-release, in-order delivery, and what they see.

For every receiver r and message m (true time, us):

- r *has* m at ``have`` (first copy through the tree, or a repair answer);
- E3 duplicate suppression accepts the first copy of m unless a copy of m + 16384k
  (same slot, higher id) was accepted before it; every other copy is dropped. Without
  dedup every copy that arrived reaches the application;
- r releases m at the deadline, read on its own clock (true time ``deadline - offset_r``),
  or at once if m arrives later than that; the application gets messages in sequence
  order, so a late message also holds back the ones after it;
- m is *fair* if every receiver had it before its deadline and released it there:
  all applications see it at the same instant, up to clock precision.

Per message: OML (the slowest receiver's one-way latency, without hold), the raw
arrival window (latest - earliest ``have``), the released window, the release latency
(latest release - send) and the hold it added (release latency - OML).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SLOTS = 16384
BLOCK_ELEMS = 1 << 22


@dataclass
class Delivery:
    oml: np.ndarray              # per data message, us (NaN if no receiver has it)
    window: np.ndarray
    released_window: np.ndarray
    release_latency: np.ndarray
    fair: np.ndarray             # bool
    lost: int                    # (receiver, message) pairs the application never got
    duplicated: int              # extra deliveries of a message to one application


def deliver(have_rcv: np.ndarray, copies: np.ndarray, repaired_rcv: np.ndarray | None, send: np.ndarray,
            n_data: int, deadline: np.ndarray, offsets_rcv: np.ndarray, dedup: bool) -> Delivery:
    n_rcv = have_rcv.shape[1]
    s = send[:n_data]
    hi_have = np.full(n_data, -np.inf)
    lo_have = np.full(n_data, np.inf)
    hi_app = np.full(n_data, -np.inf)
    lo_app = np.full(n_data, np.inf)
    fair = np.ones(n_data, dtype=bool)
    lost = dup = 0
    block = max(1, BLOCK_ELEMS // n_data)
    for c0 in range(0, n_rcv, block):
        c1 = min(n_rcv, c0 + block)
        have = have_rcv[:n_data, c0:c1].astype(np.float64) + s[:, None]
        got = np.isfinite(have)
        if dedup:
            got &= ~_superseded(have)
            n_deliveries = got.astype(np.int64)
        else:
            n_deliveries = copies[:n_data, c0:c1].astype(np.int64)
            if repaired_rcv is not None:
                n_deliveries += repaired_rcv[:n_data, c0:c1]
        lost += int((~got).sum())
        dup += int(np.maximum(n_deliveries - 1, 0).sum())
        off = offsets_rcv[c0:c1]
        on_time = have + off <= deadline[:, None]
        release = np.where(on_time, deadline[:, None] - off, have)
        release[~got] = -np.inf                        # never delivered: does not hold the others back
        app = np.maximum.accumulate(release, axis=0)   # in sequence order
        app[~got] = np.nan
        fair &= np.all(got & on_time & (app == release), axis=1)
        hv = np.where(got, have, np.nan)
        with np.errstate(invalid="ignore"):
            hi_have = np.fmax(hi_have, _nan_reduce(hv, np.max))
            lo_have = np.fmin(lo_have, _nan_reduce(hv, np.min))
            hi_app = np.fmax(hi_app, _nan_reduce(app, np.max))
            lo_app = np.fmin(lo_app, _nan_reduce(app, np.min))
    none = ~np.isfinite(hi_have)
    oml = np.where(none, np.nan, hi_have - s)
    return Delivery(oml=oml, window=np.where(none, np.nan, hi_have - lo_have),
                    released_window=np.where(none, np.nan, hi_app - lo_app),
                    release_latency=np.where(none, np.nan, hi_app - s), fair=fair,
                    lost=lost, duplicated=dup)


def _superseded(have: np.ndarray) -> np.ndarray:
    """E3: message m is dropped if a message with the same slot and a higher id got there first."""
    n, cols = have.shape
    if n <= SLOTS:
        return np.zeros(have.shape, dtype=bool)
    k = -(-n // SLOTS)
    h = np.full((k * SLOTS, cols), np.inf)
    h[:n] = have
    h = h.reshape(k, SLOTS, cols)                       # h[j, i] is message j*SLOTS + i
    rev = np.minimum.accumulate(h[::-1], axis=0)[::-1]  # earliest among j' >= j in the same slot
    later = np.concatenate([rev[1:], np.full((1, SLOTS, cols), np.inf)]).reshape(-1, cols)[:n]
    return later < have


def _nan_reduce(a: np.ndarray, fn) -> np.ndarray:
    fill = -np.inf if fn is np.max else np.inf
    r = fn(np.where(np.isnan(a), fill, a), axis=1)
    return np.where(np.isinf(r) & (r == fill), np.nan, r)

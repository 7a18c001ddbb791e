"""Gap detection and repair from a parent's short history (see ``nicc.compiler.dissem``).

Level by level from the top, for every node and message: the node *has* the message at
its first arrival, or, if that has not happened ``reorder_us`` after a later message (or
a trailing heartbeat) arrived, when a repair answer arrives. A request goes to the
node's parents in order (own parent first, then the hedging parents), then to the
sender; a parent answers once it has the message itself (a request can wait there),
or at once with a refusal when the message has left its history, after which the asker
goes to the sender. Requests and answers cross one link each (hop model, may be lost);
an unanswered request is retried after ``timeout_us``. All pending repairs advance
together as arrays, one attempt per step.

Approximation: a parent's history is taken to end at the newest message *sent* by the
time the request arrives (a parent is never ahead of the sender), so the history looks
slightly shorter than it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...compiler.dissem import RepairPolicy
from ...compiler.topology import Topology
from .model import LatencyModel

MAX_ATTEMPTS = 64
BLOCK_ELEMS = 1 << 22


@dataclass
class RepairStats:
    requests: int = 0          # requests sent (every attempt)
    repaired: int = 0          # (node, message) pairs first had through a repair answer
    from_sender: int = 0       # of those, answered by the sender
    refused: int = 0           # answers "no longer in my history"
    unrecovered: int = 0       # pairs still missing after MAX_ATTEMPTS or never detected
    per_level: dict = field(default_factory=dict)


def repair_all(topo: Topology, first: list[np.ndarray], send: np.ndarray, n_data: int, policy: RepairPolicy,
               model: LatencyModel, rng: np.random.Generator) -> tuple[list[np.ndarray], RepairStats]:
    """Times (relative to send, float32) at which every node has every message, and repair counters.

    Rows ``n_data`` and later are heartbeats: they help detect gaps but are not repaired."""
    stats = RepairStats()
    have = [first[0]]
    if not policy.enabled:
        return list(first), stats
    for lvl in range(1, topo.n_levels):
        parents = np.array([[topo.nodes[p].index for p in topo.parents(n)] for n in topo.level(lvl)],
                           dtype=np.int64)
        h = np.array(first[lvl], copy=True)
        block = max(1, BLOCK_ELEMS // max(1, len(send)))
        before = stats.repaired
        for lo in range(0, h.shape[1], block):
            hi = min(h.shape[1], lo + block)
            _repair_block(h, lo, hi, parents[lo:hi], have[lvl - 1], lvl == 1, send, n_data, policy, model, rng, stats)
        stats.per_level[lvl] = stats.repaired - before
        have.append(h)
    return have, stats


def _repair_block(h, lo, hi, parents, have_up, parent_is_sender, send, n_data, policy, model, rng, stats):
    absolute = h[:, lo:hi].astype(np.float64) + send[:, None]
    # the earliest arrival of any later message: reverse running minimum, shifted by one
    later = np.minimum.accumulate(absolute[::-1], axis=0)[::-1]
    later = np.vstack([later[1:], np.full((1, hi - lo), np.inf)])
    detect = later + policy.reorder_us
    missing = absolute[:n_data] > detect[:n_data]
    m_idx, c_idx = np.nonzero(missing)
    if not len(m_idx):
        return
    t = detect[m_idx, c_idx]
    undetected = ~np.isfinite(t)
    stats.unrecovered += int(undetected.sum())
    m_idx, c_idx, t = m_idx[~undetected], c_idx[~undetected], t[~undetected]
    best = absolute[m_idx, c_idx]                   # a late first arrival still counts
    target = np.zeros(len(m_idx), dtype=np.int64)   # attempt k asks parents[k], then the sender (-1)
    n_par = parents.shape[1]
    active = np.ones(len(m_idx), dtype=bool)
    from_sender = np.zeros(len(m_idx), dtype=bool)
    for _ in range(MAX_ATTEMPTS):
        a = np.nonzero(active & (t < best))[0]
        if not len(a):
            break
        stats.requests += len(a)
        to_sender = (target[a] >= n_par) | parent_is_sender
        req = t[a] + model.hops(rng, len(a))
        answer = np.full(len(a), np.inf)
        refused = np.zeros(len(a), dtype=bool)
        # the sender keeps every message
        s = to_sender
        answer[s] = np.maximum(req[s], send[m_idx[a[s]]])
        # a parent answers once it has the message, if it is still in its history
        p = ~to_sender
        if p.any():
            ap, mp = a[p], m_idx[a[p]]
            par = parents[c_idx[ap], target[ap]]
            newest = np.searchsorted(send[:n_data], req[p], side="right") - 1
            keeps = mp > newest - policy.history
            has = have_up[mp, par].astype(np.float64) + send[mp]
            answer[p] = np.where(keeps, np.maximum(req[p], has), req[p])
            refused[p] = ~keeps
        answer += model.hops(rng, len(a))
        lost = model.lost(rng, (2, len(a)))
        if lost is not None:
            answer[lost[0] | lost[1]] = np.inf
        got = ~refused & np.isfinite(answer)
        win = got & (answer < best[a])
        best[a[win]] = answer[win]
        from_sender[a[win]] = to_sender[win]
        stats.refused += int((refused & np.isfinite(answer)).sum())
        # next attempt: after a refusal go to the sender at once; otherwise retry at the timeout
        nxt = np.where(refused & np.isfinite(answer), answer, t[a] + policy.timeout_us)
        t[a] = nxt
        target[a] = np.where(refused, n_par, target[a] + 1)
        active[a[got & (answer <= t[a])]] = False    # answered before the next attempt would start
    ok = np.isfinite(best)
    repaired = ok & (best < absolute[m_idx, c_idx])
    stats.repaired += int(repaired.sum())
    stats.from_sender += int((repaired & from_sender).sum())
    stats.unrecovered += int((~ok).sum())
    h[m_idx, lo + c_idx] = (best - send[m_idx]).astype(np.float32)

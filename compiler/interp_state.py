"""State in the batched reference interpreter: packets in order, evaluated in batches.

The contract is sequential: each packet sees the state the previous one left. Batching
keeps that exactly, in one of four ways chosen per pipeline (:func:`plan_state`):

``stateless``   no state: any batch.
``by_op``       every state array is touched by one node only. Then the whole batch runs
                node by node, and each state node applies the batch's packets *in packet
                order* (the kernels below: last write wins, ``update_if`` as a segmented
                running max/min/previous per slot). This is exact: packet ``p``'s effect
                on array ``X`` happens at ``X``'s only node, and the effects on distinct
                arrays commute.
``rounds``      several nodes share an array, but no state index depends on state. A dry
                run computes every packet's slots; packets are then grouped into rounds
                in which no two packets touch a common slot, each packet after every
                earlier packet it shares a slot with (the longest chain of such packets
                before it). Packets touching disjoint slots commute, so running the rounds
                in order, each as a batch, gives the sequential result.
``by_packet``   a state index depends on state: one packet at a time.

    >>> plan_state(dedup_ir).mode                  # doctest: +SKIP
    'by_op'
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .errors import InternalError
from .interp_ops import dt
from .ir import Node, Op, Pipeline

STATE_OPS = (Op.STATE_READ, Op.STATE_WRITE, Op.STATE_UPDATE_IF)
MUTATING = (Op.STATE_WRITE, Op.STATE_UPDATE_IF)


@dataclass(frozen=True)
class StatePlan:
    mode: str           # stateless | by_op | rounds | by_packet
    reason: str


def _depends_on_state(p: Pipeline) -> dict[int, bool]:
    """For every node (by id): whether its value can depend on the contents of state."""
    dep: dict[int, bool] = {}

    def block(nodes, elem_dep: bool) -> bool:
        anyd = False
        for n in nodes:
            d = n.op in (Op.STATE_READ, Op.STATE_UPDATE_IF) or any(dep[id(a)] for a in n.args)
            if n.op is Op.ELEM:
                d = elem_dep
            if n.body is not None:
                d = block(n.body.nodes, d) or d
            dep[id(n)] = d
            anyd |= d
        return anyd

    block(p.body.nodes, False)
    return dep


def plan_state(p: Pipeline) -> StatePlan:
    nodes = [n for n in p.body.walk() if n.op in STATE_OPS]
    if not nodes:
        return StatePlan("stateless", "no state")
    top = {id(n) for n in p.body.nodes}
    for n in nodes:
        if n.op in MUTATING and id(n) not in top:
            raise InternalError(f"{n.op.value} inside a map body (verify refuses it)")
    per_array = Counter(n.attr("state") for n in nodes)
    if all(c == 1 for c in per_array.values()):
        return StatePlan("by_op", "each state array is touched by one node")
    dep = _depends_on_state(p)
    bad = [n for n in nodes if dep[id(n.args[0])]]
    if not bad:
        return StatePlan("rounds", "state indices do not depend on state")
    return StatePlan("by_packet", f"the index of {bad[0].op.value} @{bad[0].attr('state')} at {bad[0].loc} "
                                  "depends on state")


# ---- kernels: one state node applied to a batch, packets in order -----------------------

def slots(w, n: Node, idx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The state array, its indices (0 where out of range) and which indices are in range."""
    s = w.pipeline.states[n.attr("state")]
    i = np.asarray(idx)
    ok = (i >= 0) & (i < s.size) if i.dtype.kind == "i" else i < s.size
    return w.state[s.name], np.where(ok, i, 0).astype(np.intp), ok


def _last_of_each(slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct slots, and the position of each one's last occurrence."""
    if len(slot) == 1:
        return slot, np.zeros(1, np.intp)
    u, first_rev = np.unique(slot[::-1], return_index=True)
    return u, len(slot) - 1 - first_rev


def _segments(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted slots ``s``: whether each entry starts its slot's segment, and the segment ids."""
    first = np.ones(len(s), bool)
    first[1:] = s[1:] != s[:-1]
    return first, np.cumsum(first) - 1


def _running_prev(init: np.ndarray, v: np.ndarray, first: np.ndarray, seg: np.ndarray, use_max: bool):
    """Per segment (slot), the running max (or min) of ``init`` then the values before each
    entry, and the running value after each entry. Exact for any integer dtype: values
    become ranks, and ``seg * R + rank`` keys make one global running max segment-local."""
    nseg = int(seg[-1]) + 1
    uniq, inv = np.unique(np.concatenate([init, v]), return_inverse=True)
    r = len(uniq)
    rank = inv if use_max else r - 1 - inv
    base = np.arange(nseg, dtype=np.int64) * r
    k_init = base + rank[:nseg]
    k_v = base[seg] + rank[nseg:]
    incl = np.maximum.accumulate(np.maximum(k_v, k_init[seg]))
    before = np.empty_like(incl)
    before[0] = k_init[0]
    before[1:] = incl[:-1]
    before = np.where(first, k_init[seg], before)
    decode = lambda k: uniq[(k - base[seg]) if use_max else (r - 1 - (k - base[seg]))]
    return decode(before), decode(incl)


_UPDATE_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}


def update_if(arr: np.ndarray, slot: np.ndarray, val: np.ndarray, cmp: str) -> np.ndarray:
    """Apply ``update_if`` for entries in order (``slot`` in range); return which stored.

    Per slot, the state before entry ``j`` is: after ``always``/``ne``, the previous value
    stored (a value equal to the old one stores nothing new); after ``gt``/``ge`` the
    running max, after ``lt``/``le`` the running min; ``eq`` never changes it."""
    if len(slot) == 0:
        return np.zeros(0, bool)
    if cmp == "always":
        u, last = _last_of_each(slot)
        arr[u] = val[last]
        return np.ones(len(slot), bool)
    if cmp == "eq":
        return val == arr[slot]
    order = np.argsort(slot, kind="stable")
    s, v = slot[order], val[order]
    first, seg = _segments(s)
    init = arr[s[first]]
    if cmp == "ne":
        before = np.empty_like(v)
        before[1:] = v[:-1]
        before = np.where(first, init[seg], before)
        after = v
    else:
        before, after = _running_prev(init, v, first, seg, use_max=cmp in ("gt", "ge"))
    hit = np.empty(len(slot), bool)
    hit[order] = _UPDATE_CMP[cmp](v, before)
    last = np.flatnonzero(np.append(first[1:], True))
    arr[s[last]] = after[last]
    return hit


def write(arr: np.ndarray, slot: np.ndarray, val: np.ndarray) -> None:
    """Writes in order: the last write to each slot wins."""
    if len(slot):
        u, last = _last_of_each(slot)
        arr[u] = val[last]


# ---- the eval rules -----------------------------------------------------------------------

def r_state_read(w, n, idx):
    if w.dry:
        w.touched.append((n, idx))
        return np.zeros(np.shape(idx), dt(n.type))
    arr, i, ok = slots(w, n, idx)
    return np.where(ok, arr[i], dt(n.type).type(0))


def _top(w, n, *vals):
    if w.map_inputs:
        raise InternalError(f"{n.op.value} inside a map body (verify refuses it)")
    return [v if np.shape(v) == (w.B,) else np.broadcast_to(v, (w.B,)) for v in vals]


def r_state_write(w, n, idx, val, cond):
    idx, val, cond = _top(w, n, idx, val, cond)
    if w.dry:
        w.touched.append((n, idx))
        return None
    arr, i, ok = slots(w, n, idx)
    m = np.flatnonzero(ok & cond & w.alive)
    write(arr, i[m], val[m].astype(arr.dtype))


def r_state_update_if(w, n, idx, val):
    idx, val = _top(w, n, idx, val)
    if w.dry:
        w.touched.append((n, idx))
        return np.zeros(w.B, bool)
    arr, i, ok = slots(w, n, idx)
    m = np.flatnonzero(ok & w.alive)
    hit = np.zeros(w.B, bool)
    hit[m] = update_if(arr, i[m], val[m].astype(arr.dtype), n.attr("cmp"))
    return hit


STATE_RULES = {Op.STATE_READ: r_state_read, Op.STATE_WRITE: r_state_write, Op.STATE_UPDATE_IF: r_state_update_if}


# ---- rounds ---------------------------------------------------------------------------------

def rounds(p: Pipeline, touched: list[tuple[Node, np.ndarray]], B: int) -> list[np.ndarray]:
    """Packets (0..B-1) grouped in rounds that touch disjoint slots, each packet after all
    earlier packets it shares a slot with; rounds in order, packets in order within each."""
    names = {name: k for k, name in enumerate(p.states)}
    keys, pkts = [], []
    for n, idx in touched:
        idx = np.asarray(idx)
        s = p.states[n.attr("state")]
        pk = np.broadcast_to(np.arange(B).reshape((B,) + (1,) * (idx.ndim - 1)), idx.shape)
        ok = (idx >= 0) & (idx < s.size) if idx.dtype.kind == "i" else idx < s.size
        keys.append(np.int64(names[s.name]) << np.int64(32) | idx[ok].astype(np.int64))
        pkts.append(pk[ok])
    key, pkt = np.concatenate(keys), np.concatenate(pkts)
    order = np.lexsort((pkt, key))
    key, pkt = key[order], pkt[order]
    edge = (key[1:] == key[:-1]) & (pkt[1:] != pkt[:-1])
    src, dst = pkt[:-1][edge], pkt[1:][edge]            # src < dst: earlier packet on the same slot
    level = np.zeros(B, np.int64)
    while len(src):
        new = level.copy()
        np.maximum.at(new, dst, level[src] + 1)
        if np.array_equal(new, level):
            break
        level = new
    order = np.argsort(level, kind="stable")
    cuts = np.flatnonzero(np.diff(level[order])) + 1
    return np.split(order, cuts)

"""The OWD control loop: measurement windows at receivers, reports up the tree, deadlines at its root.

A discrete-event simulation (a heap of timed events) of the reports described in
``nicc.compiler.dissem``:

- receivers group messages into ``window_ms`` windows by send stamp; a receiver closes a
  window when a message of a later window reaches it and, ``settle_ms`` later, reports it
  to each of its parents (one link, may be lost):
  the OWD of each message it got through the tree (estimator "oml") or the ``quantile``
  of them (estimator "jasper");
- every proxy ticks every ``report_ms`` (random phase): it merges what reached it since
  its last tick and reports to each of its parents: element-wise maxima of the windows
  that changed ("oml"), or the maximum of the latest value from each source ("jasper");
- the stamping node (the root proxy, or the sender: ``ReleasePolicy.stamp``) merges what
  reaches it every ``sender_refresh_ms`` and keeps the global OWD: the ``quantile`` of the
  OML over its last ``history_windows`` windows old enough for every report to have come
  up ("oml"), or the latest maximum ("jasper");
- it stamps every message with ``deadline = its time + global OWD + hold`` on its clock,
  never earlier than the previous message's deadline. Receivers measure OWD from that
  stamp. Until the first estimate it uses ``bootstrap_us``; those messages are the warm-up.
"""
from __future__ import annotations

import heapq
import warnings
from dataclasses import dataclass

import numpy as np

from ...compiler.dissem import ReleasePolicy
from ...compiler.topology import Topology
from .model import LatencyModel, SimConfig


@dataclass
class Deadlines:
    deadline: np.ndarray        # float64 (data messages,): the stamping node's clock, us
    warmup: np.ndarray          # bool: stamped before the first estimate
    est_times: np.ndarray       # when the global OWD changed (true time, us)
    est_values: np.ndarray      # the global OWD from then on (us)
    reports: int                # report messages sent (all levels)


class _Windows:
    """Message ranges per window (by send stamp), when each receiver reports each window, and the OWD samples.

    A receiver closes window w when the first message of a later window (or a heartbeat)
    reaches it, and reports it ``settle_us`` later; messages of w arriving after that are
    not in its report."""

    def __init__(self, send, n_data, first_rcv, stamp_have, skew, policy: ReleasePolicy, settle_us):
        self.w_us = policy.window_ms * 1000.0
        wid = np.floor(send[:n_data] / self.w_us).astype(np.int64)
        self.count = int(wid[-1]) + 1
        self.bounds = np.append(np.searchsorted(wid, np.arange(self.count + 1))[:-1], n_data)
        self.send, self.first, self.skew = send, first_rcv, skew.astype(np.float32)
        self.stamp = np.where(np.isfinite(stamp_have), stamp_have, np.nan).astype(np.float32)
        self.q = policy.q
        self._quant: dict[int, np.ndarray] = {}
        absolute = first_rcv.astype(np.float64) + send[:, None]
        starts = list(self.bounds[1:]) + [len(send)]
        earliest = np.stack([absolute[a:b].min(axis=0) if b > a else np.full(absolute.shape[1], np.inf)
                             for a, b in zip(starts[:-1], starts[1:])] + [np.full(absolute.shape[1], np.inf)])
        later = np.minimum.accumulate(earliest[::-1], axis=0)[::-1]      # first arrival of any later window
        self.report = later[:self.count] + settle_us                       # (windows, receivers)

    def end(self, w: int) -> float:
        return (w + 1) * self.w_us

    def owd(self, w: int, cols=slice(None)) -> np.ndarray:
        """(messages of w, receivers) OWD from the stamp, on the clocks; NaN where not received by the report."""
        lo, hi = self.bounds[w], self.bounds[w + 1]
        f = self.first[lo:hi, cols]
        late = f + self.send[lo:hi, None] > self.report[w, cols]
        o = f - self.stamp[lo:hi, None] + self.skew[cols]
        o[late] = np.nan
        return o

    def quantiles(self, w: int) -> np.ndarray:
        """Each receiver's ``quantile`` of its OWD in window w (Jasper's per-receiver summary)."""
        if w not in self._quant:
            o = self.owd(w)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)        # receivers with no sample: NaN
                self._quant[w] = np.nanquantile(o, self.q, axis=0) if o.shape[0] else np.full(o.shape[1], np.nan)
        return self._quant[w]


class _Node:
    """What one aggregating node (a proxy, or the sender in unicast) knows."""

    def __init__(self):
        self.vec: dict[int, np.ndarray] = {}      # oml: window -> element-wise max so far
        self.dirty: set[int] = set()
        self.latest: dict[int, tuple[int, float]] = {}   # jasper: source -> (window, value)
        self.inbox: list[tuple[float, int, object, int]] = []   # (arrival, window, payload, source)
        self.rcv = None                            # receivers' reports: (arrival, receiver, window) sorted
        self.rcv_pos = 0


def stamp_deadlines(topo: Topology, first_rcv: np.ndarray, send: np.ndarray, n_data: int, offsets: np.ndarray,
                    stamp_have: np.ndarray, policy: ReleasePolicy, model: LatencyModel, cfg: SimConfig,
                    rng: np.random.Generator) -> Deadlines:
    """Deadlines stamped by the stamping node (``stamp_node(topo, policy)``), which has message m at
    ``send[m] + stamp_have[m]``; receivers measure OWD from that stamp."""
    top = stamp_node(topo, policy)
    top_level = topo.nodes[top].level
    t_stamp = send + stamp_have.astype(np.float64)                 # true time the stamp is written
    win = _Windows(send, n_data, first_rcv, stamp_have, offsets[list(topo.receivers)] - offsets[top], policy,
                   cfg.settle_ms * 1000.0)
    oml = policy.estimator == "oml"
    rcv_level = topo.n_levels - 1
    nodes = {n: _Node() for lvl in range(top_level, rcv_level) for n in topo.level(lvl)}
    reports = 0
    # receivers' reports, all windows at once: (parent, arrival, receiver index, window)
    par = np.array([topo.parents(r) for r in topo.receivers], dtype=np.int64)        # (N, k)
    k = par.shape[1]
    ridx = np.repeat(np.arange(par.shape[0]), k)
    pflat = par.reshape(-1)
    chunks = []
    for w in range(win.count):
        arr = win.report[w, ridx] + model.hops(rng, len(pflat)).astype(np.float64)
        lost = model.lost(rng, len(pflat))
        keep = ~lost if lost is not None else slice(None)
        reports += len(pflat)
        chunks.append((pflat[keep], arr[keep], ridx[keep], np.full(len(ridx[keep]), w)))
    p_all, a_all, r_all, w_all = (np.concatenate(c) for c in zip(*chunks))
    order = np.lexsort((a_all, p_all))
    p_all, a_all, r_all, w_all = p_all[order], a_all[order], r_all[order], w_all[order]
    cuts = np.searchsorted(p_all, np.array(sorted(set(p_all.tolist())) + [np.iinfo(np.int64).max]))
    for i, p in enumerate(sorted(set(p_all.tolist()))):
        nodes[p].rcv = (a_all[cuts[i]:cuts[i + 1]], r_all[cuts[i]:cuts[i + 1]], w_all[cuts[i]:cuts[i + 1]])

    t_end = float(np.nanmax(np.where(np.isfinite(t_stamp[:n_data]), t_stamp[:n_data], np.nan)))
    report_us = policy.report_ms * 1000.0
    refresh_us = cfg.sender_refresh_ms * 1000.0
    mature_us = cfg.settle_ms * 1000.0 + (rcv_level - top_level + 1) * report_us   # + the current OWD
    heap = [(float(rng.uniform(0, report_us)), n) for n in nodes if n != top]
    heap.append((0.0, top))
    heapq.heapify(heap)
    est_t, est_v = [], []
    current = np.nan
    while heap:
        now, n = heapq.heappop(heap)
        if now > t_end:
            break
        node = nodes[n]
        _merge(node, now, win, oml)
        if n == top:
            g = _estimate(node, now, win, policy, mature_us + (cfg.bootstrap_us if np.isnan(current) else current),
                          oml)
            if not (g == current or (np.isnan(g) and np.isnan(current))):
                est_t.append(now)
                est_v.append(g)
                current = g
            heapq.heappush(heap, (now + refresh_us, n))
            continue
        out = [(up, w, payload) for up in topo.parents(n) for w, payload in _outgoing(node, oml)]
        if out:
            reports += len(out)
            arrival = (now + model.hops(rng, len(out)).astype(np.float64)).tolist()
            lost = model.lost(rng, len(out))
            for i, (up, w, payload) in enumerate(out):
                if lost is None or not lost[i]:
                    nodes[up].inbox.append((arrival[i], w, payload, n))
        node.dirty.clear()
        heapq.heappush(heap, (now + report_us, n))

    est_times, est_values = np.array(est_t, dtype=np.float64), np.array(est_v, dtype=np.float64)
    ts = t_stamp[:n_data]
    idx = np.searchsorted(est_times, ts, side="right") - 1
    g = np.where(idx >= 0, est_values[np.maximum(idx, 0)], np.nan) if len(est_values) else np.full(n_data, np.nan)
    warm = np.isnan(g)
    g = np.where(warm, cfg.bootstrap_us, g)
    deadline = ts + offsets[top] + g + policy.hold_us
    deadline = np.fmax.accumulate(np.where(np.isfinite(deadline), deadline, -np.inf))
    return Deadlines(deadline, warm, est_times, est_values, reports)


def stamp_node(topo: Topology, policy: ReleasePolicy) -> int:
    """Where deadlines are stamped: the root proxy (``stamp="root"``, in a tree) or the sender."""
    if policy.stamp == "root" and topo.depth > 0:
        return topo.level(1)[0]
    return topo.sender


def _merge(node: _Node, now: float, win: _Windows, oml: bool) -> None:
    """Take in every report that reached ``node`` by ``now``."""
    if node.rcv is not None:
        arr, rcv, wid = node.rcv
        hi = int(np.searchsorted(arr, now, side="right"))
        lo, node.rcv_pos = node.rcv_pos, hi
        if hi > lo:
            for w in np.unique(wid[lo:hi]).tolist():
                sel = rcv[lo:hi][wid[lo:hi] == w]
                if oml:
                    o = win.owd(w, sel)
                    v = np.full(o.shape[0], np.nan) if o.shape[1] == 0 else _nanmax(o, axis=1)
                    _fold(node, w, v)
                else:
                    q = win.quantiles(w)[sel]
                    for r, val in zip(sel.tolist(), q.tolist()):
                        key = -1 - r                       # receivers as sources: negative keys
                        if key not in node.latest or node.latest[key][0] <= w:
                            node.latest[key] = (w, val)
    if node.inbox:
        ready = [e for e in node.inbox if e[0] <= now]
        node.inbox = [e for e in node.inbox if e[0] > now]
        for _, w, payload, src in ready:
            if oml:
                _fold(node, w, payload)
            elif src not in node.latest or node.latest[src][0] <= w:
                node.latest[src] = (w, payload)


def _fold(node: _Node, w: int, v: np.ndarray) -> None:
    old = node.vec.get(w)
    new = v.copy() if old is None else np.fmax(old, v)
    if old is None or not np.array_equal(old, new, equal_nan=True):
        node.vec[w] = new
        node.dirty.add(w)


def _outgoing(node: _Node, oml: bool):
    if oml:
        return [(w, node.vec[w]) for w in sorted(node.dirty)]
    vals = [v for _, v in node.latest.values() if v == v]
    if not vals:
        return []
    return [(max(w for w, _ in node.latest.values()), max(vals))]


def _estimate(node: _Node, now: float, win: _Windows, policy: ReleasePolicy, mature_us: float, oml: bool) -> float:
    if not oml:
        vals = [v for _, v in node.latest.values() if v == v]
        return max(vals) if vals else np.nan
    ready = sorted(w for w in node.vec if win.end(w) + mature_us <= now)[-policy.history_windows:]
    if not ready:
        return np.nan
    vals = np.concatenate([node.vec[w] for w in ready])
    vals = vals[~np.isnan(vals)]
    return float(np.quantile(vals, policy.q)) if len(vals) else np.nan


def _nanmax(a: np.ndarray, axis: int) -> np.ndarray:
    filled = np.where(np.isnan(a), -np.inf, a)
    m = filled.max(axis=axis)
    return np.where(np.isneginf(m), np.nan, m)

"""The data plane of the simulated tree: when each node first gets each message.

Messages are independent in the latency model (no queueing), so the whole run is
computed level by level as arrays over (message, node), in chunks of messages: the
copies sent from level l to level l+1 leave their sender at its first arrival plus the
extra-child costs of the copies prepared up to the end of their burst, cross one link,
may be lost, and each node
keeps the first of its copies (proxies forward only that one, as duplicate suppression
does). Times are float32 microseconds relative to the message's send time; ``inf`` means
no copy arrived.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...compiler.errors import InternalError
from ...compiler.topology import Topology
from .model import LatencyModel

CHUNK_ELEMS = 1 << 21       # copies per message chunk and level held in memory at once


@dataclass
class Arrivals:
    """First-arrival times per level (index 0: the sender, all zeros) and copies received per receiver."""
    first: list[np.ndarray]          # level l: float32 (messages, width(l)), relative to send time
    copies: np.ndarray               # uint8 (messages, receivers): copies that reached each receiver
    copies_sent: int                 # all copies put on links


class LevelPlan:
    """Index arrays for one level's copies, prepared once."""

    def __init__(self, topo: Topology, lvl: int):
        e = topo.edges(lvl)
        self.src, self.port = e.src, e.port
        self.first = np.arange(len(e.src)) - e.port        # index of the port-0 copy of the same sender
        self.width = topo.width(lvl + 1)
        self.order = np.argsort(e.dst, kind="stable")
        if len(e.src) % self.width:
            raise InternalError(f"level {lvl + 1}: nodes receive different numbers of copies")
        self.k = len(e.src) // self.width                   # copies per node of the next level
        if not np.array_equal(e.dst[self.order], np.repeat(np.arange(self.width), self.k)):
            raise InternalError(f"level {lvl + 1}: copies per node are not uniform")
        self.nonzero = e.port > 0
        self.burst_end = self.first                         # filled by plan_bursts

    def plan_bursts(self, burst: int) -> None:
        """Each copy leaves with the last copy of its burst: index of that copy, per copy."""
        n_src = np.bincount(self.src)                       # copies per sender
        last_port = np.minimum((self.port // burst + 1) * burst - 1, n_src[self.src] - 1)
        self.burst_end = self.first + last_port


def propagate(topo: Topology, model: LatencyModel, n_msgs: int, rng: np.random.Generator) -> Arrivals:
    """First arrivals of ``n_msgs`` messages at every node of ``topo``."""
    plans = [LevelPlan(topo, lvl) for lvl in range(topo.n_levels - 1)]
    for p in plans:
        p.plan_bursts(model.burst)
    first = [np.zeros((n_msgs, 1), dtype=np.float32)]
    first += [np.empty((n_msgs, p.width), dtype=np.float32) for p in plans]
    copies = np.empty((n_msgs, topo.width(topo.n_levels - 1)), dtype=np.uint8)
    widest = max(len(p.src) for p in plans)
    chunk = max(1, CHUNK_ELEMS // widest)
    sent = 0
    for lo in range(0, n_msgs, chunk):
        hi = min(n_msgs, lo + chunk)
        prev = first[0][lo:hi]
        for lvl, p in enumerate(plans):
            shape = (hi - lo, len(p.src))
            inc = model.child_costs(rng, shape)
            inc[:, ~p.nonzero] = 0
            np.cumsum(inc, axis=1, out=inc)
            leave = inc[:, p.burst_end] - inc[:, p.first]   # costs of the copies prepared before this one's burst left
            leave += prev[:, p.src]
            leave += model.hops(rng, shape)
            sent += int(np.isfinite(prev[:, p.src]).sum())  # a node that never got the message sends nothing
            lost = model.lost(rng, shape)
            if lost is not None:
                leave[lost] = np.inf
            by_node = leave[:, p.order].reshape(hi - lo, p.width, p.k)
            nxt = by_node.min(axis=2)
            first[lvl + 1][lo:hi] = nxt
            if lvl == len(plans) - 1:
                copies[lo:hi] = np.isfinite(by_node).sum(axis=2)
            prev = nxt
    return Arrivals(first, copies, sent)


def max_copies_per_node(topo: Topology) -> int:
    """The most copies any node sends per message (the sender or a proxy)."""
    return max(len(topo.children(n)) for lvl in range(topo.n_levels - 1) for n in topo.level(lvl))

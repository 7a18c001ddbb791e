"""The dissemination tree (Jasper, arXiv 2402.09527): who sends to whom, on which port.

    spec = TreeSpec(receivers=1000, fanout=10, hedge=2)
    topo = build_topology(spec)
    topo.count("proxy")                     # 111: 1 root proxy, 10, 100
    topo.children(topo.sender)[0]           # Child(node=1, port=0, primary=True)
    topo.parents(topo.level(4)[0])          # (12, 111, 110): primary parent first, then hedging parents
    members, src = topo.copies(5, host=(1, 9101))   # what node 5 loads into its multicast group

Shape. The sender (level 0) sends one copy to the root proxy (level 1). Proxy levels
1..D fan out; receivers sit at level D+1, so every sender-to-receiver path has D+1 hops.
Level widths are computed bottom-up: ``w[D] = ceil(N / f)``, ``w[l] = ceil(w[l+1] / f)``,
which reaches the single root proxy exactly at level 1 because ``f**D >= N``. The
fan-out ``f`` is the declared F when D is F's natural depth for N (``F**(D-1) < N <= F**D``),
otherwise the smallest f with ``f**D >= N``. Default D = round(log_F N) (at least 1).
So 1000 receivers need 1 + 10 + 100 = 111 proxies, 5000 need 1 + 5 + 50 + 500 = 556.
A level's children are split among its proxies in contiguous blocks whose sizes differ by
at most one.

Sibling hedging H. A proxy at index i of its level also sends to the children of its next
H siblings in the same level, (i+1) mod w .. (i+H) mod w, so every node below a level of
width w receives min(H, w-1) + 1 copies, all over paths of the same length. A proxy sends
its own children first (ports 0..k-1), then the first hedged sibling's children, and so
on: a child's primary copy leaves first, the hedged copies later.

Ports and addresses. A node's children are numbered by port, in send order: port k is
the k-th copy it sends. Node ids are dense (sender 0, then level by level), and every
node has an IPv4 address 10.L.X.Y (L = level, X.Y = index + 1) and a locally
administered MAC 02:6e:69:L:X:Y, for the emulator and the data planes to use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InternalError, NiccError, SourceLoc
from .groups import Addr, Member

ROLES = ("sender", "proxy", "receiver")


@dataclass(frozen=True)
class TreeSpec:
    """What a pipeline file declares about the tree (``nd.tree`` builds it)."""
    receivers: int
    fanout: int = 10
    depth: int | None = None       # proxy levels; None: round(log_F N)
    hedge: int = 0
    port: int = 9100               # UDP port of the dissemination traffic
    loc: SourceLoc | None = field(default=None, compare=False)

    def __post_init__(self):
        def bad(msg):
            raise NiccError(msg, self.loc)
        for name in ("receivers", "fanout", "hedge", "port"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                bad(f"tree {name} must be an integer, got {v!r}")
        if self.receivers < 1:
            bad(f"a tree needs at least one receiver, got receivers={self.receivers}")
        if self.fanout < 2:
            bad(f"fanout must be at least 2, got {self.fanout}")
        if self.hedge < 0:
            bad(f"hedge must be 0 or more, got {self.hedge}")
        if self.depth is not None and (not isinstance(self.depth, int) or self.depth < 1):
            bad(f"depth must be a positive integer or None (automatic), got {self.depth!r}")
        if not 1 <= self.port <= 65535:
            bad(f"UDP port must be 1..65535, got {self.port}")

    def with_(self, **kw) -> "TreeSpec":
        """A copy with some fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


@dataclass(frozen=True)
class Node:
    id: int
    role: str          # "sender" | "proxy" | "receiver"
    level: int         # 0 sender, 1..D proxies, D+1 receivers
    index: int         # position within its level

    @property
    def ip(self) -> str:
        k = self.index + 1
        return f"10.{self.level}.{k >> 8}.{k & 255}"

    @property
    def mac(self) -> str:
        k = self.index + 1
        return f"02:6e:69:{self.level:02x}:{k >> 8:02x}:{k & 255:02x}"


@dataclass(frozen=True)
class Child:
    node: int          # the child's node id
    port: int          # egress index at the sender of this copy (send order)
    primary: bool      # True if the sender is the child's own parent, False for a hedged copy


@dataclass(frozen=True)
class LevelEdges:
    """All copies sent from level l to level l+1, as arrays (indices are positions in the levels)."""
    src: np.ndarray    # index in level l of the sending node
    dst: np.ndarray    # index in level l+1 of the receiving node
    port: np.ndarray   # position of this copy in the sender's send order
    primary: np.ndarray


def natural_depth(receivers: int, fanout: int) -> int:
    """Jasper's default depth, round(log_F N), at least 1."""
    return max(1, round(math.log(receivers) / math.log(fanout))) if receivers > 1 else 1


def _iroot_ceil(n: int, d: int) -> int:
    """Smallest f >= 2 with f**d >= n."""
    f = max(2, int(round(n ** (1.0 / d))))
    while f ** d < n:
        f += 1
    while f > 2 and (f - 1) ** d >= n:
        f -= 1
    return f


def level_widths(receivers: int, fanout: int, depth: int) -> tuple[int, list[int]]:
    """(effective fan-out, widths of proxy levels 1..D)."""
    natural = fanout ** (depth - 1) < receivers <= fanout ** depth
    f = fanout if natural else _iroot_ceil(receivers, depth)
    widths = [receivers]
    for _ in range(depth):
        widths.append(-(-widths[-1] // f))
    widths = widths[1:][::-1]
    if widths[0] != 1:
        raise InternalError(f"tree of depth {depth}, fan-out {f} for {receivers} receivers has {widths[0]} roots")
    return f, widths


class Topology:
    """A built tree: nodes with roles and levels, children per node in port order, parents for repair."""

    def __init__(self, spec: TreeSpec, fanout: int, widths: list[int]):
        self.spec = spec
        self.fanout = fanout                  # effective fan-out (own children per proxy, at most)
        self.depth = len(widths)              # proxy levels (0: direct unicast)
        self.hedge = spec.hedge
        all_widths = [1] + widths + [spec.receivers]
        self.nodes: list[Node] = []
        self._levels: list[range] = []
        for lvl, w in enumerate(all_widths):
            role = "sender" if lvl == 0 else "receiver" if lvl == len(all_widths) - 1 else "proxy"
            start = len(self.nodes)
            self.nodes.extend(Node(start + i, role, lvl, i) for i in range(w))
            self._levels.append(range(start, start + w))
        self._edges = [self._build_edges(lvl) for lvl in range(len(all_widths) - 1)]
        self._children: list[list[Child]] = [[] for _ in self.nodes]
        self._parents: list[list[int]] = [[] for _ in self.nodes]
        for lvl, e in enumerate(self._edges):
            up, down = self._levels[lvl], self._levels[lvl + 1]
            for s, d, p, pr in zip(e.src.tolist(), e.dst.tolist(), e.port.tolist(), e.primary.tolist()):
                self._children[up[s]].append(Child(down[d], p, pr))
        for lvl, e in enumerate(self._edges):        # parents: primary first, then i-1, i-2, ... (wrapping)
            up, down = self._levels[lvl], self._levels[lvl + 1]
            w = len(up)
            own = e.src[e.primary]
            prim = np.empty(len(down), dtype=np.int64)
            prim[e.dst[e.primary]] = own
            h = self.effective_hedge(lvl)
            for d in range(len(down)):
                self._parents[down[d]] = [up[(int(prim[d]) - j) % w] for j in range(h + 1)]

    def _build_edges(self, lvl: int) -> LevelEdges:
        w_up, w_down = len(self._levels[lvl]), len(self._levels[lvl + 1])
        blocks = np.array_split(np.arange(w_down), w_up)      # own children, contiguous, sizes differ by <= 1
        h = self.effective_hedge(lvl)
        src, dst, port, prim = [], [], [], []
        for i in range(w_up):
            k = 0
            for j in range(h + 1):
                for c in blocks[(i + j) % w_up]:
                    src.append(i)
                    dst.append(int(c))
                    port.append(k)
                    prim.append(j == 0)
                    k += 1
        return LevelEdges(np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64),
                          np.array(port, dtype=np.int64), np.array(prim, dtype=bool))

    # --- queries -------------------------------------------------------------------------------------
    @property
    def sender(self) -> int:
        return 0

    @property
    def n_levels(self) -> int:
        """Levels including the sender and the receivers (D + 2; 2 for direct unicast)."""
        return len(self._levels)

    def level(self, lvl: int) -> range:
        """Node ids of a level, in index order."""
        return self._levels[lvl]

    def width(self, lvl: int) -> int:
        return len(self._levels[lvl])

    @property
    def receivers(self) -> range:
        return self._levels[-1]

    @property
    def proxies(self) -> list[int]:
        return [n for lvl in self._levels[1:-1] for n in lvl]

    def count(self, role: str) -> int:
        if role not in ROLES:
            raise KeyError(role)
        return sum(1 for n in self.nodes if n.role == role)

    def effective_hedge(self, lvl: int) -> int:
        """Hedged siblings used by the senders at level lvl: min(H, width - 1)."""
        return min(self.hedge, len(self._levels[lvl]) - 1)

    def children(self, node: int) -> tuple[Child, ...]:
        """Every copy ``node`` sends, in send (port) order."""
        return tuple(self._children[node])

    def parents(self, node: int) -> tuple[int, ...]:
        """Nodes that send ``node`` a copy: its own parent first, then hedging parents by nearness."""
        return tuple(self._parents[node])

    def primary_parent(self, node: int) -> int | None:
        p = self._parents[node]
        return p[0] if p else None

    def copies(self, node: int, port: int = 0, host: tuple[int, int] | None = None) -> tuple[list[Member], Addr]:
        """What ``node`` loads into its multicast group: one member per copy it sends, in send order
        (egress ``port``, rewritten to the child's MAC, IPv4 address and the tree's UDP port), then,
        with ``host=(port, udp)``, a copy to its own host on that port and UDP port (for its repair
        history); and its own source addresses (MAC, IPv4)."""
        udp = self.spec.port
        members = [Member(port, Addr(self.nodes[c.node].mac, self.nodes[c.node].ip, udp))
                   for c in self._children[node]]
        me = self.nodes[node]
        if host is not None:
            members.append(Member(host[0], Addr(me.mac, me.ip, host[1])))
        return members, Addr(me.mac, me.ip)

    def edges(self, lvl: int) -> LevelEdges:
        """The copies sent from level lvl to level lvl+1, as index arrays (for vectorized simulation)."""
        return self._edges[lvl]

    def graph(self):
        """The tree as a networkx DiGraph (node attrs role/level/index/ip/mac, edge attrs port/primary)."""
        import networkx as nx
        g = nx.DiGraph(fanout=self.fanout, depth=self.depth, hedge=self.hedge)
        for n in self.nodes:
            g.add_node(n.id, role=n.role, level=n.level, index=n.index, ip=n.ip, mac=n.mac)
        for n in self.nodes:
            for c in self._children[n.id]:
                g.add_edge(n.id, c.node, port=c.port, primary=c.primary)
        return g

    def summary(self) -> str:
        widths = [self.width(lvl) for lvl in range(1, self.n_levels - 1)]
        if not widths:
            return f"direct unicast: sender -> {self.spec.receivers} receivers"
        return (f"{self.spec.receivers} receivers, {self.count('proxy')} proxies in {self.depth} levels "
                f"{widths}, fan-out {self.fanout}, hedge {self.hedge}")


def build_topology(spec: TreeSpec) -> Topology:
    """The tree ``spec`` declares (see the module docstring for its shape)."""
    depth = spec.depth or natural_depth(spec.receivers, spec.fanout)
    f, widths = level_widths(spec.receivers, spec.fanout, depth)
    return Topology(spec, f, widths)


def unicast_topology(spec: TreeSpec) -> Topology:
    """The baseline: the sender sends one copy to every receiver directly (ports 0..N-1)."""
    return Topology(spec.with_(hedge=0), spec.receivers, [])

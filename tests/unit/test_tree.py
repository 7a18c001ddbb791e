"""The dissemination tree: counts, levels, hedging, ports, parents, addresses, and the nd.tree declaration.

Structure facts come from Jasper (arXiv 2402.09527): F = 10, D = round(log10 N),
1000 receivers need 111 proxies, each node gets H+1 copies over equal-length paths.
Paths and disjointness are checked with networkx on the built graph."""
import math
import os

import networkx as nx
import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.errors import NiccError
from nicc.compiler.interp import Reference
from nicc.compiler.topology import TreeSpec, build_topology, unicast_topology
from nicc.runtime.packets import udp_frame

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKET = os.path.join(ROOT, "examples", "market.py")


def topo(n, h=0, **kw):
    return build_topology(TreeSpec(receivers=n, hedge=h, **kw))


@pytest.mark.parametrize("n,proxies,widths", [
    (10, 1, [1]), (100, 11, [1, 10]), (1000, 111, [1, 10, 100]), (5000, 556, [1, 5, 50, 500]),
    (32, 5, [1, 4]), (2000, 167, [1, 12, 154]),
])
def test_counts(n, proxies, widths):
    t = topo(n)
    assert t.count("proxy") == proxies and t.count("receiver") == n and t.count("sender") == 1
    assert [t.width(lvl) for lvl in range(1, t.n_levels - 1)] == widths
    assert len(t.nodes) == 1 + proxies + n


@pytest.mark.parametrize("n", [2, 3, 9, 10, 11, 31, 32, 99, 150, 316, 317, 999, 1001, 3162, 3163, 5000])
def test_default_depth_and_fanout(n):
    t = topo(n)
    assert t.depth == max(1, round(math.log10(n)))
    assert t.fanout ** t.depth >= n
    if 10 ** (t.depth - 1) < n <= 10 ** t.depth:
        assert t.fanout == 10                       # F when D is F's natural depth for N
    else:
        assert t.fanout > 10 and (t.fanout - 1) ** t.depth < n   # else the smallest f that fits N in D levels
    for lvl in range(1, t.n_levels - 1):            # own children: balanced blocks, at most f
        own = [sum(c.primary for c in t.children(p)) for p in t.level(lvl)]
        assert max(own) <= t.fanout and max(own) - min(own) <= 1 and sum(own) == t.width(lvl + 1)


def test_explicit_depth():
    t = topo(100, depth=3)
    assert t.depth == 3 and t.fanout == 5 and [t.width(lvl) for lvl in (1, 2, 3)] == [1, 4, 20]
    t = topo(5000, depth=2)
    assert t.fanout == 71 and t.width(2) == 71


@pytest.mark.parametrize("n", [10, 32, 100, 250, 1000])
@pytest.mark.parametrize("h", [0, 1, 2, 3])
def test_hedging_copies_and_equal_paths(n, h):
    t = topo(n, h)
    g = t.graph()
    assert nx.is_directed_acyclic_graph(g)
    for u, v in g.edges:                            # every copy goes one level down: all paths have D+1 hops
        assert g.nodes[v]["level"] == g.nodes[u]["level"] + 1
    for node in t.nodes[1:]:
        w_up = t.width(node.level - 1)
        want = min(h, w_up - 1) + 1
        ps = t.parents(node.id)
        assert g.in_degree(node.id) == len(ps) == len(set(ps)) == want
        assert all(t.nodes[p].level == node.level - 1 for p in ps)
    sample = list(t.receivers)[:: max(1, n // 25)]
    up = {r: g.subgraph(nx.ancestors(g, r) | {r}) for r in sample}     # only the nodes that can reach r
    for r in sample:
        lengths = {len(p) - 1 for p in nx.all_simple_paths(up[r], t.sender, r)}
        assert lengths == {t.depth + 1}
    # independence: from the first level wide enough to hedge, H+1 node-disjoint routes reach each receiver
    wide = next((lvl for lvl in range(1, t.n_levels - 1) if t.width(lvl) >= h + 1), None)
    if wide is not None:
        for r in sample:
            g2 = nx.DiGraph(up[r])
            g2.add_edges_from(("src", p) for p in t.level(wide) if p in up[r])
            assert nx.node_connectivity(g2, "src", r) >= h + 1


def test_hedged_ports_and_parents():
    t = topo(1000, 2)
    lvl = 2                                         # 10 proxies, each with 10 own children
    for i, p in enumerate(t.level(lvl)):
        kids = t.children(p)
        assert [c.port for c in kids] == list(range(30))
        assert [c.primary for c in kids] == [True] * 10 + [False] * 20     # own children first
        for j in range(3):                          # then the children of the next siblings, wrapping
            sib = t.level(lvl)[(i + j) % 10]
            assert [c.node for c in kids[10 * j:10 * (j + 1)]] == [c.node for c in t.children(sib)[:10]]
    for c in t.level(3):
        ps = t.parents(c)
        own = t.primary_parent(c)
        assert ps[0] == own and any(k.node == c and k.primary for k in t.children(own))
        i = t.nodes[own].index
        assert [t.nodes[p].index for p in ps] == [i, (i - 1) % 10, (i - 2) % 10]
        for p in ps[1:]:
            assert any(k.node == c and not k.primary for k in t.children(p))


def test_level_edges_match_children():
    t = topo(300, 1)
    for lvl in range(t.n_levels - 1):
        e = t.edges(lvl)
        up, down = t.level(lvl), t.level(lvl + 1)
        got = sorted(zip((up[s] for s in e.src), (down[d] for d in e.dst), e.port.tolist(), e.primary.tolist()))
        want = sorted((u, c.node, c.port, c.primary) for u in up for c in t.children(u))
        assert got == want


def test_addresses_unique():
    t = topo(5000, 2)
    ips = [n.ip for n in t.nodes]
    macs = [n.mac for n in t.nodes]
    assert len(set(ips)) == len(ips) and len(set(macs)) == len(macs)
    assert t.nodes[0].ip == "10.0.0.1" and t.nodes[t.receivers[-1]].ip == "10.5.19.136"


def test_unicast_baseline():
    t = unicast_topology(TreeSpec(receivers=50, hedge=2))
    assert t.depth == 0 and t.count("proxy") == 0
    assert [c.port for c in t.children(t.sender)] == list(range(50))
    assert all(t.parents(r) == (0,) for r in t.receivers)


def test_spec_errors_point_at_user_line():
    with pytest.raises(NiccError) as e:
        nd.tree(receivers=0)                        # the line reported
    assert "at least one receiver" in e.value.message and e.value.loc.line == e.tb.tb_lineno
    with pytest.raises(NiccError, match="fanout must be at least 2"):
        nd.tree(receivers=10, fanout=1)
    with pytest.raises(NiccError, match="hedge must be 0 or more"):
        nd.tree(receivers=10, hedge=-1)
    with pytest.raises(NiccError, match="unknown OWD estimator"):
        nd.release(estimator="mean")


def test_roles_are_checked():
    class M(nd.Record):
        msg_id = nd.u64

    t = nd.tree(receivers=10, message=M, port=9200)
    with pytest.raises(NiccError, match="listens on UDP port 9201"):
        @t.receiver
        @nd.pipeline(port=9201)
        def r1(m: M):
            return nd.to_host()
    with pytest.raises(NiccError, match="unknown role"):
        t.role("relay")

    @t.proxy
    @nd.pipeline(port=9200)
    def fwd(m: M):
        return nd.to_host()
    assert t.roles == {"proxy": fwd}


def test_market_example_declares_the_tree_and_a_receiver_that_dedups():
    tree = nd.load_tree(MARKET)
    assert tree.spec.receivers == 1000 and tree.spec.fanout == 10 and tree.spec.hedge == 2
    assert tree.topology().count("proxy") == 111
    assert tree.release.hold_us == 25 and tree.release.window_ms == 10 and tree.release.report_ms == 15
    assert set(tree.roles) == {"sender", "proxy", "receiver"}
    ir = nd.load(MARKET, "receive").trace()
    assert ir.port == tree.port
    rng = np.random.default_rng(1)

    def frame(msg_id):
        payload = msg_id.to_bytes(8, "big") + (1).to_bytes(8, "big") + bytes(8 + 1 + 4 + 8 + 4) + b"quote"
        return bytes(udp_frame(payload, tree.port, rng))
    ids = [7, 7, 8, 7 + 16384, 7, 9, 8]
    got = [r.verdict for r in Reference(ir).run([frame(i) for i in ids])]
    assert got == ["pass", "drop", "pass", "pass", "drop", "pass", "drop"]

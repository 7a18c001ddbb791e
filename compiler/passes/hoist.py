"""``hoist_invariants``: values in a map body that do not depend on the element move before the map.

A body node is element-invariant when none of its operands is made in the body from the element
(an ``elem``, or a value made from one). It is computed once per packet instead of once per
element. The DSL already traces such values outside the body; parsed or rewritten IR may not. The
moved nodes keep their order and run where the map did (a body has no effects, so nothing they
could be reordered with).
"""
from __future__ import annotations

from ..ir import Node, Op, Pipeline


def hoist_invariants(p: Pipeline) -> Pipeline:
    """Move element-invariant nodes out of map bodies (see the module)."""
    out: list[Node] = []
    for n in p.body.nodes:
        if n.op is Op.MAP:
            per_element: set[Node] = set()
            kept = []
            for m in n.body.nodes:
                if m.op in (Op.ELEM, Op.YIELD) or any(a in per_element for a in m.args):
                    kept.append(m)
                    per_element.add(m)
                else:
                    out.append(m)
            n.body.nodes = kept
        out.append(n)
    p.body.nodes = out
    return p

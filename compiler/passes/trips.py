"""``annotate_trip_counts``: ``trip=N`` on a map whose element count is the constant N.

The count is constant for a fixed-count array (``nd.array(nd.u32, 13)``), or when earlier checks
pin a count-prefixed array's count to one value (``reject_if count != 4``). Renderers may then
run the loop as a counted loop, or unroll it within their budget.
"""
from __future__ import annotations

from ..ir import Op, Pipeline
from .facts import Facts, element_count_range, where


def annotate_trip_counts(p: Pipeline) -> Pipeline:
    """Set (or clear) ``trip`` on every top-level map (see the module)."""
    facts = Facts(p)
    for n in p.body.nodes:
        if n.op is Op.MAP:
            lo, hi = element_count_range(facts, n)
            if lo != hi:
                n.set_attr("trip", None)
                p.unnote(n, "trip")
            else:
                n.set_attr("trip", lo)
                arr = n.args[0]
                while arr.op is Op.MAP:
                    arr = arr.args[0]
                if not arr.type.dynamic:
                    why = f"{arr.attr('name')} is a fixed-count array of {lo}"
                else:
                    b = facts.bounds.get(facts.key(arr.args[0]))
                    by = f", by {where(b[2])}" if b and b[2] is not None else ""
                    why = f"{arr.attr('name')} holds {lo} elements whenever it is reached{by}"
                p.note(n, f"trip={lo}", why)
        facts.learn(n)
    return p

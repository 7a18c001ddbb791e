"""Which nodes can end a packet's processing early, and which have effects (shared by passes).

A packet stops at a ``reject_if`` or ``verdict_if`` whose condition holds, and at a payload read
(``field``, ``array``, also inside a map body) that finds the payload too short, unless the read is
``checked`` (proven in bounds). The final ``verdict`` ends every packet that gets there. An effect
this module does not know is assumed to be able to stop the packet (the safe answer).
"""
from __future__ import annotations

from ..ir import EFFECTS, Node, Op


NEVER_STOP = frozenset({Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.EMIT, Op.VERDICT, Op.YIELD})


def can_stop(n: Node) -> bool:
    """Whether a packet can stop at ``n`` (before the final verdict)."""
    if n.op in (Op.REJECT_IF, Op.VERDICT_IF):
        return not (n.args[0].op is Op.CONST and n.args[0].attr("value") == 0)
    if n.op in (Op.FIELD, Op.ARRAY):
        return not n.attr("checked")
    if n.body is not None:
        return any(can_stop(m) for m in n.body.walk())
    return n.op in EFFECTS and n.op not in NEVER_STOP


def has_effect(n: Node) -> bool:
    """Whether removing ``n`` could change a result even if nobody uses its value."""
    return n.op in EFFECTS or can_stop(n)

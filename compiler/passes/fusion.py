"""``mark_fusion``: ``fuse=emit`` on a map whose result only the emit uses, when nothing after the
map can stop the packet.

Such a map may be computed straight into the output payload, element by element, with no
intermediate array: once it starts, the packet is sure to leave with that payload (no later check,
no read that could find the payload short). Whether the output may overlap the input (in place,
front to back when the packet shrinks, back to front when it grows) is the renderer's choice.
"""
from __future__ import annotations

from collections import Counter

from ..ir import Op, Pipeline
from .facts import where
from .stops import can_stop


def mark_fusion(p: Pipeline) -> Pipeline:
    """Set (or clear) ``fuse=emit`` on every top-level map (see the module)."""
    emit = p.emit()
    uses = Counter(a for n in p.body.walk() for a in n.args)
    nodes = p.body.nodes
    for i, n in enumerate(nodes):
        if n.op is not Op.MAP:
            continue
        n.set_attr("fuse", None)
        p.unnote(n, "fuse", "not fused")
        if emit is None or uses[n] != 1 or not any(a is n for a in emit.args):
            continue
        blocker = next((m for m in nodes[i:] if can_stop(m)), None)
        if blocker is None:
            n.set_attr("fuse", "emit")
            p.note(n, "fuse=emit", f"only the emit at line {emit.loc.line} uses it, and no check or "
                                   "read after it can stop the packet")
        else:
            inner = next((m for m in blocker.body.walk() if can_stop(m)), blocker) if blocker.body else blocker
            p.note(n, "not fused", f"{where(inner)} can still stop the packet after it")
    return p

"""Values known at compile time, for diagnostics (``x // 0``, ``x << 8`` on u8, ``seen[20000]``).

A node is constant when it is a pure operation whose operands are all constant. Its value is
computed by the reference interpreter's own rules (:data:`~.interp.EVAL_RULES`, on a batch of one
packet), so what the diagnostics call "always 0" is what every target computes.

    >>> constant_value(pipeline, node)       # doctest: +SKIP
    0
"""
from __future__ import annotations

from .interp import EVAL_RULES
from .ir import ARITH, COMPARE, Node, Op, Pipeline
from .types import is_float
from .walker import Walker

FOLDABLE = frozenset({Op.CONST, *ARITH, Op.NOT, *COMPARE, Op.SELECT, Op.CAST, Op.LUT, Op.BUCKETIZE, Op.CRC32})


class _OnePacket(Walker):
    """The reference interpreter's rules on a batch of one packet, outside any map."""

    def __init__(self, pipeline: Pipeline):
        super().__init__(pipeline)
        self.rules = EVAL_RULES
        self.B = 1

    def type_of(self, n: Node):
        return n.type


def constant_nodes(n: Node) -> list[Node] | None:
    """The nodes ``n`` is computed from, operands first, if all are foldable; else None."""
    order, seen, stack = [], set(), [(n, False)]
    while stack:
        m, done = stack.pop()
        if done:
            order.append(m)
            continue
        if id(m) in seen:
            continue
        if m.op not in FOLDABLE or m.body is not None or is_float(m.type):
            return None                  # floats are not folded (the IR holds no float results)
        seen.add(id(m))
        stack.append((m, True))
        stack.extend((a, False) for a in m.args if id(a) not in seen)
    return order


def constant_value(p: Pipeline, n: Node) -> int | None:
    """The value of ``n`` if it is known at compile time, else None."""
    order = constant_nodes(n)
    if order is None:
        return None
    w = _OnePacket(p)
    for m in order:
        w.env[m] = w.run_node(m)
    return int(w.env[n].reshape(-1)[0])

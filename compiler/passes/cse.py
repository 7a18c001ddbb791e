"""``eliminate_common_subexpressions``: a value computed twice the same way is computed once.

Two nodes are the same computation when they have one op kind, type, defining attributes and the
same operands. The later one goes and its users use the earlier one, which is visible there (same
block, or the enclosing one: a value made in a map body is not reused outside it). A repeated
payload read is the same value and its bounds check is already made by the first read. Only the
pure ops listed in :data:`MERGED` are merged: not state reads (a state write or update may come
between), maps, or ops this pass does not know.

    %5:u32 = const[value=3]  ...  %9:u32 = const[value=3]      ->  uses of %9 use %5
"""
from __future__ import annotations

from ..ir import ARITH, COMPARE, Block, Node, Op, Pipeline, SPECS

MERGED = frozenset({Op.CONST, Op.PAYLOAD_LEN, Op.FIELD, Op.ARRAY, Op.TIMESTAMP, *ARITH, Op.NOT, *COMPARE, Op.SELECT,
                    Op.CAST, Op.LUT, Op.BUCKETIZE, Op.CRC32, Op.ELEM})


def computation_key(n: Node) -> tuple:
    """What makes two nodes the same computation: op, defining attributes, type, operands."""
    defining = SPECS[n.op].attrs
    return (n.op, tuple((k, v) for k, v in n.attrs if k in defining), n.type, tuple(a for a in n.args))


def eliminate_common_subexpressions(p: Pipeline) -> Pipeline:
    """Reuse the first of identical computations (see the module)."""
    subst: dict[Node, Node] = {}

    def block(b: Block, seen: dict[tuple, Node]) -> None:
        out = []
        for n in b.nodes:
            n.args = tuple(subst.get(a, a) for a in n.args)
            if n.body is not None:
                block(n.body, dict(seen))
            if n.op in MERGED:
                have = seen.setdefault(computation_key(n), n)
                if have is not n:
                    subst[n] = have
                    continue
            out.append(n)
        b.nodes = out

    block(p.body, {})
    return p

"""``eliminate_dead_code``: what cannot change any packet's result goes.

* everything after a check whose condition is the constant ``true`` (no packet gets past it): a
  ``verdict_if[v]`` that always fires becomes the final ``verdict[v]``;
* a ``verdict_if[v]`` just before the final ``verdict[v]`` (only values that cannot stop the packet
  between them): the packet gets ``v`` either way;
* an ``emit`` when every way out after it drops the packet;
* values nobody uses (a read that is not ``checked`` stays: it can find the payload short), and
  tables and multicast groups nothing refers to.
"""
from __future__ import annotations

from ..ir import Node, Op, Pipeline
from .stops import has_effect


def _always(n: Node) -> bool:
    return (n.op in (Op.REJECT_IF, Op.VERDICT_IF) and n.args[0].op is Op.CONST
            and n.args[0].attr("value") == 1)


def _cut_after_certain_exit(p: Pipeline) -> None:
    nodes = p.body.nodes
    i = next((i for i, n in enumerate(nodes) if _always(n)), None)
    if i is None or i == len(nodes) - 1:
        return
    n = nodes[i]
    if n.op is Op.VERDICT_IF:
        final = Node(Op.VERDICT, (), {"verdict": n.attr("verdict"), "group": n.attr("group")}, None, n.loc)
        p.body.nodes = nodes[:i] + [final]
    else:
        p.body.nodes = nodes[:i + 1] + [nodes[-1]]


def _drop_verdicts_the_end_gives(p: Pipeline) -> None:
    final = p.body.nodes[-1]
    while True:
        i = len(p.body.nodes) - 2
        while i >= 0 and not has_effect(p.body.nodes[i]):
            i -= 1
        n = p.body.nodes[i] if i >= 0 else None
        if (n is None or n.op is not Op.VERDICT_IF
                or (n.attr("verdict"), n.attr("group")) != (final.attr("verdict"), final.attr("group"))):
            return
        del p.body.nodes[i]


def _leaves_without_payload(n: Node) -> bool:
    """``n`` cannot let the packet out with the emitted payload."""
    if n.op in (Op.VERDICT_IF, Op.VERDICT):
        return n.attr("verdict") == "drop"
    return n.op in (Op.REJECT_IF, Op.STATE_WRITE, Op.STATE_UPDATE_IF) or not has_effect(n)


def _drop_unused_emit(p: Pipeline) -> None:
    nodes = p.body.nodes
    e = next((i for i, n in enumerate(nodes) if n.op is Op.EMIT), None)
    if e is not None and all(_leaves_without_payload(n) for n in nodes[e + 1:]):
        del nodes[e]


def eliminate_dead_code(p: Pipeline) -> Pipeline:
    """Drop code that cannot change a result (see the module)."""
    _cut_after_certain_exit(p)
    _drop_verdicts_the_end_gives(p)
    _drop_unused_emit(p)
    changed = True
    while changed:
        changed = False
        used = {a for n in p.body.walk() for a in n.args}
        for b in [p.body] + [n.body for n in p.body.walk() if n.body is not None]:
            new = [n for n in b.nodes if has_effect(n) or n in used]
            if len(new) != len(b.nodes):
                changed = True
                b.nodes = new
    live = list(p.body.walk())
    tables = {n.attr("table") for n in live}
    groups = {n.attr("group") for n in live}
    p.tables = {k: v for k, v in p.tables.items() if k in tables}
    p.groups = {k: v for k, v in p.groups.items() if k in groups}
    return p

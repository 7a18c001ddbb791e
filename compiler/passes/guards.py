"""``guard_maps``: a map whose results are used only after a check that may drop or reject the packet
is computed only when that check will not stop it (``guard=stop``).

E4's vertical pass: its output is used only by the emit, after ``drop_if(out_row == NONE)``, which
stops 53% of the tiles; the check's condition is a table lookup of the row, known long before the
map. When every node that computes such a condition is pure (constants, tables, arithmetic,
compares, selects, casts) and only the values defined before the map feed it, those nodes move
before the map (values, so nothing changes but their place), and the map is marked. A C renderer
then wraps the map's loop in ``if (!(cond) ...)``: when a condition holds, the packet stops at its
check and nothing reads the map's results. The map's body has no effects and its element-invariant
values (which may check the payload's length) still run where they did.

    stop_conditions(p, m)     # the conditions under which map m's results are never used
"""
from __future__ import annotations

from ..ir import COMPARE, Node, Op, Pipeline

STOPS = (Op.REJECT_IF, Op.VERDICT_IF)
PURE = frozenset({Op.CONST, Op.ROM, Op.ADD, Op.SUB, Op.MUL, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR,
                  Op.NOT, Op.SELECT, Op.CAST, *COMPARE})


def _first_use(nodes: list[Node], m: Node, start: int) -> int:
    """The position of the first node from ``start`` on that uses ``m`` (in its body too)."""
    for j in range(start, len(nodes)):
        inner = list(nodes[j].body.walk()) if nodes[j].body else []
        if any(a is m for n in [nodes[j], *inner] for a in n.args):
            return j
    return len(nodes)


def _cone(cond: Node, before: set[int], at: dict[int, int], lo: int) -> list[Node] | None:
    """The nodes after position ``lo`` that compute ``cond``, if all are pure and fed only by values
    defined before ``lo`` (``before``) or by each other; else None."""
    out: list[Node] = []
    seen: set[int] = set()

    def visit(n: Node) -> bool:
        if id(n) in before or id(n) in seen:
            return True
        pure = n.op in PURE or (n.op is Op.GATHER and n.args[0].op is Op.ROM)
        if not pure or id(n) not in at or at[id(n)] < lo:
            return False
        seen.add(id(n))
        if not all(visit(a) for a in n.args):
            return False
        out.append(n)
        return True

    return sorted(out, key=lambda n: at[id(n)]) if visit(cond) else None


def stop_conditions(p: Pipeline, m: Node) -> list[Node]:
    """Conditions of the checks between map ``m`` and the first use of its results whose value is
    known before ``m``: when one holds, the packet stops there and nothing reads ``m``'s results."""
    nodes = p.body.nodes
    i = nodes.index(m)
    before = {id(n) for n in nodes[:i]}
    return [n.args[0] for n in nodes[i + 1:_first_use(nodes, m, i + 1)]
            if n.op in STOPS and id(n.args[0]) in before and n.args[0].op is not Op.CONST]


def guard_maps(p: Pipeline) -> Pipeline:
    """Hoist the pure conditions of later checks before the maps they can skip; mark those maps."""
    for m in [n for n in p.body.nodes if n.op is Op.MAP]:
        m.set_attr("guard", None)
        p.unnote(m, "guard")
        if m.attr("fuse") == "emit":
            continue
        nodes = p.body.nodes
        i = nodes.index(m)
        at = {id(n): j for j, n in enumerate(nodes)}
        before = {id(n) for n in nodes[:i]}
        moved: list[Node] = []
        for d in nodes[i + 1:_first_use(nodes, m, i + 1)]:
            if d.op not in STOPS or (d.args[0].op is Op.CONST):
                continue
            cone = _cone(d.args[0], before | {id(n) for n in moved}, at, i + 1)
            if cone is not None:
                moved += cone
        if moved:
            ids = {id(n) for n in moved}
            rest = [n for n in nodes if id(n) not in ids]
            j = rest.index(m)
            p.body.nodes = rest[:j] + moved + rest[j:]
        conds = stop_conditions(p, m)
        if conds:
            m.set_attr("guard", "stop")
            ids = {id(c) for c in conds}
            checks = [n for n in p.body.nodes if n.op in STOPS and id(n.args[0]) in ids]
            p.note(m, "guard=stop", "computed only when the packet passes the check" +
                   ("s" if len(checks) > 1 else "") + " at " + ", ".join(f"line {c.loc.line}" for c in checks)
                   + " (nothing else uses its results before)")
    return p

"""``guard_maps``: a map is computed only when something will read its results: not when a check
between it and its first use stops the packet (``guard=stop``), nor when every use is conditional
and none of the conditions holds (``guard=uses``).

E4's vertical pass: its output is used only by the emit, after ``drop_if(out_row == NONE)``, which
stops 53% of the tiles; the check's condition is a table lookup of the row, known long before the
map. When every node that computes such a condition is pure (constants, tables, arithmetic,
compares, selects, casts) and only the values defined before the map feed it, those nodes move
before the map (values, so nothing changes but their place), and the map is marked. A C renderer
then wraps the map's loop in ``if (!(cond) ...)``: when a condition holds, the packet stops at its
check and nothing reads the map's results. The map's body has no effects and its element-invariant
values (which may check the payload's length) still run where they did.

A map whose every use is conditional runs only when one of the conditions holds: a write into a
stream or state ``when=`` a pure condition, or a later guarded map (which reads it only when it runs
itself). E4's horizontal pass: its results go to the vertical pass (which runs only on a row that
completes an output row) and into the stream (only for a row the next output row weighs); on 13% of
the rows neither holds. The conditions move before the map the same way.

    g = guard_of(p, m)        # Guard(stops, uses): m runs iff no stop holds and (uses is None or one holds)
    g.c(env)                  # the condition in C, env: node -> C expression
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import COMPARE, Node, Op, Pipeline

STOPS = (Op.REJECT_IF, Op.VERDICT_IF)
PURE = frozenset({Op.CONST, Op.ROM, Op.ADD, Op.SUB, Op.MUL, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR,
                  Op.NOT, Op.SELECT, Op.CAST, *COMPARE})


def _uses(u: Node, m: Node) -> bool:
    """Whether node ``u`` takes ``m`` as an argument (in its body too)."""
    inner = list(u.body.walk()) if u.body else []
    return any(a is m for n in [u, *inner] for a in n.args)


def _first_use(nodes: list[Node], m: Node, start: int) -> int:
    """The position of the first node from ``start`` on that uses ``m``."""
    return next((j for j in range(start, len(nodes)) if _uses(nodes[j], m)), len(nodes))


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


@dataclass(frozen=True, eq=False)
class Guard:
    """When map ``m`` runs: no condition of ``stops`` holds, and (unless ``uses`` is None) one of
    ``uses`` does: a bool node (a write's ``when``) or the guard of a later map that reads the results."""
    m: Node
    stops: tuple[Node, ...]
    uses: tuple[Node | Guard, ...] | None

    def c(self, env) -> str:
        """The condition in C (``env``: node -> C expression)."""
        parts = [f"!({' || '.join(str(env[c]) for c in self.stops)})"] if self.stops else []
        if self.uses is not None:
            alts = [str(env[u]) if isinstance(u, Node) else u.c(env) for u in self.uses]
            alts = [f"({a})" if " && " in a else a for a in alts]
            parts.append(" || ".join(alts) if not parts else f"({' || '.join(alts)})")
        return " && ".join(parts)

    def nodes(self) -> list[Node]:
        """Every condition node the guard reads."""
        out = list(self.stops)
        for u in self.uses or ():
            out += [u] if isinstance(u, Node) else u.nodes()
        return out


def _use_condition(p: Pipeline, m: Node, u: Node, before: set[int]):
    """When use ``u`` reads map ``m``'s results: a node defined before ``m``, a Guard, or None (always)."""
    if u.op in (Op.STREAM_WRITE, Op.STATE_WRITE):
        w = u.args[-1]
        if w.op is Op.CONST or id(w) not in before:
            return None
        return w
    if u.op is Op.MAP and u.attr("guard") and not any(a is m for b in u.body.walk() for a in b.args):
        g = guard_of(p, u)          # an input of the map (read in its loop, which the guard skips)
        if g is not None and all(id(c) in before for c in g.nodes()):
            return g
    return None


def guard_of(p: Pipeline, m: Node) -> Guard | None:
    """When map ``m`` runs (its ``guard`` attribute says it is guarded; the conditions, all defined
    before it, are found again here)."""
    if not m.attr("guard"):
        return None
    nodes = p.body.nodes
    i = nodes.index(m)
    before = {id(n) for n in nodes[:i]}
    uses: list = []
    for u in (u for u in nodes[i + 1:] if _uses(u, m)):
        c = _use_condition(p, m, u, before)
        if c is None:
            uses = None
            break
        uses.append(c)
    stops = tuple(stop_conditions(p, m))
    g = Guard(m, stops, None if uses is None or not uses else tuple(uses))
    return g if g.stops or g.uses is not None else None


def _hoist(p: Pipeline, m: Node, conds: list[Node]) -> None:
    """Move the pure cones of ``conds`` (those that have one) before map ``m``."""
    nodes = p.body.nodes
    i = nodes.index(m)
    at = {id(n): j for j, n in enumerate(nodes)}
    before = {id(n) for n in nodes[:i]}
    moved: list[Node] = []
    for c in conds:
        cone = _cone(c, before | {id(n) for n in moved}, at, i + 1)
        if cone is not None:
            moved += cone
    if moved:
        ids = {id(n) for n in moved}
        rest = [n for n in nodes if id(n) not in ids]
        j = rest.index(m)
        p.body.nodes = rest[:j] + moved + rest[j:]


def _describe(p: Pipeline, g: Guard) -> str:
    """Where the conditions come from, by source line: the checks, the writes and the guarded maps."""
    ids = {id(c) for c in g.stops}
    checks = [n for n in p.body.nodes if n.op in STOPS and id(n.args[0]) in ids]
    parts = []
    if checks:
        parts.append("the packet passes the check" + ("s" if len(checks) > 1 else "") + " at " +
                     ", ".join(f"line {c.loc.line}" for c in checks))
    if g.uses is not None:
        whens = {id(u) for u in g.uses if isinstance(u, Node)}
        lines = [f"the write at line {n.loc.line} happens" for n in p.body.nodes
                 if n.op in (Op.STREAM_WRITE, Op.STATE_WRITE) and id(n.args[-1]) in whens
                 and any(a is g.m for a in n.args)]
        lines += [f"the map at line {u.m.loc.line} runs" for u in g.uses if isinstance(u, Guard)]
        parts.append(" or ".join(lines))
    return "computed only when " + " and ".join(parts)


def guard_maps(p: Pipeline) -> Pipeline:
    """Hoist the pure conditions under which maps' results are read before those maps; mark the maps.
    Later maps first: an earlier map's uses may be guarded maps."""
    for m in reversed([n for n in p.body.nodes if n.op is Op.MAP]):
        m.set_attr("guard", None)
        p.unnote(m, "guard")
        if m.attr("fuse") == "emit":
            continue
        nodes = p.body.nodes
        i = nodes.index(m)
        stops = [d.args[0] for d in nodes[i + 1:_first_use(nodes, m, i + 1)]
                 if d.op in STOPS and d.args[0].op is not Op.CONST]
        conds = list(stops)
        for u in (u for u in nodes[i + 1:] if _uses(u, m)):
            if u.op in (Op.STREAM_WRITE, Op.STATE_WRITE) and u.args[-1].op is not Op.CONST:
                conds.append(u.args[-1])
            elif u.op is Op.MAP and u.attr("guard"):
                conds += guard_of(p, u).nodes()     # (_use_condition decides whether they count)
        _hoist(p, m, conds)
        m.set_attr("guard", "uses")         # provisional: guard_of reads the attribute
        g = guard_of(p, m)
        if g is None:
            m.set_attr("guard", None)
            continue
        how = "stop" if g.uses is None else "uses"
        m.set_attr("guard", how)
        p.note(m, f"guard={how}", _describe(p, g) + (" (nothing else uses its results before)" if g.uses is None
                                                      else ""))
    return p

"""``eliminate_implied_checks``: checks and bounds checks that earlier ones already make.

Walking the pipeline in order with the :class:`~.facts.Facts` learnt so far:

* a ``reject_if`` / ``verdict_if`` whose condition is known false goes; one known true gets the
  constant ``true`` as its condition (``eliminate_dead_code`` then drops what follows it);
* a ``field`` / ``array`` read whose bytes are proven present gets ``checked=1`` and a note naming
  the proof (renderers then read without a bounds check); one not proven loses any ``checked``.

For a record this leaves one length check per record shape: E2's ``payload_len != 157`` proves
every read after it; E1's ``payload_len != 10 + 3 * count`` (after ``count <= 240``) proves the
pixels' ``10 + 3 * count`` bytes.
"""
from __future__ import annotations

from ..ir import Node, Op, Pipeline
from ..types import BOOL, Array
from .facts import Facts, where


def _describe_need(n: Node, facts: Facts) -> str:
    need = facts.need(n)
    if not need.terms:
        return str(need.const)
    count = n.args[0]
    name = count.attr("name") if count.op is Op.FIELD else "count"
    t: Array = n.type
    return f"{n.attr('offset')} + {t.struct.nbytes} * {name}"


def _proof(origins: list[Node]) -> str:
    seen = list(dict.fromkeys(where(o) for o in origins))
    return "by " + " and ".join(seen) if seen else "always"


def _mark_read(p: Pipeline, facts: Facts, n: Node) -> None:
    proof = facts.read_proven(n)
    if proof is None:
        n.set_attr("checked", None)
        p.unnote(n, "checked")
        return
    n.set_attr("checked", 1)
    p.note(n, "checked", f"payload_len >= {_describe_need(n, facts)} here, {_proof(proof)}")


def eliminate_implied_checks(p: Pipeline) -> Pipeline:
    """Drop checks implied by earlier checks and reads; mark reads proven in bounds (see the module)."""
    facts = Facts(p)
    out: list[Node] = []
    for n in p.body.nodes:
        if n.op in (Op.REJECT_IF, Op.VERDICT_IF):
            cond = n.args[0]
            if facts.knows(cond, False) is not None:
                continue
            proof = facts.knows(cond, True) if cond.op is not Op.CONST else None
            if proof is not None:
                true = Node(Op.CONST, (), {"value": 1}, BOOL, cond.loc)
                out.append(true)
                n.args = (true,)
                p.note(n, "always", f"its condition holds whenever it is reached, {_proof(proof)}")
        elif n.op in (Op.FIELD, Op.ARRAY):
            _mark_read(p, facts, n)
        elif n.op is Op.MAP:
            for m in n.body.walk():
                if m.op is Op.FIELD:
                    _mark_read(p, facts, m)
        facts.learn(n)
        out.append(n)
    p.body.nodes = out
    return p

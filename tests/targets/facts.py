"""The facts the midend proves about the examples (MIDEND.md), set by hand for the target tests, so
the renderers' fused, unchecked and vectorized paths are tested whatever the midend's state.

* ``fuse=emit`` on a map whose result only the emit uses, after the last ``reject_if``;
* ``checked=1`` on the payload reads a check before them already covers: after E2's
  ``payload_len != 157`` every read; after E1's ``payload_len != 10 + 3 * count`` the pixels and
  the header fields read after it.
"""
from nicc.compiler.ir import Op


def with_facts(ir):
    body = ir.body.nodes
    e = ir.emit()
    uses = {}
    for n in ir.body.walk():
        for a in n.args:
            uses.setdefault(id(a), []).append(n)
    rejects = [i for i, n in enumerate(body) if n.op is Op.REJECT_IF]
    last_reject = rejects[-1] if rejects else -1
    for i, n in enumerate(body):
        if n.op is Op.MAP and e is not None and uses.get(id(n)) == [e] and i > last_reject:
            n.set_attr("fuse", "emit")
        if n.op in (Op.FIELD, Op.ARRAY) and i > last_reject and ir.name in ("criteo", "normalize"):
            n.set_attr("checked", 1)
    return ir

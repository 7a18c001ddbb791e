"""Op kinds no backend lowers yet: streams, windows, scans and the host part (docs/streams.md).

Each backend refuses them cleanly, at the user's line and naming the op and the
target, before it looks at anything else, so that a pipeline using them fails
with one clear message instead of a later layout error. Their lowerings are the
next phase of issue 10; docs/streams.md says how each one maps to each target.
"""
from __future__ import annotations

from ..compiler.errors import NiccError
from ..compiler.ir import Node, Op, Pipeline

PENDING = frozenset({Op.STREAM_READ, Op.STREAM_WRITE, Op.ROM, Op.RANGE, Op.GATHER, Op.SCAN, Op.CARRY, Op.PUT,
                     Op.GET, Op.SCAN_OUT, Op.HOST_IF})


def refusal(n: Node, target: str) -> NiccError:
    return NiccError(f"{target} cannot compile {n.op.value}: streams, windows, scans and the host part are not "
                     "lowered for this target yet (docs/streams.md); run it with --target interp", n.loc)


def refuse_pending(p: Pipeline, target: str) -> None:
    """Raise at the first node (in program order) whose op kind is not lowered yet."""
    for n in p.body.walk():
        if n.op in PENDING:
            raise refusal(n, target)

"""Op kinds no backend lowers yet: streams, windows, scans and the host part (docs/streams.md).

Each backend refuses them cleanly, at the user's line and naming the op and the
target, before it looks at anything else, so that a pipeline using them fails
with one clear message instead of a later layout error. Their lowerings are the
next phase of issue 10; docs/streams.md says how each one maps to each target.
"""
from __future__ import annotations

from ..compiler.errors import NiccError
from ..compiler.ir import Node, Op, Pipeline
from ..compiler.types import is_float

PENDING = frozenset({Op.STREAM_READ, Op.STREAM_WRITE, Op.ROM, Op.RANGE, Op.GATHER, Op.SCAN, Op.CARRY, Op.PUT,
                     Op.GET, Op.SCAN_OUT, Op.HOST_IF})


# host-only math: no NIC target computes on floats; the partition pass puts these stages on the host
HOST_ONLY = frozenset({Op.CALL})


def refusal(n: Node, target: str) -> NiccError:
    if n.op in HOST_ONLY or is_float(n.type):
        return NiccError(f"{target} cannot compile {n.op.value}: floating point runs on the host; `nicc compile` "
                         "splits the pipeline and puts this stage in its host part (docs/partition.md)", n.loc)
    return NiccError(f"{target} cannot compile {n.op.value}: streams, windows, scans and the host part are not "
                     "lowered for this target yet (docs/streams.md); run it with --target interp", n.loc)


def refuse_pending(p: Pipeline, target: str) -> None:
    """Raise at the first node (in program order) whose op kind is not lowered yet."""
    for n in p.body.walk():
        if n.op in PENDING or n.op in HOST_ONLY or is_float(n.type):
            raise refusal(n, target)

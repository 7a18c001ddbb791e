"""Host-only math: no NIC target computes on floats (``f32``/``f64`` values, ``call``).

The partition pass (:mod:`nicc.compiler.partition`) puts these stages in a pipeline's host part;
a backend given one directly refuses it at the user's line, naming the host part, before it looks
at anything else.
"""
from __future__ import annotations

from ..compiler.errors import NiccError
from ..compiler.ir import Node, Op, Pipeline
from ..compiler.types import is_float

HOST_ONLY = frozenset({Op.CALL})


def refusal(n: Node, target: str) -> NiccError:
    return NiccError(f"{target} cannot compile {n.op.value}: floating point runs on the host; `nicc compile` "
                     "splits the pipeline and puts this stage in its host part (docs/partition.md)", n.loc)


def host_only(n: Node) -> bool:
    return n.op in HOST_ONLY or is_float(n.type)


def refuse_host_only(p: Pipeline, target: str) -> None:
    """Raise at the first node (in program order) only the host can run."""
    for n in p.body.walk():
        if host_only(n):
            raise refusal(n, target)

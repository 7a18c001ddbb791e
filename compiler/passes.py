"""Passes: plain functions ``verb_noun(ir) -> ir`` in one ordered list, verified after each.

    ir = run_passes(ir)                             # the target-neutral pipeline
    ir = run_passes(ir, print_after={"eliminate_dead_code"})
"""
from __future__ import annotations

import sys
from typing import Callable, Iterable

from .errors import InternalError, NiccError
from .ir import BODY_OPS, Block, EFFECTS, Node, Op, Pipeline, SPECS
from .typecheck import check_types


def verify(p: Pipeline) -> Pipeline:
    """Cheap structural checks (fx's lint): scoping, locations, arity, shape of blocks."""
    top_only = (Op.REJECT_IF, Op.VERDICT_IF, Op.EMIT, Op.VERDICT, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.MAP,
                Op.ARRAY, Op.SCAN, Op.STREAM_WRITE, Op.HOST_IF)

    def block(b: Block, visible: set[int], in_map: bool, in_scan: bool = False) -> None:
        for i, n in enumerate(b.nodes):
            spec = SPECS[n.op]
            if n.loc is None:
                raise InternalError(f"{n.op.value} without a source location")
            if spec.arity is not None and len(n.args) != spec.arity:
                raise InternalError(f"{n.op.value} takes {spec.arity} operands, has {len(n.args)}")
            for a in n.args:
                if id(a) not in visible:
                    raise NiccError(f"{n.op.value} uses a value that is not defined before it here "
                                    "(a value made inside a map body cannot be used outside it)", n.loc)
            if n.op is Op.ELEM and not in_map or n.op is Op.YIELD and not (in_map or in_scan):
                raise NiccError(f"{n.op.value} outside a map body", n.loc)
            if n.op in (Op.CARRY, Op.PUT) and not in_scan:
                raise NiccError(f"{n.op.value} outside a scan body", n.loc)
            if (in_map or in_scan) and n.op in top_only:
                raise NiccError(f"{n.op.value} is not allowed inside a {'map' if in_map else 'scan'} body", n.loc)
            if n.op is Op.YIELD and i != len(b.nodes) - 1:
                raise NiccError("yield must end its map body", n.loc)
            if in_map and n.op in (Op.REJECT_IF, Op.VERDICT_IF, Op.EMIT, Op.VERDICT, Op.STATE_WRITE,
                                   Op.STATE_UPDATE_IF, Op.MAP, Op.ARRAY):
                raise NiccError(f"{n.op.value} is not allowed inside a map body", n.loc)
            if (n.body is not None) != (n.op in BODY_OPS):
                raise InternalError(f"{n.op.value} body mismatch")
            if n.body is not None:
                block(n.body, set(visible), n.op is Op.MAP, n.op is Op.SCAN)
            visible.add(id(n))
    block(p.body, set(), False)
    if not p.body.nodes or p.body.nodes[-1].op is not Op.VERDICT:
        raise InternalError("pipeline must end with a verdict")
    if sum(n.op is Op.VERDICT for n in p.body) != 1:
        raise InternalError("pipeline must have exactly one final verdict")
    emits = [n for n in p.body if n.op is Op.EMIT]
    if len(emits) > 1:
        raise NiccError("the payload is emitted more than once", emits[1].loc)
    check_types(p)
    return p


def eliminate_dead_code(p: Pipeline) -> Pipeline:
    """Drop value nodes nobody uses (effects always stay), and tables nobody reads."""
    changed = True
    while changed:
        changed = False
        used = {id(a) for n in p.body.walk() for a in n.args}
        for b in [p.body] + [n.body for n in p.body.walk() if n.body is not None]:
            new = [n for n in b.nodes if n.op in EFFECTS or id(n) in used]
            if len(new) != len(b.nodes):
                changed = True
                b.nodes = new
    live_tables = {n.attr("table") for n in p.body.walk() if n.op in (Op.LUT, Op.ROM)}
    p.tables = {k: v for k, v in p.tables.items() if k in live_tables}
    return p


PASSES: list[Callable[[Pipeline], Pipeline]] = [
    check_types,
    eliminate_dead_code,
]


def run_passes(p: Pipeline, passes: Iterable[Callable[[Pipeline], Pipeline]] = PASSES,
               print_after: set[str] | None = None, out=None) -> Pipeline:
    """Run ``passes`` in order, verifying after each (and printing the IR after those named)."""
    verify(p)
    for fn in passes:
        p = fn(p)
        verify(p)
        if print_after and (fn.__name__ in print_after or "all" in print_after):
            print(f"// IR after {fn.__name__}", file=out or sys.stderr)
            print(p, file=out or sys.stderr)
    return p

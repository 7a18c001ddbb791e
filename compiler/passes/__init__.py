"""The pass pipeline: plain functions ``verb_noun(ir) -> ir`` in one ordered list, verified after each.

    ir = run_passes(ir)                                   # every pass in PASSES, in order
    ir = run_passes(ir, print_after={"mark_fusion"})      # also print the IR after that pass (stderr)

Target-neutral passes, in order (each in its own module):

================================  =============================================================
``check_types``                   the type rules on the whole pipeline (:mod:`..typecheck`)
``fold_constants``                ops on constants -> constants, by the interpreter's rules
``simplify_expressions``          algebraic identities, a canonical form, equal values merged
``hoist_invariants``              element-invariant values out of map bodies
``eliminate_common_subexpressions`` one node per distinct computation
``eliminate_implied_checks``      checks earlier ones imply go; reads proven in bounds: ``checked``
``eliminate_dead_code``           unreachable code, unused values, tables and groups
``mark_fusion``                   ``fuse=emit`` on maps only the emit uses, with no check after
``guard_maps``                    ``guard=stop`` on maps whose results a later drop or reject skips
``annotate_trip_counts``          ``trip=N`` on maps with a constant element count
================================  =============================================================

None changes what a pipeline means: the reference interpreter gives the same results before and
after (tests/unit/test_passes_semantics.py). Passes record why they did something as notes
(``Pipeline.note``), printed after their node.
"""
from __future__ import annotations

import sys
from typing import Callable, Iterable

from ..ir import Pipeline
from ..typecheck import check_types
from .algebra import simplify_expressions
from .checks import eliminate_implied_checks
from .cse import eliminate_common_subexpressions
from .dead_code import eliminate_dead_code
from .fold import fold_constants
from .fusion import mark_fusion
from .guards import guard_maps
from .hoist import hoist_invariants
from .trips import annotate_trip_counts
from .verify import verify

Pass = Callable[[Pipeline], Pipeline]

PASSES: list[Pass] = [
    check_types,
    fold_constants,
    simplify_expressions,
    hoist_invariants,
    eliminate_common_subexpressions,
    eliminate_implied_checks,
    eliminate_dead_code,
    mark_fusion,
    guard_maps,
    annotate_trip_counts,
]

__all__ = ["PASSES", "run_passes", "verify", *(f.__name__ for f in PASSES)]


def run_passes(p: Pipeline, passes: Iterable[Pass] = PASSES, print_after: set[str] | None = None,
               out=None) -> Pipeline:
    """Run ``passes`` in order, verifying after each (and printing the IR after those named, or ``all``)."""
    verify(p)
    for fn in passes:
        p = fn(p)
        live = {n for n in p.body.walk()}
        p.notes = [m for m in p.notes if m.node in live]
        verify(p)
        if print_after and (fn.__name__ in print_after or "all" in print_after):
            print(f"// IR after {fn.__name__}", file=out or sys.stderr)
            print(p, file=out or sys.stderr)
    return p

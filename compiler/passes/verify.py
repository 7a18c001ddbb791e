"""``verify``: cheap structural checks of a pipeline (torch.fx's ``lint``), run after every pass.

Scoping (a value is defined before its uses; a value made in a map body is not used outside it),
source locations, operand counts, attributes (every defining one present, optional ones only as
:data:`~nicc.compiler.opcodes.SPECS` lists them), the shape of blocks (map bodies end in ``yield``
and hold no effects; one final ``verdict``; at most one ``emit``), then the types.
"""
from __future__ import annotations

from ..errors import InternalError, NiccError
from ..ir import BODY_OPS, Block, Op, Pipeline, SPECS
from ..typecheck import check_types

# effects and nested loops live in the top-level block only (not in map or scan bodies)
TOP_ONLY = (Op.REJECT_IF, Op.VERDICT_IF, Op.EMIT, Op.VERDICT, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.MAP, Op.ARRAY,
            Op.SCAN, Op.STREAM_WRITE, Op.HOST_IF)


def verify(p: Pipeline) -> Pipeline:
    """Check ``p``'s structure and types; raise NiccError (user-visible) or InternalError."""
    def block(b: Block, visible: set[int], in_map: bool, in_scan: bool = False) -> None:
        for i, n in enumerate(b.nodes):
            spec = SPECS[n.op]
            if n.loc is None:
                raise InternalError(f"{n.op.value} without a source location")
            if spec.arity is not None and len(n.args) != spec.arity:
                raise InternalError(f"{n.op.value} takes {spec.arity} operands, has {len(n.args)}")
            names = [k for k, _ in n.attrs]
            missing = [k for k in spec.attrs if k not in names]
            unknown = [k for k in names if k not in spec.attrs + spec.optional]
            if missing or unknown or len(set(names)) != len(names):
                raise NiccError(f"{n.op.value} has attributes ({', '.join(names)}); it takes "
                                f"({', '.join(spec.attrs)}) and optionally ({', '.join(spec.optional)})", n.loc)
            for a in n.args:
                if id(a) not in visible:
                    raise NiccError(f"{n.op.value} uses a value that is not defined before it here "
                                    "(a value made inside a map body cannot be used outside it)", n.loc)
            if n.op is Op.ELEM and not in_map or n.op is Op.YIELD and not (in_map or in_scan):
                raise NiccError(f"{n.op.value} outside a map body", n.loc)
            if n.op in (Op.CARRY, Op.PUT) and not in_scan:
                raise NiccError(f"{n.op.value} outside a scan body", n.loc)
            if n.op is Op.YIELD and i != len(b.nodes) - 1:
                raise NiccError("yield must end its map body", n.loc)
            if (in_map or in_scan) and n.op in TOP_ONLY:
                raise NiccError(f"{n.op.value} is not allowed inside a {'map' if in_map else 'scan'} body", n.loc)
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

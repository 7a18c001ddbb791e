"""nicc's own checker for emitted P4: a P4_16 (v1model) parser, type checker and
evaluator with bmv2 simple_switch semantics.

    prog = load(p4_source, filename="x.p4")     # parse + type-check, raises P4Error
    sw = Switch(prog)                            # run-time state: tables, registers, groups
    sw.table_add("MyIngress.ipv4_lpm", "MyIngress.ipv4_forward", [(0x0a000000, 8)], [mac, 1])
    outs = sw.process(frame, ingress_port=0)     # [(egress_port, bytes), ...]

Modules: grammar.lark + parser.py (syntax), ast.py, typecheck.py / exprcheck.py /
calls.py / paths.py (types), compile.py / exprs.py / externs.py / tables.py /
packetio.py / hashes.py (evaluation), v1model.py (the architecture).
"""
from __future__ import annotations

from dataclasses import dataclass

from .ast import Program
from .errors import GrowthLimitExceeded, Loc, P4Error, P4RuntimeError
from .parser import parse
from .symbols import Checked
from .typecheck import typecheck
from .v1model import Switch

__all__ = ["load", "parse", "typecheck", "LoadedProgram", "Switch", "P4Error", "P4RuntimeError",
           "GrowthLimitExceeded", "Loc"]


@dataclass
class LoadedProgram:
    """A parsed and type-checked program (what :class:`Switch` runs)."""
    ast: Program
    checked: Checked
    filename: str
    source: str


def load(source: str, filename: str = "<input>") -> LoadedProgram:
    """Parse and type-check P4_16 source; raise P4Error (``file:line:col: error: ...``)."""
    ast = parse(source, filename)
    try:
        checked = typecheck(ast)
    except P4Error as e:
        if e.loc is not None and not e.context and e.loc.file == filename:
            from .errors import caret_context
            raise P4Error(e.loc, e.msg, caret_context(source, e.loc.line, e.loc.col)) from None
        raise
    return LoadedProgram(ast, checked, filename, source)

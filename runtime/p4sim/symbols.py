"""Symbols, scopes and the result of type checking (shared by typecheck.py and
the evaluator's compiler)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Loc, P4Error
from .types import P4Type


class Sym:
    """A declared name.

    kind: 'const', 'var', 'param', 'action', 'table', 'extern' (an extern
    instance: register, counter...), 'parser', 'control', 'package', 'state',
    'type'.  ``owner`` is the enclosing parser/control name ('' at top level).
    """
    __slots__ = ("kind", "name", "type", "decl", "value", "direction", "owner", "loc", "cp_name")

    def __init__(self, kind, name, type=None, decl=None, value=None, direction="", owner="", loc=None):
        self.kind = kind
        self.name = name
        self.type = type
        self.decl = decl
        self.value = value
        self.direction = direction
        self.owner = owner
        self.loc = loc
        self.cp_name = f"{owner}.{name}" if owner else name   # control-plane name (bmv2 style)

    def __repr__(self):
        return f"Sym({self.kind} {self.cp_name}: {self.type})"


class Scope:
    def __init__(self, parent: "Scope | None" = None):
        self.parent = parent
        self.names: dict[str, Sym] = {}

    def lookup(self, name: str) -> Sym | None:
        s = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def declare(self, sym: Sym, loc: Loc):
        if sym.name in self.names:
            raise P4Error(loc, f"redeclaration of '{sym.name}'")
        self.names[sym.name] = sym


@dataclass
class TableInfo:
    sym: Sym
    decl: Any                              # ast.TableDecl
    key_types: list                        # P4Type per key
    match_kinds: list                      # str per key
    actions: list                          # action Syms, in declaration order
    bound_args: dict                       # action name -> tuple of Exprs bound in 'actions' (or None)
    default: tuple | None                  # (action Sym, args Exprs)


@dataclass
class Checked:
    """The output of the type checker: the AST plus side tables keyed by node."""
    program: Any
    types: dict = field(default_factory=dict)        # Expr -> P4Type
    consts: dict = field(default_factory=dict)       # Expr -> compile-time value
    syms: dict = field(default_factory=dict)         # Name / ActionRef / decl node -> Sym
    calls: dict = field(default_factory=dict)        # Call -> (kind, info)
    tables: dict = field(default_factory=dict)       # Sym -> TableInfo
    decl_types: dict = field(default_factory=dict)   # TypeRef -> P4Type
    blocks: dict = field(default_factory=dict)       # name -> ParserDecl/ControlDecl
    block_syms: dict = field(default_factory=dict)   # decl -> list of Syms declared in it
    main: list = field(default_factory=list)         # block names in V1Switch order
    externs: list = field(default_factory=list)      # extern-instance Syms (registers, counters)
    errors: tuple = ()                               # declared error names, in order
    header_types: dict = field(default_factory=dict)
    noaction: Any = None                             # the built-in NoAction's Sym

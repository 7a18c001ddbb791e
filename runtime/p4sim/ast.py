"""Typed AST of the P4_16 subset (frozen dataclasses).

Nodes compare and hash by identity (``eq=False``) so that later passes can key
side tables (types, resolved names) on them.  Every node has ``loc``.
Node names follow the spec's grammar (P4_16 v1.2.4, Appendix H).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .errors import Loc

node = dataclass(frozen=True, eq=False)


@node
class Annotation:
    name: str
    args: tuple          # of Expr (or ("kv", name, Expr))
    loc: Loc


# ---------------------------------------------------------------- types (spec 7)
@node
class TypeRef:
    """A type as written: kind in {'bool','bit','int','infint','error','void','name','spec'}."""
    kind: str
    width: Optional["Expr"] = None        # for bit/int
    name: str = ""                        # for name/spec
    args: tuple = ()                      # type arguments (spec)
    loc: Loc = None


# ---------------------------------------------------------------- expressions (spec 8)
@node
class IntLit:
    value: int
    width: Optional[int]                  # None: arbitrary-precision int
    signed: bool
    loc: Loc


@node
class BoolLit:
    value: bool
    loc: Loc


@node
class StrLit:
    value: str
    loc: Loc


@node
class Name:
    name: str
    loc: Loc


@node
class ErrorLit:
    name: str
    loc: Loc


@node
class TypeMember:
    """``T.m``: an enum member (e.g. ``HashAlgorithm.crc32``)."""
    type_name: str
    member: str
    loc: Loc


@node
class Member:
    expr: "Expr"
    name: str
    loc: Loc


@node
class Index:
    expr: "Expr"
    index: "Expr"
    loc: Loc


@node
class Slice:
    expr: "Expr"
    hi: "Expr"
    lo: "Expr"
    loc: Loc


@node
class Unary:
    op: str                               # '-', '~', '!'
    expr: "Expr"
    loc: Loc


@node
class Binary:
    op: str
    left: "Expr"
    right: "Expr"
    loc: Loc


@node
class Cond:
    cond: "Expr"
    then: "Expr"
    other: "Expr"
    loc: Loc


@node
class Cast:
    type: TypeRef
    expr: "Expr"
    loc: Loc


@node
class Call:
    func: "Expr"                          # Name, Member, ...
    type_args: tuple                      # of TypeRef
    args: tuple                           # of Expr
    loc: Loc


@node
class Ctor:
    """``T(args)``: constructor call (only as an instantiation argument)."""
    type_name: str
    args: tuple
    loc: Loc


@node
class ListExpr:
    items: tuple
    loc: Loc


@node
class DontCare:
    loc: Loc


Expr = object


# ---------------------------------------------------------------- keysets (spec 12.6)
@node
class KsMask:
    value: Expr
    mask: Expr
    loc: Loc


@node
class KsRange:
    lo: Expr
    hi: Expr
    loc: Loc


@node
class KsDefault:
    loc: Loc


# ---------------------------------------------------------------- statements (spec 11)
@node
class Assign:
    lhs: Expr
    rhs: Expr
    loc: Loc


@node
class CallStmt:
    call: Call
    loc: Loc


@node
class If:
    cond: Expr
    then: "Stmt"
    other: Optional["Stmt"]
    loc: Loc


@node
class Block:
    stmts: tuple
    loc: Loc


@node
class Exit:
    loc: Loc


@node
class Return:
    value: Optional[Expr]
    loc: Loc


@node
class SwitchCase:
    label: Optional[str]                  # None: default
    body: Optional[Block]                 # None: fall through to the next case
    loc: Loc


@node
class Switch:
    expr: Expr
    cases: tuple
    loc: Loc


@node
class VarDecl:
    type: TypeRef
    name: str
    init: Optional[Expr]
    loc: Loc
    annos: tuple = ()


@node
class ConstDecl:
    type: TypeRef
    name: str
    value: Expr
    loc: Loc
    annos: tuple = ()


@node
class Empty:
    loc: Loc


# ---------------------------------------------------------------- declarations
@node
class Field:
    type: TypeRef
    name: str
    stack: Optional[Expr]                 # header stack size: ``h_t[N] name;``
    loc: Loc
    annos: tuple = ()


@node
class TypedefDecl:
    type: TypeRef
    name: str
    loc: Loc
    annos: tuple = ()


@node
class HeaderDecl:
    name: str
    fields: tuple
    loc: Loc
    annos: tuple = ()


@node
class StructDecl:
    name: str
    fields: tuple
    loc: Loc
    annos: tuple = ()


@node
class ErrorDecl:
    names: tuple
    loc: Loc
    annos: tuple = ()


@node
class MatchKindDecl:
    names: tuple
    loc: Loc
    annos: tuple = ()


@node
class EnumDecl:
    name: str
    width: Optional[Expr]                 # serializable enum ``enum bit<W> E``
    members: tuple                        # of (name, Expr|None)
    loc: Loc
    annos: tuple = ()


@node
class Param:
    direction: str                        # '' (none), 'in', 'out', 'inout'
    type: TypeRef
    name: str
    loc: Loc
    annos: tuple = ()


@node
class Instantiation:
    type: TypeRef
    args: tuple
    name: str
    loc: Loc
    annos: tuple = ()


@node
class Transition:
    """``transition s;`` (exprs == ()) or ``transition select(exprs) {cases}``."""
    exprs: tuple
    cases: tuple                          # of SelectCase
    target: str                           # for direct transitions
    loc: Loc


@node
class SelectCase:
    keys: tuple                           # one keyset element per select expression
    state: str
    loc: Loc


@node
class ParserState:
    name: str
    stmts: tuple
    transition: Optional[Transition]
    loc: Loc
    annos: tuple = ()


@node
class ParserDecl:
    name: str
    params: tuple
    locals: tuple
    states: tuple
    loc: Loc
    annos: tuple = ()


@node
class ActionDecl:
    name: str
    params: tuple
    body: Block
    loc: Loc
    annos: tuple = ()


@node
class KeyElem:
    expr: Expr
    match_kind: str
    loc: Loc
    annos: tuple = ()


@node
class ActionRef:
    name: str
    args: Optional[tuple]                 # None: no argument list written
    loc: Loc
    annos: tuple = ()


@node
class Entry:
    keys: tuple                           # keyset elements
    action: ActionRef
    loc: Loc
    annos: tuple = ()


@node
class TableDecl:
    name: str
    keys: tuple                           # of KeyElem
    actions: tuple                        # of ActionRef
    default_action: Optional[ActionRef]
    const_default: bool
    entries: Optional[tuple]              # const entries
    size: Optional[Expr]
    props: tuple                          # other properties: (name, Expr, loc)
    loc: Loc
    annos: tuple = ()


@node
class ControlDecl:
    name: str
    params: tuple
    locals: tuple
    body: Block
    loc: Loc
    annos: tuple = ()


@node
class Program:
    decls: tuple
    filename: str
    source: str = field(default="", repr=False)


def annotation(annos: tuple, name: str):
    """The first annotation called ``name`` in ``annos``, or None."""
    for a in annos:
        if a.name == name:
            return a
    return None


def name_annotation(annos: tuple) -> Optional[str]:
    """The string of an ``@name("...")`` annotation, if any."""
    a = annotation(annos, "name")
    if a and a.args and isinstance(a.args[0], StrLit):
        return a.args[0].value
    return None

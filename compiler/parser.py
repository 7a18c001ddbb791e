"""Parse the IR text form back into a :class:`~nicc.compiler.ir.Pipeline`."""
from __future__ import annotations

import json
import os
import re

import lark
import numpy as np

from .errors import NiccError, SourceLoc
from .groups import Addr, Member, make_addr
from .ir import BODY_OPS, Block, Group, Host, Node, Note, Op, Pipeline, SPECS, State, Stream, Table
from .printer import blob_values
from .types import parse_type

_GRAMMAR = os.path.join(os.path.dirname(__file__), "ir.lark")
_PARSER: lark.Lark | None = None
_LOC_RE = re.compile(r"#\s*(.*):(\d+)\s*$")


def _lark() -> lark.Lark:
    global _PARSER
    if _PARSER is None:
        with open(_GRAMMAR) as f:
            _PARSER = lark.Lark(f.read(), parser="lalr", propagate_positions=True)
    return _PARSER


def _note(tok) -> tuple[str, str]:
    """``# choice: reason`` -> (choice, reason)."""
    choice, _, reason = str(tok)[1:].strip().partition(": ")
    return choice, reason


def _loc(tok) -> SourceLoc:
    m = _LOC_RE.match(str(tok))
    if not m:
        raise NiccError(f"malformed location comment {str(tok)!r}", SourceLoc("<ir>", tok.line))
    return SourceLoc(m.group(1), int(m.group(2)))


class _Builder:
    def __init__(self, filename: str):
        self.filename = filename
        self.env: dict[str, Node] = {}
        self.notes: list[Note] = []

    def err(self, msg: str, tree) -> NiccError:
        line = getattr(getattr(tree, "meta", None), "line", None) or getattr(tree, "line", 0)
        return NiccError(msg, SourceLoc(self.filename, line))

    def value(self, t):
        if t.data == "int_value":
            return int(t.children[0])
        if t.data == "name_value":
            return str(t.children[0])
        return tuple(self.value(c) for c in t.children)

    def addr(self, t) -> Addr:
        kv = {}
        for item in t.children:
            k, v = item.children
            kv[str(k)] = json.loads(str(v)) if v.type == "STRING" else int(v)
        bad = set(kv) - set(Addr.__dataclass_fields__)
        if bad:
            raise self.err(f"unknown address field(s) {sorted(bad)} (fields: mac, ip, udp)", t)
        return make_addr(**kv, what="group address", loc=SourceLoc(self.filename, t.meta.line))

    def group(self, t) -> Group:
        g, *rest = t.children
        attrs = {}
        if isinstance(rest[0], lark.Tree) and rest[0].data == "attrs":
            attrs = {str(a.children[0]): self.value(a.children[1]) for a in rest.pop(0).children}
        members_t, *rest = rest
        src = self.addr(rest.pop(0).children[0]) if isinstance(rest[0], lark.Tree) else None
        members = tuple(Member(int(m.children[0]), self.addr(m.children[1]) if len(m.children) > 1 else Addr())
                        for m in members_t.children)
        bad = set(attrs) - {"max", "rewrite", "source"}
        if bad:
            raise self.err(f"unknown group attribute(s) {sorted(bad)} (attributes: max, rewrite, source)", t)
        as_tuple = lambda v: v if isinstance(v, tuple) else (v,)       # noqa: E731
        return Group(str(g)[1:], members, _loc(rest[0]), max=attrs.get("max"),
                     rewrite=as_tuple(attrs.get("rewrite", ())), source=as_tuple(attrs.get("source", ())), src=src)

    def node(self, t) -> Node:
        kids = list(t.children)
        result = kids.pop(0) if isinstance(kids[0], lark.Tree) and kids[0].data == "result" else None
        opname = str(kids.pop(0))
        try:
            op = Op(opname)
        except ValueError:
            raise self.err(f"unknown op '{opname}'", t) from None
        attrs, args = (), ()
        if kids and isinstance(kids[0], lark.Tree) and kids[0].data == "attrs":
            attrs = tuple((str(a.children[0]), self.value(a.children[1])) for a in kids.pop(0).children)
        if kids and isinstance(kids[0], lark.Tree) and kids[0].data == "args":
            names = [str(v) for v in kids.pop(0).children]
            missing = [v for v in names if v not in self.env]
            if missing:
                raise self.err(f"use of undefined value {missing[0]}", t)
            args = tuple(self.env[v] for v in names)
        loc = _loc(kids.pop(0))
        notes = [_note(c.children[0]) for c in kids if c.data == "note"]
        kids = [c for c in kids if c.data != "note"]
        body = Block([self.node(c) for c in kids]) if op in BODY_OPS else None
        if kids and op not in BODY_OPS:
            raise self.err(f"op '{opname}' takes no body", t)
        if (result is not None) != SPECS[op].result:
            raise self.err(f"op '{opname}' {'has' if SPECS[op].result else 'has no'} result", t)
        typ = None
        if result is not None:
            var, tytok = result.children
            try:
                typ = parse_type(str(tytok))
            except (KeyError, ValueError):
                raise self.err(f"unknown type '{tytok}'", result) from None
        n = Node(op, args, attrs, typ, loc, body)
        if result is not None:
            self.env[str(result.children[0])] = n
        self.notes.extend(Note(n, choice, reason) for choice, reason in notes)
        return n

    def pipeline(self, tree) -> Pipeline:
        name, port, ploc, *rest = tree.children
        p = Pipeline(str(name), int(port), Block(), loc=_loc(ploc))
        for t in rest:
            if t.data == "table":
                g, ity, oty, loc, ints = t.children
                index, out = parse_type(str(ity)), parse_type(str(oty))
                vals = np.array([int(v) for v in ints.children], dtype=out.dtype)
                p.tables[str(g)[1:]] = Table(str(g)[1:], index, out, vals, _loc(loc))
            elif t.data == "state":
                g, ty, init, loc = t.children
                arr = parse_type(str(ty))
                p.states[str(g)[1:]] = State(str(g)[1:], arr.elem, arr.max, _loc(loc), int(init))
            elif t.data == "blob_table":
                g, ity, oty, count, blob, loc = t.children
                index, out = parse_type(str(ity)), parse_type(str(oty))
                vals = blob_values(json.loads(str(blob)), out.dtype, int(count))
                p.tables[str(g)[1:]] = Table(str(g)[1:], index, out, vals, _loc(loc))
            elif t.data == "stream":
                g, slots, *fields, loc = t.children
                fs = tuple((str(f.children[0]), parse_type(str(f.children[1]))) for f in fields)
                p.streams[str(g)[1:]] = Stream(str(g)[1:], fs, int(slots), _loc(loc))
            elif t.data == "host":
                g, ref, *args, loc = t.children
                p.hosts[str(g)[1:]] = Host(str(g)[1:], json.loads(str(ref)), tuple(json.loads(str(a)) for a in args),
                                           _loc(loc))
            elif t.data == "group":
                p.groups[str(t.children[0])[1:]] = self.group(t)
            else:
                p.body.nodes.append(self.node(t))
        p.notes = self.notes
        return p


def parse_pipeline(text: str, filename: str = "<ir>") -> Pipeline:
    """Parse IR text; syntax errors are reported as ``file:line: error:`` with context."""
    try:
        tree = _lark().parse(text)
    except lark.UnexpectedInput as e:
        ctx = e.get_context(text).rstrip("\n")
        raise NiccError(f"IR syntax error at column {e.column}\n{ctx}", SourceLoc(filename, e.line)) from None
    return _Builder(filename).pipeline(tree)

"""The canonical text form of the IR (parsed back by :mod:`nicc.compiler.parser`).

One line per node, jaxpr-like, with the user's location as a trailing comment::

    %3:bool = gt %1, %2  # normalize.py:12
    reject_if %3  # normalize.py:12

The notes passes leave on a node (why a check went, why a loop is fused) follow it
as comment lines, ``# choice: reason``::

    %3:u8 = field[name=label, offset=0, endian=be, checked=1]  # criteo.py:22
    # checked: bytes 0..1 are present: payload_len == 157 after the check at criteo.py:21

Names are assigned when printing. ``print -> parse -> print`` is the identity.
"""
from __future__ import annotations

import base64
import json
import os
import zlib
from typing import TYPE_CHECKING

import numpy as np

from .errors import SourceLoc
from .opcodes import SPECS

if TYPE_CHECKING:
    from .ir import Block, Node, Note, Pipeline


BLOB_MIN = 4096      # tables longer than this print as one compressed line


def table_blob(values: np.ndarray) -> str:
    """zlib + base64 of the values as little-endian bytes (inverse: :func:`blob_values`)."""
    le = values.astype(values.dtype.newbyteorder("<"))
    return base64.b64encode(zlib.compress(le.tobytes(), 9)).decode()


def blob_values(text: str, dtype: np.dtype, count: int) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(text))
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=count).astype(dtype)


def fmt_attr(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_attr(x) for x in v) + ")"
    if isinstance(v, bool):
        raise TypeError("bool attrs are not part of the IR")
    return str(v)


def fmt_loc(loc: SourceLoc, root: str | None) -> str:
    path = loc.file
    if root and os.path.isabs(path):
        rel = os.path.relpath(path, root)
        if not rel.startswith(".."):
            path = rel
    return f"# {path}:{loc.line}"


def fmt_note(note: Note) -> str:
    return f"# {note.choice}: {note.reason}" if note.reason else f"# {note.choice}"


class Printer:
    def __init__(self, root: str | None = None):
        self.names: dict[int, str] = {}
        self.root = root if root is not None else os.getcwd()
        self.lines: list[str] = []
        self.notes: dict[int, list[Note]] = {}

    def name(self, n: Node) -> str:
        return self.names[id(n)]

    def node(self, n: Node, indent: str) -> None:
        head = ""
        if SPECS[n.op].result:
            self.names[id(n)] = f"%{len(self.names)}"
            head = f"{self.name(n)}:{n.type} = "
        text = n.op.value
        if n.attrs:
            text += "[" + ", ".join(f"{k}={fmt_attr(v)}" for k, v in n.attrs) + "]"
        if n.args:
            text += " " + ", ".join(self.name(a) for a in n.args)
        loc = fmt_loc(n.loc, self.root)
        if n.body is not None:
            self.lines.append(f"{indent}{head}{text} {{  {loc}")
            self.lines.extend(f"{indent}{fmt_note(m)}" for m in self.notes.get(id(n), ()))
            self.block(n.body, indent + "  ")
            self.lines.append(f"{indent}}}")
        else:
            self.lines.append(f"{indent}{head}{text}  {loc}")
            self.lines.extend(f"{indent}{fmt_note(m)}" for m in self.notes.get(id(n), ()))

    def block(self, b: Block, indent: str) -> None:
        for n in b.nodes:
            self.node(n, indent)

    def pipeline(self, p: Pipeline) -> str:
        for m in p.notes:
            self.notes.setdefault(id(m.node), []).append(m)
        self.lines.append(f"pipeline {p.name} port {p.port} {{  {fmt_loc(p.loc, self.root)}")
        for t in p.tables.values():
            if len(t.values) > BLOB_MIN:
                self.lines.append(f"  table @{t.name} : {t.index} -> {t.out} = blob {len(t.values)} "
                                  f"\"{table_blob(t.values)}\"  {fmt_loc(t.loc, self.root)}")
                continue
            vals = [str(int(v)) for v in t.values]
            rows = [", ".join(vals[i:i + 16]) for i in range(0, len(vals), 16)]
            self.lines.append(f"  table @{t.name} : {t.index} -> {t.out} = [  {fmt_loc(t.loc, self.root)}")
            self.lines.extend(f"    {r}," if i < len(rows) - 1 else f"    {r}" for i, r in enumerate(rows))
            self.lines.append("  ]")
        for s in p.states.values():
            self.lines.append(f"  state @{s.name} : {s.elem}[{s.size}] = {s.init}  {fmt_loc(s.loc, self.root)}")
        for st in p.streams.values():
            fields = ", ".join(f"{f}:{t}" for f, t in st.fields)
            self.lines.append(f"  stream @{st.name} [{st.slots}] {{{fields}}}  {fmt_loc(st.loc, self.root)}")
        for h in p.hosts.values():
            args = " ".join(json.dumps(a) for a in h.args)
            self.lines.append(f"  host @{h.name} = {json.dumps(h.ref)} ({args})  {fmt_loc(h.loc, self.root)}")
        for g in p.groups.values():
            self.lines.append(f"  {g.text()}  {fmt_loc(g.loc, self.root)}")
        self.block(p.body, "  ")
        self.lines.append("}")
        return "\n".join(self.lines) + "\n"


def print_pipeline(p: Pipeline, root: str | None = None) -> str:
    """Text form of ``p``; source paths are shown relative to ``root`` (default: cwd)."""
    return Printer(root).pipeline(p)


def note_rows(p: Pipeline) -> list[dict[str, str]]:
    """The notes in program order as table rows (``where``, ``op``, ``choice``, ``reason``), the
    shape ``manifest["explain"]`` takes, for ``nicc compile --explain``."""
    order = {id(n): i for i, n in enumerate(p.body.walk())}
    notes = sorted((m for m in p.notes if id(m.node) in order), key=lambda m: order[id(m.node)])
    return [{"section": "lowering", "where": f"{os.path.basename(m.node.loc.file)}:{m.node.loc.line}",
             "op": m.node.op.value, "choice": m.choice, "reason": m.reason} for m in notes]

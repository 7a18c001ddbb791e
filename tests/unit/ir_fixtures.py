"""IR text fixtures for pass tests: write a body without locations, run a pass, compare printed IR.

    before = pipe('''
        %0:u8 = field[name=a, offset=0, endian=be]
        %1:u8 = const[value=0]
        %2:u8 = add[overflow=wrap] %0, %1
        emit[endian=(be)] %2
        verdict[verdict=pass, group=none]
    ''')
    assert after(simplify_expressions, before) == canon(expected)

Every node line gets the location ``# t.py:1`` unless it has one; printed text is compared without
locations (and without notes unless asked), with values renumbered by the printer, so a fixture
may number values as it likes. :func:`same_meaning` runs the reference interpreter on generated
frames (boundary values, malformed and truncated frames) before and after.
"""
from __future__ import annotations

import re
import textwrap

from nicc.compiler.interp import Reference
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import verify
from nicc.compiler.printer import print_pipeline

HEADER = "pipeline t port 9000 {  # t.py:1"
_LOC = re.compile(r"\s+# t\.py:\d+$")


def _with_loc(line: str) -> str:
    s = line.rstrip()
    bare = s.lstrip()
    if not bare or bare.startswith("#") or bare in ("}", "]") or "  # " in s or re.match(r"-?[0-9]", bare):
        return s
    return s + "  # t.py:1"


def pipe(body: str, decls: str = "") -> str:
    """A whole pipeline's text from body lines (and global declarations) without locations."""
    lines = textwrap.dedent(decls).strip().splitlines() + textwrap.dedent(body).strip().splitlines()
    return "\n".join([HEADER, *("  " + _with_loc(line) for line in lines), "}"]) + "\n"


def parse(text: str):
    return verify(parse_pipeline(text if text.startswith("pipeline") else pipe(text)))


def show(p, notes: bool = False) -> str:
    """The printed body without locations (and without note lines unless ``notes``)."""
    lines = []
    for line in print_pipeline(p, root="/").splitlines()[1:-1]:
        if line.lstrip().startswith("#") and not notes:
            continue
        lines.append(_LOC.sub("", line).rstrip())
    return "\n".join(lines)


def canon(text: str, notes: bool = False) -> str:
    return show(parse(text), notes)


def after(passes, text: str, notes: bool = False) -> str:
    """``text`` parsed, run through one pass or a list of them (verified after each), printed."""
    p = parse(text)
    for fn in passes if isinstance(passes, (list, tuple)) else [passes]:
        p = verify(fn(p))
    return show(p, notes)


def results(p, frames):
    return [(r.verdict, r.reason, r.frames) for r in Reference(p).run(frames)]


def same_meaning(text: str, passes, count: int = 300, seed: int = 1) -> None:
    """The interpreter gives identical results before and after ``passes`` on generated frames."""
    from nicc.runtime.packets import generate
    from tests.strategies import random_frames
    p = parse(text)
    frames = generate(p, count, seed) + random_frames(p, 50, seed)
    want = results(p, frames)
    q = parse(text)
    for fn in passes if isinstance(passes, (list, tuple)) else [passes]:
        q = verify(fn(q))
    assert results(q, frames) == want

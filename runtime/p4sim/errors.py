"""Diagnostics and run-time errors of the P4 evaluator.

Compile-time problems (syntax, types) are :class:`P4Error` with a message of
the form ``file:line:col: error: message`` followed, when the source is known,
by the offending source line and a caret under the column (the layout of
p4c's and gcc's diagnostics).  Run-time problems that bmv2 itself would turn
into an abort or a refusal are :class:`P4RuntimeError` subclasses.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """A source position: 1-based line and column."""
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class P4Error(Exception):
    """A syntax or type error in P4 source.

    ``str(err)`` is ``file:line:col: error: message`` (plus the source line
    and a caret when the source text is available).  The parts are kept as
    attributes: ``loc``, ``msg``, ``context``.
    """

    def __init__(self, loc: Loc | None, msg: str, context: str = ""):
        self.loc = loc
        self.msg = msg
        self.context = context
        head = f"{loc}: error: {msg}" if loc else f"error: {msg}"
        super().__init__(head + ("\n" + context.rstrip("\n") if context else ""))

    @property
    def line(self) -> int | None:
        return self.loc.line if self.loc else None

    @property
    def col(self) -> int | None:
        return self.loc.col if self.loc else None


def caret_context(source: str, line: int, col: int) -> str:
    """The source line ``line`` and a caret under column ``col`` (both 1-based)."""
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1].expandtabs(1)
    return text + "\n" + " " * max(col - 1, 0) + "^\n"


class P4RuntimeError(Exception):
    """An error while evaluating a program on a packet, or a bad runtime-API call."""


class GrowthLimitExceeded(P4RuntimeError):
    """The deparsed packet is more than 512 bytes longer than the packet received.

    bmv2's simple_switch allocates each packet buffer as ``PacketBuffer(len + 512,
    ...)``: 512 bytes of headroom into which the deparser prepends headers.  A
    deparser that grows the packet beyond that headroom makes bmv2 fail an
    assertion (it aborts); the evaluator raises this exception instead.
    """

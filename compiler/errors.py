"""Source locations and the two kinds of failure.

User mistakes raise :class:`NiccError`, printed as p4c does::

    normalize.py:14: error: width mismatch: u8 + u16; cast one side with .cast(...)
        y = rec.row + px
            ^^^^^^^^^^^^

Internal faults raise :class:`InternalError` ("Compiler Bug"); tests treat any
of those as a failure.
"""
from __future__ import annotations

import linecache
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLoc:
    """Where a node came from in the user's program (line 1-based, col 0-based)."""
    file: str
    line: int
    col: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def source_line(self) -> str | None:
        text = linecache.getline(self.file, self.line)
        return text.rstrip("\n") if text else None


UNKNOWN = SourceLoc("<unknown>", 0)


class NiccError(Exception):
    """A mistake in the user's pipeline, reported at the user's own line."""

    def __init__(self, message: str, loc: SourceLoc | None = None, notes: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.notes = notes or []

    def format(self) -> str:
        head = f"{self.loc}: error: {self.message}" if self.loc else f"error: {self.message}"
        lines = [head]
        src = self.loc.source_line() if self.loc else None
        if src is not None:
            stripped = src.lstrip()
            indent = len(src) - len(stripped)
            lines.append("    " + stripped)
            if self.loc.col is not None and self.loc.col >= indent:
                width = max(1, (self.loc.end_col or self.loc.col + 1) - self.loc.col)
                if self.loc.end_col is None or self.loc.end_col > len(src):
                    width = max(1, len(src) - self.loc.col)
                lines.append("    " + " " * (self.loc.col - indent) + "^" * width)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


class InternalError(AssertionError):
    """A compiler bug: never the user's fault."""

    def __init__(self, message: str):
        super().__init__(f"Compiler Bug: {message}")


def user_frame(skip_prefix: str = "nicc"):
    """The innermost stack frame outside the nicc package (JAX's user_frame)."""
    f = sys._getframe(1)
    while f is not None:
        mod = f.f_globals.get("__name__", "")
        if not (mod == skip_prefix or mod.startswith(skip_prefix + ".")):
            return f
        f = f.f_back
    return None


def loc_of_frame(frame) -> SourceLoc:
    if frame is None:
        return UNKNOWN
    code = frame.f_code
    line, col, end_col = frame.f_lineno, None, None
    try:
        positions = list(code.co_positions())[frame.f_lasti // 2]
        if positions[0] is not None:
            line = positions[0]
            if positions[1] == positions[0]:
                col, end_col = positions[2], positions[3]
    except (AttributeError, IndexError):
        pass
    return SourceLoc(code.co_filename, line, col, end_col)


def user_loc() -> SourceLoc:
    """Source location of the innermost user frame."""
    return loc_of_frame(user_frame())

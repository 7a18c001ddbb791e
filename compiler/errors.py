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
import os
import site
import sys
import sysconfig
from contextlib import contextmanager
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


def user_frame():
    """The innermost stack frame of the user's code: outside nicc, and outside Python's and installed
    packages' code, so ``np.sum(v)`` is placed at the user's call (JAX's user_frame)."""
    f = sys._getframe(1)
    first_outside = None
    while f is not None:
        kind = _frame_kind(f)
        if kind == "user":
            return f
        if kind == "library" and first_outside is None:
            first_outside = f
        f = f.f_back
    return first_outside


def loc_of_frame(frame) -> SourceLoc:
    if frame is None:
        return UNKNOWN
    return _loc_at(frame.f_code, frame.f_lineno, frame.f_lasti)


def _loc_at(code, line: int, lasti: int) -> SourceLoc:
    col, end_col = None, None
    try:
        positions = list(code.co_positions())[lasti // 2]
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


# -- exceptions raised by the user's own code -------------------------------------------------------

def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = [paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")]
    dirs += site.getsitepackages() if hasattr(site, "getsitepackages") else []
    return tuple(sorted({os.path.join(os.path.realpath(d), "") for d in dirs if d}))


_LIBRARY_DIRS = _library_dirs()


_LIBRARY_FILES: dict[str, bool] = {}


def _frame_kind(frame) -> str:
    """'nicc' (the compiler), 'library' (Python's and installed packages' code) or 'user'."""
    mod = frame.f_globals.get("__name__", "")
    if mod == "nicc" or mod.startswith("nicc."):
        return "nicc"
    path = frame.f_code.co_filename
    lib = _LIBRARY_FILES.get(path)
    if lib is None:
        lib = _LIBRARY_FILES[path] = path.startswith("<") or os.path.realpath(path).startswith(_LIBRARY_DIRS)
    return "library" if lib else "user"


def error_from_exception(e: BaseException, what: str, file: str | None = None) -> NiccError | None:
    """The user's mistake behind ``e``, reported at the user's own line; None when the fault is nicc's.

    A syntax error is placed where Python reports it. Any other exception is placed at the
    innermost line of the user's code it passed through, unless it was raised by nicc itself
    (the innermost frame that is not Python's or a package's is in nicc): that is a compiler bug.
    ``what`` says what was being done (``loading the pipeline file``, ``tracing pipeline 'p'``);
    ``file`` is the file being run, where an error that Python places nowhere is reported.
    """
    if isinstance(e, SyntaxError):
        if not e.filename or not e.lineno:
            return NiccError(f"syntax error: {e.msg}", SourceLoc(e.filename or file or "<unknown>", e.lineno or 1))
        col = e.offset - 1 if e.offset else None
        end = e.end_offset - 1 if e.end_offset and e.end_lineno == e.lineno and e.end_offset > e.offset else None
        return NiccError(f"syntax error: {e.msg}", SourceLoc(e.filename, e.lineno, col, end))
    entries = []
    tb = e.__traceback__
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    kinds = [_frame_kind(f) for f, _, _ in entries]
    inner = [i for i, k in enumerate(kinds) if k != "library"]
    if file is not None and "user" not in kinds:
        # raised by Python itself before running any of the file (e.g. it cannot be compiled)
        if isinstance(e, ValueError) and "null bytes" in str(e):   # Python < 3.11.4: a NUL byte is not a SyntaxError
            return NiccError(f"syntax error: {e}", SourceLoc(file, 1))
        return NiccError(f"{type(e).__name__} while {what}: {e}", SourceLoc(file, 1))
    if not inner:
        return None
    if isinstance(e, RecursionError):
        users = [i for i in inner if kinds[i] == "user"]
        if not users:
            return None
        f, line, lasti = entries[users[-1]]
        return NiccError(f"unbounded recursion while {what} ({e}): a pipeline function runs once, at compile "
                         "time, so its recursion must end by Python values; for per-element work use .map",
                         _loc_at(f.f_code, line, lasti))
    if kinds[inner[-1]] != "user":
        return None
    f, line, lasti = entries[inner[-1]]
    return NiccError(f"{type(e).__name__} while {what}: {e}", _loc_at(f.f_code, line, lasti))


@contextmanager
def user_code(what: str, file: str | None = None):
    """Run the user's code; its exceptions become :class:`NiccError` at the user's line (nicc's own
    faults are left as they are). ``file``: the file being run, if any."""
    try:
        yield
    except (NiccError, InternalError):
        raise
    except Exception as e:
        err = error_from_exception(e, what, file)
        if err is None:
            raise
        raise err from e

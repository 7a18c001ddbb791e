"""P4_16 types of the subset (spec 7) and the value arithmetic shared by the
type checker (constant folding) and the evaluator.

Values at run time are plain Python objects:

* ``bit<W>``: int in [0, 2^W); ``int<W>``: int in [-2^(W-1), 2^(W-1)) (two's
  complement wrap, spec 8.6); arbitrary-precision ``int``: any int;
* ``bool``: bool; ``error``/enum members: str (the member name);
* header: list ``[valid, f1, f2, ...]``; struct: list ``[m1, m2, ...]``;
  header stack: :class:`StackVal`.
"""
from __future__ import annotations

from dataclasses import dataclass


class P4Type:
    fixed = False          # a fixed-width integer type

    def __str__(self):
        return self.show()


@dataclass(frozen=True)
class Bits(P4Type):
    """``bit<W>`` (signed=False) or ``int<W>`` (signed=True)."""
    width: int
    signed: bool = False
    fixed = True

    def show(self):
        return f"{'int' if self.signed else 'bit'}<{self.width}>"


@dataclass(frozen=True)
class InfInt(P4Type):
    """The arbitrary-precision type of unsized integer literals (spec 7.1.6.5)."""
    def show(self):
        return "int"


@dataclass(frozen=True)
class BoolT(P4Type):
    def show(self):
        return "bool"


@dataclass(frozen=True)
class VoidT(P4Type):
    def show(self):
        return "void"


@dataclass(frozen=True)
class StringT(P4Type):
    def show(self):
        return "string"


@dataclass(frozen=True)
class ErrorT(P4Type):
    def show(self):
        return "error"


@dataclass(frozen=True)
class MatchKindT(P4Type):
    def show(self):
        return "match_kind"


@dataclass(frozen=True)
class EnumT(P4Type):
    name: str
    members: tuple                  # names
    underlying: Bits | None = None  # serializable enums
    values: tuple = ()              # member values for serializable enums

    def show(self):
        return self.name


@dataclass(frozen=True, eq=False)
class HeaderT(P4Type):
    name: str
    fields: tuple                   # of (name, Bits|BoolT)

    def __eq__(self, o):
        return isinstance(o, HeaderT) and o.name == self.name

    def __hash__(self):
        return hash(("header", self.name))

    def index(self, field: str) -> int | None:
        for i, (n, _) in enumerate(self.fields):
            if n == field:
                return i + 1        # slot 0 is the validity bit
        return None

    @property
    def bits(self) -> int:
        return sum(t.width if isinstance(t, Bits) else 1 for _, t in self.fields)

    def show(self):
        return self.name


@dataclass(frozen=True, eq=False)
class StructT(P4Type):
    name: str
    fields: tuple                   # of (name, P4Type)

    def __eq__(self, o):
        return isinstance(o, StructT) and o.name == self.name

    def __hash__(self):
        return hash(("struct", self.name))

    def index(self, field: str) -> int | None:
        for i, (n, _) in enumerate(self.fields):
            if n == field:
                return i
        return None

    def show(self):
        return self.name


@dataclass(frozen=True)
class StackT(P4Type):
    elem: HeaderT
    size: int

    def show(self):
        return f"{self.elem.show()}[{self.size}]"


@dataclass(frozen=True)
class ListT(P4Type):
    items: tuple

    def show(self):
        return "{" + ", ".join(t.show() for t in self.items) + "}"


@dataclass(frozen=True)
class ExternT(P4Type):
    """An extern object type, e.g. ``register<bit<32>>``, ``packet_in``."""
    name: str
    args: tuple = ()

    def show(self):
        return self.name + (f"<{', '.join(a.show() for a in self.args)}>" if self.args else "")


@dataclass(frozen=True)
class BlockT(P4Type):
    """A parser/control/package type name (constructor calls in ``main``)."""
    kind: str
    name: str

    def show(self):
        return self.name


@dataclass(frozen=True)
class TableT(P4Type):
    name: str

    def show(self):
        return f"table {self.name}"


@dataclass(frozen=True)
class ApplyResultT(P4Type):
    """The struct returned by ``t.apply()``: hit, miss, action_run (spec 14.2.2)."""
    table: str

    def show(self):
        return f"apply_result({self.table})"


@dataclass(frozen=True)
class ActionEnumT(P4Type):
    """The type of ``t.apply().action_run``."""
    table: str

    def show(self):
        return f"action_list({self.table})"


@dataclass(frozen=True)
class MethodT(P4Type):
    """A not-yet-called method or function; ``what`` identifies it."""
    what: str

    def show(self):
        return f"method {self.what}"


BOOL = BoolT()
INFINT = InfInt()
VOID = VoidT()
ERROR = ErrorT()


class StackVal:
    """A header stack value: elements (header lists) and nextIndex (spec 8.18)."""
    __slots__ = ("elems", "next")

    def __init__(self, elems, nxt=0):
        self.elems = elems
        self.next = nxt

    def copy(self):
        return StackVal([list(e) for e in self.elems], self.next)


# ---------------------------------------------------------------- arithmetic (spec 8.5, 8.6)

def wrap(v: int, t: P4Type) -> int:
    """``v`` reduced to the range of ``t`` (two's complement for int<W>)."""
    if isinstance(t, Bits):
        m = (1 << t.width) - 1
        v &= m
        if t.signed and v >> (t.width - 1):
            v -= 1 << t.width
        return v
    return v


def saturate(v: int, t: Bits) -> int:
    if t.signed:
        lo, hi = -(1 << (t.width - 1)), (1 << (t.width - 1)) - 1
    else:
        lo, hi = 0, (1 << t.width) - 1
    return lo if v < lo else hi if v > hi else v


def default_value(t: P4Type):
    """The value of an uninitialized / freshly zeroed object (bmv2 zeroes everything)."""
    if isinstance(t, Bits) or isinstance(t, InfInt):
        return 0
    if isinstance(t, BoolT):
        return False
    if isinstance(t, ErrorT):
        return "NoError"
    if isinstance(t, EnumT):
        return t.members[0] if not t.underlying else 0
    if isinstance(t, HeaderT):
        return [False] + [default_value(ft) for _, ft in t.fields]
    if isinstance(t, StructT):
        return [default_value(ft) for _, ft in t.fields]
    if isinstance(t, StackT):
        return StackVal([default_value(t.elem) for _ in range(t.size)])
    return None


def copy_value(v):
    """A deep copy of a value (assignment copies, spec 8.22)."""
    if isinstance(v, list):
        return [copy_value(x) for x in v]
    if isinstance(v, StackVal):
        return StackVal([copy_value(e) for e in v.elems], v.next)
    return v

"""Rewrites as pattern -> replacement rules applied to a fixed point (tinygrad's PatternMatcher,
MLIR's canonicalization patterns).

A pattern matches a node by op kind, operands (patterns again) and a predicate, and binds names;
a name bound twice must be the same node (``x - x``). A rule's replacement function gets the
rewrite context and the bindings (``n`` is the matched node) and returns

* an existing node: every use of ``n`` now uses it, and ``n`` goes;
* a new node (made with :meth:`Rewrite.const` or :meth:`Rewrite.node`): it takes ``n``'s place;
* :data:`DELETE`: ``n`` (an effect that provably does nothing) goes;
* ``None``: no rewrite after all.

    x_plus_0 = Rule(P(Op.ADD, X, C(0)), lambda rw, x, **_: x)         # x + 0 -> x
    p = rewrite(p, Rules([x_plus_0, ...]))

:func:`rewrite` visits nodes in program order (operands before their users), applies the first
matching rule to each node and then to what replaced it, and sweeps again until no rule applies
anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ..constfold import constant_value
from ..errors import InternalError, SourceLoc
from ..ir import Block, Node, Op, Pipeline
from ..types import BOOL, Scalar, Type, is_float
from .cse import MERGED, computation_key

DELETE = object()
MAX_SWEEPS = 100


@dataclass(frozen=True)
class Pat:
    """Matches a node: ``ops`` (None: any), ``args`` (None: any operands), a predicate, a name."""
    ops: frozenset[Op] | None = None
    args: tuple["Pat", ...] | None = None
    name: str | None = None
    where: Callable[[Node], bool] | None = None

    def match(self, n: Node, bound: dict[str, Node]) -> bool:
        if self.ops is not None and n.op not in self.ops:
            return False
        if self.where is not None and not self.where(n):
            return False
        if self.args is not None:
            if len(self.args) != len(n.args) or not all(p.match(a, bound) for p, a in zip(self.args, n.args)):
                return False
        if self.name is not None:
            if bound.setdefault(self.name, n) is not n:
                return False
        return True


def P(ops: Op | Iterable[Op], *args: Pat, name: str | None = None, where: Callable[[Node], bool] | None = None) -> Pat:
    """A node of kind ``ops`` whose operands match ``args`` (none given: any operands)."""
    ops = frozenset([ops] if isinstance(ops, Op) else ops)
    return Pat(ops, args or None, name, where)


def V(name: str, where: Callable[[Node], bool] | None = None) -> Pat:
    """Any node, bound to ``name``."""
    return Pat(name=name, where=where)


def C(value: int | Callable[[Node], bool] | None = None, name: str = "c") -> Pat:
    """A constant: any, one value, or one the predicate accepts (given the const node)."""
    if value is None:
        return Pat(frozenset([Op.CONST]), name=name)
    if callable(value):
        return Pat(frozenset([Op.CONST]), name=name, where=value)
    return Pat(frozenset([Op.CONST]), name=name, where=lambda n: n.attr("value") == value)


X, Y = V("x"), V("y")


@dataclass(frozen=True)
class Rule:
    """``pattern -> replace(rw, **bindings)``; ``doc`` says what it does (``x + 0 -> x``)."""
    pattern: Pat
    replace: Callable[..., object]
    doc: str = ""


class Rules:
    """An ordered rule list, indexed by the op kind each pattern's root matches (rule table by op)."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = list(rules)
        self.by_op: dict[Op, list[Rule]] = {op: [] for op in Op}
        for r in self.rules:
            for op in (r.pattern.ops if r.pattern.ops is not None else Op):
                self.by_op[op].append(r)

    def __add__(self, other: "Rules") -> "Rules":
        return Rules(self.rules + other.rules)

    def apply(self, rw: "Rewrite", n: Node):
        if is_float(n.type) or any(is_float(a.type) for a in n.args):
            return None                  # float math follows IEEE rules (NaN, -0.0): no algebra applies
        for r in self.by_op[n.op]:
            bound: dict[str, Node] = {}
            if r.pattern.match(n, bound):
                bound.setdefault("n", n)
                out = r.replace(rw, **bound)
                if out is not None and out is not n:
                    return out
        return None


class Rewrite:
    """What a replacement function may use: the pipeline, constant evaluation, node builders."""

    def __init__(self, p: Pipeline):
        self.pipeline = p

    def const(self, value: int, t: Type, loc: SourceLoc) -> Node:
        if not (isinstance(t, Scalar) and (t.is_int or t == BOOL)):
            raise InternalError(f"no constant of type {t}")
        return Node(Op.CONST, (), {"value": int(value)}, t, loc)

    def node(self, op: Op, args: tuple[Node, ...], attrs=(), t: Type | None = None, loc: SourceLoc | None = None,
             like: Node | None = None) -> Node:
        """A new node; ``like`` lends its type, attributes and location where none are given."""
        if like is not None:
            attrs = attrs or like.attrs
            t = t or like.type
            loc = loc or like.loc
        return Node(op, args, attrs, t, loc)

    def value(self, n: Node) -> int | None:
        """``n``'s value if it is known at compile time (by the interpreter's own rules)."""
        return constant_value(self.pipeline, n)


def rewrite(p: Pipeline, rules: Rules, merge: bool = False) -> Pipeline:
    """Apply ``rules`` to every node of ``p`` until none applies (see the module docstring); with
    ``merge``, equal computations are also merged as they appear (hash-consing, as
    :mod:`.cse` does), so rules that need two operands to be one node see them as one."""
    rw = Rewrite(p)
    for _ in range(MAX_SWEEPS):
        if not _sweep(p, rules, rw, merge):
            return p
    raise InternalError(f"rewrite rules did not reach a fixed point in {MAX_SWEEPS} sweeps")


def _sweep(p: Pipeline, rules: Rules, rw: Rewrite, merge: bool) -> bool:
    subst: dict[Node, Node] = {}
    placed: set[Node] = set()
    changed = False

    def resolve(a: Node) -> Node:
        while a in subst:
            a = subst[a]
        return a

    def keep(m: Node, out: list[Node], seen: dict) -> None:
        """Append ``m`` to the block being built, or merge it into an equal node already there."""
        nonlocal changed
        if merge and m.op in MERGED:
            have = seen.setdefault(computation_key(m), m)
            if have is not m:
                subst[m] = have
                changed = True
                return
        out.append(m)
        placed.add(m)

    def place(m: Node, out: list[Node], seen: dict) -> None:
        """Put a new node (and new operands it was built from) into the block being built."""
        for a in m.args:
            if a not in placed and a not in subst:
                place(a, out, seen)
        m.args = tuple(resolve(a) for a in m.args)
        keep(m, out, seen)

    def block(b: Block, seen: dict) -> None:
        nonlocal changed
        out: list[Node] = []
        for n in b.nodes:
            n.args = tuple(resolve(a) for a in n.args)
            if n.body is not None:
                block(n.body, dict(seen))
            for _ in range(MAX_SWEEPS):
                r = rules.apply(rw, n)
                if r is None:
                    break
                changed = True
                if r is DELETE:
                    n = None
                    break
                subst[n] = r
                if r in placed:
                    n = None
                    break
                n = r
                for a in n.args:
                    if a not in placed and a not in subst:
                        place(a, out, seen)
                n.args = tuple(resolve(a) for a in n.args)
            else:
                raise InternalError(f"rewrite rules loop on {n.op.value} at {n.loc}")
            if n is not None:
                keep(n, out, seen)
        b.nodes = out

    block(p.body, {})
    return changed

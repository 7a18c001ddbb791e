"""Value ranges: an interval per value that holds on every packet, for the renderers' checks.

A renderer writes a bound check before an element read (``gather``) and a saturating operation as
a test for overflow. Where the interval of the index, or of the exact result, shows that the check
can never fire, the plain form is the same computation: E4's ``COL_OFS[ox0 + k]`` has ``ox0`` in
[0, 112] and ``k`` in [0, 111], so it is always below 224; its ``c0 * pixel`` is at most 256 x 255,
which a ``u16`` holds, so the saturation never happens. The analysis is plain interval arithmetic
over constants, table contents, the index of a ``range`` element, selects, masks and shifts; a
value it knows nothing about has its type's range. It never changes what a pipeline means: a
check is only left out where the interval proves it cannot fire.

    r = Ranges(p)
    lo, hi = r.of(node)
    r.below(index_node, 224)      # True: index < 224 on every packet
    r.fits(mul_node)              # True: the exact product fits the type (no saturation, no wrap)
"""
from __future__ import annotations

from ..compiler.ir import Node, Op, Pipeline
from ..compiler.types import Scalar


class Ranges:
    """Intervals of a pipeline's values, computed on demand and remembered."""

    def __init__(self, p: Pipeline):
        self.p = p
        self.memo: dict[int, tuple[int, int]] = {}
        self.map_of: dict[int, Node] = {}            # element node -> its map
        for n in p.body.walk():
            if n.op is Op.MAP:
                for b in n.body.walk():
                    if b.op is Op.ELEM:
                        self.map_of[id(b)] = n

    @staticmethod
    def full(t) -> tuple[int, int]:
        if isinstance(t, Scalar) and t.kind == "bool":
            return (0, 1)
        if isinstance(t, Scalar) and t.is_int:
            return (t.lo, t.hi)
        return (0, 0)

    def of(self, n: Node) -> tuple[int, int]:
        got = self.memo.get(id(n))
        if got is None:
            got = self.memo[id(n)] = self._of(n)
        return got

    def exact(self, n: Node) -> tuple[int, int] | None:
        """The interval of ``n``'s arithmetic result before it is wrapped or saturated to its type."""
        if n.op not in EXACT or len(n.args) != 2:
            return None
        a, b = self.of(n.args[0]), self.of(n.args[1])
        return EXACT[n.op](a, b)

    def fits(self, n: Node) -> bool:
        """Whether the exact result of arithmetic node ``n`` always fits its type (wrap = saturate = exact)."""
        e = self.exact(n)
        lo, hi = self.full(n.type)
        return e is not None and lo <= e[0] and e[1] <= hi

    def below(self, n: Node, k: int) -> bool:
        """Whether ``n`` < ``k`` on every packet (and is not negative)."""
        lo, hi = self.of(n)
        return lo >= 0 and hi < k

    def _of(self, n: Node) -> tuple[int, int]:
        t = n.type
        full = self.full(t)
        op = n.op
        if op is Op.CONST:
            v = int(n.attr("value"))
            return (v, v)
        if op is Op.ELEM:
            m = self.map_of.get(id(n))
            src = m.args[n.attr("input")] if m is not None else None
            if src is not None and src.op is Op.RANGE:
                return (0, max(0, src.attr("max") - 1))
            if src is not None and src.op is Op.ROM:
                v = self.p.tables[src.attr("table")].values
                return (int(v.min()), int(v.max())) if len(v) else (0, 0)
            return full
        if op is Op.GATHER and n.args[0].op is Op.ROM:
            v = self.p.tables[n.args[0].attr("table")].values
            if not len(v):
                return (0, 0)
            lo, hi = int(v.min()), int(v.max())
            if not self.below(n.args[1], len(v)):        # an index past the end reads 0
                lo, hi = min(lo, 0), max(hi, 0)
            return (lo, hi)
        if op is Op.SELECT:
            a, b = self.of(n.args[1]), self.of(n.args[2])
            return (min(a[0], b[0]), max(a[1], b[1]))
        if op is Op.CAST:
            lo, hi = self.of(n.args[0])
            if full[0] <= lo and hi <= full[1]:
                return (lo, hi)
            if n.attr("overflow") == "sat":
                return (max(lo, full[0]), min(hi, full[1])) if lo <= full[1] and hi >= full[0] else full
            return full
        if op is Op.AND and isinstance(t, Scalar) and t.is_int:
            a, b = self.of(n.args[0]), self.of(n.args[1])
            if a[0] >= 0 and b[0] >= 0:
                return (0, min(a[1], b[1]))
            return full
        if op is Op.SHR and isinstance(t, Scalar) and t.is_int and not t.signed:
            a, s = self.of(n.args[0]), self.of(n.args[1])
            if s[0] < 0 or a[0] < 0:
                return full
            lo = 0 if s[1] >= t.bits else a[0] >> s[1]          # a shift by the width or more gives 0
            hi = 0 if s[0] >= t.bits else a[1] >> s[0]
            return (lo, hi)
        e = self.exact(n)
        if e is not None:
            if full[0] <= e[0] and e[1] <= full[1]:
                return e
            if n.attr("overflow") == "sat":
                return (max(e[0], full[0]), min(e[1], full[1]))
        return full


def _mul(a, b):
    ps = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    return (min(ps), max(ps))


EXACT = {Op.ADD: lambda a, b: (a[0] + b[0], a[1] + b[1]),
         Op.SUB: lambda a, b: (a[0] - b[1], a[1] - b[0]),
         Op.MUL: _mul}

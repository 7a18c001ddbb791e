"""What holds for a packet still being processed at a point of the pipeline: value ranges and
linear facts, learnt from the checks and reads before that point (the range analysis behind
``eliminate_implied_checks`` and ``annotate_trip_counts``).

A packet that reaches a node has passed every earlier check (``reject_if c`` and ``verdict_if c``
leave only packets where ``c`` is false) and every earlier read (a field read leaves only packets
with the bytes it reads). IR values never change once computed, so what was learnt about a value
holds for it at every later point.

Values are seen as integers. A value built from others by ``+``, ``-``, ``*`` by a constant and
casts that provably do not wrap is an :class:`Affine` form over *base* values (fields, the payload
length, ...); every ``payload_len`` node is the one base :data:`PLEN`. Facts are intervals of base
values and linear inequalities ``form >= 0``. A claim ``form >= 0`` is proven when the form's least
value over the intervals of its bases is >= 0, or when ``form - fact`` is for some fact::

    f = Facts(p)
    f.learn(reject_if_node)               # reject_if (payload_len != 3 * count + 10)
    f.proves(f.affine(plen) - f.affine(need))     # -> the nodes the proof used, or None
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..ir import Node, Op, Pipeline
from ..types import Array, BOOL, Scalar, is_float

PLEN = "payload_len"          # the base standing for the payload length


@dataclass(frozen=True)
class Affine:
    """``const + sum(coef * base)``; ``terms`` maps a base key (a node, or PLEN) to its coefficient."""
    terms: tuple[tuple[object, int], ...] = ()
    const: int = 0

    @staticmethod
    def of(terms: dict, const: int = 0) -> "Affine":
        return Affine(tuple((k, c) for k, c in terms.items() if c), const)

    def __add__(self, o: "Affine") -> "Affine":
        t = dict(self.terms)
        for k, c in o.terms:
            t[k] = t.get(k, 0) + c
        return Affine.of(t, self.const + o.const)

    def __mul__(self, k: int) -> "Affine":
        return Affine.of({b: c * k for b, c in self.terms}, self.const * k)

    def __sub__(self, o: "Affine") -> "Affine":
        return self + o * -1

    def plus(self, k: int) -> "Affine":
        return Affine(self.terms, self.const + k)


PAYLOAD = Affine(((PLEN, 1),))      # the payload length as a form


def where(n: Node) -> str:
    """``op at file:line`` for reasons in notes."""
    what = {Op.REJECT_IF: "the check", Op.VERDICT_IF: "the check", Op.FIELD: f"the read of {n.attr('name')}",
            Op.ARRAY: f"the read of {n.attr('name')}"}.get(n.op, n.op.value)
    return f"{what} at {os.path.basename(n.loc.file)}:{n.loc.line}"


FLOAT_RANGE = (-(1 << 1100), 1 << 1100)      # a float: any value (the analysis proves nothing of it)


def _range(t) -> tuple[int, int]:
    if is_float(t):
        return FLOAT_RANGE
    return (t.lo, t.hi) if isinstance(t, Scalar) else (0, 0)


def _float_compare(cond: Node) -> bool:
    """A comparison of floats: NaN makes ``a < b`` false without ``a >= b`` true, so nothing follows."""
    return cond.op in NEGATE and is_float(cond.args[0].type)


def _fits(lo: int, hi: int, t: Scalar) -> bool:
    return t.lo <= lo and hi <= t.hi


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, v))


def element_count_range(f: "Facts", arr: Node) -> tuple[int, int]:
    """How many elements the array value ``arr`` holds (an ``array`` read or a ``map`` result)."""
    while arr.op is Op.MAP:
        arr = arr.args[0]
    t: Array = arr.type
    if not t.dynamic:
        return t.max, t.max                     # a fixed array always has max elements
    if arr.op is not Op.ARRAY:
        return 0, t.max
    lo, hi = f.interval(arr.args[0])
    return _clamp(lo, 0, t.max), _clamp(hi, 0, t.max)


@dataclass
class Facts:
    """Intervals and inequalities known at one point (see the module docstring)."""
    pipeline: Pipeline
    bounds: dict[object, tuple[int, int, Node | None]] = field(default_factory=dict)
    ineqs: list[tuple[Affine, Node | None]] = field(default_factory=list)
    truth: dict[object, tuple[bool, Node | None]] = field(default_factory=dict)   # node or signature
    nodes: dict[object, Node] = field(default_factory=dict)        # base key -> a node of that base
    _iv: dict[Node, tuple[int, int]] = field(default_factory=dict)
    _af: dict[Node, Affine] = field(default_factory=dict)
    _busy: set = field(default_factory=set)                          # intervals being worked out

    # ---- values --------------------------------------------------------------------------

    def key(self, n: Node) -> object:
        return PLEN if n.op is Op.PAYLOAD_LEN else n

    def base(self, n: Node) -> Affine:
        k = self.key(n)
        self.nodes.setdefault(k, n)
        return Affine(((k, 1),))

    def interval(self, n: Node) -> tuple[int, int]:
        """The least and greatest value ``n`` can have here (bools: 0 and 1)."""
        got = self._iv.get(n)
        if got is None:
            if n in self._busy:             # asked again while working it out: nothing better than its type
                return _range(n.type) if n.type != BOOL else (0, 1)
            self._busy.add(n)
            try:
                lo, hi = INTERVAL_RULES.get(n.op, lambda f, n: _range(n.type))(self, n)
            finally:
                self._busy.discard(n)
            b = self.bounds.get(self.key(n))
            if b is not None:
                lo, hi = max(lo, b[0]), min(hi, b[1])
            t = self.truth.get(n)
            if t is not None:
                lo = hi = int(t[0])
            got = self._iv[n] = (lo, hi)
        return got

    def affine(self, n: Node) -> Affine:
        """``n`` as an affine form over base values (itself a base where no exact form is known)."""
        got = self._af.get(n)
        if got is None:
            rule = AFFINE_RULES.get(n.op) if not is_float(n.type) else None
            got = (rule(self, n) if rule else None) or self.base(n)
            self._af[n] = got
        return got

    def base_interval(self, k: object) -> tuple[int, int]:
        if k == PLEN:
            lo, hi = 0, 0xFFFF
            b = self.bounds.get(PLEN)
            return (max(lo, b[0]), min(hi, b[1])) if b else (lo, hi)
        return self.interval(self.nodes[k])

    def least(self, form: Affine) -> int:
        """The least value of ``form`` over the intervals of its bases."""
        v = form.const
        for k, c in form.terms:
            lo, hi = self.base_interval(k)
            v += c * (lo if c > 0 else hi)
        return v

    def proves(self, form: Affine) -> list[Node] | None:
        """The nodes whose facts prove ``form >= 0`` here, or None if it is not proven."""
        if self.least(form) >= 0:
            return self._origins(form)
        for fact, origin in self.ineqs:
            rest = form - fact
            if self.least(rest) >= 0:
                return [o for o in [origin, *self._origins(rest)] if o is not None]
        return None

    def _origins(self, form: Affine) -> list[Node]:
        return [self.bounds[k][2] for k, _ in form.terms if k in self.bounds and self.bounds[k][2] is not None]

    # ---- conditions ----------------------------------------------------------------------

    def holds(self, cond: Node) -> bool | None:
        """Whether the bool ``cond`` is known true or false here."""
        lo, hi = self.interval(cond)
        return bool(lo) if lo == hi else None

    def knows(self, cond: Node, value: bool) -> list[Node] | None:
        """The nodes proving ``cond == value`` here (learnt conditions, comparisons the facts
        imply, and/or/not of those), or None."""
        t = self.truth.get(cond) or self.truth.get(self._signature(cond))
        if t is not None:
            return ([t[1]] if t[1] is not None else []) if t[0] == value else None
        if _float_compare(cond):
            return None
        if cond.op is Op.NOT:
            return self.knows(cond.args[0], not value)
        if cond.op in (Op.AND, Op.OR) and cond.type == BOOL:
            parts = [self.knows(a, value) for a in cond.args]
            if value == (cond.op is Op.AND):            # a & b true, a | b false: both parts
                return None if None in parts else [o for p in parts for o in p]
            return next((p for p in parts if p is not None), None)
        if cond.op in NEGATE:
            op = cond.op if value else NEGATE[cond.op]
            a, b = (self.affine(x) for x in cond.args)
            ways = [[(a - b).plus(-1)], [(b - a).plus(-1)]] if op is Op.NE else [COMPARE_FORMS[op](a, b)]
            for forms in ways:
                proofs = [self.proves(f) for f in forms]
                if all(p is not None for p in proofs):
                    return [o for p in proofs for o in p]
            return None
        return [] if self.holds(cond) is value else None

    @staticmethod
    def _signature(cond: Node) -> tuple | None:
        """A comparison as (op, a, b), so an equal comparison node made elsewhere is known too."""
        return (cond.op, *cond.args) if cond.op in NEGATE else None

    # ---- learning ------------------------------------------------------------------------

    def assume(self, cond: Node, value: bool, origin: Node | None) -> None:
        """From here on ``cond`` has ``value`` (for the packets still being processed)."""
        self.truth[cond] = (value, origin)
        if _float_compare(cond):
            self._iv.clear()
            return
        if cond.op in NEGATE:                          # a < b false: also a >= b true, b > a false...
            a, b = cond.args
            for op, x, y, v in ((cond.op, a, b, value), (NEGATE[cond.op], a, b, not value),
                                (MIRROR[cond.op], b, a, value), (NEGATE[MIRROR[cond.op]], b, a, not value)):
                self.truth.setdefault((op, x, y), (v, origin))
        if cond.op is Op.NOT:
            self.assume(cond.args[0], not value, origin)
        elif cond.op in (Op.AND, Op.OR) and cond.type == BOOL:
            a, b = cond.args
            if value == (cond.op is Op.AND):           # a & b true, a | b false: both
                self.assume(a, value, origin)
                self.assume(b, value, origin)
            elif self.holds(a) == (cond.op is Op.AND):
                self.assume(b, value, origin)
            elif self.holds(b) == (cond.op is Op.AND):
                self.assume(a, value, origin)
        elif cond.op is Op.CAST and cond.args[0].type != BOOL:       # cast to bool: x != 0
            x = self.affine(cond.args[0])
            if not value:
                self.add(x, origin)
                self.add(x * -1, origin)
            elif self.interval(cond.args[0])[0] >= 0:
                self.add(x.plus(-1), origin)
        elif cond.op in NEGATE:
            op = cond.op if value else NEGATE[cond.op]
            if op is not Op.NE:                  # a != b is not one convex fact
                a, b = (self.affine(x) for x in cond.args)
                for form in COMPARE_FORMS[op](a, b):
                    self.add(form, origin)
        self._iv.clear()

    def add(self, form: Affine, origin: Node | None) -> None:
        """Learn ``form >= 0``; tighten the interval of each of its bases."""
        self.ineqs.append((form, origin))
        for k, c in form.terms:
            rest = Affine(tuple(t for t in form.terms if t[0] != k), form.const)
            most = -self._least_neg(rest)              # greatest value of rest
            lo, hi = self.base_interval(k)
            if c > 0:
                lo = max(lo, -(most // c))             # c * b >= -most  ->  b >= ceil(-most / c)
            else:
                hi = min(hi, most // -c)               # -|c| * b >= -most  ->  b <= most / |c|
            old = self.bounds.get(k)
            if old is None or (lo, hi) != old[:2]:
                self.bounds[k] = (lo, hi, origin)
        self._iv.clear()
        self._af.clear()

    def _least_neg(self, form: Affine) -> int:
        return self.least(form * -1)

    def need(self, n: Node) -> Affine:
        """The payload length a read needs: ``offset + size`` (arrays: ``size`` of the elements it holds)."""
        if n.op is Op.FIELD:
            return Affine((), n.attr("offset") + n.type.nbytes)
        t: Array = n.type
        lo, hi = element_count_range(self, n)
        if t.dynamic and (lo, hi) == self.interval(n.args[0]):       # the count itself, between 0 and max
            return self.affine(n.args[0]) * t.struct.nbytes + Affine((), n.attr("offset"))
        return Affine((), n.attr("offset") + hi * t.struct.nbytes)

    def read_proven(self, n: Node) -> list[Node] | None:
        """The nodes proving the bytes ``n`` reads are present here, or None."""
        return self.proves(PAYLOAD - self.need(n))

    def learn(self, n: Node) -> None:
        """What holds after ``n`` for the packets it lets through."""
        if n.op in (Op.REJECT_IF, Op.VERDICT_IF):
            self.assume(n.args[0], False, n)
        elif n.op in (Op.FIELD, Op.ARRAY) and not n.attr("checked"):
            if n.op is Op.ARRAY and self.need(n).terms == () and n.type.dynamic:
                lo, _ = element_count_range(self, n)          # at least the fewest elements it can hold
                self.add(PAYLOAD - Affine((), n.attr("offset") + lo * n.type.struct.nbytes), n)
            else:
                self.add(PAYLOAD - self.need(n), n)
        elif n.op is Op.MAP:
            for m in n.body.walk():
                self.learn(m)


# ---- interval and affine rules, one per op kind ----------------------------------------------

def _iv_arith(f: Facts, n: Node) -> tuple[int, int]:
    t: Scalar = n.type
    (la, ha), (lb, hb) = f.interval(n.args[0]), f.interval(n.args[1])
    if n.op is Op.ADD:
        lo, hi = la + lb, ha + hb
    elif n.op is Op.SUB:
        lo, hi = la - hb, ha - lb
    else:
        corners = [la * lb, la * hb, ha * lb, ha * hb]
        lo, hi = min(corners), max(corners)
    if _fits(lo, hi, t):
        return lo, hi
    if n.attr("overflow") == "sat":
        return _clamp(lo, t.lo, t.hi), _clamp(hi, t.lo, t.hi)
    return t.lo, t.hi


def _iv_divmod(f: Facts, n: Node) -> tuple[int, int]:
    (la, ha), (lb, hb) = f.interval(n.args[0]), f.interval(n.args[1])
    if la < 0 or lb < 0:
        return _range(n.type)
    if n.op is Op.DIV:                     # x / 0 == 0
        return (la // hb if lb > 0 else 0), (ha // lb if lb > 0 else ha)
    return 0, (min(ha, hb - 1) if lb > 0 else ha)      # x % 0 == x


def _iv_bits(f: Facts, n: Node) -> tuple[int, int]:
    if n.type == BOOL:
        return _iv_logic(f, n)
    (la, ha), (lb, hb) = f.interval(n.args[0]), f.interval(n.args[1])
    if la < 0 or lb < 0:
        return _range(n.type)
    if n.op is Op.AND:
        return 0, min(ha, hb)
    top = (1 << max(ha.bit_length(), hb.bit_length())) - 1
    return (max(la, lb) if n.op is Op.OR else 0), top


def _iv_shift(f: Facts, n: Node) -> tuple[int, int]:
    t: Scalar = n.type
    (la, ha), (lb, hb) = f.interval(n.args[0]), f.interval(n.args[1])
    if la < 0 or lb != hb or lb >= t.bits:
        return _range(t)
    if n.op is Op.SHR:
        return la >> lb, ha >> lb
    return (la << lb, ha << lb) if (ha << lb) <= t.hi else _range(t)


def _iv_not(f: Facts, n: Node) -> tuple[int, int]:
    if n.type == BOOL:
        return _iv_logic(f, n)
    lo, hi = f.interval(n.args[0])
    return (-hi - 1, -lo - 1) if n.type.signed else (n.type.hi - hi, n.type.hi - lo)


def _known(v: bool | None) -> tuple[int, int]:
    return (0, 1) if v is None else (int(v), int(v))


def _iv_logic(f: Facts, n: Node) -> tuple[int, int]:
    vals = [f.holds(a) for a in n.args]
    if n.op is Op.NOT:
        return _known(None if vals[0] is None else not vals[0])
    a, b = vals
    if n.op is Op.AND:
        return _known(False if False in (a, b) else (True if a and b else None))
    if n.op is Op.OR:
        return _known(True if True in (a, b) else (False if a is False and b is False else None))
    return _known(None if None in (a, b) else a != b)


def _iv_compare(f: Facts, n: Node) -> tuple[int, int]:
    if f.knows(n, True) is not None:
        return 1, 1
    if f.knows(n, False) is not None:
        return 0, 0
    return 0, 1


def _iv_select(f: Facts, n: Node) -> tuple[int, int]:
    c = f.holds(n.args[0])
    if c is not None:
        return f.interval(n.args[1 if c else 2])
    (la, ha), (lb, hb) = f.interval(n.args[1]), f.interval(n.args[2])
    return min(la, lb), max(ha, hb)


def _iv_cast(f: Facts, n: Node) -> tuple[int, int]:
    t: Scalar = n.type
    lo, hi = f.interval(n.args[0])
    if t == BOOL:
        return (1, 1) if lo > 0 or hi < 0 else ((0, 0) if lo == hi == 0 else (0, 1))
    if not t.is_int:
        return _range(t)
    if _fits(lo, hi, t):
        return lo, hi
    if n.attr("overflow") == "sat":
        return _clamp(lo, t.lo, t.hi), _clamp(hi, t.lo, t.hi)
    return t.lo, t.hi


def _iv_lut(f: Facts, n: Node) -> tuple[int, int]:
    tab = f.pipeline.tables.get(n.attr("table"))
    if tab is None or not n.type.is_int or len(tab.values) == 0:
        return _range(n.type)
    return int(tab.values.min()), int(tab.values.max())


def _iv_bucketize(f: Facts, n: Node) -> tuple[int, int]:
    lo, hi = f.interval(n.args[0])
    bounds = n.attr("boundaries")
    return sum(b <= lo for b in bounds), sum(b <= hi for b in bounds)


INTERVAL_RULES = {
    Op.CONST: lambda f, n: (n.attr("value"), n.attr("value")),
    Op.PAYLOAD_LEN: lambda f, n: f.base_interval(PLEN),
    Op.ADD: _iv_arith, Op.SUB: _iv_arith, Op.MUL: _iv_arith, Op.DIV: _iv_divmod, Op.MOD: _iv_divmod,
    Op.AND: _iv_bits, Op.OR: _iv_bits, Op.XOR: _iv_bits, Op.SHL: _iv_shift, Op.SHR: _iv_shift,
    Op.NOT: _iv_not, **{op: _iv_compare for op in (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE)},
    Op.SELECT: _iv_select, Op.CAST: _iv_cast, Op.LUT: _iv_lut, Op.BUCKETIZE: _iv_bucketize,
    Op.STATE_UPDATE_IF: lambda f, n: (0, 1),
}


def _af_arith(f: Facts, n: Node) -> Affine | None:
    t: Scalar = n.type
    (la, ha), (lb, hb) = f.interval(n.args[0]), f.interval(n.args[1])
    a, b = f.affine(n.args[0]), f.affine(n.args[1])
    if n.op is Op.ADD and _fits(la + lb, ha + hb, t):
        return a + b
    if n.op is Op.SUB and _fits(la - hb, ha - lb, t):
        return a - b
    if n.op is Op.MUL:
        corners = [la * lb, la * hb, ha * lb, ha * hb]
        if not _fits(min(corners), max(corners), t):
            return None
        if lb == hb:
            return a * lb
        if la == ha:
            return b * la
    return None


def _af_cast(f: Facts, n: Node) -> Affine | None:
    x = n.args[0]
    if n.type == BOOL or not n.type.is_int or x.type == BOOL:
        return None
    return f.affine(x) if _fits(*f.interval(x), n.type) else None


def _af_shl(f: Facts, n: Node) -> Affine | None:
    (la, ha), (lb, hb) = f.interval(n.args[0]), f.interval(n.args[1])
    if lb != hb or lb >= n.type.bits or not _fits(la << lb if la >= 0 else la * (1 << lb), ha * (1 << lb), n.type):
        return None
    return f.affine(n.args[0]) * (1 << lb)


AFFINE_RULES = {
    Op.CONST: lambda f, n: Affine((), n.attr("value")),
    Op.ADD: _af_arith, Op.SUB: _af_arith, Op.MUL: _af_arith, Op.CAST: _af_cast, Op.SHL: _af_shl,
}

# a <op> b as inequalities (each >= 0)
COMPARE_FORMS = {
    Op.LT: lambda a, b: [(b - a).plus(-1)],
    Op.LE: lambda a, b: [b - a],
    Op.GT: lambda a, b: [(a - b).plus(-1)],
    Op.GE: lambda a, b: [a - b],
    Op.EQ: lambda a, b: [a - b, b - a],
}
NEGATE = {Op.LT: Op.GE, Op.GE: Op.LT, Op.LE: Op.GT, Op.GT: Op.LE, Op.EQ: Op.NE, Op.NE: Op.EQ}
MIRROR = {Op.LT: Op.GT, Op.GT: Op.LT, Op.LE: Op.GE, Op.GE: Op.LE, Op.EQ: Op.EQ, Op.NE: Op.NE}

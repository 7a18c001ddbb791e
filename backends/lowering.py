"""Per-target lowering choices: how each op runs on a target, chosen from a rule table, with the reason.

The IR says *what* a pipeline computes (``crc32``, ``bucketize``, ``lut``, ``map``); this pass says
*how* a C target runs it (Halide's schedule, TVM's recorded lowering). It annotates nodes with the
attributes the renderers honor (see /work/wt/notes/MIDEND.md) and records every choice and its
reason as a note on the pipeline (``nicc compile --explain`` lists them)::

    ir = choose_lowerings(ir, "xdp")
    [ (n.op.value, m.choice, m.reason) for m in ir.notes ]
    # ('crc32', 'impl=slice4', 'a 4-byte input: 4 independent loads from 4 tables ...'), ...

=========  ==========  ==============================================================================
op         attribute   values
=========  ==========  ==============================================================================
crc32      impl        ``bytewise`` (one dependent table step per byte), ``slice2/4/8`` (one table per
                       byte position, independent loads, inversions folded into the tables)
bucketize  impl        ``compares`` (sum of compares), ``clz`` (boundaries 2^a..2^b: the bit length of
                       x), ``bsearch`` (branch-free binary search over a boundary table)
lut        impl        ``load`` (one table load), ``simd`` (inside a ``simd`` map: byte permutes)
map        schedule    ``loop``, ``unroll`` (fully unrolled), ``bpf_loop`` (XDP: a callback the verifier
                       checks once), ``simd`` (DPDK: AVX-512 VBMI permutes, scalar fallback at run time)
=========  ==========  ==============================================================================

The rules are data (:data:`RULES`): per target, which implementations it has and its budgets.
Absent attributes (a pipeline lowered by nobody) make the renderers fall back to the plain
implementations, which are always correct; choices never change what a pipeline means.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..compiler.ir import Node, Op, Pipeline
from ..compiler.types import Array, Scalar

# Rough cost of one node, in instructions, for the unroll and verifier budgets (eBPF-ish).
COST = {Op.CONST: 0, Op.ELEM: 3, Op.YIELD: 2, Op.LUT: 4, Op.CRC32: 16, Op.BUCKETIZE: 20, Op.SELECT: 3,
        Op.CAST: 2, Op.FIELD: 4, Op.STATE_READ: 8}
DEFAULT_COST = 3


@dataclass(frozen=True)
class TargetRules:
    """What one C target has: implementations per op and its budgets (instructions)."""
    name: str
    crc32: dict[int, str]                  # input bytes -> impl
    bucketize_bsearch_from: int            # boundaries from which a binary search beats compares
    unroll_budget: int                     # a fixed-count loop is unrolled if trip x body cost fits
    unroll_max_trip: int                   # ... and it has at most this many elements
    loop_budget: int | None                # XDP: elements x body cost the verifier walks; beyond: bpf_loop
    simd: bool                             # byte-permute LUT maps (AVX-512 VBMI with a scalar fallback)
    walk_one_variable_loop: bool = False   # XDP: the verifier walks one variable-count loop, not several
    notes: dict[str, str] = field(default_factory=dict)   # what the target lacks, quoted in reasons


RULES: dict[str, TargetRules] = {
    "xdp": TargetRules(
        "xdp", crc32={2: "slice2", 4: "slice4", 8: "slice8"}, bucketize_bsearch_from=8,
        unroll_budget=8192, unroll_max_trip=64, loop_budget=400_000, simd=False, walk_one_variable_loop=True,
        notes={"clz": "eBPF has no clz instruction: the bit length by a 5-step branch-free binary search on "
                      "the bits",
               "loop": "the verifier walks every iteration of a bounded loop",
               "unroll": "within the verifier's budget"}),
    "dpdk": TargetRules(
        "dpdk", crc32={2: "slice2", 4: "slice4", 8: "slice8"}, bucketize_bsearch_from=16,
        unroll_budget=4096, unroll_max_trip=64, loop_budget=None, simd=True,
        notes={"clz": "__builtin_clz (lzcnt/bsr)", "loop": "a plain C loop", "unroll": "#pragma GCC unroll"}),
}


def trip_count(n: Node) -> int | None:
    """The element count of map ``n`` if it is a constant: the midend's ``trip``, or arrays whose count
    operand is a constant (the element count is then min(count, max))."""
    trip = n.attr("trip")
    if trip is not None:
        return int(trip)
    counts = set()
    for a in n.args:
        if a.op is not Op.ARRAY or a.args[0].op is not Op.CONST:
            return None
        c = a.args[0].attr("value")
        counts.add(max(0, min(c, a.type.max)))
    return counts.pop() if len(counts) == 1 else None


def pow2_run(bounds: tuple[int, ...]) -> int | None:
    """``a`` if the boundaries are 2**a, 2**(a+1), ... (consecutive powers of two), else None."""
    if not bounds or bounds[0] < 1 or bounds[0] & (bounds[0] - 1):
        return None
    a = bounds[0].bit_length() - 1
    return a if all(b == 1 << (a + i) for i, b in enumerate(bounds)) else None


def variable_loops(p: Pipeline) -> int:
    """How many loops of a variable element count the program runs: maps, the copy of a map's result
    into the emit when it is not fused, and emits of payload arrays."""
    e = p.emit()
    emitted = {id(a) for a in e.args} if e is not None else set()
    k = 0
    for n in p.body.nodes:
        if n.op is Op.MAP and trip_count(n) is None:
            k += 1 + (id(n) in emitted and n.attr("fuse") != "emit")
    if e is not None:
        k += sum(1 for a in e.args if a.op is Op.ARRAY and a.args[0].op is not Op.CONST)
    return k


def body_cost(n: Node) -> int:
    return sum(COST.get(b.op, DEFAULT_COST) for b in n.body.walk())


def simd_map_reason(p: Pipeline, n: Node) -> str | None:
    """Why map ``n`` cannot run as byte permutes, or None if it can: one packet array of u8 fields
    (at most 4 bytes an element), fused into the emit, each result a 256-entry table of one field."""
    if n.attr("fuse") != "emit":
        return "its result is not fused into the emit"
    if len(n.args) != 1 or n.args[0].op is not Op.ARRAY:
        return "it does not read one payload array"
    st = n.type.struct if isinstance(n.type, Array) else None
    src = n.args[0].type.struct
    if src.nbytes > 4 or any(t.bits != 8 or t.kind == "bool" for _, t in src.fields):
        return "its input elements are not at most 4 bytes of u8 fields"
    y = n.body.nodes[-1]
    out_bytes = 0
    for v in y.args:
        if v.op is not Op.LUT or v.args[0].op is not Op.ELEM:
            return "a result is not a table lookup of an element field"
        tab = p.tables[v.attr("table")]
        if tab.index.bits != 8 or tab.index.lo != 0 or len(tab.values) != 256 or tab.out.nbytes > 2:
            return "a table is not indexed by a byte or holds values wider than 2 bytes"
        out_bytes += tab.out.nbytes
    if st is None or out_bytes > 8:
        return "its results are wider than 8 bytes an element"
    for b in n.body.nodes:
        if b.op not in (Op.ELEM, Op.LUT, Op.YIELD):
            return f"its body computes more than table lookups ({b.op.value})"
    return None


class Chooser:
    """Applies one target's rules to a pipeline (``choose_lowerings`` is the entry point)."""

    def __init__(self, p: Pipeline, rules: TargetRules):
        self.p, self.r = p, rules

    def choose(self, n: Node, attr: str, value: str, reason: str) -> None:
        n.set_attr(attr, value)
        self.p.note(n, f"{attr}={value}", reason)

    def crc32(self, n: Node) -> None:
        nb = n.args[0].type.nbytes
        impl = self.r.crc32.get(nb)
        if impl is None:
            self.choose(n, "impl", "bytewise", "a 1-byte input is one table lookup already")
        else:
            k = int(impl[5:])
            self.choose(n, "impl", impl, f"a fixed {nb}-byte input: {k} independent loads from {k} tables "
                        f"({k} KiB), the inversions folded into them, instead of {nb} dependent table steps")

    def bucketize(self, n: Node) -> None:
        bounds = n.attr("boundaries")
        t: Scalar = n.args[0].type
        a = pow2_run(bounds)
        if a is not None and (1 << (a + len(bounds) - 1)) <= t.hi:
            how = self.r.notes["clz"]
            self.choose(n, "impl", "clz", f"the boundaries are the powers of two 2^{a}..2^{a + len(bounds) - 1}: "
                        f"the bucket is the bit length of x{'' if a == 0 else f' minus {a}'}; {how}")
        elif len(bounds) >= self.r.bucketize_bsearch_from:
            steps = max(1, len(bounds).bit_length())
            self.choose(n, "impl", "bsearch", f"{len(bounds)} boundaries: a branch-free binary search of {steps} "
                        f"steps over a table instead of {len(bounds)} compares")
        else:
            self.choose(n, "impl", "compares", f"{len(bounds)} boundaries: a sum of {len(bounds)} compares "
                        f"(fewer than {self.r.bucketize_bsearch_from}, where a binary search starts to pay)")

    def lut(self, n: Node, in_simd: bool) -> None:
        if in_simd:
            self.choose(n, "impl", "simd", "inside a simd map: 256-entry byte planes of the table looked up "
                        "64 at a time with vpermi2b")
        else:
            self.choose(n, "impl", "load", "one table load")

    def map(self, n: Node) -> str:
        r = self.r
        cost = body_cost(n)
        trip = trip_count(n)
        if r.simd:
            why = simd_map_reason(self.p, n)
            if why is None:
                self.choose(n, "schedule", "simd", "table lookups of byte fields written straight into the emit: "
                            "64 elements a step with AVX-512 VBMI byte permutes where the CPU has them (checked "
                            "at run time), else the scalar loop")
                return "simd"
        if trip is not None and trip <= r.unroll_max_trip and trip * cost <= r.unroll_budget:
            self.choose(n, "schedule", "unroll", f"{trip} elements, fixed: fully unrolled ({trip} x ~{cost} "
                        f"instructions, {r.notes['unroll']})")
            return "unroll"
        amax = n.type.max
        nvar = variable_loops(self.p)
        if trip is None and r.walk_one_variable_loop and nvar > 1:
            self.choose(n, "schedule", "bpf_loop", f"one of {nvar} loops of a variable count: the verifier walking "
                        "each would multiply their states; a bpf_loop callback is verified once")
            return "bpf_loop"
        if r.loop_budget is None or amax * cost * 2 <= r.loop_budget:
            what = f"{trip} elements" if trip is not None else f"up to {amax} elements"
            self.choose(n, "schedule", "loop", f"{what}: {r.notes['loop']}")
            return "loop"
        self.choose(n, "schedule", "bpf_loop", f"up to {amax} elements x ~{cost} instructions is more than the "
                    f"verifier walks ({r.loop_budget}): a bpf_loop callback, verified once")
        return "bpf_loop"

    def run(self) -> Pipeline:
        for n in self.p.body.nodes:
            if n.op is Op.MAP:
                sched = self.map(n)
                for b in n.body.walk():
                    self.node(b, sched == "simd")
            else:
                self.node(n, False)
        return self.p

    def node(self, n: Node, in_simd: bool) -> None:
        if n.op is Op.CRC32:
            self.crc32(n)
        elif n.op is Op.BUCKETIZE:
            self.bucketize(n)
        elif n.op is Op.LUT:
            self.lut(n, in_simd)


def choose_lowerings(p: Pipeline, target: str) -> Pipeline:
    """Annotate ``p`` (in place) with ``target``'s lowering choices and note each reason.

    Targets without rules here (bmv2, the interpreter) are returned unchanged."""
    rules = RULES.get(target)
    if rules is None:
        return p
    return Chooser(p, rules).run()


def explain(p: Pipeline) -> list[dict]:
    """The notes on ``p`` (the midend's and this pass's) as rows for ``manifest["explain"]``, which
    ``nicc compile --explain`` prints as a table: where, op, choice, reason."""
    import os
    return [dict(section="lowering", line=f"{os.path.basename(m.node.loc.file)}:{m.node.loc.line}",
                 op=m.node.op.value, choice=m.choice, reason=m.reason) for m in p.notes]

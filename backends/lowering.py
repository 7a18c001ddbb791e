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
                       checks once), ``simd`` (DPDK: AVX-512 VBMI permutes, scalar fallback at run time),
                       ``vector`` (DPDK: 16 elements a step as AVX-512 vectors, scalar fallback at run time)
scan       schedule    ``bpf_loop`` (XDP: the steps in a callback, carries in its context), ``loop``
rom        impl        ``static`` (a ``static const`` array), ``rodata`` (XDP: libbpf's frozen global data),
                       ``map`` (XDP: a read-only BPF array map of its own, filled at load time)
=========  ==========  ==============================================================================

Stream records, reads of stream arrays and the host part have one implementation per target; the
pass notes what it is (``stream=...``, ``read=...``, ``host=...``) so that ``--explain`` shows it.

The rules are data (:data:`RULES`): per target, which implementations it has and its budgets.
Absent attributes (a pipeline lowered by nobody) make the renderers fall back to the plain
implementations, which are always correct; choices never change what a pipeline means.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..compiler.ir import Node, Op, Pipeline
from ..compiler.types import Array, Scalar
from .vectorize import lane_bits, per_element, vector_map_reason

# Rough cost of one node, in instructions, for the unroll and verifier budgets (eBPF-ish).
COST = {Op.CONST: 0, Op.ELEM: 3, Op.YIELD: 2, Op.LUT: 4, Op.CRC32: 16, Op.BUCKETIZE: 20, Op.SELECT: 3,
        Op.CAST: 2, Op.FIELD: 4, Op.STATE_READ: 8, Op.GATHER: 8, Op.CARRY: 1, Op.PUT: 6, Op.ROM: 0}
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
    vector: bool = False                   # maps as 16-lane AVX-512 vectors (with a scalar fallback)
    walk_one_variable_loop: bool = False   # XDP: the verifier walks one variable-count loop, not several
    scan: str = "loop"                     # how a scan's steps run: "loop" or "bpf_loop"
    rom_map_from: int | None = None        # XDP: tables of at least this many bytes get a map of their own
    notes: dict[str, str] = field(default_factory=dict)   # what the target lacks, quoted in reasons


RULES: dict[str, TargetRules] = {
    "xdp": TargetRules(
        "xdp", crc32={2: "slice2", 4: "slice4", 8: "slice8"}, bucketize_bsearch_from=8,
        unroll_budget=8192, unroll_max_trip=64, loop_budget=400_000, simd=False, walk_one_variable_loop=True,
        scan="bpf_loop", rom_map_from=1 << 16,
        notes={"clz": "eBPF has no clz instruction: the bit length by a 5-step branch-free binary search on "
                      "the bits",
               "loop": "the verifier walks every iteration of a bounded loop",
               "unroll": "within the verifier's budget",
               "stream": "a BPF array map of {slots} records ({bytes} bytes each): one lookup per packet, the "
                         "busy word taken with a compare-and-exchange (a packet finding it taken by another CPU "
                         "passes unchanged, unhandled)",
               "host": "XDP_PASS with the frame unchanged, counted as host (outcome 7); the runtime makes its "
                       "payload with {ref}"}),
    "dpdk": TargetRules(
        "dpdk", crc32={2: "slice2", 4: "slice4", 8: "slice8"}, bucketize_bsearch_from=16,
        unroll_budget=4096, unroll_max_trip=64, loop_budget=None, simd=True, vector=True,
        notes={"clz": "__builtin_clz (lzcnt/bsr)", "loop": "a plain C loop", "unroll": "#pragma GCC unroll",
               "stream": "{slots} records ({bytes} bytes each) in the pipeline state: one address per packet, "
                         "the busy word taken with an atomic exchange (a packet finding it taken by another "
                         "lcore passes unchanged, unhandled)",
               "host": "to the host port with the frame unchanged, counted as host (outcome 7); the runtime "
                       "makes its payload with {ref}"}),
}


def trip_count(n: Node) -> int | None:
    """The element count of map ``n`` if it is a constant: the midend's ``trip``, or a first input whose
    count is a constant (an array or range of a constant count: min(count, max); a rom's length; a
    stream array's length). The element count of a map is its first input's."""
    trip = n.attr("trip")
    if trip is not None:
        return int(trip)
    return array_count(n.args[0]) if n.args else None


def array_count(a: Node) -> int | None:
    """The element count of array value ``a`` if it is a constant."""
    if a.op in (Op.ARRAY, Op.RANGE) and a.args[0].op is Op.CONST:
        return max(0, min(a.args[0].attr("value"), a.type.max))
    if a.op in (Op.ROM, Op.STREAM_READ) and not a.type.dynamic:
        return a.type.max
    if a.op is Op.MAP:
        return trip_count(a)
    return None


def read_in_place(p: Pipeline, n: Node) -> tuple[bool, Node | None]:
    """Whether stream array read ``n`` may be read from the record at each use (nothing writes its field
    from the read to its last use; a fused map uses it at the emit), and the conflicting write if not."""
    top = p.body.nodes
    pos = {id(b): k for k, b in enumerate(top)}
    emit = p.emit()
    last = pos[id(n)]
    for k, b in enumerate(top):
        inner = list(b.body.walk()) if b.body is not None else []
        if any(a is n for x in [b] + inner for a in x.args):
            at = pos[id(emit)] if b.op is Op.MAP and b.attr("fuse") == "emit" and emit is not None else k
            last = max(last, at)
    for b in top[pos[id(n)] + 1:last + 1]:
        if b.op is Op.STREAM_WRITE and b.attr("stream") == n.attr("stream") and b.attr("field") == n.attr("field"):
            return False, b
    return True, None


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
        if r.vector:
            why = vector_map_reason(self.p, n)
            if why is None:
                bits = lane_bits(n, per_element(n))
                self.choose(n, "schedule", "vector", f"unsigned arithmetic on up to {n.type.max} elements: "
                            f"{512 // bits} a step in {bits}-bit lanes as AVX-512 vectors (payload elements "
                            f"through byte permutes of a window{' of byte planes' if bits == 16 else ''}, tables "
                            "and state read contiguously) where the CPU "
                            "has them (checked at run time), else the scalar loop")
                return "vector"
            self.p.note(n, "vector=no", f"not as vectors: {why}")
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

    def scan(self, n: Node) -> None:
        mx, cost = n.attr("max"), body_cost(n)
        if self.r.scan == "bpf_loop":
            self.choose(n, "schedule", "bpf_loop", f"up to {mx} steps of ~{cost} instructions: a bpf_loop callback, "
                        "verified once whatever the count; the carries travel in its context, the output array "
                        "in the per-CPU scratch map")
        else:
            self.choose(n, "schedule", "loop", f"up to {mx} steps: a plain C loop, the carries in locals")

    def rom(self, n: Node) -> None:
        tab = self.p.tables[n.attr("table")]
        size = len(tab.values) * tab.out.nbytes
        if self.r.rom_map_from is None:
            self.choose(n, "impl", "static", f"{size} bytes: a static const array")
        elif size >= self.r.rom_map_from:
            self.choose(n, "impl", "map", f"{size} bytes: a read-only BPF array map of its own (BPF_F_RDONLY_PROG, "
                        "one value holding the table), filled and frozen when the program is loaded; .rodata stays "
                        "small")
        else:
            self.choose(n, "impl", "rodata", f"{size} bytes in .rodata (libbpf's frozen global-data map)")

    def stream(self, n: Node, seen: set[str]) -> None:
        s = self.p.streams[n.attr("stream")]
        if s.name not in seen:
            seen.add(s.name)
            size = 4 + sum(t.nbytes if isinstance(t, Scalar) else t.max * t.struct.nbytes for _, t in s.fields)
            self.p.note(n, f"stream={s.name}", self.r.notes["stream"].format(slots=s.slots, bytes=size))
        if n.op is Op.STREAM_READ and isinstance(n.type, Array):
            ok, w = read_in_place(self.p, n)
            if ok:
                self.p.note(n, "read=in_place", f"nothing writes {n.attr('field')} before its last use: its "
                            "elements are read from the record where they are used")
            else:
                self.p.note(n, "read=copy", f"the write at line {w.loc.line} comes before a use: the elements "
                            "are copied first")

    def host_if(self, n: Node) -> None:
        h = self.p.hosts[n.attr("host")]
        self.p.note(n, "host=pass", self.r.notes["host"].format(ref=h.ref))

    def run(self) -> Pipeline:
        streams: set[str] = set()
        for n in self.p.body.nodes:
            if n.op is Op.MAP:
                sched = self.map(n)
                for b in n.body.walk():
                    self.node(b, sched == "simd", streams)
            else:
                self.node(n, False, streams)
                if n.op is Op.SCAN:
                    for b in n.body.walk():
                        self.node(b, False, streams)
        return self.p

    def node(self, n: Node, in_simd: bool, streams: set[str]) -> None:
        rule = {Op.CRC32: lambda: self.crc32(n), Op.BUCKETIZE: lambda: self.bucketize(n),
                Op.LUT: lambda: self.lut(n, in_simd), Op.SCAN: lambda: self.scan(n), Op.ROM: lambda: self.rom(n),
                Op.STREAM_READ: lambda: self.stream(n, streams), Op.STREAM_WRITE: lambda: self.stream(n, streams),
                Op.HOST_IF: lambda: self.host_if(n)}.get(n.op)
        if rule is not None:
            rule()


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

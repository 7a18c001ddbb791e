"""The per-target lowering choices (nicc.backends.lowering), the in-place emit planner
(nicc.backends.c.emitplan) and the SIMD map kernel's index vectors (nicc.backends.dpdk.simd),
all in pure Python."""
import copy
import os
import random

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.backends.c.emitplan import Piece, direction, plan_in_place
from nicc.backends.dpdk import simd
from nicc.backends.lowering import RULES, choose_lowerings, explain, pow2_run, trip_count, variable_loops
from nicc.compiler.interp import Reference
from nicc.compiler.ir import Op
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.runtime.packets import generate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


MIDEND_FACTS = ("checked", "fuse", "trip")


def example(name):
    """An example without the midend's facts (the rules are tested on their own; facts added where said)."""
    ir = run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())
    for n in ir.body.walk():
        for a in MIDEND_FACTS:
            n.set_attr(a, None)
    ir.notes = []
    return ir


def nodes(ir, op):
    return [n for n in ir.body.walk() if n.op is op]


# -- choose_lowerings ------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["xdp", "dpdk"])
def test_criteo_choices_and_reasons(target):
    ir = choose_lowerings(example("criteo"), target)
    (crc,) = nodes(ir, Op.CRC32)
    (bkt,) = nodes(ir, Op.BUCKETIZE)
    assert crc.attr("impl") == "slice4" and bkt.attr("impl") == "clz"
    assert [m.attr("schedule") for m in nodes(ir, Op.MAP)] == ["unroll", "unroll"]
    rows = {(r["op"], r["choice"]): r["reason"] for r in explain(ir)}
    assert "4 independent loads" in rows[("crc32", "impl=slice4")]
    assert "2^0..2^31" in rows[("bucketize", "impl=clz")]
    assert ("eBPF has no clz" in rows[("bucketize", "impl=clz")]) == (target == "xdp")
    assert "13 elements, fixed" in rows[("map", "schedule=unroll")] or "26 elements" in rows[("map", "schedule=unroll")]
    assert all(r["line"] in ("criteo.py:23", "criteo.py:24") for r in explain(ir))


def test_targets_without_rules_are_unchanged():
    ir = example("criteo")
    before = str(ir)
    assert str(choose_lowerings(ir, "bmv2")) == before and not ir.notes


def test_choices_print_parse_and_keep_meaning():
    """The attributes are plain IR attributes: the text form round-trips, the interpreter ignores them."""
    for name in ("criteo", "normalize", "dedup"):
        base = example(name)
        low = choose_lowerings(copy.deepcopy(base), "xdp")
        text = str(low)
        assert "impl=" in text or name == "dedup"
        assert str(verify(parse_pipeline(text))) == text
        frames = generate(base, 300, seed=3)
        assert [(r.verdict, r.reason, r.frames) for r in Reference(base).run(frames)] == \
               [(r.verdict, r.reason, r.frames) for r in Reference(low).run(frames)]


def pipeline_text(body: str, tables: str = "") -> str:
    lines = ["pipeline t port 9000 {  # t.nir:1"] + ([tables] if tables else [])
    lines += [f"  {ln.strip()}  # t.nir:{k + 2}" if not ln.strip().startswith("}") else "  }"
              for k, ln in enumerate(body.strip().splitlines())]
    return "\n".join(lines + ["}"]) + "\n"


def bucketize_ir(bounds, t="u32"):
    return verify(parse_pipeline(pipeline_text(f"""
        %0:{t} = field[name=x, offset=0, endian=be]
        %1:u8 = bucketize[boundaries=({", ".join(map(str, bounds))})] %0
        emit[endian=(be)] %1
        verdict[verdict=pass, group=none]""")))


@pytest.mark.parametrize("bounds,t,impl", [
    ((1, 2, 4, 8), "u32", "clz"),
    (tuple(1 << k for k in range(3, 11)), "u16", "clz"),       # 2^3..2^10: bit length minus 3, clamped
    ((1, 2, 4, 8, 16, 32, 64), "i8", "clz"),                     # negatives land in bucket 0
    ((-5, 0, 5), "i16", "compares"),
    ((3, 9, 27), "u32", "compares"),
    (tuple(range(0, 1000, 37)), "u32", "bsearch"),
])
def test_bucketize_rules(bounds, t, impl):
    ir = choose_lowerings(bucketize_ir(bounds, t), "xdp")
    assert nodes(ir, Op.BUCKETIZE)[0].attr("impl") == impl


def test_pow2_run():
    assert pow2_run((1, 2, 4)) == 0 and pow2_run((8, 16)) == 3
    assert pow2_run((1, 3)) is None and pow2_run((0, 1)) is None and pow2_run(()) is None


def crc_ir(t):
    return verify(parse_pipeline(pipeline_text(f"""
        %0:{t} = field[name=x, offset=0, endian=be]
        %1:u32 = crc32 %0
        emit[endian=(be)] %1
        verdict[verdict=pass, group=none]""")))


@pytest.mark.parametrize("t,impl", [("u8", "bytewise"), ("u16", "slice2"), ("u32", "slice4"), ("u64", "slice8")])
def test_crc32_rules(t, impl):
    for target in RULES:
        assert nodes(choose_lowerings(crc_ir(t), target), Op.CRC32)[0].attr("impl") == impl


def test_trip_counts():
    crit = example("criteo")
    assert [trip_count(m) for m in nodes(crit, Op.MAP)] == [13, 26]
    norm = example("normalize")
    assert [trip_count(m) for m in nodes(norm, Op.MAP)] == [None]
    m = nodes(norm, Op.MAP)[0]
    m.set_attr("trip", 7)                        # the midend's fact wins
    assert trip_count(m) == 7


def test_xdp_walks_one_variable_loop_at_most():
    """Two loops of variable count (a map and the copy of its result) would multiply the verifier's
    states: on XDP the map becomes a bpf_loop callback; a map fused into the emit is one loop."""
    norm = example("normalize")
    assert variable_loops(norm) == 2
    assert nodes(choose_lowerings(copy.deepcopy(norm), "xdp"), Op.MAP)[0].attr("schedule") == "bpf_loop"
    assert nodes(choose_lowerings(copy.deepcopy(norm), "dpdk"), Op.MAP)[0].attr("schedule") == "loop"
    fused = copy.deepcopy(norm)
    nodes(fused, Op.MAP)[0].set_attr("fuse", "emit")
    assert variable_loops(fused) == 1
    assert nodes(choose_lowerings(copy.deepcopy(fused), "xdp"), Op.MAP)[0].attr("schedule") == "loop"
    low = choose_lowerings(fused, "dpdk")
    assert nodes(low, Op.MAP)[0].attr("schedule") == "simd"
    assert {n.attr("impl") for n in nodes(low, Op.LUT)} == {"simd"}


# -- the in-place emit planner ----------------------------------------------------------------------
def test_plan_criteo_shrinks_front_to_back():
    pieces = [Piece(0, 0, 1, 1), Piece(1, 1, 1, 13, [(1, 4)]), Piece(2, 14, 4, 26, [(53, 4)])]
    plan = plan_in_place(pieces)
    assert [(p.index, d) for p, d in plan] == [(0, "forward"), (1, "forward"), (2, "forward")]


def test_plan_orders_pieces_that_read_what_others_write():
    # hashes written first over the dense values: the buckets must be computed before
    pieces = [Piece(0, 0, 4, 26, [(53, 4)]), Piece(1, 157, 1, 13, [(1, 4)])]
    plan = plan_in_place(pieces)
    assert [p.index for p, _ in plan] == [1, 0]


def test_plan_growth_is_back_to_front():
    px = Piece(4, 10, 6, 240, [(10, 3)])
    assert direction(px) == "backward"
    assert direction(Piece(0, 10, 6, 240, [(10, 3)], block=64)) == "backward"
    assert direction(Piece(0, 0, 2, 100, [(1, 3)])) == "forward"


def test_plan_refuses_what_no_order_allows():
    # one array read ahead of the writes, one behind them: neither direction is safe
    assert direction(Piece(0, 0, 4, 10, [(4, 4), (0, 2)])) is None
    # two pieces that each write what the other reads: no order works
    swap = [Piece(0, 0, 4, 4, [(16, 4)]), Piece(1, 16, 4, 4, [(0, 4)])]
    assert plan_in_place(swap) is None


def test_plan_is_safe_by_simulation():
    """Random layouts: executing a returned plan element by element never reads a clobbered byte."""
    rng = random.Random(5)
    for _ in range(300):
        pieces, off = [], 0
        for k in range(rng.randint(1, 3)):
            size, n = rng.randint(1, 6), rng.randint(1, 12)
            reads = [(rng.randint(0, 60), rng.randint(1, 6))] if rng.random() < 0.8 else []
            pieces.append(Piece(k, off, size, n, reads, block=rng.choice([1, 1, 4])))
            off += size * n
        plan = plan_in_place(pieces)
        if plan is None:
            continue
        clobbered = np.zeros(400, bool)
        for p, d in plan:
            blocks = range(-(-p.count // p.block))
            for b in (reversed(blocks) if d == "backward" else blocks):
                elems = range(b * p.block, min(p.count, (b + 1) * p.block))
                for i in elems:
                    for roff, rsz in p.reads:
                        assert not clobbered[roff + i * rsz: roff + (i + 1) * rsz].any(), (pieces, plan)
                for i in elems:
                    clobbered[p.out_off + i * p.out_size: p.out_off + (i + 1) * p.out_size] = True
            # later pieces must not read what this one wrote: checked when they read


# -- the simd kernel's index vectors -----------------------------------------------------------------
def reference_map(k: simd.Kernel, data: bytes, n: int) -> bytes:
    out = bytearray(n * k.out_size)
    for e in range(n):
        for lk in k.lookups:
            v = lk.table[data[e * k.in_size + lk.in_off]]
            b = v.to_bytes(lk.out_bytes, "little" if lk.endian == "le" else "big")
            out[e * k.out_size + lk.out_off: e * k.out_size + lk.out_off + lk.out_bytes] = b
    return bytes(out)


@pytest.mark.parametrize("seed", range(12))
def test_simd_kernel_simulation_matches_the_map(seed):
    rng = random.Random(seed)
    in_size = rng.randint(1, 4)
    lookups, off = [], 0
    while off < 8 and (not lookups or rng.random() < 0.7):
        ob = rng.choice([1, 2]) if off < 7 else 1
        table = tuple(rng.randrange(1 << (8 * ob)) for _ in range(256))
        lookups.append(simd.Lookup(rng.randrange(in_size), table, off, ob, rng.choice(["le", "be"])))
        off += ob
    k = simd.Kernel("k", in_size, off, tuple(lookups))
    for n in (0, 1, 63, 64, 65, 130, rng.randint(1, 300)):
        data = bytes(rng.randrange(256) for _ in range(n * in_size))
        assert simd.simulate(k, data, n) == reference_map(k, data, n), (k.in_size, k.out_size, n)


def test_simd_kernel_c_is_rendered():
    t = tuple(range(256))
    k = simd.Kernel("norm", 3, 6, (simd.Lookup(0, t, 0, 2, "le"), simd.Lookup(1, t, 2, 2, "le"),
                                   simd.Lookup(2, t, 4, 2, "le")))
    code, fn = simd.render(k)
    assert fn == "norm_vbmi" and f'target("{simd.TARGET}")' in code
    assert code.count("_mm512_mask_storeu_epi8") == 6 and code.count("nicc_lut256(") == 6

"""The batched interpreter against a plain packet-by-packet evaluator (tests/scalar_eval.py):
random pipelines with and without state, overflow edges, every state plan, batch sizes
that split a capture anywhere, and the vectorized framing against the scalar rules."""
import random
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import nicc.dsl as nd
from nicc.compiler import framing
from nicc.compiler.errors import SourceLoc
from nicc.compiler.interp import Reference, counters
from nicc.compiler.interp_state import plan_state, rounds, update_if, write
from nicc.compiler.parser import parse_pipeline
from nicc.dsl.pipeline import PipelineDef
from nicc.runtime.packets import generate, udp_frame
from tests.scalar_eval import CMP, ScalarReference
from tests.strategies import frames_for, pipelines, random_frames, state_pipelines

SLOW = dict(deadline=None, suppress_health_check=list(HealthCheck))


def key(results):
    return [(r.verdict, r.reason, r.frames) for r in results]


def same_as_oracle(p, frames, timestamps=None, batches=(1, 5, 16384)):
    want = key(ScalarReference(p).run(frames, timestamps))
    for b in batches:
        got = key(Reference(p).run(frames, timestamps, batch=b))
        for i, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"batch={b} frame {i} ({plan_state(p).mode}): {frames[i].hex()}"
        assert len(got) == len(want)


@settings(max_examples=25, **SLOW)
@given(pipelines(), st.integers(0, 2**32 - 1))
def test_random_pipelines_equal_the_scalar_oracle(p, seed):
    same_as_oracle(p, frames_for(p, 60, seed))


@settings(max_examples=40, **SLOW)
@given(state_pipelines(), st.integers(0, 2**32 - 1))
def test_random_state_pipelines_equal_the_scalar_oracle(p, seed):
    same_as_oracle(p, frames_for(p, 80, seed))


@pytest.mark.slow
@settings(max_examples=400, **SLOW)
@given(st.one_of(pipelines(), state_pipelines()), st.integers(0, 2**32 - 1))
def test_many_random_pipelines_equal_the_scalar_oracle(p, seed):
    same_as_oracle(p, frames_for(p, 300, seed))


@settings(max_examples=20, **SLOW)
@given(state_pipelines())
def test_batched_equals_one_by_one_with_state(p):
    frames = frames_for(p, 50, 5)
    ref = Reference(p)
    one = [r for f in frames for r in ref.run([f])]
    assert key(Reference(p).run(frames)) == key(one)


# ---- each state plan, on traffic where keys collide ----------------------------------------

class Msg(nd.Record):
    a = nd.u32
    b = nd.u16
    tail = nd.rest


def trace(fn, port=7000):
    return PipelineDef(fn, port, Msg, fn.__name__, SourceLoc(__file__, 1)).trace()


def colliding_frames(p, n, seed, keys=6):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pl = struct.pack("!IH", int(rng.integers(0, keys)) * int(rng.choice([1, 1, 1, 2**20])),
                         int(rng.integers(0, 2**16)))
        out.append(bytes(udp_frame(pl + rng.bytes(int(rng.integers(0, 4))), p.port, rng)))
    return out


def by_op(rec):          # two arrays, one node each
    hits = nd.state("hits", nd.u32, size=4)
    last = nd.state("last", nd.u16, size=8)
    fresh = hits.update_if(rec.a & 3, rec.a, "ge")
    nd.drop_if(~fresh & (rec.b > 30000))
    last.write(rec.a.cast(nd.u8), rec.b, when=rec.b != 7)
    return nd.to_host(rec.a, fresh.cast(nd.u8))


def rounds_(rec):        # read, modify, write one slot: a counter per key
    count = nd.state("count", nd.u16, size=5)
    k = (rec.a % 5).cast(nd.u8)
    c = count[k] + 1
    count[k] = c
    nd.drop_if(c == 3)
    return nd.to_host(c)


def rounds_all_out(rec):  # the same, every packet rewritten
    count = nd.state("count", nd.u16, size=5)
    k = (rec.a % 5).cast(nd.u8)
    count[k] = count[k] + 1
    return nd.to_host(count[k], rec.b)


def by_packet(rec):      # the next index comes out of state
    nxt = nd.state("nxt", nd.u8, size=8)
    k = nxt[(rec.a & 7).cast(nd.u8)]
    nxt.write(k & 7, (rec.b & 255).cast(nd.u8))
    nxt.write((rec.a & 7).cast(nd.u8), k + 1)
    return nd.to_host(k)


@pytest.mark.parametrize("fn,mode", [(by_op, "by_op"), (rounds_, "rounds"), (rounds_all_out, "rounds"),
                                     (by_packet, "by_packet")], ids=["by_op", "rounds", "rounds_all_out", "by_packet"])
def test_each_state_plan_is_exact(fn, mode):
    p = trace(fn)
    assert plan_state(p).mode == mode
    same_as_oracle(p, colliding_frames(p, 600, 1), batches=(1, 7, 64, 16384))


def test_dedup_runs_by_op_and_the_stateless_examples_in_one_batch():
    load = lambda name: nd.load(f"examples/{name}.py").trace()
    assert plan_state(load("dedup")).mode == "by_op"
    assert plan_state(load("criteo")).mode == plan_state(load("normalize")).mode == "stateless"


TIMESTAMP_IR = """pipeline t port 7001 {  # t.nir:1
  state @seen : u64[3] = 5  # t.nir:2
  %0:u16 = payload_len  # t.nir:3
  %1:u16 = const[value=2]  # t.nir:3
  %2:bool = lt %0, %1  # t.nir:3
  reject_if %2  # t.nir:3
  %3:u16 = field[name=k, offset=0, endian=le]  # t.nir:4
  %4:u64 = timestamp  # t.nir:5
  %5:u16 = const[value=3]  # t.nir:6
  %6:u16 = mod %3, %5  # t.nir:6
  %7:u64 = state_read[state=seen] %6  # t.nir:6
  %8:u64 = sub[overflow=sat] %4, %7  # t.nir:7
  %9:u64 = const[value=1000]  # t.nir:7
  %10:bool = lt %8, %9  # t.nir:7
  verdict_if[verdict=drop, group=none] %10  # t.nir:7
  %11:bool = const[value=1]  # t.nir:8
  state_write[state=seen] %6, %4, %11  # t.nir:8
  emit[endian=(le)] %8  # t.nir:9
  verdict[verdict=transmit, group=none]  # t.nir:10
}
"""


def test_timestamps_and_initial_state():
    p = parse_pipeline(TIMESTAMP_IR)
    assert plan_state(p).mode == "rounds"
    rng = np.random.default_rng(3)
    frames = [bytes(udp_frame(rng.bytes(int(rng.integers(0, 4))), 7001, rng)) for _ in range(500)]
    ts = np.cumsum(rng.integers(0, 700, 500)).tolist()
    ts[7] = 2**64 - 1
    same_as_oracle(p, frames, ts)


# ---- the state kernels against a loop ---------------------------------------------------------

INT_DTYPES = [np.uint8, np.int8, np.uint64, np.int64, np.uint32]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(INT_DTYPES), st.sampled_from(list(CMP) + ["always"]), st.integers(1, 6),
       st.lists(st.tuples(st.integers(0, 5), st.integers(-2**63, 2**64 - 1)), max_size=40), st.randoms())
def test_update_if_kernel_is_sequential(dtype, cmp, size, ops, rnd):
    info = np.iinfo(dtype)
    fit = lambda v: info.min + v % (int(info.max) - int(info.min) + 1)
    edges = [int(info.min), int(info.max), 0, 1]
    arr = np.array([rnd.choice(edges + [fit(rnd.getrandbits(64))]) for _ in range(size)], dtype=dtype)
    slots = np.array([s % size for s, _ in ops], dtype=np.intp)
    vals = np.array([fit(v) if rnd.random() < .7 else rnd.choice(edges) for _, v in ops], dtype=dtype)
    want_arr, want_hit = [int(x) for x in arr], []
    for s, v in zip(slots.tolist(), vals.tolist()):
        hit = cmp == "always" or CMP[cmp](v, want_arr[s])
        want_hit.append(hit)
        if hit:
            want_arr[s] = v
    hit = update_if(arr, slots, vals, cmp)
    assert hit.tolist() == want_hit and arr.tolist() == want_arr


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 255)), max_size=30))
def test_write_kernel_last_wins(ops):
    arr = np.zeros(5, np.uint8)
    write(arr, np.array([s for s, _ in ops], np.intp), np.array([v for _, v in ops], np.uint8))
    want = [0] * 5
    for s, v in ops:
        want[s] = v
    assert arr.tolist() == want


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=3), min_size=1, max_size=40))
def test_rounds_touch_disjoint_slots_in_order(touch):
    p = trace(rounds_)
    B, width = len(touch), max(len(t) for t in touch) or 1
    idx = np.full((B, width), 99, np.uint8)          # 99: out of range, touches nothing
    for b, t in enumerate(touch):
        idx[b, :len(t)] = t
    node = next(n for n in p.body.walk() if n.op.value == "state_read")
    rs = rounds(p, [(node, idx)], B)
    assert sorted(np.concatenate(rs).tolist()) == list(range(B))
    when = {b: k for k, r in enumerate(rs) for b in r.tolist()}
    for r in rs:
        slots = [s for b in r.tolist() for s in set(touch[b]) if s < 5]
        assert len(slots) == len(set(slots)) and list(r) == sorted(r)
    for a in range(B):
        for b in range(a + 1, B):
            if {s for s in touch[a] if s < 5} & {s for s in touch[b] if s < 5}:
                assert when[a] < when[b]


# ---- framing, vectorized against the scalar rules ---------------------------------------------

@settings(max_examples=12, **SLOW)
@given(state_pipelines(), st.integers(0, 2**32 - 1))
def test_vectorized_selection_and_rewrite_match_the_scalar_rules(p, seed):
    frames = generate(p, 100, seed) + [b"", b"\x00" * 41]
    buf, starts, lengths = framing.pack(frames)
    got = framing.select(buf, starts, lengths, p.port)
    assert got.tolist() == [-1 if (n := framing.udp_payload_len(f, p.port)) is None else n for f in frames]
    sel = [f for f, n in zip(frames, got) if n >= 0]
    if sel:
        rnd = random.Random(seed)
        news = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 60))) for _ in sel]
        hdr = np.array([list(f[:42]) for f in sel], np.uint8)
        framing.rewrite_headers(hdr, np.array([len(x) for x in news], np.int64))
        assert [bytes(h) + x for h, x in zip(hdr, news)] == [framing.rewrite(f, x) for f, x in zip(sel, news)]


def test_columnar_outcomes_agree_with_results():
    p = trace(by_op)
    frames = colliding_frames(p, 300, 2) + random_frames(p, 50, 2)
    out = Reference(p).run_columnar(frames)
    res = Reference(p).run(frames)
    assert out.counters() == counters(res)
    assert [out.frame(i) for i in range(len(frames))] == [r.frames[0] if r.frames else out.frame(i)
                                                          for i, r in enumerate(res)]
    assert key(out.results()) == key(res)


def test_frames_may_be_bytearrays_and_memoryviews():
    p = trace(rounds_)
    frames = colliding_frames(p, 40, 4)
    mixed = [bytearray(f) if i % 3 == 0 else memoryview(f) if i % 3 == 1 else f for i, f in enumerate(frames)]
    got = Reference(p).run(mixed)
    assert key(got) == key(Reference(p).run(frames))
    assert all(type(f) is bytes for r in got for f in r.frames)

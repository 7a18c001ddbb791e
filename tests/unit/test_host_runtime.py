"""The host runtime (nicc.runtime.host) on capture files and lists: every delivered value equals the
reference interpreter's output bytes decoded independently (tests/hostref.py), and E1/E2 equal torch,
numpy and zlib directly; counters add up; batching by count and capture time; shards; a paced
replay with a slow consumer loses frames only where they are counted; DataLoader with 0 and 2 workers."""
import importlib.util
import os
import struct
import time
import types
import zlib

import numpy as np
import pytest
import torch

import nicc.dsl as nd
from nicc.compiler.contract import CODES, OUTCOMES
from nicc.compiler.interp import Reference
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.runtime import pcap
from nicc.runtime.host import (FrameBatch, HostProgram, HostRuntime, ListSource, PcapSource, check_counters,
                               columns, concat)
from nicc.runtime.packets import generate, udp_frame
from tests.hostref import assert_rows_match, expected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def example(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def all_ops():
    spec = importlib.util.spec_from_file_location("all_ops", os.path.join(ROOT, "tests", "targets", "all_ops.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return verify(parse_pipeline(m.ops_text(), "ops.nir"))


def capture(tmp_path, frames, step_ns=1000, name="in.pcap"):
    path = str(tmp_path / name)
    ts = [1_700_000_000_000_000_000 + i * step_ns for i in range(len(frames))]
    pcap.write_pcap(path, [pcap.Packet(f, t) for f, t in zip(frames, ts)])
    return path, [t // 1000 * 1000 for t in ts]        # microsecond pcap


def run_all(rt):
    batches = list(rt)
    assert batches, "no batches"
    return concat(batches)


def check_against_reference(ir, frames, ts, hb, rt, unemitted=lambda f: False):
    assert_rows_match(ir, hb, expected(ir, frames, ts, unemitted), rt.columns)
    res = Reference(ir).run(frames, ts)
    c = rt.counters
    assert check_counters(c) == []
    for o in OUTCOMES:
        assert c[o] == sum(r.outcome == o for r in res), o
    assert c["rx"] == c["arrived"] == len(frames) and c["lost"] == 0
    assert list(hb.verdict) == [CODES[res[i].outcome] for i in hb.index]
    assert np.array_equal(hb.ts_ns, np.array(ts, dtype=np.uint64)[hb.index])


@pytest.mark.parametrize("name,batch", [("criteo", 4096), ("criteo", 7), ("normalize", 4096), ("normalize", 13),
                                        ("dedup", 4096), ("dedup", 5)])
def test_pcap_equals_reference(tmp_path, name, batch):
    ir = example(name)
    frames = generate(ir, 1500, seed=11)
    path, ts = capture(tmp_path, frames)
    rt = HostRuntime(ir, PcapSource(path), batch=batch)
    hb = run_all(rt)
    assert rt.counters["batches"] == -(-len(frames) // batch)
    check_against_reference(ir, frames, ts, hb, rt)


def test_every_op_kind_stateful_and_transmit(tmp_path):
    ir = all_ops()
    frames = generate(ir, 800, seed=5)
    path, ts = capture(tmp_path, frames, step_ns=1_000_003)
    rt = HostRuntime(ir, PcapSource(path), batch=64)
    hb = run_all(rt)
    assert rt.counters["rows"] > 50 and rt.counters["transmit"] > 0
    check_against_reference(ir, frames, ts, hb, rt)


class Small(nd.Record):
    a = nd.u8
    b = nd.u16


@nd.pipeline(port=9301)
def early_exit(rec: Small):
    nd.pass_if(rec.a == 1)                 # leaves before the emit: unchanged, not a row
    nd.drop_if(rec.a == 2)
    return nd.to_host(rec.b, rec.a, rec.b)


class P(nd.Struct):
    x = nd.u8
    y = nd.i16


class Mixed(nd.Record):
    n = nd.u8
    ps = nd.array(P, count="n", max=4)


@nd.pipeline(port=9302)
def mixed(rec: Mixed):
    out = rec.ps.map(lambda p: {"x": p.x, "y": p.y})
    return nd.to_host(rec.n, nd.le(out))


def small_frames(port, payloads, seed=0):
    rng = np.random.default_rng(seed)
    return [bytes(udp_frame(p, port, rng)) for p in payloads]


def test_unemitted_frames_are_counted_not_rows():
    frames = small_frames(9301, [bytes([a % 4]) + struct.pack("!H", a * 7) for a in range(200)])
    rt = HostRuntime(early_exit, ListSource(frames), batch=50)
    hb = run_all(rt)
    assert [c.name for c in rt.columns] == ["b", "a", "b_2"]
    assert rt.counters["unemitted"] == 50 and rt.counters["drop"] == 50 and rt.counters["rows"] == 100
    check_against_reference(rt.ir, frames, [0] * len(frames), hb, rt, unemitted=lambda f: f[42] == 1)


def test_struct_arrays_of_mixed_types_split_per_field():
    rng = np.random.default_rng(1)
    pls = []
    for k in range(300):
        n = k % 6                                   # 5 is over the bound: malformed
        pls.append(bytes([n]) + rng.bytes(3 * n))
    frames = small_frames(9302, pls)
    rt = HostRuntime(mixed, ListSource(frames), batch=128, names=["count", "pts"])
    hb = run_all(rt)
    assert [(c.name, str(c.dtype), c.shape) for c in rt.columns] == [
        ("count", "uint8", ()), ("pts.x", "uint8", (4,)), ("pts.y", "int16", (4,))]
    assert set(hb.values) == {"count", "pts.x", "pts.y", "pts_count"}
    check_against_reference(rt.ir, frames, [0] * len(frames), hb, rt)
    with pytest.raises(ValueError, match="names"):
        columns(rt.ir, ["one"])


def e2_full_payloads(n, seed=0):
    r = np.random.default_rng(seed)
    label = r.integers(0, 2, n, dtype=np.uint8)
    dense = (r.integers(0, 1 << 32, (n, 13), dtype=np.uint64) >> r.integers(0, 32, (n, 13)).astype(np.uint64))
    dense = dense.astype(np.uint32)
    cats = r.integers(0, 1 << 32, (n, 26), dtype=np.uint64).astype(np.uint32)
    pls = [bytes([label[i]]) + dense[i].astype(">u4").tobytes() + cats[i].astype(">u4").tobytes() for i in range(n)]
    return pls, label, dense, cats


def test_e2_values_equal_numpy_and_zlib():
    """E2's tensors against the libraries themselves: numpy's searchsorted and zlib's crc32."""
    pls, label, dense, cats = e2_full_payloads(3000, seed=2)
    frames = small_frames(9002, pls)
    rt = HostRuntime(os.path.join(ROOT, "examples", "criteo.py"), ListSource(frames), batch=1000)
    t = concat(list(rt)).tensors()
    assert t["label"].dtype == torch.uint8 and t["cats"].dtype == torch.int64     # u32 widened for torch
    bounds = np.array([1 << i for i in range(32)], dtype=np.uint64)
    assert np.array_equal(t["label"].numpy(), label)
    assert np.array_equal(t["dense"].numpy(), np.searchsorted(bounds, dense.astype(np.uint64), side="right"))
    crc = np.array([[zlib.crc32(int(x).to_bytes(4, "big")) & 0xFFFFF for x in row] for row in cats])
    assert np.array_equal(t["cats"].numpy(), crc)


def test_e1_values_equal_torch():
    """E1's float16 tensors against torch's own normalization, bit for bit."""
    r = np.random.default_rng(3)
    counts = [240, 0, 1, 17, 240, 100] * 20
    pix = [r.integers(0, 256, (c, 3), dtype=np.uint8) for c in counts]
    pls = [struct.pack("!IHHH", i, i % 7, 0, c) + p.tobytes() for i, (c, p) in enumerate(zip(counts, pix))]
    rt = HostRuntime(os.path.join(ROOT, "examples", "normalize.py"), ListSource(small_frames(9001, pls)), batch=50)
    t = concat(list(rt)).tensors()
    assert t["pixels"].dtype == torch.float16 and t["pixels"].shape == (len(counts), 240, 3)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    for i, (c, p) in enumerate(zip(counts, pix)):
        want = torch.from_numpy(p).float().div(255).sub(mean).div(std).half()
        assert int(t["pixels_count"][i]) == c
        assert torch.equal(t["pixels"][i, :c].view(torch.int16), want.view(torch.int16))
        assert not t["pixels"][i, c:].view(torch.int16).any()


def test_batches_close_by_capture_time(tmp_path):
    ir = example("criteo")
    pls = e2_full_payloads(40, seed=4)[0]
    frames = small_frames(9002, pls)
    path, _ = capture(tmp_path, frames, step_ns=1_000_000)           # one frame per millisecond
    sizes = [b.counters["rx"] for b in HostRuntime(ir, PcapSource(path), batch=3, batch_time=0.0035)]
    assert sizes == [3] * 13 + [1]                                   # the count closes them first
    sizes = [b.counters["rx"] for b in HostRuntime(ir, PcapSource(path), batch=5, batch_time=0.0035)]
    assert sizes == [4] * 10                                         # the 3.5 ms window closes them first


def test_shards_interleave_to_the_whole(tmp_path):
    ir = example("criteo")
    frames = generate(ir, 1000, seed=8)
    path, _ = capture(tmp_path, frames)
    whole = [b.index.tolist() for b in HostRuntime(ir, PcapSource(path), batch=64)]
    shards = [[b.index.tolist() for b in HostRuntime(ir, PcapSource(path), batch=64, shard=s, nshards=3)]
              for s in range(3)]
    merged = [shards[k % 3][k // 3] for k in range(sum(map(len, shards)))]
    assert merged == whole


def test_stream_keys(tmp_path):
    ir = example("normalize")
    frames = generate(ir, 600, seed=9)
    hb = concat(list(HostRuntime(ir, ListSource(frames), stream="image_id")))
    assert np.array_equal(hb.stream, hb.values["image_id"])
    hb = concat(list(HostRuntime(ir, ListSource(frames), stream="flow")))
    want = [int.from_bytes(frames[i][26:30], "big") << 32 | int.from_bytes(frames[i][34:38], "big")
            for i in hb.index]
    assert hb.stream.tolist() == want
    with pytest.raises(nd.NiccError, match="stream key 'nope'"):
        HostRuntime(ir, ListSource(frames), stream="nope")


def test_truncated_capture_is_unhandled():
    ir = example("criteo")
    pls = e2_full_payloads(10, seed=5)[0]
    frames = small_frames(9002, pls)
    prog = HostProgram(ir)
    fb = FrameBatch.of([f[:100] for f in frames])
    fb.truncated = np.array([i % 2 == 0 for i in range(10)])
    hb = prog.process(fb)
    assert hb.counters["unhandled"] == 5 and len(hb) == 0
    assert hb.counters["unselected"] == 5            # cut frames whose UDP length lies: not selected


@pytest.mark.parametrize("prefetch", [0, 2])
def test_slow_consumer_loses_frames_counted(tmp_path, prefetch):
    """A paced replay stands for a line: frames arrive on time into a 128-frame ring whether or not the
    consumer keeps up; those that find it full are lost and counted, and every frame that did arrive is
    exactly the reference's."""
    ir = example("criteo")
    pls = e2_full_payloads(3000, seed=6)[0]                          # every frame becomes a row
    frames = small_frames(9002, pls)
    path, ts = capture(tmp_path, frames)
    rt = HostRuntime(ir, PcapSource(path, rate=30000, ring=128), batch=64, prefetch=prefetch)
    got = []
    for hb in rt:
        got.append(hb)
        time.sleep(0.01)                                             # the slow consumer: ~6,400 frames/s
    c = rt.counters
    assert check_counters(c) == []
    assert c["arrived"] == len(frames) and c["lost"] > 0 and c["rx"] == c["rows"] == len(frames) - c["lost"]
    hb = concat(got)
    assert np.all(np.diff(hb.index) > 0)
    want = expected(ir, frames, ts)
    keep = set(hb.index.tolist())
    assert_rows_match(ir, hb, [w for w in want if w[0] in keep], rt.columns)


def test_replay_at_capture_spacing(tmp_path):
    ir = example("criteo")
    frames = generate(ir, 300, seed=15)
    path, ts = capture(tmp_path, frames, step_ns=1_000_000)           # 1 ms apart: 0.3 s of capture
    t0 = time.monotonic()
    rt = HostRuntime(ir, PcapSource(path, rate="capture", speed=10, ring=1000), batch=64)
    hb = concat(list(rt))
    assert time.monotonic() - t0 >= 0.029                            # replayed 10x faster, not at once
    check_against_reference(ir, frames, ts, hb, rt)


def test_prefetch_gives_the_same_batches(tmp_path):
    ir = example("normalize")
    frames = generate(ir, 800, seed=12)
    path, _ = capture(tmp_path, frames)
    a = [b.values for b in HostRuntime(ir, PcapSource(path), batch=50)]
    b = [b.values for b in HostRuntime(ir, PcapSource(path), batch=50, prefetch=3)]
    assert len(a) == len(b) and all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
                                    for x, y in zip(a, b))


def test_consumer_breaking_out_stops_the_prefetch_thread(tmp_path):
    ir = example("criteo")
    path, _ = capture(tmp_path, generate(ir, 2000, seed=1))
    rt = HostRuntime(ir, PcapSource(path), batch=10, prefetch=2)
    for k, _ in enumerate(rt):
        if k == 3:
            break
    assert rt.counters["batches"] == 4
    import threading
    assert not [t for t in threading.enumerate() if t.name == "nicc-host-prefetch"]


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("name", ["criteo", "normalize"])
def test_dataloader_equals_reference(tmp_path, name, workers):
    from torch.utils.data import DataLoader
    from nicc.runtime.host import HostDataset
    ir = example(name)
    frames = generate(ir, 1200, seed=13)
    path, ts = capture(tmp_path, frames)
    ds = HostDataset(ir, PcapSource(path), batch=100, meta=True)
    got = list(DataLoader(ds, batch_size=None, num_workers=workers))
    assert len(got) == 12
    cols = HostProgram(ir).cols
    keys = [k for k in got[0] if not k.startswith("_")]
    hb = types.SimpleNamespace(index=torch.cat([g["_index"] for g in got]).numpy(),
                               values={k: torch.cat([g[k] for g in got]).numpy() for k in keys})
    assert_rows_match(ir, hb, expected(ir, frames, ts), cols)
    total = sum(g["_counters"]["rx"] for g in got)
    assert total == len(frames)


def test_dataloader_refuses_to_split_state(tmp_path):
    from torch.utils.data import DataLoader
    from nicc.runtime.host import HostDataset
    ir = example("dedup")
    path, _ = capture(tmp_path, generate(ir, 100, seed=1))
    with pytest.raises(ValueError, match="keeps state"):
        list(DataLoader(HostDataset(ir, PcapSource(path)), batch_size=None, num_workers=2))


def test_vectorized_selection_is_framings():
    from nicc.compiler import framing
    from nicc.runtime.host.program import select_frames
    r = np.random.default_rng(7)
    frames = []
    for name in ("criteo", "normalize", "dedup"):
        frames += generate(example(name), 1500, seed=14)
    frames += [r.bytes(int(r.integers(0, 80))) for _ in range(500)]
    for port in (9001, 9002, 9003):
        want = [framing.udp_payload_len(f, port) for f in frames]
        got = select_frames(frames, port).tolist()
        assert got == [-1 if w is None else w for w in want]

"""The hand-written baselines of benchmarks/baselines/ and the benchmark driver.

Each baseline must be exact against the reference interpreter on generated traffic and on fully
processed frames: the C baselines in the DPDK bench loop (their outputs, frame by frame), the
XDP baselines loaded through the kernel verifier and run with BPF_PROG_TEST_RUN, their outcome
read from their counters. The tables they include are checked against torch and zlib.
Toolchain tests skip where DPDK or clang is missing; XDP tests where root or libbpf is.
"""
import json
import os
import subprocess
import zlib

import numpy as np
import pytest

from nicc.benchmarks import report
from nicc.benchmarks.baselines import tables
from nicc.benchmarks.driver import Settings, bench, load_example
from nicc.benchmarks.registry import BASELINES, baseline_for
from nicc.benchmarks.workloads import expected, frame_set
from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.dsl.lib.resize import StreamPlan
from nicc.dsl.lib.traffic import E4_PLAN, sample_image, tile_payload
from nicc.runtime.packets import generate, udp_frame

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NICC = os.path.join(ROOT, ".venv", "bin", "nicc")
WITH_BASELINE = ["normalize", "criteo"]                 # C, XDP and a host library
WITH_C_BASELINE = WITH_BASELINE + ["resize"]            # E4: C only (its DPDK code is the vector one)


_FRAMES = {}


def resize_accidents(ir):
    """E4 tiles out of sequence by hand: a second tile first, duplicates, a gap, a row 0 second tile and a
    later row of another image in the slot (neither restarts it), then the first tile of row 0 (restarts)."""
    plan = StreamPlan.make(*E4_PLAN)
    img, other = sample_image(np.random.default_rng(3), 4), sample_image(np.random.default_rng(4), 1)
    t = [tile_payload(7, r, x0, px) for r, x0, px in plan.tiles_of(img)][:12]
    o = [tile_payload(7 + 64, r, x0, px) for r, x0, px in plan.tiles_of(other)][:6]
    seq = [t[1], t[0], t[0], t[1], t[2], t[2], t[3], t[5], t[4], o[1], o[3], t[5], o[0], o[1], o[2], t[6], o[3],
           t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11]]
    rng = np.random.default_rng(5)
    return [bytes(udp_frame(p, ir.port, rng)) for p in seq]


def frames_for(ir, min_len=0):
    """Generated traffic (2000 frames) and 256 fully processed frames (E4: and its accidents), drawn once."""
    if ir.name not in _FRAMES:
        _FRAMES[ir.name] = generate(ir, 2000, seed=5) + frame_set(ir, "full", 256, seed=9) + \
            (resize_accidents(ir) if ir.name == "resize" else [])
    return [f for f in _FRAMES[ir.name] if len(f) >= min_len]


def need_dpdk():
    from nicc.runtime.dpdk import DpdkTarget
    why = DpdkTarget().unavailable()
    if why:
        pytest.skip(f"dpdk target unavailable: {why}")


def need_xdp():
    from nicc.runtime.xdp import XdpTarget
    why = XdpTarget().unavailable()
    if why:
        pytest.skip(f"xdp target unavailable: {why}")


def criteo_with_16_bit_hashes(tmp_path):
    """E2 with another hash width: a different pipeline under the same name."""
    src = open(os.path.join(ROOT, "examples", "criteo.py")).read().replace("HASH_BITS = 20", "HASH_BITS = 16")
    assert "HASH_BITS = 16" in src
    path = tmp_path / "criteo.py"
    path.write_text(src)
    return run_passes(load(str(path)).trace())


# -- the tables (no toolchain) ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(tables.HEADERS))
def test_tables_checked_in_are_current(name):
    with open(os.path.join(BASELINES, name)) as f:
        assert f.read() == tables.HEADERS[name](), f"rerun python benchmarks/baselines/tables.py ({name} is stale)"


def test_normalize_lut_is_torch():
    import torch
    x = torch.arange(256, dtype=torch.uint8)
    for c, (m, s) in enumerate(zip(tables.MEAN, tables.STD)):
        want = x.float().div(255).sub(m).div(s).half().view(torch.int16).numpy().view(np.uint16)
        assert (tables.normalize_lut()[c] == want).all()


def test_crc32_table_is_zlib():
    t = tables.crc32_table()
    assert [int(v) for v in t] == [~zlib.crc32(bytes([i]), 0xFFFFFFFF) & 0xFFFFFFFF for i in range(256)]


def test_full_frames_are_fully_processed():
    for name, count in (("normalize", 240), ("criteo", None)):
        ir = load_example(name)
        fs = frame_set(ir, "full", 64)
        assert all(e.name == "pass" for e in expected(ir, fs))
        if count:
            assert all(int.from_bytes(f[50:52], "big") == count for f in fs)


# -- the C baselines in the DPDK bench loop --------------------------------------------------------
@pytest.mark.toolchain
@pytest.mark.parametrize("name", WITH_C_BASELINE)
def test_c_baseline_exact(name, tmp_path):
    need_dpdk()
    from nicc.benchmarks.measure_dpdk import DpdkBench
    ir = load_example(name)
    fs = frames_for(ir)
    b = DpdkBench(ir, baseline_for(ir), fs, expected(ir, fs), str(tmp_path))
    try:
        samples = b.measure(rounds=2)
    finally:
        b.close()
    assert b.exact == {"nicc": (True, 0), "hand": (True, 0)}
    cores = {f"nicc@{b.lcores}", f"hand@{b.lcores}"} if b.lcores > 1 else set()    # the same rounds on 2 lcores
    assert set(samples) == {"floor", "nicc", "hand"} | cores and all(len(v) == 2 for v in samples.values())
    assert all(0 < x < 1e6 for v in samples.values() for x in v)
    assert b.verdicts["hand"] == b.verdicts["nicc"]


@pytest.mark.toolchain
def test_resize_baseline_scalar_lanes_exact(tmp_path, monkeypatch):
    """E4's baseline without its AVX-512 steps (NICC_SIMD=scalar, as nicc's code): the same outputs."""
    need_dpdk()
    from nicc.benchmarks.measure_dpdk import DpdkBench
    monkeypatch.setenv("NICC_SIMD", "scalar")
    ir = load_example("resize")
    fs = frames_for(ir)
    b = DpdkBench(ir, baseline_for(ir), fs, expected(ir, fs), str(tmp_path))
    try:
        b.measure(rounds=1)
    finally:
        b.close()
    assert b.exact == {"nicc": (True, 0), "hand": (True, 0)}
    assert b.verdicts["hand"] == b.verdicts["nicc"] and b.verdicts["hand"]["pass"] > 400


@pytest.mark.toolchain
def test_c_baseline_of_another_pipeline_is_not_exact(tmp_path):
    """The check is real: E2's baseline against E2 with 16-bit hashes differs on every passed frame."""
    need_dpdk()
    from nicc.benchmarks.measure_dpdk import DpdkBench
    ir = criteo_with_16_bit_hashes(tmp_path)
    fs = frame_set(ir, "full", 64)
    b = DpdkBench(ir, baseline_for(ir), fs, expected(ir, fs), str(tmp_path / "w"))
    try:
        b.measure(rounds=1)
    finally:
        b.close()
    assert b.exact == {"nicc": (True, 0), "hand": (False, 64)}


# -- the XDP baselines through the kernel verifier ---------------------------------------------------
@pytest.mark.toolchain
@pytest.mark.privileged
@pytest.mark.parametrize("name", WITH_BASELINE)
def test_xdp_baseline_exact(name, tmp_path):
    need_xdp()
    from nicc.benchmarks.measure_xdp import XdpBench
    ir = load_example(name)
    fs = frames_for(ir, min_len=14)
    b = XdpBench(ir, baseline_for(ir), fs, expected(ir, fs), str(tmp_path))
    try:
        assert b.exact == {"nicc": (True, 0), "hand": (True, 0)}
        assert b.insns["hand"] and b.insns["nicc"]
        samples = b.measure(rounds=1)
    finally:
        b.close()
    assert set(samples) == {"floor", "nicc", "hand"} and all(v[0] > 0 for v in samples.values())


@pytest.mark.toolchain
@pytest.mark.privileged
def test_xdp_baseline_of_another_pipeline_is_not_exact(tmp_path):
    need_xdp()
    from nicc.benchmarks.measure_xdp import XdpBench
    ir = criteo_with_16_bit_hashes(tmp_path)
    fs = frame_set(ir, "full", 32)
    b = XdpBench(ir, baseline_for(ir), fs, expected(ir, fs), str(tmp_path / "w"))
    b.close()
    assert b.exact == {"nicc": (True, 0), "hand": (False, 32)}


# -- host libraries ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", WITH_BASELINE)
def test_host_library_exact(name):
    from nicc.benchmarks.measure_host import HostBench
    ir = load_example(name)
    fs = frame_set(ir, "full", 32)
    h = HostBench(baseline_for(ir).host, fs, expected(ir, fs))
    assert list(h.exact.values()) == [(True, 0)]
    assert h.measure(2)[baseline_for(ir).host][0] > 0


def test_host_library_check_is_real():
    from nicc.benchmarks.measure_host import HostBench
    ir = load_example("criteo")
    fs = frame_set(ir, "full", 16)
    exp = expected(ir, fs)
    fs[3] = fs[3][:60] + bytes([fs[3][60] ^ 1]) + fs[3][61:]        # one categorical bit flipped
    assert HostBench("numpy+zlib", fs, exp).exact == {"numpy+zlib": (False, 1)}


# -- the driver and its outputs --------------------------------------------------------------
@pytest.mark.toolchain
def test_bench_quick_run(tmp_path):
    need_dpdk()
    from nicc.runtime.xdp import XdpTarget
    targets = ["dpdk"] + ([] if XdpTarget().unavailable() else ["xdp"])
    res = bench([load_example("criteo")], targets, Settings.quick())
    rows = {(r["target"], r["set"]): r for r in res["rows"]}
    assert set(rows) == {(t, s) for t in targets + ["host"] for s in ("full", "mix")}
    for t in targets:
        for s in ("full", "mix"):
            vs = rows[(t, s)]["variants"]
            two = {"nicc@2", "hand@2"} if t == "dpdk" and len(os.sched_getaffinity(0)) > 1 else set()
            assert set(vs) == {"floor", "nicc", "hand"} | two      # dpdk: also on 2 lcores at once
            assert vs["nicc"]["exact"] and vs["hand"]["exact"]
            for v in vs.values():
                assert v["p25_ns"] <= v["median_ns"] <= v["p75_ns"] and v["pps"] == pytest.approx(1e9 / v["median_ns"])
        full = rows[(t, "full")]["variants"]
        assert full["floor"]["median_ns"] < full["hand"]["median_ns"]      # E2 does work beyond the floor
    assert set(rows[("host", "full")]["variants"]) == {"numpy+zlib", "interpreter", "interpreter, columnar"}
    assert rows[("host", "full")]["outcomes"] == {"pass": 128}
    text = report.table(res)
    assert "E2 criteo" in text and "E2 on dpdk, nicc / hand-written" in text
    if len(os.sched_getaffinity(0)) > 1:
        assert "nicc, 2 cores" in text and "E2 on dpdk, 2 cores / 1 core, packets/s" in text
    paths = report.write(res, str(tmp_path))
    assert json.load(open(paths["json"]))["rows"] == res["rows"]
    assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert "| E2 criteo | dpdk | full |" in open(paths["md"]).read()


def test_cli_bench_refuses_bmv2():
    r = subprocess.run([NICC, "bench", os.path.join(ROOT, "examples", "criteo.py"), "--target", "bmv2"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no benchmark" in r.stderr


def test_cli_bench_interpreter():
    r = subprocess.run([NICC, "bench", os.path.join(ROOT, "examples", "criteo.py"), "--target", "interp", "--quick",
                        "--packets", "64", "--passes", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "numpy+zlib" in r.stdout and "interpreter" in r.stdout

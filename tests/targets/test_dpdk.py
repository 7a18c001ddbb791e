"""The DPDK target: generated C against the reference interpreter, built and run for real.

Differential runs go through the pcap vdev (``--no-huge``, no NIC needed); the
sanitizer tests build the per-packet function into a plain C harness with
ASan + UBSan. Skipped, with the reason, where DPDK or a compiler is missing.
"""
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from nicc.compiler.interp import Reference, counters
from nicc.compiler.ir import Op
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.dsl import load
from nicc.runtime import pcap
from nicc.runtime.difftest import differential_test
from nicc.runtime.packets import generate, udp_frame

sys.path.insert(0, os.path.dirname(__file__))
from all_ops import MULTICAST_FINAL_TEXT, MULTICAST_TEXT, ops_text, stream_op_lines, streams_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = ["normalize", "criteo", "dedup"]
COUNT = int(os.environ.get("NICC_DPDK_COUNT", "2000"))


def target():
    from nicc.runtime.dpdk import DpdkTarget
    t = DpdkTarget(echo=False)
    why = t.unavailable()
    if why:
        pytest.skip(f"dpdk target unavailable: {why}")
    return t


def example(name):
    return run_passes(load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def ops_ir():
    return verify(parse_pipeline(ops_text(), "ops.nir"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each pipeline compiled once per module (builds are cached by source hash as well)."""
    t = target()
    cache = {}

    def get(name):
        if name not in cache:
            ir = ops_ir() if name == "ops" else example(name)
            cache[name] = (ir, t.compile(ir, str(tmp_path_factory.mktemp(name))))
        return cache[name]
    return t, get


# -- differential ------------------------------------------------------------------------------

@pytest.mark.toolchain
@pytest.mark.parametrize("name", EXAMPLES + ["ops"])
def test_differential(built, name):
    t, get = built
    ir, art = get(name)
    buf = io.StringIO()
    ok = differential_test(ir, t, count=COUNT, seed=0, verbose=True, artifact=art, out=buf)
    out = buf.getvalue()
    assert ok, out
    assert f"on {COUNT} frames" in out


@pytest.mark.toolchain
def test_binary_counters_match(built):
    t, get = built
    ir, art = get("criteo")
    frames = generate(ir, 300, seed=5)
    res = t.run(ir, frames, art)
    got, ref = t.last_counters, counters(Reference(ir).run(frames))
    assert {k: got[k] for k in ref} == ref
    assert got["unhandled"] == 0
    roles = {p["role"]: p for p in got["ports"]}
    assert roles["wire"]["rx"] == len(frames) and roles["host"]["tx"] == ref["pass"]
    assert len(res) == len(frames)


@pytest.mark.toolchain
def test_timestamps_reach_the_pipeline(built):
    t, get = built
    ir, art = get("ops")
    frames = generate(ir, 400, seed=3)
    ts = [1_700_000_000_123_456_789 + 1000 * i for i in range(len(frames))]
    got = t.run(ir, frames, art, ts)
    ref = Reference(ir).run(frames, ts)
    assert [(r.verdict, r.frames) for r in got] == [(r.verdict, r.frames) for r in ref]


def signed_count_frames():
    """Frames for the ops pipeline whose signed array count (byte 8) is negative, 0 or positive."""
    import numpy as np
    rng = np.random.default_rng(1)
    frames = []
    for s in (-1, -2, -5, -6, -128, 0, 3, 5, 6, 127):
        for plen in (24, 79, 80, 85, 89, 120):
            pl = bytearray(rng.integers(0, 256, plen, dtype=np.uint8).tobytes())
            pl[0], pl[7], pl[8] = 100, 2, s & 0xFF
            frames.append(bytes(udp_frame(bytes(pl), 9100, rng)))
    return frames


@pytest.mark.toolchain
def test_signed_array_counts(built):
    """Non-negative signed counts match the reference; negative ones (the reference interpreter
    itself fails on them, np.empty(negative)) run without a sanitizer report, see below."""
    t, get = built
    ir, art = get("ops")
    frames = [f for f in signed_count_frames() if f[42 + 8] < 0x80]
    got = t.run(ir, frames, art)
    ref = Reference(ir).run(frames)
    assert [(r.verdict, r.reason, r.frames) for r in got] == [(r.verdict, r.reason, r.frames) for r in ref]


@pytest.mark.toolchain
def test_empty_and_tiny_frames(built):
    t, get = built
    ir, art = get("dedup")
    frames = [b"", b"\x00", bytes(13), bytes(41), bytes(60)]
    got = t.run(ir, frames, art)
    assert [(r.verdict, r.reason, r.frames) for r in got] == [("pass", "unselected", [f]) for f in frames]


# -- the command line --------------------------------------------------------------------------

def nicc(*args, **kw):
    return subprocess.run([sys.executable, "-m", "nicc.cli", *args], capture_output=True, text=True, cwd=ROOT, **kw)


@pytest.mark.toolchain
def test_cli_compile_and_run(built, tmp_path):
    target()
    out = tmp_path / "build"
    r = nicc("compile", "examples/normalize.py", "--target", "dpdk", "-o", str(out))
    assert r.returncode == 0, r.stderr
    for f in ("normalize_process.c", "normalize_process.h", "Makefile", "normalize", "manifest.json"):
        assert (out / f).exists(), f
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"] == "dpdk" and manifest["outcome_ports"]["transmit"] == "wire"

    ir = example("normalize")
    frames = generate(ir, 300, seed=11)
    pcap.write_pcap(str(tmp_path / "a.pcap"), [pcap.Packet(f, 1000 * i) for i, f in enumerate(frames)])
    r = nicc("run", "examples/normalize.py", "--target", "dpdk", "--pcap-in", str(tmp_path / "a.pcap"),
             "--pcap-out", str(tmp_path / "b.pcap"), "--json")
    assert r.returncode == 0, r.stderr
    ref = Reference(ir).run(frames)
    assert [p.data for p in pcap.read_pcap(str(tmp_path / "b.pcap"))] == [f for x in ref for f in x.frames]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == counters(ref)
    assert '"pipeline": "normalize"' in r.stderr          # the binary's own counter line


@pytest.mark.toolchain
def test_cli_run_empty_capture(tmp_path):
    target()
    pcap.write_pcap(str(tmp_path / "a.pcap"), [])
    r = nicc("run", "examples/dedup.py", "--target", "dpdk", "--pcap-in", str(tmp_path / "a.pcap"),
             "--pcap-out", str(tmp_path / "b.pcap"))
    assert r.returncode == 0, r.stderr
    assert pcap.read_pcap(str(tmp_path / "b.pcap")) == []


@pytest.mark.toolchain
def test_cli_bench(tmp_path):
    target()
    r = nicc("bench", "examples/criteo.py", "--target", "dpdk", "--quick", "--packets", "64", "--passes", "1")
    assert r.returncode == 0, r.stderr
    for word in ("Mpps", "ns/packet", "floor", "hand-written", "numpy+zlib", "interpreter", "E2 on dpdk"):
        assert word in r.stdout


def test_unavailable_is_exit_3(monkeypatch, tmp_path):
    from nicc.runtime import dpdk
    monkeypatch.setattr(dpdk.DpdkTarget, "unavailable", lambda self: "no DPDK found by pkg-config (test)")
    from nicc import cli
    pcap.write_pcap(str(tmp_path / "a.pcap"), [])
    assert cli.main(["run", os.path.join(ROOT, "examples/dedup.py"), "--target", "dpdk", "--pcap-in",
                     str(tmp_path / "a.pcap"), "--pcap-out", str(tmp_path / "b.pcap")]) == 3
    assert (tmp_path / "b.pcap").exists()


# -- sanitizers -----------------------------------------------------------------------------------

def corpus(ir, seed=7):
    """Generated traffic (malformed at every layer) plus every truncation of a few valid frames."""
    frames = generate(ir, 1500, seed)
    ref = Reference(ir).run(frames)
    valid = [f for f, r in zip(frames, ref) if r.reason == "selected"][:4]
    return frames + [f[:k] for f in valid for k in range(len(f) + 1)]


def sanitizer_available():
    if shutil.which("gcc") is None:
        pytest.skip("no gcc for the sanitizer harness")


@pytest.mark.toolchain
@pytest.mark.parametrize("name", EXAMPLES + ["ops"])
def test_sanitizers_zero_reports(built, name):
    sanitizer_available()
    t, get = built
    ir, art = get(name)
    frames = corpus(ir)
    proc, out = t.run_harness(ir, art, frames)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "runtime error" not in proc.stderr and "ERROR: AddressSanitizer" not in proc.stderr, proc.stderr
    assert len(out) == len(frames)
    if name == "ops":      # negative array counts too (no reference for them: see test_signed_array_counts)
        p2, out2 = t.run_harness(ir, art, signed_count_frames())
        assert p2.returncode == 0 and "runtime error" not in p2.stderr, p2.stderr[-4000:]
    # the harness's results are the reference's too (timestamp = frame index, as the harness sets it)
    ref = Reference(ir).run(frames, list(range(len(frames))))
    for i, (r, (v, f)) in enumerate(zip(ref, out)):
        assert v == (r.reason if r.reason != "selected" else r.verdict), i
        if r.frames:
            assert f == r.frames[0], i


@pytest.mark.toolchain
def test_sanitizer_catches_an_over_read(built, tmp_path):
    """The canary: the same harness with one byte read past the frame must be reported."""
    sanitizer_available()
    t, get = built
    ir, art = get("dedup")
    d = tmp_path / "broken"
    shutil.copytree(art.outdir, d)
    src = d / "dedup_process.c"
    text = src.read_text()
    anchor = "    plen = (uint16_t)(ulen - 8U);\n"
    assert anchor in text
    src.write_text(text.replace(anchor, anchor + "    if (pkt[len] == 0xfe) plen = 0;\n"))
    r = subprocess.run(["make", "-s", "-C", str(d), "dedup_harness"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from nicc.runtime.dpdk import frames_blob
    (tmp_path / "c").write_bytes(frames_blob(generate(ir, 50, 1)))
    p = subprocess.run([str(d / "dedup_harness"), str(tmp_path / "c"), str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "heap-buffer-overflow" in p.stderr


# -- what the renderer renders or refuses ---------------------------------------------------------------

def test_every_op_kind_is_rendered_or_refused():
    from nicc.backends.dpdk import generate as gen
    ir = ops_ir()
    rendered = {n.op for n in ir.body.walk()}
    files = gen(ir)
    assert "int ops_process(" in files["ops_process.c"]
    # multicast (a verdict attribute of verdict_if and verdict): the outcome names the group, the data
    # plane makes the copies (nicc_mcast.h)
    for text, fname in ((MULTICAST_TEXT, "mc.nir"), (MULTICAST_FINAL_TEXT, "mc2.nir")):
        p = verify(parse_pipeline(text, fname))
        assert "return NICC_MULTICAST | (0 << 8);" in gen(p)[f"{p.name}_process.c"]
        rendered |= {n.op for n in p.body.walk()}
    streams = verify(parse_pipeline(streams_text(), "streams.nir"))
    gen(streams)
    st = {n.op for n in streams.body.walk()}
    from nicc.backends.host_only import HOST_ONLY          # float math: refused, it belongs to the host part
    assert rendered | st | HOST_ONLY == set(Op), set(Op) - rendered - st - HOST_ONLY


def test_stream_ops_are_rendered_with_their_lines():
    from nicc.backends.dpdk import generate as gen
    p = verify(parse_pipeline(streams_text(), "streams.nir"))
    src = gen(p)["streams_process.c"]
    lines = stream_op_lines()
    for op in ("stream_read", "gather", "stream_write", "scan", "put", "host_if", "emit"):
        assert f"/* streams.nir:{lines[op]} */" in src, op
    h = gen(p)["streams_process.h"]
    assert "struct streams_stream_s s[4];" in h and "uint16_t a[8];" in h
    import re
    rec = re.search(r"struct streams_stream_s \*(\w+) = ", src).group(1)
    # the busy word is taken atomically unless the caller says one lcore runs the program (st->lcores)
    assert f"if ({rec} && (st->lcores != 1 && __atomic_exchange_n(&{rec}->busy, 1, __ATOMIC_ACQUIRE)))" in src
    assert f"return ({rec} && st->lcores != 1 ? __atomic_store_n(&{rec}->busy, 0, __ATOMIC_RELEASE) : (void)0), " \
        "NICC_HOST;" in src


def test_renderer_hooks_cover_the_op_set():
    from nicc.backends.dpdk import DpdkRenderer
    missing = [op.value for op in Op if not callable(getattr(DpdkRenderer, f"r_{op.value}", None))]
    assert not missing


# -- goldens ------------------------------------------------------------------------------------------

GOLDEN = os.path.join(ROOT, "tests", "golden", "dpdk")


@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_generated_c(name):
    from nicc.backends.dpdk import RUNTIME, generate as gen
    # the Makefile names the runtime's directory, which depends on where nicc is installed
    files = {f: text.replace(RUNTIME, "@NICC_DP@") for f, text in gen(example(name)).items()}
    d = os.path.join(GOLDEN, name)
    if os.environ.get("UPDATE_GOLDENS"):
        os.makedirs(d, exist_ok=True)
        for f, text in files.items():
            with open(os.path.join(d, f), "w") as fh:
                fh.write(text)
    assert sorted(os.listdir(d)) == sorted(files), "regenerate with UPDATE_GOLDENS=1"
    for f, text in files.items():
        with open(os.path.join(d, f)) as fh:
            assert fh.read() == text, f"{name}/{f} differs from the golden file; regenerate with UPDATE_GOLDENS=1"

"""The XDP target: generated eBPF C against the reference interpreter, through the real kernel verifier.

Golden C and op coverage need nothing; building needs clang (``toolchain``); loading,
BPF_PROG_TEST_RUN and the differential tests need root and the kernel (``privileged``).
Each is skipped with the name of what is missing.
"""
import io
import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from nicc.backends.xdp import XdpRenderer, generate
from nicc.backends.xdp.renderer import ACTIONS
from nicc.compiler.errors import NiccError
from nicc.compiler.interp import Reference, counters
from nicc.compiler.ir import Op
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.dsl import load
from nicc.runtime import pcap
from nicc.runtime.difftest import differential_test
from nicc.runtime.packets import generate as gen_frames, udp_frame

sys.path.insert(0, os.path.dirname(__file__))
from all_ops import MULTICAST_FINAL_TEXT, MULTICAST_TEXT, ops_text, stream_op_lines, streams_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden", "xdp")
EXAMPLES = ["normalize", "criteo", "dedup"]
COUNT = int(os.environ.get("NICC_XDP_COUNT", "2000"))
NICC = os.path.join(ROOT, ".venv", "bin", "nicc")


def example(name):
    return run_passes(load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def ops_ir():
    return verify(parse_pipeline(ops_text(), "ops.nir"))


def need_clang():
    if shutil.which("clang") is None:
        pytest.skip("xdp target: clang is not installed")


def target(cls=None):
    from nicc.runtime.xdp import XdpTarget
    t = (cls or XdpTarget)()
    why = t.unavailable()
    if why:
        pytest.skip(f"xdp target unavailable: {why}")
    return t


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each pipeline compiled (and verified) once per module."""
    cache = {}

    def get(name):
        if name not in cache:
            t = target()
            ir = ops_ir() if name == "ops" else example(name)
            cache[name] = (ir, t, t.compile(ir, str(tmp_path_factory.mktemp(f"xdp-{name}"))))
        return cache[name]
    return get


# -- rendering (no toolchain) ---------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_c(name):
    src, _ = generate(example(name))
    path = os.path.join(GOLDEN, f"{name}.bpf.c")
    if os.environ.get("UPDATE_GOLDENS") == "1":
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(src)
    with open(path) as f:
        assert src == f.read(), f"generated C for {name} differs from {path} (UPDATE_GOLDENS=1 to regenerate)"


@pytest.mark.parametrize("name", EXAMPLES)
def test_generated_c_conventions(name):
    src, _ = generate(example(name))
    assert src.startswith("// SPDX-License-Identifier:")
    assert 'SEC("xdp.frags")' in src and 'SEC("license")' in src and 'SEC(".maps")' in src
    assert "__uint(type, BPF_MAP_TYPE_" in src and "__type(value," in src        # BTF-style map definitions
    # early pass for traffic the pipeline does not select, behind a bounds check
    i_check = src.index("if ((void *)(pkt + NICC_ETH_IP_UDP) > data_end)")
    assert i_check < src.index("pkt[12] != 0x08")


def test_every_op_kind_rendered_or_refused():
    ir = ops_ir()
    used = {n.op for n in ir.body.walk()}
    src, ctx = generate(ir)
    mc = {n.op for n in parse_pipeline(MULTICAST_TEXT, "mc.nir").body.walk()}
    streams = verify(parse_pipeline(streams_text(), "streams.nir"))
    st = {n.op for n in streams.body.walk()}
    assert generate(streams)[1]["rendered"] == st
    from nicc.backends.host_only import HOST_ONLY          # float math: refused, it belongs to the host part
    assert used | mc | st | HOST_ONLY == set(Op), f"ops pipelines miss {set(Op) - used - mc - st - HOST_ONLY}"
    assert ctx["rendered"] == used
    # every stage the renderer named has its marker on a C line (the verifier log maps back through it)
    stages = ctx["stages"]
    assert {s.op for s in stages[1:]} <= {op.value for op in used}
    for k in range(1, len(stages)):
        assert f"/* @{k} */" in src, f"no C line carries the marker of stage {k} ({stages[k].op})"
    # effects and loads always have lines of their own (pure scalar ops may be written into their use)
    for op in used & {Op.FIELD, Op.ARRAY, Op.MAP, Op.EMIT, Op.REJECT_IF, Op.VERDICT_IF, Op.VERDICT,
                      Op.STATE_READ, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.CRC32, Op.LUT, Op.BUCKETIZE}:
        assert op.value in {s.op for s in stages}, f"no C line is marked as op {op.value}"
    # a comment per user source line (again in each bpf_loop callback), not per C line
    import re
    commented = re.findall(r"/\* ops.nir:(\d+) \*/", src)
    assert {int(x) for x in commented} == {s.loc.line for s in stages[1:]}
    assert len(commented) <= len(set(commented)) + 2 * len(ctx["callbacks"])
    # multicast verdicts are refused at the user's line
    for text, file, line in ((MULTICAST_TEXT, "mc.nir", 6), (MULTICAST_FINAL_TEXT, "mc2.nir", 3)):
        with pytest.raises(NiccError) as e:
            generate(parse_pipeline(text, file))
        assert (e.value.loc.file, e.value.loc.line) == (file, line)
        assert "multicast" in e.value.message and "--target tc" in e.value.message


def test_stream_ops_are_rendered_with_their_lines():
    """Every stream, window, scan and host op is rendered, each marked with its node and commented with its
    line; the scan is a bpf_loop callback whose compares and selects do not branch."""
    p = verify(parse_pipeline(streams_text(), "streams.nir"))
    src, ctx = generate(p)
    lines = stream_op_lines()
    stages = {(s.op, s.loc.line) for s in ctx["stages"][1:]}
    for op in ("stream_read", "gather", "stream_write", "scan", "put", "host_if"):
        assert (op, lines[op]) in stages, op
    assert "bpf_loop(10, nicc_scan" in src and "nicc_stream_s SEC(\".maps\")" in src
    import re
    rec = re.search(r"struct nicc_stream_s \*(\w+) = NULL;", src).group(1)
    assert f"if ({rec} && __sync_val_compare_and_swap(&{rec}->busy, 0, 1))" in src
    # every way out after the record is taken gives it back, the host part's too
    assert f"return ({rec} ? {rec}->busy = 0 : 0), nicc_done(cnt, NICC_HOST);" in src
    taken = src.index(f"__sync_val_compare_and_swap(&{rec}->busy")
    body = src[taken:src.index("char LICENSE[]")]
    assert all(f"({rec} ? {rec}->busy = 0 : 0)" in ln for ln in body.splitlines()[2:] if "return nicc" in ln or
               "), nicc_" in ln)
    assert "nicc_sel(" in src and "nicc_lt(" in src


def test_verdict_table_documented():
    assert ACTIONS["pass"] == "XDP_PASS" and ACTIONS["transmit"] == "XDP_TX" and ACTIONS["drop"] == "XDP_DROP"
    src, _ = generate(example("criteo"))
    for v, a in ACTIONS.items():
        if v != "multicast":
            assert f"{v:10} -> {a}" in src
    assert "multicast  -> refused" in src


@pytest.mark.toolchain
@pytest.mark.parametrize("name", EXAMPLES + ["ops"])
def test_clang_builds(name, tmp_path):
    need_clang()
    from nicc.runtime.xdp import clang_cmd
    ir = ops_ir() if name == "ops" else example(name)
    for spill in (False, True):          # (values spill to scratch when clang reports the stack limit)
        src, _ = generate(ir, spill=spill)
        c = tmp_path / f"{name}{spill}.bpf.c"
        c.write_text(src)
        p = subprocess.run(clang_cmd(str(c), str(tmp_path / f"{name}{spill}.o")), capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


# -- through the kernel ---------------------------------------------------------------------------
@pytest.mark.toolchain
@pytest.mark.privileged
@pytest.mark.parametrize("name", EXAMPLES)
def test_compile_manifest(name, built):
    ir, t, art = built(name)
    m = art.manifest
    for role in ("c", "object", "manifest"):
        assert os.path.isfile(art.files[role])
    with open(art.files["manifest"]) as f:
        assert json.load(f) == json.loads(json.dumps(m))
    assert m["section"] == "xdp" and m["program"] == f"nicc_{name}"
    assert m["resources"]["verified_insns"] > 0 and m["resources"]["map_bytes"] > 0
    names = {mp["name"] for mp in m["maps"]}
    assert {"nicc_counters", "nicc_scratch"} <= names
    if name == "normalize":
        assert set(m["luts"]) == {"norm_r", "norm_g", "norm_b"} and len(m["luts"]["norm_r"]["values"]) == 256
    if name == "dedup":
        assert "nicc_state_seen" in names


@pytest.mark.toolchain
@pytest.mark.privileged
@pytest.mark.parametrize("name", EXAMPLES + ["ops"])
def test_differential(name, built):
    ir, t, art = built(name)
    out = io.StringIO()
    ok = differential_test(ir, t, count=COUNT, seed=0, verbose=True, artifact=art, out=out)
    assert ok, out.getvalue()


@pytest.mark.toolchain
@pytest.mark.privileged
def test_reasons_match_reference(built):
    ir, t, art = built("criteo")
    frames = gen_frames(ir, 600, seed=4)
    ref, got = Reference(ir).run(frames), t.run(ir, frames, art)
    assert [(r.verdict, r.reason, r.frames) for r in ref] == [(r.verdict, r.reason, r.frames) for r in got]


@pytest.mark.toolchain
@pytest.mark.privileged
def test_state_starts_fresh_each_run(built):
    ir, t, art = built("dedup")
    import numpy as np
    f = bytes(udp_frame(struct.pack("!Q", 77) + b"xyz", 9003, np.random.default_rng(1)))
    for _ in range(2):
        assert [r.verdict for r in t.run(ir, [f, f, f], art)] == ["pass", "drop", "drop"]


@pytest.mark.toolchain
@pytest.mark.privileged
def test_unrunnable_frames_pass_unchanged(built):
    ir, t, art = built("dedup")
    tiny, huge = b"\x01" * 13, b"\x02" * 4000
    got = t.run(ir, [tiny, b"", huge], art)
    assert [(r.verdict, r.frames) for r in got] == [("pass", [tiny]), ("pass", [b""]), ("pass", [huge])]


class _BrokenCrc(XdpRenderer):
    """A deliberately wrong lowering: crc32 without its final inversion."""

    def r_crc32(self, n, x):
        v = super().r_crc32(n, x)
        return self.define(n, f"({v} ^ 0xffffffffU)")


@pytest.mark.toolchain
@pytest.mark.privileged
def test_harness_catches_broken_lowering(tmp_path):
    from nicc.runtime.xdp import XdpTarget

    class Broken(XdpTarget):
        renderer_cls = _BrokenCrc
    t = target(Broken)
    ir = example("criteo")
    out = io.StringIO()
    assert not differential_test(ir, t, count=300, seed=0, artifact=t.compile(ir, str(tmp_path)), out=out)
    text = out.getvalue()
    assert "MISMATCH" in text and "shrunk to 1 frame" in text
    assert "reference: pass" in text and "xdp: pass" in text


class _Unchecked(XdpRenderer):
    """A deliberately unsafe lowering: a packet read without a bounds check."""

    def r_field(self, n):
        return self.define(n, f"*((__u8 *)(long)ctx->data + {42 + n.attr('offset')})")


@pytest.mark.toolchain
@pytest.mark.privileged
def test_verifier_rejection_is_a_user_error(tmp_path):
    from nicc.runtime.xdp import XdpTarget

    class Unsafe(XdpTarget):
        renderer_cls = _Unchecked
    t = target(Unsafe)
    ir = example("criteo")
    with pytest.raises(NiccError) as e:
        t.compile(ir, str(tmp_path))
    err = e.value
    assert "verifier rejected" in err.message and "stage 'field'" in err.message
    assert os.path.basename(err.loc.file) == "criteo.py" and err.loc.line == 22    # rec.label
    log = "\n".join(err.notes)
    assert "invalid access to packet" in log and "/* @" in log     # the marked C line of the read
    text = err.format()
    assert "nd.drop_if(rec.label > 1)" in text


@pytest.mark.toolchain
@pytest.mark.privileged
def test_cli_compile_run_and_exit_codes(tmp_path):
    target()
    out = tmp_path / "out"
    p = subprocess.run([NICC, "compile", "examples/normalize.py", "--target", "xdp", "-o", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "verified_insns" in p.stdout and (out / "normalize.bpf.o").exists()
    ir = example("normalize")
    frames = gen_frames(ir, 300, seed=2) + [b"\x00" * 5]
    pcap.write_pcap(str(tmp_path / "a.pcap"), [pcap.Packet(f, 1000 * i) for i, f in enumerate(frames)])
    p = subprocess.run([NICC, "run", "examples/normalize.py", "--target", "xdp", "--pcap-in",
                        str(tmp_path / "a.pcap"), "--pcap-out", str(tmp_path / "b.pcap"), "--json"],
                       cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    ref = Reference(ir).run(frames)
    got = [q.data for q in pcap.read_pcap(str(tmp_path / "b.pcap"))]
    assert got == [f for r in ref for f in r.frames]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == counters(ref)


@pytest.mark.toolchain
def test_a_table_that_looks_like_a_string_loads(tmp_path):
    """255 - x over u8 ends in a 0 byte: without a section, clang puts it in .rodata.str1.1, which libbpf refuses."""
    t = target()
    ir = run_passes(load(os.path.join(ROOT, "tests", "targets", "pipelines", "strlut.py")).trace())
    assert differential_test(ir, t, count=300, seed=2)

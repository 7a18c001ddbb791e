"""Split pipelines on the real targets: the NIC part on xdp, dpdk or bmv2, the host part on the host,
the final frames identical to the whole pipeline's, and tensors from the host runtime equal numpy's."""
import os

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.passes import run_passes
from nicc.runtime.difftest import differential_test
from nicc.runtime.packets import generate
from nicc.runtime.target import get_target

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.toolchain


def example(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def target(name):
    t = get_target(name)
    why = t.unavailable()
    if why:
        pytest.skip(f"{name} unavailable: {why}")
    return t


@pytest.mark.parametrize("name", ["xdp", "tc", "dpdk", "bmv2"])
def test_criteo_log_split_is_exact_on_every_target(name, tmp_path):
    t = target(name)
    ir = example("criteo_log")
    art = t.compile(ir, str(tmp_path / name))
    assert art.manifest["split"]["host_stages"] >= 3 and os.path.exists(art.files["host_part"])
    rows = {r["stage"]: r["place"] for r in art.manifest["explain"] if r.get("section") == "placement"}
    assert rows["map: call log1p"] == "host" and rows["map: crc32, and"] == "nic"
    assert differential_test(ir, t, count=2500, seed=4, artifact=art)


def test_host_part_tensors_equal_numpy(tmp_path):
    """The host runtime runs the host part on what the NIC part (XDP here) sends, into tensors."""
    from nicc.runtime.host import HostRuntime, ListSource
    t = target("xdp")
    ir = example("criteo_log")
    art = t.compile(ir, str(tmp_path / "xdp"))
    sp = art.split
    frames = [f for f in generate(ir, 3000, seed=8)]
    nic = t.base.run(sp.nic, frames, art)
    wire = [r.frames[0] for r in nic if r.reason == "selected" and r.verdict == "pass"]
    assert len(wire) > 50
    rows = {}
    for hb in HostRuntime(sp.host, ListSource(wire)):
        for k, v in hb.values.items():
            rows.setdefault(k, []).append(v)
    got = {k: np.concatenate(v) for k, v in rows.items()}
    dense = [np.frombuffer(f[42:][8 + 1 + 104:8 + 1 + 104 + 52], ">u4") for f in wire]
    want = np.log1p(np.array(dense).astype(np.float32))
    col = next(k for k, v in got.items() if v.dtype == np.float32)
    assert got[col].tobytes() == want.tobytes()


def test_every_backend_refuses_float_math_at_the_users_line():
    """Given float math directly (not through the partition), each backend names the host part."""
    from nicc.backends.dpdk import generate as dpdk_gen
    from nicc.backends.p4 import render_program
    from nicc.backends.xdp import generate as xdp_gen
    from nicc.compiler.errors import NiccError
    ir = example("criteo_log")
    call = next(m for n in ir.body.walk() if n.body is not None for m in n.body.walk() if m.op.value == "call")
    for gen in (xdp_gen, dpdk_gen, render_program):
        with pytest.raises(NiccError) as e:
            gen(ir)
        assert "floating point runs on the host" in e.value.message
        assert e.value.loc.line in (call.loc.line, call.loc.line)


def test_cli_explain_shows_the_placement_and_a_pin_moves_it(tmp_path):
    import subprocess
    import sys
    target("xdp")
    nicc = [sys.executable, "-m", "nicc.cli"]
    r = subprocess.run(nicc + ["compile", "examples/criteo_log.py", "--target", "xdp", "-o", str(tmp_path / "a"),
                               "--explain"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "placement:" in r.stdout and "lowering:" in r.stdout
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("map: call log1p"))
    assert " host " in line and "floating point" in line
    assert "165-byte payload on UDP port 10002" in r.stdout
    pinned = tmp_path / "pinned.py"
    pinned.write_text(open(os.path.join(ROOT, "examples", "criteo_log.py")).read().replace(
        "hashes = rec.cats.map(", "hashes = nd.on_host(rec.cats.map(").replace(
        "((1 << HASH_BITS) - 1))", "((1 << HASH_BITS) - 1)))"))
    r = subprocess.run(nicc + ["compile", str(pinned), "--target", "xdp", "-o", str(tmp_path / "b"), "--explain"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("map: crc32, and"))
    assert " host " in line and "pinned by nd.on_host" in line

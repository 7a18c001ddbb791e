"""A pipeline compiled for a target, as the notebook shows it: the resource bars hold the target's own
numbers (the kernel's verified instruction count and the stack the program's code uses, the growth
of the packets bmv2 really rewrites, the frames DPDK really sends), and the drawing names them."""
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.runtime.compiled import compile_pipeline
from nicc.runtime.packets import generate, udp_frame
from nicc.runtime.target import get_target

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SVG = "{http://www.w3.org/2000/svg}"
SHARED_P4 = os.path.join(os.path.dirname(ROOT), "shared", "p4")
if not os.environ.get("NICC_P4_PREFIX") and os.path.isdir(SHARED_P4):
    os.environ["NICC_P4_PREFIX"] = SHARED_P4          # what `make test` does, for direct pytest runs
pytestmark = pytest.mark.toolchain


def example(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def compiles(name: str) -> None:
    """Skip unless target ``name`` can compile here (xdp: clang; dpdk: its toolchain; bmv2: p4c)."""
    if name == "xdp":
        if shutil.which("clang") is None:
            pytest.skip("no clang")
        return
    why = get_target(name).unavailable()
    if why:
        pytest.skip(f"{name} unavailable: {why}")


def words(c) -> str:
    root = ET.fromstring(c._repr_svg_())
    return "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def objdump_stack(obj: str) -> int:
    """The deepest stack slot the program's code touches (``r10 - N``), read from llvm-objdump."""
    exe = shutil.which("llvm-objdump")
    if exe is None:
        pytest.skip("no llvm-objdump")
    out = subprocess.run([exe, "-d", obj], capture_output=True, text=True, check=True).stdout
    return max(int(n) for n in re.findall(r"r10 - (\d+)", out))


@pytest.mark.parametrize("name", ["criteo_log", "normalize"])
def test_xdp_bars_are_the_kernels_numbers(name, tmp_path):
    compiles("xdp")
    c = compile_pipeline(example(name), "xdp", str(tmp_path))
    bars = {b.label: b for b in c.bars}
    assert bars["verified instructions"].limit == 1_000_000 and bars["stack"].limit == 512
    assert bars["map memory"].used == c.artifact.manifest["resources"]["map_bytes"] and bars["map memory"].limit is None
    if get_target("xdp").unavailable():                 # cannot load here: said so, no number made up
        assert bars["verified instructions"].used is None and "needs root" in bars["verified instructions"].note
        return
    from nicc.runtime.libbpf import Loaded
    l = Loaded(c.artifact.files["object"])
    try:
        assert l.ok and bars["verified instructions"].used == l.verified_insns()
    finally:
        l.close()
    assert bars["stack"].used == objdump_stack(c.artifact.files["object"])       # one BPF function here
    text = words(c)
    assert f"{bars['verified instructions'].used:,} of 1,000,000" in text
    assert f"{bars['stack'].used} of 512 bytes" in text
    if name == "criteo_log":
        assert "wire payload v1: 165 bytes" in text and "placement:" in c.explain()


def test_bmv2_growth_bar_is_the_growth_of_the_packets_the_switch_rewrites(tmp_path):
    compiles("bmv2")
    ir = example("normalize")
    c = compile_pipeline(ir, "bmv2", str(tmp_path))
    growth = next(b for b in c.bars if b.label == "packet growth")
    assert growth.limit == 512 and growth.used <= 512
    rng = np.random.default_rng(1)

    def frame(count):
        pl = (7).to_bytes(4, "big") + (1).to_bytes(2, "big") + (0).to_bytes(2, "big") + count.to_bytes(2, "big")
        return bytes(udp_frame(pl + rng.bytes(3 * count), ir.port, rng))
    # the switch rewrites packets of up to 170 pixels (the guard; more are handed to the host unchanged)
    grown = [len(Reference(ir).run([f])[0].frames[0]) - len(f) for f in map(frame, (0, 1, 64, 169, 170))]
    assert growth.used == max(grown) == 510
    assert "packet growth" in words(c) and f"{growth.used} of 512 bytes" in words(c)
    regs = next(b for b in c.bars if b.label == "register memory")
    assert regs.used == c.artifact.manifest["resources"]["register_bytes"] == 3 * 256 * 2     # three f16 LUTs


def test_dpdk_says_it_has_no_limits(tmp_path):
    compiles("dpdk")
    ir = example("criteo_log")
    c = compile_pipeline(ir, "dpdk", str(tmp_path))
    assert c.bars[0].label == "limits" and c.bars[0].text().startswith("none: no verifier")
    out = next(b for b in c.bars if b.label == "largest frame out")
    frames = generate(ir, 2000, seed=3)
    made = [r.frames[0] for r in Reference(c.nic).run(frames) if r.reason == "selected" and r.frames]
    assert out.used == max(map(len, made)) == 42 + c.split.wire.size and out.limit == 9216
    assert "none: no verifier" in words(c)


def test_cli_compile_explain_and_graph(tmp_path, capsys):
    compiles("xdp")
    from nicc.cli import main
    g = tmp_path / "split.svg"
    assert main(["compile", os.path.join(ROOT, "examples", "criteo_log.py"), "-t", "xdp", "-o", str(tmp_path / "o"),
                 "--explain", "--graph", str(g)]) == 0
    out = capsys.readouterr().out
    assert "placement:" in out and "resources against limits:" in out
    assert re.search(r"^  stack\s+(\d+ of 512 bytes|not loaded)", out, re.M)
    root = ET.fromstring(g.read_text())
    text = "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    assert "wire payload v1: 165 bytes" in text and "verified instructions" in text

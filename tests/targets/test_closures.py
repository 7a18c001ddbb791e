"""Map bodies that use values from outside them (tests/targets/closures.py) on every target,
against the reference interpreter (itself checked against a Python model in tests/unit)."""
import io
import os
import runpy

import pytest

from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime.difftest import differential_test

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLOSURES = os.path.join(ROOT, "tests", "targets", "closures.py")
MOD = runpy.run_path(CLOSURES)
NAMES = MOD["NAMES"]


def available(t, what):
    why = t.unavailable()
    if why:
        pytest.skip(f"{what} unavailable: {why}")
    return t


def xdp():
    from nicc.runtime.xdp import XdpTarget
    return available(XdpTarget(), "xdp target")


def tc():
    from nicc.runtime.tc import TcTarget
    return available(TcTarget(), "tc target")


def dpdk():
    from nicc.runtime.dpdk import DpdkTarget
    return available(DpdkTarget(echo=False), "dpdk target")


def bmv2():
    from nicc.runtime.bmv2 import Bmv2Target
    return available(Bmv2Target(), "bmv2 (p4c + simple_switch)")


TARGETS = [pytest.param(xdp, id="xdp", marks=[pytest.mark.toolchain, pytest.mark.privileged]),
           pytest.param(tc, id="tc", marks=[pytest.mark.toolchain, pytest.mark.privileged]),
           pytest.param(dpdk, id="dpdk", marks=pytest.mark.toolchain),
           pytest.param(bmv2, id="bmv2", marks=pytest.mark.toolchain)]


@pytest.mark.parametrize("make", TARGETS)
@pytest.mark.parametrize("name", NAMES)
def test_closure_idioms_match_the_reference(make, name, tmp_path):
    t = make()
    ir = run_passes(load(CLOSURES, name).trace())
    art = t.compile(ir, str(tmp_path))
    frames = MOD["frames"](ir.port, 300, seed=5)
    out = io.StringIO()
    assert differential_test(ir, t, artifact=art, frames=frames, verbose=True, out=out), out.getvalue()
    assert differential_test(ir, t, count=300, seed=6, artifact=art, verbose=True, out=out), out.getvalue()

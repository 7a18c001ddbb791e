"""`make fuzz`: long differential runs, every example on every target available here, several seeds.

Not in `make test` (marked slow). NICC_FUZZ_COUNT sets the frames per run (default 20000).
"""
import os

import pytest

import nicc.dsl as nd
from nicc.compiler.passes import run_passes
from nicc.runtime.difftest import differential_test
from nicc.runtime.target import TargetUnavailable, get_target

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COUNT = int(os.environ.get("NICC_FUZZ_COUNT", "20000"))


@pytest.mark.parametrize("seed", [101, 202, 303])
@pytest.mark.parametrize("target", ["xdp", "dpdk", "bmv2"])
@pytest.mark.parametrize("name", ["normalize", "criteo", "dedup"])
def test_long_differential(name, target, seed):
    t = get_target(target)
    try:
        t.check_available()
    except TargetUnavailable as e:
        pytest.skip(str(e))
    ir = run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())
    assert differential_test(ir, t, count=COUNT, seed=seed, verbose=True)

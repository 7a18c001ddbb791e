"""Long differential runs (slow: behind `make slow`; `make fuzz` runs nicc.runtime.fuzz with 1M frames).

NICC_FUZZ_COUNT sets the frames per pipeline per target here (default 20000).
"""
import os

import pytest

from nicc.runtime import fuzz

pytestmark = pytest.mark.slow
COUNT = int(os.environ.get("NICC_FUZZ_COUNT", "20000"))


@pytest.mark.parametrize("target", ["xdp", "tc", "dpdk", "bmv2"])
def test_long_differential(target):
    assert fuzz.main(["--count", str(COUNT), "--shard", "5000", "--targets", target, "--jobs", "1"]) == 0

"""The cache probe (nicc.benchmarks.probe, `make bench-probe`): E4's generated per-packet function in
a loop like the bench loop's, with ALU and pointer-chase probes between passes."""
import os

import pytest

from nicc.benchmarks.probe import COLUMNS, run_probe, summary
from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime.target import TargetUnavailable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.toolchain
def test_the_probe_samples_the_pipeline_and_the_caches():
    ir = run_passes(load(os.path.join(ROOT, "examples", "resize.py")).trace())
    try:
        s = run_probe(ir, seconds=1, packets=128)
    except TargetUnavailable as e:
        pytest.skip(str(e))
    n = len(s["pipeline_ns"])
    assert n >= 1 and all(len(s[c]) == n for c in COLUMNS)
    assert all(x > 0 for c in COLUMNS for x in s[c])
    # a chase through 16 MB misses the L1 and L2 on every machine: it costs more than one through 16 KB
    assert min(s["l3_ns"]) > max(s["l1_ns"])
    text = summary(s)
    assert f"{n} samples" in text and "pipeline_ns" in text and "l3_ns" in text

"""Value ranges (backends/ranges.py): every value the reference interpreter computes lies in its node's
interval, on random pipelines and on E4/E5 traffic; and what the intervals let the C renderers leave out."""
import os
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings

import nicc.dsl as nd
from nicc.backends.ranges import Ranges
from nicc.compiler import interp
from nicc.compiler.ir import Op
from nicc.compiler.passes import run_passes
from nicc.runtime.packets import generate
from tests.strategies import pipelines, random_frames

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_values_in_ranges(p, frames):
    """Run the interpreter on ``frames``, failing if a scalar value falls outside its node's interval."""
    r = Ranges(p)
    run_node = interp.BatchWalker.run_node
    seen = []

    def watched(w, n):
        v = run_node(w, n)
        if isinstance(v, np.ndarray) and n.type is not None and getattr(n.type, "is_int", False) and v.size:
            lo, hi = r.of(n)
            vals = v.astype(object) if v.dtype == np.uint64 else v
            assert lo <= int(vals.min()) and int(vals.max()) <= hi, f"{n}: values outside [{lo}, {hi}]"
            seen.append(n.op)
        return v
    with mock.patch.object(interp.BatchWalker, "run_node", watched):
        interp.Reference(p).run(frames)
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(pipelines())
def test_random_pipelines_stay_in_their_ranges(p):
    p = run_passes(p)
    check_values_in_ranges(p, generate(p, 120, 5) + random_frames(p, 30, 5))


def example(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def test_e4_and_e5_stay_in_their_ranges():
    for name in ("resize", "tokenize"):
        p = example(name)
        seen = check_values_in_ranges(p, generate(p, 200, 9))
        assert Op.GATHER in seen and Op.ELEM in seen or Op.CARRY in seen


def test_e4_intervals_and_what_they_leave_out():
    p = example("resize")
    r = Ranges(p)
    body = next(n for n in p.body.nodes if n.op is Op.MAP).body.nodes
    dx = next(n for n in body if n.op is Op.ADD and n.args[1].op is Op.ELEM)       # ox0 + k
    assert r.of(dx) == (0, 223) and r.below(dx, 224)
    muls = [n for n in body if n.op is Op.MUL and n.attr("overflow") == "sat"]
    adds = [n for n in body if n.op is Op.ADD and n.attr("overflow") == "sat"]
    assert muls and all(r.fits(n) for n in muls)                  # c0 * pixel <= 256 * 255
    assert adds and not any(r.fits(n) for n in adds)              # c0*a + c1*b: not provable by intervals
    from nicc.backends.dpdk import generate as dpdk
    c = dpdk(p)["resize_process.c"]
    assert "resize_mul_sat_u16(" not in c and "resize_add_sat_u16(" in c
    assert "resize_lut_col_ofs[v" in c and "< 224U ? resize_lut_col_ofs" not in c

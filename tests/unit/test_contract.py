"""The run contract (nicc.compiler.contract): outcomes, their codes everywhere, and target limits."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.contract import CODES, OUTCOMES, UNLIMITED, Limits, counters, result
from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.runtime.difftest import VacuousTest, differential_test
from nicc.runtime.packets import MAX_JUMBO, RecordShape, generate, udp_frame
from nicc.runtime.target import InterpTarget

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIG = os.path.join(ROOT, "tests", "targets", "pipelines", "big.py")


def example(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def test_every_target_spells_the_codes_the_same():
    from nicc.backends.dpdk import RUNTIME
    from nicc.backends.xdp.renderer import generate as xdp_generate
    header = open(os.path.join(RUNTIME, "nicc_dp.h")).read()
    enum = {m.group(1).lower(): int(m.group(2)) for m in re.finditer(r"NICC_([A-Z]+) = (\d+),", header)}
    assert enum == CODES
    src, _ = xdp_generate(example("dedup"))
    assert {m.group(1).lower(): int(m.group(2)) for m in re.finditer(r"#define NICC_([A-Z]+) (\d+)\n", src)
            if m.group(1).lower() in CODES} == CODES
    runtime_c = open(os.path.join(RUNTIME, "nicc_dp.c")).read()
    names = re.search(r"nicc_outcome_names\[NICC_NB_OUTCOMES\] = \{\s*(.*?)\s*\};", runtime_c, re.S).group(1)
    assert tuple(re.findall(r'"(\w+)"', names)) == OUTCOMES


def test_result_and_counters():
    rs = [result("pass", [b"a"]), result("drop", [b"x"]), result("malformed", [b"m"]),
          result("unhandled", [b"u"]), result("multicast", [b"1", b"2"]), result("host", [b"h"])]
    assert [r.outcome for r in rs] == ["pass", "drop", "malformed", "unhandled", "multicast", "host"]
    assert rs[1].frames == []
    c = counters(rs)
    assert c == {"rx": 6, "pass": 4, "transmit": 0, "drop": 1, "multicast": 1, "malformed": 1, "unselected": 0,
                 "unhandled": 1, "host": 1, "tx_frames": 6}
    with pytest.raises(ValueError):
        result("lost")


def test_reference_under_limits_predicts_unhandled_frames():
    ir = run_passes(nd.load(BIG, "grow").trace())
    rng = np.random.default_rng(0)
    frames = [bytes(udp_frame(n.to_bytes(2, "big") + bytes(n), 9102, rng)) for n in (10, 100, 200)]
    limits = Limits("small", max_in=300, fits=lambda n, m: m <= 500)
    got = Reference(ir, limits).run(frames)
    free = Reference(ir).run(frames)
    assert [r.outcome for r in free] == ["pass"] * 3
    # 10 values -> 84 bytes: fits; 100 -> 444 bytes: fits 500; 200 -> 242-byte frame in, 844 out: no room
    assert [r.outcome for r in got] == ["pass", "pass", "unhandled"]
    assert got[2].frames == [frames[2]]                           # unchanged
    big = bytes(udp_frame(b"\x00\x01" + bytes(400), 9102, rng))   # over max_in: not even run
    assert Reference(ir, limits).run([big])[0].outcome == "unhandled"


def test_frames_over_max_in_do_not_touch_state():
    ir = example("dedup")
    rng = np.random.default_rng(0)
    msg = lambda i, pad: bytes(udp_frame(i.to_bytes(8, "big") + bytes(pad), 9003, rng))   # noqa: E731
    limits = Limits("small", max_in=200)
    got = Reference(ir, limits).run([msg(5, 500), msg(5, 0), msg(5, 0)])
    # the big frame never ran: the first small one is still fresh
    assert [r.outcome for r in got] == ["unhandled", "pass", "drop"]


def test_generator_is_reproducible_across_processes():
    code = ("import hashlib, nicc.dsl as nd; from nicc.compiler.passes import run_passes; "
            "from nicc.runtime.packets import generate; "
            "ir = run_passes(nd.load('examples/criteo.py').trace()); "
            "print(hashlib.sha256(b''.join(generate(ir, 500, seed=42))).hexdigest())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
            for _ in range(2)}
    import hashlib
    here = hashlib.sha256(b"".join(generate(example("criteo"), 500, seed=42))).hexdigest()
    assert outs == {here + "\n"}
    assert generate(example("criteo"), 200, seed=1) != generate(example("criteo"), 200, seed=2)


def test_generator_makes_jumbo_frames_and_frames_as_big_as_the_record():
    frames = generate(example("normalize"), 3000, seed=3)
    sizes = [len(f) for f in frames]
    assert max(sizes) <= MAX_JUMBO and sum(s > 1518 for s in sizes) > 30 and min(sizes) < 14
    ir = run_passes(nd.load(BIG, "big").trace())
    assert RecordShape.of(ir).max_payload == 4004
    res = Reference(ir).run(generate(ir, 500, seed=1))
    assert sum(r.outcome == "pass" for r in res) > 100          # records of 4004 bytes arrive whole


def test_a_test_that_exercises_nothing_fails():
    ir = example("criteo")
    rng = np.random.default_rng(0)
    unselected = [bytes(udp_frame(bytes(157), 1234, rng)) for _ in range(20)]
    with pytest.raises(VacuousTest):
        differential_test(ir, InterpTarget(), frames=unselected)
    assert differential_test(ir, InterpTarget(), count=200, seed=1)


def test_cli_test_refuses_zero_frames():
    r = subprocess.run([sys.executable, "-m", "nicc.cli", "test", "examples/criteo.py", "--target", "interp",
                        "--count", "0"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "--count" in r.stderr


def test_unlimited_reference_is_the_default():
    assert Reference(example("dedup")).limits is UNLIMITED

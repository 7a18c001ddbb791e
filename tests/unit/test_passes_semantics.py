"""The pass list never changes what a pipeline means, and the facts it records are true.

Random pipelines (tests/strategies.py, tests/record_strategies.py) run on the reference
interpreter before and after the passes, on generated traffic (fields at boundary values, counts
at 0, 1, max and max + 1, truncated and malformed frames at every layer) and random payloads.
The attributes renderers rely on are checked against the interpreter's own run:

* ``checked``: an interpreter that skips the bounds check of every ``checked`` read gives the same
  results (the check never fired);
* ``fuse=emit``: no packet still alive when a fused map starts stops before the final verdict;
* ``trip=N``: every packet alive at the map has N elements.
"""
from contextlib import contextmanager
from unittest import mock

from hypothesis import HealthCheck, given, settings

from nicc.compiler import interp
from nicc.compiler.ir import Op
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes
from nicc.runtime.packets import generate
from tests.record_strategies import record_pipelines
from tests.strategies import pipelines, random_frames

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck))


def results(p, frames):
    return [(r.verdict, r.reason, r.frames) for r in interp.Reference(p).run(frames)]


def traffic(p, seed=3):
    return generate(p, 150, seed) + random_frames(p, 40, seed)


@contextmanager
def trusting_checked_reads():
    """The interpreter with no bounds check on ``checked`` reads (they read zeros past the end)."""
    need = interp.BatchWalker.need_bytes

    def need_bytes(w, end, n):
        if not n.attr("checked"):
            need(w, end, n)
    with mock.patch.object(interp.BatchWalker, "need_bytes", need_bytes):
        yield


@contextmanager
def watching_fusion_and_trips():
    """Fail if a packet alive at a fused map stops before the end, or a map's count is not its trip."""
    rules, need = dict(interp.EVAL_RULES), interp.BatchWalker.need_bytes

    def guard(w, cond):
        alive = getattr(w, "alive_at_fused_map", None)
        assert alive is None or not (alive & w.alive & cond).any(), "a packet stopped after a fused map"

    def r_map(w, n, *arrays):
        if n.attr("fuse") == "emit":
            w.alive_at_fused_map = w.alive.copy()
        trip = n.attr("trip")
        assert trip is None or (arrays[0].count[w.alive] == trip).all(), f"trip={trip} is wrong"
        return rules[Op.MAP](w, n, *arrays)

    def r_check(w, n, c):
        guard(w, c)
        return rules[n.op](w, n, c)

    def need_bytes(w, end, n):
        guard(w, w.lengths < end)
        need(w, end, n)
    patched = {Op.MAP: r_map, Op.REJECT_IF: r_check, Op.VERDICT_IF: r_check}
    with mock.patch.dict(interp.EVAL_RULES, patched), mock.patch.object(interp.BatchWalker, "need_bytes", need_bytes):
        yield


def check_passes(p):
    frames = traffic(p)
    want = results(p, frames)
    text = str(p)
    q = run_passes(parse_pipeline(text))
    assert results(q, frames) == want, f"the passes changed the meaning of\n{text}\ninto\n{q}"
    with trusting_checked_reads():
        assert results(q, frames) == want, f"a checked read was out of bounds in\n{q}"
    with watching_fusion_and_trips():
        results(q, frames)
    printed = str(q)
    assert str(parse_pipeline(printed)) == printed                    # notes and attributes round-trip
    assert str(run_passes(parse_pipeline(printed))) == printed        # the pass list is at a fixed point


@settings(max_examples=60, **SETTINGS)
@given(pipelines())
def test_passes_keep_meaning_of_random_pipelines(p):
    check_passes(p)


@settings(max_examples=120, **SETTINGS)
@given(record_pipelines())
def test_passes_keep_meaning_of_random_records(p):
    check_passes(p)


def test_the_checks_catch_a_wrong_checked_attribute():
    """The harness itself: a read marked checked that is not makes the trusting interpreter differ."""
    from tests.unit.ir_fixtures import parse, pipe
    p = parse(pipe("%0:u32 = field[name=a, offset=0, endian=be, checked=1]\nemit[endian=(be)] %0\n"
                   "verdict[verdict=pass, group=none]"))
    frames = traffic(p)
    honest = results(p, frames)
    with trusting_checked_reads():
        assert results(p, frames) != honest

"""Differential testing: a target against the reference interpreter, frame by frame.

Generated traffic (:mod:`nicc.runtime.packets`) runs through both; every frame
must get the same verdict and the same output bytes. On a mismatch the
sequence is shrunk (delta debugging: the shortest prefix, then as few earlier
packets as still reproduce it) and the counterexample is printed with both
outputs.
"""
from __future__ import annotations

import sys

from ..compiler.contract import Result, counters, format_counters
from ..compiler.interp import Reference
from ..compiler.ir import Pipeline
from .packets import generate
from .target import Artifact, Target


def _same(a: Result, b: Result) -> bool:
    return a.verdict == b.verdict and a.frames == b.frames


def first_mismatch(ref: list[Result], got: list[Result]) -> int | None:
    if len(ref) != len(got):
        return min(len(ref), len(got))
    return next((i for i, (a, b) in enumerate(zip(ref, got)) if not _same(a, b)), None)


class Runner:
    """Runs frame sequences through the target (artifact built once) and the reference."""

    def __init__(self, ir: Pipeline, target: Target, artifact: Artifact | None = None):
        self.ir, self.target = ir, target
        self.artifact = target.ensure_artifact(ir, artifact)
        self.runs = 0

    def mismatch(self, frames: list[bytes]) -> int | None:
        self.runs += 1
        return first_mismatch(self.reference().run(frames), self.target.run(self.ir, frames, self.artifact))

    def reference(self) -> Reference:
        """The reference interpreter under the target's declared limits (the contract's "unhandled")."""
        return Reference(self.ir, self.target.limits)


def shrink(runner: Runner, frames: list[bytes], budget: int = 40) -> list[bytes]:
    """A short sequence whose last frame still mismatches (ddmin over the earlier frames)."""
    i = runner.mismatch(frames)
    if i is None:
        return frames
    frames = frames[:i + 1]
    if not runner.ir.stateful:
        return frames[-1:] if runner.mismatch(frames[-1:]) is not None else frames
    prefix, last = frames[:-1], frames[-1]
    n = 2
    while prefix and runner.runs < budget:
        size = max(1, len(prefix) // n)
        for k in range(0, len(prefix), size):
            cand = prefix[:k] + prefix[k + size:]
            if runner.mismatch(cand + [last]) is not None:
                prefix, n = cand, max(n - 1, 2)
                break
        else:
            if size == 1:
                break
            n = min(len(prefix), n * 2)
    return prefix + [last]


def _show(r: Result) -> str:
    if not r.frames:
        return f"{r.verdict} (no frame)"
    return f"{r.verdict} ({r.reason})\n" + "\n".join(f"      {f.hex()}" for f in r.frames)


class VacuousTest(Exception):
    """The frames exercised nothing: no frame was selected and processed by the pipeline."""


def differential_test(ir: Pipeline, target: Target, count: int = 2000, seed: int = 0, verbose: bool = False,
                      artifact: Artifact | None = None, frames: list[bytes] | None = None, out=None,
                      stats: dict | None = None, ref: list[Result] | None = None) -> bool:
    """True when ``target`` matches the reference on ``count`` generated frames (or ``frames``).

    Raises :class:`VacuousTest` when no frame reached the pipeline's own verdicts (nothing was tested).
    ``stats``, if given, receives the reference's counters and ``processed`` (frames the pipeline decided).
    ``ref``: the reference's results on ``frames`` under this target's limits, when the caller has them."""
    out = out or sys.stdout
    frames = frames if frames is not None else generate(ir, count, seed)
    runner = Runner(ir, target, artifact)
    ref = ref if ref is not None else runner.reference().run(frames)
    c = counters(ref)
    processed = sum(c[v] for v in ("pass", "transmit", "drop", "multicast")) - c["malformed"] - c["unselected"] \
        - c["unhandled"]
    if stats is not None:
        stats.update(c, processed=processed)
    if processed == 0:
        raise VacuousTest(f"{ir.name}: none of the {len(frames)} frames (seed {seed}) reached the pipeline's "
                          f"verdicts (malformed {c['malformed']}, unselected {c['unselected']}, "
                          f"unhandled {c['unhandled']}): the test would prove nothing")
    got = target.run(ir, frames, runner.artifact)
    i = first_mismatch(ref, got)
    if i is None:
        if verbose:
            print(f"{ir.name}: {target.name} matches the reference interpreter on {len(frames)} frames "
                  f"(seed {seed}), {processed} of them processed by the pipeline: {format_counters(c)}", file=out)
        return True
    small = shrink(runner, frames)
    r_ref = runner.reference().run(small)[-1]
    r_got = target.run(ir, small, runner.artifact)
    r_got = r_got[-1] if len(r_got) == len(small) else Result("?", "missing")
    print(f"{ir.name}: MISMATCH on {target.name} at frame {i} of {len(frames)} (seed {seed}); "
          f"shrunk to {len(small)} frame(s)", file=out)
    for k, f in enumerate(small):
        print(f"  frame {k}: {f.hex()}", file=out)
    print(f"  reference: {_show(r_ref)}", file=out)
    print(f"  {target.name}: {_show(r_got)}", file=out)
    return False

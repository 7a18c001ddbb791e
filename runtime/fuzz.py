"""Long differential runs: every pipeline on every target, against the reference interpreter.

    python -m nicc.runtime.fuzz --count 1000000              # `make fuzz`: 1M frames per pipeline per target
    python -m nicc.runtime.fuzz --count 20000 --targets xdp examples/criteo.py
    python -m nicc.runtime.fuzz --count 1000000 --limit bmv2=20000     # fewer on a slow target

Frames come from :mod:`nicc.runtime.packets` in shards (``--shard`` frames, each shard its own
seed and its own run from the pipeline's initial state, so that shards run in parallel on
``--jobs`` processes); each shard is compared frame by frame with the reference interpreter
under the target's limits (:mod:`nicc.runtime.difftest`). A mismatch is shrunk and printed, and
the run fails. A progress bar per target shows frames done; the summary gives frames, frames the
pipelines processed (not malformed, unselected or unhandled), mismatches and time. A shard in which
no frame reached the pipeline's verdicts on a target (e.g. every frame beyond the target's test-run
limits) compares nothing: it is listed as such and not counted.
"""
from __future__ import annotations

import argparse
import glob
import io
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import defaultdict

from tqdm import tqdm

from nicc.compiler.interp import Reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Not "interp": it is the reference, so comparing it with itself could not fail. The interpreter is
# checked against a packet-by-packet oracle and the real libraries in tests/unit.
DEFAULT_TARGETS = ("xdp", "tc", "dpdk", "bmv2")


def default_pipelines() -> list[str]:
    """The examples (each FILE, or FILE:NAME for each pipeline of a file with several) and the size tests."""
    from nicc.dsl import load_all
    found = []
    for p in sorted(glob.glob(os.path.join(ROOT, "examples", "*.py"))):
        if os.path.basename(p) == "demo.py":
            continue
        names = list(load_all(p))
        found += [p] if len(names) == 1 else [f"{p}:{n}" for n in names]
    big = os.path.join(ROOT, "tests", "targets", "pipelines", "big.py")
    return found + ([f"{big}:big", f"{big}:grow"] if os.path.exists(big) else [])


def parse_limits(items: list[str], targets: list[str]) -> dict[str, int]:
    """``--limit T=N`` options: at most N frames per pipeline on target T."""
    out = {}
    for it in items:
        t, sep, n = it.partition("=")
        if not sep or t not in targets or not n.isdigit():
            raise SystemExit(f"--limit {it}: expected TARGET=N with TARGET one of {', '.join(targets)}")
        out[t] = int(n)
    return out


_IRS: dict = {}
_ARTIFACTS: dict = {}


def _load(spec: str):
    """The pipeline of ``spec`` after the passes (once per worker process)."""
    if spec not in _IRS:
        import nicc.dsl as nd
        from nicc.compiler.passes import run_passes
        path, _, name = spec.partition(":")
        _IRS[spec] = run_passes(nd.load(path, name or None).trace())
    return _IRS[spec]


def _artifact(spec: str, ir, t, workdir: str):
    """The pipeline compiled for ``t`` (once per worker process, under the run's work directory); a
    refusal (NiccError) is kept and raised again for the pipeline's other shards."""
    from nicc.compiler.errors import NiccError
    key = (spec, t.name)
    if key not in _ARTIFACTS:
        try:
            _ARTIFACTS[key] = t.compile(ir, tempfile.mkdtemp(prefix=f"{t.name}-", dir=workdir))
        except NiccError as e:
            _ARTIFACTS[key] = e
    if isinstance(_ARTIFACTS[key], Exception):
        raise _ARTIFACTS[key]
    return _ARTIFACTS[key]


def _shard(task: tuple[str, int, int, list[tuple[str, int]], str]) -> list[dict]:
    """Run one shard of one pipeline on its targets: the frames are generated once, the reference runs
    once per distinct set of target limits, each target runs its first n frames. One result per target
    (counts, and the printed counterexample on a mismatch). A target run that fails (the switch died,
    a fault in nicc) is that shard's failure, with its traceback: the rest of the run goes on."""
    from nicc.compiler.errors import NiccError
    from nicc.runtime.difftest import VacuousTest, differential_test
    from nicc.runtime.packets import generate
    from nicc.runtime.target import TargetUnavailable, get_target
    spec, shard_id, seed, plan, workdir = task
    ir = _load(spec)
    frames = generate(ir, max(n for _, n in plan), seed)
    refs, out = {}, []
    for tname, n in plan:
        base = dict(spec=spec, target=tname, frames=n, shard=shard_id, seed=seed)
        t = get_target(tname)
        own = getattr(t, "base", t)         # a SplitTarget's own target
        if hasattr(own, "echo"):
            own.echo = False                # no per-run counter lines between the progress bars
        try:
            t.check_available()
        except TargetUnavailable as e:
            out.append(dict(base, skipped=str(e)))
            continue
        try:
            art = _artifact(spec, ir, t, workdir)
        except NiccError as e:       # the target refuses this pipeline (e.g. an op it cannot lower yet)
            out.append(dict(base, refused=e.message))
            continue
        if t.limits.name not in refs:
            refs[t.limits.name] = Reference(ir, t.limits).run(frames)
        stats, text = {}, io.StringIO()
        t0 = time.perf_counter()
        try:
            ok = differential_test(ir, t, frames=frames[:n], seed=seed, out=text, stats=stats, artifact=art,
                                   ref=refs[t.limits.name][:n])
        except VacuousTest as e:    # nothing to compare: e.g. every frame beyond the target's test-run limits
            out.append(dict(base, untested=str(e)))
            continue
        except Exception:           # noqa: BLE001 - reported as this shard's failure, the run goes on
            out.append(dict(base, ok=False, crashed=True, report=f"{spec} on {tname}, shard {shard_id} (seed {seed}) failed:\n"
                                   f"{traceback.format_exc()}"))
            continue
        out.append(dict(base, ok=ok, processed=stats["processed"], unhandled=stats["unhandled"],
                        report=text.getvalue(), seconds=time.perf_counter() - t0))
    return out


def _progress(results: list[dict], bars: dict):
    """Yield a shard's results, advancing the targets' progress bars and printing mismatches as they come."""
    for r in results:
        bars[r["target"]].update(r["frames"])
        if r.get("ok") is False:
            tqdm.write(r["report"], file=sys.stderr)
        yield r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nicc.runtime.fuzz", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pipelines", nargs="*", metavar="PIPELINE", help="FILE or FILE:NAME (default: the examples)")
    ap.add_argument("--count", type=int, default=1_000_000, help="frames per pipeline per target (default 1M)")
    ap.add_argument("--shard", type=int, default=20_000, help="frames per shard (default 20000)")
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated targets")
    ap.add_argument("--seed", type=int, default=1, help="base seed (shard k of a run uses seed*100003 + k)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    ap.add_argument("--limit", action="append", default=[], metavar="TARGET=N",
                    help="at most N frames per pipeline on TARGET (a slow target: bmv2); repeatable")
    a = ap.parse_args(argv)
    specs = a.pipelines or default_pipelines()
    targets = [t for t in a.targets.split(",") if t]
    counts = {t: min(a.count, n) for t, n in parse_limits(a.limit, targets).items()}
    workdir = tempfile.mkdtemp(prefix="nicc-fuzz-")
    tasks = []
    for spec in specs:
        for k, start in enumerate(range(0, max(counts.get(t, a.count) for t in targets), a.shard)):
            plan = [(t, min(a.shard, counts.get(t, a.count) - start)) for t in targets
                    if counts.get(t, a.count) > start]
            tasks.append((spec, k, a.seed * 100003 + k, plan, workdir))
    bars = {t: tqdm(total=counts.get(t, a.count) * len(specs), desc=f"{t:6}", unit="fr", unit_scale=True,
                    file=sys.stderr, position=i, dynamic_ncols=True) for i, t in enumerate(targets)}
    done: dict[tuple[str, str], dict] = defaultdict(lambda: dict(frames=0, processed=0, unhandled=0, seconds=0.0))
    failures, skipped, refused, untested = [], {}, {}, defaultdict(list)
    t0 = time.time()
    try:
        with mp.get_context("spawn").Pool(a.jobs) as pool:
            results = [r for rs in pool.imap_unordered(_shard, tasks) for r in _progress(rs, bars)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for r in results:
        if "skipped" in r:
            skipped[r["target"]] = r["skipped"]
            continue
        if "refused" in r:
            refused[(r["spec"], r["target"])] = r["refused"]
            continue
        if "untested" in r:
            untested[(r["spec"], r["target"])].append(r["untested"])
            continue
        if r.get("crashed"):                   # failed before comparing: its frames are not counted
            failures.append(r)
            continue
        d = done[(r["spec"], r["target"])]
        for k in ("frames", "processed", "unhandled", "seconds"):
            d[k] += r.get(k, 0)
        if not r["ok"]:
            failures.append(r)
    for b in bars.values():
        b.close()
    wall = time.time() - t0
    total = sum(d["frames"] for d in done.values())
    print(f"\n{'pipeline':28} {'target':7} {'frames':>10} {'processed':>10} {'unhandled':>10} {'s':>8}")
    for (spec, tname), d in sorted(done.items()):
        name = os.path.basename(spec.partition(":")[0]) + (":" + spec.partition(":")[2] if ":" in spec else "")
        print(f"{name:28} {tname:7} {d['frames']:>10,} {d['processed']:>10,} {d['unhandled']:>10,} "
              f"{d['seconds']:>8.0f}")
    for tname, why in skipped.items():
        print(f"skipped {tname}: {why}")
    for (spec, tname), why in sorted(refused.items()):
        print(f"refused by {tname}: {os.path.basename(spec)}: {why}")
    for (spec, tname), whys in sorted(untested.items()):
        print(f"nothing to compare on {tname} in {len(whys)} shard(s) of {os.path.basename(spec)} (not counted): "
              f"{whys[0]}")
    print(f"{total:,} frames compared with the reference in {wall / 60:.1f} min ({a.jobs} processes); "
          f"{len(failures)} shard(s) with a mismatch")
    return 1 if failures or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

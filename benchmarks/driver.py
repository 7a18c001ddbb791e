"""The benchmark driver behind ``make bench`` and ``nicc bench``.

For each pipeline (compiled by the current nicc, so a new midend is measured by rerunning this)
and each target, on two frame sets (:mod:`.workloads`: ``full`` and ``mix``), it measures side by
side in one run:

* ``floor``: the target's own cost with nothing to do (a pass-through XDP program, the DPDK
  loop around a function that does nothing);
* ``nicc``: the code nicc generates;
* ``hand``: the hand-written baseline of the same work (``benchmarks/baselines/``), if any;
* on the host: the library a user would pick instead (torch for E1, numpy + zlib for E2, on the
  full set) and nicc's reference interpreter.

Every variant's output is checked against the reference interpreter on the frames it is timed
on, before timing. The measurements run in ``passes``: each pass measures every target, set and
host variant in turn (and each target alternates its variants inside), so load from other
processes falls on all of them alike. Reported: median ns/packet over all rounds, the 25th and
75th percentiles, packets/s on one core (1e9 / median).

    results = bench([ir], ["xdp", "dpdk"], Settings())
    print(report.table(results))
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass

import numpy as np

from ..compiler.ir import Pipeline
from ..runtime.target import TargetUnavailable
from . import measure_dpdk, measure_host, measure_xdp
from .registry import baseline_for
from .workloads import SETS, expected, frame_set

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ("xdp", "dpdk")
EXAMPLES = ("normalize", "criteo", "dedup")
METHODS = {"xdp": measure_xdp.METHOD, "dpdk": measure_dpdk.METHOD, "host": measure_host.METHOD}


@dataclass
class Settings:
    packets: int = 1024           # frames per set
    passes: int = 3               # rounds of the whole schedule
    dpdk_rounds: int = 60         # per pass: each a pass over all frames, per variant
    xdp_rounds: int = 4           # per pass: each one call per frame, per variant
    host_reps: int = 10           # per pass: host library calls on all frames
    interp_reps: int = 1          # per pass: interpreter runs on >= 4096 frames
    seed: int = 1
    lcores: int = 2               # DPDK: also on this many lcores at once (1: one core only)

    @classmethod
    def quick(cls) -> "Settings":
        return cls(packets=128, passes=2, dpdk_rounds=10, xdp_rounds=2, host_reps=2, interp_reps=1)


def load_example(name: str) -> Pipeline:
    from ..compiler.passes import run_passes
    from ..dsl import load
    return run_passes(load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def _stats(ns: list[float]) -> dict:
    a = np.asarray(ns, dtype=float)
    med = float(np.median(a))
    return {"median_ns": med, "p25_ns": float(np.percentile(a, 25)), "p75_ns": float(np.percentile(a, 75)),
            "min_ns": float(a.min()), "samples": len(a), "pps": 1e9 / med if med > 0 else None}


def _make(target: str, ir: Pipeline, frames, exp, workdir: str, settings: Settings):
    b = baseline_for(ir)
    if target == "xdp":
        return measure_xdp.XdpBench(ir, b, frames, exp, workdir)
    if target == "dpdk":
        return measure_dpdk.DpdkBench(ir, b, frames, exp, workdir, settings.lcores)
    raise KeyError(target)


def bench_pipeline(ir: Pipeline, targets, settings: Settings, workdir: str, log=None) -> tuple[list[dict], list[str]]:
    """Rows (one per target and frame set) for one pipeline, and notes on what was skipped."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    base = baseline_for(ir)
    notes, benches, outcomes = [], [], {}
    for kind in SETS:
        log(f"{ir.name}: {kind} frames ...")
        frames = frame_set(ir, kind, settings.packets, settings.seed)
        exp = expected(ir, frames)
        outcomes[kind] = {}
        for e in exp:
            outcomes[kind][e.name] = outcomes[kind].get(e.name, 0) + 1
        for target in targets:
            try:
                log(f"{ir.name}: building and checking {target} ({kind}) ...")
                benches.append((target, kind, _make(target, ir, frames, exp,
                                                    os.path.join(workdir, ir.name, target, kind), settings)))
            except TargetUnavailable as e:
                notes.append(f"{ir.name} on {target}: skipped ({e})")
        if base is not None and base.host is not None and kind == "full":
            benches.append(("host", kind, measure_host.HostBench(base.host, frames, exp)))
        benches.append(("host", kind, measure_host.InterpBench(ir, frames)))
    reps = {"xdp": settings.xdp_rounds, "dpdk": settings.dpdk_rounds}
    samples: dict[tuple, list[float]] = defaultdict(list)
    owner = {}
    try:
        for p in range(settings.passes):
            log(f"{ir.name}: pass {p + 1} of {settings.passes} ...")
            for target, kind, b in benches:
                n = reps.get(target) or (settings.host_reps if isinstance(b, measure_host.HostBench)
                                          else settings.interp_reps)
                for variant, ns in b.measure(n).items():
                    samples[(target, kind, variant)].extend(ns)
                    owner[(target, kind, variant)] = b
    finally:
        for _, _, b in benches:
            b.close()
    rows: dict[tuple, dict] = {}
    for (target, kind, variant), ns in samples.items():
        b = owner[(target, kind, variant)]
        row = rows.setdefault((target, kind), {
            "example": ir.name, "target": target, "set": kind, "packets": settings.packets,
            "outcomes": outcomes[kind], "method": METHODS[target], "variants": {}})
        v = row["variants"][variant] = _stats(ns)
        if variant in b.exact:
            v["exact"], v["mismatches"] = b.exact[variant]
        if getattr(b, "insns", {}).get(variant):
            v["verified_insns"] = b.insns[variant]
    order = sorted(rows, key=lambda k: (("xdp", "dpdk", "host").index(k[0]), SETS.index(k[1])))
    return [rows[k] for k in order], notes


def _cmd(*args: str) -> str | None:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=30, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def machine() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    dirty = _cmd("git", "status", "--porcelain", "--untracked-files=no")
    return {"cpu": cpu, "cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "numpy": np.__version__, "gcc": (_cmd("gcc", "-dumpfullversion") or "?"),
            "clang": ((_cmd("clang", "--version") or "?").splitlines() or ["?"])[0],
            "dpdk": _cmd("pkg-config", "--modversion", "libdpdk"),
            "nicc_commit": (_cmd("git", "rev-parse", "--short", "HEAD") or "?") + ("+dirty" if dirty else ""),
            "load_average": list(os.getloadavg())}


def bench(irs: list[Pipeline], targets, settings: Settings | None = None, workdir: str | None = None,
          log=None) -> dict:
    """Measure ``irs`` on ``targets`` (plus the host rows); the results as one JSON-able dict."""
    settings = settings or Settings()
    t0 = time.time()
    date = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    info = machine()
    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="nicc-bench-") as tmp:
        for ir in irs:
            r, n = bench_pipeline(ir, targets, settings, workdir or tmp, log)
            rows += r
            notes += n
    info["load_average_end"] = list(os.getloadavg())
    return {"date": date, "seconds": round(time.time() - t0, 1),
            "machine": info, "settings": asdict(settings), "methods": METHODS, "rows": rows, "notes": notes}

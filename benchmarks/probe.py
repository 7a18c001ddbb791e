"""``make bench-probe``: does a pipeline's DPDK time follow the machine's caches or its ALU?

On a shared host the neighbours' load changes the L2 and L3 latency a loop sees, by several times
within seconds, and a cache-resident loop slows far more than a streaming library does. This runs
the pipeline's generated per-packet function in a loop like the bench loop's (``cache_probe.c``)
and, between passes, an ALU loop and pointer chases through 16 KB, 512 KB and 16 MB; it prints the
10th, 50th and 90th percentiles of each and the correlation of the pipeline's time with each probe.

    python -m nicc.benchmarks.probe [examples/resize.py] [--seconds 20] [--packets 1024]
    samples = run_probe(ir, seconds=2)      # {"pipeline_ns": [...], "alu_ns": [...], "l1_ns": ..., ...}
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

from ..compiler.ir import Pipeline
from ..runtime.dpdk import frames_blob
from ..runtime.target import TargetUnavailable
from .measure_dpdk import build_with_pipeline
from .registry import HERE
from .workloads import frame_set

SOURCE = os.path.join(HERE, "cache_probe.c")
COLUMNS = ("pipeline_ns", "alu_ns", "l1_ns", "l2_ns", "l3_ns")


def run_probe(ir: Pipeline, seconds: float = 20, packets: int = 1024, seed: int = 1) -> dict[str, list[float]]:
    """Samples of the pipeline's ns a packet and of the probes, over ``seconds``."""
    with tempfile.TemporaryDirectory(prefix="nicc-probe-") as tmp:
        exe = build_with_pipeline(ir, tmp, SOURCE, f"{ir.name}_probe", what="the cache probe")
        frames = os.path.join(tmp, "frames")
        with open(frames, "wb") as f:
            f.write(frames_blob(frame_set(ir, "full", packets, seed)))
        r = subprocess.run([exe, frames, str(seconds)], capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode != 0:
        raise RuntimeError(f"the cache probe failed with status {r.returncode}: {r.stderr[-2000:]}")
    lines = r.stdout.split("\n")
    if not lines or lines[0].split() != list(COLUMNS):
        raise RuntimeError(f"unexpected cache probe output: {r.stdout[:200]!r}")
    rows = [[float(x) for x in ln.split()] for ln in lines[1:] if ln.strip()]
    return {c: [row[k] for row in rows] for k, c in enumerate(COLUMNS)}


def summary(samples: dict[str, list[float]]) -> str:
    """Percentiles of each column and each probe's correlation with the pipeline's time."""
    d = np.asarray([samples[c] for c in COLUMNS])
    out = [f"{len(d[0])} samples", f"{'':12} {'p10':>9} {'p50':>9} {'p90':>9}  correlation with the pipeline"]
    corr = np.corrcoef(d)[0] if len(d[0]) > 1 else np.full(len(COLUMNS), np.nan)
    for k, c in enumerate(COLUMNS):
        p10, p50, p90 = np.percentile(d[k], [10, 50, 90])
        out.append(f"{c:12} {p10:9.2f} {p50:9.2f} {p90:9.2f}  {'' if k == 0 else f'{corr[k]:.2f}'}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nicc.benchmarks.probe", description=__doc__.split("\n\n")[0])
    ap.add_argument("pipeline", nargs="?", default=os.path.join(os.path.dirname(HERE), "examples", "resize.py"))
    ap.add_argument("--seconds", type=float, default=20, help="how long to sample (default 20)")
    ap.add_argument("--packets", type=int, default=1024, help="frames in the set (default 1024)")
    args = ap.parse_args(argv)
    from ..compiler.passes import run_passes
    from ..dsl import load
    ir = run_passes(load(args.pipeline).trace())
    try:
        samples = run_probe(ir, args.seconds, args.packets)
    except TargetUnavailable as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 0
    print(f"{ir.name} on dpdk (a loop like the bench loop's), probes between passes:")
    print(summary(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())

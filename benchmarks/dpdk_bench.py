"""DPDK target benchmark of the three examples: `python benchmarks/dpdk_bench.py [--packets N]`.

Same as `nicc bench EXAMPLE --target dpdk` for each example: packets/s and ns/packet on one
core (in-memory mbufs refilled from the original frames), the no-op floor, the interpreter."""
import argparse
import os
import sys

from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime.dpdk import DpdkTarget

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=2000)
    a = ap.parse_args()
    t = DpdkTarget()
    why = t.unavailable()
    if why:
        print(f"dpdk unavailable: {why}", file=sys.stderr)
        sys.exit(3)
    for ex in ("normalize", "criteo", "dedup"):
        t.bench(run_passes(load(os.path.join(ROOT, "examples", f"{ex}.py")).trace()), a.packets)

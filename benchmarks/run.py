"""`make bench`: every example on every target available here, side by side in one run.

    python benchmarks/run.py [--examples criteo normalize] [--targets xdp dpdk] [--quick] [--out DIR]

Prints the table (and the goals of issue 9), writes bench.json, bench.md and bench.png to
benchmarks/results/. ``nicc bench PIPELINE --target T`` runs the same code on one pipeline.
Exit status 1 if nicc's output differed from the reference interpreter on a measured frame.
"""
from __future__ import annotations

import argparse
import os
import sys

from nicc.benchmarks.driver import EXAMPLES, TARGETS, Settings, bench, load_example
from nicc.benchmarks.report import table, write

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def run_bench(irs, targets, settings: Settings, out: str | None = None) -> int:
    results = bench(irs, targets, settings)
    print(table(results), flush=True)
    if out:
        paths = write(results, out)
        print("wrote " + ", ".join(paths.values()))
    wrong = [f"{r['example']} on {r['target']} ({r['set']})" for r in results["rows"]
             if not r["variants"].get("nicc", {}).get("exact", True)]
    if wrong:
        print("nicc's output differs from the reference interpreter: " + "; ".join(wrong), file=sys.stderr)
    return 1 if wrong else 0


def settings_from(a: argparse.Namespace) -> Settings:
    s = Settings.quick() if a.quick else Settings()
    if a.packets:
        s.packets = a.packets
    if a.passes:
        s.passes = a.passes
    return s


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--packets", type=int, help="frames per frame set (default 1024)")
    p.add_argument("--passes", type=int, help="passes over the whole schedule (default 3)")
    p.add_argument("--quick", action="store_true", help="few frames and rounds: a smoke test, not a measurement")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", nargs="+", default=list(EXAMPLES), choices=EXAMPLES)
    p.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    p.add_argument("--out", default=RESULTS, help=f"where to write the results (default {RESULTS})")
    add_options(p)
    a = p.parse_args(argv)
    return run_bench([load_example(e) for e in a.examples], a.targets, settings_from(a), a.out)


if __name__ == "__main__":
    sys.exit(main())

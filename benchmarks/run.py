"""`make bench`: `nicc bench` for every example on every target available here.

Each target prints its pipeline's cost beside a floor measured the same way in the
same run (an empty XDP program, a no-op DPDK loop) and the ratio, so numbers from
different machines compare as ratios, not seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NICC = os.path.join(ROOT, ".venv", "bin", "nicc")


def main() -> int:
    rc = 0
    for target in ("xdp", "dpdk"):
        for ex in ("normalize", "criteo", "dedup"):
            print(f"\n== nicc bench examples/{ex}.py --target {target}", flush=True)
            r = subprocess.run([NICC, "bench", os.path.join(ROOT, "examples", f"{ex}.py"), "--target", target])
            if r.returncode == 3:
                print(f"   ({target} unavailable here: skipped)")
            elif r.returncode != 0:
                rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())

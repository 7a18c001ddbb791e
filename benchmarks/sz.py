"""Line counts per module (tinygrad's sz.py): keeps module size visible."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rows = []
for top in ("dsl", "compiler", "backends", "runtime", "nicc", "benchmarks"):
    for d, _, files in os.walk(os.path.join(ROOT, top)):
        for f in files:
            if f.endswith((".py", ".j2", ".lark", ".c", ".h")) and not f.endswith("_lut.h") and "table" not in f:
                p = os.path.join(d, f)
                rows.append((sum(1 for line in open(p) if line.strip()), os.path.relpath(p, ROOT)))
for n, p in sorted(rows, reverse=True):
    print(f"{n:6} {p}{'   <- over 500' if n > 500 else ''}")
print(f"{sum(n for n, _ in rows):6} total")
sys.exit(0)

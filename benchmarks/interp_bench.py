"""Packets per second of the reference interpreter, per example, on one core.

Two inputs per example: *full* frames that the pipeline processes completely (E1: 240
pixels; E2: label 0 or 1; E3: fresh ids, each sent twice as hedged multicast does), and
the generated *mix* of ``nicc test`` (malformed and unselected frames included). Two
paths: ``Reference(ir).run(frames)`` (a list of Results) and ``run_columnar`` (the same
outcome as arrays, before a Result is made per frame). Rates are packets per second of process CPU time (the machine
is shared; wall-clock rates are reported beside them).

    .venv/bin/python benchmarks/interp_bench.py                      # table on stdout
    .venv/bin/python benchmarks/interp_bench.py --json out.json --count 200000
    .venv/bin/python benchmarks/interp_bench.py --check 78f0284      # also: same results as that commit's interpreter?

``bench()`` returns the rows for the benchmark suite.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = {"normalize": 9001, "criteo": 9002, "dedup": 9003}
TARGETS = {"normalize": 200_000, "criteo": 1_000_000}       # packets/s the interpreter must reach (issue 9)


def frames_from_payloads(payloads: np.ndarray, port: int, seed: int) -> list[bytes]:
    """Valid Ethernet/IPv4/UDP frames around equal-length payloads (one row each)."""
    from nicc.compiler import framing
    n, plen = payloads.shape
    rng = np.random.default_rng(seed)
    hdr = np.zeros((n, framing.ETH_IP_UDP), np.uint8)
    hdr[:, 0:12] = rng.integers(0, 256, (n, 12), dtype=np.uint8)
    hdr[:, 12:15] = [0x08, 0x00, 0x45]
    hdr[:, 18:20] = rng.integers(0, 256, (n, 2), dtype=np.uint8)      # IP id
    hdr[:, 20], hdr[:, 22], hdr[:, 23] = 0x40, 64, 17                # DF, TTL, UDP
    hdr[:, 26:34] = rng.integers(0, 256, (n, 8), dtype=np.uint8)     # addresses
    hdr[:, 34:36] = rng.integers(4, 256, (n, 2), dtype=np.uint8)     # source port
    hdr[:, 36], hdr[:, 37] = port >> 8, port & 0xFF
    framing.rewrite_headers(hdr, np.full(n, plen, np.int64))
    blob = np.concatenate([hdr, payloads], axis=1).tobytes()
    size = framing.ETH_IP_UDP + plen
    return [blob[i:i + size] for i in range(0, len(blob), size)]


def full_frames(name: str, n: int, seed: int = 1) -> list[bytes]:
    """Frames the example processes completely."""
    rng = np.random.default_rng(seed)
    if name == "normalize":
        head = np.zeros((n, 10), np.uint8)
        head[:, :8] = rng.integers(0, 256, (n, 8), dtype=np.uint8)
        head[:, 8:10] = [0, 240]
        pl = np.concatenate([head, rng.integers(0, 256, (n, 720), dtype=np.uint8)], axis=1)
    elif name == "criteo":
        dense = (rng.integers(0, 2**32, (n, 13), dtype=np.uint64) >> rng.integers(0, 33, (n, 13)).astype(np.uint64))
        cats = rng.integers(0, 2**32, (n, 26), dtype=np.uint64)
        pl = np.concatenate([rng.integers(0, 2, (n, 1), dtype=np.uint8),
                             dense.astype(">u4").view(np.uint8).reshape(n, 52),
                             cats.astype(">u4").view(np.uint8).reshape(n, 104)], axis=1)
    elif name == "dedup":
        ids = rng.integers(1, 2**63, (n + 1) // 2, dtype=np.uint64)
        seq = np.repeat(ids, 2)[:n]                                   # each id twice ...
        seq = seq[np.argsort(np.arange(n) + rng.integers(0, 8, n), kind="stable")]   # ... a few packets apart
        pl = np.concatenate([seq.astype(">u8").view(np.uint8).reshape(n, 8),
                             rng.integers(0, 256, (n, 24), dtype=np.uint8)], axis=1)
    else:
        raise ValueError(name)
    return frames_from_payloads(pl, EXAMPLES[name], seed)


def mix_frames(p, n: int, seed: int = 1) -> list[bytes]:
    """The generated traffic of ``nicc test``: 4000 frames drawn, repeated to ``n``."""
    from nicc.runtime.packets import generate
    base = generate(p, min(n, 4000), seed)
    return (base * (n // len(base) + 1))[:n]


def pipeline(name: str):
    import nicc.dsl as nd
    from nicc.compiler.passes import run_passes
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def timed(fn, repeat: int) -> tuple[float, float]:
    """Best (CPU seconds, wall seconds) of ``repeat`` calls."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        gc.collect()
        c, t = time.process_time(), time.perf_counter()
        fn()
        best_cpu, best_wall = min(best_cpu, time.process_time() - c), min(best_wall, time.perf_counter() - t)
    return best_cpu, best_wall


def bench(names=tuple(EXAMPLES), count: int = 100_000, repeat: int = 3, interp=None) -> list[dict]:
    """One row per example, input and path: packets/s (CPU time and wall clock)."""
    if interp is None:
        from nicc.compiler import interp
    rows = []
    for name in names:
        p = pipeline(name)
        for kind, frames in (("full", full_frames(name, count)), ("mix", mix_frames(p, count))):
            paths = {"run": lambda: interp.Reference(p).run(frames)}
            if hasattr(interp.Reference, "run_columnar"):
                paths["columnar"] = lambda: interp.Reference(p).run_columnar(frames)
            for path, fn in paths.items():
                cpu, wall = timed(fn, repeat)
                rows.append({"example": name, "frames": kind, "path": path, "packets": len(frames),
                             "pps_cpu": len(frames) / cpu, "pps_wall": len(frames) / wall,
                             "target_pps": TARGETS.get(name) if kind == "full" else None})
    return rows


def load_interp_at(rev: str):
    """The interpreter module as it was at git revision ``rev`` (for comparisons)."""
    src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:compiler/interp.py"], check=True,
                         capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader(f"nicc.compiler._interp_{rev}", loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "nicc.compiler"
    sys.modules[spec.name] = mod            # dataclasses look their module up
    exec(compile(src, f"{rev}:compiler/interp.py", "exec"), mod.__dict__)
    return mod


def check(rev: str, names=tuple(EXAMPLES), count: int = 100_000) -> bool:
    """Whether this interpreter and the one at ``rev`` give identical results on full and mix frames."""
    from nicc.compiler.interp import Reference
    old = load_interp_at(rev)
    ok = True
    for name in names:
        p = pipeline(name)
        for kind, frames in (("full", full_frames(name, count, seed=7)), ("mix", mix_frames(p, count, seed=7))):
            a = [(r.verdict, r.reason, r.frames) for r in Reference(p).run(frames)]
            b = [(r.verdict, r.reason, r.frames) for r in old.Reference(p).run(frames)]
            same = a == b
            ok &= same
            print(f"{name:10} {kind:5} {len(frames)} frames: {'identical' if same else 'DIFFERENT'} to {rev}")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--examples", nargs="*", default=list(EXAMPLES))
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--against", help="also time the interpreter of this git revision")
    ap.add_argument("--check", help="check results are identical to this git revision's interpreter")
    a = ap.parse_args(argv)
    if a.check and not check(a.check, a.examples, a.count):
        return 1
    rows = bench(a.examples, a.count, a.repeat)
    if a.against:
        for r in bench(a.examples, a.count, 1, load_interp_at(a.against)):
            r["path"] = f"{r['path']}@{a.against}"
            rows.append(r)
    print(f"{'example':10} {'frames':6} {'path':18} {'packets':>8} {'pkt/s (cpu)':>12} {'pkt/s (wall)':>12} "
          f"{'target':>9}")
    for r in rows:
        tgt = f"{r['target_pps']:,}" if r["target_pps"] else ""
        print(f"{r['example']:10} {r['frames']:6} {r['path']:18} {r['packets']:8} {r['pps_cpu']:12,.0f} "
              f"{r['pps_wall']:12,.0f} {tgt:>9}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": os.uname().nodename, "cpus": os.cpu_count(), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())

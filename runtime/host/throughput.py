"""How fast the host runtime turns frames into tensors on one core: ``python -m nicc.runtime.host.throughput``.

For E1 and E2 it writes two captures, **full** (every frame processed completely: E1 rows of 240
pixels, E2 records with label 0 or 1) and **mix** (the generated test traffic: malformed,
unselected, dropped frames...), and times ``HostRuntime(ir, PcapSource(...))`` from reading the
capture to ``hb.tensors()``, with the thread's CPU time (so load from other processes does not
count), best of ``--rounds``.
"""
from __future__ import annotations

import argparse
import os
import struct
import tempfile
import time

import numpy as np

from ..packets import generate, udp_frame
from ..pcap import write_pcap
from .runtime import HostRuntime, as_pipeline
from .sources import PcapSource

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def full_payloads(name: str, n: int, rng: np.random.Generator) -> list[bytes]:
    if name == "criteo":
        dense = rng.integers(0, 1 << 32, (n, 13), dtype=np.uint64) >> rng.integers(0, 32, (n, 13)).astype(np.uint64)
        cats = rng.integers(0, 1 << 32, (n, 26), dtype=np.uint64)
        return [bytes([int(rng.integers(0, 2))]) + dense[i].astype(">u4").tobytes() + cats[i].astype(">u4").tobytes()
                for i in range(n)]
    return [struct.pack("!IHHH", i, i % 480, 0, 240) + rng.bytes(720) for i in range(n)]


def measure(pipeline, path: str, batch: int, rounds: int) -> tuple[float, dict]:
    """Best CPU seconds of ``rounds`` runs over the capture, and the counters of one."""
    import torch  # noqa: F401  (imported once, before timing)
    best, counters = float("inf"), None
    for _ in range(rounds):
        rt = HostRuntime(pipeline, PcapSource(path), batch=batch)
        t0 = time.thread_time()
        for hb in rt:
            hb.tensors()
        best = min(best, time.thread_time() - t0)
        counters = rt.counters
    return best, counters


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="nicc-host-throughput-")
    print(f"{'example':12} {'frames':5} {'n':>7} {'rows':>7} {'ns/frame':>9} {'frames/s':>10}  (one core, CPU time)")
    for label, name in (("E1", "normalize"), ("E2", "criteo")):
        ir = as_pipeline(os.path.join(ROOT, "examples", f"{name}.py"))
        rng = np.random.default_rng(0)
        sets = {"full": [bytes(udp_frame(p, ir.port, rng)) for p in full_payloads(name, a.frames, rng)],
                "mix": generate(ir, a.frames, seed=1)}
        for kind, frames in sets.items():
            path = os.path.join(tmp, f"{name}-{kind}.pcap")
            write_pcap(path, frames)
            secs, c = measure(ir, path, a.batch, a.rounds)
            print(f"{label + ' ' + name:12} {kind:5} {len(frames):7} {c['rows']:7} {secs / len(frames) * 1e9:9,.0f} "
                  f"{len(frames) / secs:10,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

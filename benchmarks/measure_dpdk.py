"""DPDK measurements: the generated per-packet function, the hand-written one and the copy-only
floor, in one loop binary (``dpdk_loop.c``) built against DPDK.

    b = DpdkBench(ir, frames, exp, workdir)     # builds; the first measure() also checks outputs
    samples = b.measure(rounds=60)              # {"floor": [ns/packet per round], "nicc": [...], ...,
                                                #  "nicc@2": [1e9 / packets per second on 2 lcores], ...}
    b.exact                                     # {"nicc": (True, 0), "hand": (True, 0)}

The per-pipeline sources come from the current nicc (``nicc.backends.dpdk.generate``), so the
numbers follow the compiler as it changes; only ``NAME_process.c/.h`` (and ``NAME_tables.c``) are used.
"""
from __future__ import annotations

import os
import struct
import subprocess

from ..backends.dpdk import CODES, RUNTIME, generate
from ..compiler.ir import Pipeline
from ..runtime.dpdk import DpdkTarget, eal_args, frames_blob, parse_json_line, remove_runtime_dir, usable_cpus
from ..runtime.target import TargetUnavailable
from .registry import BASELINES, HERE, Baseline
from .workloads import Outcome

LOOP_SRC = os.path.join(HERE, "dpdk_loop.c")
CODE_NAMES = {v: k for k, v in CODES.items()}
CFLAGS = ["-O2", "-g", "-Wall", "-Wextra", "-Wno-unused-function"]     # as the generated Makefile


def _pkg(*args: str) -> list[str]:
    return subprocess.run(["pkg-config", *args, "libdpdk"], capture_output=True, text=True, check=True).stdout.split()


def build_with_pipeline(ir: Pipeline, workdir: str, source: str, exe_name: str, extra: tuple[str, ...] = (),
                        defs: tuple[str, ...] = (), what: str = "the DPDK bench loop") -> str:
    """Build ``source`` (with ``-DPIPE=NAME``) against ``ir``'s generated per-packet function, from the
    current nicc (only ``NAME_process.c/.h`` and ``NAME_tables.c`` are used)."""
    why = DpdkTarget().unavailable()
    if why:
        raise TargetUnavailable(f"target dpdk is unavailable here: {why}")
    os.makedirs(workdir, exist_ok=True)
    files = generate(ir)
    own = [f for f in (f"{ir.name}_process.c", f"{ir.name}_process.h", f"{ir.name}_tables.c") if f in files]
    for fname in own:
        with open(os.path.join(workdir, fname), "w") as f:
            f.write(files[fname])
    srcs = [source] + [os.path.join(workdir, f) for f in own if f.endswith(".c")] + list(extra)
    exe = os.path.join(workdir, exe_name)
    cmd = ["gcc", *CFLAGS, *_pkg("--cflags"), f"-DPIPE={ir.name}", *defs, "-I", workdir, "-I", RUNTIME,
           "-I", BASELINES, *srcs, "-o", exe, *_pkg("--libs")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building {what} failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
    return exe


def build_loop(ir: Pipeline, baseline: Baseline | None, workdir: str) -> str:
    """Build the loop binary for ``ir`` (with the hand-written C baseline if there is one)."""
    hand = baseline is not None and baseline.c is not None
    return build_with_pipeline(ir, workdir, LOOP_SRC, f"{ir.name}_bench", (baseline.c,) if hand else (),
                               ("-DPIPE_HAND",) if hand else ())


def read_outputs(path: str) -> list[Outcome]:
    """The loop's --verify file: per frame a verdict byte, u32 length, the frame after the call."""
    with open(path, "rb") as f:
        buf = f.read()
    out, off = [], 0
    while off + 5 <= len(buf):
        code, n = buf[off], struct.unpack_from("<I", buf, off + 1)[0]
        name = CODE_NAMES.get(code, f"code {code}")
        out.append(Outcome(name, None if name == "drop" else buf[off + 5:off + 5 + n]))
        off += 5 + n
    return out


def mismatches(got: list[Outcome], exp: list[Outcome]) -> int:
    if len(got) != len(exp):
        return max(len(got), len(exp))
    return sum(g != e for g, e in zip(got, exp))


class DpdkBench:
    """The loop binary on one frame set; ``measure`` runs it once per call (rounds alternate inside)."""

    def __init__(self, ir: Pipeline, baseline: Baseline | None, frames: list[bytes], exp: list[Outcome],
                 workdir: str, lcores: int = 2):
        self.ir, self.exp, self.workdir = ir, exp, workdir
        self.lcores = max(1, min(lcores, len(usable_cpus())))
        self.exe = build_loop(ir, baseline, workdir)
        self.frames_path = os.path.join(workdir, f"frames-{os.getpid()}-{id(self)}")
        with open(self.frames_path, "wb") as f:
            f.write(frames_blob(frames))
        self.exact: dict[str, tuple[bool, int]] = {}      # filled by the first measure()
        self.checked = False
        self.verdicts: dict[str, dict[str, int]] = {}

    def measure(self, rounds: int) -> dict[str, list[float]]:
        verify = None if self.checked else os.path.join(self.workdir, "verify")
        args = [self.exe, *eal_args(f"bench_{self.ir.name}", self.lcores), "--", "--frames", self.frames_path,
                "--rounds", str(rounds)] + (["--verify", verify] if verify else [])
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=1800)
        finally:
            remove_runtime_dir(args)
        got = parse_json_line(r.stdout, "bench")
        if r.returncode != 0 or got is None:
            raise RuntimeError(f"the DPDK bench loop failed with status {r.returncode}:\n"
                               f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
        if verify:
            self.checked = True
            for name in got["variants"]:
                if name != "floor":
                    bad = mismatches(read_outputs(f"{verify}.{name}"), self.exp)
                    self.exact[name] = (bad == 0, bad)
                    os.unlink(f"{verify}.{name}")
        for name, v in got["variants"].items():
            self.verdicts[name] = {CODE_NAMES[c]: n for c, n in enumerate(v["verdicts"]) if c in CODE_NAMES and n}
        out = {name: v["ns"] for name, v in got["variants"].items()}
        for name, v in got.get("multicore", {}).items():
            out[f"{name}@{got['lcores']}"] = v["ns"]
        return out

    def close(self) -> None:
        if os.path.exists(self.frames_path):
            os.unlink(self.frames_path)


METHOD = ("one core; each mbuf refilled from its original frame before every call; ns/packet per round of all "
          "frames; floor: the same loop around a function that does nothing; '@2': the same rounds on 2 lcores at "
          "once (own mbufs, shared state), 1e9 / the packets per second of both")

"""XDP measurements: the generated program, the hand-written one and a pass-through program, each
loaded through the kernel verifier and timed by the kernel with BPF_PROG_TEST_RUN.

Every call runs one frame once (repeat=1) on a fresh copy of it (a plain repeat > 1 would re-run
the already rewritten buffer); the time is the duration the kernel reports. Calls interleave the
variants frame by frame, the order rotating, so load from other processes falls on all alike.

    b = XdpBench(ir, baseline, frames, exp, workdir)   # compiles, loads, checks every output
    samples = b.measure(rounds=5)                      # {"floor": [mean ns/packet per round], ...}
    b.exact, b.insns                                   # per variant: (exact?, frames differing), verified insns
"""
from __future__ import annotations

import os
import subprocess

import numpy as np

from ..backends.xdp.renderer import ACTIONS, CODES, XDP_ACTION_VALUES, floor_source
from ..compiler.ir import Pipeline
from ..runtime.target import TargetUnavailable
from ..runtime.libbpf import Loaded, TestRunner
from ..runtime.xdp import XdpTarget, clang_cmd
from .registry import Baseline
from .workloads import Outcome

NAMES = {v: k for k, v in CODES.items()}
COUNTER_MAPS = {"nicc": "nicc_counters", "hand": "counters"}
METHOD = ("kernel-reported duration of BPF_PROG_TEST_RUN, repeat=1, a fresh copy of the frame per call; "
          "ns/packet = mean over the frames of one round; floor: a pass-through XDP program")


def build_bpf(src: str, obj: str) -> str:
    r = subprocess.run(clang_cmd(src, obj), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"clang could not build {src}:\n{r.stderr[-4000:]}")
    return obj


def _load(path: str) -> Loaded:
    l = Loaded(path, log_size=1 << 22)
    if not l.ok:
        log = l.verifier_log()
        l.close()
        raise RuntimeError(f"the kernel verifier rejected {path}:\n{log[-3000:]}")
    return l


class XdpBench:
    def __init__(self, ir: Pipeline, baseline: Baseline | None, frames: list[bytes], exp: list[Outcome],
                 workdir: str):
        t = XdpTarget(echo=False)
        why = t.unavailable()
        if why:
            raise TargetUnavailable(f"target xdp is unavailable here: {why}")
        os.makedirs(workdir, exist_ok=True)
        self.frames = [bytes(f) for f in frames]
        art = t.compile(ir, os.path.join(workdir, "nicc"))
        floor_c = os.path.join(workdir, "floor.bpf.c")
        with open(floor_c, "w") as f:
            f.write(floor_source())
        self.loaded: dict[str, Loaded] = {}
        try:
            self.loaded["floor"] = _load(build_bpf(floor_c, os.path.join(workdir, "floor.bpf.o")))
            self.loaded["nicc"] = t.load(ir, art)
            if baseline is not None and baseline.bpf is not None:
                self.loaded["hand"] = _load(build_bpf(baseline.bpf, os.path.join(workdir, "hand.bpf.o")))
            self.runners = {k: TestRunner(l) for k, l in self.loaded.items()}
            self.insns = {k: l.verified_insns() for k, l in self.loaded.items()}
            self.exact = {k: self._check(k, exp) for k in self.loaded if k != "floor"}
        except BaseException:
            self.close()
            raise

    def _check(self, name: str, exp: list[Outcome]) -> tuple[bool, int]:
        """Run every frame once, in order, from the initial state; count frames whose outcome
        (read from the program's per-CPU counters) or output differ from the interpreter's."""
        l, r = self.loaded[name], self.runners[name]
        fd = l.map_fd(COUNTER_MAPS[name])
        size = 8 * 8 * l.bpf.ncpus

        def counts():
            return np.frombuffer(l.lookup(fd, 0, size), dtype=np.uint64).reshape(l.bpf.ncpus, 8).sum(axis=0)

        bad, before = 0, counts()
        for f, e in zip(self.frames, exp):
            action, out, _ = r.run(f)
            after = counts()
            changed = np.nonzero(after != before)[0]
            before = after
            name_got = NAMES.get(int(changed[0])) if len(changed) == 1 else None
            want_action = XDP_ACTION_VALUES[ACTIONS[e.name]] if e.name in ACTIONS else None
            ok = name_got == e.name and action == want_action and (e.frame is None or out == e.frame)
            bad += not ok
        return bad == 0, bad

    def measure(self, rounds: int) -> dict[str, list[float]]:
        names = list(self.runners)
        nv, n = len(names), len(self.frames)
        ns = {k: np.zeros((rounds, n)) for k in names}
        for rd in range(rounds):
            for i, f in enumerate(self.frames):
                for j in range(nv):
                    k = names[(rd + i + j) % nv]
                    ns[k][rd, i] = self.runners[k].run(f)[2]
        return {k: v.mean(axis=1).tolist() for k, v in ns.items()}

    def close(self) -> None:
        for l in self.loaded.values():
            l.close()
        self.loaded = {}

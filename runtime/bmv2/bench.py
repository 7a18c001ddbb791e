"""``nicc bench P --target bmv2``: frames per second through real simple_switch, next to its floor.

Each measurement is one run of :func:`.runner.run_switch` (a fresh switch,
configured before the first frame); the time is from the first frame written
into the switch to the moment every output it implies has been written out
(the session's ``traffic`` seconds), so start-up and configuration are not in
it. The floor is the same measurement for a program that sends every frame to
the host port without parsing it: what bmv2 costs per frame by itself.
"""
from __future__ import annotations

import json
import os
import tempfile

from ...backends.p4 import p4info_text, render_floor, runtime_state
from ...compiler.interp import Reference, counters
from ...compiler.ir import Pipeline
from ..packets import generate
from .p4c import run_p4c
from .runner import run_switch

ROUNDS = 3


def floor_files(tc, outdir: str) -> tuple[dict, dict]:
    prog = render_floor()
    files = {"p4": os.path.join(outdir, "floor.p4"), "p4info": os.path.join(outdir, "floor.p4info.txtpb")}
    with open(files["p4"], "w") as f:
        f.write(prog.text)
    with open(files["p4info"], "w") as f:
        f.write(p4info_text(prog))
    files["json"] = run_p4c(tc, prog, files["p4"])["json"]
    return files, runtime_state(prog)


def best_pps(tc, files: dict, state: dict, frames: list[bytes], control: str) -> tuple[float, dict]:
    best, report = 0.0, {}
    for _ in range(ROUNDS):
        _, report = run_switch(tc, files, state, frames, control)
        best = max(best, len(frames) / max(report["seconds"]["traffic"], 1e-9))
    return best, report


def bench(target, ir: Pipeline, packets: int = 2000) -> int:
    target.check_available()
    tc, control = target.toolchain(), target.control_path()
    with tempfile.TemporaryDirectory(prefix="nicc-bmv2-bench-") as d:
        art = target.compile(ir, os.path.join(d, "pipeline"))
        os.makedirs(os.path.join(d, "floor"))
        ffiles, fstate = floor_files(tc, os.path.join(d, "floor"))
        with open(art.files["runtime"]) as f:
            state = json.load(f)
        frames = generate(ir, packets, seed=0)
        mix = counters(Reference(ir).run(frames))
        pps, _ = best_pps(tc, art.files, state, frames, control)
        floor, _ = best_pps(tc, ffiles, fstate, frames, control)
    how = "simple_switch_grpc (P4Runtime)" if control == "p4runtime" else "simple_switch (Thrift)"
    print(f"{ir.name} on bmv2, {how}: {packets} generated frames (pass {mix['pass']}, malformed "
          f"{mix['malformed']}, unselected {mix['unselected']}, drop {mix['drop']}), best of {ROUNDS} runs, "
          "first frame in to last frame out")
    print(f"  {'':34}{'frames/s':>12}{'us/frame':>12}")
    print(f"  {'pipeline':34}{pps:>12,.0f}{1e6 / pps:>12.1f}")
    print(f"  {'floor (unparsed, to the host)':34}{floor:>12,.0f}{1e6 / floor:>12.1f}")
    print(f"  {'pipeline - floor':34}{'':>12}{1e6 / pps - 1e6 / floor:>12.1f}")
    return 0

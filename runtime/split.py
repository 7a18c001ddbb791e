"""A NIC target running a split pipeline: its NIC part on the target, its host part on the host.

    t = SplitTarget(get_target("xdp"))
    art = t.compile(ir, "out/")          # the NIC part for the target; NAME_host.nir; manifest["split"]
    results = t.run(ir, frames, art)     # the final frames, byte-identical to the whole pipeline's

:func:`nicc.compiler.partition.partition` decides the cut with the target's capabilities
(:mod:`nicc.backends.capabilities`). A pipeline the target runs whole is simply passed on. Otherwise
every frame goes through the NIC part on the target; the frames it sends to the host port (the wire
payload) are completed by the host part with the reference interpreter (numpy, batched: the same
engine as :mod:`nicc.runtime.host`), and the results are put back in input order. What the NIC
decided itself (drops, malformed and unselected frames, frames it could not handle) stays as it is.
"""
from __future__ import annotations

import json
import os

from ..backends.capabilities import capabilities
from ..compiler.contract import Result
from ..compiler.errors import NiccError
from ..compiler.interp import Reference
from ..compiler.ir import Pipeline
from ..compiler.partition import Split, partition, stage_label
from ..compiler.passes import verify
from .hostpart import finish as finish_host
from .target import Artifact, Target


def plan(ir: Pipeline, target: str) -> Split:
    """The cut of ``ir`` for ``target`` (both parts verified)."""
    cap = capabilities(target)
    sp = partition(ir, lambda n: cap.check(n, ir), target)
    if sp.split:
        verify(sp.nic)
        verify(sp.host)
    return sp


def complete(sp: Split, results: list[Result], frames: list[bytes], timestamps=None,
             host: Reference | None = None) -> list[Result]:
    """The NIC part's ``results`` with every frame it sent to the host port finished by the host part."""
    results = finish_host(sp.whole, frames, results, timestamps)
    port = sp.host_port.to_bytes(2, "big")
    idx = [i for i, r in enumerate(results)
           if r.verdict == "pass" and r.reason == "selected" and r.frames and r.frames[0][36:38] == port]
    if not idx:
        return results
    host = host or Reference(sp.host)
    ts = None if timestamps is None else [timestamps[i] for i in idx]
    done = host.run([results[i].frames[0] for i in idx], ts)
    out = list(results)
    for i, r in zip(idx, done):
        if r.reason == "malformed":              # the host part refused the NIC's own payload: a bug
            raise NiccError(f"the host part of {sp.whole.name} refused the wire payload of frame {i} "
                            "(the NIC and host parts disagree on the wire format)", sp.whole.loc)
        out[i] = r
    return out


def loaded(part: Pipeline, ir: Pipeline) -> Pipeline:
    """``part`` (a part of ``ir`` as compiled) with what a node loads into ``ir`` at run time: its
    multicast groups' members and its state arrays' initial values (:func:`nicc.compiler.groups.bind_groups`)."""
    import copy
    out = copy.copy(part)
    out.groups = {k: ir.groups.get(k, g) for k, g in part.groups.items()}
    out.states = {k: ir.states.get(k, st) for k, st in part.states.items()}
    return out


class SplitTarget(Target):
    """``base`` (xdp, dpdk, bmv2) with the host part of a split pipeline completing on the host."""

    def __init__(self, base: Target):
        self.base = base
        self.name, self.description, self.limits = base.name, base.description, base.limits

    def unavailable(self) -> str | None:
        return self.base.unavailable()

    def plan(self, ir: Pipeline) -> Split:
        return plan(ir, self.base.name)

    def compile(self, ir: Pipeline, outdir: str) -> Artifact:
        sp = self.plan(ir)
        art = self.base.compile(sp.nic, outdir)
        art.split = sp
        rows = list(sp.rows) if sp.split or sp.guarded else []
        if sp.split:
            path = os.path.join(outdir, f"{ir.name}_host.nir")
            with open(path, "w") as f:
                f.write(str(sp.host))
            art.files["host_part"] = path
            art.manifest["split"] = {
                "host_part": os.path.basename(path), "host_port": sp.host_port, "wire_bytes": sp.wire.size,
                "wire": ["magic u16", "version u8", "cut u8", "pipeline u32"] + [
                    f"{stage_label(v)}: {v.type}" for v in sp.wire.values],
                "nic_stages": sum(r["place"] == "nic" for r in sp.rows),
                "host_stages": sum(r["place"] == "host" for r in sp.rows)}
            art.manifest.setdefault("notes", []).append(
                f"split: {art.manifest['split']['host_stages']} stage(s) run on the host, which reads a "
                f"{sp.wire.size}-byte payload on UDP port {sp.host_port} (" + ", ".join(art.manifest["split"]["wire"])
                + f"); the host part is {os.path.basename(path)}")
        art.manifest["explain"] = rows + list(art.manifest.get("explain") or [])
        m = art.files.get("manifest")
        if m:
            with open(m, "w") as f:
                json.dump(art.manifest, f, indent=1)
        return art

    def run(self, ir: Pipeline, frames: list[bytes], artifact: Artifact | None = None,
            timestamps: list[int] | None = None) -> list[Result]:
        sp = getattr(artifact, "split", None) or self.plan(ir)
        nic = loaded(sp.nic, ir) if sp.split else ir
        art = self.base.ensure_artifact(nic, artifact)
        results = self.base.run(nic, frames, art, timestamps)
        if hasattr(self.base, "last_counters"):
            self.last_counters = self.base.last_counters
        return complete(sp, results, frames, timestamps) if sp.split else finish_host(ir, frames, results, timestamps)

    def ensure_artifact(self, ir: Pipeline, artifact: Artifact | None) -> Artifact:
        if artifact is None:
            art = self.base.ensure_artifact(self.plan(ir).nic, None)
            art.split = self.plan(ir)
            return art
        return artifact

    def __getattr__(self, name):
        return getattr(self.base, name)         # target-specific calls (load, build_harness...) go to the base

    def run_live(self, ir: Pipeline, iface: str, **options) -> int:
        sp = self.plan(ir)
        if sp.split and self.name == "xdp":       # the NIC part attached, the host part on the same interface
            from .host.live import SplitServer
            SplitServer(ir, iface, "xdp", mode=options.get("mode") or "generic").serve()
            return 0
        if sp.split:
            raise NiccError(f"{ir.name} splits between {self.name} and the host; live, the split runs with its NIC "
                            f"part on XDP: `nicc serve PIPELINE --iface {iface} --target xdp`", ir.loc)
        return self.base.run_live(ir, iface, **options)

"""The target interface every runtime implements, and the registry of targets.

A target compiles a pipeline's IR into artifacts in a directory and runs
frames through them, obeying the ``run`` contract: frames are processed in
order from the pipeline's initial state; every frame the pipeline lets out
(transmitted, passed to host, each multicast copy) is returned in order;
dropped frames are absent.

    t = get_target("xdp")
    t.check_available()                  # raises TargetUnavailable (exit status 3)
    art = t.compile(ir, "out/")
    results = t.run(ir, frames, art)     # list[Result], one per input frame
"""
from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field

from ..compiler.contract import UNLIMITED, Limits, Result
from ..compiler.interp import Reference
from ..compiler.ir import Pipeline


class TargetUnavailable(Exception):
    """The target cannot run on this machine (missing tool, not root...)."""


@dataclass
class Artifact:
    """What ``compile`` left in ``outdir``: files by role, and a manifest dict.

    An artifact made for one run (:meth:`Target.ensure_artifact`, no directory given) owns its
    temporary directory: the directory goes when the artifact does (last reference dropped,
    :meth:`discard`, or interpreter exit), so runs leave no ``/tmp/nicc-<target>-*`` behind."""
    outdir: str
    files: dict[str, str] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)

    def own_directory(self) -> "Artifact":
        """Remove ``outdir`` with this artifact (it is a temporary directory nobody else holds)."""
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.outdir, ignore_errors=True)
        return self

    def discard(self) -> None:
        """Remove an owned temporary directory now (no-op for a directory the caller gave)."""
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()


class Target:
    """What the CLI and the test harness call on every target (each may refuse what it lacks)."""
    name = "?"
    description = ""
    limits: Limits = UNLIMITED       # frames beyond these are "unhandled" (see nicc.compiler.contract)

    def unavailable(self) -> str | None:
        """Why this target cannot run here, or None."""
        return None

    def check_available(self) -> None:
        why = self.unavailable()
        if why:
            raise TargetUnavailable(f"target {self.name} is unavailable here: {why}")

    def compile(self, ir: Pipeline, outdir: str) -> Artifact:
        raise TargetUnavailable(f"target {self.name} does not compile")

    def run(self, ir: Pipeline, frames: list[bytes], artifact: Artifact | None = None,
            timestamps: list[int] | None = None) -> list[Result]:
        raise TargetUnavailable(f"target {self.name} does not run")

    def run_live(self, ir: Pipeline, iface: str, **options) -> int:
        """Process live traffic on ``iface`` until interrupted; returns an exit status."""
        raise TargetUnavailable(f"target {self.name} has no live mode")

    def ensure_artifact(self, ir: Pipeline, artifact: Artifact | None) -> Artifact:
        """``artifact``, or one compiled into a temporary directory that lives as long as it does."""
        if artifact is None:
            tmp = tempfile.mkdtemp(prefix=f"nicc-{self.name}-")
            try:
                artifact = self.compile(ir, tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if os.path.abspath(artifact.outdir) != os.path.abspath(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                artifact.own_directory()
        return artifact


class InterpTarget(Target):
    """The reference interpreter (numpy): the executable spec every target is checked against."""
    name = "interp"
    description = "reference interpreter (numpy), the executable specification"

    def compile(self, ir: Pipeline, outdir: str) -> Artifact:
        os.makedirs(outdir, exist_ok=True)
        path = os.path.join(outdir, f"{ir.name}.nir")
        with open(path, "w") as f:
            f.write(str(ir))
        return Artifact(outdir, {"ir": path}, {"target": "interp", "pipeline": ir.name})

    def run(self, ir, frames, artifact=None, timestamps=None):
        return Reference(ir, self.limits).run(frames, timestamps)


NIC_TARGETS = ("xdp", "tc", "dpdk", "bmv2")
TARGETS = {
    "interp": "nicc.runtime.target:InterpTarget",
    "xdp": "nicc.runtime.xdp:XdpTarget",
    "tc": "nicc.runtime.tc:TcTarget",
    "dpdk": "nicc.runtime.dpdk:DpdkTarget",
    "bmv2": "nicc.runtime.bmv2:Bmv2Target",
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise KeyError(name)
    mod, _, cls = TARGETS[name].partition(":")
    try:
        m = importlib.import_module(mod)
    except ModuleNotFoundError as e:
        if e.name == mod:
            raise TargetUnavailable(f"target {name} is not built into this nicc yet") from None
        raise
    t = getattr(m, cls)()
    if name in NIC_TARGETS:          # a pipeline the target cannot run whole is split with the host
        from .split import SplitTarget
        t = SplitTarget(t)
    return t

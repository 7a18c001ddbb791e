"""The kernel verifier's log mapped back to the pipeline: which IR node, which user line.

Every generated C line that starts a node's code ends in a ``/* @K */`` marker
(:mod:`nicc.backends.xdp.renderer`); clang's BTF line info carries the C line into the verifier
log as a ``; <line>`` comment. The last marked line the verifier printed before it gave up names
the stage (``manifest["stages"][K]``: the node's op and the user's file and line).

    raise verifier_error(log, manifest)      # NiccError at the user's line, the log's tail as notes
"""
from __future__ import annotations

import re

from ..backends.xdp.renderer import MARK_RE
from ..compiler.errors import NiccError, SourceLoc


def stage_loc(stage: dict) -> SourceLoc:
    return SourceLoc(stage["file"], stage["line"], stage.get("col"), stage.get("end_col"))


def verifier_error(log: str, manifest: dict) -> NiccError:
    """The kernel verifier's rejection as an error at the pipeline stage and user line it failed in."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    stages = manifest.get("stages") or [{"op": "pipeline", "file": manifest.get("pipeline", "?"), "line": 0}]
    stage, src_idx = None, None
    for i, ln in enumerate(lines):
        m = MARK_RE.search(ln)
        if m and ln.lstrip().startswith(";"):
            stage, src_idx = stages[int(m.group(1))] if int(m.group(1)) < len(stages) else None, i
    stage = stage or stages[0]
    where = "framing and commit code of the program" if stage["op"] == "pipeline" else f"stage '{stage['op']}'"
    tail_start = max(0, len(lines) - 12)
    if src_idx is not None:
        tail_start = min(tail_start, src_idx)
    relevant = [ln.rstrip() for ln in lines[tail_start:]][-14:]
    reason = next((ln for ln in reversed(lines) if not ln.lstrip().startswith(";") and
                   not re.match(r"^\d+: \(", ln) and "processed" not in ln and "verification time" not in ln
                   and not ln.startswith("stack depth")), "rejected")
    return NiccError(f"the kernel verifier rejected the {manifest.get('target', 'xdp')} program in {where} of "
                     f"pipeline {manifest.get('pipeline', '?')}: {reason.strip()}", stage_loc(stage),
                     notes=["verifier log (last lines):"] + ["  " + ln for ln in relevant])


def map_error(log: str, manifest: dict) -> NiccError | None:
    """A map the kernel refused to create (before any verification), named with its size; else None."""
    m = re.search(r"map '([^']+)': failed to create: (.*)", log)
    if not m:
        return None
    spec = next((x for x in manifest.get("maps", []) if x["name"] == m.group(1)), None)
    size = f" ({spec['entries']} entries of {spec['value']} bytes)" if spec else ""
    return NiccError(f"the kernel refused to create BPF map '{m.group(1)}'{size} for pipeline "
                     f"{manifest.get('pipeline', '?')}: {m.group(2).strip()}",
                     stage_loc(manifest["stages"][0]), notes=["libbpf log (last lines):"] +
                     ["  " + ln for ln in log.splitlines()[-8:]])

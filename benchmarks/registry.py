"""Which hand-written baseline and host library belong to which pipeline.

Looked up by pipeline name; before any timing the driver checks each baseline and host
library against the reference interpreter on the very frames it measures, so a pipeline that
merely shares a name with E1 or E2 gets its baseline reported as not exact rather than
compared silently.

    b = baseline_for(ir)          # Baseline or None
    b.c, b.bpf                    # paths of the C and BPF C sources (None where there is none)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..compiler.ir import Pipeline

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINES = os.path.join(HERE, "baselines")


@dataclass(frozen=True)
class Baseline:
    pipeline: str
    c: str | None           # defines int NAME_hand_process(...), the signature of NAME_process
    bpf: str | None         # an XDP program (SEC("xdp")) with a per-CPU map "counters" of outcomes
    host: str | None        # key of nicc.benchmarks.measure_host.HOST_LIBRARIES


def _src(name: str) -> str | None:
    path = os.path.join(BASELINES, name)
    return path if os.path.exists(path) else None


BASELINE_PIPELINES = {"normalize": "torch", "criteo": "numpy+zlib", "resize": "cv2", "tokenize": "tokenizers"}


def baseline_for(ir: Pipeline) -> Baseline | None:
    if ir.name not in BASELINE_PIPELINES:
        return None
    return Baseline(ir.name, _src(f"{ir.name}.c"), _src(f"{ir.name}.bpf.c"), BASELINE_PIPELINES[ir.name])

"""The DPDK backend: C rendered from jinja2 templates, built against DPDK with pkg-config.

    files = generate(ir)        # {"normalize_process.c": "...", "normalize_process.h": "...", "Makefile": "..."}

:mod:`.renderer` turns the IR into the body of the per-packet function; the
templates in ``templates/`` hold the fixed C around it (framing, the commit of
a new payload, the pipeline descriptor, the Makefile). The data plane itself
(EAL, ports, burst loop, counters, bench) and the sanitizer harness are one
static C runtime in ``runtime/``, built once and linked with each pipeline.
Building and running are in :mod:`nicc.runtime.dpdk`.
"""
from __future__ import annotations

import copy
import os

import jinja2

from ...compiler.ir import Pipeline
from ..lowering import choose_lowerings
from .renderer import CODES, DpdkRenderer, render  # noqa: F401

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")

_env: jinja2.Environment | None = None


def env() -> jinja2.Environment:
    global _env
    if _env is None:
        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                                  trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return _env


# The static C runtime (the data plane's main loop, ports, counters, bench; the sanitizer harness):
# built once and linked with each pipeline's generated per-packet function.
RUNTIME = os.path.join(os.path.dirname(__file__), "runtime")
RUNTIME_SOURCES = ("nicc_dp.h", "nicc_bytes.h", "nicc_mcast.h", "nicc_dp.c", "nicc_harness.c")

# output file (with {name}) -> template
FILES = {
    "{name}_process.h": "process.h.j2",
    "{name}_process.c": "process.c.j2",
    "Makefile": "Makefile.j2",
}


def lower(ir: Pipeline) -> Pipeline:
    """A copy of ``ir`` with the DPDK target's lowering choices (:mod:`nicc.backends.lowering`)."""
    return choose_lowerings(copy.deepcopy(ir), "dpdk")


def generate(ir: Pipeline) -> dict[str, str]:
    """The generated sources of ``ir``, by file name (``NAME_tables.c`` only for large tables). Raises
    NiccError for what the target refuses."""
    ctx = dict(render(lower(ir)), runtime_dir=RUNTIME)
    files = dict(FILES, **({"{name}_tables.c": "tables.c.j2"} if ctx["large_tables"] else {}))
    return {fname.format(name=ir.name): env().get_template(tpl).render(**ctx) for fname, tpl in files.items()}

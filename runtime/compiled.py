"""A pipeline compiled for a target, as a reader wants to see it: where each stage runs, why, what
crosses to the host, and the target's resources used against its limits.

    c = compile_pipeline("examples/criteo_log.py", "xdp")    # the partition, then the target's compiler
    c                          # in Jupyter: the stage graph in NIC and host clusters, the wire, resource bars
    print(c.explain())         # the tables `nicc compile --explain` prints
    c.bars                     # [Bar("verified instructions", 2166, 1000000), Bar("stack", 48, 512, "bytes"), ...]

The bars come from the compiler's own numbers, per target (a rule table, :data:`BARS`):

=======  ==================================================================================================
xdp      verified instructions (the kernel's count) against 1,000,000; stack depth (the verifier's
         statistics) against 512 bytes; map memory (no fixed limit: the memory cgroup pays)
bmv2     packet growth of the NIC part against simple_switch's 512 bytes; p4c's register arrays, tables,
         action primitives and parser states (bmv2 itself sets no limit on them)
dpdk     none: no verifier, stack or growth limit, the cost is per-core cycles (``nicc bench``); the
         largest frame out against the 9,216-byte mbuf
=======  ==================================================================================================
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass

from ..backends.capabilities import capabilities
from ..compiler.graph import Bar, html, mimebundle, svg, to_dot
from ..compiler.ir import Pipeline
from ..compiler.partition import Split
from .split import plan
from .target import Artifact, get_target

UDP_FRAME = 42                    # Ethernet + IPv4 + UDP headers before the payload


@dataclass
class Compiled:
    """``ir`` compiled for ``target``: the artifact, the split it was compiled with, resource bars."""
    ir: Pipeline
    target: str
    artifact: Artifact
    split: Split
    bars: list[Bar]

    @property
    def nic(self) -> Pipeline:
        return self.split.nic

    @property
    def host(self) -> Pipeline | None:
        return self.split.host

    def to_dot(self) -> str:
        return to_dot(self.ir, self.split.placement(), self.bars)

    def explain(self) -> str:
        """The ``nicc compile --explain`` tables: placement, lowering choices, resources, and the bars."""
        return explain_table(self.artifact.manifest) + "\n\n" + bars_table(self.bars)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return mimebundle(self.to_dot())

    def _repr_svg_(self) -> str | None:
        return svg(self.to_dot())

    def _repr_html_(self) -> str:
        return html(self.to_dot())

    def __repr__(self) -> str:
        sp = self.split
        where = (f"split: {sum(r['place'] == 'host' for r in sp.rows)} stage(s) on the host, {sp.wire.size}-byte wire"
                 if sp.split else "whole on the NIC")
        return f"<nicc {self.ir.name} compiled for {self.target} in {self.artifact.outdir}: {where}>"


def compile_pipeline(pipeline, target: str, outdir: str | None = None) -> Compiled:
    """Partition ``pipeline`` (IR, ``@nd.pipeline`` function or file) for ``target`` and compile it into
    ``outdir`` (a temporary directory that lives as long as the result, by default)."""
    from .host.runtime import as_pipeline
    ir = as_pipeline(pipeline)
    t = get_target(target)
    own = outdir is None
    outdir = outdir or tempfile.mkdtemp(prefix=f"nicc-{target}-")
    art = t.compile(ir, outdir)
    if own:
        art.own_directory()
    sp = getattr(art, "split", None) or plan(ir, target)
    return Compiled(ir, target, art, sp, resource_bars(target, art, sp))


# ---- resources per target ----------------------------------------------------------------------

def resource_bars(target: str, art: Artifact, sp: Split) -> list[Bar]:
    return BARS.get(target, lambda a, s: [])(art, sp)


def _xdp_bars(art: Artifact, sp: Split) -> list[Bar]:
    lim = capabilities("xdp").limits
    res = art.manifest.get("resources", {})
    unverified = "not loaded through the verifier here (needs root and BPF)"
    stack = xdp_stack_depth(art.files.get("object"))
    return [
        Bar("verified instructions", res.get("verified_insns"), lim["verified instructions"], note=unverified
            if res.get("verified_insns") is None else ""),
        Bar("stack", sum(stack) if stack else None, lim["stack bytes"], "bytes",
            note=(f"frames {'+'.join(map(str, stack))}" if stack and len(stack) > 1 else "") if stack else unverified),
        Bar("map memory", res.get("map_bytes"), None, "bytes", "no fixed limit: the memory cgroup pays"),
    ]


def xdp_stack_depth(obj: str | None) -> list[int] | None:
    """Stack bytes per BPF function of the program in ``obj``, from the verifier's statistics (log level
    4), or None where it cannot be loaded here."""
    if not obj:
        return None
    try:
        from .libbpf import Loaded
        l = Loaded(obj, log_size=1 << 16, log_level=4)
    except Exception:                 # no libbpf, not root: not measured here  # noqa: BLE001
        return None
    try:
        m = re.search(r"stack depth ([0-9+]+)", l.verifier_log()) if l.ok else None
        return [int(x) for x in m.group(1).split("+")] if m else None
    finally:
        l.close()


def _bmv2_bars(art: Artifact, sp: Split) -> list[Bar]:
    from ..backends.p4.layout import GROWTH_LIMIT, partition_host_nic, payload_layout
    res = art.manifest.get("resources", {})
    lay = payload_layout(sp.nic)
    part = partition_host_nic(sp.nic, lay)
    segs = {a.index: a for a in lay.array_segs}
    worst = part.const_growth + sum(c * part.caps.get(i, segs[i].max) for i, c in part.coef.items() if c > 0)
    note = "packets that would grow more are handed to the host" if part.caps else ""
    nobound = "bmv2 sets no limit"
    return [
        Bar("packet growth", max(worst, 0), GROWTH_LIMIT, "bytes", note),
        Bar("register memory", res.get("register_bytes"), None, "bytes",
            f"{res.get('registers', 0)} register arrays; {nobound}"),
        Bar("match tables", res.get("keyed_tables"), None, "",
            f"{res.get('tables', 0)} tables in all, {res.get('table_entries', 0)} entries; {nobound}"),
        Bar("action primitives", res.get("primitives"), None, "", nobound),
        Bar("parser states", res.get("parser_states"), None, "", nobound),
    ]


def _dpdk_bars(art: Artifact, sp: Split) -> list[Bar]:
    from .dpdk import MAX_FRAME
    out = sp.nic.max_payload_out()
    return [
        Bar("limits", None, note="none: no verifier, stack or growth limit; the cost is per-core cycles (nicc bench)"),
        Bar("largest frame out", UDP_FRAME + out if out is not None else None, MAX_FRAME, "bytes",
            "" if out is not None else "the payload is never rewritten"),
    ]


BARS = {"xdp": _xdp_bars, "bmv2": _bmv2_bars, "dpdk": _dpdk_bars}


def bars_table(bars: list[Bar]) -> str:
    """The resource bars as text: ``label  used of limit unit (percent)``, one a line."""
    if not bars:
        return "resources against limits: (none for this target)"
    w = max(len(b.label) for b in bars)
    return "\n".join(["resources against limits:"] + [f"  {b.label.ljust(w)}  {b.text()}" for b in bars])


# ---- the --explain tables ----------------------------------------------------------------------

def explain_table(manifest: dict) -> str:
    """``manifest["explain"]`` (row dicts; a row's ``section`` key groups rows into one table each,
    columns in first-seen order) and ``manifest["resources"]`` as text tables; any target fills them."""
    rows = manifest.get("explain") or []
    out = []
    sections = dict.fromkeys(r.get("section", "") for r in rows)
    for sec in sections:
        part = [{k: v for k, v in r.items() if k != "section"} for r in rows if r.get("section", "") == sec]
        if out:
            out.append("")
        if sec:
            out.append(f"{sec}:")
        cols = list(dict.fromkeys(k for r in part for k in r))
        cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in part]
        width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
        out.append("  ".join(c.ljust(w) for c, w in zip(cols, width)).rstrip())
        out.append("  ".join("-" * w for w in width))
        out += ["  ".join(v.ljust(w) for v, w in zip(row, width)).rstrip() for row in cells]
    if not rows:
        out.append(f"(target {manifest.get('target', '?')} gives no per-object breakdown)")
    res = manifest.get("resources") or {}
    if res:
        out.append("")
        w = max(len(k) for k in res)
        out += [f"{k.ljust(w)}  {v}" for k, v in res.items()]
    return "\n".join(out)

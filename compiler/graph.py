"""A pipeline's data-flow graph (networkx) and its picture (Graphviz DOT, SVG/PNG when ``dot`` exists).

    g = dataflow_graph(ir)               # operand -> user edges, effects chained in program order
    draw(ir, "criteo.svg")
    draw(ir, "split.svg", plan(ir, "xdp").placement(), bars)   # NIC and host clusters, the cut, resources

Nodes are filled by kind (packet reads, arithmetic, tables, state, effects). With a placement
(:class:`Placement`, or a plain ``{node: "nic"|"host"}``) the stages are drawn in one cluster per
place, outlined in the place's colour; the values that cross from the NIC to the host go through
one *wire* node that names the payload and its size, so the cut is where the wire is. Resource
bars (:class:`Bar`: used against a limit) head the picture. :func:`svg` and :func:`html` are what
the notebook representations (``_repr_svg_``/``_repr_html_``) of pipelines and splits return;
without Graphviz they fall back to the DOT text, with a message saying so.
"""
from __future__ import annotations

import html as _html
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import networkx as nx

from .opcodes import BODY_OPS, EFFECTS, Op
from .types import bits_float, is_float

if TYPE_CHECKING:                    # the IR imports this module for its notebook pictures
    from .ir import Node, Pipeline


def dataflow_graph(p: Pipeline) -> nx.DiGraph:
    """Data-flow graph of the top-level block: ``data`` edges from operand to user (a map's edges
    include the outer values its body uses), ``order`` edges chaining effects in program order."""
    g = nx.DiGraph()
    prev_effect = None
    for i, n in enumerate(p.body.nodes):
        g.add_node(n, index=i)
        for a in n.args:
            g.add_edge(a, n, kind="data")
        if n.body is not None:
            for inner in n.body.walk():
                for a in inner.args:
                    if a in g and a is not n:
                        g.add_edge(a, n, kind="data")
        if n.op in EFFECTS or n.op in (Op.STATE_READ, Op.TIMESTAMP, Op.STREAM_READ):
            if prev_effect is not None:
                g.add_edge(prev_effect, n, kind="order")
            prev_effect = n
    return g


# ---- what a drawing shows besides the graph ------------------------------------------------------

@dataclass
class Placement:
    """Where each top-level stage runs (``"nic"`` or ``"host"``), why, and what crosses between them."""
    target: str
    place: dict[Node, str]
    reason: dict[Node, str] = field(default_factory=dict)
    guard: dict[Node, str] = field(default_factory=dict)        # stages the NIC runs for some packets only
    wire: list[tuple[Node, int]] = field(default_factory=list)  # crossing values and their bytes, wire order
    wire_bytes: int = 0
    header_bytes: int = 0
    host_port: int | None = None
    host_ns: float = 0.0                                         # estimated host work per packet
    labels: dict[Node, str] = field(default_factory=dict)       # how the --explain table names a stage
    counts: dict[str, int] = field(default_factory=dict)        # stages per place (constants not counted)


@dataclass
class Bar:
    """One resource: ``used`` of ``limit`` (``unit``); a bar without a limit is a number, ``used`` None
    means not measured here (``note`` says why)."""
    label: str
    used: float | None
    limit: float | None = None
    unit: str = ""
    note: str = ""

    @property
    def fraction(self) -> float | None:
        if self.used is None or not self.limit:
            return None
        return self.used / self.limit

    def text(self) -> str:
        if self.used is None:
            return self.note or "not measured"
        s = f"{self.used:,.0f}" + (f" of {self.limit:,.0f}" if self.limit else "")
        s += f" {self.unit}" if self.unit else ""
        if self.limit:
            s += f" ({100 * self.used / self.limit:.1f}%)"
        return s + (f"; {self.note}" if self.note else "")


# ---- DOT ---------------------------------------------------------------------------------------

COLORS = {
    "read": "#cfe8ff", "math": "#ffffff", "table": "#ffe9b3", "state": "#ffc9c9", "effect": "#d3f9d8", "map": "#e5dbff",
}
# place -> (outline, cluster fill, title)
PLACES = {"nic": ("#1864ab", "#e7f5ff", "NIC"), "host": ("#d9480f", "#fff4e6", "HOST")}
WIRE = ("#e67700", "#fff3bf")            # the wire payload node: outline, fill
BAR_USED, BAR_FREE, BAR_OVER, BAR_WIDTH = "#4263eb", "#dee2e6", "#e03131", 160


def _kind(op: Op) -> str:
    if op in (Op.FIELD, Op.ARRAY, Op.PAYLOAD_LEN, Op.TIMESTAMP, Op.CONST):
        return "read"
    if op in (Op.LUT, Op.BUCKETIZE, Op.CRC32):
        return "table"
    if op in (Op.STATE_READ, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.STREAM_READ, Op.STREAM_WRITE):
        return "state"
    if op in BODY_OPS:
        return "map"
    return "effect" if op in EFFECTS else "math"


def _q(s: str) -> str:
    """A DOT double-quoted string's contents (``\\n`` in ``s`` stays a DOT line break)."""
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


def _label(n: Node) -> str:
    text = n.op.value
    for k, v in n.attrs:
        if k == "value" and is_float(n.type):
            v = bits_float(v, n.type)                 # a float constant is kept as its bits
        if k in ("name", "table", "state", "verdict", "value", "fn"):
            text += f" {v}"
    if n.type is not None:
        text += f"\\n{n.type}"
    return text + f"\\n{n.loc.file.rsplit('/', 1)[-1]}:{n.loc.line}"


def _tooltip(n: Node, why: str | None) -> str:
    src = n.loc.source_line()
    parts = [why] if why else []
    if src:
        parts.append(f"{n.loc.file.rsplit('/', 1)[-1]}:{n.loc.line}: {src.strip()}")
    return " | ".join(parts)


def _wrap(s: str, width: int = 48) -> str:
    return "\\n".join(textwrap.wrap(s, width)) or s


def to_dot(p: Pipeline, placement: Placement | dict | None = None, bars: list[Bar] | None = None,
           title: str | None = None) -> str:
    """The graph as DOT: one cluster per place when ``placement`` is given, ``bars`` in the heading."""
    if isinstance(placement, dict):
        placement = Placement("nic", dict(placement))
    g = dataflow_graph(p)
    stages = list(p.body.nodes)
    ids = {n: f"n{i}" for i, n in enumerate(stages)}
    where = {n: (placement.place.get(n, "nic") if placement else None) for n in stages}
    for n in stages:
        for k, m in enumerate(n.body.walk() if n.body is not None else ()):
            ids[m] = f"{ids[n]}_{k}"
            where[m] = where[n]
    lines = [f'digraph "{_q(p.name)}" {{', '  rankdir=TB; newrank=true; fontname="Helvetica,Arial,sans-serif";',
             '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10];',
             '  edge [fontname="monospace", fontsize=9];',
             f"  label=<{_heading(p, placement, bars, title)}>; labelloc=t;"]

    def node_line(n: Node, indent: str, stage: bool = True) -> str:
        place = where[n]
        attrs = [f'label="{_q(_label(n))}"', f'fillcolor="{COLORS[_kind(n.op)]}"']
        why = placement.reason.get(n) if placement else None
        if place is not None:
            attrs += [f'color="{PLACES[place][0]}"', "penwidth=2",
                      f'class="{"stage" if stage else "body"} {place}"']
            if placement and n in placement.guard:
                attrs[-1] = f'class="stage {place} guarded"'
                attrs.append('style="rounded,filled,dashed"')
        tip = _tooltip(n, why)
        if tip:
            attrs.append(f'tooltip="{_q(tip)}"')
        return f"{indent}{ids[n]} [{', '.join(attrs)}];"

    def body_cluster(m: Node, indent: str) -> list[str]:
        what = "per element" if m.op is Op.MAP else "per step"
        out = [f'{indent}subgraph "cluster_{ids[m]}" {{ label="{what}"; style="rounded"; color="#7950f2"; '
               f'fontname="monospace"; fontsize=10;']
        out += [node_line(n, indent + "  ", stage=False) for n in m.body.walk()]
        out.append(f"{indent}}}")
        return out

    groups: dict[str | None, list[Node]] = {}
    for n in stages:
        groups.setdefault(where[n], []).append(n)
    if placement and (placement.guard or placement.wire):
        groups.setdefault("host", [])
    for place, nodes in groups.items():
        indent = "  "
        if place is not None:
            lines.append(f'  subgraph "cluster_{place}" {{ label="{_q(_cluster_title(place, placement, nodes))}"; '
                         f'style="rounded,filled"; color="{PLACES[place][0]}"; fillcolor="{PLACES[place][1]}"; '
                         f'fontname="monospace"; fontsize=11; penwidth=2;')
            indent = "    "
        for n in nodes:
            lines.append(node_line(n, indent))
            if n.body is not None:
                lines += body_cluster(n, indent)
        if place == "host" and placement and placement.guard:
            why = "; ".join(dict.fromkeys(w.split(": ", 1)[-1] for w in placement.guard.values()))
            lines.append(f'{indent}handoff [label="{_q(_wrap("handed off unchanged, finished here: " + why, 56))}", '
                         f'shape=note, style=filled, fillcolor="#ffffff", color="{PLACES["host"][0]}", '
                         f'class="handoff host"];')
        if place is not None:
            lines.append("  }")
    crossing = dict(placement.wire) if placement else {}
    if crossing:
        parts = [f"wire payload v1: {placement.wire_bytes} bytes", f"to UDP port {placement.host_port}",
                 f"header {placement.header_bytes} B"]
        parts += [f"{placement.labels.get(v, v.op.value)}: {v.type}, {b} B" for v, b in placement.wire]
        label = "\\n".join(_q(s) for s in parts)
        lines.append(f'  wire [label="{label}", shape=box, style="filled,bold", color="{WIRE[0]}", '
                     f'fillcolor="{WIRE[1]}", penwidth=2, class="wire"];')
    via_wire: set[Node] = set()           # crossing values already drawn into the wire
    from_wire: set[Node] = set()          # host nodes already drawn out of it

    def edge(a: Node, b: Node, style: str = "") -> None:
        if a in crossing and where[b] == "host":          # what crosses goes through the wire payload
            if a not in via_wire:
                via_wire.add(a)
                lines.append(f'  {ids[a]} -> wire [color="{WIRE[0]}", penwidth=2, label="{crossing[a]} B", '
                             'class="cut"];')
            if b not in from_wire:
                from_wire.add(b)
                lines.append(f'  wire -> {ids[b]} [color="{WIRE[0]}", penwidth=2, class="cut"{style}];')
            return
        lines.append(f"  {ids[a]} -> {ids[b]}{' [' + style.lstrip(', ') + ']' if style else ''};")

    for a, b, d in g.edges(data=True):
        if b.body is not None and a not in b.args:
            continue                      # an outer value the body uses: drawn to the body node instead
        edge(a, b, ', style=dashed, color="#999999"' if d.get("kind") == "order" else "")
    for m in [n for n in stages if n.body is not None]:
        for n in m.body.walk():
            for a in n.args:
                edge(a, n)
            if n.op is Op.ELEM:
                edge(m.args[n.attr("input")], n, ", style=dotted")
        lines.append(f"  {ids[m.body.nodes[-1]]} -> {ids[m]};")
    if placement and placement.guard:
        for n in placement.guard:
            lines.append(f'  {ids[n]} -> handoff [style=dashed, color="{PLACES["host"][0]}", '
                         f'label="unchanged", class="handoff"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster_title(place: str, pl: Placement | None, nodes: list[Node]) -> str:
    k = pl.counts.get(place, len(nodes)) if pl else len(nodes)
    if place == "nic":
        return f"NIC: {pl.target} ({k} stages)" if pl else "NIC"
    if k == 0:
        return "HOST (the whole pipeline, for the packets the NIC hands off)"
    extra = f", ~{pl.host_ns:,.0f} ns/packet of host work" if pl and pl.host_ns else ""
    return f"HOST ({k} stages{extra})"


def _heading(p: Pipeline, pl: Placement | None, bars: list[Bar] | None, title: str | None) -> str:
    """The graph's label: a title line and a table of resource bars (Graphviz HTML-like label)."""
    esc = _html.escape
    head = title or f"{p.name} (UDP port {p.port})"
    if pl is not None and title is None:
        counts = {k: pl.counts.get(k, sum(v == k for v in pl.place.values())) for k in ("nic", "host")}
        head += f" on {pl.target}: {counts['nic']} stages on the NIC, {counts['host']} on the host"
        if pl.wire_bytes:
            head += f", {pl.wire_bytes}-byte wire payload"
    rows = [f'<TR><TD COLSPAN="3"><B>{esc(head)}</B></TD></TR>']
    for b in bars or ():
        frac = b.fraction
        if frac is None:
            bar = '<TD></TD>'
        else:
            used = max(1, min(BAR_WIDTH - 1, round(BAR_WIDTH * frac)))
            color = BAR_OVER if frac > 1 else BAR_USED
            bar = ('<TD><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
                   f'<TD FIXEDSIZE="TRUE" WIDTH="{used}" HEIGHT="9" BGCOLOR="{color}"></TD>'
                   f'<TD FIXEDSIZE="TRUE" WIDTH="{BAR_WIDTH - used}" HEIGHT="9" BGCOLOR="{BAR_FREE}"></TD>'
                   '</TR></TABLE></TD>')
        rows.append(f'<TR><TD ALIGN="LEFT">{esc(b.label)}</TD>{bar}<TD ALIGN="LEFT">{esc(b.text())}</TD></TR>')
    return '<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="1">' + "".join(rows) + "</TABLE>"


# ---- pictures ----------------------------------------------------------------------------------

NO_DOT = "rendering needs Graphviz's 'dot' (apt-get install graphviz); write a .dot file instead"


def render(dot: str, fmt: str = "svg") -> bytes:
    """``dot`` rendered by Graphviz (RuntimeError when ``dot`` is missing; CalledProcessError when it fails)."""
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(NO_DOT)
    return subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), check=True, capture_output=True).stdout


def draw(p: Pipeline, path: str, placement: Placement | dict | None = None, bars: list[Bar] | None = None) -> str:
    """Write the graph to ``path`` (.dot always works; .svg/.png/.pdf need Graphviz's ``dot``)."""
    dot = to_dot(p, placement, bars)
    fmt = path.rsplit(".", 1)[-1].lower()
    if fmt in ("svg", "png", "pdf"):
        exe = shutil.which("dot")
        if exe is None:
            raise RuntimeError(NO_DOT)
        subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot.encode(), check=True)
    else:
        with open(path, "w") as f:
            f.write(dot)
    return path


def svg(dot: str) -> str | None:
    """The SVG text of ``dot``, or None when Graphviz is missing or fails (notebooks then show :func:`html`)."""
    try:
        return render(dot).decode()
    except (RuntimeError, OSError, subprocess.CalledProcessError):
        return None


def html(dot: str, svg_text: str | None = None) -> str:
    """The SVG inline in HTML, or, without Graphviz, a message and the DOT text."""
    svg_text = svg_text if svg_text is not None else svg(dot)
    if svg_text is not None:
        return f'<div class="nicc-graph">{svg_text[svg_text.find("<svg"):]}</div>'
    why = NO_DOT.split(";")[0] if shutil.which("dot") is None else "Graphviz's 'dot' could not render this graph"
    return (f"<p><b>nicc:</b> {_html.escape(why)}; here is the graph as DOT text "
            f"(paste it into any Graphviz viewer):</p><pre>{_html.escape(dot)}</pre>")


def mimebundle(dot: str) -> dict[str, str]:
    """What a notebook shows: SVG and HTML from one run of ``dot`` (the DOT text and a message without it)."""
    s = svg(dot)
    out = {"text/html": html(dot, s)}
    if s is not None:
        out["image/svg+xml"] = s
    return out

"""A pipeline's data-flow graph (networkx) and its picture (Graphviz DOT, SVG/PNG when ``dot`` exists).

    g = dataflow_graph(ir)               # operand -> user edges, effects chained in program order
    draw(ir, "criteo.svg")

Nodes are coloured by kind (packet reads, arithmetic, tables, state, effects)
and, when a placement is known (``placement={node: "nic"|"host"}``), drawn in
one cluster per place, so a host/NIC split is visible at a glance.
"""
from __future__ import annotations

import shutil
import subprocess

import networkx as nx

from .ir import EFFECTS, Op, Pipeline


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

COLORS = {
    "read": "#cfe8ff", "math": "#ffffff", "table": "#ffe9b3", "state": "#ffc9c9", "effect": "#d3f9d8", "map": "#e5dbff",
}


def _kind(op: Op) -> str:
    if op in (Op.FIELD, Op.ARRAY, Op.PAYLOAD_LEN, Op.TIMESTAMP, Op.CONST):
        return "read"
    if op in (Op.LUT, Op.BUCKETIZE, Op.CRC32):
        return "table"
    if op in (Op.STATE_READ, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.STREAM_READ, Op.STREAM_WRITE):
        return "state"
    if op in (Op.MAP, Op.SCAN):
        return "map"
    return "effect" if op in EFFECTS else "math"


def _label(n) -> str:
    text = n.op.value
    for k, v in n.attrs:
        if k in ("name", "table", "state", "verdict", "value"):
            text += f" {v}"
    if n.type is not None:
        text += f"\\n{n.type}"
    return text + f"\\n{n.loc.file.rsplit('/', 1)[-1]}:{n.loc.line}"


def to_dot(p: Pipeline, placement: dict | None = None) -> str:
    g = dataflow_graph(p)
    ids = {n: f"n{i}" for i, n in enumerate(g.nodes)}
    lines = [f'digraph "{p.name}" {{', "  rankdir=TB;", '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10];',
             f'  label="{p.name} (UDP port {p.port})"; labelloc=t;']
    places = {}
    for n in g.nodes:
        places.setdefault((placement or {}).get(n, "nic" if placement else None), []).append(n)
    for place, nodes in places.items():
        indent = "  "
        if place is not None:
            lines.append(f'  subgraph "cluster_{place}" {{ label="{place.upper()}"; style=dashed;')
            indent = "    "
        for n in nodes:
            lines.append(f'{indent}{ids[n]} [label="{_label(n)}", fillcolor="{COLORS[_kind(n.op)]}"];')
        if place is not None:
            lines.append("  }")
    for a, b, d in g.edges(data=True):
        if b.op is Op.MAP and a not in b.args:
            continue                      # drawn inside the map's cluster instead
        style = ' [style=dashed, color="#999999"]' if d.get("kind") == "order" else ""
        lines.append(f"  {ids[a]} -> {ids[b]}{style};")
    for m in [n for n in g.nodes if n.op is Op.MAP]:    # map bodies: one cluster each, run per element
        lines.append(f'  subgraph "cluster_{ids[m]}" {{ label="per element"; style=rounded; color="#7950f2";')
        for k, n in enumerate(m.body.walk()):
            ids[n] = f"{ids[m]}_{k}"
            lines.append(f'    {ids[n]} [label="{_label(n)}", fillcolor="{COLORS[_kind(n.op)]}"];')
        lines.append("  }")
        for n in m.body.walk():
            for a in n.args:
                lines.append(f"  {ids[a]} -> {ids[n]};")
            if n.op is Op.ELEM:
                lines.append(f"  {ids[m.args[n.attr('input')]]} -> {ids[n]} [style=dotted];")
        lines.append(f"  {ids[m.body.nodes[-1]]} -> {ids[m]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(p: Pipeline, path: str, placement: dict | None = None) -> str:
    """Write the graph to ``path`` (.dot always works; .svg/.png need Graphviz's ``dot``)."""
    dot = to_dot(p, placement)
    fmt = path.rsplit(".", 1)[-1].lower()
    if fmt in ("svg", "png", "pdf"):
        exe = shutil.which("dot")
        if exe is None:
            raise RuntimeError("rendering needs Graphviz's 'dot' (apt-get install graphviz); write a .dot file instead")
        subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot.encode(), check=True)
    else:
        with open(path, "w") as f:
            f.write(dot)
    return path

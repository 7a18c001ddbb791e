"""The notebook face: traced pipelines, IR and splits render as SVG (parsed back as XML here), stages
drawn where the partition put them, the wire payload between the parts, resource bars; without
Graphviz, the DOT text and a message; `nicc ir --graph --target`; the notebook in examples/ is stored
without outputs."""
import glob
import json
import os
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.cli import main
from nicc.compiler.graph import BAR_OVER, BAR_USED, PLACES, Bar, draw, to_dot
from nicc.compiler.partition import FREE
from nicc.compiler.passes import run_passes
from nicc.runtime.split import plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EX = lambda n: os.path.join(ROOT, "examples", f"{n}.py")     # noqa: E731
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def example(name):
    return run_passes(nd.load(EX(name)).trace())


def parse(svg: str) -> ET.Element:
    assert svg is not None, "no SVG (is Graphviz's dot installed?)"
    return ET.fromstring(svg)


def texts(root) -> str:
    return "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def stage_nodes(root) -> dict[str, ET.Element]:
    """SVG groups of the top-level stages, by their DOT id (``n<index>``)."""
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g")
            if "stage" in g.get("class", "").split()}


def outline(g) -> str:
    shape = next(e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon"))
    return shape.get("stroke")


@needs_dot
def test_a_traced_pipeline_and_its_ir_render_as_svg():
    pdef = nd.load(EX("criteo_log"))
    for obj in (pdef, run_passes(pdef.trace())):
        root = parse(obj._repr_svg_())
        words = texts(root)
        for stage in ("field label", "array cats", "crc32", "call log1p", "verdict_if drop", "emit"):
            assert stage in words, stage
        bundle = obj._repr_mimebundle_()
        assert parse(bundle["image/svg+xml"]).tag == f"{SVG}svg"
        assert bundle["text/html"].startswith('<div class="nicc-graph"><svg')
        assert "<svg" in obj._repr_html_()


@needs_dot
@pytest.mark.parametrize("target", ["xdp", "dpdk", "bmv2"])
def test_split_svg_places_every_stage_where_the_partition_put_it(target):
    ir = example("criteo_log")
    sp = plan(ir, target)
    root = parse(sp._repr_svg_())
    nodes = stage_nodes(root)
    assert len(nodes) == len(ir.body.nodes)
    on_nic = set(sp.nic.body.nodes)
    seen = set()
    for i, n in enumerate(ir.body.nodes):
        g = nodes[f"n{i}"]
        place = g.get("class").split()[2]
        if n.op not in FREE:
            assert place == ("nic" if n in on_nic else "host"), (i, n)
        assert outline(g) == PLACES[place][0]
        seen.add(place)
    assert seen == {"nic", "host"}
    words = texts(root)
    assert f"NIC: {target}" in words and "HOST (4 stages" in words
    assert f"wire payload v1: {sp.wire.size} bytes" in words and f"to UDP port {sp.host_port}" in words
    # every value that crosses goes into the wire node, labelled with its bytes
    cut = [g for g in root.iter(f"{SVG}g") if "cut" in g.get("class", "").split()]
    into = ["".join(t.itertext()) for g in cut for t in g.iter(f"{SVG}text")]
    assert sorted(into) == sorted(f"{b} B" for _, b in sp.placement().wire) == ["1 B", "104 B", "52 B"]


@needs_dot
def test_a_pinned_stage_moves_in_the_picture():
    ir = example("criteo_log")
    crc = next(i for i, n in enumerate(ir.body.nodes) if n.body is not None and
               any(m.op.value == "crc32" for m in n.body.walk()))
    before = stage_nodes(parse(plan(ir, "xdp")._repr_svg_()))[f"n{crc}"]
    ir.body.nodes[crc].set_attr("place", "host")                # what nd.on_host does
    sp = plan(ir, "xdp")
    after = stage_nodes(parse(sp._repr_svg_()))[f"n{crc}"]
    assert before.get("class") == "node stage nic" and after.get("class") == "node stage host"
    assert outline(after) == PLACES["host"][0]
    assert "pinned by nd.on_host" in after.find(f".//{SVG}a").get("{http://www.w3.org/1999/xlink}title")


@needs_dot
def test_a_guarded_stage_is_drawn_with_the_handoff():
    sp = plan(example("normalize"), "bmv2")
    root = parse(sp._repr_svg_())
    guarded = [g for g in stage_nodes(root).values() if "guarded" in g.get("class")]
    assert len(guarded) == 1 and "emit" in "".join(guarded[0].itertext())
    words = texts(root)
    assert "count > 170" in words.replace("\n", " ") and "HOST (the whole pipeline" in words


def test_placement_colours_and_bars_in_the_dot_text():
    ir = example("criteo_log")
    bars = [Bar("verified instructions", 2166, 1_000_000), Bar("stack", 600, 512, "bytes"),
            Bar("map memory", 4880, None, "bytes", "no fixed limit"), Bar("limits", None, note="none")]
    pl = plan(ir, "xdp").placement()
    dot = to_dot(ir, pl, bars)
    assert "2,166 of 1,000,000 (0.2%)" in dot and "600 of 512 bytes (117.2%)" in dot
    assert "4,880 bytes; no fixed limit" in dot and ">none<" in dot
    assert f'BGCOLOR="{BAR_USED}"' in dot and f'BGCOLOR="{BAR_OVER}"' in dot       # over the limit: red
    for place in ("nic", "host"):
        assert dot.count(f'color="{PLACES[place][0]}", penwidth=2, class="stage {place}"') == \
            sum(v == place for v in pl.place.values())
    assert sum(v == "host" and n.op not in FREE for n, v in pl.place.items()) == 4


@needs_dot
def test_without_graphviz_the_drawing_falls_back_to_dot_text(tmp_path, monkeypatch, capsys):
    ir = example("criteo")
    monkeypatch.setenv("PATH", str(tmp_path))                      # no `dot` anywhere
    assert ir._repr_svg_() is None
    page = ir._repr_html_()
    assert "Graphviz" in page and "digraph &quot;criteo&quot;" in page
    assert set(ir._repr_mimebundle_()) == {"text/html"}
    with pytest.raises(RuntimeError, match="graphviz"):
        draw(ir, str(tmp_path / "g.svg"))
    assert main(["ir", EX("criteo"), "--graph", str(tmp_path / "g.svg")]) == 2
    assert "Graphviz" in capsys.readouterr().err
    assert main(["ir", EX("criteo"), "--graph", str(tmp_path / "g.dot"), "--target", "xdp"]) == 0
    assert 'subgraph "cluster_nic"' in (tmp_path / "g.dot").read_text()


@needs_dot
def test_cli_ir_graph_with_a_target_draws_the_placement(tmp_path, capsys):
    path = tmp_path / "g.svg"
    assert main(["ir", EX("criteo_log"), "--graph", str(path), "--target", "dpdk"]) == 0
    root = parse(path.read_text())
    places = {g.get("class").split()[2] for g in stage_nodes(root).values()}
    assert places == {"nic", "host"} and "wire payload v1: 165 bytes" in texts(root)
    assert main(["ir", EX("criteo_log"), "--target", "dpdk"]) == 2
    assert "--graph" in capsys.readouterr().err


def test_a_float_constant_does_not_block_the_cut():
    """``x * 0.125`` on floats: the f32 constant is made on the host, not refused on the NIC."""
    class Rec(nd.Record):
        a = nd.u8
        xs = nd.array(nd.u32, 4)

    @nd.pipeline(port=9310)
    def scaled(rec: Rec):
        return nd.to_host(rec.a, nd.le(np.log1p(rec.xs.astype(np.float32)) * 0.125))
    from nicc.compiler.interp import Reference
    from nicc.compiler.types import is_float
    from nicc.runtime.packets import generate
    from nicc.runtime.split import complete
    ir = run_passes(scaled.trace())
    frames = generate(ir, 500, seed=9)
    for target in ("xdp", "dpdk", "bmv2"):
        sp = plan(ir, target)
        assert sp.split and not any(is_float(n.type) for n in sp.nic.body.walk())
        done = complete(sp, Reference(sp.nic).run(frames), frames)
        assert [(r.verdict, r.frames) for r in done] == [(r.verdict, r.frames) for r in Reference(ir).run(frames)]


def test_notebooks_are_stored_without_outputs():
    books = glob.glob(os.path.join(ROOT, "examples", "*.ipynb"))
    assert books
    for path in books:
        nb = json.load(open(path))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, (path, cell["source"][:60])


def test_a_pipeline_with_a_mistake_shows_the_mistake_at_its_line():
    class One(nd.Record):
        a = nd.u8

    @nd.pipeline(port=9311)
    def bad(rec: One):
        if rec.a:                               # Python control flow on a traced value
            nd.drop()
        return nd.to_host()
    bundle = bad._repr_mimebundle_()
    assert "test_graph_view.py" in bundle["text/plain"] and "error:" in bundle["text/plain"]
    assert "<pre>" in bundle["text/html"] and "if rec.a:" in bundle["text/html"]

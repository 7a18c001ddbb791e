"""IR text form, parser, verifier and passes."""
import os

import pytest
from hypothesis import given, settings, HealthCheck

import nicc.dsl as nd
from nicc.compiler.errors import InternalError, NiccError
from nicc.compiler.interp import Reference
from nicc.compiler.ir import Op, SPECS
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import PASSES, run_passes, verify
from nicc.compiler.typecheck import TYPE_RULES
from nicc.compiler.interp import EVAL_RULES
from tests.strategies import pipelines, random_frames

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = ["normalize", "criteo", "dedup", "resize", "tokenize"]


def load(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def test_every_op_has_a_type_rule_and_an_eval_rule():
    assert set(TYPE_RULES) == set(Op) == set(EVAL_RULES) == set(SPECS)


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_roundtrip(name):
    p = load(name)
    text = str(p)
    q = verify(parse_pipeline(text))
    assert str(q) == text


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(pipelines())
def test_print_parse_print_is_identity(p):
    text = str(p)
    q = parse_pipeline(text)
    verify(q)
    assert str(q) == text
    # the parsed pipeline means the same as the traced one
    frames = random_frames(p, 20, seed=len(text))
    a, b = Reference(p).run(frames), Reference(q).run(frames)
    assert [(r.verdict, r.frames) for r in a] == [(r.verdict, r.frames) for r in b]


def test_dead_code_is_removed():
    p = load("normalize")
    ops = [n.op for n in p.body.walk()]
    # row/col/image_id are read once each; nothing unused remains
    used = {id(a) for n in p.body.walk() for a in n.args}
    for n in p.body.walk():
        if SPECS[n.op].result and n.op is not Op.MAP:
            assert id(n) in used, n
    assert ops.count(Op.LUT) == 3


def test_parse_errors_point_at_the_line():
    text = str(load("dedup")).replace("state_update_if", "state_update_iff")
    with pytest.raises(NiccError) as e:
        parse_pipeline(text, "x.nir")
    assert "unknown op 'state_update_iff'" in e.value.message and e.value.loc.file == "x.nir"
    assert e.value.loc.line == text.splitlines().index(
        next(l for l in text.splitlines() if "state_update_iff" in l)) + 1


def test_parse_syntax_error_has_context():
    text = str(load("dedup")).replace(" = payload_len", " = = payload_len")
    with pytest.raises(NiccError) as e:
        parse_pipeline(text, "y.nir")
    assert "IR syntax error" in e.value.message and "^" in e.value.message


def test_parse_rejects_undefined_value():
    text = str(load("dedup")).replace("and %3, %4", "and %3, %99")
    with pytest.raises(NiccError, match="undefined value %99"):
        parse_pipeline(text)


def test_typecheck_catches_edited_ir():
    text = str(load("criteo")).replace("%5:bool = gt %3, %4", "%5:u8 = gt %3, %4")
    with pytest.raises(NiccError, match="declares type u8"):
        verify(parse_pipeline(text))


def test_print_ir_after(capsys):
    p = nd.load(os.path.join(ROOT, "examples", "dedup.py")).trace()
    run_passes(p, print_after={"eliminate_dead_code"})
    err = capsys.readouterr().err
    assert "// IR after eliminate_dead_code" in err and "pipeline dedup port 9003" in err


def test_print_ir_after_shows_the_notes(capsys):
    run_passes(nd.load(os.path.join(ROOT, "examples", "criteo.py")).trace(), print_after={"mark_fusion"})
    err = capsys.readouterr().err
    assert err.count("// IR after") == 1
    assert "map[fuse=emit] %7 {" in err and "  # fuse=emit: only the emit at line 25 uses it" in err
    assert "# trip=" not in err                       # annotate_trip_counts runs after mark_fusion


def test_notes_print_after_their_node_and_parse_back():
    p = load("criteo")
    m = next(n for n in p.body if n.op is Op.MAP)
    p.note(m, "schedule=unroll", "13 iterations: within the budget")
    text = str(p)
    lines = text.splitlines()
    i = next(i for i, line in enumerate(lines) if "= map[" in line)
    assert lines[i + 1].strip().startswith("# fuse=emit: ")
    assert "  # schedule=unroll: 13 iterations: within the budget" in lines[i + 1:i + 4]
    q = parse_pipeline(text)
    assert str(q) == text
    assert sorted((n.op.value, c, r) for n, c, r in q.notes) == sorted((n.op.value, c, r) for n, c, r in p.notes)


def test_notes_as_explain_rows_in_program_order():
    from nicc.compiler.printer import note_rows
    rows = note_rows(load("criteo"))
    assert [(r["op"], r["choice"]) for r in rows] == [
        ("field", "checked"), ("array", "checked"), ("map", "fuse=emit"), ("map", "trip=13"),
        ("array", "checked"), ("map", "fuse=emit"), ("map", "trip=26")]
    assert rows[0]["where"] == "criteo.py:22" and rows[0]["reason"].startswith("payload_len >= 1 here")


def test_a_note_is_one_line_and_a_new_one_replaces_the_same_choice():
    p = load("dedup")
    f = next(n for n in p.body if n.op is Op.FIELD)
    with pytest.raises(InternalError):
        p.note(f, "checked", "two\nlines")
    p.note(f, "impl=a", "first")
    p.note(f, "impl=b", "second")
    assert [m.choice for m in p.notes_of(f)] == ["checked", "impl=b"]
    p.unnote(f, "impl")
    assert [m.choice for m in p.notes_of(f)] == ["checked"]


def test_verify_knows_each_ops_attributes():
    text = str(load("dedup"))
    assert "checked=1" in text
    verify(parse_pipeline(text))
    with pytest.raises(NiccError, match="optionally"):
        verify(parse_pipeline(text.replace("endian=be, checked=1", "endian=be, trip=3")))
    with pytest.raises(NiccError, match="takes"):
        verify(parse_pipeline(text.replace("field[name=msg_id, ", "field[")))


def test_pass_list_is_ordered_verbs():
    names = [f.__name__ for f in PASSES]
    assert names[0] == "check_types"
    assert all("_" in n for n in names)


def test_graph_has_dataflow_and_order_edges():
    from nicc.compiler.graph import dataflow_graph
    p = load("dedup")
    g = dataflow_graph(p)
    upd = next(n for n in p.body if n.op is Op.STATE_UPDATE_IF)
    assert set(g.predecessors(upd)) >= set(upd.args)
    import networkx as nx
    assert nx.is_directed_acyclic_graph(g)


def _one_by_one(p, frames):
    return [(r.verdict, r.frames) for f in frames for r in Reference(p).run([f])]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(pipelines(with_state=False))
def test_batched_evaluation_equals_packet_by_packet(p):
    frames = random_frames(p, 30, seed=11)
    assert [(r.verdict, r.frames) for r in Reference(p).run(frames)] == _one_by_one(p, frames)


def test_per_packet_value_inside_map_body_batches():
    from nicc.runtime.packets import generate
    p = nd.load(os.path.join(os.path.dirname(__file__), "field_in_map.py")).trace()
    frames = generate(p, 200, 1)
    got = [(r.verdict, r.frames) for r in Reference(p).run(frames)]
    assert got == _one_by_one(p, frames)
    assert sum(r[1] != [f] for r, f in zip(got, frames)) > 20      # many frames really were rewritten

"""Bad pipelines (p4c's _errors samples): each file marks the offending line with
``# expect: <message>``; loading it must fail with ``file:line: error:`` there."""
import glob
import os
import re

import pytest

import nicc.dsl as nd
from nicc.compiler.errors import NiccError

BAD = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "bad", "*.py")))


def expectation(path):
    for i, line in enumerate(open(path), 1):
        m = re.search(r"# expect: (.*)$", line)
        if m:
            return i, m.group(1).strip()
    raise AssertionError(f"{path} has no '# expect:' line")


def test_enough_bad_pipelines():
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=[os.path.basename(p)[:-3] for p in BAD])
def test_bad_pipeline_reports_user_line(path):
    line, message = expectation(path)
    with pytest.raises(NiccError) as info:
        nd.load(path).trace()
    err = info.value
    assert err.loc is not None and os.path.samefile(err.loc.file, path), err.format()
    assert err.loc.line == line, err.format()
    assert message in err.message, err.format()
    text = err.format()
    assert text.startswith(f"{err.loc.file}:{line}: error: ")
    source = open(path).read().splitlines()[line - 1].strip()
    assert source in text                        # the user's own source line is shown


def test_caret_marks_the_expression():
    path = os.path.join(os.path.dirname(__file__), "bad", "width_mismatch.py")
    with pytest.raises(NiccError) as info:
        nd.load(path).trace()
    lines = info.value.format().splitlines()
    assert lines[1].strip() == "x = rec.a + rec.b  # expect: width mismatch: u8 + u16"
    caret = lines[2]
    start = caret.index("^")
    assert lines[1][start:start + len("rec.a + rec.b")] == "rec.a + rec.b"
    assert caret.count("^") == len("rec.a + rec.b")


def test_cli_reports_error_and_exit_status(tmp_path, capsys):
    from nicc.cli import main
    path = os.path.join(os.path.dirname(__file__), "bad", "float_division.py")
    assert main(["ir", path]) == 1
    err = capsys.readouterr().err
    assert re.search(r"float_division.py:6: error: '/' makes a float", err)
    assert "Traceback" not in err


def test_exceptions_from_libraries_are_placed_at_the_users_call(tmp_path):
    path = tmp_path / "lib.py"
    path.write_text("import numpy as np\nimport nicc.dsl as nd\nclass R(nd.Record):\n    a = nd.u8\n"
                    "@nd.pipeline(port=9000)\ndef p(rec: R):\n    w = np.zeros(3).reshape(7)\n    return nd.to_host()\n")
    with pytest.raises(NiccError) as info:
        nd.load(str(path)).trace()
    assert info.value.loc.line == 7 and info.value.loc.file == str(path)
    assert info.value.message.startswith("ValueError while tracing pipeline 'p': cannot reshape")


def test_faults_of_nicc_itself_stay_tracebacks(monkeypatch):
    """An exception raised by nicc's own code is a compiler bug, never blamed on the user's line."""
    from nicc.compiler import typecheck
    from nicc.compiler.ir import Op

    monkeypatch.setitem(typecheck.TYPE_RULES, Op.XOR, typecheck.t_not)     # a wrong rule: a bug in nicc
    closures = os.path.join(os.path.dirname(os.path.dirname(__file__)), "targets", "closures.py")
    with pytest.raises(TypeError, match="positional argument"):
        nd.load(closures, "before").trace()

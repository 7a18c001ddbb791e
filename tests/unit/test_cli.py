"""The CLI and the `run` contract on the reference interpreter."""
import json
import os
import subprocess
import sys

import pytest

from nicc.cli import main
from nicc.runtime import pcap
from nicc.runtime.packets import generate
import nicc.dsl as nd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EX = lambda n: os.path.join(ROOT, "examples", f"{n}.py")


def test_help_teaches():
    out = subprocess.run([sys.executable, "-m", "nicc.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for word in ("compile", "ir", "run", "test", "bench", "examples:"):
        assert word in out.stdout


def test_ir_prints_canonical_text(capsys):
    assert main(["ir", EX("dedup")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pipeline dedup port 9003 {")
    assert "state_update_if[state=seen, cmp=gt]" in out


def test_ir_graph_dot(tmp_path, capsys):
    path = str(tmp_path / "g.dot")
    assert main(["ir", EX("criteo"), "--graph", path]) == 0
    text = open(path).read()
    assert text.startswith('digraph "criteo"') and "bucketize" in text and "->" in text


def test_run_contract_interp(tmp_path, capsys):
    ir = nd.load(EX("dedup")).trace()
    frames = generate(ir, 300, seed=5)
    a, b = str(tmp_path / "a.pcap"), str(tmp_path / "b.pcap")
    pcap.write_pcap(a, [pcap.Packet(f, 1_000_000 * i) for i, f in enumerate(frames)])
    assert main(["run", EX("dedup"), "--target", "interp", "--pcap-in", a, "--pcap-out", b, "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    c = json.loads(out[-1])
    got = pcap.read_pcap(b)
    assert c["rx"] == 300 and c["tx_frames"] == len(got) == c["pass"] + c["transmit"]
    assert c["pass"] + c["drop"] == 300 and c["malformed"] > 0 and c["unselected"] > 0
    assert "malformed" in out[0] and "unselected" in out[0]
    # output timestamps come from the input frames, in order
    assert [p.ts_ns for p in got] == sorted(p.ts_ns for p in got)


def test_run_exit_statuses(tmp_path, capsys):
    b = str(tmp_path / "b.pcap")
    assert main(["run", EX("dedup"), "--target", "interp", "--pcap-in", str(tmp_path / "missing.pcap"),
                 "--pcap-out", b]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", EX("dedup"), "--target", "nope", "--pcap-in", "x", "--pcap-out", b])
    assert e.value.code == 2
    assert main(["ir", str(tmp_path / "nofile.py")]) == 2
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a pcap file at all....")
    assert main(["run", EX("dedup"), "--target", "interp", "--pcap-in", str(bad), "--pcap-out", b]) == 2


def test_output_created_even_when_empty(tmp_path):
    a, b = str(tmp_path / "a.pcap"), str(tmp_path / "b.pcap")
    pcap.write_pcap(a, [])
    assert main(["run", EX("criteo"), "--target", "interp", "--pcap-in", a, "--pcap-out", b]) == 0
    assert os.path.exists(b) and pcap.read_pcap(b) == []


def test_pcap_roundtrip_and_nanosecond_input(tmp_path):
    import struct
    path = tmp_path / "ns.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        f.write(struct.pack(">IIII", 3, 5, 4, 4) + b"abcd")
    p = pcap.read_pcap(str(path))
    assert p[0].data == b"abcd" and p[0].ts_ns == 3_000_000_005
    with pytest.raises(pcap.PcapError):
        (tmp_path / "t.pcap").write_bytes(open(path, "rb").read()[:-2])
        pcap.read_pcap(str(tmp_path / "t.pcap"))


# -- user mistakes: `file:line: error:` and exit 1; bad usage: exit 2; never a traceback ---------------

BAD = os.path.join(ROOT, "tests", "unit", "bad")
MISTAKES = ["syntax_error", "indentation_error", "import_error", "name_error_at_load", "name_error", "recursion",
            "numpy_ufunc", "lut_returns_str", "lut_returns_none", "nested_map", "map_on_scalar", "div_by_zero",
            "shift_too_wide", "state_index_out_of_range", "bucketize_float_u64", "annotation_unknown"]


def _expected_line(path):
    return next(i for i, line in enumerate(open(path), 1) if "# expect:" in line)


@pytest.mark.parametrize("name", MISTAKES)
def test_mistakes_in_the_pipeline_file_are_errors_at_the_users_line(name, capsys):
    path = os.path.join(BAD, f"{name}.py")
    assert main(["ir", path]) == 1
    err = capsys.readouterr().err
    line = _expected_line(path)
    assert err.startswith(f"{path}:{line}: error: "), err
    assert open(path).read().splitlines()[line - 1].strip() in err        # the source line is shown
    assert "Traceback" not in err


def test_mistakes_exit_1_without_traceback_from_the_command_line(tmp_path):
    for name in ("syntax_error", "recursion", "import_error"):
        path = os.path.join(BAD, f"{name}.py")
        p = subprocess.run([sys.executable, "-m", "nicc.cli", "ir", path], capture_output=True, text=True)
        assert p.returncode == 1, p.stderr
        assert f"{name}.py:{_expected_line(path)}: error: " in p.stderr and "Traceback" not in p.stderr, p.stderr
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"x = 1\x00\n")
    p = subprocess.run([sys.executable, "-m", "nicc.cli", "ir", str(binary)], capture_output=True, text=True)
    assert p.returncode == 1 and f"{binary}:1: error: syntax error" in p.stderr, p.stderr


def _usage_error(argv, capsys, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nicc: error: ") and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


UNWRITABLE = "/sys/nicc-unwritable"      # sysfs refuses new files, even to root


def test_pcap_out_that_cannot_be_written_is_a_usage_error(tmp_path, capsys):
    a = str(tmp_path / "a.pcap")
    pcap.write_pcap(a, [])
    run = ["run", EX("dedup"), "--target", "interp", "--pcap-in", a, "--pcap-out"]
    _usage_error(run + [str(tmp_path / "missing" / "b.pcap")], capsys, "does not exist")
    _usage_error(run + [str(tmp_path)], capsys, "is a directory")
    _usage_error(run + [UNWRITABLE + ".pcap"], capsys, "cannot write the output capture")


def test_compile_output_that_cannot_be_written_is_a_usage_error(tmp_path, capsys):
    comp = ["compile", EX("dedup"), "--target", "bmv2", "-o"]
    _usage_error(comp + [str(tmp_path / "missing" / "deeper" / "out")], capsys, "does not exist")
    f = tmp_path / "file"
    f.write_text("")
    _usage_error(comp + [str(f)], capsys, "is not a directory")
    _usage_error(comp + [UNWRITABLE], capsys, "cannot write the output")


def test_graph_that_cannot_be_written_is_a_usage_error(tmp_path, capsys):
    _usage_error(["ir", EX("dedup"), "--graph", str(tmp_path / "missing" / "g.dot")], capsys, "does not exist")
    _usage_error(["ir", EX("dedup"), "--graph", str(tmp_path)], capsys, "is a directory")
    _usage_error(["ir", EX("dedup"), "--graph", UNWRITABLE + ".dot"], capsys, "cannot write the graph")


def test_print_ir_after_checks_pass_names(capsys):
    err = _usage_error(["--print-ir-after", "bogus", "ir", EX("dedup")], capsys, "unknown pass 'bogus'")
    assert "check_types" in err and "eliminate_dead_code" in err and "all" in err
    assert main(["--print-ir-after", "eliminate_dead_code", "ir", EX("dedup")]) == 0
    assert "// IR after eliminate_dead_code" in capsys.readouterr().err


def test_lcores_is_for_live_dpdk_runs(tmp_path):
    from nicc import cli
    ex = os.path.join(ROOT, "examples", "criteo.py")
    assert cli.main(["run", ex, "--target", "dpdk", "--pcap-in", "a", "--pcap-out", str(tmp_path / "b"),
                     "--lcores", "2"]) == 2
    assert cli.main(["run", ex, "--target", "xdp", "--iface", "lo", "--lcores", "2"]) == 2


def test_compile_a_tree_gives_one_artifact_per_role(tmp_path, capsys):
    market = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "examples", "market.py")
    assert main(["compile", market, "--target", "interp", "-o", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["proxy", "receiver", "sender"]
    assert os.listdir(tmp_path / "proxy") == ["relay.nir"]
    text = (tmp_path / "proxy" / "relay.nir").read_text()
    assert "group @copies [max=64, rewrite=(mac, ip, udp), source=(mac, ip)] = []" in text
    assert main(["compile", f"{market}:receive", "--target", "interp", "-o", str(tmp_path / "one")]) == 0
    assert os.listdir(tmp_path / "one") == ["receive.nir"]


def test_a_nul_byte_is_a_syntax_error_on_every_python():
    """Python before 3.11.4 (Debian 12's 3.11.2) raises ValueError, not SyntaxError, for a NUL byte."""
    from nicc.compiler.errors import error_from_exception
    err = error_from_exception(ValueError("source code string cannot contain null bytes"),
                               "loading the pipeline file", "/x/binary.py")
    assert err.message.startswith("syntax error: ") and (err.loc.file, err.loc.line) == ("/x/binary.py", 1)

"""Artifacts compiled for one run live in a temporary directory that goes with them: no run leaves
a /tmp/nicc-<target>-* folder behind (issue 8). The target runs of the same check are in
tests/targets/test_artifact_dirs.py."""
import gc
import os
import subprocess
import sys

from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime.target import InterpTarget

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ir():
    return run_passes(load(os.path.join(ROOT, "examples", "dedup.py")).trace())


def test_temporary_artifact_goes_with_its_last_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)          # re-read TMPDIR
    t = InterpTarget()
    art = t.ensure_artifact(_ir(), None)
    d = art.outdir
    assert os.path.dirname(d) == str(tmp_path) and os.path.basename(d).startswith("nicc-interp-")
    assert os.path.isfile(art.files["ir"])
    del art
    gc.collect()
    assert not os.path.exists(d) and os.listdir(tmp_path) == []


def test_discard_and_given_directories(tmp_path):
    t = InterpTarget()
    art = t.ensure_artifact(_ir(), None)
    art.discard()
    assert not os.path.exists(art.outdir)
    given = t.compile(_ir(), str(tmp_path / "mine"))
    assert t.ensure_artifact(_ir(), given) is given
    given.discard()
    del given
    gc.collect()
    assert os.listdir(tmp_path / "mine")                   # a directory the caller gave is never removed


def test_cli_runs_leave_no_temporary_directories(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "nicc.cli", "test", os.path.join(ROOT, "examples", "dedup.py"),
                        "--target", "interp", "--count", "100"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert os.listdir(tmp_path) == []

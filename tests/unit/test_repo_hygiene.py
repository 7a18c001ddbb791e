"""The tree itself: no merge-conflict markers left in tracked text files; no unused imports or
variables and no undefined names in the Python (pyflakes' rules, run by ruff: pyproject.toml)."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKER = re.compile(rb"^(<{7}|>{7}) ", re.M)


def test_no_conflict_markers():
    files = subprocess.run(["git", "ls-files"], capture_output=True, cwd=ROOT, check=True).stdout.decode().split()
    bad = []
    for f in files:
        path = os.path.join(ROOT, f)
        if os.path.isfile(path) and os.path.getsize(path) < 4 << 20:
            with open(path, "rb") as fh:
                if MARKER.search(fh.read()):
                    bad.append(f)
    assert not bad, f"merge-conflict markers in {bad}"


def test_python_is_clean():
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e .[test] installs it)")
    r = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", "."], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr

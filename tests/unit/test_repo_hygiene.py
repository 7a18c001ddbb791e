"""The tree itself: no merge-conflict markers left in tracked text files."""
import os
import re
import subprocess

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

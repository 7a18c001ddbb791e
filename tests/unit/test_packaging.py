"""What ``pip install .`` (not editable) installs: every module and data file of the packages.

An editable install finds a package missing from pyproject.toml's list through the source tree; a
wheel leaves it out, and ``nicc emulate`` or the TC target would fail on import. So this builds the
wheel from a copy of the tracked files (a build/ directory left in the checkout would leak old files
into it) and checks that every tracked file under the packages' directories is in it."""
import os
import shutil
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIRS = {"nicc": "nicc", "dsl": "nicc/dsl", "compiler": "nicc/compiler", "backends": "nicc/backends",
        "runtime": "nicc/runtime", "benchmarks": "nicc/benchmarks"}     # source dir -> where it installs
NOT_INSTALLED = ("benchmarks/results/",)                                 # measurement outputs, not code


def tracked(*paths: str) -> list[str]:
    """The files git tracks under ``paths`` (the whole tree if none); outside a git checkout (an unpacked
    source archive), every file there but Python's caches."""
    r = subprocess.run(["git", "ls-files", *paths], capture_output=True, text=True, cwd=ROOT)
    if r.returncode == 0:
        return r.stdout.split()
    out = []
    for top in paths or (".",):
        for d, subdirs, names in os.walk(os.path.join(ROOT, top)):
            subdirs[:] = [s for s in subdirs if s not in ("__pycache__", ".venv", ".git", "build")]
            out += [os.path.relpath(os.path.join(d, n), ROOT) for n in names if not n.endswith(".pyc")]
    return out


def test_the_wheel_holds_every_module_and_data_file(tmp_path):
    src, out = tmp_path / "src", tmp_path / "wheel"
    for f in tracked():
        if os.path.isfile(os.path.join(ROOT, f)):       # (a file deleted but not yet committed is left out)
            os.makedirs(src / os.path.dirname(f), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), src / f)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = out.glob("nicc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    files = [f for f in tracked(*DIRS) if not f.startswith(NOT_INSTALLED)]
    want = {DIRS[f.split("/", 1)[0]] + "/" + f.split("/", 1)[1] for f in files}
    missing = sorted(want - names)
    assert not missing, f"not in the wheel (pyproject.toml's packages or package-data): {missing[:20]}"
    assert len(want) > 150

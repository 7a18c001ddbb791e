"""Golden IR text for each example; regenerate with UPDATE_GOLDENS=1 and read the diff."""
import os

import pytest

import nicc.dsl as nd
from nicc.compiler.passes import run_passes
from nicc.compiler.printer import print_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(os.path.dirname(__file__), "ir")


@pytest.mark.parametrize("name", ["normalize", "criteo", "dedup", "resize"])
def test_ir_golden(name):
    p = run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())
    text = print_pipeline(p, root=ROOT)
    path = os.path.join(HERE, f"{name}.nir")
    if os.environ.get("UPDATE_GOLDENS"):
        os.makedirs(HERE, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"IR of {name} changed; run `make goldens` and review the diff"

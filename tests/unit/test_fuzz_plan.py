"""What `make fuzz` runs: every pipeline of every example (files with several pipelines by FILE:NAME),
and per-target frame limits."""
import os

import pytest

from nicc.runtime import fuzz


def test_every_pipeline_of_every_example():
    specs = fuzz.default_pipelines()
    names = {os.path.basename(s) for s in specs}
    assert {"normalize.py", "criteo.py", "criteo_log.py", "dedup.py", "resize.py", "tokenize.py"} <= names
    assert {"market.py:send", "market.py:relay", "market.py:receive"} <= names
    assert "market.py" not in names and "demo.py" not in names
    from nicc.dsl import load
    for s in specs:                                        # each one names exactly one pipeline
        path, _, name = s.partition(":")
        assert load(path, name or None).name


def test_limits():
    assert fuzz.parse_limits(["bmv2=20000", "xdp=5"], ["xdp", "bmv2"]) == {"bmv2": 20000, "xdp": 5}
    for bad in (["bmv2"], ["p4=3"], ["bmv2=lots"]):
        with pytest.raises(SystemExit):
            fuzz.parse_limits(bad, ["xdp", "bmv2"])

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


def test_a_small_run_end_to_end(capsys):
    """Shards, the reference per target limits, the summary: a run on the interpreter (no kernel)."""
    crit = os.path.join(fuzz.ROOT, "examples", "criteo.py")
    assert fuzz.main(["--count", "60", "--shard", "25", "--targets", "interp", "--jobs", "1", crit]) == 0
    out = capsys.readouterr().out
    assert "60 frames compared with the reference" in out and "0 shard(s) with a mismatch" in out
    assert any(ln.split()[:3] == ["criteo.py", "interp", "60"] for ln in out.splitlines())


def test_a_target_run_that_fails_is_that_shards_failure(monkeypatch, tmp_path):
    """A run that raises (a switch that died, a fault in nicc) is reported with its traceback as the
    shard's failure; the other targets of the shard still run (the whole fuzz run is not lost)."""
    from nicc.runtime.target import InterpTarget
    crit = os.path.join(fuzz.ROOT, "examples", "criteo.py")
    calls = []

    def broken(self, ir, frames, artifact=None, timestamps=None):
        calls.append(len(frames))
        if len(calls) == 1:
            raise RuntimeError("the switch exited with status 139")
        return real(self, ir, frames, artifact, timestamps)
    real = InterpTarget.run
    monkeypatch.setattr(InterpTarget, "run", broken)
    out = fuzz._shard((crit, 0, 7, [("interp", 30), ("interp", 20)], str(tmp_path)))
    assert out[0]["crashed"] and "status 139" in out[0]["report"] and "Traceback" in out[0]["report"]
    assert out[1]["ok"] and out[1]["frames"] == 20 and calls == [30, 20]

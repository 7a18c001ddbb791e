"""examples/tour.ipynb, executed as a reader would run it (nbclient, a fresh ipykernel): every cell
runs without error, including its own assertions (the float features equal numpy's, a pinned stage
moves, the tensors of the training loop fed live by XDP on a veth pair equal the reference). Needs
root and clang (section 5 creates a network namespace tagged with this process's id, removed by the
notebook itself and, should it fail half-way, here)."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOUR = os.path.join(ROOT, "examples", "tour.ipynb")
pytestmark = [pytest.mark.privileged, pytest.mark.toolchain]


def test_the_tour_notebook_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nicc.runtime.xdp import XdpTarget
    why = XdpTarget().unavailable()
    if why:
        pytest.skip(f"xdp target unavailable: {why}")
    if shutil.which("dot") is None:
        pytest.skip("no Graphviz dot")
    tag = f"{os.getpid() % 100000}"
    monkeypatch.setenv("NICC_TOUR_TAG", tag)
    nb = nbformat.read(TOUR, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:
        if os.path.exists(f"/var/run/netns/tour{tag}"):          # the notebook failed before its own cleanup
            subprocess.run(["ip", "netns", "del", f"tour{tag}"], capture_output=True)
    assert not os.path.exists(f"/var/run/netns/tour{tag}"), "the notebook left its network namespace behind"
    out = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in out if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in out if o.output_type == "stream")
    assert "rows equal numpy's log1p and zlib's crc32 bit for bit" in text
    assert "rows: the tensors equal the reference" in text
    pictures = [o for o in out if "image/svg+xml" in o.get("data", {})]
    assert len(pictures) >= 3                                    # the pipeline, the compiled split, the pin

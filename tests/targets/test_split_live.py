"""A split pipeline served live on a veth pair: criteo_log's NIC part attached with XDP, its host part
reading the wire payloads from the same interface (AF_PACKET). The values delivered equal the whole
pipeline's on the reference interpreter (and numpy's log1p / zlib's crc32), through the runtime, the
torch dataset, `serve` and `nicc serve --target xdp`; both halves' counters account for every frame."""
import json
import os
import signal
import subprocess
import threading
import time
import zlib

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.errors import NiccError
from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.runtime.host import SplitServer, check_counters, concat
from nicc.runtime.packets import generate, udp_frame
from tests.hostref import expected
from tests.targets.test_host_sockets import sender, veth  # noqa: F401  (the fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NICC = os.path.join(ROOT, ".venv", "bin", "nicc")
CRITEO_LOG = os.path.join(ROOT, "examples", "criteo_log.py")
live = [pytest.mark.privileged, pytest.mark.toolchain]


@pytest.fixture
def xdp():
    from nicc.runtime.xdp import XdpTarget
    why = XdpTarget().unavailable()
    if why:
        pytest.skip(f"xdp target unavailable: {why}")


def load(path):
    return run_passes(nd.load(path).trace())


def traffic(ir, seed):
    """Valid records (a third with label 2, dropped) and generated frames of every other kind."""
    rng = np.random.default_rng(seed)
    recs = [bytes([int(rng.integers(0, 3))]) + rng.bytes(156) for _ in range(300)]
    mine = [bytes(udp_frame(p, ir.port, rng)) for p in recs]
    others = [f for f in generate(ir, 600, seed=seed) if 14 <= len(f) <= 1514 and f[12:14] != b"\x81\x00"]
    return mine + others, recs


def check_rows(ir, values, frames, recs):
    """``values`` (the host runtime's, by the whole pipeline's names) hold the reference's rows in order."""
    exp = expected(ir, frames)
    assert len(exp) > 150 and len(values["label"]) == len(exp)
    for k, (_, (label, dense, cats)) in enumerate(exp):
        assert values["label"][k] == label
        assert values["dense"][k].astype("<f4").tobytes() == dense["_"].astype("<u4").tobytes()   # the bits
        assert np.array_equal(values["cats"][k], cats["_"].astype(np.uint32))
    kept = [r for r in recs if r[0] <= 1]             # and numpy's own log1p and zlib's crc32 for our records
    want_dense = np.log1p(np.array([np.frombuffer(r[1:53], ">u4") for r in kept]).astype(np.float32))
    want_cats = np.array([[zlib.crc32(r[53 + 4 * i:57 + 4 * i]) & 0xFFFFF for i in range(26)] for r in kept])
    assert values["dense"][:len(kept)].tobytes() == want_dense.astype("<f4").tobytes()
    assert np.array_equal(values["cats"][:len(kept)], want_cats)
    return len(exp)


@live[0]
@live[1]
def test_split_server_runtime_and_dataset_on_veth(veth, xdp):    # noqa: F811
    ns, a, b = veth
    ir = load(CRITEO_LOG)
    frames, recs = traffic(ir, 5)
    with SplitServer(ir, a, "xdp", netns=ns) as live:
        assert live.names == ["label", "dense", "cats"]
        rt = live.runtime(batch=128)
        got = []
        t = threading.Thread(target=lambda: got.extend(rt), daemon=True)
        t.start()
        assert live.ready.wait(30)
        with sender(ns, b) as tx:
            for f in frames:
                tx.send(f)
        want = len(expected(ir, frames))
        end = time.monotonic() + 60
        while rt.counters["rows"] < want and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(0.2)                                 # anything more would show up as too many
        rt.stop()
        t.join(30)
        nic = live.counters()
        both = live.both()
    assert check_rows(ir, concat(got).values, frames, recs) == want
    host = both["host"]
    assert check_counters(host) == [] and host["lost"] == 0 and host["rows"] == want
    assert nic["rx"] == len(frames) and nic["unhandled"] == 0
    assert host["rx"] == nic["rx"] - nic["drop"]        # every frame the NIC part let through reached the host
    assert "xdp" not in subprocess.run(["ip", "-n", ns, "link", "show", a], capture_output=True, text=True).stdout

    # the same through the torch dataset (a second attach, after the first detached)
    from torch.utils.data import DataLoader
    with SplitServer(ir, a, "xdp", netns=ns) as live:
        loader = DataLoader(live.dataset(batch=64, idle=True), batch_size=None)
        tx = threading.Thread(target=lambda: live.ready.wait(30) and _send(ns, b, frames))
        tx.start()
        rows, end = [], time.monotonic() + 60
        for batch in loader:
            rows += [batch] if len(batch["label"]) else []
            if sum(len(r["label"]) for r in rows) >= want or time.monotonic() > end:
                break
        tx.join()
    vals = {k: np.concatenate([r[k].numpy() for r in rows]) for k in ("label", "dense", "cats")}
    check_rows(ir, vals, frames, recs)


def _send(ns, dev, frames):
    with sender(ns, dev) as tx:
        for f in frames:
            tx.send(f)
    return True


@live[0]
@live[1]
@pytest.mark.parametrize("how", ["serve", "run"])
def test_cli_serve_target_xdp_until_ctrl_c(veth, xdp, how):    # noqa: F811
    """`nicc serve P --iface IF --target xdp`, and `nicc run P --target xdp --iface IF` on a split pipeline."""
    ns, a, b = veth
    ir = load(CRITEO_LOG)
    frames, recs = traffic(ir, 6)
    want = len(expected(ir, frames))
    cmd = ([NICC, "serve", CRITEO_LOG, "--iface", a, "--netns", ns, "--target", "xdp", "--interval", "0.2", "--json"]
           if how == "serve" else ["ip", "netns", "exec", ns, NICC, "run", CRITEO_LOG, "--target", "xdp", "--iface", a])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()                     # the first report: attached, socket open
        assert first.startswith("nicc serve criteo_log_host:"), first + p.stderr.read()
        _send(ns, b, frames)
        end = time.monotonic() + 60
        while True:
            line = p.stdout.readline()
            assert line and time.monotonic() < end, line + p.stderr.read()
            if f" rows {want} " in line:
                break
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    if how == "run":
        assert f" rows {want} " in out.strip().splitlines()[-2] and "(done)" in out
        assert "xdp" not in subprocess.run(["ip", "-n", ns, "link", "show", a], capture_output=True, text=True).stdout
        return
    final = json.loads(out.strip().splitlines()[-1])
    host, nic = final["host"], final["nic"]
    assert check_counters(host) == [] and host["rows"] == want and host["lost"] == 0
    assert nic["rx"] == len(frames) and nic["drop"] == sum(r.outcome == "drop" for r in Reference(ir).run(frames))
    assert "nic:" in out
    assert "xdp" not in subprocess.run(["ip", "-n", ns, "link", "show", a], capture_output=True, text=True).stdout


def test_a_pipeline_the_nic_runs_whole_has_nothing_to_serve_live():
    with pytest.raises(NiccError, match="no host part"):
        SplitServer(os.path.join(ROOT, "examples", "criteo.py"), "lo", "xdp")
    with pytest.raises(NiccError, match="XDP"):
        SplitServer(CRITEO_LOG, "lo", "dpdk")
    r = subprocess.run([NICC, "serve", CRITEO_LOG, "--udp", "9002", "--target", "xdp"], capture_output=True, text=True)
    assert r.returncode == 2 and "--iface" in r.stderr
    r = subprocess.run([NICC, "serve", CRITEO_LOG, "--iface", "lo", "--target", "bmv2"], capture_output=True, text=True)
    assert r.returncode == 2 and "XDP" in r.stderr

"""``serve`` and ``nicc serve``: the host part on a capture, on live UDP (stopped with Ctrl-C), and
with a NIC part: E2 compiled for XDP and attached to one end of a veth pair, its output read from
the same interface by the host runtime running a host part whose record is E2's output format."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.runtime import pcap
from nicc.runtime.host import (AfPacketSource, HostRuntime, PcapSource, XdpNic, check_counters, concat, serve)
from nicc.runtime.packets import generate
from tests.hostref import assert_rows_match, expected
from tests.targets.test_host_sockets import MTU, e2_payloads, free_udp_port, rx_dropped, sender, veth  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NICC = os.path.join(ROOT, ".venv", "bin", "nicc")
E2 = os.path.join(ROOT, "examples", "criteo.py")
HOST_PART = os.path.join(ROOT, "tests", "targets", "pipelines", "criteo_host.py")


def load(path):
    return run_passes(nd.load(path).trace())


def test_serve_api_on_a_capture(tmp_path):
    ir = load(E2)
    frames = generate(ir, 2000, seed=41)
    path = str(tmp_path / "in.pcap")
    pcap.write_pcap(path, frames)
    got, reports, lines = [], [], []

    class Out:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass

    c = serve(ir, PcapSource(path), callback=got.append, report=lambda h, n, t: reports.append(h), out=Out(),
              batch=300)
    assert check_counters(c) == [] and c["rx"] == len(frames)
    assert reports[-1] == c and "(done)" in "".join(lines)
    assert_rows_match(ir, concat(got), expected(ir, frames), HostRuntime(ir, PcapSource(path)).columns)


def test_cli_serve_udp_until_ctrl_c():
    port = free_udp_port()
    p = subprocess.Popen([NICC, "serve", E2, "--udp", f"127.0.0.1:{port}", "--interval", "0.2", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()                     # the first report: the socket is open
        assert first.startswith("nicc serve criteo:"), first + p.stderr.read()
        pls = e2_payloads(500, seed=42)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for pl in pls:
                tx.sendto(pl, ("127.0.0.1", port))
        end = time.monotonic() + 60
        while True:                                     # until every datagram is accounted for
            line = p.stdout.readline()
            assert line and time.monotonic() < end, line + p.stderr.read()
            if f"arrived {len(pls)} " in line:
                break
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    final = json.loads(out.strip().splitlines()[-1])
    c = final["host"]
    assert c["rx"] == len(pls) and c["lost"] == 0 and check_counters(c) == [] and final["nic"] is None
    want = sum(pl[0] <= 1 for pl in pls)
    assert c["rows"] == want and c["drop"] == len(pls) - want


def test_cli_serve_usage_errors(tmp_path):
    def run(*args):
        return subprocess.run([NICC, "serve", E2, *args], capture_output=True, text=True)
    assert run().returncode == 2
    assert run("--udp", "9002", "--pcap", "x.pcap").returncode == 2
    assert run("--udp", "notaport").returncode == 2
    r = run("--pcap", str(tmp_path / "missing.pcap"))
    assert r.returncode == 2 and "missing.pcap" in r.stderr
    r = run("--udp", "9002", "--nic", "xdp:" + E2)
    assert r.returncode == 2 and "--iface" in r.stderr


def test_cli_serve_without_the_right_to_open_a_packet_socket():
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run nicc as an unprivileged user")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run(nobody + ["test", "-r", NICC, "-a", "-r", E2]).returncode:
        pytest.skip(f"an unprivileged user cannot read this checkout ({NICC}), e.g. one under /root")
    r = subprocess.run(nobody + [NICC, "serve", E2,
                        "--iface", "lo", "--duration", "1"], capture_output=True, text=True)
    assert r.returncode == 3 and "CAP_NET_RAW" in r.stderr, r.stderr


@pytest.mark.privileged
@pytest.mark.toolchain
def test_nic_part_on_xdp_and_host_part_on_the_same_interface(veth):     # noqa: F811
    from nicc.runtime.xdp import XdpTarget
    why = XdpTarget().unavailable()
    if why:
        pytest.skip(f"xdp target unavailable: {why}")
    ns, a, b = veth
    nic_ir, host_ir = load(E2), load(HOST_PART)
    frames = [f for f in generate(nic_ir, 1500, seed=43)
              if len(f) > 14 and f[12:14] != b"\x81\x00" and len(f) <= MTU + 14]
    on_nic = Reference(nic_ir).run(frames)
    to_host = [r.frames[0] for r in on_nic if r.frames]          # what E2 lets through, rewritten or not
    nic = XdpNic(nic_ir, a, netns=ns, mode="generic")
    got, nic_seen, started = [], [], threading.Event()
    result = {}

    def run():
        result["host"] = serve(host_ir, AfPacketSource(a, netns=ns), nic=nic, callback=got.append, interval=0.1,
                               report=lambda h, n, t: (nic_seen.append(n), started.set()),
                               until=lambda c: c["arrived"] >= len(to_host), out=open(os.devnull, "w"))
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(60), "serve did not start"
    dropped0 = rx_dropped(ns, a)
    with sender(ns, b) as tx:
        for f in frames:
            tx.send(f)
    t.join(120)
    assert not t.is_alive()
    assert rx_dropped(ns, a) == dropped0
    c = result["host"]
    assert check_counters(c) == [] and c["lost"] == 0 and c["rx"] == len(to_host)
    nc = nic_seen[-1]
    assert nc["rx"] == len(frames) and nc["drop"] == sum(r.outcome == "drop" for r in on_nic)
    assert_rows_match(host_ir, concat(got), expected(host_ir, to_host), HostRuntime(host_ir, PcapSource(E2)).columns)
    # and the rows of frames E2 rewrote hold E2's own values (labels, crc32 hashes). Frames E2 passed
    # unchanged are read as E2's output format too when they happen to have its size (a malformed
    # 118-byte E2 payload): what crosses the cut needs a header that tells them apart.
    rewritten = np.array([r.reason == "selected" for r in on_nic if r.frames])
    hb = concat(got)
    mine = rewritten[hb.index]
    e2_rows = expected(nic_ir, frames)
    assert mine.sum() == len(e2_rows)
    for k, (_, v) in zip(np.flatnonzero(mine), e2_rows):
        assert hb.values["label"][k] == v[0]
        assert np.array_equal(hb.values["buckets"][k], v[1]["_"])
        assert np.array_equal(hb.values["hashes"][k], v[2]["_"].astype(np.uint32))
    assert "xdp" not in subprocess.run(["ip", "-n", ns, "link", "show", a], capture_output=True, text=True).stdout

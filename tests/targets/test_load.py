"""Live load, short: the generator sends exactly the frames it is given, and a few seconds of
flooding on each target are accounted for frame by frame (`make load` runs every example for 60 s)."""
import contextlib
import os
import socket
import subprocess

import pytest

from nicc.runtime import load

pytestmark = [pytest.mark.toolchain, pytest.mark.privileged]
ETH_P_ALL = 0x0003


def _need(target=None):
    why = load.unavailable(target or "xdp")
    if why:
        pytest.skip(f"live load unavailable: {why}")


def _namespaces():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_trafgen_sends_the_frames_it_is_given():
    _need()
    frames = [bytes(12) + b"\x88\xb5" + bytes([i]) * (46 + 37 * i) for i in range(20)]   # local experimental EtherType
    with load.veth_pair() as (na, va, nb, vb):
        with load.in_netns(nb):
            rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            rx.bind((vb, 0))
        g = load.run_trafgen(na, va, frames, seconds=60, cpus=1, count=2 * len(frames))
        got = []
        rx.settimeout(2.0)
        with contextlib.suppress(socket.timeout):
            while len(got) < 2 * len(frames):
                got.append(rx.recv(65535))
        rx.close()
    assert g.sent == 2 * len(frames)
    assert got == frames + frames                        # every byte, in order, round robin
    assert f"nlA{os.getpid() % 1000000}" not in _namespaces()


@pytest.mark.parametrize("example,target", [("dedup", "xdp"), ("criteo", "dpdk")])
def test_short_load_is_accounted_for(example, target):
    _need(target)
    r = load.run_case(example, target, seconds=3)
    print(r.line())
    assert r.ok, r.line()
    assert r.sent > 1000 and r.sent == r.delivered + r.veth_dropped and r.counted == r.delivered
    assert r.counters.get("drop", 0) > 0 and r.counters.get("unselected", 0) > 0
    assert not r.left_attached
    tag = str(os.getpid() % 1000000)
    assert f"nlA{tag}" not in _namespaces() and f"nlB{tag}" not in _namespaces()

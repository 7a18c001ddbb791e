"""bmv2 live: the switch on one end of a veth pair in a network namespace, nicc as its host side.

Real frames go in through the other end of the pair; what reaches the host (pcap) must be what the
reference interpreter passes, E1's host part included (frames with more than 170 pixels leave the
switch unchanged and nicc completes them)."""
import glob
import os
import socket
import subprocess
import tempfile
import time

import pytest

from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime import pcap
from nicc.runtime.packets import generate

WINDOW = 32
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED_P4 = os.path.join(os.path.dirname(ROOT), "shared", "p4")
if not os.environ.get("NICC_P4_PREFIX") and os.path.isdir(SHARED_P4):
    os.environ["NICC_P4_PREFIX"] = SHARED_P4


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True)


@pytest.fixture
def veth():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, veth, AF_PACKET)")
    tag = f"{os.getpid() % 100000}"
    ns, a, b = f"nicc_bmv2{tag}", f"nba{tag}", f"nbb{tag}"
    steps = [("ip", "netns", "add", ns),
             ("ip", "link", "add", a, "type", "veth", "peer", "name", b),
             ("ip", "link", "set", b, "netns", ns),
             ("sysctl", "-qw", f"net.ipv6.conf.{a}.disable_ipv6=1"),
             ("ip", "link", "set", a, "mtu", "9000", "up"),
             ("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{b}.disable_ipv6=1"),
             ("ip", "netns", "exec", ns, "ip", "link", "set", b, "mtu", "9000", "up"),
             ("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")]
    try:
        for st in steps:
            r = sh(*st)
            if r.returncode != 0:
                pytest.skip(f"cannot set up veth/netns ({' '.join(st)}): {r.stderr.strip()}")
        yield ns, a, b
    finally:
        sh("ip", "link", "del", a)
        sh("ip", "netns", "del", ns)


@pytest.mark.privileged
@pytest.mark.toolchain
def test_live_veth_e1_with_host_part(veth, tmp_path):
    from nicc.runtime.bmv2 import Bmv2Target
    t = Bmv2Target()
    why = t.unavailable()
    if why:
        pytest.skip(f"real bmv2 unavailable: {why}")
    ns, a, b = veth
    ir = run_passes(load(os.path.join(ROOT, "examples", "normalize.py")).trace())
    art = t.compile(ir, str(tmp_path / "build"))
    # the kernel sends no frame shorter than 14 bytes or longer than the MTU (9000) allows
    frames = [f for f in generate(ir, 400, seed=21) if 14 <= len(f) <= 14 + 9000]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((a, 0))

    def send_all(counted):
        # at most WINDOW frames in flight: bmv2 reads its port through a libpcap ring of a few hundred
        # slots, which a descheduled switch can let overflow (a real loss, not the runner's)
        for i, f in enumerate(frames):
            while i - counted() >= WINDOW:
                time.sleep(0.002)
            sock.send(f)

    host = tmp_path / "host.pcap"
    runs = set(glob.glob(os.path.join(tempfile.gettempdir(), "nicc-bmv2-live-*")))
    rc = t.run_live(ir, b, host=f"pcap:{host}", count=len(frames), ready=send_all, artifact=art, netns=ns)
    sock.close()
    assert rc == 0, t.last
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "nicc-bmv2-live-*"))) <= runs   # its run directory went
    ref = Reference(ir).run(frames)
    got = t.last["totals"]
    assert got["rx"] == len(frames)
    assert t.last["host_ports"]["65"] > 0                                    # the host part had work
    want = [f for r in ref if r.verdict == "pass" for f in r.frames]
    out = [p.data for p in pcap.read_pcap(str(host))]
    # each verdict reaches the host through its own port: order holds within a port, not across ports
    assert sorted(out) == sorted(want)
    unselected = [f for r in ref if r.reason == "unselected" for f in r.frames]
    assert [f for f in out if f in set(unselected)] == unselected
    assert got["drop"] == sum(r.verdict == "drop" for r in ref)
    assert got["pass"] == sum(r.verdict == "pass" for r in ref)

"""The DPDK data plane live on one end of a veth pair in a network namespace (net_af_packet).

Real frames go in through the other end of the pair; frames the pipeline passes to the host
are captured (the host port is a pcap file here) and must match the reference interpreter."""
import os
import socket
import subprocess
import time

import pytest

from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime import pcap
from nicc.runtime.packets import generate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True)


@pytest.fixture
def veth():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, veth, AF_PACKET)")
    if sh("ip", "-V").returncode != 0:
        pytest.skip("needs iproute2 (ip)")
    tag = f"{os.getpid() % 100000}"
    ns, a, b = f"nicc_dpdk{tag}", f"nda{tag}", f"ndb{tag}"
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


def ipv4_fragment(f):
    return (len(f) >= 34 and f[12:14] == b"\x08\x00" and f[14] >> 4 == 4 and f[14] & 15 >= 5
            and (f[20] << 8 | f[21]) & 0x3FFF != 0)


@pytest.mark.privileged
@pytest.mark.toolchain
@pytest.mark.parametrize("name", ["dedup", "normalize"])
def test_live_veth(veth, name, tmp_path):
    from nicc.runtime.dpdk import DpdkTarget
    t = DpdkTarget(echo=False)
    why = t.unavailable()
    if why:
        pytest.skip(f"dpdk target unavailable: {why}")
    ns, a, b = veth
    ir = run_passes(load(os.path.join(ROOT, "examples", f"{name}.py")).trace())
    art = t.compile(ir, str(tmp_path / "build"))
    # The kernel sends no frame shorter than 14 bytes, and the af_packet PMD's socket joins a fanout
    # group with PACKET_FANOUT_FLAG_DEFRAG, so the kernel holds IPv4 fragments for reassembly.
    frames = [f for f in generate(ir, 600, seed=21) if 14 <= len(f) <= 14 + 9000 and not ipv4_fragment(f)]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((a, 0))

    def send_all():
        time.sleep(0.2)
        for i, f in enumerate(frames):
            sock.send(f)
            time.sleep(0.001)

    host = tmp_path / "host.pcap"
    rc = t.run_live(ir, b, host=f"pcap:{host}", count=len(frames), idle_ms=8000, ready=send_all,
                    artifact=art, netns=ns)
    sock.close()
    assert rc == 0
    got = t.last_counters
    assert got["rx"] == len(frames), got
    ref = Reference(ir).run(frames)
    want = [f for r in ref if r.verdict == "pass" for f in r.frames]
    assert [p.data for p in pcap.read_pcap(str(host))] == want
    assert got["drop"] == sum(r.verdict == "drop" for r in ref)


@pytest.mark.privileged
@pytest.mark.toolchain
def test_live_veth_two_lcores(veth, tmp_path):
    """Two lcores, a queue pair each (the kernel's af_packet fanout spreads the flows): every frame is
    processed once, and what reaches the host is what the reference passes (order is per queue)."""
    from nicc.runtime.dpdk import DpdkTarget, usable_cpus
    t = DpdkTarget(echo=False)
    why = t.unavailable()
    if why:
        pytest.skip(f"dpdk target unavailable: {why}")
    if len(usable_cpus()) < 2:
        pytest.skip("needs 2 CPUs for 2 lcores")
    ns, a, b = veth
    ir = run_passes(load(os.path.join(ROOT, "examples", "criteo.py")).trace())
    art = t.compile(ir, str(tmp_path / "build"))
    frames = [f for f in generate(ir, 400, seed=5) if 14 <= len(f) <= 14 + 9000 and not ipv4_fragment(f)]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((a, 0))

    def send_all():
        time.sleep(0.2)
        for f in frames:
            sock.send(f)
            time.sleep(0.001)

    host = tmp_path / "host.pcap"
    rc = t.run_live(ir, b, host=f"pcap:{host}", count=len(frames), idle_ms=8000, ready=send_all,
                    artifact=art, netns=ns, lcores=2)
    sock.close()
    assert rc == 0
    got = t.last_counters
    assert got["lcores"] == 2 and got["rx"] == len(frames), got
    ref = Reference(ir).run(frames)
    want = sorted(f for r in ref if r.verdict == "pass" for f in r.frames)
    per_queue = [[p.data for p in pcap.read_pcap(str(q))] for q in (host, tmp_path / "host.pcap.1")]
    assert sorted(per_queue[0] + per_queue[1]) == want
    assert per_queue[0] and per_queue[1], "the kernel spread the flows over both queues (lcores)"
    assert got["drop"] == sum(r.verdict == "drop" for r in ref)

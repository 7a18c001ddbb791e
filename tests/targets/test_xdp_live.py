"""The XDP target live: two network namespaces joined by a veth pair, the program attached with
``nicc run --iface``, real frames sent raw (AF_PACKET, so no checksum offload rewrites them) from one
side and captured on the other, compared with the reference interpreter. A frame whose rewrite would grow
it past the tailroom the live buffer has passes unchanged and is counted ("could not grow"); the
test checks that count against the counters ``nicc run --iface`` prints.

IPv6 is disabled on both namespaces so router solicitations do not pollute the captures. Frames
the kernel would not send raw (shorter than an Ethernet header) and VLAN-tagged frames (the receive
path moves the tag out of the frame before packet sockets see it) are left out.
"""
import contextlib
import os
import signal
import socket
import subprocess
import time

import pytest

from nicc.runtime.netns import in_netns as netns

from nicc.compiler.interp import Reference
from nicc.compiler.passes import run_passes
from nicc.dsl import load
from nicc.runtime.packets import generate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NICC = os.path.join(ROOT, ".venv", "bin", "nicc")
ETH_P_ALL = 0x0003
MTU = 3000

pytestmark = [pytest.mark.toolchain, pytest.mark.privileged]


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@pytest.fixture
def veth():
    from nicc.runtime.xdp import XdpTarget
    why = XdpTarget().unavailable()
    if why:
        pytest.skip(f"xdp target unavailable: {why}")
    if not os.path.exists("/sbin/ip") and not os.path.exists("/usr/sbin/ip") and not os.path.exists("/bin/ip"):
        pytest.skip("iproute2 (ip) is not installed")
    tag = f"{os.getpid() % 100000}"
    a, b = f"nxa{tag}", f"nxb{tag}"
    try:
        sh("ip", "netns", "add", a)
        sh("ip", "netns", "add", b)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot create network namespaces: {e.stderr.strip()}")
    try:
        for ns in (a, b):
            for k in ("all", "default"):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{k}.disable_ipv6=1")
        sh("ip", "link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b)
        for ns, dev in ((a, "va"), (b, "vb")):
            sh("ip", "-n", ns, "link", "set", dev, "mtu", str(MTU))
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield a, b
    finally:
        sh("ip", "netns", "del", a, check=False)
        sh("ip", "netns", "del", b, check=False)


def live(example, mode, veth, count, seed=0):
    a, b = veth
    path = os.path.join(ROOT, "examples", f"{example}.py")
    ir = run_passes(load(path).trace())
    frames = [f for f in generate(ir, count, seed)
              if len(f) > 14 and f[12:14] != b"\x81\x00" and len(f) <= MTU + 14]
    proc = subprocess.Popen(["ip", "netns", "exec", a, NICC, "run", path, "--target", "xdp", "--iface", "va",
                             "--mode", mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "attached to va" in line, line + proc.stderr.read()
        with netns(a):
            rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            rx.bind(("va", 0))
        with netns(b):
            tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            tx.bind(("vb", 0))
        time.sleep(0.2)
        for f in frames:
            tx.send(f)
            time.sleep(0.0005)
        got = []
        rx.settimeout(1.0)
        with contextlib.suppress(socket.timeout):
            while True:
                data, addr = rx.recvfrom(65535)
                if addr[2] != socket.PACKET_OUTGOING:
                    got.append(data)
        rx.close()
        tx.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "detached from va" in out
    assert "xdp" not in sh("ip", "-n", a, "link", "show", "va").stdout      # detached cleanly
    # A frame whose rewrite grows it may find no tailroom on the live path: it then passes unchanged
    # and is counted as "unhandled"; every other frame must be exactly the interpreter's.
    ref = Reference(ir).run(frames)
    want = [(f, src if r.reason == "selected" and len(f) > len(src) else None)
            for src, r in zip(frames, ref) for f in r.frames]
    assert len(got) == len(want), (len(got), len(want), out)
    nogrow = 0
    for i, (g, (w, unchanged)) in enumerate(zip(got, want)):
        if g != w and g == unchanged:
            nogrow += 1
            continue
        assert g == w, f"frame {i}: captured\n{g.hex()}\nexpected\n{w.hex()}"
    assert f"unhandled {nogrow})" in out, out
    print(out)
    return ref, out


def test_live_normalize_native(veth):
    ref, out = live("normalize", "native", veth, 300)
    assert sum(r.reason == "selected" for r in ref) > 50


def test_live_dedup_generic(veth):
    ref, out = live("dedup", "generic", veth, 300, seed=1)
    assert sum(r.verdict == "drop" for r in ref) > 20


def test_live_criteo_native(veth):
    live("criteo", "native", veth, 300, seed=2)

"""The host runtime on real sockets: UDP datagrams on loopback and frames on a veth pair in a network
namespace read through the AF_PACKET TPACKET_V3 ring. Every delivered row equals the reference
interpreter's output for the frame sent; a slow consumer makes the kernel drop, and the runtime's
``lost`` counter is exactly what the kernel dropped (sent == received + lost)."""
import contextlib
import os
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler import framing
from nicc.compiler.passes import run_passes
from nicc.runtime.host import AfPacketSource, HostRuntime, UdpSource, check_counters, concat
from nicc.runtime.host.sources import in_netns
from nicc.runtime.packets import generate, udp_frame
from tests.hostref import assert_rows_match, expected

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MTU = 9200


def example(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


def e2_payloads(n, seed):
    r = np.random.default_rng(seed)
    return [bytes([int(r.integers(0, 2))]) + r.bytes(156) for _ in range(n)]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Consumer:
    """Iterates a runtime in a thread (optionally slowly) until told to stop."""

    def __init__(self, rt, delay=0.0):
        self.rt, self.delay, self.got = rt, delay, []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.error = None
        self.t.start()
        assert rt.ready.wait(30), "the source did not open"

    def _run(self):
        try:
            for hb in self.rt:
                self.got.append(hb)
                if self.delay:
                    time.sleep(self.delay)
        except BaseException as e:          # noqa: BLE001 - re-raised in the test
            self.error = e

    def until(self, arrived: int, limit: float = 60.0):
        """Wait until ``arrived`` frames are accounted for (received or lost), then stop."""
        end = time.monotonic() + limit
        while self.rt.counters["arrived"] < arrived and time.monotonic() < end and self.t.is_alive():
            time.sleep(0.02)
        time.sleep(0.2)                      # anything beyond would show up as too many
        self.rt.stop()
        self.t.join(30)
        if self.error:
            raise self.error
        return self.rt.counters


def key_e2(values, k):
    return (int(values["label"][k]), tuple(values["dense"][k].tolist()), tuple(values["cats"][k].tolist()))


def assert_subsequence(ir, hb, frames):
    """Rows of ``hb`` (in order) are the reference's rows of a subsequence of ``frames`` (some lost)."""
    exp = expected(ir, frames)
    want = [(int(v[0]), tuple(v[1]["_"].tolist()), tuple(v[2]["_"].astype("u4").tolist())) for _, v in exp]
    j = 0
    for k in range(len(hb)):
        key = key_e2(hb.values, k)
        while j < len(want) and want[j] != key:
            j += 1
        assert j < len(want), f"row {k} is no reference row after the previous one"
        j += 1


# ---- UDP ------------------------------------------------------------------------------------------

def test_udp_loopback_equals_reference():
    ir = example("criteo")
    frames = generate(ir, 1500, seed=21)
    pls = [f[42:42 + n] for f in frames if (n := framing.udp_payload_len(f, ir.port)) is not None]
    port = free_udp_port()
    rt = HostRuntime(ir, UdpSource(port, host="127.0.0.1", rcvbuf=8 << 20), batch=256, stream="flow")
    c = Consumer(rt)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.bind(("127.0.0.1", 0))
        for p in pls:
            tx.sendto(p, ("127.0.0.1", port))
        sport = tx.getsockname()[1]
    counters = c.until(len(pls))
    assert check_counters(counters) == [] and counters["lost"] == 0 and counters["rx"] == len(pls)
    assert counters["unselected"] == 0                       # the kernel selected them
    hb = concat(c.got)
    rng = np.random.default_rng(0)
    as_frames = [bytes(udp_frame(p, ir.port, rng)) for p in pls]   # what the reference takes: frames
    assert_rows_match(ir, hb, expected(ir, as_frames), rt.columns)
    assert set(hb.stream.tolist()) == {0x7F000001 << 32 | sport << 16 | port}


def test_udp_slow_consumer_kernel_drops_are_counted():
    ir = example("criteo")
    pls = e2_payloads(4000, seed=22)
    port = free_udp_port()
    rt = HostRuntime(ir, UdpSource(port, host="127.0.0.1", rcvbuf=16384), batch=32, batch_time=0.001)
    c = Consumer(rt, delay=0.005)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for p in pls:
            tx.sendto(p, ("127.0.0.1", port))
    counters = c.until(len(pls))
    assert check_counters(counters) == []
    assert counters["lost"] > 0 and counters["arrived"] == len(pls)
    assert counters["rx"] + counters["lost"] == len(pls) and counters["rows"] == counters["rx"] - counters["drop"]
    rng = np.random.default_rng(0)
    assert_subsequence(ir, concat(c.got), [bytes(udp_frame(p, ir.port, rng)) for p in pls])


def test_udp_reuseport_shards_share_the_port():
    ir = example("criteo")
    port = free_udp_port()
    src = UdpSource(port, host="127.0.0.1", rcvbuf=4 << 20)
    rts = [HostRuntime(ir, src, batch=64, shard=s, nshards=2) for s in range(2)]
    cs = [Consumer(rt) for rt in rts]
    pls = e2_payloads(400, seed=23)
    for k in range(40):                                        # 40 flows (source ports), 10 datagrams each
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for p in pls[k * 10:(k + 1) * 10]:
                tx.sendto(p, ("127.0.0.1", port))
    end = time.monotonic() + 30
    while sum(rt.counters["arrived"] for rt in rts) < len(pls) and time.monotonic() < end:
        time.sleep(0.02)
    counts = [c.until(0)["rx"] for c in cs]
    assert sum(counts) == len(pls) and min(counts) > 0          # both sockets got flows


# ---- AF_PACKET on a veth pair -----------------------------------------------------------------------

def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@pytest.fixture
def veth():
    if os.geteuid() != 0:
        pytest.skip("AF_PACKET and network namespaces need root")
    tag = f"{os.getpid() % 100000}"
    ns, a, b = f"nhost{tag}", f"hva{tag}", f"hvb{tag}"
    try:
        sh("ip", "netns", "add", ns)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        pytest.skip(f"cannot create a network namespace: {getattr(e, 'stderr', e)}")
    try:
        for k in ("all", "default"):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{k}.disable_ipv6=1")
        sh("ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", b)
        for dev in (a, b):
            sh("ip", "-n", ns, "link", "set", dev, "mtu", str(MTU), "up")
        yield ns, a, b
    finally:
        sh("ip", "netns", "del", ns, check=False)


def rx_dropped(ns, dev) -> int:
    return int(sh("ip", "netns", "exec", ns, "cat", f"/sys/class/net/{dev}/statistics/rx_dropped").stdout)


@contextlib.contextmanager
def sender(ns, dev):
    with in_netns(ns):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        tx.bind((dev, 0))
        yield tx
    finally:
        tx.close()


@pytest.mark.privileged
@pytest.mark.parametrize("name", ["criteo", "normalize"])
def test_afpacket_veth_equals_reference(veth, name):
    """Frames of every kind (malformed, other ports, fragments, VLAN tags, jumbo) sent raw on one end of
    a veth pair, read from the other end's TPACKET_V3 ring: the same rows and outcomes as the reference.
    VLAN tags the receive path takes out of the frame are put back."""
    ns, a, b = veth
    ir = example(name)
    frames = [f for f in generate(ir, 1500, seed=31) if 14 <= len(f) <= MTU + 14
              and not (f[12:14] in (b"\x81\x00", b"\x88\xa8") and len(f) < 18)]
    assert any(f[12:14] == b"\x81\x00" for f in frames)
    rt = HostRuntime(ir, AfPacketSource(a, netns=ns), batch=256)
    c = Consumer(rt)
    dropped0 = rx_dropped(ns, a)
    with sender(ns, b) as tx:
        for f in frames:
            tx.send(f)
    counters = c.until(len(frames))
    assert rx_dropped(ns, a) == dropped0
    assert check_counters(counters) == [] and counters["lost"] == 0 and counters["rx"] == len(frames)
    hb = concat(c.got)
    assert_rows_match(ir, hb, expected(ir, frames), rt.columns)
    from nicc.compiler.interp import Reference
    res = Reference(ir).run(frames)
    for o in ("malformed", "unselected", "drop", "pass"):
        assert counters[o] == sum(r.outcome == o for r in res), o


@pytest.mark.privileged
def test_afpacket_slow_consumer_kernel_drops_are_counted(veth):
    ns, a, b = veth
    ir = example("criteo")
    rng = np.random.default_rng(1)
    frames = [bytes(udp_frame(p, ir.port, rng)) for p in e2_payloads(3000, seed=32)]
    src = AfPacketSource(a, netns=ns, block_size=1 << 16, blocks=2, block_timeout_ms=2)
    rt = HostRuntime(ir, src, batch=32, batch_time=0.001)
    c = Consumer(rt, delay=0.01)
    dropped0 = rx_dropped(ns, a)
    with sender(ns, b) as tx:
        for f in frames:
            tx.send(f)
    before_socket = rx_dropped(ns, a) - dropped0            # the interface's own backlog drops, if any
    counters = c.until(len(frames) - before_socket)
    assert check_counters(counters) == []
    assert counters["lost"] > 0
    assert counters["rx"] + counters["lost"] + before_socket == len(frames)
    assert_subsequence(ir, concat(c.got), frames)


@pytest.mark.privileged
def test_afpacket_fanout_shares_flows_between_readers(veth):
    ns, a, b = veth
    ir = example("criteo")
    rng = np.random.default_rng(2)
    frames = [bytes(udp_frame(p, ir.port, rng)) for p in e2_payloads(600, seed=33)]   # a flow per frame
    src = AfPacketSource(a, netns=ns)
    rts = [HostRuntime(ir, src, batch=64, shard=s, nshards=2, stream="flow") for s in range(2)]
    cs = [Consumer(rt) for rt in rts]
    with sender(ns, b) as tx:
        for f in frames:
            tx.send(f)
    end = time.monotonic() + 30
    while sum(rt.counters["arrived"] for rt in rts) < len(frames) and time.monotonic() < end:
        time.sleep(0.02)
    counts = [c.until(0)["rx"] for c in cs]
    assert sum(counts) == len(frames) and min(counts) > 0
    flows = [set(concat(c.got).stream.tolist()) for c in cs]
    assert not flows[0] & flows[1]                                   # a flow stays on one reader


def test_dataloader_workers_share_a_udp_port():
    """DataLoader workers each open the port (SO_REUSEPORT); every datagram becomes exactly one row."""
    from torch.utils.data import DataLoader
    from nicc.runtime.host import HostDataset
    ir = example("criteo")
    port = free_udp_port()
    pls = [bytes([k % 2]) + p[1:] for k, p in enumerate(e2_payloads(300, seed=34))]
    ds = HostDataset(ir, UdpSource(port, host="127.0.0.1"), batch=32, batch_time=0.01, meta=True)
    it = iter(DataLoader(ds, batch_size=None, num_workers=2))
    deadline = time.monotonic() + 60
    while open_sockets(port) < 2:                                     # both workers have bound the port
        assert time.monotonic() < deadline, "the workers did not open the port"
        time.sleep(0.05)
    for k in range(30):                                               # 30 flows of 10 datagrams
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for p in pls[k * 10:(k + 1) * 10]:
                tx.sendto(p, ("127.0.0.1", port))
    rows = []
    while sum(len(r) for r in rows) < len(pls):
        rows.append(next(it)["label"])
    del it
    labels = sorted(int(x) for r in rows for x in r)
    assert labels == sorted(p[0] for p in pls)


def open_sockets(port: int) -> int:
    with open("/proc/net/udp") as f:
        return sum(1 for line in f.readlines()[1:] if int(line.split()[1].split(":")[1], 16) == port)

"""Scale-out on Ray: the host part as actors on a local 2-CPU Ray cluster, fed by capture shards
(standing for NIC queues, each stream steered to one), gives every stream the same rows in the same
order as the single-process host runtime on the whole capture, and the same counters."""
import os
import struct

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.passes import run_passes
from nicc.runtime import pcap
from nicc.runtime.host import HostRuntime, PcapSource, check_counters, concat
from nicc.runtime.packets import generate, udp_frame

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'nicc[ray]')")
from nicc.runtime.host.scaleout import RayHostRuntime, StreamSplitError, shard_pcap, split_streams  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def example(name):
    return run_passes(nd.load(os.path.join(ROOT, "examples", f"{name}.py")).trace())


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 << 20, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def write(path, frames):
    pcap.write_pcap(path, [pcap.Packet(f, 1_000_000_000 + 1000 * i) for i, f in enumerate(frames)])
    return path


def e1_frames(n, images, seed):
    """Rows of ``images`` images, interleaved, plus generated traffic of every kind."""
    ir = example("normalize")
    r = np.random.default_rng(seed)
    out = []
    for k in range(n):
        c = int(r.integers(0, 241))
        pl = struct.pack("!IHHH", int(r.integers(0, images)), k, 0, c) + r.bytes(3 * c)
        out.append(bytes(udp_frame(pl, 9001, r)))
    mixed = generate(ir, n // 2, seed=seed)
    return [f for pair in zip(out, mixed) for f in pair] + out[len(mixed):]


def single_per_stream(ir, path, key):
    rt = HostRuntime(ir, PcapSource(path), stream=key, batch=128)
    return split_streams(concat(list(rt))), rt.counters


@pytest.mark.parametrize("name,key", [("normalize", "image_id"), ("criteo", "flow")])
def test_ray_equals_single_process(tmp_path, cluster, name, key):
    ir = example(name)
    frames = e1_frames(600, 12, seed=51) if name == "normalize" else generate(ir, 2000, seed=52)
    path = write(str(tmp_path / "in.pcap"), frames)
    want, want_c = single_per_stream(ir, path, key)
    shards = shard_pcap(path, 3, str(tmp_path / "shards"), key=key, pipeline=ir)
    rt = RayHostRuntime(ir, [PcapSource(s) for s in shards], stream=key, batch=128)
    got = rt.collect()
    assert len(want) > 5 and got.keys() == want.keys()
    for k in want:
        w, g = want[k], got[k]
        assert np.array_equal(w.ts_ns, g.ts_ns), k                 # the same frames, in the same order
        assert w.values.keys() == g.values.keys()
        for col in w.values:
            assert np.array_equal(w.values[col], g.values[col]), (k, col)
    c = rt.counters
    assert check_counters(c) == []
    for k in ("arrived", "rx", "lost", "selected", "pass", "drop", "malformed", "unselected", "rows"):
        assert c[k] == want_c[k], k
    assert sorted(rt.per_queue) == [0, 1, 2]                         # every queue fed an actor


def test_a_stream_on_two_queues_is_refused(tmp_path, cluster):
    ir = example("normalize")
    frames = e1_frames(200, 3, seed=53)
    a = write(str(tmp_path / "a.pcap"), frames[0::2])            # round-robin: images on both queues
    b = write(str(tmp_path / "b.pcap"), frames[1::2])
    with pytest.raises(StreamSplitError, match="arrived on queues"):
        RayHostRuntime(ir, [PcapSource(a), PcapSource(b)], stream="image_id", batch=16).collect()


def test_ray_on_udp_ports_standing_for_nic_queues(cluster):
    """Two UDP ports as two NIC queues, one actor each; every flow's rows in the order sent."""
    import socket
    import time
    from nicc.runtime.host import UdpSource
    from tests.hostref import expected
    from tests.targets.test_host_sockets import free_udp_port, open_sockets
    ir = example("criteo")
    ports = [free_udp_port(), free_udp_port()]
    r = np.random.default_rng(54)
    flows = [[bytes([int(r.integers(0, 3))]) + r.bytes(156) for _ in range(40)] for _ in range(6)]
    rt = RayHostRuntime(ir, [UdpSource(p, host="127.0.0.1") for p in ports], stream="flow", batch=16)
    rt.start()                                          # the actors open their ports
    it = iter(rt)
    got = {}

    def pull():
        hb = next(it)
        for k, sub in split_streams(hb).items():
            got.setdefault(k, []).append(sub)

    deadline = time.monotonic() + 60
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in flows]
    try:
        while not all(open_sockets(p) for p in ports):
            assert time.monotonic() < deadline, "the actors did not open their ports"
            time.sleep(0.05)
        for k, (tx, pls) in enumerate(zip(sockets, flows)):
            tx.bind(("127.0.0.1", 0))
            for p in pls:
                tx.sendto(p, ("127.0.0.1", ports[k % 2]))
        want_rows = sum(p[0] <= 1 for pls in flows for p in pls)
        while sum(len(b) for bs in got.values() for b in bs) < want_rows:
            assert time.monotonic() < deadline, "rows missing"
            pull()
        for k, (tx, pls) in enumerate(zip(sockets, flows)):
            key = 0x7F000001 << 32 | tx.getsockname()[1] << 16 | ports[k % 2]
            rows = concat(got[key])
            rng = np.random.default_rng(0)
            exp = expected(ir, [bytes(udp_frame(p, ir.port, rng)) for p in pls])
            assert len(rows) == len(exp)
            for j, (_, v) in enumerate(exp):
                assert rows.values["label"][j] == v[0]
                assert np.array_equal(rows.values["cats"][j], v[2]["_"].astype(np.uint32))
    finally:
        it.close()
        for s in sockets:
            s.close()

"""Scale-out on Ray: where one host cannot keep up with its NIC queues, the host part runs as Ray
actors, each reading its own queues; the driver collects the batches, each stream's rows in order.

    ray.init(num_cpus=2)
    rt = RayHostRuntime("examples/normalize.py", [PcapSource(p) for p in shard_pcap("in.pcap", 2, "out/",
                        key="image_id", pipeline=ir)], stream="image_id")
    for hb in rt: ...                       # HostBatch es as actors produce them (hb.queue: which queue)
    per_stream = rt.collect()               # {stream key: HostBatch of that stream's rows, in order}

A *queue* is one source (a NIC queue's UDP port or interface, a capture shard); queue ``q``
goes to actor ``q % actors``, which reads its queues in turn with a :class:`HostRuntime` each.
A queue's batches reach the driver in the order the actor made them, so every stream stays in
order as long as it is *steered* to one queue, as RSS steers a flow or the NIC part can steer by
a record field; :func:`shard_pcap` splits a capture the same way. A stream seen on two queues
could be reordered between them, so the driver raises :class:`StreamSplitError` instead.
"""
from __future__ import annotations

import collections
import os
import zlib
from typing import Iterator

import numpy as np

from ...compiler import framing
from ...compiler.ir import Pipeline
from ..pcap import Packet, write_pcap
from .batch import HostBatch, add_counters, concat, new_counters
from .program import _stream_field
from .runtime import HostRuntime, as_pipeline
from .sources import Source, pcap_records

try:
    import ray
except ImportError:          # optional: pip install 'nicc[ray]'
    ray = None


class StreamSplitError(RuntimeError):
    """A stream's rows came from two queues: their relative order is not kept."""


def split_streams(hb: HostBatch) -> dict:
    """The rows of ``hb`` per stream key, each in order."""
    out = {}
    for key in dict.fromkeys(hb.stream.tolist()):
        m = hb.stream == key
        out[key] = HostBatch({k: v[m] for k, v in hb.values.items()}, hb.ts_ns[m], hb.index[m], hb.verdict[m],
                             hb.stream[m], new_counters(), hb.queue)
    return out


class _Actor:
    """Runs the host part on some queues, a batch per call, the queues in turn."""

    def __init__(self, ir: Pipeline, queues: list[tuple[int, Source]], kw: dict):
        # a live queue answers when idle (an empty batch), so one quiet queue does not hold up the others
        self.runs = collections.deque((q, iter(HostRuntime(ir, src, idle=src.live, **kw))) for q, src in queues)

    def next(self) -> HostBatch | None:
        while self.runs:
            q, it = self.runs[0]
            hb = next(it, None)
            if hb is None:
                self.runs.popleft()
                continue
            self.runs.rotate(-1)
            hb.queue = q
            return hb
        return None


class RayHostRuntime:
    """The host part on Ray actors, one queue per source in ``sources`` (see the module doc).

    ``stream`` is the stream key (``"flow"`` or a record field, as for :class:`HostRuntime`);
    ``actors`` defaults to one per queue up to the cluster's CPUs, each asking ``num_cpus``;
    ``inflight`` batches per actor are requested ahead so actors keep working while the driver
    consumes. Other keywords go to each queue's :class:`HostRuntime`.
    """

    def __init__(self, pipeline, sources: list[Source], *, stream: str = "flow", actors: int | None = None,
                 num_cpus: float = 1, inflight: int = 2, **runtime_kw):
        if ray is None:
            raise ImportError("RayHostRuntime needs ray: pip install 'nicc[ray]'")
        if not sources:
            raise ValueError("RayHostRuntime needs at least one source (queue)")
        self.ir = as_pipeline(pipeline)
        self.sources, self.stream, self.num_cpus, self.inflight = list(sources), stream, num_cpus, inflight
        self.kw = dict(runtime_kw, stream=stream)
        HostRuntime(self.ir, self.sources[0], **self.kw)      # refuse a bad stream key or names here, not in an actor
        self.actors = actors
        self.counters = new_counters()
        self.owner: dict = {}
        self.per_queue: collections.Counter = collections.Counter()     # batches delivered per queue

    def _n_actors(self) -> int:
        if self.actors:
            return self.actors
        cpus = int(ray.available_resources().get("CPU", 1) // max(self.num_cpus, 1e-9)) or 1
        return max(1, min(len(self.sources), cpus))

    def start(self) -> None:
        """Start the actors and their first reads (``__iter__`` does it if needed): live queues open now."""
        if not ray.is_initialized():
            ray.init()
        n = self._n_actors()
        remote = ray.remote(_Actor)
        self._actors = [remote.options(num_cpus=self.num_cpus).remote(
            self.ir, [(q, s) for q, s in enumerate(self.sources) if q % n == a], self.kw) for a in range(n)]
        self._pending = {a: collections.deque(actor.next.remote() for _ in range(self.inflight))
                         for a, actor in enumerate(self._actors)}
        self.owner = {}

    def __iter__(self) -> Iterator[HostBatch]:
        if getattr(self, "_actors", None) is None:
            self.start()
        actors, pending = self._actors, self._pending
        try:
            while pending:
                heads = {pending[a][0]: a for a in pending}
                ready, _ = ray.wait(list(heads), num_returns=1)
                a = heads[ready[0]]
                pending[a].popleft()
                hb = ray.get(ready[0])
                if hb is None:                             # this actor's queues have ended
                    del pending[a]
                    continue
                pending[a].append(actors[a].next.remote())
                if not hb.counters["rx"] and not hb.counters["lost"]:
                    continue                               # an idle live queue's heartbeat
                self._check_order(hb)
                add_counters(self.counters, hb.counters)
                self.per_queue[hb.queue] += 1
                yield hb
        finally:
            for actor in actors:
                ray.kill(actor)
            self._actors = self._pending = None

    def _check_order(self, hb: HostBatch) -> None:
        if hb.stream is None or not len(hb):
            return
        for key in np.unique(hb.stream).tolist():
            q = self.owner.setdefault(key, hb.queue)
            if q != hb.queue:
                raise StreamSplitError(f"stream {key} arrived on queues {q} and {hb.queue}: its order across them "
                                       "is not kept; steer each stream to one queue (shard_pcap(key=...), RSS)")

    def collect(self) -> dict:
        """Run to the end and return each stream's rows, in order: {stream key: HostBatch}."""
        parts = collections.defaultdict(list)
        for hb in self:
            for key, sub in split_streams(hb).items():
                parts[key].append(sub)
        return {k: concat(v) for k, v in parts.items()}


def stream_key_of(frame: bytes, ir: Pipeline, key: str) -> int | None:
    """The stream key of a frame as the host part would give it (None if the pipeline would not select it)."""
    n = framing.udp_payload_len(frame, ir.port)
    if n is None:
        return None
    if key == "flow":
        return int.from_bytes(frame[26:30], "big") << 32 | int.from_bytes(frame[34:38], "big")
    off, t = _stream_field(ir, key)
    if off + t.nbytes > n:
        return None
    return int.from_bytes(frame[42 + off:42 + off + t.nbytes], "big")


def shard_pcap(path: str, n: int, outdir: str, key: str = "flow", pipeline=None) -> list[str]:
    """Split a capture into ``n`` shard files, each stream (``key``) to one shard by hash, frames in
    order and with their timestamps, as a NIC steers flows to queues. Frames without a key (not
    selected by the pipeline) go to shard 0. Returns the shards' paths."""
    ir = as_pipeline(pipeline) if pipeline is not None else None
    if key != "flow" and ir is None:
        raise ValueError("a record-field key needs the pipeline (pipeline=) to find the field")
    shards: list[list[Packet]] = [[] for _ in range(n)]
    for frame, ts, _ in pcap_records(path):
        k = stream_key_of(frame, ir, key) if ir is not None else _flow(frame)
        q = 0 if k is None else zlib.crc32(int(k).to_bytes(8, "big")) % n
        shards[q].append(Packet(frame, ts))
    os.makedirs(outdir, exist_ok=True)
    base = os.path.splitext(os.path.basename(path))[0]
    paths = []
    for q, pk in enumerate(shards):
        p = os.path.join(outdir, f"{base}.q{q}.pcap")
        write_pcap(p, pk)
        paths.append(p)
    return paths


def _flow(frame: bytes) -> int | None:
    if len(frame) < 38 or frame[12:14] != b"\x08\x00":
        return None
    return int.from_bytes(frame[26:30], "big") << 32 | int.from_bytes(frame[34:38], "big")

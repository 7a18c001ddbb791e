"""``HostRuntime``: a pipeline (the host part) run on a frame source, batch by batch, as arrays.

    rt = HostRuntime("examples/criteo.py", PcapSource("in.pcap"), batch=4096)
    for hb in rt:                                  # HostBatch: numpy arrays, one per emitted value
        train_step(hb.tensors())
    print(format_counters(rt.counters))

Batches close by count (``batch``) or by time (``batch_time`` seconds after their first frame;
for a capture file, capture time). With ``prefetch=K`` a thread reads and evaluates ahead
into a queue of K batches while the consumer works; when the queue is full the thread stops
reading, so a live source's kernel buffer fills and the kernel drops, and counts, what does
not fit: frames are lost only where they are counted (``counters["lost"]``).
"""
from __future__ import annotations

import os
import queue
import threading
from typing import Callable, Iterator

from ...compiler.ir import Pipeline
from .batch import HostBatch, add_counters, new_counters
from .program import HostProgram
from .sources import LIVE_BATCH_TIME, Source


def as_pipeline(p) -> Pipeline:
    """A pipeline given as IR, as an ``@nd.pipeline`` function, or as a file (``FILE[:NAME]``)."""
    from ...compiler.passes import run_passes
    from ...dsl.pipeline import PipelineDef, load
    if isinstance(p, Pipeline):
        return p
    if isinstance(p, PipelineDef):
        return run_passes(p.trace())
    if isinstance(p, (str, os.PathLike)):
        path, _, name = str(p).partition(":") if not os.path.exists(p) else (str(p), "", "")
        return run_passes(load(path, name or None).trace())
    raise TypeError(f"expected a Pipeline, an @nd.pipeline function or a pipeline file, got {type(p).__name__}")


_END = object()


class HostRuntime:
    """Runs ``pipeline`` on the frames of ``source``; iterate it for :class:`HostBatch` es.

    ``shard``/``nshards`` take one share of a sharded source (DataLoader workers, Ray actors);
    ``stream`` gives rows a stream key (``"flow"`` or a record field); ``names`` names the
    emitted values; ``wait`` is how often (seconds) an idle live source returns control, for
    :meth:`stop` and periodic reports (``idle=True`` also yields those empty batches).
    """

    def __init__(self, pipeline, source: Source, *, batch: int = 4096, batch_time: float | None = None,
                 prefetch: int = 0, names: list[str] | None = None, stream: str | None = None,
                 shard: int = 0, nshards: int = 1, wait: float = 0.1, idle: bool = False):
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.ir = as_pipeline(pipeline)
        self.program = HostProgram(self.ir, names, stream)
        self.source = source
        self.batch = batch
        self.batch_time = batch_time if batch_time is not None or not source.live else LIVE_BATCH_TIME
        self.prefetch, self.shard, self.nshards, self.wait, self.idle = prefetch, shard, nshards, wait, idle
        self.counters = new_counters()
        self._stop = threading.Event()
        self.ready = threading.Event()          # set once the source is open (a live socket exists)

    @property
    def columns(self):
        return self.program.cols

    def stop(self) -> None:
        """Ask a running iteration to end after the batch in hand (thread-safe; for signal handlers)."""
        self._stop.set()

    def _batches(self, reader) -> Iterator[HostBatch]:
        while not self._stop.is_set():
            fb = reader.read(self.wait)
            if fb is None:
                return
            if len(fb) == 0 and fb.lost == 0 and not self.idle:
                continue
            yield self.program.process(fb)

    def __iter__(self) -> Iterator[HostBatch]:
        self._stop.clear()
        reader = self.source.open(self.shard, self.nshards, self.batch, self.batch_time)
        self.ready.set()
        try:
            it = self._batches(reader) if not self.prefetch else self._prefetched(reader)
            for hb in it:
                add_counters(self.counters, hb.counters)
                yield hb
        finally:
            self._stop.set()
            self.ready.clear()
            reader.close()

    def _prefetched(self, reader) -> Iterator[HostBatch]:
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)

        def put(item) -> bool:
            while not self._stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                for hb in self._batches(reader):
                    if not put(hb):
                        return
                put(_END)
            except BaseException as e:          # handed to the consumer, raised there
                put(e)

        t = threading.Thread(target=work, name="nicc-host-prefetch", daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._stop.set()
            t.join()

    def run(self, callback: Callable[[HostBatch], object] | None = None, max_batches: int | None = None) -> dict:
        """Iterate to the end (or ``max_batches``, or :meth:`stop`), handing each batch to ``callback``."""
        for k, hb in enumerate(self, 1):
            if callback is not None:
                callback(hb)
            if max_batches is not None and k >= max_batches:
                break
        return self.counters

    def tensors(self, widen: bool = True, meta: bool = False) -> Iterator[dict]:
        """Iterate as dicts of torch tensors (see :meth:`HostBatch.tensors`)."""
        for hb in self:
            yield hb.tensors(widen, meta)

"""``HostDataset``: the host runtime as a ``torch.utils.data.IterableDataset``.

    ds = HostDataset("examples/criteo.py", PcapSource("in.pcap"), batch=1024)
    for b in DataLoader(ds, batch_size=None, num_workers=2):   # the runtime batches, not the loader
        b["label"], b["dense"], b["cats"]                      # tensors (rows,), (rows, 13), (rows, 26)

Each DataLoader worker opens its own share of the source (see :mod:`.sources`): a capture file
is cut into the same batches in every worker and worker ``w`` of ``n`` takes batches ``w``,
``w + n``, ...; since the DataLoader takes workers' batches in turn, the batches come out in
the file's order, as with ``num_workers=0``. Live sockets are shared by the kernel
(SO_REUSEPORT, PACKET_FANOUT); there, with several workers, a worker with nothing to deliver yields
a zero-row batch every 0.1 s, since the DataLoader waits for the workers in turn. A stateful pipeline cannot be split over workers (each would
keep its own state): it refuses ``num_workers > 1``. ``idle=True`` makes a live source yield those
zero-row batches with one reader too, so that a loop over a quiet interface can check a deadline.
"""
from __future__ import annotations

from torch.utils.data import IterableDataset, get_worker_info

from .runtime import HostRuntime, as_pipeline
from .sources import Source


class HostDataset(IterableDataset):
    """Yields one dict of tensors per batch (numpy arrays with ``tensors=False``)."""

    def __init__(self, pipeline, source: Source, *, batch: int = 4096, batch_time: float | None = None,
                 names: list[str] | None = None, stream: str | None = None, widen: bool = True,
                 meta: bool = False, tensors: bool = True, prefetch: int = 0, idle: bool = False):
        super().__init__()
        self.ir = as_pipeline(pipeline)
        self.source = source
        self.kw = dict(batch=batch, batch_time=batch_time, names=names, stream=stream, prefetch=prefetch)
        self.widen, self.meta, self.as_tensors, self.idle = widen, meta, tensors, idle

    def runtime(self, shard: int, nshards: int, idle: bool) -> HostRuntime:
        """The runtime one reader (the main process, or worker ``shard`` of ``nshards``) iterates."""
        return HostRuntime(self.ir, self.source, shard=shard, nshards=nshards, idle=idle, **self.kw)

    def __iter__(self):
        info = get_worker_info()
        shard, n = (info.id, info.num_workers) if info is not None else (0, 1)
        if n > 1 and self.ir.stateful:
            raise ValueError(f"pipeline '{self.ir.name}' keeps state across frames: run it with num_workers=0 "
                             "(each worker would keep its own state)")
        # The DataLoader takes workers' batches strictly in turn: on a live source a worker whose share
        # is idle must still answer, so it yields a zero-row batch each ``wait`` seconds.
        rt = self.runtime(shard, n, (n > 1 or self.idle) and self.source.live)
        for hb in rt:
            yield hb.tensors(self.widen, self.meta) if self.as_tensors else dict(hb.values)

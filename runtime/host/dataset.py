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
keep its own state): it refuses ``num_workers > 1``.
"""
from __future__ import annotations

from torch.utils.data import IterableDataset, get_worker_info

from .runtime import HostRuntime, as_pipeline
from .sources import Source


class HostDataset(IterableDataset):
    """Yields one dict of tensors per batch (numpy arrays with ``tensors=False``)."""

    def __init__(self, pipeline, source: Source, *, batch: int = 4096, batch_time: float | None = None,
                 names: list[str] | None = None, stream: str | None = None, widen: bool = True,
                 meta: bool = False, tensors: bool = True, prefetch: int = 0):
        super().__init__()
        self.ir = as_pipeline(pipeline)
        self.source = source
        self.kw = dict(batch=batch, batch_time=batch_time, names=names, stream=stream, prefetch=prefetch)
        self.widen, self.meta, self.as_tensors = widen, meta, tensors

    def __iter__(self):
        info = get_worker_info()
        shard, n = (info.id, info.num_workers) if info is not None else (0, 1)
        if n > 1 and self.ir.stateful:
            raise ValueError(f"pipeline '{self.ir.name}' keeps state across frames: run it with num_workers=0 "
                             "(each worker would keep its own state)")
        # The DataLoader takes workers' batches strictly in turn: on a live source a worker whose share
        # is idle must still answer, so it yields a zero-row batch each ``wait`` seconds.
        rt = HostRuntime(self.ir, self.source, shard=shard, nshards=n, idle=n > 1 and self.source.live, **self.kw)
        for hb in rt:
            yield hb.tensors(self.widen, self.meta) if self.as_tensors else dict(hb.values)

"""A split pipeline served live: its NIC part attached to an interface with XDP, its host part run by
the host runtime on the frames that reach the host there.

    live = SplitServer("examples/criteo_log.py", "eth0")       # partitioned for xdp, the NIC part compiled
    with live:                                                  # attached (XDP) until the block ends
        for b in DataLoader(live.dataset(batch=256), batch_size=None):
            b["label"], b["dense"], b["cats"]                   # tensors: the whole pipeline's values
        live.counters()                                         # {"nic": {...}, "host": {...}}
    live.serve(interval=1.0, duration=10)                       # `nicc serve P --iface eth0 --target xdp`

The NIC part (:func:`nicc.runtime.split.plan`) sends every packet it finishes up to the cut to the
host port as the wire payload (docs/partition.md), with ``XDP_PASS``; the host part is an ordinary
pipeline on that port, so the host runtime reading the interface with AF_PACKET selects exactly the
NIC-made payloads (everything else it sees — frames the NIC part passed unchanged, other traffic —
counts as unselected). Its values are named as the whole pipeline names them (``label``, ``dense``...),
so a training loop reads the same columns whether the pipeline is split or not.

A :class:`SplitServer` is itself a NIC part for :func:`serve` (``attach``/``detach``/``counters``),
attached once however many users it has. Its runtimes and datasets, iterated in this process (a
DataLoader with ``num_workers=0``), add their batches' counters to ``host_counters`` (:meth:`both`
gives both halves) and set ``ready`` once their socket is open: frames sent before that are not seen.
"""
from __future__ import annotations

import threading

from ...compiler.errors import NiccError
from ...compiler.ir import Pipeline
from .afpacket import AfPacketSource
from .batch import add_counters, new_counters
from .nic import XdpNic
from .program import _source_name
from .runtime import HostRuntime, as_pipeline
from .serve import serve

LIVE_TARGETS = ("xdp",)


def output_names(ir: Pipeline) -> list[str] | None:
    """What the host runtime calls the values ``ir`` emits (the whole pipeline's names)."""
    e = ir.emit()
    return None if e is None else [_source_name(a) or f"v{i}" for i, a in enumerate(e.args)]


class SplitServer:
    """``pipeline`` split for ``target``: the NIC part on ``iface`` (in ``netns``), the host part on the
    same interface. ``mode`` is the XDP attach mode (generic or native)."""

    def __init__(self, pipeline, iface: str, target: str = "xdp", *, netns: str | None = None,
                 mode: str = "generic", outdir: str | None = None):
        from ..split import plan
        self.ir = as_pipeline(pipeline)
        if target not in LIVE_TARGETS:
            raise NiccError(f"live split serving attaches the NIC part with XDP; {target} is not one of "
                            f"{', '.join(LIVE_TARGETS)} (dpdk and bmv2 run live with `nicc run --iface`)", self.ir.loc)
        self.split = plan(self.ir, target)
        if not self.split.split:
            raise NiccError(f"{self.ir.name} runs whole on {target}: there is no host part to serve (run it with "
                            f"`nicc run {self.ir.name} --target {target} --iface {iface}`, or serve a host part "
                            f"with --nic)", self.ir.loc)
        self.iface, self.netns, self.target = iface, netns, target
        self.name = f"{target}:{self.split.nic.name}"
        self.names = output_names(self.ir)
        self.nic = XdpNic(self.split.nic, iface, netns=netns, mode=mode, outdir=outdir)
        self._users = 0
        self._lock = threading.Lock()
        self.host_counters = new_counters()
        self.ready = threading.Event()      # set while a runtime or dataset of this server has its socket open

    @property
    def host(self) -> Pipeline:
        return self.split.host

    # ---- the NIC part (a NicPart for serve) ----
    def attach(self) -> None:
        with self._lock:
            if self._users == 0:
                self.nic.attach()
            self._users += 1

    def detach(self) -> None:
        with self._lock:
            if self._users == 1:
                self.nic.detach()
            self._users = max(0, self._users - 1)

    def __enter__(self) -> "SplitServer":
        self.attach()
        return self

    def __exit__(self, *exc) -> None:
        self.detach()

    def counters(self) -> dict:
        """The NIC part's counters (while attached); :meth:`both` adds the host part's."""
        return self.nic.counters()

    def both(self) -> dict:
        return {"nic": self.nic.counters(), "host": dict(self.host_counters)}

    # ---- the host part ----
    def source(self) -> AfPacketSource:
        return AfPacketSource(self.iface, netns=self.netns)

    def runtime(self, **kw) -> HostRuntime:
        """A :class:`HostRuntime` of the host part on the interface (``kw``: batch, batch_time, prefetch...)."""
        return _Counted(self, self.host, self.source(), names=kw.pop("names", self.names), **kw)

    def dataset(self, **kw):
        """A torch ``IterableDataset`` of the host part's batches (``kw``: as :class:`HostDataset`)."""
        from .dataset import HostDataset

        class LiveDataset(HostDataset):
            """Runtimes that count into ``server`` (in this process; a worker elsewhere counts its own)."""
            server = self

            def runtime(self, shard, nshards, idle):
                return _Counted(self.server, self.ir, self.source, shard=shard, nshards=nshards, idle=idle, **self.kw)

            def __reduce__(self):           # to a worker process: a plain dataset (the server stays here)
                return HostDataset, (self.ir, self.source), {"kw": self.kw, "widen": self.widen, "meta": self.meta,
                                                             "as_tensors": self.as_tensors, "idle": self.idle}
        return LiveDataset(self.host, self.source(), names=kw.pop("names", self.names), **kw)

    def serve(self, **kw) -> dict:
        """:func:`serve` the host part with the NIC part attached (``kw``: as :func:`serve`); returns the
        host counters."""
        c = serve(self.host, self.source(), nic=self, names=kw.pop("names", self.names), **kw)
        add_counters(self.host_counters, c)
        return c


class _Counted(HostRuntime):
    """A host runtime whose batches' counters also go to its server's total, and whose open socket
    sets the server's ``ready``."""

    def __init__(self, server: SplitServer, *args, **kw):
        super().__init__(*args, **kw)
        self.server = server
        self.ready = server.ready

    def __iter__(self):
        for hb in super().__iter__():
            add_counters(self.server.host_counters, hb.counters)
            yield hb

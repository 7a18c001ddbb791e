"""nicc's host runtime: run a pipeline (the host part of a split one) on frames reaching the host,
batched with numpy, and hand the results to a training or inference loop.

    from nicc.runtime.host import HostRuntime, PcapSource, UdpSource, AfPacketSource, HostDataset

    for hb in HostRuntime("examples/criteo.py", UdpSource(9002)):   # numpy, one array per emitted value
        ...
    loader = DataLoader(HostDataset(ir, PcapSource("in.pcap")), batch_size=None, num_workers=2)

Modules: :mod:`.batch` (FrameBatch, HostBatch, counters), :mod:`.program` (the evaluator),
:mod:`.sources` (pcap, list, UDP), :mod:`.afpacket` (AF_PACKET with a TPACKET_V3 ring),
:mod:`.runtime` (HostRuntime), :mod:`.dataset` (torch), :mod:`.serve` (``nicc serve``),
:mod:`.nic` (NIC parts for serve: XDP), :mod:`.live` (a split pipeline served live: NIC part with XDP,
host part on the same interface), :mod:`.scaleout` (Ray).
"""
from .batch import COUNTERS, FrameBatch, HostBatch, add_counters, check_counters, concat, format_counters  # noqa: F401
from .program import Column, HostProgram, columns  # noqa: F401
from .runtime import HostRuntime, as_pipeline  # noqa: F401
from .sources import ListSource, PcapSource, Source, UdpSource  # noqa: F401
from .afpacket import AfPacketSource  # noqa: F401
from .serve import NicPart, serve  # noqa: F401
from .nic import XdpNic  # noqa: F401
from .live import SplitServer  # noqa: F401


def __getattr__(name):          # torch and ray are optional: imported when asked for
    if name == "HostDataset":
        from .dataset import HostDataset
        return HostDataset
    if name in ("RayHostRuntime", "StreamSplitError", "shard_pcap", "split_streams"):
        from . import scaleout
        return getattr(scaleout, name)
    raise AttributeError(name)

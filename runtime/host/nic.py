"""NIC parts for ``serve``: a pipeline compiled for a NIC target and attached to an interface.

    nic = XdpNic("nic_part.py", "eth0")            # compiled with nicc's XDP backend, verified, attached
    serve(host_part, AfPacketSource("eth0"), nic=nic)

The frames the NIC part lets through to the host (XDP_PASS, rewritten or not) reach the host
runtime's AF_PACKET socket on the same interface: generic-mode XDP runs before packet taps,
native-mode XDP before the kernel builds the packet at all.
"""
from __future__ import annotations

import socket

from ...compiler.errors import NiccError
from .runtime import as_pipeline
from .sources import in_netns


class XdpNic:
    """``pipeline`` on ``iface`` (in ``netns``) through XDP, ``mode`` generic or native."""

    def __init__(self, pipeline, iface: str, netns: str | None = None, mode: str = "generic",
                 outdir: str | None = None):
        self.ir = as_pipeline(pipeline)
        self.iface, self.netns, self.mode, self.outdir = iface, netns, mode, outdir
        self.name = f"xdp:{self.ir.name}"
        self.loaded = self.art = None

    def attach(self) -> None:
        from ..target import TargetUnavailable
        from ..libbpf import strerror
        from ..xdp import XDP_FLAGS, XDP_FLAGS_UPDATE_IF_NOEXIST, XdpTarget
        t = XdpTarget()
        t.check_available()
        # an artifact of its own lives (in a temporary directory) as long as the NIC part is attached
        art = self.art = t.compile(self.ir, self.outdir) if self.outdir else t.ensure_artifact(self.ir, None)
        with in_netns(self.netns):
            try:
                self.ifindex = socket.if_nametoindex(self.iface)
            except OSError:
                raise NiccError(f"no network interface '{self.iface}'") from None
            l = t.load(self.ir, art)
            rc = l.bpf.lib.bpf_xdp_attach(self.ifindex, l.fd, XDP_FLAGS[self.mode] | XDP_FLAGS_UPDATE_IF_NOEXIST, None)
        if rc:
            l.close()
            raise TargetUnavailable(f"cannot attach XDP to {self.iface} in {self.mode} mode: {strerror(rc)}")
        self.loaded = l

    def counters(self) -> dict[str, int]:
        from ..xdp import live_counters
        return live_counters(self.loaded.counters()) if self.loaded is not None else {}

    def detach(self) -> None:
        from ..xdp import XDP_FLAGS
        if self.loaded is None:
            return
        with in_netns(self.netns):
            self.loaded.bpf.lib.bpf_xdp_detach(self.ifindex, XDP_FLAGS[self.mode], None)
        self.loaded.close()
        self.loaded = self.art = None

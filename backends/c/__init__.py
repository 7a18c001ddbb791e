"""What the C dialects (eBPF C for XDP, C for DPDK) share: see :mod:`.cstyle`."""
from .cstyle import CRenderer, c_type  # noqa: F401

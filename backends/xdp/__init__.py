"""The XDP/eBPF backend: eBPF C in libbpf style, rendered from jinja2 templates (see :mod:`.renderer`)."""
from .renderer import ACTIONS, CODES, XdpRenderer, floor_source, generate, render  # noqa: F401

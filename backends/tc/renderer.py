"""The TC dialect of the eBPF backend: XDP's lowering on a ``struct __sk_buff``, and multicast.

Why TC for replication (issue 12). A proxy sends many copies out of one interface, each to a
different child: the copies differ only in their headers. TC has ``bpf_clone_redirect``: clone
the packet and send the clone out of (or into) any interface, now, as often as needed, with
the packet rewritten between clones (``bpf_skb_store_bytes``; the helper unclones the
original's head after each clone, so later writes never touch a copy already sent). XDP's
multicast is a devmap broadcast: one copy per map entry, each through the entry's egress
program, so per-copy headers need one program (or one devmap entry's program) per
destination, and a redirect into a veth needs the peer to run XDP. So the kernel data plane of
``nicc emulate`` is TC, attached at ingress (proxies, receivers) or egress (the sender).

:class:`TcRenderer` is :class:`~nicc.backends.xdp.renderer.XdpRenderer` with the skb's packet
access: the payload bytes the pipeline reads are always copied into per-CPU working memory
(``bpf_skb_load_bytes``), the new payload is stored with ``bpf_skb_change_tail`` and
``bpf_skb_store_bytes``, and the outcome becomes a TC action (the template's table). A
multicast verdict calls the group's copy loop: the new payload first (if the pipeline emits
one), the group's source fields, then per member its destination fields, the IPv4 checksum
recomputed and ``bpf_clone_redirect`` to the member's interface (``BPF_F_INGRESS``: into the
node's own stack, a copy for its host); the original is dropped. Members, their interfaces and
addresses are map contents loaded per node (:mod:`nicc.runtime.tc`).
"""
from __future__ import annotations

import os

import jinja2

from ...compiler.groups import DST, SRC, WIDTH
from ...compiler.ir import ARITH, Pipeline
from ..c.cstyle import cond
from ..xdp.renderer import TEMPLATES as XDP_TEMPLATES, XdpRenderer, lower, render

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
# Outcomes -> TC actions (what the template's nicc_done returns), for the manifest and the runtime.
ACTIONS = {"pass": "TC_ACT_OK", "transmit": "TC_ACT_REDIRECT", "drop": "TC_ACT_SHOT", "multicast": "TC_ACT_SHOT",
           "malformed": "TC_ACT_OK", "unselected": "TC_ACT_OK", "unhandled": "TC_ACT_OK", "host": "TC_ACT_OK"}
TC_ACTION_VALUES = {"TC_ACT_OK": 0, "TC_ACT_SHOT": 2, "TC_ACT_REDIRECT": 7}
MEMBER_SRC = {"mac": "m->mac", "ip": "&m->ip", "udp": "&m->udp"}
GROUP_SRC = {"mac": "g->mac", "ip": "&g->ip", "udp": "&g->udp"}


class TcRenderer(XdpRenderer):
    """XDP's renderer with the skb's packet access and multicast (see the module docstring)."""

    target_name = "the tc target"

    def __init__(self, pipeline: Pipeline, spill: bool = False):
        super().__init__(pipeline, spill)
        self.copy_always = True            # the payload bytes read are always copied (bpf_skb_load_bytes)

    def ret_code(self, outcome: str) -> str:
        if self.cb is not None:
            return "return 1;"
        return self.leave(f"nicc_done(ctx, cnt, NICC_{outcome.upper()})")

    def reserve(self) -> None:
        """The payload is rewritten in the copy and stored when the packet leaves: nothing to grow here."""

    def refuse_multicast(self, n) -> None:
        """Multicast is this dialect's to do."""

    def multicast(self, n) -> str:
        g = n.attr("group")
        if self.emitted:
            buf = "io_copy" if self.in_place else "s->out"
            return self.leave(f"nicc_copies_{g}(ctx, cnt, {buf}, {self.out_len}, 1)")
        return self.leave(f"nicc_copies_{g}(ctx, cnt, (const __u8 *)0, 0, 0)")

    def r_verdict_if(self, n, c):
        if n.attr("verdict") != "multicast":
            return super().r_verdict_if(n, c)
        self.emit_line(f"if ({cond(c)})")
        self.emit_line(f"    {self.multicast(n)}")

    def r_verdict(self, n):
        if n.attr("verdict") != "multicast":
            return super().r_verdict(n)
        self.emit_line(self.multicast(n))


for _op in ARITH:        # XdpRenderer binds its r_arith to the arithmetic ops; keep that binding
    setattr(TcRenderer, f"r_{_op.value}", XdpRenderer.r_arith)


def group_context(p: Pipeline) -> list[dict]:
    """What the template needs per group: capacity and the header writes (side, field, offset, width, source)."""
    out = []
    for name in sorted(p.groups):
        g = p.groups[name]
        writes = [("dst", f, DST[f], WIDTH[f], MEMBER_SRC[f]) for f in g.rewrite]
        writes += [("src", f, SRC[f], WIDTH[f], GROUP_SRC[f]) for f in g.source]
        out.append(dict(name=name, cap=max(1, g.capacity), rewrite=list(g.rewrite), source=list(g.source),
                        writes=writes))
    return out


def generate(pipeline: Pipeline, spill: bool = False) -> tuple[str, dict]:
    """The TC program's C source and its render context."""
    low = lower(pipeline)
    ctx = render(low, TcRenderer, spill)
    ctx["groups"] = group_context(low)
    ctx["actions"] = ACTIONS
    ctx["max_put"] = max(1, ctx["max_out"])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([TEMPLATES, XDP_TEMPLATES]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.get_template("prog.bpf.c.j2").render(**ctx), ctx

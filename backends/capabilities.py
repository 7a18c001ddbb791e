"""What each target can run, as data: the capability model the partition pass places stages by.

For every op a target either runs it, refuses it (with the reason, which ``nicc compile --explain``
prints and the partition pass uses to put the stage on the host), or runs it only for some packets
(a *guard*: bmv2 can grow a packet by at most 512 bytes, so an emit that may grow more runs on the
switch only for the packets it grows less)::

    cap = capabilities("xdp")
    cap.check(node, pipeline)          # -> None (runs), or Refusal(reason, limit) / Guard(...)

=======  ==============================================================================================
target   what it cannot do (everything else it runs)
=======  ==============================================================================================
all NIC  floating point (``f32``/``f64`` values, ``call``): no NIC target has an FPU in its data path
xdp      nothing else; limits: 1M verified instructions, 512 bytes of stack, frames up to the
         test-run limits (nicc.runtime.xdp.LIMITS)
tc       as xdp (the eBPF backend's TC dialect, which also replicates: multicast)
dpdk     nothing else; no limit but per-core cycles
bmv2     loops over data-dependent trip counts (a hand-off: packets reaching a ``scan`` go to the host
         part unchanged); growth <= 512 bytes per packet (a guard: packets that would grow more go to
         the host part)
=======  ==============================================================================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..compiler.ir import Node, Op, Pipeline
from ..compiler.types import is_float

NIC_TARGETS = ("xdp", "tc", "dpdk", "bmv2")


@dataclass(frozen=True)
class Refusal:
    """The target cannot run this stage: ``reason`` (the user sees it), ``limit`` (what ran out)."""
    reason: str
    limit: str


@dataclass(frozen=True)
class Guard:
    """The target runs this stage only for packets where ``make_cond(builder)`` holds (an IR bool)."""
    reason: str
    limit: str
    make_cond: Callable = field(compare=False)


@dataclass(frozen=True)
class Capabilities:
    target: str
    refused_ops: dict[Op, tuple[str, str]]           # op -> (reason, limit)
    limits: dict[str, object]                         # for --explain: the target's budgets
    guards: tuple[Callable, ...] = ()                 # functions (node, pipeline) -> Guard | None

    def check(self, n: Node, p: Pipeline) -> Refusal | Guard | None:
        """Whether this target runs ``n`` (None), never (Refusal) or for some packets (Guard)."""
        if n.op is Op.CALL or is_float(n.type) or any(is_float(a.type) for a in n.args) \
                or any(_float_inside(m) for m in (n.body.walk() if n.body is not None else ())):
            return Refusal(f"floating point: {self.target} has none in its data path", "no FPU")
        inner = [m for m in (n.body.walk() if n.body is not None else ())]
        for m in [n, *inner]:
            if m.op in self.refused_ops:
                reason, limit = self.refused_ops[m.op]
                return Refusal(f"{m.op.value}: {reason}", limit)
        for g in self.guards:
            got = g(n, p)
            if got is not None:
                return got
        return None


def _float_inside(m: Node) -> bool:
    return m.op is Op.CALL or is_float(m.type)


def _bmv2_growth(n: Node, p: Pipeline) -> Guard | Refusal | None:
    """bmv2 lets a packet grow by at most 512 bytes: an emit that may grow more runs on the switch only
    for the packets it grows less (the others are handed to the host part unchanged)."""
    if n.op is not Op.EMIT or any(m.op is Op.SCAN for m in p.body.nodes):
        return None                   # after a scan the switch has handed every packet to the host part
    from ..compiler.errors import NiccError
    from .p4.layout import GROWTH_LIMIT, partition_host_nic
    try:
        part = partition_host_nic(p)
    except NiccError as e:
        return Refusal(e.message, f"growth <= {GROWTH_LIMIT} bytes")
    if not part.split:
        return None
    return Guard("; ".join(part.notes), f"growth <= {GROWTH_LIMIT} bytes", None)


def _bmv2_scan(n: Node, p: Pipeline) -> Guard | None:
    """P4 has no loops: the switch makes the checks before a scan and hands the packets that pass them
    to the host part unchanged (backends/p4/streams.py: host_cut), where the pipeline runs whole."""
    if n.op is not Op.SCAN:
        return None
    return Guard("P4 has no loops over a data-dependent trip count (recirculating would take a pass through the "
                 "switch per step): the packets that pass the checks before it are handed to the host part "
                 "unchanged", "no loops", None)


CAPABILITIES: dict[str, Capabilities] = {
    "interp": Capabilities("interp", {}, {"note": "the reference interpreter runs everything"}),
    "xdp": Capabilities("xdp", {},
                        {"verified instructions": 1_000_000, "stack bytes": 512, "floating point": "none"}),
    "tc": Capabilities("tc", {},
                       {"verified instructions": 1_000_000, "stack bytes": 512, "floating point": "none"}),
    "dpdk": Capabilities("dpdk", {},
                         {"floating point": "none in the generated data path (host math goes to the host part)"}),
    "bmv2": Capabilities("bmv2", {},
                         {"packet growth bytes": 512, "loops": "none", "floating point": "none"},
                         guards=(_bmv2_growth, _bmv2_scan)),
}


def capabilities(target: str) -> Capabilities:
    if target not in CAPABILITIES:
        raise KeyError(f"no capability model for target '{target}'")
    return CAPABILITIES[target]


def register_guard(target: str, guard: Callable) -> None:
    """Add a per-packet guard to ``target``'s model (the bmv2 backend adds its growth limit)."""
    c = CAPABILITIES[target]
    CAPABILITIES[target] = Capabilities(c.target, c.refused_ops, c.limits, c.guards + (guard,))

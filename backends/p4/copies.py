"""Multicast on bmv2: the replication engine makes the copies, an egress table rewrites each one.

Every member of a group is one replica in v1model's packet replication engine (PRE):
member k of group g is a node with replication id (``egress_rid``) k on the member's
port, so ports may repeat (a proxy's children all behind one port) and copies keep member
order. Groups that rewrite headers get, in egress, one entry per member in the table
``nicc_copies``, matched on ``(meta.grp, egress_rid)``; its action (one per group, with
the group's fields as parameters) writes the member's destination fields and the group's
source fields and sets ``meta.csum``: the deparser recomputes the IPv4 checksum and the
UDP checksum becomes 0, as :mod:`nicc.compiler.groups` defines.

Members are load-time data, not code: :func:`group_state` gives the PRE groups and the
table entries of a pipeline whose sized groups are bound (each node loads its own).

``nd.timestamp()`` reads the register ``nicc_clock``: cell 1 = 0 gives cell 0, a fixed
time the runtime writes (a capture's timestamps, frame by frame); cell 1 = 1 gives cell 0 +
the switch's ingress timestamp (us) * 1000: the control plane's offset to its wall clock.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...compiler.groups import BITS, Group
from ...compiler.ir import Pipeline
from .rules import ID_ACTION, ID_REGISTER, ID_TABLE

COPY_TABLE = "nicc_copies"
EGRESS = "NiccEgress"
CLOCK = "nicc_clock"
CLOCK_ID = (ID_REGISTER << 24) | 0xC10C
_ID_BASE = 0x100                               # egress action / table ids, clear of the ingress ones
KEEP_ACTION = "nicc_copy_keep"
HEADER = {("dst", "mac"): "hdr.ethernet.dstAddr", ("dst", "ip"): "hdr.ipv4.dstAddr",
          ("dst", "udp"): "hdr.udp.dstPort", ("src", "mac"): "hdr.ethernet.srcAddr",
          ("src", "ip"): "hdr.ipv4.srcAddr", ("src", "udp"): "hdr.udp.srcPort"}


def group_ids(p: Pipeline) -> dict[str, int]:
    """Multicast group ids (``mcast_grp``): 1, 2, ... in group-name order."""
    return {g: i + 1 for i, g in enumerate(sorted(p.groups))}


def params(g: Group) -> list[tuple[str, str, str, int]]:
    """The copy action's parameters: (name, side, field, bits), destination fields then source fields."""
    return [(f"d_{f}", "dst", f, BITS[f]) for f in g.rewrite] + [(f"s_{f}", "src", f, BITS[f]) for f in g.source]


@dataclass
class CopyTable:
    """What the template lays out for ``nicc_copies`` (absent when no group rewrites)."""
    id: int
    size: int
    actions: list            # (id, name, [(param, bits)], body lines)
    keep_id: int


def copy_table(p: Pipeline) -> CopyTable | None:
    rewriting = [p.groups[g] for g in sorted(p.groups) if p.groups[g].rewrites]
    if not rewriting:
        return None
    actions = []
    for k, g in enumerate(rewriting):
        ps = params(g)
        body = [f"{HEADER[side, f]} = {name};" for name, side, f, _ in ps]
        body += ["hdr.udp.checksum = 16w0;", "meta.csum = 1w1;"]
        actions.append(((ID_ACTION << 24) | (_ID_BASE + 1 + k), f"nicc_copy_{g.name}",
                        [(name, bits) for name, _, _, bits in ps], body))
    return CopyTable((ID_TABLE << 24) | _ID_BASE, sum(g.capacity for g in rewriting), actions,
                     (ID_ACTION << 24) | _ID_BASE)


def group_state(p: Pipeline) -> dict:
    """What a node loads into the switch for ``p`` as it is bound now (JSON-able): the PRE groups, the
    ``nicc_copies`` entries, the initial contents of its state arrays, and whether it has a clock."""
    ids = group_ids(p)
    groups, entries = [], []
    for name in sorted(p.groups):
        g = p.groups[name]
        groups.append({"group": ids[name], "name": name, "ports": list(g.ports), "src_mac": "mac" in g.source})
        if not g.rewrites:
            continue
        for k, m in enumerate(g.members):
            values = {f"d_{f}": m.dst.value(f) for f in g.rewrite}
            values.update({f"s_{f}": g.src.value(f) for f in g.source})
            entries.append({"table": f"{EGRESS}.{COPY_TABLE}", "action": f"{EGRESS}.nicc_copy_{name}",
                            "match": {"grp": {"exact": ids[name], "bits": 16}, "rid": {"exact": k, "bits": 16}},
                            "params": values, "bits": {n: bits for n, _, _, bits in params(g)}})
    states = [{"name": f"NiccIngress.state_{st.name}", "values": [st.init] * st.size}
              for st in p.states.values() if st.init]
    return {"multicast": groups, "copy_entries": entries, "state_registers": states,
            "clock": {"name": f"NiccIngress.{CLOCK}"} if uses_clock(p) else None}


def uses_clock(p: Pipeline) -> bool:
    from ...compiler.ir import Op
    return any(n.op is Op.TIMESTAMP for n in p.body.walk())

"""P4Info (built with the ``p4runtime`` package's protobufs, from the program's ``@id``s) and run-time state.

The run-time state is what the program needs before the first packet: register
contents (lookup tables; state arrays start at their initial value), table
entries (bucket boundaries as ``range`` entries) and multicast groups. It is
written as JSON; :func:`cli_commands` turns it into ``simple_switch_CLI``
commands (bmv2's P4Runtime server does not write registers).
"""
from __future__ import annotations

from .copies import COPY_TABLE, EGRESS, KEEP_ACTION, group_state
from .render import CONTROL, P4Program
from .rules import MCAST_SLOT, SLOTS


def _pb():
    """The p4runtime package's P4Info protobufs (p4.config.v1.p4info_pb2)."""
    from p4.config.v1 import p4info_pb2
    return p4info_pb2


def p4info_message_class():
    """The P4Info message class (for reading P4Info back)."""
    return _pb().P4Info


def qualified(name: str, control: str = CONTROL) -> str:
    return f"{control}.{name}"


def build_p4info(prog: P4Program):
    pb = _pb()
    info = pb.P4Info()
    info.pkg_info.arch = "v1model"
    for aid, name, params, _ in prog.actions:
        a = info.actions.add()
        a.preamble.id, a.preamble.name, a.preamble.alias = aid, qualified(name), name
        for i, (pname, bits) in enumerate(params, 1):
            prm = a.params.add()
            prm.id, prm.name, prm.bitwidth = i, pname, bits
    for t in prog.tables:
        tb = info.tables.add()
        tb.preamble.id, tb.preamble.name, tb.preamble.alias = t.id, qualified(t.name), t.name
        mf = tb.match_fields.add()
        mf.id, mf.name, mf.bitwidth, mf.match_type = 1, "x", t.key_bits, pb.MatchField.RANGE
        tb.action_refs.add().id = prog.actions[0][0]
        tb.size = t.size
    if prog.copies is not None:
        _copy_table(pb, info, prog.copies)
    for c in prog.counters:
        ct = info.counters.add()
        ct.preamble.id, ct.preamble.name, ct.preamble.alias = c.id, qualified(c.name), c.name
        ct.spec.unit = pb.CounterSpec.PACKETS
        ct.size = c.size
    for r in prog.registers:
        rg = info.registers.add()
        rg.preamble.id, rg.preamble.name, rg.preamble.alias = r.id, qualified(r.name), r.name
        rg.type_spec.bitstring.bit.bitwidth = r.bits
        rg.size = r.size
    return info


def _copy_table(pb, info, ct) -> None:
    """The egress table ``nicc_copies`` and its actions (see :mod:`.copies`)."""
    for aid, name, params, _ in [(ct.keep_id, KEEP_ACTION, [], None)] + ct.actions:
        a = info.actions.add()
        a.preamble.id, a.preamble.name, a.preamble.alias = aid, qualified(name, EGRESS), name
        for i, (pname, bits) in enumerate(params, 1):
            prm = a.params.add()
            prm.id, prm.name, prm.bitwidth = i, pname, bits
    tb = info.tables.add()
    tb.preamble.id, tb.preamble.name, tb.preamble.alias = ct.id, qualified(COPY_TABLE, EGRESS), COPY_TABLE
    for i, key in enumerate(("grp", "rid"), 1):
        mf = tb.match_fields.add()
        mf.id, mf.name, mf.bitwidth, mf.match_type = i, key, 16, pb.MatchField.EXACT
    for aid, *_ in ct.actions:
        tb.action_refs.add().id = aid
    tb.action_refs.add().id = ct.keep_id
    tb.size = ct.size


def p4info_text(prog: P4Program) -> str:
    info = build_p4info(prog)
    from google.protobuf import text_format
    return text_format.MessageToString(info)


def runtime_state(prog: P4Program, ir=None) -> dict:
    """Registers to write, table entries and default actions to add, multicast groups to create (with
    ``ir``: its groups' members and copy-table entries as bound now, see :func:`.copies.group_state`)."""
    regs = []
    for r in prog.registers:
        if r.values is not None:
            regs.append({"name": qualified(r.name), "id": r.id, "values": r.values})
        elif r.init:
            regs.append({"name": qualified(r.name), "id": r.id, "values": [r.init] * r.size})
    entries, defaults = [], []
    for t in prog.tables:
        defaults.append({"table": qualified(t.name), "action": qualified("nicc_set_bucket"), "params": {"b": 0},
                         "bits": {"b": 8}})
        for lo, hi, b in t.entries:
            entries.append({"table": qualified(t.name), "table_id": t.id, "action": qualified("nicc_set_bucket"),
                            "match": {"x": {"range": [lo, hi], "bits": t.key_bits}}, "params": {"b": b},
                            "bits": {"b": 8}, "priority": 1})
    from . import HOST_PART_PORT, HOST_PORT, MALFORMED_PORT, UNSELECTED_PORT
    part = prog.partition
    return {
        "pipeline": prog.name,
        "ports": {"host": HOST_PORT, "host_part": HOST_PART_PORT, "malformed": MALFORMED_PORT,
                  "unselected": UNSELECTED_PORT, "transmit": "ingress port"},
        "registers": regs,
        "counters": [{"name": qualified(c.name), "id": c.id, "size": c.size,
                      "slots": list(SLOTS) + [f"multicast {name}" for _, name, _ in prog.groups],
                      "mcast_slot": MCAST_SLOT} for c in prog.counters],
        "table_entries": entries,
        "default_actions": defaults,
        "multicast": [{"group": gid, "name": name, "ports": ports} for gid, name, ports in prog.groups],
        "copy_entries": [],
        "clock": None,
        "host_split": {"limit": part.limit, "caps": {str(k): v for k, v in part.caps.items()},
                       "notes": part.notes} if part else None,
    } | ({k: v for k, v in group_state(ir).items() if k != "state_registers"} if ir is not None else {})


def cli_commands(state: dict, port_map: dict[int, int] | None = None) -> list[str]:
    """``simple_switch_CLI`` commands that push ``state`` (group ports renamed through ``port_map``)."""
    out = []
    for r in state["registers"]:
        out.extend(f"register_write {r['name']} {i} {v}" for i, v in enumerate(r["values"]))
    for d in state["default_actions"]:
        out.append(f"table_set_default {d['table']} {d['action']} {' '.join(str(v) for v in d['params'].values())}")
    for e in state["table_entries"]:
        keys = " ".join(f"{k['range'][0]}->{k['range'][1]}" for k in e["match"].values())
        params = " ".join(str(v) for v in e["params"].values())
        out.append(f"table_add {e['table']} {e['action']} {keys} => {params} {e['priority']}")
    for e in state.get("copy_entries", []):
        keys = " ".join(str(k["exact"]) for k in e["match"].values())
        out.append(f"table_add {e['table']} {e['action']} {keys} => {' '.join(str(v) for v in e['params'].values())}")
    handle = 0
    for g in state["multicast"]:
        out.append(f"mc_mgrp_create {g['group']}")
        for rid, p in enumerate(g["ports"]):              # one node per member: replication id = its index
            out.append(f"mc_node_create {rid} {port_map.get(p, p) if port_map else p}")
            out.append(f"mc_node_associate {g['group']} {handle}")
            handle += 1
    return out

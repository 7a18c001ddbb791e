"""P4Info (built with the ``p4runtime`` package's protobufs, from the program's ``@id``s) and run-time state.

The run-time state is what the program needs before the first packet: register
contents (lookup tables; state arrays start at their initial value), table
entries (bucket boundaries as ``range`` entries) and multicast groups. It is
written as JSON; :func:`cli_commands` turns it into ``simple_switch_CLI``
commands (bmv2's P4Runtime server does not write registers).
"""
from __future__ import annotations

import os
import sys

from .render import CONTROL, P4Program


class _Messages:
    """``P4Info`` and ``MatchField`` message classes of p4.config.v1."""

    def __init__(self, P4Info, MatchField):
        self.P4Info, self.MatchField = P4Info, MatchField
        self.RANGE = MatchField.DESCRIPTOR.enum_types_by_name["MatchType"].values_by_name["RANGE"].number


def _pb() -> _Messages:
    """The p4runtime package's P4Info protobufs.

    Its generated modules predate protobuf 4: they import only under the pure-Python
    runtime. Otherwise the same descriptors (read from those modules) are added to the
    default pool and the classes built from them.
    """
    if "google.protobuf" not in sys.modules:
        os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
    try:
        from p4.config.v1 import p4info_pb2
        return _Messages(p4info_pb2.P4Info, p4info_pb2.MatchField)
    except TypeError:
        pass
    import ast
    import importlib.util
    from google.protobuf import any_pb2, descriptor_pool, message_factory  # noqa: F401
    pool = descriptor_pool.Default()
    for mod in ("p4.config.v1.p4types_pb2", "p4.config.v1.p4info_pb2"):
        with open(importlib.util.find_spec(mod).origin) as f:
            tree = ast.parse(f.read())
        blob = next(ast.literal_eval(k.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
                    for k in node.keywords if k.arg == "serialized_pb")
        name = mod.replace(".", "/")[:-4] + ".proto"
        try:
            pool.FindFileByName(name)
        except KeyError:
            pool.AddSerializedFile(blob)
    get = getattr(message_factory, "GetMessageClass", None) or message_factory.MessageFactory(pool).GetPrototype
    return _Messages(get(pool.FindMessageTypeByName("p4.config.v1.P4Info")),
                     get(pool.FindMessageTypeByName("p4.config.v1.MatchField")))


def p4info_message_class():
    """The P4Info message class (for reading P4Info back)."""
    return _pb().P4Info


def qualified(name: str) -> str:
    return f"{CONTROL}.{name}"


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
        mf.id, mf.name, mf.bitwidth, mf.match_type = 1, "x", t.key_bits, pb.RANGE
        tb.action_refs.add().id = prog.actions[0][0]
        tb.size = t.size
    for r in prog.registers:
        rg = info.registers.add()
        rg.preamble.id, rg.preamble.name, rg.preamble.alias = r.id, qualified(r.name), r.name
        rg.type_spec.bitstring.bit.bitwidth = r.bits
        rg.size = r.size
    return info


def p4info_text(prog: P4Program) -> str:
    info = build_p4info(prog)
    from google.protobuf import text_format
    return text_format.MessageToString(info)


def runtime_state(prog: P4Program) -> dict:
    """Registers to write, table entries and default actions to add, multicast groups to create."""
    regs = []
    for r in prog.registers:
        if r.values is not None:
            regs.append({"name": qualified(r.name), "id": r.id, "values": r.values})
        elif r.init:
            regs.append({"name": qualified(r.name), "id": r.id, "values": [r.init] * r.size})
    entries, defaults = [], []
    for t in prog.tables:
        defaults.append({"table": qualified(t.name), "action": qualified("nicc_set_bucket"), "params": {"b": 0}})
        for lo, hi, b in t.entries:
            entries.append({"table": qualified(t.name), "table_id": t.id, "action": qualified("nicc_set_bucket"),
                            "match": {"x": {"range": [lo, hi]}}, "params": {"b": b}, "priority": 1})
    from . import HOST_PART_PORT, HOST_PORT, MALFORMED_PORT, UNSELECTED_PORT
    part = prog.partition
    return {
        "pipeline": prog.name,
        "ports": {"host": HOST_PORT, "host_part": HOST_PART_PORT, "malformed": MALFORMED_PORT,
                  "unselected": UNSELECTED_PORT, "transmit": "ingress port"},
        "registers": regs,
        "table_entries": entries,
        "default_actions": defaults,
        "multicast": [{"group": gid, "name": name, "ports": ports} for gid, name, ports in prog.groups],
        "host_split": {"limit": part.limit, "caps": {str(k): v for k, v in part.caps.items()},
                       "notes": part.notes} if part else None,
    }


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
    for handle, g in enumerate(state["multicast"]):
        ports = [port_map.get(p, p) if port_map else p for p in g["ports"]]
        out.append(f"mc_mgrp_create {g['group']}")
        out.append(f"mc_node_create 0 {' '.join(str(p) for p in ports)}")
        out.append(f"mc_node_associate {g['group']} {handle}")
    return out

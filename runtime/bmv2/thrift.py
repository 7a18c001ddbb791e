"""Control of a running simple_switch over Thrift (bmv2's own runtime API).

Used for what bmv2's P4Runtime server lacks (register writes, egress queue
depths) and, where simple_switch_grpc is absent, for everything: table entries,
default actions, multicast groups, counter reads. The run-time state comes
from ``NAME.runtime.json`` (see :func:`nicc.backends.p4.runtime_state`).

    c = ThriftControl.connect(toolchain.site_packages(), port=9090, alive=lambda: proc.poll() is None)
    c.push_registers(state)
    c.push_tables(state); c.push_multicast(state, port_map)
    c.counter("NiccIngress.nicc_verdicts", 8)    # [packets per index]
"""
from __future__ import annotations

import socket
import time

from .tools import thrift_modules

CXT = 0


def value_bytes(v: int, bits: int) -> bytes:
    return int(v).to_bytes((bits + 7) // 8, "big")


def i64(v: int) -> int:
    """A register cell value as Thrift's signed 64-bit BmRegisterValue (two's complement)."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


class SwitchGone(RuntimeError):
    """The switch process exited while nicc was talking to it."""


class ThriftControl:
    def __init__(self, mods: dict, transport, standard, pre, sswitch):
        self.m, self.transport = mods, transport
        self.standard, self.pre, self.sswitch = standard, pre, sswitch

    @classmethod
    def connect(cls, site_packages: list[str], port: int = 9090, alive=lambda: True,
                host: str = "127.0.0.1") -> "ThriftControl":
        """Connect once the switch's Thrift server accepts; ``alive()`` False means it died (no timeout)."""
        from thrift.protocol import TBinaryProtocol, TMultiplexedProtocol
        from thrift.transport import TSocket, TTransport
        mods = thrift_modules(tuple(site_packages))
        delay = 0.02
        while True:
            try:
                socket.create_connection((host, port)).close()
                break
            except OSError:
                if not alive():
                    raise SwitchGone("the switch exited before its Thrift server came up") from None
                time.sleep(delay)
                delay = min(0.2, delay * 1.5)
        transport = TTransport.TBufferedTransport(TSocket.TSocket(host, port))
        proto = TBinaryProtocol.TBinaryProtocol(transport)

        def client(service, mod):
            return mod.Client(TMultiplexedProtocol.TMultiplexedProtocol(proto, service))
        transport.open()
        return cls(mods, transport, client("standard", mods["standard"]), client("simple_pre_lag", mods["pre"]),
                   client("simple_switch", mods["sswitch"]))

    def close(self) -> None:
        self.transport.close()

    # -- what P4Runtime on bmv2 cannot do -----------------------------------------------------------
    def set_queue_depth(self, depth: int) -> None:
        """Egress queues drop when full (64 packets by default): make them hold a whole run."""
        self.sswitch.set_all_egress_queue_depths(depth)

    def push_registers(self, state: dict) -> int:
        n = 0
        for r in state["registers"]:
            vals = r["values"]
            k = 0
            while k < len(vals):                       # runs of equal values in one call
                j = k
                while j + 1 < len(vals) and vals[j + 1] == vals[k]:
                    j += 1
                if j > k:
                    self.standard.bm_register_write_range(CXT, r["name"], k, j + 1, i64(vals[k]))
                else:
                    self.standard.bm_register_write(CXT, r["name"], k, i64(vals[k]))
                n += 1
                k = j + 1
        return n

    # -- tables, multicast, counters (when there is no P4Runtime server) -------------------------------
    def push_tables(self, state: dict) -> int:
        t = self.m["standard_types"]
        n = 0
        for d in state["default_actions"]:
            self.standard.bm_mt_set_default_action(CXT, d["table"], d["action"],
                                                   [value_bytes(v, d["bits"][k]) for k, v in d["params"].items()])
            n += 1
        for e in state["table_entries"] + state.get("copy_entries", []):
            keys = []
            for name, m in e["match"].items():
                bits = m["bits"]
                if "exact" in m:
                    keys.append(t.BmMatchParam(type=t.BmMatchParamType.EXACT,
                                               exact=t.BmMatchParamExact(value_bytes(m["exact"], bits))))
                    continue
                lo, hi = m["range"]
                keys.append(t.BmMatchParam(type=t.BmMatchParamType.RANGE, range=t.BmMatchParamRange(
                    value_bytes(lo, bits), value_bytes(hi, bits))))
            data = [value_bytes(v, e["bits"][k]) for k, v in e["params"].items()]
            self.standard.bm_mt_add_entry(CXT, e["table"], keys, e["action"], data,
                                          t.BmAddEntryOptions(priority=e.get("priority", 0)))
            n += 1
        return n

    def push_multicast(self, groups: list[tuple[int, list[int]]]) -> None:
        """``groups``: (group id, ports) pairs; member k is a node of its own with replication id k."""
        for gid, ports in groups:
            mgrp = self.pre.bm_mc_mgrp_create(CXT, gid)
            for rid, p in enumerate(ports):
                node = self.pre.bm_mc_node_create(CXT, rid, port_map([p]), "")
                self.pre.bm_mc_node_associate(CXT, mgrp, node)

    def write_register(self, name: str, index: int, value: int) -> None:
        self.standard.bm_register_write(CXT, name, index, i64(value))

    def counter(self, name: str, size: int) -> list[int]:
        return [self.standard.bm_counter_read(CXT, name, i).packets for i in range(size)]


def port_map(ports: list[int]) -> str:
    """bmv2's port bitmap string: character i from the right is port i."""
    bits = ["0"] * (max(ports) + 1 if ports else 0)
    for p in ports:
        bits[p] = "1"
    return "".join(reversed(bits))

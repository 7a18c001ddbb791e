"""Control of simple_switch_grpc through P4Runtime, with p4runtime-shell (``p4runtime_sh``).

The pipeline goes in as nicc wrote it: ``NAME.p4info.txtpb`` (nicc's P4Info, not
p4c's) and p4c's ``NAME.json``, by SetForwardingPipelineConfig. Then the range
entries and default actions of the bucketize tables, the multicast groups
(PacketReplicationEngine entries) and, later, reads of the verdict counter.
Register contents go over Thrift (:mod:`.thrift`): bmv2's P4Runtime server does
not implement register writes.

    c = P4RuntimeControl.connect("127.0.0.1:9559", p4info, bmv2_json, alive=proc.poll)
    c.push_tables(state); c.push_multicast([(1, [100, 101])])
    c.counter("NiccIngress.nicc_verdicts")
    c.close()
"""
from __future__ import annotations

import logging

from .thrift import SwitchGone


def _client_class():
    """p4runtime-shell's client, waiting for the arbitration answer as long as the stream lives (its own
    handshake gives up after 2 s, which a loaded machine can exceed)."""
    from p4.v1 import p4runtime_pb2
    from p4runtime_sh.p4runtime import P4RuntimeClient

    class Client(P4RuntimeClient):
        def handshake(self):
            req = p4runtime_pb2.StreamMessageRequest()
            req.arbitration.device_id = self.device_id
            req.arbitration.election_id.high, req.arbitration.election_id.low = self.election_id
            self.stream_out_q.put(req)
            rep = self.get_stream_packet("arbitration", timeout=None)   # None: the stream closed
            if rep is None or rep.arbitration.status.code != 0:
                raise SwitchGone(f"P4Runtime arbitration failed: {rep}")
    return Client


class PipelineRejected(RuntimeError):
    """The P4Runtime server refused nicc's P4Info with p4c's JSON."""


class P4RuntimeControl:
    def __init__(self, sh):
        self.sh = sh

    @classmethod
    def connect(cls, addr: str, p4info: str, bmv2_json: str, alive=lambda: True) -> "P4RuntimeControl":
        """Become primary client of the switch at ``addr`` and install the pipeline."""
        import grpc
        import p4runtime_sh.shell as sh
        logging.getLogger().setLevel(logging.ERROR)
        channel = grpc.insecure_channel(addr)
        while True:                                # the server is up: a connection is ready
            try:
                grpc.channel_ready_future(channel).result(timeout=1)
                break
            except grpc.FutureTimeoutError:
                if not alive():
                    raise SwitchGone("the switch exited before its P4Runtime server came up") from None
        channel.close()
        from p4runtime_sh.p4runtime import P4RuntimeException
        client = _client_class()(0, addr, (0, 1))
        try:
            client.set_fwd_pipe_config(p4info, bmv2_json)
        except P4RuntimeException as e:
            client.tear_down()
            raise PipelineRejected(f"simple_switch_grpc refused the pipeline ({p4info}, {bmv2_json}): {e}") from None
        sh.client = client
        sh.context.set_p4info(client.get_p4info())
        return cls(sh)

    def close(self) -> None:
        self.sh.teardown()

    def push_tables(self, state: dict) -> int:
        sh, n = self.sh, 0
        for d in state["default_actions"]:
            te = sh.TableEntry(d["table"])(action=d["action"])
            for k, v in d["params"].items():
                te.action[k] = str(v)
            te.is_default = True
            te.modify()
            n += 1
        for e in state["table_entries"] + state.get("copy_entries", []):
            te = sh.TableEntry(e["table"])(action=e["action"])
            for name, m in e["match"].items():
                if "exact" in m:
                    te.match[name] = str(m["exact"])
                    continue
                lo, hi = m["range"]
                if (lo, hi) != (0, (1 << m["bits"]) - 1):    # P4Runtime: a full range is omitted (don't care)
                    te.match[name] = f"{lo}..{hi}"
            for k, v in e["params"].items():
                te.action[k] = str(v)
            if "priority" in e:
                te.priority = e["priority"]
            te.insert()
            n += 1
        return n

    def push_multicast(self, groups: list[tuple[int, list[int]]]) -> None:
        for gid, ports in groups:
            g = self.sh.MulticastGroupEntry(gid)
            for rid, p in enumerate(ports):          # member k: replica (port, instance k)
                g.add(p, rid)
            g.insert()

    def read_back(self, state: dict, groups: list[tuple[int, list[int]]]) -> dict:
        """What the switch holds now, read over P4Runtime: entries per table, replicas per group."""
        tables = {}
        for e in state["table_entries"] + state.get("copy_entries", []):
            tables.setdefault(e["table"], 0)
        for t in tables:
            tables[t] = sum(1 for _ in self.sh.TableEntry(t).read())
        mc = {}
        for gid, _ in groups:
            for g in self.sh.MulticastGroupEntry(gid).read():
                mc[gid] = sorted(r.egress_port for r in g.replicas)
        return {"table_entries": sum(tables.values()), "groups": mc}

    def counter(self, name: str, size: int) -> list[int]:
        got = [0] * size
        for c in self.sh.CounterEntry(name).read():
            got[c.index] = c.packet_count
        return got

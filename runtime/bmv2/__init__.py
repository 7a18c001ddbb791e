"""The bmv2 target: P4_16 for v1model, compiled by p4c and run on bmv2's simple_switch.

``compile`` writes NAME.p4 (with ``@id``s), NAME.p4info.txtpb (nicc's P4Info,
built with the ``p4runtime`` protobufs from those ids), NAME.runtime.json
(register contents, table entries, multicast groups: what the runtime pushes
before the first packet), NAME.commands.txt (the same as ``simple_switch_CLI``
commands), then runs p4c (:mod:`.p4c`): NAME.json for the switch, p4c's own
P4Info, and ``manifest["explain"]``/``["resources"]`` from what p4c produced.

``run`` starts a fresh switch per call (:mod:`.runner`, :mod:`.session`):
``simple_switch_grpc`` driven through P4Runtime by p4runtime-shell where it is
installed (Thrift only for register writes), else ``simple_switch`` over
Thrift. Frames the NIC part hands to the host part (host/NIC split, see
:func:`nicc.backends.p4.partition_host_nic`; a scan, which P4 cannot run; a
host function) are completed here with the reference semantics (numpy) and the
host function, so every output is identical to every other target's. ``run_live`` (:mod:`.live`) attaches the switch to interfaces.

Without p4c and bmv2 the target is unavailable (exit status 3), naming what is
missing; there is no other P4 implementation to fall back on.

    t = Bmv2Target()                      # or Bmv2Target(control="thrift")
    art = t.compile(ir, "out/")
    results = t.run(ir, frames, art)
    t.last["counters"], t.last["control"]
"""
from __future__ import annotations

import json
import os
import sys

from ...backends.p4 import HOST_PART_PORT, cli_commands, p4info_text, render_program, runtime_state
from ...backends.p4.copies import group_state
from ...backends.p4.limits import check_switch_limits
from ...compiler.interp import Result
from ...compiler.ir import Pipeline
from ..hostpart import host_part_results
from ..target import Artifact, Target, TargetUnavailable
from .runner import WIRE_PORT, mcast_ports, run_switch, sink_ports
from .tools import Toolchain

CONTROLS = ("auto", "p4runtime", "thrift")


def _port_verdicts() -> dict:
    from ...backends.p4 import HOST_PORT, MALFORMED_PORT, UNSELECTED_PORT
    return {HOST_PORT: ("pass", "selected"), MALFORMED_PORT: ("pass", "malformed"),
            UNSELECTED_PORT: ("pass", "unselected"), WIRE_PORT: ("transmit", "selected")}


class Bmv2Target(Target):
    name = "bmv2"
    description = "P4_16 for v1model: p4c-bm2-ss, then simple_switch_grpc (P4Runtime) or simple_switch (Thrift)"

    def __init__(self, control: str | None = None):
        self.control = control or os.environ.get("NICC_BMV2_CONTROL") or "auto"
        if self.control not in CONTROLS:
            raise TargetUnavailable(f"NICC_BMV2_CONTROL must be one of {', '.join(CONTROLS)}, not '{self.control}'")
        self.last: dict | None = None          # the last run's report: counters, timings, control path
        self.echo = True                       # say once which switch and control path run
        self._told = False

    def _tell(self, control: str) -> None:
        if self.echo and not self._told:
            how = "simple_switch_grpc, configured through P4Runtime (p4runtime-shell) and Thrift (registers)" \
                if control == "p4runtime" else "simple_switch, configured through Thrift"
            print(f"bmv2: running on {how}, one switch per run in its own network namespace", file=sys.stderr)
            self._told = True

    # -- availability ----------------------------------------------------------------------------
    def toolchain(self) -> Toolchain:
        return Toolchain.find()

    def unavailable(self) -> str | None:
        tc = self.toolchain()
        miss = tc.missing()
        if self.control == "p4runtime":
            why = tc.p4runtime_problem()
            miss += [why] if why else []
        elif self.control == "thrift" and not tc.tool("simple_switch"):
            miss.append("simple_switch (the Thrift-only switch)")
        return f"missing {'; '.join(miss)}" if miss else None

    def control_path(self) -> str:
        """How runs configure the switch here: "p4runtime" or "thrift"."""
        if self.control != "auto":
            return self.control
        tc = self.toolchain()
        if tc.p4runtime_problem() is None or not tc.tool("simple_switch"):
            return "p4runtime"
        return "thrift"

    # -- compile ---------------------------------------------------------------------------------
    def write_sources(self, ir: Pipeline, outdir: str):
        """The P4 program, P4Info, run-time state and CLI commands (no p4c); returns (Artifact, P4Program)."""
        os.makedirs(outdir, exist_ok=True)
        prog = render_program(ir)
        files = {}

        def put(role: str, fname: str, text: str) -> None:
            path = os.path.join(outdir, fname)
            with open(path, "w") as f:
                f.write(text)
            files[role] = path

        state = runtime_state(prog, ir)
        put("p4", f"{ir.name}.p4", prog.text)
        put("p4info", f"{ir.name}.p4info.txtpb", p4info_text(prog))
        put("runtime", f"{ir.name}.runtime.json", json.dumps(state, indent=1) + "\n")
        put("commands", f"{ir.name}.commands.txt", "".join(c + "\n" for c in cli_commands(state)))
        notes = list(prog.partition.notes) if prog.partition else []
        manifest = {"target": "bmv2", "pipeline": ir.name, "notes": notes,
                    "host_split": bool(prog.partition and prog.partition.split),
                    "resources": {"p4_lines": prog.text.count("\n"), "table_entries": len(state["table_entries"]),
                                  "multicast_groups": len(prog.groups)}}
        return Artifact(outdir, files, manifest), prog

    def compile(self, ir: Pipeline, outdir: str) -> Artifact:
        from .p4c import explain, run_p4c
        art, prog = self.write_sources(ir, outdir)
        tc = self.toolchain()
        miss = tc.missing_compile()
        if miss:
            raise TargetUnavailable(f"target bmv2 is unavailable here: missing {', '.join(miss)} "
                                    f"(the P4 source is in {art.files['p4']})")
        got = run_p4c(tc, prog, art.files["p4"], ir.loc)
        art.files.update({"json": got["json"], "p4info_p4c": got["p4info"], "p4c_log": got["log"]})
        rows, res = explain(got["json"], got["seconds"], got["cached"])
        art.manifest["explain"] = rows
        art.manifest["resources"] = {**art.manifest["resources"], **res}
        how = "reused the build of" if got["cached"] else "compiled"
        art.manifest["notes"].append(
            f"p4c-bm2-ss {how} {os.path.basename(art.files['p4'])} ({got['seconds']:.1f} s of p4c): "
            f"{res['json_bytes']} bytes of bmv2 JSON, {res['keyed_tables']} match tables, {res['registers']} "
            f"register arrays, {res['primitives']} action primitives")
        with open(os.path.join(outdir, "manifest.json"), "w") as f:
            json.dump(art.manifest, f, indent=1)
        art.files["manifest"] = os.path.join(outdir, "manifest.json")
        return art

    # -- run -------------------------------------------------------------------------------------
    def ensure_artifact(self, ir: Pipeline, artifact: Artifact | None) -> Artifact:
        artifact = super().ensure_artifact(ir, artifact)
        if "json" not in artifact.files:
            raise TargetUnavailable("target bmv2: this artifact was not compiled by p4c (no NAME.json)")
        return artifact

    def load_state(self, ir: Pipeline, artifact: Artifact) -> dict:
        """The artifact's run-time state with ``ir``'s multicast groups as bound now (a node's members)."""
        with open(artifact.files["runtime"]) as f:
            state = json.load(f)
        check_switch_limits(ir)
        node = group_state(ir)
        regs = node.pop("state_registers")
        state.update(node)
        state["registers"] = [r for r in state["registers"] if not r["name"].startswith("NiccIngress.state_")] + regs
        return state

    def run(self, ir: Pipeline, frames: list[bytes], artifact: Artifact | None = None,
            timestamps: list[int] | None = None) -> list[Result]:
        self.check_available()
        artifact = self.ensure_artifact(ir, artifact)
        state = self.load_state(ir, artifact)
        control = self.control_path()
        self._tell(control)
        outs, report = run_switch(self.toolchain(), artifact.files, state, frames, control, timestamps=timestamps)
        self.last = report
        return collect_results(ir, frames, outs, mcast_ports(state)[1], sink_ports(state))

    def raw_outputs(self, ir: Pipeline, frames: list[bytes], artifact: Artifact) -> list[list[tuple[int, bytes]]]:
        """Per frame, what the switch let out, as (run port, bytes): before the host part completes anything."""
        self.check_available()
        state = self.load_state(ir, artifact)
        outs, self.last = run_switch(self.toolchain(), artifact.files, state, frames, self.control_path())
        return outs

    def run_live(self, ir: Pipeline, iface: str, mode: str = "generic", host: str | None = None, **kw) -> int:
        from .live import run_live
        self.check_available()
        artifact = self.ensure_artifact(ir, kw.pop("artifact", None))
        return run_live(self, ir, artifact, iface, host, **kw)

    def bench(self, ir: Pipeline, packets: int = 2000) -> int:
        from .bench import bench
        return bench(self, ir, packets)


def collect_results(ir: Pipeline, frames: list[bytes], outs: list[list[tuple[int, bytes]]],
                    mcast: dict[int, int], sinks: set[int] = frozenset()) -> list[Result]:
    """One Result per frame from its (run port, frame) outputs; completes the host part. A frame that
    left only on a sink port was multicast to a group without members: no frames."""
    verdicts = _port_verdicts()
    results: list[Result | None] = []
    host_part = []
    for i, o in enumerate(outs):
        ports = [p for p, _ in o]
        if not o:
            results.append(Result("drop"))
        elif ports == [HOST_PART_PORT]:
            results.append(None)
            host_part.append(i)
        elif len(o) == 1 and ports[0] in verdicts:
            v, why = verdicts[ports[0]]
            results.append(Result(v, why, [o[0][1]]))
        elif set(ports) <= set(mcast) and len({mcast[p] for p in ports}) == 1:
            results.append(Result("multicast", frames=[f for p, f in sorted(o) if p not in sinks]))
        else:
            results.append(Result("?", "unexpected ports " + ",".join(map(str, sorted(ports))),
                                  [f for _, f in o]))
    if host_part:
        for i, r in zip(host_part, host_part_results(ir, [frames[i] for i in host_part])):
            results[i] = r
    return results


__all__ = ["Bmv2Target", "collect_results", "host_part_results", "Toolchain"]

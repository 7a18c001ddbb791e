"""The bmv2 target: P4_16 for v1model, run on real bmv2 where it exists, on nicc's P4 evaluator everywhere.

``compile`` writes NAME.p4 (with ``@id``s), NAME.p4info.txtpb (P4Info built with
the ``p4runtime`` protobufs from those ids), NAME.runtime.json (register
contents, table entries, multicast groups: what the runtime pushes before the
first packet), NAME.commands.txt (the same as ``simple_switch_CLI`` commands)
and manifest.json. Ports and verdicts: see :mod:`nicc.backends.p4`.

``run`` executes on one of two backends, chosen by ``NICC_BMV2`` (or the
constructor's ``backend``):

    NICC_BMV2   real bmv2 present           real bmv2 absent
    ----------  --------------------------  ------------------------------------------
    (unset)     real bmv2                   TargetUnavailable naming what is missing
                                            (exit 3), unless evaluator fallback is
                                            allowed (``nicc test`` allows it)
    real        real bmv2                   TargetUnavailable (exit 3)
    sim         nicc's P4 evaluator         nicc's P4 evaluator

Real bmv2: ``p4c-bm2-ss`` compiles the program (once per artifact), and
``simple_switch --use-files`` runs in its own network namespace (``unshare``;
its Thrift server listens on all interfaces) with one pcap file per port; the
run-time state goes in through ``simple_switch_CLI`` (Thrift), the switch is
killed once its outputs stop growing, and outputs are mapped back to their
input frames (each port's output keeps the input order; a frame's Ethernet,
IPv4 and UDP headers identify it up to the fields a rewrite changes).

The evaluator (:mod:`nicc.runtime.p4sim`) parses and type-checks the emitted
program and runs it with v1model semantics, one frame at a time.

Either way, frames the NIC part hands to the host part (host/NIC split, see
:func:`nicc.backends.p4.partition_host_nic`) are completed here with the
reference semantics (numpy), so every output is identical to every other
target's.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from ..backends.p4 import (HOST_PART_PORT, HOST_PORT, MALFORMED_PORT, UNSELECTED_PORT, cli_commands,
                           p4info_text, render_program, runtime_state)
from ..compiler.interp import Reference, Result
from ..compiler.ir import Pipeline
from .pcap import read_pcap, write_pcap
from .target import Artifact, Target, TargetUnavailable

WIRE_PORT = 0                 # frames enter here; transmit leaves here
MCAST_BASE = 100              # multicast copies leave on MCAST_BASE + k during runs (k-th group port overall)
PORT_VERDICT = {HOST_PORT: ("pass", "selected"), MALFORMED_PORT: ("pass", "malformed"),
                UNSELECTED_PORT: ("pass", "unselected"), WIRE_PORT: ("transmit", "selected")}
P4C = ("p4c-bm2-ss", "p4c")


def _which_p4c() -> str | None:
    return next((shutil.which(c) for c in P4C if shutil.which(c)), None)


def missing_tools() -> list[str]:
    """What real bmv2 runs need and this machine lacks (empty when all is there)."""
    miss = []
    if not _which_p4c():
        miss.append("p4c (p4c-bm2-ss)")
    if not shutil.which("simple_switch"):
        miss.append("simple_switch (bmv2)")
    cli = shutil.which("simple_switch_CLI")
    if not cli:
        miss.append("simple_switch_CLI (bmv2)")
    elif subprocess.run([cli, "--help"], capture_output=True, timeout=60).returncode != 0:
        miss.append("the Python 'thrift' module for simple_switch_CLI")
    if not shutil.which("unshare"):
        miss.append("unshare (util-linux), to run the switch in its own network namespace")
    return miss


def _netns_prefix() -> list[str] | None:
    """``unshare`` arguments giving a private network namespace (None if the kernel refuses)."""
    for args in (["unshare", "-n"], ["unshare", "-rn"]) if os.geteuid() == 0 else (["unshare", "-rn"],):
        try:
            if subprocess.run(args + ["true"], capture_output=True, timeout=30).returncode == 0:
                return args
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


class Bmv2Target(Target):
    name = "bmv2"
    description = "P4_16 for v1model: real bmv2 (simple_switch) where installed, else nicc's P4 evaluator"

    def __init__(self, backend: str | None = None):
        self.backend = backend or os.environ.get("NICC_BMV2", "auto")
        if self.backend not in ("auto", "real", "sim"):
            raise TargetUnavailable(f"NICC_BMV2 must be real or sim, not '{self.backend}'")
        self.allow_evaluator_fallback = False       # nicc test sets it: test against the evaluator if no bmv2
        self.executed: str | None = None            # "bmv2" | "evaluator" after a run
        self._told = False

    # -- availability --------------------------------------------------------------------------
    def unavailable(self) -> str | None:
        if self.backend == "real":
            miss = missing_tools()
            return f"real bmv2 needs {', '.join(miss)}" if miss else None
        return None                                 # the evaluator can always run

    def executor(self) -> str:
        """Which backend ``run`` uses here: "bmv2" or "evaluator" (raises TargetUnavailable)."""
        if self.backend == "sim":
            return "evaluator"
        miss = missing_tools()
        if not miss:
            return "bmv2"
        if self.backend == "auto" and self.allow_evaluator_fallback:
            return "evaluator"
        raise TargetUnavailable(f"target bmv2 is unavailable here: missing {', '.join(miss)}; "
                                "use --sim (or NICC_BMV2=sim) to run on nicc's own P4 evaluator instead")

    def _tell(self, what: str, why: str = "") -> None:
        if not self._told:
            print(f"bmv2: running on {what}{why}", file=sys.stderr)
            self._told = True

    # -- compile -------------------------------------------------------------------------------
    def compile(self, ir: Pipeline, outdir: str) -> Artifact:
        os.makedirs(outdir, exist_ok=True)
        prog = render_program(ir)
        files = {}

        def put(role: str, fname: str, text: str) -> None:
            path = os.path.join(outdir, fname)
            with open(path, "w") as f:
                f.write(text)
            files[role] = path

        state = runtime_state(prog)
        put("p4", f"{ir.name}.p4", prog.text)
        put("p4info", f"{ir.name}.p4info.txtpb", p4info_text(prog))
        put("runtime", f"{ir.name}.runtime.json", json.dumps(state, indent=1) + "\n")
        cmds = cli_commands(state)
        put("commands", f"{ir.name}.commands.txt", "".join(c + "\n" for c in cmds))
        notes = list(prog.partition.notes) if prog.partition else []
        notes.append(f"build for bmv2: p4c-bm2-ss --p4runtime-files {ir.name}.p4info.p4c.txtpb -o {ir.name}.json "
                     f"{ir.name}.p4; then push {ir.name}.runtime.json (simple_switch_CLI < {ir.name}.commands.txt)")
        manifest = {"target": "bmv2", "pipeline": ir.name, "notes": notes,
                    "host_split": bool(prog.partition and prog.partition.split),
                    "resources": {"p4_lines": prog.text.count("\n"), "registers": len(prog.registers),
                                  "tables": len(prog.tables), "table_entries": len(state["table_entries"]),
                                  "multicast_groups": len(prog.groups)}}
        put("manifest", "manifest.json", json.dumps(manifest, indent=1) + "\n")
        return Artifact(outdir, files, manifest)

    # -- run -----------------------------------------------------------------------------------
    def run(self, ir: Pipeline, frames: list[bytes], artifact: Artifact | None = None,
            timestamps: list[int] | None = None) -> list[Result]:
        how = self.executor()
        artifact = self.ensure_artifact(ir, artifact)
        with open(artifact.files["runtime"]) as f:
            state = json.load(f)
        port_map, mcast = _mcast_ports(state)
        if how == "bmv2":
            self._tell("real bmv2 (simple_switch)")
            outs = run_simple_switch(artifact, state, port_map, frames)
        else:
            miss = missing_tools() if self.backend != "sim" else []
            self._tell("nicc's P4 evaluator (nicc.runtime.p4sim)",
                       f"; real bmv2 is missing: {', '.join(miss)}" if miss else "")
            outs = run_evaluator(artifact, state, port_map, frames)
        self.executed = how
        return collect_results(ir, frames, outs, mcast)


def _mcast_ports(state: dict) -> tuple[dict, dict]:
    """Run-time ports for multicast copies: {user port: run port} per group, and {run port: group id}."""
    port_map, mcast, k = {}, {}, 0
    for g in state["multicast"]:
        ports = []
        for p in g["ports"]:
            ports.append(MCAST_BASE + k)
            mcast[MCAST_BASE + k] = g["group"]
            k += 1
        port_map[g["group"]] = ports
    return port_map, mcast


def collect_results(ir: Pipeline, frames: list[bytes], outs: list[list[tuple[int, bytes]]],
                    mcast: dict[int, int]) -> list[Result]:
    """One Result per frame from the (port, frame) outputs of each; completes the host part."""
    results: list[Result | None] = []
    host_part = []
    for i, o in enumerate(outs):
        ports = {p for p, _ in o}
        if not o:
            results.append(Result("drop"))
        elif ports == {HOST_PART_PORT} and len(o) == 1:
            results.append(None)
            host_part.append(i)
        elif len(o) == 1 and o[0][0] in PORT_VERDICT:
            v, why = PORT_VERDICT[o[0][0]]
            results.append(Result(v, why, [o[0][1]]))
        elif ports <= set(mcast):
            results.append(Result("multicast", frames=[f for _, f in o]))
        else:
            results.append(Result("?", "unexpected ports " + ",".join(map(str, sorted(ports))),
                                  [f for _, f in o]))
    if host_part:
        done = Reference(ir).run([frames[i] for i in host_part])     # host part: stateless by construction
        for i, r in zip(host_part, done):
            results[i] = r
    return results


# ---------------------------------------------------------------------------------------------
# nicc's evaluator


def load_switch(artifact: Artifact, state: dict, port_map: dict):
    from . import p4sim
    with open(artifact.files["p4"]) as f:
        prog = p4sim.load(f.read(), filename=artifact.files["p4"])
    sw = p4sim.Switch(prog)
    for r in state["registers"]:
        for i, v in enumerate(r["values"]):
            sw.register_write(r["name"], i, v)
    for d in state["default_actions"]:
        sw.set_default(d["table"], d["action"], list(d["params"].values()))
    for e in state["table_entries"]:
        keys = [tuple(k["range"]) for k in e["match"].values()]
        sw.table_add(e["table"], e["action"], keys, list(e["params"].values()), priority=e["priority"])
    for g in state["multicast"]:
        sw.mc_group_set(g["group"], [(p, 0) for p in port_map[g["group"]]])
    return sw


def run_evaluator(artifact: Artifact, state: dict, port_map: dict, frames: list[bytes]):
    sw = load_switch(artifact, state, port_map)
    return [list(sw.process(bytes(f), WIRE_PORT)) for f in frames]


# ---------------------------------------------------------------------------------------------
# real bmv2

REWRITTEN = {16, 17, 24, 25, 38, 39, 40, 41}      # IPv4 total length and checksum, UDP length and checksum


def same_packet(inp: bytes, out: bytes) -> bool:
    """Could ``out`` be ``inp`` as the pipeline let it out (unchanged, or rewritten)?"""
    if out == inp:
        return True
    if len(inp) < 42 or len(out) < 42:
        return False
    return all(inp[i] == out[i] for i in range(42) if i not in REWRITTEN)


def match_outputs(frames: list[bytes], per_port: dict[int, list[bytes]], port_map: dict) -> list[list]:
    """Assign each port's outputs (in input order) back to input frames, greedily in order."""
    q = {p: collections.deque(fs) for p, fs in per_port.items()}
    outs = []
    singles = [UNSELECTED_PORT, MALFORMED_PORT, HOST_PART_PORT, HOST_PORT, WIRE_PORT]
    for f in frames:
        got = None
        for p in singles:
            if q.get(p) and same_packet(f, q[p][0]):
                exact = p in (UNSELECTED_PORT, MALFORMED_PORT, HOST_PART_PORT)
                if not exact or q[p][0] == f:
                    got = [(p, q[p].popleft())]
                    break
        if got is None:
            for gid, ports in port_map.items():
                if ports and all(q.get(p) and same_packet(f, q[p][0]) for p in ports):
                    got = [(p, q[p].popleft()) for p in ports]
                    break
        outs.append(got or [])
    left = sum(len(v) for v in q.values())
    if left:
        raise RuntimeError(f"bmv2 let out {left} frame(s) that match no input frame")
    return outs


SCRIPT = """\
set -u
ip link set lo up 2>/dev/null || true
simple_switch --use-files {wait} --thrift-port 9090 {ifaces} {json} > switch.log 2>&1 &
pid=$!
for i in $(seq 100); do simple_switch_CLI --thrift-port 9090 < /dev/null > /dev/null 2>&1 && break; sleep 0.2; done
simple_switch_CLI --thrift-port 9090 < commands.txt > cli.log 2>&1
echo "$(date +%s.%N)" > configured
last=-1; stable=0; t0=$(cat started)
while :; do
  now=$(date +%s.%N)
  size=$(cat p*_out.pcap 2>/dev/null | wc -c)
  if [ "$size" = "$last" ]; then stable=$((stable+1)); else stable=0; fi
  last=$size
  if awk "BEGIN{{exit !($now - $t0 > {wait} + 2)}}" && [ $stable -ge 4 ]; then break; fi
  if awk "BEGIN{{exit !($now - $t0 > {limit})}}"; then echo timeout > timedout; break; fi
  sleep 0.5
done
kill $pid; wait $pid 2>/dev/null
exit 0
"""


def compile_json(artifact: Artifact) -> str:
    """p4c's bmv2 JSON for the artifact (compiled once; p4c takes ~30 s for E1)."""
    p4 = artifact.files["p4"]
    out = p4[:-3] + ".json"
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(p4):
        return out
    p4c = _which_p4c()
    if os.path.basename(p4c) == "p4c":           # the driver: -o names a directory
        args = [p4c, "--target", "bmv2", "--arch", "v1model", "-o", os.path.dirname(os.path.abspath(p4))]
    else:
        args = [p4c, "-o", out]
    args += ["--p4runtime-files", p4[:-3] + ".p4info.p4c.txtpb", p4]
    r = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"p4c failed on {p4} (a nicc bug):\n{r.stderr[-4000:]}")
    return out


def run_simple_switch(artifact: Artifact, state: dict, port_map: dict, frames: list[bytes]):
    netns = _netns_prefix()
    if netns is None:
        raise TargetUnavailable("target bmv2 is unavailable here: cannot create a network namespace "
                                "(unshare -n / -rn) to run simple_switch in")
    js = os.path.abspath(compile_json(artifact))
    work = tempfile.mkdtemp(prefix="nicc-bmv2-")
    try:
        ports = [WIRE_PORT, HOST_PORT, HOST_PART_PORT, MALFORMED_PORT, UNSELECTED_PORT] + \
            [p for ps in port_map.values() for p in ps]
        for p in ports:
            write_pcap(os.path.join(work, f"p{p}_in.pcap"), frames if p == WIRE_PORT else [])
        cmds = cli_commands(state, None)
        # group ports become the run's own ports (MCAST_BASE + k)
        cmds = [c for c in cmds if not c.startswith("mc_")]
        for handle, (gid, ps) in enumerate(port_map.items()):
            cmds += [f"mc_mgrp_create {gid}", f"mc_node_create 0 {' '.join(map(str, ps))}",
                     f"mc_node_associate {gid} {handle}"]
        with open(os.path.join(work, "commands.txt"), "w") as f:
            f.write("\n".join(cmds) + "\n")
        wait = 5 + len(cmds) // 150
        limit = wait + 60 + len(frames) // 50
        script = SCRIPT.format(wait=wait, limit=limit, json=js,
                               ifaces=" ".join(f"-i {p}@p{p}" for p in ports))
        with open(os.path.join(work, "run.sh"), "w") as f:
            f.write(script)
        with open(os.path.join(work, "started"), "w") as f:
            f.write(f"{time.time():.6f}\n")
        proc = subprocess.Popen(netns + ["bash", "run.sh"], cwd=work, start_new_session=True)
        try:
            proc.wait(timeout=limit + 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise RuntimeError("simple_switch run did not finish")
        with open(os.path.join(work, "started")) as f:
            t0 = float(f.read())
        cfg = os.path.join(work, "configured")
        if not os.path.exists(cfg) or float(open(cfg).read()) - t0 > wait:
            raise RuntimeError(f"pushing the run-time state took longer than the switch's {wait} s start delay "
                               f"(see {work}/cli.log)")
        if os.path.exists(os.path.join(work, "timedout")):
            raise RuntimeError(f"simple_switch outputs did not settle (see {work}/switch.log)")
        per_port = {}
        for p in ports:
            path = os.path.join(work, f"p{p}_out.pcap")
            per_port[p] = [pk.data for pk in read_pcap(path)] if os.path.exists(path) else []
        outs = match_outputs(frames, per_port, port_map)
    except BaseException:
        print(f"bmv2: run directory kept for inspection: {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return outs

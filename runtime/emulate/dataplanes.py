"""The compiled data planes of an emulated tree, one per node.

    planes = DataPlanes(tree, topo, fab, workdir, slow={7}, delay_us=2000)
    planes.start()               # TC programs attached; DPDK relays running
    planes.counters()            # {node: {...}} per node
    planes.stop()                # DPDK relays stopped (their counters kept); TC detached

Every node runs its role's pipeline, compiled once per role (``nicc.runtime.tc`` and, for slowed
relays, ``nicc.runtime.dpdk``), loaded with the node's own members (``Topology.copies``: its
children in send order, then a copy to its own host on the history port) and state:

=========  ===========================  ===================================================
node       data plane                   ports of its members
=========  ===========================  ===================================================
sender     TC at eth0 **egress**        0: out of eth0; 1: into eth0 (its host's history)
proxy      TC at eth0 ingress           0: out of eth0; 1: into eth0
root       the proxy's, ``stamp_ns``    (the map pinned: the root's host writes the global OWD)
receiver   TC at eth0 ingress           (no group)
slow relay DPDK: net_af_packet on eth0   0: eth0; 1: a TAP into its own stack; every frame it sends
           (wire), net_null (host)      held --delay-us by the data plane's delay line
=========  ===========================  ===================================================

A DPDK relay reads eth0 through an AF_PACKET ring, so the kernel sees those frames too: what it
passes (control traffic) is freed on the null port rather than handed to the kernel a second time.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading

from ...compiler.topology import Topology
from ..dpdk import DpdkTarget, eal_args, groups_file, parse_json_line, remove_runtime_dir, state_args
from ..tc import Port, TcTarget
from .net import DEV, Fabric
from .protocol import HISTORY_PORT


class DataPlanes:
    def __init__(self, tree, topo: Topology, fab: Fabric, workdir: str, slow: set[int] = frozenset(),
                 delay_us: int = 2000, stamp_ns: int = 0):
        self.tree, self.topo, self.fab, self.workdir = tree, topo, fab, workdir
        self.slow, self.delay_us, self.stamp_ns = set(slow), delay_us, stamp_ns
        self.port = tree.port
        self.tc = TcTarget()
        self.arts: dict[str, object] = {}
        self.attached: dict[int, object] = {}
        self.procs: dict[int, subprocess.Popen] = {}
        self.proc_args: dict[int, list[str]] = {}
        self.proc_out: dict[int, list[str]] = {}      # each DPDK relay's stdout (its counters at exit)
        self.dpdk_counters: dict[int, dict] = {}
        self.final: dict[int, dict] | None = None     # every node's counters, once stopped
        self.root = topo.level(1)[0] if topo.depth else None
        self.stamp_map = f"/sys/fs/bpf/{fab.tag}-stamp"

    def compile(self) -> None:
        for role in ("sender", "proxy", "receiver"):
            self.arts[role] = self.tc.compile(self.tree.roles[role].trace(), os.path.join(self.workdir, role))
        if self.slow:
            t = DpdkTarget(echo=False)
            why = t.unavailable()
            if why:
                raise RuntimeError(f"a slow relay runs on DPDK, which is unavailable here: {why}")
            self.arts["dpdk"] = t.compile(self.tree.roles["proxy"].trace(), os.path.join(self.workdir, "dpdk"))

    def node_ir(self, node: int):
        state = {"stamp_ns": self.stamp_ns} if node == self.root else None
        return self.tree.node_pipeline(self.topo, node, host=(1, self.port + HISTORY_PORT), state=state)

    def start(self) -> None:
        if not self.arts:
            self.compile()
        for n in self.topo.nodes:
            if n.id in self.slow:
                self.start_dpdk(n.id)
                continue
            idx = self.fab.ifindex(n.id)
            ports = {0: Port(idx), 1: Port(idx, ingress=True)}
            direction = "egress" if n.role == "sender" else "ingress"
            self.attached[n.id] = self.tc.attach(self.node_ir(n.id), self.arts[n.role], DEV, direction, ports,
                                                 netns=self.fab.node_ns(n.id))
        if self.root is not None and self.root in self.attached:
            self.attached[self.root].pin_state("stamp_ns", self.stamp_map)

    def start_dpdk(self, node: int) -> None:
        art = self.arts["dpdk"]
        ir = self.node_ir(node)
        gpath = os.path.join(self.workdir, f"groups.{node}")
        groups_file(ir, gpath, lambda p: {0: 0, 1: 2}[p])
        mac = self.topo.nodes[node].mac
        args = [art.files["binary"], *eal_args(f"{self.fab.tag}_{node}"),
                f"--vdev=net_af_packet0,iface={DEV},blocksz=4096,framesz=2048,framecnt=2048",
                "--vdev=net_null1", f"--vdev=net_tap2,iface=h{node},mac={mac}",
                "--", "--wire", "0", "--host", "1", "--groups", gpath, "--delay-us", str(self.delay_us),
                "--idle-sleep-us", "100", *state_args(ir)]
        proc = subprocess.Popen(["ip", "netns", "exec", self.fab.node_ns(node), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.procs[node] = proc
        self.proc_args[node] = args
        seen = []
        for line in proc.stdout:                      # "relay: ready, ..." once the ports are up (PMD notes before)
            seen.append(line)
            if ": ready," in line:
                break
        else:
            proc.wait()
            raise RuntimeError(f"the DPDK relay of node {node} did not start:\n{''.join(seen)[-2000:]}")
        self.fab.neighbours(node)                     # the PMD took eth0 down and up: neighbours flushed
        out: list[str] = []
        threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
        self.proc_out[node] = out

    def counters(self) -> dict[int, dict]:
        out = {n: a.counters() for n, a in self.attached.items()}
        out.update(self.dpdk_counters)
        return out

    def stop(self) -> None:
        if self.final is not None:
            return
        for node, proc in self.procs.items():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            got = parse_json_line("".join(self.proc_out.get(node, [])))
            if got is not None:
                self.dpdk_counters[node] = {**{k: got[k] for k in ("pass", "transmit", "drop", "multicast",
                                                                    "malformed", "unselected", "unhandled")},
                                            "copies": got["ports"][0]["tx"] + got["ports"][2]["tx"],
                                            "copies_failed": got["copy_failed"], "dpdk": True}
            remove_runtime_dir(self.proc_args[node])
        self.procs = {}
        counters = {n: a.counters() for n, a in self.attached.items()}
        for a in self.attached.values():
            a.detach()
        self.attached = {}
        self.final = {**counters, **self.dpdk_counters}
        if os.path.exists(self.stamp_map):
            os.unlink(self.stamp_map)

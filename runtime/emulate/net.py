"""The emulated network: a namespace per node, one veth each into a bridge, addresses from the tree.

    with Fabric(topo, tag="nicc1234") as fab:      # everything made here carries the tag
        fab.node_ns(5)                             # "nicc1234-5": node 5's namespace, interface eth0
        fab.port(5)                                # "v5": the bridge's port towards node 5 (fabric namespace)
    assert not leftovers("nicc1234")               # torn down: no namespace, no pinned object

Every node has one interface, ``eth0``, with the tree's addresses for it (``Node.mac``,
``Node.ip`` in 10.0.0.0/8) and static neighbour entries for every other node (no ARP).
A node sends every copy out of eth0 with a different destination: per-copy header
rewrite is what makes one interface enough, as in a cloud VM. The other end of each veth,
``v<id>``, is a port of the bridge ``br0`` in the fabric namespace ``<tag>-f``; the bridge
forwards by static FDB entries only (learning, flooding of unknown unicast, multicast and
broadcast all off), so a frame reaches exactly the node it is addressed to. IPv6 is off
everywhere, so nothing but the emulation's own traffic crosses the links. A node's copy to its
own host (redirected into its own eth0) carries its own source address: ``accept_local`` is on.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess

from ...compiler.topology import Topology

DEV = "eth0"
BRIDGE = "br0"
PREFIX = 8


class NetError(RuntimeError):
    """The network could not be built (a command failed)."""


def sh(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, input=stdin)
    if check and r.returncode != 0:
        raise NetError(f"{' '.join(args[:6])}{' ...' if len(args) > 6 else ''}: {r.stderr.strip() or r.returncode}")
    return r


def batch(ns: str | None, lines: list[str], tool: str = "ip") -> None:
    """``ip -batch`` (or ``tc``/``bridge``) in namespace ``ns`` (None: the fabric-less host, unused)."""
    if not lines:
        return
    args = [tool] + (["-n", ns] if ns else []) + ["-batch", "-"]
    sh(*args, stdin="\n".join(lines) + "\n")


def namespaces(tag: str) -> list[str]:
    """The network namespaces whose name starts with ``tag-``."""
    out = sh("ip", "-j", "netns", "list", check=False).stdout.strip()
    names = [n["name"] for n in json.loads(out)] if out else []
    return sorted(n for n in names if n.startswith(f"{tag}-"))


def leftovers(tag: str) -> list[str]:
    """What a run tagged ``tag`` would have left behind: namespaces, pinned BPF objects, processes."""
    left = namespaces(tag)
    left += glob.glob(f"/sys/fs/bpf/{tag}*")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"--nicc-tag={tag} " in cmd + " " or f" {tag}-" in cmd or f"nicc_{tag}_" in cmd:
                left.append(f"process {pid}: {cmd[:80]}")
    return left


class Fabric:
    """The namespaces, links and addresses of one emulated tree (a context manager that tears it down)."""

    def __init__(self, topo: Topology, tag: str):
        self.topo, self.tag = topo, tag
        self.fabric = f"{tag}-f"
        self.made: list[str] = []

    def node_ns(self, node: int) -> str:
        return f"{self.tag}-{node}"

    def port(self, node: int) -> str:
        return f"v{node}"

    def ifindex(self, node: int) -> int:
        info = json.loads(sh("ip", "-n", self.node_ns(node), "-j", "link", "show", DEV).stdout)
        return int(info[0]["ifindex"])

    # -- build and tear down ---------------------------------------------------------------------
    def __enter__(self) -> "Fabric":
        try:
            self.build()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def _add_ns(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.made.append(name)
        # a node's copy to its own host arrives with its own source address: accept it (accept_local)
        sh("ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1", "net.ipv4.conf.all.accept_local=1",
           "net.ipv4.conf.default.accept_local=1", "net.ipv4.conf.all.rp_filter=0",
           "net.ipv4.conf.default.rp_filter=0")

    def build(self) -> None:
        topo = self.topo
        self._add_ns(self.fabric)
        fab = [f"link add {BRIDGE} type bridge", f"link set {BRIDGE} up", "link set lo up"]
        for n in topo.nodes:
            self._add_ns(self.node_ns(n.id))
            fab.append(f"link add {self.port(n.id)} type veth peer name {DEV} netns {self.node_ns(n.id)}")
            fab.append(f"link set {self.port(n.id)} master {BRIDGE}")
            fab.append(f"link set {self.port(n.id)} type bridge_slave learning off flood off mcast_flood off "
                       "bcast_flood off")
            fab.append(f"link set {self.port(n.id)} up")
        batch(self.fabric, fab)
        batch(self.fabric, [f"fdb add {n.mac} dev {self.port(n.id)} master static" for n in topo.nodes], "bridge")
        for n in topo.nodes:
            batch(self.node_ns(n.id), ["link set lo up", f"link set {DEV} address {n.mac}",
                                       f"addr add {n.ip}/{PREFIX} dev {DEV}", f"link set {DEV} up"])
            self.neighbours(n.id)

    def neighbours(self, node: int) -> None:
        """Static neighbour entries for every other node (again after something took eth0 down: a DPDK
        PMD starting on it flushes them, and ARP cannot cross a bridge that floods no broadcasts)."""
        batch(self.node_ns(node), [f"neigh replace {m.ip} lladdr {m.mac} dev {DEV} nud permanent"
                                   for m in self.topo.nodes if m.id != node])

    def teardown(self) -> None:
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made = []

    # -- counters --------------------------------------------------------------------------------
    def link_stats(self, node: int) -> dict:
        """The node's eth0 counters (packets and drops each way) as the kernel keeps them."""
        s = json.loads(sh("ip", "-n", self.node_ns(node), "-s", "-j", "link", "show", DEV).stdout)[0]["stats64"]
        return {"rx_packets": s["rx"]["packets"], "tx_packets": s["tx"]["packets"], "rx_dropped": s["rx"]["dropped"],
                "tx_dropped": s["tx"]["dropped"]}

"""Link impairment for ``nicc emulate``: a small TC program dropping frames at random, per link.

    build_loss(0.01)                       # loss.bpf.c with the threshold 0.01 * 2**32, built with clang
    attach_loss(fab, obj)                  # on the egress of every bridge port (tc, clsact, direct action)
    loss_counters(fab)                     # {node: {"passed": .., "dropped": ..}} on the link towards node

This kernel has no netem (nor fq, etf or pktgen); ``loss.bpf.c`` draws
``bpf_get_prandom_u32()`` per frame. Each frame between two nodes crosses exactly one bridge
port's egress (the one towards its destination), so the loss applies once per link crossed,
data and control traffic alike. tc (iproute2, built with libbpf) loads one copy of the program
per port, each with its own counters, read back with bpftool.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

from .net import Fabric, NetError, batch, sh

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss.bpf.c")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "nicc", "emulate")


def threshold(p: float) -> int:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"loss must be within [0, 1), got {p}")
    return min(int(round(p * 2**32)), 2**32 - 1)


def build_loss(p: float) -> str:
    """The loss program for probability ``p``, compiled once per threshold (cached by source hash)."""
    with open(SOURCE, "rb") as f:
        src = f.read()
    key = hashlib.sha256(src + str(threshold(p)).encode()).hexdigest()[:16]
    out = os.path.join(CACHE, f"loss-{key}.bpf.o")
    if not os.path.exists(out):
        os.makedirs(CACHE, exist_ok=True)
        tmp = f"{out}.{os.getpid()}"
        arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip() \
            or f"{os.uname().machine}-linux-gnu"
        r = subprocess.run(["clang", "-O2", "-g", "-target", "bpf", f"-I/usr/include/{arch}",
                            f"-DNICC_LOSS_THRESHOLD={threshold(p)}U", "-c", SOURCE, "-o", tmp],
                           capture_output=True, text=True)
        if r.returncode:
            raise NetError(f"clang could not build {SOURCE}: {r.stderr.strip()}")
        os.replace(tmp, out)
    return out


def attach_loss(fab: Fabric, obj: str) -> None:
    lines = []
    for n in fab.topo.nodes:
        lines += [f"qdisc add dev {fab.port(n.id)} clsact",
                  f"filter add dev {fab.port(n.id)} egress bpf direct-action obj {obj} sec tc"]
    batch(fab.fabric, lines, "tc")


def _prog_id(ns: str, dev: str) -> int | None:
    out = sh("tc", "-n", ns, "-j", "filter", "show", "dev", dev, "egress").stdout
    for f in json.loads(out or "[]"):
        prog = f.get("options", {}).get("prog", {})
        if "id" in prog:
            return int(prog["id"])
    return None


def loss_counters(fab: Fabric) -> dict[int, dict[str, int]]:
    """Per node: frames passed and dropped on the link towards it."""
    out = {}
    for n in fab.topo.nodes:
        pid = _prog_id(fab.fabric, fab.port(n.id))
        if pid is None:
            continue
        info = json.loads(sh("bpftool", "-j", "prog", "show", "id", str(pid)).stdout)
        vals = [0, 0]
        for mid in info.get("map_ids", []):
            m = json.loads(sh("bpftool", "-j", "map", "dump", "id", str(mid)).stdout)
            for e in m:
                if "values" in e:             # per-CPU: one value per CPU
                    k = int(e["key"]) if isinstance(e["key"], int) else int.from_bytes(bytes(
                        int(b, 16) for b in e["key"]), "little")
                    vals[k] = sum(int(v["value"]) if isinstance(v["value"], int) else int.from_bytes(
                        bytes(int(b, 16) for b in v["value"]), "little") for v in e["values"])
                elif "formatted" in e:
                    f = e["formatted"]
                    vals[int(f["key"])] = sum(int(v["value"]) for v in f["values"])
        out[n.id] = {"passed": vals[0], "dropped": vals[1]}
    return out

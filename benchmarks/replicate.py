"""DPDK replication rate on one core: copies of a message to its children, beside a copy-only floor.

    python -m nicc.benchmarks.replicate                 # make bench-replicate: table, results/replicate.json
    python -m nicc.benchmarks.replicate --seconds 2 --sizes 128 --children 10

The data plane is nicc's DPDK binary as nicc compiles it, on one lcore: frames come from a
capture replayed from memory (``net_pcap``, ``infinite_rx``), every copy leaves on a ``net_null``
port (which frees it), for ``--seconds`` of receiving; the binary counts what it sent and times its
own loop (TSC). Variants, one after another, repeated ``--rounds`` times (median reported):

- **floor**: a pipeline that multicasts every frame to a static group of ``children`` members with
  nothing rewritten: the same loop, copies only (an mbuf allocated and the frame copied into it);
- **nicc copy**: the relay below, each copy a whole-frame copy with its headers rewritten
  (destination MAC, IPv4, UDP port; source MAC, IPv4; IPv4 checksum, UDP checksum 0);
- **nicc clone**: the same, each copy a 42-byte header mbuf chained to a clone of the payload
  (``rte_pktmbuf_clone``), which pays off as frames grow.

The relay is ``examples/market.py``'s proxy without duplicate suppression (the replayed capture
repeats its message ids, which E3 would drop after the first pass): it parses the record and
multicasts to a sized group loaded with ``children`` members. Issue 12's goal: at least 5 M copies/s
out of one core for 128-byte messages to 10 children.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import nicc.dsl as nd
from ..compiler.errors import SourceLoc
from ..compiler.groups import Addr, Member, bind_groups
from ..dsl.pipeline import PipelineDef
from ..runtime.dpdk import DpdkTarget, eal_args, groups_file, parse_json_line, remove_runtime_dir
from ..runtime.packets import udp_frame
from ..runtime.pcap import write_pcap

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "replicate.json")
GOAL_PPS = 5e6
PORT = 9100


class Quote(nd.Record):
    msg_id = nd.u64
    send_ns = nd.u64
    deadline_ns = nd.u64
    flags = nd.u8
    symbol = nd.u32
    price = nd.u64
    qty = nd.u32
    body = nd.array(nd.u8, rest=True, max=1400)


def relay_ir():
    def relay(msg: Quote):
        out = nd.group("copies", max=64, rewrite="mac ip udp", source="mac ip")
        nd.drop_if((msg.flags & 1) != 0)
        return nd.multicast(out)
    return PipelineDef(relay, PORT, Quote, "relay", SourceLoc(__file__, 1)).trace()


def floor_ir(children: int):
    def floor(msg: Quote):
        return nd.multicast(nd.group("g", [1] * children))
    return PipelineDef(floor, PORT, Quote, "floor", SourceLoc(__file__, 1)).trace()


def frames(size: int, n: int = 1024) -> list[bytes]:
    rng = np.random.default_rng(0)
    body = size - 42 - 41
    return [bytes(udp_frame(int(i + 1).to_bytes(8, "big") + bytes(33) + rng.integers(0, 256, body, "u1").tobytes(),
                            PORT, rng)) for i in range(n)]


def children_of(n: int) -> tuple[list[Member], Addr]:
    return ([Member(1, Addr(f"02:6e:69:02:00:{k + 1:02x}", f"10.2.0.{k + 1}", PORT)) for k in range(n)],
            Addr("02:6e:69:01:00:01", "10.1.0.1"))


def run_once(binary: str, pcap: str, groups: str, seconds: float, clone_min: int) -> dict:
    args = [binary, *eal_args("replicate"), f"--vdev=net_pcap0,rx_pcap={pcap},infinite_rx=1", "--vdev=net_null1",
            "--", "--wire", "0", "--host", "1", "--groups", groups, "--seconds", str(seconds),
            "--clone-min", str(clone_min)]
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=120 + 10 * seconds)
    finally:
        remove_runtime_dir(args)
    got = parse_json_line(r.stdout)
    if r.returncode != 0 or got is None:
        raise RuntimeError(f"{binary} failed ({r.returncode}):\n{r.stdout[-1500:]}{r.stderr[-1500:]}")
    if got["copy_failed"]:
        raise RuntimeError(f"{got['copy_failed']} copies found no mbuf")
    copies = got["ports"][1]["tx"]
    return {"pps": copies / (got["loop_ns"] / 1e9), "messages_ps": got["multicast"] / (got["loop_ns"] / 1e9),
            "copies": copies, "loop_s": got["loop_ns"] / 1e9}


def measure(sizes, children: int, seconds: float, rounds: int, workdir: str) -> list[dict]:
    t = DpdkTarget(echo=False)
    why = t.unavailable()
    if why:
        raise SystemExit(f"dpdk unavailable: {why}")
    relay = t.compile(relay_ir(), os.path.join(workdir, "relay"))
    floor_p = floor_ir(children)
    floor = t.compile(floor_p, os.path.join(workdir, "floor"))
    members, src = children_of(children)
    g_relay, g_floor = os.path.join(workdir, "relay.groups"), os.path.join(workdir, "floor.groups")
    groups_file(bind_groups(relay_ir(), {"copies": (members, src)}), g_relay)
    groups_file(floor_p, g_floor)
    rows = []
    for size in sizes:
        pcap = os.path.join(workdir, f"in{size}.pcap")
        write_pcap(pcap, frames(size))
        variants = {"floor": (floor.files["binary"], g_floor, 1 << 30),
                    "nicc copy": (relay.files["binary"], g_relay, 1 << 30),
                    "nicc clone": (relay.files["binary"], g_relay, 0)}
        samples = {k: [] for k in variants}
        for _ in range(rounds):
            for k, (binary, groups, clone_min) in variants.items():
                samples[k].append(run_once(binary, pcap, groups, seconds, clone_min))
        for k, s in samples.items():
            pps = [x["pps"] for x in s]
            rows.append({"size": size, "children": children, "variant": k, "pps_median": statistics.median(pps),
                         "pps_min": min(pps), "pps_max": max(pps), "rounds": len(s),
                         "messages_ps_median": statistics.median(x["messages_ps"] for x in s)})
    return rows


def table(rows: list[dict]) -> str:
    out = ["| frame bytes | children | variant | copies/s out (median) | range | messages/s |",
           "|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['size']} | {r['children']} | {r['variant']} | {r['pps_median'] / 1e6:.2f} M | "
                   f"{r['pps_min'] / 1e6:.2f}-{r['pps_max'] / 1e6:.2f} M | {r['messages_ps_median'] / 1e6:.2f} M |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="128,512,1400", help="frame sizes in bytes, comma-separated")
    ap.add_argument("--children", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=RESULTS)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nicc-replicate-") as d:
        rows = measure([int(s) for s in a.sizes.split(",")], a.children, a.seconds, a.rounds, d)
    print(table(rows))
    goal = next((r for r in rows if r["size"] == 128 and r["variant"].startswith("nicc")
                 and r["children"] == 10), None)
    best = max((r for r in rows if r["size"] == 128 and r["variant"].startswith("nicc")),
               key=lambda r: r["pps_median"], default=None)
    if best is not None:
        met = best["pps_median"] >= GOAL_PPS
        print(f"\nissue 12 goal: >= {GOAL_PPS / 1e6:.0f} M copies/s of a 128-byte message to 10 children on one "
              f"core: {best['pps_median'] / 1e6:.2f} M ({best['variant']}): {'met' if met else 'NOT MET'}")
    load = os.getloadavg()
    doc = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cpus": os.cpu_count(),
           "loadavg": [round(x, 2) for x in load], "rows": rows, "goal_pps": GOAL_PPS, "goal_row": goal}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"load average at the end: {load[0]:.1f}; results in {a.out}", file=sys.stderr)
    return 0 if best is None or best["pps_median"] >= GOAL_PPS else 1


if __name__ == "__main__":
    sys.exit(main())

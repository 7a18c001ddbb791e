"""``nicc emulate``: the dissemination tree on this machine, with the real compiled data planes.

    from nicc.runtime.emulate import EmulateConfig, emulate
    out = emulate(nd.load_tree("examples/market.py"), EmulateConfig(receivers=32, hedge=2, messages=10_000,
                                                                    loss=0.01, slow_relay=1))
    out["lost"], out["duplicated"], out["out_of_order"], out["release_error_us"]

One run:

1. the tree (``tree.topology``) as network namespaces on a bridge (:mod:`.net`), 1% loss (or
   ``loss``) on every link by a TC program (:mod:`.links`);
2. every node's data plane compiled from the pipeline file and loaded with its own members and
   state (:mod:`.dataplanes`): TC on the kernel path; ``slow_relay`` proxies (level 2 and below,
   chosen by the seed) on DPDK, each frame they send held ``delay_us`` in their own data path;
3. the host side of every node (:mod:`.agent`, in ``workers`` processes): the sender's feed at
   ``rate`` messages/s, proxies' histories, repairs and OWD reports, the root's global OWD estimate
   written into its data plane, receivers' hold-and-release, in-order delivery and gap repair;
4. the run ends when every receiver's application has every message, or when deliveries make no
   progress for ``stall_s`` (then the report says what is missing); everything is torn down and
   checked to be gone (``leftovers``).

The summary (:mod:`.report`) has what ``--json`` prints, plus counters per node: data plane outcomes
and copies, link losses, agents' repairs and reports.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass

from .dataplanes import DataPlanes
from .links import attach_loss, build_loss, loss_counters
from .net import Fabric, leftovers
from .report import load_log, summarize


@dataclass
class EmulateConfig:
    receivers: int = 32
    hedge: int = 2
    messages: int = 10_000
    seed: int = 0
    loss: float = 0.01
    slow_relay: int = 0              # relays slowed by delay_us in their own (DPDK) data path
    delay_us: int = 2000
    rate: float = 500.0              # messages per second from the sender
    body: int = 32                   # message body bytes
    workers: int = 3                 # agent processes: one for the sender and proxies, the rest share the receivers
    bootstrap_us: float = 5000.0     # the global OWD the root starts with, before the first estimate
    heartbeat_us: float = 1000.0
    stall_s: float = 60.0            # no delivery progress for this long: stop and report what is missing
    realtime: bool = True            # agents at SCHED_FIFO priority 1 (release timers fire on time on a busy machine)
    keep: bool = False               # keep the work directory


class EmulateError(RuntimeError):
    pass


def _agent_spec(tree, topo, cfg: EmulateConfig, fab: Fabric, planes: DataPlanes, results: str) -> dict:
    rel, rep = tree.release, tree.repair
    root = planes.root
    sender = topo.nodes[topo.sender]
    nodes = []
    for n in topo.nodes:
        d = {"id": n.id, "role": n.role, "ns": fab.node_ns(n.id), "ip": n.ip,
             "parent_ips": [topo.nodes[p].ip for p in topo.parents(n.id)], "sender_ip": sender.ip,
             "root": n.id == root, "dpdk": n.id in planes.slow,
             "worker": 0 if n.role != "receiver" else 1 + (n.index % max(1, cfg.workers - 1))}
        if n.role == "sender":
            d["root_ip"] = topo.nodes[root].ip if root is not None else topo.nodes[topo.receivers[0]].ip
        if n.id == root:
            d["stamp_map"], d["stamp_ns"] = planes.stamp_map, planes.stamp_ns
        nodes.append(d)
    return {
        "tag": fab.tag, "port": tree.port, "nodes": nodes, "results": results, "realtime": cfg.realtime,
        "release": {"hold_us": rel.hold_us, "window_ms": rel.window_ms, "report_ms": rel.report_ms,
                    "quantile": rel.q, "history_windows": rel.history_windows,
                    "mature_ms": rel.report_ms * (topo.depth + 1) + 5},
        "repair": {"enabled": rep.enabled, "history": rep.history, "reorder_us": rep.reorder_us,
                   "timeout_us": rep.timeout_us},
        "sender": {"messages": cfg.messages, "rate": cfg.rate, "seed": cfg.seed, "body": cfg.body,
                   "heartbeat_us": cfg.heartbeat_us, "start_ms": 500},
    }


class Workers:
    """The agent processes, their status lines, and their end."""

    def __init__(self, spec_path: str, n: int, tag: str):
        self.procs = [subprocess.Popen([sys.executable, "-m", "nicc.runtime.emulate.agent", spec_path, str(w),
                                        f"--nicc-tag={tag}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, start_new_session=True) for w in range(n)]
        self.status: dict[int, dict] = {}
        self.errors: list[str] = []
        for w, p in enumerate(self.procs):
            threading.Thread(target=self._read, args=(w, p), daemon=True).start()
            threading.Thread(target=lambda p=p: self.errors.extend(p.stderr), daemon=True).start()

    def _read(self, w: int, p: subprocess.Popen) -> None:
        for line in p.stdout:
            try:
                self.status[w] = json.loads(line)
            except json.JSONDecodeError:
                self.errors.append(line)

    def delivered(self) -> dict[int, int]:
        out = {}
        for s in list(self.status.values()):
            out.update({int(k): v for k, v in s.get("delivered", {}).items()})
        return out

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def emulate(tree, cfg: EmulateConfig, progress=None) -> dict:
    """Run the tree ``tree`` (an ``nd.tree``) as ``cfg`` says; returns the summary (see the module docstring)."""
    if os.geteuid() != 0:
        raise EmulateError("nicc emulate needs root (network namespaces, BPF)")
    topo = tree.topology(receivers=cfg.receivers, hedge=cfg.hedge)
    if topo.depth == 0:
        raise EmulateError("the tree has no proxies")
    tag = f"nicc{os.getpid()}"
    proxies = [p for lvl in range(2, topo.n_levels - 1) for p in topo.level(lvl)]
    if cfg.slow_relay > len(proxies):
        raise EmulateError(f"--slow-relay {cfg.slow_relay}: the tree has {len(proxies)} relays below the root "
                           f"(a tree of {cfg.receivers} receivers has {topo.depth} proxy level(s); the root proxy "
                           "stamps the deadlines and stays on TC)")
    slow = set(random.Random(cfg.seed).sample(proxies, cfg.slow_relay))
    work = tempfile.mkdtemp(prefix=f"{tag}-emulate-")
    t0 = time.monotonic()
    out: dict = {}
    fab = Fabric(topo, tag)
    planes = None
    workers = None
    try:
        fab.build()
        if cfg.loss > 0:
            attach_loss(fab, build_loss(cfg.loss))
        planes = DataPlanes(tree, topo, fab, work, slow, cfg.delay_us,
                            stamp_ns=int((cfg.bootstrap_us + tree.release.hold_us) * 1000))
        planes.start()
        spec_path = os.path.join(work, "spec.json")
        results = os.path.join(work, "result")
        with open(spec_path, "w") as f:
            json.dump(_agent_spec(tree, topo, cfg, fab, planes, results), f)
        workers = Workers(spec_path, cfg.workers, tag)
        setup_s = time.monotonic() - t0
        want = {r: cfg.messages for r in topo.receivers}
        last_total, last_change = -1, time.monotonic()
        while True:
            time.sleep(0.2)
            if not workers.alive():
                raise EmulateError("an agent process exited:\n" + "".join(workers.errors)[-3000:])
            got = workers.delivered()
            total = sum(got.get(r, 0) for r in want)
            if progress is not None:
                progress(total, cfg.messages * len(want))
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            if all(got.get(r, 0) >= n for r, n in want.items()):
                break
            if time.monotonic() - last_change > cfg.stall_s:
                break
        run_s = time.monotonic() - t0 - setup_s
        workers.stop()
        planes.stop()
        links = loss_counters(fab) if cfg.loss > 0 else {}
        logs, agents, cpu = {}, {}, []
        for w in range(cfg.workers):
            base = f"{results}.{w}"
            if os.path.exists(base + ".json"):
                with open(base + ".json") as f:
                    doc = json.load(f)
                agents.update({int(k): v for k, v in doc["nodes"].items()})
                cpu.append(doc.get("cpu_s"))
        for r in topo.receivers:
            w = 1 + (topo.nodes[r].index % max(1, cfg.workers - 1))
            logs[r] = load_log(f"{results}.{w}.{r}")
        out = summarize(logs, cfg.messages)
        out.update(hedge=cfg.hedge, loss=cfg.loss, seed=cfg.seed, rate=cfg.rate, slow_relays=sorted(slow),
                   delay_us=cfg.delay_us, proxies=topo.count("proxy"), depth=topo.depth,
                   setup_s=round(setup_s, 1), run_s=round(run_s, 1), agent_cpu_s=cpu,
                   global_owd_us=round((agents.get(planes.root, {}).get("stamp_ns", 0) / 1000
                                        - tree.release.hold_us), 1),
                   repairs=sum(a.get("repair_requests", 0) for a in agents.values()),
                   repaired=sum(a.get("repaired", 0) for a in agents.values()),
                   link_frames=sum(c["passed"] + c["dropped"] for c in links.values()),
                   link_dropped=sum(c["dropped"] for c in links.values()),
                   nodes={n.id: {"role": n.role, "dataplane": planes.final.get(n.id, {}),
                                 "agent": agents.get(n.id, {}), "link_in": links.get(n.id, {})}
                          for n in topo.nodes})
        return out
    finally:
        if workers is not None:
            workers.stop()
        if planes is not None:
            try:
                planes.stop()
            except Exception:                   # noqa: BLE001  (teardown goes on)
                pass
        fab.teardown()
        left = leftovers(tag)
        if out:
            out["leftovers"] = left
        if not cfg.keep:
            shutil.rmtree(work, ignore_errors=True)


__all__ = ["EmulateConfig", "EmulateError", "emulate", "asdict"]

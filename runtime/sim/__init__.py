"""``nicc sim``: a discrete-event simulation of a dissemination tree against direct unicast.

    from nicc.runtime.sim import LatencyModel, SimConfig, compare
    out = compare(tree_spec, release, repair, LatencyModel(), SimConfig(messages=2000), hedges=(0, 1, 2))
    out["runs"][2]["pf"]          # P(F) with hedge 2;  out["baseline"]: direct unicast

One run: the data plane (``network``: first arrival of every message at every node),
repair (``repair``), the OWD control loop that stamps deadlines (``control``), and the
receivers' applications (``deliver``). The message stream (Poisson, ``SimConfig.rate``)
is the same for every configuration of one seed; each configuration draws its own
delays from a generator seeded by (seed, configuration).
"""
from __future__ import annotations

import time

import numpy as np

from ...compiler.dissem import ReleasePolicy, RepairPolicy
from ...compiler.topology import Topology, TreeSpec, build_topology, unicast_topology
from .control import stamp_deadlines, stamp_node
from .deliver import deliver
from .model import COPIES_PER_CORE_PER_S, LatencyModel, SimConfig
from .network import max_copies_per_node, propagate
from .repair import repair_all

__all__ = ["LatencyModel", "SimConfig", "compare", "simulate", "send_times"]

HEARTBEAT_US = 1000.0


def send_times(cfg: SimConfig) -> np.ndarray:
    """Send times (us) of the data messages, then of the trailing heartbeats."""
    rng = np.random.default_rng([cfg.seed, 0x5E9D])
    s = np.cumsum(rng.exponential(1e6 / cfg.rate, cfg.messages))
    hb = s[-1] + HEARTBEAT_US * np.arange(1, cfg.heartbeats + 1)
    return np.concatenate([s, hb])


def _q(a: np.ndarray) -> dict:
    a = a[~np.isnan(a)]
    if not len(a):
        return {"p50": None, "p99": None}
    p50, p99 = np.percentile(a, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2)}


def simulate(topo: Topology, release: ReleasePolicy, repair: RepairPolicy, model: LatencyModel,
             cfg: SimConfig, tag: int, keep_arrays: bool = False) -> dict:
    """One configuration; returns the JSON-ready summary (and per-message arrays under ``_arrays``)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng([cfg.seed, tag])
    send = send_times(cfg)
    n_data = cfg.messages
    offsets = model.clocks(rng, len(topo.nodes))
    arr = propagate(topo, model, len(send), rng)
    have, rstats = repair_all(topo, arr.first, send, n_data, repair, model, rng)
    rcv_first, rcv_have = arr.first[-1], have[-1]
    top = stamp_node(topo, release)
    dl = stamp_deadlines(topo, rcv_first, send, n_data, offsets, have[topo.nodes[top].level][:, 0], release,
                         model, cfg, rng)
    repaired = None if cfg.dedup else (rcv_have < rcv_first).astype(np.int64)
    d = deliver(rcv_have, arr.copies, repaired, send, n_data, dl.deadline, offsets[list(topo.receivers)],
                cfg.dedup)
    steady = ~dl.warmup
    hold_added = d.release_latency - d.oml
    peak = max_copies_per_node(topo) * cfg.rate
    out = {
        "topology": "tree" if topo.depth else "unicast",
        "receivers": topo.spec.receivers,
        "hedge": topo.hedge if topo.depth else None,
        "messages": n_data,
        "oml_us": _q(d.oml[steady]),
        "window_us": _q(d.window[steady]),
        "released_window_us": _q(d.released_window[steady]),
        "pf": round(float(d.fair[steady].mean()), 5) if steady.any() else None,
        "release_latency_us": _q(d.release_latency[steady]),
        "lost": d.lost,
        "duplicated": d.duplicated,
        "hold_added_us": _q(hold_added[steady]),
        "proxies": topo.count("proxy"),
        "depth": topo.depth,
        "fanout": topo.fanout if topo.depth else None,
        "receiver_copies": len(topo.parents(topo.receivers[0])),
        "estimator": release.estimator,
        "stamp": "root" if top != topo.sender else "sender",
        "global_owd_us": round(float(dl.est_values[-1]), 2) if len(dl.est_values) else None,
        "warmup_messages": int(dl.warmup.sum()),
        "repair": {"requests": rstats.requests, "repaired": rstats.repaired, "from_sender": rstats.from_sender,
                   "refused": rstats.refused, "unrecovered": rstats.unrecovered} if repair.enabled else None,
        "copies_sent": arr.copies_sent,
        "reports_sent": dl.reports,
        "peak_copies_per_node_per_s": round(peak),
        "over_capacity": bool(peak > COPIES_PER_CORE_PER_S),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if keep_arrays:
        out["_arrays"] = {"oml": d.oml[steady], "window": d.window[steady],
                          "released_window": d.released_window[steady],
                          "release_latency": d.release_latency[steady]}
    return out


def compare(spec: TreeSpec, release: ReleasePolicy, repair: RepairPolicy, model: LatencyModel, cfg: SimConfig,
            hedges=(0, 1, 2), keep_arrays: bool = False) -> dict:
    """Direct unicast and the tree with each hedge in ``hedges``, on the same message stream."""
    base = simulate(unicast_topology(spec), release, repair, model, cfg, tag=0, keep_arrays=keep_arrays)
    runs = {h: simulate(build_topology(spec.with_(hedge=h)), release, repair, model, cfg, tag=1 + h,
                        keep_arrays=keep_arrays) for h in hedges}
    return {"baseline": base, "runs": runs}

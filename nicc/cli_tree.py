"""``nicc sim`` and ``nicc emulate``: the dissemination tree of a market-data pipeline, simulated at any
size (:mod:`nicc.runtime.sim`) or emulated on this machine with real data planes
(:mod:`nicc.runtime.emulate`). Their arguments are declared in :func:`nicc.cli.parser`.
"""
from __future__ import annotations

import json
import os
import sys

from nicc.usage import UsageError

def cmd_sim(a) -> int:
    from nicc.dsl import load_tree
    from nicc.compiler.dissem import ReleasePolicy, RepairPolicy
    from nicc.runtime.sim import LatencyModel, SimConfig, compare
    from nicc.runtime.sim.report import json_lines, plot, table
    if not os.path.isfile(a.pipeline):
        raise UsageError(f"cannot read pipeline file '{a.pipeline}'")
    try:
        hedges = sorted({int(h) for h in a.hedge.split(",")}) if a.hedge is not None else [0, 1, 2]
    except ValueError:
        raise UsageError(f"--hedge takes hedges separated by commas (e.g. 0,1,2), got '{a.hedge}'") from None
    if any(h < 0 for h in hedges) or (a.receivers is not None and a.receivers < 1):
        raise UsageError("--receivers must be at least 1 and --hedge values 0 or more")
    tree = load_tree(a.pipeline)
    spec = tree.spec.with_(receivers=a.receivers)
    r = tree.release
    release = ReleasePolicy(hold_us=r.hold_us if a.hold_us is None else a.hold_us, window_ms=r.window_ms,
                            report_ms=r.report_ms, estimator=a.estimator or r.estimator,
                            quantile=a.quantile if a.quantile is not None else
                            (r.quantile if not a.estimator or a.estimator == r.estimator else None),
                            history_windows=r.history_windows, stamp=a.stamp or r.stamp)
    repair = tree.repair if not a.no_repair else RepairPolicy(enabled=False)
    try:
        model = LatencyModel(**{k: v for k, v in vars(a).items() if k in SIM_MODEL_FLAGS and v is not None})
        cfg = SimConfig(messages=a.messages, rate=a.rate, seed=a.seed, dedup=not a.no_dedup)
    except ValueError as e:
        raise UsageError(str(e)) from None
    result = compare(spec, release, repair, model, cfg, hedges=hedges, keep_arrays=bool(a.plot))
    if a.json:
        print("\n".join(json_lines(result)))
    else:
        t = tree.topology(receivers=spec.receivers)
        summary = (f"{spec.receivers} receivers: {t.count('proxy')} proxies in {t.depth} levels "
                   f"{[t.width(lvl) for lvl in range(1, t.n_levels - 1)]}, fan-out {t.fanout}; "
                   f"hedge {', '.join(map(str, hedges))} against direct unicast")
        print(table(result, summary, release, repair, model, cfg))
    sys.stdout.flush()
    if a.plot:
        plot(result, a.plot, f"{os.path.basename(a.pipeline)}: N = {spec.receivers}, {cfg.messages} messages, "
                             f"seed {cfg.seed}")
        print(f"wrote {a.plot}", file=sys.stderr)
    return 0


def cmd_emulate(a) -> int:
    from nicc.dsl import load_tree
    from nicc.runtime.emulate import EmulateConfig, EmulateError, emulate
    from nicc.runtime.target import TargetUnavailable
    if not os.path.isfile(a.pipeline):
        raise UsageError(f"cannot read pipeline file '{a.pipeline}'")
    if a.receivers < 1 or a.hedge < 0 or a.messages < 1 or not 0 <= a.loss < 1 or a.slow_relay < 0 or a.rate <= 0:
        raise UsageError("--receivers and --messages must be at least 1, --hedge and --slow-relay 0 or more, "
                         "--loss within [0, 1), --rate positive")
    tree = load_tree(a.pipeline)
    cfg = EmulateConfig(receivers=a.receivers, hedge=a.hedge, messages=a.messages, seed=a.seed, loss=a.loss,
                        slow_relay=a.slow_relay, delay_us=a.delay_us, rate=a.rate, workers=a.workers,
                        stall_s=a.stall_s)

    def progress(done, total):
        if not a.json and sys.stderr.isatty():
            print(f"\r{done}/{total} deliveries", end="", file=sys.stderr, flush=True)
    try:
        out = emulate(tree, cfg, progress)
    except EmulateError as e:
        raise TargetUnavailable(str(e)) from None
    if a.json:
        keys = ("receivers", "messages", "delivered", "lost", "duplicated", "out_of_order", "release_error_us",
                "late", "release_spread_us", "global_owd_us", "hedge", "loss", "seed", "rate", "slow_relays", "delay_us",
                "proxies", "depth",
                "repairs", "repaired", "link_frames", "link_dropped", "setup_s", "run_s", "leftovers")
        doc = {k: out[k] for k in keys}
        if a.nodes:
            doc["nodes"] = out["nodes"]
        print(json.dumps(doc))
    else:
        print(emulate_table(out))
    ok = not (out["lost"] or out["duplicated"] or out["out_of_order"] or out["leftovers"])
    return 0 if ok else 1


def emulate_table(out: dict) -> str:
    e, s = out["release_error_us"], out["release_spread_us"]
    lines = [f"{out['receivers']} receivers, {out['proxies']} proxies in {out['depth']} levels, hedge {out['hedge']}; "
             f"{out['messages']} messages at {out['rate']:g}/s; loss {out['loss']:g} per link "
             f"({out['link_dropped']} of {out['link_frames']} frames dropped); slow relays {out['slow_relays']} "
             f"(+{out['delay_us']} us)",
             f"delivered {out['delivered']}, lost {out['lost']}, duplicated {out['duplicated']}, "
             f"out of order {out['out_of_order']}; repairs requested {out['repairs']}, repaired {out['repaired']}",
             f"release after due time: p50 {e['p50']} us, p99 {e['p99']} us, max {e['max']} us; "
             f"{out['late']} deliveries arrived after their deadline",
             f"release window across receivers (messages all held in time): p50 {s['p50']} us, p99 {s['p99']} us",
             f"setup {out['setup_s']} s, run {out['run_s']} s; left behind: {out['leftovers'] or 'nothing'}",
             "", f"{'node':>5} {'role':<9} {'outcomes (data plane)':<52} {'copies':>7} {'agent'}"]
    for n, d in out["nodes"].items():
        dp = d["dataplane"]
        oc = " ".join(f"{k} {dp[k]}" for k in ("pass", "drop", "multicast", "unselected") if dp.get(k))
        lines.append(f"{n:>5} {d['role']:<9} {oc:<52} {dp.get('copies', 0):>7} "
                     f"{' '.join(f'{k} {v}' for k, v in d['agent'].items())}{'  (DPDK, slowed)' if dp.get('dpdk') else ''}")
    return "\n".join(lines)


SIM_MODEL_FLAGS = ("hop_us", "hop_sd_us", "child_us", "child_sd_us", "burst", "tail_prob", "tail_us",
                   "clock_sd_us", "loss")

"""What ``nicc sim`` prints: a table, JSON lines with the issue's keys, and a figure of window CDFs."""
from __future__ import annotations

import json

import numpy as np

from ...compiler.dissem import ReleasePolicy, RepairPolicy
from .model import LatencyModel, SimConfig

JSON_KEYS = ("receivers", "hedge", "messages", "oml_us", "window_us", "released_window_us", "pf",
             "release_latency_us", "lost", "duplicated")


def json_lines(result: dict) -> list[str]:
    """One JSON object per tree configuration, the unicast baseline under ``baseline``."""
    base = {k: result["baseline"][k] for k in JSON_KEYS}
    return [json.dumps({**{k: r[k] for k in JSON_KEYS}, "baseline": base}) for r in result["runs"].values()]


def _p(d: dict, k: str) -> str:
    v = d[k]
    return "-" if v is None else f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}"


def table(result: dict, summary: str, release: ReleasePolicy, repair: RepairPolicy, model: LatencyModel,
          cfg: SimConfig) -> str:
    m = model
    lines = [
        summary,
        f"messages: {cfg.messages} at {cfg.rate:g}/s (Poisson), seed {cfg.seed}",
        f"model: hop {m.hop_us:g}±{m.hop_sd_us:g} us, tail {m.tail_prob:g} x +Exp({m.tail_us:g} us); "
        f"+{m.child_us:g}±{m.child_sd_us:g} us per extra copy, bursts of {m.burst}; clocks ±{m.clock_sd_us:g} us; "
        f"loss {m.loss:g}",
        f"hold-and-release: estimator {release.estimator} (q={release.q:g}, {release.window_ms:g} ms windows, "
        f"reports every {release.report_ms:g} ms), hold {release.hold_us:g} us, stamped at the "
        f"{'root proxy' if release.stamp == 'root' else 'sender'}; repair "
        + (f"on (history {repair.history})" if repair.enabled else "off"),
        "",
        f"{'':10}{'OML us':^14}{'window us':^14}{'released us':^14}{'P(F)':>8}{'release us':^14}"
        f"{'hold+ us':>10}{'lost':>8}{'dup':>8}",
        f"{'':10}" + f"{'p50':>7}{'p99':>7}" * 3 + f"{'':>8}" + f"{'p50':>7}{'p99':>7}" + f"{'p50':>10}",
    ]
    rows = [("unicast", result["baseline"])] + [(f"tree H={h}", r) for h, r in result["runs"].items()]
    for name, r in rows:
        pf = "-" if r["pf"] is None else f"{100 * r['pf']:.2f}%"
        lines.append(f"{name:10}" + "".join(f"{_p(r[k], 'p50'):>7}{_p(r[k], 'p99'):>7}" for k in
                                            ("oml_us", "window_us", "released_window_us"))
                     + f"{pf:>8}{_p(r['release_latency_us'], 'p50'):>7}{_p(r['release_latency_us'], 'p99'):>7}"
                     + f"{_p(r['hold_added_us'], 'p50'):>10}{r['lost']:>8}{r['duplicated']:>8}")
    lines.append("")
    warm = max(r["warmup_messages"] for _, r in rows)
    lines.append(f"statistics over messages stamped after the first OWD estimate (warm-up: up to {warm} "
                 "messages); lost/dup over all of them")
    for name, r in rows:
        if r["repair"] and r["repair"]["requests"]:
            rp = r["repair"]
            lines.append(f"{name}: repair {rp['requests']} requests, {rp['repaired']} repaired "
                         f"({rp['from_sender']} by the sender), {rp['unrecovered']} unrecovered")
        if r["hedge"] is not None and r["receiver_copies"] < r["hedge"] + 1:
            lines.append(f"{name}: note: receivers get {r['receiver_copies']} copies, not {r['hedge'] + 1}: the level "
                         "above them has too few proxies to hedge")
        if r["over_capacity"]:
            lines.append(f"{name}: note: a node would send {r['peak_copies_per_node_per_s']:,} copies/s, more than "
                         "one DPDK core (~1.05 M/s); the model has no queueing, so these latencies are optimistic")
    return "\n".join(lines)


def plot(result: dict, path: str, title: str) -> None:
    """Jasper-style CDFs: delivery window without and with hold-and-release, and OML vs release latency."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [("unicast", result["baseline"])] + [(f"H={h}", r) for h, r in result["runs"].items()]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, r in rows:
        a = r["_arrays"]
        for ax, key in ((axes[0], "window"), (axes[1], "released_window")):
            v = np.sort(a[key][~np.isnan(a[key])])
            if len(v):
                ax.plot(v, np.arange(1, len(v) + 1) / len(v), label=name)
        v = np.sort(a["oml"][~np.isnan(a["oml"])])
        line, = axes[2].plot(v, np.arange(1, len(v) + 1) / len(v), label=f"{name} OML")
        w = np.sort(a["release_latency"][~np.isnan(a["release_latency"])])
        axes[2].plot(w, np.arange(1, len(w) + 1) / len(w), ls="--", color=line.get_color(),
                     label=f"{name} released")
    axes[0].set(xlabel="delivery window without hold (us)", ylabel="CDF of messages", xscale="log")
    axes[1].set(xlabel="delivery window after hold-and-release (us)", xscale="symlog")
    axes[2].set(xlabel="latency (us): slowest receiver's arrival, and release", xscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

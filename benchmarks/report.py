"""What a benchmark run prints and writes: a table, the issue's goals, JSON, markdown, a bar chart.

    print(table(results))
    write(results, "benchmarks/results")     # bench.json, bench.md, bench.png
"""
from __future__ import annotations

import json
import os

LABELS = {"normalize": "E1 normalize", "criteo": "E2 criteo", "dedup": "E3 dedup", "resize": "E4 resize",
          "tokenize": "E5 tokenize"}
VARIANT_ORDER = ("floor", "nicc", "hand", "nicc@2", "hand@2", "torch", "numpy+zlib", "cv2", "tokenizers", "interpreter")
VARIANT_NAMES = {"floor": "floor", "nicc": "nicc", "hand": "hand-written", "interpreter": "interpreter",
                 "nicc@2": "nicc, 2 cores", "hand@2": "hand, 2 cores"}
COLORS = {"floor": "#9e9e9e", "nicc": "#1f77b4", "hand": "#ff7f0e", "torch": "#2ca02c", "numpy+zlib": "#2ca02c",
          "cv2": "#2ca02c", "tokenizers": "#2ca02c",
          "interpreter": "#d62728", "nicc@2": "#aec7e8", "hand@2": "#ffbb78"}


def _variants(row: dict) -> list[tuple[str, dict]]:
    vs = row["variants"]
    return sorted(vs.items(), key=lambda kv: VARIANT_ORDER.index(kv[0]) if kv[0] in VARIANT_ORDER else 99)


def _row(results: dict, example: str, target: str, kind: str) -> dict | None:
    return next((r for r in results["rows"] if (r["example"], r["target"], r["set"]) == (example, target, kind)), None)


def _ns(results: dict, example: str, target: str, kind: str, variant: str) -> float | None:
    r = _row(results, example, target, kind)
    v = r and r["variants"].get(variant)
    return v["median_ns"] if v else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


# The goals of issue 9, on fully processed frames: (what, value, goal, "<=" or ">=", unit); goal None:
# reported beside them, not a goal.
def goals(results: dict) -> list[tuple[str, float | None, float | None, str, str]]:
    ns = lambda ex, t, v: _ns(results, ex, t, "full", v)          # noqa: E731
    interp = lambda ex, v="interpreter, columnar": (1e9 / ns(ex, "host", v)) if ns(ex, "host", v) else None  # noqa: E731
    return [
        ("E2 on xdp, nicc / hand-written", _ratio(ns("criteo", "xdp", "nicc"), ns("criteo", "xdp", "hand")), 1.0, "<=", "x"),
        ("E2 on dpdk, nicc / hand-written", _ratio(ns("criteo", "dpdk", "nicc"), ns("criteo", "dpdk", "hand")), 0.5, "<=", "x"),
        ("E1 on dpdk, nicc / hand-written", _ratio(ns("normalize", "dpdk", "nicc"), ns("normalize", "dpdk", "hand")), 0.5,
         "<=", "x"),
        ("E1 on dpdk, torch (one core) / nicc", _ratio(ns("normalize", "host", "torch"), ns("normalize", "dpdk", "nicc")),
         3.0, ">=", "x"),
        ("E2 on dpdk, 2 cores / 1 core, packets/s", _ratio(ns("criteo", "dpdk", "nicc"), ns("criteo", "dpdk", "nicc@2")),
         None, "", "x"),
        ("E1 on dpdk, 2 cores / 1 core, packets/s", _ratio(ns("normalize", "dpdk", "nicc"),
                                                             ns("normalize", "dpdk", "nicc@2")), None, "", "x"),
        ("E2 interpreter (columnar), packets/s", interp("criteo"), 1e6, ">=", "pps"),
        ("E1 interpreter (240 px, columnar), packets/s", interp("normalize"), 2e5, ">=", "pps"),
        ("E2 interpreter (Result objects), packets/s", interp("criteo", "interpreter"), None, "", "pps"),
        ("E1 interpreter (Result objects), packets/s", interp("normalize", "interpreter"), None, "", "pps"),
        ("E4 on dpdk, cv2.resize (one core) / nicc", _ratio(ns("resize", "host", "cv2"), ns("resize", "dpdk", "nicc")),
         3.0, ">=", "x"),
        ("E5 on dpdk, HF tokenizers (one core) / nicc", _ratio(ns("tokenize", "host", "tokenizers"),
                                                              ns("tokenize", "dpdk", "nicc")), 3.0, ">=", "x"),
        ("E4 on xdp, cv2.resize (one core) / nicc", _ratio(ns("resize", "host", "cv2"), ns("resize", "xdp", "nicc")),
         None, "", "x"),
        ("E5 on xdp, HF tokenizers (one core) / nicc", _ratio(ns("tokenize", "host", "tokenizers"),
                                                             ns("tokenize", "xdp", "nicc")), None, "", "x"),
    ]


def _fmt_goal(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if unit == "pps" else f"{value:.2f}x"


def _exact(v: dict) -> str:
    if "exact" not in v:
        return ""
    return "yes" if v["exact"] else f"NO ({v['mismatches']} frames differ)"


def _header(results: dict) -> list[str]:
    m = results["machine"]
    la = ", ".join(f"{x:.1f}" for x in m["load_average"])
    return [f"nicc bench, {results['date']}: {m['cpu']}, {m['cpus']} CPUs, Linux {m['kernel']}, "
            f"load average {la} at the start; nicc {m['nicc_commit']}; gcc {m['gcc']}, {m['clang']}, DPDK {m['dpdk']}"]


def table(results: dict) -> str:
    out = _header(results)
    measured = {r["target"] for r in results["rows"]}
    out += [f"  {target}: {how}" for target, how in results["methods"].items() if target in measured]
    head = f"  {'target':7}{'frames':7}{'variant':14}{'ns/packet':>11}{'p25-p75':>19}{'Mpps':>8}{'- floor':>9}" \
           f"{'vs hand':>9}  exact"
    for ex in dict.fromkeys(r["example"] for r in results["rows"]):
        out += ["", f"{LABELS.get(ex, ex)}", head]
        for r in (r for r in results["rows"] if r["example"] == ex):
            vs = r["variants"]
            floor, hand = vs.get("floor", {}).get("median_ns"), vs.get("hand", {}).get("median_ns")
            mix = ", ".join(f"{k} {n}" for k, n in sorted(r["outcomes"].items()))
            out.append(f"  {r['target']:7}{r['set']:7}({r['packets']} frames: {mix})")
            for name, v in _variants(r):
                cores = "@" in name
                base = vs.get("hand@" + name.split("@")[1], {}).get("median_ns") if cores else hand
                over = f"{v['median_ns'] - floor:9.1f}" if floor and name != "floor" and not cores else " " * 9
                rel = f"{v['median_ns'] / base:8.2f}x" if base and name != "floor" else " " * 9
                spread = f"{v['p25_ns']:.1f}-{v['p75_ns']:.1f}"
                out.append(f"  {'':14}{VARIANT_NAMES.get(name, name):14}{v['median_ns']:11.1f}{spread:>19}"
                           f"{v['pps'] / 1e6:8.3f}{over}{rel}  {_exact(v)}")
    measured = [g for g in goals(results) if g[1] is not None]
    out += ["", "issue 9 and 10 goals (fully processed frames):"] if measured else []
    for what, value, goal, op, unit in measured:
        if goal is None:                 # measured, not a goal of the issue
            out.append(f"  {what:40}{_fmt_goal(value, unit):>12}")
            continue
        met = "n/a" if value is None else ("met" if (value <= goal if op == "<=" else value >= goal) else "not met")
        out.append(f"  {what:40}{_fmt_goal(value, unit):>12}   goal {op} {_fmt_goal(goal, unit):>10}   {met}")
    out += [f"note: {n}" for n in results["notes"]]
    return "\n".join(out)


def markdown(results: dict) -> str:
    """The README's table: one line per example, target and frame set."""
    lines = [f"_{_header(results)[0]}._", "",
             "| example | target | frames | floor | nicc | hand-written | nicc / hand | nicc, 2 cores | host library "
             "| interpreter (Results; columnar) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(v: dict | None) -> str:
        if not v:
            return ""
        flag = "" if v.get("exact", True) else " (not exact)"
        return f"{v['median_ns']:,.0f} ns ({v['pps'] / 1e6:.2f} Mpps){flag}"
    for r in results["rows"]:
        vs = r["variants"]
        if r["target"] == "host":
            lib = next((k for k in vs if not k.startswith("interpreter")), None)
            interp = "; ".join(c for c in (cell(vs.get("interpreter")), cell(vs.get("interpreter, columnar"))) if c)
            lines.append(f"| {LABELS.get(r['example'], r['example'])} | host, one core | {r['set']} | | | | | | "
                         f"{(lib + ': ' + cell(vs[lib])) if lib else ''} | {interp} |")
            continue
        rel = _ratio(vs.get("nicc", {}).get("median_ns"), vs.get("hand", {}).get("median_ns"))
        lines.append(f"| {LABELS.get(r['example'], r['example'])} | {r['target']} | {r['set']} | {cell(vs.get('floor'))} | "
                     f"{cell(vs.get('nicc'))} | {cell(vs.get('hand'))} | {f'{rel:.2f}x' if rel else ''} | "
                     f"{cell(vs.get('nicc@2'))} | | |")
    measured = [g for g in goals(results) if g[1] is not None]
    lines += ["", "Goals of issues 9 and 10 (fully processed frames):", ""] if measured else []
    for what, value, goal, op, unit in measured:
        if goal is None:
            lines.append(f"- {what}: {_fmt_goal(value, unit)}")
            continue
        met = "n/a" if value is None else ("met" if (value <= goal if op == "<=" else value >= goal) else "not met")
        lines.append(f"- {what}: {_fmt_goal(value, unit)} (goal {op} {_fmt_goal(goal, unit)}): {met}")
    return "\n".join(lines) + "\n"


def chart(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    examples = list(dict.fromkeys(r["example"] for r in results["rows"]))
    fig, axes = plt.subplots(len(examples), 1, figsize=(11, 3.6 * len(examples)), squeeze=False)
    for ax, ex in zip(axes[:, 0], examples):
        rows = [r for r in results["rows"] if r["example"] == ex]
        seen = set()
        width = 0.8 / max(len(r["variants"]) for r in rows)
        for gi, r in enumerate(rows):
            vs = _variants(r)
            for vi, (name, v) in enumerate(vs):
                x = gi + width * (vi - (len(vs) - 1) / 2)
                label = VARIANT_NAMES.get(name, name) if name not in seen else None
                seen.add(name)
                ax.bar(x, v["median_ns"], width, color=COLORS.get(name, "#8c564b"), label=label,
                       yerr=[[v["median_ns"] - v["p25_ns"]], [v["p75_ns"] - v["median_ns"]]], capsize=2,
                       hatch="" if v.get("exact", True) else "xx")
                ax.text(x, v["p75_ns"] * 1.15, f"{v['median_ns']:,.0f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{r['target']}\n{r['set']}" for r in rows])
        ax.set_yscale("log")
        ax.set_ylabel("ns/packet (log)")
        ax.set_title(f"{LABELS.get(ex, ex)}: median ns per packet, one core; '2 cores': 1e9 / packets per second "
                     f"of two (whiskers: 25th-75th percentile; hatched: output not exact)", fontsize=9)
        ax.legend(fontsize=7, ncol=6, loc="upper left")
        ax.margins(y=0.25)
    fig.suptitle(_header(results)[0], fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict, outdir: str) -> dict[str, str]:
    os.makedirs(outdir, exist_ok=True)
    paths = {k: os.path.join(outdir, f"bench.{k}") for k in ("json", "md", "png")}
    with open(paths["json"], "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    with open(paths["md"], "w") as f:
        f.write(markdown(results))
    chart(results, paths["png"])
    return paths

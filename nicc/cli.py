"""``nicc``: compile packet pipelines written in Python to NIC targets.

Exit status: 0 success, 1 error in the pipeline or a failed check,
2 bad usage (unknown target, unreadable file), 3 target unavailable here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

EXAMPLES = """\
examples:
  nicc ir examples/dedup.py                       print the typed IR
  nicc compile examples/criteo.py --target xdp -o out/criteo
  nicc run examples/normalize.py --target interp --pcap-in in.pcap --pcap-out out.pcap
  nicc test examples/dedup.py --target xdp --count 2000
  nicc bench examples/criteo.py --target dpdk
  nicc targets                                    which targets work on this machine

A PIPELINE is a Python file with one @nd.pipeline function (FILE:NAME picks one of several).
"""


class UsageError(Exception):
    pass


def _load(spec: str):
    from nicc.dsl import load
    from nicc.compiler.passes import run_passes
    path, _, name = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
    if not os.path.isfile(path):
        raise UsageError(f"cannot read pipeline file '{path}'")
    return run_passes(load(path, name or None).trace(), print_after=_load.print_after)


_load.print_after = None


def print_after(names: list[str] | None) -> set[str] | None:
    """The passes named by --print-ir-after, checked against the pass list."""
    if not names:
        return None
    from nicc.compiler.passes import PASSES
    valid = [fn.__name__ for fn in PASSES] + ["all"]
    bad = [n for n in names if n not in valid]
    if bad:
        raise UsageError(f"--print-ir-after: unknown pass '{bad[0]}'; the passes are: {', '.join(valid)}")
    return set(names)


def _target(name: str):
    from nicc.runtime.target import get_target
    try:
        return get_target(name)
    except KeyError:
        raise UsageError(f"unknown target '{name}'") from None


def output_file(path: str, flag: str) -> str:
    """Refuse, before any work, an output file nicc could not write: a directory, or in a missing one."""
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory; give a file name")
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: directory '{parent}' does not exist")
    return path


def output_dir(path: str, flag: str) -> str:
    """Refuse an output directory that is a file, or whose parent does not exist."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: directory '{parent}' does not exist")
    return path


def cannot_write(e: OSError, what: str) -> UsageError:
    return UsageError(f"cannot write {what} '{e.filename or '?'}': {e.strerror or e}")


def cmd_ir(a) -> int:
    if a.graph:
        output_file(a.graph, "--graph")
    ir = _load(a.pipeline)
    if a.graph:
        import subprocess
        from nicc.runtime.graph import draw
        try:
            draw(ir, a.graph)
        except OSError as e:
            raise cannot_write(e, "the graph") from None
        except subprocess.CalledProcessError:
            raise UsageError(f"Graphviz's dot could not write '{a.graph}' (its message is above)") from None
        except RuntimeError as e:
            raise UsageError(str(e)) from None
        print(f"wrote {a.graph}", file=sys.stderr)
    sys.stdout.write(str(ir))
    return 0


def cmd_compile(a) -> int:
    if a.output:
        output_dir(a.output, "-o")
    ir = _load(a.pipeline)
    t = _target(a.target)
    out = a.output or os.path.join("build", f"{ir.name}-{a.target}")
    try:
        art = t.compile(ir, out)
    except OSError as e:
        raise cannot_write(e, "the output") from None
    for role, path in art.files.items():
        print(f"  {role:10} {path}")
    for line in art.manifest.get("notes", []):
        print(f"note: {line}")
    if a.explain:
        print(explain_table(art.manifest))
    elif "resources" in art.manifest:
        print("resources: " + json.dumps(art.manifest["resources"]))
    return 0


def explain_table(manifest: dict) -> str:
    """``manifest["explain"]`` (a list of row dicts, columns in first-seen order) and ``manifest["resources"]``
    as text tables; any target may fill these keys."""
    rows = manifest.get("explain") or []
    out = []
    if rows:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
        width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
        out.append("  ".join(c.ljust(w) for c, w in zip(cols, width)).rstrip())
        out.append("  ".join("-" * w for w in width))
        out += ["  ".join(v.ljust(w) for v, w in zip(row, width)).rstrip() for row in cells]
    else:
        out.append(f"(target {manifest.get('target', '?')} gives no per-object breakdown)")
    res = manifest.get("resources") or {}
    if res:
        out.append("")
        w = max(len(k) for k in res)
        out += [f"{k.ljust(w)}  {v}" for k, v in res.items()]
    return "\n".join(out)


def cmd_run(a) -> int:
    from nicc.runtime import pcap
    from nicc.compiler.contract import counters, format_counters
    if a.sim:
        os.environ["NICC_BMV2"] = "sim"
    if a.pcap_out:
        output_file(a.pcap_out, "--pcap-out")
    ir = _load(a.pipeline)
    t = _target(a.target)
    if a.lcores != 1 and (a.target != "dpdk" or a.lcores < 1 or not a.iface):
        raise UsageError("--lcores N (N >= 1) is for live traffic (--iface) on --target dpdk: a capture runs "
                         "on one lcore, in order")
    if a.iface:
        t.check_available()
        kw = {"host": a.host} if a.host else {}
        if a.lcores != 1:
            kw["lcores"] = a.lcores
        return t.run_live(ir, a.iface, mode=a.mode, **kw)
    if not (a.pcap_in and a.pcap_out):
        raise UsageError("run needs --pcap-in and --pcap-out (or --iface for live traffic)")
    try:
        pkts = pcap.read_pcap(a.pcap_in)
    except (OSError, pcap.PcapError) as e:
        raise UsageError(f"cannot read {a.pcap_in}: {e}") from None
    try:
        pcap.write_pcap(a.pcap_out, [])      # the output always exists, even if the run fails
    except OSError as e:
        raise cannot_write(e, "the output capture") from None
    t.check_available()
    results = t.run(ir, [p.data for p in pkts], None, [p.ts_ns for p in pkts])
    out = [pcap.Packet(f, p.ts_ns) for p, r in zip(pkts, results) for f in r.frames]
    try:
        pcap.write_pcap(a.pcap_out, out)
    except OSError as e:
        raise cannot_write(e, "the output capture") from None
    c = counters(results)
    print(f"{ir.name} on {a.target}: " + format_counters(c))
    if a.json:
        print(json.dumps(c))
    return 0


def cmd_test(a) -> int:
    from nicc.runtime.difftest import VacuousTest, differential_test
    if a.count < 1:
        raise UsageError(f"--count must be at least 1 (got {a.count}): a test of no frames proves nothing")
    ir = _load(a.pipeline)
    t = _target(a.target)
    if hasattr(t, "allow_evaluator_fallback"):
        t.allow_evaluator_fallback = True   # bmv2: nicc's P4 evaluator where real bmv2 is absent (it says so)
    t.check_available()
    try:
        ok = differential_test(ir, t, count=a.count, seed=a.seed, verbose=True)
    except VacuousTest as e:
        print(f"nicc: test failed: {e}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def cmd_bench(a) -> int:
    from nicc.benchmarks.driver import TARGETS
    from nicc.benchmarks.run import run_bench, settings_from
    ir = _load(a.pipeline)
    if a.target not in TARGETS + ("interp",):
        raise UsageError(f"target {a.target} has no benchmark (benchmarks: {', '.join(TARGETS)}, interp)")
    _target(a.target).check_available()
    return run_bench([ir], [] if a.target == "interp" else [a.target], settings_from(a), a.out)


def cmd_targets(a) -> int:
    from nicc.runtime.target import TARGETS, TargetUnavailable
    for name in TARGETS:
        try:
            t = _target(name)
            why = t.unavailable()
            print(f"  {name:7} {'ok' if not why else 'unavailable: ' + why:40}  {t.description}")
        except TargetUnavailable as e:
            print(f"  {name:7} unavailable: {e}")
    return 0


def parser() -> argparse.ArgumentParser:
    from nicc.runtime.target import TARGETS
    p = argparse.ArgumentParser(prog="nicc", description="Compile Python packet pipelines (AI preprocessing, "
                                "market-data dissemination) to SmartNIC targets: XDP/eBPF, DPDK, P4 on bmv2.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--print-ir-after", metavar="PASS", action="append",
                   help="print the IR to stderr after PASS (or 'all')")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    tgt = dict(choices=sorted(TARGETS), metavar="T", help=f"target: {', '.join(sorted(TARGETS))}")

    s = sub.add_parser("ir", help="print a pipeline's typed IR (the canonical text form)")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--graph", metavar="FILE", help="also draw the data-flow graph (.dot, .svg or .png)")
    s.set_defaults(fn=cmd_ir)

    s = sub.add_parser("compile", help="compile a pipeline for a target into a directory")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("-o", "--output", metavar="DIR", help="output directory (default build/NAME-TARGET)")
    s.add_argument("--explain", action="store_true",
                   help="print what the target's compiler says the program costs (per object, and totals)")
    s.set_defaults(fn=cmd_compile)

    s = sub.add_parser("run", help="run a pipeline on a packet capture (or live on an interface)")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("--pcap-in", metavar="A", help="input capture, read in order")
    s.add_argument("--pcap-out", metavar="B", help="output capture: every frame the pipeline lets out, in order")
    s.add_argument("--iface", metavar="IF", help="run live on a network interface instead")
    s.add_argument("--mode", choices=["native", "generic"], default="generic", help="XDP attach mode for --iface")
    s.add_argument("--host", metavar="WHERE", help="DPDK --iface: where passed packets go (tap:NAME or pcap:FILE)")
    s.add_argument("--lcores", type=int, default=1, metavar="N", help="DPDK --iface: run the data plane on N lcores")
    s.add_argument("--json", action="store_true", help="also print the counters as one JSON line")
    s.add_argument("--sim", action="store_true", help="bmv2: run on nicc's own P4 evaluator instead of real bmv2")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("test", help="differential test: target against the reference interpreter")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("--count", type=int, default=2000, help="number of generated packets (default 2000)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.set_defaults(fn=cmd_test)

    s = sub.add_parser("bench", help="measure a pipeline on a target beside the target's floor, a hand-written "
                       "baseline, the host library and the interpreter (as make bench does)")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("--out", metavar="DIR", help="also write bench.json, bench.md and bench.png to DIR")
    from nicc.benchmarks.run import add_options
    add_options(s)
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("targets", help="list targets and whether they work on this machine")
    s.set_defaults(fn=cmd_targets)
    return p


def main(argv=None) -> int:
    from nicc.compiler.errors import NiccError
    from nicc.runtime.target import TargetUnavailable
    p = parser()
    a = p.parse_args(argv)
    try:
        _load.print_after = print_after(a.print_ir_after)
        return a.fn(a)
    except UsageError as e:
        print(f"nicc: error: {e}", file=sys.stderr)
        return 2
    except TargetUnavailable as e:
        print(f"nicc: {e}", file=sys.stderr)
        return 3
    except NiccError as e:
        print(e.format(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

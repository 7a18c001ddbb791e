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


def _target(name: str):
    from nicc.runtime.target import get_target
    try:
        return get_target(name)
    except KeyError:
        raise UsageError(f"unknown target '{name}'") from None


def cmd_ir(a) -> int:
    ir = _load(a.pipeline)
    if a.graph:
        from nicc.runtime.graph import draw
        try:
            draw(ir, a.graph)
        except (RuntimeError, OSError) as e:
            raise UsageError(str(e)) from None
        print(f"wrote {a.graph}", file=sys.stderr)
    sys.stdout.write(str(ir))
    return 0


def cmd_compile(a) -> int:
    ir = _load(a.pipeline)
    t = _target(a.target)
    out = a.output or os.path.join("build", f"{ir.name}-{a.target}")
    art = t.compile(ir, out)
    for role, path in art.files.items():
        print(f"  {role:10} {path}")
    for line in art.manifest.get("notes", []):
        print(f"note: {line}")
    if "resources" in art.manifest:
        print("resources: " + json.dumps(art.manifest["resources"]))
    return 0


def format_counters(c: dict) -> str:
    return (f"rx {c['rx']}  pass {c['pass']} (malformed {c['malformed']}, unselected {c['unselected']})  "
            f"transmit {c['transmit']}  drop {c['drop']}  multicast {c['multicast']}  -> {c['tx_frames']} frames out")


def cmd_run(a) -> int:
    from nicc.runtime import pcap
    from nicc.compiler.interp import counters
    if a.sim:
        os.environ["NICC_BMV2"] = "sim"
    ir = _load(a.pipeline)
    t = _target(a.target)
    if a.iface:
        if not hasattr(t, "run_live"):
            raise UsageError(f"target {a.target} has no live mode")
        t.check_available()
        kw = {"host": a.host} if a.host else {}
        return t.run_live(ir, a.iface, mode=a.mode, **kw)
    if not (a.pcap_in and a.pcap_out):
        raise UsageError("run needs --pcap-in and --pcap-out (or --iface for live traffic)")
    cap, link = _read_capture(a.pcap_in)
    _write_capture(a.pcap_out, cap, [])      # the output always exists, even if the run fails
    t.check_available()
    results = t.run(ir, [link.to_ethernet(p.data) for p in cap.packets], None, [p.ts_ns for p in cap.packets])
    _write_capture(a.pcap_out, cap, [pcap.Packet(d, p.ts_ns, p.wirelen if d == p.data else None)
                                     for p, r in zip(cap.packets, results)
                                     for d in (link.from_ethernet(f, p.data) for f in r.frames)])
    c = counters(results)
    print(f"{ir.name} on {a.target}: " + format_counters(c))
    if link.converts:
        print(f"capture: link type {pcap.linktype_name(cap.linktype)} run as Ethernet frames (a synthetic header, "
              f"taken off again: the output has the input's link type)")
    cut = cap.cut
    if cut:
        c["snaplen_cut"] = len(cut)
        print(f"capture: {len(cut)} of {len(cap.packets)} records cut by the capture's snaplen (caplen < len), "
              f"processed as captured: a datagram cut short fails selection and passes unchanged; records "
              f"{', '.join(map(str, cut[:10]))}{' ...' if len(cut) > 10 else ''}")
    if a.json:
        print(json.dumps(c))
    return 0


def _read_capture(path: str):
    """The input capture and the link conversion it needs; any problem is a usage error (exit 2)."""
    from nicc.runtime import pcap
    try:
        cap = pcap.read_capture(path)
        return cap, pcap.link_adapter(cap.linktype)
    except (OSError, pcap.PcapError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def _write_capture(path: str, like, packets) -> None:
    """The output capture in the input's link type and timestamp precision."""
    from nicc.runtime import pcap
    try:
        pcap.write_pcap(path, packets, linktype=like.linktype, snaplen=like.snaplen, nano=like.nano)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def cmd_test(a) -> int:
    from nicc.runtime.difftest import differential_test
    ir = _load(a.pipeline)
    t = _target(a.target)
    if hasattr(t, "allow_evaluator_fallback"):
        t.allow_evaluator_fallback = True   # bmv2: nicc's P4 evaluator where real bmv2 is absent (it says so)
    t.check_available()
    ok = differential_test(ir, t, count=a.count, seed=a.seed, verbose=True)
    return 0 if ok else 1


def cmd_bench(a) -> int:
    ir = _load(a.pipeline)
    t = _target(a.target)
    t.check_available()
    if not hasattr(t, "bench"):
        raise UsageError(f"target {a.target} has no benchmark")
    return t.bench(ir, packets=a.packets)


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
    s.set_defaults(fn=cmd_compile)

    s = sub.add_parser("run", help="run a pipeline on a packet capture (or live on an interface)")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("--pcap-in", metavar="A", help="input capture, read in order")
    s.add_argument("--pcap-out", metavar="B", help="output capture: every frame the pipeline lets out, in order")
    s.add_argument("--iface", metavar="IF", help="run live on a network interface instead")
    s.add_argument("--mode", choices=["native", "generic"], default="generic", help="XDP attach mode for --iface")
    s.add_argument("--host", metavar="WHERE", help="DPDK --iface: where passed packets go (tap:NAME or pcap:FILE)")
    s.add_argument("--json", action="store_true", help="also print the counters as one JSON line")
    s.add_argument("--sim", action="store_true", help="bmv2: run on nicc's own P4 evaluator instead of real bmv2")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("test", help="differential test: target against the reference interpreter")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("--count", type=int, default=2000, help="number of generated packets (default 2000)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.set_defaults(fn=cmd_test)

    s = sub.add_parser("bench", help="measure a pipeline on a target against that target's floor")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("--packets", type=int, default=2000, help="packets per measurement")
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("targets", help="list targets and whether they work on this machine")
    s.set_defaults(fn=cmd_targets)
    return p


def main(argv=None) -> int:
    from nicc.compiler.errors import NiccError
    from nicc.runtime.target import TargetUnavailable
    p = parser()
    a = p.parse_args(argv)
    _load.print_after = set(a.print_ir_after) if a.print_ir_after else None
    try:
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

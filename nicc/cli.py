"""``nicc``: compile packet pipelines written in Python to NIC targets.

Exit status: 0 success, 1 error in the pipeline or a failed check,
2 bad usage (unknown target, unreadable file), 3 target unavailable here.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from nicc.cli_tree import cmd_emulate, cmd_sim
from nicc.usage import UsageError

EXAMPLES = """\
examples:
  nicc ir examples/dedup.py                       print the typed IR
  nicc compile examples/criteo.py --target xdp -o out/criteo
  nicc run examples/normalize.py --target interp --pcap-in in.pcap --pcap-out out.pcap
  nicc test examples/dedup.py --target xdp --count 2000
  nicc bench examples/criteo.py --target dpdk
  nicc serve examples/criteo.py --udp 9002        host runtime on live datagrams, counters each second
  nicc serve examples/criteo_log.py --iface eth0 --target xdp   NIC part on XDP, host part on eth0
  nicc targets                                    which targets work on this machine
  nicc sim examples/market.py --receivers 5000 --hedge 2 --json   simulate a dissemination tree
  nicc emulate examples/market.py --receivers 32 --hedge 2 --loss 0.01 --slow-relay 1 --json
                                                  the tree on this machine, real data planes

A PIPELINE is a Python file with one @nd.pipeline function (FILE:NAME picks one of several).
"""


MARKET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "market.py")


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
    elif a.target:
        raise UsageError("--target shows a placement in the graph: give --graph FILE")
    ir = _load(a.pipeline)
    if a.graph:
        from nicc.compiler.graph import draw
        placement = None
        if a.target:
            from nicc.runtime.split import plan
            placement = plan(ir, a.target).placement()
        _draw(a.graph, lambda path: draw(ir, path, placement))
    sys.stdout.write(str(ir))
    return 0


def _roles(spec: str):
    """A file that declares nd.tree(...) with roles and no FILE:NAME: its roles' pipelines, by role."""
    from nicc.compiler.passes import run_passes
    from nicc.dsl import load_tree
    if ":" in spec and not os.path.exists(spec):
        return None
    try:
        tree = load_tree(spec)
    except Exception:                 # noqa: BLE001  (not a tree file: the usual loading reports what is wrong)
        return None
    if len(tree.roles) < 2:
        return None
    return {role: run_passes(p.trace(), print_after=_load.print_after) for role, p in tree.roles.items()}


def _draw(path: str, how) -> None:
    """Write a drawing with ``how(path)``; a missing Graphviz or an unwritable path is a usage error."""
    import subprocess
    try:
        how(path)
    except OSError as e:
        raise cannot_write(e, "the graph") from None
    except subprocess.CalledProcessError:
        raise UsageError(f"Graphviz's dot could not write '{path}' (its message is above)") from None
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {path}", file=sys.stderr)


def _draw_compiled(ir, target: str, art, path: str) -> None:
    """The compiled pipeline's drawing: its placement and the target's resource bars."""
    from nicc.compiler.graph import draw
    from nicc.runtime.compiled import resource_bars
    from nicc.runtime.split import plan
    sp = getattr(art, "split", None) or plan(ir, target)
    draw(ir, path, sp.placement(), resource_bars(target, art, sp))


def cmd_compile(a) -> int:
    if a.output:
        output_dir(a.output, "-o")
    if a.graph:
        output_file(a.graph, "--graph")
    roles = _roles(a.pipeline)
    if roles is not None:                 # a tree's roles: one artifact directory per role
        if a.graph:
            raise UsageError("--graph draws one pipeline: give FILE:NAME (one role of the tree)")
        for role, ir in roles.items():
            out = os.path.join(a.output, role) if a.output else os.path.join("build", f"{role}-{a.target}")
            print(f"{role} ({ir.name}):")
            _compile_one(a, ir, out)
        return 0
    ir = _load(a.pipeline)
    return _compile_one(a, ir, a.output or os.path.join("build", f"{ir.name}-{a.target}"))


def _compile_one(a, ir, out: str) -> int:
    t = _target(a.target)
    try:
        art = t.compile(ir, out)
    except OSError as e:
        raise cannot_write(e, "the output") from None
    for role, path in art.files.items():
        print(f"  {role:10} {path}")
    for line in art.manifest.get("notes", []):
        print(f"note: {line}")
    if a.graph:
        _draw(a.graph, lambda path: _draw_compiled(ir, a.target, art, path))
    if a.explain:
        from nicc.runtime.compiled import bars_table, explain_table, resource_bars
        from nicc.runtime.split import plan
        print(explain_table(art.manifest))
        print()
        print(bars_table(resource_bars(a.target, art, getattr(art, "split", None) or plan(ir, a.target))))
    elif "resources" in art.manifest:
        print("resources: " + json.dumps(art.manifest["resources"]))
    return 0


def cmd_run(a) -> int:
    from nicc.runtime import pcap
    from nicc.compiler.contract import counters, format_counters
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
        raise cannot_write(e, "the output capture") from None


def cmd_test(a) -> int:
    from nicc.runtime.difftest import VacuousTest, differential_test
    if a.count < 1:
        raise UsageError(f"--count must be at least 1 (got {a.count}): a test of no frames proves nothing")
    ir = _load(a.pipeline)
    t = _target(a.target)
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


def cmd_serve(a) -> int:
    from nicc.runtime.host import AfPacketSource, PcapSource, UdpSource, XdpNic, serve
    from nicc.runtime.target import TargetUnavailable
    given = [f for f, v in (("--iface", a.iface), ("--udp", a.udp), ("--pcap", a.pcap)) if v]
    if len(given) != 1:
        raise UsageError("serve needs exactly one source: --iface IF, --udp [HOST:]PORT or --pcap FILE"
                         + (f" (got {' and '.join(given)})" if given else ""))
    if a.nic and not a.iface:
        raise UsageError("--nic attaches to an interface: give --iface")
    if a.target and (not a.iface or a.nic):
        raise UsageError("--target T serves a split pipeline live: its NIC part attached to --iface IF, its host "
                         "part on the same interface (give --iface, and no --nic)")
    if a.target and a.target != "xdp":
        raise UsageError(f"--target {a.target}: live split serving attaches the NIC part with XDP (--target xdp); "
                         f"run {a.target} live with `nicc run --target {a.target} --iface`")
    if a.pcap and not os.path.isfile(a.pcap):
        raise UsageError(f"cannot read capture '{a.pcap}'")
    ir = _load(a.pipeline)
    if a.target:
        from nicc.runtime.host import SplitServer
        try:
            SplitServer(ir, a.iface, a.target, netns=a.netns, mode=a.mode).serve(
                interval=a.interval, duration=a.duration, as_json=a.json, batch=a.batch, batch_time=a.batch_time,
                prefetch=a.prefetch)
        except PermissionError as e:
            raise TargetUnavailable(f"cannot open the interface: {e.strerror or e} (XDP and AF_PACKET need root)") \
                from None
        return 0
    if a.iface:
        src = AfPacketSource(a.iface, netns=a.netns)
    elif a.udp:
        host, _, port = a.udp.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--udp {a.udp}: give [HOST:]PORT with a port 1..65535")
        src = UdpSource(int(port), host or "0.0.0.0", netns=a.netns)
    else:
        src = PcapSource(a.pcap, rate=a.rate)
    nic = None
    if a.nic:
        kind, _, path = a.nic.partition(":")
        if kind != "xdp" or not path:
            raise UsageError(f"--nic {a.nic}: give xdp:PIPELINE (the NIC part, attached with XDP)")
        nic = XdpNic(_load(path), a.iface, netns=a.netns, mode=a.mode)
    try:
        serve(ir, src, nic=nic, interval=a.interval, duration=a.duration, as_json=a.json, batch=a.batch,
              batch_time=a.batch_time, prefetch=a.prefetch)
    except PermissionError as e:
        raise TargetUnavailable(f"cannot open the source: {e.strerror or e} (AF_PACKET needs root or CAP_NET_RAW)") \
            from None
    except OSError as e:
        raise UsageError(f"cannot open the source: {e.strerror or e}") from None
    return 0


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
    s.add_argument("--target", "-t", **{**tgt, "help": "with --graph: draw where each stage runs on T "
                                        "(NIC and host clusters, the wire payload between them)"})
    s.set_defaults(fn=cmd_ir)

    s = sub.add_parser("compile", help="compile a pipeline for a target into a directory")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("-o", "--output", metavar="DIR", help="output directory (default build/NAME-TARGET)")
    s.add_argument("--explain", action="store_true",
                   help="print what the target's compiler says the program costs (per object, and totals)")
    s.add_argument("--graph", metavar="FILE", help="draw the placement and the target's resource bars "
                   "(.dot, .svg or .png)")
    s.set_defaults(fn=cmd_compile)

    s = sub.add_parser("run", help="run a pipeline on a packet capture (or live on an interface)")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--target", "-t", required=True, **tgt)
    s.add_argument("--pcap-in", metavar="A", help="input capture, read in order")
    s.add_argument("--pcap-out", metavar="B", help="output capture: every frame the pipeline lets out, in order")
    s.add_argument("--iface", metavar="IF", help="run live on a network interface instead")
    s.add_argument("--mode", choices=["native", "generic"], default="generic", help="XDP attach mode for --iface")
    s.add_argument("--host", metavar="WHERE",
                   help="dpdk, bmv2 --iface: where passed packets go (tap:NAME or pcap:FILE)")
    s.add_argument("--lcores", type=int, default=1, metavar="N", help="DPDK --iface: run the data plane on N lcores")
    s.add_argument("--json", action="store_true", help="also print the counters as one JSON line")
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

    s = sub.add_parser("sim", help="simulate a dissemination tree (nd.tree) against direct unicast",
                       description="Discrete-event simulation of the file's nd.tree with Jasper's latency model: "
                       "direct unicast and the tree with each hedge, on the same messages.")
    s.add_argument("pipeline", metavar="PIPELINE", help="a file that declares nd.tree(...)")
    s.add_argument("--receivers", "-n", type=int, metavar="N", help="receivers (default: the file's)")
    s.add_argument("--hedge", metavar="H[,H...]", help="sibling hedges to simulate (default 0,1,2)")
    s.add_argument("--messages", "-m", type=int, default=3000, metavar="M", help="messages (default 3000)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--rate", type=float, default=10_000.0, help="messages per second, Poisson (default 10000)")
    s.add_argument("--json", action="store_true", help="print one JSON object per tree configuration")
    s.add_argument("--plot", metavar="FILE.png", help="draw window and latency CDFs")
    s.add_argument("--no-repair", action="store_true", help="turn gap detection and repair off")
    s.add_argument("--no-dedup", action="store_true", help="receivers keep every copy (no duplicate suppression)")
    g = s.add_argument_group("hold-and-release (default: the file's nd.release)")
    g.add_argument("--estimator", choices=["oml", "jasper"], help="global OWD estimator")
    g.add_argument("--quantile", type=float, help="quantile of the estimator")
    g.add_argument("--hold-us", type=float, help="extra hold after the global OWD")
    g.add_argument("--stamp", choices=["root", "sender"], help="where deadlines are stamped")
    g = s.add_argument_group("latency model (see nicc/runtime/sim/model.py)")
    for flag, typ, what in (("hop-us", float, "mean one-link delay (30)"), ("hop-sd-us", float, "its sd (10)"),
                            ("child-us", float, "cost per extra copy (2.7)"), ("child-sd-us", float, "its sd (0.9)"),
                            ("burst", int, "copies per transmit burst (32)"),
                            ("tail-prob", float, "probability of a tail delay per link (0.03)"),
                            ("tail-us", float, "mean tail delay, exponential (70)"),
                            ("clock-sd-us", float, "clock error sd (0.1)"), ("loss", float, "loss per link (0)")):
        g.add_argument(f"--{flag}", type=typ, help=what)
    s.set_defaults(fn=cmd_sim)

    s = sub.add_parser("emulate", help="run a dissemination tree (nd.tree) on this machine with the compiled data "
                       "planes: namespaces, veth, TC/DPDK, injected loss and a slowed relay",
                       description="Build the file's tree from network namespaces on a bridge, load every node's "
                       "compiled data plane (TC; DPDK for slowed relays), run the host side (feed, repair, "
                       "hold-and-release), check every receiver got every message once and in order, tear down.")
    s.add_argument("pipeline", metavar="PIPELINE", nargs="?", default=MARKET,
                   help="a file that declares nd.tree(...) (default: examples/market.py)")
    s.add_argument("--receivers", "-n", type=int, default=32, metavar="N", help="receivers (default 32)")
    s.add_argument("--hedge", type=int, default=2, metavar="H", help="sibling hedging (default 2)")
    s.add_argument("--messages", "-m", type=int, default=10_000, metavar="M", help="messages (default 10000)")
    s.add_argument("--seed", type=int, default=0, help="random seed: message contents, which relays are slow")
    s.add_argument("--loss", type=float, default=0.01, metavar="P", help="loss per link (default 0.01)")
    s.add_argument("--slow-relay", type=int, default=0, metavar="K", help="relays slowed in their own (DPDK) data "
                   "path (default 0)")
    s.add_argument("--delay-us", type=int, default=2000, help="how much a slow relay holds each frame (2000)")
    s.add_argument("--rate", type=float, default=500.0, help="messages per second from the sender (default 500)")
    s.add_argument("--workers", type=int, default=3, help="processes running the nodes' host side (default 3)")
    s.add_argument("--stall-s", type=float, default=60.0, help="stop after this long without progress (60)")
    s.add_argument("--json", action="store_true", help="one JSON object (receivers, messages, delivered, lost, "
                   "duplicated, out_of_order, release_error_us, ...)")
    s.add_argument("--nodes", action="store_true", help="with --json: counters per node too")
    s.set_defaults(fn=cmd_emulate)

    s = sub.add_parser("serve", help="run a pipeline as the host part on live traffic (an interface, a UDP port) "
                       "or a capture, batched with numpy, printing counters; --nic attaches a NIC part")
    s.add_argument("pipeline", metavar="PIPELINE")
    s.add_argument("--iface", metavar="IF", help="read every frame on IF (AF_PACKET, TPACKET_V3 ring)")
    s.add_argument("--udp", metavar="[HOST:]PORT", help="read datagrams on a UDP port (the pipeline runs on payloads)")
    s.add_argument("--pcap", metavar="FILE", help="read a capture file")
    s.add_argument("--rate", type=float, metavar="FPS", help="--pcap: replay at FPS frames/s into a ring, like a line")
    s.add_argument("--netns", metavar="NS", help="open the socket (and attach the NIC part) in network namespace NS")
    s.add_argument("--nic", metavar="xdp:PIPELINE", help="attach PIPELINE to --iface with XDP as the NIC part")
    s.add_argument("--target", "-t", **{**tgt, "help": "serve a split pipeline: partition PIPELINE for T (xdp), "
                                        "attach its NIC part to --iface and run its host part there"})
    s.add_argument("--mode", choices=["native", "generic"], default="generic",
                   help="XDP attach mode for --nic and --target")
    s.add_argument("--batch", type=int, default=4096, help="frames per batch at most (default 4096)")
    s.add_argument("--batch-time", type=float, metavar="S", help="close a batch S seconds after its first frame "
                   "(default 0.05 on live sources)")
    s.add_argument("--prefetch", type=int, default=0, metavar="K", help="evaluate up to K batches ahead in a thread")
    s.add_argument("--interval", type=float, default=1.0, metavar="S", help="print counters every S seconds")
    s.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    s.add_argument("--json", action="store_true", help="also print the final counters as one JSON line")
    s.set_defaults(fn=cmd_serve)

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

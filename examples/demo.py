"""`make demo`: compile the preprocessing examples and run them on generated captures,
on the reference interpreter and on every target this machine can run,
checking each target's output against the interpreter byte for byte; then the
dissemination tree of examples/market.py, simulated (``nicc sim``) and emulated on
this machine's real data planes (``nicc emulate``, as root)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# examples/tokenize.py would shadow the standard library's tokenize module: keep this directory off the path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, os.path.dirname(HERE))

import nicc.dsl as nd  # noqa: E402
from nicc.compiler.interp import Reference, counters  # noqa: E402
from nicc.compiler.passes import run_passes  # noqa: E402
from nicc.runtime import pcap  # noqa: E402
from nicc.runtime.packets import generate  # noqa: E402
from nicc.runtime.target import TARGETS, TargetUnavailable, get_target  # noqa: E402

OUT = os.path.join(os.path.dirname(HERE), "demo-out")
EXAMPLES = {"normalize": "E1 per-channel LUT normalization (uint8 RGB -> float16)",
            "criteo": "E2 recommendation features (bucketize + crc32)",
            "dedup": "E3 duplicate suppression (per-flow state)",
            "resize": "E4 bilinear resize streamed by row and tile, bit-exact with cv2 (per-image state)",
            "tokenize": "E5 WordPiece over overlapping chunks, exact with HF tokenizers (bounded scan, host part)",
            "criteo_log": "E2 with float features split between NIC and host (log1p on the host)"}
COUNT = int(os.environ.get("NICC_DEMO_COUNT", "1000"))


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    failures = 0
    for name, what in EXAMPLES.items():
        ir = run_passes(nd.load(os.path.join(HERE, f"{name}.py")).trace())
        frames = generate(ir, COUNT, seed=2026)
        pin = os.path.join(OUT, f"{name}.in.pcap")
        pcap.write_pcap(pin, frames)
        print(f"\n== {name}: {what}\n   {len(frames)} generated frames -> {os.path.relpath(pin)}")
        with open(os.path.join(OUT, f"{name}.nir"), "w") as f:
            f.write(str(ir))
        try:
            from nicc.compiler.graph import draw
            draw(ir, os.path.join(OUT, f"{name}.svg"))
        except RuntimeError:
            draw(ir, os.path.join(OUT, f"{name}.dot"))
        for tname in TARGETS:
            t0 = time.time()
            try:
                t = get_target(tname)
                t.check_available()
                art = t.compile(ir, os.path.join(OUT, f"{name}-{tname}"))
                results = t.run(ir, frames, art)
            except TargetUnavailable as e:
                print(f"   {tname:7} skipped: {e}")
                continue
            except nd.NiccError as e:                   # a pipeline this target refuses
                print(f"   {tname:7} refused: {e.message.split(';')[0]}")
                continue
            out = [f for r in results for f in r.frames]
            pcap.write_pcap(os.path.join(OUT, f"{name}.{tname}.out.pcap"), out)
            c = counters(results)
            same = ""
            if tname != "interp":          # the reference under this target's declared limits (run contract)
                ref = [(r.verdict, r.frames) for r in Reference(ir, t.limits).run(frames)]
                ok = ref == [(r.verdict, r.frames) for r in results]
                same = "  identical to the reference" if ok else "  DIFFERS FROM THE REFERENCE"
                failures += not ok
            extra = (f", host part {c['host']}" if c.get("host") else "") + \
                (f", unhandled {c['unhandled']}" if c.get("unhandled") else "")
            print(f"   {tname:7} pass {c['pass']:4} (malformed {c['malformed']:3}, unselected {c['unselected']:3}"
                  f"{extra})  drop {c['drop']:4}  -> {c['tx_frames']:4} frames  {time.time() - t0:5.1f}s{same}")
    print(f"\noutputs, IR text and graphs in {os.path.relpath(OUT)}/")
    failures += dissemination()
    return 1 if failures else 0


def nicc(*args: str, head: int | None = None) -> int:
    """Run the nicc CLI, indenting its output (the first ``head`` lines of it)."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "nicc"), *args]
    print("   $ nicc " + " ".join(args))
    p = subprocess.run(cmd, capture_output=True, text=True)
    lines = (p.stdout + p.stderr).rstrip("\n").splitlines()
    for line in lines[:head]:
        print("     " + line)
    return p.returncode


def dissemination() -> int:
    """Fair dissemination (examples/market.py): the tree simulated against direct unicast, then emulated."""
    market = os.path.relpath(os.path.join(HERE, "market.py"))
    print("\n== market: fair dissemination over a hedged overlay tree with hold-and-release and repair")
    bad = nicc("sim", market, "--receivers", "100", "--messages", "3000", "--seed", "1") != 0
    if os.geteuid() != 0:
        print("   nicc emulate skipped: it needs root (network namespaces, TC, DPDK)")
        return int(bad)
    rc = nicc("emulate", market, "--receivers", "32", "--hedge", "2", "--messages", "800", "--loss", "0.01",
              "--slow-relay", "1", "--seed", "1", head=5)
    if rc == 3:
        print("   (a data plane this machine lacks: see nicc targets)")
        return int(bad)
    return int(bad or rc != 0)


if __name__ == "__main__":
    sys.exit(main())

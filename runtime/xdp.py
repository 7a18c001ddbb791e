"""The XDP target: eBPF C from :mod:`nicc.backends.xdp`, built with clang, loaded through the kernel verifier.

The libbpf bindings are in :mod:`.libbpf`, the verifier-log mapper in :mod:`.verifier_log`.

    t = XdpTarget()
    art = t.compile(ir, "out/dedup")          # C, object, manifest (verified instruction count...)
    results = t.run(ir, frames, art)          # one Result per frame, map state kept across frames
    t.run_live(ir, "eth0", mode="native")     # until Ctrl-C; prints per-verdict counters

``run`` executes every frame, in order, once: map state carries over from one
frame to the next and each ``run`` starts from a freshly loaded program (the
pipeline's initial state). Which outcome a frame had is read from the program's
per-CPU counters. The program is frags-aware, so frames of any size up to
:data:`MAX_RUN_FRAME` run; as BPF_PROG_TEST_RUN lays a frame out, its linear part
holds :data:`LINEAR` bytes and each fragment one page, and a frame can grow only
into the tailroom of its last part: :data:`LIMITS` says so exactly, and a frame
that would grow further passes unchanged as ``unhandled``. Frames shorter than an
Ethernet header (which the kernel refuses to run) pass unchanged, unselected, as
the selection rules already say for them.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from ..backends.xdp.renderer import ACTIONS, NCOUNTERS, XDP_ACTION_VALUES, XdpRenderer, generate
from ..compiler.contract import CODES, OUTCOMES, Limits, Result, from_codes, format_counters, result
from ..compiler.errors import InternalError, NiccError
from ..compiler.ir import Pipeline
from ..compiler.types import Scalar
from .hostpart import finish as finish_host
from .libbpf import LINEAR, MAX_RUN_FRAME, PAGE, Libbpf, Loaded, TestRunner, strerror  # noqa: F401
from .target import Artifact, Target, TargetUnavailable
from .verifier_log import map_error, stage_loc, verifier_error

ETH_HLEN = 14


def test_run_capacity(n):
    """How large a frame of ``n`` bytes (an int or an array) may become in BPF_PROG_TEST_RUN: its
    parts are a linear buffer of LINEAR bytes and then whole pages, and bpf_xdp_adjust_tail grows
    only the last part."""
    frags = -(-(np.asarray(n) - LINEAR) // PAGE)
    return LINEAR + np.maximum(frags, 0) * PAGE


LIMITS = Limits("xdp", MAX_RUN_FRAME, lambda n, m: m <= test_run_capacity(n),
                note=f"BPF_PROG_TEST_RUN: frames up to {MAX_RUN_FRAME} bytes; a frame grows only into the "
                     f"tailroom of its last part ({LINEAR}-byte linear part, then {PAGE}-byte fragments)")
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS = {"generic": 1 << 1, "native": 1 << 2}


def clang_cmd(src: str, obj: str) -> list[str]:
    """clang for eBPF, with Debian's multiarch include directory (asm/types.h)."""
    arch = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(platform.machine(),
                                                                             f"{platform.machine()}-linux-gnu")
    return ["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Wno-unused-variable", "-Wno-unused-but-set-variable", f"-I/usr/include/{arch}",
            "-c", src, "-o", obj]


# -- the target --------------------------------------------------------------------------------
class XdpTarget(Target):
    name = "xdp"
    description = "XDP/eBPF: clang -target bpf, kernel verifier, BPF_PROG_TEST_RUN, live attach"
    renderer_cls = XdpRenderer
    limits = LIMITS

    def growth_note(self, size: int) -> str:
        return (f"frames can grow to {size} bytes; a frame grows only into the tailroom of its last part (test runs: "
                f"{LINEAR}-byte linear part, {PAGE}-byte fragments), beyond it it passes unchanged, counted as unhandled")

    def __init__(self, echo: bool = True):
        self.echo = echo

    # availability -------------------------------------------------------------------------
    def unavailable(self) -> str | None:
        if shutil.which("clang") is None:
            return "no clang (apt-get install clang)"
        if not os.path.exists("/usr/include/bpf/bpf_helpers.h"):
            return "no libbpf headers (apt-get install libbpf-dev)"
        try:
            Libbpf.get()
        except OSError:
            return "no libbpf.so.1 (apt-get install libbpf1)"
        if os.geteuid() != 0:
            return "not root (loading BPF programs needs CAP_BPF and CAP_NET_ADMIN)"
        return None

    def _can_load(self) -> bool:
        return self.unavailable() is None

    # compile ------------------------------------------------------------------------------
    def compile(self, ir: Pipeline, outdir: str) -> Artifact:
        if shutil.which("clang") is None:
            raise TargetUnavailable("target xdp is unavailable here: no clang (apt-get install clang)")
        os.makedirs(outdir, exist_ok=True)
        c_path = os.path.join(outdir, f"{ir.name}.bpf.c")
        o_path = os.path.join(outdir, f"{ir.name}.bpf.o")
        for spill in (False, True):
            src, ctx = self.generate(ir, spill)
            with open(c_path, "w") as f:
                f.write(src)
            p = subprocess.run(clang_cmd(c_path, o_path), capture_output=True, text=True)
            if p.returncode == 0 or "stack limit" not in p.stderr:
                break
        stages = [s.as_dict() for s in ctx["stages"]]
        if p.returncode != 0:
            raise NiccError(f"clang could not build the generated eBPF C ({c_path})", stage_loc(stages[0]),
                            notes=[ln for ln in p.stderr.splitlines() if ln.strip()][:20])
        ncpu = Libbpf.get().ncpus if self._can_load() else os.cpu_count() or 1
        scratch = ctx["scratch_bytes"]
        maps = [dict(name="nicc_counters", type="percpu_array", entries=1, key=4, value=8 * NCOUNTERS,
                     contents="per-outcome packet counters " + ", ".join(f"{k}={v}" for k, v in CODES.items())),
                dict(name="nicc_scratch", type="array", entries=ncpu, key=4, value=scratch,
                     contents="working memory, a slot per CPU (payload copy, new payload, map outputs)")]
        for st in ctx["states"]:
            maps.append(dict(name=f"nicc_state_{st['name']}", type="array", entries=st["size"], key=4,
                             value=8 if st["slot"] == "__u64" else 4, contents=f"state @{st['name']} : "
                             f"{st['elem']}, initially {st['init']} (filled at load time)"))
        for sd in ctx["streams"]:
            size = _record_bytes(ir.streams[sd["name"]])
            maps.append(dict(name=f"nicc_stream_{sd['name']}", type="array", entries=sd["slots"], key=4,
                             value=size, contents=f"stream @{sd['name']}: a record per slot (busy word, then "
                             f"{', '.join(f for f, _ in ir.streams[sd['name']].fields)}), zero at load time"))
        roms = []
        for t in ctx["roms"]:
            fname = f"{ir.name}.rom.{t['name']}.bin"
            tab = ir.tables[t["name"]]
            with open(os.path.join(outdir, fname), "wb") as f:
                f.write(tab.values.astype(tab.out.dtype.newbyteorder("<")).tobytes())
            maps.append(dict(name=f"nicc_rom_{t['name']}", type="array (BPF_F_RDONLY_PROG)", entries=1, key=4,
                             value=t["bytes"], contents=f"table @{t['name']} : {t['out']}[{t['size']}], from {fname}, "
                             "filled and frozen at load time"))
            roms.append(dict(map=f"nicc_rom_{t['name']}", file=fname, bytes=t["bytes"]))
        if ctx["uses_timestamp"]:
            maps.append(dict(name="nicc_clock", type="array", entries=1, key=4, value=16,
                             contents="fixed time for test runs (fixed=0: bpf_ktime_get_ns)"))
        maps += self.extra_maps(ctx)
        luts = {t.name: dict(index=str(t.index), out=str(t.out), values=[int(v) for v in t.values])
                for t in ir.tables.values() if t.name not in {r["name"] for r in ctx["roms"]}}
        if ctx["rodata_bytes"]:
            rodata = ctx["rodata_bytes"]
            maps.append(dict(name=f"{ir.name}.rodata", type="array (libbpf global data, frozen)", entries=1,
                             key=4, value=rodata, contents="lookup tables (see 'luts'), crc32 and bucketize tables"))
        mem = 0
        for m in maps:
            per = m["value"] * m["entries"]
            mem += per * ncpu if m["type"] == "percpu_array" else per
        manifest = {
            "target": self.name, "pipeline": ir.name, "port": ir.port, "section": self.section,
            "program": f"nicc_{ir.name}", "object": os.path.basename(o_path), "source": os.path.basename(c_path),
            "clang": " ".join(clang_cmd(os.path.basename(c_path), os.path.basename(o_path))),
            "actions": self.actions, "codes": CODES, "maps": maps, "luts": luts, "stages": stages,
            "states": ctx["states"], "roms": roms, "values_in_scratch": spill,
            "resources": {"map_bytes": mem, "possible_cpus": ncpu,
                          "payload_bytes_read": ctx["reads"], "max_payload_out": ctx["max_out"],
                          "payload_in_place": ctx["in_place"]},
            "explain": ctx["explain"],
            "notes": [],
        }
        if self._can_load():
            with self._load_checked(o_path, manifest) as l:
                manifest["resources"].update(l.info())
        else:
            manifest["notes"].append(f"not loaded through the verifier here ({self.unavailable()}); "
                                     "no verified instruction count")
        out = ir.max_payload_out()
        if out is not None and 42 + out > LINEAR:
            manifest["notes"].append(self.growth_note(42 + out))
        m_path = os.path.join(outdir, "manifest.json")
        with open(m_path, "w") as f:
            json.dump(manifest, f, indent=1)
        return Artifact(outdir, {"c": c_path, "object": o_path, "manifest": m_path}, manifest)

    section = "xdp"
    actions = ACTIONS

    def generate(self, ir: Pipeline, spill: bool) -> tuple[str, dict]:
        """The program's C source and render context (dialects of the eBPF backend override it)."""
        return generate(ir, self.renderer_cls, spill=spill)

    def extra_maps(self, ctx: dict) -> list[dict]:
        """Maps a dialect adds to the manifest."""
        return []

    def _load_checked(self, o_path: str, manifest: dict) -> Loaded:
        """Load through the verifier; a rejection becomes a NiccError at the stage and user line it names."""
        l = Loaded(o_path)
        if l.ok:
            return l
        l.close()
        l = Loaded(o_path, log_size=1 << 24)
        if l.ok:          # loads when logging: not expected, but fine
            return l
        log = l.verifier_log()
        l.close()
        err = map_error(log, manifest)      # the kernel refused a map before any verification
        if err is not None:
            raise err
        raise verifier_error(log, manifest)

    # run ----------------------------------------------------------------------------------
    def load(self, ir: Pipeline, artifact: Artifact) -> Loaded:
        """The compiled program loaded through the verifier, its maps at the pipeline's initial state."""
        return self._open(ir, artifact)

    @staticmethod
    def fill_roms(l: Loaded, artifact: Artifact) -> None:
        """Large tables (read-only maps of their own): filled from the artifact's files, then frozen."""
        for rom in artifact.manifest.get("roms", []):
            with open(os.path.join(artifact.outdir, rom["file"]), "rb") as f:
                data = f.read()
            if len(data) != rom["bytes"]:
                raise InternalError(f"{rom['file']} holds {len(data)} bytes, the map {rom['map']} {rom['bytes']}")
            fd = l.map_fd(rom["map"])
            l.update(fd, 0, data)
            l.freeze(fd)

    def _open(self, ir: Pipeline, artifact: Artifact) -> Loaded:
        l = self._load_checked(artifact.files["object"], artifact.manifest)
        self.fill_roms(l, artifact)
        for st in artifact.manifest.get("states", []):
            if st["init"]:
                fd = l.map_fd(f"nicc_state_{st['name']}")
                width = 8 if st["slot"] == "__u64" else 4
                val = (st["init"] % (1 << (8 * width))).to_bytes(width, "little")
                for i in range(st["size"]):
                    l.update(fd, i, val)
        return l

    def run(self, ir, frames, artifact=None, timestamps=None):
        self.check_available()
        artifact = self.ensure_artifact(ir, artifact)
        results: list[Result] = []
        actions = {o: XDP_ACTION_VALUES[ACTIONS[o]] for o in OUTCOMES}
        with self._open(ir, artifact) as l:
            runner = TestRunner(l)
            for i, f in enumerate(frames):
                f = bytes(f)
                if len(f) < ETH_HLEN:
                    results.append(result("unselected", [f]))
                    continue
                if len(f) > MAX_RUN_FRAME:
                    results.append(result("unhandled", [f]))
                    continue
                outcome, out = runner.outcome(f, i, None if timestamps is None else int(timestamps[i]), actions, "XDP")
                results.append(result(outcome, [out]))
        return finish_host(ir, frames, results, timestamps)

    # live ---------------------------------------------------------------------------------
    def run_live(self, ir: Pipeline, iface: str, mode: str = "generic", duration: float | None = None,
                 interval: float = 1.0, out=None) -> int:
        out = out or sys.stdout
        self.check_available()
        try:
            ifindex = socket.if_nametoindex(iface)
        except OSError:
            raise NiccError(f"no network interface '{iface}'") from None
        art = self.ensure_artifact(ir, None)
        flags = XDP_FLAGS[mode] | XDP_FLAGS_UPDATE_IF_NOEXIST
        l = self._open(ir, art)
        rc = l.bpf.lib.bpf_xdp_attach(ifindex, l.fd, flags, None)
        if rc:
            l.close()
            raise TargetUnavailable(f"cannot attach XDP to {iface} in {mode} mode: {strerror(rc)}")
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            print(f"{ir.name}: attached to {iface} ({mode} mode); Ctrl-C to detach", file=out, flush=True)
            t0, last, shown = time.monotonic(), time.monotonic(), None
            while not stop["now"] and (duration is None or time.monotonic() - t0 < duration):
                time.sleep(min(0.05, interval))
                if time.monotonic() - last >= interval:
                    last = time.monotonic()
                    c = l.counters()
                    if shown is None or (c != shown).any():
                        print(_format_live(c), file=out, flush=True)
                        shown = c
        finally:
            c = l.counters()
            self.last_counters = {k: int(c[v]) for k, v in CODES.items()}
            l.bpf.lib.bpf_xdp_detach(ifindex, XDP_FLAGS[mode], None)
            l.close()
            for s, h in old.items():
                signal.signal(s, h)
            print(f"{ir.name}: detached from {iface}; " + _format_live(c), file=out, flush=True)
        return 0


def _record_bytes(stream) -> int:
    """The size of a stream's record struct as clang lays it out (natural alignment, the busy word first)."""
    off, align = 4, 4
    for _, t in stream.fields:
        if isinstance(t, Scalar):
            a, size = t.nbytes, t.nbytes
        else:                             # one array per struct member
            for _, ft in t.struct.fields:
                off += (-off % ft.nbytes) + t.max * ft.nbytes
                align = max(align, ft.nbytes)
            continue
        off += (-off % a) + size
        align = max(align, a)
    return off + (-off % align)


def live_counters(c) -> dict[str, int]:
    """The contract's counters from the program's per-outcome counts (frames out: all but drops)."""
    codes = {k: int(c[v]) for k, v in CODES.items()}
    codes["tx_frames"] = sum(n for k, n in codes.items() if k != "drop")
    return from_codes(codes)


def _format_live(c) -> str:
    return format_counters(live_counters(c))

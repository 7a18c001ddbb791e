"""The XDP target: eBPF C from :mod:`nicc.backends.xdp`, built with clang, loaded through the kernel verifier.

libbpf (``libbpf.so.1``) is driven through ctypes: open and load the object,
fill maps, run frames with ``bpf_prog_test_run_opts`` (BPF_PROG_TEST_RUN), and
attach to an interface with ``bpf_xdp_attach`` for live traffic.

    t = XdpTarget()
    art = t.compile(ir, "out/dedup")          # C, object, manifest (verified instruction count...)
    results = t.run(ir, frames, art)          # one Result per frame, map state kept across frames
    t.run_live(ir, "eth0", mode="native")     # until Ctrl-C; prints per-verdict counters
    t.bench(ir)                               # ns/packet against a pass-through program

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

import ctypes
import ctypes.util
import errno
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..backends.xdp.renderer import ACTIONS, MARK_RE, NCOUNTERS, XDP_ACTION_VALUES, XdpRenderer, floor_source, generate
from ..compiler.contract import CODES, OUTCOMES, Limits, Result, from_codes, format_counters, result
from ..compiler.errors import InternalError, NiccError, SourceLoc
from ..compiler.interp import Reference
from ..compiler.ir import Pipeline
from .target import Artifact, Target, TargetUnavailable

ETH_HLEN = 14
PAGE = 4096
LINEAR = 3520               # PAGE_SIZE - XDP_PACKET_HEADROOM - skb_shared_info: a test frame's linear part
MAX_RUN_FRAME = LINEAR + 16 * PAGE     # the largest frame run (a 17th fragment is left for growth)
OUT_BUF = LINEAR + 17 * PAGE


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
BPF_ANY = 0


def clang_cmd(src: str, obj: str) -> list[str]:
    """clang for eBPF, with Debian's multiarch include directory (asm/types.h)."""
    arch = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(platform.machine(),
                                                                             f"{platform.machine()}-linux-gnu")
    return ["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Wno-unused-variable", "-Wno-unused-but-set-variable", f"-I/usr/include/{arch}",
            "-c", src, "-o", obj]


# -- libbpf through ctypes ----------------------------------------------------------------------
class TestRunOpts(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("data_in", ctypes.c_void_p), ("data_out", ctypes.c_void_p),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("ctx_in", ctypes.c_void_p), ("ctx_out", ctypes.c_void_p),
                ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
                ("retval", ctypes.c_uint32), ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32), ("batch_size", ctypes.c_uint32)]


_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class Libbpf:
    """The few libbpf calls nicc needs; libbpf's own messages are captured, not printed."""
    _inst: "Libbpf | None" = None

    def __init__(self):
        self.lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        self.libc = ctypes.CDLL(None, use_errno=True)
        L, P, I, U32, S = self.lib, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_char_p
        sig = {
            "bpf_object__open_file": (P, [S, P]), "bpf_object__load": (I, [P]), "bpf_object__close": (None, [P]),
            "bpf_object__next_program": (P, [P, P]), "bpf_object__find_map_by_name": (P, [P, S]),
            "bpf_program__fd": (I, [P]), "bpf_map__set_max_entries": (I, [P, U32]), "bpf_program__set_log_buf": (I, [P, P, ctypes.c_size_t]),
            "bpf_program__set_log_level": (I, [P, U32]), "bpf_map__fd": (I, [P]),
            "bpf_map_update_elem": (I, [I, P, P, ctypes.c_uint64]), "bpf_map_lookup_elem": (I, [I, P, P]),
            "bpf_prog_test_run_opts": (I, [I, P]), "bpf_xdp_attach": (I, [I, I, U32, P]),
            "bpf_xdp_detach": (I, [I, U32, P]), "bpf_obj_get_info_by_fd": (I, [I, P, P]),
            "libbpf_num_possible_cpus": (I, []), "libbpf_set_print": (P, [_PRINT_FN]),
        }
        for name, (res, args) in sig.items():
            fn = getattr(L, name)
            fn.restype, fn.argtypes = res, args
        self.libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        self.messages: list[str] = []
        self._print = _PRINT_FN(self._on_print)      # keep a reference: libbpf holds the pointer
        L.libbpf_set_print(self._print)
        self.ncpus = L.libbpf_num_possible_cpus()

    def _on_print(self, level, fmt, args):
        buf = ctypes.create_string_buffer(4096)
        self.libc.vsnprintf(buf, len(buf), fmt, args)
        self.messages.append(buf.value.decode(errors="replace"))
        del self.messages[:-400]
        return 0

    @classmethod
    def get(cls) -> "Libbpf":
        if cls._inst is None:
            cls._inst = Libbpf()
        return cls._inst


def _err(rc: int) -> str:
    e = -rc if rc < 0 else ctypes.get_errno()
    return f"{errno.errorcode.get(e, e)}: {os.strerror(e)}"


class Loaded:
    """One loaded BPF object: its program fd and maps (close() unloads it)."""

    def __init__(self, obj_path: str, log_size: int = 0):
        self.bpf = Libbpf.get()
        self.log = ctypes.create_string_buffer(log_size) if log_size else None
        self.obj = self.bpf.lib.bpf_object__open_file(obj_path.encode(), None)
        if not self.obj:
            raise TargetUnavailable(f"libbpf cannot open {obj_path}: {_err(-ctypes.get_errno())}")
        self.prog = self.bpf.lib.bpf_object__next_program(self.obj, None)
        scratch = self.bpf.lib.bpf_object__find_map_by_name(self.obj, b"nicc_scratch")
        if scratch:      # one working-memory slot per possible CPU
            self.bpf.lib.bpf_map__set_max_entries(scratch, self.bpf.ncpus)
        if self.log is not None:
            self.bpf.lib.bpf_program__set_log_buf(self.prog, self.log, log_size)
            self.bpf.lib.bpf_program__set_log_level(self.prog, 1)
        del self.bpf.messages[:]
        self.rc = self.bpf.lib.bpf_object__load(self.obj)
        self.fd = self.bpf.lib.bpf_program__fd(self.prog) if self.rc == 0 else -1

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def verifier_log(self) -> str:
        if self.log is not None and self.log.value:
            return self.log.value.decode(errors="replace")
        return "".join(self.bpf.messages)

    def map_fd(self, name: str) -> int:
        m = self.bpf.lib.bpf_object__find_map_by_name(self.obj, name.encode())
        if not m:
            raise InternalError(f"no map {name} in the loaded object")
        return self.bpf.lib.bpf_map__fd(m)

    def update(self, fd: int, key: int, value: bytes) -> None:
        k = ctypes.c_uint32(key)
        rc = self.bpf.lib.bpf_map_update_elem(fd, ctypes.byref(k), value, BPF_ANY)
        if rc:
            raise InternalError(f"map update failed: {_err(rc)}")

    def lookup(self, fd: int, key: int, size: int) -> bytes:
        k = ctypes.c_uint32(key)
        buf = ctypes.create_string_buffer(size)
        rc = self.bpf.lib.bpf_map_lookup_elem(fd, ctypes.byref(k), buf)
        if rc:
            raise InternalError(f"map lookup failed: {_err(rc)}")
        return buf.raw

    def counters(self) -> np.ndarray:
        """Per-outcome packet counts, summed over CPUs."""
        raw = self.lookup(self._cnt_fd(), 0, 8 * NCOUNTERS * self.bpf.ncpus)
        return np.frombuffer(raw, dtype=np.uint64).reshape(self.bpf.ncpus, NCOUNTERS).sum(axis=0)

    def _cnt_fd(self) -> int:
        if not hasattr(self, "_cfd"):
            self._cfd = self.map_fd("nicc_counters")
        return self._cfd

    def verified_insns(self) -> int | None:
        info = ctypes.create_string_buffer(232)
        n = ctypes.c_uint32(232)
        if self.bpf.lib.bpf_obj_get_info_by_fd(self.fd, info, ctypes.byref(n)) or n.value < 220:
            return None
        return int.from_bytes(info.raw[216:220], "little") or None     # struct bpf_prog_info.verified_insns

    def close(self) -> None:
        if self.obj:
            self.bpf.lib.bpf_object__close(self.obj)
            self.obj = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TestRunner:
    """BPF_PROG_TEST_RUN on one program, one frame at a time (repeat=1)."""

    def __init__(self, loaded: Loaded):
        self.l = loaded
        self.out = ctypes.create_string_buffer(OUT_BUF)
        self.opts = TestRunOpts()
        self.opts.sz = ctypes.sizeof(TestRunOpts)

    def run(self, frame: bytes) -> tuple[int, bytes, int]:
        """(XDP action, output frame, kernel-reported duration in ns)."""
        o = self.opts
        inb = ctypes.create_string_buffer(frame, len(frame))
        o.data_in = ctypes.cast(inb, ctypes.c_void_p)
        o.data_size_in = len(frame)
        o.data_out = ctypes.cast(self.out, ctypes.c_void_p)
        o.data_size_out = OUT_BUF
        o.repeat = 1
        rc = self.l.bpf.lib.bpf_prog_test_run_opts(self.l.fd, ctypes.byref(o))
        if rc:
            raise InternalError(f"BPF_PROG_TEST_RUN failed on a {len(frame)}-byte frame: {_err(rc)}")
        return o.retval, self.out.raw[:o.data_size_out], o.duration


# -- the target --------------------------------------------------------------------------------
class XdpTarget(Target):
    name = "xdp"
    description = "XDP/eBPF: clang -target bpf, kernel verifier, BPF_PROG_TEST_RUN, live attach"
    renderer_cls = XdpRenderer
    limits = LIMITS

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
            src, ctx = generate(ir, self.renderer_cls, spill=spill)
            with open(c_path, "w") as f:
                f.write(src)
            p = subprocess.run(clang_cmd(c_path, o_path), capture_output=True, text=True)
            if p.returncode == 0 or "stack limit" not in p.stderr:
                break
        stages = [s.as_dict() for s in ctx["stages"]]
        if p.returncode != 0:
            raise NiccError(f"clang could not build the generated eBPF C ({c_path})", _loc(stages[0]),
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
        if ctx["uses_timestamp"]:
            maps.append(dict(name="nicc_clock", type="array", entries=1, key=4, value=16,
                             contents="fixed time for test runs (fixed=0: bpf_ktime_get_ns)"))
        luts = {t.name: dict(index=str(t.index), out=str(t.out), values=[int(v) for v in t.values])
                for t in ir.tables.values()}
        if luts or ctx["helpers"]:
            rodata = sum(len(t.values) * max(1, t.out.bits // 8) for t in ir.tables.values())
            rodata += 1024 if any("crc32" in h for h in ctx["helpers"]) else 0
            maps.append(dict(name=f"{ir.name}.rodata", type="array (libbpf global data, frozen)", entries=1,
                             key=4, value=rodata, contents="lookup tables (see 'luts')"))
        mem = 0
        for m in maps:
            per = m["value"] * m["entries"]
            mem += per * ncpu if m["type"] == "percpu_array" else per
        manifest = {
            "target": "xdp", "pipeline": ir.name, "port": ir.port, "section": "xdp",
            "program": f"nicc_{ir.name}", "object": os.path.basename(o_path), "source": os.path.basename(c_path),
            "clang": " ".join(clang_cmd(os.path.basename(c_path), os.path.basename(o_path))),
            "actions": ACTIONS, "codes": CODES, "maps": maps, "luts": luts, "stages": stages,
            "states": ctx["states"], "values_in_scratch": spill,
            "resources": {"map_bytes": mem, "possible_cpus": ncpu,
                          "payload_bytes_read": ctx["reads"], "max_payload_out": ctx["out_size"]},
            "notes": [],
        }
        if self._can_load():
            with self._load_checked(o_path, manifest) as l:
                manifest["resources"]["verified_insns"] = l.verified_insns()
                info = _xlated(l)
                if info:
                    manifest["resources"].update(info)
        else:
            manifest["notes"].append(f"not loaded through the verifier here ({self.unavailable()}); "
                                     "no verified instruction count")
        out = ir.max_payload_out()
        if out is not None and 42 + out > LINEAR:
            manifest["notes"].append(f"frames can grow to {42 + out} bytes; a frame grows only into the tailroom of "
                                     f"its last part (test runs: {LINEAR}-byte linear part, {PAGE}-byte fragments), "
                                     f"beyond it it passes unchanged, counted as unhandled")
        m_path = os.path.join(outdir, "manifest.json")
        with open(m_path, "w") as f:
            json.dump(manifest, f, indent=1)
        return Artifact(outdir, {"c": c_path, "object": o_path, "manifest": m_path}, manifest)

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
        m = re.search(r"map '([^']+)': failed to create: (.*)", log)
        if m:          # the kernel refused a map before any verification: say which, and its size
            spec = next((x for x in manifest.get("maps", []) if x["name"] == m.group(1)), None)
            size = f" ({spec['entries']} entries of {spec['value']} bytes)" if spec else ""
            raise NiccError(f"the kernel refused to create BPF map '{m.group(1)}'{size} for pipeline "
                            f"{manifest.get('pipeline', '?')}: {m.group(2).strip()}",
                            _loc(manifest["stages"][0]), notes=["libbpf log (last lines):"] +
                            ["  " + ln for ln in log.splitlines()[-8:]])
        raise verifier_error(log, manifest)

    # run ----------------------------------------------------------------------------------
    def load(self, ir: Pipeline, artifact: Artifact) -> Loaded:
        """The compiled program loaded through the verifier, its maps at the pipeline's initial state."""
        return self._open(ir, artifact)

    def _open(self, ir: Pipeline, artifact: Artifact) -> Loaded:
        l = self._load_checked(artifact.files["object"], artifact.manifest)
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
        with self._open(ir, artifact) as l:
            runner = TestRunner(l)
            clock = l.map_fd("nicc_clock") if artifact.manifest and any(
                m["name"] == "nicc_clock" for m in artifact.manifest["maps"]) else None
            before = l.counters()
            for i, f in enumerate(frames):
                f = bytes(f)
                if len(f) < ETH_HLEN:
                    results.append(result("unselected", [f]))
                    continue
                if len(f) > MAX_RUN_FRAME:
                    results.append(result("unhandled", [f]))
                    continue
                if clock is not None:
                    ts = int(timestamps[i]) if timestamps is not None else 0
                    l.update(clock, 0, (1).to_bytes(8, "little") + (ts % (1 << 64)).to_bytes(8, "little"))
                action, out, _ = runner.run(f)
                after = l.counters()
                changed = np.nonzero(after != before)[0]
                before = after
                if len(changed) != 1:
                    raise InternalError(f"frame {i}: counters changed at {list(changed)}")
                outcome = OUTCOMES[int(changed[0])]
                if XDP_ACTION_VALUES[ACTIONS[outcome]] != action:
                    raise InternalError(f"frame {i}: outcome {outcome} but XDP action {action}")
                results.append(result(outcome, [out]))
        return results

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
            raise TargetUnavailable(f"cannot attach XDP to {iface} in {mode} mode: {_err(rc)}")
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

    # bench --------------------------------------------------------------------------------
    def bench(self, ir: Pipeline, packets: int = 2000, out=None) -> int:
        from .packets import generate as gen_frames
        out = out or sys.stdout
        self.check_available()
        art = self.ensure_artifact(ir, None)
        tmp = art.outdir                              # removed with the artifact
        floor_c, floor_o = os.path.join(tmp, "floor.bpf.c"), os.path.join(tmp, "floor.bpf.o")
        with open(floor_c, "w") as f:
            f.write(floor_source())
        subprocess.run(clang_cmd(floor_c, floor_o), check=True, capture_output=True)
        cand = gen_frames(ir, 400, seed=1)
        ref = Reference(ir).run(cand)
        frames = [f for f, r in zip(cand, ref) if r.reason == "selected" and r.verdict != "drop"]
        frames = frames or [f for f, r in zip(cand, ref) if r.reason == "selected"] or cand
        frames = frames[:64]
        times = {"pipeline": [], "floor": []}
        with self._open(ir, art) as lp, Loaded(floor_o) as lf:
            rp, rf = TestRunner(lp), TestRunner(lf)
            for k in range(200):                     # warm up
                rp.run(frames[k % len(frames)])
                rf.run(frames[k % len(frames)])
            for k in range(packets):
                f = frames[k % len(frames)]
                times["pipeline"].append(rp.run(f)[2])
                times["floor"].append(rf.run(f)[2])
            insns = lp.verified_insns()
        p, fl = statistics.median(times["pipeline"]), statistics.median(times["floor"])
        ratio = p / fl if fl else float("inf")
        sizes = sorted(len(f) for f in frames)
        print(f"{ir.name} on xdp: {p:.0f} ns/packet (median of {packets} BPF_PROG_TEST_RUN calls, repeat=1, "
              f"{len(frames)} distinct valid frames of {sizes[0]}-{sizes[-1]} bytes)", file=out)
        print(f"floor (pass-through XDP program): {fl:.0f} ns/packet", file=out)
        print(f"ratio: {ratio:.1f}x the floor; verified instructions: {insns}", file=out)
        return 0


def _xlated(l: Loaded) -> dict:
    info = ctypes.create_string_buffer(232)
    n = ctypes.c_uint32(232)
    if l.bpf.lib.bpf_obj_get_info_by_fd(l.fd, info, ctypes.byref(n)):
        return {}
    raw = info.raw
    return {"jited_bytes": int.from_bytes(raw[16:20], "little"),
            "xlated_insns": int.from_bytes(raw[20:24], "little") // 8}


def live_counters(c) -> dict[str, int]:
    """The contract's counters from the program's per-outcome counts (frames out: all but drops)."""
    codes = {k: int(c[v]) for k, v in CODES.items()}
    codes["tx_frames"] = sum(n for k, n in codes.items() if k != "drop")
    return from_codes(codes)


def _format_live(c) -> str:
    return format_counters(live_counters(c))


def _loc(stage: dict) -> SourceLoc:
    return SourceLoc(stage["file"], stage["line"], stage.get("col"), stage.get("end_col"))


def verifier_error(log: str, manifest: dict) -> NiccError:
    """The kernel verifier's rejection as an error at the pipeline stage and user line it failed in."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    stages = manifest.get("stages") or [{"op": "pipeline", "file": manifest.get("pipeline", "?"), "line": 0}]
    # the last source line the verifier printed before it gave up names the stage (BTF line info
    # carries the /* @K op file:line */ marker of every generated line)
    stage, src_idx = None, None
    for i, ln in enumerate(lines):
        m = MARK_RE.search(ln)
        if m and ln.lstrip().startswith(";"):
            stage, src_idx = stages[int(m.group(1))] if int(m.group(1)) < len(stages) else None, i
    stage = stage or stages[0]
    where = "framing and commit code of the program" if stage["op"] == "pipeline" else f"stage '{stage['op']}'"
    tail_start = max(0, len(lines) - 12)
    if src_idx is not None:
        tail_start = min(tail_start, src_idx)
    relevant = [ln.rstrip() for ln in lines[tail_start:]][-14:]
    reason = next((ln for ln in reversed(lines) if not ln.lstrip().startswith(";") and
                   not re.match(r"^\d+: \(", ln) and "processed" not in ln and "verification time" not in ln
                   and not ln.startswith("stack depth")), "rejected")
    return NiccError(f"the kernel verifier rejected the xdp program in {where} of pipeline "
                     f"{manifest.get('pipeline', '?')}: {reason.strip()}", _loc(stage),
                     notes=["verifier log (last lines):"] + ["  " + ln for ln in relevant])

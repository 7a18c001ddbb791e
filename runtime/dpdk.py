"""The DPDK target: the generated per-packet function linked with nicc's DPDK runtime, run for real.

Outcomes map to ports in one table (:mod:`nicc.compiler.contract`; also in
``backends/dpdk/runtime/nicc_dp.c``):

    outcome                              port
    -----------------------------------  ------------------------------------------
    pass                                 host port (1) TX   run: a pcap file; live: a TAP interface
    malformed, unselected, unhandled     host port, unchanged
    host (the pipeline's host part)      host port, unchanged; ``run`` completes it (:mod:`.hostpart`)
    transmit                             wire port (0) TX   run: a pcap file; live: the interface itself
    drop                                 none (freed)
    multicast                            one copy per group member, on the member's port (run: all on the
                                         wire port, in member order; the copies per packet are logged)

Frames up to ``NICC_MAX_FRAME`` (9216) bytes are processed; a longer frame, or one whose
new length does not fit its mbuf, passes unchanged as ``unhandled`` (:data:`LIMITS`).

``run`` feeds the capture through ``net_pcap`` (``--no-huge``, a private file
prefix, so runs can happen at the same time) on one lcore, so that frames are
processed in order, stops after the known packet count and rebuilds one Result per
input frame from the binary's outcome log (one byte per packet, in order) and the
two output captures (each in order). ``run_live`` can use several lcores (one queue
pair each; state is updated atomically by the generated code).

    t = DpdkTarget()
    art = t.compile(ir, "out/normalize")          # sources, Makefile, binary, manifest.json
    results = t.run(ir, frames, art)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile

from ..compiler.contract import CODES, OUTCOMES, Limits, Result, counters, result
from ..compiler.ir import Op, Pipeline
from .hostpart import finish as finish_host
from .pcap import read_pcap, write_pcap
from .target import Artifact, Target

MAX_FRAME = 9216            # NICC_MAX_FRAME in nicc_dp.h: the mbuf data room
LIMITS = Limits("dpdk", MAX_FRAME, lambda n, m: m <= MAX_FRAME,
                note=f"frames up to {MAX_FRAME} bytes in and out (one mbuf); longer ones pass unchanged, unhandled")
EAL_MEMORY_MB = 256
# net_af_packet's ring for jumbo frames: a ring frame holds NICC_MAX_FRAME bytes of packet (framesz minus
# the 32 bytes of TPACKET2 header the PMD reserves: it refuses frames larger than an mbuf), and a block
# holds a whole number of frames (the PMD walks frames at framesz strides) in whole pages: 289 pages
# hold 128 frames of 9248 bytes.
AF_PACKET_RING = "blocksz=1183744,framesz=9248,framecnt=512"
CACHE = os.environ.get("NICC_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "nicc")


def _cmd(*args: str) -> str | None:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def eal_args(tag: str, lcores: int = 1) -> list[str]:
    """EAL options for one process: no hugepages, no PCI, no shared config files (--in-memory is
    refused with --no-huge) and a private file prefix, so that runs can happen at the same time.
    One lcore floats over the CPUs this process may use; several are pinned one to a CPU."""
    cpus = usable_cpus()
    if lcores > len(cpus):
        raise ValueError(f"{lcores} lcores asked for, {len(cpus)} CPUs usable here")
    if lcores == 1:
        mapping = f"0@({','.join(map(str, cpus))})"
    else:
        mapping = ",".join(f"{k}@{cpus[k]}" for k in range(lcores))
    prefix = f"nicc_{tag}_{os.getpid()}_{os.urandom(4).hex()}"
    return ["--no-huge", "-m", str(EAL_MEMORY_MB * lcores), "--no-pci", "--no-shconf", "--no-telemetry",
            "--file-prefix", prefix, f"--lcores={mapping}", "--log-level=*:error"]


def remove_runtime_dir(args: list[str]) -> None:
    """The EAL still makes an (empty) runtime directory for the prefix: remove it after the run."""
    prefix = args[args.index("--file-prefix") + 1]
    base = "/var/run/dpdk" if os.geteuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")
    shutil.rmtree(os.path.join(base, prefix), ignore_errors=True)


def parse_json_line(stdout: str, key: str = "pipeline") -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{") and f'"{key}"' in line:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def groups_file(ir: Pipeline, path: str, port_of=lambda member_port: member_port) -> None:
    """The multicast members of ``ir`` (a node's, as bound) in the data plane's groups file
    (``nicc_mcast.h``); ``port_of`` maps a member's port to the ethdev port its copies leave on."""
    dash = lambda v: "-" if v is None else str(v)      # noqa: E731
    lines = ["# nicc multicast groups: group G N SRC_MAC SRC_IP SRC_UDP / member G K PORT MAC IP UDP"]
    for gi, name in enumerate(sorted(ir.groups)):
        g = ir.groups[name]
        src = g.src
        lines.append(f"group {gi} {len(g.members)} {dash(src and src.mac)} {dash(src and src.ip)} "
                     f"{dash(src and src.udp)}")
        for k, m in enumerate(g.members):
            lines.append(f"member {gi} {k} {port_of(m.port)} {dash(m.dst.mac)} {dash(m.dst.ip)} {dash(m.dst.udp)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def state_args(ir: Pipeline) -> list[str]:
    """``--state NAME=VALUE`` for the state arrays ``ir`` starts at other values than 0 (a node's own)."""
    return [f"--state={s.name}={s.init % (1 << s.elem.bits)}" for s in ir.states.values() if s.init]


def frames_blob(frames: list[bytes]) -> bytes:
    """Frames as the bench and harness read them: u32 little-endian length, then the bytes."""
    return b"".join(struct.pack("<I", len(f)) + bytes(f) for f in frames)


def _toolchain_key() -> bytes:
    return ((_cmd("gcc", "--version") or "") + (_cmd("pkg-config", "--cflags", "--libs", "libdpdk") or "")).encode()


def runtime_object() -> str:
    """nicc_dp.o, the static data plane, built once per runtime source and toolchain (cached)."""
    from ..backends.dpdk import RUNTIME, RUNTIME_SOURCES
    h = hashlib.sha256(_toolchain_key())
    for f in RUNTIME_SOURCES:
        with open(os.path.join(RUNTIME, f), "rb") as fh:
            h.update(f.encode() + b"\0" + fh.read())
    d = os.path.join(CACHE, "dpdk-runtime", h.hexdigest()[:24])
    obj = os.path.join(d, "nicc_dp.o")
    if not os.path.exists(obj):
        os.makedirs(d, exist_ok=True)
        tmp = f"{obj}.{os.getpid()}.tmp.o"
        cflags = (_cmd("pkg-config", "--cflags", "libdpdk") or "").split()
        r = subprocess.run(["gcc", "-O2", "-g", "-Wall", "-Wextra", "-Wno-unused-function", *cflags, "-I", RUNTIME,
                            "-c", os.path.join(RUNTIME, "nicc_dp.c"), "-o", tmp], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"building nicc's DPDK runtime failed:\n{r.stdout}{r.stderr}")
        os.replace(tmp, obj)
    return obj


class DpdkTarget(Target):
    name = "dpdk"
    description = "C data plane built against DPDK (pcap / af_packet vdevs, no hugepages needed)"
    limits = LIMITS

    def __init__(self, echo: bool = True):
        self.echo = echo                  # show the binary's JSON counter line on stderr
        self.last_counters: dict | None = None

    # -- availability ------------------------------------------------------------
    def unavailable(self) -> str | None:
        if _cmd("pkg-config", "--exists", "libdpdk") is None:
            return "no DPDK found by pkg-config (install libdpdk-dev)"
        for tool in ("gcc", "make"):
            if shutil.which(tool) is None:
                return f"no {tool} on PATH"
        return None

    # -- compile -------------------------------------------------------------------
    def compile(self, ir: Pipeline, outdir: str) -> Artifact:
        from ..backends.dpdk import RUNTIME, generate, lower
        from ..backends.lowering import explain
        files = generate(ir)                     # NiccError for what the target refuses
        self.check_available()
        os.makedirs(outdir, exist_ok=True)
        for fname, text in files.items():
            path = os.path.join(outdir, fname)
            if not (os.path.exists(path) and open(path).read() == text):
                with open(path, "w") as f:
                    f.write(text)
        key, cached = self._build(ir.name, outdir, files)
        uses_ts = any(n.op is Op.TIMESTAMP for n in ir.body.walk())
        manifest = {
            "target": "dpdk", "pipeline": ir.name, "port": ir.port, "build_key": key, "cached_build": cached,
            "dpdk": _cmd("pkg-config", "--modversion", "libdpdk"), "stateful": ir.stateful,
            "uses_timestamp": uses_ts, "runtime": RUNTIME,
            "ports": {"wire": 0, "host": 1},
            "outcome_ports": {"pass": "host", "malformed": "host", "unselected": "host", "unhandled": "host",
                              "transmit": "wire", "drop": None},
            "outcome_codes": CODES,
            "limits": {"max_frame_in": MAX_FRAME, "max_frame_out": MAX_FRAME},
            "states": {s.name: {"elem": str(s.elem), "size": s.size} for s in ir.states.values()},
            "tables": {t.name: len(t.values) for t in ir.tables.values()},
            "explain": explain(lower(ir)),
            "notes": [f"binary {ir.name}: run with --vdev (net_pcap, net_af_packet, net_ring...); "
                      "port 0 = wire (rx, transmit), port 1 = host (pass)"],
        }
        out = ir.max_payload_out()
        if out is not None and 42 + out > MAX_FRAME:
            manifest["notes"].append(f"frames can grow to {42 + out} bytes; those longer than {MAX_FRAME} (an mbuf) "
                                     f"pass unchanged, counted as unhandled")
        mpath = os.path.join(outdir, "manifest.json")
        with open(mpath, "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        art_files = {
            "source": os.path.join(outdir, f"{ir.name}_process.c"),
            "header": os.path.join(outdir, f"{ir.name}_process.h"),
            "build": os.path.join(outdir, "Makefile"),
            "binary": os.path.join(outdir, ir.name),
            "manifest": mpath,
        }
        return Artifact(outdir, art_files, manifest)

    def _build(self, name: str, outdir: str, files: dict[str, str], goal: str = "") -> tuple[str, bool]:
        """make the binary (or ``goal``) in outdir, reusing a cached build of identical sources.

        The data plane runtime is one object built once (:func:`runtime_object`); each pipeline
        only compiles its per-packet function and links."""
        target = goal or name
        obj = runtime_object()
        h = hashlib.sha256(_toolchain_key() + obj.encode())
        for fname in sorted(files):
            h.update(fname.encode() + b"\0" + files[fname].encode() + b"\0")
        key = h.hexdigest()[:24]
        cached = os.path.join(CACHE, "dpdk", key, target)
        dest = os.path.join(outdir, target)
        if os.path.exists(cached):
            if not os.path.exists(dest) or not _same_file(cached, dest):
                tmp = f"{dest}.{os.getpid()}.tmp"
                shutil.copy2(cached, tmp)
                os.replace(tmp, dest)
            return key, True
        r = subprocess.run(["make", "-s", "-C", outdir, target, "-B", f"NICC_DP_OBJ={obj}", "-o", obj],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"building {target} failed:\n{r.stdout}{r.stderr}")
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        tmp = f"{cached}.{os.getpid()}.tmp"
        shutil.copy2(dest, tmp)
        os.replace(tmp, cached)
        return key, False

    # -- run on a capture ----------------------------------------------------------------
    def run(self, ir: Pipeline, frames: list[bytes], artifact: Artifact | None = None,
            timestamps: list[int] | None = None) -> list[Result]:
        """Every frame in order through the data plane. A frame longer than MAX_FRAME does not enter
        it: it passes unchanged as ``unhandled`` (the data plane would take it as an mbuf chain and pass
        it unchanged too, but the pcap vdev writes at most 16128 bytes of a chain)."""
        self.check_available()
        artifact = self.ensure_artifact(ir, artifact)
        fed = [i for i, f in enumerate(frames) if self.limits.accepts(len(f))]
        results: list[Result] = [result("unhandled", [bytes(f)]) for f in frames]
        self.last_counters = None
        if fed:
            ts = None if timestamps is None else [timestamps[i] for i in fed]
            for i, r in zip(fed, self._run_binary(ir, [frames[i] for i in fed], artifact, ts)):
                results[i] = r
        self.last_counters = {**(self.last_counters or {}), **counters(results)}   # the binary's, and the bypass
        return finish_host(ir, frames, results, timestamps)

    def _run_binary(self, ir: Pipeline, frames: list[bytes], artifact: Artifact,
                    timestamps: list[int] | None) -> list[Result]:
        with tempfile.TemporaryDirectory(prefix="nicc-dpdk-run-") as d:
            pin, pwire, phost, plog, pmlog, pgroups = (os.path.join(d, f) for f in (
                "in.pcap", "wire.pcap", "host.pcap", "outcomes", "copies", "groups"))
            write_pcap(pin, frames)
            args = [artifact.files["binary"], *eal_args(ir.name),
                    f"--vdev=net_pcap0,rx_pcap={pin},tx_pcap={pwire}", f"--vdev=net_pcap1,tx_pcap={phost}",
                    "--", "--count", str(len(frames)), "--idle-ms", "10000", "--log", plog]
            if ir.groups:                     # every member's copy on the wire port, in order
                groups_file(ir, pgroups, lambda _: 0)
                args += ["--groups", pgroups, "--mlog", pmlog]
            args += state_args(ir)
            if artifact.manifest.get("uses_timestamp"):
                pts = os.path.join(d, "ts")
                ts = timestamps if timestamps is not None else [0] * len(frames)
                with open(pts, "wb") as f:
                    f.write(struct.pack(f"<{len(ts)}Q", *ts))
                args += ["--ts", pts]
            try:
                r = subprocess.run(args, capture_output=True, text=True, timeout=120 + len(frames) / 1000)
            finally:
                remove_runtime_dir(args)
            got = parse_json_line(r.stdout)
            if r.returncode != 0 or got is None:
                raise RuntimeError(f"{ir.name} (dpdk) failed with status {r.returncode}:\n"
                                   f"{r.stdout[-2000:]}{r.stderr[-2000:]}")
            with open(plog, "rb") as f:
                log = f.read()
            ncopies = []
            if ir.groups:
                with open(pmlog, "rb") as f:
                    raw = f.read()
                ncopies = list(struct.unpack(f"<{len(raw) // 2}H", raw))
            wire = [p.data for p in read_pcap(pwire)]
            host = [p.data for p in read_pcap(phost)]
        if len(log) != len(frames):
            raise RuntimeError(f"{ir.name} (dpdk): {len(log)} of {len(frames)} packets processed "
                               f"before the idle timeout")
        results = self._results(log, wire, host, ncopies)
        self.last_counters = got
        mine = counters(results)
        if any(got[k] != mine[k] for k in mine):
            raise RuntimeError(f"{ir.name} (dpdk): binary counters {got} disagree with the captures {mine}")
        if self.echo:
            print(f"dpdk: {json.dumps(got)}", file=sys.stderr)
        return results

    @staticmethod
    def _results(log: bytes, wire: list[bytes], host: list[bytes], ncopies: list[int] = ()) -> list[Result]:
        """One Result per outcome byte, taking each frame that left from its port's capture, in order (a
        multicast takes as many copies from the wire capture as the multicast log says it made)."""
        taken = {"wire": 0, "host": 0}
        caps = {"wire": wire, "host": host}
        copies = iter(ncopies)
        out = []
        for code in log:
            if code >= len(OUTCOMES):
                raise RuntimeError(f"dpdk: unknown outcome code {code} in the outcome log")
            outcome = OUTCOMES[code]
            port = None if outcome == "drop" else "wire" if outcome in ("transmit", "multicast") else "host"
            n = next(copies, None) if outcome == "multicast" else 1
            if n is None:
                raise RuntimeError("dpdk: the multicast log has fewer entries than the outcome log's multicasts")
            frames = []
            if port is not None:
                if taken[port] + n > len(caps[port]):
                    raise RuntimeError(f"dpdk: the {port} capture has fewer frames than the outcome log says")
                frames = caps[port][taken[port]:taken[port] + n]
                taken[port] += n
            out.append(result(outcome, frames))
        if taken["wire"] != len(wire) or taken["host"] != len(host):
            raise RuntimeError(f"dpdk: captures hold {len(wire)} + {len(host)} frames, the outcome log "
                               f"{taken['wire']} + {taken['host']}")
        return out

    # -- run live ---------------------------------------------------------------------------
    def run_live(self, ir: Pipeline, iface: str, mode: str = "generic", host: str | None = None,
                 count: int = 0, idle_ms: int = 0, ready=None, artifact: Artifact | None = None,
                 netns: str | None = None, log: str | None = None, lcores: int = 1) -> int:
        """Run on ``iface`` (net_af_packet) until Ctrl-C (or ``count`` packets / ``idle_ms`` idle).

        ``host``: where passed packets go: ``tap:NAME`` (default ``tap:<pipeline>-host``, a TAP
        interface into the kernel), ``pcap:FILE`` or ``null`` (freed). ``mode`` (an XDP attach mode) is ignored.
        ``ready`` is called once the ports are up; ``netns`` runs the binary in that network namespace;
        ``log`` receives the verdict log (one byte per packet, one lcore only). ``lcores`` > 1 runs the
        data plane on that many lcores, one queue pair each (the kernel spreads flows over the
        af_packet queues); packets of one flow keep their order, state is shared atomically."""
        artifact = self.ensure_artifact(ir, artifact)
        host = host or f"tap:{ir.name[:10]}-host"
        kind, _, where = host.partition(":")
        if kind == "tap":
            host_vdev = f"--vdev=net_tap0,iface={where}"
        elif kind == "pcap":
            host_vdev = f"--vdev=net_pcap1,tx_pcap={where}"
        elif kind == "null":                  # counted and freed (net_null), e.g. under load
            host_vdev = "--vdev=net_null1"
        else:
            raise ValueError(f"host must be tap:NAME, pcap:FILE or null, got {host!r}")
        if lcores > 1 and log:
            raise ValueError("the outcome log follows the packets' order: it needs one lcore")
        if lcores > 1 and kind == "pcap":
            host_vdev = ",".join([host_vdev] + [f"tx_pcap={where}.{q}" for q in range(1, lcores)])
        args = [artifact.files["binary"], *eal_args(ir.name, lcores),
                f"--vdev=net_af_packet0,iface={iface},{AF_PACKET_RING}" + (f",qpairs={lcores}" if lcores > 1 else ""),
                host_vdev, "--", "--count", str(count), "--idle-ms", str(idle_ms)] + (["--log", log] if log else [])
        print(f"{ir.name} on dpdk: {iface} (wire, port 0) -> {host} (host, port 1); Ctrl-C stops", file=sys.stderr)
        proc = subprocess.Popen((["ip", "netns", "exec", netns] if netns else []) + args, stdout=subprocess.PIPE,
                                text=True)
        lines: list[str] = []
        try:
            self._follow(proc, lines, ready, ir.name)
        except KeyboardInterrupt:         # Ctrl-C reached the binary too; make sure, then collect its counters
            proc.send_signal(signal.SIGINT)
            lines.extend(proc.stdout.read().splitlines(keepends=True))
            proc.wait()
        finally:
            remove_runtime_dir(args)
        got = parse_json_line("".join(lines))
        if got is None:
            print(f"nicc: dpdk data plane exited with status {proc.returncode}", file=sys.stderr)
            return 1
        self.last_counters = got
        print(f"{ir.name} on dpdk: rx {got['rx']}  pass {got['pass']} (malformed {got['malformed']}, "
              f"unselected {got['unselected']})  transmit {got['transmit']}  drop {got['drop']}  "
              f"-> {got['tx_frames']} frames out")
        print(json.dumps(got))
        return 0 if proc.returncode == 0 else 1

    @staticmethod
    def _follow(proc: subprocess.Popen, lines: list[str], ready, name: str) -> None:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith(f"{name}: ready") and ready is not None:
                ready()
        proc.wait()

    # -- sanitizer harness ---------------------------------------------------------------------
    def build_harness(self, ir: Pipeline, artifact: Artifact) -> str:
        """The per-packet function under ASan + UBSan in a plain C harness (``make sanitize``)."""
        from ..backends.dpdk import generate
        self._build(ir.name, artifact.outdir, generate(ir), goal=f"{ir.name}_harness")
        return os.path.join(artifact.outdir, f"{ir.name}_harness")

    def run_harness(self, ir: Pipeline, artifact: Artifact, frames: list[bytes]) -> tuple[subprocess.CompletedProcess,
                                                                                        list[tuple[str, bytes]]]:
        """Run the sanitizer harness on ``frames``; returns the process and (outcome, frame) per frame."""
        exe = self.build_harness(ir, artifact)
        with tempfile.TemporaryDirectory(prefix="nicc-dpdk-san-") as d:
            cin, cout = os.path.join(d, "corpus"), os.path.join(d, "out")
            with open(cin, "wb") as f:
                f.write(frames_blob(frames))
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1",
                       UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
            p = subprocess.run([exe, cin, cout], capture_output=True, text=True, env=env, timeout=600)
            out = []
            if os.path.exists(cout):
                buf = open(cout, "rb").read()
                off = 0
                while off + 5 <= len(buf):
                    code, n = buf[off], struct.unpack_from("<I", buf, off + 1)[0]
                    out.append((OUTCOMES[code], buf[off + 5:off + 5 + n]))
                    off += 5 + n
        return p, out


def _same_file(a: str, b: str) -> bool:
    sa, sb = os.stat(a), os.stat(b)
    return sa.st_size == sb.st_size and int(sa.st_mtime) == int(sb.st_mtime)

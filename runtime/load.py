"""Live load: each example attached to one end of a veth pair and flooded from the other end.

    python -m nicc.runtime.load --seconds 60                      # make load: E1-E3 on xdp and dpdk
    python -m nicc.runtime.load --seconds 3 --example dedup --target xdp

Two network namespaces made for the run (``nlA<tag>``, ``nlB<tag>``, tag = PID) hold the ends of a
veth pair. trafgen (netsniff-ng) sends the example's generated frames (valid, malformed and
unselected ones, round robin) from A as fast as it can on every CPU; the pipeline runs on B's end:

* **xdp**: ``XdpTarget.run_live`` attaches the program in native mode (veth has native XDP), and
  stops on SIGINT, its documented Ctrl-C, once the generator has finished;
* **dpdk**: ``DpdkTarget.run_live`` with ``net_af_packet`` on B's end and a null host port (passed
  frames are counted and freed), stopping when the wire has been idle for a few seconds.

What was sent is counted three ways and must agree exactly (each case fails otherwise):

    sent (trafgen's own count) == tx_packets + tx_dropped of A's veth (dropped: B's ring was full)
    xdp:  sum of the per-verdict counters of the program == tx_packets
    dpdk: rx == sum of the verdict counters, and rx + kernel_dropped == tx_packets, where
          kernel_dropped is the kernel's count of frames the af_packet ring had no room for

Frames the kernel would alter or hold are left out of the mix: shorter than an Ethernet header,
IPv4 fragments (the af_packet PMD's fanout group reassembles them). After each case the program
must be detached and both namespaces gone. A frame that must grow but finds no tailroom passes
unchanged and is counted under its own name, like every other outcome.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from ..compiler.contract import COUNTER_KEYS, VERDICTS
from .netns import in_netns  # noqa: F401  (re-exported: tests and the TC runtime use it from here too)

EXAMPLES = {"normalize": "E1", "criteo": "E2", "dedup": "E3"}
TARGETS = ("xdp", "dpdk")
MTU = 3000          # the veth pair's MTU (XDP programs are frags-aware; this keeps trafgen's frames standard)
DPDK_IDLE_MS = 6000


class LoadError(Exception):
    """The load run could not be set up (missing tool, namespace refused...)."""


@dataclass
class LoadResult:
    example: str
    target: str
    seconds: float = 0.0                 # how long the generator ran
    sent: int = 0                        # trafgen's count
    delivered: int = 0                   # A's veth tx_packets
    veth_dropped: int = 0                # A's veth tx_dropped
    counters: dict = field(default_factory=dict)
    counted: int = 0                     # frames the data plane accounted for (verdicts + kernel drops)
    kernel_dropped: int = 0              # dpdk: af_packet ring full
    left_attached: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def pps(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        c = " ".join(f"{k} {v}" for k, v in self.counters.items() if isinstance(v, int) and v)
        loss = f", veth dropped {self.veth_dropped}" if self.veth_dropped else ""
        kd = f", ring full {self.kernel_dropped}" if self.target == "dpdk" else ""
        return (f"{EXAMPLES.get(self.example, '')} {self.example:9} {self.target:4}  {self.pps / 1e3:8.1f} kpps "
                f"over {self.seconds:.1f} s: sent {self.sent} = delivered {self.delivered}{loss}; "
                f"counted {self.counted}{kd} [{c}]  {'OK' if self.ok else 'FAIL: ' + '; '.join(self.problems)}")


# -- namespaces and links -------------------------------------------------------------------------
def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise LoadError(f"{' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r


@contextlib.contextmanager
def veth_pair(tag: str | None = None):
    """Namespaces A and B joined by a veth pair (MTU 3000, IPv6 off so nothing else is sent):
    yields (ns_a, dev_a, ns_b, dev_b); deletes both namespaces (and so the pair) afterwards."""
    tag = tag or str(os.getpid() % 1000000)
    na, nb, va, vb = f"nlA{tag}", f"nlB{tag}", f"lga{tag}", f"lgb{tag}"
    made = []
    try:
        for ns in (na, nb):
            sh("ip", "netns", "add", ns)
            made.append(ns)
            for k in ("all", "default"):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{k}.disable_ipv6=1")
        sh("ip", "link", "add", va, "netns", na, "type", "veth", "peer", "name", vb, "netns", nb)
        for ns, dev in ((na, va), (nb, vb)):
            sh("ip", "-n", ns, "link", "set", dev, "mtu", str(MTU), "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield na, va, nb, vb
    finally:
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)


def link_stats(ns: str, dev: str) -> dict:
    return json.loads(sh("ip", "-n", ns, "-s", "-j", "link", "show", dev).stdout)[0]["stats64"]


def xdp_attached(ns: str, dev: str) -> bool:
    info = json.loads(sh("ip", "-n", ns, "-j", "link", "show", dev).stdout)[0]
    return "xdp" in info


# -- the generator ------------------------------------------------------------------------------------
def trafgen_config(frames: list[bytes]) -> str:
    """trafgen's packet configuration: one ``{ ... }`` block of byte literals per frame."""
    return "".join("{ " + ", ".join(f"0x{b:02x}" for b in f) + " }\n" for f in frames)


def load_frames(ir, count: int = 512, seed: int = 0) -> list[bytes]:
    """The example's generated frames the kernel sends as they are (see the module docstring)."""
    from .packets import generate

    def fragment(f: bytes) -> bool:
        return (len(f) >= 34 and f[12:14] == b"\x08\x00" and f[14] >> 4 == 4
                and (f[20] << 8 | f[21]) & 0x3FFF != 0)
    return [f for f in generate(ir, count, seed) if 14 <= len(f) <= MTU + 14 and not fragment(f)]


@dataclass
class Generated:
    sent: int
    seconds: float
    output: str


def run_trafgen(ns: str, dev: str, frames: list[bytes], seconds: float, cpus: int | None = None,
                count: int | None = None) -> Generated:
    """trafgen in namespace ``ns`` on ``dev`` for ``seconds`` (or until ``count`` frames); its own count."""
    if not shutil.which("trafgen"):
        raise LoadError("trafgen is not installed (Debian package netsniff-ng)")
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", prefix="nicc-load-") as cfg:
        cfg.write(trafgen_config(frames))
        cfg.flush()
        args = ["ip", "netns", "exec", ns, "trafgen", "--dev", dev, "--conf", cfg.name, "--cpus",
                str(cpus or os.cpu_count() or 1), "--no-sock-mem", "--notouch-irq", "--jumbo-support"]
        if count:
            args += ["--num", str(count)]
        t0 = time.monotonic()
        # its own process group: trafgen forks one sender per CPU and stops on a group-wide Ctrl-C
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            try:
                out, _ = proc.communicate(timeout=seconds)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGINT)            # stop and print its counts
                out, _ = proc.communicate(timeout=120)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        elapsed = time.monotonic() - t0
    m = re.search(r"(\d+) packets outgoing", out)
    if m is None:
        raise LoadError(f"trafgen failed (status {proc.returncode}):\n{out[-2000:]}")
    return Generated(int(m.group(1)), elapsed, out)


# -- the cases ----------------------------------------------------------------------------------------
def _drive(na: str, va: str, frames, seconds: float, cpus, res: LoadResult, done: threading.Event) -> None:
    """Run the generator and read A's veth counters around it."""
    before = link_stats(na, va)["tx"]
    g = run_trafgen(na, va, frames, seconds, cpus)
    time.sleep(1.0)                                          # let B's side drain what is queued
    after = link_stats(na, va)["tx"]
    res.sent, res.seconds = g.sent, g.seconds
    res.delivered = after["packets"] - before["packets"]
    res.veth_dropped = after["dropped"] - before["dropped"]
    done.set()


def _check(res: LoadResult) -> LoadResult:
    if res.sent == 0:
        res.problems.append("the generator sent nothing")
    if res.sent != res.delivered + res.veth_dropped:
        res.problems.append(f"trafgen says {res.sent} sent, the veth {res.delivered} + {res.veth_dropped} dropped")
    if res.counted != res.delivered:
        res.problems.append(f"the data plane accounts for {res.counted} frames, the veth delivered {res.delivered}")
    if res.left_attached:
        res.problems.append("a program is still attached")
    return res


def run_xdp(ir, frames, seconds: float, cpus: int | None = None, mode: str = "native") -> LoadResult:
    from .xdp import XdpTarget
    t = XdpTarget(echo=False)
    res = LoadResult(ir.name, "xdp")
    with veth_pair() as (na, va, nb, vb):
        attached, aborted, done, failed = threading.Event(), threading.Event(), threading.Event(), []

        class Out(io.StringIO):
            def write(self, s):
                if "attached to" in s:
                    attached.set()
                return super().write(s)

        def drive():
            try:
                if attached.wait(600) and not aborted.is_set():
                    _drive(na, va, frames, seconds, cpus, res, done)
            except BaseException as e:                       # reported by the main thread
                failed.append(e)
            finally:
                if not aborted.is_set():
                    os.kill(os.getpid(), signal.SIGINT)      # run_live's Ctrl-C: detach and stop

        th = threading.Thread(target=drive, daemon=True)
        th.start()
        try:
            with in_netns(nb):
                t.run_live(ir, vb, mode=mode, interval=3600, out=Out())
        except BaseException:
            aborted.set()
            attached.set()
            th.join()
            raise
        th.join()
        if failed:
            raise failed[0]
        res.left_attached = xdp_attached(nb, vb)
    res.counters = dict(t.last_counters)
    res.counted = sum(res.counters.values())
    return _check(res)


def run_dpdk(ir, frames, seconds: float, cpus: int | None = None) -> LoadResult:
    from .dpdk import DpdkTarget
    t = DpdkTarget(echo=False)
    res = LoadResult(ir.name, "dpdk")
    art = t.ensure_artifact(ir, None)
    with veth_pair() as (na, va, nb, vb):
        done, failed = threading.Event(), []

        def drive():
            try:
                _drive(na, va, frames, seconds, cpus, res, done)
            except BaseException as e:
                failed.append(e)

        th = threading.Thread(target=drive, daemon=True)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            rc = t.run_live(ir, vb, host="null", count=0, idle_ms=DPDK_IDLE_MS, ready=th.start, artifact=art,
                            netns=nb)
        if th.ident is not None:
            th.join()
        if failed:
            raise failed[0]
        if rc != 0 or not getattr(t, "last_counters", None):
            raise LoadError(f"the dpdk data plane failed (status {rc}): {err.getvalue()[-2000:]}")
        if not done.is_set():
            res.problems.append("the data plane stopped before the generator finished")
        # the data plane has exited: its af_packet socket is closed, nothing can be attached
        res.left_attached = bool(sh("ip", "netns", "pids", nb).stdout.strip())
    got = t.last_counters
    res.counters = {k: got[k] for k in COUNTER_KEYS if k in got}
    verdicts = sum(got.get(k, 0) for k in VERDICTS)       # "pass" includes malformed, unselected, unhandled, host
    res.kernel_dropped = got.get("rx_kernel_dropped", 0)
    if verdicts != got["rx"]:
        res.problems.append(f"verdict counters sum to {verdicts}, rx is {got['rx']}")
    res.counted = got["rx"] + res.kernel_dropped
    return _check(res)


RUNNERS = {"xdp": run_xdp, "dpdk": run_dpdk}


def unavailable(target: str) -> str | None:
    from .target import get_target
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, XDP, AF_PACKET)"
    for tool in ("ip", "trafgen", "sysctl"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return get_target(target).unavailable()


def run_case(example: str, target: str, seconds: float, cpus: int | None = None,
             examples_dir: str | None = None) -> LoadResult:
    from ..compiler.passes import run_passes
    from ..dsl import load
    d = examples_dir or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    ir = run_passes(load(os.path.join(d, f"{example}.py")).trace())
    return RUNNERS[target](ir, load_frames(ir), seconds, cpus)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nicc.runtime.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60, help="how long the generator runs per case (default 60)")
    p.add_argument("--example", action="append", choices=sorted(EXAMPLES), help="example(s) (default: all)")
    p.add_argument("--target", action="append", choices=TARGETS, help="target(s) (default: xdp and dpdk)")
    p.add_argument("--cpus", type=int, help="trafgen processes (default: one per CPU)")
    p.add_argument("--examples-dir", help="where the example pipelines are (default: the repository's)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = p.parse_args(argv)
    results, rc = [], 0
    for target in a.target or TARGETS:
        why = unavailable(target)
        if why:
            print(f"load: target {target} unavailable: {why}", file=sys.stderr)
            rc = 3
            continue
        for ex in a.example or list(EXAMPLES):
            r = run_case(ex, target, a.seconds, a.cpus, a.examples_dir)
            print(r.line(), flush=True)
            results.append(r)
            rc = rc or (0 if r.ok else 1)
    if a.json:
        with open(a.json, "w") as f:
            json.dump([dict(r.__dict__, pps=r.pps, ok=r.ok) for r in results], f, indent=1)
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""The TC target: the eBPF backend's TC dialect (:mod:`nicc.backends.tc`), loaded and attached with libbpf.

    t = TcTarget()
    art = t.compile(ir, "out/relay")                    # C, object, manifest (verified through the kernel)
    results = t.run(node_ir, frames, art)               # one Result per frame; copies captured in order
    dp = t.attach(node_ir, art, "eth0", "ingress", ports={0: Port(idx), 1: Port(idx, ingress=True)},
                  netns="nicc1234-5")                   # live: clsact + cls_bpf (direct action)
    dp.counters(); dp.pin_state("stamp_ns", "/sys/fs/bpf/nicc1234-stamp"); dp.detach()

Per node, the loader fills the maps from the IR it is given (a node's pipeline:
:func:`nicc.compiler.groups.bind_groups`): state arrays at their initial values, and for
each multicast group its member count, source addresses and members, each member's port
translated to an interface (``ports``: port number -> :class:`Port`, an ifindex and whether
the copy goes *into* that interface's stack, ``BPF_F_INGRESS``).

``run`` executes every frame with BPF_PROG_TEST_RUN (state carried from frame to frame); frames
the kernel cannot build an skb of (an IPv4 or IPv6 EtherType without the whole IP header) are
never selected by the rules, and pass unchanged without a run (any frame under 42 bytes, and
unselected ones under 54), and frames longer than :data:`MAX_FRAME` (one
linear skb in a page) pass unchanged as unhandled, as :data:`LIMITS` tells the reference. The
copies of a multicast are real: ``bpf_clone_redirect`` sends them out of one end of a veth
pair in a private network namespace made for the run, and a packet socket on the other end
reads them back, in order; their count is the program's own (``nicc_copies``). Every member
port goes to that interface during a run, so the copies and their order are the program's,
whatever the ports.
"""
from __future__ import annotations

import ctypes
import os
import socket
import struct
import subprocess
import time
from dataclasses import dataclass

import numpy as np

from ..backends.tc.renderer import ACTIONS, TC_ACTION_VALUES, TcRenderer, generate
from ..compiler import framing
from ..compiler.contract import CODES, OUTCOMES, Limits, Result, result
from ..compiler.errors import InternalError, NiccError
from ..compiler.groups import field_value
from ..compiler.ir import Pipeline
from .hostpart import finish as finish_host
from .libbpf import Libbpf, Loaded, TestRunner, strerror
from .load import in_netns
from .target import Artifact, TargetUnavailable
from .xdp import XdpTarget

BPF_F_INGRESS = 1
BPF_TC_INGRESS, BPF_TC_EGRESS = 1, 2
MAX_FRAME = 3712                    # BPF_PROG_TEST_RUN: one page less skb headroom (64) and shared info (320)
# bpf_skb_change_tail grows an skb up to its device's MTU + hard header (__bpf_skb_max_len); a test run's
# skb is on the loopback device (MTU 65536)
MAX_GROWN = 65536 + 14
LIMITS = Limits("tc", MAX_FRAME, lambda n, m: m <= MAX_GROWN,
                note=f"test runs take frames up to {MAX_FRAME} bytes (BPF_PROG_TEST_RUN builds one linear skb in a "
                     f"page); bpf_skb_change_tail grows them up to {MAX_GROWN} (the loopback device's MTU)")
SHORT = 42                          # frames shorter than Ethernet + IPv4 + UDP: unselected by the rules
SHORT_V6 = 54                       # the kernel builds no skb of an IPv6 frame without its 40-byte header
COPY_WAIT_S = 30.0                  # a copy that has not reached the capture socket by then is a fault
READY_WAIT_S = 30.0                 # a veth pair not up by then is a fault of the machine


@dataclass(frozen=True)
class Port:
    """Where copies to a member port go: out of ``ifindex`` (or into its stack: ``ingress``)."""
    ifindex: int
    ingress: bool = False


class TcHook(ctypes.Structure):
    """struct bpf_tc_hook (libbpf 1.x)."""
    _fields_ = [("sz", ctypes.c_size_t), ("ifindex", ctypes.c_int), ("attach_point", ctypes.c_int),
                ("parent", ctypes.c_uint32)]


class TcOpts(ctypes.Structure):
    """struct bpf_tc_opts (libbpf 1.x)."""
    _fields_ = [("sz", ctypes.c_size_t), ("prog_fd", ctypes.c_int), ("flags", ctypes.c_uint32),
                ("prog_id", ctypes.c_uint32), ("handle", ctypes.c_uint32), ("priority", ctypes.c_uint32)]


def _lib():
    lib = Libbpf.get().lib
    if not getattr(lib, "_nicc_tc", False):
        P, I = ctypes.c_void_p, ctypes.c_int
        for name, (res, args) in {"bpf_tc_hook_create": (I, [P]), "bpf_tc_hook_destroy": (I, [P]),
                                  "bpf_tc_attach": (I, [P, P]), "bpf_tc_detach": (I, [P, P]),
                                  "bpf_obj_pin": (I, [I, ctypes.c_char_p])}.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        lib._nicc_tc = True
    return lib


def group_entry(g) -> bytes:
    """struct nicc_group: member count, source MAC, UDP port, IPv4 address (network order)."""
    src = g.src
    mac = bytes.fromhex(src.mac.replace(":", "")) if src is not None and src.mac else bytes(6)
    udp = src.udp if src is not None and src.udp else 0
    ip = field_value("ip", src.ip) if src is not None and src.ip else 0
    return struct.pack("<I6s", len(g.members), mac) + struct.pack("!H", udp) + struct.pack("!I", ip)


def member_entry(m, port: Port) -> bytes:
    """struct nicc_member: ifindex, flags, destination MAC, UDP port, IPv4 address (network order)."""
    d = m.dst
    mac = bytes.fromhex(d.mac.replace(":", "")) if d.mac else bytes(6)
    return (struct.pack("<II", port.ifindex, BPF_F_INGRESS if port.ingress else 0) + mac
            + struct.pack("!H", d.udp or 0) + struct.pack("!I", field_value("ip", d.ip) if d.ip else 0))


class TcTarget(XdpTarget):
    name = "tc"
    description = "TC/eBPF (cls_bpf): clang -target bpf, kernel verifier, BPF_PROG_TEST_RUN, clsact attach; " \
                  "multicast by bpf_clone_redirect"
    renderer_cls = TcRenderer
    limits = LIMITS

    def growth_note(self, size: int) -> str:
        return (f"frames can grow to {size} bytes: bpf_skb_change_tail makes the room (up to the device's MTU; "
                f"{MAX_GROWN} bytes in test runs, on the loopback device); where it cannot, the frame passes "
                "unchanged, counted as unhandled")
    section = "tc"
    actions = ACTIONS

    def generate(self, ir: Pipeline, spill: bool) -> tuple[str, dict]:
        return generate(ir, spill)

    def extra_maps(self, ctx: dict) -> list[dict]:
        maps = []
        for g in ctx["groups"]:
            maps.append(dict(name=f"nicc_group_{g['name']}", type="array", entries=1, key=4, value=16,
                             contents=f"group @{g['name']}: member count and source addresses (loaded per node)"))
            maps.append(dict(name=f"nicc_members_{g['name']}", type="array", entries=g["cap"], key=4, value=20,
                             contents=f"group @{g['name']}: members in send order (loaded per node)"))
        if ctx["groups"]:
            maps.append(dict(name="nicc_copies", type="percpu_array", entries=1, key=4, value=16,
                             contents="multicast copies sent and failed"))
        return maps

    # -- load -----------------------------------------------------------------------------------
    def load(self, ir: Pipeline, artifact: Artifact, ports: dict[int, Port] | None = None) -> Loaded:
        """The program loaded with ``ir``'s state and groups (a node's: its members, via ``ports``)."""
        l = self._load_checked(artifact.files["object"], artifact.manifest)
        try:
            self.fill_roms(l, artifact)
            for st in ir.states.values():
                if st.init:
                    width = 8 if st.elem.bits == 64 else 4
                    fd, val = l.map_fd(f"nicc_state_{st.name}"), (st.init % (1 << (8 * width))).to_bytes(width,
                                                                                                        "little")
                    for i in range(st.size):
                        l.update(fd, i, val)
            for g in ir.groups.values():
                missing = sorted({m.port for m in g.members} - set(ports or {}))
                if missing:
                    raise NiccError(f"group '{g.name}': no interface for member port(s) {missing} "
                                    f"(ports: {sorted(ports or {})})", g.loc)
                fd = l.map_fd(f"nicc_members_{g.name}")
                for k, m in enumerate(g.members):
                    l.update(fd, k, member_entry(m, ports[m.port]))
                l.update(l.map_fd(f"nicc_group_{g.name}"), 0, group_entry(g))
        except BaseException:
            l.close()
            raise
        return l

    def copies_sent(self, l: Loaded) -> tuple[int, int]:
        if not l.has_map("nicc_copies"):
            return 0, 0
        raw = l.lookup(l.map_fd("nicc_copies"), 0, 16 * l.bpf.ncpus)
        a = np.frombuffer(raw, dtype=np.uint64).reshape(l.bpf.ncpus, 2).sum(axis=0)
        return int(a[0]), int(a[1])

    # -- run ------------------------------------------------------------------------------------
    def run(self, ir, frames, artifact=None, timestamps=None):
        self.check_available()
        artifact = self.ensure_artifact(ir, artifact)
        with CaptureNetns() as cap:
            with in_netns(cap.ns):
                ports = {m.port: Port(cap.ifindex) for g in ir.groups.values() for m in g.members}
                l = self.load(ir, artifact, ports)
            try:
                return finish_host(ir, frames, self._run(ir, l, artifact, frames, timestamps, cap), timestamps)
            finally:
                l.close()

    def _run(self, ir, l, artifact, frames, timestamps, cap) -> list[Result]:
        runner = TestRunner(l)
        actions = {o: TC_ACTION_VALUES[ACTIONS[o]] for o in OUTCOMES}
        sent_before = self.copies_sent(l)[0]
        results: list[Result] = []
        with in_netns(cap.ns):
            for i, f in enumerate(frames):
                f = bytes(f)
                if len(f) < SHORT or (len(f) < SHORT_V6 and framing.udp_payload_len(f, ir.port) is None):
                    results.append(result("unselected", [f]))   # the kernel refuses some as an skb; never selected
                    continue
                if len(f) > MAX_FRAME:
                    results.append(result("unhandled", [f]))
                    continue
                outcome, out = runner.outcome(f, i, None if timestamps is None else int(timestamps[i]), actions, "TC")
                if outcome == "multicast":
                    sent, failed = self.copies_sent(l)
                    if failed:
                        raise InternalError(f"frame {i}: bpf_clone_redirect failed {failed} time(s)")
                    results.append(result("multicast", cap.read(sent - sent_before)))
                    sent_before = sent
                else:
                    results.append(result(outcome, [out]))
        extra = cap.read_rest()
        if extra:
            raise InternalError(f"{len(extra)} frame(s) reached the capture interface that no copy explains")
        return results

    # -- live -----------------------------------------------------------------------------------
    def attach(self, ir: Pipeline, artifact: Artifact, iface: str, direction: str,
               ports: dict[int, Port] | None = None, netns: str | None = None) -> "Attached":
        """Load ``ir`` (a node's pipeline) and attach it to ``iface``'s ``direction`` (ingress, egress)."""
        self.check_available()
        with in_netns(netns) if netns else _nothing():
            l = self.load(ir, artifact, ports)
            try:
                return Attached(l, socket.if_nametoindex(iface), direction, netns)
            except BaseException:
                l.close()
                raise


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Attached:
    """A program attached to an interface with clsact (created here, destroyed by ``detach``)."""

    def __init__(self, l: Loaded, ifindex: int, direction: str, netns: str | None):
        if direction not in ("ingress", "egress"):
            raise ValueError(f"direction must be ingress or egress, got {direction!r}")
        self.l, self.ifindex, self.direction, self.netns = l, ifindex, direction, netns
        lib = _lib()
        self.hook = TcHook(ctypes.sizeof(TcHook), ifindex, BPF_TC_INGRESS if direction == "ingress" else BPF_TC_EGRESS, 0)
        rc = lib.bpf_tc_hook_create(ctypes.byref(self.hook))
        if rc and rc != -17:                           # -EEXIST: clsact is there already
            raise TargetUnavailable(f"cannot create the clsact hook on ifindex {ifindex}: {strerror(rc)}")
        self.opts = TcOpts(ctypes.sizeof(TcOpts), l.fd, 0, 0, 0, 0)
        rc = lib.bpf_tc_attach(ctypes.byref(self.hook), ctypes.byref(self.opts))
        if rc:
            raise TargetUnavailable(f"cannot attach the TC program to ifindex {ifindex} ({direction}): {strerror(rc)}")

    def counters(self) -> dict[str, int]:
        c = self.l.counters()
        out = {k: int(c[v]) for k, v in CODES.items()}
        out["copies"], out["copies_failed"] = TcTarget.copies_sent(None, self.l)
        return out

    def pin_state(self, state: str, path: str) -> None:
        """Pin a state array's map (the control plane writes it, e.g. the root's stamp_ns)."""
        rc = _lib().bpf_obj_pin(self.l.map_fd(f"nicc_state_{state}"), path.encode())
        if rc:
            raise TargetUnavailable(f"cannot pin state {state} at {path}: {strerror(rc)}")

    def detach(self) -> None:
        if self.l is None:
            return
        with in_netns(self.netns) if self.netns else _nothing():
            opts = TcOpts(ctypes.sizeof(TcOpts), 0, 0, 0, self.opts.handle, self.opts.priority)
            _lib().bpf_tc_detach(ctypes.byref(self.hook), ctypes.byref(opts))
        self.l.close()
        self.l = None


class CaptureNetns:
    """A private network namespace with a veth pair: copies go out of ``dev``; ``read`` takes them at the peer."""

    def __init__(self):
        self.ns = f"nicctc{os.getpid()}x{int(time.monotonic_ns() % 1_000_000)}"
        self.sock = None

    def __enter__(self) -> "CaptureNetns":
        sh = lambda *a: subprocess.run(list(a), capture_output=True, text=True)      # noqa: E731
        r = sh("ip", "netns", "add", self.ns)
        if r.returncode:
            raise TargetUnavailable(f"target tc cannot make a network namespace for a run: {r.stderr.strip()}")
        try:
            for cmd in (["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
                        ["ip", "link", "add", "tcout", "mtu", "9100", "type", "veth", "peer", "name", "tccap",
                         "mtu", "9100"],
                        ["ip", "link", "set", "tcout", "up"], ["ip", "link", "set", "tccap", "up"]):
                r = sh("ip", "netns", "exec", self.ns, *cmd)
                if r.returncode:
                    raise TargetUnavailable(f"target tc: {' '.join(cmd)}: {r.stderr.strip()}")
            self._wait_ready(sh)
            with in_netns(self.ns):
                self.ifindex = socket.if_nametoindex("tcout")
                self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
                self.sock.bind(("tccap", 0))
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, sh) -> None:
        """Until both ends are up with their qdisc attached: the kernel activates a device's qdisc only
        when linkwatch sees its carrier (later on a busy machine); before that it has noop_qdisc, which
        drops every frame, so a bpf_clone_redirect to it fails."""
        deadline = time.monotonic() + READY_WAIT_S
        while True:
            shown = [sh("ip", "-n", self.ns, "link", "show", dev).stdout for dev in ("tcout", "tccap")]
            if all("state UP" in out and "qdisc noop" not in out for out in shown):
                return
            if time.monotonic() > deadline:
                raise TargetUnavailable(f"target tc: the capture veth pair did not come up: {' '.join(shown)}")
            time.sleep(0.01)

    def read(self, n: int) -> list[bytes]:
        out = []
        self.sock.settimeout(COPY_WAIT_S)
        while len(out) < n:
            try:
                out.append(self.sock.recv(65536))
            except socket.timeout:
                raise InternalError(f"{len(out)} of {n} multicast copies reached the capture interface") from None
        return out

    def read_rest(self) -> list[bytes]:
        out = []
        self.sock.settimeout(0.05)
        try:
            while True:
                out.append(self.sock.recv(65536))
        except socket.timeout:
            return out

    def __exit__(self, *exc) -> None:
        if self.sock is not None:
            self.sock.close()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)

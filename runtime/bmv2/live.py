"""Live mode: the switch on a network interface, nicc as the host behind its host-facing ports.

``nicc run P --target bmv2 --iface IF [--host pcap:FILE | tap:NAME]`` runs the
switch with port 0 on IF (transmit goes back out there) and its four
host-facing ports (64 pass, 65 host part, 66 malformed, 67 unselected) on veth
pairs it creates (``nb<pid>h<port>``, removed afterwards). nicc reads their
other ends: frames of 64, 66 and 67 go to the host (a pcap file, or a TAP
interface into the kernel); frames of 65 are completed with the reference
semantics (the host part of a host/NIC split) and then go to the host, back
out of IF (transmit) or nowhere (drop). The switch, its veths and this host
side run in one session (:mod:`.session`) in IF's network namespace.

Limits: one wire interface, so pipelines with multicast groups are refused
here; frames of different verdicts reach the host through different ports and
so may arrive out of their input order (order holds within a verdict).
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from ...backends.p4 import HOST_PART_PORT, HOST_PORT, MALFORMED_PORT, UNSELECTED_PORT
from ...backends.p4.rules import (DROP_SLOT, HOST_PART_SLOT, MALFORMED_SLOT, MCAST_SLOT, PASS_SLOT,
                                  TRANSMIT_SLOT, UNSELECTED_SLOT)
from ...compiler.ir import Pipeline
from ..target import Artifact
from .runner import WIRE_PORT
from .tools import SWITCH, SWITCH_GRPC

HOST_PORTS = (HOST_PORT, HOST_PART_PORT, MALFORMED_PORT, UNSELECTED_PORT)
ETH_P_ALL = 0x0003
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 263, 8, 0x10, 0x40
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000


# -- the parent side ---------------------------------------------------------------------------------

def run_live(target, ir: Pipeline, artifact: Artifact, iface: str, host: str | None = None, count: int = 0,
             netns: str | None = None, ready=None, out=None) -> int:
    """Serve until Ctrl-C (or ``count`` frames through the switch and their host copies delivered).
    ``netns``: the named network namespace IF lives in; ``ready(counted)`` is called once the switch is
    configured, with a function giving how many frames the switch has counted so far (a sender can keep
    its frames in flight below what the switch's capture ring holds)."""
    out = out or sys.stdout
    with open(artifact.files["runtime"]) as f:
        state = json.load(f)
    if state["multicast"]:
        from ..target import TargetUnavailable
        raise TargetUnavailable("bmv2 live mode attaches one wire interface; a pipeline with multicast groups "
                                "needs one per group port (not supported yet)")
    host = host or f"pcap:{ir.name}-host.pcap"
    kind, _, where = host.partition(":")
    if kind not in ("pcap", "tap") or not where:
        from ..target import TargetUnavailable
        raise TargetUnavailable(f"--host must be pcap:FILE or tap:NAME, not '{host}'")
    if kind == "pcap":
        where = os.path.abspath(where)
    tc = target.toolchain()
    control = target.control_path()
    work = tempfile.mkdtemp(prefix="nicc-bmv2-live-")
    c = state["counters"][0]
    spec = {"mode": "live", "workdir": work, "grpc": control == "p4runtime",
            "switch": tc.tool(SWITCH_GRPC if control == "p4runtime" else SWITCH),
            "json": os.path.abspath(artifact.files["json"]), "p4info": os.path.abspath(artifact.files["p4info"]),
            "site_packages": tc.site_packages(), "state": state, "groups": [], "wire": iface,
            "host": [kind, where], "count": count, "counter": {"name": c["name"], "size": c["size"]},
            "queue_depth": 4096, "ir": str(ir), "tag": f"{os.getpid() % 100000}"}
    with open(os.path.join(work, "spec.json"), "w") as f:
        json.dump(spec, f)
    args = (["ip", "netns", "exec", netns] if netns else []) + \
        [sys.executable, "-m", "nicc.runtime.bmv2.session", os.path.join(work, "spec.json")]
    how = "simple_switch_grpc, P4Runtime" if control == "p4runtime" else "simple_switch, Thrift"
    print(f"{ir.name} on bmv2 ({how}): {iface} is port 0; passed frames -> {host}; Ctrl-C stops", file=sys.stderr)
    proc = subprocess.Popen(args, env=tc.env(), start_new_session=True)
    ready_file = os.path.join(work, "ready")
    try:
        while ready is not None and not os.path.exists(ready_file) and proc.poll() is None:
            time.sleep(0.05)
        if ready is not None and proc.poll() is None:
            ready(lambda: _progress(work))
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    try:
        with open(os.path.join(work, "result.json")) as f:
            report = json.load(f)
    except FileNotFoundError:
        report = {"ok": False, "error": f"the session exited with status {proc.returncode}"}
    target.last = report
    if not report.get("ok"):
        print(f"nicc: bmv2 live run failed: {report.get('error')} (run directory: {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)          # kept (and named above) only when the run failed
    got = report["totals"]
    print(f"{ir.name} on bmv2: rx {got['rx']}  pass {got['pass']} (malformed {got['malformed']}, unselected "
          f"{got['unselected']})  transmit {got['transmit']}  drop {got['drop']}  multicast {got['multicast']}  "
          f"-> {got['tx_frames']} frames out", file=out)
    print(json.dumps(got), file=out)
    return 0


def _progress(work: str) -> int:
    try:
        with open(os.path.join(work, "progress")) as f:
            return int(f.read() or 0)
    except (FileNotFoundError, ValueError):
        return 0


# -- the session side (inside the namespace) ------------------------------------------------------------

def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


def prepare(spec: dict, made: list[str]) -> None:
    """Create the host-facing veth pairs (each one appended to ``made`` as it is); sets spec["ifaces"]."""
    tag = spec["tag"]
    ifaces = {WIRE_PORT: spec["wire"]}
    for p in HOST_PORTS:
        sw, peer = f"nb{tag}s{p}", f"nb{tag}h{p}"
        _ip("link", "add", sw, "type", "veth", "peer", "name", peer)
        made.append(sw)
        for name in (sw, peer):
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1"], capture_output=True)
            _ip("link", "set", name, "mtu", "9000", "up")
        ifaces[p] = sw
    spec["ifaces"] = ifaces


def cleanup(made: list[str]) -> None:
    for name in made:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


class HostSink:
    """Where frames for the host go: a pcap file (flushed per frame) or a TAP interface."""

    def __init__(self, kind: str, where: str):
        from .session import PCAP_HEADER
        self.kind = kind
        if kind == "pcap":
            self.f = open(where, "wb")
            self.f.write(PCAP_HEADER)
        else:
            self.fd = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", where.encode(), IFF_TAP | IFF_NO_PI))
            _ip("link", "set", where, "up")

    def put(self, frame: bytes) -> None:
        if self.kind == "pcap":
            t = time.time_ns()
            self.f.write(struct.pack("<IIII", t // 10**9, t % 10**9 // 1000, len(frame), len(frame)) + frame)
            self.f.flush()
        else:
            os.write(self.fd, frame)

    def close(self) -> None:
        if self.kind == "pcap":
            self.f.close()
        else:
            os.close(self.fd)


def recv_frame(s: socket.socket) -> bytes:
    """A frame as it was on the wire: the kernel hands a received VLAN tag over on the side
    (PACKET_AUXDATA); put it back after the MAC addresses."""
    data, anc, _, _ = s.recvmsg(65535, socket.CMSG_SPACE(32))
    for level, kind, blob in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(blob) >= 20:
            status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", blob[:20])   # struct tpacket_auxdata
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                return data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
    return data


def serve(spec: dict, proc, log: str) -> dict:
    from ...compiler.interp import counters
    from . import host_part_results
    from ...compiler.parser import parse_pipeline
    from .session import Controls, Watchdog
    ir = parse_pipeline(spec["ir"], "<live>")
    socks = {}
    for p in HOST_PORTS:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        s.bind((f"nb{spec['tag']}h{p}", 0))
        socks[s.fileno()] = (p, s)
    wire = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)      # protocol 0: sends, receives nothing
    wire.bind((spec["wire"], 0))
    sink = HostSink(*spec["host"])
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    ctl = Controls(spec, proc)
    done_host = []                                  # host-part results
    got = {p: 0 for p in HOST_PORTS}
    try:
        cfg = ctl.configure()
        open(os.path.join(spec["workdir"], "ready"), "w").close()
        dog, n = Watchdog(proc, log), spec["count"]
        c = ctl.counters()
        while not stop["now"]:
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            for fd in ready:
                port, s = socks[fd]
                frame = recv_frame(s)
                got[port] += 1
                if port != HOST_PART_PORT:
                    sink.put(frame)
                    continue
                r = host_part_results(ir, [frame])[0]
                done_host.append(r)
                for f in r.frames:
                    (wire.send if r.verdict == "transmit" else sink.put)(f)
            c, seen = ctl.counters(), sum(c)
            if sum(c) != seen:
                tmp = os.path.join(spec["workdir"], "progress.tmp")
                with open(tmp, "w") as f:
                    f.write(str(sum(c)))
                os.replace(tmp, os.path.join(spec["workdir"], "progress"))
            if n and sum(c) >= n and got == {HOST_PORT: c[PASS_SLOT], HOST_PART_PORT: c[HOST_PART_SLOT],
                                              MALFORMED_PORT: c[MALFORMED_SLOT], UNSELECTED_PORT: c[UNSELECTED_SLOT]}:
                break
            if n:
                dog.check((sum(c), tuple(got.values())))
            elif proc.poll() is not None:
                dog.check(None)
        hp = counters(done_host)
        totals = {"rx": sum(c), "pass": c[PASS_SLOT] + c[MALFORMED_SLOT] + c[UNSELECTED_SLOT] + hp["pass"],
                  "transmit": c[TRANSMIT_SLOT] + hp["transmit"], "drop": c[DROP_SLOT] + hp["drop"],
                  "multicast": sum(c[MCAST_SLOT:]), "malformed": c[MALFORMED_SLOT] + hp["malformed"],
                  "unselected": c[UNSELECTED_SLOT] + hp["unselected"]}
        totals["tx_frames"] = (c[PASS_SLOT] + c[MALFORMED_SLOT] + c[UNSELECTED_SLOT] + c[TRANSMIT_SLOT]
                               + hp["tx_frames"])
        return {"counters": c, "configure": cfg, "host_ports": got, "totals": totals}
    finally:
        ctl.close()
        sink.close()
        for _, s in socks.values():
            s.close()
        wire.close()

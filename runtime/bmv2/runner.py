"""Running frames through real simple_switch, and mapping every output back to its input frame.

Each run starts one switch in a private network namespace (``unshare -n``: its
Thrift and gRPC ports are its own, so runs can go in parallel, and the
namespace disappears with the switch), through :mod:`.session`.

**Exact mapping by tags.** Before a frame goes in, bytes 6-11 (the Ethernet
source address) are replaced by a tag: ``02`` (a locally administered address)
and the frame's index in 5 bytes. The generated program never reads or writes
the Ethernet addresses, so every copy the switch lets out carries the tag of
the frame it came from; the original bytes are put back on the way out.
Frames shorter than 12 bytes cannot carry a tag; the program can only pass
them unchanged, so each such output is the earliest untagged input with the
same bytes.

**Copies that rewrite the Ethernet source** (a group with ``source=(mac, ...)``) lose that
tag, so frames that look like IPv4 also carry the index in the IPv4 identification (low 16
bits) and TTL (high 8 bits), with the header checksum adjusted so that its validity is
unchanged (RFC 1624). On the way out both are put back; the checksum is recomputed where
the switch recomputed it (it is valid for the tagged header) and restored otherwise. A
frame whose checksum is the other one's-complement zero of a valid one cannot be told
apart that way and is not IP-tagged.

**Ports during a run.** Frames enter on port 0 (so transmit comes back there);
the verdict ports are 64-67 as in the program; multicast copies go to ports
``MCAST_BASE + k`` (the k-th group port overall) instead of the user's ports,
so that a copy's group and position are known from its port.
"""
from __future__ import annotations

import json
import struct
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from ...backends.p4 import HOST_PART_PORT, HOST_PORT, MALFORMED_PORT, UNSELECTED_PORT
from ...backends.p4.rules import (DROP_SLOT, HOST_PART_SLOT, MALFORMED_SLOT, MCAST_SLOT, PASS_SLOT, TRANSMIT_SLOT,
                                  UNSELECTED_SLOT)
from ..pcap import read_pcap, write_pcap
from ..target import TargetUnavailable
from .tools import SWITCH, SWITCH_GRPC, Toolchain, netns_prefix

WIRE_PORT = 0
MCAST_BASE = 100
TAG_MARK = 0x02
MAX_RUN_PORT = 510
# Frames in the switch at once (session.run_file_mode): its egress queues hold a window and its copies.
WINDOW = int(os.environ.get("NICC_BMV2_WINDOW", "1024"))


class RunFailed(RuntimeError):
    """The switch (or nicc's handling of it) failed; the run directory is kept."""


def tag(frame: bytes, i: int) -> bytes:
    if len(frame) < 12:
        return frame
    out = frame[:6] + bytes([TAG_MARK]) + i.to_bytes(5, "big") + frame[12:]
    return ip_tag(out, i) if ip_taggable(frame) else out


def tag_of(frame: bytes) -> int | None:
    if len(frame) < 12 or frame[6] != TAG_MARK:
        return None
    return int.from_bytes(frame[7:12], "big")


def _csum(hdr: bytes) -> int:
    """The one's-complement sum (folded) of an IPv4 header's 16-bit words."""
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _fresh_csum(hdr: bytes) -> int:
    return ~_csum(hdr[:10] + b"\0\0" + hdr[12:]) & 0xFFFF


def ip_taggable(frame: bytes) -> bool:
    """IPv4 without options, 20 header bytes present, and a checksum that is either invalid or the one
    computed from scratch (so that validity tells whether the switch recomputed it)."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] != 0x45:
        return False
    hdr = frame[14:34]
    return _csum(hdr) != 0xFFFF or int.from_bytes(hdr[10:12], "big") == _fresh_csum(hdr)


def ip_tag(frame: bytes, i: int) -> bytes:
    """The index in the IPv4 identification and TTL, the checksum adjusted to keep the header's sum."""
    if i >= 1 << 24:
        raise RunFailed("a run tags at most 2**24 IPv4 frames")
    h = bytearray(frame[14:34])
    words = lambda: (struct.unpack("!H", h[4:6])[0], struct.unpack("!H", h[8:10])[0])   # noqa: E731
    old = words()
    h[4:6] = (i & 0xFFFF).to_bytes(2, "big")
    h[8] = (i >> 16) & 0xFF
    new = words()
    s = ~struct.unpack("!H", h[10:12])[0] & 0xFFFF          # HC' = ~(~HC + ~m + m') per word (RFC 1624)
    for m, m2 in zip(old, new):
        s += (~m & 0xFFFF) + m2
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    h[10:12] = (~s & 0xFFFF).to_bytes(2, "big")
    return frame[:14] + bytes(h) + frame[34:]


def ip_tag_of(frame: bytes) -> int | None:
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[14] != 0x45:
        return None
    return int.from_bytes(frame[18:20], "big") | frame[22] << 16


def ip_untag(out: bytes, original: bytes) -> bytes:
    """``out`` (an output of the IP-tagged ``original``) with its identification and TTL put back."""
    h = bytearray(out[14:34])
    valid = _csum(bytes(h)) == 0xFFFF
    h[4:6] = original[18:20]
    h[8] = original[22]
    h[10:12] = _fresh_csum(bytes(h)).to_bytes(2, "big") if valid else original[24:26]
    return out[:14] + bytes(h) + out[34:]


def mcast_ports(state: dict) -> tuple[dict[int, list[int]], dict[int, int]]:
    """Run ports of multicast copies: {group id: [run port per group port]} and {run port: group id}.
    A group without members gets one run port all the same, a *sink*: a multicast to it leaves one
    frame there, which tells it from a drop and is then discarded (:func:`sink_ports`)."""
    port_map, owner, k = {}, {}, 0
    for g in state["multicast"]:
        ports = []
        for _ in g["ports"] or [None]:
            if MCAST_BASE + k > MAX_RUN_PORT:
                raise RunFailed(f"a run gives each group port a switch port from {MCAST_BASE}; "
                                f"{k + 1} group ports do not fit below {MAX_RUN_PORT + 1}")
            ports.append(MCAST_BASE + k)
            owner[MCAST_BASE + k] = g["group"]
            k += 1
        port_map[g["group"]] = ports
    return port_map, owner


def sink_ports(state: dict) -> set[int]:
    """The run ports of groups without members (see :func:`mcast_ports`)."""
    port_map, _ = mcast_ports(state)
    return {port_map[g["group"]][0] for g in state["multicast"] if not g["ports"]}


def slot_ports(state: dict, port_map: dict[int, list[int]]) -> dict[int, list[int]]:
    """For each verdict-counter slot, the run ports that get one frame per count."""
    expect = {PASS_SLOT: [HOST_PORT], MALFORMED_SLOT: [MALFORMED_PORT], UNSELECTED_SLOT: [UNSELECTED_PORT],
              HOST_PART_SLOT: [HOST_PART_PORT], TRANSMIT_SLOT: [WIRE_PORT], DROP_SLOT: []}
    for g in state["multicast"]:
        expect[MCAST_SLOT + g["group"] - 1] = port_map[g["group"]]
    return expect


def run_switch(tc: Toolchain, files: dict, state: dict, frames: list[bytes], control: str,
               keep: bool = False, timestamps: list[int] | None = None) -> tuple[list[list[tuple[int, bytes]]], dict]:
    """Frames through one fresh switch: per input frame, its outputs as (run port, bytes); and the session's
    report (counters, timings, what was configured how). With ``timestamps`` and a program that reads the
    clock, frames go in one at a time, each after its time is written into ``nicc_clock``."""
    netns = netns_prefix()
    if netns is None:
        raise TargetUnavailable("target bmv2 is unavailable here: cannot create a network namespace "
                                "(unshare -n / -rn) to run simple_switch in")
    port_map, _ = mcast_ports(state)
    ports = [WIRE_PORT, HOST_PORT, HOST_PART_PORT, MALFORMED_PORT, UNSELECTED_PORT] + \
        [p for ps in port_map.values() for p in ps]
    work = tempfile.mkdtemp(prefix="nicc-bmv2-")
    ok = False
    try:
        write_pcap(os.path.join(work, "input.pcap"), [tag(f, i) for i, f in enumerate(frames)])
        widest = max([1] + [len(g["ports"]) for g in state["multicast"]])
        c = state["counters"][0]
        spec = {
            "mode": "file", "workdir": work, "grpc": control == "p4runtime",
            "switch": tc.tool(SWITCH_GRPC if control == "p4runtime" else SWITCH),
            "json": os.path.abspath(files["json"]), "p4info": os.path.abspath(files["p4info"]),
            "site_packages": tc.site_packages(), "state": state,
            "groups": [[g, ps] for g, ps in port_map.items()],
            "ports": ports, "wire_port": WIRE_PORT, "input": os.path.join(work, "input.pcap"),
            "frames": len(frames), "counter": {"name": c["name"], "size": c["size"]},
            "expect": {str(k): v for k, v in slot_ports(state, port_map).items()},
            "window": WINDOW, "queue_depth": min(len(frames), WINDOW) * widest + 64,
            "clock": state.get("clock"),
            "timestamps": [int(t) for t in timestamps] if timestamps is not None and state.get("clock") else None,
        }
        with open(os.path.join(work, "spec.json"), "w") as f:
            json.dump(spec, f)
        session(netns, tc, work)
        with open(os.path.join(work, "result.json")) as f:
            report = json.load(f)
        if not report.get("ok"):
            raise RunFailed(f"bmv2 run failed: {report.get('error')} (run directory: {work})")
        per_port = {p: [pk.data for pk in read_pcap(os.path.join(work, f"p{p}_out.pcap"))] for p in ports}
        src_rewritten = {p for g in state["multicast"] if g.get("src_mac") for p in port_map[g["group"]]}
        outs = map_outputs(frames, per_port, src_rewritten)
        report["control"] = control
        ok = True
        return outs, report
    finally:
        if ok and not keep:
            shutil.rmtree(work, ignore_errors=True)
        elif not ok:
            print(f"bmv2: run directory kept for inspection: {work}", file=sys.stderr)


def session(netns: tuple[str, ...], tc: Toolchain, work: str) -> None:
    """``python -m nicc.runtime.bmv2.session`` in a fresh network namespace; waits for it (no timeout:
    the session has its own stall detector)."""
    args = list(netns) + [sys.executable, "-m", "nicc.runtime.bmv2.session", os.path.join(work, "spec.json")]
    with open(os.path.join(work, "session.log"), "wb") as log:
        proc = subprocess.Popen(args, cwd=work, env=tc.env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if not os.path.exists(os.path.join(work, "result.json")):
        with open(os.path.join(work, "session.log")) as f:
            tail = f.read()[-3000:]
        raise RunFailed(f"the bmv2 session exited with status {proc.returncode} without a result "
                        f"(run directory: {work}):\n{tail}")


def map_outputs(frames: list[bytes], per_port: dict[int, list[bytes]],
                src_rewritten: set[int] = frozenset()) -> list[list[tuple[int, bytes]]]:
    """Each output back to the input frame it came from (see the module docstring); ``src_rewritten``:
    the run ports of copies whose Ethernet source the program rewrites (found by their IPv4 tag)."""
    outs: list[list[tuple[int, bytes]]] = [[] for _ in frames]
    untagged = [i for i, f in enumerate(frames) if len(f) < 12]
    ip_tagged = [ip_taggable(f) for f in frames]
    for port in sorted(per_port):
        short = list(untagged)
        for out in per_port[port]:
            if port in src_rewritten:
                i = ip_tag_of(out)
                if i is None or i >= len(frames) or not ip_tagged[i]:
                    raise RunFailed(f"port {port} let out a copy without an IPv4 tag: {out.hex()}")
                if any(p == port for p, _ in outs[i]):
                    raise RunFailed(f"port {port} let out frame {i} twice")
                outs[i].append((port, ip_untag(out, frames[i])))
                continue
            i = tag_of(out)
            if i is not None and i < len(frames) and ip_tagged[i]:
                out = ip_untag(out, frames[i])
            if i is None:
                k = next((k for k, j in enumerate(short) if frames[j] == out), None)
                if k is None:
                    raise RunFailed(f"port {port} let out a frame that no input frame explains: {out.hex()}")
                i = short.pop(k)
                short = short[k:]                 # outputs of one port keep the input order
            elif i >= len(frames):
                raise RunFailed(f"port {port} let out a frame with tag {i}, beyond the {len(frames)} input frames")
            else:
                out = out[:6] + frames[i][6:12] + out[12:]
            if any(p == port for p, _ in outs[i]):
                raise RunFailed(f"port {port} let out frame {i} twice")
            outs[i].append((port, out))
    return outs

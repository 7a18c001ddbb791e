"""A plain packet-by-packet evaluator of the IR in Python integers: the test oracle for
the batched interpreter (``nicc.compiler.interp``).

It is written for obviousness, not speed: one frame at a time, one node at a time,
values as Python ints (bools for bool), state as Python lists, bytes assembled with
``int.to_bytes``. It follows the IR's written semantics (``nicc.compiler.ir``):

- nodes run in program order; a packet stops being *alive* at its first verdict
  (``reject_if`` makes it malformed, ``verdict_if`` gives it that verdict), and
  later effects (state writes, emits) do not happen for it, while values are
  still computed;
- reading a field or array past the payload end makes the packet malformed (at
  that node) and reads zeros;
- arithmetic is exact then wrapped or saturated to the node's type; ``x // 0 == 0``,
  ``x % 0 == x``, division truncates toward zero; shifts by the width or more give
  0 (or -1 for a negative value shifted right);
- out-of-range state indices read 0 and write nothing; ``update_if`` stores when
  ``value <cmp> old`` and returns whether it stored;
- ``emit`` replaces the payload for a packet alive at the (last) emit node, unless
  it ends malformed.
"""
from __future__ import annotations

import struct
import zlib

from nicc.compiler import framing
from nicc.compiler.interp import Result
from nicc.compiler.ir import Node, Op, Pipeline
from nicc.compiler.types import Array, BOOL, Scalar

MALFORMED = "malformed"


def wrap(v: int, t: Scalar) -> int:
    v &= (1 << t.bits) - 1
    return v - (1 << t.bits) if t.signed and v > t.hi else v


def clamp(v: int, t: Scalar) -> int:
    return max(t.lo, min(t.hi, v))


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def read_int(data: bytes, off: int, t: Scalar, endian: str) -> int:
    raw = data[off:off + t.nbytes].ljust(t.nbytes, b"\0")
    return wrap(int.from_bytes(raw, "big" if endian == "be" else "little"), t)


def to_bytes(v: int, t: Scalar, endian: str) -> bytes:
    return (v & ((1 << t.bits) - 1)).to_bytes(t.nbytes, "big" if endian == "be" else "little")


CMP = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
       "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}
CMP_OPS = {Op.EQ: "eq", Op.NE: "ne", Op.LT: "lt", Op.LE: "le", Op.GT: "gt", Op.GE: "ge"}


class Packet:
    """The evaluation of one selected payload."""

    def __init__(self, p: Pipeline, payload: bytes, ts: int, state: dict[str, list[int]]):
        self.p, self.data, self.ts, self.state = p, payload, ts, state
        self.alive, self.verdict, self.group = True, None, None
        self.emitted: tuple[bool, list] | None = None

    def decide(self, cond: bool, verdict: str, group=None) -> None:
        if self.alive and cond:
            self.alive, self.verdict, self.group = False, verdict, group

    def run(self) -> "Packet":
        env: dict[Node, object] = {}
        for n in self.p.body.nodes:
            env[n] = self.node(n, env, None)
        return self

    def node(self, n: Node, env: dict, elem):
        a = [env[x] for x in n.args]
        op, t = n.op, n.type
        if op is Op.CONST:
            return n.attr("value") if t != BOOL else bool(n.attr("value"))
        if op is Op.PAYLOAD_LEN:
            return len(self.data) & 0xFFFF
        if op is Op.TIMESTAMP:
            return self.ts & (2**64 - 1)
        if op is Op.FIELD:
            off = n.attr("offset")
            self.decide(len(self.data) < off + t.nbytes, MALFORMED)
            return read_int(self.data, off, t, n.attr("endian"))
        if op is Op.ARRAY:
            count = max(0, min(a[0], t.max))
            off, esz = n.attr("offset"), t.struct.nbytes
            self.decide(len(self.data) < off + count * esz, MALFORMED)
            elems = []
            for i in range(t.max):
                fo, e = off + i * esz, {}
                for name, ft in t.struct.fields:
                    e[name] = read_int(self.data, fo, ft, "be")
                    fo += ft.nbytes
                elems.append(e)
            return (elems, count)
        if op in (Op.AND, Op.OR, Op.XOR) and t == BOOL:
            return {Op.AND: a[0] and a[1], Op.OR: a[0] or a[1], Op.XOR: a[0] != a[1]}[op]
        if op in (Op.ADD, Op.SUB, Op.MUL):
            x, y = a
            exact = x + y if op is Op.ADD else x - y if op is Op.SUB else x * y
            return clamp(exact, t) if n.attr("overflow") == "sat" else wrap(exact, t)
        if op is Op.DIV:
            return 0 if a[1] == 0 else wrap(trunc_div(a[0], a[1]), t)
        if op is Op.MOD:
            return a[0] if a[1] == 0 else wrap(a[0] - trunc_div(a[0], a[1]) * a[1], t)
        if op in (Op.AND, Op.OR, Op.XOR):
            x, y = a
            return wrap(x & y if op is Op.AND else x | y if op is Op.OR else x ^ y, t)
        if op is Op.SHL:
            return 0 if a[1] >= t.bits else wrap(a[0] << a[1], t)
        if op is Op.SHR:
            if a[1] >= t.bits:
                return -1 if a[0] < 0 else 0
            return a[0] >> a[1]
        if op is Op.NOT:
            return (not a[0]) if t == BOOL else wrap(~a[0], t)
        if op in CMP_OPS:
            return CMP[CMP_OPS[op]](a[0], a[1])
        if op is Op.SELECT:
            return a[1] if a[0] else a[2]
        if op is Op.CAST:
            if t == BOOL:
                return a[0] != 0
            return clamp(int(a[0]), t) if n.attr("overflow") == "sat" else wrap(int(a[0]), t)
        if op is Op.LUT:
            tab = self.p.tables[n.attr("table")]
            return int(tab.values[a[0] - tab.index.lo])
        if op is Op.BUCKETIZE:
            return sum(1 for b in n.attr("boundaries") if b <= a[0]) & 0xFF
        if op is Op.CRC32:
            return zlib.crc32(a[0].to_bytes(n.args[0].type.nbytes, "big"))
        if op is Op.MAP:
            return self.map(n, env, a)
        if op is Op.ELEM:
            return elem[n.attr("input")][n.attr("field")]
        if op is Op.YIELD:
            return None
        if op in (Op.STATE_READ, Op.STATE_WRITE, Op.STATE_UPDATE_IF):
            return self.state_op(n, a)
        if op is Op.REJECT_IF:
            return self.decide(a[0], MALFORMED)
        if op is Op.VERDICT_IF:
            return self.decide(a[0], n.attr("verdict"), n.attr("group"))
        if op is Op.EMIT:
            self.emitted = (self.alive, list(zip(a, n.args, n.attr("endian"))))
            return None
        if op is Op.VERDICT:
            return self.decide(True, n.attr("verdict"), n.attr("group"))
        raise AssertionError(f"scalar evaluator has no rule for {op}")

    def map(self, n: Node, env: dict, arrays):
        y = n.body.nodes[-1]
        out = []
        for i in range(n.type.max):
            inner = dict(env)
            elem = [arr[0][i] for arr in arrays]
            for m in n.body.nodes:
                if m.op in (Op.STATE_READ, Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.REJECT_IF, Op.VERDICT_IF,
                            Op.EMIT, Op.VERDICT, Op.MAP):
                    raise NotImplementedError(f"{m.op.value} inside a map body")
                inner[m] = self.node(m, inner, elem)
            out.append({name: inner[v] for name, v in zip(y.attr("names"), y.args)})
        return (out, arrays[0][1])

    def state_op(self, n: Node, a):
        s = self.p.states[n.attr("state")]
        arr = self.state[s.name]
        idx = a[0]
        ok = 0 <= idx < s.size
        if n.op is Op.STATE_READ:
            return arr[idx] if ok else 0
        if n.op is Op.STATE_WRITE:
            if ok and a[2] and self.alive:
                arr[idx] = a[1]
            return None
        cmp = n.attr("cmp")
        stored = ok and self.alive and (cmp == "always" or CMP[cmp](a[1], arr[idx]))
        if stored:
            arr[idx] = a[1]
        return stored

    def payload(self) -> bytes | None:
        if self.emitted is None or not self.emitted[0] or self.verdict == MALFORMED:
            return None
        out = b""
        for v, node, endian in self.emitted[1]:
            t = node.type
            if isinstance(t, Array):
                elems, count = v
                for e in elems[:count]:
                    out += b"".join(to_bytes(e[name], ft, endian) for name, ft in t.struct.fields)
            else:
                out += to_bytes(v, t, endian)
        return out


def copy_frame(frame: bytes, group, member) -> bytes:
    """One multicast copy, written out field by field with struct (independently of compiler.groups)."""
    if not (group.rewrite or group.source):
        return frame
    h = bytearray(frame[:42])
    spots = {("dst", "mac"): 0, ("src", "mac"): 6, ("dst", "ip"): 30, ("src", "ip"): 26,
             ("dst", "udp"): 36, ("src", "udp"): 34}
    for side, addr, fields in (("dst", member.dst, group.rewrite), ("src", group.src, group.source)):
        for f in fields:
            v = getattr(addr, f)
            at = spots[side, f]
            if f == "mac":
                h[at:at + 6] = bytes(int(x, 16) for x in v.split(":"))
            elif f == "ip":
                h[at:at + 4] = bytes(int(x) for x in v.split("."))
            else:
                struct.pack_into("!H", h, at, v)
    struct.pack_into("!H", h, 24, 0)
    struct.pack_into("!H", h, 24, framing.ipv4_checksum(bytes(h[14:34])))
    struct.pack_into("!H", h, 40, 0)
    return bytes(h) + frame[42:]


class ScalarReference:
    """``Reference``'s contract, one frame at a time: ``ScalarReference(p).run(frames) -> [Result]``."""

    def __init__(self, p: Pipeline):
        self.p = p
        self.state = {s.name: [s.init] * s.size for s in p.states.values()}

    def run(self, frames: list[bytes], timestamps: list[int] | None = None) -> list[Result]:
        out = []
        for i, f in enumerate(frames):
            f = bytes(f)
            plen = framing.udp_payload_len(f, self.p.port)
            if plen is None:
                out.append(Result("pass", "unselected", [f]))
                continue
            pl = f[framing.PAYLOAD_OFFSET:framing.PAYLOAD_OFFSET + plen]
            pk = Packet(self.p, pl, timestamps[i] if timestamps else 0, self.state).run()
            if pk.verdict == MALFORMED:
                out.append(Result("pass", "malformed", [f]))
                continue
            new = pk.payload()
            frame = framing.rewrite(f, new) if new is not None else f
            if pk.verdict == "drop":
                out.append(Result("drop"))
            elif pk.verdict == "multicast":
                out.append(Result("multicast", frames=[copy_frame(frame, self.p.groups[pk.group], m)
                                                       for m in self.p.groups[pk.group].members]))
            else:
                out.append(Result(pk.verdict, frames=[frame]))
        return out

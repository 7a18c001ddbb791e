"""The reference interpreter: the executable specification of the IR.

It evaluates a pipeline over a batch of packets with numpy: a scalar value is
an array of shape ``(B,)``, an array value holds ``(B, max)`` per field plus a
count per packet. Stateless pipelines run the whole capture as one batch;
pipelines with state run packet by packet, in order, so each packet sees the
state the previous one left.

    >>> results = Reference(ir).run([frame1, frame2])
    >>> results[0].verdict, results[0].frames     # doctest: +SKIP
    ('pass', [b'...'])
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from . import framing
from .contract import UNLIMITED, Limits, Result, counters  # noqa: F401  (Result, counters: re-exported)
from .errors import InternalError
from .ir import ARITH, COMPARE, Node, Op, Pipeline
from .types import Array, BOOL, Scalar, Struct
from .walker import Walker

# Verdict codes inside a batch.
UNDECIDED, PASS, TRANSMIT, DROP, MULTICAST, MALFORMED = range(6)
HOST = 6                      # passed with the payload a host function made (host_if)
CODE = {"pass": PASS, "transmit": TRANSMIT, "drop": DROP, "multicast": MULTICAST}


@dataclass
class ArrVal:
    """An array value: one ``(B, max)`` array per struct field, and a count per packet."""
    fields: dict[str, np.ndarray]
    count: np.ndarray


def _crc_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(0xEDB88320), t >> 1).astype(np.uint32)
    return t


CRC_TABLE = _crc_table()


def crc32_be(x: np.ndarray, nbytes: int) -> np.ndarray:
    """Vectorized zlib.crc32 of each value's ``nbytes`` big-endian bytes."""
    x = x.astype(np.uint64)
    crc = np.full(x.shape, 0xFFFFFFFF, dtype=np.uint32)
    for i in reversed(range(nbytes)):
        byte = ((x >> np.uint64(8 * i)) & np.uint64(0xFF)).astype(np.uint32)
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


def _exact(a: np.ndarray) -> np.ndarray:
    """Values as exact Python-int arrays (object dtype) when 64-bit math could overflow."""
    return a.astype(object)


def _to(t: Scalar, v: np.ndarray, overflow: str = "wrap") -> np.ndarray:
    """Bring integer results ``v`` (any dtype, exact or wrapped) into type ``t``."""
    if t == BOOL:
        return v.astype(bool)
    if overflow == "sat":
        v = np.clip(v.astype(object), t.lo, t.hi)
    if v.dtype == object:
        mask = (1 << t.bits) - 1
        v = np.vectorize(lambda z: int(z) & mask, otypes=[object])(v) if v.size else v
        out = v.astype(np.uint64).astype(t.dtype) if v.size else v.astype(t.dtype)
        return out
    return v.astype(t.dtype)


def r_const(w, n):
    shape = (w.B, 1) if w.map_inputs else (w.B,)      # inside a map body: broadcast over elements
    return np.full(shape, n.attr("value"), dtype=n.type.dtype)


def r_payload_len(w, n):
    return w.lengths.astype(np.uint16)


def r_timestamp(w, n):
    return w.timestamps.astype(np.uint64)


def _read_be(w, off: int, t: Scalar, endian: str = "be") -> np.ndarray:
    cols = w.data[:, off:off + t.nbytes].astype(np.uint64)
    v = np.zeros(w.B, dtype=np.uint64)
    order = range(t.nbytes) if endian == "be" else reversed(range(t.nbytes))
    for i in order:
        v = (v << np.uint64(8)) | cols[:, i]
    return v.astype(np.dtype(f"u{t.nbytes}")).view(t.dtype) if t.is_int else v


def r_field(w, n):
    t, off = n.type, n.attr("offset")
    w.need_bytes(off + t.nbytes, n)
    return _read_be(w, off, t, n.attr("endian"))


def r_array(w, n, count):
    t: Array = n.type
    st, esz = t.struct, t.struct.nbytes
    # the array holds min(count, max) elements; a negative count holds none
    cnt = np.where(count < 0, 0, np.minimum(count, t.max)).astype(np.int64)
    off = n.attr("offset")
    w.need_bytes(off + cnt * esz, n)
    fields, foff = {}, 0
    for name, ft in st.fields:
        cols = []
        for i in range(t.max):
            cols.append(_read_be(w, off + i * esz + foff, ft))
        fields[name] = np.stack(cols, axis=1) if cols else np.zeros((w.B, 0), ft.dtype)
        foff += ft.nbytes
    return ArrVal(fields, cnt)


def r_arith(w, n, a, b):
    t: Scalar = n.type
    op = n.op
    if t == BOOL:
        return {Op.AND: a & b, Op.OR: a | b, Op.XOR: a ^ b}[op]
    if op in (Op.AND, Op.OR, Op.XOR):
        return {Op.AND: np.bitwise_and, Op.OR: np.bitwise_or, Op.XOR: np.bitwise_xor}[op](a, b).astype(t.dtype)
    if op in (Op.SHL, Op.SHR):
        s = b.astype(np.uint64)
        big = s >= np.uint64(t.bits)
        s = np.where(big, 0, s).astype(np.uint64)
        ua = a.astype(t.dtype).view(np.dtype(f"u{t.nbytes}")).astype(np.uint64)
        if op is Op.SHL:
            r = np.where(big, 0, ua << s)
            return _to(t, _exact(r))
        if t.signed:
            r = np.where(big, np.where(a < 0, -1, 0), a.astype(np.int64) >> s.astype(np.int64))
            return r.astype(t.dtype)
        return np.where(big, 0, ua >> s).astype(t.dtype)
    ea, eb = _exact(a), _exact(b)
    if op is Op.ADD:
        r = ea + eb
    elif op is Op.SUB:
        r = ea - eb
    elif op is Op.MUL:
        r = ea * eb
    elif op in (Op.DIV, Op.MOD):
        zero = eb == 0
        safe = np.where(zero, 1, eb)
        q = np.array([abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1) for x, y in zip(ea.ravel(), safe.ravel())],
                     dtype=object).reshape(ea.shape)                  # C: truncate toward zero
        r = np.where(zero, 0, q) if op is Op.DIV else np.where(zero, ea, ea - q * safe)
    else:
        raise InternalError(f"no arithmetic rule for {op}")
    return _to(t, r, n.attr("overflow", "wrap"))


def r_not(w, n, a):
    return ~a if n.type == BOOL else np.invert(a).astype(n.type.dtype)


_CMP = {Op.EQ: np.equal, Op.NE: np.not_equal, Op.LT: np.less, Op.LE: np.less_equal,
        Op.GT: np.greater, Op.GE: np.greater_equal}


def r_compare(w, n, a, b):
    return _CMP[n.op](a, b)


def r_select(w, n, c, a, b):
    return np.where(c, a, b).astype(n.type.dtype)


def r_cast(w, n, a):
    if n.type == BOOL:
        return a != 0
    return _to(n.type, _exact(a.astype(np.int64) if a.dtype == bool else a), n.attr("overflow"))


def r_lut(w, n, x):
    tab = w.pipeline.tables[n.attr("table")]
    return tab.values[x.astype(np.int64) - tab.index.lo]


def r_bucketize(w, n, x):
    bounds = np.array(n.attr("boundaries"), dtype=object)
    return np.searchsorted(bounds, x.astype(object), side="right").astype(np.uint8)


def r_crc32(w, n, x):
    return crc32_be(x, w.type_of(n.args[0]).nbytes)


def r_map(w, n, *arrays: ArrVal):
    saved = dict(w.env)
    for k, v in saved.items():          # outer scalars broadcast over elements
        if isinstance(v, np.ndarray) and v.ndim == 1:
            w.env[k] = v[:, None]
    w.map_inputs.append((n, list(arrays)))
    try:
        w.run_block(n.body)
        y = n.body.nodes[-1]
        outs = {name: np.broadcast_to(w.env[a], arrays[0].count.shape + (n.type.max,)) if np.ndim(w.env[a]) < 2
                else w.env[a] for name, a in zip(y.attr("names"), y.args)}
    finally:
        w.map_inputs.pop()
        body_ids = {id(b) for b in n.body.walk()}
        w.env = {k: v for k, v in saved.items() if id(k) not in body_ids}
    return ArrVal(outs, arrays[0].count)


def r_elem(w, n):
    _, arrays = w.map_inputs[-1]
    return arrays[n.attr("input")].fields[n.attr("field")]


def r_yield(w, n, *vals):
    return None


def _slot(w, n, idx):
    s = w.pipeline.states[n.attr("state")]
    i = idx.astype(np.uint64)
    ok = i < np.uint64(s.size)
    return w.state[s.name], np.where(ok, i, 0).astype(np.int64), ok


def r_state_read(w, n, idx):
    arr, i, ok = _slot(w, n, idx)
    return np.where(ok, arr[i], 0).astype(n.type.dtype)


def r_state_write(w, n, idx, val, cond):
    arr, i, ok = _slot(w, n, idx)
    m = ok & cond & w.alive
    arr[i[m]] = val[m]


_UPDATE_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
               "gt": np.greater, "ge": np.greater_equal}


def r_state_update_if(w, n, idx, val):
    arr, i, ok = _slot(w, n, idx)
    cmp = n.attr("cmp")
    hit = np.ones(w.B, bool) if cmp == "always" else _UPDATE_CMP[cmp](val, arr[i])
    m = ok & hit & w.alive
    arr[i[m]] = val[m]
    return m


def r_reject_if(w, n, c):
    w.decide(c, MALFORMED)


def r_verdict_if(w, n, c):
    w.decide(c, CODE[n.attr("verdict")], n.attr("group"))


def r_emit(w, n, *vals):
    w.emitted = (w.alive.copy(), list(zip(vals, n.args, n.attr("endian"))))


def r_verdict(w, n):
    w.decide(np.ones(w.B, bool), CODE[n.attr("verdict")], n.attr("group"))


EVAL_RULES = {
    Op.CONST: r_const, Op.PAYLOAD_LEN: r_payload_len, Op.TIMESTAMP: r_timestamp, Op.FIELD: r_field,
    Op.ARRAY: r_array, **{op: r_arith for op in ARITH}, Op.NOT: r_not, **{op: r_compare for op in COMPARE},
    Op.SELECT: r_select, Op.CAST: r_cast, Op.LUT: r_lut, Op.BUCKETIZE: r_bucketize, Op.CRC32: r_crc32,
    Op.MAP: r_map, Op.ELEM: r_elem, Op.YIELD: r_yield, Op.STATE_READ: r_state_read,
    Op.STATE_WRITE: r_state_write, Op.STATE_UPDATE_IF: r_state_update_if, Op.REJECT_IF: r_reject_if,
    Op.VERDICT_IF: r_verdict_if, Op.EMIT: r_emit, Op.VERDICT: r_verdict,
}


def _encode(v, t, endian: str, b: int) -> bytes:
    """Wire bytes of value ``v`` (type ``t``) for packet ``b``."""
    if isinstance(t, Array):
        st = t.struct
        k = int(v.count[b])
        cols = [v.fields[name][b, :k].astype(ft.dtype) for name, ft in st.fields]
        rec = np.empty(k, dtype=[(f"f{i}", ft.dtype.newbyteorder(">" if endian == "be" else "<"))
                                 for i, (_, ft) in enumerate(st.fields)])
        for i, c in enumerate(cols):
            rec[f"f{i}"] = c
        return rec.tobytes()
    return np.asarray(v[b], dtype=t.dtype).astype(t.dtype.newbyteorder(">" if endian == "be" else "<")).tobytes()


def _read_extent(p: Pipeline) -> int:
    """One past the last payload byte the pipeline can read (reads beyond a payload see zeros)."""
    end = 0
    for n in p.body.walk():
        if n.op is Op.FIELD:
            end = max(end, n.attr("offset") + n.type.nbytes)
        elif n.op is Op.ARRAY:
            end = max(end, n.attr("offset") + n.type.max * n.type.struct.nbytes)
    return end


class BatchWalker(Walker):
    """Evaluates one batch of selected payloads."""
    rules = EVAL_RULES

    def __init__(self, pipeline: Pipeline, payloads: list[bytes], state: dict[str, np.ndarray],
                 timestamps: np.ndarray):
        super().__init__(pipeline)
        self.B = len(payloads)
        self.lengths = np.array([len(p) for p in payloads], dtype=np.int64)
        width = max(int(self.lengths.max(initial=0)), _read_extent(pipeline), 1)
        self.data = np.zeros((self.B, width), dtype=np.uint8)
        for i, p in enumerate(payloads):
            self.data[i, :len(p)] = np.frombuffer(p, dtype=np.uint8)
        self.state = state
        self.timestamps = timestamps
        self.alive = np.ones(self.B, bool)
        self.code = np.full(self.B, UNDECIDED, dtype=np.int8)
        self.group = np.full(self.B, "none", dtype=object)
        self.emitted = None

    def run_node(self, n: Node):
        v = super().run_node(n)
        if self.map_inputs and isinstance(v, np.ndarray) and v.ndim == 1:
            v = v[:, None]        # a per-packet value made inside a map body broadcasts over the elements
        return v

    def type_of(self, n: Node):
        return n.type

    def need_bytes(self, end, n: Node) -> None:
        """Reading past the payload end makes the packet malformed (it never reads garbage)."""
        self.decide(self.lengths < end, MALFORMED)

    def decide(self, cond: np.ndarray, code: int, group: str = "none") -> None:
        m = self.alive & cond
        self.code[m] = code
        self.group[m] = group
        self.alive &= ~m

    def outputs(self, payloads: list[bytes]) -> list[tuple[int, str, bytes | None]]:
        out = []
        for b in range(self.B):
            new = None
            if self.emitted is not None and self.emitted[0][b] and self.code[b] != MALFORMED:
                new = b"".join(_encode(v, a.type, e, b) for v, a, e in self.emitted[1])
            if self.code[b] == HOST:
                new = self.__dict__.get("host_out", {}).get(b)
            out.append((int(self.code[b]), self.group[b], new))
        return out


class Reference:
    """Runs a pipeline on frames as every target must: the run contract's semantics."""

    def __init__(self, pipeline: Pipeline, limits: Limits = UNLIMITED):
        self.pipeline = pipeline
        self.limits = limits          # a target's limits: frames beyond them are "unhandled" (contract)
        self.state = {s.name: np.full(s.size, s.init, dtype=s.elem.dtype) for s in pipeline.states.values()}
        self.state.update(stream_state(pipeline))

    def run(self, frames: list[bytes], timestamps: list[int] | None = None, batch: int = 4096) -> list[Result]:
        p = self.pipeline
        ts = np.array(timestamps if timestamps is not None else [0] * len(frames), dtype=np.uint64)
        results: list[Result | None] = [None] * len(frames)
        sel = []
        for i, f in enumerate(frames):
            if not self.limits.accepts(len(f)):
                results[i] = Result("pass", "unhandled", [bytes(f)])
                continue
            plen = framing.udp_payload_len(f, p.port)
            if plen is None:
                results[i] = Result("pass", "unselected", [bytes(f)])
            else:
                sel.append((i, f[framing.PAYLOAD_OFFSET:framing.PAYLOAD_OFFSET + plen]))
        step = 1 if p.stateful else batch
        for k in range(0, len(sel), step):
            chunk = sel[k:k + step]
            w = BatchWalker(p, [pl for _, pl in chunk], self.state, ts[[i for i, _ in chunk]])
            w.run()
            for (i, _), (code, group, new) in zip(chunk, w.outputs([pl for _, pl in chunk])):
                f = frames[i]
                if code == MALFORMED:
                    results[i] = Result("pass", "malformed", [bytes(f)])
                    continue
                out = framing.rewrite(f, new) if new is not None else bytes(f)
                if code == HOST:
                    results[i] = Result("pass", "host", [out])
                elif code in (PASS, TRANSMIT, MULTICAST) and not self.limits.fits(len(f), len(out)):
                    results[i] = Result("pass", "unhandled", [bytes(f)])
                elif code == DROP:
                    results[i] = Result("drop")
                elif code == MULTICAST:
                    results[i] = Result("multicast", frames=[out] * len(p.groups[group].ports))
                elif code in (PASS, TRANSMIT):
                    results[i] = Result("pass" if code == PASS else "transmit", frames=[out])
                else:
                    raise InternalError(f"packet {i} got no verdict")
        return results


from .interp_streams import STREAM_EVAL_RULES, stream_state  # noqa: E402  (its rules use the helpers above)
EVAL_RULES.update(STREAM_EVAL_RULES)

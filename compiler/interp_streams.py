"""Reference semantics of the stream, window, scan and host ops (docs/streams.md); merged into EVAL_RULES.

Values follow :mod:`nicc.compiler.interp`: a scalar is ``(B,)`` (``(B, 1)`` or
``(B, M)`` inside a map body), an array is an :class:`ArrVal`. A constant table
(``rom``) is an ArrVal whose field has shape ``(1, len)``: it is never copied per
packet. A scan is a masked loop over the batch: all lanes step together, a lane
stops at its own ``cont = false``, the loop ends when no lane runs.
"""
from __future__ import annotations

import numpy as np

from .errors import InternalError
from .interp_ops import HOST, MALFORMED, ArrVal
from .ir import Node, Op, Pipeline
from .types import Array, SCALARS, Scalar


def stream_state(p: Pipeline) -> dict[str, np.ndarray]:
    """Initial (zero) storage of every stream field, keyed ``stream.field[.member]``."""
    out = {}
    for s in p.streams.values():
        for f, t in s.fields:
            if isinstance(t, Scalar):
                out[f"{s.name}.{f}"] = np.zeros(s.slots, t.dtype)
            else:
                for m, mt in t.struct.fields:
                    out[f"{s.name}.{f}.{m}"] = np.zeros((s.slots, t.max), mt.dtype)
    return out


def _slot(w, n: Node, slot: np.ndarray):
    s = w.pipeline.streams[n.attr("stream")]
    i = slot.astype(np.uint64)
    ok = i < np.uint64(s.slots)
    return s, np.where(ok, i, 0).astype(np.int64), ok


def r_stream_read(w, n, slot):
    s, i, ok = _slot(w, n, slot)
    key = f"{s.name}.{n.attr('field')}"
    t = n.type
    if isinstance(t, Scalar):
        return np.where(ok, w.state[key][i], 0).astype(t.dtype)
    fields = {m: np.where(ok[:, None], w.state[f"{key}.{m}"][i], 0).astype(mt.dtype) for m, mt in t.struct.fields}
    return ArrVal(fields, np.full(w.B, t.max, np.int64))


def r_stream_write(w, n, slot, *rest):
    s, i, ok = _slot(w, n, slot)
    key = f"{s.name}.{n.attr('field')}"
    t = s.field(n.attr("field"))
    cond = rest[-1]
    m = ok & cond & w.alive
    if isinstance(t, Scalar):
        w.state[key][i[m]] = rest[0][m]
        return
    off, val = rest[0].astype(np.int64), rest[1]
    for b in np.flatnonzero(m):            # one record per packet: the lanes of a stateful batch are in order
        k = int(min(val.count[b], max(0, t.max - off[b])))
        for mname, _ in t.struct.fields:
            src = val.fields[mname]
            w.state[f"{key}.{mname}"][i[b], off[b]:off[b] + k] = src[0 if src.shape[0] == 1 else b, :k]


def r_rom(w, n):
    vals = w.pipeline.tables[n.attr("table")].values
    return ArrVal({"_": vals[None, :]}, np.full(w.B, len(vals), np.int64))


def r_range(w, n, count):
    mx = n.attr("max")
    cnt = np.minimum(count.astype(np.int64), mx)
    return ArrVal({"_": np.broadcast_to(np.arange(mx, dtype=np.uint16), (w.B, mx))}, cnt)


def r_gather(w, n, arr: ArrVal, idx: np.ndarray):
    f = arr.fields[n.attr("field")]
    i = idx.astype(np.int64)
    cnt = arr.count if i.ndim == 1 else arr.count[:, None]
    ok = (i >= 0) & (i < cnt) & (i < f.shape[1])
    ic = np.where(ok, i, 0)
    if f.shape[1] == 0:
        return np.zeros(i.shape, f.dtype)
    if f.shape[0] == 1:                     # a rom: one row shared by every packet
        v = f[0][ic]
    elif i.ndim == 1:
        v = f[np.arange(w.B), ic]
    else:
        v = np.take_along_axis(f, np.broadcast_to(ic, (w.B, ic.shape[1])), axis=1)
    return np.where(ok, v, 0).astype(f.dtype)


class _ScanFrame:
    def __init__(self, carries: list[np.ndarray], out: np.ndarray, active: np.ndarray):
        self.carries, self.out, self.active = carries, out, active


def r_scan(w, n, *inits):
    if w.map_inputs:
        raise InternalError("scan inside a map body")
    out_t = SCALARS[n.attr("out")]
    frame = _ScanFrame([np.asarray(v).copy() for v in inits],
                       np.zeros((w.B, n.attr("out_max")), out_t.dtype), w.alive.copy())
    stack = w.__dict__.setdefault("scan_stack", [])
    stack.append(frame)
    body_ids = {id(b) for b in n.body.nodes}
    try:
        for _ in range(n.attr("max")):
            if not frame.active.any():
                break
            w.run_block(n.body)
            y = n.body.nodes[-1]
            cont, *new = (w.env[a] for a in y.args)
            a = frame.active
            frame.carries = [np.where(a, nv, c).astype(c.dtype) for nv, c in zip(new, frame.carries)]
            frame.active = a & cont
    finally:
        stack.pop()
        w.env = {k: v for k, v in w.env.items() if id(k) not in body_ids}
    w.decide(frame.active, MALFORMED)        # still running after max steps: never a shortened result
    return ("scan", frame.carries, frame.out)


def r_carry(w, n):
    return w.scan_stack[-1].carries[n.attr("index")]


def r_put(w, n, idx, val, cond):
    fr = w.scan_stack[-1]
    i = idx.astype(np.int64)
    m = fr.active & cond & (i < fr.out.shape[1])
    fr.out[np.flatnonzero(m), i[m]] = val[m]


def r_get(w, n, s):
    names = n.args[0].attr("names")
    return s[1][names.index(n.attr("name"))]


def r_scan_out(w, n, s):
    names = n.args[0].attr("names")
    cnt = np.minimum(s[1][names.index(n.attr("count"))].astype(np.int64), n.type.max)
    return ArrVal({"_": s[2]}, cnt)


def r_host_if(w, n, cond):
    m = w.alive & cond
    if m.any():
        h = w.pipeline.hosts[n.attr("host")]
        fn = h.resolve()
        for b in np.flatnonzero(m).tolist():
            w.host_out[b] = fn(w.payload(b), *h.args)
    w.decide(cond, HOST)


STREAM_EVAL_RULES = {
    Op.STREAM_READ: r_stream_read, Op.STREAM_WRITE: r_stream_write, Op.ROM: r_rom, Op.RANGE: r_range,
    Op.GATHER: r_gather, Op.SCAN: r_scan, Op.CARRY: r_carry, Op.PUT: r_put, Op.GET: r_get,
    Op.SCAN_OUT: r_scan_out, Op.HOST_IF: r_host_if,
}

__all__ = ["STREAM_EVAL_RULES", "stream_state", "Array"]

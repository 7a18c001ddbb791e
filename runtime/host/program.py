"""The host part's evaluator: a batch of frames (or UDP payloads) in, the emitted values out as arrays.

The host part of a pipeline is an ordinary nicc pipeline; running it means running the
reference interpreter (batched numpy) on the frames that reach the host, and keeping the
emitted *values* instead of re-encoding them into payload bytes:

    prog = HostProgram(ir)
    hb = prog.process(FrameBatch.of(frames))
    hb.values["label"], hb.values["cats"]       # (rows,), (rows, 26): the values the pipeline emitted

Each emitted value is one column, named after the record field it comes from (``label``;
a ``map`` over ``rec.cats`` is ``cats``), ``v<i>`` otherwise, or as ``names=`` says. Arrays are
``(rows, max)``; arrays of structs whose fields share a type are ``(rows, max, fields)``
(E1's pixels: ``(rows, 240, 3)`` float16), other structs one column per field
(``NAME.FIELD``). A count-prefixed array is zero past its count, given in ``NAME_count``.
Raw-bit float types are decoded (``f16`` to float16). A pipeline with no emit delivers its
payload: ``payload`` (uint8, zero-padded) and ``payload_count``.

Frames take exactly the outcome the reference interpreter gives them (selection by
:mod:`nicc.compiler.framing`, verdicts by :class:`nicc.compiler.interp.BatchWalker`); state,
if any, persists across batches and the frames of a stateful pipeline run one at a time, in
order, as :class:`~nicc.compiler.interp.Reference` runs them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...compiler import framing
from ...compiler.contract import CODES
from ...compiler.errors import NiccError
from ...compiler.interp import DROP, MALFORMED, MULTICAST, PASS, TRANSMIT, ArrVal, Reference
from ...compiler.ir import Node, Op, Pipeline
from ...compiler.types import Array, Scalar
from .batch import FrameBatch, HostBatch, new_counters

# Types kept as raw bits in the IR, decoded for the consumer (keyed by Scalar.kind).
DECODE = {"f16": np.dtype(np.float16)}
# The interpreter's verdict codes -> the contract's outcome names.
OUTCOME = {PASS: "pass", TRANSMIT: "transmit", DROP: "drop", MULTICAST: "multicast", MALFORMED: "malformed"}
LEAVES = np.array([PASS, TRANSMIT, MULTICAST])
TO_CONTRACT = np.zeros(max(OUTCOME) + 1, np.uint8)       # interpreter code -> contract code
for _code, _name in OUTCOME.items():
    TO_CONTRACT[_code] = CODES[_name]
UNARY = (Op.CAST, Op.LUT, Op.NOT, Op.CRC32, Op.BUCKETIZE)


def decoded(t: Scalar) -> np.dtype:
    return DECODE.get(t.kind, t.dtype)


@dataclass(frozen=True)
class Column:
    """One output array: ``name``, its decoded dtype, the shape of one row, and where it comes from."""
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    arg: int                          # which emitted value
    fields: tuple[str, ...] = ()      # struct fields along the last axis (or the one field of a split struct)
    counted: bool = False             # count-prefixed: NAME_count holds the count


def select_frames(frames: list[bytes], port: int) -> np.ndarray:
    """UDP payload length of each frame selected for ``port``, -1 for the others: the rules of
    :func:`nicc.compiler.framing.udp_payload_len`, on all frames at once."""
    n = len(frames)
    if n == 0:
        return np.zeros(0, np.int64)
    hl = framing.ETH_IP_UDP
    lens = np.fromiter(map(len, frames), np.int64, n)
    blank = bytes(hl)
    h = np.frombuffer(b"".join([f[:hl] if len(f) >= hl else blank for f in frames]), np.uint8).reshape(n, hl)
    be16 = lambda i: h[:, i].astype(np.int64) << 8 | h[:, i + 1]      # noqa: E731
    ulen = be16(38)
    ok = ((lens >= hl) & (h[:, 12] == 0x08) & (h[:, 13] == 0x00) & (h[:, 14] == 0x45) & (h[:, 23] == 17)
          & ((be16(20) & 0x3FFF) == 0) & (be16(36) == port) & (ulen >= 8) & (ulen - 8 <= lens - hl))
    return np.where(ok, ulen - 8, -1)


def _source_name(n: Node) -> str | None:
    """The record field a value derives from along a chain of one-operand ops (or a map's first input)."""
    while n is not None:
        if n.op in (Op.FIELD, Op.ARRAY):
            return n.attr("name")
        n = n.args[0] if (n.op in UNARY or n.op is Op.MAP) and n.args else None
    return None


def columns(ir: Pipeline, names: list[str] | None = None) -> list[Column]:
    """The output columns of ``ir``'s emit."""
    e = ir.emit()
    if e is None:
        return []
    if names is not None and len(names) != len(e.args):
        raise ValueError(f"names= gives {len(names)} names for {len(e.args)} emitted values")
    base, seen = [], set()
    for i, a in enumerate(e.args):
        name = names[i] if names is not None else (_source_name(a) or f"v{i}")
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        base.append(name)
    cols = []
    for i, (a, name) in enumerate(zip(e.args, base)):
        t = a.type
        if isinstance(t, Scalar):
            cols.append(Column(name, decoded(t), (), i))
            continue
        st = t.struct
        kinds = {decoded(ft) for _, ft in st.fields}
        if isinstance(t.elem, Scalar):
            cols.append(Column(name, decoded(t.elem), (t.max,), i, ("_",), t.dynamic))
        elif len(kinds) == 1:
            cols.append(Column(name, kinds.pop(), (t.max, len(st.fields)), i, st.names, t.dynamic))
        else:
            cols += [Column(f"{name}.{f}", decoded(ft), (t.max,), i, (f,), t.dynamic) for f, ft in st.fields]
    return cols


def _stream_field(ir: Pipeline, key: str) -> tuple[int, Scalar]:
    for n in ir.body.walk():
        if n.op is Op.FIELD and n.attr("name") == key:
            return n.attr("offset"), n.type
    fields = sorted({n.attr("name") for n in ir.body.walk() if n.op is Op.FIELD})
    raise NiccError(f"stream key '{key}' is not a scalar field pipeline '{ir.name}' reads "
                    f"(fields: {', '.join(fields) or 'none'}; or use 'flow')", ir.loc)


class HostProgram:
    """Runs a pipeline (the host part) on batches of frames and keeps the emitted values.

    ``stream`` gives each row a stream key: ``"flow"`` (source IPv4 address, source and
    destination UDP port packed in a uint64) or the name of a scalar record field the
    pipeline reads (its value).
    """

    def __init__(self, ir: Pipeline, names: list[str] | None = None, stream: str | None = None):
        self.ir = ir
        self.emit = ir.emit()
        self.cols = columns(ir, names)
        self.ref = Reference(ir)              # evaluates batches; holds the pipeline's state across them
        self.stream = stream
        self.key_field = _stream_field(ir, stream) if stream not in (None, "flow") else None

    # selection --------------------------------------------------------------------------------
    def _select(self, fb: FrameBatch, c: dict) -> tuple[np.ndarray, list[bytes], np.ndarray | None]:
        """The items the pipeline sees (their positions, payloads and flow keys); counts the others."""
        if fb.kind == "payload":
            flow = fb.flow if fb.flow is not None else np.zeros(len(fb), np.uint64)
            return np.arange(len(fb), dtype=np.int64), fb.items, flow
        plen = select_frames(fb.items, self.ir.port)
        if fb.truncated is not None and fb.truncated.any():
            c["unhandled"] += int(fb.truncated.sum())
            plen[fb.truncated] = -1
        pos = np.flatnonzero(plen >= 0)
        c["unselected"] += len(fb) - len(pos) - c["unhandled"]
        off, items = framing.PAYLOAD_OFFSET, fb.items
        pls = [items[i][off:off + n] for i, n in zip(pos.tolist(), plen[pos].tolist())]
        flow = None
        if self.stream == "flow":
            flow = np.array([int.from_bytes(items[i][26:30], "big") << 32 | int.from_bytes(items[i][34:38], "big")
                             for i in pos.tolist()], dtype=np.uint64)
        return pos, pls, flow

    # evaluation -------------------------------------------------------------------------------
    def _walk(self, payloads: list[bytes], ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """Verdict codes, which items got a new payload, and the output columns for all items."""
        code, _, emitted = self.ref.evaluate(payloads, ts)
        codes = code.astype(np.int64)
        B = len(payloads)
        if self.emit is None:
            return codes, np.zeros(B, bool), self._raw(payloads)
        if emitted is None:                        # every packet stopped before the emit
            return codes, np.zeros(B, bool), {k: np.zeros((B,) + v.shape[1:], v.dtype) for k, v in self._empty().items()}
        new = emitted[0] & (codes != MALFORMED)
        return codes, new, self._decode([v for v, _, _ in emitted[1]], B)

    def _decode(self, vals: list, B: int) -> dict[str, np.ndarray]:
        out = {}
        for col in self.cols:
            v = vals[col.arg]
            if not isinstance(v, ArrVal):
                out[col.name] = np.broadcast_to(v, (B,)).astype(self.emit.args[col.arg].type.dtype).view(col.dtype)
                continue
            t: Array = self.emit.args[col.arg].type
            parts = [np.broadcast_to(v.fields[f], (B, t.max)).astype(t.struct.field(f).dtype) for f in col.fields]
            a = (np.stack(parts, axis=-1) if len(col.shape) == 2 else parts[0]).view(col.dtype)
            keep = np.arange(t.max)[None, :] < v.count[:, None]
            a = np.where(keep.reshape(keep.shape + (1,) * (a.ndim - 2)), a, np.zeros((), col.dtype))
            out[col.name] = a
            if col.counted:
                out[f"{col.name.split('.')[0]}_count"] = v.count.astype(np.int64)
        return out

    def _raw(self, payloads: list[bytes]) -> dict[str, np.ndarray]:
        n = np.array([len(p) for p in payloads], dtype=np.int64)
        data = np.zeros((len(payloads), int(n.max(initial=0))), np.uint8)
        for i, p in enumerate(payloads):
            data[i, :len(p)] = np.frombuffer(p, np.uint8)
        return {"payload": data, "payload_count": n}

    def _empty(self) -> dict[str, np.ndarray]:
        out = {}
        for col in self.cols:
            out[col.name] = np.zeros((1,) + col.shape, col.dtype)
            if col.counted:
                out[f"{col.name.split('.')[0]}_count"] = np.zeros(1, np.int64)
        return out

    def _run(self, payloads: list[bytes], ts: np.ndarray):
        if not self.ir.stateful or len(payloads) <= 1:
            return self._walk(payloads, ts)
        parts = [self._walk([p], ts[i:i + 1]) for i, p in enumerate(payloads)]    # state: in order, one at a time
        codes = np.concatenate([p[0] for p in parts])
        new = np.concatenate([p[1] for p in parts])
        keys = parts[0][2].keys()
        if self.emit is None:
            return codes, new, self._raw(payloads)
        return codes, new, {k: np.concatenate([p[2][k] for p in parts]) for k in keys}

    # the whole step ---------------------------------------------------------------------------
    def process(self, fb: FrameBatch) -> HostBatch:
        c = new_counters()
        c["rx"], c["lost"], c["arrived"] = len(fb), fb.lost, len(fb) + fb.lost
        pos_a, payloads, flow = self._select(fb, c)
        c["selected"] = len(pos_a)
        ts = fb.ts_ns[pos_a]
        if payloads:
            codes, new, vals = self._run(payloads, ts)
        else:
            codes, new = np.zeros(0, np.int64), np.zeros(0, bool)
            vals = {k: v[:0] for k, v in (self._empty() if self.emit is not None else self._raw([b""])).items()}
        for code, name in OUTCOME.items():
            c[name] += int(np.count_nonzero(codes == code))
        leaves = np.isin(codes, LEAVES)
        rows = leaves & new if self.emit is not None else leaves
        c["rows"] = int(rows.sum())
        c["unemitted"] = int((leaves & ~rows).sum())
        c["batches"] = int(len(fb) > 0)
        sel = pos_a[rows]
        verdict = TO_CONTRACT[codes[rows]]
        stream = None
        if self.stream == "flow":
            stream = flow[rows]
        elif self.key_field is not None:
            off, t = self.key_field
            stream = np.array([int.from_bytes(payloads[i][off:off + t.nbytes], "big") for i in np.flatnonzero(rows)],
                              dtype=np.uint64).astype(t.dtype)
        return HostBatch({k: v[rows] for k, v in vals.items()}, fb.ts_ns[sel], fb.index[sel], verdict, stream, c)

"""The reference interpreter: the executable specification of the IR.

It evaluates a pipeline over batches of packets with numpy: a scalar value is an
array of shape ``(B,)``, an array value holds ``(B, max)`` per field plus a count
per packet (the op rules are in :mod:`.interp_ops`). Frames are packed into one
buffer, selected (:func:`.framing.select`), evaluated, encoded and rewritten as
arrays; no step runs Python code per packet except building the ``Result`` list
(and pipelines whose state indices depend on state, which run one packet at a time).
Pipelines with state keep the sequential contract exactly: each packet sees the
state the previous one left (how batches stay exact: :mod:`.interp_state`).

    >>> results = Reference(ir).run([frame1, frame2])
    >>> results[0].verdict, results[0].frames     # doctest: +SKIP
    ('pass', [b'...'])
    >>> out = Reference(ir).run_columnar(frames)   # the same outcome as arrays (run() makes Results of it)
    >>> out.counters()["drop"], out.frame(0)       # doctest: +SKIP
"""
from __future__ import annotations

import gc
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from . import framing
from .contract import COUNTER_KEYS, UNLIMITED, Limits, Result, counters  # noqa: F401  (Result, counters re-exported)
from .errors import InternalError
from .interp_ops import ArrVal, PURE_RULES, crc32_be, dt  # noqa: F401  (ArrVal, crc32_be re-exported)
from .interp_ops import CODE, DROP, HOST, MALFORMED, MULTICAST, PASS, TRANSMIT, UNDECIDED  # noqa: F401  (batch codes)
from .interp_state import STATE_RULES, StatePlan, plan_state, rounds
from .ir import Node, Op, Pipeline
from .types import Array
from .walker import Walker


def r_reject_if(w, n, c):
    w.decide(c, MALFORMED)


def r_verdict_if(w, n, c):
    w.decide(c, CODE[n.attr("verdict")], n.attr("group"))


def r_emit(w, n, *vals):
    w.emitted = (w.alive.copy(), list(zip(vals, n.args, n.attr("endian"))))


def r_verdict(w, n):
    w.decide(np.ones(w.B, bool), CODE[n.attr("verdict")], n.attr("group"))


EVAL_RULES = {
    **PURE_RULES, **STATE_RULES, Op.REJECT_IF: r_reject_if, Op.VERDICT_IF: r_verdict_if, Op.EMIT: r_emit,
    Op.VERDICT: r_verdict,
}


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
    """Evaluates one batch of selected payloads: ``data`` holds each payload's first bytes
    (zeros past its end), ``lengths`` the payload lengths. A ``dry`` walk leaves state
    alone and records the state indices each node touches (``touched``)."""
    rules = EVAL_RULES

    def __init__(self, pipeline: Pipeline, data: np.ndarray, lengths: np.ndarray, state: dict[str, np.ndarray],
                 timestamps: np.ndarray, dry: bool = False):
        super().__init__(pipeline)
        self.B = len(lengths)
        self.data, self.lengths, self.state, self.timestamps = data, lengths, state, timestamps
        self.dry, self.touched = dry, []
        self.alive = np.ones(self.B, bool)
        self.code = np.full(self.B, UNDECIDED, dtype=np.int8)
        self.groups = ["none", *pipeline.groups]
        self._group_code = {g: i for i, g in enumerate(self.groups)}
        self.group = np.zeros(self.B, dtype=np.int16)
        self.emitted = None
        self.host_out: dict[int, bytes] = {}     # batch row -> the payload a host function made (host_if)
        self.payload = lambda b: self.data[b, :self.lengths[b]].tobytes()    # batch row -> its payload bytes

    def run_node(self, n: Node):
        v = super().run_node(n)
        if self.map_inputs and isinstance(v, np.ndarray) and v.ndim == 1:
            v = v[:, None]        # a per-packet value made inside a map body broadcasts over the elements
        return v

    def need_bytes(self, end, n: Node) -> None:
        """Reading past the payload end makes the packet malformed (it never reads garbage)."""
        self.decide(self.lengths < end, MALFORMED)

    def decide(self, cond: np.ndarray, code: int, group: str = "none") -> None:
        m = self.alive & cond
        self.code[m] = code
        self.group[m] = self._group_code.get(group, 0)
        self.alive &= ~m


def encode(values: list[tuple[object, Node, str]], rows, out: np.ndarray, at: int) -> np.ndarray | None:
    """Write the emitted payloads of batch rows ``rows`` into ``out[:, at:]`` (wire bytes, each
    value in its endianness); return which bytes are real where arrays hold fewer than their
    maximum (None when every row uses every byte)."""
    valid, col = [], at
    for v, node, endian in values:
        t, bo = node.type, ">" if endian == "be" else "<"
        if isinstance(t, Array):
            st = t.struct
            width = t.max * st.nbytes
            rec = [(f"f{i}", dt(ft).newbyteorder(bo)) for i, (_, ft) in enumerate(st.fields)]
            dst = out[:, col:col + width].view(rec)           # the elements as packed records, in place
            for i, (name, _) in enumerate(st.fields):
                dst[f"f{i}"] = v.fields[name][rows]
            cnt = v.count[rows]
            if not (cnt == t.max).all():
                valid.append((col, width, cnt * st.nbytes))
        else:
            width = t.nbytes
            out[:, col:col + width].view(dt(t).newbyteorder(bo))[:, 0] = np.asarray(v)[rows]
        col += width
    if not valid:
        return None
    mask = np.ones(out.shape, bool)
    for c, width, used in valid:
        mask[:, c:c + width] = np.arange(width) < used[:, None]
    return mask


@contextmanager
def _no_gc():
    """Build many small acyclic objects without the cyclic GC rescanning the heap each time
    (it would take most of the time of building a million Results)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _split(data: np.ndarray, offsets: np.ndarray):
    """``data`` cut at ``offsets`` into bytes objects."""
    size = int(offsets[1] - offsets[0])
    if (np.diff(offsets) == size).all():                               # all of one size: one C loop
        return struct.unpack(f"{size}s" * (len(offsets) - 1), data)
    mv, o = memoryview(data), offsets.tolist()
    return map(bytes, map(mv.__getitem__, map(slice, o[:-1], o[1:])))


@dataclass
class Outcomes:
    """What became of each input frame, as arrays: the columnar form of ``list[Result]``.

    ``verdict`` and ``reason`` hold codes (``VERDICTS[v]``, ``REASONS[r]``); ``copies`` the
    number of frames each input leaves as (0 when dropped, a group's size for multicast).
    Each of ``parts`` is ``(inputs, data, offsets)``: input ``inputs[k]`` leaves rewritten as
    ``data[offsets[k]:offsets[k + 1]]`` (uint8); every other frame leaves as it came.
    ``copy_groups`` holds ``(inputs, group)`` for multicasts to groups that rewrite each copy's
    headers: those inputs leave as ``group.copies(frame)`` of the frame above (:meth:`results`)."""
    verdict: np.ndarray
    reason: np.ndarray
    copies: np.ndarray
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    inputs: list
    copy_groups: list = field(default_factory=list)

    VERDICTS = (None, "pass", "transmit", "drop", "multicast")
    REASONS = ("selected", "malformed", "unselected", "unhandled", "host")

    def frames_out(self) -> list[bytes]:
        """The frame each input leaves as (unchanged or rewritten; dropped ones included)."""
        with _no_gc():
            out = list(self.inputs)
            if set(map(type, out)) - {bytes}:
                out = [bytes(f) for f in out]
            for idx, data, offsets in self.parts:
                new = _split(data, offsets)
                if (np.diff(idx) == 1).all():                   # a run of consecutive frames
                    out[idx[0]:idx[-1] + 1] = new
                else:
                    for i, f in zip(idx.tolist(), new):
                        out[i] = f
            return out

    def frame(self, i: int) -> bytes:
        """The frame input ``i`` leaves as (one copy; also for dropped frames, as they were)."""
        for idx, data, offsets in self.parts:
            k = np.flatnonzero(idx == i)
            if len(k):
                return data[offsets[k[0]]:offsets[k[0] + 1]].tobytes()
        return bytes(self.inputs[i])

    def results(self) -> list[Result]:
        v = np.array(self.VERDICTS, dtype=object)[self.verdict].tolist()
        r = np.array(self.REASONS, dtype=object)[self.reason].tolist()
        frames = self.frames_out()
        with _no_gc():
            frames = [[f] for f in frames]
            done = set()
            for rows, grp in self.copy_groups:
                rows = rows[self.verdict[rows] == self.VERDICTS.index("multicast")].tolist()
                if not rows:
                    continue
                base = [frames[i][0] for i in rows]
                heads = grp.copy_headers(np.frombuffer(b"".join(f[:framing.ETH_IP_UDP] for f in base), np.uint8)
                                         .reshape(len(rows), framing.ETH_IP_UDP))
                for j, i in enumerate(rows):
                    tail = base[j][framing.ETH_IP_UDP:]
                    frames[i] = [h.tobytes() + tail for h in heads[j]]
                done.update(rows)
            for i in np.flatnonzero(self.copies != 1).tolist():
                if i not in done:
                    frames[i] = frames[i] * int(self.copies[i])
            return list(map(Result, v, r, frames))

    def counters(self) -> dict[str, int]:
        """The same as :func:`counters` of :meth:`results`."""
        c = dict.fromkeys(COUNTER_KEYS, 0)
        c.update(rx=len(self.verdict), tx_frames=int(self.copies.sum()))
        for code, name in enumerate(self.VERDICTS[1:], start=1):
            c[name] = int((self.verdict == code).sum())
        for code, name in enumerate(self.REASONS[1:], start=1):
            c[name] = int((self.reason == code).sum())
        return c


SELECTED, MALFORMED_REASON, UNSELECTED, UNHANDLED, HOST_REASON = range(5)


class Reference:
    """Runs a pipeline on frames as every target must: the run contract's semantics.

        >>> ref = Reference(ir)              # fresh state
        >>> ref.run(frames)                  # doctest: +SKIP
        [Result(verdict='pass', reason='selected', frames=[b'...']), ...]
    """

    def __init__(self, pipeline: Pipeline, limits: Limits = UNLIMITED):
        self.pipeline = pipeline
        self.limits = limits          # a target's limits: frames beyond them are "unhandled" (contract)
        self.state = {s.name: np.full(s.size, s.init, dtype=dt(s.elem)) for s in pipeline.states.values()}
        self.state.update(stream_state(pipeline))
        self.plan = plan_state(pipeline) if not pipeline.streams else \
            StatePlan("by_packet", "per-stream state is read and written in sequence")
        self.width = max(_read_extent(pipeline), 1)

    def run(self, frames: list[bytes], timestamps: list[int] | None = None, batch: int = 16384) -> list[Result]:
        return self.run_columnar(frames, timestamps, batch).results()

    def run_columnar(self, frames: list[bytes], timestamps: list[int] | None = None,
                     batch: int = 16384) -> Outcomes:
        """:meth:`run`, with the outcome as arrays (no per-frame Python objects)."""
        n = len(frames)
        buf, starts, lengths = framing.pack(frames)
        plen = framing.select(buf, starts, lengths, self.pipeline.port)
        too_big = ~self.limits.accepts(lengths)                 # the target does not take them in at all
        plen[too_big] = -1
        sel = np.flatnonzero(plen >= 0)
        if len(sel) and int(starts[sel].max()) + framing.PAYLOAD_OFFSET + self.width > len(buf):
            buf = np.concatenate([buf, np.zeros(self.width, np.uint8)])     # whole windows past the last frame
        run = _Run(self, buf, starts, lengths, plen, np.zeros(n, np.uint64) if timestamps is None
                   else np.array(timestamps, dtype=np.uint64))
        run.reason[too_big] = UNHANDLED
        for chunk in self._chunks(run.walker, sel, batch):
            run.walk(chunk)
        return run.outcomes(frames)

    def evaluate(self, payloads: list[bytes], timestamps=None, batch: int = 16384):
        """Run the pipeline on UDP payloads (already selected), in order, state carried across calls.

        Returns ``(codes, groups, emitted)`` per payload: the batch verdict codes (``PASS``...,
        ``MALFORMED``), group indices, and ``(which payloads emitted, [(value, node, endian), ...])``
        or None; the host runtime builds its columns from them."""
        n = len(payloads)
        lengths = np.fromiter(map(len, payloads), np.int64, n)
        data = np.zeros((n, self.width), np.uint8)
        for i, p in enumerate(payloads):
            k = min(len(p), self.width)
            data[i, :k] = np.frombuffer(p, np.uint8, k)
        ts = np.zeros(n, np.uint64) if timestamps is None else np.asarray(timestamps, dtype=np.uint64)

        def walker(idx: np.ndarray, dry: bool = False) -> BatchWalker:
            w = BatchWalker(self.pipeline, data[idx], lengths[idx], self.state, ts[idx], dry)
            w.payload = lambda b: bytes(payloads[int(idx[b])])
            return w

        walks = []
        for chunk in self._chunks(walker, np.arange(n), batch):
            w = walker(chunk).run()
            walks.append((chunk, w.code, w.group, w.emitted))
        if not walks:
            return np.zeros(0, np.int8), np.zeros(0, np.int16), None
        _, code, group, emitted = walks[0] if len(walks) == 1 else _merge(walks)
        return code, group, emitted

    def _chunks(self, walker, sel: np.ndarray, batch: int):
        """The selected frames in walks that keep the sequential contract (see :mod:`.interp_state`)."""
        mode = self.plan.mode
        if mode == "by_packet":
            yield from np.split(sel, np.arange(1, len(sel)))
            return
        for k in range(0, len(sel), batch):
            chunk = sel[k:k + batch]
            if mode != "rounds":
                yield chunk
                continue
            dry = walker(chunk, dry=True).run()
            for r in rounds(self.pipeline, dry.touched, len(chunk)):
                yield chunk[r]


FLUSH = 4096       # packets evaluated in small walks (rounds, one by one) are output together


def _merge(walks: list[tuple]) -> tuple:
    """Several walks' (packets, codes, groups, emitted) as one, in packet order."""
    idx = np.concatenate([w[0] for w in walks])
    order = np.argsort(idx, kind="stable")
    cat = lambda arrays: np.concatenate(arrays)[order]
    idx, code, group = idx[order], cat([w[1] for w in walks]), cat([w[2] for w in walks])
    if walks[0][3] is None:
        return idx, code, group, None
    values = []
    for k, (v, node, endian) in enumerate(walks[0][3][1]):
        vs = [w[3][1][k][0] for w in walks]
        if isinstance(v, ArrVal):
            v = ArrVal({f: cat([x.fields[f] for x in vs]) for f in v.fields}, cat([x.count for x in vs]))
        else:
            v = cat(vs)
        values.append((v, node, endian))
    return idx, code, group, (cat([w[3][0] for w in walks]), values)


class _Run:
    """One run's buffers and per-frame outcome arrays, filled walk by walk."""

    def __init__(self, ref: Reference, buf, starts, lengths, plen, ts):
        self.ref, self.p, self.buf, self.starts, self.plen, self.ts = ref, ref.pipeline, buf, starts, plen, ts
        self.lengths = lengths
        n = len(starts)
        self.verdict = np.full(n, PASS, np.int8)
        self.reason = np.where(plen >= 0, SELECTED, UNSELECTED).astype(np.int8)
        self.copies = np.ones(n, np.int64)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []    # as Outcomes.parts
        self.pending: list[tuple] = []                                       # walks not yet flushed
        self.pending_packets = 0
        self.groups = ["none", *ref.pipeline.groups]
        self.copy_groups: list = []                                          # as Outcomes.copy_groups

    def walker(self, idx: np.ndarray, dry: bool = False) -> BatchWalker:
        width, plen = self.ref.width, self.plen[idx]
        data = framing.rows(self.buf, self.starts[idx] + framing.PAYLOAD_OFFSET, width)
        short = np.flatnonzero(plen < width)
        if len(short):
            data[short] *= np.arange(width) < plen[short, None]
        w = BatchWalker(self.p, data, plen, self.ref.state, self.ts[idx], dry)
        starts = self.starts[idx] + framing.PAYLOAD_OFFSET
        w.payload = lambda b: self.buf[starts[b]:starts[b] + plen[b]].tobytes()     # a whole payload (host_if)
        return w

    def walk(self, idx: np.ndarray) -> None:
        """Evaluate the packets ``idx`` (in order) as one batch; outputs are made in bulk later."""
        w = self.walker(idx).run()
        if w.host_out:
            self.host(idx, w.host_out)
        self.pending.append((idx, w.code, w.group, w.emitted))
        self.pending_packets += len(idx)
        if self.pending_packets >= FLUSH:
            self.flush()

    def flush(self) -> None:
        """Verdicts, counts and rewritten frames of the walks so far."""
        if not self.pending:
            return
        idx, code, group, emitted = self.pending[0] if len(self.pending) == 1 else _merge(self.pending)
        self.pending, self.pending_packets = [], 0
        if (code == UNDECIDED).any():
            raise InternalError(f"packet {int(idx[np.argmax(code == UNDECIDED)])} got no verdict")
        mal, host = code == MALFORMED, code == HOST
        self.verdict[idx] = np.where(mal | host, PASS, code)
        self.reason[idx[mal]] = MALFORMED_REASON
        self.reason[idx[host]] = HOST_REASON
        self.copies[idx[code == DROP]] = 0
        for g in np.unique(group[code == MULTICAST]).tolist():
            grp = self.p.groups[self.groups[g]]
            rows = idx[(code == MULTICAST) & (group == g)]
            self.copies[rows] = len(grp.members)
            if grp.rewrites and grp.members:
                self.copy_groups.append((rows, grp))
        if emitted is None:
            return
        rows = np.flatnonzero(emitted[0] & ~mal & ~host & (code != DROP))
        if len(rows) == 0:
            return
        values = emitted[1]
        frames = idx[rows]
        if len(rows) == len(idx):
            rows = slice(None)
        width = sum(v.type.max * v.type.struct.nbytes if isinstance(v.type, Array) else v.type.nbytes
                    for _, v, _ in values)
        out = np.empty((len(frames), framing.ETH_IP_UDP + width), np.uint8)
        used = encode(values, rows, out, framing.ETH_IP_UDP)
        plen = np.full(len(frames), width, np.int64) if used is None else used.sum(axis=1) - framing.ETH_IP_UDP
        fits = np.asarray(self.ref.limits.fits(self.lengths[frames], plen + framing.ETH_IP_UDP), bool)
        if not fits.all():                     # the target has no room for the new frame: unchanged, unhandled
            self.reason[frames[~fits]] = UNHANDLED
            self.verdict[frames[~fits]] = PASS
            self.copies[frames[~fits]] = 1
            frames, out, plen = frames[fits], out[fits], plen[fits]
            used = None if used is None else used[fits]
            if len(frames) == 0:
                return
        out[:, :framing.ETH_IP_UDP] = framing.rewrite_headers(framing.rows(self.buf, self.starts[frames],
                                                                           framing.ETH_IP_UDP), plen,
                                                              self.p.emit().attr("port"))
        offsets = np.zeros(len(frames) + 1, np.int64)
        np.cumsum(plen + framing.ETH_IP_UDP, out=offsets[1:])
        self.parts.append((frames, out.ravel() if used is None else out[used], offsets))

    def host(self, idx: np.ndarray, payloads: dict[int, bytes]) -> None:
        """Frames a host function finished (host_if): the frame with the payload it made."""
        rows = sorted(payloads)
        frames = idx[rows]
        new = [framing.rewrite(self.buf[self.starts[i]:self.starts[i] + self.lengths[i]].tobytes(), payloads[r])
               for i, r in zip(frames.tolist(), rows)]
        offsets = np.zeros(len(new) + 1, np.int64)
        np.cumsum([len(f) for f in new], out=offsets[1:])
        self.parts.append((frames, np.frombuffer(b"".join(new), np.uint8), offsets))

    def outcomes(self, frames: list) -> Outcomes:
        self.flush()
        return Outcomes(self.verdict, self.reason, self.copies, self.parts, frames, self.copy_groups)


from .interp_streams import STREAM_EVAL_RULES, stream_state  # noqa: E402  (its rules use the helpers above)
EVAL_RULES.update(STREAM_EVAL_RULES)

"""What flows through the host runtime: batches of frames in, batches of emitted values out, counters.

A :class:`FrameBatch` is what a source read: frames (or UDP payloads the kernel already
selected), their arrival times and positions. A :class:`HostBatch` is what the host part
made of them: one numpy array per emitted value, one row per frame that left the pipeline
with a new payload, plus the row's timestamp, position, verdict and stream key.

Counters (one dict, every key always present):

    arrived     frames that reached the source: rx + lost
    rx          frames the runtime received and evaluated
    lost        frames the kernel or the source dropped because the consumer was behind (never silent)
    selected    frames the pipeline selected (rx - unselected - unhandled)
    pass, transmit, drop, multicast, malformed, unselected, unhandled
                each received frame's outcome, as the run contract defines them (here ``pass``
                counts selected frames only; ``unhandled``: the capture truncated the frame)
    rows        frames delivered as rows of values (pass, transmit or multicast with a new payload)
    unemitted   frames that left with their payload unchanged (a verdict before the emit): not rows
    batches     batches of at least one received frame

so that ``arrived == rx + lost``, ``rx == selected + unselected + unhandled``,
``selected == pass + transmit + drop + multicast + malformed`` and
``pass + transmit + multicast == rows + unemitted``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...compiler.contract import OUTCOMES

COUNTERS = ("arrived", "rx", "lost", "selected", *OUTCOMES, "rows", "unemitted", "batches")


def new_counters() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


def add_counters(total: dict[str, int], delta: dict[str, int]) -> dict[str, int]:
    for k, v in delta.items():
        total[k] = total.get(k, 0) + int(v)
    return total


def check_counters(c: dict[str, int]) -> list[str]:
    """The identities the counters must satisfy; the broken ones, as text (empty: all hold)."""
    rules = {
        "arrived == rx + lost": c["arrived"] == c["rx"] + c["lost"],
        "rx == selected + unselected + unhandled": c["rx"] == c["selected"] + c["unselected"] + c["unhandled"],
        "selected == pass + transmit + drop + multicast + malformed":
            c["selected"] == c["pass"] + c["transmit"] + c["drop"] + c["multicast"] + c["malformed"],
        "pass + transmit + multicast == rows + unemitted":
            c["pass"] + c["transmit"] + c["multicast"] == c["rows"] + c["unemitted"],
    }
    return [k for k, ok in rules.items() if not ok]


def format_counters(c: dict[str, int]) -> str:
    return (f"arrived {c['arrived']}  rx {c['rx']}  lost {c['lost']}  selected {c['selected']}  "
            f"rows {c['rows']} in {c['batches']} batches  (drop {c['drop']}, malformed {c['malformed']}, "
            f"unselected {c['unselected']}, unhandled {c['unhandled']}, unemitted {c['unemitted']})")


@dataclass
class FrameBatch:
    """Frames (``kind="frame"``, from the Ethernet header on) or UDP payloads (``kind="payload"``,
    already selected by the kernel's UDP socket) as one source read them."""
    items: list[bytes]
    ts_ns: np.ndarray                      # uint64, arrival (or capture) time of each item
    index: np.ndarray                      # int64, position in the source's arrival order
    kind: str = "frame"
    flow: np.ndarray | None = None         # uint64 per item for payloads: src ip << 32 | src port << 16 | dst port
    truncated: np.ndarray | None = None    # bool per item: the capture holds less than the frame (unhandled)
    lost: int = 0                          # items lost at the source since the previous batch

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def of(cls, items: list[bytes], ts_ns=None, start: int = 0, **kw) -> "FrameBatch":
        n = len(items)
        ts = np.zeros(n, np.uint64) if ts_ns is None else np.asarray(ts_ns, dtype=np.uint64)
        return cls(list(items), ts, np.arange(start, start + n, dtype=np.int64), **kw)


@dataclass
class HostBatch:
    """One batch of the host part's output: ``values[name]`` has one row per delivered frame.

        for hb in HostRuntime(ir, PcapSource("in.pcap")):
            hb.values["label"], hb.values["cats"]        # numpy, shape (len(hb),) and (len(hb), 26)
            hb.tensors()                                  # the same as a dict of torch tensors

    A count-prefixed array ``NAME`` is padded with zeros past its count, given in ``NAME_count``.
    """
    values: dict[str, np.ndarray]
    ts_ns: np.ndarray                      # per row
    index: np.ndarray                      # per row: the frame's position in its source
    verdict: np.ndarray                    # per row: the contract's outcome code (pass, transmit, multicast)
    stream: np.ndarray | None = None       # per row: the stream key, when the runtime was given one
    counters: dict[str, int] = field(default_factory=new_counters)   # what this batch added
    queue: int = 0                         # which source (queue) it came from

    def __len__(self) -> int:
        return len(self.index)

    def tensors(self, widen: bool = True, meta: bool = False) -> dict:
        """The values as torch tensors (zero-copy where the dtype allows). ``widen`` turns u16 into
        int32 and u32 into int64, which torch's indexing and arithmetic take; ``meta`` adds
        ``_ts_ns``, ``_index``, ``_verdict`` (and ``_stream``) per row and ``_counters``."""
        from .tensors import to_torch
        out = {k: to_torch(v, widen) for k, v in self.values.items()}
        if meta:
            out.update(_ts_ns=to_torch(self.ts_ns, widen), _index=to_torch(self.index, widen),
                       _verdict=to_torch(self.verdict, widen), _counters=dict(self.counters))
            if self.stream is not None:
                out["_stream"] = to_torch(self.stream, widen)
        return out


def concat(batches: list[HostBatch]) -> HostBatch:
    """All rows of ``batches`` in order, as one batch (counters summed)."""
    if not batches:
        raise ValueError("concat of no batches")
    keys = batches[0].values.keys()
    values = {}
    for k in keys:
        arrs = [b.values[k] for b in batches]
        width = max(a.shape[1] for a in arrs) if arrs[0].ndim > 1 else None
        if width is not None and any(a.shape[1] != width for a in arrs):      # raw payloads of varying length
            arrs = [np.pad(a, [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2)) for a in arrs]
        values[k] = np.concatenate(arrs)
    cat = lambda name: np.concatenate([getattr(b, name) for b in batches])      # noqa: E731
    c = new_counters()
    for b in batches:
        add_counters(c, b.counters)
    stream = cat("stream") if batches[0].stream is not None else None
    return HostBatch(values, cat("ts_ns"), cat("index"), cat("verdict"), stream, c, batches[0].queue)

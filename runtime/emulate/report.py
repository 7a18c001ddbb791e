"""What the receivers' applications got, from the agents' delivery logs: the ``nicc emulate --json`` summary.

Per receiver the log holds, in delivery order, each message's id, release time, deadline, the time
every message up to it was at the receiver (``avail``) and its own arrival. Over all receivers:

- ``delivered``: deliveries; ``lost``: messages 1..M a receiver's application never got;
  ``duplicated``: deliveries of a message it had already got; ``out_of_order``: deliveries of an id
  lower than the one before;
- ``release_error_us``: how far after its due time each message was released, due = the later of
  its deadline and ``avail`` (a message can be released neither before its deadline nor before the
  ones ahead of it are there); ``late``: deliveries whose ``avail`` was after the deadline (released
  at once, not at the deadline);
- ``release_spread_us``: per message, the latest minus the earliest release over receivers (the
  delivery window after hold-and-release) for messages every receiver had before the deadline.
"""
from __future__ import annotations

import numpy as np

FIELDS = ("id", "release", "deadline", "avail", "arrival")


def load_log(base: str) -> dict[str, np.ndarray]:
    return {k: np.fromfile(f"{base}.{k}", dtype=np.int64) for k in FIELDS}


def _q(a: np.ndarray, scale: float = 1e-3) -> dict:
    if not len(a):
        return {"p50": None, "p99": None, "max": None}
    p50, p99 = np.percentile(a, [50, 99])
    return {"p50": round(float(p50) * scale, 1), "p99": round(float(p99) * scale, 1),
            "max": round(float(a.max()) * scale, 1)}


def summarize(logs: dict[int, dict[str, np.ndarray]], messages: int) -> dict:
    delivered = lost = dup = ooo = late = 0
    errors, on_time = [], []
    for r, log in logs.items():
        ids = log["id"]
        delivered += len(ids)
        uniq = np.unique(ids)
        dup += len(ids) - len(uniq)
        lost += messages - int(np.count_nonzero((uniq >= 1) & (uniq <= messages)))
        ooo += int(np.count_nonzero(np.diff(ids) < 0)) if len(ids) > 1 else 0
        due = np.maximum(log["deadline"], log["avail"])
        errors.append(log["release"] - due)
        late += int(np.count_nonzero(log["avail"] > log["deadline"]))
        on_time.append((ids, log["release"], log["avail"] <= log["deadline"]))
    err = np.concatenate(errors) if errors else np.zeros(0, np.int64)
    spread = _spread(on_time, messages, len(logs))
    return {"receivers": len(logs), "messages": messages, "delivered": delivered, "lost": lost,
            "duplicated": dup, "out_of_order": ooo, "release_error_us": _q(err), "late": late,
            "release_spread_us": _q(spread)}


def _spread(on_time, messages: int, receivers: int) -> np.ndarray:
    """Latest minus earliest release of each message that every receiver had before its deadline."""
    lo = np.full(messages + 1, np.iinfo(np.int64).max)
    hi = np.full(messages + 1, np.iinfo(np.int64).min)
    count = np.zeros(messages + 1, np.int64)
    for ids, rel, ok in on_time:
        keep = ok & (ids >= 1) & (ids <= messages)
        i, t = ids[keep], rel[keep]
        np.minimum.at(lo, i, t)
        np.maximum.at(hi, i, t)
        np.add.at(count, i, 1)
    full = count == receivers
    return (hi - lo)[full]

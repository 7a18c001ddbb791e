"""The run contract: what becomes of each frame, the same on every target.

Every target (the reference interpreter, XDP, DPDK, bmv2) processes frames in order, from
the pipeline's initial state, and gives each input frame exactly one *outcome*:

    outcome      frames out                          counted as
    -----------  ----------------------------------  -------------------------------
    pass         the frame (rewritten if emitted)     pass
    transmit     the frame (rewritten if emitted)     transmit
    drop         none                                 drop
    multicast    one copy per group member, in order  multicast
    malformed    the frame, unchanged                 pass + malformed
    unselected   the frame, unchanged                 pass + unselected
    unhandled    the frame, unchanged                 pass + unhandled
    host         the frame as the host part made it   pass + host

``unhandled`` is the one outcome that is not the pipeline's: the target could not
carry out what the pipeline says (the frame is larger than the target takes in, the
new frame does not fit the buffer it must be built in, or an atomic state update
lost to other CPUs too many times). Such a frame goes to the host untouched and is
counted; the frames around it are never affected. Which frames a target cannot
handle is part of its declared :class:`Limits`, so that the reference interpreter,
given the same limits, predicts every outcome exactly (contention is the exception:
it cannot happen when one CPU runs the frames). ``host`` marks a frame the pipeline
itself sent to its host part (``nd.host_if``), which made the payload it leaves with.

The integer codes in :data:`CODES` are the ones every generated program returns and
counts; the C spelling comes from :func:`c_enum`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

OUTCOMES = ("pass", "transmit", "drop", "multicast", "malformed", "unselected", "unhandled", "host")
CODES = {name: i for i, name in enumerate(OUTCOMES)}
VERDICTS = ("pass", "transmit", "drop", "multicast")
UNCHANGED = ("malformed", "unselected", "unhandled")      # outcomes that pass the frame untouched
PASSED = UNCHANGED + ("host",)                            # outcomes counted as pass + themselves
COUNTER_KEYS = ("rx", "pass", "transmit", "drop", "multicast", "malformed", "unselected", "unhandled", "host",
                "tx_frames")


@dataclass
class Result:
    """What became of one input frame: a verdict, why, and the frames that left."""
    verdict: str                  # pass | transmit | drop | multicast
    reason: str = "selected"      # selected | malformed | unselected | unhandled | host
    frames: list[bytes] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return self.verdict if self.reason == "selected" else self.reason


def result(outcome: str, frames: list[bytes] = ()) -> Result:
    """The Result of ``outcome`` (one of :data:`OUTCOMES`) with the frames that left."""
    if outcome in PASSED:
        return Result("pass", outcome, list(frames))
    if outcome not in VERDICTS:
        raise ValueError(f"unknown outcome {outcome!r}")
    return Result(outcome, "selected", list(frames) if outcome != "drop" else [])


def counters(results: list[Result]) -> dict[str, int]:
    """Per-outcome counters, as every target prints them (``pass`` includes the unchanged outcomes)."""
    c = dict.fromkeys(COUNTER_KEYS, 0)
    c["rx"] = len(results)
    for r in results:
        c[r.verdict] += 1
        if r.reason != "selected":
            c[r.reason] += 1
        c["tx_frames"] += len(r.frames)
    return c


def from_codes(codes: dict[str, int]) -> dict[str, int]:
    """Contract counters from per-outcome counts (what a target's program counts) and frames out."""
    c = dict.fromkeys(COUNTER_KEYS, 0)
    for k in OUTCOMES:
        c[k] = int(codes.get(k, 0))
    c["rx"] = sum(c[k] for k in OUTCOMES)
    c["pass"] += sum(c[k] for k in PASSED)
    c["tx_frames"] = int(codes.get("tx_frames", 0))
    return c


def format_counters(c: dict) -> str:
    host = f", host part {c['host']}" if c.get("host") else ""
    return (f"rx {c['rx']}  pass {c['pass']} (malformed {c['malformed']}, unselected {c['unselected']}, "
            f"unhandled {c['unhandled']}{host})  transmit {c['transmit']}  drop {c['drop']}  "
            f"multicast {c['multicast']}  -> {c['tx_frames']} frames out")


@dataclass(frozen=True)
class Limits:
    """The frames a target can carry: ``max_in`` bytes in, and whether a frame of ``n`` bytes
    may become ``m`` bytes (``fits(n, m)``, elementwise on numpy arrays too). Frames beyond them
    are ``unhandled``."""
    name: str
    max_in: int
    fits: Callable[[int, int], bool] = lambda n, m: True
    note: str = ""

    def accepts(self, n: int) -> bool:
        return n <= self.max_in


UNLIMITED = Limits("none", 1 << 31, note="the reference interpreter carries frames of any size")


def c_enum(prefix: str) -> str:
    """The outcome codes as C ``#define`` lines, e.g. ``#define NICC_PASS 0``."""
    return "\n".join(f"#define {prefix}{name.upper()} {code}" for name, code in CODES.items()) + "\n"

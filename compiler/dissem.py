"""Dissemination policies beyond the tree's shape: hold-and-release and repair.

    release = ReleasePolicy(hold_us=25, window_ms=10, report_ms=15, estimator="oml")
    repair = RepairPolicy(history=1024)

Hold-and-release (Jasper). Receivers stamp every message's one-way delay (OWD: local
arrival time minus the sender's stamp, on synchronized clocks) into 10 ms windows.
Every ``report_ms`` each node sends its parents what it knows; proxies aggregate by
maximum up the tree. The sender stamps each message with
``deadline = send time + global OWD + hold_us`` and every receiver releases the message
to its application at the deadline (at once if it arrives later).

Two estimators of the global OWD, both carried up the tree by maximum:

- ``"jasper"``: each receiver reduces a window to one number, its ``quantile`` (Jasper:
  p95-p97) of OWD; the sender uses the latest maximum over receivers. The maximum of
  per-receiver percentiles is below the same percentile of the per-message maximum
  (the one-way latency of the slowest receiver, OML) as soon as receivers are many, so
  the deadline is missed more often as N grows (Jasper: P(F) = 86% at N = 5000).
- ``"oml"`` (default): each receiver reports the OWD of every message of a window
  (a vector indexed by sequence number); proxies take the element-wise maximum, so the
  sender learns the exact OML of every message, and takes the ``quantile`` of the OML
  over its last ``history_windows`` windows. The maximum is idempotent, so the reports
  can follow all H+1 hedged paths up and a lost report costs nothing.

Repair. Nodes detect a gap when a later sequence number arrives and the missing one
has not come ``reorder_us`` later; they ask their parents in order (their own parent
first, then the hedging parents), each of which keeps its last ``history`` messages,
and fall back to the sender (which keeps everything). A request the parent cannot yet
answer waits there until the parent has the message. Requests and answers can be lost;
the asker retries after ``timeout_us``. Receivers then deliver to the application in
sequence order, each message once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import NiccError, SourceLoc

ESTIMATORS = ("oml", "jasper")
STAMPS = ("root", "sender")
DEFAULT_QUANTILE = {"oml": 0.99, "jasper": 0.97}


@dataclass(frozen=True)
class ReleasePolicy:
    hold_us: float = 25.0
    window_ms: float = 10.0
    report_ms: float = 15.0
    estimator: str = "oml"
    quantile: float | None = None          # None: 0.99 for "oml", 0.97 for "jasper"
    history_windows: int = 10
    stamp: str = "root"
    loc: SourceLoc | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.stamp not in STAMPS:
            raise NiccError(f"deadlines are stamped at 'root' or 'sender', got {self.stamp!r}", self.loc)
        if self.estimator not in ESTIMATORS:
            raise NiccError(f"unknown OWD estimator {self.estimator!r} (choose {', '.join(ESTIMATORS)})", self.loc)
        if self.quantile is not None and not 0.5 <= self.quantile <= 1.0:
            raise NiccError(f"OWD quantile must be within 0.5..1, got {self.quantile}", self.loc)
        for name in ("hold_us", "window_ms", "report_ms"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or (name != "hold_us" and v == 0):
                raise NiccError(f"{name} must be a positive number, got {v!r}", self.loc)
        if not isinstance(self.history_windows, int) or self.history_windows < 1:
            raise NiccError(f"history_windows must be a positive integer, got {self.history_windows!r}", self.loc)

    @property
    def q(self) -> float:
        return self.quantile if self.quantile is not None else DEFAULT_QUANTILE[self.estimator]


@dataclass(frozen=True)
class RepairPolicy:
    enabled: bool = True
    history: int = 1024                    # messages each proxy keeps for its children
    reorder_us: float = 100.0
    timeout_us: float = 500.0
    loc: SourceLoc | None = field(default=None, compare=False)

    def __post_init__(self):
        if not isinstance(self.history, int) or self.history < 1:
            raise NiccError(f"repair history must be a positive number of messages, got {self.history!r}", self.loc)
        for name in ("reorder_us", "timeout_us"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0:
                raise NiccError(f"{name} must be a non-negative number, got {v!r}", self.loc)

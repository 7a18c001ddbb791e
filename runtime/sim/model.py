"""The latency, clock and loss model of ``nicc sim``, and the simulation's own settings.

Jasper (arXiv 2402.09527) measured on AWS (c5.2xlarge VMs) that a tree level adds
30 +- 10 us and that each extra child a node sends to adds 2.7 +- 0.9 us. The model:

- hop: every copy crossing one link (one tree level) takes ``Normal(hop_us, hop_sd_us)``
  microseconds, at least ``min_hop_us``; with probability ``tail_prob`` it also takes an
  extra ``Exponential(tail_us)`` (the tail mixture: a descheduled vCPU, a busy host);
- copies: a node prepares its copies one after another in port order, each after the
  first costing ``Normal(child_us, child_sd_us)`` (at least 0, drawn per message and
  copy), and transmits them in bursts of ``burst`` (Jasper's DPDK proxy: 32): a copy
  leaves when the last copy of its burst is ready. A proxy's 10 to 30 copies leave
  together, (c-1) costs after the message came in; a unicast sender's copy k leaves
  with its group of 32. ``burst=1`` sends every copy as soon as it is ready;
- no queueing: each message sees these delays whatever other messages do (Jasper's
  latency model is per message); at rates where a node would send more copies per second
  than one DPDK core can (about 1.05 M/s, Jasper) the numbers are optimistic and the run
  says so;
- clocks: every node's clock is off by a fixed ``Normal(0, clock_sd_us)`` (Huygens-class
  synchronization, 100 ns by default); OWD measurements and release times are read on
  these clocks;
- loss: every copy, repair request, repair answer and OWD report is lost independently
  with probability ``loss`` (0 by default: Jasper's model has no loss).

The tail parameters are calibrated so that direct trees of N = 100 show Jasper's p99
delivery windows (about 350/150/120 us for H = 0/1/2) without hold-and-release.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

COPIES_PER_CORE_PER_S = 1.05e6       # Jasper's DPDK proxy, one core


@dataclass(frozen=True)
class LatencyModel:
    hop_us: float = 30.0
    hop_sd_us: float = 10.0
    min_hop_us: float = 5.0
    child_us: float = 2.7
    child_sd_us: float = 0.9
    burst: int = 32
    tail_prob: float = 0.03
    tail_us: float = 70.0
    clock_sd_us: float = 0.1
    loss: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or v < 0 or v != v:
                raise ValueError(f"latency model: {f.name} must be a non-negative number, got {v!r}")
        if not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"latency model: burst must be a positive integer, got {self.burst!r}")
        if self.tail_prob > 1 or self.loss >= 1:
            raise ValueError("latency model: tail_prob must be <= 1 and loss < 1")

    def hops(self, rng: np.random.Generator, shape) -> np.ndarray:
        """One-link delays (us, float32) for an array of copies."""
        d = rng.standard_normal(shape, dtype=np.float32)
        d *= np.float32(self.hop_sd_us)
        d += np.float32(self.hop_us)
        np.maximum(d, np.float32(self.min_hop_us), out=d)
        if self.tail_prob > 0:
            tail = rng.random(shape, dtype=np.float32) < np.float32(self.tail_prob)
            k = int(tail.sum())
            if k:
                d[tail] += rng.exponential(self.tail_us, k).astype(np.float32)
        return d

    def child_costs(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Extra-child costs (us, float32), one per copy."""
        c = rng.standard_normal(shape, dtype=np.float32)
        c *= np.float32(self.child_sd_us)
        c += np.float32(self.child_us)
        np.maximum(c, np.float32(0), out=c)
        return c

    def lost(self, rng: np.random.Generator, shape) -> np.ndarray | None:
        """A boolean mask of lost copies, or None when the model has no loss."""
        if self.loss <= 0:
            return None
        return rng.random(shape, dtype=np.float32) < np.float32(self.loss)

    def clocks(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Per-node clock offsets (us, float64): local clock = true time + offset."""
        return rng.normal(0.0, self.clock_sd_us, n) if self.clock_sd_us > 0 else np.zeros(n)


@dataclass(frozen=True)
class SimConfig:
    messages: int = 3000
    rate: float = 10_000.0           # messages per second from the sender (Poisson)
    seed: int = 0
    dedup: bool = True               # receivers suppress duplicates (E3); off: every copy reaches the application
    settle_ms: float = 1.0           # receivers report a window this long after a later window began arriving
    sender_refresh_ms: float = 1.0   # how often the sender recomputes its global OWD from what reached it
    bootstrap_us: float = 1000.0     # OWD the sender assumes before its first estimate (warm-up)
    heartbeats: int = 5              # idle heartbeats after the last message, 1 ms apart (gap detection)

    def __post_init__(self):
        if not isinstance(self.messages, int) or self.messages < 1:
            raise ValueError(f"messages must be a positive integer, got {self.messages!r}")
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate!r}")

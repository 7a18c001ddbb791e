"""``serve``: run a host part on a live source, report its counters periodically, hand batches on.

    serve("examples/criteo.py", UdpSource(9002), interval=1.0, callback=train_step)
    serve(host_ir, AfPacketSource("eth0"), nic=XdpNic(nic_ir, "eth0"))     # NIC part + host part

The NIC part plugs in through ``nic=``: any object with ``attach()``, ``detach()`` and
``counters()`` (:class:`NicPart`). ``serve`` attaches it before the host source opens and
detaches it when serving ends (Ctrl-C, SIGTERM, ``duration``, the end of a capture), also on
errors, and reports its counters beside the host's. :class:`nicc.runtime.host.nic.XdpNic`
is one: a pipeline compiled for XDP and attached to an interface.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Callable, Protocol

from ...compiler.contract import format_counters as format_nic
from .batch import HostBatch, format_counters
from .runtime import HostRuntime


class NicPart(Protocol):
    """What ``serve`` needs of a NIC part: attach to its interface, detach, and its contract counters."""
    name: str

    def attach(self) -> None: ...

    def detach(self) -> None: ...

    def counters(self) -> dict[str, int]: ...


def report_line(name: str, host: dict, elapsed: float, rate: float | None, nic: dict | None = None) -> str:
    line = f"{name} {elapsed:7.1f}s  {format_counters(host)}"
    if rate is not None:
        line += f"  {rate:,.0f} frames/s"
    if nic is not None:
        line += f"\n{'':{len(name)}}   nic: {format_nic(nic)}"
    return line


def serve(pipeline, source, *, nic: NicPart | None = None, callback: Callable[[HostBatch], object] | None = None,
          interval: float = 1.0, duration: float | None = None, out=None, as_json: bool = False,
          report: Callable[[dict, dict | None, float], object] | None = None,
          until: Callable[[dict], bool] | None = None, **runtime_kw) -> dict:
    """Serve until the source ends, ``duration`` passes, ``until(host_counters)`` holds (checked after
    every batch and idle tick), or SIGINT/SIGTERM; returns the host counters.

    Every ``interval`` seconds it prints a line of counters to ``out`` (default stdout) and calls
    ``report(host_counters, nic_counters, elapsed)``; ``callback`` gets each non-empty batch.
    ``runtime_kw`` goes to :class:`HostRuntime` (batch, batch_time, prefetch, stream, names).
    """
    out = out or sys.stdout
    rt = HostRuntime(pipeline, source, idle=True, wait=min(0.1, interval), **runtime_kw)
    name = f"nicc serve {rt.ir.name}:"
    old = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, lambda *_: rt.stop())
    nic_c = None
    t0 = last = time.monotonic()
    last_rx = 0
    try:
        if nic is not None:
            nic.attach()
        for hb in rt:
            if len(hb) and callback is not None:
                callback(hb)
            now = time.monotonic()
            if now - last >= interval:
                nic_c = nic.counters() if nic is not None else None
                rate = (rt.counters["arrived"] - last_rx) / (now - last)
                print(report_line(name, rt.counters, now - t0, rate, nic_c), file=out, flush=True)
                if report is not None:
                    report(dict(rt.counters), nic_c, now - t0)
                last, last_rx = now, rt.counters["arrived"]
            if (duration is not None and now - t0 >= duration) or (until is not None and until(rt.counters)):
                break
    finally:
        if nic is not None:
            nic_c = nic.counters()
            nic.detach()
        for s, h in old.items():
            signal.signal(s, h)
    elapsed = time.monotonic() - t0
    print(report_line(name, rt.counters, elapsed, None, nic_c) + "  (done)", file=out, flush=True)
    if report is not None:
        report(dict(rt.counters), nic_c, elapsed)
    if as_json:
        print(json.dumps({"host": rt.counters, "nic": nic_c, "seconds": round(elapsed, 3)}), file=out, flush=True)
    return rt.counters

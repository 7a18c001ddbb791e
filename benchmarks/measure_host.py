"""Host-side measurements: the library a user would pick instead of a NIC, and nicc's reference
interpreter, both on one core of the host.

* E1, torch: ``t.float().div(255).sub(mean).div(std).half()`` on the pixels of all frames at
  once, already in one uint8 tensor (torch's best case: no parsing, one call for all packets).
* E2, numpy + zlib: the payloads of all frames in one buffer, parsed with a structured dtype,
  the label filter, ``np.searchsorted`` for the buckets, ``zlib.crc32`` per categorical value.
* E4, cv2 and E5, HF tokenizers: :mod:`.host_streams`.
* interpreter: ``Reference(ir).run(frames)`` on the frames, repeated to at least 4096 frames.

Each library's output is compared with the reference interpreter's on the same frames before
it is timed. Times are per packet: one call's CPU time (of the calling thread, so time spent
waiting for the core while other processes run is left out) divided by the number of frames.

    h = HostBench("torch", frames, exp)     # ValueError if the library's output is not exact
    h.measure(reps=5)                        # {"torch": [ns/packet per call, ...]}
"""
from __future__ import annotations

import time
import zlib
from contextlib import contextmanager

import numpy as np

from ..compiler.interp import Reference
from ..compiler.ir import Pipeline
from .host_streams import cv2_resize, hf_tokenize
from .workloads import Outcome

HDR = 42
MEAN = (0.485, 0.456, 0.406)        # as examples/normalize.py
STD = (0.229, 0.224, 0.225)
CRITEO_IN = np.dtype([("label", "u1"), ("dense", ">u4", 13), ("cats", ">u4", 26)])
CRITEO_OUT = np.dtype([("label", "u1"), ("buckets", "u1", 13), ("hashes", "<u4", 26)])
BOUNDARIES = np.array([1 << i for i in range(32)], dtype=np.uint64)
METHOD = ("one host core, all frames in one call (the library's best case); ns/packet = the call's thread CPU "
          "time / frames; outputs checked against the reference interpreter first")


@contextmanager
def _one_thread():
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _torch_normalize(frames: list[bytes]):
    import torch
    count = 240
    pix = np.stack([np.frombuffer(f, np.uint8, 3 * count, HDR + 10) for f in frames]).reshape(len(frames), count, 3)
    t = torch.from_numpy(pix)
    mean, std = torch.tensor(MEAN), torch.tensor(STD)

    def run():
        with _one_thread():
            return t.float().div(255).sub(mean).div(std).half()

    def payloads(out) -> list[bytes]:
        raw = out.numpy().view(np.uint16).astype("<u2")
        return [f[HDR:HDR + 10] + raw[i].tobytes() for i, f in enumerate(frames)]
    return run, payloads


def _numpy_criteo(frames: list[bytes]):
    buf = b"".join(f[HDR:HDR + CRITEO_IN.itemsize] for f in frames)

    def run():
        rec = np.frombuffer(buf, CRITEO_IN)
        rec = rec[rec["label"] <= 1]
        out = np.empty(len(rec), CRITEO_OUT)
        out["label"] = rec["label"]
        out["buckets"] = np.searchsorted(BOUNDARIES, rec["dense"].astype(np.uint64), side="right")
        cats = rec["cats"].tobytes()                     # big-endian, as in the packet
        h = np.fromiter((zlib.crc32(cats[i:i + 4]) for i in range(0, len(cats), 4)), np.uint32, len(cats) // 4)
        out["hashes"] = (h & 0xFFFFF).reshape(len(rec), 26)
        return out

    def payloads(out) -> list[bytes]:
        return [r.tobytes() for r in out]
    return run, payloads


HOST_LIBRARIES = {"torch": _torch_normalize, "numpy+zlib": _numpy_criteo, "cv2": cv2_resize,
                  "tokenizers": hf_tokenize}
# the clock of a call: the calling thread's CPU time, or the process's where the library may use threads
CLOCKS = {"tokenizers": time.process_time_ns}


class HostBench:
    """A host library on fully processed frames (every frame yields one output payload)."""

    def __init__(self, library: str, frames: list[bytes], exp: list[Outcome]):
        self.name = library
        self.n = len(frames)
        self.run, payloads = HOST_LIBRARIES[library](frames)
        want = [e.frame[HDR:] for e in exp if e.frame is not None]
        got = payloads(self.run())
        bad = sum(g != w for g, w in zip(got, want)) + abs(len(got) - len(want))
        self.exact = {library: (bad == 0, bad)}

    def measure(self, reps: int) -> dict[str, list[float]]:
        out = []
        clock = CLOCKS.get(self.name, time.thread_time_ns)
        for _ in range(reps):
            t0 = clock()
            self.run()
            out.append((clock() - t0) / self.n)
        return {self.name: out}

    def close(self) -> None:
        pass


class InterpBench:
    """nicc's reference interpreter (a fresh state for every run), on a large batch: ``run`` (one
    Result per frame) and ``run_columnar`` (the outcome as arrays; ``run`` is it plus a Result per frame)."""

    def __init__(self, ir: Pipeline, frames: list[bytes], min_frames: int = 65536):
        self.ir = ir
        self.frames = frames * max(1, -(-min_frames // len(frames)))
        self.exact: dict[str, tuple[bool, int]] = {}

    def measure(self, reps: int) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"interpreter": [], "interpreter, columnar": []}
        for _ in range(reps):
            for name, run in (("interpreter", lambda: Reference(self.ir).run(self.frames)),
                              ("interpreter, columnar", lambda: Reference(self.ir).run_columnar(self.frames))):
                t0 = time.thread_time_ns()
                run()
                out[name].append((time.thread_time_ns() - t0) / len(self.frames))
        return out

    def close(self) -> None:
        pass

"""libbpf (``libbpf.so.1``) through ctypes: the few calls nicc needs to load, fill, run and attach
BPF programs.

    with Loaded("prog.bpf.o") as l:                 # opened and loaded through the kernel verifier
        if not l.ok: print(l.verifier_log())
        runner = TestRunner(l)
        action, out, ns = runner.run(frame)         # BPF_PROG_TEST_RUN, repeat=1
        l.counters()                                # the per-CPU outcome counters, summed

libbpf's own messages are captured (``Libbpf.get().messages``), not printed.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

import numpy as np

from ..compiler.contract import OUTCOMES
from ..compiler.errors import InternalError
from .target import TargetUnavailable

PAGE = 4096
LINEAR = 3520               # PAGE_SIZE - XDP_PACKET_HEADROOM - skb_shared_info: a test frame's linear part
MAX_RUN_FRAME = LINEAR + 16 * PAGE     # the largest frame run (a 17th fragment is left for growth)
OUT_BUF = LINEAR + 17 * PAGE
NCOUNTERS = 8               # per-outcome counters of a nicc program (nicc.compiler.contract.CODES)
BPF_ANY = 0


class LibbpfUnavailable(TargetUnavailable):
    """libbpf cannot open or load something (the message says what)."""


class TestRunOpts(ctypes.Structure):
    """struct bpf_test_run_opts (libbpf 1.x)."""
    _fields_ = [("sz", ctypes.c_size_t), ("data_in", ctypes.c_void_p), ("data_out", ctypes.c_void_p),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("ctx_in", ctypes.c_void_p), ("ctx_out", ctypes.c_void_p),
                ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
                ("retval", ctypes.c_uint32), ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32), ("batch_size", ctypes.c_uint32)]


_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class Libbpf:
    """The loaded library with the signatures nicc uses (one instance: ``Libbpf.get()``)."""
    _inst: "Libbpf | None" = None

    def __init__(self):
        self.lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        self.libc = ctypes.CDLL(None, use_errno=True)
        L, P, I, U32, S = self.lib, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_char_p
        sig = {
            "bpf_object__open_file": (P, [S, P]), "bpf_object__load": (I, [P]), "bpf_object__close": (None, [P]),
            "bpf_object__next_program": (P, [P, P]), "bpf_object__find_map_by_name": (P, [P, S]),
            "bpf_program__fd": (I, [P]), "bpf_map__set_max_entries": (I, [P, U32]),
            "bpf_program__set_log_buf": (I, [P, P, ctypes.c_size_t]),
            "bpf_program__set_log_level": (I, [P, U32]), "bpf_map__fd": (I, [P]),
            "bpf_map_update_elem": (I, [I, P, P, ctypes.c_uint64]), "bpf_map_lookup_elem": (I, [I, P, P]),
            "bpf_prog_test_run_opts": (I, [I, P]), "bpf_xdp_attach": (I, [I, I, U32, P]),
            "bpf_xdp_detach": (I, [I, U32, P]), "bpf_obj_get_info_by_fd": (I, [I, P, P]),
            "libbpf_num_possible_cpus": (I, []), "libbpf_set_print": (P, [_PRINT_FN]), "bpf_map_freeze": (I, [I]),
        }
        for name, (res, args) in sig.items():
            fn = getattr(L, name)
            fn.restype, fn.argtypes = res, args
        self.libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        self.messages: list[str] = []
        self._print = _PRINT_FN(self._on_print)      # keep a reference: libbpf holds the pointer
        L.libbpf_set_print(self._print)
        self.ncpus = L.libbpf_num_possible_cpus()

    def _on_print(self, level, fmt, args):
        buf = ctypes.create_string_buffer(4096)
        self.libc.vsnprintf(buf, len(buf), fmt, args)
        self.messages.append(buf.value.decode(errors="replace"))
        del self.messages[:-400]
        return 0

    @classmethod
    def get(cls) -> "Libbpf":
        if cls._inst is None:
            cls._inst = Libbpf()
        return cls._inst


def strerror(rc: int) -> str:
    """``rc`` (a negative errno, or 0 with errno set) as ``ENAME: message``."""
    e = -rc if rc < 0 else ctypes.get_errno()
    return f"{errno.errorcode.get(e, e)}: {os.strerror(e)}"


class Loaded:
    """One BPF object opened and loaded: its first program's fd and its maps (``close()`` unloads).

    ``log_size`` > 0 keeps the verifier's log (``log_level``: 1, or 4 for its statistics alone) in a
    buffer of that size. A map named
    ``nicc_scratch`` gets one entry per possible CPU before loading."""

    def __init__(self, obj_path: str, log_size: int = 0, log_level: int = 1):
        self.bpf = Libbpf.get()
        self.log = ctypes.create_string_buffer(log_size) if log_size else None
        self.obj = self.bpf.lib.bpf_object__open_file(obj_path.encode(), None)
        if not self.obj:
            raise LibbpfUnavailable(f"libbpf cannot open {obj_path}: {strerror(-ctypes.get_errno())}")
        self.prog = self.bpf.lib.bpf_object__next_program(self.obj, None)
        scratch = self.bpf.lib.bpf_object__find_map_by_name(self.obj, b"nicc_scratch")
        if scratch:      # one working-memory slot per possible CPU
            self.bpf.lib.bpf_map__set_max_entries(scratch, self.bpf.ncpus)
        if self.log is not None:
            self.bpf.lib.bpf_program__set_log_buf(self.prog, self.log, log_size)
            self.bpf.lib.bpf_program__set_log_level(self.prog, log_level)
        del self.bpf.messages[:]
        self.rc = self.bpf.lib.bpf_object__load(self.obj)
        self.fd = self.bpf.lib.bpf_program__fd(self.prog) if self.rc == 0 else -1
        self._cfd: int | None = None

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def verifier_log(self) -> str:
        if self.log is not None and self.log.value:
            return self.log.value.decode(errors="replace")
        return "".join(self.bpf.messages)

    def map_fd(self, name: str) -> int:
        m = self.bpf.lib.bpf_object__find_map_by_name(self.obj, name.encode())
        if not m:
            raise InternalError(f"no map {name} in the loaded object")
        return self.bpf.lib.bpf_map__fd(m)

    def has_map(self, name: str) -> bool:
        return bool(self.bpf.lib.bpf_object__find_map_by_name(self.obj, name.encode()))

    def update(self, fd: int, key: int, value: bytes) -> None:
        k = ctypes.c_uint32(key)
        rc = self.bpf.lib.bpf_map_update_elem(fd, ctypes.byref(k), value, BPF_ANY)
        if rc:
            raise InternalError(f"map update failed: {strerror(rc)}")

    def freeze(self, fd: int) -> None:
        """No more writes from user space either (the program could only read it already)."""
        rc = self.bpf.lib.bpf_map_freeze(fd)
        if rc:
            raise InternalError(f"map freeze failed: {strerror(rc)}")

    def lookup(self, fd: int, key: int, size: int) -> bytes:
        k = ctypes.c_uint32(key)
        buf = ctypes.create_string_buffer(size)
        rc = self.bpf.lib.bpf_map_lookup_elem(fd, ctypes.byref(k), buf)
        if rc:
            raise InternalError(f"map lookup failed: {strerror(rc)}")
        return buf.raw

    def counters(self, name: str = "nicc_counters") -> np.ndarray:
        """Per-outcome packet counts of a per-CPU counters map, summed over CPUs."""
        if name != "nicc_counters":
            fd = self.map_fd(name)
        else:
            if self._cfd is None:
                self._cfd = self.map_fd(name)
            fd = self._cfd
        raw = self.lookup(fd, 0, 8 * NCOUNTERS * self.bpf.ncpus)
        return np.frombuffer(raw, dtype=np.uint64).reshape(self.bpf.ncpus, NCOUNTERS).sum(axis=0)

    def info(self) -> dict:
        """From struct bpf_prog_info: verified instructions, JITed bytes, translated instructions."""
        info = ctypes.create_string_buffer(232)
        n = ctypes.c_uint32(232)
        if self.bpf.lib.bpf_obj_get_info_by_fd(self.fd, info, ctypes.byref(n)):
            return {}
        raw = info.raw
        out = {"jited_bytes": int.from_bytes(raw[16:20], "little"),
               "xlated_insns": int.from_bytes(raw[20:24], "little") // 8}
        if n.value >= 220:
            out["verified_insns"] = int.from_bytes(raw[216:220], "little") or None
        return out

    def verified_insns(self) -> int | None:
        return self.info().get("verified_insns")

    def close(self) -> None:
        if self.obj:
            self.bpf.lib.bpf_object__close(self.obj)
            self.obj = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TestRunner:
    """BPF_PROG_TEST_RUN on one loaded program, one frame at a time (repeat=1, a fresh copy each call)."""

    def __init__(self, loaded: Loaded):
        self.l = loaded
        self.out = ctypes.create_string_buffer(OUT_BUF)
        self.opts = TestRunOpts()
        self.opts.sz = ctypes.sizeof(TestRunOpts)
        self.clock: int | None = None             # the program's nicc_clock map, -1 if it has none
        self.before = None                        # the outcome counters before the next frame

    def run(self, frame: bytes) -> tuple[int, bytes, int]:
        """(XDP action, output frame, kernel-reported duration in ns)."""
        o = self.opts
        inb = ctypes.create_string_buffer(frame, len(frame))
        o.data_in = ctypes.cast(inb, ctypes.c_void_p)
        o.data_size_in = len(frame)
        o.data_out = ctypes.cast(self.out, ctypes.c_void_p)
        o.data_size_out = OUT_BUF
        o.repeat = 1
        rc = self.l.bpf.lib.bpf_prog_test_run_opts(self.l.fd, ctypes.byref(o))
        if rc:
            raise InternalError(f"BPF_PROG_TEST_RUN failed on a {len(frame)}-byte frame: {strerror(rc)}")
        return o.retval, self.out.raw[:o.data_size_out], o.duration

    def outcome(self, frame: bytes, i: int, ts: int | None, actions: dict[str, int], hook: str) -> tuple[str, bytes]:
        """Run frame ``i`` (at time ``ts`` in the program's clock map, when it has one): the outcome
        its program counted, which must be the only counter that moved and agree with the action it
        returned (``actions``: outcome -> the ``hook``'s action value), and the output frame."""
        l = self.l
        if self.clock is None:
            self.clock = l.map_fd("nicc_clock") if l.has_map("nicc_clock") else -1
        if self.clock >= 0:
            l.update(self.clock, 0, (1).to_bytes(8, "little") + ((ts or 0) % (1 << 64)).to_bytes(8, "little"))
        if self.before is None:
            self.before = l.counters()
        action, out, _ = self.run(frame)
        after = l.counters()
        changed = np.nonzero(after != self.before)[0]
        self.before = after
        if len(changed) != 1:
            raise InternalError(f"frame {i}: counters changed at {list(changed)}")
        outcome = OUTCOMES[int(changed[0])]
        if actions[outcome] != action:
            raise InternalError(f"frame {i}: outcome {outcome} but {hook} action {action}")
        return outcome, out

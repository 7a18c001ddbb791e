"""Network namespaces made with ``ip netns``: run the calling thread inside one.

    with in_netns("nicc1234-5"):
        s = socket.socket(...)        # the socket belongs to that namespace for its whole life

setns(2) moves the calling *thread* only, so the namespace to come back to is the thread's
own (``/proc/thread-self``), and failing to come back is an error, never ignored.
"""
from __future__ import annotations

import contextlib
import ctypes
import os

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(f, what: str) -> None:
    if _libc.setns(f.fileno(), CLONE_NEWNET):
        err = ctypes.get_errno()
        raise OSError(err, f"setns {what}: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str | None):
    """The calling thread in network namespace ``name`` (None: where it is); sockets made here stay in it."""
    if name is None:
        yield
        return
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{name}") as ns:
        _setns(ns, name)
        try:
            yield
        finally:
            _setns(home, "back to the thread's own network namespace")

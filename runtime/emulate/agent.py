"""The host side of every emulated node: ``python -m nicc.runtime.emulate.agent SPEC --nicc-tag=TAG``.

One worker process runs several nodes in one event loop (a selector and a timer heap);
each node's sockets are made inside the node's network namespace (setns), so they see
what that node's data plane passes up. Roles:

- **sender** (the market feed): sends ``messages`` messages at ``rate`` per second to the
  root proxy with ``send_ns = 0`` (its data plane stamps them), then a heartbeat every
  ``heartbeat_us`` (naming the last id, so a lost last message is repaired too); keeps every
  stamped message (its data plane's last copy) to answer repairs.
- **proxy**: keeps the last ``history`` messages it forwarded (its data plane's last copy),
  answers children's repair requests (a request it cannot answer yet waits for the message;
  one older than its history is refused), repairs its own gaps from its parents, and
  forwards OWD reports up by element-wise maximum every ``report_ms``. The **root** proxy
  estimates the global OWD from them and writes ``stamp_ns`` = OWD + hold into its data
  plane (a pinned BPF map): the deadline its data plane stamps is its arrival + stamp_ns.
- **receiver**: gets each message once (E3 in its data plane), measures its OWD, holds it
  until ``deadline_ns`` and releases it to the application in sequence order (a late message
  at once); detects gaps by sequence number (heartbeats carry the latest id) and repairs them
  from its parents in order, then the sender, as ``nicc.compiler.dissem.RepairPolicy`` says.

Policies and parameters come from the pipeline file (``nd.release``, ``nd.repair``) through
the spec; the clock is CLOCK_TAI, the clock the data planes stamp with.
"""
from __future__ import annotations

import array
import ctypes
import heapq
import json
import os
import random
import selectors
import signal
import socket
import sys
import time

from ..netns import in_netns
from . import protocol as P

_libc = ctypes.CDLL(None, use_errno=True)


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_TAI)


def udp_socket(ns: str, ip: str, port: int | None) -> socket.socket:
    """A non-blocking UDP socket in namespace ``ns``, bound to (ip, port) (port None: any)."""
    with in_netns(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, 11, 1)              # SO_NO_CHECK: UDP checksum 0, as copies carry
    s.bind((ip, port or 0))
    s.setblocking(False)
    return s


class BpfMap:
    """An array map pinned in bpffs, written with the bpf(2) system call (no libbpf in the agent)."""
    SYS_BPF, OBJ_GET, UPDATE = 321, 7, 2

    def __init__(self, path: str):
        attr = (ctypes.c_uint64 * 4)()
        buf = ctypes.create_string_buffer(path.encode())
        attr[0] = ctypes.addressof(buf)
        self.fd = _libc.syscall(self.SYS_BPF, self.OBJ_GET, attr, 16)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), f"bpf(OBJ_GET) {path}")

    def write(self, key: int, value: int) -> None:
        k, v = ctypes.c_uint32(key), ctypes.c_uint64(value)
        attr = (ctypes.c_uint64 * 4)()
        attr[0] = self.fd
        attr[1] = ctypes.addressof(k)
        attr[2] = ctypes.addressof(v)
        if _libc.syscall(self.SYS_BPF, self.UPDATE, attr, 32) < 0:
            raise OSError(ctypes.get_errno(), "bpf(MAP_UPDATE_ELEM)")


class Loop:
    """A selector and a timer heap."""

    def __init__(self):
        self.sel = selectors.SelectSelector()          # select(2): microsecond timeouts (epoll rounds to ms)
        self.timers: list = []
        self.seq = 0
        self.running = True

    def at(self, t: int, fn) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (t, self.seq, fn))

    def watch(self, sock: socket.socket, fn) -> None:
        self.sel.register(sock, selectors.EVENT_READ, fn)

    def run(self, until=lambda: False) -> None:
        while self.running and not until():
            t = now_ns()
            while self.timers and self.timers[0][0] <= t:
                _, _, fn = heapq.heappop(self.timers)
                fn()
                t = now_ns()
            wait = None if not self.timers else max(0.0, (self.timers[0][0] - t) / 1e9)
            for key, _ in self.sel.select(min(wait, 0.05) if wait is not None else 0.05):
                key.data(key.fileobj)


def drain(sock: socket.socket, fn, budget: int = 256) -> None:
    for _ in range(budget):
        try:
            data, addr = sock.recvfrom(2048)
        except BlockingIOError:
            return
        fn(data, addr)


class Node:
    def __init__(self, loop: Loop, spec: dict, n: dict):
        self.loop, self.spec, self.n = loop, spec, n
        self.port = spec["port"]
        self.ip = n["ip"]
        self.stats: dict[str, int] = {}

    def count(self, key: str, k: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + k

    def send(self, sock: socket.socket, data: bytes, addr) -> None:
        """Send a datagram; a full socket buffer drops it, counted (repairs retry, reports repeat)."""
        try:
            sock.sendto(data, addr)
        except BlockingIOError:
            self.count("send_dropped")

    def sock(self, offset: int | None) -> socket.socket:
        return udp_socket(self.n["ns"], self.ip, None if offset is None else self.port + offset)


class History:
    """A node's last ``size`` messages by msg_id, and requests waiting for messages it has not yet got."""

    def __init__(self, node: Node, size: int | None):
        self.node, self.size = node, size
        self.msgs: dict[int, bytes] = {}
        self.order: list[int] = []
        self.newest = 0
        self.waiting: dict[int, set] = {}

    def add(self, msg_id: int, payload: bytes) -> bool:
        if msg_id in self.msgs or (self.size and msg_id <= self.newest - self.size):
            return False
        self.msgs[msg_id] = payload
        self.newest = max(self.newest, msg_id)
        if self.size:
            self.order.append(msg_id)
            while len(self.order) > 2 * self.size:
                self.order = [m for m in self.order if m > self.newest - self.size]
                self.msgs = {m: self.msgs[m] for m in self.order}
        for ip in self.waiting.pop(msg_id, ()):
            self.node.answer(ip, payload)
        return True

    def request(self, ip: str, ids: list[int]) -> list[int]:
        """Answer what it can, keep what it will have; returns the ids it refuses (out of its history)."""
        refused = []
        for m in ids:
            if self.size and m <= self.newest - self.size:
                refused.append(m)
            elif m in self.msgs:
                self.node.answer(ip, self.msgs[m])
            else:
                self.waiting.setdefault(m, set()).add(ip)
        return refused


class Gaps:
    """Gap detection by sequence number and repair requests (own parent first, then hedging parents,
    then the sender; a refusal goes to the sender at once; a request unanswered after ``timeout_us``
    goes to the next)."""

    def __init__(self, node: Node, parents: list[str], sender: str, policy: dict):
        self.node, self.targets = node, list(parents) + ([sender] if sender not in parents else [])
        self.reorder = int(policy["reorder_us"] * 1000)
        self.timeout = int(policy["timeout_us"] * 1000)
        self.enabled = policy["enabled"]
        self.have = bytearray(1 << 16)
        self.highest = 0
        self.attempt: dict[int, int] = {}
        self.due: list = []
        self.sock = node.sock(P.REPAIR_PORT)

    def got(self, msg_id: int) -> bool:
        """Note msg_id as had; False if it was had already."""
        if msg_id >= len(self.have):
            self.have.extend(bytes(max(len(self.have), msg_id + 1 - len(self.have))))
        if self.have[msg_id]:
            return False
        self.have[msg_id] = 1
        self.attempt.pop(msg_id, None)
        return True

    def saw(self, msg_id: int, now: int, had: bool = True) -> None:
        """msg_id exists: the message in hand (``had``), or the latest one a heartbeat names (and ids below
        it exist too); what is missing is asked for ``reorder_us`` later."""
        if msg_id <= self.highest or not self.enabled:
            self.highest = max(self.highest, msg_id)
            return
        lo, self.highest = self.highest + 1, msg_id
        hi = msg_id if had else msg_id + 1
        missing = [m for m in range(lo, hi) if m >= len(self.have) or not self.have[m]]
        if missing:
            heapq.heappush(self.due, (now + self.reorder, missing))
            self.node.loop.at(now + self.reorder, self.tick)

    def tick(self) -> None:
        now = now_ns()
        by_target: dict[str, list[int]] = {}
        again = []
        while self.due and self.due[0][0] <= now:
            _, ids = heapq.heappop(self.due)
            for m in ids:
                if m < len(self.have) and self.have[m]:
                    continue
                k = self.attempt.get(m, -1) + 1
                self.attempt[m] = k
                by_target.setdefault(self.targets[k % len(self.targets)], []).append(m)
                again.append(m)
        for ip, ids in by_target.items():
            for d in P.ids_datagrams(b"Q", ids):
                self.node.send(self.sock, d, (ip, self.node.port + P.REPAIR_PORT))
            self.node.count("repair_requests", len(ids))
        if again:
            heapq.heappush(self.due, (now + self.timeout, again))
            self.node.loop.at(now + self.timeout, self.tick)

    def refused(self, ids: list[int]) -> None:
        """The parent no longer keeps them: ask the sender next."""
        now = now_ns()
        for m in ids:
            self.attempt[m] = len(self.targets) - 2          # the next attempt is the sender's
        heapq.heappush(self.due, (now, ids))
        self.node.loop.at(now, self.tick)


class Sender(Node):
    def __init__(self, loop, spec, n):
        super().__init__(loop, spec, n)
        cfg = spec["sender"]
        self.cfg, self.root = cfg, n["root_ip"]
        self.rng = random.Random(cfg["seed"])
        self.out = self.sock(None)
        self.hist = History(self, None)
        self.sent = 0
        self.last = 0
        self.t0 = now_ns() + int(cfg["start_ms"] * 1e6)
        self.gap = 1e9 / cfg["rate"]
        copies, self.repair = self.sock(P.HISTORY_PORT), self.sock(P.REPAIR_PORT)
        loop.watch(copies, lambda s: drain(s, self.on_copy))
        loop.watch(self.repair, lambda s: drain(s, self.on_request))
        loop.at(self.t0, self.tick)

    def tick(self) -> None:
        t = now_ns()
        if self.sent < self.cfg["messages"]:
            body = bytes(self.rng.getrandbits(8) for _ in range(self.cfg["body"]))
            p = P.message(0, 0, 0, 0, self.rng.getrandbits(32), self.rng.getrandbits(63), self.rng.getrandbits(31), body)
            self.send(self.out, p, (self.root, self.port))
            self.sent += 1
            self.last = t
            self.loop.at(self.t0 + int(self.sent * self.gap), self.tick)
            self.count("sent")
            return
        self.heartbeat()
        self.loop.at(t + int(self.cfg["heartbeat_us"] * 1000), self.tick)

    def heartbeat(self) -> None:
        self.send(self.out, P.message(0, 0, 0, P.FLAG_HEARTBEAT, 0, 0, 0), (self.root, self.port))
        self.count("heartbeats")

    def on_copy(self, data: bytes, addr) -> None:
        h = P.header(data)
        if not h[3] & P.FLAG_HEARTBEAT:
            self.hist.add(h[0], data)

    def on_request(self, data: bytes, addr) -> None:
        if data[:1] == b"Q":
            self.hist.request(addr[0], P.parse_ids(data))

    def answer(self, ip: str, payload: bytes) -> None:
        self.send(self.repair, P.with_flag(payload, P.FLAG_REPAIR), (ip, self.port))
        self.count("repairs_answered")


class Reports:
    """OWD per message, kept at its maximum; what changed since the last report goes to the parents."""

    def __init__(self, node: Node, parents: list[str]):
        self.node, self.parents = node, parents
        self.best: dict[int, int] = {}
        self.dirty: dict[int, int] = {}
        self.sock = node.sock(None)

    def fold(self, pairs) -> None:
        for m, o in pairs:
            if o > self.best.get(m, -1 << 62):
                self.best[m] = o
                self.dirty[m] = o

    def flush(self) -> None:
        if self.dirty and self.parents:
            for d in P.report_datagrams(sorted(self.dirty.items())):
                for ip in self.parents:
                    self.node.send(self.sock, d, (ip, self.node.port + P.REPORT_PORT))
                    self.node.count("reports_sent")
        self.dirty = {}


class Relay(Node):
    def __init__(self, loop, spec, n):
        super().__init__(loop, spec, n)
        self.hist = History(self, spec["repair"]["history"])
        self.gaps = Gaps(self, n["parent_ips"], n["sender_ip"], spec["repair"])
        self.reports = Reports(self, [] if n["root"] else n["parent_ips"])
        self.answers = self.sock(None)
        s = self.sock(P.HISTORY_PORT)
        loop.watch(s, lambda s: drain(s, self.on_copy))
        loop.watch(self.gaps.sock, lambda s: drain(s, self.on_repair))
        r = self.sock(P.REPORT_PORT)
        loop.watch(r, lambda s: drain(s, self.on_report))
        if n.get("dpdk"):            # its DPDK data plane reads eth0 beside the kernel: the kernel's copy ends here
            sink = self.sock(0)
            loop.watch(sink, lambda s: drain(s, lambda d, a: None))
        rel = spec["release"]
        self.report_ns = int(rel["report_ms"] * 1e6)
        loop.at(now_ns() + random.randrange(self.report_ns), self.tick)
        if n["root"]:
            self.stamp_map = BpfMap(n["stamp_map"]) if n.get("stamp_map") else None
            self.hold = int(rel["hold_us"] * 1000)
            self.stamp = int(n["stamp_ns"])
            self.writes = [(0, self.stamp)]                  # (time written, stamp_ns)
            self.arrival: dict[int, tuple[int, int]] = {}    # msg_id -> (send_ns, root arrival - send_ns)
            self.window = int(rel["window_ms"] * 1e6)
            self.mature = int(rel["mature_ms"] * 1e6)
            self.q, self.windows = rel["quantile"], rel["history_windows"]

    def on_copy(self, data: bytes, addr) -> None:
        h = P.header(data)
        t = now_ns()
        hb = h[3] & P.FLAG_HEARTBEAT
        self.gaps.saw(h[0], t, had=not hb)
        if hb:
            return
        if self.gaps.got(h[0]):
            self.hist.add(h[0], data)
            self.count("forwarded")
            if self.n["root"]:
                self.arrival[h[0]] = (h[1], self.root_offset(h[1], h[2]))

    def root_offset(self, send: int, deadline: int) -> int:
        """Root arrival - send time: the deadline minus the stamp_ns in force when the data plane wrote it."""
        for t, s in reversed(self.writes):
            if deadline - s >= t:
                return max(0, deadline - s - send)
        return 0

    def on_repair(self, data: bytes, addr) -> None:
        if data[:1] == b"Q":
            refused = self.hist.request(addr[0], P.parse_ids(data))
            for d in P.ids_datagrams(b"R", refused):
                self.send(self.gaps.sock, d, (addr[0], self.port + P.REPAIR_PORT))
        elif data[:1] == b"R":
            self.gaps.refused(P.parse_ids(data))

    def answer(self, ip: str, payload: bytes) -> None:
        self.send(self.answers, P.with_flag(payload, P.FLAG_REPAIR), (ip, self.port))
        self.count("repairs_answered")

    def on_report(self, data: bytes, addr) -> None:
        if data[:1] == b"O":
            self.reports.fold(P.parse_report(data))

    def tick(self) -> None:
        self.reports.flush()
        if self.n["root"]:
            self.estimate()
        self.loop.at(now_ns() + self.report_ns, self.tick)

    def estimate(self) -> None:
        """stamp_ns = the quantile of the OML below the root over the last mature windows + hold."""
        t = now_ns()
        ready = {}
        for m, o in self.reports.best.items():
            a = self.arrival.get(m)
            if a is None:
                continue
            w = a[0] // self.window
            if (w + 1) * self.window + self.mature <= t:
                ready.setdefault(w, []).append(o - a[1])
        if not ready:
            return
        vals = sorted(v for w in sorted(ready)[-self.windows:] for v in ready[w])
        g = max(0, vals[min(len(vals) - 1, int(self.q * len(vals)))])
        stamp = g + self.hold
        if stamp != self.stamp and self.stamp_map is not None:
            self.stamp_map.write(0, stamp)
            self.writes.append((now_ns(), stamp))
            self.writes = self.writes[-64:]
            self.stamp = stamp
            self.count("stamp_writes")


class Receiver(Node):
    def __init__(self, loop, spec, n):
        super().__init__(loop, spec, n)
        self.gaps = Gaps(self, n["parent_ips"], n["sender_ip"], spec["repair"])
        self.reports = Reports(self, n["parent_ips"])
        self.held: dict[int, tuple[int, int]] = {}          # msg_id -> (deadline, arrival)
        self.next = 1
        self.avail = 0                                       # when every message up to next - 1 was here
        self.log = {k: array.array("q") for k in ("id", "release", "deadline", "avail", "arrival")}
        s = self.sock(0)
        loop.watch(s, lambda s: drain(s, self.on_msg))
        loop.watch(self.gaps.sock, lambda s: drain(s, self.on_refusal))
        self.report_ns = int(spec["release"]["report_ms"] * 1e6)
        loop.at(now_ns() + random.randrange(self.report_ns), self.tick)
        self.timer_at = None

    def on_msg(self, data: bytes, addr) -> None:
        t = now_ns()
        h = P.header(data)
        hb = h[3] & P.FLAG_HEARTBEAT
        self.gaps.saw(h[0], t, had=not hb)
        if hb:
            self.count("heartbeats")
            return
        if h[0] < self.next or not self.gaps.got(h[0]):
            self.count("duplicates")                         # E3 let a copy through twice (it cannot: counted)
            return
        self.count("repaired" if h[3] & P.FLAG_REPAIR else "received")
        if not h[3] & P.FLAG_REPAIR:
            self.reports.fold([(h[0], t - h[1])])
        self.held[h[0]] = (h[2], t)
        self.release()

    def on_refusal(self, data: bytes, addr) -> None:
        if data[:1] == b"R":
            self.gaps.refused(P.parse_ids(data))

    def release(self) -> None:
        """Deliver in sequence order, each message at its deadline (a late one at once)."""
        t = now_ns()
        log = self.log
        while self.next in self.held:
            deadline, arrival = self.held[self.next]
            self.avail = max(self.avail, arrival)
            if deadline > t:
                if self.timer_at != deadline:
                    self.timer_at = deadline
                    self.loop.at(deadline, self.release)
                return
            del self.held[self.next]
            for k, v in (("id", self.next), ("release", t), ("deadline", deadline), ("avail", self.avail),
                         ("arrival", arrival)):
                log[k].append(v)
            self.next += 1
            t = now_ns()
        self.timer_at = None

    def tick(self) -> None:
        self.reports.flush()
        self.loop.at(now_ns() + self.report_ns, self.tick)


ROLES = {"sender": Sender, "proxy": Relay, "receiver": Receiver}


def main(argv: list[str]) -> int:
    """``agent SPEC WORKER``: run the nodes of worker WORKER; status lines on stdout; results in files."""
    with open(argv[0]) as f:
        spec = json.load(f)
    spec["worker"] = int(argv[1])
    mine = [n for n in spec["nodes"] if n["worker"] == spec["worker"]]
    try:
        _libc.prctl(29, 1)                                   # PR_SET_TIMERSLACK: 1 ns (wake up on time)
        if spec.get("realtime"):                             # release on time on a busy machine: run before
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))   # ordinary processes (RT throttling caps it)
    except (OSError, AttributeError):
        pass
    loop = Loop()
    nodes = [ROLES[n["role"]](loop, spec, n) for n in mine]
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *a: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *a: stop.update(now=True))
    receivers = [x for x in nodes if isinstance(x, Receiver)]
    want = spec["sender"]["messages"]
    last = [0.0]

    def status() -> bool:
        t = time.monotonic()
        if t - last[0] >= 0.2:
            last[0] = t
            print(json.dumps({"delivered": {x.n["id"]: x.next - 1 for x in receivers},
                              "sent": sum(x.sent for x in nodes if isinstance(x, Sender))}), flush=True)
        return stop["now"]

    print(json.dumps({"ready": spec["worker"]}), flush=True)
    loop.run(until=status)
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    for x in nodes:
        if getattr(x, "stamp", None) is not None and x.n.get("root"):
            x.stats["stamp_ns"] = x.stamp                    # the last global OWD + hold written
        g = getattr(x, "gaps", None)
        if g is not None:
            holes = [m for m in range(1, min(g.highest, want) + 1) if m >= len(g.have) or not g.have[m]]
            if holes:
                x.stats["holes"] = len(holes)
                x.stats["first_holes"] = holes[:10]
    out = {"nodes": {x.n["id"]: x.stats for x in nodes}, "want": want,
           "cpu_s": round(ru.ru_utime + ru.ru_stime, 2)}
    base = spec["results"] + f".{spec['worker']}"
    for x in receivers:
        for k, a in x.log.items():
            with open(f"{base}.{x.n['id']}.{k}", "wb") as f:
                a.tofile(f)
    with open(base + ".json", "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main([a for a in sys.argv[1:] if not a.startswith("--nicc-tag=")]))

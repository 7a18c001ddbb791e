"""Multicast groups: who gets a copy, and what each copy's headers are rewritten to.

A group is a list of *members* in send order. Each member has an egress ``port`` and,
optionally, the destination addresses its copy is rewritten to (Ethernet MAC, IPv4
address, UDP port); the group may also give the source addresses every copy leaves
with (the sending node's own). Copies leave in member order.

    static:  members known at compile time
        group @g = [1, 2, 3]                                          identical copies
        group @kids [rewrite=(mac, ip)] = [0 (mac="02:6e:69:02:00:01", ip="10.2.0.1"), ...] src (ip="10.1.0.1")
    sized:   at most ``max`` members, given per node at load time (a proxy's children)
        group @kids [max=32, rewrite=(mac, ip, udp), source=(mac, ip)] = []

A group declares which fields it rewrites (``rewrite``: destination fields, ``source``:
source fields); every member gives exactly the ``rewrite`` fields, and ``src`` exactly
the ``source`` ones, so a data plane's per-copy table has one fixed layout. A sized group
compiles without members; :meth:`Group.bind` gives a node's members (and source) to the
same compiled pipeline, and the targets load them at run time. An unbound sized group has
no members: a multicast to it leaves no frame.

A rewritten copy (a group with ``rewrite`` or ``source`` fields) is the frame the
pipeline made (its payload rewritten if it emitted one) with those header fields
replaced, the IPv4 header checksum recomputed and the UDP checksum set to 0; every other
byte is kept. Copies of a group that rewrites nothing are identical to that frame.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import NiccError, SourceLoc

FIELDS = ("mac", "ip", "udp")
# Byte offsets in an Ethernet + IPv4 (no options) + UDP header: (destination, source), and widths.
DST = {"mac": 0, "ip": 30, "udp": 36}
SRC = {"mac": 6, "ip": 26, "udp": 34}
WIDTH = {"mac": 6, "ip": 4, "udp": 2}
BITS = {f: 8 * w for f, w in WIDTH.items()}
MAX_MEMBERS = 4096
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def mac_value(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def ip_value(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def field_value(name: str, v) -> int:
    """A field's value as an integer (what a data plane's table holds, network byte order)."""
    return mac_value(v) if name == "mac" else ip_value(v) if name == "ip" else int(v)


@dataclass(frozen=True)
class Addr:
    """Header values: an Ethernet MAC ("02:6e:69:02:00:01"), an IPv4 address, a UDP port (None: not given)."""
    mac: str | None = None
    ip: str | None = None
    udp: int | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for f in FIELDS if getattr(self, f) is not None)

    def value(self, name: str) -> int:
        return field_value(name, getattr(self, name))

    def text(self) -> str:
        """``(mac="…", ip="…", udp=9100)``, the IR's spelling."""
        parts = [f'{f}="{getattr(self, f)}"' if f != "udp" else f"udp={self.udp}" for f in self.fields]
        return "(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class Member:
    """One copy: its egress port and the destination it is rewritten to."""
    port: int
    dst: Addr = Addr()

    def text(self) -> str:
        return f"{self.port} {self.dst.text()}" if self.dst.fields else str(self.port)


def make_addr(mac=None, ip=None, udp=None, *, what: str, loc: SourceLoc | None) -> Addr:
    """An :class:`Addr` from user values, checked (errors at ``loc``)."""
    if mac is not None:
        m = str(mac).lower() if isinstance(mac, str) else None
        if m is None or not _MAC.match(m):
            raise NiccError(f"{what}: mac must be a MAC address such as '02:6e:69:02:00:01', got {mac!r}", loc)
        mac = m
    if ip is not None:
        try:
            ip = str(ipaddress.IPv4Address(ip))
        except (ipaddress.AddressValueError, ValueError, TypeError):
            raise NiccError(f"{what}: ip must be an IPv4 address such as '10.2.0.1', got {ip!r}", loc) from None
    if udp is not None and (isinstance(udp, bool) or not isinstance(udp, (int, np.integer)) or not 1 <= udp <= 65535):
        raise NiccError(f"{what}: udp must be a UDP port 1..65535, got {udp!r}", loc)
    return Addr(mac, ip, None if udp is None else int(udp))


def _fields(v, what: str, loc) -> tuple[str, ...]:
    if isinstance(v, str):
        v = v.replace(",", " ").split()
    v = tuple(v or ())
    bad = [f for f in v if f not in FIELDS]
    if bad or len(set(v)) != len(v):
        raise NiccError(f"{what} takes fields among {', '.join(FIELDS)} (each once), got {list(v)}", loc)
    return tuple(f for f in FIELDS if f in v)          # canonical order


@dataclass
class Group:
    """A multicast group (see the module docstring)."""
    name: str
    members: tuple[Member, ...]
    loc: SourceLoc = field(compare=False)
    max: int | None = None                  # None: static; N: sized, members given at load time
    rewrite: tuple[str, ...] = ()           # destination fields every member gives
    source: tuple[str, ...] = ()            # source fields ``src`` gives
    src: Addr | None = None                 # the source values (static: here; sized: given with the members)

    def __post_init__(self):
        self.members = tuple(self.members)
        self.rewrite = _fields(self.rewrite, f"group '{self.name}' rewrite=", self.loc)
        self.source = _fields(self.source, f"group '{self.name}' source=", self.loc)
        self.check()

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(m.port for m in self.members)

    @property
    def sized(self) -> bool:
        return self.max is not None

    @property
    def capacity(self) -> int:
        """The most members the group can have (what a data plane sizes its tables for)."""
        return self.max if self.max is not None else len(self.members)

    @property
    def rewrites(self) -> bool:
        return bool(self.rewrite or self.source)

    def check(self) -> None:
        def bad(msg):
            raise NiccError(f"group '{self.name}': {msg}", self.loc)
        if self.max is not None and (isinstance(self.max, bool) or not isinstance(self.max, int)
                                     or not 1 <= self.max <= MAX_MEMBERS):
            bad(f"max must be 1..{MAX_MEMBERS} members, got {self.max!r}")
        if self.max is None and not self.members:
            bad("a static group needs at least one member (or declare max=N and give members at load time)")
        if len(self.members) > self.capacity:
            bad(f"{len(self.members)} members, more than max={self.max}")
        if len(self.members) > MAX_MEMBERS:
            bad(f"{len(self.members)} members; at most {MAX_MEMBERS}")
        for k, m in enumerate(self.members):
            if isinstance(m.port, bool) or not isinstance(m.port, int) or not 0 <= m.port <= 0xFFFF:
                bad(f"member {k}: port must be 0..65535, got {m.port!r}")
            if m.dst.fields != self.rewrite:
                bad(f"member {k} gives {list(m.dst.fields) or 'no addresses'}, but the group rewrites "
                    f"{list(self.rewrite) or 'nothing'}: every member gives the same fields")
        if self.src is not None or self.max is None:
            have = self.src.fields if self.src is not None else ()
            if have != self.source:
                bad(f"the source gives {list(have) or 'nothing'}, but the group rewrites source fields "
                    f"{list(self.source) or 'none'}")

    def bind(self, members, src: Addr | None = None) -> "Group":
        """This sized group with a node's members (and source addresses), as loaded at run time."""
        if not self.sized:
            raise NiccError(f"group '{self.name}' is static: its members are fixed at compile time", self.loc)
        if self.source and src is None:
            raise NiccError(f"group '{self.name}' rewrites source fields {list(self.source)}: give the node's "
                            "own addresses with its members", self.loc)
        return replace(self, members=tuple(members), src=src)

    def text(self) -> str:
        """The group's line in the IR text form (without the location)."""
        attrs = []
        if self.max is not None:
            attrs.append(f"max={self.max}")
        if self.rewrite:
            attrs.append(f"rewrite=({', '.join(self.rewrite)})")
        if self.source:
            attrs.append(f"source=({', '.join(self.source)})")
        head = f"group @{self.name}" + (f" [{', '.join(attrs)}]" if attrs else "")
        body = "[" + ", ".join(m.text() for m in self.members) + "]"
        src = f" src {self.src.text()}" if self.src is not None and self.src.fields else ""
        return f"{head} = {body}{src}"

    # -- the copies ------------------------------------------------------------------------------
    def header_patch(self) -> list[tuple[int, np.ndarray]]:
        """Per rewritten field: (byte offset, (members, width) uint8 values), destinations then sources."""
        out = []
        n = len(self.members)
        for f in self.rewrite:
            vals = np.array([[(m.dst.value(f) >> (8 * (WIDTH[f] - 1 - b))) & 0xFF for b in range(WIDTH[f])]
                             for m in self.members], dtype=np.uint8).reshape(n, WIDTH[f])
            out.append((DST[f], vals))
        for f in self.source:
            v = self.src.value(f)
            row = np.array([(v >> (8 * (WIDTH[f] - 1 - b))) & 0xFF for b in range(WIDTH[f])], dtype=np.uint8)
            out.append((SRC[f], np.tile(row, (n, 1))))
        return out

    def copy_headers(self, hdr: np.ndarray) -> np.ndarray:
        """The 42-byte headers of every copy of frames whose headers are ``hdr`` (frames, 42):
        (frames, members, 42), rewritten, IPv4 checksum recomputed, UDP checksum 0."""
        n, k = len(hdr), len(self.members)
        out = np.repeat(hdr[:, None, :], k, axis=1)
        if not self.rewrites or k == 0:
            return out
        for off, vals in self.header_patch():
            out[:, :, off:off + vals.shape[1]] = vals[None, :, :]
        flat = out.reshape(n * k, 42)
        flat[:, 24:26] = 0
        s = flat[:, 14:34].copy().view(">u2").sum(axis=1, dtype=np.int64)
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        c = ~s & 0xFFFF
        flat[:, 24], flat[:, 25] = c >> 8, c & 0xFF
        flat[:, 40:42] = 0
        return out

    def copies(self, frame: bytes) -> list[bytes]:
        """The frames a multicast of ``frame`` (a selected frame, as the pipeline left it) leaves as."""
        if not self.rewrites:
            return [frame] * len(self.members)
        hdr = np.frombuffer(frame[:42], np.uint8)[None, :]
        tail = frame[42:]
        return [h.tobytes() + tail for h in self.copy_headers(hdr)[0]]


def bind_groups(pipeline, bindings: dict, state: dict | None = None) -> object:
    """A copy of ``pipeline`` whose sized groups have the members in ``bindings``
    (``{name: (members, src)}``) and whose state arrays start at the values in ``state``
    (``{name: value}``): what a node's control plane loads into the compiled pipeline."""
    from copy import copy
    p = copy(pipeline)
    p.groups = dict(pipeline.groups)
    p.states = dict(pipeline.states)
    for name, value in (state or {}).items():
        if name not in p.states:
            raise NiccError(f"pipeline '{pipeline.name}' has no state '{name}' (states: "
                            f"{', '.join(p.states) or 'none'})", pipeline.loc)
        st = p.states[name]
        if not isinstance(value, int) or not st.elem.fits(value):
            raise NiccError(f"state '{name}' holds {st.elem}, cannot start at {value!r}", st.loc)
        p.states[name] = replace(st, init=value)
    for name, (members, src) in bindings.items():
        if name not in p.groups:
            raise NiccError(f"pipeline '{pipeline.name}' has no multicast group '{name}' "
                            f"(groups: {', '.join(p.groups) or 'none'})", pipeline.loc)
        p.groups[name] = p.groups[name].bind(members, src)
    return p

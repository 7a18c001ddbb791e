"""The v1model architecture as bmv2's simple_switch runs it.

Per packet (behavioral-model targets/simple_switch/simple_switch.cpp,
``ingress_thread`` / ``egress_thread``; v1model.p4):

1. All headers invalid, metadata and standard_metadata zero;
   ``ingress_port``, ``packet_length`` (bytes), ``instance_type = 0`` set.
2. Parser.  On a parser error (extract past the end: PacketTooShort, select
   without match: NoMatch, stack overflow: StackOutOfBounds, ``verify``) the
   packet is **not** dropped: parsing stops, headers extracted so far stay
   valid, ``standard_metadata.parser_error`` is set and the packet continues
   to ingress (simple_switch copies ``packet->get_error_code()`` into
   ``parser_error`` and always calls ``ingress_mau->apply``).  An explicit
   ``transition reject`` without an error leaves ``parser_error = NoError``.
   The bytes after the parser's final position are the payload.
3. VerifyChecksum, then Ingress (``exit`` ends the block only).
4. Replication: if ``mcast_grp != 0``, one copy per (port, rid) of the
   multicast group in configuration order, each with ``instance_type = 5``
   (REPLICATION), ``egress_port = port``, ``egress_rid = rid`` and its own copy
   of headers and metadata; an unknown group yields no copies.  Else if
   ``egress_spec == 511`` the packet is dropped.  Else one packet to
   ``egress_spec`` (``egress_port = egress_spec``, ``egress_rid = 0``).
5. Per copy: ``egress_spec`` is reset (bmv2 sets it to a value != 511), Egress
   runs; if it set ``egress_spec = 511`` (mark_to_drop) the copy is dropped.
6. ComputeChecksum, then Deparser: ``emit`` appends valid headers; the
   payload follows the emitted headers unchanged.  ``truncate(n)`` then cuts
   the packet to n bytes.
7. Growth limit: simple_switch gives each packet buffer 512 bytes of
   headroom (``PacketBuffer(len + 512, ...)``) and aborts when the deparser
   prepends more; here the copy raises :class:`GrowthLimitExceeded` when the
   deparsed packet is more than 512 bytes longer than the received one.
"""
from __future__ import annotations

import random

from . import ast as A
from .builtins import DROP_PORT, PKT_INSTANCE_TYPE_NORMAL, PKT_INSTANCE_TYPE_REPLICATION, STANDARD_METADATA
from .compile import BlockCompiler
from .errors import GrowthLimitExceeded, P4RuntimeError
from .externs import CounterArray, RegisterArray
from .packetio import PacketCtx, ParserErrorSignal
from .tables import Table
from .types import Bits, BoolT, EnumT, ErrorT, copy_value, default_value, wrap

GROWTH_LIMIT = 512
SM = {n: STANDARD_METADATA.index(n) for n, _ in STANDARD_METADATA.fields}


class Switch:
    """A simple_switch running one loaded program; state persists across packets."""

    def __init__(self, prog, seed: int = 0):
        self.prog = prog
        self.checked = c = prog.checked
        self.rng = random.Random(seed)
        self.mc_groups: dict[int, list] = {}
        self.externs = {}
        for s in c.externs:
            if s.type.name == "register":
                self.externs[s] = RegisterArray(s.cp_name, s.type.args[0], s.value)
            elif s.type.name == "counter":
                self.externs[s] = CounterArray(s.cp_name, s.value)
        self.tables = {}
        for sym, info in c.tables.items():
            self._make_table(sym, info)
        blocks = [c.blocks[n] for n in c.main]
        self.compilers = [BlockCompiler(self, b) for b in blocks]
        pc, vc, ic, ec, cc, dc = self.compilers
        self.parser = pc.compile_parser()
        self.verify, self.ingress, self.egress, self.compute, self.deparser = (
            x.compile_control() for x in (vc, ic, ec, cc, dc))
        params = blocks[0].params
        self.hdr_type = c.decl_types[params[1].type]
        self.meta_type = c.decl_types[params[2].type]

    # ------------------------------------------------------------ tables
    def _make_table(self, sym, info):
        widths = [t.width if isinstance(t, Bits) else 1 if isinstance(t, BoolT) else 32
                  for t in info.key_types]
        size = None
        if info.decl.size is not None and info.decl.entries is None:
            size = self.checked.consts[info.decl.size]
        default = info.default or (self.checked.noaction, ())
        default = (default[0], tuple(self.checked.consts[a] for a in default[1]))
        t = Table(sym.cp_name, info.match_kinds, widths, {a.name: a for a in info.actions}, default, size)
        cs = self.checked.consts
        for e in info.decl.entries or ():
            keys = []
            for k, kind in zip(e.keys, info.match_kinds):
                if isinstance(k, A.KsDefault):
                    keys.append((0, 0) if kind in ("ternary", "lpm") else None if kind == "optional"
                                else (0, (1 << 64) - 1) if kind == "range" else 0)
                elif isinstance(k, A.KsMask):
                    keys.append((cs[k.value], cs[k.mask]))
                elif isinstance(k, A.KsRange):
                    keys.append((cs[k.lo], cs[k.hi]))
                else:
                    keys.append(self._key_const(cs[k]))
            keys = [(v[0], bin(v[1]).count("1")) if kind == "lpm" and isinstance(v, tuple) else v
                    for v, kind in zip(keys, info.match_kinds)]
            asym = self.checked.syms[e.action]
            t.add(keys, asym, tuple(cs[a] for a in e.action.args or ()), const=True)
        self.tables[sym] = t

    def _key_const(self, v):
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, str):
            return self.checked.errors.index(v) if v in self.checked.errors else 0
        return v

    def enum_codes(self, t):
        if isinstance(t, ErrorT):
            return {n: i for i, n in enumerate(self.checked.errors)}
        if isinstance(t, EnumT):
            return {n: (t.values[i] if t.underlying else i) for i, n in enumerate(t.members)}
        return {}

    # ------------------------------------------------------------ runtime API
    def _find(self, what, name, syms):
        hits = [s for s in syms if name in (s.cp_name, s.name) or s.cp_name.endswith("." + name)]
        if len(hits) != 1:
            raise P4RuntimeError(f"{'no' if not hits else 'ambiguous'} {what} '{name}'")
        return hits[0]

    def _table(self, name):
        sym = self._find("table", name, self.tables)
        return sym, self.tables[sym], self.checked.tables[sym]

    def _action_args(self, info, action_name, params):
        a = self._find(f"action of table {info.sym.cp_name}", action_name, info.actions)
        data = [p for p in a.decl.params if not p.direction]
        if len(params) != len(data):
            raise P4RuntimeError(f"action {a.cp_name} takes {len(data)} parameter(s), got {len(params)}")
        args = []
        for p, v in zip(data, params):
            t = self.checked.decl_types[p.type]
            args.append(bool(v) if isinstance(t, BoolT) else wrap(int(v), t))
        return a, tuple(args)

    def table_add(self, table_name: str, action_name: str, key_values, action_params=(), priority=None):
        """Add an entry (key formats: see tables.py); ``priority``: bmv2 convention, lower wins."""
        sym, table, info = self._table(table_name)
        if info.decl.entries is not None:
            raise P4RuntimeError(f"table {sym.cp_name} has const entries and cannot be modified")
        a, args = self._action_args(info, action_name, action_params)
        table.add(list(key_values), a, args, priority=priority)

    def table_clear(self, table_name: str):
        self._table(table_name)[1].clear()

    def set_default(self, table_name: str, action_name: str, action_params=()):
        sym, table, info = self._table(table_name)
        if info.decl.const_default:
            raise P4RuntimeError(f"table {sym.cp_name} has a const default_action")
        table.default = self._action_args(info, action_name, action_params)

    def _register(self, name):
        regs = [s for s in self.externs if isinstance(self.externs[s], RegisterArray)]
        return self.externs[self._find("register", name, regs)]

    def register_read(self, name: str, index: int):
        r = self._register(name)
        if not 0 <= index < len(r.values):
            raise P4RuntimeError(f"register {r.name}: index {index} out of range")
        return r.values[index]

    def register_write(self, name: str, index: int, value):
        r = self._register(name)
        if not 0 <= index < len(r.values):
            raise P4RuntimeError(f"register {r.name}: index {index} out of range")
        r.values[index] = bool(value) if isinstance(r.type, BoolT) else wrap(int(value), r.type)

    def counter_read(self, name: str, index: int) -> tuple[int, int]:
        ctrs = [s for s in self.externs if isinstance(self.externs[s], CounterArray)]
        c = self.externs[self._find("counter", name, ctrs)]
        return c.packets[index], c.bytes[index]

    def mc_group_set(self, group: int, members):
        """Multicast group ``group`` replicates to ``[(port, rid), ...]`` in this order."""
        if not 0 < group < 1 << 16:
            raise P4RuntimeError(f"multicast group id {group} out of range 1..65535")
        self.mc_groups[group] = [(int(p), int(r)) for p, r in members]

    # ------------------------------------------------------------ packets
    def process(self, frame: bytes, ingress_port: int) -> list[tuple[int, bytes]]:
        """Run one packet through the switch; the (egress port, bytes) it sends, in order."""
        frame = bytes(frame)
        hdr = default_value(self.hdr_type)
        meta = default_value(self.meta_type)
        sm = default_value(STANDARD_METADATA)
        sm[SM["ingress_port"]] = ingress_port & 0x1FF
        sm[SM["packet_length"]] = len(frame)
        sm[SM["instance_type"]] = PKT_INSTANCE_TYPE_NORMAL
        ctx = PacketCtx(frame, self, sm)
        pc, vc, ic, ec, cc, dc = self.compilers
        try:
            self.parser(pc.new_frame(ctx, [None, hdr, meta, sm]))
        except ParserErrorSignal as err:
            sm[SM["parser_error"]] = err.error
        ctx.payload = frame[(ctx.pos + 7) // 8:]
        self.verify(vc.new_frame(ctx, [hdr, meta]))
        self.ingress(ic.new_frame(ctx, [hdr, meta, sm]))

        copies = []
        mgid = sm[SM["mcast_grp"]]
        if mgid != 0:
            sm[SM["instance_type"]] = PKT_INSTANCE_TYPE_REPLICATION
            for port, rid in self.mc_groups.get(mgid, ()):
                h, m, s = copy_value(hdr), copy_value(meta), copy_value(sm)
                s[SM["egress_port"]] = port
                s[SM["egress_rid"]] = rid
                copies.append((h, m, s))
        elif sm[SM["egress_spec"]] == DROP_PORT:
            return []
        else:
            sm[SM["egress_port"]] = sm[SM["egress_spec"]]
            copies.append((hdr, meta, sm))

        outs = []
        for h, m, s in copies:
            s[SM["egress_spec"]] = 0
            c = PacketCtx(frame, self, s)
            c.pos, c.payload, c.trunc = ctx.pos, ctx.payload, ctx.trunc
            self.egress(ec.new_frame(c, [h, m, s]))
            if s[SM["egress_spec"]] == DROP_PORT:
                continue
            self.compute(cc.new_frame(c, [h, m]))
            self.deparser(dc.new_frame(c, [None, h]))
            out = b"".join(c.out) + c.payload
            if len(out) > len(frame) + GROWTH_LIMIT:
                raise GrowthLimitExceeded(
                    f"deparsed packet of {len(out)} bytes exceeds the received {len(frame)} bytes by "
                    f"{len(out) - len(frame)} > {GROWTH_LIMIT} (bmv2 simple_switch packet headroom)")
            if c.trunc is not None and c.trunc < len(out):
                out = out[:c.trunc]
            outs.append((s[SM["egress_port"]], out))
        return outs

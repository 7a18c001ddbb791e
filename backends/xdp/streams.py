"""Streams, constant tables and scans on XDP: the eBPF spellings of the C core's hooks (:mod:`..c.streams`).

* A stream is a ``BPF_MAP_TYPE_ARRAY`` of records (``nicc_stream_NAME``, one entry per slot). A packet
  looks its record up once; its ``busy`` word is taken with a compare-and-exchange (``-mcpu=v3``) and
  given back on every way out, so a record is never worked on by two CPUs at once.
* A constant table the lowering placed in a map of its own (``impl=map``: large ones, E5's 2.9 MB
  trie) is a one-entry ``BPF_MAP_TYPE_ARRAY`` whose value is the whole table, ``BPF_F_RDONLY_PROG``,
  filled and frozen by the loader; the program looks it up once per scope (the program, a callback).
  Smaller tables stay in ``.rodata``.
* A scan runs its steps in a ``bpf_loop`` callback, verified once whatever the step count: the carries
  live in the callback's context (read at the start of a step, stored at its end), the output array in
  the per-CPU scratch value; the callback returns 1 after the step that ends the scan and marks the
  context ``stopped``, which the program checks (a scan still running after ``max`` steps: malformed).
  A step's comparisons and selects are computed without branches (:data:`BRANCH_FREE`): eBPF has no
  set-on-condition instruction, so each would be a branch, and a step of a hundred of them (E5's) gives
  the verifier more paths than it walks. Only the bound checks of table and array reads branch.

:class:`BpfStreams` is a mixin of :class:`~nicc.backends.xdp.renderer.XdpRenderer`.
"""
from __future__ import annotations

import dataclasses
import re

from ...compiler.ir import Node, Op
from ...compiler.types import BOOL, Scalar
from ..c.cstyle import wrap
from ..c.values import ArrayVal, RomArray, StreamArray

IDENT = re.compile(r"[A-Za-z_]\w*")


def rom_maps(p) -> dict[str, object]:
    """Tables the lowering put in maps of their own (read only through ``rom``, ``impl=map``)."""
    by_map = {n.attr("table") for n in p.body.walk() if n.op is Op.ROM and n.attr("impl") == "map"}
    by_lut = {n.attr("table") for n in p.body.walk() if n.op is Op.LUT}
    return {t: p.tables[t] for t in sorted(by_map - by_lut)}


BRANCH_FREE = """/* Comparisons and selects without branches, for scan steps (eBPF has no set-on-condition: each would
 * be a branch, and the verifier walks every path). Operands are 64-bit, signed ones offset by 2^63;
 * barrier_var keeps clang from turning them back into branches. (x | -x) has bit 63 set exactly when
 * x != 0; the unsigned a < b is bit 63 of (~a & b) | (~(a ^ b) & (a - b)) (Hacker's Delight 2-12). */
NICC_INLINE __u64 nicc_ne(__u64 a, __u64 b)
{
    __u64 x = a ^ b;

    x |= 0 - x;
    barrier_var(x);
    return x >> 63;
}

NICC_INLINE __u64 nicc_lt(__u64 a, __u64 b)
{
    __u64 x = (~a & b) | (~(a ^ b) & (a - b));

    barrier_var(x);
    return x >> 63;
}

NICC_INLINE __u64 nicc_sel(__u64 c, __u64 a, __u64 b)
{
    __u64 m = 0 - c;

    barrier_var(m);
    return b ^ ((a ^ b) & m);
}
"""
CMP_EXPR = {Op.EQ: "nicc_ne({a}, {b}) ^ 1", Op.NE: "nicc_ne({a}, {b})", Op.LT: "nicc_lt({a}, {b})",
            Op.GT: "nicc_lt({b}, {a})", Op.LE: "nicc_lt({b}, {a}) ^ 1", Op.GE: "nicc_lt({a}, {b}) ^ 1"}


class BpfStreams:
    """record_lookup, take, release, rom_ref, scan_loop and callback captures for the XDP dialect."""

    bound_to_max = True
    branch_free = False               # rendering a scan step: compares and selects without branches

    def u64(self, v: str, t: Scalar) -> str:
        return f"((__u64)(__s64){wrap(v)} ^ 0x8000000000000000ULL)" if t.signed else f"(__u64){wrap(v)}"

    def r_compare(self, n, a, b):
        if not self.branch_free:
            return super().r_compare(n, a, b)
        self.helpers.setdefault("nicc_branch_free", BRANCH_FREE)
        t = n.args[0].type
        return self.define(n, "(__u8)(" + CMP_EXPR[n.op].format(a=self.u64(a, t), b=self.u64(b, t)) + ")")

    def r_select(self, n, c, a, b):
        if not self.branch_free:
            return super().r_select(n, c, a, b)
        self.helpers.setdefault("nicc_branch_free", BRANCH_FREE)
        return self.define(n, f"({self.ty(n.type)})nicc_sel((__u64){wrap(c)}, (__u64){wrap(a)}, (__u64){wrap(b)})")

    def r_not(self, n, a):
        if self.branch_free and n.type == BOOL:
            return self.define(n, f"({wrap(a)} ^ 1)")
        return super().r_not(n, a)

    def init_bpf_streams(self) -> None:
        self.rom_tables = rom_maps(self.pipeline)
        self.rom_ptrs: dict[tuple[int, str], str] = {}      # (scope, table) -> map value pointer

    # -- streams -------------------------------------------------------------------------------------
    def record_type(self, stream: str) -> str:
        return f"struct nicc_stream_{stream}"

    def record_lookup(self, stream, slot: str, rec: str) -> None:
        key = self.fresh("key")
        self.emit_line(f"{self.record_type(stream.name)} *{rec} = NULL;")
        self.emit_line("")
        self.emit_line(f"if ((__u64){slot} < {stream.slots}U) {{")
        self.emit_line(f"    __u32 {key} = (__u32){slot};")
        self.emit_line("")
        self.emit_line(f"    {rec} = bpf_map_lookup_elem(&nicc_stream_{stream.name}, &{key});")
        self.emit_line("}")

    def take(self, rec: str) -> str:
        return f"__sync_val_compare_and_swap(&{rec}->busy, 0, 1)"

    def release(self, rec: str) -> str:
        return f"({rec} ? {rec}->busy = 0 : 0)"

    def index_var(self, idx: str) -> str:
        """An index in a variable clang cannot recompute: the verifier then sees the bound check on the
        register the load uses (clang would otherwise zero-extend a u16 twice, into two registers)."""
        if idx.rstrip("U").isdigit():
            return idx
        ix = self.fresh("ix")
        self.emit_line(f"__u32 {ix} = (__u32){wrap(idx)};")
        self.emit_line("")
        self.emit_line(f"barrier_var({ix});")
        return ix

    # -- constant tables -----------------------------------------------------------------------------
    def rom_ref(self, table: str) -> str:
        if table not in self.rom_tables:
            return self.table_name(table)
        scope = (id(self.lines), table)
        if self.indent == 1 and scope in self.rom_ptrs:
            return f"{self.rom_ptrs[scope]}->v"
        ptr, key = self.fresh(table if table.isidentifier() else "rom"), self.fresh("rkey")
        self.emit_line(f"__u32 {key} = 0;")
        self.emit_line(f"struct nicc_rom_{table} *{ptr} = bpf_map_lookup_elem(&nicc_rom_{table}, &{key});")
        if self.indent == 1:
            self.rom_ptrs[scope] = ptr
        return f"{ptr}->v"

    def lut_definitions(self) -> list[str]:
        rodata = [d for t, d in zip(self.pipeline.tables, super().lut_definitions()) if t not in self.rom_tables]
        return rodata

    def rodata_bytes(self) -> int:
        return super().rodata_bytes() - sum(len(t.values) * max(1, t.out.nbytes) for t in self.rom_tables.values())

    # -- callbacks: values from outside travel in the context ------------------------------------------
    def capture(self, cb, outer: list[Node], saved_env: dict, inits: list[tuple[str, str]]) -> None:
        """Give the callback ``cb`` the outer values its body names: scalars held in variables, and the
        variables an array value names (its count, a record pointer)."""
        seen = set()
        for a in outer:
            if id(a) in seen or a not in saved_env:
                continue
            seen.add(id(a))
            val = saved_env[a]
            if isinstance(val, ArrayVal):
                if isinstance(val, StreamArray) and IDENT.fullmatch(val.rec):
                    f = self._ctx_field(cb, f"{self.record_type(self.pipeline_stream_of(a))} *", val.rec, inits)
                    val = dataclasses.replace(val, rec=f"c->{f}")
                if not isinstance(val, (RomArray, StreamArray)) and IDENT.fullmatch(val.count):
                    f = self._ctx_field(cb, "__u32", val.count, inits)
                    val = dataclasses.replace(val, count=f"c->{f}")
                self.env[a] = val
            elif isinstance(val, str) and IDENT.fullmatch(val):
                f = self._ctx_field(cb, self.ty(a.type), val, inits)
                self.env[a] = f"c->{f}"

    @staticmethod
    def _ctx_field(cb, ctype: str, val: str, inits: list[tuple[str, str]]) -> str:
        f = f"cap{len(cb.ctx_fields)}"
        cb.ctx_fields.append((ctype, f))
        inits.append((f, val))
        return f

    @staticmethod
    def pipeline_stream_of(a: Node) -> str:
        return a.attr("stream")

    # -- scans -----------------------------------------------------------------------------------------
    def zero_array(self, name: str, ctype: str, n: int) -> None:
        i = self.fresh("i")
        self.emit_line(f"for (__u32 {i} = 0; {i} < {n}U; {i}++)")
        self.emit_line(f"    {name}[{i}] = 0;")

    def scan_loop(self, n: Node, carries, step, captures=()) -> list[str]:
        if n.attr("schedule") != "bpf_loop":
            return super().scan_loop(n, carries, step, captures)
        if self.cb is not None:
            raise self.refuse(n, "a scan inside a callback")
        from .renderer import Callback
        mx = n.attr("max")
        cb = Callback(self.fresh(f"{self.prefix}_scan"), [], [])
        saved = (self.lines, self.indent, self.last_loc, dict(self.env))
        self.cb, self.lines, self.indent, self.last_loc, self.marked = cb, cb.lines, 1, None, None
        inits: list[tuple[str, str]] = []
        try:
            self.emit_line(f"struct {cb.name}_ctx *c = arg;")
            self.emit_line("struct nicc_scratch *s = c->s;")
            self.emit_line("__u8 *io = s->io;")
            self.emit_line("__u16 plen = c->plen;")
            self.emit_line("")
            self.emit_line("(void)i;")
            self.emit_line("(void)io;")
            self.emit_line("(void)plen;")
            self.capture(cb, list(captures), saved[3], inits)
            for ctype, name, init in carries:
                cb.ctx_fields.append((ctype, name))
                inits.append((name, init))
                self.emit_line(f"{ctype} {name} = c->{name};")
            self.branch_free = True
            cont, nexts = step([name for _, name, _ in carries])
            for (_, name, _), v in zip(carries, nexts):
                self.emit_line(f"c->{name} = {v};")
            self.emit_line(f"if (!{cont}) {{")
            self.emit_line("    c->stopped = 1;")
            self.emit_line("    return 1;")
            self.emit_line("}")
            self.emit_line("return 0;")
        finally:
            self.lines, self.indent, self.last_loc, self.env = saved
            self.cb, self.marked, self.branch_free = None, None, False
        cb.ctx_fields.append(("__u8", "stopped"))
        self.callbacks.append(cb)
        ctx = self.fresh("scan")
        fields = "".join(f", .{f} = {v}" for f, v in inits)
        self.emit_line(f"struct {cb.name}_ctx {ctx} = {{ .s = s, .plen = plen, .n = {mx}U{fields} }};")
        self.emit_line("")
        self.emit_line(f"bpf_loop({mx}, {cb.name}, &{ctx}, 0);")
        self.emit_line(f"if (!{ctx}.stopped)                   /* still running after {mx} steps */")
        self.emit_line(f"    {self.ret_code('malformed')}")
        return [f"{ctx}.{name}" for _, name, _ in carries]

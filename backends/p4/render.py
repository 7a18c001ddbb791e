"""The P4_16 program: the ingress renderer (a Walker over :data:`~.rules.P4_RULES`), parser and deparser.
"""
from __future__ import annotations

import os

from ...compiler.errors import InternalError, NiccError
from ...compiler.ir import Node, Pipeline
from ...compiler.types import BOOL, Scalar
from ...compiler.walker import Walker
from .layout import ArraySeg, Layout, partition_host_nic, payload_layout
from ..host_only import refuse_host_only
from .rules import (  # noqa: F401  (CONTROL, REFUSED: re-exported)
    CONTROL, DROP, DROP_SLOT, HOST_PART, HOST_PART_SLOT, ID_ACTION, ID_COUNTER, ID_REGISTER, MALFORMED, MALFORMED_SLOT,
    MCAST_SLOT, MULTICAST, P4_RULES, PASS, PASS_SLOT, REFUSED, SLOTS, TRANSMIT, TRANSMIT_SLOT, UNDECIDED,
    UNSELECTED_SLOT, VERDICT_COUNTER, ArrVal, CounterDecl, P4Program, RegisterDecl, TableDecl, byteswap, fname,
    lit, p4_type, ulit,
)
from .copies import copy_table, group_ids
from .limits import check_switch_limits
from .streams import STREAM_P4_RULES, as_elements, host_cut

P4_RULES.update(STREAM_P4_RULES)


class P4Renderer(Walker):
    """Renders a pipeline's ingress control; :func:`render_program` adds parser, deparser and text."""
    rules = P4_RULES
    target_name = "bmv2"

    def __init__(self, pipeline: Pipeline, layout: Layout):
        super().__init__(pipeline)
        self.layout = layout
        self.lines: list[str] = []
        self.locs: list = []                  # the node each line was rendered for (its SourceLoc)
        self.loc = None                       # the location of the node being rendered
        self.depth = 0
        self.opened = 0
        self.counter = 0
        self.locals: list[tuple[str, str]] = []
        self.registers: dict[str, RegisterDecl] = {}
        self.tables: list[TableDecl] = []
        self.checked_avail = 0
        self.elem: int | None = None
        self.reuse: tuple[str, int] | None = None     # (map name, k) while rendering a map element
        self.divisions: dict = {}             # (a, b, bits) -> (quotient, remainder) at top level
        self.emitted = None
        self.names: dict[int, str] = {}
        self.groups = group_ids(pipeline)

    # -- plumbing -------------------------------------------------------------------------------
    def refuse(self, n: Node, why: str) -> NiccError:
        return NiccError(f"{self.target_name} cannot compile {n.op.value}: {why}", n.loc)

    def line(self, s: str) -> None:
        self.lines.append("    " * self.depth + s)
        self.locs.append(self.loc)

    def fresh(self, base: str = "v") -> str:
        """A new variable name; inside a map element, the k-th name of every element is the same (the
        elements run one after the other, so each reuses the variables of the one before: far fewer
        locals for p4c to analyze)."""
        if self.reuse is not None:
            mid, k = self.reuse
            self.reuse = (mid, k + 1)
            return f"e{mid[1:]}_{base}{k}"
        self.counter += 1
        return f"{base}{self.counter}"

    def node_name(self, n: Node) -> str:
        if id(n) not in self.names:
            self.names[id(n)] = f"m{len(self.names)}"
        return self.names[id(n)]

    def define(self, t: Scalar, expr: str) -> str:
        name = self.fresh()
        self.locals.append((p4_type(t), name))
        self.line(f"{name} = {expr};")
        return name

    def register(self, name: str, t: Scalar, size: int, values=None, init: int = 0) -> str:
        if name not in self.registers:
            self.registers[name] = RegisterDecl(name, (ID_REGISTER << 24) | (len(self.registers) + 1),
                                                1 if t == BOOL else t.bits, size, values, init)
        return name

    def set_code(self, code: int, group: str = "none") -> None:
        self.line(f"meta.code = 8w{code};")
        if code == MULTICAST:
            self.line(f"meta.grp = 16w{self.groups[group]};")

    def open_check(self, cond: str, code: int, group: str = "none") -> None:
        if self.elem is not None:
            raise _VerdictInMap()
        self.line(f"if ({cond}) {{")
        self.depth += 1
        self.set_code(code, group)
        self.depth -= 1
        self.line("} else {")
        self.depth += 1
        self.opened += 1

    def need_avail(self, n: Node, end: int) -> None:
        """Reading payload bytes up to ``end`` makes a shorter packet malformed, here in program order."""
        if end <= self.checked_avail:
            return
        self.open_check(f"meta.avail < 16w{end}", MALFORMED)
        self.checked_avail = end

    def run_node(self, n: Node):
        rule = self.rules.get(n.op)
        if rule is None:
            raise self.refuse(n, "no P4 lowering for this operation")
        outer, self.loc = self.loc, n.loc
        try:
            return rule(self, n, *[self.env[a] for a in n.args])
        finally:
            self.loc = outer

    def as_elements(self, a, n: Node):
        return as_elements(self, a, n)

    def close_all(self) -> None:
        while self.opened:
            self.depth -= 1
            self.opened -= 1
            self.line("}")


class _VerdictInMap(Exception):
    pass


# --------------------------------------------------------------------------------------------
# the whole program


def _field_expr(lay: Layout, f: Node) -> str:
    chunks = lay.field_chunks[id(f)]
    end = f.attr("offset") + f.type.nbytes
    e = " ++ ".join(f"hdr.c{c.index}.v" for c in chunks)
    if len(chunks) > 1:
        e = f"({e})"
    if sum(c.bits for c in chunks) != f.type.bits:
        e = f"{e}[{8 * (end - f.attr('offset')) - 1}:0]"
    if f.attr("endian") == "le" and f.type.bits > 8:
        e = byteswap(e if len(chunks) == 1 and "[" not in e else f"({e})", f.type.bits)
    return e


def _parser(prog: P4Program, p: Pipeline, lay: Layout) -> None:
    S = prog.parser_states

    def sel(cond: str, yes: str, no: str = "accept") -> tuple[list[str], list[str]]:
        return [f"meta.t = (bit<1>)({cond});"], ["transition select(meta.t) {", f"    1w1: {yes};",
                                                   f"    default: {no};", "}"]

    st, tr = sel("sm.packet_length >= 32w42", "parse_ethernet")
    S.append(("start", st, tr))
    S.append(("parse_ethernet", ["pkt.extract(hdr.ethernet);"],
              ["transition select(hdr.ethernet.etherType) {", "    16w0x0800: parse_ipv4;",
               "    default: accept;", "}"]))
    S.append(("parse_ipv4", ["pkt.extract(hdr.ipv4);"],
              ["transition select(hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.protocol, hdr.ipv4.mf, "
               "hdr.ipv4.fragOffset) {", "    (4w4, 4w5, 8w17, 1w0, 13w0): parse_udp;", "    default: accept;", "}"]))
    st, tr = sel(f"hdr.udp.dstPort == 16w{p.port} && hdr.udp.len >= 16w8 && "
                 f"(bit<32>)hdr.udp.len <= sm.packet_length - 32w34", "selected")
    S.append(("parse_udp", ["pkt.extract(hdr.udp);"] + st, tr))
    segs = lay.segments
    first = "seg0" if segs else "accept"
    S.append(("selected", ["meta.sel = 1w1;", "meta.avail = hdr.udp.len - 16w8;"], [f"transition {first};"]))
    for k, s in enumerate(segs):
        nxt = f"seg{k + 1}" if k + 1 < len(segs) else "accept"
        me = f"seg{k}"
        if not isinstance(s, ArraySeg):
            st, tr = sel(f"meta.avail >= 16w{s.end}", f"{me}_extract")
            S.append((me, st, tr))
            S.append((f"{me}_extract", [f"pkt.extract(hdr.c{s.index});"], [f"transition {nxt};"]))
            continue
        a = f"a{s.index}"
        if not s.dynamic:
            st, tr = sel(f"meta.avail >= 16w{s.end}", f"{me}_first")
            S.append((me, st + [f"meta.{a}_rem = 32w{s.max};"], tr))
        elif s.rest:
            rem = f"(bit<32>)(meta.avail - 16w{s.offset})"
            S.append((me, [f"meta.{a}_rem = {rem}{f' >> {s.rest_shift}' if s.rest_shift else ''};"],
                      [f"transition {me}_check;"]))
            st, tr = sel(f"meta.avail >= 16w{s.offset} && meta.{a}_rem <= 32w{s.cap}", f"{me}_first")
            S.append((f"{me}_check", st, tr))
        else:
            ct: Scalar = s.count.type
            cnt = _field_expr(lay, s.count)
            c32 = f"(bit<32>){cnt}" if ct.bits != 32 else cnt
            if ct.fits(s.max) and s.max < ct.hi:
                st, tr = sel(f"{cnt} > {lit(s.max, ct)}", f"{me}_clamp", f"{me}_count")
                S.append((me, st, tr))
                S.append((f"{me}_clamp", [f"meta.{a}_rem = 32w{s.max};"], [f"transition {me}_check;"]))
                S.append((f"{me}_count", [f"meta.{a}_rem = {c32};"], [f"transition {me}_check;"]))
            else:
                S.append((me, [f"meta.{a}_rem = {c32};"], [f"transition {me}_check;"]))
            st, tr = sel(f"meta.{a}_rem <= 32w{s.cap} && (bit<32>)meta.avail >= 32w{s.offset} + "
                         f"meta.{a}_rem * 32w{s.esz}", f"{me}_first")
            S.append((f"{me}_check", st, tr))
        S.append((f"{me}_first", [], [f"transition select(meta.{a}_rem) {{", f"    32w0: {nxt};",
                                      f"    default: {me}_loop;", "}"]))
        S.append((f"{me}_loop", [f"pkt.extract(hdr.{a}.next);", f"meta.{a}_rem = meta.{a}_rem - 32w1;"],
                  [f"transition select(meta.{a}_rem) {{", f"    32w0: {nxt};", f"    default: {me}_loop;", "}"]))


def _count(slot) -> str:
    return f"{VERDICT_COUNTER}.count({slot});"


def _finish(w: P4Renderer, prog: P4Program, lay: Layout) -> list[str]:
    """After the body: verdict -> port (each counted), and the rewrite of emitted packets."""
    out = [
        f"if (meta.code == 8w{DROP}) {{",
        "    mark_to_drop(sm);",
        f"    {_count(f'32w{DROP_SLOT}')}",
        f"}} else if (meta.code == 8w{MULTICAST}) {{",
        "    sm.mcast_grp = meta.grp;",
        f"    {_count(f'(bit<32>)meta.grp + 32w{MCAST_SLOT - 1}')}",
        f"}} else if (meta.code == 8w{TRANSMIT}) {{",
        "    sm.egress_spec = sm.ingress_port;",
        f"    {_count(f'32w{TRANSMIT_SLOT}')}",
        f"}} else if (meta.code == 8w{MALFORMED}) {{",
        "    sm.egress_spec = MALFORMED_PORT;",
        f"    {_count(f'32w{MALFORMED_SLOT}')}",
        f"}} else if (meta.code == 8w{HOST_PART}) {{",
        "    sm.egress_spec = HOST_PART_PORT;",
        f"    {_count(f'32w{HOST_PART_SLOT}')}",
        "} else {",
        "    sm.egress_spec = HOST_PORT;",
        f"    {_count(f'32w{PASS_SLOT}')}",
        "}",
    ]
    if w.emitted is None:
        return out
    body: list[str] = []
    size = 0
    terms: list[str] = []
    group: list[tuple[str, int, str]] = []      # scalar fields of the current output header
    oi = 0

    def flush():
        nonlocal oi, group
        if group:
            prog.headers.append((f"o{oi}_t", [(f, b) for f, b, _ in group], "output fields"))
            prog.hdr_members.append((f"o{oi}_t", f"o{oi}"))
            body.append(f"hdr.o{oi}.setValid();")
            body.extend(f"hdr.o{oi}.{f} = {e};" for f, _, e in group)
            oi += 1
            group = []

    def value(e: str, t: Scalar, endian: str) -> str:
        if t.signed:
            if endian == "le" and t.bits > 8:
                tmp = w.fresh("o")
                w.locals.append((f"bit<{t.bits}>", tmp))
                body.append(f"{tmp} = (bit<{t.bits}>){e};")
                return byteswap(tmp, t.bits)
            return f"(bit<{t.bits}>){e}"
        if endian == "le" and t.bits > 8:
            if e[0].isdigit():          # a literal: swap its bytes here
                v = int(e.split("w")[1])
                return ulit(int.from_bytes(v.to_bytes(t.bits // 8, "big"), "little"), t.bits)
            return byteswap(e, t.bits)
        return e

    for k, (v, node, endian) in enumerate(w.emitted):
        if isinstance(v, ArrVal):
            flush()
            st = node.type.struct
            fields = [(fname(f), ft.bits) for f, ft in st.fields]
            prog.headers.append((f"o{oi}_t", fields, f"output array elements ({node.type})"))
            prog.hdr_members.append((f"o{oi}_t[{v.seg.cap}]", f"o{oi}"))
            for i, el in enumerate(v.elems):
                inner = [f"hdr.o{oi}[{i}].setValid();"] + [
                    f"hdr.o{oi}[{i}].{fname(f)} = {value(el[f], ft, endian)};" for f, ft in st.fields]
                if v.seg.dynamic:
                    body.append(f"if ({v.count} > 32w{i}) {{")
                    body.extend("    " + s for s in inner)
                    body.append("}")
                else:
                    body.extend(inner)
            if v.seg.dynamic:
                terms.append(f"{v.count} * 32w{st.nbytes}")
            else:
                size += v.seg.max * st.nbytes
            oi += 1
        else:
            t: Scalar = node.type
            group.append((f"f{k}", t.bits, value(v, t, endian)))
            size += t.nbytes
    flush()
    for c in lay.chunks:
        body.append(f"hdr.c{c.index}.setInvalid();")
    for s in lay.array_segs:
        body.extend(f"hdr.a{s.index}[{i}].setInvalid();" for i in range(s.cap))
    newlen = " + ".join([f"32w{size}"] + terms)
    body += [f"meta.newlen = {newlen};",
             "hdr.ipv4.totalLen = (bit<16>)(32w28 + meta.newlen);",
             "hdr.udp.len = (bit<16>)(32w8 + meta.newlen);",
             "hdr.udp.checksum = 16w0;",
             "meta.rewrite = 1w1;"]
    port = w.pipeline.emit().attr("port")
    if port is not None:             # the payload goes to a host part (docs/partition.md)
        body.append(f"hdr.udp.dstPort = 16w{port};")
    out.append(f"if (meta.emitted == 1w1 && meta.code != 8w{MALFORMED} && meta.code != 8w{DROP} && "
               f"meta.code != 8w{HOST_PART}) {{")
    out.extend("    " + s for s in body)
    out.append("}")
    return out


def render_program(p: Pipeline, root: str | None = None) -> P4Program:
    """Lower ``p`` to a :class:`P4Program` (text in ``.text``); refusals raise NiccError at the user's line."""
    from .text import render_template
    refuse_host_only(p, P4Renderer.target_name)
    check_switch_limits(p)
    cut = host_cut(p)
    p = cut[0] if cut else p
    lay = payload_layout(p)
    part = partition_host_nic(p, lay)
    if cut:
        part.cut = cut[1]
        part.notes.append(cut[1])
    src = p.loc.file if p.loc else "?"
    src = os.path.relpath(src, root) if root else os.path.basename(src)
    prog = P4Program(p.name, src, p.port, partition=part)
    for c in lay.chunks:
        prog.headers.append((f"c{c.index}_t", [("v", c.bits)], f"payload bytes [{c.start}, {c.end})"))
        prog.hdr_members.append((f"c{c.index}_t", f"c{c.index}"))
    for s in lay.array_segs:
        st = s.node.type.struct
        prog.headers.append((f"a{s.index}_t", [(fname(f), ft.bits) for f, ft in st.fields],
                             f"elements of '{s.node.attr('name')}' at payload offset {s.offset}"))
        prog.hdr_members.append((f"a{s.index}_t[{s.cap}]", f"a{s.index}"))
        prog.meta_fields.append((32, f"a{s.index}_rem"))
    _parser(prog, p, lay)
    w = P4Renderer(p, lay)
    w.depth = 0
    try:
        w.run()
    except _VerdictInMap:
        raise NiccError("bmv2 cannot compile a verdict inside a map body", p.loc) from None
    if cut:                       # what is left of the pipeline runs in the host part
        w.set_code(HOST_PART)
    w.close_all()
    body = w.lines
    split = []
    for s in lay.array_segs:
        if s.index in part.caps:
            ct: Scalar = s.count.type
            end = s.count.attr("offset") + ct.bits // 8
            split.append(f"(meta.avail >= 16w{end} && {_field_expr(lay, s.count)} > {lit(s.cap, ct)})")
    prog.split_note = [n for n in part.notes]
    apply = ["if (meta.sel == 1w0) {", "    sm.egress_spec = UNSELECTED_PORT;",
             f"    {_count(f'32w{UNSELECTED_SLOT}')}"]
    if split:
        apply += [f"}} else if ({' || '.join(split)}) {{", "    sm.egress_spec = HOST_PART_PORT;",
                  f"    {_count(f'32w{HOST_PART_SLOT}')}"]
    apply.append("} else {")
    locs = [None] * len(apply)
    apply += ["    " + s for s in body]
    locs += w.locs
    finish = _finish(w, prog, lay)
    emit = p.emit()
    apply += ["    " + s for s in finish]
    locs += [emit.loc if emit is not None else None] * len(finish)
    apply.append("}")
    locs.append(None)
    prog.apply, prog.apply_locs = apply, locs
    decl: dict[str, str] = {}
    for t, name in w.locals:
        if decl.setdefault(name, t) != t:
            raise InternalError(f"P4 local {name} declared as {decl[name]} and as {t}")
    prog.locals = [(t, name) for name, t in decl.items()]
    prog.registers = list(w.registers.values())
    prog.counters = [CounterDecl(VERDICT_COUNTER, (ID_COUNTER << 24) | 1, MCAST_SLOT + len(p.groups))]
    prog.tables = w.tables
    if w.tables:
        prog.actions.append(((ID_ACTION << 24) | 1, "nicc_set_bucket", [("b", 8)], "bk_out = b;"))
    prog.groups = [(w.groups[g], g, list(p.groups[g].ports)) for g in sorted(p.groups)]
    prog.copies = copy_table(p)
    # input segments go back in payload order (as parsed), then the output headers
    inputs = sorted([(c.start, f"c{c.index}") for c in lay.chunks] + [(s.offset, f"a{s.index}") for s in lay.array_segs])
    prog.deparse = ["ethernet", "ipv4", "udp"] + [m for _, m in inputs]
    prog.deparse += [m for _, m in prog.hdr_members if m not in prog.deparse]
    prog.text = render_template("program.p4.j2", prog=prog, slots=SLOTS, mcast_slot=MCAST_SLOT, copies=prog.copies,
                                codes=dict(
        UNDECIDED=UNDECIDED, PASS=PASS, TRANSMIT=TRANSMIT, DROP=DROP, MULTICAST=MULTICAST, MALFORMED=MALFORMED))
    prog.line_locs = _line_locs(prog)
    return prog


def _line_locs(prog: P4Program) -> dict:
    """Where each line of the ingress ``apply`` block came from (for p4c's messages)."""
    lines = prog.text.split("\n")
    want = ["        " + a if a else "" for a in prog.apply]
    for i in range(len(lines) - len(want) + 1):
        if lines[i] == want[0] and lines[i:i + len(want)] == want:
            return {i + 1 + k: loc for k, loc in enumerate(prog.apply_locs) if loc is not None}
    raise InternalError("the ingress apply block is not in the rendered P4 text")


def render_floor() -> P4Program:
    """The benchmark floor: a program that sends every frame to the host port unparsed (counted as pass)."""
    from .text import render_template
    prog = P4Program("floor", "nicc", 0)
    prog.counters = [CounterDecl(VERDICT_COUNTER, (ID_COUNTER << 24) | 1, MCAST_SLOT)]
    prog.text = render_template("floor.p4.j2", prog=prog)
    return prog

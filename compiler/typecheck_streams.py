"""Type rules of the stream, window, scan and host ops (docs/streams.md); merged into TYPE_RULES.

A scan body is checked with a :class:`ScanScope` on the walker's context stack
(``map_inputs``), which is how ``carry`` and ``put`` find their scan.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import NiccError
from .ir import Node, Op
from .types import Array, BOOL, SCALARS, Scalar, Struct, U16, Type


def _err(n: Node, msg: str) -> NiccError:
    return NiccError(msg, n.loc)


def _uint(n: Node, t: Type, what: str) -> Scalar:
    if not isinstance(t, Scalar) or not t.is_int or t.signed:
        raise _err(n, f"{what} must be an unsigned integer, got {t}")
    return t


def _bool(n: Node, t: Type, what: str) -> None:
    if t != BOOL:
        raise _err(n, f"{what} must be bool, got {t}")


@dataclass
class ScanScope:
    """The scan being checked: its carries and its output element type."""
    node: Node
    carries: list[Type]
    out: Scalar


def scan_scope(w) -> ScanScope | None:
    for frame, _ in reversed(w.map_inputs):
        if isinstance(frame, ScanScope):
            return frame
    return None


def _stream_field(w, n: Node):
    s = w.pipeline.streams.get(n.attr("stream"))
    if s is None:
        raise _err(n, f"unknown stream @{n.attr('stream')}")
    t = s.field(n.attr("field"))
    if t is None:
        raise _err(n, f"stream @{s.name} has no field '{n.attr('field')}' (fields: {', '.join(f for f, _ in s.fields)})")
    return s, t


def t_stream_read(w, n, slot):
    _uint(n, slot, "stream slot")
    return _stream_field(w, n)[1]


def t_stream_write(w, n, slot, *rest):
    s, t = _stream_field(w, n)
    _uint(n, slot, "stream slot")
    if isinstance(t, Scalar):
        if len(rest) != 2:
            raise _err(n, f"writing the scalar field {s.name}.{n.attr('field')} takes (slot, value, cond)")
        val, cond = rest
        if val != t:
            raise _err(n, f"stream field {s.name}.{n.attr('field')} holds {t}, got {val}")
    else:
        if len(rest) != 3:
            raise _err(n, f"writing the array field {s.name}.{n.attr('field')} takes (slot, offset, array, cond)")
        off, val, cond = rest
        _uint(n, off, "array offset")
        if not isinstance(val, Array) or val.elem != t.elem:
            raise _err(n, f"stream field {s.name}.{n.attr('field')} holds {t.elem} elements, got {val}")
    _bool(n, cond, "write condition")


def t_rom(w, n):
    tab = w.pipeline.tables.get(n.attr("table"))
    if tab is None:
        raise _err(n, f"unknown table @{n.attr('table')}")
    return Array(tab.out, len(tab.values))


def t_range(w, n, count):
    _uint(n, count, "range count")
    mx = n.attr("max")
    if not isinstance(mx, int) or not 1 <= mx <= 65535:
        raise _err(n, f"range bound must be 1..65535, got {mx}")
    return Array(U16, mx, dynamic=True)


def t_gather(w, n, arr, idx):
    if not isinstance(arr, Array):
        raise _err(n, f"indexing needs an array, got {arr}")
    _uint(n, idx, "array index")
    st = arr.struct
    f = n.attr("field")
    if f not in st.names:
        raise _err(n, f"array element has no field '{f}' (fields: {', '.join(st.names)})")
    return st.field(f)


def t_scan(w, n, *inits):
    names, out, mx, out_max = n.attr("names"), n.attr("out"), n.attr("max"), n.attr("out_max")
    if not isinstance(names, tuple) or len(names) != len(inits) or len(set(names)) != len(names) or "cont" in names:
        raise _err(n, "scan carries need distinct names (not 'cont'), one per initial value")
    for name, t in zip(names, inits):
        if not isinstance(t, Scalar) or t.kind == "f16":
            raise _err(n, f"carry '{name}' must be an integer or bool, got {t}")
    if out not in SCALARS or SCALARS[out] == BOOL or SCALARS[out].kind == "f16":
        raise _err(n, f"scan output elements must be an integer type, got {out}")
    if not isinstance(mx, int) or not 1 <= mx <= 1 << 23:
        raise _err(n, f"scan bound must be 1..8388608 steps (bpf_loop's limit), got {mx}")
    if not isinstance(out_max, int) or not 0 <= out_max <= 4096:
        raise _err(n, f"scan output bound must be 0..4096, got {out_max}")
    w.map_inputs.append((ScanScope(n, list(inits), SCALARS[out]), []))
    try:
        w.run_block(n.body)
    finally:
        w.map_inputs.pop()
    last = n.body.nodes[-1] if n.body.nodes else None
    if last is None or last.op is not Op.YIELD:
        raise _err(n, "scan body must end with yield")
    if last.attr("names") != ("cont",) + names:
        raise _err(last, f"a scan body yields (cont, {', '.join(names)})")
    types = [w.env[a] for a in last.args]
    if types[0] != BOOL:
        raise _err(last, f"scan continue condition must be bool, got {types[0]}")
    for name, t, want in zip(names, types[1:], inits):
        if t != want:
            raise _err(last, f"carry '{name}' is {want} but the body yields {t}; cast it")
    return Struct(tuple(zip(names, inits)))


def t_carry(w, n):
    sc = scan_scope(w)
    if sc is None or not isinstance(w.map_inputs[-1][0], ScanScope):
        raise _err(n, "carry used outside a scan body")
    i = n.attr("index")
    if not isinstance(i, int) or not 0 <= i < len(sc.carries):
        raise _err(n, f"scan has no carry {i}")
    return sc.carries[i]


def t_put(w, n, idx, val, cond):
    sc = scan_scope(w)
    if sc is None or not isinstance(w.map_inputs[-1][0], ScanScope):
        raise _err(n, "put used outside a scan body")
    _uint(n, idx, "output index")
    if val != sc.out:
        raise _err(n, f"the scan outputs {sc.out}, got {val}; cast it")
    _bool(n, cond, "put condition")


def t_get(w, n, s):
    if not isinstance(s, Struct) or n.args[0].op is not Op.SCAN:
        raise _err(n, f"get needs a scan result, got {s}")
    if n.attr("name") not in s.names:
        raise _err(n, f"scan has no carry '{n.attr('name')}' (carries: {', '.join(s.names)})")
    return s.field(n.attr("name"))


def t_scan_out(w, n, s):
    sc = n.args[0]
    if not isinstance(s, Struct) or sc.op is not Op.SCAN:
        raise _err(n, f"scan_out needs a scan result, got {s}")
    c = n.attr("count")
    if c not in s.names:
        raise _err(n, f"scan has no carry '{c}' to count its output")
    _uint(n, s.field(c), f"output count '{c}'")
    return Array(SCALARS[sc.attr("out")], sc.attr("out_max"), dynamic=True)


def t_host_if(w, n, cond):
    _bool(n, cond, "condition")
    if n.attr("host") not in w.pipeline.hosts:
        raise _err(n, f"unknown host function @{n.attr('host')}")


STREAM_TYPE_RULES = {
    Op.STREAM_READ: t_stream_read, Op.STREAM_WRITE: t_stream_write, Op.ROM: t_rom, Op.RANGE: t_range,
    Op.GATHER: t_gather, Op.SCAN: t_scan, Op.CARRY: t_carry, Op.PUT: t_put, Op.GET: t_get,
    Op.SCAN_OUT: t_scan_out, Op.HOST_IF: t_host_if,
}

"""Type and width rules, one per op kind (jaxpr's abstract-eval rules).

The DSL applies these rules while tracing, so a mistake is reported at the
user's line as it is made; :func:`check_types` re-applies them to a whole IR
(after parsing text, after every pass).

Integer operands of one op must have the same type: nicc never widens or
narrows silently (``x.cast(u16)`` does it explicitly, wrapping or saturating).
"""
from __future__ import annotations

from .constfold import constant_value
from .errors import NiccError
from .ir import ARITH, COMPARE, Node, Op, Pipeline, VERDICTS
from .hostfuncs import HOST_FUNCS
from .types import Array, BOOL, Scalar, Struct, U8, U16, U32, U64, Type
from .walker import Walker
from .typecheck_streams import STREAM_TYPE_RULES, ScanScope


def _err(n: Node, msg: str) -> NiccError:
    return NiccError(msg, n.loc)


def _scalar(n: Node, t: Type, what: str) -> Scalar:
    if not isinstance(t, Scalar):
        raise _err(n, f"{what} must be a scalar, got {t}")
    if t.kind == "f16":
        raise _err(n, f"{what} is f16: float values can only be produced by nd.lut(...) and emitted, not computed on")
    return t


def _int(n: Node, t: Type, what: str) -> Scalar:
    t = _scalar(n, t, what)
    if not t.is_int:
        raise _err(n, f"{what} must be an integer, got {t}")
    return t


def _float(n: Node, t: Type, what: str) -> Scalar:
    t = _scalar(n, t, what)
    if not t.is_float:
        raise _err(n, f"{what} must be a float (f32 or f64), got {t}: convert it with .astype(np.float32)")
    return t


def _bool(n: Node, t: Type, what: str) -> Scalar:
    if t != BOOL:
        raise _err(n, f"{what} must be bool, got {t}")
    return t


def _same(n: Node, a: Type, b: Type, sym: str) -> None:
    if a != b:
        raise _err(n, f"width mismatch: {a} {sym} {b}; convert one side explicitly with .cast(...)")


SYMBOL = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.DIV: "//", Op.MOD: "%", Op.AND: "&", Op.OR: "|",
          Op.XOR: "^", Op.SHL: "<<", Op.SHR: ">>", Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=",
          Op.GT: ">", Op.GE: ">="}


def t_const(w, n):
    t = _scalar(n, n.type, "constant")
    v = n.attr("value")
    if t.is_float:                  # a float constant holds its IEEE bit pattern
        if not isinstance(v, int) or not 0 <= v < 1 << t.bits:
            raise _err(n, f"float constant {v} is not a {t} bit pattern")
        return t
    if not isinstance(v, int) or not (t.fits(v) or (t == BOOL and v in (0, 1))):
        raise _err(n, f"constant {v} does not fit {t}")
    return t


def t_payload_len(w, n):
    return U16


def t_timestamp(w, n):
    return U64


def t_field(w, n):
    t = _int(n, n.type, "field")
    if n.attr("endian") not in ("be", "le"):
        raise _err(n, f"field endianness must be be or le, got {n.attr('endian')}")
    return t


def t_array(w, n, count):
    _int(n, count, "array count")
    if not isinstance(n.type, Array):
        raise _err(n, "array node must have an array type")
    return n.type


def t_arith(w, n, a, b):
    sym = SYMBOL[n.op]
    if n.op in (Op.SHL, Op.SHR):
        _int(n, a, f"left operand of {sym}")
        if _int(n, b, f"right operand of {sym}").signed:
            raise _err(n, f"shift amount must be unsigned, got {b}")
        k = constant_value(w.pipeline, n.args[1])
        if k is not None and k >= a.bits:
            raise _err(n, f"shift by {k}, not less than the width of {a} ({a.bits} bits): every bit is "
                          "shifted out; cast to a wider type first, or shift by less")
        return a
    if n.op in (Op.AND, Op.OR, Op.XOR) and a == BOOL and b == BOOL:
        return BOOL
    if isinstance(a, Scalar) and a.is_float:            # float math (host only): + - * and / (true division)
        if n.op not in (Op.ADD, Op.SUB, Op.MUL, Op.DIV):
            raise _err(n, f"{sym} is not defined on {a}")
        _float(n, b, f"right operand of {'/' if n.op is Op.DIV else sym}")
        _same(n, a, b, "/" if n.op is Op.DIV else sym)
        return a
    _int(n, a, f"left operand of {sym}")
    _int(n, b, f"right operand of {sym}")
    _same(n, a, b, sym)
    if n.op in (Op.ADD, Op.SUB, Op.MUL) and n.attr("overflow") not in ("wrap", "sat"):
        raise _err(n, f"overflow must be wrap or sat, got {n.attr('overflow')}")
    if n.op in (Op.DIV, Op.MOD) and constant_value(w.pipeline, n.args[1]) == 0:
        what = "division" if n.op is Op.DIV else "modulo"
        raise _err(n, f"{what} by zero: the divisor is always 0 here")
    return a


def t_not(w, n, a):
    return a if a == BOOL else _int(n, a, "operand of ~")


def t_compare(w, n, a, b):
    _scalar(n, a, "left operand")
    _scalar(n, b, "right operand")
    _same(n, a, b, SYMBOL[n.op])
    if a == BOOL and n.op not in (Op.EQ, Op.NE):
        raise _err(n, f"bool values cannot be ordered with {SYMBOL[n.op]}")
    return BOOL


def t_select(w, n, c, a, b):
    _bool(n, c, "condition of where()")
    if a != b:
        raise _err(n, f"where() branches differ: {a} vs {b}; cast one explicitly")
    return a


def t_cast(w, n, a):
    _scalar(n, a, "cast operand")
    t = _scalar(n, n.type, "cast target")
    if a.is_float and not t.is_float:
        raise _err(n, f"a cast from {a} to {t} is not supported (a float out of range has no integer value); "
                      "keep float results as floats")
    if n.attr("overflow") not in ("wrap", "sat"):
        raise _err(n, f"overflow must be wrap or sat, got {n.attr('overflow')}")
    return t


def t_lut(w, n, x):
    tab = w.pipeline.tables.get(n.attr("table"))
    if tab is None:
        raise _err(n, f"unknown table @{n.attr('table')}")
    _int(n, x, "table index")
    if len(tab.values) != tab.index.hi - tab.index.lo + 1:
        raise _err(n, f"table @{tab.name} has {len(tab.values)} entries; its index type {tab.index} needs "
                      f"{tab.index.hi - tab.index.lo + 1}")
    if x != tab.index:
        raise _err(n, f"table @{tab.name} is indexed by {tab.index}, got {x}; cast the index")
    return tab.out


def t_bucketize(w, n, x):
    _int(n, x, "bucketize input")
    bounds = n.attr("boundaries")
    if not bounds or list(bounds) != sorted(bounds) or len(bounds) > 255:
        raise _err(n, "bucketize boundaries must be 1..255 sorted values")
    if not all(x.fits(b) for b in bounds):
        raise _err(n, f"bucketize boundaries do not fit the input type {x}")
    return U8


def t_crc32(w, n, x):
    t = _int(n, x, "crc32 input")
    if t.signed:
        raise _err(n, "crc32 input must be unsigned")
    return U32


def t_map(w, n, *arrays):
    if not arrays:
        raise _err(n, "map needs at least one array")
    for a in arrays:
        if not isinstance(a, Array):
            raise _err(n, f"map over a non-array value of type {a}")
        if (a.max, a.dynamic) != (arrays[0].max, arrays[0].dynamic):
            raise _err(n, f"map over arrays of different lengths: {arrays[0]} and {a}")
    w.map_inputs.append((n, list(arrays)))
    try:
        w.run_block(n.body)
    finally:
        w.map_inputs.pop()
    last = n.body.nodes[-1] if n.body.nodes else None
    if last is None or last.op is not Op.YIELD:
        raise _err(n, "map body must end with yield")
    names = last.attr("names")
    types = [w.env[a] for a in last.args]
    elem = types[0] if names == ("_",) else Struct(tuple(zip(names, types)))
    return Array(elem, arrays[0].max, arrays[0].dynamic)


def t_elem(w, n):
    if not w.map_inputs or isinstance(w.map_inputs[-1][0], ScanScope):
        raise _err(n, "array element used outside a map")
    _, arrays = w.map_inputs[-1]
    i, f = n.attr("input"), n.attr("field")
    return arrays[i].struct.field(f)


def t_yield(w, n, *vals):
    if len(vals) != len(n.attr("names")):
        raise _err(n, "yield names and values differ in number")
    for v in vals:
        if not isinstance(v, Scalar):
            raise _err(n, f"map must produce scalars, got {v}")


def _state(w, n):
    s = w.pipeline.states.get(n.attr("state"))
    if s is None:
        raise _err(n, f"unknown state @{n.attr('state')}")
    return s


def _index(w, n, s, idx):
    _int(n, idx, "state index")
    k = constant_value(w.pipeline, n.args[0])
    if k is not None and not 0 <= k < s.size:
        raise _err(n, f"state index {k} is out of range for @{s.name} (size {s.size}, indices 0..{s.size - 1})")


def t_state_read(w, n, idx):
    s = _state(w, n)
    if _int(n, idx, "state index").signed:
        raise _err(n, "state index must be unsigned")
    _index(w, n, s, idx)
    return s.elem


def t_state_write(w, n, idx, val, cond):
    s = _state(w, n)
    _index(w, n, s, idx)
    if val != s.elem:
        raise _err(n, f"state @{s.name} holds {s.elem}, got {val}")
    _bool(n, cond, "write condition")


def t_state_update_if(w, n, idx, val):
    s = _state(w, n)
    _index(w, n, s, idx)
    if val != s.elem:
        raise _err(n, f"state @{s.name} holds {s.elem}, got {val}")
    if n.attr("cmp") not in ("eq", "ne", "lt", "le", "gt", "ge", "always"):
        raise _err(n, f"unknown comparison {n.attr('cmp')}")
    return BOOL


def t_cond(w, n, c):
    _bool(n, c, "condition")
    if n.op is Op.VERDICT_IF:
        _verdict(w, n)


def _verdict(w, n):
    v = n.attr("verdict")
    if v not in VERDICTS:
        raise _err(n, f"unknown verdict {v}")
    if v == "multicast" and n.attr("group") not in w.pipeline.groups:
        raise _err(n, f"unknown multicast group @{n.attr('group')}")


def t_emit(w, n, *vals):
    ends = n.attr("endian")
    if len(ends) != len(vals):
        raise _err(n, "emit needs one endianness per value")
    for v in vals:
        if isinstance(v, Struct):
            raise _err(n, "cannot emit a struct")
        if v == BOOL:
            raise _err(n, "cannot emit a bool; cast it to an integer")


def t_verdict(w, n):
    _verdict(w, n)


def t_call(w, n, *args):
    f = HOST_FUNCS.get(n.attr("fn"))
    if f is None:
        raise _err(n, f"unknown host function '{n.attr('fn')}' (known: {', '.join(sorted(HOST_FUNCS))})")
    if len(args) != f.arity:
        raise _err(n, f"{f.name} takes {f.arity} operand(s), got {len(args)}")
    t = _float(n, args[0], f"operand of {f.name}")
    for a in args[1:]:
        _same(n, t, _float(n, a, f"operand of {f.name}"), ",")
    return t


TYPE_RULES = {
    Op.CONST: t_const, Op.PAYLOAD_LEN: t_payload_len, Op.TIMESTAMP: t_timestamp, Op.FIELD: t_field,
    Op.ARRAY: t_array, **{op: t_arith for op in ARITH}, Op.NOT: t_not, **{op: t_compare for op in COMPARE},
    Op.SELECT: t_select, Op.CAST: t_cast, Op.LUT: t_lut, Op.BUCKETIZE: t_bucketize, Op.CRC32: t_crc32,
    Op.MAP: t_map, Op.ELEM: t_elem, Op.YIELD: t_yield, Op.STATE_READ: t_state_read,
    Op.STATE_WRITE: t_state_write, Op.STATE_UPDATE_IF: t_state_update_if, Op.REJECT_IF: t_cond,
    Op.VERDICT_IF: t_cond, Op.EMIT: t_emit, Op.VERDICT: t_verdict, Op.CALL: t_call,
    **STREAM_TYPE_RULES,
}


class TypeChecker(Walker):
    """Checks every node's rule and that the rule agrees with the node's declared type."""
    rules = TYPE_RULES

    def run_node(self, n: Node):
        t = super().run_node(n)
        if n.type is not None and t != n.type:
            raise _err(n, f"node declares type {n.type} but its operands give {t}")
        return t


def check_types(p: Pipeline) -> Pipeline:
    TypeChecker(p).run()
    return p


class _TracedTypes(dict):
    """Types of nodes already traced (and checked): a map body may use values from outside it."""

    def __missing__(self, n: Node) -> Type:
        return n.type


def infer_type(pipeline: Pipeline, n: Node, arg_types: list[Type], map_inputs=None) -> Type | None:
    """Apply ``n``'s rule to operand types (used by the DSL while tracing)."""
    w = Walker.__new__(TypeChecker)
    Walker.__init__(w, pipeline)
    w.env = _TracedTypes()
    if map_inputs:
        w.map_inputs = list(map_inputs)
    for a, t in zip(n.args, arg_types):
        w.env[a] = t
    return TYPE_RULES[n.op](w, n, *arg_types)

"""Tracing: traced values record IR nodes as the user's Python runs.

A :class:`Value` stands for a run-time value of the packet being processed.
Operators on it add nodes to the current block; its type is checked at once
by the IR's type rules, so errors point at the user's own line. Python control
flow on a traced value (``if``, ``while``, ``bool()``, iteration) is an error
that names the alternative (``nd.where``, ``.map``).
"""
from __future__ import annotations

import numbers
from contextlib import contextmanager

import numpy as np

from ..compiler.errors import NiccError, SourceLoc, user_loc
from ..compiler.ir import Block, Node, Op, Pipeline, SPECS
from ..compiler.typecheck import infer_type
from ..compiler.hostfuncs import HOST_FUNCS
from ..compiler.types import Array, BOOL, Scalar, Struct, Type, float_bits

_active_tracers: list["Tracer"] = []
_STAY_IN_BLOCK = (Op.ELEM, Op.CARRY, Op.MAP, Op.SCAN, Op.STATE_UPDATE_IF)   # never moved out of the block they are written in


def tracer() -> "Tracer":
    if not _active_tracers:
        raise NiccError("nicc operations can only be used inside a pipeline function while it is traced", user_loc())
    return _active_tracers[-1]


class Tracer:
    """Builds one :class:`Pipeline` while the user's function runs."""

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.blocks: list[Block] = [pipeline.body]
        self.map_inputs: list[tuple[Node | None, list[Type]]] = []
        self.overflow = "wrap"
        self.lut_ids: dict[int, str] = {}
        self.block_of: dict[Node, Block] = {}     # the block each traced node was placed in

    def _place(self, n: Node) -> int:
        """Index in ``self.blocks`` of the block ``n`` belongs to.

        A value that does not depend on a map element (a record field, a constant, a table
        read of either, ...) belongs where its operands are, however deep the code that
        first traces it: it is computed once per packet and visible both inside and after
        the map. Element reads, maps and effects stay where they are written.
        """
        depth = 0
        for a in n.args:
            b = self.block_of.get(a)
            if b is None:
                continue
            k = next((i for i, have in enumerate(self.blocks) if have is b), None)
            if k is None:
                raise NiccError(f"{n.op.value} uses a value made from an element at {a.loc}: a value made inside "
                                "a map body cannot be used outside it (it exists once per element); return it "
                                "from the map function instead", n.loc)
            depth = max(depth, k)
        if n.op in _STAY_IN_BLOCK or not SPECS[n.op].result:
            return len(self.blocks) - 1
        return depth

    def __enter__(self):
        _active_tracers.append(self)
        return self

    def __exit__(self, *exc):
        _active_tracers.pop()

    def add(self, op: Op, args=(), attrs=(), type: Type | None = None, loc: SourceLoc | None = None,
            body: Block | None = None) -> Node:
        loc = loc or user_loc()
        nodes = tuple(a.node if isinstance(a, Value) else a for a in args)
        n = Node(op, nodes, attrs, type, loc, body)
        arg_types = [a.type for a in nodes]
        depth = self._place(n)
        t = infer_type(self.pipeline, n, arg_types, self.map_inputs[:depth])
        if SPECS[op].result:
            n.type = t
        self.blocks[depth].nodes.append(n)
        self.block_of[n] = self.blocks[depth]
        return n

    def value(self, op: Op, args=(), attrs=(), type=None, loc=None) -> "Value":
        return traced_value(self.add(op, args, attrs, type, loc))

    def const(self, v, t: Scalar, loc: SourceLoc | None = None) -> "Value":
        return self.value(Op.CONST, (), {"value": int(v)}, t, loc)

    @contextmanager
    def top(self):
        """Add nodes to the pipeline's top-level block (payload reads, wherever they are first asked for)."""
        blocks, inputs = self.blocks, self.map_inputs
        self.blocks, self.map_inputs = [blocks[0]], []
        try:
            yield
        finally:
            self.blocks, self.map_inputs = blocks, inputs

    @contextmanager
    def scope(self, frame):
        """A nested block checked under ``frame`` (a scan's :class:`ScanScope`)."""
        b = Block()
        self.blocks.append(b)
        self.map_inputs.append((frame, []))
        try:
            yield b
        finally:
            self.blocks.pop()
            self.map_inputs.pop()

    @contextmanager
    def block(self, map_inputs: list[Type]):
        b = Block()
        self.blocks.append(b)
        self.map_inputs.append((None, map_inputs))
        try:
            yield b
        finally:
            self.blocks.pop()
            self.map_inputs.pop()


def traced_value(n: Node) -> "Value":
    return ArrayValue(n) if isinstance(n.type, Array) else Value(n)


def _flow_error(what: str, hint: str):
    raise NiccError(f"Python control flow on a traced value ({what}): the value is only known per packet "
                    f"on the NIC; {hint}", user_loc())


def as_value(x, like: "Value | None" = None) -> "Value":
    """Turn a Python int into a constant of ``like``'s type; refuse floats."""
    if isinstance(x, Value):
        return x
    loc = user_loc()
    if isinstance(x, bool):
        return tracer().const(int(x), BOOL, loc)
    if isinstance(x, numbers.Integral):
        t = like.type if like is not None and isinstance(like.type, Scalar) else None
        if t is None or t.kind == "f16":
            raise NiccError(f"constant {x} needs a type here: use nd.const({x}, nd.u32) or similar", loc)
        if t == BOOL:
            if x not in (0, 1):
                raise NiccError(f"constant {x} does not fit bool", loc)
        elif not t.fits(int(x)):
            raise NiccError(f"constant {x} does not fit {t} (range {t.lo}..{t.hi})", loc)
        return tracer().const(int(x), t, loc)
    if isinstance(x, numbers.Real):
        t = like.type if like is not None and isinstance(like.type, Scalar) else None
        if t is not None and t.is_float:            # a float constant beside a float value (host math)
            return tracer().const(float_bits(float(x), t), t, loc)
        raise NiccError(f"float constant {x!r} cannot reach NIC code: NICs have no floating point; "
                        "precompute float math with nd.lut(fn, domain=...), use integer fixed point, or "
                        "compute on floats made with .astype(np.float32) (that part runs on the host)", loc)
    raise NiccError(f"cannot use {type(x).__name__} value {x!r} in a pipeline", loc)


def _dtype_type(dtype) -> Scalar:
    """The nicc scalar type of a numpy dtype (``np.float32`` -> f32)."""
    from ..compiler.types import SCALARS
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    name = {"f": f"f{d.itemsize * 8}", "u": f"u{d.itemsize * 8}", "i": f"i{d.itemsize * 8}"}.get(d.kind) if d else None
    if name not in SCALARS:
        raise NiccError(f"astype({dtype!r}): no nicc type for it (floats: np.float32, np.float64; "
                        "integers: np.uint8 ... np.int64)", user_loc())
    return SCALARS[name]


def host_call(name: str, *inputs) -> "Value":
    """numpy function ``name`` on traced floats (op ``call``; arrays elementwise): host math."""
    arrays = [x for x in inputs if isinstance(x, ArrayValue)]
    if arrays:
        if len(arrays) != len(inputs):
            raise NiccError(f"numpy.{name} of an array and a scalar: apply it inside .map(...)", user_loc())
        return trace_map(lambda *xs: host_call(name, *xs), *arrays)
    vals = [x for x in inputs if isinstance(x, Value)]
    like = vals[0] if vals else None
    args = [as_value(x, like) for x in inputs]
    for a in args:
        if not (isinstance(a.type, Scalar) and a.type.is_float):
            raise NiccError(f"numpy.{name} of a traced value of type {a.type}: numpy functions run on floats, on "
                            "the host; "
                            f"convert it first with .astype(np.float32), or precompute integer math with "
                            f"nd.lut(fn, domain=..., out=...) for the NIC", user_loc())
    return tracer().value(Op.CALL, args, {"fn": name})


# numpy ufuncs that are Python operators on traced values (``np.uint8(3) + v`` reaches Value.__radd__)
_UFUNC_OPERATORS = {"add": "__add__", "subtract": "__sub__", "multiply": "__mul__", "floor_divide": "__floordiv__",
                    "remainder": "__mod__", "bitwise_and": "__and__", "bitwise_or": "__or__",
                    "bitwise_xor": "__xor__", "left_shift": "__lshift__", "right_shift": "__rshift__",
                    "equal": "__eq__", "not_equal": "__ne__", "less": "__lt__", "less_equal": "__le__",
                    "greater": "__gt__", "greater_equal": "__ge__", "true_divide": "__truediv__"}


_REFLECTED = {"__eq__": "__eq__", "__ne__": "__ne__", "__lt__": "__gt__", "__le__": "__ge__", "__gt__": "__lt__",
              "__ge__": "__le__"}


def _binop(op: Op, reflected: bool = False):
    def f(self, other):
        o = as_value(other, self)
        a, b = (o, self) if reflected else (self, o)
        attrs = {"overflow": tracer().overflow} if op in (Op.ADD, Op.SUB, Op.MUL) else {}
        return tracer().value(op, (a, b), attrs)
    return f


class Value:
    """A traced scalar (or, via :class:`ArrayValue`, array) of the packet being processed."""

    __slots__ = ("node",)

    def __init__(self, node: Node):
        self.node = node

    @property
    def type(self) -> Type:
        return self.node.type

    def __repr__(self) -> str:
        return f"<traced {self.type} from {self.node.op.value} at {self.node.loc}>"

    __add__, __radd__ = _binop(Op.ADD), _binop(Op.ADD, True)
    __sub__, __rsub__ = _binop(Op.SUB), _binop(Op.SUB, True)
    __mul__, __rmul__ = _binop(Op.MUL), _binop(Op.MUL, True)
    __floordiv__, __rfloordiv__ = _binop(Op.DIV), _binop(Op.DIV, True)
    __mod__, __rmod__ = _binop(Op.MOD), _binop(Op.MOD, True)
    __and__, __rand__ = _binop(Op.AND), _binop(Op.AND, True)
    __or__, __ror__ = _binop(Op.OR), _binop(Op.OR, True)
    __xor__, __rxor__ = _binop(Op.XOR), _binop(Op.XOR, True)
    __lshift__, __rlshift__ = _binop(Op.SHL), _binop(Op.SHL, True)
    __rshift__, __rrshift__ = _binop(Op.SHR), _binop(Op.SHR, True)
    __eq__, __ne__ = _binop(Op.EQ), _binop(Op.NE)
    __lt__, __le__ = _binop(Op.LT), _binop(Op.LE)
    __gt__, __ge__ = _binop(Op.GT), _binop(Op.GE)
    __hash__ = object.__hash__

    def __invert__(self):
        return tracer().value(Op.NOT, (self,))

    def __truediv__(self, other):
        if isinstance(self.type, Scalar) and self.type.is_float:
            return tracer().value(Op.DIV, (self, as_value(other, self)))
        raise NiccError("'/' makes a float, which cannot reach NIC code: use '//' for integer division, "
                        "nd.lut(fn, domain=...) to precompute float math exactly, or .astype(np.float32) "
                        "first (float math runs on the host)", user_loc())

    def __rtruediv__(self, other):
        if isinstance(self.type, Scalar) and self.type.is_float:
            return tracer().value(Op.DIV, (as_value(other, self), self))
        return self.__truediv__(other)

    def astype(self, dtype) -> "Value":
        """numpy's ``astype``: ``v.astype(np.float32)`` converts to f32 (float math runs on the host);
        to an integer dtype it is ``cast`` with wrapping."""
        return self.cast(_dtype_type(dtype), "wrap")

    def __neg__(self):
        raise NiccError("unary minus is not supported: write 0 - x with an explicit type", user_loc())

    def __pow__(self, other):
        raise NiccError("'**' is not supported on NIC values: use nd.lut(...) or shifts", user_loc())

    def __bool__(self):
        _flow_error("if/while/and/or/not", "use nd.where(cond, a, b) to choose, or nd.drop_if(cond) to filter")

    def __iter__(self):
        _flow_error("iteration, an unbounded loop on the NIC", "use array.map(fn) to process each element "
                    "in a bounded loop")

    def __index__(self):
        _flow_error("used as a Python index or length", "use state[idx] / lookup tables instead")

    def __int__(self):
        _flow_error("int()", "the value exists only per packet")

    def __float__(self):
        raise NiccError("float() of a traced value: NICs have no floating point; use nd.lut(...)", user_loc())

    def __len__(self):
        _flow_error("len()", "use the count field of the record")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """numpy on a traced value: its operators are ours (``np.uint8(3) + v``); other functions
        (``np.sqrt``, ``np.log``...) cannot run per packet on a NIC."""
        op = _UFUNC_OPERATORS.get(ufunc.__name__)
        inputs = [x.item() if isinstance(x, (np.ndarray, np.generic)) and x.ndim == 0 else x for x in inputs]
        if op is not None and method == "__call__" and not kwargs and len(inputs) == 2:
            a, b = inputs
            return getattr(a, op)(b) if isinstance(a, Value) else getattr(b, _REFLECTED.get(op, "__r" + op[2:]))(a)
        if ufunc.__name__ == "invert" and method == "__call__" and not kwargs and len(inputs) == 1:
            return ~inputs[0]
        if ufunc.__name__ in HOST_FUNCS and method == "__call__" and not kwargs:
            return host_call(ufunc.__name__, *inputs)
        name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
        raise NiccError(f"numpy.{name} of a traced value: numpy runs at compile time, not per packet on the "
                        "NIC; precompute it over every input value with nd.lut(fn, domain=..., out=...), "
                        "or use the DSL's operators", user_loc())

    def map(self, fn):
        raise NiccError(f".map on a scalar value ({self.type}): map applies a function to each element of an "
                        "array (a record field declared with nd.array); on a scalar, call the function directly",
                        user_loc())

    def cast(self, t: Scalar, overflow: str | None = None) -> "Value":
        """Convert to type ``t``; narrowing wraps (``overflow='wrap'``) or clamps (``'sat'``)."""
        if not isinstance(t, Scalar):
            raise NiccError(f"cast target must be a scalar type such as nd.u16, got {t!r}", user_loc())
        return tracer().value(Op.CAST, (self,), {"overflow": overflow or tracer().overflow}, t)

    def add(self, other, overflow: str = "wrap"):
        return tracer().value(Op.ADD, (self, as_value(other, self)), {"overflow": overflow})

    def sub(self, other, overflow: str = "wrap"):
        return tracer().value(Op.SUB, (self, as_value(other, self)), {"overflow": overflow})

    def mul(self, other, overflow: str = "wrap"):
        return tracer().value(Op.MUL, (self, as_value(other, self)), {"overflow": overflow})

    def shr_round(self, n: int, mode: str = "half_up") -> "Value":
        """``self / 2**n`` rounded to an integer: ``half_up`` (ties toward +inf), ``half_even`` or ``floor``.

        Fixed point without a new op: shifts, masks and a select, no intermediate overflow.
        """
        return shr_round(self, n, mode)


class ArrayValue(Value):
    """A traced array; process it element-wise with :meth:`map`."""

    __slots__ = ()

    def astype(self, dtype) -> "ArrayValue":
        """Every element converted (``rec.dense.astype(np.float32)``)."""
        return self.map(lambda x: x.astype(dtype))

    def map(self, fn) -> "ArrayValue":
        """Apply ``fn`` to every element (see :func:`nicc.dsl.map`)."""
        return trace_map(fn, self)

    def __getitem__(self, i):
        """Element ``i`` (a traced or constant index; 0 past the array's count): windowed access."""
        from ..compiler.types import U16
        if isinstance(i, slice):
            _flow_error("array slicing", "use nd.range(n, max).map(lambda k: arr[k + start])")
        idx = i if isinstance(i, Value) else as_value(i, _Typed(U16))
        st = self.type.struct
        if not isinstance(self.type.elem, Struct):
            return tracer().value(Op.GATHER, (self, idx), {"field": "_"})
        return Element({f: tracer().value(Op.GATHER, (self, idx), {"field": f}) for f in st.names})

    @property
    def count(self) -> Value:
        """The number of elements (the count field of a payload array, the count of nd.range)."""
        n = self.node
        if n.op in (Op.ARRAY, Op.RANGE):
            return traced_value(n.args[0])
        if not self.type.dynamic:
            from ..compiler.types import U16
            return tracer().const(self.type.max, U16)
        raise NiccError(f"the length of a {n.op.value} array is not a value here", user_loc())


def _elementwise(name: str):
    """``array <op> x``: elementwise, as numpy does (an array of scalars, with a scalar or an array)."""
    def f(self, other):
        if not isinstance(self.type.elem, Scalar):
            raise NiccError(f"{name} of an array of structs: use .map(lambda e: ...) on its fields", user_loc())
        if isinstance(other, ArrayValue):
            return trace_map(lambda a, b: getattr(a, name)(b), self, other)
        return trace_map(lambda a: getattr(a, name)(other), self)
    f.__name__ = name
    return f


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__floordiv__", "__rfloordiv__", "__mod__", "__and__", "__rand__", "__or__", "__ror__", "__xor__",
              "__rxor__", "__lshift__", "__rshift__", "__lt__", "__le__", "__gt__", "__ge__"):
    setattr(ArrayValue, _name, _elementwise(_name))


class _Typed:
    def __init__(self, t):
        self.type = t


class Element:
    """A struct element inside a map body: ``px.r``, ``px.g``..."""

    def __init__(self, fields: dict[str, Value]):
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, name):
        fields = object.__getattribute__(self, "_fields")
        if name not in fields:
            raise NiccError(f"element has no field '{name}' (fields: {', '.join(fields)})", user_loc())
        return fields[name]


def trace_map(fn, *arrays: "ArrayValue") -> "ArrayValue":
    """Trace ``fn`` over the elements of ``arrays`` into a map node (``nd.map`` and ``array.map``).

    ``fn`` receives one element per array (a value, or an element with a field per struct
    member) and returns a value, a tuple, or a dict naming the result's fields.
    """
    tr = tracer()
    loc = user_loc()
    if len(tr.blocks) > 1:
        raise NiccError("nested map: a map body runs once per element and cannot loop again; process the "
                        "arrays side by side with nd.map(fn, a, b), one map after another", loc)
    if not arrays:
        raise NiccError("map needs at least one array", loc)
    for a in arrays:
        if not isinstance(a, ArrayValue):
            what = f"a scalar value ({a.type})" if isinstance(a, Value) else f"{type(a).__name__} {a!r}"
            raise NiccError(f"map applies to arrays (record fields declared with nd.array), got {what}", loc)
    types = [a.type for a in arrays]
    if any((t.max, t.dynamic) != (types[0].max, types[0].dynamic) for t in types):
        raise NiccError("map over arrays of different lengths", loc)
    with tr.block(types) as body:
        elems = []
        for i, t in enumerate(types):
            st = t.struct
            fields = {f: tr.value(Op.ELEM, (), {"input": i, "field": f}, ft, loc) for f, ft in st.fields}
            elems.append(fields["_"] if isinstance(t.elem, Scalar) else Element(fields))
        out = fn(*elems)
        if isinstance(out, dict):
            names, vals = tuple(out), list(out.values())
        elif isinstance(out, tuple):
            names, vals = tuple(f"f{i}" for i in range(len(out))), list(out)
        else:
            names, vals = ("_",), [out]
        vals = [as_value(v) for v in vals]
        tr.add(Op.YIELD, vals, {"names": names}, loc=loc)
    return traced_value(tr.add(Op.MAP, arrays, (), loc=loc, body=body))


MODES = ("half_up", "half_even", "floor")


def shr_round(x: Value, n: int, mode: str = "half_up") -> Value:
    """``x / 2**n`` rounded: ``half_up`` = floor(x/2^n + 1/2), ``half_even`` (ties to even), ``floor``."""
    if mode not in MODES:
        raise NiccError(f"rounding mode must be one of {', '.join(MODES)}, got {mode!r}", user_loc())
    t = x.type
    if not isinstance(t, Scalar) or not t.is_int:
        raise NiccError(f"shr_round needs an integer, got {t}", user_loc())
    if not isinstance(n, int) or not 0 <= n < t.bits:
        raise NiccError(f"shift must be 0..{t.bits - 1} for {t}, got {n!r}", user_loc())
    if n == 0:
        return x
    sh = lambda k: tracer().const(k, Scalar("u", t.bits))      # noqa: E731
    q = x >> sh(n)
    if mode == "floor":
        return q
    half_bit = (x >> sh(n - 1)) & as_value(1, x)                 # the bit worth 1/2
    if mode == "half_up":
        return q + half_bit
    rest = x & as_value((1 << (n - 1)) - 1, x)                   # the bits below 1/2
    tie = (rest == as_value(0, x)) & (half_bit == as_value(1, x))
    up = tracer().value(Op.SELECT, (tie, q & as_value(1, x), half_bit))
    return q + up

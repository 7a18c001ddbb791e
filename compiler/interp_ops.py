"""The reference interpreter's rules for pure ops: exact integer arithmetic on numpy arrays.

A scalar value is an array of its type's dtype, shape ``(B,)`` for a batch of packets
(``(B, 1)`` or ``(B, max)`` inside a map body); an array value (:class:`ArrVal`) holds
one ``(B, max)`` array per struct field and a count per packet. Every rule returns its
node's dtype.

Results are exact without Python integers: operands of up to 32 bits are computed in
64-bit integers (where no result overflows) and brought into the type by wrapping or
saturating; 64-bit operands use wrapping machine arithmetic plus overflow checks
(unsigned carry, two's-complement sign rules, magnitude bounds for products).

    >>> r_arith(w, add_node, np.array([250], np.uint8), np.array([10], np.uint8))  # doctest: +SKIP
    array([4], dtype=uint8)          # or [255] with overflow="sat"
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .errors import InternalError
from .hostfuncs import call
from .ir import Op
from .types import BOOL, Array, Scalar

# Verdict codes inside a batch (shared by the rule modules and the interpreter).
UNDECIDED, PASS, TRANSMIT, DROP, MULTICAST, MALFORMED = range(6)
HOST = 6                      # passed with the payload a host function made (host_if)
CODE = {"pass": PASS, "transmit": TRANSMIT, "drop": DROP, "multicast": MULTICAST}

U64 = np.uint64
U64_MAX = np.uint64(2**64 - 1)


@dataclass
class ArrVal:
    """An array value: one ``(B, max)`` array per struct field, and a count per packet."""
    fields: dict[str, np.ndarray]
    count: np.ndarray


_DTYPES: dict[Scalar, np.dtype] = {}


def dt(t: Scalar) -> np.dtype:
    """``t.dtype``, computed once per type (it is asked for at every node)."""
    d = _DTYPES.get(t)
    if d is None:
        d = _DTYPES[t] = t.dtype
    return d


def _udtype(t: Scalar) -> np.dtype:
    return np.dtype(f"u{t.nbytes}")


def _typed(t: Scalar, v) -> np.ndarray:
    v = np.asarray(v)
    return v if v.dtype == dt(t) else v.astype(dt(t))


# ---- bringing exact results into a type -------------------------------------------------

def _fit(t: Scalar, v: np.ndarray, overflow: str) -> np.ndarray:
    """``v`` (exact in its dtype, int64 or uint64) wrapped or saturated into ``t``."""
    if overflow == "sat":
        lo, hi = max(t.lo, _dmin(v.dtype)), min(t.hi, _dmax(v.dtype))
        v = np.minimum(np.maximum(v, v.dtype.type(lo)), v.dtype.type(hi))
    return v.astype(dt(t))


@functools.lru_cache(maxsize=None)
def _dmin(d: np.dtype) -> int:
    return int(np.iinfo(d).min) if d != np.bool_ else 0


@functools.lru_cache(maxsize=None)
def _dmax(d: np.dtype) -> int:
    return int(np.iinfo(d).max) if d != np.bool_ else 1


def _wide(t: Scalar, op: Op) -> np.dtype | None:
    """A dtype in which ``a op b`` is exact for operands of type ``t``, if there is one."""
    if t.bits <= 16 or (t.bits == 32 and op is not Op.MUL):
        return np.dtype(np.int64)
    if t.bits == 32:
        return np.dtype(np.int64 if t.signed else np.uint64)
    return None


def _neg_u64(x: np.ndarray) -> np.ndarray:
    """Two's-complement negation of uint64 values."""
    return ~x + U64(1)


def _sat64(op: Op, t: Scalar, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a op b`` saturated, for 64-bit operands (wrapping arithmetic plus overflow checks)."""
    if not t.signed:
        if op is Op.ADD:
            r = a + b
            return np.where(r < a, U64_MAX, r)
        if op is Op.SUB:
            return np.where(a < b, U64(0), a - b)
        ovf = (a != 0) & (b > U64_MAX // np.where(a == 0, U64(1), a))
        return np.where(ovf, U64_MAX, a * b)
    lo, hi = np.int64(t.lo), np.int64(t.hi)
    if op in (Op.ADD, Op.SUB):
        r = a + b if op is Op.ADD else a - b
        ovf = ((a ^ r) & ((b if op is Op.ADD else ~b) ^ r)) < 0
        return np.where(ovf, np.where(a < 0, lo, hi), r)
    ua, ub = a.view(U64), b.view(U64)
    ma = np.where(a < 0, _neg_u64(ua), ua)          # magnitudes, exact in uint64 (|INT64_MIN| = 2^63)
    mb = np.where(b < 0, _neg_u64(ub), ub)
    big = (ma != 0) & (mb > U64_MAX // np.where(ma == 0, U64(1), ma))
    m = ma * mb
    neg = (a < 0) != (b < 0)
    pos_ok = ~big & (m <= U64(2**63 - 1))
    neg_ok = ~big & (m <= U64(2**63))
    return np.where(neg, np.where(neg_ok, _neg_u64(m).view(np.int64), lo), np.where(pos_ok, m.view(np.int64), hi))


def _divmod(op: Op, t: Scalar, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C division (truncating toward zero), ``x / 0 == 0`` and ``x % 0 == x``, wrapped into ``t``."""
    zero = b == 0
    if not t.signed:
        safe = np.where(zero, b.dtype.type(1), b)
        return np.where(zero, 0, a // safe).astype(dt(t)) if op is Op.DIV else np.where(zero, a, a % safe)
    a, b = a.astype(np.int64), b.astype(np.int64)
    minus1 = b == -1                                 # INT64_MIN / -1 overflows in machine arithmetic
    safe = np.where(zero | minus1, np.int64(1), b)
    rem = np.fmod(a, safe)                           # C remainder: the sign of the dividend
    if op is Op.MOD:
        return np.where(zero, a, np.where(minus1, np.int64(0), rem)).astype(dt(t))
    q = (a - rem) // safe                            # exact division
    return np.where(zero, np.int64(0), np.where(minus1, np.int64(0) - a, q)).astype(dt(t))


def _shift(op: Op, t: Scalar, a: np.ndarray, s: np.ndarray) -> np.ndarray:
    big = s >= t.bits
    ud = _udtype(t)
    sh = np.where(big, 0, s).astype(ud)
    if op is Op.SHL:
        return np.where(big, ud.type(0), a.view(ud) << sh).view(dt(t))
    if t.signed:
        return np.where(big, np.where(a < 0, dt(t).type(-1), dt(t).type(0)), a >> sh.astype(dt(t)))
    return np.where(big, ud.type(0), a >> sh)


_BITWISE = {Op.AND: np.bitwise_and, Op.OR: np.bitwise_or, Op.XOR: np.bitwise_xor}
_EXACT = {Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply}


_FLOAT = {Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply, Op.DIV: np.true_divide}


def r_arith(w, n, a, b):
    t: Scalar = n.type
    op = n.op
    if t.kind == "f":                                # host float math: numpy's, in the type's precision
        d = dt(t)
        return _FLOAT[op](np.asarray(a, d), np.asarray(b, d), dtype=d)
    if op in _BITWISE:
        return _BITWISE[op](a, b) if t == BOOL else _typed(t, _BITWISE[op](a, b))
    if op in (Op.SHL, Op.SHR):
        return _shift(op, t, _typed(t, a), np.asarray(b))
    a, b = _typed(t, a), _typed(t, b)
    if op in (Op.DIV, Op.MOD):
        return _divmod(op, t, a, b)
    if op not in _EXACT:
        raise InternalError(f"no arithmetic rule for {op}")
    overflow = n.attr("overflow", "wrap")
    wide = _wide(t, op)
    if wide is not None:
        return _fit(t, _EXACT[op](a.astype(wide), b.astype(wide)), overflow)
    if overflow == "sat":
        return _sat64(op, t, a, b)
    return _EXACT[op](a, b)                          # 64-bit machine arithmetic wraps


def r_not(w, n, a):
    return ~a if n.type == BOOL else np.invert(_typed(n.type, a))


_CMP = {Op.EQ: np.equal, Op.NE: np.not_equal, Op.LT: np.less, Op.LE: np.less_equal,
        Op.GT: np.greater, Op.GE: np.greater_equal}


def r_compare(w, n, a, b):
    return _CMP[n.op](a, b)


def r_select(w, n, c, a, b):
    return _typed(n.type, np.where(c, a, b))


def r_cast(w, n, a):
    t: Scalar = n.type
    if t == BOOL:
        return a != 0
    if t.kind == "f":                                # to a float: numpy's conversion (round to nearest)
        return np.asarray(a).astype(dt(t))
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype(np.int64)
    if n.attr("overflow") == "sat":
        lo, hi = _dmin(a.dtype), _dmax(a.dtype)
        if t.lo > lo or t.hi < hi:                  # only clamp what the source range exceeds
            a = np.minimum(np.maximum(a, a.dtype.type(max(lo, t.lo))), a.dtype.type(min(hi, t.hi)))
    return _typed(t, a)


# ---- sources ----------------------------------------------------------------------------

def r_const(w, n):
    shape = (w.B, 1) if w.map_inputs else (w.B,)      # inside a map body: broadcast over elements
    t = n.type
    if t.kind == "f":                                # a float constant holds its IEEE bit pattern
        return np.full(shape, n.attr("value"), dtype=f"u{t.nbytes}").view(dt(t))
    return np.full(shape, n.attr("value"), dtype=dt(t))


def r_payload_len(w, n):
    return w.lengths.astype(np.uint16)


def r_timestamp(w, n):
    return w.timestamps.astype(np.uint64)


def read_int(cols: np.ndarray, t: Scalar, endian: str = "be") -> np.ndarray:
    """Integers of type ``t`` from byte columns ``cols[..., t.nbytes]`` (uint8) in ``endian`` order."""
    if t.nbytes == 1:
        return cols[..., 0].view(dt(t))
    raw = np.ascontiguousarray(cols).view(dt(t).newbyteorder(">" if endian == "be" else "<"))
    return raw[..., 0].astype(dt(t))


def r_field(w, n):
    t, off = n.type, n.attr("offset")
    w.need_bytes(off + t.nbytes, n)
    return read_int(w.data[:, off:off + t.nbytes], t, n.attr("endian"))


def r_array(w, n, count):
    t: Array = n.type
    st, esz = t.struct, t.struct.nbytes
    # the array holds min(count, max) elements; a negative count holds none
    count = np.asarray(count)
    cnt = np.where(count < 0, 0, np.minimum(count, t.max)).astype(np.int64)
    off = n.attr("offset")
    w.need_bytes(off + cnt * esz, n)
    seg = w.data[:, off:off + t.max * esz].reshape(w.B, t.max, esz)
    fields, foff = {}, 0
    for name, ft in st.fields:
        fields[name] = read_int(seg[:, :, foff:foff + ft.nbytes], ft)
        foff += ft.nbytes
    return ArrVal(fields, cnt)


# ---- tables and hashes ------------------------------------------------------------------

def r_lut(w, n, x):
    tab = w.pipeline.tables[n.attr("table")]
    x = np.asarray(x)
    if tab.index.lo:
        x = x.astype(np.int64) - tab.index.lo
    return tab.values.take(x, mode="wrap")          # indices are in range; "wrap" skips the bounds check


@functools.lru_cache(maxsize=64)
def _bucket_plan(bounds: tuple[int, ...], t: Scalar):
    """How to count boundaries ``<= x`` fast: a table over a small domain, bit lengths for
    consecutive powers of two, else a binary search."""
    arr = np.array(bounds, dtype=dt(t))
    if t.bits <= 16:
        dom = np.arange(t.lo, t.hi + 1, dtype=np.int64).astype(dt(t))
        return "table", np.searchsorted(arr, dom, side="right").astype(np.uint8)
    k0 = bounds[0].bit_length() - 1
    if bounds[0] > 0 and bounds == tuple(1 << k for k in range(k0, k0 + len(bounds))):
        return "pow2", (k0, len(bounds))
    return "search", arr


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Bit length of non-negative integers (exact: float64 holds 32-bit values exactly)."""
    if x.dtype.itemsize <= 4:
        return np.frexp(x.astype(np.float64))[1]
    x = x.astype(U64)
    hi = x >> U64(32)
    return np.where(hi != 0, 32 + np.frexp(hi.astype(np.float64))[1],
                    np.frexp((x & U64(0xFFFFFFFF)).astype(np.float64))[1])


def bucketize(bounds: tuple[int, ...], t: Scalar, x: np.ndarray) -> np.ndarray:
    """numpy ``searchsorted(bounds, x, side="right")`` as u8, exactly."""
    kind, plan = _bucket_plan(tuple(bounds), t)
    x = _typed(t, x)
    if kind == "table":
        return plan.take(x.astype(np.int64) - t.lo if t.lo else x, mode="wrap")
    if kind == "pow2":                               # 2^k <= x  <=>  k < bit_length(x)
        k0, m = plan
        bl = _bit_length(np.where(x < 0, 0, x) if t.signed else x)
        return np.clip(bl - k0, 0, m).astype(np.uint8)
    return np.searchsorted(plan, x.ravel(), side="right").reshape(x.shape).astype(np.uint8)


def r_bucketize(w, n, x):
    return bucketize(n.attr("boundaries"), n.args[0].type, x)


def _crc_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(0xEDB88320), t >> 1).astype(np.uint32)
    return t


CRC_TABLE = _crc_table()


def crc32_bytewise(x: np.ndarray, nbytes: int) -> np.ndarray:
    """zlib.crc32 of each value's ``nbytes`` big-endian bytes, one byte at a time."""
    x = x.astype(U64)
    crc = np.full(x.shape, 0xFFFFFFFF, dtype=np.uint32)
    for i in reversed(range(nbytes)):
        byte = ((x >> U64(8 * i)) & U64(0xFF)).astype(np.uint32)
        crc = CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


@functools.lru_cache(maxsize=None)
def _crc_chunk_tables(nbytes: int) -> tuple[np.ndarray, ...]:
    """Tables ``T[k]`` with ``crc32(x) = XOR_k T[k][16-bit chunk k of x]``.

    A CRC over a fixed length is affine in its input, so the chunks' contributions
    combine by XOR; ``T[0]`` carries the constant part (``crc32`` of zeros)."""
    width = min(nbytes, 2) * 8
    v = np.arange(1 << width, dtype=U64)
    zero = crc32_bytewise(np.zeros(1, U64), nbytes)[0]
    tabs = [crc32_bytewise(v << U64(width * k), nbytes) for k in range(max(1, nbytes // 2))]
    return tuple([tabs[0]] + [tb ^ zero for tb in tabs[1:]])


def crc32_be(x: np.ndarray, nbytes: int) -> np.ndarray:
    """Vectorized zlib.crc32 of each value's ``nbytes`` big-endian bytes."""
    tabs = _crc_chunk_tables(nbytes)
    x = np.asarray(x)
    if nbytes <= 2:
        return tabs[0][x.astype(np.uint16 if nbytes == 2 else np.uint8)]
    x = x.astype(np.dtype(f"u{nbytes}"))
    chunks = x.view(np.uint16).reshape(x.shape + (nbytes // 2,))   # little-endian host: chunk k is bits 16k..
    if np.little_endian is False:                                    # pragma: no cover
        chunks = chunks[..., ::-1]
    out = tabs[0][chunks[..., 0]]
    for k in range(1, len(tabs)):
        out ^= tabs[k][chunks[..., k]]
    return out


def r_crc32(w, n, x):
    return crc32_be(x, n.args[0].type.nbytes)


# ---- map bodies -------------------------------------------------------------------------

def r_map(w, n, *arrays: ArrVal):
    saved = dict(w.env)
    for k, v in saved.items():          # outer scalars broadcast over elements
        if isinstance(v, np.ndarray) and v.ndim == 1:
            w.env[k] = v[:, None]
    w.map_inputs.append((n, list(arrays)))
    try:
        w.run_block(n.body)
        y = n.body.nodes[-1]
        shape = arrays[0].count.shape + (n.type.max,)
        outs = {name: np.broadcast_to(w.env[a], shape) if np.ndim(w.env[a]) < 2 or w.env[a].shape != shape
                else w.env[a] for name, a in zip(y.attr("names"), y.args)}
    finally:
        w.map_inputs.pop()
        body_ids = {id(b) for b in n.body.walk()}
        w.env = {k: v for k, v in saved.items() if id(k) not in body_ids}
    return ArrVal(outs, arrays[0].count)


def r_elem(w, n):
    _, arrays = w.map_inputs[-1]
    return arrays[n.attr("input")].fields[n.attr("field")]


def r_yield(w, n, *vals):
    return None


def r_call(w, n, *args):
    return call(n.attr("fn"), *args, dtype=dt(n.type))


PURE_RULES = {
    Op.CONST: r_const, Op.PAYLOAD_LEN: r_payload_len, Op.TIMESTAMP: r_timestamp, Op.FIELD: r_field,
    Op.ARRAY: r_array, **{op: r_arith for op in (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MOD, Op.AND, Op.OR, Op.XOR,
                                                    Op.SHL, Op.SHR)},
    Op.NOT: r_not, **{op: r_compare for op in _CMP}, Op.SELECT: r_select, Op.CAST: r_cast, Op.LUT: r_lut,
    Op.BUCKETIZE: r_bucketize, Op.CRC32: r_crc32, Op.MAP: r_map, Op.ELEM: r_elem, Op.YIELD: r_yield,
    Op.CALL: r_call,
}

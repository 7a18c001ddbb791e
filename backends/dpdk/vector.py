"""Maps as AVX-512 vectors, 16 or 32 elements a step (``schedule=vector`` on DPDK).

A map whose body is unsigned integer arithmetic, compares, selects, casts and reads of array
elements (E4's horizontal and vertical passes; :func:`nicc.backends.vectorize.vector_map_reason`
decides) runs in a function of its own, compiled with ``target("avx512f,avx512bw,avx512vl,
avx512vbmi")``: every value of the body is a vector of 16 u32 lanes, one element each, holding the
value zero-extended (a ``bool`` is a lane mask); where every value fits 16 bits, 32 u16 lanes
(``lane_bits``; payload arrays are then read from byte planes, :mod:`nicc.backends.dpdk.planes`).
Each op has a rule (the ``r_*`` methods) that
keeps the IR's meaning exactly: wrapping results are masked to their width, saturating ones clamped,
shifts by the width or more give 0 (``vpsllvd``/``vpsrlvd`` give 0 from 32; below, the mask clears
what left the width).

Reads:

* a payload array (``io``), in 32-bit lanes: per element and index, the big-endian dword that
  ends at the last field
  read (the bytes before it lie in the payload or the headers, never past the element); a lane whose
  index is past the count reads 0, as ``gather`` says. The first read of an array in a step loads a
  256-byte window of the payload from lane 0's dword (bytes past the array's end masked off: masked
  bytes never fault; a quarter with no byte to read points at the payload's start instead: on AMD
  a masked load past the buffer costs a microcode assist even fully masked); a read whose lanes all lie in the
  window is two ``vpermi2b`` byte permutes of
  it (a resize's source pixels: 16 output columns span under 256 bytes), any other a hardware
  gather. The fields are then shifts and masks of the dword;
* a table (``rom``), a stream record's array or an earlier map's results: only at ``i`` or
  ``base + i`` with ``base`` the same for every element, read as masked contiguous loads; where the
  value ranges do not show that ``base + count`` stays within the index's width, the call checks it
  and the scalar loop runs otherwise.

The results are stored into the map's C arrays with masked narrowing stores. The call is taken
when the CPU has AVX-512 F/BW/VL/VBMI (asked once; ``NICC_SIMD=scalar`` turns it off), else the
scalar loop runs: both are in the generated code and give the same bytes (the tests run both).

    k = VectorMap(renderer, n, arrays, per_elem, outs, "resize_vmap")
    code, call, guards = k.render(count)   # the function, its call, the conditions it needs
"""
from __future__ import annotations

from ...compiler.errors import InternalError
from ...compiler.ir import COMPARE, Node, Op
from ...compiler.types import BOOL, Scalar
from ..c.values import LocalArray, PacketArray, RangeArray, RomArray, StreamArray, field_offset
from ..vectorize import BINARY, contiguous, lane_bits
from . import simd
from .planes import Planes

IOTA = {32: "_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)",
        16: "_mm512_cvtepu8_epi16(_mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, "
            "19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31))"}
CMPINT = {Op.EQ: "_MM_CMPINT_EQ", Op.NE: "_MM_CMPINT_NE", Op.LT: "_MM_CMPINT_LT", Op.LE: "_MM_CMPINT_LE",
          Op.GT: "_MM_CMPINT_NLE", Op.GE: "_MM_CMPINT_NLT"}


class VectorMap:
    """The vector function of one map and its call (see the module docstring)."""

    def __init__(self, r, m: Node, arrays: list, per_elem: list[Node], outs: dict[str, str], fn: str):
        self.r, self.m, self.arrays, self.per_elem, self.outs, self.fn = r, m, arrays, per_elem, outs, fn
        self.per = {id(b) for b in per_elem}
        self.params: list[tuple[str, str]] = []         # (C declaration, argument)
        self.args_of: dict[object, str] = {}            # captured thing -> parameter name
        self.hoisted: list[str] = []                    # lines before the loop
        self.lines: list[str] = []                      # the loop body
        self.vals: dict[int, str] = {}
        self.guards: list[str] = []
        self.gathered: dict[tuple, str] = {}            # (array, index, mask, last) -> dword vector
        self.broadcast: set[str] = set()
        self.windows: dict[int, str] = {}               # payload array -> its window in this step
        self.count = ""
        self.W = lane_bits(m, self.per)                 # bits a lane: 16 where every value fits, else 32
        self.L = 512 // self.W                          # lanes a step
        self.e, self.u = f"epi{self.W}", f"epu{self.W}"
        self.K = f"__mmask{self.L}"                     # a lane mask
        self.planes = Planes(self)                      # 16-bit lanes read the payload from byte planes

    def splat(self, v) -> str:
        return f"_mm512_set1_{self.e}(({'short' if self.W == 16 else 'int'})({v}))"

    def mask(self, bits: int) -> str:
        return self.splat(f"{(1 << bits) - 1}U")

    # -- parameters ---------------------------------------------------------------------------------
    def param(self, key, decl: str, arg: str) -> str:
        if key not in self.args_of:
            name = f"a{len(self.params)}"
            self.params.append((decl.format(name=name), arg))
            self.args_of[key] = name
        return self.args_of[key]

    def scalar_param(self, n: Node) -> str:
        """A value that is the same for every element, passed in (a constant: written in)."""
        if n.op is Op.CONST:
            return f"{int(n.attr('value'))}U"
        return self.param(("scalar", id(n)), "uint32_t {name}", f"(uint32_t)({self.r.env[n]})")

    def scalar(self, n: Node) -> str:
        """... broadcast once, before the loop."""
        p = self.scalar_param(n)
        if p not in self.broadcast:
            self.broadcast.add(p)
            if n.type == BOOL:
                self.hoisted.append(f"const {self.K} b{p} = {p} ? ({self.K})~0U : 0;")
            else:
                self.hoisted.append(f"const __m512i v{p} = {self.splat(p)};")
        return f"b{p}" if n.type == BOOL else f"v{p}"

    def val(self, n: Node) -> str:
        return self.vals[id(n)] if id(n) in self.per else self.scalar(n)

    def define(self, n: Node, expr: str) -> str:
        name = f"{'k' if n.type == BOOL else 'v'}{len(self.vals)}"
        self.lines.append(f"const {self.K if n.type == BOOL else '__m512i'} {name} = {expr};")
        self.vals[id(n)] = name
        return name

    # -- reads --------------------------------------------------------------------------------------
    def packet_dword(self, arr: PacketArray, idx: str, mask: str, last: int) -> str:
        """The big-endian dword ending at byte ``last`` of each lane's element ``idx``, 0 in lanes off ``mask``.
        The first read of an array in a step loads a 256-byte window of the payload from lane 0's dword
        (masked below the array's end); a read whose lanes all fall in it is two byte permutes, any
        other a hardware gather (``nicc_window_dword``)."""
        key = (id(arr), idx, mask, last)
        if key not in self.gathered:
            io = self.param("io", "const uint8_t *{name}", "io")
            esz = arr.struct.nbytes
            k = len(self.gathered)
            at = f"_mm512_mullo_epi32({idx}, _mm512_set1_epi32({esz}))" if esz > 1 else idx
            # byte offsets from io - 4 (in the headers), so that the dword before the first payload byte is >= 0
            self.lines.append(f"const __m512i at{k} = _mm512_add_epi32({at}, _mm512_set1_epi32({arr.offset + last + 1}));")
            win = self.windows.get(id(arr))
            if win is None:
                cnt = self.count_of(arr)
                win = self.windows[id(arr)] = f"w{k}"
                self.lines.append(f"const uint32_t {win}b = (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(at{k}));")
                self.lines.append(f"const uint32_t {win}n = {cnt} * {esz}U + {4 + arr.offset}U > {win}b ? "
                                  f"{cnt} * {esz}U + {4 + arr.offset}U - {win}b : 0;")
                for q in range(4):      # a quarter with no byte to read points at io: on AMD a masked load
                    # past the buffer costs a microcode assist even when every byte is masked off
                    self.lines.append(f"const uint64_t {win}m{q} = nicc_mask64({win}n, {64 * q});")
                    self.lines.append(f"const __m512i {win}_{q} = _mm512_maskz_loadu_epi8({win}m{q}, {win}m{q} ? "
                                      f"{io} - 4 + {win}b + {64 * q} : {io});")
            name = f"d{k}"
            ws = ", ".join(f"{win}_{q}" for q in range(4))
            self.lines.append(f"const __m512i {name} = nicc_window_dword({ws}, {win}b, {io} - 4, at{k}, {mask});")
            self.gathered[key] = name
        return self.gathered[key]

    def packet_field(self, arr: PacketArray, fname: str, idx: str, mask: str, fields: set[str]) -> str:
        """Field ``fname`` of element ``idx``: one gather serves every field read at this index if they lie
        within 4 bytes of each other (maps that read the payload have 32-bit lanes)."""
        spans = {f: (field_offset(arr.struct, f), field_offset(arr.struct, f) + arr.struct.field(f).nbytes - 1)
                 for f in fields}
        lo, hi = min(s[0] for s in spans.values()), max(s[1] for s in spans.values())
        last = hi if hi - lo < 4 else spans[fname][1]
        f0, f1 = spans[fname]
        shift, nb = 8 * (last - f1), f1 - f0 + 1

        d = self.packet_dword(arr, idx, mask, last)
        v = f"_mm512_srli_epi32({d}, {shift})" if shift else d
        return f"_mm512_and_si512({v}, _mm512_set1_epi32((int){(1 << 8 * nb) - 1}U))" if nb < 4 else v

    def contiguous_load(self, arr, fname: str, base: str, mask: str, t: Scalar) -> str:
        """Elements base + i0 .. base + i0 + 15 of a C array (masked lanes read nothing)."""
        if isinstance(arr, RomArray):
            ptr = self.r.rom_ref(arr.table)
        elif isinstance(arr, StreamArray):
            if not arr.reader:
                raise InternalError("a vector map reads a stream array without a reader")
            member = arr.member(arr.reader, fname, "0")
            ptr = self.param(("member", member), f"const {self.r.ty(t)} *{{name}}", f"&{member}")
        elif isinstance(arr, LocalArray):
            ptr = self.param(("local", arr.fields[fname]), f"const {self.r.ty(t)} *{{name}}", arr.fields[fname])
        else:
            raise InternalError(f"a vector map reads a {type(arr).__name__} contiguously")
        at = f"{ptr} + {base}"
        nb = t.nbytes
        if self.W == 16:
            if nb == 1:
                return f"_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8({mask}, {at}))"
            return f"_mm512_maskz_loadu_epi16({mask}, {at})"
        if nb == 1:
            return f"_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8({mask}, {at}))"
        if nb == 2:
            return f"_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16({mask}, {at}))"
        return f"_mm512_maskz_loadu_epi32({mask}, {at})"

    def count_of(self, arr) -> str:
        if isinstance(arr, RomArray):
            return str(len(self.r.pipeline.tables[arr.table].values))
        if isinstance(arr, StreamArray):
            return str(arr.max)
        return self.param(("count", id(arr)), "uint32_t {name}", f"(uint32_t)({arr.count})")

    def r_elem(self, n: Node) -> str:
        arr = self.arrays[n.attr("input")]
        f = n.attr("field")
        if isinstance(arr, RangeArray):
            return "vi"
        if isinstance(arr, PacketArray):
            if arr.bounded:
                raise Fallback("a payload array that may reach past the payload end")
            fields = {b.attr("field") for b in self.per_elem if b.op is Op.ELEM and b.attr("input") == n.attr("input")}
            return self.packet_field(arr, f, "vi", "lm", fields)
        return self.contiguous_load(arr, f, "i0", "lm", arr.struct.field(f))

    def r_gather(self, n: Node) -> str:
        arr = self.r.env[n.args[0]]
        f = n.attr("field")
        idx = n.args[1]
        if isinstance(arr, PacketArray):
            if arr.bounded:
                raise Fallback("a payload array that may reach past the payload end")
            iv = self.val(idx)
            if self.W == 16:                    # vectorize.planar: 1-4 one-byte fields
                return self.planes.read(arr, n.args[0], f, idx, iv)
            cnt = self.count_of(arr)
            key = ("inrange", iv, cnt)
            if key not in self.gathered:
                name = f"g{len(self.gathered)}"
                self.lines.append(f"const {self.K} {name} = _mm512_mask_cmplt_{self.u}_mask(lm, {iv}, "
                                  f"{self.splat(cnt)});")
                self.gathered[key] = name
            fields = {b.attr("field") for b in self.per_elem if b.op is Op.GATHER and b.args[0] is n.args[0]
                      and b.args[1] is idx}
            return self.packet_field(arr, f, iv, self.gathered[key], fields)
        base = contiguous(idx, self.m, self.per)
        if base is None:
            raise InternalError("a vector gather at an index other than i or base + i")
        size = self.count_of(arr)
        if base is True:
            b = "i0"
        else:
            b = f"(i0 + {self.scalar_param(base)})"
            _, hi = self.r.ranges.of(base)
            guard = f"(uint64_t)({self.r.env[base]}) + ({self.count}) <= {1 << idx.type.bits}ULL"
            if hi + self.m.type.max > 1 << idx.type.bits and guard not in self.guards:
                self.guards.append(guard)       # base + i might wrap: the scalar loop then
        iv = self.val(idx)
        ok = "lm" if size.isdigit() and (self.r.ranges.below(idx, int(size)) or int(size) >= 1 << self.W) else \
            f"_mm512_mask_cmplt_{self.u}_mask(lm, {iv}, {self.splat(size)})"
        return self.contiguous_load(arr, f, b, ok, n.type)

    # -- arithmetic ---------------------------------------------------------------------------------
    def r_binary(self, n: Node, a: str, b: str) -> str:
        t: Scalar = n.type
        op, sat = n.op, n.attr("overflow") == "sat"
        e, u = self.e, self.u
        if t == BOOL:
            sym = {Op.AND: "&", Op.OR: "|", Op.XOR: "^"}.get(op)
            if sym is None:
                raise InternalError(f"a vector {op.value} of bools")
            return f"({self.K})({a} {sym} {b})"
        full = t.bits == self.W
        if op is Op.ADD and self.r.ranges.fits(n):
            r = self.rounding_shift(n)
            if r is not None:
                return r
        if op in (Op.ADD, Op.SUB, Op.MUL) and self.r.ranges.fits(n):
            # the value ranges show the exact result fits the type: no wrap, no saturation to render
            return f"_mm512_{'mullo' if op is Op.MUL else op.value}_{e}({a}, {b})"
        if op is Op.ADD:
            x = f"_mm512_add_{e}({a}, {b})"
            if sat:
                if full and self.W == 16:
                    return f"_mm512_adds_epu16({a}, {b})"
                if full:
                    return f"_mm512_mask_mov_epi32({x}, _mm512_cmplt_epu32_mask({x}, {a}), _mm512_set1_epi32(-1))"
                return f"_mm512_min_{u}({x}, {self.mask(t.bits)})"
        elif op is Op.SUB:
            if sat:
                if self.W == 16:
                    return f"_mm512_subs_epu16({a}, {b})"
                return f"_mm512_maskz_sub_epi32(_mm512_cmpge_epu32_mask({a}, {b}), {a}, {b})"
            x = f"_mm512_sub_{e}({a}, {b})"
        elif op is Op.MUL:
            x = f"_mm512_mullo_{e}({a}, {b})"
            if sat:
                if full:                    # 16 x 16 bits: saturated where the high half is not 0
                    return (f"_mm512_mask_mov_epi16({x}, _mm512_test_epi16_mask(_mm512_mulhi_epu16({a}, {b}), "
                            f"_mm512_mulhi_epu16({a}, {b})), _mm512_set1_epi16(-1))")
                return f"_mm512_min_{u}({x}, {self.mask(t.bits)})"
        elif op in (Op.AND, Op.OR, Op.XOR):
            return f"_mm512_{op.value}_si512({a}, {b})"
        elif op is Op.SHL:
            x = f"_mm512_sllv_{e}({a}, {b})"
        elif op is Op.SHR:
            return f"_mm512_srlv_{e}({a}, {b})"
        else:
            raise InternalError(f"no vector rule for {op.value}")
        return x if full else f"_mm512_and_si512({x}, {self.mask(t.bits)})"

    def rounding_shift(self, n: Node) -> str | None:
        """``(x >> k) + ((x >> (k - 1)) & 1)`` (a fixed-point value rounded half up: E4's vertical pass) as
        ``(x + 2^(k-1)) >> k``, equal for every x, where the value ranges show the add cannot wrap."""
        def const(v: Node) -> int | None:
            return int(v.attr("value")) if v.op is Op.CONST else None

        for hi, lo in (n.args, n.args[::-1]):
            if hi.op is not Op.SHR or lo.op is not Op.AND or lo.args[0].op is not Op.SHR:
                continue
            x, k = hi.args[0], const(hi.args[1])
            low = lo.args[0]
            if low.args[0] is not x or k is None or not 1 <= k < self.W or const(low.args[1]) != k - 1 or \
                    const(lo.args[1]) != 1:
                continue
            if not isinstance(x.type, Scalar) or self.r.ranges.of(x)[1] + (1 << (k - 1)) >= 1 << x.type.bits:
                continue
            return (f"_mm512_srli_{self.e}(_mm512_add_{self.e}({self.val(x)}, {self.splat(f'{1 << (k - 1)}U')}), "
                    f"{k})")
        return None

    def r_compare(self, n: Node, a: str, b: str) -> str:
        if n.args[0].type == BOOL:
            if n.op not in (Op.EQ, Op.NE):
                raise InternalError(f"a vector {n.op.value} of bools")
            return f"({self.K})({'~' if n.op is Op.EQ else ''}({a} ^ {b}))"
        return f"_mm512_cmp_{self.u}_mask({a}, {b}, {CMPINT[n.op]})"

    def r_not(self, n: Node, a: str) -> str:
        if n.type == BOOL:
            return f"({self.K})~{a}"
        return f"_mm512_xor_si512({a}, {self.mask(n.type.bits)})"

    def r_select(self, n: Node, c: str, a: str, b: str) -> str:
        if n.type == BOOL:
            return f"({self.K})(({c} & {a}) | (~{c} & {b}))"
        return f"_mm512_mask_blend_{self.e}({c}, {b}, {a})"

    def r_cast(self, n: Node, a: str) -> str:
        t: Scalar = n.type
        src: Scalar = n.args[0].type
        if t == BOOL:
            return a if src == BOOL else f"_mm512_test_{self.e}_mask({a}, {a})"
        if src == BOOL:
            return f"_mm512_maskz_mov_{self.e}({a}, {self.splat(1)})"
        if t.bits >= src.bits or self.r.ranges.of(n.args[0])[1] <= t.hi:
            return a
        if n.attr("overflow") == "sat":
            return f"_mm512_min_{self.u}({a}, {self.mask(t.bits)})"
        return f"_mm512_and_si512({a}, {self.mask(t.bits)})"

    def node(self, n: Node) -> None:
        if n.op in (Op.ELEM, Op.GATHER):
            x = self.r_elem(n) if n.op is Op.ELEM else self.r_gather(n)
            self.define(n, f"_mm512_test_{self.e}_mask({x}, {x})" if n.type == BOOL else x)
        elif n.op is Op.CONST:
            self.vals[id(n)] = self.scalar(n)
        elif n.op in BINARY:
            self.define(n, self.r_binary(n, *map(self.val, n.args)))
        elif n.op in COMPARE:
            self.define(n, self.r_compare(n, *map(self.val, n.args)))
        elif n.op is Op.NOT:
            self.define(n, self.r_not(n, self.val(n.args[0])))
        elif n.op is Op.SELECT:
            self.define(n, self.r_select(n, *map(self.val, n.args)))
        elif n.op is Op.CAST:
            self.define(n, self.r_cast(n, self.val(n.args[0])))
        else:
            raise InternalError(f"no vector rule for {n.op.value}")

    def store(self) -> None:
        y = self.m.body.nodes[-1]
        for name, v in zip(y.attr("names"), y.args):
            t: Scalar = v.type
            p = self.param(("out", name), f"{self.r.ty(t)} *{{name}}", self.outs[name])
            x = self.val(v)
            if t == BOOL:
                x = f"_mm512_maskz_mov_{self.e}({x}, {self.splat(1)})"
            nb = 1 if t == BOOL else t.nbytes
            # narrowed in a register, then a masked store (AMD runs vpmov* to memory as microcode)
            how = {(32, 1): ("_mm_mask_storeu_epi8", "_mm512_cvtepi32_epi8({})"),
                   (32, 2): ("_mm256_mask_storeu_epi16", "_mm512_cvtepi32_epi16({})"),
                   (32, 4): ("_mm512_mask_storeu_epi32", "{}"),
                   (16, 1): ("_mm256_mask_storeu_epi8", "_mm512_cvtepi16_epi8({})"),
                   (16, 2): ("_mm512_mask_storeu_epi16", "{}")}
            st, conv = how[(self.W, nb)]
            self.lines.append(f"{st}({p} + i0, lm, {conv.format(x)});")

    def render(self, count: str) -> tuple[str, str, list[str]]:
        """(the C function, its call, the conditions under which the call may replace the scalar loop)."""
        self.count = count
        for b in self.per_elem:
            self.node(b)
        self.store()
        params = ", ".join(["uint32_t n"] + [d for d, _ in self.params])
        body = "\n".join(f"        {x}" for x in self.lines)
        pre = "\n".join(f"    {x}" for x in self.hoisted)
        code = (f"#if NICC_X86\n{''.join(self.planes.consts)}__attribute__((target(\"{simd.VECTOR_TARGET}\")))\n"
                f"static void {self.fn}({params})\n{{\n"
                f"    const __m512i iota = {IOTA[self.W]};\n"
                f"{pre}\n"
                f"    for (uint32_t i0 = 0; i0 < n; i0 += {self.L}) {{\n"
                f"        const {self.K} lm = n - i0 >= {self.L} ? ({self.K})~0U : ({self.K})((1U << (n - i0)) - 1);\n"
                f"        const __m512i vi = _mm512_add_{self.e}({self.splat('i0')}, iota);\n"
                "        (void)vi;\n"
                f"{body}\n    }}\n}}\n#else\n"
                f"static void {self.fn}({params})\n{{\n    (void)n;\n    __builtin_unreachable();     "
                "/* nicc_simd_vbmi() is 0 off x86 */\n}\n#endif\n")
        call = f"{self.fn}({', '.join([f'(uint32_t)({count})'] + [a for _, a in self.params])});"
        return code, call, self.guards


class Fallback(Exception):
    """What the renderer found that the IR did not say (a payload array read byte by byte): scalar loop."""


def interleave(k: int, fn: str) -> str:
    """``fn(out, p0, .., p<k-1>, n)``: ``n`` elements of ``k`` one-byte planes written interleaved (element e's
    byte j at ``out[e*k + j]``), 64 elements a step: per output vector, a ``vpermt2b`` per pair of planes with
    index vectors computed here (:func:`nicc.backends.dpdk.simd.output_indices`), blended; the last step
    masked (nothing is written past ``out + n*k``)."""
    kern = simd.Kernel(fn, k, k, ())
    consts, lines = [], []
    params = ", ".join(["uint8_t *out"] + [f"const uint8_t *p{j}" for j in range(k)] + ["uint32_t n"])
    planes = k + (k % 2)
    for m, pairs in enumerate(simd.output_indices(kern)):
        for j, (idx, mask) in enumerate(pairs):
            vals = ", ".join(str(x) for x in idx)
            consts.append(f"static const uint8_t {fn}_{m}_{j}[64] __attribute__((aligned(64))) = {{{vals}}};")
            perm = f"_mm512_permutex2var_epi8(q{2 * j}, _mm512_load_si512({fn}_{m}_{j}), q{2 * j + 1})"
            lines.append(f"        __m512i y{m} = {perm};" if j == 0 else
                         f"        y{m} = _mm512_mask_blend_epi8(0x{mask:016x}ULL, y{m}, {perm});")
        lines.append(f"        _mm512_mask_storeu_epi8(o + {64 * m}, nicc_mask64(bytes, {64 * m}), y{m});")
    loads = [f"        const __m512i q{j} = _mm512_maskz_loadu_epi8(m, p{j} + i);" for j in range(k)]
    if planes > k:
        loads.append(f"        const __m512i q{k} = _mm512_setzero_si512();")
    return ("#if NICC_X86\n" + "\n".join(consts) + f"\n\n__attribute__((target(\"{simd.TARGET}\")))\n"
            f"static void {fn}({params})\n{{\n"
            f"    for (uint32_t i = 0; i < n; i += {simd.BLOCK}) {{\n"
            "        const __mmask64 m = nicc_mask64(n, i);\n"
            f"        const uint32_t bytes = (n - i < {simd.BLOCK} ? n - i : {simd.BLOCK}) * {k}U;\n"
            f"        uint8_t *o = out + (size_t)i * {k}U;\n\n" + "\n".join(loads) + "\n" + "\n".join(lines) +
            f"\n    }}\n}}\n#else\nstatic void {fn}({params})\n{{\n    (void)out;\n    (void)n;\n"
            "    __builtin_unreachable();     /* nicc_simd_vbmi() is 0 off x86 */\n}\n#endif\n")

"""Payload arrays of one-byte fields read as byte planes by the 16-bit vector maps.

A map with 32 u16 lanes a step (every value fits 16 bits: E4's horizontal pass) that gathers
fields of a payload array whose elements are 1 to 4 one-byte fields (RGB pixels) reads them from
planes, not from the interleaved bytes: each step loads the array's 128 elements from lane 0's
index (the window; ``2F`` vectors for ``F``-byte elements) and splits them in registers into one
128-byte plane per field read (plane j holds field j of the window's elements), 64 elements a
vector with the byte permutes of :func:`nicc.backends.dpdk.simd.gather_indices`. Each read of a
plane is then one ``vpermi2b`` (it reaches 128 bytes), zero-extended into the lanes by a zero mask
on the odd bytes. Nothing goes through memory: the planes live in registers for one step.

Two reads of one field at indices ``i`` and ``i + 1`` (E4's two neighbouring pixels) are one
permute: the byte pair ``(i, i + 1)`` in each u16 lane, then the low byte for ``i`` and the high byte
for ``i + 1`` (when ``i + 1`` is a wrapping u16 add and no index in a window can be 65535, whose
``i + 1`` wraps to 0).

A read whose lanes do not all lie in the window (indices that go backwards or spread over more than
128 elements in 32 lanes; for a pair, 127) is read lane by lane from the payload
(``nicc_field_bytes16``, cold). An element past the count reads 0, as ``gather`` says, with no mask
per read: the window's loads are masked at the array's last byte, and a window starts at most at the
count (lane 0's index past it: at 0, so that the lanes fall outside and take the lane-by-lane read).

    p = Planes(vector_map)
    p.read(arr, arr_node, "g", idx, "v12")     # field g at index node idx (vector v12) in the step's lanes
"""
from __future__ import annotations

from ...compiler.ir import Node, Op
from ..c.values import PacketArray, field_offset
from . import simd

WINDOW = 128                        # bytes one vpermi2b reaches

HELPER = f"""/* Bytes f and f + stride of elements idx of a payload array (p: its field's first byte) in the low and
 * high byte of each u16 lane of m (pair) or the low byte alone, 0 elsewhere and past count, lane by lane:
 * the 16-bit vector maps' read where the lanes do not all lie in the step's window. */
__attribute__((target("{simd.VECTOR_TARGET}"), noinline, cold))
static __m512i nicc_field_bytes16(const uint8_t *p, uint32_t stride, __m512i idx, __mmask32 m, uint32_t count,
                                  int pair)
{{
    uint16_t at[32], out[32];

    _mm512_storeu_si512(at, idx);
    for (int l = 0; l < 32; l++) {{
        uint32_t i = at[l], j = (uint16_t)(i + 1);     /* i + 1 wraps as the IR's u16 add does */

        out[l] = !(m >> l & 1) ? 0 : (uint16_t)((i < count ? p[i * stride] : 0) |
                                                (pair && j < count ? p[j * stride] : 0) << 8);
    }}
    return _mm512_loadu_si512(out);
}}
"""


def next_index(j: Node) -> Node | None:
    """``i`` when ``j`` is ``i + 1``: a wrapping 16-bit add of the constant 1 (so that ``nicc_field_bytes16``
    reads the same element), else None."""
    if j.op is not Op.ADD or j.type.bits != 16 or j.attr("overflow") != "wrap":
        return None
    a, b = j.args
    for x, y in ((a, b), (b, a)):
        if y.op is Op.CONST and int(y.attr("value")) == 1:
            return x
    return None


class Planes:
    """The planes of one vector map (see the module docstring)."""

    def __init__(self, vm):
        self.vm = vm
        self.names: dict[int, str] = {}                         # array -> its C prefix
        self.window: dict[int, str] = {}                        # array -> its window start in this step
        self.planes: dict[tuple[int, str], tuple[str, str]] = {}   # (array, field) -> its two plane vectors
        self.rel: dict[tuple, tuple[str, str]] = {}             # (array, index, span) -> (offsets, all inside)
        self.pairs: dict[tuple, str] = {}                       # (array, field, index i) -> bytes (i, i + 1)
        self.consts: list[str] = []
        self.declared: set[str] = set()

    # -- the window of a step -------------------------------------------------------------------------
    def _window(self, arr: PacketArray, iv: str) -> str:
        """Lane 0's index (0 past the count) and the window's ``2F`` vectors from it: once per step."""
        vm = self.vm
        if id(arr) not in self.window:
            name = self.names.setdefault(id(arr), f"pl{len(self.names)}")
            F, cnt = arr.struct.nbytes, vm.count_of(arr)
            io = vm.param("io", "const uint8_t *{name}", "io")
            wb = self.window[id(arr)] = f"{name}b"
            n = 2 * F
            vm.lines += [
                f"const uint32_t {wb}0 = (uint16_t)_mm_cvtsi128_si32(_mm512_castsi512_si128({iv}));",
                f"const uint32_t {wb} = {wb}0 <= {cnt} ? {wb}0 : 0;    /* the window's start */",
                f"const uint8_t *{name}s = {io} + {arr.offset} + (size_t){wb} * {F}U;",
                f"const uint32_t {name}n = ({cnt} - {wb}) * {F}U;    /* the array's bytes from there */",
                f"__m512i {', '.join(f'{name}q{v}' for v in range(n))};",
                f"if ({name}n >= {64 * n}U) {{",
                *[f"    {name}q{v} = _mm512_loadu_si512({name}s + {64 * v});" for v in range(n)],
                "} else {               /* the last window: the bytes past the array read 0 */",
                *[f"    {name}q{v} = _mm512_maskz_loadu_epi8(nicc_mask64({name}n, {64 * v}), {name}n > {64 * v} ? "
                  f"{name}s + {64 * v} : {name}s);" for v in range(n)],
                "}"]
        return self.window[id(arr)]

    def _split(self, arr: PacketArray, fname: str, q: list[str]) -> str:
        """Field ``fname`` of the 64 elements in vectors ``q`` (``F`` of them), one byte each."""
        name, F = self.names[id(arr)], arr.struct.nbytes
        if F == 1:
            return q[0]
        first, second, mask = simd.gather_indices(simd.Kernel(f"{self.vm.fn}_{name}", F, F, ()),
                                                  field_offset(arr.struct, fname))
        c = f"{self.vm.fn}_{name}_{fname}"
        if c not in self.declared:
            self.declared.add(c)
            self.consts.append(simd._vec(c, first))
            if mask:
                self.consts.append(simd._vec(c + "h", second))
        x = f"_mm512_permutex2var_epi8({q[0]}, _mm512_load_si512({c}), {q[1]})"
        if not mask:
            return x
        if F == 3:                      # the bytes from the third vector merged in by a masked permute
            return f"_mm512_mask_permutexvar_epi8({x}, 0x{mask:016x}ULL, _mm512_load_si512({c}h), {q[2]})"
        hi = f"_mm512_permutex2var_epi8({q[2]}, _mm512_load_si512({c}h), {q[3]})"
        return f"_mm512_mask_blend_epi8(0x{mask:016x}ULL, {x}, {hi})"

    def _plane(self, arr: PacketArray, fname: str) -> tuple[str, str]:
        """The field's 128-byte plane of the window: two vectors, split once per step."""
        key = (id(arr), fname)
        if key not in self.planes:
            name, F = self.names[id(arr)], arr.struct.nbytes
            q = [f"{name}q{v}" for v in range(2 * F)]
            lo, hi = f"{name}_{fname}lo", f"{name}_{fname}hi"
            self.vm.lines.append(f"const __m512i {lo} = {self._split(arr, fname, q[:F])};")
            self.vm.lines.append(f"const __m512i {hi} = {self._split(arr, fname, q[F:])};")
            self.planes[key] = (lo, hi)
        return self.planes[key]

    def _relative(self, arr: PacketArray, iv: str, span: int) -> tuple[str, str]:
        """Once per index: its offsets in the window (for a pair, ``span`` 2: the two bytes' offsets in
        each u16 lane), and whether ``span`` bytes from each lie in it."""
        key = (id(arr), iv, span)
        if key not in self.rel:
            name, k = self.names[id(arr)], len(self.rel)
            wb = self.window[id(arr)]
            r, inside = f"{name}r{k}", f"{name}in{k}"
            self.vm.lines.append(f"const __m512i {r} = _mm512_sub_epi16({iv}, _mm512_set1_epi16((short){wb}));")
            self.vm.lines.append(f"const int {inside} = _mm512_mask_cmpgt_epu16_mask(lm, {r}, "
                                 f"_mm512_set1_epi16({WINDOW - span})) == 0;")
            if span == 2:                   # the pair's byte indices: rel, rel + 1
                self.vm.lines.append(f"const __m512i {r}p = _mm512_add_epi16(_mm512_mullo_epi16({r}, "
                                     "_mm512_set1_epi16(0x0101)), _mm512_set1_epi16(0x0100));")
                r += "p"
            self.rel[key] = (r, inside)
        return self.rel[key]

    # -- reads --------------------------------------------------------------------------------------
    def pair_base(self, arr_node: Node, fname: str, idx: Node) -> tuple[Node, int] | None:
        """(i, 0 or 1) when this read of ``fname`` at ``idx`` is one of a pair: reads of the same field
        at ``i`` and ``i + 1`` in the map."""
        reads = [b for b in self.vm.per_elem if b.op is Op.GATHER and b.args[0] is arr_node and b.attr("field") == fname]
        i = next_index(idx)
        if i is not None and any(b.args[1] is i for b in reads):
            return i, 1
        if any(next_index(b.args[1]) is idx for b in reads):
            return idx, 0
        return None

    def read(self, arr: PacketArray, arr_node: Node, fname: str, idx: Node, iv: str) -> str:
        """Field ``fname`` of elements ``idx`` (vector ``iv``; u16 lanes; 0 past the count) in the step's lanes."""
        vm = self.vm
        self._window(arr, iv)
        cnt, F = vm.count_of(arr), arr.struct.nbytes
        io = vm.param("io", "const uint8_t *{name}", "io")
        field = f"{io} + {arr.offset + field_offset(arr.struct, fname)}"
        lo, hi = self._plane(arr, fname)
        pair = self.pair_base(arr_node, fname, idx) if arr.max + WINDOW < 1 << 16 else None
        if pair is None:
            rel, inside = self._relative(arr, iv, 1)
            return (f"__builtin_expect({inside}, 1) ? _mm512_maskz_permutex2var_epi8(0x5555555555555555ULL, {lo}, "
                    f"{rel}, {hi}) : nicc_field_bytes16({field}, {F}U, {iv}, lm, {cnt}, 0)")
        base, half = pair
        key = (id(arr), fname, id(base))
        if key not in self.pairs:           # the first of the two reads: both bytes at once
            biv = vm.val(base)              # defined already: i + 1 is computed from it
            rel, inside = self._relative(arr, biv, 2)
            pv = self.pairs[key] = f"{self.names[id(arr)]}_{fname}p{len(self.pairs)}"
            vm.lines.append(f"const __m512i {pv} = __builtin_expect({inside}, 1) ? _mm512_permutex2var_epi8({lo}, "
                            f"{rel}, {hi}) : nicc_field_bytes16({field}, {F}U, {biv}, lm, {cnt}, 1);")
        pv = self.pairs[key]
        return f"_mm512_srli_epi16({pv}, 8)" if half else f"_mm512_and_si512({pv}, _mm512_set1_epi16(0xff))"

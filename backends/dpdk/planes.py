"""Payload arrays of one-byte fields read as byte planes by the 16-bit vector maps.

A map with 32 u16 lanes a step (every value fits 16 bits: E4's horizontal pass) that gathers
fields of a payload array whose elements are 1 to 4 one-byte fields (RGB pixels) reads them from
planes, not from the interleaved payload: the call first splits the array's elements into one
stack array per field read (plane j holds field j of every element), 64 elements a step with the
byte permutes of :func:`nicc.backends.dpdk.simd.gather_indices`; in the loop, each plane's 128-byte
window at lane 0's index (``vpermi2b`` reaches 128 bytes) serves every read of that plane in the
step: one permute per read, zero-extended into the lanes by a zero mask on the odd bytes. A read
whose lanes do not all lie in the window (indices that go backwards or spread over more than 128
elements in 32 lanes) is read lane by lane from the plane (``nicc_plane_bytes16``).

An element past the count reads 0, as ``gather`` says, with no mask: the split's last step loads
the array's bytes masked (the rest 0), and two vectors of zeros follow it in each plane, so a
window (which starts at most at the count) sees 0 past the count. Planes are sized for the array's
maximum plus that, so every load stays inside them; the split reads exactly the array's bytes.

    p = Planes(vector_map)
    p.read(arr, "g", "v12", ["r", "g", "b"])   # field g at indices v12 (the fields read: planes)
"""
from __future__ import annotations

from ..c.values import PacketArray, field_offset
from . import simd

WINDOW = 128                        # bytes one vpermi2b reaches

HELPER = f"""/* Byte idx of plane p in each u16 lane of m (0 elsewhere and past count), lane by lane: the 16-bit
 * vector maps' read where the lanes do not all lie in the step's 128-byte window (indices that go
 * backwards or spread further). */
__attribute__((target("{simd.VECTOR_TARGET}"), noinline, cold))
static __m512i nicc_plane_bytes16(const uint8_t *p, __m512i idx, __mmask32 m, uint32_t count)
{{
    uint16_t at[32], out[32];

    _mm512_storeu_si512(at, idx);
    for (int l = 0; l < 32; l++)
        out[l] = (m >> l & 1) && at[l] < count ? p[at[l]] : 0;
    return _mm512_loadu_si512(out);
}}
"""


def plane_size(max_elems: int) -> int:
    """Bytes of one plane: the split's whole 64-element steps, then the 128 bytes of zeros."""
    return -(-(max_elems + WINDOW) // simd.BLOCK) * simd.BLOCK


class Planes:
    """The planes of one vector map (see the module docstring)."""

    def __init__(self, vm):
        self.vm = vm
        self.of: dict[int, tuple[str, dict[str, int]]] = {}     # array -> (C name, field -> plane)
        self.window: dict[int, str] = {}                        # array -> its window base in this step
        self.loads: dict[tuple[int, str], tuple[str, str]] = {}
        self.rel: dict[tuple, tuple[str, str]] = {}             # (array, index) -> (offsets, all inside)
        self.consts: list[str] = []

    def _split(self, arr: PacketArray, fields: list[str]) -> tuple[str, dict[str, int]]:
        """Declare the planes and split the array's elements into them, before the loop."""
        vm = self.vm
        k = len(self.of)
        name, F = f"pl{k}", arr.struct.nbytes
        io = vm.param("io", "const uint8_t *{name}", "io")
        cnt = vm.count_of(arr)
        kern = simd.Kernel(f"{vm.fn}_pl{k}", F, F, ())
        h = vm.hoisted
        h.append(f"uint8_t {name}[{len(fields)}][{plane_size(arr.max)}] __attribute__((aligned(64)));")
        gathers = []
        for j, f in enumerate(fields):
            first, second, mask = simd.gather_indices(kern, field_offset(arr.struct, f))
            c = f"{vm.fn}_pl{k}_{j}"
            self.consts.append(simd._vec(c, first))
            x = "q0" if F == 1 else f"_mm512_permutex2var_epi8(q0, _mm512_load_si512({c}), q1)"
            if mask:
                self.consts.append(simd._vec(c + "h", second))
                if F == 3:              # the bytes from the third vector merged in by a masked permute
                    x = f"_mm512_mask_permutexvar_epi8({x}, 0x{mask:016x}ULL, _mm512_load_si512({c}h), q2)"
                else:
                    hi = f"_mm512_permutex2var_epi8(q2, _mm512_load_si512({c}h), q3)"
                    x = f"_mm512_mask_blend_epi8(0x{mask:016x}ULL, {x}, {hi})"
            gathers.append(f"_mm512_store_si512({name}[{j}] + e, {x});")
        src = f"{io} + {arr.offset}"
        full = [f"const __m512i q{v} = _mm512_loadu_si512(s + {64 * v});" for v in range(F)]
        tail = [f"const __m512i q{v} = _mm512_maskz_loadu_epi8(nicc_mask64(nb, {64 * v}), nb > {64 * v} ? "
                f"s + {64 * v} : {io});" for v in range(F)]
        h.append("for (uint32_t e = 0; e < " + cnt + "; e += 64) {    /* the planes: field j of element e at [j][e] */")
        h.append(f"    const uint8_t *s = {src} + (size_t)e * {F}U;")
        h.append(f"    const uint32_t nb = ({cnt} - e) * {F}U;")
        h.append(f"    if (nb >= {64 * F}U) {{")
        h += [f"        {x}" for x in full + gathers]
        h.append("    } else {")
        h += [f"        {x}" for x in tail + gathers]
        h.append("    }")
        h.append("}")
        h.append(f"for (uint32_t j = 0; j < {len(fields)}; j++) {{    /* zeros past the last step: a window reads 0 there */")
        h.append(f"    _mm512_store_si512({name}[j] + (({cnt} + 63U) & ~63U), _mm512_setzero_si512());")
        h.append(f"    _mm512_store_si512({name}[j] + (({cnt} + 63U) & ~63U) + 64, _mm512_setzero_si512());")
        h.append("}")
        return name, {f: j for j, f in enumerate(fields)}

    def read(self, arr: PacketArray, fname: str, iv: str, fields: list[str]) -> str:
        """Field ``fname`` of elements ``iv`` (u16 lanes; 0 past the count) in the step's lanes."""
        vm = self.vm
        if id(arr) not in self.of:
            self.of[id(arr)] = self._split(arr, fields)
        name, plane = self.of[id(arr)]
        cnt = vm.count_of(arr)
        wb = self.window.get(id(arr))
        if wb is None:
            wb = self.window[id(arr)] = f"{name}b"
            vm.lines.append(f"const uint32_t {wb}0 = (uint16_t)_mm_cvtsi128_si32(_mm512_castsi512_si128({iv}));")
            vm.lines.append(f"const uint32_t {wb} = {wb}0 <= {cnt} ? {wb}0 : 0;    /* the window's start */")
        if (id(arr), iv) not in self.rel:   # once per index: its offsets in the window, and whether all lie in it
            k = len(self.rel)
            self.rel[(id(arr), iv)] = (f"{name}r{k}", f"{name}in{k}")
            vm.lines.append(f"const __m512i {name}r{k} = _mm512_sub_epi16({iv}, _mm512_set1_epi16((short){wb}));")
            vm.lines.append(f"const int {name}in{k} = _mm512_mask_cmpgt_epu16_mask(lm, {name}r{k}, "
                            f"_mm512_set1_epi16({WINDOW - 1})) == 0;")
        rel, inside = self.rel[(id(arr), iv)]
        key = (id(arr), fname)
        if key not in self.loads:
            p = f"{name}[{plane[fname]}]"
            lo, hi = f"{name}_{plane[fname]}lo", f"{name}_{plane[fname]}hi"
            vm.lines.append(f"const __m512i {lo} = _mm512_loadu_si512({p} + {wb});")
            vm.lines.append(f"const __m512i {hi} = _mm512_loadu_si512({p} + {wb} + 64);")
            self.loads[key] = (lo, hi)
        lo, hi = self.loads[key]
        return (f"__builtin_expect({inside}, 1) ? _mm512_maskz_permutex2var_epi8(0x5555555555555555ULL, {lo}, {rel}, "
                f"{hi}) : nicc_plane_bytes16({name}[{plane[fname]}], {iv}, lm, {cnt})")

"""Table-lookup maps as AVX-512 VBMI byte permutes: 64 elements a step (``schedule=simd``).

A map whose body looks up byte fields of its elements in 256-entry tables (E1: three per-channel
tables over RGB pixels) runs as byte permutes, with the table split into byte planes (plane j holds
byte j of every entry)::

    per block of 64 elements (in place, back to front when the payload grows):
      load the S input vectors          64*S bytes, the last block masked
      gather each field's bytes         vpermt2b: field f of element e = input byte e*S + f
      look each plane up                two vpermi2b over the 4 x 64-byte quarters, blended by bit 7
      interleave the output planes      vpermt2b per output vector, pairs of planes blended by mask
      store the O output vectors        masked at the end

All index vectors are computed here, at compile time, and written into the C as constants;
:func:`simulate` runs the same steps with numpy, so the tests check the constants without a CPU
that has VBMI. The generated function is compiled with ``target("avx512f,avx512bw,avx512vbmi")``
and called only when the CPU has those (checked once at run time; ``NICC_SIMD=scalar`` turns it
off), else the scalar loop runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK = 64
TARGET = "avx512f,avx512bw,avx512vbmi"
VECTOR_TARGET = TARGET + ",avx512vl"      # the vector maps' (nicc.backends.dpdk.vector)


@dataclass(frozen=True)
class Lookup:
    """One result of the map: table ``table`` (256 values) of input byte ``in_off``, written as
    ``out_bytes`` bytes at ``out_off`` of the output element, ``endian`` 'le' or 'be'."""
    in_off: int
    table: tuple[int, ...]
    out_off: int
    out_bytes: int
    endian: str


@dataclass(frozen=True)
class Kernel:
    """A simd map: input elements of ``in_size`` bytes, output elements of ``out_size`` bytes."""
    name: str
    in_size: int
    out_size: int
    lookups: tuple[Lookup, ...]

    def planes(self) -> list[tuple[int, int]]:
        """For each output byte q of an element: (lookup index, byte of the table value)."""
        out: list[tuple[int, int] | None] = [None] * self.out_size
        for k, lk in enumerate(self.lookups):
            for j in range(lk.out_bytes):
                b = j if lk.endian == "le" else lk.out_bytes - 1 - j
                out[lk.out_off + j] = (k, b)
        if any(x is None for x in out):
            raise ValueError("a simd map must write every output byte")
        return out

    def fields(self) -> list[int]:
        return sorted({lk.in_off for lk in self.lookups})


def gather_indices(k: Kernel, field: int) -> tuple[list[int], list[int], int]:
    """Index vectors that bring byte ``field`` of 64 elements together: (first pair, second pair,
    mask of the bytes taken from the second pair). Input byte p lies in vector p // 64."""
    pos = [e * k.in_size + field for e in range(BLOCK)]
    first = [p if p < 128 else 0 for p in pos]
    second = [p - 128 if p >= 128 else 0 for p in pos]
    mask = sum(1 << e for e, p in enumerate(pos) if p >= 128)
    return first, second, mask


def output_indices(k: Kernel) -> list[list[tuple[list[int], int]]]:
    """Per output vector m, per pair of output planes (2j, 2j+1): (index vector, mask of the bytes
    that come from that pair). Output byte 64m + q is plane (64m+q) % O of element (64m+q) // O."""
    out = []
    npairs = -(-k.out_size // 2)
    for m in range(k.out_size):
        pairs = []
        for j in range(npairs):
            idx, mask = [], 0
            for q in range(BLOCK):
                e, plane = divmod(BLOCK * m + q, k.out_size)
                if plane // 2 == j:
                    idx.append((plane % 2) * 64 + e)
                    mask |= 1 << q
                else:
                    idx.append(0)
            pairs.append((idx, mask))
        out.append(pairs)
    return out


def byte_planes(table: tuple[int, ...], nbytes: int) -> list[list[int]]:
    return [[(v >> (8 * j)) & 0xFF for v in table] for j in range(nbytes)]


def simulate(k: Kernel, data: bytes, n: int) -> bytes:
    """What the vector code computes for ``n`` elements, step by step, with numpy (permute = index)."""
    out = bytearray(n * k.out_size)
    tables = [byte_planes(lk.table, lk.out_bytes) for lk in k.lookups]
    planes_of = k.planes()
    outs = output_indices(k)
    for b0 in range(0, n, BLOCK):
        cnt = min(BLOCK, n - b0)
        raw = np.zeros(4 * 64, dtype=np.uint8)
        chunk = np.frombuffer(data[b0 * k.in_size:(b0 + cnt) * k.in_size], dtype=np.uint8)
        raw[:len(chunk)] = chunk
        gathered = {}
        for f in k.fields():
            first, second, mask = gather_indices(k, f)
            x = raw[:128][np.array(first)]
            y = raw[128:256][np.array(second)]
            gathered[f] = np.where([(mask >> e) & 1 for e in range(BLOCK)], y, x)
        plane = []
        for lk_i, b in planes_of:
            idx = gathered[k.lookups[lk_i].in_off]
            plane.append(np.array(tables[lk_i][b], dtype=np.uint8)[idx])
        while len(plane) % 2:
            plane.append(np.zeros(BLOCK, dtype=np.uint8))
        for m, pairs in enumerate(outs):
            vec = np.zeros(BLOCK, dtype=np.uint8)
            for j, (idx, mask) in enumerate(pairs):
                src = np.concatenate([plane[2 * j], plane[2 * j + 1]])
                sel = src[np.array(idx)]
                vec = np.where([(mask >> q) & 1 for q in range(BLOCK)], sel, vec)
            start = (b0 * k.out_size) + BLOCK * m
            end = min(start + BLOCK, (b0 + cnt) * k.out_size)
            if end > start:
                out[start:end] = vec[:end - start].tobytes()
    return bytes(out)


def _vec(name: str, vals: list[int]) -> str:
    rows = ",\n".join("    " + ", ".join(f"{v:3d}" for v in vals[i:i + 16]) for i in range(0, len(vals), 16))
    return f"static const uint8_t {name}[64] __attribute__((aligned(64))) = {{\n{rows}\n}};\n"


def _mask_load(count: str, start: int) -> str:
    """The mask of bytes [start, start + 64) that lie below ``count``."""
    return f"nicc_mask64({count}, {start})"


def render(k: Kernel) -> tuple[str, str]:
    """(C constants and the vector function, the name of the function ``f(in, out, n, backward)``)."""
    fn = f"{k.name}_vbmi"
    consts = []
    for f in k.fields():
        first, second, mask = gather_indices(k, f)
        consts.append(_vec(f"{k.name}_gather{f}_a", first))
        if mask:
            consts.append(_vec(f"{k.name}_gather{f}_b", second))
    for m, pairs in enumerate(output_indices(k)):
        for j, (idx, _) in enumerate(pairs):
            consts.append(_vec(f"{k.name}_out{m}_{j}", idx))
    for i, lk in enumerate(k.lookups):
        for j, plane in enumerate(byte_planes(lk.table, lk.out_bytes)):
            vals = ",\n".join("    " + ", ".join(f"{v:3d}" for v in plane[r:r + 16]) for r in range(0, 256, 16))
            consts.append(f"static const uint8_t {k.name}_t{i}_{j}[256] __attribute__((aligned(64))) = {{\n"
                          f"{vals}\n}};\n")
    nin = k.in_size
    L = []
    L.append(f"__attribute__((target(\"{TARGET}\")))")
    L.append(f"static void {fn}(const uint8_t *in, uint8_t *out, uint32_t n, int backward)")
    L.append("{")
    L.append(f"    uint32_t nb = (n + {BLOCK - 1}) / {BLOCK};")
    L.append("")
    L.append("    for (uint32_t s = 0; s < nb; s++) {        /* 64 elements a block, the last one masked */")
    L.append("        uint32_t b = backward ? nb - 1 - s : s;")
    L.append(f"        uint32_t in_bytes = (n - b * {BLOCK} < {BLOCK} ? n - b * {BLOCK} : {BLOCK}) * {nin};")
    L.append(f"        uint32_t out_bytes = in_bytes / {nin} * {k.out_size};")
    L.append(f"        const uint8_t *ip = in + b * {BLOCK * nin};")
    L.append(f"        uint8_t *op = out + b * {BLOCK * k.out_size};")
    for r in range(nin):
        L.append(f"        __m512i in{r} = _mm512_maskz_loadu_epi8(nicc_mask64(in_bytes, {64 * r}), ip + {64 * r});")
    L.append("        /* x<f>: byte f of each element, side by side (h<f>: its top bit, which half of the table) */")
    for f in k.fields():
        first, second, mask = gather_indices(k, f)
        src1 = "in1" if nin > 1 else "in0"
        L.append(f"        __m512i x{f} = _mm512_permutex2var_epi8(in0, _mm512_load_si512({k.name}_gather{f}_a), {src1});")
        if mask:
            if nin == 3:
                L.append(f"        x{f} = _mm512_mask_permutexvar_epi8(x{f}, 0x{mask:016x}ULL, "
                         f"_mm512_load_si512({k.name}_gather{f}_b), in2);")
            else:
                L.append(f"        x{f} = _mm512_mask_blend_epi8(0x{mask:016x}ULL, x{f}, _mm512_permutex2var_epi8("
                         f"in2, _mm512_load_si512({k.name}_gather{f}_b), in3));")
        L.append(f"        __mmask64 h{f} = _mm512_movepi8_mask(x{f});")
    planes = k.planes()
    L.append("        /* p<q>: output byte q of each element, looked up in the byte plane of its table */")
    for q, (i, j) in enumerate(planes):
        f = k.lookups[i].in_off
        L.append(f"        __m512i p{q} = nicc_lut256({k.name}_t{i}_{j}, x{f}, h{f});")
    if len(planes) % 2:
        L.append(f"        __m512i p{len(planes)} = _mm512_setzero_si512();")
    L.append("        /* y<m>: output vector m, interleaved from the planes two at a time, then stored */")
    for m, pairs in enumerate(output_indices(k)):
        for j, (idx, mask) in enumerate(pairs):
            perm = f"_mm512_permutex2var_epi8(p{2 * j}, _mm512_load_si512({k.name}_out{m}_{j}), p{2 * j + 1})"
            if j == 0:
                L.append(f"        __m512i y{m} = {perm};")
            else:
                L.append(f"        y{m} = _mm512_mask_blend_epi8(0x{mask:016x}ULL, y{m}, {perm});")
        L.append(f"        _mm512_mask_storeu_epi8(op + {64 * m}, nicc_mask64(out_bytes, {64 * m}), y{m});")
    L.append("    }")
    L.append("}")
    stub = (f"static void {fn}(const uint8_t *in, uint8_t *out, uint32_t n, int backward)\n{{\n"
            "    (void)in; (void)out; (void)n; (void)backward;\n    __builtin_unreachable();     "
            "/* nicc_simd_vbmi() is 0 off x86 */\n}\n")
    return ("#if NICC_X86\n" + "".join(consts) + "\n" + "\n".join(L) + "\n#else\n" + stub + "#endif\n", fn)


HELPERS = f"""/* AVX-512 VBMI helpers of the simd maps: the mask of the bytes [start, start + 64) below n, and a
 * 256-entry byte table looked up 64 bytes at a time (two 2-register permutes, blended by index bit 7).
 * Off x86 the build has the scalar loops only. */
#if defined(__x86_64__) || defined(__i386__)
#define NICC_X86 1
#include <immintrin.h>

static inline uint64_t nicc_mask64(uint32_t n, uint32_t start)
{{
    return n <= start ? 0 : n - start >= 64 ? ~0ULL : (1ULL << (n - start)) - 1;
}}

__attribute__((target("{TARGET}")))
static inline __m512i nicc_lut256(const uint8_t *t, __m512i idx, __mmask64 high)
{{
    __m512i lo = _mm512_permutex2var_epi8(_mm512_load_si512(t), idx, _mm512_load_si512(t + 64));
    __m512i hi = _mm512_permutex2var_epi8(_mm512_load_si512(t + 128), idx, _mm512_load_si512(t + 192));

    return _mm512_mask_blend_epi8(high, lo, hi);
}}

/* The big-endian dword at p + at in each lane of m (0 elsewhere), for the vector maps: byte permutes of
 * the 256-byte window w0..w3 loaded from p + wb when every lane's dword lies in it, else a hardware
 * gather (when the lanes' offsets do not start at lane 0's or spread further). */
__attribute__((target("{VECTOR_TARGET}")))
static inline __m512i nicc_window_dword(__m512i w0, __m512i w1, __m512i w2, __m512i w3, uint32_t wb,
                                        const uint8_t *p, __m512i at, __mmask16 m)
{{
    const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
    __m512i r = _mm512_sub_epi32(at, _mm512_set1_epi32((int)wb));

    if (__builtin_expect(_mm512_mask_cmpgt_epu32_mask(m, r, _mm512_set1_epi32(252)) == 0, 1)) {{
        const __m512i rep = _mm512_set4_epi32(0x0c0c0c0c, 0x08080808, 0x04040404, 0x00000000);
        const __m512i rev = _mm512_set1_epi32(0x00010203);
        __m512i bi = _mm512_add_epi8(_mm512_shuffle_epi8(r, rep), rev);
        __m512i lo = _mm512_permutex2var_epi8(w0, bi, w1);
        __m512i hi = _mm512_permutex2var_epi8(w2, bi, w3);

        return _mm512_maskz_mov_epi32(m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(bi), lo, hi));
    }}
    return _mm512_shuffle_epi8(_mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, at, p, 1), bswap);
}}

/* Whether the simd and vector maps run as AVX-512 (F, BW, VL and VBMI: the CPU has them and NICC_SIMD is
 * not "scalar"); asked once. */
static int nicc_simd_vbmi(void)
{{
    static int level = -1;

    if (level < 0) {{
        const char *env = getenv("NICC_SIMD");

        level = !(env != NULL && strcmp(env, "scalar") == 0) && __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                __builtin_cpu_supports("avx512vbmi");
    }}
    return level;
}}
#else
#define NICC_X86 0

static int nicc_simd_vbmi(void)
{{
    return 0;
}}
#endif
"""

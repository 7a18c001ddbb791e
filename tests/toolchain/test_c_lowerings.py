"""The lowerings of crc32, bucketize and the header rewrite, compiled with the host C compiler and
checked against real references: zlib for crc32, numpy's searchsorted for bucketize, the
framing module for the IPv4 checksum. Both C dialects are compiled (the eBPF dialect's helpers
with a few typedefs for the host), and, where the CPU has AVX-512 VBMI, the SIMD map kernel
against its numpy simulation."""
import itertools
import random
import shutil
import subprocess
import zlib

import numpy as np
import pytest

from nicc.backends.c import CRenderer
from nicc.backends.dpdk import RUNTIME, simd
from nicc.backends.xdp.renderer import XdpRenderer
from nicc.compiler import framing
from nicc.compiler.errors import SourceLoc
from nicc.compiler.ir import Block, Node, Op, Pipeline
from nicc.compiler.types import I8, I16, I32, I64, U8, U16, U32, U64

pytestmark = pytest.mark.toolchain
CC = shutil.which("gcc") or shutil.which("cc")
LOC = SourceLoc("t", 1)
HOST_BPF = """#include <stdint.h>
typedef uint8_t __u8; typedef uint16_t __u16; typedef uint32_t __u32; typedef uint64_t __u64;
typedef int8_t __s8; typedef int16_t __s16; typedef int32_t __s32; typedef int64_t __s64;
#define NICC_INLINE static inline
#define barrier_var(var) __asm__ volatile("" : "=r"(var) : "0"(var))
"""


def values(t, k=300, seed=1):
    rng = random.Random(seed + t.bits + t.signed)
    vals = {t.lo, t.hi, 0, 1, t.hi - 1, t.lo + 1, -1 if t.signed else 2}
    for b in range(t.bits):
        for v in ((1 << b), (1 << b) - 1, (1 << b) + 1, -(1 << b)):
            if t.lo <= v <= t.hi:
                vals.add(v)
    vals |= {rng.randint(t.lo, t.hi) for _ in range(k)}
    return sorted(vals)


def c_lit(v, t):
    if t.bits == 64 and t.signed and v == t.lo:
        return "INT64_MIN_"
    return f"{v}{'ULL' if not t.signed else 'LL'}"


def run_c(tmp_path, src, flags=("-O2",)):
    (tmp_path / "t.c").write_text(src)
    subprocess.run([CC, *flags, "-Wall", "-Wno-unused-function", "-I", RUNTIME, "-o", str(tmp_path / "t"),
                    str(tmp_path / "t.c")], check=True)
    out = subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True)
    return [int(x) for x in out.stdout.split()]


class Case:
    """One node rendered in a function of its own, by a renderer shared by all cases (helpers too)."""

    def __init__(self, r, res, ct, args):
        self.helpers, self.lines, self.res, self.ct, self.args = r.helpers, list(r.lines), res, ct, args


def render_case(r, op, attrs, t, rtype, args):
    r.lines = []
    x = Node(Op.CONST, (), {"value": 0}, t, LOC)
    r.env[x] = "x"
    n = Node(op, (x,), attrs, rtype, LOC)
    res = r.run_node(n)
    return Case(r, res, r.ty(t), args)


def renderer(dialect):
    p = Pipeline("t", 1, Block())
    return CRenderer(p) if dialect == "c" else XdpRenderer(p)


def program(cases, dialect):
    """A C program printing each case's result for each of its arguments."""
    helpers, funcs, mains = {}, [], []
    for i, c in enumerate(cases):
        helpers.update(c.helpers)
        body = "\n".join(c.lines)
        funcs.append(f"static uint64_t f{i}({c.ct} x)\n{{\n{body}\n    return (uint64_t){c.res};\n}}\n")
        funcs.append(f"static const {c.ct} a{i}[] = {{{', '.join(c.args)}}};\n")
        mains.append(f"    for (unsigned j = 0; j < sizeof(a{i}) / sizeof(a{i}[0]); j++)\n"
                     f'        printf("%llu\\n", (unsigned long long)f{i}(a{i}[j]));')
    head = (HOST_BPF if dialect == "bpf" else "#include <stdint.h>\n#include <stdbool.h>\n") + \
        "#define INT64_MIN_ (-9223372036854775807LL - 1)\n"
    return (head + "#include <stdio.h>\n" + "\n".join(helpers.values()) + "\n".join(funcs) +
            "int main(void)\n{\n" + "\n".join(mains) + "\n    return 0;\n}\n")


@pytest.mark.skipif(CC is None, reason="no C compiler (gcc) on PATH")
@pytest.mark.parametrize("dialect", ["c", "bpf"])
def test_crc32_implementations_match_zlib(tmp_path, dialect):
    r = renderer(dialect)
    cases, expect = [], []
    for t, impl in itertools.product([U8, U16, U32, U64], ["bytewise", "slice2", "slice4", "slice8"]):
        vals = values(t)
        cases.append(render_case(r, Op.CRC32, {"impl": impl}, t, U32, [c_lit(v, t) for v in vals]))
        expect += [zlib.crc32(v.to_bytes(t.nbytes, "big")) for v in vals]
    got = run_c(tmp_path, program(cases, dialect))
    assert got == expect


BOUNDS = {
    "pow2 full": [1 << k for k in range(32)],
    "pow2 shifted": [1 << k for k in range(3, 11)],
    "pow2 short": [1, 2, 4, 8],
    "sorted": [0, 3, 7, 7, 100, 1000, 1001, 65535],
    "many": list(range(-50, 2000, 37)),
    "negative": [-100, -1, 0, 5],
}


def searchsorted(bounds, vals):
    return [int(np.searchsorted(np.array(bounds, dtype=object), np.array([v], dtype=object), side="right")[0])
            for v in vals]


@pytest.mark.skipif(CC is None, reason="no C compiler (gcc) on PATH")
@pytest.mark.parametrize("dialect", ["c", "bpf"])
def test_bucketize_implementations_match_numpy(tmp_path, dialect):
    r = renderer(dialect)
    cases, expect = [], []
    for t in [U8, U16, U32, U64, I8, I16, I32, I64]:
        for name, bounds in BOUNDS.items():
            bounds = [b for b in bounds if t.lo <= b <= t.hi]
            if not bounds:
                continue
            for impl in ("compares", "bsearch", "clz"):
                if impl == "clz" and not (bounds[0] >= 1 and all(b == bounds[0] << k for k, b in enumerate(bounds))):
                    continue
                vals = values(t, 200)
                cases.append(render_case(r, Op.BUCKETIZE, {"boundaries": tuple(bounds), "impl": impl}, t, U8,
                                         [c_lit(v, t) for v in vals]))
                expect += searchsorted(bounds, vals)
    got = run_c(tmp_path, program(cases, dialect))
    assert got == expect


@pytest.mark.skipif(CC is None, reason="no C compiler (gcc) on PATH")
def test_header_rewrite_matches_framing(tmp_path):
    """nicc_rewrite_headers (the DPDK runtime's) against framing.rewrite, on headers with random bytes."""
    rng = random.Random(3)
    frames = [bytes(rng.randrange(256) for _ in range(42)) for _ in range(200)]
    olens = [rng.randrange(0, 9000) for _ in frames]
    arr = ",".join(str(b) for f in frames for b in f)
    src = ('#include <stdio.h>\n#include "nicc_bytes.h"\n'
           f"static uint8_t h[{len(frames)}][42] = {{{arr}}};\nstatic uint32_t n[] = {{{','.join(map(str, olens))}}};\n"
           f"int main(void)\n{{\n    for (int i = 0; i < {len(frames)}; i++) {{\n"
           "        nicc_rewrite_headers(h[i], n[i]);\n"
           "        for (int k = 0; k < 42; k++) printf(\"%u\\n\", h[i][k]);\n    }\n    return 0;\n}\n")
    got = run_c(tmp_path, src)
    want = []
    for f, n in zip(frames, olens):
        want += list(framing.rewrite(f, bytes(n))[:42])
    assert got == want


def has_vbmi():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return all(f" {x} " in flags for x in ("avx512f", "avx512bw", "avx512vbmi"))


@pytest.mark.skipif(CC is None, reason="no C compiler (gcc) on PATH")
@pytest.mark.skipif(not has_vbmi(), reason="the CPU has no AVX-512 VBMI: the vector kernel cannot run here")
@pytest.mark.parametrize("seed", range(4))
def test_simd_kernel_matches_simulation(tmp_path, seed):
    rng = random.Random(seed)
    in_size = [1, 2, 3, 4][seed]
    lookups, off = [], 0
    while off < 8 and (not lookups or rng.random() < 0.7):
        ob = rng.choice([1, 2]) if off < 7 else 1
        table = tuple(rng.randrange(1 << (8 * ob)) for _ in range(256))
        lookups.append(simd.Lookup(rng.randrange(in_size), table, off, ob, rng.choice(["le", "be"])))
        off += ob
    k = simd.Kernel("k", in_size, off, tuple(lookups))
    code, fn = simd.render(k)
    counts = [0, 1, 5, 63, 64, 65, 127, 200, 255]
    datas = [bytes(rng.randrange(256) for _ in range(n * in_size)) for n in counts]
    calls = []
    for i, (n, d) in enumerate(zip(counts, datas)):
        calls.append(f"    {{ static const uint8_t in[] = {{{','.join(map(str, d)) or '0'}}}; "
                     f"static uint8_t out[{max(1, n * off)}]; {fn}(in, out, {n}, {i % 2}); "
                     f"for (int j = 0; j < {n * off}; j++) printf(\"%u\\n\", out[j]); }}")
    src = ("#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
           + simd.HELPERS + code + "int main(void)\n{\n" + "\n".join(calls) +
           "\n    return 0;\n}\n")
    got = run_c(tmp_path, src)
    want = [b for n, d in zip(counts, datas) for b in simd.simulate(k, d, n)]
    assert got == want

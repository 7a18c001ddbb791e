"""The shared C renderer's scalar rules, compiled with the host C compiler, against the
reference interpreter over a grid of widths and boundary values (also under UBSan)."""
import itertools
import shutil
import subprocess

import numpy as np
import pytest

from nicc.backends.c import CRenderer
from nicc.compiler.errors import SourceLoc
from nicc.compiler.interp import EVAL_RULES
from nicc.compiler.ir import Block, Node, Op, Pipeline
from nicc.compiler.types import BOOL, I8, I16, I32, I64, U8, U16, U32, U64
from tests.unit.test_interp_ops import boundary, _W

pytestmark = pytest.mark.toolchain
CC = shutil.which("gcc") or shutil.which("cc")
TYPES = [U8, U16, U32, U64, I8, I16, I32, I64]
LOC = SourceLoc("t", 1)
BIN = [(Op.ADD, "wrap"), (Op.ADD, "sat"), (Op.SUB, "wrap"), (Op.SUB, "sat"), (Op.MUL, "wrap"), (Op.MUL, "sat"),
       (Op.DIV, None), (Op.MOD, None), (Op.AND, None), (Op.OR, None), (Op.XOR, None), (Op.SHL, None), (Op.SHR, None),
       (Op.LT, None), (Op.GE, None), (Op.EQ, None)]


def cases():
    """(C function, interpreter result list, argument pairs) for every op, type and cast."""
    p = Pipeline("t", 1, Block())
    out = []
    for (op, ovf), t in itertools.product(BIN, TYPES):
        bt = U8 if op in (Op.SHL, Op.SHR) else t
        avals = boundary(t)
        bvals = [0, 1, 3, t.bits - 1, t.bits, 200] if bt is U8 else boundary(t)
        pairs = list(itertools.product(avals, bvals))
        out.append(((op, ovf, t, bt, None), pairs))
    for src, dst in itertools.product(TYPES, TYPES):
        for ovf in ("wrap", "sat"):
            out.append(((Op.CAST, ovf, src, None, dst), [(a, 0) for a in boundary(src)]))
    return p, out


def render(p, key, fname):
    op, ovf, t, bt, dst = key
    r = CRenderer(p)
    # operands of unknown value (fields), bound to the C function's parameters: nothing may be assumed
    # about their ranges (backends/ranges.py)
    a = Node(Op.FIELD, (), {"name": "a", "offset": 0, "endian": "be"}, t, LOC)
    r.env[a] = "a"
    args = (a,)
    if op is not Op.CAST:
        b = Node(Op.FIELD, (), {"name": "b", "offset": 0, "endian": "be"}, bt, LOC)
        r.env[b] = "b"
        args = (a, b)
    rtype = dst if op is Op.CAST else (BOOL if op in (Op.LT, Op.GE, Op.EQ) else t)
    n = Node(op, args, {"overflow": ovf} if ovf else {}, rtype, LOC)
    res = r.run_node(n)
    body = "\n".join(r.lines)
    ret = "int64_t" if not (rtype.kind == "u" and rtype.bits == 64) else "uint64_t"
    bparam = f", {r.ty(bt)} b" if op is not Op.CAST else ""
    fn = f"static {ret} {fname}({r.ty(t)} a{bparam})\n{{\n{body}\n    return ({ret}){res};\n}}\n"
    return fn, r.helpers, n, rtype


def interp(n, t, bt, pairs, rtype):
    a = np.array([x for x, _ in pairs], dtype=t.dtype)
    if n.op is Op.CAST:
        return [int(v) for v in EVAL_RULES[Op.CAST](_W(len(a)), n, a)]
    b = np.array([y for _, y in pairs], dtype=bt.dtype)
    return [int(v) for v in EVAL_RULES[n.op](_W(len(a)), n, a, b)]


def c_lit(v, t):
    if t.bits == 64 and t.signed and v == t.lo:
        return "INT64_MIN"
    return f"{v}{'ULL' if not t.signed else 'LL'}"


@pytest.mark.skipif(CC is None, reason="no C compiler (gcc) on PATH")
@pytest.mark.parametrize("sanitize", [False, True], ids=["O2", "ubsan"])
def test_c_scalar_rules_match_interpreter(tmp_path, sanitize):
    p, cs = cases()
    helpers, funcs, mains, expect = {}, [], [], []
    for i, (key, pairs) in enumerate(cs):
        fn, hs, n, rtype = render(p, key, f"f{i}")
        helpers.update(hs)
        funcs.append(fn)
        op, ovf, t, bt, dst = key
        fmt = '"%llu\\n", (unsigned long long)' if rtype.kind == "u" and rtype.bits == 64 else '"%lld\\n", (long long)'
        for a, b in pairs:
            call = f"f{i}({c_lit(a, t)})" if op is Op.CAST else f"f{i}({c_lit(a, t)}, {c_lit(b, bt)})"
            mains.append(f"    printf({fmt}{call});")
        expect.extend(interp(n, t, bt, pairs, rtype))
    src = ("#include <stdint.h>\n#include <stdbool.h>\n#include <stdio.h>\n" + "".join(helpers.values())
           + "".join(funcs) + "int main(void)\n{\n" + "\n".join(mains) + "\n    return 0;\n}\n")
    (tmp_path / "ops.c").write_text(src)
    flags = ["-O1", "-fsanitize=undefined", "-fno-sanitize-recover=all"] if sanitize else ["-O2"]
    subprocess.run([CC, *flags, "-Wall", "-Wno-unused-function", "-o", str(tmp_path / "ops"), str(tmp_path / "ops.c")],
                   check=True)
    run = subprocess.run([str(tmp_path / "ops")], capture_output=True, text=True, check=True)
    assert run.stderr == ""
    got = [int(x) for x in run.stdout.split()]
    assert len(got) == len(expect)
    bad = [(i, g, e) for i, (g, e) in enumerate(zip(got, expect)) if g != e]
    assert not bad, bad[:10]

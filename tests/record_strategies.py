"""Hypothesis strategies for pipelines the midend rewrites: every record shape the length check
takes (fixed fields, a fixed-count array, a count-prefixed array, trailing bytes) and bodies full
of what the passes look for: constant expressions, identities, checks earlier checks imply,
divisors, shifts and state indices that are constants only after simplification, maps using
outer values, verdicts before and after the map."""
from __future__ import annotations

from hypothesis import strategies as st

import nicc.dsl as nd
from nicc.compiler.errors import SourceLoc
from nicc.dsl.pipeline import PipelineDef
from tests.strategies import INTS

SHAPES = ["fixed", "array", "counted", "rest"]


@st.composite
def record_pipelines(draw):
    fields = {f"f{i}": draw(st.sampled_from(INTS)) for i in range(draw(st.integers(1, 3)))}
    shape = draw(st.sampled_from(SHAPES))
    elem = draw(st.sampled_from([nd.u8, nd.u16, nd.u32]))
    bound = draw(st.integers(1, 6))
    ns = dict(fields)
    if shape == "array":
        ns["xs"] = nd.array(elem, bound)
    elif shape == "counted":
        ns["n"] = draw(st.sampled_from([nd.u8, nd.u16, nd.i8]))
        ns["xs"] = nd.array(elem, count="n", max=bound)
    elif shape == "rest":
        ns["tail"] = nd.rest
    Rec = type("Rec", (nd.Record,), ns)
    steps = draw(st.lists(st.tuples(st.integers(0, 19), st.integers(0, 99), st.integers(0, 99),
                                    st.integers(0, 2**64 - 1)), min_size=1, max_size=10))
    map_at = draw(st.integers(0, len(steps)))
    final = draw(st.sampled_from(["pass", "transmit", "drop"]))
    port = draw(st.integers(1, 65534))
    state = nd.state("s", nd.u32, size=draw(st.sampled_from([1, 7, 64])))

    def body(rec):
        vals = [getattr(rec, f) for f in fields]
        mapped = []

        def add_map():
            if "xs" in ns:
                k = vals[0]
                mapped.append(rec.xs.map(lambda x: (x ^ k.cast(x.type)) + nd.const(0, x.type)))
        for i, (kind, a_i, b_i, c) in enumerate(steps):
            if i == map_at:
                add_map()
            ints = [v for v in vals if v.type != nd.bool_]
            a = ints[a_i % len(ints)]
            b = ints[b_i % len(ints)].cast(a.type, "sat" if c & 1 else "wrap")
            t = a.type
            k = c % (t.hi - t.lo + 1) + t.lo
            zero = (b - b).cast(nd.u8)                       # 0, known only after simplification
            if kind == 0:
                vals.append(a + nd.const(0, t) | nd.const(0, t))
            elif kind == 1:
                vals.append((a & nd.const(-1 if t.signed else t.hi, t)) ^ (b ^ b))
            elif kind == 2:
                vals.append(nd.const(k, t).mul(nd.const(c % 7, t), "sat" if c & 2 else "wrap") + a)
            elif kind == 3:
                nd.drop_if(a > nd.const(t.hi, t))            # never true
            elif kind == 4 and shape == "counted":
                nd.reject_if(rec.n > bound)                 # what the record's check already says
            elif kind == 5:
                nd.drop_if(a == k)
                nd.drop_if(a == k)                          # implied false by the first
            elif kind == 6:
                vals.append(nd.where(a < b, a.cast(t), a) // (a - a + nd.const(c % 3, t)))
            elif kind == 7:
                vals.append(a % (b - b) + (a << zero))       # x % 0 == x, x << 0 == x
            elif kind == 8:
                vals.append(a << (zero + nd.const(t.bits + c % 5, nd.u8)))    # shifted by the width or more
            elif kind == 9:
                vals.append(a >> (zero + nd.const(t.bits + c % 5, nd.u8)))
            elif kind == 10:
                vals.append(state[zero.cast(nd.u32) + nd.const(1000 + c % 9, nd.u32)])   # out of range
            elif kind == 11:
                state.write(zero, a.cast(nd.u32), when=a > b)
            elif kind == 12:
                vals.append(state.update_if(a.cast(nd.u8), b.cast(nd.u32), ["gt", "le", "always"][c % 3]).cast(nd.u8))
            elif kind == 13:
                [nd.pass_if, nd.transmit_if, nd.drop_if][c % 3]((a ^ b) == k)
            elif kind == 14:
                vals.append(~~a if c & 1 else ~(a < b).cast(nd.u8))
            elif kind == 15:
                vals.append(((a ^ nd.const(k, t)) ^ nd.const(c % (t.hi + 1), t)).cast(nd.u64).cast(t))
            elif kind == 16 and shape == "counted":
                nd.drop_if(rec.n.cast(nd.u16) != nd.const(c % (bound + 2), nd.u16))   # pins the count, or not
            elif kind == 17:
                nd.reject_if(nd.where(a > b, nd.const(1, nd.u8), nd.const(0, nd.u8)).cast(nd.bool_) & (a < b))
            elif kind == 18:
                vals.append(nd.bucketize(a, sorted({t.lo, k})) + nd.const(0, nd.u8))
            else:
                vals.append(a.cast(t) - nd.const(0, t))
        if map_at == len(steps):
            add_map()
        out = [v for v in vals[-2:] if v.type != nd.bool_] + mapped[-1:]
        if final == "drop":
            return nd.drop()
        return {"pass": nd.to_host, "transmit": nd.transmit}[final](*out)

    return PipelineDef(body, port, Rec, "records", SourceLoc(__file__, 1)).trace()

"""Hypothesis strategies for random pipelines, built through the DSL as a user would."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import nicc.dsl as nd
from nicc.dsl.pipeline import PipelineDef
from nicc.compiler.errors import SourceLoc
from nicc.compiler.types import Scalar

INTS = [nd.u8, nd.u16, nd.u32, nd.u64, nd.i8, nd.i16, nd.i32, nd.i64]


@st.composite
def pipelines(draw, with_state: bool = True):
    """A random well-typed pipeline: a few fields, a random expression DAG, effects and an emit."""
    fields = {f"f{i}": draw(st.sampled_from(INTS)) for i in range(draw(st.integers(1, 4)))}
    arr_t = draw(st.sampled_from([None, nd.u8, nd.u16, nd.u32]))
    ns = dict(fields)
    if arr_t is not None:
        ns["xs"] = nd.array(arr_t, draw(st.integers(1, 6)))
    if draw(st.booleans()):
        ns["tail"] = nd.rest
    Rec = type("Rec", (nd.Record,), ns)
    steps = draw(st.lists(st.tuples(st.integers(0, 16), st.integers(0, 10**6), st.integers(0, 10**6),
                                    st.integers(0, 2**64 - 1)), min_size=1, max_size=12))
    lut_vals = draw(st.lists(st.integers(0, 65535), min_size=256, max_size=256))
    table = nd.lut(lambda x: lut_vals[int(x)], domain=nd.u8, out=nd.u16, name="t")
    state = nd.state("s", nd.u32, size=draw(st.sampled_from([1, 7, 64])))
    final = draw(st.sampled_from(["pass", "transmit", "drop"]))
    port = draw(st.integers(1, 65535))

    def body(rec):
        vals = [getattr(rec, f) for f in fields]
        if arr_t is not None:
            vals.append(rec.xs.map(lambda x: (x ^ 1).cast(nd.u8) if x.type != nd.u8 else x + 1))
        scal = lambda: [v for v in vals if isinstance(v.type, Scalar) and v.type != nd.bool_]
        for kind, i, j, c in steps:
            s = scal()
            a = s[i % len(s)]
            b = s[j % len(s)].cast(a.type, "sat" if c & 1 else "wrap")
            t: Scalar = a.type
            const = c % (t.hi + 1) if not t.signed else (c % (t.hi - t.lo + 1)) + t.lo
            if kind == 0:
                vals.append(a + b)
            elif kind == 1:
                vals.append(a.sub(b, "sat"))
            elif kind == 2:
                vals.append(a.mul(const, "sat" if c & 2 else "wrap"))
            elif kind == 3:
                vals.append(a // b)
            elif kind == 4:
                vals.append(a % b)
            elif kind == 5:
                vals.append((a & b) | (a ^ const))
            elif kind == 6:
                vals.append(a << b.cast(nd.u8))
            elif kind == 7:
                vals.append(a >> nd.const(c % t.bits, nd.u8))      # a constant shift is less than the width
            elif kind == 8:
                vals.append(nd.where(a < b, a, b))
            elif kind == 9:
                vals.append(~a)
            elif kind == 10:
                vals.append(nd.bucketize(a, sorted({t.lo, const, t.hi})))
            elif kind == 11:
                vals.append(nd.crc32(a.cast(nd.u32 if c & 1 else nd.u64)))
            elif kind == 12:
                vals.append(table(a.cast(nd.u8)))
            elif kind == 13 and with_state:
                vals.append(state[a.cast(nd.u16)])
            elif kind == 14 and with_state:
                state.write(a.cast(nd.u8), b.cast(nd.u32), when=a > b)
            elif kind == 15 and with_state:
                vals.append(state.update_if(a.cast(nd.u32), b.cast(nd.u32), ["gt", "le", "ne", "always"][c % 4])
                            .cast(nd.u8))
            elif kind == 16:
                nd.drop_if((a ^ b) == const)
        out = [v for v in vals[-3:] if v.type != nd.bool_]
        if final == "drop":
            return nd.drop()
        return {"pass": nd.to_host, "transmit": nd.transmit}[final](*out)

    return PipelineDef(body, port, Rec, "random", SourceLoc(__file__, 1)).trace()


def random_frames(p, n: int, seed: int) -> list[bytes]:
    from nicc.runtime.packets import udp_frame
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ln = int(rng.integers(0, 80))
        f = udp_frame(rng.bytes(ln), p.port, rng)
        out.append(bytes(f))
    return out


CMPS = ["eq", "ne", "lt", "le", "gt", "ge", "always"]


@st.composite
def state_pipelines(draw):
    """A random pipeline built around state: one to three arrays (some of one slot, so keys
    collide; u16 keys often out of range), reads, conditional writes and update_if with every
    comparison, verdicts between state nodes (so later effects skip some packets), state
    results feeding arithmetic and sometimes later indices (which forces one packet at a time)."""
    fields = {f"k{i}": draw(st.sampled_from(INTS)) for i in range(draw(st.integers(1, 3)))}
    Rec = type("Rec", (nd.Record,), {**fields, "tail": nd.rest})
    specs = [(f"s{i}", draw(st.sampled_from(INTS)), draw(st.sampled_from([1, 2, 5, 64, 300])))
             for i in range(draw(st.integers(1, 3)))]
    steps = draw(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 99), st.integers(0, 99),
                                    st.integers(0, 2**64 - 1)), min_size=1, max_size=10))
    final = draw(st.sampled_from(["pass", "transmit", "drop", "multicast"]))
    port = draw(st.integers(1, 65534))          # generate() mutates the port to port + 1

    def body(rec):
        states = [nd.state(name, t, size=size) for name, t, size in specs]
        vals = [getattr(rec, f) for f in fields]
        ints = lambda: [v for v in vals if v.type != nd.bool_]
        for kind, i, j, c in steps:
            s = states[c % len(states)]
            a, b = ints()[i % len(ints())], ints()[j % len(ints())]
            key = a.cast(nd.u16 if c & 8 else nd.u8)
            v = b.cast(s.elem, "sat" if c & 16 else "wrap")
            if kind == 0:
                vals.append(s[key])
            elif kind == 1:
                s.write(key, v, when=(b.cast(nd.u8) & 3) != 0)
            elif kind in (2, 3):
                vals.append(s.update_if(key, v, CMPS[(c >> 5) % len(CMPS)]).cast(nd.u8))
            elif kind == 4:
                nd.drop_if((a.cast(nd.u8) & 7) == (c & 7))
            elif kind == 5:
                [nd.pass_if, nd.transmit_if][c & 1]((b.cast(nd.u8) & 15) == (c & 15))
            elif kind == 6:
                vals.append(a + b.cast(a.type, "sat"))
            else:
                vals.append(nd.where(a < b.cast(a.type), a, b.cast(a.type)))
        out = [v for v in ints()[-3:]]
        if final == "multicast":
            if port & 1:              # copies rewritten per member (the port's parity: any draw does)
                kids = [nd.member(k, mac=f"02:00:00:00:00:{k:02x}", ip=f"10.0.0.{k}", udp=9000 + k) for k in (1, 2, 3)]
                return nd.multicast(nd.group("g", kids, src=nd.addr(ip="10.9.9.9", udp=4000)), *out)
            return nd.multicast(nd.group("g", [1, 2, 3]), *out)
        if final == "drop":
            return nd.drop()
        return {"pass": nd.to_host, "transmit": nd.transmit}[final](*out)

    return PipelineDef(body, port, Rec, "random_state", SourceLoc(__file__, 1)).trace()


def frames_for(p, n: int, seed: int) -> list[bytes]:
    """Half the generated traffic of ``nicc test`` (boundary values, repeating keys, broken
    framing), half random payloads, interleaved."""
    from nicc.runtime.packets import generate
    a, b = generate(p, n - n // 2, seed), random_frames(p, n // 2, seed)
    return [f for pair in zip(a, b) for f in pair] + a[len(b):]

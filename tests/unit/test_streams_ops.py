"""The stream, window, scan and host ops (docs/streams.md) on the reference interpreter, each against
plain Python/numpy written from the op's definition; their text form; their structural rules."""
import struct
from fractions import Fraction

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.errors import NiccError
from nicc.compiler.interp import Reference
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.dsl.pipeline import PipelineDef
from nicc.compiler.errors import SourceLoc
from nicc.runtime.packets import udp_frame

RNG = np.random.default_rng(0)


def build(fn, rec, port=9200, traffic=None):
    return run_passes(PipelineDef(fn, port, rec, fn.__name__, SourceLoc(__file__, 1), traffic).trace())


def run(ir, payloads):
    frames = [bytes(udp_frame(p, ir.port, RNG)) for p in payloads]
    return [(r.verdict, r.reason, [f[42:] for f in r.frames]) for r in Reference(ir).run(frames)]


def roundtrip(ir):
    text = str(ir)
    assert str(verify(parse_pipeline(text))) == text


class Idx(nd.Record):
    i = nd.u16
    n = nd.u8
    xs = nd.array(nd.u16, count="n", max=6)


def test_gather_reads_zero_past_the_count():
    def p(rec: Idx):
        return nd.to_host(rec.xs[rec.i], rec.xs[2])
    ir = build(p, Idx)
    roundtrip(ir)
    for i in range(9):
        for n in range(7):
            xs = [int(v) for v in RNG.integers(1, 65536, n)]
            pl = struct.pack(f"!HB{n}H", i, n, *xs)
            want = struct.pack("!HH", xs[i] if i < n else 0, xs[2] if 2 < n else 0)
            assert run(ir, [pl]) == [("pass", "selected", [want])]


def test_range_rom_and_windowed_map():
    tab = nd.rom([5, 7, 11, 13, 17], nd.u16, name="primes")

    def p(rec: Idx):
        ks = nd.range(rec.i, max=4)                      # 0 .. min(i, 4) - 1
        return nd.to_host(ks.map(lambda k: tab[k + 1] + rec.xs[k] + rec.xs[k + 1]))
    ir = build(p, Idx)
    roundtrip(ir)
    for i in range(7):
        xs = [int(v) for v in RNG.integers(0, 1000, 6)]
        got = run(ir, [struct.pack("!HB6H", i, 6, *xs)])[0][2][0]
        prim = [5, 7, 11, 13, 17, 0]
        want = [prim[k + 1] + xs[k] + (xs[k + 1] if k + 1 < 6 else 0) for k in range(min(i, 4))]
        assert list(struct.unpack(f"!{len(want)}H", got)) == want


class Put(nd.Record):
    slot = nd.u16
    off = nd.u16
    v = nd.u32
    n = nd.u8
    xs = nd.array(nd.u16, count="n", max=5)


st = nd.stream("st", slots=4, last=nd.u32, seen=nd.u16, arr=nd.array(nd.u16, 6))


def test_stream_records_persist_per_slot():
    """Reads give the stored record (0 at first, 0 out of range), writes are kept per slot, array
    stores land at the offset and drop what falls past the field."""
    def p(rec: Put):
        s = st[rec.slot]
        old, arr = s.last, s.arr
        s.last = rec.v
        s.seen = s.seen + 1
        s.arr.write_at(rec.off, rec.xs)
        return nd.to_host(old, arr)
    ir = build(p, Put)
    roundtrip(ir)
    assert ir.stateful
    model = {k: [0, 0, [0] * 6] for k in range(4)}
    payloads, want = [], []
    for _ in range(200):
        slot, off, n = int(RNG.integers(0, 6)), int(RNG.integers(0, 8)), int(RNG.integers(0, 6))
        v = int(RNG.integers(0, 2**32))
        xs = [int(x) for x in RNG.integers(0, 65536, n)]
        payloads.append(struct.pack(f"!HHIB{n}H", slot, off, v, n, *xs))
        rec = model.get(slot, [0, 0, [0] * 6])
        want.append(struct.pack("!I6H", rec[0], *rec[2]))
        if slot in model:
            rec[0] = v
            rec[1] += 1
            for k, x in enumerate(xs):
                if off + k < 6:
                    rec[2][off + k] = x
    assert [r[2][0] for r in run(ir, payloads)] == want


class Seq(nd.Record):
    key = nd.u32
    seq = nd.u16


seqs = nd.stream("seqs", slots=8, key=nd.u32, next=nd.u16)


def test_expect_rejects_out_of_sequence_and_keeps_the_record():
    def p(rec: Seq):
        s = seqs[rec.key & 7]
        s.expect(restart=rec.seq == 0, key=rec.key, next=rec.seq)
        s.write(key=rec.key, next=rec.seq + 1)
        return nd.to_host()
    ir = build(p, Seq)
    pl = lambda k, q: struct.pack("!IH", k, q)                         # noqa: E731
    got = [r[1] for r in run(ir, [pl(1, 0), pl(1, 1), pl(1, 3), pl(1, 2), pl(1, 2), pl(9, 3), pl(9, 0),
                                  pl(1, 3), pl(9, 1), pl(1, 0)])]
    assert got == ["selected", "selected", "malformed", "selected", "malformed", "malformed", "selected",
                   "malformed", "selected", "selected"]


class Text(nd.Record):
    k = nd.u8
    text = nd.array(nd.u8, rest=True, max=40)


def test_scan_counts_puts_and_stops_at_its_bound():
    """Split a text at spaces: output = lengths of the words (a loop with carried state)."""
    def p(rec: Text):
        L = rec.text.count

        def step(c):
            eof = c.pos >= L
            sp = (rec.text[c.pos] == 32) | eof
            ends = sp & (c.run > 0)
            c.put(c.n, c.run, ends)
            return {"cont": ~eof, "pos": c.pos + 1, "n": nd.where(ends, c.n + 1, c.n),
                    "run": nd.where(sp, nd.const(0, nd.u16), c.run + 1)}
        z = nd.const(0, nd.u16)
        res = nd.scan(step, max_steps=30, out=nd.u16, out_max=3, count="n", pos=z, n=z, run=z)
        return nd.to_host(res.n, res.pos, res.out)
    ir = build(p, Text)
    roundtrip(ir)
    for text in [b"", b"a", b"ab cd", b"  a  bcd e ", b"one two three four", b"x" * 28, b"x" * 29, b"y " * 20]:
        words = [len(w) for w in text.split(b" ") if w]
        got = run(ir, [b"\0" + text])[0]
        if len(text) + 1 > 30:                                         # needs more steps than declared
            assert got[:2] == ("pass", "malformed")
            continue
        n, pos = struct.unpack("!HH", got[2][0][:4])
        assert (n, pos) == (len(words), len(text) + 1)
        assert list(struct.unpack(f"!{min(n, 3)}H", got[2][0][4:])) == words[:3]   # out_max = 3


def test_rest_array_length_rules():
    def p(rec: Text):
        return nd.to_host(rec.text.count)
    ir = build(p, Text)
    assert run(ir, [b""])[0][1] == "malformed"
    assert run(ir, [b"\x01"])[0][2] == [b"\0\0"]
    assert run(ir, [b"\x01" + b"a" * 40])[0][2] == [struct.pack("!H", 40)]
    assert run(ir, [b"\x01" + b"a" * 41])[0][1] == "malformed"


def double_payload(payload: bytes, times: str = "2") -> bytes:
    return payload * int(times)


def test_host_if_hands_the_payload_to_the_host_function():
    h = nd.host("twice", f"{__name__}:double_payload", "3")

    def p(rec: Text):
        nd.host_if(rec.k == 7, h)
        return nd.to_host(rec.k)
    ir = build(p, Text)
    roundtrip(ir)
    res = Reference(ir).run([bytes(udp_frame(b"\x07ab", 9200, RNG)), bytes(udp_frame(b"\x06ab", 9200, RNG))])
    assert (res[0].verdict, res[0].reason, res[0].frames[0][42:]) == ("pass", "host", b"\x07ab" * 3)
    assert (res[1].reason, res[1].frames[0][42:]) == ("selected", b"\x06")


class Two(nd.Record):
    a = nd.u32
    b = nd.i32


@pytest.mark.parametrize("mode", ["half_up", "half_even", "floor"])
def test_shr_round_is_exact(mode):
    def p(rec: Two):
        return nd.to_host(*[rec.a.shr_round(n, mode) for n in (1, 3, 16, 31)],
                          *[rec.b.shr_round(n, mode) for n in (1, 3, 16, 31)])
    ir = build(p, Two)

    def rnd(x, n):
        q = Fraction(x, 1 << n)
        f = q.numerator // q.denominator
        r = q - f
        if mode == "floor":
            return f
        if mode == "half_up":
            return f + (r >= Fraction(1, 2))
        return f + (r > Fraction(1, 2) or (r == Fraction(1, 2) and f % 2 == 1))
    vals = [0, 1, 2, 3, 5, 7, 8, 12, 0x7FFF, 0x8000, 0x18000, 0x28000, 2**31 - 1, 2**31, 2**32 - 1]
    for a in vals + [int(v) for v in RNG.integers(0, 2**32, 40)]:
        b = int(np.int32(np.uint32(a ^ 0x5A5A5A5A)))
        got = struct.unpack("!4I4i", run(ir, [struct.pack("!Ii", a, b)])[0][2][0])
        want = [rnd(a, n) for n in (1, 3, 16, 31)] + [rnd(b, n) for n in (1, 3, 16, 31)]
        assert list(got) == want, (a, b)


def test_fixed_point_tracks_fractional_bits():
    class W(nd.Record):
        w = nd.u16
        x = nd.u8

    def p(rec: W):
        f = nd.Fixed(rec.w, 8) * rec.x.cast(nd.u16)                   # u16, 8 fractional bits
        return nd.to_host(f.widen(nd.u32).round(0, "half_even").to(nd.u8))
    ir = build(p, W)
    for w in (0, 1, 128, 255, 256):
        for x in (0, 1, 2, 3, 255):
            v = (w * x) & 0xFFFF
            assert run(ir, [struct.pack("!HB", w, x)])[0][2][0] == bytes([min(255, round(Fraction(v, 256)))])


@pytest.mark.parametrize("body,message", [
    ("%1:u16 = carry[index=0]", "carry outside a scan body"),
    ("put %0, %0, %2", "put outside a scan body"),
])
def test_scan_only_ops_outside_a_scan_are_refused(body, message):
    text = ("pipeline x port 1 {  # x.nir:1\n  %0:u16 = payload_len  # x.nir:2\n"
            "  %2:bool = const[value=1]  # x.nir:3\n" f"  {body}  # x.nir:4\n"
            "  verdict[verdict=pass, group=none]  # x.nir:5\n}\n")
    with pytest.raises(NiccError) as e:
        verify(parse_pipeline(text, "x.nir"))
    assert message in e.value.message and e.value.loc.line == 4


def test_effects_inside_a_scan_body_are_refused():
    text = """pipeline x port 1 {  # x.nir:1
  stream @s [2] {a:u16}  # x.nir:2
  %0:u16 = payload_len  # x.nir:3
  %1:bool = const[value=1]  # x.nir:4
  %2:{i:u16} = scan[max=3, names=(i), out=u16, out_max=0] %0 {  # x.nir:5
    %3:u16 = carry[index=0]  # x.nir:6
    stream_write[stream=s, field=a] %3, %3, %1  # x.nir:7
    yield[names=(cont, i)] %1, %3  # x.nir:8
  }
  verdict[verdict=pass, group=none]  # x.nir:10
}
"""
    with pytest.raises(NiccError) as e:
        verify(parse_pipeline(text, "x.nir"))
    assert "not allowed inside a scan body" in e.value.message and e.value.loc.line == 7


def test_large_tables_print_as_a_blob_and_parse_back():
    big = nd.rom(np.arange(10000) * 7 % 65521, nd.u16, name="big")

    def p(rec: Idx):
        return nd.to_host(big[rec.i])
    ir = build(p, Idx)
    text = str(ir)
    assert "table @big : u32 -> u16 = blob 10000 " in text and len(text) < 40000
    q = verify(parse_pipeline(text))
    assert np.array_equal(q.tables["big"].values, ir.tables["big"].values) and str(q) == text

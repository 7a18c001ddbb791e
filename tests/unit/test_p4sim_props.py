"""Property tests for p4sim: evaluator arithmetic against a Python reference
written from the P4_16 v1.2.4 specification (section 8.5 for int<W>, 8.6
for bit<W>), lpm tables against brute force, and csum16 against scapy.
"""
from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import IP, raw

from nicc.runtime import p4sim

OPS = [  # name, P4 expression, result width (None: W)
    ("add", "a + b", None), ("sub", "a - b", None), ("mul", "a * b", None),
    ("band", "a & b", None), ("bor", "a | b", None), ("bxor", "a ^ b", None),
    ("sadd", "a |+| b", None), ("ssub", "a |-| b", None),
    ("shl", "a << sh", None), ("shr", "a >> sh", None),
    ("neg", "-a", None), ("inv", "~a", None),
    ("lt", "(a < b) ? 8w1 : 8w0", 8), ("ge", "(a >= b) ? 8w1 : 8w0", 8),
    ("eq", "(a == b) ? 8w1 : 8w0", 8),
]


def reference(op: str, a: int, b: int, sh: int, w: int, signed: bool) -> int:
    """Spec semantics on mathematical integers, then the result's bit pattern."""
    mod = 1 << w
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, mod - 1)
    if signed:      # the operands' values as two's complement numbers
        a = a - mod if a >= 1 << (w - 1) else a
        b = b - mod if b >= 1 << (w - 1) else b
    r = {
        "add": a + b, "sub": a - b, "mul": a * b, "band": a & b, "bor": a | b, "bxor": a ^ b,
        "sadd": min(max(a + b, lo), hi), "ssub": min(max(a - b, lo), hi),
        "shl": a * 2 ** sh, "shr": a // 2 ** sh,            # >> is arithmetic on int<W> (floor)
        "neg": -a, "inv": -a - 1,
        "lt": int(a < b), "ge": int(a >= b), "eq": int(a == b),
    }[op]
    return r % mod if op not in ("lt", "ge", "eq") else r


@functools.lru_cache(maxsize=None)
def arith_switch(w: int, signed: bool):
    t = f"{'int' if signed else 'bit'}<{w}>"
    fields = f"{t} a; {t} b; bit<8> sh; " + " ".join(
        f"{'bit<8>' if rw else t} r_{n};" for n, _, rw in OPS)
    body = " ".join(f"hdr.d.r_{n} = {_qual(e)};" for n, e, _ in OPS)
    src = f"""#include <core.p4>
#include <v1model.p4>
header d_t {{ {fields} }}
struct headers {{ d_t d; }}
struct meta_t {{ }}
parser P(packet_in pkt, out headers hdr, inout meta_t meta, inout standard_metadata_t sm) {{
    state start {{ pkt.extract(hdr.d); transition accept; }}
}}
control VC(inout headers hdr, inout meta_t meta) {{ apply {{ }} }}
control I(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) {{
    apply {{ sm.egress_spec = 1; {body} }}
}}
control E(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) {{ apply {{ }} }}
control CC(inout headers hdr, inout meta_t meta) {{ apply {{ }} }}
control D(packet_out pkt, in headers hdr) {{ apply {{ pkt.emit(hdr.d); }} }}
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
"""
    return p4sim.Switch(p4sim.load(src, filename=f"arith{w}{'s' if signed else 'u'}.p4"))


def _qual(e: str) -> str:
    import re
    return re.sub(r"\b(a|b|sh)\b", r"hdr.d.\1", e)


def _run(w, signed, a, b, sh):
    sw = arith_switch(w, signed)
    widths = [w, w, 8] + [rw or w for _, _, rw in OPS]
    v = (a << (w + 8)) | (b << 8) | sh
    for rw in widths[3:]:
        v <<= rw
    frame = v.to_bytes(sum(widths) // 8, "big")
    (port, out), = sw.process(frame, 0)
    x = int.from_bytes(out, "big")
    res = []
    for rw in reversed(widths):
        res.append(x & ((1 << rw) - 1))
        x >>= rw
    return dict(zip([n for n, _, _ in OPS], res[::-1][3:]))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([(8, False), (16, False), (32, False), (8, True), (16, True), (64, True)]),
       st.data())
def test_fixed_width_arithmetic_matches_spec_reference(ws, data):
    w, signed = ws
    a = data.draw(st.integers(0, (1 << w) - 1), "a")
    b = data.draw(st.integers(0, (1 << w) - 1), "b")
    sh = data.draw(st.integers(0, w + 3), "sh")
    got = _run(w, signed, a, b, sh)
    for name, _, _ in OPS:
        assert got[name] == reference(name, a, b, sh, w, signed), (name, a, b, sh)


@functools.lru_cache(maxsize=None)
def _lpm_prog():
    return p4sim.load("""#include <core.p4>
#include <v1model.p4>
header d_t { bit<32> dst; bit<16> res; }
struct headers { d_t d; }
struct meta_t { }
parser P(packet_in pkt, out headers hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.d); transition accept; }
}
control VC(inout headers hdr, inout meta_t meta) { apply { } }
control I(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) {
    action set(bit<16> v) { hdr.d.res = v; }
    table t { key = { hdr.d.dst : lpm; } actions = { set; } default_action = set(0xFFFF); }
    apply { sm.egress_spec = 1; t.apply(); }
}
control E(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr.d); } }
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
""", "lpm.p4")


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.tuples(st.integers(0, 32), st.integers(0, 2**32 - 1)), st.integers(0, 1000),
                       max_size=12),
       st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=10))
def test_lpm_matches_brute_force_longest_prefix(entries, lookups):
    sw = p4sim.Switch(_lpm_prog())
    routes = {}
    for (plen, value), v in entries.items():
        prefix = value >> (32 - plen) << (32 - plen) if plen else 0
        if (prefix, plen) in routes:
            continue
        routes[(prefix, plen)] = v
        sw.table_add("t", "set", [(prefix, plen)], [v])
    for dst in lookups:
        best = max(((plen, v) for (p, plen), v in routes.items()
                    if plen == 0 or dst >> (32 - plen) == p >> (32 - plen)), default=(None, 0xFFFF))
        (port, out), = sw.process(dst.to_bytes(4, "big") + b"\0\0", 0)
        assert int.from_bytes(out[4:6], "big") == best[1]


@functools.lru_cache(maxsize=None)
def _csum_prog():
    return p4sim.load("""#include <core.p4>
#include <v1model.p4>
header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> diffserv; bit<16> totalLen; bit<16> identification;
    bit<3> flags; bit<13> fragOffset; bit<8> ttl; bit<8> protocol; bit<16> hdrChecksum;
    bit<32> srcAddr; bit<32> dstAddr;
}
struct headers { ipv4_t ipv4; }
struct meta_t { }
parser P(packet_in pkt, out headers hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.ipv4); transition accept; }
}
control VC(inout headers hdr, inout meta_t meta) { apply { } }
control I(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { sm.egress_spec = 1; } }
control E(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers hdr, inout meta_t meta) {
    apply {
        update_checksum(true, { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.totalLen,
            hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.fragOffset, hdr.ipv4.ttl, hdr.ipv4.protocol,
            hdr.ipv4.srcAddr, hdr.ipv4.dstAddr }, hdr.ipv4.hdrChecksum, HashAlgorithm.csum16);
    }
}
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr.ipv4); } }
V1Switch(P(), VC(), I(), E(), CC(), D()) main;
""", "csum.p4")


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 255), st.integers(0, 65535), st.integers(0, 7), st.integers(0, 8191),
       st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_csum16_equals_scapy_ipv4_checksum(tos, ident, flags, frag, ttl, proto, src, dst):
    pkt = IP(tos=tos, id=ident, flags=flags, frag=frag, ttl=ttl, proto=proto, src=src, dst=dst, len=20)
    good = raw(pkt)                          # scapy computes the header checksum (RFC 1071)
    broken = good[:10] + b"\x00\x00" + good[12:]
    (port, out), = p4sim.Switch(_csum_prog()).process(broken, 0)
    assert out == good

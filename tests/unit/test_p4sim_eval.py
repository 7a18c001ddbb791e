"""p4sim evaluator: v1model / bmv2 simple_switch behaviour on hand-written programs.

Expected outputs come from the P4_16 v1.2.4 specification (section numbers in
comments), bmv2's documented behaviour (behavioral-model docs/simple_switch.md
and targets/simple_switch/simple_switch.cpp) and independent computations in
the tests (scapy for IPv4 checksums, zlib for CRC-32), never from the
evaluator itself.
"""
from __future__ import annotations

import zlib

import pytest
from scapy.all import IP, UDP, Ether, raw

from nicc.runtime import p4sim

ARCH = """#include <core.p4>
#include <v1model.p4>
"""
TAIL = "V1Switch(P(), VC(), I(), E(), CC(), D()) main;\n"


def program(header: str, ingress: str, *, locals_: str = "", egress: str = "", meta: str = "bit<8> m;",
            parser: str | None = None, deparser: str = "pkt.emit(hdr.d);", headers: str = "d_t d;",
            egress_locals: str = "") -> str:
    parser = parser or "state start { pkt.extract(hdr.d); transition accept; }"
    return ARCH + f"""
header d_t {{ {header} }}
struct headers {{ {headers} }}
struct meta_t {{ {meta} }}
parser P(packet_in pkt, out headers hdr, inout meta_t meta, inout standard_metadata_t sm) {{
    {parser}
}}
control VC(inout headers hdr, inout meta_t meta) {{ apply {{ }} }}
control I(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) {{
    {locals_}
    apply {{
        sm.egress_spec = 1;
        {ingress}
    }}
}}
control E(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) {{
    {egress_locals}
    apply {{ {egress} }}
}}
control CC(inout headers hdr, inout meta_t meta) {{ apply {{ }} }}
control D(packet_out pkt, in headers hdr) {{ apply {{ {deparser} }} }}
""" + TAIL


def switch(src: str) -> p4sim.Switch:
    return p4sim.Switch(p4sim.load(src, filename="t.p4"))


# ----------------------------------------------------------------------------- IPv4 forwarding

BASIC = ARCH + """
const bit<16> TYPE_IPV4 = 0x800;
typedef bit<9>  egressSpec_t;
typedef bit<48> macAddr_t;
typedef bit<32> ip4Addr_t;
header ethernet_t { macAddr_t dstAddr; macAddr_t srcAddr; bit<16> etherType; }
header ipv4_t {
    bit<4> version; bit<4> ihl; bit<8> diffserv; bit<16> totalLen; bit<16> identification;
    bit<3> flags; bit<13> fragOffset; bit<8> ttl; bit<8> protocol; bit<16> hdrChecksum;
    ip4Addr_t srcAddr; ip4Addr_t dstAddr;
}
struct metadata { }
struct headers { ethernet_t ethernet; ipv4_t ipv4; }
parser MyParser(packet_in packet, out headers hdr, inout metadata meta, inout standard_metadata_t standard_metadata) {
    state start { transition parse_ethernet; }
    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) { TYPE_IPV4: parse_ipv4; default: accept; }
    }
    state parse_ipv4 { packet.extract(hdr.ipv4); transition accept; }
}
control MyVerifyChecksum(inout headers hdr, inout metadata meta) { apply { } }
control MyIngress(inout headers hdr, inout metadata meta, inout standard_metadata_t standard_metadata) {
    action drop() { mark_to_drop(standard_metadata); }
    action ipv4_forward(macAddr_t dstAddr, egressSpec_t port) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.srcAddr = hdr.ethernet.dstAddr;
        hdr.ethernet.dstAddr = dstAddr;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }
    table ipv4_lpm {
        key = { hdr.ipv4.dstAddr: lpm; }
        actions = { ipv4_forward; drop; NoAction; }
        size = 1024;
        default_action = drop();
    }
    apply { if (hdr.ipv4.isValid()) { ipv4_lpm.apply(); } }
}
control MyEgress(inout headers hdr, inout metadata meta, inout standard_metadata_t standard_metadata) { apply { } }
control MyComputeChecksum(inout headers hdr, inout metadata meta) {
    apply {
        update_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.totalLen, hdr.ipv4.identification,
              hdr.ipv4.flags, hdr.ipv4.fragOffset, hdr.ipv4.ttl, hdr.ipv4.protocol,
              hdr.ipv4.srcAddr, hdr.ipv4.dstAddr },
            hdr.ipv4.hdrChecksum, HashAlgorithm.csum16);
    }
}
control MyDeparser(packet_out packet, in headers hdr) {
    apply { packet.emit(hdr.ethernet); packet.emit(hdr.ipv4); }
}
V1Switch(MyParser(), MyVerifyChecksum(), MyIngress(), MyEgress(), MyComputeChecksum(), MyDeparser()) main;
"""


def test_ipv4_lpm_forwarding_ttl_and_checksum():
    sw = switch(BASIC)
    sw.table_add("MyIngress.ipv4_lpm", "MyIngress.ipv4_forward", [(0x0A000000, 8)], [0x0A0000000001, 1])
    sw.table_add("ipv4_lpm", "ipv4_forward", [(0x0A000100, 24)], [0x0A0000000002, 2])
    sw.table_add("ipv4_lpm", "ipv4_forward", [(0x0A000107, 32)], [0x0A0000000003, 3])
    payload = bytes(range(40))

    def pkt(dst, dmac="00:00:00:00:00:aa", ttl=64):
        return Ether(dst=dmac, src="00:00:00:00:00:bb") / IP(src="192.168.0.1", dst=dst, ttl=ttl,
                                                              id=7) / UDP(sport=1, dport=2) / payload

    for dst, port, mac in [("10.9.9.9", 1, "0a:00:00:00:00:01"), ("10.0.1.9", 2, "0a:00:00:00:00:02"),
                           ("10.0.1.7", 3, "0a:00:00:00:00:03")]:
        outs = sw.process(raw(pkt(dst)), 5)
        # expected: scapy rebuilds the IPv4 header checksum for ttl=63 (RFC 791 / RFC 1071)
        exp = Ether(dst=mac, src="00:00:00:00:00:aa") / IP(src="192.168.0.1", dst=dst, ttl=63, id=7) \
            / UDP(sport=1, dport=2) / payload
        exp_bytes = bytearray(raw(exp))
        # the UDP checksum is not updated by the program: keep the input's
        exp_bytes[40:42] = raw(pkt(dst))[40:42]
        assert outs == [(port, bytes(exp_bytes))]
    # default action drop(): mark_to_drop -> egress_spec 511 -> no output
    assert sw.process(raw(pkt("11.0.0.1")), 5) == []
    # non-IPv4 frame: table not applied, egress_spec stays 0 -> port 0, unchanged bytes
    arp = raw(Ether(dst="ff:ff:ff:ff:ff:ff", type=0x0806) / (b"\x00" * 28))
    assert sw.process(arp, 5) == [(0, arp)]


def test_set_default_and_runtime_api_errors():
    sw = switch(BASIC)
    sw.set_default("ipv4_lpm", "ipv4_forward", [0x112233445566, 4])
    f = raw(Ether() / IP(dst="1.1.1.1", ttl=9) / UDP())
    (port, out), = sw.process(f, 0)
    assert port == 4 and out[:6] == bytes.fromhex("112233445566") and IP(out[14:]).ttl == 8
    with pytest.raises(p4sim.P4RuntimeError):
        sw.table_add("ipv4_lpm", "nosuch", [(0, 0)], [])
    with pytest.raises(p4sim.P4RuntimeError):
        sw.table_add("ipv4_lpm", "ipv4_forward", [(0, 0)], [1])          # missing action data


# ----------------------------------------------------------------------------- expressions


def run_fields(sw, values: list[int], widths: list[int], port=0):
    """Send a packet holding ``values`` (big-endian fields of ``widths`` bits); return the output fields."""
    v = 0
    for x, w in zip(values, widths):
        v = (v << w) | (x & ((1 << w) - 1))
    nbytes = sum(widths) // 8
    outs = sw.process(v.to_bytes(nbytes, "big"), port)
    assert len(outs) == 1
    out = int.from_bytes(outs[0][1][:nbytes], "big")
    res = []
    for w in reversed(widths):
        res.append(out & ((1 << w) - 1))
        out >>= w
    return res[::-1]


def test_bit8_wraps_and_saturates():
    # spec 8.6: bit<W> arithmetic is modulo 2^W; |+| / |-| saturate at 2^W-1 / 0
    sw = switch(program("bit<8> a; bit<8> b; bit<8> add; bit<8> sub; bit<8> sadd; bit<8> ssub; bit<8> mul;",
                        "hdr.d.add = hdr.d.a + hdr.d.b; hdr.d.sub = hdr.d.b - hdr.d.a;"
                        "hdr.d.sadd = hdr.d.a |+| hdr.d.b; hdr.d.ssub = hdr.d.b |-| hdr.d.a;"
                        "hdr.d.mul = hdr.d.a * hdr.d.b;"))
    w = [8] * 7
    # 250+10 = 260 = 4 (mod 256); 10-250 = 16 (mod 256); 250*10 = 2500 = 196 (mod 256)
    assert run_fields(sw, [250, 10, 0, 0, 0, 0, 0], w) == [250, 10, 4, 16, 255, 0, 196]
    assert run_fields(sw, [3, 10, 0, 0, 0, 0, 0], w) == [3, 10, 13, 7, 13, 7, 30]


def test_concatenation_and_slices():
    # spec 8.6: a ++ b has width 8+8 (a in the high bits); x[h:l] is bits h..l; slice assignment
    sw = switch(program("bit<8> a; bit<8> b; bit<16> cat; bit<8> mid; bit<4> hi; bit<4> lo; bit<16> w;",
                        "hdr.d.cat = hdr.d.a ++ hdr.d.b; hdr.d.mid = hdr.d.cat[11:4];"
                        "hdr.d.hi = hdr.d.a[7:4]; hdr.d.lo = hdr.d.b[3:0];"
                        "hdr.d.w[15:8] = 8w0xEE; hdr.d.w[3:0] = hdr.d.a[3:0];"))
    w = [8, 8, 16, 8, 4, 4, 16]
    assert run_fields(sw, [0xAB, 0xCD, 0, 0, 0, 0, 0x1234], w) == [0xAB, 0xCD, 0xABCD, 0xBC, 0xA, 0xD, 0xEE3B]


def test_signed_int8_behaviour():
    # spec 8.5/8.6: int<8> is two's complement; + wraps; >> is arithmetic; comparisons are signed;
    # |+| saturates at 127 / -128; casts int<8> <-> bit<8> reinterpret the bits (8.11)
    sw = switch(program("int<8> a; int<8> b; int<8> add; int<8> shr; bit<8> lt; int<8> sat; int<8> neg;"
                        "bit<8> asbits; bit<16> ext;",
                        "hdr.d.add = hdr.d.a + hdr.d.b; hdr.d.shr = hdr.d.a >> 2;"
                        "hdr.d.lt = (hdr.d.a < hdr.d.b) ? 8w1 : 8w0; hdr.d.sat = hdr.d.a |+| hdr.d.b;"
                        "hdr.d.neg = -hdr.d.a; hdr.d.asbits = (bit<8>)hdr.d.a;"
                        "hdr.d.ext = (bit<16>)((int<16>)hdr.d.a);"))
    w = [8] * 8 + [16]
    # a = -100 (0x9c), b = -100: sum -200 wraps to 56; -100 >> 2 = -25 (0xe7); -100 < -100 false;
    # saturating sum clamps to -128 (0x80); -(-100) = 100; bits 0x9c; sign-extended 0xff9c
    assert run_fields(sw, [0x9C, 0x9C, 0, 0, 0, 0, 0, 0, 0], w) == \
        [0x9C, 0x9C, 56, 0xE7, 0, 0x80, 100, 0x9C, 0xFF9C]
    # a = -1, b = 1: -1 < 1 is true for int<8> (it would be false as bit<8> 255 < 1)
    assert run_fields(sw, [0xFF, 1, 0, 0, 0, 0, 0, 0, 0], w) == [0xFF, 1, 0, 0xFF, 1, 0, 1, 0xFF, 0xFFFF]
    # -128: negation wraps to -128; saturating 100 |+| 100 = 127
    assert run_fields(sw, [0x80, 0x80, 0, 0, 0, 0, 0, 0, 0], w)[6] == 0x80
    assert run_fields(sw, [100, 100, 0, 0, 0, 0, 0, 0, 0], w)[5] == 127


def test_crc32_crc16_identity_hash_match_references():
    # v1model hash(): result = base + (H(data) % max) (bmv2 modify_field_with_hash_based_offset);
    # field lists are packed bit-wise MSB first, padded at the end (bmv2 BufBuilder)
    sw = switch(program("bit<8> a; bit<16> b; bit<4> n4; bit<12> n12; bit<32> c1; bit<32> c2; bit<16> c3;"
                        "bit<32> c4; bit<16> c5;",
                        "hash(hdr.d.c1, HashAlgorithm.crc32, 32w0, { hdr.d.a, hdr.d.b }, 64w4294967296);"
                        "hash(hdr.d.c2, HashAlgorithm.crc32, 32w0, { hdr.d.n4, hdr.d.n12, hdr.d.a }, "
                        "64w4294967296);"
                        "hash(hdr.d.c3, HashAlgorithm.crc16, 16w0, { hdr.d.a, hdr.d.b }, 32w65536);"
                        "hash(hdr.d.c4, HashAlgorithm.identity, 32w0, { hdr.d.a, hdr.d.b }, 64w4294967296);"
                        "hash(hdr.d.c5, HashAlgorithm.crc32, 16w100, { hdr.d.a }, 32w1000);"))
    w = [8, 16, 4, 12, 32, 32, 16, 32, 16]
    a, b, n4, n12 = 0x31, 0x3233, 0xA, 0xBCD
    out = run_fields(sw, [a, b, n4, n12, 0, 0, 0, 0, 0], w)
    assert out[4] == zlib.crc32(bytes([0x31, 0x32, 0x33]))
    assert out[5] == zlib.crc32(bytes([0xAB, 0xCD, 0x31]))          # 4 + 12 bits pack into 2 bytes
    # CRC-16/ARC (poly 0x8005 reflected, init 0): independent bitwise reference below
    assert out[6] == _crc16_arc(bytes([0x31, 0x32, 0x33]))
    assert out[7] == 0x313233                                      # identity: the bytes as a number
    assert out[8] == 100 + zlib.crc32(b"\x31") % 1000


def _crc16_arc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc16_arc_reference_check_value():
    assert _crc16_arc(b"123456789") == 0xBB3D                     # CRC catalogue check value


# ----------------------------------------------------------------------------- parser


STACK_PROG = program(
    "bit<8> n;",
    "if (sm.parser_error == error.StackOutOfBounds) { hdr.d.n = 0xEE; }"
    "else if (hdr.items[0].isValid()) { hdr.items[0].v = hdr.items[0].v + 1; }",
    headers="d_t d; item_t[4] items;",
    meta="bit<8> left;",
    parser="""
    state start {
        pkt.extract(hdr.d);
        meta.left = hdr.d.n;
        transition select(meta.left) { 0: accept; default: parse_item; }
    }
    state parse_item {
        pkt.extract(hdr.items.next);
        meta.left = meta.left - 1;
        transition select(meta.left) { 0: accept; default: parse_item; }
    }""",
    deparser="pkt.emit(hdr.d); pkt.emit(hdr.items);").replace(
        "header d_t", "header item_t { bit<16> v; }\nheader d_t")


def test_header_stack_loop_extracts_count_and_reemits():
    # spec 12.8 / 8.18: extract(stack.next) fills elements in order; a parser may loop
    sw = switch(STACK_PROG)
    payload = b"PAYLOAD-\x00\xff"
    frame = bytes([3]) + bytes.fromhex("0001 0002 0003") + payload
    assert sw.process(frame, 0) == [(1, bytes([3]) + bytes.fromhex("0002 0002 0003") + payload)]
    # zero items: nothing extracted, everything after the count byte is payload
    assert sw.process(bytes([0]) + payload, 0) == [(1, bytes([0]) + payload)]


def test_header_stack_overflow_sets_parser_error_but_packet_continues():
    # bmv2 simple_switch: a parser error does not drop the packet; standard_metadata.parser_error is
    # set (StackOutOfBounds, spec 12.8.1) and ingress runs with the headers extracted so far
    sw = switch(STACK_PROG)
    frame = bytes([5]) + bytes.fromhex("0001 0002 0003 0004 0005") + b"tail"
    (port, out), = sw.process(frame, 0)
    assert port == 1
    # the 4 extracted elements are re-emitted; parsing stopped before the 5th: it is payload
    assert out == bytes([0xEE]) + bytes.fromhex("0001 0002 0003 0004 0005") + b"tail"


def test_packet_too_short_parser_error():
    # spec 12.8.1: extract past the end -> error.PacketTooShort; header stays invalid; bmv2 continues
    sw = switch(program("bit<32> x;",
                        "if (sm.parser_error == error.PacketTooShort && !hdr.d.isValid()) { sm.egress_spec = 7; }"))
    assert sw.process(b"\x01\x02", 0) == [(7, b"\x01\x02")]


def test_select_masks_ranges_and_nomatch():
    prog = program("bit<8> k; bit<8> tag;", "",
                   parser="""
    state start {
        pkt.extract(hdr.d);
        transition select(hdr.d.k) {
            0x10 &&& 0xF0: s_mask;
            0x20 .. 0x2F: s_range;
            0x30: accept;
        }
    }
    state s_mask { hdr.d.tag = 1; transition accept; }
    state s_range { hdr.d.tag = 2; transition accept; }""",
                   )
    prog = prog.replace("sm.egress_spec = 1;", "sm.egress_spec = 1;\n if (sm.parser_error == error.NoMatch)"
                                                " { hdr.d.tag = 9; }")
    sw = switch(prog)
    assert sw.process(bytes([0x1A, 0]), 0)[0][1] == bytes([0x1A, 1])
    assert sw.process(bytes([0x2F, 0]), 0)[0][1] == bytes([0x2F, 2])
    assert sw.process(bytes([0x30, 0]), 0)[0][1] == bytes([0x30, 0])
    assert sw.process(bytes([0x40, 0]), 0)[0][1] == bytes([0x40, 9])   # no match: error.NoMatch


def test_unparsed_payload_is_preserved_byte_for_byte():
    sw = switch(program("bit<16> x;", "hdr.d.x = hdr.d.x + 1;"))
    payload = bytes(range(256)) * 3
    assert sw.process(b"\x00\x01" + payload, 0) == [(1, b"\x00\x02" + payload)]


# ----------------------------------------------------------------------------- externs and PRE


REG_PROG = program(
    "bit<8> idx; bit<32> val;",
    "bit<32> tmp = 0xDEADBEEF; counts.read(tmp, (bit<32>)hdr.d.idx); tmp = tmp + 1;"
    "counts.write((bit<32>)hdr.d.idx, tmp); hdr.d.val = tmp;",
    locals_="register<bit<32>>(16) counts;")


def test_registers_persist_across_packets_and_runtime_access():
    sw = switch(REG_PROG)
    outs = [sw.process(bytes([3, 0, 0, 0, 0]), 0)[0][1] for _ in range(3)]
    assert [int.from_bytes(o[1:], "big") for o in outs] == [1, 2, 3]
    assert sw.register_read("counts", 3) == 3
    assert sw.register_read("I.counts", 4) == 0
    sw.register_write("counts", 4, 41)
    out = sw.process(bytes([4, 0, 0, 0, 0]), 0)[0][1]
    assert int.from_bytes(out[1:], "big") == 42 and sw.register_read("counts", 4) == 42


def test_register_out_of_range_read_keeps_destination_and_write_is_ignored():
    # bmv2 register_read: "Dest field was not updated"; register_write: "No register array elements
    # were updated" (targets/simple_switch/primitives.cpp)
    sw = switch(REG_PROG)
    out = sw.process(bytes([200, 0, 0, 0, 0]), 0)[0][1]
    assert int.from_bytes(out[1:], "big") == 0xDEADBEEF + 1
    assert all(sw.register_read("counts", i) == 0 for i in range(16))
    with pytest.raises(p4sim.P4RuntimeError):
        sw.register_read("counts", 16)


MCAST_PROG = program(
    "bit<8> rid; bit<8> port; bit<8> inst;",
    "sm.mcast_grp = 1;",
    egress="hdr.d.rid = sm.egress_rid[7:0]; hdr.d.port = (bit<8>)sm.egress_port;"
           "hdr.d.inst = (bit<8>)sm.instance_type; if (sm.egress_rid == 11) { mark_to_drop(sm); }")


def test_multicast_replication_with_egress_rid_and_egress_drop():
    # bmv2 PRE: one copy per (port, rid) of the group; egress sees egress_port / egress_rid and
    # instance_type = 5 (PKT_INSTANCE_TYPE_REPLICATION); mark_to_drop in egress drops that copy
    sw = switch(MCAST_PROG)
    sw.mc_group_set(1, [(2, 10), (3, 11), (4, 12), (5, 13)])
    outs = sw.process(b"\x00\x00\x00rest", 0)
    assert outs == [(2, bytes([10, 2, 5]) + b"rest"), (4, bytes([12, 4, 5]) + b"rest"),
                    (5, bytes([13, 5, 5]) + b"rest")]
    sw2 = switch(MCAST_PROG)          # unknown group: no copies
    assert sw2.process(b"\x00\x00\x00", 0) == []


def test_mark_to_drop_in_ingress_drops_even_with_unicast_port():
    sw = switch(program("bit<8> a;", "if (hdr.d.a == 1) { mark_to_drop(sm); }"))
    assert sw.process(b"\x01", 0) == []
    assert sw.process(b"\x02", 0) == [(1, b"\x02")]


def test_exit_ends_ingress_but_egress_and_deparser_run():
    # spec 11.7 (exit); v1model: egress still runs after an exited ingress
    sw = switch(program("bit<8> a; bit<8> b;", "hdr.d.a = 1; exit; hdr.d.a = 2;", egress="hdr.d.b = 3;"))
    assert sw.process(b"\x00\x00", 0) == [(1, b"\x01\x03")]


def test_growth_limit():
    # bmv2 simple_switch: PacketBuffer(len + 512): at most 512 bytes of growth
    hdr = "bit<8> a;"
    ok = program(hdr, "hdr.pad.setValid();", headers="d_t d; pad_t pad;",
                 deparser="pkt.emit(hdr.pad); pkt.emit(hdr.d);").replace(
        "header d_t", "header pad_t { bit<4096> x; }\nheader d_t")
    sw = switch(ok)
    (port, out), = sw.process(b"\x07", 0)
    assert len(out) == 1 + 512 and out[-1] == 7
    sw = switch(ok.replace("bit<4096> x;", "bit<4104> x;"))
    with pytest.raises(p4sim.GrowthLimitExceeded):
        sw.process(b"\x07", 0)


# ----------------------------------------------------------------------------- tables


TABLE_PROG = program(
    "bit<8> k; bit<16> r; bit<8> res; bit<8> hit;",
    "t.apply(); if (u.apply().hit) { hdr.d.hit = 1; } "
    "switch (v.apply().action_run) { set_out: { hdr.d.res = hdr.d.res + 100; } default: { } }",
    locals_="""
    action set_out(bit<8> x) { hdr.d.res = x; }
    action tag() { hdr.d.hit = 2; }
    table t { key = { hdr.d.k : ternary; hdr.d.r : range; } actions = { set_out; NoAction; } }
    table u { key = { hdr.d.k : exact; } actions = { tag; NoAction; } default_action = NoAction(); }
    table v {
        key = { hdr.d.k : exact; }
        actions = { set_out; NoAction; }
        const entries = { 0x42 : set_out(7); 0x43 : NoAction(); }
    }""")


def test_ternary_range_priorities_hit_and_switch():
    sw = switch(TABLE_PROG)
    # bmv2 convention: the numerically smallest priority wins among matching ternary entries
    sw.table_add("t", "set_out", [(0x40, 0xF0), (0, 100)], [1], priority=20)
    sw.table_add("t", "set_out", [(0x42, 0xFF), (0, 100)], [2], priority=10)
    sw.table_add("u", "tag", [0x42], [])
    w = [8, 16, 8, 8]
    # t -> 2 (priority 10 beats 20); u hits (tag sets 2, then 'hit' branch sets 1);
    # v const entry 0x42 -> set_out(7), switch adds 100
    assert run_fields(sw, [0x42, 50, 0, 0], w) == [0x42, 50, 107, 1]
    # k = 0x43: t -> 1; u misses (NoAction); v -> NoAction, switch default
    assert run_fields(sw, [0x43, 50, 0, 0], w) == [0x43, 50, 1, 0]
    # r out of range for both t entries: t misses
    assert run_fields(sw, [0x43, 500, 0, 0], w) == [0x43, 500, 0, 0]
    with pytest.raises(p4sim.P4RuntimeError):
        sw.table_add("v", "set_out", [1], [1])        # const entries: immutable


def test_lpm_longest_prefix_wins_and_exact_with_lpm():
    sw = switch(program("bit<8> vrf; bit<32> dst; bit<8> res;", "t.apply();", locals_="""
    action set_out(bit<8> x) { hdr.d.res = x; }
    table t { key = { hdr.d.vrf : exact; hdr.d.dst : lpm; } actions = { set_out; } default_action = set_out(99); }
    """))
    sw.table_add("t", "set_out", [1, (0x0A000000, 8)], [8])
    sw.table_add("t", "set_out", [1, (0x0A010000, 16)], [16])
    sw.table_add("t", "set_out", [2, (0, 0)], [0])
    w = [8, 32, 8]
    assert run_fields(sw, [1, 0x0A010203, 0], w)[2] == 16
    assert run_fields(sw, [1, 0x0A020203, 0], w)[2] == 8
    assert run_fields(sw, [2, 0x0A010203, 0], w)[2] == 0
    assert run_fields(sw, [3, 0x0A010203, 0], w)[2] == 99        # default_action with data


def test_verify_checksum_truncate_and_lookahead():
    # v1model verify_checksum: mismatch sets standard_metadata.checksum_error = 1 (bmv2 copies the
    # packet's checksum error into it before ingress); truncate(n) cuts the outgoing packet to n bytes
    src = program("bit<8> a; bit<8> b; bit<16> c;",
                  "hdr.d.a = (bit<8>)sm.checksum_error; if (meta.m == 0xAB) { truncate(32w5); }",
                  parser="state start { meta.m = pkt.lookahead<bit<8>>(); pkt.extract(hdr.d); transition accept; }")
    src = src.replace("control VC(inout headers hdr, inout meta_t meta) { apply { } }",
                      "control VC(inout headers hdr, inout meta_t meta) { apply { "
                      "verify_checksum(true, { hdr.d.b }, hdr.d.c, HashAlgorithm.csum16); } }")
    sw = switch(src)
    good = 0xFFFF ^ 0x4200                     # csum16 of the single byte 0x42 (padded to 0x4200)
    assert sw.process(bytes([0, 0x42]) + good.to_bytes(2, "big") + b"xyz", 0) == \
        [(1, bytes([0, 0x42]) + good.to_bytes(2, "big") + b"xyz")]
    assert sw.process(bytes([0, 0x42, 0, 0]) + b"xyz", 0) == [(1, bytes([1, 0x42, 0, 0]) + b"xyz")]
    # lookahead saw 0xAB without consuming it; the packet is cut to 5 bytes after deparsing
    assert sw.process(bytes([0xAB, 0x42, 0, 0]) + b"xyz", 0) == [(1, bytes([1, 0x42, 0, 0]) + b"x")]


def test_direct_action_call_copy_in_copy_out():
    # spec 6.7 / 14.1: inout arguments are copied in, and copied out when the action ends
    sw = switch(program("bit<8> a; bit<8> b;", "bump(hdr.d.a, 5); bump(hdr.d.b, hdr.d.a);",
                        locals_="action bump(inout bit<8> x, bit<8> by) { x = x + by; return; x = 0; }"))
    assert sw.process(bytes([1, 2]), 0) == [(1, bytes([6, 8]))]

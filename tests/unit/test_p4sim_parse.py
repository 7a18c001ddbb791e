"""p4sim grammar: a realistic program parses; syntax errors are located.

The accepted program is the P4 tutorials' basic.p4 (p4lang/tutorials,
exercises/basic/solution/basic.p4): IPv4 forwarding with an ``ipv4_lpm``
table, V1Switch package.  Error format: ``file:line:col: error: message``
followed by the source line and a caret (gcc/p4c style).
"""
from __future__ import annotations

import pytest

from nicc.runtime import p4sim
from nicc.runtime.p4sim import ast as A
from nicc.runtime.p4sim.parser import parse

BASIC_P4 = r"""/* -*- P4_16 -*- */
#include <core.p4>
#include <v1model.p4>

const bit<16> TYPE_IPV4 = 0x800;

typedef bit<9>  egressSpec_t;
typedef bit<48> macAddr_t;
typedef bit<32> ip4Addr_t;

header ethernet_t {
    macAddr_t dstAddr;
    macAddr_t srcAddr;
    bit<16>   etherType;
}

header ipv4_t {
    bit<4>    version;
    bit<4>    ihl;
    bit<8>    diffserv;
    bit<16>   totalLen;
    bit<16>   identification;
    bit<3>    flags;
    bit<13>   fragOffset;
    bit<8>    ttl;
    bit<8>    protocol;
    bit<16>   hdrChecksum;
    ip4Addr_t srcAddr;
    ip4Addr_t dstAddr;
}

struct metadata {
    /* empty */
}

struct headers {
    ethernet_t   ethernet;
    ipv4_t       ipv4;
}

parser MyParser(packet_in packet,
                out headers hdr,
                inout metadata meta,
                inout standard_metadata_t standard_metadata) {

    state start {
        transition parse_ethernet;
    }

    state parse_ethernet {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) {
            TYPE_IPV4: parse_ipv4;
            default: accept;
        }
    }

    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        transition accept;
    }
}

control MyVerifyChecksum(inout headers hdr, inout metadata meta) {
    apply {  }
}

control MyIngress(inout headers hdr,
                  inout metadata meta,
                  inout standard_metadata_t standard_metadata) {
    action drop() {
        mark_to_drop(standard_metadata);
    }

    @name("MyIngress.ipv4_forward") action ipv4_forward(macAddr_t dstAddr, egressSpec_t port) {
        standard_metadata.egress_spec = port;
        hdr.ethernet.srcAddr = hdr.ethernet.dstAddr;
        hdr.ethernet.dstAddr = dstAddr;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }

    table ipv4_lpm {
        key = {
            hdr.ipv4.dstAddr: lpm;
        }
        actions = {
            ipv4_forward;
            drop;
            NoAction;
        }
        size = 1024;
        default_action = drop();
    }

    apply {
        if (hdr.ipv4.isValid()) {
            ipv4_lpm.apply();
        }
    }
}

control MyEgress(inout headers hdr,
                 inout metadata meta,
                 inout standard_metadata_t standard_metadata) {
    apply {  }
}

control MyComputeChecksum(inout headers  hdr, inout metadata meta) {
     apply {
        update_checksum(
            hdr.ipv4.isValid(),
            { hdr.ipv4.version,
              hdr.ipv4.ihl,
              hdr.ipv4.diffserv,
              hdr.ipv4.totalLen,
              hdr.ipv4.identification,
              hdr.ipv4.flags,
              hdr.ipv4.fragOffset,
              hdr.ipv4.ttl,
              hdr.ipv4.protocol,
              hdr.ipv4.srcAddr,
              hdr.ipv4.dstAddr },
            hdr.ipv4.hdrChecksum,
            HashAlgorithm.csum16);
    }
}

control MyDeparser(packet_out packet, in headers hdr) {
    apply {
        packet.emit(hdr.ethernet);
        packet.emit(hdr.ipv4);
    }
}

V1Switch(
MyParser(),
MyVerifyChecksum(),
MyIngress(),
MyEgress(),
MyComputeChecksum(),
MyDeparser()
) main;
"""


def test_basic_p4_parses_and_typechecks():
    prog = p4sim.load(BASIC_P4, filename="basic.p4")
    decls = prog.ast.decls
    kinds = [type(d).__name__ for d in decls]
    assert kinds.count("ControlDecl") == 5 and kinds.count("ParserDecl") == 1
    assert prog.checked.main == ["MyParser", "MyVerifyChecksum", "MyIngress", "MyEgress",
                                 "MyComputeChecksum", "MyDeparser"]
    ingress = next(d for d in decls if getattr(d, "name", "") == "MyIngress")
    table = next(l for l in ingress.locals if isinstance(l, A.TableDecl))
    assert table.name == "ipv4_lpm"
    assert [k.match_kind for k in table.keys] == ["lpm"]
    assert [a.name for a in table.actions] == ["ipv4_forward", "drop", "NoAction"]
    assert table.default_action.name == "drop"
    fwd = next(l for l in ingress.locals if isinstance(l, A.ActionDecl) and l.name == "ipv4_forward")
    assert A.name_annotation(fwd.annos) == "MyIngress.ipv4_forward"


def test_literals_and_operators():
    src = """
const bit<16> A = 16w0x0800;
const bit<8> B = 8w255;
const int<8> C = -8s5;
const bit<32> D = 0b1010_1010;
const bit<4> E = 4w0o17;
const bit<64> F = (bit<64>)A ++ (bit<48>)0;
const bool G = (A >> 4) == 0x80 && !(B < 3) || false;
const bit<8> H = B |+| 1;
"""
    prog = parse(src, "lits.p4")
    vals = [d.value for d in prog.decls]
    assert isinstance(vals[0], A.IntLit) and (vals[0].value, vals[0].width) == (0x800, 16)
    assert (vals[2].op, vals[2].expr.signed) == ("-", True)
    assert vals[3].value == 0xAA and vals[4].value == 15
    assert isinstance(vals[5], A.Binary) and vals[5].op == "++" and isinstance(vals[5].left, A.Cast)
    g = vals[6]                      # || binds looser than &&, == looser than >> (spec precedence)
    assert g.op == "||" and g.left.op == "&&" and g.left.left.op == "==" and g.left.left.left.op == ">>"
    assert vals[7].op == "|+|"


def test_generic_types_and_lookahead():
    src = """
header h_t { bit<8> f; }
struct hs { h_t h; h_t[3] st; }
parser P(packet_in pkt, out hs hdr) {
    state start {
        transition select(pkt.lookahead<bit<8>>(), pkt.lookahead<bit<16>>()[7:0]) {
            (8w1, 0x02 &&& 0x0f): s1;
            (_, 3..7): s1;
            default: accept;
        }
    }
    state s1 { pkt.extract(hdr.st.next); pkt.extract<h_t>(hdr.h); transition accept; }
}
control C() {
    register<bit<32>>(32w1024) r;
    @name("x.y") register<bit<48>, bit<8>>(8) r2;
    apply { }
}
"""
    prog = parse(src, "g.p4")
    p = prog.decls[2]
    t = p.states[0].transition
    assert len(t.exprs) == 2 and isinstance(t.exprs[1], A.Slice)
    assert isinstance(t.cases[0].keys[1], A.KsMask) and isinstance(t.cases[1].keys[1], A.KsRange)
    inst = prog.decls[3].locals[0]
    assert inst.type.kind == "spec" and inst.type.args[0].kind == "bit"
    assert prog.decls[3].locals[1].annos[0].name == "name"


def _err(src, name="bad.p4"):
    with pytest.raises(p4sim.P4Error) as ei:
        p4sim.load(src, filename=name)
    return ei.value


def test_syntax_error_missing_semicolon_has_location_and_caret():
    src = "header h_t {\n    bit<8> a\n    bit<8> b;\n}\n"
    e = _err(src)
    # the parser notices at the first token that cannot follow 'a': 'bit' on line 3, column 5
    assert (e.line, e.col) == (3, 5)
    text = str(e)
    assert text.startswith("bad.p4:3:5: error: syntax error")
    lines = text.splitlines()
    assert lines[1] == "    bit<8> b;" and lines[2] == "    ^"


def test_syntax_error_bad_character():
    e = _err("const bit<8> X = 8w1;\nconst bit<8> Y = $;\n")
    assert str(e).startswith("bad.p4:2:18: error: syntax error, unexpected character '$'")
    assert str(e).splitlines()[-1] == " " * 17 + "^"


def test_syntax_error_unexpected_end():
    e = _err("control C() {\n  apply {\n")
    assert e.line >= 2 and "syntax error" in str(e) and str(e).startswith("bad.p4:")


def test_annotations_everywhere_are_kept_or_ignored():
    src = """
@pkginfo(arch="v1model", version="1.0")
@brief header h_t { @name("f") bit<8> f; }
struct hs { h_t h; }
control C(inout hs hdr) {
    @id(0x01000001) @name("C.a") action a(bit<8> v) { hdr.h.f = v; }
    @hidden table t {
        key = { hdr.h.f : exact @name("f"); }
        actions = { a; @defaultonly NoAction; }
        const default_action = NoAction();
        @hidden size = 4;
    }
    apply { t.apply(); }
}
"""
    prog = parse(src, "a.p4")
    assert prog.decls[0].annos[0].name == "pkginfo"

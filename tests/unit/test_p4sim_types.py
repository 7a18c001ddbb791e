"""p4sim type checker: each error is a P4Error at the offending line.

Expected verdicts follow the P4_16 specification v1.2.4; section numbers are
given per test.  The marker comment ``// ERR`` flags the line the error must
point at.
"""
from __future__ import annotations

import pytest

from nicc.runtime import p4sim

PRELUDE = """#include <core.p4>
#include <v1model.p4>
header d_t { bit<8> a; bit<8> b; bit<16> w; int<8> s; bit<1> one; bit<7> pad; }
struct headers { d_t d; d_t[2] st; }
struct meta_t { bit<8> m; bool flag; }
parser P(packet_in pkt, out headers hdr, inout meta_t meta, inout standard_metadata_t sm) {
    state start { pkt.extract(hdr.d); transition accept; }
}
control VC(inout headers hdr, inout meta_t meta) { apply { } }
control E(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) { apply { } }
control CC(inout headers hdr, inout meta_t meta) { apply { } }
control D(packet_out pkt, in headers hdr) { apply { pkt.emit(hdr.d); } }
"""
MAIN = "V1Switch(P(), VC(), I(), E(), CC(), D()) main;\n"


def ingress(body: str, locals_: str = "") -> str:
    return (PRELUDE + "control I(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) {\n"
            + locals_ + "\n    apply {\n" + body + "\n    }\n}\n" + MAIN)


def check_error(src: str, *needles: str):
    """Load ``src``; it must fail at the line marked ``// ERR`` with all ``needles`` in the message."""
    lines = src.splitlines()
    want = next(i + 1 for i, ln in enumerate(lines) if "// ERR" in ln)
    with pytest.raises(p4sim.P4Error) as ei:
        p4sim.load(src, filename="t.p4")
    e = ei.value
    assert e.line == want, str(e)
    text = str(e)
    assert text.startswith(f"t.p4:{want}:{e.col}: error: ")
    for n in needles:
        assert n in e.msg, text
    assert "^" in text.splitlines()[-1]          # caret context
    return e


def test_valid_program_loads():
    p4sim.load(ingress("hdr.d.a = hdr.d.a + 1; hdr.d.w = hdr.d.a ++ hdr.d.b; meta.m = hdr.d.w[15:8];"),
               "ok.p4")


def test_width_mismatch_without_cast():
    # spec 8.9.2 / 8.1: no implicit conversion between bit<16> and bit<8>
    check_error(ingress("hdr.d.a = hdr.d.w; // ERR"), "expected bit<8>, got bit<16>")


def test_width_mismatch_in_binary_operator():
    # spec 8.5: both operands of + must have the same type
    check_error(ingress("hdr.d.w = hdr.d.w + hdr.d.a; // ERR"), "different types", "bit<16>", "bit<8>")


def test_explicit_cast_makes_it_legal_and_bool_cast_is_restricted():
    p4sim.load(ingress("hdr.d.w = hdr.d.w + (bit<16>)hdr.d.a; hdr.d.one = (bit<1>)meta.flag;"), "ok.p4")
    # spec 8.11: bool converts only to/from bit<1>
    check_error(ingress("hdr.d.a = (bit<8>)meta.flag; // ERR"), "illegal cast", "bool", "bit<8>")
    # spec 8.11: int<8> -> bit<16> changes width and signedness at once: not allowed
    check_error(ingress("hdr.d.w = (bit<16>)hdr.d.s; // ERR"), "illegal cast")


def test_slice_out_of_range():
    # spec 8.6: e[h:l] requires 0 <= l <= h < W
    check_error(ingress("meta.m = hdr.d.w[16:9]; // ERR"), "slice [16:9] out of range for bit<16>")
    check_error(ingress("hdr.d.one = hdr.d.a[2:3]; // ERR"), "out of range")


def test_slice_width_is_h_minus_l_plus_1():
    check_error(ingress("meta.m = hdr.d.w[15:9]; // ERR"), "expected bit<8>, got bit<7>")


def test_table_applied_twice_on_one_path():
    locals_ = "    table t { key = { hdr.d.a : exact; } actions = { NoAction; } }"
    check_error(ingress("t.apply();\n if (hdr.d.b == 1) { t.apply(); } // ERR", locals_),
                "table 't' is applied more than once")
    # on exclusive branches it is fine (one application per path)
    p4sim.load(ingress("if (hdr.d.b == 1) { t.apply(); } else { t.apply(); }", locals_), "ok.p4")
    # after exit the path ends
    p4sim.load(ingress("if (hdr.d.b == 1) { t.apply(); exit; } t.apply();", locals_), "ok.p4")
    # hit-test in a condition counts as an application
    check_error(ingress("if (t.apply().hit) { hdr.d.a = 1; }\n t.apply(); // ERR", locals_), "more than once")


def test_unknown_field():
    # spec 8.17: field access needs a declared field
    check_error(ingress("hdr.d.nosuch = 1; // ERR"), "has no field 'nosuch'")
    check_error(ingress("meta.m = meta.nothere; // ERR"), "no field 'nothere'")


def test_bool_used_as_bit_and_bit_used_as_bool():
    # spec 8.5: bool is not a number and bit<1> is not a bool
    check_error(ingress("hdr.d.one = true; // ERR"), "expected bit<1>, got bool")
    check_error(ingress("if (hdr.d.one) { hdr.d.a = 1; } // ERR"), "condition must be bool")
    check_error(ingress("meta.flag = meta.flag + 1; // ERR"), "needs bit<W>/int<W> operands")


def test_shift_amount_must_be_unsigned():
    # spec 8.6: shift amount of signed type is illegal
    check_error(ingress("hdr.d.a = hdr.d.a << hdr.d.s; // ERR"), "shift amount must be unsigned")
    p4sim.load(ingress("hdr.d.w = hdr.d.w << hdr.d.a; hdr.d.s = hdr.d.s >> 2;"), "ok.p4")


def test_concat_needs_sized_operands():
    # spec 8.6: ++ on an unsized int literal is illegal
    check_error(ingress("hdr.d.w = hdr.d.a ++ 3; // ERR"), "operands of '++'")


def test_stack_index_must_be_constant_and_in_range():
    # spec 8.18: compile-time index in [0, size)
    check_error(ingress("hdr.st[2].a = 1; // ERR"), "index 2 out of range")


def test_read_only_parameters_and_undeclared_names():
    check_error(PRELUDE.replace("apply { pkt.emit(hdr.d); }", "apply { hdr.d.a = 1; // ERR\n }")
                + "control I(inout headers hdr, inout meta_t meta, inout standard_metadata_t sm) "
                  "{ apply { } }\n" + MAIN, "read-only parameter 'hdr'")
    check_error(ingress("hdr.d.a = nosuch; // ERR"), "undeclared identifier 'nosuch'")


def test_action_data_and_default_action_arity():
    locals_ = ("    action set(bit<8> v) { hdr.d.a = v; }\n"
               "    table t { key = { hdr.d.a : lpm; } actions = { set; }\n"
               "        default_action = set(); // ERR\n    }")
    check_error(ingress("t.apply();", locals_), "needs 1 action data argument")


def test_header_validity_methods():
    p4sim.load(ingress("if (!hdr.d.isValid()) { hdr.d.setValid(); } hdr.st[1].setInvalid();"), "ok.p4")
    check_error(ingress("meta.m = hdr.d.isValid(); // ERR"), "expected bit<8>, got bool")

"""Multicast groups with per-copy header rewrite: the DSL, the text form, the type rules, the interpreter.

Rewritten copies are checked against scapy (a real IPv4/UDP implementation): addresses,
a valid IPv4 checksum recomputed from scratch, UDP checksum 0, the payload unchanged."""
import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import nicc.dsl as nd
from nicc.compiler.errors import NiccError
from nicc.compiler.groups import Addr, Member, bind_groups
from nicc.compiler.interp import Reference
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import verify
from nicc.compiler.printer import print_pipeline
from nicc.dsl.pipeline import PipelineDef
from nicc.compiler.errors import SourceLoc
from nicc.runtime.packets import generate, udp_frame
from tests.scalar_eval import ScalarReference

KIDS = [("02:00:00:00:01:0a", "10.2.0.1", 9100), ("02:00:00:00:01:0b", "10.2.0.2", 9100),
        ("02:00:00:00:01:0c", "10.2.0.3", 9200)]


class Msg(nd.Record):
    a = nd.u32
    b = nd.u16
    rest = nd.rest


def trace(fn, port=9200):
    return PipelineDef(fn, port, Msg, fn.__name__, SourceLoc(__file__, 1)).trace()


def static_rewrite(emit: bool):
    def mc(rec: Msg):
        g = nd.group("kids", [nd.member(k % 2, mac=m, ip=i, udp=u) for k, (m, i, u) in enumerate(KIDS)],
                     src=nd.addr(mac="02:00:00:00:00:01", ip="10.1.0.1"))
        nd.drop_if(rec.b == 7)
        return nd.multicast(g, rec.a + 1, rec.b) if emit else nd.multicast(g)
    return trace(mc)


def sized():
    def mc(rec: Msg):
        g = nd.group("kids", max=8, rewrite="mac ip udp", source="ip")
        nd.pass_if(rec.b == 1)
        return nd.multicast(g)
    return trace(mc)


def test_text_form_round_trips():
    for p in (static_rewrite(True), static_rewrite(False), sized(),
              bind_groups(sized(), {"kids": ([Member(3, Addr("02:aa:00:00:00:01", "10.0.0.9", 9))],
                                             Addr(ip="10.9.0.1"))})):
        text = print_pipeline(p)
        again = parse_pipeline(text)
        verify(again)
        assert print_pipeline(again) == text
        assert again.groups == p.groups
    assert "group @kids [max=8, rewrite=(mac, ip, udp), source=(ip)] = []" in print_pipeline(sized())


@pytest.mark.parametrize("emit", [False, True])
def test_copies_leave_in_member_order_rewritten(emit):
    p = static_rewrite(emit)
    rng = np.random.default_rng(3)
    frames = [bytes(udp_frame(bytes([0, 0, 1, k, 0, k]) + b"tail" * k, 9200, rng)) for k in range(12)]
    got = Reference(p).run(frames)
    assert got == ScalarReference(p).run(frames)
    for k, (f, r) in enumerate(zip(frames, got)):
        if k == 7:
            assert r.verdict == "drop" and r.frames == []
            continue
        assert r.verdict == "multicast" and len(r.frames) == 3
        src = Ether(f)
        for (mac, ip, udp), c in zip(KIDS, r.frames):
            e = Ether(c)
            assert (e.dst, e.src, e[IP].dst, e[IP].src, e[UDP].dport) == (mac, "02:00:00:00:00:01", ip, "10.1.0.1", udp)
            assert e[UDP].sport == src[UDP].sport and e[UDP].chksum == 0
            want = e[IP].chksum
            del e[IP].chksum
            assert IP(bytes(e[IP])).chksum == want               # recomputed (scapy computes it afresh)
            body = bytes(e[UDP].payload)
            assert body == (bytes(src[UDP].payload) if not emit else
                            (int.from_bytes(bytes(src[UDP].payload)[:4], "big") + 1).to_bytes(4, "big")
                            + bytes(src[UDP].payload)[4:6])


def test_identical_copies_when_nothing_is_rewritten():
    def mc(rec: Msg):
        return nd.multicast(nd.group("g", [4, 5]))
    p = trace(mc)
    f = bytes(udp_frame(b"\x00" * 8, 9200, np.random.default_rng(0)))
    assert Reference(p).run([f])[0].frames == [f, f]


def test_sized_group_binds_at_load_time():
    p = sized()
    rng = np.random.default_rng(5)
    frames = [bytes(udp_frame(bytes([0, 0, 0, 9, 0, k]), 9200, rng)) for k in range(4)]
    assert [len(r.frames) for r in Reference(p).run(frames)] == [0, 1, 0, 0]   # no members yet: no copies
    members = [Member(1, Addr(*KIDS[0])), Member(2, Addr(*KIDS[2]))]
    bound = bind_groups(p, {"kids": (members, Addr(ip="10.1.0.7"))})
    got = Reference(bound).run(frames)
    assert got == ScalarReference(bound).run(frames)
    assert [len(r.frames) for r in got] == [2, 1, 2, 2]
    assert [Ether(c)[IP].dst for c in got[0].frames] == ["10.2.0.1", "10.2.0.3"]
    assert p.groups["kids"].members == ()                       # binding makes a new pipeline


def test_random_pipelines_against_the_scalar_evaluator():
    p = static_rewrite(True)
    frames = generate(p, 400, seed=11)
    assert Reference(p).run(frames) == ScalarReference(p).run(frames)


@pytest.mark.parametrize("make, msg", [
    (lambda: nd.group("g", [nd.member(1, ip="10.0.0.1"), nd.member(2)]), "every member gives the same fields"),
    (lambda: nd.group("g", [nd.member(1, mac="02:00:00:00:00")]), "mac must be a MAC address"),
    (lambda: nd.group("g", [nd.member(1, ip="10.0.0.300")]), "ip must be an IPv4 address"),
    (lambda: nd.group("g", [nd.member(1, udp=0)]), "udp must be a UDP port"),
    (lambda: nd.group("g", [nd.member(70000)]), "port must be a port number"),
    (lambda: nd.group("g", [1], max=4), "its members are given per node at load time"),
    (lambda: nd.group("g", max=0), "max must be 1..4096"),
    (lambda: nd.group("g", max=4, rewrite="mac port"), "rewrite= takes fields among mac, ip, udp"),
    (lambda: nd.group("g", [nd.member(1, ip="10.0.0.1")], source="ip"), "the source gives nothing"),
    (lambda: nd.group("g", []), "at least one port"),
])
def test_group_mistakes_are_reported_at_the_users_line(make, msg):
    def mc(rec: Msg):
        make()
        return nd.drop()
    with pytest.raises(NiccError) as e:
        trace(mc)
    assert msg in e.value.message and e.value.loc.file == __file__


def test_binding_checks_members():
    g = sized().groups["kids"]
    with pytest.raises(NiccError, match="more than max=8"):
        g.bind([Member(0, Addr(*KIDS[0]))] * 9, Addr(ip="10.0.0.1"))
    with pytest.raises(NiccError, match="give the node's own addresses"):
        g.bind([Member(0, Addr(*KIDS[0]))])
    with pytest.raises(NiccError, match="every member gives the same fields"):
        g.bind([Member(0, Addr(ip="10.0.0.1"))], Addr(ip="10.0.0.2"))
    with pytest.raises(NiccError, match="is static"):
        static_rewrite(False).groups["kids"].bind([])
    with pytest.raises(NiccError, match="no multicast group 'nope'"):
        bind_groups(sized(), {"nope": ([], None)})


def test_parser_refuses_unknown_group_attributes():
    text = print_pipeline(sized()).replace("max=8", "most=8")
    with pytest.raises(NiccError, match="unknown group attribute"):
        parse_pipeline(text)

"""The pattern rewriter: matching, bindings, replacement kinds, fixed point, runaway rules."""
import pytest

from nicc.compiler.errors import InternalError
from nicc.compiler.ir import Op
from nicc.compiler.passes.patterns import C, DELETE, P, Rule, Rules, V, X, rewrite
from tests.unit.ir_fixtures import canon, parse, pipe, show

BODY = ("%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = field[name=b, offset=1, endian=be]\n"
        "%2:u8 = sub[overflow=wrap] %0, %0\n%3:u8 = sub[overflow=wrap] %0, %1\n%4:u8 = const[value=0]\n"
        "%5:u8 = add[overflow=wrap] %3, %4\n%6:bool = const[value=0]\nreject_if %6\n"
        "emit[endian=(be, be)] %2, %5\nverdict[verdict=pass, group=none]\n")


def nodes(p, op):
    return [n for n in p.body.walk() if n.op is op]


def test_a_name_bound_twice_must_be_the_same_node():
    p = parse(pipe(BODY))
    same = P(Op.SUB, X, X)
    subs = nodes(p, Op.SUB)
    assert same.match(subs[0], {}) and not same.match(subs[1], {})
    b = {}
    assert P(Op.SUB, X, V("y")).match(subs[1], b) and b["x"] is subs[1].args[0] and b["y"] is subs[1].args[1]


def test_constants_by_value_and_predicate():
    p = parse(pipe(BODY))
    zero = nodes(p, Op.CONST)[0]
    assert C(0).match(zero, {}) and not C(1).match(zero, {}) and C(lambda n: n.type.bits == 8).match(zero, {})
    assert not C().match(nodes(p, Op.ADD)[0], {})


def test_rules_are_indexed_by_root_op():
    r = Rules([Rule(P(Op.ADD, X, C(0)), lambda rw, x, **_: x, "x + 0"), Rule(V("x"), lambda rw, **_: None, "any")])
    assert [x.doc for x in r.by_op[Op.ADD]] == ["x + 0", "any"] and [x.doc for x in r.by_op[Op.SUB]] == ["any"]


def test_rewrite_to_a_fixed_point_with_every_kind_of_replacement():
    rules = Rules([
        Rule(P(Op.ADD, X, C(0)), lambda rw, x, **_: x, "existing node"),
        Rule(P(Op.SUB, X, X), lambda rw, n, **_: rw.const(0, n.type, n.loc), "new node"),
        Rule(P(Op.SUB, X, V("y")), lambda rw, n, x, y: rw.node(Op.XOR, (x, y), (), n.type, n.loc), "new op"),
        Rule(P(Op.REJECT_IF, C(0)), lambda rw, **_: DELETE, "delete"),
    ])
    p = rewrite(parse(pipe(BODY)), rules)
    assert show(p) == canon(pipe(
        "%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = field[name=b, offset=1, endian=be]\n"
        "%2:u8 = const[value=0]\n%3:u8 = xor %0, %1\n%4:u8 = const[value=0]\n%6:bool = const[value=0]\n"
        "emit[endian=(be, be)] %2, %3\nverdict[verdict=pass, group=none]\n"))


def test_a_rule_that_never_settles_is_an_internal_error():
    spin = Rules([Rule(P(Op.ADD, X, C()), lambda rw, n, x, c: rw.node(Op.ADD, (x, c), like=n), "spins")])
    with pytest.raises(InternalError, match="loop|fixed point"):
        rewrite(parse(pipe(BODY)), spin)


def test_merging_equal_computations_lets_a_rule_see_one_node():
    body = ("%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = const[value=3]\n%2:u8 = add[overflow=wrap] %0, %1\n"
            "%3:u8 = const[value=3]\n%4:u8 = add[overflow=wrap] %0, %3\n%5:u8 = sub[overflow=wrap] %2, %4\n"
            "emit[endian=(be)] %5\nverdict[verdict=pass, group=none]\n")
    x_minus_x = Rules([Rule(P(Op.SUB, X, X), lambda rw, n, **_: rw.const(0, n.type, n.loc), "x - x")])
    assert "sub" in show(rewrite(parse(pipe(body)), x_minus_x))
    assert show(rewrite(parse(pipe(body)), x_minus_x, merge=True)) == canon(pipe(
        "%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = const[value=3]\n%2:u8 = add[overflow=wrap] %0, %1\n"
        "%5:u8 = const[value=0]\nemit[endian=(be)] %5\nverdict[verdict=pass, group=none]\n"))

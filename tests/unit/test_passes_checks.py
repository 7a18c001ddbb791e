"""eliminate_implied_checks and the facts behind it, on IR text before and after."""
import pytest

from nicc.compiler.ir import Op
from nicc.compiler.passes import eliminate_dead_code, eliminate_implied_checks
from nicc.compiler.passes.facts import PAYLOAD, Affine, Facts
from tests.unit.ir_fixtures import after, canon, parse, pipe, same_meaning

END = "verdict[verdict=pass, group=none]\n"
PLEN = "%0:u16 = payload_len\n"

CASES = {
    "one length check proves every read of a fixed record": (
        PLEN + "%1:u16 = const[value=9]\n%2:bool = ne %0, %1\nreject_if %2\n"
        "%3:u8 = field[name=a, offset=0, endian=be]\n%4:u16 = const[value=2]\n%5:u32[2] = array[name=xs, offset=1] %4\n"
        "emit[endian=(be, be)] %3, %5\n" + END,
        PLEN + "%1:u16 = const[value=9]\n%2:bool = ne %0, %1\nreject_if %2\n"
        "%3:u8 = field[name=a, offset=0, endian=be, checked=1]\n"
        "# checked: payload_len >= 1 here, by the check at t.py:1\n"
        "%4:u16 = const[value=2]\n%5:u32[2] = array[name=xs, offset=1, checked=1] %4\n"
        "# checked: payload_len >= 9 here, by the check at t.py:1\n"
        "emit[endian=(be, be)] %3, %5\n" + END),
    "a count-prefixed record: payload_len == 10 + 3 * count proves the elements": (
        PLEN + "%1:u16 = field[name=count, offset=8, endian=be]\n%2:u16 = const[value=240]\n%3:bool = gt %1, %2\n"
        "reject_if %3\n%4:u32 = cast[overflow=wrap] %1\n%5:u32 = const[value=3]\n%6:u32 = mul[overflow=wrap] %4, %5\n"
        "%7:u32 = const[value=10]\n%8:u32 = add[overflow=wrap] %6, %7\n%9:u32 = cast[overflow=wrap] %0\n"
        "%10:bool = ne %9, %8\nreject_if %10\n%11:{r:u8,g:u8,b:u8}[<=240] = array[name=pixels, offset=10] %1\n"
        "%12:u32 = field[name=image_id, offset=0, endian=be]\nemit[endian=(be, be)] %12, %11\n" + END,
        PLEN + "%1:u16 = field[name=count, offset=8, endian=be]\n%2:u16 = const[value=240]\n%3:bool = gt %1, %2\n"
        "reject_if %3\n%4:u32 = cast[overflow=wrap] %1\n%5:u32 = const[value=3]\n%6:u32 = mul[overflow=wrap] %4, %5\n"
        "%7:u32 = const[value=10]\n%8:u32 = add[overflow=wrap] %6, %7\n%9:u32 = cast[overflow=wrap] %0\n"
        "%10:bool = ne %9, %8\nreject_if %10\n"
        "%11:{r:u8,g:u8,b:u8}[<=240] = array[name=pixels, offset=10, checked=1] %1\n"
        "# checked: payload_len >= 10 + 3 * count here, by the check at t.py:1\n"
        "%12:u32 = field[name=image_id, offset=0, endian=be, checked=1]\n"
        "# checked: payload_len >= 4 here, by the check at t.py:1\n"
        "emit[endian=(be, be)] %12, %11\n" + END),
    "a read proves the reads of earlier bytes after it": (
        "%0:u16 = field[name=count, offset=8, endian=be]\n%1:u32 = field[name=a, offset=0, endian=be]\n"
        "%2:u32 = field[name=b, offset=8, endian=be]\nemit[endian=(be, be, be)] %0, %1, %2\n" + END,
        "%0:u16 = field[name=count, offset=8, endian=be]\n%1:u32 = field[name=a, offset=0, endian=be, checked=1]\n"
        "# checked: payload_len >= 4 here, by the read of count at t.py:1\n"
        "%2:u32 = field[name=b, offset=8, endian=be]\nemit[endian=(be, be, be)] %0, %1, %2\n" + END),
    "a check implied false by an earlier one goes": (
        PLEN + "%1:u16 = const[value=8]\n%2:bool = lt %0, %1\nreject_if %2\n%3:u16 = const[value=4]\n"
        "%4:bool = lt %0, %3\nreject_if %4\n%5:bool = ne %0, %3\nverdict_if[verdict=drop, group=none] %5\n" + END,
        PLEN + "%1:u16 = const[value=8]\n%2:bool = lt %0, %1\nreject_if %2\n%3:u16 = const[value=4]\n"
        "%4:bool = lt %0, %3\n%5:bool = ne %0, %3\n%6:bool = const[value=1]\nverdict_if[verdict=drop, group=none] %6\n"
        "# always: its condition holds whenever it is reached, by the check at t.py:1\n" + END),
    "a verdict_if's condition is false after it; and/or/not split into their parts": (
        "%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = const[value=10]\n%2:bool = gt %0, %1\n"
        "%3:u8 = field[name=b, offset=1, endian=be]\n%4:bool = eq %3, %1\n%5:bool = or %2, %4\n"
        "verdict_if[verdict=drop, group=none] %5\n%6:u8 = const[value=20]\n%7:bool = gt %0, %6\n%8:bool = le %0, %1\n"
        "%9:bool = not %8\nreject_if %7\nverdict_if[verdict=pass, group=none] %9\n%10:bool = ne %3, %1\n"
        "verdict_if[verdict=transmit, group=none] %10\n" + END,
        "%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = const[value=10]\n%2:bool = gt %0, %1\n"
        "%3:u8 = field[name=b, offset=1, endian=be]\n%4:bool = eq %3, %1\n%5:bool = or %2, %4\n"
        "verdict_if[verdict=drop, group=none] %5\n%6:u8 = const[value=20]\n%7:bool = gt %0, %6\n%8:bool = le %0, %1\n"
        "%9:bool = not %8\n%10:bool = ne %3, %1\n%11:bool = const[value=1]\n"
        "verdict_if[verdict=transmit, group=none] %11\n"
        "# always: its condition holds whenever it is reached, by the check at t.py:1\n" + END),
    "a read not proven loses a checked it was given": (
        PLEN + "%1:u16 = const[value=4]\n%2:bool = lt %0, %1\nreject_if %2\n"
        "%3:u64 = field[name=a, offset=0, endian=be, checked=1]\nemit[endian=(be)] %3\n" + END,
        PLEN + "%1:u16 = const[value=4]\n%2:bool = lt %0, %1\nreject_if %2\n"
        "%3:u64 = field[name=a, offset=0, endian=be]\nemit[endian=(be)] %3\n" + END),
    "a check whose arithmetic may wrap proves nothing": (
        PLEN + "%1:u8 = field[name=n, offset=0, endian=be]\n%2:u8 = const[value=200]\n%3:u8 = add[overflow=wrap] %1, %2\n"
        "%4:u16 = cast[overflow=wrap] %3\n%5:bool = ne %0, %4\nreject_if %5\n%6:u8 = const[value=250]\n"
        "%7:u8[<=250] = array[name=xs, offset=1] %1\nemit[endian=(be)] %7\n" + END,
        PLEN + "%1:u8 = field[name=n, offset=0, endian=be]\n%2:u8 = const[value=200]\n%3:u8 = add[overflow=wrap] %1, %2\n"
        "%4:u16 = cast[overflow=wrap] %3\n%5:bool = ne %0, %4\nreject_if %5\n%6:u8 = const[value=250]\n"
        "%7:u8[<=250] = array[name=xs, offset=1] %1\nemit[endian=(be)] %7\n" + END),
    "a signed count may be negative: the array is not proven": (
        PLEN + "%1:i8 = field[name=n, offset=0, endian=be]\n%2:i8 = const[value=4]\n%3:bool = gt %1, %2\nreject_if %3\n"
        "%4:u32 = cast[overflow=wrap] %1\n%5:u32 = const[value=1]\n%6:u32 = add[overflow=wrap] %4, %5\n"
        "%7:u32 = cast[overflow=wrap] %0\n%8:bool = ne %7, %6\nreject_if %8\n%9:u8[<=4] = array[name=xs, offset=1] %1\n"
        "emit[endian=(be)] %9\n" + END,
        PLEN + "%1:i8 = field[name=n, offset=0, endian=be]\n%2:i8 = const[value=4]\n%3:bool = gt %1, %2\nreject_if %3\n"
        "%4:u32 = cast[overflow=wrap] %1\n%5:u32 = const[value=1]\n%6:u32 = add[overflow=wrap] %4, %5\n"
        "%7:u32 = cast[overflow=wrap] %0\n%8:bool = ne %7, %6\nreject_if %8\n%9:u8[<=4] = array[name=xs, offset=1] %1\n"
        "emit[endian=(be)] %9\n" + END),
}


@pytest.mark.parametrize("name", CASES)
def test_eliminate_implied_checks(name):
    before, want = CASES[name]
    assert after(eliminate_implied_checks, pipe(before), notes=True) == canon(pipe(want), notes=True)
    same_meaning(pipe(before), [eliminate_implied_checks, eliminate_dead_code])


def test_an_always_true_check_ends_the_pipeline_after_dead_code():
    before, _ = CASES["a check implied false by an earlier one goes"]
    got = after([eliminate_implied_checks, eliminate_dead_code], pipe(before))
    assert got == canon(pipe(PLEN + "%1:u16 = const[value=8]\n%2:bool = lt %0, %1\nreject_if %2\n"
                                    "verdict[verdict=drop, group=none]\n"))


def test_affine_forms():
    a, b = Affine(((PAYLOAD.terms[0][0], 1),), 3), Affine((), 5)
    assert (a - a) == Affine()
    assert (a * 3 - b).const == 4 and (a * 3).terms[0][1] == 3
    assert a.plus(-3) == PAYLOAD


def test_facts_interval_and_proof():
    p = parse(pipe(PLEN + "%1:u16 = field[name=n, offset=0, endian=be]\n%2:u16 = const[value=6]\n%3:bool = gt %1, %2\n"
                   "reject_if %3\n%4:u16 = const[value=2]\n%5:u16 = add[overflow=wrap] %1, %4\n%6:bool = ne %0, %5\n"
                   "reject_if %6\n" + END))
    f = Facts(p)
    nodes = p.body.nodes
    for n in nodes[:5]:
        f.learn(n)
    n_field, total = nodes[1], nodes[6]
    assert f.interval(n_field) == (0, 6) and f.interval(total) == (2, 8)
    assert f.affine(total) == f.affine(n_field).plus(2)                 # n + 2 cannot wrap: n <= 6
    f.learn(nodes[8])
    assert f.base_interval("payload_len") == (2, 8)
    assert f.proves(PAYLOAD - f.affine(n_field).plus(2)) == [nodes[8]]     # payload_len >= n + 2
    assert f.proves(PAYLOAD - f.affine(n_field).plus(3)) is None
    assert f.knows(nodes[3], False) is not None and f.holds(nodes[3]) is False
    assert [n.op for n in nodes].count(Op.REJECT_IF) == 2

"""Every rewrite rule of fold_constants and simplify_expressions on IR text, before and after, and
the interpreter's results on generated frames (boundary values, truncated and malformed frames)
the same before and after each."""
import pytest

from nicc.compiler.passes import eliminate_dead_code, fold_constants, simplify_expressions
from nicc.compiler.passes.algebra import ALGEBRA_RULES
from nicc.compiler.passes.fold import FOLD_RULES
from tests.unit.ir_fixtures import after, canon, pipe, same_meaning

A8 = "%0:u8 = field[name=a, offset=0, endian=be]\n"
AB8 = A8 + "%1:u8 = field[name=b, offset=1, endian=be]\n"
S8 = "%0:i8 = field[name=a, offset=0, endian=be]\n"
END = "verdict[verdict=pass, group=none]\n"
STATE = "state @s : u32[7] = 0"

# rule doc -> [(before, after)], bodies without locations; each runs through the pass and then
# eliminate_dead_code (reads that are not checked stay: they can find the payload short)
FIXTURES = {
    # ---- fold_constants ----
    "op(const, ...) -> const (the interpreter's value)": [
        ("%0:u8 = const[value=200]\n%1:u8 = const[value=100]\n%2:u8 = add[overflow=wrap] %0, %1\n"
         "emit[endian=(be)] %2\n" + END,
         "%0:u8 = const[value=44]\nemit[endian=(be)] %0\n" + END),
        ("%0:u8 = const[value=200]\n%1:u8 = const[value=100]\n%2:u8 = add[overflow=sat] %0, %1\n"
         "emit[endian=(be)] %2\n" + END,
         "%0:u8 = const[value=255]\nemit[endian=(be)] %0\n" + END),
        ("%0:u32 = const[value=7]\n%1:u32 = crc32 %0\n%2:i8 = const[value=-128]\n%3:i8 = const[value=3]\n"
         "%4:i8 = div %2, %3\n%5:bool = lt %2, %3\nemit[endian=(be, be)] %1, %4\nreject_if %5\n" + END,
         "%0:u32 = const[value=3206564543]\n%1:i8 = const[value=-42]\n%2:bool = const[value=1]\n"
         "emit[endian=(be, be)] %0, %1\nreject_if %2\n" + END),
    ],
    "select(const c, x, y) -> x or y": [
        (AB8 + "%2:bool = const[value=0]\n%3:u8 = select %2, %0, %1\nemit[endian=(be)] %3\n" + END,
         AB8 + "emit[endian=(be)] %1\n" + END),
    ],
    "reject_if/verdict_if false -> (gone)": [
        ("%0:bool = const[value=0]\nreject_if %0\nverdict_if[verdict=drop, group=none] %0\n" + END, END),
    ],
    "state_write when false -> (gone)": [
        (A8 + "%1:u32 = cast[overflow=wrap] %0\n%2:bool = const[value=0]\nstate_write[state=s] %0, %1, %2\n" + END,
         A8 + END, STATE),
    ],
    "x / 0 -> 0": [
        (AB8 + "%2:u8 = sub[overflow=wrap] %1, %1\n%3:u8 = div %0, %2\nemit[endian=(be)] %3\n" + END,
         AB8 + "%2:u8 = const[value=0]\nemit[endian=(be)] %2\n" + END),
    ],
    "x % 0 -> x": [
        (AB8 + "%2:u8 = xor %1, %1\n%3:u8 = mod %0, %2\nemit[endian=(be)] %3\n" + END,
         AB8 + "emit[endian=(be)] %0\n" + END),
    ],
    "x << k (k >= width) -> 0": [
        (AB8 + "%2:u8 = sub[overflow=wrap] %1, %1\n%3:u8 = const[value=9]\n%4:u8 = add[overflow=wrap] %2, %3\n"
         "%5:u8 = shl %0, %4\nemit[endian=(be)] %5\n" + END,
         AB8 + "%2:u8 = const[value=0]\nemit[endian=(be)] %2\n" + END),
    ],
    "x >> k (k >= width) -> 0, or x >> (width - 1) if signed": [
        (S8 + "%1:u8 = field[name=b, offset=1, endian=be]\n%2:u8 = sub[overflow=wrap] %1, %1\n"
         "%3:u8 = const[value=200]\n%4:u8 = add[overflow=wrap] %2, %3\n%5:i8 = shr %0, %4\nemit[endian=(be)] %5\n" + END,
         S8 + "%1:u8 = field[name=b, offset=1, endian=be]\n%2:u8 = const[value=7]\n%3:i8 = shr %0, %2\n"
         "emit[endian=(be)] %3\n" + END),
        (AB8 + "%2:u8 = sub[overflow=wrap] %1, %1\n%3:u8 = const[value=8]\n%4:u8 = add[overflow=wrap] %2, %3\n"
         "%5:u8 = shr %0, %4\nemit[endian=(be)] %5\n" + END,
         AB8 + "%2:u8 = const[value=0]\nemit[endian=(be)] %2\n" + END),
    ],
    "state[k] (k out of range) -> 0": [
        (A8 + "%1:u8 = sub[overflow=wrap] %0, %0\n%2:u8 = const[value=7]\n%3:u8 = or %1, %2\n"
         "%4:u32 = state_read[state=s] %3\nemit[endian=(be)] %4\n" + END,
         A8 + "%1:u32 = const[value=0]\nemit[endian=(be)] %1\n" + END, STATE),
    ],
    "state write/update_if at k out of range -> (gone) / false": [
        (A8 + "%1:u8 = sub[overflow=wrap] %0, %0\n%2:u8 = const[value=9]\n%3:u8 = or %1, %2\n%4:u32 = cast[overflow=wrap] %0\n"
         "%5:bool = const[value=1]\nstate_write[state=s] %3, %4, %5\n%6:bool = state_update_if[state=s, cmp=always] %3, %4\n"
         "verdict_if[verdict=drop, group=none] %6\n" + END,
         A8 + END, STATE),
    ],
    # ---- simplify_expressions ----
    "c op x -> x op c": [
        (A8 + "%1:u8 = const[value=5]\n%2:u8 = add[overflow=sat] %1, %0\n%3:bool = eq %1, %0\n"
         "emit[endian=(be)] %2\nreject_if %3\n" + END,
         A8 + "%1:u8 = const[value=5]\n%2:u8 = add[overflow=sat] %0, %1\n%3:bool = eq %0, %1\n"
         "emit[endian=(be)] %2\nreject_if %3\n" + END),
    ],
    "c < x -> x > c": [
        (A8 + "%1:u8 = const[value=5]\n%2:bool = lt %1, %0\n%3:bool = ge %1, %0\nreject_if %2\nreject_if %3\n" + END,
         A8 + "%1:u8 = const[value=5]\n%2:bool = gt %0, %1\n%3:bool = le %0, %1\nreject_if %2\nreject_if %3\n" + END),
    ],
    "x + 0, x - 0, x | 0, x ^ 0, x << 0, x >> 0 -> x": [
        (A8 + "%1:u8 = const[value=0]\n%2:u8 = add[overflow=wrap] %0, %1\n%3:u8 = sub[overflow=sat] %2, %1\n"
         "%4:u8 = or %3, %1\n%5:u8 = xor %4, %1\n%6:u8 = shl %5, %1\n%7:u8 = shr %6, %1\nemit[endian=(be)] %7\n" + END,
         A8 + "emit[endian=(be)] %0\n" + END),
    ],
    "x * 1, x // 1 -> x": [
        (S8 + "%1:i8 = const[value=1]\n%2:i8 = mul[overflow=sat] %0, %1\n%3:i8 = div %2, %1\nemit[endian=(be)] %3\n" + END,
         S8 + "emit[endian=(be)] %0\n" + END),
    ],
    "x & all-ones -> x": [
        (S8 + "%1:i8 = const[value=-1]\n%2:i8 = and %0, %1\nemit[endian=(be)] %2\n" + END,
         S8 + "emit[endian=(be)] %0\n" + END),
        (A8 + "%1:u8 = const[value=255]\n%2:u8 = and %0, %1\nemit[endian=(be)] %2\n" + END,
         A8 + "emit[endian=(be)] %0\n" + END),
    ],
    "x * 0, x & 0 -> 0": [
        (S8 + "%1:i8 = const[value=0]\n%2:i8 = mul[overflow=sat] %0, %1\n%3:i8 = and %0, %1\n"
         "emit[endian=(be, be)] %2, %3\n" + END,
         S8 + "%1:i8 = const[value=0]\nemit[endian=(be, be)] %1, %1\n" + END),     # one 0, merged
    ],
    "x % 1 -> 0": [
        (S8 + "%1:i8 = const[value=1]\n%2:i8 = mod %0, %1\nemit[endian=(be)] %2\n" + END,
         S8 + "%1:i8 = const[value=0]\nemit[endian=(be)] %1\n" + END),
    ],
    "x | all-ones -> all-ones": [
        (A8 + "%1:u8 = const[value=255]\n%2:u8 = or %0, %1\nemit[endian=(be)] %2\n" + END,
         A8 + "%1:u8 = const[value=255]\nemit[endian=(be)] %1\n" + END),
    ],
    "x ^ all-ones -> ~x": [
        (S8 + "%1:i8 = const[value=-1]\n%2:i8 = xor %0, %1\nemit[endian=(be)] %2\n" + END,
         S8 + "%1:i8 = not %0\nemit[endian=(be)] %1\n" + END),
    ],
    "x - x, x ^ x -> 0; x & x -> x; x == x -> true": [
        (S8 + "%1:i8 = sub[overflow=sat] %0, %0\n%2:i8 = xor %0, %0\n%3:i8 = and %0, %0\n%4:bool = le %0, %0\n"
         "%5:bool = ne %0, %0\n%6:u8 = cast[overflow=wrap] %4\nemit[endian=(be, be, be, be)] %1, %2, %3, %6\n"
         "reject_if %5\n" + END,
         S8 + "%1:i8 = const[value=0]\n%3:u8 = const[value=1]\n"
         "emit[endian=(be, be, be, be)] %1, %1, %0, %3\n" + END),
    ],
    "~~x -> x": [
        (A8 + "%1:u8 = not %0\n%2:u8 = not %1\nemit[endian=(be)] %2\n" + END, A8 + "emit[endian=(be)] %0\n" + END),
    ],
    "~(a < b) -> a >= b": [
        (AB8 + "%2:bool = lt %0, %1\n%3:bool = not %2\nreject_if %3\n" + END,
         AB8 + "%2:bool = ge %0, %1\nreject_if %2\n" + END),
    ],
    "select(c, x, x) -> x": [
        (AB8 + "%2:bool = lt %0, %1\n%3:u8 = select %2, %1, %1\nemit[endian=(be)] %3\n" + END,
         AB8 + "emit[endian=(be)] %1\n" + END),
    ],
    "select(~c, x, y) -> select(c, y, x)": [
        (AB8 + "%2:u8 = field[name=c, offset=2, endian=be]\n%3:bool = cast[overflow=wrap] %2\n%4:bool = not %3\n"
         "%5:u8 = select %4, %0, %1\nemit[endian=(be)] %5\n" + END,
         AB8 + "%2:u8 = field[name=c, offset=2, endian=be]\n%3:bool = cast[overflow=wrap] %2\n"
         "%4:u8 = select %3, %1, %0\nemit[endian=(be)] %4\n" + END),
    ],
    "select(c, true, false) -> c": [
        (AB8 + "%2:bool = lt %0, %1\n%3:bool = const[value=1]\n%4:bool = const[value=0]\n%5:bool = select %2, %3, %4\n"
         "reject_if %5\n" + END,
         AB8 + "%2:bool = lt %0, %1\nreject_if %2\n" + END),
    ],
    "select(c, false, true) -> ~c": [
        (A8 + "%1:bool = cast[overflow=wrap] %0\n%2:bool = const[value=1]\n%3:bool = const[value=0]\n"
         "%4:bool = select %1, %3, %2\nreject_if %4\n" + END,
         A8 + "%1:bool = cast[overflow=wrap] %0\n%2:bool = not %1\nreject_if %2\n" + END),
    ],
    "b == true -> b; b != true -> ~b": [
        (A8 + "%1:bool = cast[overflow=wrap] %0\n%2:bool = const[value=1]\n%3:bool = eq %1, %2\n%4:bool = ne %1, %2\n"
         "reject_if %3\nverdict_if[verdict=drop, group=none] %4\n" + END,
         A8 + "%1:bool = cast[overflow=wrap] %0\n%2:bool = not %1\nreject_if %1\n"
         "verdict_if[verdict=drop, group=none] %2\n" + END),
    ],
    "cast(x: T -> T) -> x": [
        (A8 + "%1:u8 = cast[overflow=sat] %0\nemit[endian=(be)] %1\n" + END, A8 + "emit[endian=(be)] %0\n" + END),
    ],
    "cast(cast(x)) -> x or one cast, if nothing is lost": [
        (S8 + "%1:i32 = cast[overflow=wrap] %0\n%2:i8 = cast[overflow=wrap] %1\n%3:i16 = cast[overflow=wrap] %0\n"
         "%4:i64 = cast[overflow=sat] %3\n%5:u8 = cast[overflow=wrap] %1\n"
         "emit[endian=(be, be, be)] %2, %4, %5\n" + END,
         S8 + "%1:i32 = cast[overflow=wrap] %0\n%2:i64 = cast[overflow=sat] %0\n%3:u8 = cast[overflow=wrap] %1\n"
         "emit[endian=(be, be, be)] %0, %2, %3\n" + END),
    ],
    "x < min(type), x > max(type) -> false; x >= min, x <= max -> true": [
        (S8 + "%1:i8 = const[value=-128]\n%2:bool = lt %0, %1\n%3:i8 = const[value=127]\n%4:bool = le %0, %3\n"
         "verdict_if[verdict=drop, group=none] %2\nreject_if %4\n" + END,
         S8 + "%1:bool = const[value=1]\nreject_if %1\n" + END),
    ],
    "(x op c1) op c2 -> x op (c1 op c2)": [
        (A8 + "%1:u8 = const[value=200]\n%2:u8 = add[overflow=wrap] %0, %1\n%3:u8 = const[value=100]\n"
         "%4:u8 = add[overflow=wrap] %2, %3\n%5:u8 = xor %0, %1\n%6:u8 = xor %5, %3\n"
         "%7:u8 = add[overflow=sat] %0, %1\n%8:u8 = add[overflow=sat] %7, %3\nemit[endian=(be, be, be)] %4, %6, %8\n" + END,
         A8 + "%1:u8 = const[value=200]\n%2:u8 = const[value=100]\n%3:u8 = const[value=44]\n"
         "%4:u8 = add[overflow=wrap] %0, %3\n%5:u8 = const[value=172]\n%6:u8 = xor %0, %5\n"
         "%7:u8 = add[overflow=sat] %0, %1\n%8:u8 = add[overflow=sat] %7, %2\n"
         "emit[endian=(be, be, be)] %4, %6, %8\n" + END),    # saturating + does not reassociate
    ],
    "bucketize(x, bs) -> len(bs) when every boundary is the type's least value": [
        (A8 + "%1:u8 = bucketize[boundaries=(0, 0)] %0\n%2:u8 = bucketize[boundaries=(0, 7)] %0\n"
         "emit[endian=(be, be)] %1, %2\n" + END,
         A8 + "%1:u8 = const[value=2]\n%2:u8 = bucketize[boundaries=(0, 7)] %0\n"
         "emit[endian=(be, be)] %1, %2\n" + END),
    ],
}

CASES = [(doc, i, case[0], case[1], case[2] if len(case) > 2 else "")
         for doc, cases in FIXTURES.items() for i, case in enumerate(cases)]
ALL_RULES = FOLD_RULES.rules + ALGEBRA_RULES.rules
FOLD_DOCS = {r.doc for r in FOLD_RULES.rules}


def test_every_rule_has_a_fixture():
    assert [r.doc for r in ALL_RULES] == list(FIXTURES)


@pytest.mark.parametrize("doc,i,before,want,decls", CASES, ids=[f"{c[0]}#{c[1]}" for c in CASES])
def test_rule(doc, i, before, want, decls):
    # fold_constants alone, unless the fixture needs an identity (x - x -> 0) to make its constant
    needs_algebra = doc not in FOLD_DOCS or any(k in before for k in ("sub[", "xor %1, %1"))
    passes = [simplify_expressions if needs_algebra else fold_constants, eliminate_dead_code]
    before, want = pipe(before, decls), pipe(want, decls)
    assert after(passes, before) == canon(want)
    same_meaning(before, passes)

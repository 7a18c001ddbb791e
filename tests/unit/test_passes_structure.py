"""hoist_invariants, eliminate_common_subexpressions, eliminate_dead_code, mark_fusion, guard_maps and
annotate_trip_counts on IR text before and after (with their notes), and the interpreter's
results the same before and after each."""
import pytest

from nicc.compiler.passes import (annotate_trip_counts, eliminate_common_subexpressions, eliminate_dead_code,
                                  eliminate_implied_checks, guard_maps, hoist_invariants, mark_fusion)
from tests.unit.ir_fixtures import after, canon, pipe, same_meaning

END = "verdict[verdict=pass, group=none]\n"
REC9 = ("%0:u16 = payload_len\n%1:u16 = const[value=9]\n%2:bool = ne %0, %1\nreject_if %2\n"
        "%3:u8 = field[name=a, offset=0, endian=be, checked=1]\n%4:u16 = const[value=2]\n"
        "%5:u32[2] = array[name=xs, offset=1, checked=1] %4\n")
MAP = "%6:u32[2] = map %5 {\n  %7:u32 = elem[input=0, field=_]\n  %8:u32 = crc32 %7\n  yield[names=(_)] %8\n}\n"
USE2 = ("%9:u32[2] = map %5, %6 {\n  %10:u32 = elem[input=0, field=_]\n  %11:u32 = elem[input=1, field=_]\n"
        "  %12:u32 = xor %10, %11\n  yield[names=(_)] %12\n}\n")
TABLE = "table @t : u8 -> u8 = [\n" + ", ".join(str(i) for i in range(256)) + "\n]"

CASES = {
    "hoist_invariants: values that do not depend on the element move before the map, in order": (
        hoist_invariants, TABLE,
        "%0:u16 = const[value=4]\n%1:u8[4] = array[name=xs, offset=1] %0\n%2:u8[4] = map %1 {\n"
        "  %3:u8 = elem[input=0, field=_]\n  %4:u8 = field[name=k, offset=0, endian=be]\n  %5:u8 = const[value=1]\n"
        "  %6:u8 = add[overflow=wrap] %4, %5\n  %7:u8 = lut[table=t] %6\n  %8:u8 = xor %3, %7\n  yield[names=(_)] %8\n}\n"
        "emit[endian=(be)] %2\n" + END,
        "%0:u16 = const[value=4]\n%1:u8[4] = array[name=xs, offset=1] %0\n%4:u8 = field[name=k, offset=0, endian=be]\n"
        "%5:u8 = const[value=1]\n%6:u8 = add[overflow=wrap] %4, %5\n%7:u8 = lut[table=t] %6\n%2:u8[4] = map %1 {\n"
        "  %3:u8 = elem[input=0, field=_]\n  %8:u8 = xor %3, %7\n  yield[names=(_)] %8\n}\n"
        "emit[endian=(be)] %2\n" + END),
    "eliminate_common_subexpressions: the later of two equal computations goes; state reads and map bodies stay apart": (
        eliminate_common_subexpressions, "state @s : u8[4] = 0",
        "%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = const[value=3]\n%2:u8 = field[name=a, offset=0, endian=be]\n"
        "%3:u8 = const[value=3]\n%4:u8 = add[overflow=wrap] %0, %1\n%5:u8 = add[overflow=wrap] %2, %3\n"
        "%6:u8 = add[overflow=sat] %2, %3\n%7:u8 = state_read[state=s] %1\n%8:u8 = state_read[state=s] %3\n"
        "%9:u16 = const[value=2]\n%10:u8[2] = array[name=xs, offset=1] %9\n"
        "%11:u8[2] = map %10 {\n  %12:u8 = elem[input=0, field=_]\n  %13:u8 = add[overflow=wrap] %0, %1\n"
        "  %14:u8 = xor %12, %13\n  yield[names=(_)] %14\n}\n"
        "%15:u8[2] = map %10 {\n  %16:u8 = elem[input=0, field=_]\n  %17:u8 = xor %16, %4\n  yield[names=(_)] %17\n}\n"
        "emit[endian=(be, be, be, be, be, be, be)] %4, %5, %6, %7, %8, %11, %15\n" + END,
        "%0:u8 = field[name=a, offset=0, endian=be]\n%1:u8 = const[value=3]\n"
        "%4:u8 = add[overflow=wrap] %0, %1\n%6:u8 = add[overflow=sat] %0, %1\n%7:u8 = state_read[state=s] %1\n"
        "%8:u8 = state_read[state=s] %1\n%9:u16 = const[value=2]\n%10:u8[2] = array[name=xs, offset=1] %9\n"
        "%11:u8[2] = map %10 {\n  %12:u8 = elem[input=0, field=_]\n  %14:u8 = xor %12, %4\n  yield[names=(_)] %14\n}\n"
        "%15:u8[2] = map %10 {\n  %16:u8 = elem[input=0, field=_]\n  %17:u8 = xor %16, %4\n  yield[names=(_)] %17\n}\n"
        "emit[endian=(be, be, be, be, be, be, be)] %4, %4, %6, %7, %8, %11, %15\n" + END),
    "eliminate_dead_code: after a verdict_if that always fires nothing runs; it becomes the verdict": (
        eliminate_dead_code, "",
        "%0:u8 = field[name=a, offset=0, endian=be]\nemit[endian=(be)] %0\n%1:bool = const[value=1]\n"
        "verdict_if[verdict=transmit, group=none] %1\n%2:u8 = field[name=b, offset=1, endian=be]\n"
        "%3:bool = cast[overflow=wrap] %2\nverdict_if[verdict=drop, group=none] %3\n" + END,
        "%0:u8 = field[name=a, offset=0, endian=be]\nemit[endian=(be)] %0\nverdict[verdict=transmit, group=none]\n"),
    "eliminate_dead_code: after a reject_if that always fires only the verdict stays": (
        eliminate_dead_code, "",
        "%0:bool = const[value=1]\nreject_if %0\n%1:u8 = field[name=b, offset=1, endian=be]\nemit[endian=(be)] %1\n"
        + END,
        "%0:bool = const[value=1]\nreject_if %0\n" + END),
    "eliminate_dead_code: a verdict_if giving the final verdict goes, unused checked reads and tables go": (
        eliminate_dead_code, TABLE,
        "%0:u16 = payload_len\n%1:u16 = const[value=2]\n%2:bool = ne %0, %1\nreject_if %2\n"
        "%3:u8 = field[name=a, offset=0, endian=be, checked=1]\n%4:u8 = field[name=b, offset=1, endian=be]\n"
        "%5:u8 = lut[table=t] %3\n%6:bool = cast[overflow=wrap] %3\nverdict_if[verdict=pass, group=none] %6\n" + END,
        "%0:u16 = payload_len\n%1:u16 = const[value=2]\n%2:bool = ne %0, %1\nreject_if %2\n"
        "%4:u8 = field[name=b, offset=1, endian=be]\n" + END, ""),
    "eliminate_dead_code: an emit only drops follow goes": (
        eliminate_dead_code, "",
        "%0:u8 = field[name=a, offset=0, endian=be]\nemit[endian=(be)] %0\n%1:bool = cast[overflow=wrap] %0\n"
        "verdict_if[verdict=drop, group=none] %1\n%2:bool = not %1\nreject_if %2\nverdict[verdict=drop, group=none]\n",
        "%0:u8 = field[name=a, offset=0, endian=be]\n%1:bool = cast[overflow=wrap] %0\n"
        "verdict_if[verdict=drop, group=none] %1\n%2:bool = not %1\nreject_if %2\nverdict[verdict=drop, group=none]\n"),
    "mark_fusion: a map only the emit uses, with nothing after it that can stop the packet": (
        mark_fusion, "",
        REC9 + MAP + "emit[endian=(be, be)] %3, %6\n" + END,
        REC9 + MAP.replace("map %5", "map[fuse=emit] %5").replace("{\n", "{\n# fuse=emit: only the emit at line 1 "
                                                                   "uses it, and no check or read after it can "
                                                                   "stop the packet\n", 1)
        + "emit[endian=(be, be)] %3, %6\n" + END),
    "mark_fusion: not after a later check, nor when something else uses the result": (
        mark_fusion, "",
        REC9 + MAP + "%9:bool = cast[overflow=wrap] %3\nverdict_if[verdict=drop, group=none] %9\n"
        "emit[endian=(be, be)] %3, %6\n" + END,
        REC9 + MAP.replace("{\n", "{\n# not fused: the check at t.py:1 can still stop the packet after it\n", 1)
        + "%9:bool = cast[overflow=wrap] %3\nverdict_if[verdict=drop, group=none] %9\nemit[endian=(be, be)] %3, %6\n"
        + END),
    "guard_maps: a map used only after a drop whose condition is pure: the condition moves before it": (
        guard_maps, "",
        REC9 + MAP + "%9:u8 = const[value=7]\n%10:bool = eq %3, %9\nverdict_if[verdict=drop, group=none] %10\n"
        "emit[endian=(be, be)] %3, %6\n" + END,
        REC9 + "%9:u8 = const[value=7]\n%10:bool = eq %3, %9\n"
        + MAP.replace("map %5", "map[guard=stop] %5").replace("{\n", "{\n# guard=stop: computed only when the packet "
                                                             "passes the check at line 1 (nothing else uses its "
                                                             "results before)\n", 1)
        + "verdict_if[verdict=drop, group=none] %10\nemit[endian=(be, be)] %3, %6\n" + END),
    "guard_maps: a map read only by a write when= and by a guarded map: computed when either reads it": (
        guard_maps, "stream @s [4] {h:u32[2]}",
        REC9 + MAP + USE2 + "%13:u8 = const[value=3]\n%14:bool = eq %3, %13\n%15:u32 = const[value=0]\n"
        "%16:u16 = const[value=0]\nstream_write[stream=s, field=h] %15, %16, %6, %14\n"
        "%17:u8 = const[value=7]\n%18:bool = eq %3, %17\nverdict_if[verdict=drop, group=none] %18\n"
        "emit[endian=(be)] %9\n" + END,
        REC9 + "%17:u8 = const[value=7]\n%18:bool = eq %3, %17\n%13:u8 = const[value=3]\n%14:bool = eq %3, %13\n"
        + MAP.replace("map %5", "map[guard=uses] %5").replace("{\n", "{\n# guard=uses: computed only when the write "
                                                             "at line 1 happens or the map at line 1 runs\n", 1)
        + USE2.replace("map %5", "map[guard=stop] %5").replace("{\n", "{\n# guard=stop: computed only when the "
                                                              "packet passes the check at line 1 (nothing else uses "
                                                              "its results before)\n", 1)
        + "%15:u32 = const[value=0]\n%16:u16 = const[value=0]\nstream_write[stream=s, field=h] %15, %16, %6, %14\n"
        "verdict_if[verdict=drop, group=none] %18\nemit[endian=(be)] %9\n" + END),
    "guard_maps: not when the condition reads state (written after the map, it could differ)": (
        guard_maps, "state @s : u8[4] = 0",
        REC9 + MAP + "%9:u8 = state_read[state=s] %3\n%10:bool = cast[overflow=wrap] %9\n"
        "verdict_if[verdict=drop, group=none] %10\nemit[endian=(be, be)] %3, %6\n" + END,
        REC9 + MAP + "%9:u8 = state_read[state=s] %3\n%10:bool = cast[overflow=wrap] %9\n"
        "verdict_if[verdict=drop, group=none] %10\nemit[endian=(be, be)] %3, %6\n" + END),
    "guard_maps: not when the results are used before the check": (
        guard_maps, "",
        REC9 + MAP + "emit[endian=(be)] %6\n%9:bool = cast[overflow=wrap] %3\nverdict_if[verdict=drop, group=none] %9\n"
        + END,
        REC9 + MAP + "emit[endian=(be)] %6\n%9:bool = cast[overflow=wrap] %3\nverdict_if[verdict=drop, group=none] %9\n"
        + END),
    "mark_fusion: not when the map's result is emitted twice": (
        mark_fusion, "", REC9 + MAP + "emit[endian=(be, be)] %6, %6\n" + END, REC9 + MAP + "emit[endian=(be, be)] %6, %6\n" + END),
    "annotate_trip_counts: fixed arrays, and counts the checks pin": (
        annotate_trip_counts, "",
        "%0:u8 = field[name=n, offset=0, endian=be]\n%1:u8 = const[value=3]\n%2:bool = ne %0, %1\n"
        "%10:u8 = field[name=m, offset=9, endian=be]\n%11:u8[<=8] = array[name=zs, offset=10] %10\n"
        "%12:u8[<=8] = map %11 {\n  %13:u8 = elem[input=0, field=_]\n  yield[names=(_)] %13\n}\n"
        "verdict_if[verdict=drop, group=none] %2\n%3:u8[<=8] = array[name=xs, offset=1] %0\n"
        "%4:u8[<=8] = map %3 {\n  %5:u8 = elem[input=0, field=_]\n  yield[names=(_)] %5\n}\n"
        "%6:u16 = const[value=2]\n%7:u8[2] = array[name=ys, offset=9] %6\n"
        "%8:u8[2] = map %7 {\n  %9:u8 = elem[input=0, field=_]\n  yield[names=(_)] %9\n}\n"
        "emit[endian=(be, be, be)] %4, %8, %12\n" + END,
        "%0:u8 = field[name=n, offset=0, endian=be]\n%1:u8 = const[value=3]\n%2:bool = ne %0, %1\n"
        "%10:u8 = field[name=m, offset=9, endian=be]\n%11:u8[<=8] = array[name=zs, offset=10] %10\n"
        "%12:u8[<=8] = map %11 {\n  %13:u8 = elem[input=0, field=_]\n  yield[names=(_)] %13\n}\n"
        "verdict_if[verdict=drop, group=none] %2\n%3:u8[<=8] = array[name=xs, offset=1] %0\n"
        "%4:u8[<=8] = map[trip=3] %3 {\n# trip=3: xs holds 3 elements whenever it is reached, by the check at t.py:1\n"
        "  %5:u8 = elem[input=0, field=_]\n  yield[names=(_)] %5\n}\n"
        "%6:u16 = const[value=2]\n%7:u8[2] = array[name=ys, offset=9] %6\n"
        "%8:u8[2] = map[trip=2] %7 {\n# trip=2: ys is a fixed-count array of 2\n"
        "  %9:u8 = elem[input=0, field=_]\n  yield[names=(_)] %9\n}\n"
        "emit[endian=(be, be, be)] %4, %8, %12\n" + END),
}


@pytest.mark.parametrize("name", CASES)
def test_pass(name):
    fn, decls, before, want, *want_decls = CASES[name]
    want_decls = want_decls[0] if want_decls else decls
    assert after(fn, pipe(before, decls), notes=True) == canon(pipe(want, want_decls), notes=True)
    same_meaning(pipe(before, decls), [fn])


def test_fusion_after_implied_checks_on_a_record():
    """An unchecked read after the map blocks fusion until eliminate_implied_checks proves it."""
    text = pipe(REC9.replace(", checked=1", "") + MAP + "%9:u8 = field[name=z, offset=8, endian=be]\n"
                "emit[endian=(be, be, be)] %3, %6, %9\n" + END)
    assert "fuse=emit" not in after(mark_fusion, text)
    assert "map[fuse=emit]" in after([eliminate_implied_checks, mark_fusion], text)

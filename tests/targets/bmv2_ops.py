"""IR text of pipelines for the bmv2 tests: every op kind P4 renders, multicast, and the refused ones.

``ops`` is the shared all-ops pipeline (tests/targets/all_ops.py) without
what bmv2 refuses: the timestamp (the switch's clock is not the capture's) and
a second payload array after a counted one.
"""
import re

from all_ops import OPS_NODES, SQ

_DROP = ("%10:u64 = timestamp", "%65:u16[<=5] = array[name=sarr, offset=79] %7")


def _bmv2_nodes() -> str:
    lines = [ln for ln in OPS_NODES.strip().splitlines() if ln.strip() not in _DROP]
    out = []
    for ln in lines:
        if ln.startswith("emit["):
            ends, args = re.match(r"emit\[endian=\((.*)\)\] (.*)", ln).groups()
            pairs = [(e, a) for e, a in zip(ends.split(", "), args.split(", ")) if a not in ("%10", "%65")]
            ln = f"emit[endian=({', '.join(e for e, _ in pairs)})] {', '.join(a for _, a in pairs)}"
        out.append(ln)
    return "\n".join(out)


def ops_text(file: str = "ops.nir") -> str:
    lines = [f"pipeline ops port 9100 {{  # {file}:1",
             f"  state @cnt : u32[64] = 0  # {file}:2",
             f"  state @last : i16[40] = -5  # {file}:3",
             f"  table @sq : u8 -> u16 = [  # {file}:4", "    " + SQ, "  ]"]
    no = 10
    for raw in _bmv2_nodes().splitlines():
        s = raw.rstrip()
        lines.append("  " + s if s == "}" else f"  {s}  # {file}:{no}")
        no += 1
    lines.append("}")
    return "\n".join(lines) + "\n"


MULTICAST_TEXT = """pipeline mc port 9101 {  # mc.nir:1
  group @g = [1, 2]  # mc.nir:2
  group @h = [3, 1, 4]  # mc.nir:3
  %0:u16 = payload_len  # mc.nir:4
  %1:u16 = const[value=4]  # mc.nir:5
  %2:bool = lt %0, %1  # mc.nir:6
  verdict_if[verdict=multicast, group=g] %2  # mc.nir:7
  %3:u8 = field[name=a, offset=0, endian=be]  # mc.nir:8
  %4:u8 = const[value=128]  # mc.nir:9
  %5:bool = ge %3, %4  # mc.nir:10
  verdict_if[verdict=transmit, group=none] %5  # mc.nir:11
  %6:u8 = const[value=1]  # mc.nir:12
  %7:u8 = add[overflow=wrap] %3, %6  # mc.nir:13
  emit[endian=(be)] %7  # mc.nir:14
  verdict[verdict=multicast, group=h]  # mc.nir:15
}
"""

TIMESTAMP_TEXT = """pipeline ts port 9104 {  # ts.nir:1
  %0:u64 = timestamp  # ts.nir:2
  emit[endian=(be)] %0  # ts.nir:3
  verdict[verdict=pass, group=none]  # ts.nir:4
}
"""

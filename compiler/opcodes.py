"""The closed set of IR op kinds and what each looks like (tinygrad's ``Ops``, jaxpr's primitives).

    >>> SPECS[Op.FIELD].attrs, SPECS[Op.FIELD].optional
    (('name', 'offset', 'endian'), ('checked',))

Optional attributes and who sets them (docs: the midend/backend interface):

=========================  ==========  =====================================================
op                         attribute   meaning
=========================  ==========  =====================================================
``field``, ``array``       ``checked`` ``1``: the bytes it reads are proven present by earlier
                                       checks; no bounds check is needed before the read
``map``                    ``fuse``    ``emit``: only the emit uses the result, and nothing
                                       after the map can stop the packet
``map``                    ``trip``    the element count is this constant
``crc32``, ``bucketize``,  ``impl``    the implementation a target's lowering chose
``lut``
``map``, ``scan``          ``schedule`` how a target's lowering runs the loop
``rom``                    ``impl``    where a target keeps the table (``static``, ``rodata``,
                                       ``map``: its own read-only BPF array map)
=========================  ==========  =====================================================
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Op(enum.Enum):
    # sources
    CONST = "const"               # [value]               -> scalar
    PAYLOAD_LEN = "payload_len"   #                       -> u16
    FIELD = "field"               # [name, offset, endian] -> scalar
    ARRAY = "array"               # [name, offset] (count) -> array
    TIMESTAMP = "timestamp"       #                       -> u64 ns
    # arithmetic and logic (operands of one type)
    ADD = "add"                   # [overflow]
    SUB = "sub"                   # [overflow]
    MUL = "mul"                   # [overflow]
    DIV = "div"                   # x / 0 == 0 (as eBPF)
    MOD = "mod"                   # x % 0 == x (as eBPF)
    AND = "and"
    OR = "or"
    XOR = "xor"
    SHL = "shl"
    SHR = "shr"
    NOT = "not"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    SELECT = "select"             # (cond, a, b)
    CAST = "cast"                 # [to, overflow]
    # tables and hashing
    LUT = "lut"                   # [table] (index)
    BUCKETIZE = "bucketize"       # [boundaries] (x) -> u8
    CRC32 = "crc32"               # (x) zlib crc32 of x's big-endian bytes -> u32
    # arrays
    MAP = "map"                   # (arrays...) { elem ... yield }
    ELEM = "elem"                 # [input, field] element of the map's input
    YIELD = "yield"               # [names] (values...) end of a map body
    # per-flow state
    STATE_READ = "state_read"     # [state] (index)
    STATE_WRITE = "state_write"   # [state] (index, value, cond)
    STATE_UPDATE_IF = "state_update_if"  # [state, cmp] (index, value) -> bool: value <cmp> old then store
    # streams across packets, windows, scans, the host part (docs/streams.md)
    STREAM_READ = "stream_read"   # [stream, field] (slot) -> field type
    STREAM_WRITE = "stream_write"  # [stream, field] (slot, value, cond) | (slot, offset, array, cond)
    ROM = "rom"                   # [table] -> T[len]: a constant table as an array value
    RANGE = "range"               # [max] (count) -> u16[<=max]: 0 .. count-1
    GATHER = "gather"             # [field] (array, index) -> scalar; index >= count reads 0
    SCAN = "scan"                 # [max, names, out, out_max] (inits...) { ... yield } -> {names}
    CARRY = "carry"               # [index] current value of a carry (scan body)
    PUT = "put"                   # (index, value, cond) out[index] = value (scan body)
    GET = "get"                   # [name] (scan) -> final carry
    SCAN_OUT = "scan_out"         # [count] (scan) -> out[<=out_max], count = final carry
    HOST_IF = "host_if"           # [host] (cond) leave with the host function's payload
    # host-only math (floats): the partition pass puts it on the host
    CALL = "call"                 # [fn] (args...) a numpy function of compiler/hostfuncs.py, elementwise
    # effects and verdicts
    REJECT_IF = "reject_if"       # (cond) malformed: pass unchanged, stop
    VERDICT_IF = "verdict_if"     # [verdict, group] (cond) stop with verdict
    EMIT = "emit"                 # [endian] (values...) new payload
    VERDICT = "verdict"           # [verdict, group] final verdict


VERDICTS = ("pass", "transmit", "drop", "multicast")
ARITH = (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MOD, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR)
COMPARE = (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE)
EFFECTS = (Op.STATE_WRITE, Op.STATE_UPDATE_IF, Op.REJECT_IF, Op.VERDICT_IF, Op.EMIT, Op.VERDICT, Op.YIELD,
           Op.STREAM_WRITE, Op.PUT, Op.SCAN, Op.HOST_IF)
BODY_OPS = (Op.MAP, Op.SCAN)      # ops that hold a nested block


@dataclass(frozen=True)
class OpSpec:
    """What an op kind looks like: its attributes, whether it has a result, how many operands.

    ``attrs`` are always present and define the node; ``optional`` attributes are facts and
    choices added by passes (``checked``, ``fuse``, ``trip``, ``impl``, ``schedule``): they
    never change what a node means, and a consumer that does not know one ignores it.
    """
    attrs: tuple[str, ...] = ()
    result: bool = True
    arity: int | None = None      # None: variadic
    optional: tuple[str, ...] = ()


SPECS: dict[Op, OpSpec] = {
    Op.CONST: OpSpec(("value",), arity=0),
    Op.PAYLOAD_LEN: OpSpec(arity=0),
    Op.FIELD: OpSpec(("name", "offset", "endian"), arity=0, optional=("checked",)),
    Op.ARRAY: OpSpec(("name", "offset"), arity=1, optional=("checked",)),
    Op.TIMESTAMP: OpSpec(arity=0),
    **{op: OpSpec(("overflow",), arity=2) for op in (Op.ADD, Op.SUB, Op.MUL)},
    **{op: OpSpec(arity=2) for op in (Op.DIV, Op.MOD, Op.AND, Op.OR, Op.XOR, Op.SHL, Op.SHR)},
    Op.NOT: OpSpec(arity=1),
    **{op: OpSpec(arity=2) for op in COMPARE},
    Op.SELECT: OpSpec(arity=3),
    Op.CAST: OpSpec(("overflow",), arity=1),
    Op.LUT: OpSpec(("table",), arity=1, optional=("impl",)),
    Op.BUCKETIZE: OpSpec(("boundaries",), arity=1, optional=("impl",)),
    Op.CRC32: OpSpec(arity=1, optional=("impl",)),
    Op.MAP: OpSpec(optional=("fuse", "trip", "schedule", "guard")),
    Op.ELEM: OpSpec(("input", "field"), arity=0),
    Op.YIELD: OpSpec(("names",), result=False),
    Op.STATE_READ: OpSpec(("state",), arity=1),
    Op.STATE_WRITE: OpSpec(("state",), result=False, arity=3),
    Op.STATE_UPDATE_IF: OpSpec(("state", "cmp"), arity=2),
    Op.STREAM_READ: OpSpec(("stream", "field"), arity=1),
    Op.STREAM_WRITE: OpSpec(("stream", "field"), result=False),
    Op.ROM: OpSpec(("table",), arity=0, optional=("impl",)),
    Op.RANGE: OpSpec(("max",), arity=1),
    Op.GATHER: OpSpec(("field",), arity=2),
    Op.SCAN: OpSpec(("max", "names", "out", "out_max"), optional=("schedule",)),
    Op.CARRY: OpSpec(("index",), arity=0),
    Op.PUT: OpSpec(result=False, arity=3),
    Op.GET: OpSpec(("name",), arity=1),
    Op.SCAN_OUT: OpSpec(("count",), arity=1),
    Op.HOST_IF: OpSpec(("host",), result=False, arity=1),
    Op.CALL: OpSpec(("fn",)),
    Op.REJECT_IF: OpSpec(result=False, arity=1),
    Op.VERDICT_IF: OpSpec(("verdict", "group"), result=False, arity=1, optional=("port",)),
    Op.EMIT: OpSpec(("endian",), result=False, optional=("port",)),
    Op.VERDICT: OpSpec(("verdict", "group"), result=False, arity=0),
}
assert set(SPECS) == set(Op)
# every stage may be pinned to a place by the user (nd.on_host / nd.on_nic): the partition pass reads it
SPECS = {op: replace(spec, optional=spec.optional + ("place",)) for op, spec in SPECS.items()}

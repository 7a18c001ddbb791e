"""nicc's Python-embedded DSL (import as ``import nicc.dsl as nd``).

    import nicc.dsl as nd

    class Msg(nd.Record):
        msg_id = nd.u64
        body = nd.rest

    seen = nd.state("seen", nd.u64, size=16384)

    @nd.pipeline(port=9003)
    def dedup(rec: Msg):
        fresh = seen.update_if(rec.msg_id & 16383, rec.msg_id, "gt")
        nd.drop_if(~fresh)
        return nd.to_host()
"""
from ..compiler.types import U8 as u8, U16 as u16, U32 as u32, U64 as u64  # noqa: F401
from ..compiler.types import I8 as i8, I16 as i16, I32 as i32, I64 as i64, BOOL as bool_, F16 as f16  # noqa: F401
from ..compiler.types import F32 as f32, F64 as f64  # noqa: F401
from ..compiler.errors import NiccError  # noqa: F401
from .schema import Record, Struct, array, rest  # noqa: F401
from .tracer import Value, ArrayValue  # noqa: F401
from .ops import (addr, bucketize, const, crc32, drop, drop_if, emit, group, le, lut, map, member,  # noqa: F401
                  multicast, multicast_if, on_host, on_nic, overflow, pass_if, reject_if, state, timestamp, to_host,
                  transmit, transmit_if, where)
from .pipeline import PipelineDef, load, load_all, pipeline  # noqa: F401
from .tree import Tree, load_tree, release, repair, tree  # noqa: F401
from .streams import host, host_if, rom, scan, stream, range_ as range  # noqa: F401
from .fixed import Fixed  # noqa: F401

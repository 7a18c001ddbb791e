"""Frames of every size: a record larger than a page (4004 bytes), and output that grows 4x.

`big`: u32 id, then 4000 u8 values, each replaced by a table lookup (same size out).
`grow`: u16 count, then up to 4000 u8 values, each emitted as a u32 (the frame grows up to 4x).
"""
import nicc.dsl as nd


class Big(nd.Record):
    ident = nd.u32
    data = nd.array(nd.u8, 4000)


class Grow(nd.Record):
    count = nd.u16
    data = nd.array(nd.u8, count="count", max=4000)


square = nd.lut(lambda x: (int(x) * int(x)) & 0xFF, domain=nd.u8, out=nd.u8, name="square")


@nd.pipeline(port=9101)
def big(rec: Big):
    return nd.to_host(rec.ident, rec.data.map(lambda x: square(x)))


@nd.pipeline(port=9102)
def grow(rec: Grow):
    return nd.to_host(rec.count, rec.data.map(lambda x: x.cast(nd.u32) * 16843009))

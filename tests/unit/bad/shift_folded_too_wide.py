import nicc.dsl as nd
class R(nd.Record):
    a = nd.u32
    xs = nd.array(nd.u32, 4)
@nd.pipeline(port=9000)
def p(rec: R):
    k = nd.const(3, nd.u8) * 11
    out = rec.xs.map(lambda x: x >> k)  # expect: shift by 33, not less than the width of u32 (32 bits)
    return nd.to_host(out)

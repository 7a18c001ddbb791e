import nicc.dsl as nd
class R(nd.Record):
    a = nd.u32
big = nd.lut(lambda x: x, domain=nd.u32, out=nd.u32)  # expect: lut domain must be an integer type of at most 16 bits
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host(big(rec.a))

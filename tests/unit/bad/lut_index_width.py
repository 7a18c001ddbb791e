import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
square = nd.lut(lambda x: int(x) * int(x), domain=nd.u8, out=nd.u16)
@nd.pipeline(port=9000)
def p(rec: R):
    y = square(rec.a)  # expect: indexed by u8, got u16
    return nd.to_host(y)

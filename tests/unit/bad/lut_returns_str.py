import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
hexed = nd.lut(lambda x: f"{int(x):02x}", domain=nd.u8, out=nd.u16)  # expect: lut function must return numbers, got str
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host(hexed(rec.a))

import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
def clamp(x):
    if x < 100:
        return x
clamped = nd.lut(clamp, domain=nd.u8, out=nd.u8)  # expect: lut function must return numbers, got None
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host(clamped(rec.a))

import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
    b = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    x = nd.Fixed(rec.a, 8) + nd.Fixed(rec.b, 4)  # expect: with 8 and 4 fractional bits
    return nd.to_host(x.raw)

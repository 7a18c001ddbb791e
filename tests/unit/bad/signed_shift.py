import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
    s = nd.i16
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.a << rec.s  # expect: shift amount must be unsigned
    return nd.to_host(y)

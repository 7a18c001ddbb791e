import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
    b = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    x = rec.a + rec.b  # expect: width mismatch: u8 + u16
    return nd.to_host(x)

import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    out = rec.a.map(lambda x: x + 1)  # expect: .map on a scalar
    return nd.to_host(out)

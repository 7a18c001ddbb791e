import nicc.dsl as nd
class R(nd.Record):
    k = nd.u8
    xs = nd.array(nd.u8, 4)
@nd.pipeline(port=9100)
def p(rec: R):
    out = rec.xs.map(lambda x: x ^ rec.k)
    return nd.to_host(out)

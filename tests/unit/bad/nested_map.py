import nicc.dsl as nd
class R(nd.Record):
    xs = nd.array(nd.u8, 4)
    ys = nd.array(nd.u8, 4)
@nd.pipeline(port=9000)
def p(rec: R):
    out = rec.xs.map(lambda x: rec.ys.map(lambda y: x + y))  # expect: nested map
    return nd.to_host(out)

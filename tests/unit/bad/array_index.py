import nicc.dsl as nd
class R(nd.Record):
    xs = nd.array(nd.u8, 4)
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.xs[0:2]  # expect: array slicing
    return nd.to_host(y)

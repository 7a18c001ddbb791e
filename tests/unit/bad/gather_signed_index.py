import nicc.dsl as nd
class R(nd.Record):
    i = nd.i16
    xs = nd.array(nd.u8, 4)
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.xs[rec.i]  # expect: array index must be an unsigned integer
    return nd.to_host(y)

import nicc.dsl as nd
class R(nd.Record):
    a = nd.u32
@nd.pipeline(port=9000)
def p(rec: R):
    b = nd.bucketize(rec.a, [10, 5, 20])  # expect: boundaries must be 1..255 sorted
    return nd.to_host(b)

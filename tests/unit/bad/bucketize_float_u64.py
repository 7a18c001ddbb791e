import nicc.dsl as nd
class R(nd.Record):
    a = nd.u64
@nd.pipeline(port=9000)
def p(rec: R):
    b = nd.bucketize(rec.a, [0.5, 2.0 ** 60])  # expect: bucketize of a 64-bit value with float boundaries of 2**53
    return nd.to_host(b)

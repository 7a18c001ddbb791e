import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    b = nd.bucketize(rec.a, [1.0, float("nan")])  # expect: bucketize boundary nan is not a finite number
    return nd.to_host(b)

import nicc.dsl as nd
class R(nd.Record):
    xs = nd.array(nd.u8, 4)
@nd.pipeline(port=9000)
def p(rec: R):
    inner = []
    out = rec.xs.map(lambda x: inner.append(x + 1) or x)
    return nd.to_host(inner[0])  # expect: a value made inside a map body cannot be used outside

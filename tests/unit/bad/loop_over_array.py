import nicc.dsl as nd
class R(nd.Record):
    n = nd.u8
    xs = nd.array(nd.u8, count="n", max=16)
@nd.pipeline(port=9000)
def p(rec: R):
    total = nd.const(0, nd.u8)
    for x in rec.xs:  # expect: unbounded loop
        total = total + x
    return nd.to_host(total)

import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.a + nd.const(1.5, nd.u16)  # expect: nd.const needs an integer, got float 1.5
    return nd.to_host(y)

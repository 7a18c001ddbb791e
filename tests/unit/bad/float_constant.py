import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.a * 0.5  # expect: float constant 0.5 cannot reach NIC code
    return nd.to_host(y)

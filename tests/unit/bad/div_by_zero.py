import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.a // 0  # expect: division by zero: the divisor is always 0
    return nd.to_host(y)

import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
STEP = 4
@nd.pipeline(port=9000)
def p(rec: R):
    d = nd.const(STEP, nd.u16) - 4
    y = rec.a % (d * 3)  # expect: modulo by zero: the divisor is always 0
    return nd.to_host(y)

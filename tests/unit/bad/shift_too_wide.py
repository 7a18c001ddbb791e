import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.a << 8  # expect: shift by 8, not less than the width of u8 (8 bits)
    return nd.to_host(y)

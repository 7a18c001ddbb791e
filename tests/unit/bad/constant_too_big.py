import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    nd.drop_if(rec.a > 300)  # expect: constant 300 does not fit u8
    return nd.to_host()

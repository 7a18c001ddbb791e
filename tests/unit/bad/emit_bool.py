import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host(rec.a > 1)  # expect: cannot emit a bool

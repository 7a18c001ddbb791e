import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.a / 255  # expect: '/' makes a float
    return nd.to_host(y)

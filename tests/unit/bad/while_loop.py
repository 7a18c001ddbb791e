import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    x = rec.a
    while x > 0:  # expect: Python control flow on a traced value
        x = x - 1
    return nd.to_host(x)

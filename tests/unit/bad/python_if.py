import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    if rec.a > 3:  # expect: Python control flow on a traced value
        return nd.drop()
    return nd.to_host()

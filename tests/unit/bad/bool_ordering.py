import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    nd.drop_if((rec.a > 1) < (rec.a > 2))  # expect: bool values cannot be ordered
    return nd.to_host()

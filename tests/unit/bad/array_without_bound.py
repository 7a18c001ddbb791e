import nicc.dsl as nd
class R(nd.Record):
    n = nd.u16
    xs = nd.array(nd.u8, count="n")  # expect: has no bound
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host()

import nicc.dsl as nd
class R(nd.Record):
    k = nd.u32
s = nd.stream("s", last=nd.u16)  # expect: needs slots=N
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host()

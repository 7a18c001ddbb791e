import nicc.dsl as nd
class R(nd.Record):
    n = nd.u8
    xs = nd.array(nd.u8, count="m", max=8)  # expect: counted by 'm', which is not an earlier integer field
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host()

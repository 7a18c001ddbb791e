import nicc.dsl as nd
class R(nd.Record):  # expect: only the last field of a record may vary in length
    n = nd.u8
    xs = nd.array(nd.u8, count="n", max=8)
    tail = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host()

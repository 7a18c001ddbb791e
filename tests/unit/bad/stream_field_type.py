import nicc.dsl as nd
class R(nd.Record):
    k = nd.u32
s = nd.stream("s", slots=4, last=nd.u16)
@nd.pipeline(port=9000)
def p(rec: R):
    s[rec.k & 3].last = rec.k  # expect: holds u16, got u32
    return nd.to_host()

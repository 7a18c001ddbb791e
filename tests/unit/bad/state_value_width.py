import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
last = nd.state("last", nd.u64, size=256)
@nd.pipeline(port=9000)
def p(rec: R):
    last[rec.a] = rec.a  # expect: state @last holds u64, got u8
    return nd.to_host()

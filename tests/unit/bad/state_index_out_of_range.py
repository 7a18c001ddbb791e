import nicc.dsl as nd
class R(nd.Record):
    a = nd.u64
seen = nd.state("seen", nd.u64, size=16384)
@nd.pipeline(port=9000)
def p(rec: R):
    seen[16384] = rec.a  # expect: state index 16384 is out of range for @seen (size 16384
    return nd.to_host()

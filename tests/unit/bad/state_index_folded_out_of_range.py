import nicc.dsl as nd
class R(nd.Record):
    a = nd.u64
seen = nd.state("seen", nd.u64, size=100)
@nd.pipeline(port=9000)
def p(rec: R):
    slot = nd.const(50, nd.u16) * 2
    fresh = seen.update_if(slot, rec.a, "gt")  # expect: state index 100 is out of range for @seen
    nd.drop_if(~fresh)
    return nd.to_host()

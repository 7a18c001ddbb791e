import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
seen = nd.state("seen", nd.u32)  # expect: state 'seen' has no size
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host()

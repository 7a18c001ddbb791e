import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    g = nd.group("g", [nd.member(1, ip="10.0.0.1"), nd.member(2)])  # expect: every member gives the same fields
    return nd.multicast(g)

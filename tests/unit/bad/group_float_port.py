import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    g = nd.group("g", [1, 2.5])  # expect: multicast group ports must be a list of port numbers
    return nd.multicast(g)

import nicc.dsl as nd
class R(nd.Record):
    k = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    r = nd.scan(lambda c: {"i": c.i + 1}, max_steps=10, i=rec.k)  # expect: returns a dict with 'cont'
    return nd.to_host(r.i)

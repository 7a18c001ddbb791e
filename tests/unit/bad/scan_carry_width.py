import nicc.dsl as nd
class R(nd.Record):
    k = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    r = nd.scan(lambda c: {"cont": c.i < 9, "i": c.i.cast(nd.u32)}, max_steps=10, i=rec.k)  # expect: carry 'i' is u16 but the body yields u32
    return nd.to_host(r.i)

import nicc.dsl as nd
class R(nd.Record):
    a = nd.i32
@nd.pipeline(port=9000)
def p(rec: R):
    h = nd.crc32(rec.a)  # expect: crc32 input must be unsigned
    return nd.to_host(h)

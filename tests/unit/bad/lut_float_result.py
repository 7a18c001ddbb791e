import math
import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
root = nd.lut(lambda x: math.sqrt(x), domain=nd.u8, out=nd.u8)  # expect: lut function returns floats
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host(root(rec.a))

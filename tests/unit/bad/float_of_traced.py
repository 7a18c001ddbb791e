import math
import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    y = math.sqrt(rec.a)  # expect: float() of a traced value
    return nd.to_host()

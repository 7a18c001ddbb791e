import numpy as np
import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
@nd.pipeline(port=9000)
def p(rec: R):
    y = np.sqrt(rec.a)  # expect: numpy.sqrt of a traced value
    return nd.to_host(y)

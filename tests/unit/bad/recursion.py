import nicc.dsl as nd
class R(nd.Record):
    a = nd.u16
def collatz(x):
    return collatz(nd.where((x & 1) == 1, x * 3 + 1, x >> 1))  # expect: unbounded recursion while tracing pipeline 'p'
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host(collatz(rec.a))

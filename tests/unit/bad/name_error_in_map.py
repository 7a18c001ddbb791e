import nicc.dsl as nd
class R(nd.Record):
    xs = nd.array(nd.u8, 4)
@nd.pipeline(port=9000)
def p(rec: R):
    out = rec.xs.map(lambda x: x ^ kee)  # expect: NameError while tracing pipeline 'p': name 'kee' is not defined
    return nd.to_host(out)

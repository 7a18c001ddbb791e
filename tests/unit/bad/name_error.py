import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    y = rec.a + offest  # expect: NameError while tracing pipeline 'p': name 'offest' is not defined
    return nd.to_host(y)

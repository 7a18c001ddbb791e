import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    x = rec.a
      return nd.to_host(x)  # expect: syntax error: unexpected indent

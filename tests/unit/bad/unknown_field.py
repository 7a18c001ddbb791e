import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    nd.drop_if(rec.label > 1)  # expect: record R has no field 'label'
    return nd.to_host()

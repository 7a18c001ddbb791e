import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
table = [x * 2 for x in rnage(10)]  # expect: NameError while loading the pipeline file: name 'rnage' is not defined
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host()

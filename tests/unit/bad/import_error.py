import nicc.dsl as nd
import nicc_no_such_module  # expect: ModuleNotFoundError while loading the pipeline file: No module named 'nicc_no_such_module'
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: R):
    return nd.to_host()

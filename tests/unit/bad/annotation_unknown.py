from __future__ import annotations
import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
@nd.pipeline(port=9000)
def p(rec: Rec):  # expect: cannot resolve the annotations of pipeline 'p': NameError: name 'Rec' is not defined
    return nd.to_host()

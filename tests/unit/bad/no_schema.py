import nicc.dsl as nd
@nd.pipeline(port=9000)
def p(rec):  # expect: needs a record schema
    return nd.to_host()

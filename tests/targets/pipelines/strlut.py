"""A lookup table whose bytes look like a C string (clang would put it in .rodata.str1.1)."""
import nicc.dsl as nd
class R(nd.Record):
    a = nd.u8
rev = nd.lut(lambda x: 255 - x, domain=nd.u8, out=nd.u8, name="rev")
@nd.pipeline(port=9200)
def strlut(rec: R):
    return nd.to_host(rev(rec.a))

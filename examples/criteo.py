"""E2: Criteo-style recommendation features: bucketize dense values, hash categoricals.

Payload (UDP port 9002, exactly 157 bytes): label u8, 13 dense u32, 26
categorical u32. Output (118 bytes): label; 13 u8 buckets, the number of
boundaries 1, 2, 4, ..., 2^31 that are <= x; 26 little-endian u32 hashes
zlib.crc32(x as 4 big-endian bytes) & (2^20 - 1). Records with label > 1 are dropped.
"""
import nicc.dsl as nd

BOUNDARIES = [1 << i for i in range(32)]
HASH_BITS = 20


class Criteo(nd.Record):
    label = nd.u8
    dense = nd.array(nd.u32, 13)
    cats = nd.array(nd.u32, 26)


@nd.pipeline(port=9002)
def criteo(rec: Criteo):
    nd.drop_if(rec.label > 1)
    buckets = rec.dense.map(lambda x: nd.bucketize(x, BOUNDARIES))
    hashes = rec.cats.map(lambda x: nd.crc32(x) & ((1 << HASH_BITS) - 1))
    return nd.to_host(rec.label, buckets, nd.le(hashes))

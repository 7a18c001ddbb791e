"""A host part for E2 (examples/criteo.py) run on a NIC: its input record is E2's output payload.

E2 on the NIC emits label u8, 13 bucket u8 and 26 hashes as little-endian u32 (118 bytes). Records
are read big-endian, so each hash is byte-swapped back here; the host runtime then delivers the
same values E2 computes (label, buckets, crc32 & (2^20 - 1))."""
import nicc.dsl as nd


class CriteoOut(nd.Record):
    label = nd.u8
    buckets = nd.array(nd.u8, 13)
    hashes = nd.array(nd.u32, 26)


def bswap32(h):
    return (h << 24) | ((h << 8) & 0xFF0000) | ((h >> 8) & 0xFF00) | (h >> 24)


@nd.pipeline(port=9002)
def criteo_host(rec: CriteoOut):
    return nd.to_host(rec.label, rec.buckets, rec.hashes.map(bswap32))

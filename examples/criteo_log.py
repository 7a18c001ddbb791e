"""E2 with float features: the same record, label filter and hashes as examples/criteo.py, and
the dense values as float32 ``log1p``, written in plain numpy inside the pipeline.

Payload (UDP port 9002, 157 bytes): label u8, 13 dense u32, 26 categorical u32. Output (157
bytes): label u8, 13 float32 little-endian ``np.log1p(np.float32(dense))``, 26 little-endian u32
``crc32 & (2^20 - 1)``. Records with label > 1 are dropped.

No NIC has floating point: the partition pass (docs/partition.md) puts the float math on the
host and everything before it (parsing, the label filter, the hashes) on the NIC; `nicc compile
--explain` shows the cut, and `nicc run` gives the same bytes on every target.
"""
import numpy as np

import nicc.dsl as nd

HASH_BITS = 20


class Criteo(nd.Record):
    label = nd.u8
    dense = nd.array(nd.u32, 13)
    cats = nd.array(nd.u32, 26)


@nd.pipeline(port=9002)
def criteo_log(rec: Criteo):
    nd.drop_if(rec.label > 1)
    hashes = rec.cats.map(lambda x: nd.crc32(x) & ((1 << HASH_BITS) - 1))
    dense = np.log1p(rec.dense.astype(np.float32))
    return nd.to_host(rec.label, nd.le(dense), nd.le(hashes))

"""E1: per-channel ImageNet normalization of RGB pixels to float16, exactly, on the NIC.

Payload (UDP port 9001): image_id u32, row u16, col u16, count u16, then
`count` interleaved RGB pixels. Output: the same 10-byte header, then 3*count
little-endian float16 values ((x / 255) - mean[c]) / std[c], computed in
float32 as torch does. The float math runs at compile time: each channel is a
256-entry lookup table of exact float16 results.
"""
import numpy as np

import nicc.dsl as nd

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Pixel(nd.Struct):
    r = nd.u8
    g = nd.u8
    b = nd.u8


class ImageRow(nd.Record):
    image_id = nd.u32
    row = nd.u16
    col = nd.u16
    count = nd.u16
    pixels = nd.array(Pixel, count="count", max=240)


def normalizer(mean: float, std: float):
    """float16(((x / 255) - mean) / std), each step rounded to float32."""
    m, s = np.float32(mean), np.float32(std)
    return lambda x: np.float16((np.float32(x) / np.float32(255) - m) / s)


norm = [nd.lut(normalizer(m, s), domain=nd.u8, out=nd.f16, name=f"norm_{c}")
        for c, m, s in zip("rgb", MEAN, STD)]


@nd.pipeline(port=9001)
def normalize(rec: ImageRow):
    out = rec.pixels.map(lambda px: {"r": norm[0](px.r), "g": norm[1](px.g), "b": norm[2](px.b)})
    return nd.to_host(rec.image_id, rec.row, rec.col, rec.count, nd.le(out))

"""Map bodies that use values from outside them (closures), in the idioms users write.

Shared by the unit tests (reference interpreter against a plain Python model) and the
target tests (each target against the reference). One pipeline per idiom, one port each.
"""
import numpy as np

import nicc.dsl as nd
from nicc.runtime.packets import udp_frame


class R(nd.Record):
    key = nd.u8
    bias = nd.u16
    xs = nd.array(nd.u8, 6)
    ys = nd.array(nd.u8, 6)
    n = nd.u8
    ws = nd.array(nd.u16, count="n", max=10)


seen = nd.state("closure_seen", nd.u16, size=64)
inv = nd.lut(lambda x: int(x) * 7 & 255, domain=nd.u8, out=nd.u8, name="inv")


@nd.pipeline(port=9201)
def before(rec: R):
    """A field read before the map and used inside it."""
    key = rec.key
    out = rec.xs.map(lambda x: x ^ key)
    return nd.to_host(key, out)


@nd.pipeline(port=9202)
def inside_after(rec: R):
    """A field read first inside the map body, then again after it."""
    out = rec.ws.map(lambda w: w + rec.bias)
    nd.drop_if(rec.bias == 7)
    return nd.to_host(rec.bias, out)


@nd.pipeline(port=9203)
def derived(rec: R):
    """Outer values made from fields, a table and state; shifts and choices by them inside."""
    k = inv(rec.key)
    slot = rec.key & 63
    base = seen[slot]
    seen[slot] = rec.bias
    out = rec.ws.map(lambda w: {"a": nd.where(w > rec.bias, w - rec.bias, base),
                                "b": w.cast(nd.u8) ^ k,
                                "c": w >> (rec.bias & 7)})
    return nd.to_host(base, out)


@nd.pipeline(port=9204)
def zipped(rec: R):
    """Two arrays zipped, with an outer value made inside the body and used after it."""
    out = nd.map(lambda x, y: nd.where(x > y, x - y, (rec.key & 15) + y), rec.xs, rec.ys)
    return nd.to_host(rec.key & 15, out)


NAMES = ["before", "inside_after", "derived", "zipped"]


def payloads(rng, n):
    """Payloads for R: valid ones of every count, and malformed ones."""
    out = []
    for i in range(n):
        cnt = int(rng.integers(0, 11))
        pl = bytearray(rng.integers(0, 256, 16 + 2 * cnt, dtype=np.uint8).tobytes())
        pl[15] = cnt
        if i % 7 == 0:
            pl[1:3] = b"\x00\x07"                    # bias 7: inside_after drops
        if i % 3 == 0:
            pl[0] = 64 * (i % 4) + i % 5             # state slots used again and again
        if i % 13 == 0:
            pl = pl[:-1]                             # malformed: one byte short
        elif i % 17 == 0:
            pl[15] = 11                              # malformed: count over the bound
        out.append(bytes(pl))
    return out


def frames(port, n, seed):
    """``n`` frames to ``port``: records of every count, drops, repeated state slots, malformed ones."""
    rng = np.random.default_rng(seed)
    return [bytes(udp_frame(pl, port, rng)) for pl in payloads(rng, n)]


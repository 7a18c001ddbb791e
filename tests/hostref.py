"""What the host runtime must deliver, worked out from the reference interpreter's output frames.

The host runtime keeps the emitted *values*; the reference interpreter writes them as payload
bytes. This decodes those bytes again, written independently of nicc.runtime.host: the
payload is the emitted values in order, each in its byte order, an array being its elements
in order, a count-prefixed array as many elements as the payload's length leaves for it.
"""
import numpy as np

from nicc.compiler.interp import Reference
from nicc.compiler.ir import Op
from nicc.compiler.types import Array

LEAVE = ("pass", "transmit", "multicast")


def wire_dtype(t, endian):
    if t.kind == "f16":
        return np.dtype("<f2" if endian == "le" else ">f2")
    if t.kind == "bool":
        return np.dtype("?")
    return np.dtype(f"{'<' if endian == 'le' else '>'}{'i' if t.signed else 'u'}{t.nbytes}")


def _count(n, inp: bytes) -> int:
    """Elements of array value ``n`` for input payload ``inp``: its count field (or constant), clamped
    to 0..max, as the record declares (a map has the count of its first input)."""
    if n.op is Op.MAP:
        return _count(n.args[0], inp)
    assert n.op is Op.ARRAY, n.op
    c = n.args[0]
    if c.op is Op.CONST:
        v = c.attr("value")
    else:
        assert c.op is Op.FIELD, c.op
        off, t = c.attr("offset"), c.type
        v = int.from_bytes(inp[off:off + t.nbytes], "big" if c.attr("endian") == "be" else "little", signed=t.signed)
    return max(0, min(v, n.type.max))


def decode_payload(ir, payload: bytes, inp: bytes) -> list:
    """The emitted values of one output payload (input payload ``inp``): a scalar per scalar, a
    structured array per array."""
    e = ir.emit()
    out, off = [], 0
    for a, end in zip(e.args, e.attr("endian")):
        t = a.type
        if isinstance(t, Array):
            esz = t.struct.nbytes
            n = t.max if not t.dynamic else _count(a, inp)
            dt = np.dtype([(f, wire_dtype(ft, end)) for f, ft in t.struct.fields])
            rec = np.frombuffer(payload[off:off + n * esz], dtype=dt)
            out.append(rec)
            off += n * esz
        else:
            out.append(np.frombuffer(payload[off:off + t.nbytes], dtype=wire_dtype(t, end))[0])
            off += t.nbytes
    assert off == len(payload), (off, len(payload))
    return out


def expected(ir, frames, ts=None, unemitted=lambda frame: False):
    """Position and decoded values of each row the host runtime must deliver. ``unemitted(frame)``
    says which frames leave before the emit, unchanged (the test's own reading of its pipeline)."""
    res = Reference(ir).run(frames, ts)
    out = []
    for i, r in enumerate(res):
        if r.reason != "selected" or r.verdict not in LEAVE or unemitted(frames[i]):
            continue
        f = r.frames[0]
        pl = f[42:42 + int.from_bytes(f[38:40], "big") - 8]        # the UDP payload (no Ethernet padding)
        if ir.emit() is None:
            out.append((i, [pl]))
        else:
            src = frames[i]
            out.append((i, decode_payload(ir, pl, src[42:42 + int.from_bytes(src[38:40], "big") - 8])))
    return out


def assert_rows_match(ir, hb, exp, columns):
    """The host batch ``hb`` (all rows) holds exactly the values of ``exp`` (from :func:`expected`)."""
    assert list(hb.index) == [i for i, _ in exp]
    e = ir.emit()
    if e is None:
        for k, (_, (pl,)) in enumerate(exp):
            n = int(hb.values["payload_count"][k])
            assert n == len(pl) and hb.values["payload"][k, :n].tobytes() == pl
        return
    bycol = {}
    for col in columns:
        bycol.setdefault(col.arg, []).append(col)
    for k, (_, vals) in enumerate(exp):
        for arg, (a, v) in enumerate(zip(e.args, vals)):
            for col in bycol[arg]:
                got = hb.values[col.name][k]
                if not isinstance(a.type, Array):
                    assert _bits(got) == _bits(v), (col.name, k, got, v)
                    continue
                n = len(v)
                if a.type.dynamic:
                    assert int(hb.values[col.name.split(".")[0] + "_count"][k]) == n
                want = np.stack([v[f].astype(v[f].dtype.newbyteorder("=")) for f in col.fields], -1)
                want = want if len(col.shape) == 2 else want[:, 0]
                assert np.array_equal(_bits(got[:n]), _bits(want)), (col.name, k)
                assert not np.any(_bits(got[n:])), (col.name, k, "padding must be zero")


def _bits(x):
    x = np.asarray(x)
    if x.dtype.kind == "f":
        return x.astype(x.dtype.newbyteorder("=")).view(f"u{x.dtype.itemsize}")
    return x.astype(x.dtype.newbyteorder("=")) if x.dtype.byteorder not in "=|" else x

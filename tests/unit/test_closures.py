"""Map bodies using values from outside them (tests/targets/closures.py): traced into the right
block, and evaluated by the reference interpreter as a plain Python model of each idiom says."""
import os
import struct

import numpy as np
import pytest

import nicc.dsl as nd
from nicc.compiler.errors import NiccError
from nicc.compiler.framing import PAYLOAD_OFFSET
from nicc.compiler.interp import Reference
from nicc.compiler.ir import Op
from nicc.compiler.parser import parse_pipeline
from nicc.compiler.passes import run_passes, verify
from nicc.runtime.packets import udp_frame

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLOSURES = os.path.join(ROOT, "tests", "targets", "closures.py")
NAMES = ["before", "inside_after", "derived", "zipped"]


def closures_module():
    import runpy
    return runpy.run_path(CLOSURES)


def traced(name):
    return run_passes(nd.load(CLOSURES, name).trace())


def parse(pl: bytes):
    """The record R of closures.py, or None when the payload does not fit it."""
    if len(pl) < 16 or pl[15] > 10 or len(pl) != 16 + 2 * pl[15]:
        return None
    key, bias = pl[0], struct.unpack("!H", pl[1:3])[0]
    return key, bias, list(pl[3:9]), list(pl[9:15]), list(struct.unpack(f"!{pl[15]}H", pl[16:]))


def model(name):
    """A plain Python model of each pipeline: payload -> new payload, 'drop' or None (malformed)."""
    seen = [0] * 64

    def before(key, bias, xs, ys, ws):
        return bytes([key]) + bytes(x ^ key for x in xs)

    def inside_after(key, bias, xs, ys, ws):
        if bias == 7:
            return "drop"
        return struct.pack(f"!H{len(ws)}H", bias, *((w + bias) & 0xFFFF for w in ws))

    def derived(key, bias, xs, ys, ws):
        slot = key & 63
        base, seen[slot] = seen[slot], bias
        out = b"".join(struct.pack("!HBH", w - bias if w > bias else base, (w & 255) ^ ((key * 7) & 255),
                                   w >> (bias & 7)) for w in ws)
        return struct.pack("!H", base) + out

    def zipped(key, bias, xs, ys, ws):
        return bytes([key & 15]) + bytes(x - y if x > y else ((key & 15) + y) & 255 for x, y in zip(xs, ys))

    f = {"before": before, "inside_after": inside_after, "derived": derived, "zipped": zipped}[name]
    return lambda pl: (None if parse(pl) is None else f(*parse(pl)))


@pytest.mark.parametrize("name", NAMES)
def test_reference_matches_a_python_model(name):
    ir = traced(name)
    rng = np.random.default_rng(3)
    pls = closures_module()["payloads"](rng, 400)
    frames = [bytes(udp_frame(pl, ir.port, rng)) for pl in pls]
    m = model(name)
    for pl, r in zip(pls, Reference(ir).run(frames)):
        want = m(pl)
        if want is None:
            assert (r.verdict, r.reason) == ("pass", "malformed")
        elif want == "drop":
            assert r.verdict == "drop"
        else:
            assert r.verdict == "pass" and r.reason == "selected"
            assert r.frames[0][PAYLOAD_OFFSET:] == want


def test_outer_values_are_traced_once_in_the_top_level_block():
    """A field read first inside a map body belongs to the pipeline's block (read once per packet),
    so it is the same value inside the body and after the map; only element work stays inside."""
    for name in NAMES:
        ir = traced(name)
        body = [b for n in ir.body if n.op is Op.MAP for b in n.body]
        assert body and all(b.op not in (Op.FIELD, Op.CONST, Op.STATE_READ, Op.LUT, Op.ARRAY) for b in body), name
        fields = [n.attr("name") for n in ir.body.walk() if n.op is Op.FIELD]
        assert len(fields) == len(set(fields)), name                  # each field read once


def test_closures_survive_the_text_form():
    for name in NAMES:
        ir = traced(name)
        text = str(ir)
        assert str(verify(parse_pipeline(text, "c.nir"))) == text


def _trace_src(tmp_path, body, extra=""):
    src = ("import nicc.dsl as nd\n"
           "class R(nd.Record):\n    k = nd.u8\n    xs = nd.array(nd.u8, 4)\n"
           f"{extra}"
           "@nd.pipeline(port=9100)\ndef p(rec: R):\n" + "".join(f"    {line}\n" for line in body))
    path = tmp_path / "p.py"
    path.write_text(src)
    return nd.load(str(path)).trace()


def test_element_values_still_cannot_escape(tmp_path):
    with pytest.raises(NiccError) as e:
        _trace_src(tmp_path, ["keep = []", "out = rec.xs.map(lambda x: keep.append(x + rec.k) or x)",
                              "return nd.to_host(keep[0])"])
    assert e.value.loc.line == 9 and "a value made inside a map body cannot be used outside it" in e.value.message
    # ... but a value that does not depend on the element can (it is computed once per packet)
    ir = _trace_src(tmp_path, ["keep = []", "out = rec.xs.map(lambda x: keep.append(rec.k + 1) or x)",
                               "return nd.to_host(keep[0], out)"])
    assert [n.op for n in ir.body if n.op in (Op.ADD, Op.MAP)] == [Op.ADD, Op.MAP]

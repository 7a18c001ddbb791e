"""The constant tables the hand-written baselines include, as a user would make them: with numpy.

    python benchmarks/baselines/tables.py          # rewrites normalize_lut.h and crc32_table.h

``normalize_lut.h``: float16((x / 255 - mean[c]) / std[c]) in float32 for every u8 x and channel
(torch's ``t.float().div(255).sub(mean).div(std).half()``), stored as the float16 bit patterns.
``crc32_table.h``: the reflected CRC-32 table (polynomial 0xEDB88320) of zlib's byte-at-a-time loop.
``resize_tables.h``: E4's geometry and OpenCV's INTER_LINEAR_EXACT weights (8 fractional bits) for
640x480 -> 224x224 in two tiles a row, from ``nicc.dsl.lib.resize.StreamPlan`` (the arithmetic
examples/resize.py uses; the reference interpreter that the baseline is checked against is itself
checked against ``cv2.resize``): per source row the output row it completes and the two row weights,
and per output column and channel, in the pixels' interleaved order, the byte of the left source
pixel and the two column weights. Plain C usable from host C and from BPF C. tests/targets/test_baselines.py checks
that the checked-in headers are what this script writes, and the values against torch and zlib.
"""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = (0.485, 0.456, 0.406)        # ImageNet, as in examples/normalize.py
STD = (0.229, 0.224, 0.225)


def normalize_lut() -> np.ndarray:
    """(3, 256) uint16: the float16 bits of each channel's normalized value."""
    x = np.arange(256, dtype=np.float32)
    rows = [((x / np.float32(255) - np.float32(m)) / np.float32(s)).astype(np.float16)
            for m, s in zip(MEAN, STD)]
    return np.stack(rows).view(np.uint16)


def crc32_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(0xEDB88320), t >> 1).astype(np.uint32)
    return t


def _rows(values, fmt: str, per_line: int) -> str:
    cells = [fmt.format(int(v)) for v in values]
    return ",\n".join("    " + ", ".join(cells[i:i + per_line]) for i in range(0, len(cells), per_line))


def normalize_lut_h() -> str:
    lut = normalize_lut()
    body = ",\n".join(f"  {{ /* {c} */\n{_rows(lut[i], '0x{:04x}', 12)}\n  }}" for i, c in enumerate("rgb"))
    return ("/* Written by benchmarks/baselines/tables.py: float16 bits of ((x / 255) - mean[c]) / std[c],\n"
            " * computed in float32, for x = 0..255 and c = r, g, b (ImageNet mean and std). */\n"
            "#ifndef BASELINE_NORMALIZE_LUT_H\n#define BASELINE_NORMALIZE_LUT_H\n\n"
            f"static const unsigned short norm_lut[3][256] = {{\n{body}\n}};\n\n#endif\n")


def crc32_table_h() -> str:
    return ("/* Written by benchmarks/baselines/tables.py: the CRC-32 table of zlib's byte-at-a-time loop\n"
            " * (reflected polynomial 0xEDB88320). */\n"
            "#ifndef BASELINE_CRC32_TABLE_H\n#define BASELINE_CRC32_TABLE_H\n\n"
            f"static const unsigned int crc32_table[256] = {{\n{_rows(crc32_table(), '0x{:08x}', 8)}\n}};\n\n#endif\n")


def resize_tables_h() -> str:
    from nicc.dsl.lib.resize import StreamPlan
    from nicc.dsl.lib.traffic import E4_PLAN
    p = StreamPlan.make(*E4_PLAN)
    (t0, t1), dw, sh = p.tiles, p.dst[0], p.src[1]
    lane = np.arange(3 * dw)
    byte = 3 * p.col_ofs.astype(np.int64)[lane // 3] + lane % 3
    defs = [("RESIZE_SRC_H", sh), ("RESIZE_DST_W", dw), ("RESIZE_NONE", 0xFFFF),
            ("RESIZE_T0_X0", t0.x0), ("RESIZE_T0_N", t0.n), ("RESIZE_T0_OUT_X0", t0.out_x0), ("RESIZE_T0_N_OUT", t0.n_out),
            ("RESIZE_T1_X0", t1.x0), ("RESIZE_T1_N", t1.n), ("RESIZE_T1_OUT_X0", t1.out_x0), ("RESIZE_T1_N_OUT", t1.n_out)]
    tabs = [("unsigned short", "resize_row_out", p.row_out, sh, "output row completed by each source row, or RESIZE_NONE"),
            ("unsigned short", "resize_row_w0", p.row_w0, sh, "weight of the previous source row"),
            ("unsigned short", "resize_row_w1", p.row_w1, sh, "weight of this one"),
            ("unsigned char", "resize_row_keep", p.row_keep, sh, "1: the next row's output row weighs this row"),
            ("unsigned short", "resize_lane_byte", byte, 3 * dw, "per output column and channel: byte of its left pixel"),
            ("unsigned short", "resize_lane_c0", p.col_c0[lane // 3], 3 * dw, "... the left pixel's weight"),
            ("unsigned short", "resize_lane_c1", p.col_c1[lane // 3], 3 * dw, "... the right pixel's")]
    in_place = all((byte[3 * t.out_x0:3 * (t.out_x0 + t.n_out)] - 3 * t.x0 >= np.arange(3 * t.n_out)).all() for t in p.tiles)
    if (t0.n_out + t1.n_out != dw or t0.out_x0 != 0 or t1.out_x0 != t0.n_out or byte.max() + 3 >= 3 * p.src[0] or not in_place
            or not (p.row_w0.astype(int) + p.row_w1 == 256)[p.row_out != 0xFFFF].all()):
        raise ValueError("E4's plan changed: the baseline assumes two tiles of contiguous output columns whose "
                         "output bytes can overwrite the pixels in place (lane l reads no byte below l)")
    return ("/* Written by benchmarks/baselines/tables.py: E4's geometry (640x480 -> 224x224, two tiles a row) and\n"
            " * OpenCV's INTER_LINEAR_EXACT weights with 8 fractional bits (nicc.dsl.lib.resize.StreamPlan). */\n"
            "#ifndef BASELINE_RESIZE_TABLES_H\n#define BASELINE_RESIZE_TABLES_H\n\n"
            + "".join(f"#define {k} {v}\n" for k, v in defs) + "\n"
            + "\n".join(f"/* {doc} */\nstatic const {ty} {name}[{n}] __attribute__((aligned(64))) = {{\n"
                        f"{_rows(vals, '{}', 16)}\n}};\n" for ty, name, vals, n, doc in tabs)
            + "\n#endif\n")


HEADERS = {"normalize_lut.h": normalize_lut_h, "crc32_table.h": crc32_table_h, "resize_tables.h": resize_tables_h}


def main() -> int:
    for name, fn in HEADERS.items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(fn())
        print(f"wrote {os.path.join(HERE, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

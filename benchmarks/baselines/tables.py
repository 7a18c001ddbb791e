"""The constant tables the hand-written baselines include, as a user would make them: with numpy.

    python benchmarks/baselines/tables.py          # rewrites normalize_lut.h and crc32_table.h

``normalize_lut.h``: float16((x / 255 - mean[c]) / std[c]) in float32 for every u8 x and channel
(torch's ``t.float().div(255).sub(mean).div(std).half()``), stored as the float16 bit patterns.
``crc32_table.h``: the reflected CRC-32 table (polynomial 0xEDB88320) of zlib's byte-at-a-time loop.
Both headers are plain C usable from host C and from BPF C. tests/targets/test_baselines.py checks
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


HEADERS = {"normalize_lut.h": normalize_lut_h, "crc32_table.h": crc32_table_h}


def main() -> int:
    for name, fn in HEADERS.items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(fn())
        print(f"wrote {os.path.join(HERE, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""E4: bilinear resize of 640x480 RGB images streamed row by row, bit-exact with OpenCV.

Output equals cv2.resize(img, (224, 224), interpolation=cv2.INTER_LINEAR_EXACT).
Each source row arrives as two tiles, columns [0, 321) then [320, 640); a tile
determines 112 output columns, and the second source row of an output row
completes it. Per image (64 in flight, slot = image_id & 63) the NIC keeps the
previous source row after the horizontal pass (224 x 3 u16 with 8 fractional bits) where the next
row's output row weighs it.
"""
import nicc.dsl as nd
from nicc.dsl.lib.resize import NONE, StreamPlan
from nicc.dsl.lib.traffic import image_tiles

SRC, DST, TILES = (640, 480), (224, 224), [(0, 321), (320, 640)]
PLAN = StreamPlan.make(SRC, DST, TILES)
T0, T1 = PLAN.tiles


class Pixel(nd.Struct):
    r = nd.u8
    g = nd.u8
    b = nd.u8


class HPixel(nd.Struct):            # a pixel after the horizontal pass: 8 fractional bits
    r = nd.u16
    g = nd.u16
    b = nd.u16


class Tile(nd.Record):
    image_id = nd.u32
    row = nd.u16
    x0 = nd.u16
    n = nd.u16
    pixels = nd.array(Pixel, count="n", max=PLAN.max_tile)


img = nd.stream("img", slots=64, image_id=nd.u32, next_row=nd.u16, next_x0=nd.u16,
                h=nd.array(HPixel, DST[0]))
COL_OFS = nd.rom(PLAN.col_ofs, nd.u16, name="col_ofs")      # per output column: first source column
COL_C0 = nd.rom(PLAN.col_c0, nd.u16, name="col_c0")         # and the two weights (8 fractional bits)
COL_C1 = nd.rom(PLAN.col_c1, nd.u16, name="col_c1")
ROW_OUT = nd.rom(PLAN.row_out, nd.u16, name="row_out")      # per source row: the output row it completes
ROW_W0 = nd.rom(PLAN.row_w0, nd.u16, name="row_w0")         # weight of the previous source row
ROW_W1 = nd.rom(PLAN.row_w1, nd.u16, name="row_w1")         # weight of this one
ROW_KEEP = nd.rom(PLAN.row_keep, nd.u8, name="row_keep")    # 1: the next row's output weighs this row


@nd.pipeline(port=9004, traffic=image_tiles)
def resize(rec: Tile):
    second = rec.x0 == T1.x0
    nd.reject_if(~second & (rec.x0 != T0.x0))
    nd.reject_if(rec.n != nd.where(second, nd.const(T1.n, nd.u16), nd.const(T0.n, nd.u16)))
    nd.reject_if(rec.row >= SRC[1])

    s = img[rec.image_id & 63]
    s.expect(restart=(rec.row == 0) & (rec.x0 == 0), image_id=rec.image_id, next_row=rec.row, next_x0=rec.x0)

    ox0 = nd.where(second, nd.const(T1.out_x0, nd.u16), nd.const(T0.out_x0, nd.u16))
    n_out = nd.where(second, nd.const(T1.n_out, nd.u16), nd.const(T0.n_out, nd.u16))
    cols = nd.range(n_out, max=PLAN.max_out)

    def horizontal(k):              # u16 = c0 * p[x] + c1 * p[x + 1], 8 fractional bits
        dx = ox0 + k
        lx = COL_OFS[dx] - rec.x0
        a, b = rec.pixels[lx], rec.pixels[lx + 1]
        c0, c1 = nd.Fixed(COL_C0[dx], 8), nd.Fixed(COL_C1[dx], 8)
        with nd.overflow("sat"):
            return {ch: (c0 * getattr(a, ch).cast(nd.u16) + c1 * getattr(b, ch).cast(nd.u16)).raw for ch in "rgb"}

    h = cols.map(horizontal)
    prev = s.h
    w0 = nd.Fixed(ROW_W0[rec.row].cast(nd.u32), 8)
    w1 = nd.Fixed(ROW_W1[rec.row].cast(nd.u32), 8)

    def vertical(k, cur):           # u32 with 16 fractional bits, rounded half up, saturated to u8
        up = prev[ox0 + k]
        return {ch: (nd.Fixed(getattr(up, ch).cast(nd.u32), 8) * w0 + nd.Fixed(getattr(cur, ch).cast(nd.u32), 8) * w1)
                .round(0, "half_up").to(nd.u8, "sat") for ch in "rgb"}

    out = nd.map(vertical, cols, h)
    s.h.write_at(ox0, h, when=ROW_KEEP[rec.row] == 1)   # only a row some output row weighs is kept
    s.write(image_id=rec.image_id, next_row=nd.where(second, rec.row + 1, rec.row),
            next_x0=nd.where(second, nd.const(T0.x0, nd.u16), nd.const(T1.x0, nd.u16)))
    out_row = ROW_OUT[rec.row]
    nd.drop_if(out_row == NONE)
    return nd.to_host(rec.image_id, out_row, ox0, n_out, out)

"""Maps that run as AVX-512 vectors on DPDK (``schedule=vector``), each op of the vector rules at
least once: gathers from the payload at computed indices (in the window and out of it, past the
count), contiguous reads of tables at i and base + i, maps of maps, wrapping and saturating
arithmetic at 8, 16 and 32 bits, shifts by the width or more, compares, bools, selects, casts.
Each result is emitted twice, so no map is fused into the emit (fused maps stay scalar)."""
import nicc.dsl as nd


class Px(nd.Struct):
    a = nd.u8
    b = nd.u16
    c = nd.u8


class V1(nd.Record):
    n = nd.u16
    k = nd.u16
    xs = nd.array(Px, count="n", max=120)


# not monotone, some entries past any count: the window misses, the hardware gather runs
PERM = nd.rom([(i * 37) % 131 for i in range(100)], nd.u16, name="perm")


@nd.pipeline(port=9311)
def gathers(rec: V1):
    def f(i):
        p = rec.xs[PERM[i]]                 # table at i, then the payload at any index
        q = rec.xs[i + rec.k]               # the payload at base + i: in the window (or past the count)
        s = (p.a.cast(nd.u16) << (q.c & 31)) ^ q.b          # shifts of 16 bits by up to 31
        with nd.overflow("sat"):
            t = p.b * q.a.cast(nd.u16) + s
            u = q.a - p.a
        w = nd.where(p.a > q.a, t - s, s - t)
        big = w.cast(nd.u32) * 70001 + t.cast(nd.u32)       # wraps at 32 bits
        return {"t": t, "u": u, "w": (w >> (p.c & 31)).cast(nd.u8), "z": big, "h": big >> (q.c & 63)}
    m = nd.range(rec.n, max=120).map(f)
    return nd.to_host(rec.n, m, m)


class V2(nd.Record):
    n = nd.u8
    base = nd.u8
    xs = nd.array(nd.u32, count="n", max=64)


RAMP = nd.rom([(i * 2654435761) & 0xFFFFFFFF for i in range(300)], nd.u32, name="ramp")


@nd.pipeline(port=9312)
def chained(rec: V2):
    def first(x):
        with nd.overflow("sat"):
            lo = x.cast(nd.u16)
            s = x + 0xF0000000
        return {"lo": lo, "hi": (x >> 24).cast(nd.u8), "s": s, "odd": (x & 1) == 1}

    a = rec.xs.map(first)
    base = rec.base.cast(nd.u16)

    def second(i, e):
        r = RAMP[i + base]                  # a table at base + i
        flag = e.odd & ~(e.hi > 100) | (e.lo == 0)
        v = nd.where(flag, r, e.s)
        return {"v": v ^ a[i].s, "f": flag.cast(nd.u8), "n": ~e.hi, "m": (e.lo * e.lo).cast(nd.u8)}
    b = nd.map(second, nd.range(rec.n.cast(nd.u16), max=64), a)
    return nd.to_host(rec.n, b, b)


class V3(nd.Record):
    n = nd.u8
    xs = nd.array(nd.u16, count="n", max=200)


@nd.pipeline(port=9313)
def planes(rec: V3):
    """Results of 2 and 4 one-byte fields emitted interleaved (64 elements a step, the last masked)."""
    two = rec.xs.map(lambda x: {"lo": x.cast(nd.u8), "hi": (x >> 8).cast(nd.u8)})
    four = nd.map(lambda k, e: {"a": e.hi, "b": e.lo ^ 0x5A, "c": (e.lo > e.hi).cast(nd.u8), "d": e.lo & e.hi},
                  nd.range(rec.n.cast(nd.u16), max=200), two)
    return nd.to_host(rec.n, two, four, four)


class V4(nd.Record):
    n = nd.u8
    k = nd.u8
    xs = nd.array(nd.u16, count="n", max=200)


W16 = nd.rom([(i * 40503 + 7) & 0xFFFF for i in range(256)], nd.u16, name="w16")


@nd.pipeline(port=9314)
def narrow(rec: V4):
    """A map whose values all fit 16 bits runs 32 lanes a step: wrap and saturation at 8 and 16 bits,
    shifts by up to 31, compares, bools and selects in 16-bit lanes."""
    a = rec.xs.map(lambda x: {"x": x, "y": (x >> 3).cast(nd.u8)})      # reads the payload: 32-bit lanes
    base = rec.k.cast(nd.u16)

    def f(i, e):
        w = W16[i + base]                   # a table at base + i (past its end: 0)
        with nd.overflow("sat"):
            s16, a16, d16 = e.x * w, e.x + w, w - e.x
            m8, p8, q8 = e.y * w.cast(nd.u8), e.y + (w >> 9).cast(nd.u8), e.y - (w & 255).cast(nd.u8)
            c8 = w.cast(nd.u8)
        wr = (e.x * w) ^ (e.x - w) ^ (e.x + w)
        sh = (e.x << (w & 31)) | (w >> (e.x & 31)) | (e.y << (w & 15)).cast(nd.u16)
        flag = (e.x > w) ^ (e.y == 0) | ~(w <= 300)
        return {"s": s16, "a": a16, "d": d16, "m": m8, "p": p8, "q": q8, "c": c8, "wr": wr, "sh": sh,
                "f": nd.where(flag, w, e.x), "g": flag.cast(nd.u8), "t": (wr >> 3).cast(nd.u8), "b": flag}
    b = nd.map(f, nd.range(rec.n.cast(nd.u16), max=200), a)
    return nd.to_host(rec.n, b, b)


class Rgb(nd.Struct):
    r = nd.u8
    g = nd.u8
    b = nd.u8


class Duo(nd.Struct):
    x = nd.u8
    y = nd.u8


class Quad(nd.Struct):
    a = nd.u8
    b = nd.u8
    c = nd.u8
    d = nd.u8


class V5(nd.Record):
    n = nd.u16
    k = nd.u16
    one = nd.array(nd.u8, 48)
    two = nd.array(Duo, 24)
    four = nd.array(Quad, 40)
    px = nd.array(Rgb, count="n", max=300)


# 32 lanes of a step: strides of 3 (in one 128-byte window), of 5 (spread past it), backwards, past any count
JUMP = nd.rom([3 * i for i in range(96)] + [(5 * i) % 300 for i in range(96)] + [299 - i for i in range(64)] +
              [300 + i for i in range(32)] + [7] * 32, nd.u16, name="jump")


@nd.pipeline(port=9315)
def pixels(rec: V5):
    """Maps of 16-bit values that gather one-byte fields of payload arrays (1 to 4 fields an element):
    32 lanes a step, read from byte planes through a 128-byte window, lane by lane where the lanes
    spread further or go backwards; indices past the count read 0; reads of i and i + 1 as pairs."""
    def f(i):
        j, ik = JUMP[i], i + rec.k
        a = rec.px[j]
        b = rec.px[ik]                       # base + i: in the window, or past the count
        a1, b1 = rec.px[j + 1], rec.px[ik + 1]  # pairs (i, i + 1): 300 past the count, 65535 + 1 wraps to 0
        c = rec.two[(i >> 3) & 31]          # past the 24 elements: 0
        d = rec.four[(i * 2) & 63]
        e = rec.one[i & 63]
        with nd.overflow("sat"):
            s = a.r.cast(nd.u16) * b.g.cast(nd.u16) + c.x.cast(nd.u16) * 300
            t = b.b - a.b + d.c
        w = (a.g.cast(nd.u16) << (d.a & 15)) ^ (b.r.cast(nd.u16) * 257 + e.cast(nd.u16))
        return {"s": s, "t": t, "w": w, "y": c.y ^ d.d, "b": (d.b > a.r).cast(nd.u8),
                "p": (a1.g.cast(nd.u16) << 8) ^ b1.b.cast(nd.u16) ^ (a.g.cast(nd.u16) * 3)}
    m = nd.range(rec.n, max=300).map(f)
    return nd.to_host(rec.n, m, m)

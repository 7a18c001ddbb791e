"""The resize tables and their integer arithmetic against OpenCV's own INTER_LINEAR_EXACT.

cv2 is the reference: every check compares bytes with ``cv2.resize``, on random
images and on images made of edge values (all 0, all 255, gradients, 0/255
checkerboards), for E4's 640x480 -> 224x224 and for other sizes (up- and
downscales, edge-clamped coordinates)."""
import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is a test dependency (pip install -e '.[test]')")

from nicc.dsl.lib.resize import NONE, Axis, StreamPlan, TileResizer, resize_linear_exact  # noqa: E402

E4_TILES = [(0, 321), (320, 640)]


def edge_images(rng, h, w):
    yield rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    yield np.zeros((h, w, 3), np.uint8)
    yield np.full((h, w, 3), 255, np.uint8)
    gx = (np.arange(w) * 255 // max(w - 1, 1)).astype(np.uint8)
    gy = (np.arange(h) * 255 // max(h - 1, 1)).astype(np.uint8)
    yield np.stack([np.broadcast_to(gx, (h, w)), np.broadcast_to(gy[:, None], (h, w)),
                    np.broadcast_to(255 - gx, (h, w))], axis=2).copy()
    yield (((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2) * 255).astype(np.uint8)[:, :, None].repeat(3, 2)
    yield np.where(rng.random((h, w, 3)) < 0.5, 0, 255).astype(np.uint8)
    yield rng.choice(np.array([0, 1, 127, 128, 254, 255], np.uint8), size=(h, w, 3))


def cv(img, w, h):
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)


def test_e4_whole_image_is_bit_exact():
    rng = np.random.default_rng(4)
    for img in edge_images(rng, 480, 640):
        assert np.array_equal(resize_linear_exact(img, 224, 224), cv(img, 224, 224))


@pytest.mark.parametrize("src,dst", [((7, 5), (3, 2)), ((5, 7), (11, 13)), ((1, 9), (4, 3)), ((3, 3), (3, 3)),
                                     ((100, 37), (33, 80)), ((641, 479), (224, 225)), ((2, 2), (9, 9))])
def test_other_sizes_are_bit_exact(src, dst):
    """Edge clamping on both sides (upscales) and odd ratios, against cv2 too."""
    rng = np.random.default_rng(sum(src) + sum(dst))
    (sw, sh), (dw, dh) = src, dst
    for img in edge_images(rng, sh, sw):
        assert np.array_equal(resize_linear_exact(img, dw, dh), cv(img, dw, dh)), (src, dst)


def test_axis_tables_use_eight_fractional_bits():
    ax = Axis.make(640, 224)
    assert ax.c0.dtype == np.uint16 and (ax.c0.astype(int) + ax.c1 == 256).all()
    assert (ax.ofs >= 0).all() and (ax.ofs + 1 < 640).all()           # 640 -> 224 never clamps
    left = Axis.make(2, 9)                                              # upscale: edge copies on both sides
    assert left.c1[0] == 0 and left.ofs[-1] == 1 and left.c1[-1] == 0


def test_e4_plan_tables():
    plan = StreamPlan.make((640, 480), (224, 224), E4_TILES)
    assert [(t.x0, t.n, t.out_x0, t.n_out) for t in plan.tiles] == [(0, 321, 0, 112), (320, 320, 112, 112)]
    assert (plan.row_out != NONE).sum() == 224 and plan.row_out[0] == NONE
    # every output row is completed exactly once, in order
    done = plan.row_out[plan.row_out != NONE]
    assert done.tolist() == list(range(224))
    assert plan.max_tile == 321 and plan.max_out == 112


def test_plan_refuses_what_tiles_cannot_determine():
    with pytest.raises(ValueError, match="no single tile"):
        StreamPlan.make((640, 480), (224, 224), [(0, 319), (319, 640)])      # column 111 reads 318 and 319
    with pytest.raises(ValueError, match="at most one output row"):
        StreamPlan.make((64, 48), (64, 96), [(0, 64)])                       # upscale rows


def stream_resize(plan, img):
    rz = TileResizer(plan)
    out = np.full((plan.dst[1], plan.dst[0], 3), -1, np.int32)
    for row, x0, px in plan.tiles_of(img):
        got = rz.feed(row, x0, px)
        if got is not None:
            d, ox, pix = got
            assert (out[d, ox:ox + len(pix)] == -1).all(), "an output pixel appears twice"
            out[d, ox:ox + len(pix)] = pix
    assert (out >= 0).all(), "an output pixel never appears"
    return out.astype(np.uint8)


def test_e4_row_and_tile_stream_is_bit_exact():
    plan = StreamPlan.make((640, 480), (224, 224), E4_TILES)
    rng = np.random.default_rng(9)
    for img in edge_images(rng, 480, 640):
        assert np.array_equal(stream_resize(plan, img), cv(img, 224, 224))


def test_other_stream_plans_are_bit_exact():
    rng = np.random.default_rng(3)
    for (sw, sh), (dw, dh), tiles in [((100, 60), (30, 20), [(0, 51), (50, 100)]),
                                      ((90, 90), (31, 29), [(0, 31), (30, 61), (60, 90)]),
                                      ((64, 48), (64, 48), [(0, 64)])]:
        plan = StreamPlan.make((sw, sh), (dw, dh), tiles)
        for img in edge_images(rng, sh, sw):
            assert np.array_equal(stream_resize(plan, img), cv(img, dw, dh)), (sw, sh, dw, dh)

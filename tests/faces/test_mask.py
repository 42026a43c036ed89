"""Face masks: shapes, the 5-point face ellipse, morphology and feathering bounds."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facelab.errors import ConfigError
from facelab.faces.mask import (
    ARCFACE_5PT_112,
    arcface_landmarks,
    crop_face_mask,
    dilate,
    disc,
    ellipse_mask,
    erode,
    face_ellipse_from_5pt,
    face_ellipse_params,
    feather,
    hull_mask,
    refine,
)

# MTCNN (facenet-pytorch) landmarks of the face in shared/data/faces/face_recognition/obama.jpg
# (910 x 1137) and biden.jpg (970 x 2204); biden's head is rolled about 12 degrees.
OBAMA_5PT = np.array([[445.3, 214.7], [551.7, 214.2], [497.7, 277.7], [435.6, 324.8], [557.1, 320.5]])
BIDEN_5PT = np.array([[535.2, 319.3], [655.4, 344.9], [597.8, 407.1], [518.9, 461.9], [625.0, 480.3]])


def _is_binary_mask(m: np.ndarray, shape: tuple[int, int]) -> bool:
    return m.dtype == np.float32 and m.shape == shape and set(np.unique(m)) <= {0.0, 1.0}


# ---------------------------------------------------------------------------------- shapes


def test_hull_of_square_holds_exactly_the_pixel_centres_inside() -> None:
    m = hull_mask([[2, 3], [7, 3], [7, 9], [2, 9], [4, 5]], (12, 10))
    assert _is_binary_mask(m, (12, 10))
    expected = np.zeros((12, 10), np.float32)
    expected[3:10, 2:8] = 1  # closed: the corners' own pixels are in
    np.testing.assert_array_equal(m, expected)


def test_hull_matches_opencv_fill_up_to_the_edge_pixels() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(10, 90, size=(30, 2))
    ours = hull_mask(pts, (100, 100)) > 0
    ref = np.zeros((100, 100), np.uint8)
    cv2.fillConvexPoly(ref, np.round(cv2.convexHull(pts.astype(np.float32))).astype(np.int32), 1)
    iou = (ours & (ref > 0)).sum() / (ours | (ref > 0)).sum()
    assert iou > 0.95


def test_hull_clips_points_outside_the_image_and_degenerate_hulls_are_empty() -> None:
    m = hull_mask([[-50, -50], [50, -50], [50, 50], [-50, 50]], (20, 30))
    assert m.sum() == 20 * 30
    assert hull_mask([[0, 0], [5, 5], [9, 9]], (10, 10)).sum() == 0  # collinear
    assert hull_mask([[1, 1], [3, 3]], (10, 10)).sum() == 0
    assert hull_mask([[100, 100], [120, 100], [110, 120]], (10, 10)).sum() == 0  # all outside


def test_circle_area_and_rotation() -> None:
    m = ellipse_mask((101, 101), (50, 50), (30, 30))
    assert abs(m.sum() - math.pi * 30**2) < 2 * math.pi * 30 * 0.5
    a = ellipse_mask((64, 64), (31.5, 31.5), (25, 10), 0.0)
    b = ellipse_mask((64, 64), (31.5, 31.5), (25, 10), 90.0)
    np.testing.assert_array_equal(a.T, b)  # a quarter turn of a centred ellipse is its transpose
    assert a[31:33, :].sum() > a[:, 31:33].sum()  # first axis along x at angle 0
    assert ellipse_mask((10, 10), (5, 5), (0, 3)).sum() == 0


def test_ellipse_angle_turns_from_x_towards_y_like_cv2() -> None:
    ours = ellipse_mask((200, 200), (100, 100), (80, 20), 30.0) > 0
    ref = np.zeros((200, 200), np.uint8)
    cv2.ellipse(ref, (100, 100), (80, 20), 30.0, 0, 360, 1, -1)
    iou = (ours & (ref > 0)).sum() / (ours | (ref > 0)).sum()
    assert iou > 0.95


def test_arcface_ellipse_covers_the_face_and_stays_inside_the_crop() -> None:
    (cx, cy), (a, b), angle = face_ellipse_params(ARCFACE_5PT_112)
    assert abs(cx - 56) < 0.5 and abs(cy - 72) < 0.5
    assert abs(a - 37) < 0.5 and abs(b - 38.7) < 0.5 and abs(angle) < 1
    for size in (112, 224, 256):
        m = crop_face_mask(size)
        assert _is_binary_mask(m, (size, size))
        # inside the crop: no row or column on the border is touched
        assert m[0].sum() == m[-1].sum() == m[:, 0].sum() == m[:, -1].sum() == 0
        for x, y in arcface_landmarks(size):
            assert m[int(np.rint(y)), int(np.rint(x))] == 1
        assert 0.35 < m.mean() < 0.55  # the face, not the whole crop


def test_face_ellipse_in_real_frames_follows_the_roll() -> None:
    m = face_ellipse_from_5pt(OBAMA_5PT, (1137, 910))
    for x, y in OBAMA_5PT:
        assert m[int(y), int(x)] == 1
    assert m[0, 0] == 0 and m[180, 500] == 1 and m[150, 500] == 0  # brow in, hairline out
    _, _, angle = face_ellipse_params(BIDEN_5PT)
    assert 10 < angle < 14  # the eye line's direction, y down: clockwise roll on screen
    mb = face_ellipse_from_5pt(BIDEN_5PT, (2204, 970))
    assert all(mb[int(y), int(x)] == 1 for x, y in BIDEN_5PT)


def test_face_ellipse_is_equivariant_to_similarity_transforms() -> None:
    # Rotating and scaling the landmarks rotates and scales the ellipse with them.
    t = math.radians(20)
    rot = 1.5 * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    moved = ARCFACE_5PT_112.astype(np.float64) @ rot.T + [40, 10]
    (cx, cy), (a, b), angle = face_ellipse_params(moved)
    (cx0, cy0), (a0, b0), angle0 = face_ellipse_params(ARCFACE_5PT_112)
    np.testing.assert_allclose([cx, cy], rot @ [cx0, cy0] + [40, 10], atol=1e-4)
    np.testing.assert_allclose([a, b], [1.5 * a0, 1.5 * b0], rtol=1e-5)
    assert abs(angle - angle0 - 20) < 1e-4


def test_mask_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="landmarks"):
        crop_face_mask(112, kind="hull")
    with pytest.raises(ConfigError, match="unknown mask kind"):
        crop_face_mask(112, kind="box")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        face_ellipse_params(np.zeros((4, 2)))
    with pytest.raises(ConfigError):
        hull_mask(np.zeros((3, 3)), (10, 10))
    with pytest.raises(ConfigError):
        erode(np.zeros((4, 4)), -1)
    with pytest.raises(ConfigError):
        feather(np.zeros((4, 4, 1)), 2)
    hull68 = hull_mask(ARCFACE_5PT_112, (112, 112))
    np.testing.assert_array_equal(crop_face_mask(112, "hull", ARCFACE_5PT_112), hull68)


# ------------------------------------------------------------------------------ morphology


def test_disc() -> None:
    np.testing.assert_array_equal(disc(0), [[1]])
    np.testing.assert_array_equal(disc(1), np.ones((3, 3)))
    d = disc(5)
    assert d.shape == (11, 11) and d[5, 0] == d[0, 5] == 1 and d[0, 0] == 0


def test_erode_shrinks_and_dilate_grows_a_square() -> None:
    m = np.zeros((40, 40), np.float32)
    m[10:30, 10:30] = 1
    e, d = erode(m, 3), dilate(m, 3)
    np.testing.assert_array_equal(e[13:27, 13:27], 1)
    assert e.sum() == 14 * 14
    assert (d >= m).all() and (e <= m).all()
    assert d[7, 20] == 1 and d[6, 20] == 0 and d[20, 32] == 1 and d[20, 33] == 0
    # outside the image counts as background: erosion eats a mask from the image edge
    full = np.ones((10, 10), np.float32)
    assert erode(full, 2)[2:8, 2:8].all() and erode(full, 2).sum() == 36
    assert dilate(full, 2).sum() == 100


def test_feather_ramp_is_centred_on_the_edge() -> None:
    m = np.zeros((64, 64), np.float32)
    m[:, 32:] = 1
    f = feather(m, 8)
    row = f[32]
    assert row[:24].max() == 0 and row[40:56].min() == 1  # exact outside +-px
    assert (np.diff(row[:56]) >= 0).all()  # monotone across the edge
    assert 0 < row[-1] < 1  # outside the image counts as 0: the mask fades towards the edge
    assert abs((row[31] + row[32]) / 2 - 0.5) < 1e-5  # 0.5 halfway between the edge pixels


def test_feather_px0_and_soft_input() -> None:
    m = np.zeros((20, 20), np.float32)
    m[5:15, 5:15] = 0.5
    np.testing.assert_array_equal(feather(m, 0), m)
    f = feather(m, 3)
    assert f.max() <= 0.5 + 1e-6 and (f[dilate((m > 0).astype(np.float32), 3) == 0] == 0).all()


def _random_points(draw: st.DrawFn, size: int, n_min: int, n_max: int) -> np.ndarray:
    n = draw(st.integers(n_min, n_max))
    coord = st.floats(-0.3 * size, 1.3 * size, allow_nan=False)
    return np.array([[draw(coord), draw(coord)] for _ in range(n)], np.float64)


@st.composite
def _mask_case(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    h, w = draw(st.integers(4, 48)), draw(st.integers(4, 48))
    kind = draw(st.sampled_from(["hull", "ellipse5"]))
    if kind == "hull":
        m = hull_mask(_random_points(draw, max(h, w), 1, 12), (h, w))
    else:
        m = face_ellipse_from_5pt(_random_points(draw, max(h, w), 5, 5), (h, w),
                                  scale=draw(st.floats(0.2, 2.0)))
    return m, draw(st.integers(0, 7)), draw(st.integers(0, 7))


@settings(max_examples=80, deadline=None)
@given(_mask_case())
def test_property_masks_and_feathering_stay_in_bounds(case: tuple[np.ndarray, int, int]) -> None:
    m, px, epx = case
    assert m.dtype == np.float32 and set(np.unique(m)) <= {0.0, 1.0}
    f = feather(m, px)
    assert f.dtype == np.float32 and f.shape == m.shape
    assert f.min() >= 0 and f.max() <= 1
    # the swap guarantee: feathering never reaches past the dilated binary mask ...
    assert (f[dilate(m, px) == 0] == 0).all()
    # ... and leaves the eroded core at exactly 1
    assert (f[erode(m, px) == 1] == 1).all()
    e, d = erode(m, px), dilate(m, px)
    assert (e <= m).all() and (m <= d).all()
    # eroding at least as far as feathering keeps the soft edge inside the original mask
    r = refine(m, max(px, epx), px)
    assert (r[m == 0] == 0).all()


@pytest.mark.parametrize("size, margin", [(112, 0.0), (256, 0.0), (256, 0.3), (224, -0.1)])
def test_arcface_landmarks_agree_with_the_aligner(size: int, margin: float) -> None:
    align = pytest.importorskip("facelab.faces.align")
    np.testing.assert_allclose(arcface_landmarks(size, margin), align.template(size, margin), atol=1e-9)
    # with a margin the default ellipse shrinks with the face
    plain, wide = crop_face_mask(size).sum(), crop_face_mask(size, margin=0.3).sum()
    assert abs(wide / plain - 1 / 1.3**2) < 0.03

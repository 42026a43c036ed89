"""Alignment: template, Umeyama similarity, matrices, warps, and invariance on a real photo."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facelab.faces.align import (
    ARCFACE_5PT,
    align_face,
    estimate_similarity,
    invert_affine,
    matrix_scale,
    template,
    transform_points,
    warp_to_frame,
)
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image

PHOTO = Path("faces/face_recognition/alex-lacamoire.png")  # 424x394, one face ~140 px wide


def similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]])


# --------------------------------------------------------------------------------------------
# template


def test_template_is_arcface_at_112_and_scales_about_pixel_centres() -> None:
    np.testing.assert_allclose(template(112), ARCFACE_5PT, atol=1e-12)
    t224 = template(224)
    np.testing.assert_allclose(t224, (ARCFACE_5PT + 0.5) * 2 - 0.5)
    # margin shrinks towards the crop centre by 1 / (1 + margin)
    c = (256 - 1) / 2
    np.testing.assert_allclose(template(256, 0.3) - c, (template(256) - c) / 1.3)
    with pytest.raises(ValueError):
        template(256, -1.0)
    with pytest.raises(ValueError):
        template(0)


# --------------------------------------------------------------------------------------------
# similarity and matrices


def test_estimate_similarity_recovers_a_known_transform_exactly() -> None:
    M = similarity(1.7, 23.0, -12.5, 40.25)
    src = np.array([[0, 0], [10, 3], [4, 9], [-7, 2], [5, -5]], dtype=np.float64)
    dst = transform_points(src, M)
    np.testing.assert_allclose(estimate_similarity(src, dst), M, atol=1e-10)
    assert math.isclose(matrix_scale(M), 1.7)


def test_estimate_similarity_is_least_squares_and_never_reflects() -> None:
    rng = np.random.default_rng(1)
    src = rng.normal(size=(20, 2)) * 30
    M = similarity(0.8, -40, 5, 7)
    dst = transform_points(src, M) + rng.normal(size=(20, 2)) * 0.5
    est = estimate_similarity(src, dst)
    res = np.linalg.norm(transform_points(src, est) - dst, axis=1)
    # any small change of the similarity's parameters (a, b, tx, ty) is worse: least squares
    basis = [np.array([[1, 0, 0], [0, 1, 0]]), np.array([[0, -1, 0], [1, 0, 0]]),
             np.array([[0, 0, 1], [0, 0, 0]]), np.array([[0, 0, 0], [0, 0, 1]])]
    for d in basis:
        for eps in (1e-3, -1e-3):
            moved = np.linalg.norm(transform_points(src, est + eps * d) - dst, axis=1)
            assert (res**2).sum() < (moved**2).sum()
    mirrored = src * np.array([-1, 1])
    assert np.linalg.det(estimate_similarity(src, mirrored)[:, :2]) > 0


def test_bad_inputs_to_the_geometry_are_refused() -> None:
    with pytest.raises(ValueError, match="coincide"):
        estimate_similarity(np.ones((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        estimate_similarity(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        estimate_similarity(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="singular"):
        invert_affine(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        transform_points(np.zeros((3, 3)), np.eye(2, 3))


finite = st.floats(-500, 500, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(scale=st.floats(0.05, 20), angle=st.floats(-180, 180), tx=finite, ty=finite,
       pts=st.lists(st.tuples(finite, finite), min_size=1, max_size=10))
def test_property_points_round_trip_through_M_and_M_inv(scale: float, angle: float, tx: float, ty: float,
                                                         pts: list[tuple[float, float]]) -> None:
    M = similarity(scale, angle, tx, ty)
    p = np.array(pts, dtype=np.float64)
    back = transform_points(transform_points(p, M), invert_affine(M))
    np.testing.assert_allclose(back, p, atol=1e-8 * (1 + np.abs(p).max()) / min(scale, 1))


@settings(max_examples=200, deadline=None)
@given(scale=st.floats(0.05, 20), angle=st.floats(-179.9, 179.9), tx=finite, ty=finite,
       seed=st.integers(0, 2**32 - 1))
def test_property_estimate_similarity_recovers_random_similarities(scale: float, angle: float, tx: float,
                                                                   ty: float, seed: int) -> None:
    src = np.random.default_rng(seed).uniform(-100, 100, size=(5, 2))
    M = similarity(scale, angle, tx, ty)
    est = estimate_similarity(src, transform_points(src, M))
    np.testing.assert_allclose(est, M, atol=1e-7 * (1 + abs(tx) + abs(ty) + scale))


# --------------------------------------------------------------------------------------------
# warping


def test_crop_pixel_centres_follow_the_convention() -> None:
    # a ramp image: the value at pixel (x, y) is x + 1000 y (float), so a bilinear warp is exact
    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = xx + 1000 * yy
    lm = template(112) * 0.3 + np.array([10.0, 5.0])  # a small "face" inside the ramp
    a = align_face(ramp, lm, size=24, border="replicate")
    ys, xs = np.mgrid[6:18, 6:18]
    src = transform_points(np.stack([xs.ravel(), ys.ravel()], 1).astype(float), a.M_inv)
    expect = src[:, 0] + 1000 * src[:, 1]
    np.testing.assert_allclose(a.crop[6:18, 6:18].ravel(), expect, atol=0.05)
    np.testing.assert_allclose(a.crop_landmarks, template(24), atol=1e-9)


def test_big_shrink_is_antialiased_and_keeps_the_geometry() -> None:
    # 1-pixel checkerboard shrunk 8x: plain bilinear sampling aliases to near 0/255 patterns
    board = ((np.indices((400, 400)).sum(0) % 2) * 255).astype(np.uint8)
    board = np.repeat(board[..., None], 3, axis=2)
    M = similarity(1 / 8, 10, 3, 2)
    lm = transform_points(template(48), invert_affine(M))
    crop = align_face(board, lm, size=48).crop
    assert abs(crop.mean() - 127.5) < 4 and crop.std() < 10
    # geometry under the pyramid path: a ramp is still sampled where M says (away from the
    # image edges, where the replicated border bends the ramp)
    yy, xx = np.mgrid[0:640, 0:640].astype(np.float32)
    ramp = xx + 0.5 * yy
    lm = lm + 120
    c = align_face(ramp, lm, size=48, border="replicate")
    ys, xs = np.mgrid[8:40, 8:40]
    src = transform_points(np.stack([xs.ravel(), ys.ravel()], 1).astype(float), c.M_inv)
    np.testing.assert_allclose(c.crop[8:40, 8:40].ravel(), src[:, 0] + 0.5 * src[:, 1], atol=0.2)


def test_border_modes() -> None:
    img = np.full((50, 50, 3), 200, np.uint8)
    lm = template(112) * 0.5 - 40  # mostly outside the image, up-left
    assert align_face(img, lm, 64, border="constant").crop.min() == 0
    assert align_face(img, lm, 64, border="reflect").crop.min() == 200
    assert align_face(img, lm, 64, border="replicate").crop.min() == 200
    with pytest.raises(ValueError, match="border"):
        align_face(img, lm, 64, border="wrap")  # type: ignore[arg-type]


def test_warp_to_frame_shapes_dtypes_and_coverage() -> None:
    M = similarity(2.0, 15, -30, -10)  # frame -> crop
    M_inv = invert_affine(M)
    ones = np.ones((64, 64), np.float32)
    cover = warp_to_frame(ones, M_inv, (100, 120, 3))
    assert cover.shape == (100, 120) and cover.dtype == np.float32
    # full coverage where the frame pixel maps into [0, S - 1], none beyond one crop pixel out
    ys, xs = np.mgrid[0:100, 0:120]
    at = transform_points(np.stack([xs.ravel(), ys.ravel()], 1).astype(float), M)
    full = ((at >= 0.02) & (at <= 62.98)).all(axis=1).reshape(100, 120)
    none = ~((at > -1) & (at < 64)).all(axis=1).reshape(100, 120)
    assert full.sum() > 500 and (cover[full] > 0.999).all()
    assert none.sum() > 500 and (cover[none] == 0).all()
    crop = np.zeros((64, 64, 3), np.uint8)
    assert warp_to_frame(crop, M_inv, (100, 120)).shape == (100, 120, 3)
    assert warp_to_frame(crop[..., :1], M_inv, (100, 120)).shape == (100, 120, 1)


# --------------------------------------------------------------------------------------------
# real photo


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> tuple[np.ndarray, np.ndarray, FaceDetector]:
    image = read_image(shared_data / PHOTO)
    detector = FaceDetector(device="cpu")
    (face,) = detector.detect(image)
    return image, face.landmarks.astype(np.float64), detector


def test_rotated_and_scaled_photo_aligns_to_the_same_crop(photo: tuple[np.ndarray, np.ndarray, FaceDetector]) -> None:
    image, lm, detector = photo
    h, w = image.shape[:2]
    A = cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.3)  # 25 deg counter-clockwise, x1.3
    A[:, 2] += [60, 60]
    big = cv2.warpAffine(image, A, (w + 120, h + 120), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    a0 = align_face(image, lm, size=192, margin=0.2)

    # 1. exact landmarks (carried through A): the two alignments agree to sub-pixel precision
    lm_big = transform_points(lm, A)
    a1 = align_face(big, lm_big, size=192, margin=0.2)
    np.testing.assert_allclose(a1.M @ np.vstack([A, [0, 0, 1]]), a0.M, atol=1e-9)
    probe = np.array([[50.0, 60.0], [150.0, 140.0], [96.0, 20.0]])
    img_pts0 = transform_points(probe, a0.M_inv)
    img_pts1 = transform_points(probe, a1.M_inv)
    np.testing.assert_allclose(transform_points(img_pts0, A), img_pts1, atol=1e-6)
    np.testing.assert_allclose(a1.crop_landmarks, a0.crop_landmarks, atol=1e-6)
    inner = (slice(16, 176), slice(16, 176))
    diff = np.abs(a1.crop[inner].astype(float) - a0.crop[inner].astype(float))
    assert diff.mean() < 1.5, diff.mean()  # only resampling differs (measured 0.25)

    # 2. re-detected on the rotated photo: the same face, within a few crop pixels
    (face_big,) = detector.detect(big)
    a2 = align_face(big, face_big.landmarks, size=192, margin=0.2)
    err = np.linalg.norm(transform_points(face_big.landmarks, a0.M @ np.vstack([invert_affine(A), [0, 0, 1]]))
                         - a0.crop_landmarks, axis=1)
    assert err.mean() < 0.03 * 192, err
    diff = np.abs(a2.crop[inner].astype(float) - a0.crop[inner].astype(float))
    assert diff.mean() < 15.0, diff.mean()  # measured 9.6: the landmarks moved ~3 px


def test_align_then_warp_back_is_close_to_the_frame(photo: tuple[np.ndarray, np.ndarray, FaceDetector]) -> None:
    image, lm, _ = photo
    a = align_face(image, lm, size=256, margin=0.3)  # face ~140 px -> upsampled crop
    back = warp_to_frame(a.crop, a.M_inv, image.shape)
    cover = warp_to_frame(np.ones((256, 256), np.float32), a.M_inv, image.shape)
    interior = cv2.erode((cover > 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert interior.sum() > 10000
    err = np.abs(back[interior].astype(float) - image[interior].astype(float))
    # measured: mean 0.37, 99th percentile 4 grey levels (two bilinear resamplings)
    assert err.mean() < 1.5 and np.percentile(err, 99) < 12, (err.mean(), np.percentile(err, 99))
    assert (back[cover == 0] == 0).all()

"""Blending: bit-identity outside the mask, alpha ends, Poisson seams, and paste_face round trips."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facelab.errors import ConfigError
from facelab.faces.blend import alpha_blend, paste_face, poisson_blend
from facelab.faces.mask import arcface_landmarks, crop_face_mask, dilate, ellipse_mask, erode, refine
from facelab.io.image import read_image

# MTCNN landmarks of the faces in obama.jpg and biden.jpg (see test_mask.py).
OBAMA_5PT = np.float32([[445.3, 214.7], [551.7, 214.2], [497.7, 277.7], [435.6, 324.8], [557.1, 320.5]])
BIDEN_5PT = np.float32([[535.2, 319.3], [655.4, 344.9], [597.8, 407.1], [518.9, 461.9], [625.0, 480.3]])


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> dict[str, np.ndarray]:
    folder = shared_data / "faces" / "face_recognition"
    return {name: read_image(folder / f"{name}.jpg") for name in ("obama", "biden")}


@pytest.fixture(scope="module")
def patches(photos: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """256-pixel face patches: obama's (dst) and biden's brightened by 40 (src), misaligned levels."""
    dst = photos["obama"][150:406, 370:626].copy()
    src = np.clip(photos["biden"][250:506, 470:726].astype(int) + 40, 0, 255).astype(np.uint8)
    return dst, src


def _similarity(center: np.ndarray, size: int, scale: float, degrees: float) -> np.ndarray:
    """Frame -> crop matrix: rotate by ``degrees`` and scale about ``center``, which lands mid-crop."""
    t = math.radians(degrees)
    R = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return np.hstack([R, ((size - 1) / 2 - R @ center)[:, None]])


def _edge_gradient(img: np.ndarray, mask: np.ndarray) -> float:
    """Mean colour-gradient magnitude over the pixels on either side of the mask's edge."""
    f = img.astype(np.float64)
    g = np.zeros(img.shape[:2])
    g[:, 1:] = np.linalg.norm(f[:, 1:] - f[:, :-1], axis=-1)
    g[1:] = np.maximum(g[1:], np.linalg.norm(f[1:] - f[:-1], axis=-1))
    band = (dilate(mask, 1) > 0) & (erode(mask, 1) == 0)
    return float(g[band].mean())


# ------------------------------------------------------------------------------------ alpha


def test_alpha_blend_ends_are_exact_and_the_middle_mixes() -> None:
    rng = np.random.default_rng(0)
    dst = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    src = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(alpha_blend(dst, src, np.ones((20, 30), np.float32)), src)
    np.testing.assert_array_equal(alpha_blend(dst, src, np.zeros((20, 30), np.float32)), dst)
    half = alpha_blend(dst, src, np.full((20, 30), 0.5, np.float32))
    assert np.abs(half.astype(int) - (dst.astype(int) + src) / 2).max() <= 0.5
    with pytest.raises(ConfigError, match="mask"):
        alpha_blend(dst, src, np.ones((20, 31)))
    with pytest.raises(ConfigError, match="same shape"):
        alpha_blend(dst, src[:, :29], np.ones((20, 30)))


# ---------------------------------------------------------------------------------- poisson


def test_poisson_is_seam_free_compared_with_a_hard_paste(patches: tuple[np.ndarray, np.ndarray]) -> None:
    dst, src = patches
    mask = ellipse_mask((256, 256), (128, 128), (80, 100), 10)
    hard = alpha_blend(dst, src, mask)
    for mixed in (False, True):
        out = poisson_blend(dst, src, mask, mixed=mixed)
        assert _edge_gradient(out, mask) < 0.7 * _edge_gradient(hard, mask)
        # about as smooth across the edge as the untouched photo is there
        assert _edge_gradient(out, mask) < 1.2 * _edge_gradient(dst, mask)
        np.testing.assert_array_equal(out[mask == 0], dst[mask == 0])
    # and the face's detail is kept: inside, the result follows src's gradients, not dst's
    out = poisson_blend(dst, src, mask)
    inner = erode(mask, 8) > 0
    d_out = np.diff(out.astype(int), axis=1)[inner[:, 1:]]
    d_src = np.diff(src.astype(int), axis=1)[inner[:, 1:]]
    d_dst = np.diff(dst.astype(int), axis=1)[inner[:, 1:]]
    assert np.abs(d_out - d_src).mean() < 0.5 * np.abs(d_out - d_dst).mean()


def test_poisson_places_the_patch_where_the_mask_is() -> None:
    # A flat frame and a textured source: the clone's texture must line up with src, unshifted,
    # for boxes of odd and even sizes.
    rng = np.random.default_rng(1)
    dst = np.full((60, 80, 3), 128, np.uint8)
    src = rng.integers(90, 166, (60, 80, 3), dtype=np.uint8)
    for x0, y0, w, h in [(10, 10, 31, 21), (10, 10, 30, 20), (11, 9, 29, 22)]:
        mask = np.zeros((60, 80), np.float32)
        mask[y0 : y0 + h, x0 : x0 + w] = 1
        out = poisson_blend(dst, src, mask).astype(int)
        inner = (slice(y0 + 4, y0 + h - 4), slice(x0 + 4, x0 + w - 4))
        errors = {}
        for shift in ((0, 0), (0, 1), (1, 0), (0, -1), (-1, 0)):
            s = np.roll(src.astype(int), shift, axis=(0, 1))
            errors[shift] = np.abs(np.diff(s, axis=1)[inner] - np.diff(out, axis=1)[inner]).mean()
        assert min(errors, key=errors.get) == (0, 0) and errors[(0, 0)] < 3


@pytest.mark.parametrize("where", ["left", "top", "corner", "everywhere"])
def test_poisson_with_masks_touching_the_border(patches: tuple[np.ndarray, np.ndarray], where: str) -> None:
    dst, src = patches
    mask = np.zeros((256, 256), np.float32)
    if where == "left":
        mask[60:200, :90] = 1
    elif where == "top":
        mask = ellipse_mask((256, 256), (128, 10), (90, 60))
    elif where == "corner":
        mask[:100, 180:] = 1
    else:
        mask[:] = 1
    out = poisson_blend(dst, src, mask)
    np.testing.assert_array_equal(out[mask == 0], dst[mask == 0])
    inner = erode(mask, 6) > 0 if where != "everywhere" else np.ones_like(mask, bool)
    # the pasted region carries src's detail, with no offset (cv2's centre rule respected)
    d_out = np.diff(out.astype(int), axis=1)[inner[:, 1:]]
    d_src = np.diff(src.astype(int), axis=1)[inner[:, 1:]]
    assert np.abs(d_out - d_src).mean() < 3


def test_poisson_with_tiny_or_empty_masks_keeps_dst() -> None:
    rng = np.random.default_rng(2)
    dst = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    src = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for box in [(slice(0, 0), slice(0, 0)), (slice(5, 6), slice(5, 6)), (slice(3, 5), slice(3, 12))]:
        mask = np.zeros((16, 16), np.float32)
        mask[box] = 1
        np.testing.assert_array_equal(poisson_blend(dst, src, mask), dst)


@st.composite
def _blend_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    dst = draw(arrays(np.uint8, (h, w, 3)))
    src = draw(arrays(np.uint8, (h, w, 3)))
    mask = draw(arrays(np.float32, (h, w), elements=st.sampled_from([0.0, 0.0, 0.25, 1.0])))
    if draw(st.booleans()):  # contiguous blobs, often touching the border
        mask = dilate(mask * (mask == 1), draw(st.integers(0, 4)))
    return dst, src, mask


@settings(max_examples=120, deadline=None)
@given(_blend_case())
def test_property_outside_the_mask_is_bit_identical(case: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    dst, src, mask = case
    before = dst.copy(), src.copy(), mask.copy()
    for out in (alpha_blend(dst, src, mask), poisson_blend(dst, src, mask),
                poisson_blend(dst, src, mask, mixed=True)):
        assert out.dtype == np.uint8 and out.shape == dst.shape
        np.testing.assert_array_equal(out[mask == 0], dst[mask == 0])
    np.testing.assert_array_equal(alpha_blend(dst, src, mask)[mask == 1], src[mask == 1])
    for a, b in zip((dst, src, mask), before):
        np.testing.assert_array_equal(a, b)  # inputs untouched


# ------------------------------------------------------------------------------- paste_face


@pytest.mark.parametrize("mode", ["alpha", "poisson"])
@pytest.mark.parametrize("color", ["none", "reinhard", "hist"])
def test_paste_face_round_trip_restores_the_photo(photos: dict[str, np.ndarray], mode: str, color: str) -> None:
    frame = photos["obama"]
    size = 160
    M = _similarity(OBAMA_5PT[[0, 1, 3, 4]].mean(0), size, scale=1.2, degrees=12)
    crop = cv2.warpAffine(frame, M, (size, size), flags=cv2.INTER_LINEAR)
    landmarks = OBAMA_5PT @ M[:, :2].T + M[:, 2]
    crop_mask = refine(crop_face_mask(size, landmarks=landmarks), 6, 6)
    frame_before = frame.copy()
    out, frame_mask = paste_face(frame, crop, crop_mask, M=M, mode=mode, color=color)  # type: ignore[arg-type]
    np.testing.assert_array_equal(frame, frame_before)
    assert out.dtype == np.uint8 and out.shape == frame.shape
    assert frame_mask.dtype == np.float32 and frame_mask.shape == frame.shape[:2]
    assert 0 <= frame_mask.min() and frame_mask.max() <= 1
    # the mask sits on the face, about (1 / 1.2)^2 of the crop's area
    area = float((frame_mask > 0.5).sum())
    assert abs(area - float((crop_mask > 0.5).sum()) / 1.44) < 0.05 * area
    np.testing.assert_array_equal(out[frame_mask == 0], frame[frame_mask == 0])
    face = frame_mask > 0.5
    assert np.abs(out.astype(int) - frame)[face].mean() < 3.5  # two bilinear resamplings


def test_paste_face_accepts_m_inv_and_both(photos: dict[str, np.ndarray]) -> None:
    frame = photos["obama"]
    M, _ = cv2.estimateAffinePartial2D(OBAMA_5PT, arcface_landmarks(112))
    crop = cv2.warpAffine(frame, M, (112, 112))
    crop_mask = refine(crop_face_mask(112), 3, 3)
    a, ma = paste_face(frame, crop, crop_mask, M=M, color="none")
    b, mb = paste_face(frame, crop, crop_mask, M_inv=cv2.invertAffineTransform(M), color="none")
    c, _ = paste_face(frame, crop, crop_mask, M=M, M_inv=cv2.invertAffineTransform(M), color="none")
    np.testing.assert_array_equal(ma, mb)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ConfigError, match="inverses"):
        paste_face(frame, crop, crop_mask, M=M, M_inv=M)
    with pytest.raises(ConfigError, match="pass M"):
        paste_face(frame, crop, crop_mask)
    with pytest.raises(ConfigError, match="singular"):
        paste_face(frame, crop, crop_mask, M=np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="blend mode"):
        paste_face(frame, crop, crop_mask, M=M, mode="feather")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="colour"):
        paste_face(frame, crop, crop_mask, M=M, color="lab")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="crop_mask"):
        paste_face(frame, crop, crop_mask[:-1], M=M)


def test_paste_face_swaps_a_face_and_matches_its_colours(photos: dict[str, np.ndarray]) -> None:
    frame, other = photos["obama"], photos["biden"]
    size = 128
    M_frame, _ = cv2.estimateAffinePartial2D(OBAMA_5PT, arcface_landmarks(size))
    M_other, _ = cv2.estimateAffinePartial2D(BIDEN_5PT, arcface_landmarks(size))
    new_face = cv2.warpAffine(other, M_other, (size, size))
    mask = refine(crop_face_mask(size), 4, 4)
    plain, frame_mask = paste_face(frame, new_face, mask, M=M_frame, color="none")
    matched, _ = paste_face(frame, new_face, mask, M=M_frame, color="reinhard")
    face = frame_mask > 0.9
    gap_plain = np.abs(plain[face].mean(0) - frame[face].mean(0)).max()
    gap_matched = np.abs(matched[face].mean(0) - frame[face].mean(0)).max()
    assert gap_plain > 15 and gap_matched < 4  # biden's paler face takes obama's skin tone
    assert not np.array_equal(plain[face], frame[face])
    np.testing.assert_array_equal(matched[frame_mask == 0], frame[frame_mask == 0])


def test_paste_face_near_the_frame_edge_and_outside_it() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = refine(crop_face_mask(64), 2, 2)
    for shift in ((-30.0, -20.0), (90.0, 50.0), (500.0, 500.0)):
        M = np.array([[1.0, 0.0, -shift[0]], [0.0, 1.0, -shift[1]]])  # crop origin at `shift`
        for mode in ("alpha", "poisson"):
            out, fm = paste_face(frame, crop, mask, M=M, mode=mode)  # type: ignore[arg-type]
            np.testing.assert_array_equal(out[fm == 0], frame[fm == 0])
    assert fm.sum() == 0 and np.array_equal(out, frame)  # the last crop is off the frame


@settings(max_examples=40, deadline=None)
@given(
    scale=st.floats(0.3, 3.0),
    degrees=st.floats(-180, 180),
    cx=st.floats(-40, 140),
    cy=st.floats(-40, 110),
    mode=st.sampled_from(["alpha", "poisson"]),
    color=st.sampled_from(["none", "reinhard", "hist"]),
    seed=st.integers(0, 2**16),
)
def test_property_paste_face_changes_only_pixels_under_its_mask(
    scale: float, degrees: float, cx: float, cy: float, mode: str, color: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (70, 100, 3), dtype=np.uint8)
    crop = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    mask = refine(crop_face_mask(48), 2, 3)
    M = _similarity(np.array([cx, cy]), 48, scale, degrees)
    out, fm = paste_face(frame, crop, mask, M=M, mode=mode, color=color)  # type: ignore[arg-type]
    assert out.dtype == np.uint8 and fm.dtype == np.float32 and 0 <= fm.min() and fm.max() <= 1
    np.testing.assert_array_equal(out[fm == 0], frame[fm == 0])


def test_paste_face_shrinking_a_large_crop_does_not_alias() -> None:
    # A 1-pixel checkerboard crop pasted at a quarter of its size must come out mid-grey, not as
    # the moire that plain bilinear sampling (2x2 pixels per output pixel) leaves.
    frame = np.full((100, 100, 3), 30, np.uint8)
    y, x = np.mgrid[0:160, 0:160]
    crop = np.repeat((((x + y) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    mask = np.zeros((160, 160), np.float32)
    mask[20:140, 20:140] = 1
    M = np.array([[4.0, 0.0, -100.0], [0.0, 4.0, -100.0]])  # frame (25, 25) -> crop (0, 0)
    out, fm = paste_face(frame, crop, mask, M=M, color="none")
    inner = out[35:55, 35:55].astype(float)
    assert np.all(fm[35:55, 35:55] == 1)
    assert abs(inner.mean() - 127.5) < 3 and inner.std() < 3


def test_paste_face_takes_the_aligners_matrix(photos: dict[str, np.ndarray]) -> None:
    # The matrix convention agrees with faces/align.py: align, paste the crop straight back.
    align = pytest.importorskip("facelab.faces.align")
    frame = photos["obama"]
    aligned = align.align_face(frame, OBAMA_5PT, size=384)  # the crop is ~1.15x the face: no loss
    mask = refine(crop_face_mask(384, landmarks=aligned.crop_landmarks), 8, 8)
    for kwargs in ({"M": aligned.M}, {"M_inv": aligned.M_inv}):
        out, fm = paste_face(frame, aligned.crop, mask, color="reinhard", **kwargs)
        assert (fm > 0.5).sum() > 10_000
        assert np.abs(out.astype(int) - frame)[fm > 0.5].mean() < 3.5
        np.testing.assert_array_equal(out[fm == 0], frame[fm == 0])

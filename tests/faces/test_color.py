"""Colour transfer: Reinhard statistics, histogram CDFs, masks, dispatch and output ranges."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from facelab.errors import ConfigError
from facelab.faces.color import COLOR_METHODS, color_transfer, histogram_match, lab_stats, reinhard
from facelab.faces.mask import arcface_landmarks, crop_face_mask, refine
from facelab.io.image import read_image

# MTCNN landmarks of the faces in obama.jpg and biden.jpg (see test_mask.py).
FACES_5PT = {
    "obama": [[445.3, 214.7], [551.7, 214.2], [497.7, 277.7], [435.6, 324.8], [557.1, 320.5]],
    "biden": [[535.2, 319.3], [655.4, 344.9], [597.8, 407.1], [518.9, 461.9], [625.0, 480.3]],
}
SIZE = 128


@pytest.fixture(scope="module")
def crops(shared_data: Path) -> dict[str, np.ndarray]:
    """ArcFace-aligned 128-pixel crops of the two real faces (uint8 RGB)."""
    out = {}
    for name, pts in FACES_5PT.items():
        image = read_image(shared_data / "faces" / "face_recognition" / f"{name}.jpg")
        M, _ = cv2.estimateAffinePartial2D(np.float32(pts), arcface_landmarks(SIZE))
        out[name] = cv2.warpAffine(image, M, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
    return out


def _weighted_cdf(img: np.ndarray, c: int, w: np.ndarray) -> np.ndarray:
    hist = np.bincount(img[..., c].ravel(), weights=w.ravel(), minlength=256)
    return np.cumsum(hist) / hist.sum()


def _smooth_image(seed: int, shape: tuple[int, int], lo: int, hi: int) -> np.ndarray:
    """A blurry random colour image with values in ``[lo, hi]`` (in gamut, nothing clips)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.uniform(0, 1, (*shape, 3)).astype(np.float32), (0, 0), 3)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (lo + noise * (hi - lo)).round().astype(np.uint8)


def test_reinhard_matches_masked_lab_statistics_on_real_faces(crops: dict[str, np.ndarray]) -> None:
    mask = refine(crop_face_mask(SIZE), 4, 4)  # soft weights
    src, ref = crops["biden"], crops["obama"]
    mu_r, sd_r = lab_stats(ref, mask)
    mu_s, _ = lab_stats(src, mask)
    assert abs(mu_s[0] - mu_r[0]) > 10  # the faces really differ
    out = reinhard(src, ref, mask)
    assert out.dtype == np.uint8 and out.shape == src.shape
    mu_o, sd_o = lab_stats(out, mask)
    # rounding to uint8 and the odd clipped highlight keep it from exact
    np.testing.assert_allclose(mu_o, mu_r, atol=1.0)
    np.testing.assert_allclose(sd_o, sd_r, atol=1.0, rtol=0.1)


def test_reinhard_is_tight_when_nothing_clips() -> None:
    src = _smooth_image(1, (64, 80), 70, 150)
    ref = _smooth_image(2, (48, 40), 90, 170)
    ref[..., 0] = np.clip(ref[..., 0].astype(int) + 20, 0, 255)  # a warmer reference
    out = reinhard(src, ref)
    mu_o, sd_o = lab_stats(out)
    mu_r, sd_r = lab_stats(ref)
    np.testing.assert_allclose(mu_o, mu_r, atol=0.3)
    np.testing.assert_allclose(sd_o, sd_r, atol=0.3)


def test_reinhard_uses_separate_masks_and_sizes() -> None:
    src = _smooth_image(3, (40, 40), 60, 190)
    ref = np.zeros((30, 60, 3), np.uint8)
    ref[:, :30] = (200, 60, 50)  # red left half ...
    ref[:, 30:] = (40, 70, 200)  # ... blue right half
    ref_mask = np.zeros((30, 60), np.float32)
    ref_mask[:, :30] = 1
    src_mask = np.zeros((40, 40), np.float32)
    src_mask[10:30, 10:30] = 1
    out = reinhard(src, ref, src_mask=src_mask, ref_mask=ref_mask)
    mu_o, _ = lab_stats(out, src_mask)
    mu_red, _ = lab_stats(ref[:, :30])
    np.testing.assert_allclose(mu_o, mu_red, atol=1.0)
    with pytest.raises(ConfigError, match="ref_mask"):
        reinhard(src, ref, src_mask)  # one mask for two image sizes


def test_transfers_to_themselves_are_near_identity(crops: dict[str, np.ndarray]) -> None:
    img = crops["obama"]
    mask = crop_face_mask(SIZE)
    assert np.abs(reinhard(img, img, mask).astype(int) - img).max() <= 1
    # under the mask exactly; values only outside it are clamped to the masked range
    inside = mask > 0
    np.testing.assert_array_equal(histogram_match(img, img, mask, mask)[inside], img[inside])
    np.testing.assert_array_equal(histogram_match(img, img), img)


def test_histogram_match_makes_masked_cdfs_match(crops: dict[str, np.ndarray]) -> None:
    mask = crop_face_mask(SIZE)
    src, ref = crops["biden"], crops["obama"]
    out = histogram_match(src, ref, mask, mask)
    assert out.dtype == np.uint8 and out.shape == src.shape
    for c in range(3):
        before = np.abs(_weighted_cdf(src, c, mask) - _weighted_cdf(ref, c, mask)).max()
        after = np.abs(_weighted_cdf(out, c, mask) - _weighted_cdf(ref, c, mask)).max()
        assert before > 0.3 and after < 0.03


def test_dispatch_and_errors(crops: dict[str, np.ndarray]) -> None:
    src, ref = crops["biden"], crops["obama"]
    mask = crop_face_mask(SIZE)
    np.testing.assert_array_equal(color_transfer(src, ref, "reinhard", mask, mask), reinhard(src, ref, mask))
    np.testing.assert_array_equal(color_transfer(src, ref, "hist", mask, mask),
                                  histogram_match(src, ref, mask, mask))
    none = color_transfer(src, ref, "none")
    assert none is not src and np.array_equal(none, src)
    with pytest.raises(ConfigError, match="unknown colour transfer"):
        color_transfer(src, ref, "lab")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="uint8"):
        reinhard(src.astype(np.float32), ref)
    with pytest.raises(ConfigError, match="src_mask"):
        histogram_match(src, ref, np.ones((3, 3)))


def test_all_zero_masks_leave_src_unchanged() -> None:
    src = _smooth_image(4, (16, 16), 0, 255)
    ref = _smooth_image(5, (16, 16), 0, 255)
    zero = np.zeros((16, 16), np.float32)
    for method in ("reinhard", "hist"):
        np.testing.assert_array_equal(color_transfer(src, ref, method, zero, None), src)  # type: ignore[arg-type]
        np.testing.assert_array_equal(color_transfer(src, ref, method, None, zero), src)  # type: ignore[arg-type]


@st.composite
def _case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    def image() -> np.ndarray:
        h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        if draw(st.booleans()):  # flat images are an edge case of their own
            return np.full((h, w, 3), draw(st.integers(0, 255)), np.uint8)
        return draw(arrays(np.uint8, (h, w, 3)))

    def mask(img: np.ndarray) -> np.ndarray | None:
        if draw(st.booleans()):
            return None
        return draw(arrays(np.float32, img.shape[:2], elements=st.sampled_from([0.0, 0.3, 1.0])))

    src, ref = image(), image()
    return src, ref, mask(src), mask(ref), draw(st.sampled_from(COLOR_METHODS))


@settings(max_examples=150, deadline=None)
@given(_case())
def test_property_outputs_are_uint8_images_of_src_shape(case: tuple) -> None:
    src, ref, src_mask, ref_mask, method = case
    src_before, ref_before = src.copy(), ref.copy()
    out = color_transfer(src, ref, method, src_mask, ref_mask)
    assert out.dtype == np.uint8 and out.shape == src.shape
    np.testing.assert_array_equal(src, src_before)  # inputs untouched
    np.testing.assert_array_equal(ref, ref_before)
    if method == "hist" and src_mask is None and ref_mask is None:
        # every output value is one the reference holds, or between two it holds
        for c in range(3):
            assert ref[..., c].min() <= out[..., c].min() and out[..., c].max() <= ref[..., c].max()

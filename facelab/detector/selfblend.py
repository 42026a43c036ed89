"""Fakes made online from real faces: self-blended images and blended swaps.

    real, fake = self_blend(crop, lm68, rng)                        # one face, two versions
    fake = blended_swap(crop, lm68, donor, donor_lm68, rng)         # another face, same mask
    fake = dense_swap(crop, lm68, donor, donor_lm68, rng)           # another face, bent onto this one
    fake = rerendered(crop, lm68, renderer.render(crop), rng)       # this face, rebuilt by a generator

Why: a detector trained on one manipulation's fakes learns that manipulation. What almost
every face manipulation shares is the **blend**: a face region from one image pasted into
another through a soft mask, leaving a boundary where colour, frequency content and geometry
disagree. Face X-ray (Li et al., CVPR 2020, https://arxiv.org/abs/1912.13458) made such fakes
from pairs of real faces; Self-Blended Images (SBI, Shiohara & Yamasaki, CVPR 2022,
https://arxiv.org/abs/2204.08376) from one face and two differently processed copies of it,
which leaves only the blending artefact, with no identity cue to take a shortcut on. This
module is written from the papers' descriptions (the SBI code's licence is non-commercial).

Two more families carry what blending alone does not: ``dense`` bends the donor's face onto the
target's 68 landmarks triangle by triangle (the piecewise-affine warp of facelab's
expression-following swap and of landmark-driven re-enactment), so the pasted face has the
target's shape and expression; ``rerender`` pastes the face back after a trained autoencoder
rebuilt it (:mod:`facelab.detector.rerender`): the smooth, upsampled texture of neural renderers.

Both work on aligned crops (:class:`~facelab.detector.crops.CropSpec`) with landmarks in the
crop's frame, and draw every random choice from the ``numpy`` generator they are given, so a
fake is fixed by ``(seed, epoch, index)`` and a resumed run makes the same fakes.

**Convention:** images uint8 ``(S, S, 3)`` RGB; landmarks float ``(68, 2)`` in the iBUG 300-W
order (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67), pixel centres at integers;
masks float32 ``(S, S)`` in ``[0, 1]``, 1 = taken from the source.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import cv2
import numpy as np

from facelab.faces.align import ARCFACE_5PT, estimate_similarity, transform_points
from facelab.faces.color import reinhard
from facelab.faces.warp import piecewise_affine

__all__ = ["DONOR_FAMILIES", "FAMILIES", "blend_mask", "blended_swap", "dense_swap", "make_fake", "mean_face68",
           "rerendered", "self_blend"]

#: The fake families this module makes.
FAMILIES = ("sbi", "swap", "dense", "rerender")
#: The families that take another person's face.
DONOR_FAMILIES = ("swap", "dense")

# hull variants (point indices): the whole face, the inner face without the jaw line, and the
# lower face (cheeks, nose, mouth, chin), the regions that swaps, re-enactment and lip-sync change
_HULLS = (tuple(range(68)), tuple(range(17, 68)), tuple(range(2, 15)) + tuple(range(27, 36)))
_HULL_P = (0.5, 0.25, 0.25)


@functools.lru_cache(maxsize=1)
def _mean68() -> np.ndarray:
    data = json.loads((Path(__file__).with_name("mean_face68.json")).read_text(encoding="utf-8"))
    return np.asarray(data["points"], dtype=np.float64)


def mean_face68(lm5: np.ndarray) -> np.ndarray:
    """The mean 68-point face placed by the similarity that takes ArcFace's 5 points onto ``lm5``.

    Used when dlib's predictor (the ``dlib`` extra) is not installed: the mask then follows the
    face's position, scale and roll, but not its shape or expression.

    Args:
        lm5: ``(5, 2)`` MTCNN landmarks (eyes, nose, mouth corners).

    Returns:
        float32 ``(68, 2)``.
    """
    M = estimate_similarity(ARCFACE_5PT, np.asarray(lm5, dtype=np.float64))
    return transform_points(_mean68(), M).astype(np.float32)


def _elastic(mask: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth random displacement of the mask (alpha ``strength`` pixels)."""
    h, w = mask.shape
    sigma = max(2.0, 0.08 * w)
    dx = np.asarray(cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma), np.float32)
    dy = np.asarray(cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma), np.float32)
    norm = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, gx + dx / norm * strength, gy + dy / norm * strength, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def blend_mask(lm68: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random soft face mask from the landmarks: float32 ``(size, size)`` in ``[0, 1]``.

    Steps: the convex hull of one landmark subset (whole face, inner face, lower face), an
    elastic deformation, a random erosion or dilation (up to 8 % of the crop), and a Gaussian
    blur whose width is drawn too, so that the fakes show every boundary from a hard cut to a
    wide feather.
    """
    pts = np.asarray(lm68, dtype=np.float32)[list(_HULLS[rng.choice(len(_HULLS), p=_HULL_P)])]
    hull = cv2.convexHull(np.round(pts).astype(np.int32))
    mask: np.ndarray = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    mask = _elastic(mask, rng, rng.uniform(0.0, 0.04) * size)
    k = int(round(rng.uniform(0.0, 0.08) * size))
    if k >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    sigma = rng.uniform(0.005, 0.06) * size
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    peak = float(mask.max())
    if peak < 1e-3:  # eroded away: fall back to the plain hull
        mask = np.zeros((size, size), np.float32)
        cv2.fillConvexPoly(mask, hull, 1.0)
        return cv2.GaussianBlur(mask, (0, 0), 0.01 * size)
    return np.clip(mask / peak, 0.0, 1.0)


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour (RGB shift, hue / saturation / value shift, brightness / contrast) of a copy."""
    x = img.astype(np.float32)
    x += rng.uniform(-20, 20, 3).astype(np.float32)
    hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.8, 1.2)
    hsv[..., 2] *= rng.uniform(0.85, 1.15)
    x = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    x = (x - 128.0) * rng.uniform(0.85, 1.15) + 128.0 + rng.uniform(-15, 15)
    return np.clip(x, 0, 255).astype(np.uint8)


def _frequency(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Resampling (down and up again: the blur of a rendered or upscaled face) or sharpening."""
    u = rng.random()
    if u < 0.45:
        s = img.shape[0]
        small = max(8, int(round(s * rng.uniform(0.35, 0.85))))
        down = cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA)
        return cv2.resize(down, (s, s), interpolation=cv2.INTER_LINEAR if rng.random() < 0.5 else cv2.INTER_CUBIC)
    if u < 0.7:
        blur = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 1.6)).astype(np.float32)
        amount = rng.uniform(0.3, 1.0)
        return np.clip(img.astype(np.float32) * (1 + amount) - blur * amount, 0, 255).astype(np.uint8)
    return img


def _jitter_geometry(img: np.ndarray, lm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small shift and scale about the face centre (the misregistration of a pasted face)."""
    s = img.shape[0]
    c = lm.mean(axis=0)
    scale = rng.uniform(0.95, 1.05)
    t = rng.uniform(-0.03, 0.03, 2) * s
    M = np.array([[scale, 0, (1 - scale) * c[0] + t[0]], [0, scale, (1 - scale) * c[1] + t[1]]], np.float64)
    return cv2.warpAffine(img, M, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _ratio(rng: np.random.Generator) -> float:
    """Blend ratio in (0, 1]: mostly a full paste, sometimes a partial one."""
    return float(rng.choice([0.25, 0.5, 0.75, 1.0, 1.0, 1.0]))


def _compose(target: np.ndarray, source: np.ndarray, mask: np.ndarray, ratio: float) -> np.ndarray:
    m = (mask * ratio)[..., None]
    out = source.astype(np.float32) * m + target.astype(np.float32) * (1.0 - m)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def self_blend(img: np.ndarray, lm68: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A self-blended image (SBI) of one real face: uint8 ``(S, S, 3)``.

    Two copies of ``img``: one (source or target, drawn) gets a colour change and a resampling
    or sharpening; the source is shifted and scaled a little; the source is blended into the
    target through :func:`blend_mask` with a ratio in (0, 1]. The real sample is ``img`` itself.
    """
    source, target = img.copy(), img.copy()
    if rng.random() < 0.5:
        source = _frequency(_photometric(source, rng), rng)
    else:
        target = _frequency(_photometric(target, rng), rng)
    source = _jitter_geometry(source, lm68, rng)
    mask = blend_mask(lm68, img.shape[0], rng)
    return _compose(target, source, mask, _ratio(rng))


def blended_swap(img: np.ndarray, lm68: np.ndarray, donor: np.ndarray, donor_lm68: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Another person's face blended into ``img`` (Face X-ray's fakes): uint8 ``(S, S, 3)``.

    The donor is warped by the similarity between the two landmark sets, colour-matched to the
    target inside the mask (Reinhard) most of the time, sometimes resampled, and blended
    through :func:`blend_mask` of the target's landmarks.
    """
    s = img.shape[0]
    M = estimate_similarity(np.asarray(donor_lm68, np.float64), np.asarray(lm68, np.float64))
    warped = cv2.warpAffine(donor, M, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = blend_mask(lm68, s, rng)
    if rng.random() < 0.8:
        warped = reinhard(warped, img, mask)
    if rng.random() < 0.5:
        warped = _frequency(warped, rng)
    return _compose(img, warped, mask, _ratio(rng))


def dense_swap(img: np.ndarray, lm68: np.ndarray, donor: np.ndarray, donor_lm68: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Another person's face bent onto ``img``'s 68 landmarks, then blended: uint8 ``(S, S, 3)``.

    Where :func:`blended_swap` moves the donor rigidly, this warps it piecewise-affinely
    (Delaunay triangles of the landmarks, the crop's border fixed), as an expression-following
    swap or a landmark-driven re-enactment does: eyes, nose, mouth and jaw line land on the
    target's. The warp's slight stretching, the colour match (Reinhard, most of the time) and the
    mask's boundary are the artefacts.
    """
    s = img.shape[0]
    src = np.asarray(donor_lm68, np.float64)
    dst = np.asarray(lm68, np.float64) + rng.normal(0.0, 0.004 * s, (68, 2))  # a landmark detector's jitter
    warped = piecewise_affine(donor, src, dst, (s, s))
    mask = blend_mask(lm68, s, rng)
    if rng.random() < 0.8:
        warped = reinhard(warped, img, mask)
    if rng.random() < 0.3:
        warped = _frequency(warped, rng)
    return _compose(img, warped, mask, _ratio(rng))


def rerendered(img: np.ndarray, lm68: np.ndarray, rendered: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``rendered`` (``img`` rebuilt by a generator, same size) pasted back into ``img``: uint8 ``(S, S, 3)``.

    Colour-matched to ``img`` inside the mask most of the time (a renderer's colours drift),
    blended through :func:`blend_mask` with a ratio in (0, 1].
    """
    mask = blend_mask(lm68, img.shape[0], rng)
    if rng.random() < 0.7:
        rendered = reinhard(rendered, img, mask)
    return _compose(img, rendered, mask, _ratio(rng))


def make_fake(family: str, img: np.ndarray, lm68: np.ndarray, rng: np.random.Generator,
              donor: tuple[np.ndarray, np.ndarray] | None = None, rendered: np.ndarray | None = None) -> np.ndarray:
    """A fake of ``family`` (:data:`FAMILIES`) from ``img``.

    ``swap`` and ``dense`` need ``donor = (crop, lm68)``; ``rerender`` needs ``rendered``, the
    crop as a renderer rebuilt it (:meth:`facelab.detector.rerender.FaceRenderer.render`).
    """
    if family == "sbi":
        return self_blend(img, lm68, rng)
    if family in DONOR_FAMILIES:
        if donor is None:
            raise ValueError(f"a {family} fake needs a donor face")
        make = blended_swap if family == "swap" else dense_swap
        return make(img, lm68, donor[0], donor[1], rng)
    if family == "rerender":
        if rendered is None:
            raise ValueError("a rerender fake needs the re-rendered crop")
        return rerendered(img, lm68, rendered, rng)
    raise ValueError(f"unknown fake family {family!r}; choose from {', '.join(FAMILIES)}")

"""Face masks: which pixels a swapped face may replace, and how softly.

    mask = crop_face_mask(256, margin=0.3)              # ellipse in an ArcFace-aligned crop
    mask = crop_face_mask(256, landmarks=aligned.crop_landmarks)  # ... or after the real points
    mask = refine(mask, erode_px=8, feather_px=8)       # shrink, then soften the edge
    mask = face_ellipse_from_5pt(landmarks, (H, W))     # the same ellipse in a frame

Convention:
    * A mask is ``float32`` of shape ``(H, W)`` with values in ``[0, 1]``: 1 takes the new face,
      0 keeps the original pixel. A *binary* mask holds only 0 and 1.
    * ``shape`` arguments are ``(H, W)`` like ``ndarray.shape``; points are ``(x, y)`` in pixels,
      ``x`` to the right, ``y`` down, **pixel centres at integer coordinates** (the centre of the
      top-left pixel is ``(0, 0)``), as in ``cv2.warpAffine`` and :mod:`facelab.faces.align`.
    * A pixel is inside a shape when its centre is (shapes are closed sets), so masks do not
      depend on how OpenCV's scan converters round.
    * ``angle`` is in degrees and turns the ellipse's first axis from ``+x`` towards ``+y`` (it
      looks clockwise on screen, where ``y`` points down), as in ``cv2.ellipse``.
    * Morphology uses the digital disc of radius ``px``: the offsets ``(dx, dy)`` with
      ``dx**2 + dy**2 <= px**2 + px`` (pixel centres within ``px + 1/2``). Everything outside the
      image counts as background (0): erosion eats masks from the image edge, dilation and
      feathering never bring anything in from outside.
    * Feathering spreads **both ways**: the ramp is centred on the mask's edge, 1 at ``px``
      inside, 0 at ``px`` outside. The result is exactly 0 outside ``dilate(mask > 0, px)`` and
      exactly 1 inside ``erode(mask >= 1, px)``. ``refine(m, erode_px=px, feather_px=px)`` keeps
      the soft edge inside the original mask (its support is the morphological opening of ``m``).

The 5-point face ellipse (``face_ellipse_params``), with ``E`` and ``Mo`` the centres of the eyes
and of the mouth corners, ``d = |Mo - E|`` and ``iod`` the distance between the eyes:

* centre: halfway between ``E`` and ``Mo`` (near the nose tip);
* first axis along the eye line, semi-axis ``1.05 * iod * scale`` (cheek to cheek at the nose,
  the eye corners inside, the ears and background outside);
* second axis across it, semi-axis ``0.95 * d * scale``: from ``0.45 d`` above the eyes (the
  brows) to ``0.45 d`` below the mouth (above the tip of the chin, so the target's jaw line and
  the background under it stay).

In a 112-pixel ArcFace crop that is the ellipse centred at ``(56, 72)`` with semi-axes
``(37, 39)``: it spans ``x`` 19..93 and ``y`` 33..111, inside the crop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

from facelab.errors import ConfigError
from facelab.faces.align import ARCFACE_5PT, template

__all__ = [
    "ARCFACE_5PT_112",
    "MaskKind",
    "arcface_landmarks",
    "crop_face_mask",
    "dilate",
    "disc",
    "ellipse_mask",
    "erode",
    "face_ellipse_from_5pt",
    "face_ellipse_params",
    "feather",
    "hull_mask",
    "refine",
]

log = logging.getLogger(__name__)

#: ArcFace's five-point template for a 112x112 crop: :data:`facelab.faces.align.ARCFACE_5PT`.
ARCFACE_5PT_112: np.ndarray = ARCFACE_5PT

MaskKind = Literal["ellipse", "hull"]

# Face ellipse proportions, see the module docstring.
_ELLIPSE_WIDTH = 1.05  # semi-axis along the eye line, in inter-ocular distances
_ELLIPSE_HEIGHT = 0.95  # semi-axis across it, in eye-to-mouth distances


# --------------------------------------------------------------------------------------------
# argument checks


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) < 2:
        raise ConfigError(f"a mask shape is (H, W), not {tuple(shape)!r}")
    h, w = int(shape[0]), int(shape[1])
    if h <= 0 or w <= 0:
        raise ConfigError(f"a mask shape needs H > 0 and W > 0, not {(h, w)!r}")
    return h, w


def _check_points(points: np.ndarray | Sequence[Sequence[float]], name: str = "points") -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise ConfigError(f"{name} must be an (N, 2) array of (x, y) points, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ConfigError(f"{name} hold NaN or infinite coordinates")
    return pts


def _check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ConfigError(f"{name} must be a float (H, W) array in [0, 1], got shape {m.shape}")
    return np.clip(np.nan_to_num(m.astype(np.float32, copy=False), nan=0.0), 0.0, 1.0)


def _check_px(px: int, name: str = "px") -> int:
    if int(px) != px or px < 0:
        raise ConfigError(f"{name} must be a whole number of pixels >= 0, not {px!r}")
    return int(px)


def _bbox(lo_x: float, lo_y: float, hi_x: float, hi_y: float, h: int, w: int) -> tuple[int, int, int, int]:
    """Pixel-index window ``[x0, x1) x [y0, y1)`` holding every pixel centre in the box, clipped."""
    x0, y0 = max(0, math.ceil(lo_x)), max(0, math.ceil(lo_y))
    x1, y1 = min(w, math.floor(hi_x) + 1), min(h, math.floor(hi_y) + 1)
    return x0, y0, x1, y1


# --------------------------------------------------------------------------------------------
# shapes


def _convex_hull(pts: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain in float64 (cv2.convexHull rounds to float32 and returns None on
    some degenerate inputs): the hull's vertices ``(K, 2)``, counter-clockwise in x-right/y-up
    terms, collinear points dropped."""
    p = np.unique(pts, axis=0)  # sorted by x, then y
    if len(p) < 3:
        return p

    def half(points: np.ndarray) -> list[np.ndarray]:
        chain: list[np.ndarray] = []
        for q in points:
            while len(chain) >= 2:
                (ax, ay), (bx, by) = chain[-2], chain[-1]
                if (bx - ax) * (q[1] - ay) - (by - ay) * (q[0] - ax) > 0:
                    break
                chain.pop()
            chain.append(q)
        return chain

    lower, upper = half(p), half(p[::-1])
    return np.array(lower[:-1] + upper[:-1])


def hull_mask(points: np.ndarray | Sequence[Sequence[float]], shape: Sequence[int]) -> np.ndarray:
    """Filled convex hull of ``points``.

    Args:
        points: ``(N, 2)`` points ``(x, y)``, e.g. 68 landmarks; they may lie outside the image.
        shape: ``(H, W)`` of the mask.

    Returns:
        Binary float32 ``(H, W)``: 1 where the pixel centre lies in the closed hull. Fewer than
        three points, or points on one line, enclose no area and give an empty mask.

    **Convention:** pixel centres at integer coordinates; see the module docstring.
    """
    h, w = _check_shape(shape)
    pts = _check_points(points)
    out = np.zeros((h, w), np.float32)
    if len(pts) < 3:
        return out
    hull = _convex_hull(pts)
    x, y = hull[:, 0], hull[:, 1]
    area2 = float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
    scale = float(np.abs(hull).max()) + 1.0
    if len(hull) < 3 or abs(area2) <= 1e-12 * scale * scale:
        log.debug("hull_mask: the %d points enclose no area; empty mask", len(pts))
        return out
    x0, y0, x1, y1 = _bbox(x.min(), y.min(), x.max(), y.max(), h, w)
    if x0 >= x1 or y0 >= y1:
        return out
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    inside = np.ones(gx.shape, bool)
    sign = 1.0 if area2 > 0 else -1.0
    for (ax, ay), (bx, by) in zip(hull, np.roll(hull, -1, axis=0)):
        ex, ey = bx - ax, by - ay
        # Closed half-plane, with a tolerance relative to the edge length for points on it.
        inside &= sign * (ex * (gy - ay) - ey * (gx - ax)) >= -1e-9 * math.hypot(ex, ey) * scale
    out[y0:y1, x0:x1] = inside
    return out


def ellipse_mask(
    shape: Sequence[int],
    center: Sequence[float],
    axes: Sequence[float],
    angle: float = 0.0,
) -> np.ndarray:
    """Filled ellipse.

    Args:
        shape: ``(H, W)`` of the mask.
        center: ``(cx, cy)`` in pixels (sub-pixel allowed, may lie outside the image).
        axes: semi-axes ``(a, b)``: half-lengths along the first and second axis (as in
            ``cv2.ellipse``). A semi-axis <= 0 gives an empty mask.
        angle: degrees from ``+x`` towards ``+y`` of the first axis.

    Returns:
        Binary float32 ``(H, W)``: 1 where ``(u / a)**2 + (v / b)**2 <= 1`` for the pixel centre's
        coordinates ``(u, v)`` along the axes.

    **Convention:** pixel centres at integer coordinates; ``angle`` as in ``cv2.ellipse``.
    """
    h, w = _check_shape(shape)
    cx, cy = (float(c) for c in center)
    a, b = (float(s) for s in axes)
    out = np.zeros((h, w), np.float32)
    if not all(math.isfinite(v) for v in (cx, cy, a, b, angle)):
        raise ConfigError(f"ellipse centre, axes and angle must be finite, got {center}, {axes}, {angle}")
    if a <= 0 or b <= 0:
        return out
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    half_x = math.sqrt((a * c) ** 2 + (b * s) ** 2)
    half_y = math.sqrt((a * s) ** 2 + (b * c) ** 2)
    x0, y0, x1, y1 = _bbox(cx - half_x, cy - half_y, cx + half_x, cy + half_y, h, w)
    if x0 >= x1 or y0 >= y1:
        return out
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = gx - cx, gy - cy
    with np.errstate(over="ignore"):  # tiny axes: far pixels overflow to inf, which is outside
        u = (dx * c + dy * s) / a
        v = (-dx * s + dy * c) / b
        out[y0:y1, x0:x1] = u * u + v * v <= 1.0 + 1e-12
    return out


def face_ellipse_params(
    landmarks: np.ndarray | Sequence[Sequence[float]], scale: float = 1.0
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """The face ellipse of five landmarks: ``(center, axes, angle)`` for :func:`ellipse_mask`.

    Args:
        landmarks: ``(5, 2)`` points in MTCNN/ArcFace order: left eye, right eye, nose tip, left
            mouth corner, right mouth corner (as seen in the image). The nose is not used.
        scale: multiplies both semi-axes (``> 1`` takes more of the face, ``< 1`` less).

    Returns:
        ``((cx, cy), (a, b), angle)``: ``a`` along the eye line (``1.05 * iod * scale``), ``b``
        across it (``0.95 * d * scale``), centre halfway between the eye and mouth centres; see
        the module docstring for the geometry.

    **Convention:** pixel centres at integer coordinates; ``angle`` in degrees as in
    ``cv2.ellipse`` (the eye line's direction, so a rolled face gets a rolled ellipse).
    """
    pts = _check_points(landmarks, "landmarks")
    if pts.shape != (5, 2):
        raise ConfigError(f"face_ellipse_params needs the 5 MTCNN landmarks, got shape {pts.shape}")
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"scale must be a positive number, not {scale!r}")
    eyes = (pts[0] + pts[1]) / 2
    mouth = (pts[3] + pts[4]) / 2
    eye_vec = pts[1] - pts[0]
    iod = float(np.hypot(*eye_vec))
    d = float(np.hypot(*(mouth - eyes)))
    angle = math.degrees(math.atan2(eye_vec[1], eye_vec[0])) if iod > 0 else 0.0
    center = (eyes + mouth) / 2
    axes = (_ELLIPSE_WIDTH * iod * scale, _ELLIPSE_HEIGHT * d * scale)
    return (float(center[0]), float(center[1])), (float(axes[0]), float(axes[1])), angle


def face_ellipse_from_5pt(
    landmarks: np.ndarray | Sequence[Sequence[float]], shape: Sequence[int], scale: float = 1.0
) -> np.ndarray:
    """Binary float32 ``(H, W)`` ellipse covering the face from brow to chin, from 5 landmarks.

    Args:
        landmarks: ``(5, 2)`` MTCNN/ArcFace points (left eye, right eye, nose, left and right
            mouth corners), in the frame of the mask.
        shape: ``(H, W)`` of the mask.
        scale: multiplies both semi-axes.

    **Convention:** see :func:`face_ellipse_params` and the module docstring.
    """
    center, axes, angle = face_ellipse_params(landmarks, scale)
    return ellipse_mask(shape, center, axes, angle)


def arcface_landmarks(size: int, margin: float = 0.0) -> np.ndarray:
    """ArcFace's 5-point template in a ``size`` x ``size`` crop with ``margin``: float64 ``(5, 2)``.

    :func:`facelab.faces.align.template`, the points every aligned crop is made for. When the
    aligner's own crop landmarks are at hand (``AlignedFace.crop_landmarks``), pass those to
    :func:`crop_face_mask` instead.
    """
    return template(size, margin)


def crop_face_mask(
    size: int,
    kind: MaskKind = "ellipse",
    landmarks: np.ndarray | Sequence[Sequence[float]] | None = None,
    scale: float = 1.0,
    margin: float = 0.0,
) -> np.ndarray:
    """Binary face mask in an aligned crop's frame: float32 ``(size, size)``.

    Args:
        size: side of the square crop.
        kind: ``"ellipse"``: :func:`face_ellipse_from_5pt` of ``landmarks`` (default: the
            ArcFace template, :func:`arcface_landmarks` ``(size, margin)``); ``"hull"``:
            :func:`hull_mask` of ``landmarks``, which are then required and should be dense
            (e.g. 68 points: the hull of five points only covers eyes, nose and mouth).
        landmarks: points in the crop's frame (pixel centres at integer coordinates).
        scale: ellipse only: multiplies both semi-axes.
        margin: ellipse without landmarks only: the aligner's margin (``align_face(margin=)``).

    Raises:
        ConfigError: unknown ``kind``, or ``"hull"`` without landmarks.
    """
    if int(size) != size or size <= 0:
        raise ConfigError(f"crop size must be a positive whole number, not {size!r}")
    size = int(size)
    if kind == "ellipse":
        pts = arcface_landmarks(size, margin) if landmarks is None else landmarks
        return face_ellipse_from_5pt(pts, (size, size), scale)
    if kind == "hull":
        if landmarks is None:
            raise ConfigError("a hull mask needs landmarks (e.g. 68 points in the crop's frame); "
                              "pass landmarks= or use kind='ellipse'")
        return hull_mask(landmarks, (size, size))
    raise ConfigError(f"unknown mask kind {kind!r}; choose ellipse or hull")


# --------------------------------------------------------------------------------------------
# morphology and feathering


def disc(px: int) -> np.ndarray:
    """The structuring element of radius ``px``: uint8 ``(2 px + 1, 2 px + 1)``.

    Holds the offsets ``(dx, dy)`` with ``dx**2 + dy**2 <= px**2 + px`` (centres within
    ``px + 1/2``); ``disc(0)`` is the single pixel, ``disc(1)`` the 3x3 square.
    """
    px = _check_px(px)
    dy, dx = np.ogrid[-px : px + 1, -px : px + 1]
    return (dx * dx + dy * dy <= px * px + px).astype(np.uint8)


def erode(mask: np.ndarray, px: int) -> np.ndarray:
    """Grey-level erosion (minimum over :func:`disc` of radius ``px``): float32 ``(H, W)``.

    A binary mask shrinks by ``px`` pixels; pixels within ``px`` of the image edge become 0
    (outside the image counts as background). ``px = 0`` returns a copy.
    """
    m = _check_mask(mask)
    px = _check_px(px)
    if px == 0:
        return m.copy()
    return cv2.erode(m, disc(px), borderType=cv2.BORDER_CONSTANT, borderValue=0)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grey-level dilation (maximum over :func:`disc` of radius ``px``): float32 ``(H, W)``.

    A binary mask grows by ``px`` pixels; nothing grows in from outside the image.
    ``px = 0`` returns a copy.
    """
    m = _check_mask(mask)
    px = _check_px(px)
    if px == 0:
        return m.copy()
    return cv2.dilate(m, disc(px), borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _disc_gaussian(px: int) -> np.ndarray:
    """Gaussian with sigma ``px / 2`` cut to :func:`disc` of radius ``px``, summing to 1."""
    dy, dx = np.ogrid[-px : px + 1, -px : px + 1]
    sigma = px / 2.0
    k = np.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma)) * disc(px)
    return (k / k.sum()).astype(np.float32)


def feather(mask: np.ndarray, px: int) -> np.ndarray:
    """Soften a mask's edge over ``px`` pixels on either side: float32 ``(H, W)`` in ``[0, 1]``.

    The mask is convolved with a Gaussian (sigma ``px / 2``) cut to :func:`disc` of radius
    ``px``, so the ramp is centred on the edge (the 0.5 level stays on a straight edge). Then
    the result is set to exactly 0 outside ``dilate(mask > 0, px)`` and exactly 1 inside
    ``erode(mask >= 1, px)``, so "nothing outside the dilated mask changes" holds bit for bit.
    Outside the image counts as 0, so a mask touching the image edge fades towards it.

    Spreads outwards by ``px``; to keep the soft edge inside the original mask, erode first:
    ``refine(mask, erode_px=px, feather_px=px)``. ``px = 0`` returns a copy.
    """
    m = _check_mask(mask)
    px = _check_px(px)
    if px == 0:
        return m.copy()
    blurred = cv2.filter2D(m, cv2.CV_32F, _disc_gaussian(px), borderType=cv2.BORDER_CONSTANT)
    # filter2D may use a DFT for large kernels, leaving ~1e-7 noise where the result should be
    # exactly 0 or 1; the morphological bounds make both ends exact.
    outer = dilate((m > 0).astype(np.float32), px) > 0
    core = erode((m >= 1).astype(np.float32), px) > 0
    out = np.clip(blurred, 0.0, 1.0)
    out[~outer] = 0.0
    out[core] = 1.0
    return out


def refine(mask: np.ndarray, erode_px: int = 0, feather_px: int = 0) -> np.ndarray:
    """``feather(erode(mask, erode_px), feather_px)``: float32 ``(H, W)`` in ``[0, 1]``.

    With ``erode_px >= feather_px`` the soft edge stays inside the original mask: the result is
    0 outside ``dilate(erode(mask > 0, erode_px), feather_px)``, a subset of ``mask > 0``.
    """
    return feather(erode(mask, erode_px), feather_px)

"""Similarity alignment of faces to a canonical 5-point template, and the warp back.

    aligned = align_face(frame, face.landmarks, size=256, margin=0.3)
    aligned.crop                      # uint8 (256, 256, 3), eyes level, face centred
    back = warp_to_frame(edited_crop, aligned.M_inv, frame.shape[:2])

Convention:
    * Points are ``(x, y)`` in pixels, ``x`` to the right, ``y`` down, with **pixel centres at
      integer coordinates**: the top-left pixel covers ``[-0.5, 0.5] x [-0.5, 0.5]``. This is
      ``cv2.warpAffine``'s convention (and ``align_corners=True`` thinking, not PyTorch's
      default ``grid_sample`` one).
    * A ``(2, 3)`` matrix ``M`` maps a point of the **source image to the crop**:
      ``[x', y'] = M @ [x, y, 1]``. ``cv2.warpAffine(image, M, (S, S))`` then fills crop pixel
      ``(x', y')`` from image point ``M^-1 (x', y')``; ``M_inv`` maps the crop back to the image.
    * Matrices are ``float64``; points and crops keep their own dtypes.
    * Template: the ArcFace / InsightFace 112x112 five points (:data:`ARCFACE_5PT`) in the
      landmark order of :class:`facelab.faces.detect.Face` (left eye, right eye, nose, left and
      right mouth corner, as seen in the image). See :func:`template` for sizes and margins.

Decisions:
    * :func:`estimate_similarity` is the closed-form least-squares solution (Umeyama 1991), with
      no reflection: deterministic and sub-pixel, unlike the RANSAC / LMEDS estimators of
      ``cv2.estimateAffinePartial2D``. Five landmarks give no outliers to reject.
    * Resampling is bilinear (``cv2.INTER_LINEAR``): bicubic overshoots at edges and is slower,
      for no visible gain at crop sizes of 112-512. When the warp shrinks by more than 2x, the
      source is first reduced with a Gaussian pyramid (``cv2.pyrDown``) so that the crop is
      not aliased (``warpAffine`` samples only 2x2 pixels per output pixel).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "ARCFACE_5PT",
    "AlignedFace",
    "align_face",
    "estimate_similarity",
    "invert_affine",
    "matrix_scale",
    "template",
    "transform_points",
    "warp_to_frame",
]

log = logging.getLogger(__name__)

#: The ArcFace / InsightFace 5-point template for a 112x112 crop (``insightface.utils.face_align.
#: arcface_dst``): left eye, right eye, nose tip, left and right mouth corner, as seen in the image.
ARCFACE_5PT: np.ndarray = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
ARCFACE_5PT.flags.writeable = False

Border = Literal["reflect", "replicate", "constant"]
Interpolation = Literal["linear", "cubic", "nearest"]

_BORDER = {
    "reflect": cv2.BORDER_REFLECT_101,
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
}
_INTERP = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


# --------------------------------------------------------------------------------------------
# Points and matrices
# --------------------------------------------------------------------------------------------


def template(size: int, margin: float = 0.0) -> np.ndarray:
    """The ArcFace 5-point template for a ``size x size`` crop, with ``margin`` context around it.

    Args:
        size: side of the square crop in pixels.
        margin: how much more than the ArcFace crop to show, as a fraction of its side. The crop
            covers a square ``1 + margin`` times as wide as the ArcFace 112x112 crop, with the
            same centre; equivalently the template is shrunk towards the crop centre by the
            factor ``1 / (1 + margin)``. ``0`` is the tight ArcFace crop (eyebrows to chin);
            ``0.3`` adds 15 % of the ArcFace side on each side (ears, hairline: a common choice
            for face swapping); negative values zoom in (``margin > -1``).

    Returns:
        ``float64 (5, 2)`` template points in crop pixels.

    Convention:
        Pixel centres at integer coordinates, so scaling the 112-pixel template by
        ``k = size / 112`` is ``p' = (p + 0.5) * k - 0.5``, and the shrink is about the crop
        centre ``((size - 1) / 2, (size - 1) / 2)``. At ``size = 112`` and ``margin = 0`` this
        is :data:`ARCFACE_5PT` exactly. (InsightFace's ``norm_crop`` scales by ``p * k``,
        ``0.5 * (k - 1)`` pixels up-left of this: 0 at 112, 0.64 at 256.)
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if not margin > -1.0:
        raise ValueError(f"margin must be greater than -1, got {margin}")
    k = size / 112.0
    pts = (ARCFACE_5PT + 0.5) * k - 0.5
    c = (size - 1) / 2.0
    return c + (pts - c) / (1.0 + margin)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``src`` onto ``dst``.

    Minimises ``sum_i || s R src_i + t - dst_i ||^2`` over rotations ``R`` (no reflection),
    scales ``s > 0`` and translations ``t``, in closed form (Umeyama, "Least-squares estimation
    of transformation parameters between two point patterns", PAMI 1991).

    Args:
        src: ``(N, 2)`` points, ``N >= 2``, not all equal.
        dst: ``(N, 2)`` corresponding points.

    Returns:
        ``float64 (2, 3)`` matrix ``M`` with ``dst ~ M @ [x, y, 1]`` (see the module's convention).

    Raises:
        ValueError: shapes differ or are not ``(N, 2)``, ``N < 2``, non-finite values, or all
            ``src`` points coincide.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2 or s.shape != d.shape:
        raise ValueError(f"src and dst must both be (N, 2), got {s.shape} and {d.shape}")
    if s.shape[0] < 2:
        raise ValueError(f"a similarity needs at least 2 point pairs, got {s.shape[0]}")
    if not (np.isfinite(s).all() and np.isfinite(d).all()):
        raise ValueError("points must be finite")
    n = s.shape[0]
    mu_s, mu_d = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - mu_s, d - mu_d
    var_s = (sc**2).sum() / n
    if var_s <= 1e-12 * max(1.0, float(np.abs(s).max()) ** 2):
        raise ValueError("the source points all coincide; no similarity is defined")
    cov = dc.T @ sc / n
    u, sv, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # best orthogonal map is a reflection
        sign[1] = -1.0
    r = u @ np.diag(sign) @ vt
    scale = float((sv * sign).sum() / var_s)
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def invert_affine(M: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine matrix: ``invert_affine(M)`` maps ``M``'s output back.

    Raises:
        ValueError: ``M`` is not ``(2, 3)`` or its linear part is singular.
    """
    m = np.asarray(M, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"expected a (2, 3) affine matrix, got {m.shape}")
    a, t = m[:, :2], m[:, 2]
    det = np.linalg.det(a)
    if not np.isfinite(det) or abs(det) < 1e-12:
        raise ValueError("the affine matrix is singular and cannot be inverted")
    a_inv = np.linalg.inv(a)
    return np.hstack([a_inv, (-a_inv @ t)[:, None]])


def transform_points(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine matrix to ``(N, 2)`` points: ``p' = M @ [x, y, 1]``.

    Returns:
        ``float64 (N, 2)`` (also for a single ``(2,)`` point given as ``(1, 2)``).
    """
    m = np.asarray(M, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"expected a (2, 3) affine matrix, got {m.shape}")
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must be (N, 2), got {p.shape}")
    return p @ m[:, :2].T + m[:, 2]


def matrix_scale(M: np.ndarray) -> float:
    """Uniform scale of a similarity (``sqrt |det|`` of the linear part; the mean for affines)."""
    m = np.asarray(M, dtype=np.float64)
    return float(np.sqrt(abs(np.linalg.det(m[:, :2]))))


# --------------------------------------------------------------------------------------------
# Warping
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlignedFace:
    """A face warped to the template, with the matrices to go back and forth.

    Attributes:
        crop: ``uint8 (size, size, 3)`` RGB.
        M: ``float64 (2, 3)``, image -> crop.
        M_inv: ``float64 (2, 3)``, crop -> image.
        landmarks: ``(5, 2)`` the landmarks in **image** coordinates that were aligned.
        size: crop side in pixels.
        margin: the template margin (see :func:`template`).
    """

    crop: np.ndarray
    M: np.ndarray
    M_inv: np.ndarray
    landmarks: np.ndarray
    size: int
    margin: float = 0.0

    @property
    def crop_landmarks(self) -> np.ndarray:
        """``float64 (5, 2)`` the landmarks in crop coordinates (close to :func:`template`)."""
        return transform_points(self.landmarks, self.M)


def align_face(
    image: np.ndarray,
    landmarks: np.ndarray,
    size: int = 256,
    margin: float = 0.0,
    border: Border = "reflect",
    *,
    interpolation: Interpolation = "linear",
) -> AlignedFace:
    """Warp the face with these 5 landmarks onto :func:`template` ``(size, margin)``.

    Args:
        image: ``uint8 (H, W, 3)`` RGB (any ``(H, W, C)`` or ``(H, W)`` array cv2 can warp).
        landmarks: ``(5, 2)`` in image pixels, in :class:`~facelab.faces.detect.Face` order.
        size: side of the square crop.
        margin: context around the ArcFace crop (see :func:`template`).
        border: how pixels outside the image are filled: ``"reflect"`` (mirror without repeating
            the edge pixel, ``cv2.BORDER_REFLECT_101``; no black wedges for faces at the edge),
            ``"replicate"`` (smear the edge pixel) or ``"constant"`` (black).
        interpolation: ``"linear"`` (default), ``"cubic"`` or ``"nearest"``.

    Returns:
        :class:`AlignedFace` with ``M`` from :func:`estimate_similarity` (landmarks -> template).

    Convention:
        ``M`` maps image to crop (``x' = M @ [x, y, 1]``), pixel centres at integer coordinates,
        as in ``cv2.warpAffine``. When ``M`` shrinks by more than 2x the image is reduced with
        ``cv2.pyrDown`` first (anti-aliasing); ``M`` itself always refers to the original image.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2):
        raise ValueError(f"landmarks must be (5, 2), got {lm.shape}")
    M = estimate_similarity(lm, template(size, margin))
    crop = _warp(image, M, (size, size), border, interpolation)
    return AlignedFace(
        crop=crop, M=M, M_inv=invert_affine(M), landmarks=lm, size=int(size), margin=float(margin)
    )


def warp_to_frame(
    crop: np.ndarray,
    M_inv: np.ndarray,
    frame_shape: tuple[int, ...],
    *,
    interpolation: Interpolation = "linear",
    border_value: float = 0.0,
) -> np.ndarray:
    """Warp a crop (or a mask made for it) back into frame coordinates.

    Args:
        crop: ``(S, S)`` or ``(S, S, C)`` array (``uint8`` image, ``float32`` mask, ...).
        M_inv: ``(2, 3)`` crop -> frame matrix (:attr:`AlignedFace.M_inv`).
        frame_shape: ``(H, W)`` or ``(H, W, C)`` of the frame; only ``H, W`` are used.
        interpolation: ``"linear"`` (default), ``"cubic"`` or ``"nearest"``.
        border_value: value of frame pixels that the crop does not cover.

    Returns:
        Array of shape ``(H, W)`` or ``(H, W, C)`` and the crop's dtype. To know which frame
        pixels the crop covers, warp ``np.ones((S, S), np.float32)`` the same way: it is 1 where a
        frame pixel maps into ``[0, S - 1]``, and falls off to 0 within one crop pixel outside.

    Convention:
        Frame pixel ``(x, y)`` takes crop point ``M @ [x, y, 1]`` with ``M = invert_affine(M_inv)``,
        pixel centres at integer coordinates. When the crop is shrunk by more than 2x it is
        reduced with ``cv2.pyrDown`` first (anti-aliasing).
    """
    h, w = int(frame_shape[0]), int(frame_shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"frame_shape must be positive, got {frame_shape}")
    return _warp(crop, np.asarray(M_inv, dtype=np.float64), (w, h), "constant", interpolation,
                 border_value=border_value)


def _warp(
    src: np.ndarray,
    M: np.ndarray,
    dsize: tuple[int, int],
    border: Border,
    interpolation: Interpolation,
    border_value: float = 0.0,
) -> np.ndarray:
    """``cv2.warpAffine`` with a pyramid pre-reduction when ``M`` shrinks by more than 2x."""
    if border not in _BORDER:
        raise ValueError(f"border must be one of {sorted(_BORDER)}, got {border!r}")
    if interpolation not in _INTERP:
        raise ValueError(f"interpolation must be one of {sorted(_INTERP)}, got {interpolation!r}")
    if not isinstance(src, np.ndarray) or src.ndim not in (2, 3) or min(src.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got {getattr(src, 'shape', src)}")
    M = np.asarray(M, dtype=np.float64).copy()
    scale = matrix_scale(M)
    if interpolation != "nearest" and scale < 0.5:
        src, M = _reduce(src, M, dsize)
    squeeze = src.ndim == 3 and src.shape[2] == 1
    out = cv2.warpAffine(
        np.ascontiguousarray(src),
        M,
        dsize,
        flags=_INTERP[interpolation],
        borderMode=_BORDER[border],
        borderValue=(border_value,) * 4,
    )
    if squeeze and out.ndim == 2:
        out = out[..., None]
    return out


def _reduce(src: np.ndarray, M: np.ndarray, dsize: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cut the region the warp reads and halve it with ``pyrDown`` until ``M`` shrinks <= 2x.

    ``pyrDown``'s output pixel ``i`` is centred on input pixel ``2 i``, so a point ``x`` of the
    input is ``x / 2`` in the output: the matrix is updated as ``M' = M @ diag(2, 2, 1)``.
    """
    h, w = src.shape[:2]
    # Region of the source that the output reads, plus the Gaussian's reach at every level.
    corners = np.array([[-0.5, -0.5], [dsize[0] - 0.5, -0.5], [-0.5, dsize[1] - 0.5],
                        [dsize[0] - 0.5, dsize[1] - 0.5]])
    back = transform_points(corners, invert_affine(M))
    levels = int(np.floor(np.log2(0.5 / matrix_scale(M)))) + 1
    pad = 4 * 2**levels
    x0 = int(np.clip(np.floor(back[:, 0].min()) - pad, 0, w - 1))
    y0 = int(np.clip(np.floor(back[:, 1].min()) - pad, 0, h - 1))
    x1 = int(np.clip(np.ceil(back[:, 0].max()) + pad + 1, x0 + 1, w))
    y1 = int(np.clip(np.ceil(back[:, 1].max()) + pad + 1, y0 + 1, h))
    # Where the cut is clipped it ends at the true image edge, so border filling happens there
    # as without the cut (reflection reads at most as far inside as the warp reads outside,
    # which differs only when most of the crop lies outside the image).
    src = src[y0:y1, x0:x1]
    M[:, 2] += M[:, :2] @ np.array([x0, y0], dtype=np.float64)
    for _ in range(levels):
        if min(src.shape[:2]) < 2:
            break
        squeeze = src.ndim == 3 and src.shape[2] == 1
        src = cv2.pyrDown(src)
        if squeeze and src.ndim == 2:
            src = src[..., None]
        M[:, :2] *= 2.0
    return src, M

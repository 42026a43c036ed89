"""Blending a new face into a frame: alpha and Poisson blending, and pasting an aligned crop back.

    new_frame, frame_mask = paste_face(frame, swapped_crop, crop_mask, M=aligned.M)

Guarantee:
    Every function here returns ``dst``'s (``frame``'s) pixels **bit for bit** wherever the mask
    it used is 0; ``paste_face`` returns that frame-space mask, so a caller can check or reuse it.
    Inputs are never modified in place.

Convention:
    * Images are ``uint8`` ``(H, W, 3)`` (RGB, though nothing here depends on the channel order).
    * Masks are float ``(H, W)`` in ``[0, 1]`` (values outside are clipped): 1 takes ``src``, 0
      keeps ``dst``. Binary or soft (feathered, see :mod:`facelab.faces.mask`).
    * ``M`` is the 2x3 affine matrix from frame to crop in the ``cv2.warpAffine`` convention:
      ``crop = cv2.warpAffine(frame, M, (w, h))`` samples ``frame`` at ``M^-1 @ (x, y, 1)`` for
      each crop pixel ``(x, y)``; ``M_inv`` maps crop to frame. Points are ``(x, y)`` with
      **pixel centres at integer coordinates**, as in :mod:`facelab.faces.align`.

Alpha blending: ``out = dst * (1 - m) + src * m``, rounded.

Poisson blending (Pérez, Gangnet and Blake, "Poisson Image Editing", SIGGRAPH 2003): inside the
mask ``Omega`` find ``f`` with ``laplacian(f) = div(grad src)`` and ``f = dst`` on the boundary,
so the face keeps its own gradients (detail) while its colour level follows the frame at the
edge. We call ``cv2.seamlessClone`` (``NORMAL_CLONE``; ``MIXED_CLONE`` takes at each pixel the
stronger of the two gradients, Pérez's "mixing gradients"). Two facts of OpenCV's solver that
shape this module:

* It places the patch by the centre of the mask's bounding box ``(x, y, w, h)`` and puts it at
  ``centre - (w // 2, h // 2)``, so we pass ``(x + w // 2, y + h // 2)``; it zeroes the mask's
  outer one-pixel ring and fails when the box meets the image edge, so we give it a window with
  a margin around the mask, padding (edge-replicated) where the image ends.
* It erodes the mask by about 3 pixels before mixing gradients and solves on the whole bounding
  box, so the face's detail starts about 3 pixels inside the mask, a region thinner than about
  7 pixels takes the frame's look, and the solution drifts slightly outside the mask. We put the
  frame back outside the mask (``out = dst`` where the mask is 0), then alpha-composite the
  Poisson result with the (soft) mask.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import cv2
import numpy as np

from facelab.errors import ConfigError
from facelab.faces.color import COLOR_METHODS, ColorMethod, color_transfer

__all__ = [
    "BLEND_MODES",
    "BlendMode",
    "alpha_blend",
    "paste_face",
    "poisson_blend",
]

log = logging.getLogger(__name__)

BlendMode = Literal["alpha", "poisson"]
#: The names ``paste_face(mode=...)`` accepts.
BLEND_MODES: tuple[str, ...] = ("alpha", "poisson")

# Pixels of frame kept around the mask's box for cv2.seamlessClone (it needs at least 1).
_POISSON_MARGIN = 4


# --------------------------------------------------------------------------------------------
# argument checks


def _check_image(img: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ConfigError(f"{name} must be a uint8 (H, W, 3) image, got {a.dtype} {a.shape}")
    return a


def _check_blend_args(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dst = _check_image(dst, "dst")
    src = _check_image(src, "src")
    if src.shape != dst.shape:
        raise ConfigError(f"src {src.shape} and dst {dst.shape} must have the same shape")
    m = np.asarray(mask)
    if m.shape != dst.shape[:2]:
        raise ConfigError(f"mask has shape {m.shape}; it must be (H, W) = {dst.shape[:2]}")
    m = np.nan_to_num(m.astype(np.float32), nan=0.0)
    return dst, src, np.clip(m, 0.0, 1.0)


def _check_affine(M: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(M, dtype=np.float64)
    if a.shape == (3, 3):
        a = a[:2]
    if a.shape != (2, 3) or not np.isfinite(a).all():
        raise ConfigError(f"{name} must be a finite 2x3 affine matrix, got shape {np.shape(M)}")
    det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
    if abs(det) < 1e-12:
        raise ConfigError(f"{name} is singular (determinant {det:.3g}); it cannot map a crop to the frame")
    return a


# --------------------------------------------------------------------------------------------
# blending


def alpha_blend(dst: np.ndarray, src: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``dst * (1 - mask) + src * mask``, rounded: uint8 ``(H, W, 3)``.

    Args:
        dst: uint8 ``(H, W, 3)``, the picture kept where the mask is 0.
        src: uint8 ``(H, W, 3)``, the picture taken where the mask is 1.
        mask: float ``(H, W)``, clipped to ``[0, 1]``.

    Returns:
        A new array, bit-identical to ``dst`` where ``mask == 0`` and to ``src`` where
        ``mask == 1``.
    """
    dst, src, m = _check_blend_args(dst, src, mask)
    m3 = m[..., None]
    d = dst.astype(np.float32)
    mixed = np.rint(d + (src.astype(np.float32) - d) * m3)
    out = np.clip(mixed, 0, 255).astype(np.uint8)
    # Exact at both ends whatever the float arithmetic did.
    np.copyto(out, dst, where=m3 == 0)
    np.copyto(out, src, where=m3 == 1)
    return out


def _window(lo: int, hi: int, size: int, margin: int) -> tuple[int, int, int, int]:
    """Window ``[a, b)`` of ``[lo, hi)`` grown by ``margin`` and clipped, and the padding it lacks."""
    a, b = lo - margin, hi + margin
    return max(a, 0), min(b, size), max(0, -a), max(0, b - size)


def poisson_blend(dst: np.ndarray, src: np.ndarray, mask: np.ndarray, *, mixed: bool = False) -> np.ndarray:
    """Poisson (gradient-domain) blending of ``src`` into ``dst`` under ``mask``: uint8 ``(H, W, 3)``.

    Args:
        dst: uint8 ``(H, W, 3)``, the frame.
        src: uint8 ``(H, W, 3)``, the face, already in place (same pixel grid as ``dst``).
        mask: float ``(H, W)``; the region solved is ``mask > 0``, and the solution is then
            composited over ``dst`` with ``mask`` as alpha (a soft edge stays soft).
        mixed: ``cv2.MIXED_CLONE`` (keep the stronger of the two gradients) instead of
            ``cv2.NORMAL_CLONE``.

    Returns:
        A new array, bit-identical to ``dst`` where ``mask == 0``. Masks may touch the image edge.
        A mask whose box is under 3 pixels wide or high returns ``dst`` (OpenCV cannot solve it,
        and would erode it away).

    **Convention:** ``src`` and ``dst`` share one pixel grid; no offset is applied.
    """
    dst, src, m = _check_blend_args(dst, src, mask)
    support = (m > 0).astype(np.uint8) * 255
    x, y, w, h = cv2.boundingRect(support)
    if w < 3 or h < 3:
        if w and h:
            log.debug("poisson_blend: mask box %dx%d is too small to solve; keeping dst", w, h)
        return dst.copy()
    H, W = m.shape
    # A window around the mask with a margin, padded by edge replication where the image ends:
    # seamlessClone only reads the mask's bounding box, so this equals a call on a padded image.
    x0, x1, pl, pr = _window(x, x + w, W, _POISSON_MARGIN)
    y0, y1, pt, pb = _window(y, y + h, H, _POISSON_MARGIN)

    def window(a: np.ndarray) -> np.ndarray:
        win = a[y0:y1, x0:x1]
        if pl or pr or pt or pb:
            border = cv2.BORDER_REPLICATE if a.ndim == 3 else cv2.BORDER_CONSTANT
            win = cv2.copyMakeBorder(win, pt, pb, pl, pr, border, value=0)
        return np.ascontiguousarray(win)

    dst_w, src_w, mask_w = window(dst), window(src), window(support)
    # cv2 puts the patch at centre - (w // 2, h // 2): give the centre that maps it onto itself.
    cx, cy = x - x0 + pl + w // 2, y - y0 + pt + h // 2
    flag = cv2.MIXED_CLONE if mixed else cv2.NORMAL_CLONE
    cloned_w = cv2.seamlessClone(src_w, dst_w, mask_w, (cx, cy), flag)
    cloned = dst.copy()
    cloned[y0:y1, x0:x1] = cloned_w[pt : pt + (y1 - y0), pl : pl + (x1 - x0)]
    return alpha_blend(dst, cloned, m)


# --------------------------------------------------------------------------------------------
# pasting an aligned crop back


def _resolve_matrices(M: np.ndarray | None, M_inv: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if M is None and M_inv is None:
        raise ConfigError("paste_face needs the alignment matrix: pass M (frame -> crop) or M_inv (crop -> frame)")
    if M is None:
        inv = _check_affine(M_inv, "M_inv")  # type: ignore[arg-type]
        return cv2.invertAffineTransform(inv), inv
    fwd = _check_affine(M, "M")
    if M_inv is None:
        return fwd, cv2.invertAffineTransform(fwd)
    inv = _check_affine(M_inv, "M_inv")
    both = np.vstack([fwd, [0, 0, 1]]) @ np.vstack([inv, [0, 0, 1]])
    if not np.allclose(both, np.eye(3), atol=1e-4 * max(1.0, float(np.abs(both).max()))):
        raise ConfigError("M and M_inv are not inverses of each other; pass only one of them")
    return fwd, inv


def _footprint(M_inv: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    """Bounding box in the frame of the crop-space box ``[x0, x1] x [y0, y1]`` mapped by ``M_inv``."""
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], np.float64) @ M_inv.T
    return corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()


def paste_face(
    frame: np.ndarray,
    crop: np.ndarray,
    crop_mask: np.ndarray,
    *,
    M: np.ndarray | None = None,
    M_inv: np.ndarray | None = None,
    mode: BlendMode = "alpha",
    color: ColorMethod = "reinhard",
) -> tuple[np.ndarray, np.ndarray]:
    """Warp an aligned face crop back into its frame and blend it in.

    Steps: (1) colour-correct ``crop`` against the frame's face region, both seen in the crop's
    frame (``cv2.warpAffine(frame, M, ...)``), statistics under ``crop_mask`` (and, for the
    frame, only where the crop lies fully inside the frame); (2) warp the corrected crop and
    ``crop_mask`` into the frame with ``M_inv`` (bilinear, after ``cv2.pyrDown`` halvings
    while the crop is shrunk by more than 2x; the mask is 0 outside the crop);
    (3) blend with :func:`alpha_blend` or :func:`poisson_blend`. Only a window around the
    mask's footprint is processed.

    Args:
        frame: uint8 ``(H, W, 3)`` RGB.
        crop: uint8 ``(h, w, 3)`` RGB, the new face in the aligned crop's frame.
        crop_mask: float ``(h, w)`` in ``[0, 1]``, where ``crop`` replaces the frame (e.g.
            ``refine(crop_face_mask(size), erode_px, feather_px)``).
        M: 2x3 frame -> crop matrix (e.g. ``AlignedFace.M``); its inverse is computed here.
        M_inv: 2x3 crop -> frame matrix (``AlignedFace.M_inv``). Pass ``M``, ``M_inv`` or both
            (then they must agree).
        mode: ``"alpha"`` or ``"poisson"``.
        color: ``"reinhard"``, ``"hist"`` or ``"none"`` (see :mod:`facelab.faces.color`).

    Returns:
        ``(new_frame, frame_mask)``: uint8 ``(H, W, 3)`` and the float32 ``(H, W)`` mask used
        to blend. ``new_frame`` is bit-identical to ``frame`` wherever ``frame_mask == 0``.

    Raises:
        ConfigError: bad shapes, a missing or singular matrix, unknown ``mode`` or ``color``.

    **Convention:** ``M`` maps frame pixels to crop pixels as in ``cv2.warpAffine``, pixel
    centres at integer coordinates.
    """
    frame = _check_image(frame, "frame")
    crop = _check_image(crop, "crop")
    cm = np.asarray(crop_mask)
    if cm.shape != crop.shape[:2]:
        raise ConfigError(f"crop_mask has shape {cm.shape}; it must be (h, w) = {crop.shape[:2]} like the crop")
    cm = np.clip(np.nan_to_num(cm.astype(np.float32), nan=0.0), 0.0, 1.0)
    if mode not in BLEND_MODES:
        raise ConfigError(f"unknown blend mode {mode!r}; choose one of {', '.join(BLEND_MODES)}")
    if color not in COLOR_METHODS:
        raise ConfigError(f"unknown colour transfer {color!r}; choose one of {', '.join(COLOR_METHODS)}")
    fwd, inv = _resolve_matrices(M, M_inv)
    H, W = frame.shape[:2]
    h, w = crop.shape[:2]
    frame_mask = np.zeros((H, W), np.float32)

    # 1. colour: the frame's face seen through the same alignment, under the same mask
    face = crop
    if color != "none":
        ref = cv2.warpAffine(frame, fwd, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        inside = cv2.warpAffine(np.ones((H, W), np.float32), fwd, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        ref_mask = cm * (inside >= 1.0 - 1e-6)
        if ref_mask.any():
            face = color_transfer(crop, ref, color, src_mask=cm, ref_mask=ref_mask)
        else:  # the face lies outside the frame: nothing to match (and nothing will be pasted)
            log.debug("paste_face: no frame pixels under the mask; colour transfer skipped")

    # 2. the window of the frame the mask can reach (bilinear spreads it by < 1 pixel)
    ys, xs = np.nonzero(cm > 0)
    if len(xs) == 0:
        return frame.copy(), frame_mask
    lo_x, lo_y, hi_x, hi_y = _footprint(inv, xs.min() - 1.0, ys.min() - 1.0, xs.max() + 1.0, ys.max() + 1.0)
    pad = _POISSON_MARGIN + 2  # real frame pixels around the mask for the Poisson solver
    x0, y0 = max(0, math.floor(lo_x) - pad), max(0, math.floor(lo_y) - pad)
    x1, y1 = min(W, math.ceil(hi_x) + pad + 1), min(H, math.ceil(hi_y) + pad + 1)
    if x0 >= x1 or y0 >= y1:
        return frame.copy(), frame_mask
    to_window = inv.copy()
    to_window[:, 2] -= (x0, y0)
    # Bilinear warping reads 2x2 pixels per output pixel: when the crop is shrunk by more than 2x
    # halve it first (pyrDown's pixel i is centred on pixel 2 i, so the matrix gains diag(2, 2)).
    mask_src = cm
    while math.sqrt(abs(np.linalg.det(to_window[:, :2]))) < 0.5 and min(face.shape[:2]) >= 4:
        face, mask_src = cv2.pyrDown(face), cv2.pyrDown(mask_src)
        to_window[:, :2] *= 2.0
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(face, to_window, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask_w = cv2.warpAffine(mask_src, to_window, size, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask_w = np.clip(mask_w, 0.0, 1.0)

    # 3. blend inside the window; everything else stays the frame's
    roi = frame[y0:y1, x0:x1]
    if mode == "poisson":
        blended = poisson_blend(roi, warped, mask_w)
    else:
        blended = alpha_blend(roi, warped, mask_w)
    out = frame.copy()
    out[y0:y1, x0:x1] = blended
    frame_mask[y0:y1, x0:x1] = mask_w
    return out, frame_mask

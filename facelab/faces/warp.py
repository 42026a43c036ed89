"""Piecewise-affine warping between two sets of dense landmarks (e.g. dlib's 68 points).

    out = piecewise_affine(src_img, src_pts, dst_pts, (H, W))

The destination points are triangulated (Delaunay, plus the image's corners and edge midpoints
so that the whole output is covered); each destination triangle takes its pixels from the
matching source triangle through that pair's affine map. A one-shot swap uses it to bend the
source face into the target's expression when both faces have dense landmarks: a similarity
from 5 points only matches position, scale and rotation.

Convention:
    Points are (x, y) in pixels, pixel centres at integer coordinates (as cv2.warpAffine).
    `src_pts[i]` and `dst_pts[i]` are the same landmark in the two images.
"""

from __future__ import annotations

import cv2
import numpy as np

from facelab.errors import ConfigError


def _frame_points(h: int, w: int) -> np.ndarray:
    xs, ys = [0, (w - 1) / 2, w - 1], [0, (h - 1) / 2, h - 1]
    return np.array([(x, y) for y in ys for x in xs if not (x == xs[1] and y == ys[1])], np.float64)


def delaunay(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Triangles (T, 3) of indices into `points`, from OpenCV's Subdiv2D over the image rect."""
    h, w = shape
    subdiv = cv2.Subdiv2D((-1, -1, w + 2, h + 2))
    index = {}
    for i, (x, y) in enumerate(points):
        x, y = float(np.clip(x, -0.5, w + 0.5)), float(np.clip(y, -0.5, h + 0.5))
        index[(round(x, 3), round(y, 3))] = i
        subdiv.insert((x, y))
    tris = []
    for t in np.asarray(subdiv.getTriangleList()).reshape(-1, 3, 2):
        ids = [index.get((round(float(x), 3), round(float(y), 3))) for x, y in t]
        if None not in ids:
            tris.append(ids)
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


def piecewise_affine(src: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray,
                     out_shape: tuple[int, int]) -> np.ndarray:
    """Warp `src` so that `src_pts` land on `dst_pts`; returns an image of `out_shape` (H, W).

    The image corners and edge midpoints of the source and destination frames are added as
    fixed anchor pairs (both images are taken to span the same frame: use it on aligned crops).
    """
    src_pts, dst_pts = np.asarray(src_pts, np.float64), np.asarray(dst_pts, np.float64)
    if src_pts.shape != dst_pts.shape or src_pts.ndim != 2 or src_pts.shape[1] != 2 or len(src_pts) < 3:
        raise ConfigError(f"piecewise warp needs two matching (N, 2) point sets, N >= 3; got "
                          f"{src_pts.shape} and {dst_pts.shape}")
    h, w = out_shape
    sh, sw = src.shape[:2]
    s_all = np.vstack([src_pts, _frame_points(sh, sw)])
    d_all = np.vstack([dst_pts, _frame_points(h, w)])
    out = np.zeros((h, w) + src.shape[2:], dtype=src.dtype)
    covered = np.zeros((h, w), bool)
    for tri in delaunay(d_all, (h, w)):
        d_tri, s_tri = d_all[tri].astype(np.float32), s_all[tri].astype(np.float32)
        x0, y0 = np.floor(d_tri.min(0)).astype(int)
        x1, y1 = np.ceil(d_tri.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        local = (d_tri - np.array([x0, y0], np.float32)).astype(np.float32)
        A = cv2.getAffineTransform(local, s_tri)  # destination patch -> source
        patch = cv2.warpAffine(src, A, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT_101)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(local * 16).astype(np.int32), 1, cv2.LINE_8, shift=4)
        sel = (mask > 0) & ~covered[y0:y1, x0:x1]
        out[y0:y1, x0:x1][sel] = patch[sel]
        covered[y0:y1, x0:x1] |= sel
    if not covered.all():  # hairline gaps between triangles: fill from the plain resize
        fallback = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
        out[~covered] = fallback[~covered]
    return out


def triangle_warp(src: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray,
                  triangles: np.ndarray) -> np.ndarray:
    """Warp `src` so that `src_pts` land on `dst_pts`, over a fixed triangulation; same shape as `src`.

    Unlike :func:`piecewise_affine` the triangles are given (indices into the points, e.g. a
    :func:`delaunay` of the source's points made once): a video then keeps one mesh from frame
    to frame, so no triangle flips between two triangulations and nothing flickers. Pixels that
    no destination triangle covers keep `src`'s own pixel (the identity), so a ring of points
    that are the same in both sets (anchors) confines the bending to the face.

    All triangles are drawn into one id image and the per-triangle affine maps (destination ->
    source) are applied to each covered pixel at once; one ``cv2.remap`` then samples `src`
    (bilinear). That is a few milliseconds for a 256 px crop, where a ``warpAffine`` per
    triangle is about ten times slower.

    Args:
        src: ``(H, W)`` or ``(H, W, C)`` image.
        src_pts, dst_pts: matching ``(N, 2)`` point sets, ``(x, y)`` pixels.
        triangles: ``(T, 3)`` int indices into the points; at most 65534 triangles.
    """
    src_pts, dst_pts = np.asarray(src_pts, np.float64), np.asarray(dst_pts, np.float64)
    tris = np.asarray(triangles, np.int64).reshape(-1, 3)
    if src_pts.shape != dst_pts.shape or src_pts.ndim != 2 or src_pts.shape[1] != 2:
        raise ConfigError(f"triangle warp needs two matching (N, 2) point sets; got {src_pts.shape} and {dst_pts.shape}")
    if len(tris) == 0 or len(tris) > 65534 or tris.min() < 0 or tris.max() >= len(src_pts):
        raise ConfigError(f"triangle warp: {len(tris)} triangles with indices outside 0..{len(src_pts) - 1}")
    h, w = src.shape[:2]
    # 1. which destination triangle each pixel lies in (0 = none); a later triangle wins a shared edge
    ids = np.zeros((h, w), np.uint16)
    # triangles whose corners did not move (anchors only) map by the identity: leave them at 0
    moved = np.abs(src_pts - dst_pts).max(1) > 1e-9
    for i, tri in enumerate(tris):
        if not moved[tri].any():
            continue
        cv2.fillConvexPoly(ids, np.round(dst_pts[tri] * 16).astype(np.int32), i + 1, cv2.LINE_8, shift=4)
    # 2. each triangle's affine map destination -> source: [x y 1] @ A = [x' y']
    d = np.concatenate([dst_pts[tris], np.ones((len(tris), 3, 1))], axis=2)  # (T, 3, 3)
    s = src_pts[tris]  # (T, 3, 2)
    ok = np.abs(np.linalg.det(d)) > 1e-9
    A = np.zeros((len(tris) + 1, 3, 2))
    A[:, 0, 0] = A[:, 1, 1] = 1.0  # id 0 and degenerate triangles: the identity
    A[1:][ok] = np.linalg.solve(d[ok], s[ok])
    # 3. sample the source through the per-pixel map
    ys, xs = np.nonzero(ids)
    if len(xs) == 0:
        return src.copy()
    a = A[ids[ys, xs]]  # (P, 3, 2)
    map_x, map_y = _identity_grid(h, w)
    map_x, map_y = map_x.copy(), map_y.copy()
    map_x[ys, xs] = xs * a[:, 0, 0] + ys * a[:, 1, 0] + a[:, 2, 0]
    map_y[ys, xs] = xs * a[:, 0, 1] + ys * a[:, 1, 1] + a[:, 2, 1]
    return cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _identity_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (H, W) maps x and y of the identity, cached per shape (read-only)."""
    grid = _GRIDS.get((h, w))
    if grid is None:
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        gx.flags.writeable = gy.flags.writeable = False
        grid = _GRIDS[(h, w)] = (gx, gy)
    return grid

from __future__ import annotations

import numpy as np
import pytest

from facelab.errors import ConfigError
from facelab.faces.warp import delaunay, piecewise_affine


def grid_points(n: int = 5, size: int = 128) -> np.ndarray:
    v = np.linspace(24, size - 24, n)  # whole pixels: 24, 44, 64, 84, 104 for n = 5
    return np.array([(x, y) for y in v for x in v], np.float64)


def test_identity_warp_returns_the_image() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    pts = grid_points()
    out = piecewise_affine(img, pts, pts, (128, 128))
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 1


def test_moved_landmark_carries_its_pixels() -> None:
    """Each destination pixel samples the source where the triangle's affine map sends it: with
    an image that encodes its own coordinates, the moved landmark shows its source position."""
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    img = np.dstack([xx, yy, np.zeros_like(xx)])
    src = grid_points()
    dst = src.copy()
    dst[12] += (10, -8)  # the middle landmark (64, 64) moves, as an expression change would
    out = piecewise_affine(img, src, dst, (128, 128))
    assert np.allclose(out[56, 74, :2], (64, 64), atol=0.05)
    assert np.allclose(out[10, 10, :2], (10, 10), atol=0.05)  # far away nothing moved
    mid = (src[12] + src[13]) / 2  # half-way to the next landmark the shift is half-spent
    x, y = int(round((dst[12][0] + dst[13][0]) / 2)), int(round((dst[12][1] + dst[13][1]) / 2))
    assert np.allclose(out[y, x, :2], mid, atol=1.0)


def test_triangulation_covers_points_and_bad_input() -> None:
    pts = grid_points(3)
    tris = delaunay(pts, (128, 128))
    assert len(tris) >= 8 and set(np.unique(tris)) == set(range(len(pts)))
    with pytest.raises(ConfigError):
        piecewise_affine(np.zeros((8, 8, 3), np.uint8), pts, pts[:4], (8, 8))

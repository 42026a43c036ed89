"""Dense-landmark geometry of the expression-following swap: mesh warp, parts, following, smoothing, pose."""

from __future__ import annotations

import numpy as np
import pytest

from facelab.detector.selfblend import mean_face68
from facelab.errors import ConfigError
from facelab.faces.align import template
from facelab.faces.dense import (
    DenseSmoother,
    close_mouth,
    face_mesh,
    face_region_mask,
    follow_target,
    inter_ocular,
    mouth_opening,
    pose_proxy,
    target_parts_mask,
)
from facelab.faces.warp import delaunay, triangle_warp

SIZE = 128


def face68(open_by: float = 0.0) -> np.ndarray:
    """The mean 68-point face in a 128 px aligned crop, its lower inner lip and chin lowered by
    ``open_by`` inter-ocular distances (an opening mouth)."""
    pts = mean_face68(template(SIZE, 0.2)).astype(np.float64)
    drop = open_by * inter_ocular(pts)
    pts[[65, 66, 67]] += (0, drop)
    pts[[55, 56, 57, 58, 59]] += (0, drop)
    pts[5:12] += (0, drop * 0.8)
    return pts


def coordinate_image() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    return np.dstack([xx, yy, np.zeros_like(xx)])


def test_mesh_warp_moves_the_lip_and_leaves_the_outside_alone() -> None:
    src, dst = face68(), face68(0.3)
    mesh = face_mesh(src, SIZE)
    img = coordinate_image()
    same = triangle_warp(img, mesh.src(), mesh.src(), mesh.triangles)
    assert np.array_equal(same, img)  # no point moved: the identity, exactly
    d = mesh.dst(dst)
    out = triangle_warp(img, mesh.src(), d, delaunay(d, (SIZE, SIZE)))
    x, y = np.round(dst[66]).astype(int)
    assert np.allclose(out[y, x, :2], src[66], atol=1.0)  # the lowered lip shows the source's lip
    # outside the anchor ring the crop is untouched (anchors are the same in both point sets)
    assert np.array_equal(out[:3], img[:3]) and np.array_equal(out[:, :3], img[:, :3])
    with pytest.raises(ConfigError):
        triangle_warp(img, mesh.src(), d[:10], mesh.triangles)


def test_mouth_opening_and_parts_masks() -> None:
    closed, opened = face68(), face68(0.25)
    assert mouth_opening(opened) - mouth_opening(closed) == pytest.approx(0.25, abs=0.01)
    m = target_parts_mask(opened, SIZE, "mouth")
    x, y = np.round((opened[62] + opened[66]) / 2).astype(int)
    assert m[y, x] > 0.9 and m.max() <= 1.0
    assert m[int(opened[30, 1]), int(opened[30, 0])] == 0  # the nose is the source's
    eyes = target_parts_mask(opened, SIZE, "eyes")
    assert eyes[y, x] == 0 and eyes.sum() > 0
    assert not target_parts_mask(opened, SIZE, "none").any()
    with pytest.raises(ConfigError):
        target_parts_mask(opened, SIZE, "nose")
    region = face_region_mask(opened, SIZE, shrink_px=2, feather_px=2)
    assert region[int(opened[30, 1]), int(opened[30, 0])] == 1.0 and region[0, 0] == 0 and region[-1, -1] == 0


def test_close_mouth_paints_over_the_inside_of_the_lips_only() -> None:
    pts = face68(0.3)
    crop = np.full((SIZE, SIZE, 3), 120, np.uint8)
    inside = np.round((pts[62] + pts[66]) / 2).astype(int)
    crop[inside[1] - 1:inside[1] + 2, inside[0] - 3:inside[0] + 4] = 255  # "teeth"
    out = close_mouth(crop, pts)
    assert out[inside[1], inside[0]].max() < 200
    assert np.array_equal(out[:40], crop[:40])


def test_follow_target_takes_the_expression_and_keeps_the_shape() -> None:
    src = face68()
    src[36:48, 0] = 64 + (src[36:48, 0] - 64) * 1.15  # the source's eyes sit wider apart
    tgt = face68(0.25) * 1.1 + 4  # the target, larger, elsewhere, mouth open
    tgt[[37, 38, 43, 44], 1] += 1.5  # ... and half-closed eyes
    out = follow_target(src, tgt)
    assert np.allclose(out[48:68], tgt[48:68])  # lips: the target's
    assert mouth_opening(out) > 0.2
    eye_gap = lambda p: float(np.linalg.norm(p[[37, 38]] - p[[41, 40]], axis=1).mean())  # noqa: E731
    assert eye_gap(out) / eye_gap(tgt) == pytest.approx(
        np.linalg.norm(out[39] - out[36]) / np.linalg.norm(tgt[39] - tgt[36]), rel=0.02)  # lids as the target's
    # the eyes keep the source's wider spacing, not the target's
    width = lambda p: float(np.linalg.norm(p[42:48].mean(0) - p[36:42].mean(0)))  # noqa: E731
    assert width(out) > 1.05 * width(tgt)
    assert out[8, 1] > follow_target(src, face68() * 1.1 + 4)[8, 1] + 3  # the chin drops with the lip
    assert np.allclose(follow_target(src, tgt, shape=1.0), tgt)  # shape=1: a plain landmark warp


def test_smoother_steadies_a_still_face_and_follows_a_moving_one() -> None:
    rng = np.random.default_rng(1)
    base = face68()
    smooth = DenseSmoother(fps=25.0)
    raw, out = [], []
    for _ in range(50):
        noisy = base + rng.normal(0, 1.0, base.shape)
        raw.append(noisy)
        out.append(smooth(0, noisy, face_size=60.0))
        smooth.end_frame()
    jit = lambda seq: float(np.mean([np.abs(b - a).mean() for a, b in zip(seq, seq[1:], strict=False)]))  # noqa: E731
    assert jit(out) < 0.6 * jit(raw)
    # a track missing from a frame starts afresh: its first value passes unchanged
    smooth(1, base, 60.0)
    smooth.end_frame()
    smooth.end_frame()
    assert np.allclose(smooth(0, base + 30, 60.0), base + 30)


def test_pose_proxy_sign_and_frontal() -> None:
    lm5 = template(112)
    yaw, pitch = pose_proxy(lm5)
    assert abs(yaw) < 0.05 and 0.4 < pitch < 0.7
    turned = lm5.copy()
    turned[2, 0] += 10  # nose to the right of the eyes' middle
    assert pose_proxy(turned)[0] > 0.2
    mirrored = turned[[1, 0, 2, 4, 3]] * [-1, 1] + [111, 0]  # the same face seen in a mirror
    assert np.isclose(pose_proxy(mirrored)[0], -pose_proxy(turned)[0])

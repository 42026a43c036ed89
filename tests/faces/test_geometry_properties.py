"""Property tests of the alignment round trip on images (the point-level ones are in test_align.py).

A smooth random frame, a face placed by a random similarity of the template: aligning it and
warping the crop back gives the frame again wherever the crop covers it, and the landmarks land
on the template.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from facelab.faces.align import align_face, template, transform_points, warp_to_frame


def smooth_frame(h: int, w: int, seed: int) -> np.ndarray:
    """uint8 (h, w, 3): random noise blurred to features of ~10 px (nothing a linear warp loses)."""
    noise = np.random.default_rng(seed).uniform(0, 255, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    return np.clip(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).round().astype(np.uint8)


@settings(max_examples=60, deadline=None)
@given(size=st.sampled_from([112, 128, 160]), margin=st.floats(0.0, 0.3), scale=st.floats(0.9, 1.6),
       angle=st.floats(-40, 40), dx=st.floats(-0.1, 0.1), dy=st.floats(-0.1, 0.1), seed=st.integers(0, 2**31))
def test_property_align_then_warp_back_restores_the_covered_frame(size: int, margin: float, scale: float,
                                                                  angle: float, dx: float, dy: float,
                                                                  seed: int) -> None:
    h, w = 320, 360
    frame = smooth_frame(h, w, seed)
    a = math.radians(angle)
    c, s = scale * math.cos(a), scale * math.sin(a)
    centre = np.array([w / 2 + dx * w, h / 2 + dy * h])
    tpl = template(size, margin)
    # the face in the frame: the template about its centre, scaled, rotated, moved
    R = np.array([[c, -s], [s, c]])
    landmarks = (tpl - size / 2) @ R.T + centre
    face = align_face(frame, landmarks, size, margin)
    assert face.crop.shape == (size, size, 3) and face.crop.dtype == np.uint8
    np.testing.assert_allclose(face.crop_landmarks, tpl, atol=1e-6 * size)
    np.testing.assert_allclose(transform_points(transform_points(landmarks, face.M), face.M_inv), landmarks,
                               atol=1e-6 * size)
    back = warp_to_frame(face.crop, face.M_inv, frame.shape)
    cover = warp_to_frame(np.ones((size, size), np.float32), face.M_inv, frame.shape)
    assert back.shape == frame.shape and cover.min() >= 0.0 and cover.max() <= 1.0 + 1e-6
    inside = cv2.erode((cover > 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert inside.sum() > 0.3 * (size * scale) ** 2  # most of the crop lies in the frame
    err = np.abs(back.astype(np.int16) - frame)[inside]
    assert err.mean() < 2.0 and np.percentile(err, 99) < 12
    assert (back[cover == 0] == 0).all()  # nothing outside the crop's footprint

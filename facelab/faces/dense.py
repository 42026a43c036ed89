"""Dense (68-point) face geometry for expression-following swaps: mesh, target parts, smoothing, pose.

    mesh = face_mesh(source_points68, size)              # once per source face (crop coordinates)
    bent = triangle_warp(crop, mesh.src(), mesh.dst(target_points68), mesh.triangles)
    hole = target_parts_mask(target_points68, size, "mouth")   # where the target's own pixels stay
    smooth = DenseSmoother(fps=25.0)                     # per-track One-Euro on the 68 points
    pts = smooth(track_id, points68, face_size)

Convention:
    Points are ``(x, y)`` pixels, pixel centres at integer coordinates, in the iBUG 300-W
    68-point order (:mod:`facelab.faces.landmarks`): 0-16 jaw, 17-26 brows, 27-35 nose, 36-41
    and 42-47 eyes, 48-59 outer lips, 60-67 inner lips. "Inter-ocular distance" (IOD) is the
    distance between the centres of the two eyes (means of 36-41 and 42-47).

Why a mesh with an anchor ring: the source face is bent triangle by triangle so that its
landmarks land on the target's, which moves jaw, lips, brows and eyes with the target. The
ring of points around the face is the same in source and target (both crops are aligned to the
same template), so the bending fades to nothing at the ring and the crop outside it is the
plain similarity-aligned source: no fold at the mask's edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from facelab.errors import ConfigError
from facelab.faces.track import OneEuroFilter, OneEuroParams
from facelab.faces.warp import delaunay

__all__ = ["MOUTH_INNER", "TARGET_PARTS", "DenseSmoother", "FaceMesh", "TargetParts", "close_mouth", "eye_centres",
           "STABLE", "face_mesh", "face_region_mask", "follow_target", "inter_ocular", "mouth_opening", "pose_proxy", "target_parts_mask"]

MOUTH_INNER = tuple(range(60, 68))
LEFT_EYE, RIGHT_EYE = tuple(range(36, 42)), tuple(range(42, 48))
#: Which parts of the target face are kept instead of the source's (the source photo has no
#: open mouth to show, and its eyes look where they looked in the photo).
TargetParts = Literal["none", "mouth", "eyes", "mouth+eyes"]
TARGET_PARTS: tuple[str, ...] = ("none", "mouth", "eyes", "mouth+eyes")
#: Smoothing of the 68 points: faster than the 5-point default (min_cutoff 1 Hz, beta 5), since
#: lips move quicker than heads and lagging them would lose the speech rhythm.
DENSE_SMOOTHING = OneEuroParams(min_cutoff=3.0, beta=5.0, d_cutoff=3.0)


def _check68(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, np.float64)
    if p.shape != (68, 2):
        raise ConfigError(f"expected 68 landmarks (68, 2), got {p.shape}")
    return p


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the left and right eye (as seen in the image): the means of 36-41 and 42-47."""
    p = _check68(points)
    return p[list(LEFT_EYE)].mean(0), p[list(RIGHT_EYE)].mean(0)


def inter_ocular(points: np.ndarray) -> float:
    """Distance between the eye centres, in pixels."""
    a, b = eye_centres(points)
    return float(np.linalg.norm(b - a))


def mouth_opening(points: np.ndarray) -> float:
    """Mean gap between the inner lips (61-67, 62-66, 63-65), in inter-ocular distances."""
    p = _check68(points)
    gap = np.linalg.norm(p[[61, 62, 63]] - p[[67, 66, 65]], axis=1).mean()
    return float(gap / max(inter_ocular(p), 1e-6))


def pose_proxy(lm5: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) of a face from its five points, as unitless offsets (0, ~0.5 when frontal).

    yaw: the nose tip's horizontal offset from the middle of the eyes, over the inter-ocular
    distance (about +-0.3 at 30 degrees); pitch: where the nose lies between the eye line and
    the mouth line (about 0.5-0.6 when frontal). Cheap and needs no 3-D model, which is enough
    to rank sources by how close their pose is and to flag a turned face.
    """
    p = np.asarray(lm5, np.float64)
    if p.shape != (5, 2):
        raise ConfigError(f"expected 5 landmarks (5, 2), got {p.shape}")
    eyes, nose, mouth = (p[0] + p[1]) / 2, p[2], (p[3] + p[4]) / 2
    across = p[1] - p[0]
    iod = max(float(np.linalg.norm(across)), 1e-6)
    u = across / iod  # eye line direction
    down = np.array([-u[1], u[0]])
    yaw = float(np.dot(nose - eyes, u) / iod)
    span = float(np.dot(mouth - eyes, down))
    pitch = float(np.dot(nose - eyes, down) / span) if abs(span) > 1e-6 else math.nan
    return yaw, pitch


#: Points the source is placed by (eye corners, nose): they barely move with expression, so the
#: similarity fitted to them is the head's, not the mouth's.
STABLE = (27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45)
#: How far the chin and jaw points 4-12 move with the lower lip (the chin drops as a mouth opens).
_JAW_WITH_LIP = np.array([0.15, 0.4, 0.7, 0.9, 1.0, 0.9, 0.7, 0.4, 0.15])
_LIDS = ((36, (37, 38), (41, 40), 39), (42, (43, 44), (47, 46), 45))  # corner, upper, lower, corner


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Umeyama: (scale, rotation, src mean, dst mean) taking `src` onto `dst` in least squares."""
    sm, tm = src.mean(0), dst.mean(0)
    sc, tc = src - sm, dst - tm
    u, sig, vt = np.linalg.svd(tc.T @ sc)
    d = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    return float(np.trace(np.diag(sig) @ d) / max((sc ** 2).sum(), 1e-9)), rot, sm, tm


def follow_target(source: np.ndarray, target: np.ndarray, shape: float = 0.0) -> np.ndarray:
    """Where the source's 68 points go on a target: the target's expression on the source's shape.

    Only what an expression changes is taken from the target; the shape of eyes, brows, nose and
    jaw, which carries much of who a face is, stays the source's:

    1. the source's points are placed on the target's by the similarity fitted to the eye
       corners and the nose (:data:`STABLE`);
    2. the lips (48-67) take the target's points: mouth opening, width and shape;
    3. each eye keeps the source's outline, opened or closed to the target's lid gap (relative
       to the eye's width), so the face blinks with the target;
    4. the brows rise and fall with the target's brow height above the eyes, half-way;
    5. the chin and lower jaw (4-12) move with the lower lip (the chin drops as the mouth opens).

    ``shape`` in [0, 1] then moves every point that fraction of the way to the target's own
    (1: the target's face shape, as a plain landmark-to-landmark warp would).
    """
    s, t = _check68(source), _check68(target)
    idx = list(STABLE)
    scale, rot, sm, tm = _similarity(s[idx], t[idx])
    out = tm + scale * (s - sm) @ rot.T
    placed = out.copy()
    out[48:68] = t[48:68]
    for corner_a, upper, lower, corner_b in _LIDS:
        def gap(p: np.ndarray, upper: tuple[int, int] = upper, lower: tuple[int, int] = lower,
                a: int = corner_a, b: int = corner_b) -> float:
            width = max(float(np.linalg.norm(p[b] - p[a])), 1e-6)
            return float(np.linalg.norm(p[list(upper)] - p[list(lower)], axis=1).mean()) / width
        g_src, g_tgt = gap(placed), gap(t)
        factor = float(np.clip(g_tgt / g_src, 0.0, 1.5)) if g_src > 1e-3 else 1.0
        mid = (placed[list(upper)] + placed[list(lower)]) / 2
        out[list(upper)] = mid + (placed[list(upper)] - mid) * factor
        out[list(lower)] = mid + (placed[list(lower)] - mid) * factor
    # brows: their height above the eyes, along the face's vertical, half-way to the target's
    up = np.array([-rot[1, 0], rot[0, 0]])  # the source's y axis, turned as the target's face
    for brows, eye in ((range(17, 22), range(36, 42)), (range(22, 27), range(42, 48))):
        lift = (np.dot(t[list(brows)].mean(0) - t[list(eye)].mean(0), up)
                - np.dot(placed[list(brows)].mean(0) - placed[list(eye)].mean(0), up))
        out[list(brows)] += 0.5 * lift * up
    drop = t[57] - placed[57]
    out[4:13] += _JAW_WITH_LIP[:, None] * drop
    return out + float(np.clip(shape, 0.0, 1.0)) * (t - out)


@dataclass(frozen=True)
class FaceMesh:
    """The source face's 68 points plus a fixed anchor ring, and one triangulation of them all."""

    points: np.ndarray  # (68, 2) source landmarks in the crop
    anchors: np.ndarray  # (K, 2) fixed points around the face (same in source and target)
    triangles: np.ndarray  # (T, 3) indices into vstack([points, anchors])

    def src(self) -> np.ndarray:
        return np.vstack([self.points, self.anchors])

    def dst(self, target_points: np.ndarray) -> np.ndarray:
        return np.vstack([_check68(target_points), self.anchors])


def face_mesh(points: np.ndarray, size: int, ring: float = 1.35, count: int = 20) -> FaceMesh:
    """Mesh for bending a source face (68 points in a ``size`` crop) onto targets.

    The anchors are ``count`` points on an ellipse around the landmarks, its semi-axes ``ring``
    times the landmarks' extent from their centre (far enough out that an opening jaw stays
    inside), clipped to the crop, plus the crop's corners and edge midpoints.
    """
    p = _check68(points)
    c = (p.min(0) + p.max(0)) / 2
    half = (p.max(0) - p.min(0)) / 2 * ring
    t = np.linspace(0, 2 * np.pi, count, endpoint=False)
    ell = np.clip(np.stack([c[0] + half[0] * np.cos(t), c[1] + half[1] * np.sin(t)], 1), 0, size - 1)
    edge = [0.0, (size - 1) / 2, size - 1.0]
    frame = np.array([(x, y) for y in edge for x in edge if not (x == edge[1] and y == edge[1])])
    anchors = np.vstack([ell, frame])
    return FaceMesh(points=p, anchors=anchors, triangles=delaunay(np.vstack([p, anchors]), (size, size)))


def target_parts_mask(points: np.ndarray, size: int, parts: str, feather_px: int = 2) -> np.ndarray:
    """Where the target's own pixels stay: float32 ``(size, size)``, 1 inside the parts, soft edge.

    ``parts``: ``"mouth"`` (the inside of the lips, open or closed), ``"eyes"`` (both eye
    openings), both, or ``"none"`` (all zeros).
    """
    if parts not in TARGET_PARTS:
        raise ConfigError(f"unknown target parts {parts!r}; choose one of {', '.join(TARGET_PARTS)}")
    p = _check68(points)
    out = np.zeros((size, size), np.float32)
    polys = []
    if "mouth" in parts:  # also when closed: a thin line of a smiling source's teeth would show
        polys.append(p[list(MOUTH_INNER)])
    if "eyes" in parts:
        polys += [p[list(LEFT_EYE)], p[list(RIGHT_EYE)]]
    for poly in polys:
        cv2.fillPoly(out, [np.round(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    if polys and feather_px > 0:
        k = 2 * feather_px + 1
        out = np.asarray(cv2.GaussianBlur(out, (k, k), feather_px / 2), np.float32)
    return np.clip(out, 0.0, 1.0)


def close_mouth(crop: np.ndarray, points: np.ndarray, grow_px: int = 2) -> np.ndarray:
    """``crop`` with the inside of the lips (60-67, grown by ``grow_px``) inpainted from around it.

    Teeth and the dark of an open mouth go; what remains is lip-coloured (Telea's inpainting,
    ``cv2.INPAINT_TELEA``), so a bent source mouth can close without a line of teeth.
    """
    p = _check68(points)
    hole = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(hole, [np.round(p[list(MOUTH_INNER)] * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
    if grow_px > 0:
        hole = np.asarray(cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                     (2 * grow_px + 1, 2 * grow_px + 1))), np.uint8)
    if not hole.any():
        return crop.copy()
    return cv2.inpaint(np.ascontiguousarray(crop), hole, 3, cv2.INPAINT_TELEA)


def face_region_mask(points: np.ndarray, size: int, shrink_px: int, feather_px: int) -> np.ndarray:
    """The face inside its jaw line and a forehead band: float32 ``(size, size)``, soft edge.

    The hull of the 68 points and of the brows raised by half an inter-ocular distance (the
    forehead has no landmarks), shrunk by ``shrink_px`` towards its centre and blurred over
    ``feather_px``. After bending the source's jaw onto the target's, whatever lay outside the
    source's jaw (its background, its neck) lies outside the target's: this mask keeps it out.
    """
    p = _check68(points)
    brows = p[17:27] - np.array([0.0, 0.5 * inter_ocular(p)])
    pts = np.vstack([p, brows]).astype(np.float32)
    hull = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
    c = hull.mean(0)
    r = np.linalg.norm(hull - c, axis=1, keepdims=True)
    hull = c + (hull - c) * np.clip((r - shrink_px) / np.maximum(r, 1e-6), 0.0, 1.0)
    out = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(out, np.round(hull * 16).astype(np.int32), 1.0, cv2.LINE_AA, shift=4)
    if feather_px > 0:
        k = 2 * feather_px + 1
        out = np.asarray(cv2.GaussianBlur(out, (k, k), feather_px / 2), np.float32)
    return np.clip(out, 0.0, 1.0)


@dataclass
class DenseSmoother:
    """One-Euro smoothing of each track's dense landmarks (speeds in face sizes per second).

    Call once per face per frame, in frame order; a track that is not updated for a frame
    starts afresh when it comes back (its filter is dropped by :meth:`end_frame`).
    """

    fps: float = 25.0
    params: OneEuroParams = DENSE_SMOOTHING
    _filters: dict[int, OneEuroFilter] = field(default_factory=dict)
    _seen: set[int] = field(default_factory=set)

    def __call__(self, track: int, points: np.ndarray, face_size: float) -> np.ndarray:
        f = self._filters.get(track)
        if f is None:
            f = self._filters[track] = OneEuroFilter(self.params)
        self._seen.add(track)
        return f(np.asarray(points, np.float64), 1.0 / self.fps if self.fps > 0 else 1.0 / 25.0,
                 scale=max(face_size, 1.0)).astype(np.float32)

    def end_frame(self) -> None:
        """Forget the tracks that were not seen since the last call."""
        for t in set(self._filters) - self._seen:
            del self._filters[t]
        self._seen = set()

"""Face tracking across video frames: detection, matching, optical flow and smoothing.

    tracker = FaceTracker(FaceDetector(), detect_every=5)
    for frame in frames:
        for tf in tracker.update(frame):
            tf.track_id, tf.face, tf.raw, tf.detected

    for index, frame, tracked in track_video("clip.mp4", FaceDetector(), detect_every=5):
        ...

Per frame, :meth:`FaceTracker.update` does:

1. **Detect** (on frames ``0, k, 2k, ...`` for ``detect_every = k``) and **match** the faces to
   the live tracks: Hungarian assignment (``scipy.optimize.linear_sum_assignment``) on the cost
   ``(1 - IoU) + d``, where ``d`` is the mean landmark distance divided by the track's face size
   ``sqrt(width * height)``; pairs with ``IoU < iou_threshold`` or ``d > max_landmark_distance``
   are never matched. Unmatched faces start new tracks (ids count up from 0 and are never
   reused). A track that misses more than ``max_missing`` detections in a row ends.
2. **Follow** between detections (and through a missed detection) with pyramidal Lucas-Kanade
   optical flow on grey frames (``cv2.calcOpticalFlowPyrLK``): the five landmarks and up to 40
   corners inside the face box are tracked forwards and backwards, points whose round trip is
   off by more than 2 % of the face size are dropped, and a similarity transform is fitted to
   the rest (RANSAC, then least squares on the inliers). The box moves with that similarity;
   each landmark follows its own flow when it passed the round-trip check and agrees with the
   similarity, and the similarity otherwise. When fewer than 6 points survive (scene cut, face
   leaving the frame, occlusion) the track is hidden until a detection picks it up again.

   With ``refine=True``, a face the full detector did not look for (or missed) is first
   **re-detected** at its last box by MTCNN's last stage alone
   (:meth:`~facelab.faces.detect.FaceDetector.refine`: O-Net on one 48x48 crop per face,
   1.5-3 ms a frame on the CPU for one to five faces). When O-Net confirms the face, its box and
   landmarks are the track's (and the face counts as ``detected``); flow only carries the faces
   it rejects. So every frame gets detector landmarks while the image pyramid, 95 % of MTCNN's
   cost, runs every k-th frame only.
3. **Smooth** boxes and landmarks with the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012,
   <https://gery.casiez.net/1euro/>) per coordinate: an exponential low-pass whose cut-off
   rises with speed, so a still face does not jitter and a moving one does not lag. Parameters
   (:class:`OneEuroParams`): ``min_cutoff = 1.0`` Hz, ``beta = 5.0`` per (face size / second),
   ``d_cutoff = 1.0`` Hz, with time from ``fps``. On the talking-head and stage clips of the
   test data these cut the mean frame-to-frame acceleration of MTCNN's landmarks 1.6-3x, and
   lag the centred 7-frame average of the raw values by only 0.2-0.3 % of the face size more
   than the raw values themselves deviate from it. Speeds are measured in face sizes per second
   (``sqrt(width * height)`` of the raw box), so one setting fits small and large faces. The
   filter restarts when a hidden track reappears. The unsmoothed values stay in ``raw``.

Convention:
    Frames are ``uint8 (H, W, 3)`` RGB; coordinates as in :mod:`facelab.faces.detect` (pixels,
    pixel centres at integer coordinates). ``TrackedFace.face.score`` is the score of the
    track's last detection.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from facelab.faces.align import estimate_similarity, matrix_scale, transform_points
from facelab.faces.detect import Face

__all__ = [
    "Detector",
    "FaceTracker",
    "OneEuroFilter",
    "OneEuroParams",
    "TrackedFace",
    "box_iou",
    "track_video",
]

log = logging.getLogger(__name__)

# Optical-flow settings (why: 21x21 windows and 3 pyramid levels follow head motion of up to
# ~80 px per frame; 2 % of the face size as round-trip tolerance rejects occluded points).
_LK_WIN = (21, 21)
_LK_LEVELS = 3
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
_FB_TOLERANCE = 0.02  # forward-backward error, in face sizes
_RANSAC_TOLERANCE = 0.03  # similarity residual, in face sizes
_MIN_POINTS = 6  # fewer surviving points than this: the track is lost
_MAX_CORNERS = 40


class Detector(Protocol):
    """What the tracker needs from a detector (:class:`~facelab.faces.detect.FaceDetector`)."""

    def detect(self, image: np.ndarray) -> list[Face]: ...


@dataclass(frozen=True)
class TrackedFace:
    """A face in one frame, tied to a track.

    Attributes:
        track_id: stable id of the track (0, 1, 2, ... in order of appearance).
        face: the smoothed face (equal to ``raw`` when smoothing is off).
        raw: the face as detected, or as moved by optical flow.
        detected: True when the detector found the face in this frame, False when it was
            carried by optical flow.
    """

    track_id: int
    face: Face
    raw: Face
    detected: bool


# --------------------------------------------------------------------------------------------
# One-Euro filter
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneEuroParams:
    """One-Euro filter parameters (Casiez et al. 2012).

    Attributes:
        min_cutoff: cut-off frequency in Hz when still; lower removes more jitter, adds lag.
        beta: how fast the cut-off rises with speed, in Hz per unit of speed; here speeds are in
            face sizes per second, so ``beta = 5`` lifts the cut-off by 5 Hz for a face moving
            its own size in a second.
        d_cutoff: cut-off in Hz of the low-pass on the speed itself.
    """

    min_cutoff: float = 1.0
    beta: float = 5.0
    d_cutoff: float = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vectorised One-Euro filter: each element of the array is filtered on its own.

    Example::

        f = OneEuroFilter(OneEuroParams())
        smooth = [f(x, dt=1 / 30, scale=face_size) for x in noisy]

    ``scale`` divides the speed before ``beta`` applies (speed in face sizes per second).
    """

    def __init__(self, params: OneEuroParams = OneEuroParams()) -> None:
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the past: the next value passes through unchanged."""
        self._x = None
        self._dx = None

    def __call__(self, x: np.ndarray, dt: float, scale: float = 1.0) -> np.ndarray:
        """Filter one sample ``x`` taken ``dt`` seconds after the previous one."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._dx is None or self._x.shape != x.shape or dt <= 0:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            return x.copy()
        p = self.params
        dx = (x - self._x) / dt
        a_d = _alpha(p.d_cutoff, dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = p.min_cutoff + p.beta * np.abs(self._dx) / max(scale, 1e-6)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        return self._x.copy()


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between ``(N, 4)`` and ``(M, 4)`` ``x1, y1, x2, y2`` boxes -> ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _face_size(face: Face) -> float:
    return math.sqrt(max(face.area, 1.0))


def _match_cost(tracks: list[_Track], faces: list[Face], iou_threshold: float, max_dist: float) -> np.ndarray:
    """``(T, F)`` cost, ``inf`` where the pair may not match."""
    iou = box_iou(np.stack([t.raw.box for t in tracks]), np.stack([f.box for f in faces]))
    lm_t = np.stack([t.raw.landmarks for t in tracks]).astype(np.float64)  # (T, 5, 2)
    lm_f = np.stack([f.landmarks for f in faces]).astype(np.float64)  # (F, 5, 2)
    dist = np.linalg.norm(lm_t[:, None] - lm_f[None], axis=-1).mean(axis=-1)
    dist /= np.array([_face_size(t.raw) for t in tracks])[:, None]
    cost = (1.0 - iou) + dist
    cost[(iou < iou_threshold) | (dist > max_dist)] = np.inf
    return cost


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost matching that ignores infinite entries."""
    if cost.size == 0 or not np.isfinite(cost).any():
        return []
    from scipy.optimize import linear_sum_assignment  # via scikit-learn

    big = np.nanmax(cost[np.isfinite(cost)]) * 10 + 1e6
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]


def _flow(prev: np.ndarray, cur: np.ndarray, face: Face) -> Face | None:
    """Move ``face`` from grey frame ``prev`` to ``cur`` by Lucas-Kanade flow; None when lost."""
    h, w = prev.shape
    size = _face_size(face)
    lm = face.landmarks.astype(np.float32)
    pts: list[np.ndarray] = [lm]
    # Corners from the inner part of the box (its rim is often background).
    x1, y1, x2, y2 = face.box
    bw, bh = x2 - x1, y2 - y1
    rx1, ry1 = int(max(0, x1 + 0.15 * bw)), int(max(0, y1 + 0.1 * bh))
    rx2, ry2 = int(min(w, x2 - 0.15 * bw)), int(min(h, y2 - 0.05 * bh))
    if rx2 - rx1 >= 8 and ry2 - ry1 >= 8:
        corners = cv2.goodFeaturesToTrack(
            prev[ry1:ry2, rx1:rx2], maxCorners=_MAX_CORNERS, qualityLevel=0.01,
            minDistance=max(3.0, size / 20), blockSize=5,
        )
        if corners is not None:
            pts.append(np.asarray(corners, dtype=np.float32).reshape(-1, 2) + np.array([rx1, ry1], np.float32))
    start = np.concatenate(pts).astype(np.float32).reshape(-1, 1, 2)
    fwd, st1, _ = cv2.calcOpticalFlowPyrLK(prev, cur, start, np.empty_like(start), winSize=_LK_WIN, maxLevel=_LK_LEVELS,
                                           criteria=_LK_CRITERIA)
    if fwd is None:
        return None
    bwd, st2, _ = cv2.calcOpticalFlowPyrLK(cur, prev, fwd, np.empty_like(start), winSize=_LK_WIN, maxLevel=_LK_LEVELS,
                                           criteria=_LK_CRITERIA)
    if bwd is None:
        return None
    p0 = np.asarray(start).reshape(-1, 2)
    p1 = np.asarray(fwd).reshape(-1, 2)
    pb = np.asarray(bwd).reshape(-1, 2)
    fb = np.linalg.norm(pb - p0, axis=1)
    inside = (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < max(0.5, _FB_TOLERANCE * size)) & inside
    if good.sum() < _MIN_POINTS:
        return None
    tol = max(1.0, _RANSAC_TOLERANCE * size)
    _, inl = cv2.estimateAffinePartial2D(
        p0[good], p1[good], method=cv2.RANSAC, ransacReprojThreshold=tol, maxIters=200, confidence=0.99
    )
    idx = np.flatnonzero(good)
    if inl is not None:
        idx = idx[inl.ravel() == 1]
    if len(idx) < _MIN_POINTS:
        return None
    M = estimate_similarity(p0[idx], p1[idx])
    s = matrix_scale(M)
    if not 0.7 < s < 1.4:  # a face does not grow or shrink this much between two frames
        return None
    pred = transform_points(lm, M)
    own = p1[: len(lm)].astype(np.float64)
    agree = good[: len(lm)] & (np.linalg.norm(own - pred, axis=1) < tol)
    new_lm = np.where(agree[:, None], own, pred)
    c = transform_points(face.center[None].astype(np.float64), M)[0]
    half = np.array([bw, bh], dtype=np.float64) * s / 2
    box = np.concatenate([c - half, c + half])
    return Face(box=box, score=face.score, landmarks=new_lm)


# --------------------------------------------------------------------------------------------
# Tracker
# --------------------------------------------------------------------------------------------


@dataclass
class _Track:
    id: int
    raw: Face
    visible: bool = True
    misses: int = 0  # consecutive detection passes without a match
    last_output: int | None = None  # frame index of the last smoothed output
    box_filter: OneEuroFilter = field(default_factory=OneEuroFilter)
    lm_filter: OneEuroFilter = field(default_factory=OneEuroFilter)


class FaceTracker:
    """Link faces across frames into tracks (see the module docstring for the method).

    Args:
        detector: anything with ``detect(image) -> list[Face]``, e.g.
            :class:`~facelab.faces.detect.FaceDetector`.
        detect_every: run the detector on frames ``0, k, 2k, ...`` (counted in calls to
            :meth:`update`) and follow faces by optical flow in between. 1 detects every frame.
        iou_threshold: smallest box IoU for a face to continue a track.
        max_missing: a track ends after missing this many consecutive **detection passes**
            (frames where the detector ran; with ``detect_every = 1``, frames). Until then it is
            carried by optical flow, or hidden when flow loses it, and can be picked up again.
        smooth: One-Euro smoothing of boxes and landmarks (``face``); ``raw`` is always kept.
        min_size: detections whose box is narrower than this many pixels are ignored.
        fps: frame rate of the frames given to :meth:`update`, for the One-Euro time constants.
        smoothing: One-Euro parameters.
        max_landmark_distance: largest mean landmark distance, in face sizes, for a match.
        flow: follow faces between detections (and through missed detections) with optical
            flow. Off, tracks are only reported on frames where they were detected.
        refine: re-detect each live face with the detector's ``refine(image, boxes)`` (MTCNN's
            O-Net at the face's last box) on every frame where the full detector did not find
            it, before falling back to flow (see the module docstring).

    Example::

        tracker = FaceTracker(FaceDetector(), detect_every=5, fps=reader.info.fps)
        for frame in reader:
            tracked = tracker.update(frame)
    """

    def __init__(
        self,
        detector: Detector,
        detect_every: int = 1,
        iou_threshold: float = 0.3,
        max_missing: int = 5,
        smooth: bool = True,
        *,
        min_size: float = 0.0,
        fps: float = 30.0,
        smoothing: OneEuroParams = OneEuroParams(),
        max_landmark_distance: float = 0.5,
        flow: bool = True,
        refine: bool = False,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if max_missing < 0:
            raise ValueError(f"max_missing must be >= 0, got {max_missing}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if detect_every > 1 and not flow:
            raise ValueError("detect_every > 1 needs flow=True to follow faces between detections")
        if refine and not callable(getattr(detector, "refine", None)):
            raise ValueError(f"refine=True needs a detector with refine(image, boxes); {type(detector).__name__} has none")
        self.detector = detector
        self.refine = bool(refine)
        self.detect_every = int(detect_every)
        self.iou_threshold = float(iou_threshold)
        self.max_missing = int(max_missing)
        self.smooth = bool(smooth)
        self.min_size = float(min_size)
        self.fps = float(fps)
        self.smoothing = smoothing
        self.max_landmark_distance = float(max_landmark_distance)
        self.flow = bool(flow)
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart the frame count (and the ids) at 0."""
        self.frame_index = 0
        self._next_id = 0
        self._tracks: list[_Track] = []
        self._prev_gray: np.ndarray | None = None

    @property
    def active_tracks(self) -> int:
        """Tracks that are alive (visible or waiting to be picked up again)."""
        return len(self._tracks)

    def update(self, frame: np.ndarray) -> list[TrackedFace]:
        """Process the next frame: ``uint8 (H, W, 3)`` RGB.

        Returns:
            The faces visible in this frame, sorted by ``track_id``.
        """
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) RGB frame, got {getattr(frame, 'shape', frame)}")
        i = self.frame_index
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        prev = self._prev_gray if self._prev_gray is not None and self._prev_gray.shape == gray.shape else None
        detected_ids: set[int] = set()

        if i % self.detect_every == 0:
            faces = [f for f in self.detector.detect(frame) if f.width >= self.min_size]
            matches = _assign(_match_cost(self._tracks, faces, self.iou_threshold, self.max_landmark_distance)) \
                if self._tracks and faces else []
            matched_tracks = {t for t, _ in matches}
            matched_faces = {f for _, f in matches}
            for t_idx, f_idx in matches:
                track = self._tracks[t_idx]
                if not track.visible:  # back after a gap: do not smooth across it
                    track.box_filter.reset()
                    track.lm_filter.reset()
                track.raw, track.visible, track.misses = faces[f_idx], True, 0
                detected_ids.add(track.id)
            survivors = []
            unmatched = []
            for t_idx, track in enumerate(self._tracks):
                if t_idx not in matched_tracks:
                    track.misses += 1
                    if track.misses > self.max_missing:
                        log.debug("track %d ended at frame %d", track.id, i)
                        continue
                    unmatched.append(track)
                survivors.append(track)
            detected_ids |= self._carry(unmatched, frame, prev, gray)
            for f_idx, face in enumerate(faces):
                if f_idx not in matched_faces:
                    survivors.append(_Track(self._next_id, face, box_filter=OneEuroFilter(self.smoothing),
                                            lm_filter=OneEuroFilter(self.smoothing)))
                    detected_ids.add(self._next_id)
                    self._next_id += 1
            self._tracks = survivors
        else:
            detected_ids |= self._carry(self._tracks, frame, prev, gray)

        out = [self._output(t, i, t.id in detected_ids) for t in self._tracks if t.visible]
        self._prev_gray = gray
        self.frame_index += 1
        return sorted(out, key=lambda tf: tf.track_id)

    def _carry(self, tracks: list[_Track], frame: np.ndarray, prev: np.ndarray | None, gray: np.ndarray) -> set[int]:
        """Move tracks the detector did not find here: O-Net re-detection, else flow. Returns the re-detected ids."""
        found: set[int] = set()
        todo = [t for t in tracks if t.visible]
        if self.refine and todo:
            refined = self.detector.refine(frame, [t.raw.box for t in todo])  # type: ignore[attr-defined]
            rest = []
            for track, face in zip(todo, refined):
                if face is None or face.width < self.min_size:
                    rest.append(track)
                else:
                    track.raw = face
                    found.add(track.id)
            todo = rest
        for track in todo:
            self._follow(track, prev, gray)
        return found

    def _follow(self, track: _Track, prev: np.ndarray | None, gray: np.ndarray) -> None:
        if not track.visible:
            return
        moved = _flow(prev, gray, track.raw) if (self.flow and prev is not None) else None
        if moved is None:
            track.visible = False
        else:
            track.raw = moved

    def _output(self, track: _Track, i: int, detected: bool) -> TrackedFace:
        raw = track.raw
        if not self.smooth:
            smoothed = raw
        else:
            dt = (i - track.last_output) / self.fps if track.last_output is not None else 0.0
            scale = _face_size(raw)
            box = track.box_filter(raw.box, dt, scale)
            lm = track.lm_filter(raw.landmarks.reshape(-1), dt, scale).reshape(5, 2)
            smoothed = Face(box=box, score=raw.score, landmarks=lm)
        track.last_output = i
        return TrackedFace(track_id=track.id, face=smoothed, raw=raw, detected=detected)


def track_video(
    path: str | Path,
    detector: Detector,
    *,
    detect_every: int = 1,
    every: int = 1,
    iou_threshold: float = 0.3,
    max_missing: int = 5,
    smooth: bool = True,
    min_size: float = 0.0,
    smoothing: OneEuroParams = OneEuroParams(),
    max_frames: int | None = None,
    refine: bool = False,
) -> Iterator[tuple[int, np.ndarray, list[TrackedFace]]]:
    """Track the faces of a video file, streaming: memory does not grow with its length.

    Args:
        path: a video file (:class:`facelab.io.video.VideoReader`).
        detector: see :class:`FaceTracker`.
        detect_every: detect on every k-th **processed** frame, follow by flow in between.
        every: process only frames ``0, every, 2 * every, ...`` of the file (the tracker then
            sees frames ``every`` apart; smoothing uses ``fps / every``).
        iou_threshold, max_missing, smooth, min_size, smoothing, refine: see :class:`FaceTracker`.
        max_frames: stop after this many processed frames.

    Yields:
        ``(index, frame, tracked)``: the frame's 0-based index in the file, the ``uint8
        (H, W, 3)`` RGB frame and its :class:`TrackedFace` list.

    Raises:
        InputError: the video cannot be read.
    """
    from facelab.io.video import VideoReader

    with VideoReader(path, every=every) as reader:
        fps = float(reader.info.fps) / every if reader.info.fps else 30.0 / every
        tracker = FaceTracker(
            detector, detect_every=detect_every, iou_threshold=iou_threshold, max_missing=max_missing,
            smooth=smooth, min_size=min_size, fps=fps, smoothing=smoothing, refine=refine,
        )
        for n, (index, frame) in enumerate(reader.frames_with_index()):
            if max_frames is not None and n >= max_frames:
                break
            yield index, frame, tracker.update(frame)

"""The classical landmark-motion inconsistency check: does the inner face move with the head?

    extractor = MotionExtractor(fps=25.0)                     # or landmarks="dlib68"
    for index, frame, tracked in track_video(path, FaceDetector(), detect_every=1):
        extractor.update(index, frame, [(t.track_id, t.raw, t.detected) for t in tracked])
    for track, seq in extractor.sequences().items():
        win = window_features(seq)                            # 30-frame windows, stride 15
        probs = load_landmark_scorer().score(win.X)           # fake probability per window (landmark_scorer)
        video_score = aggregate(probs)

A face swapped in frame by frame is a face pasted onto a head that it does not belong to: its
landmarks follow the swap model's output, the outline (forehead, temples, cheeks) follows the
real head. After removing the head's rigid motion, the swapped inner face wobbles against its
surroundings. No deep network is involved; the per-frame features are:

``jitter``
    Acceleration of the **rigid-compensated** landmarks: each detected frame's five points are
    mapped by the least-squares similarity (Umeyama 1991, :func:`facelab.faces.align.
    estimate_similarity`) that takes the stable anchors (both eyes and the nose tip; the mouth
    moves when speaking) onto the ArcFace template normalised to an inter-ocular distance (IOD)
    of 1 with the eye midpoint at the origin. ``jitter`` is the mean over the five points of
    ``|c[t] - 2 c[t-d] + c[t-2d]|`` for three detected frames ``d`` apart, in IOD units.
    Compare the temporal-consistency cue of Li, Chang, Lyu, "In Ictu Oculi" (WIFS 2018) and the
    landmark-trajectory features of Sun et al., "Improving the Efficiency and Robustness of
    Deepfakes Detection through Precise Geometric Features" (CVPR 2021, LRNet).
``flow_inner``
    Between two consecutive detected frames of a track, the previous frame's landmarks are
    followed by pyramidal Lucas-Kanade optical flow (``cv2.calcOpticalFlowPyrLK``, Bouguet 2000)
    on grey frames; the mean distance from those flow-predicted points to the newly detected
    landmarks (IOD units, points failing a forward-backward check are left out). The flow
    follows the image texture, the detector the face model: a face re-rendered every frame lets
    them disagree. Every flow search starts at the position predicted by the landmarks' own
    rigid motion (``OPTFLOW_USE_INITIAL_FLOW``), so the flow only has to find the small
    residual and fast head motion does not throw it off.
``flow_outline``
    A ring of points around the inner face (forehead, temples, cheeks at 0.7-1.1 IOD from the
    eyes, chin left out because the jaw moves when talking), placed in head coordinates and
    followed by the same flow. ``flow_outline`` is the median distance between where the flow
    takes them and where the rigid motion of the landmarks (similarity from the previous to the
    current detected landmarks) predicts them, in IOD units: how much the inner face moved
    against the head and face outline around it.
``flow_gap``
    ``flow_outline - flow_inner``: the inner-versus-outline inconsistency itself (a real face
    has both at the level of detection noise; a pasted face that follows its own texture but
    not the head has a large gap).
``pose_rot``, ``pose_trans``
    With 68-point landmarks only (NaN with five points): the head-pose inconsistency of Yang,
    Li, Lyu, "Exposing Deep Fakes Using Inconsistent Head Poses" (ICASSP 2019). Head pose is
    estimated with ``cv2.solvePnP`` once from the whole face and once from the central face
    (eyebrows, nose, mouth corners: Yang et al.'s region 18-36, 49, 55 in 1-based iBUG numbers)
    against a generic 3D face; ``pose_rot`` is the angle in degrees of the rotation between the
    two, ``pose_trans`` the distance between the two translations divided by the whole-face
    distance. The 3D model is the 14-point anthropometric head model of Martins and Batista
    (ISR Coimbra, ``glAnthropometric3DModel.cpp``), as used by lincolnhard/head-pose-estimation,
    for iBUG points 17, 21, 22, 26, 36, 39, 42, 45, 31, 35, 48, 54, 57, 8; its coordinates
    (x to the image left, y up, z to the viewer) are negated into OpenCV's camera frame. The
    camera is the usual guess: focal length = image width, principal point = image centre.

Features are computed on **detected** frames only (frames carried by optical flow repeat the
flow and would hide the detector's behaviour); carried frames have NaN features.
:func:`window_features` summarises a window (default 30 frames, stride 15) by the median and
the 90th percentile of each feature; :mod:`facelab.detector.landmark_scorer` turns those into a
fake probability (calibrated on real videos, or a trained logistic regression / SVM).

What it catches, measured (bundled calibration: 5 real clips of ``shared/data/face_videos``,
96 windows; 94.8 % of them score below 0.5, 89.6 % when each clip is scored by a calibration
made without it, 81-84 % on the two crowd clips with small faces):

* landmarks with i.i.d. noise of 4 % of the IOD per point and frame (two real clips, 90 frames):
  mean window probability 0.92, every window at or above 0.5; at 2 %: 0.24-0.35;
* the clip's own inner face pasted back with a random shift of 4 % of the IOD per frame, its
  landmarks moving with it: 0.63-0.86 (60-100 % of windows); at 2 %: 0.14;
* facelab's one-shot swap (``facelab swap --source PHOTO``, default settings) of the same two
  clips: 0 of 24 windows. A still photo warped along the smoothed track moves *more* smoothly
  than a real face (jitter 25 % lower), which a one-sided real-video calibration cannot flag;
  a classifier fitted by ``facelab train landmarks`` on such fakes can use the low side.

Convention:
    * Frames are ``uint8 (H, W, 3)`` RGB; points ``(x, y)`` in pixels, pixel centres at integer
      coordinates (:mod:`facelab.faces.align`); five points in MTCNN's order (left eye, right
      eye, nose, left and right mouth corner, as seen in the image).
    * Head-normalised coordinates: IOD = 1, eye midpoint at the origin, x right, y down.
    * Feature magnitudes depend on the detection spacing: ``d`` is the number of frames between
      consecutive detections of a track (1 when detecting every frame, as in the bundled
      calibration). Detections more than :data:`MAX_GAP` frames apart start a new segment.
      With the full detector every 5th frame and optical flow in between, only 56 % of the
      calibration clips' real windows score below 0.5 with the bundled calibration (95 % at
      every frame): real head motion over 5 frames looks like wobble. With O-Net re-detection
      in between (``FaceTracker(refine=True)``, ``facelab detect``'s default) every frame is a
      detected frame again and the spacing is 1 (see :func:`detection_spacing`).
"""

from __future__ import annotations

import logging
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from facelab.errors import InputError
from facelab.faces.align import ARCFACE_5PT, estimate_similarity, transform_points
from facelab.faces.detect import Face

__all__ = [
    "FEATURES",
    "MIN_DETECTED",
    "MIN_IOD",
    "MotionExtractor",
    "MotionSequence",
    "WindowFeatures",
    "aggregate",
    "detection_spacing",
    "head_pose_inconsistency",
    "window_features",
]

log = logging.getLogger(__name__)

#: Per-frame feature columns, in this order.
FEATURES = ("jitter", "flow_inner", "flow_outline", "flow_gap", "pose_rot", "pose_trans")
#: A window needs at least this many detected frames (a track shorter than one window gives a
#: single window when it has this many).
MIN_DETECTED = 5
#: Detections of one track more than this many frames apart are not compared.
MAX_GAP = 10
#: Format tag of the ``.npz`` files.
NPZ_FORMAT = "facelab.motion/1"

# Why eyes and nose: they are rigid with the skull; the mouth corners move when speaking.
_ANCHORS = (0, 1, 2)
_LK_WIN = (21, 21)
_LK_LEVELS = 3
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
_FB_TOLERANCE = 0.05  # forward-backward error allowed, in IOD
#: Faces whose inter-ocular distance is below this many pixels give no features: MTCNN's
#: landmark noise of about a pixel would be over 8 % of the IOD (the faces of the real-video
#: calibration clips have IODs of 12-55 px).
MIN_IOD = 12.0


def _reference() -> np.ndarray:
    """ArcFace template in head-normalised coordinates (IOD 1, eye midpoint at the origin)."""
    t = ARCFACE_5PT.astype(np.float64)
    mid = (t[0] + t[1]) / 2
    return (t - mid) / float(np.linalg.norm(t[1] - t[0]))


REFERENCE = _reference()

# Outline ring, in head-normalised coordinates: forehead rows above the eyebrows, temples and
# cheeks outside the eyes; no chin (the jaw moves with speech) and nothing inside the
# swappable inner face.
OUTLINE = np.array(
    [[x, -0.75] for x in (-0.6, -0.3, 0.0, 0.3, 0.6)]
    + [[x, -0.95] for x in (-0.45, 0.0, 0.45)]
    + [[s * 1.05, y] for s in (-1, 1) for y in (-0.25, 0.15, 0.55)]
    + [[s * 0.95, 0.95] for s in (-1, 1)],
    dtype=np.float64,
)

# Generic 3D head (Martins & Batista anthropometric model, see the module docstring), in
# OpenCV's camera frame (x right, y down, z away from the camera), for these iBUG indices.
POSE_INDICES = (17, 21, 22, 26, 36, 39, 42, 45, 31, 35, 48, 54, 57, 8)
POSE_MODEL = -np.array(
    [
        [6.825897, 6.760612, 4.402142], [1.330353, 7.122144, 6.903745],
        [-1.330353, 7.122144, 6.903745], [-6.825897, 6.760612, 4.402142],
        [5.311432, 5.485328, 3.987654], [1.789930, 5.393625, 4.413414],
        [-1.789930, 5.393625, 4.413414], [-5.311432, 5.485328, 3.987654],
        [2.005628, 1.409845, 6.165652], [-2.005628, 1.409845, 6.165652],
        [2.774015, -2.080775, 5.048531], [-2.774015, -2.080775, 5.048531],
        [0.000000, -3.116408, 6.097667], [0.000000, -7.415691, 4.070434],
    ],
    dtype=np.float64,
)
# Yang et al.'s central face (iBUG 17-35, 48, 54, 0-based) within POSE_INDICES: eyebrows, nose, mouth corners.
POSE_CENTRAL = tuple(i for i, k in enumerate(POSE_INDICES) if 17 <= k <= 35 or k in (48, 54))


# --------------------------------------------------------------------------------------------
# Per-frame geometry
# --------------------------------------------------------------------------------------------


def _iod(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[1] - lm[0]))


def _to_head(lm: np.ndarray) -> np.ndarray:
    """``(2, 3)`` similarity taking image landmarks to head-normalised coordinates (anchors)."""
    a = list(_ANCHORS)
    return estimate_similarity(lm[a], REFERENCE[a])


def _lk(prev: np.ndarray, cur: np.ndarray, pts: np.ndarray, guess: np.ndarray, tol: float
        ) -> tuple[np.ndarray, np.ndarray]:
    """Forward-backward Lucas-Kanade from ``pts`` (starting the search at ``guess``).

    Returns ``(moved (N, 2), ok (N,) bool)``. Why the guess: starting at the position the
    landmarks' rigid motion predicts leaves the flow only the small residual to find, so fast head
    motion (several IODs per second) does not throw the search out of its window; the backward
    pass starts where the same displacement, undone, would land.
    """
    p0 = pts.astype(np.float32).reshape(-1, 1, 2)
    g1 = guess.astype(np.float32).reshape(-1, 1, 2)
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(prev, cur, p0, g1.copy(), winSize=_LK_WIN, maxLevel=_LK_LEVELS,
                                          criteria=_LK_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    if p1 is None:
        return pts.copy(), np.zeros(len(pts), bool)
    gb = (p1 - g1 + p0).astype(np.float32)
    pb, st2, _ = cv2.calcOpticalFlowPyrLK(cur, prev, p1, gb, winSize=_LK_WIN, maxLevel=_LK_LEVELS,
                                          criteria=_LK_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    moved = p1.reshape(-1, 2).astype(np.float64)
    if pb is None:
        return moved, np.zeros(len(pts), bool)
    fb = np.linalg.norm(pb.reshape(-1, 2) - p0.reshape(-1, 2), axis=1)
    h, w = prev.shape
    inside = (moved[:, 0] >= 0) & (moved[:, 0] <= w - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= h - 1)
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < tol) & inside
    return moved, ok


def flow_residuals(prev_gray: np.ndarray, cur_gray: np.ndarray, prev_lm: np.ndarray,
                   cur_lm: np.ndarray) -> tuple[float, float]:
    """``(flow_inner, flow_outline)`` between two detections of one face (see the module doc).

    Args:
        prev_gray, cur_gray: ``uint8 (H, W)`` grey frames.
        prev_lm, cur_lm: ``(5, 2)`` detected landmarks in those frames (pixels).

    Returns:
        Both residuals in units of the previous frame's inter-ocular distance; NaN where too few
        points survive the forward-backward check (inner: 3 of 5, outline: 4 of the ring).
    """
    prev_lm = np.asarray(prev_lm, np.float64)
    cur_lm = np.asarray(cur_lm, np.float64)
    iod = _iod(prev_lm)
    if iod < MIN_IOD or _iod(cur_lm) < MIN_IOD:
        return math.nan, math.nan
    head = _to_head(prev_lm)
    # Ring points in pixels: inverse of the head transform.
    a, t = head[:, :2], head[:, 2]
    ring = (OUTLINE - t) @ np.linalg.inv(a).T
    pts = np.concatenate([prev_lm, ring])
    rigid = estimate_similarity(prev_lm, cur_lm)  # the face's own motion, from the detections
    guess = transform_points(pts, rigid)
    moved, ok = _lk(prev_gray, cur_gray, pts, guess, max(0.5, _FB_TOLERANCE * iod))
    inner_ok = ok[:5]
    inner = float(np.linalg.norm(moved[:5] - cur_lm, axis=1)[inner_ok].mean()) / iod \
        if inner_ok.sum() >= 3 else math.nan
    ring_ok = ok[5:]
    if ring_ok.sum() >= 4:
        pred = guess[5:]
        outline = float(np.median(np.linalg.norm(moved[5:] - pred, axis=1)[ring_ok])) / iod
    else:
        outline = math.nan
    return inner, outline


def _camera(image_size: tuple[int, int]) -> np.ndarray:
    w, h = image_size
    f = float(max(w, h))
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], np.float64)


def _pnp(model: np.ndarray, pts: np.ndarray, cam: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    ok, rvec, tvec = cv2.solvePnP(model.reshape(-1, 1, 3), pts.reshape(-1, 1, 2), cam, None,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    return np.asarray(rvec, np.float64).reshape(3), np.asarray(tvec, np.float64).reshape(3)


def head_pose_inconsistency(points68: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float]:
    """Yang et al.'s whole-face versus central-face head pose difference.

    Args:
        points68: ``(68, 2)`` iBUG landmarks in pixels.
        image_size: ``(width, height)`` of the frame (for the guessed camera).

    Returns:
        ``(pose_rot, pose_trans)``: angle in degrees of ``R_central R_whole^T``, and
        ``|t_central - t_whole| / |t_whole|``; NaN when a pose cannot be solved.
    """
    p = np.asarray(points68, np.float64)
    if p.shape != (68, 2) or not np.isfinite(p).all():
        return math.nan, math.nan
    pts = p[list(POSE_INDICES)]
    cam = _camera(image_size)
    whole = _pnp(POSE_MODEL, pts, cam)
    central = _pnp(POSE_MODEL[list(POSE_CENTRAL)], pts[list(POSE_CENTRAL)], cam)
    if whole is None or central is None:
        return math.nan, math.nan
    rw, _ = cv2.Rodrigues(whole[0])
    rc, _ = cv2.Rodrigues(central[0])
    cos = (np.trace(rc @ rw.T) - 1.0) / 2.0
    angle = math.degrees(math.acos(float(np.clip(cos, -1.0, 1.0))))
    trans = float(np.linalg.norm(central[1] - whole[1]) / max(float(np.linalg.norm(whole[1])), 1e-9))
    return angle, trans


# --------------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------------


@dataclass
class MotionSequence:
    """Per-frame landmark-motion record of one face track.

    Attributes:
        track: face track id.
        frames: ``int64 (n,)`` frame indices, increasing.
        detected: ``bool (n,)``: the detector found the face there (else carried by flow).
        landmarks: ``float32 (n, 5, 2)`` rigid-compensated landmarks in head-normalised
            coordinates (IOD 1, eye midpoint at the origin), for plotting traces.
        features: name -> ``float32 (n,)``, NaN where undefined (see :data:`FEATURES`).
        fps: frame rate of ``frames`` (None when unknown).
        iod: ``float32 (n,)`` inter-ocular distance in pixels of the raw landmarks (the face's
            scale; NaN where unknown), or None for sequences made without it.
    """

    track: int
    frames: np.ndarray
    detected: np.ndarray
    landmarks: np.ndarray
    features: dict[str, np.ndarray]
    fps: float | None = None
    iod: np.ndarray | None = None

    def __len__(self) -> int:
        return int(len(self.frames))

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (plain arrays only, readable with ``allow_pickle=False``)."""
        names = list(self.features)
        n = len(self.frames)
        feats = np.stack([np.asarray(self.features[k], np.float32) for k in names], axis=1) if names \
            else np.zeros((n, 0), np.float32)
        np.savez_compressed(
            path, format=np.array(NPZ_FORMAT), track=np.array(self.track, np.int64),
            frames=np.asarray(self.frames, np.int64), detected=np.asarray(self.detected, bool),
            landmarks=np.asarray(self.landmarks, np.float32).reshape(n, 5, 2),
            feature_names=np.array(names, dtype=str), features=feats,
            fps=np.array(math.nan if self.fps is None else self.fps, np.float64),
            iod=np.full(n, np.nan, np.float32) if self.iod is None else np.asarray(self.iod, np.float32),
        )

    @classmethod
    def load(cls, path: str | Path) -> MotionSequence:
        """Read a file written by :meth:`save`.

        Raises:
            InputError: missing, not an npz, holds pickled objects, or arrays of the wrong shape.
        """
        p = Path(path)
        if not p.is_file():
            raise InputError(p, "no such motion file")
        try:
            with np.load(p, allow_pickle=False) as z:
                if "format" not in z.files or str(z["format"]) != NPZ_FORMAT:
                    raise InputError(p, f"not a {NPZ_FORMAT} landmark-motion file")
                frames = z["frames"].astype(np.int64)
                detected = z["detected"].astype(bool)
                landmarks = z["landmarks"].astype(np.float32)
                names = [str(s) for s in z["feature_names"]]
                feats = z["features"].astype(np.float32)
                fps = float(z["fps"])
                track = int(z["track"])
                iod = z["iod"].astype(np.float32) if "iod" in z.files else None
        except InputError:
            raise
        except zipfile.BadZipFile as e:  # an .npz is a zip archive: cut short or damaged
            raise InputError(p, f"truncated or damaged landmark-motion npz ({e})") from None
        except (ValueError, OSError, KeyError, EOFError) as e:
            if "pickle" in str(e):  # neither zip nor .npy: numpy would have unpickled it
                raise InputError(p, "not an npz file (neither a zip archive nor a numpy array)") from None
            raise InputError(p, f"not a readable landmark-motion npz ({e})") from None
        n = len(frames)
        if detected.shape != (n,) or landmarks.shape != (n, 5, 2) or feats.shape != (n, len(names)) \
                or (iod is not None and iod.shape != (n,)):
            raise InputError(p, "landmark-motion arrays have inconsistent shapes")
        return cls(track=track, frames=frames, detected=detected, landmarks=landmarks,
                   features={k: feats[:, i].copy() for i, k in enumerate(names)},
                   fps=None if math.isnan(fps) else fps, iod=iod)


@dataclass
class _TrackState:
    frames: list[int] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    iod: list[float] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)
    # Last two detections: (frame index, raw landmarks, compensated landmarks, grey frame).
    last: list[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]] = field(default_factory=list)


class MotionExtractor:
    """Collect per-frame landmark-motion features of every face track of a video.

    Args:
        fps: frame rate (stored in the sequences; None when unknown).
        landmarks: ``"5pt"`` (MTCNN's points; pose features NaN) or ``"dlib68"`` (pass the
            68 points of detected frames as ``dense`` to :meth:`update` for the pose features).

    Feed every processed frame in order with :meth:`update`; read :meth:`sequences` at the end.
    Memory: one grey frame per live track plus a few floats per frame.
    """

    def __init__(self, fps: float | None, landmarks: str = "5pt") -> None:
        if landmarks not in ("5pt", "dlib68"):
            raise ValueError(f"landmarks must be '5pt' or 'dlib68', got {landmarks!r}")
        self.fps = None if fps is None else float(fps)
        self.landmarks = landmarks
        self._tracks: dict[int, _TrackState] = {}

    def update(self, index: int, frame: np.ndarray, faces: Sequence[tuple[int, Face, bool]],
               dense: Mapping[int, np.ndarray] | None = None) -> None:
        """Add one frame.

        Args:
            index: frame index in the video (increasing between calls).
            frame: ``uint8 (H, W, 3)`` RGB.
            faces: ``(track_id, raw face, detected)`` for each face in this frame (use
                :attr:`TrackedFace.raw`: the smoothed face would hide the jitter).
            dense: optional ``track_id -> (68, 2)`` landmarks of detected faces (dlib68 only).
        """
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) RGB frame, got {getattr(frame, 'shape', frame)}")
        gray: np.ndarray | None = None
        for track, face, detected in faces:
            st = self._tracks.setdefault(int(track), _TrackState())
            lm = np.asarray(face.landmarks, np.float64)
            row = [math.nan] * len(FEATURES)
            comp = np.full((5, 2), np.nan)
            if _iod(lm) >= 2.0:  # the similarity is defined; traces are drawn even for small faces
                comp = transform_points(lm, _to_head(lm))
            if detected and _iod(lm) >= MIN_IOD and np.isfinite(comp).all():
                if gray is None:
                    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
                self._features(st, int(index), lm, comp, gray, row)
                if self.landmarks == "dlib68" and dense is not None and int(track) in dense:
                    h, w = frame.shape[:2]
                    row[4], row[5] = head_pose_inconsistency(dense[int(track)], (w, h))
                # Only the newest detection's grey frame is needed later (flow starts there).
                older = [(f, p, c, None) for f, p, c, _ in st.last[-1:]]
                st.last = older + [(int(index), lm, comp, gray)]
            st.frames.append(int(index))
            st.detected.append(bool(detected))
            st.landmarks.append(comp.astype(np.float32))
            st.iod.append(_iod(lm))
            st.rows.append(row)
        for st in self._tracks.values():  # free the grey frames of tracks that ended
            if st.last and int(index) - st.last[-1][0] > MAX_GAP:
                st.last = []

    def _features(self, st: _TrackState, index: int, lm: np.ndarray, comp: np.ndarray, gray: np.ndarray,
                  row: list[float]) -> None:
        if not st.last or index - st.last[-1][0] > MAX_GAP:
            st.last = []  # a gap: start a new segment (the caller appends this detection)
            return
        last = st.last
        f1, lm1, comp1, gray1 = last[-1]
        if gray1 is not None and gray1.shape == gray.shape:
            inner, outline = flow_residuals(gray1, gray, lm1, lm)
            row[1], row[2] = inner, outline
            row[3] = outline - inner
        if len(last) == 2:
            f0, _, comp0, _ = last[0]
            if f1 - f0 == index - f1:  # equal spacing: a true second difference
                row[0] = float(np.linalg.norm(comp - 2 * comp1 + comp0, axis=1).mean())

    def sequences(self) -> dict[int, MotionSequence]:
        """One :class:`MotionSequence` per track seen so far, by track id."""
        out: dict[int, MotionSequence] = {}
        for track, st in sorted(self._tracks.items()):
            n = len(st.frames)
            rows = np.asarray(st.rows, np.float32).reshape(n, len(FEATURES))
            out[track] = MotionSequence(
                track=track, frames=np.asarray(st.frames, np.int64), detected=np.asarray(st.detected, bool),
                landmarks=np.asarray(st.landmarks, np.float32).reshape(n, 5, 2),
                features={k: rows[:, i].copy() for i, k in enumerate(FEATURES)}, fps=self.fps,
                iod=np.asarray(st.iod, np.float32),
            )
        return out


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


@dataclass
class WindowFeatures:
    """Window summaries of one sequence.

    Attributes:
        spans: ``[start, end)`` frame indices of each window.
        X: ``float64 (m, F)``; NaN where a feature has no value in the window.
        names: the ``F`` column names (``<feature>_median``, ``<feature>_p90``).
    """

    spans: list[tuple[int, int]]
    X: np.ndarray
    names: list[str]


def window_names(features: Sequence[str] = FEATURES) -> list[str]:
    """Column names of :func:`window_features` for these per-frame features."""
    return [f"{k}_{s}" for k in features for s in ("median", "p90")]


def window_features(seq: MotionSequence, window: int = 30, stride: int = 15) -> WindowFeatures:
    """Summarise a sequence over sliding windows of frame indices.

    Windows are ``[s, s + window)`` for ``s = first, first + stride, ...`` while they fit in the
    track, plus one aligned to the track's end when the last stride leaves frames uncovered. A
    track shorter than ``window`` gives one window over all of it. Only detected frames with at
    least one defined feature count (the first detection of a segment and faces below
    :data:`MIN_IOD` have none), and a window is kept only when it holds at least
    :data:`MIN_DETECTED` (5) of them, so shorter or sparser tracks give 0 windows. Each per-frame
    feature gives two columns: the median (robust to the short bursts of real head motion, blur
    or a bad detection) and the 90th percentile of its defined values (NaN when none).

    Returns:
        :class:`WindowFeatures` with ``X`` of shape ``(m, 2 * len(features))``.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
    feats = [k for k in FEATURES if k in seq.features] + [k for k in seq.features if k not in FEATURES]
    names = window_names(feats)
    frames = np.asarray(seq.frames, np.int64)
    det = np.asarray(seq.detected, bool)
    empty = WindowFeatures([], np.zeros((0, len(names))), names)
    if len(frames) == 0:
        return empty
    first, last = int(frames[0]), int(frames[-1]) + 1
    if last - first <= window:
        starts = [first]
    else:
        starts = list(range(first, last - window + 1, stride))
        if starts[-1] + window < last:
            starts.append(last - window)
    cols = np.stack([np.asarray(seq.features[k], np.float64) for k in feats], axis=1) if feats \
        else np.zeros((len(frames), 0))
    usable = det & np.isfinite(cols).any(axis=1) if cols.shape[1] else det
    spans, rows = [], []
    for s in starts:
        e = min(s + window, last)
        sel = (frames >= s) & (frames < e) & usable
        if sel.sum() < MIN_DETECTED:
            continue
        row = []
        for j in range(cols.shape[1]):
            v = cols[sel, j]
            v = v[np.isfinite(v)]
            row += [float(np.median(v)), float(np.quantile(v, 0.9))] if len(v) else [math.nan, math.nan]
        spans.append((s, e))
        rows.append(row)
    if not rows:
        return empty
    return WindowFeatures(spans, np.asarray(rows, np.float64).reshape(len(rows), len(names)), names)


def detection_spacing(seq: MotionSequence) -> float:
    """Median number of frames between consecutive detections of a track (NaN if under two).

    The bundled calibration holds for 1 (``LandmarkScorer.meta["detect_every"]``).
    """
    f = np.asarray(seq.frames, np.int64)[np.asarray(seq.detected, bool)]
    return float(np.median(np.diff(f))) if len(f) >= 2 else math.nan


def aggregate(window_probs: np.ndarray) -> float:
    """Track or video score from window scores: the mean of the top third (at least one window).

    Why: a manipulation may cover only part of a clip, so the plain mean dilutes it, while the
    maximum of many windows of a real clip drifts upwards with the clip's length. NaN windows
    are ignored; NaN when there is none.
    """
    p = np.asarray(window_probs, np.float64).ravel()
    p = p[np.isfinite(p)]
    if len(p) == 0:
        return math.nan
    k = max(1, int(math.ceil(len(p) / 3)))
    return float(np.sort(p)[-k:].mean())


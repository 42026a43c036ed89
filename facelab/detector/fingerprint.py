"""A person's motion fingerprint (Agarwal et al., "Protecting World Leaders Against Deep Fakes",
CVPR Workshops 2019): does this face move the way this person moves?

    fp = build_fingerprint("alice", traces)          # FaceTraces of real videos of one person
    fp.save("alice.fp")
    fp = Fingerprint.load("alice.fp")
    check = fp.score(trace)                          # FingerprintResult: same person? moves like them?

People move their faces in their own way: the head turns with certain words, the brows rise with
the mouth. Agarwal et al. describe each 10-second clip by the pairwise correlations of 20 facial
action units and head rotations (190 numbers) and fit a one-class SVM per person on hours of
real footage. Here, from dlib's 68 points on every detected frame (the ``dlib`` extra):

1. **Behaviour signals** (:data:`SIGNALS`), per frame, in a face frame with the eye line level
   and the inter-ocular distance (IOD) as unit: head yaw, pitch and roll (``cv2.solvePnP``
   against the 3D head model of :mod:`facelab.detector.landmark_motion`); inner-lip opening;
   mouth width; lip-corner raise; upper-lip raise (nose to upper lip); jaw drop (nose to chin);
   left and right brow raise; left and right eye opening (eye aspect ratio).
2. **Windows** of ``window_s`` seconds every ``stride_s``: the Pearson correlations of all
   pairs of signals (66 numbers; a signal constant in the window counts as uncorrelated).
3. **One-class model**: a Gaussian with a Ledoit-Wolf shrunk covariance (scikit-learn
   ``LedoitWolf``) of the person's windows; a window's distance is its squared Mahalanobis
   distance. Why not the paper's one-class SVM: its RBF width and ``nu`` have to be tuned on
   plenty of windows, while a few minutes of footage give tens of 66-dimensional windows;
   shrinkage gives a well-posed model from so few, with nothing to tune, and it is three arrays
   (mean, precision, threshold) that load with ``torch.load(weights_only=True)``.
4. **Calibration**: the windows are split into contiguous blocks; each block is scored by a
   model fitted without it. The log-distances of those held-out windows set the scale:
   a window's probability of "not moving like this person" is ``sigmoid((log d - log t) / s)``
   with ``t`` their 90th percentile and ``s`` their standard deviation; a track's probability is
   the sigmoid of the mean window log-odds (``s`` is at least 0.5: with few windows their spread
   is itself uncertain, and a tiny ``s`` would make every verdict extreme).
5. **Identity**: dlib's 128-d face embedding (mean over some frames of the footage). A track
   farther than :data:`SAME_PERSON` (dlib's own threshold, 0.6) from it is "not this person":
   no motion verdict, since the fingerprint says nothing about how other people move.

How much footage it needs is measured in ``docs/detect.md`` (``bench/fingerprint_eval.py``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from facelab.checkpoint import atomic_save, safe_load
from facelab.detector.facetrace import FaceTrace, trace_video
from facelab.detector.landmark_motion import POSE_INDICES, POSE_MODEL
from facelab.errors import ConfigError, InputError

__all__ = ["FORMAT", "SAME_PERSON", "SIGNALS", "Fingerprint", "FingerprintResult", "behaviour_signals",
           "build_fingerprint", "fingerprint_videos", "window_vectors"]

log = logging.getLogger(__name__)

FORMAT = "facelab.fingerprint/1"
#: dlib's face-embedding distance below which two faces are the same person (its documented 0.6).
SAME_PERSON = 0.6
SIGNALS = ("yaw", "pitch", "roll", "mouth_open", "mouth_width", "lip_corner", "upper_lip", "jaw",
           "brow_left", "brow_right", "eye_left", "eye_right")
_PAIRS = [(i, j) for i in range(len(SIGNALS)) for j in range(i + 1, len(SIGNALS))]
#: A window needs this share of its frames with a detected face.
_MIN_COVER = 0.7


def _pose(p: np.ndarray, size: tuple[int, int]) -> tuple[float, float, float]:
    """Head yaw, pitch, roll in degrees from 68 points (nan when solvePnP fails)."""
    w, h = size
    f = float(max(w, h, 1))
    cam = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], np.float64)
    ok, rvec, _ = cv2.solvePnP(POSE_MODEL.reshape(-1, 1, 3), p[list(POSE_INDICES)].reshape(-1, 1, 2).astype(np.float64),
                               cam, None, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return math.nan, math.nan, math.nan
    r, _ = cv2.Rodrigues(rvec)
    # Euler angles (x: pitch, y: yaw, z: roll) of the rotation matrix, in degrees
    sy = math.hypot(r[0, 0], r[1, 0])
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    yaw = math.degrees(math.atan2(-r[2, 0], sy))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return yaw, pitch, roll


def behaviour_signals(points68: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """``float64 (n, len(SIGNALS))`` behaviour signals of ``(n, 68, 2)`` landmarks (see module doc)."""
    p = np.asarray(points68, np.float64)
    out = np.full((len(p), len(SIGNALS)), np.nan)
    for i, q in enumerate(p):
        el, er = q[36:42].mean(0), q[42:48].mean(0)
        d = er - el
        iod = float(np.hypot(*d))
        if not np.isfinite(q).all() or iod < 8:
            continue
        c, s = d / iod
        rot = np.array([[c, s], [-s, c]])  # eye line level; x right, y down
        z = (q - (el + er) / 2) @ rot.T / iod
        def dist(a: int, b: int, z: np.ndarray = z) -> float:
            return float(np.hypot(*(z[a] - z[b])))

        yaw, pitch, roll = _pose(q, image_size)
        mouth_open = (dist(61, 67) + dist(62, 66) + dist(63, 65)) / 3
        corners_y = (z[48, 1] + z[54, 1]) / 2
        lips_mid_y = (z[51, 1] + z[57, 1]) / 2
        ear_l = (dist(37, 41) + dist(38, 40)) / (2 * max(dist(36, 39), 1e-6))
        ear_r = (dist(43, 47) + dist(44, 46)) / (2 * max(dist(42, 45), 1e-6))
        out[i] = [yaw, pitch, roll, mouth_open, dist(48, 54), lips_mid_y - corners_y, z[51, 1] - z[33, 1],
                  z[8, 1] - z[33, 1], z[36:42, 1].mean() - z[17:22, 1].mean(), z[42:48, 1].mean() - z[22:27, 1].mean(),
                  ear_l, ear_r]
    return out


def window_vectors(trace: FaceTrace, window_s: float, stride_s: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Pairwise-correlation vectors of the windows of ``trace``: ``(X (m, 66), [(start, end)])``.

    Frame spans are video frame indices ``start <= f < end``; windows with too few detected
    frames are left out.
    """
    if trace.points68 is None:
        raise ConfigError("the motion fingerprint needs dlib's 68-point landmarks: pip install \"facelab[dlib]\"")
    fps = trace.fps or 25.0
    sig = behaviour_signals(trace.points68, trace.image_size)
    frames = trace.frames
    w, s = max(8, round(window_s * fps)), max(1, round(stride_s * fps))
    rows, spans = [], []
    if len(frames) == 0:
        return np.zeros((0, len(_PAIRS))), []
    for a in range(int(frames[0]), int(frames[-1]) - w + 2, s):
        sel = (frames >= a) & (frames < a + w)
        x = sig[sel]
        x = x[np.isfinite(x).all(axis=1)]
        if len(x) < _MIN_COVER * w:
            continue
        sd = x.std(axis=0)
        z = (x - x.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
        c = (z.T @ z) / len(z)
        c[:, sd <= 1e-9] = 0.0
        c[sd <= 1e-9, :] = 0.0
        rows.append([c[i, j] for i, j in _PAIRS])
        spans.append((a, a + w))
    return np.asarray(rows, np.float64).reshape(-1, len(_PAIRS)), spans


@dataclass
class FingerprintResult:
    """A track scored against a fingerprint.

    ``same_person`` is None when the track has no face embedding (then the motion is scored
    anyway, with a warning in ``reason``); ``probability`` (of *not* moving like the person) is
    None for another person or a track too short for a window.
    """

    same_person: bool | None
    distance: float | None
    probability: float | None
    windows: list[tuple[int, int, float]] = field(default_factory=list)  # (start, end, probability)
    reason: str | None = None

    def details(self, person: str) -> dict[str, Any]:
        return {"person": person, "same_person": self.same_person,
                "identity_distance": None if self.distance is None else round(self.distance, 4),
                "same_person_below": SAME_PERSON, "windows": len(self.windows),
                "fingerprint_windows": [{"start": a, "end": b, "score": round(p, 4)} for a, b, p in self.windows]}


@dataclass
class Fingerprint:
    """One person's one-class model of facial behaviour (see the module docstring)."""

    name: str
    mean: np.ndarray  # (66,)
    precision: np.ndarray  # (66, 66)
    log_threshold: float
    log_scale: float
    embedding: np.ndarray | None  # (128,) mean dlib face embedding
    window_s: float
    stride_s: float
    windows: int
    seconds: float  # footage used, seconds of detected face
    videos: list[str] = field(default_factory=list)

    def distances(self, X: np.ndarray) -> np.ndarray:
        d = np.asarray(X, np.float64) - self.mean
        return np.einsum("ij,jk,ik->i", d, self.precision, d)

    def window_probabilities(self, X: np.ndarray) -> np.ndarray:
        z = (np.log(np.maximum(self.distances(X), 1e-12)) - self.log_threshold) / self.log_scale
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def score(self, trace: FaceTrace) -> FingerprintResult:
        """Score one track: identity first, then its windows' distances."""
        distance = same = None
        if self.embedding is not None and trace.embeddings is not None and len(trace.embeddings):
            distance = float(np.linalg.norm(trace.embeddings.mean(axis=0) - self.embedding))
            same = distance < SAME_PERSON
            if not same:
                return FingerprintResult(False, distance, None, reason=f"not this person (face distance "
                                         f"{distance:.2f} to {self.name}, same person below {SAME_PERSON})")
        X, spans = window_vectors(trace, self.window_s, self.stride_s)
        if len(X) == 0:
            return FingerprintResult(same, distance, None, reason=f"track too short for a {self.window_s:g} s window")
        p = self.window_probabilities(X)
        logit = float(np.mean(np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))))
        return FingerprintResult(same, distance, 1.0 / (1.0 + math.exp(-logit)),
                                 [(a, b, float(q)) for (a, b), q in zip(spans, p)],
                                 None if same is not None else "no face embedding: identity not checked")

    # ---------------------------------------------------------------------------------- files

    def save(self, path: str | Path) -> None:
        """Write plain tensors and builtins (no pickled code), atomically."""
        atomic_save({"format": FORMAT, "name": self.name, "mean": torch.from_numpy(self.mean),
                     "precision": torch.from_numpy(self.precision), "log_threshold": float(self.log_threshold),
                     "log_scale": float(self.log_scale),
                     "embedding": None if self.embedding is None else torch.from_numpy(self.embedding),
                     "window_s": float(self.window_s), "stride_s": float(self.stride_s), "windows": int(self.windows),
                     "seconds": float(self.seconds), "videos": list(self.videos), "signals": list(SIGNALS)}, path)

    @classmethod
    def load(cls, path: str | Path) -> Fingerprint:
        """Read a ``.fp`` file with ``weights_only=True``.

        Raises:
            InputError: missing, not a fingerprint, or made with other signals.
        """
        p = Path(path)
        if not p.is_file():
            raise InputError(p, "no such fingerprint file (make one with `facelab fingerprint build`)")
        obj = safe_load(p)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise InputError(p, f"not a {FORMAT} file (make one with `facelab fingerprint build`)")
        if list(obj.get("signals", [])) != list(SIGNALS):
            raise InputError(p, "fingerprint made with other behaviour signals; build it again with this facelab")
        mean, prec = obj["mean"].double().numpy(), obj["precision"].double().numpy()
        if mean.shape != (len(_PAIRS),) or prec.shape != (len(_PAIRS), len(_PAIRS)):
            raise InputError(p, "fingerprint arrays have the wrong shape")
        emb = obj.get("embedding")
        return cls(name=str(obj["name"]), mean=mean, precision=prec, log_threshold=float(obj["log_threshold"]),
                   log_scale=float(obj["log_scale"]), embedding=None if emb is None else emb.float().numpy(),
                   window_s=float(obj["window_s"]), stride_s=float(obj["stride_s"]), windows=int(obj["windows"]),
                   seconds=float(obj["seconds"]), videos=[str(v) for v in obj.get("videos", [])])


def _fit(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.covariance import LedoitWolf

    lw = LedoitWolf().fit(X)
    return lw.location_, lw.precision_


def build_fingerprint(name: str, traces: Sequence[FaceTrace], *, window_s: float = 3.0, stride_s: float = 0.5,
                      videos: Sequence[str] = (), purge: float = 0.5) -> Fingerprint:
    """Fit a person's fingerprint on the face traces of real videos of them (one track each).

    Raises:
        InputError: fewer than 6 windows (about ``window_s + 5 * stride_s`` seconds of face).
    """
    parts = [window_vectors(t, window_s, stride_s) for t in traces]
    X = np.concatenate([x for x, _ in parts]) if parts else np.zeros((0, len(_PAIRS)))
    # where each window is: (video, start, end), to keep held-out windows apart from the fit
    where = np.array([(k, a, b) for k, (_, spans) in enumerate(parts) for a, b in spans], np.int64).reshape(-1, 3)
    if len(X) < 6:
        raise InputError(Path(videos[0]) if videos else Path(name),
                         f"only {len(X)} windows of {window_s:g} s with a detected face; a fingerprint needs at "
                         f"least 6 (about {window_s + 5 * stride_s:g} s of footage of the person)")
    # Held-out log distances: each window scored by a model fitted on the windows that start at
    # least ``purge`` of a window length away from it (neighbouring windows share frames: fitting
    # on them would score a window against near-copies of itself and set the threshold too low;
    # purging all overlap leaves so few windows that the threshold comes out too high).
    held: list[float] = []
    wlen = np.maximum(where[:, 2] - where[:, 1], 1)
    for i in range(len(X)):
        near = (where[:, 0] == where[i, 0]) & (np.abs(where[:, 1] - where[i, 1]) < purge * wlen[i])
        rest = X[~near]
        if len(rest) < 3:
            continue
        mu, prec = _fit(rest)
        d = X[i] - mu
        held.append(float(np.log(max(float(d @ prec @ d), 1e-12))))
    if not held:
        raise InputError(Path(videos[0]) if videos else Path(name),
                         f"too little footage to calibrate a fingerprint: {len(X)} overlapping windows; give at "
                         f"least {3 * window_s:g} s of the person")
    mean, precision = _fit(X)
    held_a = np.asarray(held)
    embs = [t.embeddings for t in traces if t.embeddings is not None and len(t.embeddings)]
    seconds = float(sum(len(t) / (t.fps or 25.0) for t in traces))
    return Fingerprint(name=name, mean=mean, precision=precision,
                       log_threshold=float(np.percentile(held_a, 90)), log_scale=max(float(held_a.std()), 0.5),
                       embedding=np.concatenate(embs).mean(axis=0).astype(np.float32) if embs else None,
                       window_s=window_s, stride_s=stride_s, windows=len(X), seconds=seconds, videos=list(videos))


def fingerprint_videos(name: str, videos: Sequence[str | Path], detector: Any, *, window_s: float = 3.0,
                       stride_s: float = 0.5, on_video: Any = None, on_frame: Any = None) -> Fingerprint:
    """Track the faces of real videos of one person and fit their fingerprint.

    The person is the face with the longest track of each video. Where a video's main face is
    clearly another person than the rest (dlib face distance over :data:`SAME_PERSON` to the
    mean of the others), building stops: mixing two people's motion makes a fingerprint of
    neither.

    Raises:
        InputError: a video without a face, a video of another person, or too little footage.
        ConfigError: the ``dlib`` extra is missing.
    """
    traces: list[FaceTrace] = []
    for v in videos:
        if on_video is not None:
            on_video(Path(v))
        found = trace_video(v, detector, dense=True, embed=True, on_frame=on_frame)
        if not found:
            raise InputError(Path(v), "no face found in this video")
        traces.append(max(found.values(), key=len))
    embs = [t.embeddings.mean(axis=0) if t.embeddings is not None and len(t.embeddings) else None for t in traces]
    for i, e in enumerate(embs):
        rest = [x for j, x in enumerate(embs) if j != i and x is not None]
        if e is not None and rest and float(np.linalg.norm(e - np.mean(rest, axis=0))) > SAME_PERSON:
            raise InputError(Path(videos[i]), f"its main face is another person than in the other videos "
                                              f"(face distance over {SAME_PERSON}); give videos of {name} only")
    return build_fingerprint(name, traces, window_s=window_s, stride_s=stride_s, videos=[str(v) for v in videos])

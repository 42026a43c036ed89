"""Typed results of ``facelab detect``: what the pipeline computes and the reports show.

The JSON form (:meth:`MediaResult.to_json`) is a public, versioned schema
(:data:`SCHEMA`, documented in ``docs/detect.md``): fields are only ever added. Arrays that exist
only for the HTML report (face crops, Grad-CAM maps, landmark traces) stay out of the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from facelab.credentials import Credentials

__all__ = ["SCHEMA", "VERDICTS", "FrameRecord", "MediaResult", "SignalResult", "SuspiciousFrame",
           "TrackResult", "WindowScore"]

SCHEMA = "facelab.detect/1"
VERDICTS = ("REAL", "FAKE", "UNCERTAIN")


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(float(v), nd)


@dataclass
class FrameRecord:
    """One face in one frame.

    Attributes:
        frame: frame index (0 for a photo).
        time: seconds from the start (None for a photo).
        track: face track id.
        box: ``[x1, y1, x2, y2]`` in pixels.
        detected: the detector found the face here (False: carried by optical flow).
        cnn: the CNN's fake probability for this face (None where the CNN did not run).
        motion: the landmark-motion score of the window centred nearest this frame (None if none).
        lip_sync: the lip-sync score of the window centred nearest this frame (None where the
            window had no speech or the check did not run).
    """

    frame: int
    time: float | None
    track: int
    box: list[float]
    detected: bool
    cnn: float | None = None
    motion: float | None = None
    lip_sync: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "time": _r(self.time), "track": self.track,
                "box": [round(float(v), 1) for v in self.box], "detected": self.detected,
                "cnn": _r(self.cnn), "motion": _r(self.motion), "lip_sync": _r(self.lip_sync)}


@dataclass
class WindowScore:
    """Landmark-motion score of frames ``start <= f < end`` of one track.

    ``score`` is a fake probability in [0, 1]; ``features`` the named raw features it came from.
    """

    track: int
    start: int
    end: int
    score: float
    features: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"track": self.track, "start": self.start, "end": self.end, "score": _r(self.score),
                "features": {k: _r(v, 6) for k, v in self.features.items()}}


@dataclass
class SuspiciousFrame:
    """A frame the report shows: the crop the CNN saw and its Grad-CAM map (report only)."""

    frame: int
    track: int
    cnn: float
    crop: np.ndarray  # uint8 (S, S, 3) RGB
    cam: np.ndarray | None = None  # float32 (S, S) in [0, 1]


@dataclass
class SignalResult:
    """One detector's contribution: did it run, its probability, and why not if skipped."""

    ran: bool
    probability: float | None = None
    skipped_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ran": self.ran, "probability": _r(self.probability), "skipped_reason": self.skipped_reason,
                **self.details}


@dataclass
class TrackResult:
    """One face track's scores and verdict.

    ``landmarks`` is ``float32 (n, 5, 2)``: the detected 5 landmarks per frame of ``frames_with_face``
    in head-normalised coordinates (rigid motion removed), for the report's traces; NaN where the
    face was not detected.
    """

    track: int
    first_frame: int
    last_frame: int
    frames: int
    cnn: SignalResult
    motion: SignalResult
    fake_probability: float
    verdict: str
    reasons: list[str] = field(default_factory=list)
    windows: list[WindowScore] = field(default_factory=list)
    suspicious: list[SuspiciousFrame] = field(default_factory=list)
    landmark_frames: np.ndarray | None = None  # int (n,)
    landmarks: np.ndarray | None = None  # float32 (n, 5, 2)
    face_size: float = float("nan")  # median face box width in pixels
    plausible: float = 1.0  # share of the track's scored detections that look like a face
    # issue 13: the classic checks (details carry their windows; see facelab.detector.lipsync / fingerprint)
    lip_sync: SignalResult = field(default_factory=lambda: SignalResult(
        ran=False, skipped_reason="not run (a photo has no audio)"))
    fingerprint: SignalResult = field(default_factory=lambda: SignalResult(
        ran=False, skipped_reason="no --reference fingerprint given"))

    def to_json(self) -> dict[str, Any]:
        return {"track": self.track, "first_frame": self.first_frame, "last_frame": self.last_frame,
                "frames": self.frames, "face_size": _r(self.face_size), "plausible_face_share": _r(self.plausible),
                "verdict": self.verdict, "fake_probability": _r(self.fake_probability),
                "reasons": list(self.reasons), "signals": {"cnn": self.cnn.to_json(), "landmark_motion": self.motion.to_json(),
                            "lip_sync": self.lip_sync.to_json(), "fingerprint": self.fingerprint.to_json()},
                "windows": [w.to_json() for w in self.windows],
                "suspicious_frames": [s.frame for s in self.suspicious]}


@dataclass
class MediaResult:
    """The verdict on one input file.

    ``fake_probability`` is the fused probability behind ``verdict`` (the largest over tracks for
    a file with several faces: one fake face makes the file fake). ``face_found_rate`` is the share
    of analysed frames with at least one face. ``provenance``: what the file declares about itself
    (C2PA manifest, facelab's metadata label; None when not read), which can decide ``verdict``
    (:func:`facelab.detector.fuse.fuse_declaration`).
    """

    path: str
    kind: str  # "image" or "video"
    verdict: str
    fake_probability: float | None
    reasons: list[str]
    cnn: SignalResult
    motion: SignalResult
    face_found_rate: float
    frames_total: int
    frames_analysed: int
    width: int
    height: int
    fps: float | None = None
    tracks: list[TrackResult] = field(default_factory=list)
    frames: list[FrameRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    provenance: Credentials | None = None
    damage: dict[str, Any] | None = None  # videos: facelab.io.decode.Damage.to_json()
    lip_sync: SignalResult = field(default_factory=lambda: SignalResult(
        ran=False, skipped_reason="not run (a photo has no audio)"))
    fingerprint: SignalResult = field(default_factory=lambda: SignalResult(
        ran=False, skipped_reason="no --reference fingerprint given"))

    def to_json(self) -> dict[str, Any]:
        from facelab import __version__

        return {
            "schema": SCHEMA,
            "facelab_version": __version__,
            "path": self.path,
            "kind": self.kind,
            "verdict": self.verdict,
            "fake_probability": _r(self.fake_probability),
            "reasons": list(self.reasons),
            "error": self.error,
            "signals": {"cnn": self.cnn.to_json(), "landmark_motion": self.motion.to_json(),
                        "lip_sync": self.lip_sync.to_json(), "fingerprint": self.fingerprint.to_json()},
            "provenance": self.provenance.to_json() if self.provenance is not None else None,
            "face_found_rate": _r(self.face_found_rate),
            "frames_total": self.frames_total,
            "frames_analysed": self.frames_analysed,
            "width": self.width,
            "height": self.height,
            "fps": _r(self.fps),
            "tracks": [t.to_json() for t in self.tracks],
            "per_frame": [f.to_json() for f in self.frames],
            "warnings": list(self.warnings),
            "frames_lost_to_damage": int((self.damage or {}).get("frames_lost_to_damage", 0)),
            "damage": self.damage,
            "settings": self.settings,
            "timings": {k: _r(v) for k, v in self.timings.items()},
        }

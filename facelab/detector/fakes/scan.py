"""Step 2 of ``facelab fakes`` (pass 1): faces detected and tracked in each source, donors kept.

See the package docstring (:mod:`facelab.detector.fakes`) for the rules.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import numpy as np

from facelab.detector.fakes.config import SWAP, FakesConfig
from facelab.detector.fakes.records import Scan, Sighting, Source, crop_sightings
from facelab.errors import InputError
from facelab.faces.align import align_face
from facelab.faces.detect import Face
from facelab.faces.track import FaceTracker
from facelab.io.image import read_image
from facelab.io.video import VideoReader

__all__ = ["choose_window", "scan_image", "scan_video"]


def _frontal_quality(face: Face) -> float:
    """Face width times frontalness: 1 when the nose is on the eye midline, 0 at half the eye distance."""
    lm = face.landmarks.astype(np.float64)
    eye_vec = lm[1] - lm[0]
    eye_dist = float(np.linalg.norm(eye_vec))
    if eye_dist < 1e-6:
        return 0.0
    yaw = abs(float(np.dot(lm[2] - (lm[0] + lm[1]) / 2, eye_vec / eye_dist))) / eye_dist
    return face.width * max(0.0, 1.0 - 2.0 * yaw) * face.score


def _keep_donor(scan: Scan, tid: int, frame: np.ndarray, index: int, face: Face, k: int) -> None:
    heap = scan.donors.setdefault(tid, [])
    q = _frontal_quality(face)
    if len(heap) >= k and q <= heap[0][0]:
        return
    item = (q, index, align_face(frame, face.landmarks, SWAP.size, SWAP.margin))
    (heapq.heappush if len(heap) < k else heapq.heapreplace)(heap, item)


def scan_image(src: Source, detector: Any, cfg: FakesConfig) -> Scan:
    image = read_image(src.path)
    scan = Scan(src)
    faces = [f for f in detector.detect(image) if f.width >= cfg.min_size]
    for i, face in enumerate(faces[:1] if cfg.identity == "folder" else faces):
        scan.tracks[i] = [Sighting(0, face, True)]
        _keep_donor(scan, i, image, 0, face, cfg.donors)
    return scan


def scan_video(src: Source, detector: Any, cfg: FakesConfig, progress: Callable[[int], None]) -> Scan:
    scan = Scan(src, frames=0)
    with VideoReader(src.path, every=cfg.every) as reader:
        scan.fps = float(reader.info.fps) if reader.info.fps else None
        # MTCNN on every sampled frame; a track ends after two misses (frames are `every` apart)
        tracker = FaceTracker(detector, detect_every=1, max_missing=2, min_size=cfg.min_size,
                              fps=(scan.fps or 30.0) / cfg.every)
        for index, frame in reader.frames_with_index():
            for tf in tracker.update(frame):
                scan.tracks.setdefault(tf.track_id, []).append(Sighting(index, tf.raw, tf.detected))
                if tf.detected:
                    _keep_donor(scan, tf.track_id, frame, index, tf.raw, cfg.donors)
            progress(1)
        scan.frames = reader.frames_decoded
        if scan.frames == 0:
            raise InputError(src.path, "video has no decodable frames")
    # drop passers-by and false positives: too few detections on the sampled frames
    need = min(cfg.min_track, len(range(0, scan.frames, cfg.every)))
    for tid in list(scan.tracks):
        if len(crop_sightings(scan, tid)) < need:
            del scan.tracks[tid]
    if cfg.identity == "folder" and len(scan.tracks) > 1:
        main = max(scan.tracks, key=lambda t: (len(crop_sightings(scan, t)), -t))
        scan.tracks = {main: scan.tracks[main]}
    return scan


def choose_window(scan: Scan, cfg: FakesConfig) -> tuple[int, int] | None:
    """The motion clip: ``motion_frames`` frames from the sampled frame that covers most kept detections."""
    if scan.source.kind != "video" or not cfg.motion_frames or not scan.identity:
        return None
    hits = sorted(s.frame for t in scan.identity for s in crop_sightings(scan, t))
    best = max(hits, key=lambda f: (sum(1 for h in hits if f <= h < f + cfg.motion_frames), -f))
    return best, min(best + cfg.motion_frames, scan.frames)

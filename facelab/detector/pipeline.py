"""``facelab detect``: media -> face tracks -> CNN and landmark-motion scores -> fused verdict.

    cfg = DetectConfig(stride=5)
    result = detect_file("clip.mp4", cfg, detector=FaceDetector(), classifier=load_classifier("run/"))
    result.verdict, result.fake_probability, result.to_json()

A video streams through in one pass with memory that does not grow with its length (only a few
numbers per frame and the top-k crops per track are kept):

1. **Decode** a frame (PyAV, :class:`~facelab.io.video.VideoReader`).
2. **Track** faces (:class:`~facelab.faces.track.FaceTracker`: MTCNN every ``detect_every``
   frames; with ``refine``, MTCNN's O-Net re-detects every tracked face at its last box on the
   frames in between, so the landmarks stay the detector's on every frame; optical flow carries
   only the faces O-Net loses).
3. **Landmark motion**: feed the raw (unsmoothed) landmarks and the frame to the
   :class:`~facelab.detector.landmark_motion.MotionExtractor`; smoothing would hide the very
   jitter it measures.
4. **CNN** on the frames chosen by ``stride`` / ``frames``: crop every tracked face with the
   checkpoint's crop geometry and score the crops in batches.
5. At the end: window scores of each track's motion sequence, Grad-CAM on each track's most
   suspicious crops, and the fusion (:mod:`facelab.detector.fuse`).

Photos get steps 2 (detection only) and 4; the motion check needs a video.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facelab.credentials import read_credentials
from facelab.detector.crops import face_crop
from facelab.detector.fuse import (
    FusionConfig,
    fuse_declaration,
    fuse_media,
    fuse_track,
    recentre,
    track_cnn_probability,
)
from facelab.detector.protocols import CropClassifier, FaceFinder, MotionScorer
from facelab.detector.results import FrameRecord, MediaResult, SignalResult, SuspiciousFrame, TrackResult, WindowScore
from facelab.errors import ConfigError, InputError, as_item_error
from facelab.faces.detect import Face
from facelab.faces.track import FaceTracker
from facelab.io.background import prefetch
from facelab.io.image import is_image, read_image
from facelab.io.video import VideoReader, is_video

if TYPE_CHECKING:
    from facelab.detector.fingerprint import Fingerprint
    from facelab.detector.landmark_motion import MotionSequence
    from facelab.faces.detect import FaceDetector

log = logging.getLogger(__name__)

__all__ = ["DetectConfig", "NO_CNN_HINT", "detect_file", "detect_files", "list_media", "plausible_face"]

NO_CNN_HINT = ("CNN stage skipped: no classifier weights. Train one with `facelab fakes REAL_VIDEOS -o DATA` "
               "then `facelab train detector DATA -o RUN`, and pass `--weights RUN`")


@dataclass(frozen=True)
class DetectConfig:
    """What ``facelab detect`` runs.

    Attributes:
        stride: score every ``stride``-th frame with the CNN (ignored when ``frames`` is set).
        frames: score this many evenly spaced frames with the CNN instead.
        detect_every: run the full MTCNN every k frames (new faces are found on those frames);
            5 by default, as ``facelab swap``. 1 runs it on every frame (3-5x slower).
        refine: on the other frames, re-detect each tracked face with MTCNN's O-Net alone at
            its last box (:meth:`~facelab.faces.detect.FaceDetector.refine`); faces it loses are
            carried by optical flow. The motion check only uses detected frames, and refined
            frames count: without ``refine``, ``detect_every > 1`` leaves it a k-th of the
            evidence, and flow-carried landmarks that its real-video calibration never saw.
        min_size: faces narrower than this many pixels are ignored (40, as ``facelab fakes`` and
            ``facelab extract``: the CNN is trained on such faces, and smaller ones carry too
            little detail for a verdict). Give the detector ``min_face_size=min_size`` too
            (``facelab detect`` does): MTCNN's image pyramid then starts at that size, about half
            the cost of its default 20 px at 720p.
        window, stride_windows: landmark-motion window length and step, in detected frames.
        top_k: suspicious frames per track kept for the report (with Grad-CAM).
        batch_size: CNN crops per forward pass; None: 32 on CUDA, 8 on the CPU (there, batches
            of 32 EfficientNet-Lite0 crops took 33.5 ms a crop against 15.5 at 8 and held four
            times the activations; see :func:`cnn_batch_size`).
        cnn, landmarks: switch either signal off.
        gradcam: compute Grad-CAM maps for the report's suspicious frames.
        fusion: how the signals combine.
        on_damage: damaged videos: ``"skip"`` analyses every frame that decodes and reports the
            damage; ``"fail"`` refuses the file (:mod:`facelab.io.decode`).
        provenance: read the file's C2PA manifest and facelab's metadata label first; a valid
            declaration that it is synthetic decides the verdict (:func:`~facelab.detector.fuse.fuse_declaration`).
        lip_sync: run the lip-sync check on videos with audio (:mod:`facelab.detector.lipsync`).
        reference: the ``--reference`` fingerprint file, for the record (the loaded
            :class:`~facelab.detector.fingerprint.Fingerprint` goes to :func:`detect_file`).
    """

    stride: int = 5
    frames: int | None = None
    detect_every: int = 5
    refine: bool = True
    min_size: float = 40.0
    window: int = 30
    stride_windows: int = 15
    top_k: int = 4
    batch_size: int | None = None
    cnn: bool = True
    landmarks: bool = True
    gradcam: bool = True
    fusion: FusionConfig = field(default_factory=FusionConfig)
    on_damage: str = "skip"
    provenance: bool = True
    lip_sync: bool = True
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ConfigError(f"--stride must be at least 1, got {self.stride}")
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"--frames must be at least 1, got {self.frames}")
        if self.detect_every < 1:
            raise ConfigError(f"--detect-every must be at least 1, got {self.detect_every}")
        if not self.min_size >= 0:
            raise ConfigError(f"--min-size must be at least 0 pixels, got {self.min_size}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.window < 2 or self.stride_windows < 1:
            raise ConfigError("the landmark window must be at least 2 frames and its stride at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_media(inputs: Iterable[str | Path], *, keep_bad_files: bool = False
               ) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand files and folders (recursively) into media files; returns ``(files, skipped)``.

    With ``keep_bad_files``, a named file that is missing or not media stays in ``files`` (in
    order), so that the batch reports it as a failed item, in its JSON too; only folders without
    media are ``skipped``.
    """
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")
                           and (is_image(f) or is_video(f)))
            if not found:
                skipped.append((p, "folder holds no images or videos"))
            files.extend(found)
        elif keep_bad_files or (p.exists() and (is_image(p) or is_video(p))):
            files.append(p)
        elif not p.exists():
            skipped.append((p, "no such file or folder"))
        else:
            skipped.append((p, "not an image or video by its extension"))
    return files, skipped


def plausible_face(face: Face, min_score: float = 0.95) -> bool:
    """Whether a detection looks like a face, not a caption, a hand or a pattern MTCNN liked.

    MTCNN's score must be at least ``min_score``, and its five landmarks must sit as on a face:
    in the frame of the eye line (roll removed), both mouth corners below the nose and the nose
    below the eyes, the eyes side by side with the nose between them, and the eye distance
    between 20 % and 75 % of the box width.
    """
    if face.score < min_score:
        return False
    lm = np.asarray(face.landmarks, dtype=np.float64)
    le, re, nose, ml, mr = lm
    d = re - le
    iod = float(np.hypot(*d))
    width = face.width
    if not (width > 0 and 0.2 <= iod / width <= 0.75):
        return False
    c, s_ = d / iod
    rot = np.array([[c, s_], [-s_, c]])  # rotates the eye line onto the x axis
    p = (lm - (le + re) / 2) @ rot.T
    eyes_y, nose_y, mouth_y = p[0, 1], p[2, 1], min(p[3, 1], p[4, 1])
    return bool(p[0, 0] < p[2, 0] < p[1, 0] and nose_y > eyes_y + 0.1 * iod and mouth_y > nose_y + 0.05 * iod)


def _cnn_frames(cfg: DetectConfig, frame_count: int) -> Callable[[int], bool]:
    """Which frames the CNN scores: every ``stride``-th, or ``frames`` evenly spaced."""
    if cfg.frames is None or frame_count <= 0:
        return lambda i: i % cfg.stride == 0
    n = min(cfg.frames, frame_count)
    chosen = set(np.linspace(0, frame_count - 1, n).round().astype(int).tolist())
    return chosen.__contains__


class _TrackState:
    """What the pipeline keeps per track while the video streams (small, bounded)."""

    def __init__(self, track: int, top_k: int) -> None:
        self.track = track
        self.first = self.last = -1
        self.frames = 0
        self.probs: list[float] = []
        self.top: list[tuple[float, int, int, np.ndarray]] = []  # min-heap of (p, frame, tiebreak, crop)
        self.top_k = top_k
        self.widths: list[float] = []
        self.checked = self.implausible = 0

    def seen(self, index: int, face: Face | None = None) -> None:
        self.first = index if self.first < 0 else self.first
        self.last = index
        self.frames += 1
        if face is not None:
            self.widths.append(face.width)

    def check(self, face: Face) -> bool:
        """Count a detection the CNN would score; False (and not scored) when it is not face-like."""
        ok = plausible_face(face)
        self.checked += 1
        self.implausible += not ok
        return ok

    @property
    def face_size(self) -> float:
        return float(np.median(self.widths)) if self.widths else float("nan")

    @property
    def plausible(self) -> float:
        return 1.0 - self.implausible / self.checked if self.checked else 1.0

    def scored(self, index: int, p: float, crop: np.ndarray) -> None:
        self.probs.append(p)
        item = (p, index, len(self.probs), crop)
        if len(self.top) < self.top_k:
            heapq.heappush(self.top, item)
        elif p > self.top[0][0]:
            heapq.heapreplace(self.top, item)


@dataclass(frozen=True)
class _CnnScore:
    """The CNN's fake probability for one face crop: track ``track`` in frame ``frame``."""

    frame: int
    track: int
    p: float
    crop: np.ndarray


class _CnnBatcher:
    """Collect crops across frames and score them a batch at a time; the scores go back to the caller."""

    def __init__(self, classifier: CropClassifier, batch_size: int) -> None:
        self.classifier, self.batch_size = classifier, batch_size
        self.pending: list[tuple[int, int, np.ndarray]] = []
        self.seconds = 0.0

    def add(self, frame: np.ndarray, index: int, faces: list[tuple[int, Face]]) -> list[_CnnScore]:
        """Crop ``faces`` (track id, face) of frame ``index``; the scores of a batch once one is full, else []."""
        t0 = time.perf_counter()
        for tid, face in faces:
            self.pending.append((index, tid, face_crop(frame, face.landmarks, self.classifier.spec).crop))
        self.seconds += time.perf_counter() - t0
        return self.flush() if len(self.pending) >= self.batch_size else []

    def flush(self) -> list[_CnnScore]:
        """The scores of the crops still pending."""
        if not self.pending:
            return []
        t0 = time.perf_counter()
        probs = self.classifier.predict([c for _, _, c in self.pending], batch_size=self.batch_size)
        scores = [_CnnScore(index, tid, float(p), crop) for (index, tid, crop), p in zip(self.pending, probs)]
        self.pending.clear()
        self.seconds += time.perf_counter() - t0
        return scores


def _keep_scores(scores: list[_CnnScore], states: dict[int, _TrackState],
                 records: dict[tuple[int, int], FrameRecord]) -> None:
    """File the CNN's scores with their tracks (top-k crops) and frame records."""
    for s in scores:
        states[s.track].scored(s.frame, s.p, s.crop)
        records[(s.frame, s.track)].cnn = s.p


def _timed(it: Iterator[Any], timings: dict[str, float], key: str) -> Iterator[Any]:
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        yield item


def _suspicious(state: _TrackState, classifier: CropClassifier, gradcam: bool, timings: dict[str, float]) -> list[SuspiciousFrame]:
    out = []
    for p, index, _, crop in sorted(state.top, key=lambda t: -t[0]):
        t0 = time.perf_counter()
        cam = classifier.gradcam(crop) if gradcam else None
        timings["gradcam"] = timings.get("gradcam", 0.0) + time.perf_counter() - t0
        out.append(SuspiciousFrame(frame=index, track=state.track, cnn=p, crop=crop, cam=cam))
    return out


def _cnn_signal(state: _TrackState, classifier: CropClassifier | None, skipped: str | None, how: str = "mean") -> SignalResult:
    if classifier is None:
        return SignalResult(ran=False, skipped_reason=skipped or NO_CNN_HINT)
    if not state.probs:
        if state.checked:
            return SignalResult(ran=False, skipped_reason="the detections of this track do not look like a face "
                                                          "(low detector score or landmarks out of place)")
        return SignalResult(ran=False, skipped_reason="no frame of this track was chosen for the CNN "
                                                      "(use a smaller --stride or --frames)")
    p = track_cnn_probability(state.probs, classifier.threshold, how)
    return SignalResult(ran=True, probability=p, details={
        "threshold": round(float(classifier.threshold), 4), "frames_scored": len(state.probs),
        "raw_mean": round(float(np.mean(state.probs)), 4), "raw_max": round(float(np.max(state.probs)), 4),
        "aggregate": how})


def _motion_signal(seq: MotionSequence | None, scorer: MotionScorer | None, cfg: DetectConfig, skipped: str | None
                   ) -> tuple[SignalResult, list[WindowScore]]:
    from facelab.detector.landmark_motion import aggregate, window_features

    if scorer is None:
        return SignalResult(ran=False, skipped_reason=skipped or "landmark-motion check switched off"), []
    if seq is None:
        return SignalResult(ran=False, skipped_reason="no landmarks were detected for this track"), []
    wf = window_features(seq, window=cfg.window, stride=cfg.stride_windows)
    if len(wf.spans) == 0:
        return SignalResult(ran=False, skipped_reason=f"track too short for a {cfg.window}-frame window"), []
    probs = np.asarray(scorer.score(wf.X), dtype=np.float64)
    centred = [recentre(p, scorer.threshold) for p in probs]
    windows = [WindowScore(track=seq.track, start=int(s), end=int(e), score=float(c),
                           features={n: float(v) for n, v in zip(wf.names, row)})
               for (s, e), c, row in zip(wf.spans, centred, wf.X)]
    p = float(aggregate(np.asarray(centred)))
    return SignalResult(ran=True, probability=p, details={
        "windows": len(windows), "scorer": scorer.kind, "threshold": round(float(scorer.threshold), 4)}), windows


def _nearest_window(windows: list[WindowScore], index: int) -> float | None:
    inside = [w for w in windows if w.start <= index < w.end]
    if not inside:
        return None
    return min(inside, key=lambda w: abs((w.start + w.end) / 2 - index)).score


def cnn_batch_size(cfg: DetectConfig, classifier: CropClassifier) -> int:
    """``cfg.batch_size``, or 32 on CUDA and 8 on the CPU (best of 4 runs on the 2-core CPU of
    docs/benchmarks.md, ms per 224 px crop: batch 1: 23.0, 2: 18.0, 4: 15.4, 8: 15.5, 16: 21.3,
    32: 33.5)."""
    if cfg.batch_size is not None:
        return cfg.batch_size
    return 32 if getattr(getattr(classifier, "device", None), "type", None) == "cuda" else 8


def make_detector(cfg: DetectConfig, device: str = "auto") -> FaceDetector:
    """The face detector ``facelab detect`` uses: MTCNN whose pyramid starts at ``cfg.min_size``."""
    from facelab.faces.detect import FaceDetector

    return FaceDetector(device=device, min_face_size=max(12, round(cfg.min_size)))


def detect_file(path: str | Path, cfg: DetectConfig, *, detector: FaceFinder, classifier: CropClassifier | None = None,
                scorer: MotionScorer | None = None, cnn_skipped: str | None = None, motion_skipped: str | None = None,
                on_frame: Callable[[int, int], None] | None = None, fingerprint: Fingerprint | None = None) -> MediaResult:
    """Run the detectors on one photo or video.

    Args:
        detector: a :class:`~facelab.faces.detect.FaceDetector` (:func:`make_detector`).
        classifier: a :class:`~facelab.detector.cnn.FakeClassifier`, or None (CNN skipped).
        scorer: a :class:`~facelab.detector.landmark_motion.LandmarkScorer`, or None.
        cnn_skipped, motion_skipped: why a missing signal is missing (shown in the report).
        on_frame: progress callback ``(frames done, total or 0)``.
        fingerprint: a person's motion fingerprint to score each video track against.

    Raises:
        InputError: the file cannot be read.
    """
    path = Path(path)
    if is_image(path) or is_video(path):
        # 0. what the file declares, read first (a missing file fails in the analysis, with its message)
        creds = read_credentials(path) if cfg.provenance and path.is_file() else None
        if is_image(path):
            result = _detect_image(path, cfg, detector, classifier, cnn_skipped, on_frame)
        else:
            result = _detect_video(path, cfg, detector, classifier, scorer, cnn_skipped, motion_skipped, on_frame,
                                   fingerprint)
        if creds is not None:
            result.provenance = creds
            result.verdict, result.reasons = fuse_declaration(result.verdict, result.reasons, creds)
        return result
    if not path.exists():
        raise InputError(path, "no such file or folder")
    raise InputError(path, "not an image or video by its extension")


def _detect_image(path: Path, cfg: DetectConfig, detector: FaceFinder, classifier: CropClassifier | None, cnn_skipped: str | None,
                  on_frame: Callable[[int, int], None] | None = None) -> MediaResult:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    image = read_image(path)
    timings["decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    faces = [f for f in detector.detect(image) if f.width >= cfg.min_size]
    if on_frame is not None:
        on_frame(1, 1)
    timings["detect"] = time.perf_counter() - t0
    states = {i: _TrackState(i, cfg.top_k) for i in range(len(faces))}
    records = {(0, i): FrameRecord(frame=0, time=None, track=i, box=[float(v) for v in f.box], detected=True)
               for i, f in enumerate(faces)}
    for i, f in enumerate(faces):
        states[i].seen(0, f)
    if classifier is not None and faces:
        batcher = _CnnBatcher(classifier, cnn_batch_size(cfg, classifier))
        _keep_scores(batcher.add(image, 0, [(i, f) for i, f in enumerate(faces) if states[i].check(f)]), states, records)
        _keep_scores(batcher.flush(), states, records)
        timings["cnn"] = batcher.seconds
    motion = SignalResult(ran=False, skipped_reason="photos have no motion: the landmark check needs a video")
    tracks = []
    for i, st in states.items():
        cnn = _cnn_signal(st, classifier, cnn_skipped, cfg.fusion.aggregate)
        p, verdict, reasons = fuse_track(cnn, motion, cfg.fusion, cnn_frames=len(st.probs))
        if cnn.ran and verdict == "UNCERTAIN" and p is not None and abs(p - 0.5) > cfg.fusion.band:
            # one photo is all the evidence a photo has: do not demand min_cnn_frames of it
            verdict = "FAKE" if p > 0.5 else "REAL"
            reasons = [r for r in reasons if not r.startswith("too little evidence")]
        tracks.append(TrackResult(
            track=i, first_frame=0, last_frame=0, frames=1, cnn=cnn, motion=motion, fake_probability=p if p is not None else float("nan"),
            verdict=verdict, reasons=reasons, face_size=st.face_size, plausible=st.plausible,
            suspicious=_suspicious(st, classifier, cfg.gradcam, timings) if classifier is not None else []))
    return _media(path, "image", cfg, tracks, list(records.values()), classifier, cnn_skipped, motion,
                  frames_total=1, frames_analysed=1, frames_with_face=1 if faces else 0,
                  width=image.shape[1], height=image.shape[0], fps=None, timings=timings)


def _detect_video(path: Path, cfg: DetectConfig, detector: FaceFinder, classifier: CropClassifier | None,
                  scorer: MotionScorer | None,
                  cnn_skipped: str | None, motion_skipped: str | None,
                  on_frame: Callable[[int, int], None] | None, fingerprint: Fingerprint | None = None) -> MediaResult:
    from facelab.detector import classic
    from facelab.detector.landmark_motion import MotionExtractor

    timings: dict[str, float] = {}
    reader = VideoReader(path, on_damage="fail" if cfg.on_damage == "fail" else "skip")
    info = reader.info
    fps = float(info.fps) if info.fps else None
    tracker = FaceTracker(detector, detect_every=cfg.detect_every, fps=fps or 30.0, min_size=cfg.min_size,
                          refine=cfg.refine and cfg.detect_every > 1)
    extractor = MotionExtractor(fps) if scorer is not None else None
    states: dict[int, _TrackState] = {}
    records: dict[tuple[int, int], FrameRecord] = {}
    batcher = _CnnBatcher(classifier, cnn_batch_size(cfg, classifier)) if classifier is not None else None
    use_cnn = _cnn_frames(cfg, info.frame_count)
    analysed = with_face = 0
    t_start = time.perf_counter()
    checks = classic.start(path, fps, lip_sync_on=cfg.lip_sync, fingerprint=fingerprint)  # lip sync, fingerprint
    with reader:
        # "decode": time spent waiting for the decoder thread, which runs up to 4 frames ahead
        slot = -1
        for index, t_frame, frame in _timed(prefetch(reader.timed_frames()), timings, "decode"):
            t0 = time.perf_counter()
            tracked = tracker.update(frame)
            timings["detect_track"] = timings.get("detect_track", 0.0) + time.perf_counter() - t0
            analysed += 1
            with_face += bool(tracked)
            for tf in tracked:
                states.setdefault(tf.track_id, _TrackState(tf.track_id, cfg.top_k)).seen(index, tf.raw)
                records[(index, tf.track_id)] = FrameRecord(
                    frame=index, time=t_frame, track=tf.track_id,
                    box=[float(v) for v in tf.raw.box], detected=tf.detected)
            if extractor is not None:
                t0 = time.perf_counter()
                extractor.update(index, frame, [(tf.track_id, tf.raw, tf.detected) for tf in tracked])
                timings["motion"] = timings.get("motion", 0.0) + time.perf_counter() - t0
            if checks.collector is not None:
                t0 = time.perf_counter()
                # the frame's slot on the input's timeline (index / fps is its time for the audio):
                # frames lost to damage must not shift the mouth against the sound
                slot = max(slot + 1, int(round(t_frame * fps))) if fps else index
                checks.collector.update(slot, frame, [(tf.track_id, tf.raw, tf.detected) for tf in tracked])
                timings["classic"] = timings.get("classic", 0.0) + time.perf_counter() - t0
            if batcher is not None and tracked and use_cnn(index):
                to_score = [(tf.track_id, tf.raw) for tf in tracked if states[tf.track_id].check(tf.raw)]
                _keep_scores(batcher.add(frame, index, to_score), states, records)
            if on_frame is not None:
                on_frame(analysed, info.frame_count)
        if batcher is not None:
            _keep_scores(batcher.flush(), states, records)
            timings["cnn"] = batcher.seconds
    if analysed == 0:
        raise InputError(path, "no frame could be decoded")
    damage = reader.damage
    warnings = [f"{damage.describe()}; {analysed} frames were analysed"] if damage.damaged else []

    t0 = time.perf_counter()
    sequences = extractor.sequences() if extractor is not None else {}
    tracks: list[TrackResult] = []
    for tid, st in sorted(states.items()):
        seq = sequences.get(tid)
        motion, windows = _motion_signal(seq, scorer, cfg, motion_skipped)
        cnn = _cnn_signal(st, classifier, cnn_skipped, cfg.fusion.aggregate)
        top = [i for _, i, _, _ in sorted(st.top, key=lambda t: -t[0])]
        lips, fp_sig, lip_frames = classic.track_signals(checks, tid)
        p, verdict, reasons = fuse_track(cnn, motion, cfg.fusion, cnn_frames=len(st.probs), top_frames=top,
                                         motion_windows=[(w.start, w.end, w.score) for w in windows],
                                         lip_sync=lips, fingerprint=fp_sig)
        for (index, t), rec in records.items():
            if t == tid and windows:
                rec.motion = _nearest_window(windows, index)
            if t == tid and lip_frames:
                rec.lip_sync = lip_frames.get(index)
        tracks.append(TrackResult(
            track=tid, first_frame=st.first, last_frame=st.last, frames=st.frames, cnn=cnn, motion=motion,
            fake_probability=p if p is not None else float("nan"), verdict=verdict, reasons=reasons,
            windows=windows, face_size=st.face_size, plausible=st.plausible,
            suspicious=_suspicious(st, classifier, cfg.gradcam, timings) if classifier is not None else [],
            landmark_frames=None if seq is None else seq.frames,
            landmarks=None if seq is None else seq.landmarks, lip_sync=lips, fingerprint=fp_sig))
    timings["score_fuse"] = time.perf_counter() - t0 - timings.get("gradcam", 0.0)
    timings["total"] = time.perf_counter() - t_start
    media_motion = _media_signal([t.motion for t in tracks], motion_skipped if scorer is None else None,
                                 "landmark-motion check switched off")
    result = _media(path, "video", cfg, tracks, sorted(records.values(), key=lambda r: (r.frame, r.track)),
                    classifier, cnn_skipped, media_motion, frames_total=info.frame_count or analysed,
                    frames_analysed=analysed, frames_with_face=with_face, width=info.width, height=info.height,
                    fps=fps, timings=timings, warnings=warnings, damage=damage.to_json())
    result.lip_sync, result.fingerprint = classic.media_signals([t.lip_sync for t in tracks],
                                                                [t.fingerprint for t in tracks])
    return result


def _media_signal(signals: list[SignalResult], skipped: str | None, default: str) -> SignalResult:
    ran = [s for s in signals if s.ran and s.probability is not None]
    if ran:
        return SignalResult(ran=True, probability=max(s.probability for s in ran),  # type: ignore[type-var]
                            details={"tracks_scored": len(ran)})
    reason = skipped or next((s.skipped_reason for s in signals if s.skipped_reason), None) or default
    return SignalResult(ran=False, skipped_reason=reason)


def _media(path: Path, kind: str, cfg: DetectConfig, tracks: list[TrackResult], frames: list[FrameRecord],
           classifier: CropClassifier | None, cnn_skipped: str | None, motion: SignalResult, *, frames_total: int,
           frames_analysed: int, frames_with_face: int, width: int, height: int, fps: float | None,
           timings: dict[str, float], warnings: list[str] | None = None,
           damage: dict[str, Any] | None = None) -> MediaResult:
    p, verdict, reasons = fuse_media(tracks, cfg.fusion)
    cnn = _media_signal([t.cnn for t in tracks], None if classifier is not None else (cnn_skipped or NO_CNN_HINT),
                        NO_CNN_HINT if classifier is None else "no face was scored")
    if classifier is not None and cnn.ran:
        cnn.details.update(classifier.describe())
    return MediaResult(
        path=str(path), kind=kind, verdict=verdict, fake_probability=p, reasons=reasons, cnn=cnn, motion=motion,
        face_found_rate=frames_with_face / max(frames_analysed, 1), frames_total=frames_total,
        frames_analysed=frames_analysed, width=int(width), height=int(height), fps=fps, tracks=tracks,
        frames=frames, warnings=list(warnings or []), settings=cfg.to_dict(), timings=timings, damage=damage)


def detect_files(paths: Iterable[Path], cfg: DetectConfig, *, detector: FaceFinder,
                 classifier: CropClassifier | None = None, scorer: MotionScorer | None = None,
                 cnn_skipped: str | None = None, motion_skipped: str | None = None,
                 on_file: Callable[[Path], None] | None = None,
                 on_frame: Callable[[int, int], None] | None = None,
                 fingerprint: Fingerprint | None = None) -> Iterator[MediaResult]:
    """Detect on many files; a file that fails yields a result with ``error`` set and the rest go on."""
    for p in paths:
        if on_file is not None:
            on_file(p)
        try:
            yield detect_file(p, cfg, detector=detector, classifier=classifier, scorer=scorer,
                              cnn_skipped=cnn_skipped, motion_skipped=motion_skipped, on_frame=on_frame,
                              fingerprint=fingerprint)
        except Exception as exc:  # one bad file must not stop the batch (as_item_error logs bugs)
            exc = as_item_error(p, exc)
            log.debug("detect failed on %s", p, exc_info=True)
            yield MediaResult(path=str(p), kind="image" if is_image(p) else "video", verdict="UNCERTAIN",
                              fake_probability=None, reasons=[], cnn=SignalResult(ran=False), motion=SignalResult(ran=False),
                              face_found_rate=0.0, frames_total=0, frames_analysed=0, width=0, height=0,
                              settings=cfg.to_dict(), error=str(exc))

"""Step 7 of ``facelab fakes``: the motion clip of a video, tracked as it is and once per method swapped.

See the package docstring (:mod:`facelab.detector.fakes`) for the rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from facelab.detector.dataset import MotionRow
from facelab.detector.fakes.frames import MATCH_IOU, Context, Writer, item_rng, pick_donor, quality_settings
from facelab.detector.fakes.records import Scan, crop_sightings
from facelab.detector.landmark_motion import MotionExtractor
from facelab.faces.track import FaceTracker, TrackedFace, box_iou
from facelab.swap.oneshot import FaceSource, SwapSettings, swap_face

__all__ = ["Motion"]

log = logging.getLogger(__name__)

_MIN_MOTION = 16


@dataclass
class Clip:
    """The motion clip manipulated by one method: every kept track swapped, each with its own donor."""

    method: str
    swaps: dict[int, tuple[str, FaceSource, SwapSettings]]  # scan track -> (donor, source, settings)
    tracker: FaceTracker
    extractor: MotionExtractor
    started: bool = False
    target_frames: dict[int, int] = field(default_factory=dict)
    overlap: dict[int, dict[int, float]] = field(default_factory=dict)  # target -> fake track -> summed IoU

    def frame(self, index: int, frame: np.ndarray, targets: dict[int, TrackedFace]) -> None:
        """Swap the targets (at smoothed landmarks, as `facelab swap` does), then track as the detector would."""
        targets = {t: tf for t, tf in targets.items() if t in self.swaps}
        if not targets and not self.started:
            return
        self.started, fake = True, frame
        for tid, tf in targets.items():
            _, source, settings = self.swaps[tid]
            try:
                fake, _ = swap_face(fake, tf.face.landmarks, source, settings)
            except cv2.error:
                log.debug("frame %d track %d: swap failed, the clip shows the real face there", index, tid)
        tracked = self.tracker.update(fake)
        self.extractor.update(index, fake, [(tf.track_id, tf.raw, tf.detected) for tf in tracked])
        for tid, target in targets.items():
            self.target_frames[tid] = self.target_frames.get(tid, 0) + 1
            if tracked:
                iou = box_iou(np.asarray(target.raw.box)[None], np.stack([tf.raw.box for tf in tracked]))[0]
                acc = self.overlap.setdefault(tid, {})
                for tf, v in zip(tracked, iou):
                    acc[tf.track_id] = acc.get(tf.track_id, 0.0) + float(v)

    def matches(self) -> dict[int, int]:
        """target track -> the fake track that follows it (most overlap, each fake track used once)."""
        pairs = sorted(((v, t, f) for t, acc in self.overlap.items() for f, v in acc.items()), reverse=True)
        out: dict[int, int] = {}
        for v, t, f in pairs:
            if t not in out and f not in out.values() and v >= MATCH_IOU * self.target_frames[t]:
                out[t] = f
        return out


class Motion:
    """The motion clip of one video, tracked as it is and once per method with every kept face swapped."""

    def __init__(self, scan: Scan, ctx: Context) -> None:
        self.scan, self.ctx = scan, ctx
        fps = scan.fps or 30.0
        self.tracker = FaceTracker(ctx.detector, detect_every=1, min_size=ctx.cfg.min_size, fps=fps)
        self.extractor = MotionExtractor(scan.fps)
        self.mapped: dict[int, int] = {}  # this tracker's id -> the scan's track id
        self.at = {(s.frame, t): s for t in scan.identity for s in crop_sightings(scan, t)}
        self.clips: list[Clip] = []
        for slot, method in enumerate(ctx.methods, start=1):
            swaps: dict[int, tuple[str, FaceSource, SwapSettings]] = {}
            for tid in sorted(scan.identity):
                identity = scan.identity[tid]
                rng = item_rng(ctx.cfg, scan.source.key, 0, tid, 100 + slot)  # 100+: clips, apart from crops
                source, donor = method.source, method.donor
                if source is None:
                    picked = pick_donor(rng, identity, ctx.splits[identity], ctx.splits, ctx.pool)
                    if picked is None:
                        continue
                    donor, source = picked
                swaps[tid] = (donor, source, quality_settings(rng, ctx.cfg, method.settings)[0])
            if swaps:
                self.clips.append(Clip(method.name, swaps, FaceTracker(
                    ctx.detector, detect_every=1, min_size=ctx.cfg.min_size, fps=fps), MotionExtractor(scan.fps)))

    def frame(self, index: int, frame: np.ndarray) -> None:
        tracked = self.tracker.update(frame)
        # raw landmarks, as the detector pipeline feeds them: smoothing would hide the jitter
        self.extractor.update(index, frame, [(tf.track_id, tf.raw, tf.detected) for tf in tracked])
        for tf in tracked:  # tie this tracker's tracks to the scan's, where the scan saw the face
            if tf.track_id in self.mapped:
                continue
            for tid in self.scan.identity:
                s = self.at.get((index, tid))
                if s is not None and tid not in self.mapped.values() and \
                        box_iou(np.asarray(tf.raw.box)[None], np.asarray(s.face.box)[None])[0, 0] >= 0.5:
                    self.mapped[tf.track_id] = tid
                    break
        targets = {self.mapped[tf.track_id]: tf for tf in tracked if tf.track_id in self.mapped}
        for clip in self.clips:
            clip.frame(index, frame, targets)

    def write(self, w: Writer) -> None:
        scan, key, src = self.scan, self.scan.source.key, str(self.scan.source.path)
        shortest = min(_MIN_MOTION, self.ctx.cfg.motion_frames)
        real = self.extractor.sequences()
        for mid, tid in sorted(self.mapped.items(), key=lambda m: m[1]):
            identity = scan.identity[tid]
            if len(real[mid]) < shortest:
                w.skip("real motion clip too short")
                continue
            rel = f"motion/{key}_t{tid:02d}_real.npz"
            w.sequence(rel, real[mid], MotionRow(rel, "real", self.ctx.splits[identity], identity, src, tid, "real"))
        for clip in self.clips:
            seqs, matches = clip.extractor.sequences(), clip.matches()
            for tid in sorted(t for t in clip.swaps if clip.target_frames.get(t)):
                identity = scan.identity[tid]
                if tid not in matches or len(seqs[matches[tid]]) < shortest:
                    w.skip(f"{clip.method} motion clip not tracked by the detector")
                    continue
                rel = f"motion/{key}_t{tid:02d}_{clip.method}.npz"
                w.sequence(rel, seqs[matches[tid]], MotionRow(rel, "fake", self.ctx.splits[identity], identity, src,
                                                              tid, clip.method, clip.swaps[tid][0]))

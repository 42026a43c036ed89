"""Steps 5 and 6 of ``facelab fakes`` (pass 2): the real crop and one fake per method of each chosen face.

Also what the fakes of a source share: its seeded random numbers (:func:`item_rng`), the quality
settings drawn per fake, the one-shot donor pool, and the writer of its crops.
"""

from __future__ import annotations

import io
import json
import logging
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
from PIL import Image

from facelab.detector.crops import CROP, face_crop
from facelab.detector.dataset import CropRow, MotionRow
from facelab.detector.fakes.config import FakesConfig, FakesSummary
from facelab.detector.fakes.records import Method, Scan, Sighting, Source, crop_sightings
from facelab.detector.fakes.state import WorkFolder
from facelab.faces.blend import BlendMode
from facelab.faces.color import ColorMethod
from facelab.faces.detect import Face
from facelab.faces.track import box_iou
from facelab.io.image import write_image
from facelab.swap.oneshot import OneShotSource, SwapSettings, swap_face

__all__ = ["MATCH_IOU", "Context", "DonorPool", "Writer", "crop_items", "fakes_for_frame", "item_rng", "pick_donor",
           "quality_settings"]

log = logging.getLogger(__name__)

_COLORS = ("reinhard", "hist", "none")
_BLENDS = ("alpha", "poisson")
#: a re-detected face continues the target when its box overlaps this much
MATCH_IOU = 0.3


def item_rng(cfg: FakesConfig, key: str, frame: int, track: int, slot: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, zlib.crc32(key.encode()), frame, track, slot])


def _jpeg_quality(rng: np.random.Generator, cfg: FakesConfig) -> int | None:
    if rng.random() >= cfg.jpeg_share:
        return None
    return int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))


def _jpeg(frame: np.ndarray, quality: int | None) -> np.ndarray:
    """The frame after a JPEG round trip (4:2:0, like most cameras and platforms), or itself."""
    if quality is None:
        return frame
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def quality_settings(rng: np.random.Generator, cfg: FakesConfig, settings: SwapSettings) -> tuple[SwapSettings, dict[str, Any]]:
    feather = round(float(rng.uniform(*cfg.feather)), 4)
    color = cast(ColorMethod, str(rng.choice(_COLORS)))
    blend = cast(BlendMode, str(rng.choice(_BLENDS)))
    return (replace(settings, feather=feather, color=color, blend=blend),
            {"feather": feather, "color": color, "blend": blend})


def redetect(detector: Any, frame: np.ndarray, box: np.ndarray) -> Face | None:
    """The face in ``frame`` that overlaps ``box`` most (IoU >= 0.3), as the detector would find it."""
    faces = detector.detect(frame)
    if not faces:
        return None
    iou = box_iou(np.asarray(box)[None], np.stack([f.box for f in faces]))[0]
    best = int(np.argmax(iou))
    return faces[best] if iou[best] >= MATCH_IOU else None


def pick_donor(rng: np.random.Generator, identity: str, split: str, splits: dict[str, str],
                pool: DonorPool) -> tuple[str, OneShotSource] | None:
    others = sorted(n for n, s in splits.items() if s == split and n != identity and pool.count(n))
    if not others:
        return None
    donor = others[int(rng.integers(len(others)))]
    faces = pool[donor]
    return donor, faces[int(rng.integers(len(faces)))]


class Writer:
    """Crops of one source into the temporary data set; forgets them all if the source fails."""

    def __init__(self, root: Path, summary: FakesSummary) -> None:
        self.root, self.summary = root, summary
        self.rows: list[CropRow] = []
        self.motion: list[MotionRow] = []
        self.files: list[Path] = []

    def crop(self, rel: str, image: np.ndarray, row: CropRow) -> None:
        write_image(self.root / rel, image, overwrite=True)
        self.files.append(self.root / rel)
        self.rows.append(row)

    def sequence(self, rel: str, seq: Any, row: MotionRow) -> None:
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        seq.save(self.root / rel)
        self.files.append(self.root / rel)
        self.motion.append(row)

    def discard(self) -> None:
        for f in self.files:
            f.unlink(missing_ok=True)
        self.rows, self.motion, self.files = [], [], []

    def skip(self, reason: str) -> None:
        self.summary.skipped[reason] = self.summary.skipped.get(reason, 0) + 1


def crop_items(scan: Scan, cfg: FakesConfig) -> dict[int, list[tuple[int, Sighting]]]:
    """frame -> [(track, sighting)]: each kept track's sampled detections, at most max_frames, spread."""
    by_frame: dict[int, list[tuple[int, Sighting]]] = {}
    for tid in sorted(scan.identity):
        cands = crop_sightings(scan, tid)
        if len(cands) > cfg.max_frames:
            cands = [cands[i] for i in np.unique(np.linspace(0, len(cands) - 1, cfg.max_frames).round().astype(int))]
        for s in cands:
            by_frame.setdefault(s.frame, []).append((tid, s))
    return by_frame


def fakes_for_frame(frame: np.ndarray, items: list[tuple[int, Sighting]], scan: Scan, ctx: Context,
                     w: Writer) -> None:
    """The real crop and one fake per method for every chosen face of this frame."""
    cfg, key, src = ctx.cfg, scan.source.key, str(scan.source.path)
    for tid, s in items:
        identity = scan.identity[tid]
        split = ctx.splits[identity]
        stem = f"{identity}/{key}_f{s.frame:06d}_t{tid:02d}"
        # real: the same JPEG distribution as the fakes; re-detected when re-encoded
        q = _jpeg_quality(item_rng(cfg, key, s.frame, tid, 0), cfg)
        real = _jpeg(frame, q)
        face = s.face if q is None else redetect(ctx.detector, real, s.face.box)
        if face is None:
            w.skip("real face not found after JPEG re-encode")
        else:
            w.crop(f"crops/real/{stem}.png", face_crop(real, face.landmarks, CROP).crop,
                   CropRow(f"crops/real/{stem}.png", "real", split, identity, src, s.frame, tid, "real",
                           params=json.dumps({"jpeg": q})))
        for slot, method in enumerate(ctx.methods, start=1):
            rng = item_rng(cfg, key, s.frame, tid, slot)
            source, donor = method.source, method.donor
            if source is None:
                picked = pick_donor(rng, identity, split, ctx.splits, ctx.pool)
                if picked is None:
                    w.skip("no other identity in the split for a one-shot donor")
                    continue
                donor, source = picked
            settings, params = quality_settings(rng, cfg, method.settings)
            params["jpeg"] = q_fake = _jpeg_quality(rng, cfg)
            try:
                fake, _ = swap_face(frame, s.face.landmarks, source, settings)
            except cv2.error as exc:  # e.g. a degenerate Poisson region at the frame's edge
                log.info("%s frame %d track %d: %s swap failed (%s)", src, s.frame, tid, method.name, exc)
                w.skip(f"{method.name} swap failed")
                continue
            fake = _jpeg(fake, q_fake)
            found = redetect(ctx.detector, fake, s.face.box)
            if found is None:
                w.skip(f"{method.name} fake not found again by the detector")
                continue
            rel = f"crops/fake/{stem}_{method.name}.png"
            w.crop(rel, face_crop(fake, found.landmarks, CROP).crop,
                   CropRow(rel, "fake", split, identity, src, s.frame, tid, method.name, donor,
                           json.dumps(params, sort_keys=True)))


@dataclass
class Context:
    cfg: FakesConfig
    detector: Any
    methods: list[Method]
    splits: dict[str, str]
    pool: DonorPool


class DonorPool:
    """identity -> its one-shot faces, best first per source (folder mode: from every source of the person).

    The aligned faces stay in the work folder and are read when an identity is drawn as a donor,
    keeping the last ``cache`` identities: memory does not grow with the number of identities.
    """

    def __init__(self, scans: list[Scan], work: WorkFolder, cache: int = 32) -> None:
        self.work, self.cache = work, cache
        # identity -> [(source, track, [(position in the saved list, frame)], best first)]
        self.entries: dict[str, list[tuple[Source, int, list[tuple[int, int]]]]] = {}
        for scan in scans:
            for tid, name in scan.identity.items():
                order = sorted(enumerate(scan.donors[tid]), key=lambda d: -d[1][0])
                self.entries.setdefault(name, []).append((scan.source, tid, [(k, d[1]) for k, d in order]))
        self._loaded: dict[str, list[OneShotSource]] = {}

    def count(self, name: str) -> int:
        return sum(len(order) for _, _, order in self.entries.get(name, []))

    def __getitem__(self, name: str) -> list[OneShotSource]:
        faces = self._loaded.pop(name, None)
        if faces is None:
            faces = []
            for source, tid, order in self.entries[name]:
                aligned = self.work.load_donors(source.key, tid)
                faces.extend(OneShotSource(aligned=aligned[k], path=f"{source.path}#frame{i}") for k, i in order)
        self._loaded[name] = faces  # most recently used last
        while len(self._loaded) > self.cache:
            del self._loaded[next(iter(self._loaded))]
        return faces

"""Build a labelled real/fake face-crop data set from real footage with facelab's own swaps.

    summary = build_fakes(["talks/", "alice.mp4"], "data/fakes", FakesConfig(every=10, max_frames=16))
    summary.counts["train"]["fake"]["oneshot"], summary.failures

The output is the data set of :mod:`facelab.detector.dataset` (``dataset.json``,
``manifest.csv``, ``crops/{real,fake}/<identity>/``, ``motion.csv``, ``motion/``). Steps:

1. **Plan**: each video or photo named, and each one found (recursively) in a named folder, is
   one source. A source that cannot be read is reported in ``failures`` and skipped; the rest
   goes on.
2. **Scan** (pass 1): faces are detected and tracked (:class:`~facelab.faces.track.FaceTracker`,
   MTCNN on every sampled frame ``0, every, 2 * every, ...``; a track ends after two misses). A
   video's track needs ``min_track`` detections (fewer: a false positive or a passer-by). The
   ``donors`` best faces of each track (large, frontal by the nose's offset from the eye
   midline) are kept as one-shot sources.
3. **Identities**: ``identity="track"`` (default): one per (source, track): ``<stem>`` when the
   source has one face track, else ``<stem>#t<track>`` (for a photo the track is the face index).
   ``identity="folder"``: the source's parent folder names the person; only the main face of
   each source is used (a photo's largest face, a video's longest track), since the others are
   probably someone else. The same person in two sources is two identities in track mode: put
   each person's media in a folder of their own and use folder mode when that matters.
4. **Split** by identity, seeded: ``round(val_fraction * n)`` identities go to ``val``, at least
   one; from four identities on, each split gets at least two, so every identity has a donor in
   its own split. A one-shot fake's donor is another identity **of the same split**, so no face
   seen in training, as target or as donor, is in validation. Fewer than two identities is an
   error; with two or three, one split has a single identity and gets no one-shot fakes (a
   warning; an error when that leaves no fake at all). A ``shard`` run (``--shard I/N``, which
   sees only its share of the inputs) splits each identity by a hash of its name instead, so all
   shards agree, and draws donors among its own identities (:mod:`facelab.detector.fakes_merge`).
5. **Fakes** (pass 2): for each track, ``max_frames`` sampled frames with a detection (evenly
   spread). Per frame the real crop and, per method, one manipulated frame (only the target face
   changes): ``oneshot`` (a face of a random same-split donor), ``learned`` (a ``facelab train
   swap`` run, :func:`~facelab.swap.learned.load_swap_model`), ``translate`` (any translator
   checkpoint applied to the aligned face, blended back). Quality varies per fake, seeded by
   ``(seed, source, frame, track, method)``: mask feather uniform in ``feather``, colour
   transfer reinhard / hist / none, blend alpha / poisson, and a JPEG re-encode of the whole
   frame (probability ``jpeg_share``, quality uniform in ``jpeg_quality``). Real frames get the
   same JPEG distribution, so "recompressed" does not mean "fake". The settings are in each
   row's ``params``. Learned and translated fakes name the model as donor (``learned:<run>``):
   who the model was trained on is not known here, so train it on people of the train split.
6. **Crops** are :func:`~facelab.detector.crops.face_crop` (224 px, margin 0.3) at landmarks
   **detected on the frame the crop is cut from**: the fake frame is re-detected (as it is at test
   time, where the detector never sees the target's true landmarks; a swapped face shifts them
   a little, and cropping at the target's points would teach an alignment the detector never
   gets). A fake whose face MTCNN no longer finds where the target was (IoU < 0.3) is dropped
   and counted under ``skipped``. A re-encoded real frame is re-detected too.
7. **Motion** (videos, ``motion_frames > 0``): one clip of ``motion_frames`` consecutive frames
   per video, starting at the sampled frame that puts the most kept detections inside it. The
   clip is tracked as the detector pipeline does (MTCNN on every frame, raw landmarks into
   :class:`~facelab.detector.landmark_motion.MotionExtractor`), its tracks tied to the scan's by
   box overlap on the sampled frames. Then, once per method, the clip is manipulated, every kept
   face swapped on every frame at its smoothed landmarks (as ``facelab swap`` does), each track
   with one donor and one quality setting for the whole clip, and tracked afresh on the fake
   frames; a target's fake track is the one overlapping it most. No JPEG here: the clip is
   video, whose coding noise real and fake share. Sequences shorter than
   ``min(16, motion_frames)`` frames are left out.
8. **Write** into a hidden work folder next to ``out`` (``.<out>.work``), renamed into place at
   the end: an interrupted run leaves no half data set. An existing ``out`` needs ``overwrite``
   (and must be a data set made here, holding ``dataset.json``). The work folder also records
   progress (:mod:`facelab.detector.fakes_state`): each source's pass-1 scan and, per source,
   that pass 2 is done, so ``resume=True`` after a crash or Ctrl-C skips that work and makes the
   same data set an uninterrupted run makes. Memory: what stays in memory per source is its
   tracks' boxes and landmarks on the sampled frames and its manifest rows; frames stream, and
   the donors' aligned faces are read back from the work folder when drawn (the last 32
   identities cached), so memory does not grow with the number of files.

Cost (one CPU thread, MTCNN): about 3 crops a second on a mix of 1080p video and 1-4 MP photos
(swap, JPEG round trip and re-detection of the whole frame per fake); the motion stage adds
``1 + len(methods)`` detections per clip frame: on the shared test media (5 videos, 20 photos:
38 identities) 258 crops in 78 s, and with 90-frame clips 24 motion sequences more in 249 s.

Crop names: ``crops/<label>/<identity>/<source key>_f<frame:06d>_t<track:02d>[_<method>].png``;
motion: ``motion/<source key>_t<track:02d>_<real|method>.npz``. The source key is the file stem,
made unique across sources.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import logging
import math
import re
import shutil
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image

from facelab import __version__
from facelab.detector.crops import CROP, face_crop
from facelab.detector.dataset import MANIFEST_COLUMNS, MOTION_COLUMNS, CropRow, MotionRow, write_rows
from facelab.detector.fakes_state import WorkFolder
from facelab.detector.landmark_motion import MotionExtractor
from facelab.errors import ConfigError, FacelabError, InputError, OutputError
from facelab.faces.align import AlignedFace, align_face
from facelab.faces.detect import Face
from facelab.faces.track import FaceTracker, TrackedFace, box_iou
from facelab.io._common import folder_problem, replace_dir
from facelab.io.image import is_image, read_image, write_image
from facelab.io.video import VideoReader, is_video
from facelab.shard import Shard, input_key
from facelab.swap.oneshot import FaceSource, OneShotSource, SwapSettings, swap_face

__all__ = ["FORMAT", "METHODS", "FakesConfig", "FakesSummary", "build_fakes"]

log = logging.getLogger(__name__)

FORMAT = "facelab.fakes/1"
METHODS = ("oneshot", "learned", "translate")
_SWAP = SwapSettings()  # one-shot and translate geometry: 256 px, margin 0.2
_COLORS = ("reinhard", "hist", "none")
_BLENDS = ("alpha", "poisson")
_MATCH_IOU = 0.3  # a re-detected face continues the target when its box overlaps this much
_MIN_MOTION = 16

Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class FakesConfig:
    """Settings of :func:`build_fakes` (saved in ``dataset.json``; the module docstring has the method).

    Attributes:
        every: sample video frames ``0, every, 2 * every, ...`` for crops.
        max_frames: at most this many sampled frames per track (evenly spread).
        methods: manipulations to run; None: ``oneshot``, plus ``learned`` with ``swap_model`` and
            ``translate`` with ``translator``.
        swap_model: run folder or checkpoint of ``facelab train swap`` (method ``learned``).
        translator: translator checkpoint or run folder (method ``translate``).
        val_fraction: share of identities in the validation split.
        identity: ``track`` (one per source and face track) or ``folder`` (the parent folder).
        motion_frames: consecutive frames per video for the motion sequences; 0 skips them.
        seed: seeds the split, donors and quality settings.
        min_size: ignore faces narrower than this many pixels.
        min_track: detections on sampled frames a video track needs to count.
        donors: one-shot source faces kept per identity.
        jpeg_share: probability that a frame (real or fake) is re-encoded as JPEG.
        jpeg_quality: JPEG quality range, inclusive.
        feather: mask feather range, as a fraction of the swap crop.
        device: ``auto``, ``cpu`` or ``cuda`` for the detector and the models.
    """

    every: int = 10
    max_frames: int = 16
    methods: tuple[str, ...] | None = None
    swap_model: str | None = None
    translator: str | None = None
    val_fraction: float = 0.2
    identity: Literal["track", "folder"] = "track"
    motion_frames: int = 90
    seed: int = 0
    min_size: float = 40.0
    min_track: int = 3
    donors: int = 3
    jpeg_share: float = 0.5
    jpeg_quality: tuple[int, int] = (40, 95)
    feather: tuple[float, float] = (0.02, 0.10)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.every < 1 or self.max_frames < 1 or self.min_track < 1 or self.donors < 1:
            raise ConfigError("--every, --max-frames, min_track and donors must be at least 1")
        if self.seed < 0:
            raise ConfigError(f"--seed must be 0 or more, got {self.seed}")
        if self.motion_frames < 0:
            raise ConfigError(f"--motion-frames must be 0 (off) or more, got {self.motion_frames}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"--val-fraction must be between 0 and 1 (exclusive), got {self.val_fraction}")
        if self.identity not in ("track", "folder"):
            raise ConfigError(f"--identity must be track or folder, got {self.identity!r}")
        unknown = [m for m in (self.methods or ()) if m not in METHODS]
        if unknown or (self.methods is not None and not self.methods):
            raise ConfigError(f"unknown method {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}")
        if self.methods is not None and "learned" in self.methods and not self.swap_model:
            raise ConfigError("method learned needs --swap-model RUN (a `facelab train swap` run)")
        if self.methods is not None and "translate" in self.methods and not self.translator:
            raise ConfigError("method translate needs --translator CKPT")
        lo, hi = self.jpeg_quality
        if not 1 <= lo <= hi <= 100 or not 0.0 <= self.jpeg_share <= 1.0:
            raise ConfigError("jpeg_quality must be 1 <= lo <= hi <= 100 and jpeg_share in [0, 1]")
        if not 0.0 <= self.feather[0] <= self.feather[1] <= 0.3:
            raise ConfigError("feather must be a range inside [0, 0.3]")

    @property
    def active_methods(self) -> tuple[str, ...]:
        """The methods that run: ``methods``, or the default set for the models given."""
        if self.methods is not None:
            return tuple(m for m in METHODS if m in self.methods)
        return ("oneshot",) + (("learned",) if self.swap_model else ()) + (("translate",) if self.translator else ())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["methods"] = list(self.active_methods)
        return d


@dataclass
class FakesSummary:
    """The outcome of :func:`build_fakes`.

    Attributes:
        out: the data set folder.
        counts: crops per ``[split][label][method]`` (label ``real`` has method ``real``).
        motion: motion sequences per ``[split][label][method]``.
        identities: identity -> split.
        failures: sources that could not be read, with the reason.
        faceless: sources read fine but without a usable face (none, too small, or too short a track).
        skipped: items left out, per reason (e.g. a fake MTCNN did not find again).
        warnings: things a user should know (e.g. a split without one-shot fakes).
        seconds: wall time.
    """

    out: Path
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    motion: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    faceless: list[Path] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def total(self, label: str | None = None, split: str | None = None) -> int:
        """Crops, optionally of one label and / or split."""
        return sum(n for s, labels in self.counts.items() if split in (None, s)
                   for lab, methods in labels.items() if label in (None, lab) for n in methods.values())

    @property
    def motion_total(self) -> int:
        return sum(n for labels in self.motion.values() for methods in labels.values() for n in methods.values())


# --------------------------------------------------------------------------------------------
# typed values passed between the stages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    path: Path
    kind: Literal["video", "image"]
    key: str


@dataclass(frozen=True)
class _Sighting:
    """One face of a track in one sampled frame, as detected (or carried by flow when ``detected`` is False)."""

    frame: int
    face: Face
    detected: bool


@dataclass
class _Scan:
    """What pass 1 learnt about one source."""

    source: _Source
    fps: float | None = None
    frames: int = 1  # frames in the file
    tracks: dict[int, list[_Sighting]] = field(default_factory=dict)
    # (quality, frame, aligned face); the face is None once saved to the work folder (loaded when drawn)
    donors: dict[int, list[tuple[float, int, AlignedFace | None]]] = field(default_factory=dict)
    identity: dict[int, str] = field(default_factory=dict)  # kept tracks only
    window: tuple[int, int] | None = None  # [start, end) frames of the motion clip


@dataclass(frozen=True)
class _Method:
    name: str
    source: FaceSource | None  # None: one-shot, the source is drawn per item
    settings: SwapSettings
    donor: str = ""


# --------------------------------------------------------------------------------------------
# 1. plan
# --------------------------------------------------------------------------------------------


def _plan(inputs: Sequence[str | Path], out: Path) -> tuple[list[_Source], list[tuple[Path, str]]]:
    out_abs = out.resolve()
    found: list[tuple[Path, str]] = []
    failures: list[tuple[Path, str]] = []
    for p in (Path(x) for x in inputs):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and (is_video(f) or is_image(f))
                           and not any(part.startswith(".") for part in f.relative_to(p).parts)
                           and not f.resolve().is_relative_to(out_abs))
            if not files:
                failures.append((p, "folder holds no photos or videos"))
            found.extend((f, "video" if is_video(f) else "image") for f in files)
        elif not p.exists():
            failures.append((p, "no such file or folder"))
        elif p.resolve().is_relative_to(out_abs):
            failures.append((p, f"is inside the output folder {out}"))
        elif is_video(p) or is_image(p):
            found.append((p, "video" if is_video(p) else "image"))
        else:
            failures.append((p, "not a photo or video by its extension"))
    unique: dict[Path, tuple[Path, str]] = {}
    for path, kind in found:
        unique.setdefault(path.resolve(), (path, kind))
    stems = [p.stem for p, _ in unique.values()]
    sources: list[_Source] = []
    keys: set[str] = set()
    for path, kind in unique.values():
        # a stem two sources share (people/ann/1.jpg, people/bob/1.jpg) takes the folder's name: ann_1, bob_1
        key = _slug(path.stem if stems.count(path.stem) == 1 else f"{path.parent.name}_{path.stem}")
        base, n = key, 2
        while key in keys:
            key, n = f"{base}-{n}", n + 1
        keys.add(key)
        sources.append(_Source(path, kind, key))  # type: ignore[arg-type]
    return sources, failures


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


# --------------------------------------------------------------------------------------------
# 2. scan
# --------------------------------------------------------------------------------------------


def _frontal_quality(face: Face) -> float:
    """Face width times frontalness: 1 when the nose is on the eye midline, 0 at half the eye distance."""
    lm = face.landmarks.astype(np.float64)
    eye_vec = lm[1] - lm[0]
    eye_dist = float(np.linalg.norm(eye_vec))
    if eye_dist < 1e-6:
        return 0.0
    yaw = abs(float(np.dot(lm[2] - (lm[0] + lm[1]) / 2, eye_vec / eye_dist))) / eye_dist
    return face.width * max(0.0, 1.0 - 2.0 * yaw) * face.score


def _keep_donor(scan: _Scan, tid: int, frame: np.ndarray, index: int, face: Face, k: int) -> None:
    heap = scan.donors.setdefault(tid, [])
    q = _frontal_quality(face)
    if len(heap) >= k and q <= heap[0][0]:
        return
    item = (q, index, align_face(frame, face.landmarks, _SWAP.size, _SWAP.margin))
    (heapq.heappush if len(heap) < k else heapq.heapreplace)(heap, item)  # type: ignore[operator]


def _scan_image(src: _Source, detector: Any, cfg: FakesConfig) -> _Scan:
    image = read_image(src.path)
    scan = _Scan(src)
    faces = [f for f in detector.detect(image) if f.width >= cfg.min_size]
    for i, face in enumerate(faces[:1] if cfg.identity == "folder" else faces):
        scan.tracks[i] = [_Sighting(0, face, True)]
        _keep_donor(scan, i, image, 0, face, cfg.donors)
    return scan


def _scan_video(src: _Source, detector: Any, cfg: FakesConfig, progress: Callable[[int], None]) -> _Scan:
    scan = _Scan(src, frames=0)
    with VideoReader(src.path, every=cfg.every) as reader:
        scan.fps = float(reader.info.fps) if reader.info.fps else None
        # MTCNN on every sampled frame; a track ends after two misses (frames are `every` apart)
        tracker = FaceTracker(detector, detect_every=1, max_missing=2, min_size=cfg.min_size,
                              fps=(scan.fps or 30.0) / cfg.every)
        for index, frame in reader.frames_with_index():
            for tf in tracker.update(frame):
                scan.tracks.setdefault(tf.track_id, []).append(_Sighting(index, tf.raw, tf.detected))
                if tf.detected:
                    _keep_donor(scan, tf.track_id, frame, index, tf.raw, cfg.donors)
            progress(1)
        scan.frames = reader.frames_decoded
        if scan.frames == 0:
            raise InputError(src.path, "video has no decodable frames")
    # drop passers-by and false positives: too few detections on the sampled frames
    need = min(cfg.min_track, len(range(0, scan.frames, cfg.every)))
    for tid in list(scan.tracks):
        if len(_crop_sightings(scan, tid)) < need:
            del scan.tracks[tid]
    if cfg.identity == "folder" and len(scan.tracks) > 1:
        main = max(scan.tracks, key=lambda t: (len(_crop_sightings(scan, t)), -t))
        scan.tracks = {main: scan.tracks[main]}
    return scan


def _choose_window(scan: _Scan, cfg: FakesConfig) -> tuple[int, int] | None:
    """The motion clip: ``motion_frames`` frames from the sampled frame that covers most kept detections."""
    if scan.source.kind != "video" or not cfg.motion_frames or not scan.identity:
        return None
    hits = sorted(s.frame for t in scan.identity for s in _crop_sightings(scan, t))
    best = max(hits, key=lambda f: (sum(1 for h in hits if f <= h < f + cfg.motion_frames), -f))
    return best, min(best + cfg.motion_frames, scan.frames)


def _crop_sightings(scan: _Scan, tid: int) -> list[_Sighting]:
    return [s for s in scan.tracks.get(tid, []) if s.detected]


# --------------------------------------------------------------------------------------------
# 3.-4. identities and split
# --------------------------------------------------------------------------------------------


def _name_identities(scans: list[_Scan], cfg: FakesConfig) -> None:
    for scan in scans:
        tids = sorted(t for t in scan.tracks if scan.donors.get(t))
        for tid in tids:
            if cfg.identity == "folder":
                name = _slug(scan.source.path.resolve().parent.name)
            else:
                name = scan.source.key if len(tids) == 1 else f"{scan.source.key}#t{tid}"
            scan.identity[tid] = name


def _split(names: Sequence[str], cfg: FakesConfig) -> dict[str, str]:
    """Seeded identity split: at least one per split, at least two per split from four identities."""
    names = sorted(set(names))
    n = len(names)
    lo = 2 if n >= 4 else 1
    n_val = min(max(round(cfg.val_fraction * n), lo), n - lo)
    order = np.random.default_rng(cfg.seed).permutation(n)
    val = {names[i] for i in order[:n_val]}
    return {name: "val" if name in val else "train" for name in names}


def _hash_split(names: Sequence[str], cfg: FakesConfig) -> dict[str, str]:
    """The split of ``--shard`` runs: ``val`` when ``sha256(seed, name)``, as a number in [0, 1),
    is below ``val_fraction``. It depends on the name alone, so every shard puts an identity in
    the same split without knowing the others' (the price: no minimum count per split)."""
    out = {}
    for name in sorted(set(names)):
        u = int.from_bytes(hashlib.sha256(f"{cfg.seed}\0{name}".encode()).digest()[:8], "big") / 2.0**64
        out[name] = "val" if u < cfg.val_fraction else "train"
    return out


def _shard_sources(sources: list[_Source], failures: list[tuple[Path, str]], inputs: Sequence[str | Path],
                   cfg: FakesConfig, shard: Shard) -> tuple[list[_Source], list[tuple[Path, str]]]:
    """This shard's sources and failed inputs. Track identities: by each file's path
    (:func:`facelab.shard.input_key`); folder identities: by the person's folder name, so that
    all of a person's media are in one shard (and their identity in one part)."""
    roots = [Path(p) for p in inputs]

    def key(src: _Source) -> str:
        return _slug(src.path.resolve().parent.name) if cfg.identity == "folder" else input_key(src.path, roots)

    return ([s for _, s in shard.select(sources, key)],
            [f for _, f in shard.select(failures, lambda f: input_key(f[0], roots))])


# --------------------------------------------------------------------------------------------
# 5.-6. fakes and crops
# --------------------------------------------------------------------------------------------


def _rng(cfg: FakesConfig, key: str, frame: int, track: int, slot: int) -> np.random.Generator:
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


def _quality(rng: np.random.Generator, cfg: FakesConfig, settings: SwapSettings) -> tuple[SwapSettings, dict[str, Any]]:
    feather = round(float(rng.uniform(*cfg.feather)), 4)
    color = str(rng.choice(_COLORS))
    blend = str(rng.choice(_BLENDS))
    return (replace(settings, feather=feather, color=color, blend=blend),
            {"feather": feather, "color": color, "blend": blend})


def _redetect(detector: Any, frame: np.ndarray, box: np.ndarray) -> Face | None:
    """The face in ``frame`` that overlaps ``box`` most (IoU >= 0.3), as the detector would find it."""
    faces = detector.detect(frame)
    if not faces:
        return None
    iou = box_iou(np.asarray(box)[None], np.stack([f.box for f in faces]))[0]
    best = int(np.argmax(iou))
    return faces[best] if iou[best] >= _MATCH_IOU else None


def _pick_donor(rng: np.random.Generator, identity: str, split: str, splits: dict[str, str],
                pool: _DonorPool) -> tuple[str, OneShotSource] | None:
    others = sorted(n for n, s in splits.items() if s == split and n != identity and pool.count(n))
    if not others:
        return None
    donor = others[int(rng.integers(len(others)))]
    faces = pool[donor]
    return donor, faces[int(rng.integers(len(faces)))]


class _Writer:
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


def _crop_items(scan: _Scan, cfg: FakesConfig) -> dict[int, list[tuple[int, _Sighting]]]:
    """frame -> [(track, sighting)]: each kept track's sampled detections, at most max_frames, spread."""
    by_frame: dict[int, list[tuple[int, _Sighting]]] = {}
    for tid in sorted(scan.identity):
        cands = _crop_sightings(scan, tid)
        if len(cands) > cfg.max_frames:
            cands = [cands[i] for i in np.unique(np.linspace(0, len(cands) - 1, cfg.max_frames).round().astype(int))]
        for s in cands:
            by_frame.setdefault(s.frame, []).append((tid, s))
    return by_frame


def _fakes_for_frame(frame: np.ndarray, items: list[tuple[int, _Sighting]], scan: _Scan, ctx: "_Context",
                     w: _Writer) -> None:
    """The real crop and one fake per method for every chosen face of this frame."""
    cfg, key, src = ctx.cfg, scan.source.key, str(scan.source.path)
    for tid, s in items:
        identity = scan.identity[tid]
        split = ctx.splits[identity]
        stem = f"{identity}/{key}_f{s.frame:06d}_t{tid:02d}"
        # real: the same JPEG distribution as the fakes; re-detected when re-encoded
        q = _jpeg_quality(_rng(cfg, key, s.frame, tid, 0), cfg)
        real = _jpeg(frame, q)
        face = s.face if q is None else _redetect(ctx.detector, real, s.face.box)
        if face is None:
            w.skip("real face not found after JPEG re-encode")
        else:
            w.crop(f"crops/real/{stem}.png", face_crop(real, face.landmarks, CROP).crop,
                   CropRow(f"crops/real/{stem}.png", "real", split, identity, src, s.frame, tid, "real",
                           params=json.dumps({"jpeg": q})))
        for slot, method in enumerate(ctx.methods, start=1):
            rng = _rng(cfg, key, s.frame, tid, slot)
            source, donor = method.source, method.donor
            if source is None:
                picked = _pick_donor(rng, identity, split, ctx.splits, ctx.pool)
                if picked is None:
                    w.skip("no other identity in the split for a one-shot donor")
                    continue
                donor, source = picked
            settings, params = _quality(rng, cfg, method.settings)
            params["jpeg"] = q_fake = _jpeg_quality(rng, cfg)
            try:
                fake, _ = swap_face(frame, s.face.landmarks, source, settings)
            except cv2.error as exc:  # e.g. a degenerate Poisson region at the frame's edge
                log.info("%s frame %d track %d: %s swap failed (%s)", src, s.frame, tid, method.name, exc)
                w.skip(f"{method.name} swap failed")
                continue
            fake = _jpeg(fake, q_fake)
            found = _redetect(ctx.detector, fake, s.face.box)
            if found is None:
                w.skip(f"{method.name} fake not found again by the detector")
                continue
            rel = f"crops/fake/{stem}_{method.name}.png"
            w.crop(rel, face_crop(fake, found.landmarks, CROP).crop,
                   CropRow(rel, "fake", split, identity, src, s.frame, tid, method.name, donor,
                           json.dumps(params, sort_keys=True)))


@dataclass
class _Clip:
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
            if t not in out and f not in out.values() and v >= _MATCH_IOU * self.target_frames[t]:
                out[t] = f
        return out


class _Motion:
    """The motion clip of one video, tracked as it is and once per method with every kept face swapped."""

    def __init__(self, scan: _Scan, ctx: _Context) -> None:
        self.scan, self.ctx = scan, ctx
        fps = scan.fps or 30.0
        self.tracker = FaceTracker(ctx.detector, detect_every=1, min_size=ctx.cfg.min_size, fps=fps)
        self.extractor = MotionExtractor(scan.fps)
        self.mapped: dict[int, int] = {}  # this tracker's id -> the scan's track id
        self.at = {(s.frame, t): s for t in scan.identity for s in _crop_sightings(scan, t)}
        self.clips: list[_Clip] = []
        for slot, method in enumerate(ctx.methods, start=1):
            swaps: dict[int, tuple[str, FaceSource, SwapSettings]] = {}
            for tid in sorted(scan.identity):
                identity = scan.identity[tid]
                rng = _rng(ctx.cfg, scan.source.key, 0, tid, 100 + slot)  # 100+: clips, apart from crops
                source, donor = method.source, method.donor
                if source is None:
                    picked = _pick_donor(rng, identity, ctx.splits[identity], ctx.splits, ctx.pool)
                    if picked is None:
                        continue
                    donor, source = picked
                swaps[tid] = (donor, source, _quality(rng, ctx.cfg, method.settings)[0])
            if swaps:
                self.clips.append(_Clip(method.name, swaps, FaceTracker(
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

    def write(self, w: _Writer) -> None:
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


@dataclass
class _Context:
    cfg: FakesConfig
    detector: Any
    methods: list[_Method]
    splits: dict[str, str]
    pool: _DonorPool


def _make_source(scan: _Scan, ctx: _Context, w: _Writer, progress: Callable[[int], None]) -> None:
    items = _crop_items(scan, ctx.cfg)
    if scan.source.kind == "image":
        _fakes_for_frame(read_image(scan.source.path), items.get(0, []), scan, ctx, w)
        progress(1)
        return
    start, end = scan.window or (0, 0)
    motion = _Motion(scan, ctx) if scan.window else None
    last = max([*items, end - 1])
    with VideoReader(scan.source.path, every=1 if motion is not None else ctx.cfg.every) as reader:
        for index, frame in reader.frames_with_index():
            if index > last:
                break
            if motion is not None and start <= index < end:
                motion.frame(index, frame)
                progress(1)
            if index in items:
                _fakes_for_frame(frame, items[index], scan, ctx, w)
                progress(1)
    if motion is not None:
        motion.write(w)


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------


def build_fakes(inputs: Sequence[str | Path], out: str | Path, cfg: FakesConfig = FakesConfig(), *,
                overwrite: bool = False, resume: bool = False, detector: Any = None,
                on_progress: Progress | None = None, shard: Shard | None = None) -> FakesSummary:
    """Build the labelled data set ``out`` from real photos and videos (see the module docstring).

    Args:
        inputs: videos, photos and folders (searched recursively).
        out: the data set folder to create.
        cfg: settings.
        overwrite: replace an existing data set at ``out`` (and the work folder of an interrupted run).
        resume: continue the interrupted run whose work folder is beside ``out`` (same settings and
            inputs): scans and finished sources are loaded, not made again.
        detector: a face detector to reuse (``detect(image) -> list[Face]``); by default MTCNN on
            ``cfg.device``.
        on_progress: called as ``on_progress(stage, n, total)`` after ``n`` more units of stage
            ``scan`` (frames decoded) or ``fakes`` (frames manipulated); ``total`` may be None.
        shard: build only this shard's part of the data set (:func:`_shard_sources`): identities
            are split by a hash of their name (:func:`_hash_split`) and one-shot donors come from
            the shard's own identities; :func:`facelab.detector.fakes_merge.merge_fakes` joins
            the parts.

    Returns:
        :class:`FakesSummary`; a source that fails is listed in ``failures``, not raised.

    Raises:
        OutputError: ``out`` exists (without ``overwrite``) or cannot be written; an interrupted
            run's work folder exists (without ``resume`` or ``overwrite``).
        ConfigError: a model cannot be loaded as asked, fewer than two identities were found, no
            fake could be made, or ``resume`` with other settings or changed inputs.
    """
    t0 = time.perf_counter()
    out = Path(out)
    _check_out(out, overwrite)
    summary = FakesSummary(out)
    methods = cfg.active_methods
    # models first: a wrong path should fail before minutes of detection
    models = _load_models(cfg, methods)
    if detector is None:
        from facelab.faces.detect import FaceDetector

        detector = FaceDetector(device=cfg.device)

    def progress(stage: str, total: int | None) -> Callable[[int], None]:
        return lambda n: on_progress(stage, n, total) if on_progress is not None else None

    # 1. plan (all inputs, so that source keys are the same in every shard, then this shard's)
    sources, summary.failures = _plan(inputs, out)
    settings = cfg.to_dict()
    if shard is not None:
        sources, summary.failures = _shard_sources(sources, summary.failures, inputs, cfg, shard)
        settings["shard"] = str(shard)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, folder_problem(out.parent, exc)) from None
    work, resumed = WorkFolder.open(out, settings, sources, resume=resume, overwrite=overwrite)
    if resumed:
        log.info("resuming the interrupted run in %s", work.root)
    try:
        # 2. scan (or load the scans an interrupted run saved)
        scans = _scan_all(sources, detector, cfg, summary,
                          progress("scan", sum(_expected_frames(s, cfg) for s in sources)), work)
        # 3.-4. identities and split
        _name_identities(scans, cfg)
        names = sorted({n for s in scans for n in s.identity.values()})
        if len(names) < 2 and shard is None:
            raise ConfigError(_too_few(names, summary))
        if len(names) < 2:  # a shard's part is still written: the merge judges the whole data set
            summary.warnings.append(f"shard {shard} found {len(names)} identities: no one-shot fakes in it "
                                    "(fewer shards give each more people)")
        splits = summary.identities = _split(names, cfg) if shard is None else _hash_split(names, cfg)
        _check_donors(splits, methods, summary, strict=shard is None)
        for scan in scans:
            scan.window = _choose_window(scan, cfg)
        # 5.-7. fakes, crops, motion
        ctx = _Context(cfg, detector, [_method(m, models) for m in methods], splits, _DonorPool(scans, work))
        rows, motion_rows = _run_pass2(scans, ctx, work, summary, progress)
        if not any(r.label == "fake" for r in rows):
            why = "; ".join(f"{reason}: {n}" for reason, n in sorted(summary.skipped.items())) or "no face to swap"
            if shard is None:
                raise ConfigError(f"no fake could be made ({why}); check the inputs' faces and the models")
            summary.warnings.append(f"shard {shard} made no fake ({why})")
        # 8. write
        tmp = work.root
        _tally(summary, rows, motion_rows)
        write_rows(tmp / "manifest.csv", rows, MANIFEST_COLUMNS)
        write_rows(tmp / "motion.csv", motion_rows, MOTION_COLUMNS)
        summary.seconds = time.perf_counter() - t0
        info = _dataset_info(scans, cfg, summary, detector, models)
        if shard is not None:
            info["shard"] = str(shard)
        (tmp / "dataset.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        work.finish()
        replace_dir(tmp, out, lambda o: _check_out(o, overwrite), "data set")
    except ConfigError:  # a verdict on the inputs, not an interruption: nothing worth resuming
        shutil.rmtree(work.root, ignore_errors=True)
        raise
    except BaseException:
        log.info("interrupted: the work so far is kept in %s; run again with --resume to continue", work.root)
        raise
    summary.seconds = time.perf_counter() - t0
    return summary


def _scan_all(sources: list[_Source], detector: Any, cfg: FakesConfig, summary: FakesSummary,
              step: Callable[[int], None], work: WorkFolder) -> list[_Scan]:
    scans: list[_Scan] = []
    for src in sources:
        saved = work.load_scan(src)
        if isinstance(saved, str):
            summary.failures.append((src.path, saved))
            continue
        if saved is not None:
            scans.append(saved)
            continue
        try:
            if src.kind == "image":
                scans.append(_scan_image(src, detector, cfg))
                step(1)
            else:
                scans.append(_scan_video(src, detector, cfg, step))
        except FacelabError as exc:
            summary.failures.append((src.path, _reason(exc, src.path)))
            log.info("%s: %s", src.path, summary.failures[-1][1])
            work.save_scan_failure(src, summary.failures[-1][1])
            continue
        work.save_scan(scans[-1])
        # the donors' crops now live in the work folder; the pool reads them when drawn
        scans[-1].donors = {t: [(q, i, None) for q, i, _ in heap] for t, heap in scans[-1].donors.items()}
    summary.faceless = [s.source.path for s in scans if not s.tracks]
    return scans


def _check_donors(splits: dict[str, str], methods: tuple[str, ...], summary: FakesSummary, *,
                  strict: bool = True) -> None:
    """One-shot fakes need two identities in a split: an error when no split has them (a warning
    for a shard, ``strict=False``), else a warning."""
    lonely = [s for s in ("train", "val") if sum(1 for v in splits.values() if v == s) < 2]
    if "oneshot" not in methods or not lonely or not splits:
        return
    if methods == ("oneshot",) and len(lonely) == 2 and strict:
        raise ConfigError(f"one-shot swaps need two identities in the same split, and the {len(splits)} identities "
                          f"found ({', '.join(sorted(splits))}) make one per split; add people (four or more give "
                          "fakes in both splits)")
    summary.warnings.append(f"the {' and '.join(lonely)} split has a single identity: no one-shot fakes there "
                            "(four or more identities give one-shot fakes in both splits)")


class _DonorPool:
    """identity -> its one-shot faces, best first per source (folder mode: from every source of the person).

    The aligned faces stay in the work folder and are read when an identity is drawn as a donor,
    keeping the last ``cache`` identities: memory does not grow with the number of identities.
    """

    def __init__(self, scans: list[_Scan], work: WorkFolder, cache: int = 32) -> None:
        self.work, self.cache = work, cache
        # identity -> [(source, track, [(position in the saved list, frame)], best first)]
        self.entries: dict[str, list[tuple[_Source, int, list[tuple[int, int]]]]] = {}
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


def _run_pass2(scans: list[_Scan], ctx: _Context, work: WorkFolder, summary: FakesSummary,
               progress: Callable[[str, int | None], Callable[[int], None]]) -> tuple[list[CropRow], list[MotionRow]]:
    saved = {scan.source.key: work.load_done(scan.source.key) for scan in scans if scan.identity}
    total = 0
    for scan in scans:
        if saved.get(scan.source.key) is None:
            total += len(_crop_items(scan, ctx.cfg))
            if scan.window:
                total += scan.window[1] - scan.window[0]
    step = progress("fakes", total)
    rows: list[CropRow] = []
    motion_rows: list[MotionRow] = []
    for scan in scans:
        if not scan.identity:
            continue
        done = saved.get(scan.source.key)
        if done is None:  # make it (again, if a crash cut it short: the same seeds give the same files)
            before = dict(summary.skipped)
            summary.skipped.clear()
            w = _Writer(work.root, summary)
            failed = None
            try:
                _make_source(scan, ctx, w, step)
            except FacelabError as exc:
                w.discard()
                failed = _reason(exc, scan.source.path)
            done = (w.rows, w.motion, dict(summary.skipped), failed)
            summary.skipped.clear()
            summary.skipped.update(before)
            work.save_done(scan.source.key, *done)
        for reason, n in done[2].items():
            summary.skipped[reason] = summary.skipped.get(reason, 0) + n
        if done[3] is not None:
            summary.failures.append((scan.source.path, done[3]))
            continue
        rows.extend(done[0])
        motion_rows.extend(done[1])
    return rows, motion_rows


def _reason(exc: FacelabError, path: Path) -> str:
    return exc.problem if isinstance(exc, (InputError, OutputError)) and exc.path == path else str(exc)


def _too_few(names: list[str], summary: FakesSummary) -> str:
    found = f"found only {names[0]!r}" if names else "found no usable face"
    failures = summary.failures
    failed = f"; {len(failures)} input(s) failed ({failures[0][0]}: {failures[0][1]}...)" if failures else ""
    if summary.faceless:
        failed += f"; {len(summary.faceless)} input(s) without a usable face"
    return (f"a fakes data set needs at least two identities (people) to swap between and to split into "
            f"train and val; {found}{failed}. Add media of other people (or use --identity folder with one "
            "folder per person)")


def _expected_frames(src: _Source, cfg: FakesConfig) -> int:
    if src.kind == "image":
        return 1
    try:
        n = VideoReader(src.path).info.frame_count or 0
    except FacelabError:
        return 0
    return math.ceil(n / cfg.every)


def _load_models(cfg: FakesConfig, methods: tuple[str, ...]) -> dict[str, tuple[FaceSource, SwapSettings]]:
    models: dict[str, tuple[FaceSource, SwapSettings]] = {}
    if "learned" in methods:
        from facelab.swap.learned import load_swap_model

        models["learned"] = load_swap_model(cfg.swap_model, _SWAP, device=cfg.device)  # type: ignore[arg-type]
    if "translate" in methods:
        from facelab.swap.oneshot import TranslatorSource
        from facelab.translate.infer import load_translator

        tr = load_translator(weights=cfg.translator, device=cfg.device, inference="eval")
        settings = _SWAP
        if tr.size is not None:  # a net with a fixed input size (e.g. a face-swap autoencoder) sets the crop
            if tr.size[0] != tr.size[1]:
                raise ConfigError(f"{cfg.translator}: translates {tr.size[0]}x{tr.size[1]} images; "
                                  "the face region needs a square translator")
            settings = replace(_SWAP, size=tr.size[0])
        models["translate"] = (TranslatorSource(translator=tr, weights=str(cfg.translator), method="translate"),
                               settings)
    return models


def _method(name: str, models: dict[str, tuple[FaceSource, SwapSettings]]) -> _Method:
    if name == "oneshot":
        return _Method(name, None, _SWAP)
    source, settings = models[name]
    model = source.describe().get("model", "")
    return _Method(name, source, settings, donor=f"{name}:{Path(str(model)).name}")


def _tally(summary: FakesSummary, rows: list[CropRow], motion_rows: list[MotionRow]) -> None:
    for target, items in ((summary.counts, rows), (summary.motion, motion_rows)):
        for r in items:
            d = target.setdefault(r.split, {}).setdefault(r.label, {})
            d[r.method] = d.get(r.method, 0) + 1


def _dataset_info(scans: list[_Scan], cfg: FakesConfig, summary: FakesSummary, detector: Any,
                  models: dict[str, tuple[FaceSource, SwapSettings]]) -> dict[str, Any]:
    identities: dict[str, dict[str, Any]] = {}
    for scan in scans:
        for tid, name in scan.identity.items():
            entry = identities.setdefault(name, {"split": summary.identities[name], "sources": []})
            entry["sources"].append({"source": str(scan.source.path), "track": tid})
    config = getattr(detector, "config", None)
    return {
        "format": FORMAT, "facelab": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": cfg.seed, "settings": cfg.to_dict(), "crop": CROP.to_dict(), "swap": _SWAP.to_dict(),
        "models": {m: src.describe() for m, (src, _) in models.items()},
        "detector": config() if callable(config) else type(detector).__name__,
        "counts": summary.counts, "motion": summary.motion, "skipped": summary.skipped,
        "identities": identities,
        "inputs": [{"source": str(s.source.path), "kind": s.source.kind, "key": s.source.key,
                    "identities": {str(t): n for t, n in sorted(s.identity.items())},
                    "splits": {n: summary.identities[n] for n in sorted(set(s.identity.values()))},
                    "motion_window": list(s.window) if s.window else None} for s in scans],
        "failures": [{"source": str(p), "error": e} for p, e in summary.failures],
        "faceless": [str(p) for p in summary.faceless],
        "warnings": summary.warnings, "seconds": round(summary.seconds, 2),
    }


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / "dataset.json").is_file():
        raise OutputError(out, "exists and is not a fakes data set (no dataset.json); not touching it")
    if not overwrite:
        raise OutputError(out, "already exists; pass --overwrite to replace it")

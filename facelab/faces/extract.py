"""Aligned face crops from videos, photos and folders, with a JSON sidecar per input.

    summary = extract(["clip.mp4", "photos/"], "crops/", size=256, margin=0.3)

1. **Plan** (:func:`plan_extract`): each video is one input, written to ``OUT/<video stem>/``;
   each photo given by name is one input, written to ``OUT/<photo stem>/``; a folder is searched
   recursively: its photos form one input written to ``OUT/<folder name>/`` (subfolders kept),
   and each video in it is an input of its own, written to
   ``OUT/<folder name>/<subfolders>/<video stem>/``. Two inputs that would share an output folder
   are refused, and files inside ``OUT`` are never read as inputs.
2. **Videos**: frames are tracked (:class:`facelab.faces.track.FaceTracker`, detection every
   ``detect_every`` processed frames, optical flow and One-Euro smoothing in between), and every
   visible face is aligned (:func:`facelab.faces.align.align_face`) on its smoothed landmarks
   and saved as ``<frame index:06d>_t<track id:02d>.png``. Frames are streamed: memory does not
   grow with the video's length.
3. **Photos**: detection only; the faces of a photo, largest first, are saved as
   ``<photo stem>_f<face index:02d>.png`` (the face index stands in for the track id; when two
   photos of a folder share a stem, ``a.jpg`` and ``a.png``, the stems become ``a_jpg``, ``a_png``).
4. **Sidecar**: ``faces.json`` in each output folder describes every crop (schema in
   ``docs/faces.md``): its file, source, frame index and time, track id, box, landmarks, score,
   the ``2x3`` matrix ``M`` (source image -> crop), size and margin, with the settings used.

Failures: a video that fails leaves nothing behind (it is written to a hidden temporary folder
that is renamed into place only when complete); a photo that fails is left out of its folder's
output and listed under ``failures`` in the sidecar. A batch goes on after a failure and reports
every failed input in the :class:`ExtractSummary`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from facelab import __version__
from facelab.errors import ConfigError, FacelabError, InputError, OutputError, as_item_error
from facelab.faces.align import AlignedFace, align_face, template
from facelab.faces.detect import Face, FaceDetector
from facelab.faces.track import Detector, FaceTracker, TrackedFace
from facelab.files import replace_dir
from facelab.io import make_output_dir
from facelab.io.image import is_image, read_image, write_image
from facelab.io.video import VideoReader, is_video

__all__ = [
    "SIDECAR",
    "CropRecord",
    "ExtractConfig",
    "ExtractJob",
    "ExtractSummary",
    "InputResult",
    "extract",
    "plan_extract",
    "run_extract_job",
]

log = logging.getLogger(__name__)

#: Name of the sidecar written into each output folder.
SIDECAR = "faces.json"

CONVENTION = (
    "coordinates in pixels of the source frame, x right, y down, pixel centres at integer "
    "coordinates; M maps a source point to the crop: [x', y'] = M @ [x, y, 1] (cv2.warpAffine); "
    "landmarks: left eye, right eye, nose, left mouth corner, right mouth corner, as seen in the image"
)


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of an extraction (saved in every sidecar).

    Attributes:
        size: crop side in pixels.
        margin: context around the ArcFace crop (:func:`facelab.faces.align.template`).
        every: process video frames ``0, every, 2 * every, ...``.
        max_faces: keep at most this many faces per frame or photo, the largest; None keeps all.
        min_size: ignore faces whose box is narrower than this many pixels.
        detect_every: detect on every k-th processed video frame, follow by flow in between.
        smooth: One-Euro smoothing of the landmarks used for alignment (videos only).
        border: how :func:`~facelab.faces.align.align_face` fills pixels outside the frame.
        image_ext: ``png`` (lossless) or ``jpg`` (quality 95).
        on_damage: damaged videos: ``skip`` decodes through the damage and records it in the
            sidecar; ``fail`` refuses the video (:mod:`facelab.io.decode`).
    """

    size: int = 256
    margin: float = 0.0
    every: int = 1
    max_faces: int | None = None
    min_size: float = 40.0
    detect_every: int = 1
    smooth: bool = True
    border: Literal["reflect", "replicate", "constant"] = "reflect"
    image_ext: Literal["png", "jpg"] = "png"
    on_damage: Literal["skip", "fail"] = "skip"

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ConfigError(f"--size must be at least 16 pixels, got {self.size}")
        if not self.margin > -1:
            raise ConfigError(f"--margin must be greater than -1, got {self.margin}")
        if self.every < 1 or self.detect_every < 1:
            raise ConfigError("--every and --detect-every must be at least 1")
        if self.max_faces is not None and self.max_faces < 1:
            raise ConfigError(f"--max-faces must be at least 1, got {self.max_faces}")
        if self.image_ext not in ("png", "jpg"):
            raise ConfigError(f"image_ext must be png or jpg, got {self.image_ext!r}")
        if self.on_damage not in ("skip", "fail"):
            raise ConfigError(f"on_damage must be skip or fail, got {self.on_damage!r}")


@dataclass(frozen=True)
class ExtractJob:
    """One input and where its crops go.

    Attributes:
        kind: ``"video"`` or ``"images"``.
        sources: the video, or the photos (one photo given by name, or a folder's photos).
        out_dir: the output folder for this input.
        root: for a folder's photos, the folder (crop names keep the subfolders below it).
        frames: frames (or photos) expected to be processed, for progress bars.
    """

    kind: Literal["video", "images"]
    sources: tuple[Path, ...]
    out_dir: Path
    root: Path | None = None
    frames: int | None = None

    @property
    def source(self) -> Path:
        """The path the user named: the video, the photo, or the folder."""
        return self.root if self.root is not None else self.sources[0]


@dataclass(frozen=True)
class CropRecord:
    """One saved crop, as written to the sidecar (see ``docs/faces.md``)."""

    file: str
    source: str
    frame: int
    time: float | None
    track: int
    detected: bool
    score: float
    box: list[float]
    landmarks: list[list[float]]
    raw_box: list[float]
    raw_landmarks: list[list[float]]
    M: list[list[float]]
    size: int
    margin: float


@dataclass
class InputResult:
    """What happened to one input."""

    job: ExtractJob
    crops: int = 0
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    failures: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExtractSummary:
    """The outcome of :func:`extract`.

    Attributes:
        results: one per planned input, in order.
        skipped: inputs refused while planning, with the reason.
    """

    results: list[InputResult]
    skipped: list[tuple[Path, str]]

    @property
    def crops(self) -> int:
        return sum(r.crops for r in self.results)

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.results)

    @property
    def failed(self) -> list[tuple[Path, str]]:
        """Every input (or photo inside a folder) that failed, with the reason."""
        out = list(self.skipped)
        for r in self.results:
            if r.error is not None:
                out.append((r.job.source, r.error))
            out.extend(r.failures)
        return out

    @property
    def succeeded(self) -> int:
        """Inputs that were processed (a folder counts when at least one photo went through)."""
        return sum(1 for r in self.results if r.error is None)


# --------------------------------------------------------------------------------------------
# 1. plan
# --------------------------------------------------------------------------------------------


def plan_extract(
    inputs: Sequence[str | Path], out_dir: str | Path, *, every: int = 1
) -> tuple[list[ExtractJob], list[tuple[Path, str]]]:
    """Decide every input's output folder. Returns ``(jobs, skipped)``, skipped with reasons."""
    out_dir = Path(out_dir)
    out_abs = out_dir.resolve()
    jobs: list[ExtractJob] = []
    skipped: list[tuple[Path, str]] = []

    def inside_out(p: Path) -> bool:
        return p.resolve().is_relative_to(out_abs)

    for p in (Path(x) for x in inputs):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not any(
                part.startswith(".") for part in f.relative_to(p).parts) and not inside_out(f))
            photos = tuple(f for f in files if is_image(f))
            videos = [f for f in files if is_video(f)]
            base = out_dir / (p.resolve().name or "input")
            if photos:
                jobs.append(ExtractJob("images", photos, base, root=p, frames=len(photos)))
            for v in videos:
                rel = v.relative_to(p)
                jobs.append(ExtractJob("video", (v,), base / rel.parent / v.stem, frames=_expected_frames(v, every)))
            if not photos and not videos:
                skipped.append((p, "folder holds no photos or videos"))
        elif not p.exists():
            skipped.append((p, "no such file or folder"))
        elif inside_out(p):
            skipped.append((p, f"is inside the output folder {out_dir}"))
        elif is_video(p):
            jobs.append(ExtractJob("video", (p,), out_dir / p.stem, frames=_expected_frames(p, every)))
        elif is_image(p):
            jobs.append(ExtractJob("images", (p,), out_dir / p.stem, frames=1))
        else:
            skipped.append((p, "not a photo or video by its extension"))
    kept: list[ExtractJob] = []
    used: dict[Path, Path] = {}
    for job in jobs:
        key = job.out_dir.resolve()
        if key in used:
            reason = (f"its output folder {job.out_dir} is already used by {used[key]}; "
                      "rename one of them or run them separately")
            skipped.append((job.source, reason))
            continue
        used[key] = job.source
        kept.append(job)
    return kept, skipped


def _expected_frames(path: Path, every: int) -> int | None:
    try:
        n = VideoReader(path).info.frame_count
    except FacelabError:
        return None  # the job itself will report the problem
    return math.ceil(n / every) if n else None


# --------------------------------------------------------------------------------------------
# 2.-4. run
# --------------------------------------------------------------------------------------------


def extract(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    size: int = 256,
    margin: float = 0.0,
    every: int = 1,
    max_faces: int | None = None,
    min_size: float = 40.0,
    detect_every: int = 1,
    smooth: bool = True,
    border: Literal["reflect", "replicate", "constant"] = "reflect",
    image_ext: Literal["png", "jpg"] = "png",
    on_damage: Literal["skip", "fail"] = "skip",
    overwrite: bool = False,
    detector: Detector | None = None,
    device: str = "auto",
    on_frames: Callable[[int, int | None], None] | None = None,
    on_result: Callable[[InputResult], None] | None = None,
) -> ExtractSummary:
    """Write aligned face crops and a ``faces.json`` sidecar for each input.

    Args:
        inputs: video files, photo files and folders (searched recursively).
        out_dir: the output folder (created).
        size, margin, every, max_faces, min_size, detect_every, smooth, border, image_ext,
            on_damage: see :class:`ExtractConfig`.
        overwrite: replace an input's existing output folder (only one made by ``extract``:
            a folder holding ``faces.json``).
        detector: a detector to reuse; by default a :class:`~facelab.faces.detect.FaceDetector`
            on ``device``.
        device: ``auto``, ``cpu`` or ``cuda`` for the default detector.
        on_frames: called as ``on_frames(n, total)`` after every ``n`` frames or photos, with
            ``total`` the number expected over all inputs (None when unknown).
        on_result: called with each input's :class:`InputResult` as soon as it is done.

    Returns:
        :class:`ExtractSummary`; nothing is raised for a failing input (see ``summary.failed``).

    Raises:
        ConfigError: invalid settings.
        OutputError: ``out_dir`` cannot be created.
    """
    cfg = ExtractConfig(size=size, margin=margin, every=every, max_faces=max_faces, min_size=min_size,
                        detect_every=detect_every, smooth=smooth, border=border, image_ext=image_ext,
                        on_damage=on_damage)
    jobs, skipped = plan_extract(inputs, out_dir, every=cfg.every)
    for path, reason in skipped:
        log.info("%s: %s", path, reason)
    if not jobs:
        return ExtractSummary([], skipped)
    make_output_dir(out_dir)
    if detector is None:
        detector = FaceDetector(device=device)
    known = [j.frames for j in jobs]
    total = sum(n for n in known if n is not None) if all(n is not None for n in known) else None

    def progress(n: int) -> None:
        if on_frames is not None:
            on_frames(n, total)

    results = []
    for job in jobs:
        result = run_extract_job(job, detector, cfg, overwrite=overwrite, on_frames=progress)
        if result.error is not None:
            log.info("%s: %s", job.source, result.error)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return ExtractSummary(results, skipped)


def run_extract_job(
    job: ExtractJob,
    detector: Detector,
    cfg: ExtractConfig,
    *,
    overwrite: bool = False,
    on_frames: Callable[[int], None] | None = None,
) -> InputResult:
    """Process one planned input; failures are returned in the result, not raised."""
    t0 = time.perf_counter()
    result = InputResult(job)
    try:
        _check_out_dir(job.out_dir, overwrite)
        if job.kind == "video":
            _extract_video(job, detector, cfg, overwrite, result, on_frames)
        else:
            _extract_images(job, detector, cfg, overwrite, result, on_frames)
    except Exception as exc:  # one bad input must not stop the batch (as_item_error logs bugs)
        exc = as_item_error(job.source, exc)
        result.error = exc.problem if isinstance(exc, InputError) and exc.path == job.source else str(exc)
    result.seconds = time.perf_counter() - t0
    return result


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / SIDECAR).is_file():
        raise OutputError(out, f"exists and is not an extract output (no {SIDECAR}); not touching it")
    if not overwrite:
        raise OutputError(out, "already exists; pass --overwrite to replace it")


def _select(faces: list[Any], cfg: ExtractConfig, key: Callable[[Any], Face]) -> list[Any]:
    """Drop faces below min_size, keep the max_faces largest (in their original order)."""
    kept = [f for f in faces if key(f).width >= cfg.min_size]
    if cfg.max_faces is not None and len(kept) > cfg.max_faces:
        largest = sorted(kept, key=lambda f: key(f).area, reverse=True)[: cfg.max_faces]
        kept = [f for f in kept if any(f is g for g in largest)]
    return kept


def _record(file: str, source: Path, frame: int, t: float | None, track: int, detected: bool,
            face: Face, raw: Face, aligned: AlignedFace) -> CropRecord:
    def r3(v: float) -> float:
        return round(float(v), 3)

    return CropRecord(
        file=file, source=str(source), frame=frame, time=None if t is None else round(t, 4), track=track,
        detected=detected, score=round(float(raw.score), 6),
        box=[r3(v) for v in face.box], landmarks=[[r3(x), r3(y)] for x, y in face.landmarks],
        raw_box=[r3(v) for v in raw.box], raw_landmarks=[[r3(x), r3(y)] for x, y in raw.landmarks],
        M=[[float(v) for v in row] for row in aligned.M], size=aligned.size, margin=aligned.margin,
    )


def _sidecar(job: ExtractJob, cfg: ExtractConfig, detector: Detector, records: list[CropRecord],
             extra: dict[str, Any]) -> dict[str, Any]:
    det_cfg = detector.config() if hasattr(detector, "config") else {"detector": type(detector).__name__}
    return {
        "facelab_version": __version__,
        "kind": job.kind,
        "source": str(job.source),
        "settings": asdict(cfg),
        "detector": det_cfg,
        "template": [[round(float(x), 4), round(float(y), 4)] for x, y in template(cfg.size, cfg.margin)],
        "convention": CONVENTION,
        **extra,
        "crops": [asdict(r) for r in records],
    }


def _dumps(data: dict[str, Any]) -> str:
    """JSON with one line per top-level key and one line per crop (readable, diffable)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join("  " + json.dumps(v) for v in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(_dumps(data))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write ({exc.strerror or exc})") from None


def _extract_video(job: ExtractJob, detector: Detector, cfg: ExtractConfig, overwrite: bool,
                   result: InputResult, on_frames: Callable[[int], None] | None) -> None:
    src = job.sources[0]
    out = job.out_dir
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out.parent, f"cannot create the folder ({exc.strerror or exc})") from None
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        records: list[CropRecord] = []
        with VideoReader(src, every=cfg.every, on_damage=cfg.on_damage) as reader:
            info = reader.info
            fps = float(info.fps) if info.fps else None
            tracker = FaceTracker(detector, detect_every=cfg.detect_every, smooth=cfg.smooth,
                                  min_size=cfg.min_size, fps=(fps or 30.0) / cfg.every)
            for index, t, frame in reader.timed_frames():
                tracked = _select(tracker.update(frame), cfg, key=lambda tf: tf.face)
                for tf in tracked:
                    records.append(_save_crop(tmp, frame, tf, index, t, src, cfg))
                result.frames += 1
                if on_frames is not None:
                    on_frames(1)
            truncated, damage = reader.truncated, reader.damage
        if result.frames == 0:
            raise InputError(src, "video has no decodable frames")
        result.warnings = [damage.describe()] if damage.damaged else []
        video = {"fps": str(info.fps), "width": info.width, "height": info.height,
                 "frame_count": info.frame_count, "frames_processed": result.frames, "truncated": truncated,
                 "frames_lost_to_damage": damage.frames_lost, "damage": damage.to_json(),
                 "warnings": result.warnings}
        _write_json(tmp / SIDECAR, _sidecar(job, cfg, detector, records, {"video": video}))
        replace_dir(tmp, out, lambda o: _check_out_dir(o, overwrite))
        result.crops = len(records)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _save_crop(folder: Path, frame: np.ndarray, tf: TrackedFace, index: int, t: float | None,
               src: Path, cfg: ExtractConfig) -> CropRecord:
    aligned = align_face(frame, tf.face.landmarks, cfg.size, cfg.margin, cfg.border)
    name = f"{index:06d}_t{tf.track_id:02d}.{cfg.image_ext}"
    write_image(folder / name, aligned.crop, overwrite=True)
    return _record(name, src, index, t, tf.track_id, tf.detected, tf.face, tf.raw, aligned)


def _extract_images(job: ExtractJob, detector: Detector, cfg: ExtractConfig, overwrite: bool,
                    result: InputResult, on_frames: Callable[[int], None] | None) -> None:
    out = job.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, f"cannot create the folder ({exc.strerror or exc})") from None
    if overwrite:
        _remove_listed_crops(out)
    records: list[CropRecord] = []
    stems = [(p.parent, p.stem) for p in job.sources]
    for path in job.sources:
        rel = path.relative_to(job.root).parent if job.root is not None else Path()
        # a.jpg and a.png in one folder: name their crops a_jpg_f00, a_png_f00
        stem = path.stem if stems.count((path.parent, path.stem)) == 1 else path.name.replace(".", "_")
        try:
            image = read_image(path)
            faces = _select(detector.detect(image), cfg, key=lambda f: f)
            # align everything first, so that a failing photo writes nothing
            crops = [(i, f, align_face(image, f.landmarks, cfg.size, cfg.margin, cfg.border))
                     for i, f in enumerate(faces)]
            for i, face, aligned in crops:
                name = (rel / f"{stem}_f{i:02d}.{cfg.image_ext}").as_posix()
                write_image(out / name, aligned.crop, overwrite=True)
                records.append(_record(name, path, 0, None, i, True, face, face, aligned))
        except FacelabError as exc:
            reason = exc.problem if isinstance(exc, (InputError, OutputError)) else str(exc)
            result.failures.append((path, reason))
            log.info("%s: %s", path, reason)
        result.frames += 1
        if on_frames is not None:
            on_frames(1)
    if len(result.failures) == len(job.sources):
        result.error = "no photo could be read" if len(job.sources) > 1 else result.failures.pop()[1]
        if not any(out.iterdir()):
            out.rmdir()
        return
    failures = [{"source": str(p), "error": reason} for p, reason in result.failures]
    _write_json(out / SIDECAR, _sidecar(job, cfg, detector, records, {"failures": failures}))
    result.crops = len(records)


def _remove_listed_crops(out: Path) -> None:
    """Before overwriting a photo output, remove the crops its old sidecar lists (only those)."""
    side = out / SIDECAR
    if not side.is_file():
        return
    try:
        old = json.loads(side.read_text())
        names = [c["file"] for c in old.get("crops", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return
    for name in names:
        p = (out / name).resolve()
        if p.is_relative_to(out.resolve()):
            p.unlink(missing_ok=True)
    side.unlink(missing_ok=True)

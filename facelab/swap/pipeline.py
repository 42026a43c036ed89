"""Swap faces in photos and videos: read -> detect/track -> align -> new face -> blend -> write.

    source = OneShotSource.from_photo("face.jpg", detector, settings)
    swap_image_file(source, "group.jpg", "out.jpg", detector, settings)
    swap_video_file(source, "clip.mp4", "out.mp4", detector, settings, detect_every=5)

Every output gets a JSON sidecar (`<output>.json`) that lists which frames and faces were
changed and how; the detector half of facelab trains on these labels. Outputs are labelled as
synthetic in their metadata unless `label=False` (:func:`synthetic_metadata`), and
`watermark="TEXT"` draws a visible label on every frame. The output is written atomically and
its sidecar after it, so an output with a sidecar is finished (:func:`finished`): a batch that
was interrupted can skip those (`facelab swap --resume`).

Videos stream with constant memory: frames are decoded, tracked (MTCNN every `detect_every`
frames, optical flow and One-Euro smoothing in between, so the pasted face does not jitter),
swapped and encoded (H.264, same frame rate and size, audio copied) one at a time.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facelab import __version__
from facelab.credentials import Declaration, SigningKey, file_sha256
from facelab.errors import InputError, OutputError
from facelab.faces.dense import DenseSmoother
from facelab.faces.detect import Face
from facelab.faces.track import FaceTracker
from facelab.io.background import BackgroundWriter, prefetch
from facelab.io.decode import Damage, OnDamage
from facelab.io.image import read_image, write_image
from facelab.io.video import VideoReader, VideoWriter
from facelab.provenance import draw_watermark, synthetic_label
from facelab.swap.oneshot import FaceSource, SwapSettings, swap_face

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """Which target faces to swap: all (default), the largest per frame, or one track id."""

    largest: bool = False
    track: int | None = None

    def pick(self, faces: list[tuple[int, Face]]) -> list[tuple[int, Face]]:
        if self.track is not None:
            return [(tid, f) for tid, f in faces if tid == self.track]
        if self.largest and faces:
            return [max(faces, key=lambda tf: tf[1].area)]
        return faces

    def describe(self) -> str:
        return f"track {self.track}" if self.track is not None else "largest" if self.largest else "all"


@dataclass
class SwapRecord:
    """What the sidecar says about one output."""

    input: str
    output: str
    kind: str
    source: dict[str, Any]
    settings: dict[str, Any]
    selection: str
    frames: list[dict[str, Any]] = field(default_factory=list)
    frames_total: int = 0
    seconds: float = 0.0
    watermark: str | None = None
    damage: Damage | None = None  # videos: what decoding lost (facelab.io.decode)
    passed_through: list[dict[str, Any]] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """What went wrong with the input, for the sidecar and the summary line."""
        out = []
        if self.damage is not None and self.damage.damaged:
            out.append(self.damage.describe())
        if self.passed_through:
            first = self.passed_through[0]
            out.append(f"{len(self.passed_through)} frames could not be processed and are copied unchanged "
                       f"(first: frame {first['frame']}: {first['error']})")
        return out

    def to_json(self) -> dict[str, Any]:
        changed = [f for f in self.frames if f["faces"]]
        return {"tool": "facelab", "version": __version__, "synthetic": True, "kind": self.kind,
                "input": self.input, "output": self.output, "source": self.source, "settings": self.settings,
                "selection": self.selection, "watermark": self.watermark,
                "frames_total": self.frames_total, "frames_changed": len(changed),
                "faces_changed": sum(len(f["faces"]) for f in changed), "seconds": round(self.seconds, 3),
                **self._damage_json(), "frames": changed}

    def _damage_json(self) -> dict[str, Any]:
        if self.kind != "video":
            return {}
        d = self.damage.to_json() if self.damage is not None else {}
        return {"warnings": self.warnings, "frames_lost_to_damage": int(d.pop("frames_lost_to_damage", 0)),
                "frames_passed_through": len(self.passed_through),
                "passed_through": self.passed_through[:100], "damage": d}


def synthetic_metadata(source: FaceSource) -> dict[str, str]:
    """Metadata tags: synthetic media, face swapped by facelab <version>, the method and the model.

    One-shot: the model is the source photo's file name; learned: the run's name, its arch and the
    sha256 prefix of its weights file (:func:`facelab.provenance.synthetic_label`).
    """
    d = source.describe()
    what = Path(str(d.get("source") or d.get("model"))).name
    info = getattr(getattr(source, "translator", None), "info", None) or {}
    return synthetic_label(f"face swapped ({d['method']})", model=what, arch=d.get("arch"),
                           weights=info.get("weights_path"))


def declaration(source: FaceSource, src: Path) -> Declaration:
    """What the C2PA manifest of a swap of ``src`` declares: the method, and the model (one-shot:
    the source photo) with its sha256."""
    d = source.describe()
    what = d.get("source") or d.get("model")
    info = getattr(getattr(source, "translator", None), "info", None) or {}
    return Declaration(f"face swapped ({d['method']})", model=Path(str(what)).name,
                       model_sha256=file_sha256(info.get("weights_path") or d.get("source")), parent=src)


def finished(dst: str | Path) -> bool:
    """Whether ``dst`` is a finished swap output: the file and its sidecar exist (the sidecar is
    written last, atomically, so a crash mid-file leaves none) and the sidecar reads back."""
    dst = Path(dst)
    side = dst.with_name(dst.name + ".json")
    if not dst.is_file() or not side.is_file():
        return False
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("synthetic") is True and Path(str(doc.get("output"))).name == dst.name


def _face_entry(tid: int, face: Face, source: FaceSource, settings: SwapSettings) -> dict[str, Any]:
    return {"track": int(tid), "box": [round(float(v), 2) for v in face.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
            "score": round(float(face.score), 4), "method": source.method,
            "mask": f"{settings.mask} (erode {settings.erode}, feather {settings.feather})",
            "blend": settings.blend, "color": settings.color}


def _write_sidecar(record: SwapRecord, dst: Path) -> Path:
    path = dst.with_name(dst.name + ".json")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record.to_json(), indent=1) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write the sidecar ({exc.strerror or exc})") from None
    return path


def _check_dst(src: Path, dst: Path, overwrite: bool) -> None:
    if dst.exists() and src.exists() and os.path.samefile(src, dst):
        raise OutputError(dst, "is the input; choose another -o (inputs are never overwritten)")
    if dst.exists() and not overwrite:
        raise OutputError(dst, "exists; pass --overwrite to replace it")


def _dense_backend(settings: SwapSettings) -> Any:
    """The dense landmark backend the settings ask for, or None for MTCNN's 5 points."""
    if settings.landmarks == "5pt":
        return None
    from facelab.faces.landmarks import get_landmark_backend

    return get_landmark_backend(settings.landmarks)


class _TrackedDense:
    """Dense landmarks of tracked faces, One-Euro smoothed per track (so the bent face does not jitter).

    Called per face in frame order with the frame's index; a track missing from a frame (or a
    frame without any swapped face) starts afresh when it returns.
    """

    def __init__(self, backend: Any, fps: float) -> None:
        self.backend = backend
        self.smoother = DenseSmoother(fps=fps)
        self.index: int | None = None

    def __call__(self, index: int, frame: np.ndarray, track: int, face: Face) -> np.ndarray:
        if index != self.index:
            if self.index is not None:
                self.smoother.end_frame()
                if index != self.index + 1:  # frames without faces in between: every track starts afresh
                    self.smoother.end_frame()
            self.index = index
        (points,) = self.backend(frame, [face])
        return self.smoother(track, points, face.width)


def swap_image_file(source: FaceSource, src: str | Path, dst: str | Path, detector: Any, settings: SwapSettings,
                    *, selection: Selection = Selection(), overwrite: bool = False, label: bool = True,
                    watermark: str | None = None, credentials: SigningKey | None = None) -> SwapRecord:
    """Swap the chosen faces of one photo; a photo without faces is written unchanged (watermarked if asked).

    ``credentials``: sign a C2PA manifest into the output (:func:`declaration`), before it appears.
    """
    t0, src, dst = time.perf_counter(), Path(src), Path(dst)
    _check_dst(src, dst, overwrite)
    # 1. read and detect
    frame = read_image(src)
    faces = selection.pick(list(enumerate(detector.detect(frame))))
    backend = _dense_backend(settings)
    # 2. swap each chosen face in turn
    record = SwapRecord(str(src), str(dst), "image", source.describe(), settings.to_dict(), selection.describe(),
                        frames_total=1, watermark=watermark)
    entries = []
    for tid, face in faces:
        dense = backend(frame, [face])[0] if backend is not None else None
        frame, _ = swap_face(frame, face.landmarks, source, settings, dense=dense)
        entries.append(_face_entry(tid, face, source, settings))
    record.frames.append({"frame": 0, "faces": entries})
    # 3. write the image, then its sidecar
    if watermark is not None:
        frame = draw_watermark(frame, watermark)
    write_image(dst, frame, overwrite=overwrite, metadata=synthetic_metadata(source) if label else None,
                seal=credentials.sealer(declaration(source, src)) if credentials is not None else None)
    record.seconds = time.perf_counter() - t0
    _write_sidecar(record, dst)
    return record


def swap_video_file(source: FaceSource, src: str | Path, dst: str | Path, detector: Any, settings: SwapSettings,
                    *, selection: Selection = Selection(), detect_every: int = 5, refine: bool = True,
                    overwrite: bool = False,
                    label: bool = True, watermark: str | None = None, on_damage: OnDamage = "skip",
                    on_frame: Callable[[int, int | None], None] | None = None,
                    credentials: SigningKey | None = None) -> SwapRecord:
    """Swap faces in every frame of a video, streaming; same size, timestamps and audio.

    Every frame that decodes is written, at its input time, so the output keeps the input's
    timeline and lip sync; frames lost to damage in the input (:mod:`facelab.io.decode`) are
    reported in the record (``damage``), not invented. A frame whose face step fails (a garbage
    frame decoded from damaged data) is written unchanged and listed in ``passed_through``.
    ``on_damage="fail"`` refuses a damaged input instead (InputError, no output).

    ``watermark``: text drawn on every frame (:func:`facelab.provenance.draw_watermark`).
    ``credentials``: sign a C2PA manifest into the output (:func:`declaration`), before it appears.
    ``detect_every``, ``refine``: full MTCNN every k frames; in between, O-Net re-detection of
    each tracked face (``refine``) with optical flow for the faces it loses, or flow alone
    (:class:`~facelab.faces.track.FaceTracker`).
    """
    t0, src, dst = time.perf_counter(), Path(src), Path(dst)
    _check_dst(src, dst, overwrite)
    record = SwapRecord(str(src), str(dst), "video", source.describe(), settings.to_dict(), selection.describe(),
                        watermark=watermark)
    backend = _dense_backend(settings)
    mask = settings.crop_mask() if settings.mask == "ellipse" else None  # a hull moves with each face
    with VideoReader(src, on_damage=on_damage) as reader:
        info = reader.info

        def new_tracker() -> FaceTracker:
            return FaceTracker(detector, detect_every=detect_every, fps=float(info.fps) or 30.0,
                               refine=refine and detect_every > 1)

        def new_dense() -> _TrackedDense | None:
            return _TrackedDense(backend, float(info.fps) or 30.0) if backend is not None else None

        tracker, dense_for = new_tracker(), new_dense()
        # decoding runs one thread ahead and encoding one thread behind the swap (facelab.io.background)
        with BackgroundWriter(VideoWriter(dst, info.fps, (info.width, info.height), audio_from=src,
                                          overwrite=overwrite, metadata=synthetic_metadata(source) if label else None,
                                          seal=credentials.sealer(declaration(source, src))
                                          if credentials is not None else None)
                              ) as writer:
            for index, t, frame in prefetch(reader.timed_frames()):
                original, entries = frame, []
                try:
                    # 1. track (detect every k frames, O-Net or flow in between, smoothing)
                    tracked = selection.pick([(tr.track_id, tr.face) for tr in tracker.update(frame)])
                    # 2. swap each chosen face
                    for tid, face in tracked:
                        dense = dense_for(index, frame, tid, face) if dense_for is not None else None
                        frame, _ = swap_face(frame, face.landmarks, source, settings, crop_mask=mask, dense=dense)
                        entries.append(_face_entry(tid, face, source, settings))
                except Exception as exc:  # noqa: BLE001 - a frame that breaks the face step is kept as it is
                    # Why so broad: a frame decoded from damaged data can break any numeric step
                    # (OpenCV asserts, singular matrices, NaNs). The user's video must not lose the
                    # frame; it is written unchanged, counted and named in the sidecar.
                    log.debug("%s: frame %d: face step failed", src, index, exc_info=True)
                    record.passed_through.append({"frame": index, "time": round(t, 3),
                                                  "error": f"{type(exc).__name__}: {exc}"[:200]})
                    frame, entries = original, []
                    tracker, dense_for = new_tracker(), new_dense()  # their state may be half-updated
                record.frames.append({"frame": index, "time": round(t, 3), "faces": entries})
                # 3. encode, at the input's time
                writer.write(frame if watermark is None else draw_watermark(frame, watermark), t)
                record.frames_total += 1
                if on_frame is not None:
                    on_frame(record.frames_total, info.frame_count or None)
            if record.frames_total == 0:
                raise InputError(src, "video has no decodable frames")
            record.damage = reader.damage
    record.seconds = time.perf_counter() - t0
    _write_sidecar(record, dst)
    return record


def frames_per_second(record: SwapRecord) -> float:
    return record.frames_total / record.seconds if record.seconds > 0 else float("nan")


def changed_fraction(before: np.ndarray, after: np.ndarray) -> float:
    """Share of pixels that differ (for summaries and tests)."""
    return float((before != after).any(-1).mean())

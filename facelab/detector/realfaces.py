"""A cache of aligned real face crops, the only data the online-fakes detector trains on.

    faces = build_real_cache(["videos/", "photos/"], "runs/reals", CropSpec(128, 0.3))
    faces.crops[i]      # uint8 (S, S, 3) RGB, memory-mapped
    faces.lm68[i]       # float32 (68, 2) landmarks in the crop's frame
    faces.split[i]      # "train" or "val"

1. **Find and align** (:func:`facelab.faces.extract.extract`'s jobs): every frame of every video
   (``every``), every face of every photo, aligned to the detector crop
   (:class:`~facelab.detector.crops.CropSpec`). An input that is already a ``facelab extract``
   output (a folder holding ``faces.json``) is read as it is, if its crop margin matches.
   Each input's crops land in ``CACHE/extract/...`` when that input is complete (extract writes
   a video to a temporary folder and renames it), so an interrupted build resumes at the
   first unfinished input.
2. **Landmarks in the crop**: the five MTCNN points are mapped through the crop's ``M``; the
   68-point landmarks come from dlib's shape predictor on the crop when the ``dlib`` extra is
   installed, otherwise from the mean 68-point face fitted to the five points
   (:func:`facelab.detector.selfblend.mean_face68`). They only shape blending masks.
3. **Groups and split**: a video is one group, the photos of one folder are one group (a
   folder is usually one source, often one person, and several photos of one person must not
   straddle the split). Groups go to ``val`` by a seeded hash of their name, videos and
   photo folders separately so both kinds are in both splits: the validation reals are
   people, cameras and sources that training never saw.
4. **Pack** into ``CACHE/crops.npy`` (``(N, S, S, 3)`` uint8, memory-mapped by readers, so
   DataLoader workers share the pages) and ``CACHE/index.npz`` (landmarks, group, split, source,
   frame), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facelab.detector.crops import CropSpec
from facelab.detector.selfblend import mean_face68
from facelab.errors import ConfigError, InputError
from facelab.faces.align import transform_points
from facelab.faces.detect import Face, FaceDetector
from facelab.faces.extract import SIDECAR, ExtractConfig, plan_extract, run_extract_job
from facelab.faces.landmarks import Dlib68
from facelab.io.image import read_image

__all__ = ["RealFaces", "build_real_cache", "load_real_cache"]

log = logging.getLogger(__name__)

INDEX = "index.npz"
CROPS = "crops.npy"
CACHE_VERSION = 1


@dataclass
class RealFaces:
    """The packed cache (see the module docstring).

    Attributes:
        root: the cache folder.
        spec: crop geometry of ``crops``.
        crops: uint8 ``(N, S, S, 3)`` RGB (a read-only memory map).
        lm5: float32 ``(N, 5, 2)`` MTCNN landmarks in crop pixels.
        lm68: float32 ``(N, 68, 2)`` dense landmarks in crop pixels.
        dense: bool ``(N,)``: ``lm68`` is dlib's (True) or the fitted mean face (False).
        group: ``(N,)`` str: the video or photo folder the crop came from.
        split: ``(N,)`` str: ``train`` or ``val``.
        kind: ``(N,)`` str: ``video`` or ``photo``.
        source: ``(N,)`` str: the media file.
        frame: int ``(N,)``: frame index (0 for photos).
    """

    root: Path
    spec: CropSpec
    crops: np.ndarray
    lm5: np.ndarray
    lm68: np.ndarray
    dense: np.ndarray
    group: np.ndarray
    split: np.ndarray
    kind: np.ndarray
    source: np.ndarray
    frame: np.ndarray

    def __len__(self) -> int:
        return int(self.crops.shape[0])

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)


def _landmarks68() -> Dlib68 | None:
    """dlib's 68-point predictor, or None (with a warning) without the ``dlib`` extra."""
    try:
        return Dlib68()
    except ConfigError as exc:
        log.warning("dense landmarks: %s; the 68-point masks fall back to a mean face fitted to 5 points", exc)
        return None


def _group_split(names: Sequence[str], kinds: Sequence[str], val_fraction: float, seed: int) -> dict[str, str]:
    """Seeded hash split per kind: at least one group of each kind in val when the kind has two."""
    out: dict[str, str] = {}
    for kind in sorted(set(kinds)):
        members = sorted({n for n, k in zip(names, kinds) if k == kind})
        keyed = sorted(members, key=lambda n: hashlib.sha256(f"{seed}\0{n}".encode()).hexdigest())
        n_val = max(1, round(val_fraction * len(keyed))) if len(keyed) >= 2 else 0
        for i, name in enumerate(keyed):
            out[name] = "val" if i < n_val else "train"
    return out


def _read_sidecar(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(folder / SIDECAR, f"cannot read the extract sidecar ({exc})") from None


def _collect(folder: Path, data: dict[str, Any], spec: CropSpec, rel_group: str) -> list[dict[str, Any]]:
    """One entry per crop of an extract output folder, crops resized to ``spec`` when needed."""
    settings = data.get("settings", {})
    margin = float(settings.get("margin", spec.margin))
    if abs(margin - spec.margin) > 1e-6:
        raise InputError(folder, f"crops have margin {margin}, but the detector's crops have {spec.margin}; "
                                 "extract again with --margin " + str(spec.margin))
    is_video = "video" in data
    out = []
    for rec in data.get("crops", []):
        scale = spec.size / float(rec["size"])
        M = np.asarray(rec["M"], dtype=np.float64) * scale
        lm5 = transform_points(np.asarray(rec["landmarks"], dtype=np.float64), M).astype(np.float32)
        box = np.asarray(rec["box"], dtype=np.float64).reshape(2, 2)
        box_c = transform_points(box, M).reshape(-1).astype(np.float32)
        if is_video:
            group = rel_group
        else:  # photos: one group per folder of the input
            group = (rel_group + "/" + Path(rec["file"]).parent.as_posix()).rstrip("/.")
        out.append({"file": folder / rec["file"], "lm5": lm5, "box": box_c, "group": group,
                    "kind": "video" if is_video else "photo", "source": str(rec["source"]),
                    "frame": int(rec["frame"]), "size": int(rec["size"])})
    return out


def build_real_cache(
    inputs: Sequence[str | Path],
    cache: str | Path,
    spec: CropSpec,
    *,
    every: int = 1,
    min_size: float = 40.0,
    detect_every: int = 5,
    val_fraction: float = 0.15,
    seed: int = 0,
    device: str = "auto",
    dense: bool = True,
    on_frames: Callable[[int, int | None], None] | None = None,
) -> RealFaces:
    """Find, align and pack every real face of ``inputs`` into ``cache`` (see the module docstring).

    Resumable: inputs whose extract output is complete are not read again, and a cache whose
    ``index.npz`` exists with the same settings is loaded as it is.

    Raises:
        InputError: no input could be read, or no face was found in any.
        ConfigError: a cache made with other settings.
    """
    cache = Path(cache)
    settings = {"version": CACHE_VERSION, "spec": spec.to_dict(), "every": every, "min_size": min_size,
                "val_fraction": val_fraction, "seed": seed,
                "inputs": sorted(str(Path(p).resolve()) for p in inputs)}
    meta_path = cache / "cache.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: v for k, v in old.items() if k != "dense"} != settings:
            raise ConfigError(f"{cache} holds a real-face cache made with other settings or inputs; "
                              "remove it or choose another cache folder")
        if (cache / INDEX).is_file():
            return load_real_cache(cache)
    cache.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")

    # 1. find and align: extract outputs as they are, everything else through extract's jobs
    ready = [Path(p) for p in inputs if (Path(p) / SIDECAR).is_file()]
    media = [p for p in inputs if Path(p) not in ready]
    work = cache / "extract"
    jobs, skipped = plan_extract(media, work, every=every) if media else ([], [])
    for path, reason in skipped:
        log.warning("%s: %s", path, reason)
    cfg = ExtractConfig(size=spec.size, margin=spec.margin, every=every, min_size=min_size,
                        detect_every=detect_every)
    todo = [j for j in jobs if not (j.out_dir / SIDECAR).is_file()]
    known = [j.frames for j in todo]
    total = sum(n for n in known if n) if all(known) else None
    detector = FaceDetector(device=device, min_face_size=int(min_size)) if todo else None
    for job in todo:
        if job.out_dir.exists():  # a photo folder interrupted half-way: ours to redo
            shutil.rmtree(job.out_dir)
        result = run_extract_job(job, detector, cfg,  # type: ignore[arg-type]
                                 on_frames=lambda n: on_frames(n, total) if on_frames else None)
        if result.error is not None:
            log.warning("%s: %s", job.source, result.error)
    folders = [(j.out_dir, j.out_dir.relative_to(work).as_posix()) for j in jobs if (j.out_dir / SIDECAR).is_file()]
    folders += [(p, p.resolve().name) for p in ready]

    # 2. landmarks in the crop
    entries: list[dict[str, Any]] = []
    for folder, rel in folders:
        entries += _collect(folder, _read_sidecar(folder), spec, rel)
    if not entries:
        raise InputError(Path(str(inputs[0])) if inputs else cache, "no face found in any real input")
    dlib68 = _landmarks68() if dense else None

    n, s = len(entries), spec.size
    tmp = cache / (CROPS + ".tmp")
    crops = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, s, s, 3))
    lm68 = np.zeros((n, 68, 2), np.float32)
    for i, e in enumerate(entries):
        img = read_image(e["file"])
        if img.shape[:2] != (s, s):
            img = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA if img.shape[0] > s else cv2.INTER_LINEAR)
        crops[i] = img
        # dlib starts from the crop's face box (the crop's MTCNN box; the score is not used)
        lm68[i] = dlib68(img, [Face(e["box"], 1.0, e["lm5"])])[0] if dlib68 is not None else mean_face68(e["lm5"])
    crops.flush()
    del crops
    tmp.replace(cache / CROPS)

    # 3. groups and split
    groups = [e["group"] for e in entries]
    kinds = [e["kind"] for e in entries]
    splits = _group_split(groups, kinds, val_fraction, seed)

    # 4. pack
    tmp_index = cache / "index.tmp.npz"
    np.savez(tmp_index, lm5=np.stack([e["lm5"] for e in entries]), lm68=lm68,
             dense=np.full(n, dlib68 is not None), group=np.array(groups), split=np.array([splits[g] for g in groups]),
             kind=np.array(kinds), source=np.array([e["source"] for e in entries]),
             frame=np.array([e["frame"] for e in entries], dtype=np.int64))
    tmp_index.replace(cache / INDEX)
    meta_path.write_text(json.dumps({**settings, "dense": dlib68 is not None}, indent=2) + "\n", encoding="utf-8")
    faces = load_real_cache(cache)
    log.info("real-face cache %s: %d crops from %d groups (%d train, %d val crops)", cache, len(faces),
             len(set(groups)), len(faces.indices("train")), len(faces.indices("val")))
    return faces


def load_real_cache(cache: str | Path) -> RealFaces:
    """Open a cache made by :func:`build_real_cache` (crops memory-mapped, read-only)."""
    cache = Path(cache)
    for name in (INDEX, CROPS, "cache.json"):
        if not (cache / name).is_file():
            raise InputError(cache / name, "not found (is this a real-face cache made by `facelab train detector --real`?)")
    meta = json.loads((cache / "cache.json").read_text(encoding="utf-8"))
    with np.load(cache / INDEX, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    crops = np.load(cache / CROPS, mmap_mode="r", allow_pickle=False)
    return RealFaces(root=cache, spec=CropSpec.from_dict(meta["spec"]), crops=crops, **arrays)

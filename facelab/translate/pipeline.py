"""From input paths to translated files: plan the outputs, then translate each image or video.

    jobs = plan_jobs(["photos/", "clip.mp4"], "out/")
    for job in jobs:
        result = run_job(translator, job, overwrite=False)   # raises FacelabError on a bad item

1. plan: expand folders recursively (relative paths are kept under OUT), pick each output path,
   refuse to write onto an input.
2. images: read (EXIF, grey, alpha, 16-bit handled by facelab.io), translate, write atomically.
3. videos: stream frames through the translator in batches and encode H.264 with the same fps,
   copying the audio; constant memory in the video's length.

Every output is labelled synthetic in its metadata (:func:`synthetic_tag`: facelab version, model,
arch, weights sha256 prefix) unless ``label=False``; ``watermark="TEXT"`` also draws a visible
label on every image or frame (:mod:`facelab.provenance`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facelab.credentials import Declaration, SigningKey, file_sha256
from facelab.errors import ConfigError, InputError, OutputError
from facelab.files import folder_problem
from facelab.io.background import BackgroundWriter, prefetch
from facelab.io.decode import Damage, OnDamage
from facelab.io.image import IMAGE_EXTS, is_image, read_image, write_image
from facelab.io.video import VIDEO_EXTS, VideoReader, VideoWriter, is_video
from facelab.provenance import draw_watermark, synthetic_label
from facelab.translate.infer import Translator, batched

log = logging.getLogger(__name__)

KEEP_VIDEO_EXTS = {"mp4", "mov", "mkv", "m4v"}  # containers that take H.264 + AAC as they are


@dataclass(frozen=True)
class Job:
    src: Path
    dst: Path
    kind: str  # "image" | "video"


@dataclass
class JobResult:
    job: Job
    frames: int
    seconds: float
    damage: Damage | None = None  # videos: what decoding lost to damage (facelab.io.decode)

    @property
    def warnings(self) -> list[str]:
        return [self.damage.describe()] if self.damage is not None and self.damage.damaged else []


def _kind(path: Path) -> str | None:
    return "image" if is_image(path) else "video" if is_video(path) else None


def _video_dst_name(src: Path) -> str:
    ext = src.suffix.lower().lstrip(".")
    return src.name if ext in KEEP_VIDEO_EXTS else src.stem + ".mp4"


def plan_jobs(inputs: list[str | Path], out: str | Path, *, image_ext: str | None = None
              ) -> tuple[list[Job], list[tuple[Path, str]]]:
    """Decide every output path. Returns (jobs, skipped) where skipped holds (path, reason).

    - one input file and OUT with a media extension: OUT is the output file;
    - otherwise OUT is a folder: files go to OUT/<name>, folders to OUT/<relative path>.
    """
    out = Path(out)
    paths = [Path(p) for p in inputs]
    jobs: list[Job] = []
    skipped: list[tuple[Path, str]] = []
    out_ext = out.suffix.lower().lstrip(".")
    single_file = len(paths) == 1 and not paths[0].is_dir() and out_ext in IMAGE_EXTS | VIDEO_EXTS
    for p in paths:
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
            for f in files:
                kind = _kind(f)
                if kind is None:
                    continue  # folders may hold sidecars, notes...; only media are translated
                rel = f.relative_to(p)
                name = _video_dst_name(f) if kind == "video" else (
                    rel.with_suffix("." + image_ext).name if image_ext else f.name)
                jobs.append(Job(f, out / p.name / rel.parent / name if len(paths) > 1 else out / rel.parent / name, kind))
            if not any(j.src.is_relative_to(p) for j in jobs):
                skipped.append((p, "folder holds no images or videos"))
            continue
        if not p.exists():
            skipped.append((p, "no such file or folder"))
            continue
        kind = _kind(p)
        if kind is None:
            skipped.append((p, f"not an image or video by its extension ({', '.join(sorted(IMAGE_EXTS | VIDEO_EXTS))})"))
            continue
        if single_file:
            if (kind == "video") != (out_ext in VIDEO_EXTS):
                raise ConfigError(f"-o {out}: a {kind} input needs a {kind} output extension")
            jobs.append(Job(p, out, kind))
        else:
            name = _video_dst_name(p) if kind == "video" else (p.with_suffix("." + image_ext).name if image_ext else p.name)
            jobs.append(Job(p, out / name, kind))
    # never write onto an input, nor twice to one output
    inputs_resolved = {j.src.resolve() for j in jobs}
    seen: set[Path] = set()
    kept: list[Job] = []
    for j in jobs:
        dst = j.dst.resolve()
        if dst in inputs_resolved:
            skipped.append((j.src, f"output {j.dst} would overwrite an input; choose another -o"))
        elif dst in seen:
            skipped.append((j.src, f"output {j.dst} is already the output of another input"))
        else:
            seen.add(dst)
            kept.append(j)
    return kept, skipped


def translate_image_file(tr: Translator, job: Job, overwrite: bool = False, *, label: bool = True,
                         watermark: str | None = None, credentials: SigningKey | None = None) -> JobResult:
    """Translate one image; ``label``: synthetic-media metadata, ``watermark``: visible text (None: none),
    ``credentials``: a signed C2PA manifest (:func:`declaration`), written before the file appears."""
    t0 = time.perf_counter()
    if job.dst.exists() and not overwrite:
        raise OutputError(job.dst, "exists; pass --overwrite to replace it")
    img = read_image(job.src)
    (out,) = tr.translate([img])
    if watermark is not None:
        out = draw_watermark(out, watermark)
    write_image(job.dst, out, overwrite=overwrite, metadata=synthetic_tag(tr) if label else None,
                seal=credentials.sealer(declaration(tr, job.src)) if credentials is not None else None)
    return JobResult(job, 1, time.perf_counter() - t0)


def declaration(tr: Translator, src: Path) -> Declaration:
    """What the C2PA manifest of a translation of ``src`` declares: the model and its weights' sha256."""
    model = tr.info.get("model") or Path(tr.info.get("weights_path", "?")).name
    return Declaration("translated", model=str(model), model_sha256=file_sha256(tr.info.get("weights_path")),
                       parent=src)


def synthetic_tag(tr: Translator) -> dict[str, str]:
    """Metadata that says the file is synthetic and what made it (model, arch, weights sha256 prefix)."""
    model = tr.info.get("model") or Path(tr.info.get("weights_path", "?")).name
    return synthetic_label("translated", model=model, arch=tr.info.get("arch"), weights=tr.info.get("weights_path"))


def default_batch_size(tr: Translator) -> int:
    """Video frames per forward pass: 4 on CUDA, 1 on the CPU.

    Why: on the 2-core CPU of docs/benchmarks.md a ``resnet_9blocks`` forward already runs at the
    machine's matmul peak one frame at a time, and batches of 4 and 8 were 15-25 % slower (larger
    activations fall out of the caches); a GPU needs batches to fill it.
    """
    return 4 if tr.device.type == "cuda" else 1


def translate_video_file(tr: Translator, job: Job, *, batch_size: int | None = None, overwrite: bool = False,
                         on_frames: Callable[[int, int | None], None] | None = None, label: bool = True,
                         watermark: str | None = None, on_damage: OnDamage = "skip",
                         credentials: SigningKey | None = None) -> JobResult:
    """Translate every frame; `on_frames(n_done, total_or_None)` after each batch.

    Every frame that decodes is written at its input time, so the output keeps the input's
    timeline and audio sync; frames lost to damage are reported in ``JobResult.damage``, not
    invented (``on_damage="fail"``: refuse a damaged input, no output).

    ``batch_size``: frames per forward pass (None: :func:`default_batch_size`).

    ``label``: synthetic-media container metadata; ``watermark``: text drawn on every frame;
    ``credentials``: a signed C2PA manifest (:func:`declaration`), written before the file appears.
    """
    t0 = time.perf_counter()
    if job.dst.exists() and not overwrite:
        raise OutputError(job.dst, "exists; pass --overwrite to replace it")
    done = 0
    with VideoReader(job.src, on_damage=on_damage) as reader:
        info = reader.info
        size = tr.size
        batch = batch_size or default_batch_size(tr)
        # decoding one thread ahead and encoding one behind the network (facelab.io.background)
        with BackgroundWriter(VideoWriter(job.dst, info.fps, size, audio_from=job.src, overwrite=overwrite,
                                          metadata=synthetic_tag(tr) if label else None,
                                          seal=credentials.sealer(declaration(tr, job.src))
                                          if credentials is not None else None)) as writer:
            for items in batched(prefetch(reader.timed_frames()), max(1, batch)):
                outs = tr.translate([frame for _, _, frame in items])
                for (_, t, _), out in zip(items, outs, strict=True):
                    writer.write(out if watermark is None else draw_watermark(out, watermark), t)
                done += len(items)
                if on_frames is not None:
                    on_frames(done, info.frame_count or None)
            if done == 0:  # raised inside the writer: it removes its temporary file, no output is left
                raise InputError(job.src, "video has no decodable frames")
    return JobResult(job, done, time.perf_counter() - t0, damage=reader.damage)


def run_job(tr: Translator, job: Job, *, batch_size: int | None = None, overwrite: bool = False,
            on_frames: Callable[[int, int | None], None] | None = None, label: bool = True,
            watermark: str | None = None, on_damage: OnDamage = "skip",
            credentials: SigningKey | None = None) -> JobResult:
    """Translate one planned job, image or video (the arguments of the two functions above)."""
    if job.kind == "image":
        return translate_image_file(tr, job, overwrite, label=label, watermark=watermark, credentials=credentials)
    return translate_video_file(tr, job, batch_size=batch_size, overwrite=overwrite, on_frames=on_frames,
                                label=label, watermark=watermark, on_damage=on_damage, credentials=credentials)


def writable_dir(path: Path) -> None:
    """Fail early, with the folder's name, when outputs cannot be written there."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise OutputError(path, folder_problem(path))

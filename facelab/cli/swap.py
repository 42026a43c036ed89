"""CLI: `facelab swap` (one-shot from a photo, or with a model trained by `facelab train swap`, in
`facelab.cli.train`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click
from tqdm import tqdm

from facelab.cli.options import on_damage_option, provenance_options, shard_jobs, shard_option, signing
from facelab.cli.ui import EXIT_FAILED, EXIT_PARTIAL, Globals, echo
from facelab.errors import ConfigError, as_item_error
from facelab.shard import Shard

if TYPE_CHECKING:
    from facelab.faces.blend import BlendMode
    from facelab.faces.color import ColorMethod
    from facelab.io.decode import OnDamage

EXAMPLES = """
\b
Examples:
  facelab swap --source alice.jpg --target group.jpg -o swapped.jpg
  facelab swap --source alice.jpg --target talk.mp4 -o talk_swapped.mp4 --largest
  facelab swap --source alice.jpg --target talk.mp4 -o out.mp4 --track 0 --blend poisson
  facelab swap --source alice_photos/ --target talk.mp4 -o out.mp4        # nearest pose per face
  facelab swap --model runs/bob2alice --target bob.mp4 -o bob_as_alice.mp4
  facelab swap --source alice.jpg --target clips/ -o swapped/ --watermark     # every video of a folder
  facelab swap --source alice.jpg --target clips/ -o swapped/ --resume        # after an interruption
  facelab swap --source alice.jpg --target clips/ -o swapped/ --shard 3/8     # one of 8 machines

\b
Several --target values or a folder need -o to be a folder: each output is OUT/<relative path>,
written as soon as it is done (the file, then its sidecar OUT.json, each atomically). An output
that exists is an error unless --overwrite (as in `facelab translate`); --resume skips finished
ones (file and sidecar present) and redoes the rest. A target that fails is reported and the
others go on: exit code 3 when some failed, 1 when all did. With --shard I/N only the I-th
share of the targets is done; the N shards write into the same -o folder, which then holds
every output, as one run would (docs/cluster.md).
"""


@click.command("swap", epilog=EXAMPLES)
@click.option("--source", "sources", multiple=True, type=click.Path(path_type=Path),
              help="Photo of the face to put in (one-shot swap); repeat it or give a folder for several photos "
                   "of the same person: each target face takes the one whose head pose is nearest.")
@click.option("--model", type=click.Path(path_type=Path),
              help="Run folder or checkpoint from `facelab train swap` (learned swap) instead of --source.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="With --model: which way the learned translator runs (A = --faces-a of training).")
@click.option("--target", "targets", required=True, multiple=True, type=click.Path(path_type=Path),
              help="Photo, video or folder (searched recursively) whose faces are replaced; repeatable.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Output photo or video (one target file), else an output folder.")
@click.option("--largest", is_flag=True, help="Only the largest face of each frame.")
@click.option("--track", type=click.IntRange(0), default=None, help="Only this face track (ids in the sidecar / extract).")
@click.option("--blend", type=click.Choice(["alpha", "poisson"]), default="alpha", show_default=True,
              help="Feathered alpha blend, or Poisson seamless clone.")
@click.option("--color", type=click.Choice(["reinhard", "hist", "none"]), default="reinhard", show_default=True,
              help="Colour transfer of the new face to the target's skin.")
@click.option("--size", type=click.IntRange(32, 1024), default=256, show_default=True, help="Aligned crop size.")
@click.option("--margin", type=float, default=0.2, show_default=True, help="Context around the ArcFace crop.")
@click.option("--erode", type=click.FloatRange(0, 0.3), default=0.03, show_default=True,
              help="Mask erosion, as a fraction of the crop size.")
@click.option("--feather", type=click.FloatRange(0, 0.3), default=0.05, show_default=True,
              help="Mask feathering, as a fraction of the crop size.")
@click.option("--landmarks", type=click.Choice(["auto", "5pt", "dlib68"]), default="auto", show_default=True,
              help="dlib68: dlib's 68 points (optional extra `facelab[dlib]`, model licensed for NON-COMMERCIAL use "
                   "only); the one-shot face follows the target's expression (mouth, eyes, brows, jaw). 5pt: MTCNN's "
                   "points only, the source photo's expression is kept. auto: dlib68 for one-shot swaps when the "
                   "extra is installed, else 5pt.")
@click.option("--target-parts", type=click.Choice(["mouth", "eyes", "mouth+eyes", "none"]), default="mouth",
              show_default=True,
              help="With dlib68: parts of the target face kept under the bent source face (the inside of the mouth: "
                   "teeth and tongue the source photo lacks; the eyes: the target's gaze and blinks).")
@click.option("--mask", type=click.Choice(["ellipse", "hull"]), default="ellipse", show_default=True,
              help="Face mask: an ellipse from the 5 points, or the hull of the dense landmarks (dlib68).")
@click.option("--detect-every", type=click.IntRange(1), default=5, show_default=True,
              help="Videos: run the full MTCNN every N frames (new faces appear on those frames).")
@click.option("--refine/--no-refine", default=True, show_default=True,
              help="Videos: between full detections, re-detect each tracked face with MTCNN's O-Net at its last box "
                   "(optical flow for faces it loses); --no-refine: optical flow only.")
@provenance_options
@on_damage_option
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (inputs are never overwritten).")
@click.option("--resume", is_flag=True, help="Skip targets whose output and sidecar already exist; redo the rest.")
@shard_option
@click.pass_context
def swap(ctx: click.Context, sources: tuple[Path, ...], model: Path | None, direction: str, targets: tuple[Path, ...],
         out: Path, largest: bool, track: int | None, blend: BlendMode, color: ColorMethod, size: int, margin: float, erode: float,
         feather: float, landmarks: str, target_parts: str, mask: str, detect_every: int, refine: bool, label: bool,
         watermark: str | None, c2pa: bool, sign_cert: Path | None, sign_key: Path | None,
         on_damage: str, overwrite: bool, resume: bool, shard: Shard | None) -> None:
    """Put a face onto every face (or the chosen ones) of photos and videos.

    One-shot (--source): the source face is aligned to the target's pose by a 5-point similarity
    and, with dlib's 68 points (the `dlib` extra), bent onto the target's landmarks in every frame so
    that it follows the target's expression; then colour-corrected, masked and blended. Learned (--model): a translator trained on aligned faces
    of two people turns each target face into the other identity. Frames without faces pass
    through unchanged; videos keep frame count, fps, size and audio. A JSON sidecar (OUT.json)
    lists every changed frame and face. Outputs are labelled synthetic in their metadata
    (--no-label to leave it out) and carry a signed C2PA manifest that says so (--no-c2pa to
    leave it out); --watermark also draws the label on every frame.
    """
    from facelab.faces.detect import FaceDetector
    from facelab.io.image import IMAGE_EXTS, is_image
    from facelab.io.video import VIDEO_EXTS, is_video
    from facelab.swap.oneshot import MultiSource, OneShotSource, SwapSettings
    from facelab.swap.pipeline import Selection, finished, swap_image_file, swap_video_file
    from facelab.translate.pipeline import Job, plan_jobs

    g: Globals = ctx.obj
    if bool(sources) == (model is not None):
        ctx.fail("pass exactly one of --source PHOTO (one-shot) or --model RUN (learned)")
    if largest and track is not None:
        ctx.fail("--largest and --track exclude each other")
    if resume and overwrite:
        ctx.fail("--resume and --overwrite exclude each other (--resume keeps finished outputs)")
    out_ext = out.suffix.lower().lstrip(".")
    if len(targets) == 1 and not targets[0].is_dir() and out_ext in IMAGE_EXTS | VIDEO_EXTS:
        if shard is not None:
            ctx.fail("--shard splits a batch: pass a folder or several --target values, and an -o folder")
        target = targets[0]
        kind = "image" if is_image(target) else "video" if is_video(target) else None
        if kind is None:
            raise ConfigError(f"{target}: not a photo or video by its extension")
        if not target.exists():
            from facelab.errors import InputError

            raise InputError(target, "no such file")
        if (kind == "image") != is_image(out) or (kind == "video") != is_video(out):
            ctx.fail(f"-o {out}: a {kind} target needs a {kind} output extension")
        jobs: list[Job] = [Job(target, out, kind)]
        failures: list[tuple[Path, str]] = []
        if out.exists() and target.exists() and out.resolve() == target.resolve():
            from facelab.errors import OutputError

            raise OutputError(out, "is the input; choose another -o (inputs are never overwritten)")
    else:
        if out_ext in IMAGE_EXTS | VIDEO_EXTS and not out.is_dir():
            ctx.fail(f"-o {out}: several targets or a folder need an output folder, not a file name")
        jobs, failures = plan_jobs(list(targets), out)
        if shard is not None:  # every shard plans all outputs the same way, then keeps its own
            jobs, failures = shard_jobs(ctx, shard, targets, jobs, failures)
            if not jobs and not failures:
                return
    for path, reason in failures:
        click.echo(f"error: {path}: {reason}", err=True)
    done_before = [j for j in jobs if resume and finished(j.dst)]
    todo = [j for j in jobs if j not in done_before]
    if done_before:
        echo(ctx, f"resume: {len(done_before)} of {len(jobs)} outputs already finished, skipped")
    if not jobs:
        raise click.exceptions.Exit(EXIT_FAILED)
    source_photos = _source_photos(sources) if sources else []
    if landmarks == "auto":
        landmarks = _auto_landmarks(ctx, one_shot=bool(sources), mask=mask)
    settings = SwapSettings(size=size, margin=margin, erode=erode, feather=feather, blend=blend, color=color,
                            landmarks=landmarks, target_parts=target_parts, mask=mask)
    detector = FaceDetector(device=g.device)
    if source_photos:
        one_shots = [OneShotSource.from_photo(p, detector, settings) for p in source_photos]
        for one in one_shots:
            for why in one.warnings():
                click.echo(f"warning: {one.path}: {why}; a neutral, closed-mouth, frontal photo swaps best", err=True)
        face_source: Any = one_shots[0] if len(one_shots) == 1 else MultiSource(one_shots)
    else:
        from facelab.swap.learned import load_swap_model

        assert model is not None  # exactly one of --source and --model, checked above
        face_source, settings = load_swap_model(model, settings, direction=direction, device=g.device)
    selection = Selection(largest=largest, track=track)
    credentials = signing(ctx, c2pa, sign_cert, sign_key)
    failed: list[tuple[Path, str]] = list(failures)
    frames = faces = changed = 0
    warned: list[tuple[Path, str]] = []
    t0 = time.perf_counter()
    files_bar = tqdm(total=len(todo), unit="file", desc="swap", disable=g.verbosity < 0 or len(todo) < 2,
                     dynamic_ncols=True)
    for job in todo:
        bar = tqdm(unit="frame", desc=job.src.name[:30], disable=g.verbosity < 0 or job.kind != "video",
                   dynamic_ncols=True, leave=len(todo) == 1)

        def on_frame(done: int, total: int | None, bar: tqdm = bar) -> None:
            bar.total = total
            bar.update(done - bar.n)

        # --resume: an unfinished output (no sidecar) is redone over whatever the crash left
        replace = overwrite or (resume and job.dst.exists())
        try:
            if job.kind == "image":
                rec = swap_image_file(face_source, job.src, job.dst, detector, settings, selection=selection,
                                      overwrite=replace, label=label, watermark=watermark, credentials=credentials)
            else:
                rec = swap_video_file(face_source, job.src, job.dst, detector, settings, selection=selection,
                                      detect_every=detect_every, refine=refine, overwrite=replace, label=label,
                                      watermark=watermark, on_damage=cast("OnDamage", on_damage),
                                      on_frame=on_frame, credentials=credentials)
        except Exception as exc:  # one bad file must not stop the batch (as_item_error logs bugs)
            exc = as_item_error(job.src, exc)
            failed.append((job.src, str(exc)))
            tqdm.write(f"error: {exc}", file=sys.stderr)
            continue
        except KeyboardInterrupt:
            if len(todo) > 1:
                click.echo("note: finished outputs are kept; run the same command with --resume to continue",
                           err=True)
            raise
        finally:
            bar.close()
            files_bar.update(1)
        frames += rec.frames_total
        for warning in rec.warnings:
            warned.append((job.src, warning))
            if len(todo) > 1:
                tqdm.write(f"warning: {job.src}: {warning}", file=sys.stderr)
        changed += sum(1 for f in rec.frames if f["faces"])
        faces += sum(len(f["faces"]) for f in rec.frames)
        if len(jobs) > 1:
            tqdm.write(f"{job.src} -> {job.dst}: {sum(len(f['faces']) for f in rec.frames)} faces swapped")
    files_bar.close()
    dt = time.perf_counter() - t0
    ok = len(todo) - (len(failed) - len(failures))
    if len(jobs) == 1 and not failed and todo:
        rate = f", {frames / dt:.1f} frames/s" if jobs[0].kind == "video" else ""
        echo(ctx, f"swapped {faces} faces in {changed} of {frames} frames in {dt:.1f}s{rate} -> {out} "
                  f"(sidecar {out.name}.json)" + "".join(f"; WARNING: {w}" for _, w in warned))
    else:
        echo(ctx, f"swapped {faces} faces in {changed} of {frames} frames of {ok} of {len(todo) + len(failures)} "
                  f"targets in {dt:.1f}s -> {out}" + (f"; {len(done_before)} finished before" if done_before else "")
                  + (f"; {len(failed)} failed" if failed else "")
                  + (f"; WARNING: {len({p for p, _ in warned})} damaged inputs (see above and the sidecars)"
                     if warned else ""))
    if failed:
        for path, reason in failed:
            # an InputError already names its file
            echo(ctx, f"  failed: {reason if reason.startswith(str(path)) else f'{path}: {reason}'}", err=True)
        raise click.exceptions.Exit(EXIT_FAILED if ok + len(done_before) == 0 else EXIT_PARTIAL)


def _source_photos(sources: tuple[Path, ...]) -> list[Path]:
    """The photos named by --source: files as given, folders by their photos (sorted, not recursive)."""
    from facelab.errors import InputError
    from facelab.io.image import is_image

    photos: list[Path] = []
    for src in sources:
        if src.is_dir():
            found = sorted(p for p in src.iterdir() if p.is_file() and is_image(p))
            if not found:
                raise InputError(src, "no photos in this --source folder")
            photos += found
        elif not src.exists():
            raise InputError(src, "no such file")
        else:
            photos.append(src)
    return photos


_FALLBACK = ("note: dlib's 68-point landmarks are not installed, so the one-shot swap uses 5 points: the face keeps "
             "the source photo's expression (its mouth does not move with the target's). For the expression-following "
             'swap: pip install "facelab[dlib]" (its 68-point model is licensed for non-commercial use only).')


def _auto_landmarks(ctx: click.Context, *, one_shot: bool, mask: str) -> str:
    """--landmarks auto: dlib68 for one-shot swaps (or a hull mask) when the extra is installed, else 5pt,
    saying once what is lost."""
    from facelab.swap.oneshot import default_landmarks

    if not (one_shot or mask == "hull"):
        return "5pt"  # a learned model follows the target by itself; the ellipse needs no dense points
    if default_landmarks() == "dlib68":
        return "dlib68"
    if mask == "hull":
        ctx.fail("--mask hull needs dlib's 68 points: pip install \"facelab[dlib]\", or use --mask ellipse")
    echo(ctx, _FALLBACK, err=True)
    return "5pt"

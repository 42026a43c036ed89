"""CLI commands for faces: `extract`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from facelab.cli.options import on_damage_option
from facelab.cli.ui import EXIT_FAILED, EXIT_PARTIAL, Globals, damage_suffix, echo

EXAMPLES_EXTRACT = """
\b
Examples:
  facelab extract clip.mp4 -o crops/                       # crops/clip/000000_t00.png ... + faces.json
  facelab extract photos/ -o crops/ --size 512 --margin 0.3
  facelab extract a.mp4 b.mp4 -o crops/ --every 5 --max-faces 1 --detect-every 3
  facelab extract portrait.jpg -o crops/ --size 112        # ArcFace-ready 112x112 crops

\b
Each input gets OUT/<name>/ with the crops and faces.json (source, frame, time, track id,
box, landmarks, score and the 2x3 image->crop matrix M of every crop). See docs/faces.md.
"""


@click.command("extract", epilog=EXAMPLES_EXTRACT)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="VIDEO_OR_FOLDER...")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Output folder; each input gets a subfolder named after it.")
@click.option("--size", type=click.IntRange(16, 4096), default=256, show_default=True, help="Crop side in pixels.")
@click.option("--margin", type=click.FloatRange(-0.5, 3.0), default=0.0, show_default=True,
              help="Context around the tight ArcFace crop, as a fraction of its side (0.3: ears and hairline).")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True,
              help="Use video frames 0, N, 2N, ... only.")
@click.option("--max-faces", type=click.IntRange(1), default=None, help="Keep at most N faces per frame, the largest.")
@click.option("--min-size", type=click.FloatRange(0), default=40, show_default=True,
              help="Ignore faces narrower than this many pixels.")
@click.option("--detect-every", type=click.IntRange(1), default=1, show_default=True,
              help="Run the detector on every K-th used frame; optical flow follows faces in between (faster).")
@click.option("--smooth/--no-smooth", default=True, show_default=True,
              help="Smooth landmarks over time (One-Euro filter) before aligning video frames.")
@click.option("--format", "image_ext", type=click.Choice(["png", "jpg"]), default="png", show_default=True,
              help="Crop file format.")
@on_damage_option
@click.option("--overwrite", is_flag=True, help="Replace earlier extract outputs of the same inputs.")
@click.pass_context
def extract(ctx: click.Context, inputs: tuple[Path, ...], out: Path, size: int, margin: float, every: int,
            max_faces: int | None, min_size: float, detect_every: int, smooth: bool, image_ext: str,
            on_damage: str, overwrite: bool) -> None:
    """Detect, track and align faces in videos, photos and folders; save the crops with a JSON sidecar.

    Faces are found with MTCNN, followed across video frames (stable track ids), aligned to the
    ArcFace 5-point template by a similarity transform and saved as SIZE x SIZE crops.
    """
    from facelab.faces.extract import InputResult
    from facelab.faces.extract import extract as run_extract

    g: Globals = ctx.obj
    quiet = g is not None and g.verbosity < 0
    bar = tqdm(unit="frame", desc="extract", dynamic_ncols=True, disable=quiet)

    def on_frames(n: int, total: int | None) -> None:
        if bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(n)

    def on_result(result: InputResult) -> None:
        if result.error is not None:
            tqdm.write(f"error: {result.job.source}: {result.error}", file=sys.stderr)
        for path, reason in result.failures:
            tqdm.write(f"error: {path}: {reason}", file=sys.stderr)
        for warning in result.warnings:
            warned.append(warning)
            tqdm.write(f"warning: {result.job.source}: {warning}", file=sys.stderr)

    warned: list[str] = []
    t0 = time.perf_counter()
    try:
        summary = run_extract(list(inputs), out, size=size, margin=margin, every=every, max_faces=max_faces,
                              min_size=min_size, detect_every=detect_every, smooth=smooth,
                              image_ext=image_ext, overwrite=overwrite,  # type: ignore[arg-type]
                              on_damage=on_damage,  # type: ignore[arg-type]
                              device=g.device if g is not None else "auto", on_frames=on_frames,
                              on_result=on_result)
    finally:
        bar.close()
    for path, reason in summary.skipped:
        click.echo(f"error: {path}: {reason}", err=True)
    n_inputs = len(summary.results) + len(summary.skipped)
    failed = summary.failed
    echo(ctx, f"extracted {summary.crops} faces from {summary.succeeded} of {n_inputs} inputs "
              f"({summary.frames} frames/photos) in {time.perf_counter() - t0:.1f}s -> {out}"
              + (f"; {len(failed)} failed" if failed else "")
              + damage_suffix(warned))
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED if summary.succeeded == 0 else EXIT_PARTIAL)

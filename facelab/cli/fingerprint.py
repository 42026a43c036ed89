"""CLI group `fingerprint`: a person's motion fingerprint from real videos, for `detect --reference`."""

from __future__ import annotations

from pathlib import Path

import click

from facelab.cli.ui import Globals, echo, progress_bar

EXAMPLES_BUILD = """
\b
Examples:
  facelab fingerprint build alice alice_2019.mp4 alice_2021.mp4 -o alice.fp
  facelab detect new_clip.mp4 --reference alice.fp --report r.html

\b
Give real videos of one person only (the longest face track of each video is taken; a video
whose main face is someone else stops the build). The fingerprint is the person's facial
behaviour over windows of --window seconds: how head turns, mouth, brows and eyes move together
(Agarwal et al. 2019). A few seconds make a weak fingerprint; docs/detect.md shows how the
separation grows with footage. Needs the dlib extra (68-point landmarks, face embeddings).
"""


@click.group("fingerprint")
def fingerprint_group() -> None:
    """A person's motion fingerprint (how their face moves), to check videos of them."""


@fingerprint_group.command("build", epilog=EXAMPLES_BUILD)
@click.argument("name")
@click.argument("videos", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False), metavar="REAL_VIDEOS...")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The fingerprint file to write (.fp; plain tensors, read with weights_only=True).")
@click.option("--window", type=click.FloatRange(1.0), default=3.0, show_default=True,
              help="Window length in seconds (its signals' pairwise correlations are one sample).")
@click.option("--window-stride", type=click.FloatRange(0.1), default=0.5, show_default=True,
              help="Step between windows in seconds.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.pass_context
def build(ctx: click.Context, name: str, videos: tuple[Path, ...], output: Path, window: float, window_stride: float,
          overwrite: bool) -> None:
    """Fit NAME's motion fingerprint on REAL_VIDEOS of them and write it to --output."""
    from facelab.detector.fingerprint import fingerprint_videos
    from facelab.errors import InputError, OutputError
    from facelab.faces.detect import FaceDetector
    from facelab.io.video import is_video

    if output.exists() and not overwrite:
        raise OutputError(output, "exists; pass --overwrite to replace it")
    if not output.parent.is_dir():
        raise OutputError(output, f"folder {output.parent} does not exist")
    for v in videos:
        if not v.is_file():
            raise InputError(v, "no such file")
        if not is_video(v):
            raise InputError(v, "not a video by its extension")
    g: Globals | None = ctx.obj
    detector = FaceDetector(device=g.device if g is not None else "auto", min_face_size=40)
    bar = progress_bar(ctx, unit="frame", desc="fingerprint")

    def on_video(p: Path) -> None:
        bar.reset()
        bar.set_description(p.name[:30])

    def on_frame(done: int, total: int) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(1)

    try:
        fp = fingerprint_videos(name, [str(v) for v in videos], detector, window_s=window, stride_s=window_stride,
                                on_video=on_video, on_frame=on_frame)
    finally:
        bar.close()
    fp.save(output)
    echo(ctx, f"{name}: {fp.windows} windows from {fp.seconds:.1f} s of face in {len(videos)} video(s) -> {output}"
              + (" (a few seconds only: a weak fingerprint, see docs/detect.md)" if fp.seconds < 60 else ""))

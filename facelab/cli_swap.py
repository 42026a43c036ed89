"""CLI: `facelab swap` (one-shot from a photo, or with a model trained by `facelab train swap`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from tqdm import tqdm

from facelab.cli import Globals, echo
from facelab.cli_translate import train_with_bar
from facelab.errors import ConfigError

EXAMPLES = """
\b
Examples:
  facelab swap --source alice.jpg --target group.jpg -o swapped.jpg
  facelab swap --source alice.jpg --target talk.mp4 -o talk_swapped.mp4 --largest
  facelab swap --source alice.jpg --target talk.mp4 -o out.mp4 --track 0 --blend poisson
  facelab swap --model runs/bob2alice --target bob.mp4 -o bob_as_alice.mp4
"""


@click.command("swap", epilog=EXAMPLES)
@click.option("--source", type=click.Path(path_type=Path), help="Photo of the face to put in (one-shot swap).")
@click.option("--model", type=click.Path(path_type=Path),
              help="Run folder or checkpoint from `facelab train swap` (learned swap) instead of --source.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="With --model: which way the learned translator runs (A = --faces-a of training).")
@click.option("--target", required=True, type=click.Path(path_type=Path), help="Photo or video whose faces are replaced.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Output photo or video.")
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
@click.option("--landmarks", type=click.Choice(["5pt", "dlib68"]), default="5pt", show_default=True,
              help="5pt: MTCNN's points, similarity warp. dlib68: 68 points (optional extra `facelab[dlib]`, "
                   "model licensed for NON-COMMERCIAL use only), piecewise-affine warp of the one-shot face.")
@click.option("--mask", type=click.Choice(["ellipse", "hull"]), default="ellipse", show_default=True,
              help="Face mask: an ellipse from the 5 points, or the hull of the dense landmarks (dlib68).")
@click.option("--detect-every", type=click.IntRange(1), default=5, show_default=True,
              help="Videos: run MTCNN every N frames, follow faces by optical flow in between.")
@click.option("--label/--no-label", default=True, show_default=True,
              help="Mark the output as synthetic in its metadata.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output (inputs are never overwritten).")
@click.pass_context
def swap(ctx: click.Context, source: Path | None, model: Path | None, direction: str, target: Path, out: Path,
         largest: bool, track: int | None, blend: str, color: str, size: int, margin: float, erode: float,
         feather: float, landmarks: str, mask: str, detect_every: int, label: bool, overwrite: bool) -> None:
    """Put a face onto every face (or the chosen ones) of a photo or video.

    One-shot (--source): the source face is aligned to the target's pose by a 5-point similarity,
    colour-corrected, masked and blended. Learned (--model): a translator trained on aligned faces
    of two people turns each target face into the other identity. Frames without faces pass
    through unchanged; videos keep frame count, fps, size and audio. A JSON sidecar (OUT.json)
    lists every changed frame and face.
    """
    from facelab.faces.detect import FaceDetector
    from facelab.io.image import is_image
    from facelab.io.video import is_video
    from facelab.swap.oneshot import OneShotSource, SwapSettings
    from facelab.swap.pipeline import Selection, swap_image_file, swap_video_file

    g: Globals = ctx.obj
    if (source is None) == (model is None):
        ctx.fail("pass exactly one of --source PHOTO (one-shot) or --model RUN (learned)")
    if largest and track is not None:
        ctx.fail("--largest and --track exclude each other")
    kind = "image" if is_image(target) else "video" if is_video(target) else None
    if kind is None:
        raise ConfigError(f"{target}: not a photo or video by its extension")
    if not target.exists():
        from facelab.errors import InputError

        raise InputError(target, "no such file")
    if (kind == "image") != is_image(out) or (kind == "video") != is_video(out):
        ctx.fail(f"-o {out}: a {kind} target needs a {kind} output extension")
    settings = SwapSettings(size=size, margin=margin, erode=erode, feather=feather, blend=blend, color=color,
                            landmarks=landmarks, mask=mask)
    detector = FaceDetector(device=g.device)
    if source is not None:
        face_source: Any = OneShotSource.from_photo(source, detector, settings)
    else:
        from facelab.swap.learned import load_swap_model

        face_source, settings = load_swap_model(model, settings, direction=direction, device=g.device)
    selection = Selection(largest=largest, track=track)
    t0 = time.perf_counter()
    if kind == "image":
        rec = swap_image_file(face_source, target, out, detector, settings, selection=selection,
                              overwrite=overwrite, label=label)
    else:
        bar = tqdm(unit="frame", desc="swap", disable=g.verbosity < 0, dynamic_ncols=True)

        def on_frame(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            rec = swap_video_file(face_source, target, out, detector, settings, selection=selection,
                                  detect_every=detect_every, overwrite=overwrite, label=label, on_frame=on_frame)
        finally:
            bar.close()
    dt = time.perf_counter() - t0
    changed = sum(1 for f in rec.frames if f["faces"])
    faces = sum(len(f["faces"]) for f in rec.frames)
    rate = f", {rec.frames_total / dt:.1f} frames/s" if kind == "video" else ""
    echo(ctx, f"swapped {faces} faces in {changed} of {rec.frames_total} frames in {dt:.1f}s{rate} -> {out} "
              f"(sidecar {out.name}.json)")


@click.command("swap", epilog="""
\b
Examples:
  facelab extract alice.mp4 -o faces/alice --size 128 --every 2
  facelab extract bob.mp4 -o faces/bob --size 128 --every 2
  facelab train swap --faces-a faces/alice --faces-b faces/bob -o runs/a2b
  facelab swap --model runs/a2b --target alice.mp4 -o alice_as_bob.mp4
  facelab train swap --arch autoencoder --faces-a faces/alice --faces-b faces/bob -o runs/ae --n-epochs 400
""")
@click.option("--faces-a", required=True, type=click.Path(path_type=Path), help="Aligned crops of person A.")
@click.option("--faces-b", required=True, type=click.Path(path_type=Path), help="Aligned crops of person B.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Run folder to create.")
@click.option("--arch", type=click.Choice(["cyclegan", "autoencoder"]), default="cyclegan", show_default=True,
              help="CycleGAN translator, or faceswap's shared-encoder autoencoder (crop size a multiple of 16).")
@click.option("--netG", "netG", type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]),
              default="resnet_9blocks", show_default=True, help="CycleGAN generator.")
@click.option("--ngf", type=click.IntRange(1), default=64, show_default=True,
              help="Generator width (autoencoder: 64 = faceswap's 128-1024 channel encoder).")
@click.option("--ndf", type=int, default=64, show_default=True, help="CycleGAN discriminator width.")
@click.option("--latent", type=click.IntRange(1), default=None,
              help="Autoencoder bottleneck width [default: 1024 at 64 px, 512 at 128 px, 256 above].")
@click.option("--n-epochs", type=int, default=100, show_default=True)
@click.option("--n-epochs-decay", type=int, default=100, show_default=True)
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Stop after this many iterations.")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="[default: 1 for cyclegan, 16 for autoencoder]")
@click.option("--lr", type=float, default=None, help="Adam learning rate [default: 2e-4 for cyclegan, 5e-5 for "
              "autoencoder; beta1 0.5 for both].")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True)
@click.option("--display-every", type=click.IntRange(1), default=100, show_default=True)
@click.option("--amp/--no-amp", default=None, help="Mixed precision (default: on for CUDA, off on the CPU).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in -o.")
@click.pass_context
def train_swap_command(ctx: click.Context, faces_a: Path, faces_b: Path, out: Path, arch: str, **kw: Any) -> None:
    """Train a face-swap model between two folders of aligned face crops.

    --arch cyclegan: the translators' CycleGAN, losses and loop with the official defaults.
    --arch autoencoder: the classic deepfake autoencoder (faceswap's "original" model): one shared
    encoder, one decoder per person, each trained to rebuild its person from randomly warped
    crops; the swap encodes a face of A and decodes it with B's decoder. Both train at the crops'
    own size and alignment (read from the faces.json that `facelab extract` writes).
    """
    from facelab.swap.learned import swap_config, train_swap

    g: Globals = ctx.obj
    for name, owner in (("netG", "cyclegan"), ("ndf", "cyclegan"), ("latent", "autoencoder")):
        if owner != arch and ctx.get_parameter_source(name) != ParameterSource.DEFAULT:
            ctx.fail(f"--{name} applies to --arch {owner} only")
    # options left unset (None) take the architecture's defaults from swap_config
    cfg = swap_config(faces_a, faces_b, out, arch=arch, device=g.device,
                      **{k: v for k, v in kw.items() if v is not None})
    t0 = time.perf_counter()
    run = train_with_bar(ctx, "swap", lambda on_step: train_swap(cfg, on_step=on_step))
    echo(ctx, f"trained the swap model in {time.perf_counter() - t0:.1f}s -> {run}; "
              f"use: facelab swap --model {run} --target VIDEO -o OUT")


def register(cli: click.Group) -> None:
    from facelab.cli_translate import train_group

    cli.add_command(swap)
    train_group.add_command(train_swap_command)

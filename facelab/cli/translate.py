"""CLI command `translate`: images, folders and videos through a Pix2Pix or CycleGAN generator.

The translators' training commands are in `facelab.cli.train`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from tqdm import tqdm

from facelab.cli.options import on_damage_option, provenance_options, shard_jobs, shard_option, signing
from facelab.cli.ui import EXIT_FAILED, EXIT_PARTIAL, Globals, damage_suffix, download_bar, echo, progress_bar
from facelab.errors import as_item_error
from facelab.shard import Shard

if TYPE_CHECKING:
    from facelab.io.decode import OnDamage

EXAMPLES_TRANSLATE = """
\b
Examples:
  facelab translate --model horse2zebra horse.jpg -o zebra.jpg
  facelab translate --model horse2zebra --weights ~/Downloads/latest_net_G.pth photos/ -o zebras/
  facelab translate --weights runs/h2z --direction BtoA zebra.mp4 -o horse.mp4
  facelab translate --model pix2pix_facades_label2photo --size 256 labels/ -o photos/
  facelab translate --model horse2zebra clip.mp4 -o zebra.mp4 --watermark      # "AI-generated" on every frame
  facelab translate --model horse2zebra photos/ -o zebras/ --shard 2/4         # 2nd quarter (docs/cluster.md)
"""


@click.command("translate", epilog=EXAMPLES_TRANSLATE)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Output file (one input) or folder (relative paths of folder inputs are kept).")
@click.option("--model", "model", metavar="NAME", help="Registry name, e.g. horse2zebra (see `facelab weights list`).")
@click.option("--weights", type=click.Path(path_type=Path),
              help="Checkpoint file or training run folder; with --model, used as that model's weights.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="For CycleGAN runs: G_A (AtoB) or G_B (BtoA).")
@click.option("--size", default=None, metavar="original|N|WxH",
              help="Process at the image's own resolution (original; default for CycleGAN) or resize to N x N "
                   "/ W x H first (pix2pix registry models default to 256, as they were trained).")
@click.option("--batch-size", type=click.IntRange(1, 256), default=None,
              help="Video frames per forward pass [default: 4 on CUDA, 1 on the CPU, where batches are slower]. "
                   "Photos run one by one.")
@click.option("--inference", type=click.Choice(["official", "eval"]), default="official", show_default=True,
              help="official: like the official test.py (pix2pix: BatchNorm batch statistics, dropout on); "
                   "eval: model.eval(), deterministic.")
@click.option("--seed", type=int, default=None, help="Seed for pix2pix's test-time dropout (reproducible outputs).")
@click.option("--image-ext", type=click.Choice(["jpg", "png", "webp"]), default=None,
              help="Write translated images in this format (default: the input's).")
@click.option("--amp/--no-amp", default=None, help="Mixed precision (default: on for CUDA, off on the CPU).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (inputs are never overwritten).")
@shard_option
@provenance_options
@on_damage_option
@click.pass_context
def translate(ctx: click.Context, inputs: tuple[Path, ...], out: Path, model: str | None, weights: Path | None,
              direction: str, size: str | None, batch_size: int | None, inference: str, seed: int | None,
              image_ext: str | None, amp: bool | None, overwrite: bool, shard: Shard | None, label: bool,
              watermark: str | None, on_damage: str, c2pa: bool, sign_cert: Path | None,
              sign_key: Path | None) -> None:
    """Translate images, folders and videos with a Pix2Pix or CycleGAN generator.

    Videos (mp4, mov, mkv, avi, webm) keep their frame rate and audio; H.264 output. Outputs
    carry a "synthetic media" label in their metadata (--no-label to leave it out) and a signed
    C2PA manifest that says so (--no-c2pa to leave it out); --watermark also draws one on every
    image and frame (docs/security.md says what each mark does and does not prove).
    """
    import torch

    from facelab.translate.api import load_translator
    from facelab.translate.pipeline import plan_jobs, run_job, writable_dir

    g: Globals = ctx.obj
    if model is None and weights is None:
        ctx.fail("pass --model NAME or --weights FILE")
    if seed is not None:
        torch.manual_seed(seed)
    jobs, failures = plan_jobs(list(inputs), out, image_ext=image_ext)
    if shard is not None:  # every shard plans all outputs the same way, then keeps its own
        jobs, failures = shard_jobs(ctx, shard, inputs, jobs, failures)
    for path, reason in failures:
        click.echo(f"error: {path}: {reason}", err=True)
    if not jobs:
        raise click.exceptions.Exit(EXIT_FAILED if failures or shard is None else 0)
    writable_dir(jobs[0].dst.parent)
    tr = load_translator(model, weights, direction=direction, device=g.device, inference=inference, size=size,
                         amp=amp, download_progress=download_bar(ctx))
    credentials = signing(ctx, c2pa, sign_cert, sign_key)  # after the model: a run that fails makes no key
    failed: list[tuple[Path, str]] = list(failures)
    frames, t0 = 0, time.perf_counter()
    warned: list[tuple[Path, str]] = []
    bar = progress_bar(ctx, total=len(jobs), unit="file", desc="translate", disable=len(jobs) == 1)
    for job in jobs:
        fbar = None
        if job.kind == "video":
            fbar = progress_bar(ctx, unit="frame", desc=job.src.name, leave=False)

        def on_frames(done: int, total: int | None, fbar: tqdm | None = fbar) -> None:
            if fbar is not None:
                fbar.total = total
                fbar.update(done - fbar.n)

        try:
            result = run_job(tr, job, batch_size=batch_size, overwrite=overwrite, on_frames=on_frames,
                             label=label, watermark=watermark, on_damage=cast("OnDamage", on_damage),
                             credentials=credentials)
            frames += result.frames
            for warning in result.warnings:
                warned.append((job.src, warning))
                if len(jobs) > 1:
                    tqdm.write(f"warning: {job.src}: {warning}", file=sys.stderr)
        except Exception as exc:  # one bad file must not stop the batch (as_item_error logs bugs)
            exc = as_item_error(job.src, exc)
            failed.append((job.src, str(exc)))
            tqdm.write(f"error: {exc}", file=sys.stderr)
        finally:
            if fbar is not None:
                fbar.close()
        bar.update(1)
    bar.close()
    ok = len(jobs) - (len(failed) - len(failures))
    dt = time.perf_counter() - t0
    echo(ctx, f"translated {ok} of {len(jobs) + len(failures)} inputs ({frames} images/frames) in {dt:.1f}s "
              f"-> {out}" + (f"; {len(failed)} failed" if failed else "")
              + damage_suffix([w for _, w in warned], name_one=len(jobs) == 1))
    if failed:
        for path, reason in failed:
            # an InputError already names its file
            echo(ctx, f"  failed: {reason if reason.startswith(str(path)) else f'{path}: {reason}'}", err=True)
        raise click.exceptions.Exit(EXIT_FAILED if ok == 0 else EXIT_PARTIAL)

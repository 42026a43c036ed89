"""CLI commands for the translators: `translate`, `train pix2pix`, `train cyclegan`, `demo`."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from facelab.cli import EXIT_FAILED, EXIT_PARTIAL, Globals, echo
from facelab.cli_shard import shard_option
from facelab.config import TrainConfig, defaults_for
from facelab.errors import as_item_error
from facelab.shard import Shard, input_key

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


def _bar(ctx: click.Context, disable: bool = False, **kw: Any) -> tqdm:
    """A tqdm bar on stderr, silent under --quiet."""
    g = ctx.find_object(Globals)
    return tqdm(disable=disable or (g is not None and g.verbosity < 0), dynamic_ncols=True, **kw)


def _download_bar(ctx: click.Context) -> Callable[[int, int | None], None]:
    state: dict[str, tqdm] = {}

    def progress(done: int, total: int | None) -> None:
        if "bar" not in state:
            state["bar"] = _bar(ctx, total=total, unit="B", unit_scale=True, desc="download", leave=False)
        bar = state["bar"]
        bar.update(done - bar.n)
        if total is not None and done >= total:
            bar.close()

    return progress


def _watermark_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--watermark`` with no value gives the default text; a value that names an existing file
    was almost surely an input swallowed by the optional value."""
    if value is not None and Path(value).exists():
        raise click.BadParameter(f"took {value!r} (an existing file) as its text; write --watermark=TEXT, "
                                 "or put --watermark after the inputs", ctx=ctx, param=param)
    return value


def shard_jobs(ctx: click.Context, shard: Shard, inputs: Sequence[Path], jobs: list[Any],
               failures: list[tuple[Path, str]]) -> tuple[list[Any], list[tuple[Path, str]]]:
    """This shard's jobs and failed inputs (``translate``, ``swap``); says how many it took."""
    total = len(jobs) + len(failures)
    jobs = [j for _, j in shard.select(jobs, key=lambda j: input_key(j.src, inputs))]
    failures = [f for _, f in shard.select(failures, key=lambda f: input_key(f[0], inputs))]
    echo(ctx, f"shard {shard}: {len(jobs) + len(failures)} of {total} inputs")
    return jobs, failures


def provenance_options(fn: Callable) -> Callable:
    """``--label/--no-label`` (synthetic-media metadata, on by default) and ``--watermark [TEXT]``."""
    from facelab.provenance import DEFAULT_WATERMARK

    fn = click.option("--watermark", is_flag=False, flag_value=DEFAULT_WATERMARK, default=None, metavar="[TEXT]",
                      callback=_watermark_text,
                      help=f"Draw a visible semi-transparent label on every output image or frame, bottom right "
                           f"(default text: {DEFAULT_WATERMARK}; other text: --watermark=TEXT).")(fn)
    return click.option("--label/--no-label", default=True, show_default=True,
                        help="Mark the outputs as synthetic in their metadata (facelab version, model, "
                             "weights sha256 prefix).")(fn)


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
@click.pass_context
def translate(ctx: click.Context, inputs: tuple[Path, ...], out: Path, model: str | None, weights: Path | None,
              direction: str, size: str | None, batch_size: int | None, inference: str, seed: int | None,
              image_ext: str | None, amp: bool | None, overwrite: bool, shard: Shard | None, label: bool,
              watermark: str | None) -> None:
    """Translate images, folders and videos with a Pix2Pix or CycleGAN generator.

    Videos (mp4, mov, mkv, avi, webm) keep their frame rate and audio; H.264 output. Outputs
    carry a "synthetic media" label in their metadata (--no-label to leave it out); --watermark
    also draws one on every image and frame (docs/security.md says what labels do and do not do).
    """
    import torch

    from facelab.translate.infer import load_translator
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
                         amp=amp, download_progress=_download_bar(ctx))
    failed: list[tuple[Path, str]] = list(failures)
    frames, t0 = 0, time.perf_counter()
    bar = _bar(ctx, total=len(jobs), unit="file", desc="translate", disable=len(jobs) == 1)
    for job in jobs:
        fbar = None
        if job.kind == "video":
            fbar = _bar(ctx, unit="frame", desc=job.src.name, leave=False)

        def on_frames(done: int, total: int | None, fbar: tqdm | None = fbar) -> None:
            if fbar is not None:
                fbar.total = total
                fbar.update(done - fbar.n)

        try:
            result = run_job(tr, job, batch_size=batch_size, overwrite=overwrite, on_frames=on_frames,
                             label=label, watermark=watermark)
            frames += result.frames
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
              f"-> {out}" + (f"; {len(failed)} failed" if failed else ""))
    if failed:
        for path, reason in failed:
            echo(ctx, f"  failed: {path}: {reason}", err=True)
        raise click.exceptions.Exit(EXIT_FAILED if ok == 0 else EXIT_PARTIAL)


# ---------------------------------------------------------------------------------------------
# training

def _train_options(model: str) -> Callable[[Callable], Callable]:
    base = TrainConfig(model=model, dataroot="", out="", **defaults_for(model))
    opts = [
        click.argument("dataroot", type=click.Path(path_type=Path)),
        click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Run folder to create."),
        click.option("--netG", "netG", type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]),
                     default=base.netG, show_default=True),
        click.option("--netD", "netD", type=click.Choice(["basic", "n_layers", "pixel"]), default=base.netD,
                     show_default=True, help="basic = 70x70 PatchGAN."),
        click.option("--ngf", type=int, default=base.ngf, show_default=True, help="Generator width."),
        click.option("--ndf", type=int, default=base.ndf, show_default=True, help="Discriminator width."),
        click.option("--n-layers-D", "n_layers_D", type=int, default=base.n_layers_D, show_default=True,
                     help="Layers of the n_layers discriminator."),
        click.option("--norm", type=click.Choice(["instance", "batch", "none"]), default=base.norm, show_default=True),
        click.option("--dropout/--no-dropout", "use_dropout", default=base.use_dropout, show_default=True),
        click.option("--gan-mode", type=click.Choice(["vanilla", "lsgan", "wgangp"]), default=base.gan_mode,
                     show_default=True, help="wgangp adds the gradient penalty (--lambda-gp)."),
        click.option("--lambda-gp", type=float, default=base.lambda_gp, show_default=True),
        click.option("--pool-size", type=int, default=base.pool_size, show_default=True,
                     help="Image history for the discriminators (0 = off)."),
        click.option("--lr", type=float, default=base.lr, show_default=True),
        click.option("--beta1", type=float, default=base.beta1, show_default=True),
        click.option("--lr-policy", type=click.Choice(["linear", "step", "cosine", "plateau"]),
                     default=base.lr_policy, show_default=True),
        click.option("--n-epochs", type=int, default=base.n_epochs, show_default=True,
                     help="Epochs at the initial learning rate."),
        click.option("--n-epochs-decay", type=int, default=base.n_epochs_decay, show_default=True,
                     help="Epochs of linear decay to zero."),
        click.option("--lr-decay-iters", type=int, default=base.lr_decay_iters, show_default=True,
                     help="Epochs between x0.1 steps (step policy)."),
        click.option("--batch-size", type=click.IntRange(1), default=base.batch_size, show_default=True,
                     help="Images per step; under torchrun the global batch, split over the processes "
                          "(docs/distributed.md)."),
        click.option("--max-steps", type=click.IntRange(1), default=None, help="Stop after this many iterations."),
        click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default=base.direction, show_default=True),
        click.option("--preprocess", type=click.Choice(["resize_and_crop", "crop", "scale_width",
                                                        "scale_width_and_crop", "none"]),
                     default=base.preprocess, show_default=True),
        click.option("--load-size", type=int, default=base.load_size, show_default=True),
        click.option("--crop-size", type=int, default=base.crop_size, show_default=True),
        click.option("--flip/--no-flip", default=True, show_default=True),
        click.option("--augment", type=click.Choice(["none", "light", "strong"]), default="none", show_default=True,
                     help="Extra albumentations augmentation (colour jitter, affine; strong adds noise, JPEG)."),
        click.option("--max-dataset-size", type=click.IntRange(1), default=None),
        click.option("--workers", type=click.IntRange(0), default=2, show_default=True,
                     help="DataLoader worker processes."),
        click.option("--amp/--no-amp", default=None, help="Mixed precision (default: on for CUDA, off on the CPU)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--deterministic", is_flag=True, help="Deterministic algorithms (slower)."),
        click.option("--print-every", type=click.IntRange(1), default=10, show_default=True,
                     help="Log losses every N iterations."),
        click.option("--display-every", type=click.IntRange(1), default=100, show_default=True,
                     help="Save an image grid every N iterations."),
        click.option("--save-epoch-every", type=click.IntRange(1), default=5, show_default=True),
        click.option("--save-latest-every", type=click.IntRange(1), default=500, show_default=True,
                     help="Iterations between checkpoints/latest.pt updates."),
        click.option("--resume", is_flag=True, help="Continue the run in -o from checkpoints/latest.pt."),
    ]
    if model == "cyclegan":
        opts += [click.option("--lambda-A", "lambda_A", type=float, default=base.lambda_A, show_default=True,
                              help="Weight of the A->B->A cycle loss."),
                 click.option("--lambda-B", "lambda_B", type=float, default=base.lambda_B, show_default=True),
                 click.option("--lambda-identity", type=float, default=base.lambda_identity, show_default=True,
                              help="Identity loss weight, relative to lambda_A/B (0 = off).")]
    else:
        opts += [click.option("--lambda-L1", "lambda_L1", type=float, default=base.lambda_L1, show_default=True)]

    def deco(fn: Callable) -> Callable:
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return deco


def train_with_bar(ctx: click.Context, desc: str, run: Callable[[Callable[[dict[str, Any]], None]], Path],
                   postfix_every: int = 1) -> Path:
    """Call `run(on_step)` while a progress bar shows iterations, it/s and the latest losses."""
    bar: dict[str, tqdm] = {}

    def on_step(info: dict[str, Any]) -> None:
        if "bar" not in bar:
            bar["bar"] = _bar(ctx, total=info["total"], initial=info["iteration"] - 1, unit="it", desc=desc)
        bar["bar"].update(1)
        if info["iteration"] % postfix_every == 0:
            bar["bar"].set_postfix({k: f"{v:.3f}" for k, v in info["losses"].items()}, refresh=False)

    try:
        return run(on_step)
    finally:
        if "bar" in bar:
            bar["bar"].close()


def _run_training(ctx: click.Context, model: str, kwargs: dict[str, Any]) -> None:
    from facelab.distributed import dist_env
    from facelab.translate.trainer import train

    g: Globals = ctx.obj
    if not dist_env().is_main:  # under torchrun, rank 0 logs for all; the others only say what failed
        logging.getLogger("facelab").setLevel(logging.ERROR)
    kwargs["dataroot"], kwargs["out"] = str(kwargs["dataroot"]), str(kwargs.pop("out"))
    if kwargs["resume"] and (Path(kwargs["out"]) / "config.json").is_file():
        saved = json.loads((Path(kwargs["out"]) / "config.json").read_text())
        # the saved run's settings win over defaults; options given on this command line win over both
        for key, value in saved.items():
            src = ctx.get_parameter_source(key)
            if key in kwargs and src is not None and src.name == "DEFAULT":
                kwargs[key] = value
    cfg = TrainConfig(model=model, device=g.device, **kwargs)
    t0 = time.perf_counter()
    run = train_with_bar(ctx, model, lambda on_step: train(cfg, on_step=on_step), cfg.print_every)
    if dist_env().is_main:  # under torchrun, rank 0 reports for all
        echo(ctx, f"trained {model} in {time.perf_counter() - t0:.1f}s -> {run} (final.pt, checkpoints/, index.html)")


@click.group("train")
def train_group() -> None:
    """Train translators (pix2pix, cyclegan) and face-swap models (swap)."""


@train_group.command("pix2pix", epilog="""
\b
Examples:
  facelab train pix2pix datasets/facades -o runs/facades --direction BtoA
  facelab train pix2pix pairs/ -o runs/tiny --netG unet_128 --ngf 16 --ndf 16 --crop-size 128 --load-size 143
  torchrun --nproc_per_node 4 -m facelab train pix2pix datasets/facades -o runs/facades --batch-size 16
""")
@_train_options("pix2pix")
@click.pass_context
def train_pix2pix(ctx: click.Context, **kwargs: Any) -> None:
    """Train Pix2Pix on aligned pairs: DATAROOT/[train/] with A|B side by side, or DATAROOT/A/ and B/.

    Defaults are the official ones: unet_256, batch norm, dropout, vanilla GAN, lambda_L1 100,
    Adam lr 2e-4 beta1 0.5, 100 + 100 epochs with linear decay.
    """
    _run_training(ctx, "pix2pix", kwargs)


@train_group.command("cyclegan", epilog="""
\b
Examples:
  facelab train cyclegan datasets/horse2zebra -o runs/h2z
  facelab train cyclegan data/ -o runs/tiny --netG resnet_6blocks --ngf 16 --ndf 16 --load-size 72 --crop-size 64
  facelab train cyclegan datasets/horse2zebra -o runs/h2z --resume
""")
@_train_options("cyclegan")
@click.pass_context
def train_cyclegan(ctx: click.Context, **kwargs: Any) -> None:
    """Train CycleGAN on unpaired DATAROOT/trainA/ and DATAROOT/trainB/.

    Defaults are the official ones: resnet_9blocks, instance norm, LSGAN, lambda_A = lambda_B = 10,
    lambda_identity 0.5, image pool 50, Adam lr 2e-4 beta1 0.5, 100 + 100 epochs with linear decay.
    """
    _run_training(ctx, "cyclegan", kwargs)


def register(cli: click.Group) -> None:
    from facelab.cli_demo import demo

    cli.add_command(translate)
    cli.add_command(train_group)
    cli.add_command(demo)

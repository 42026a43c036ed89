"""Option groups that several commands share: ``--shard``, the provenance label and watermark, and
the translators' training options.

Each is a decorator that adds its options to a click command, in the order shown by --help.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from facelab.cli.ui import echo
from facelab.config import CycleGANConfig, Pix2PixConfig
from facelab.shard import Shard, input_key

__all__ = ["ON_DAMAGE_HELP", "SHARD_HELP", "ShardType", "on_damage_option", "provenance_options", "shard_jobs",
           "shard_option", "signing", "train_options"]

# ---------------------------------------------------------------------------------------------
# --shard I/N (docs/cluster.md)

SHARD_HELP = ("Process only shard I of N (1-based, e.g. 2/4) of the inputs, picked by a hash of each "
              "input's path, so N machines split one batch; docs/cluster.md has the recipe.")


class ShardType(click.ParamType):
    """``--shard I/N`` as a :class:`~facelab.shard.Shard`; a bad value is a one-line usage error (exit 2)."""

    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Shard:
        if isinstance(value, Shard):
            return value
        try:
            return Shard.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def shard_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--shard I/N`` click option (parameter ``shard``: a :class:`~facelab.shard.Shard` or None)."""
    return click.option("--shard", type=ShardType(), default=None, metavar="I/N", help=SHARD_HELP)(fn)


def shard_jobs(ctx: click.Context, shard: Shard, inputs: Sequence[Path], jobs: list[Any],
               failures: list[tuple[Path, str]]) -> tuple[list[Any], list[tuple[Path, str]]]:
    """This shard's jobs and failed inputs (``translate``, ``swap``); says how many it took."""
    total = len(jobs) + len(failures)
    jobs = [j for _, j in shard.select(jobs, key=lambda j: input_key(j.src, inputs))]
    failures = [f for _, f in shard.select(failures, key=lambda f: input_key(f[0], inputs))]
    echo(ctx, f"shard {shard}: {len(jobs) + len(failures)} of {total} inputs")
    return jobs, failures


# ---------------------------------------------------------------------------------------------
# --on-damage skip|fail (facelab.io.decode)

ON_DAMAGE_HELP = ("Damaged videos (corrupt packets, a cut-off file): skip decodes through the damage as ffmpeg "
                  "does, keeps every frame that decodes and reports what was lost (summary, JSON); fail refuses "
                  "the file with a one-line error and writes nothing for it.")


def on_damage_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--on-damage skip|fail`` click option (parameter ``on_damage``)."""
    return click.option("--on-damage", type=click.Choice(["skip", "fail"]), default="skip", show_default=True,
                        help=ON_DAMAGE_HELP)(fn)


# ---------------------------------------------------------------------------------------------
# --label/--no-label, --watermark [TEXT] (docs/security.md)

def _watermark_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--watermark`` with no value gives the default text; a value that names an existing file
    was almost surely an input swallowed by the optional value."""
    if value is not None and Path(value).exists():
        raise click.BadParameter(f"took {value!r} (an existing file) as its text; write --watermark=TEXT, "
                                 "or put --watermark after the inputs", ctx=ctx, param=param)
    return value


def provenance_options(fn: Callable) -> Callable:
    """``--label/--no-label`` (synthetic-media metadata, on by default), ``--watermark [TEXT]``,
    ``--c2pa/--no-c2pa`` and ``--sign-cert``/``--sign-key`` (content credentials, :func:`signing`)."""
    from facelab.provenance import DEFAULT_WATERMARK

    fn = click.option("--sign-key", type=click.Path(path_type=Path, dir_okay=False), default=None,
                      envvar="FACELAB_SIGN_KEY", help="Private key (PEM) of --sign-cert [env FACELAB_SIGN_KEY].")(fn)
    fn = click.option("--sign-cert", type=click.Path(path_type=Path, dir_okay=False), default=None,
                      envvar="FACELAB_SIGN_CERT",
                      help="Certificate chain (PEM, signer first) that signs the C2PA manifests [env "
                           "FACELAB_SIGN_CERT]. Default: a local self-signed key made on first use, which "
                           "verifiers show as untrusted (docs/security.md).")(fn)
    fn = click.option("--c2pa/--no-c2pa", "c2pa", default=True, show_default=True,
                      help="Sign a C2PA manifest (Content Credentials) into JPEG, PNG, MP4 and MOV outputs: "
                           "made by a trained model (trainedAlgorithmicMedia), facelab's version, the model "
                           "and its sha256.")(fn)
    fn = click.option("--watermark", is_flag=False, flag_value=DEFAULT_WATERMARK, default=None, metavar="[TEXT]",
                      callback=_watermark_text,
                      help=f"Draw a visible semi-transparent label on every output image or frame, bottom right "
                           f"(default text: {DEFAULT_WATERMARK}; other text: --watermark=TEXT).")(fn)
    return click.option("--label/--no-label", default=True, show_default=True,
                        help="Mark the outputs as synthetic in their metadata (facelab version, model, "
                             "weights sha256 prefix).")(fn)


def signing(ctx: click.Context, c2pa: bool, sign_cert: Path | None, sign_key: Path | None) -> Any:
    """The :class:`~facelab.credentials.SigningKey` of ``--c2pa``/``--sign-cert``/``--sign-key``
    (None with ``--no-c2pa``); says so when the local self-signed key was just made."""
    if not c2pa:
        return None
    from facelab.credentials import signing_key

    key = signing_key(sign_cert, sign_key)
    if key.created:
        echo(ctx, f"note: created a local self-signed C2PA signing key in {key.cert_path.parent}; verifiers "
                  "show its manifests as signed by an untrusted signer (docs/security.md)", err=True)
    return key


# ---------------------------------------------------------------------------------------------
# `train pix2pix` and `train cyclegan`: the official options, with the official defaults

def train_options(model: str) -> Callable[[Callable], Callable]:
    """The options of ``train pix2pix`` / ``train cyclegan``; defaults from their configs
    (:class:`facelab.config.Pix2PixConfig`, :class:`facelab.config.CycleGANConfig`)."""
    base = CycleGANConfig(dataroot="", out="") if model == "cyclegan" else Pix2PixConfig(dataroot="", out="")
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
    if isinstance(base, CycleGANConfig):
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

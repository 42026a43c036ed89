"""The `train` group: every trainer of facelab; see docs/cli.md.

`train pix2pix` and `train cyclegan` (the translators), `train swap` (face-swap models),
`train detector` (the real/fake crop classifier) and `train landmarks` (the landmark-motion
classifier). Each maps its options to its config and calls its library trainer; `facelab.cli.app`
adds them to the group.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from facelab.cli.options import train_options
from facelab.cli.ui import Globals, echo, progress_bar, train_with_bar
from facelab.config import TRAIN_CONFIGS


@click.group("train")
def train_group() -> None:
    """Train translators (pix2pix, cyclegan) and face-swap models (swap)."""


# ---------------------------------------------------------------------------------------------
# translators

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
    cfg = TRAIN_CONFIGS[model](device=g.device, **kwargs)
    t0 = time.perf_counter()
    run = train_with_bar(ctx, model, lambda on_step: train(cfg, on_step=on_step), cfg.print_every)
    if dist_env().is_main:  # under torchrun, rank 0 reports for all
        echo(ctx, f"trained {model} in {time.perf_counter() - t0:.1f}s -> {run} (final.pt, checkpoints/, index.html)")


@click.command("pix2pix", epilog="""
\b
Examples:
  facelab train pix2pix datasets/facades -o runs/facades --direction BtoA
  facelab train pix2pix pairs/ -o runs/tiny --netG unet_128 --ngf 16 --ndf 16 --crop-size 128 --load-size 143
  torchrun --nproc_per_node 4 -m facelab train pix2pix datasets/facades -o runs/facades --batch-size 16
""")
@train_options("pix2pix")
@click.pass_context
def train_pix2pix(ctx: click.Context, **kwargs: Any) -> None:
    """Train Pix2Pix on aligned pairs: DATAROOT/[train/] with A|B side by side, or DATAROOT/A/ and B/.

    Defaults are the official ones: unet_256, batch norm, dropout, vanilla GAN, lambda_L1 100,
    Adam lr 2e-4 beta1 0.5, 100 + 100 epochs with linear decay.
    """
    _run_training(ctx, "pix2pix", kwargs)


@click.command("cyclegan", epilog="""
\b
Examples:
  facelab train cyclegan datasets/horse2zebra -o runs/h2z
  facelab train cyclegan data/ -o runs/tiny --netG resnet_6blocks --ngf 16 --ndf 16 --load-size 72 --crop-size 64
  facelab train cyclegan datasets/horse2zebra -o runs/h2z --resume
""")
@train_options("cyclegan")
@click.pass_context
def train_cyclegan(ctx: click.Context, **kwargs: Any) -> None:
    """Train CycleGAN on unpaired DATAROOT/trainA/ and DATAROOT/trainB/.

    Defaults are the official ones: resnet_9blocks, instance norm, LSGAN, lambda_A = lambda_B = 10,
    lambda_identity 0.5, image pool 50, Adam lr 2e-4 beta1 0.5, 100 + 100 epochs with linear decay.
    """
    _run_training(ctx, "cyclegan", kwargs)


# ---------------------------------------------------------------------------------------------
# face swap

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
    from facelab.distributed import dist_env
    from facelab.swap.learned import swap_config, train_swap

    g: Globals = ctx.obj
    main = dist_env().is_main  # under torchrun (--arch cyclegan), rank 0 logs and reports for all
    if not main:
        logging.getLogger("facelab").setLevel(logging.ERROR)
    for name, owner in (("netG", "cyclegan"), ("ndf", "cyclegan"), ("latent", "autoencoder")):
        if owner != arch:  # not a field of this architecture's config
            if ctx.get_parameter_source(name) != ParameterSource.DEFAULT:
                ctx.fail(f"--{name} applies to --arch {owner} only")
            kw.pop(name)
    # options left unset (None) take the architecture's defaults from swap_config
    cfg = swap_config(faces_a, faces_b, out, arch=arch, device=g.device,
                      **{k: v for k, v in kw.items() if v is not None})
    t0 = time.perf_counter()
    run = train_with_bar(ctx, "swap", lambda on_step: train_swap(cfg, on_step=on_step))
    if main:
        echo(ctx, f"trained the swap model in {time.perf_counter() - t0:.1f}s -> {run}; "
                  f"use: facelab swap --model {run} --target VIDEO -o OUT")


# ---------------------------------------------------------------------------------------------
# detector: the crop classifier and the landmark-motion classifier

_ARCHS = ("efficientnet_lite0", "mobilenet_v3_small", "resnet18", "tiny")  # facelab.detector.cnn.list_classifiers()


@click.command("detector", epilog="""
\b
Examples:
  facelab fakes media/ -o data/fakes
  facelab train detector data/fakes -o runs/detector
  facelab train detector data/fakes -o runs/detector --epochs 20 --batch-size 64 --workers 4
  facelab train detector data/fakes -o runs/detector --resume --epochs 30
  facelab train detector --real videos/ --real photos/ -o runs/sbi --freeze 2 --lr 1e-4
  facelab train detector data/fakes --real videos/ -o runs/mixed --fakes sbi:0.6,dataset:0.4
  facelab train detector data/fakes -o runs/smoke --arch tiny --no-pretrained --epochs 1 --max-steps-per-epoch 5
  facelab eval data/fakes --weights runs/detector -o runs/detector/eval
""")
@click.argument("dataset", type=click.Path(path_type=Path), required=False)
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Run folder to create.")
@click.option("--real", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Real videos, photos, folders or `facelab extract` outputs (repeat the option): train on "
                   "them with fakes made online from the real faces (a DATASET beside them adds its fakes).")
@click.option("--real-cache", type=click.Path(path_type=Path), default=None,
              help="With --real: folder of the aligned real crops, made once and reused (default: OUT/reals).")
@click.option("--crop-size", type=click.IntRange(32), default=128, show_default=True,
              help="With --real: crop side in pixels (margin 0.3).")
@click.option("--fakes", default="sbi:0.5,swap:0.5", show_default=True,
              help="With --real: fake families and shares: sbi (self-blended), swap (blended swap), dense "
                   "(swap bent onto the 68 landmarks), rerender (face rebuilt by a small trained autoencoder), "
                   "dataset (the fakes of a DATASET given with --real).")
@click.option("--renderer-steps", type=click.IntRange(1), default=1500, show_default=True,
              help="With --fakes rerender: training steps of the face renderer (OUT/renderer.pt, made once).")
@click.option("--group-power", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="With --real: draw each crop with weight n^-POWER, n the crops of its video or photo folder "
                   "(0: every crop alike, 1: every group alike).")
@click.option("--freeze", type=click.IntRange(0), default=0, show_default=True,
              help="Backbone stages kept at their ImageNet weights (efficientnet_lite0: 1 = stem, 2 = stem "
                   "and first block, ...).")
@click.option("--arch", type=click.Choice(_ARCHS), default="efficientnet_lite0", show_default=True,
              help="efficientnet_lite0 starts from bundled ImageNet weights; the torchvision backbones "
                   "(resnet18, mobilenet_v3_small) start random; tiny is for smoke tests.")
@click.option("--pretrained/--no-pretrained", default=True, show_default=True,
              help="Start from the architecture's bundled ImageNet weights (where it has any).")
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=3e-4, show_default=True,
              help="AdamW peak learning rate (warm-up, then cosine decay to 0).")
@click.option("--weight-decay", type=click.FloatRange(0), default=0.01, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(0), default=100, show_default=True,
              help="Linear warm-up steps (capped at 10% of all steps).")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True, help="DataLoader worker processes.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--amp/--no-amp", default=None, help="Mixed precision (default: on for CUDA, off on the CPU).")
@click.option("--balance/--no-balance", default=True, show_default=True,
              help="Draw real and fake crops equally often.")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="JPEG 30-100, blur, noise, downscale, colour jitter and flips on train crops.")
@click.option("--max-steps-per-epoch", type=click.IntRange(1), default=None, help="Cut every epoch short.")
@click.option("--resume", is_flag=True, help="Continue the run in -o from its last.pt.")
@click.pass_context
def train_detector_command(ctx: click.Context, dataset: Path | None, out: Path, **kw: Any) -> None:
    """Train the real/fake face classifier on a data set made by `facelab fakes`, or on real media.

    With --real, no fakes data set is needed: every real face is found, aligned and cached once,
    and each epoch makes new fakes from them (self-blended images, blended and dense swaps, faces
    re-rendered by a small autoencoder), so the net learns what manipulations share rather than
    one manipulation. Validation scores real faces of videos and photo folders that training
    never sees, against fakes made from them. A DATASET given with --real adds its fake crops as
    the `dataset` family: validated on always, trained on with the share --fakes gives it.

    Trains on the train split with class balancing and deepfake-relevant augmentations,
    validates every epoch (ROC-AUC, average precision, EER, accuracy), keeps best.pt (best val
    ROC-AUC) and last.pt, and stores the decision threshold calibrated on validation (the
    equal-error-rate point) with the metrics in the checkpoint. Mixed precision on CUDA.
    """
    from facelab.detector.train import DetectorTrainConfig, train_detector

    g: Globals = ctx.obj
    if kw["resume"] and (out / "config.json").is_file():
        saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
        # the saved run's settings win over defaults; options given on this command line win over both
        for key, value in saved.items():
            src = ctx.get_parameter_source(key)
            if key in kw and src is not None and src.name == "DEFAULT":
                kw[key] = value
    if kw["real_cache"] is not None:
        kw["real_cache"] = str(kw["real_cache"])
    kw["real"] = tuple(str(p) for p in kw["real"])
    cfg = DetectorTrainConfig(dataset=None if dataset is None else str(dataset), out=str(out), device=g.device, **kw)
    t0 = time.perf_counter()
    faces_bar: dict[str, Any] = {}  # --real: finding and aligning the real faces, before the first step

    def on_frames(n: int, total: int | None) -> None:
        if "bar" not in faces_bar:
            faces_bar["bar"] = progress_bar(ctx, total=total, unit="frame", desc="real faces")
        faces_bar["bar"].update(n)

    try:
        run = train_with_bar(ctx, "detector", lambda on_step: train_detector(cfg, on_step=on_step,
                                                                              on_frames=on_frames))
    finally:
        if "bar" in faces_bar:
            faces_bar["bar"].close()
    best = run / "best.pt"
    summary = ""
    if best.is_file():
        from facelab.detector.cnn import read_checkpoint

        meta = read_checkpoint(best)["meta"]
        m = meta["metrics"]
        auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
        eer = "n/a" if m["eer"] is None else f"{m['eer']:.4f}"
        summary = f"; best epoch {meta['epoch']}: val AUC {auc}, EER {eer}, threshold {meta['threshold']:.4f}"
    echo(ctx, f"trained the detector in {time.perf_counter() - t0:.1f}s -> {run}{summary}")
    echo(ctx, f"use: facelab eval LABELLED_MEDIA --weights {run}")


EXAMPLES_LANDMARKS = """
\b
Examples:
  facelab train landmarks data/fakes -o runs/landmarks.pt
  facelab train landmarks data/fakes -o runs/landmarks_svm.pt --kind svm --window 30 --stride 15
"""


@click.command("landmarks", epilog=EXAMPLES_LANDMARKS)
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Checkpoint to write (.pt).")
@click.option("--kind", type=click.Choice(["logreg", "svm"]), default="logreg", show_default=True,
              help="Logistic regression, or an RBF SVM with Platt scaling.")
@click.option("--window", type=click.IntRange(2), default=30, show_default=True, help="Window length in frames.")
@click.option("--stride", type=click.IntRange(1), default=15, show_default=True, help="Step between windows.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the classifier.")
@click.option("--overwrite", is_flag=True, help="Replace an existing checkpoint.")
@click.pass_context
def train_landmarks(ctx: click.Context, dataset: Path, out: Path, kind: str, window: int, stride: int, seed: int,
                    overwrite: bool) -> None:
    """Fit the landmark-motion classifier on a data set from `facelab fakes`.

    Reads DATASET/motion.csv and its per-track landmark-motion sequences, trains on the train
    split, reports window-level ROC AUC, average precision and equal error rate on the val
    split, sets the threshold at the val EER point, and saves a weights-only checkpoint that
    `facelab detect` can use instead of the bundled real-video calibration.
    """
    from facelab.detector.landmark_scorer import fit_landmark_classifier
    from facelab.errors import OutputError

    if out.exists() and not overwrite:
        raise OutputError(out, "exists (pass --overwrite to replace it)")
    m = fit_landmark_classifier(dataset, out, kind=kind, window=window, stride=stride, seed=seed)
    line = (f"val: AUC {m['val_auc']:.3f}, AP {m['val_ap']:.3f}, EER {m['val_eer']:.3f}, "
            f"threshold {m['threshold']:.3f} ({m['train_windows']} train / {m['val_windows']} val windows)")
    if "val_track_auc" in m:
        line += f", track AUC {m['val_track_auc']:.3f}"
    echo(ctx, line)
    echo(ctx, f"wrote {out}")

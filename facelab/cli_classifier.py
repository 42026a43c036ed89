"""CLI commands of the detector's classifier: `train detector` and `eval`; see docs/cli.md."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from facelab.cli import EXIT_PARTIAL, Globals, echo
from facelab.cli_translate import train_with_bar

_ARCHS = ("efficientnet_lite0", "mobilenet_v3_small", "resnet18", "tiny")  # facelab.detector.cnn.list_classifiers()


@click.command("detector", epilog="""
\b
Examples:
  facelab fakes media/ -o data/fakes
  facelab train detector data/fakes -o runs/detector
  facelab train detector data/fakes -o runs/detector --epochs 20 --batch-size 64 --workers 4
  facelab train detector data/fakes -o runs/detector --resume --epochs 30
  facelab train detector data/fakes -o runs/smoke --arch tiny --no-pretrained --epochs 1 --max-steps-per-epoch 5
  facelab eval data/fakes --weights runs/detector -o runs/detector/eval
""")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Run folder to create.")
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
def train_detector_command(ctx: click.Context, dataset: Path, out: Path, **kw: Any) -> None:
    """Train the real/fake face classifier on a data set made by `facelab fakes`.

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
    cfg = DetectorTrainConfig(dataset=str(dataset), out=str(out), device=g.device, **kw)
    t0 = time.perf_counter()
    run = train_with_bar(ctx, "detector", lambda on_step: train_detector(cfg, on_step=on_step))
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


@click.command("eval", epilog="""
\b
Examples:
  facelab eval data/fakes --weights runs/detector -o runs/detector/eval
  facelab eval data/fakes --weights runs/detector/last.pt --split all
  facelab eval labelled/ --weights runs/detector -o eval/ --frames 32   # labelled/real/*, labelled/fake/*
  facelab eval labels.csv --weights runs/detector -o eval/              # CSV with columns path,label
""")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--weights", required=True, type=click.Path(path_type=Path),
              help="Run folder of `facelab train detector` (uses best.pt) or a checkpoint file.")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for roc.png, confusion.txt, metrics.json and scores.csv (default: print only).")
@click.option("--split", type=click.Choice(["val", "train", "all"]), default="val", show_default=True,
              help="Data sets only: which split to score.")
@click.option("--frames", type=click.IntRange(1), default=16, show_default=True,
              help="Videos: evenly spaced frames searched for the largest face; the file's score is the mean.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.pass_context
def eval_command(ctx: click.Context, target: Path, weights: Path, out_dir: Path | None, split: str, frames: int,
                 batch_size: int) -> None:
    """Score a labelled TARGET with a trained classifier: ROC-AUC, AP, EER, accuracy, confusion.

    TARGET is a data set made by `facelab fakes` (its crops of --split are scored), or labelled
    media: a folder with real/ and fake/ subfolders of photos and videos, or a CSV with columns
    path,label. Media are scored per file: the mean fake probability of the largest face on
    --frames evenly spaced frames; files without a face are listed and left out. The decision
    threshold is the one calibrated on validation when the classifier was trained.
    """
    from facelab.cli_translate import _bar
    from facelab.detector.evaluate import confusion_table, evaluate, metric_rows

    g: Globals = ctx.obj
    t0 = time.perf_counter()
    bars = []  # opened at the first scored item, so an early error prints only its own line

    def on_item(done: int, total: int) -> None:
        if not bars:
            bars.append(_bar(ctx, total=total, unit="item", desc="eval"))
        bars[0].update(done - bars[0].n)

    try:
        res = evaluate(weights, target, split=split, frames=frames, device=g.device, out_dir=out_dir,
                       batch_size=batch_size, on_item=on_item)
    finally:
        for b in bars:
            b.close()
    what = f"{res.split} split of the data set" if res.kind == "dataset" else "labelled media"
    echo(ctx, f"evaluated {len(res.scored)} items ({what}) with {res.weights} in {time.perf_counter() - t0:.1f}s")
    echo(ctx, "\n".join(f"  {k:<18}{v:>10}" for k, v in metric_rows(res.metrics)))
    echo(ctx, "")
    echo(ctx, confusion_table(res.metrics))
    for it in res.skipped:
        if it.failed:  # unreadable: an error line (also under --quiet) that names the file
            named = Path(it.path).name in it.note
            click.echo(f"error: {it.note if named else f'{it.path}: {it.note}'} ({it.label}, left out)", err=True)
        else:
            echo(ctx, f"  left out: {it.path} ({it.label}): {it.note}", err=True)
    if res.files:
        echo(ctx, f"-> {out_dir} ({', '.join(res.files)})")
    if any(it.failed for it in res.skipped):
        raise click.exceptions.Exit(EXIT_PARTIAL)


def register(cli: click.Group) -> None:
    """Add `train detector` to the train group and `eval` to the top level."""
    from facelab.cli_translate import train_group

    train_group.add_command(train_detector_command)
    cli.add_command(eval_command)

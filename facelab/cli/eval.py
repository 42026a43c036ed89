"""CLI command `eval`: a trained classifier's metrics on labelled data; see docs/cli.md."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from facelab.cli.ui import EXIT_PARTIAL, Globals, echo, progress_bar

if TYPE_CHECKING:
    from tqdm import tqdm


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
    from facelab.detector.evaluate import confusion_table, evaluate, metric_rows

    g: Globals = ctx.obj
    t0 = time.perf_counter()
    bars: list[tqdm] = []  # opened at the first scored item, so an early error prints only its own line

    def on_item(done: int, total: int) -> None:
        if not bars:
            bars.append(progress_bar(ctx, total=total, unit="item", desc="eval"))
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

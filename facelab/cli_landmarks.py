"""CLI commands of the detector (landmarks): `facelab train landmarks`; see docs/cli.md."""

from __future__ import annotations

from pathlib import Path

import click

from facelab.cli import echo

EXAMPLES = """
\b
Examples:
  facelab train landmarks data/fakes -o runs/landmarks.pt
  facelab train landmarks data/fakes -o runs/landmarks_svm.pt --kind svm --window 30 --stride 15
"""


@click.command("landmarks", epilog=EXAMPLES)
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


def register(cli: click.Group) -> None:
    """Add `facelab train landmarks` to the train group."""
    from facelab.cli_translate import train_group

    train_group.add_command(train_landmarks)

"""CLI: `facelab fakes` (a labelled real/fake face-crop data set from real footage); see docs/cli.md."""

from __future__ import annotations

import time
from pathlib import Path

import click
from tqdm import tqdm

from facelab.cli.options import shard_option
from facelab.cli.ui import EXIT_FAILED, EXIT_PARTIAL, Globals, echo, progress_bar
from facelab.shard import Shard

EXAMPLES = """
\b
Examples:
  facelab fakes talks/ portraits/ -o data/fakes                  # one-shot swaps between everyone found
  facelab fakes people/ -o data/fakes --identity folder          # people/<name>/... : one folder per person
  facelab fakes clips/ -o data/fakes --every 5 --max-frames 32 --motion-frames 0
  facelab fakes clips/ -o data/fakes --swap-model runs/a2b --translator runs/faces_cyclegan
  facelab train detector data/fakes -o runs/detector             # the crop classifier
  facelab train landmarks data/fakes -o runs/motion.pt           # the landmark-motion classifier
  facelab fakes clips/ -o data/fakes --resume                    # continue after a crash or Ctrl-C
  facelab fakes clips/ -o parts/2 --shard 2/4                    # a quarter of the sources
  facelab fakes --merge parts/1 parts/2 parts/3 parts/4 -o data/fakes   # the four parts as one

\b
Writes DATASET/manifest.csv (path, label, split, identity, source, frame, track, method,
donor, params), crops/real|fake/<identity>/*.png (224 px detector crops), motion.csv with
motion/*.npz (landmark-motion sequences of video tracks) and dataset.json. Identities are
split into train and val; a fake's donor is always from its target's split.

\b
The data set is built in a hidden work folder beside -o (.NAME.work) and renamed into place at
the end. An interrupted run leaves that folder with its progress: the same command with --resume
skips the sources already scanned and made, and gives the same data set as an uninterrupted run.

\b
Many machines: --shard I/N builds a part from the I-th of N shares of the sources (every
shard lists all inputs; --identity folder keeps each person in one shard). Identities are
then split by a hash of their name, so every shard agrees, and one-shot donors come from the
shard's own people of the same split. --merge PARTS... -o DATASET joins all N parts and checks
that they fit (docs/cluster.md).
"""


def _methods(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    from facelab.detector.fakes import METHODS

    if value is None:
        return None
    names = tuple(m.strip() for m in value.split(",") if m.strip())
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise click.BadParameter(f"{', '.join(bad) or value!r}: choose from {', '.join(METHODS)} (comma-separated)")
    return names


@click.command("fakes", epilog=EXAMPLES)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="REAL_MEDIA...")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Data set folder to create.")
@click.option("--every", type=click.IntRange(1), default=10, show_default=True,
              help="Sample video frames 0, N, 2N, ... for crops.")
@click.option("--max-frames", type=click.IntRange(1), default=16, show_default=True,
              help="At most this many sampled frames per face track (evenly spread).")
@click.option("--methods", callback=_methods, default=None, metavar="oneshot,learned,translate",
              help="Manipulations to run [default: oneshot, plus learned with --swap-model and translate "
                   "with --translator].")
@click.option("--swap-model", type=click.Path(path_type=Path), default=None,
              help="Run folder or checkpoint of `facelab train swap` (method learned).")
@click.option("--translator", type=click.Path(path_type=Path), default=None,
              help="Translator checkpoint or run folder applied to the aligned face (method translate).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Share of identities in the validation split.")
@click.option("--identity", type=click.Choice(["track", "folder"]), default="track", show_default=True,
              help="track: one identity per file and face track; folder: the parent folder names the person.")
@click.option("--motion-frames", type=click.IntRange(0), default=90, show_default=True,
              help="Consecutive frames per video for landmark-motion sequences (0: none).")
@click.option("--min-size", type=click.FloatRange(0), default=40, show_default=True,
              help="Ignore faces narrower than this many pixels.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seeds the split, the donors and the quality settings.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing data set at -o (and the work folder of an interrupted run).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run (same inputs and options).")
@shard_option
@click.option("--merge", is_flag=True,
              help="Join the parts (-o folders) of all --shard runs, given as the arguments, into -o.")
@click.pass_context
def fakes(ctx: click.Context, inputs: tuple[Path, ...], out: Path, every: int, max_frames: int,
          methods: tuple[str, ...] | None, swap_model: Path | None, translator: Path | None, val_fraction: float,
          identity: str, motion_frames: int, min_size: float, seed: int, overwrite: bool, resume: bool,
          shard: Shard | None, merge: bool) -> None:
    """Build a labelled real/fake face-crop data set from real photos and videos.

    Faces are detected and tracked; each track (or folder, with --identity folder) is an
    identity. Per sampled frame the real face crop is saved, and for each method a fake: a
    one-shot swap with a face of another identity of the same split, a learned swap
    (--swap-model) or a translated face region (--translator), each with random mask feather,
    colour transfer, blend and JPEG quality (reals get the same JPEG re-encodes). Fake crops are
    cut where MTCNN finds the face again, as at test time. A bad input is reported and skipped
    (exit code 3).
    """
    from facelab.detector.fakes import FakesConfig, build_fakes

    g: Globals = ctx.obj
    if merge:
        _merge(ctx, list(inputs), out, overwrite)
        return
    if methods is not None and "learned" in methods and swap_model is None:
        ctx.fail("--methods learned needs --swap-model RUN")
    if methods is not None and "translate" in methods and translator is None:
        ctx.fail("--methods translate needs --translator CKPT")
    cfg = FakesConfig(every=every, max_frames=max_frames, methods=methods,
                      swap_model=None if swap_model is None else str(swap_model),
                      translator=None if translator is None else str(translator), val_fraction=val_fraction,
                      identity=identity, motion_frames=motion_frames, min_size=min_size,  # type: ignore[arg-type]
                      seed=seed, device=g.device if g is not None else "auto")
    bars: dict[str, tqdm] = {}

    def on_progress(stage: str, n: int, total: int | None) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.close()
            bars[stage] = progress_bar(ctx, total=total or None, unit="frame", desc=stage)
        bars[stage].update(n)

    t0 = time.perf_counter()
    try:
        summary = build_fakes(list(inputs), out, cfg, overwrite=overwrite, resume=resume, on_progress=on_progress,
                              shard=shard)
    except (KeyboardInterrupt, OSError):
        from facelab.detector.fakes import work_folder

        if work_folder(out).is_dir():
            click.echo(f"note: the work so far is kept in {work_folder(out)}; run the same command with --resume "
                       "to continue", err=True)
        raise
    finally:
        for bar in bars.values():
            bar.close()
    for path, reason in summary.failures:
        click.echo(f"error: {path}: {reason}", err=True)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    if summary.faceless:
        names = ", ".join(str(p) for p in summary.faceless[:3]) + (", ..." if len(summary.faceless) > 3 else "")
        click.echo(f"note: {len(summary.faceless)} input(s) without a usable face: {names}", err=True)
    if summary.skipped:
        click.echo("note: left out: " + "; ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items())),
                   err=True)
    splits = ", ".join(
        f"{split} {summary.total('real', split)} real / {summary.total('fake', split)} fake "
        f"({sum(1 for s in summary.identities.values() if s == split)} identities)" for split in ("train", "val"))
    fakes_by: dict[str, int] = {}
    for labels in summary.counts.values():
        for method, n in labels.get("fake", {}).items():
            fakes_by[method] = fakes_by.get(method, 0) + n
    methods_txt = ", ".join(f"{m} {n}" for m, n in sorted(fakes_by.items()))
    dt = time.perf_counter() - t0
    echo(ctx, f"wrote {summary.total()} crops ({splits}; fakes: {methods_txt}) and {summary.motion_total} motion "
              f"sequences in {dt:.1f}s -> {out}" + (f"; {len(summary.failures)} input(s) failed" if summary.failures else ""))
    if summary.failures:
        raise click.exceptions.Exit(EXIT_PARTIAL if summary.total() else EXIT_FAILED)


def _merge(ctx: click.Context, parts: list[Path], out: Path, overwrite: bool) -> None:
    """``fakes --merge``: the parts of ``--shard`` runs -> one data set."""
    from click.core import ParameterSource

    from facelab.detector.fakes import merge_fakes

    for param in ctx.command.params:
        if param.name not in {"inputs", "out", "overwrite", "merge"} \
                and ctx.get_parameter_source(param.name or "") not in (None, ParameterSource.DEFAULT):
            ctx.fail(f"--merge only joins the parts; {param.opts[0]} belongs to the shard runs")
    t0 = time.perf_counter()
    summary = merge_fakes(parts, out, overwrite=overwrite)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    splits = ", ".join(f"{split} {summary.crops.get(split, {}).get('real', 0)} real / "
                       f"{summary.crops.get(split, {}).get('fake', 0)} fake "
                       f"({sum(1 for s in summary.identities.values() if s == split)} identities)"
                       for split in ("train", "val"))
    echo(ctx, f"merged {summary.parts} parts: {splits}; {summary.motion} motion sequences in "
              f"{time.perf_counter() - t0:.1f}s -> {out}")

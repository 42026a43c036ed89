"""CLI command `detect`: deepfake verdicts on photos and videos, with JSON, CSV and HTML reports."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import click
from tqdm import tqdm

from facelab.cli.options import on_damage_option, shard_option
from facelab.cli.ui import EXIT_FAILED, EXIT_PARTIAL, Globals, damage_suffix, echo
from facelab.shard import Shard, input_key

EXAMPLES_DETECT = """
\b
Examples:
  facelab detect clip.mp4                                  # the shipped CNN and the landmark-motion check
  facelab detect clip.mp4 --weights none                   # landmark-motion check only
  facelab detect clip.mp4 --weights runs/detector --report report.html --json verdicts.json
  facelab detect videos/ --weights runs/detector --frames 32 --csv frames.csv
  facelab detect photo.jpg --weights runs/detector/best.pt
  facelab detect videos/ --weights runs/detector --json v.json --report r.html --resume   # after a crash
  facelab detect videos/ --weights runs/detector --json s2.json --report s2.html --shard 2/4
  facelab detect --merge s1.json s2.json s3.json s4.json s*.html --json all.json --report all.html
  facelab detect interview.mp4 --reference alice.fp --report r.html   # does this face move like Alice?

\b
Each input gets one line: VERDICT (fake probability) and the main reason. Verdicts are REAL,
FAKE or UNCERTAIN; the probability is the fused one (docs/detect.md explains the fusion and
the JSON schema). Exit code 0 when every input was analysed, 3 when some failed, 1 when all did.

\b
Long runs: with --json, --csv or --report each finished input is appended to a journal
(<first output>.partial.jsonl) at once, and the outputs are written from it at the end, so
memory does not grow with the number of files. After a crash or Ctrl-C, run the same command
with --resume: inputs already analysed (same path, size and mtime) are skipped, failed ones are
retried, and the outputs cover all of them.

\b
Many machines: --shard I/N analyses the I-th of N shares of the inputs (picked by a hash of
each input's path; every shard lists all inputs). Give each shard its own outputs, then
--merge their JSON files (and HTML reports) into the outputs one run would have written, in
the same order; the merge fails if an input is missing or twice. docs/cluster.md has a
SLURM job-array recipe.
"""


@click.command("detect", epilog=EXAMPLES_DETECT)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="MEDIA...")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="CNN classifier: a run folder of `facelab train detector` (uses best.pt) or a .pt file. "
                   "Default: the shipped detector (deepfake_sbi_lite0); `none` skips the CNN stage.")
@click.option("--landmark-model", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Landmark-motion classifier from `facelab train landmarks` (default: the built-in "
                   "calibration on real videos).")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the verdicts as JSON (a list, one record per input; schema in docs/detect.md).")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write per-frame scores as CSV.")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write a self-contained HTML report (timeline, suspicious frames with Grad-CAM, landmark traces).")
@click.option("--stride", type=click.IntRange(1), default=5, show_default=True,
              help="Score every N-th video frame with the CNN.")
@click.option("--frames", type=click.IntRange(1), default=None,
              help="Score this many evenly spaced frames with the CNN instead of --stride.")
@click.option("--detect-every", type=click.IntRange(1), default=5, show_default=True,
              help="Run the full face detector every K frames (new faces appear on those frames).")
@click.option("--refine/--no-refine", default=True, show_default=True,
              help="Between full detections, re-detect each tracked face with MTCNN's last stage (O-Net) at its "
                   "last box, so landmarks stay the detector's on every frame; --no-refine: optical flow only.")
@click.option("--min-size", type=click.FloatRange(0), default=40, show_default=True,
              help="Ignore faces narrower than this many pixels (MTCNN's pyramid starts there: smaller is slower).")
@click.option("--window", type=click.IntRange(2), default=30, show_default=True,
              help="Landmark-motion window, in detected frames.")
@click.option("--window-stride", type=click.IntRange(1), default=15, show_default=True,
              help="Step between landmark-motion windows.")
@click.option("--no-landmarks", is_flag=True, help="Skip the landmark-motion check.")
@click.option("--no-lip-sync", is_flag=True,
              help="Skip the lip-sync check (mouth opening against the speech in the audio; videos with audio only).")
@click.option("--reference", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="A person's motion fingerprint (`facelab fingerprint build`): score each face track against it "
                   "(another person's face is reported as such, not as fake). Needs the dlib extra.")
@click.option("--no-gradcam", is_flag=True, help="Skip Grad-CAM maps in the HTML report (faster).")
@click.option("--no-provenance", is_flag=True,
              help="Do not read C2PA manifests and metadata labels: judge the pixels only (by default a valid "
                   "C2PA declaration of synthetic content decides the verdict; docs/security.md).")
@click.option("--top", type=click.IntRange(0, 32), default=4, show_default=True,
              help="Most suspicious frames per face shown in the report.")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="CNN crops per forward pass [default: 32 on CUDA, 8 on the CPU, where larger batches are slower].")
@click.option("--overwrite", is_flag=True,
              help="Replace existing --json/--csv/--report files (and the journal of an interrupted run).")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run from its journal: skip inputs it already analysed.")
@shard_option
@on_damage_option
@click.option("--merge", is_flag=True,
              help="Merge finished shards instead of analysing: the arguments are the --json files (and "
                   "--report pages) of all --shard runs; writes --json/--csv/--report for the whole.")
@click.pass_context
def detect(ctx: click.Context, inputs: tuple[Path, ...], weights: Path | None, landmark_model: Path | None,
           json_out: Path | None, csv_out: Path | None, report: Path | None, stride: int, frames: int | None,
           detect_every: int, refine: bool, min_size: float, window: int, window_stride: int, no_landmarks: bool,
           no_lip_sync: bool, reference: Path | None, no_gradcam: bool, no_provenance: bool, top: int,
           batch_size: int | None, overwrite: bool, resume: bool, shard: Shard | None, on_damage: str,
           merge: bool) -> None:
    """Tell real from manipulated faces in photos and videos.

    Two detectors look at every face track: a CNN on aligned face crops (the shipped detector,
    or --weights) and a classical landmark-motion check (inner-face landmarks that move unlike
    the head). Their scores are fused into REAL / FAKE / UNCERTAIN per face and per file.
    First, what the file declares: a valid C2PA manifest that declares it synthetic decides (FAKE).

    Videos with speech also get a lip-sync check, and --reference a person's motion fingerprint.
    """
    from facelab.detector.journal import DetectJournal, journal_path, run_settings
    from facelab.detector.pipeline import detect_files, list_media, make_detector
    from facelab.errors import OutputError

    g: Globals = ctx.obj
    device = g.device if g is not None else "auto"
    quiet = g is not None and g.verbosity < 0
    outs = [p for p in (json_out, csv_out, report) if p is not None]
    if merge:
        _merge(ctx, inputs, json_out=json_out, csv_out=csv_out, report=report, overwrite=overwrite)
        return
    files, skipped = list_media(inputs, keep_bad_files=True)  # bad files become failed records
    tags = None  # with --shard: each record says where its input was in the whole list, for --merge
    if shard is not None:
        total = len(files)
        mine = shard.select(files, key=lambda f: input_key(f, inputs))
        files = [f for _, f in mine]
        tags = [{"shard": {"shard": str(shard), "position": k, "inputs": total}} for k, _ in mine]
        skipped = [s for s in skipped if shard.owns(input_key(s[0], inputs))]
        echo(ctx, f"shard {shard}: {len(files)} of {total} inputs")
    if resume and not outs:
        ctx.fail("--resume continues the journal of --json, --csv or --report; pass the same outputs as before")
    if resume and overwrite:
        ctx.fail("--resume and --overwrite exclude each other (--overwrite starts again)")
    for p in outs:
        if p.resolve() in {f.resolve() for f in files}:
            raise OutputError(p, "is one of the inputs; choose another output name")
        if p.exists() and not (overwrite or resume):  # --resume rewrites them from the journal
            raise OutputError(p, "exists; pass --overwrite to replace it")
        if not p.parent.is_dir():
            raise OutputError(p, f"folder {p.parent} does not exist")
    from facelab.detector.api import load_detector

    # the CNN (the weights' own measured fusion settings come with it) and the landmark scorer
    models = load_detector(weights, landmark_model=landmark_model, landmarks=not no_landmarks, device=device)
    for note in models.notes:
        echo(ctx, f"note: {note}", err=True)
    cfg = models.config(stride=stride, frames=frames, detect_every=detect_every, refine=refine, min_size=min_size,
                        window=window, window_stride=window_stride, top=top, batch_size=batch_size,
                        gradcam=not no_gradcam and report is not None, provenance=not no_provenance,
                        on_damage=on_damage)
    cfg = dataclasses.replace(cfg, lip_sync=not no_lip_sync, reference=None if reference is None else str(reference))
    fingerprint = None
    if reference is not None:
        from facelab.detector.facetrace import dense_available
        from facelab.detector.fingerprint import Fingerprint
        from facelab.errors import ConfigError
        from facelab.faces.landmarks import DLIB_HINT

        fingerprint = Fingerprint.load(reference)
        if not dense_available():  # fail once here, not on every input
            raise ConfigError(f"--reference needs dlib's 68-point landmarks and face embeddings. {DLIB_HINT}")
    journal = None  # the run's record on disk (facelab.detector.journal)
    if outs:
        jpath = journal_path(outs[0])
        if overwrite:
            jpath.unlink(missing_ok=True)
        settings = run_settings(cfg.to_dict(), weights=weights, landmark_model=landmark_model,
                                report=report is not None)
        if shard is not None:  # a resumed shard must be the same shard
            settings["shard"] = str(shard)
        journal = DetectJournal.open(jpath, settings, resume=resume)

    detector = make_detector(cfg, device)

    for path, reason in skipped:
        click.echo(f"error: {path}: {reason}", err=True)
    todo = [f for f in files if journal is None or not journal.done(f)]
    if journal is not None and len(todo) < len(files):
        echo(ctx, f"resume: {len(files) - len(todo)} of {len(files)} inputs already analysed ({journal.path})")
    done = failed = 0
    damaged: list[str] = []
    bar = tqdm(unit="frame", desc="detect", dynamic_ncols=True, disable=quiet or not todo)
    t0 = time.perf_counter()

    def on_frame(done: int, total: int) -> None:
        if total and bar.total != total:
            bar.total = total
            bar.refresh()
        bar.update(1)

    def on_file(p: Path) -> None:
        bar.reset()
        bar.total = None  # a photo after a video must not show "0/751": each input sets its own total
        bar.set_description(p.name[:30])

    try:
        for r in detect_files(todo, cfg, detector=detector, classifier=models.classifier, scorer=models.scorer,
                              motion_skipped=models.motion_skipped, cnn_skipped=models.cnn_skipped,
                              on_file=on_file, on_frame=on_frame,
                              fingerprint=fingerprint):
            if journal is not None:  # on disk at once; nothing per input stays in memory
                journal.append(r, html=report is not None)
            done, failed = done + (r.error is None), failed + (r.error is not None)
            if r.error is not None:
                tqdm.write(f"error: {r.error}", file=sys.stderr)
            elif not quiet:
                prob = "n/a" if r.fake_probability is None else f"{r.fake_probability:.2f}"
                tqdm.write(f"{r.path}: {r.verdict} (fake probability {prob})"
                           + (f": {r.reasons[0]}" if r.reasons else ""))
            if r.error is None and r.warnings:  # the pipeline warns only of damage
                damaged.append(r.warnings[0])
                tqdm.write(f"warning: {r.path}: {damaged[-1]}", file=sys.stderr)
    except BaseException:  # Ctrl-C, a crash: the journal keeps what finished, for --resume
        if journal is not None:
            journal.close()
            click.echo(f"note: {len(journal)} finished inputs are kept in {journal.path}; run the same command "
                       "with --resume to continue", err=True)
        raise
    finally:
        bar.close()

    if journal is not None:
        journal.write_outputs(files, json_out=json_out, csv_out=csv_out, report=report, tags=tags)
        journal.remove()
    done += len(files) - len(todo)  # analysed by the interrupted run
    failed += len(skipped)
    written = ", ".join(str(p) for p in outs)
    echo(ctx, f"analysed {done} of {done + failed} inputs in {time.perf_counter() - t0:.1f}s"
              + (f"; {failed} failed" if failed else "") + (f" -> {written}" if written else "")
              + damage_suffix(damaged))
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED if done == 0 else EXIT_PARTIAL)


def _merge(ctx: click.Context, inputs: tuple[Path, ...], *, json_out: Path | None, csv_out: Path | None,
           report: Path | None, overwrite: bool) -> None:
    """``detect --merge``: the shards' JSON files (and HTML reports) -> the outputs of one run."""
    from click.core import ParameterSource

    from facelab.detector.merge import merge_records, write_merged
    from facelab.errors import OutputError

    for param in ctx.command.params:
        if param.name not in {"inputs", "json_out", "csv_out", "report", "overwrite", "merge"} \
                and ctx.get_parameter_source(param.name or "") not in (None, ParameterSource.DEFAULT):
            ctx.fail(f"--merge only combines the shards' outputs; {param.opts[0]} belongs to the shard runs")
    outs = [p for p in (json_out, csv_out, report) if p is not None]
    if not outs:
        ctx.fail("--merge writes --json, --csv and/or --report; pass at least one")
    jsons = [p for p in inputs if p.suffix.lower() == ".json"]
    pages = [p for p in inputs if p.suffix.lower() in (".html", ".htm")]
    other = [p for p in inputs if p not in jsons and p not in pages]
    if other or not jsons:
        ctx.fail(f"--merge takes the shards' --json files (.json) and --report pages (.html), got {other[0]}"
                 if other else "--merge needs the shards' --json files")
    for p in outs:
        if p.resolve() in {f.resolve() for f in inputs}:
            raise OutputError(p, "is one of the shard files; choose another output name")
        if p.exists() and not overwrite:
            raise OutputError(p, "exists; pass --overwrite to replace it")
    records = merge_records(jsons)
    write_merged(records, json_out=json_out, csv_out=csv_out, report=report, shard_reports=pages)
    failed = sum(1 for r in records if r.get("error"))
    tally = ", ".join(f"{n} {v}" for v in ("REAL", "FAKE", "UNCERTAIN")
                      if (n := sum(1 for r in records if not r.get("error") and r.get("verdict") == v)))
    echo(ctx, f"merged {len(records)} inputs from {len(jsons)} files ({tally or 'none analysed'}"
              + (f", {failed} failed" if failed else "") + ") -> " + ", ".join(str(p) for p in outs))
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED if failed == len(records) else EXIT_PARTIAL)

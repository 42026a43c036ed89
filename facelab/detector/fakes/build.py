"""``facelab fakes``: build a labelled real/fake face-crop data set from real footage with facelab's own swaps.

    summary = build_fakes(["talks/", "alice.mp4"], "data/fakes", FakesConfig(every=10, max_frames=16))

The steps, in order (the package docstring, :mod:`facelab.detector.fakes`, has the rules): plan
(:mod:`.plan`), scan (:mod:`.scan`), identities and split (:mod:`.plan`), fakes and crops
(:mod:`.frames`), motion (:mod:`.motion`), write; progress is kept in the work folder
(:mod:`.state`) for ``--resume``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from facelab import __version__
from facelab.detector.crops import CROP
from facelab.detector.dataset import MANIFEST_COLUMNS, MOTION_COLUMNS, CropRow, MotionRow, write_rows
from facelab.detector.fakes.config import FORMAT, SWAP, FakesConfig, FakesSummary, Progress
from facelab.detector.fakes.frames import Context, DonorPool, Writer, crop_items, fakes_for_frame
from facelab.detector.fakes.motion import Motion
from facelab.detector.fakes.plan import hash_split, name_identities, plan_sources, shard_sources, split_identities
from facelab.detector.fakes.records import Method, Scan, Source
from facelab.detector.fakes.scan import choose_window, scan_image, scan_video
from facelab.detector.fakes.state import WorkFolder, check_out
from facelab.errors import ConfigError, FacelabError, InputError, OutputError
from facelab.files import folder_problem, replace_dir
from facelab.io.image import read_image
from facelab.io.video import VideoReader
from facelab.shard import Shard
from facelab.swap.oneshot import FaceSource, SwapSettings

__all__ = ["build_fakes"]

log = logging.getLogger(__name__)


def build_fakes(inputs: Sequence[str | Path], out: str | Path, cfg: FakesConfig = FakesConfig(), *,
                overwrite: bool = False, resume: bool = False, detector: Any = None,
                on_progress: Progress | None = None, shard: Shard | None = None) -> FakesSummary:
    """Build the labelled data set ``out`` from real photos and videos (see the package docstring).

    Args:
        inputs: videos, photos and folders (searched recursively).
        out: the data set folder to create.
        cfg: settings.
        overwrite: replace an existing data set at ``out`` (and the work folder of an interrupted run).
        resume: continue the interrupted run whose work folder is beside ``out`` (same settings and
            inputs): scans and finished sources are loaded, not made again.
        detector: a face detector to reuse (``detect(image) -> list[Face]``); by default MTCNN on
            ``cfg.device``.
        on_progress: called as ``on_progress(stage, n, total)`` after ``n`` more units of stage
            ``scan`` (frames decoded) or ``fakes`` (frames manipulated); ``total`` may be None.
        shard: build only this shard's part of the data set (:func:`shard_sources`): identities
            are split by a hash of their name (:func:`hash_split`) and one-shot donors come from
            the shard's own identities; :func:`facelab.detector.fakes.merge.merge_fakes` joins
            the parts.

    Returns:
        :class:`FakesSummary`; a source that fails is listed in ``failures``, not raised.

    Raises:
        OutputError: ``out`` exists (without ``overwrite``) or cannot be written; an interrupted
            run's work folder exists (without ``resume`` or ``overwrite``).
        ConfigError: a model cannot be loaded as asked, fewer than two identities were found, no
            fake could be made, or ``resume`` with other settings or changed inputs.
    """
    t0 = time.perf_counter()
    out = Path(out)
    check_out(out, overwrite)
    summary = FakesSummary(out)
    methods = cfg.active_methods
    # models first: a wrong path should fail before minutes of detection
    models = _load_models(cfg, methods)
    if detector is None:
        from facelab.faces.detect import FaceDetector

        detector = FaceDetector(device=cfg.device)

    def progress(stage: str, total: int | None) -> Callable[[int], None]:
        return lambda n: on_progress(stage, n, total) if on_progress is not None else None

    # 1. plan (all inputs, so that source keys are the same in every shard, then this shard's)
    sources, summary.failures = plan_sources(inputs, out)
    settings = cfg.to_dict()
    if shard is not None:
        sources, summary.failures = shard_sources(sources, summary.failures, inputs, cfg, shard)
        settings["shard"] = str(shard)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, folder_problem(out.parent, exc)) from None
    work, resumed = WorkFolder.open(out, settings, sources, resume=resume, overwrite=overwrite)
    if resumed:
        log.info("resuming the interrupted run in %s", work.root)
    try:
        # 2. scan (or load the scans an interrupted run saved)
        scans = _scan_all(sources, detector, cfg, summary,
                          progress("scan", sum(_expected_frames(s, cfg) for s in sources)), work)
        # 3.-4. identities and split
        name_identities(scans, cfg)
        names = sorted({n for s in scans for n in s.identity.values()})
        if len(names) < 2 and shard is None:
            raise ConfigError(_too_few(names, summary))
        if len(names) < 2:  # a shard's part is still written: the merge judges the whole data set
            summary.warnings.append(f"shard {shard} found {len(names)} identities: no one-shot fakes in it "
                                    "(fewer shards give each more people)")
        splits = summary.identities = split_identities(names, cfg) if shard is None else hash_split(names, cfg)
        _check_donors(splits, methods, summary, strict=shard is None)
        for scan in scans:
            scan.window = choose_window(scan, cfg)
        # 5.-7. fakes, crops, motion
        ctx = Context(cfg, detector, [_method(m, models) for m in methods], splits, DonorPool(scans, work))
        rows, motion_rows = _run_pass2(scans, ctx, work, summary, progress)
        if not any(r.label == "fake" for r in rows):
            why = "; ".join(f"{reason}: {n}" for reason, n in sorted(summary.skipped.items())) or "no face to swap"
            if shard is None:
                raise ConfigError(f"no fake could be made ({why}); check the inputs' faces and the models")
            summary.warnings.append(f"shard {shard} made no fake ({why})")
        # 8. write
        tmp = work.root
        _tally(summary, rows, motion_rows)
        write_rows(tmp / "manifest.csv", rows, MANIFEST_COLUMNS)
        write_rows(tmp / "motion.csv", motion_rows, MOTION_COLUMNS)
        summary.seconds = time.perf_counter() - t0
        info = _dataset_info(scans, cfg, summary, detector, models)
        if shard is not None:
            info["shard"] = str(shard)
        (tmp / "dataset.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        work.finish()
        replace_dir(tmp, out, lambda o: check_out(o, overwrite), "data set")
    except ConfigError:  # a verdict on the inputs, not an interruption: nothing worth resuming
        shutil.rmtree(work.root, ignore_errors=True)
        raise
    except BaseException:
        log.info("interrupted: the work so far is kept in %s; run again with --resume to continue", work.root)
        raise
    summary.seconds = time.perf_counter() - t0
    return summary


def _scan_all(sources: list[Source], detector: Any, cfg: FakesConfig, summary: FakesSummary,
              step: Callable[[int], None], work: WorkFolder) -> list[Scan]:
    scans: list[Scan] = []
    for src in sources:
        saved = work.load_scan(src)
        if isinstance(saved, str):
            summary.failures.append((src.path, saved))
            continue
        if saved is not None:
            scans.append(saved)
            continue
        try:
            if src.kind == "image":
                scans.append(scan_image(src, detector, cfg))
                step(1)
            else:
                scans.append(scan_video(src, detector, cfg, step))
        except FacelabError as exc:
            summary.failures.append((src.path, _reason(exc, src.path)))
            log.info("%s: %s", src.path, summary.failures[-1][1])
            work.save_scan_failure(src, summary.failures[-1][1])
            continue
        work.save_scan(scans[-1])
        # the donors' crops now live in the work folder; the pool reads them when drawn
        scans[-1].donors = {t: [(q, i, None) for q, i, _ in heap] for t, heap in scans[-1].donors.items()}
    summary.faceless = [s.source.path for s in scans if not s.tracks]
    return scans


def _check_donors(splits: dict[str, str], methods: tuple[str, ...], summary: FakesSummary, *,
                  strict: bool = True) -> None:
    """One-shot fakes need two identities in a split: an error when no split has them (a warning
    for a shard, ``strict=False``), else a warning."""
    lonely = [s for s in ("train", "val") if sum(1 for v in splits.values() if v == s) < 2]
    if "oneshot" not in methods or not lonely or not splits:
        return
    if methods == ("oneshot",) and len(lonely) == 2 and strict:
        raise ConfigError(f"one-shot swaps need two identities in the same split, and the {len(splits)} identities "
                          f"found ({', '.join(sorted(splits))}) make one per split; add people (four or more give "
                          "fakes in both splits)")
    summary.warnings.append(f"the {' and '.join(lonely)} split has a single identity: no one-shot fakes there "
                            "(four or more identities give one-shot fakes in both splits)")


def _run_pass2(scans: list[Scan], ctx: Context, work: WorkFolder, summary: FakesSummary,
               progress: Callable[[str, int | None], Callable[[int], None]]) -> tuple[list[CropRow], list[MotionRow]]:
    saved = {scan.source.key: work.load_done(scan.source.key) for scan in scans if scan.identity}
    total = 0
    for scan in scans:
        if saved.get(scan.source.key) is None:
            total += len(crop_items(scan, ctx.cfg))
            if scan.window:
                total += scan.window[1] - scan.window[0]
    step = progress("fakes", total)
    rows: list[CropRow] = []
    motion_rows: list[MotionRow] = []
    for scan in scans:
        if not scan.identity:
            continue
        done = saved.get(scan.source.key)
        if done is None:  # make it (again, if a crash cut it short: the same seeds give the same files)
            before = dict(summary.skipped)
            summary.skipped.clear()
            w = Writer(work.root, summary)
            failed = None
            try:
                _make_source(scan, ctx, w, step)
            except FacelabError as exc:
                w.discard()
                failed = _reason(exc, scan.source.path)
            done = (w.rows, w.motion, dict(summary.skipped), failed)
            summary.skipped.clear()
            summary.skipped.update(before)
            work.save_done(scan.source.key, *done)
        for reason, n in done[2].items():
            summary.skipped[reason] = summary.skipped.get(reason, 0) + n
        if done[3] is not None:
            summary.failures.append((scan.source.path, done[3]))
            continue
        rows.extend(done[0])
        motion_rows.extend(done[1])
    return rows, motion_rows


def _make_source(scan: Scan, ctx: Context, w: Writer, progress: Callable[[int], None]) -> None:
    items = crop_items(scan, ctx.cfg)
    if scan.source.kind == "image":
        fakes_for_frame(read_image(scan.source.path), items.get(0, []), scan, ctx, w)
        progress(1)
        return
    start, end = scan.window or (0, 0)
    motion = Motion(scan, ctx) if scan.window else None
    last = max([*items, end - 1])
    with VideoReader(scan.source.path, every=1 if motion is not None else ctx.cfg.every) as reader:
        for index, frame in reader.frames_with_index():
            if index > last:
                break
            if motion is not None and start <= index < end:
                motion.frame(index, frame)
                progress(1)
            if index in items:
                fakes_for_frame(frame, items[index], scan, ctx, w)
                progress(1)
    if motion is not None:
        motion.write(w)


def _reason(exc: FacelabError, path: Path) -> str:
    return exc.problem if isinstance(exc, (InputError, OutputError)) and exc.path == path else str(exc)


def _too_few(names: list[str], summary: FakesSummary) -> str:
    found = f"found only {names[0]!r}" if names else "found no usable face"
    failures = summary.failures
    failed = f"; {len(failures)} input(s) failed ({failures[0][0]}: {failures[0][1]}...)" if failures else ""
    if summary.faceless:
        failed += f"; {len(summary.faceless)} input(s) without a usable face"
    return (f"a fakes data set needs at least two identities (people) to swap between and to split into "
            f"train and val; {found}{failed}. Add media of other people (or use --identity folder with one "
            "folder per person)")


def _expected_frames(src: Source, cfg: FakesConfig) -> int:
    if src.kind == "image":
        return 1
    try:
        n = VideoReader(src.path).info.frame_count or 0
    except FacelabError:
        return 0
    return math.ceil(n / cfg.every)


def _load_models(cfg: FakesConfig, methods: tuple[str, ...]) -> dict[str, tuple[FaceSource, SwapSettings]]:
    models: dict[str, tuple[FaceSource, SwapSettings]] = {}
    if "learned" in methods:
        from facelab.swap.learned import load_swap_model

        models["learned"] = load_swap_model(cfg.swap_model, SWAP, device=cfg.device)  # type: ignore[arg-type]
    if "translate" in methods:
        from facelab.swap.oneshot import TranslatorSource
        from facelab.translate.infer import load_translator

        tr = load_translator(weights=cfg.translator, device=cfg.device, inference="eval")
        settings = SWAP
        if tr.size is not None:  # a net with a fixed input size (e.g. a face-swap autoencoder) sets the crop
            if tr.size[0] != tr.size[1]:
                raise ConfigError(f"{cfg.translator}: translates {tr.size[0]}x{tr.size[1]} images; "
                                  "the face region needs a square translator")
            settings = replace(SWAP, size=tr.size[0])
        models["translate"] = (TranslatorSource(translator=tr, weights=str(cfg.translator), method="translate"),
                               settings)
    return models


def _method(name: str, models: dict[str, tuple[FaceSource, SwapSettings]]) -> Method:
    if name == "oneshot":
        return Method(name, None, SWAP)
    source, settings = models[name]
    model = source.describe().get("model", "")
    return Method(name, source, settings, donor=f"{name}:{Path(str(model)).name}")


def _tally(summary: FakesSummary, rows: list[CropRow], motion_rows: list[MotionRow]) -> None:
    for target, items in ((summary.counts, rows), (summary.motion, motion_rows)):
        for r in items:
            d = target.setdefault(r.split, {}).setdefault(r.label, {})
            d[r.method] = d.get(r.method, 0) + 1


def _dataset_info(scans: list[Scan], cfg: FakesConfig, summary: FakesSummary, detector: Any,
                  models: dict[str, tuple[FaceSource, SwapSettings]]) -> dict[str, Any]:
    identities: dict[str, dict[str, Any]] = {}
    for scan in scans:
        for tid, name in scan.identity.items():
            entry = identities.setdefault(name, {"split": summary.identities[name], "sources": []})
            entry["sources"].append({"source": str(scan.source.path), "track": tid})
    config = getattr(detector, "config", None)
    return {
        "format": FORMAT, "facelab": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": cfg.seed, "settings": cfg.to_dict(), "crop": CROP.to_dict(), "swap": SWAP.to_dict(),
        "models": {m: src.describe() for m, (src, _) in models.items()},
        "detector": config() if callable(config) else type(detector).__name__,
        "counts": summary.counts, "motion": summary.motion, "skipped": summary.skipped,
        "identities": identities,
        "inputs": [{"source": str(s.source.path), "kind": s.source.kind, "key": s.source.key,
                    "identities": {str(t): n for t, n in sorted(s.identity.items())},
                    "splits": {n: summary.identities[n] for n in sorted(set(s.identity.values()))},
                    "motion_window": list(s.window) if s.window else None} for s in scans],
        "failures": [{"source": str(p), "error": e} for p, e in summary.failures],
        "faceless": [str(p) for p in summary.faceless],
        "warnings": summary.warnings, "seconds": round(summary.seconds, 2),
    }

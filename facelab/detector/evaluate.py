"""Evaluate a trained classifier: metrics, ROC curve, confusion table and per-item scores.

    result = evaluate("runs/detector", "data/fakes", split="val", out_dir="runs/detector/eval")

``target`` is one of:

- a data set made by ``facelab fakes`` (has ``manifest.csv``): its crops of ``split``
  (``val``, ``train`` or ``all``) are scored as they are; the crop geometry must be the
  checkpoint's.
- labelled media: a folder with ``real/`` and ``fake/`` subfolders (searched recursively), or
  a CSV with columns ``path,label`` (paths relative to the CSV's folder; label real or fake).
  Each photo or video is scored as a whole: MTCNN finds the largest face on ``frames`` evenly
  spaced frames, each face is cropped with the checkpoint's geometry, and the file's score is the
  mean fake probability of its faces. A file with no face anywhere is reported and left out;
  an unreadable one too (and counted as failed).

Metrics come from :func:`facelab.detector.train.compute_metrics` at the checkpoint's threshold
(calibrated on the training run's validation split). Files written to ``out_dir``: ``roc.png``,
``confusion.txt``, ``metrics.json`` (metrics, confusion, skipped items) and ``scores.csv``.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facelab.detector.cnn import FakeClassifier, load_classifier
from facelab.detector.crops import CropSpec, face_crop
from facelab.detector.dataset import LABELS, read_dataset_info, read_manifest
from facelab.detector.metrics import compute_metrics
from facelab.errors import ConfigError, FacelabError, InputError
from facelab.io import check_output_dir, make_output_dir
from facelab.io.image import is_image, read_image
from facelab.io.video import VideoReader, is_video

__all__ = ["SPLITS", "EvalResult", "ScoredItem", "confusion_table", "evaluate", "labelled_media", "metric_rows",
           "write_outputs"]

log = logging.getLogger(__name__)

SPLITS = ("val", "train", "all")


@dataclass
class ScoredItem:
    """One crop (data set) or media file (labelled media).

    Attributes:
        path: as given in the manifest or CSV, or relative to the labelled folder.
        label: ``real`` or ``fake``.
        score: mean fake probability, None when the item was left out.
        faces: faces scored (1 for a crop).
        note: why the item was left out ("no face found", the read error), else "".
        failed: left out because it could not be read (not merely faceless).
    """

    path: str
    label: str
    score: float | None
    faces: int = 0
    note: str = ""
    failed: bool = False


@dataclass
class EvalResult:
    """What :func:`evaluate` found.

    Attributes:
        metrics: :func:`~facelab.detector.train.compute_metrics` of the scored items at ``threshold``.
        threshold: the checkpoint's decision threshold (fake when score >= threshold).
        items: every item, scored or left out (``score`` None, ``note`` says why).
        kind: ``dataset`` or ``media``.
        weights, target, split: what was evaluated.
        classifier: :meth:`FakeClassifier.describe` of the checkpoint.
        files: name -> path of what was written to ``out_dir`` (empty without one).
    """

    metrics: dict[str, Any]
    threshold: float
    items: list[ScoredItem]
    kind: str
    weights: str
    target: str
    split: str
    classifier: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def scored(self) -> list[ScoredItem]:
        return [it for it in self.items if it.score is not None]

    @property
    def skipped(self) -> list[ScoredItem]:
        return [it for it in self.items if it.score is None]

    def to_dict(self) -> dict[str, Any]:
        """The content of ``metrics.json``."""
        return {"weights": self.weights, "target": self.target, "kind": self.kind, "split": self.split,
                "threshold": self.threshold, "metrics": self.metrics, "classifier": self.classifier,
                "skipped": [{"path": it.path, "label": it.label, "reason": it.note, "failed": it.failed}
                            for it in self.skipped]}


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def labelled_media(target: str | Path) -> list[tuple[Path, str, str]]:
    """``(file, label, display path)`` of a ``real/`` + ``fake/`` folder or a ``path,label`` CSV."""
    target = Path(target)
    out: list[tuple[Path, str, str]] = []
    if target.is_dir():
        for label in LABELS:
            sub = target / label
            if sub.is_dir():
                out += [(p, label, p.relative_to(target).as_posix()) for p in sorted(sub.rglob("*"))
                        if p.is_file() and (is_image(p) or is_video(p))]
        if not out:
            raise InputError(target, "no photos or videos under real/ and fake/ (and no manifest.csv)")
        return out
    with open(target, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not {"path", "label"} <= set(reader.fieldnames or []):
            raise InputError(target, "a labelled CSV needs the columns path,label")
        for n, row in enumerate(reader, start=2):
            label = (row["label"] or "").strip().lower()
            if label not in LABELS:
                raise InputError(target, f"line {n}: label must be real or fake, got {row['label']!r}")
            p = Path(row["path"])
            out.append((p if p.is_absolute() else target.parent / p, label, row["path"]))
    if not out:
        raise InputError(target, "no rows")
    return out


def _video_frames(path: Path, frames: int) -> list[np.ndarray]:
    """Up to ``frames`` frames ``0, step, 2 step, ...`` with ``step = n // frames``.

    Only those frames are converted to RGB (``VideoReader(every=step)``); the others are merely
    decoded. An unknown frame count (0) is found by one decoding pass first.
    """
    with VideoReader(path, every=2**31) as counter:
        n = counter.info.frame_count
        if n <= 0:
            for _ in counter:  # yields frame 0 only, decodes them all
                pass
            n = counter.frames_decoded
    step = max(1, n // frames)
    with VideoReader(path, every=step) as reader:
        return [f for i, f in reader.frames_with_index() if i < step * frames]


def _media_faces(path: Path, spec: CropSpec, detector: Any, frames: int) -> list[np.ndarray]:
    """Crops of the largest face on up to ``frames`` evenly spaced frames of a photo or video."""
    images = [read_image(path)] if is_image(path) else _video_frames(path, frames)
    crops = []
    for img in images:
        faces = detector.detect(img)
        if faces:  # sorted by box area: [0] is the largest
            crops.append(face_crop(img, faces[0].landmarks, spec).crop)
    return crops


def _score_media(clf: FakeClassifier, target: Path, frames: int, detector: Any, batch_size: int,
                 on_item: Callable[[int, int], None] | None = None) -> list[ScoredItem]:
    if detector is None:
        from facelab.faces.detect import FaceDetector

        detector = FaceDetector(device=str(clf.device))
    items: list[ScoredItem] = []
    media = labelled_media(target)
    for path, label, shown in media:
        if on_item is not None and items:
            on_item(len(items), len(media))
        if not (is_image(path) or is_video(path)):
            items.append(ScoredItem(shown, label, None, note="not a photo or video by its extension", failed=True))
            continue
        try:
            crops = _media_faces(path, clf.spec, detector, frames)
        except FacelabError as exc:  # unreadable media: report it, go on with the rest
            items.append(ScoredItem(shown, label, None, note=str(exc), failed=True))
            log.info("%s", exc)  # in the result; the CLI lists it
            continue
        if not crops:
            items.append(ScoredItem(shown, label, None, note="no face found"))
            log.info("%s: no face found; left out", path)
            continue
        items.append(ScoredItem(shown, label, float(clf.predict(crops, batch_size).mean()), faces=len(crops)))
    if on_item is not None and items:
        on_item(len(items), len(media))
    return items


def _score_dataset(clf: FakeClassifier, root: Path, split: str, batch_size: int,
                   on_item: Callable[[int, int], None] | None = None) -> list[ScoredItem]:
    rows = [r for r in read_manifest(root) if split == "all" or r.split == split]
    if not rows:
        raise InputError(root / "manifest.csv", f"no rows in the {split} split")
    crop = read_dataset_info(root).get("crop")
    if crop is not None and CropSpec.from_dict(crop) != clf.spec:
        raise ConfigError(f"{root}: the data set's crops ({crop}) differ from the classifier's "
                          f"({clf.spec.to_dict()}); evaluate on labelled media instead, which is cropped as needed")
    items = []
    for i in range(0, len(rows), batch_size):
        chunk, images = [], []
        for r in rows[i:i + batch_size]:
            try:
                images.append(read_image(root / r.path))
                chunk.append(r)
            except InputError as exc:  # a damaged crop: report it, score the rest
                items.append(ScoredItem(r.path, r.label, None, note=str(exc), failed=True))
                log.info("%s", exc)
        if chunk:
            scores = clf.predict(images, batch_size)
            items += [ScoredItem(r.path, r.label, float(s), faces=1) for r, s in zip(chunk, scores)]
        if on_item is not None:
            on_item(len(items), len(rows))
    return items


# --------------------------------------------------------------------------------------------
# Evaluation and outputs
# --------------------------------------------------------------------------------------------


def evaluate(weights: str | Path, target: str | Path, *, split: str = "val", frames: int = 16,
             device: str | torch.device = "auto", out_dir: str | Path | None = None, batch_size: int = 32,
             detector: Any = None, on_item: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score a labelled data set or labelled media with a trained classifier.

    Args:
        weights: run folder (its ``best.pt``) or checkpoint file.
        target: a ``facelab fakes`` data set, a folder with ``real/`` and ``fake/``, or a
            ``path,label`` CSV (see the module docstring).
        split: data sets only: ``val``, ``train`` or ``all``.
        frames: media only: frames per video that are searched for a face.
        device: where the classifier (and the face detector) run.
        out_dir: where ``roc.png``, ``confusion.txt``, ``metrics.json`` and ``scores.csv`` go
            (None: nothing is written).
        batch_size: crops per forward pass.
        detector: a :class:`~facelab.faces.detect.FaceDetector` to reuse (media only).
        on_item: progress callback ``(items scored so far, items in all)``.

    Raises:
        InputError: a missing or unrecognised target or weights.
        ConfigError: bad ``split`` / ``frames``, or data set crops of another geometry.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if frames < 1:
        raise ConfigError(f"frames must be at least 1, got {frames}")
    target = Path(target)
    if not target.exists():
        raise InputError(target, "no such data set, folder or CSV")
    if out_dir is not None:
        check_output_dir(out_dir)  # before the scoring, which can take long
    clf = load_classifier(weights, device=device)
    if target.is_dir() and (target / "manifest.csv").is_file():
        kind, items = "dataset", _score_dataset(clf, target, split, batch_size, on_item)
    elif (target.is_dir() and any((target / lab).is_dir() for lab in LABELS)) or target.suffix.lower() == ".csv":
        kind, items = "media", _score_media(clf, target, frames, detector, batch_size, on_item)
    else:
        raise InputError(target, "not a data set (manifest.csv), a folder with real/ and fake/ subfolders, "
                                 "nor a CSV with columns path,label")
    scored = [(LABELS[it.label], it.score) for it in items if it.score is not None]
    metrics = compute_metrics([y for y, _ in scored], [s for _, s in scored], clf.threshold)
    result = EvalResult(metrics=metrics, threshold=clf.threshold, items=items, kind=kind, weights=clf.path,
                        target=str(target), split=split if kind == "dataset" else "-", classifier=clf.describe())
    if out_dir is not None:
        result.files = write_outputs(result, out_dir)
    return result


def confusion_table(metrics: dict[str, Any]) -> str:
    """The confusion matrix as aligned text: rows = actual class, columns = predicted class."""
    c = metrics["confusion"]
    rows = [("", "predicted real", "predicted fake"), ("actual real", c["tn"], c["fp"]),
            ("actual fake", c["fn"], c["tp"])]
    return "\n".join(f"{a:<12}{b!s:>16}{d!s:>16}" for a, b, d in rows)


def _plot_roc(result: EvalResult, path: Path) -> None:
    """ROC curve with the EER point and the operating point; Agg canvas, no pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="chance")
    m = result.metrics
    if m["roc_auc"] is not None:
        y = [LABELS[it.label] for it in result.scored]
        s = [it.score for it in result.scored]
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=2, label=f"ROC (AUC {m['roc_auc']:.3f})")
        ax.plot([m["eer"]], [1 - m["eer"]], "o", color="tab:red", label=f"EER {m['eer']:.3f}")
        c = m["confusion"]
        op_fpr, op_tpr = c["fp"] / max(1, m["n_real"]), c["tp"] / max(1, m["n_fake"])
        ax.plot([op_fpr], [op_tpr], "s", color="tab:green", label=f"threshold {result.threshold:.3f}")
    else:
        ax.text(0.5, 0.5, f"ROC undefined: {m['n_real']} real, {m['n_fake']} fake", ha="center", va="center")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (real called fake)",
           ylabel="true positive rate (fake caught)", title=f"{Path(result.target).name}: {m['n']} items")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path)


def write_outputs(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``roc.png``, ``confusion.txt``, ``metrics.json`` and ``scores.csv`` into ``out_dir``."""
    out = make_output_dir(out_dir)
    files = {name: out / name for name in ("roc.png", "confusion.txt", "metrics.json", "scores.csv")}
    _plot_roc(result, files["roc.png"])
    files["confusion.txt"].write_text(f"threshold {result.threshold:.6g} (fake when score >= threshold)\n"
                                      + confusion_table(result.metrics) + "\n", encoding="utf-8")
    files["metrics.json"].write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    with open(files["scores.csv"], "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "score", "prediction", "faces", "note"])
        for it in result.items:
            pred = "" if it.score is None else "fake" if it.score >= result.threshold else "real"
            w.writerow([it.path, it.label, "" if it.score is None else f"{it.score:.6f}", pred, it.faces, it.note])
    return files


def metric_rows(metrics: dict[str, Any]) -> Sequence[tuple[str, str]]:
    """``(name, value)`` pairs for a printed table (None shown as ``n/a``)."""
    names = ("roc_auc", "average_precision", "eer", "eer_threshold", "threshold", "accuracy", "n", "n_real", "n_fake")
    fmt: dict[type, Callable[[Any], str]] = {int: str, float: lambda v: f"{v:.4f}"}
    return [(k, "n/a" if metrics.get(k) is None else fmt.get(type(metrics[k]), str)(metrics[k])) for k in names]

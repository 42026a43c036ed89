"""The labelled face-crop data set that ``facelab fakes`` writes and the detectors train on.

Layout::

    DATASET/
      dataset.json          how it was made: crop geometry, settings, seed, counts, facelab version
      manifest.csv          one row per face crop (columns: MANIFEST_COLUMNS)
      crops/real/<identity>/<name>.png
      crops/fake/<identity>/<name>.png
      motion.csv            one row per (clip, track) landmark-motion sequence (MOTION_COLUMNS)
      motion/<name>.npz     per-frame landmark-motion features of one track (see landmark_motion)

Rows are split by **identity**: every crop of one identity, real or fake, is in the same split,
and a fake's donor identity is drawn from the same split as its target, so no face seen in
training appears in validation. ``label`` is ``real`` or ``fake``; :data:`LABELS` maps it to 0/1
(1 = fake, the positive class of every metric).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from facelab.errors import InputError

__all__ = [
    "LABELS",
    "MANIFEST_COLUMNS",
    "MOTION_COLUMNS",
    "CropRow",
    "MotionRow",
    "read_manifest",
    "read_motion_index",
    "write_rows",
]

LABELS = {"real": 0, "fake": 1}
SPLITS = ("train", "val")


@dataclass(frozen=True)
class CropRow:
    """One face crop.

    Attributes:
        path: crop file, relative to the data set root, ``/``-separated.
        label: ``real`` or ``fake``.
        split: ``train`` or ``val``.
        identity: who the face belongs to (the target person for a fake).
        source: the real media file the frame came from.
        frame: frame index in ``source`` (0 for a photo).
        track: face track id in ``source``.
        method: ``real``, ``oneshot``, ``learned`` or ``translate``.
        donor: identity whose face was put in (``""`` for real rows).
        params: JSON object of the manipulation's quality settings (feather, colour, blend, jpeg).
    """

    path: str
    label: str
    split: str
    identity: str
    source: str
    frame: int
    track: int
    method: str
    donor: str = ""
    params: str = "{}"

    @property
    def y(self) -> int:
        return LABELS[self.label]


@dataclass(frozen=True)
class MotionRow:
    """One face track's landmark-motion sequence (``motion/<name>.npz``), real or manipulated."""

    path: str
    label: str
    split: str
    identity: str
    source: str
    track: int
    method: str
    donor: str = ""

    @property
    def y(self) -> int:
        return LABELS[self.label]


MANIFEST_COLUMNS = tuple(f.name for f in fields(CropRow))
MOTION_COLUMNS = tuple(f.name for f in fields(MotionRow))


def write_rows(path: str | Path, rows: Iterable[CropRow | MotionRow], columns: Sequence[str]) -> None:
    """Write rows as CSV with a header (``newline=""`` so the csv module controls line ends)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns))
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))


def _read(path: Path, cls: type, columns: Sequence[str]) -> list[Any]:
    if not path.is_file():
        raise InputError(path, "not found (is this a data set made by `facelab fakes`?)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or []) and c not in ("donor", "params")]
        if missing:
            raise InputError(path, f"missing columns {', '.join(missing)}")
        rows = []
        for n, raw in enumerate(reader, start=2):
            kw: dict[str, Any] = {c: raw[c] for c in columns if c in raw and raw[c] is not None}
            for c in ("frame", "track"):
                if c in kw:
                    kw[c] = int(kw[c])
            if kw.get("label") not in LABELS:
                raise InputError(path, f"line {n}: label must be real or fake, got {kw.get('label')!r}")
            if kw.get("split") not in SPLITS:
                raise InputError(path, f"line {n}: split must be train or val, got {kw.get('split')!r}")
            rows.append(cls(**kw))
    return rows


def read_manifest(root: str | Path) -> list[CropRow]:
    """Read ``root/manifest.csv`` (or a manifest path) into :class:`CropRow` objects."""
    p = Path(root)
    return _read(p / "manifest.csv" if p.is_dir() else p, CropRow, MANIFEST_COLUMNS)


def read_motion_index(root: str | Path) -> list[MotionRow]:
    """Read ``root/motion.csv`` into :class:`MotionRow` objects."""
    return _read(Path(root) / "motion.csv", MotionRow, MOTION_COLUMNS)


def read_dataset_info(root: str | Path) -> dict[str, Any]:
    """``root/dataset.json`` as a dict."""
    p = Path(root) / "dataset.json"
    if not p.is_file():
        raise InputError(p, "not found (is this a data set made by `facelab fakes`?)")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(p, f"not valid JSON ({e.msg}, line {e.lineno})") from None

"""What ``facelab fakes`` persists in its work folder so that ``--resume`` continues a crashed run.

The data set is built in a hidden work folder beside the output, ``.<out>.work/``, and renamed
into place at the end. Beside the crops it holds ``progress/``:

    progress/state.json        format, settings and the inputs (resolved path, size, mtime) of the run
    progress/scan/<key>.json   pass 1 of one source: fps, frames, tracks, donors' metadata, or its failure
    progress/scan/<key>.npz    ... and its arrays (boxes, landmarks, donor crops and matrices)
    progress/done/<key>.json   pass 2 of one source: its manifest and motion rows, skips, or its failure

Each file is written to a temporary name and renamed, so a crash leaves either a whole record or
none. A resumed run loads the scans instead of scanning again and skips the sources that are
done; a source interrupted half way is made again from the start, overwriting its crops with the
same bytes (every random choice is seeded per item, see :mod:`facelab.detector.fakes`). So the
resumed data set equals the one an uninterrupted run with the same seed makes. Arrays are saved
with ``allow_pickle=False`` and JSON: nothing executable is ever loaded.

A resumed run must have the same settings and the same inputs, unchanged; otherwise it is an
error that says to start again with ``--overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from facelab.detector.dataset import CropRow, MotionRow
from facelab.detector.fakes.records import Scan, Sighting, Source
from facelab.errors import ConfigError, OutputError
from facelab.faces.align import AlignedFace
from facelab.faces.detect import Face
from facelab.files import write_text_atomic

__all__ = ["PROGRESS_FORMAT", "WorkFolder", "check_out", "work_folder"]

PROGRESS_FORMAT = "facelab.fakes-progress/1"


def work_folder(out: Path) -> Path:
    """The hidden folder beside ``out`` where the data set is built: ``.<name>.work``."""
    return out.with_name(f".{out.name}.work")


def check_out(out: Path, overwrite: bool) -> None:
    """Raise OutputError unless ``out`` may become the data set: absent, empty, or (with ``overwrite``) one made here."""
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / "dataset.json").is_file():
        raise OutputError(out, "exists and is not a fakes data set (no dataset.json); not touching it")
    if not overwrite:
        raise OutputError(out, "already exists; pass --overwrite to replace it")


def _file_key(path: Path) -> list[Any]:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _write_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, allow_nan=True) + "\n")


class WorkFolder:
    """The work folder of one ``build_fakes`` run and its progress records."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.progress = root / "progress"

    @classmethod
    def open(cls, out: Path, settings: dict[str, Any], sources: list[Source], *, resume: bool,
             overwrite: bool) -> tuple[WorkFolder, bool]:
        """Create the work folder, or continue the one an interrupted run left (``resume``).

        Returns:
            ``(work, resumed)``: ``resumed`` is True when earlier progress was found and matches.

        Raises:
            OutputError: an interrupted run's folder exists and neither ``resume`` nor
                ``overwrite`` was given, or the folder cannot be created.
            ConfigError: resuming with other settings or changed inputs.
        """
        work = cls(work_folder(out))
        state = {"format": PROGRESS_FORMAT, "settings": json.loads(json.dumps(settings)),
                 "inputs": [[s.key, *_file_key(s.path)] for s in sources]}
        if work.root.exists() and not resume:
            if not overwrite:
                raise OutputError(work.root, "holds an interrupted `facelab fakes` run; pass --resume to continue "
                                             "it or --overwrite to start again")
            shutil.rmtree(work.root)
        resumed = False
        if work.root.exists():
            try:
                old = json.loads((work.progress / "state.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None  # interrupted before its first record: nothing to keep
            if old is not None and old.get("format") == PROGRESS_FORMAT:
                if old.get("settings") != state["settings"]:
                    changed = sorted(k for k in set(old.get("settings", {})) | set(state["settings"])
                                     if old.get("settings", {}).get(k) != state["settings"].get(k))
                    raise ConfigError(f"{work.root}: the interrupted run had other settings ({', '.join(changed)}); "
                                      "resume with the same options, or pass --overwrite to start again")
                if old.get("inputs") != state["inputs"]:
                    raise ConfigError(f"{work.root}: the inputs changed since the interrupted run (files added, "
                                      "removed or modified); pass --overwrite to start again")
                resumed = True
            else:
                shutil.rmtree(work.root)
        try:
            for sub in ("scan", "done"):
                (work.progress / sub).mkdir(parents=True, exist_ok=True)
            _write_json(work.progress / "state.json", state)
        except OSError as exc:
            raise OutputError(work.root, f"cannot create the work folder ({exc.strerror or exc})") from None
        return work, resumed

    # ------------------------------------------------------------------------- pass 1

    def save_scan(self, scan: Scan) -> None:
        """Persist one source's pass-1 result (arrays first, the JSON that marks it complete last)."""
        arrays: dict[str, np.ndarray] = {}
        tracks: dict[str, list[list[Any]]] = {}
        for tid, sightings in scan.tracks.items():
            tracks[str(tid)] = [[s.frame, s.detected, s.face.score] for s in sightings]
            arrays[f"t{tid}_box"] = np.stack([s.face.box for s in sightings]) if sightings else np.zeros((0, 4), np.float32)
            arrays[f"t{tid}_lm"] = (np.stack([s.face.landmarks for s in sightings]) if sightings
                                    else np.zeros((0, 5, 2), np.float32))
        donors: dict[str, list[list[Any]]] = {}
        for tid, heap in scan.donors.items():
            faces = [a for _, _, a in heap if a is not None]
            if len(faces) != len(heap):
                raise ValueError(f"{scan.source.key}: this scan's donor faces were already saved and dropped")
            donors[str(tid)] = [[q, index, a.size, a.margin] for (q, index, _), a in zip(heap, faces)]
            if faces:
                arrays[f"d{tid}_crop"] = np.stack([a.crop for a in faces])
                arrays[f"d{tid}_M"] = np.stack([a.M for a in faces])
                arrays[f"d{tid}_Minv"] = np.stack([a.M_inv for a in faces])
                arrays[f"d{tid}_lm"] = np.stack([np.asarray(a.landmarks) for a in faces])
        key = scan.source.key
        tmp = self.progress / "scan" / f".{key}.tmp.npz"
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, self.progress / "scan" / f"{key}.npz")
        _write_json(self.progress / "scan" / f"{key}.json",
                    {"key": key, "fps": scan.fps, "frames": scan.frames, "tracks": tracks, "donors": donors})

    def save_scan_failure(self, source: Source, reason: str) -> None:
        _write_json(self.progress / "scan" / f"{source.key}.json", {"key": source.key, "failed": reason})

    def load_donors(self, key: str, tid: int) -> list[AlignedFace]:
        """The saved one-shot donor faces of track ``tid`` of source ``key``, in their saved order."""
        doc = json.loads((self.progress / "scan" / f"{key}.json").read_text(encoding="utf-8"))
        rows = doc["donors"][str(tid)]
        if not rows:
            return []
        with np.load(self.progress / "scan" / f"{key}.npz", allow_pickle=False) as z:
            crop, M, M_inv, lm = (z[f"d{tid}_{n}"] for n in ("crop", "M", "Minv", "lm"))
        return [AlignedFace(crop=crop[i], M=M[i], M_inv=M_inv[i], landmarks=lm[i], size=int(size), margin=float(margin))
                for i, (_, _, size, margin) in enumerate(rows)]

    def load_scan(self, source: Source) -> Scan | str | None:
        """The saved pass-1 result of ``source``: a scan, its failure reason, or None (not scanned yet).

        The donors' aligned faces are left on disk (``None`` in ``scan.donors``): :meth:`load_donors`
        reads them when a fake needs them, so memory does not grow with the number of identities.
        """
        try:
            doc = json.loads((self.progress / "scan" / f"{source.key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if "failed" in doc:
            return str(doc["failed"])
        try:
            with np.load(self.progress / "scan" / f"{source.key}.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k.startswith("t")}
        except (OSError, ValueError):
            return None
        scan = Scan(source, fps=doc["fps"], frames=int(doc["frames"]))
        for t, rows in doc["tracks"].items():
            boxes, lms = arrays[f"t{t}_box"], arrays[f"t{t}_lm"]
            scan.tracks[int(t)] = [Sighting(int(frame), Face(boxes[i], float(score), lms[i]), bool(detected))
                                   for i, (frame, detected, score) in enumerate(rows)]
        for t, rows in doc["donors"].items():
            scan.donors[int(t)] = [(float(q), int(index), None) for q, index, _, _ in rows]
        return scan

    # ------------------------------------------------------------------------- pass 2

    def save_done(self, key: str, rows: list[CropRow], motion: list[MotionRow], skipped: dict[str, int],
                  failed: str | None = None) -> None:
        """Mark one source's pass 2 finished, with what it added to the data set (or why it failed)."""
        _write_json(self.progress / "done" / f"{key}.json",
                    {"rows": [asdict(r) for r in rows], "motion": [asdict(m) for m in motion],
                     "skipped": skipped, "failed": failed})

    def load_done(self, key: str) -> tuple[list[CropRow], list[MotionRow], dict[str, int], str | None] | None:
        try:
            doc = json.loads((self.progress / "done" / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return ([CropRow(**r) for r in doc["rows"]], [MotionRow(**m) for m in doc["motion"]],
                {str(k): int(v) for k, v in doc["skipped"].items()}, doc.get("failed"))

    def finish(self) -> None:
        """Drop the progress records once the data set is complete (before the folder is renamed)."""
        shutil.rmtree(self.progress, ignore_errors=True)

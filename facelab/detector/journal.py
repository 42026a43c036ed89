"""A resumable record of a long ``facelab detect`` run: results appended as each input finishes.

    journal = DetectJournal.open(journal_path(json_out), settings, resume=True)
    todo = [p for p in files if not journal.done(p)]
    for result in detect_files(todo, cfg, detector=detector):
        journal.append(result, html=True)        # one line, flushed and fsynced: survives a crash
    journal.write_outputs(files, json_out=..., csv_out=..., report=...)
    journal.remove()

Why: a folder of many videos takes hours; a crash or Ctrl-C must not lose the finished ones,
and memory must not grow with the number of files. So nothing per input is kept in memory: each
finished :class:`~facelab.detector.results.MediaResult` becomes one line of the journal (its
``facelab.detect/1`` JSON record and, when an HTML report is asked for, its report section
rendered right away, crops and Grad-CAM maps included as JPEG data URIs) and is dropped. At the
end the JSON, CSV and HTML outputs are streamed from the journal, one input at a time; only a
byte offset per input stays in memory.

Format (JSON Lines, UTF-8): line 1 is the header ``{"journal": "facelab.detect-journal/1",
"settings": {...}}``; every other line is ``{"key": {"path", "size", "mtime_ns"}, "record":
{...}, "html": "..." | null}``. A line is written in one ``write`` and fsynced, so a crash
leaves at most a torn last line, which reading skips (and appending starts after a fresh
newline).

Resume: an input is done when the journal holds a record **without an error** for the same
resolved path, size and modification time (a changed file is analysed again); failed inputs are
retried. The header's settings must equal this run's, or the records would mix two analyses.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from facelab.detector.report import HtmlRow, html_page, media_section, write_csv_records
from facelab.detector.results import MediaResult
from facelab.errors import ConfigError, OutputError
from facelab.files import json_safe, write_text_atomic

__all__ = ["JOURNAL_FORMAT", "DetectJournal", "file_key", "journal_path", "run_settings"]

log = logging.getLogger(__name__)

JOURNAL_FORMAT = "facelab.detect-journal/1"
_ANCHOR = "@@anchor@@"  # sections are rendered before their place in the page is known


def journal_path(first_output: str | Path) -> Path:
    """The journal beside an output: ``<output>.partial.jsonl``."""
    p = Path(first_output)
    return p.with_name(p.name + ".partial.jsonl")


def run_settings(cfg_dict: dict[str, Any], *, weights: str | Path | None, landmark_model: str | Path | None,
                 report: bool) -> dict[str, Any]:
    """What a journal's records depend on: a resumed run must match them (``facelab detect`` builds them so)."""
    return {"config": cfg_dict, "weights": None if weights is None else str(Path(weights).resolve()),
            "landmark_model": None if landmark_model is None else str(Path(landmark_model).resolve()),
            "report": bool(report)}


def file_key(path: str | Path) -> dict[str, Any]:
    """What identifies an input across runs: resolved path, size and mtime (ns); size -1 if unreadable."""
    p = Path(path)
    try:
        st = p.stat()
        return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except OSError:
        return {"path": str(p.absolute()), "size": -1, "mtime_ns": 0}


def _key_str(key: dict[str, Any]) -> str:
    return f"{key['path']}\0{key['size']}\0{key['mtime_ns']}"


class DetectJournal:
    """The append-only journal of one detect run (see the module docstring). Use :meth:`open`."""

    def __init__(self, path: Path, settings: dict[str, Any]) -> None:
        self.path, self.settings = path, settings
        # key -> (byte offset, length, ok) of its latest line: the only per-input state kept
        self.index: dict[str, tuple[int, int, bool]] = {}
        self._fh: Any = None

    @classmethod
    def open(cls, path: str | Path, settings: dict[str, Any], *, resume: bool) -> DetectJournal:
        """Start a journal at ``path``, or continue one (``resume``).

        Raises:
            OutputError: a journal of an interrupted run exists and ``resume`` is false (the
                caller decides whether to delete it: ``facelab detect --overwrite``), or the file
                cannot be written.
            ConfigError: resuming a journal made with other settings.
        """
        path = Path(path)
        journal = cls(path, json_safe(settings))
        exists = path.is_file() and path.stat().st_size > 0
        if exists and not resume:
            with open(path, "rb") as fh:
                exists = sum(1 for _ in fh) > 1  # a header alone (a run that stopped before its first input)
        if exists and not resume:
            raise OutputError(path, "holds the results of an interrupted run; pass --resume to continue it "
                                    "or --overwrite to start again")
        try:
            if exists:
                journal._load()
                journal._fh = open(path, "ab")
                if path.read_bytes()[-1:] != b"\n":  # a torn last line: start ours on a line of its own
                    journal._fh.write(b"\n")
            else:
                journal._fh = open(path, "wb")
                journal._write_line({"journal": JOURNAL_FORMAT, "settings": journal.settings})
        except OSError as exc:
            raise OutputError(path, f"cannot write the journal ({exc.strerror or exc})") from None
        return journal

    def _load(self) -> None:
        offset = 0
        with open(self.path, "rb") as fh:
            for n, raw in enumerate(fh):
                line = self._parse(raw)
                if n == 0:
                    if not line or line.get("journal") != JOURNAL_FORMAT:
                        raise ConfigError(f"{self.path}: not a facelab detect journal; delete it or choose "
                                          "other output names")
                    if line.get("settings") != self.settings:
                        raise ConfigError(f"{self.path}: made with other settings ({_diff(line.get('settings'), self.settings)}); "
                                          "resume with the same options, or pass --overwrite to start again")
                elif line is not None and isinstance(line.get("key"), dict) and isinstance(line.get("record"), dict):
                    self.index[_key_str(line["key"])] = (offset, len(raw), not line["record"].get("error"))
                offset += len(raw)

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any] | None:
        try:
            line = json.loads(raw)
        except ValueError:  # the torn last line of a crash
            return None
        return line if isinstance(line, dict) else None

    def _write_line(self, obj: dict[str, Any]) -> tuple[int, int]:
        data = (json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        offset = self._fh.seek(0, os.SEEK_END)
        self._fh.write(data)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return offset, len(data)

    def __len__(self) -> int:
        return len(self.index)

    def done(self, path: str | Path) -> bool:
        """Whether ``path``, unchanged since, has a result without an error here."""
        hit = self.index.get(_key_str(file_key(path)))
        return hit is not None and hit[2]

    def append(self, result: MediaResult, *, html: bool) -> None:
        """Record one finished input (``html``: also its report section, rendered now)."""
        key = file_key(result.path)
        line = {"key": key, "record": json_safe(result.to_json()),
                "html": media_section(_ANCHOR, result) if html else None}
        try:
            self.index[_key_str(key)] = (*self._write_line(line), result.error is None)
        except OSError as exc:
            raise OutputError(self.path, f"cannot append to the journal ({exc.strerror or exc})") from None

    def _lines(self, files: Sequence[str | Path], tags: Sequence[dict[str, Any]] | None = None
               ) -> Iterator[dict[str, Any]]:
        """The latest line of each of ``files`` that has one, in order, read back one at a time
        (``tags[i]``, if given, added to the record of ``files[i]``)."""
        with open(self.path, "rb") as fh:
            for i, p in enumerate(files):
                hit = self.index.get(_key_str(file_key(p)))
                if hit is None:
                    continue
                fh.seek(hit[0])
                line = self._parse(fh.read(hit[1]))
                if line is not None:
                    if tags is not None:
                        line["record"].update(tags[i])
                    yield line

    def records(self, files: Sequence[str | Path], tags: Sequence[dict[str, Any]] | None = None
                ) -> Iterator[dict[str, Any]]:
        """The ``facelab.detect/1`` records of ``files``, in order (inputs without one are left out)."""
        for line in self._lines(files, tags):
            yield line["record"]

    def write_outputs(self, files: Sequence[str | Path], *, json_out: Path | None = None,
                      csv_out: Path | None = None, report: Path | None = None,
                      title: str = "facelab detect report", tags: Sequence[dict[str, Any]] | None = None) -> None:
        """(Re)write the final outputs from the journal, streamed, each atomically.

        ``tags``: one dict per file, added to its JSON record (``--shard`` adds where the input
        was in the whole list, :mod:`facelab.detector.merge`)."""
        self._fh.flush()
        if json_out is not None:
            write_text_atomic(json_out, self._json_chunks(files, tags), what="report")
        if csv_out is not None:
            write_csv_records(self.records(files), csv_out)
        if report is not None:
            rows = [HtmlRow(r["path"], "FAILED" if r.get("error") else r["verdict"],
                            None if r.get("error") else r.get("fake_probability"),
                            None if r.get("error") else len(r.get("tracks", []))) for r in self.records(files)]
            sections = (line["html"].replace(_ANCHOR, str(i), 1) if line.get("html") else
                        _missing_section(i, line["record"]) for i, line in enumerate(self._lines(files)))
            write_text_atomic(report, html_page(rows, sections, title=title), what="report")

    def _json_chunks(self, files: Sequence[str | Path], tags: Sequence[dict[str, Any]] | None = None
                     ) -> Iterator[str]:
        first = True
        yield "["
        for record in self.records(files, tags):
            text = json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False)
            yield ("\n" if first else ",\n") + "\n".join("  " + ln for ln in text.splitlines())
            first = False
        yield "]\n" if first else "\n]\n"

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        """Close and delete the journal (once the final outputs are written)."""
        self.close()
        self.path.unlink(missing_ok=True)


def _missing_section(i: int, record: dict[str, Any]) -> str:
    """A report section for a record journalled without HTML (made by a run without --report)."""
    from html import escape

    return (f'<section class="media" id="m{i}"><h2>{escape(Path(record["path"]).name)}</h2>'
            '<p class="muted">Analysed by an earlier run without --report: see the JSON for details.</p></section>')


def _diff(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "unreadable settings"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys[:3]) or "?"

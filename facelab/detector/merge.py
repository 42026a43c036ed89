"""Merge the outputs of ``facelab detect --shard I/N`` runs into the outputs of one run.

    records = merge_records([Path("s1.json"), Path("s2.json")])   # in the unsharded run's order
    write_merged(records, json_out=Path("all.json"), csv_out=Path("all.csv"),
                 report=Path("all.html"), shard_reports=[Path("s1.html"), Path("s2.html")])

A sharded run adds ``"shard": {"shard": "I/N", "position": k, "inputs": total}`` to each JSON
record: where the input was in the whole, unsharded input list. The merge puts the records back
in that order, checks that every position is there exactly once (a shard missing or given twice
is an error that says which), and drops the ``shard`` field: the merged JSON and CSV are those
of one unsharded run (up to the ``timings``). JSON files without ``shard`` fields (unsharded
runs) are concatenated in the order given.

The HTML report: the per-input sections (crops, Grad-CAM maps, traces) are not in the JSON, so
they are taken from the shards' own reports when given (matched by path); an input whose shard
ran without ``--report`` gets a short section that points to the JSON.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facelab.detector.report import HtmlRow, html_page, write_csv_records
from facelab.detector.results import SCHEMA
from facelab.errors import InputError
from facelab.files import write_text_atomic

__all__ = ["merge_records", "shard_sections", "write_merged"]

_SECTION = '<section class="media" id="m'
_PATH = re.compile(r'<div class="path">(.*?)</div>', re.S)


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not readable as JSON ({exc})") from None
    if not isinstance(doc, list) or not all(isinstance(r, dict) and r.get("schema") == SCHEMA for r in doc):
        raise InputError(path, f"not the --json output of `facelab detect` (a list of {SCHEMA} records)")
    return doc


def merge_records(jsons: Sequence[Path]) -> list[dict[str, Any]]:
    """The records of shard JSON files, in the unsharded order, ``shard`` fields removed.

    Raises:
        InputError: a file is not ``facelab detect`` JSON, or sharded and unsharded files are
            mixed, or the shards do not cover the inputs exactly once (which positions are
            missing, or which files hold the same one).
    """
    loaded = [(p, r) for p in jsons for r in _load(p)]
    tagged = [(p, r) for p, r in loaded if isinstance(r.get("shard"), dict)]
    if not tagged:
        return [r for _, r in loaded]
    if len(tagged) != len(loaded):
        plain = next(p for p, r in loaded if not isinstance(r.get("shard"), dict))
        raise InputError(plain, "comes from a run without --shard; merge the JSON files of one sharded run only")
    totals = {r["shard"].get("inputs") for _, r in tagged}
    counts = {str(r["shard"].get("shard", "?/?")).split("/")[-1] for _, r in tagged}
    if len(totals) != 1 or len(counts) != 1:
        raise InputError(tagged[0][0], "the files come from different runs (other inputs or another number of "
                                       "shards); merge the JSON files of one sharded run only")
    total = int(next(iter(totals)))
    by_position: dict[int, tuple[Path, dict[str, Any]]] = {}
    for p, r in tagged:
        k = int(r["shard"]["position"])
        if k in by_position:
            raise InputError(p, f"input {k + 1} ({r['path']}) is also in {by_position[k][0]}: "
                                "a shard's JSON given twice, or two runs mixed")
        by_position[k] = (p, r)
    missing = [k for k in range(total) if k not in by_position]
    if missing:
        shown = ", ".join(str(k + 1) for k in missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise InputError(jsons[0], f"{len(missing)} of {total} inputs have no record (inputs {shown}): pass the "
                                   f"JSON of every one of the {next(iter(counts))} shards, and re-run a shard "
                                   "that failed (with --resume)")
    out = []
    for k in range(total):
        record = dict(by_position[k][1])
        del record["shard"]
        out.append(record)
    return out


def shard_sections(reports: Sequence[Path]) -> dict[str, list[str]]:
    """path -> the report sections rendered for it by the shards (``--report`` of each shard).

    The sections are cut at the markup the report writes itself (every string that comes from
    the data is escaped, so ``<section`` in a page is always the report's own)."""
    found: dict[str, list[str]] = {}
    for path in reports:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(path, f"cannot read the report ({exc.strerror or exc})") from None
        end = text.rfind("<footer>")
        starts = [m.start() for m in re.finditer(re.escape(_SECTION), text)]
        if end < 0:
            raise InputError(path, "not an HTML report of `facelab detect`")
        for a, b in zip(starts, [*starts[1:], end]):
            section = text[a:b]
            m = _PATH.search(section)
            if m is not None:
                found.setdefault(html.unescape(m.group(1)), []).append(section)
    return found


def _plain_section(i: int, record: dict[str, Any]) -> str:
    name = html.escape(Path(record["path"]).name)
    return (f'{_SECTION}{i}"><h2>{name}</h2><div class="path">{html.escape(record["path"])}</div>'
            '<p class="muted">Its shard ran without --report: see the JSON for details.</p></section>')


def write_merged(records: Sequence[dict[str, Any]], *, json_out: Path | None = None, csv_out: Path | None = None,
                 report: Path | None = None, shard_reports: Sequence[Path] = (),
                 title: str = "facelab detect report") -> None:
    """Write the merged JSON, CSV and HTML report (each atomically), as one unsharded run would."""
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(list(records), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                          what="report")
    if csv_out is not None:
        write_csv_records(records, csv_out)
    if report is not None:
        found = shard_sections(shard_reports)
        rows = [HtmlRow(r["path"], "FAILED" if r.get("error") else r["verdict"],
                        None if r.get("error") else r.get("fake_probability"),
                        None if r.get("error") else len(r.get("tracks", []))) for r in records]
        sections = []
        for i, r in enumerate(records):
            hits = found.get(r["path"])
            if hits:
                old = re.match(re.escape(_SECTION) + r'[^"]*"', hits[0])
                sections.append(f'{_SECTION}{i}"' + hits.pop(0)[old.end():] if old else hits.pop(0))
            else:
                sections.append(_plain_section(i, r))
        write_text_atomic(report, html_page(rows, sections, title=title), what="report")

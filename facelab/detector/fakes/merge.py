"""Join the parts that ``facelab fakes --shard I/N`` runs built into one data set.

    summary = merge_fakes([Path("parts/1"), Path("parts/2")], Path("data/fakes"))

Each shard builds a complete data set of its share of the sources (:mod:`facelab.detector.dataset`
layout, ``"shard": "I/N"`` in its ``dataset.json``). They fit together because:

* every shard plans **all** inputs before keeping its own, so source keys (and with them crop
  file names and track identities) are the same as in one run and unique across parts;
* identities are split by a hash of ``(seed, name)`` (``hash_split`` in
  :mod:`facelab.detector.fakes.plan`): an identity met by two shards lands in the same split in both;
  with ``--identity folder`` a person's media are all in one shard anyway;
* a one-shot donor is drawn among the **shard's own** identities of the target's split, so it
  is of the same split, as in one run. The consequence: a shard with a single identity in a split
  makes no one-shot fakes there (a warning in its ``dataset.json``, where one run would stop with
  an error for too few people: a shard's part is still written and the merge judges the whole,
  an error only when no part holds a fake), and donors are drawn from fewer people than in one
  run. Keep shards to dozens of identities or more.

The merge checks all of that: the same settings and the same N in every part, each shard once,
no crop or motion file in two parts, no identity in both splits. The merged folder is built
beside ``out`` (``.<name>.merge``) and renamed into place; crops are hard-linked when the parts
are on the same file system (copied otherwise), and the parts are left as they are.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facelab import __version__
from facelab.detector.dataset import (
    MANIFEST_COLUMNS,
    MOTION_COLUMNS,
    CropRow,
    MotionRow,
    read_dataset_info,
    read_manifest,
    read_motion_index,
    write_rows,
)
from facelab.detector.fakes.state import check_out
from facelab.errors import ConfigError, InputError, OutputError
from facelab.files import replace_dir

__all__ = ["MergeSummary", "merge_fakes"]

log = logging.getLogger(__name__)


@dataclass
class MergeSummary:
    """What :func:`merge_fakes` wrote: crops and motion sequences per split and label, identities."""

    out: Path
    crops: dict[str, dict[str, int]] = field(default_factory=dict)
    motion: int = 0
    identities: dict[str, str] = field(default_factory=dict)
    parts: int = 0
    warnings: list[str] = field(default_factory=list)


def _part(path: Path) -> tuple[dict[str, Any], list[CropRow], list[MotionRow]]:
    info = read_dataset_info(path)
    shard = info.get("shard")
    if not isinstance(shard, str) or "/" not in shard:
        raise InputError(path, "is not a part made by `facelab fakes --shard I/N` (its dataset.json has no shard)")
    return info, read_manifest(path), read_motion_index(path)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def merge_fakes(parts: list[Path], out: Path, *, overwrite: bool = False) -> MergeSummary:
    """Merge the shard parts into the data set ``out`` (see the module docstring).

    Raises:
        InputError: a part is not a ``facelab fakes --shard`` data set.
        ConfigError: the parts do not fit: other settings, another number of shards, a shard
            missing or twice, a file in two parts, an identity in two splits.
        OutputError: ``out`` exists (without ``overwrite``) or cannot be written.
    """
    if out.resolve() in {p.resolve() for p in parts}:
        raise OutputError(out, "is one of the parts; choose another -o")
    if not parts:
        raise ConfigError("no parts to merge")
    check_out(out, overwrite)
    loaded = [(p, *_part(p)) for p in parts]
    # 1. the parts fit together
    first = loaded[0][1]
    seen: dict[int, Path] = {}
    counts = set()
    for p, info, _, _ in loaded:
        index, count = (int(x) for x in str(info["shard"]).split("/"))
        counts.add(count)
        settings = {k: v for k, v in info.get("settings", {}).items() if k != "device"}
        if settings != {k: v for k, v in first.get("settings", {}).items() if k != "device"}:
            raise ConfigError(f"{p} was made with other settings than {loaded[0][0]}; merge the parts of one run")
        if index in seen:
            raise ConfigError(f"{p} and {seen[index]} are both shard {index}/{count}; merge each shard once")
        seen[index] = p
    if len(counts) != 1:
        raise ConfigError(f"the parts come from runs with different numbers of shards ({sorted(counts)})")
    n = counts.pop()
    missing = [str(i) for i in range(1, n + 1) if i not in seen]
    if missing:
        raise ConfigError(f"shard(s) {', '.join(missing)} of {n} missing: pass every part "
                          f"(a shard that failed can be run again with --resume)")
    splits: dict[str, str] = {}
    owner: dict[str, Path] = {}
    for p, info, rows, motion in loaded:
        for name, entry in info.get("identities", {}).items():
            if splits.setdefault(name, entry["split"]) != entry["split"]:
                raise ConfigError(f"identity {name!r} is in {splits[name]} in one part and {entry['split']} in "
                                  f"{p}: parts of different runs?")
        for rel in [r.path for r in rows] + [m.path for m in motion]:
            if owner.setdefault(rel, p) != p:
                raise ConfigError(f"{rel} is in {owner[rel]} and in {p}: parts of different runs?")
    if not any(r.label == "fake" for _, _, rows, _ in loaded for r in rows):
        raise ConfigError("no part holds a fake (each shard had too few people of one split for one-shot "
                          "donors); use fewer shards, or more people")
    # 2. build beside out, then rename into place
    tmp = out.with_name(f".{out.name}.merge")
    shutil.rmtree(tmp, ignore_errors=True)
    summary = MergeSummary(out, identities=splits, parts=n)
    try:
        tmp.mkdir(parents=True)
        all_rows: list[CropRow] = []
        all_motion: list[MotionRow] = []
        for p, info, rows, motion in sorted(loaded, key=lambda t: int(str(t[1]["shard"]).split("/")[0])):
            for rel in [r.path for r in rows] + [m.path for m in motion]:
                _link(p / rel, tmp / rel)
            all_rows.extend(rows)
            all_motion.extend(motion)
            summary.warnings.extend(f"shard {info['shard']}: {w}" for w in info.get("warnings", []))
        for r in all_rows:
            d = summary.crops.setdefault(r.split, {})
            d[r.label] = d.get(r.label, 0) + 1
        summary.motion = len(all_motion)
        write_rows(tmp / "manifest.csv", all_rows, MANIFEST_COLUMNS)
        write_rows(tmp / "motion.csv", all_motion, MOTION_COLUMNS)
        (tmp / "dataset.json").write_text(json.dumps(_merged_info(loaded, n), indent=1) + "\n", encoding="utf-8")
        replace_dir(tmp, out, lambda o: check_out(o, overwrite), "data set")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(out, f"cannot write the merged data set ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Sum nested count dicts (``counts[split][label][method]``, ``skipped[reason]``)."""
    for k, v in part.items():
        if isinstance(v, dict):
            _add(total.setdefault(k, {}), v)
        else:
            total[k] = total.get(k, 0) + v


def _merged_info(loaded: list[tuple[Path, dict[str, Any], list[CropRow], list[MotionRow]]], n: int) -> dict[str, Any]:
    """``dataset.json`` of the whole: the first part's settings, the parts' lists and counts joined."""
    infos = [info for _, info, _, _ in sorted(loaded, key=lambda t: int(str(t[1]["shard"]).split("/")[0]))]
    merged = {k: v for k, v in infos[0].items() if k != "shard"}
    merged.update(facelab=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  counts={}, motion={}, skipped={}, identities={}, inputs=[], failures=[], faceless=[], warnings=[],
                  seconds=round(sum(float(i.get("seconds", 0.0)) for i in infos), 2),
                  shards={"count": n, "split": "hash", "parts": [str(p) for p, *_ in loaded]})
    for info in infos:
        for key in ("counts", "motion", "skipped"):
            _add(merged[key], info.get(key, {}))
        for name, entry in info.get("identities", {}).items():
            merged["identities"].setdefault(name, {"split": entry["split"], "sources": []})["sources"] += entry["sources"]
        for key in ("inputs", "failures", "faceless"):
            merged[key] += info.get(key, [])
        merged["warnings"] += [f"shard {info['shard']}: {w}" for w in info.get("warnings", [])]
    return merged

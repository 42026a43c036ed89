"""Steps 1, 3 and 4 of ``facelab fakes``: the sources, their identities, and the identity split.

See the package docstring (:mod:`facelab.detector.fakes`) for the rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facelab.detector.fakes.config import FakesConfig
from facelab.detector.fakes.records import Scan, Source
from facelab.io.image import is_image
from facelab.io.video import is_video
from facelab.shard import Shard, input_key

__all__ = ["hash_split", "name_identities", "plan_sources", "shard_sources", "slug", "split_identities"]


# --------------------------------------------------------------------------------------------
# 1. plan
# --------------------------------------------------------------------------------------------


def plan_sources(inputs: Sequence[str | Path], out: Path) -> tuple[list[Source], list[tuple[Path, str]]]:
    out_abs = out.resolve()
    found: list[tuple[Path, str]] = []
    failures: list[tuple[Path, str]] = []
    for p in (Path(x) for x in inputs):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and (is_video(f) or is_image(f))
                           and not any(part.startswith(".") for part in f.relative_to(p).parts)
                           and not f.resolve().is_relative_to(out_abs))
            if not files:
                failures.append((p, "folder holds no photos or videos"))
            found.extend((f, "video" if is_video(f) else "image") for f in files)
        elif not p.exists():
            failures.append((p, "no such file or folder"))
        elif p.resolve().is_relative_to(out_abs):
            failures.append((p, f"is inside the output folder {out}"))
        elif is_video(p) or is_image(p):
            found.append((p, "video" if is_video(p) else "image"))
        else:
            failures.append((p, "not a photo or video by its extension"))
    unique: dict[Path, tuple[Path, str]] = {}
    for path, kind in found:
        unique.setdefault(path.resolve(), (path, kind))
    stems = [p.stem for p, _ in unique.values()]
    sources: list[Source] = []
    keys: set[str] = set()
    for path, kind in unique.values():
        # a stem two sources share (people/ann/1.jpg, people/bob/1.jpg) takes the folder's name: ann_1, bob_1
        key = slug(path.stem if stems.count(path.stem) == 1 else f"{path.parent.name}_{path.stem}")
        base, n = key, 2
        while key in keys:
            key, n = f"{base}-{n}", n + 1
        keys.add(key)
        sources.append(Source(path, kind, key))  # type: ignore[arg-type]
    return sources, failures


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


# --------------------------------------------------------------------------------------------
# 3.-4. identities and split
# --------------------------------------------------------------------------------------------


def name_identities(scans: list[Scan], cfg: FakesConfig) -> None:
    for scan in scans:
        tids = sorted(t for t in scan.tracks if scan.donors.get(t))
        for tid in tids:
            if cfg.identity == "folder":
                name = slug(scan.source.path.resolve().parent.name)
            else:
                name = scan.source.key if len(tids) == 1 else f"{scan.source.key}#t{tid}"
            scan.identity[tid] = name


def split_identities(names: Sequence[str], cfg: FakesConfig) -> dict[str, str]:
    """Seeded identity split: at least one per split, at least two per split from four identities."""
    names = sorted(set(names))
    n = len(names)
    lo = 2 if n >= 4 else 1
    n_val = min(max(round(cfg.val_fraction * n), lo), n - lo)
    order = np.random.default_rng(cfg.seed).permutation(n)
    val = {names[i] for i in order[:n_val]}
    return {name: "val" if name in val else "train" for name in names}


def hash_split(names: Sequence[str], cfg: FakesConfig) -> dict[str, str]:
    """The split of ``--shard`` runs: ``val`` when ``sha256(seed, name)``, as a number in [0, 1),
    is below ``val_fraction``. It depends on the name alone, so every shard puts an identity in
    the same split without knowing the others' (the price: no minimum count per split)."""
    out = {}
    for name in sorted(set(names)):
        u = int.from_bytes(hashlib.sha256(f"{cfg.seed}\0{name}".encode()).digest()[:8], "big") / 2.0**64
        out[name] = "val" if u < cfg.val_fraction else "train"
    return out


def shard_sources(sources: list[Source], failures: list[tuple[Path, str]], inputs: Sequence[str | Path],
                   cfg: FakesConfig, shard: Shard) -> tuple[list[Source], list[tuple[Path, str]]]:
    """This shard's sources and failed inputs. Track identities: by each file's path
    (:func:`facelab.shard.input_key`); folder identities: by the person's folder name, so that
    all of a person's media are in one shard (and their identity in one part)."""
    roots = [Path(p) for p in inputs]

    def key(src: Source) -> str:
        return slug(src.path.resolve().parent.name) if cfg.identity == "folder" else input_key(src.path, roots)

    return ([s for _, s in shard.select(sources, key)],
            [f for _, f in shard.select(failures, lambda f: input_key(f[0], roots))])

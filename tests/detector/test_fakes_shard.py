"""`facelab fakes --shard I/N` then `--merge` (issue 5): parts that fit into one consistent data set.

Eight "identities" from the two sample portraits (mirrored and re-lit copies are other people to
the track-mode identities), one-shot fakes only, no motion clips: small and fast.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image, ImageEnhance, ImageOps

from facelab.cli import cli
from facelab.detector.dataset import read_dataset_info, read_manifest
from facelab.detector.fakes import FakesConfig
from facelab.detector.fakes.plan import hash_split, plan_sources, shard_sources
from facelab.shard import Shard

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--device", "cpu", "--threads", "1", *args])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fakes_shard")
    people = tmp / "people"
    people.mkdir()
    for name in ("astronaut", "grace_hopper"):
        im = Image.open(SAMPLES / f"{name}.jpg").convert("RGB")
        im.save(people / f"{name}.jpg")
        ImageOps.mirror(im).save(people / f"{name}_flip.jpg")
        ImageEnhance.Brightness(im).enhance(0.7).save(people / f"{name}_dark.jpg")
        ImageEnhance.Brightness(ImageOps.mirror(im)).enhance(1.2).save(people / f"{name}_bright.jpg")
    (people / "broken.jpg").write_text("not a photo")
    args = ["fakes", str(people), "--max-frames", "1", "--motion-frames", "0", "--val-fraction", "0.3"]
    assert run(*args, "-o", str(tmp / "one")).exit_code == 3  # the broken photo
    for i in (1, 2):
        res = run(*args, "-o", str(tmp / "parts" / str(i)), "--shard", f"{i}/2")
        assert res.exit_code in (0, 3), res.output
    res = run("fakes", "--merge", str(tmp / "parts" / "2"), str(tmp / "parts" / "1"), "-o", str(tmp / "merged"))
    assert res.exit_code == 0 and "merged 2 parts" in res.output, res.output
    return tmp


def test_every_source_is_in_one_part(built: Path) -> None:
    parts = [read_dataset_info(built / "parts" / str(i)) for i in (1, 2)]
    assert [p["shard"] for p in parts] == ["1/2", "2/2"]
    sources = [e["source"] for p in parts for e in p["inputs"]]
    assert len(sources) == len(set(sources)) == 8 and min(len(p["inputs"]) for p in parts) > 0
    assert sum(len(p["failures"]) for p in parts) == 1  # broken.jpg: one shard's failure, not both
    merged = read_dataset_info(built / "merged")
    assert sorted(e["source"] for e in merged["inputs"]) == sorted(sources)
    assert merged["shards"]["count"] == 2 and "shard" not in merged and len(merged["failures"]) == 1


def test_merged_data_set_is_consistent(built: Path) -> None:
    out = built / "merged"
    rows = read_manifest(out)
    info = read_dataset_info(out)
    splits = {name: e["split"] for name, e in info["identities"].items()}
    assert splits == hash_split(list(splits), FakesConfig(val_fraction=0.3))  # the same in every shard
    part_of = {}
    for i in (1, 2):
        for name in read_dataset_info(built / "parts" / str(i))["identities"]:
            assert name not in part_of, f"{name} in two parts"
            part_of[name] = i
    for r in rows:
        assert (out / r.path).is_file() and r.split == splits[r.identity]
        if r.method == "oneshot":  # a donor of the same split, from the target's own shard
            assert r.donor != r.identity and splits[r.donor] == r.split and part_of[r.donor] == part_of[r.identity]
    assert {r.split for r in rows} == {"train", "val"} and {r.label for r in rows} == {"real", "fake"}
    part_rows = [r for i in (1, 2) for r in read_manifest(built / "parts" / str(i))]
    assert sorted(rows, key=repr) == sorted(part_rows, key=repr)
    counts = {s: {lab: sum(1 for r in rows if r.split == s and r.label == lab) for lab in ("real", "fake")}
              for s in ("train", "val")}
    assert {s: {lab: sum(m.values()) for lab, m in d.items()} for s, d in info["counts"].items()} == \
        {s: {lab: n for lab, n in d.items() if n} for s, d in counts.items()}
    assert not [p for p in built.iterdir() if p.name.startswith(".merged.")], "temporary folder left"


def test_real_crops_are_those_of_one_run(built: Path) -> None:
    """Source keys, identities and the seeded JPEG re-encodes do not depend on the shard."""
    def reals(root: Path) -> dict[str, tuple]:
        return {r.path: (r.identity, r.source, r.frame, r.track, r.params) for r in read_manifest(root)
                if r.label == "real"}

    one, merged = reals(built / "one"), reals(built / "merged")
    assert one == merged and len(one) == 8
    for path in one:
        assert (built / "one" / path).read_bytes() == (built / "merged" / path).read_bytes()


def test_merge_errors(built: Path, tmp_path: Path) -> None:
    parts = built / "parts"
    res = run("fakes", "--merge", str(parts / "1"), "-o", str(tmp_path / "d"))
    assert res.exit_code == 1 and "shard(s) 2 of 2 missing" in res.output, res.output
    res = run("fakes", "--merge", str(parts / "1"), str(parts / "1"), "-o", str(tmp_path / "d"))
    assert res.exit_code == 1 and "both shard 1/2" in res.output, res.output
    res = run("fakes", "--merge", str(parts / "1"), str(built / "one"), "-o", str(tmp_path / "d"))
    assert res.exit_code == 1 and "--shard" in res.output, res.output
    res = run("fakes", "--merge", str(parts / "1"), str(parts / "2"), "-o", str(built / "merged"))
    assert res.exit_code == 1 and "--overwrite" in res.output, res.output
    other = tmp_path / "other"
    shutil.copytree(parts / "2", other)
    info = json.loads((other / "dataset.json").read_text())
    info["settings"]["seed"] = 7
    (other / "dataset.json").write_text(json.dumps(info))
    res = run("fakes", "--merge", str(parts / "1"), str(other), "-o", str(tmp_path / "d"))
    assert res.exit_code == 1 and "other settings" in res.output, res.output
    assert not (tmp_path / "d").exists()


def test_keys_are_global_and_folder_identities_stay_in_one_shard(tmp_path: Path) -> None:
    for person in ("ann", "bob", "cy", "dee"):
        for n in ("1.jpg", "2.jpg", "3.mp4"):
            (tmp_path / "people" / person).mkdir(parents=True, exist_ok=True)
            (tmp_path / "people" / person / n).write_bytes(b"")
    inputs = [tmp_path / "people"]
    sources, failures = plan_sources(inputs, tmp_path / "out")
    keys = {s.path: s.key for s in sources}
    assert keys[tmp_path / "people" / "ann" / "1.jpg"] == "ann_1"  # a shared stem takes the folder's name
    for mode in ("track", "folder"):
        cfg = FakesConfig(identity=mode)  # type: ignore[arg-type]
        picked = [shard_sources(sources, failures, inputs, cfg, Shard(i, 3))[0] for i in (1, 2, 3)]
        assert sorted(s.key for p in picked for s in p) == sorted(keys.values())  # each once, same keys
        assert all(keys[s.path] == s.key for p in picked for s in p)
        if mode == "folder":
            for p in picked:
                people = {s.path.parent.name for s in p}
                assert all(sum(1 for s in p if s.path.parent.name == who) == 3 for who in people)


def test_manifest_header_unchanged(built: Path) -> None:
    with open(built / "merged" / "manifest.csv", newline="") as fh:
        merged = next(csv.reader(fh))
    with open(built / "one" / "manifest.csv", newline="") as fh:
        assert next(csv.reader(fh)) == merged


def test_a_shard_with_too_few_people_still_writes_its_part(tmp_path: Path) -> None:
    """One run stops for fewer than two identities; a shard writes its part (a warning), and the
    merge, which sees the whole, refuses a data set without any fake."""
    res = run("fakes", str(SAMPLES / "astronaut.jpg"), "-o", str(tmp_path / "p1"), "--shard", "1/1",
              "--max-frames", "1", "--motion-frames", "0")
    assert res.exit_code == 0 and "found 1 identities" in res.output, res.output
    assert [r.label for r in read_manifest(tmp_path / "p1")] == ["real"]
    res = run("fakes", "--merge", str(tmp_path / "p1"), "-o", str(tmp_path / "d"))
    assert res.exit_code == 1 and "no part holds a fake" in res.output, res.output
    assert not (tmp_path / "d").exists()

"""`facelab detect --shard I/N` then `--merge` (issue 5): the merged JSON, CSV and HTML report are
those of one unsharded run; a missing or doubled shard is an error that says so."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from facelab.cli import cli
from facelab.io.video import VideoReader, VideoWriter

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--device", "cpu", "--threads", "1", *args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_detector_weights: Path) -> dict[str, Path | list[Result]]:
    """One unsharded run and two shards over the same inputs, each with JSON, CSV and report."""
    tmp = tmp_path_factory.mktemp("detect_shard")
    weights = tiny_detector_weights
    media = tmp / "media"
    (media / "sub").mkdir(parents=True)
    for name, dst in (("astronaut.jpg", "astronaut.jpg"), ("grace_hopper.jpg", "sub/grace.jpg"),
                      ("coffee.jpg", "coffee.jpg"), ("chelsea.jpg", "sub/chelsea.jpg")):
        shutil.copy(SAMPLES / name, media / dst)
    with VideoReader(SAMPLES / "astronaut_pan.mp4") as reader, \
            VideoWriter(media / "clip.mp4", reader.info.fps, (reader.info.width, reader.info.height)) as writer:
        for i, frame in enumerate(reader):
            if i == 12:
                break
            writer.write(frame)
    (media / "broken.jpg").write_text("not a photo")  # a failed record, in one shard's JSON only
    args = ["detect", str(media), str(tmp / "missing.mp4"), "--weights", str(weights), "--stride", "6",
            "--window", "6", "--window-stride", "3", "--top", "1", "--no-gradcam"]

    def outputs(name: str) -> list[str]:
        return ["--json", str(tmp / f"{name}.json"), "--csv", str(tmp / f"{name}.csv"),
                "--report", str(tmp / f"{name}.html")]

    one = run(*args, *outputs("one"))
    shards = [run(*args, *outputs(f"s{i}"), "--shard", f"{i}/2") for i in (1, 2)]
    merged = run("detect", "--merge", str(tmp / "s2.json"), str(tmp / "s1.json"), str(tmp / "s1.html"),
                 str(tmp / "s2.html"), *outputs("merged"))
    return {"tmp": tmp, "results": [one, *shards, merged]}


def records(path: Path) -> list[dict]:
    out = json.loads(path.read_text())
    for r in out:
        r.pop("timings")  # wall times differ from run to run
    return out


def test_shards_take_every_input_once(runs: dict) -> None:
    tmp = runs["tmp"]
    one, s1, s2, _ = runs["results"]
    assert one.exit_code == 3, one.output  # the broken photo and the missing video failed
    parts = [json.loads((tmp / f"s{i}.json").read_text()) for i in (1, 2)]
    assert min(len(p) for p in parts) > 0
    positions = sorted(r["shard"]["position"] for p in parts for r in p)
    assert positions == list(range(7)) and {r["shard"]["inputs"] for p in parts for r in p} == {7}
    assert sorted(r["path"] for p in parts for r in p) == sorted(r["path"] for r in records(tmp / "one.json"))
    assert sorted(s.exit_code for s in (s1, s2)) in ([0, 3], [3, 3])  # failures only where their input is
    for s in (s1, s2):
        assert re.search(r"^shard [12]/2: \d of 7 inputs$", s.output, re.M), s.output


def test_merged_outputs_equal_one_run(runs: dict) -> None:
    tmp = runs["tmp"]
    merged = runs["results"][3]
    assert merged.exit_code == 3 and "merged 7 inputs from 2 files" in merged.output, merged.output
    assert records(tmp / "merged.json") == records(tmp / "one.json")  # same order, no shard fields
    assert (tmp / "merged.csv").read_bytes() == (tmp / "one.csv").read_bytes()
    one, got = ((tmp / f"{n}.html").read_text() for n in ("one", "merged"))
    sections = re.compile(r'<section class="media" id="m(\d+)">.*?<div class="path">(.*?)</div>', re.S)
    assert sections.findall(got) == sections.findall(one)  # same inputs, same order, same anchors
    assert got.count("data:image/jpeg") == one.count("data:image/jpeg") > 0  # the shards' crops came along
    strip = re.compile(r"<tr><th>timings</th>.*?</tr>|\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert strip.sub("", got) == strip.sub("", one)


def test_merge_errors_say_what_is_wrong(runs: dict) -> None:
    tmp = runs["tmp"]
    res = run("detect", "--merge", str(tmp / "s1.json"), "--json", str(tmp / "x.json"))
    assert res.exit_code == 1 and "have no record" in res.output and "--resume" in res.output, res.output
    res = run("detect", "--merge", str(tmp / "s1.json"), str(tmp / "s1.json"), str(tmp / "s2.json"),
              "--json", str(tmp / "x.json"))
    assert res.exit_code == 1 and "given twice" in res.output, res.output
    res = run("detect", "--merge", str(tmp / "one.json"), str(tmp / "s2.json"), "--json", str(tmp / "x.json"))
    assert res.exit_code == 1 and "without --shard" in res.output, res.output
    res = run("detect", "--merge", str(tmp / "s1.json"), str(tmp / "s2.json"), "--json", str(tmp / "one.json"))
    assert res.exit_code == 1 and "--overwrite" in res.output
    assert not (tmp / "x.json").exists()
    assert all(len([ln for ln in r.output.splitlines() if ln.startswith("error:")]) == 1 for r in [res])


def test_report_from_json_alone_points_to_the_json(runs: dict) -> None:
    tmp = runs["tmp"]
    res = run("detect", "--merge", str(tmp / "s1.json"), str(tmp / "s2.json"), "--report", str(tmp / "plain.html"))
    assert res.exit_code == 3, res.output
    page = (tmp / "plain.html").read_text()
    assert page.count('<section class="media"') == 7 and page.count("ran without --report") == 7
    assert "data:image" not in page and "<footer>" in page

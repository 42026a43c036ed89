"""`--shard I/N` (issue 5): the shards take every input once; translate and swap shards share one
output folder and give what one run gives; bad specs are one-line usage errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from facelab.cli import cli
from facelab.io.image import read_image
from facelab.shard import Shard, input_key

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["--device", "cpu", "--threads", "1", *args])


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------- the helper


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_shards_partition_any_list(n: int) -> None:
    keys = [f"videos/clip_{i:03d}.mp4" for i in range(200)]
    taken = [k for i in range(1, n + 1) for _, k in Shard(i, n).select(keys, key=str)]
    assert sorted(taken) == sorted(keys)  # every item once
    sizes = [len(Shard(i, n).select(keys, key=str)) for i in range(1, n + 1)]
    assert min(sizes) > 200 / n * 0.6  # a hash, so not exactly equal, but balanced
    # positions are those of the whole list, in order
    for i in range(1, n + 1):
        picked = Shard(i, n).select(keys, key=str)
        assert [p for p, _ in picked] == sorted(p for p, _ in picked) and all(keys[p] == k for p, k in picked)


def test_adding_files_moves_no_other_file() -> None:
    keys = [f"a/{i}.jpg" for i in range(50)]
    before = {k: next(i for i in range(1, 5) if Shard(i, 4).owns(k)) for k in keys}
    more = keys[:20] + [f"b/new_{i}.jpg" for i in range(30)] + keys[20:]
    after = {k: next(i for i in range(1, 5) if Shard(i, 4).owns(k)) for k in more}
    assert all(after[k] == v for k, v in before.items())


def test_keys_do_not_depend_on_where_the_data_is_mounted(tmp_path: Path) -> None:
    assert input_key(Path("/scratch/job1/videos/a/b.mp4"), [Path("/scratch/job1/videos")]) == "videos/a/b.mp4"
    assert input_key(Path("/mnt/x/videos/a/b.mp4"), [Path("/mnt/x/videos")]) == "videos/a/b.mp4"
    assert input_key(Path("clips/one.jpg"), [Path("clips/one.jpg")]) == "one.jpg"


@pytest.mark.parametrize("spec", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2", ""])
def test_bad_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(spec)
    assert Shard.parse(" 2 / 4 ") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"


@pytest.mark.parametrize("command", [
    ["detect", "x.jpg"], ["translate", "--weights", "w.pth", "x.jpg", "-o", "out/"],
    ["swap", "--source", "a.jpg", "--target", "t/", "-o", "out/"], ["fakes", "x/", "-o", "data"]])
def test_bad_spec_is_a_one_line_usage_error(command: list[str]) -> None:
    for spec in ("0/2", "3/2", "two"):
        res = run(*command, "--shard", spec)
        assert res.exit_code == 2, res.output
        errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
        assert len(errors) == 1 and "--shard" in errors[0] and "Traceback" not in res.output, res.output


def test_merge_refuses_the_shard_runs_options(tmp_path: Path) -> None:
    res = run("detect", "--merge", "a.json", "--json", str(tmp_path / "all.json"), "--stride", "3")
    assert res.exit_code == 2 and "--stride belongs to the shard runs" in res.output
    res = run("detect", "--merge", "a.json", "b.txt", "--json", str(tmp_path / "all.json"))
    assert res.exit_code == 2 and "b.txt" in res.output
    res = run("fakes", "--merge", "p1", "p2", "-o", str(tmp_path / "d"), "--every", "3")
    assert res.exit_code == 2 and "--every belongs to the shard runs" in res.output
    res = run("swap", "--source", "a.jpg", "--target", str(SAMPLES / "coffee.jpg"), "-o", str(tmp_path / "o.jpg"),
              "--shard", "1/2")
    assert res.exit_code == 2 and "splits a batch" in res.output


# ------------------------------------------------------------------------------------- translate


def test_translate_shards_share_the_output_folder(tmp_path: Path, tiny_generator: Path) -> None:
    src = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.png", "sub/c.jpg", "sub/d.png", "sub/deep/e.jpg", "f.jpg", "g.png", "h.jpg"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(src / name)
    missing = tmp_path / "missing.jpg"
    args = ["translate", "--weights", str(tiny_generator), "--inference", "eval", str(src), str(missing)]

    one = run(*args, "-o", str(tmp_path / "one"))
    assert one.exit_code == 3, one.output  # the missing input fails, the rest is done
    outs = [run(*args, "-o", str(tmp_path / "many"), "--shard", f"{i}/2") for i in (1, 2)]
    taken = [int(ln.split()[2]) for r in outs for ln in r.output.splitlines() if ln.startswith("shard ")]
    assert len(taken) == 2 and sum(taken) == 9 and min(taken) > 0, [r.output for r in outs]
    # the missing input is one shard's failure only (exit 3 there), the other shard exits 0
    assert sorted(r.exit_code for r in outs) == [0, 3] and sum(r.output.count("missing.jpg") for r in outs) >= 1
    assert sum("error: " in r.output and "missing.jpg" in r.output for r in outs) == 1
    assert files(tmp_path / "many") == files(tmp_path / "one") and len(files(tmp_path / "one")) == 8
    for rel in files(tmp_path / "one"):
        assert np.array_equal(read_image(tmp_path / "one" / rel), read_image(tmp_path / "many" / rel)), rel


# ------------------------------------------------------------------------------------- swap


def test_swap_shards_share_the_output_folder(tmp_path: Path) -> None:
    src = tmp_path / "targets"
    (src / "sub").mkdir(parents=True)
    for name in ("grace.jpg", "sub/grace2.jpg", "sub/grace3.jpg"):
        shutil.copy(SAMPLES / "grace_hopper.jpg", src / name)
    shutil.copy(SAMPLES / "coffee.jpg", src / "coffee.jpg")  # no face: passes through, still an output
    shutil.copy(SAMPLES / "chelsea.jpg", src / "sub" / "chelsea.jpg")
    args = ["swap", "--source", str(SAMPLES / "astronaut.jpg"), "--target", str(src)]
    one = run(*args, "-o", str(tmp_path / "one"))
    assert one.exit_code == 0, one.output
    outs = [run(*args, "-o", str(tmp_path / "many"), "--shard", f"{i}/2") for i in (1, 2)]
    assert all(r.exit_code == 0 for r in outs), [r.output for r in outs]
    taken = [int(ln.split()[2]) for r in outs for ln in r.output.splitlines() if ln.startswith("shard ")]
    assert sum(taken) == 5 and min(taken) > 0, [r.output for r in outs]
    assert files(tmp_path / "many") == files(tmp_path / "one") and len(files(tmp_path / "one")) == 10
    for rel in files(tmp_path / "one"):
        if rel.endswith(".json"):
            a, b = (json.loads((tmp_path / d / rel).read_text()) for d in ("one", "many"))
            assert a["frames"] == b["frames"] and a["faces_changed"] == b["faces_changed"]
        else:
            assert np.array_equal(read_image(tmp_path / "one" / rel), read_image(tmp_path / "many" / rel)), rel
    # a requeued shard task: --resume skips what that shard finished
    again = run(*args, "-o", str(tmp_path / "many"), "--shard", "1/2", "--resume")
    assert again.exit_code == 0 and "already finished" in again.output, again.output

"""Bad input through the shared readers and every command (issue 6, hardening).

The corpus (tests/badinput.py) goes through ``read_image`` / ``probe_video`` + ``VideoReader``
whole; each command gets the subset where its behaviour can differ. Every command must answer a
bad item with exactly one ``error:`` line naming the file and the problem, no traceback, no
partial output, exit 1 when nothing succeeded and 3 when a batch finished with some failures.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image, ImageOps

from facelab.cli import cli
from facelab.errors import InputError, OutputError
from facelab.io.image import read_image, write_image
from facelab.io.video import VideoReader, probe_video

sys.path.insert(0, str(Path(__file__).parent))  # the corpus helper, with any pytest import mode
from badinput import IS_ROOT, SAMPLES, Item, blocked_output, listing, make_corpus, unreadable_copy  # noqa: E402

torch.set_num_threads(1)

CORPUS_KEYS = [
    "truncated_jpg", "truncated_png", "empty_jpg", "text_jpg", "bomb_png", "nonascii_bad", "one_pixel", "gray16",
    "palette", "cmyk", "nonascii_good", "frame_4k", "truncated_mp4", "audio_mp4", "audio_m4a", "audio_wav",
    "zero_frames", "text_mp4", "empty_mp4", "nonascii_bad_mp4", "rotated", "vfr",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Item]:
    items = make_corpus(tmp_path_factory.mktemp("corpus"))
    assert sorted(items) == sorted(CORPUS_KEYS)
    return items


@pytest.fixture(scope="module")
def classifier(tiny_detector_weights: Path) -> Path:
    return tiny_detector_weights


def run(*args: str) -> Result:
    """The CLI on the CPU, quiet (errors still show), exceptions caught as a user would see them."""
    return CliRunner().invoke(cli, ["-q", "--device", "cpu", *args])


def check(res: Result, code: int, bad: list[Path], problems: list[str] | None = None) -> list[str]:
    """Exit ``code``, one ``error:`` line per bad file naming it (and its problem), no traceback."""
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == code, res.output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == len(bad), res.stderr
    for i, path in enumerate(bad):
        hits = [ln for ln in errors if path.name in ln]
        assert len(hits) == 1, (path.name, res.stderr)
        if problems is not None:
            assert problems[i] in hits[0].lower(), (problems[i], hits[0])
    return errors


def gather(folder: Path, items: list[Item]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for it in items:
        shutil.copyfile(it.path, folder / it.path.name)
    return folder


# ---------------------------------------------------------------------------------------------
# The shared readers on the whole corpus


@pytest.mark.parametrize("key", CORPUS_KEYS)
def test_readers(corpus: dict[str, Item], key: str) -> None:
    it = corpus[key]

    def load() -> None:
        if it.kind == "image":
            img = read_image(it.path)
            assert img.dtype.name == "uint8" and img.ndim == 3 and img.shape[2] == 3
        else:
            info = probe_video(it.path)
            with VideoReader(it.path) as reader:
                frames = list(reader)
            assert len(frames) == info.frame_count > 0 and not reader.truncated
            assert frames[0].shape == (info.height, info.width, 3)

    if it.ok:
        load()
        return
    with pytest.raises(InputError) as exc:
        load()
    message = str(exc.value)
    assert "\n" not in message and str(it.path) in message and it.problem in message.lower(), message


def test_awkward_videos_are_read_upright_and_timed(corpus: dict[str, Item]) -> None:
    rotated = probe_video(corpus["rotated"].path)
    assert rotated.rotation == 90 and (rotated.width, rotated.height) == (64, 96)
    vfr = probe_video(corpus["vfr"].path)
    assert vfr.frame_count == 6 and 0.25 < vfr.duration < 0.4  # pts 0..300 ms, irregular


@pytest.mark.skipif(IS_ROOT, reason="root reads and writes anything")
def test_permissions(tmp_path: Path) -> None:
    locked = unreadable_copy(SAMPLES / "grace_hopper.jpg", tmp_path / "locked ü.jpg")
    video = unreadable_copy(SAMPLES / "astronaut_pan.mp4", tmp_path / "locked.mp4")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="permission"):
            read_image(locked)
        with pytest.raises(InputError, match="permission"):
            probe_video(video)
        with pytest.raises(OutputError, match="permission"):
            write_image(ro / "x.png", read_image(SAMPLES / "grace_hopper.jpg"))
        assert listing(ro) == []
    finally:
        for p in (locked, video, ro):
            p.chmod(0o755)


def test_permissions_as_a_user_sees_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same checks where root cannot run them: os.access answers as for a mode-000 file and a
    read-only folder."""
    import facelab.files as files
    import facelab.io.image as image

    monkeypatch.setattr(image.os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="permission denied") as exc:
        read_image(SAMPLES / "grace_hopper.jpg")
    assert "grace_hopper.jpg" in str(exc.value)
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="permission denied"):
        probe_video(SAMPLES / "astronaut_pan.mp4")
    with pytest.raises(OutputError, match="permission denied") as exc2:
        files.check_output_dir(tmp_path / "new" / "deeper")
    assert str(tmp_path) in str(exc2.value) and listing(tmp_path) == []


def test_output_under_a_file_names_the_file(tmp_path: Path) -> None:
    out = blocked_output(tmp_path, "sub/x.png")
    with pytest.raises(OutputError, match="blocker is a file") as exc:
        write_image(out, read_image(SAMPLES / "grace_hopper.jpg"))
    assert "\n" not in str(exc.value)
    assert listing(tmp_path) == ["blocker"]


# ---------------------------------------------------------------------------------------------
# translate


TRANSLATE_BAD = ["truncated_jpg", "truncated_png", "empty_jpg", "text_jpg", "bomb_png", "nonascii_bad",
                 "truncated_mp4", "audio_mp4", "zero_frames", "text_mp4"]
TRANSLATE_GOOD = ["one_pixel", "gray16", "palette", "cmyk", "nonascii_good", "frame_4k", "rotated", "vfr"]


def test_translate_folder_finishes_the_good_items(corpus: dict[str, Item], tiny_generator: Path, tmp_path: Path) -> None:
    src = gather(tmp_path / "in", [corpus[k] for k in TRANSLATE_BAD + TRANSLATE_GOOD])
    out = tmp_path / "out"
    res = run("translate", "--weights", str(tiny_generator), str(src), "-o", str(out))
    bad = [corpus[k] for k in TRANSLATE_BAD]
    check(res, 3, [it.path for it in bad], [it.problem for it in bad])
    assert listing(out) == sorted(corpus[k].path.name for k in TRANSLATE_GOOD)  # no partial or temp files
    assert read_image(out / "one_pixel.png").shape == (1, 1, 3)
    assert read_image(out / "frame_4k.jpg").shape == (2160, 3840, 3)
    assert probe_video(out / "rotated.mp4").frame_count == 6


@pytest.mark.parametrize("key", ["nonascii_bad", "zero_frames", "audio_mp4"])
def test_translate_one_bad_file(corpus: dict[str, Item], tiny_generator: Path, tmp_path: Path, key: str) -> None:
    it = corpus[key]
    out = tmp_path / ("out.mp4" if it.kind == "video" else "out.jpg")
    check(run("translate", "--weights", str(tiny_generator), str(it.path), "-o", str(out)), 1, [it.path], [it.problem])
    assert listing(tmp_path) == []


def test_translate_unwritable_output(tiny_generator: Path, tmp_path: Path) -> None:
    out = blocked_output(tmp_path, "out")
    res = run("translate", "--weights", str(tiny_generator), str(SAMPLES / "grace_hopper.jpg"),
              str(SAMPLES / "astronaut.jpg"), "-o", str(out))
    check(res, 1, [out], ["is a file"])  # one line for the folder, not one per input
    assert listing(tmp_path) == ["blocker"]


def test_translate_read_only_output(tiny_generator: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    res = run("translate", "--weights", str(tiny_generator), str(SAMPLES / "grace_hopper.jpg"), "-o", str(ro / "out"))
    check(res, 1, [ro / "out"], ["permission denied"])
    assert listing(ro) == []


# ---------------------------------------------------------------------------------------------
# swap


@pytest.mark.parametrize("key", ["nonascii_bad", "truncated_mp4", "zero_frames", "audio_mp4"])
def test_swap_bad_target(corpus: dict[str, Item], tmp_path: Path, key: str) -> None:
    it = corpus[key]
    out = tmp_path / ("out.mp4" if it.kind == "video" else "out.jpg")
    res = run("swap", "--source", str(SAMPLES / "astronaut.jpg"), "--target", str(it.path), "-o", str(out))
    check(res, 1, [it.path], [it.problem])
    assert listing(tmp_path) == []


def test_swap_bad_source_tiny_target_and_unwritable_output(corpus: dict[str, Item], tmp_path: Path) -> None:
    res = run("swap", "--source", str(corpus["text_jpg"].path), "--target", str(SAMPLES / "grace_hopper.jpg"),
              "-o", str(tmp_path / "a.jpg"))
    check(res, 1, [corpus["text_jpg"].path], ["not an image"])
    assert listing(tmp_path) == []
    # a 1x1 photo has no face: it passes through unchanged
    res = run("swap", "--source", str(SAMPLES / "astronaut.jpg"), "--target", str(corpus["one_pixel"].path),
              "-o", str(tmp_path / "b.png"))
    check(res, 0, [])
    assert read_image(tmp_path / "b.png").shape == (1, 1, 3)
    out = blocked_output(tmp_path / "c", "x.jpg")
    res = run("swap", "--source", str(SAMPLES / "astronaut.jpg"), "--target", str(SAMPLES / "grace_hopper.jpg"),
              "-o", str(out))
    check(res, 1, [out], ["is a file"])
    assert listing(tmp_path / "c") == ["blocker"]


def test_swap_folder_finishes_the_good_items(corpus: dict[str, Item], tmp_path: Path) -> None:
    bad = [corpus["nonascii_bad"], corpus["zero_frames"]]
    src = gather(tmp_path / "in", [*bad, corpus["one_pixel"]])
    shutil.copy(SAMPLES / "grace_hopper.jpg", src)
    out = tmp_path / "out"
    res = run("swap", "--source", str(SAMPLES / "astronaut.jpg"), "--target", str(src), "-o", str(out))
    check(res, 3, [it.path for it in bad], [it.problem for it in bad])
    assert listing(out) == ["grace_hopper.jpg", "grace_hopper.jpg.json", "one_pixel.png", "one_pixel.png.json"]


# ---------------------------------------------------------------------------------------------
# extract


EXTRACT_BAD = ["nonascii_bad", "bomb_png", "empty_jpg", "truncated_mp4", "audio_mp4", "zero_frames"]


def test_extract_folder_finishes_the_good_items(corpus: dict[str, Item], tmp_path: Path) -> None:
    src = gather(tmp_path / "in", [corpus[k] for k in EXTRACT_BAD + ["nonascii_good", "one_pixel", "rotated"]])
    out = tmp_path / "out"
    res = run("extract", str(src), "-o", str(out), "--size", "32")
    bad = [corpus[k] for k in EXTRACT_BAD]
    check(res, 3, [it.path for it in bad], [it.problem for it in bad])
    names = listing(out)
    assert any(n.startswith("in/good ñame ü_") and n.endswith(".png") for n in names), names
    assert not any(Path(n).name.startswith(".") for n in names), names
    assert not any(corpus[k].path.stem in n for k in EXTRACT_BAD for n in names), names
    doc = json.loads((out / "in" / "faces.json").read_text(encoding="utf-8"))
    assert doc  # the good photo's crops are described


def test_extract_all_bad_and_unwritable_output(corpus: dict[str, Item], tmp_path: Path) -> None:
    bad = [corpus["text_jpg"], corpus["audio_wav"]]
    res = run("extract", *(str(it.path) for it in bad), "-o", str(tmp_path / "out"))
    check(res, 1, [it.path for it in bad])
    assert not (tmp_path / "out").exists() or listing(tmp_path / "out") == []
    out = blocked_output(tmp_path, "crops")
    check(run("extract", str(SAMPLES / "grace_hopper.jpg"), "-o", str(out)), 1, [out], ["is a file"])


# ---------------------------------------------------------------------------------------------
# detect


DETECT_BAD = ["nonascii_bad", "truncated_mp4", "zero_frames", "audio_mp4"]


def test_detect_batch_reports_failures_in_the_json(corpus: dict[str, Item], classifier: Path,
                                                   tmp_path: Path) -> None:
    good = [SAMPLES / "grace_hopper.jpg", corpus["one_pixel"].path, corpus["rotated"].path]
    bad = [corpus[k] for k in DETECT_BAD]
    out = tmp_path / "v.json"
    res = run("detect", *(str(p) for p in good), *(str(it.path) for it in bad), "--weights", str(classifier),
              "--json", str(out), "--no-landmarks")
    check(res, 3, [it.path for it in bad], [it.problem for it in bad])
    doc = json.loads(out.read_text(encoding="utf-8"))
    errors = {Path(d["path"]).name: d["error"] for d in doc}
    assert all(errors[p.name] is None for p in good)
    assert all(errors[it.path.name] and it.problem in errors[it.path.name].lower() for it in bad)


def test_detect_all_bad_and_unwritable_output(corpus: dict[str, Item], tmp_path: Path) -> None:
    bad = [corpus["text_jpg"], corpus["audio_m4a"]]
    check(run("detect", *(str(it.path) for it in bad), "--no-landmarks"), 1, [it.path for it in bad])
    out = blocked_output(tmp_path, "v.json")
    check(run("detect", str(SAMPLES / "grace_hopper.jpg"), "--json", str(out)), 1, [out])
    assert listing(tmp_path) == ["blocker"]


# ---------------------------------------------------------------------------------------------
# fakes, eval, train


def test_fakes_batch_then_eval_and_training_on_damaged_files(corpus: dict[str, Item], classifier: Path,
                                                             tmp_path: Path) -> None:
    mirrored = tmp_path / "mirrored hopper.jpg"  # a third identity: fakes need a donor in the split
    ImageOps.mirror(Image.open(SAMPLES / "grace_hopper.jpg")).save(mirrored)
    bad = [corpus[k] for k in ("nonascii_bad", "zero_frames", "truncated_mp4")]
    out = tmp_path / "data"
    res = run("fakes", str(SAMPLES / "astronaut.jpg"), str(SAMPLES / "grace_hopper.jpg"), str(mirrored),
              *(str(it.path) for it in bad), str(corpus["one_pixel"].path), str(SAMPLES / "astronaut_pan.mp4"),
              "-o", str(out), "--max-frames", "1", "--every", "25", "--motion-frames", "20")
    check(res, 3, [it.path for it in bad], [it.problem for it in bad])
    info = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert sorted(Path(f["source"]).name for f in info["failures"]) == sorted(it.path.name for it in bad)
    assert not any(Path(n).name.startswith(".") for n in listing(out))

    damaged = sorted((out / "crops").rglob("*.png"))[0]
    damaged.write_bytes(damaged.read_bytes()[:200])
    res = run("eval", str(out), "--weights", str(classifier), "--split", "all", "-o", str(tmp_path / "ev"))
    check(res, 3, [damaged], ["truncated"])
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text(encoding="utf-8"))
    assert [Path(it["path"]).name for it in metrics["skipped"] if it["failed"]] == [damaged.name]
    # training on it: one line naming the crop; an output folder under a file: one line naming it
    res = run("train", "detector", str(out), "-o", str(tmp_path / "run"), "--arch", "tiny", "--no-pretrained",
              "--epochs", "1", "--batch-size", "64")
    check(res, 1, [damaged], ["truncated"])
    blocked = blocked_output(tmp_path / "b", "run")
    res = run("train", "detector", str(out), "-o", str(blocked), "--arch", "tiny", "--no-pretrained")
    check(res, 1, [blocked], ["is a file"])
    res = run("eval", str(out), "--weights", str(classifier), "--split", "all", "-o", str(blocked))
    check(res, 1, [blocked], ["is a file"])
    res = run("fakes", str(SAMPLES / "astronaut.jpg"), str(SAMPLES / "grace_hopper.jpg"), str(mirrored),
              "-o", str(blocked), "--max-frames", "1", "--motion-frames", "0")
    check(res, 1, [blocked], ["is a file"])
    assert listing(tmp_path / "b") == ["blocker"]
    # a damaged landmark-motion sequence
    motion = sorted((out / "motion").glob("*.npz"))
    assert motion
    motion[0].write_bytes(motion[0].read_bytes()[:100])
    res = run("train", "landmarks", str(out), "-o", str(tmp_path / "lm.pt"), "--window", "10", "--stride", "5")
    check(res, 1, [motion[0]], ["truncated or damaged"])
    assert not (tmp_path / "lm.pt").exists()


def test_eval_leaves_out_unreadable_media(corpus: dict[str, Item], classifier: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    gather(media / "real", [corpus["nonascii_bad"], corpus["one_pixel"]])
    shutil.copy(SAMPLES / "astronaut.jpg", media / "real")
    gather(media / "fake", [corpus["truncated_png"]])
    shutil.copy(SAMPLES / "grace_hopper.jpg", media / "fake")
    res = run("eval", str(media), "--weights", str(classifier), "-o", str(tmp_path / "ev"))
    bad = [corpus["nonascii_bad"], corpus["truncated_png"]]
    check(res, 3, [it.path for it in bad], ["truncated", "truncated"])
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["metrics"]["n"] == 2
    failed = sorted(Path(it["path"]).name for it in metrics["skipped"] if it["failed"])
    assert failed == sorted(it.path.name for it in bad)


def test_train_cyclegan_names_the_bad_image(corpus: dict[str, Item], tmp_path: Path) -> None:
    data = tmp_path / "data"
    gather(data / "trainA", [corpus["nonascii_good"], corpus["cmyk"]])
    gather(data / "trainB", [corpus["palette"], corpus["nonascii_bad"]])
    res = run("train", "cyclegan", str(data), "-o", str(tmp_path / "run"), "--netG", "resnet_6blocks", "--ngf", "4",
              "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--max-steps", "4", "--workers", "0",
              "--n-epochs", "1", "--n-epochs-decay", "0", "--no-flip")
    check(res, 1, [corpus["nonascii_bad"].path], ["truncated"])
    assert not (tmp_path / "run").exists()  # failed before its first checkpoint: no half-made run folder
    (data / "trainB" / corpus["nonascii_bad"].path.name).unlink()
    blocked = blocked_output(tmp_path / "b", "run")
    res = run("train", "cyclegan", str(data), "-o", str(blocked), "--max-steps", "1")
    check(res, 1, [blocked], ["is a file"])
    assert listing(tmp_path / "b") == ["blocker"]


def test_verbose_shows_the_traceback(corpus: dict[str, Item], tiny_generator: Path, tmp_path: Path) -> None:
    it = corpus["truncated_png"]
    res = CliRunner().invoke(cli, ["-v", "--device", "cpu", "translate", "--weights", str(tiny_generator),
                                   str(it.path), "-o", str(tmp_path / "out.png")])
    assert res.exit_code != 0
    assert "error:" in res.stderr and it.path.name in res.stderr  # -v: the line, and (batch) the log
    res = CliRunner().invoke(cli, ["-v", "--device", "cpu", "swap", "--source", str(it.path), "--target",
                                   str(SAMPLES / "grace_hopper.jpg"), "-o", str(tmp_path / "out.jpg")])
    assert isinstance(res.exception, InputError)  # raised through click: the runner holds the traceback
    assert listing(tmp_path) == []

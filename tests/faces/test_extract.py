"""`facelab extract` and facelab.faces.extract: crops, sidecars, failures, overwriting."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from facelab.cli import cli
from facelab.faces.align import estimate_similarity, template, transform_points
from facelab.faces.detect import Face, FaceDetector
from facelab.faces.extract import SIDECAR, extract, plan_extract
from facelab.io.image import read_image
from facelab.io.video import VideoReader, VideoWriter

CROP_KEYS = {"file", "source", "frame", "time", "track", "detected", "score", "box", "landmarks", "raw_box",
             "raw_landmarks", "M", "size", "margin"}


class FixedDetector:
    """Finds the same face in every frame (for tests about files, not faces)."""

    def __init__(self) -> None:
        lm = template(112) * 0.4 + np.array([20.0, 5.0])
        self.face = Face(box=np.array([18.0, 4.0, 68.0, 58.0]), score=0.99, landmarks=lm)
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Face]:
        self.calls += 1
        return [self.face]


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


@pytest.fixture(scope="module")
def stage_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 8 frames of the Hamilton clip (two people) as a small MP4."""
    path = tmp_path_factory.mktemp("clip") / "stage.mp4"
    source = shared_data / "face_videos/short_hamilton_clip.mp4"
    with VideoReader(source) as reader, VideoWriter(path, reader.info.fps) as writer:
        for _, frame in zip(range(8), reader):
            writer.write(frame)
    return path


def check_sidecar(folder: Path, size: int, margin: float) -> dict:
    data = json.loads((folder / SIDECAR).read_text())
    assert {"facelab_version", "kind", "source", "settings", "detector", "template", "convention", "crops"} <= set(data)
    assert data["settings"]["size"] == size and data["settings"]["margin"] == margin
    tpl = template(size, margin)
    np.testing.assert_allclose(data["template"], tpl, atol=1e-3)
    for c in data["crops"]:
        assert set(c) == CROP_KEYS
        crop = read_image(folder / c["file"])
        assert crop.shape == (size, size, 3) and c["size"] == size and c["margin"] == margin
        M, lm = np.array(c["M"]), np.array(c["landmarks"])
        assert M.shape == (2, 3) and lm.shape == (5, 2) and np.array(c["box"]).shape == (4,)
        # M is the least-squares similarity taking the landmarks onto the template: it maps
        # their centroid exactly onto the template's, and the rest within the face's own shape
        np.testing.assert_allclose(M, estimate_similarity(lm, tpl), atol=1e-3 * max(1.0, np.abs(M).max()))
        mapped = transform_points(lm, M)
        np.testing.assert_allclose(mapped.mean(0), tpl.mean(0), atol=0.01)
        assert np.linalg.norm(mapped - tpl, axis=1).mean() < 0.05 * size
    files = {c["file"] for c in data["crops"]}
    assert files == {p.relative_to(folder).as_posix() for p in folder.rglob("*.png")}
    return data


# --------------------------------------------------------------------------------------------
# real faces


def test_extract_video_tracks_two_people(detector: FaceDetector, stage_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "crops"
    summary = extract([stage_clip], out, size=128, margin=0.2, every=2, min_size=20, detect_every=2,
                      detector=detector)
    assert summary.failed == [] and summary.frames == 4 and summary.crops == 8
    data = check_sidecar(out / "stage", 128, 0.2)
    assert data["kind"] == "video" and data["video"]["fps"] == "30000/1001"
    assert data["video"]["frames_processed"] == 4
    crops = data["crops"]
    assert sorted({c["frame"] for c in crops}) == [0, 2, 4, 6]
    assert {c["track"] for c in crops} == {0, 1}
    assert [c["file"] for c in crops[:2]] == ["000000_t00.png", "000000_t01.png"]
    assert [c["detected"] for c in crops if c["track"] == 0] == [True, False, True, False]
    for c in crops:
        assert c["time"] == pytest.approx(c["frame"] / float(Fraction(30000, 1001)), abs=1e-4)
    # the crop shows the face where the sidecar says: MTCNN finds its eyes near the template's
    big = next(c for c in crops if c["track"] == 0 and c["frame"] == 0)
    (face,) = detector.detect(read_image(out / "stage" / big["file"]))
    expect = transform_points(np.array(big["landmarks"]), np.array(big["M"]))
    assert np.linalg.norm(face.landmarks[:2] - expect[:2], axis=1).max() < 0.06 * 128


def test_cli_extract_folder_of_photos(shared_data: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "pair").mkdir(parents=True)
    faces = shared_data / "faces/face_recognition"
    shutil.copy(faces / "obama_small.jpg", photos)
    shutil.copy(faces / "test_kit_with_rose.jpg", photos / "pair")
    shutil.copy(faces / "obama_small.jpg", photos / "pair" / "same.jpg")
    Image.open(faces / "obama_small.jpg").save(photos / "pair" / "same.png")  # same stem as same.jpg
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    (photos / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["--device", "cpu", "extract", str(photos), "-o", str(out), "--size", "96",
                                   "--margin", "0.3"])
    assert res.exit_code == 3, res.output  # one photo failed, the rest went through
    assert "extracted 5 faces from 1 of 1 inputs (5 frames/photos)" in res.output
    assert "broken.jpg" in res.output and "1 failed" in res.output
    data = check_sidecar(out / "photos", 96, 0.3)
    assert data["kind"] == "images"
    assert sorted(c["file"] for c in data["crops"]) == [
        "obama_small_f00.png", "pair/same_jpg_f00.png", "pair/same_png_f00.png",
        "pair/test_kit_with_rose_f00.png", "pair/test_kit_with_rose_f01.png"]
    assert [f["source"] for f in data["failures"]] == [str(photos / "broken.jpg")]
    kit = [c for c in data["crops"] if "kit" in c["file"]]
    assert [c["track"] for c in kit] == [0, 1] and kit[0]["time"] is None and kit[0]["frame"] == 0


# --------------------------------------------------------------------------------------------
# files, failures and overwriting (a fixed fake face: no detector cost)


def test_failing_video_leaves_nothing_and_the_batch_goes_on(tiny_video: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 2048)
    out = tmp_path / "out"
    summary = extract([bad, tiny_video], out, size=32, min_size=0, detector=FixedDetector())
    assert [p for p, _ in summary.failed] == [bad]
    assert summary.succeeded == 1 and summary.crops == 50
    assert sorted(p.name for p in out.iterdir()) == ["tiny"]  # no "bad" folder, no temporary folder
    check_sidecar(out / "tiny", 32, 0.0)


def test_cli_exit_codes(tiny_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import facelab.faces.extract as ex

    monkeypatch.setattr(ex, "FaceDetector", lambda device="auto": FixedDetector())
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 2048)
    runner = CliRunner()
    res = runner.invoke(cli, ["extract", str(bad), "-o", str(tmp_path / "o1")])
    assert res.exit_code == 1 and "bad.mp4" in res.output
    res = runner.invoke(cli, ["extract", str(bad), str(tiny_video), "-o", str(tmp_path / "o2"), "--size", "32",
                              "--min-size", "0", "--every", "10", "--max-faces", "1"])
    assert res.exit_code == 3 and "extracted 5 faces from 1 of 2 inputs" in res.output, res.output
    assert runner.invoke(cli, ["extract", str(tiny_video), "-o", str(tmp_path / "o3"), "--every", "0"]).exit_code == 2


def test_overwrite_rules(tiny_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    kw = {"size": 32, "min_size": 0, "every": 25, "detector": FixedDetector()}
    assert extract([tiny_video], out, **kw).crops == 2
    again = extract([tiny_video], out, **kw)
    assert again.crops == 0 and "--overwrite" in again.failed[0][1]
    assert extract([tiny_video], out, size=32, min_size=0, every=10, detector=FixedDetector(),
                   overwrite=True).crops == 5
    assert sorted(p.name for p in out.iterdir()) == ["tiny"]
    assert len(list((out / "tiny").glob("*.png"))) == 5  # the old crops are gone
    # a folder that extract did not make is never replaced
    (out / "tiny" / SIDECAR).unlink()
    refused = extract([tiny_video], out, overwrite=True, **kw)
    assert "not an extract output" in refused.failed[0][1]
    assert len(list((out / "tiny").glob("*.png"))) == 5


def test_plan_layout_and_collisions(tiny_video: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(tiny_video, tmp_path / "a" / "clip.mp4")
    shutil.copy(tiny_video, tmp_path / "b" / "clip.mp4")
    (tmp_path / "a" / "sub").mkdir()
    shutil.copy(tiny_video, tmp_path / "a" / "sub" / "take.mov")
    out = tmp_path / "out"
    jobs, skipped = plan_extract([tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4", tmp_path / "a",
                                  tmp_path / "nope.mp4", tmp_path / "a" / "clip.txt"], out, every=2)
    assert [(j.kind, j.out_dir.relative_to(out).as_posix(), j.frames) for j in jobs] == [
        ("video", "clip", 25), ("video", "a/clip", 25), ("video", "a/sub/take", 25)]
    reasons = {p.name: r for p, r in skipped}
    assert "already used" in reasons["clip.mp4"] and "no such" in reasons["nope.mp4"]
    # outputs inside an input folder are not read back as inputs, nor are hidden files
    (tmp_path / "a" / "crops" / "old").mkdir(parents=True)
    shutil.copy(tiny_video, tmp_path / "a" / "crops" / "old" / "earlier.mp4")
    shutil.copy(tiny_video, tmp_path / "a" / ".hidden.mp4")
    jobs, _ = plan_extract([tmp_path / "a"], tmp_path / "a" / "crops")
    assert sorted(j.sources[0].name for j in jobs) == ["clip.mp4", "take.mov"]

"""facelab detect end to end: real MTCNN, real video files, a real (tiny) classifier checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from facelab.cli import cli
from facelab.detector.cnn import load_classifier
from facelab.detector.landmark_scorer import load_landmark_scorer
from facelab.detector.pipeline import (
    NO_CNN_HINT,
    DetectConfig,
    cnn_batch_size,
    detect_file,
    detect_files,
    list_media,
    make_detector,
)
from facelab.errors import ConfigError
from facelab.faces.detect import FaceDetector
from facelab.io.image import read_image

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(device="cpu")


def test_video_with_both_signals(detector: FaceDetector, tiny_detector_weights: Path) -> None:
    cfg = DetectConfig(stride=10, window=20, stride_windows=10, top_k=2)
    clf = load_classifier(tiny_detector_weights)
    r = detect_file(SAMPLES / "astronaut_pan.mp4", cfg, detector=detector, classifier=clf,
                    scorer=load_landmark_scorer())
    assert r.error is None and r.kind == "video"
    assert r.frames_analysed == r.frames_total == 75
    assert r.face_found_rate > 0.9
    main = max(r.tracks, key=lambda t: t.frames)
    assert main.cnn.ran and main.cnn.details["frames_scored"] == len(range(0, 75, 10))
    assert main.motion.ran and len(main.windows) >= 2
    assert r.verdict in ("REAL", "FAKE", "UNCERTAIN") and 0.0 <= r.fake_probability <= 1.0
    assert len(main.suspicious) == 2 and main.suspicious[0].cam.shape == (224, 224)
    assert main.suspicious[0].cnn >= main.suspicious[1].cnn
    scored = [f for f in r.frames if f.cnn is not None]
    assert {f.frame for f in scored} == set(range(0, 75, 10))
    assert any(f.motion is not None for f in r.frames)
    for key in ("decode", "detect_track", "motion", "cnn", "total"):
        assert r.timings[key] > 0
    doc = r.to_json()
    assert doc["schema"] == "facelab.detect/1" and doc["signals"]["cnn"]["ran"] is True


def test_frames_option_spreads_cnn_frames(detector: FaceDetector, tiny_detector_weights: Path) -> None:
    cfg = DetectConfig(frames=4, gradcam=False)
    r = detect_file(SAMPLES / "astronaut_pan.mp4", cfg, detector=detector, classifier=load_classifier(tiny_detector_weights))
    assert sorted({f.frame for f in r.frames if f.cnn is not None}) == [0, 25, 49, 74]
    assert not r.motion.ran  # no scorer given


def test_without_weights_says_cnn_skipped(detector: FaceDetector) -> None:
    r = detect_file(SAMPLES / "astronaut_pan.mp4", DetectConfig(), detector=detector, scorer=load_landmark_scorer())
    assert not r.cnn.ran and r.cnn.skipped_reason == NO_CNN_HINT
    assert r.motion.ran
    assert r.fake_probability is not None


def test_photo_gets_cnn_only(detector: FaceDetector, tiny_detector_weights: Path) -> None:
    r = detect_file(SAMPLES / "grace_hopper.jpg", DetectConfig(), detector=detector,
                    classifier=load_classifier(tiny_detector_weights), scorer=load_landmark_scorer())
    assert r.kind == "image" and len(r.tracks) == 1
    assert r.tracks[0].cnn.ran and not r.motion.ran and "photos have no motion" in r.motion.skipped_reason
    assert r.verdict in ("REAL", "FAKE", "UNCERTAIN")
    # no face: UNCERTAIN, no probability
    r = detect_file(SAMPLES / "coffee.jpg", DetectConfig(), detector=detector, classifier=load_classifier(tiny_detector_weights))
    assert r.verdict == "UNCERTAIN" and r.fake_probability is None and r.reasons == ["no face found"]


def test_min_size_drops_small_faces_and_starts_the_pyramid_there(detector: FaceDetector) -> None:
    photo = SAMPLES / "grace_hopper.jpg"
    width = detector.detect(read_image(photo))[0].width
    assert len(detect_file(photo, DetectConfig(min_size=width - 1), detector=detector).tracks) == 1
    r = detect_file(photo, DetectConfig(min_size=width + 1), detector=detector)
    assert r.tracks == [] and r.reasons == ["no face found"]
    assert make_detector(DetectConfig()).min_face_size == 40 and make_detector(DetectConfig(min_size=0)).min_face_size == 12
    with pytest.raises(ConfigError, match="--min-size"):
        DetectConfig(min_size=-1)


def test_cnn_batch_size_is_8_on_the_cpu_unless_given(tiny_detector_weights: Path) -> None:
    clf = load_classifier(tiny_detector_weights, device="cpu")
    assert cnn_batch_size(DetectConfig(), clf) == 8 and cnn_batch_size(DetectConfig(batch_size=3), clf) == 3
    with pytest.raises(ConfigError, match="--batch-size"):
        DetectConfig(batch_size=0)


def test_batch_reports_bad_file_and_finishes(tmp_path: Path, detector: FaceDetector) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    files, skipped = list_media([bad, SAMPLES / "grace_hopper.jpg", tmp_path / "missing.jpg", tmp_path / "x.txt"])
    assert files == [bad, SAMPLES / "grace_hopper.jpg"] and [p.name for p, _ in skipped] == ["missing.jpg", "x.txt"]
    results = list(detect_files(files, DetectConfig(), detector=detector))
    assert results[0].error and "broken.mp4" in results[0].error
    assert results[1].error is None and results[1].tracks


def test_cli_detect_writes_reports(tmp_path: Path, tiny_detector_weights: Path) -> None:
    video = tmp_path / "clip with space.mp4"
    shutil.copy(SAMPLES / "astronaut_pan.mp4", video)
    bad = tmp_path / "bad.jpg"
    bad.write_text("text, not a JPEG")
    out_json, out_csv, out_html = tmp_path / "v.json", tmp_path / "f.csv", tmp_path / "r.html"
    runner = CliRunner()
    res = runner.invoke(cli, ["detect", str(video), str(bad), "--weights", str(tiny_detector_weights), "--stride", "15",
                              "--json", str(out_json), "--csv", str(out_csv), "--report", str(out_html), "--top", "1"])
    assert res.exit_code == 3, res.output  # one input failed, the other finished
    assert "bad.jpg" in res.output and "Traceback" not in res.output
    doc = json.loads(out_json.read_text())
    assert [Path(d["path"]).name for d in doc] == [video.name, "bad.jpg"]
    assert doc[0]["verdict"] in ("REAL", "FAKE", "UNCERTAIN") and doc[1]["error"]
    assert out_csv.read_text().count("\n") > 10
    assert "data:image" in out_html.read_text()
    # outputs exist now: without --overwrite the command refuses and changes nothing
    before = out_json.read_bytes()
    res = runner.invoke(cli, ["detect", str(video), "--json", str(out_json)])
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert out_json.read_bytes() == before


def test_cli_detect_uses_the_shipped_detector_and_none_switches_it_off(tmp_path: Path) -> None:
    out = tmp_path / "v.json"
    res = CliRunner().invoke(cli, ["detect", str(SAMPLES / "grace_hopper.jpg"), "--json", str(out)])
    assert res.exit_code == 0, res.output
    cnn = json.loads(out.read_text())[0]["signals"]["cnn"]
    assert cnn["ran"] is True and cnn["name"] == "deepfake_sbi_lite0"
    assert cnn["model_card"].startswith("docs/detect.md") and len(cnn["sha256"]) == 64
    assert set(cnn["fusion"]["config"]) == {"cnn_weight", "motion_weight", "aggregate"}
    out2 = tmp_path / "v2.json"
    res = CliRunner().invoke(cli, ["detect", str(SAMPLES / "astronaut_pan.mp4"), "--weights", "none", "--json", str(out2)])
    assert res.exit_code == 0, res.output
    assert "CNN stage switched off" in res.output
    doc = json.loads(out2.read_text())
    assert doc[0]["signals"]["cnn"]["ran"] is False
    assert doc[0]["signals"]["cnn"]["skipped_reason"] == "switched off with --weights none"
    assert doc[0]["tracks"][0]["signals"]["cnn"]["skipped_reason"] == "switched off with --weights none"
    res = CliRunner().invoke(cli, ["detect", str(SAMPLES / "astronaut_pan.mp4"), "--weights", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "nope" in res.output and "Traceback" not in res.output


def test_cli_detect_json_lists_missing_and_non_media_inputs(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not media")
    out = tmp_path / "v.json"
    res = CliRunner().invoke(cli, ["detect", str(SAMPLES / "grace_hopper.jpg"), str(tmp_path / "gone.mp4"), str(notes),
                                   "--json", str(out)])
    assert res.exit_code == 3, res.output
    doc = json.loads(out.read_text())
    assert [Path(d["path"]).name for d in doc] == ["grace_hopper.jpg", "gone.mp4", "notes.txt"]
    assert doc[0]["error"] is None
    assert "gone.mp4" in doc[1]["error"] and "not an image or video" in doc[2]["error"]
    assert res.output.count("error:") == 2


def test_unexpected_error_becomes_one_item_error(tmp_path: Path) -> None:
    from facelab.errors import InputError, as_item_error

    err = as_item_error(tmp_path / "a.mp4", ValueError("bad shape (3,)\nsecond line"))
    assert isinstance(err, InputError) and err.path == tmp_path / "a.mp4"
    assert str(err).endswith("unexpected ValueError: bad shape (3,) (a facelab bug; -v shows the traceback)")
    same = InputError(tmp_path, "x")
    assert as_item_error(tmp_path, same) is same
